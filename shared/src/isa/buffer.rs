//! The ISA-neutral code buffer every backend emits through: labels, forward label uses waiting
//! to be patched, the literal pool, the labels table, and the first error.
//!
//! Shaped like Cranelift's `MachBuffer`, with our constraints:
//!
//! - **Streaming.** Bytes go straight to a [`CodeSink`]; the buffer never holds the module's code.
//!   Its state is bounded by labels and by uses pending at once, not by code size.
//! - **Flash-safe patching.** A use of a label not placed yet (or of a literal not laid out yet) is
//!   emitted as a placeholder of `0xFF` bytes of a size fixed when it is emitted; patching only
//!   overwrites those bytes, so on NOR flash a patch only clears bits. No veneers, no islands, no
//!   shrinking: a use that turns out near is patched into a short form padded to its size.
//! - **One trait per ISA.** All an ISA tells the buffer is [`LabelUse`]: how big a placeholder is,
//!   which targets a use reaches (its range), and how to encode it for a target (an error for
//!   one out of range).
//!
//! What stays in the backend: choosing the placeholder kind (the reference's choice, by range and
//! free registers), jump tables (their layout is per ISA), and when to flush the literal pool.

use alloc::vec::Vec;

use super::pending::{PendingBranches, Use, MAX_SLOTS, NIL};
use crate::compile::backend::{BackendError, Label, SortedLines};
use crate::mem;
use crate::stream::CodeSink;

/// Largest placeholder a [`LabelUse`] may have (armv6m's far branch through ip is 18 bytes).
pub const MAX_PLACEHOLDER: usize = 32;

/// One kind of reference from code to a label or a literal, as an ISA encodes it.
pub trait LabelUse: Copy {
    /// Bytes the use occupies. Its placeholder is that many `0xFF` bytes.
    fn placeholder_size(self) -> usize;
    /// The use's range: whether the use at `at` can reach `target`. [`Self::patch`] must encode
    /// every target in range and fail for every other (so that no patch truncates): each ISA's
    /// tests hold it to that with [`check_label_use_contract`], and in test builds the buffer
    /// checks every patch it makes against the range. A predicate rather than Cranelift's two
    /// distances, because a use's reach can depend on where it is (armv6m's `ldr` and `adr`
    /// count from the word-aligned pc) and on what it names (a register a short form cannot
    /// encode). No veneers or islands here: the backend picks a kind that reaches (the
    /// reference's choice), and the range says what that kind promises.
    fn in_range(self, at: usize, target: usize) -> bool;
    /// Encode the use whose placeholder is `out` so that it reaches `target`, and write it with
    /// [`Placeholder::write`]. A target out of [`Self::in_range`] is an error
    /// ([`BackendError::OutOfRange`] or [`BackendError::Encoding`]), never a silent truncation.
    fn patch<S: CodeSink>(self, target: usize, out: Placeholder<'_, S>)
        -> Result<(), BackendError>;
    /// The one-halfword encoding of the use at `at` reaching `target`, when the ISA has a
    /// quick one for it (what [`LabelUse::patch`] would write); `None` sends the use through
    /// `patch`. Lets the literal pool patch its loads without the general path.
    #[inline]
    fn patch_halfword(self, at: usize, target: usize) -> Option<u16> {
        let _ = (at, target);
        None
    }
    /// Append the use's placeholder, [`Self::placeholder_size`] `0xFF` bytes, to `sink`. The
    /// default is [`append_erased`]; an ISA may override it so that its usual sizes are appends
    /// of a known length (no call to memcpy on the host).
    #[inline]
    fn append_placeholder<S: CodeSink>(self, sink: &mut S) -> Result<(), BackendError> {
        append_erased(sink, self.placeholder_size())
    }
    /// The use as bits, one to one. A use whose bits are below 256 waits in a word: the only
    /// use waiting for a numeric label is kept in the label's own word, further ones in 8-byte
    /// slots (a module can have thousands of labels waiting for a use or two each, e.g. a
    /// `select_val` over thousands of clauses); any other takes two slots.
    fn to_bits(self) -> u32;
    /// The use whose [`Self::to_bits`] are `bits`.
    fn from_bits(bits: u32) -> Option<Self>;
}

/// The `0xFF` bytes of one use, which [`LabelUse::patch`] may overwrite (and nothing else).
pub struct Placeholder<'a, S> {
    sink: &'a mut S,
    at: usize,
    size: usize,
}

impl<'a, S: CodeSink> Placeholder<'a, S> {
    /// A placeholder of `size` bytes at `at` in `sink`, for tests of [`LabelUse::patch`].
    #[cfg(test)]
    pub(crate) fn for_test(sink: &'a mut S, at: usize, size: usize) -> Self {
        Placeholder { sink, at, size }
    }

    /// Offset of the placeholder's first byte.
    #[inline]
    pub fn at(&self) -> usize {
        self.at
    }

    /// Overwrite the placeholder's first `bytes.len()` bytes; the rest stay `0xFF`.
    #[inline]
    pub fn write(self, bytes: &[u8]) -> Result<(), BackendError> {
        if bytes.len() > self.size {
            return Err(BackendError::Unsupported(
                "patch longer than its placeholder",
            ));
        }
        self.sink.replace(self.at, bytes);
        Ok(())
    }

    /// Overwrite the placeholder's first halfword (little-endian) through the sink's halfword
    /// path; the rest stay `0xFF`.
    #[inline]
    pub fn write_halfword(self, halfword: u16) -> Result<(), BackendError> {
        if self.size < 2 {
            return Err(BackendError::Unsupported(
                "patch longer than its placeholder",
            ));
        }
        self.sink.replace_halfword(self.at, halfword);
        Ok(())
    }
}

/// Append `size` `0xFF` bytes to `sink`: a placeholder of that size. One halfword (e.g. a
/// literal load's) takes the sink's halfword fast path; any other size is a slice of a constant,
/// not an array filled at each call. Larger than [`MAX_PLACEHOLDER`] is an error.
#[cfg_attr(target_os = "none", inline)]
#[cfg_attr(not(target_os = "none"), inline(always))]
pub fn append_erased<S: CodeSink>(sink: &mut S, size: usize) -> Result<(), BackendError> {
    const ERASED: &[u8; MAX_PLACEHOLDER] = &[0xFF; MAX_PLACEHOLDER];
    if size == 2 {
        sink.append_halfword(0xFFFF);
        return Ok(());
    }
    let bytes = ERASED
        .get(..size)
        .ok_or(BackendError::Unsupported("placeholder too large"))?;
    sink.append(bytes);
    Ok(())
}

/// Marker for a label whose offset is not known yet (and, for a numeric label, that no use
/// waits for it).
const UNKNOWN_OFFSET: u32 = u32::MAX;

/// A numeric label's word holds its offset once it is placed; before, this bit and what waits
/// for it: with [`CHAIN`], the index of the newest slot of its chain of waiting uses (see
/// `isa::pending`), all ones for none; without, its one waiting use, packed (see [`pack_use`]).
const WAITING: u32 = 1 << 31;

/// See [`WAITING`].
const CHAIN: u32 = 1 << 30;

/// The low bits of a chain word: the slot index.
const CHAIN_INDEX: u32 = CHAIN - 1;

/// Bits of a packed use holding the use's offset from the module base (4 MiB); the
/// kind's [`LabelUse::to_bits`] are above them. A use further out is not packed.
const PACKED_OFFSET_BITS: u32 = 22;

/// The offset in a numeric label's word, if the label is placed.
#[inline]
fn placed(word: u32) -> Option<u32> {
    (word & WAITING == 0).then_some(word)
}

/// What waits for a numeric label, from its word.
#[derive(Clone, Copy)]
enum Waiters {
    /// Nothing (or the label is placed).
    None,
    /// One use, packed (see [`pack_use`]).
    One(u32),
    /// The chain of slots whose newest is this one.
    Chain(u32),
}

#[inline]
fn waiters(word: u32) -> Waiters {
    if word & WAITING == 0 {
        Waiters::None
    } else if word & CHAIN == 0 {
        Waiters::One(word & !WAITING)
    } else if word & CHAIN_INDEX == CHAIN_INDEX {
        Waiters::None
    } else {
        Waiters::Chain(word & CHAIN_INDEX)
    }
}

/// A use of `kind`, `offset` bytes past the module base, in 30 bits (its packed kind above
/// [`PACKED_OFFSET_BITS`] of offset), if both fit: the only use waiting for a numeric label is
/// kept so in the label's word, a further one in an 8-byte slot (see `isa::pending`).
#[inline]
fn pack_use<U: LabelUse>(kind: U, offset: usize) -> Option<u32> {
    let offset = u32::try_from(offset).ok()?;
    let kind = kind.to_bits();
    (kind < 256 && offset < 1 << PACKED_OFFSET_BITS).then_some(kind << PACKED_OFFSET_BITS | offset)
}

/// The kind's bits and the offset from the module base of a use packed by [`pack_use`].
#[inline]
fn unpack_use(word: u32) -> (u32, u32) {
    (
        word >> PACKED_OFFSET_BITS,
        word & ((1 << PACKED_OFFSET_BITS) - 1),
    )
}

/// A use of a numeric label made after the label was placed: patched by
/// [`CodeBuffer::patch_all`] (as the reference patches every branch at the end, to the label's
/// last placement).
#[derive(Clone, Copy)]
struct LateUse<U> {
    label: u32,
    offset: u32,
    kind: U,
}

/// A literal waiting for its pool: the use that loads it, and its value (one 32-bit word).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PendingLiteral<U> {
    pub offset: usize,
    pub kind: U,
    pub value: u32,
}

/// Code being emitted into `S`, with label uses of kind `U`.
pub struct CodeBuffer<S, U> {
    sink: S,
    /// Sink offset when the buffer was created: the module's base (where the jump table starts).
    base_offset: usize,
    /// Numeric labels above this are refused (they have no jump table entry).
    label_limit: Option<u32>,
    /// One word per numeric label, indexed by label number: its offset once placed, before that
    /// its chain of waiting uses (see [`WAITING`]).
    label_offsets: Vec<u32>,
    /// Uses of numeric labels already placed, oldest first.
    late_uses: Vec<LateUse<U>>,
    /// How numeric labels were placed, for the labels table.
    placements: Placements,
    /// Offset of each local label (`Label::Local(n)`), indexed by n.
    local_labels: Vec<u32>,
    /// Local label numbers free for reuse: a local label is done once placed (only the uses
    /// made with it refer to it), so the table stays as small as the labels open at once.
    free_local_labels: Vec<u32>,
    /// Forward uses not patched yet, by label.
    pending: PendingBranches,
    /// Literals not laid out yet, oldest first.
    literals: Vec<PendingLiteral<U>>,
    error: Option<BackendError>,
}

impl<S: CodeSink, U: LabelUse> CodeBuffer<S, U> {
    /// A buffer appending to `sink`, whose current end is the module's base.
    pub fn new(sink: S) -> Self {
        let base_offset = sink.offset();
        CodeBuffer {
            sink,
            base_offset,
            label_limit: None,
            label_offsets: Vec::new(),
            late_uses: Vec::new(),
            placements: Placements::InOrder {
                last: None,
                zero_last: false,
                count: 0,
            },
            local_labels: Vec::new(),
            free_local_labels: Vec::new(),
            pending: PendingBranches::default(),
            literals: Vec::new(),
            error: None,
        }
    }

    // ---- bytes ----------------------------------------------------------------------------

    /// Offset of the next byte.
    #[inline]
    pub fn offset(&self) -> usize {
        self.sink.offset()
    }

    /// Where the module starts in the sink.
    #[inline]
    pub fn base_offset(&self) -> usize {
        self.base_offset
    }

    #[inline]
    pub fn emit(&mut self, bytes: &[u8]) {
        self.sink.append(bytes);
    }

    /// Inlined into the device's one `put` (no extra call per instruction).
    #[inline(always)]
    pub fn emit_halfword(&mut self, halfword: u16) {
        self.sink.append_halfword(halfword);
    }

    /// Emit a short known sequence of halfwords (at most 8) with one append where the sink
    /// can.
    #[inline(always)]
    pub fn emit_halfwords(&mut self, halfwords: &[u16]) {
        self.sink.append_halfwords(halfwords);
    }

    /// Overwrite bytes emitted earlier (placeholders are `0xFF`).
    #[inline]
    pub fn replace(&mut self, offset: usize, bytes: &[u8]) {
        self.sink.replace(offset, bytes);
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    pub fn into_sink(self) -> S {
        self.sink
    }

    // ---- errors ---------------------------------------------------------------------------

    /// Record the first error; later ones are dropped (the first is the cause). A sink that
    /// failed earlier (full, out of memory) is that cause: offsets stopped moving with it, so
    /// what goes wrong afterwards follows from it.
    #[inline]
    pub fn fail(&mut self, e: BackendError) {
        if self.error.is_none() {
            self.error = Some(self.sink.error().map_or(e, BackendError::Sink));
        }
    }

    /// Whether [`Self::error`] is `Some`, as a `bool` (in a register on the device).
    #[inline]
    pub fn has_error(&self) -> bool {
        self.error.is_some() || self.sink.error().is_some()
    }

    /// The first error of the buffer or of its sink.
    pub fn error(&self) -> Option<BackendError> {
        // Asked after every instruction: no error is the answer to make cheap.
        if self.error.is_none() && self.sink.error().is_none() {
            return None;
        }
        self.error.or(self.sink.error().map(BackendError::Sink))
    }

    // ---- labels ---------------------------------------------------------------------------

    /// Refuse numeric labels above `max_label`, and size the label tables for 0..=`max_label`
    /// up front (no growth slack).
    pub fn set_label_limit(&mut self, max_label: u32) {
        self.label_limit = Some(max_label);
        let count = max_label as usize + 1;
        let sized = mem::try_resize(
            &mut self.label_offsets,
            count,
            UNKNOWN_OFFSET,
            "label offsets",
        );
        if let Err(e) = sized {
            self.fail(e.into());
        }
    }

    /// Whether numeric label `n` is above the limit.
    #[inline]
    pub fn beyond_limit(&self, n: u32) -> bool {
        self.label_limit.is_some_and(|max| n > max)
    }

    /// Offset of a placed label.
    #[inline]
    pub fn label_offset(&self, label: Label) -> Option<usize> {
        let off = match label {
            Label::Num(n) => placed(*self.label_offsets.get(n as usize)?),
            Label::Local(n) => Some(*self.local_labels.get(n as usize)?),
        }?;
        (off != UNKNOWN_OFFSET).then_some(off as usize)
    }

    /// A fresh local label (the reference's `make_ref()`), to be placed with [`Self::place`].
    pub fn new_local_label(&mut self) -> Label {
        if let Some(n) = self.free_local_labels.pop() {
            if let Some(slot) = self.local_labels.get_mut(n as usize) {
                *slot = UNKNOWN_OFFSET;
                return Label::Local(n);
            }
        }
        let n = self.local_labels.len() as u32;
        if let Err(e) = mem::try_push(&mut self.local_labels, UNKNOWN_OFFSET, "local labels") {
            // The label has no slot: placing it fails ("unknown local label") after this error.
            self.fail(e.into());
        }
        Label::Local(n)
    }

    /// Place `label` at `offset` and patch every use waiting for it.
    pub fn place(&mut self, label: Label, offset: usize) {
        let (local_done, waiters) = self.record_label(label, offset);
        let mut waiting = match (label, waiters) {
            (Label::Num(_), Waiters::One(word)) => {
                self.patch_pending(Use::Packed(word), offset);
                return;
            }
            (Label::Num(_), Waiters::Chain(head)) => self.pending.detach_chain(head),
            (Label::Num(_), Waiters::None) => return,
            (Label::Local(n), _) => self.pending.detach_local(n),
        };
        while let Some(u) = self.pending.next(&mut waiting) {
            self.patch_pending(u, offset);
        }
        if let (true, Label::Local(n)) = (local_done, label) {
            if let Err(e) = mem::try_push(&mut self.free_local_labels, n, "free local labels") {
                self.fail(e.into());
            }
        }
    }

    /// Remember where `label` is. Offsets beyond u32 cannot be encoded in the labels table
    /// (nor, for numeric labels, beyond 31 bits in their word). Returns whether `label` is a
    /// local label placed for the first time, and the uses waiting for a numeric label.
    fn record_label(&mut self, label: Label, offset: usize) -> (bool, Waiters) {
        let off = match (u32::try_from(offset), label) {
            (Ok(off), Label::Local(_)) => off,
            (Ok(off), Label::Num(_)) if off & WAITING == 0 => off,
            _ => {
                self.fail(BackendError::OutOfRange("label offset"));
                return (false, Waiters::None);
            }
        };
        match label {
            Label::Num(n) => {
                if self.beyond_limit(n) {
                    // The backend reports it (its jump table has no entry); don't size tables by it.
                    return (false, Waiters::None);
                }
                let Some(idx) = self.label_word(n) else {
                    return (false, Waiters::None);
                };
                if let Err(e) = self.log_placement(n, off) {
                    self.fail(e.into());
                }
                let word = core::mem::replace(&mut self.label_offsets[idx], off);
                if placed(word).is_some() {
                    // Placed again: the uses made since the last placement go here.
                    self.patch_late_uses_of(n, offset);
                }
                (false, waiters(word))
            }
            Label::Local(n) => match self.local_labels.get_mut(n as usize) {
                Some(slot) => {
                    let first = *slot == UNKNOWN_OFFSET;
                    *slot = off;
                    (first, Waiters::None)
                }
                None => {
                    self.fail(BackendError::Unsupported("unknown local label"));
                    (false, Waiters::None)
                }
            },
        }
    }

    /// The index of numeric label `n`'s word, growing the table when no limit sized it. The
    /// check is inlined: the driver sizes the table from the Code header, so it never grows.
    #[inline]
    fn label_word(&mut self, n: u32) -> Option<usize> {
        let idx = n as usize;
        if idx < self.label_offsets.len() {
            Some(idx)
        } else {
            self.grow_label_words(idx)
        }
    }

    /// [`CodeBuffer::label_word`] beyond the table: grow it to hold `idx`.
    #[inline(never)]
    fn grow_label_words(&mut self, idx: usize) -> Option<usize> {
        let len = self.label_offsets.len();
        if let Err(e) = mem::try_reserve(&mut self.label_offsets, idx + 1 - len, "label offsets") {
            self.fail(e.into());
            return None;
        }
        self.label_offsets.resize(idx + 1, UNKNOWN_OFFSET);
        Some(idx)
    }

    /// Patch the late uses of numeric label `n` (placed again) to `target`, and drop them.
    /// Only a label placed twice gets here (a corrupt module), so a scan is fine.
    fn patch_late_uses_of(&mut self, n: u32, target: usize) {
        let mut late = core::mem::take(&mut self.late_uses);
        late.retain(|u| {
            if u.label != n {
                return true;
            }
            self.patch_use(u.offset as usize, u.kind, target);
            false
        });
        self.late_uses = late;
    }

    /// Note that numeric label `n` is placed at `off` (before `label_offsets` says so). While
    /// labels come in order the offsets say it all; the first one out of order turns the
    /// placements so far into a log, and every later one is logged.
    fn log_placement(&mut self, n: u32, off: u32) -> Result<(), mem::AllocError> {
        if let Placements::InOrder {
            last,
            zero_last,
            count,
        } = &mut self.placements
        {
            let unplaced = |n: u32| {
                self.label_offsets
                    .get(n as usize)
                    .is_none_or(|&w| placed(w).is_none())
            };
            match *last {
                _ if *zero_last => {}
                None => {
                    *last = Some((n, off));
                    *count += 1;
                    return Ok(());
                }
                Some((prev, prev_off))
                    if off >= prev_off && (n > prev || (n == 0 && unplaced(0))) =>
                {
                    if n == 0 {
                        // Label 0 (the driver places it after every other label).
                        *zero_last = true;
                    } else {
                        *last = Some((n, off));
                    }
                    *count += 1;
                    return Ok(());
                }
                Some(_) => {}
            }
            let (zero_last, count) = (*zero_last, *count);
            let mut log = mem::try_with_capacity(count + 1, "labels table")?;
            in_placement_order(&self.label_offsets, zero_last, |label, offset| {
                log.push((label, offset));
            });
            self.placements = Placements::Log(log);
        }
        if let Placements::Log(log) = &mut self.placements {
            mem::try_push(log, (n, off), "labels table")?;
        }
        Ok(())
    }

    /// Emit a placeholder for a use of `label` here, to be patched when it is placed.
    pub fn emit_use(&mut self, label: Label, kind: U) {
        let offset = self.offset();
        self.emit_placeholder(kind);
        self.use_label_at(label, offset, kind);
    }

    /// Queue the placeholder already emitted at `offset` to be patched when `label` is placed.
    /// A numeric label beyond the limit can never be placed: it is refused rather than sizing
    /// tables by it.
    pub fn use_label_at(&mut self, label: Label, offset: usize, kind: U) {
        if u32::try_from(offset).is_err() {
            self.fail(BackendError::OutOfRange("branch offset"));
            return;
        }
        let packed = offset
            .checked_sub(self.base_offset)
            .and_then(|at| pack_use(kind, at));
        let branch = match packed {
            Some(word) => Use::Packed(word),
            None => Use::Wide {
                offset: offset as u32,
                kind: kind.to_bits(),
            },
        };
        let n = match label {
            Label::Num(n) if self.beyond_limit(n) => {
                self.fail(BackendError::OutOfRange("label beyond the jump table"));
                return;
            }
            Label::Num(n) => n,
            Label::Local(n) => {
                if let Err(e) = self.pending.push_local(n, branch) {
                    self.fail(e.into());
                }
                return;
            }
        };
        let Some(idx) = self.label_word(n) else {
            return;
        };
        let word = self.label_offsets[idx];
        if placed(word).is_some() {
            let late = LateUse {
                label: n,
                offset: offset as u32,
                kind,
            };
            if let Err(e) = mem::try_push(&mut self.late_uses, late, "late label uses") {
                self.fail(e.into());
            }
            return;
        }
        let head = match (waiters(word), branch) {
            // The first use, packed: kept in the label's word.
            (Waiters::None, Use::Packed(word)) => {
                self.label_offsets[idx] = WAITING | word;
                return;
            }
            (Waiters::None, Use::Wide { .. }) => NIL,
            (Waiters::Chain(head), _) => head,
            // A second use: both go to slots, the first one first (uses are patched oldest first).
            (Waiters::One(first), _) => match self.pending.push_chain(NIL, Use::Packed(first)) {
                Ok(head) => head,
                Err(e) => return self.fail(e.into()),
            },
        };
        match self.pending.push_chain(head, branch) {
            Ok(head) if head < MAX_SLOTS => self.label_offsets[idx] = WAITING | CHAIN | head,
            Ok(_) => self.fail(BackendError::OutOfRange("pending branches")),
            Err(e) => self.fail(e.into()),
        }
    }

    /// Patch a waiting use to `target`.
    #[inline]
    fn patch_pending(&mut self, branch: Use, target: usize) {
        let (kind, at) = match branch {
            Use::Packed(word) => {
                let (kind, at) = unpack_use(word);
                (kind, self.base_offset + at as usize)
            }
            Use::Wide { offset, kind } => (kind, offset as usize),
        };
        let Some(kind) = U::from_bits(kind) else {
            return self.fail(BackendError::Unsupported("label use kind"));
        };
        self.patch_use(at, kind, target);
    }

    /// Patch every use still pending (all labels are placed by now): uses of numeric labels
    /// never placed (errors), the late uses of numeric labels, then local labels' uses, each
    /// label's uses oldest first.
    pub fn patch_all(&mut self) {
        for idx in 0..self.label_offsets.len() {
            let mut waiting = match waiters(self.label_offsets[idx]) {
                Waiters::None => continue,
                Waiters::One(_) => {
                    self.label_offsets[idx] = UNKNOWN_OFFSET;
                    self.fail(BackendError::Unsupported("branch to an undefined label"));
                    continue;
                }
                Waiters::Chain(head) => self.pending.detach_chain(head),
            };
            self.label_offsets[idx] = UNKNOWN_OFFSET;
            while self.pending.next(&mut waiting).is_some() {
                self.fail(BackendError::Unsupported("branch to an undefined label"));
            }
        }
        let late = core::mem::take(&mut self.late_uses);
        for u in &late {
            match self.label_offset(Label::Num(u.label)) {
                Some(target) => self.patch_use(u.offset as usize, u.kind, target),
                None => self.fail(BackendError::Unsupported("branch to an undefined label")),
            }
        }
        for n in self.pending.local_labels() {
            let mut waiting = self.pending.detach_local(n);
            while let Some(u) = self.pending.next(&mut waiting) {
                match self.label_offset(Label::Local(n)) {
                    Some(target) => self.patch_pending(u, target),
                    None => self.fail(BackendError::Unsupported("branch to an undefined label")),
                }
            }
        }
    }

    /// Overwrite the placeholder of `kind` at `at` so that it reaches `target`. Inlined on the
    /// host, where the usual patch (see the ISA's [`LabelUse::patch`]) is a few stores.
    #[cfg_attr(target_os = "none", inline)]
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub fn patch_use(&mut self, at: usize, kind: U, target: usize) {
        let out = Placeholder {
            sink: &mut self.sink,
            at,
            size: kind.placeholder_size(),
        };
        let patched = kind.patch(target, out);
        // Every patch of every test run (the golden corpora included) holds the ISA's
        // `patch` to its range; `check_label_use_contract` probes the bounds.
        debug_assert_eq!(
            patched.is_ok(),
            kind.in_range(at, target),
            "a label use patched outside its range, or refused inside it"
        );
        if let Err(e) = patched {
            self.fail(e);
        }
    }

    /// Inlined on the host (a call per use cost more than the append).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn emit_placeholder(&mut self, kind: U) {
        if let Err(e) = kind.append_placeholder(&mut self.sink) {
            self.fail(e);
        }
    }

    // ---- labels table -----------------------------------------------------------------------

    /// The labels table then the lines table: a big-endian u16 count, then `{u16 key, u32
    /// offset}` big-endian entries. Labels are sorted by offset as the reference sorts them (a
    /// stable sort of the most-recent-first list); `sorted_lines` come sorted by the driver.
    /// Consumes the placement log.
    pub fn emit_label_and_line_tables(&mut self, sorted_lines: &dyn SortedLines) {
        // Counts are 16-bit fields, truncated as the reference's binary construction does.
        match &self.placements {
            Placements::InOrder {
                zero_last, count, ..
            } => {
                let sink = &mut self.sink;
                sink.append(&(*count as u16).to_be_bytes());
                sorted_in_order(&self.label_offsets, *zero_last, |label, offset| {
                    emit_table_entry(sink, label, offset)
                });
            }
            Placements::Log(_) => {
                let labels = self.take_sorted_labels();
                self.emit(&(labels.len() as u16).to_be_bytes());
                for &(label, offset) in &labels {
                    emit_table_entry(&mut self.sink, label, offset);
                }
            }
        }
        self.emit(&(sorted_lines.len() as u16).to_be_bytes());
        let sink = &mut self.sink;
        sorted_lines.for_each_entry(&mut |line, offset| emit_table_entry(sink, line, offset));
    }

    /// The numeric labels sorted by offset, newest first among equal offsets (the labels
    /// table); consumes the placement log, in place.
    pub(crate) fn take_sorted_labels(&mut self) -> Vec<(u32, u32)> {
        let mut labels = match &mut self.placements {
            Placements::Log(log) => core::mem::take(log),
            Placements::InOrder {
                zero_last, count, ..
            } => {
                let mut labels = match mem::try_with_capacity(*count, "labels table") {
                    Ok(v) => v,
                    Err(e) => {
                        self.fail(e.into());
                        return Vec::new();
                    }
                };
                sorted_in_order(&self.label_offsets, *zero_last, |label, offset| {
                    labels.push((label, offset))
                });
                return labels;
            }
        };
        if let Err(e) = crate::compile::sort_by_offset_newest_first(&mut labels) {
            self.fail(e.into());
        }
        labels
    }

    // ---- literal pool -----------------------------------------------------------------------

    /// Emit a placeholder for a load of `value` from the literal pool.
    pub fn emit_literal_use(&mut self, kind: U, value: u32) {
        let offset = self.offset();
        self.emit_placeholder(kind);
        let literal = PendingLiteral {
            offset,
            kind,
            value,
        };
        if let Err(e) = mem::try_push(&mut self.literals, literal, "literal pool") {
            self.fail(e.into());
        }
    }

    /// The literals waiting for a pool, oldest first.
    #[inline]
    pub fn pending_literals(&self) -> &[PendingLiteral<U>] {
        &self.literals
    }

    /// Replace the waiting literals (the armv6m backend reproduces a reference quirk that
    /// forgets literals queued inside one sequence).
    pub fn set_pending_literals(&mut self, literals: &[PendingLiteral<U>]) {
        self.literals.clear();
        if let Err(e) = mem::try_extend(&mut self.literals, literals, "literal pool") {
            self.fail(e.into());
        }
    }

    /// Whether the oldest waiting literal use is more than `distance` bytes back: the backend
    /// must lay out the pool (behind a branch) before the use loses its reach.
    #[inline]
    pub fn literal_deadline_passed(&self, distance: usize) -> bool {
        self.literals
            .first()
            .is_some_and(|oldest| self.offset().saturating_sub(oldest.offset) > distance)
    }

    /// Lay out every waiting literal here, word-aligned (zero padding), and patch their uses.
    /// The check is inlined: most calls (every jump, call and sequence end) find no literal.
    #[inline]
    pub fn flush_literals(&mut self) {
        if !self.literals.is_empty() {
            self.flush_literals_now();
        }
    }

    /// [`CodeBuffer::flush_literals`] with at least one literal waiting.
    #[inline(never)]
    fn flush_literals_now(&mut self) {
        // By index (the literals are `Copy`): the vector stays in place for the next pool.
        let mut i = 0;
        while let Some(&lit) = self.literals.get(i) {
            let offset = self.offset();
            let word = lit.value.to_le_bytes();
            // The padding to a word (2 bytes: code is halfwords) goes with the first word, in
            // one append of a known length; after it the offset stays aligned.
            let misalign = offset % 4;
            let at = if misalign == 2 {
                let [a, b, c, d] = word;
                self.sink.append(&[0, 0, a, b, c, d]);
                offset + 2
            } else {
                if misalign != 0 {
                    self.emit(&[0; 4][misalign..]);
                }
                self.sink.append(&word);
                offset + (4 - misalign) % 4
            };
            match lit.kind.patch_halfword(lit.offset, at) {
                Some(halfword) => self.sink.replace_halfword(lit.offset, halfword),
                None => self.patch_literal_use(lit.offset, lit.kind, at),
            }
            i += 1;
        }
        self.literals.clear();
    }

    /// A literal load beyond [`LabelUse::patch_halfword`]'s quick encoding: through
    /// [`Self::patch_use`], out of line (it names the error; no pool load gets here), so that
    /// the pool's loop saves no registers for it.
    #[cold]
    #[inline(never)]
    fn patch_literal_use(&mut self, at: usize, kind: U, target: usize) {
        self.patch_use(at, kind, target);
    }
}

/// How numeric labels were placed. The labels table lists them sorted by offset, newest first
/// among equal offsets. Compilers number labels in the order they place them, and code only
/// grows, so usually the table follows from the label offsets alone, without a log (8 bytes a
/// label: the largest table of all for a module with thousands of labels).
enum Placements {
    /// Every placement so far had a higher label number and no lower offset than the one
    /// before (`last`), except that label 0 may come last (`zero_last`, the driver places it
    /// after everything else); `count` placements.
    InOrder {
        last: Option<(u32, u32)>,
        zero_last: bool,
        count: usize,
    },
    /// Every placement, oldest first (labels placed out of order, or twice).
    Log(Vec<(u32, u32)>),
}

/// The label of the `k`th position of the in-order placement sequence over `len` label slots.
#[inline]
fn in_order_label(k: usize, len: usize, zero_last: bool) -> u32 {
    match zero_last {
        true if k + 1 == len => 0,
        true => k as u32 + 1,
        false => k as u32,
    }
}

/// The placed labels of `offsets` in the order they were placed (see [`Placements::InOrder`]).
fn in_placement_order(offsets: &[u32], zero_last: bool, mut f: impl FnMut(u32, u32)) {
    let len = offsets.len();
    for k in 0..len {
        let label = in_order_label(k, len, zero_last);
        if let Some(off) = offsets.get(label as usize).and_then(|&w| placed(w)) {
            f(label, off);
        }
    }
}

/// The placed labels of `offsets`, placed in order, as the labels table lists them: by offset
/// (the placement order already), each run of equal offsets newest first.
fn sorted_in_order(offsets: &[u32], zero_last: bool, mut f: impl FnMut(u32, u32)) {
    let len = offsets.len();
    let at = |k: usize| {
        let label = in_order_label(k, len, zero_last);
        let off = placed(*offsets.get(label as usize)?)?;
        Some((label, off))
    };
    let mut placed = (0..len).filter_map(|k| Some((k, at(k)?))).peekable();
    while let Some((start, (label, off))) = placed.next() {
        let same = |next: &(usize, (u32, u32))| next.1 .1 == off;
        if !placed.peek().is_some_and(same) {
            // A run of one (the usual case).
            f(label, off);
            continue;
        }
        // The run of equal offsets is positions start..end (unplaced labels in between skipped).
        let mut end = start + 1;
        while let Some((k, _)) = placed.next_if(same) {
            end = k + 1;
        }
        for k in (start..end).rev() {
            if let Some((label, offset)) = at(k) {
                f(label, offset);
            }
        }
    }
}

/// One `{u16 key, u32 offset}` big-endian entry of the labels or lines table.
fn emit_table_entry<S: CodeSink>(sink: &mut S, key: u32, offset: u32) {
    let mut entry = [0u8; 6];
    entry[..2].copy_from_slice(&(key as u16).to_be_bytes());
    entry[2..].copy_from_slice(&offset.to_be_bytes());
    sink.append(&entry);
}

/// The [`LabelUse`] contract, for each ISA's tests to run over the kinds its backend makes: for
/// every use offset in `ats` and distance in `rels`, [`LabelUse::patch`] succeeds exactly when
/// [`LabelUse::in_range`] says, and leaves every byte outside the placeholder as it was.
#[cfg(test)]
pub(crate) fn check_label_use_contract<U: LabelUse + core::fmt::Debug>(
    kinds: &[U],
    ats: &[usize],
    rels: &[i64],
) {
    use crate::stream::VecSink;
    for &kind in kinds {
        let size = kind.placeholder_size();
        for &at in ats {
            for &rel in rels {
                let Some(target) = isize::try_from(rel)
                    .ok()
                    .and_then(|rel| at.checked_add_signed(rel))
                else {
                    continue;
                };
                let mut sink = VecSink::new();
                sink.set_strict(true);
                sink.append(&alloc::vec![0xFF; at + size + 4]);
                let got = kind.patch(
                    target,
                    Placeholder {
                        sink: &mut sink,
                        at,
                        size,
                    },
                );
                assert_eq!(
                    got.is_ok(),
                    kind.in_range(at, target),
                    "{kind:?} at {at} to {target} ({rel:+}): {got:?}"
                );
                assert_eq!(sink.error(), None, "{kind:?} at {at} to {target}");
                let bytes = sink.as_bytes();
                let outside = bytes[..at].iter().chain(&bytes[at + size..]);
                assert!(outside.into_iter().all(|&b| b == 0xFF), "{kind:?} at {at}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::VecSink;

    /// A toy ISA: a 2-byte use holding the distance to its target as a little-endian u16, and a
    /// 4-byte use that reaches forward only.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Toy {
        Rel16,
        Forward32,
    }

    impl LabelUse for Toy {
        fn placeholder_size(self) -> usize {
            match self {
                Toy::Rel16 => 2,
                Toy::Forward32 => 4,
            }
        }
        fn in_range(self, at: usize, target: usize) -> bool {
            let rel = target as i64 - at as i64;
            match self {
                Toy::Rel16 => i16::try_from(rel).is_ok(),
                Toy::Forward32 => u32::try_from(rel).is_ok(),
            }
        }
        fn patch<S: CodeSink>(
            self,
            target: usize,
            out: Placeholder<'_, S>,
        ) -> Result<(), BackendError> {
            let rel = target as i64 - out.at() as i64;
            match self {
                Toy::Rel16 => {
                    let v = i16::try_from(rel).map_err(|_| BackendError::OutOfRange("rel16"))?;
                    out.write(&v.to_le_bytes())
                }
                Toy::Forward32 if rel >= 0 => out.write(&(rel as u32).to_le_bytes()),
                Toy::Forward32 => Err(BackendError::OutOfRange("forward32")),
            }
        }
        // Only Rel16 packs (Forward32 always waits in two slots).
        fn to_bits(self) -> u32 {
            match self {
                Toy::Rel16 => 0x5A,
                Toy::Forward32 => 0x1000,
            }
        }
        fn from_bits(bits: u32) -> Option<Self> {
            match bits {
                0x5A => Some(Toy::Rel16),
                0x1000 => Some(Toy::Forward32),
                _ => None,
            }
        }
    }

    fn buffer() -> CodeBuffer<VecSink, Toy> {
        let mut sink = VecSink::new();
        sink.set_strict(true);
        CodeBuffer::new(sink)
    }

    #[test]
    fn forward_uses_are_placeholders_until_their_label_is_placed() {
        let mut b = buffer();
        b.set_label_limit(3);
        b.emit(&[0xAA]);
        b.emit_use(Label::Num(2), Toy::Rel16);
        b.emit_use(Label::Num(2), Toy::Forward32);
        assert_eq!(
            b.sink().as_bytes(),
            [0xAA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        b.emit(&[0xBB]);
        b.place(Label::Num(2), 8);
        assert_eq!(b.error(), None);
        assert_eq!(b.sink().as_bytes(), [0xAA, 7, 0, 5, 0, 0, 0, 0xBB]);
        // Uses of a placed label are patched by `patch_all`; backwards works for Rel16 only.
        b.emit(&[0xCC, 0xCC]);
        b.emit_use(Label::Num(2), Toy::Rel16);
        b.patch_all();
        assert_eq!(&b.sink().as_bytes()[10..], [0xFE, 0xFF]);
        assert_eq!(b.error(), None);
        b.emit_use(Label::Num(2), Toy::Forward32);
        b.patch_all();
        assert_eq!(b.error(), Some(BackendError::OutOfRange("forward32")));
        assert_eq!(&b.sink().as_bytes()[12..], [0xFF; 4]);
    }

    #[test]
    fn a_label_placed_again_takes_the_uses_made_since_its_last_placement() {
        let mut b = buffer();
        b.set_label_limit(3);
        b.emit_use(Label::Num(1), Toy::Rel16); // at 0, before the first placement
        b.place(Label::Num(1), 0x10);
        b.emit_use(Label::Num(1), Toy::Rel16); // at 2, between the placements
        b.emit_use(Label::Num(2), Toy::Rel16); // at 4, label 2 placed below
        b.place(Label::Num(1), 0x20);
        b.emit_use(Label::Num(1), Toy::Rel16); // at 6, before the third placement
        b.emit_use(Label::Num(1), Toy::Rel16); // at 8, after all three
        b.place(Label::Num(1), 0x40);
        b.place(Label::Num(2), 0x30);
        b.patch_all();
        assert_eq!(b.error(), None);
        assert_eq!(
            b.sink().as_bytes(),
            [0x10, 0, 0x1E, 0, 0x2C, 0, 0x3A, 0, 0x38, 0]
        );
    }

    #[test]
    fn a_label_s_only_waiting_use_needs_no_slot() {
        let mut b = buffer();
        b.set_label_limit(200);
        for n in 1..=100 {
            b.emit_use(Label::Num(n), Toy::Rel16);
        }
        assert_eq!(b.pending.len(), 0);
        // A second use moves the first one to a slot too, and both are patched.
        b.emit_use(Label::Num(7), Toy::Rel16);
        // A kind that does not pack waits in a slot.
        b.emit_use(Label::Num(150), Toy::Forward32);
        assert_eq!(b.pending.len(), 3);
        for n in 1..=100 {
            b.place(Label::Num(n), 0x200 + 2 * n as usize);
        }
        b.place(Label::Num(150), 0x400);
        assert_eq!(b.pending.len(), 0);
        b.patch_all();
        assert_eq!(b.error(), None);
        let bytes = b.sink().as_bytes();
        let rel = |at: usize| i16::from_le_bytes([bytes[at], bytes[at + 1]]);
        for n in 1..=100usize {
            assert_eq!(rel(2 * (n - 1)), (0x200 + 2 * n - 2 * (n - 1)) as i16);
        }
        assert_eq!(rel(200), (0x200 + 14 - 200) as i16);
        assert_eq!(&bytes[202..206], (0x400u32 - 202).to_le_bytes());
        // A use too far from the base, or of a kind that does not pack, has no one-use word.
        let last = (1 << PACKED_OFFSET_BITS) - 1;
        assert_eq!(
            unpack_use(pack_use(Toy::Rel16, last).unwrap()),
            (0x5A, last as u32)
        );
        assert_eq!(pack_use(Toy::Rel16, 1 << PACKED_OFFSET_BITS), None);
        assert_eq!(pack_use(Toy::Forward32, 0), None);
        // An undefined label's only use is an error too.
        let mut b = buffer();
        b.set_label_limit(3);
        b.emit_use(Label::Num(2), Toy::Rel16);
        b.patch_all();
        assert_eq!(
            b.error(),
            Some(BackendError::Unsupported("branch to an undefined label"))
        );
    }

    #[test]
    fn labels_beyond_the_limit_and_undefined_labels_are_errors() {
        let mut b = buffer();
        b.set_label_limit(3);
        b.emit_use(Label::Num(4), Toy::Rel16);
        assert_eq!(
            b.error(),
            Some(BackendError::OutOfRange("label beyond the jump table"))
        );
        let mut b = buffer();
        b.set_label_limit(3);
        b.emit_use(Label::Num(1), Toy::Rel16);
        b.patch_all();
        assert_eq!(
            b.error(),
            Some(BackendError::Unsupported("branch to an undefined label"))
        );
    }

    #[test]
    fn local_labels_are_reused_once_placed() {
        let mut b = buffer();
        let first = b.new_local_label();
        b.emit_use(first, Toy::Rel16);
        b.place(first, 2);
        assert_eq!(b.sink().as_bytes(), [2, 0]);
        assert_eq!(b.new_local_label(), first);
    }

    #[test]
    fn literals_are_laid_out_word_aligned_and_their_uses_patched() {
        let mut b = buffer();
        b.emit(&[1, 2]);
        b.emit_literal_use(Toy::Rel16, 0x1234_5678);
        b.emit(&[3, 4]);
        assert!(b.literal_deadline_passed(3));
        assert!(!b.literal_deadline_passed(4));
        b.flush_literals();
        assert!(b.pending_literals().is_empty());
        assert_eq!(
            b.sink().as_bytes(),
            [1, 2, 6, 0, 3, 4, 0, 0, 0x78, 0x56, 0x34, 0x12]
        );
    }

    #[test]
    fn labels_placed_in_order_need_no_log_and_sort_like_the_log() {
        // Gaps (labels never placed), runs of equal offsets, and label 0 placed last: the
        // table comes from the offsets alone and equals the stable sort of the placements.
        let placements = [
            (1, 0x10),
            (2, 0x10),
            (4, 0x18),
            (5, 0x20),
            (7, 0x20),
            (0, 0x20),
        ];
        let mut b = buffer();
        b.set_label_limit(8);
        for &(n, off) in &placements {
            b.place(Label::Num(n), off as usize);
        }
        assert!(matches!(b.placements, Placements::InOrder { count: 6, .. }));
        let mut expected = placements.to_vec();
        crate::compile::sort_by_offset_newest_first(&mut expected).unwrap();
        assert_eq!(
            expected,
            [
                (2, 0x10),
                (1, 0x10),
                (4, 0x18),
                (0, 0x20),
                (7, 0x20),
                (5, 0x20)
            ]
        );
        assert_eq!(b.take_sorted_labels(), expected);
        // One label out of order (or placed twice) turns the placements so far into a log.
        for late in [(3, 0x30), (5, 0x30), (8, 0x08)] {
            let mut b = buffer();
            b.set_label_limit(8);
            for &(n, off) in placements.iter().take(5) {
                b.place(Label::Num(n), off as usize);
            }
            b.place(Label::Num(late.0), late.1 as usize);
            assert!(matches!(b.placements, Placements::Log(_)));
            let mut expected = placements[..5].to_vec();
            expected.push(late);
            crate::compile::sort_by_offset_newest_first(&mut expected).unwrap();
            assert_eq!(b.take_sorted_labels(), expected);
        }
    }

    #[test]
    fn tables_list_labels_by_offset_newest_first_then_lines() {
        let mut b = buffer();
        b.set_label_limit(4);
        b.place(Label::Num(3), 0x80);
        b.place(Label::Num(1), 0x60);
        b.place(Label::Num(4), 0x80);
        b.emit_label_and_line_tables(&[(7, 0x10)]);
        assert_eq!(
            b.sink().as_bytes(),
            [
                0, 3, // three labels
                0, 1, 0, 0, 0, 0x60, // label 1
                0, 4, 0, 0, 0, 0x80, // label 4, placed after 3 at the same offset
                0, 3, 0, 0, 0, 0x80, // label 3
                0, 1, // one line
                0, 7, 0, 0, 0, 0x10,
            ]
        );
    }
}

//! Where compiled code goes.
//!
//! The compiler only ever appends, asks for the current position, and patches bytes it emitted
//! earlier. On NOR flash a patch can only clear bits, so every byte that will be patched later is
//! first emitted as `0xFF`; [`VecSink`] checks that rule in debug builds so a violation shows up on
//! the desktop rather than as corrupt code on the Pico.

use alloc::vec::Vec;

/// A sink failure (flash programming error, out of space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkError {
    /// The destination has no room for more code.
    Full { offset: usize },
    /// A patch would have to set bits that are already cleared.
    NotErased { offset: usize },
    /// A patch refers to bytes that were never written.
    OutOfRange { offset: usize },
    /// The underlying device reported an error.
    Device { offset: usize },
    /// An in-memory sink could not grow to `bytes` bytes.
    OutOfMemory { bytes: usize },
}

impl core::fmt::Display for SinkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SinkError::Full { offset } => write!(f, "code output full at offset {offset:#x}"),
            SinkError::NotErased { offset } => {
                write!(f, "patch would set cleared bits at code offset {offset:#x}")
            }
            SinkError::OutOfRange { offset } => {
                write!(
                    f,
                    "patch at code offset {offset:#x} beyond the code written"
                )
            }
            SinkError::Device { offset } => {
                write!(f, "device error writing code offset {offset:#x}")
            }
            SinkError::OutOfMemory { bytes } => {
                write!(f, "out of memory growing the code buffer to {bytes} bytes")
            }
        }
    }
}

impl core::error::Error for SinkError {}

/// An append-only code stream with back-patching.
///
/// Errors are sticky: after the first failure every call is a no-op and [`CodeSink::error`]
/// reports it. This keeps the code generator free of error plumbing on every instruction.
pub trait CodeSink {
    /// Offset of the next byte to be appended.
    fn offset(&self) -> usize;
    /// Append bytes at the end.
    fn append(&mut self, bytes: &[u8]);
    /// Append one halfword, little-endian (one Thumb-1 instruction: most appends). A sink may
    /// give it a faster path than [`CodeSink::append`]'s.
    #[inline]
    fn append_halfword(&mut self, halfword: u16) {
        self.append(&halfword.to_le_bytes());
    }
    /// Append a short known sequence of halfwords (at most 8), little-endian. A sink may give
    /// it a faster path than one [`CodeSink::append_halfword`] each.
    #[inline]
    fn append_halfwords(&mut self, halfwords: &[u16]) {
        for &halfword in halfwords {
            self.append_halfword(halfword);
        }
    }
    /// Overwrite bytes previously appended at `offset`.
    fn replace(&mut self, offset: usize, bytes: &[u8]);
    /// Overwrite one halfword, little-endian, previously appended at `offset` (one Thumb-1
    /// instruction: most patches). A sink may give it a faster path than
    /// [`CodeSink::replace`]'s.
    #[inline]
    fn replace_halfword(&mut self, offset: usize, halfword: u16) {
        self.replace(offset, &halfword.to_le_bytes());
    }
    /// The first error, if any.
    fn error(&self) -> Option<SinkError>;
}

/// A sink into memory, used on the host.
#[derive(Debug, Default, Clone)]
pub struct VecSink {
    bytes: Vec<u8>,
    /// Where offset 0 is in `bytes` (bytes before it belong to something else, e.g. the other
    /// chunks of the `.beam` the payload is written into).
    base: usize,
    error: Option<SinkError>,
    /// Check the flash rule (patches may only clear bits) on every `replace`.
    strict: bool,
    /// After an error: the bytes and base as they were (`bytes` is then empty, with no
    /// capacity, so that an append's one capacity check also turns it away; see
    /// [`VecSink::fail`]).
    parked: Vec<u8>,
    parked_base: usize,
}

impl VecSink {
    /// A sink that already holds `prefix` (e.g. the `avmN` header, so that offsets match the
    /// reference's, which count from the start of the chunk).
    pub fn with_prefix(prefix: &[u8]) -> Self {
        let mut sink = VecSink {
            bytes: Vec::new(),
            base: 0,
            error: None,
            strict: cfg!(debug_assertions),
            parked: Vec::new(),
            parked_base: 0,
        };
        sink.append(prefix);
        sink
    }
    /// A sink appending to `bytes`, whose offsets count from `base` (at most `bytes.len()`):
    /// the code is written straight after what the buffer holds, with no copy afterwards.
    pub fn after(bytes: Vec<u8>, base: usize) -> Self {
        VecSink {
            base: base.min(bytes.len()),
            bytes,
            error: None,
            strict: cfg!(debug_assertions),
            parked: Vec::new(),
            parked_base: 0,
        }
    }
    pub fn new() -> Self {
        Self::with_prefix(&[])
    }
    /// Turn the flash-rule check on or off.
    pub fn set_strict(&mut self, strict: bool) {
        self.strict = strict;
    }
    /// The bytes from offset 0 on.
    pub fn as_bytes(&self) -> &[u8] {
        match self.error {
            None => &self.bytes[self.base..],
            Some(_) => &self.parked[self.parked_base..],
        }
    }
    /// The whole buffer (with whatever preceded `base`, for [`VecSink::after`]).
    pub fn into_bytes(self) -> Vec<u8> {
        match self.error {
            None => self.bytes,
            Some(_) => self.parked,
        }
    }

    /// Record the first error and stop: the bytes are parked, and `bytes` left empty with no
    /// capacity, so every later append fails its capacity check and goes to
    /// [`VecSink::append_slow`], which drops it (the fast path checks capacity only, not the
    /// error: once per appended instruction). `base` is set so that the offset stays where
    /// it was.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, e: SinkError) {
        if self.error.is_some() {
            return;
        }
        let offset = self.offset();
        self.error = Some(e);
        self.parked = core::mem::take(&mut self.bytes);
        self.parked_base = self.base;
        self.base = 0usize.wrapping_sub(offset);
    }

    /// Append `bytes`, for which there is room: no reallocation.
    #[inline]
    fn push_within_capacity(&mut self, bytes: &[u8]) {
        // The backend appends one or two halfwords at a time: copies of a known length are a
        // store or two, where a slice of unknown length costs a call to memcpy.
        if let Ok(halfword) = <[u8; 2]>::try_from(bytes) {
            self.bytes.extend_from_slice(&halfword);
        } else if let Ok(word) = <[u8; 4]>::try_from(bytes) {
            self.bytes.extend_from_slice(&word);
        } else {
            self.bytes.extend_from_slice(bytes);
        }
    }

    /// [`CodeSink::append`] when the buffer must grow (or has failed before).
    #[cold]
    #[inline(never)]
    fn append_slow(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if self.bytes.try_reserve(bytes.len()).is_err() {
            let bytes = self.bytes.len().saturating_add(bytes.len());
            self.fail(SinkError::OutOfMemory { bytes });
            return;
        }
        self.push_within_capacity(bytes);
    }
}

impl CodeSink for VecSink {
    #[inline]
    fn offset(&self) -> usize {
        // Wrapping: after an error `bytes` is empty and `base` is minus the offset then.
        self.bytes.len().wrapping_sub(self.base)
    }

    /// The common case (room left) inlined into the backend's emitters; growing the buffer and
    /// failing are out of line. No test of the error here: after one there is no room (see
    /// [`VecSink::fail`]).
    #[inline]
    fn append(&mut self, bytes: &[u8]) {
        if self.bytes.capacity() - self.bytes.len() >= bytes.len() {
            self.push_within_capacity(bytes);
        } else {
            self.append_slow(bytes);
        }
    }

    /// One append of the halfwords' bytes (a copy of known length once inlined): one capacity
    /// check and one length update for the sequence. A longer sequence than the trait allows is
    /// appended one halfword at a time, never cut short.
    #[inline]
    fn append_halfwords(&mut self, halfwords: &[u16]) {
        if halfwords.len() > 8 {
            for &halfword in halfwords {
                self.append_halfword(halfword);
            }
            return;
        }
        let mut bytes = [0u8; 16];
        for (pair, h) in bytes.chunks_exact_mut(2).zip(halfwords) {
            if let [lo, hi] = pair {
                [*lo, *hi] = h.to_le_bytes();
            }
        }
        let len = (halfwords.len() * 2).min(bytes.len());
        self.append(&bytes[..len]);
    }

    #[inline]
    fn replace(&mut self, offset: usize, bytes: &[u8]) {
        // No test of the error: after one, `bytes` is empty (see `VecSink::fail`), so the
        // range below is out of it and `fail` keeps the first error.
        let Some(dest) = offset
            .checked_add(self.base)
            .and_then(|start| Some((start, start.checked_add(bytes.len())?)))
            .and_then(|(start, end)| self.bytes.get_mut(start..end))
        else {
            self.fail(SinkError::OutOfRange { offset });
            return;
        };
        if self.strict {
            if let Some(i) = dest
                .iter()
                .zip(bytes)
                .position(|(old, new)| old & new != *new)
            {
                self.fail(SinkError::NotErased { offset: offset + i });
                return;
            }
        }
        // Patches are one or two halfwords but for far branches (10 or 12 bytes for the
        // armv6m backend's usual ones): known lengths are a store or two, not a memcpy call.
        match bytes.len() {
            2 => copy_known::<2>(dest, bytes),
            4 => copy_known::<4>(dest, bytes),
            10 => copy_known::<10>(dest, bytes),
            12 => copy_known::<12>(dest, bytes),
            _ => dest.copy_from_slice(bytes),
        }
    }

    fn error(&self) -> Option<SinkError> {
        self.error
    }
}

/// `dest.copy_from_slice(src)` for slices of `N` bytes, as a copy of a known length.
#[inline(always)]
fn copy_known<const N: usize>(dest: &mut [u8], src: &[u8]) {
    match (
        <&mut [u8; N]>::try_from(&mut *dest),
        <&[u8; N]>::try_from(src),
    ) {
        (Ok(d), Ok(s)) => *d = *s,
        _ => dest.copy_from_slice(src),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_clears_bits_of_placeholder() {
        let mut s = VecSink::with_prefix(&[1, 2]);
        s.set_strict(true);
        s.append(&[0xFF, 0xFF, 0x00]);
        assert_eq!(s.offset(), 5);
        s.replace(2, &[0x12, 0x34]);
        assert_eq!(s.error(), None);
        assert_eq!(s.as_bytes(), &[1, 2, 0x12, 0x34, 0]);
    }

    #[test]
    fn halfword_sequences_append_as_their_halfwords() {
        // Up to the 8 the trait promises, and beyond (appended one at a time, never cut).
        for len in 0..=11u16 {
            let halfwords: alloc::vec::Vec<u16> = (0..len).map(|i| 0x1234 + i * 0x0101).collect();
            let mut one = VecSink::with_prefix(&[0xAA]);
            let mut each = VecSink::with_prefix(&[0xAA]);
            one.append_halfwords(&halfwords);
            for &h in &halfwords {
                each.append(&h.to_le_bytes());
            }
            assert_eq!(one.as_bytes(), each.as_bytes(), "length {len}");
            assert_eq!(one.offset(), 1 + 2 * usize::from(len));
        }
    }

    #[test]
    fn patches_of_every_length_land_where_asked() {
        for len in [1, 2, 3, 4, 10, 12, 18] {
            let mut s = VecSink::with_prefix(&[0xAA]);
            s.set_strict(true);
            s.append(&[0xFF; 20]);
            let patch: alloc::vec::Vec<u8> = (0..len as u8).collect();
            s.replace(2, &patch);
            assert_eq!(s.error(), None, "length {len}");
            let mut expected = alloc::vec![0xAA, 0xFF];
            expected.extend_from_slice(&patch);
            expected.resize(21, 0xFF);
            assert_eq!(s.as_bytes(), &expected[..], "length {len}");
        }
    }

    #[test]
    fn strict_sink_rejects_setting_bits() {
        let mut s = VecSink::new();
        s.set_strict(true);
        s.append(&[0x0F]);
        s.replace(0, &[0x1F]);
        assert_eq!(s.error(), Some(SinkError::NotErased { offset: 0 }));
    }

    #[test]
    fn after_an_error_appends_and_patches_are_dropped_and_the_offset_stays() {
        for prefix in [&[][..], &[7, 7, 7]] {
            let mut s = VecSink::with_prefix(prefix);
            s.append(&[0xFF, 0xFF, 1]);
            // Out of range: the first error.
            let at = prefix.len() + 2;
            s.replace(at, &[0, 0]);
            let first = Some(SinkError::OutOfRange { offset: at });
            assert_eq!(s.error(), first);
            let offset = s.offset();
            assert_eq!(offset, prefix.len() + 3);
            s.append(&[9, 9]);
            s.append_halfword(0x1234);
            s.append(&[9; 12]);
            s.replace(0, &[0]);
            s.replace(offset, &[]);
            assert_eq!(s.offset(), offset);
            assert_eq!(s.error(), first);
            let mut expected = prefix.to_vec();
            expected.extend_from_slice(&[0xFF, 0xFF, 1]);
            assert_eq!(s.as_bytes(), &expected[..]);
            assert_eq!(s.into_bytes(), expected);
        }
        // A sink after a prefix it does not own (`after`) keeps its base too.
        let mut s = VecSink::after(alloc::vec![1, 2, 3], 2);
        s.append(&[4]);
        s.replace(5, &[0]);
        s.append(&[5]);
        assert_eq!((s.offset(), s.as_bytes()), (2, &[3, 4][..]));
        assert_eq!(s.into_bytes(), [1, 2, 3, 4]);
    }

    #[test]
    fn replace_out_of_range_is_an_error_not_a_panic() {
        let mut s = VecSink::new();
        s.append(&[0xFF]);
        s.replace(1, &[0]);
        assert_eq!(s.error(), Some(SinkError::OutOfRange { offset: 1 }));
        s.replace(usize::MAX, &[0]);
    }
}

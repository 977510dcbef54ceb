//! The jump table, labels, unconditional branches and their back-patching.
//!
//! Forward branches are emitted as 0xFF placeholders sized for the worst case and patched when
//! their label is placed (or at `update_branches`). A far branch whose target turned out to be
//! near is patched into `b` + nops, so its size never changes.

use super::asm::{self, Code};
use super::names::*;
use super::{
    first_avail, Armv6m, BranchKind, AVAILABLE_REGS_MASK, CTX_REG, IP_REG, JUMP_TABLE_ENTRY_SIZE,
    JUMP_TABLE_ENTRY_SIZE_THUMB2,
};
use crate::compile::backend::{Arg, BackendError, Label, Reg, Val};
use crate::isa::buffer::{append_erased, LabelUse, Placeholder};
use crate::stream::CodeSink;

/// Registers pushed by every function prologue (r1 = `JITState *`), popped with pc on return.
pub(super) const PROLOGUE_REGS: [Reg; 6] = [R1, R4, R5, R6, R7, LR];
/// The epilogue pop: the prologue registers with pc in place of lr.
pub(super) const EPILOGUE_REGS: [Reg; 6] = [R1, R4, R5, R6, R7, PC];
/// Offset of the saved lr from sp inside generated functions (after the prologue push).
pub(super) const STACK_OFFSET_LR: i64 = 20;

/// Reach of a 16-bit `b`, counted from the branch itself.
#[inline]
fn is_near(rel: i64) -> bool {
    matches!(rel, -2044..=2050)
}

impl<S: CodeSink> Armv6m<S> {
    /// Emit one jump table entry per label 0..=labels_count, each with a placeholder target.
    pub(super) fn jump_table(&mut self, labels_count: u32) {
        self.jump_table_start = self.cur_offset();
        let mut entry = Code::new();
        if self.thumb2() {
            entry.push(asm::push(&PROLOGUE_REGS));
            entry.extend(&[0xFF; 4]);
        } else {
            entry.push(asm::ldr_pc(R3, 4));
            entry.push(asm::push(&PROLOGUE_REGS));
            entry.push(asm::add_hi(PC, R3));
            entry.push(asm::nop());
            entry.extend(&[0xFF; 4]);
        }
        self.buf.set_label_limit(labels_count);
        // The entry as an array of its known length: each append is a capacity check and a
        // store or two (a label each: thousands in a large module), not a copy of a slice.
        match <[u8; JUMP_TABLE_ENTRY_SIZE]>::try_from(entry.as_bytes()) {
            Ok(bytes) if entry.error().is_none() => {
                for _ in 0..=labels_count {
                    self.buf.emit(&bytes);
                }
            }
            _ => {
                for _ in 0..=labels_count {
                    self.put_code(&entry);
                }
            }
        }
    }

    /// Place `label` at the current offset, first aligning to a word with a nop.
    pub(super) fn add_label(&mut self, label: Label) {
        self.regs.invalidate_all();
        if !self.cur_offset().is_multiple_of(4) {
            self.put(asm::nop());
        }
        let offset = self.cur_offset();
        self.add_label_at(label, offset);
    }

    /// Place `label` at `offset`: point its jump table entry there and patch the branches
    /// waiting for it.
    pub(super) fn add_label_at(&mut self, label: Label, offset: usize) {
        if let Label::Num(n) = label {
            self.patch_jump_table_entry(n, offset);
        }
        self.buf.place(label, offset);
    }

    fn patch_jump_table_entry(&mut self, label: u32, target: usize) {
        if self.buf.beyond_limit(label) {
            self.fail(BackendError::OutOfRange("label beyond the jump table"));
            return;
        }
        let n = label as usize;
        if self.thumb2() {
            let branch = self.jump_table_start + n * JUMP_TABLE_ENTRY_SIZE_THUMB2 + 2;
            let rel = target as i64 - (branch as i64 + 4);
            self.patch_insn(branch, asm::b_w(rel));
        } else {
            let entry = self.jump_table_start + n * JUMP_TABLE_ENTRY_SIZE;
            // `add pc, r3` is at entry + 4 and reads pc as entry + 8; bit 0 selects Thumb.
            let rel = target as i64 - (entry as i64 + 8) + 1;
            self.patch(entry + 8, &(rel as u32).to_le_bytes());
        }
    }

    /// Patch every branch still pending (all labels are placed by now).
    pub(super) fn update_branches(&mut self) {
        self.buf.patch_all();
    }

    /// Unconditional jump to a BEAM label.
    pub(super) fn jump_to_label(&mut self, label: u32) {
        let label = Label::Num(label);
        let offset = self.cur_offset();
        match self.buf.label_offset(label) {
            Some(target) => self.branch_to_offset(offset, target),
            None => self.branch_to_label(label),
        }
        // Nothing is known about registers after an unconditional jump.
        self.regs.invalidate_all();
        self.flush_literal_pool();
    }

    /// Unconditional jump to a known code offset.
    pub(super) fn jump_to_offset(&mut self, target: usize) {
        let offset = self.cur_offset();
        self.branch_to_offset(offset, target);
        self.regs.invalidate_all();
        self.flush_literal_pool();
    }

    /// Emit a branch at `offset` (the current offset) to a known `target`.
    pub(super) fn branch_to_offset(&mut self, offset: usize, target: usize) {
        let rel = target as i64 - offset as i64;
        if self.thumb2() {
            self.put(asm::b_w(rel - 4));
        } else if is_near(rel) {
            self.put(asm::b(rel));
        } else {
            let Some(temp) = first_avail(self.available_regs) else {
                self.fail(BackendError::OutOfRegisters);
                return;
            };
            let size = if offset.is_multiple_of(4) { 12 } else { 10 };
            match far_branch_bytes(size, temp, rel) {
                // Known lengths (stores, not a memcpy call) for the sizes asked for here.
                Ok((bytes, 10)) => self.buf.emit(&bytes[..10]),
                Ok((bytes, 12)) => self.buf.emit(&bytes[..12]),
                Ok((bytes, len)) => self.buf.emit(&bytes[..len]),
                Err(e) => self.fail(super::asm_error(e)),
            }
        }
    }

    /// Emit a placeholder here for a branch to a label not placed yet, sized for the farthest
    /// target.
    pub(super) fn branch_to_label(&mut self, label: Label) {
        let offset = self.cur_offset();
        let kind = if self.thumb2() {
            BranchKind::BW
        } else if let Some(temp) = first_avail(self.available_regs) {
            // ldr; add; bx; [nop to word-align the literal]; literal
            let size = if offset.is_multiple_of(4) { 12 } else { 10 };
            BranchKind::Far { size, temp }
        } else {
            // Same through ip, borrowing r0: push; ldr; mov; pop; add; bx; [nop]; literal
            let size = if !offset.is_multiple_of(4) { 18 } else { 16 };
            BranchKind::Far { size, temp: IP_REG }
        };
        self.buf.emit_use(label, kind);
    }

    /// Jump to the continuation in `value` (an offset from the module base, freed): the target
    /// is a function prologue, so return through the epilogue with lr replaced by the target.
    pub(super) fn jump_to_continuation(&mut self, value: Arg) {
        let (Val::Reg(offset_reg), true) = (value.val, value.free) else {
            self.fail(BackendError::Unsupported(
                "jump_to_continuation needs a freed register",
            ));
            return;
        };
        let temp = self.avail(self.available_regs);
        let adr_offset = self.cur_offset();
        let mut code = Code::new();
        code.push(asm::adr(temp, 4));
        code.push(asm::adds_reg(offset_reg, offset_reg, temp));
        self.put_code(&code);
        let adr_pc = (adr_offset + 4) & !3;
        let base_minus_pc = self.buf.base_offset() as i64 - adr_pc as i64 + 1;
        self.mov_immediate(temp, base_minus_pc);
        let mut code = Code::new();
        code.push(asm::adds_reg(offset_reg, offset_reg, temp));
        code.push(asm::ldr_sp(temp, STACK_OFFSET_LR));
        code.push(asm::str_sp(offset_reg, STACK_OFFSET_LR));
        code.push(asm::mov(LR, temp));
        code.push(asm::pop(&EPILOGUE_REGS));
        self.put_code(&code);
        self.available_regs = AVAILABLE_REGS_MASK;
        self.used_regs = 0;
        self.flush_literal_pool();
    }

    /// Return `value` (a freed register) to the scheduler unless it is ctx.
    pub(super) fn return_if_not_equal_to_ctx(&mut self, value: Arg) {
        let (Val::Reg(reg), true) = (value.val, value.free) else {
            self.fail(BackendError::Unsupported(
                "return_if_not_equal_to_ctx needs a freed register",
            ));
            return;
        };
        let mut tail = Code::new();
        if reg != R0 {
            tail.push(asm::mov(R0, reg));
        }
        tail.push(asm::pop(&EPILOGUE_REGS));
        let mut code = Code::new();
        code.push(asm::cmp_reg(reg, CTX_REG));
        code.push(asm::bcc(asm::Cc::Eq, 2 + tail.len() as i64));
        code.extend(tail.as_bytes());
        if let Some(e) = tail.error() {
            code.push(Err(e));
        }
        self.put_code(&code);
        self.release_reg(reg);
        self.regs.invalidate_reg(reg);
    }
}

/// armv6m's label uses: what the ISA-neutral buffer needs to size and patch them.
impl LabelUse for BranchKind {
    fn placeholder_size(self) -> usize {
        match self {
            BranchKind::Adr(_) | BranchKind::Literal(_) => 2,
            BranchKind::BW => 4,
            BranchKind::Far { size, .. } => usize::from(size),
        }
    }

    /// `adr` (a low register): 2..=1024 bytes ahead, even (it counts from the word-aligned pc;
    /// see [`BranchKind::patch_any`]). A literal `ldr` (a low register): a word 0..=1020 bytes
    /// ahead of the word-aligned pc + 4. `b.w`: -16,777,212..=16,777,218, even. A far branch
    /// (through a low register, or ip): anywhere its 32-bit literal, the distance from the pc
    /// its `add` reads (+ 1, the Thumb bit), can say.
    #[inline]
    fn in_range(self, at: usize, target: usize) -> bool {
        let rel = target as i64 - at as i64;
        match self {
            BranchKind::Adr(reg) => reg.0 < 8 && matches!(rel, 2..=1024) && rel % 2 == 0,
            BranchKind::Literal(_) => self.patch_halfword(at, target).is_some(),
            BranchKind::BW => matches!(rel, -16_777_212..=16_777_218) && rel % 2 == 0,
            BranchKind::Far { temp, .. } if temp == IP_REG => i32::try_from(rel - 11).is_ok(),
            BranchKind::Far { temp, .. } => temp.0 < 8 && i32::try_from(rel - 5).is_ok(),
        }
    }

    /// The usual far branches (10 or 12 bytes) are appends of a known length. Inlined on the
    /// host, where a call per use cost more than the append.
    #[cfg_attr(target_os = "none", inline)]
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn append_placeholder<S: CodeSink>(self, sink: &mut S) -> Result<(), BackendError> {
        match self {
            BranchKind::Far { size: 10, .. } => sink.append(&[0xFF; 10]),
            BranchKind::Far { size: 12, .. } => sink.append(&[0xFF; 12]),
            _ => return append_erased(sink, self.placeholder_size()),
        }
        Ok(())
    }

    /// The usual case first, small enough to inline where the buffer patches a waiting branch
    /// as its label is placed: a far branch (10 or 12 bytes) whose target turned out near,
    /// `b` then nops, one store of a known length. Anything else: [`BranchKind::patch_any`].
    #[cfg_attr(target_os = "none", inline)]
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn patch<S: CodeSink>(
        self,
        target: usize,
        out: Placeholder<'_, S>,
    ) -> Result<(), BackendError> {
        const NOP: u16 = asm::nop().halfword();
        if let BranchKind::Far {
            size: size @ (10 | 12),
            ..
        } = self
        {
            if let Ok(b) = asm::b(target as i64 - out.at() as i64) {
                let ([lo, hi], [a, b]) = (NOP.to_le_bytes(), b.halfword().to_le_bytes());
                let bytes = [a, b, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi];
                return match bytes.first_chunk::<10>() {
                    Some(ten) if size == 10 => out.write(ten),
                    _ => out.write(&bytes),
                };
            }
        }
        self.patch_any(target, out)
    }

    /// The common literal load (every literal of a pool: a low register, a word 0..=1020
    /// bytes ahead of the word-aligned pc + 4), encoded in plain word arithmetic; anything
    /// else goes through `patch` and the encoder, which names the error.
    #[inline]
    fn patch_halfword(self, at: usize, target: usize) -> Option<u16> {
        let BranchKind::Literal(reg) = self else {
            return None;
        };
        let ahead = target.wrapping_sub((at & !3) + 4);
        (reg.0 < 8 && ahead <= 1020 && ahead.is_multiple_of(4))
            .then(|| LDR_PC | u16::from(reg.0) << 8 | (ahead / 4) as u16)
    }

    /// Below 256 for every kind the backend makes: `00rrrrrr` `Adr`, `01rrrrrr` `Literal`,
    /// `10ssrrrr` `Far` of size 10/12/16/18 (`ss`), `11000000` `BW` (r: the register); any
    /// other (a register or size the backend does not use) `1 << 24 | tag << 16 | size << 8 |
    /// register`.
    fn to_bits(self) -> u32 {
        let wide = |tag: u32, size: u8, r: Reg| {
            1 << 24 | tag << 16 | u32::from(size) << 8 | u32::from(r.0)
        };
        match self {
            // The common case first: one match, no table.
            BranchKind::Far { size, temp } if temp.0 < 16 => match size {
                10 => 0x80 | u32::from(temp.0),
                12 => 0x90 | u32::from(temp.0),
                16 => 0xA0 | u32::from(temp.0),
                18 => 0xB0 | u32::from(temp.0),
                _ => wide(2, size, temp),
            },
            BranchKind::Far { size, temp } => wide(2, size, temp),
            BranchKind::Adr(r) if r.0 < 64 => u32::from(r.0),
            BranchKind::Literal(r) if r.0 < 64 => 0x40 | u32::from(r.0),
            BranchKind::Adr(r) => wide(0, 0, r),
            BranchKind::Literal(r) => wide(1, 0, r),
            BranchKind::BW => 0xC0,
        }
    }

    fn from_bits(bits: u32) -> Option<Self> {
        let (tag, size, r) = match bits {
            0..=0x7F | 0xC0 => (bits >> 6, 0, bits & 0x3F),
            0x80..=0xBF => (2, FAR_SIZES[(bits >> 4 & 3) as usize], bits & 0xF),
            0x100_0000..=0x1FF_FFFF => (bits >> 16 & 0xFF, (bits >> 8) as u8, bits & 0xFF),
            _ => return None,
        };
        let r = Reg(r as u8);
        Some(match tag {
            0 => BranchKind::Adr(r),
            1 => BranchKind::Literal(r),
            2 => BranchKind::Far { size, temp: r },
            3 if r.0 == 0 => BranchKind::BW,
            _ => return None,
        })
    }
}

impl BranchKind {
    /// [`LabelUse::patch`] for every use and target: a far branch whose target turned out near
    /// becomes `b` + nops, so its size never changes.
    fn patch_any<S: CodeSink>(
        self,
        target: usize,
        out: Placeholder<'_, S>,
    ) -> Result<(), BackendError> {
        let at = out.at();
        let rel = target as i64 - at as i64;
        let insn = match self {
            BranchKind::Adr(reg) => match rel % 4 {
                0 => asm::adr(reg, rel),
                // adr counts from the word-aligned pc: a half-word-aligned adr reaches 2 further.
                2 => asm::adr(reg, rel + 2),
                _ => Err(asm::AsmError::offset(rel)),
            },
            BranchKind::BW => asm::b_w(rel - 4),
            BranchKind::Literal(reg) => {
                if let Some(halfword) = self.patch_halfword(at, target) {
                    return out.write_halfword(halfword);
                }
                // `ldr` reads pc as its word-aligned address + 4.
                let ldr_pc = (at & !3) + 4;
                asm::ldr_pc(reg, target as i64 - ldr_pc as i64)
            }
            BranchKind::Far { size, temp } => {
                if is_near(rel) && rel % 2 == 0 {
                    // `b` then nops, built in place (the common case: most targets are near).
                    // Far placeholders are at most 18 bytes (see `branch_to_label`); the nops
                    // are a constant, not a loop.
                    const NOPS: [u8; 18] = {
                        let nop = asm::nop().halfword().to_le_bytes();
                        let mut bytes = [0u8; 18];
                        let mut k = 0;
                        while k < bytes.len() {
                            bytes[k] = nop[k % 2];
                            k += 1;
                        }
                        bytes
                    };
                    let mut bytes = NOPS;
                    let b = asm::b(rel).map_err(super::asm_error)?;
                    [bytes[0], bytes[1]] = b.halfword().to_le_bytes();
                    let len = usize::from(size).min(bytes.len());
                    return out.write(&bytes[..len]);
                }
                let (bytes, len) = far_branch_bytes(size, temp, rel).map_err(super::asm_error)?;
                return out.write(&bytes[..len]);
            }
        };
        let insn = insn.map_err(super::asm_error)?;
        // `adr` and `ldr` (literal) are one halfword: the sink's halfword path.
        if insn.len() == 2 {
            return out.write_halfword(insn.halfword());
        }
        out.write(insn.as_bytes())
    }
}

/// `LDR Rt, [PC, #imm8 * 4]` with Rt and imm8 zero.
const LDR_PC: u16 = 0x4800;

/// The sizes of far-branch placeholders (see `branch_to_label`).
const FAR_SIZES: [u8; 4] = [10, 12, 16, 18];

/// The register-based far branch of `size` bytes at a point `rel` bytes before its target,
/// as bytes (the first `len`), from constant halfwords: no `Code` buffer to clear, no encoder
/// calls. `temp` = ip selects the variant that borrows r0 (no free low register for `ldr`);
/// any other register must be low (else the encoder's error for `ldr`).
#[cfg_attr(target_os = "none", inline(never))]
fn far_branch_bytes(size: u8, temp: Reg, rel: i64) -> Result<([u8; 18], usize), asm::AsmError> {
    const NOP: u16 = asm::nop().halfword();
    // Each variant's halfwords, all of them (a fixed count: stores, no loop over the length),
    // then the literal over the ones past the `n`th; the bytes past `end` are not part of the
    // sequence.
    let mut bytes = [0u8; 18];
    let (n, literal) = if temp == IP_REG {
        // push {r0}; ldr r0, [pc, #8]; mov ip, r0; pop {r0}; add ip, pc; bx ip; (nop).
        // `add ip, pc` is at +8 and reads pc as +12; bit 0 selects Thumb.
        put_halfwords(
            &mut bytes,
            &[0xB401, 0x4802, 0x4684, 0xBC01, 0x44FC, 0x4760, NOP],
        );
        (if size == 18 { 7 } else { 6 }, rel - 11)
    } else if temp.0 < 8 {
        let t = u16::from(temp.0);
        // ldr temp, [pc, #4]; add temp, pc; bx temp; (nop).
        // `add temp, pc` is at +2 and reads pc as +6; bit 0 selects Thumb.
        put_halfwords(
            &mut bytes,
            &[0x4801 | t << 8, 0x4478 | t, 0x4700 | t << 3, NOP],
        );
        (if size == 12 { 4 } else { 3 }, rel - 5)
    } else {
        return Err(asm::ldr_pc(temp, 4)
            .err()
            .unwrap_or(asm::AsmError::CodeFull));
    };
    let end = 2 * n + 4;
    // A 4-byte chunk: a store, not a copy of a slice of unknown length.
    let literal_bytes = bytes
        .get_mut(2 * n..)
        .and_then(|rest| rest.first_chunk_mut::<4>())
        .ok_or(asm::AsmError::CodeFull)?;
    // A distance the 32-bit literal cannot say is refused, not wrapped.
    if i64::from(literal as i32) != literal {
        return Err(asm::AsmError::offset(rel));
    }
    *literal_bytes = (literal as u32).to_le_bytes();
    Ok((bytes, end))
}

/// `halfwords`, little-endian, at the start of `bytes`.
#[inline(always)]
fn put_halfwords<const N: usize>(bytes: &mut [u8; 18], halfwords: &[u16; N]) {
    let (chunks, _) = bytes.as_chunks_mut::<2>();
    for (dst, halfword) in chunks.iter_mut().zip(halfwords) {
        *dst = halfword.to_le_bytes();
    }
}

/// The register-based far branch of `size` bytes, assembled instruction by instruction (the
/// oracle of [`far_branch_bytes`]'s test). at a point `rel` bytes before its target.
/// `temp` = ip selects the variant that borrows r0 (no free low register for `ldr`).
#[cfg(test)]
fn far_branch_sequence(code: &mut Code, size: u8, temp: Reg, rel: i64) {
    if temp == IP_REG {
        // `add ip, pc` is at +8 and reads pc as +12; bit 0 selects Thumb.
        code.push(asm::push(&[R0]));
        code.push(asm::ldr_pc(R0, 8));
        code.push(asm::mov(IP_REG, R0));
        code.push(asm::pop(&[R0]));
        code.push(asm::add_hi(IP_REG, PC));
        code.push(asm::bx(IP_REG));
        if size == 18 {
            code.push(asm::nop());
        }
        match i32::try_from(rel - 11) {
            Ok(literal) => code.extend(&literal.to_le_bytes()),
            Err(_) => code.push(Err(asm::AsmError::offset(rel))),
        };
    } else {
        // `add temp, pc` is at +2 and reads pc as +6; bit 0 selects Thumb.
        code.push(asm::ldr_pc(temp, 4));
        code.push(asm::add_hi(temp, PC));
        code.push(asm::bx(temp));
        if size == 12 {
            code.push(asm::nop());
        }
        match i32::try_from(rel - 5) {
            Ok(literal) => code.extend(&literal.to_le_bytes()),
            Err(_) => code.push(Err(asm::AsmError::offset(rel))),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{backend, hex, CTX, JIT_STATE};
    use crate::compile::backend::{Arg, Backend, Label, Val};
    use crate::isa::armv6m::names::*;

    #[test]
    fn label_uses_pack_into_a_byte_and_back() {
        use super::{BranchKind, LabelUse, FAR_SIZES};
        let mut bits = std::collections::BTreeSet::new();
        for r in 0..=255 {
            let r = crate::compile::backend::Reg(r);
            let mut kinds = std::vec![BranchKind::Adr(r), BranchKind::Literal(r)];
            kinds.extend([10, 12, 14, 16, 18, 255].map(|size| BranchKind::Far { size, temp: r }));
            for kind in kinds {
                let b = kind.to_bits();
                assert_eq!(BranchKind::from_bits(b), Some(kind), "{kind:?}");
                assert!(bits.insert(b), "{kind:?}");
                // What the backend makes packs into a byte.
                let made = match kind {
                    BranchKind::Far { size, temp } => FAR_SIZES.contains(&size) && temp.0 < 16,
                    _ => r.0 < 16,
                };
                if made {
                    assert!(b < 256, "{kind:?}");
                }
            }
        }
        assert_eq!(BranchKind::BW.to_bits(), 0xC0);
        assert_eq!(BranchKind::from_bits(0xC0), Some(BranchKind::BW));
        for b in [0xC1, 0xFF, 0x100, 0x300_0000] {
            assert_eq!(BranchKind::from_bits(b), None);
        }
    }

    #[test]
    fn far_branch_bytes_are_the_assembled_sequence() {
        use super::{far_branch_bytes, far_branch_sequence, IP_REG};
        use crate::compile::backend::Reg;
        use crate::isa::armv6m::asm::Code;
        for temp in (0..9).map(Reg).chain([IP_REG]) {
            for size in [10, 12, 16, 18] {
                for rel in [
                    -100_000i64,
                    -2046,
                    2052,
                    4096,
                    1 << 20,
                    i64::from(i32::MIN),
                    1 << 31,
                ] {
                    let mut code = Code::new();
                    far_branch_sequence(&mut code, size, temp, rel);
                    let got = far_branch_bytes(size, temp, rel);
                    let got = got.as_ref().map(|(bytes, len)| &bytes[..*len]);
                    assert_eq!(got.map_err(|e| *e), code.result(), "{temp:?} {size} {rel}");
                }
            }
        }
    }

    #[test]
    fn quick_far_branch_patches_write_what_patch_writes() {
        // `patch`, with its quick path for near targets of 10- and 12-byte far branches,
        // against `patch_any`, over the near reach, past it both ways and at odd distances.
        use super::{BranchKind, LabelUse, Placeholder};
        use crate::stream::{CodeSink, VecSink};
        let at = 3000usize;
        for size in [10u8, 12, 16] {
            for temp in [R4, R7] {
                let kind = BranchKind::Far { size, temp };
                let mut near = 0;
                for target in (at - 2100..at + 2100).chain([0, 1, at + (1 << 20)]) {
                    let mut sinks = [VecSink::new(), VecSink::new()];
                    let [quick, any] = &mut sinks;
                    quick.append(&[0xFF; 6000]);
                    any.append(&[0xFF; 6000]);
                    let len = usize::from(size);
                    let got = kind.patch(target, Placeholder::for_test(quick, at, len));
                    let want = kind.patch_any(target, Placeholder::for_test(any, at, len));
                    assert_eq!(got, want, "{kind:?} to {target}");
                    assert_eq!(quick.as_bytes(), any.as_bytes(), "{kind:?} to {target}");
                    // A near `b`, then nops.
                    if got.is_ok() && quick.as_bytes()[at + 1] & 0xF8 == 0xE0 {
                        near += 1;
                    }
                }
                // Every even target in reach (-2044..=2050) is a near `b`.
                assert_eq!(near, 2048, "{kind:?}");
            }
        }
    }

    #[test]
    fn literal_patches_encode_as_the_encoder_does() {
        // The literal fast path against `asm::ldr_pc`, over its reach and past it.
        use super::{asm, BranchKind, LabelUse, Placeholder};
        use crate::compile::backend::Reg;
        use crate::stream::{CodeSink, VecSink};
        for r in 0..9u8 {
            for at in (0..16usize).step_by(2) {
                for target in (at..at + 1040).step_by(2) {
                    let kind = BranchKind::Literal(Reg(r));
                    let mut sink = VecSink::new();
                    sink.append(&[0xFF; 1100]);
                    let out = Placeholder::for_test(&mut sink, at, 2);
                    let got = kind.patch(target, out);
                    let ldr_pc = (at & !3) + 4;
                    match asm::ldr_pc(Reg(r), target as i64 - ldr_pc as i64) {
                        Ok(insn) => {
                            assert_eq!(got, Ok(()));
                            assert_eq!(&sink.as_bytes()[at..at + 2], insn.as_bytes());
                        }
                        Err(_) => assert!(got.is_err(), "r{r} at {at} to {target}"),
                    }
                }
            }
        }
    }

    #[test]
    fn label_uses_patch_exactly_their_range() {
        // Every kind the backend makes, at each alignment, over each kind's bounds and past
        // them: `patch` succeeds exactly where `in_range` says (the buffer asserts it in test
        // builds).
        use super::{BranchKind, IP_REG};
        use crate::compile::backend::Reg;
        use crate::isa::buffer::check_label_use_contract;
        let mut kinds = alloc::vec![BranchKind::BW];
        for r in 0..9u8 {
            kinds.extend([BranchKind::Adr(Reg(r)), BranchKind::Literal(Reg(r))]);
        }
        for temp in [Reg(0), Reg(3), Reg(7)] {
            kinds.extend([10, 12].map(|size| BranchKind::Far { size, temp }));
        }
        kinds.extend([16, 18].map(|size| BranchKind::Far { size, temp: IP_REG }));
        let mut rels: alloc::vec::Vec<i64> =
            (-40..40).chain(1000..1030).chain(2040..2056).collect();
        for bound in [2048i64, 16_777_216, 1 << 31, 1 << 32] {
            for d in -12..=12 {
                rels.extend([bound + d, -bound + d]);
            }
        }
        check_label_use_contract(&kinds, &[0, 2, 4, 6, 1022, 4094], &rels);
    }

    #[test]
    fn jump_table_entries_point_at_labels() {
        let mut b = backend(1);
        b.jump_table(3);
        b.call_primitive(2, &[CTX, JIT_STATE]);
        b.add_label(Label::Num(2));
        b.add_label(Label::Num(0));
        b.add_label_at(Label::Num(3), 0x1000);
        assert_eq!(
            hex(&b),
            concat!(
                "014BF2B59F44C04635000000014BF2B59F44C046FFFFFFFF014BF2B59F44C0461D000000014BF2B5",
                "9F44C046D50F0000976805B40299B847074605BC"
            )
        );
    }

    #[test]
    fn thumb2_jump_table_entries_are_push_and_b_w() {
        let mut b = backend(5);
        b.jump_table(3);
        b.call_primitive(2, &[CTX, JIT_STATE]);
        b.add_label(Label::Num(2));
        b.add_label_at(Label::Num(1), 0x10_0000);
        assert_eq!(
            hex(&b),
            "F2B5FFFFFFFFF2B5FFF0FABFF2B500F009B8F2B5FFFFFFFF976805B40299B847074605BC"
        );
    }

    #[test]
    fn forward_jump_patched_to_near_branch_and_nops() {
        let mut b = backend(1);
        b.jump_table(8);
        b.jump_to_label(4);
        b.shift_left(Arg::keep(Val::Reg(R3)), 2);
        b.add_label(Label::Num(4));
        b.jump_to_label(4);
        assert_eq!(
            hex(&b),
            concat!(
                "014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B5",
                "9F44C046FFFFFFFF014BF2B59F44C04645000000014BF2B59F44C046FFFFFFFF014BF2B59F44C046",
                "FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF06E0C046C046C046C046C046",
                "9B00C046FEE7"
            )
        );
    }

    #[test]
    fn forward_jump_patched_to_far_sequence() {
        let mut b = backend(1);
        b.jump_table(8);
        b.shift_left(Arg::keep(Val::Reg(R3)), 2);
        b.jump_to_label(4);
        b.jump_to_label(4);
        b.add_label_at(Label::Num(4), 0x2000);
        assert_eq!(
            hex(&b),
            concat!(
                "014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B5",
                "9F44C046FFFFFFFF014BF2B59F44C046C91F0000014BF2B59F44C046FFFFFFFF014BF2B59F44C046",
                "FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF9B00014F7F4438478D1F0000",
                "014F7F443847C046831F0000"
            )
        );
    }

    #[test]
    fn far_jump_without_free_register_goes_through_ip() {
        let mut b = backend(1);
        b.jump_table(8);
        b.available_regs = 0;
        b.jump_to_label(4);
        b.shift_left(Arg::keep(Val::Reg(R3)), 2);
        b.jump_to_label(4);
        b.add_label_at(Label::Num(4), 0x2000);
        b.jump_to_label(7);
        b.add_label(Label::Num(7));
        assert_eq!(
            hex(&b),
            concat!(
                "014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B5",
                "9F44C046FFFFFFFF014BF2B59F44C046C91F0000014BF2B59F44C046FFFFFFFF014BF2B59F44C046",
                "FFFFFFFF014BF2B59F44C04645000000014BF2B59F44C046FFFFFFFF01B40248844601BCFC446047",
                "891F00009B0001B40248844601BCFC446047C046771F000006E0C046C046C046C046C046C046C046"
            )
        );
    }

    #[test]
    fn backward_and_offset_jumps() {
        let mut b = backend(1);
        b.jump_table(8);
        b.add_label_at(Label::Num(1), 0x3000);
        b.jump_to_label(1);
        b.jump_to_offset(0x40);
        b.jump_to_offset(0x5000);
        assert_eq!(
            hex(&b),
            concat!(
                "014BF2B59F44C046FFFFFFFF014BF2B59F44C046ED2F0000014BF2B59F44C046FFFFFFFF014BF2B5",
                "9F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B59F44C046",
                "FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF014F7F443847C0468F2F0000",
                "E2E7014F7F443847814F0000"
            )
        );
    }

    #[test]
    fn thumb2_jumps_use_b_w() {
        let mut b = backend(5);
        b.jump_table(8);
        b.jump_to_label(4);
        b.add_label_at(Label::Num(1), 0x3000);
        b.jump_to_label(1);
        b.add_label(Label::Num(4));
        b.jump_to_offset(2);
        assert_eq!(
            hex(&b),
            concat!(
                "F2B5FFFFFFFFF2B502F0FABFF2B5FFFFFFFFF2B5FFFFFFFFF2B500F011B8F2B5FFFFFFFFF2B5FFFF",
                "FFFFF2B5FFFFFFFFF2B5FFFFFFFF00F003B802F0E1BFC046FFF7DFBF"
            )
        );
    }

    #[test]
    fn jump_to_continuation_returns_through_epilogue() {
        let mut b = backend(1);
        let r = b.call_primitive(1, &[CTX, JIT_STATE]);
        b.jump_to_continuation(Arg::free(Val::Reg(r)));
        assert_eq!(
            hex(&b),
            "576805B40299B847074605BC00A6BF190F267642BF19059E0597B646F2BD"
        );
        assert!(b.all_native_free());
    }

    #[test]
    fn continuation_base_offset_from_unaligned_adr_and_thumb2() {
        let mut b = backend(1);
        b.jump_table(1);
        let r = b.call_primitive(1, &[CTX, JIT_STATE]);
        b.shift_left(Arg::keep(Val::Reg(R3)), 1);
        b.jump_to_continuation(Arg::free(Val::Reg(r)));
        assert_eq!(
            hex(&b),
            concat!(
                "014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF576805B40299B847074605BC",
                "5B0000A6BF1927267642BF19059E0597B646F2BD"
            )
        );

        let mut b = backend(5);
        b.jump_table(1);
        let r = b.call_primitive(1, &[CTX, JIT_STATE]);
        b.jump_to_continuation(Arg::free(Val::Reg(r)));
        assert_eq!(
            hex(&b),
            concat!(
                "F2B5FFFFFFFFF2B5FFFFFFFF576805B40299B847074605BC",
                "00A6BF194FF6E576CFF6FF76BF19059E0597B646F2BD"
            )
        );
    }

    #[test]
    fn return_if_not_equal_to_ctx_frees_register() {
        let mut b = backend(1);
        let r = b.call_primitive(1, &[CTX, JIT_STATE]);
        b.return_if_not_equal_to_ctx(Arg::free(Val::Reg(r)));
        b.call_primitive(1, &[CTX, JIT_STATE]);
        b.call_primitive(1, &[CTX, JIT_STATE]);
        b.return_if_not_equal_to_ctx(Arg::free(Val::Reg(R0)));
        assert_eq!(
            hex(&b),
            concat!(
                "576805B40299B847074605BC874201D03846F2BD576805B40299B847074605BC5668C5B40499B047",
                "0546C5BC804200D0F2BD"
            )
        );
    }

    #[test]
    fn continuation_offsets_patch_adr_from_word_and_halfword_offsets() {
        let mut b = backend(1);
        b.jump_table(2);
        b.shift_left(Arg::keep(Val::Reg(R3)), 2);
        // adr at a half-word-aligned offset, then at a word-aligned one.
        let first = b.set_continuation_to_offset();
        b.add_label(first);
        let second = b.set_continuation_to_offset();
        b.add_label(second);
        b.update_branches();
        assert_eq!(
            hex(&b),
            concat!(
                "014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF014BF2B59F44C046FFFFFFFF",
                "9B0002A70137009E7760C04601A70137009E7760"
            )
        );
    }

    #[test]
    fn labels_table_order_is_by_offset_newest_first() {
        let mut b = backend(1);
        b.jump_table(4);
        b.add_label_at(Label::Num(3), 0x80);
        b.add_label_at(Label::Num(1), 0x60);
        b.add_label_at(Label::Num(4), 0x80);
        b.add_label_at(Label::Num(2), 0x60);
        assert_eq!(
            b.buf.take_sorted_labels(),
            [(2, 0x60), (1, 0x60), (4, 0x80), (3, 0x80)]
        );
    }

    #[test]
    fn labels_table_ties_newest_first_when_placed_in_order() {
        let mut b = backend(1);
        b.jump_table(5);
        b.add_label_at(Label::Num(1), 0x60);
        b.add_label_at(Label::Num(2), 0x60);
        b.add_label_at(Label::Num(5), 0x70);
        b.add_label_at(Label::Num(3), 0x80);
        b.add_label_at(Label::Num(4), 0x80);
        assert_eq!(
            b.buf.take_sorted_labels(),
            [(2, 0x60), (1, 0x60), (5, 0x70), (4, 0x80), (3, 0x80)]
        );
    }

    #[test]
    fn placed_local_labels_are_reused() {
        let mut b = backend(1);
        let first = b.buf.new_local_label();
        let second = b.buf.new_local_label();
        b.add_label(first);
        // Placing again must not free the number twice.
        b.add_label_at(first, 0);
        assert_eq!(b.buf.new_local_label(), first);
        assert_ne!(b.buf.new_local_label(), second);
    }

    #[test]
    fn undefined_label_is_an_error_not_a_panic() {
        let mut b = backend(1);
        b.jump_table(2);
        b.jump_to_label(2);
        b.update_branches();
        assert!(b.error().is_some());
    }
}

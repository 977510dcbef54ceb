//! Conditional blocks: test a condition, branch over a block when it does not hold.
//!
//! The test ends with a conditional-branch placeholder (0xFFFF) that is patched once the block
//! is emitted and its length known. Register allocation after the block is the union of what
//! the paths left allocated; register contents are kept only where all paths agree.

use alloc::vec::Vec;

use super::asm::{self, Cc};
use super::names::*;
use super::{first_avail, Armv6m, AVAILABLE_REGS_MASK};
use crate::compile::backend::{Arg, BackendError, Cast, CmpOp, Cond, Reg, Val};
use crate::stream::CodeSink;

/// Placeholder for a 16-bit branch patched later.
const BRANCH_PLACEHOLDER: [u8; 2] = [0xFF, 0xFF];

/// An open conditional block: the branch to patch when it closes, and the allocation and
/// register contents to merge with.
struct IfOpen {
    branch_at: usize,
    cc: Cc,
    used: u16,
    avail: u16,
    regs: super::Regs,
}

/// An open `if_block_and`: one branch to patch per test.
struct IfAndOpen {
    branches: Vec<(usize, Cc)>,
    used: u16,
    regs: super::Regs,
}

/// A mask of the low `n` bits that can be tested by shifting everything else out.
#[inline]
fn low_bits_mask_width(mask: i64) -> Option<i64> {
    match mask {
        0x3 => Some(2),
        0x7 => Some(3),
        0xF => Some(4),
        0x3F => Some(6),
        _ => None,
    }
}

/// The register of a condition operand.
#[inline]
fn operand_reg(arg: &Arg) -> Option<Reg> {
    match arg.val {
        Val::Reg(r) => Some(r),
        _ => None,
    }
}

impl<S: CodeSink> Armv6m<S> {
    /// Run `body` only when `cond` holds.
    pub(super) fn if_block(&mut self, cond: Cond, body: impl FnOnce(&mut Self)) {
        let open = self.if_open(cond);
        body(self);
        self.if_close(&open);
    }

    /// The test of an `if_block` and the state after it. Out of line on the device, so that each
    /// instance of `if_block` (one per closure) does not carry a copy; inlined on the host, where
    /// a call per block cost 3.8% more instructions (callgrind, the compile bench).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline(never))]
    fn if_open(&mut self, cond: Cond) -> IfOpen {
        let start = self.cur_offset();
        let (cc, delta) = self.if_block_cond(cond);
        IfOpen {
            branch_at: start + delta,
            cc,
            used: self.used_regs,
            avail: self.available_regs,
            regs: self.regs,
        }
    }

    /// Patch an `if_block`'s branch to skip to here, and merge the allocation and contents.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline(never))]
    fn if_close(&mut self, open: &IfOpen) {
        let rel = self.cur_offset() as i64 - open.branch_at as i64;
        // A u16 fast path (see `put_ldr`); `bcc` + `patch_insn` for the rest (errors).
        match asm::bcc_low(open.cc, rel) {
            Some(h) => self.buf.replace(open.branch_at, &h.to_le_bytes()),
            None => self.patch_insn(open.branch_at, asm::bcc(open.cc, rel)),
        }
        self.merge_used_regs(open.used);
        self.regs.merge_from(&open.regs);
    }

    /// Run `body` only when every condition holds (each failing test skips the block).
    pub(super) fn if_block_and(&mut self, conds: &[Cond], body: impl FnOnce(&mut Self)) {
        let Some(open) = self.if_and_open(conds) else {
            return;
        };
        body(self);
        self.if_and_close(open);
    }

    /// The tests of an `if_block_and` and the state after them (`None`: the branch list could
    /// not be allocated, the failure is recorded and there is no block). Out of line on the
    /// device, as `if_open`.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline(never))]
    fn if_and_open(&mut self, conds: &[Cond]) -> Option<IfAndOpen> {
        let mut branches: Vec<(usize, Cc)> =
            match crate::mem::try_with_capacity(conds.len(), "if-block branches") {
                Ok(v) => v,
                Err(e) => {
                    self.fail(e.into());
                    return None;
                }
            };
        for cond in conds {
            let start = self.cur_offset();
            let (cc, delta) = self.if_block_cond(*cond);
            branches.push((start + delta, cc));
        }
        Some(IfAndOpen {
            branches,
            used: self.used_regs,
            regs: self.regs,
        })
    }

    /// Patch an `if_block_and`'s branches to skip to here, and merge.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline(never))]
    fn if_and_close(&mut self, open: IfAndOpen) {
        let end = self.cur_offset() as i64;
        for (branch_at, cc) in open.branches {
            self.patch_insn(branch_at, asm::bcc(cc, end - branch_at as i64));
        }
        self.merge_used_regs(open.used);
        self.regs.merge_from(&open.regs);
    }

    /// Run `then_body` when `cond` holds, else `else_body`.
    pub(super) fn if_else_block(
        &mut self,
        cond: Cond,
        then_body: impl FnOnce(&mut Self),
        else_body: impl FnOnce(&mut Self),
    ) {
        let mut open = self.if_open(cond);
        then_body(self);
        self.if_else(&mut open);
        else_body(self);
        self.if_else_close(&open);
    }

    /// Between an `if_else_block`'s bodies: jump over the else block, patch the test's branch to
    /// here, and start the else block from the state right after the test; `open` becomes the
    /// then block's state and the jump to patch.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline(never))]
    fn if_else(&mut self, open: &mut IfOpen) {
        let then_used = self.used_regs;
        // Jump over the else block (patched below).
        let skip_else_at = self.cur_offset();
        self.emit(&BRANCH_PLACEHOLDER);
        let rel = self.cur_offset() as i64 - open.branch_at as i64;
        self.patch_insn(open.branch_at, asm::bcc(open.cc, rel));
        // The else block starts from the state right after the test.
        self.used_regs = open.used;
        self.available_regs = open.avail;
        // The then block's contents go into `open`, the test's come back: one swap instead of
        // three 152-byte copies (neither the jump nor the patch above touches the tracker).
        core::mem::swap(&mut self.regs, &mut open.regs);
        open.branch_at = skip_else_at;
        open.used = then_used;
    }

    /// After an `if_else_block`'s else body: patch the jump over it, merge with the then block.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline(never))]
    fn if_else_close(&mut self, then: &IfOpen) {
        let rel = self.cur_offset() as i64 - then.branch_at as i64;
        self.patch_insn(then.branch_at, asm::b(rel));
        self.merge_used_regs(then.used);
        self.regs.merge_from(&then.regs);
    }

    /// Emit the test of `cond` followed by a branch placeholder. Returns the condition under
    /// which to skip the block, and the placeholder's offset from where the test started.
    /// Inlined into `if_open`/`if_and_open` on the host, where the call per block (with its
    /// copy of the condition) cost 0.42 M instructions for the 232 beams (callgrind, no LTO:
    /// 543.52 M -> 543.10 M); the condition's arms stay out of line.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn if_block_cond(&mut self, cond: Cond) -> (Cc, usize) {
        match cond {
            Cond::Cmp {
                cast: Cast::Bool,
                lhs,
                op,
                ..
            } => self.cond_bool(lhs, op),
            Cond::Cmp { cast, lhs, op, rhs } => self.cond_cmp(cast, lhs, op, rhs),
            Cond::Mask {
                lhs,
                mask,
                op: CmpOp::Ne,
                value,
            } => self.cond_mask(lhs, mask, value),
            Cond::Mask { .. } => self.cond_unsupported(),
        }
    }

    fn cond_unsupported(&mut self) -> (Cc, usize) {
        self.fail(BackendError::Unsupported("if_block condition"));
        (Cc::Al, 0)
    }

    /// `reg == false` / `reg != false` on a C bool: test bit 0 by shifting it into the sign.
    /// Inlined on the host, as `cond_cmp`.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn cond_bool(&mut self, lhs: Arg, op: CmpOp) -> (Cc, usize) {
        let (Some(reg), Some(temp), CmpOp::Eq | CmpOp::Ne) =
            (operand_reg(&lhs), first_avail(self.available_regs), op)
        else {
            return self.cond_unsupported();
        };
        let skip_if = if op == CmpOp::Eq { Cc::Mi } else { Cc::Pl };
        let len = self.put_test(&[asm::lsls_imm(temp, reg, 31)]);
        self.free_cond_operand(lhs);
        self.regs.invalidate_reg(temp);
        (skip_if, len)
    }

    /// `lhs < rhs`, `lhs == rhs`, `lhs != rhs` on words (most conditions). Inlined on the
    /// host, into `if_block_cond` and so into `if_open` (out of line it cost 4.2 M
    /// instructions for the 232 beams: its call, the operands' copies, a second dispatch).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn cond_cmp(&mut self, cast: Cast, lhs: Arg, op: CmpOp, rhs: Arg) -> (Cc, usize) {
        let have_temp = self.available_regs != 0;
        match (op, lhs.val, rhs.val) {
            // `imm < reg`: skip when reg <= imm.
            (CmpOp::Lt, Val::Imm(v), Val::Reg(reg)) if cast == Cast::Word => {
                if matches!(v, 0..=255) {
                    let len = self.put_test(&[asm::cmp_imm(reg, v)]);
                    self.free_cond_operand(rhs);
                    (Cc::Le, len)
                } else if have_temp {
                    self.cmp_with_temp(reg, v, rhs, Cc::Le)
                } else {
                    self.cond_unsupported()
                }
            }
            (CmpOp::Lt, Val::Reg(reg), Val::Imm(0)) if cast == Cast::Word => {
                self.cmp_imm_cond(reg, 0, lhs, Cc::Pl)
            }
            (CmpOp::Lt, Val::Reg(reg), Val::Imm(v)) if cast == Cast::Word => {
                if matches!(v, 0..=255) {
                    self.cmp_imm_cond(reg, v, lhs, Cc::Ge)
                } else if have_temp {
                    self.cmp_with_temp(reg, v, lhs, Cc::Ge)
                } else {
                    self.cond_unsupported()
                }
            }
            (CmpOp::Lt, Val::Reg(reg), Val::Reg(other)) if cast == Cast::Word && !rhs.free => {
                let len = self.put_test(&[asm::cmp_reg(reg, other)]);
                self.free_cond_operand(lhs);
                (Cc::Ge, len)
            }
            (CmpOp::Eq, Val::Reg(reg), Val::Imm(v)) if matches!(v, 0..=255) => {
                self.cmp_imm_cond(reg, v, lhs, Cc::Ne)
            }
            (CmpOp::Ne, Val::Reg(reg), Val::Imm(v)) if matches!(v, 0..=255) => {
                self.cmp_imm_cond(reg, v, lhs, Cc::Eq)
            }
            (CmpOp::Ne, Val::Reg(reg), Val::Reg(other)) if cast == Cast::Word && !rhs.free => {
                let len = self.put_test(&[asm::cmp_reg(reg, other)]);
                self.free_cond_operand(lhs);
                (Cc::Eq, len)
            }
            (CmpOp::Eq, Val::Reg(a), Val::Reg(b)) if cast == Cast::Word && lhs.free && rhs.free => {
                let len = self.put_test(&[asm::cmp_reg(a, b)]);
                self.free_cond_operand(lhs);
                self.free_cond_operand(rhs);
                (Cc::Ne, len)
            }
            (CmpOp::Eq, Val::Reg(reg), Val::Imm(v)) if have_temp => {
                self.cmp_with_temp(reg, v, lhs, Cc::Ne)
            }
            (CmpOp::Ne, Val::Reg(reg), Val::Imm(v)) if have_temp => {
                self.cmp_with_temp(reg, v, lhs, Cc::Eq)
            }
            _ => self.cond_unsupported(),
        }
    }

    /// `cmp reg, #imm` + placeholder, freeing `operand` if asked. Inlined on the host (a call
    /// with its own prologue per test cost a fifth of what the test emits).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn cmp_imm_cond(&mut self, reg: Reg, imm: i64, operand: Arg, skip_if: Cc) -> (Cc, usize) {
        let len = self.put_test(&[asm::cmp_imm(reg, imm)]);
        self.free_cond_operand(operand);
        (skip_if, len)
    }

    /// Load `imm` into a scratch register and `cmp reg, scratch` + placeholder.
    fn cmp_with_temp(&mut self, reg: Reg, imm: i64, operand: Arg, skip_if: Cc) -> (Cc, usize) {
        let temp = self.avail(self.available_regs);
        let start = self.cur_offset();
        self.mov_immediate(temp, imm);
        let loaded = self.cur_offset() - start;
        let len = self.put_test(&[asm::cmp_reg(reg, temp)]);
        self.free_cond_operand(operand);
        self.regs.invalidate_reg(temp);
        (skip_if, loaded + len)
    }

    /// `(lhs & mask) != value`. Inlined on the host, as `cond_cmp`.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn cond_mask(&mut self, lhs: Arg, mask: i64, value: i64) -> (Cc, usize) {
        let Some(reg) = operand_reg(&lhs) else {
            return self.cond_unsupported();
        };
        let temp = first_avail(self.available_regs);
        match (temp, value) {
            // Any bit of mask set: skip when none is.
            (Some(temp), 0) => {
                let len = match low_bits_mask_width(mask) {
                    Some(width) => self.put_test(&[asm::lsls_imm(temp, reg, 32 - width)]),
                    None => self.put_test(&[asm::movs_imm(temp, mask), asm::tst(reg, temp)]),
                };
                self.free_cond_operand(lhs);
                self.regs.invalidate_reg(temp);
                (Cc::Eq, len)
            }
            // Low nibble not all ones (not a small integer): ~reg << 28 is zero iff it is.
            (Some(temp), 0xF) if mask == 0xF && !lhs.free => {
                let len = self.put_test(&[asm::mvns(temp, reg), asm::lsls_imm(temp, temp, 28)]);
                self.regs.invalidate_reg(temp);
                (Cc::Eq, len)
            }
            (_, 0xF) if mask == 0xF && lhs.free => {
                let len = self.put_test(&[asm::mvns(reg, reg), asm::lsls_imm(reg, reg, 28)]);
                self.regs.invalidate_reg(reg);
                self.free_cond_operand(lhs);
                (Cc::Eq, len)
            }
            (Some(temp), _) if !lhs.free => {
                let start = self.cur_offset();
                self.put(asm::mov(temp, reg));
                let avail = self.available_regs;
                self.available_regs = avail & !temp.bit();
                self.and_(Arg::free(Val::Reg(temp)), Val::Imm(mask));
                self.put(asm::cmp_imm(temp, value));
                let len = self.cur_offset() - start;
                self.emit(&BRANCH_PLACEHOLDER);
                self.regs.invalidate_reg(temp);
                self.available_regs |= temp.bit();
                (Cc::Eq, len)
            }
            (_, _) if lhs.free => {
                let start = self.cur_offset();
                self.and_(lhs, Val::Imm(mask));
                self.put(asm::cmp_imm(reg, value));
                let len = self.cur_offset() - start;
                self.emit(&BRANCH_PLACEHOLDER);
                self.free_cond_operand(lhs);
                (Cc::Eq, len)
            }
            _ => self.cond_unsupported(),
        }
    }

    /// Emit a test sequence followed by the branch placeholder; returns the test's length.
    /// Inlined on the host, where each caller's one or two instructions then fold to constants.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn put_test(&mut self, test: &[Result<asm::Insn, asm::AsmError>]) -> usize {
        // The usual test, one 16-bit instruction, and the placeholder in one append: one
        // capacity check for both.
        if let [Ok(insn)] = test {
            if insn.len() == 2 {
                let [lo, hi] = insn.halfword().to_le_bytes();
                let [p0, p1] = BRANCH_PLACEHOLDER;
                self.emit(&[lo, hi, p0, p1]);
                return 2;
            }
        }
        // Instruction by instruction (no staging buffer): on an encoding error the module fails
        // and what was emitted is dropped.
        let mut len = 0;
        for insn in test {
            if let Ok(i) = insn {
                len += i.len();
            }
            self.put(*insn);
        }
        self.emit(&BRANCH_PLACEHOLDER);
        len
    }

    /// A `{free, Reg}` operand is released once tested.
    fn free_cond_operand(&mut self, operand: Arg) {
        if let (true, Val::Reg(r)) = (operand.free, operand.val) {
            self.release_reg(r);
        }
    }

    /// After a conditional block, registers allocated on any path stay allocated.
    fn merge_used_regs(&mut self, other_used: u16) {
        self.used_regs |= other_used;
        self.available_regs = AVAILABLE_REGS_MASK & !self.used_regs;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{backend, hex, CTX, JIT_STATE};
    use crate::compile::backend::{Arg, Cast, CmpOp, Cond, Reg, Val};
    use crate::isa::armv6m::names::*;
    use alloc::format;
    use alloc::vec::Vec;

    /// Emitted by the helper call every case starts with (result in r7).
    const PROLOGUE: &str = "576805B40299B847074605BC";

    fn keep(r: Reg) -> Arg {
        Arg::keep(Val::Reg(r))
    }
    fn free(r: Reg) -> Arg {
        Arg::free(Val::Reg(r))
    }
    fn imm(v: i64) -> Arg {
        Arg::keep(Val::Imm(v))
    }
    fn cmp(cast: Cast, lhs: Arg, op: CmpOp, rhs: Arg) -> Cond {
        Cond::Cmp { cast, lhs, op, rhs }
    }
    fn mask(lhs: Arg, mask: i64, value: i64) -> Cond {
        Cond::Mask {
            lhs,
            mask,
            op: CmpOp::Ne,
            value,
        }
    }
    fn body(b: &mut super::Armv6m<crate::stream::VecSink>) {
        b.shift_left(keep(R3), 2);
    }

    #[test]
    fn every_condition_form() {
        let r = R7;
        let cases: Vec<(Cond, &str)> = alloc::vec![
            (cmp(Cast::Word, imm(5), CmpOp::Lt, keep(r)), "052F00DD9B00"),
            (
                cmp(Cast::Word, imm(1000), CmpOp::Lt, free(r)),
                "FA26B600B74200DD9B00"
            ),
            (cmp(Cast::Word, keep(r), CmpOp::Lt, imm(0)), "002F00D59B00"),
            (cmp(Cast::Word, free(r), CmpOp::Lt, imm(77)), "4D2F00DA9B00"),
            (
                cmp(Cast::Word, keep(r), CmpOp::Lt, imm(0x12345)),
                "FFFFB74200DA9B00"
            ),
            (
                cmp(Cast::Word, keep(r), CmpOp::Lt, keep(R4)),
                "A74200DA9B00"
            ),
            (cmp(Cast::Word, free(r), CmpOp::Eq, imm(0)), "002F00D19B00"),
            (cmp(Cast::Int, keep(r), CmpOp::Eq, imm(9)), "092F00D19B00"),
            (
                cmp(Cast::Word, keep(r), CmpOp::Ne, imm(200)),
                "C82F00D09B00"
            ),
            (
                cmp(Cast::Word, free(r), CmpOp::Ne, keep(R5)),
                "AF4200D09B00"
            ),
            (
                cmp(Cast::Int, keep(r), CmpOp::Ne, imm(-3)),
                "03267642B74200D09B00"
            ),
            (
                cmp(Cast::Word, free(r), CmpOp::Eq, free(R4)),
                "A74200D19B00"
            ),
            (
                cmp(Cast::Word, keep(r), CmpOp::Eq, imm(600)),
                "9626B600B74200D19B00"
            ),
            (cmp(Cast::Bool, free(r), CmpOp::Eq, imm(0)), "FE0700D49B00"),
            (cmp(Cast::Bool, keep(r), CmpOp::Ne, imm(0)), "FE0700D59B00"),
            (mask(keep(r), 0x3F, 0), "BE0600D09B00"),
            (mask(free(r), 0x50, 0), "5026374200D09B00"),
            (mask(keep(r), 0xF, 0xF), "FE43360700D09B00"),
            (mask(free(r), 0xF, 0xF), "FF433F0700D09B00"),
        ];
        for (cond, expected) in cases {
            let mut b = backend(1);
            assert_eq!(b.call_primitive(1, &[CTX, JIT_STATE]), r);
            b.if_block(cond, body);
            assert_eq!(hex(&b), format!("{PROLOGUE}{expected}"), "{cond:?}");
        }
    }

    #[test]
    fn masked_compare_with_other_value_goes_through_and() {
        let cases = [
            (
                mask(keep(R7), 0xFC, 8),
                "3E46FC252E40082E00D09B00D668C5B40499B0470546C5BC",
            ),
            (
                mask(free(R7), 0x3F, 0x14),
                "3F263740142F00D09B00D76805B40299B847074605BC",
            ),
            (
                mask(keep(R7), -4, 0x10),
                "3E460325AE43102E00D09B00D668C5B40499B0470546C5BC",
            ),
        ];
        for (cond, expected) in cases {
            let mut b = backend(1);
            b.call_primitive(1, &[CTX, JIT_STATE]);
            b.if_block(cond, body);
            // The following call shows which registers are still allocated.
            b.call_primitive(3, &[CTX, JIT_STATE]);
            assert_eq!(hex(&b), format!("{PROLOGUE}{expected}"), "{cond:?}");
        }
    }

    #[test]
    fn if_block_and_skips_on_first_failing_test() {
        let mut b = backend(1);
        let r = b.call_primitive(1, &[CTX, JIT_STATE]);
        let conds = [
            cmp(Cast::Word, keep(r), CmpOp::Lt, imm(0)),
            cmp(Cast::Word, keep(r), CmpOp::Ne, imm(300)),
        ];
        b.if_block_and(&conds, body);
        assert_eq!(
            hex(&b),
            "576805B40299B847074605BC002F04D5FF262D36B74200D09B00"
        );
    }

    #[test]
    fn if_else_block_restores_then_merges_allocation() {
        let mut b = backend(1);
        let r = b.call_primitive(1, &[CTX, JIT_STATE]);
        let cond = cmp(Cast::Word, keep(r), CmpOp::Eq, imm(1));
        b.if_else_block(
            cond,
            |b| {
                b.call_primitive(2, &[CTX, JIT_STATE]);
            },
            body,
        );
        assert_eq!(
            hex(&b),
            "576805B40299B847074605BC012F06D19668C5B40499B0470546C5BC00E09B00"
        );

        let mut b = backend(1);
        let r = b.call_primitive(1, &[CTX, JIT_STATE]);
        b.if_else_block(
            cond,
            |b| {
                b.call_primitive(2, &[CTX, JIT_STATE]);
            },
            |b| {
                b.shift_right(keep(r), 1);
            },
        );
        // Registers allocated by either branch stay allocated for the next call.
        b.call_primitive(3, &[CTX, JIT_STATE]);
        assert_eq!(hex(&b), "576805B40299B847074605BC012F06D19668C5B40499B0470546C5BC00E07E08D468F5B40699A0470346F5BC");
    }
}

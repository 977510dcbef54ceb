//! In-place arithmetic and bitwise operations on native registers.
//!
//! Immediates that do not fit an instruction go through a scratch register; when none is free,
//! the bitwise operations borrow r0 (the context) and park it in ip meanwhile.

use super::asm::{self, AsmError, Insn};
use super::{Armv6m, CTX_REG, IP_REG};
use crate::compile::backend::{Arg, BackendError, Reg, Val};
use crate::stream::CodeSink;

use super::names::*;
use crate::abi::term::TERM_PRIMARY_CLEAR_MASK;

/// A three-operand `op rd, rd, rm` or `op rdn, rm` encoder.
type RegOp = fn(Reg, Reg) -> Result<Insn, AsmError>;

#[inline]
fn adds_rr(rd: Reg, rm: Reg) -> Result<Insn, AsmError> {
    asm::adds_reg(rd, rd, rm)
}

#[inline]
fn subs_rr(rd: Reg, rm: Reg) -> Result<Insn, AsmError> {
    asm::subs_reg(rd, rd, rm)
}

impl<S: CodeSink> Armv6m<S> {
    /// The register operand of an arithmetic method (records an error for anything else).
    fn arith_reg(&mut self, arg: Arg) -> Reg {
        match arg.val {
            Val::Reg(r) => r,
            _ => {
                self.fail(BackendError::Unsupported("arithmetic on a non-register"));
                R0
            }
        }
    }

    /// `reg op= imm` through a free scratch register, which is released again. Inlined into
    /// its callers on the host, where `op` is then a known encoder, not an indirect call.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn op_via_temp(&mut self, reg: Reg, imm: i64, op: RegOp) {
        let avail = self.available_regs;
        let temp = self.avail(avail);
        self.available_regs = avail & !temp.bit();
        self.mov_immediate(temp, imm);
        self.put(op(reg, temp));
        self.regs.invalidate_reg(reg);
        self.regs.invalidate_reg(temp);
        self.available_regs = avail;
    }

    /// `reg op= imm` with no free register: r0 is borrowed and restored from ip.
    ///
    /// Fidelity: the reference keeps the literal pool from before the immediate load here, so
    /// a constant that needed the pool is never laid out and its `ldr` stays a 0xFFFF
    /// placeholder. We reproduce that (the output must be byte-identical).
    fn op_via_ctx(&mut self, reg: Reg, imm: i64, op: RegOp) {
        self.put(asm::mov(IP_REG, CTX_REG));
        let mut pool_before = alloc::vec::Vec::new();
        let saved = self.buf.pending_literals();
        if let Err(e) = crate::mem::try_extend(&mut pool_before, saved, "literal pool") {
            self.fail(e.into());
            return;
        }
        self.mov_immediate(CTX_REG, imm);
        self.buf.set_pending_literals(&pool_before);
        self.put(op(reg, CTX_REG));
        self.put(asm::mov(CTX_REG, IP_REG));
        self.regs.invalidate_reg(reg);
    }

    /// `reg &= value`. A freed `reg` is updated in place; a kept one is only supported with the
    /// primary-tag clearing mask, which leaves the result in a new register.
    pub(super) fn and_(&mut self, reg: Arg, value: Val) -> Reg {
        let r = self.arith_reg(reg);
        if !reg.free {
            if value != Val::Imm(TERM_PRIMARY_CLEAR_MASK) {
                self.fail(BackendError::Unsupported("and_ on a kept register"));
                return r;
            }
            let avail = self.available_regs;
            let result = self.avail(avail);
            self.put(asm::lsrs_imm(result, r, 2));
            self.put(asm::lsls_imm(result, result, 2));
            self.regs.invalidate_reg(result);
            self.take_reg(result);
            return result;
        }
        match value {
            Val::Reg(src) => {
                self.put(asm::ands(r, src));
                self.regs.invalidate_reg(r);
            }
            // Keeping the low 24 bits needs no constant.
            Val::Imm(0xFF_FFFF) => {
                self.put(asm::lsls_imm(r, r, 8));
                self.put(asm::lsrs_imm(r, r, 8));
                self.regs.invalidate_reg(r);
            }
            // Small negative masks are cheaper as "clear the complement".
            Val::Imm(v) if matches!(v, -256..0) => {
                if self.available_regs != 0 {
                    self.op_via_temp(r, !v, asm::bics);
                } else {
                    self.op_via_ctx(r, !v, asm::bics);
                }
            }
            Val::Imm(v) => {
                if self.available_regs != 0 {
                    self.op_via_temp(r, v, asm::ands);
                } else {
                    self.op_via_ctx(r, v, asm::ands);
                }
            }
            _ => self.fail(BackendError::Unsupported("and_ operand")),
        }
        r
    }

    /// `reg |= value`.
    pub(super) fn or_(&mut self, reg: Arg, value: Val) -> Reg {
        self.bitwise(reg, value, asm::orrs)
    }

    /// `reg ^= value`.
    pub(super) fn xor_(&mut self, reg: Arg, value: Val) -> Reg {
        self.bitwise(reg, value, asm::eors)
    }

    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn bitwise(&mut self, reg: Arg, value: Val, op: RegOp) -> Reg {
        let r = self.arith_reg(reg);
        match value {
            Val::Reg(src) => {
                self.put(op(r, src));
                self.regs.invalidate_reg(r);
            }
            Val::Imm(v) if self.available_regs != 0 => self.op_via_temp(r, v, op),
            Val::Imm(v) => self.op_via_ctx(r, v, op),
            _ => self.fail(BackendError::Unsupported("bitwise operand")),
        }
        r
    }

    /// `reg += value`.
    pub(super) fn add(&mut self, reg: Arg, value: Val) -> Reg {
        self.add_or_sub(reg, value, asm::adds_imm, adds_rr)
    }

    /// `reg -= value`.
    pub(super) fn sub(&mut self, reg: Arg, value: Val) -> Reg {
        self.add_or_sub(reg, value, asm::subs_imm, subs_rr)
    }

    fn add_or_sub(
        &mut self,
        reg: Arg,
        value: Val,
        op_imm: fn(Reg, Reg, i64) -> Result<Insn, AsmError>,
        op_reg: RegOp,
    ) -> Reg {
        let r = self.arith_reg(reg);
        match value {
            Val::Imm(v) if matches!(v, 0..=255) => {
                self.put(op_imm(r, r, v));
                self.regs.invalidate_reg(r);
            }
            Val::Reg(src) => {
                self.put(op_reg(r, src));
                self.regs.invalidate_reg(r);
            }
            Val::Imm(v) => self.op_via_temp(r, v, op_reg),
            _ => self.fail(BackendError::Unsupported("add/sub operand")),
        }
        r
    }

    /// `reg *= value`, with shifts and shift-and-add forms for small constants.
    pub(super) fn mul(&mut self, reg: Arg, value: Val) -> Reg {
        // Multiplying by one emits nothing whatever the operand: bs_create_bin multiplies an
        // immediate segment size by its unit (1) in place, and ignores the result.
        if value == Val::Imm(1) {
            return match reg.val {
                Val::Reg(r) => r,
                _ => R0,
            };
        }
        let r = self.arith_reg(reg);
        match value {
            Val::Imm(v) => self.mul_imm(r, v),
            Val::Reg(src) => {
                self.put(asm::muls(r, src));
                self.regs.invalidate_reg(r);
            }
            _ => self.fail(BackendError::Unsupported("mul operand")),
        }
        r
    }

    fn mul_imm(&mut self, r: Reg, v: i64) {
        match v {
            1 => {}
            2 => self.shift_in_place(r, 1),
            4 => self.shift_in_place(r, 2),
            8 => self.shift_in_place(r, 3),
            16 => self.shift_in_place(r, 4),
            32 => self.shift_in_place(r, 5),
            64 => self.shift_in_place(r, 6),
            // (r << s) + r and (r << s) - r.
            3 => self.shift_combine(r, 1, asm::adds_reg),
            5 => self.shift_combine(r, 2, asm::adds_reg),
            9 => self.shift_combine(r, 3, asm::adds_reg),
            7 => self.shift_combine(r, 3, asm::subs_reg),
            15 => self.shift_combine(r, 4, asm::subs_reg),
            6 => {
                self.mul_imm(r, 3);
                self.mul_imm(r, 2);
            }
            10 => {
                self.mul_imm(r, 5);
                self.mul_imm(r, 2);
            }
            _ => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                self.available_regs = avail & !temp.bit();
                self.mov_immediate(temp, v);
                self.put(asm::muls(r, temp));
                self.regs.invalidate_reg(temp);
                self.regs.invalidate_reg(r);
                self.available_regs |= temp.bit();
            }
        }
    }

    /// `lsls r, r, #shift`.
    fn shift_in_place(&mut self, r: Reg, shift: i64) {
        self.put(asm::lsls_imm(r, r, shift));
        self.regs.invalidate_reg(r);
    }

    /// `temp = r << shift; r = op(temp, r)`.
    fn shift_combine(
        &mut self,
        r: Reg,
        shift: i64,
        op: fn(Reg, Reg, Reg) -> Result<Insn, AsmError>,
    ) {
        let temp = self.avail(self.available_regs);
        self.put(asm::lsls_imm(temp, r, shift));
        self.put(op(r, temp, r));
        self.regs.invalidate_reg(temp);
        self.regs.invalidate_reg(r);
    }
}

#[cfg(test)]
mod tests {
    //! Expected bytes come from running the reference backend on the same calls.
    use super::super::moves::tests::{assert_code, backend, occupy, B};
    use super::*;
    use crate::compile::backend::Backend;
    use alloc::string::String;

    /// x0 in r7, and with `second` x1 in r6, or with `exhausted` every other register taken.
    fn setup(second: bool, exhausted: bool) -> (B, Reg, Reg) {
        let mut b = backend(1);
        let r = b.move_to_native_register(Val::X(0));
        let mut other = R0;
        if second {
            other = b.move_to_native_register(Val::X(1));
        }
        if exhausted {
            occupy(&mut b, 5);
        }
        (b, r, other)
    }

    type Case = (bool, bool, fn(&mut B, Reg, Reg) -> Reg, &'static str);

    /// The code `setup` emits followed by `tail`.
    fn after_setup(second: bool, exhausted: bool, tail: &str) -> String {
        let mut all = String::from(X0);
        if second {
            all.push_str(X1);
        }
        if exhausted {
            all.push_str(ALL_TAKEN);
        }
        all.push_str(tail);
        all
    }

    /// Run each case on its setup; the operation must work in place on x0's register.
    fn check(cases: &[Case]) {
        for &(second, exhausted, f, tail) in cases {
            let (mut b, r, other) = setup(second, exhausted);
            let used = b.used_regs_mask();
            assert_eq!(f(&mut b, r, other), r, "{tail}");
            assert_code(&mut b, &after_setup(second, exhausted, tail));
            assert_eq!(b.used_regs_mask(), used, "{tail}");
        }
    }

    const X0: &str = "8769";
    const X1: &str = "c669";
    const ALL_TAKEN: &str = "066dc56c846c436c016c";

    #[test]
    fn and_with_register_and_masks() {
        let cases: [Case; 7] = [
            (
                true,
                false,
                |b, r, o| b.and_(Arg::free(Val::Reg(r)), Val::Reg(o)),
                "3740",
            ),
            (
                false,
                false,
                |b, r, _| b.and_(Arg::free(Val::Reg(r)), Val::Imm(0xFF_FFFF)),
                "3f023f0a",
            ),
            (
                false,
                false,
                |b, r, _| b.and_(Arg::free(Val::Reg(r)), Val::Imm(-8)),
                "0726b743",
            ),
            (
                false,
                false,
                |b, r, _| b.and_(Arg::free(Val::Reg(r)), Val::Imm(0x3F)),
                "3f263740",
            ),
            (
                false,
                true,
                |b, r, _| b.and_(Arg::free(Val::Reg(r)), Val::Imm(-16)),
                "84460f2087436046",
            ),
            (
                false,
                true,
                |b, r, _| b.and_(Arg::free(Val::Reg(r)), Val::Imm(0xFF00)),
                "8446ff20000207406046",
            ),
            (
                false,
                false,
                |b, r, _| b.and_(Arg::free(Val::Reg(r)), Val::Imm(0x1234_5678)),
                "014e3740000078563412",
            ),
        ];
        check(&cases);
    }

    #[test]
    fn clearing_the_tag_of_a_kept_register_allocates_the_result() {
        let (mut b, _, other) = setup(true, false);
        assert_eq!(b.and_(Arg::keep(Val::Reg(other)), Val::Imm(-4)), R5);
        assert_code(&mut b, "8769c669b508ad00");
        assert_eq!(b.used_regs_mask(), R7.bit() | R6.bit() | R5.bit());
    }

    #[test]
    fn or_and_xor() {
        let cases: [Case; 6] = [
            (
                true,
                false,
                |b, r, o| b.or_(Arg::keep(Val::Reg(r)), Val::Reg(o)),
                "3743",
            ),
            (
                false,
                false,
                |b, r, _| b.or_(Arg::keep(Val::Reg(r)), Val::Imm(2)),
                "02263743",
            ),
            (
                false,
                true,
                |b, r, _| b.or_(Arg::keep(Val::Reg(r)), Val::Imm(600)),
                "84469620800007436046",
            ),
            (
                true,
                false,
                |b, r, o| b.xor_(Arg::keep(Val::Reg(o)), Val::Reg(r)),
                "7e40",
            ),
            (
                false,
                false,
                |b, r, _| b.xor_(Arg::keep(Val::Reg(r)), Val::Imm(0xF0)),
                "f0267740",
            ),
            (
                false,
                true,
                |b, r, _| b.xor_(Arg::keep(Val::Reg(r)), Val::Imm(5)),
                "8446052047406046",
            ),
        ];
        // The xor-with-register case works on x1's register: compare against it.
        for (i, case) in cases.iter().enumerate() {
            if i == 3 {
                let (mut b, r, other) = setup(true, false);
                assert_eq!((case.2)(&mut b, r, other), other);
                assert_code(&mut b, &after_setup(true, false, case.3));
            } else {
                check(core::slice::from_ref(case));
            }
        }
    }

    #[test]
    fn add_and_sub() {
        let cases: [Case; 6] = [
            (
                false,
                false,
                |b, r, _| b.add(Arg::keep(Val::Reg(r)), Val::Imm(200)),
                "c837",
            ),
            (
                true,
                false,
                |b, r, o| b.add(Arg::keep(Val::Reg(r)), Val::Reg(o)),
                "bf19",
            ),
            (
                false,
                false,
                |b, r, _| b.add(Arg::keep(Val::Reg(r)), Val::Imm(4000)),
                "fa263601bf19",
            ),
            (
                false,
                false,
                |b, r, _| b.add(Arg::keep(Val::Reg(r)), Val::Imm(-3)),
                "03267642bf19",
            ),
            (
                false,
                false,
                |b, r, _| b.sub(Arg::keep(Val::Reg(r)), Val::Imm(17)),
                "113f",
            ),
            (
                false,
                false,
                |b, r, _| b.sub(Arg::keep(Val::Reg(r)), Val::Imm(99999)),
                "014ebf1b00009f860100",
            ),
        ];
        check(&cases);
        let (mut b, r, other) = setup(true, false);
        assert_eq!(b.sub(Arg::keep(Val::Reg(other)), Val::Reg(r)), other);
        assert_code(&mut b, &after_setup(true, false, "f61b"));
    }

    #[test]
    fn multiplication_by_constants() {
        let cases: [(i64, &str); 18] = [
            (1, ""),
            (2, "7f00"),
            (3, "7e00f719"),
            (4, "bf00"),
            (5, "be00f719"),
            (6, "7e00f7197f00"),
            (7, "fe00f71b"),
            (8, "ff00"),
            (9, "fe00f719"),
            (10, "be00f7197f00"),
            (11, "0b267743"),
            (15, "3e01f71b"),
            (16, "3f01"),
            (32, "7f01"),
            (64, "bf01"),
            (100, "64267743"),
            (0, "00267743"),
            (-2, "022676427743"),
        ];
        for (factor, expected) in cases {
            let (mut b, r, _) = setup(false, false);
            assert_eq!(b.mul(Arg::keep(Val::Reg(r)), Val::Imm(factor)), r);
            assert_code(&mut b, &after_setup(false, false, expected));
            assert_eq!(b.used_regs_mask(), R7.bit());
        }
        let (mut b, r, other) = setup(true, false);
        b.mul(Arg::keep(Val::Reg(r)), Val::Reg(other));
        assert_code(&mut b, &after_setup(true, false, "7743"));
        // An immediate times one is a no-op, not an error; times anything else is unsupported.
        let (mut b, _, _) = setup(false, false);
        b.mul(Arg::keep(Val::Imm(0x50)), Val::Imm(1));
        assert_eq!(b.error(), None);
        assert_code(&mut b, &after_setup(false, false, ""));
        b.mul(Arg::keep(Val::Imm(0x50)), Val::Imm(8));
        assert!(b.error().is_some());
    }

    #[test]
    fn pool_constants_without_a_free_register_are_dropped_like_the_reference() {
        // Both `ldr r0, [pc, #?]` placeholders stay 0xFFFF and no literal is laid out.
        let (mut b, r, _) = setup(false, true);
        b.and_(Arg::free(Val::Reg(r)), Val::Imm(0x1234));
        b.or_(Arg::keep(Val::Reg(r)), Val::Imm(70000));
        assert_code(
            &mut b,
            &after_setup(false, true, "8446ffff074060468446ffff07436046"),
        );
    }

    #[test]
    fn non_register_operands_are_errors() {
        let (mut b, _, _) = setup(false, false);
        b.add(Arg::keep(Val::X(1)), Val::Imm(1));
        assert!(b.error().is_some());
        let (mut b, r, _) = setup(false, false);
        b.and_(Arg::keep(Val::Reg(r)), Val::Imm(0x3F));
        assert!(b.error().is_some());
    }
}

//! Shifts by a constant.

use super::asm::{self, AsmError, Insn};
use super::names::*;
use super::Armv6m;
use crate::compile::backend::{Arg, BackendError, Reg, Val};
use crate::stream::CodeSink;

type ShiftInsn = fn(Reg, Reg, i64) -> Result<Insn, AsmError>;

impl<S: CodeSink> Armv6m<S> {
    /// Logical shift right: in place for a freed register, else into a new register.
    pub(super) fn shift_right(&mut self, reg: Arg, shift: u32) -> Reg {
        self.shift_into(reg, shift, asm::lsrs_imm)
    }

    /// Arithmetic shift right: in place for a freed register, else into a new register.
    pub(super) fn shift_right_arith(&mut self, reg: Arg, shift: u32) -> Reg {
        self.shift_into(reg, shift, asm::asrs_imm)
    }

    /// Shift left, always in place.
    pub(super) fn shift_left(&mut self, reg: Arg, shift: u32) -> Reg {
        let Val::Reg(r) = reg.val else {
            self.fail(BackendError::Unsupported("shift of a non-register"));
            return R0;
        };
        self.put(asm::lsls_imm(r, r, i64::from(shift)));
        self.regs.invalidate_reg(r);
        r
    }

    /// `reg` shifted by `insn` into itself when freed, else into a new register. Inlined on
    /// the host, where `insn` is then a known encoder, not an indirect call.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn shift_into(&mut self, reg: Arg, shift: u32, insn: ShiftInsn) -> Reg {
        let Val::Reg(src) = reg.val else {
            self.fail(BackendError::Unsupported("shift of a non-register"));
            return R0;
        };
        let dest = if reg.free { src } else { self.alloc_reg() };
        self.put(insn(dest, src, i64::from(shift)));
        self.regs.invalidate_reg(dest);
        dest
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{backend, hex, CTX, JIT_STATE};
    use crate::compile::backend::{Arg, Val};

    #[test]
    fn shifts_in_place_or_into_new_register() {
        let mut b = backend(1);
        let r1 = b.call_primitive(1, &[CTX, JIT_STATE]);
        let r2 = b.shift_right(Arg::keep(Val::Reg(r1)), 3);
        let r3 = b.shift_right_arith(Arg::free(Val::Reg(r2)), 5);
        assert_eq!(r3, r2);
        let r4 = b.shift_right_arith(Arg::keep(Val::Reg(r3)), 1);
        b.shift_right(Arg::free(Val::Reg(r4)), 7);
        assert_eq!(hex(&b), "576805B40299B847074605BCFE0876117510ED09");
    }
}

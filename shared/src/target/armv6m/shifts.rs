//! Shifts by a constant.

use super::asm::{self, AsmError, Insn};
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
            return Reg::R0;
        };
        self.put(asm::lsls_imm(r, r, i64::from(shift)));
        self.regs.invalidate_reg(r);
        r
    }

    fn shift_into(&mut self, reg: Arg, shift: u32, insn: ShiftInsn) -> Reg {
        let Val::Reg(src) = reg.val else {
            self.fail(BackendError::Unsupported("shift of a non-register"));
            return Reg::R0;
        };
        let dest = if reg.free { src } else { self.alloc_reg() };
        self.put(insn(dest, src, i64::from(shift)));
        self.regs.invalidate_reg(dest);
        dest
    }
}

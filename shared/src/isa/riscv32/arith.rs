//! Bitwise operations, add/sub/mul by registers and constants, and shifts, as the reference's
//! riscv32 backend lowers them.

use super::asm::{self, Insn};
use super::names::*;
use super::{xr, Riscv32};
use crate::abi::term::TERM_PRIMARY_CLEAR_MASK;
use crate::compile::backend::{Arg, Reg, Val};
use crate::stream::CodeSink;

impl<S: CodeSink> Riscv32<S> {
    fn arith_reg(&mut self, arg: Arg, what: &'static str) -> Reg {
        match arg.val {
            Val::Reg(r) => r,
            _ => {
                self.unsupported(what);
                T6
            }
        }
    }

    /// `li temp, imm` into a scratch register (released again), then `op(reg, temp)`.
    fn op_via_temp(&mut self, reg: Reg, imm: i64, op: fn(Reg, Reg) -> Insn) {
        let avail = self.available_regs;
        let temp = self.avail(avail);
        self.available_regs = avail & !temp.bit();
        self.li(temp, imm);
        self.put_i(op(reg, temp));
        self.regs.invalidate_reg(reg);
        self.regs.invalidate_reg(temp);
        self.available_regs = avail;
    }

    pub(super) fn and_(&mut self, reg: Arg, value: Val) -> Reg {
        let r = self.arith_reg(reg, "and_ on a non-register");
        let x = xr(r);
        if !reg.free {
            if value == Val::Imm(TERM_PRIMARY_CLEAR_MASK) {
                let res = self.avail(self.available_regs);
                self.put(asm::andi(xr(res), x, -4));
                self.regs.invalidate_reg(res);
                self.take_reg(res);
                return res;
            }
            self.unsupported("and_ on a kept register");
            return r;
        }
        match value {
            Val::Reg(src) => {
                self.put_i(asm::and(x, x, xr(src)));
                self.regs.invalidate_reg(r);
            }
            Val::Imm(0xFF_FFFF) => {
                self.put(asm::slli(x, x, 8));
                self.put(asm::srli(x, x, 8));
                self.regs.invalidate_reg(r);
            }
            Val::Imm(v) if (-2048..=2047).contains(&v) => {
                self.put(asm::andi(x, x, v));
                self.regs.invalidate_reg(r);
            }
            Val::Imm(v) if self.available_regs != 0 => {
                self.op_via_temp(r, v, |a, b| asm::and(xr(a), xr(a), xr(b)));
            }
            _ => self.unsupported("and_ operand"),
        }
        r
    }

    pub(super) fn or_xor(&mut self, reg: Arg, value: Val, xor: bool) -> Reg {
        let r = self.arith_reg(reg, "or_/xor_ on a non-register");
        let x = xr(r);
        match value {
            Val::Reg(src) => {
                self.put_i(if xor {
                    asm::xor(x, x, xr(src))
                } else {
                    asm::or(x, x, xr(src))
                });
                self.regs.invalidate_reg(r);
            }
            Val::Imm(v) if (-2048..=2047).contains(&v) => {
                self.put_w(if xor {
                    asm::xori(x, x, v)
                } else {
                    asm::ori(x, x, v)
                });
                self.regs.invalidate_reg(r);
            }
            Val::Imm(v) => {
                let op: fn(Reg, Reg) -> Insn = if xor {
                    |a, b| asm::xor(xr(a), xr(a), xr(b))
                } else {
                    |a, b| asm::or(xr(a), xr(a), xr(b))
                };
                self.op_via_temp(r, v, op);
            }
            _ => self.unsupported("or_/xor_ operand"),
        }
        r
    }

    pub(super) fn add_sub(&mut self, reg: Arg, value: Val, sub: bool) -> Reg {
        let r = self.arith_reg(reg, "add/sub on a non-register");
        let x = xr(r);
        match value {
            Val::Imm(v) if (0..=255).contains(&v) => {
                self.put(asm::addi(x, x, if sub { -v } else { v }));
                self.regs.invalidate_reg(r);
            }
            Val::Reg(src) => {
                self.put_i(if sub {
                    asm::sub(x, x, xr(src))
                } else {
                    asm::add(x, x, xr(src))
                });
                self.regs.invalidate_reg(r);
            }
            Val::Imm(v) => {
                let op: fn(Reg, Reg) -> Insn = if sub {
                    |a, b| asm::sub(xr(a), xr(a), xr(b))
                } else {
                    |a, b| asm::add(xr(a), xr(a), xr(b))
                };
                self.op_via_temp(r, v, op);
            }
            _ => self.unsupported("add/sub operand"),
        }
        r
    }

    /// `slli temp, r, k` then `add`/`sub r, temp, r`.
    fn shift_combine(&mut self, r: Reg, k: i64, sub: bool) {
        let temp = self.avail(self.available_regs);
        let (t, x) = (xr(temp), xr(r));
        self.put(asm::slli(t, x, k));
        self.put_i(if sub {
            asm::sub(x, t, x)
        } else {
            asm::add(x, t, x)
        });
        self.regs.invalidate_reg(temp);
        self.regs.invalidate_reg(r);
    }

    fn shl_in_place(&mut self, r: Reg, k: i64) {
        self.put(asm::slli(xr(r), xr(r), k));
        self.regs.invalidate_reg(r);
    }

    fn mul_imm(&mut self, r: Reg, v: i64) {
        match v {
            1 => {}
            2 => self.shl_in_place(r, 1),
            3 => self.shift_combine(r, 1, false),
            4 => self.shl_in_place(r, 2),
            5 => self.shift_combine(r, 2, false),
            6 => {
                self.mul_imm(r, 3);
                self.mul_imm(r, 2);
            }
            7 => self.shift_combine(r, 3, true),
            8 => self.shl_in_place(r, 3),
            9 => self.shift_combine(r, 3, false),
            10 => {
                self.mul_imm(r, 5);
                self.mul_imm(r, 2);
            }
            15 => self.shift_combine(r, 4, true),
            16 => self.shl_in_place(r, 4),
            32 => self.shl_in_place(r, 5),
            64 => self.shl_in_place(r, 6),
            _ => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                self.available_regs = avail & !temp.bit();
                self.li(temp, v);
                self.put_i(Insn::full(asm::mul(xr(r), xr(r), xr(temp))));
                self.regs.invalidate_reg(temp);
                self.regs.invalidate_reg(r);
                self.available_regs |= temp.bit();
            }
        }
    }

    pub(super) fn mul(&mut self, reg: Arg, value: Val) -> Reg {
        // The reference's `mul(State, _Reg, 1)` emits nothing whatever the operand:
        // bs_create_bin multiplies an immediate segment size by its unit (1) and ignores the
        // result.
        if value == Val::Imm(1) {
            return match reg.val {
                Val::Reg(r) => r,
                _ => A0,
            };
        }
        let r = self.arith_reg(reg, "mul on a non-register");
        match value {
            Val::Imm(v) => self.mul_imm(r, v),
            Val::Reg(src) => {
                self.put_i(Insn::full(asm::mul(xr(r), xr(r), xr(src))));
                self.regs.invalidate_reg(r);
            }
            _ => self.unsupported("mul operand"),
        }
        r
    }

    pub(super) fn shift_left(&mut self, reg: Arg, shift: u32) -> Reg {
        let r = self.arith_reg(reg, "shift_left on a non-register");
        self.shl_in_place(r, i64::from(shift));
        r
    }

    /// `srli`/`srai`: in place for a freed register, else into a new one.
    pub(super) fn shift_right(&mut self, reg: Arg, shift: u32, arith: bool) -> Reg {
        let r = self.arith_reg(reg, "shift_right on a non-register");
        let insn = if arith { asm::srai } else { asm::srli };
        if reg.free {
            self.put(insn(xr(r), xr(r), i64::from(shift)));
            self.regs.invalidate_reg(r);
            r
        } else {
            let res = self.avail(self.available_regs);
            self.put(insn(xr(res), xr(r), i64::from(shift)));
            self.regs.invalidate_reg(res);
            self.take_reg(res);
            res
        }
    }
}

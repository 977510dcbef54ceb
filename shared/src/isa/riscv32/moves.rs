//! Moves between VM registers (x, y, fp), native registers, term arrays, the continuation
//! pointer and the binary-match state, with the register-contents tracking the reference does.

use super::asm;
use super::names::*;
use super::{first_avail, xr, Riscv32, CTX_REG};
use crate::abi::context::{
    ctx_x_reg, CTX_BS, CTX_BS_OFFSET, CTX_CP, CTX_FP_REGS, CTX_Y_REGS, MAX_REG,
};
use crate::abi::term::BOXED_FLOAT_DATA_OFFSET;
use crate::compile::backend::{Arg, Reg, Val};
use crate::isa::regs::{self, Contents};
use crate::stream::CodeSink;

/// Largest y-register byte offset loaded with one immediate offset (the reference's limit).
const Y_OFFSET_LIMIT: i64 = 124;

impl<S: CodeSink> Riscv32<S> {
    fn forget_hidden_temp(&mut self, mask: u16) {
        if let Some(r) = first_avail(mask) {
            self.regs.invalidate_reg(r);
        }
    }

    /// `y[y] = src` with `temp` holding the frame pointer (and `first_avail(avail)` for large
    /// offsets).
    pub(super) fn str_y_reg(&mut self, src: Reg, y: u32, temp: Reg, avail: u16) {
        let offset = i64::from(y) * 4;
        self.put(asm::lw(xr(temp), xr(CTX_REG), CTX_Y_REGS));
        if offset <= Y_OFFSET_LIMIT {
            self.put(asm::sw(xr(temp), xr(src), offset));
        } else {
            let Some(t2) = first_avail(avail) else {
                return self.fail(crate::compile::backend::BackendError::OutOfRegisters);
            };
            self.li(t2, offset);
            self.put_i(asm::add(xr(t2), xr(t2), xr(temp)));
            self.put(asm::sw(xr(t2), xr(src), 0));
        }
    }

    /// `dst = y[y]`.
    pub(super) fn ldr_y_reg(&mut self, dst: Reg, y: u32, avail: u16) {
        let offset = i64::from(y) * 4;
        match first_avail(avail) {
            Some(temp) => {
                self.put(asm::lw(xr(temp), xr(CTX_REG), CTX_Y_REGS));
                if offset <= Y_OFFSET_LIMIT {
                    self.put(asm::lw(xr(dst), xr(temp), offset));
                } else {
                    self.li(dst, offset);
                    self.put_i(asm::add(xr(dst), xr(dst), xr(temp)));
                    self.put(asm::lw(xr(dst), xr(dst), 0));
                }
            }
            None if offset <= Y_OFFSET_LIMIT => {
                self.put(asm::lw(xr(dst), xr(CTX_REG), CTX_Y_REGS));
                self.put(asm::lw(xr(dst), xr(dst), offset));
            }
            None => self.fail(crate::compile::backend::BackendError::OutOfRegisters),
        }
    }

    // ---- to VM registers --------------------------------------------------------------------

    pub(super) fn move_to_vm_register(&mut self, src: Arg, dest: Val) {
        let dest_contents = regs::vm_dest_to_contents(dest, MAX_REG);
        if let Contents::Vm(loc) = dest_contents {
            self.regs.invalidate_vm_loc(loc);
        }
        self.move_to_vm_register_emit(src, dest);
        if let (Val::Reg(r), Contents::Vm(_)) = (src.val, dest_contents) {
            self.regs.set_contents(r, dest_contents);
        }
    }

    fn move_to_vm_register_emit(&mut self, src: Arg, dest: Val) {
        match (src.val, dest) {
            (Val::Reg(r), Val::XExtra) => self.put(asm::sw(xr(CTX_REG), xr(r), ctx_x_reg(MAX_REG))),
            (Val::Reg(r), Val::X(x)) => self.put(asm::sw(xr(CTX_REG), xr(r), ctx_x_reg(x))),
            (Val::Reg(r), Val::Ptr(p)) => self.put(asm::sw(xr(p), xr(r), 0)),
            (Val::Reg(r), Val::Y(y)) => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                let rest = avail & !temp.bit();
                self.str_y_reg(r, y, temp, rest);
                self.regs.invalidate_reg(temp);
                self.forget_hidden_temp(rest);
            }
            (Val::Imm(n), Val::Y(y)) if (0..=255).contains(&n) => {
                let avail = self.available_regs;
                let t1 = self.avail(avail);
                let avail2 = avail & !t1.bit();
                let t2 = self.avail(avail2);
                let rest = avail2 & !t2.bit();
                self.li(t2, n);
                self.str_y_reg(t2, y, t1, rest);
                self.regs.invalidate_reg(t1);
                self.regs.invalidate_reg(t2);
                self.forget_hidden_temp(rest);
            }
            (Val::Imm(n), _) => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                self.available_regs = avail & !temp.bit();
                self.li(temp, n);
                self.move_to_vm_register(Arg::keep(Val::Reg(temp)), dest);
                self.regs.invalidate_reg(temp);
                self.available_regs = avail;
            }
            (Val::XExtra | Val::X(_) | Val::Ptr(_), _) => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                match src.val {
                    Val::X(x) => self.put(asm::lw(xr(temp), xr(CTX_REG), ctx_x_reg(x))),
                    Val::Ptr(p) => self.put(asm::lw(xr(temp), xr(p), 0)),
                    _ => self.put(asm::lw(xr(temp), xr(CTX_REG), ctx_x_reg(MAX_REG))),
                }
                self.available_regs = avail & !temp.bit();
                self.move_to_vm_register(Arg::keep(Val::Reg(temp)), dest);
                self.regs.invalidate_reg(temp);
                self.available_regs = avail;
            }
            (Val::Y(y), _) => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                let rest = avail & !temp.bit();
                self.ldr_y_reg(temp, y, rest);
                self.forget_hidden_temp(rest);
                self.available_regs = rest;
                self.move_to_vm_register(Arg::keep(Val::Reg(temp)), dest);
                self.regs.invalidate_reg(temp);
                self.available_regs = avail;
            }
            (Val::PtrOffset(reg, 1), Val::Fp(f)) if src.free => self.term_to_float(reg, f),
            _ => self.unsupported("move_to_vm_register operands"),
        }
    }

    /// `fp[f] = the boxed float at reg` (double: two words).
    fn term_to_float(&mut self, reg: Reg, f: u32) {
        let avail = self.available_regs;
        let t1 = self.avail(avail);
        let t2 = self.avail(avail & !t1.bit());
        self.put(asm::lw(xr(t1), xr(CTX_REG), CTX_FP_REGS));
        self.put(asm::lw(xr(t2), xr(reg), BOXED_FLOAT_DATA_OFFSET));
        let f = i64::from(f);
        self.put(asm::sw(xr(t1), xr(t2), f * 8));
        self.put(asm::lw(xr(t2), xr(reg), BOXED_FLOAT_DATA_OFFSET + 4));
        self.put(asm::sw(xr(t1), xr(t2), f * 8 + 4));
        self.release_reg(reg);
        self.regs.invalidate_reg(t1);
        self.regs.invalidate_reg(t2);
    }

    // ---- to native registers ----------------------------------------------------------------

    pub(super) fn move_to_native_register(&mut self, src: Val) -> Reg {
        if let Val::Reg(r) = src {
            return r;
        }
        let contents = regs::value_to_contents(src, MAX_REG);
        if contents != Contents::Unknown {
            if let Some(cached) = self.regs.find_reg_with_contents(contents) {
                let bit = cached.bit();
                if self.used_regs & bit != 0 {
                    return cached;
                }
                if self.available_regs & bit != 0 {
                    self.take_reg(cached);
                    return cached;
                }
            }
        }
        self.move_to_native_register_emit(src, contents)
    }

    fn move_to_native_register_emit(&mut self, src: Val, contents: Contents) -> Reg {
        match src {
            Val::Ptr(r) => {
                self.put(asm::lw(xr(r), xr(r), 0));
                self.regs.invalidate_reg(r);
                r
            }
            Val::Imm(v) => {
                let reg = self.alloc_reg();
                self.regs.set_contents(reg, contents);
                self.move_to_native_register_to(Val::Imm(v), reg);
                reg
            }
            Val::Cp | Val::XExtra | Val::X(_) => {
                let reg = self.alloc_reg();
                let off = match src {
                    Val::Cp => CTX_CP,
                    Val::X(x) if x < MAX_REG => ctx_x_reg(x),
                    Val::X(_) => {
                        self.unsupported("x register beyond MAX_REG");
                        0
                    }
                    _ => ctx_x_reg(MAX_REG),
                };
                self.put(asm::lw(xr(reg), xr(CTX_REG), off));
                self.regs.set_contents(reg, contents);
                reg
            }
            Val::Y(y) => {
                let avail = self.available_regs;
                let reg = self.avail(avail);
                let rest = avail & !reg.bit();
                self.ldr_y_reg(reg, y, rest);
                self.regs.set_contents(reg, contents);
                self.forget_hidden_temp(rest);
                self.take_reg(reg);
                reg
            }
            _ => {
                self.unsupported("move_to_native_register source");
                T6
            }
        }
    }

    pub(super) fn move_to_native_register_to(&mut self, src: Val, dest: Reg) {
        match src {
            Val::Reg(r) => {
                self.put_i(asm::mv(xr(dest), xr(r)));
                let c = self.regs.get_contents(r);
                self.regs.set_contents(dest, c);
            }
            Val::Imm(v) => {
                self.li(dest, v);
                self.regs.set_contents(dest, Contents::Imm(v));
            }
            Val::Ptr(r) => self.put(asm::lw(xr(dest), xr(r), 0)),
            Val::XExtra => self.put(asm::lw(xr(dest), xr(CTX_REG), ctx_x_reg(MAX_REG))),
            Val::X(x) if x < MAX_REG => self.put(asm::lw(xr(dest), xr(CTX_REG), ctx_x_reg(x))),
            Val::Y(y) => {
                let avail = self.available_regs;
                self.ldr_y_reg(dest, y, avail);
                self.forget_hidden_temp(avail);
            }
            _ => self.unsupported("move_to_native_register source"),
        }
    }

    pub(super) fn copy_to_native_register(&mut self, src: Val) -> Reg {
        match src {
            Val::Reg(r) => {
                let save = self.alloc_reg();
                self.put_i(asm::mv(xr(save), xr(r)));
                let c = self.regs.get_contents(r);
                self.regs.set_contents(save, c);
                save
            }
            Val::Ptr(r) => {
                let save = self.alloc_reg();
                self.put(asm::lw(xr(save), xr(r), 0));
                self.regs.invalidate_reg(save);
                save
            }
            _ => self.move_to_native_register(src),
        }
    }

    pub(super) fn move_to_cp(&mut self, src: Val) {
        let Val::Y(y) = src else {
            return self.unsupported("move_to_cp source");
        };
        let avail = self.available_regs;
        let reg = self.avail(avail);
        let rest = avail & !reg.bit();
        self.ldr_y_reg(reg, y, rest);
        self.put(asm::sw(xr(CTX_REG), xr(reg), CTX_CP));
        self.regs.invalidate_reg(reg);
        self.forget_hidden_temp(rest);
    }

    pub(super) fn increment_sp(&mut self, words: i64) {
        let reg = self.avail(self.available_regs);
        self.put(asm::lw(xr(reg), xr(CTX_REG), CTX_Y_REGS));
        self.put(asm::addi(xr(reg), xr(reg), words * 4));
        self.put(asm::sw(xr(CTX_REG), xr(reg), CTX_Y_REGS));
        self.regs.invalidate_reg(reg);
    }

    pub(super) fn set_bs(&mut self, src: Val) {
        let Val::Reg(term) = src else {
            return self.unsupported("set_bs source");
        };
        let temp = self.avail(self.available_regs);
        self.put(asm::sw(xr(CTX_REG), xr(term), CTX_BS));
        self.li(temp, 0);
        self.put(asm::sw(xr(CTX_REG), xr(temp), CTX_BS_OFFSET));
        self.regs.invalidate_reg(temp);
    }

    // ---- arrays -------------------------------------------------------------------------------

    pub(super) fn move_array_element(&mut self, base: Arg, index: Val, dest: Val) {
        let Val::Reg(reg) = base.val else {
            return self.unsupported("move_array_element base");
        };
        let Val::Imm(index) = index else {
            if let Val::Reg(i) = index {
                return self.move_array_element_free_index(reg, i, dest);
            }
            return self.unsupported("move_array_element index");
        };
        let off = index * 4;
        match dest {
            Val::X(x) if x < MAX_REG && !base.free => {
                let temp = self.avail(self.available_regs);
                self.put(asm::lw(xr(temp), xr(reg), off));
                self.put(asm::sw(xr(CTX_REG), xr(temp), ctx_x_reg(x)));
                self.regs.invalidate_vm_loc(regs::VmLoc::X(x));
                self.regs.invalidate_reg(temp);
            }
            Val::Ptr(d) if !base.free => {
                let temp = self.avail(self.available_regs);
                self.put(asm::lw(xr(temp), xr(reg), off));
                self.put(asm::sw(xr(d), xr(temp), 0));
                self.regs.invalidate_reg(temp);
            }
            Val::Y(y) if !base.free => {
                let avail = self.available_regs;
                let t1 = self.avail(avail);
                let avail2 = avail & !t1.bit();
                let t2 = self.avail(avail2);
                let rest = avail2 & !t2.bit();
                self.put(asm::lw(xr(t2), xr(reg), off));
                self.str_y_reg(t2, y, t1, rest);
                self.regs.invalidate_vm_loc(regs::VmLoc::Y(y));
                self.regs.invalidate_reg(t1);
                self.regs.invalidate_reg(t2);
            }
            Val::Y(y) => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                let rest = avail & !temp.bit();
                self.put(asm::lw(xr(reg), xr(reg), off));
                self.str_y_reg(reg, y, temp, rest);
                self.regs.invalidate_vm_loc(regs::VmLoc::Y(y));
                self.regs.invalidate_reg(reg);
                self.regs.invalidate_reg(temp);
            }
            Val::Reg(d) => {
                self.put(asm::lw(xr(d), xr(reg), off));
                self.regs.invalidate_reg(d);
            }
            _ => self.unsupported("move_array_element destination"),
        }
    }

    pub(super) fn move_array_element_free_index(&mut self, base: Reg, index: Reg, dest: Val) {
        let i = xr(index);
        let load = |b: &mut Self| {
            b.put(asm::slli(i, i, 2));
            b.put_i(asm::add(i, xr(base), i));
            b.put(asm::lw(i, i, 0));
        };
        match dest {
            Val::X(x) if x < MAX_REG => {
                load(self);
                self.put(asm::sw(xr(CTX_REG), i, ctx_x_reg(x)));
                self.regs.invalidate_vm_loc(regs::VmLoc::X(x));
                self.regs.invalidate_reg(index);
            }
            Val::Ptr(p) => {
                load(self);
                self.put(asm::sw(xr(p), i, 0));
                self.regs.invalidate_reg(index);
            }
            Val::Y(y) => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                let rest = avail & !temp.bit();
                load(self);
                self.str_y_reg(index, y, temp, rest);
                self.regs.invalidate_vm_loc(regs::VmLoc::Y(y));
                self.regs.invalidate_reg(temp);
                self.regs.invalidate_reg(index);
            }
            _ => return self.unsupported("move_array_element destination"),
        }
        self.release_reg(index);
    }

    pub(super) fn get_array_element(&mut self, base: Arg, index: u32) -> Reg {
        let Val::Reg(reg) = base.val else {
            self.unsupported("get_array_element base");
            return T6;
        };
        let off = i64::from(index) * 4;
        if base.free {
            self.put(asm::lw(xr(reg), xr(reg), off));
            self.regs.invalidate_reg(reg);
            reg
        } else {
            let elem = self.avail(self.available_regs);
            self.put(asm::lw(xr(elem), xr(reg), off));
            self.regs.invalidate_reg(elem);
            self.take_reg(elem);
            elem
        }
    }

    pub(super) fn move_to_array_element(&mut self, src: Val, base: Reg, index: Val) {
        match (src, index) {
            (Val::Reg(v), Val::Imm(i)) => self.put(asm::sw(xr(base), xr(v), i * 4)),
            (Val::Reg(v), Val::Reg(ir)) => {
                let temp = self.avail(self.available_regs);
                let t = xr(temp);
                self.put_i(asm::mv(t, xr(ir)));
                self.put(asm::slli(t, t, 2));
                self.put_i(asm::add(t, xr(base), t));
                self.put(asm::sw(t, xr(v), 0));
                self.regs.invalidate_reg(temp);
            }
            _ => {
                let temp = self.copy_to_native_register(src);
                self.move_to_array_element(Val::Reg(temp), base, index);
                self.release_reg(temp);
            }
        }
    }

    pub(super) fn move_to_array_element_offset(
        &mut self,
        src: Val,
        base: Reg,
        index: Val,
        offset: i64,
    ) {
        if let Val::Imm(i) = index {
            if offset / 8 == 0 {
                return self.move_to_array_element(src, base, Val::Imm(i + offset / 8));
            }
            return self.unsupported("move_to_array_element offset");
        }
        let Val::Reg(ir) = index else {
            return self.unsupported("move_to_array_element index");
        };
        let (value, copied) = match src {
            Val::Reg(r) => (r, false),
            _ => (self.copy_to_native_register(src), true),
        };
        let temp = self.avail(self.available_regs);
        let t = xr(temp);
        self.put(asm::addi(t, xr(ir), offset));
        self.put(asm::slli(t, t, 2));
        self.put_i(asm::add(t, xr(base), t));
        self.put(asm::sw(t, xr(value), 0));
        self.regs.invalidate_reg(temp);
        if copied {
            self.release_reg(value);
        }
    }
}

//! Moves between VM registers (x, y, fp), native registers, term arrays and the continuation
//! pointer, plus the y-register addressing helpers shared with calls.
//!
//! Every native temporary a move clobbers is forgotten by the register-contents tracker, and a
//! register stored into an x/y register is remembered as caching it, exactly as the reference
//! does: later loads of that VM register reuse the native one.

use super::asm;
use super::names::*;
use super::{first_avail, Armv6m, CTX_REG, IP_REG};
use crate::compile::backend::{Arg, BackendError, Reg, Val};
use crate::isa::regs::{self, Contents};
use crate::stream::CodeSink;

pub(super) use crate::abi::context::{
    ctx_x_reg, CTX_BS, CTX_BS_OFFSET, CTX_CP, CTX_FP_REGS, CTX_Y_REGS, MAX_REG,
};
use crate::abi::jit::VARIANT_FLOAT32;
use crate::abi::term::BOXED_FLOAT_DATA_OFFSET;

/// Largest immediate offset of a word `ldr`/`str` with a base register.
const MAX_LDR_IMM: i64 = 124;

impl<S: CodeSink> Armv6m<S> {
    /// Forget what `first_avail(mask)` held, if the mask is not empty: the y-register helpers
    /// use that register as a hidden temporary.
    fn forget_hidden_temp(&mut self, mask: u16) {
        if let Some(r) = first_avail(mask) {
            self.regs.invalidate_reg(r);
        }
    }

    // ---- y registers ------------------------------------------------------------------------

    /// `y[y] = src`, using `temp` for the frame pointer and, for offsets beyond the immediate
    /// range, `first_avail(avail_mask)` (or ip when none is left) for the address.
    pub(super) fn str_y_reg(&mut self, src: Reg, y: u32, temp: Reg, avail_mask: u16) {
        let offset = i64::from(y) * 4;
        self.put_ldr(temp, CTX_REG, CTX_Y_REGS);
        if offset <= MAX_LDR_IMM {
            self.put_str(src, temp, offset);
        } else if let Some(addr) = first_avail(avail_mask) {
            self.put(asm::movs_imm(addr, offset));
            self.put(asm::add_hi(addr, temp));
            self.put_str(src, addr, 0);
        } else {
            self.put(asm::mov(IP_REG, temp));
            self.put(asm::movs_imm(temp, offset));
            self.put(asm::add_hi(temp, IP_REG));
            self.put_str(src, temp, 0);
        }
    }

    /// `dst = y[y]`. The frame pointer goes to `first_avail(avail_mask)` when there is one,
    /// otherwise to `dst` itself (with ip to build large offsets).
    pub(super) fn ldr_y_reg(&mut self, dst: Reg, y: u32, avail_mask: u16) {
        let offset = i64::from(y) * 4;
        match first_avail(avail_mask) {
            Some(temp) => {
                self.put_ldr(temp, CTX_REG, CTX_Y_REGS);
                if offset <= MAX_LDR_IMM {
                    self.put_ldr(dst, temp, offset);
                } else {
                    self.put(asm::movs_imm(dst, offset));
                    self.put(asm::add_hi(dst, temp));
                    self.put_ldr(dst, dst, 0);
                }
            }
            None => {
                self.put_ldr(dst, CTX_REG, CTX_Y_REGS);
                if offset <= MAX_LDR_IMM {
                    self.put_ldr(dst, dst, offset);
                } else {
                    self.put(asm::mov(IP_REG, dst));
                    self.put(asm::movs_imm(dst, offset));
                    self.put(asm::add_hi(dst, IP_REG));
                    self.put_ldr(dst, dst, 0);
                }
            }
        }
    }

    // ---- to VM registers --------------------------------------------------------------------

    /// Store `src` (immediate, native or VM register, pointer) into the VM register `dest`.
    ///
    /// `Arg::free(Val::Ptr(r))` into `Val::Fp(f)` converts the boxed float that `r` points to
    /// (the reference's `{free, {ptr, r, 1}}` source) and frees `r`.
    pub(super) fn move_to_vm_register(&mut self, src: Arg, dest: Val) {
        // The commonest move, a native register into an addressable x register, straight:
        // the general path below matches the destination three times (its contents, the
        // store, the tracking) for the same forget, store and remember.
        if let (Val::Reg(r), Val::X(x)) = (src.val, dest) {
            if x < MAX_REG {
                self.regs.invalidate_vm_loc(regs::VmLoc::X(x));
                self.put_str(r, CTX_REG, ctx_x_reg(x));
                self.regs.set_contents(r, Contents::x(x));
                return;
            }
        }
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
            (Val::Ptr(boxed), Val::Fp(f)) if src.free => self.term_to_float(boxed, f),
            (Val::Reg(r), _) => self.store_reg_to_vm_register(r, dest),
            (Val::Imm(n), Val::Y(y)) if matches!(n, 0..=255) => {
                let avail = self.available_regs;
                let frame = self.avail(avail);
                let avail1 = avail & !frame.bit();
                let value = self.avail(avail1);
                let rest = avail1 & !value.bit();
                self.put(asm::movs_imm(value, n));
                self.str_y_reg(value, y, frame, rest);
                self.regs.invalidate_reg(frame);
                self.regs.invalidate_reg(value);
                self.forget_hidden_temp(rest);
            }
            (Val::Imm(n), _) => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                self.available_regs = avail & !temp.bit();
                if matches!(n, 0..=255) {
                    self.put(asm::movs_imm(temp, n));
                } else {
                    self.mov_immediate(temp, n);
                }
                self.store_temp_to_vm_register(temp, dest, avail);
            }
            (Val::XExtra | Val::X(_) | Val::Ptr(_), _) => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                let (base, offset) = match src.val {
                    Val::X(x) => (CTX_REG, ctx_x_reg(x)),
                    Val::Ptr(p) => (p, 0),
                    _ => (CTX_REG, ctx_x_reg(MAX_REG)),
                };
                self.put_ldr(temp, base, offset);
                self.available_regs = avail & !temp.bit();
                self.store_temp_to_vm_register(temp, dest, avail);
            }
            (Val::Y(y), _) => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                let rest = avail & !temp.bit();
                self.ldr_y_reg(temp, y, rest);
                self.forget_hidden_temp(rest);
                self.available_regs = rest;
                self.store_temp_to_vm_register(temp, dest, avail);
            }
            _ => self.fail(BackendError::Unsupported("move_to_vm_register operands")),
        }
    }

    /// The code of a store of native register `r` into the VM register `dest` (x, y or a
    /// pointer); no tracking. Always inlined on the host (it was left a call, about 380 K of
    /// them for the 232 beams).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn store_reg_to_vm_register(&mut self, r: Reg, dest: Val) {
        match dest {
            Val::XExtra => self.put_str(r, CTX_REG, ctx_x_reg(MAX_REG)),
            Val::X(x) => self.put_str(r, CTX_REG, ctx_x_reg(x)),
            Val::Ptr(p) => self.put_str(r, p, 0),
            Val::Y(y) => {
                let avail = self.available_regs;
                let temp = self.avail(avail);
                let rest = avail & !temp.bit();
                self.str_y_reg(r, y, temp, rest);
                self.regs.invalidate_reg(temp);
                self.forget_hidden_temp(rest);
            }
            _ => self.fail(BackendError::Unsupported("move_to_vm_register operands")),
        }
    }

    /// Second half of a VM-to-VM move: store the loaded `temp`, then give it back. The
    /// destination's cached copies were forgotten by the caller, and `temp` is forgotten
    /// here, so the tracking a register store does (forget `dest`, remember `temp` as
    /// caching it) is skipped: its net effect would be the same. The store is the register
    /// arm of `move_to_vm_register_emit`, without a second pass through its whole match.
    fn store_temp_to_vm_register(&mut self, temp: Reg, dest: Val, avail_before: u16) {
        self.store_reg_to_vm_register(temp, dest);
        self.regs.invalidate_reg(temp);
        self.available_regs = avail_before;
    }

    /// Copy the float of the boxed term at `src` (header word first) into `fp[f]`.
    fn term_to_float(&mut self, boxed: Reg, f: u32) {
        let avail = self.available_regs;
        let fp_regs = self.avail(avail);
        let word = self.avail(avail & !fp_regs.bit());
        let f = i64::from(f);
        self.put_ldr(fp_regs, CTX_REG, CTX_FP_REGS);
        self.put_ldr(word, boxed, BOXED_FLOAT_DATA_OFFSET);
        if self.variant & u32::from(VARIANT_FLOAT32) == 0 {
            self.put_str(word, fp_regs, f * 8);
            self.put_ldr(word, boxed, BOXED_FLOAT_DATA_OFFSET + 4);
            self.put_str(word, fp_regs, f * 8 + 4);
        } else {
            self.put_str(word, fp_regs, f * 4);
        }
        self.release_reg(boxed);
        self.regs.invalidate_reg(fp_regs);
        self.regs.invalidate_reg(word);
    }

    // ---- term arrays --------------------------------------------------------------------------

    /// `dest = base[index]`. `index` is an immediate, or a register that is consumed (the
    /// reference's `{free, Reg}` index). `dest` is an x/y register, a pointer or a native
    /// register. A freed `base` is only supported with a y-register destination, as in the
    /// reference.
    pub(super) fn move_array_element(&mut self, base: Arg, index: Val, dest: Val) {
        match (base.free, index, dest) {
            (false, Val::Imm(i), _) if !matches!(dest, Val::Reg(_)) => {
                self.move_array_element_imm(base.val, i, dest)
            }
            (true, Val::Imm(i), Val::Y(y)) => {
                let Val::Reg(reg) = base.val else {
                    return self.fail(BackendError::Unsupported("move_array_element base"));
                };
                let avail = self.available_regs;
                let temp = self.avail(avail);
                self.put_ldr(reg, reg, i.saturating_mul(4));
                self.str_y_reg(reg, y, temp, avail & !temp.bit());
                self.regs.invalidate_vm_loc(regs::VmLoc::Y(y));
                self.regs.invalidate_reg(reg);
                self.regs.invalidate_reg(temp);
            }
            (_, Val::Imm(i), Val::Reg(d)) => {
                let Val::Reg(reg) = base.val else {
                    return self.fail(BackendError::Unsupported("move_array_element base"));
                };
                self.put_ldr(d, reg, i.saturating_mul(4));
                self.regs.invalidate_reg(d);
            }
            (false, Val::Reg(idx), Val::X(_) | Val::Ptr(_) | Val::Y(_)) => {
                let Val::Reg(reg) = base.val else {
                    return self.fail(BackendError::Unsupported("move_array_element base"));
                };
                self.move_array_element_indexed(reg, idx, dest)
            }
            _ => self.fail(BackendError::Unsupported("move_array_element operands")),
        }
    }

    /// `move_array_element` with an immediate index and a VM destination.
    fn move_array_element_imm(&mut self, base: Val, index: i64, dest: Val) {
        let Val::Reg(reg) = base else {
            return self.fail(BackendError::Unsupported("move_array_element base"));
        };
        let offset = index.saturating_mul(4);
        let avail = self.available_regs;
        // Beyond the ldr range, the base is advanced by `offset - 124` first.
        let far = offset > MAX_LDR_IMM;
        match dest {
            Val::X(x) if x < MAX_REG => {
                let temp1 = self.avail(avail);
                if far {
                    let temp2 = self.avail(avail & !temp1.bit());
                    self.mov_immediate(temp1, offset - MAX_LDR_IMM);
                    self.put(asm::add_hi(temp1, reg));
                    self.put_ldr(temp2, temp1, MAX_LDR_IMM);
                    self.put_str(temp2, CTX_REG, ctx_x_reg(x));
                    self.regs.invalidate_vm_loc(regs::VmLoc::X(x));
                    self.regs.invalidate_reg(temp1);
                    self.regs.invalidate_reg(temp2);
                } else {
                    self.put_ldr(temp1, reg, offset);
                    self.put_str(temp1, CTX_REG, ctx_x_reg(x));
                    self.regs.invalidate_vm_loc(regs::VmLoc::X(x));
                    self.regs.invalidate_reg(temp1);
                }
            }
            Val::Ptr(p) => {
                let temp = self.avail(avail);
                if far {
                    self.mov_immediate(temp, offset - MAX_LDR_IMM);
                    self.put(asm::add_hi(temp, reg));
                    self.put_ldr(temp, temp, MAX_LDR_IMM);
                } else {
                    self.put_ldr(temp, reg, offset);
                }
                self.put_str(temp, p, 0);
                self.regs.invalidate_reg(temp);
            }
            Val::Y(y) => {
                let frame = self.avail(avail);
                let avail1 = avail & !frame.bit();
                let value = self.avail(avail1);
                let rest = avail1 & !value.bit();
                if far {
                    self.mov_immediate(value, offset - MAX_LDR_IMM);
                    self.put(asm::add_hi(value, reg));
                    self.put_ldr(value, value, MAX_LDR_IMM);
                } else {
                    self.put_ldr(value, reg, offset);
                }
                self.str_y_reg(value, y, frame, rest);
                self.regs.invalidate_vm_loc(regs::VmLoc::Y(y));
                self.regs.invalidate_reg(frame);
                self.regs.invalidate_reg(value);
            }
            _ => self.fail(BackendError::Unsupported("move_array_element destination")),
        }
    }

    /// `move_array_element` with a register index, which is scaled in place and then freed.
    fn move_array_element_indexed(&mut self, base: Reg, index: Reg, dest: Val) {
        let avail_before = self.available_regs;
        self.put(asm::lsls_imm(index, index, 2));
        self.put(asm::ldr_reg(index, base, index));
        match dest {
            Val::X(x) if x < MAX_REG => {
                self.put_str(index, CTX_REG, ctx_x_reg(x));
                self.regs.invalidate_vm_loc(regs::VmLoc::X(x));
                self.regs.invalidate_reg(index);
            }
            Val::Ptr(p) => {
                self.put_str(index, p, 0);
                self.regs.invalidate_reg(index);
            }
            Val::Y(y) => {
                let temp = self.avail(avail_before);
                self.str_y_reg(index, y, temp, avail_before & !temp.bit());
                self.regs.invalidate_reg(index);
                self.regs.invalidate_vm_loc(regs::VmLoc::Y(y));
                self.regs.invalidate_reg(temp);
            }
            _ => return self.fail(BackendError::Unsupported("move_array_element destination")),
        }
        self.release_reg(index);
    }

    /// A register holding `base[index]`: `base` itself when it is freed, else a new one.
    pub(super) fn get_array_element(&mut self, base: Arg, index: u32) -> Reg {
        let Val::Reg(reg) = base.val else {
            self.fail(BackendError::Unsupported("get_array_element base"));
            return R0;
        };
        let offset = i64::from(index) * 4;
        let avail = self.available_regs;
        if base.free {
            if offset <= MAX_LDR_IMM {
                self.put_ldr(reg, reg, offset);
                self.regs.invalidate_reg(reg);
            } else {
                let temp = self.avail(avail);
                self.mov_immediate(temp, offset - MAX_LDR_IMM);
                self.put(asm::add_hi(reg, temp));
                self.put_ldr(reg, reg, MAX_LDR_IMM);
                self.regs.invalidate_reg(reg);
                self.regs.invalidate_reg(temp);
            }
            return reg;
        }
        let elem = self.avail(avail);
        if offset <= MAX_LDR_IMM {
            self.put_ldr(elem, reg, offset);
            self.regs.invalidate_reg(elem);
        } else {
            let temp = self.avail(avail & !elem.bit());
            self.mov_immediate(temp, offset - MAX_LDR_IMM);
            self.put(asm::add_hi(temp, reg));
            self.put_ldr(elem, temp, MAX_LDR_IMM);
            self.regs.invalidate_reg(elem);
            self.regs.invalidate_reg(temp);
        }
        self.take_reg(elem);
        elem
    }

    /// `base[index] = src`; `index` is an immediate or a register (left untouched).
    pub(super) fn move_to_array_element(&mut self, src: Val, base: Reg, index: Val) {
        let Val::Reg(value) = src else {
            let value = self.copy_to_native_register(src);
            self.move_to_array_element(Val::Reg(value), base, index);
            self.release_reg(value);
            return;
        };
        match index {
            Val::Imm(i) if i < 32 => self.put_str(value, base, i.saturating_mul(4)),
            Val::Imm(i) => {
                let temp = self.avail(self.available_regs);
                self.mov_immediate(temp, i.saturating_mul(4) - MAX_LDR_IMM);
                self.put(asm::add_hi(temp, base));
                self.put_str(value, temp, MAX_LDR_IMM);
                self.regs.invalidate_reg(temp);
            }
            Val::Reg(idx) => {
                let temp = self.avail(self.available_regs);
                self.put(asm::mov(temp, idx));
                self.put(asm::lsls_imm(temp, temp, 2));
                self.put(asm::str_reg(value, base, temp));
                self.regs.invalidate_reg(temp);
            }
            _ => self.fail(BackendError::Unsupported("move_to_array_element index")),
        }
    }

    /// `base[index + offset] = src`.
    ///
    /// Like the reference, an immediate index ignores an `offset` whose magnitude is below 8
    /// (`offset div 8` is added, and it is 0): the driver only uses register indexes here.
    pub(super) fn move_to_array_element_offset(
        &mut self,
        src: Val,
        base: Reg,
        index: Val,
        offset: i64,
    ) {
        if let Val::Imm(_) = index {
            if offset / 8 == 0 {
                return self.move_to_array_element(src, base, index);
            }
            return self.fail(BackendError::Unsupported("move_to_array_element offset"));
        }
        let Val::Reg(idx) = index else {
            return self.fail(BackendError::Unsupported("move_to_array_element index"));
        };
        let (value, copied) = match src {
            Val::Reg(r) => (r, false),
            _ => (self.copy_to_native_register(src), true),
        };
        let temp = self.avail(self.available_regs);
        self.put(asm::adds_imm(temp, idx, offset));
        self.put(asm::lsls_imm(temp, temp, 2));
        self.put(asm::str_reg(value, base, temp));
        self.regs.invalidate_reg(temp);
        if copied {
            self.release_reg(value);
        }
    }

    // ---- to native registers ------------------------------------------------------------------

    /// A native register holding `src`, reusing one that already caches it when possible.
    /// The `Val::Reg` case is inlined into the callers on the host, where it cost a call with a
    /// full prologue and epilogue (about a million calls in the compile bench).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(super) fn move_to_native_register(&mut self, src: Val) -> Reg {
        match src {
            Val::Reg(r) => r,
            _ => self.move_to_native_register_load(src),
        }
    }

    /// [`Self::move_to_native_register`] of a value not already in a native register.
    #[cfg_attr(not(target_os = "none"), inline(never))]
    fn move_to_native_register_load(&mut self, src: Val) -> Reg {
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
        if let Val::Ptr(r) = src {
            self.put_ldr(r, r, 0);
            self.regs.invalidate_reg(r);
            return r;
        }
        let avail = self.available_regs;
        let reg = self.avail(avail);
        let rest = avail & !reg.bit();
        match src {
            Val::Cp => self.put_ldr(reg, CTX_REG, CTX_CP),
            Val::XExtra => self.put_ldr(reg, CTX_REG, ctx_x_reg(MAX_REG)),
            Val::X(x) if x < MAX_REG => self.put_ldr(reg, CTX_REG, ctx_x_reg(x)),
            Val::Imm(i) => self.mov_immediate(reg, i),
            Val::Y(y) => {
                self.ldr_y_reg(reg, y, rest);
                self.regs.set_contents(reg, contents);
                self.forget_hidden_temp(rest);
                self.take_reg(reg);
                return reg;
            }
            _ => {
                self.fail(BackendError::Unsupported("move_to_native_register source"));
                return reg;
            }
        }
        self.regs.set_contents(reg, contents);
        self.take_reg(reg);
        reg
    }

    /// Load `src` into the given register `dest` (allocation is the caller's business).
    pub(super) fn move_to_native_register_to(&mut self, src: Val, dest: Reg) {
        match src {
            Val::Reg(r) => {
                self.put(asm::mov(dest, r));
                let contents = self.regs.get_contents(r);
                self.regs.set_contents(dest, contents);
            }
            Val::Imm(i) => {
                self.mov_immediate(dest, i);
                self.regs.set_contents(dest, Contents::Imm(i));
            }
            Val::Ptr(r) => self.put_ldr(dest, r, 0),
            Val::XExtra => self.put_ldr(dest, CTX_REG, ctx_x_reg(MAX_REG)),
            Val::X(x) if x < MAX_REG => self.put_ldr(dest, CTX_REG, ctx_x_reg(x)),
            Val::Y(y) => {
                let avail = self.available_regs;
                self.ldr_y_reg(dest, y, avail);
                self.forget_hidden_temp(avail);
            }
            _ => self.fail(BackendError::Unsupported(
                "move_to_native_register_to source",
            )),
        }
    }

    /// A new register holding a copy of `src` (a native register is duplicated, not shared).
    pub(super) fn copy_to_native_register(&mut self, src: Val) -> Reg {
        match src {
            Val::Reg(r) => {
                let copy = self.avail(self.available_regs);
                self.put(asm::mov(copy, r));
                let contents = self.regs.get_contents(r);
                self.regs.set_contents(copy, contents);
                self.take_reg(copy);
                copy
            }
            Val::Ptr(r) => {
                let copy = self.avail(self.available_regs);
                self.put_ldr(copy, r, 0);
                self.regs.invalidate_reg(copy);
                self.take_reg(copy);
                copy
            }
            _ => self.move_to_native_register(src),
        }
    }

    /// `ctx->cp = y[y]` (only y registers are supported, as in the reference).
    pub(super) fn move_to_cp(&mut self, src: Val) {
        let Val::Y(y) = src else {
            return self.fail(BackendError::Unsupported("move_to_cp source"));
        };
        let avail = self.available_regs;
        let reg = self.avail(avail);
        let rest = avail & !reg.bit();
        self.ldr_y_reg(reg, y, rest);
        self.put_str(reg, CTX_REG, CTX_CP);
        self.regs.invalidate_reg(reg);
        self.forget_hidden_temp(rest);
    }

    /// `ctx->e += words` (words * 4 must fit in 8 bits, as in the reference).
    pub(super) fn increment_sp(&mut self, words: i64) {
        let reg = self.avail(self.available_regs);
        self.put_ldr(reg, CTX_REG, CTX_Y_REGS);
        self.put(asm::adds_imm2(reg, words.saturating_mul(4)));
        self.put_str(reg, CTX_REG, CTX_Y_REGS);
        self.regs.invalidate_reg(reg);
    }

    /// `ctx->bs = term; ctx->bs_offset = 0`.
    pub(super) fn set_bs(&mut self, src: Val) {
        let Val::Reg(term) = src else {
            return self.fail(BackendError::Unsupported("set_bs source"));
        };
        let temp = self.avail(self.available_regs);
        self.put_str(term, CTX_REG, CTX_BS);
        self.put(asm::movs_imm(temp, 0));
        self.put_str(temp, CTX_REG, CTX_BS_OFFSET);
        self.regs.invalidate_reg(temp);
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! Expected bytes come from running the reference backend on the same calls.
    use super::*;
    use crate::compile::backend::Backend;
    use crate::stream::VecSink;
    use alloc::vec::Vec;

    pub(in super::super) type B = Armv6m<VecSink>;

    /// A fresh backend (variant 1 = PIC, or as given) over a strict sink.
    pub(in super::super) fn backend(variant: u32) -> B {
        let mut sink = VecSink::new();
        sink.set_strict(true);
        Armv6m::new(variant, sink)
    }

    pub(in super::super) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Flush pending literals, check no error was recorded, and compare the code.
    #[track_caller]
    pub(in super::super) fn assert_code(b: &mut B, expected: &str) {
        b.flush_literal_pool();
        assert_eq!(b.error(), None);
        assert_eq!(b.sink().as_bytes(), hex(expected).as_slice());
    }

    /// Occupy `n` registers by loading x[n+9] down to x[10] (r7 first).
    pub(in super::super) fn occupy(b: &mut B, n: u32) {
        for x in (10..10 + n).rev() {
            b.move_to_native_register(Val::X(x));
        }
    }

    fn regs(mask: &[Reg]) -> u16 {
        mask.iter().fold(0, |m, r| m | r.bit())
    }

    #[test]
    fn immediates_to_vm_registers() {
        let cases: [(i64, Val, &str); 8] = [
            (77, Val::X(9), "4d27c763"),
            (3, Val::XExtra, "03278765"),
            (200, Val::Y(3), "c8264769fe60"),
            (9, Val::Y(45), "09264769b4253d442e60"),
            (1000, Val::X(2), "fa27bf000762"),
            (-5, Val::X(1), "05277f42c761"),
            (0x12345, Val::X(4), "004f876245230100"),
            (0xabcdef, Val::Y(2), "014f4669b7600000efcdab00"),
        ];
        for (imm, dest, expected) in cases {
            let mut b = backend(1);
            b.move_to_vm_register(Arg::keep(Val::Imm(imm)), dest);
            assert_code(&mut b, expected);
            assert!(b.all_native_free());
        }
    }

    #[test]
    fn vm_registers_to_vm_registers() {
        let cases: [(Val, Val, &str); 6] = [
            (Val::X(4), Val::Y(9), "876a46697762"),
            (Val::XExtra, Val::X(1), "876dc761"),
            (Val::X(7), Val::Ptr(R6), "476b3760"),
            (Val::Y(6), Val::X(2), "4669b7690762"),
            (Val::Y(6), Val::Y(50), "4669b7694669c82535442f60"),
            (Val::Y(40), Val::X(0), "4669a02737443f688761"),
        ];
        for (src, dest, expected) in cases {
            let mut b = backend(1);
            b.move_to_vm_register(Arg::keep(src), dest);
            assert_code(&mut b, expected);
            assert!(b.all_native_free());
        }
    }

    #[test]
    fn native_register_to_vm_registers() {
        let cases: [(Val, &str); 5] = [
            (Val::X(5), "c769c762"),
            (Val::XExtra, "c7698765"),
            (Val::Ptr(R6), "c7693760"),
            (Val::Y(7), "c7694669f761"),
            (Val::Y(33), "c7694669842535442f60"),
        ];
        for (dest, expected) in cases {
            let mut b = backend(1);
            let r = b.move_to_native_register(Val::X(1));
            b.move_to_vm_register(Arg::keep(Val::Reg(r)), dest);
            assert_code(&mut b, expected);
        }
    }

    #[test]
    fn moves_with_few_registers_left_use_ip() {
        let mut b = backend(1);
        let r = b.move_to_native_register(Val::X(1));
        occupy(&mut b, 4);
        b.move_to_vm_register(Arg::keep(Val::Reg(r)), Val::Y(60));
        assert_code(&mut b, "c769c66c856c446c036c41698c46f02161440f60");

        let mut b = backend(1);
        occupy(&mut b, 4);
        b.move_to_vm_register(Arg::keep(Val::Imm(5)), Val::Y(40));
        assert_code(&mut b, "c76c866c456c046c052143699c46a02363441960");

        let mut b = backend(1);
        occupy(&mut b, 4);
        b.move_to_vm_register(Arg::keep(Val::Y(3)), Val::Y(4));
        assert_code(&mut b, "c76c866c456c046c4169cb6841690b61");

        let mut b = backend(1);
        occupy(&mut b, 2);
        b.move_to_vm_register(Arg::keep(Val::Ptr(R6)), Val::Y(1));
        assert_code(&mut b, "476c066c356844696560");
    }

    #[test]
    fn boxed_float_to_fp_register() {
        let mut b = backend(1);
        let r = b.move_to_native_register(Val::X(2));
        b.move_to_vm_register(Arg::free(Val::Ptr(r)), Val::Fp(3));
        assert_code(&mut b, "076a066e7d68b561bd68f561");
        assert!(b.all_native_free());

        let mut b = backend(1 | u32::from(VARIANT_FLOAT32));
        let r = b.move_to_native_register(Val::X(2));
        b.move_to_vm_register(Arg::free(Val::Ptr(r)), Val::Fp(5));
        assert_code(&mut b, "076a066e7d687561");
    }

    #[test]
    fn stored_register_is_reused_for_the_vm_register() {
        let mut b = backend(1);
        let r = b.move_to_native_register(Val::X(1));
        b.move_to_vm_register(Arg::keep(Val::Reg(r)), Val::X(8));
        b.release_reg(r);
        let again = b.move_to_native_register(Val::X(8));
        assert_eq!(again, R7);
        assert_code(&mut b, "c7698763");
        assert_eq!(b.used_regs_mask(), regs(&[R7]));
    }

    #[test]
    fn array_element_to_vm_or_native_register() {
        type Case = (fn(&mut B, Reg), &'static str);
        let cases: [Case; 8] = [
            (
                |b, r| b.move_array_element(Arg::keep(Val::Reg(r)), Val::Imm(3), Val::X(6)),
                "8769fe680663",
            ),
            (
                |b, r| b.move_array_element(Arg::keep(Val::Reg(r)), Val::Imm(40), Val::X(6)),
                "876924263e44f56f0563",
            ),
            (
                |b, r| b.move_array_element(Arg::keep(Val::Reg(r)), Val::Imm(5), Val::Ptr(R3)),
                "87697e691e60",
            ),
            (
                |b, r| b.move_array_element(Arg::keep(Val::Reg(r)), Val::Imm(100), Val::Ptr(R3)),
                "8769ff2615363e44f66f1e60",
            ),
            (
                |b, r| b.move_array_element(Arg::keep(Val::Reg(r)), Val::Imm(2), Val::Y(4)),
                "8769bd6846693561",
            ),
            (
                |b, r| b.move_array_element(Arg::keep(Val::Reg(r)), Val::Imm(33), Val::Y(40)),
                "876908253d44ed6f4669a02434442560",
            ),
            (
                |b, r| b.move_array_element(Arg::free(Val::Reg(r)), Val::Imm(2), Val::Y(11)),
                "8769bf684669f762",
            ),
            (
                |b, r| {
                    let dest = b.move_to_native_register(Val::X(1));
                    b.move_array_element(Arg::keep(Val::Reg(r)), Val::Imm(4), Val::Reg(dest))
                },
                "8769c6693e69",
            ),
        ];
        for (f, expected) in cases {
            let mut b = backend(1);
            let r = b.move_to_native_register(Val::X(0));
            f(&mut b, r);
            assert_code(&mut b, expected);
        }
    }

    #[test]
    fn array_element_at_register_index_frees_the_index() {
        let cases: [(Val, &str); 3] = [
            (Val::X(12), "8769c669b600be598664"),
            (Val::Ptr(R4), "8769c669b600be592660"),
            (Val::Y(2), "8769c669b600be594569ae60"),
        ];
        for (dest, expected) in cases {
            let mut b = backend(1);
            let base = b.move_to_native_register(Val::X(0));
            let index = b.move_to_native_register(Val::X(1));
            b.move_array_element(Arg::keep(Val::Reg(base)), Val::Reg(index), dest);
            assert_code(&mut b, expected);
            assert_eq!(b.used_regs_mask(), regs(&[R7]));
        }
    }

    #[test]
    fn get_array_element_reuses_a_freed_base() {
        let cases: [(bool, u32, &str, Reg); 4] = [
            (true, 6, "8769bf69", R7),
            (true, 50, "87694c263744ff6f", R7),
            (false, 7, "8769fe69", R6),
            (false, 64, "876984253d44ee6f", R6),
        ];
        for (free, index, expected, result) in cases {
            let mut b = backend(1);
            let base = b.move_to_native_register(Val::X(0));
            let base = if free {
                Arg::free(Val::Reg(base))
            } else {
                Arg::keep(Val::Reg(base))
            };
            assert_eq!(b.get_array_element(base, index), result);
            assert_code(&mut b, expected);
            let used = if free { regs(&[R7]) } else { regs(&[R7, R6]) };
            assert_eq!(b.used_regs_mask(), used);
        }
    }

    #[test]
    fn store_into_array_element() {
        type Case = (fn(&mut B, Reg, Reg, Reg), &'static str);
        let cases: [Case; 11] = [
            (
                |b, base, v, _| b.move_to_array_element(Val::Reg(v), base, Val::Imm(9)),
                "7e62",
            ),
            (
                |b, base, v, _| b.move_to_array_element(Val::Reg(v), base, Val::Imm(40)),
                "24243c44e667",
            ),
            (
                |b, base, v, i| b.move_to_array_element(Val::Reg(v), base, Val::Reg(i)),
                "2c46a4003e51",
            ),
            (
                |b, base, _, _| b.move_to_array_element(Val::Imm(42), base, Val::Imm(2)),
                "2a24bc60",
            ),
            (
                |b, base, _, _| b.move_to_array_element(Val::X(3), base, Val::Imm(1)),
                "446a7c60",
            ),
            (
                |b, base, _, i| b.move_to_array_element(Val::Y(3), base, Val::Reg(i)),
                "4369dc682b469b00fc50",
            ),
            (
                |b, base, v, _| b.move_to_array_element_offset(Val::Reg(v), base, Val::Imm(3), 2),
                "fe60",
            ),
            (
                |b, base, v, _| b.move_to_array_element_offset(Val::Reg(v), base, Val::Imm(3), -7),
                "fe60",
            ),
            (
                |b, base, v, i| b.move_to_array_element_offset(Val::Reg(v), base, Val::Reg(i), 2),
                "ac1ca4003e51",
            ),
            (
                |b, base, _, i| b.move_to_array_element_offset(Val::Imm(99), base, Val::Reg(i), 1),
                "63246b1c9b00fc50",
            ),
            (
                |b, base, _, i| b.move_to_array_element_offset(Val::Y(2), base, Val::Reg(i), 1),
                "43699c686b1c9b00fc50",
            ),
        ];
        for (f, expected) in cases {
            let mut b = backend(1);
            let base = b.move_to_native_register(Val::X(0));
            let value = b.move_to_native_register(Val::X(1));
            let index = b.move_to_native_register(Val::X(2));
            let used = b.used_regs_mask();
            f(&mut b, base, value, index);
            let mut all = hex("8769c669056a");
            all.extend(hex(expected));
            b.flush_literal_pool();
            assert_eq!(b.error(), None);
            assert_eq!(b.sink().as_bytes(), all.as_slice(), "{expected}");
            assert_eq!(b.used_regs_mask(), used, "{expected}");
        }
    }

    #[test]
    fn storing_a_cached_value_frees_the_register_caching_it() {
        // The value is copied through `move_to_native_register`, which finds x0 in the base
        // register and hands that out; freeing the "copy" then frees the base, as the
        // reference does.
        let mut b = backend(1);
        let base = b.move_to_native_register(Val::X(0));
        b.move_to_native_register(Val::X(1));
        let index = b.move_to_native_register(Val::X(2));
        b.move_to_array_element_offset(Val::X(0), base, Val::Reg(index), 1);
        assert_code(&mut b, "8769c669056a6c1ca4003f51");
        assert_eq!(b.used_regs_mask(), regs(&[R6, R5]));
    }

    #[test]
    fn load_into_new_native_register() {
        let cases: [(Val, &str, Reg); 7] = [
            (Val::X(11), "476c", R7),
            (Val::XExtra, "876d", R7),
            (Val::Y(12), "4669376b", R7),
            (Val::Y(44), "4669b02737443f68", R7),
            (Val::Cp, "c76d", R7),
            (Val::Imm(300), "ff272d37", R7),
            (Val::Imm(-100000), "004f00006079feff", R7),
        ];
        for (src, expected, result) in cases {
            let mut b = backend(1);
            assert_eq!(b.move_to_native_register(src), result);
            assert_code(&mut b, expected);
            assert_eq!(b.used_regs_mask(), regs(&[result]));
        }
        let mut b = backend(1);
        occupy(&mut b, 5);
        assert_eq!(b.move_to_native_register(Val::Y(5)), R1);
        assert_code(&mut b, "076dc66c856c446c036c41694969");
        assert_eq!(b.available_regs_mask(), 0);
    }

    #[test]
    fn cached_values_are_not_reloaded() {
        let mut b = backend(1);
        let r = b.move_to_native_register(Val::X(3));
        let p = b.move_to_native_register(Val::Ptr(r));
        assert_eq!(p, r);
        assert_code(&mut b, "476a3f68");

        // Still allocated: shared without code.
        let mut b = backend(1);
        let r = b.move_to_native_register(Val::X(3));
        assert_eq!(b.move_to_native_register(Val::X(3)), r);
        assert_code(&mut b, "476a");
        // Freed but still holding x3: allocated again without code.
        b.release_reg(r);
        assert_eq!(b.move_to_native_register(Val::X(3)), r);
        assert_code(&mut b, "476a");
        assert_eq!(b.used_regs_mask(), regs(&[r]));

        let mut b = backend(1);
        let r = b.move_to_native_register(Val::Imm(7));
        assert_eq!(b.move_to_native_register(Val::Imm(7)), r);
        assert_code(&mut b, "0727");
    }

    #[test]
    fn load_into_given_register() {
        type Case = (fn(&mut B), &'static str);
        let cases: [Case; 7] = [
            (
                |b| {
                    let r = b.move_to_native_register(Val::X(3));
                    b.move_to_native_register_to(Val::Reg(r), R3)
                },
                "476a3b46",
            ),
            (
                |b| b.move_to_native_register_to(Val::Imm(1234567), R4),
                "004c000087d61200",
            ),
            (
                |b| {
                    let r = b.move_to_native_register(Val::X(3));
                    b.move_to_native_register_to(Val::Ptr(r), R5)
                },
                "476a3d68",
            ),
            (|b| b.move_to_native_register_to(Val::X(9), R1), "c16b"),
            (|b| b.move_to_native_register_to(Val::XExtra, R3), "836d"),
            (|b| b.move_to_native_register_to(Val::Y(9), R6), "47697e6a"),
            (
                |b| {
                    occupy(b, 6);
                    b.move_to_native_register_to(Val::Y(55), R2)
                },
                "476d066dc56c846c436c016c42699446dc2262441268",
            ),
        ];
        for (f, expected) in cases {
            let mut b = backend(1);
            f(&mut b);
            assert_code(&mut b, expected);
        }
    }

    #[test]
    fn copies_get_a_new_register() {
        type Case = (fn(Reg) -> Val, &'static str);
        let cases: [Case; 3] = [
            (Val::Reg, "476a3e46"),
            (Val::Ptr, "476a3e68"),
            (|_| Val::Y(1), "476a45696e68"),
        ];
        for (src, expected) in cases {
            let mut b = backend(1);
            let r = b.move_to_native_register(Val::X(3));
            assert_eq!(b.copy_to_native_register(src(r)), R6);
            assert_code(&mut b, expected);
            assert_eq!(b.used_regs_mask(), regs(&[R7, R6]));
        }
    }

    #[test]
    fn cp_stack_and_binary_state() {
        let mut b = backend(1);
        b.move_to_cp(Val::Y(4));
        assert_code(&mut b, "46693769c765");

        let mut b = backend(1);
        b.move_to_cp(Val::Y(36));
        assert_code(&mut b, "4669902737443f68c765");

        let mut b = backend(1);
        b.increment_sp(11);
        assert_code(&mut b, "47692c374761");

        let mut b = backend(1);
        occupy(&mut b, 2);
        b.increment_sp(3);
        assert_code(&mut b, "476c066c45690c354561");

        let mut b = backend(1);
        let r = b.move_to_native_register(Val::X(3));
        b.set_bs(Val::Reg(r));
        assert_code(&mut b, "476a476600268666");
    }

    #[test]
    fn unencodable_operands_are_errors_not_panics() {
        let mut b = backend(1);
        b.move_to_native_register_to(Val::Y(70), R2);
        assert!(b.error().is_some());

        let mut b = backend(1);
        b.increment_sp(64);
        assert!(b.error().is_some());

        let mut b = backend(1);
        b.move_to_vm_register(Arg::keep(Val::Imm(1)), Val::Fp(0));
        assert!(b.error().is_some());

        let mut b = backend(1);
        occupy(&mut b, 6);
        b.move_to_vm_register(Arg::keep(Val::X(0)), Val::X(1));
        assert_eq!(b.error(), Some(BackendError::OutOfRegisters));
    }
}

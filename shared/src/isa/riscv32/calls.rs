//! Calls: primitives through the native interface table (a2), function pointers with the
//! caller-saved registers on the stack, and tail calls (`call_primitive_last`).
//!
//! Arguments go in a0..a7 (a 64-bit value takes the next pair starting at a0, a1 or a2).
//! Registers are saved as the reference saves them: ra, a0, a1, a2 and the live scratch
//! registers, in a frame rounded up to 16 bytes.

use super::asm::{self, XReg};
use super::names::*;
use super::{
    first_avail, mask_to_list, regs_to_mask, xr, Riscv32, AVAILABLE_REGS_MASK, CTX_REG,
    JITSTATE_REG, NATIVE_INTERFACE_REG, PARAMETER_REGS,
};
use crate::abi::context::{ctx_x_reg, MAX_REG};
use crate::compile::backend::{Arg, BackendError, FuncPtr, Reg, Val};
use crate::isa::fixed_vec::FixedVec;
use crate::stream::CodeSink;

/// A saved register: one of the backend's registers, or `ra`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Saved {
    Ra,
    R(Reg),
}

impl Saved {
    fn x(self) -> XReg {
        match self {
            Saved::Ra => XReg::RA,
            Saved::R(r) => xr(r),
        }
    }
}

/// What the reference's `args_regs` gives for one argument: a register, or none.
#[inline]
fn args_regs_entry(arg: &Arg) -> Option<Reg> {
    super::arg_reg(arg)
}

/// The reference's `arg_to_reg_list`: registers a call argument occupies for saving (plain or
/// freed registers, freed pointers).
#[inline]
fn arg_to_reg(arg: &Arg) -> Option<Reg> {
    match (arg.val, arg.free) {
        (Val::Reg(r), _) | (Val::Ptr(r), true) => Some(r),
        _ => None,
    }
}

/// Most arguments a call passes: one per parameter register.
const MAX_CALL_ARGS: usize = 8;
/// Saved around a call: ra, a0, a1, a2 and up to 15 live registers.
const MAX_SAVED: usize = 19;

type ParamRegs = FixedVec<Reg, MAX_CALL_ARGS>;
type CallArgs = FixedVec<Arg, MAX_CALL_ARGS>;

/// Parameter registers for `args`; `None` when they do not fit in a0..a7 (the reference
/// crashes).
fn parameter_regs(args: &[Arg]) -> Option<ParamRegs> {
    let mut regs = ParamRegs::new(A0);
    let mut next = 0usize;
    for arg in args {
        if let Val::Int64(_) = arg.val {
            // The pair must start at a0, a1 or a2.
            if next > 2 {
                return None;
            }
            regs.push(PARAMETER_REGS[next]).ok()?;
            regs.push(PARAMETER_REGS[next + 1]).ok()?;
            next += 2;
        } else {
            regs.push(*PARAMETER_REGS.get(next)?).ok()?;
            next += 1;
        }
    }
    Some(regs)
}

/// A call argument after expanding 64-bit values: the value and the register it occupied.
#[derive(Clone, Copy)]
struct Work {
    val: Val,
    occupied: Option<Reg>,
}

impl<S: CodeSink> Riscv32<S> {
    /// `target = native_interface[primitive]`.
    pub(super) fn load_primitive_ptr(&mut self, primitive: u32, target: Reg) {
        let t = xr(target);
        let ni = xr(NATIVE_INTERFACE_REG);
        let offset = i64::from(primitive) * 4;
        if offset <= 124 {
            self.put(asm::lw(t, ni, offset));
        } else if offset < 256 {
            self.put_seq(asm::li(t, offset));
            self.put_i(asm::add(t, t, ni));
            self.put(asm::lw(t, t, 0));
        } else {
            self.put_seq(asm::li(t, i64::from(primitive)));
            self.put(asm::slli(t, t, 2));
            self.put_i(asm::add(t, t, ni));
            self.put(asm::lw(t, t, 0));
        }
    }

    pub(super) fn call_primitive(&mut self, primitive: u32, args: &[Arg]) -> Reg {
        match first_avail(self.available_regs) {
            Some(temp) => {
                self.load_primitive_ptr(primitive, temp);
                self.take_reg(temp);
                self.regs.invalidate_reg(temp);
                self.call_func_ptr(FuncPtr::Reg(temp), args)
            }
            None => self.call_func_ptr(FuncPtr::Primitive(primitive), args),
        }
    }

    pub(super) fn call_primitive_last(&mut self, primitive: u32, args: &[Arg]) {
        let param_mask = regs_to_mask(PARAMETER_REGS.iter().copied().take(args.len()));
        let scratch = AVAILABLE_REGS_MASK & !(super::args_mask(args) | param_mask);
        let temp = self.avail(scratch);
        let avail1 = scratch & !temp.bit();
        self.available_regs = avail1;
        self.used_regs = AVAILABLE_REGS_MASK & !avail1;
        self.load_primitive_ptr(primitive, temp);
        self.regs.invalidate_reg(temp);
        self.call_offset = self.cur_offset();
        match args {
            [first, second, rest @ ..] if second.val == Val::JitState => {
                let mut tail = CallArgs::new(*first);
                let mut full = tail.push(*first).is_err();
                full |= tail
                    .push(Arg {
                        val: Val::JitStateTailCall,
                        free: second.free,
                    })
                    .is_err();
                for a in rest {
                    full |= tail.push(*a).is_err();
                }
                if full {
                    self.unsupported("call arguments beyond a0-a7");
                } else {
                    self.set_registers_args(&tail);
                    self.put_i(asm::jr(xr(temp)));
                }
            }
            _ => self.unsupported("call_primitive_last without jit_state second"),
        }
        self.available_regs = AVAILABLE_REGS_MASK;
        self.used_regs = 0;
        self.regs.invalidate_all();
    }

    pub(super) fn call_func_ptr(&mut self, func: FuncPtr, args: &[Arg]) -> Reg {
        let avail0 = self.available_regs;
        let used0 = self.used_regs;
        let mut free_mask = 0u16;
        if let FuncPtr::Reg(r) = func {
            free_mask |= r.bit();
        }
        for a in args {
            if let (true, Val::Reg(r) | Val::Ptr(r)) = (a.free, a.val) {
                free_mask |= r.bit();
            }
        }
        let used1 = used0 & !free_mask;
        let mut saved: FixedVec<Saved, MAX_SAVED> = FixedVec::new(Saved::Ra);
        // At most 4 + 15 registers: the pushes cannot fail.
        let _ = saved.push(Saved::Ra);
        for r in [CTX_REG, JITSTATE_REG, NATIVE_INTERFACE_REG]
            .into_iter()
            .chain(mask_to_list(used1))
        {
            let _ = saved.push(Saved::R(r));
        }
        let avail1 = (free_mask & AVAILABLE_REGS_MASK) | avail0;
        let frame = (saved.len() as i64 * 4 + 15) / 16 * 16;

        // push_registers
        self.put(asm::addi(XReg::SP, XReg::SP, -frame));
        for (i, r) in saved.iter().enumerate() {
            self.put(asm::sw(XReg::SP, r.x(), i as i64 * 4));
        }
        self.call_offset = self.cur_offset();

        let reg_args_mask = regs_to_mask(args.iter().filter_map(arg_to_reg));
        let set_args_mask = (used1 & !reg_args_mask) | avail0;
        self.available_regs = set_args_mask;
        self.used_regs = AVAILABLE_REGS_MASK & !set_args_mask;

        let Some(params) = parameter_regs(args) else {
            self.unsupported("call arguments beyond a0-a7");
            return T6;
        };
        // The arguments, copied only when the function pointer's register shuffle rewrites one.
        let mut shuffled: Option<CallArgs> = None;
        let param_mask = regs_to_mask(params.iter().copied());
        let (set_avail, fp_reg) = match func {
            FuncPtr::Reg(fp0) => {
                if param_mask & fp0.bit() != 0 {
                    let avail_not_param = set_args_mask & !param_mask;
                    if avail_not_param == 0 {
                        let new_arg_reg = self.avail(set_args_mask);
                        let fp1 = self.avail(reg_args_mask & !param_mask);
                        self.put_i(asm::mv(xr(new_arg_reg), xr(fp1)));
                        self.put_i(asm::mv(xr(fp1), xr(fp0)));
                        let mut copy = copy_args(args);
                        if !replace_reg(&mut copy, fp1, new_arg_reg) {
                            self.unsupported("function pointer register shuffle");
                        }
                        shuffled = Some(copy);
                        ((set_args_mask & !fp1.bit()) | fp0.bit(), fp1)
                    } else {
                        let fp1 = self.avail(avail_not_param);
                        self.put_i(asm::mv(xr(fp1), xr(fp0)));
                        ((set_args_mask & !fp1.bit()) | fp0.bit(), fp1)
                    }
                } else {
                    (set_args_mask & !fp0.bit(), fp0)
                }
            }
            FuncPtr::Primitive(p) => {
                let fp0 = self.avail(set_args_mask & !param_mask);
                self.load_primitive_ptr(p, fp0);
                (set_args_mask & !fp0.bit(), fp0)
            }
        };
        self.available_regs = set_avail;
        self.used_regs = AVAILABLE_REGS_MASK & !set_avail;
        let reg_args: &[Arg] = shuffled.as_deref().unwrap_or(args);
        self.set_registers_args_to(reg_args, &params);

        self.put(asm::jalr(XReg::RA, xr(fp_reg), 0));

        let result = match func {
            FuncPtr::Reg(r0) if saved.len() >= 7 => {
                match saved.iter().position(|s| *s == Saved::R(r0)) {
                    Some(index) => {
                        self.put(asm::sw(XReg::SP, XReg::A0, index as i64 * 4));
                    }
                    None => self.put_i(asm::mv(xr(r0), XReg::A0)),
                }
                r0
            }
            FuncPtr::Reg(r1) => {
                self.put_i(asm::mv(xr(r1), XReg::A0));
                r1
            }
            FuncPtr::Primitive(_) => {
                let r = self.avail(avail1);
                self.put_i(asm::mv(xr(r), XReg::A0));
                r
            }
        };
        let used2 = used1 | result.bit();

        // pop_registers
        for (i, r) in saved.iter().enumerate() {
            self.put(asm::lw(r.x(), XReg::SP, i as i64 * 4));
        }
        self.put(asm::addi(XReg::SP, XReg::SP, frame));

        self.available_regs = (avail1 & !result.bit()) & AVAILABLE_REGS_MASK;
        self.used_regs = used2;
        self.regs.invalidate_all();
        result
    }

    /// `set_registers_args` with the parameter registers computed from `args`.
    pub(super) fn set_registers_args(&mut self, args: &[Arg]) {
        match parameter_regs(args) {
            Some(params) => self.set_registers_args_to(args, &params),
            None => self.unsupported("call arguments beyond a0-a7"),
        }
    }

    /// Load `args` into `params` in order; a parameter register that a later argument still
    /// needs is first copied to a free scratch register.
    fn set_registers_args_to(&mut self, args: &[Arg], params: &[Reg]) {
        let used = self.used_regs;
        let param_mask = regs_to_mask(params.iter().copied());
        let args_mask = super::args_mask(args);
        let scratch_mask = AVAILABLE_REGS_MASK & !(param_mask | args_mask | used);
        let mut scratch = mask_to_list(scratch_mask);

        let none = Work {
            val: Val::Imm(0),
            occupied: None,
        };
        let mut work: FixedVec<Work, MAX_CALL_ARGS> = FixedVec::new(none);
        let mut full = false;
        for arg in args {
            match arg.val {
                Val::Int64(v) => {
                    for half in [v & 0xFFFF_FFFF, (v >> 32) & 0xFFFF_FFFF] {
                        full |= work
                            .push(Work {
                                val: Val::Imm(half),
                                occupied: None,
                            })
                            .is_err();
                    }
                }
                val => {
                    full |= work
                        .push(Work {
                            val,
                            occupied: args_regs_entry(arg),
                        })
                        .is_err()
                }
            }
        }
        if full || work.len() != params.len() {
            return self.unsupported("argument/parameter count mismatch");
        }
        for i in 0..work.len() {
            let val = work[i].val;
            let param = params[i];
            if param == CTX_REG {
                if val != Val::Ctx {
                    if work[i + 1..].iter().any(|w| w.occupied == Some(CTX_REG)) {
                        return self.unsupported("ctx needed after its parameter slot");
                    }
                    self.set_register_arg(val, CTX_REG);
                }
                continue;
            }
            if work[i + 1..].iter().any(|w| w.occupied == Some(param)) {
                let Some(save) = scratch.next() else {
                    return self.fail(BackendError::OutOfRegisters);
                };
                self.put_i(asm::mv(xr(save), xr(param)));
                self.set_register_arg(val, param);
                match work[i + 1..].iter_mut().find(|w| w.val == Val::Reg(param)) {
                    Some(later) => later.val = Val::Reg(save),
                    None => return self.unsupported("argument register shuffle"),
                }
            } else {
                self.set_register_arg(val, param);
            }
        }
        let mut new_used = used;
        for arg in args {
            if let (true, Val::Reg(r) | Val::Ptr(r)) = (arg.free, arg.val) {
                new_used &= !r.bit();
            }
        }
        self.available_regs = AVAILABLE_REGS_MASK & !(param_mask | new_used);
        self.used_regs = param_mask | new_used;
    }

    fn set_register_arg(&mut self, val: Val, reg: Reg) {
        let r = xr(reg);
        match val {
            Val::Reg(src) if src == reg => {}
            Val::Ctx if reg == CTX_REG => {}
            Val::JitState => {
                if reg != JITSTATE_REG {
                    self.put_i(asm::mv(r, xr(JITSTATE_REG)));
                }
            }
            Val::JitStateTailCall if reg == JITSTATE_REG => {}
            Val::XExtra => self.put(asm::lw(r, xr(CTX_REG), ctx_x_reg(MAX_REG))),
            Val::X(x) => self.put(asm::lw(r, xr(CTX_REG), ctx_x_reg(x))),
            Val::Ptr(src) => self.put(asm::lw(r, xr(src), 0)),
            Val::Y(y) => {
                let avail = self.available_regs;
                self.ldr_y_reg(reg, y, avail);
            }
            Val::Reg(src) => self.put_i(asm::mv(r, xr(src))),
            Val::Imm(v) if (-0x8000_0000..0x1_0000_0000).contains(&v) => self.li(reg, v),
            Val::Offset => self.li(reg, self.call_offset as i64),
            _ => self.unsupported("call argument kind"),
        }
    }
}

/// A copy of `args` (the caller checked there are at most [`MAX_CALL_ARGS`]).
fn copy_args(args: &[Arg]) -> CallArgs {
    let mut copy = CallArgs::new(Arg::keep(Val::Imm(0)));
    for a in args.iter().take(MAX_CALL_ARGS) {
        let _ = copy.push(*a);
    }
    copy
}

/// Replace the first `reg` argument (plain or freed) by `replacement`.
fn replace_reg(args: &mut [Arg], reg: Reg, replacement: Reg) -> bool {
    match args.iter_mut().find(|a| a.val == Val::Reg(reg)) {
        Some(a) => {
            *a = Arg::keep(Val::Reg(replacement));
            true
        }
        None => false,
    }
}

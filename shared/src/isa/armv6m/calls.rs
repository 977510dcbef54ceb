//! Calls to runtime primitives and function pointers, and AAPCS argument marshalling.
//!
//! A call saves ctx (r0), the native interface (r2) and every live allocated register, padding
//! the push to an even count (8-byte stack alignment); arguments 5 and 6 go on the stack. A
//! tail call ("last") restores the prologue registers and jumps, so nothing is saved.

use super::asm;
use super::branches::{EPILOGUE_REGS, STACK_OFFSET_LR};
use super::moves::{ctx_x_reg, MAX_REG};
use super::names::*;
use super::{
    first_avail, mask_to_list, regs_to_mask, Armv6m, AVAILABLE_REGS_MASK, CTX_REG,
    NATIVE_INTERFACE_REG, PARAMETER_REGS, SCRATCH_REGS_MASK, STACK_OFFSET_JITSTATE,
};
use crate::compile::backend::{Arg, BackendError, FuncPtr, Reg, Val};
use crate::isa::fixed_vec::FixedVec;
use crate::stream::CodeSink;

/// Most arguments a call takes (4 in registers, 2 on the stack).
const MAX_CALL_ARGS: usize = 6;
/// Argument words loaded into r0-r3 (64-bit values take two).
type ParamRegs = FixedVec<Reg, 4>;

/// `pop {r1, r4-r7, pc}`: the epilogue, encoded once.
const EPILOGUE_POP: Result<asm::Insn, asm::AsmError> = asm::pop_bits(
    (1 << EPILOGUE_REGS[0].0)
        + (1 << EPILOGUE_REGS[1].0)
        + (1 << EPILOGUE_REGS[2].0)
        + (1 << EPILOGUE_REGS[3].0)
        + (1 << EPILOGUE_REGS[4].0)
        + (1 << EPILOGUE_REGS[5].0),
);

/// [`EPILOGUE_POP`]'s halfword (a list of low registers and pc: always encodable).
const EPILOGUE_POP_HALFWORD: u16 = match EPILOGUE_POP {
    Ok(insn) => insn.halfword(),
    Err(_) => panic!("the epilogue's register list does not encode"),
};

/// [`Armv6m::tail_call_with_jit_state_registers_only`] of r7: `ldr r6, [sp, #lr]`,
/// `str r7, [sp, #lr]`, `mov lr, r6`, then the epilogue's `pop`.
const TAIL_CALL_R7: [u16; 4] = [
    asm::LDR_SP | (6 << 8) | (STACK_OFFSET_LR as u16 / 4),
    asm::STR_SP | (7 << 8) | (STACK_OFFSET_LR as u16 / 4),
    asm::mov(LR, R6).halfword(),
    EPILOGUE_POP_HALFWORD,
];

/// Bytes reserved on the stack for arguments 5 and 6 (one 8-byte aligned slot pair).
const STACK_ARGS_SIZE: i64 = 8;

/// `add sp, #STACK_ARGS_SIZE`: releases the stack arguments' slots.
const ADD_SP_STACK_ARGS: u16 = 0xB000 | (STACK_ARGS_SIZE as u16 / 4);

/// What a call needs to know about its arguments, gathered in one pass over them (no helper
/// call or copy per argument): the masks and whether the common case applies.
#[derive(Clone, Copy, Default)]
struct ArgsPlan {
    /// Registers the arguments occupy for saving/clobbering (plain and freed registers, freed
    /// pointers): all of them, and those of the first four (loaded into r0-r3).
    call_regs: u16,
    reg_args_call_regs: u16,
    /// Registers the call frees (`{free, Reg}`, `{free, {ptr, Reg}}`).
    freed: u16,
    /// Native registers the arguments are in, or point through (the reference's `args_regs`
    /// but for ctx, through which VM registers are reached: the masks this serves keep only
    /// allocatable registers).
    arg_regs: u16,
    /// A 64-bit value among the first four: the parameters are not simply r0, r1, ...
    int64: bool,
    /// Among the first four, a parameter register r1-r3 holds a later argument (it must be
    /// copied away before it is overwritten).
    conflict: bool,
}

/// For an argument in a native register (`Reg`, `Ptr`, `PtrOffset`): the register's bit as
/// an argument's register, as a register the call saves/clobbers (plain and freed registers,
/// freed pointers) and as a register the call frees.
#[inline(always)]
fn native_arg(arg: &Arg) -> Option<(u16, u16, u16)> {
    match arg.val {
        Val::Reg(r) => {
            let bit = r.bit();
            Some((bit, bit, if arg.free { bit } else { 0 }))
        }
        Val::Ptr(r) => {
            let bit = r.bit();
            let freed = if arg.free { bit } else { 0 };
            Some((bit, freed, freed))
        }
        Val::PtrOffset(r, _) => Some((r.bit(), 0, 0)),
        _ => None,
    }
}

/// Whether an argument is in a native register (or points through one) or is 64-bit: what
/// [`ArgsPlan`] is about.
#[inline(always)]
fn in_register_or_wide(val: &Val) -> bool {
    matches!(
        val,
        Val::Reg(_) | Val::Ptr(_) | Val::PtrOffset(..) | Val::Int64(_)
    )
}

impl ArgsPlan {
    /// The plan for `args`. Only the arguments in native registers add to the masks; the
    /// others (ctx, jit_state, VM registers, immediates) are skipped. Inlined into the two
    /// callers on the host, where the plan then stays in registers.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn new(args: &[Arg]) -> Self {
        // Nearly every call passes only ctx, jit_state, VM registers and immediates: nothing
        // for the masks and no 64-bit value, so the plan is empty. One test per argument finds
        // that (the full pass cost about 13 instructions an argument on the host).
        if !args.iter().any(|arg| in_register_or_wide(&arg.val)) {
            return ArgsPlan::default();
        }
        Self::full(args)
    }

    /// [`Self::new`] in one forward pass over the arguments.
    #[cfg_attr(not(target_os = "none"), inline(never))]
    #[cfg_attr(target_os = "none", inline)]
    fn full(args: &[Arg]) -> Self {
        let (reg_args, stack_args) = args.split_at(args.len().min(4));
        // The masks in locals, `arg_regs` and `call_regs` packed in one word: on the device
        // the plan's fields and a table of the held registers lived on the stack (127
        // instructions a call).
        let mut regs_calls = 0u32;
        let mut freed = 0u16;
        let mut held = 0u16;
        let mut int64 = false;
        for (i, arg) in reg_args.iter().enumerate() {
            if let Some((reg, call, free)) = native_arg(arg) {
                // Parameter registers held by a later one of the first four arguments
                // (counting from 0): r1 by argument 2 or 3, r2 by argument 3 (r0 is handled
                // apart, r3 is the last): the bits below `i`, less r0's.
                held |= reg & ((1u16 << i) - 1) & 0b110;
                regs_calls |= u32::from(reg) | (u32::from(call) << 16);
                freed |= free;
            } else if let Val::Int64(_) = arg.val {
                int64 = true;
            }
        }
        let reg_args_call_regs = (regs_calls >> 16) as u16;
        for arg in stack_args {
            if let Some((reg, call, free)) = native_arg(arg) {
                regs_calls |= u32::from(reg) | (u32::from(call) << 16);
                freed |= free;
            }
        }
        ArgsPlan {
            call_regs: (regs_calls >> 16) as u16,
            reg_args_call_regs,
            freed,
            arg_regs: regs_calls as u16,
            int64,
            conflict: held != 0,
        }
    }

    /// The parameter registers of the first `count` (at most 4) arguments, with their mask,
    /// without building a list when there is no 64-bit value among them (`list` holds the
    /// general case's); `None` when they do not fit in r0-r3.
    #[inline(always)]
    fn params<'a>(&self, args: &[Arg], list: &'a mut ParamRegs) -> Option<(&'a [Reg], u16)> {
        if !self.int64 {
            if let Some(params) = PARAMETER_REGS.get(..args.len()) {
                return Some((params, (1u16 << args.len()) - 1));
            }
        }
        *list = parameter_regs(args)?;
        Some((list, regs_to_mask(list.iter().copied())))
    }

    /// Whether each of the first four arguments can go straight to its parameter register,
    /// in order, as the general shuffle would put it: no 64-bit value to expand and no
    /// parameter register holding a later argument.
    #[inline]
    fn direct(&self) -> bool {
        !self.int64 && !self.conflict
    }
}

/// AAPCS parameter registers for `args`: one each, two (an even/odd pair) for a 64-bit value.
/// `None` when they do not fit in r0-r3.
#[inline]
fn parameter_regs(args: &[Arg]) -> Option<ParamRegs> {
    let mut regs = ParamRegs::new(R0);
    let mut next = 0;
    for arg in args {
        if let Val::Int64(_) = arg.val {
            // Pairs start on an even register.
            let lo = next + (next & 1);
            if lo + 1 >= PARAMETER_REGS.len() {
                return None;
            }
            regs.push(PARAMETER_REGS[lo]).ok()?;
            regs.push(PARAMETER_REGS[lo + 1]).ok()?;
            next = lo + 2;
        } else {
            regs.push(*PARAMETER_REGS.get(next)?).ok()?;
            next += 1;
        }
    }
    Some(regs)
}

impl<S: CodeSink> Armv6m<S> {
    /// `target = native_interface[primitive]`. Inlined on the host (a call cost about as much
    /// as the load it emits).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn load_primitive_ptr(&mut self, primitive: u32, target: Reg) {
        let offset = i64::from(primitive) * 4;
        if offset <= 124 {
            self.put_ldr(target, NATIVE_INTERFACE_REG, offset);
        } else if offset < 256 {
            self.put(asm::movs_imm(target, offset));
            self.put(asm::ldr_reg(target, NATIVE_INTERFACE_REG, target));
        } else {
            self.put(asm::movs_imm(target, i64::from(primitive)));
            self.put(asm::lsls_imm(target, target, 2));
            self.put(asm::ldr_reg(target, NATIVE_INTERFACE_REG, target));
        }
    }

    /// Record that an instruction of a known sequence has no short form. Never happens: the
    /// sequences' registers are allocatable (low) ones and their offsets constants in range,
    /// and the long forms of these Thumb-1 instructions take low registers too.
    #[cold]
    #[inline(never)]
    pub(super) fn fail_short_form(&mut self) {
        self.fail(BackendError::Unsupported(
            "instruction without its short form",
        ));
    }

    /// Append `N` (at most 8) known halfwords with one append: one capacity check and one
    /// length update on the host, where a `put` each paid them once a halfword.
    #[inline(always)]
    pub(super) fn put_halfwords<const N: usize>(&mut self, halfwords: [u16; N]) {
        const { assert!(N <= 8) };
        self.put_halfword_slice(&halfwords);
    }

    /// [`Self::put_halfwords`]: inlined on the host, where the length is then a constant (a
    /// copy of known length), one copy on the device (a halfword at a time, the flash sink's
    /// fast path).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline(never))]
    fn put_halfword_slice(&mut self, halfwords: &[u16]) {
        self.buf.emit_halfwords(halfwords);
    }

    /// Call primitive `primitive` with `args`; the result is in the returned register.
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

    /// Tail-call primitive `primitive` with `args` (its result is the function's result).
    pub(super) fn call_primitive_last(&mut self, primitive: u32, args: &[Arg]) {
        if let [Arg { val: Val::Ctx, .. }, Arg {
            val: Val::JitState, ..
        }, rest @ ..] = args
        {
            // Nearly every tail call: ctx, jit_state and at most two values not in native
            // registers (an offset, an atom, a VM register).
            if rest.len() <= 2 && !rest.iter().any(|arg| in_register_or_wide(&arg.val)) {
                return self.tail_call_ctx_jit_state(primitive, rest);
            }
        }
        self.call_primitive_last_general(primitive, args);
    }

    /// [`Self::call_primitive_last`] for any arguments.
    fn call_primitive_last_general(&mut self, primitive: u32, args: &[Arg]) {
        let plan = ArgsPlan::new(args);
        let param_mask = (1u16 << args.len().min(PARAMETER_REGS.len())) - 1;
        let scratch = AVAILABLE_REGS_MASK & !(plan.arg_regs | param_mask);
        let temp = self.avail(scratch);
        let available = scratch & !temp.bit();
        self.load_primitive_ptr(primitive, temp);
        self.available_regs = available;
        self.used_regs = AVAILABLE_REGS_MASK & !available;
        self.regs.invalidate_reg(temp);

        let args = self.check_call_args(args);
        if args.len() >= 5 {
            // Arguments 5 and 6 go on the stack: a real call, then the epilogue.
            let (reg_args, stack_args) = args.split_at(4);
            self.set_stack_args(stack_args);
            self.set_registers_args(reg_args, &plan, STACK_ARGS_SIZE as u32, false);
            let blx = asm::blx(temp).halfword();
            self.put_halfwords([blx, ADD_SP_STACK_ARGS, EPILOGUE_POP_HALFWORD]);
        } else if matches!(
            args.get(1),
            Some(Arg {
                val: Val::JitState,
                ..
            })
        ) {
            // jit_state (r1) comes back with the epilogue pop: no load needed.
            self.set_registers_args(args, &plan, 0, true);
            self.tail_call_with_jit_state_registers_only(temp);
        } else {
            self.fail(BackendError::Unsupported(
                "tail call without jit_state as 2nd argument",
            ));
        }
        self.available_regs = AVAILABLE_REGS_MASK;
        self.used_regs = 0;
        self.regs.invalidate_all();
        self.flush_literal_pool();
    }

    /// `call_primitive_last(primitive, &[ctx, jit_state, rest...])` with at most two more
    /// arguments, none in a native register nor 64-bit (most tail calls: the scheduler's,
    /// return's, error raising): what the general path finds for such arguments, decided once
    /// here. No argument occupies a register, ctx is in r0 and jit_state comes back into r1
    /// with the epilogue, so the pointer goes to r7 (the first allocatable register: the
    /// parameter registers are r0-r3 at most), `rest` is loaded into r2 and r3, and the
    /// sequence ends with [`Self::tail_call_with_jit_state_registers_only`]'s four halfwords.
    /// The test `ctx_jit_state_tail_calls_match_the_general_path` holds the two paths
    /// together.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(super) fn tail_call_ctx_jit_state(&mut self, primitive: u32, rest: &[Arg]) {
        self.load_primitive_ptr(primitive, R7);
        self.call_offset = self.cur_offset();
        if !rest.is_empty() {
            // The general path's state while it loads the arguments: r7 and the parameter
            // registers taken.
            let params = (1u16 << (2 + rest.len())) - 1;
            let available = AVAILABLE_REGS_MASK & !(params | R7.bit());
            self.available_regs = available;
            self.used_regs = AVAILABLE_REGS_MASK & !available;
            for (arg, param) in rest.iter().zip([R2, R3]) {
                self.set_register_arg(&arg.val, param, 0);
            }
        }
        self.put_halfwords(TAIL_CALL_R7);
        self.available_regs = AVAILABLE_REGS_MASK;
        self.used_regs = 0;
        self.regs.invalidate_all();
        self.flush_literal_pool();
    }

    /// Jump to `reg` through the epilogue: lr's stack slot gets the target, so popping pc
    /// branches there with r1 and the callee-saved registers restored.
    fn tail_call_with_jit_state_registers_only(&mut self, reg: Reg) {
        let temp = if reg == R7 { R6 } else { R7 };
        // Four halfwords in one append (`reg` is a low register: always).
        let load = asm::sp_load_store_low(asm::LDR_SP, temp, STACK_OFFSET_LR);
        let store = asm::sp_load_store_low(asm::STR_SP, reg, STACK_OFFSET_LR);
        let mov = asm::mov(LR, temp).halfword();
        match (load, store) {
            (Some(load), Some(store)) => {
                self.put_halfwords([load, store, mov, EPILOGUE_POP_HALFWORD]);
            }
            _ => self.fail_short_form(),
        }
    }

    /// Call `func` with `args`, saving live registers around it; the result is in the
    /// returned (allocated) register. Inlined into its two callers on the host (call_primitive
    /// passes a register: the pointer's kind is then known).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(super) fn call_func_ptr(&mut self, func: FuncPtr, args: &[Arg]) -> Reg {
        let available0 = self.available_regs;
        let used0 = self.used_regs;
        let func_reg = match func {
            FuncPtr::Reg(r) => Some(r),
            FuncPtr::Primitive(_) => None,
        };

        // One pass over the arguments: the registers the call frees, and those the arguments
        // occupy (all of them, and the first four's, loaded into r0-r3).
        let plan = ArgsPlan::new(args);
        let free_mask = func_reg.map_or(0, Reg::bit) | plan.freed;
        let (mut reg_args_regs_mask, mut all_args_mask) = (plan.reg_args_call_regs, plan.call_regs);
        let used1 = used0 & !free_mask;
        let free_gp = free_mask & AVAILABLE_REGS_MASK;
        let available1 = free_gp | available0;

        // ctx, the native interface and the live registers, plus one for 8-byte alignment: how
        // many, and their summed bits (what `push`/`pop` encode). The live registers are
        // allocatable ones, never ctx or the native interface, so each bit is one register.
        let live = used1 & AVAILABLE_REGS_MASK;
        let mut saved_len = 2 + live.count_ones() as usize;
        let mut saved_bits = u32::from(CTX_REG.bit() | NATIVE_INTERFACE_REG.bit() | live);
        let mut padding = None;
        if saved_len % 2 == 1 && available1 != 0 {
            let pad = match func_reg {
                // The function pointer register is freed by the call anyway.
                Some(fp) if available1 & fp.bit() != 0 => Some(fp),
                _ if free_gp != 0 => first_avail(free_gp),
                _ => first_avail(available0),
            };
            if let Some(pad) = pad {
                saved_len += 1;
                saved_bits += 1 << pad.0;
                padding = Some(pad);
            }
        }
        // Low registers only (the saved ones are ctx, the native interface and allocatable
        // registers): one halfword.
        match asm::push_pop_low(false, saved_bits) {
            Some(push) => self.put_halfwords([push]),
            None => self.fail_short_form(),
        }

        let args = self.check_call_args(args);
        let split = if args.len() >= 4 { 4 } else { args.len() };
        let (reg_args0, stack_args) = args.split_at(split);
        if args.is_empty() {
            // None passed (or too many, refused): none occupies a register.
            (reg_args_regs_mask, all_args_mask) = (0, 0);
        }

        // The saved registers not holding arguments are free for loading arguments.
        let push_stack_mask = (used1 & !all_args_mask) | available0;
        self.available_regs = push_stack_mask;
        self.used_regs = AVAILABLE_REGS_MASK & !push_stack_mask;
        if !stack_args.is_empty() {
            self.set_stack_args(stack_args);
        }

        let set_args_mask = self.available_regs;
        let mut param_list = ParamRegs::new(R0);
        let Some((param_regs, param_mask)) = plan.params(reg_args0, &mut param_list) else {
            self.fail(BackendError::Unsupported("arguments do not fit in r0-r3"));
            return R0;
        };
        // A copy of the register arguments, only when one has to move to another register.
        // An argument register lent to the function pointer, and where that argument went.
        let mut swap = None;
        let (set_args_avail, call_reg) = match func {
            FuncPtr::Reg(fp0) if param_mask & fp0.bit() != 0 => {
                // The pointer sits in a parameter register: move it out of the way.
                let avail_not_param = set_args_mask & !param_mask;
                let fp1 = if avail_not_param == 0 {
                    // Borrow an argument's non-parameter register; that argument moves to a
                    // free register.
                    let new_arg_reg = self.avail(set_args_mask);
                    let fp1 = self.avail(reg_args_regs_mask & !param_mask);
                    self.put(asm::mov(new_arg_reg, fp1));
                    swap = Some((fp1, new_arg_reg));
                    fp1
                } else {
                    self.avail(avail_not_param)
                };
                self.put(asm::mov(fp1, fp0));
                ((set_args_mask & !fp1.bit()) | fp0.bit(), fp1)
            }
            FuncPtr::Reg(fp0) => (set_args_mask & !fp0.bit(), fp0),
            FuncPtr::Primitive(primitive) => {
                let fp0 = self.avail(set_args_mask & !param_mask);
                self.load_primitive_ptr(primitive, fp0);
                (set_args_mask & !fp0.bit(), fp0)
            }
        };
        self.available_regs = set_args_avail;
        self.used_regs = AVAILABLE_REGS_MASK & !set_args_avail;

        let mut stack_offset = saved_len as u32 * 4;
        if !stack_args.is_empty() {
            stack_offset += STACK_ARGS_SIZE as u32;
        }
        match swap {
            // The plan's conflicts are those of the arguments before the move.
            Some(swap) => {
                self.set_registers_args_shuffled(reg_args0, param_regs, stack_offset, false, swap)
            }
            None => {
                let direct = plan.direct();
                self.set_registers_args_to(reg_args0, param_regs, stack_offset, false, direct)
            }
        }
        // Where the result goes: a register that is free after the call. With all eight low
        // registers saved, it is written to that register's stack slot and popped into it
        // (`through_stack`).
        let (result, through_stack) = match (saved_len, func_reg) {
            (8, Some(fp)) => (fp, true),
            (8, None) if padding.is_some() => (padding.unwrap_or(R7), true),
            (_, Some(fp)) if Some(fp) != padding => (fp, false),
            _ => {
                let pad_bit = padding.map_or(0, Reg::bit);
                (self.avail(available1 & !(used1 | pad_bit)), false)
            }
        };
        let used2 = used1 | result.bit();
        // `blx`, the result's move, `add sp` (with stack arguments) and `pop`: known
        // halfwords, appended at once when they have their short forms (nearly always).
        let slot = i64::from(result.0) * 4;
        let keep = match through_stack {
            true => asm::sp_load_store_low(asm::STR_SP, R0, slot),
            false => Some(asm::mov(result, R0).halfword()),
        };
        let blx = asm::blx(call_reg).halfword();
        match (keep, asm::push_pop_low(true, saved_bits), args.len() >= 5) {
            (Some(keep), Some(pop), false) => self.put_halfwords([blx, keep, pop]),
            (Some(keep), Some(pop), true) => {
                self.put_halfwords([blx, keep, ADD_SP_STACK_ARGS, pop]);
            }
            _ => self.fail_short_form(),
        }

        self.available_regs = available1 & !result.bit() & AVAILABLE_REGS_MASK;
        self.used_regs = used2;
        // Nothing survives a call (the reference restores its pre-call tracker, then clears it).
        self.regs.invalidate_all();
        result
    }

    /// Fix what an `offset` argument of the call stands for (the current offset) and check the
    /// argument count; more than a call can take is an error (and no arguments are passed).
    fn check_call_args<'a>(&mut self, args: &'a [Arg]) -> &'a [Arg] {
        self.call_offset = self.cur_offset();
        if args.len() > MAX_CALL_ARGS {
            self.fail(BackendError::Unsupported("more than 6 call arguments"));
            return &[];
        }
        args
    }

    /// Reserve the 8-byte stack argument area and store argument 5 (and 6) there: `args` are
    /// the arguments after the fourth.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn set_stack_args(&mut self, args: &[Arg]) {
        match args {
            [a5] => {
                self.put(asm::sub_sp_imm(STACK_ARGS_SIZE));
                self.store_stack_arg(a5, 0);
            }
            [a5, a6] => {
                self.put(asm::sub_sp_imm(STACK_ARGS_SIZE));
                self.store_stack_arg(a6, 4);
                self.store_stack_arg(a5, 0);
            }
            _ => self.fail(BackendError::Unsupported("more than 6 call arguments")),
        }
    }

    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn store_stack_arg(&mut self, arg: &Arg, sp_offset: i64) {
        let reg = match (arg.val, arg.free) {
            (Val::Reg(r), true) => r,
            (Val::Offset, _) => self.move_to_native_register(Val::Imm(self.call_offset as i64)),
            (val, _) => self.move_to_native_register(val),
        };
        self.put_str(reg, SP, sp_offset);
        self.release_reg(reg);
    }

    /// Load `args` (at most four, described by `plan`) into the AAPCS parameter registers.
    /// In a tail call (`tail_call`), a `jit_state` second argument is already in r1. Inlined
    /// into `call_primitive_last` on the host (a call, with the plan through memory, cost 28
    /// instructions a call around the one below).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn set_registers_args(
        &mut self,
        args: &[Arg],
        plan: &ArgsPlan,
        stack_offset: u32,
        tail_call: bool,
    ) {
        let mut list = ParamRegs::new(R0);
        match plan.params(args, &mut list) {
            Some((params, _)) => {
                self.set_registers_args_to(args, params, stack_offset, tail_call, plan.direct())
            }
            None => self.fail(BackendError::Unsupported("arguments do not fit in r0-r3")),
        }
    }

    /// Load `args` into `params`, in order. A parameter register still holding a later
    /// argument is first copied to a scratch register. `stack_offset` is how far sp moved
    /// since the prologue (to find the saved `JITState *`). `direct` says there is nothing
    /// to copy or expand ([`ArgsPlan::direct`]): each argument goes straight to its parameter.
    ///
    /// The registers of freed arguments are not released here: every caller sets the
    /// allocation state after the call.
    ///
    /// Inlined into its callers on the host (the call, with six arguments, some through
    /// memory, cost about 30 instructions around a loop of three or four arguments).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn set_registers_args_to(
        &mut self,
        args: &[Arg],
        params: &[Reg],
        stack_offset: u32,
        tail_call: bool,
        direct: bool,
    ) {
        if direct && args.len() == params.len() {
            for (arg, &param) in args.iter().zip(params) {
                match arg.val {
                    // ctx stays in r0 (anything else destined for r0 overwrites it).
                    Val::Ctx if param == CTX_REG => {}
                    // In a tail call, jit_state comes back in r1 with the epilogue (with one
                    // word per parameter, the second argument's parameter is r1).
                    Val::JitState if tail_call && param == R1 => {}
                    _ => self.set_register_arg(&arg.val, param, stack_offset),
                }
            }
            return;
        }
        // No swap: r0 never holds an argument register.
        self.set_registers_args_shuffled(args, params, stack_offset, tail_call, (R0, R0));
    }

    /// The general case of [`Self::set_registers_args_to`]: 64-bit values expanded, parameter
    /// registers still holding a later argument copied away first. `swap` is `(from, to)`:
    /// the first `Val::Reg(from)` argument is now in `to` (its register was lent to the
    /// function pointer).
    fn set_registers_args_shuffled(
        &mut self,
        args: &[Arg],
        params: &[Reg],
        stack_offset: u32,
        tail_call: bool,
        swap: (Reg, Reg),
    ) {
        let used = self.used_regs;
        let param_mask = regs_to_mask(params.iter().copied());

        // Expand 64-bit values into two word immediates; `occupied[i]` is the register the
        // i-th remaining argument was in when the call started.
        let mut work: FixedVec<Val, 4> = FixedVec::new(Val::Imm(0));
        let mut occupied: FixedVec<Option<Reg>, 4> = FixedVec::new(None);
        let mut overflow = false;
        let mut to_swap = swap.0 != swap.1;
        for (index, arg) in args.iter().enumerate() {
            let pushed = match arg.val {
                Val::Int64(v) => work
                    .push(Val::Imm(v & 0xFFFF_FFFF))
                    .and(work.push(Val::Imm((v >> 32) & 0xFFFF_FFFF)))
                    .and(occupied.push(None))
                    .and(occupied.push(None)),
                Val::JitState if tail_call && index == 1 => work
                    .push(Val::JitStateTailCall)
                    .and(occupied.push(super::arg_reg(arg))),
                Val::Reg(r) if to_swap && r == swap.0 => {
                    to_swap = false;
                    work.push(Val::Reg(swap.1)).and(occupied.push(Some(swap.1)))
                }
                val => work.push(val).and(occupied.push(super::arg_reg(arg))),
            };
            overflow |= pushed.is_err();
        }
        if to_swap {
            self.fail(BackendError::Unsupported("function pointer swap"));
        }
        if overflow || work.len() != params.len() {
            self.fail(BackendError::Unsupported(
                "argument/parameter count mismatch",
            ));
            return;
        }
        // The registers the arguments occupy (the reference's `args_regs`).
        let args_regs_mask = regs_to_mask(occupied.iter().flatten().copied());
        let scratch_mask = SCRATCH_REGS_MASK & !(param_mask | args_regs_mask | used);
        let mut scratch = mask_to_list(scratch_mask);

        for i in 0..work.len() {
            let val = work[i];
            let param = params[i];
            if param == CTX_REG {
                // ctx stays in r0; anything else destined for r0 overwrites it last-minute.
                if val != Val::Ctx {
                    self.set_register_arg(&val, CTX_REG, stack_offset);
                }
                continue;
            }
            if occupied[i + 1..].contains(&Some(param)) {
                let Some(save) = scratch.next() else {
                    self.fail(BackendError::OutOfRegisters);
                    return;
                };
                self.put(asm::mov(save, param));
                self.set_register_arg(&val, param, stack_offset);
                let later = work[i + 1..].iter_mut().find(|v| **v == Val::Reg(param));
                if let Some(later) = later {
                    *later = Val::Reg(save);
                } else {
                    self.fail(BackendError::Unsupported("argument register shuffle"));
                }
            } else {
                self.set_register_arg(&val, param, stack_offset);
            }
        }
    }

    /// Load one argument value into parameter register `reg`. Inlined into its callers on the
    /// host (a call per argument, with the value passed through memory, cost more than the
    /// load it emits); one copy on the device, where the loader's size counts more.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn set_register_arg(&mut self, val: &Val, reg: Reg, stack_offset: u32) {
        match *val {
            Val::Reg(r) if r == reg => {}
            Val::JitState => {
                self.put_ldr(reg, SP, i64::from(STACK_OFFSET_JITSTATE + stack_offset));
            }
            Val::JitStateTailCall if reg == R1 => {}
            Val::XExtra => self.put_ldr(reg, CTX_REG, ctx_x_reg(MAX_REG)),
            Val::X(x) => self.put_ldr(reg, CTX_REG, ctx_x_reg(x)),
            Val::Ptr(src) => self.put_ldr(reg, src, 0),
            Val::Y(y) => {
                let avail = self.available_regs;
                self.ldr_y_reg(reg, y, avail);
            }
            Val::Reg(r) => self.put(asm::mov(reg, r)),
            Val::Imm(v) if matches!(v, -0x8000_0000..0x1_0000_0000) => {
                self.mov_immediate(reg, v);
            }
            Val::Offset => self.mov_immediate(reg, self.call_offset as i64),
            _ => self.fail(BackendError::Unsupported("call argument kind")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{backend, hex, CTX, JIT_STATE};
    use crate::compile::backend::{Arg, Reg, Val};
    use crate::isa::armv6m::names::*;

    fn free(r: Reg) -> Arg {
        Arg::free(Val::Reg(r))
    }

    #[test]
    fn register_lists_from_summed_bits_encode_as_the_lists() {
        use super::super::asm;
        assert_eq!(super::EPILOGUE_POP, asm::pop(&super::EPILOGUE_REGS));
        let epilogue = asm::pop(&super::EPILOGUE_REGS).map(|i| i.halfword());
        assert_eq!(epilogue, Ok(super::EPILOGUE_POP_HALFWORD));
        let add_sp = asm::add_sp_imm(super::STACK_ARGS_SIZE).map(|i| i.halfword());
        assert_eq!(add_sp, Ok(super::ADD_SP_STACK_ARGS));
        for list in [
            &[R0, R2][..],
            &[R0, R2, R7, R5, R4, R3],
            &[R1, R1],
            &[R0, R8],
            &[],
        ] {
            let bits = list.iter().map(|r| 1u32 << r.0).sum();
            assert_eq!(asm::push_bits(bits), asm::push(list), "{list:?}");
            assert_eq!(asm::pop_bits(bits), asm::pop(list), "{list:?}");
        }
        // The fast path's halfwords are the encoders' for every list of low registers, and
        // it declines any other.
        for bits in 0..=0x1FFu32 {
            let low = bits < 0x100;
            for (pop, full) in [(false, asm::push_bits(bits)), (true, asm::pop_bits(bits))] {
                let fast = asm::push_pop_low(pop, bits);
                assert_eq!(fast.is_some(), low, "{bits:#x}");
                if let Some(h) = fast {
                    assert_eq!(full.map(|i| i.halfword()), Ok(h), "{bits:#x} {pop}");
                }
            }
        }
    }

    #[test]
    fn call_primitive_loads_x_register_argument() {
        let mut b = backend(1);
        let r = b.call_primitive(3, &[CTX, JIT_STATE, Arg::keep(Val::X(2))]);
        assert_eq!(r, R7);
        assert_eq!(hex(&b), "D76805B40299026AB847074605BC");
    }

    #[test]
    fn call_primitive_beyond_ldr_immediate_range() {
        let mut b = backend(1);
        b.call_primitive(40, &[CTX, JIT_STATE, Arg::keep(Val::Imm(42))]);
        assert_eq!(hex(&b), "A027D75905B402992A22B847074605BC");
        let mut b = backend(1);
        b.call_primitive(70, &[CTX, JIT_STATE]);
        assert_eq!(hex(&b), "4627BF00D75905B40299B847074605BC");
    }

    #[test]
    fn call_primitive_saves_live_registers_and_frees_args() {
        let mut b = backend(1);
        let r1 = b.call_primitive(1, &[CTX, JIT_STATE]);
        let r2 = b.call_primitive(2, &[CTX, Arg::keep(Val::Reg(r1))]);
        b.call_primitive(4, &[CTX, free(r2), free(r1)]);
        assert_eq!(
            hex(&b),
            "576805B40299B847074605BC9668C5B43946B0470546C5BC166905B429463A46B047064605BC"
        );
    }

    #[test]
    fn call_primitive_with_stack_arguments() {
        let mut b = backend(1);
        let r1 = b.call_primitive(1, &[CTX, JIT_STATE]);
        b.call_primitive(
            9,
            &[
                CTX,
                JIT_STATE,
                Arg::keep(Val::Imm(7)),
                Arg::keep(Val::X(1)),
                free(r1),
            ],
        );
        assert_eq!(
            hex(&b),
            "576805B40299B847074605BC566A05B482B0009704990722C369B047064602B005BC"
        );
        let mut b = backend(1);
        let r1 = b.call_primitive(1, &[CTX, JIT_STATE]);
        let r2 = b.call_primitive(2, &[CTX, JIT_STATE]);
        b.call_primitive(
            9,
            &[
                CTX,
                JIT_STATE,
                free(r2),
                Arg::keep(Val::X(1)),
                free(r1),
                free(r2),
            ],
        );
        assert_eq!(
            hex(&b),
            "576805B40299B847074605BC9668C5B40499B0470546C5BC566A05B482B00195009704992A46C369B047064602B005BC"
        );
    }

    /// Four calls whose results stay allocated (the result avoids the padding register).
    fn four_live_results() -> (super::super::Armv6m<crate::stream::VecSink>, [Reg; 4]) {
        let mut b = backend(1);
        let regs = [(); 4].map(|_| b.call_primitive(1, &[CTX, JIT_STATE]));
        assert_eq!(regs, [R7, R5, R6, R3]);
        (b, regs)
    }

    const FOUR_LIVE_RESULTS: &str = concat!(
        "576805B40299B847074605BC5668C5B40499B0470546C5BC5668A5B40499B0470646A5BC",
        "5468F5B40699A0470346F5BC"
    );

    #[test]
    fn function_pointer_in_a_parameter_register_moves_out_of_the_way() {
        let (mut b, [r1, r2, ..]) = four_live_results();
        b.call_primitive(7, &[CTX, JIT_STATE, Arg::keep(Val::Reg(r1)), free(r2)]);
        assert_eq!(
            hex(&b),
            alloc::format!("{FOUR_LIVE_RESULTS}D469DDB406993A462B46A0470546DDBC")
        );
    }

    #[test]
    fn with_every_register_saved_the_result_goes_through_its_stack_slot() {
        let (mut b, [_, _, _, r4]) = four_live_results();
        let r5 = b.call_primitive(1, &[CTX, JIT_STATE]);
        b.call_primitive(9, &[CTX, JIT_STATE, free(r5), Arg::keep(Val::Reg(r4))]);
        b.call_primitive(3, &[CTX, JIT_STATE]);
        assert_eq!(
            hex(&b),
            alloc::format!(
                "{FOUR_LIVE_RESULTS}5468EDB40699A0470446EDBC516AEDB40F4606992246B8470146EDBC\
                 D468FFB40899A0470490FFBC"
            )
        );
    }

    #[test]
    fn running_out_of_registers_is_an_error_not_a_panic() {
        use crate::compile::backend::{Backend, BackendError};
        let (mut b, [r1, ..]) = four_live_results();
        b.call_primitive(1, &[CTX, JIT_STATE]);
        b.call_primitive(1, &[CTX, JIT_STATE]);
        b.call_primitive(8, &[CTX, JIT_STATE, Arg::keep(Val::Reg(r1))]);
        assert_eq!(b.error(), Some(BackendError::OutOfRegisters));
    }

    #[test]
    fn call_primitive_last_tail_calls() {
        let mut b = backend(1);
        let r1 = b.call_primitive(1, &[CTX, JIT_STATE]);
        b.call_primitive_last(5, &[CTX, JIT_STATE, free(r1)]);
        assert_eq!(hex(&b), "576805B40299B847074605BC56693A46059F0596BE46F2BD");
        assert!(b.all_native_free());

        let mut b = backend(1);
        b.call_primitive_last(12, &[CTX, JIT_STATE, Arg::keep(Val::Offset)]);
        assert_eq!(hex(&b), "176B0222059E0597B646F2BD");
    }

    type B = super::super::Armv6m<crate::stream::VecSink>;

    #[test]
    fn ctx_jit_state_tail_calls_match_the_general_path() {
        use crate::compile::backend::Backend;
        // Every form of the pointer's load (ldr, movs + ldr, movs + lsls + ldr), from an
        // aligned and an unaligned offset, with registers allocated or not, with a literal
        // waiting for its pool or not.
        let rests: [&[Arg]; 10] = [
            &[],
            &[Arg::keep(Val::Offset)],
            &[Arg::keep(Val::Offset), Arg::keep(Val::Imm(11))],
            &[Arg::keep(Val::Offset), Arg::keep(Val::Imm(0x7654_3210))],
            &[Arg::keep(Val::Imm(-5)), Arg::keep(Val::X(3))],
            &[Arg::keep(Val::Y(2)), Arg::keep(Val::Y(300))],
            &[Arg::keep(Val::JitState), Arg::keep(Val::XExtra)],
            &[Arg::keep(Val::Imm(1 << 40))],
            &[Arg::keep(Val::Ctx)],
            &[Arg::keep(Val::Stack), Arg::keep(Val::Imm(0))],
        ];
        for (primitive, rest) in [0, 1, 2, 7, 31, 32, 40, 63, 64, 70, 200]
            .into_iter()
            .flat_map(|p| rests.iter().map(move |r| (p, *r)))
        {
            let mut args = alloc::vec![CTX, JIT_STATE];
            args.extend_from_slice(rest);
            for setup in 0..4 {
                let prepare = |b: &mut B| {
                    if setup & 1 != 0 {
                        let r = b.call_primitive(1, &[CTX, JIT_STATE]);
                        b.move_to_native_register(Val::X(0));
                        let _ = r;
                    }
                    if setup & 2 != 0 {
                        b.move_to_native_register(Val::Imm(0x1234_5678));
                    }
                };
                let (mut fast, mut general) = (backend(1), backend(1));
                prepare(&mut fast);
                prepare(&mut general);
                fast.call_primitive_last(primitive, &args);
                general.call_primitive_last_general(primitive, &args);
                let case = alloc::format!("{primitive} {args:?} {setup}");
                let bytes = |b: &B| b.buf.sink().as_bytes().to_vec();
                assert_eq!(bytes(&fast), bytes(&general), "{case}");
                assert_eq!(fast.available_regs, general.available_regs, "{case}");
                assert_eq!(fast.used_regs, general.used_regs, "{case}");
                assert_eq!(fast.call_offset, general.call_offset, "{case}");
                assert_eq!(fast.error(), general.error(), "{case}");
                assert!(fast.regs == general.regs, "{case}");
            }
        }
    }

    #[test]
    fn call_primitive_last_with_five_arguments_returns_through_epilogue() {
        let mut b = backend(1);
        let r1 = b.call_primitive(1, &[CTX, JIT_STATE]);
        b.call_primitive_last(
            6,
            &[
                CTX,
                JIT_STATE,
                Arg::keep(Val::Imm(3)),
                Arg::keep(Val::X(0)),
                free(r1),
            ],
        );
        assert_eq!(
            hex(&b),
            "576805B40299B847074605BC966982B00097029903228369B04702B0F2BD"
        );
    }

    #[test]
    fn int64_argument_takes_an_even_register_pair() {
        let mut b = backend(1);
        b.call_primitive_last(8, &[CTX, JIT_STATE, Arg::keep(Val::Int64(0x1_2345_6789))]);
        b.flush_literal_pool();
        assert_eq!(hex(&b), "176A034A0123059E0597B646F2BD000089674523");
    }

    #[test]
    fn immediate_arguments_use_short_sequences() {
        let mut b = backend(1);
        b.call_primitive(
            2,
            &[
                CTX,
                JIT_STATE,
                Arg::keep(Val::Imm(300)),
                Arg::keep(Val::Imm(-5)),
            ],
        );
        assert_eq!(hex(&b), "976805B40299FF222D3205235B42B847074605BC");
        let mut b = backend(1);
        b.call_primitive(
            2,
            &[
                CTX,
                JIT_STATE,
                Arg::keep(Val::Imm(-256)),
                Arg::keep(Val::Imm(0x4000)),
            ],
        );
        assert_eq!(hex(&b), "976805B40299FF22D2438023DB01B847074605BC");
    }
}

//! The ARMv6-M (Thumb-1, optionally Thumb-2) backend.
//!
//! [`Armv6m`] is a macro-assembler implementing [`Backend`]: it tracks which native registers are
//! free and what they hold, chooses and encodes Thumb instructions, and emits them through the
//! ISA-neutral [`CodeBuffer`] (labels, pending branches, literal pool, tables), telling it how to
//! patch armv6m's label uses (`BranchKind`, in `branches.rs`). Its output is byte-identical to
//! the reference compiler's armv6m backend.
//!
//! The implementation is split by concern; every file adds inherent methods to [`Armv6m`] and
//! the [`Backend`] impl below only forwards to them.

pub mod asm;
pub mod disasm;

mod arith;
mod branches;
mod calls;
mod conditions;
mod control;
pub mod layout;
mod literals;
mod moves;
mod shifts;

use crate::compile::backend::{Arg, Backend, BackendError, Label, Reg, Val};
use crate::isa::buffer::CodeBuffer;
use crate::stream::CodeSink;
use asm::{AsmError, Code, Insn};
use names::*;

/// armv6m's registers by name, and their bit in the backend's `u16` register masks.
pub mod names {
    use crate::compile::backend::Reg;

    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    pub const R10: Reg = Reg(10);
    pub const R11: Reg = Reg(11);
    pub const R12: Reg = Reg(12);
    pub const SP: Reg = Reg(13);
    pub const LR: Reg = Reg(14);
    pub const PC: Reg = Reg(15);

    /// A register's bit in armv6m's register masks.
    pub trait RegBit {
        fn bit(self) -> u16;
    }

    impl RegBit for Reg {
        #[inline]
        fn bit(self) -> u16 {
            1 << self.0
        }
    }
}

/// The registers the contents tracker covers: r0-r7. The backend records contents only for low
/// registers (the allocatable ones and the AAPCS parameter registers; ip is a raw temporary,
/// never a `Val::Reg`), so a tracker of the 8 low registers knows exactly what one of all 16
/// would. Half the size (80 bytes, not 152) matters: it is copied at every `if` block's test
/// and `else`, an inline copy on the host where 152 bytes was a `memcpy` call.
#[derive(Clone, Copy)]
pub(super) struct RegFile;

/// How many registers (r0..) the contents tracker covers.
pub(super) const TRACKED_REGS: usize = 8;

impl crate::isa::regs::RegisterFile for RegFile {
    /// As the reference searches them: the alphabetical order of the names, which for r0-r7 is
    /// numeric (see [`crate::isa::regs`]).
    const SEARCH_ORDER: &'static [u8] = &[0, 1, 2, 3, 4, 5, 6, 7];
}

/// The register contents tracker over armv6m's low registers.
pub(super) type Regs = crate::isa::regs::Regs<RegFile, TRACKED_REGS>;

// Every register the allocator hands out, and every parameter register, is tracked.
const _: () = assert!(
    (AVAILABLE_REGS_MASK as u32) < 1 << TRACKED_REGS && PARAMETER_REGS[3].0 < TRACKED_REGS as u8
);

/// Registers the allocator hands out: r7, r6, r5, r4, r3, r1 (r0 = ctx, r2 = native interface).
pub(super) const AVAILABLE_REGS_MASK: u16 =
    (1 << 7) | (1 << 6) | (1 << 5) | (1 << 4) | (1 << 3) | (1 << 1);
/// Registers a call may clobber and that argument shuffling may use: r0-r7 and ip.
pub(super) const SCRATCH_REGS_MASK: u16 = 0x00FF | (1 << 12);
/// The allocation order: `first_avail` and `mask_to_list` walk registers in this order.
pub(super) const ALLOCATION_ORDER: [Reg; 6] = [R7, R6, R5, R4, R3, R1];
// `first_avail` takes the highest bit: the order must be the allocatable registers, descending.
const _: () = {
    let (mut i, mut mask, mut previous) = (0, 0u16, 16);
    while i < ALLOCATION_ORDER.len() {
        let r = ALLOCATION_ORDER[i].0;
        assert!(r < previous);
        (previous, mask) = (r, mask | 1 << r);
        i += 1;
    }
    assert!(mask == AVAILABLE_REGS_MASK);
};
/// AAPCS argument registers.
pub(super) const PARAMETER_REGS: [Reg; 4] = [R0, R1, R2, R3];

/// Register holding `Context *` in generated code.
pub(super) const CTX_REG: Reg = R0;
/// Register holding `const ModuleNativeInterface *` in generated code.
pub(super) const NATIVE_INTERFACE_REG: Reg = R2;
/// The intra-procedure-call scratch register.
pub(super) const IP_REG: Reg = R12;

/// Bytes per jump table entry: `ldr r3, [pc, #4]; push; add pc, r3; nop; .word`.
pub const JUMP_TABLE_ENTRY_SIZE: usize = 12;
/// Bytes per Thumb-2 jump table entry: `push; b.w`.
pub const JUMP_TABLE_ENTRY_SIZE_THUMB2: usize = 6;
/// Offset of the saved `JITState *` (pushed r1) from sp inside generated functions.
pub(super) const STACK_OFFSET_JITSTATE: u32 = 0;

/// How a placeholder is patched once its label (or literal) is placed: armv6m's
/// [`LabelUse`](crate::isa::buffer::LabelUse) kinds (implemented in `branches.rs`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum BranchKind {
    /// `adr reg, label` (placeholder is one halfword).
    Adr(Reg),
    /// Thumb-2 `b.w label` (placeholder is two halfwords).
    BW,
    /// A far-branch sequence of `size` bytes using `temp` (ip means the push/pop r0 variant).
    Far { size: u8, temp: Reg },
    /// `ldr reg, [pc, #x]` loading a literal from the pool (one halfword).
    Literal(Reg),
}

/// The armv6m backend state.
pub struct Armv6m<S: CodeSink> {
    /// The code, labels, pending uses and literal pool (ISA-neutral).
    pub(super) buf: CodeBuffer<S, BranchKind>,
    pub(super) jump_table_start: usize,
    pub(super) available_regs: u16,
    pub(super) used_regs: u16,
    pub(super) variant: u32,
    pub(super) regs: Regs,
    pub(super) thumb2: bool,
    /// The code offset an `offset` argument of the call being emitted stands for (the offset
    /// when the call started passing arguments).
    pub(super) call_offset: usize,
}

impl<S: CodeSink> Armv6m<S> {
    /// Whether Thumb-2 encodings are in use (the RP2350's variant). Always false without the
    /// core's `thumb2` feature (the RP2040's device loader), so those encodings are not built in;
    /// `isa::compile` then refuses the thumb2 target.
    #[inline(always)]
    pub(super) fn thumb2(&self) -> bool {
        cfg!(feature = "thumb2") && self.thumb2
    }

    /// A backend writing into `sink`; `variant` is the reference's JIT variant bit set.
    pub fn new(variant: u32, sink: S) -> Self {
        Armv6m {
            buf: CodeBuffer::new(sink),
            jump_table_start: 0,
            available_regs: AVAILABLE_REGS_MASK,
            used_regs: 0,
            variant,
            regs: Regs::new(),
            thumb2: variant & u32::from(crate::abi::jit::VARIANT_THUMB2) != 0,
            call_offset: 0,
        }
    }

    /// Give back the sink (after `flush`/`return_labels_and_lines`).
    pub fn into_sink(self) -> S {
        self.buf.into_sink()
    }

    pub fn sink(&self) -> &S {
        self.buf.sink()
    }

    pub fn variant(&self) -> u32 {
        self.variant
    }

    /// Registers currently allocated, as a bit mask.
    pub fn used_regs_mask(&self) -> u16 {
        self.used_regs
    }

    /// Registers currently free for allocation, as a bit mask.
    pub fn available_regs_mask(&self) -> u16 {
        self.available_regs
    }

    /// Whether every allocatable register is free (the driver checks this between instructions).
    pub fn all_native_free(&self) -> bool {
        self.used_regs == 0 && self.available_regs == AVAILABLE_REGS_MASK
    }

    // ---- small shared helpers -------------------------------------------------------------

    /// Append raw bytes.
    #[inline]
    pub(super) fn emit(&mut self, bytes: &[u8]) {
        self.buf.emit(bytes);
    }

    /// Overwrite bytes emitted earlier (placeholders are 0xFF).
    #[inline]
    pub(super) fn patch(&mut self, offset: usize, bytes: &[u8]) {
        self.buf.replace(offset, bytes);
    }

    /// The encoded instruction, or `None` after recording why it cannot be encoded.
    #[inline]
    pub(super) fn enc(&mut self, insn: impl Into<Result<Insn, AsmError>>) -> Option<Insn> {
        match insn.into() {
            Ok(i) => Some(i),
            Err(e) => {
                self.fail_asm(e);
                None
            }
        }
    }

    /// Record an encoder error (rare: out of the instruction-emitting hot paths).
    #[cold]
    #[inline(never)]
    fn fail_asm(&mut self, e: AsmError) {
        self.fail(asm_error(e));
    }

    /// Append one instruction. Inlined everywhere on the host, with the length a constant in each
    /// arm, so that the sink's fast path is a capacity check and a store; one call on the device,
    /// where the loader's image size counts more (the device's sink is not that fast path).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn put(&mut self, insn: impl Into<Result<Insn, AsmError>>) {
        match insn.into() {
            Ok(i) => {
                if i.len() == 2 {
                    self.buf.emit_halfword(i.halfword());
                } else {
                    self.buf.emit(&i.bytes());
                }
            }
            Err(e) => self.fail_asm(e),
        }
    }

    /// `put(asm::ldr_imm(..))` (SP as `rn`: `ldr_sp`), with a fast path for low registers and
    /// a small offset (nearly every case): on the device an encoder's 8-byte `Result` is
    /// returned through the stack, and this was three calls (ldr_imm, load_store_imm, put) for
    /// one halfword.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn put_ldr(&mut self, rt: Reg, rn: Reg, imm: i64) {
        self.put_load_store(asm::LDR_SP, asm::LDR_IMM, asm::ldr_imm, rt, rn, imm);
    }

    /// `put(asm::str_imm(..))` (see [`Self::put_ldr`]).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn put_str(&mut self, rt: Reg, rn: Reg, imm: i64) {
        self.put_load_store(asm::STR_SP, asm::STR_IMM, asm::str_imm, rt, rn, imm);
    }

    /// [`Self::put_ldr`] and [`Self::put_str`]: the SP-relative or register-relative fast
    /// encoding (`sp_op`, `imm_op`), else `encode` (the full encoder, errors included).
    #[inline(always)]
    fn put_load_store(
        &mut self,
        sp_op: u16,
        imm_op: u16,
        encode: fn(Reg, Reg, i64) -> Result<Insn, AsmError>,
        rt: Reg,
        rn: Reg,
        imm: i64,
    ) {
        let fast = if rn == SP {
            asm::sp_load_store_low(sp_op, rt, imm)
        } else {
            asm::load_store_imm_low(imm_op, rt, rn, imm)
        };
        match fast {
            Some(h) => self.buf.emit_halfword(h),
            None => self.put(encode(rt, rn, imm)),
        }
    }

    /// Append an assembled sequence.
    pub(super) fn put_code(&mut self, code: &Code) {
        match code.result() {
            Ok(bytes) => self.buf.emit(bytes),
            Err(e) => self.fail(asm_error(e)),
        }
    }

    /// Overwrite a placeholder with one instruction.
    pub(super) fn patch_insn(&mut self, offset: usize, insn: impl Into<Result<Insn, AsmError>>) {
        if let Some(i) = self.enc(insn) {
            self.buf.replace(offset, i.as_bytes());
        }
    }

    #[inline]
    pub(super) fn cur_offset(&self) -> usize {
        self.buf.offset()
    }

    /// Record the first error; later ones are dropped (the first is the cause).
    #[inline]
    pub(super) fn fail(&mut self, e: BackendError) {
        self.buf.fail(e);
    }

    /// `first_avail`, recording `OutOfRegisters` (and returning r7, a harmless value) when the
    /// mask is empty: the reference would crash here.
    pub(super) fn avail(&mut self, mask: u16) -> Reg {
        // Its own copy of `first_avail` (one call less on the device, where this is most of
        // `first_avail`'s callers).
        match first_avail_in_line(mask) {
            Some(r) => r,
            None => {
                self.fail(BackendError::OutOfRegisters);
                R7
            }
        }
    }

    /// Mark `reg` allocated.
    pub(super) fn take_reg(&mut self, reg: Reg) {
        self.available_regs &= !reg.bit();
        self.used_regs |= reg.bit();
    }

    /// Mark `reg` free (the reference's `free_native_register`).
    pub(super) fn release_reg(&mut self, reg: Reg) {
        self.available_regs |= reg.bit();
        self.used_regs &= !reg.bit();
    }

    /// Allocate the first available register.
    pub(super) fn alloc_reg(&mut self) -> Reg {
        let r = self.avail(self.available_regs);
        self.take_reg(r);
        r
    }
}

/// The backend error for an operand the encoder rejects.
#[inline]
pub(super) fn asm_error(e: AsmError) -> BackendError {
    match e {
        AsmError::UnencodableImmediate(v) => BackendError::Encoding {
            what: "immediate",
            value: i64::from(v),
        },
        AsmError::UnencodableOffset(v) => BackendError::Encoding {
            what: "offset",
            value: i64::from(v),
        },
        AsmError::LowRegisterRequired(r) => BackendError::Encoding {
            what: "high register",
            value: i64::from(r.0),
        },
        AsmError::InvalidRegisterList(m) => BackendError::Encoding {
            what: "register list",
            value: i64::from(m),
        },
        AsmError::CodeFull => BackendError::Encoding {
            what: "sequence too long",
            value: 0,
        },
    }
}

// ---- register masks -----------------------------------------------------------------------

/// The first allocatable register of `mask` in allocation order (r7 first). The order is by
/// descending register number, so this is the highest allocatable bit of the mask.
#[inline]
pub(super) fn first_avail(mask: u16) -> Option<Reg> {
    first_avail_in_line(mask)
}

/// [`first_avail`], always inlined.
#[inline(always)]
fn first_avail_in_line(mask: u16) -> Option<Reg> {
    let m = mask & AVAILABLE_REGS_MASK;
    if m == 0 {
        return None;
    }
    #[cfg(not(target_os = "none"))]
    let r = highest_bit_by_clz(m);
    #[cfg(target_os = "none")]
    let r = highest_bit_by_walk(m);
    Some(Reg(r))
}

/// The highest set bit of a nonzero `m`, with the CPU's count of leading zeros (one instruction
/// on the host).
#[cfg_attr(target_os = "none", allow(dead_code))]
#[inline]
fn highest_bit_by_clz(m: u16) -> u8 {
    15 - m.leading_zeros() as u8
}

/// The same for a nonzero `m` of allocatable registers (r7, r6, r5, r4, r3, r1), by halving:
/// ARMv6-M has no `clz`, and the library call that stands in for it costs more than this (as did
/// a walk down from r7, 7 instructions per register passed over).
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
#[inline]
fn highest_bit_by_walk(m: u16) -> u8 {
    if m & 0xF0 != 0 {
        if m & 0xC0 != 0 {
            if m & 0x80 != 0 {
                7
            } else {
                6
            }
        } else if m & 0x20 != 0 {
            5
        } else {
            4
        }
    } else if m & 0x08 != 0 {
        3
    } else {
        1
    }
}

/// The allocatable registers of `mask`, in allocation order (highest bit first).
#[inline]
pub(super) fn mask_to_list(mask: u16) -> impl Iterator<Item = Reg> {
    let mut m = mask & AVAILABLE_REGS_MASK;
    core::iter::from_fn(move || {
        let r = first_avail(m)?;
        m &= !r.bit();
        Some(r)
    })
}

/// Bit mask of a list of registers.
#[inline]
pub(super) fn regs_to_mask(regs: impl IntoIterator<Item = Reg>) -> u16 {
    regs.into_iter().fold(0, |m, r| m | r.bit())
}

/// The native register an argument occupies, if any (the reference's `args_regs` entry;
/// immediates, `jit_state`, `offset` and `stack` occupy none).
#[inline]
pub(super) fn arg_reg(arg: &Arg) -> Option<Reg> {
    match arg.val {
        Val::Reg(r) | Val::Ptr(r) | Val::PtrOffset(r, _) => Some(r),
        Val::Ctx | Val::X(_) | Val::XExtra | Val::Y(_) | Val::Fp(_) => Some(CTX_REG),
        Val::Imm(_)
        | Val::Offset
        | Val::JitState
        | Val::JitStateTailCall
        | Val::Stack
        | Val::Int64(_)
        | Val::Cp => None,
    }
}

impl<S: CodeSink> Backend for Armv6m<S> {
    crate::isa::forward_backend_methods!();

    const WORD_SIZE: u32 = 4;
    /// ARMv6-M has no divide instruction (the driver calls the runtime instead).
    const HAS_DIV: bool = false;

    fn error(&self) -> Option<BackendError> {
        self.buf.error()
    }

    #[inline]
    fn has_error(&self) -> bool {
        self.buf.has_error()
    }

    fn offset(&self) -> usize {
        self.buf.offset()
    }

    fn flush(&mut self) {
        self.flush_literal_pool();
    }

    fn update_branches(&mut self) {
        Self::update_branches(self)
    }

    fn add_label(&mut self, label: Label) {
        Self::add_label(self, label)
    }

    fn available_regs_count(&self) -> u32 {
        // Only allocatable registers count, as in the reference's `available_regs` list.
        (self.available_regs & AVAILABLE_REGS_MASK).count_ones()
    }

    fn free_native_registers(&mut self, values: &[Val]) {
        for v in values {
            if let Val::Reg(r) | Val::Ptr(r) = *v {
                self.release_reg(r);
            }
        }
    }

    fn shift_right(&mut self, reg: Arg, shift: u32) -> Reg {
        Self::shift_right(self, reg, shift)
    }

    fn shift_right_arith(&mut self, reg: Arg, shift: u32) -> Reg {
        Self::shift_right_arith(self, reg, shift)
    }

    fn or_(&mut self, reg: Arg, value: Val) -> Reg {
        Self::or_(self, reg, value)
    }

    fn xor_(&mut self, reg: Arg, value: Val) -> Reg {
        Self::xor_(self, reg, value)
    }

    fn add(&mut self, reg: Arg, value: Val) -> Reg {
        Self::add(self, reg, value)
    }

    fn sub(&mut self, reg: Arg, value: Val) -> Reg {
        Self::sub(self, reg, value)
    }

    fn div_(&mut self, a: Reg, _b: Reg) -> Reg {
        self.fail(BackendError::Unsupported("div_ (no divide instruction)"));
        a
    }

    fn rem_(&mut self, a: Reg, _b: Reg) -> Reg {
        self.fail(BackendError::Unsupported("rem_ (no divide instruction)"));
        a
    }

    fn move_to_vm_register(&mut self, src: Arg, dest: Val) {
        // `{free, {ptr, Reg, 1}}` (a boxed float's payload) is what the fp-store clause takes as
        // a freed pointer.
        let src = match src.val {
            Val::PtrOffset(reg, 1) if src.free => Arg::free(Val::Ptr(reg)),
            _ => src,
        };
        Self::move_to_vm_register(self, src, dest)
    }

    fn move_array_element_free_index(&mut self, base: Reg, index: Reg, dest: Val) {
        // A register index is always consumed by this backend.
        Self::move_array_element(self, Arg::keep(Val::Reg(base)), Val::Reg(index), dest)
    }

    fn continuation_entry_point(&mut self) {
        Self::continuation_entry_point(self)
    }
}

#[cfg(test)]
mod mask_tests {
    use super::*;

    /// The bit tricks give the allocation order's answers for every mask.
    #[test]
    fn first_avail_and_mask_to_list_follow_the_allocation_order() {
        // Both ways of finding the highest bit (host, device) agree on every allocatable mask.
        for m in 1..=AVAILABLE_REGS_MASK {
            if m & !AVAILABLE_REGS_MASK == 0 {
                assert_eq!(highest_bit_by_walk(m), highest_bit_by_clz(m), "{m:#x}");
            }
        }
        for mask in 0..=u16::MAX {
            let in_order = ALLOCATION_ORDER
                .iter()
                .copied()
                .filter(|r| mask & r.bit() != 0);
            assert_eq!(first_avail(mask), in_order.clone().next(), "{mask:#x}");
            assert!(mask_to_list(mask).eq(in_order), "{mask:#x}");
        }
    }
}

/// Helpers for the backend's unit tests. Expected bytes in the tests come from running the
/// reference compiler's backend with the same calls.
#[cfg(test)]
pub(super) mod testing {
    use super::Armv6m;
    use crate::compile::backend::{Arg, Val};
    use crate::stream::VecSink;
    use alloc::string::String;

    pub const CTX: Arg = Arg::keep(Val::Ctx);
    pub const JIT_STATE: Arg = Arg::keep(Val::JitState);

    /// A backend over a strict sink (patches may only clear bits, as on flash).
    pub fn backend(variant: u32) -> Armv6m<VecSink> {
        let mut sink = VecSink::new();
        sink.set_strict(true);
        Armv6m::new(variant, sink)
    }

    /// The emitted bytes in upper-case hex, after checking no error was recorded.
    pub fn hex(b: &Armv6m<VecSink>) -> String {
        use crate::compile::backend::Backend;
        use core::fmt::Write;
        assert_eq!(b.error(), None);
        let mut s = String::new();
        for byte in b.sink().as_bytes() {
            let _ = write!(s, "{byte:02X}");
        }
        s
    }
}

#[cfg(test)]
mod error_tests {
    use super::testing::backend;
    use super::*;

    /// `has_error` (the driver's check after every instruction) agrees with `error`, for the
    /// backend's own errors and for the sink's.
    #[test]
    fn has_error_agrees_with_error() {
        let mut b = backend(0);
        b.put_ldr(R0, R1, 4);
        assert!(!b.has_error() && b.error().is_none());
        b.put_ldr(R0, R1, 3);
        assert!(b.has_error() && b.error().is_some());

        let mut b = backend(0);
        b.buf.emit(&[0x00, 0x00]);
        b.buf.replace(0, &[0xFF, 0xFF]);
        assert!(b.error().is_some(), "a strict sink refuses to set bits");
        assert!(b.has_error());
    }
}

//! The riscv32 (RV32IMAC) ISA: encoder, disassembler, label-use kinds, and the backend
//! [`Riscv32`], a macro-assembler implementing [`Backend`] whose output is meant to be
//! byte-identical to the reference's `jit_riscv32` backend (arch 4, variant PIC).
//!
//! The backend is split by concern like armv6m: `calls.rs` (primitive and function-pointer
//! calls), `moves.rs` (VM registers, arrays, continuation pointer), `conditions.rs`
//! (`if_block`), `arith.rs` (bitwise, add/sub/mul, shifts, divide), and this file (state,
//! registers, jump table, labels, branches, scheduling). It reuses the ISA-neutral
//! [`CodeBuffer`] and [`crate::isa::regs::Regs`] unchanged; what the reference does not do is
//! an error ([`BackendError::Unsupported`]), never placeholder code.

pub mod asm;
pub mod disasm;
pub mod labels;
pub mod layout;

mod arith;
mod calls;
mod conditions;
mod moves;

use crate::abi::context::{JITSTATE_CONTINUATION, JITSTATE_MODULE, JITSTATE_REDUCTION_COUNT};
use crate::abi::prims::PRIM_SCHEDULE_NEXT_CP;
use crate::abi::term::{cp_offset_bits, MODULE_INDEX_SHIFT};
use crate::compile::backend::{Arg, Backend, BackendError, Label, Reg, Val};
use crate::isa::buffer::{self, CodeBuffer};
use crate::stream::CodeSink;
use asm::{AsmError, Insn, Seq, XReg};
use labels::LabelUse;

/// The backend's register numbers (the reference's mask bits): a0..a7 = 0..7, t0..t6 = 8..14.
pub mod names {
    use crate::compile::backend::Reg;

    pub const A0: Reg = Reg(0);
    pub const A1: Reg = Reg(1);
    pub const A2: Reg = Reg(2);
    pub const A3: Reg = Reg(3);
    pub const T0: Reg = Reg(8);
    pub const T6: Reg = Reg(14);

    /// A register's bit in the backend's `u16` masks.
    pub trait RegBit {
        fn bit(self) -> u16;
    }

    impl RegBit for Reg {
        #[inline]
        fn bit(self) -> u16 {
            1u16.checked_shl(u32::from(self.0)).unwrap_or(0)
        }
    }
}

use names::*;

/// The encoder's register for a backend register (a_n = x10+n, t0..t2 = x5..x7, t3..t6 =
/// x28..x31). Numbers beyond t6 never come from the driver; they map to `zero`, which every
/// use site would encode visibly wrong, so `xr` is only called with registers this backend
/// handed out.
#[inline]
pub fn xr(r: Reg) -> XReg {
    let n = match r.0 {
        0..=7 => 10 + r.0,
        8..=10 => 5 + (r.0 - 8),
        11..=14 => 28 + (r.0 - 11),
        _ => 0,
    };
    XReg::new(n).unwrap_or(XReg::ZERO)
}

/// The register contents tracker over the 15 registers (search order: a0..a7, t0..t6, the
/// alphabetical order of their names, which is their numeric order here).
pub(super) type Regs = crate::isa::regs::Regs<RegFile, 15>;

/// riscv32's register file for the contents tracker.
#[derive(Clone, Copy)]
pub(super) struct RegFile;

impl crate::isa::regs::RegisterFile for RegFile {
    const SEARCH_ORDER: &'static [u8] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
}

/// Registers the allocator hands out: t0..t6.
pub(super) const AVAILABLE_REGS_MASK: u16 = 0x7F00;
/// Parameter registers a0..a7.
pub(super) const PARAMETER_REGS: [Reg; 8] = [
    Reg(0),
    Reg(1),
    Reg(2),
    Reg(3),
    Reg(4),
    Reg(5),
    Reg(6),
    Reg(7),
];
pub(super) const CTX_REG: Reg = A0;
pub(super) const JITSTATE_REG: Reg = A1;
pub(super) const NATIVE_INTERFACE_REG: Reg = A2;
/// Bytes per jump table entry: `auipc a3, hi; jalr zero, lo(a3)`.
pub const JUMP_TABLE_ENTRY_SIZE: usize = 8;

impl buffer::LabelUse for LabelUse {
    fn placeholder_size(self) -> usize {
        self.placeholder_len()
    }

    /// The distance from the use to its target within [`LabelUse::range`] (for
    /// [`LabelUse::LoadImmediate`], the value).
    #[inline]
    fn in_range(self, at: usize, target: usize) -> bool {
        let rel = target as i64 - at as i64;
        let (lo, hi, step) = self.range();
        (lo..=hi).contains(&rel) && rel % step == 0
    }

    fn patch<S: CodeSink>(
        self,
        target: usize,
        out: buffer::Placeholder<'_, S>,
    ) -> Result<(), BackendError> {
        let rel = target as i64 - out.at() as i64;
        let p = labels::patch(self, rel).map_err(asm_error)?;
        out.write(p.as_bytes())
    }

    /// `kkkrrrrr`: the kind `k` and its register `r`, below 256; `CondBranch` above:
    /// `1 << 16 | op << 10 | rs1 << 5 | rs2`.
    fn to_bits(self) -> u32 {
        let (k, r) = match self {
            LabelUse::JumpTableEntry => (0, XReg::ZERO),
            LabelUse::FarBranch { temp } => (1, temp),
            LabelUse::PcRelAddress { rd } => (2, rd),
            LabelUse::ElseJump => (3, XReg::ZERO),
            LabelUse::LoadImmediate { rd } => (4, rd),
            LabelUse::CondBranch { op, rs1, rs2 } => {
                let (rs1, rs2) = (u32::from(rs1.num()), u32::from(rs2.num()));
                return 1 << 16 | (op as u32) << 10 | rs1 << 5 | rs2;
            }
        };
        k << 5 | u32::from(r.num())
    }

    fn from_bits(bits: u32) -> Option<Self> {
        let reg = |shift: u32| XReg::new((bits >> shift & 0x1F) as u8);
        if bits >> 16 == 1 {
            let op = *BRANCH_OPS.get((bits >> 10 & 0x3F) as usize)?;
            let (rs1, rs2) = (reg(5)?, reg(0)?);
            return Some(LabelUse::CondBranch { op, rs1, rs2 });
        }
        let r = reg(0)?;
        Some(match bits {
            0 => LabelUse::JumpTableEntry,
            0x20..=0x3F => LabelUse::FarBranch { temp: r },
            0x40..=0x5F => LabelUse::PcRelAddress { rd: r },
            0x60 => LabelUse::ElseJump,
            0x80..=0x9F => LabelUse::LoadImmediate { rd: r },
            _ => return None,
        })
    }
}

/// The branch ops in declaration order (`op as u32` indexes it).
const BRANCH_OPS: [labels::BranchOp; 6] = {
    use labels::BranchOp::*;
    [Beq, Bne, Blt, Bge, Bltu, Bgeu]
};

/// The backend error for an operand the encoder rejects.
pub(super) fn asm_error(e: AsmError) -> BackendError {
    let (what, value) = match e {
        AsmError::ImmediateOutOfRange(v) => ("immediate", v),
        AsmError::OffsetOutOfRange(v) => ("offset", v),
        AsmError::Misaligned(v) => ("misaligned offset", v),
        AsmError::CompressedRegisterRequired(r) => ("compressed register", i64::from(r.num())),
        AsmError::ReservedRegister(r) => ("reserved register", i64::from(r.num())),
        AsmError::ZeroImmediate => ("zero immediate", 0),
    };
    BackendError::Encoding { what, value }
}

/// The first allocatable register of `mask`: t6, t5, .., t0.
#[inline]
pub(super) fn first_avail(mask: u16) -> Option<Reg> {
    (8..=14u8).rev().map(Reg).find(|r| mask & r.bit() != 0)
}

/// The registers of `mask` in the reference's list order: t6..t0, then a7..a0.
#[inline]
pub(super) fn mask_to_list(mask: u16) -> impl Iterator<Item = Reg> {
    (8..=14u8)
        .rev()
        .chain((0..=7u8).rev())
        .map(Reg)
        .filter(move |r| mask & r.bit() != 0)
}

#[inline]
pub(super) fn regs_to_mask(regs: impl IntoIterator<Item = Reg>) -> u16 {
    regs.into_iter().fold(0, |m, r| m | r.bit())
}

/// The register an argument occupies in the reference's `args_regs` (x/y/fp registers count
/// as ctx; immediates, offsets, jit_state and stack as none).
#[inline]
pub(super) fn arg_reg(arg: &Arg) -> Option<Reg> {
    match arg.val {
        Val::Reg(r) | Val::Ptr(r) | Val::PtrOffset(r, _) => Some(r),
        Val::Ctx | Val::X(_) | Val::XExtra | Val::Y(_) | Val::Fp(_) => Some(CTX_REG),
        _ => None,
    }
}

#[inline]
pub(super) fn args_mask(args: &[Arg]) -> u16 {
    regs_to_mask(args.iter().filter_map(arg_reg))
}

/// The riscv32 backend state.
pub struct Riscv32<S: CodeSink> {
    pub(super) buf: CodeBuffer<S, LabelUse>,
    pub(super) jump_table_start: usize,
    pub(super) available_regs: u16,
    pub(super) used_regs: u16,
    pub(super) regs: Regs,
    /// The code offset an `offset` argument of the call being emitted stands for.
    pub(super) call_offset: usize,
}

impl<S: CodeSink> Riscv32<S> {
    pub fn new(sink: S) -> Self {
        Riscv32 {
            buf: CodeBuffer::new(sink),
            jump_table_start: 0,
            available_regs: AVAILABLE_REGS_MASK,
            used_regs: 0,
            regs: Regs::new(),
            call_offset: 0,
        }
    }

    pub fn into_sink(self) -> S {
        self.buf.into_sink()
    }

    pub fn sink(&self) -> &S {
        self.buf.sink()
    }

    // ---- emission helpers -----------------------------------------------------------------

    #[inline]
    pub(super) fn fail(&mut self, e: BackendError) {
        self.buf.fail(e);
    }

    #[inline]
    pub(super) fn unsupported(&mut self, what: &'static str) {
        self.fail(BackendError::Unsupported(what));
    }

    #[inline]
    pub(super) fn cur_offset(&self) -> usize {
        self.buf.offset()
    }

    /// Append one instruction (or record why it cannot be encoded).
    pub(super) fn put(&mut self, insn: Result<Insn, AsmError>) {
        match insn {
            Ok(i) => self.buf.emit(&i.to_bytes()[..i.len()]),
            Err(e) => self.fail(asm_error(e)),
        }
    }

    #[inline]
    pub(super) fn put_i(&mut self, insn: Insn) {
        self.put(Ok(insn));
    }

    pub(super) fn put_w(&mut self, word: Result<u32, AsmError>) {
        self.put(word.map(Insn::full));
    }

    pub(super) fn put_seq(&mut self, seq: Result<Seq, AsmError>) {
        match seq {
            Ok(s) => self.buf.emit(s.as_bytes()),
            Err(e) => self.fail(asm_error(e)),
        }
    }

    /// `li rd, value` (the reference's `mov_immediate`).
    pub(super) fn li(&mut self, rd: Reg, value: i64) {
        self.put_seq(asm::li(xr(rd), value));
    }

    /// `first_avail`, recording `OutOfRegisters` when `mask` is empty (the reference crashes).
    pub(super) fn avail(&mut self, mask: u16) -> Reg {
        match first_avail(mask) {
            Some(r) => r,
            None => {
                self.fail(BackendError::OutOfRegisters);
                T6
            }
        }
    }

    pub(super) fn take_reg(&mut self, reg: Reg) {
        self.available_regs &= !reg.bit();
        self.used_regs |= reg.bit();
    }

    pub(super) fn release_reg(&mut self, reg: Reg) {
        self.available_regs |= reg.bit();
        self.used_regs &= !reg.bit();
    }

    pub(super) fn alloc_reg(&mut self) -> Reg {
        let r = self.avail(self.available_regs);
        self.take_reg(r);
        r
    }

    /// The reference's `merge_used_regs`.
    pub(super) fn merge_used_regs(&mut self, other_used: u16) {
        self.used_regs |= other_used;
        self.available_regs = AVAILABLE_REGS_MASK & !self.used_regs;
    }

    /// `auipc rd, hi` [+ `addi rd, rd, lo`] for pc + rel, unpadded.
    pub(super) fn pc_relative_address(&mut self, rd: Reg, rel: i64) {
        match labels::pc_relative_address(xr(rd), rel) {
            Ok(p) => self.buf.emit(p.as_bytes()),
            Err(e) => self.fail(asm_error(e)),
        }
    }

    // ---- jump table, labels, branches -----------------------------------------------------

    fn jump_table(&mut self, labels_count: u32) {
        self.jump_table_start = self.cur_offset();
        self.buf.set_label_limit(labels_count);
        for _ in 0..=labels_count {
            self.buf.emit(&[0xFF; JUMP_TABLE_ENTRY_SIZE]);
        }
    }

    fn add_label_at(&mut self, label: Label, offset: usize) {
        if let Label::Num(n) = label {
            if self.buf.beyond_limit(n) {
                self.fail(BackendError::OutOfRange("label beyond the jump table"));
                return;
            }
            let entry = self.jump_table_start + n as usize * JUMP_TABLE_ENTRY_SIZE;
            self.buf.patch_use(entry, LabelUse::JumpTableEntry, offset);
        }
        self.buf.place(label, offset);
    }

    /// The code jumping from `offset` to the known `target` (`j`, or `auipc`+`jalr`).
    fn branch_to_offset(&mut self, offset: usize, target: usize) {
        let rel = target as i64 - offset as i64;
        if (-2044..=2050).contains(&rel) {
            self.put(asm::j(rel));
            return;
        }
        let Some(temp) = first_avail(self.available_regs) else {
            return self.fail(BackendError::OutOfRegisters);
        };
        match asm::split_pc_offset(rel) {
            Some((hi, lo)) => {
                self.put_w(asm::auipc(xr(temp), hi));
                self.put(asm::jalr(XReg::ZERO, xr(temp), lo));
            }
            None => self.fail(BackendError::OutOfRange("branch")),
        }
    }

    /// `branch_to_label_code`: a jump to `label`, patched later if it is not placed yet.
    fn branch_to_label(&mut self, label: Label) {
        let offset = self.cur_offset();
        match self.buf.label_offset(label) {
            Some(target) => self.branch_to_offset(offset, target),
            None => {
                let temp = first_avail(self.available_regs).unwrap_or(T6);
                self.buf
                    .emit_use(label, LabelUse::FarBranch { temp: xr(temp) });
            }
        }
    }

    fn jump_to_label(&mut self, label: u32) {
        self.branch_to_label(Label::Num(label));
        self.regs.invalidate_all();
    }

    fn jump_to_offset(&mut self, target: usize) {
        let offset = self.cur_offset();
        self.branch_to_offset(offset, target);
        self.regs.invalidate_all();
    }

    fn jump_to_continuation(&mut self, value: Arg) {
        let (Val::Reg(offset_reg), true) = (value.val, value.free) else {
            return self.unsupported("jump_to_continuation operand");
        };
        let temp = self.avail(self.available_regs);
        let net = self.buf.base_offset() as i64 - self.cur_offset() as i64;
        self.pc_relative_address(temp, net);
        self.put_i(asm::add(xr(temp), xr(temp), xr(offset_reg)));
        self.put_i(asm::jr(xr(temp)));
        self.available_regs = AVAILABLE_REGS_MASK;
        self.used_regs = 0;
    }

    fn return_if_not_equal_to_ctx(&mut self, value: Arg) {
        let (Val::Reg(reg), true) = (value.val, value.free) else {
            return self.unsupported("return_if_not_equal_to_ctx operand");
        };
        let mv = (reg != A0).then(|| asm::mv(XReg::A0, xr(reg)));
        let ret = asm::ret();
        let skip = 4 + mv.map_or(0, |i| i.len()) + ret.len();
        self.put(asm::beq(xr(reg), XReg::A0, skip as i64));
        if let Some(mv) = mv {
            self.put_i(mv);
        }
        self.put_i(ret);
        self.release_reg(reg);
        self.regs.invalidate_reg(reg);
    }

    // ---- continuations and scheduling -----------------------------------------------------

    fn set_continuation_to_label(&mut self, label: u32) {
        let temp = self.avail(self.available_regs);
        self.regs.invalidate_reg(temp);
        let offset = self.cur_offset();
        match self.buf.label_offset(Label::Num(label)) {
            Some(target) => self.pc_relative_address(temp, target as i64 - offset as i64),
            None => self
                .buf
                .emit_use(Label::Num(label), LabelUse::PcRelAddress { rd: xr(temp) }),
        }
        self.store_continuation(temp);
    }

    fn store_continuation(&mut self, temp: Reg) {
        self.put(asm::sw(xr(JITSTATE_REG), xr(temp), JITSTATE_CONTINUATION));
    }

    fn set_continuation_to_offset(&mut self) -> Label {
        let temp = self.avail(self.available_regs);
        let label = self.buf.new_local_label();
        self.buf
            .emit_use(label, LabelUse::PcRelAddress { rd: xr(temp) });
        self.store_continuation(temp);
        self.regs.invalidate_reg(temp);
        label
    }

    fn get_module_index(&mut self) -> Reg {
        let reg = self.avail(self.available_regs);
        self.put(asm::lw(xr(reg), xr(JITSTATE_REG), JITSTATE_MODULE));
        self.put(asm::lw(xr(reg), xr(reg), 0));
        self.take_reg(reg);
        self.regs.invalidate_reg(reg);
        reg
    }

    /// `lw t, 8(a1); addi t, t, -1; sw t, 8(a1)`.
    fn decrement_reductions(&mut self, temp: Reg) {
        let t = xr(temp);
        let js = xr(JITSTATE_REG);
        self.put(asm::lw(t, js, JITSTATE_REDUCTION_COUNT));
        self.put(asm::addi(t, t, -1));
        self.put(asm::sw(js, t, JITSTATE_REDUCTION_COUNT));
    }

    fn decrement_reductions_and_maybe_schedule_next(&mut self) {
        let temp = self.avail(self.available_regs);
        self.regs.invalidate_reg(temp);
        self.decrement_reductions(temp);
        let bne_offset = self.cur_offset();
        self.buf.emit(&[0xFF; 12]);
        self.store_continuation(temp);
        let regs1 = self.regs;
        let used1 = self.used_regs;
        self.call_primitive_last(
            PRIM_SCHEDULE_NEXT_CP,
            &[Arg::keep(Val::Ctx), Arg::keep(Val::JitState)],
        );
        let here = self.cur_offset();
        self.buf.patch_use(
            bne_offset,
            LabelUse::CondBranch {
                op: labels::BranchOp::Bne,
                rs1: xr(temp),
                rs2: XReg::ZERO,
            },
            here,
        );
        self.buf.patch_use(
            bne_offset + 4,
            LabelUse::PcRelAddress { rd: xr(temp) },
            here,
        );
        self.merge_used_regs(used1);
        self.regs = regs1;
    }

    fn call_or_schedule_next(&mut self, label: u32) {
        let (rewrite, temp) = self.set_cp();
        self.call_only_or_schedule_next(label);
        self.rewrite_cp_offset(rewrite, temp);
    }

    fn call_only_or_schedule_next(&mut self, label: u32) {
        let temp = self.avail(self.available_regs);
        self.decrement_reductions(temp);
        let bcc_offset = self.cur_offset();
        let known = self.buf.label_offset(Label::Num(label));
        let near = known
            .map(|t| t as i64 - bcc_offset as i64)
            .filter(|rel| (-4096..=4094).contains(rel) && rel % 2 == 0);
        match near {
            Some(rel) => self.put(asm::bne(xr(temp), XReg::ZERO, rel)),
            None => {
                // `beq t, zero, +4+size` over the jump; the jump's size depends on where it
                // lands, so emit the beq as a placeholder and patch it after.
                self.buf.emit(&[0xFF; 4]);
                self.branch_to_label(Label::Num(label));
                let after = self.cur_offset();
                self.buf.patch_use(
                    bcc_offset,
                    LabelUse::CondBranch {
                        op: labels::BranchOp::Beq,
                        rs1: xr(temp),
                        rs2: XReg::ZERO,
                    },
                    after,
                );
            }
        }
        self.set_continuation_to_label(label);
        self.call_primitive_last(
            PRIM_SCHEDULE_NEXT_CP,
            &[Arg::keep(Val::Ctx), Arg::keep(Val::JitState)],
        );
    }

    fn call_primitive_with_cp(&mut self, primitive: u32, args: &[Arg]) {
        let (rewrite, temp) = self.set_cp();
        self.call_primitive_last(primitive, args);
        self.rewrite_cp_offset(rewrite, temp);
    }

    fn set_cp(&mut self) -> (usize, Reg) {
        let temp = self.avail(self.available_regs);
        self.take_reg(temp);
        let reg = self.get_module_index();
        self.put(asm::slli(xr(reg), xr(reg), MODULE_INDEX_SHIFT.into()));
        let mov_offset = self.cur_offset();
        self.buf.emit(&[0xFF; 8]);
        self.put_i(asm::or(xr(reg), xr(reg), xr(temp)));
        self.put(asm::sw(xr(CTX_REG), xr(reg), crate::abi::context::CTX_CP));
        self.release_reg(reg);
        self.release_reg(temp);
        (mov_offset, temp)
    }

    fn rewrite_cp_offset(&mut self, rewrite: usize, temp: Reg) {
        let value = cp_offset_bits(self.cur_offset() as i64 - self.buf.base_offset() as i64);
        match labels::patch(LabelUse::LoadImmediate { rd: xr(temp) }, value) {
            Ok(p) => self.buf.replace(rewrite, p.as_bytes()),
            Err(e) => self.fail(asm_error(e)),
        }
    }

    fn return_labels_and_lines(&mut self, sorted_lines: &dyn crate::compile::SortedLines) {
        self.pc_relative_address(A0, 10);
        self.put_i(asm::ret());
        self.buf.emit(&[0xFF, 0xFF]);
        self.buf.emit_label_and_line_tables(sorted_lines);
    }
}

impl<S: CodeSink> Backend for Riscv32<S> {
    crate::isa::forward_backend_methods!();

    const WORD_SIZE: u32 = 4;
    const HAS_DIV: bool = true;

    fn error(&self) -> Option<BackendError> {
        self.buf.error()
    }

    fn offset(&self) -> usize {
        self.buf.offset()
    }

    fn flush(&mut self) {}

    fn update_branches(&mut self) {
        self.buf.patch_all()
    }

    fn add_label(&mut self, label: Label) {
        self.regs.invalidate_all();
        let offset = self.cur_offset();
        Self::add_label_at(self, label, offset)
    }

    fn available_regs_count(&self) -> u32 {
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
        Self::shift_right(self, reg, shift, false)
    }

    fn shift_right_arith(&mut self, reg: Arg, shift: u32) -> Reg {
        Self::shift_right(self, reg, shift, true)
    }

    fn or_(&mut self, reg: Arg, value: Val) -> Reg {
        Self::or_xor(self, reg, value, false)
    }

    fn xor_(&mut self, reg: Arg, value: Val) -> Reg {
        Self::or_xor(self, reg, value, true)
    }

    fn add(&mut self, reg: Arg, value: Val) -> Reg {
        Self::add_sub(self, reg, value, false)
    }

    fn sub(&mut self, reg: Arg, value: Val) -> Reg {
        Self::add_sub(self, reg, value, true)
    }

    fn div_(&mut self, a: Reg, b: Reg) -> Reg {
        self.put_i(Insn::full(asm::div(xr(a), xr(a), xr(b))));
        self.regs.invalidate_reg(a);
        a
    }

    fn rem_(&mut self, a: Reg, b: Reg) -> Reg {
        self.put_i(Insn::full(asm::rem(xr(a), xr(a), xr(b))));
        self.regs.invalidate_reg(a);
        a
    }

    fn move_to_vm_register(&mut self, src: Arg, dest: Val) {
        Self::move_to_vm_register(self, src, dest)
    }

    fn move_array_element_free_index(&mut self, base: Reg, index: Reg, dest: Val) {
        Self::move_array_element_free_index(self, base, index, dest)
    }

    fn continuation_entry_point(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::backend::{Cast, CmpOp, Cond};
    use crate::isa::buffer::LabelUse as _;
    use crate::stream::VecSink;

    #[test]
    fn label_uses_patch_exactly_their_range() {
        // The kinds the backend makes, over each range's bounds and past them: `patch`
        // succeeds exactly where `in_range` says (the buffer asserts it in test builds).
        let mut kinds = std::vec![LabelUse::JumpTableEntry, LabelUse::ElseJump];
        for r in [XReg::T0, XReg::T6, XReg::A0, XReg::A5] {
            kinds.extend([
                LabelUse::FarBranch { temp: r },
                LabelUse::PcRelAddress { rd: r },
                LabelUse::LoadImmediate { rd: r },
            ]);
            for op in BRANCH_OPS {
                kinds.push(LabelUse::CondBranch {
                    op,
                    rs1: r,
                    rs2: XReg::ZERO,
                });
            }
        }
        let mut rels: std::vec::Vec<i64> = (-40..40).collect();
        for bound in [2048i64, 4096, 1 << 20, 1 << 31, 1 << 32] {
            for d in -12..=12 {
                rels.extend([bound + d, -bound + d, bound - 0x800 + d, -bound - 0x800 + d]);
            }
        }
        buffer::check_label_use_contract(&kinds, &[0, 2, 4, 6, 4094], &rels);
    }

    #[test]
    fn label_uses_pack_into_a_byte_and_back() {
        let mut bits = std::collections::BTreeSet::new();
        for r in 0..32 {
            let r = XReg::new(r).unwrap();
            let mut kinds = std::vec![
                LabelUse::JumpTableEntry,
                LabelUse::FarBranch { temp: r },
                LabelUse::PcRelAddress { rd: r },
                LabelUse::ElseJump,
                LabelUse::LoadImmediate { rd: r },
            ];
            let small = kinds.len();
            for (op, rs2) in BRANCH_OPS
                .iter()
                .zip([XReg::ZERO, XReg::A5, XReg::T6].iter().cycle())
            {
                kinds.push(LabelUse::CondBranch {
                    op: *op,
                    rs1: r,
                    rs2: *rs2,
                });
            }
            for (i, kind) in kinds.into_iter().enumerate() {
                let b = kind.to_bits();
                assert_eq!(LabelUse::from_bits(b), Some(kind), "{kind:?}");
                bits.insert(b);
                assert_eq!(b < 256, i < small, "{kind:?}");
            }
        }
        assert_eq!(bits.len(), 2 + 3 * 32 + 6 * 32);
        for b in [0x61, 0xA0, 0xFF, 0x1_1800, 0x2_0000] {
            assert_eq!(LabelUse::from_bits(b), None);
        }
    }

    fn backend() -> Riscv32<VecSink> {
        let mut sink = VecSink::new();
        sink.set_strict(true);
        Riscv32::new(sink)
    }

    fn unsupported(b: &Riscv32<VecSink>) -> bool {
        matches!(b.error(), Some(BackendError::Unsupported(_)))
    }

    #[test]
    fn register_numbering_and_orders_follow_the_reference() {
        assert_eq!(xr(A0), XReg::A0);
        assert_eq!(xr(Reg(7)), XReg::A7);
        assert_eq!(xr(T0), XReg::T0);
        assert_eq!(xr(Reg(10)), XReg::T2);
        assert_eq!(xr(Reg(11)), XReg::T3);
        assert_eq!(xr(T6), XReg::T6);
        assert_eq!(first_avail(AVAILABLE_REGS_MASK), Some(T6));
        assert_eq!(first_avail(T0.bit() | A3.bit()), Some(T0));
        assert_eq!(first_avail(A3.bit()), None);
        let order: alloc::vec::Vec<u8> = mask_to_list(0x7FFF).map(|r| r.0).collect();
        assert_eq!(order, [14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    }

    #[test]
    fn labels_and_lines_stub_returns_the_tables_address() {
        let mut b = backend();
        b.jump_table(0);
        b.add_label(Label::Num(0));
        b.return_labels_and_lines(&[]);
        assert_eq!(b.error(), None);
        // entry 0: auipc a3, 0; jalr zero, 8(a3). Then auipc a0, 0; c.addi a0, 10; c.jr ra;
        // ff ff; one label (0 at 8), no lines.
        assert_eq!(
            b.sink().as_bytes(),
            [
                0x97, 0x06, 0x00, 0x00, 0x67, 0x80, 0x86, 0x00, // jump table
                0x17, 0x05, 0x00, 0x00, 0x29, 0x05, 0x82, 0x80, 0xFF, 0xFF, // stub
                0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, // labels
                0x00, 0x00, // lines
            ]
        );
    }

    #[test]
    fn forward_jump_is_patched_to_a_short_jump_with_padding() {
        let mut b = backend();
        b.jump_table(1);
        b.jump_to_label(1);
        b.add_label(Label::Num(1));
        assert_eq!(b.error(), None);
        // c.j +8; c.nop; nop at 16, label 1 at 24.
        assert_eq!(
            &b.sink().as_bytes()[16..24],
            [0x21, 0xA0, 0x01, 0x00, 0x13, 0x00, 0x00, 0x00]
        );
    }

    #[test]
    fn what_the_reference_does_not_do_is_an_error() {
        let mut b = backend();
        b.move_to_native_register(Val::Fp(0));
        assert!(unsupported(&b));

        let mut b = backend();
        let r = b.alloc_reg();
        let cond = Cond::Cmp {
            cast: Cast::Int,
            lhs: Arg::keep(Val::Reg(r)),
            op: CmpOp::Lt,
            rhs: Arg::keep(Val::Imm(3)),
        };
        b.if_block(cond, |_| {});
        assert!(unsupported(&b));

        let mut b = backend();
        b.call_primitive_last(3, &[Arg::keep(Val::Ctx), Arg::keep(Val::Imm(1))]);
        assert!(unsupported(&b));

        let mut b = backend();
        let nine = [Arg::keep(Val::Imm(1)); 9];
        b.call_primitive(3, &nine);
        assert!(unsupported(&b));

        let mut b = backend();
        b.mul(Arg::keep(Val::Imm(5)), Val::Imm(8));
        assert!(unsupported(&b));
    }

    #[test]
    fn running_out_of_registers_is_an_error_not_a_panic() {
        let mut b = backend();
        for _ in 0..7 {
            b.alloc_reg();
        }
        assert_eq!(b.error(), None);
        b.alloc_reg();
        assert_eq!(b.error(), Some(BackendError::OutOfRegisters));
    }
}

//! Native code generation: the ISA-neutral code buffer and register tracking, and one module
//! per instruction set.

pub mod armv6m;
pub mod buffer;
mod fixed_vec;
pub mod listing;
mod pending;
pub mod regs;
pub mod riscv32;

use core::fmt;

use crate::abi::jit;
use crate::compile::{compile_module, CompileError, CompileErrorKind, ModuleEnv};
use crate::error::Result;
use crate::native::{ArchEntry, CodeLayout, Native};
use crate::stream::CodeSink;
use armv6m::Armv6m;
use riscv32::Riscv32;

/// The [`Backend`](crate::compile::backend::Backend) methods whose implementation is, in every
/// backend, the backend's own inherent method of the same name and signature (each backend splits
/// its lowering over several files as inherent `impl` blocks; a trait `impl` cannot be split). Used
/// inside `impl Backend for ...`: an inherent method takes precedence over the trait's in
/// `Self::name`, so each generated method calls the backend's own. A backend whose method differs
/// writes that method in its `impl` instead and leaves it out of its inherent methods' names.
macro_rules! forward_backend_methods {
    () => {
        fn jump_table(&mut self, labels_count: u32) {
            Self::jump_table(self, labels_count)
        }

        fn return_labels_and_lines(&mut self, sorted_lines: &dyn $crate::compile::SortedLines) {
            Self::return_labels_and_lines(self, sorted_lines)
        }

        fn add_label_at(&mut self, label: $crate::compile::backend::Label, offset: usize) {
            Self::add_label_at(self, label, offset)
        }

        fn call_primitive(
            &mut self,
            primitive: u32,
            args: &[$crate::compile::backend::Arg],
        ) -> $crate::compile::backend::Reg {
            Self::call_primitive(self, primitive, args)
        }

        fn call_primitive_last(&mut self, primitive: u32, args: &[$crate::compile::backend::Arg]) {
            Self::call_primitive_last(self, primitive, args)
        }

        fn call_primitive_with_cp(
            &mut self,
            primitive: u32,
            args: &[$crate::compile::backend::Arg],
        ) {
            Self::call_primitive_with_cp(self, primitive, args)
        }

        fn call_func_ptr(
            &mut self,
            func: $crate::compile::backend::FuncPtr,
            args: &[$crate::compile::backend::Arg],
        ) -> $crate::compile::backend::Reg {
            Self::call_func_ptr(self, func, args)
        }

        fn return_if_not_equal_to_ctx(&mut self, value: $crate::compile::backend::Arg) {
            Self::return_if_not_equal_to_ctx(self, value)
        }

        fn jump_to_label(&mut self, label: u32) {
            Self::jump_to_label(self, label)
        }

        fn jump_to_continuation(&mut self, value: $crate::compile::backend::Arg) {
            Self::jump_to_continuation(self, value)
        }

        fn jump_to_offset(&mut self, offset: usize) {
            Self::jump_to_offset(self, offset)
        }

        fn if_block(&mut self, cond: $crate::compile::backend::Cond, body: impl FnOnce(&mut Self)) {
            Self::if_block(self, cond, body)
        }

        fn if_block_and(
            &mut self,
            conds: &[$crate::compile::backend::Cond],
            body: impl FnOnce(&mut Self),
        ) {
            Self::if_block_and(self, conds, body)
        }

        fn if_else_block(
            &mut self,
            cond: $crate::compile::backend::Cond,
            then_body: impl FnOnce(&mut Self),
            else_body: impl FnOnce(&mut Self),
        ) {
            Self::if_else_block(self, cond, then_body, else_body)
        }

        fn shift_left(
            &mut self,
            reg: $crate::compile::backend::Arg,
            shift: u32,
        ) -> $crate::compile::backend::Reg {
            Self::shift_left(self, reg, shift)
        }

        fn and_(
            &mut self,
            reg: $crate::compile::backend::Arg,
            value: $crate::compile::backend::Val,
        ) -> $crate::compile::backend::Reg {
            Self::and_(self, reg, value)
        }

        fn mul(
            &mut self,
            reg: $crate::compile::backend::Arg,
            value: $crate::compile::backend::Val,
        ) -> $crate::compile::backend::Reg {
            Self::mul(self, reg, value)
        }

        fn move_to_native_register(
            &mut self,
            src: $crate::compile::backend::Val,
        ) -> $crate::compile::backend::Reg {
            Self::move_to_native_register(self, src)
        }

        fn move_to_native_register_to(
            &mut self,
            src: $crate::compile::backend::Val,
            dest: $crate::compile::backend::Reg,
        ) {
            Self::move_to_native_register_to(self, src, dest)
        }

        fn copy_to_native_register(
            &mut self,
            src: $crate::compile::backend::Val,
        ) -> $crate::compile::backend::Reg {
            Self::copy_to_native_register(self, src)
        }

        fn move_to_cp(&mut self, src: $crate::compile::backend::Val) {
            Self::move_to_cp(self, src)
        }

        fn move_array_element(
            &mut self,
            base: $crate::compile::backend::Arg,
            index: $crate::compile::backend::Val,
            dest: $crate::compile::backend::Val,
        ) {
            Self::move_array_element(self, base, index, dest)
        }

        fn get_array_element(
            &mut self,
            base: $crate::compile::backend::Arg,
            index: u32,
        ) -> $crate::compile::backend::Reg {
            Self::get_array_element(self, base, index)
        }

        fn move_to_array_element(
            &mut self,
            src: $crate::compile::backend::Val,
            base: $crate::compile::backend::Reg,
            index: $crate::compile::backend::Val,
        ) {
            Self::move_to_array_element(self, src, base, index)
        }

        fn move_to_array_element_offset(
            &mut self,
            src: $crate::compile::backend::Val,
            base: $crate::compile::backend::Reg,
            index: $crate::compile::backend::Val,
            offset: i64,
        ) {
            Self::move_to_array_element_offset(self, src, base, index, offset)
        }

        fn set_bs(&mut self, src: $crate::compile::backend::Val) {
            Self::set_bs(self, src)
        }

        fn increment_sp(&mut self, words: i64) {
            Self::increment_sp(self, words)
        }

        fn set_continuation_to_label(&mut self, label: u32) {
            Self::set_continuation_to_label(self, label)
        }

        fn set_continuation_to_offset(&mut self) -> $crate::compile::backend::Label {
            Self::set_continuation_to_offset(self)
        }

        fn get_module_index(&mut self) -> $crate::compile::backend::Reg {
            Self::get_module_index(self)
        }

        fn decrement_reductions_and_maybe_schedule_next(&mut self) {
            Self::decrement_reductions_and_maybe_schedule_next(self)
        }

        fn call_or_schedule_next(&mut self, label: u32) {
            Self::call_or_schedule_next(self, label)
        }

        fn call_only_or_schedule_next(&mut self, label: u32) {
            Self::call_only_or_schedule_next(self, label)
        }
    };
}
pub(crate) use forward_backend_methods;

/// The code variants the compiler produces and reads back. Each names an ISA (the `avmN` arch
/// number) and the variant bits of its code; [`compile`] picks the backend for it and
/// [`CodeTarget::from_arch_variant`] is the one lookup from an `avmN` entry's numbers to it. Every
/// fact the rest of the crate and the CLI need of an ISA is reached through a `CodeTarget`: its
/// numbers, name, jump table, how its code is read back ([`CodeTarget::code_layout`],
/// [`CodeTarget::label_offset`]) and disassembled ([`CodeTarget::disassemble`] and the next two).
/// A new ISA adds a variant here (and in [`CodeTarget::ALL`]), an arm in each `match` of this
/// file, and its module beside `armv6m` and `riscv32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeTarget {
    /// Thumb-1 only (RP2040, Cortex-M0+): armv6m, variant PIC.
    Armv6m,
    /// Thumb-2 jump tables and immediates (RP2350, Cortex-M33): armv6m, variant PIC | THUMB2.
    Armv6mThumb2,
    /// RV32IMAC (RP2350 Hazard3, ESP32-C3/C6): riscv32, variant PIC.
    Riscv32,
}

impl CodeTarget {
    /// Every code variant, in the order `--help` and messages list them.
    pub const ALL: [CodeTarget; 3] = [
        CodeTarget::Armv6m,
        CodeTarget::Armv6mThumb2,
        CodeTarget::Riscv32,
    ];

    /// The code variant named [`CodeTarget::name`].
    pub fn from_name(name: &str) -> Option<CodeTarget> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The code variant whose layout and instructions an `avmN` entry of architecture `arch` with
    /// variant bits `variant` has; `None` for an architecture this crate has no backend for.
    /// Variant bits that do not change the code's layout (PIC, FLOAT32) are not looked at: an
    /// armv6m entry is `Armv6mThumb2` with the THUMB2 bit, `Armv6m` without.
    pub fn from_arch_variant(arch: u16, variant: u16) -> Option<CodeTarget> {
        match arch {
            jit::ARCH_ARMV6M if variant & jit::VARIANT_THUMB2 != 0 => {
                Some(CodeTarget::Armv6mThumb2)
            }
            jit::ARCH_ARMV6M => Some(CodeTarget::Armv6m),
            jit::ARCH_RISCV32 => Some(CodeTarget::Riscv32),
            _ => None,
        }
    }

    /// The `avmN` architecture number.
    pub fn arch(self) -> u16 {
        match self {
            CodeTarget::Armv6m | CodeTarget::Armv6mThumb2 => jit::ARCH_ARMV6M,
            CodeTarget::Riscv32 => jit::ARCH_RISCV32,
        }
    }
    /// The `avmN` variant bits.
    pub fn variant(self) -> u16 {
        match self {
            CodeTarget::Armv6m | CodeTarget::Riscv32 => jit::VARIANT_PIC,
            CodeTarget::Armv6mThumb2 => jit::VARIANT_PIC | jit::VARIANT_THUMB2,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            CodeTarget::Armv6m => "armv6m",
            CodeTarget::Armv6mThumb2 => "armv6m+thumb2",
            CodeTarget::Riscv32 => "riscv32",
        }
    }
    /// Bytes per label in the jump table at the start of the code.
    pub fn jump_table_entry_size(self) -> usize {
        match self {
            CodeTarget::Armv6m => armv6m::JUMP_TABLE_ENTRY_SIZE,
            CodeTarget::Armv6mThumb2 => armv6m::JUMP_TABLE_ENTRY_SIZE_THUMB2,
            CodeTarget::Riscv32 => riscv32::JUMP_TABLE_ENTRY_SIZE,
        }
    }

    /// The kind of jump table, as `disasm`'s listing names it.
    pub fn jump_table_kind(self) -> &'static str {
        match self {
            CodeTarget::Armv6m => "armv6m",
            CodeTarget::Armv6mThumb2 => "thumb2",
            CodeTarget::Riscv32 => "riscv32",
        }
    }

    /// Where the jump table, code, label-0 stub and tables of `native`'s entry `arch` (one whose
    /// numbers [`CodeTarget::from_arch_variant`] maps to `self`) are, read by the ISA's
    /// `layout` module.
    pub fn code_layout(self, native: &Native<'_>, arch: &ArchEntry) -> Result<CodeLayout> {
        match self {
            CodeTarget::Armv6m | CodeTarget::Armv6mThumb2 => {
                armv6m::layout::code_layout(native, arch, self)
            }
            CodeTarget::Riscv32 => riscv32::layout::code_layout(native, arch),
        }
    }

    /// Offset of `label` (0..=labels_count) according to the jump table of `layout` (a layout
    /// of this code variant).
    pub fn label_offset(
        self,
        native: &Native<'_>,
        layout: &CodeLayout,
        label: u32,
    ) -> Result<usize> {
        match self {
            CodeTarget::Armv6m | CodeTarget::Armv6mThumb2 => {
                armv6m::layout::label_offset(native, layout, label)
            }
            CodeTarget::Riscv32 => riscv32::layout::label_offset(native, layout, label),
        }
    }

    /// objdump-style listing of `bytes` (code loaded at `base`), by the ISA's disassembler.
    pub fn disassemble(self, bytes: &[u8], base: u32, out: &mut impl fmt::Write) -> fmt::Result {
        match self {
            CodeTarget::Armv6m | CodeTarget::Armv6mThumb2 => {
                armv6m::disasm::disassemble(bytes, base, out)
            }
            CodeTarget::Riscv32 => riscv32::disasm::disassemble(bytes, base, out),
        }
    }

    /// Bytes of the instruction at the start of `bytes` (at least 1 unless `bytes` is empty).
    pub fn decoded_len(self, bytes: &[u8], address: u32) -> usize {
        match self {
            CodeTarget::Armv6m | CodeTarget::Armv6mThumb2 => {
                armv6m::disasm::decode(bytes, address).len
            }
            CodeTarget::Riscv32 => riscv32::disasm::decode(bytes, address).len,
        }
    }

    /// Where two payloads or code buffers of this variant first differ, both sides disassembled
    /// (`names` label them).
    pub fn describe_difference(
        self,
        left: &[u8],
        right: &[u8],
        names: [&str; 2],
        out: &mut impl fmt::Write,
    ) -> fmt::Result {
        match self {
            CodeTarget::Armv6m | CodeTarget::Armv6mThumb2 => {
                armv6m::disasm::describe_difference(left, right, names, out)
            }
            CodeTarget::Riscv32 => riscv32::disasm::describe_difference(left, right, names, out),
        }
    }
}

/// Compile a `Code` chunk (found at `code_offset` in its file) for `target` into `sink`, which
/// holds whatever precedes the jump table. The one place that maps a code variant to a backend
/// (backends are generic, not trait objects, so this is a match rather than a table). Returns the
/// sink and the label count.
#[cfg_attr(target_os = "none", inline(never))]
pub fn compile<S: CodeSink, E: ModuleEnv>(
    target: CodeTarget,
    code: &[u8],
    code_offset: usize,
    env: &E,
    sink: S,
) -> Result<(S, u32), CompileError> {
    match target {
        CodeTarget::Armv6mThumb2 if !cfg!(feature = "thumb2") => Err(CompileError {
            kind: CompileErrorKind::BadHeader(crate::Error::unsupported(
                code_offset,
                "code target armv6m+thumb2 (core built without the thumb2 feature)",
                0,
            )),
            offset: code_offset,
            opcode: None,
            function: None,
            label: None,
            names: None,
        }),
        CodeTarget::Armv6m | CodeTarget::Armv6mThumb2 => {
            let backend = Armv6m::new(target.variant().into(), sink);
            // `compile_module` reports the backend's sticky error itself, after the final flush.
            let (backend, labels) = compile_module(code, code_offset, env, backend)?;
            Ok((backend.into_sink(), labels))
        }
        CodeTarget::Riscv32 => {
            let backend = Riscv32::new(sink);
            let (backend, labels) = compile_module(code, code_offset, env, backend)?;
            Ok((backend.into_sink(), labels))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_is_found_by_its_numbers_and_name() {
        for target in CodeTarget::ALL {
            assert_eq!(
                CodeTarget::from_arch_variant(target.arch(), target.variant()),
                Some(target)
            );
            assert_eq!(CodeTarget::from_name(target.name()), Some(target));
        }
        assert_eq!(CodeTarget::from_name("rp2040"), None);
        // Bits that do not change the layout are not looked at; unknown architectures are none.
        assert_eq!(
            CodeTarget::from_arch_variant(jit::ARCH_ARMV6M, jit::VARIANT_FLOAT32),
            Some(CodeTarget::Armv6m)
        );
        assert_eq!(
            CodeTarget::from_arch_variant(jit::ARCH_ARMV6M, jit::VARIANT_THUMB2),
            Some(CodeTarget::Armv6mThumb2)
        );
        assert_eq!(
            CodeTarget::from_arch_variant(jit::ARCH_X86_64, jit::VARIANT_PIC),
            None
        );
    }
}

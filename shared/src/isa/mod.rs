//! Native code generation: the ISA-neutral code buffer and register tracking, and one module
//! per instruction set.

pub mod armv6m;
pub mod buffer;
mod fixed_vec;
pub mod listing;
mod pending;
pub mod regs;
pub mod riscv32;

use crate::abi::jit;
use crate::compile::{compile_module, CompileError, CompileErrorKind, ModuleEnv};
use crate::stream::CodeSink;
use armv6m::Armv6m;
use riscv32::Riscv32;

/// The code variants the compiler produces. Each names an ISA (the `avmN` arch number) and the
/// variant bits of its code; [`compile`] picks the backend for it. A new ISA adds a variant here,
/// its numbers in [`CodeTarget::arch`]/[`CodeTarget::variant`], and its backend in [`compile`].
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

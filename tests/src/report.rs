//! Human-readable descriptions of compile errors and payload differences.

use avm_jit_core::compile::module::{CodeTarget, ModuleError};
use avm_jit_core::compile::CompileErrorKind;

/// A short class for tallying failures ("unsupported opcode 57", "backend OutOfRegisters", …).
pub fn error_class(e: &ModuleError) -> String {
    match e {
        ModuleError::Beam(e) => format!("bad beam: {}", e.kind),
        ModuleError::Compile(c) => match &c.kind {
            CompileErrorKind::UnsupportedOpcode(op) => format!("unsupported opcode {op}"),
            CompileErrorKind::Backend(b) => format!("backend: {b}"),
            other => format!("{other}"),
        },
    }
}

/// Where two payloads first differ, with both sides disassembled around it.
pub fn first_difference(got: &[u8], expected: &[u8], target: CodeTarget) -> String {
    let mut out = String::new();
    let _ = target.describe_difference(got, expected, ["ours", "reference"], &mut out);
    out
}

//! Human-readable descriptions of compile errors and payload differences.

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{CodeTarget, ModuleError};
use avm_jit_core::compile::CompileErrorKind;

/// A short class for tallying failures ("unsupported opcode 57", "backend OutOfRegisters", …).
pub fn error_class(e: &ModuleError) -> String {
    match e {
        ModuleError::Beam(e) => format!("bad beam: {}", e.kind),
        ModuleError::Compile(c) => match &c.kind {
            CompileErrorKind::UnsupportedOpcode(op) => format!("unsupported opcode {op}"),
            CompileErrorKind::Backend(b) => format!("backend {b:?}"),
            other => format!("{other}"),
        },
    }
}

/// The error with function names resolved.
pub fn describe_error(e: &ModuleError, beam: &[u8]) -> String {
    match e {
        ModuleError::Beam(e) => format!("{e}"),
        ModuleError::Compile(c) => {
            let atoms = Module::parse(beam).ok().and_then(|m| m.atoms().ok());
            let function = c.function.map(|(f, a)| {
                let name = atoms
                    .as_ref()
                    .and_then(|t| t.get(f as usize))
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .unwrap_or_else(|| format!("atom#{f}"));
                format!("{name}/{a}")
            });
            format!(
                "{} (at {:#x}, function {}, label {}, opcode {})",
                c.kind,
                c.offset,
                function.as_deref().unwrap_or("?"),
                c.label.map(|l| l.to_string()).unwrap_or("?".into()),
                c.opcode.map(|o| o.to_string()).unwrap_or("?".into())
            )
        }
    }
}

/// Where two payloads first differ, with both sides disassembled around it.
pub fn first_difference(got: &[u8], expected: &[u8], _target: CodeTarget) -> String {
    use avm_jit_core::isa::armv6m::disasm::describe_difference;
    let mut out = String::new();
    let _ = describe_difference(got, expected, ["ours", "reference"], &mut out);
    out
}

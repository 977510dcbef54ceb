//! Ahead-of-time compilation of a whole AVM (every module gets its `avmN` chunk).

use anyhow::bail;
use avm_jit_core::compile::module::CodeTarget;

/// Compile every module of an AVM for `target` (the chip's variant), as `avm-jit compile` would,
/// and return the new AVM. Refused when a module cannot be compiled: AtomVM's JIT build has no
/// interpreter to fall back to.
pub fn compile_avm(bytes: &[u8], target: CodeTarget) -> anyhow::Result<Vec<u8>> {
    let pack = avm_jit_core::avm::Pack::parse(bytes)?;
    let (out, failures) = crate::compile::compile_avm(&pack, target, &|| ())?;
    if !failures.is_empty() {
        bail!(
            "{} module(s) cannot be compiled ahead of time (use --mode jit to let the device compile):\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(out)
}

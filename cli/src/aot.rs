//! Ahead-of-time compilation of a whole AVM (every module gets its `avmN` chunk).

/// Compile every module of an AVM, as `avm-jit compile` would, and return the new AVM.
pub fn compile_avm(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let _ = bytes;
    anyhow::bail!("AOT compilation not available yet")
}

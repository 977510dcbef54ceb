//! Golden cache conformance: what we would write into a flash JIT cache entry for each module (the
//! module compiled into an empty stream) equals what AtomVM's own on-device JIT writes, byte for
//! byte, for every row of `../shared/golden/otp25/armv6m-cache/` and `armv6m+thumb2-cache/` (232
//! each). Each golden file is a 20-byte `avmN` header (label count included) and then exactly the
//! entry's code; each input is first checked against the sha256 in the index.

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::CodeTarget;
use avm_jit_core::flash::prefill::compile_entry;
use avm_jit_core::native::{single_arch_header, ARCH_ARMV6M};
use avm_jit_core::stream::VecSink;
use avm_jit_tests::golden_dir;

/// The golden file's layout: header with our label count, then our entry code.
fn cache_payload(module: &Module<'_>, arch: CodeTarget) -> Result<Vec<u8>, String> {
    let (sink, labels) =
        compile_entry(module, arch, VecSink::new()).map_err(|e| format!("{e:?}"))?;
    let mut out = single_arch_header(labels, ARCH_ARMV6M, arch.variant()).to_vec();
    out.extend_from_slice(sink.as_bytes());
    Ok(out)
}

fn check_cache_corpus(target: &str, arch: CodeTarget) {
    let Some(golden) = golden_dir(&format!("cache conformance {target}")) else {
        return;
    };
    let r = avm_jit_tests::check_corpus(&golden, target, arch, |m| cache_payload(m, arch));
    let (same, rows, problems) = (r.same, r.total, r.problems);
    println!("cache conformance: {same}/{rows} ({target})");
    assert_eq!(rows, 232, "the golden index of {target} changed");
    assert!(
        problems.is_empty(),
        "{} modules differ from the reference's cache entries:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn armv6m_cache_conformance() {
    check_cache_corpus("otp25/armv6m-cache", CodeTarget::Armv6m);
}

#[test]
fn armv6m_thumb2_cache_conformance() {
    check_cache_corpus("otp25/armv6m+thumb2-cache", CodeTarget::Armv6mThumb2);
}

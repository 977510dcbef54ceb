//! Golden conformance: our `avmN` payload equals the reference compiler's, byte for byte, for every
//! module indexed in `../shared/golden/<target>/index.tsv`: armv6m for OTP 25, OTP 27 with
//! version-3 types and OTP 27 with the types removed (638 rows), and the Pico 2's armv6m+thumb2
//! variant for OTP 25 (232 rows). Each input is first checked against the sha256 in the index.

use avm_jit_core::compile::module::{native_payload, CodeTarget};
use avm_jit_tests::{golden_dir, ARMV6M_TARGETS};

/// Compiles every row of `target`; returns (identical, rows, descriptions of the others).
fn check_corpus(
    golden: &std::path::Path,
    target: &str,
    arch: CodeTarget,
) -> (usize, usize, Vec<String>) {
    let r = avm_jit_tests::check_corpus(golden, target, arch, |m| native_payload(m, arch));
    println!("armv6m conformance: {}/{} ({target})", r.same, r.total);
    (r.same, r.total, r.problems)
}

#[test]
fn armv6m_golden_conformance() {
    let Some(golden) = golden_dir("armv6m_golden_conformance") else {
        return;
    };
    let (mut same, mut total, mut problems) = (0, 0, Vec::new());
    for target in ARMV6M_TARGETS {
        let (s, t, p) = check_corpus(&golden, target, CodeTarget::Armv6m);
        same += s;
        total += t;
        problems.extend(p);
    }
    println!("armv6m conformance: {same}/{total} (all corpora)");
    assert_eq!(total, 638, "the golden indexes changed");
    assert!(
        problems.is_empty(),
        "{} modules differ from the reference:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn armv6m_thumb2_golden_conformance() {
    let Some(golden) = golden_dir("armv6m_thumb2_golden_conformance") else {
        return;
    };
    let (_, total, problems) =
        check_corpus(&golden, "otp25/armv6m+thumb2", CodeTarget::Armv6mThumb2);
    assert_eq!(total, 232, "the golden index changed");
    assert!(
        problems.is_empty(),
        "{} modules differ from the reference:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

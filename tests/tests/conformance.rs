//! Golden conformance: our `avmN` payload equals the reference compiler's, byte for byte, for every
//! module indexed in `../shared/golden/<target>/index.tsv` (armv6m: OTP 25, OTP 27 with version-3
//! types, and OTP 27 with the types removed).
//!
//! A module we cannot compile yet is counted, not hidden: the run prints "armv6m conformance: N/M"
//! per corpus, and fails if any compiled module differs by a single byte, or if fewer modules
//! conform than [`MIN_CONFORMING`] (raised as support grows, so it never silently drops).

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{native_payload, Target};
use avm_jit_tests::{golden_beams_dir, golden_dir, golden_index, report, ARMV6M_TARGETS};
use sha2::{Digest, Sha256};

/// Byte-identical modules required across the three corpora (638 rows in all).
const MIN_CONFORMING: usize = 638;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn armv6m_golden_conformance() {
    let Some(golden) = golden_dir("armv6m_golden_conformance") else { return };
    let mut conforming = 0;
    let mut rows_total = 0;
    let mut mismatches = Vec::new();
    for target in ARMV6M_TARGETS {
        let beams = golden_beams_dir(&golden, target);
        let rows = golden_index(&golden, target);
        let mut same = 0;
        for row in &rows {
            let beam_path = beams.join(&row.app).join(format!("{}.beam", row.module));
            let beam = std::fs::read(&beam_path).unwrap_or_else(|e| panic!("{}: {e}", beam_path.display()));
            assert_eq!(hex(&Sha256::digest(&beam)), row.beam_sha256, "{}: not the indexed input", beam_path.display());
            let module = Module::parse(&beam).unwrap_or_else(|e| panic!("{}: {e}", beam_path.display()));
            if let Ok(got) = native_payload(&module, Target::Armv6m) {
                if hex(&Sha256::digest(&got)) == row.avmn_sha256 {
                    same += 1;
                } else {
                    let expected_path = golden.join(target).join(&row.app).join(format!("{}.avmN", row.module));
                    let expected = std::fs::read(&expected_path).unwrap_or_default();
                    mismatches.push(format!(
                        "{target} {}/{}: {}",
                        row.app,
                        row.module,
                        report::first_difference(&got, &expected, Target::Armv6m)
                    ));
                }
            }
        }
        println!("armv6m conformance: {same}/{} ({target})", rows.len());
        conforming += same;
        rows_total += rows.len();
    }
    println!("armv6m conformance: {conforming}/{rows_total} (all corpora)");
    assert!(mismatches.is_empty(), "{} compiled modules differ from the reference:\n{}", mismatches.len(), mismatches.join("\n"));
    assert_eq!(rows_total, 638, "the golden indexes changed");
    assert!(conforming >= MIN_CONFORMING, "only {conforming} modules conform, expected at least {MIN_CONFORMING}");
}

//! Golden conformance: our `avmN` payload equals the reference compiler's, byte for byte, for every
//! module indexed in `../shared/golden/<target>/index.tsv`: armv6m for OTP 25, OTP 27 with
//! version-3 types and OTP 27 with the types removed (638 rows), and the Pico 2's armv6m+thumb2
//! variant for OTP 25 (232 rows). Each input is first checked against the sha256 in the index.

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{native_payload, CodeTarget};
use avm_jit_tests::{golden_beams_dir, golden_dir, golden_index, report, ARMV6M_TARGETS};
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compiles every row of `target`; returns (identical, rows, descriptions of the others).
fn check_corpus(
    golden: &std::path::Path,
    target: &str,
    arch: CodeTarget,
) -> (usize, usize, Vec<String>) {
    let beams = golden_beams_dir(golden, target);
    let rows = golden_index(golden, target);
    let mut same = 0;
    let mut problems = Vec::new();
    for row in &rows {
        let beam_path = beams.join(&row.app).join(format!("{}.beam", row.module));
        let beam =
            std::fs::read(&beam_path).unwrap_or_else(|e| panic!("{}: {e}", beam_path.display()));
        assert_eq!(
            hex(&Sha256::digest(&beam)),
            row.beam_sha256,
            "{}: not the indexed input",
            beam_path.display()
        );
        let module =
            Module::parse(&beam).unwrap_or_else(|e| panic!("{}: {e}", beam_path.display()));
        match native_payload(&module, arch) {
            Ok(got) if hex(&Sha256::digest(&got)) == row.avmn_sha256 => same += 1,
            Ok(got) => {
                let expected_path = golden
                    .join(target)
                    .join(&row.app)
                    .join(format!("{}.avmN", row.module));
                let expected = std::fs::read(&expected_path).unwrap_or_default();
                problems.push(format!(
                    "{target} {}/{}: {}",
                    row.app,
                    row.module,
                    report::first_difference(&got, &expected, arch)
                ));
            }
            Err(e) => problems.push(format!("{target} {}/{}: {}", row.app, row.module, e)),
        }
    }
    println!("armv6m conformance: {same}/{} ({target})", rows.len());
    (same, rows.len(), problems)
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

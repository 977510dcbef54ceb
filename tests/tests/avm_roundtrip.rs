//! AVM read → write is byte-identical, and damaged AVMs are refused without panicking.

use std::path::Path;

use avm_jit_core::avm::{Pack, PackBuilder, BEAM_CODE};
use avm_jit_tests::{beams_in, files_with_ext, golden_dir, workspace_root};

/// The compiler-fixture beams of the golden corpus (OTP 27).
fn golden_beams(golden: &Path) -> Vec<(String, Vec<u8>)> {
    beams_in(&golden.join("otp27/beams/fixtures"))
}

fn golden_avm(beams: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = PackBuilder::new();
    for (i, (name, beam)) in beams.iter().enumerate() {
        b.beam(name, beam, i == 0).unwrap();
    }
    b.file("fixtures/priv/odd.txt", b"seven b").unwrap();
    b.finish()
}

fn round_trips(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let pack = Pack::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(pack.to_vec(), bytes, "{}", path.display());
}

#[test]
fn built_avm_holds_the_beams_and_round_trips() {
    let Some(golden) = golden_dir("built_avm_holds_the_beams_and_round_trips") else {
        return;
    };
    let beams = golden_beams(&golden);
    let avm = golden_avm(&beams);
    let pack = Pack::parse(&avm).unwrap();
    assert_eq!(pack.modules().count(), beams.len());
    for (section, (name, beam)) in pack.modules().zip(&beams) {
        assert_eq!(section.module_name(), Some(name.as_str()));
        assert_eq!(section.data, &beam[..]);
        assert_eq!(section.flags & BEAM_CODE, BEAM_CODE);
        assert!(section.padding.iter().all(|&b| b == 0) && section.padding.len() < 4);
        assert_eq!(section.data_offset % 4, 0);
    }
    assert_eq!(pack.len(), avm.len());
    assert_eq!(pack.to_vec(), avm);
}

#[test]
fn every_avm_file_round_trips() {
    let fixtures = files_with_ext(&workspace_root().join("fixtures"), "avm");
    assert!(!fixtures.is_empty(), "no .avm among the fixtures");
    fixtures.iter().for_each(|p| round_trips(p));
    let Some(golden) = golden_dir("every_avm_file_round_trips") else {
        return;
    };
    files_with_ext(&golden, "avm")
        .iter()
        .for_each(|p| round_trips(p));
}

#[test]
fn round_trip_keeps_a_flash_partition_tail() {
    let Some(golden) = golden_dir("round_trip_keeps_a_flash_partition_tail") else {
        return;
    };
    let mut avm = golden_avm(&golden_beams(&golden));
    let len = avm.len();
    avm.resize(len + 4096, 0xFF);
    let pack = Pack::parse(&avm).unwrap();
    assert_eq!(pack.len(), len);
    assert_eq!(pack.trailing().len(), 4096);
    assert_eq!(pack.to_vec(), avm);
}

#[test]
fn truncations_and_corruptions_are_errors_not_panics() {
    let Some(golden) = golden_dir("truncations_and_corruptions_are_errors_not_panics") else {
        return;
    };
    let avm = golden_avm(&golden_beams(&golden));
    let pack = Pack::parse(&avm).unwrap();
    // Around every structure boundary, and a sample elsewhere.
    let mut cuts: Vec<usize> = (0..64).collect();
    for s in pack.sections() {
        cuts.extend(s.offset.saturating_sub(2)..s.data_offset + 12);
        cuts.extend(s.offset + s.len() - 4..s.offset + s.len());
    }
    cuts.extend((0..avm.len()).step_by(97));
    cuts.extend(avm.len() - 20..avm.len());
    for cut in cuts {
        let err = Pack::parse(&avm[..cut]).expect_err("truncated AVM accepted");
        assert!(
            err.offset.is_some_and(|offset| offset <= cut),
            "error offset {:?} missing or past the {cut} bytes given",
            err.offset
        );
    }
    for s in pack.sections() {
        for field in [
            s.offset,
            s.offset + 3,
            s.offset + 4,
            s.offset + 7,
            s.data_offset,
            s.data_offset + 7,
        ] {
            for value in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
                let mut bad = avm.clone();
                bad[field] = value;
                if let Ok(p) = Pack::parse(&bad) {
                    assert_eq!(p.to_vec(), bad);
                }
            }
        }
    }
}

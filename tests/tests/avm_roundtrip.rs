//! AVM read → write is byte-identical, and damaged AVMs are refused without panicking.

use std::path::{Path, PathBuf};

use avm_jit_core::avm::{Pack, PackBuilder, BEAM_CODE};

fn golden_beams() -> Vec<(String, Vec<u8>)> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/golden/otp27/beams/fixtures");
    let mut beams: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "beam"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    beams.sort();
    assert!(!beams.is_empty(), "no golden beams in {}", dir.display());
    beams
}

fn golden_avm() -> Vec<u8> {
    let mut b = PackBuilder::new();
    for (i, (name, beam)) in golden_beams().iter().enumerate() {
        b.beam(name, beam, i == 0).unwrap();
    }
    b.file("fixtures/priv/odd.txt", b"seven b").unwrap();
    b.finish()
}

/// Every `.avm` under the directories the project keeps fixtures and golden data in.
fn avm_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut dirs = vec![root.join("../fixtures"), root.join("../../shared/golden")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "avm") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn built_avm_holds_the_beams_and_round_trips() {
    let beams = golden_beams();
    let avm = golden_avm();
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
    for path in avm_files() {
        let bytes = std::fs::read(&path).unwrap();
        let pack = Pack::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(pack.to_vec(), bytes, "{}", path.display());
    }
}

#[test]
fn round_trip_keeps_a_flash_partition_tail() {
    let mut avm = golden_avm();
    let len = avm.len();
    avm.resize(len + 4096, 0xFF);
    let pack = Pack::parse(&avm).unwrap();
    assert_eq!(pack.len(), len);
    assert_eq!(pack.trailing().len(), 4096);
    assert_eq!(pack.to_vec(), avm);
}

#[test]
fn truncations_and_corruptions_are_errors_not_panics() {
    let avm = golden_avm();
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
            err.offset <= cut,
            "error offset {} past the {cut} bytes given",
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

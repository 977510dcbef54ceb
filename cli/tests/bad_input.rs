//! Damaged input never crashes `avm-jit`: every command answers with exit code 1 and a message that
//! names the file and the byte offset of the problem (a panic would exit with 101).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use avm_jit_tests::{golden_dir, workspace_root, Rng};

fn avm_jit(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_avm-jit"))
        .args(args)
        .output()
        .expect("run avm-jit")
}

/// `avm-jit CMD INPUT`, with `-o OUTPUT` for `compile`.
fn run_on(cmd: &str, input: &Path, output: &Path) -> Output {
    let mut args = vec![cmd.as_ref(), input.as_os_str()];
    if cmd == "compile" {
        args.extend(["-o".as_ref(), output.as_os_str()]);
    }
    avm_jit(&args)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avm-jit-bad-input-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A refusal: exit code 1, the file named, an offset given.
fn assert_refused(out: &Output, file: &Path, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: expected exit 1, got {:?}\n{stderr}",
        out.status
    );
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        stderr.contains(name.as_ref()),
        "{what}: message does not name the file:\n{stderr}"
    );
    assert!(
        stderr.contains("offset"),
        "{what}: message gives no offset:\n{stderr}"
    );
}

/// A module with no native code: `disasm` and `compare` say its `avmN` chunk is missing, at no
/// offset (a chunk that is not there has no place in the file; "offset 0x0" would be its start).
#[test]
fn a_beam_without_native_code_is_missing_its_avmn_chunk_at_no_offset() {
    let beam = workspace_root().join("fixtures/example/beams/arith_demo.beam");
    let runs = [
        vec!["disasm".as_ref(), beam.as_os_str()],
        vec!["compare".as_ref(), beam.as_os_str(), beam.as_os_str()],
    ];
    for args in runs {
        let out = avm_jit(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("arith_demo.beam: missing chunk avmN"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("offset"), "{args:?}: {stderr}");
    }
}

/// Cut points: every chunk boundary (and the bytes around it) plus evenly spaced ones, 97 in all.
fn truncation_points(beam: &[u8]) -> Vec<usize> {
    let mut points = vec![0, 1, 4, 8, 11, 12, 16];
    let mut at = 12;
    while at + 8 <= beam.len() {
        let size = u32::from_be_bytes(beam[at + 4..at + 8].try_into().unwrap()) as usize;
        points.extend([at + 1, at + 4, at + 7, at + 8, at + 8 + size / 2]);
        at += 8 + size.div_ceil(4) * 4;
    }
    points.retain(|&p| p < beam.len());
    points.sort();
    points.dedup();
    let mut step = 1;
    while points.len() < 97 {
        let p = beam.len() - step * 997 % beam.len();
        if !points.contains(&p) && p < beam.len() {
            points.push(p);
        }
        step += 1;
    }
    points.truncate(97);
    points
}

#[test]
fn truncated_lists_beam_is_refused_97_times() {
    let Some(golden) = golden_dir("truncated_lists_beam_is_refused_97_times") else {
        return;
    };
    let beam = std::fs::read(golden.join("otp25/beams/stdlib/lists.beam")).unwrap();
    let dir = scratch("trunc");
    let points = truncation_points(&beam);
    assert_eq!(points.len(), 97);
    for (i, &len) in points.iter().enumerate() {
        let path = dir.join(format!("lists-{i}.beam"));
        std::fs::write(&path, &beam[..len]).unwrap();
        for cmd in ["info", "compile"] {
            assert_refused(
                &run_on(cmd, &path, &dir.join("out.beam")),
                &path,
                &format!("{cmd}, {len} bytes"),
            );
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

fn example_avm() -> Vec<u8> {
    std::fs::read(workspace_root().join("fixtures/example/example.avm")).expect("fixture AVM")
}

#[test]
fn truncated_and_corrupted_avms_are_refused_or_read() {
    let avm = example_avm();
    let dir = scratch("avm");
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    // Truncations at section boundaries and a spread of other points.
    let mut points: Vec<usize> = (0..40).map(|i| i * avm.len() / 40).collect();
    points.extend([
        1,
        23,
        24,
        25,
        28,
        36,
        avm.len() - 1,
        avm.len() - 4,
        avm.len() - 16,
    ]);
    for len in points {
        let path = dir.join(format!("cut-{len}.avm"));
        std::fs::write(&path, &avm[..len]).unwrap();
        for cmd in ["info", "compile"] {
            let out_dir = dir.join("out");
            std::fs::create_dir_all(&out_dir).unwrap();
            assert_refused(
                &run_on(cmd, &path, &out_dir),
                &path,
                &format!("{cmd}, AVM cut at {len}"),
            );
        }
    }
    // Random corruptions: anything but a crash. Where a command refuses, it says where.
    for i in 0..60 {
        let mut bad = avm.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bad.len());
            bad[at] ^= 1 << rng.below(8);
        }
        let path = dir.join(format!("flip-{i}.avm"));
        std::fs::write(&path, &bad).unwrap();
        for cmd in ["info", "compile", "disasm"] {
            let out = run_on(cmd, &path, &dir.join("o.avm"));
            assert_ne!(
                out.status.code(),
                Some(101),
                "{cmd} panicked on {}:\n{}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.code().is_some(),
                "{cmd} was killed on {}",
                path.display()
            );
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn corrupted_golden_beams_never_crash() {
    let Some(golden) = golden_dir("corrupted_golden_beams_never_crash") else {
        return;
    };
    let dir = scratch("flip");
    let mut rng = Rng(42);
    let beams = [
        "otp25/beams/stdlib/lists.beam",
        "otp27/beams/stdlib/maps.beam",
        "otp25/beams/compiler/beam_asm.beam",
    ];
    for name in beams {
        let beam = std::fs::read(golden.join(name)).unwrap();
        for i in 0..25 {
            let mut bad = beam.clone();
            let at = rng.below(bad.len());
            bad[at] = rng.next_u64() as u8;
            let path = dir.join(format!("{}-{i}.beam", name.replace('/', "_")));
            std::fs::write(&path, &bad).unwrap();
            for cmd in ["info", "compile"] {
                let out = run_on(cmd, &path, &dir.join("o.beam"));
                let code = out.status.code();
                assert!(
                    matches!(code, Some(0) | Some(1)),
                    "{cmd} on {}: {code:?}\n{}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                if code == Some(1) {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    assert!(
                        stderr.contains(path.file_name().unwrap().to_str().unwrap()),
                        "{stderr}"
                    );
                }
            }
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

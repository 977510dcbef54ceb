//! Fuzz-style: mutated inputs and odd paths to every subcommand. Only the outcome class is
//! checked: exit 0, 1 or 2 (never a signal, never a panic), within a time limit and an
//! address-space limit. Deterministic (fixed seed), about 300 runs.
#![cfg(unix)]

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use avm_jit_tests::Rng;
use common::*;

/// One mutation of `seed`: flipped bytes, a 32-bit field set to an extreme, a truncation, an
/// insertion or a duplicated slice.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        if b.is_empty() {
            b.push(rng.next_u64() as u8);
            continue;
        }
        match rng.below(6) {
            0 => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(b.len());
                b[i] = rng.next_u64() as u8;
            }
            2 if b.len() >= 4 => {
                let i = rng.below(b.len() - 3) & !3;
                let v: u32 = [0, 1, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0xFFFF_FFFF][rng.below(6)];
                b[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            3 => b.truncate(rng.below(b.len())),
            4 => {
                let i = rng.below(b.len());
                let junk: Vec<u8> = (0..1 + rng.below(64))
                    .map(|_| rng.next_u64() as u8)
                    .collect();
                b.splice(i..i, junk);
            }
            _ => {
                let i = rng.below(b.len());
                let n = rng.below((b.len() - i).min(4096)) + 1;
                let copy = b[i..i + n].to_vec();
                let at = rng.below(b.len());
                b.splice(at..at, copy);
            }
        }
    }
    b
}

/// Paths that are not ordinary files, all inside `dir`: they are tried as outputs too, so nothing
/// here may lead outside the scratch directory, whatever a broken build does with it.
fn odd_paths(dir: &Path) -> Vec<PathBuf> {
    let fifo = dir.join("odd.fifo");
    mkfifo(&fifo);
    let empty = dir.join("empty.beam");
    std::fs::write(&empty, b"").unwrap();
    let dangling = dir.join("dangling.avm");
    std::os::unix::fs::symlink("nowhere/at/all.avm", &dangling).unwrap();
    let loop_a = dir.join("loop_a.beam");
    std::os::unix::fs::symlink("loop_b.beam", &loop_a).unwrap();
    std::os::unix::fs::symlink("loop_a.beam", dir.join("loop_b.beam")).unwrap();
    let subdir = dir.join("a dir.beam");
    std::fs::create_dir(&subdir).unwrap();
    let strange = dir.join("naïve\nname -x.avm");
    std::fs::write(&strange, example_avm()).unwrap();
    let mut paths = vec![
        fifo,
        empty,
        dangling,
        loop_a,
        subdir,
        strange,
        dir.join("missing.beam"),
        dir.join("-"),
    ];
    paths.extend(device_node(dir, "null-device"));
    paths
}

/// Inputs only: the machine's devices and odd names, never given where an output goes.
const SYSTEM_INPUTS: [&str; 4] = ["/dev/null", "/dev/zero", "/", "-"];

/// Every subcommand, on `input` (and `other` where two files are wanted), writing under `out`.
fn commands(input: &Path, other: &Path, out: &Path, rng: &mut Rng) -> Vec<Vec<OsString>> {
    let o = |name: &str| -> OsString { out.join(name).into() };
    let i: OsString = input.into();
    let mode = if rng.below(2) == 0 { "jit" } else { "aot" };
    let all = vec![
        vec!["info".into(), i.clone()],
        vec!["info".into(), "--json".into(), i.clone(), other.into()],
        vec!["info".into(), "--image".into(), i.clone()],
        vec![
            "compile".into(),
            "-q".into(),
            "-o".into(),
            o("c"),
            i.clone(),
        ],
        vec![
            "compile".into(),
            "-o".into(),
            o("c"),
            i.clone(),
            other.into(),
        ],
        vec![
            "flash".into(),
            "--mode".into(),
            mode.into(),
            "--image".into(),
            o("f.bin"),
            i.clone(),
        ],
        vec![
            "flash".into(),
            "--mode".into(),
            mode.into(),
            "--uf2".into(),
            o("f.uf2"),
            "--lib".into(),
            other.into(),
            i.clone(),
        ],
        vec![
            "flash".into(),
            "--mode".into(),
            "jit".into(),
            "--image".into(),
            i.clone(),
            other.into(),
        ],
        vec!["disasm".into(), i.clone()],
        vec!["compare".into(), i.clone(), other.into()],
        vec![
            "pack".into(),
            "-o".into(),
            o("p.avm"),
            i.clone(),
            other.into(),
        ],
        vec!["pack".into(), "-o".into(), i.clone(), other.into()],
    ];
    // A few of them each time, so that every input meets a different mix.
    (0..3).map(|_| all[rng.below(all.len())].clone()).collect()
}

fn check(args: &[OsString]) {
    let out = run_in(args, 256 << 20, Duration::from_secs(30));
    assert!(
        matches!(out.code, Some(0..=2)) && !out.stderr.contains("panicked"),
        "avm-jit {args:?}: {:?} / signal {:?}\n{}",
        out.code,
        out.signal,
        out.stderr
    );
}

#[test]
fn mutated_inputs_and_odd_paths_never_crash_any_subcommand() {
    let dir = scratch("fuzz");
    let seeds_dir = dir.join("seeds");
    std::fs::create_dir(&seeds_dir).unwrap();
    let app = seeds_dir.join("app.avm");
    std::fs::write(&app, example_avm()).unwrap();
    let beam = seeds_dir.join("hello_pico.beam");
    std::fs::write(&beam, example_beam("hello_pico")).unwrap();
    run(&[
        "compile".as_ref(),
        "-q".as_ref(),
        app.as_os_str(),
        beam.as_os_str(),
    ])
    .ok();
    let image = seeds_dir.join("flash.bin");
    run(&[
        "flash".as_ref(),
        "--mode".as_ref(),
        "jit".as_ref(),
        "--image".as_ref(),
        image.as_os_str(),
        app.as_os_str(),
    ])
    .ok();
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for name in [
        "app.avm",
        "hello_pico.beam",
        "app.jit.avm",
        "hello_pico.jit.beam",
    ] {
        seeds.push((
            name.to_string(),
            std::fs::read(seeds_dir.join(name)).unwrap(),
        ));
    }
    for name in ["error_demo", "maps_demo", "float_demo"] {
        seeds.push((format!("{name}.beam"), example_beam(name)));
    }
    // The flash image: its main.avm mutated in place (mutating 2 MiB of 0xFF finds little).
    let image_bytes = std::fs::read(&image).unwrap();

    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let work = dir.join("work");
    std::fs::create_dir(&work).unwrap();
    let mut runs = 0;
    for round in 0..120 {
        let (name, seed) = &seeds[round % seeds.len()];
        let input = work.join(format!("m{round}-{name}"));
        std::fs::write(&input, mutate(&mut rng, seed)).unwrap();
        let other = seeds_dir.join(&seeds[rng.below(seeds.len())].0);
        let out = work.join(format!("out{round}"));
        std::fs::create_dir(&out).unwrap();
        for args in commands(&input, &other, &out, &mut rng) {
            check(&args);
            runs += 1;
        }
        if round % 4 == 0 {
            let mut img = image_bytes.clone();
            let main = 0x18_0000;
            let avm = mutate(&mut rng, &seeds[0].1);
            let n = avm.len().min(img.len() - main);
            img[main..main + n].copy_from_slice(&avm[..n]);
            let path = work.join(format!("img{round}.bin"));
            std::fs::write(&path, &img).unwrap();
            check(&["info".into(), "--image".into(), path.into()]);
            runs += 1;
        }
    }
    let odd_dir = dir.join("odd");
    std::fs::create_dir(&odd_dir).unwrap();
    for (k, input) in SYSTEM_INPUTS.iter().enumerate() {
        let out = odd_dir.join(format!("sys{k}"));
        std::fs::create_dir(&out).unwrap();
        for args in commands(Path::new(input), &app, &out, &mut rng) {
            // Not the commands that would write to it (`flash --image INPUT`, `pack -o INPUT`).
            let writes_input = matches!(args[0].to_str(), Some("flash" | "pack"))
                && args.last().map(|a| a.as_os_str()) != Some(input.as_ref());
            if !writes_input {
                check(&args);
                runs += 1;
            }
        }
    }
    for (k, path) in odd_paths(&odd_dir).iter().enumerate() {
        let out = odd_dir.join(format!("out{k}"));
        std::fs::create_dir(&out).unwrap();
        for args in commands(path, &app, &out, &mut rng) {
            check(&args);
            runs += 1;
        }
        // The odd path as the output, too.
        for args in [
            vec![
                "compile".into(),
                "-q".into(),
                "-o".into(),
                path.into(),
                beam.clone().into(),
            ],
            vec!["pack".into(), "-o".into(), path.into(), beam.clone().into()],
            vec![
                "flash".into(),
                "--mode".into(),
                "jit".into(),
                "--uf2".into(),
                path.into(),
                app.clone().into(),
            ],
        ] {
            check(&args);
            runs += 1;
        }
    }
    // Odd arguments.
    for args in [
        vec!["info", "--flash-size", "0", "--image", "/dev/zero"],
        vec!["info", "--address", "0x", "x.avm"],
        vec![
            "flash",
            "--cache-size",
            "99999999999",
            "--uf2",
            "x.uf2",
            "x.avm",
        ],
        vec!["compile", "--target", "riscv", "x.beam"],
        vec!["disasm"],
        vec!["compare", "a"],
    ] {
        let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
        check(&args);
        runs += 1;
    }
    eprintln!("{runs} runs");
}

//! `avm-jit compile` end to end: golden conformance through the command line, AVMs, output paths and
//! failure reports.

use std::path::PathBuf;
use std::process::{Command, Output};

use avm_jit_core::avm::Pack;
use avm_jit_core::beam::Module;
use avm_jit_tests::{golden_beams_dir, golden_dir, golden_index, workspace_root, ARMV6M_TARGETS};
use sha2::{Digest, Sha256};

fn avm_jit<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_avm-jit"))
        .args(args)
        .output()
        .expect("run avm-jit")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avm-jit-compile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn avmn_of(beam: &[u8]) -> Vec<u8> {
    let module = Module::parse(beam).expect("output beam parses");
    assert!(
        module.chunk(*b"Code").is_none(),
        "the precompiled beam keeps no Code chunk"
    );
    module.chunk(*b"avmN").expect("avmN chunk").data.to_vec()
}

#[test]
fn compiled_golden_beams_carry_the_reference_native_code() {
    let Some(golden) = golden_dir("compiled_golden_beams_carry_the_reference_native_code") else {
        return;
    };
    for target in ARMV6M_TARGETS {
        let rows = golden_index(&golden, target);
        let beams = golden_beams_dir(&golden, target);
        for app in ["stdlib", "kernel", "compiler", "fixtures"] {
            let app_rows: Vec<_> = rows.iter().filter(|r| r.app == app).collect();
            if app_rows.is_empty() {
                continue;
            }
            let out = scratch(&format!("{}-{app}", target.replace('/', "_")));
            let mut args: Vec<PathBuf> = vec![
                "compile".into(),
                "--quiet".into(),
                "--target".into(),
                "armv6m".into(),
                "-o".into(),
                out.clone(),
            ];
            args.extend(
                app_rows
                    .iter()
                    .map(|r| beams.join(app).join(format!("{}.beam", r.module))),
            );
            let run = avm_jit(&args);
            assert!(
                run.status.success(),
                "{target} {app}: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            for row in app_rows {
                let beam = std::fs::read(out.join(format!("{}.beam", row.module))).unwrap();
                assert_eq!(
                    hex(&Sha256::digest(avmn_of(&beam))),
                    row.avmn_sha256,
                    "{target} {app}/{}",
                    row.module
                );
                // The reference's file around it: every input chunk but `Code`, in order, then
                // `avmN` (the IFF sizes and padding are checked by `Module::parse`).
                let input =
                    std::fs::read(beams.join(app).join(format!("{}.beam", row.module))).unwrap();
                let chunks = |bytes: &[u8]| -> Vec<([u8; 4], Vec<u8>)> {
                    Module::parse(bytes)
                        .expect("parses")
                        .chunks()
                        .map(|c| c.expect("chunk"))
                        .map(|c| (c.id, c.data.to_vec()))
                        .collect()
                };
                let mut expected = chunks(&input);
                expected.retain(|(id, _)| id != b"Code");
                let mut got = chunks(&beam);
                assert_eq!(got.pop().map(|(id, _)| id), Some(*b"avmN"));
                assert!(
                    got == expected,
                    "{target} {app}/{}: chunks around avmN",
                    row.module
                );
            }
            std::fs::remove_dir_all(out).ok();
        }
    }
}

/// `compile --target riscv32` writes the reference's riscv32 code (arch 4, variant PIC) for every
/// module of the riscv32 golden corpus, and `info` names the architecture.
#[test]
fn compiled_golden_beams_carry_the_reference_riscv32_code() {
    let Some(golden) = golden_dir("compiled_golden_beams_carry_the_reference_riscv32_code") else {
        return;
    };
    let target = "otp25/riscv32";
    let rows = golden_index(&golden, target);
    assert_eq!(rows.len(), 233, "the golden index changed");
    let beams = golden_beams_dir(&golden, target);
    for app in ["stdlib", "kernel", "compiler"] {
        let app_rows: Vec<_> = rows.iter().filter(|r| r.app == app).collect();
        let out = scratch(&format!("riscv32-{app}"));
        let mut args: Vec<PathBuf> = vec![
            "compile".into(),
            "--quiet".into(),
            "--target".into(),
            "riscv32".into(),
            "-o".into(),
            out.clone(),
        ];
        args.extend(
            app_rows
                .iter()
                .map(|r| beams.join(app).join(format!("{}.beam", r.module))),
        );
        let run = avm_jit(&args);
        assert!(
            run.status.success(),
            "{target} {app}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        for row in &app_rows {
            let beam = std::fs::read(out.join(format!("{}.beam", row.module))).unwrap();
            assert_eq!(
                hex(&Sha256::digest(avmn_of(&beam))),
                row.avmn_sha256,
                "{target} {app}/{}",
                row.module
            );
        }
        let first = out.join(format!("{}.beam", app_rows[0].module));
        let info = avm_jit(&["info".as_ref(), first.as_os_str()]);
        let text = String::from_utf8_lossy(&info.stdout);
        assert!(text.contains("riscv32 variant 1 (pic)"), "{text}");
        // compare and disasm read riscv32 code: identical to the reference's payload, and a
        // flipped bit is found and shown as riscv32 instructions.
        let reference = golden
            .join(target)
            .join(app)
            .join(format!("{}.avmN", app_rows[0].module));
        let same = avm_jit(&["compare".as_ref(), first.as_os_str(), reference.as_os_str()]);
        assert_eq!(
            same.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&same.stdout)
        );
        let mut bad = std::fs::read(&reference).unwrap();
        let at = bad.len() / 2;
        bad[at] ^= 0x10;
        let bad_path = out.join("bad.avmN");
        std::fs::write(&bad_path, &bad).unwrap();
        let differ = avm_jit(&["compare".as_ref(), first.as_os_str(), bad_path.as_os_str()]);
        assert_eq!(differ.status.code(), Some(1));
        let text = String::from_utf8_lossy(&differ.stdout);
        assert!(
            text.contains(&format!("first difference at {at:#x}")),
            "{text}"
        );
        let listing = avm_jit(&["disasm".as_ref(), first.as_os_str()]);
        assert!(listing.status.success());
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(
            text.contains("riscv32 jump table at 0x14"),
            "{}",
            &text[..200.min(text.len())]
        );
        assert!(
            text.contains("\nlabel 1:\n") && text.contains("\tjalr\t"),
            "{text}"
        );
        std::fs::remove_dir_all(out).ok();
    }
}

fn example_avm() -> PathBuf {
    workspace_root().join("fixtures/example/example.avm")
}

#[test]
fn compiled_example_avm_has_armv6m_code_in_every_module() {
    let dir = scratch("example");
    let out = dir.join("example.avm");
    let run = avm_jit(&[
        "compile".as_ref(),
        example_avm().as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let info = avm_jit(&["info".as_ref(), "--json".as_ref(), out.as_os_str()]);
    assert!(info.status.success());
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let sections = v["sections"].as_array().unwrap();
    let input = std::fs::read(example_avm()).unwrap();
    let input_pack = Pack::parse(&input).unwrap();
    assert_eq!(sections.len(), input_pack.sections().len());
    for (s, original) in sections.iter().zip(input_pack.sections()) {
        // Order, names and flags are kept; each module now carries armv6m native code.
        assert_eq!(s["name"], String::from_utf8_lossy(original.name).as_ref());
        assert_eq!(s["flags"], original.flags);
        let native = &s["beam"]["native"];
        assert_eq!(native["arches"][0]["arch_name"], "armv6m", "{s}");
        assert_eq!(native["arches"][0]["variant"], 1, "{s}");
        assert!(s["beam"]["code"].is_null(), "{s}");
    }
    // Same bytes as compiling each module on its own.
    let compiled = std::fs::read(&out).unwrap();
    let pack = Pack::parse(&compiled).unwrap();
    for (section, original) in pack.modules().zip(input_pack.modules()) {
        let alone = dir.join("alone.beam");
        let single = dir.join("single.beam");
        std::fs::write(&single, original.data).unwrap();
        assert!(avm_jit(&[
            "compile".as_ref(),
            "-q".as_ref(),
            single.as_os_str(),
            "-o".as_ref(),
            alone.as_os_str()
        ])
        .status
        .success());
        assert_eq!(std::fs::read(&alone).unwrap(), section.data);
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn output_paths_follow_the_rules() {
    let dir = scratch("paths");
    let input = dir.join("app.avm");
    std::fs::copy(example_avm(), &input).unwrap();
    let beam_in = dir.join("lists_demo.beam");
    std::fs::copy(
        workspace_root().join("fixtures/example/beams/lists_demo.beam"),
        &beam_in,
    )
    .unwrap();
    // Default: beside the input, `.jit` before the extension.
    assert!(
        avm_jit(&["compile".as_ref(), "-q".as_ref(), input.as_os_str()])
            .status
            .success()
    );
    assert!(dir.join("app.jit.avm").is_file());
    assert!(
        avm_jit(&["compile".as_ref(), "-q".as_ref(), beam_in.as_os_str()])
            .status
            .success()
    );
    assert!(dir.join("lists_demo.jit.beam").is_file());
    // One input and an existing directory: the input's name inside it.
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    assert!(avm_jit(&[
        "compile".as_ref(),
        "-q".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        out_dir.as_os_str()
    ])
    .status
    .success());
    assert!(out_dir.join("app.avm").is_file());
    // Several inputs need a directory, not a file.
    let file = dir.join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let run = avm_jit(&[
        "compile".as_ref(),
        input.as_os_str(),
        beam_in.as_os_str(),
        "-o".as_ref(),
        file.as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("directory"));
    // Never over the input itself.
    let run = avm_jit(&[
        "compile".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        input.as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        std::fs::read(&input).unwrap(),
        std::fs::read(example_avm()).unwrap()
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_unsupported_module_is_named_and_the_others_still_compile() {
    let Some(golden) = golden_dir("an_unsupported_module_is_named_and_the_others_still_compile")
    else {
        return;
    };
    // dets_v9 is one the reference itself cannot compile (see the golden README).
    let bad = golden.join("otp25/beams/stdlib/dets_v9.beam");
    let good = golden.join("otp25/beams/stdlib/lists.beam");
    let dir = scratch("unsupported");
    let run = avm_jit(&[
        "compile".as_ref(),
        "-q".as_ref(),
        bad.as_os_str(),
        good.as_os_str(),
        "-o".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("dets_v9.beam: module dets_v9: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("label ") && stderr.contains("opcode ") && stderr.contains('/'),
        "{stderr}"
    );
    assert!(
        dir.join("lists.beam").is_file(),
        "the other module was not compiled"
    );
    assert!(!dir.join("dets_v9.beam").exists());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn compare_and_disasm_read_native_code_back() {
    let Some(golden) = golden_dir("compare_and_disasm_read_native_code_back") else {
        return;
    };
    let dir = scratch("compare");
    let reference = golden.join("otp25/armv6m/stdlib/lists.avmN");
    let ours = dir.join("lists.beam");
    let run = avm_jit(&[
        "compile".as_ref(),
        "-q".as_ref(),
        golden.join("otp25/beams/stdlib/lists.beam").as_os_str(),
        "-o".as_ref(),
        ours.as_os_str(),
    ]);
    assert!(run.status.success());
    // Our .beam against the reference's raw payload: identical.
    let same = avm_jit(&["compare".as_ref(), ours.as_os_str(), reference.as_os_str()]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    assert!(String::from_utf8_lossy(&same.stdout).contains("1 identical, 0 different"));
    // One flipped bit: exit 1, the offset and both sides disassembled.
    let mut bad = std::fs::read(&reference).unwrap();
    bad[0x400] ^= 0x10;
    let bad_path = dir.join("bad.avmN");
    std::fs::write(&bad_path, &bad).unwrap();
    let differ = avm_jit(&["compare".as_ref(), ours.as_os_str(), bad_path.as_os_str()]);
    assert_eq!(differ.status.code(), Some(1));
    let text = String::from_utf8_lossy(&differ.stdout);
    assert!(text.contains("first difference at 0x400"), "{text}");
    assert!(text.contains(">>     400:"), "{text}");
    // The listing marks labels and decodes the jump table's target code.
    let listing = avm_jit(&["disasm".as_ref(), ours.as_os_str()]);
    assert!(listing.status.success());
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.starts_with("module lists: 160616 bytes, 1113 labels"),
        "{}",
        &text[..200.min(text.len())]
    );
    assert!(text.contains("\nlabel 1:\n"));
    assert!(text.contains("\tblx\t"));
    std::fs::remove_dir_all(dir).ok();
}

/// A module that is already native (an `avmN` chunk and no `Code`, as AtomVM's precompiled
/// libraries ship) passes through `compile` unchanged when its code is for the target, alone or in an
/// AVM; for another target there is no bytecode to compile, so it is refused and nothing is written.
#[test]
fn already_native_modules_pass_through_or_are_refused_for_another_target() {
    let dir = scratch("native");
    let beam = workspace_root().join("fixtures/example/beams/arith_demo.beam");
    let aot = dir.join("arith_demo.beam");
    let out = avm_jit(&[
        "compile".as_ref(),
        "-q".as_ref(),
        beam.as_os_str(),
        "-o".as_ref(),
        aot.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let native = std::fs::read(&aot).unwrap();

    let again = dir.join("again.beam");
    let out = avm_jit(&[
        "compile".as_ref(),
        aot.as_os_str(),
        "-o".as_ref(),
        again.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        std::fs::read(&again).unwrap() == native,
        "not passed through unchanged"
    );

    let thumb2 = dir.join("thumb2.beam");
    let out = avm_jit(&[
        "compile".as_ref(),
        "--target".as_ref(),
        "armv6m+thumb2".as_ref(),
        aot.as_os_str(),
        "-o".as_ref(),
        thumb2.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("arith_demo")
            && err.contains("already native")
            && err.contains("armv6m+thumb2"),
        "{err}"
    );
    assert!(!thumb2.exists());

    // The same inside an AVM: the precompiled AVM compiles to itself.
    let avm = dir.join("aot.avm");
    let out = avm_jit(&[
        "compile".as_ref(),
        "-q".as_ref(),
        example_avm().as_os_str(),
        "-o".as_ref(),
        avm.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let avm2 = dir.join("aot2.avm");
    let out = avm_jit(&[
        "compile".as_ref(),
        "-q".as_ref(),
        avm.as_os_str(),
        "-o".as_ref(),
        avm2.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(std::fs::read(&avm).unwrap() == std::fs::read(&avm2).unwrap());
    let out = avm_jit(&[
        "compile".as_ref(),
        "-q".as_ref(),
        "--target".as_ref(),
        "armv6m+thumb2".as_ref(),
        avm.as_os_str(),
        "-o".as_ref(),
        dir.join("t2.avm").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already native"));
}

#[test]
fn target_help_and_refusal_list_every_code_variant() {
    let help = avm_jit(&["compile", "--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains(
            "Code variant: `armv6m` (rp2040), `armv6m+thumb2` (rp2350) or `riscv32` (rp2350-riscv)"
        ),
        "{text}"
    );
    let refused = avm_jit(&["compile", "--target", "thumb2", "x.beam"]);
    assert_eq!(refused.status.code(), Some(2));
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains("unknown target `thumb2` (armv6m, armv6m+thumb2, riscv32)"),
        "{text}"
    );
}

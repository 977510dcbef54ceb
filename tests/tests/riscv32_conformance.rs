//! riscv32 golden conformance: our `avmN` payload for `--target riscv32` (arch 4, variant PIC)
//! equals the reference's `jit_riscv32` output byte for byte, for every row of
//! `../shared/golden/otp25/riscv32/index.tsv` (233 modules, `compiler/sys_core_fold` included)
//! and, in the on-device layout (the module compiled into an empty stream), of
//! `otp25/riscv32-cache/index.tsv` (232). Each input is first checked against the sha256 in the
//! index. Every output goes through a strict sink: a patch may only clear bits, as on flash.
//!
//! The modules of `otp25/beams` that the reference's riscv32 backend cannot compile (no row in
//! the index) must be refused with an error naming the function, label, opcode and offset.

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{compile_into, BeamEnv, CodeTarget, ModuleError};
use avm_jit_core::native::single_arch_header;
use avm_jit_core::stream::VecSink;
use avm_jit_tests::{golden_dir, golden_index};

/// Ratchet: byte-identical modules reached on `otp25/riscv32` (all 233 rows). Only goes up.
const MIN_IDENTICAL_AOT: usize = 233;
/// Ratchet: byte-identical modules reached on `otp25/riscv32-cache` (all 232 rows).
const MIN_IDENTICAL_CACHE: usize = 232;

const TARGET: CodeTarget = CodeTarget::Riscv32;

/// The payload for `module`: the AOT layout (code after the 20-byte header in the same
/// stream) or the on-device layout (code compiled into an empty stream, header prepended).
fn payload(module: &Module<'_>, on_device: bool) -> Result<Vec<u8>, ModuleError> {
    let env = BeamEnv::new(module)?;
    let labels = module.code().map_err(ModuleError::Beam)?.label_count;
    let header = single_arch_header(labels, TARGET.arch(), TARGET.variant());
    let mut sink = if on_device {
        VecSink::new()
    } else {
        VecSink::with_prefix(&header)
    };
    sink.set_strict(true);
    let (sink, _) = compile_into(module, &env, TARGET, sink)?;
    let code = sink.into_bytes();
    Ok(if on_device {
        let mut out = header.to_vec();
        out.extend_from_slice(&code);
        out
    } else {
        code
    })
}

/// Compiles every row of `target`; returns (identical, rows, descriptions of the others).
fn check_corpus(golden: &std::path::Path, target: &str) -> (usize, usize, Vec<String>) {
    let on_device = target.ends_with("-cache");
    let r = avm_jit_tests::check_corpus(golden, target, TARGET, |m| payload(m, on_device));
    println!("riscv32 conformance: {}/{} ({target})", r.same, r.total);
    (r.same, r.total, r.problems)
}

fn check(test: &str, target: &str, rows: usize, min_identical: usize) {
    let Some(golden) = golden_dir(test) else {
        return;
    };
    let (same, total, problems) = check_corpus(&golden, target);
    assert_eq!(total, rows, "the golden index changed");
    assert!(
        problems.is_empty(),
        "{} modules differ from the reference:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        same >= min_identical,
        "{same} identical, ratchet is {min_identical}"
    );
}

#[test]
fn riscv32_golden_conformance() {
    check(
        "riscv32_golden_conformance",
        "otp25/riscv32",
        233,
        MIN_IDENTICAL_AOT,
    );
}

#[test]
fn riscv32_cache_golden_conformance() {
    check(
        "riscv32_cache_golden_conformance",
        "otp25/riscv32-cache",
        232,
        MIN_IDENTICAL_CACHE,
    );
}

/// The otp25 inputs without a riscv32 golden row are refused, with the instruction named.
#[test]
fn riscv32_refusals_name_the_instruction() {
    let Some(golden) = golden_dir("riscv32_refusals_name_the_instruction") else {
        return;
    };
    let indexed: std::collections::HashSet<(String, String)> =
        golden_index(&golden, "otp25/riscv32")
            .into_iter()
            .map(|r| (r.app, r.module))
            .collect();
    let beams = golden.join("otp25/beams");
    let mut refused = Vec::new();
    for app in ["stdlib", "kernel", "compiler"] {
        let mut files: Vec<_> = std::fs::read_dir(beams.join(app))
            .unwrap_or_else(|e| panic!("{app}: {e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "beam"))
            .collect();
        files.sort();
        for path in files {
            let module_name = path.file_stem().unwrap_or_default().to_string_lossy();
            if indexed.contains(&(app.to_string(), module_name.to_string())) {
                continue;
            }
            let beam = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let module = Module::parse(&beam).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            match payload(&module, false) {
                Ok(_) => panic!("{app}/{module_name}: the reference refuses it, we compiled it"),
                Err(ModuleError::Compile(e)) => {
                    assert!(
                        e.function.is_some(),
                        "{app}/{module_name}: {e}: no function"
                    );
                    assert!(e.label.is_some(), "{app}/{module_name}: {e}: no label");
                    assert!(e.opcode.is_some(), "{app}/{module_name}: {e}: no opcode");
                    let text = e.to_string();
                    assert!(
                        text.contains("/") && text.contains("at offset 0x"),
                        "{app}/{module_name}: {text}"
                    );
                    println!("refused {app}/{module_name}: {text}");
                    refused.push(format!("{app}/{module_name}"));
                }
                Err(e) => panic!("{app}/{module_name}: not a compile error: {e}"),
            }
        }
    }
    refused.sort();
    assert_eq!(
        refused,
        [
            "compiler/beam_ssa_type",
            "kernel/disk_log_1",
            "kernel/net",
            "stdlib/dets_v9",
            "stdlib/erl_stdlib_errors",
            "stdlib/qlc",
        ],
        "the modules the reference's riscv32 backend refuses"
    );
}

//! Golden conformance report: compiles every indexed module of the golden corpus and compares the
//! `avmN` payload with the reference's, byte for byte.
//!
//! ```text
//! cargo run --release -p avm-jit-tests --bin conformance [-- [--verbose] [TARGET...] [--only MODULE]]
//! ```
//! TARGET is e.g. `otp25/armv6m`, `otp25/riscv32` or `otp25/armv6m-cache` (a `-cache` corpus
//! holds the on-device layout: the module compiled into an empty stream, behind the usual header).
//! Default: every corpus — the three armv6m ones, thumb2, then the cache corpora, then riscv32 —
//! with a total per family. For each mismatch it prints the first differing offset with both
//! sides disassembled around it.

use std::collections::BTreeMap;
use std::process::ExitCode;

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{
    compile_into, native_payload, BeamEnv, CodeTarget, ModuleError,
};
use avm_jit_core::native::single_arch_header;
use avm_jit_core::stream::VecSink;
use avm_jit_tests::{golden_beams_dir, golden_dir, golden_index, report, ARMV6M_TARGETS};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = take_flag(&mut args, "--verbose");
    let only = take_value(&mut args, "--only");
    let targets: Vec<String> = if args.is_empty() {
        ARMV6M_TARGETS
            .iter()
            .chain(&[
                "otp25/armv6m+thumb2",
                "otp25/armv6m-cache",
                "otp25/armv6m+thumb2-cache",
                "otp25/riscv32",
                "otp25/riscv32-cache",
            ])
            .map(|s| s.to_string())
            .collect()
    } else {
        args
    };
    let Some(golden) = golden_dir("conformance") else {
        return ExitCode::FAILURE;
    };
    let mut all_ok = true;
    let (mut all_same, mut all_total) = (0, 0);
    let mut per_family: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for target in &targets {
        let arch = if target.contains("riscv32") {
            CodeTarget::Riscv32
        } else if target.contains("thumb2") {
            CodeTarget::Armv6mThumb2
        } else {
            CodeTarget::Armv6m
        };
        let rows = golden_index(&golden, target);
        let beams = golden_beams_dir(&golden, target);
        let (mut same, mut total) = (0, 0);
        let mut failures: BTreeMap<String, usize> = BTreeMap::new();
        for row in &rows {
            if only.as_deref().is_some_and(|m| m != row.module) {
                continue;
            }
            total += 1;
            let beam_path = row.beam_path(&beams);
            let expected_path = row.avmn_path(&golden, target);
            let beam = std::fs::read(&beam_path).expect("golden beam");
            let expected = std::fs::read(&expected_path).expect("golden avmN");
            let on_device = target.ends_with("-cache");
            let got = Module::parse(&beam)
                .map_err(ModuleError::Beam)
                .and_then(|m| payload(&m, arch, on_device));
            match got {
                Ok(got) if got == expected => same += 1,
                Ok(got) => {
                    *failures.entry("mismatch".into()).or_default() += 1;
                    println!(
                        "MISMATCH {target} {}/{}: {}",
                        row.app,
                        row.module,
                        report::first_difference(&got, &expected, arch)
                    );
                }
                Err(e) => {
                    let key = report::error_class(&e);
                    *failures.entry(key).or_default() += 1;
                    if verbose || only.is_some() {
                        println!("ERROR {target} {}/{}: {}", row.app, row.module, e);
                    }
                }
            }
        }
        println!("{} conformance: {same}/{total} ({target})", family(arch));
        for (what, n) in &failures {
            println!("  {n:4} {what}");
        }
        all_ok &= same == total;
        all_same += same;
        all_total += total;
        let f = per_family.entry(family(arch)).or_default();
        f.0 += same;
        f.1 += total;
    }
    if targets.len() > 1 {
        for (family, (same, total)) in &per_family {
            println!("{family} conformance: {same}/{total} (all {family} corpora)");
        }
        println!("conformance: {all_same}/{all_total} (all corpora)");
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The golden's name for a code variant's family in the report lines: its architecture's name.
fn family(arch: CodeTarget) -> &'static str {
    avm_jit_core::abi::jit::arch_name(arch.arch()).unwrap_or("unknown")
}

/// The payload as the golden stores it: the AOT layout, or (for `-cache` targets) the module
/// compiled into an empty stream, as the on-device JIT writes it, behind the usual header.
fn payload(module: &Module<'_>, arch: CodeTarget, on_device: bool) -> Result<Vec<u8>, ModuleError> {
    if !on_device {
        return native_payload(module, arch);
    }
    let env = BeamEnv::new(module)?;
    let labels = module.code().map_err(ModuleError::Beam)?.label_count;
    let mut out = single_arch_header(labels, arch.arch(), arch.variant()).to_vec();
    let (sink, _) = compile_into(module, &env, arch, VecSink::new())?;
    out.extend_from_slice(&sink.into_bytes());
    Ok(out)
}

fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

fn take_value(args: &mut Vec<String>, flag: &str) -> Option<String> {
    let i = args.iter().position(|a| a == flag)?;
    args.remove(i);
    (i < args.len()).then(|| args.remove(i))
}

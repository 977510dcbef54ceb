//! `avm-jit compile`: add native code (`avmN` chunks) to BEAM modules, alone or inside AVMs.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use avm_jit_core::avm::Pack;
use avm_jit_core::beam::{opcodes, Module};
use avm_jit_core::compile::module::{precompile_beam, ModuleError, Target};
use avm_jit_core::compile::CompileErrorKind;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Args)]
pub struct CompileArgs {
    /// `.beam` or `.avm` files.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output file or directory (default: beside each input, `.jit` before the extension).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Code variant: `armv6m` (RP2040) or `armv6m+thumb2` (RP2350).
    #[arg(long, default_value = "armv6m", value_parser = parse_target)]
    pub target: Target,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn parse_target(s: &str) -> Result<Target, String> {
    match s {
        "armv6m" => Ok(Target::Armv6m),
        "armv6m+thumb2" => Ok(Target::Armv6mThumb2),
        other => Err(format!("unknown target `{other}` (armv6m, armv6m+thumb2)")),
    }
}

/// A module that could not be compiled, described for a person.
pub fn describe_failure(module: &[u8], error: &ModuleError) -> String {
    let parsed = Module::parse(module).ok();
    let atoms = parsed.as_ref().and_then(|m| m.atoms().ok());
    let name = atoms
        .as_ref()
        .and_then(|a| a.module_name())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_else(|| "?".into());
    match error {
        ModuleError::Beam(e) => format!("module {name}: {e}"),
        ModuleError::Compile(c) => {
            let function = c
                .function
                .map(|(f, arity)| {
                    let f = atoms
                        .as_ref()
                        .and_then(|a| a.get(f as usize))
                        .map(|n| String::from_utf8_lossy(n).into_owned())
                        .unwrap_or_else(|| format!("atom#{f}"));
                    format!("{f}/{arity}")
                })
                .unwrap_or_else(|| "(before any function)".into());
            let label = c.label.map(|l| format!("label {l}")).unwrap_or_else(|| "no label".into());
            let opcode = c
                .opcode
                .map(|op| match opcodes::info(op) {
                    Some(info) => format!("opcode {op} ({})", info.name),
                    None => format!("opcode {op}"),
                })
                .unwrap_or_else(|| "no opcode".into());
            let what = match &c.kind {
                CompileErrorKind::UnsupportedOpcode(_) => "not supported".to_string(),
                other => other.to_string(),
            };
            format!("module {name}: {function}, {label}, {opcode} at offset {:#x}: {what}", c.offset)
        }
    }
}

/// Where the output for `input` goes.
fn output_path(input: &Path, output: Option<&Path>, many: bool) -> Result<PathBuf> {
    let file_name = input.file_name().ok_or_else(|| anyhow!("{}: not a file", input.display()))?;
    let out = match output {
        Some(dir) if many || dir.is_dir() || dir.as_os_str().to_string_lossy().ends_with('/') => {
            if !dir.exists() {
                std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
            } else if !dir.is_dir() {
                bail!("{}: several inputs need an output directory", dir.display());
            }
            dir.join(file_name)
        }
        Some(file) => file.to_path_buf(),
        None => {
            let stem = input.file_stem().unwrap_or(file_name).to_string_lossy();
            let ext = input.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
            input.with_file_name(format!("{stem}.jit{ext}"))
        }
    };
    if out.canonicalize().ok().is_some_and(|o| input.canonicalize().ok().as_ref() == Some(&o)) {
        bail!("{}: output would overwrite the input", out.display());
    }
    Ok(out)
}

/// One unit of work: a `.beam` file, or one module of an AVM.
struct Job {
    input: usize,
    /// Section index inside an AVM.
    section: Option<usize>,
}

pub fn run(args: &CompileArgs) -> Result<bool> {
    let many = args.inputs.len() > 1;
    let mut files = Vec::new();
    for input in &args.inputs {
        let bytes = std::fs::read(input).with_context(|| format!("{}: cannot read", input.display()))?;
        files.push(bytes);
    }
    // Validate every input and count modules before compiling anything.
    let mut jobs = Vec::new();
    for (i, (path, bytes)) in args.inputs.iter().zip(&files).enumerate() {
        if bytes.starts_with(b"FOR1") {
            Module::parse(bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            jobs.push(Job { input: i, section: None });
        } else if bytes.starts_with(b"#!/usr/bin/env AtomVM") {
            let pack = Pack::parse(bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            for (s, section) in pack.sections().iter().enumerate() {
                if section.is_beam() {
                    jobs.push(Job { input: i, section: Some(s) });
                }
            }
        } else {
            bail!("{}: at offset 0x0: neither a BEAM file (FOR1) nor an AVM", path.display());
        }
    }

    let bar = if args.quiet || jobs.len() < 2 {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(jobs.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} modules {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let mut failures = Vec::new();
    let mut results: Vec<Vec<(usize, Vec<u8>)>> = vec![Vec::new(); files.len()];
    let mut beam_results: Vec<Option<Vec<u8>>> = vec![None; files.len()];
    for job in &jobs {
        let bytes = &files[job.input];
        let (module, base) = match job.section {
            None => (bytes.as_slice(), 0),
            Some(s) => {
                let pack = Pack::parse(bytes).map_err(|e| anyhow!("{e}"))?;
                let section = pack.sections()[s];
                (section.data, section.data_offset)
            }
        };
        match precompile_beam(module, args.target) {
            Ok(out) => match job.section {
                None => beam_results[job.input] = Some(out),
                Some(s) => results[job.input].push((s, out)),
            },
            Err(e) => {
                let e = match e {
                    ModuleError::Beam(b) => ModuleError::Beam(b.rebase(base)),
                    other => other,
                };
                let msg = format!("{}: {}", args.inputs[job.input].display(), describe_failure(module, &e));
                bar.suspend(|| eprintln!("error: {msg}"));
                failures.push(msg);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    for (i, input) in args.inputs.iter().enumerate() {
        let out_path = output_path(input, args.output.as_deref(), many)?;
        let bytes = &files[i];
        let out = if bytes.starts_with(b"FOR1") {
            match beam_results[i].take() {
                Some(out) => out,
                None => continue,
            }
        } else {
            let pack = Pack::parse(bytes).map_err(|e| anyhow!("{}: {e}", input.display()))?;
            let mut new_data: Vec<Option<&[u8]>> = vec![None; pack.sections().len()];
            for (s, data) in &results[i] {
                new_data[*s] = Some(data);
            }
            pack.rewrite(&new_data).map_err(|e| anyhow!("{}: {e}", input.display()))?
        };
        std::fs::write(&out_path, &out).with_context(|| format!("{}: cannot write", out_path.display()))?;
        if !args.quiet {
            eprintln!("{} -> {}", input.display(), out_path.display());
        }
    }
    if !failures.is_empty() {
        eprintln!(
            "{} of {} modules failed to compile; they are left as bytecode in AVM outputs",
            failures.len(),
            jobs.len()
        );
    }
    Ok(failures.is_empty())
}

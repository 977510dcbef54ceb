//! `avm-jit compile`: add native code (`avmN` chunks) to BEAM modules, alone or inside AVMs.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use avm_jit_core::avm::Pack;
use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{precompile_beam, CodeTarget, ModuleError};
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
    pub target: CodeTarget,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn parse_target(s: &str) -> Result<CodeTarget, String> {
    match s {
        "armv6m" => Ok(CodeTarget::Armv6m),
        "armv6m+thumb2" => Ok(CodeTarget::Armv6mThumb2),
        "riscv32" => Ok(CodeTarget::Riscv32),
        other => Err(format!(
            "unknown target `{other}` (armv6m, armv6m+thumb2, riscv32)"
        )),
    }
}

/// Where the output for `input` goes.
fn output_path(input: &Path, output: Option<&Path>, many: bool) -> Result<PathBuf> {
    let file_name = input
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file", input.display()))?;
    let out = match output {
        Some(dir) if many || dir.is_dir() || dir.as_os_str().to_string_lossy().ends_with('/') => {
            if !dir.exists() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("{}: cannot create", dir.display()))?;
            } else if !dir.is_dir() {
                bail!("{}: several inputs need an output directory", dir.display());
            }
            dir.join(file_name)
        }
        Some(file) => file.to_path_buf(),
        None => {
            let stem = input.file_stem().unwrap_or(file_name).to_string_lossy();
            let ext = input
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            input.with_file_name(format!("{stem}.jit{ext}"))
        }
    };
    if out
        .canonicalize()
        .ok()
        .is_some_and(|o| input.canonicalize().ok().as_ref() == Some(&o))
    {
        bail!("{}: output would overwrite the input", out.display());
    }
    Ok(out)
}

/// Compile every module of an AVM. Returns the new AVM (modules that failed are left as they
/// were) and one message per failed module.
pub fn compile_avm(
    bytes: &[u8],
    target: CodeTarget,
    on_module: &dyn Fn(),
) -> Result<(Vec<u8>, Vec<String>), avm_jit_core::Error> {
    let pack = Pack::parse(bytes)?;
    let mut compiled: Vec<Option<Vec<u8>>> = vec![None; pack.sections().len()];
    let mut failures = Vec::new();
    for (slot, section) in compiled.iter_mut().zip(pack.sections()) {
        if !section.is_beam() {
            continue;
        }
        on_module();
        match precompile_beam(section.data, target) {
            Ok(out) => *slot = Some(out),
            Err(e) => failures.push(rebase(e, section.data_offset).to_string()),
        }
    }
    let new_data: Vec<Option<&[u8]>> = compiled.iter().map(|c| c.as_deref()).collect();
    let out = pack
        .rewrite(&new_data)
        .map_err(|_| avm_jit_core::Error::invalid(0, "rewritten AVM size", 0))?;
    Ok((out, failures))
}

/// Offsets of errors inside an AVM's module are reported from the start of the AVM.
fn rebase(e: ModuleError, base: usize) -> ModuleError {
    match e {
        ModuleError::Beam(b) => ModuleError::Beam(b.rebase(base)),
        ModuleError::Compile(mut c) => {
            c.offset += base;
            ModuleError::Compile(c)
        }
    }
}

pub fn run(args: &CompileArgs) -> Result<bool> {
    let many = args.inputs.len() > 1;
    // Read and validate every input, and count modules, before compiling anything.
    let mut files = Vec::new();
    let mut modules = 0u64;
    for path in &args.inputs {
        let bytes =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        if bytes.starts_with(b"FOR1") {
            Module::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            modules += 1;
        } else if bytes.starts_with(b"#!/usr/bin/env AtomVM") {
            let pack = Pack::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            modules += pack.modules().count() as u64;
        } else {
            bail!(
                "{}: at offset 0x0: neither a BEAM file (FOR1) nor an AVM",
                path.display()
            );
        }
        let out = output_path(path, args.output.as_deref(), many)?;
        files.push((path, bytes, out));
    }

    let bar = if args.quiet || modules < 2 {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(modules).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} modules")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let mut failed = 0;
    for (path, bytes, out_path) in &files {
        let (out, failures) = if bytes.starts_with(b"FOR1") {
            bar.inc(1);
            match precompile_beam(bytes, args.target) {
                Ok(out) => (Some(out), Vec::new()),
                Err(e) => (None, vec![e.to_string()]),
            }
        } else {
            let (out, failures) = compile_avm(bytes, args.target, &|| bar.inc(1))
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            (Some(out), failures)
        };
        for f in &failures {
            bar.suspend(|| eprintln!("error: {}: {f}", path.display()));
        }
        failed += failures.len();
        if let Some(out) = out {
            std::fs::write(out_path, &out)
                .with_context(|| format!("{}: cannot write", out_path.display()))?;
            if !args.quiet {
                bar.suspend(|| eprintln!("{} -> {}", path.display(), out_path.display()));
            }
        }
    }
    bar.finish_and_clear();
    if failed > 0 {
        eprintln!(
            "{failed} of {modules} modules failed to compile (in an AVM they stay as bytecode)"
        );
    }
    Ok(failed == 0)
}

//! `avm-jit compile`: add native code (`avmN` chunks) to BEAM modules, alone or inside AVMs.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{anyhow, bail, Context, Result};
use avm_jit_core::avm::Pack;
use avm_jit_core::beam::{InflateScratch, Module, MAX_LITERALS_BYTES};
use avm_jit_core::compile::module::{
    precompile_beam, precompile_parts, BeamEnv, CodeTarget, ModuleError, Precompiled,
};
use avm_jit_core::native::Native;
use indicatif::{ProgressBar, ProgressStyle};

use crate::check;
use crate::files::{self, Expect, Files, Kind, Output};

#[derive(clap::Args)]
pub struct CompileArgs {
    /// `.beam` or `.avm` files.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output file or directory (default: beside each input, `.jit` before the extension).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    // The help lists every code variant the core knows, with the chips that run it.
    #[arg(long, default_value = "armv6m", value_parser = crate::args::parse_code_target, help = crate::args::code_target_help())]
    pub target: CodeTarget,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Files compiled at once (default: one per core).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

/// Where the output for `input` goes. Identity checks (not an input, not another output) are
/// made by [`crate::files::Files::output`]. `dir_ready` says the output directory was already
/// checked (or created) for an earlier input: it is looked at once per command, not per file.
fn output_path(
    input: &Path,
    output: Option<&Path>,
    many: bool,
    dir_ready: &mut bool,
) -> Result<PathBuf> {
    let file_name = input
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file", input.display()))?;
    let out = match output {
        Some(dir)
            if *dir_ready
                || many
                || dir.is_dir()
                || dir.as_os_str().to_string_lossy().ends_with('/') =>
        {
            if !*dir_ready {
                if !dir.exists() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("{}: cannot create", dir.display()))?;
                } else if !dir.is_dir() {
                    bail!("{}: several inputs need an output directory", dir.display());
                }
                *dir_ready = true;
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
    Ok(out)
}

/// Why a module was not compiled.
#[derive(Debug)]
pub enum Failure {
    /// Its input: a malformed module, or code the compiler stops at, or more labels than the
    /// `avmN` tables count.
    Module(ModuleError),
    /// Our output fails the check `info` makes: a compiler bug, not a fault of the input.
    /// `part` names what failed; an offset in the error is one in it, not in the input.
    Output {
        part: &'static str,
        error: avm_jit_core::Error,
    },
}

impl From<ModuleError> for Failure {
    fn from(e: ModuleError) -> Self {
        Failure::Module(e)
    }
}

impl From<avm_jit_core::Error> for Failure {
    fn from(e: avm_jit_core::Error) -> Self {
        Failure::Module(e.into())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Module(e) => write!(f, "{e}"),
            Failure::Output { part, error } => {
                write!(f, "internal error: {part} fails its check ({}", error.kind)?;
                if let Some(offset) = error.offset {
                    write!(f, " at its byte {offset:#x}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl std::error::Error for Failure {}

/// Compile one BEAM module and check the result the way `info` reads it: a module whose native
/// code AtomVM would misread (e.g. a label count past the 16-bit tables) is refused.
pub fn compile_module(bytes: &[u8], target: CodeTarget) -> Result<Vec<u8>, Failure> {
    checked_output(precompile_beam(bytes, target)?)
}

/// [`compile_module`] for a module whose tables [`check::beam_tables_read`] has read: they are
/// not read again (the literals, which the check leaves to the compiler, are read here).
fn compile_checked(
    module: &Module<'_>,
    tables: check::Tables<'_>,
    target: CodeTarget,
) -> Result<Vec<u8>, Failure> {
    Ok(compile_checked_parts(module, tables, target)?.joined()?)
}

/// [`compile_checked`] in pieces, for a module written out on its own: its kept chunks are
/// not copied (see [`Precompiled`]).
fn compile_checked_parts<'a>(
    module: &Module<'a>,
    tables: check::Tables<'_>,
    target: CodeTarget,
) -> Result<Precompiled<'a>, Failure> {
    thread_local! {
        /// The buffer and state that inflate this thread's literal tables, one module after the
        /// other (no new allocation, no clearing of what the inflater writes anyway).
        static LITERALS: RefCell<InflateScratch> = const { RefCell::new(InflateScratch::new()) };
    }
    // In the order `BeamEnv::new` reads them, so that a module fails on the same table.
    let atoms = tables.atoms?;
    let env = BeamEnv {
        atoms,
        literals: LITERALS
            .with_borrow_mut(|scratch| module.literals_reusing(MAX_LITERALS_BYTES, scratch))?,
        imports: tables.imports,
        types: tables.types,
    };
    let out = precompile_parts(module, &env, target);
    LITERALS.with_borrow_mut(|scratch| scratch.recycle(env.literals));
    let out = out?;
    check_native(out.native_chunk_data())?;
    Ok(out)
}

/// A compiled module, once its native code is checked the way `info` reads it.
fn checked_output(out: Vec<u8>) -> Result<Vec<u8>, Failure> {
    let module = Module::parse(&out).map_err(|error| Failure::Output {
        part: "the compiled module",
        error,
    })?;
    if let Some(c) = module.chunk(*b"avmN") {
        check_native(c.data)?;
    }
    Ok(out)
}

/// The data of a compiled module's (first) `avmN` chunk, checked the way `info` reads it. Too
/// many labels is the module's own limit (said without an offset: there is no place in the input
/// to point at); anything else is a fault of our output.
fn check_native(data: &[u8]) -> Result<(), Failure> {
    let internal = |error| Failure::Output {
        part: "the compiled avmN chunk",
        error,
    };
    let native = Native::parse(data).map_err(internal)?;
    check::labels_fit(&native)
        .map_err(|kind| ModuleError::Beam(avm_jit_core::Error::without_offset(kind)))?;
    check::native_layouts(&native).map_err(internal)
}

/// Compile every module of an AVM. Returns the new AVM (modules that failed are left as they
/// were) and one message per failed module.
pub fn compile_avm(
    pack: &Pack<'_>,
    target: CodeTarget,
    on_module: &dyn Fn(),
) -> Result<(Vec<u8>, Vec<String>)> {
    compile_avm_read(pack, Vec::new(), target, on_module)
}

/// [`compile_avm`] with what [`check::avm_read`] read of each section (by section; a section
/// with nothing read is parsed here).
fn compile_avm_read<'a>(
    pack: &Pack<'a>,
    mut read: Vec<Option<(Module<'a>, check::Tables<'a>)>>,
    target: CodeTarget,
    on_module: &dyn Fn(),
) -> Result<(Vec<u8>, Vec<String>)> {
    let mut compiled: Vec<Option<Vec<u8>>> = vec![None; pack.sections().len()];
    let mut failures = Vec::new();
    for (i, (slot, section)) in compiled.iter_mut().zip(pack.sections()).enumerate() {
        // Plain files, and modules that are already native (an `avmN` chunk and no `Code`, as
        // AtomVM's precompiled libraries ship), pass through unchanged.
        if !section.is_beam() {
            continue;
        }
        if avm_jit_core::flash::prefill::classify(section)
            == avm_jit_core::flash::prefill::ModuleKind::Native
        {
            if let Err(why) = native_for(section.data, target) {
                failures.push(why);
            }
            continue;
        }
        on_module();
        let result = match read.get_mut(i).and_then(Option::take) {
            Some((module, tables)) => compile_checked(&module, tables, target),
            None => compile_module(section.data, target),
        };
        match result {
            Ok(out) => *slot = Some(out),
            // A compile error names its module; a malformed one is named by its section.
            Err(e @ Failure::Module(ModuleError::Compile(_))) => {
                failures.push(rebase(e, section.data_offset).to_string())
            }
            Err(e) => failures.push(format!(
                "{}: {}",
                String::from_utf8_lossy(section.name),
                rebase(e, section.data_offset)
            )),
        }
    }
    let new_data: Vec<Option<&[u8]>> = compiled.iter().map(|c| c.as_deref()).collect();
    let out = pack
        .rewrite(&new_data)
        .map_err(|e| anyhow!("the compiled AVM: {e}"))?;
    Ok((out, failures))
}

/// A module that is already native (an `avmN` chunk and no `Code`): fine when its code is for
/// `target` (it passes through unchanged), otherwise why it cannot be compiled for `target`.
fn native_for(bytes: &[u8], target: CodeTarget) -> Result<(), String> {
    let module = Module::parse(bytes).map_err(|e| format!("module ?: {e}"))?;
    let name = module
        .atoms()
        .ok()
        .and_then(|a| {
            a.module_name()
                .map(|n| String::from_utf8_lossy(n).into_owned())
        })
        .unwrap_or_else(|| "?".into());
    let native = match module.native() {
        Ok(Some(native)) => native,
        Ok(None) => return Err(format!("module {name}: no avmN chunk")),
        Err(e) => return Err(format!("module {name}: {e}")),
    };
    if native
        .arches()
        .any(|a| a.arch == target.arch() && a.variant == target.variant())
    {
        return Ok(());
    }
    let found: Vec<String> = native
        .arches()
        .map(|a| format!("arch {} variant {}", a.arch, a.variant))
        .collect();
    Err(format!(
        "module {name}: already native ({}) with no bytecode (Code chunk) to compile for {}",
        found.join(", "),
        target.name()
    ))
}

/// Offsets of errors inside an AVM's module are reported from the start of the AVM (those in
/// our output are not offsets in the input).
fn rebase(e: Failure, base: usize) -> Failure {
    match e {
        Failure::Module(ModuleError::Beam(b)) => Failure::Module(ModuleError::Beam(b.rebase(base))),
        Failure::Module(ModuleError::Compile(mut c)) => {
            c.offset += base;
            Failure::Module(ModuleError::Compile(c))
        }
        output @ Failure::Output { .. } => output,
    }
}

/// What became of one input.
struct Done {
    modules: u64,
    failures: Vec<String>,
    written: bool,
}

/// What [`compile_file`] writes.
enum Compiled<'a> {
    /// The input itself (already native code for the target).
    Input(&'a [u8]),
    /// A new file in one buffer (an AVM).
    Whole(Vec<u8>),
    /// A compiled module in pieces.
    Parts(Precompiled<'a>),
}

/// Read, check, compile and write one input.
fn compile_file(path: &Path, out: &Output, target: CodeTarget, bar: &ProgressBar) -> Result<Done> {
    let input = files::read_input(path, Expect::BeamOrAvm, files::MAX_INPUT)?;
    let bytes = &input.bytes;
    let fail = |e: avm_jit_core::Error| anyhow!("{}: {e}", path.display());
    let (compiled, modules, failures) = if input.kind == Kind::Beam {
        let module = Module::parse(bytes).map_err(fail)?;
        let tables = check::beam_tables_read(&module).map_err(fail)?;
        if module.chunk(*b"Code").is_none() && module.chunk(*b"avmN").is_some() {
            // Already native, as AtomVM's precompiled libraries ship: written unchanged when its
            // code is for this target, refused otherwise (there is no bytecode to compile).
            match native_for(bytes, target) {
                Ok(()) => (Some(Compiled::Input(bytes)), 1, Vec::new()),
                Err(why) => (None, 1, vec![why]),
            }
        } else {
            match compile_checked_parts(&module, tables, target) {
                Ok(out) => (Some(Compiled::Parts(out)), 1, Vec::new()),
                Err(e) => (None, 1, vec![e.to_string()]),
            }
        }
    } else {
        let pack = Pack::parse(bytes).map_err(fail)?;
        let read = check::avm_read(&pack).map_err(fail)?;
        let modules = pack.modules().count() as u64;
        let (out, failures) = compile_avm_read(&pack, read, target, &|| bar.inc(1))
            .with_context(|| path.display().to_string())?;
        (Some(Compiled::Whole(out)), modules, failures)
    };
    if input.kind == Kind::Beam {
        bar.inc(1);
    }
    let written = match compiled {
        Some(Compiled::Input(data)) => {
            files::write_output(out, data, false)?;
            true
        }
        Some(Compiled::Whole(data)) => {
            files::write_output(out, &data, false)?;
            true
        }
        Some(Compiled::Parts(parts)) => {
            let pieces: Vec<&[u8]> = parts.pieces().collect();
            files::write_output_pieces(out, &pieces, false)?;
            true
        }
        None => false,
    };
    Ok(Done {
        modules,
        failures,
        written,
    })
}

/// Compile every input: each is read, parsed once, compiled and written by one of the worker
/// threads (one per core), while messages come out in input order. Which outputs collide with
/// inputs or with each other is decided before anything is read or written.
pub fn run(args: &CompileArgs) -> Result<bool> {
    let many = args.inputs.len() > 1;
    let mut files = Files::new();
    for path in &args.inputs {
        files.input(path);
    }
    let mut outputs = Vec::with_capacity(args.inputs.len());
    let mut dir_ready = false;
    for path in &args.inputs {
        let out = output_path(path, args.output.as_deref(), many, &mut dir_ready)?;
        outputs.push(files.output(&out)?);
    }

    let bar = if args.quiet || args.inputs.len() < 2 {
        ProgressBar::hidden()
    } else {
        ProgressBar::no_length().with_style(
            ProgressStyle::with_template("{pos} modules compiled")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let workers = match args.jobs {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
    .min(args.inputs.len())
    .max(1);
    let mut failed = 0u64;
    let mut modules = 0u64;
    let mut stopped = false;
    // What became of input `i`, reported in input order; false if it stops the command.
    let mut report = |i: usize, done: Result<Done>| -> bool {
        let path = &args.inputs[i];
        match done {
            Ok(done) => {
                for f in &done.failures {
                    bar.suspend(|| eprintln!("error: {}: {f}", path.display()));
                }
                failed += done.failures.len() as u64;
                modules += done.modules;
                if done.written && !args.quiet {
                    bar.suspend(|| {
                        eprintln!("{} -> {}", path.display(), outputs[i].shown.display())
                    });
                }
                true
            }
            Err(e) => {
                // The first file that cannot be read or written stops the command; the
                // outputs already written are complete.
                // Every error is shown in input order (files already under way when
                // the first one came may fail too).
                bar.suspend(|| eprintln!("error: {e:#}"));
                false
            }
        }
    };
    if workers == 1 {
        // One worker: this thread, with no hand-over per file.
        for (i, path) in args.inputs.iter().enumerate() {
            if !report(i, compile_file(path, &outputs[i], args.target, &bar)) {
                stopped = true;
                break;
            }
        }
    } else {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (send, receive) = mpsc::channel::<(usize, Result<Done>)>();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let send = send.clone();
                let (next, stop, bar, outputs) = (&next, &stop, &bar, &outputs);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= args.inputs.len() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let done = compile_file(&args.inputs[i], &outputs[i], args.target, bar);
                    if send.send((i, done)).is_err() {
                        break;
                    }
                });
            }
            drop(send);
            // Report in input order; results that arrive early wait here (a few words each).
            let mut pending = BTreeMap::new();
            let mut shown = 0;
            for (i, done) in receive {
                pending.insert(i, done);
                while let Some(done) = pending.remove(&shown) {
                    if !report(shown, done) {
                        stop.store(true, Ordering::Relaxed);
                        stopped = true;
                    }
                    shown += 1;
                }
            }
        });
    }
    bar.finish_and_clear();
    if stopped {
        return Ok(false);
    }
    if failed > 0 {
        eprintln!(
            "{failed} of {modules} modules failed to compile (in an AVM they stay as they were)"
        );
    }
    Ok(failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compiled_chunk_that_fails_its_check_is_an_internal_error_not_an_input_offset() {
        // An info size of 2: no header our compiler writes.
        let e = check_native(&[0, 0, 0, 2, 0, 0, 0, 1]).unwrap_err();
        assert!(matches!(e, Failure::Output { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "internal error: the compiled avmN chunk fails its check \
             (invalid avmN info size (2) at its byte 0x0)"
        );
    }
}

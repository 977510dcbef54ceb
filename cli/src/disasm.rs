//! `avm-jit disasm`: read native code back as objdump-style listings.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use avm_jit_core::avm::Pack;
use avm_jit_core::beam::Module;
use avm_jit_core::native::{CodeLayout, Native};

use crate::files::{self, Expect, Kind};

#[derive(clap::Args)]
pub struct DisasmArgs {
    /// A `.beam` with an `avmN` chunk, an `.avm` of such modules, or a raw `.avmN` payload.
    pub file: PathBuf,
    /// Only this module (in an AVM).
    #[arg(long)]
    pub module: Option<String>,
}

/// The native payloads of a file, by module name.
pub fn native_payloads(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let input = files::read_input(path, Expect::Native, files::MAX_INPUT)?;
    let bytes = input.bytes;
    let fail = |e: avm_jit_core::Error| anyhow!("{}: {e}", path.display());
    if input.kind == Kind::Beam {
        Ok(vec![beam_payload(&bytes).map_err(fail)?])
    } else if input.kind == Kind::Avm {
        let pack = Pack::parse(&bytes).map_err(fail)?;
        let mut out = Vec::new();
        for s in pack.modules() {
            out.push(beam_payload(s.data).map_err(|e| fail(e.rebase(s.data_offset)))?);
        }
        Ok(out)
    } else {
        Native::parse(&bytes).map_err(fail)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(vec![(name, bytes)])
    }
}

fn beam_payload(bytes: &[u8]) -> Result<(String, Vec<u8>), avm_jit_core::Error> {
    let module = Module::parse(bytes)?;
    let name = module
        .atoms()?
        .module_name()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let native = module
        .native()?
        .ok_or(avm_jit_core::Error::missing_chunk(*b"avmN"))?;
    Ok((name, native.bytes.to_vec()))
}

fn layout_of(payload: &[u8]) -> Result<(Native<'_>, CodeLayout), avm_jit_core::Error> {
    let native = Native::parse(payload)?;
    let (arch, target) = native
        .readable_arch()
        .ok_or(avm_jit_core::Error::unsupported(
            12,
            "architecture (no armv6m or riscv32 entry)",
            0,
        ))?;
    let layout = target.code_layout(&native, &arch)?;
    Ok((native, layout))
}

/// A listing of one payload: jump table summary, code with label marks, tables.
pub fn listing(name: &str, payload: &[u8]) -> Result<String, avm_jit_core::Error> {
    let (native, layout) = layout_of(payload)?;
    let isa = layout.target;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "module {name}: {} bytes, {} labels, {} jump table at {:#x}, code {:#x}..{:#x}",
        payload.len(),
        native.labels_count,
        layout.target.jump_table_kind(),
        layout.jump_table,
        layout.code_start,
        layout.label0
    );
    let mut labels: Vec<(u32, u16)> = native.labels(&layout).map(|(l, o)| (o, l)).collect();
    labels.sort();
    let mut at = layout.code_start;
    let mut next = labels.iter().peekable();
    while at < layout.label0 {
        while let Some(&&(offset, label)) = next.peek() {
            if offset as usize > at {
                break;
            }
            let _ = writeln!(out, "label {label}:");
            next.next();
        }
        let stop = next
            .peek()
            .map(|&&(o, _)| (o as usize).min(layout.label0))
            .unwrap_or(layout.label0);
        let stop = stop.max(at + 2).min(layout.label0);
        let _ = isa.disassemble(&payload[at..stop], at as u32, &mut out);
        at = stop;
    }
    let _ = writeln!(out, "label 0 (tables):");
    let _ = isa.disassemble(
        &payload[layout.label0..layout.labels_at.min(payload.len())],
        layout.label0 as u32,
        &mut out,
    );
    let _ = writeln!(out, "lines: {}", native.lines(&layout).count());
    Ok(out)
}

pub fn run_disasm(args: &DisasmArgs) -> Result<()> {
    let payloads = native_payloads(&args.file)?;
    let mut shown = 0;
    for (name, payload) in &payloads {
        if args.module.as_deref().is_some_and(|m| m != name) {
            continue;
        }
        let text = listing(name, payload)
            .map_err(|e| anyhow!("{}: module {name}: {e}", args.file.display()))?;
        out!("{text}")?;
        shown += 1;
    }
    if shown == 0 {
        bail!(
            "{}: no native code{}",
            args.file.display(),
            args.module
                .as_deref()
                .map(|m| format!(" for module {m}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

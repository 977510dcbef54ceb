//! `avm-jit pack`: build an AVM from BEAM files the way atomvm_packbeam does.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use avm_jit_core::avm::PackBuilder;
use avm_jit_core::beam::{write_module, Module};

#[derive(clap::Args)]
pub struct PackArgs {
    /// The AVM to write.
    #[arg(short, long, value_name = "OUT.avm")]
    pub output: PathBuf,
    /// Module placed first (it must export start/0); default: the first input that does.
    #[arg(long, value_name = "MODULE")]
    pub start: Option<String>,
    /// `.beam` files (other files are packed as plain data files under their file name).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

/// Chunks packbeam keeps (LitT is kept too, inflated into LitU). `avmN` is AtomVM's native code:
/// dropping it would leave a precompiled module (which has no `Code`) with nothing to run.
const KEPT_CHUNKS: [&[u8; 4]; 10] = [
    b"AtU8", b"Code", b"StrT", b"ImpT", b"ExpT", b"FunT", b"LocT", b"Line", b"Type", b"avmN",
];

/// A module as packbeam stores it: kept chunks in their order, literals uncompressed.
pub fn packbeam_module(bytes: &[u8]) -> Result<(String, bool, Vec<u8>), avm_jit_core::Error> {
    let module = Module::parse(bytes)?;
    let atoms = module.atoms()?;
    let name = atoms
        .module_name()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let exports_start = module
        .exports()?
        .iter()
        .any(|e| e.arity == 0 && atoms.get(e.function as usize) == Some(b"start".as_slice()));
    let literals = module.literals()?;
    let mut chunks: Vec<([u8; 4], &[u8])> = Vec::new();
    for chunk in module.chunks() {
        let chunk = chunk?;
        if chunk.id == *b"LitT" {
            chunks.push((*b"LitU", literals.table()));
        } else if KEPT_CHUNKS.contains(&&chunk.id) || chunk.id == *b"LitU" {
            chunks.push((chunk.id, chunk.data));
        }
    }
    Ok((name, exports_start, write_module(&chunks)))
}

pub fn run(args: &PackArgs) -> Result<()> {
    let mut modules = Vec::new();
    for path in &args.inputs {
        let bytes =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        if path.extension().is_some_and(|e| e == "beam") {
            let (name, start, data) =
                packbeam_module(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            modules.push((format!("{name}.beam"), Some(start), data));
        } else {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            modules.push((name, None, bytes));
        }
    }
    let first = match &args.start {
        Some(m) => {
            let want = format!("{m}.beam");
            let i = modules
                .iter()
                .position(|(n, _, _)| *n == want)
                .ok_or_else(|| anyhow!("start module {m} is not among the inputs"))?;
            if modules[i].1 != Some(true) {
                bail!("start module {m} does not export start/0");
            }
            Some(i)
        }
        None => None,
    };
    if let Some(i) = first {
        let m = modules.remove(i);
        modules.insert(0, m);
    }
    let mut pack = PackBuilder::new();
    for (name, start, data) in &modules {
        match start {
            Some(start) => pack.beam(name.trim_end_matches(".beam"), data, *start),
            None => pack.file(name, data),
        }
        .map_err(|e| anyhow!("{name}: {e}"))?;
    }
    let out = pack.finish();
    std::fs::write(&args.output, out)
        .with_context(|| format!("{}: cannot write", args.output.display()))?;
    Ok(())
}

//! `avm-jit info`: what is inside BEAM and AVM files (`info FILE...`, here), or in a flash
//! (`info --image FILE`, `info --probe`: see [`crate::image_info`]).

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use avm_jit_core::abi::jit;
use avm_jit_core::avm::{Pack, Section, BEAM_CODE, BEAM_START, NORMAL_FILE};
use avm_jit_core::beam::Module;
use avm_jit_core::flash::cache::first_entry_address;
use avm_jit_core::native::Native;
use serde::Serialize;

use crate::args::{chip_layout, parse_chip};
use crate::files::{self, Expect, Kind};

#[derive(clap::Args)]
pub struct InfoArgs {
    /// .beam and .avm files.
    #[arg(value_name = "FILE", required_unless_present_any = ["image", "probe"], conflicts_with_all = ["image", "probe"])]
    pub files: Vec<PathBuf>,
    /// A flash image (the whole flash from 0x10000000).
    #[arg(long, value_name = "FILE", conflicts_with = "probe")]
    pub image: Option<PathBuf>,
    /// Read the flash of a Pico or Pico 2 behind a debug probe (the only one attached, or `--probe=VID:PID[:SERIAL]`).
    #[arg(long, value_name = "SELECTOR", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub probe: Option<String>,
    /// The chip: rp2040 (Raspberry Pi Pico), rp2350 (Raspberry Pi Pico 2) or rp2350-riscv (Pico 2, RISC-V cores).
    #[arg(long, value_name = "CHIP", default_value = "rp2040")]
    pub target: String,
    /// Flash size for --image/--probe [default: 2M for rp2040, 4M for rp2350(-riscv)].
    #[arg(long, value_parser = crate::args::parse_number)]
    pub flash_size: Option<u32>,
    /// Where main.avm sits in flash (also: where an AVM given as FILE would be flashed).
    #[arg(long, value_parser = crate::args::parse_number, default_value = "0x10180000")]
    pub address: u32,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `avm-jit info`: the files given, or the flash. `Ok(false)`: a flash that was read but is
/// damaged.
pub fn run(args: &InfoArgs) -> Result<bool> {
    if args.files.is_empty() {
        return crate::image_info::run_info(
            args.image.as_deref(),
            args.probe.as_deref(),
            &args.target,
            args.flash_size,
            args.address,
            args.json,
        );
    }
    run_files(
        &args.files,
        &args.target,
        args.flash_size,
        args.address,
        args.json,
    )
    .map(|()| true)
}

#[derive(Serialize)]
pub struct ChunkInfo {
    pub id: String,
    pub offset: usize,
    pub size: usize,
}

#[derive(Serialize)]
pub struct CodeInfo {
    pub size: usize,
    pub version: u32,
    pub opcode_max: u32,
    pub label_count: u32,
    pub function_count: u32,
}

#[derive(Serialize)]
pub struct TypeInfo {
    pub version: u32,
    pub entries: u32,
    /// Whether AtomVM's compiler uses these types (it reads version 3 only).
    pub used_by_jit: bool,
}

#[derive(Serialize)]
pub struct ArchInfo {
    pub arch: u16,
    pub arch_name: &'static str,
    pub variant: u16,
    pub variant_name: String,
    pub offset: u32,
}

#[derive(Serialize)]
pub struct NativeInfo {
    pub size: usize,
    pub format: u16,
    pub label_count: u32,
    pub arches: Vec<ArchInfo>,
    /// Bytes of native code (jump table to label-0 stub) of the first entry of an architecture
    /// avm-jit reads (see `CodeTarget::from_arch_variant`).
    pub code_size: Option<usize>,
    pub lines: Option<usize>,
}

#[derive(Serialize)]
pub struct BeamInfo {
    pub module: String,
    pub size: usize,
    pub chunks: Vec<ChunkInfo>,
    pub atoms: usize,
    pub imports: usize,
    pub exports: usize,
    pub locals: usize,
    pub funs: usize,
    pub literals: Option<usize>,
    pub functions: Option<u32>,
    pub labels: Option<u32>,
    pub code: Option<CodeInfo>,
    pub types: Option<TypeInfo>,
    pub native: Option<NativeInfo>,
}

#[derive(Serialize)]
pub struct SectionInfo {
    pub offset: usize,
    pub size: u32,
    pub flags: u32,
    pub flag_names: Vec<&'static str>,
    pub name: String,
    pub data_offset: usize,
    pub data_size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beam: Option<Box<BeamInfo>>,
}

/// An AVM as `info` shows it: a view over the file, whose sections are described one at a time
/// as they are printed (memory stays a small multiple of the file, whatever its sections).
pub struct AvmInfo<'a> {
    pub size: usize,
    pub pack: Pack<'a>,
    /// Where the file would sit in flash, and where AtomVM's JIT cache would then begin (none:
    /// the file would not fit below the end of the flash).
    pub address: u32,
    pub jit_cache_start: Option<u32>,
}

impl Serialize for AvmInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let end = self.pack.end();
        let mut st = serializer.serialize_struct("AvmInfo", 8)?;
        st.serialize_field("size", &self.size)?;
        st.serialize_field("sections", &Sections(&self.pack))?;
        st.serialize_field("end_section_offset", &end.offset)?;
        // Offset of the first byte after the end section's name.
        st.serialize_field("end_offset", &end.data_offset)?;
        st.serialize_field("end_name", &String::from_utf8_lossy(end.name))?;
        st.serialize_field("start_module", &start_module(&self.pack))?;
        st.serialize_field("address", &self.address)?;
        st.serialize_field("jit_cache_start", &self.jit_cache_start)?;
        st.end()
    }
}

/// The sections of a pack, described as they are serialized.
struct Sections<'p, 'a>(&'p Pack<'a>);

impl Serialize for Sections<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        let mut seq = serializer.serialize_seq(Some(self.0.sections().len()))?;
        for s in self.0.sections() {
            seq.serialize_element(&section_info(s).map_err(S::Error::custom)?)?;
        }
        seq.end()
    }
}

fn start_module(pack: &Pack<'_>) -> Option<String> {
    pack.start_module()
        .and_then(|s| s.module_name())
        .map(str::to_string)
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FileKind<'a> {
    Beam(BeamInfo),
    Avm(AvmInfo<'a>),
}

#[derive(Serialize)]
pub struct FileInfo<'a> {
    pub path: String,
    #[serde(flatten)]
    pub kind: FileKind<'a>,
}

/// `avm-jit info FILE...`. Files are read, checked and described one at a time; `--json` prints
/// one object for one file and an array for several.
fn run_files(
    files: &[PathBuf],
    target: &str,
    flash_size: Option<u32>,
    address: u32,
    json: bool,
) -> Result<()> {
    let chip = parse_chip(target)?;
    let layout = chip_layout(chip, flash_size)?;
    crate::check::flash_args(&layout, address)?;
    let flash_end = layout.flash_end();
    let array = json && files.len() > 1;
    if array {
        outln!("[")?;
    }
    for (i, path) in files.iter().enumerate() {
        let input = files::read_input(path, Expect::BeamOrAvm, files::MAX_INPUT)?;
        let fail = |e: avm_jit_core::Error| anyhow!("{}: {e}", path.display());
        let kind = match input.kind {
            Kind::Beam => FileKind::Beam(inspect_beam(&input.bytes).map_err(fail)?),
            _ => {
                let pack = Pack::parse(&input.bytes).map_err(fail)?;
                // Everything is checked before anything is printed.
                crate::check::avm(&pack, true).map_err(fail)?;
                let jit_cache_start = u32::try_from(pack.end().data_offset)
                    .ok()
                    .and_then(|n| address.checked_add(n))
                    .filter(|&end| end <= flash_end)
                    .map(first_entry_address);
                FileKind::Avm(AvmInfo {
                    size: input.bytes.len(),
                    pack,
                    address,
                    jit_cache_start,
                })
            }
        };
        let info = FileInfo {
            path: path.display().to_string(),
            kind,
        };
        if json {
            if i > 0 {
                outln!(",")?;
            }
            write_json(&info)?;
            outln!()?;
        } else {
            if i > 0 {
                outln!()?;
            }
            print_file(&info)?;
        }
    }
    if array {
        outln!("]")?;
    }
    Ok(())
}

/// Pretty JSON straight to standard output (never the whole text in memory).
fn write_json<T: Serialize>(value: &T) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match serde_json::to_writer_pretty(&mut out, value) {
        Ok(()) => out.flush().map_err(|e| files::StdoutError(e).into()),
        Err(e) if e.is_io() => Err(files::StdoutError(e.into()).into()),
        // A description that failed is not about standard output.
        Err(e) => Err(anyhow!("{e}")),
    }
}

/// Describe a BEAM file. Every table is read in full, so a damaged file is reported here.
pub fn inspect_beam(bytes: &[u8]) -> Result<BeamInfo, avm_jit_core::Error> {
    let module = Module::parse(bytes)?;
    crate::check::beam(bytes)?;
    let mut chunks = Vec::new();
    for chunk in module.chunks() {
        let chunk = chunk?;
        chunks.push(ChunkInfo {
            id: chunk.id_str().to_string(),
            offset: chunk.offset,
            size: chunk.data.len(),
        });
    }
    let atoms = module.atoms()?;
    let name = atoms
        .module_name()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let code = match module.chunk(*b"Code") {
        Some(c) => {
            // (Every instruction was decoded by check::beam above.)
            let code = module.code()?;
            Some(CodeInfo {
                size: c.data.len(),
                version: code.version,
                opcode_max: code.opcode_max,
                label_count: code.label_count,
                function_count: code.function_count,
            })
        }
        None => None,
    };
    let imports = module.imports()?;
    imports.check_atoms(atoms.len())?;
    let exports = module.exports()?;
    let locals = module.locals()?;
    let funs = module.funs()?;
    let literals = match module.chunk(*b"LitT").or(module.chunk(*b"LitU")) {
        Some(_) => Some(module.literals()?.len()),
        None => None,
    };
    let types = match module.chunk(*b"Type") {
        Some(_) => {
            let t = module.types()?;
            Some(TypeInfo {
                version: t.version,
                entries: t.len() as u32,
                used_by_jit: t.version == 3,
            })
        }
        None => None,
    };
    module.lines()?;
    let native = match module.chunk(*b"avmN") {
        Some(c) => Some(inspect_native(c.data).map_err(|e| e.rebase(c.offset))?),
        None => None,
    };
    Ok(BeamInfo {
        module: name,
        size: bytes.len(),
        chunks,
        atoms: atoms.len(),
        imports: imports.len(),
        exports: exports.len(),
        locals: locals.len(),
        funs: funs.len(),
        literals,
        functions: code.as_ref().map(|c| c.function_count),
        labels: code.as_ref().map(|c| c.label_count),
        code,
        types,
        native,
    })
}

fn inspect_native(payload: &[u8]) -> Result<NativeInfo, avm_jit_core::Error> {
    let native = Native::parse(payload)?;
    let arches: Vec<ArchInfo> = native
        .arches()
        .map(|a| {
            let name = jit::code_name(a.arch, a.variant);
            ArchInfo {
                arch: a.arch,
                arch_name: name.arch_name().unwrap_or("unknown"),
                variant: a.variant,
                variant_name: name.variant_bits().to_string(),
                offset: a.offset,
            }
        })
        .collect();
    let layout = native
        .readable_arch()
        .map(|(a, target)| target.code_layout(&native, &a))
        .transpose()?;
    Ok(NativeInfo {
        size: payload.len(),
        format: native.format,
        label_count: native.labels_count,
        arches,
        code_size: layout.map(|l| l.label0 - l.jump_table),
        lines: layout.map(|l| native.lines(&l).count()),
    })
}

pub fn flag_names(flags: u32) -> Vec<&'static str> {
    let mut names = Vec::new();
    if flags & BEAM_START != 0 {
        names.push("start");
    }
    if flags & BEAM_CODE != 0 {
        names.push("beam");
    }
    if flags & NORMAL_FILE != 0 {
        names.push("file");
    }
    names
}

/// One section, with the details of the module in it.
fn section_info(s: &Section<'_>) -> Result<SectionInfo, avm_jit_core::Error> {
    let beam = if s.is_beam() {
        Some(Box::new(
            inspect_beam(s.data).map_err(|e| e.rebase(s.data_offset))?,
        ))
    } else {
        None
    };
    Ok(SectionInfo {
        offset: s.offset,
        size: s.size,
        flags: s.flags,
        flag_names: flag_names(s.flags),
        name: String::from_utf8_lossy(s.name).into_owned(),
        data_offset: s.data_offset,
        data_size: s.data.len(),
        beam,
    })
}

fn print_file(info: &FileInfo) -> Result<()> {
    match &info.kind {
        FileKind::Beam(b) => {
            outln!(
                "{}: BEAM module `{}`, {} bytes",
                info.path,
                b.module,
                b.size
            )?;
            print_beam(b, "  ")
        }
        FileKind::Avm(a) => {
            outln!(
                "{}: AVM, {} bytes, {} sections{}",
                info.path,
                a.size,
                a.pack.sections().len(),
                start_module(&a.pack)
                    .map(|m| format!(", start module `{m}`"))
                    .unwrap_or_default()
            )?;
            for s in a.pack.sections() {
                let s = section_info(s).map_err(|e| anyhow!("{}: {e}", info.path))?;
                outln!(
                    "  {:#08x}  size {:>7}  flags {} ({})  {}",
                    s.offset,
                    s.size,
                    s.flags,
                    s.flag_names.join(","),
                    s.name
                )?;
                if let Some(b) = &s.beam {
                    print_beam(b, "      ")?;
                }
            }
            let end = a.pack.end();
            outln!(
                "  {:#08x}  {} (end section)",
                end.offset,
                String::from_utf8_lossy(end.name)
            )?;
            match a.jit_cache_start {
                Some(start) => outln!(
                    "  flashed at {:#010x}, AtomVM's JIT cache would begin at {start:#010x}",
                    a.address
                ),
                None => outln!(
                    "  flashed at {:#010x}, it would run past the end of the flash (see --address, --flash-size)",
                    a.address
                ),
            }
        }
    }
}

fn print_beam(b: &BeamInfo, indent: &str) -> Result<()> {
    let chunks: Vec<String> = b
        .chunks
        .iter()
        .map(|c| format!("{} ({})", c.id, c.size))
        .collect();
    outln!("{indent}chunks: {}", chunks.join(", "))?;
    outln!(
        "{indent}atoms {}, imports {}, exports {}, locals {}, funs {}{}",
        b.atoms,
        b.imports,
        b.exports,
        b.locals,
        b.funs,
        b.literals
            .map(|n| format!(", literals {n}"))
            .unwrap_or_default()
    )?;
    match &b.code {
        Some(c) => outln!(
            "{indent}code: {} bytes, opcode max {}, {} labels, {} functions",
            c.size,
            c.opcode_max,
            c.label_count,
            c.function_count
        )?,
        None => outln!("{indent}code: none (native only)")?,
    }
    match &b.types {
        Some(t) => outln!(
            "{indent}types: version {}, {} entries{}",
            t.version,
            t.entries,
            if t.used_by_jit {
                " (used by the JIT)"
            } else {
                " (ignored by the JIT)"
            }
        )?,
        None => outln!("{indent}types: none")?,
    }
    match &b.native {
        Some(n) => {
            let arches: Vec<String> = n
                .arches
                .iter()
                .map(|a| format!("{} variant {} ({})", a.arch_name, a.variant, a.variant_name))
                .collect();
            outln!(
                "{indent}native: avmN format {}, {} bytes, {} labels, {}{}",
                n.format,
                n.size,
                n.label_count,
                arches.join(", "),
                n.code_size
                    .map(|s| format!(", {s} bytes of code"))
                    .unwrap_or_default()
            )?;
        }
        None => outln!("{indent}native: none")?,
    }
    Ok(())
}

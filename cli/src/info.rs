//! `avm-jit info FILE...`: what is inside BEAM and AVM files.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use avm_jit_core::abi::jit;
use avm_jit_core::avm::{Pack, BEAM_CODE, BEAM_START, NORMAL_FILE};
use avm_jit_core::beam::Module;
use avm_jit_core::flash::cache::first_entry_address;
use avm_jit_core::native::Native;
use serde::Serialize;

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
    /// Bytes of native code (jump table to label-0 stub) of the first armv6m entry.
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
    pub beam: Option<BeamInfo>,
}

#[derive(Serialize)]
pub struct AvmInfo {
    pub size: usize,
    pub sections: Vec<SectionInfo>,
    /// Offset of the end section, and of the first byte after its name.
    pub end_section_offset: usize,
    pub end_offset: usize,
    pub end_name: String,
    pub start_module: Option<String>,
    /// Where the file would sit in flash, and where AtomVM's JIT cache would then begin.
    pub address: u32,
    pub jit_cache_start: u32,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FileKind {
    Beam(BeamInfo),
    Avm(AvmInfo),
}

#[derive(Serialize)]
pub struct FileInfo {
    pub path: String,
    #[serde(flatten)]
    pub kind: FileKind,
}

/// `avm-jit info FILE...`.
pub fn run(files: &[std::path::PathBuf], address: u32, json: bool) -> Result<()> {
    let mut infos = Vec::new();
    for path in files {
        infos.push(inspect_file(path)?.with_address(address));
    }
    if json {
        let out = if infos.len() == 1 {
            serde_json::to_string_pretty(&infos[0])?
        } else {
            serde_json::to_string_pretty(&infos)?
        };
        println!("{out}");
    } else {
        for (i, info) in infos.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print_file(info);
        }
    }
    Ok(())
}

impl FileInfo {
    fn with_address(mut self, address: u32) -> Self {
        if let FileKind::Avm(avm) = &mut self.kind {
            avm.address = address;
            avm.jit_cache_start =
                first_entry_address(address.saturating_add(avm.end_offset as u32));
        }
        self
    }
}

/// Read and describe one file; errors name the file and the byte offset.
pub fn inspect_file(path: &Path) -> Result<FileInfo> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let kind = if bytes.starts_with(b"FOR1") {
        FileKind::Beam(inspect_beam(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?)
    } else if bytes.starts_with(b"#!/usr/bin/env AtomVM") {
        FileKind::Avm(inspect_avm(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?)
    } else {
        return Err(anyhow!(
            "{}: at offset 0x0: neither a BEAM file (FOR1) nor an AVM (#!/usr/bin/env AtomVM)",
            path.display()
        ));
    };
    Ok(FileInfo {
        path: path.display().to_string(),
        kind,
    })
}

/// Describe a BEAM file. Every table is read in full, so a damaged file is reported here.
pub fn inspect_beam(bytes: &[u8]) -> Result<BeamInfo, avm_jit_core::Error> {
    let module = Module::parse(bytes)?;
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
            let code = module.code()?;
            // Decode every instruction: a corrupt Code chunk is an error here, not later.
            for insn in code.instructions() {
                insn?;
            }
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

fn arch_name(arch: u16) -> &'static str {
    jit::arch_name(arch).unwrap_or("unknown")
}

fn variant_name(variant: u16) -> String {
    let mut parts = Vec::new();
    if variant & jit::VARIANT_PIC != 0 {
        parts.push("pic");
    }
    if variant & jit::VARIANT_FLOAT32 != 0 {
        parts.push("float32");
    }
    if variant & jit::VARIANT_THUMB2 != 0 {
        parts.push("thumb2");
    }
    if variant & !(jit::VARIANT_PIC | jit::VARIANT_FLOAT32 | jit::VARIANT_THUMB2) != 0 {
        parts.push("unknown");
    }
    parts.join("+")
}

fn inspect_native(payload: &[u8]) -> Result<NativeInfo, avm_jit_core::Error> {
    let native = Native::parse(payload)?;
    let arches: Vec<ArchInfo> = native
        .arches()
        .map(|a| ArchInfo {
            arch: a.arch,
            arch_name: arch_name(a.arch),
            variant: a.variant,
            variant_name: variant_name(a.variant),
            offset: a.offset,
        })
        .collect();
    let layout = native
        .arches()
        .find(|a| a.arch == jit::ARCH_ARMV6M)
        .map(|a| native.layout(&a))
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

fn inspect_avm(bytes: &[u8]) -> Result<AvmInfo, avm_jit_core::Error> {
    let pack = Pack::parse(bytes)?;
    let mut sections = Vec::new();
    for s in pack.sections() {
        let beam = if s.is_beam() {
            Some(inspect_beam(s.data).map_err(|e| e.rebase(s.data_offset))?)
        } else {
            None
        };
        sections.push(SectionInfo {
            offset: s.offset,
            size: s.size,
            flags: s.flags,
            flag_names: flag_names(s.flags),
            name: String::from_utf8_lossy(s.name).into_owned(),
            data_offset: s.data_offset,
            data_size: s.data.len(),
            beam,
        });
    }
    let end = pack.end();
    Ok(AvmInfo {
        size: bytes.len(),
        sections,
        end_section_offset: end.offset,
        end_offset: end.data_offset,
        end_name: String::from_utf8_lossy(end.name).into_owned(),
        start_module: pack
            .start_module()
            .and_then(|s| s.module_name())
            .map(str::to_string),
        address: 0,
        jit_cache_start: 0,
    })
}

fn print_file(info: &FileInfo) {
    match &info.kind {
        FileKind::Beam(b) => {
            println!(
                "{}: BEAM module `{}`, {} bytes",
                info.path, b.module, b.size
            );
            print_beam(b, "  ");
        }
        FileKind::Avm(a) => {
            println!(
                "{}: AVM, {} bytes, {} sections{}",
                info.path,
                a.size,
                a.sections.len(),
                a.start_module
                    .as_deref()
                    .map(|m| format!(", start module `{m}`"))
                    .unwrap_or_default()
            );
            for s in &a.sections {
                println!(
                    "  {:#08x}  size {:>7}  flags {} ({})  {}",
                    s.offset,
                    s.size,
                    s.flags,
                    s.flag_names.join(","),
                    s.name
                );
                if let Some(b) = &s.beam {
                    print_beam(b, "      ");
                }
            }
            println!(
                "  {:#08x}  {} (end section)",
                a.end_section_offset, a.end_name
            );
            println!(
                "  flashed at {:#010x}, AtomVM's JIT cache would begin at {:#010x}",
                a.address, a.jit_cache_start
            );
        }
    }
}

fn print_beam(b: &BeamInfo, indent: &str) {
    let chunks: Vec<String> = b
        .chunks
        .iter()
        .map(|c| format!("{} ({})", c.id, c.size))
        .collect();
    println!("{indent}chunks: {}", chunks.join(", "));
    println!(
        "{indent}atoms {}, imports {}, exports {}, locals {}, funs {}{}",
        b.atoms,
        b.imports,
        b.exports,
        b.locals,
        b.funs,
        b.literals
            .map(|n| format!(", literals {n}"))
            .unwrap_or_default()
    );
    match &b.code {
        Some(c) => println!(
            "{indent}code: {} bytes, opcode max {}, {} labels, {} functions",
            c.size, c.opcode_max, c.label_count, c.function_count
        ),
        None => println!("{indent}code: none (native only)"),
    }
    match &b.types {
        Some(t) => println!(
            "{indent}types: version {}, {} entries{}",
            t.version,
            t.entries,
            if t.used_by_jit {
                " (used by the JIT)"
            } else {
                " (ignored by the JIT)"
            }
        ),
        None => println!("{indent}types: none"),
    }
    match &b.native {
        Some(n) => {
            let arches: Vec<String> = n
                .arches
                .iter()
                .map(|a| format!("{} variant {} ({})", a.arch_name, a.variant, a.variant_name))
                .collect();
            println!(
                "{indent}native: avmN format {}, {} bytes, {} labels, {}{}",
                n.format,
                n.size,
                n.label_count,
                arches.join(", "),
                n.code_size
                    .map(|s| format!(", {s} bytes of code"))
                    .unwrap_or_default()
            );
        }
        None => println!("{indent}native: none"),
    }
}

//! `avm-jit info --image FILE` and `info --probe`: what is in a Pico's flash (the AVMs at the lib
//! and main addresses and AtomVM's JIT cache).

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use avm_jit_core::avm::Pack;
use avm_jit_core::beam::Module;
use avm_jit_core::flash::cache::{self, CacheEntry, WalkEnd};
use avm_jit_core::flash::plan::Layout;
use avm_jit_core::flash::prefill::{self, AvmInFlash};
use avm_jit_core::flash::{Chip, MemFlash};
use serde::Serialize;

use crate::args::{chip_layout, parse_chip};
use crate::device::image::ImageFile;
use crate::device::open_probe;

#[derive(Debug, Serialize)]
pub struct ModuleInfo {
    pub name: String,
    pub address: u32,
    pub size: u32,
    pub flags: u32,
    pub start: bool,
    pub beam: bool,
    /// The module carries precompiled native code (an `avmN` chunk).
    pub native: bool,
}

#[derive(Debug, Serialize)]
pub struct AvmInfo {
    pub partition: &'static str,
    pub address: u32,
    pub bytes: usize,
    pub end_name: String,
    pub modules: Vec<ModuleInfo>,
}

#[derive(Debug, Serialize)]
pub struct EntryInfo {
    pub address: u32,
    pub magic: u16,
    pub version: u16,
    pub code: u32,
    pub module: Option<String>,
    pub labels: u32,
    pub native_size: u32,
}

#[derive(Debug, Serialize)]
pub struct FlashInfo {
    pub source: String,
    pub avms: Vec<AvmInfo>,
    /// Problems with what sits at the AVM addresses (e.g. a damaged AVM).
    pub problems: Vec<String>,
    pub cache_start: Option<u32>,
    pub cache_valid: bool,
    pub cache_entries: Vec<EntryInfo>,
    pub cache_stop: Option<String>,
    /// Bytecode modules with no native code anywhere (no `avmN` chunk, no valid cache entry):
    /// AtomVM's JIT firmware has no interpreter and must compile them on the device.
    pub no_native: Vec<String>,
}

/// Whether a BEAM section carries precompiled native code (a readable `avmN` header).
fn has_native_code(beam: &[u8]) -> bool {
    Module::parse(beam).is_ok_and(|m| matches!(m.native(), Ok(Some(_))))
}

fn describe_avm(partition: &'static str, address: u32, pack: &Pack<'_>) -> AvmInfo {
    let modules = pack
        .sections()
        .iter()
        .map(|s| ModuleInfo {
            name: String::from_utf8_lossy(s.name).into_owned(),
            address: address + s.data_offset as u32,
            size: s.size,
            flags: s.flags,
            start: s.is_start(),
            beam: s.is_beam(),
            native: s.is_beam() && has_native_code(s.data),
        })
        .collect();
    AvmInfo {
        partition,
        address,
        bytes: pack.len(),
        end_name: String::from_utf8_lossy(pack.end().name).into_owned(),
        modules,
    }
}

/// What is in a flash: the AVMs at the lib and main addresses and AtomVM's JIT cache.
pub fn inspect(flash: &MemFlash, layout: &Layout, main_address: u32, source: String) -> FlashInfo {
    let mut info = FlashInfo {
        source,
        avms: Vec::new(),
        problems: Vec::new(),
        cache_start: None,
        cache_valid: false,
        cache_entries: Vec::new(),
        cache_stop: None,
        no_native: Vec::new(),
    };
    let end = layout.flash_end();
    let partitions = [
        ("lib.avm", layout.lib_address, layout.main_address),
        ("main.avm", main_address, end),
    ];
    let mut packs = Vec::new();
    for (name, start, stop) in partitions {
        let Some(bytes) = stop
            .checked_sub(start)
            .and_then(|len| flash.slice(start, len as usize))
        else {
            info.problems
                .push(format!("{name}: {start:#010x} is outside the flash"));
            continue;
        };
        if bytes.iter().take(24).all(|&b| b == 0xFF) {
            continue;
        }
        match Pack::parse(bytes) {
            Ok(p) => {
                info.avms.push(describe_avm(name, start, &p));
                packs.push((start, p));
            }
            Err(e) => info
                .problems
                .push(format!("{name} at {start:#010x}: not a valid AVM: {e}")),
        }
    }
    // AtomVM needs main.avm to boot; without it there is no cache to speak of.
    if !info.avms.iter().any(|a| a.partition == "main.avm") {
        return info;
    }
    let highest = packs
        .iter()
        .map(|(a, p)| a + p.end().data_offset as u32)
        .max()
        .unwrap_or(main_address);
    let start = cache::first_entry_address(highest);
    info.cache_start = Some(start);
    info.cache_valid = packs.iter().all(|(_, p)| p.end().is_marked_valid());
    // AtomVM matches an entry to a module by the exact address of its `Code` chunk tag.
    let avms: Vec<AvmInFlash<'_>> = packs
        .iter()
        .map(|(address, pack)| AvmInFlash {
            address: *address,
            pack: pack.clone(),
        })
        .collect();
    // (Out of memory only on a device heap; the host's allocator aborts before.)
    let mut by_code: Vec<(u32, String)> = prefill::candidates(&avms)
        .unwrap_or_default()
        .iter()
        .map(|c| (c.code_address, format!("{}.beam", c.name_str())))
        .collect();
    by_code.sort();
    let module_at = |code: u32| -> Option<String> {
        by_code
            .binary_search_by_key(&code, |(a, _)| *a)
            .ok()
            .map(|i| by_code[i].1.clone())
    };
    let mut entries: Vec<CacheEntry> = Vec::new();
    let mut snapshot = flash.clone();
    match cache::walk(&mut snapshot, start, end, |e| entries.push(*e)) {
        Ok(stop) => {
            if !matches!(stop, WalkEnd::Free { .. } | WalkEnd::RegionEnd { .. }) {
                info.problems.push(format!("cache: {stop}"));
            }
            info.cache_stop = Some(stop.to_string());
        }
        Err(e) => info.problems.push(format!("cache: {e}")),
    }
    info.cache_entries = entries
        .iter()
        .map(|e| EntryInfo {
            address: e.address,
            magic: e.header.magic,
            version: e.header.version,
            code: e.header.code,
            module: module_at(e.header.code),
            labels: e.header.labels,
            native_size: e.header.size,
        })
        .collect();
    let mut cached: Vec<u32> = if info.cache_valid {
        entries.iter().map(|e| e.header.code).collect()
    } else {
        Vec::new()
    };
    cached.sort_unstable();
    info.no_native = by_code
        .iter()
        .filter(|(code, _)| cached.binary_search(code).is_err())
        .map(|(_, name)| name.trim_end_matches(".beam").to_string())
        .collect();
    info
}

pub fn print_info(info: &FlashInfo, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(info)?)?;
        return Ok(());
    }
    outln!("{}", info.source)?;
    for avm in &info.avms {
        outln!(
            "{} at {:#010x}: {} bytes, end section {:?}",
            avm.partition,
            avm.address,
            avm.bytes,
            avm.end_name
        )?;
        for m in &avm.modules {
            let mut tags = Vec::new();
            if m.start {
                tags.push("start");
            }
            if m.native {
                tags.push("native");
            }
            outln!(
                "  {:#010x} {:>8}  {} {}",
                m.address,
                m.size,
                m.name,
                tags.join(" ")
            )?;
        }
    }
    for p in &info.problems {
        outln!("problem: {p}")?;
    }
    match info.cache_start {
        None => outln!("no main.avm: no JIT cache")?,
        Some(start) => {
            outln!(
                "JIT cache at {start:#010x}: {} ({} entries)",
                if info.cache_valid {
                    "valid"
                } else {
                    "not valid (an end section is not END)"
                },
                info.cache_entries.len()
            )?;
            for e in &info.cache_entries {
                outln!(
                    "  {:#010x} magic {:#06x} v{} code {:#010x} ({}) labels {} native {} bytes",
                    e.address,
                    e.magic,
                    e.version,
                    e.code,
                    e.module.as_deref().unwrap_or("unknown module"),
                    e.labels,
                    e.native_size
                )?;
            }
            if let Some(stop) = &info.cache_stop {
                outln!("  then {stop}")?;
            }
            if !info.no_native.is_empty() {
                outln!(
                    "warning: {} module(s) have no native code anywhere (no avmN chunk, no valid cache entry); AtomVM's JIT firmware must compile them on the device: {}",
                    info.no_native.len(),
                    info.no_native.join(", ")
                )?;
            }
        }
    }
    Ok(())
}

/// `info --image FILE` / `info --probe [SEL]`.
pub fn run_info(
    image: Option<&Path>,
    probe: Option<&str>,
    target: &str,
    flash_size: Option<u32>,
    main_address: u32,
    json: bool,
) -> Result<bool> {
    let chip = parse_chip(target)?;
    let layout = chip_layout(chip, flash_size)?;
    crate::check::flash_args(&layout, main_address)?;
    let flash = match (image, probe) {
        (Some(path), _) => {
            if !path.exists() {
                bail!("flash image {} does not exist", path.display());
            }
            ImageFile::open(path, layout.flash_base, layout.flash_size)?.flash
        }
        (None, Some(selector)) => read_probe_flash(selector, &layout, chip)?,
        (None, None) => bail!("info needs --image FILE or --probe"),
    };
    let source = match image {
        Some(p) => format!("flash image {}", p.display()),
        None => "flash read through the probe".to_string(),
    };
    let info = inspect(&flash, &layout, main_address, source);
    print_info(&info, json)?;
    // A damaged AVM or cache is a failure, not only a line of output.
    Ok(info.problems.is_empty())
}

/// Read the AVM partitions and cache (everything from lib.avm up) into a flash snapshot.
pub(crate) fn read_probe_flash(selector: &str, layout: &Layout, chip: Chip) -> Result<MemFlash> {
    let mut device = open_probe(selector, chip)?;
    let mut bytes = vec![0xFFu8; layout.flash_size as usize];
    let from = (layout.lib_address - layout.flash_base) as usize;
    device.read(layout.lib_address, &mut bytes[from..])?;
    MemFlash::from_bytes(layout.flash_base, bytes).map_err(|e| anyhow!("{e}"))
}

//! `avm-jit compare`: do two sources carry the same native code, module by module?
//!
//! A side is a file (`.beam`, `.avm`, raw `.avmN`), a flash image (the whole flash from
//! `0x10000000`: its AVMs' `avmN` chunks and its JIT cache entries), or a Pico read through a debug
//! probe. Modules are matched by name; every module of each side must be matched exactly once, so a
//! module missing on one side or present twice is a difference (exit 1).
//!
//! Native code from a flash cache entry is only called identical when it equals the host's compile
//! of that module's bytecode (found in the flash at the entry's `Code` address) into an empty
//! stream, the cache layout; against an `avmN` payload the payload must equal the host's compile of
//! the same bytecode in the `avmN` layout. Both checks are reported, with how many instructions the
//! two layouts differ in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use avm_jit_core::avm::Pack;
use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{native_payload, CodeTarget};
use avm_jit_core::flash::cache::{self, CacheEntry};
use avm_jit_core::flash::plan::Layout;
use avm_jit_core::flash::prefill::{self, AvmInFlash, ModuleKind};
use avm_jit_core::flash::{Chip, MemFlash};
use avm_jit_core::native::{Native, SINGLE_ARCH_HEADER_LEN};
use avm_jit_core::stream::VecSink;

use crate::files::{self, Expect};

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Files holding native code: `.beam`, `.avm`, raw `.avmN` payloads, or flash images (a file
    /// that is none of the others and a whole number of 4 KiB sectors). With `--probe`, only one.
    #[arg(required = true, num_args = 1..=2)]
    pub files: Vec<PathBuf>,
    /// Compare against the flash of a Pico behind a debug probe (the right-hand side).
    #[arg(long, value_name = "SELECTOR", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub probe: Option<String>,
    /// Flash size of flash images and of the probed board (default: the chip's, 2M or 4M).
    #[arg(long, value_parser = crate::args::parse_number)]
    pub flash_size: Option<u32>,
    /// Where main.avm sits in flash images and the probed Pico.
    #[arg(long, value_parser = crate::args::parse_number, default_value = "0x10180000")]
    pub address: u32,
    /// The chip whose flash images are compared: rp2040 (Pico; cache entries hold armv6m code),
    /// rp2350 (Pico 2; armv6m+thumb2) or rp2350-riscv (Pico 2's RISC-V cores; riscv32). avmN
    /// payloads say their variant in their header.
    #[arg(long, value_name = "CHIP", default_value = "rp2040")]
    pub target: String,
}

/// Native code of one module, as one side holds it.
enum Code {
    /// An `avmN` payload (an AOT-compiled file, or a module already native in flash).
    Payload(Vec<u8>),
    /// A flash cache entry: the code after its header, with the header's label count.
    Entry {
        code: Vec<u8>,
        labels: u32,
        address: u32,
    },
    /// Bytecode in flash with no native code at all.
    None,
}

struct Item {
    name: String,
    code: Code,
    /// The module's BEAM bytes when they hold bytecode (a `Code` chunk).
    bytecode: Option<Vec<u8>>,
}

struct Side {
    label: String,
    /// A file with modules (not a flash): two single-module files are compared whatever their names.
    is_file: bool,
    items: Vec<Item>,
    /// Things on this side that match no module (stray cache entries, an invalid cache).
    problems: Vec<String>,
}

fn has_code_chunk(beam: &[u8]) -> bool {
    Module::parse(beam).is_ok_and(|m| m.chunk(*b"Code").is_some())
}

fn module_name(module: &Module<'_>) -> String {
    module
        .atoms()
        .ok()
        .and_then(|a| {
            a.module_name()
                .map(|n| String::from_utf8_lossy(n).into_owned())
        })
        .unwrap_or_default()
}

fn beam_item(bytes: &[u8]) -> Result<Item, avm_jit_core::Error> {
    let module = Module::parse(bytes)?;
    let native = module
        .native()?
        .ok_or(avm_jit_core::Error::missing_chunk(*b"avmN"))?;
    Ok(Item {
        name: module_name(&module),
        code: Code::Payload(native.bytes.to_vec()),
        bytecode: has_code_chunk(bytes).then(|| bytes.to_vec()),
    })
}

fn file_side(path: &Path, layout: &Layout, main_address: u32) -> Result<Side> {
    // A flash image may be as large as the flash; everything else is bounded by the same cap.
    let bytes = files::read_input(path, Expect::Any, files::MAX_INPUT)?.bytes;
    let label = path.display().to_string();
    let fail = |e: avm_jit_core::Error| anyhow!("{}: {e}", path.display());
    let items = if bytes.starts_with(b"FOR1") {
        vec![beam_item(&bytes).map_err(fail)?]
    } else if bytes.starts_with(b"#!/usr/bin/env AtomVM") {
        let pack = Pack::parse(&bytes).map_err(fail)?;
        let mut out = Vec::new();
        for s in pack.modules() {
            out.push(beam_item(s.data).map_err(|e| fail(e.rebase(s.data_offset)))?);
        }
        out
    } else if Native::parse(&bytes).is_ok() {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        vec![Item {
            name,
            code: Code::Payload(bytes),
            bytecode: None,
        }]
    } else if !bytes.is_empty()
        && bytes.len() % 4096 == 0
        && bytes.len() <= layout.flash_size as usize
    {
        let mut image = bytes;
        image.resize(layout.flash_size as usize, 0xFF);
        let flash = MemFlash::from_bytes(layout.flash_base, image)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        return flash_side(&flash, layout, main_address, format!("flash image {label}"));
    } else {
        bail!(
            "{}: at offset 0x0: neither a BEAM file, an AVM, an avmN payload nor a flash image (a whole number of 4 KiB sectors, at most --flash-size)",
            path.display()
        );
    };
    Ok(Side {
        label,
        is_file: true,
        items,
        problems: Vec::new(),
    })
}

/// The modules of the AVMs in a flash with their native code: `avmN` chunks and cache entries.
fn flash_side(flash: &MemFlash, layout: &Layout, main_address: u32, label: String) -> Result<Side> {
    let mut avms = Vec::new();
    for (start, stop) in [
        (layout.lib_address, layout.main_address),
        (main_address, layout.flash_end()),
    ] {
        let Some(bytes) = stop
            .checked_sub(start)
            .and_then(|len| flash.slice(start, len as usize))
        else {
            continue;
        };
        if let Ok(pack) = Pack::parse(bytes) {
            avms.push(AvmInFlash {
                address: start,
                pack,
            });
        }
    }
    if !avms.iter().any(|a| a.address == main_address) {
        bail!("{label}: no main.avm at {main_address:#010x}");
    }
    let mut problems = Vec::new();
    let valid = avms.iter().all(|a| a.pack.end().is_marked_valid());
    let mut entries: Vec<CacheEntry> = Vec::new();
    if let Some(start) = prefill::cache_start(&avms) {
        let mut snapshot = flash.clone();
        cache::walk(&mut snapshot, start, layout.flash_end(), |e| {
            entries.push(*e)
        })
        .map_err(|e| anyhow!("{label}: {e}"))?;
    }
    if !valid && !entries.is_empty() {
        problems.push(format!(
            "the JIT cache is not valid (an end section is not END): AtomVM ignores its {} entries",
            entries.len()
        ));
        entries.clear();
    }
    let mut used = vec![false; entries.len()];
    let mut items = Vec::new();
    let code_addresses: Vec<(u32, &[u8])> = prefill::candidates(&avms)?
        .iter()
        .map(|c| (c.code_address, c.name))
        .collect();
    for a in &avms {
        for s in a.pack.modules() {
            let module = match Module::parse(s.data) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(format!(
                        "{} at {:#010x}: {e}",
                        String::from_utf8_lossy(s.name),
                        a.address + s.data_offset as u32
                    ));
                    continue;
                }
            };
            let name = module_name(&module);
            let bytecode = has_code_chunk(s.data).then(|| s.data.to_vec());
            let code = match prefill::classify(s) {
                ModuleKind::Native | ModuleKind::NativeAndBytecode => match module.native() {
                    Ok(Some(n)) => Code::Payload(n.bytes.to_vec()),
                    _ => Code::None,
                },
                ModuleKind::Bytecode => {
                    let span = (a.address + s.data_offset as u32)
                        ..(a.address + (s.data_offset + s.data.len()) as u32);
                    let tag = code_addresses
                        .iter()
                        .find(|(at, _)| span.contains(at))
                        .map(|(at, _)| *at);
                    // AtomVM takes the first entry whose `code` is the module's Code address.
                    match entries.iter().position(|e| Some(e.header.code) == tag) {
                        Some(i) => {
                            used[i] = true;
                            let e = entries[i];
                            let code = flash
                                .slice(e.code_address(), e.header.size as usize)
                                .ok_or_else(|| {
                                    anyhow!(
                                        "{label}: entry at {:#010x} runs past the flash",
                                        e.address
                                    )
                                })?;
                            Code::Entry {
                                code: code.to_vec(),
                                labels: e.header.labels,
                                address: e.address,
                            }
                        }
                        None => Code::None,
                    }
                }
                ModuleKind::Unusable | ModuleKind::NotModule => continue,
            };
            items.push(Item {
                name,
                code,
                bytecode,
            });
        }
    }
    for (e, used) in entries.iter().zip(&used) {
        if !used {
            problems.push(format!(
                "cache entry at {:#010x} (code {:#010x}) belongs to no module AtomVM would look it up for",
                e.address, e.header.code
            ));
        }
    }
    Ok(Side {
        label,
        is_file: false,
        items,
        problems,
    })
}

#[cfg(feature = "probe")]
fn probe_side(selector: &str, layout: &Layout, chip: Chip, main_address: u32) -> Result<Side> {
    let flash = crate::image_info::read_probe_flash(selector, layout, chip)?;
    flash_side(
        &flash,
        layout,
        main_address,
        "flash read through the probe".into(),
    )
}

#[cfg(not(feature = "probe"))]
fn probe_side(_selector: &str, _layout: &Layout, _chip: Chip, _main_address: u32) -> Result<Side> {
    bail!("this avm-jit was built without the `probe` feature")
}

/// The host's compile of `beam` into an empty stream: (code, labels).
fn host_entry(beam: &[u8], target: CodeTarget) -> Result<(Vec<u8>, u32), String> {
    let module = Module::parse(beam).map_err(|e| e.to_string())?;
    prefill::compile_entry(&module, target, VecSink::new())
        .map(|(sink, labels)| (sink.into_bytes(), labels))
        .map_err(|e| e.to_string())
}

fn host_payload(beam: &[u8], target: CodeTarget) -> Result<Vec<u8>, String> {
    let module = Module::parse(beam).map_err(|e| e.to_string())?;
    native_payload(&module, target).map_err(|e| e.to_string())
}

/// The code variant of a payload's header (its first entry of an architecture avm-jit reads);
/// armv6m when it cannot tell.
fn target_of(payload: &[u8]) -> CodeTarget {
    Native::parse(payload)
        .ok()
        .and_then(|native| native.readable_arch())
        .map_or(CodeTarget::Armv6m, |(_, target)| target)
}

/// Where two buffers of `target` code first differ, both sides disassembled.
fn describe_difference(target: CodeTarget, left: &[u8], right: &[u8], names: [&str; 2]) -> String {
    let mut out = String::new();
    let _ = target.describe_difference(left, right, names, &mut out);
    out
}

/// Instruction encodings of a code buffer, decoded from its start.
fn instructions(code: &[u8], target: CodeTarget) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < code.len() {
        let len = target
            .decoded_len(&code[at..], at as u32)
            .clamp(1, code.len() - at);
        out.push(&code[at..at + len]);
        at += len;
    }
    out
}

/// Instructions only in `a` plus instructions only in `b` (the shortest edit script), at most
/// `limit`; `None` above it.
fn edit_distance<T: PartialEq>(a: &[T], b: &[T], limit: usize) -> Option<usize> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    let (n, m) = (a.len() as isize, b.len() as isize);
    let limit = limit.min((n + m) as usize) as isize;
    let offset = limit + 1;
    let mut v = vec![0isize; (2 * limit + 3) as usize];
    for d in 0..=limit {
        let mut k = -d;
        while k <= d {
            let i = (k + offset) as usize;
            let mut x = if k == -d || (k != d && v[i - 1] < v[i + 1]) {
                v[i + 1]
            } else {
                v[i - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[i] = x;
            if x >= n && y >= m {
                return Some(d as usize);
            }
            k += 2;
        }
    }
    None
}

/// Why the same module's code differs between the two layouts (printed once).
const LAYOUT_WHY: &str = "why the layouts differ: a cache entry's offsets count from its first native byte, 20 lower than in an avmN payload (whose stream starts with its 20-byte header); constants holding code offsets (such as continuation pointers) change, where such a value crosses an immediate's range the compiler picks a different instruction sequence, and that moves the code after it (jump table entries then hold different distances to their labels)";

/// The code between consecutive labels of a payload, in address order: (label, start, end) where
/// the first segment (label 0) is the code before the first label and the last ends at the
/// label-0 stub.
fn label_segments(payload: &[u8]) -> Option<Vec<(u32, usize, usize)>> {
    let native = Native::parse(payload).ok()?;
    let arch = native.arches().next()?;
    let layout = native.layout(&arch).ok()?;
    if layout.code_start > layout.label0 || layout.label0 > payload.len() {
        return None;
    }
    let mut labels: Vec<(usize, u32)> = (1..=native.labels_count)
        .map(|l| native.label_offset(&layout, l).ok().map(|at| (at, l)))
        .collect::<Option<_>>()?;
    labels.sort_unstable();
    let mut out = Vec::with_capacity(labels.len() + 1);
    let mut from = (0, layout.code_start);
    for (at, label) in labels {
        if at < from.1 || at > layout.label0 {
            return None;
        }
        out.push((from.0, from.1, at));
        from = (label, at);
    }
    out.push((from.0, from.1, layout.label0));
    Some(out)
}

/// How the cache layout and the avmN layout of the same module differ: jump table entries, then,
/// label by label, instructions of the code.
fn layout_difference(entry: &[u8], payload: &[u8], labels: u32, target: CodeTarget) -> String {
    let aot = payload.get(SINGLE_ARCH_HEADER_LEN..).unwrap_or_default();
    let slot = target.jump_table_entry_size();
    let table = (labels as usize + 1) * slot;
    let (lt, _) = entry.split_at(table.min(entry.len()));
    let (rt, _) = aot.split_at(table.min(aot.len()));
    let slots = lt
        .chunks(slot)
        .zip(rt.chunks(slot))
        .filter(|(a, b)| a != b)
        .count();
    // The entry seen as a payload (its offsets are then 20 higher, which changes nothing here).
    let mut wrapped =
        avm_jit_core::native::single_arch_header(labels, target.arch(), target.variant()).to_vec();
    wrapped.extend_from_slice(entry);
    let segments = label_segments(&wrapped).zip(label_segments(payload));
    let Some((ls, rs)) =
        segments.filter(|(l, r)| l.len() == r.len() && l.iter().zip(r).all(|(a, b)| a.0 == b.0))
    else {
        return format!(
            "layouts: {slots} of {} jump table entries differ; the code could not be split at the same labels",
            labels + 1
        );
    };
    let (mut differing, mut count, mut total_l, mut total_r) = (0, 0usize, 0, 0);
    let mut over = false;
    for ((_, la, lb), (_, ra, rb)) in ls.iter().zip(&rs) {
        let (l, r) = (
            instructions(&wrapped[*la..*lb], target),
            instructions(&payload[*ra..*rb], target),
        );
        total_l += l.len();
        total_r += r.len();
        if l == r {
            continue;
        }
        differing += 1;
        match edit_distance(&l, &r, 20_000) {
            Some(d) => count += d,
            None => over = true,
        }
    }
    format!(
        "layouts: {slots} of {} jump table entries differ; the code differs in {differing} of {} label blocks, {}{count} instructions not common to both ({total_l} in the cache entry, {total_r} in the avmN payload)",
        labels + 1,
        ls.len(),
        if over { "more than " } else { "" },
    )
}

/// Check an entry against the host's compile of its bytecode; `Ok` text or `Err` text.
fn check_entry(
    side: &Side,
    item: &Item,
    code: &[u8],
    labels: u32,
    target: CodeTarget,
) -> Result<String, String> {
    let Some(beam) = &item.bytecode else {
        return Err(format!(
            "no bytecode in {} to check its cache entry against",
            side.label
        ));
    };
    let (host, host_labels) = host_entry(beam, target)
        .map_err(|e| format!("the host cannot compile its bytecode: {e}"))?;
    if host == code && host_labels == labels {
        Ok(format!(
            "cache entry in {} = host compile of its bytecode into an empty stream ({} bytes)",
            side.label,
            code.len()
        ))
    } else {
        let names = [side.label.as_str(), "host compile (empty stream)"];
        let text = describe_difference(target, code, &host, names);
        Err(format!(
            "cache entry in {} differs from the host compile of its bytecode into an empty stream (labels {labels} vs {host_labels}): {text}",
            side.label
        ))
    }
}

fn check_payload(label: &str, payload: &[u8], beam: &[u8]) -> Result<String, String> {
    let host = host_payload(beam, target_of(payload))
        .map_err(|e| format!("the host cannot compile its bytecode: {e}"))?;
    if host == payload {
        Ok(format!(
            "avmN in {label} = host compile of the same bytecode ({} bytes)",
            payload.len()
        ))
    } else {
        let names = [label, "host compile (avmN)"];
        let text = describe_difference(target_of(payload), payload, &host, names);
        Err(format!(
            "avmN in {label} differs from the host compile of the same bytecode: {text}"
        ))
    }
}

/// Compare one module present once on each side; prints what it found, returns identical.
/// `target` is the code variant of cache entries.
fn compare_pair(
    name: &str,
    sides: [&Side; 2],
    items: [&Item; 2],
    target: CodeTarget,
) -> Result<bool> {
    let [ls, rs] = sides;
    let [li, ri] = items;
    let bytecode = li.bytecode.as_ref().or(ri.bytecode.as_ref());
    match (&li.code, &ri.code) {
        (Code::None, _) | (_, Code::None) => {
            let which = if matches!(li.code, Code::None) {
                ls
            } else {
                rs
            };
            outln!(
                "module {name} differs: no native code in {} (bytecode only, no valid cache entry)",
                which.label
            )?;
            Ok(false)
        }
        (Code::Payload(l), Code::Payload(r)) => {
            if l == r {
                return Ok(true);
            }
            // Either ISA: a payload names its architecture in its header.
            let text = describe_difference(target_of(l), l, r, [&ls.label, &rs.label]);
            outln!("module {name} differs: {text}")?;
            Ok(false)
        }
        (
            Code::Entry {
                code: l,
                labels: ll,
                address: la,
            },
            Code::Entry {
                code: r,
                labels: rl,
                address: ra,
            },
        ) => {
            let checks = [
                check_entry(ls, li, l, *ll, target),
                check_entry(rs, ri, r, *rl, target),
            ];
            let same = l == r && ll == rl;
            let ok = same && checks.iter().all(|c| c.is_ok());
            if !ok {
                outln!(
                    "module {name} differs (entries at {la:#010x} and {ra:#010x}){}",
                    if same {
                        ""
                    } else {
                        ": the two entries' code differs"
                    }
                )?;
                for c in &checks {
                    match c {
                        Ok(t) => outln!("  ok: {t}")?,
                        Err(t) => outln!("  DIFFERENT: {t}")?,
                    }
                }
            }
            Ok(ok)
        }
        (Code::Entry { code, labels, .. }, Code::Payload(payload))
        | (Code::Payload(payload), Code::Entry { code, labels, .. }) => {
            let (es, ei, ps) = if matches!(li.code, Code::Entry { .. }) {
                (ls, li, rs)
            } else {
                (rs, ri, ls)
            };
            if target_of(payload) != target {
                outln!(
                    "module {name} differs: the avmN payload is {} code, the cache entry is taken as {} (see --target)",
                    target_of(payload).name(),
                    target.name()
                )?;
                return Ok(false);
            }
            let entry_check = check_entry(es, ei, code, *labels, target);
            let payload_check = match bytecode {
                Some(beam) => check_payload(&ps.label, payload, beam),
                None => Err("no bytecode to check the avmN payload against".to_string()),
            };
            let ok = entry_check.is_ok() && payload_check.is_ok();
            outln!(
                "module {name}: {}",
                if ok {
                    "identical (same bytecode, compiled in each layout)"
                } else {
                    "differs"
                }
            )?;
            for c in [&entry_check, &payload_check] {
                match c {
                    Ok(t) => outln!("  ok: {t}")?,
                    Err(t) => outln!("  DIFFERENT: {t}")?,
                }
            }
            // Only meaningful (and quick) when both sides are faithful compiles of one module.
            if ok {
                outln!("  {}", layout_difference(code, payload, *labels, target))?;
            }
            Ok(ok)
        }
    }
}

/// `avm-jit compare`: exit status 0 when every module of each side matches exactly one module of
/// the other with identical native code.
pub fn run_compare(args: &CompareArgs) -> Result<bool> {
    let chip = crate::args::parse_chip(&args.target)?;
    let layout = crate::args::chip_layout(chip, args.flash_size)?;
    let target = chip.code_target();
    let mut sides = Vec::new();
    for path in &args.files {
        sides.push(file_side(path, &layout, args.address)?);
    }
    match (&args.probe, sides.len()) {
        (Some(selector), 1) => sides.push(probe_side(selector, &layout, chip, args.address)?),
        (Some(_), _) => bail!("with --probe, give one file to compare the Pico's flash with"),
        (None, 2) => {}
        (None, _) => bail!("compare needs two files (or one file and --probe)"),
    }
    let (left, right) = (&sides[0], &sides[1]);

    let mut same = 0;
    let mut differ = 0;
    for side in [left, right] {
        for p in &side.problems {
            differ += 1;
            outln!("{}: {p}", side.label)?;
        }
    }
    // Two single modules of plain files (e.g. raw payloads named after their files) are compared
    // as such, whatever their names.
    if left.is_file && right.is_file && left.items.len() == 1 && right.items.len() == 1 {
        let name = left.items[0].name.clone();
        if compare_pair(
            &name,
            [left, right],
            [&left.items[0], &right.items[0]],
            target,
        )? {
            same += 1;
        } else {
            differ += 1;
        }
        outln!("{same} identical, {differ} different")?;
        return Ok(differ == 0);
    }

    let mut by_name: BTreeMap<&str, [Vec<&Item>; 2]> = BTreeMap::new();
    for (i, side) in [left, right].iter().enumerate() {
        for item in &side.items {
            by_name.entry(item.name.as_str()).or_default()[i].push(item);
        }
    }
    let mut explain = false;
    for (name, [l, r]) in &by_name {
        match (l.len(), r.len()) {
            (1, 1) => {
                let layouts = matches!(
                    (&l[0].code, &r[0].code),
                    (Code::Entry { .. }, Code::Payload(_)) | (Code::Payload(_), Code::Entry { .. })
                );
                if compare_pair(name, [left, right], [l[0], r[0]], target)? {
                    explain |= layouts;
                    same += 1;
                } else {
                    differ += 1;
                }
            }
            (nl, nr) => {
                differ += 1;
                for (n, side) in [(nl, left), (nr, right)] {
                    match n {
                        0 => outln!("module {name}: missing from {}", side.label)?,
                        1 => {}
                        n => outln!("module {name}: {n} times in {}", side.label)?,
                    }
                }
            }
        }
    }
    if explain {
        outln!("{LAYOUT_WHY}")?;
    }
    outln!("{same} identical, {differ} different")?;
    Ok(differ == 0)
}

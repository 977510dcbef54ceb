//! `avm-jit flash --mode prefill`: the raw AVMs plus the JIT cache AtomVM's own on-device JIT
//! would write for their modules, marked valid.
//!
//! The cache itself is written by the core's [`avm_jit_core::flash::prefill::write_cache`] — the
//! same streaming code the device loader runs on the Pico — into a model of the flash; the host then
//! turns the model into plans for the destination. Before anything is written every selected
//! module is compiled once to measure its entry, so that a cache that does not fit is refused with
//! the sizes.

use anyhow::{anyhow, bail, Result};
use avm_jit_core::avm::Pack;
use avm_jit_core::compile::module::CodeTarget;
use avm_jit_core::flash::cache::next_entry_address;
use avm_jit_core::flash::plan::{Layout, Plan};
use avm_jit_core::flash::prefill::{self, AvmInFlash, Candidate, ModuleKind, Selection};
use avm_jit_core::flash::MemFlash;
use avm_jit_core::stream::VecSink;
use serde::Serialize;

use crate::flash::Modules;

/// What to prefill.
pub struct Job<'a> {
    pub layout: &'a Layout,
    pub main: &'a [u8],
    pub main_address: u32,
    /// The lib.avm written with the application, or the one already in flash.
    pub lib: Option<&'a [u8]>,
    pub selection: Modules,
    pub target: CodeTarget,
}

#[derive(Debug, Serialize)]
pub struct EntrySummary {
    pub module: String,
    pub avm: &'static str,
    pub address: u32,
    /// The entry's `code` field: the flash address of the module's `Code` chunk.
    pub code: u32,
    pub labels: u32,
    pub size: u32,
}

#[derive(Debug, Serialize)]
pub struct LeftOut {
    pub module: String,
    pub avm: &'static str,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct PrefillSummary {
    pub modules: Modules,
    /// In cache order.
    pub entries: Vec<EntrySummary>,
    /// Bytes from the first entry to the end of the last.
    pub cache_bytes: u32,
    pub region_bytes: u32,
    /// Modules that keep only their bytecode (no cache entry), and why.
    pub bytecode: Vec<LeftOut>,
    /// Modules that are already native (an `avmN` chunk), passed through unchanged.
    pub native: Vec<String>,
}

pub struct Prefilled<'a> {
    model: MemFlash,
    cache_end: u32,
    avms: Vec<AvmInFlash<'a>>,
    pub summary: PrefillSummary,
}

impl<'a> Prefilled<'a> {
    /// The plans that put the model on a destination: AVMs and entries first, then `END`.
    pub fn plans<'p>(&'p self, base: &Plan<'p>) -> Result<(Plan<'p>, Plan<'p>)> {
        prefill::cache_plan(base, &self.model, self.cache_end, &self.avms)
            .ok_or_else(|| anyhow!("internal error: the prefilled cache does not fit its plan"))
    }
}

fn partition(avms: &[AvmInFlash<'_>], index: usize, main_address: u32) -> &'static str {
    if avms[index].address == main_address {
        "main.avm"
    } else {
        "lib.avm"
    }
}

/// Bytes from the first entry to the end of the last, for entries of these code sizes.
fn span(start: u32, sizes: impl Iterator<Item = u32>) -> Option<u32> {
    let mut at = start;
    let mut end = start;
    for size in sizes {
        end = at.checked_add(16)?.checked_add(size)?;
        at = next_entry_address(at, size)?;
    }
    Some(end - start)
}

/// Compile each selected module once to learn its entry size (nothing is written).
fn measure<'m, 'a>(
    modules: &'m [Candidate<'a>],
    target: CodeTarget,
) -> Vec<(&'m Candidate<'a>, Result<u32, String>)> {
    modules
        .iter()
        .map(|c| {
            let size = prefill::compile_entry(&c.module, target, VecSink::new())
                .map(|(sink, _)| sink.as_bytes().len() as u32)
                .map_err(|e| e.to_string());
            (c, size)
        })
        .collect()
}

/// Check the fit, write the cache into a model of the flash, and say what was done.
pub fn prefill<'a>(job: &Job<'a>, base: &Plan<'_>) -> Result<Prefilled<'a>> {
    let mut avms = Vec::new();
    if let Some(lib) = job.lib {
        avms.push(AvmInFlash {
            address: job.layout.lib_address,
            pack: Pack::parse(lib).map_err(|e| anyhow!("lib.avm: {e}"))?,
        });
    }
    avms.push(AvmInFlash {
        address: job.main_address,
        pack: Pack::parse(job.main).map_err(|e| anyhow!("main.avm: {e}"))?,
    });
    let start = base.cache.start;
    if prefill::cache_start(&avms) != Some(start) {
        bail!("internal error: the cache would not start where the plan erases it");
    }
    let region_bytes = base.cache.end - start;
    let selection = match job.selection {
        Modules::All => Selection::All,
        Modules::Closure => Selection::Closure,
    };
    let chosen = prefill::select(&avms, selection)?;
    let measured = measure(&chosen, job.target);

    let mut bytecode = Vec::new();
    let mut native = Vec::new();
    for (i, a) in avms.iter().enumerate() {
        for s in a.pack.modules() {
            let name = s.module_name().unwrap_or("?").to_string();
            let avm = partition(&avms, i, job.main_address);
            let reason = match prefill::classify(s) {
                ModuleKind::Native => {
                    native.push(name);
                    continue;
                }
                ModuleKind::NativeAndBytecode => {
                    "has an avmN chunk too: AtomVM runs that and never looks in the cache"
                        .to_string()
                }
                ModuleKind::Unusable => "not a readable BEAM module".to_string(),
                ModuleKind::NotModule => continue,
                ModuleKind::Bytecode => {
                    let code_at = a.address + s.data_offset as u32;
                    let span = code_at..code_at.saturating_add(s.data.len() as u32);
                    match measured
                        .iter()
                        .find(|(c, _)| c.avm == i && span.contains(&c.code_address))
                    {
                        Some((_, Ok(_))) => continue,
                        Some((_, Err(e))) => format!("cannot be compiled: {e}"),
                        None => "not reachable from the start module or init (--modules closure)"
                            .to_string(),
                    }
                }
            };
            bytecode.push(LeftOut {
                module: name,
                avm,
                reason,
            });
        }
    }
    let ok: Vec<Candidate<'a>> = measured
        .iter()
        .filter(|(_, size)| size.is_ok())
        .map(|(c, _)| (*c).clone())
        .collect();
    let sizes = || {
        measured
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok().copied())
    };
    let needed = span(start, sizes()).unwrap_or(u32::MAX);
    if needed > region_bytes {
        let mut msg = format!(
            "the JIT cache does not fit: {} entries need {needed} bytes from {start:#010x}, but the cache region {start:#010x}..{:#010x} holds {region_bytes}",
            ok.len(),
            base.cache.end
        );
        let mut largest: Vec<(String, u32)> = measured
            .iter()
            .filter_map(|(c, s)| Some((c.name_str().to_string(), *s.as_ref().ok()?)))
            .collect();
        largest.sort_by_key(|e| std::cmp::Reverse(e.1));
        msg.push_str("\nlargest entries:");
        for (name, size) in largest.iter().take(8) {
            msg.push_str(&format!("\n  {size:>8}  {name}"));
        }
        if job.selection == Modules::All {
            let closure = prefill::select(&avms, Selection::Closure)?;
            let closure_sizes: Vec<u32> = measure(&closure, job.target)
                .into_iter()
                .filter_map(|(_, s)| s.ok())
                .collect();
            let closure_bytes = span(start, closure_sizes.iter().copied()).unwrap_or(u32::MAX);
            msg.push_str(&format!(
                "\n--modules closure would write {} entries ({closure_bytes} bytes){}",
                closure_sizes.len(),
                if closure_bytes <= region_bytes {
                    ", which fits"
                } else {
                    ", which does not fit either"
                }
            ));
        }
        bail!("{msg}\nnothing was written");
    }

    let mut model = MemFlash::erased(job.layout.flash_base, job.layout.flash_size);
    // A lib.avm already in flash is not in the plan; the model needs it to mark it valid.
    if base
        .steps
        .iter()
        .all(|s| s.range().start != job.layout.lib_address)
    {
        if let Some(lib) = job.lib {
            avm_jit_core::flash::nor::write_preserving(&mut model, job.layout.lib_address, lib)
                .map_err(|e| anyhow!("{e}"))?;
        }
    }
    base.apply(&mut model).map_err(|e| anyhow!("{e}"))?;
    let mut entries = Vec::new();
    let cache_end = prefill::write_cache(
        &mut model,
        &avms,
        &ok,
        base.cache.clone(),
        job.target,
        |c, e| {
            entries.push(EntrySummary {
                module: c.name_str().to_string(),
                avm: partition(&avms, c.avm, job.main_address),
                address: e.address,
                code: e.header.code,
                labels: e.header.labels,
                size: e.header.size,
            })
        },
    )
    .map_err(|e| anyhow!("{e}"))?;
    let cache_bytes = entries
        .last()
        .map_or(0, |e| e.address + 16 + e.size - start);
    Ok(Prefilled {
        model,
        cache_end,
        avms,
        summary: PrefillSummary {
            modules: job.selection,
            entries,
            cache_bytes,
            region_bytes,
            bytecode,
            native,
        },
    })
}

pub fn print_summary(p: &PrefillSummary) -> anyhow::Result<()> {
    for e in &p.entries {
        outln!(
            "  {:#010x} {:>8} bytes  {} ({}, Code at {:#010x}, {} labels)",
            e.address,
            e.size,
            e.module,
            e.avm,
            e.code,
            e.labels
        )?;
    }
    outln!(
        "cache: {} of {} bytes used ({} entries, --modules {})",
        p.cache_bytes,
        p.region_bytes,
        p.entries.len(),
        match p.modules {
            Modules::All => "all",
            Modules::Closure => "closure",
        }
    )?;
    if !p.native.is_empty() {
        outln!("already native (passed through): {}", p.native.join(", "))?;
    }
    if !p.bytecode.is_empty() {
        outln!(
            "left as bytecode ({}; AtomVM's JIT firmware must compile them on the device, which needs its jit modules):",
            p.bytecode.len()
        )?;
        for m in &p.bytecode {
            outln!("  {} ({}): {}", m.module, m.avm, m.reason)?;
        }
    }
    Ok(())
}

//! `avm-jit flash --mode device`: the raw AVMs are written as in `--mode jit`, then the device
//! loader compiles their modules on the chip itself (a Pico behind a probe, or the emulated RP2040
//! over a flash image) into AtomVM's JIT cache — the entries `--mode prefill` writes from the host,
//! in the same order (the modules are chosen by the core's `flash::prefill::select`). Afterwards
//! the cache is read back and every entry compared with the host's compile of the same module in
//! the cache layout (an empty stream); any difference fails the command.

use anyhow::{anyhow, bail, Context, Result};
use avm_jit_core::avm::Pack;
use avm_jit_core::flash::cache::{self, EntryHeader, ENTRY_HEADER_LEN};
use avm_jit_core::flash::plan::{Layout, Plan};
use avm_jit_core::flash::prefill::{self, AvmInFlash, Candidate, Selection, CACHE_VERSION};
use avm_jit_core::flash::{align_up, MemFlash, SECTOR_SIZE};
use avm_jit_core::stream::VecSink;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::device::loader::{self, AvmSlot, Core, LoaderJob, LoaderRun, ModuleJob, ModuleResult};
use crate::flash::Modules;

/// What to compile on the device.
pub struct DeviceJob<'a> {
    pub layout: &'a Layout,
    pub main: &'a [u8],
    pub main_address: u32,
    /// The lib.avm written with the application, or the one already in flash.
    pub lib: Option<&'a [u8]>,
    pub selection: Modules,
    pub json: bool,
}

/// The modules the loader gets, in cache order, with their candidates (for the host's compile).
fn modules<'a>(
    avms: &[AvmInFlash<'a>],
    chosen: &[Candidate<'a>],
    main_index: usize,
) -> Result<Vec<ModuleJob>> {
    chosen
        .iter()
        .map(|c| {
            let a = &avms[c.avm];
            let in_avm = c.code_address - a.address;
            let section = a
                .pack
                .sections()
                .iter()
                .find(|s| {
                    (s.data_offset..s.data_offset + s.data.len()).contains(&(in_avm as usize))
                })
                .ok_or_else(|| anyhow!("internal error: no section holds {}", c.name_str()))?;
            Ok(ModuleJob {
                avm: if c.avm == main_index {
                    AvmSlot::Main
                } else {
                    AvmSlot::Lib
                },
                section: section.offset as u32,
                name: c.name_str().to_string(),
            })
        })
        .collect()
}

struct Bars {
    multi: MultiProgress,
    current: Option<ProgressBar>,
    total: usize,
}

impl loader::Progress for Bars {
    fn started(&mut self, index: usize, name: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{prefix}] {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(format!("{}/{}", index + 1, self.total));
        bar.set_message(format!("compiling {name} on the device"));
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        self.current = Some(bar);
    }
    fn finished(&mut self, index: usize, r: &ModuleResult) {
        let bar = match self.current.take() {
            Some(b) => b,
            None => {
                let b = self.multi.add(ProgressBar::new_spinner());
                b.set_prefix(format!("{}/{}", index + 1, self.total));
                b
            }
        };
        bar.set_style(
            ProgressStyle::with_template("  [{prefix}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        match &r.failure {
            None => bar.finish_with_message(format!(
                "{}: {} bytes in {:.1} ms",
                r.name,
                r.native,
                f64::from(r.us) / 1000.0
            )),
            Some(f) => bar.finish_with_message(format!("{}: no entry ({})", r.name, f.kind)),
        }
    }
}

/// One module's line of the closing table, and its comparison with the host.
#[derive(Debug, serde::Serialize)]
pub struct ModuleRow {
    pub module: String,
    pub bytecode_bytes: usize,
    pub native_bytes: u32,
    pub device_ms: f64,
    pub flash_ms: f64,
    pub erase_calls: u32,
    pub program_calls: u32,
    pub peak_heap: u32,
    pub peak_stack: u32,
    /// `identical`, or what differs.
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct EmulatorCounts {
    pub instructions: u64,
    pub erase_calls: u64,
    pub program_calls: u64,
    pub flash_busy_ms: f64,
    /// At 125 MHz, 1.3 cycles per instruction, flash time included.
    pub estimated_ms: f64,
}

#[derive(Debug, serde::Serialize)]
pub struct DeviceSummary {
    pub modules: Vec<ModuleRow>,
    pub identical: usize,
    pub differences: usize,
    pub loader_bytes: usize,
    /// The loader's code and read-only data, and its data (zeroed data included).
    pub loader_text: u32,
    pub loader_data: u32,
    pub heap_bytes: u32,
    pub stack_bytes: u32,
    /// The emulator's counts for the whole run (`None` on a real chip).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulator: Option<EmulatorCounts>,
    pub next_entry: u32,
    pub restarts: u32,
}

fn failure_text(c: &Candidate<'_>, r: &ModuleResult) -> Option<String> {
    let f = r.failure.as_ref()?;
    let mut s = match f.offset {
        Some(offset) => format!("{} at offset {offset:#x}", f.kind),
        None => f.kind.clone(),
    };
    if let Some(op) = f.opcode {
        s += &format!(", opcode {op}");
    }
    if let Some((atom, arity)) = f.function {
        let name = c
            .module
            .atoms()
            .ok()
            .and_then(|a| a.get_str(atom as usize).map(str::to_string))
            .unwrap_or_else(|| format!("atom#{atom}"));
        s += &format!(", in {name}/{arity}");
    }
    if let Some(label) = f.label {
        s += &format!(", after label {label}");
    }
    Some(s)
}

/// Compare what the device wrote (`flash` holds the cache region from `region_start`) with the
/// host's compile of each module, and build the table.
fn check(
    chosen: &[Candidate<'_>],
    run: &LoaderRun,
    flash: &mut MemFlash,
    region: std::ops::Range<u32>,
) -> Result<DeviceSummary> {
    let target = avm_jit_core::compile::module::CodeTarget::Armv6m;
    let mut found = Vec::new();
    cache::walk(flash, region.start, region.end, |e| found.push(*e))
        .map_err(|e| anyhow!("reading the cache back: {e}"))?;
    let mut rows = Vec::new();
    let mut next_found = found.iter();
    let (mut identical, mut differences) = (0, 0);
    for (c, r) in chosen.iter().zip(&run.modules) {
        let host = prefill::compile_entry(&c.module, target, VecSink::new());
        let code_len = c.module.chunk(*b"Code").map_or(0, |k| k.data.len());
        let verdict = match (&host, &r.failure) {
            (Err(_), Some(_)) => "not compiled (the host cannot either)".to_string(),
            (Err(e), None) => format!("DIFFERENT: the device compiled it, the host cannot: {e}"),
            (Ok(_), Some(_)) => "DIFFERENT: the host compiles it, the device did not".to_string(),
            (Ok((sink, labels)), None) => {
                let code = sink.as_bytes();
                let want =
                    EntryHeader::new(CACHE_VERSION, c.code_address, *labels, code.len() as u32);
                match next_found.next() {
                    None => "DIFFERENT: no entry in the cache".to_string(),
                    Some(e) if e.address != r.entry => {
                        format!(
                            "DIFFERENT: entry at {:#010x}, the loader said {:#010x}",
                            e.address, r.entry
                        )
                    }
                    Some(e) if e.header != want => {
                        format!("DIFFERENT: header {:?}, expected {:?}", e.header, want)
                    }
                    Some(e) => {
                        let got = flash
                            .slice(e.address + ENTRY_HEADER_LEN, code.len())
                            .ok_or_else(|| {
                                anyhow!("entry of {} outside the read-back", c.name_str())
                            })?;
                        match got.iter().zip(code).position(|(a, b)| a != b) {
                            None => "identical".to_string(),
                            Some(i) => format!("DIFFERENT: code differs at offset {i:#x}"),
                        }
                    }
                }
            }
        };
        if verdict == "identical" || verdict.starts_with("not compiled") {
            identical += usize::from(verdict == "identical");
        } else {
            differences += 1;
        }
        rows.push(ModuleRow {
            module: r.name.clone(),
            bytecode_bytes: code_len,
            native_bytes: r.native,
            device_ms: f64::from(r.us.saturating_sub(r.flash_us)) / 1000.0,
            flash_ms: f64::from(r.flash_us) / 1000.0,
            erase_calls: r.erases,
            program_calls: r.programs,
            peak_heap: r.peak_heap,
            peak_stack: r.peak_stack,
            check: verdict,
            error: failure_text(c, r),
        });
    }
    if let Some(extra) = next_found.next() {
        differences += 1;
        rows.push(ModuleRow {
            module: "?".into(),
            bytecode_bytes: 0,
            native_bytes: extra.header.size,
            device_ms: 0.0,
            flash_ms: 0.0,
            erase_calls: 0,
            program_calls: 0,
            peak_heap: 0,
            peak_stack: 0,
            check: format!(
                "DIFFERENT: an entry no module asked for at {:#010x}",
                extra.address
            ),
            error: None,
        });
    }
    Ok(DeviceSummary {
        modules: rows,
        identical,
        differences,
        loader_bytes: run.loader_bytes,
        loader_text: 0,
        loader_data: 0,
        heap_bytes: run.heap_size,
        stack_bytes: 0,
        emulator: None,
        next_entry: run.next_entry,
        restarts: run.restarts,
    })
}

pub fn print_table(s: &DeviceSummary) -> Result<()> {
    outln!(
        "{:<24} {:>9} {:>9} {:>10} {:>9}  check",
        "module",
        "bytecode",
        "native",
        "device ms",
        "flash ms"
    )?;
    for r in &s.modules {
        outln!(
            "{:<24} {:>9} {:>9} {:>10.1} {:>9.1}  {}",
            r.module,
            r.bytecode_bytes,
            r.native_bytes,
            r.device_ms,
            r.flash_ms,
            r.check
        )?;
        if let Some(e) = &r.error {
            outln!("{:<24} {e}", "")?;
        }
    }
    let (code, native, dev, fl) = s.modules.iter().fold((0, 0u64, 0.0, 0.0), |t, r| {
        (
            t.0 + r.bytecode_bytes,
            t.1 + u64::from(r.native_bytes),
            t.2 + r.device_ms,
            t.3 + r.flash_ms,
        )
    });
    outln!(
        "{:<24} {:>9} {:>9} {:>10.1} {:>9.1}",
        "total",
        code,
        native,
        dev,
        fl
    )?;
    Ok(())
}

/// Run the loader on `core` (whose flash already holds the plan's AVMs and an erased cache region)
/// and check its cache against the host. Fails when a module differs.
pub fn run(job: &DeviceJob<'_>, plan: &Plan<'_>, core: &mut dyn Core) -> Result<DeviceSummary> {
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
    let main_index = avms.len() - 1;
    let selection = match job.selection {
        Modules::All => Selection::All,
        Modules::Closure => Selection::Closure,
    };
    let chosen = prefill::select(&avms, selection)?;
    let loader_job = LoaderJob {
        main_address: job.main_address,
        lib_address: job.lib.map(|_| job.layout.lib_address),
        flash_size: job.layout.flash_size,
        cache: plan.cache.clone(),
        target: avm_jit_core::compile::module::CodeTarget::Armv6m,
        modules: modules(&avms, &chosen, main_index)?,
    };
    let mut bars = Bars {
        multi: MultiProgress::new(),
        current: None,
        total: chosen.len(),
    };
    if job.json {
        bars.multi
            .set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let run = loader::run(core, &loader_job, &mut bars)
        .with_context(|| format!("running the device loader on {}", core.describe()))?;

    // Read back the cache (whole sectors) and the end names.
    let region_end = align_up(run.next_entry.max(plan.cache.start + 1), SECTOR_SIZE)
        .ok_or_else(|| anyhow!("cache end overflows"))?
        .min(plan.cache.end);
    let mut bytes = vec![0u8; (region_end - plan.cache.start) as usize];
    core.read_memory(plan.cache.start, &mut bytes)
        .context("cannot read the cache back")?;
    let mut flash = MemFlash::from_bytes(plan.cache.start, bytes)
        .map_err(|e| anyhow!("cache read-back: {e}"))?;
    let mut summary = check(&chosen, &run, &mut flash, plan.cache.start..region_end)?;
    let (text, data) = loader::loader_sections(loader::LOADER_ELF).unwrap_or((0, 0));
    summary.loader_text = text;
    summary.loader_data = data;
    summary.stack_bytes = run.stack_size;
    summary.emulator = core.counts().map(|c| EmulatorCounts {
        instructions: c[0],
        erase_calls: c[1],
        program_calls: c[2],
        flash_busy_ms: c[3] as f64 / 1000.0,
        estimated_ms: c[4] as f64 / 1000.0,
    });
    for a in &avms {
        let mut name = [0u8; 3];
        core.read_memory(a.end_name_address(), &mut name)?;
        if &name != cache::END_VALID {
            bail!(
                "the AVM at {:#010x} was not marked valid (end name {:?})",
                a.address,
                String::from_utf8_lossy(&name)
            );
        }
    }
    Ok(summary)
}

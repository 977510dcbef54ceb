//! `avm-jit flash` and `avm-jit info --image/--probe`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use avm_jit_core::avm::Pack;
use avm_jit_core::flash::plan::{self, Layout, PlanRequest};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::device::image::ImageFile;
use crate::device::uf2::Uf2File;
use crate::device::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Chip {
    Rp2040,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Compile every module on the host and write the AVM with its native code.
    Aot,
    /// Write the AVM as is and erase the cache so that AtomVM compiles on first boot.
    Jit,
    /// Write the AVMs as they are (bytecode kept) plus the JIT cache entries AtomVM's own JIT
    /// would write for their modules, marked valid: the JIT firmware boots into native code.
    Prefill,
    /// Write the AVMs as they are, then compile their modules into the JIT cache on the chip
    /// itself (--probe) or on the emulated RP2040 (--image), with avm-jit's device loader, and
    /// check every entry against the host's compile.
    Device,
}

/// Which modules get cache entries in `--mode prefill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Modules {
    /// Every bytecode module of main.avm and lib.avm.
    All,
    /// Only those reachable from the start module and `init` through imports and through every
    /// atom that names a module present (dynamic calls use such atoms).
    Closure,
}

/// Where the flash goes (exactly one).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Destination {
    /// A Pico behind a debug probe: the only one attached, or `--probe=VID:PID[:SERIAL]`.
    #[arg(long, value_name = "SELECTOR", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub probe: Option<String>,
    /// A file holding the whole flash from 0x10000000 (created blank when missing).
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// A UF2 file to drop on the BOOTSEL drive.
    #[arg(long, value_name = "FILE")]
    pub uf2: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FlashArgs {
    /// The application AVM (written as main.avm).
    pub avm: PathBuf,
    #[arg(long, value_enum, default_value = "rp2040")]
    pub target: Chip,
    #[arg(long, value_enum, default_value = "aot")]
    pub mode: Mode,
    /// With --mode prefill: which modules get cache entries.
    #[arg(long, value_enum, default_value = "all")]
    pub modules: Modules,
    #[command(flatten)]
    pub destination: Destination,
    /// Also write this lib.avm (at 0x10100000).
    #[arg(long, value_name = "FILE")]
    pub lib: Option<PathBuf>,
    /// Address of main.avm.
    #[arg(long, value_parser = parse_number, default_value = "0x10180000")]
    pub address: u32,
    /// Flash size (bytes; K/M suffixes and 0x accepted).
    #[arg(long, value_parser = parse_number, default_value = "2M")]
    pub flash_size: u32,
    /// Size of the JIT cache region to erase (default: up to the end of flash).
    #[arg(long, value_parser = parse_number)]
    pub cache_size: Option<u32>,
    /// Leave the chip halted after flashing over a probe.
    #[arg(long)]
    pub no_reset: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `4096`, `0x1000`, `4K`, `4KiB`, `2M`, `2MiB`.
pub fn parse_number(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let (digits, scale) = match t.find(|c: char| c.is_ascii_alphabetic() && c != 'x' && c != 'X') {
        Some(i) if !t.starts_with("0x") && !t.starts_with("0X") => {
            let scale = match t[i..].to_ascii_lowercase().as_str() {
                "k" | "kib" | "kb" => 1u64 << 10,
                "m" | "mib" | "mb" => 1 << 20,
                other => return Err(format!("unknown size suffix {other:?}")),
            };
            (&t[..i], scale)
        }
        _ => (t, 1),
    };
    let value = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse::<u64>(),
    }
    .map_err(|e| format!("{text:?} is not a number: {e}"))?;
    value
        .checked_mul(scale)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| format!("{text:?} does not fit in 32 bits"))
}

fn read_avm(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Pack::parse(&bytes).map_err(|e| anyhow!("{} is not a valid AVM: {e}", path.display()))?;
    Ok(bytes)
}

fn prepare(path: &Path, mode: Mode) -> Result<Vec<u8>> {
    let bytes = read_avm(path)?;
    match mode {
        Mode::Jit | Mode::Prefill | Mode::Device => Ok(bytes),
        Mode::Aot => {
            let out = crate::aot::compile_avm(&bytes)
                .with_context(|| format!("cannot compile {}", path.display()))?;
            Pack::parse(&out).map_err(|e| {
                anyhow!("compiling {} produced an invalid AVM: {e}", path.display())
            })?;
            Ok(out)
        }
    }
}

fn open_destination(dest: &Destination, layout: &Layout) -> Result<Box<dyn Device>> {
    if let Some(path) = &dest.image {
        return Ok(Box::new(ImageFile::open(
            path,
            layout.flash_base,
            layout.flash_size,
        )?));
    }
    if let Some(path) = &dest.uf2 {
        return Ok(Box::new(Uf2File::create(path)));
    }
    open_probe(dest.probe.as_deref().unwrap_or(""))
}

#[cfg(feature = "probe")]
pub(crate) fn open_probe(selector: &str) -> Result<Box<dyn Device>> {
    let selector = (!selector.is_empty()).then_some(selector);
    Ok(Box::new(crate::device::probe::ProbeDevice::open(selector)?))
}

#[cfg(not(feature = "probe"))]
pub(crate) fn open_probe(_selector: &str) -> Result<Box<dyn Device>> {
    anyhow::bail!("this avm-jit was built without the `probe` feature; use --image or --uf2")
}

/// The `lib.avm` in flash (through its end section), if the destination can be read and holds one.
fn lib_in_flash(device: &mut dyn Device, layout: &Layout) -> Result<Option<Vec<u8>>> {
    let mut part = vec![0u8; (layout.main_address - layout.lib_address) as usize];
    if !device.read(layout.lib_address, &mut part)? {
        return Ok(None);
    }
    let Ok(len) = Pack::parse(&part).map(|p| p.len()) else {
        return Ok(None);
    };
    part.truncate(len);
    Ok(Some(part))
}

#[derive(Serialize)]
struct FlashSummary {
    destination: String,
    mode: Mode,
    main_address: u32,
    main_bytes: usize,
    lib_bytes: Option<usize>,
    cache_start: u32,
    cache_end: u32,
    programmed: u64,
    erased: u64,
    /// `--mode prefill`: the entries written, in cache order.
    #[serde(skip_serializing_if = "Option::is_none")]
    prefill: Option<crate::prefill::PrefillSummary>,
}

/// The code variant a chip's AtomVM runs (the one parameter `--target` changes for prefill).
pub fn code_target(chip: Chip) -> avm_jit_core::compile::module::CodeTarget {
    match chip {
        Chip::Rp2040 => avm_jit_core::compile::module::CodeTarget::Armv6m,
    }
}

pub fn run_flash(args: &FlashArgs) -> Result<()> {
    let Chip::Rp2040 = args.target;
    let layout = Layout {
        flash_size: args.flash_size,
        ..Layout::rp2040()
    };
    // Everything that can be refused is checked before the destination is opened.
    let main = prepare(&args.avm, args.mode)?;
    let lib = args
        .lib
        .as_deref()
        .map(|p| prepare(p, args.mode))
        .transpose()?;
    let mut req = PlanRequest {
        layout,
        main_address: args.address,
        main: &main,
        lib: lib.as_deref(),
        lib_in_flash_end: None,
        cache_size: args.cache_size,
    };
    let who = |e: plan::PlanError| match (&e, &args.lib) {
        (
            plan::PlanError::InvalidAvm {
                partition: plan::Partition::Lib,
                ..
            },
            Some(lib),
        )
        | (
            plan::PlanError::TooLarge {
                partition: plan::Partition::Lib,
                ..
            },
            Some(lib),
        ) => {
            anyhow!("{}: {e}", lib.display())
        }
        _ => anyhow!("{}: {e}", args.avm.display()),
    };
    plan::plan(&req).map_err(who)?;

    let mut device = open_destination(&args.destination, &layout)?;
    let old_lib = match lib {
        None => lib_in_flash(device.as_mut(), &layout)?,
        Some(_) => None,
    };
    if let Some(bytes) = &old_lib {
        req.lib_in_flash_end = Pack::parse(bytes)
            .ok()
            .map(|p| layout.lib_address + p.end().data_offset as u32);
    }
    let plan = plan::plan(&req).map_err(who)?;
    let mut prefilled = None;
    if args.mode == Mode::Device {
        let lib = lib.as_deref().or(old_lib.as_deref());
        return run_device(args, &layout, &plan, &main, lib, device);
    }
    let (mut programmed, mut erased) = plan.totals();
    if args.mode == Mode::Prefill {
        if lib.is_none() && args.destination.uf2.is_some() {
            anyhow::bail!(
                "--mode prefill --uf2 needs --lib: AtomVM trusts the cache only when lib.avm's end section is END as well, and a UF2 file cannot change the lib.avm already on the Pico"
            );
        }
        let lib_bytes = lib.as_deref().or(old_lib.as_deref());
        let job = crate::prefill::Job {
            layout: &layout,
            main: &main,
            main_address: args.address,
            lib: lib_bytes,
            selection: args.modules,
            target: code_target(args.target),
        };
        let done = crate::prefill::prefill(&job, &plan)?;
        let (first, second) = done.plans(&plan)?;
        let (p1, e1) = first.totals();
        let (p2, _) = second.totals();
        (programmed, erased) = (p1 + p2, e1);
        if args.destination.uf2.is_some() {
            let mut both = first.clone();
            both.steps.extend(second.steps.iter().copied());
            device.apply(&both)?;
        } else {
            device.apply(&first)?;
            device.apply(&second)?;
        }
        prefilled = Some(done.summary);
    } else {
        device.apply(&plan)?;
    }
    device.finish(!args.no_reset)?;

    let summary = FlashSummary {
        destination: device.describe(),
        mode: args.mode,
        main_address: plan.main_address,
        main_bytes: Pack::parse(&main).map(|p| p.len()).unwrap_or(main.len()),
        lib_bytes: lib.as_ref().map(|l| l.len()),
        cache_start: plan.cache_start,
        cache_end: plan.cache.end,
        programmed,
        erased,
        prefill: prefilled,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let mode = match args.mode {
            Mode::Aot => "aot",
            Mode::Jit => "jit",
            Mode::Prefill => "prefill",
            Mode::Device => "device",
        };
        match &summary.prefill {
            None => println!(
                "{}: main.avm ({} bytes, {mode} mode) at {:#010x}; JIT cache region {:#010x}..{:#010x} erased",
                summary.destination,
                summary.main_bytes,
                summary.main_address,
                summary.cache_start,
                summary.cache_end
            ),
            Some(p) => {
                println!(
                    "{}: main.avm ({} bytes, {mode} mode) at {:#010x}; JIT cache {:#010x}..{:#010x}: {} entries, {} bytes, marked valid",
                    summary.destination,
                    summary.main_bytes,
                    summary.main_address,
                    summary.cache_start,
                    summary.cache_end,
                    p.entries.len(),
                    p.cache_bytes
                );
                crate::prefill::print_summary(p);
            }
        }
    }
    Ok(())
}

/// `--mode device`: the plan (raw AVMs, erased cache region), then the device loader on the chip.
fn run_device(
    args: &FlashArgs,
    layout: &Layout,
    plan: &plan::Plan<'_>,
    main: &[u8],
    lib: Option<&[u8]>,
    mut device: Box<dyn Device>,
) -> Result<()> {
    if args.destination.uf2.is_some() {
        anyhow::bail!(
            "--mode device runs the compiler on the chip: use --probe or --image, not --uf2"
        );
    }
    device.apply(plan)?;
    let job = crate::device_mode::DeviceJob {
        layout,
        main,
        main_address: args.address,
        lib,
        selection: args.modules,
        json: args.json,
    };
    let what = device.describe();
    let summary = {
        let mut core = device
            .core()?
            .ok_or_else(|| anyhow!("{what} has no chip to run the device loader on"))?;
        crate::device_mode::run(&job, plan, core.as_mut())?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        crate::device_mode::print_table(&summary);
    }
    if summary.differences > 0 {
        anyhow::bail!(
            "{} of {} modules differ from the host's compile; {} left as it was",
            summary.differences,
            summary.modules.len(),
            device.describe()
        );
    }
    device.finish(!args.no_reset)?;
    if !args.json {
        println!(
            "{}: main.avm ({} bytes) at {:#010x}; {} modules compiled on the device, every one identical to the host's compile; cache marked valid",
            device.describe(),
            Pack::parse(main).map(|p| p.len()).unwrap_or(main.len()),
            plan.main_address,
            summary.identical
        );
    }
    Ok(())
}

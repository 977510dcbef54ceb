//! `avm-jit flash`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use avm_jit_core::avm::Pack;
use avm_jit_core::flash::plan::{self, Layout, PlanRequest};
use avm_jit_core::flash::Chip;
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::args::{chip_layout, parse_chip, parse_number};
use crate::device::image::ImageFile;
use crate::device::uf2::Uf2File;
use crate::device::{open_probe, Device};
use crate::files::{self, Expect, Files, Output};

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

/// `--uf2-family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Uf2Family {
    Data,
    Code,
}

/// Where the flash goes (exactly one).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Destination {
    /// A Pico or Pico 2 behind a debug probe: the only one attached, or `--probe=VID:PID[:SERIAL]`.
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
    /// The chip: rp2040 (Raspberry Pi Pico), rp2350 (Raspberry Pi Pico 2, ARM cores) or
    /// rp2350-riscv (Pico 2 running AtomVM on its RISC-V cores; --image and --uf2 only).
    #[arg(long, value_name = "CHIP", default_value = "rp2040")]
    pub target: String,
    #[arg(long, value_enum, default_value = "aot")]
    pub mode: Mode,
    /// With --mode prefill: which modules get cache entries.
    #[arg(long, value_enum, default_value = "all")]
    pub modules: Modules,
    /// With --uf2 on a Pico 2: the blocks' family. `data` (default) as AtomVM's own tooling
    /// writes AVMs; `code`: the chip's program family (RP2350-ARM-S or RP2350-RISC-V), as
    /// picotool writes an executable image. The Pico always takes RP2040 blocks.
    #[arg(long, value_enum, default_value = "data")]
    pub uf2_family: Uf2Family,
    #[command(flatten)]
    pub destination: Destination,
    /// Also write this lib.avm (at 0x10100000).
    #[arg(long, value_name = "FILE")]
    pub lib: Option<PathBuf>,
    /// Address of main.avm.
    #[arg(long, value_parser = parse_number, default_value = "0x10180000")]
    pub address: u32,
    /// Flash size (bytes; K/M suffixes and 0x accepted) [default: 2M for rp2040, 4M for rp2350(-riscv)].
    #[arg(long, value_parser = parse_number)]
    pub flash_size: Option<u32>,
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

fn read_avm(path: &Path, mode: Mode) -> Result<Vec<u8>> {
    let bytes = files::read_input(path, Expect::Avm, files::MAX_INPUT)?.bytes;
    let pack =
        Pack::parse(&bytes).map_err(|e| anyhow!("{} is not a valid AVM: {e}", path.display()))?;
    // Where the bytecode stays in flash (jit: the device compiles it; prefill: it is kept next to
    // the cache), every module must be whole, as `info` would say.
    crate::check::avm(&pack, mode != Mode::Aot)
        .map_err(|e| anyhow!("{} is not a valid AVM: {e}", path.display()))?;
    Ok(bytes)
}

fn prepare(path: &Path, mode: Mode, chip: Chip) -> Result<Vec<u8>> {
    let bytes = read_avm(path, mode)?;
    // Code already compiled for the other chip is refused in both modes (without its `Code` chunk,
    // as precompiled modules are, it cannot be compiled again).
    chip.check_native_code(&bytes)
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    match mode {
        Mode::Jit | Mode::Prefill | Mode::Device => Ok(bytes),
        Mode::Aot => {
            let out = crate::aot::compile_avm(&bytes, chip.code_target())
                .with_context(|| format!("cannot compile {}", path.display()))?;
            Pack::parse(&out).map_err(|e| {
                anyhow!("compiling {} produced an invalid AVM: {e}", path.display())
            })?;
            Ok(out)
        }
    }
}

fn open_destination(
    dest: &Destination,
    output: Option<Output>,
    profile: Option<Output>,
    layout: &Layout,
    chip: Chip,
    uf2_family: Uf2Family,
) -> Result<Box<dyn Device>> {
    match output {
        Some(output) if dest.image.is_some() => {
            return Ok(Box::new(
                ImageFile::open_for_writing(output, layout.flash_base, layout.flash_size)?
                    .with_profile(profile),
            ))
        }
        Some(output) => {
            let mut format = chip.uf2();
            if uf2_family == Uf2Family::Code {
                format.family_id = chip.uf2_code_family();
            }
            return Ok(Box::new(Uf2File::create(output, format)));
        }
        None => {}
    }
    open_probe(dest.probe.as_deref().unwrap_or(""), chip)
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

pub fn run_flash(args: &FlashArgs) -> Result<()> {
    let chip = parse_chip(&args.target)?;
    if args.mode == Mode::Device {
        if chip != Chip::Rp2040 {
            anyhow::bail!(
                "--mode device runs the avm-jit device loader, which is RP2040-only for now; for {} use --mode prefill (the same cache, written by the host)",
                chip.name()
            );
        }
        if args.destination.uf2.is_some() {
            anyhow::bail!(
                "--mode device runs the compiler on the chip: use --probe or --image, not --uf2"
            );
        }
    }
    let layout = chip_layout(chip, args.flash_size)?;
    crate::check::flash_args(&layout, args.address)?;
    // The image or UF2 file is neither input, checked before anything is read or written.
    let mut files = Files::new();
    files.input(&args.avm);
    if let Some(lib) = &args.lib {
        files.input(lib);
    }
    let output = match (&args.destination.image, &args.destination.uf2) {
        (Some(path), _) | (None, Some(path)) => Some(files.output(path)?),
        (None, None) => None,
    };
    // A developer's instruction profile of the loader on the emulator (see `PROFILE_VAR`).
    let profile = match std::env::var_os(crate::device::emulator::PROFILE_VAR) {
        Some(path) if args.mode == Mode::Device && args.destination.image.is_some() => {
            Some(files.output(Path::new(&path))?)
        }
        _ => None,
    };
    // Everything that can be refused is checked before the destination is opened.
    let main = prepare(&args.avm, args.mode, chip)?;
    let lib = args
        .lib
        .as_deref()
        .map(|p| prepare(p, args.mode, chip))
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

    let mut device = open_destination(
        &args.destination,
        output,
        profile,
        &layout,
        chip,
        args.uf2_family,
    )?;
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
            target: chip.code_target(),
        };
        let done = crate::prefill::prefill(&job, &plan)?;
        let (first, second) = done.plans(&plan)?;
        let (p1, e1) = first.totals();
        let (p2, _) = second.totals();
        (programmed, erased) = (p1 + p2, e1);
        // Two stages on every destination: a UF2 file puts the second one's sectors last.
        device.apply(&first)?;
        device.apply(&second)?;
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
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        let mode = match args.mode {
            Mode::Aot => "aot",
            Mode::Jit => "jit",
            Mode::Prefill => "prefill",
            Mode::Device => "device",
        };
        match &summary.prefill {
            None => outln!(
                "{}: main.avm ({} bytes, {mode} mode) at {:#010x}; JIT cache region {:#010x}..{:#010x} erased",
                summary.destination,
                summary.main_bytes,
                summary.main_address,
                summary.cache_start,
                summary.cache_end
            )?,
            Some(p) => {
                outln!(
                    "{}: main.avm ({} bytes, {mode} mode) at {:#010x}; JIT cache {:#010x}..{:#010x}: {} entries, {} bytes, marked valid",
                    summary.destination,
                    summary.main_bytes,
                    summary.main_address,
                    summary.cache_start,
                    summary.cache_end,
                    p.entries.len(),
                    p.cache_bytes
                )?;
                crate::prefill::print_summary(p)?;
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
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        crate::device_mode::print_table(&summary)?;
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
        outln!(
            "{}: main.avm ({} bytes) at {:#010x}; {} modules compiled on the device, every one identical to the host's compile; cache marked valid",
            device.describe(),
            Pack::parse(main).map(|p| p.len()).unwrap_or(main.len()),
            plan.main_address,
            summary.identical
        )?;
    }
    Ok(())
}

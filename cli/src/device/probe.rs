//! A Pico or Pico 2 attached through a debug probe (SWD), driven by probe-rs and its flash loader
//! for the chip (probe-rs targets `RP2040` and `RP235x`).

use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use avm_jit_core::flash::{Chip, Plan, Step};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use probe_rs::flashing::{DownloadOptions, FlashProgress, ProgressEvent, ProgressOperation};
use probe_rs::probe::list::Lister;
use probe_rs::probe::DebugProbeSelector;
use probe_rs::{MemoryInterface, Permissions, Session};

use super::Device;

pub struct ProbeDevice {
    session: Session,
    name: String,
    chip: Chip,
}

/// Parse `VID:PID[:SERIAL]` (hexadecimal ids) as probe-rs does.
pub fn parse_selector(text: &str) -> Result<DebugProbeSelector> {
    DebugProbeSelector::from_str(text)
        .map_err(|e| anyhow!("bad probe selector {text:?} (want VID:PID[:SERIAL]): {e}"))
}

impl ProbeDevice {
    /// Attach to the `chip` behind `selector`, or behind the only attached probe.
    pub fn open(selector: Option<&str>, chip: Chip) -> Result<Self> {
        let lister = Lister::new();
        let probe = match selector {
            Some(text) => {
                let sel = parse_selector(text)?;
                lister
                    .open(sel)
                    .with_context(|| format!("cannot open probe {text}"))?
            }
            None => {
                let probes = lister.list_all();
                match probes.as_slice() {
                    [] => bail!(
                        "no debug probe found (is it plugged in? on Linux, see docs/flashing.md for the udev rules)"
                    ),
                    [one] => one.open().with_context(|| format!("cannot open probe {one}"))?,
                    many => {
                        let names: Vec<String> = many.iter().map(|p| format!("  {p}")).collect();
                        bail!("several probes attached; choose one with --probe VID:PID[:SERIAL]:\n{}", names.join("\n"))
                    }
                }
            }
        };
        let name = probe.get_name();
        let target = chip.probe_target();
        let session = probe
            .attach(target, Permissions::default())
            .with_context(|| format!("cannot attach to the {target} through {name}"))?;
        Ok(ProbeDevice {
            session,
            name,
            chip,
        })
    }
}

/// Turns probe-rs progress events into one indicatif bar per operation.
struct Bars {
    multi: MultiProgress,
    bars: Vec<(u8, ProgressBar)>,
}

fn op_key(op: ProgressOperation) -> (u8, &'static str) {
    match op {
        ProgressOperation::Fill => (0, "reading back"),
        ProgressOperation::Erase => (1, "erasing"),
        ProgressOperation::Program => (2, "programming"),
        ProgressOperation::Verify => (3, "verifying"),
    }
}

impl Bars {
    fn bar(&mut self, op: ProgressOperation, total: Option<u64>) -> ProgressBar {
        let (key, label) = op_key(op);
        if let Some((_, b)) = self.bars.iter().find(|(k, _)| *k == key) {
            return b.clone();
        }
        let bar = self.multi.add(ProgressBar::new(total.unwrap_or(0)));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(label);
        self.bars.push((key, bar.clone()));
        bar
    }
    fn event(&mut self, event: ProgressEvent) {
        match event {
            ProgressEvent::AddProgressBar { operation, total } => {
                self.bar(operation, total);
            }
            ProgressEvent::Started(op) => self.bar(op, None).reset_elapsed(),
            ProgressEvent::Progress {
                operation, size, ..
            } => self.bar(operation, None).inc(size),
            ProgressEvent::Finished(op) => self.bar(op, None).finish(),
            ProgressEvent::Failed(op) => self.bar(op, None).abandon(),
            _ => {}
        }
    }
}

impl Device for ProbeDevice {
    fn describe(&self) -> String {
        format!("{} through {}", self.chip.probe_target(), self.name)
    }

    fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<bool> {
        let mut core = self.session.core(0).context("cannot access core 0")?;
        core.read(u64::from(address), buf).with_context(|| {
            format!(
                "cannot read {} bytes of flash at {address:#010x}",
                buf.len()
            )
        })?;
        Ok(true)
    }

    fn apply(&mut self, plan: &Plan<'_>) -> Result<()> {
        let mut loader = self.session.target().flash_loader();
        for step in &plan.steps {
            let res = match *step {
                Step::Program { address, data } => loader.add_data(u64::from(address), data),
                // Erased ranges are written as 0xFF so that they are verified like the rest.
                Step::Erase { start, end } => {
                    loader.add_data(u64::from(start), &vec![0xFF; (end - start) as usize])
                }
            };
            res.with_context(|| {
                format!(
                    "cannot stage {:#010x}..{:#010x}",
                    step.range().start,
                    step.range().end
                )
            })?;
        }
        let mut bars = Bars {
            multi: MultiProgress::new(),
            bars: Vec::new(),
        };
        let mut options = DownloadOptions::default();
        options.keep_unwritten_bytes = true;
        options.verify = true;
        options.progress = FlashProgress::new(|e| bars.event(e));
        loader
            .commit(&mut self.session, options)
            .context("flashing failed")?;
        Ok(())
    }

    fn core(&mut self) -> Result<Option<Box<dyn super::loader::Core + '_>>> {
        Ok(Some(Box::new(ProbeCore {
            session: &mut self.session,
            name: self.name.clone(),
            chip: self.chip,
        })))
    }

    fn finish(&mut self, reset: bool) -> Result<()> {
        if reset {
            let mut core = self.session.core(0).context("cannot access core 0")?;
            core.reset().context("cannot reset the target")?;
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

/// Core 0 of the RP2040 behind the probe, for the device loader's driver.
pub struct ProbeCore<'s> {
    session: &'s mut Session,
    name: String,
    chip: Chip,
}

const HALT_TIMEOUT: Duration = Duration::from_millis(500);

impl super::loader::Core for ProbeCore<'_> {
    fn describe(&self) -> String {
        format!("{} through {}", self.chip.probe_target(), self.name)
    }
    fn reset_and_halt(&mut self) -> Result<()> {
        let mut core = self.session.core(0).context("cannot access core 0")?;
        core.reset_and_halt(HALT_TIMEOUT)
            .context("cannot reset and halt the target")?;
        Ok(())
    }
    fn write_memory(&mut self, address: u32, data: &[u8]) -> Result<()> {
        let mut core = self.session.core(0).context("cannot access core 0")?;
        core.write_8(u64::from(address), data)
            .with_context(|| format!("cannot write {} bytes at {address:#010x}", data.len()))
    }
    fn read_memory(&mut self, address: u32, buf: &mut [u8]) -> Result<()> {
        let mut core = self.session.core(0).context("cannot access core 0")?;
        core.read(u64::from(address), buf)
            .with_context(|| format!("cannot read {} bytes at {address:#010x}", buf.len()))
    }
    fn start(&mut self, sp: u32, pc: u32) -> Result<()> {
        let mut core = self.session.core(0).context("cannot access core 0")?;
        let (sp_reg, pc_reg) = (core.stack_pointer().id(), core.program_counter().id());
        core.write_core_reg(sp_reg, sp).context("cannot set SP")?;
        core.write_core_reg(pc_reg, pc & !1)
            .context("cannot set PC")?;
        core.run().context("cannot start the core")
    }
    fn resume(&mut self) -> Result<()> {
        let mut core = self.session.core(0).context("cannot access core 0")?;
        // Halted on a `bkpt`: step over it.
        let pc_reg = core.program_counter().id();
        let pc: u32 = core.read_core_reg(pc_reg).context("cannot read PC")?;
        core.write_core_reg(pc_reg, pc + 2)
            .context("cannot set PC")?;
        core.run().context("cannot resume the core")
    }
    fn poll(&mut self) -> Result<super::loader::Poll> {
        std::thread::sleep(Duration::from_millis(20));
        let mut core = self.session.core(0).context("cannot access core 0")?;
        match core.status().context("cannot read the core's state")? {
            probe_rs::CoreStatus::Halted(_) => {
                let pc_reg = core.program_counter().id();
                let pc: u32 = core.read_core_reg(pc_reg).context("cannot read PC")?;
                let mut insn = [0u8; 2];
                core.read(u64::from(pc), &mut insn)
                    .context("cannot read the halted instruction")?;
                if insn[1] != 0xBE {
                    bail!("the core halted at {pc:#010x}, not on a breakpoint");
                }
                Ok(super::loader::Poll::Breakpoint(insn[0]))
            }
            probe_rs::CoreStatus::LockedUp => bail!("the core locked up (a fault in the loader)"),
            _ => Ok(super::loader::Poll::Running),
        }
    }
    fn halt(&mut self) -> Result<()> {
        let mut core = self.session.core(0).context("cannot access core 0")?;
        core.halt(HALT_TIMEOUT).context("cannot halt the core")?;
        Ok(())
    }
}

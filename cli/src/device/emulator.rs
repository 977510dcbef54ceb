//! The emulated RP2040 (`avm-jit-emu`) as a [`Core`] for the device loader's driver: what
//! `flash --mode device --image FILE` runs the loader on. Its flash starts as the image's; when
//! the core is dropped the image takes the emulator's flash back (it is saved only by `finish`).

use anyhow::{anyhow, Result};
use avm_jit_core::flash::MemFlash;
use avm_jit_emu::{PowerCut, Rp2040, Stats, Stop};

use super::loader::{Core, Poll};
use crate::files::Output;

/// Instructions per [`Core::poll`]: about 1/10 s of emulated time, a few ms of host time.
const SLICE: u64 = 10_000_000;

pub struct EmulatedCore<'f> {
    chip: Rp2040,
    image: &'f mut MemFlash,
    name: String,
    /// A power cut to arm when the loader starts (a reset disarms the emulator's).
    cut: Option<PowerCut>,
    /// Where the instruction profile goes, if one is taken ([`PROFILE_VAR`]).
    profile: Option<Output>,
}

impl<'f> EmulatedCore<'f> {
    pub fn new(image: &'f mut MemFlash, name: String) -> Result<Self> {
        let chip = Rp2040::new(image.as_bytes().to_vec())
            .map_err(|e| anyhow!("cannot emulate an RP2040 with {name}: {e}"))?;
        Ok(EmulatedCore {
            chip,
            image,
            name,
            cut: None,
            profile: None,
        })
    }
    /// Take an instruction profile of the loader's run and write it to `output` (through the
    /// safe writer) when the core is dropped.
    pub fn profile_to(&mut self, output: Output) {
        self.chip.set_profiling(true);
        self.profile = Some(output);
    }
    /// What the emulator counted (instructions, flash calls, estimated time) since it was made.
    pub fn stats(&self) -> Stats {
        self.chip.stats()
    }
    /// The emulator's flash now.
    #[cfg(test)]
    pub fn image_now(&self) -> &[u8] {
        self.chip.flash()
    }
    /// Cut the power at some point of the next loader run, counted from its start (tests of
    /// interrupted device compiles).
    #[cfg(test)]
    pub fn set_power_cut(&mut self, cut: PowerCut) {
        self.cut = Some(cut);
    }
}

/// A developer's switch: `AVM_JIT_EMU_PROFILE=FILE` writes an instruction profile of the
/// loader's run (self and inclusive instructions per function, call edges) to FILE, an output
/// checked with the command's others (`flash`).
pub const PROFILE_VAR: &str = "AVM_JIT_EMU_PROFILE";

impl Drop for EmulatedCore<'_> {
    fn drop(&mut self) {
        if let (Some(output), Some(profile)) = (&self.profile, self.chip.profile()) {
            let report = profile.report(super::loader::LOADER_ELF, 400);
            if let Err(e) = crate::files::write_output(output, report.as_bytes(), false) {
                eprintln!("cannot write the profile: {e:#}");
            }
        }
        if let Ok(flash) = MemFlash::from_bytes(self.image.base(), self.chip.flash().to_vec()) {
            *self.image = flash;
        }
    }
}

use avm_jit_core::flash::NorFlash as _;

impl Core for EmulatedCore<'_> {
    fn describe(&self) -> String {
        format!("the emulated RP2040 ({})", self.name)
    }
    fn reset_and_halt(&mut self) -> Result<()> {
        self.chip.reset_and_halt().map_err(|e| anyhow!("{e}"))
    }
    fn write_memory(&mut self, address: u32, data: &[u8]) -> Result<()> {
        self.chip
            .write_memory(address, data)
            .map_err(|e| anyhow!("{e}"))
    }
    fn read_memory(&mut self, address: u32, buf: &mut [u8]) -> Result<()> {
        self.chip
            .read_memory(address, buf)
            .map_err(|e| anyhow!("{e}"))
    }
    fn start(&mut self, sp: u32, pc: u32) -> Result<()> {
        self.chip.set_sp_pc(sp, pc);
        if let Some(cut) = self.cut.take() {
            self.chip.set_power_cut(cut);
        }
        Ok(())
    }
    fn resume(&mut self) -> Result<()> {
        // Running again continues after the `bkpt`.
        Ok(())
    }
    fn poll(&mut self) -> Result<Poll> {
        match self.chip.run(SLICE) {
            Ok(Stop::Breakpoint { imm, .. }) => Ok(Poll::Breakpoint(imm)),
            Ok(Stop::InstructionLimit) => Ok(Poll::Running),
            Ok(Stop::PowerCut) => Err(anyhow!("the emulated RP2040 lost power")),
            Err(e) => Err(anyhow!(
                "the device loader failed on the emulated RP2040: {e}"
            )),
        }
    }
    fn halt(&mut self) -> Result<()> {
        Ok(())
    }
    fn counts(&self) -> Option<[u64; 5]> {
        let s = self.stats();
        Some([
            s.instructions,
            s.erase_calls,
            s.program_calls,
            s.flash_busy_us,
            s.estimated_us,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_mode::{run, DeviceJob};
    use crate::flash::Modules;
    use avm_jit_core::avm::Pack;
    use avm_jit_core::flash::plan::{self, Layout, PlanRequest};

    const EXAMPLE: &[u8] = include_bytes!("../../../fixtures/example/example.avm");
    const MAIN: u32 = 0x1018_0000;

    /// The plan for the example app (with `lib`) on an RP2040, and the flash it leaves: the AVMs
    /// written and the cache region erased, as `--mode device` has it before the loader runs.
    fn planned<'a>(layout: &Layout, lib: Option<&'a [u8]>) -> (plan::Plan<'a>, MemFlash) {
        let mut request = PlanRequest::new(EXAMPLE);
        request.lib = lib;
        let plan = plan::plan(&request).unwrap();
        let mut base = MemFlash::erased(layout.flash_base, layout.flash_size);
        plan.apply(&mut base).unwrap();
        (plan, base)
    }

    /// Power lost at many points of a device compile (mid-erase and mid-program included): the
    /// image never looks valid to AtomVM (main.avm's end section still not `END`) unless every
    /// entry is complete, and running the loader again gives the bytes of an uninterrupted run.
    #[test]
    fn power_loss_never_leaves_a_valid_looking_cache_and_a_rerun_completes_it() {
        let layout = Layout::rp2040();
        let (plan, base) = planned(&layout, None);
        let job = DeviceJob {
            layout: &layout,
            main: EXAMPLE,
            main_address: MAIN,
            lib: None,
            selection: Modules::All,
            json: true,
        };
        let end_name = MAIN + Pack::parse(EXAMPLE).unwrap().end().offset as u32 + 12;

        let mut reference = base.clone();
        let stats = {
            let mut core = EmulatedCore::new(&mut reference, "reference".into()).unwrap();
            let summary = run(&job, &plan, &mut core).unwrap();
            assert_eq!(summary.differences, 0);
            core.stats()
        };
        let reference_bytes = reference.as_bytes().to_vec();
        let calls = stats.erase_calls + stats.program_calls;
        assert!(calls > 20, "{stats:?}");
        let mut cuts = Vec::new();
        for k in (0..calls)
            .step_by((calls / 7).max(1) as usize)
            .chain([calls - 1])
        {
            for bytes in [1, 200] {
                cuts.push(PowerCut::DuringFlashOp { index: k, bytes });
            }
        }
        for i in 1..7 {
            cuts.push(PowerCut::AfterInstructions(stats.instructions * i / 7));
        }
        let mut interrupted = 0;
        let total = cuts.len();
        for cut in cuts {
            let mut image = base.clone();
            {
                let mut core = EmulatedCore::new(&mut image, "cut".into()).unwrap();
                core.set_power_cut(cut);
                let first = run(&job, &plan, &mut core);
                let mut name = [0u8; 3];
                core.read_memory(end_name, &mut name).unwrap();
                if first.is_ok() {
                    continue; // the cut came after the run
                }
                // END is the last thing written: a cut while programming it may still set it,
                // after every entry is complete. Before that, never.
                if &name == b"END" {
                    assert!(
                        *core.image_now() == *reference_bytes,
                        "{cut:?}: END before the entries"
                    );
                } else {
                    interrupted += 1;
                }
                let again = run(&job, &plan, &mut core)
                    .unwrap_or_else(|e| panic!("{cut:?}: the rerun failed: {e:#}"));
                assert_eq!(again.differences, 0, "{cut:?}");
            }
            assert!(image == reference, "{cut:?}: the rerun left other bytes");
        }
        // The last flash call is the END marking: a cut there may complete it (0..=2 such).
        assert!(
            interrupted + 2 >= total,
            "only {interrupted} of {total} cuts hit the run"
        );
    }

    /// A cache region that still holds an old cache (the loader inside a firmware, or a host
    /// that did not erase it): the loader erases each sector it writes into and clears what is
    /// left after its last entry, so the image is the one a blank region gives, with the erases
    /// charged at the flash's typical times. Prints `lists`' compile and flash time both ways
    /// (issue 8's "end to end within 1.5x its flash time"): run with `--nocapture`.
    #[test]
    fn an_old_cache_is_erased_by_the_loader_and_gives_the_image_a_blank_region_gives() {
        let Some(golden) = avm_jit_tests::golden_dir(
            "an_old_cache_is_erased_by_the_loader_and_gives_the_image_a_blank_region_gives",
        ) else {
            return;
        };
        let lists = std::fs::read(golden.join("otp25/beams/stdlib/lists.beam")).unwrap();
        let (name, start, beam) = crate::pack::packbeam_module(&lists).unwrap();
        let mut lib = avm_jit_core::avm::PackBuilder::new();
        lib.beam(&name, &beam, start).unwrap();
        let lib = lib.finish();
        let layout = Layout::rp2040();
        let (plan, base) = planned(&layout, Some(&lib));
        let job = DeviceJob {
            layout: &layout,
            main: EXAMPLE,
            main_address: MAIN,
            lib: Some(&lib),
            selection: Modules::All,
            json: true,
        };
        let run_on = |image: &mut MemFlash| {
            let mut core = EmulatedCore::new(image, "image".into()).unwrap();
            let summary = run(&job, &plan, &mut core).unwrap();
            assert_eq!(summary.differences, 0);
            let lists = summary.modules.into_iter().find(|m| m.module == "lists");
            (lists.unwrap(), core.stats())
        };
        let mut blank = base.clone();
        let (on_blank, blank_stats) = run_on(&mut blank);
        assert_eq!(blank_stats.erase_calls, 0, "{blank_stats:?}");

        // The old cache: this very cache 6000 bytes further on (past the sector its last
        // entry ends in) (another app's, as far as the
        // flash can tell), up to the end of the region.
        let region = (plan.cache.start - layout.flash_base) as usize
            ..(plan.cache.end - layout.flash_base) as usize;
        let mut bytes = base.as_bytes().to_vec();
        let from = &blank.as_bytes()[region.clone()];
        bytes[region.start + 6000..region.end].copy_from_slice(&from[..from.len() - 6000]);
        let mut old = MemFlash::from_bytes(layout.flash_base, bytes).unwrap();
        let (on_old, old_stats) = run_on(&mut old);
        assert!(
            old == blank,
            "an old cache left other bytes than a blank region"
        );
        assert!(on_old.erase_calls > 0, "{on_old:?}");
        assert!(
            on_old.flash_ms > on_blank.flash_ms,
            "{on_old:?} {on_blank:?}"
        );
        for (what, m, s) in [
            ("blank cache region", &on_blank, blank_stats),
            ("old cache in the region", &on_old, old_stats),
        ] {
            eprintln!(
                "lists, {what}: {:.1} ms compiling + {:.1} ms flash ({} erases, {} programs) = \
                 {:.2}x its flash time; whole run: {} erase calls, {:.1} ms flash busy",
                m.device_ms,
                m.flash_ms,
                m.erase_calls,
                m.program_calls,
                (m.device_ms + m.flash_ms) / m.flash_ms,
                s.erase_calls,
                s.flash_busy_us as f64 / 1000.0
            );
        }
    }
}

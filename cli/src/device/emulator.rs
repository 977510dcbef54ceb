//! The emulated RP2040 (`avm-jit-emu`) as a [`Core`] for the device loader's driver: what
//! `flash --mode device --image FILE` runs the loader on. Its flash starts as the image's; when
//! the core is dropped the image takes the emulator's flash back (it is saved only by `finish`).

use anyhow::{anyhow, Result};
use avm_jit_core::flash::MemFlash;
use avm_jit_emu::{Rp2040, Stats, Stop};

use super::loader::{Core, Poll};

/// Instructions per [`Core::poll`]: about 1/10 s of emulated time, a few ms of host time.
const SLICE: u64 = 10_000_000;

pub struct EmulatedCore<'f> {
    chip: Rp2040,
    image: &'f mut MemFlash,
    name: String,
}

impl<'f> EmulatedCore<'f> {
    pub fn new(image: &'f mut MemFlash, name: String) -> Result<Self> {
        let chip = Rp2040::new(image.as_bytes().to_vec())
            .map_err(|e| anyhow!("cannot emulate an RP2040 with {name}: {e}"))?;
        Ok(EmulatedCore { chip, image, name })
    }
    pub fn stats(&self) -> Stats {
        self.chip.stats()
    }
}

impl Drop for EmulatedCore<'_> {
    fn drop(&mut self) {
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
}

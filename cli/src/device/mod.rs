//! Where a flash plan goes: a Pico over a debug probe, a flash image file, or a UF2 file.

use anyhow::Result;
use avm_jit_core::flash::Plan;

pub mod emulator;
pub mod image;
pub mod loader;
#[cfg(feature = "probe")]
pub mod probe;
pub mod uf2;

pub trait Device {
    /// What the plan is written to, for messages.
    fn describe(&self) -> String;
    /// Read flash at `address`; `Ok(false)` when this destination cannot be read back (UF2).
    fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<bool>;
    fn apply(&mut self, plan: &Plan<'_>) -> Result<()>;
    /// The chip behind this destination, to run the device loader on (`None`: a UF2 file).
    fn core(&mut self) -> Result<Option<Box<dyn loader::Core + '_>>> {
        Ok(None)
    }
    /// Make the result permanent (save the file) and, for a device, reset it if asked.
    fn finish(&mut self, reset: bool) -> Result<()>;
}

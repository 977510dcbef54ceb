//! Where a flash plan goes: a Pico over a debug probe, a flash image file, or a UF2 file.

use anyhow::Result;
use avm_jit_core::flash::{Chip, Plan};

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

/// Refuse a probe for a chip whose flash probe-rs cannot write.
fn check_probe_chip(chip: Chip) -> Result<()> {
    if !chip.probe_can_flash() {
        anyhow::bail!(
            "--probe is not supported for the {} ({chip}): probe-rs 0.32's `{}` target attaches to the RISC-V cores but has no flash algorithm; use --uf2 (BOOTSEL drive) or --image",
            chip.board(),
            chip.probe_target()
        );
    }
    Ok(())
}

/// The Pico behind a debug probe (`selector`: `VID:PID[:SERIAL]`, or empty for the only one
/// attached), for `flash --probe` and `info --probe`.
#[cfg(feature = "probe")]
pub fn open_probe(selector: &str, chip: Chip) -> Result<Box<dyn Device>> {
    check_probe_chip(chip)?;
    let selector = (!selector.is_empty()).then_some(selector);
    Ok(Box::new(probe::ProbeDevice::open(selector, chip)?))
}

#[cfg(not(feature = "probe"))]
pub fn open_probe(_selector: &str, chip: Chip) -> Result<Box<dyn Device>> {
    check_probe_chip(chip)?;
    anyhow::bail!("this avm-jit was built without the `probe` feature; use --image or --uf2")
}

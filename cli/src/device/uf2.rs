//! A UF2 file for the boot ROM's drag-and-drop drive (RP2040 or RP2350). Write-only: the flash
//! cannot be read.

use anyhow::Result;
use avm_jit_core::flash::chip::Uf2Format;
use avm_jit_core::flash::{uf2, Plan};

use super::Device;
use crate::files::{self, Output};

pub struct Uf2File {
    output: Output,
    format: Uf2Format,
    /// Each applied plan is a stage; the file puts later stages' sectors last.
    pages: uf2::StagedPages,
    flash_end: u32,
}

impl Uf2File {
    pub fn create(output: Output, format: Uf2Format) -> Self {
        Uf2File {
            output,
            format,
            pages: uf2::StagedPages::default(),
            flash_end: 0,
        }
    }
}

impl Device for Uf2File {
    fn describe(&self) -> String {
        format!("UF2 file {}", self.output.shown.display())
    }
    fn read(&mut self, _address: u32, _buf: &mut [u8]) -> Result<bool> {
        Ok(false)
    }
    fn apply(&mut self, plan: &Plan<'_>) -> Result<()> {
        self.pages.add(plan);
        self.flash_end = plan.layout.flash_end();
        Ok(())
    }
    fn finish(&mut self, _reset: bool) -> Result<()> {
        let blocks = uf2::encode_staged(&self.pages, self.flash_end, self.format);
        files::write_output(&self.output, &blocks, true)
    }
}

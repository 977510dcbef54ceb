//! A UF2 file for the boot ROM's drag-and-drop drive (RP2040 or RP2350). Write-only: the flash
//! cannot be read.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use avm_jit_core::flash::{uf2, Chip, Plan};

use super::Device;

pub struct Uf2File {
    path: PathBuf,
    chip: Chip,
    blocks: Vec<u8>,
}

impl Uf2File {
    pub fn create(path: &Path, chip: Chip) -> Self {
        Uf2File {
            path: path.to_path_buf(),
            chip,
            blocks: Vec::new(),
        }
    }
}

impl Device for Uf2File {
    fn describe(&self) -> String {
        format!("UF2 file {}", self.path.display())
    }
    fn read(&mut self, _address: u32, _buf: &mut [u8]) -> Result<bool> {
        Ok(false)
    }
    fn apply(&mut self, plan: &Plan<'_>) -> Result<()> {
        self.blocks = uf2::encode_plan(plan, self.chip.uf2());
        Ok(())
    }
    fn finish(&mut self, _reset: bool) -> Result<()> {
        std::fs::write(&self.path, &self.blocks)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

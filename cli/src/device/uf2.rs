//! A UF2 file for the RP2040 boot ROM's drag-and-drop drive. Write-only: the flash cannot be read.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use avm_jit_core::flash::{uf2, Plan};

use super::Device;

pub struct Uf2File {
    path: PathBuf,
    blocks: Vec<u8>,
}

impl Uf2File {
    pub fn create(path: &Path) -> Self {
        Uf2File {
            path: path.to_path_buf(),
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
        self.blocks = uf2::encode_plan(plan);
        Ok(())
    }
    fn finish(&mut self, _reset: bool) -> Result<()> {
        std::fs::write(&self.path, &self.blocks)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

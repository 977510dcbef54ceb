//! A file holding the whole flash from `0x1000_0000`, changed with NOR semantics.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use avm_jit_core::flash::{MemFlash, NorFlash, Plan};

use super::Device;

pub struct ImageFile {
    path: PathBuf,
    pub flash: MemFlash,
}

impl ImageFile {
    /// Open `path`, or start from blank flash when it does not exist. A shorter file is taken as
    /// the start of the flash (the rest blank); a longer one is refused.
    pub fn open(path: &Path, base: u32, size: u32) -> Result<Self> {
        let mut bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read flash image {}", path.display()))
            }
        };
        if bytes.len() > size as usize {
            bail!(
                "flash image {} holds {} bytes, more than the {size} bytes of flash (see --flash-size)",
                path.display(),
                bytes.len()
            );
        }
        bytes.resize(size as usize, 0xFF);
        let flash = MemFlash::from_bytes(base, bytes)
            .map_err(|e| anyhow::anyhow!("flash image {}: {e}", path.display()))?;
        Ok(ImageFile {
            path: path.to_path_buf(),
            flash,
        })
    }
}

impl Device for ImageFile {
    fn describe(&self) -> String {
        format!("flash image {}", self.path.display())
    }
    fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<bool> {
        self.flash
            .read(address, buf)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.describe()))?;
        Ok(true)
    }
    fn apply(&mut self, plan: &Plan<'_>) -> Result<()> {
        plan.apply(&mut self.flash)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.describe()))
    }
    fn core(&mut self) -> Result<Option<Box<dyn super::loader::Core + '_>>> {
        let name = self.describe();
        Ok(Some(Box::new(super::emulator::EmulatedCore::new(
            &mut self.flash,
            name,
        )?)))
    }
    fn finish(&mut self, _reset: bool) -> Result<()> {
        // Write next to the target and rename, so an interrupted run never leaves half an image.
        let tmp = self.path.with_extension("avm-jit-tmp");
        std::fs::write(&tmp, self.flash.as_bytes())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

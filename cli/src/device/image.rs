//! A file holding the whole flash from `0x1000_0000`, changed with NOR semantics.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use avm_jit_core::flash::{MemFlash, NorFlash, Plan};

use super::Device;
use crate::files::{self, Expect, Output};

pub struct ImageFile {
    path: PathBuf,
    /// Where `finish` saves the image (none: only read).
    output: Option<Output>,
    /// Where the emulated core writes its instruction profile, if asked for.
    profile: Option<Output>,
    pub flash: MemFlash,
}

impl ImageFile {
    /// Open `path`, or start from blank flash when it does not exist. A shorter file is taken as
    /// the start of the flash (the rest blank); a longer one is refused before it is read.
    pub fn open(path: &Path, base: u32, size: u32) -> Result<Self> {
        let mut bytes = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Ok(m) if m.is_file() && m.len() > u64::from(size) => bail!(
                "flash image {} holds {} bytes, more than the {size} bytes of flash (see --flash-size)",
                path.display(),
                m.len()
            ),
            _ => files::read_input(path, Expect::Any, size.into())?.bytes,
        };
        bytes.resize(size as usize, 0xFF);
        let flash = MemFlash::from_bytes(base, bytes)
            .map_err(|e| anyhow::anyhow!("flash image {}: {e}", path.display()))?;
        Ok(ImageFile {
            path: path.to_path_buf(),
            output: None,
            profile: None,
            flash,
        })
    }

    /// Have the emulated core write an instruction profile of the loader to `output`.
    pub fn with_profile(mut self, output: Option<Output>) -> Self {
        self.profile = output;
        self
    }

    /// Open the image `output` to change it; `finish` replaces it whole.
    pub fn open_for_writing(output: Output, base: u32, size: u32) -> Result<Self> {
        let mut image = Self::open(&output.real, base, size)?;
        image.path = output.shown.clone();
        image.output = Some(output);
        Ok(image)
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
        let mut core = super::emulator::EmulatedCore::new(&mut self.flash, name)?;
        if let Some(profile) = &self.profile {
            core.profile_to(profile.clone());
        }
        Ok(Some(Box::new(core)))
    }
    fn finish(&mut self, _reset: bool) -> Result<()> {
        match &self.output {
            Some(output) => files::write_output(output, self.flash.as_bytes(), true),
            None => bail!("{}: opened to be read only", self.describe()),
        }
    }
}

//! Loading a RAM-only ELF (the device loader) the way the host does through a probe.

use object::elf::PT_LOAD;
use object::read::elf::{ElfFile32, ProgramHeader};
use object::{Object, ObjectSymbol};

use crate::{EmuError, Rp2040, SRAM_BASE, SRAM_SIZE};

/// What [`load_elf`] put in SRAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedElf {
    /// The ELF header's entry point (with the Thumb bit as linked).
    pub entry: u32,
    /// `_stack_start` (cortex-m-rt's initial stack pointer) if the ELF defines it.
    pub stack_start: Option<u32>,
    /// (load address, bytes in memory) of each loadable segment.
    pub segments: Vec<(u32, u32)>,
}

fn bad(why: String) -> EmuError {
    EmuError::Elf { why }
}

/// Writes every loadable segment of a 32-bit little-endian ELF into SRAM at its load (physical)
/// address, zero-filling past its file size; every segment must lie in SRAM. Does not touch the
/// registers: set SP and PC with [`Rp2040::set_sp_pc`].
pub fn load_elf(chip: &mut Rp2040, elf: &[u8]) -> Result<LoadedElf, EmuError> {
    let file = ElfFile32::<object::Endianness>::parse(elf)
        .map_err(|e| bad(format!("not a 32-bit ELF: {e}")))?;
    if !file.is_little_endian() {
        return Err(bad("big-endian ELF; the RP2040 is little-endian".into()));
    }
    let endian = file.endian();
    let mut segments = Vec::new();
    for (i, ph) in file.raw_segments().iter().enumerate() {
        if ph.p_type(endian) != PT_LOAD || ph.p_memsz(endian) == 0 {
            continue;
        }
        let (addr, memsz, filesz) = (ph.p_paddr(endian), ph.p_memsz(endian), ph.p_filesz(endian));
        let end = addr as u64 + memsz as u64;
        if addr < SRAM_BASE || end > SRAM_BASE as u64 + SRAM_SIZE as u64 || filesz > memsz {
            return Err(bad(format!(
                "segment {i} (file offset {:#x}) loads at {addr:#010x}..{end:#010x}, which is \
                 not inside SRAM {SRAM_BASE:#010x}..{:#010x}",
                ph.p_offset(endian),
                SRAM_BASE + SRAM_SIZE
            )));
        }
        let data = ph.data(endian, elf).map_err(|_| {
            bad(format!(
                "segment {i}: file range {:#x}+{filesz:#x} is outside the file",
                ph.p_offset(endian)
            ))
        })?;
        chip.write_memory(addr, data)?;
        let zeros = vec![0u8; (memsz - filesz) as usize];
        chip.write_memory(addr + filesz, &zeros)?;
        segments.push((addr, memsz));
    }
    if segments.is_empty() {
        return Err(bad("no loadable segment".into()));
    }
    let stack_start = file
        .symbol_by_name("_stack_start")
        .map(|s| s.address() as u32);
    Ok(LoadedElf {
        entry: file.entry() as u32,
        stack_start,
        segments,
    })
}

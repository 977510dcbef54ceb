//! The records of AtomVM's flash JIT cache (`jit_stream_flash`).
//!
//! Entries follow each other from the first sector at or after the highest end section of the AVMs
//! in flash. An entry is a 16-byte little-endian header — `magic` (`0x4A74`, or `0xFFFF` while free
//! or unfinished), `version`, the flash address of the module's `Code` chunk, its label count and
//! the native code size — then the code; the next entry starts at the next 4-byte boundary. AtomVM
//! only trusts the cache when the end section of every AVM it loaded is named `END`: it programs
//! `end` → `END` after the first entry is finished, which NOR flash allows (it only clears bits).

use core::fmt;

use super::nor::{FlashError, FlashErrorKind, NorFlash};
use super::{align_down, align_up, SECTOR_SIZE};

pub const ENTRY_MAGIC: u16 = 0x4A74;
pub const FREE_MAGIC: u16 = 0xFFFF;
pub const ENTRY_HEADER_LEN: u32 = 16;
/// Name of an end section that has not validated the cache, and of one that has.
pub const END_INVALID: &[u8; 3] = b"end";
pub const END_VALID: &[u8; 3] = b"END";

/// Where the first cache entry goes, given the address just after the highest end section's name.
pub const fn first_entry_address(highest_end_data: u32) -> u32 {
    // AtomVM rounds `end - 1` down to a sector and adds a sector: the same as rounding up.
    align_down(highest_end_data.wrapping_sub(1), SECTOR_SIZE).wrapping_add(SECTOR_SIZE)
}

/// Where the entry after one at `address` holding `size` bytes of code starts.
pub const fn next_entry_address(address: u32, size: u32) -> Option<u32> {
    match address.checked_add(ENTRY_HEADER_LEN) {
        Some(a) => match a.checked_add(size) {
            Some(end) => align_up(end, 4),
            None => None,
        },
        None => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryHeader {
    pub magic: u16,
    pub version: u16,
    /// Flash address of the module's `Code` chunk (its `Code` tag).
    pub code: u32,
    pub labels: u32,
    /// Native code bytes after the header.
    pub size: u32,
}

impl EntryHeader {
    /// A finished entry.
    pub const fn new(version: u16, code: u32, labels: u32, size: u32) -> Self {
        EntryHeader {
            magic: ENTRY_MAGIC,
            version,
            code,
            labels,
            size,
        }
    }
    pub fn from_bytes(b: &[u8; 16]) -> Self {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        EntryHeader {
            magic: u16::from_le_bytes([b[0], b[1]]),
            version: u16::from_le_bytes([b[2], b[3]]),
            code: u32_at(4),
            labels: u32_at(8),
            size: u32_at(12),
        }
    }
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..2].copy_from_slice(&self.magic.to_le_bytes());
        b[2..4].copy_from_slice(&self.version.to_le_bytes());
        b[4..8].copy_from_slice(&self.code.to_le_bytes());
        b[8..12].copy_from_slice(&self.labels.to_le_bytes());
        b[12..16].copy_from_slice(&self.size.to_le_bytes());
        b
    }
    pub fn is_blank(&self) -> bool {
        self.to_bytes() == [0xFF; 16]
    }
}

/// A finished cache entry found in flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheEntry {
    pub address: u32,
    pub header: EntryHeader,
}

impl CacheEntry {
    /// Address of the native code (AtomVM's entry point, without the Thumb bit).
    pub fn code_address(&self) -> u32 {
        self.address + ENTRY_HEADER_LEN
    }
}

/// Why the walk over the entries stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// A blank header: free space, where AtomVM appends the next entry.
    Free { address: u32 },
    /// A header still `0xFFFF` but with other fields programmed: a compilation that did not finish.
    Unfinished { address: u32, header: EntryHeader },
    /// Neither an entry nor free: leftovers that AtomVM will erase before writing there.
    Stale { address: u32, header: EntryHeader },
    /// The entries run to the end of the region.
    RegionEnd { address: u32 },
    /// An entry claims more code than the region holds.
    Overrun { address: u32, header: EntryHeader },
}

impl fmt::Display for WalkEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkEnd::Free { address } => write!(f, "free space from {address:#010x}"),
            WalkEnd::Unfinished { address, .. } => write!(f, "unfinished entry at {address:#010x}"),
            WalkEnd::Stale { address, header } => {
                write!(
                    f,
                    "stale data at {address:#010x} (magic {:#06x})",
                    header.magic
                )
            }
            WalkEnd::RegionEnd { address } => {
                write!(f, "entries reach the end of the region at {address:#010x}")
            }
            WalkEnd::Overrun { address, header } => {
                write!(
                    f,
                    "entry at {address:#010x} claims {} bytes past the region",
                    header.size
                )
            }
        }
    }
}

/// Visit the finished entries from `start` (the first entry address) while inside `start..end`,
/// as AtomVM does: it follows entries while their magic is [`ENTRY_MAGIC`].
pub fn walk<F: NorFlash + ?Sized>(
    flash: &mut F,
    start: u32,
    end: u32,
    mut visit: impl FnMut(&CacheEntry),
) -> Result<WalkEnd, FlashError> {
    let mut address = start;
    loop {
        if address
            .checked_add(ENTRY_HEADER_LEN)
            .is_none_or(|h| h > end)
        {
            return Ok(WalkEnd::RegionEnd { address });
        }
        let mut raw = [0u8; 16];
        flash.read(address, &mut raw)?;
        let header = EntryHeader::from_bytes(&raw);
        if header.magic != ENTRY_MAGIC {
            return Ok(if header.is_blank() {
                WalkEnd::Free { address }
            } else if header.magic == FREE_MAGIC {
                WalkEnd::Unfinished { address, header }
            } else {
                WalkEnd::Stale { address, header }
            });
        }
        match next_entry_address(address, header.size) {
            Some(next) if address + ENTRY_HEADER_LEN + header.size <= end => {
                visit(&CacheEntry { address, header });
                address = next;
            }
            _ => return Ok(WalkEnd::Overrun { address, header }),
        }
    }
}

/// Make `address..` (to the end of its sector) blank before a new entry is written there,
/// keeping the bytes of the sector before `address` — what AtomVM does when it finds leftovers.
pub fn prepare_entry<F: NorFlash + ?Sized>(flash: &mut F, address: u32) -> Result<(), FlashError> {
    let sector = align_down(address, SECTOR_SIZE);
    if !flash.is_erased(address, sector + SECTOR_SIZE)? {
        super::nor::fill_erased(flash, address, sector + SECTOR_SIZE)?;
    }
    Ok(())
}

/// Program a finished header over the blank one at `address` (after the code is in place).
pub fn finish_entry<F: NorFlash + ?Sized>(
    flash: &mut F,
    address: u32,
    header: &EntryHeader,
) -> Result<(), FlashError> {
    flash.program(address, &header.to_bytes())
}

/// Mark the cache valid for one AVM: program `END` over the `end` name at `name_address`.
/// Already `END` is fine; any other name is refused.
pub fn mark_valid<F: NorFlash + ?Sized>(
    flash: &mut F,
    name_address: u32,
) -> Result<(), FlashError> {
    let mut name = [0u8; 3];
    flash.read(name_address, &mut name)?;
    match &name {
        n if n == END_VALID => Ok(()),
        n if n == END_INVALID => flash.program(name_address, END_VALID),
        _ => Err(FlashError::new(FlashErrorKind::NotErased, name_address)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::MemFlash;
    use alloc::vec::Vec;

    const BASE: u32 = 0x1000_0000;

    #[test]
    fn first_entry_is_the_sector_at_or_after_the_end() {
        assert_eq!(first_entry_address(0x1018_0010), 0x1018_1000);
        assert_eq!(first_entry_address(0x1018_1000), 0x1018_1000);
        assert_eq!(first_entry_address(0x1018_1001), 0x1018_2000);
        assert_eq!(next_entry_address(0x1018_1000, 5), Some(0x1018_1018));
        assert_eq!(next_entry_address(0x1018_1000, 8), Some(0x1018_1018));
        assert_eq!(next_entry_address(u32::MAX - 3, 0), None);
    }

    #[test]
    fn header_layout_is_little_endian_packed() {
        let h = EntryHeader::new(1, 0x1018_0040, 7, 0x123);
        assert_eq!(
            h.to_bytes(),
            [0x74, 0x4A, 1, 0, 0x40, 0, 0x18, 0x10, 7, 0, 0, 0, 0x23, 0x01, 0, 0]
        );
        assert_eq!(EntryHeader::from_bytes(&h.to_bytes()), h);
    }

    #[test]
    fn walk_reports_entries_and_why_it_stopped() {
        let mut f = MemFlash::erased(BASE, 4 * SECTOR_SIZE);
        let start = BASE + SECTOR_SIZE;
        f.program(start + 16, &[1, 2, 3, 4, 5]).unwrap();
        finish_entry(&mut f, start, &EntryHeader::new(1, BASE + 0x40, 3, 5)).unwrap();
        let second = next_entry_address(start, 5).unwrap();
        finish_entry(&mut f, second, &EntryHeader::new(1, BASE + 0x80, 4, 0)).unwrap();
        let mut seen = Vec::new();
        let flash_end = f.end();
        let end = walk(&mut f, start, flash_end, |e| seen.push(*e)).unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].address, start + 24);
        assert_eq!(
            end,
            WalkEnd::Free {
                address: start + 40
            }
        );

        // An unfinished entry: the size was written, the magic not yet.
        f.program(start + 40 + 12, &9u32.to_le_bytes()).unwrap();
        assert!(matches!(
            walk(&mut f, start, flash_end, |_| {}).unwrap(),
            WalkEnd::Unfinished { .. }
        ));
        // An entry claiming more than the region.
        let mut g = MemFlash::erased(BASE, SECTOR_SIZE);
        finish_entry(&mut g, BASE, &EntryHeader::new(1, 0, 0, SECTOR_SIZE)).unwrap();
        assert!(matches!(
            walk(&mut g, BASE, BASE + SECTOR_SIZE, |_| {}).unwrap(),
            WalkEnd::Overrun { .. }
        ));
    }

    #[test]
    fn prepare_entry_clears_leftovers_but_keeps_earlier_bytes() {
        let mut f = MemFlash::erased(BASE, 2 * SECTOR_SIZE);
        f.program(BASE, &[0u8; 100]).unwrap();
        f.program(BASE + 3000, &[0u8; 4]).unwrap();
        prepare_entry(&mut f, BASE + 100).unwrap();
        assert!(f.as_bytes()[..100].iter().all(|&b| b == 0));
        assert!(f.as_bytes()[100..].iter().all(|&b| b == 0xFF));
    }

    #[test]
    fn mark_valid_flips_end_only() {
        let mut f = MemFlash::erased(BASE, SECTOR_SIZE);
        f.program(BASE, b"end\0xyz").unwrap();
        mark_valid(&mut f, BASE).unwrap();
        assert_eq!(&f.as_bytes()[..4], b"END\0");
        mark_valid(&mut f, BASE).unwrap();
        assert!(mark_valid(&mut f, BASE + 4).is_err());
    }
}

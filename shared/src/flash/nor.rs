//! The NOR-flash model: erase sets whole sectors to `0xFF`, programming can only clear bits.
//!
//! Addresses are absolute (e.g. `0x1000_0000` for the RP2040's XIP flash) because everything stored
//! in flash — AVM sections, cache entry pointers — is addressed that way. Erase ranges are
//! sector-aligned; reads and programs are byte-granular (implementations buffer pages as needed).
//! Unlike `embedded-storage`'s `NorFlash`, which forbids writing a word twice between erases, a
//! byte may be programmed again as long as the new value only clears bits (`new & old == new`):
//! that is what real NOR cells allow and what the 0xFF placeholders of back-patched code rely on.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::SECTOR_SIZE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashErrorKind {
    /// The range is not inside the flash.
    OutOfBounds,
    /// An erase range is not sector-aligned.
    Unaligned,
    /// A program would have to set bits that are cleared (the bytes were not erased).
    NotErased,
    /// The device reported a failure.
    Device,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashError {
    pub kind: FlashErrorKind,
    /// First address concerned.
    pub address: u32,
}

impl FlashError {
    pub const fn new(kind: FlashErrorKind, address: u32) -> Self {
        FlashError { kind, address }
    }
}

impl FlashErrorKind {
    /// What went wrong, in words (the device loader writes it without `core::fmt`).
    pub const fn describe(self) -> &'static str {
        match self {
            FlashErrorKind::OutOfBounds => "outside the flash",
            FlashErrorKind::Unaligned => "erase range not aligned to 4 KiB sectors",
            FlashErrorKind::NotErased => "programming over bytes that are not erased",
            FlashErrorKind::Device => "device error",
        }
    }
}

impl fmt::Display for FlashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.kind.describe();
        write!(f, "flash at {:#010x}: {what}", self.address)
    }
}

pub trait NorFlash {
    /// Address of the first byte of flash.
    fn base(&self) -> u32;
    /// Flash size in bytes.
    fn capacity(&self) -> u32;
    fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<(), FlashError>;
    /// Erase the sectors in `from..to` (both multiples of [`SECTOR_SIZE`]).
    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError>;
    /// Program `data` at `address`: every byte becomes `old & new`. Implementations may refuse a
    /// program that would need to set a bit.
    fn program(&mut self, address: u32, data: &[u8]) -> Result<(), FlashError>;

    /// Whether every byte of `from..to` is erased (0xFF). The default reads through
    /// [`NorFlash::read`]; a flash readable in place scans it without copying.
    fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, FlashError> {
        let mut buf = [0u8; 256];
        let mut at = from;
        while at < to {
            let n = ((to - at) as usize).min(buf.len());
            self.read(at, &mut buf[..n])?;
            if !all_erased(&buf[..n]) {
                return Ok(false);
            }
            at += n as u32;
        }
        Ok(true)
    }

    /// One past the last address.
    fn end(&self) -> u32 {
        self.base() + self.capacity()
    }
}

/// Whether every byte is 0xFF (an AND of all of them, without a branch per byte).
pub fn all_erased(bytes: &[u8]) -> bool {
    bytes.iter().fold(0xFF, |acc, &b| acc & b) == 0xFF
}

/// Check that `address..address+len` is inside `base..base+capacity`; returns the offset.
pub fn check_range(
    base: u32,
    capacity: u32,
    address: u32,
    len: usize,
) -> Result<usize, FlashError> {
    let oob = FlashError::new(FlashErrorKind::OutOfBounds, address);
    let offset = address.checked_sub(base).ok_or(oob)? as usize;
    let end = offset.checked_add(len).ok_or(oob)?;
    if end > capacity as usize {
        return Err(oob);
    }
    Ok(offset)
}

/// Flash held in memory: a flash image file, or a model of the chip in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemFlash {
    base: u32,
    bytes: Vec<u8>,
}

impl MemFlash {
    /// Blank (all `0xFF`) flash.
    pub fn erased(base: u32, capacity: u32) -> Self {
        MemFlash {
            base,
            bytes: vec![0xFF; capacity as usize],
        }
    }
    /// Flash holding `bytes` from `base`; the length must be a whole number of sectors.
    pub fn from_bytes(base: u32, bytes: Vec<u8>) -> Result<Self, FlashError> {
        if !bytes.len().is_multiple_of(SECTOR_SIZE as usize) || u32::try_from(bytes.len()).is_err()
        {
            return Err(FlashError::new(
                FlashErrorKind::Unaligned,
                base.wrapping_add(bytes.len() as u32),
            ));
        }
        Ok(MemFlash { base, bytes })
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
    /// The bytes at `address..address+len`, if inside the flash.
    pub fn slice(&self, address: u32, len: usize) -> Option<&[u8]> {
        let offset = check_range(self.base, self.capacity(), address, len).ok()?;
        self.bytes.get(offset..offset + len)
    }
}

impl NorFlash for MemFlash {
    fn base(&self) -> u32 {
        self.base
    }
    fn capacity(&self) -> u32 {
        self.bytes.len() as u32
    }
    fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let offset = check_range(self.base, self.capacity(), address, buf.len())?;
        buf.copy_from_slice(&self.bytes[offset..offset + buf.len()]);
        Ok(())
    }
    fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, FlashError> {
        let len = to.saturating_sub(from) as usize;
        let offset = check_range(self.base, self.capacity(), from, len)?;
        Ok(all_erased(&self.bytes[offset..offset + len]))
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        if !from.is_multiple_of(SECTOR_SIZE) || !to.is_multiple_of(SECTOR_SIZE) || to < from {
            return Err(FlashError::new(FlashErrorKind::Unaligned, from));
        }
        let offset = check_range(self.base, self.capacity(), from, (to - from) as usize)?;
        self.bytes[offset..offset + (to - from) as usize].fill(0xFF);
        Ok(())
    }
    fn program(&mut self, address: u32, data: &[u8]) -> Result<(), FlashError> {
        let offset = check_range(self.base, self.capacity(), address, data.len())?;
        let dest = &mut self.bytes[offset..offset + data.len()];
        if let Some(i) = dest
            .iter()
            .zip(data)
            .position(|(old, new)| old & new != *new)
        {
            return Err(FlashError::new(
                FlashErrorKind::NotErased,
                address + i as u32,
            ));
        }
        dest.copy_from_slice(data);
        Ok(())
    }
}

/// Write `data` at `address` the way a debug probe's flash loader does: every sector it touches is
/// erased, the bytes of those sectors outside `data` are put back, then `data` is programmed.
pub fn write_preserving<F: NorFlash + ?Sized>(
    flash: &mut F,
    address: u32,
    data: &[u8],
) -> Result<(), FlashError> {
    rewrite_sectors(flash, address, data.len(), |sector_addr, sector| {
        let lo = address.max(sector_addr);
        let hi = (address + data.len() as u32).min(sector_addr + SECTOR_SIZE);
        let src = &data[(lo - address) as usize..(hi - address) as usize];
        sector[(lo - sector_addr) as usize..(hi - sector_addr) as usize].copy_from_slice(src);
    })
}

/// Set `start..end` to `0xFF`, preserving the rest of the sectors it touches.
pub fn fill_erased<F: NorFlash + ?Sized>(
    flash: &mut F,
    start: u32,
    end: u32,
) -> Result<(), FlashError> {
    let len = end
        .checked_sub(start)
        .ok_or(FlashError::new(FlashErrorKind::OutOfBounds, start))?;
    rewrite_sectors(flash, start, len as usize, |sector_addr, sector| {
        let lo = start.max(sector_addr);
        let hi = end.min(sector_addr + SECTOR_SIZE);
        sector[(lo - sector_addr) as usize..(hi - sector_addr) as usize].fill(0xFF);
    })
}

/// For every sector overlapping `address..address+len`: erase it and program back its old contents
/// as changed by `edit`. Sectors entirely inside the range skip the read-back.
fn rewrite_sectors<F: NorFlash + ?Sized>(
    flash: &mut F,
    address: u32,
    len: usize,
    mut edit: impl FnMut(u32, &mut [u8]),
) -> Result<(), FlashError> {
    check_range(flash.base(), flash.capacity(), address, len)?;
    if len == 0 {
        return Ok(());
    }
    let end = address + len as u32;
    let mut sector_addr = super::align_down(address, SECTOR_SIZE);
    let mut buf = vec![0u8; SECTOR_SIZE as usize];
    while sector_addr < end {
        let sector_end = sector_addr.saturating_add(SECTOR_SIZE);
        let whole = address <= sector_addr && end >= sector_end;
        if whole {
            buf.fill(0xFF);
        } else {
            flash.read(sector_addr, &mut buf)?;
        }
        edit(sector_addr, &mut buf);
        flash.erase(sector_addr, sector_end)?;
        program_skipping_blank(flash, sector_addr, &buf)?;
        sector_addr = sector_end;
    }
    Ok(())
}

/// Program `data`, skipping 256-byte pages that are all `0xFF` (already what an erase left).
fn program_skipping_blank<F: NorFlash + ?Sized>(
    flash: &mut F,
    address: u32,
    data: &[u8],
) -> Result<(), FlashError> {
    for (i, page) in data.chunks(super::PAGE_SIZE as usize).enumerate() {
        if page.iter().any(|&b| b != 0xFF) {
            flash.program(address + (i as u32) * super::PAGE_SIZE, page)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u32 = 0x1000_0000;

    #[test]
    fn program_only_clears_bits() {
        let mut f = MemFlash::erased(BASE, 2 * SECTOR_SIZE);
        f.program(BASE + 1, &[0x0F]).unwrap();
        f.program(BASE + 1, &[0x05]).unwrap();
        let e = f.program(BASE + 1, &[0x10]).unwrap_err();
        assert_eq!(e, FlashError::new(FlashErrorKind::NotErased, BASE + 1));
        assert_eq!(f.as_bytes()[1], 0x05);
        assert_eq!(
            f.erase(BASE + 1, BASE + SECTOR_SIZE).unwrap_err().kind,
            FlashErrorKind::Unaligned
        );
        assert_eq!(
            f.program(BASE + 2 * SECTOR_SIZE - 1, &[0, 0])
                .unwrap_err()
                .kind,
            FlashErrorKind::OutOfBounds
        );
        assert_eq!(
            f.read(BASE - 1, &mut [0]).unwrap_err().kind,
            FlashErrorKind::OutOfBounds
        );
    }

    #[test]
    fn write_preserving_keeps_the_rest_of_touched_sectors() {
        let mut f = MemFlash::erased(BASE, 3 * SECTOR_SIZE);
        let old: Vec<u8> = (0..3 * SECTOR_SIZE).map(|i| (i % 251) as u8).collect();
        f.program(BASE, &old).unwrap();
        let data = [0xAAu8; 5000];
        let at = BASE + 100;
        write_preserving(&mut f, at, &data).unwrap();
        let b = f.as_bytes();
        assert_eq!(&b[..100], &old[..100]);
        assert_eq!(&b[100..5100], &data[..]);
        assert_eq!(&b[5100..], &old[5100..]);
    }

    #[test]
    fn fill_erased_touches_only_its_range() {
        let mut f = MemFlash::erased(BASE, 2 * SECTOR_SIZE);
        f.program(BASE, &[0u8; 8192]).unwrap();
        fill_erased(&mut f, BASE + 10, BASE + 4200).unwrap();
        let b = f.as_bytes();
        assert!(b[..10].iter().all(|&x| x == 0));
        assert!(b[10..4200].iter().all(|&x| x == 0xFF));
        assert!(b[4200..].iter().all(|&x| x == 0));
    }
}

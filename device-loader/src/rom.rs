//! The RP2040 boot ROM's flash functions, found through its lookup table and called from SRAM, and
//! a [`NorFlash`] over them that only writes inside the cache region (plus the AVMs' end names).
//!
//! Every erase or program runs the ROM's sequence around it: `connect_internal_flash`,
//! `flash_exit_xip`, the operation, `flash_flush_cache`, `flash_enter_cmd_xip` — so the XIP window
//! reads flash again when it returns (the AVMs are read in place through it).

use avm_jit_core::flash::nor::{all_erased, check_range, FlashError, FlashErrorKind, NorFlash};
use avm_jit_core::flash::{PAGE_SIZE, SECTOR_SIZE};

use crate::timer_us;

pub const FLASH_BASE: u32 = 0x1000_0000;

type VoidFn = unsafe extern "C" fn();
type EraseFn = unsafe extern "C" fn(u32, usize, u32, u8);
type ProgramFn = unsafe extern "C" fn(u32, *const u8, usize);

pub struct Rom {
    connect: VoidFn,
    exit_xip: VoidFn,
    erase: EraseFn,
    program: ProgramFn,
    flush: VoidFn,
    enter_xip: VoidFn,
}

fn lookup(c1: u8, c2: u8) -> Option<usize> {
    type LookupFn = unsafe extern "C" fn(*const u16, u32) -> usize;
    // SAFETY: the boot ROM's header words at 0x14 (function table) and 0x18 (lookup function)
    // are 16-bit pointers, readable on every RP2040.
    unsafe {
        let table = core::ptr::read_volatile(0x14 as *const u16) as usize as *const u16;
        let f = core::ptr::read_volatile(0x18 as *const u16) as usize;
        let f: LookupFn = core::mem::transmute::<usize, LookupFn>(f);
        let p = f(table, u32::from(c1) | u32::from(c2) << 8);
        (p != 0).then_some(p)
    }
}

impl Rom {
    /// Find the six flash functions; `None` names the first one missing.
    pub fn find() -> Result<Rom, &'static str> {
        // SAFETY: each pointer comes from the ROM's own table under its documented code, and has
        // the documented signature.
        unsafe {
            let v = |c1, c2, n| lookup(c1, c2).ok_or(n);
            Ok(Rom {
                connect: core::mem::transmute::<usize, VoidFn>(v(b'I', b'F', "IF")?),
                exit_xip: core::mem::transmute::<usize, VoidFn>(v(b'E', b'X', "EX")?),
                erase: core::mem::transmute::<usize, EraseFn>(v(b'R', b'E', "RE")?),
                program: core::mem::transmute::<usize, ProgramFn>(v(b'R', b'P', "RP")?),
                flush: core::mem::transmute::<usize, VoidFn>(v(b'F', b'C', "FC")?),
                enter_xip: core::mem::transmute::<usize, VoidFn>(v(b'C', b'X', "CX")?),
            })
        }
    }

    /// Bring the XIP window up (after reset-and-halt the second-stage boot has not run).
    pub fn xip_up(&self) {
        // SAFETY: ROM functions without arguments; we run from SRAM.
        unsafe {
            (self.connect)();
            (self.exit_xip)();
            (self.flush)();
            (self.enter_xip)();
        }
    }

    fn around(&self, op: impl FnOnce()) {
        // SAFETY: as above; nothing runs from flash while XIP is off.
        unsafe {
            (self.connect)();
            (self.exit_xip)();
        }
        op();
        // SAFETY: as above.
        unsafe {
            (self.flush)();
            (self.enter_xip)();
        }
    }
}

/// Counters of what the flash was asked to do.
#[derive(Clone, Copy, Default)]
pub struct FlashStats {
    pub erases: u32,
    pub programs: u32,
    pub busy_us: u32,
}

/// The flash, read through XIP and written through the ROM inside `window` (and at `names`).
pub struct RomFlash {
    rom: Rom,
    size: u32,
    window: (u32, u32),
    /// The 3-byte end-section names that may be programmed to `END`.
    names: [u32; 2],
    pub stats: FlashStats,
}

impl RomFlash {
    pub fn new(rom: Rom, size: u32, window: (u32, u32), names: [u32; 2]) -> Self {
        RomFlash {
            rom,
            size,
            window,
            names,
            stats: FlashStats::default(),
        }
    }

    /// Give the ROM back (to open the flash again with other write permissions).
    pub fn into_rom(self) -> Rom {
        self.rom
    }

    /// The flash bytes at `address..address+len` through XIP, if inside the flash.
    pub fn slice(&self, address: u32, len: usize) -> Option<&'static [u8]> {
        check_range(FLASH_BASE, self.size, address, len).ok()?;
        // SAFETY: inside the XIP window of the flash, which stays mapped (restored after every
        // erase/program); the loader never writes flash it reads as a module's bytes.
        Some(unsafe { core::slice::from_raw_parts(address as *const u8, len) })
    }

    fn writable(&self, address: u32, len: u32) -> bool {
        let end = match address.checked_add(len) {
            Some(e) => e,
            None => return false,
        };
        (address >= self.window.0 && end <= self.window.1)
            || self
                .names
                .iter()
                .any(|&n| n != 0 && address >= n && end <= n + 3)
    }

    fn timed(&mut self, op: impl FnOnce(&Rom)) {
        let t0 = timer_us();
        let rom = &self.rom;
        rom.around(|| op(rom));
        self.stats.busy_us = self.stats.busy_us.wrapping_add(timer_us().wrapping_sub(t0));
    }
}

impl NorFlash for RomFlash {
    fn base(&self) -> u32 {
        FLASH_BASE
    }
    fn capacity(&self) -> u32 {
        self.size
    }
    fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let src = self
            .slice(address, buf.len())
            .ok_or(FlashError::new(FlashErrorKind::OutOfBounds, address))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, FlashError> {
        let bytes = self
            .slice(from, to.saturating_sub(from) as usize)
            .ok_or(FlashError::new(FlashErrorKind::OutOfBounds, from))?;
        // SAFETY: any bytes are valid u32s; align_to only splits off the unaligned ends.
        let (head, words, tail) = unsafe { bytes.align_to::<u32>() };
        Ok(all_erased(head) && all_ones(words) && all_erased(tail))
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        if !from.is_multiple_of(SECTOR_SIZE) || !to.is_multiple_of(SECTOR_SIZE) || to < from {
            return Err(FlashError::new(FlashErrorKind::Unaligned, from));
        }
        if !self.writable(from, to - from) {
            return Err(FlashError::new(FlashErrorKind::OutOfBounds, from));
        }
        let (offset, count) = (from - FLASH_BASE, (to - from) as usize);
        // 64 KiB block erases where aligned, as the SDK asks the ROM.
        self.timed(|rom| unsafe { (rom.erase)(offset, count, 1 << 16, 0xD8) });
        self.stats.erases += 1;
        Ok(())
    }
    fn program(&mut self, address: u32, data: &[u8]) -> Result<(), FlashError> {
        let len = u32::try_from(data.len())
            .map_err(|_| FlashError::new(FlashErrorKind::OutOfBounds, address))?;
        if !self.writable(address, len) {
            return Err(FlashError::new(FlashErrorKind::OutOfBounds, address));
        }
        // Whole 256-byte pages, 0xFF (no change) around the data.
        let mut at = address;
        let end = address + len;
        while at < end {
            let page = at & !(PAGE_SIZE - 1);
            let stop = end.min(page + PAGE_SIZE);
            let old = self
                .slice(at, (stop - at) as usize)
                .ok_or(FlashError::new(FlashErrorKind::OutOfBounds, at))?;
            let new = &data[(at - address) as usize..(stop - address) as usize];
            if let Some(i) = first_bit_set(old, new) {
                return Err(FlashError::new(FlashErrorKind::NotErased, at + i as u32));
            }
            // A whole page already in SRAM (the flash sink's pages) goes to the ROM as it is;
            // anything else is copied into a page of 0xFF (no change) first.
            let mut buf: [u8; PAGE_SIZE as usize];
            let ptr = if new.len() == PAGE_SIZE as usize && in_sram(new) {
                new.as_ptr()
            } else {
                buf = [0xFF; PAGE_SIZE as usize];
                buf[(at - page) as usize..(stop - page) as usize].copy_from_slice(new);
                buf.as_ptr()
            };
            let offset = page - FLASH_BASE;
            // SAFETY: a 256-byte page in SRAM (read while XIP is off, so not in flash),
            // page-aligned offset inside the flash.
            self.timed(|rom| unsafe { (rom.program)(offset, ptr, PAGE_SIZE as usize) });
            self.stats.programs += 1;
            at = stop;
        }
        Ok(())
    }
}

/// Whether `bytes` lie in SRAM (the ROM reads a program call's data while XIP is off).
fn in_sram(bytes: &[u8]) -> bool {
    let start = bytes.as_ptr() as usize;
    start >= 0x2000_0000 && start + bytes.len() <= 0x2004_2000
}

/// The first byte of `new` that would set a bit `old` has cleared (NOR programming only clears
/// bits). A word at a time when both are word-aligned (flash pages and the sink's page buffers),
/// which is every page the sink programs.
fn first_bit_set(old: &[u8], new: &[u8]) -> Option<usize> {
    let (o, n) = (old.as_ptr() as usize, new.as_ptr() as usize);
    if (o | n | new.len()).is_multiple_of(4) && old.len() == new.len() {
        let words = new.len() / 4;
        // SAFETY: both word-aligned, `words` words long (the slices' own bytes).
        let (ow, nw) = unsafe {
            (
                core::slice::from_raw_parts(o as *const u32, words),
                core::slice::from_raw_parts(n as *const u32, words),
            )
        };
        // Code goes to erased pages: checking that takes half the instructions of the test.
        if all_ones(ow) || bits_set(ow, nw) == 0 {
            return None;
        }
    }
    old.iter().zip(new).position(|(o, n)| o & n != *n)
}

/// Whether every word is erased (all ones): four words an iteration (one `ldm`, four `ands`,
/// the loop), about 2 instructions a word instead of 4.
#[inline(never)]
fn all_ones(words: &[u32]) -> bool {
    let (quads, rest) = words.as_chunks::<4>();
    let acc = quads
        .iter()
        .fold(u32::MAX, |acc, [a, b, c, d]| acc & a & b & c & d);
    rest.iter().fold(acc, |acc, &w| acc & w) == u32::MAX
}

/// The bits `new` sets that `old` has cleared, or-ed over all words: in a function of its own
/// so that the loop has the registers to itself (8 instructions a word, not 10).
#[inline(never)]
fn bits_set(old: &[u32], new: &[u32]) -> u32 {
    old.iter().zip(new).fold(0, |set, (o, n)| set | (n & !o))
}

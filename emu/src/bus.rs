//! The memory regions the emulated core sees, as armagnac memory interfaces.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::clocks::ClockTree;
use armagnac::memory::{
    Env, MemoryAccessError, MemoryInterface, MemoryReadResult, MemoryWriteResult,
};

/// Start of the boot ROM.
pub const ROM_BASE: u32 = 0x0000_0000;
pub(crate) const ROM_SIZE: u32 = 0x4000;
/// Start of the XIP window (flash offset 0).
pub const XIP_BASE: u32 = 0x1000_0000;
/// Start of SRAM.
pub const SRAM_BASE: u32 = 0x2000_0000;
/// Size of SRAM (264 KiB).
pub const SRAM_SIZE: u32 = 0x4_2000;
pub(crate) const TIMER_BASE: u32 = 0x4005_4000;
pub(crate) const TIMER_SIZE: u32 = 0x44;
pub(crate) const TIMERAWH: u32 = 0x24;
pub(crate) const TIMERAWL: u32 = 0x28;
pub(crate) const SIO_BASE: u32 = 0xD000_0000;

fn le_get<const N: usize>(data: &[u8], offset: u32) -> MemoryReadResult<[u8; N]> {
    let start = offset as usize;
    data.get(start..start + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(MemoryAccessError::InvalidAddress)
}

fn le_put(data: &mut [u8], offset: u32, bytes: &[u8]) -> MemoryWriteResult {
    let start = offset as usize;
    data.get_mut(start..start + bytes.len())
        .ok_or(MemoryAccessError::InvalidAddress)?
        .copy_from_slice(bytes);
    Ok(())
}

/// Plain read/write memory (the 264 KiB of SRAM).
pub(crate) struct Sram {
    pub(crate) data: Vec<u8>,
}

impl MemoryInterface for Sram {
    fn read_u8(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u8> {
        Ok(le_get::<1>(&self.data, address)?[0])
    }
    fn write_u8(&mut self, address: u32, value: u8, _env: &mut Env) -> MemoryWriteResult {
        le_put(&mut self.data, address, &[value])
    }
    fn read_u16le(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u16> {
        Ok(u16::from_le_bytes(le_get(&self.data, address)?))
    }
    fn write_u16le(&mut self, address: u32, value: u16, _env: &mut Env) -> MemoryWriteResult {
        le_put(&mut self.data, address, &value.to_le_bytes())
    }
    fn read_u32le(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u32> {
        Ok(u32::from_le_bytes(le_get(&self.data, address)?))
    }
    fn write_u32le(&mut self, address: u32, value: u32, _env: &mut Env) -> MemoryWriteResult {
        le_put(&mut self.data, address, &value.to_le_bytes())
    }
    fn size(&self) -> u32 {
        self.data.len() as u32
    }
}

/// The boot ROM: readable, never writable.
pub(crate) struct Rom {
    pub(crate) data: Rc<Vec<u8>>,
}

impl MemoryInterface for Rom {
    fn read_u8(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u8> {
        Ok(le_get::<1>(&self.data, address)?[0])
    }
    fn read_u16le(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u16> {
        Ok(u16::from_le_bytes(le_get(&self.data, address)?))
    }
    fn read_u32le(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u32> {
        Ok(u32::from_le_bytes(le_get(&self.data, address)?))
    }
    fn write_u8(&mut self, _: u32, _: u8, _env: &mut Env) -> MemoryWriteResult {
        Err(MemoryAccessError::ReadOnly)
    }
    fn write_u16le(&mut self, _: u32, _: u16, _env: &mut Env) -> MemoryWriteResult {
        Err(MemoryAccessError::ReadOnly)
    }
    fn write_u32le(&mut self, _: u32, _: u32, _env: &mut Env) -> MemoryWriteResult {
        Err(MemoryAccessError::ReadOnly)
    }
    fn size(&self) -> u32 {
        self.data.len() as u32
    }
}

/// What the boot ROM flash functions have done to the QSPI interface since the last reset or the
/// last `flash_enter_cmd_xip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XipState {
    /// `connect_internal_flash` ran since the last `flash_enter_cmd_xip` (or reset).
    pub(crate) connected: bool,
    /// `flash_exit_xip` ran after `connect_internal_flash`, since the last `flash_enter_cmd_xip`.
    pub(crate) exited: bool,
    /// `flash_flush_cache` ran after `flash_exit_xip` and after the last erase/program.
    pub(crate) flushed: bool,
    /// Reads of the XIP window return flash contents.
    pub(crate) mapped: bool,
    /// Why reads are not mapped (the last event that turned them off).
    pub(crate) off_because: &'static str,
}

impl XipState {
    pub(crate) fn after_reset() -> XipState {
        XipState {
            connected: false,
            exited: false,
            flushed: false,
            mapped: false,
            off_because:
                "after reset the boot ROM sequence connect_internal_flash, flash_exit_xip, \
                          flash_flush_cache, flash_enter_cmd_xip has not run (boot2 does not run \
                          after reset-and-halt)",
        }
    }
}

/// The flash chip and the state of its XIP window.
pub(crate) struct Flash {
    pub(crate) data: Vec<u8>,
    pub(crate) xip: XipState,
    /// Set when an XIP read was refused, so the run loop can say why.
    pub(crate) refused: Option<u32>,
}

/// The XIP window over [`Flash`]: reads only while mapped, never writable.
pub(crate) struct XipWindow {
    pub(crate) flash: Rc<RefCell<Flash>>,
}

impl XipWindow {
    fn read<const N: usize>(&mut self, offset: u32) -> MemoryReadResult<[u8; N]> {
        let mut flash = self.flash.borrow_mut();
        if !flash.xip.mapped {
            flash.refused = Some(offset);
            return Err(MemoryAccessError::Illegal);
        }
        le_get(&flash.data, offset)
    }
}

impl MemoryInterface for XipWindow {
    fn read_u8(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u8> {
        Ok(self.read::<1>(address)?[0])
    }
    fn read_u16le(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u16> {
        Ok(u16::from_le_bytes(self.read(address)?))
    }
    fn read_u32le(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u32> {
        Ok(u32::from_le_bytes(self.read(address)?))
    }
    fn write_u8(&mut self, _: u32, _: u8, _env: &mut Env) -> MemoryWriteResult {
        Err(MemoryAccessError::ReadOnly)
    }
    fn write_u16le(&mut self, _: u32, _: u16, _env: &mut Env) -> MemoryWriteResult {
        Err(MemoryAccessError::ReadOnly)
    }
    fn write_u32le(&mut self, _: u32, _: u32, _env: &mut Env) -> MemoryWriteResult {
        Err(MemoryAccessError::ReadOnly)
    }
    fn size(&self) -> u32 {
        self.flash.borrow().data.len() as u32
    }
}

/// Counters shared by the run loop, the ROM functions and the timer.
#[derive(Default)]
pub(crate) struct Clock {
    pub(crate) instructions: Cell<u64>,
    pub(crate) erased_bytes: Cell<u64>,
    pub(crate) programmed_bytes: Cell<u64>,
    /// Erase busy time so far (see [`erase_us`]).
    pub(crate) erase_us: Cell<u64>,
    /// The modelled clk_sys (see `clocks`), and the CPU time (ps) run up to instruction
    /// `since` at earlier frequencies.
    sys_hz: Cell<u64>,
    since: Cell<u64>,
    cpu_ps_before: Cell<u64>,
}

impl Clock {
    /// Flash busy time: the erase commands (see [`erase_us`]), 0.4 ms per 256-byte page
    /// programmed.
    pub(crate) fn flash_busy_us(&self) -> u64 {
        self.erase_us.get() + self.programmed_bytes.get() * 400 / 256
    }

    /// 125 MHz, 1.3 cycles per instruction, plus the flash busy time.
    pub(crate) fn estimated_us(&self) -> u64 {
        self.instructions.get() * 13 / 1250 + self.flash_busy_us()
    }

    fn cpu_ps(&self) -> u64 {
        let n = self.instructions.get().saturating_sub(self.since.get()) as u128;
        let ps = n * 1_300_000_000_000 / self.sys_hz.get().max(1) as u128;
        self.cpu_ps_before.get() + ps as u64
    }

    /// Time on the chip so far: the instructions at the clk_sys they ran at (1.3 cycles each)
    /// plus the flash busy time.
    pub(crate) fn device_ns(&self) -> u64 {
        self.cpu_ps() / 1000 + self.flash_busy_us() * 1000
    }

    /// clk_sys runs at `hz` from the current instruction on.
    pub(crate) fn set_sys_hz(&self, hz: u64) {
        if hz != self.sys_hz.get() {
            self.cpu_ps_before.set(self.cpu_ps());
            self.since.set(self.instructions.get());
            self.sys_hz.set(hz);
        }
    }
}

/// TIMER: only the raw (latch-free) registers TIMERAWH/TIMERAWL, counting watchdog ticks (see
/// `clocks`: 0 while TIMER is in reset or the tick is not started).
pub(crate) struct Timer {
    pub(crate) clock: Rc<Clock>,
    pub(crate) tree: Rc<RefCell<ClockTree>>,
}

impl MemoryInterface for Timer {
    fn read_u32le(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u32> {
        let now = self.tree.borrow().timer(&self.clock);
        match address {
            TIMERAWH => Ok((now >> 32) as u32),
            TIMERAWL => Ok(now as u32),
            _ => Err(MemoryAccessError::InvalidAddress),
        }
    }
    fn write_u32le(&mut self, address: u32, _: u32, _env: &mut Env) -> MemoryWriteResult {
        match address {
            TIMERAWH | TIMERAWL => Err(MemoryAccessError::ReadOnly),
            _ => Err(MemoryAccessError::InvalidAddress),
        }
    }
    fn size(&self) -> u32 {
        TIMER_SIZE
    }
}

/// SIO: only CPUID (core 0).
pub(crate) struct Sio;

impl MemoryInterface for Sio {
    fn read_u32le(&mut self, _address: u32, _env: &mut Env) -> MemoryReadResult<u32> {
        Ok(0)
    }
    fn size(&self) -> u32 {
        4
    }
}

/// Typical erase times of the Pico's flash (Winbond W25Q16JV datasheet): 45 ms per 4 KiB sector
/// (20h), 120 ms per 32 KiB block (52h), 150 ms per 64 KiB block (D8h).
const SECTOR_ERASE_US: u64 = 45_000;

/// What `flash_range_erase(offset, count, block, _)` keeps the flash busy for: the boot ROM
/// erases a whole `block` with the block command where the address is aligned to it and at least
/// `block` bytes remain, else one 4 KiB sector. Only the commands that start before `offset +
/// applied` (a power cut stops the rest) are counted.
pub(crate) fn erase_us(offset: u32, count: u32, applied: u32, block: u32) -> u64 {
    let block_us = match block {
        0x8000 => 120_000,
        0x1_0000 => 150_000,
        _ => SECTOR_ERASE_US,
    };
    let (mut at, end) = (u64::from(offset), u64::from(offset) + u64::from(count));
    let cut = u64::from(offset) + u64::from(applied);
    let block = u64::from(block);
    let mut us = 0;
    while at < end && at < cut {
        if at % block == 0 && end - at >= block {
            us += block_us;
            at += block;
        } else {
            us += SECTOR_ERASE_US;
            at += 4096;
        }
    }
    us
}

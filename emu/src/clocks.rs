//! RESETS, XOSC, PLL_SYS, CLOCKS (clk_ref, clk_sys), the WATCHDOG's tick and the TIMER's reset:
//! just enough of the RP2040's clock tree for a program to bring clk_sys to the PLL and start the
//! microsecond timer as the Pico SDK's runtime does, and to fail where the chip would misbehave.
//!
//! After reset (and after a debugger's reset-and-halt, which skips the boot ROM and boot2) every
//! block but a few is held in reset, clk_ref and clk_sys run from the ring oscillator (nominally
//! 6.5 MHz), the crystal oscillator and PLL_SYS are off and the watchdog tick, which the TIMER
//! counts, is not generated: TIMERAWL reads 0 until the program starts it. Lock and stable bits
//! read as ready as soon as their conditions hold (no start-up delays are modelled).
//!
//! The model computes clk_sys's frequency from the registers; the instructions run since then are
//! timed at that frequency (1.3 cycles each, see [`crate::Stats`]), so the TIMER counts what the
//! chip would count. Refused (the run fails with [`crate::EmuError::Peripheral`]): switching a
//! clock to a source that is not running, changing clk_sys's aux source while clk_sys uses the
//! aux mux (it is not glitchless), touching PLL_SYS while clk_sys runs from it, clk_sys above
//! 133 MHz, fractional or zero dividers, and writes to a block held in reset (lost on the chip).

use std::cell::RefCell;
use std::rc::Rc;

use armagnac::memory::{
    Env, MemoryAccessError, MemoryInterface, MemoryReadResult, MemoryWriteResult,
};

use crate::bus::Clock;

pub(crate) const RESETS_BASE: u32 = 0x4000_C000;
pub(crate) const CLOCKS_BASE: u32 = 0x4000_8000;
pub(crate) const XOSC_BASE: u32 = 0x4002_4000;
pub(crate) const PLL_SYS_BASE: u32 = 0x4002_8000;
pub(crate) const WATCHDOG_BASE: u32 = 0x4005_8000;
/// Each APB block: its registers, then the XOR (+0x1000), SET (+0x2000) and CLR (+0x3000)
/// aliases.
pub(crate) const BLOCK_SIZE: u32 = 0x4000;

/// RESETS bits modelled.
const RESET_PLL_SYS: u32 = 1 << 12;
const RESET_TIMER: u32 = 1 << 21;
const RESET_ALL: u32 = 0x01ff_ffff;

/// Nominal ring oscillator frequency after reset.
pub(crate) const RESET_SYS_HZ: u64 = ROSC_HZ;
const ROSC_HZ: u64 = 6_500_000;
/// The Pico's crystal.
const XOSC_HZ: u64 = 12_000_000;
const MAX_SYS_HZ: u64 = 133_000_000;

const XOSC_ENABLE: u32 = 0xfab;
const XOSC_DISABLE: u32 = 0xd1e;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    Resets,
    Clocks,
    Xosc,
    PllSys,
    Watchdog,
}

/// The registers of the modelled blocks and the TIMER's count.
pub(crate) struct ClockTree {
    reset: u32,
    wdsel: u32,
    xosc_ctrl: u32,
    xosc_on: bool,
    xosc_startup: u32,
    pll_cs: u32,
    pll_pwr: u32,
    pll_fbdiv: u32,
    pll_prim: u32,
    ref_ctrl: u32,
    ref_div: u32,
    sys_ctrl: u32,
    sys_div: u32,
    resus_ctrl: u32,
    tick: u32,
    /// Timer ticks counted up to `timer_since_ns`.
    timer_held: u64,
    timer_since_ns: u64,
    /// (clk_ref Hz, tick cycles) while the timer counts.
    timer_rate: Option<(u64, u64)>,
    /// Why the last refused access was refused (for the run loop's error).
    pub(crate) refused: Option<String>,
}

impl ClockTree {
    pub(crate) fn after_reset() -> ClockTree {
        ClockTree {
            reset: RESET_ALL,
            wdsel: 0,
            xosc_ctrl: 0,
            xosc_on: false,
            xosc_startup: 0xc4,
            pll_cs: 1,
            pll_pwr: 0x2d,
            pll_fbdiv: 0,
            pll_prim: 0x7_7000,
            ref_ctrl: 0,
            ref_div: 1 << 8,
            sys_ctrl: 0,
            sys_div: 1 << 8,
            resus_ctrl: 0xff,
            tick: 1 << 9,
            timer_held: 0,
            timer_since_ns: 0,
            timer_rate: None,
            refused: None,
        }
    }

    fn xosc_hz(&self) -> u64 {
        if self.xosc_on {
            XOSC_HZ
        } else {
            0
        }
    }

    fn pll_locked(&self) -> bool {
        let refdiv = (self.pll_cs & 0x3f) as u64;
        let fbdiv = (self.pll_fbdiv & 0xfff) as u64;
        if self.reset & RESET_PLL_SYS != 0 || self.pll_pwr & 0x21 != 0 || refdiv == 0 {
            return false;
        }
        let reference = self.xosc_hz() / refdiv;
        let vco = reference * fbdiv;
        reference >= 5_000_000
            && (16..=320).contains(&fbdiv)
            && (750_000_000..=1_600_000_000).contains(&vco)
    }

    fn pll_hz(&self) -> u64 {
        if !self.pll_locked() {
            return 0;
        }
        let reference = self.xosc_hz() / (self.pll_cs & 0x3f) as u64;
        if self.pll_cs & (1 << 8) != 0 {
            return reference; // bypass
        }
        let (pd1, pd2) = ((self.pll_prim >> 16) & 7, (self.pll_prim >> 12) & 7);
        if self.pll_pwr & (1 << 3) != 0 || pd1 == 0 || pd2 == 0 {
            return 0;
        }
        reference * self.pll_fbdiv as u64 / (pd1 * pd2) as u64
    }

    fn ref_src_hz(&self, ctrl: u32) -> Option<u64> {
        match ctrl & 3 {
            0 => Some(ROSC_HZ),
            2 => Some(self.xosc_hz()),
            _ => None,
        }
    }

    fn clk_ref_hz(&self) -> u64 {
        self.ref_src_hz(self.ref_ctrl).unwrap_or(0) / ((self.ref_div >> 8) & 3).max(1) as u64
    }

    fn sys_aux_hz(&self, ctrl: u32) -> Option<u64> {
        match (ctrl >> 5) & 7 {
            0 => Some(self.pll_hz()),
            2 => Some(ROSC_HZ),
            3 => Some(self.xosc_hz()),
            _ => None,
        }
    }

    fn clk_sys_hz(&self) -> u64 {
        let src = if self.sys_ctrl & 1 == 0 {
            self.clk_ref_hz()
        } else {
            self.sys_aux_hz(self.sys_ctrl).unwrap_or(0)
        };
        src / (self.sys_div >> 8).max(1) as u64
    }

    fn sys_on_pll(&self) -> bool {
        self.sys_ctrl & 1 == 1 && (self.sys_ctrl >> 5) & 7 == 0
    }

    fn timer_ticks(&self, now_ns: u64) -> u64 {
        let counted = self.timer_rate.map_or(0, |(hz, cycles)| {
            let ns = now_ns.saturating_sub(self.timer_since_ns) as u128;
            (ns * hz as u128 / (cycles as u128 * 1_000_000_000)) as u64
        });
        self.timer_held + counted
    }

    /// TIMERAWH:TIMERAWL now.
    pub(crate) fn timer(&self, clock: &Clock) -> u64 {
        if self.reset & RESET_TIMER != 0 {
            return 0;
        }
        self.timer_ticks(clock.device_ns())
    }

    /// After a write took effect: time the next instructions at the new clk_sys and let the
    /// timer count at the new tick rate.
    fn settle(&mut self, clock: &Clock) {
        clock.set_sys_hz(self.clk_sys_hz());
        let now = clock.device_ns();
        let cycles = (self.tick & 0x1ff) as u64;
        let running = self.reset & RESET_TIMER == 0 && self.tick & (1 << 9) != 0 && cycles > 0;
        let rate = running.then(|| (self.clk_ref_hz(), cycles));
        if self.reset & RESET_TIMER != 0 {
            self.timer_held = 0;
            self.timer_since_ns = now;
            self.timer_rate = None;
        } else if rate != self.timer_rate {
            self.timer_held = self.timer_ticks(now);
            self.timer_since_ns = now;
            self.timer_rate = rate;
        }
    }

    fn read(&self, block: Block, reg: u32) -> Option<u32> {
        Some(match (block, reg) {
            (Block::Resets, 0x0) => self.reset,
            (Block::Resets, 0x4) => self.wdsel,
            (Block::Resets, 0x8) => !self.reset & RESET_ALL,
            (Block::Xosc, 0x0) => self.xosc_ctrl,
            (Block::Xosc, 0x4) => {
                let on = self.xosc_on as u32;
                (on << 31) | (on << 12) | (self.xosc_ctrl & 3)
            }
            (Block::Xosc, 0xc) => self.xosc_startup,
            (Block::PllSys, 0x0) => self.pll_cs | ((self.pll_locked() as u32) << 31),
            (Block::PllSys, 0x4) => self.pll_pwr,
            (Block::PllSys, 0x8) => self.pll_fbdiv,
            (Block::PllSys, 0xc) => self.pll_prim,
            (Block::Clocks, 0x30) => self.ref_ctrl,
            (Block::Clocks, 0x34) => self.ref_div,
            (Block::Clocks, 0x38) => 1 << (self.ref_ctrl & 3),
            (Block::Clocks, 0x3c) => self.sys_ctrl,
            (Block::Clocks, 0x40) => self.sys_div,
            (Block::Clocks, 0x44) => 1 << (self.sys_ctrl & 1),
            (Block::Clocks, 0x78) => self.resus_ctrl,
            (Block::Watchdog, 0x2c) => {
                let running = self.tick & (1 << 9) != 0 && self.tick & 0x1ff != 0;
                self.tick | ((running as u32) << 10)
            }
            _ => return None,
        })
    }

    /// Writes `value` (already combined with the alias operation) to `reg`; `Err(why)` when the
    /// write is refused.
    fn write(&mut self, block: Block, reg: u32, value: u32) -> Result<(), String> {
        match (block, reg) {
            (Block::Resets, 0x0) => {
                let value = value & RESET_ALL;
                if value & RESET_PLL_SYS != 0 && self.sys_on_pll() {
                    return Err("PLL_SYS put in reset while clk_sys runs from it".into());
                }
                let was = self.reset;
                self.reset = value;
                if value & RESET_PLL_SYS != 0 && was & RESET_PLL_SYS == 0 {
                    self.pll_cs = 1;
                    self.pll_pwr = 0x2d;
                    self.pll_fbdiv = 0;
                    self.pll_prim = 0x7_7000;
                }
            }
            (Block::Resets, 0x4) => self.wdsel = value & RESET_ALL,
            (Block::Xosc, 0x0) => {
                match (value >> 12) & 0xfff {
                    XOSC_ENABLE => self.xosc_on = true,
                    XOSC_DISABLE if self.uses_xosc() => {
                        return Err("XOSC disabled while a clock runs from it".into())
                    }
                    XOSC_DISABLE => self.xosc_on = false,
                    _ => {} // any other code keeps the previous state
                }
                self.xosc_ctrl = value & 0xff_ffff;
            }
            (Block::Xosc, 0xc) => self.xosc_startup = value & 0x10_3fff,
            (Block::PllSys, 0x0 | 0x4 | 0x8 | 0xc) => {
                if self.reset & RESET_PLL_SYS != 0 {
                    return Err(
                        "PLL_SYS is held in reset (RESETS bit 12): the write is lost".into(),
                    );
                }
                if self.sys_on_pll() {
                    return Err("PLL_SYS reconfigured while clk_sys runs from it".into());
                }
                match reg {
                    0x0 => self.pll_cs = value & 0x13f,
                    0x4 => self.pll_pwr = value & 0x2d,
                    0x8 => self.pll_fbdiv = value & 0xfff,
                    _ => self.pll_prim = value & 0x7_7000,
                }
            }
            (Block::Clocks, 0x30) => {
                let hz = self.ref_src_hz(value).ok_or_else(|| {
                    format!(
                        "clk_ref source {} is not modelled (ROSC 0, XOSC 2)",
                        value & 3
                    )
                })?;
                if hz == 0 {
                    return Err("clk_ref switched to XOSC, which is not running".into());
                }
                self.ref_ctrl = value & 0x63;
            }
            (Block::Clocks, 0x34) => {
                if value & !0x300 != 0 || value == 0 {
                    return Err(format!(
                        "clk_ref divider {value:#x}: only /1../3 are modelled"
                    ));
                }
                self.ref_div = value;
            }
            (Block::Clocks, 0x3c) => {
                let value = value & 0xe1;
                let on_aux = self.sys_ctrl & 1 == 1;
                if on_aux && (value ^ self.sys_ctrl) & 0xe0 != 0 {
                    return Err(
                        "clk_sys's aux source changed while clk_sys uses the aux mux (not \
                                glitchless: switch clk_sys to clk_ref first)"
                            .into(),
                    );
                }
                if value & 1 == 1 {
                    match self.sys_aux_hz(value) {
                        None => {
                            return Err(format!(
                                "clk_sys aux source {} is not modelled (PLL_SYS 0, ROSC 2, XOSC 3)",
                                (value >> 5) & 7
                            ))
                        }
                        Some(0) => {
                            return Err("clk_sys switched to an aux source that is not running \
                                        (PLL_SYS not locked, or XOSC off)"
                                .into())
                        }
                        Some(_) => {}
                    }
                }
                self.sys_ctrl = value;
            }
            (Block::Clocks, 0x40) => {
                if value & 0xff != 0 || value >> 8 == 0 {
                    return Err(format!(
                        "clk_sys divider {value:#x}: only whole dividers are modelled"
                    ));
                }
                self.sys_div = value;
            }
            (Block::Clocks, 0x78) => self.resus_ctrl = value & 0x1_11ff,
            (Block::Watchdog, 0x2c) => self.tick = value & 0x3ff,
            _ => return Err("register not modelled".into()),
        }
        let hz = self.clk_sys_hz();
        if hz > MAX_SYS_HZ {
            return Err(format!(
                "clk_sys would run at {hz} Hz, above the RP2040's 133 MHz"
            ));
        }
        Ok(())
    }

    fn uses_xosc(&self) -> bool {
        self.ref_ctrl & 3 == 2
            || (self.sys_ctrl & 1 == 1 && matches!((self.sys_ctrl >> 5) & 7, 0 | 3))
    }
}

/// One APB block of [`ClockTree`] with its atomic aliases, 32-bit accesses only.
pub(crate) struct ClockBlock {
    pub(crate) block: Block,
    pub(crate) tree: Rc<RefCell<ClockTree>>,
    pub(crate) clock: Rc<Clock>,
}

impl MemoryInterface for ClockBlock {
    fn read_u32le(&mut self, address: u32, _env: &mut Env) -> MemoryReadResult<u32> {
        self.tree
            .borrow()
            .read(self.block, address & 0xfff)
            .ok_or(MemoryAccessError::InvalidAddress)
    }
    fn write_u32le(&mut self, address: u32, value: u32, _env: &mut Env) -> MemoryWriteResult {
        let mut tree = self.tree.borrow_mut();
        let reg = address & 0xfff;
        let old = tree
            .read(self.block, reg)
            .ok_or(MemoryAccessError::InvalidAddress)?;
        let new = match address & 0x3000 {
            0x0000 => value,
            0x1000 => old ^ value,
            0x2000 => old | value,
            _ => old & !value,
        };
        let read_only = matches!(
            (self.block, reg),
            (Block::Resets, 0x8) | (Block::Clocks, 0x38 | 0x44) | (Block::Xosc, 0x4)
        );
        if read_only {
            return Err(MemoryAccessError::ReadOnly);
        }
        // Try the write on a copy: a refused write changes nothing.
        let mut next = ClockTree {
            refused: None,
            ..*tree
        };
        match next.write(self.block, reg, new) {
            Ok(()) => {
                next.settle(&self.clock);
                *tree = next;
                Ok(())
            }
            Err(why) => {
                tree.refused = Some(why);
                Err(MemoryAccessError::Illegal)
            }
        }
    }
    fn size(&self) -> u32 {
        BLOCK_SIZE
    }
}

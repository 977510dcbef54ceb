//! An emulated RP2040 for avm-jit's device loader: tests, CI, and users without a probe.
//!
//! The processor is [armagnac](https://crates.io/crates/armagnac)'s ARMv6-M (Cortex-M0+) Thumb
//! core; this crate adds the parts of the chip the loader touches and checks that it uses them as
//! the real chip requires, so that a loader which would misbehave on a board fails here.
//!
//! # What is modelled
//! - **Core**: ARMv6-M Thumb, one core, thread mode, privileged. `bkpt` stops a run
//!   ([`Stop::Breakpoint`], `pc` = address of the `bkpt`; the next [`Rp2040::run`] resumes after
//!   it). Unaligned loads/stores, SVC, any exception entry, a branch without the Thumb bit and
//!   execution in the ROM outside its functions are HardFaults ([`EmuError::Fault`]); `wfi`,
//!   `wfe` and `sev` are refused (no interrupt can ever wake the core), as are the few system
//!   register moves armagnac does not implement. armagnac 0.3 panics on three legal shifts
//!   (`asrs #32`, `asrs` by a register holding 32 or more, `rors` by a nonzero multiple of 32):
//!   the emulator executes those cases itself. It also keeps the Thumb state after `add pc, rm`
//!   and `mov pc, rm`, which armagnac wrongly treats as interworking branches on ARMv6-M. Any
//!   other panic of the core becomes [`EmuError::Emulator`].
//! - **Memory map**: ROM `0x0000_0000..0x0000_4000` (read-only); the XIP window
//!   `0x1000_0000..0x1000_0000 + flash size` (never writable; reads fault with
//!   [`EmuError::XipNotReady`] until the boot ROM sequence below has run); SRAM
//!   `0x2000_0000..0x2004_2000` (264 KiB, zero after [`Rp2040::new`]); TIMER's TIMERAWH
//!   `0x4005_4024` / TIMERAWL `0x4005_4028` (read-only, see **Clocks**); the clock tree's
//!   registers (RESETS `0x4000_C000`, CLOCKS `0x4000_8000`, XOSC `0x4002_4000`, PLL_SYS
//!   `0x4002_8000`, WATCHDOG TICK `0x4005_802C`, with their atomic XOR/SET/CLR aliases at
//!   +0x1000/+0x2000/+0x3000); SIO CPUID `0xD000_0000` (reads 0). Every other address faults with that address
//!   ([`EmuError::Unmapped`]), except the Cortex-M system control space at `0xE000_E000`, which is
//!   armagnac's own model.
//! - **Boot ROM** (high-level emulation): the header at 0x10 (`'M','u',1`, version 3), the function
//!   and data table pointers at 0x14/0x16, `rom_table_lookup` at 0x18, and a function table with
//!   `IF` connect_internal_flash, `EX` flash_exit_xip, `RE` flash_range_erase, `RP`
//!   flash_range_program, `FC` flash_flush_cache, `CX` flash_enter_cmd_xip. Each is a two-byte
//!   stub; when the core reaches one, the emulator performs the function in Rust (arguments in
//!   r0–r3, return to `lr`, which must carry the Thumb bit) and charges it one instruction.
//! - **XIP**: reads of the window need, since reset or since the last erase/program,
//!   connect_internal_flash → flash_exit_xip → flash_flush_cache → flash_enter_cmd_xip in that
//!   order. flash_exit_xip, flash_range_erase and flash_range_program turn XIP off.
//! - **Flash contract** (any breach is [`EmuError::RomContract`] naming the function, its
//!   arguments and why, and fails the run): erase and program only after connect_internal_flash
//!   and flash_exit_xip since the last flash_enter_cmd_xip; erase offset and count multiples of
//!   4096, with (block size, block command) one of (4096, 0x20), (32768, 0x52), (65536, 0xd8);
//!   program offset and count multiples of 256, the data wholly in SRAM; both inside the flash.
//!   NOR semantics: erase sets bytes to 0xFF, program can only clear bits (new = old & data).
//! - **Clocks**: after reset (and reset-and-halt) clk_sys and clk_ref run from the ring
//!   oscillator (nominally 6.5 MHz), XOSC and PLL_SYS are off, TIMER is held in reset and the
//!   watchdog tick is not generated, so TIMERAWL reads 0 until a program brings them up as the
//!   Pico SDK does (XOSC 12 MHz, PLL_SYS, clk_ref/clk_sys muxes, tick cycles, TIMER out of
//!   reset). Stable and lock bits read ready as soon as their conditions hold. The timer then
//!   counts clk_ref / cycles, over the emulated time: instructions at the modelled clk_sys (1.3
//!   cycles each) plus flash busy time. Switching a clock to a source that is not running,
//!   changing clk_sys's aux source while it is selected, reconfiguring or resetting PLL_SYS under
//!   clk_sys, clk_sys above 133 MHz and writes to a block in reset fail the run
//!   ([`EmuError::Peripheral`]).
//! - **Time**: instructions are counted; the estimated device time ([`Stats`]) is 1.3 cycles per
//!   instruction at 125 MHz (what the loader sets up) plus flash busy time, the W25Q16JV's
//!   typical figures: 45 ms per 4 KiB sector erase, 120 ms per 32 KiB and 150 ms per 64 KiB
//!   block erase (each erase command the boot ROM would issue for the call), 0.4 ms per 256
//!   bytes programmed.
//! - **Power loss**: [`PowerCut`] stops the chip after a number of instructions or in the middle
//!   of an erase/program call, which then has changed only its first bytes. [`Rp2040::flash`] then
//!   shows what the flash chip holds.
//! - **Stack**: the lowest SP of a run ([`Rp2040::lowest_sp`]), for the stack a program used.
//! - **Debugger view** ([`Rp2040::read_memory`], [`Rp2040::write_memory`],
//!   [`Rp2040::reset_and_halt`], [`Rp2040::set_sp_pc`]): what a probe can do, whatever the XIP
//!   state.
//!
//! # What is not modelled
//! Interrupts, the second core, the ROSC's registers, PLL_USB, clk_peri/usb/adc/rtc, clock
//! start-up delays, DMA, every other peripheral (the flash SSI: the ROM functions are emulated),
//! the XIP cache and its aliases (0x11.., 0x12.., 0x13.., 0x15..), the flash's real timing (typical
//! figures only, and no XIP read time), cycle-accurate timing, and the contents of the real ROM
//! (its soft-float and memory functions and data table entries are absent). A partial erase is modelled as a prefix of
//! erased bytes, which is one of the states a real interrupted erase can leave.

mod bus;
mod clocks;
mod elf;
mod error;
mod profile;
mod rom;

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use armagnac::core::{ArmVersion, Condition, Config, Effect, ItState, Processor, RunError};
use armagnac::decoder::{
    InstructionDecode, InstructionDecodeError, Lut16AndGrouped32InstructionDecoder,
};
use armagnac::instructions::{Instruction, InstructionSize};
use armagnac::memory::MemoryAccessError;
use armagnac::registers::{Mode, RegisterIndex};

use bus::{Clock, Flash, Rom, Sio, Sram, Timer, XipState, XipWindow};
pub use bus::{ROM_BASE, SRAM_BASE, SRAM_SIZE, XIP_BASE};
use clocks::{Block, ClockBlock, ClockTree};
pub use elf::{load_elf, LoadedElf};
pub use error::EmuError;
pub use profile::Profile;
use rom::RomFn;

/// Largest flash the RP2040's XIP window can address.
pub const MAX_FLASH: usize = 16 << 20;

/// Why [`Rp2040::run`] returned without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The core executed `bkpt #imm` at `pc`. Running again resumes after it.
    Breakpoint { imm: u8, pc: u32 },
    /// The run executed as many instructions as it was allowed.
    InstructionLimit,
    /// The power was cut (see [`Rp2040::set_power_cut`]); the chip stays off until
    /// [`Rp2040::reset_and_halt`].
    PowerCut,
}

/// When to cut the power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerCut {
    /// After this many more instructions (counted from the call to `set_power_cut`).
    AfterInstructions(u64),
    /// During the `index`-th (0-based, counted from the call to `set_power_cut`) call of
    /// flash_range_erase or flash_range_program: only its first `bytes` bytes take effect.
    DuringFlashOp { index: u64, bytes: u32 },
}

/// Counters since [`Rp2040::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Instructions executed (each boot ROM function call counts as one).
    pub instructions: u64,
    /// flash_range_erase calls.
    pub erase_calls: u64,
    /// flash_range_program calls.
    pub program_calls: u64,
    /// Bytes erased (including a power-cut call's partial effect).
    pub erased_bytes: u64,
    /// Bytes programmed (including a power-cut call's partial effect).
    pub programmed_bytes: u64,
    /// Flash busy time: 45 ms per 4 KiB sector erase, 120 ms per 32 KiB and 150 ms per 64 KiB
    /// block erase, 0.4 ms per 256 bytes programmed.
    pub flash_busy_us: u64,
    /// `instructions` × 1.3 cycles at 125 MHz, plus `flash_busy_us`.
    pub estimated_us: u64,
}

/// The RP2040's state when the power was, or will be, cut.
#[derive(Debug, Clone, Copy)]
enum Cut {
    AtInstruction(u64),
    AtFlashOp { call: u64, bytes: u32 },
}

thread_local! {
    /// Building the 16-bit decode table takes a while: one per thread.
    static DECODER: Rc<Lut16AndGrouped32InstructionDecoder> =
        Rc::new(Lut16AndGrouped32InstructionDecoder::new(ArmVersion::V6M));
}

/// armagnac's fast decoder, refusing the encodings it would panic on or that would hang the
/// core (sleep instructions with no interrupt to wake it).
struct Decoder(Rc<Lut16AndGrouped32InstructionDecoder>);

impl InstructionDecode for Decoder {
    fn try_decode(
        &self,
        ins: u32,
        size: InstructionSize,
        state: ItState,
    ) -> Result<Rc<dyn Instruction>, InstructionDecodeError> {
        let refused = match size {
            InstructionSize::Ins16 => {
                matches!(ins, 0xbf20 | 0xbf30 | 0xbf40) // wfe, wfi, sev
                    || ins & 0xff00 == 0xdf00 // svc (and udf's neighbour)
                    || (ins & 0xff00 == 0x4700 && ins & 7 != 0) // bx/blx with SBZ bits set
            }
            InstructionSize::Ins32 => {
                let (hi, lo) = (ins >> 16, ins & 0xffff);
                let sysm = lo & 0xff;
                // msr: only MSP, PSP, CONTROL; mrs: not the ARMv7-M mask registers.
                (hi & 0xfff0 == 0xf380 && lo & 0xff00 == 0x8800 && !matches!(sysm, 8 | 9 | 20))
                    || (hi == 0xf3ef && lo & 0xf000 == 0x8000 && matches!(sysm, 17..=19))
            }
        };
        if refused {
            return Err(InstructionDecodeError::Unknown);
        }
        match self.0.try_decode(ins, size, state) {
            Err(InstructionDecodeError::Undefined) => Err(InstructionDecodeError::Unknown),
            other => other,
        }
    }
}

/// A decoded instruction, kept per SRAM halfword while the encoding there is unchanged.
struct Decoded {
    /// 16-bit encoding, or first halfword << 16 | second halfword.
    raw: u32,
    condition: Condition,
    ins: Rc<dyn Instruction>,
}

/// `asrs #imm`, `asrs` or `rors` by register: the encodings [`Rp2040::shift_fixup`] looks at.
fn shift_candidate(raw: u32) -> bool {
    raw & 0xf800 == 0x1000 || raw & 0xff80 == 0x4100 || raw & 0xffc0 == 0x41c0
}

/// After an instruction ran with the PC 4 ahead: the PC of the next one, and what stops.
fn finish(proc: &mut Processor, raw: u32, effect: Effect) -> Result<Option<u8>, RunError> {
    let wide = raw > 0xffff;
    if effect != Effect::Branch && !wide {
        proc.set_pc(proc.pc().wrapping_sub(2));
    }
    // `add pc, rm` / `mov pc, rm`: on ARMv6-M, ALUWritePC is BranchWritePC, which ignores bit 0
    // (no interworking; jump tables add even offsets). armagnac interworks, clearing the Thumb
    // bit: undo that.
    if !wide && (raw & 0xff87 == 0x4487 || raw & 0xff87 == 0x4687) {
        proc.registers.psr.set_t(true);
    }
    match effect {
        Effect::Break(imm) => Ok(Some(imm)),
        Effect::None | Effect::Branch | Effect::DebugHint(_) => Ok(None),
        // The decoder refuses wfe/wfi.
        Effect::WaitForEvent | Effect::WaitForInterrupt => Err(RunError::InstructionUnknown),
    }
}

/// An emulated RP2040 with a flash chip.
pub struct Rp2040 {
    proc: Processor,
    decoder: Decoder,
    /// 32-bit encodings decoded so far (armagnac decodes them by pattern search).
    wide: HashMap<u32, Rc<dyn Instruction>>,
    /// Decoded instructions per SRAM halfword (checked against the encoding on every fetch).
    icache: Vec<Option<Decoded>>,
    sram: Rc<RefCell<Sram>>,
    /// The flash chip; `xip.data` is kept equal to it.
    flash: Vec<u8>,
    xip: Rc<RefCell<Flash>>,
    rom: Rc<Vec<u8>>,
    clock: Rc<Clock>,
    /// RESETS, XOSC, PLL_SYS, CLOCKS, the watchdog tick (see `clocks`).
    tree: Rc<RefCell<ClockTree>>,
    erase_calls: u64,
    program_calls: u64,
    /// Erase/program calls since the last `set_power_cut`.
    flash_ops_since_cut_set: u64,
    cut: Option<Cut>,
    /// Lowest main stack pointer seen since the last `set_sp_pc`/`reset_lowest_sp`.
    lowest_sp: u32,
    powered: bool,
    /// A run that failed leaves the core mid-instruction: it stays failed until the debugger
    /// resets it or sets a new PC.
    failed: Option<EmuError>,
    /// The instruction profile, when asked for ([`Rp2040::set_profiling`]).
    profile: Option<Box<Profile>>,
}

impl Rp2040 {
    /// A chip with this flash image (`flash[0]` at 0x1000_0000), halted as after reset.
    pub fn new(flash: Vec<u8>) -> Result<Rp2040, EmuError> {
        if flash.is_empty() || flash.len() > MAX_FLASH || !flash.len().is_multiple_of(4096) {
            return Err(EmuError::Config {
                why: format!(
                    "a flash image of {} bytes is not a flash chip (1 to 4096 sectors of 4 KiB)",
                    flash.len()
                ),
            });
        }
        let xip = Rc::new(RefCell::new(Flash {
            data: flash.clone(),
            xip: XipState::after_reset(),
            refused: None,
        }));
        let sram = Rc::new(RefCell::new(Sram {
            data: vec![0; SRAM_SIZE as usize],
        }));
        let rom = Rc::new(rom::image());
        let clock = Rc::new(Clock::default());
        let tree = Rc::new(RefCell::new(ClockTree::after_reset()));
        let proc = Self::processor(&sram, &xip, &rom, &clock, &tree)?;
        let mut chip = Rp2040 {
            proc,
            decoder: Decoder(DECODER.with(Rc::clone)),
            wide: HashMap::new(),
            icache: std::iter::repeat_with(|| None)
                .take(SRAM_SIZE as usize / 2)
                .collect(),
            sram,
            flash,
            xip,
            rom,
            clock,
            tree,
            erase_calls: 0,
            program_calls: 0,
            flash_ops_since_cut_set: 0,
            cut: None,
            lowest_sp: u32::MAX,
            powered: true,
            failed: None,
            profile: None,
        };
        chip.reset_and_halt()?;
        Ok(chip)
    }

    fn processor(
        sram: &Rc<RefCell<Sram>>,
        xip: &Rc<RefCell<Flash>>,
        rom: &Rc<Vec<u8>>,
        clock: &Rc<Clock>,
        tree: &Rc<RefCell<ClockTree>>,
    ) -> Result<Processor, EmuError> {
        let mut proc = Processor::new(Config::v6m());
        let map_error = |what: &str| EmuError::Emulator {
            pc: 0,
            why: format!("cannot map {what}"),
        };
        // Most frequent first: armagnac searches the mappings in order.
        proc.map_iface(SRAM_BASE, sram.clone())
            .map_err(|_| map_error("SRAM"))?;
        proc.map_iface(
            XIP_BASE,
            Rc::new(RefCell::new(XipWindow { flash: xip.clone() })),
        )
        .map_err(|_| map_error("XIP"))?;
        proc.map_iface(ROM_BASE, Rc::new(RefCell::new(Rom { data: rom.clone() })))
            .map_err(|_| map_error("ROM"))?;
        proc.map_iface(
            bus::TIMER_BASE,
            Rc::new(RefCell::new(Timer {
                clock: clock.clone(),
                tree: tree.clone(),
            })),
        )
        .map_err(|_| map_error("TIMER"))?;
        for (base, block) in [
            (clocks::RESETS_BASE, Block::Resets),
            (clocks::CLOCKS_BASE, Block::Clocks),
            (clocks::XOSC_BASE, Block::Xosc),
            (clocks::PLL_SYS_BASE, Block::PllSys),
            (clocks::WATCHDOG_BASE, Block::Watchdog),
        ] {
            let iface = ClockBlock {
                block,
                tree: tree.clone(),
                clock: clock.clone(),
            };
            proc.map_iface(base, Rc::new(RefCell::new(iface)))
                .map_err(|_| map_error("a clock block"))?;
        }
        proc.map_iface(bus::SIO_BASE, Rc::new(RefCell::new(Sio)))
            .map_err(|_| map_error("SIO"))?;
        // ARMv6-M: CCR.STKALIGN and CCR.UNALIGN_TRP read as one (unaligned accesses fault).
        proc.write_u32le_iface(0xe000_ed14, (1 << 9) | (1 << 3))
            .map_err(|_| map_error("CCR"))?;
        Ok(proc)
    }

    /// The flash chip's contents.
    pub fn flash(&self) -> &[u8] {
        &self.flash
    }

    /// Counters since [`Rp2040::new`].
    pub fn stats(&self) -> Stats {
        Stats {
            instructions: self.clock.instructions.get(),
            erase_calls: self.erase_calls,
            program_calls: self.program_calls,
            erased_bytes: self.clock.erased_bytes.get(),
            programmed_bytes: self.clock.programmed_bytes.get(),
            flash_busy_us: self.clock.flash_busy_us(),
            estimated_us: self.clock.estimated_us(),
        }
    }

    /// Whether reads of the XIP window return flash contents now.
    pub fn xip_mapped(&self) -> bool {
        self.xip.borrow().xip.mapped
    }

    /// Core reset, halted: registers as after reset, XIP not set up (boot2 has not run), SRAM and
    /// flash kept. After a power cut this is the power coming back: SRAM is then lost (zeroed).
    pub fn reset_and_halt(&mut self) -> Result<(), EmuError> {
        if !self.powered {
            self.sram.borrow_mut().data.fill(0);
            self.powered = true;
        }
        self.cut = None;
        self.failed = None;
        {
            let mut xip = self.xip.borrow_mut();
            xip.xip = XipState::after_reset();
            xip.refused = None;
        }
        *self.tree.borrow_mut() = ClockTree::after_reset();
        self.clock.set_sys_hz(clocks::RESET_SYS_HZ);
        self.proc = Self::processor(&self.sram, &self.xip, &self.rom, &self.clock, &self.tree)?;
        let sp = u32::from_le_bytes([self.rom[0], self.rom[1], self.rom[2], self.rom[3]]);
        let pc = u32::from_le_bytes([self.rom[4], self.rom[5], self.rom[6], self.rom[7]]);
        self.set_sp_pc(sp, pc);
        Ok(())
    }

    /// Sets the stack pointer and the program counter (with or without the Thumb bit), as a
    /// debugger does before resuming.
    pub fn set_sp_pc(&mut self, sp: u32, pc: u32) {
        self.proc.set_sp(sp);
        self.proc.set_pc(pc & !1);
        self.proc.registers.psr.set_t(true);
        self.failed = None;
        self.lowest_sp = self.proc.registers.msp;
    }

    /// The lowest value the (main) stack pointer took since the last [`Rp2040::set_sp_pc`] or
    /// [`Rp2040::reset_lowest_sp`]: the initial SP minus this is the stack the program used.
    pub fn lowest_sp(&self) -> u32 {
        self.lowest_sp
    }

    /// Starts measuring the stack again from the current SP.
    pub fn reset_lowest_sp(&mut self) {
        self.lowest_sp = self.proc.registers.msp;
    }

    /// The program counter.
    pub fn pc(&self) -> u32 {
        self.proc.pc()
    }

    /// The stack pointer.
    pub fn sp(&self) -> u32 {
        self.proc.sp()
    }

    /// Core register `n` (0..=12; 13 = SP, 14 = LR, 15 = PC), `None` for other numbers.
    pub fn reg(&self, n: usize) -> Option<u32> {
        let r = &self.proc.registers;
        Some(match n {
            0 => r.r0,
            1 => r.r1,
            2 => r.r2,
            3 => r.r3,
            4 => r.r4,
            5 => r.r5,
            6 => r.r6,
            7 => r.r7,
            8 => r.r8,
            9 => r.r9,
            10 => r.r10,
            11 => r.r11,
            12 => r.r12,
            13 => self.proc.sp(),
            14 => r.lr,
            15 => r.pc,
            _ => return None,
        })
    }

    /// Writes SRAM as a probe does.
    pub fn write_memory(&mut self, addr: u32, data: &[u8]) -> Result<(), EmuError> {
        let at = Self::inside(addr, data.len(), SRAM_BASE, SRAM_SIZE as usize).ok_or(
            EmuError::Debug {
                addr,
                len: data.len(),
                why: "the debugger writes only SRAM (0x20000000..0x20042000)",
            },
        )?;
        self.sram.borrow_mut().data[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    /// Reads SRAM, flash contents (at 0x1000_0000.., whatever the XIP state) or the ROM.
    pub fn read_memory(&self, addr: u32, buf: &mut [u8]) -> Result<(), EmuError> {
        let len = buf.len();
        if let Some(at) = Self::inside(addr, len, SRAM_BASE, SRAM_SIZE as usize) {
            buf.copy_from_slice(&self.sram.borrow().data[at..at + len]);
        } else if let Some(at) = Self::inside(addr, len, XIP_BASE, self.flash.len()) {
            buf.copy_from_slice(&self.flash[at..at + len]);
        } else if let Some(at) = Self::inside(addr, len, ROM_BASE, self.rom.len()) {
            buf.copy_from_slice(&self.rom[at..at + len]);
        } else {
            return Err(EmuError::Debug {
                addr,
                len,
                why: "the debugger reads only SRAM, flash (0x10000000..) and the ROM",
            });
        }
        Ok(())
    }

    /// The offset of `addr..addr + len` inside region `base..base + size`, if it lies there.
    fn inside(addr: u32, len: usize, base: u32, size: usize) -> Option<usize> {
        let off = (addr as u64).checked_sub(base as u64)?;
        (off + len as u64 <= size as u64).then_some(off as usize)
    }

    /// Arms a power cut (replacing any armed one).
    pub fn set_power_cut(&mut self, cut: PowerCut) {
        self.flash_ops_since_cut_set = 0;
        self.cut = Some(match cut {
            PowerCut::AfterInstructions(n) => {
                Cut::AtInstruction(self.clock.instructions.get().saturating_add(n))
            }
            PowerCut::DuringFlashOp { index, bytes } => Cut::AtFlashOp { call: index, bytes },
        });
    }

    /// Start (or stop and drop) an instruction profile of the code run from now on: a
    /// developer's tool for the loader's speed (see [`Profile`]); it slows the emulator down.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(Box::default);
    }

    /// The instruction profile, if one is being taken.
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_deref()
    }

    /// Runs at most `limit` instructions. After an error the core stays failed (it stopped
    /// mid-instruction): `run` returns the same error until [`Rp2040::reset_and_halt`] or
    /// [`Rp2040::set_sp_pc`].
    pub fn run(&mut self, limit: u64) -> Result<Stop, EmuError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !self.powered {
            return Ok(Stop::PowerCut);
        }
        let result = match catch_unwind(AssertUnwindSafe(|| self.run_inner(limit))) {
            Ok(result) => result,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "armagnac panicked".into());
                Err(EmuError::Emulator {
                    pc: self.proc.pc(),
                    why: format!("unmodelled state: {why}"),
                })
            }
        };
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn run_inner(&mut self, limit: u64) -> Result<Stop, EmuError> {
        let clock = self.clock.clone();
        let mut count = clock.instructions.get();
        let cut_at = match self.cut {
            Some(Cut::AtInstruction(n)) => n,
            _ => u64::MAX,
        };
        let end = count.saturating_add(limit);
        loop {
            if count >= cut_at {
                self.power_off();
                return Ok(Stop::PowerCut);
            }
            if count >= end {
                return Ok(Stop::InstructionLimit);
            }
            let pc = self.proc.pc();
            if pc < bus::ROM_SIZE {
                let f = RomFn::at(pc).ok_or_else(|| EmuError::Fault {
                    pc,
                    why: if pc == rom::FAULT_STUB {
                        "the boot ROM's reset/fault path is not modelled (set SP and PC first)"
                            .into()
                    } else {
                        "execution in the boot ROM outside its modelled functions".into()
                    },
                })?;
                count += 1;
                clock.instructions.set(count);
                if let Some(stop) = self.rom_call(f)? {
                    return Ok(stop);
                }
                continue;
            }
            let stepped = self.step(pc);
            if self.profile.is_some() {
                let raw = self.sram_code((pc.wrapping_sub(SRAM_BASE) >> 1) as usize);
                let next = self.proc.pc();
                if let (Some(p), Some(raw)) = (&mut self.profile, raw) {
                    p.record(pc, raw, next, count);
                }
            }
            match stepped {
                Ok(None) => {}
                Ok(Some(imm)) => {
                    count += 1;
                    clock.instructions.set(count);
                    return Ok(Stop::Breakpoint { imm, pc });
                }
                Err(e) => return Err(self.run_error(pc, e)),
            }
            count += 1;
            clock.instructions.set(count);
            self.lowest_sp = self.lowest_sp.min(self.proc.registers.msp);
            if self.proc.registers.mode == Mode::Handler {
                return Err(EmuError::Fault {
                    pc,
                    why: "the instruction raised an exception (an unaligned access, on ARMv6-M)"
                        .into(),
                });
            }
            if !self.proc.registers.psr.t() {
                return Err(EmuError::Fault {
                    pc,
                    why: format!(
                        "branch to {:#010x} without the Thumb bit (INVSTATE)",
                        self.proc.pc()
                    ),
                });
            }
        }
    }

    /// Fetches, decodes and executes one instruction with armagnac's instruction semantics
    /// (what `Processor::step` does, without its event queue, hook scan and peripheral updates,
    /// which this chip does not use). `Some(imm)` for `bkpt #imm`.
    fn step(&mut self, pc: u32) -> Result<Option<u8>, RunError> {
        let slot = (pc.wrapping_sub(SRAM_BASE) >> 1) as usize;
        let Some(raw) = self.sram_code(slot) else {
            return self.step_uncached(pc);
        };
        if shift_candidate(raw) && self.shift_fixup(raw) {
            self.proc.set_pc(pc.wrapping_add(2));
            return Ok(None);
        }
        if !matches!(&self.icache[slot], Some(d) if d.raw == raw) {
            let ins = self.decode(raw)?;
            self.icache[slot] = Some(Decoded {
                raw,
                condition: ins.condition().unwrap_or(Condition::Always),
                ins,
            });
        }
        let Some(d) = &self.icache[slot] else {
            return Err(RunError::InstructionUnknown);
        };
        // The PC reads 4 ahead while the instruction executes.
        self.proc.set_pc(pc.wrapping_add(4));
        let effect = if self.proc.registers.psr.test(d.condition) {
            d.ins.execute(&mut self.proc)?
        } else {
            Effect::None
        };
        finish(&mut self.proc, raw, effect)
    }

    /// The encoding at SRAM halfword `slot` (both halfwords of a 32-bit one), if it is in SRAM.
    fn sram_code(&self, slot: usize) -> Option<u32> {
        if slot >= self.icache.len() {
            return None;
        }
        let sram = self.sram.borrow();
        let h = |i: usize| {
            sram.data
                .get(2 * i..2 * i + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as u32)
        };
        let hw = h(slot)?;
        if hw >> 11 >= 0b11101 {
            Some(hw << 16 | h(slot + 1)?)
        } else {
            Some(hw)
        }
    }

    /// Code outside SRAM (XIP): fetched through the bus, not cached.
    fn step_uncached(&mut self, pc: u32) -> Result<Option<u8>, RunError> {
        let hw = self.proc.read_u16le_iface(pc)? as u32;
        let raw = if hw >> 11 >= 0b11101 {
            hw << 16 | self.proc.read_u16le_iface(pc.wrapping_add(2))? as u32
        } else {
            hw
        };
        if shift_candidate(raw) && self.shift_fixup(raw) {
            self.proc.set_pc(pc.wrapping_add(2));
            return Ok(None);
        }
        let ins = self.decode(raw)?;
        self.proc.set_pc(pc.wrapping_add(4));
        let condition = ins.condition().unwrap_or(Condition::Always);
        let effect = if self.proc.registers.psr.test(condition) {
            ins.execute(&mut self.proc)?
        } else {
            Effect::None
        };
        finish(&mut self.proc, raw, effect)
    }

    /// Decodes a 16-bit (`raw <= 0xffff`) or 32-bit (first halfword high) encoding.
    fn decode(&mut self, raw: u32) -> Result<Rc<dyn Instruction>, InstructionDecodeError> {
        if raw <= 0xffff {
            return self
                .decoder
                .try_decode(raw, InstructionSize::Ins16, ItState::new());
        }
        if let Some(ins) = self.wide.get(&raw) {
            return Ok(ins.clone());
        }
        let ins = self
            .decoder
            .try_decode(raw, InstructionSize::Ins32, ItState::new())?;
        self.wide.insert(raw, ins.clone());
        Ok(ins)
    }

    /// armagnac 0.3 panics on three legal ARMv6-M shifts: `asrs rd, rm, #32`, `asrs rdn, rm` by
    /// 32 or more and `rors rdn, rm` by a nonzero multiple of 32. Those cases (and only those)
    /// are executed here, as the architecture defines them. `true` if `hw` was one.
    fn shift_fixup(&mut self, hw: u32) -> bool {
        let r = |n: u32| RegisterIndex::new_main(n & 7);
        let (rd, value, shift, ror) = if hw & 0xf800 == 0x1000 && (hw >> 6) & 0x1f == 0 {
            (r(hw), self.proc[r(hw >> 3)], 32, false) // asrs rd, rm, #32
        } else if hw & 0xffc0 == 0x4100 {
            let shift = self.proc[r(hw >> 3)] & 0xff;
            if shift < 32 {
                return false;
            }
            (r(hw), self.proc[r(hw)], shift, false) // asrs rdn, rm (>= 32)
        } else if hw & 0xffc0 == 0x41c0 {
            let shift = self.proc[r(hw >> 3)] & 0xff;
            if shift == 0 || !shift.is_multiple_of(32) {
                return false;
            }
            (r(hw), self.proc[r(hw)], shift, true) // rors rdn, rm (multiple of 32)
        } else {
            return false;
        };
        debug_assert!(shift >= 32);
        // ASR by 32 or more fills with the sign bit; ROR by a multiple of 32 keeps the value.
        // Either way the carry is bit 31.
        let result = if ror {
            value
        } else {
            ((value as i32) >> 31) as u32
        };
        self.proc.set(rd, result);
        self.proc
            .registers
            .psr
            .set_nz(result)
            .set_c(value >> 31 != 0);
        true
    }

    fn power_off(&mut self) {
        self.powered = false;
        self.cut = None;
    }

    fn run_error(&mut self, pc: u32, e: RunError) -> EmuError {
        let access = |addr: u32, size: u32, write: bool, cause: MemoryAccessError| match cause {
            MemoryAccessError::InvalidAddress => EmuError::Unmapped {
                pc,
                addr,
                size,
                write,
            },
            MemoryAccessError::ReadOnly => EmuError::ReadOnly { pc, addr, size },
            MemoryAccessError::InvalidSize | MemoryAccessError::InvalidAlignment => {
                EmuError::BadAccess {
                    pc,
                    addr,
                    size,
                    write,
                }
            }
            other => EmuError::Fault {
                pc,
                why: format!(
                    "{} of {size} byte(s) at {addr:#010x} refused: {other:?}",
                    if write { "write" } else { "read" }
                ),
            },
        };
        match e {
            RunError::MemRead {
                address,
                size,
                cause,
            } => {
                let refused = self.xip.borrow_mut().refused.take();
                if refused.is_some() && cause == MemoryAccessError::Illegal {
                    EmuError::XipNotReady {
                        pc,
                        addr: address,
                        why: self.xip.borrow().xip.off_because.to_string(),
                    }
                } else {
                    access(address, size, false, cause)
                }
            }
            RunError::MemWrite {
                address,
                size,
                cause,
                ..
            } => match self.tree.borrow_mut().refused.take() {
                Some(why) if cause == MemoryAccessError::Illegal => EmuError::Peripheral {
                    pc,
                    addr: address,
                    why,
                },
                _ => access(address, size, true, cause),
            },
            RunError::InstructionUnknown
            | RunError::InstructionUndefined
            | RunError::InstructionUnpredictable => {
                let mut hw = [0u8; 4];
                let opcode = match self.read_memory(pc, &mut hw) {
                    Ok(()) => {
                        let first = u16::from_le_bytes([hw[0], hw[1]]) as u32;
                        if first >> 11 >= 0b11101 {
                            first << 16 | u16::from_le_bytes([hw[2], hw[3]]) as u32
                        } else {
                            first
                        }
                    }
                    Err(_) => 0,
                };
                EmuError::Undefined {
                    pc,
                    opcode,
                    why: match e {
                        RunError::InstructionUnpredictable => "unpredictable",
                        _ => "undefined or unsupported (ARMv6-M, no sleep: no interrupts)",
                    },
                }
            }
            RunError::Unpredictable => EmuError::Fault {
                pc,
                why: "unpredictable execution".into(),
            },
        }
    }

    /// Performs a boot ROM function the core has just called; `Some` if the run stops.
    fn rom_call(&mut self, f: RomFn) -> Result<Option<Stop>, EmuError> {
        let r = &self.proc.registers;
        let (a0, a1, a2, a3, lr) = (r.r0, r.r1, r.r2, r.r3, r.lr);
        if lr & 1 == 0 {
            return Err(EmuError::Fault {
                pc: self.proc.pc(),
                why: format!(
                    "{} would return to {lr:#010x}, which lacks the Thumb bit",
                    f.name()
                ),
            });
        }
        let contract = |args: Vec<u32>, why: String| EmuError::RomContract {
            function: f.name(),
            args,
            why: format!("{why} (called from {:#010x})", (lr & !1).wrapping_sub(4)),
        };
        let mut stop = None;
        match f {
            RomFn::TableLookup => {
                let found = rom::table_lookup(&self.rom, a0, a1).ok_or_else(|| {
                    contract(
                        vec![a0, a1],
                        "the table does not lie in the boot ROM".into(),
                    )
                })?;
                self.proc.registers.r0 = found;
            }
            RomFn::ConnectInternalFlash => self.xip.borrow_mut().xip.connected = true,
            RomFn::FlashExitXip => {
                let mut xip = self.xip.borrow_mut();
                xip.xip.exited = xip.xip.connected;
                xip.xip.flushed = false;
                xip.xip.mapped = false;
                xip.xip.off_because = "flash_exit_xip turned XIP off; flash_flush_cache and \
                                       flash_enter_cmd_xip have not run since";
            }
            RomFn::FlashFlushCache => self.xip.borrow_mut().xip.flushed = true,
            RomFn::FlashEnterCmdXip => {
                let mut xip = self.xip.borrow_mut();
                let s = xip.xip;
                if !s.mapped {
                    xip.xip.off_because = if !s.connected {
                        "flash_enter_cmd_xip ran without connect_internal_flash before it"
                    } else if !s.exited {
                        "flash_enter_cmd_xip ran without flash_exit_xip (after \
                         connect_internal_flash) before it"
                    } else if !s.flushed {
                        "flash_enter_cmd_xip ran without flash_flush_cache after the last \
                         flash_exit_xip/erase/program"
                    } else {
                        ""
                    };
                    xip.xip.mapped = s.connected && s.exited && s.flushed;
                }
                xip.xip.connected = false;
                xip.xip.exited = false;
                xip.xip.flushed = false;
            }
            RomFn::FlashRangeErase | RomFn::FlashRangeProgram => {
                let erase = f == RomFn::FlashRangeErase;
                let args = if erase {
                    vec![a0, a1, a2, a3]
                } else {
                    vec![a0, a1, a2]
                };
                let (offset, count) = if erase { (a0, a1) } else { (a0, a2) };
                let s = self.xip.borrow().xip;
                if !s.connected {
                    return Err(contract(
                        args,
                        "connect_internal_flash has not run since reset or the last \
                         flash_enter_cmd_xip"
                            .into(),
                    ));
                }
                if !s.exited {
                    return Err(contract(
                        args,
                        "flash_exit_xip has not run after connect_internal_flash".into(),
                    ));
                }
                let unit = if erase { 4096 } else { 256 };
                if offset % unit != 0 {
                    return Err(contract(
                        args,
                        format!("offset {offset:#x} is not a multiple of {unit}"),
                    ));
                }
                if count % unit != 0 {
                    return Err(contract(
                        args,
                        format!("count {count:#x} is not a multiple of {unit}"),
                    ));
                }
                if offset as u64 + count as u64 > self.flash.len() as u64 {
                    return Err(contract(
                        args,
                        format!(
                            "{offset:#x}..{:#x} is outside the {:#x}-byte flash",
                            offset as u64 + count as u64,
                            self.flash.len()
                        ),
                    ));
                }
                if erase && !matches!((a2, a3), (4096, 0x20) | (32768, 0x52) | (65536, 0xd8)) {
                    return Err(contract(
                        args,
                        format!(
                            "block size {a2:#x} with block command {a3:#x} is not a flash erase \
                             command (4096/0x20, 32768/0x52, 65536/0xd8)"
                        ),
                    ));
                }
                let data_at = if erase {
                    0
                } else {
                    Self::inside(a1, count as usize, SRAM_BASE, SRAM_SIZE as usize).ok_or_else(
                        || {
                            contract(
                                args.clone(),
                                format!(
                                    "data {a1:#010x}..{:#010x} is not in SRAM{}",
                                    a1 as u64 + count as u64,
                                    if (XIP_BASE..0x2000_0000).contains(&a1) {
                                        " (XIP is off while programming)"
                                    } else {
                                        ""
                                    }
                                ),
                            )
                        },
                    )?
                };
                // Everything is checked: the call happens (perhaps cut short).
                let mut applied = count as usize;
                if let Some(Cut::AtFlashOp { call, bytes }) = self.cut {
                    if call == self.flash_ops_since_cut_set {
                        applied = applied.min(bytes as usize);
                        stop = Some(Stop::PowerCut);
                    }
                }
                self.flash_ops_since_cut_set += 1;
                let range = offset as usize..offset as usize + applied;
                if erase {
                    self.flash[range.clone()].fill(0xff);
                    self.erase_calls += 1;
                    let c = &self.clock.erased_bytes;
                    c.set(c.get() + applied as u64);
                    let t = &self.clock.erase_us;
                    t.set(t.get() + bus::erase_us(offset, count, applied as u32, a2));
                } else {
                    let sram = self.sram.borrow();
                    let data = &sram.data[data_at..data_at + applied];
                    for (b, d) in self.flash[range.clone()].iter_mut().zip(data) {
                        *b &= d;
                    }
                    self.program_calls += 1;
                    let c = &self.clock.programmed_bytes;
                    c.set(c.get() + applied as u64);
                }
                let mut xip = self.xip.borrow_mut();
                xip.data[range.clone()].copy_from_slice(&self.flash[range]);
                xip.xip.flushed = false;
                xip.xip.mapped = false;
                xip.xip.off_because = if erase {
                    "flash_range_erase turned XIP off; flash_flush_cache and flash_enter_cmd_xip \
                     have not run since"
                } else {
                    "flash_range_program turned XIP off; flash_flush_cache and \
                     flash_enter_cmd_xip have not run since"
                };
            }
        }
        if stop.is_some() {
            self.power_off();
        } else {
            self.proc.set_pc(lr & !1);
        }
        Ok(stop)
    }
}

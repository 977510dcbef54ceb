//! Why an emulated run stops with an error.

use core::fmt;

/// Something the program did that would misbehave or fault on a real RP2040, or a request the
/// emulator cannot serve. Every variant names the program counter or the address involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmuError {
    /// The flash image given to [`crate::Rp2040::new`] is not a possible flash chip.
    Config { why: String },
    /// The ELF given to [`crate::load_elf`] cannot be loaded into SRAM.
    Elf { why: String },
    /// The core would take a HardFault (unaligned access, an SVC, an exception entry, execution
    /// in ARM state, a jump into the boot ROM outside its functions, ...).
    Fault { pc: u32, why: String },
    /// A read of the XIP window while flash is not mapped there (see the crate documentation).
    XipNotReady { pc: u32, addr: u32, why: String },
    /// A boot ROM function called outside its contract: on the chip this misbehaves silently.
    RomContract {
        function: &'static str,
        args: Vec<u32>,
        why: String,
    },
    /// A write to the clock tree (RESETS, XOSC, PLL_SYS, CLOCKS, the watchdog tick) that would
    /// stop or glitch a clock, or be lost, on the chip.
    Peripheral { pc: u32, addr: u32, why: String },
    /// A load or store to an address where nothing is modelled.
    Unmapped {
        pc: u32,
        addr: u32,
        size: u32,
        write: bool,
    },
    /// A store to read-only memory (boot ROM, the XIP window) or a register that cannot be written.
    ReadOnly { pc: u32, addr: u32, size: u32 },
    /// An access of a size or alignment the target does not support (e.g. a byte read of a
    /// word-only peripheral register).
    BadAccess {
        pc: u32,
        addr: u32,
        size: u32,
        write: bool,
    },
    /// An undefined or unsupported instruction (including `wfi`/`wfe`/`sev`, which would sleep
    /// forever: no interrupt is modelled).
    Undefined {
        pc: u32,
        opcode: u32,
        why: &'static str,
    },
    /// A debugger access (`read_memory`/`write_memory`) outside what a probe can reach.
    Debug {
        addr: u32,
        len: usize,
        why: &'static str,
    },
    /// The emulator core itself failed (a state it does not model); the run cannot go on.
    Emulator { pc: u32, why: String },
}

impl fmt::Display for EmuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmuError::Config { why } => write!(f, "emulated RP2040: {why}"),
            EmuError::Elf { why } => write!(f, "ELF: {why}"),
            EmuError::Fault { pc, why } => write!(f, "HardFault at pc {pc:#010x}: {why}"),
            EmuError::XipNotReady { pc, addr, why } => write!(
                f,
                "XIP read of {addr:#010x} at pc {pc:#010x} while flash is not mapped: {why}"
            ),
            EmuError::RomContract {
                function,
                args,
                why,
            } => {
                write!(f, "boot ROM {function}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a:#x}")?;
                }
                write!(f, ") breaks its contract: {why}")
            }
            EmuError::Peripheral { pc, addr, why } => {
                write!(f, "write to {addr:#010x} at pc {pc:#010x} refused: {why}")
            }
            EmuError::Unmapped {
                pc,
                addr,
                size,
                write,
            } => write!(
                f,
                "{} of {size} byte(s) at unmapped address {addr:#010x} (pc {pc:#010x})",
                if *write { "write" } else { "read" }
            ),
            EmuError::ReadOnly { pc, addr, size } => write!(
                f,
                "write of {size} byte(s) to read-only address {addr:#010x} (pc {pc:#010x})"
            ),
            EmuError::BadAccess {
                pc,
                addr,
                size,
                write,
            } => write!(
                f,
                "unsupported {size}-byte {} at {addr:#010x} (pc {pc:#010x})",
                if *write { "write" } else { "read" }
            ),
            EmuError::Undefined { pc, opcode, why } => {
                write!(f, "{why} instruction {opcode:#06x} at pc {pc:#010x}")
            }
            EmuError::Debug { addr, len, why } => {
                write!(f, "debugger access of {len} byte(s) at {addr:#010x}: {why}")
            }
            EmuError::Emulator { pc, why } => {
                write!(f, "emulator failure at pc {pc:#010x}: {why}")
            }
        }
    }
}

impl std::error::Error for EmuError {}

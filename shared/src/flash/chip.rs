//! The chips `avm-jit` can put an application on, and everything that differs between them: where
//! AtomVM's rp2 port keeps its AVMs, how much flash there can be, which code variant its JIT runs,
//! how a UF2 for its boot ROM is marked, and what probe-rs calls it.
//!
//! AtomVM v0.7.0-alpha.1 builds the same rp2 port for both chips: `lib.avm` at `0x1010_0000` and
//! `main.avm` at `0x1018_0000`, the JIT cache after them up to the end of flash. What it compiles to
//! follows the core: a Cortex-M0+ (RP2040) gets `armv6m` code (variant PIC), a Cortex-M33 (RP2350's
//! ARM cores) `armv6m+thumb2` (variant PIC | THUMB2), the RP2350's Hazard3 RISC-V cores (AtomVM
//! built with `CMAKE_SYSTEM_PROCESSOR` `hazard3`) `riscv32` (architecture 4, variant PIC), at the
//! same addresses. These are different firmware ABIs: the firmware only takes native code whose
//! architecture and variant are exactly its own.
//!
//! A chip is the single parameter a flashing mode needs: [`Chip::layout`] for the addresses and
//! [`Chip::code_target`] for what to compile.

use alloc::string::String;
use core::fmt;

use super::plan::Layout;
use crate::abi::jit::code_name;
use crate::avm::Pack;
use crate::beam::Module;
use crate::compile::module::CodeTarget;
use crate::Error;

/// UF2 family ids understood by the RP2040 and RP2350 boot ROMs.
pub mod family {
    pub const RP2040: u32 = 0xE48B_FF56;
    /// Written at its absolute address whatever the partition table says.
    pub const ABSOLUTE: u32 = 0xE48B_FF57;
    /// Data (no executable image), written at its address in unpartitioned space.
    pub const DATA: u32 = 0xE48B_FF58;
    pub const RP2350_ARM_S: u32 = 0xE48B_FF59;
    pub const RP2350_RISCV: u32 = 0xE48B_FF5A;
    pub const RP2350_ARM_NS: u32 = 0xE48B_FF5B;
}

/// A chip (and so a board: the Raspberry Pi Pico or Pico 2) that `avm-jit` can flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chip {
    /// Raspberry Pi Pico (Cortex-M0+).
    Rp2040,
    /// Raspberry Pi Pico 2, ARM cores (Cortex-M33).
    Rp2350,
    /// Raspberry Pi Pico 2 running AtomVM on its RISC-V cores (Hazard3).
    Rp2350Riscv,
}

/// How a UF2 file for the chip's boot ROM is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uf2Format {
    /// The family id of every block that carries flash contents.
    pub family_id: u32,
    /// Put picotool's RP2350-E10 absolute block first (see [`super::uf2::abs_block`]).
    pub e10_abs_block: bool,
}

impl Chip {
    /// Every chip, in the order `--help` and error messages list them.
    pub const ALL: [Chip; 3] = [Chip::Rp2040, Chip::Rp2350, Chip::Rp2350Riscv];

    /// The name `--target` takes.
    pub const fn name(self) -> &'static str {
        match self {
            Chip::Rp2040 => "rp2040",
            Chip::Rp2350 => "rp2350",
            Chip::Rp2350Riscv => "rp2350-riscv",
        }
    }

    /// The board people know it by.
    pub const fn board(self) -> &'static str {
        match self {
            Chip::Rp2040 => "Raspberry Pi Pico",
            Chip::Rp2350 => "Raspberry Pi Pico 2",
            Chip::Rp2350Riscv => "Raspberry Pi Pico 2, RISC-V cores",
        }
    }

    pub fn from_name(name: &str) -> Option<Chip> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// `rp2040 (Raspberry Pi Pico), rp2350 (Raspberry Pi Pico 2)`, for messages.
    pub fn list() -> String {
        let mut out = String::new();
        for (i, chip) in Self::ALL.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(chip.name());
            out.push_str(" (");
            out.push_str(chip.board());
            out.push(')');
        }
        out
    }

    /// The flash of the board's usual module: 2 MiB on the Pico, 4 MiB on the Pico 2.
    pub const fn default_flash_size(self) -> u32 {
        match self {
            Chip::Rp2040 => 2 << 20,
            Chip::Rp2350 | Chip::Rp2350Riscv => 4 << 20,
        }
    }

    /// The most flash the chip maps at `0x1000_0000`: the 16 MiB XIP window of the RP2040, and of
    /// the RP2350's first QSPI chip select.
    pub const fn max_flash_size(self) -> u32 {
        16 << 20
    }

    /// AtomVM v0.7.0-alpha.1's layout on this chip with its default flash size.
    pub const fn default_layout(self) -> Layout {
        // AtomVM's rp2 port uses the same addresses on both chips and both RP2350 architectures.
        Layout {
            flash_base: Layout::RP2040_FLASH_BASE,
            flash_size: self.default_flash_size(),
            lib_address: 0x1010_0000,
            main_address: 0x1018_0000,
        }
    }

    /// The layout with `flash_size` bytes of flash (the default when `None`), refused when the
    /// chip cannot map that much.
    pub fn layout(self, flash_size: Option<u32>) -> Result<Layout, ChipError> {
        let size = flash_size.unwrap_or(self.default_flash_size());
        if size > self.max_flash_size() {
            return Err(ChipError::FlashTooLarge { chip: self, size });
        }
        Ok(Layout {
            flash_size: size,
            ..self.default_layout()
        })
    }

    /// The code variant AtomVM's firmware for this chip runs.
    pub const fn code_target(self) -> CodeTarget {
        match self {
            Chip::Rp2040 => CodeTarget::Armv6m,
            Chip::Rp2350 => CodeTarget::Armv6mThumb2,
            Chip::Rp2350Riscv => CodeTarget::Riscv32,
        }
    }

    /// UF2 marking as AtomVM's tooling (uf2tool, rebar3 and mix `uf2create`) writes AVMs: family
    /// RP2040 for the Pico, DATA for the Pico 2, whose boot ROM writes DATA blocks at their address
    /// in unpartitioned flash whatever architecture runs; so the Pico 2 gets DATA on its RISC-V cores
    /// too (an AVM is not an executable image, and the `RP2350_RISCV` family is for those). Pico 2
    /// files also start with picotool's RP2350-E10 block.
    pub const fn uf2(self) -> Uf2Format {
        match self {
            Chip::Rp2040 => Uf2Format {
                family_id: family::RP2040,
                e10_abs_block: false,
            },
            Chip::Rp2350 | Chip::Rp2350Riscv => Uf2Format {
                family_id: family::DATA,
                e10_abs_block: true,
            },
        }
    }

    /// The family the chip's boot ROM takes for an executable image (what picotool writes for a
    /// program): RP2040, RP2350-ARM-S or RP2350-RISC-V. [`Chip::uf2`] is what AtomVM's tooling
    /// writes for AVMs; `flash --uf2-family code` picks this one instead.
    pub const fn uf2_code_family(self) -> u32 {
        match self {
            Chip::Rp2040 => family::RP2040,
            Chip::Rp2350 => family::RP2350_ARM_S,
            Chip::Rp2350Riscv => family::RP2350_RISCV,
        }
    }

    /// The `avmN` architecture number of the chip's code (AtomVM's `JIT_ARCH_*`).
    pub fn native_arch(self) -> u16 {
        self.code_target().arch()
    }

    /// probe-rs 0.32's name for the chip (its built-in target).
    pub const fn probe_target(self) -> &'static str {
        match self {
            Chip::Rp2040 => "RP2040",
            Chip::Rp2350 => "RP235x",
            Chip::Rp2350Riscv => "RP235x_riscv",
        }
    }

    /// Whether probe-rs 0.32 can write this chip's flash. Its `RP235x_riscv` target attaches to the
    /// Hazard3 cores but has no flash algorithm (the RP235x one is ARM code), so it cannot.
    pub const fn probe_can_flash(self) -> bool {
        !matches!(self, Chip::Rp2350Riscv)
    }

    /// Check that every precompiled module of an AVM (one with an `avmN` chunk) carries code this
    /// chip's firmware runs: an entry for its architecture with exactly its variant. Modules without native
    /// code are fine (AtomVM compiles them). Nothing is allocated per module.
    pub fn check_native_code(self, avm: &[u8]) -> Result<(), ChipError> {
        let pack = Pack::parse(avm).map_err(ChipError::Avm)?;
        let (arch, variant) = (self.native_arch(), self.code_target().variant());
        for section in pack.modules() {
            let Ok(module) = Module::parse(section.data) else {
                continue;
            };
            let native = match module.native() {
                Ok(Some(native)) => native,
                Ok(None) => continue,
                Err(e) => return Err(ChipError::Avm(e.rebase(section.data_offset))),
            };
            if native
                .arches()
                .any(|a| a.arch == arch && a.variant == variant)
            {
                continue;
            }
            let found = native.arches().next().map(|a| (a.arch, a.variant));
            let offset = module
                .chunk(*b"avmN")
                .map_or(0, |c| c.offset)
                .saturating_add(section.data_offset);
            return Err(ChipError::WrongVariant {
                chip: self,
                module: String::from_utf8_lossy(section.name).into(),
                offset,
                found,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Chip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an AVM or a flash size does not suit a chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChipError {
    /// More flash than the chip maps.
    FlashTooLarge { chip: Chip, size: u32 },
    /// The AVM (or a module's `avmN` chunk) is damaged.
    Avm(Error),
    /// A precompiled module has no code for this chip's firmware.
    WrongVariant {
        chip: Chip,
        module: String,
        /// File offset of the module's `avmN` chunk.
        offset: usize,
        /// Its first (architecture, variant) entry, if it has any.
        found: Option<(u16, u16)>,
    },
}

impl fmt::Display for ChipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChipError::FlashTooLarge { chip, size } => write!(
                f,
                "flash size {size:#x} is larger than the {} MiB the {} maps",
                chip.max_flash_size() >> 20,
                chip.board()
            ),
            ChipError::Avm(e) => write!(f, "{e}"),
            ChipError::WrongVariant {
                chip,
                module,
                offset,
                found,
            } => {
                let name = found.map(|(arch, variant)| code_name(arch, variant));
                let found: &dyn fmt::Display = match &name {
                    Some(name) => name,
                    None => &"no code entry",
                };
                write!(
                    f,
                    "module {module} carries {found} native code (avmN chunk at offset {offset:#x}), \
                     but AtomVM on the {} ({chip}) runs {} code only; recompile it with \
                     `avm-jit compile --target {}`, or flash with --mode aot",
                    chip.board(),
                    chip.code_target().name(),
                    chip.code_target().name()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_list_every_chip() {
        for chip in Chip::ALL {
            assert_eq!(Chip::from_name(chip.name()), Some(chip));
        }
        assert_eq!(Chip::from_name("armv6m"), None);
        assert_eq!(Chip::from_name("riscv32"), None);
        assert_eq!(Chip::from_name("rp2350-riscv"), Some(Chip::Rp2350Riscv));
        assert_eq!(
            Chip::list(),
            "rp2040 (Raspberry Pi Pico), rp2350 (Raspberry Pi Pico 2), \
             rp2350-riscv (Raspberry Pi Pico 2, RISC-V cores)"
        );
    }

    #[test]
    fn layouts_and_limits() {
        let pico = Chip::Rp2040.layout(None).unwrap();
        assert_eq!(pico, Layout::rp2040());
        let pico2 = Chip::Rp2350.layout(None).unwrap();
        assert_eq!(pico2.flash_size, 4 << 20);
        assert_eq!(
            (pico2.flash_base, pico2.lib_address, pico2.main_address),
            (0x1000_0000, 0x1010_0000, 0x1018_0000)
        );
        assert_eq!(
            Chip::Rp2350.layout(Some(16 << 20)).unwrap().flash_end(),
            0x1100_0000
        );
        assert_eq!(
            Chip::Rp2350.layout(Some(32 << 20)),
            Err(ChipError::FlashTooLarge {
                chip: Chip::Rp2350,
                size: 32 << 20
            })
        );
        assert_eq!(Chip::Rp2040.code_target(), CodeTarget::Armv6m);
        assert_eq!(Chip::Rp2350.code_target(), CodeTarget::Armv6mThumb2);
        assert_eq!(Chip::Rp2350Riscv.layout(None), Chip::Rp2350.layout(None));
        assert_eq!(Chip::Rp2350Riscv.code_target(), CodeTarget::Riscv32);
        assert_eq!(
            (Chip::Rp2040.native_arch(), Chip::Rp2350.native_arch()),
            (3, 3)
        );
        assert_eq!(Chip::Rp2350Riscv.native_arch(), 4);
        assert_eq!(Chip::Rp2350Riscv.uf2(), Chip::Rp2350.uf2());
        assert!(!Chip::Rp2350Riscv.probe_can_flash() && Chip::Rp2350.probe_can_flash());
    }
}

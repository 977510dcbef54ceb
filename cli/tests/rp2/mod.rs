//! Facts the end-to-end tests check flash images and UF2 files against, written down here once
//! and independently of the code under test: AtomVM v0.7.0-alpha.1's rp2 port
//! (src/platforms/rp2/src/main.c: the same addresses on the RP2040 and the RP2350) and the Pico
//! SDK's boot/uf2.h (family ids), picotool's RP2350-E10 block.

#![allow(dead_code)]

pub const FLASH_BASE: u32 = 0x1000_0000;
/// Where the firmware looks for lib.avm.
pub const LIB: u32 = 0x1010_0000;
/// Where the firmware looks for main.avm.
pub const MAIN: u32 = 0x1018_0000;
/// The Pico 2's flash.
pub const PICO2_FLASH: usize = 4 << 20;

pub const FAMILY_RP2040: u32 = 0xE48B_FF56;
pub const FAMILY_ABSOLUTE: u32 = 0xE48B_FF57;
pub const FAMILY_DATA: u32 = 0xE48B_FF58;
pub const FLAG_FAMILY_ID_PRESENT: u32 = 0x2000;
pub const FLAG_EXTENSION_FLAGS_PRESENT: u32 = 0x8000;
pub const EXTENSION_RP2_IGNORE_BLOCK: u32 = 0x9957_E304;

/// The image offset of a flash address.
pub fn off(addr: u32) -> usize {
    (addr - FLASH_BASE) as usize
}

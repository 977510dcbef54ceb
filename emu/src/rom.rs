//! The boot ROM image: the RP2040's public header (magic, table pointers) and one two-byte stub
//! per modelled function, whose execution the run loop traps and performs in Rust.

use crate::bus::{ROM_SIZE, SRAM_BASE, SRAM_SIZE};

/// A function of the boot ROM that the emulator performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RomFn {
    TableLookup,
    ConnectInternalFlash,
    FlashExitXip,
    FlashRangeErase,
    FlashRangeProgram,
    FlashFlushCache,
    FlashEnterCmdXip,
}

/// Where the stubs live (each is `bx lr`; the run loop never lets the core execute them).
const STUBS: u32 = 0x100;
/// Unused vectors (reset, NMI, HardFault) point here; `b .`.
pub(crate) const FAULT_STUB: u32 = 0x180;
const FUNC_TABLE: u32 = 0x200;
const DATA_TABLE: u32 = 0x280;
/// RP2040-B2's ROM version byte.
const ROM_VERSION: u8 = 3;

/// (function, its two-letter code) in table order; the table lookup itself has no code.
const FUNCS: [(RomFn, [u8; 2]); 6] = [
    (RomFn::ConnectInternalFlash, *b"IF"),
    (RomFn::FlashExitXip, *b"EX"),
    (RomFn::FlashRangeErase, *b"RE"),
    (RomFn::FlashRangeProgram, *b"RP"),
    (RomFn::FlashFlushCache, *b"FC"),
    (RomFn::FlashEnterCmdXip, *b"CX"),
];

impl RomFn {
    fn stub(self) -> u32 {
        let index = match self {
            RomFn::TableLookup => 0,
            RomFn::ConnectInternalFlash => 1,
            RomFn::FlashExitXip => 2,
            RomFn::FlashRangeErase => 3,
            RomFn::FlashRangeProgram => 4,
            RomFn::FlashFlushCache => 5,
            RomFn::FlashEnterCmdXip => 6,
        };
        STUBS + 4 * index
    }

    /// The function at a (Thumb-bit-free) stub address.
    pub(crate) fn at(pc: u32) -> Option<RomFn> {
        if !(STUBS..FAULT_STUB).contains(&pc) || !pc.is_multiple_of(4) {
            return None;
        }
        [
            RomFn::TableLookup,
            RomFn::ConnectInternalFlash,
            RomFn::FlashExitXip,
            RomFn::FlashRangeErase,
            RomFn::FlashRangeProgram,
            RomFn::FlashFlushCache,
            RomFn::FlashEnterCmdXip,
        ]
        .into_iter()
        .find(|f| f.stub() == pc)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            RomFn::TableLookup => "rom_table_lookup",
            RomFn::ConnectInternalFlash => "connect_internal_flash",
            RomFn::FlashExitXip => "flash_exit_xip",
            RomFn::FlashRangeErase => "flash_range_erase",
            RomFn::FlashRangeProgram => "flash_range_program",
            RomFn::FlashFlushCache => "flash_flush_cache",
            RomFn::FlashEnterCmdXip => "flash_enter_cmd_xip",
        }
    }
}

fn put16(rom: &mut [u8], at: u32, v: u16) {
    rom[at as usize..at as usize + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(rom: &mut [u8], at: u32, v: u32) {
    rom[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
}

/// The 16 KiB ROM image.
pub(crate) fn image() -> Vec<u8> {
    let mut rom = vec![0u8; ROM_SIZE as usize];
    // Vector table head (as on the chip, only SP, reset, NMI and HardFault precede the header).
    put32(&mut rom, 0x00, SRAM_BASE + SRAM_SIZE);
    for v in [0x04, 0x08, 0x0c] {
        put32(&mut rom, v, FAULT_STUB | 1);
    }
    rom[0x10..0x14].copy_from_slice(&[b'M', b'u', 1, ROM_VERSION]);
    put16(&mut rom, 0x14, FUNC_TABLE as u16);
    put16(&mut rom, 0x16, DATA_TABLE as u16);
    put16(&mut rom, 0x18, (RomFn::TableLookup.stub() | 1) as u16);
    for f in [RomFn::TableLookup]
        .into_iter()
        .chain(FUNCS.iter().map(|(f, _)| *f))
    {
        put16(&mut rom, f.stub(), 0x4770); // bx lr
    }
    put16(&mut rom, FAULT_STUB, 0xe7fe); // b .
    let mut at = FUNC_TABLE;
    for (f, code) in FUNCS {
        put16(&mut rom, at, u16::from_le_bytes(code));
        put16(&mut rom, at + 2, (f.stub() | 1) as u16);
        at += 4;
    }
    // Both tables end with a zero code; the data table holds nothing the loader needs.
    put16(&mut rom, at, 0);
    put16(&mut rom, DATA_TABLE, 0);
    rom
}

/// `rom_table_lookup(table, code)`: walks {code, pointer} u16 pairs in ROM up to a zero code.
/// `None` when the table pointer does not stay inside the ROM.
pub(crate) fn table_lookup(rom: &[u8], table: u32, code: u32) -> Option<u32> {
    let mut at = table as usize;
    loop {
        let entry = rom.get(at..at + 4)?;
        let c = u16::from_le_bytes([entry[0], entry[1]]) as u32;
        if c == 0 {
            return Some(0);
        }
        if c == code {
            return Some(u16::from_le_bytes([entry[2], entry[3]]) as u32);
        }
        at += 4;
    }
}

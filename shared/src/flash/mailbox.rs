//! The device loader's mailbox: how the host and the loader running in the RP2040's SRAM talk.
//!
//! The host only reads and writes SRAM and starts/halts the core (a debug probe or the emulator can
//! both do that), so the whole protocol is this block of little-endian `u32` words at
//! [`MAILBOX_ADDR`]. Shared here so that the loader (`device-loader/`) and the host driver
//! (`cli/src/device/loader.rs`) cannot disagree about an offset.
//!
//! Protocol (version [`VERSION`]):
//! 1. The host writes the loader's segments into SRAM, then the mailbox: [`MAGIC`], [`VERSION`],
//!    the command words (AVM addresses, cache bounds, code target, flags) and one input record per
//!    module to compile ([`REC_AVM`], [`REC_SECTION`]: which AVM and the offset of the module's
//!    section in it), in the order the entries must be written; `state` = [`STATE_IDLE`].
//! 2. The host sets SP and PC from the ELF and runs the core. The loader checks magic and version,
//!    sets `state` = [`STATE_RUNNING`], and for each record: `current` = its index, the module's name
//!    in [`NAME`], then compiles it into the next cache entry and fills the record's results.
//! 3. With [`FLAG_MORE`] set, after the last record the loader sets [`STATE_BATCH_DONE`] and stops at
//!    `bkpt #1`; the host reads the results, writes the next records and `count`, sets
//!    [`STATE_RUNNING`] and resumes. Otherwise, with [`FLAG_MARK_VALID`], it programs `end` → `END`
//!    in every AVM given (after the last entry is complete), sets [`STATE_DONE`] and stops at `bkpt #0`.
//! 4. On a fatal error (bad command, cache region too small, flash error, panic, out of memory) it
//!    fills the error words and [`ERROR_TEXT`], sets [`STATE_ERROR`] and stops at `bkpt #2`. Nothing
//!    is marked valid then.
//!
//! A module that cannot be compiled gets [`MOD_FAILED`] with the compile error's kind, file offset
//! (inside the module's BEAM), opcode, label, function (atom index) and arity, and no entry; the
//! loader goes on with the next one.

use crate::compile::module::CodeTarget;

/// Where the mailbox lives: SRAM banks 4 and 5, the last 8 KiB of SRAM (the loader's image, heap
/// and stack use the 256 KiB below).
pub const MAILBOX_ADDR: u32 = 0x2004_0000;
pub const MAILBOX_SIZE: u32 = 0x2000;
/// `AVMJ` as a little-endian word.
pub const MAGIC: u32 = u32::from_le_bytes(*b"AVMJ");
pub const VERSION: u32 = 1;

// Header words (byte offsets from MAILBOX_ADDR).
pub const OFF_MAGIC: usize = 0x00;
pub const OFF_VERSION: usize = 0x04;
pub const OFF_STATE: usize = 0x08;
/// Flash address of lib.avm, 0 when none.
pub const OFF_LIB: usize = 0x0C;
/// Flash address of main.avm.
pub const OFF_MAIN: usize = 0x10;
pub const OFF_CACHE_START: usize = 0x14;
pub const OFF_CACHE_END: usize = 0x18;
/// The code to generate: [`TARGET_ARMV6M`] or [`TARGET_ARMV6M_THUMB2`].
pub const OFF_TARGET: usize = 0x1C;
pub const OFF_FLAGS: usize = 0x20;
/// Records in this batch.
pub const OFF_COUNT: usize = 0x24;
/// Flash size (bytes from 0x1000_0000).
pub const OFF_FLASH_SIZE: usize = 0x28;
/// Where the first entry of this run goes (inside the cache region); 0 = the region's start. A
/// host restarting the loader after a module that ran out of memory continues there.
pub const OFF_FIRST_ENTRY: usize = 0x2C;

// Status words, written by the loader.
/// Index of the record being compiled.
pub const OFF_CURRENT: usize = 0x40;
/// Bytes of entries (headers and code) written so far.
pub const OFF_BYTES_WRITTEN: usize = 0x44;
/// Where the next entry goes.
pub const OFF_NEXT_ENTRY: usize = 0x48;
/// Heap the loader has (bytes between its image and its stack).
pub const OFF_HEAP_SIZE: usize = 0x4C;
pub const OFF_PEAK_HEAP: usize = 0x50;
pub const OFF_PEAK_STACK: usize = 0x54;
pub const OFF_ERASES: usize = 0x58;
pub const OFF_PROGRAMS: usize = 0x5C;
/// Microseconds spent in the boot ROM's erase/program calls (TIMERAWL).
pub const OFF_FLASH_US: usize = 0x60;
/// Microseconds from start to now (TIMERAWL).
pub const OFF_TOTAL_US: usize = 0x64;
pub const OFF_ERROR_KIND: usize = 0x68;
/// The address or size the error concerns.
pub const OFF_ERROR_ARG: usize = 0x6C;
pub const ERROR_TEXT: usize = 0x80;
pub const ERROR_TEXT_LEN: usize = 0x80;
/// Name of the module being compiled (NUL-terminated, truncated).
pub const NAME: usize = 0x100;
pub const NAME_LEN: usize = 0x40;

/// The module records.
pub const RECORDS: usize = 0x200;
pub const RECORD_SIZE: usize = 0x50;
pub const MAX_RECORDS: usize = (MAILBOX_SIZE as usize - RECORDS) / RECORD_SIZE;

// Record words (byte offsets from the record).
/// In: 0 = main.avm, 1 = lib.avm.
pub const REC_AVM: usize = 0x00;
/// In: offset of the module's section in its AVM.
pub const REC_SECTION: usize = 0x04;
pub const REC_STATUS: usize = 0x08;
pub const REC_ENTRY: usize = 0x0C;
pub const REC_NATIVE: usize = 0x10;
pub const REC_LABELS: usize = 0x14;
/// Microseconds for the whole module, flash included.
pub const REC_US: usize = 0x18;
pub const REC_FLASH_US: usize = 0x1C;
pub const REC_ERASES: usize = 0x20;
pub const REC_PROGRAMS: usize = 0x24;
pub const REC_PEAK_HEAP: usize = 0x28;
pub const REC_PEAK_STACK: usize = 0x2C;
pub const REC_ERR_KIND: usize = 0x30;
/// `u32::MAX` when the error is at no particular offset.
pub const REC_ERR_OFFSET: usize = 0x34;
/// `u32::MAX` when none.
pub const REC_ERR_OPCODE: usize = 0x38;
pub const REC_ERR_LABEL: usize = 0x3C;
pub const REC_ERR_FUNCTION: usize = 0x40;
pub const REC_ERR_ARITY: usize = 0x44;

pub const STATE_IDLE: u32 = 0;
pub const STATE_RUNNING: u32 = 1;
pub const STATE_DONE: u32 = 2;
pub const STATE_ERROR: u32 = 3;
pub const STATE_BATCH_DONE: u32 = 4;

/// `OFF_TARGET` values: [`CodeTarget::Armv6m`] (RP2040) and [`CodeTarget::Armv6mThumb2`].
pub const TARGET_ARMV6M: u32 = 0;
pub const TARGET_ARMV6M_THUMB2: u32 = 1;

/// The `OFF_TARGET` word asking for `target`'s code; `None` for a target the loader never
/// generates (it runs on an Arm core).
pub fn target_word(target: CodeTarget) -> Option<u32> {
    match target {
        CodeTarget::Armv6m => Some(TARGET_ARMV6M),
        CodeTarget::Armv6mThumb2 => Some(TARGET_ARMV6M_THUMB2),
        CodeTarget::Riscv32 => None,
    }
}

/// The code target an `OFF_TARGET` word asks for (`None` for an unknown number).
pub fn code_target(word: u32) -> Option<CodeTarget> {
    match word {
        TARGET_ARMV6M => Some(CodeTarget::Armv6m),
        TARGET_ARMV6M_THUMB2 => Some(CodeTarget::Armv6mThumb2),
        _ => None,
    }
}

pub const FLAG_MARK_VALID: u32 = 1;
pub const FLAG_MORE: u32 = 2;

pub const BKPT_DONE: u8 = 0;
pub const BKPT_BATCH: u8 = 1;
pub const BKPT_ERROR: u8 = 2;

pub const MOD_PENDING: u32 = 0;
pub const MOD_RUNNING: u32 = 1;
pub const MOD_OK: u32 = 2;
pub const MOD_FAILED: u32 = 3;

/// Fatal error kinds (`OFF_ERROR_KIND`).
pub const ERR_NONE: u32 = 0;
pub const ERR_COMMAND: u32 = 1;
pub const ERR_CACHE_FULL: u32 = 2;
pub const ERR_FLASH: u32 = 3;
pub const ERR_PANIC: u32 = 4;
pub const ERR_OUT_OF_MEMORY: u32 = 5;

/// Module error kinds (`REC_ERR_KIND`).
pub const MERR_BEAM: u32 = 1;
pub const MERR_HEADER: u32 = 2;
pub const MERR_OPCODE: u32 = 3;
pub const MERR_OPERAND: u32 = 4;
pub const MERR_BACKEND: u32 = 5;
pub const MERR_END: u32 = 6;
pub const MERR_SINK: u32 = 7;
pub const MERR_NOT_A_MODULE: u32 = 8;
/// The core ran out of heap on the module and returned the error (no panic, no restart).
pub const MERR_OUT_OF_MEMORY: u32 = 9;

/// A description of a module error kind, for messages.
pub fn module_error_text(kind: u32) -> &'static str {
    match kind {
        MERR_BEAM => "malformed BEAM",
        MERR_HEADER => "bad Code chunk header",
        MERR_OPCODE => "unsupported opcode",
        MERR_OPERAND => "bad operand",
        MERR_BACKEND => "backend error",
        MERR_END => "code does not end with int_call_end",
        MERR_SINK => "flash write failed",
        MERR_NOT_A_MODULE => "not a BEAM module section",
        MERR_OUT_OF_MEMORY => "out of memory",
        _ => "unknown error",
    }
}

/// A little-endian word of a mailbox image (`None` past its end).
pub fn word(bytes: &[u8], offset: usize) -> Option<u32> {
    let b = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Store a little-endian word into a mailbox image (ignored past its end).
pub fn set_word(bytes: &mut [u8], offset: usize, value: u32) {
    if let Some(b) = offset
        .checked_add(4)
        .and_then(|end| bytes.get_mut(offset..end))
    {
        b.copy_from_slice(&value.to_le_bytes());
    }
}

/// The NUL-terminated text at `offset..offset+len`.
pub fn text(bytes: &[u8], offset: usize, len: usize) -> &[u8] {
    let field = bytes.get(offset..offset.saturating_add(len)).unwrap_or(&[]);
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_fits_and_words_round_trip() {
        const { assert!(RECORDS + MAX_RECORDS * RECORD_SIZE <= MAILBOX_SIZE as usize) };
        const { assert!(REC_ERR_ARITY + 4 <= RECORD_SIZE) };
        const { assert!(NAME + NAME_LEN <= RECORDS) };
        assert_eq!(MAILBOX_ADDR + MAILBOX_SIZE, 0x2004_2000);
        let mut m = [0u8; 16];
        set_word(&mut m, 4, 0x1234_5678);
        assert_eq!(word(&m, 4), Some(0x1234_5678));
        assert_eq!(word(&m, 14), None);
        set_word(&mut m, 14, 1);
        m[8..11].copy_from_slice(b"abc");
        assert_eq!(text(&m, 8, 8), b"abc");
    }

    #[test]
    fn code_targets_round_trip() {
        for target in [CodeTarget::Armv6m, CodeTarget::Armv6mThumb2] {
            let word = target_word(target).expect("an Arm target has a number");
            assert_eq!(code_target(word), Some(target));
        }
        assert_eq!(target_word(CodeTarget::Riscv32), None);
        assert_eq!(code_target(2), None);
    }
}

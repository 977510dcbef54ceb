//! Reading armv6m native code back: where the jump table, the code, the label-0 stub and the
//! labels and lines tables of an `avmN` armv6m entry are (for `disasm`, `compare`, `info` and tests).
//!
//! A Thumb-1 jump-table entry ends with the 32-bit distance its `add pc, r3` (at +4, reading pc as
//! +8) adds; a Thumb-2 entry is a `b.w` at +2. Label 0 is the stub `adr r0, tables; pop {...}`
//! (then padding to align the tables).

use crate::beam::compact::array_at;
use crate::error::{Error, Result};
use crate::isa::CodeTarget;
use crate::native::{ArchEntry, CodeLayout, Native};

use super::{JUMP_TABLE_ENTRY_SIZE, JUMP_TABLE_ENTRY_SIZE_THUMB2};

fn le_u16(b: &[u8], at: usize) -> Result<u16> {
    array_at(b, at).map(u16::from_le_bytes)
}

fn le_i32(b: &[u8], at: usize) -> Result<i32> {
    array_at(b, at).map(i32::from_le_bytes)
}

/// The layout of the armv6m entry `arch` of `native`, whose code variant is `target` (Thumb-2
/// jump table or not; see [`CodeTarget::from_arch_variant`]).
pub fn code_layout(
    native: &Native<'_>,
    arch: &ArchEntry,
    target: CodeTarget,
) -> Result<CodeLayout> {
    let b = native.bytes;
    let thumb2 = target == CodeTarget::Armv6mThumb2;
    let entry = if thumb2 {
        JUMP_TABLE_ENTRY_SIZE_THUMB2
    } else {
        JUMP_TABLE_ENTRY_SIZE
    };
    let jump_table = native.data_start() + arch.offset as usize;
    let entries = native.labels_count as usize + 1;
    let code_start = entries
        .checked_mul(entry)
        .and_then(|n| n.checked_add(jump_table))
        .filter(|&end| end <= b.len())
        .ok_or_else(|| Error::invalid(4, "avmN label count", native.labels_count.into()))?;
    let label0 = entry_target(b, jump_table, thumb2, 0)?;
    let adr = le_u16(b, label0)?;
    if adr & 0xF800 != 0xA000 {
        return Err(Error::invalid(label0, "label 0 stub", adr.into()));
    }
    let tables_start = (label0 + 4) & !3;
    let tables_start = tables_start + ((adr & 0xFF) as usize * 4).saturating_sub(4);
    let (lines_at, end) = crate::native::tables_after(b, tables_start)?;
    Ok(CodeLayout {
        target,
        jump_table,
        code_start,
        label0,
        labels_at: tables_start,
        lines_at,
        end,
    })
}

/// Offset of `label` (0..=labels_count) according to the jump table of `layout`.
pub fn label_offset(native: &Native<'_>, layout: &CodeLayout, label: u32) -> Result<usize> {
    if label > native.labels_count {
        return Err(Error::invalid(4, "label", label.into()));
    }
    let thumb2 = layout.target == CodeTarget::Armv6mThumb2;
    entry_target(native.bytes, layout.jump_table, thumb2, label)
}

/// Where the jump-table entry of `label` jumps.
fn entry_target(b: &[u8], jump_table: usize, thumb2: bool, label: u32) -> Result<usize> {
    if thumb2 {
        let at = jump_table + JUMP_TABLE_ENTRY_SIZE_THUMB2 * label as usize + 2;
        let hi = le_u16(b, at)? as u32;
        let lo = le_u16(b, at + 2)? as u32;
        let s = (hi >> 10) & 1;
        let j1 = (lo >> 13) & 1;
        let j2 = (lo >> 11) & 1;
        let i1 = !(j1 ^ s) & 1;
        let i2 = !(j2 ^ s) & 1;
        let imm = (s << 24) | (i1 << 23) | (i2 << 22) | ((hi & 0x3FF) << 12) | ((lo & 0x7FF) << 1);
        let imm = ((imm << 7) as i32) >> 7;
        target(b, at as i64 + 4 + imm as i64, at)
    } else {
        let entry = jump_table + JUMP_TABLE_ENTRY_SIZE * label as usize;
        let rel = le_i32(b, entry + 8)?;
        // The entry's `add pc, r3` sits at +4 and reads pc as +8; bit 0 is the Thumb bit.
        target(b, entry as i64 + 8 + rel as i64 - 1, entry + 8)
    }
}

fn target(b: &[u8], t: i64, at: usize) -> Result<usize> {
    if t < 0 || t as usize >= b.len() {
        return Err(Error::invalid(at, "branch target", t as u64));
    }
    Ok(t as usize)
}

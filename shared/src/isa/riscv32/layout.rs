//! Reading riscv32 native code back: where the jump table, the code, the label-0 stub and the
//! labels and lines tables of an `avmN` riscv32 entry are (for `disasm`, `compare` and tests).
//!
//! A jump-table entry is `auipc a3, hi; jalr zero, lo(a3)` (or `c.jr a3; c.nop` when lo = 0)
//! and reaches its label at entry + hi + lo; label 0 is the stub `auipc a0, hi; addi a0, a0,
//! lo; ret` (+ `ff ff`) whose a0 is the start of the tables.

use crate::beam::compact::array_at;
use crate::error::{Error, Result};
use crate::native::{ArchEntry, CodeLayout, Native};

use super::JUMP_TABLE_ENTRY_SIZE;

const OP_AUIPC: u32 = 0x17;
const OP_JALR: u32 = 0x67;
const OP_ADDI: u32 = 0x13;
/// `c.jr a3`.
const C_JR_A3: u16 = 0x8682;
/// x13 (a3) and x10 (a0) in the rd/rs1 fields.
const A3: u32 = 13;
const A0: u32 = 10;

fn le_u32(b: &[u8], at: usize) -> Result<u32> {
    array_at(b, at).map(u32::from_le_bytes)
}

fn le_u16(b: &[u8], at: usize) -> Result<u16> {
    array_at(b, at).map(u16::from_le_bytes)
}

/// `auipc reg, hi` at `at`: hi << 12 (sign-extended).
fn auipc(b: &[u8], at: usize, reg: u32, what: &'static str) -> Result<i64> {
    let w = le_u32(b, at)?;
    if w & 0x7F != OP_AUIPC || (w >> 7) & 0x1F != reg {
        return Err(Error::invalid(at, what, w.into()));
    }
    Ok(i64::from((w & 0xFFFF_F000) as i32))
}

/// The signed 12-bit I-type immediate.
fn i_imm(w: u32) -> i64 {
    i64::from((w as i32) >> 20)
}

/// Where jump-table entry `at` jumps.
fn entry_target(b: &[u8], at: usize) -> Result<usize> {
    let hi = auipc(b, at, A3, "riscv32 jump table entry")?;
    let lo = if le_u16(b, at + 4)? == C_JR_A3 {
        0
    } else {
        let w = le_u32(b, at + 4)?;
        if w & 0x7F != OP_JALR || (w >> 15) & 0x1F != A3 || (w >> 7) & 0x1F != 0 {
            return Err(Error::invalid(at + 4, "riscv32 jump table entry", w.into()));
        }
        i_imm(w)
    };
    target(b, at, hi + lo)
}

fn target(b: &[u8], at: usize, rel: i64) -> Result<usize> {
    let t = at as i64 + rel;
    if t < 0 || t as usize >= b.len() {
        return Err(Error::invalid(at, "branch target", t as u64));
    }
    Ok(t as usize)
}

/// The layout of the riscv32 entry `arch` of `native`.
pub fn code_layout(native: &Native<'_>, arch: &ArchEntry) -> Result<CodeLayout> {
    let b = native.bytes;
    let jump_table = native.data_start() + arch.offset as usize;
    let entries = native.labels_count as usize + 1;
    let code_start = entries
        .checked_mul(JUMP_TABLE_ENTRY_SIZE)
        .and_then(|n| n.checked_add(jump_table))
        .filter(|&end| end <= b.len())
        .ok_or_else(|| Error::invalid(4, "avmN label count", native.labels_count.into()))?;
    let label0 = entry_target(b, jump_table)?;
    // The stub: `auipc a0, hi` then `addi a0, a0, lo` (`c.addi` or 32-bit), or nothing.
    let hi = auipc(b, label0, A0, "label 0 stub")?;
    let next = le_u16(b, label0 + 4)?;
    let lo = if next & 3 != 3 {
        // c.addi a0, imm: funct3 000, op 01, rd = a0.
        if next & 0xE003 != 0x0001 || u32::from((next >> 7) & 0x1F) != A0 {
            0
        } else {
            let imm = i64::from(((next >> 2) & 0x1F) | ((next >> 7) & 0x20));
            if imm >= 32 {
                imm - 64
            } else {
                imm
            }
        }
    } else {
        let w = le_u32(b, label0 + 4)?;
        if w & 0x707F == OP_ADDI && (w >> 7) & 0x1F == A0 && (w >> 15) & 0x1F == A0 {
            i_imm(w)
        } else {
            0
        }
    };
    let labels_at = target(b, label0, hi + lo)?;
    let (lines_at, end) = crate::native::tables_after(b, labels_at)?;
    Ok(CodeLayout {
        target: crate::isa::CodeTarget::Riscv32,
        jump_table,
        code_start,
        label0,
        labels_at,
        lines_at,
        end,
    })
}

/// Offset of `label` (0..=labels_count) according to the jump table of `layout`.
pub fn label_offset(native: &Native<'_>, layout: &CodeLayout, label: u32) -> Result<usize> {
    if label > native.labels_count {
        return Err(Error::invalid(4, "label", label.into()));
    }
    entry_target(
        native.bytes,
        layout.jump_table + JUMP_TABLE_ENTRY_SIZE * label as usize,
    )
}

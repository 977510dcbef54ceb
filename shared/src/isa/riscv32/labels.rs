//! Label uses of the riscv32 backend: how a placeholder for a not-yet-known offset is emitted,
//! how far it reaches, and the bytes that replace it once the offset (or value) is known.
//!
//! Every placeholder is emitted as all-ones bytes (0xFF) and patched exactly once, at its start,
//! by a write that may only clear bits (the device writes code to flash, where a program
//! operation turns 1s into 0s and never back; the reference's flash stream checks exactly this).
//! From 0xFF any byte is reachable by clearing bits, so the constraints are the placeholder's
//! size and the patch's length: [`patch`] returns at most [`LabelUse::placeholder_len`] bytes;
//! the kinds whose patch can be shorter fill the rest with `nop`/`c.nop` exactly as the
//! reference does, except [`LabelUse::CondBranch`], whose reference patch writes only the
//! branch (a 2-byte `c.beqz`/`c.bnez` would leave `ff ff` behind; the reference only ever
//! branches on t0..t6 there, which no compressed branch can name, so its patch is 4 bytes).
//!
//! Offsets are relative to the start of the placeholder (the address of the first instruction
//! written there).

use super::asm::{self, AsmError, Insn, XReg};

/// A conditional branch of `if_block` / `if_else_block` (the reference's `{BranchFunc, Rs1, Rs2}`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BranchOp {
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
}

/// Where a label or value is used before it is known.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LabelUse {
    /// A jump-table entry (`jump_table`/`add_label`): 8 bytes,
    /// `auipc a3, hi; jalr zero, lo(a3)` (`c.jr a3; c.nop` when lo = 0).
    JumpTableEntry,
    /// A jump to a label not placed yet (`branch_to_label_code`): 8 bytes. Patched to
    /// `jal zero`/`c.j` padded with `nop`s when the label is within ±1 MiB, else to
    /// `auipc temp, hi; jalr zero, lo(temp)` (+ `c.nop` when that `jalr` is `c.jr`).
    FarBranch { temp: XReg },
    /// A pc-relative address (`set_continuation_to_label`, `set_continuation_to_offset`, the
    /// continuation of `decrement_reductions_and_maybe_schedule_next`): 8 bytes,
    /// `auipc rd, hi` [+ `addi rd, rd, lo`], padded to 8 with `nop` or `c.nop`.
    PcRelAddress { rd: XReg },
    /// The conditional branch over an `if_block`: 4 bytes, a B-type branch (or the compressed
    /// branch the reference's `beq`/`bne` pick, 2 bytes).
    CondBranch { op: BranchOp, rs1: XReg, rs2: XReg },
    /// The jump over the else block of `if_else_block`: 2 bytes, `c.j` only (the reference
    /// refuses a longer jump).
    ElseJump,
    /// The continuation pointer value of `set_cp`/`rewrite_cp_offset`: 8 bytes,
    /// `li rd, value` padded to 8 (2 bytes: + `nop` + `c.nop`; 4: + `nop`; 6: + `c.nop`).
    /// The patch takes a value, not an offset.
    LoadImmediate { rd: XReg },
}

/// Up to 8 bytes to write at the start of a placeholder.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Patch {
    bytes: [u8; 8],
    len: u8,
}

impl Patch {
    const fn empty() -> Patch {
        Patch {
            bytes: [0; 8],
            len: 0,
        }
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        let at = usize::from(self.len);
        // Callers never exceed 8 bytes: every kind's instructions add up to its placeholder.
        if let Some(dst) = self.bytes.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.len += bytes.len() as u8;
        }
    }

    fn push(&mut self, insn: Insn) {
        self.push_bytes(&insn.to_bytes()[..insn.len()]);
    }

    fn push_c_nop(&mut self) {
        self.push(Insn::compressed(asm::c_nop()));
    }

    /// Fills up to 8 bytes with `nop` (4) and/or `c.nop` (2), in the reference's order.
    fn pad_to_8(&mut self) {
        match self.len {
            2 => {
                self.push(asm::nop());
                self.push_c_nop();
            }
            4 => self.push(asm::nop()),
            6 => self.push_c_nop(),
            _ => {}
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }
}

/// Why a placeholder cannot be patched.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PatchError {
    /// The offset or value does not fit the kind (or the reference's encoder refuses it).
    Encode(AsmError),
    /// The bytes at the placeholder would need a bit set that is clear (not a placeholder, or
    /// patched twice).
    NotClearOnly { at: usize },
    /// The placeholder lies outside the buffer.
    OutOfBounds,
}

impl From<AsmError> for PatchError {
    fn from(e: AsmError) -> Self {
        PatchError::Encode(e)
    }
}

/// The byte every placeholder is made of.
pub const PLACEHOLDER_BYTE: u8 = 0xFF;

impl LabelUse {
    /// Bytes the placeholder occupies (all [`PLACEHOLDER_BYTE`]).
    pub const fn placeholder_len(self) -> usize {
        match self {
            LabelUse::CondBranch { .. } => 4,
            LabelUse::ElseJump => 2,
            _ => 8,
        }
    }

    /// The offsets (or, for [`LabelUse::LoadImmediate`], values) the kind can be patched with,
    /// inclusive, and their required alignment. The `auipc`-based kinds reach ±2 GiB.
    pub const fn range(self) -> (i64, i64, i64) {
        match self {
            LabelUse::CondBranch { .. } => (-4096, 4094, 2),
            LabelUse::ElseJump => (-2048, 2046, 2),
            LabelUse::LoadImmediate { .. } => (-0x8000_0000, 0xFFFF_FFFF, 1),
            // hi = (rel + 0x800) >> 12 must fit in 20 signed bits.
            LabelUse::FarBranch { .. }
            | LabelUse::JumpTableEntry
            | LabelUse::PcRelAddress { .. } => (-0x8000_0800, 0x7FFF_F7FF, 1),
        }
    }
}

fn split(rel: i64) -> Result<(i64, i64), AsmError> {
    asm::split_pc_offset(rel).ok_or(AsmError::OffsetOutOfRange(rel))
}

/// The instructions `auipc rd, hi` [+ `addi rd, rd, lo`] that put `pc + rel` in `rd`, as the
/// reference's `pc_relative_address` emits them (4, 6 or 8 bytes). Not padded.
pub fn pc_relative_address(rd: XReg, rel: i64) -> Result<Patch, AsmError> {
    let (hi, lo) = split(rel)?;
    let mut p = Patch::empty();
    p.push(Insn::full(asm::auipc(rd, hi)?));
    if lo != 0 {
        p.push(asm::addi(rd, rd, lo)?);
    }
    Ok(p)
}

/// The bytes that replace the placeholder of `kind`, for label offset `rel` (relative to the
/// placeholder's start) or, for [`LabelUse::LoadImmediate`], the value to load.
pub fn patch(kind: LabelUse, rel: i64) -> Result<Patch, AsmError> {
    let mut p = Patch::empty();
    match kind {
        LabelUse::JumpTableEntry => {
            let (hi, lo) = split(rel)?;
            p.push(Insn::full(asm::auipc(XReg::A3, hi)?));
            p.push(asm::jalr(XReg::ZERO, XReg::A3, lo)?);
            p.pad_to_8();
        }
        LabelUse::FarBranch { temp } => {
            if rel % 2 == 0 && (-1_048_576..=1_048_574).contains(&rel) {
                // Near enough for jal: the reference pads c.j with c.nop then nop.
                let jump = asm::jal(XReg::ZERO, rel)?;
                p.push(jump);
                if jump.is_compressed() {
                    p.push_c_nop();
                }
                p.push(asm::nop());
            } else {
                let (hi, lo) = split(rel)?;
                p.push(Insn::full(asm::auipc(temp, hi)?));
                p.push(asm::jalr(XReg::ZERO, temp, lo)?);
                p.pad_to_8();
            }
        }
        LabelUse::PcRelAddress { rd } => {
            p = pc_relative_address(rd, rel)?;
            p.pad_to_8();
        }
        LabelUse::CondBranch { op, rs1, rs2 } => {
            let insn = match op {
                BranchOp::Beq => asm::beq(rs1, rs2, rel)?,
                BranchOp::Bne => asm::bne(rs1, rs2, rel)?,
                BranchOp::Blt => Insn::full(asm::blt(rs1, rs2, rel)?),
                BranchOp::Bge => Insn::full(asm::bge(rs1, rs2, rel)?),
                BranchOp::Bltu => Insn::full(asm::bltu(rs1, rs2, rel)?),
                BranchOp::Bgeu => Insn::full(asm::bgeu(rs1, rs2, rel)?),
            };
            p.push(insn);
        }
        LabelUse::ElseJump => {
            p.push(Insn::compressed(asm::c_j(rel)?));
        }
        LabelUse::LoadImmediate { rd } => {
            // Refused here, not by the encoder: `li` loads 2^32..2^32+2047 wrapped, as the
            // reference's does for an immediate; a patched value must not wrap.
            if !(-0x8000_0000..=0xFFFF_FFFF).contains(&rel) {
                return Err(AsmError::ImmediateOutOfRange(rel));
            }
            let seq = asm::li(rd, rel)?;
            p.push_bytes(seq.as_bytes());
            p.pad_to_8();
        }
    }
    Ok(p)
}

/// Writes `patch` over the placeholder at `buf[at..]`, checking first that it only clears bits.
/// Leaves `buf` untouched on error.
pub fn apply(buf: &mut [u8], at: usize, patch: &Patch) -> Result<(), PatchError> {
    let end = at.checked_add(patch.len()).ok_or(PatchError::OutOfBounds)?;
    let dst = buf.get_mut(at..end).ok_or(PatchError::OutOfBounds)?;
    if let Some(i) = dst
        .iter()
        .zip(patch.as_bytes())
        .position(|(old, new)| new & !old != 0)
    {
        return Err(PatchError::NotClearOnly { at: at + i });
    }
    dst.copy_from_slice(patch.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T6: XReg = XReg::T6;

    fn hex(p: &Patch) -> alloc::vec::Vec<u8> {
        p.as_bytes().to_vec()
    }

    #[test]
    fn placeholders_hold_every_patch() {
        let kinds = [
            LabelUse::JumpTableEntry,
            LabelUse::FarBranch { temp: T6 },
            LabelUse::PcRelAddress { rd: XReg::T0 },
            LabelUse::PcRelAddress { rd: XReg::A0 },
            LabelUse::CondBranch {
                op: BranchOp::Bne,
                rs1: XReg::T0,
                rs2: XReg::ZERO,
            },
            LabelUse::CondBranch {
                op: BranchOp::Beq,
                rs1: XReg::A0,
                rs2: XReg::ZERO,
            },
            LabelUse::ElseJump,
            LabelUse::LoadImmediate { rd: XReg::T1 },
            LabelUse::LoadImmediate { rd: XReg::A0 },
        ];
        let mut probes = alloc::vec![0i64, 2, 4, 6, 8, 30, 32, 62, 64, 254, 256, 2046, 2048];
        for bit in 11..32 {
            probes.extend([(1 << bit) - 2, 1 << bit, (1 << bit) + 2, 0x7FFF_F7FE]);
        }
        for kind in kinds {
            let (lo, hi, step) = kind.range();
            for &p in &probes {
                for rel in [p, -p] {
                    let fits = lo <= rel && rel <= hi && rel % step == 0;
                    let patched = patch(kind, rel);
                    assert_eq!(patched.is_ok(), fits, "{kind:?} {rel}: {patched:?}");
                    let Ok(patched) = patched else { continue };
                    let full = !matches!(kind, LabelUse::CondBranch { .. });
                    assert!(patched.len() <= kind.placeholder_len());
                    if full {
                        assert_eq!(patched.len(), kind.placeholder_len(), "{kind:?} {rel}");
                    }
                    let mut buf = [PLACEHOLDER_BYTE; 12];
                    apply(&mut buf, 2, &patched).unwrap();
                    // Patching twice would set bits again (unless nothing changes).
                    if patched.as_bytes()[..2] != [0xFF, 0xFF] {
                        let mut other = patched;
                        other.bytes[0] = !other.bytes[0];
                        other.bytes[1] = !other.bytes[1];
                        assert!(matches!(
                            apply(&mut buf, 2, &other),
                            Err(PatchError::NotClearOnly { .. })
                        ));
                    }
                }
            }
        }
    }

    #[test]
    fn reference_shapes() {
        // Jump table entry to +0x40: auipc a3, 0; jalr zero, 64(a3).
        assert_eq!(
            hex(&patch(LabelUse::JumpTableEntry, 0x40).unwrap()),
            [0x97, 0x06, 0x00, 0x00, 0x67, 0x80, 0x06, 0x04]
        );
        // lo = 0: auipc a3, 1; c.jr a3; c.nop.
        assert_eq!(
            hex(&patch(LabelUse::JumpTableEntry, 0x1000).unwrap()),
            [0x97, 0x16, 0x00, 0x00, 0x82, 0x86, 0x01, 0x00]
        );
        // Far branch within c.j reach: c.j; c.nop; nop.
        assert_eq!(
            hex(&patch(LabelUse::FarBranch { temp: T6 }, 8).unwrap()),
            [0x21, 0xa0, 0x01, 0x00, 0x13, 0x00, 0x00, 0x00]
        );
        // Pc-relative address 10 into a0: auipc a0, 0; c.addi a0, 10; c.nop.
        assert_eq!(
            hex(&patch(LabelUse::PcRelAddress { rd: XReg::A0 }, 10).unwrap()),
            [0x17, 0x05, 0x00, 0x00, 0x29, 0x05, 0x01, 0x00]
        );
        // li t1, 4 -> c.li t1, 4; nop; c.nop.
        assert_eq!(
            hex(&patch(LabelUse::LoadImmediate { rd: XReg::T1 }, 4).unwrap()),
            [0x11, 0x43, 0x13, 0x00, 0x00, 0x00, 0x01, 0x00]
        );
        assert_eq!(
            patch(LabelUse::ElseJump, 2048),
            Err(AsmError::OffsetOutOfRange(2048))
        );
    }

    #[test]
    fn extreme_offsets_are_errors_not_panics() {
        let kinds = [
            LabelUse::JumpTableEntry,
            LabelUse::FarBranch { temp: T6 },
            LabelUse::PcRelAddress { rd: XReg::T0 },
            LabelUse::CondBranch {
                op: BranchOp::Bgeu,
                rs1: XReg::T0,
                rs2: XReg::T1,
            },
            LabelUse::ElseJump,
            LabelUse::LoadImmediate { rd: XReg::T1 },
        ];
        for kind in kinds {
            for v in [
                i64::MIN,
                i64::MIN + 1,
                -1 << 40,
                1 << 40,
                i64::MAX - 1,
                i64::MAX,
            ] {
                assert!(patch(kind, v).is_err(), "{kind:?} {v}");
            }
        }
        assert!(pc_relative_address(XReg::A0, i64::MAX).is_err());
    }

    #[test]
    fn apply_bounds() {
        let p = patch(LabelUse::ElseJump, 4).unwrap();
        let mut buf = [0xFFu8; 3];
        assert_eq!(apply(&mut buf, 2, &p), Err(PatchError::OutOfBounds));
        assert_eq!(
            apply(&mut buf, usize::MAX, &p),
            Err(PatchError::OutOfBounds)
        );
        assert_eq!(buf, [0xFF; 3]);
        let mut zeros = [0u8; 4];
        assert_eq!(
            apply(&mut zeros, 0, &p),
            Err(PatchError::NotClearOnly { at: 0 })
        );
    }
}

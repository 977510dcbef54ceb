//! Thumb instruction encoder: pure functions from operands to instruction bytes.
//!
//! The backend must emit exactly the encodings the reference emits, so each function mirrors one
//! form of the reference encoder, including which encoding it picks for which operands and which
//! operands it rejects. Forms the reference rejects give an [`AsmError`] (the backend turns it into
//! a sticky error); forms that cannot fail return an [`Insn`] directly.
//!
//! Registers are [`Reg`] numbers 0..=15 (13 = SP, 14 = LR, 15 = PC). "low" means r0..r7.
//! Immediates and offsets are `i64` so that no caller has to truncate before the range check.
//! Branch and `adr` offsets count from the address of the instruction itself (not PC+4), as in
//! the reference; `b_w` is the exception: its offset is relative to PC (instruction + 4).
//!
//! | reference form                     | Rust                                     |
//! |------------------------------------|------------------------------------------|
//! | `add(Rd, Rm)` (registers)          | [`add_hi`]`(rd, rm)` -> Insn             |
//! | `add(sp, Imm)`, `add(sp, sp, Imm)` | [`add_sp_imm`]`(imm)`                    |
//! | `sub(sp, Imm)`, `sub(sp, sp, Imm)` | [`sub_sp_imm`]`(imm)`                    |
//! | `adds(Rd, Imm)`                    | [`adds_imm2`]`(rdn, imm)`                |
//! | `adds(Rd, Rn, Imm)`                | [`adds_imm`]`(rd, rn, imm)`              |
//! | `adds(Rd, Rn, Rm)`                 | [`adds_reg`]`(rd, rn, rm)`               |
//! | `subs(Rd, Imm)`                    | [`subs_imm2`]`(rdn, imm)`                |
//! | `subs(Rd, Rn, Imm)`                | [`subs_imm`]`(rd, rn, imm)`              |
//! | `subs(Rd, Rn, Rm)`                 | [`subs_reg`]`(rd, rn, rm)`               |
//! | `muls(Rd, Rm)`                     | [`muls`]`(rdm, rm)`                      |
//! | `b(Offset)`                        | [`b`]`(offset)`                          |
//! | `bcc(Cc, Offset)`                  | [`bcc`]`(cc, offset)`                    |
//! | `jit_armv7m_asm:b_w(Offset)`       | [`b_w`]`(offset)`                        |
//! | `jit_armv7m_asm:movw(Rd, Imm)`     | [`movw`]`(rd, imm)`                      |
//! | `jit_armv7m_asm:movt(Rd, Imm)`     | [`movt`]`(rd, imm)`                      |
//! | `bkpt(Imm)`                        | [`bkpt`]`(imm: u8)` -> Insn              |
//! | `blx(Rm)`                          | [`blx`]`(rm)` -> Insn                    |
//! | `bx(Rm)`                           | [`bx`]`(rm)` -> Insn                     |
//! | `cmp(Rn, Rm)`                      | [`cmp_reg`]`(rn, rm)`                    |
//! | `cmp(Rn, Imm)`                     | [`cmp_imm`]`(rn, imm)`                   |
//! | `ands(Rd, Rm)`                     | [`ands`]`(rdn, rm)`                      |
//! | `bics(Rd, Rm)`                     | [`bics`]`(rdn, rm)`                      |
//! | `orrs(Rd, Rm)`                     | [`orrs`]`(rdn, rm)`                      |
//! | `eors(Rd, Rm)`                     | [`eors`]`(rdn, rm)`                      |
//! | `tst(Rn, Rm)`                      | [`tst`]`(rn, rm)`                        |
//! | `negs(Rd, Rm)`, `rsbs(Rd, Rn, 0)`  | [`negs`]`(rd, rm)`                       |
//! | `mvns(Rd, Rm)`                     | [`mvns`]`(rd, rm)`                       |
//! | `lsls(Rd, Rm, Imm)`                | [`lsls_imm`]`(rd, rm, imm)`              |
//! | `lsls(Rdn, Rm)`                    | [`lsls_reg`]`(rdn, rm)`                  |
//! | `lsrs(Rd, Rm, Imm)`                | [`lsrs_imm`]`(rd, rm, imm)`              |
//! | `lsrs(Rdn, Rm)`                    | [`lsrs_reg`]`(rdn, rm)`                  |
//! | `asrs(Rd, Rm, Imm)`                | [`asrs_imm`]`(rd, rm, imm)`              |
//! | `ldr(Rt, {Rn, Imm})`               | [`ldr_imm`]`(rt, rn, imm)` (rn SP/PC: below) |
//! | `ldr(Rt, {sp, Imm})`               | [`ldr_sp`]`(rt, imm)`                    |
//! | `ldr(Rt, {pc, Imm})`               | [`ldr_pc`]`(rt, imm)`                    |
//! | `ldr(Rt, {Rn, Rm})`                | [`ldr_reg`]`(rt, rn, rm)`                |
//! | `str(Rt, {Rn, Imm})`               | [`str_imm`]`(rt, rn, imm)` (rn SP: below) |
//! | `str(Rt, {sp, Imm})`               | [`str_sp`]`(rt, imm)`                    |
//! | `str(Rt, {Rn, Rm})`                | [`str_reg`]`(rt, rn, rm)`                |
//! | `mov(Rd, Rm)`                      | [`mov`]`(rd, rm)` -> Insn                |
//! | `movs(Rd, Imm)`                    | [`movs_imm`]`(rd, imm)`                  |
//! | `movs(Rd, Rm)`                     | [`movs_reg`]`(rd, rm)`                   |
//! | `adr(Rd, Offset)`                  | [`adr`]`(rd, offset)`                    |
//! | `push(Regs)` / `pop(Regs)`         | [`push`]`(&[Reg])` / [`pop`]`(&[Reg])`   |
//! | `nop()`                            | [`nop`]`()` -> Insn                      |
//!
//! Every function not marked `-> Insn` returns `Result<Insn, AsmError>`.
//! `ldr_imm`/`str_imm` with `rn` = SP (and `ldr_imm` with PC) encode the SP-/PC-relative forms,
//! like the reference's `{sp, Imm}`/`{pc, Imm}` operands.
//! [`Code`] is a small fixed buffer to assemble short sequences, with a sticky error.

use super::names::*;
use crate::compile::Reg;

/// One encoded instruction: 2 bytes (Thumb-1) or 4 bytes (Thumb-2), little-endian halfwords.
/// One word: the length follows from the first halfword, as the architecture defines it (bits
/// 15..11 of 0b11101, 0b11110 or 0b11111 start a 32-bit instruction). With [`AsmError`] also a
/// word, an encoder's `Result<Insn, AsmError>` is two words (it was four). On thumbv6m that is
/// still returned through memory (rustc 1.95 returns an 8-byte aggregate so there), which is
/// why the hottest encodings also have `u16` fast paths (`load_store_imm_low` and its kind).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(align(4))]
pub struct Insn {
    bytes: [u8; 4],
}

// Two words: half the stores and loads of the four it was (see `Insn`).
const _: () = assert!(core::mem::size_of::<Result<Insn, AsmError>>() == 8);

impl Insn {
    /// A 16-bit instruction (`halfword` below 0xE800: every 16-bit encoding is).
    #[inline]
    pub const fn narrow(halfword: u16) -> Self {
        debug_assert!(halfword < 0xE800, "not a 16-bit encoding");
        let b = halfword.to_le_bytes();
        Insn {
            bytes: [b[0], b[1], 0, 0],
        }
    }

    /// A 32-bit instruction: `first` is the halfword at the lower address (0xE800 or above).
    #[inline]
    pub const fn wide(first: u16, second: u16) -> Self {
        debug_assert!(
            first >= 0xE800,
            "not the first halfword of a 32-bit encoding"
        );
        let a = first.to_le_bytes();
        let b = second.to_le_bytes();
        Insn {
            bytes: [a[0], a[1], b[0], b[1]],
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }

    /// All four bytes (only the first [`Insn::len`] are the instruction).
    #[inline]
    pub const fn bytes(&self) -> [u8; 4] {
        self.bytes
    }

    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub const fn len(&self) -> usize {
        if self.bytes[1] >= 0xE8 {
            4
        } else {
            2
        }
    }

    /// The first halfword.
    #[inline]
    pub const fn halfword(&self) -> u16 {
        // Through the whole word: the same value, one register move on the device.
        u32::from_le_bytes(self.bytes) as u16
    }
}

/// An operand combination the reference encoder rejects. Two words (see [`Insn`]): the rejected
/// value is kept as an `i32`, saturated when it is beyond (see [`AsmError::immediate`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AsmError {
    /// Immediate out of range or misaligned for the form.
    UnencodableImmediate(i32),
    /// Branch or PC-relative offset out of range or misaligned.
    UnencodableOffset(i32),
    /// A register other than r0..r7 where the form needs a low register.
    LowRegisterRequired(Reg),
    /// A push/pop list with registers the form cannot hold (mask of the offending bits, or the
    /// register number if it is not a register at all).
    InvalidRegisterList(u32),
    /// [`Code`] is full.
    CodeFull,
}

impl AsmError {
    /// An immediate the form rejects (saturated to `i32`).
    #[cold]
    pub fn immediate(value: i64) -> Self {
        AsmError::UnencodableImmediate(saturate(value))
    }

    /// An offset the form rejects (saturated to `i32`).
    #[cold]
    pub fn offset(value: i64) -> Self {
        AsmError::UnencodableOffset(saturate(value))
    }
}

#[inline]
fn saturate(value: i64) -> i32 {
    value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

// Lets `Code::push` (and backend helpers) take both infallible and fallible encoders.
impl From<Insn> for Result<Insn, AsmError> {
    #[inline]
    fn from(insn: Insn) -> Self {
        Ok(insn)
    }
}

/// Condition codes of conditional branches, with their encoding as discriminant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Cc {
    Eq = 0,
    Ne = 1,
    Cs = 2,
    Cc = 3,
    Mi = 4,
    Pl = 5,
    Vs = 6,
    Vc = 7,
    Hi = 8,
    Ls = 9,
    Ge = 10,
    Lt = 11,
    Gt = 12,
    Le = 13,
    Al = 14,
}

type AsmResult = Result<Insn, AsmError>;

/// Register number, for forms that accept any register.
#[inline]
const fn num(r: Reg) -> u16 {
    (r.0 & 0xF) as u16
}

#[inline]
fn low(r: Reg) -> Result<u16, AsmError> {
    if r.0 < 8 {
        Ok(u16::from(r.0))
    } else {
        Err(AsmError::LowRegisterRequired(r))
    }
}

/// `imm` within `0..=max` and a multiple of `align`.
#[inline]
fn scaled(imm: i64, max: i64, align: i64) -> Result<u16, AsmError> {
    if (0..=max).contains(&imm) && imm % align == 0 {
        Ok((imm / align) as u16)
    } else {
        Err(AsmError::immediate(imm))
    }
}

/// Two low registers in the `...mmmddd` layout shared by the data-processing forms.
#[inline]
fn low_pair(base: u16, rd: Reg, rm: Reg) -> AsmResult {
    Ok(Insn::narrow(base | (low(rm)? << 3) | low(rd)?))
}

/// Three low registers in the `...mmmnnnddd` layout.
#[inline]
fn low_triple(base: u16, rd: Reg, rn: Reg, rm: Reg) -> AsmResult {
    Ok(Insn::narrow(
        base | (low(rm)? << 6) | (low(rn)? << 3) | low(rd)?,
    ))
}

// ---- arithmetic ---------------------------------------------------------------------------

/// `ADD Rd, Rm` (any registers, flags untouched).
#[cfg_attr(not(target_os = "none"), inline)]
#[cfg_attr(target_os = "none", inline(never))]
pub const fn add_hi(rd: Reg, rm: Reg) -> Insn {
    let d = num(rd);
    Insn::narrow(0x4400 | ((d >> 3) << 7) | (num(rm) << 3) | (d & 7))
}

/// `ADD SP, SP, #imm`, imm in 0..=508, multiple of 4.
#[inline]
pub fn add_sp_imm(imm: i64) -> AsmResult {
    Ok(Insn::narrow(0xB000 | scaled(imm, 508, 4)?))
}

/// `SUB SP, SP, #imm`, imm in 0..=508, multiple of 4.
#[inline]
pub fn sub_sp_imm(imm: i64) -> AsmResult {
    Ok(Insn::narrow(0xB080 | scaled(imm, 508, 4)?))
}

/// `ADDS Rd, Rn, #imm`: the 8-bit form when rd == rn and imm <= 255, else the 3-bit form.
#[inline]
pub fn adds_imm(rd: Reg, rn: Reg, imm: i64) -> AsmResult {
    add_sub_imm(0x3000, 0x1C00, rd, rn, imm)
}

/// `ADDS Rdn, #imm` (0..=255).
#[inline]
pub fn adds_imm2(rdn: Reg, imm: i64) -> AsmResult {
    adds_imm(rdn, rdn, imm)
}

/// `ADDS Rd, Rn, Rm`.
#[inline]
pub fn adds_reg(rd: Reg, rn: Reg, rm: Reg) -> AsmResult {
    low_triple(0x1800, rd, rn, rm)
}

/// `SUBS Rd, Rn, #imm`: the 8-bit form when rd == rn and imm <= 255, else the 3-bit form.
#[inline]
pub fn subs_imm(rd: Reg, rn: Reg, imm: i64) -> AsmResult {
    add_sub_imm(0x3800, 0x1E00, rd, rn, imm)
}

/// `SUBS Rdn, #imm` (0..=255).
#[inline]
pub fn subs_imm2(rdn: Reg, imm: i64) -> AsmResult {
    subs_imm(rdn, rdn, imm)
}

/// `SUBS Rd, Rn, Rm`.
#[inline]
pub fn subs_reg(rd: Reg, rn: Reg, rm: Reg) -> AsmResult {
    low_triple(0x1A00, rd, rn, rm)
}

#[inline]
fn add_sub_imm(imm8_base: u16, imm3_base: u16, rd: Reg, rn: Reg, imm: i64) -> AsmResult {
    let d = low(rd)?;
    let n = low(rn)?;
    if rd == rn && matches!(imm, 0..=255) {
        Ok(Insn::narrow(imm8_base | (d << 8) | imm as u16))
    } else if matches!(imm, 0..=7) {
        Ok(Insn::narrow(imm3_base | ((imm as u16) << 6) | (n << 3) | d))
    } else {
        Err(AsmError::immediate(imm))
    }
}

/// `MULS Rdm, Rm, Rdm` (written `muls rdm, rm`).
#[inline]
pub fn muls(rdm: Reg, rm: Reg) -> AsmResult {
    low_pair(0x4340, rdm, rm)
}

/// `RSBS Rd, Rm, #0`.
#[inline]
pub fn negs(rd: Reg, rm: Reg) -> AsmResult {
    low_pair(0x4240, rd, rm)
}

// ---- logic and compare --------------------------------------------------------------------

#[inline]
pub fn ands(rdn: Reg, rm: Reg) -> AsmResult {
    low_pair(0x4000, rdn, rm)
}

#[inline]
pub fn eors(rdn: Reg, rm: Reg) -> AsmResult {
    low_pair(0x4040, rdn, rm)
}

#[inline]
pub fn orrs(rdn: Reg, rm: Reg) -> AsmResult {
    low_pair(0x4300, rdn, rm)
}

#[inline]
pub fn bics(rdn: Reg, rm: Reg) -> AsmResult {
    low_pair(0x4380, rdn, rm)
}

#[inline]
pub fn mvns(rd: Reg, rm: Reg) -> AsmResult {
    low_pair(0x43C0, rd, rm)
}

#[inline]
pub fn tst(rn: Reg, rm: Reg) -> AsmResult {
    low_pair(0x4200, rn, rm)
}

/// `CMP Rn, Rm` (low registers only, like the reference).
#[inline]
pub fn cmp_reg(rn: Reg, rm: Reg) -> AsmResult {
    low_pair(0x4280, rn, rm)
}

/// `CMP Rn, #imm` (0..=255).
#[inline]
pub fn cmp_imm(rn: Reg, imm: i64) -> AsmResult {
    let n = low(rn)?;
    Ok(Insn::narrow(0x2800 | (n << 8) | scaled(imm, 255, 1)?))
}

// ---- shifts -------------------------------------------------------------------------------

/// `LSLS Rd, Rm, #imm` (1..=31).
#[inline]
pub fn lsls_imm(rd: Reg, rm: Reg, imm: i64) -> AsmResult {
    shift_imm(0x0000, rd, rm, imm, 31)
}

/// `LSRS Rd, Rm, #imm` (1..=32).
#[inline]
pub fn lsrs_imm(rd: Reg, rm: Reg, imm: i64) -> AsmResult {
    shift_imm(0x0800, rd, rm, imm, 32)
}

/// `ASRS Rd, Rm, #imm` (1..=32).
#[inline]
pub fn asrs_imm(rd: Reg, rm: Reg, imm: i64) -> AsmResult {
    shift_imm(0x1000, rd, rm, imm, 32)
}

#[inline]
fn shift_imm(base: u16, rd: Reg, rm: Reg, imm: i64, max: i64) -> AsmResult {
    let d = low(rd)?;
    let m = low(rm)?;
    if !(1..=max).contains(&imm) {
        return Err(AsmError::immediate(imm));
    }
    // A shift by 32 is encoded as 0.
    let imm5 = (imm as u16) & 31;
    Ok(Insn::narrow(base | (imm5 << 6) | (m << 3) | d))
}

/// `LSLS Rdn, Rdn, Rm`.
#[inline]
pub fn lsls_reg(rdn: Reg, rm: Reg) -> AsmResult {
    low_pair(0x4080, rdn, rm)
}

/// `LSRS Rdn, Rdn, Rm`.
#[inline]
pub fn lsrs_reg(rdn: Reg, rm: Reg) -> AsmResult {
    low_pair(0x40C0, rdn, rm)
}

// ---- moves --------------------------------------------------------------------------------

/// `MOV Rd, Rm` (any registers, flags untouched).
#[inline]
pub const fn mov(rd: Reg, rm: Reg) -> Insn {
    let d = num(rd);
    let m = num(rm);
    Insn::narrow(0x4600 | ((d >> 3) << 7) | ((m >> 3) << 6) | ((m & 7) << 3) | (d & 7))
}

/// `MOVS Rd, #imm` (0..=255).
#[cfg_attr(not(target_os = "none"), inline)]
#[cfg_attr(target_os = "none", inline(never))]
pub fn movs_imm(rd: Reg, imm: i64) -> AsmResult {
    let d = low(rd)?;
    Ok(Insn::narrow(0x2000 | (d << 8) | scaled(imm, 255, 1)?))
}

/// `MOVS Rd, Rm` (encoded as `LSLS Rd, Rm, #0`).
#[inline]
pub fn movs_reg(rd: Reg, rm: Reg) -> AsmResult {
    low_pair(0x0000, rd, rm)
}

/// Thumb-2 `MOVW Rd, #imm16`.
#[inline]
pub fn movw(rd: Reg, imm: i64) -> AsmResult {
    mov_imm16(0b100100, rd, imm)
}

/// Thumb-2 `MOVT Rd, #imm16`.
#[inline]
pub fn movt(rd: Reg, imm: i64) -> AsmResult {
    mov_imm16(0b101100, rd, imm)
}

#[inline]
fn mov_imm16(opcode: u16, rd: Reg, imm: i64) -> AsmResult {
    let imm = scaled(imm, 0xFFFF, 1)?;
    let first = 0xF000 | (((imm >> 11) & 1) << 10) | (opcode << 4) | (imm >> 12);
    let second = (((imm >> 8) & 7) << 12) | (num(rd) << 8) | (imm & 0xFF);
    Ok(Insn::wide(first, second))
}

/// `ADR Rd, <here + offset>`: offset in 4..=1024, multiple of 4, counted from this
/// instruction (assumed word-aligned).
#[inline]
pub fn adr(rd: Reg, offset: i64) -> AsmResult {
    let d = low(rd)?;
    if !matches!(offset, 4..=1024) || offset % 4 != 0 {
        return Err(AsmError::offset(offset));
    }
    Ok(Insn::narrow(0xA000 | (d << 8) | ((offset - 4) / 4) as u16))
}

// ---- loads and stores ---------------------------------------------------------------------

/// `LDR Rt, [Rn, #imm]`: imm in 0..=124, multiple of 4. Rn = SP or PC selects [`ldr_sp`] /
/// [`ldr_pc`].
#[inline]
pub fn ldr_imm(rt: Reg, rn: Reg, imm: i64) -> AsmResult {
    match rn {
        SP => ldr_sp(rt, imm),
        PC => ldr_pc(rt, imm),
        _ => load_store_imm(LDR_IMM, rt, rn, imm),
    }
}

/// `LDR Rt, [SP, #imm]`: imm in 0..=1020, multiple of 4.
#[inline]
pub fn ldr_sp(rt: Reg, imm: i64) -> AsmResult {
    word_offset8(LDR_SP, rt, imm)
}

/// `LDR Rt, [PC, #imm]`: imm in 0..=1020, multiple of 4 (from the word-aligned PC).
#[inline]
pub fn ldr_pc(rt: Reg, imm: i64) -> AsmResult {
    word_offset8(0x4800, rt, imm)
}

/// `LDR Rt, [Rn, Rm]`.
#[inline]
pub fn ldr_reg(rt: Reg, rn: Reg, rm: Reg) -> AsmResult {
    low_triple(0x5800, rt, rn, rm)
}

/// `STR Rt, [Rn, #imm]`: imm in 0..=124, multiple of 4. Rn = SP selects [`str_sp`].
#[inline]
pub fn str_imm(rt: Reg, rn: Reg, imm: i64) -> AsmResult {
    match rn {
        SP => str_sp(rt, imm),
        _ => load_store_imm(STR_IMM, rt, rn, imm),
    }
}

/// `STR Rt, [SP, #imm]`: imm in 0..=1020, multiple of 4.
#[inline]
pub fn str_sp(rt: Reg, imm: i64) -> AsmResult {
    word_offset8(STR_SP, rt, imm)
}

/// `STR Rt, [Rn, Rm]`.
#[inline]
pub fn str_reg(rt: Reg, rn: Reg, rm: Reg) -> AsmResult {
    low_triple(0x5000, rt, rn, rm)
}

/// `base` of [`ldr_imm`]'s 16-bit form `LDR Rt, [Rn, #imm]`.
pub(super) const LDR_IMM: u16 = 0x6800;
/// `base` of [`str_imm`]'s 16-bit form `STR Rt, [Rn, #imm]`.
pub(super) const STR_IMM: u16 = 0x6000;

/// The halfword of `LDR/STR Rt, [Rn, #imm]` (`base` = [`LDR_IMM`] or [`STR_IMM`]) when both
/// registers are low and `imm` is in 0..=124 and a multiple of 4; `None` otherwise (SP or PC as
/// `Rn`, or an error), which [`ldr_imm`] / [`str_imm`] then handle. The emitters' fast path: a
/// plain `u16` stays in a register where a `Result` goes through memory on the device.
#[inline(always)]
pub(super) fn load_store_imm_low(base: u16, rt: Reg, rn: Reg, imm: i64) -> Option<u16> {
    // `imm & !0x7C == 0`: 0..=124 and a multiple of 4, in one test.
    if rt.0 < 8 && rn.0 < 8 && imm & !0x7C == 0 {
        Some(base | ((imm as u16 / 4) << 6) | (u16::from(rn.0) << 3) | u16::from(rt.0))
    } else {
        None
    }
}

/// `base` of [`ldr_sp`]'s `LDR Rt, [SP, #imm]`.
pub(super) const LDR_SP: u16 = 0x9800;
/// `base` of [`str_sp`]'s `STR Rt, [SP, #imm]`.
pub(super) const STR_SP: u16 = 0x9000;

/// The halfword of `LDR/STR Rt, [SP, #imm]` (`base` = [`LDR_SP`] or [`STR_SP`]) when `Rt` is
/// low and `imm` is in 0..=1020 and a multiple of 4; `None` otherwise (see
/// [`load_store_imm_low`]).
#[inline(always)]
pub(super) fn sp_load_store_low(base: u16, rt: Reg, imm: i64) -> Option<u16> {
    // 0..=1020 and a multiple of 4, in one test.
    if rt.0 < 8 && imm & !0x3FC == 0 {
        Some(base | (u16::from(rt.0) << 8) | (imm as u16 / 4))
    } else {
        None
    }
}

/// The halfword of `MOVS Rd, #imm` when `Rd` is low and `imm` in 0..=255; `None` otherwise
/// (see [`load_store_imm_low`]).
#[inline(always)]
pub(super) fn movs_imm_low(rd: Reg, imm: i64) -> Option<u16> {
    if rd.0 < 8 && imm & !0xFF == 0 {
        Some(0x2000 | (u16::from(rd.0) << 8) | imm as u16)
    } else {
        None
    }
}

#[inline]
fn load_store_imm(base: u16, rt: Reg, rn: Reg, imm: i64) -> AsmResult {
    let t = low(rt)?;
    let n = low(rn)?;
    Ok(Insn::narrow(
        base | (scaled(imm, 124, 4)? << 6) | (n << 3) | t,
    ))
}

#[inline]
fn word_offset8(base: u16, rt: Reg, imm: i64) -> AsmResult {
    let t = low(rt)?;
    Ok(Insn::narrow(base | (t << 8) | scaled(imm, 1020, 4)?))
}

// ---- branches -----------------------------------------------------------------------------

/// `B <here + offset>`: offset in -2044..=2050, even.
#[inline]
pub fn b(offset: i64) -> AsmResult {
    if !matches!(offset, -2044..=2050) || offset % 2 != 0 {
        return Err(AsmError::offset(offset));
    }
    Ok(Insn::narrow(0xE000 | (((offset - 4) / 2) as u16 & 0x7FF)))
}

/// `B<cc> <here + offset>`: offset in -252..=258, even; `Al` is an unconditional [`b`].
#[inline]
pub fn bcc(cc: Cc, offset: i64) -> AsmResult {
    if cc == Cc::Al {
        return b(offset);
    }
    if !matches!(offset, -252..=258) || offset % 2 != 0 {
        return Err(AsmError::offset(offset));
    }
    Ok(Insn::narrow(
        0xD000 | ((cc as u16) << 8) | (((offset - 4) / 2) as u16 & 0xFF),
    ))
}

/// The halfword of a conditional `B<cc>` (not `Al`) when `offset` is in -252..=258 and even;
/// `None` otherwise, which [`bcc`] then handles (see [`load_store_imm_low`]).
#[inline(always)]
pub(super) fn bcc_low(cc: Cc, offset: i64) -> Option<u16> {
    // -252..=258 and even, in one unsigned comparison and one bit test.
    if cc != Cc::Al && (offset.wrapping_add(252) as u64) <= 510 && offset & 1 == 0 {
        Some(0xD000 | ((cc as u16) << 8) | (((offset - 4) / 2) as u16 & 0xFF))
    } else {
        None
    }
}

/// Thumb-2 `B.W <PC + offset>` (PC = this instruction + 4): offset in -16777216..=16777214, even.
#[inline]
pub fn b_w(offset: i64) -> AsmResult {
    if !matches!(offset, -16_777_216..=16_777_214) || offset % 2 != 0 {
        return Err(AsmError::offset(offset));
    }
    let imm24 = ((offset >> 1) & 0xFF_FFFF) as u32;
    let s = (imm24 >> 23) & 1;
    let i1 = (imm24 >> 22) & 1;
    let i2 = (imm24 >> 21) & 1;
    let j1 = !(i1 ^ s) & 1;
    let j2 = !(i2 ^ s) & 1;
    let first = 0xF000 | (s << 10) | ((imm24 >> 11) & 0x3FF);
    let second = 0x9000 | (j1 << 13) | (j2 << 11) | (imm24 & 0x7FF);
    Ok(Insn::wide(first as u16, second as u16))
}

/// `BLX Rm`.
#[inline]
pub const fn blx(rm: Reg) -> Insn {
    Insn::narrow(0x4780 | (num(rm) << 3))
}

/// `BX Rm`.
#[inline]
pub const fn bx(rm: Reg) -> Insn {
    Insn::narrow(0x4700 | (num(rm) << 3))
}

// ---- misc ---------------------------------------------------------------------------------

#[inline]
pub const fn bkpt(imm: u8) -> Insn {
    Insn::narrow(0xBE00 | imm as u16)
}

/// `NOP` (the `mov r8, r8` encoding).
#[inline]
pub const fn nop() -> Insn {
    Insn::narrow(0x46C0)
}

/// `PUSH {regs}`: r0..r7 and LR.
#[inline]
pub fn push(regs: &[Reg]) -> AsmResult {
    Ok(Insn::narrow(0xB400 | reg_list(regs, LR)?))
}

/// `POP {regs}`: r0..r7 and PC.
#[inline]
pub fn pop(regs: &[Reg]) -> AsmResult {
    Ok(Insn::narrow(0xBC00 | reg_list(regs, PC)?))
}

/// `PUSH` of a register list given as its summed bits (see [`reg_list`]), for callers that
/// build the list and its bits together.
#[inline]
pub const fn push_bits(bits: u32) -> AsmResult {
    match list_field(bits, LR) {
        Ok(field) => Ok(Insn::narrow(0xB400 | field)),
        Err(e) => Err(e),
    }
}

/// `POP` of a register list given as its summed bits (see [`reg_list`]).
#[inline]
pub const fn pop_bits(bits: u32) -> AsmResult {
    match list_field(bits, PC) {
        Ok(field) => Ok(Insn::narrow(0xBC00 | field)),
        Err(e) => Err(e),
    }
}

/// The halfword of [`push_bits`] (of [`pop_bits`] when `pop`) when the summed `bits` name low
/// registers only (a call's save list); `None` otherwise (see [`load_store_imm_low`]).
#[inline(always)]
pub(super) fn push_pop_low(pop: bool, bits: u32) -> Option<u16> {
    if bits & !0xFF == 0 {
        Some(if pop { 0xBC00 } else { 0xB400 } | bits as u16)
    } else {
        None
    }
}

/// The 9-bit register list field. Like the reference, the list's bits are summed, not or-ed
/// (a repeated register carries into the next one).
#[inline]
fn reg_list(regs: &[Reg], extra: Reg) -> Result<u16, AsmError> {
    let mut bits: u32 = 0;
    for r in regs {
        if r.0 > 15 {
            return Err(AsmError::InvalidRegisterList(u32::from(r.0)));
        }
        bits = bits
            .checked_add(1 << r.0)
            .ok_or(AsmError::InvalidRegisterList(bits))?;
    }
    list_field(bits, extra)
}

/// The field for a list's summed `bits`: r0-r7 and `extra` (LR or PC) only.
#[inline(always)]
const fn list_field(bits: u32, extra: Reg) -> Result<u16, AsmError> {
    let low_bits = bits & 0xFF;
    let extra_bit = bits & (1 << extra.0);
    if bits != low_bits + extra_bit {
        return Err(AsmError::InvalidRegisterList(bits - low_bits - extra_bit));
    }
    Ok(low_bits as u16 | ((extra_bit != 0) as u16) << 8)
}

// ---- short sequences ----------------------------------------------------------------------

/// A fixed-capacity buffer for assembling a short instruction sequence, with a sticky error:
/// the first failed encoding (or overflow) is kept and later pushes are ignored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Code {
    buf: [u8; Code::CAPACITY],
    len: usize,
    error: Option<AsmError>,
}

impl Default for Code {
    #[inline]
    fn default() -> Self {
        Self::new()
    }
}

impl Code {
    /// Enough for the longest sequence the backend assembles (an 18-byte far branch), and
    /// small enough that clearing a new buffer is cheap.
    pub const CAPACITY: usize = 32;

    #[inline]
    pub const fn new() -> Self {
        Code {
            buf: [0; Code::CAPACITY],
            len: 0,
            error: None,
        }
    }

    /// Append an instruction (or record the encoder's error).
    #[inline]
    pub fn push(&mut self, insn: impl Into<AsmResult>) -> &mut Self {
        match insn.into() {
            Ok(insn) => self.extend_insn(insn),
            Err(e) => {
                self.error.get_or_insert(e);
                self
            }
        }
    }

    /// Append an instruction: its whole word at once while there is room for it (bytes past
    /// `len` are zero, and an instruction's unused bytes are too), so no `memcpy` of 2 or 4 bytes.
    #[inline]
    fn extend_insn(&mut self, insn: Insn) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        match self.buf.get_mut(self.len..self.len + 4) {
            Some(dst) => {
                dst.copy_from_slice(&insn.bytes());
                self.len += insn.len();
                self
            }
            None => self.extend(insn.as_bytes()),
        }
    }

    /// Append raw bytes (e.g. a literal word).
    #[inline]
    pub fn extend(&mut self, bytes: &[u8]) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.error = Some(AsmError::CodeFull),
        }
        self
    }

    /// The bytes assembled so far (up to the first error).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    #[inline]
    pub const fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub const fn error(&self) -> Option<AsmError> {
        self.error
    }

    /// The bytes, or the first error.
    #[inline]
    pub fn result(&self) -> Result<&[u8], AsmError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.as_bytes()),
        }
    }
}

#[cfg(test)]
mod load_store_fast_path_tests {
    use super::*;

    /// The emitters' fast path agrees with the encoders: the same halfword wherever the 16-bit
    /// `[Rn, #imm]` form encodes, `None` wherever it does not (an error, or SP/PC as `Rn`).
    #[test]
    fn load_store_imm_low_matches_ldr_imm_and_str_imm() {
        for (base, enc) in [
            (LDR_IMM, ldr_imm as fn(Reg, Reg, i64) -> AsmResult),
            (STR_IMM, str_imm as fn(Reg, Reg, i64) -> AsmResult),
        ] {
            for rt in 0..17u8 {
                for rn in 0..17u8 {
                    for imm in (-9..=140).chain([1 << 32, (1 << 32) + 4, i64::MIN, i64::MAX]) {
                        let fast = load_store_imm_low(base, Reg(rt), Reg(rn), imm);
                        if rn == 13 || rn == 15 {
                            assert_eq!(fast, None);
                            continue;
                        }
                        let slow = enc(Reg(rt), Reg(rn), imm).ok();
                        assert_eq!(fast.map(Insn::narrow), slow, "rt {rt} rn {rn} imm {imm}");
                    }
                }
            }
        }
    }

    /// The same for `B<cc>`.
    #[test]
    fn bcc_low_matches_bcc() {
        for i in 0..15usize {
            let cc = [
                Cc::Eq,
                Cc::Ne,
                Cc::Cs,
                Cc::Cc,
                Cc::Mi,
                Cc::Pl,
                Cc::Vs,
                Cc::Vc,
                Cc::Hi,
                Cc::Ls,
                Cc::Ge,
                Cc::Lt,
                Cc::Gt,
                Cc::Le,
                Cc::Al,
            ][i];
            for offset in (-300..=300).chain([1 << 32, (1 << 32) + 4, i64::MIN, i64::MAX]) {
                let fast = bcc_low(cc, offset).map(Insn::narrow);
                if cc == Cc::Al {
                    assert_eq!(fast, None);
                } else {
                    assert_eq!(fast, bcc(cc, offset).ok(), "{cc:?} {offset}");
                }
            }
        }
    }

    /// The same for the SP-relative forms and `MOVS Rd, #imm`.
    #[test]
    fn sp_load_store_low_and_movs_imm_low_match_the_encoders() {
        for rt in 0..17u8 {
            for imm in (-9..=1030).chain([1 << 32, (1 << 32) + 4, i64::MIN, i64::MAX]) {
                for (base, enc) in [
                    (LDR_SP, ldr_sp as fn(Reg, i64) -> AsmResult),
                    (STR_SP, str_sp as fn(Reg, i64) -> AsmResult),
                ] {
                    let fast = sp_load_store_low(base, Reg(rt), imm).map(Insn::narrow);
                    assert_eq!(fast, enc(Reg(rt), imm).ok(), "rt {rt} imm {imm}");
                }
                let fast = movs_imm_low(Reg(rt), imm).map(Insn::narrow);
                assert_eq!(fast, movs_imm(Reg(rt), imm).ok(), "movs rt {rt} imm {imm}");
            }
        }
    }
}

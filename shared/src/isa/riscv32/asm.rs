//! RV32IMAC instruction encoder: pure functions from operands to instruction bits.
//!
//! The riscv32 backend must emit exactly the bytes the reference emits, and the reference picks a
//! compressed (`c.*`, 16-bit) encoding by its own rules, which are not GNU as's. So there are three
//! layers here:
//!
//! * raw 32-bit base forms (`add32`, `addi32`, `beq32`, ..., `sll`, `mul`, `auipc`, ...) returning
//!   `u32` (or `Result<u32, AsmError>` when an operand has a range);
//! * raw compressed forms (`c_add`, `c_addi`, `c_beqz`, ...) returning `u16` / `Result<u16, _>`,
//!   with the ranges the reference enforces (some HINT encodings included: the reference emits
//!   `c.addi rd, 0` for `addi rd, rd, 0` and `c.srli rd', 0` for a zero shift of x8..x15);
//! * the reference's selecting forms (`add`, `addi`, `lw`, `sw`, `beq`, `jal`, `jalr`, `lui`,
//!   `mv`, `li`, ...), returning an [`Insn`] (2 or 4 bytes) or a [`Seq`] (up to two instructions),
//!   that choose the compressed encoding exactly when the reference does:
//!
//! | form                | compressed when                                                  |
//! |---------------------|------------------------------------------------------------------|
//! | `add rd, rs1, rs2`  | rd == rs1, rd != zero, rs2 != zero -> `c.add`                    |
//! | `sub/and/or/xor`    | rd == rs1, rd and rs2 in x8..x15 -> `c.sub/c.and/c.or/c.xor`     |
//! | `addi rd, rs1, imm` | rd == rs1, rd != zero, imm in -32..=31 (0 too) -> `c.addi`       |
//! | `andi rd, rs1, imm` | rd == rs1 in x8..x15, imm in -32..=31 -> `c.andi`                |
//! | `slli rd, rs1, sh`  | rd == rs1, rd != zero, sh in 1..=31 -> `c.slli`                  |
//! | `srli/srai`         | rd == rs1 in x8..x15 (sh 0 too) -> `c.srli/c.srai`               |
//! | `lw rd, off(rs1)`   | rs1 == sp, rd != zero, off in 0..=252 step 4 -> `c.lwsp`;        |
//! |                     | rd, rs1 in x8..x15, off in 0..=124 step 4 -> `c.lw`              |
//! | `sw rs2, off(rs1)`  | rs1 == sp, off in 0..=252 step 4 -> `c.swsp`;                    |
//! |                     | rs1, rs2 in x8..x15, off in 0..=124 step 4 -> `c.sw`             |
//! | `beq/bne rs1, zero` | rs1 in x8..x15, off in -256..=254 -> `c.beqz/c.bnez`             |
//! | `jal rd, off`       | off in -2048..=2046: rd == zero -> `c.j`, rd == ra -> `c.jal`    |
//! | `jalr rd, 0(rs1)`   | rs1 != zero: rd == zero -> `c.jr`, rd == ra -> `c.jalr`          |
//! | `lui rd, imm`       | rd != zero, imm in -32..=31, imm != 0 -> `c.lui` (an error for sp) |
//! | `mv rd, rs`         | rd != zero, rs != zero -> `c.mv`, else `addi rd, rs, 0`           |
//! | `li rd, imm`        | see [`li`]                                                        |
//!
//! `nop` is always the 32-bit `addi zero, zero, 0`, `ret` is `c.jr ra`, `not` is `xori rd, rs, -1`,
//! `neg` is `sub rd, zero, rs`, `j` is `jal zero`, `jr` is `jalr zero, 0(rs)`.
//!
//! Offsets of branches and jumps count from the address of the instruction itself. Immediates are
//! `i64` so no caller truncates before the range check; out-of-range operands give an
//! [`AsmError`], never a panic. Nothing here allocates.

/// A RISC-V integer register, x0..=x31.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct XReg(u8);

impl XReg {
    pub const ZERO: XReg = XReg(0);
    pub const RA: XReg = XReg(1);
    pub const SP: XReg = XReg(2);
    pub const GP: XReg = XReg(3);
    pub const TP: XReg = XReg(4);
    pub const T0: XReg = XReg(5);
    pub const T1: XReg = XReg(6);
    pub const T2: XReg = XReg(7);
    pub const S0: XReg = XReg(8);
    pub const S1: XReg = XReg(9);
    pub const A0: XReg = XReg(10);
    pub const A1: XReg = XReg(11);
    pub const A2: XReg = XReg(12);
    pub const A3: XReg = XReg(13);
    pub const A4: XReg = XReg(14);
    pub const A5: XReg = XReg(15);
    pub const A6: XReg = XReg(16);
    pub const A7: XReg = XReg(17);
    pub const S2: XReg = XReg(18);
    pub const S3: XReg = XReg(19);
    pub const S4: XReg = XReg(20);
    pub const S5: XReg = XReg(21);
    pub const S6: XReg = XReg(22);
    pub const S7: XReg = XReg(23);
    pub const S8: XReg = XReg(24);
    pub const S9: XReg = XReg(25);
    pub const S10: XReg = XReg(26);
    pub const S11: XReg = XReg(27);
    pub const T3: XReg = XReg(28);
    pub const T4: XReg = XReg(29);
    pub const T5: XReg = XReg(30);
    pub const T6: XReg = XReg(31);

    /// Register `x<n>`, if `n` is 0..=31.
    #[inline]
    pub const fn new(n: u8) -> Option<XReg> {
        if n < 32 {
            Some(XReg(n))
        } else {
            None
        }
    }

    /// The register number, 0..=31.
    #[inline]
    pub const fn num(self) -> u8 {
        self.0
    }

    /// Whether a compressed 3-bit register field can name it (x8..=x15: s0, s1, a0..a5).
    #[inline]
    pub const fn is_compressible(self) -> bool {
        self.0 >= 8 && self.0 <= 15
    }

    /// ABI name (`zero`, `ra`, `sp`, ..., `s0`, ..., `t6`), as objdump prints it.
    pub const fn name(self) -> &'static str {
        REG_NAMES[(self.0 & 31) as usize]
    }
}

/// ABI register names, indexed by register number.
pub const REG_NAMES: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];

/// An operand combination the reference encoder rejects.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AsmError {
    /// Immediate or shift amount outside the form's range.
    ImmediateOutOfRange(i64),
    /// Branch, jump or memory offset outside the form's range.
    OffsetOutOfRange(i64),
    /// Offset or immediate not a multiple of the form's step (2 for branches, 4 or 16 for some
    /// compressed forms).
    Misaligned(i64),
    /// A compressed 3-bit register field needs x8..=x15.
    CompressedRegisterRequired(XReg),
    /// A register the compressed form reserves (`zero` as destination, `sp` for `c.lui`).
    ReservedRegister(XReg),
    /// A zero immediate where the compressed form needs a non-zero one.
    ZeroImmediate,
}

/// One encoded instruction: 2 bytes (compressed) or 4 bytes, little-endian.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Insn {
    bits: u32,
    len: u8,
}

impl Insn {
    /// A 16-bit (compressed) instruction.
    #[inline]
    pub const fn compressed(halfword: u16) -> Insn {
        Insn {
            bits: halfword as u32,
            len: 2,
        }
    }

    /// A 32-bit instruction.
    #[inline]
    pub const fn full(word: u32) -> Insn {
        Insn { bits: word, len: 4 }
    }

    /// 2 or 4.
    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    pub const fn is_compressed(&self) -> bool {
        self.len == 2
    }

    /// The instruction bits (a compressed one in the low halfword).
    #[inline]
    pub const fn bits(&self) -> u32 {
        self.bits
    }

    /// The little-endian bytes; only the first [`len`](Self::len) are meaningful.
    #[inline]
    pub const fn to_bytes(&self) -> [u8; 4] {
        self.bits.to_le_bytes()
    }

    /// Appends the instruction's bytes to `out` at `at`; returns the new end, or `None` if `out`
    /// is too short.
    #[inline]
    pub fn write_to(&self, out: &mut [u8], at: usize) -> Option<usize> {
        let end = at.checked_add(self.len())?;
        out.get_mut(at..end)?
            .copy_from_slice(&self.to_bytes()[..self.len()]);
        Some(end)
    }
}

impl From<Insn> for Result<Insn, AsmError> {
    #[inline]
    fn from(insn: Insn) -> Self {
        Ok(insn)
    }
}

/// Up to two instructions (`li` = `lui` + `addi`, `call` = `auipc` + `jalr`): 2 to 8 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Seq {
    bytes: [u8; 8],
    len: u8,
}

impl Seq {
    /// One instruction.
    #[inline]
    pub fn one(insn: Insn) -> Seq {
        let mut bytes = [0; 8];
        let b = insn.to_bytes();
        bytes[..4].copy_from_slice(&b);
        Seq {
            bytes,
            len: insn.len,
        }
    }

    /// Two instructions, in order.
    #[inline]
    pub fn two(first: Insn, second: Insn) -> Seq {
        let mut seq = Seq::one(first);
        let at = usize::from(seq.len);
        let b = second.to_bytes();
        seq.bytes[at..at + 4].copy_from_slice(&b);
        seq.len += second.len;
        seq
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// 2, 4, 6 or 8.
    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }
}

impl From<Insn> for Seq {
    #[inline]
    fn from(insn: Insn) -> Seq {
        Seq::one(insn)
    }
}

type Res<T> = Result<T, AsmError>;

// ---- field helpers --------------------------------------------------------------------------

#[inline]
const fn x(r: XReg) -> u32 {
    (r.0 & 31) as u32
}

/// The 3-bit field of a compressed register operand.
#[inline]
fn cx(r: XReg) -> Res<u16> {
    if r.is_compressible() {
        Ok(u16::from(r.0 - 8))
    } else {
        Err(AsmError::CompressedRegisterRequired(r))
    }
}

#[inline]
fn in_range(v: i64, lo: i64, hi: i64) -> bool {
    lo <= v && v <= hi
}

/// `v` in `lo..=hi`, a multiple of `step`; misalignment is reported before range.
#[inline]
fn offset(v: i64, lo: i64, hi: i64, step: i64) -> Res<i64> {
    if v % step != 0 {
        Err(AsmError::Misaligned(v))
    } else if !in_range(v, lo, hi) {
        Err(AsmError::OffsetOutOfRange(v))
    } else {
        Ok(v)
    }
}

#[inline]
fn imm(v: i64, lo: i64, hi: i64) -> Res<i64> {
    if in_range(v, lo, hi) {
        Ok(v)
    } else {
        Err(AsmError::ImmediateOutOfRange(v))
    }
}

const OP: u32 = 0x33;
const OP_IMM: u32 = 0x13;
const LOAD: u32 = 0x03;
const STORE: u32 = 0x23;
const BRANCH: u32 = 0x63;
const JALR: u32 = 0x67;
const JAL: u32 = 0x6F;
const LUI: u32 = 0x37;
const AUIPC: u32 = 0x17;

#[inline]
const fn r_type(funct7: u32, rs2: XReg, rs1: XReg, funct3: u32, rd: XReg) -> u32 {
    (funct7 << 25) | (x(rs2) << 20) | (x(rs1) << 15) | (funct3 << 12) | (x(rd) << 7) | OP
}

/// I-type with the low 12 bits of `imm` (the caller range-checks).
#[inline]
const fn i_type(opcode: u32, rd: XReg, funct3: u32, rs1: XReg, imm: i64) -> u32 {
    (((imm as u32) & 0xFFF) << 20) | (x(rs1) << 15) | (funct3 << 12) | (x(rd) << 7) | opcode
}

#[inline]
const fn s_type(funct3: u32, rs1: XReg, rs2: XReg, imm: i64) -> u32 {
    let imm = (imm as u32) & 0xFFF;
    ((imm >> 5) << 25)
        | (x(rs2) << 20)
        | (x(rs1) << 15)
        | (funct3 << 12)
        | ((imm & 31) << 7)
        | STORE
}

#[inline]
const fn b_type(funct3: u32, rs1: XReg, rs2: XReg, offset: i64) -> u32 {
    let o = (offset as u32) & 0x1FFF;
    (((o >> 12) & 1) << 31)
        | (((o >> 5) & 0x3F) << 25)
        | (x(rs2) << 20)
        | (x(rs1) << 15)
        | (funct3 << 12)
        | (((o >> 1) & 0xF) << 8)
        | (((o >> 11) & 1) << 7)
        | BRANCH
}

#[inline]
const fn j_type(rd: XReg, offset: i64) -> u32 {
    let o = (offset as u32) & 0x1F_FFFF;
    (((o >> 20) & 1) << 31)
        | (((o >> 1) & 0x3FF) << 21)
        | (((o >> 11) & 1) << 20)
        | (((o >> 12) & 0xFF) << 12)
        | (x(rd) << 7)
        | JAL
}

/// U-type: `imm20` is the 20-bit upper immediate (low 20 bits of the argument).
#[inline]
const fn u_type(opcode: u32, rd: XReg, imm20: i64) -> u32 {
    (((imm20 as u32) & 0xF_FFFF) << 12) | (x(rd) << 7) | opcode
}

// ---- raw 32-bit forms -----------------------------------------------------------------------

/// Bit fields of the B-type immediate: the inverse of the encoding, used by patching code.
pub const B_IMM_MASK: u32 = 0xFE00_0F80;
/// Bit fields of the J-type immediate.
pub const J_IMM_MASK: u32 = 0xFFFF_F000;

#[inline]
pub const fn add32(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(0, rs2, rs1, 0, rd)
}
#[inline]
pub const fn sub32(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(0x20, rs2, rs1, 0, rd)
}
#[inline]
pub const fn and32(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(0, rs2, rs1, 7, rd)
}
#[inline]
pub const fn or32(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(0, rs2, rs1, 6, rd)
}
#[inline]
pub const fn xor32(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(0, rs2, rs1, 4, rd)
}
#[inline]
pub const fn sll(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(0, rs2, rs1, 1, rd)
}
#[inline]
pub const fn srl(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(0, rs2, rs1, 5, rd)
}
#[inline]
pub const fn sra(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(0x20, rs2, rs1, 5, rd)
}
#[inline]
pub const fn slt(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(0, rs2, rs1, 2, rd)
}
#[inline]
pub const fn sltu(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(0, rs2, rs1, 3, rd)
}
/// `mul` (M extension).
#[inline]
pub const fn mul(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(1, rs2, rs1, 0, rd)
}
/// `div` (signed).
#[inline]
pub const fn div(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(1, rs2, rs1, 4, rd)
}
/// `rem` (signed).
#[inline]
pub const fn rem(rd: XReg, rs1: XReg, rs2: XReg) -> u32 {
    r_type(1, rs2, rs1, 6, rd)
}

/// I-type ALU form with a 12-bit signed immediate.
#[inline]
fn alu_imm(funct3: u32, rd: XReg, rs1: XReg, value: i64) -> Res<u32> {
    Ok(i_type(OP_IMM, rd, funct3, rs1, imm(value, -2048, 2047)?))
}

#[inline]
pub fn addi32(rd: XReg, rs1: XReg, value: i64) -> Res<u32> {
    alu_imm(0, rd, rs1, value)
}
#[inline]
pub fn slti(rd: XReg, rs1: XReg, value: i64) -> Res<u32> {
    alu_imm(2, rd, rs1, value)
}
#[inline]
pub fn sltiu(rd: XReg, rs1: XReg, value: i64) -> Res<u32> {
    alu_imm(3, rd, rs1, value)
}
#[inline]
pub fn xori(rd: XReg, rs1: XReg, value: i64) -> Res<u32> {
    alu_imm(4, rd, rs1, value)
}
#[inline]
pub fn ori(rd: XReg, rs1: XReg, value: i64) -> Res<u32> {
    alu_imm(6, rd, rs1, value)
}
#[inline]
pub fn andi32(rd: XReg, rs1: XReg, value: i64) -> Res<u32> {
    alu_imm(7, rd, rs1, value)
}

#[inline]
fn shift_imm(high: i64, funct3: u32, rd: XReg, rs1: XReg, shamt: i64) -> Res<u32> {
    Ok(i_type(OP_IMM, rd, funct3, rs1, imm(shamt, 0, 31)? | high))
}

#[inline]
pub fn slli32(rd: XReg, rs1: XReg, shamt: i64) -> Res<u32> {
    shift_imm(0, 1, rd, rs1, shamt)
}
#[inline]
pub fn srli32(rd: XReg, rs1: XReg, shamt: i64) -> Res<u32> {
    shift_imm(0, 5, rd, rs1, shamt)
}
#[inline]
pub fn srai32(rd: XReg, rs1: XReg, shamt: i64) -> Res<u32> {
    shift_imm(0x400, 5, rd, rs1, shamt)
}

#[inline]
fn load(funct3: u32, rd: XReg, rs1: XReg, off: i64) -> Res<u32> {
    if !in_range(off, -2048, 2047) {
        return Err(AsmError::OffsetOutOfRange(off));
    }
    Ok(i_type(LOAD, rd, funct3, rs1, off))
}

/// `lb rd, off(rs1)`.
#[inline]
pub fn lb(rd: XReg, rs1: XReg, off: i64) -> Res<u32> {
    load(0, rd, rs1, off)
}
/// `lh rd, off(rs1)`.
#[inline]
pub fn lh(rd: XReg, rs1: XReg, off: i64) -> Res<u32> {
    load(1, rd, rs1, off)
}
/// `lw rd, off(rs1)` (32-bit form).
#[inline]
pub fn lw32(rd: XReg, rs1: XReg, off: i64) -> Res<u32> {
    load(2, rd, rs1, off)
}
/// `lbu rd, off(rs1)`.
#[inline]
pub fn lbu(rd: XReg, rs1: XReg, off: i64) -> Res<u32> {
    load(4, rd, rs1, off)
}
/// `lhu rd, off(rs1)`.
#[inline]
pub fn lhu(rd: XReg, rs1: XReg, off: i64) -> Res<u32> {
    load(5, rd, rs1, off)
}

#[inline]
fn store(funct3: u32, base: XReg, src: XReg, off: i64) -> Res<u32> {
    if !in_range(off, -2048, 2047) {
        return Err(AsmError::OffsetOutOfRange(off));
    }
    Ok(s_type(funct3, base, src, off))
}

/// `sb src, off(base)`. Stores take the base register first, like the reference.
#[inline]
pub fn sb(base: XReg, src: XReg, off: i64) -> Res<u32> {
    store(0, base, src, off)
}
/// `sh src, off(base)`.
#[inline]
pub fn sh(base: XReg, src: XReg, off: i64) -> Res<u32> {
    store(1, base, src, off)
}
/// `sw src, off(base)` (32-bit form).
#[inline]
pub fn sw32(base: XReg, src: XReg, off: i64) -> Res<u32> {
    store(2, base, src, off)
}

#[inline]
fn branch(funct3: u32, rs1: XReg, rs2: XReg, off: i64) -> Res<u32> {
    Ok(b_type(funct3, rs1, rs2, offset(off, -4096, 4094, 2)?))
}

#[inline]
pub fn beq32(rs1: XReg, rs2: XReg, off: i64) -> Res<u32> {
    branch(0, rs1, rs2, off)
}
#[inline]
pub fn bne32(rs1: XReg, rs2: XReg, off: i64) -> Res<u32> {
    branch(1, rs1, rs2, off)
}
#[inline]
pub fn blt(rs1: XReg, rs2: XReg, off: i64) -> Res<u32> {
    branch(4, rs1, rs2, off)
}
#[inline]
pub fn bge(rs1: XReg, rs2: XReg, off: i64) -> Res<u32> {
    branch(5, rs1, rs2, off)
}
#[inline]
pub fn bltu(rs1: XReg, rs2: XReg, off: i64) -> Res<u32> {
    branch(6, rs1, rs2, off)
}
#[inline]
pub fn bgeu(rs1: XReg, rs2: XReg, off: i64) -> Res<u32> {
    branch(7, rs1, rs2, off)
}

/// `jal rd, off` (32-bit form), off in -1048576..=1048574, even.
#[inline]
pub fn jal32(rd: XReg, off: i64) -> Res<u32> {
    Ok(j_type(rd, offset(off, -1_048_576, 1_048_574, 2)?))
}

/// `jalr rd, off(rs1)` (32-bit form).
#[inline]
pub fn jalr32(rd: XReg, rs1: XReg, off: i64) -> Res<u32> {
    if !in_range(off, -2048, 2047) {
        return Err(AsmError::OffsetOutOfRange(off));
    }
    Ok(i_type(JALR, rd, 0, rs1, off))
}

/// `lui rd, imm20` (32-bit form); imm20 in -0x80000..=0x7FFFF (the reference's signed range).
#[inline]
pub fn lui32(rd: XReg, imm20: i64) -> Res<u32> {
    Ok(u_type(LUI, rd, imm(imm20, -0x8_0000, 0x7_FFFF)?))
}

/// `auipc rd, imm20`; imm20 in -0x80000..=0x7FFFF. Never compressed.
#[inline]
pub fn auipc(rd: XReg, imm20: i64) -> Res<u32> {
    Ok(u_type(AUIPC, rd, imm(imm20, -0x8_0000, 0x7_FFFF)?))
}

// ---- raw compressed forms -------------------------------------------------------------------

#[inline]
const fn cr(funct4: u16, rd: XReg, rs2: XReg, op: u16) -> u16 {
    (funct4 << 12) | ((rd.0 as u16 & 31) << 7) | ((rs2.0 as u16 & 31) << 2) | op
}

/// CI layout: imm[5] at bit 12, imm[4:0] at bits 6:2 (`bits6` already arranged).
#[inline]
const fn ci(funct3: u16, rd: XReg, bits6: u16, op: u16) -> u16 {
    (funct3 << 13)
        | (((bits6 >> 5) & 1) << 12)
        | ((rd.0 as u16 & 31) << 7)
        | ((bits6 & 31) << 2)
        | op
}

#[inline]
fn ca(funct2: u16, rd: XReg, rs2: XReg) -> Res<u16> {
    Ok(0x8C01 | (cx(rd)? << 7) | (funct2 << 5) | (cx(rs2)? << 2))
}

/// `c.add rd, rs2` (CR). The reference checks nothing here; `add` only picks it for
/// rd, rs2 != zero.
#[inline]
pub const fn c_add(rd: XReg, rs2: XReg) -> u16 {
    cr(0x9, rd, rs2, 2)
}

/// `c.mv rd, rs2` (CR).
#[inline]
pub const fn c_mv(rd: XReg, rs2: XReg) -> u16 {
    cr(0x8, rd, rs2, 2)
}

/// `c.sub rd', rs2'`.
#[inline]
pub fn c_sub(rd: XReg, rs2: XReg) -> Res<u16> {
    ca(0, rd, rs2)
}
/// `c.xor rd', rs2'`.
#[inline]
pub fn c_xor(rd: XReg, rs2: XReg) -> Res<u16> {
    ca(1, rd, rs2)
}
/// `c.or rd', rs2'`.
#[inline]
pub fn c_or(rd: XReg, rs2: XReg) -> Res<u16> {
    ca(2, rd, rs2)
}
/// `c.and rd', rs2'`.
#[inline]
pub fn c_and(rd: XReg, rs2: XReg) -> Res<u16> {
    ca(3, rd, rs2)
}

/// `c.addi rd, imm`: rd != zero, imm in -32..=31 (0 allowed: a HINT the reference emits).
#[inline]
pub fn c_addi(rd: XReg, value: i64) -> Res<u16> {
    let v = imm(value, -32, 31)?;
    if rd == XReg::ZERO {
        return Err(AsmError::ReservedRegister(rd));
    }
    Ok(ci(0, rd, v as u16 & 0x3F, 1))
}

/// `c.andi rd', imm`, imm in -32..=31.
#[inline]
pub fn c_andi(rd: XReg, value: i64) -> Res<u16> {
    let v = imm(value, -32, 31)?;
    let bits = v as u16 & 0x3F;
    Ok(0x8801 | (((bits >> 5) & 1) << 12) | (cx(rd)? << 7) | ((bits & 31) << 2))
}

/// `c.li rd, imm`, imm in -32..=31 (rd = zero allowed, as in the reference).
#[inline]
pub fn c_li(rd: XReg, value: i64) -> Res<u16> {
    let v = imm(value, -32, 31)?;
    Ok(ci(2, rd, v as u16 & 0x3F, 1))
}

/// `c.lui rd, imm`: imm in -32..=31 and != 0 (the upper immediate, sign-extended from 6 bits),
/// rd neither zero nor sp.
#[inline]
pub fn c_lui(rd: XReg, value: i64) -> Res<u16> {
    if rd == XReg::ZERO || rd == XReg::SP {
        return Err(AsmError::ReservedRegister(rd));
    }
    if value == 0 {
        return Err(AsmError::ZeroImmediate);
    }
    let v = imm(value, -32, 31)?;
    Ok(ci(3, rd, v as u16 & 0x3F, 1))
}

/// `c.addi16sp sp, imm`: imm in -512..=496, multiple of 16, != 0.
#[inline]
pub fn c_addi16sp(value: i64) -> Res<u16> {
    if value == 0 {
        return Err(AsmError::ZeroImmediate);
    }
    if value % 16 != 0 {
        return Err(AsmError::Misaligned(value));
    }
    let v = imm(value, -512, 496)? as u16 & 0x3FF;
    let bits = (((v >> 9) & 1) << 5)
        | (((v >> 4) & 1) << 4)
        | (((v >> 6) & 1) << 3)
        | (((v >> 7) & 3) << 1)
        | ((v >> 5) & 1);
    Ok(ci(3, XReg::SP, bits, 1))
}

/// `c.addi4spn rd', sp, imm`: imm in 4..=1020, multiple of 4.
#[inline]
pub fn c_addi4spn(rd: XReg, value: i64) -> Res<u16> {
    if value == 0 {
        return Err(AsmError::ZeroImmediate);
    }
    if value % 4 != 0 {
        return Err(AsmError::Misaligned(value));
    }
    let v = imm(value, 4, 1020)? as u16;
    let bits =
        (((v >> 4) & 3) << 6) | (((v >> 6) & 15) << 2) | (((v >> 2) & 1) << 1) | ((v >> 3) & 1);
    Ok((bits << 5) | (cx(rd)? << 2))
}

/// `c.slli rd, shamt`: rd != zero, shamt in 0..=63 (the reference's range; RV32 defines 1..=31).
#[inline]
pub fn c_slli(rd: XReg, shamt: i64) -> Res<u16> {
    let s = imm(shamt, 0, 63)?;
    if rd == XReg::ZERO {
        return Err(AsmError::ReservedRegister(rd));
    }
    Ok(ci(0, rd, s as u16, 2))
}

#[inline]
fn c_shift_right(funct2: u16, rd: XReg, shamt: i64) -> Res<u16> {
    let s = imm(shamt, 0, 63)? as u16;
    Ok(0x8001 | (((s >> 5) & 1) << 12) | (funct2 << 10) | (cx(rd)? << 7) | ((s & 31) << 2))
}

/// `c.srli rd', shamt`, shamt in 0..=63 (0 is the HINT the reference emits for a zero shift).
#[inline]
pub fn c_srli(rd: XReg, shamt: i64) -> Res<u16> {
    c_shift_right(0, rd, shamt)
}

/// `c.srai rd', shamt`, shamt in 0..=63.
#[inline]
pub fn c_srai(rd: XReg, shamt: i64) -> Res<u16> {
    c_shift_right(1, rd, shamt)
}

/// CL/CS word offset: uimm[5:3] at bits 12:10, uimm[2] at bit 6, uimm[6] at bit 5.
#[inline]
fn c_word_offset(off: i64) -> Res<u16> {
    let o = offset(off, 0, 124, 4)? as u16;
    Ok((((o >> 3) & 7) << 10) | (((o >> 2) & 1) << 6) | (((o >> 6) & 1) << 5))
}

/// `c.lw rd', off(rs1')`, off in 0..=124, multiple of 4.
#[inline]
pub fn c_lw(rd: XReg, rs1: XReg, off: i64) -> Res<u16> {
    Ok(0x4000 | c_word_offset(off)? | (cx(rs1)? << 7) | (cx(rd)? << 2))
}

/// `c.sw src', off(base')`, off in 0..=124, multiple of 4.
#[inline]
pub fn c_sw(src: XReg, base: XReg, off: i64) -> Res<u16> {
    Ok(0xC000 | c_word_offset(off)? | (cx(base)? << 7) | (cx(src)? << 2))
}

/// `c.lwsp rd, off(sp)`: rd != zero, off in 0..=252, multiple of 4.
#[inline]
pub fn c_lwsp(rd: XReg, off: i64) -> Res<u16> {
    let o = offset(off, 0, 252, 4)? as u16;
    if rd == XReg::ZERO {
        return Err(AsmError::ReservedRegister(rd));
    }
    let bits = (((o >> 5) & 1) << 5) | (((o >> 2) & 7) << 2) | ((o >> 6) & 3);
    Ok(ci(2, rd, bits, 2))
}

/// `c.swsp src, off(sp)`: off in 0..=252, multiple of 4.
#[inline]
pub fn c_swsp(src: XReg, off: i64) -> Res<u16> {
    let o = offset(off, 0, 252, 4)? as u16;
    let bits = (((o >> 2) & 15) << 2) | ((o >> 6) & 3);
    Ok(0xC002 | (bits << 7) | ((src.0 as u16 & 31) << 2))
}

/// CB branch offset bits: offset[8|4:3] at 12:10, offset[7:6|2:1|5] at 6:2.
#[inline]
const fn cb_offset(o: i64) -> u16 {
    let o = (o as u16) & 0x1FF;
    (((o >> 8) & 1) << 12)
        | (((o >> 3) & 3) << 10)
        | (((o >> 6) & 3) << 5)
        | (((o >> 1) & 3) << 3)
        | (((o >> 5) & 1) << 2)
}

/// `c.beqz rs1', off`, off in -256..=254, even.
#[inline]
pub fn c_beqz(rs1: XReg, off: i64) -> Res<u16> {
    let o = offset(off, -256, 254, 2)?;
    Ok(0xC001 | cb_offset(o) | (cx(rs1)? << 7))
}

/// `c.bnez rs1', off`, off in -256..=254, even.
#[inline]
pub fn c_bnez(rs1: XReg, off: i64) -> Res<u16> {
    let o = offset(off, -256, 254, 2)?;
    Ok(0xE001 | cb_offset(o) | (cx(rs1)? << 7))
}

/// CJ jump target bits: offset[11|4|9:8|10|6|7|3:1|5] at 12:2.
#[inline]
const fn cj_offset(o: i64) -> u16 {
    let o = (o as u16) & 0xFFF;
    let bits = (((o >> 11) & 1) << 10)
        | (((o >> 4) & 1) << 9)
        | (((o >> 8) & 3) << 7)
        | (((o >> 10) & 1) << 6)
        | (((o >> 6) & 1) << 5)
        | (((o >> 7) & 1) << 4)
        | (((o >> 1) & 7) << 1)
        | ((o >> 5) & 1);
    bits << 2
}

/// `c.j off`, off in -2048..=2046, even.
#[inline]
pub fn c_j(off: i64) -> Res<u16> {
    Ok(0xA001 | cj_offset(offset(off, -2048, 2046, 2)?))
}

/// `c.jal off` (RV32 only; links ra), off in -2048..=2046, even.
#[inline]
pub fn c_jal(off: i64) -> Res<u16> {
    Ok(0x2001 | cj_offset(offset(off, -2048, 2046, 2)?))
}

/// `c.jr rs1`, rs1 != zero.
#[inline]
pub fn c_jr(rs1: XReg) -> Res<u16> {
    if rs1 == XReg::ZERO {
        return Err(AsmError::ReservedRegister(rs1));
    }
    Ok(cr(0x8, rs1, XReg::ZERO, 2))
}

/// `c.jalr rs1`, rs1 != zero.
#[inline]
pub fn c_jalr(rs1: XReg) -> Res<u16> {
    if rs1 == XReg::ZERO {
        return Err(AsmError::ReservedRegister(rs1));
    }
    Ok(cr(0x9, rs1, XReg::ZERO, 2))
}

/// `c.ebreak`.
#[inline]
pub const fn c_ebreak() -> u16 {
    0x9002
}

/// `c.nop`.
#[inline]
pub const fn c_nop() -> u16 {
    0x0001
}

// ---- the reference's selecting forms ---------------------------------------------------------

#[inline]
fn c(h: Res<u16>) -> Res<Insn> {
    h.map(Insn::compressed)
}

#[inline]
fn w(word: Res<u32>) -> Res<Insn> {
    word.map(Insn::full)
}

/// `add rd, rs1, rs2`: `c.add` when rd == rs1 and neither rd nor rs2 is zero.
#[inline]
pub fn add(rd: XReg, rs1: XReg, rs2: XReg) -> Insn {
    if rd == rs1 && rd != XReg::ZERO && rs2 != XReg::ZERO {
        Insn::compressed(c_add(rd, rs2))
    } else {
        Insn::full(add32(rd, rs1, rs2))
    }
}

#[inline]
fn ca_or_r(
    compressed: fn(XReg, XReg) -> Res<u16>,
    full: fn(XReg, XReg, XReg) -> u32,
    rd: XReg,
    rs1: XReg,
    rs2: XReg,
) -> Insn {
    match compressed(rd, rs2) {
        Ok(h) if rd == rs1 => Insn::compressed(h),
        _ => Insn::full(full(rd, rs1, rs2)),
    }
}

/// `sub rd, rs1, rs2`: `c.sub` when rd == rs1 and rd, rs2 are in x8..x15.
#[inline]
pub fn sub(rd: XReg, rs1: XReg, rs2: XReg) -> Insn {
    ca_or_r(c_sub, sub32, rd, rs1, rs2)
}

/// `and rd, rs1, rs2`: `c.and` when rd == rs1 and rd, rs2 are in x8..x15.
#[inline]
pub fn and(rd: XReg, rs1: XReg, rs2: XReg) -> Insn {
    ca_or_r(c_and, and32, rd, rs1, rs2)
}

/// `or rd, rs1, rs2`: `c.or` when rd == rs1 and rd, rs2 are in x8..x15.
#[inline]
pub fn or(rd: XReg, rs1: XReg, rs2: XReg) -> Insn {
    ca_or_r(c_or, or32, rd, rs1, rs2)
}

/// `xor rd, rs1, rs2`: `c.xor` when rd == rs1 and rd, rs2 are in x8..x15.
#[inline]
pub fn xor(rd: XReg, rs1: XReg, rs2: XReg) -> Insn {
    ca_or_r(c_xor, xor32, rd, rs1, rs2)
}

/// `addi rd, rs1, imm`: `c.addi` when rd == rs1 != zero and imm in -32..=31 (0 included).
#[inline]
pub fn addi(rd: XReg, rs1: XReg, value: i64) -> Res<Insn> {
    if rd == rs1 && rd != XReg::ZERO && in_range(value, -32, 31) {
        c(c_addi(rd, value))
    } else {
        w(addi32(rd, rs1, value))
    }
}

/// `andi rd, rs1, imm`: `c.andi` when rd == rs1 in x8..x15 and imm in -32..=31.
#[inline]
pub fn andi(rd: XReg, rs1: XReg, value: i64) -> Res<Insn> {
    if rd == rs1 && rd.is_compressible() && in_range(value, -32, 31) {
        c(c_andi(rd, value))
    } else {
        w(andi32(rd, rs1, value))
    }
}

/// `slli rd, rs1, shamt`: `c.slli` when rd == rs1 != zero and shamt in 1..=31.
#[inline]
pub fn slli(rd: XReg, rs1: XReg, shamt: i64) -> Res<Insn> {
    if rd == rs1 && rd != XReg::ZERO && in_range(shamt, 1, 31) {
        c(c_slli(rd, shamt))
    } else {
        w(slli32(rd, rs1, shamt))
    }
}

/// `srli rd, rs1, shamt`: `c.srli` when rd == rs1 in x8..x15 (shamt 0 included).
#[inline]
pub fn srli(rd: XReg, rs1: XReg, shamt: i64) -> Res<Insn> {
    if rd == rs1 && rd.is_compressible() && in_range(shamt, 0, 31) {
        c(c_srli(rd, shamt))
    } else {
        w(srli32(rd, rs1, shamt))
    }
}

/// `srai rd, rs1, shamt`: `c.srai` when rd == rs1 in x8..x15 (shamt 0 included).
#[inline]
pub fn srai(rd: XReg, rs1: XReg, shamt: i64) -> Res<Insn> {
    if rd == rs1 && rd.is_compressible() && in_range(shamt, 0, 31) {
        c(c_srai(rd, shamt))
    } else {
        w(srai32(rd, rs1, shamt))
    }
}

/// `lw rd, off(rs1)`: `c.lwsp` from sp (rd != zero, off 0..=252 step 4), `c.lw` with rd, rs1 in
/// x8..x15 (off 0..=124 step 4), else the 32-bit form.
#[inline]
pub fn lw(rd: XReg, rs1: XReg, off: i64) -> Res<Insn> {
    let word_aligned = off % 4 == 0;
    if rs1 == XReg::SP && rd != XReg::ZERO && word_aligned && in_range(off, 0, 252) {
        c(c_lwsp(rd, off))
    } else if word_aligned && in_range(off, 0, 124) && rd.is_compressible() && rs1.is_compressible()
    {
        c(c_lw(rd, rs1, off))
    } else {
        w(lw32(rd, rs1, off))
    }
}

/// `sw src, off(base)`: `c.swsp` to sp (off 0..=252 step 4), `c.sw` with base, src in x8..x15
/// (off 0..=124 step 4), else the 32-bit form. Base first, as in the reference.
#[inline]
pub fn sw(base: XReg, src: XReg, off: i64) -> Res<Insn> {
    let word_aligned = off % 4 == 0;
    if base == XReg::SP && word_aligned && in_range(off, 0, 252) {
        c(c_swsp(src, off))
    } else if word_aligned
        && in_range(off, 0, 124)
        && base.is_compressible()
        && src.is_compressible()
    {
        c(c_sw(src, base, off))
    } else {
        w(sw32(base, src, off))
    }
}

/// `beq rs1, rs2, off`: `c.beqz` when rs2 is zero, rs1 in x8..x15 and off in -256..=254.
#[inline]
pub fn beq(rs1: XReg, rs2: XReg, off: i64) -> Res<Insn> {
    if rs2 == XReg::ZERO && rs1.is_compressible() && off % 2 == 0 && in_range(off, -256, 254) {
        c(c_beqz(rs1, off))
    } else {
        w(beq32(rs1, rs2, off))
    }
}

/// `bne rs1, rs2, off`: `c.bnez` when rs2 is zero, rs1 in x8..x15 and off in -256..=254.
#[inline]
pub fn bne(rs1: XReg, rs2: XReg, off: i64) -> Res<Insn> {
    if rs2 == XReg::ZERO && rs1.is_compressible() && off % 2 == 0 && in_range(off, -256, 254) {
        c(c_bnez(rs1, off))
    } else {
        w(bne32(rs1, rs2, off))
    }
}

/// `jal rd, off`: `c.j` (rd = zero) or `c.jal` (rd = ra) when off is in -2048..=2046.
#[inline]
pub fn jal(rd: XReg, off: i64) -> Res<Insn> {
    let short = off % 2 == 0 && in_range(off, -2048, 2046);
    if short && rd == XReg::ZERO {
        c(c_j(off))
    } else if short && rd == XReg::RA {
        c(c_jal(off))
    } else {
        w(jal32(rd, off))
    }
}

/// `jalr rd, off(rs1)`: `c.jr` (rd = zero) or `c.jalr` (rd = ra) when off is 0 and rs1 != zero.
#[inline]
pub fn jalr(rd: XReg, rs1: XReg, off: i64) -> Res<Insn> {
    if off == 0 && rs1 != XReg::ZERO && rd == XReg::ZERO {
        c(c_jr(rs1))
    } else if off == 0 && rs1 != XReg::ZERO && rd == XReg::RA {
        c(c_jalr(rs1))
    } else {
        w(jalr32(rd, rs1, off))
    }
}

/// `lui rd, imm20`: `c.lui` when rd != zero and imm20 in -32..=31, != 0. As in the reference,
/// `lui sp, <small>` is an error (`c.lui` cannot name sp) rather than the 32-bit form.
#[inline]
pub fn lui(rd: XReg, imm20: i64) -> Res<Insn> {
    if rd != XReg::ZERO && imm20 != 0 && in_range(imm20, -32, 31) {
        c(c_lui(rd, imm20))
    } else {
        w(lui32(rd, imm20))
    }
}

/// `nop`: always the 32-bit `addi zero, zero, 0` (the reference never picks `c.nop` for it).
#[inline]
pub const fn nop() -> Insn {
    Insn::full(0x0000_0013)
}

/// `mv rd, rs`: `c.mv` when neither is zero, else `addi rd, rs, 0`.
#[inline]
pub fn mv(rd: XReg, rs: XReg) -> Insn {
    if rd != XReg::ZERO && rs != XReg::ZERO {
        Insn::compressed(c_mv(rd, rs))
    } else {
        // An immediate of 0 is always in range.
        Insn::full(i_type(OP_IMM, rd, 0, rs, 0))
    }
}

/// `not rd, rs` = `xori rd, rs, -1` (32-bit).
#[inline]
pub const fn not(rd: XReg, rs: XReg) -> Insn {
    Insn::full(i_type(OP_IMM, rd, 4, rs, -1))
}

/// `neg rd, rs` = `sub rd, zero, rs` (always 32-bit: zero is not a compressed register).
#[inline]
pub const fn neg(rd: XReg, rs: XReg) -> Insn {
    Insn::full(sub32(rd, XReg::ZERO, rs))
}

/// `j off` = `jal zero, off`.
#[inline]
pub fn j(off: i64) -> Res<Insn> {
    jal(XReg::ZERO, off)
}

/// `jr rs` = `jalr zero, 0(rs)`.
#[inline]
pub fn jr(rs: XReg) -> Insn {
    match c_jr(rs) {
        Ok(h) => Insn::compressed(h),
        Err(_) => Insn::full(i_type(JALR, XReg::ZERO, 0, rs, 0)),
    }
}

/// `ret` = `c.jr ra`.
#[inline]
pub const fn ret() -> Insn {
    Insn::compressed(cr(0x8, XReg::RA, XReg::ZERO, 2))
}

/// `li rd, imm` as the reference expands it (imm in -2^31..=2^32-1):
/// * rd != zero and imm in -32..=31: `c.li`;
/// * imm in -2048..=2047: `addi rd, zero, imm` (32-bit);
/// * imm above 0x7FFFFFFF with imm - 2^32 >= -2048: `addi rd, zero, imm - 2^32` (32-bit, never
///   `c.li`; an error past 2^32 + 2047);
/// * otherwise `lui rd, hi` (maybe `c.lui`) then, if the low 12 bits are not zero,
///   `addi rd, rd, lo` (maybe `c.addi`), hi rounded so that the sign-extended lo adds up.
pub fn li(rd: XReg, value: i64) -> Res<Seq> {
    if rd != XReg::ZERO && in_range(value, -32, 31) {
        return c(c_li(rd, value)).map(Seq::one);
    }
    if in_range(value, -2048, 2047) {
        return addi(rd, XReg::ZERO, value).map(Seq::one);
    }
    // Like the reference, this clause has no upper bound: `addi` rejects what does not fit.
    if value > 0x7FFF_FFFF && value - 0x1_0000_0000 >= -2048 {
        return addi(rd, XReg::ZERO, value - 0x1_0000_0000).map(Seq::one);
    }
    if !in_range(value, -0x8000_0000, 0xFFFF_FFFF) {
        return Err(AsmError::ImmediateOutOfRange(value));
    }
    let unsigned = (value as u64) & 0xFFFF_FFFF;
    let lower = (unsigned & 0xFFF) as i64;
    let upper_raw = if lower >= 0x800 {
        (unsigned >> 12) + 1
    } else {
        unsigned >> 12
    };
    let upper_masked = (upper_raw & 0xF_FFFF) as i64;
    let upper = if upper_masked & 0x8_0000 != 0 {
        upper_masked - 0x10_0000
    } else {
        upper_masked
    };
    let hi = lui(rd, upper)?;
    if lower == 0 {
        return Ok(Seq::one(hi));
    }
    let lower_signed = if lower >= 0x800 {
        lower - 0x1000
    } else {
        lower
    };
    Ok(Seq::two(hi, addi(rd, rd, lower_signed)?))
}

/// `call`-style far call as the reference's `call(Rd, Offset)` builds it: `auipc rd, hi` then
/// `jalr ra, lo(rd)` (so `c.jalr rd` when lo is 0). As in the reference, `hi` is taken as an
/// unsigned 20-bit value, so offsets whose rounded upper part is negative (below -2048) are
/// rejected by `auipc`'s range check. The backend does not use it.
pub fn call(rd: XReg, off: i64) -> Res<Seq> {
    if !in_range(off, -0x8000_0000, 0x7FFF_FFFF) {
        return Err(AsmError::OffsetOutOfRange(off));
    }
    let lower = off & 0xFFF;
    let upper = if lower >= 0x800 {
        ((off >> 12) + 1) & 0xF_FFFF
    } else {
        (off >> 12) & 0xF_FFFF
    };
    let lower_signed = if lower >= 0x800 {
        lower - 0x1000
    } else {
        lower
    };
    let hi = Insn::full(auipc(rd, upper)?);
    Ok(Seq::two(hi, jalr(XReg::RA, rd, lower_signed)?))
}

/// Splits a pc-relative offset into the `auipc` upper immediate and the sign-extended low 12
/// bits (`hi << 12) + lo == rel`), rounding as the reference's jump table, far branches and
/// `pc_relative_address` do. `None` when `hi` does not fit `auipc`.
#[inline]
pub fn split_pc_offset(rel: i64) -> Option<(i64, i64)> {
    let hi = rel.checked_add(0x800)? >> 12;
    let lo = rel - (hi << 12);
    in_range(hi, -0x8_0000, 0x7_FFFF).then_some((hi, lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked() {
        // From the ISA manual's encoding tables.
        assert_eq!(nop().bits(), 0x0000_0013);
        assert_eq!(ret().bits(), 0x8082);
        assert_eq!(c_nop(), 0x0001);
        assert_eq!(c_ebreak(), 0x9002);
        assert_eq!(add(XReg::A0, XReg::A0, XReg::A1).bits(), 0x952e);
        assert_eq!(mv(XReg::A0, XReg::A1).bits(), 0x852e);
        assert_eq!(add32(XReg::A0, XReg::A1, XReg::A2), 0x00c5_8533);
        assert_eq!(mul(XReg::A0, XReg::A1, XReg::A2), 0x02c5_8533);
        assert_eq!(c_srli(XReg::A0, 0), Ok(0x8101));
        assert_eq!(c_srai(XReg::A0, 0), Ok(0x8501));
    }

    #[test]
    fn split_pc_offset_rounds() {
        assert_eq!(split_pc_offset(0), Some((0, 0)));
        assert_eq!(split_pc_offset(0x7FF), Some((0, 0x7FF)));
        assert_eq!(split_pc_offset(0x800), Some((1, -0x800)));
        assert_eq!(split_pc_offset(-0x800), Some((0, -0x800)));
        assert_eq!(split_pc_offset(-0x801), Some((-1, 0x7FF)));
        assert_eq!(split_pc_offset(0x7FFF_F7FF), Some((0x7_FFFF, 0x7FF)));
        assert_eq!(split_pc_offset(0x7FFF_F800), None);
        assert_eq!(split_pc_offset(i64::MAX), None);
        assert_eq!(split_pc_offset(i64::MIN), None);
    }

    #[test]
    fn extreme_operands_are_errors_not_panics() {
        let r = XReg::A0;
        for v in [
            i64::MIN,
            i64::MIN + 1,
            -1 << 40,
            1 << 40,
            i64::MAX - 1,
            i64::MAX,
        ] {
            for f in [
                addi32, slti, sltiu, xori, ori, andi32, slli32, srli32, srai32,
            ] {
                assert!(f(r, r, v).is_err());
            }
            for f in [
                lb, lh, lw32, lbu, lhu, sb, sh, sw32, beq32, bne32, blt, bge, bltu, bgeu,
            ] {
                assert!(f(r, r, v).is_err());
            }
            for f in [addi, andi, slli, srli, srai, lw, sw, beq, bne, jalr] {
                assert!(f(r, r, v).is_err());
            }
            for f in [
                c_addi, c_andi, c_li, c_lui, c_slli, c_srli, c_srai, c_lwsp, c_swsp,
            ] {
                assert!(f(r, v).is_err());
            }
            for f in [c_beqz, c_bnez, c_addi4spn] {
                assert!(f(r, v).is_err());
            }
            assert!(j(v).is_err());
            for f in [c_j, c_jal, c_addi16sp] {
                assert!(f(v).is_err());
            }
            assert!(c_lw(r, r, v).is_err() && c_sw(r, r, v).is_err());
            assert!(jal32(r, v).is_err() && jal(r, v).is_err() && jalr32(r, r, v).is_err());
            assert!(lui32(r, v).is_err() && lui(r, v).is_err() && auipc(r, v).is_err());
            assert!(li(r, v).is_err() && call(r, v).is_err());
        }
    }
}

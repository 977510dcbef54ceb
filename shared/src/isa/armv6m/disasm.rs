//! Thumb disassembler for the code the JIT emits: every ARMv6-M (Cortex-M0) 16-bit encoding, the 32-bit
//! `bl`, and the Thumb-2 `b.w` (T4), `movw` and `movt` used by the Pico 2 variant.
//!
//! The text follows GNU objdump (`-M force-thumb`) to the character, so a listing can be diffed against
//! objdump's: APCS register names (`sl`, `fp`, `ip`), `@ 0x..` comments after immediates above 32,
//! absolute branch targets. Encodings objdump knows but ARMv6-M lacks (CBZ, IT, HLT, SETEND, BXNS, ...)
//! and undefined ones print as `.short 0x....`; unsupported 32-bit ones as `.word 0x........`.
//!
//! Decoding allocates nothing: [`decode`] returns a small [`Decoded`] value that formats itself.

use core::fmt::{self, Write};

/// One decoded instruction (or data directive) at a known address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes consumed: 2 or 4; 1 for a lone trailing byte, 0 only for empty input.
    pub len: usize,
    /// The instruction's fields; `Display` prints `mnemonic\toperands`.
    pub insn: Insn,
    /// Absolute address a branch jumps to, or a literal load / `adr` refers to.
    pub target: Option<u32>,
}

/// Decoded fields, grouped by operand shape. Register numbers are 0..=15.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    /// `op rd, rn, rm`
    Reg3 {
        op: &'static str,
        rd: u8,
        rn: u8,
        rm: u8,
    },
    /// `op rd, rm`
    Reg2 { op: &'static str, rd: u8, rm: u8 },
    /// `op rd, rn, #imm`
    Reg2Imm {
        op: &'static str,
        rd: u8,
        rn: u8,
        imm: u32,
    },
    /// `op rd, #imm`
    RegImm { op: &'static str, rd: u8, imm: u32 },
    /// `op rm` (`bx`, `blx`)
    Reg1 { op: &'static str, rm: u8 },
    /// `op rt, [rn, rm]`
    MemReg {
        op: &'static str,
        rt: u8,
        rn: u8,
        rm: u8,
    },
    /// `op rt, [rn, #imm]`
    MemImm {
        op: &'static str,
        rt: u8,
        rn: u8,
        imm: u32,
    },
    /// `ldr rt, [pc, #imm]` reading the word at `target`
    LoadLiteral { rt: u8, imm: u32, target: u32 },
    /// `add rd, pc, #imm` (objdump also spells it `adr rd, target`)
    Adr { rd: u8, imm: u32, target: u32 },
    /// `push`/`pop`; bit n of `regs` is register n (bit 14 = lr, bit 15 = pc)
    RegList { op: &'static str, regs: u16 },
    /// `stmia`/`ldmia rn{!}, {...}`
    Multiple {
        op: &'static str,
        rn: u8,
        writeback: bool,
        regs: u16,
    },
    /// `b.n`, `b<cond>.n`, `bl`, `b.w` to an absolute address
    Branch { op: &'static str, target: u32 },
    /// `udf #imm`
    Udf(u8),
    /// `svc imm`
    Svc(u8),
    /// `bkpt 0x....`
    Bkpt(u8),
    /// Unallocated hint, executed as a no-op: `nop {n}`
    HintNop(u8),
    /// Fixed text without operand fields (`nop`, `sev`, `cpsid i`, ...)
    Plain(&'static str),
    /// Undefined or not ARMv6-M: `.short 0x....`
    Short(u16),
    /// 32-bit encoding outside the supported set: `.word 0x........` (first halfword high)
    Word(u32),
    /// Lone trailing byte: `.byte 0x..`
    Byte(u8),
    /// Nothing to decode (empty input)
    Empty,
}

const REG_NAMES: [&str; 16] = [
    "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "sl", "fp", "ip", "sp", "lr", "pc",
];

/// Conditional branch mnemonics, indexed by the condition field (14 = UDF, 15 = SVC are handled apart).
const COND_BRANCHES: [&str; 14] = [
    "beq.n", "bne.n", "bcs.n", "bcc.n", "bmi.n", "bpl.n", "bvs.n", "bvc.n", "bhi.n", "bls.n",
    "bge.n", "blt.n", "bgt.n", "ble.n",
];

fn reg(r: u8) -> &'static str {
    REG_NAMES[usize::from(r & 15)]
}

/// Register field of `width` bits at bit `lsb`.
fn field(hw: u16, lsb: u32, width: u32) -> u8 {
    ((u32::from(hw) >> lsb) & ((1 << width) - 1)) as u8
}

/// Sign-extends the low `bits` bits of `value`.
fn sign_extend(value: u32, bits: u32) -> i32 {
    let shift = 32 - bits;
    ((value << shift) as i32) >> shift
}

/// The PC value Thumb instructions see: their address + 4.
fn pc_of(address: u32) -> u32 {
    address.wrapping_add(4)
}

/// Decodes the instruction at the start of `bytes` (little-endian), located at `address`.
/// Never panics; short or undefined input yields a data directive.
pub fn decode(bytes: &[u8], address: u32) -> Decoded {
    let (first, rest) = match bytes {
        [] => return without_target(0, Insn::Empty),
        [b] => return without_target(1, Insn::Byte(*b)),
        [lo, hi, rest @ ..] => (u16::from_le_bytes([*lo, *hi]), rest),
    };
    if first >> 11 < 0b11101 {
        return decode16(first, address);
    }
    match rest {
        [lo, hi, ..] => decode32(first, u16::from_le_bytes([*lo, *hi]), address),
        _ => without_target(2, Insn::Short(first)),
    }
}

fn without_target(len: usize, insn: Insn) -> Decoded {
    Decoded {
        len,
        insn,
        target: None,
    }
}

fn with_target(len: usize, insn: Insn, target: u32) -> Decoded {
    Decoded {
        len,
        insn,
        target: Some(target),
    }
}

fn decode16(hw: u16, address: u32) -> Decoded {
    let low3 = field(hw, 0, 3);
    let mid3 = field(hw, 3, 3);
    let top3 = field(hw, 8, 3);
    let imm8 = u32::from(hw & 0xff);
    let insn = match hw >> 11 {
        // Shift by immediate; LSL #0 is the flag-setting register move.
        0b00000..=0b00010 => {
            let imm5 = u32::from(field(hw, 6, 5));
            let (rd, rm) = (low3, mid3);
            match (hw >> 11, imm5) {
                (0, 0) => Insn::Reg2 { op: "movs", rd, rm },
                (0, _) => Insn::Reg2Imm {
                    op: "lsls",
                    rd,
                    rn: rm,
                    imm: imm5,
                },
                (1, _) => Insn::Reg2Imm {
                    op: "lsrs",
                    rd,
                    rn: rm,
                    imm: if imm5 == 0 { 32 } else { imm5 },
                },
                _ => Insn::Reg2Imm {
                    op: "asrs",
                    rd,
                    rn: rm,
                    imm: if imm5 == 0 { 32 } else { imm5 },
                },
            }
        }
        0b00011 => {
            let op = if hw & 0x0200 == 0 { "adds" } else { "subs" };
            let third = field(hw, 6, 3);
            if hw & 0x0400 == 0 {
                Insn::Reg3 {
                    op,
                    rd: low3,
                    rn: mid3,
                    rm: third,
                }
            } else {
                Insn::Reg2Imm {
                    op,
                    rd: low3,
                    rn: mid3,
                    imm: u32::from(third),
                }
            }
        }
        0b00100 => Insn::RegImm {
            op: "movs",
            rd: top3,
            imm: imm8,
        },
        0b00101 => Insn::RegImm {
            op: "cmp",
            rd: top3,
            imm: imm8,
        },
        0b00110 => Insn::RegImm {
            op: "adds",
            rd: top3,
            imm: imm8,
        },
        0b00111 => Insn::RegImm {
            op: "subs",
            rd: top3,
            imm: imm8,
        },
        0b01000 if hw & 0x0400 == 0 => {
            const OPS: [&str; 16] = [
                "ands", "eors", "lsls", "lsrs", "asrs", "adcs", "sbcs", "rors", "tst", "negs",
                "cmp", "cmn", "orrs", "muls", "bics", "mvns",
            ];
            Insn::Reg2 {
                op: OPS[usize::from(field(hw, 6, 4))],
                rd: low3,
                rm: mid3,
            }
        }
        0b01000 => return decode_hi_register(hw),
        0b01001 => {
            let imm = imm8 * 4;
            let target = (pc_of(address) & !3).wrapping_add(imm);
            return with_target(
                2,
                Insn::LoadLiteral {
                    rt: top3,
                    imm,
                    target,
                },
                target,
            );
        }
        0b01010 | 0b01011 => {
            const OPS: [&str; 8] = [
                "str", "strh", "strb", "ldrsb", "ldr", "ldrh", "ldrb", "ldrsh",
            ];
            Insn::MemReg {
                op: OPS[usize::from(field(hw, 9, 3))],
                rt: low3,
                rn: mid3,
                rm: field(hw, 6, 3),
            }
        }
        0b01100..=0b10001 => {
            let imm5 = u32::from(field(hw, 6, 5));
            let (op, imm) = match hw >> 11 {
                0b01100 => ("str", imm5 * 4),
                0b01101 => ("ldr", imm5 * 4),
                0b01110 => ("strb", imm5),
                0b01111 => ("ldrb", imm5),
                0b10000 => ("strh", imm5 * 2),
                _ => ("ldrh", imm5 * 2),
            };
            Insn::MemImm {
                op,
                rt: low3,
                rn: mid3,
                imm,
            }
        }
        0b10010 => Insn::MemImm {
            op: "str",
            rt: top3,
            rn: 13,
            imm: imm8 * 4,
        },
        0b10011 => Insn::MemImm {
            op: "ldr",
            rt: top3,
            rn: 13,
            imm: imm8 * 4,
        },
        0b10100 => {
            let imm = imm8 * 4;
            let target = (pc_of(address) & !3).wrapping_add(imm);
            return with_target(
                2,
                Insn::Adr {
                    rd: top3,
                    imm,
                    target,
                },
                target,
            );
        }
        0b10101 => Insn::Reg2Imm {
            op: "add",
            rd: top3,
            rn: 13,
            imm: imm8 * 4,
        },
        0b10110 | 0b10111 => decode_misc(hw),
        0b11000 => Insn::Multiple {
            op: "stmia",
            rn: top3,
            writeback: true,
            regs: hw & 0xff,
        },
        0b11001 => {
            // LDM writes back only when the base is not also loaded.
            let writeback = (hw >> top3) & 1 == 0;
            Insn::Multiple {
                op: "ldmia",
                rn: top3,
                writeback,
                regs: hw & 0xff,
            }
        }
        0b11010 | 0b11011 => {
            let cond = usize::from(field(hw, 8, 4));
            match COND_BRANCHES.get(cond) {
                Some(&op) => {
                    let target = pc_of(address).wrapping_add((sign_extend(imm8, 8) * 2) as u32);
                    return with_target(2, Insn::Branch { op, target }, target);
                }
                None if cond == 14 => Insn::Udf(imm8 as u8),
                None => Insn::Svc(imm8 as u8),
            }
        }
        0b11100 => {
            let offset = sign_extend(u32::from(hw & 0x7ff), 11) * 2;
            let target = pc_of(address).wrapping_add(offset as u32);
            return with_target(2, Insn::Branch { op: "b.n", target }, target);
        }
        _ => Insn::Short(hw),
    };
    without_target(2, insn)
}

/// ADD/CMP/MOV on any registers, BX and BLX (0x4400..=0x47ff).
fn decode_hi_register(hw: u16) -> Decoded {
    let rdn = field(hw, 0, 3) | (field(hw, 7, 1) << 3);
    let rm = field(hw, 3, 4);
    let insn = match field(hw, 8, 2) {
        0 => Insn::Reg2 {
            op: "add",
            rd: rdn,
            rm,
        },
        1 => Insn::Reg2 {
            op: "cmp",
            rd: rdn,
            rm,
        },
        2 if rdn == 8 && rm == 8 => Insn::Plain("nop\t\t\t@ (mov r8, r8)"),
        2 => Insn::Reg2 {
            op: "mov",
            rd: rdn,
            rm,
        },
        _ => {
            let link = hw & 0x80 != 0;
            match (link, hw & 7) {
                // Low bits 100 select the ARMv8-M secure-state variants (BXNS/BLXNS).
                (_, 4) => Insn::Short(hw),
                (false, _) => Insn::Reg1 { op: "bx", rm },
                (true, 0) => Insn::Reg1 { op: "blx", rm },
                (true, _) => Insn::Short(hw),
            }
        }
    };
    without_target(2, insn)
}

/// The 0xb000..=0xbfff group: SP adjust, extends, push/pop, REV, CPS, BKPT, hints.
fn decode_misc(hw: u16) -> Insn {
    let (rd, rm) = (field(hw, 0, 3), field(hw, 3, 3));
    let imm7 = u32::from(hw & 0x7f);
    match hw >> 8 {
        0xb0 if hw & 0x80 == 0 => Insn::RegImm {
            op: "add",
            rd: 13,
            imm: imm7 * 4,
        },
        0xb0 => Insn::RegImm {
            op: "sub",
            rd: 13,
            imm: imm7 * 4,
        },
        0xb2 => {
            const OPS: [&str; 4] = ["sxth", "sxtb", "uxth", "uxtb"];
            Insn::Reg2 {
                op: OPS[usize::from(field(hw, 6, 2))],
                rd,
                rm,
            }
        }
        0xb4 | 0xb5 => Insn::RegList {
            op: "push",
            regs: (hw & 0xff) | ((hw & 0x100) << 6),
        },
        0xbc | 0xbd => Insn::RegList {
            op: "pop",
            regs: (hw & 0xff) | ((hw & 0x100) << 7),
        },
        0xb6 => match hw {
            0xb662 => Insn::Plain("cpsie\ti"),
            0xb672 => Insn::Plain("cpsid\ti"),
            _ => Insn::Short(hw),
        },
        0xba => match field(hw, 6, 2) {
            0 => Insn::Reg2 { op: "rev", rd, rm },
            1 => Insn::Reg2 {
                op: "rev16",
                rd,
                rm,
            },
            3 => Insn::Reg2 {
                op: "revsh",
                rd,
                rm,
            },
            _ => Insn::Short(hw), // HLT (ARMv8)
        },
        0xbe => Insn::Bkpt(hw as u8),
        // Low nibble != 0 is IT (not ARMv6-M); 5 is SEVL (ARMv8); 6..15 are unallocated hints.
        0xbf if hw & 0xf == 0 => match field(hw, 4, 4) {
            0 => Insn::Plain("nop"),
            1 => Insn::Plain("yield"),
            2 => Insn::Plain("wfe"),
            3 => Insn::Plain("wfi"),
            4 => Insn::Plain("sev"),
            5 => Insn::Short(hw),
            n => Insn::HintNop(n),
        },
        // CBZ/CBNZ, IT, and the undefined rest.
        _ => Insn::Short(hw),
    }
}

fn decode32(first: u16, second: u16, address: u32) -> Decoded {
    let word = (u32::from(first) << 16) | u32::from(second);
    // BL (T1) and B.W (T4): 11110 S imm10 / 1 x J1 1 J2 imm11, x = 1 for BL.
    if first >> 11 == 0b11110 && second & 0x9000 == 0x9000 {
        let s = u32::from(first >> 10) & 1;
        let j1 = u32::from(second >> 13) & 1;
        let j2 = u32::from(second >> 11) & 1;
        let i1 = !(j1 ^ s) & 1;
        let i2 = !(j2 ^ s) & 1;
        let raw = (s << 24)
            | (i1 << 23)
            | (i2 << 22)
            | (u32::from(first & 0x3ff) << 12)
            | (u32::from(second & 0x7ff) << 1);
        let target = pc_of(address).wrapping_add(sign_extend(raw, 25) as u32);
        let op = if second & 0x4000 != 0 { "bl" } else { "b.w" };
        return with_target(4, Insn::Branch { op, target }, target);
    }
    // MOVW / MOVT (T3/T1): 11110 i 10 x100 imm4 / 0 imm3 Rd imm8, x = 1 for MOVT.
    let wide_move = match first & 0xfbf0 {
        0xf240 => Some("movw"),
        0xf2c0 => Some("movt"),
        _ => None,
    };
    if let (Some(op), 0) = (wide_move, second & 0x8000) {
        let imm = (u32::from(first & 0xf) << 12)
            | (u32::from((first >> 10) & 1) << 11)
            | (u32::from((second >> 12) & 7) << 8)
            | u32::from(second & 0xff);
        return without_target(
            4,
            Insn::RegImm {
                op,
                rd: field(second, 8, 4),
                imm,
            },
        );
    }
    without_target(4, Insn::Word(word))
}

/// objdump repeats decimal immediates above 32 in hex as a trailing comment.
fn imm_comment(f: &mut fmt::Formatter<'_>, imm: u32) -> fmt::Result {
    if imm > 32 {
        write!(f, "\t@ 0x{imm:x}")?;
    }
    Ok(())
}

/// `{r0, r4, lr}`
fn write_reg_list(f: &mut fmt::Formatter<'_>, regs: u16) -> fmt::Result {
    f.write_str("{")?;
    let mut separator = "";
    for r in (0..16u8).filter(|r| regs & (1 << r) != 0) {
        write!(f, "{separator}{}", reg(r))?;
        separator = ", ";
    }
    f.write_str("}")
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Insn::Reg3 { op, rd, rn, rm } => {
                write!(f, "{op}\t{}, {}, {}", reg(rd), reg(rn), reg(rm))
            }
            Insn::Reg2 { op, rd, rm } => write!(f, "{op}\t{}, {}", reg(rd), reg(rm)),
            Insn::Reg2Imm { op, rd, rn, imm } => {
                write!(f, "{op}\t{}, {}, #{imm}", reg(rd), reg(rn))?;
                imm_comment(f, imm)
            }
            Insn::RegImm { op, rd, imm } => {
                write!(f, "{op}\t{}, #{imm}", reg(rd))?;
                imm_comment(f, imm)
            }
            Insn::Reg1 { op, rm } => write!(f, "{op}\t{}", reg(rm)),
            Insn::MemReg { op, rt, rn, rm } => {
                write!(f, "{op}\t{}, [{}, {}]", reg(rt), reg(rn), reg(rm))
            }
            Insn::MemImm { op, rt, rn, imm } => {
                write!(f, "{op}\t{}, [{}, #{imm}]", reg(rt), reg(rn))?;
                imm_comment(f, imm)
            }
            Insn::LoadLiteral { rt, imm, target } => {
                write!(f, "ldr\t{}, [pc, #{imm}]\t@ (0x{target:x})", reg(rt))
            }
            Insn::Adr { rd, imm, target } => {
                let rd = reg(rd);
                write!(f, "add\t{rd}, pc, #{imm}\t@ (adr {rd}, 0x{target:x})")
            }
            Insn::RegList { op, regs } => {
                write!(f, "{op}\t")?;
                write_reg_list(f, regs)
            }
            Insn::Multiple {
                op,
                rn,
                writeback,
                regs,
            } => {
                write!(f, "{op}\t{}{}, ", reg(rn), if writeback { "!" } else { "" })?;
                write_reg_list(f, regs)
            }
            Insn::Branch { op, target } => write!(f, "{op}\t0x{target:x}"),
            Insn::Udf(imm) => {
                write!(f, "udf\t#{imm}")?;
                imm_comment(f, imm.into())
            }
            Insn::Svc(imm) => {
                write!(f, "svc\t{imm}")?;
                imm_comment(f, imm.into())
            }
            Insn::Bkpt(imm) => write!(f, "bkpt\t0x{imm:04x}"),
            Insn::HintNop(n) => write!(f, "nop\t{{{n}}}"),
            Insn::Plain(text) => f.write_str(text),
            Insn::Short(hw) => write!(f, ".short\t0x{hw:04x}"),
            Insn::Word(word) => write!(f, ".word\t0x{word:08x}"),
            Insn::Byte(b) => write!(f, ".byte\t0x{b:02x}"),
            Insn::Empty => Ok(()),
        }
    }
}

impl fmt::Display for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.insn.fmt(f)
    }
}

/// Prints `bytes` (code loaded at `base`) as objdump-style lines `   addr:\thex\tmnemonic\toperands`.
pub fn disassemble(bytes: &[u8], base: u32, out: &mut impl fmt::Write) -> fmt::Result {
    let mut offset = 0;
    while let Some(rest) = bytes.get(offset..).filter(|rest| !rest.is_empty()) {
        let address = base.wrapping_add(offset as u32);
        let decoded = decode(rest, address);
        write!(out, "{address:8x}:\t")?;
        match rest {
            [a, b, c, d, ..] if decoded.len == 4 => {
                let (first, second) = (u16::from_le_bytes([*a, *b]), u16::from_le_bytes([*c, *d]));
                write!(out, "{first:04x} {second:04x} ")?;
            }
            [a, b, ..] => write!(out, "{:04x}      ", u16::from_le_bytes([*a, *b]))?,
            [a, ..] => write!(out, "{a:02x}        ")?,
            [] => {}
        }
        writeln!(out, "\t{decoded}")?;
        offset += decoded.len.max(1);
    }
    Ok(())
}

pub use crate::isa::listing::first_difference;

/// Both sides around their first difference, disassembled, the differing line marked `>>`.
/// `names` label the two sides in the listing.
pub fn describe_difference(
    left: &[u8],
    right: &[u8],
    names: [&str; 2],
    out: &mut impl Write,
) -> fmt::Result {
    crate::isa::listing::describe_difference(left, right, names, out, |rest, address, out| {
        let decoded = decode(rest, address);
        let len = decoded.len.clamp(1, rest.len());
        let mut hex = alloc::string::String::new();
        for h in rest[..len].chunks(2) {
            match h {
                [lo, hi] => write!(hex, "{hi:02x}{lo:02x} ")?,
                [b] => write!(hex, "{b:02x} ")?,
                _ => {}
            }
        }
        write!(out, "{hex:<10}\t{decoded}")?;
        Ok(len)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};

    fn text(bytes: &[u8], address: u32) -> String {
        decode(bytes, address).to_string()
    }

    fn text16(hw: u16, address: u32) -> String {
        text(&hw.to_le_bytes(), address)
    }

    #[test]
    fn hand_checked_16_bit() {
        assert_eq!(text16(0x2001, 0), "movs\tr0, #1");
        assert_eq!(text16(0x20ff, 0), "movs\tr0, #255\t@ 0xff");
        assert_eq!(text16(0x0008, 0), "movs\tr0, r1");
        assert_eq!(text16(0x0848, 0), "lsrs\tr0, r1, #1");
        assert_eq!(text16(0x1000, 0), "asrs\tr0, r0, #32");
        assert_eq!(text16(0x6a59, 0), "ldr\tr1, [r3, #36]\t@ 0x24");
        assert_eq!(text16(0xb5f0, 0), "push\t{r4, r5, r6, r7, lr}");
        assert_eq!(text16(0xbdf0, 0), "pop\t{r4, r5, r6, r7, pc}");
        assert_eq!(text16(0x4770, 0), "bx\tlr");
        assert_eq!(text16(0x4798, 0), "blx\tr3");
        assert_eq!(text16(0x4664, 0), "mov\tr4, ip");
        assert_eq!(text16(0xc90c, 0), "ldmia\tr1!, {r2, r3}");
        assert_eq!(text16(0xc80f, 0), "ldmia\tr0, {r0, r1, r2, r3}");
        assert_eq!(text16(0xb662, 0), "cpsie\ti");
        assert_eq!(text16(0xb672, 0), "cpsid\ti");
        assert_eq!(text16(0xdeff, 0), "udf\t#255\t@ 0xff");
        assert_eq!(text16(0xbe01, 0), "bkpt\t0x0001");
    }

    #[test]
    fn branch_and_literal_targets() {
        // beq with offset -2 halfwords: 0x100 + 4 - 4.
        let d = decode(&0xd0feu16.to_le_bytes(), 0x100);
        assert_eq!(
            (d.to_string().as_str(), d.target),
            ("beq.n\t0x100", Some(0x100))
        );
        let d = decode(&0xe002u16.to_le_bytes(), 0x10);
        assert_eq!(
            (d.to_string().as_str(), d.target),
            ("b.n\t0x18", Some(0x18))
        );
        // The literal base is the word-aligned PC: (0x12 + 4) & !3 = 0x14, + 8.
        let d = decode(&0x4a02u16.to_le_bytes(), 0x12);
        assert_eq!(
            (d.to_string().as_str(), d.target),
            ("ldr\tr2, [pc, #8]\t@ (0x1c)", Some(0x1c))
        );
        // (0x2 + 4) & !3 = 4, + 4.
        let d = decode(&0xa101u16.to_le_bytes(), 0x2);
        assert_eq!(d.to_string(), "add\tr1, pc, #4\t@ (adr r1, 0x8)");
    }

    #[test]
    fn hand_checked_32_bit() {
        // bl +0x100 from 0: hw1 0xf000, hw2 0xf87e.
        let d = decode(&[0x00, 0xf0, 0x7e, 0xf8], 0);
        assert_eq!(
            (d.len, d.to_string().as_str(), d.target),
            (4, "bl\t0x100", Some(0x100))
        );
        // bl -0x100 from 4 wraps below zero.
        assert_eq!(text(&[0xff, 0xf7, 0x7e, 0xff], 4), "bl\t0xffffff04");
        assert_eq!(text(&[0x0f, 0xf0, 0xfe, 0xbf], 8), "b.w\t0x10008");
        assert_eq!(
            text(&[0x41, 0xf2, 0x34, 0x20], 0),
            "movw\tr0, #4660\t@ 0x1234"
        );
        assert_eq!(
            text(&[0xcf, 0xf6, 0xff, 0x71], 0),
            "movt\tr1, #65535\t@ 0xffff"
        );
        assert_eq!(text(&[0x40, 0xf2, 0x00, 0x0c], 0), "movw\tip, #0");
    }

    #[test]
    fn not_armv6m_and_truncated() {
        assert_eq!(text16(0xb100, 0), ".short\t0xb100"); // cbz
        assert_eq!(text16(0xbf08, 0), ".short\t0xbf08"); // it eq
        assert_eq!(text16(0xba80, 0), ".short\t0xba80"); // hlt
        assert_eq!(text(&[0x00, 0xf0], 0), ".short\t0xf000");
        assert_eq!(decode(&[0x00, 0xf0], 0).len, 2);
        assert_eq!(text(&[0x00, 0xe8, 0x00, 0xbf], 0), ".word\t0xe800bf00");
        assert_eq!(text(&[0x7f], 0), ".byte\t0x7f");
        assert_eq!(decode(&[], 0).len, 0);
    }

    #[test]
    fn listing_format() {
        let mut out = String::new();
        disassemble(&[0x00, 0xbf, 0x00, 0xf0, 0x7e, 0xf8, 0x01], 0x20, &mut out).unwrap();
        assert_eq!(
            out,
            "      20:\tbf00      \tnop\n      22:\tf000 f87e \tbl\t0x122\n      26:\t01        \t.byte\t0x01\n"
        );
    }
}

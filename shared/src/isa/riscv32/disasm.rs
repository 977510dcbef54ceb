//! RISC-V disassembler for the code the riscv32 JIT emits: RV32IM and every compressed (C)
//! encoding of the integer ISA, in GNU objdump's syntax (binutils 2.40, `-m riscv:rv32`, default
//! aliases) to the character, so a listing can be diffed against objdump's: ABI register names,
//! objdump's alias choices (`add a0,a0,1` for `addi`, `li`, `mv`, `nop`, `ret`, `j`, `jr`, `beqz`,
//! `bgez`, `neg`, `seqz`, ...), absolute branch targets, hex shift amounts and upper immediates.
//!
//! [`disassemble`] also reproduces objdump's `# 0x...` comments: like objdump it remembers the
//! value a `lui`/`auipc`/`c.lui` put in a register and prints the address a following `addi`,
//! load, store or `jalr` on that register computes (once), and the absolute address of any
//! access based on `zero` or `tp`.
//!
//! Encodings objdump decodes but the JIT's ISA lacks (floating point, atomics, CSRs, fences) and
//! reserved ones print as `.2byte 0x...` / `.4byte 0x...`. Decoding allocates nothing.

use core::fmt::{self, Write};

use super::asm::REG_NAMES;

/// One decoded instruction (or data directive) at a known address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes consumed: 2 or 4 (6, 8, 10..=22 for the longer length encodings; fewer for
    /// truncated input), 0 only for empty input.
    pub len: usize,
    /// The instruction's fields; `Display` prints `mnemonic\toperands`.
    pub insn: Insn,
    /// Absolute address a branch or jump goes to.
    pub target: Option<u32>,
    /// Effect on objdump's address tracking.
    pub track: Track,
}

/// How an instruction takes part in objdump's `lui`/`auipc` address tracking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    None,
    /// Sets the upper address of register `rd`.
    SetHi {
        rd: u8,
        value: u32,
    },
    /// Computes `base + offset` (an `addi`, load, store or `jalr`).
    Use {
        base: u8,
        offset: i32,
    },
    /// A `jalr` written with an offset operand, which objdump looks up twice: the second look-up
    /// finds the register consumed, so a `zero`/`tp` base prints the bare offset.
    UseTwice {
        base: u8,
        offset: i32,
    },
}

/// Decoded fields, grouped by operand shape. Register numbers are 0..=31.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    /// `op rd,rs1,rs2`
    Reg3 {
        op: &'static str,
        rd: u8,
        rs1: u8,
        rs2: u8,
    },
    /// `op rd,rs` (`mv`, `neg`, `not`, `seqz`, `snez`, `sltz`, `sgtz`, `c.mv`, `c.add`)
    Reg2 { op: &'static str, rd: u8, rs: u8 },
    /// `op rd,rs1,imm` (decimal)
    RegImm {
        op: &'static str,
        rd: u8,
        rs1: u8,
        imm: i32,
    },
    /// `op rd,rs1,0x..` (shifts)
    Shift {
        op: &'static str,
        rd: u8,
        rs1: u8,
        shamt: u32,
    },
    /// `op rd,imm` (decimal: `li`, `c.li`)
    Imm { op: &'static str, rd: u8, imm: i32 },
    /// `op rd,0x..` (`lui`, `auipc`, `c.lui zero`, `c.slli zero`)
    Hex { op: &'static str, rd: u8, imm: u32 },
    /// `op rt,off(base)` (loads, stores, `jalr rd,off(rs1)`)
    Mem {
        op: &'static str,
        rt: u8,
        offset: i32,
        base: u8,
    },
    /// `op off(base)` (`jr`, `jalr` with an offset)
    Indirect {
        op: &'static str,
        offset: i32,
        base: u8,
    },
    /// `op rs1,rs2,target`
    Branch2 {
        op: &'static str,
        rs1: u8,
        rs2: u8,
        target: u32,
    },
    /// `op rs,target` (`beqz`, `bgez`, `jal rd,target`, ...)
    Branch1 {
        op: &'static str,
        rs: u8,
        target: u32,
    },
    /// `op target` (`j`, `jal`)
    Jump { op: &'static str, target: u32 },
    /// `op reg` (`jr`, `jalr`, `c.slli64`, `c.srli64`, `c.srai64`)
    Reg1 { op: &'static str, reg: u8 },
    /// `c.nop imm` (a HINT)
    CNop(i32),
    /// Fixed text without operands (`nop`, `ret`, `ebreak`, `ecall`, `unimp`)
    Plain(&'static str),
    /// Not decoded 16-bit: `.2byte 0x..`
    Half(u16),
    /// Not decoded 32-bit: `.4byte 0x..`
    Word(u32),
    /// 64-bit encoding: `.8byte 0x..`
    DWord(u64),
    /// 48-bit or 80..176-bit encodings, and truncated input: `.byte 0x.., 0x..`
    Bytes { bytes: [u8; 22], len: u8 },
    /// Nothing to decode (empty input)
    Empty,
}

fn reg(r: u8) -> &'static str {
    REG_NAMES[usize::from(r & 31)]
}

fn bits(value: u32, lsb: u32, width: u32) -> u32 {
    (value >> lsb) & ((1 << width) - 1)
}

fn sign_extend(value: u32, width: u32) -> i32 {
    let shift = 32 - width;
    ((value << shift) as i32) >> shift
}

fn plain(len: usize, insn: Insn) -> Decoded {
    Decoded {
        len,
        insn,
        target: None,
        track: Track::None,
    }
}

fn with_target(len: usize, insn: Insn, target: u32) -> Decoded {
    Decoded {
        len,
        insn,
        target: Some(target),
        track: Track::None,
    }
}

fn using(len: usize, insn: Insn, base: u8, offset: i32) -> Decoded {
    Decoded {
        len,
        insn,
        target: None,
        track: Track::Use { base, offset },
    }
}

/// Length of the instruction whose first halfword is `first`, by the ISA's length encoding, as
/// objdump reads it (2 for the reserved 192-bit-and-longer prefix).
fn insn_len(first: u16) -> usize {
    let h = usize::from(first);
    if h & 3 != 3 {
        2
    } else if h & 0x1F != 0x1F {
        4
    } else if h & 0x3F == 0x1F {
        6
    } else if h & 0x7F == 0x3F {
        8
    } else if h & 0x7F == 0x7F && h & 0x7000 != 0x7000 {
        10 + ((h >> 11) & 0xE)
    } else {
        2
    }
}

fn raw_bytes(bytes: &[u8]) -> Insn {
    let mut buf = [0; 22];
    let len = bytes.len().min(22);
    buf[..len].copy_from_slice(&bytes[..len]);
    Insn::Bytes {
        bytes: buf,
        len: len as u8,
    }
}

/// Decodes the instruction at the start of `bytes` (little-endian), located at `address`.
/// Never panics; short or undefined input yields a data directive.
pub fn decode(bytes: &[u8], address: u32) -> Decoded {
    let [lo, hi, rest @ ..] = bytes else {
        return plain(bytes.len(), raw_bytes(bytes));
    };
    let half = u16::from_le_bytes([*lo, *hi]);
    let len = insn_len(half);
    let Some(insn) = bytes.get(..len) else {
        return plain(bytes.len(), raw_bytes(bytes));
    };
    match (len, rest) {
        (2, _) if half & 3 != 3 => decode16(half, address),
        (2, _) => plain(2, Insn::Half(half)),
        (4, [a, b, ..]) => decode32(u32::from_le_bytes([*lo, *hi, *a, *b]), address),
        (8, _) => {
            let mut word = [0; 8];
            word.copy_from_slice(insn);
            plain(8, Insn::DWord(u64::from_le_bytes(word)))
        }
        _ => plain(len, raw_bytes(insn)),
    }
}

fn decode16(h: u16, pc: u32) -> Decoded {
    let w = u32::from(h);
    let funct3 = bits(w, 13, 3);
    let rd = bits(w, 7, 5) as u8;
    let rs2 = bits(w, 2, 5) as u8;
    let rd_c = bits(w, 2, 3) as u8 + 8; // rd'/rs2' at 4:2
    let rs1_c = bits(w, 7, 3) as u8 + 8; // rs1'/rd' at 9:7
    let ci_imm = sign_extend((bits(w, 12, 1) << 5) | bits(w, 2, 5), 6);
    let ci_uimm = (bits(w, 12, 1) << 5) | bits(w, 2, 5);
    let lw_off = ((bits(w, 10, 3) << 3) | (bits(w, 6, 1) << 2) | (bits(w, 5, 1) << 6)) as i32;
    let half = Insn::Half(h);
    let insn = |insn| plain(2, insn);
    match (h & 3, funct3) {
        (0, 0) => {
            let imm = (bits(w, 11, 2) << 4)
                | (bits(w, 7, 4) << 6)
                | (bits(w, 6, 1) << 2)
                | (bits(w, 5, 1) << 3);
            if h == 0 {
                insn(Insn::Plain("unimp"))
            } else if imm == 0 {
                insn(half)
            } else {
                insn(Insn::RegImm {
                    op: "add",
                    rd: rd_c,
                    rs1: 2,
                    imm: imm as i32,
                })
            }
        }
        (0, 2) => insn(Insn::Mem {
            op: "lw",
            rt: rd_c,
            offset: lw_off,
            base: rs1_c,
        }),
        (0, 6) => insn(Insn::Mem {
            op: "sw",
            rt: rd_c,
            offset: lw_off,
            base: rs1_c,
        }),
        (1, 0) => match (rd, ci_imm) {
            (0, 0) => insn(Insn::Plain("nop")),
            (0, imm) => insn(Insn::CNop(imm)),
            // objdump counts c.addi as an address computation (32-bit addi too).
            (rd, imm) => using(
                2,
                Insn::RegImm {
                    op: "add",
                    rd,
                    rs1: rd,
                    imm,
                },
                rd,
                imm,
            ),
        },
        (1, 1) | (1, 5) => {
            let o = (bits(w, 12, 1) << 11)
                | (bits(w, 11, 1) << 4)
                | (bits(w, 9, 2) << 8)
                | (bits(w, 8, 1) << 10)
                | (bits(w, 7, 1) << 6)
                | (bits(w, 6, 1) << 7)
                | (bits(w, 3, 3) << 1)
                | (bits(w, 2, 1) << 5);
            let target = pc.wrapping_add(sign_extend(o, 12) as u32);
            let op = if funct3 == 1 { "jal" } else { "j" };
            with_target(2, Insn::Jump { op, target }, target)
        }
        (1, 2) => insn(if rd == 0 {
            Insn::Imm {
                op: "c.li",
                rd,
                imm: ci_imm,
            }
        } else {
            Insn::Imm {
                op: "li",
                rd,
                imm: ci_imm,
            }
        }),
        (1, 3) if rd == 2 => {
            let imm = (bits(w, 12, 1) << 9)
                | (bits(w, 6, 1) << 4)
                | (bits(w, 5, 1) << 6)
                | (bits(w, 3, 2) << 7)
                | (bits(w, 2, 1) << 5);
            insn(Insn::RegImm {
                op: "add",
                rd: 2,
                rs1: 2,
                imm: sign_extend(imm, 10),
            })
        }
        (1, 3) => {
            if ci_imm == 0 {
                return insn(half);
            }
            let value = (ci_imm as u32) << 12;
            let op = if rd == 0 { "c.lui" } else { "lui" };
            Decoded {
                len: 2,
                insn: Insn::Hex {
                    op,
                    rd,
                    imm: (ci_imm as u32) & 0xF_FFFF,
                },
                target: None,
                track: Track::SetHi { rd, value },
            }
        }
        (1, 4) => insn(match bits(w, 10, 2) {
            0 | 1 if ci_uimm == 0 => Insn::Reg1 {
                op: if bits(w, 10, 2) == 0 {
                    "c.srli64"
                } else {
                    "c.srai64"
                },
                reg: rs1_c,
            },
            0 => Insn::Shift {
                op: "srl",
                rd: rs1_c,
                rs1: rs1_c,
                shamt: ci_uimm,
            },
            1 => Insn::Shift {
                op: "sra",
                rd: rs1_c,
                rs1: rs1_c,
                shamt: ci_uimm,
            },
            2 => Insn::RegImm {
                op: "and",
                rd: rs1_c,
                rs1: rs1_c,
                imm: ci_imm,
            },
            _ if bits(w, 12, 1) == 0 => Insn::Reg3 {
                op: ["sub", "xor", "or", "and"][bits(w, 5, 2) as usize],
                rd: rs1_c,
                rs1: rs1_c,
                rs2: rd_c,
            },
            _ => half,
        }),
        (1, 6) | (1, 7) => {
            let o = (bits(w, 12, 1) << 8)
                | (bits(w, 10, 2) << 3)
                | (bits(w, 5, 2) << 6)
                | (bits(w, 3, 2) << 1)
                | (bits(w, 2, 1) << 5);
            let target = pc.wrapping_add(sign_extend(o, 9) as u32);
            let op = if funct3 == 6 { "beqz" } else { "bnez" };
            with_target(
                2,
                Insn::Branch1 {
                    op,
                    rs: rs1_c,
                    target,
                },
                target,
            )
        }
        (2, 0) => insn(match (rd, ci_uimm) {
            (rd, 0) => Insn::Reg1 {
                op: "c.slli64",
                reg: rd,
            },
            (0, sh) => Insn::Hex {
                op: "c.slli",
                rd: 0,
                imm: sh,
            },
            (rd, sh) => Insn::Shift {
                op: "sll",
                rd,
                rs1: rd,
                shamt: sh,
            },
        }),
        (2, 2) => {
            if rd == 0 {
                return insn(half);
            }
            let off = (bits(w, 12, 1) << 5) | (bits(w, 4, 3) << 2) | (bits(w, 2, 2) << 6);
            insn(Insn::Mem {
                op: "lw",
                rt: rd,
                offset: off as i32,
                base: 2,
            })
        }
        (2, 4) => insn(match (bits(w, 12, 1), rd, rs2) {
            (0, 0, 0) => half,
            (0, 1, 0) => Insn::Plain("ret"),
            (0, rs1, 0) => Insn::Reg1 { op: "jr", reg: rs1 },
            (0, 0, rs2) => Insn::Reg2 {
                op: "c.mv",
                rd: 0,
                rs: rs2,
            },
            (0, rd, rs2) => Insn::Reg2 {
                op: "mv",
                rd,
                rs: rs2,
            },
            (_, 0, 0) => Insn::Plain("ebreak"),
            (_, rs1, 0) => Insn::Reg1 {
                op: "jalr",
                reg: rs1,
            },
            (_, 0, rs2) => Insn::Reg2 {
                op: "c.add",
                rd: 0,
                rs: rs2,
            },
            (_, rd, rs2) => Insn::Reg3 {
                op: "add",
                rd,
                rs1: rd,
                rs2,
            },
        }),
        (2, 6) => {
            let off = (bits(w, 9, 4) << 2) | (bits(w, 7, 2) << 6);
            insn(Insn::Mem {
                op: "sw",
                rt: rs2,
                offset: off as i32,
                base: 2,
            })
        }
        _ => insn(half),
    }
}

fn decode32(w: u32, pc: u32) -> Decoded {
    let rd = bits(w, 7, 5) as u8;
    let rs1 = bits(w, 15, 5) as u8;
    let rs2 = bits(w, 20, 5) as u8;
    let funct3 = bits(w, 12, 3);
    let funct7 = bits(w, 25, 7);
    let i_imm = (w as i32) >> 20;
    let word = plain(4, Insn::Word(w));
    match w & 0x7F {
        0x37 | 0x17 => {
            let imm = w >> 12;
            let (op, value) = if w & 0x7F == 0x37 {
                ("lui", w & 0xFFFF_F000)
            } else {
                ("auipc", pc.wrapping_add(w & 0xFFFF_F000))
            };
            Decoded {
                len: 4,
                insn: Insn::Hex { op, rd, imm },
                target: None,
                track: Track::SetHi { rd, value },
            }
        }
        0x6F => {
            let o = (bits(w, 31, 1) << 20)
                | (bits(w, 21, 10) << 1)
                | (bits(w, 20, 1) << 11)
                | (bits(w, 12, 8) << 12);
            let target = pc.wrapping_add(sign_extend(o, 21) as u32);
            let insn = match rd {
                0 => Insn::Jump { op: "j", target },
                1 => Insn::Jump { op: "jal", target },
                rd => Insn::Branch1 {
                    op: "jal",
                    rs: rd,
                    target,
                },
            };
            with_target(4, insn, target)
        }
        0x67 if funct3 == 0 => {
            let insn = match (rd, rs1, i_imm) {
                (0, 1, 0) => return plain(4, Insn::Plain("ret")),
                (0, rs1, 0) => Insn::Reg1 { op: "jr", reg: rs1 },
                (1, rs1, 0) => Insn::Reg1 {
                    op: "jalr",
                    reg: rs1,
                },
                (rd, rs, 0) => Insn::Reg2 { op: "jalr", rd, rs },
                (0, base, offset) => Insn::Indirect {
                    op: "jr",
                    offset,
                    base,
                },
                (1, base, offset) => Insn::Indirect {
                    op: "jalr",
                    offset,
                    base,
                },
                (rt, base, offset) => Insn::Mem {
                    op: "jalr",
                    rt,
                    offset,
                    base,
                },
            };
            let track = if i_imm == 0 {
                Track::Use {
                    base: rs1,
                    offset: 0,
                }
            } else {
                Track::UseTwice {
                    base: rs1,
                    offset: i_imm,
                }
            };
            Decoded {
                len: 4,
                insn,
                target: None,
                track,
            }
        }
        0x63 => {
            let o = (bits(w, 31, 1) << 12)
                | (bits(w, 25, 6) << 5)
                | (bits(w, 8, 4) << 1)
                | (bits(w, 7, 1) << 11);
            let target = pc.wrapping_add(sign_extend(o, 13) as u32);
            let one = |op, rs| Insn::Branch1 { op, rs, target };
            let insn = match (funct3, rs1, rs2) {
                (0, rs, 0) => one("beqz", rs),
                (1, rs, 0) => one("bnez", rs),
                (4, rs, 0) => one("bltz", rs),
                (4, 0, rs) => one("bgtz", rs),
                (5, 0, rs) => one("blez", rs),
                (5, rs, 0) => one("bgez", rs),
                (2 | 3, ..) => return word,
                (f, rs1, rs2) => Insn::Branch2 {
                    op: ["beq", "bne", "", "", "blt", "bge", "bltu", "bgeu"][f as usize],
                    rs1,
                    rs2,
                    target,
                },
            };
            with_target(4, insn, target)
        }
        0x03 => {
            let op = match funct3 {
                0 => "lb",
                1 => "lh",
                2 => "lw",
                4 => "lbu",
                5 => "lhu",
                _ => return word,
            };
            let insn = Insn::Mem {
                op,
                rt: rd,
                offset: i_imm,
                base: rs1,
            };
            using(4, insn, rs1, i_imm)
        }
        0x23 => {
            let op = match funct3 {
                0 => "sb",
                1 => "sh",
                2 => "sw",
                _ => return word,
            };
            let offset = sign_extend((bits(w, 25, 7) << 5) | bits(w, 7, 5), 12);
            let insn = Insn::Mem {
                op,
                rt: rs2,
                offset,
                base: rs1,
            };
            using(4, insn, rs1, offset)
        }
        0x13 => {
            // objdump reads 6-bit shift amounts on RV32 too.
            let shamt = bits(w, 20, 6);
            let funct6 = bits(w, 26, 6);
            let ri = |op| Insn::RegImm {
                op,
                rd,
                rs1,
                imm: i_imm,
            };
            let shift = |op| Insn::Shift { op, rd, rs1, shamt };
            match funct3 {
                0 => match (rd, rs1, i_imm) {
                    (0, 0, 0) => plain(4, Insn::Plain("nop")),
                    (rd, 0, imm) => plain(4, Insn::Imm { op: "li", rd, imm }),
                    (rd, rs, 0) => plain(4, Insn::Reg2 { op: "mv", rd, rs }),
                    _ => using(4, ri("add"), rs1, i_imm),
                },
                2 => plain(4, ri("slti")),
                3 if i_imm == 1 => plain(
                    4,
                    Insn::Reg2 {
                        op: "seqz",
                        rd,
                        rs: rs1,
                    },
                ),
                3 => plain(4, ri("sltiu")),
                4 if i_imm == -1 => plain(
                    4,
                    Insn::Reg2 {
                        op: "not",
                        rd,
                        rs: rs1,
                    },
                ),
                4 => plain(4, ri("xor")),
                6 => plain(4, ri("or")),
                7 => plain(4, ri("and")),
                1 if funct6 == 0 => plain(4, shift("sll")),
                5 if funct6 == 0 => plain(4, shift("srl")),
                5 if funct6 == 0x10 => plain(4, shift("sra")),
                _ => word,
            }
        }
        0x33 => {
            let op = match (funct7, funct3) {
                (0, 0) => "add",
                (0, 1) => "sll",
                (0, 2) => "slt",
                (0, 3) => "sltu",
                (0, 4) => "xor",
                (0, 5) => "srl",
                (0, 6) => "or",
                (0, 7) => "and",
                (0x20, 0) => "sub",
                (0x20, 5) => "sra",
                (1, f) => [
                    "mul", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu",
                ][f as usize],
                _ => return word,
            };
            let two = |op, rs| plain(4, Insn::Reg2 { op, rd, rs });
            match (op, rs1, rs2) {
                ("sub", 0, rs) => two("neg", rs),
                ("sltu", 0, rs) => two("snez", rs),
                ("slt", rs, 0) => two("sltz", rs),
                ("slt", 0, rs) => two("sgtz", rs),
                _ => plain(4, Insn::Reg3 { op, rd, rs1, rs2 }),
            }
        }
        0x73 if w == 0x0000_0073 => plain(4, Insn::Plain("ecall")),
        0x73 if w == 0x0010_0073 => plain(4, Insn::Plain("ebreak")),
        _ => word,
    }
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Insn::Reg3 { op, rd, rs1, rs2 } => {
                write!(f, "{op}\t{},{},{}", reg(rd), reg(rs1), reg(rs2))
            }
            Insn::Reg2 { op, rd, rs } => write!(f, "{op}\t{},{}", reg(rd), reg(rs)),
            Insn::RegImm { op, rd, rs1, imm } => {
                write!(f, "{op}\t{},{},{imm}", reg(rd), reg(rs1))
            }
            Insn::Shift { op, rd, rs1, shamt } => {
                write!(f, "{op}\t{},{},0x{shamt:x}", reg(rd), reg(rs1))
            }
            Insn::Imm { op, rd, imm } => write!(f, "{op}\t{},{imm}", reg(rd)),
            Insn::Hex { op, rd, imm } => write!(f, "{op}\t{},0x{imm:x}", reg(rd)),
            Insn::Mem {
                op,
                rt,
                offset,
                base,
            } => write!(f, "{op}\t{},{offset}({})", reg(rt), reg(base)),
            Insn::Indirect { op, offset, base } => write!(f, "{op}\t{offset}({})", reg(base)),
            Insn::Branch2 {
                op,
                rs1,
                rs2,
                target,
            } => write!(f, "{op}\t{},{},0x{target:x}", reg(rs1), reg(rs2)),
            Insn::Branch1 { op, rs, target } => write!(f, "{op}\t{},0x{target:x}", reg(rs)),
            Insn::Jump { op, target } => write!(f, "{op}\t0x{target:x}"),
            Insn::Reg1 { op, reg: r } => write!(f, "{op}\t{}", reg(r)),
            Insn::CNop(imm) => write!(f, "c.nop\t{imm}"),
            Insn::Plain(text) => f.write_str(text),
            Insn::Half(h) => write!(f, ".2byte\t0x{h:x}"),
            Insn::Word(w) => write!(f, ".4byte\t0x{w:x}"),
            Insn::DWord(d) => write!(f, ".8byte\t0x{d:x}"),
            Insn::Bytes { bytes, len } => {
                f.write_str(".byte\t")?;
                for (i, b) in bytes[..usize::from(len)].iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}0x{b:02x}")?;
                }
                Ok(())
            }
            Insn::Empty => Ok(()),
        }
    }
}

impl fmt::Display for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.insn.fmt(f)
    }
}

/// objdump's register tracking: the value a `lui`/`auipc`/`c.lui` left in each register, until
/// an instruction computes an address from it.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    hi: [Option<u32>; 32],
}

impl Tracker {
    /// Updates the tracking with `decoded`; returns the address objdump prints as `# 0x...`.
    pub fn step(&mut self, decoded: &Decoded) -> Option<u32> {
        match decoded.track {
            Track::None => None,
            Track::SetHi { rd, value } => {
                self.hi[usize::from(rd & 31)] = Some(value);
                None
            }
            Track::Use { base, offset } => self.look_up(base, offset),
            Track::UseTwice { base, offset } => {
                let first = self.look_up(base, offset);
                self.look_up(base, offset).or(first)
            }
        }
    }

    fn look_up(&mut self, base: u8, offset: i32) -> Option<u32> {
        match self.hi[usize::from(base & 31)].take() {
            Some(hi) => Some(if base == 0 { 0 } else { hi }.wrapping_add(offset as u32)),
            // zero and tp are absolute bases.
            None if base == 0 || base == 4 => Some(offset as u32),
            None => None,
        }
    }
}

/// Prints `bytes` (code loaded at `base`) as objdump-style lines `   addr:\thex\tmnemonic\toperands`,
/// with objdump's `# 0x...` address comments.
pub fn disassemble(bytes: &[u8], base: u32, out: &mut impl fmt::Write) -> fmt::Result {
    let mut tracker = Tracker::default();
    let mut offset = 0;
    while let Some(rest) = bytes.get(offset..).filter(|rest| !rest.is_empty()) {
        let address = base.wrapping_add(offset as u32);
        let decoded = decode(rest, address);
        write!(out, "{address:8x}:\t")?;
        match rest {
            [a, b, c, d, ..] if decoded.len == 4 => write!(
                out,
                "{:08x}          ",
                u32::from_le_bytes([*a, *b, *c, *d])
            )?,
            [a, b, ..] => write!(out, "{:04x}                ", u16::from_le_bytes([*a, *b]))?,
            [a, ..] => write!(out, "{a:02x}                  ")?,
            [] => {}
        }
        write!(out, "\t{decoded}")?;
        if let Some(address) = tracker.step(&decoded) {
            write!(out, " # 0x{address:x}")?;
        }
        writeln!(out)?;
        offset += decoded.len.max(1);
    }
    Ok(())
}

pub use crate::isa::listing::first_difference;

/// Both sides around their first difference, disassembled, the differing line marked `>>`.
/// `names` label the two sides in the listing. Decoding starts a little before the difference
/// on a halfword boundary (RISC-V code is a stream of 2- and 4-byte instructions, so a start in
/// the middle of a 4-byte one shows a spurious first line).
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
        for b in rest[..len].iter().rev() {
            write!(hex, "{b:02x}")?;
        }
        write!(out, "{hex:<8}\t{decoded}")?;
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

    #[test]
    fn hand_checked() {
        assert_eq!(text(&0x0505u16.to_le_bytes(), 0), "add\ta0,a0,1");
        assert_eq!(text(&0x852eu16.to_le_bytes(), 0), "mv\ta0,a1");
        assert_eq!(text(&0x8082u16.to_le_bytes(), 0), "ret");
        assert_eq!(text(&0xa021u16.to_le_bytes(), 6), "j\t0xe");
        assert_eq!(text(&0x757du16.to_le_bytes(), 0), "lui\ta0,0xfffff");
        assert_eq!(text(&0x0001u16.to_le_bytes(), 0), "nop");
        assert_eq!(text(&0x0000u16.to_le_bytes(), 0), "unimp");
        assert_eq!(text(&0x0013u32.to_le_bytes(), 0), "nop");
        assert_eq!(text(&0x00a0_0513u32.to_le_bytes(), 0), "li\ta0,10");
        assert_eq!(text(&0xfff3_4293u32.to_le_bytes(), 0), "not\tt0,t1");
        assert_eq!(text(&0x0002_8663u32.to_le_bytes(), 0x52), "beqz\tt0,0x5e");
        assert_eq!(text(&0xffdf_f0efu32.to_le_bytes(), 0x4e), "jal\t0x4a");
        assert_eq!(text(&0x0006_8067u32.to_le_bytes(), 0), "jr\ta3");
        assert_eq!(text(&[0x7f], 0), ".byte\t0x7f");
        assert_eq!(text(&[0x13, 0x00], 0), ".byte\t0x13, 0x00");
        assert_eq!(text(&[0xff, 0xff, 0x13, 0], 0), ".2byte\t0xffff");
        assert_eq!(
            text(&[0x1f, 0, 0x11, 0x22, 0x33, 0x44, 0x55], 0),
            ".byte\t0x1f, 0x00, 0x11, 0x22, 0x33, 0x44"
        );
        assert_eq!(
            text(&[0x3f, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66], 0),
            ".8byte\t0x665544332211003f"
        );
        assert_eq!(decode(&[], 0).len, 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // xorshift32 over byte strings of every length up to 30.
        let mut state = 0x1357_9bdfu32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let mut out = String::new();
        for round in 0..20_000 {
            let len = round % 31;
            let bytes: alloc::vec::Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let d = decode(&bytes, next());
            assert!(d.len <= bytes.len() && (d.len > 0 || bytes.is_empty()));
            out.clear();
            disassemble(&bytes, next(), &mut out).unwrap();
            let _ = describe_difference(&bytes, &bytes[..len / 2], ["a", "b"], &mut out);
        }
    }

    #[test]
    fn listing_tracks_upper_immediates() {
        // auipc a3, 0; jr 16(a3) -> objdump comments the computed target, once.
        let code = [
            0x97, 0x06, 0x00, 0x00, 0x67, 0x80, 0x06, 0x01, 0x67, 0x80, 0x06, 0x01,
        ];
        let mut out = String::new();
        disassemble(&code, 0x100, &mut out).unwrap();
        assert_eq!(
            out,
            "     100:\t00000697          \tauipc\ta3,0x0\n     104:\t01068067          \tjr\t16(a3) # 0x110\n     108:\t01068067          \tjr\t16(a3)\n"
        );
    }
}

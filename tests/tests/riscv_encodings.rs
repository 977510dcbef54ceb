//! Every instruction form of the riscv32 encoder, checked byte for byte against GNU as
//! (`riscv64-unknown-elf-as -march=rv32imac -mabi=ilp32`).
//!
//! Each case pairs the encoder's bytes with the assembly the reference's selection rules call for:
//! an explicit `c.*` mnemonic where the reference picks a compressed form (assembled under
//! `.option rvc`), the base mnemonic under `.option norvc` where it does not, so GNU as's own
//! compression choices never enter the comparison. Registers cover every register or a spread
//! including zero, ra, sp and both ends of x8..x15; immediates and offsets include both ends of
//! every range and the edges where the reference switches between compressed and full forms.

use avm_jit_core::isa::riscv32::asm::{self, AsmError, Insn, Seq, XReg};
use std::fmt::Write as _;
use std::process::Command;

const AS: &str = "riscv64-unknown-elf-as";
const OBJCOPY: &str = "riscv64-unknown-elf-objcopy";

struct Case {
    /// The reference's instruction(s) in assembler syntax.
    lines: Vec<String>,
    ours: Result<Vec<u8>, AsmError>,
}

#[derive(Default)]
struct Cases(Vec<Case>);

trait Bytes {
    fn bytes(self) -> Result<Vec<u8>, AsmError>;
}
impl Bytes for Insn {
    fn bytes(self) -> Result<Vec<u8>, AsmError> {
        Ok(self.to_bytes()[..self.len()].to_vec())
    }
}
impl Bytes for Seq {
    fn bytes(self) -> Result<Vec<u8>, AsmError> {
        Ok(self.as_bytes().to_vec())
    }
}
impl Bytes for u32 {
    fn bytes(self) -> Result<Vec<u8>, AsmError> {
        Ok(self.to_le_bytes().to_vec())
    }
}
impl Bytes for u16 {
    fn bytes(self) -> Result<Vec<u8>, AsmError> {
        Ok(self.to_le_bytes().to_vec())
    }
}
impl<T: Bytes> Bytes for Result<T, AsmError> {
    fn bytes(self) -> Result<Vec<u8>, AsmError> {
        self.and_then(Bytes::bytes)
    }
}

impl Cases {
    fn add(&mut self, line: String, ours: impl Bytes) {
        self.0.push(Case {
            lines: vec![line],
            ours: ours.bytes(),
        });
    }
    fn add_lines(&mut self, lines: Vec<String>, ours: impl Bytes) {
        self.0.push(Case {
            lines,
            ours: ours.bytes(),
        });
    }
}

fn r(n: u8) -> XReg {
    XReg::new(n).unwrap()
}

fn all_regs() -> impl Iterator<Item = XReg> + Clone {
    (0..32).map(r)
}

/// zero, ra, sp, gp, tp, t0, t2, s0, s1, a0, a2, a5, a6, a7, s11, t3, t6.
fn some_regs() -> impl Iterator<Item = XReg> + Clone {
    [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 15, 16, 17, 27, 28, 31]
        .into_iter()
        .map(r)
}

fn creg() -> impl Iterator<Item = XReg> + Clone {
    (8..16).map(r)
}

fn n(reg: XReg) -> &'static str {
    reg.name()
}

/// `.+off` / `.-off`: an offset from the instruction's own address.
fn rel(off: i64) -> String {
    format!(".{off:+}")
}

fn u20(v: i64) -> String {
    format!("{:#x}", v & 0xF_FFFF)
}

/// Both ends of each range and the points where the reference changes form.
const IMM12: [i64; 15] = [
    -2048, -2047, -1024, -33, -32, -31, -1, 0, 1, 16, 30, 31, 32, 2046, 2047,
];

fn base_forms(c: &mut Cases) {
    type R = fn(XReg, XReg, XReg) -> u32;
    let r_forms: [(&str, R); 13] = [
        ("add", asm::add32),
        ("sub", asm::sub32),
        ("and", asm::and32),
        ("or", asm::or32),
        ("xor", asm::xor32),
        ("sll", asm::sll),
        ("srl", asm::srl),
        ("sra", asm::sra),
        ("slt", asm::slt),
        ("sltu", asm::sltu),
        ("mul", asm::mul),
        ("div", asm::div),
        ("rem", asm::rem),
    ];
    for (op, f) in r_forms {
        for d in some_regs() {
            for s1 in some_regs() {
                for s2 in some_regs() {
                    c.add(format!("{op} {}, {}, {}", n(d), n(s1), n(s2)), f(d, s1, s2));
                }
            }
        }
    }
    type I = fn(XReg, XReg, i64) -> Result<u32, AsmError>;
    let i_forms: [(&str, I); 6] = [
        ("addi", asm::addi32),
        ("andi", asm::andi32),
        ("ori", asm::ori),
        ("xori", asm::xori),
        ("slti", asm::slti),
        ("sltiu", asm::sltiu),
    ];
    for (op, f) in i_forms {
        for d in some_regs() {
            for s in [XReg::ZERO, d, XReg::A1, XReg::T6] {
                for imm in IMM12 {
                    c.add(format!("{op} {}, {}, {imm}", n(d), n(s)), f(d, s, imm));
                }
            }
        }
    }
    let shifts: [(&str, I); 3] = [
        ("slli", asm::slli32),
        ("srli", asm::srli32),
        ("srai", asm::srai32),
    ];
    for (op, f) in shifts {
        for d in some_regs() {
            for s in [d, XReg::A1, XReg::T6] {
                for sh in 0..32 {
                    c.add(format!("{op} {}, {}, {sh}", n(d), n(s)), f(d, s, sh));
                }
            }
        }
    }
    let loads: [(&str, I); 5] = [
        ("lb", asm::lb),
        ("lh", asm::lh),
        ("lw", asm::lw32),
        ("lbu", asm::lbu),
        ("lhu", asm::lhu),
    ];
    let stores: [(&str, I); 3] = [("sb", asm::sb), ("sh", asm::sh), ("sw", asm::sw32)];
    for d in some_regs() {
        for base in some_regs() {
            for off in IMM12 {
                for (op, f) in loads {
                    c.add(
                        format!("{op} {}, {off}({})", n(d), n(base)),
                        f(d, base, off),
                    );
                }
                for (op, f) in stores {
                    c.add(
                        format!("{op} {}, {off}({})", n(d), n(base)),
                        f(base, d, off),
                    );
                }
            }
        }
    }
    type B = fn(XReg, XReg, i64) -> Result<u32, AsmError>;
    let b_forms: [(&str, B); 6] = [
        ("beq", asm::beq32),
        ("bne", asm::bne32),
        ("blt", asm::blt),
        ("bge", asm::bge),
        ("bltu", asm::bltu),
        ("bgeu", asm::bgeu),
    ];
    let mut b_offsets = vec![-4096, 4094, 0, -2, 2, 4];
    for bit in 1..12 {
        b_offsets.extend([1 << bit, -(1 << bit), (1 << bit) - 2, 2 - (1 << bit)]);
    }
    for (op, f) in b_forms {
        for s1 in some_regs() {
            for s2 in [XReg::ZERO, XReg::T0, XReg::A5, XReg::T6] {
                for &off in &b_offsets {
                    c.add(
                        format!("{op} {}, {}, {}", n(s1), n(s2), rel(off)),
                        f(s1, s2, off),
                    );
                }
            }
        }
    }
    let mut j_offsets = vec![-1_048_576, 1_048_574, 0, -2, 2];
    for bit in 1..20 {
        j_offsets.extend([1 << bit, -(1 << bit), (1 << bit) - 2, 2 - (1 << bit)]);
    }
    for d in some_regs() {
        for &off in &j_offsets {
            c.add(format!("jal {}, {}", n(d), rel(off)), asm::jal32(d, off));
        }
        for s in some_regs() {
            for off in IMM12 {
                c.add(
                    format!("jalr {}, {off}({})", n(d), n(s)),
                    asm::jalr32(d, s, off),
                );
            }
        }
        let mut u = vec![-0x8_0000, 0x7_FFFF, 0, 1, -1, 0x12345];
        u.extend((0..19).flat_map(|b| [1 << b, -(1 << b)]));
        for imm in u {
            c.add(format!("lui {}, {}", n(d), u20(imm)), asm::lui32(d, imm));
            c.add(format!("auipc {}, {}", n(d), u20(imm)), asm::auipc(d, imm));
        }
    }
}

fn compressed_forms(c: &mut Cases) {
    for d in all_regs().filter(|&d| d != XReg::ZERO) {
        for s in all_regs().filter(|&s| s != XReg::ZERO) {
            c.add(format!("c.add {}, {}", n(d), n(s)), asm::c_add(d, s));
            c.add(format!("c.mv {}, {}", n(d), n(s)), asm::c_mv(d, s));
        }
        c.add(format!("c.jr {}", n(d)), asm::c_jr(d));
        c.add(format!("c.jalr {}", n(d)), asm::c_jalr(d));
        for imm in -32..=31 {
            c.add(format!("c.addi {}, {imm}", n(d)), asm::c_addi(d, imm));
        }
        for sh in 1..=31 {
            c.add(format!("c.slli {}, {sh}", n(d)), asm::c_slli(d, sh));
        }
        if d != XReg::SP {
            for imm in (-32..=31).filter(|&i| i != 0) {
                c.add(format!("c.lui {}, {}", n(d), u20(imm)), asm::c_lui(d, imm));
            }
        }
        for off in (0..=252).step_by(4) {
            c.add(format!("c.lwsp {}, {off}(sp)", n(d)), asm::c_lwsp(d, off));
        }
    }
    for d in all_regs() {
        for imm in -32..=31 {
            c.add(format!("c.li {}, {imm}", n(d)), asm::c_li(d, imm));
        }
        for off in (0..=252).step_by(4) {
            c.add(format!("c.swsp {}, {off}(sp)", n(d)), asm::c_swsp(d, off));
        }
    }
    type Ca = fn(XReg, XReg) -> Result<u16, AsmError>;
    let ca: [(&str, Ca); 4] = [
        ("c.sub", asm::c_sub),
        ("c.xor", asm::c_xor),
        ("c.or", asm::c_or),
        ("c.and", asm::c_and),
    ];
    for d in creg() {
        for s in creg() {
            for (op, f) in ca {
                c.add(format!("{op} {}, {}", n(d), n(s)), f(d, s));
            }
            for off in (0..=124).step_by(4) {
                c.add(
                    format!("c.lw {}, {off}({})", n(d), n(s)),
                    asm::c_lw(d, s, off),
                );
                c.add(
                    format!("c.sw {}, {off}({})", n(d), n(s)),
                    asm::c_sw(d, s, off),
                );
            }
        }
        for imm in -32..=31 {
            c.add(format!("c.andi {}, {imm}", n(d)), asm::c_andi(d, imm));
        }
        // Shift 0 is a HINT GNU as refuses by name; `.insn ci` places the same fields
        // (funct2 and rd' share the CI rd field: srli -> x(rd - 8), srai -> x(rd)).
        let num = d.num();
        c.add(format!(".insn ci 1, 4, x{}, 0", num - 8), asm::c_srli(d, 0));
        c.add(format!(".insn ci 1, 4, x{num}, 0"), asm::c_srai(d, 0));
        for sh in 1..=31 {
            c.add(format!("c.srli {}, {sh}", n(d)), asm::c_srli(d, sh));
            c.add(format!("c.srai {}, {sh}", n(d)), asm::c_srai(d, sh));
        }
        for imm in (4..=1020).step_by(4) {
            c.add(
                format!("c.addi4spn {}, sp, {imm}", n(d)),
                asm::c_addi4spn(d, imm),
            );
        }
        for off in (-256..=254).step_by(2) {
            c.add(
                format!("c.beqz {}, {}", n(d), rel(off)),
                asm::c_beqz(d, off),
            );
            c.add(
                format!("c.bnez {}, {}", n(d), rel(off)),
                asm::c_bnez(d, off),
            );
        }
    }
    for imm in (-512..=496).step_by(16).filter(|&i| i != 0) {
        c.add(format!("c.addi16sp sp, {imm}"), asm::c_addi16sp(imm));
    }
    for off in (-2048..=2046).step_by(2) {
        c.add(format!("c.j {}", rel(off)), asm::c_j(off));
        c.add(format!("c.jal {}", rel(off)), asm::c_jal(off));
    }
    c.add("c.ebreak".into(), asm::c_ebreak());
    c.add("c.nop".into(), asm::c_nop());
}

/// The reference's selecting forms, with the expected form chosen by its rules.
fn selecting_forms(c: &mut Cases) {
    let is_c = |r: XReg| (8..16).contains(&r.num());
    let zero = XReg::ZERO;
    // Register triples: a spread, plus every rd == rs1 pair.
    let mut triples = Vec::new();
    for d in some_regs() {
        for s1 in some_regs() {
            for s2 in some_regs() {
                triples.push((d, s1, s2));
            }
        }
    }
    for d in all_regs() {
        for s2 in all_regs() {
            triples.push((d, d, s2));
        }
    }
    type Sel = fn(XReg, XReg, XReg) -> Insn;
    let ca: [(&str, Sel); 4] = [
        ("sub", asm::sub),
        ("and", asm::and),
        ("or", asm::or),
        ("xor", asm::xor),
    ];
    for &(d, s1, s2) in &triples {
        let text = if d == s1 && d != zero && s2 != zero {
            format!("c.add {}, {}", n(d), n(s2))
        } else {
            format!("add {}, {}, {}", n(d), n(s1), n(s2))
        };
        c.add(text, asm::add(d, s1, s2));
        for (op, f) in ca {
            let text = if d == s1 && is_c(d) && is_c(s2) {
                format!("c.{op} {}, {}", n(d), n(s2))
            } else {
                format!("{op} {}, {}, {}", n(d), n(s1), n(s2))
            };
            c.add(text, f(d, s1, s2));
        }
    }
    for d in all_regs() {
        for s in [d, zero, XReg::A1, XReg::T6] {
            for imm in IMM12 {
                let text = if d == s && d != zero && (-32..=31).contains(&imm) {
                    format!("c.addi {}, {imm}", n(d))
                } else {
                    format!("addi {}, {}, {imm}", n(d), n(s))
                };
                c.add(text, asm::addi(d, s, imm));
                let text = if d == s && is_c(d) && (-32..=31).contains(&imm) {
                    format!("c.andi {}, {imm}", n(d))
                } else {
                    format!("andi {}, {}, {imm}", n(d), n(s))
                };
                c.add(text, asm::andi(d, s, imm));
            }
            for sh in 0..32 {
                let text = if d == s && d != zero && sh >= 1 {
                    format!("c.slli {}, {sh}", n(d))
                } else {
                    format!("slli {}, {}, {sh}", n(d), n(s))
                };
                c.add(text, asm::slli(d, s, sh));
                for (op, funct2, f) in [
                    ("srli", 0, asm::srli as fn(XReg, XReg, i64) -> _),
                    ("srai", 1, asm::srai),
                ] {
                    let text = match (d == s && is_c(d), sh) {
                        (true, 0) => format!(".insn ci 1, 4, x{}, 0", d.num() - 8 + 8 * funct2),
                        (true, _) => format!("c.{op} {}, {sh}", n(d)),
                        _ => format!("{op} {}, {}, {sh}", n(d), n(s)),
                    };
                    c.add(text, f(d, s, sh));
                }
            }
        }
        c.add(
            format!("xori {}, {}, -1", n(d), n(XReg::A1)),
            asm::not(d, XReg::A1),
        );
        c.add(
            format!("sub {}, zero, {}", n(d), n(XReg::T0)),
            asm::neg(d, XReg::T0),
        );
        for s in all_regs() {
            let text = if d != zero && s != zero {
                format!("c.mv {}, {}", n(d), n(s))
            } else {
                format!("addi {}, {}, 0", n(d), n(s))
            };
            c.add(text, asm::mv(d, s));
            for off in [-2048, -4, -1, 0, 1, 4, 2047] {
                let text = match (off, d) {
                    (0, XReg::ZERO) if s != zero => format!("c.jr {}", n(s)),
                    (0, XReg::RA) if s != zero => format!("c.jalr {}", n(s)),
                    _ => format!("jalr {}, {off}({})", n(d), n(s)),
                };
                c.add(text, asm::jalr(d, s, off));
            }
        }
        let text = if d != zero {
            format!("c.jr {}", n(d))
        } else {
            "jalr zero, 0(zero)".into()
        };
        c.add(text, asm::jr(d));
    }
    // Loads and stores around the compressed ranges.
    let mut mem_offsets: Vec<i64> = (-8..=260).step_by(4).collect();
    mem_offsets.extend([-2048, -1, 1, 2, 122, 126, 250, 254, 2044, 2047]);
    for d in some_regs().chain(creg()) {
        for base in some_regs().chain(creg()) {
            for &off in &mem_offsets {
                let aligned = off % 4 == 0;
                let text = if base == XReg::SP && d != zero && aligned && (0..=252).contains(&off) {
                    format!("c.lwsp {}, {off}(sp)", n(d))
                } else if aligned && (0..=124).contains(&off) && is_c(d) && is_c(base) {
                    format!("c.lw {}, {off}({})", n(d), n(base))
                } else {
                    format!("lw {}, {off}({})", n(d), n(base))
                };
                c.add(text, asm::lw(d, base, off));
                let text = if base == XReg::SP && aligned && (0..=252).contains(&off) {
                    format!("c.swsp {}, {off}(sp)", n(d))
                } else if aligned && (0..=124).contains(&off) && is_c(d) && is_c(base) {
                    format!("c.sw {}, {off}({})", n(d), n(base))
                } else {
                    format!("sw {}, {off}({})", n(d), n(base))
                };
                c.add(text, asm::sw(base, d, off));
            }
        }
    }
    // Branches around the compressed range.
    let mut offsets: Vec<i64> = (-260..=260).step_by(2).collect();
    offsets.extend([-4096, -4094, 4092, 4094, -2048, 2048]);
    for s1 in some_regs().chain(creg()) {
        for s2 in [zero, XReg::T0, XReg::A0] {
            for &off in &offsets {
                let short = s2 == zero && is_c(s1) && (-256..=254).contains(&off);
                for (op, f) in [
                    ("beq", asm::beq as fn(XReg, XReg, i64) -> _),
                    ("bne", asm::bne),
                ] {
                    let text = if short {
                        format!("c.{op}z {}, {}", n(s1), rel(off))
                    } else {
                        format!("{op} {}, {}, {}", n(s1), n(s2), rel(off))
                    };
                    c.add(text, f(s1, s2, off));
                }
            }
        }
    }
    // Jumps around the compressed range.
    let mut offsets: Vec<i64> = (-2052..=2052).step_by(2).collect();
    offsets.extend([-1_048_576, 1_048_574, 4096, -4096]);
    for d in [zero, XReg::RA, XReg::T0, XReg::A0] {
        for &off in &offsets {
            let short = (-2048..=2046).contains(&off);
            let text = match d {
                XReg::ZERO if short => format!("c.j {}", rel(off)),
                XReg::RA if short => format!("c.jal {}", rel(off)),
                _ => format!("jal {}, {}", n(d), rel(off)),
            };
            c.add(text, asm::jal(d, off));
            if d == zero {
                c.add(text_of_j(off), asm::j(off));
            }
        }
    }
    let mut u = vec![
        -0x8_0000, 0x7_FFFF, -33, -32, -31, -1, 0, 1, 31, 32, 0x12345,
    ];
    u.extend((0..19).flat_map(|b| [1 << b, -(1 << b)]));
    for d in all_regs().filter(|&d| d != XReg::SP) {
        for &imm in &u {
            let text = if d != zero && imm != 0 && (-32..=31).contains(&imm) {
                format!("c.lui {}, {}", n(d), u20(imm))
            } else {
                format!("lui {}, {}", n(d), u20(imm))
            };
            c.add(text, asm::lui(d, imm));
        }
    }
    c.add("addi zero, zero, 0".into(), asm::nop());
    c.add("c.jr ra".into(), asm::ret());
}

fn text_of_j(off: i64) -> String {
    if (-2048..=2046).contains(&off) {
        format!("c.j {}", rel(off))
    } else {
        format!("jal zero, {}", rel(off))
    }
}

/// `li` as the reference expands it, written out instruction by instruction.
fn li_forms(c: &mut Cases) {
    let mut values: Vec<i64> = vec![
        -0x8000_0000,
        -0x7FFF_FFFF,
        -2049,
        -2048,
        -33,
        -32,
        -1,
        0,
        1,
        31,
        32,
        2047,
        2048,
        0x7FF,
        0x800,
        0xFFF,
        0x1000,
        0x1001,
        0x17FF,
        0x1800,
        0x1F800,
        0x20000,
        0x1F000,
        0x7FFF_F7FF,
        0x7FFF_F800,
        0x7FFF_FFFF,
        0x8000_0000,
        0xFFFF_F7FF,
        0xFFFF_F800,
        0xFFFF_FFE0,
        0xFFFF_FFFF,
        0x1234_5678,
        0xDEAD_BEEF,
        0x1_0000_0000,
        0x1_0000_07FF,
    ];
    for b in 5..32 {
        values.extend([1i64 << b, (1 << b) - 1, (1 << b) + 1, -(1 << b)]);
    }
    for d in all_regs().filter(|&d| d != XReg::SP) {
        for &v in &values {
            c.add_lines(li_text(d, v), asm::li(d, v));
        }
    }
}

fn li_text(d: XReg, v: i64) -> Vec<String> {
    let zero = XReg::ZERO;
    let addi = |s: XReg, imm: i64| {
        if d == s && d != zero && (-32..=31).contains(&imm) {
            format!("c.addi {}, {imm}", n(d))
        } else {
            format!("addi {}, {}, {imm}", n(d), n(s))
        }
    };
    if d != zero && (-32..=31).contains(&v) {
        return vec![format!("c.li {}, {v}", n(d))];
    }
    if (-2048..=2047).contains(&v) {
        return vec![addi(zero, v)];
    }
    if v > 0x7FFF_FFFF && v - (1 << 32) >= -2048 {
        return vec![addi(zero, v - (1 << 32))];
    }
    let v32 = v & 0xFFFF_FFFF;
    let lo = ((v32 & 0xFFF) ^ 0x800) - 0x800;
    let hi = ((v32 - lo) >> 12) & 0xF_FFFF;
    let hi_signed = (hi ^ 0x8_0000) - 0x8_0000;
    let mut lines = vec![
        if d != zero && hi_signed != 0 && (-32..=31).contains(&hi_signed) {
            format!("c.lui {}, {}", n(d), u20(hi_signed))
        } else {
            format!("lui {}, {}", n(d), u20(hi_signed))
        },
    ];
    if lo != 0 {
        lines.push(addi(d, lo));
    }
    lines
}

fn tool_available() -> bool {
    Command::new(AS).arg("--version").output().is_ok()
}

fn assemble(cases: &Cases, tag: &str) -> Vec<u8> {
    let mut source = String::from(".option norelax\n.text\n");
    let mut rvc = None;
    for case in &cases.0 {
        for line in &case.lines {
            let want = line.starts_with("c.") || line.starts_with(".insn c");
            if rvc != Some(want) {
                source.push_str(if want {
                    ".option rvc\n"
                } else {
                    ".option norvc\n"
                });
                rvc = Some(want);
            }
            writeln!(source, "{line}").unwrap();
        }
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("riscv-enc-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (s, o, bin) = (dir.join("f.s"), dir.join("f.o"), dir.join("f.bin"));
    std::fs::write(&s, source).unwrap();
    let out = Command::new(AS)
        .args(["-march=rv32imac", "-mabi=ilp32", "-o"])
        .arg(&o)
        .arg(&s)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("Error"),
        "{AS} failed:\n{}",
        stderr.lines().take(20).collect::<Vec<_>>().join("\n")
    );
    let status = Command::new(OBJCOPY)
        .args(["-O", "binary", "-j", ".text"])
        .arg(&o)
        .arg(&bin)
        .status()
        .unwrap();
    assert!(status.success(), "{OBJCOPY} failed");
    let bytes = std::fs::read(&bin).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

fn compare(cases: &Cases, reference: &[u8]) {
    let mut offset = 0;
    let mut mismatches = Vec::new();
    for case in &cases.0 {
        let ours = match &case.ours {
            Ok(bytes) => bytes,
            Err(e) => {
                mismatches.push(format!("{:?}: encoder error {e:?}", case.lines));
                continue;
            }
        };
        let theirs = reference.get(offset..offset + ours.len());
        if theirs != Some(ours.as_slice()) {
            mismatches.push(format!(
                "{:?} @{offset:#x}: as {theirs:02x?}, ours {ours:02x?}",
                case.lines
            ));
        }
        offset += ours.len();
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(20)]
    );
    assert_eq!(offset, reference.len(), "length differs");
}

fn run(build: fn(&mut Cases), tag: &str, at_least: usize) {
    if !tool_available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{AS} is required under CI"
        );
        println!("SKIPPED: {AS} not found");
        return;
    }
    let mut cases = Cases::default();
    build(&mut cases);
    assert!(cases.0.len() >= at_least, "{} cases", cases.0.len());
    let bytes = assemble(&cases, tag);
    compare(&cases, &bytes);
}

#[test]
fn base_forms_match_gnu_as() {
    run(base_forms, "base", 60_000);
}

#[test]
fn compressed_forms_match_gnu_as() {
    run(compressed_forms, "c", 10_000);
}

#[test]
fn selecting_forms_match_gnu_as() {
    run(selecting_forms, "sel", 20_000);
}

#[test]
fn li_matches_gnu_as() {
    run(li_forms, "li", 3_000);
}

#[test]
fn out_of_range_operands_are_errors() {
    use AsmError::*;
    let (a0, a1, t0, zero, sp) = (XReg::A0, XReg::A1, XReg::T0, XReg::ZERO, XReg::SP);
    for f in [
        asm::addi32,
        asm::andi32,
        asm::ori,
        asm::xori,
        asm::slti,
        asm::sltiu,
    ] {
        assert_eq!(f(a0, a1, 2048), Err(ImmediateOutOfRange(2048)));
        assert_eq!(f(a0, a1, -2049), Err(ImmediateOutOfRange(-2049)));
    }
    assert_eq!(asm::addi(a0, a0, 2048), Err(ImmediateOutOfRange(2048)));
    assert_eq!(
        asm::andi(a0, a0, i64::MIN),
        Err(ImmediateOutOfRange(i64::MIN))
    );
    for f in [asm::slli32, asm::srli32, asm::srai32] {
        assert_eq!(f(a0, a1, 32), Err(ImmediateOutOfRange(32)));
        assert_eq!(f(a0, a1, -1), Err(ImmediateOutOfRange(-1)));
    }
    assert_eq!(asm::slli(a0, a0, 32), Err(ImmediateOutOfRange(32)));
    assert_eq!(asm::srli(a0, a0, 32), Err(ImmediateOutOfRange(32)));
    assert_eq!(asm::srai(t0, t0, -1), Err(ImmediateOutOfRange(-1)));
    for f in [
        asm::lb,
        asm::lh,
        asm::lw32,
        asm::lbu,
        asm::lhu,
        asm::sb,
        asm::sh,
        asm::sw32,
    ] {
        assert_eq!(f(a0, a1, 2048), Err(OffsetOutOfRange(2048)));
        assert_eq!(f(a0, a1, -2049), Err(OffsetOutOfRange(-2049)));
    }
    assert_eq!(asm::lw(a0, sp, 2048), Err(OffsetOutOfRange(2048)));
    assert_eq!(asm::sw(sp, a0, -2049), Err(OffsetOutOfRange(-2049)));
    for f in [
        asm::beq32,
        asm::bne32,
        asm::blt,
        asm::bge,
        asm::bltu,
        asm::bgeu,
    ] {
        assert_eq!(f(a0, a1, 4096), Err(OffsetOutOfRange(4096)));
        assert_eq!(f(a0, a1, -4098), Err(OffsetOutOfRange(-4098)));
        assert_eq!(f(a0, a1, 3), Err(Misaligned(3)));
    }
    assert_eq!(asm::beq(a0, zero, 4096), Err(OffsetOutOfRange(4096)));
    assert_eq!(asm::bne(a0, zero, 7), Err(Misaligned(7)));
    assert_eq!(asm::jal32(t0, 1_048_576), Err(OffsetOutOfRange(1_048_576)));
    assert_eq!(
        asm::jal(zero, -1_048_578),
        Err(OffsetOutOfRange(-1_048_578))
    );
    assert_eq!(asm::j(1), Err(Misaligned(1)));
    assert_eq!(asm::jalr32(a0, a1, 2048), Err(OffsetOutOfRange(2048)));
    assert_eq!(asm::jalr(zero, a1, -2049), Err(OffsetOutOfRange(-2049)));
    assert_eq!(asm::lui32(a0, 0x8_0000), Err(ImmediateOutOfRange(0x8_0000)));
    assert_eq!(asm::lui(a0, -0x8_0001), Err(ImmediateOutOfRange(-0x8_0001)));
    assert_eq!(asm::auipc(a0, 0x8_0000), Err(ImmediateOutOfRange(0x8_0000)));
    // As in the reference: a small lui into sp goes to c.lui, which cannot name sp.
    assert_eq!(asm::lui(sp, 1), Err(ReservedRegister(sp)));
    assert_eq!(asm::li(sp, 0x1000), Err(ReservedRegister(sp)));
    assert_eq!(asm::li(a0, 0x1_0000_0800), Err(ImmediateOutOfRange(2048)));
    assert_eq!(
        asm::li(a0, -0x8000_0001),
        Err(ImmediateOutOfRange(-0x8000_0001))
    );

    assert_eq!(asm::c_addi(zero, 1), Err(ReservedRegister(zero)));
    assert_eq!(asm::c_addi(a0, 32), Err(ImmediateOutOfRange(32)));
    assert_eq!(asm::c_andi(t0, 1), Err(CompressedRegisterRequired(t0)));
    assert_eq!(asm::c_andi(a0, -33), Err(ImmediateOutOfRange(-33)));
    assert_eq!(asm::c_li(a0, 32), Err(ImmediateOutOfRange(32)));
    assert_eq!(asm::c_lui(a0, 0), Err(ZeroImmediate));
    assert_eq!(asm::c_lui(sp, 1), Err(ReservedRegister(sp)));
    assert_eq!(asm::c_lui(zero, 1), Err(ReservedRegister(zero)));
    assert_eq!(asm::c_lui(a0, 32), Err(ImmediateOutOfRange(32)));
    assert_eq!(asm::c_addi16sp(0), Err(ZeroImmediate));
    assert_eq!(asm::c_addi16sp(8), Err(Misaligned(8)));
    assert_eq!(asm::c_addi16sp(512), Err(ImmediateOutOfRange(512)));
    assert_eq!(asm::c_addi4spn(a0, 0), Err(ZeroImmediate));
    assert_eq!(asm::c_addi4spn(a0, 2), Err(Misaligned(2)));
    assert_eq!(asm::c_addi4spn(a0, 1024), Err(ImmediateOutOfRange(1024)));
    assert_eq!(asm::c_addi4spn(t0, 4), Err(CompressedRegisterRequired(t0)));
    assert_eq!(asm::c_slli(zero, 1), Err(ReservedRegister(zero)));
    assert_eq!(asm::c_slli(a0, 64), Err(ImmediateOutOfRange(64)));
    assert_eq!(asm::c_srli(t0, 1), Err(CompressedRegisterRequired(t0)));
    assert_eq!(asm::c_srai(a0, 64), Err(ImmediateOutOfRange(64)));
    assert_eq!(asm::c_lw(a0, a1, 128), Err(OffsetOutOfRange(128)));
    assert_eq!(asm::c_lw(a0, a1, 2), Err(Misaligned(2)));
    assert_eq!(asm::c_lw(t0, a1, 0), Err(CompressedRegisterRequired(t0)));
    assert_eq!(asm::c_sw(a0, sp, 0), Err(CompressedRegisterRequired(sp)));
    assert_eq!(asm::c_lwsp(zero, 0), Err(ReservedRegister(zero)));
    assert_eq!(asm::c_lwsp(a0, 256), Err(OffsetOutOfRange(256)));
    assert_eq!(asm::c_swsp(a0, -4), Err(OffsetOutOfRange(-4)));
    assert_eq!(asm::c_swsp(a0, 6), Err(Misaligned(6)));
    assert_eq!(asm::c_beqz(a0, 256), Err(OffsetOutOfRange(256)));
    assert_eq!(asm::c_bnez(a0, -258), Err(OffsetOutOfRange(-258)));
    assert_eq!(asm::c_bnez(t0, 0), Err(CompressedRegisterRequired(t0)));
    assert_eq!(asm::c_j(2048), Err(OffsetOutOfRange(2048)));
    assert_eq!(asm::c_jal(-2050), Err(OffsetOutOfRange(-2050)));
    assert_eq!(asm::c_j(1), Err(Misaligned(1)));
    assert_eq!(asm::c_jr(zero), Err(ReservedRegister(zero)));
    assert_eq!(asm::c_jalr(zero), Err(ReservedRegister(zero)));
    assert_eq!(asm::c_sub(t0, a0), Err(CompressedRegisterRequired(t0)));
    assert_eq!(
        asm::c_and(a0, XReg::A6),
        Err(CompressedRegisterRequired(XReg::A6))
    );
    assert_eq!(
        asm::call(t0, 0x8000_0000),
        Err(OffsetOutOfRange(0x8000_0000))
    );
    // The reference's call takes the upper part unsigned: a negative one is refused.
    assert_eq!(asm::call(t0, -0x2000), Err(ImmediateOutOfRange(0xF_FFFE)));
    assert_eq!(XReg::new(32), None);
}

#[test]
fn call_shapes() {
    // auipc t0, 1; jalr ra, 0x234(t0) / c.jalr t0 when the low part is 0.
    let seq = asm::call(XReg::T0, 0x1234).unwrap();
    assert_eq!(seq.as_bytes(), [0x97, 0x12, 0, 0, 0xe7, 0x80, 0x42, 0x23]);
    let seq = asm::call(XReg::T0, 0x1000).unwrap();
    assert_eq!(seq.as_bytes(), [0x97, 0x12, 0, 0, 0x82, 0x92]);
}

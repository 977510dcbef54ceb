//! Every instruction form of the Thumb encoder, checked byte for byte against GNU as.
//!
//! One assembly file holds all ARMv6-M forms (with all registers allowed and immediates and
//! offsets at both ends of their ranges); a second one holds the Thumb-2 forms. Each line is
//! assembled by `arm-none-eabi-as` and compared with the encoder's bytes for that line.

use avm_jit_core::compile::Reg;
use avm_jit_core::isa::armv6m::asm::{self, AsmError, Cc, Code, Insn};
use avm_jit_core::isa::armv6m::names;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

const AS: &str = "arm-none-eabi-as";
const OBJCOPY: &str = "arm-none-eabi-objcopy";

struct Case {
    asm: String,
    insn: Result<Insn, AsmError>,
}

#[derive(Default)]
struct Cases {
    cases: Vec<Case>,
    /// Bytes emitted so far (to keep `adr` word-aligned).
    offset: usize,
}

impl Cases {
    fn add(&mut self, asm: String, insn: impl Into<Result<Insn, AsmError>>) {
        let insn = insn.into();
        self.offset += insn.map_or(0, |i| i.len());
        self.cases.push(Case { asm, insn });
    }

    /// Pad with a `mov r8, r8` to a word boundary (same bytes as `asm::nop`).
    fn align4(&mut self) {
        if !self.offset.is_multiple_of(4) {
            self.add(".inst.n 0x46c0".into(), asm::nop());
        }
    }
}

fn r(n: u8) -> Reg {
    Reg(n)
}

fn name(reg: Reg) -> String {
    match reg.0 {
        13 => "sp".into(),
        14 => "lr".into(),
        15 => "pc".into(),
        n => format!("r{n}"),
    }
}

fn low_regs() -> impl Iterator<Item = Reg> + Clone {
    (0..8).map(r)
}

fn all_regs() -> impl Iterator<Item = Reg> + Clone {
    (0..16).map(r)
}

const CONDS: [(Cc, &str); 14] = [
    (Cc::Eq, "eq"),
    (Cc::Ne, "ne"),
    (Cc::Cs, "cs"),
    (Cc::Cc, "cc"),
    (Cc::Mi, "mi"),
    (Cc::Pl, "pl"),
    (Cc::Vs, "vs"),
    (Cc::Vc, "vc"),
    (Cc::Hi, "hi"),
    (Cc::Ls, "ls"),
    (Cc::Ge, "ge"),
    (Cc::Lt, "lt"),
    (Cc::Gt, "gt"),
    (Cc::Le, "le"),
];

type Pair = fn(Reg, Reg) -> Result<Insn, AsmError>;
type Triple = fn(Reg, Reg, Reg) -> Result<Insn, AsmError>;
type WithImm = fn(Reg, Reg, i64) -> Result<Insn, AsmError>;

fn armv6m_cases() -> Cases {
    let mut c = Cases::default();

    // Any-register forms.
    for (d, m) in all_regs().flat_map(|d| all_regs().map(move |m| (d, m))) {
        c.add(format!("add {}, {}", name(d), name(m)), asm::add_hi(d, m));
        c.add(format!("mov {}, {}", name(d), name(m)), asm::mov(d, m));
    }
    for m in all_regs() {
        c.add(format!("bx {}", name(m)), asm::bx(m));
        // GNU as refuses `blx pc` (unpredictable); the encoder never needs it.
        if m != names::PC {
            c.add(format!("blx {}", name(m)), asm::blx(m));
        }
    }
    c.add("mov r8, r8".into(), asm::nop());
    for imm in 0..=255u8 {
        c.add(format!("bkpt #{imm}"), asm::bkpt(imm));
    }

    // SP adjustments: every multiple of 4 in range.
    for imm in (0..=508).step_by(4) {
        c.add(format!("add sp, sp, #{imm}"), asm::add_sp_imm(imm));
        c.add(format!("sub sp, sp, #{imm}"), asm::sub_sp_imm(imm));
    }

    // Two low registers.
    let pairs: [(&str, Pair); 12] = [
        ("ands {d}, {m}", asm::ands),
        ("eors {d}, {m}", asm::eors),
        ("orrs {d}, {m}", asm::orrs),
        ("bics {d}, {m}", asm::bics),
        ("mvns {d}, {m}", asm::mvns),
        ("tst {d}, {m}", asm::tst),
        ("cmp {d}, {m}", asm::cmp_reg),
        ("lsls {d}, {m}", asm::lsls_reg),
        ("lsrs {d}, {m}", asm::lsrs_reg),
        ("movs {d}, {m}", asm::movs_reg),
        ("rsbs {d}, {m}, #0", asm::negs),
        ("muls {d}, {m}, {d}", asm::muls),
    ];
    for (pattern, encode) in pairs {
        for d in low_regs() {
            for m in low_regs() {
                let text = pattern.replace("{d}", &name(d)).replace("{m}", &name(m));
                c.add(text, encode(d, m));
            }
        }
    }

    // Three low registers.
    let triples: [(&str, Triple); 4] = [
        ("adds {d}, {n}, {m}", asm::adds_reg),
        ("subs {d}, {n}, {m}", asm::subs_reg),
        ("ldr {d}, [{n}, {m}]", asm::ldr_reg),
        ("str {d}, [{n}, {m}]", asm::str_reg),
    ];
    for (pattern, encode) in triples {
        for d in low_regs() {
            for n in low_regs() {
                for m in low_regs() {
                    let text = pattern
                        .replace("{d}", &name(d))
                        .replace("{n}", &name(n))
                        .replace("{m}", &name(m));
                    c.add(text, encode(d, n, m));
                }
            }
        }
    }

    // Immediate forms with one low register: every immediate in range.
    for d in low_regs() {
        let rd = name(d);
        for imm in 0..=255 {
            c.add(format!("movs {rd}, #{imm}"), asm::movs_imm(d, imm));
            c.add(format!("cmp {rd}, #{imm}"), asm::cmp_imm(d, imm));
            // Rd == Rn picks the 8-bit form even for small immediates.
            c.add(format!("adds {rd}, #{imm}"), asm::adds_imm2(d, imm));
            c.add(format!("subs {rd}, #{imm}"), asm::subs_imm2(d, imm));
            c.add(format!("adds {rd}, {rd}, #{imm}"), asm::adds_imm(d, d, imm));
            c.add(format!("subs {rd}, {rd}, #{imm}"), asm::subs_imm(d, d, imm));
        }
        for imm in (0..=1020).step_by(4) {
            c.add(format!("ldr {rd}, [sp, #{imm}]"), asm::ldr_sp(d, imm));
            c.add(format!("str {rd}, [sp, #{imm}]"), asm::str_sp(d, imm));
            c.add(format!("ldr {rd}, [pc, #{imm}]"), asm::ldr_pc(d, imm));
            // The `{Rn, Imm}` form with SP/PC as base register.
            c.add(
                format!("ldr {rd}, [sp, #{imm}]"),
                asm::ldr_imm(d, names::SP, imm),
            );
            c.add(
                format!("str {rd}, [sp, #{imm}]"),
                asm::str_imm(d, names::SP, imm),
            );
            c.add(
                format!("ldr {rd}, [pc, #{imm}]"),
                asm::ldr_imm(d, names::PC, imm),
            );
        }
        for offset in (4..=1024).step_by(4) {
            c.align4();
            c.add(format!("adr {rd}, .+{offset}"), asm::adr(d, offset));
        }
    }

    // Two low registers and an immediate.
    let with_imm: [(&str, WithImm, std::ops::RangeInclusive<i64>, i64); 7] = [
        ("adds {d}, {n}, #{i}", asm::adds_imm, 0..=7, 1),
        ("subs {d}, {n}, #{i}", asm::subs_imm, 0..=7, 1),
        ("lsls {d}, {n}, #{i}", asm::lsls_imm, 1..=31, 1),
        ("lsrs {d}, {n}, #{i}", asm::lsrs_imm, 1..=32, 1),
        ("asrs {d}, {n}, #{i}", asm::asrs_imm, 1..=32, 1),
        ("ldr {d}, [{n}, #{i}]", asm::ldr_imm, 0..=124, 4),
        ("str {d}, [{n}, #{i}]", asm::str_imm, 0..=124, 4),
    ];
    for (pattern, encode, range, step) in with_imm {
        for d in low_regs() {
            for n in low_regs() {
                // With d == n, adds/subs take the 8-bit form, as GNU as does.
                for imm in range.clone().step_by(step as usize) {
                    let text = pattern
                        .replace("{d}", &name(d))
                        .replace("{n}", &name(n))
                        .replace("{i}", &imm.to_string());
                    c.add(text, encode(d, n, imm));
                }
            }
        }
    }

    // Branches: every even offset in range, from the instruction's own address.
    for offset in (-2044..=2050).step_by(2) {
        c.add(format!("b .{offset:+}"), asm::b(offset));
    }
    for offset in [-2044, -2, 0, 2, 4, 2050] {
        c.add(format!("b .{offset:+}"), asm::bcc(Cc::Al, offset));
    }
    for (cc, cond) in CONDS {
        for offset in (-252..=258).step_by(2) {
            c.add(format!("b{cond} .{offset:+}"), asm::bcc(cc, offset));
        }
    }

    // Register lists: every combination of r0..r7 with and without LR/PC.
    for mask in 1u16..512 {
        let list = |extra: Reg| {
            let mut regs: Vec<Reg> = (0..8).filter(|i| mask & (1 << i) != 0).map(r).collect();
            if mask & 0x100 != 0 {
                regs.push(extra);
            }
            let names: Vec<String> = regs.iter().map(|&r| name(r)).collect();
            (regs, names.join(", "))
        };
        let (push_regs, push_text) = list(names::LR);
        c.add(format!("push {{{push_text}}}"), asm::push(&push_regs));
        let (pop_regs, pop_text) = list(names::PC);
        c.add(format!("pop {{{pop_text}}}"), asm::pop(&pop_regs));
    }
    c
}

fn thumb2_cases() -> Cases {
    let mut c = Cases::default();
    // B.W offsets are relative to PC = instruction + 4.
    let mut offsets = vec![-16_777_216, 16_777_214, -4, -2, 0, 2, 4, 2046, 2048, -2050];
    for bit in 1..24 {
        offsets.push(1 << bit);
        offsets.push(-(1 << bit));
        offsets.push((1 << bit) - 2);
        offsets.push(-(1 << bit) + 2);
    }
    for offset in offsets {
        c.add(format!("b.w .{:+}", offset + 4), asm::b_w(offset));
    }
    let mut imms = vec![0, 0xFFFF, 0x1234, 0xA5A5];
    imms.extend((0..16).map(|bit| 1 << bit));
    for d in (0..=12).chain([14]).map(r) {
        for &imm in &imms {
            c.add(format!("movw {}, #{imm}", name(d)), asm::movw(d, imm));
            c.add(format!("movt {}, #{imm}", name(d)), asm::movt(d, imm));
        }
    }
    c
}

fn tool_available() -> bool {
    Command::new(AS).arg("--version").output().is_ok()
}

/// Assemble the cases and return the text section's bytes.
fn assemble(cases: &Cases, cpu_flags: &[&str], tag: &str) -> Vec<u8> {
    let mut source = String::from(".syntax unified\n.thumb\n.text\n");
    for case in &cases.cases {
        writeln!(source, "{}", case.asm).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("avm-jit-thumb-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |ext: &str| -> PathBuf { dir.join(format!("forms.{ext}")) };
    std::fs::write(path("s"), source).unwrap();
    let out = Command::new(AS)
        .args(cpu_flags)
        .arg("-o")
        .arg(path("o"))
        .arg(path("s"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("Error")).collect();
    assert!(
        out.status.success() && errors.is_empty(),
        "{AS} failed:\n{stderr}"
    );
    let status = Command::new(OBJCOPY)
        .args(["-O", "binary", "-j", ".text"])
        .arg(path("o"))
        .arg(path("bin"))
        .status()
        .unwrap();
    assert!(status.success(), "{OBJCOPY} failed");
    let bytes = std::fs::read(path("bin")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

fn compare(cases: &Cases, reference: &[u8]) {
    let mut offset = 0;
    let mut mismatches = Vec::new();
    for case in &cases.cases {
        let ours = match case.insn {
            Ok(insn) => insn,
            Err(e) => {
                mismatches.push(format!("{}: encoder error {e:?}", case.asm));
                continue;
            }
        };
        let theirs = reference.get(offset..offset + ours.len());
        if theirs != Some(ours.as_bytes()) {
            mismatches.push(format!(
                "{} @{offset:#x}: as {:02x?}, ours {:02x?}",
                case.asm,
                theirs,
                ours.as_bytes()
            ));
        }
        offset += ours.len();
    }
    assert_eq!(
        offset,
        reference.len(),
        "length differs; first mismatches: {mismatches:#?}"
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(20)]
    );
}

#[test]
fn encodings_match_gnu_as() {
    if !tool_available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{AS} is required under CI"
        );
        println!("SKIPPED: {AS} not found");
        return;
    }
    let v6 = armv6m_cases();
    assert!(v6.cases.len() > 20_000);
    let bytes = assemble(&v6, &["-mcpu=cortex-m0", "-mthumb"], "v6m");
    compare(&v6, &bytes);

    let v7 = thumb2_cases();
    let bytes = assemble(&v7, &["-march=armv7-m", "-mthumb"], "v7m");
    compare(&v7, &bytes);
}

#[test]
fn out_of_range_operands_are_errors() {
    use AsmError::*;
    let (r0, r1, r8) = (names::R0, names::R1, names::R8);
    // The rejected value, as an error keeps it (saturated to i32).
    let imm = AsmError::immediate;
    let off = AsmError::offset;
    let high = LowRegisterRequired;

    assert_eq!(asm::add_sp_imm(512), Err(imm(512)));
    assert_eq!(asm::add_sp_imm(-4), Err(imm(-4)));
    assert_eq!(asm::add_sp_imm(6), Err(imm(6)));
    assert_eq!(asm::sub_sp_imm(512), Err(imm(512)));

    assert_eq!(asm::adds_imm2(r0, 256), Err(imm(256)));
    assert_eq!(asm::adds_imm2(r0, -1), Err(imm(-1)));
    assert_eq!(asm::adds_imm(r0, r1, 8), Err(imm(8)));
    assert_eq!(asm::subs_imm(r0, r1, 8), Err(imm(8)));
    assert_eq!(asm::subs_imm2(r0, 256), Err(imm(256)));
    assert_eq!(asm::adds_imm2(r8, 1), Err(high(r8)));
    assert_eq!(asm::adds_imm(r0, r8, 1), Err(high(r8)));
    assert_eq!(asm::adds_reg(r0, r1, names::R12), Err(high(names::R12)));
    assert_eq!(asm::subs_reg(names::SP, r1, r0), Err(high(names::SP)));

    assert_eq!(asm::movs_imm(r0, 256), Err(imm(256)));
    assert_eq!(asm::movs_imm(r0, -1), Err(imm(-1)));
    assert_eq!(asm::movs_imm(r8, 0), Err(high(r8)));
    assert_eq!(asm::cmp_imm(r0, 256), Err(imm(256)));
    assert_eq!(asm::cmp_imm(r0, i64::MIN), Err(imm(i64::MIN)));
    assert_eq!(
        asm::cmp_imm(r0, i64::MIN),
        Err(UnencodableImmediate(i32::MIN))
    );
    assert_eq!(asm::cmp_reg(r0, r8), Err(high(r8)));
    for f in [
        asm::ands,
        asm::eors,
        asm::orrs,
        asm::bics,
        asm::mvns,
        asm::tst,
    ] {
        assert_eq!(f(r8, r0), Err(high(r8)));
    }
    assert_eq!(asm::muls(r0, r8), Err(high(r8)));
    assert_eq!(asm::negs(r0, r8), Err(high(r8)));
    assert_eq!(asm::movs_reg(r0, r8), Err(high(r8)));

    assert_eq!(asm::lsls_imm(r0, r1, 0), Err(imm(0)));
    assert_eq!(asm::lsls_imm(r0, r1, 32), Err(imm(32)));
    assert_eq!(asm::lsrs_imm(r0, r1, 33), Err(imm(33)));
    assert_eq!(asm::asrs_imm(r0, r1, 0), Err(imm(0)));
    assert_eq!(asm::lsls_reg(r8, r0), Err(high(r8)));

    assert_eq!(asm::ldr_imm(r0, r1, 128), Err(imm(128)));
    assert_eq!(asm::ldr_imm(r0, r1, 2), Err(imm(2)));
    assert_eq!(asm::ldr_imm(r0, r1, -4), Err(imm(-4)));
    assert_eq!(asm::ldr_imm(r0, r8, 0), Err(high(r8)));
    assert_eq!(asm::ldr_imm(r0, names::SP, 1024), Err(imm(1024)));
    assert_eq!(asm::ldr_sp(r0, 1022), Err(imm(1022)));
    assert_eq!(asm::ldr_pc(r0, 1024), Err(imm(1024)));
    assert_eq!(asm::ldr_pc(r8, 0), Err(high(r8)));
    assert_eq!(asm::str_imm(r0, r1, 126), Err(imm(126)));
    assert_eq!(asm::str_imm(r0, names::PC, 0), Err(high(names::PC)));
    assert_eq!(asm::str_sp(r0, -4), Err(imm(-4)));
    assert_eq!(asm::ldr_reg(r0, r1, r8), Err(high(r8)));
    assert_eq!(asm::str_reg(r8, r1, r0), Err(high(r8)));

    assert_eq!(asm::adr(r0, 0), Err(off(0)));
    assert_eq!(asm::adr(r0, 1028), Err(off(1028)));
    assert_eq!(asm::adr(r0, 6), Err(off(6)));
    assert_eq!(asm::adr(r8, 4), Err(high(r8)));

    assert_eq!(asm::b(2052), Err(off(2052)));
    assert_eq!(asm::b(-2046), Err(off(-2046)));
    assert_eq!(asm::b(3), Err(off(3)));
    assert_eq!(asm::bcc(Cc::Eq, 260), Err(off(260)));
    assert_eq!(asm::bcc(Cc::Ne, -254), Err(off(-254)));
    assert_eq!(asm::bcc(Cc::Le, 1), Err(off(1)));
    // `al` takes the unconditional branch's range.
    assert!(asm::bcc(Cc::Al, 2050).is_ok());
    assert_eq!(asm::bcc(Cc::Al, 2052), Err(off(2052)));
    assert_eq!(asm::b_w(16_777_216), Err(off(16_777_216)));
    assert_eq!(asm::b_w(-16_777_218), Err(off(-16_777_218)));
    assert_eq!(asm::b_w(1), Err(off(1)));
    assert_eq!(asm::b_w(i64::MAX), Err(off(i64::MAX)));
    assert_eq!(asm::b_w(i64::MAX), Err(UnencodableOffset(i32::MAX)));

    assert_eq!(asm::movw(r0, 65536), Err(imm(65536)));
    assert_eq!(asm::movt(r0, -1), Err(imm(-1)));

    assert_eq!(
        asm::push(&[names::R4, r8]),
        Err(InvalidRegisterList(1 << 8))
    );
    assert_eq!(asm::push(&[names::PC]), Err(InvalidRegisterList(1 << 15)));
    assert_eq!(asm::pop(&[names::LR]), Err(InvalidRegisterList(1 << 14)));
    assert_eq!(asm::pop(&[Reg(16)]), Err(InvalidRegisterList(16)));
    // Repeated registers add up, as in the reference: r7 twice is bit 8 (not a low register).
    assert_eq!(
        asm::push(&[names::R7, names::R7]),
        Err(InvalidRegisterList(1 << 8))
    );
    assert_eq!(asm::push(&[r0, r0]), asm::push(&[r1]));
}

#[test]
fn code_buffer_is_sticky_and_bounded() {
    let mut code = Code::new();
    code.push(asm::movs_imm(names::R0, 1))
        .push(asm::nop())
        .extend(&[0xAA, 0xBB]);
    assert_eq!(code.as_bytes(), &[0x01, 0x20, 0xC0, 0x46, 0xAA, 0xBB]);
    assert_eq!(code.len(), 6);
    assert_eq!(code.result(), Ok(&[0x01, 0x20, 0xC0, 0x46, 0xAA, 0xBB][..]));

    code.push(asm::movs_imm(names::R0, 256)).push(asm::nop());
    assert_eq!(code.error(), Some(AsmError::UnencodableImmediate(256)));
    assert_eq!(code.len(), 6, "nothing appended after the first error");
    assert!(code.result().is_err());

    let mut full = Code::new();
    for _ in 0..Code::CAPACITY / 2 {
        full.push(asm::nop());
    }
    assert_eq!(full.error(), None);
    full.push(asm::nop());
    assert_eq!(full.error(), Some(AsmError::CodeFull));
    assert_eq!(full.len(), Code::CAPACITY);
}

//! The encoder's compressed-form choices agree with what the reference actually emitted.
//!
//! Every instruction of the reference's riscv32 golden code (jump table and code, up to the
//! label-0 stub) is decoded and re-encoded by each encoder entry point the reference could have
//! produced it with (e.g. a 32-bit `addi a0,zero,5` by `addi` or `li`; a `c.mv` by `mv`); one of
//! them must give back exactly the same bytes. So a 32-bit `addi a0,a0,5` in the reference's
//! output, or a `c.lw` where the encoder would pick the 32-bit form, fails this test: it checks
//! the selection rules against the reference's bytes, which the GNU as test cannot.
//!
//! A second test checks the jump-table entries and the label-0 stub of every golden module against
//! the `labels` patches.

use std::collections::BTreeMap;

use avm_jit_core::isa::riscv32::asm::{self, AsmError, Insn, XReg};
use avm_jit_core::isa::riscv32::disasm::{self, Decoded, Insn as D};

fn x(n: u8) -> XReg {
    XReg::new(n).unwrap()
}

fn full(word: u32) -> Result<Insn, AsmError> {
    Ok(Insn::full(word))
}

fn c16(half: Result<u16, AsmError>) -> Result<Insn, AsmError> {
    half.map(Insn::compressed)
}

/// The encodings the reference's entry points give for this decoded instruction.
fn candidates(d: &Decoded, address: u32) -> Vec<Result<Insn, AsmError>> {
    let zero = XReg::ZERO;
    let rel = |target: u32| i64::from(target.wrapping_sub(address) as i32);
    match d.insn {
        D::Reg3 { op, rd, rs1, rs2 } => {
            let (rd, rs1, rs2) = (x(rd), x(rs1), x(rs2));
            vec![match op {
                "add" => Ok(asm::add(rd, rs1, rs2)),
                "sub" => Ok(asm::sub(rd, rs1, rs2)),
                "and" => Ok(asm::and(rd, rs1, rs2)),
                "or" => Ok(asm::or(rd, rs1, rs2)),
                "xor" => Ok(asm::xor(rd, rs1, rs2)),
                "sll" => full(asm::sll(rd, rs1, rs2)),
                "srl" => full(asm::srl(rd, rs1, rs2)),
                "sra" => full(asm::sra(rd, rs1, rs2)),
                "slt" => full(asm::slt(rd, rs1, rs2)),
                "sltu" => full(asm::sltu(rd, rs1, rs2)),
                "mul" => full(asm::mul(rd, rs1, rs2)),
                "div" => full(asm::div(rd, rs1, rs2)),
                "rem" => full(asm::rem(rd, rs1, rs2)),
                _ => return vec![],
            }]
        }
        D::Reg2 { op, rd, rs } => {
            let (rd, rs) = (x(rd), x(rs));
            match op {
                "mv" => vec![Ok(asm::mv(rd, rs)), asm::addi(rd, rs, 0)],
                "neg" => vec![Ok(asm::neg(rd, rs))],
                "not" => vec![Ok(asm::not(rd, rs))],
                "seqz" => vec![asm::sltiu(rd, rs, 1).map(Insn::full)],
                "snez" => vec![full(asm::sltu(rd, zero, rs))],
                "sltz" => vec![full(asm::slt(rd, rs, zero))],
                "sgtz" => vec![full(asm::slt(rd, zero, rs))],
                "jalr" => vec![asm::jalr(rd, rs, 0)],
                _ => vec![],
            }
        }
        D::RegImm { op, rd, rs1, imm } => {
            let (rd, rs1, imm) = (x(rd), x(rs1), i64::from(imm));
            vec![match op {
                "add" => asm::addi(rd, rs1, imm),
                "and" => asm::andi(rd, rs1, imm),
                "or" => asm::ori(rd, rs1, imm).map(Insn::full),
                "xor" => asm::xori(rd, rs1, imm).map(Insn::full),
                "slti" => asm::slti(rd, rs1, imm).map(Insn::full),
                "sltiu" => asm::sltiu(rd, rs1, imm).map(Insn::full),
                _ => return vec![],
            }]
        }
        D::Shift { op, rd, rs1, shamt } => {
            let (rd, rs1, sh) = (x(rd), x(rs1), i64::from(shamt));
            vec![match op {
                "sll" => asm::slli(rd, rs1, sh),
                "srl" => asm::srli(rd, rs1, sh),
                "sra" => asm::srai(rd, rs1, sh),
                _ => return vec![],
            }]
        }
        D::Imm { op: "li", rd, imm } => {
            let (rd, imm) = (x(rd), i64::from(imm));
            let li = asm::li(rd, imm).and_then(|seq| match seq.as_bytes() {
                [a, b] => Ok(Insn::compressed(u16::from_le_bytes([*a, *b]))),
                [a, b, c, d] => Ok(Insn::full(u32::from_le_bytes([*a, *b, *c, *d]))),
                _ => Err(AsmError::ZeroImmediate),
            });
            vec![li, asm::addi(rd, zero, imm)]
        }
        D::Hex { op, rd, imm } => {
            let signed = i64::from(((imm << 12) as i32) >> 12);
            match op {
                "lui" => vec![asm::lui(x(rd), signed)],
                "auipc" => vec![asm::auipc(x(rd), signed).map(Insn::full)],
                _ => vec![],
            }
        }
        D::Mem {
            op,
            rt,
            offset,
            base,
        } => {
            let (rt, base, off) = (x(rt), x(base), i64::from(offset));
            vec![match op {
                "lw" => asm::lw(rt, base, off),
                "sw" => asm::sw(base, rt, off),
                "lb" => asm::lb(rt, base, off).map(Insn::full),
                "lh" => asm::lh(rt, base, off).map(Insn::full),
                "lbu" => asm::lbu(rt, base, off).map(Insn::full),
                "lhu" => asm::lhu(rt, base, off).map(Insn::full),
                "sb" => asm::sb(base, rt, off).map(Insn::full),
                "sh" => asm::sh(base, rt, off).map(Insn::full),
                "jalr" => asm::jalr(rt, base, off),
                _ => return vec![],
            }]
        }
        D::Indirect { op, offset, base } => {
            let rd = if op == "jr" { zero } else { XReg::RA };
            vec![asm::jalr(rd, x(base), i64::from(offset))]
        }
        D::Branch2 {
            op,
            rs1,
            rs2,
            target,
        } => {
            let (rs1, rs2, off) = (x(rs1), x(rs2), rel(target));
            vec![match op {
                "beq" => asm::beq(rs1, rs2, off),
                "bne" => asm::bne(rs1, rs2, off),
                "blt" => asm::blt(rs1, rs2, off).map(Insn::full),
                "bge" => asm::bge(rs1, rs2, off).map(Insn::full),
                "bltu" => asm::bltu(rs1, rs2, off).map(Insn::full),
                "bgeu" => asm::bgeu(rs1, rs2, off).map(Insn::full),
                _ => return vec![],
            }]
        }
        D::Branch1 { op, rs, target } => {
            let (rs, off) = (x(rs), rel(target));
            vec![match op {
                "beqz" => asm::beq(rs, zero, off),
                "bnez" => asm::bne(rs, zero, off),
                "bltz" => asm::blt(rs, zero, off).map(Insn::full),
                "bgtz" => asm::blt(zero, rs, off).map(Insn::full),
                "bgez" => asm::bge(rs, zero, off).map(Insn::full),
                "blez" => asm::bge(zero, rs, off).map(Insn::full),
                "jal" => asm::jal(rs, off),
                _ => return vec![],
            }]
        }
        D::Jump { op, target } => {
            let rd = if op == "j" { zero } else { XReg::RA };
            vec![asm::jal(rd, rel(target))]
        }
        D::Reg1 { op, reg } => match op {
            "jr" => vec![asm::jalr(zero, x(reg), 0), Ok(asm::jr(x(reg)))],
            "jalr" => vec![asm::jalr(XReg::RA, x(reg), 0)],
            _ => vec![],
        },
        D::Plain("nop") => vec![Ok(asm::nop()), c16(Ok(asm::c_nop()))],
        D::Plain("ret") => vec![Ok(asm::ret())],
        D::Plain("ebreak") => vec![c16(Ok(asm::c_ebreak()))],
        _ => vec![],
    }
}

fn op_of(insn: &D) -> &'static str {
    match *insn {
        D::Reg3 { op, .. }
        | D::Reg2 { op, .. }
        | D::RegImm { op, .. }
        | D::Shift { op, .. }
        | D::Imm { op, .. }
        | D::Hex { op, .. }
        | D::Mem { op, .. }
        | D::Indirect { op, .. }
        | D::Branch2 { op, .. }
        | D::Branch1 { op, .. }
        | D::Jump { op, .. }
        | D::Reg1 { op, .. } => op,
        D::Plain(text) => text,
        _ => "data",
    }
}

/// The AOT corpus in full and every third module of the on-device layout (whose offsets are 20
/// lower, which moves some immediates across a form's range).
const CORPORA: [(&str, usize); 2] = [("otp25/riscv32", 1), ("otp25/riscv32-cache", 3)];

#[test]
fn reference_output_re_encodes_through_the_encoder() {
    let Some(golden) = avm_jit_tests::golden_dir("riscv_reference_forms") else {
        return;
    };
    for (target, step) in CORPORA {
        re_encode(&golden, target, step);
    }
}

fn re_encode(golden: &std::path::Path, target: &str, step: usize) {
    let rows = avm_jit_tests::golden_index(golden, target);
    assert!(rows.len() >= 232, "{target}: {} rows", rows.len());
    // (length, mnemonic) -> count, printed as the reference's instruction mix.
    let mut seen: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut total, mut modules) = (0usize, 0);
    for row in rows.iter().step_by(step) {
        modules += 1;
        let path = row.avmn_path(golden, target);
        let payload = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let code = &payload[20..];
        // Jump table entry 0 (`auipc a3, hi; jalr zero, lo(a3)` or `c.jr a3`) locates the
        // label-0 stub; the labels and lines tables after it are data.
        let word = |at: usize| u32::from_le_bytes(code[at..at + 4].try_into().unwrap());
        let lo = if word(4) & 0x7F == 0x67 {
            (word(4) as i32 >> 20) as u32
        } else {
            0
        };
        let end = (word(0) & 0xFFFF_F000).wrapping_add(lo) as usize + 10;
        assert!(end <= code.len(), "{}: label 0 at {end:#x}", row.module);
        let mut at = 0;
        while at < end {
            let d = disasm::decode(&code[at..end], at as u32);
            let bytes = &code[at..at + d.len];
            // The reference pads the label-0 stub with an unpatched all-ones halfword.
            let ok = if d.insn == D::Half(0xFFFF) {
                true
            } else {
                candidates(&d, at as u32)
                    .into_iter()
                    .flatten()
                    .any(|insn| &insn.to_bytes()[..insn.len()] == bytes)
            };
            if !ok && failures.len() < 20 {
                failures.push(format!(
                    "{}/{} @{at:#x}: {bytes:02x?} {d}",
                    row.app, row.module
                ));
            }
            *seen.entry((d.len, op_of(&d.insn))).or_default() += 1;
            total += 1;
            at += d.len.max(1);
        }
    }
    println!("{target}: {total} instructions in {modules} modules: {seen:?}");
    assert!(failures.is_empty(), "{target}: {failures:#?}");
    assert!(total > 1_000_000, "{target}: {total}");
}

/// Every jump-table entry of every golden module is `labels::patch(JumpTableEntry, rel)` for its
/// label's offset (from the module's labels table), and the label-0 stub is
/// `pc_relative_address(a0, 10)` + `ret` + the unpatched `ff ff`.
#[test]
fn jump_tables_and_label0_stub_are_the_label_use_patches() {
    let Some(golden) = avm_jit_tests::golden_dir("riscv_reference_forms") else {
        return;
    };
    // Stream offsets (those of the labels table) count from the start of the AOT payload, and
    // from the end of the header in the on-device layout (its stream starts empty).
    for (target, stream_base) in [("otp25/riscv32", 0), ("otp25/riscv32-cache", 20)] {
        jump_tables(&golden, target, stream_base);
    }
}

fn jump_tables(golden: &std::path::Path, target: &str, stream_base: usize) {
    use avm_jit_core::isa::riscv32::labels::{self, LabelUse};
    let rows = avm_jit_tests::golden_index(golden, target);
    let mut entries = 0;
    for row in &rows {
        let path = row.avmn_path(golden, target);
        let payload = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let be16 = |at: usize| u16::from_be_bytes([payload[at], payload[at + 1]]) as usize;
        let be32 = |at: usize| u32::from_be_bytes(payload[at..at + 4].try_into().unwrap()) as usize;
        let labels_count = be32(4);
        // The jump table follows the 20-byte header, one 8-byte entry per label
        // 0..=labels_count.
        let entry = |label: usize| 20 + 8 * label;
        let word = |at: usize| u32::from_le_bytes(payload[at..at + 4].try_into().unwrap());
        let lo = if word(entry(0) + 4) & 0x7F == 0x67 {
            (word(entry(0) + 4) as i32 >> 20) as u32
        } else {
            0
        };
        let stub = (entry(0) as u32)
            .wrapping_add(word(entry(0)) & 0xFFFF_F000)
            .wrapping_add(lo) as usize;
        let mut expected_stub = labels::pc_relative_address(XReg::A0, 10)
            .unwrap()
            .as_bytes()
            .to_vec();
        expected_stub.extend_from_slice(&asm::ret().to_bytes()[..2]);
        expected_stub.resize(10, 0xFF);
        assert_eq!(
            &payload[stub..stub + 10],
            expected_stub.as_slice(),
            "{}",
            row.module
        );
        let count = be16(stub + 10);
        for i in 0..count {
            let at = stub + 12 + 6 * i;
            let (label, offset) = (be16(at), be32(at + 2) + stream_base);
            assert!(label <= labels_count, "{}: label {label}", row.module);
            let patch = labels::patch(
                LabelUse::JumpTableEntry,
                offset as i64 - entry(label) as i64,
            )
            .unwrap();
            assert_eq!(
                &payload[entry(label)..entry(label) + 8],
                patch.as_bytes(),
                "{} label {label} at {offset:#x}",
                row.module
            );
            entries += 1;
        }
    }
    println!(
        "{target}: {entries} jump-table entries in {} modules",
        rows.len()
    );
    assert!(entries > 30_000, "{target}: {entries}");
}

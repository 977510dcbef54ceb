//! Driver tests: operand decoding on hand-made bytes, and whole modules through a recording
//! backend.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::backend::*;
use super::decode::*;
use super::env::{Import, ModuleEnv};
use super::operand::{Dest, Operand};
use super::{compile_module, CompileErrorKind, Driver};
use crate::beam::compact::Cursor;
use crate::beam::JitType;

/// A backend that records every call as text and advances its offset by 2 per call.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    next_reg: u8,
    offset: usize,
}

impl Recorder {
    fn log(&mut self, s: String) {
        self.offset += 2;
        self.calls.push(s);
    }
    fn reg(&mut self) -> Reg {
        self.next_reg = (self.next_reg + 1) % 8;
        Reg(self.next_reg)
    }
}

impl Backend for Recorder {
    const WORD_SIZE: u32 = 4;
    fn error(&self) -> Option<BackendError> {
        None
    }
    fn offset(&self) -> usize {
        self.offset
    }
    fn flush(&mut self) {
        self.log("flush".into());
    }
    fn jump_table(&mut self, n: u32) {
        self.log(format!("jump_table {n}"));
    }
    fn update_branches(&mut self) {
        self.log("update_branches".into());
    }
    fn return_labels_and_lines(&mut self, lines: &[(u32, u32)]) {
        self.log(format!("labels_and_lines {}", lines.len()));
    }
    fn add_label(&mut self, label: Label) {
        self.log(format!("label {label:?}"));
    }
    fn add_label_at(&mut self, label: Label, offset: usize) {
        self.log(format!("label {label:?} at {offset}"));
    }
    fn available_regs_count(&self) -> u32 {
        4
    }
    fn free_native_registers(&mut self, values: &[Val]) {
        self.log(format!("free {values:?}"));
    }
    fn call_primitive(&mut self, p: u32, args: &[Arg]) -> Reg {
        self.log(format!("call_primitive {p} {args:?}"));
        self.reg()
    }
    fn call_primitive_last(&mut self, p: u32, args: &[Arg]) {
        self.log(format!("call_primitive_last {p} {args:?}"));
    }
    fn call_primitive_with_cp(&mut self, p: u32, args: &[Arg]) {
        self.log(format!("call_primitive_with_cp {p} {args:?}"));
    }
    fn call_func_ptr(&mut self, f: FuncPtr, args: &[Arg]) -> Reg {
        self.log(format!("call_func_ptr {f:?} {args:?}"));
        self.reg()
    }
    fn return_if_not_equal_to_ctx(&mut self, v: Arg) {
        self.log(format!("return_if_not_equal_to_ctx {v:?}"));
    }
    fn jump_to_label(&mut self, l: u32) {
        self.log(format!("jump_to_label {l}"));
    }
    fn jump_to_continuation(&mut self, v: Arg) {
        self.log(format!("jump_to_continuation {v:?}"));
    }
    fn jump_to_offset(&mut self, o: usize) {
        self.log(format!("jump_to_offset {o}"));
    }
    fn if_block(&mut self, c: Cond, body: impl FnOnce(&mut Self)) {
        self.log(format!("if {c:?}"));
        body(self);
        self.log("end".into());
    }
    fn if_block_and(&mut self, c: &[Cond], body: impl FnOnce(&mut Self)) {
        self.log(format!("if_and {c:?}"));
        body(self);
        self.log("end".into());
    }
    fn if_else_block(
        &mut self,
        c: Cond,
        then_body: impl FnOnce(&mut Self),
        else_body: impl FnOnce(&mut Self),
    ) {
        self.log(format!("if {c:?}"));
        then_body(self);
        self.log("else".into());
        else_body(self);
        self.log("end".into());
    }
    fn shift_right(&mut self, reg: Arg, s: u32) -> Reg {
        self.log(format!("shift_right {reg:?} {s}"));
        self.reg()
    }
    fn shift_right_arith(&mut self, reg: Arg, s: u32) -> Reg {
        self.log(format!("shift_right_arith {reg:?} {s}"));
        self.reg()
    }
    fn shift_left(&mut self, reg: Arg, s: u32) -> Reg {
        self.log(format!("shift_left {reg:?} {s}"));
        self.reg()
    }
    fn and_(&mut self, reg: Arg, v: Val) -> Reg {
        self.log(format!("and {reg:?} {v:?}"));
        self.reg()
    }
    fn or_(&mut self, reg: Arg, v: Val) -> Reg {
        self.log(format!("or {reg:?} {v:?}"));
        self.reg()
    }
    fn xor_(&mut self, reg: Arg, v: Val) -> Reg {
        self.log(format!("xor {reg:?} {v:?}"));
        self.reg()
    }
    fn add(&mut self, reg: Arg, v: Val) -> Reg {
        self.log(format!("add {reg:?} {v:?}"));
        self.reg()
    }
    fn sub(&mut self, reg: Arg, v: Val) -> Reg {
        self.log(format!("sub {reg:?} {v:?}"));
        self.reg()
    }
    fn mul(&mut self, reg: Arg, v: Val) -> Reg {
        self.log(format!("mul {reg:?} {v:?}"));
        self.reg()
    }
    fn move_to_vm_register(&mut self, src: Arg, dest: Val) {
        self.log(format!("move_to_vm_register {src:?} {dest:?}"));
    }
    fn move_to_native_register(&mut self, src: Val) -> Reg {
        self.log(format!("move_to_native_register {src:?}"));
        self.reg()
    }
    fn move_to_native_register_to(&mut self, src: Val, dest: Reg) {
        self.log(format!("move_to_native_register {src:?} {dest:?}"));
    }
    fn copy_to_native_register(&mut self, src: Val) -> Reg {
        self.log(format!("copy_to_native_register {src:?}"));
        self.reg()
    }
    fn move_to_cp(&mut self, src: Val) {
        self.log(format!("move_to_cp {src:?}"));
    }
    fn move_array_element(&mut self, base: Arg, index: Val, dest: Val) {
        self.log(format!("move_array_element {base:?} {index:?} {dest:?}"));
    }
    fn move_array_element_free_index(&mut self, base: Reg, index: Reg, dest: Val) {
        self.log(format!(
            "move_array_element {base:?} free {index:?} {dest:?}"
        ));
    }
    fn get_array_element(&mut self, base: Arg, index: u32) -> Reg {
        self.log(format!("get_array_element {base:?} {index}"));
        self.reg()
    }
    fn move_to_array_element(&mut self, src: Val, base: Reg, index: Val) {
        self.log(format!("move_to_array_element {src:?} {base:?} {index:?}"));
    }
    fn move_to_array_element_offset(&mut self, src: Val, base: Reg, index: Val, offset: i64) {
        self.log(format!(
            "move_to_array_element {src:?} {base:?} {index:?} {offset}"
        ));
    }
    fn set_bs(&mut self, src: Val) {
        self.log(format!("set_bs {src:?}"));
    }
    fn increment_sp(&mut self, words: i64) {
        self.log(format!("increment_sp {words}"));
    }
    fn set_continuation_to_label(&mut self, label: u32) {
        self.log(format!("set_continuation_to_label {label}"));
    }
    fn set_continuation_to_offset(&mut self) -> Label {
        self.log("set_continuation_to_offset".into());
        Label::Local(1)
    }
    fn continuation_entry_point(&mut self) {
        self.log("continuation_entry_point".into());
    }
    fn get_module_index(&mut self) -> Reg {
        self.log("get_module_index".into());
        self.reg()
    }
    fn decrement_reductions_and_maybe_schedule_next(&mut self) {
        self.log("decrement_reductions".into());
    }
    fn call_or_schedule_next(&mut self, label: u32) {
        self.log(format!("call_or_schedule_next {label}"));
    }
    fn call_only_or_schedule_next(&mut self, label: u32) {
        self.log(format!("call_only_or_schedule_next {label}"));
    }
}

/// Module tables for tests: atoms by name, no literals, no imports, no types.
struct Tables {
    atoms: Vec<&'static [u8]>,
    imports: Vec<Import>,
}

impl ModuleEnv for Tables {
    fn atom(&self, index: u32) -> Option<&[u8]> {
        self.atoms.get((index as usize).checked_sub(1)?).copied()
    }
    fn literal(&self, _index: u32) -> Option<&[u8]> {
        None
    }
    fn import(&self, index: u32) -> Option<Import> {
        self.imports.get(index as usize).copied()
    }
    fn jit_type(&self, _index: u32) -> JitType {
        JitType::Any
    }
}

fn cursor(bytes: &[u8]) -> Cursor<'_> {
    Cursor::new(bytes, 0x100)
}

#[test]
fn value64_short_medium_and_long_forms() {
    assert_eq!(decode_value64(&mut cursor(&[0x50])).unwrap(), 5);
    // 11-bit form: top 3 bits of the first byte, then a byte.
    assert_eq!(
        decode_value64(&mut cursor(&[0x48, 0x12])).unwrap(),
        (2 << 8) | 0x12
    );
    // Long form: (size - 2) in the top 3 bits, then big-endian bytes.
    assert_eq!(
        decode_value64(&mut cursor(&[0x18 | 0x20, 1, 2, 3])).unwrap(),
        0x010203
    );
    // Truncated input is an error, not a panic.
    assert!(decode_value64(&mut cursor(&[0x18 | 0x20, 1])).is_err());
    // Nine bytes that do not fit 64 bits.
    assert!(decode_value64(&mut cursor(&[0xF8, 1, 0, 0, 0, 0, 0, 0, 0, 0])).is_err());
}

#[test]
fn tagged_decoders_check_their_tag() {
    assert_eq!(decode_label(&mut cursor(&[0x35])).unwrap(), 3);
    assert!(decode_label(&mut cursor(&[0x30])).is_err());
    assert_eq!(decode_atom(&mut cursor(&[0x42])).unwrap(), 4);
    assert_eq!(decode_literal(&mut cursor(&[0x70])).unwrap(), 7);
    let mut c = cursor(&[0x17, 0x40, 0x27, 0x20]);
    assert_eq!(decode_extended_list_header(&mut c).unwrap(), 4);
    assert_eq!(decode_fp_register(&mut c).unwrap(), 2);
    assert!(c.is_empty());
}

#[test]
fn allocator_list_counts_floats_and_funs() {
    let mut b = Recorder::default();
    // {words 3, floats 2, funs 1} -> 3 + 2*3 + 1*3 on a 32-bit target.
    let bytes = [0x37, 0x30, 0x00, 0x30, 0x10, 0x20, 0x20, 0x10];
    assert_eq!(
        decode_allocator_list(&mut b, &mut cursor(&bytes)).unwrap(),
        12
    );
    assert_eq!(
        decode_allocator_list(&mut b, &mut cursor(&[0x50])).unwrap(),
        5
    );
}

#[test]
fn dest_decoding_and_extended_x_registers() {
    let mut b = Recorder::default();
    assert_eq!(
        decode_dest(&mut b, &mut cursor(&[0x23])).unwrap(),
        Dest::X(2)
    );
    assert_eq!(
        decode_dest(&mut b, &mut cursor(&[0x54])).unwrap(),
        Dest::Y(5)
    );
    // Large x register 20: beyond the addressable ones, so its address is fetched.
    let d = decode_dest(&mut b, &mut cursor(&[0x0B, 20])).unwrap();
    assert!(matches!(d, Dest::Ptr(_)));
    assert!(b.calls[0].starts_with("call_primitive 18 "));
    assert!(decode_dest(&mut b, &mut cursor(&[0x15])).is_err());
}

#[test]
fn compact_terms_integers_nil_atoms() {
    let env = Tables {
        atoms: alloc::vec![b"m", b"ok", b"custom"],
        imports: Vec::new(),
    };
    let mut d = Driver::new(Recorder::default(), &env, 1);
    assert_eq!(
        d.decode_compact_term(&mut cursor(&[0x31])).unwrap(),
        Operand::Imm(0x3F)
    );
    assert_eq!(
        d.decode_compact_term(&mut cursor(&[0x02])).unwrap(),
        Operand::Imm(0x3B)
    );
    // Negative 2-byte integer -2 -> term (-2 << 4) | 0xF.
    let neg = d
        .decode_compact_term(&mut cursor(&[0x19, 0xFF, 0xFE]))
        .unwrap();
    assert_eq!(neg, Operand::Imm((-2i64 << 4) | 0xF));
    // `ok` is a default atom (index 2 in the runtime table): an immediate.
    let ok = d.decode_compact_term(&mut cursor(&[0x22])).unwrap();
    assert_eq!(ok, Operand::Imm((2 << 6) | 0xB));
    // Any other atom is fetched at run time.
    assert!(matches!(
        d.decode_compact_term(&mut cursor(&[0x32])).unwrap(),
        Operand::Reg(_)
    ));
    // An extended list is not a value.
    assert!(d.decode_compact_term(&mut cursor(&[0x17, 0x00])).is_err());
}

#[test]
fn skip_mirrors_the_reference_failures() {
    assert!(skip_compact_term(&mut cursor(&[0xF9, 0x00])).is_err());
    assert!(skip_compact_term(&mut cursor(&[0x57, 0x03, 0x00])).is_err());
    let mut c = cursor(&[0x19, 0x01, 0x02, 0x03]);
    skip_compact_term(&mut c).unwrap();
    assert_eq!(c.pos(), 3);
}

/// Find a chunk in a BEAM file; returns (data, file offset).
fn find_chunk<'a>(file: &'a [u8], id: &[u8; 4]) -> Option<(&'a [u8], usize)> {
    let mut pos = 12;
    while pos + 8 <= file.len() {
        let size = u32::from_be_bytes(file[pos + 4..pos + 8].try_into().ok()?) as usize;
        let start = pos + 8;
        if &file[pos..pos + 4] == id {
            return Some((file.get(start..start + size)?, start));
        }
        pos = start + size.div_ceil(4) * 4;
    }
    None
}

/// Atom table (`AtU8`) of a BEAM file, leaked for the test's lifetime.
fn atoms_of(file: &[u8]) -> Vec<&'static [u8]> {
    let (chunk, _) = find_chunk(file, b"AtU8").expect("AtU8");
    let count = u32::from_be_bytes(chunk[0..4].try_into().unwrap()) as usize;
    let mut atoms = Vec::new();
    let mut pos = 4;
    for _ in 0..count {
        let len = chunk[pos] as usize;
        let name: &'static [u8] = alloc::boxed::Box::leak(chunk[pos + 1..pos + 1 + len].into());
        atoms.push(name);
        pos += 1 + len;
    }
    atoms
}

/// Import table (`ImpT`) of a BEAM file.
fn imports_of(file: &[u8]) -> Vec<Import> {
    let (chunk, _) = find_chunk(file, b"ImpT").expect("ImpT");
    let word = |i: usize| u32::from_be_bytes(chunk[i * 4..i * 4 + 4].try_into().unwrap());
    (0..word(0) as usize)
        .map(|i| Import {
            module: word(1 + 3 * i),
            function: word(2 + 3 * i),
            arity: word(3 + 3 * i),
        })
        .collect()
}

#[test]
fn golden_modules_compile_or_fail_cleanly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/golden");
    let mut files = Vec::new();
    for corpus in ["otp25/beams", "otp27/beams"] {
        let Ok(apps) = std::fs::read_dir(root.join(corpus)) else {
            continue;
        };
        for app in apps.flatten() {
            for f in std::fs::read_dir(app.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                files.push(f.path());
            }
        }
    }
    if files.is_empty() {
        std::eprintln!("no golden beams found under {}", root.display());
        return;
    }
    let (mut ok, mut unsupported, mut other) = (0, 0, 0);
    let mut first_unsupported = alloc::collections::BTreeMap::new();
    for path in &files {
        let file = std::fs::read(path).unwrap();
        let (code, offset) = find_chunk(&file, b"Code").expect("Code chunk");
        let env = Tables {
            atoms: atoms_of(&file),
            imports: imports_of(&file),
        };
        match compile_module(code, offset, &env, Recorder::default()) {
            Ok((b, labels)) => {
                assert!(b.calls.len() > labels as usize);
                ok += 1;
            }
            Err(e) if matches!(e.kind, CompileErrorKind::UnsupportedOpcode(_)) => {
                assert!(e.offset >= offset && e.offset < offset + code.len());
                *first_unsupported.entry(e.opcode).or_insert(0) += 1;
                unsupported += 1;
            }
            Err(e) => {
                std::eprintln!("{}: {e}", path.display());
                other += 1;
            }
        }
    }
    std::eprintln!("first unsupported opcode per module: {first_unsupported:?}");
    std::eprintln!("golden: {ok} compiled, {unsupported} unsupported opcode, {other} other errors");
    assert!(ok + unsupported + other == files.len());
}

/// The in-place table sort gives what the reference's reverse-then-stable-sort gives, in both
/// of its paths (entries recorded in offset order, and not).
#[test]
fn tables_sort_by_offset_newest_first() {
    let by_reference = |entries: &[(u32, u32)]| {
        let mut copy: alloc::vec::Vec<(u32, u32)> = entries.iter().rev().copied().collect();
        copy.sort_by_key(|&(_, offset)| offset);
        copy
    };
    let cases: [&[(u32, u32)]; 5] = [
        &[],
        &[(1, 8), (2, 8), (3, 12), (4, 16), (5, 16), (6, 16)],
        &[(1, 16), (2, 8), (3, 16), (4, 8), (5, 4)],
        &[(7, 0)],
        &[(1, 4), (2, 4), (3, 0), (4, 4)],
    ];
    for case in cases {
        let mut sorted = case.to_vec();
        super::sort_by_offset_newest_first(&mut sorted);
        assert_eq!(sorted, by_reference(case), "{case:?}");
    }
}

//! The BEAM reader against real modules: the golden corpus (OTP 25 and 27 `stdlib`, `kernel`,
//! `compiler`, the fixtures) and damaged copies of it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use avm_jit_core::beam::compact::Register;
use avm_jit_core::beam::{opcodes, write_module, Module, Operand, MAX_LITERALS_BYTES};
use avm_jit_core::Result;
use avm_jit_tests::{files_with_ext, golden_dir, workspace_root, Rng};

// ---------------------------------------------------------------------------------------------
// Allocation accounting: the peak of live bytes allocated by this thread.

struct CountingAlloc;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn track(delta_add: usize, delta_sub: usize) {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = LIVE.try_with(|live| {
        let now = live
            .get()
            .saturating_add(delta_add)
            .saturating_sub(delta_sub);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size(), 0);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(0, layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size, layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Runs `f` and returns its result with the peak of bytes it had allocated at once.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let r = f();
    (r, PEAK.with(|p| p.get()) - base)
}

// ---------------------------------------------------------------------------------------------
// Corpus discovery.

fn corpus(root: &Path) -> Vec<PathBuf> {
    let mut beams = Vec::new();
    for sub in ["otp25/beams", "otp27/beams", "otp27/beams-notype"] {
        let before = beams.len();
        beams.extend(files_with_ext(&root.join(sub), "beam"));
        assert!(beams.len() > before, "no beams under {sub}");
    }
    // The project's own fixtures, once they exist.
    beams.extend(files_with_ext(&workspace_root().join("fixtures"), "beam"));
    beams
}

// ---------------------------------------------------------------------------------------------
// Full decode: every chunk reader and every instruction, with cross-checks between chunks.

#[derive(Default, Debug)]
struct Summary {
    instructions: usize,
    labels: usize,
    func_infos: usize,
    line_instructions: usize,
    label_count: u32,
    function_count: u32,
    line_instruction_count: Option<u32>,
    types_version: u32,
    types: usize,
}

fn decode_all(bytes: &[u8]) -> Result<Summary> {
    decode_all_with_limit(bytes, MAX_LITERALS_BYTES)
}

fn decode_all_with_limit(bytes: &[u8], literal_limit: usize) -> Result<Summary> {
    let module = Module::parse(bytes)?;
    for chunk in module.chunks() {
        chunk?;
    }
    let atoms = module.atoms()?;
    let code = module.code()?;
    let imports = module.imports()?;
    let exports = module.exports()?;
    let locals = module.locals()?;
    let funs = module.funs()?;
    let literals = module.literals_with_limit(literal_limit)?;
    let types = module.types()?;
    let lines = module.lines()?;
    let _ = module.native()?;
    let _ = module.strings();
    if let Some(lines) = &lines {
        for item in lines.items() {
            item?;
        }
    }
    for e in types.entries() {
        let _ = e.kinds;
    }
    for i in 0..literals.len() {
        assert!(literals.get(i).is_some_and(|t| t[0] == 131));
    }
    for e in exports.iter().chain(locals.iter()) {
        assert!(atoms.get(e.function as usize).is_some());
    }
    for f in funs.iter() {
        assert!(atoms.get(f.function as usize).is_some());
    }

    let mut s = Summary {
        label_count: code.label_count,
        function_count: code.function_count,
        line_instruction_count: lines.as_ref().map(|l| l.instruction_count),
        types_version: types.version,
        types: types.len(),
        ..Summary::default()
    };
    for ins in code.instructions() {
        let ins = ins?;
        s.instructions += 1;
        let info = opcodes::info(ins.opcode).expect("decoder accepted an unknown opcode");
        assert_eq!(ins.args.len(), usize::from(info.arity));
        match ins.opcode {
            opcodes::LABEL => s.labels += 1,
            opcodes::FUNC_INFO => s.func_infos += 1,
            opcodes::LINE => s.line_instructions += 1,
            opcodes::CALL_EXT | opcodes::CALL_EXT_LAST | opcodes::CALL_EXT_ONLY
                if CHECK_OPERANDS.with(|c| c.get()) =>
            {
                let Operand::Literal(index) = ins.args[1] else {
                    panic!(
                        "call_ext import operand at {:#x}: {:?}",
                        ins.offset, ins.args[1]
                    );
                };
                assert!(
                    (index as usize) < imports.len(),
                    "import index at {:#x}",
                    ins.offset
                );
            }
            _ => {}
        }
        for arg in &ins.args {
            check_operand(
                arg,
                &atoms,
                code.label_count,
                literals.len(),
                &types,
                ins.offset,
            );
            if let Operand::List(items) = arg {
                for item in items {
                    check_operand(
                        item,
                        &atoms,
                        code.label_count,
                        literals.len(),
                        &types,
                        ins.offset,
                    );
                }
            }
        }
    }
    Ok(s)
}

fn check_operand(
    arg: &Operand,
    atoms: &avm_jit_core::beam::Atoms,
    label_count: u32,
    literal_count: usize,
    types: &avm_jit_core::beam::Types,
    at: usize,
) {
    // Invariants of compiler output, not of the format: damaged inputs may break them.
    if !CHECK_OPERANDS.with(|c| c.get()) {
        return;
    }
    match *arg {
        Operand::Atom(i) => assert!(atoms.get(i as usize).is_some(), "atom {i} at {at:#x}"),
        Operand::Label(l) => assert!(l < label_count, "label {l} at {at:#x}"),
        Operand::LiteralIndex(i) => assert!((i as usize) < literal_count, "literal {i} at {at:#x}"),
        Operand::TypedRegister {
            register,
            type_index,
        } => {
            assert!(matches!(register, Register::X(_) | Register::Y(_)));
            if types.is_known_version() {
                assert!(
                    (type_index as usize) < types.len(),
                    "type {type_index} at {at:#x}"
                );
            }
        }
        _ => {}
    }
}

thread_local! {
    /// Whether `decode_all` asserts compiler invariants on operands (off for damaged inputs).
    static CHECK_OPERANDS: Cell<bool> = const { Cell::new(false) };
}

/// Golden `index.tsv` rows: (app, module) -> (beam bytes, Code chunk bytes, labels, line instrs).
fn index(root: &Path, target: &str) -> BTreeMap<(String, String), Vec<String>> {
    let text = std::fs::read_to_string(root.join(target).join("index.tsv")).expect("index.tsv");
    text.lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<String> = l.split('\t').map(str::to_owned).collect();
            ((cols[0].clone(), cols[1].clone()), cols)
        })
        .collect()
}

#[test]
fn every_golden_beam_decodes_completely() {
    let Some(root) = golden_dir("every_golden_beam_decodes_completely") else {
        return;
    };
    CHECK_OPERANDS.with(|c| c.set(true));
    let otp25 = index(&root, "otp25/armv6m");
    let otp27 = index(&root, "otp27/armv6m");
    let beams = corpus(&root);
    let (mut total_instructions, mut v3_types, mut checked_against_index) = (0, 0, 0);
    for path in &beams {
        let bytes = std::fs::read(path).unwrap();
        let s = decode_all(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        total_instructions += s.instructions;
        // Every label and function is defined exactly once, in order.
        assert_eq!(s.labels as u32 + 1, s.label_count, "{}", path.display());
        assert_eq!(s.func_infos as u32, s.function_count, "{}", path.display());
        assert_eq!(
            Some(s.line_instructions as u32),
            s.line_instruction_count,
            "{}",
            path.display()
        );

        let rel = path.strip_prefix(&root).unwrap_or(path);
        let parts: Vec<_> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        let m = Module::parse(&bytes).unwrap();
        assert_eq!(m.atoms().unwrap().module_name(), Some(module.as_bytes()));
        if parts.len() == 4 && parts[1] == "beams" {
            let (idx, types_version) = if parts[0] == "otp25" {
                (&otp25, 1)
            } else {
                (&otp27, 3)
            };
            assert_eq!(s.types_version, types_version, "{}", path.display());
            if types_version == 3 {
                v3_types += s.types;
            }
            if let Some(row) = idx.get(&(parts[2].clone(), module.clone())) {
                // Sizes (and for OTP 25 the label and line counts) recorded by the corpus builder.
                assert_eq!(row[4], bytes.len().to_string(), "{}", path.display());
                let code = m.chunk(*b"Code").unwrap();
                assert_eq!(row[5], code.data.len().to_string(), "{}", path.display());
                if row.len() > 8 {
                    assert_eq!(row[7], s.label_count.to_string(), "{}", path.display());
                    assert_eq!(
                        row[8],
                        s.line_instructions.to_string(),
                        "{}",
                        path.display()
                    );
                }
                checked_against_index += 1;
            }
        }
        if parts.get(1).map(String::as_str) == Some("beams-notype") {
            assert!(m.chunk(*b"Type").is_none());
            assert_eq!(s.types_version, 0);
        }
    }
    println!(
        "{} beams, {total_instructions} instructions, {v3_types} version-3 types, {checked_against_index} checked against index.tsv",
        beams.len()
    );
    assert!(checked_against_index > 400);
    assert!(v3_types > 1000);
}

/// A parsed module's chunks in file order, as `write_module` takes them.
fn chunk_list<'a>(m: &Module<'a>) -> Vec<([u8; 4], &'a [u8])> {
    m.chunks()
        .map(|c| c.unwrap())
        .map(|c| (c.id, c.data))
        .collect()
}

#[test]
fn rebuilding_from_chunks_is_byte_identical() {
    let Some(root) = golden_dir("rebuilding_from_chunks_is_byte_identical") else {
        return;
    };
    for path in corpus(&root) {
        let bytes = std::fs::read(&path).unwrap();
        let m = Module::parse(&bytes).unwrap();
        assert!(write_module(&chunk_list(&m)) == bytes, "{}", path.display());
    }
}

#[test]
fn notype_beams_are_the_typed_beams_without_their_type_chunk() {
    let Some(root) = golden_dir("notype_beams_are_the_typed_beams_without_their_type_chunk") else {
        return;
    };
    let notype = files_with_ext(&root.join("otp27/beams-notype"), "beam");
    assert!(!notype.is_empty());
    for path in notype {
        let rel = path.strip_prefix(root.join("otp27/beams-notype")).unwrap();
        let typed = std::fs::read(root.join("otp27/beams").join(rel)).unwrap();
        let m = Module::parse(&typed).unwrap();
        let mut chunks = chunk_list(&m);
        chunks.retain(|(id, _)| id != b"Type");
        assert!(
            write_module(&chunks) == std::fs::read(&path).unwrap(),
            "{}",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Damaged inputs: never a panic, never an unbounded allocation.

const DAMAGE_SAMPLES: [&str; 4] = [
    "otp25/beams/stdlib/lists.beam",
    "otp27/beams/stdlib/lists.beam",
    "otp27/beams/compiler/beam_asm.beam",
    "otp27/beams/kernel/code.beam",
];

/// Allocation allowed while decoding a damaged file of `len` bytes: the inflated literal table
/// (bounded by the limit; the inflater may double its buffer once) plus small per-byte indexes.
fn allocation_bound(len: usize, literal_limit: usize) -> usize {
    2 * literal_limit + 16 * len + 64 * 1024
}

#[test]
fn every_prefix_is_refused() {
    let Some(root) = golden_dir("every_prefix_is_refused") else {
        return;
    };
    for sample in &DAMAGE_SAMPLES[..2] {
        let bytes = std::fs::read(root.join(sample)).unwrap();
        for n in 0..bytes.len() {
            assert!(
                Module::parse(&bytes[..n]).is_err(),
                "{sample}: prefix of {n} bytes accepted"
            );
            assert!(decode_all(&bytes[..n]).is_err());
        }
    }
}

/// Cuts one chunk short and rebuilds a well-formed container around it: each decoded chunk must
/// notice (`StrT` is raw bytes, and chunks this reader does not interpret are left alone).
#[test]
fn every_truncated_chunk_is_refused() {
    let Some(root) = golden_dir("every_truncated_chunk_is_refused") else {
        return;
    };
    let bytes = std::fs::read(root.join(DAMAGE_SAMPLES[1])).unwrap();
    let chunks = chunk_list(&Module::parse(&bytes).unwrap());
    let decoded = [
        b"AtU8", b"Code", b"ImpT", b"ExpT", b"LocT", b"FunT", b"LitT", b"Type", b"Line",
    ];
    let mut cases = 0;
    for (victim, (id, data)) in chunks.iter().enumerate() {
        if !decoded.contains(&id) {
            continue;
        }
        // Every cut of small chunks; a spread of cuts through big ones.
        let step = (data.len() / 700).max(1);
        for cut in (0..data.len()).step_by(step) {
            let mut damaged = chunks.clone();
            damaged[victim].1 = &data[..cut];
            let file = write_module(&damaged);
            let (r, peak) = peak_allocation(|| decode_all(&file));
            assert!(
                r.is_err(),
                "{} cut to {cut} bytes was accepted",
                String::from_utf8_lossy(id)
            );
            assert!(peak <= allocation_bound(file.len(), MAX_LITERALS_BYTES));
            cases += 1;
        }
    }
    assert!(cases > 3000, "{cases}");
}

#[test]
fn random_corruption_never_panics_and_stays_bounded() {
    let Some(root) = golden_dir("random_corruption_never_panics_and_stays_bounded") else {
        return;
    };
    let mut rng = Rng(0x5EED_0FBE_A5A5);
    let (mut ok, mut err, mut worst) = (0, 0, 0usize);
    for sample in DAMAGE_SAMPLES {
        let original = std::fs::read(root.join(sample)).unwrap();
        for _ in 0..1500 {
            let mut bytes = original.clone();
            // A few random bytes, sometimes one field set to an extreme value.
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next_u64() as u8;
            }
            if rng.below(4) == 0 {
                let at = rng.below(bytes.len() - 4);
                let v: u32 = [0, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x8000_0000][rng.below(4)];
                bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
            let (r, peak) = peak_allocation(|| decode_all(&bytes));
            assert!(
                peak <= allocation_bound(bytes.len(), MAX_LITERALS_BYTES),
                "{sample}: {peak} bytes allocated"
            );
            worst = worst.max(peak);
            if r.is_ok() {
                ok += 1;
            } else {
                err += 1;
            }
        }
    }
    println!("random corruption: {ok} accepted, {err} refused, worst peak {worst} bytes");
    assert!(err > 0);
}

#[test]
fn tight_literal_limit_is_enforced() {
    let Some(root) = golden_dir("tight_literal_limit_is_enforced") else {
        return;
    };
    let bytes = std::fs::read(root.join(DAMAGE_SAMPLES[1])).unwrap();
    let m = Module::parse(&bytes).unwrap();
    let lit_t = m.chunk(*b"LitT").unwrap();
    let declared = u32::from_be_bytes(lit_t.data[..4].try_into().unwrap()) as usize;
    let (r, peak) = peak_allocation(|| decode_all_with_limit(&bytes, declared));
    assert!(r.is_ok());
    // The accounting sees the inflated table (so the bounds above are not vacuous).
    assert!(peak >= declared, "{peak} < {declared}");
    let (r, peak) = peak_allocation(|| decode_all_with_limit(&bytes, declared - 1));
    assert!(r.is_err());
    assert!(peak < 64 * 1024, "{peak}");
}

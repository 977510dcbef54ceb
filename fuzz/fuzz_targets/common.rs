//! Shared by the targets (a module of each, not a target of its own).
#![allow(dead_code)] // each target uses part of it

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::CodeTarget;
use avm_jit_core::native::Native;

/// Small real modules whose non-`Code` chunks give the fuzzed code something to refer to.
pub const BASE_BEAMS: [&[u8]; 8] = [
    include_bytes!("../../fixtures/example/beams/hello_pico.beam"),
    include_bytes!("../../fixtures/example/beams/arith_demo.beam"),
    include_bytes!("../../fixtures/example/beams/bin_demo.beam"),
    include_bytes!("../../fixtures/example/beams/error_demo.beam"),
    include_bytes!("../../fixtures/example/beams/float_demo.beam"),
    include_bytes!("../../fixtures/example/beams/lists_demo.beam"),
    include_bytes!("../../fixtures/example/beams/maps_demo.beam"),
    include_bytes!("../../fixtures/example/beams/proc_demo.beam"),
];

/// Whatever the precompiler accepts must be a readable `.beam` whose `avmN` payload has the layout
/// AtomVM expects for the variant asked for.
pub fn check_output(out: &[u8], target: CodeTarget) {
    let module = Module::parse(out).expect("precompiled beam parses");
    let payload = module.chunk(*b"avmN").expect("avmN chunk").data;
    let native = Native::parse(payload).expect("avmN header parses");
    let arch = native.arches().next().expect("one architecture");
    assert_eq!((arch.arch, arch.variant), (target.arch(), target.variant()));
    // Through the one lookup from (arch, variant) to the target's reader, for every variant.
    assert_eq!(arch.target(), Some(target));
    let layout = native.layout(&arch).expect("avmN layout");
    for label in 0..=native.labels_count {
        native
            .label_offset(&layout, label)
            .expect("jump table entry");
    }
}

/// Every reader over a parsed module: chunks, atoms, instructions, tables, literals, types, lines
/// and the `avmN` header. Errors are fine; panics and unbounded allocations are the findings.
pub fn read_every_table(module: &Module) {
    for chunk in module.chunks() {
        let _ = chunk.map(|c| c.id_str().len());
    }
    let _ = module.atoms().map(|a| a.iter().count());
    if let Ok(code) = module.code() {
        let _ = code.instructions().take_while(|i| i.is_ok()).count();
    }
    let _ = module.imports().map(|i| i.iter().count());
    let _ = module.exports().map(|e| e.iter().count());
    let _ = module.locals().map(|e| e.iter().count());
    let _ = module.funs().map(|f| f.iter().count());
    // A small inflate limit keeps each run fast; the limit logic is the same at any size.
    if let Ok(literals) = module.literals_with_limit(1 << 20) {
        for i in 0..literals.len() {
            let _ = literals.get(i);
        }
    }
    if let Ok(types) = module.types() {
        for i in 0..types.len() + 1 {
            let _ = (types.get(i), types.entry(i));
        }
    }
    if let Ok(Some(lines)) = module.lines() {
        let _ = lines.items().take_while(|i| i.is_ok()).count();
        let _ = lines.file_name(1);
    }
    let _ = module.native().map(|n| n.map(|n| n.arches().count()));
}

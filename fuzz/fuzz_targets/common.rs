//! Shared by the compile targets (a module of each, not a target of its own).
#![allow(dead_code)] // each target uses part of it

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::Target;
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
pub fn check_output(out: &[u8], target: Target) {
    let module = Module::parse(out).expect("precompiled beam parses");
    let payload = module.chunk(*b"avmN").expect("avmN chunk").data;
    let native = Native::parse(payload).expect("avmN header parses");
    let arch = native.arches().next().expect("one architecture");
    assert_eq!(arch.variant, target.variant());
    let layout = native.layout(&arch).expect("avmN layout");
    for label in 0..=native.labels_count {
        native
            .label_offset(&layout, label)
            .expect("jump table entry");
    }
}

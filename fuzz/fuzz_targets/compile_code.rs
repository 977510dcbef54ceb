//! Structure-aware compile fuzzing: a real module's atoms, imports, literals and types with a
//! fuzzed `Code` chunk, so that mutations get past the container and reach the compile driver and
//! the backends. Input: one byte choosing the module and variant, then the `Code` chunk.
#![no_main]

use avm_jit_core::beam::{write_module, Module};
use avm_jit_core::compile::module::{precompile_beam, CodeTarget};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, code)) = data.split_first() else {
        return;
    };
    let base = common::BASE_BEAMS[usize::from(selector & 0x7F) % common::BASE_BEAMS.len()];
    let target = if selector & 0x80 != 0 {
        CodeTarget::Armv6mThumb2
    } else if selector & 0x40 != 0 {
        CodeTarget::Riscv32
    } else {
        CodeTarget::Armv6m
    };
    let module = Module::parse(base).expect("fixture beam parses");
    let chunks: Vec<([u8; 4], &[u8])> = module
        .chunks()
        .map(|c| c.expect("fixture chunk"))
        .map(|c| (c.id, if c.id == *b"Code" { code } else { c.data }))
        .collect();
    let beam = write_module(&chunks);
    if let Ok(out) = precompile_beam(&beam, target) {
        common::check_output(&out, target);
    }
});

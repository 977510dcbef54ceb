//! Any bytes through the whole BEAM reader: container, every chunk reader, every instruction.
//! Inputs that only fail on the FOR1 size are retried with the size patched, so that mutations
//! inside chunks reach the chunk readers.
#![no_main]

use avm_jit_core::beam::Module;
use libfuzzer_sys::fuzz_target;

mod common;

fn decode_everything(data: &[u8]) {
    if let Ok(module) = Module::parse(data) {
        common::read_every_table(&module);
    }
}

fuzz_target!(|data: &[u8]| {
    decode_everything(data);
    if data.len() >= 12 {
        let mut patched = data.to_vec();
        patched[4..8].copy_from_slice(&((data.len() - 8) as u32).to_be_bytes());
        decode_everything(&patched);
    }
});

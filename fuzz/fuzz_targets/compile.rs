//! Any bytes through the whole precompiler, for every code variant: BEAM reader, compile driver,
//! armv6m and riscv32 backends, `.beam` writer. Bad input must be an `Err`, never a panic, a runaway allocation
//! or an endless loop. Inputs that only fail on the FOR1 size are retried with the size patched.
#![no_main]

use avm_jit_core::compile::module::{precompile_beam, CodeTarget};
use libfuzzer_sys::fuzz_target;

mod common;

const TARGETS: [CodeTarget; 3] = [
    CodeTarget::Armv6m,
    CodeTarget::Armv6mThumb2,
    CodeTarget::Riscv32,
];

fuzz_target!(|data: &[u8]| {
    for target in TARGETS {
        if let Ok(out) = precompile_beam(data, target) {
            common::check_output(&out, target);
        }
    }
    if data.len() >= 12 {
        let mut patched = data.to_vec();
        patched[4..8].copy_from_slice(&((data.len() - 8) as u32).to_be_bytes());
        for target in TARGETS {
            if let Ok(out) = precompile_beam(&patched, target) {
                common::check_output(&out, target);
            }
        }
    }
});

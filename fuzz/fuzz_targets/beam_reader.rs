//! Any bytes through the whole BEAM reader: container, every chunk reader, every instruction.
//! Inputs that only fail on the FOR1 size are retried with the size patched, so that mutations
//! inside chunks reach the chunk readers.
#![no_main]

use avm_jit_core::beam::Module;
use libfuzzer_sys::fuzz_target;

fn decode_everything(data: &[u8]) {
    let Ok(module) = Module::parse(data) else {
        return;
    };
    for chunk in module.chunks() {
        let _ = chunk.map(|c| c.id_str().len());
    }
    if let Ok(atoms) = module.atoms() {
        for name in atoms.iter() {
            let _ = name.len();
        }
    }
    if let Ok(code) = module.code() {
        for ins in code.instructions() {
            if ins.is_err() {
                break;
            }
        }
    }
    if let Ok(imports) = module.imports() {
        let _ = imports.iter().count();
    }
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
            let _ = types.get(i);
            let _ = types.entry(i);
        }
    }
    if let Ok(Some(lines)) = module.lines() {
        for item in lines.items() {
            if item.is_err() {
                break;
            }
        }
        let _ = lines.file_name(1);
    }
    if let Ok(Some(native)) = module.native() {
        let _ = native.arches().count();
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

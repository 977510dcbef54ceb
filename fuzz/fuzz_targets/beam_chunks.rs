//! Structure-aware: the input is a list of chunks (id selector byte, u16 BE length, data) wrapped
//! into a valid container, so every run exercises the chunk readers themselves.
#![no_main]

use avm_jit_core::beam::{write_module, Module};
use libfuzzer_sys::fuzz_target;

const IDS: [[u8; 4]; 12] = [
    *b"AtU8", *b"Atom", *b"Code", *b"ImpT", *b"ExpT", *b"LocT", *b"FunT", *b"LitT", *b"LitU",
    *b"Type", *b"Line", *b"avmN",
];

fuzz_target!(|data: &[u8]| {
    let mut chunks: Vec<([u8; 4], &[u8])> = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let id = IDS[usize::from(rest[0]) % IDS.len()];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        chunks.push((id, &rest[3..3 + len]));
        rest = &rest[3 + len..];
    }
    let file = write_module(&chunks);
    let module = Module::parse(&file).expect("write_module output must parse");
    assert_eq!(module.chunks().count(), chunks.len());
    if let Ok(code) = module.code() {
        for ins in code.instructions() {
            if ins.is_err() {
                break;
            }
        }
    }
    let _ = module.atoms().map(|a| a.iter().count());
    let _ = module.imports().map(|i| i.iter().count());
    let _ = module.exports().map(|e| e.iter().count());
    let _ = module.locals().map(|e| e.iter().count());
    let _ = module.funs().map(|f| f.iter().count());
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
    }
    let _ = module.native().map(|n| n.map(|n| n.arches().count()));
});

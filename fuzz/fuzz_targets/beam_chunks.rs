//! Structure-aware: the input is a list of chunks (id selector byte, u16 BE length, data) wrapped
//! into a valid container, so every run exercises the chunk readers themselves.
#![no_main]

use avm_jit_core::beam::{write_module, Module};
use libfuzzer_sys::fuzz_target;

mod common;

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
    common::read_every_table(&module);
});

//! Compile errors as a person reads them: `Display` names the module, function, label, opcode
//! and file offset, never a `Debug` dump, and an error about the whole file has no offset.

use std::path::Path;

use avm_jit_core::beam::{write_module, Module};
use avm_jit_core::compile::module::{precompile_beam, CodeTarget, ModuleError};
use avm_jit_tests::golden_dir;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/example/beams")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `beam` with its chunks passed through `edit` (`None` drops the chunk).
fn edited(beam: &[u8], edit: impl Fn([u8; 4], &[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    let module = Module::parse(beam).expect("fixture parses");
    let chunks: Vec<([u8; 4], Vec<u8>)> = module
        .chunks()
        .map(|c| c.expect("fixture chunk"))
        .filter_map(|c| edit(c.id, c.data).map(|data| (c.id, data)))
        .collect();
    let refs: Vec<([u8; 4], &[u8])> = chunks.iter().map(|(id, d)| (*id, d.as_slice())).collect();
    write_module(&refs)
}

fn error_of(beam: &[u8]) -> ModuleError {
    precompile_beam(beam, CodeTarget::Armv6m).expect_err("module compiled")
}

#[test]
fn a_missing_code_chunk_has_no_offset() {
    let beam = edited(&fixture("error_demo.beam"), |id, data| {
        (id != *b"Code").then(|| data.to_vec())
    });
    let e = error_of(&beam);
    assert!(
        matches!(&e, ModuleError::Beam(b) if b.offset.is_none()),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "missing chunk Code");
}

#[test]
fn a_bad_code_header_names_the_module_and_the_offset() {
    let beam = edited(&fixture("error_demo.beam"), |id, data| {
        let mut data = data.to_vec();
        if id == *b"Code" {
            data[3] = 99; // header size
        }
        Some(data)
    });
    let e = error_of(&beam);
    let text = e.to_string();
    assert!(
        text.starts_with("module error_demo: at offset 0x")
            && text.ends_with(": bad Code chunk header: unsupported header size (99)"),
        "{text}"
    );
    let _: &dyn std::error::Error = &e;
}

#[test]
fn a_backend_error_reads_like_a_reader_error() {
    let Some(golden) = golden_dir("a_backend_error_reads_like_a_reader_error") else {
        return;
    };
    // The reference cannot compile this module either (bs_create_bin on a non-register).
    let path = golden.join("otp25/beams/stdlib/dets_v9.beam");
    let beam = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = error_of(&beam).to_string();
    assert!(
        text.starts_with("module dets_v9: init_file/17, label ")
            && text.contains(", opcode 177 (bs_create_bin) at offset 0x"),
        "{text}"
    );
    assert!(
        text.ends_with(": backend does not support arithmetic on a non-register"),
        "{text}"
    );
    assert!(
        !text.contains('{') && !text.contains("Unsupported("),
        "{text}"
    );
}

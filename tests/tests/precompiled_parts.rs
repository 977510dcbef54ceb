//! `precompile_parts` (the CLI's way to write a compiled module without copying its kept chunks)
//! gives the module the reference writes: every input chunk but `Code`, then `avmN`.

use std::path::Path;

use avm_jit_core::beam::{write_module, Module};
use avm_jit_core::compile::module::{precompile_parts, BeamEnv, CodeTarget, Precompiled};
use avm_jit_tests::{golden_beams_dir, golden_dir, golden_index};

fn parts<'a>(module: &Module<'a>) -> Precompiled<'a> {
    let env = BeamEnv::new(module).expect("tables");
    precompile_parts(module, &env, CodeTarget::Armv6m).expect("compiles")
}

fn joined(parts: &Precompiled<'_>) -> Vec<u8> {
    let bytes: Vec<u8> = parts.pieces().flatten().copied().collect();
    assert_eq!(bytes.len(), parts.len());
    assert_eq!(parts.joined().unwrap(), bytes);
    bytes
}

#[test]
fn golden_modules_keep_their_chunks_and_get_the_reference_payload() {
    let Some(golden) = golden_dir("golden_modules_keep_their_chunks_and_get_the_reference_payload")
    else {
        return;
    };
    let target = "otp25/armv6m";
    let beams = golden_beams_dir(&golden, target);
    // Every 8th module: the layout does not depend on the code, and a debug build is slow.
    for row in golden_index(&golden, target).iter().step_by(8) {
        let path = row.beam_path(&beams);
        let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let module = Module::parse(&input).unwrap();
        let parts = parts(&module);
        let out = joined(&parts);
        let expected = row.avmn_path(&golden, target);
        let expected = std::fs::read(&expected).unwrap();
        let written = Module::parse(&out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let kept: Vec<_> = module
            .chunks()
            .map(Result::unwrap)
            .filter(|c| c.id != *b"Code")
            .map(|c| (c.id, c.data))
            .chain([(*b"avmN", &expected[..])])
            .collect();
        let got: Vec<_> = written
            .chunks()
            .map(Result::unwrap)
            .map(|c| (c.id, c.data))
            .collect();
        assert!(got == kept, "{}: chunks differ", path.display());
        assert_eq!(
            parts.native_chunk_data(),
            &expected[..],
            "{}",
            path.display()
        );
        // The whole file, padding included: the input's chunks and the reference's payload.
        assert!(
            out == write_module(&kept),
            "{}: bytes differ",
            path.display()
        );
    }
}

#[test]
fn padding_is_zero_and_only_the_first_code_and_avmn_go() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/example/beams/hello_pico.beam");
    let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let module = Module::parse(&input).unwrap();
    let mut chunks: Vec<([u8; 4], Vec<u8>)> = Vec::new();
    for c in module.chunks().map(Result::unwrap) {
        if c.id == *b"Code" {
            // An old avmN before the code, and a second one after it (kept, and then the first
            // avmN a reader finds).
            chunks.push((*b"avmN", vec![1, 2, 3]));
            chunks.push((c.id, c.data.to_vec()));
            chunks.push((*b"avmN", vec![4, 5, 6, 7, 8]));
            chunks.push((*b"Code", vec![9; 5]));
        } else {
            chunks.push((c.id, c.data.to_vec()));
        }
    }
    chunks.push((*b"Odd1", vec![0xAA]));
    chunks.push((*b"Odd2", vec![0xBB; 6]));
    let refs: Vec<([u8; 4], &[u8])> = chunks.iter().map(|(id, d)| (*id, d.as_slice())).collect();
    let mut beam = write_module(&refs);
    // Non-zero padding after the last two chunks: the output's padding is zero all the same.
    let len = beam.len();
    beam[len - 2..].copy_from_slice(&[0xEE, 0xEE]);
    beam[len - 19..len - 16].copy_from_slice(&[0xDD; 3]);
    let module = Module::parse(&beam).unwrap();
    let parts = parts(&module);
    let out = joined(&parts);
    assert!(
        parts.pieces().count() > 3,
        "the padding is a piece of its own"
    );
    let written = Module::parse(&out).unwrap();
    let ids: Vec<[u8; 4]> = written.chunks().map(|c| c.unwrap().id).collect();
    let first = |id: &[u8; 4]| refs.iter().position(|r| r.0 == *id).unwrap();
    let (code, native) = (first(b"Code"), first(b"avmN"));
    let expected: Vec<[u8; 4]> = (0..refs.len())
        .filter(|&i| i != code && i != native)
        .map(|i| refs[i].0)
        .chain([*b"avmN"])
        .collect();
    assert_eq!(ids, expected);
    // The kept chunks' data as in the input (the last chunk is the new avmN).
    let data: Vec<&[u8]> = written.chunks().map(|c| c.unwrap().data).collect();
    let kept_data: Vec<&[u8]> = (0..refs.len())
        .filter(|&i| i != code && i != native)
        .map(|i| refs[i].1)
        .collect();
    assert_eq!(data[..data.len() - 1], kept_data[..]);
    assert_eq!(parts.native_chunk_data(), &[4, 5, 6, 7, 8]);
    for c in written.chunks().map(Result::unwrap) {
        let end = c.offset + c.data.len();
        let pad = &out[end..end + (4 - c.data.len() % 4) % 4];
        assert!(pad.iter().all(|&b| b == 0), "{}: padding", c.id_str());
    }
}

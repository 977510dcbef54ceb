//! `avm-jit compare` end to end: a flash image on either side (its cache entries checked against
//! the host's compile of the bytecode beside them, in the cache layout; the AOT file's avmN against
//! the host's compile in its own layout), and symmetric matching: every module of each side
//! matched once, missing and duplicate modules are differences (exit 1).

use std::path::PathBuf;
use std::process::Output;

use avm_jit_core::avm::{Pack, PackBuilder};
use avm_jit_core::flash::cache;
use avm_jit_tests::workspace_root;

mod output;
mod rp2;
use output::{avm_jit, ok};
use rp2::*;
mod scratch;
use scratch::Scratch;

fn stdout(out: &Output) -> String {
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn example() -> PathBuf {
    workspace_root().join("fixtures/example/example.avm")
}

/// The example app prefilled into a flash image, and compiled ahead of time.
fn image_and_aot(s: &Scratch) -> (PathBuf, PathBuf) {
    let image = s.path("flash.bin");
    let aot = s.path("aot.avm");
    ok(&avm_jit(&[
        &"flash",
        &"--mode",
        &"prefill",
        &"--image",
        &image,
        &example(),
    ]));
    ok(&avm_jit(&[&"compile", &"-q", &example(), &"-o", &aot]));
    (image, aot)
}

#[test]
fn image_against_aot_file_explains_both_layouts_on_the_example_app() {
    let s = Scratch::new("explain");
    let (image, aot) = image_and_aot(&s);
    for (l, r) in [(&image, &aot), (&aot, &image)] {
        let text = ok(&avm_jit(&[&"compare", l, r]));
        assert!(text.contains("8 identical, 0 different"), "{text}");
        assert_eq!(
            text.matches("identical (same bytecode, compiled in each layout)")
                .count(),
            8,
            "{text}"
        );
        assert_eq!(text.matches("  ok: cache entry in flash image").count(), 8);
        assert_eq!(text.matches("  ok: avmN in").count(), 8);
        // Every module's code differs between the layouts, and the report says where and why.
        for line in text.lines().filter(|l| l.starts_with("  layouts: ")) {
            assert!(line.contains(" label blocks, "), "{line}");
            assert!(!line.contains(" 0 instructions not common"), "{line}");
        }
        assert_eq!(text.matches("  layouts: ").count(), 8);
        assert!(text.contains("20 lower than in an avmN payload"), "{text}");
    }
    // The image against itself: entries checked on both sides.
    let text = ok(&avm_jit(&[&"compare", &image, &image]));
    assert!(text.contains("8 identical, 0 different"), "{text}");
}

#[test]
fn a_wrong_cache_entry_or_an_invalid_cache_is_a_difference() {
    let s = Scratch::new("tamper");
    let (image, aot) = image_and_aot(&s);
    let bytes = std::fs::read(&image).unwrap();
    let avm = std::fs::read(example()).unwrap();
    let pack = Pack::parse(&avm).unwrap();
    let start = cache::first_entry_address(MAIN + pack.end().data_offset as u32);
    // Clear one bit in the first entry's code, as a faulty device compiler might.
    let mut bad = bytes.clone();
    let at = (start + 16 + 100 - FLASH_BASE) as usize;
    bad[at] &= 0xFE;
    assert_ne!(bad[at], bytes[at]);
    let bad_path = s.path("bad.bin");
    std::fs::write(&bad_path, &bad).unwrap();
    let out = avm_jit(&[&"compare", &bad_path, &aot]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("7 identical, 1 different"), "{text}");
    assert!(
        text.contains("DIFFERENT: cache entry in flash image")
            && text.contains("differs from the host compile of its bytecode into an empty stream"),
        "{text}"
    );

    // end instead of END: AtomVM ignores every entry, so nothing in the flash is native.
    let mut invalid = bytes;
    let name = (MAIN + pack.end().offset as u32 + 12 - FLASH_BASE) as usize;
    assert_eq!(&invalid[name..name + 3], b"END");
    invalid[name..name + 3].copy_from_slice(b"end");
    let invalid_path = s.path("invalid.bin");
    std::fs::write(&invalid_path, &invalid).unwrap();
    let out = avm_jit(&[&"compare", &aot, &invalid_path]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("the JIT cache is not valid"), "{text}");
    assert!(text.contains("no native code in flash image"), "{text}");
}

#[test]
fn every_module_of_each_side_is_matched_once() {
    let s = Scratch::new("symmetric");
    let beams = workspace_root().join("fixtures/example/beams");
    let compiled = |name: &str| {
        let out = s.path(&format!("{name}.beam"));
        ok(&avm_jit(&[
            &"compile",
            &"-q",
            &beams.join(format!("{name}.beam")),
            &"-o",
            &out,
        ]));
        std::fs::read(out).unwrap()
    };
    let (a, b) = (compiled("hello_pico"), compiled("arith_demo"));
    let avm = |sections: &[(&str, &[u8])], file: &str| {
        let mut p = PackBuilder::new();
        for (name, beam) in sections {
            p.beam(name, beam, false).unwrap();
        }
        let path = s.path(file);
        std::fs::write(&path, p.finish()).unwrap();
        path
    };
    // L = [A, A] (twice the same module), R = [A, B].
    let left = avm(&[("a1", &a), ("a2", &a)], "left.avm");
    let right = avm(&[("a", &a), ("b", &b)], "right.avm");
    for (l, r) in [(&left, &right), (&right, &left)] {
        let out = avm_jit(&[&"compare", l, r]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("module hello_pico: 2 times in"), "{text}");
        assert!(text.contains("module arith_demo: missing from"), "{text}");
        assert!(text.contains("0 identical, 2 different"), "{text}");
    }
    // A one-module file against R: B is missing from it.
    let one = s.path("hello_pico.beam");
    for (l, r) in [(&one, &right), (&right, &one)] {
        let out = avm_jit(&[&"compare", l, r]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("1 identical, 1 different"), "{text}");
    }
    // The same modules in another order: identical.
    let swapped = avm(&[("b", &b), ("a", &a)], "swapped.avm");
    let text = ok(&avm_jit(&[&"compare", &right, &swapped]));
    assert!(text.contains("2 identical, 0 different"), "{text}");
}

//! A literal table inflated with a used buffer and inflater state (as the CLI does, one
//! `InflateScratch` per worker) is the table inflated with new ones, whatever they held.

use avm_jit_core::beam::{InflateScratch, Literals, Module, MAX_LITERALS_BYTES};
use avm_jit_tests::{golden_beams_dir, golden_dir, golden_index};

fn same(a: &Literals<'_>, b: &Literals<'_>) {
    assert_eq!(a.table(), b.table());
    assert_eq!(a.len(), b.len());
    for i in 0..=a.len() {
        assert_eq!(a.get(i), b.get(i), "literal {i}");
    }
}

#[test]
fn a_used_buffer_gives_the_same_table_and_errors() {
    let Some(golden) = golden_dir("a_used_buffer_gives_the_same_table_and_errors") else {
        return;
    };
    let target = "otp25/armv6m";
    let beams = golden_beams_dir(&golden, target);
    // One scratch for every module, as a CLI worker has: it holds what the previous module's
    // damaged streams left (a buffer of garbage, an inflater state that has just failed).
    let mut scratch = InflateScratch::new();
    let mut compressed = 0;
    for row in golden_index(&golden, target).iter().step_by(4) {
        let path = row.beam_path(&beams);
        let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let module = Module::parse(&input).unwrap();
        let fresh = module.literals().unwrap();
        if !fresh.compressed {
            continue;
        }
        compressed += 1;
        let reused = module
            .literals_reusing(MAX_LITERALS_BYTES, &mut scratch)
            .unwrap();
        same(&fresh, &reused);
        scratch.recycle(reused);
        // A damaged stream fails the same way with a used scratch, and leaves it usable.
        let lit = module.chunk(*b"LitT").unwrap();
        for cut in [lit.data.len() / 2, lit.data.len() - 5] {
            let data = &lit.data[..cut];
            let a = Literals::parse_compressed(data, lit.offset, MAX_LITERALS_BYTES).map(|_| ());
            let b =
                Literals::parse_compressed_into(data, lit.offset, MAX_LITERALS_BYTES, &mut scratch)
                    .map(|_| ());
            assert!(a.is_err(), "{}: cut at {cut}", path.display());
            assert_eq!(a, b, "{}: cut at {cut}", path.display());
        }
    }
    assert!(compressed > 20, "{compressed} compressed tables");
}

//! A literal table inflated into a used buffer (as the CLI does, one buffer per worker) is the
//! table inflated into a new one, whatever the buffer held.

use avm_jit_core::beam::{Literals, Module, MAX_LITERALS_BYTES};
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
    let mut buffer = Vec::new();
    let mut compressed = 0;
    for row in golden_index(&golden, target).iter().step_by(4) {
        let path = beams.join(&row.app).join(format!("{}.beam", row.module));
        let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let module = Module::parse(&input).unwrap();
        let fresh = module.literals().unwrap();
        if !fresh.compressed {
            continue;
        }
        compressed += 1;
        // The previous module's table (longer or shorter), then garbage of both lengths.
        let n = fresh.table_size();
        for dirty in [
            buffer.clone(),
            vec![0xA5; n + 100],
            vec![0x5A; n / 2],
            vec![0xFF; n],
        ] {
            let reused = module.literals_reusing(MAX_LITERALS_BYTES, dirty).unwrap();
            same(&fresh, &reused);
        }
        // A damaged stream fails the same way in a used buffer.
        let lit = module.chunk(*b"LitT").unwrap();
        for cut in [lit.data.len() / 2, lit.data.len() - 5] {
            let data = &lit.data[..cut];
            let a = Literals::parse_compressed(data, lit.offset, MAX_LITERALS_BYTES).map(|_| ());
            let b = Literals::parse_compressed_into(
                data,
                lit.offset,
                MAX_LITERALS_BYTES,
                vec![0xEE; n + 7],
            )
            .map(|_| ());
            assert!(a.is_err(), "{}: cut at {cut}", path.display());
            assert_eq!(a, b, "{}: cut at {cut}", path.display());
        }
        buffer = module
            .literals_reusing(MAX_LITERALS_BYTES, buffer)
            .unwrap()
            .into_buffer();
        assert_eq!(buffer, fresh.table());
    }
    assert!(compressed > 20, "{compressed} compressed tables");
}

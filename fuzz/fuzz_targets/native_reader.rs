//! Any bytes through the `avmN` payload reader: header, architectures, layout, jump table, labels
//! and lines tables.
#![no_main]

use avm_jit_core::native::Native;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(native) = Native::parse(data) else {
        return;
    };
    let _ = native.data_start();
    for arch in native.arches() {
        let Ok(layout) = native.layout(&arch) else {
            continue;
        };
        assert!(layout.jump_table <= layout.code_start);
        assert!(layout.lines_at <= layout.end && layout.end <= data.len());
        // The jump table is bounded by the input, so walking it all is bounded too.
        for label in 0..=native.labels_count {
            if let Ok(at) = native.label_offset(&layout, label) {
                assert!(at < data.len());
            }
        }
        let _ = native.label_offset(&layout, native.labels_count.wrapping_add(1));
        let labels = native.labels(&layout).count();
        let lines = native.lines(&layout).count();
        assert!(6 * (labels + lines) <= data.len());
    }
});

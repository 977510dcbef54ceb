//! The `avmN` reader understands every payload the reference produced.

use avm_jit_core::native::Native;
use avm_jit_tests::{golden_dir, golden_index};

#[test]
fn every_golden_payload_parses_to_its_tables() {
    let Some(golden) = golden_dir("every_golden_payload_parses_to_its_tables") else {
        return;
    };
    let mut checked = 0;
    for target in [
        "otp25/armv6m",
        "otp25/armv6m+thumb2",
        "otp27/armv6m",
        "otp27/armv6m-notype",
    ] {
        for row in golden_index(&golden, target) {
            let path = row.avmn_path(&golden, target);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let native =
                Native::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let arch = native.arches().next().expect("one architecture");
            assert_eq!(arch.arch, 3, "{}", path.display());
            assert_eq!(
                arch.variant & 4 != 0,
                target.contains("thumb2"),
                "{}",
                path.display()
            );
            let layout = native
                .layout(&arch)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(layout.end, bytes.len());
            if let Some(lines) = row.get("lines_count") {
                assert_eq!(
                    native.lines(&layout).count().to_string(),
                    lines,
                    "{}",
                    path.display()
                );
            }
            if let Some(labels) = row.get("labels_count") {
                assert_eq!(
                    native.labels_count.to_string(),
                    labels,
                    "{}",
                    path.display()
                );
            }
            // Every label in the table is where the jump table sends it.
            for (label, offset) in native.labels(&layout) {
                if u32::from(label) <= native.labels_count {
                    let via_table = native.label_offset(&layout, label.into()).unwrap();
                    assert_eq!(
                        via_table,
                        offset as usize,
                        "{} label {label}",
                        path.display()
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 232 * 2 + 250 + 156,
        "only {checked} payloads checked"
    );
}

/// The layout reader (through `Native`, which picks the riscv32 one) finds the jump table, the label-0 stub and the tables of every
/// riscv32 golden payload (AOT and on-device layouts), and the jump table agrees with the
/// labels table.
#[test]
fn every_riscv32_golden_payload_parses_to_its_tables() {
    let Some(golden) = golden_dir("every_riscv32_golden_payload_parses_to_its_tables") else {
        return;
    };
    let mut checked = 0;
    for target in ["otp25/riscv32", "otp25/riscv32-cache"] {
        // The on-device layout's offsets count from the code, 20 bytes after the header.
        let base = if target.ends_with("-cache") { 20 } else { 0 };
        for row in golden_index(&golden, target) {
            let path = row.avmn_path(&golden, target);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let native =
                Native::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let arch = native.arches().next().expect("one architecture");
            assert_eq!((arch.arch, arch.variant), (4, 1), "{}", path.display());
            let layout = native
                .layout(&arch)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(layout.end, bytes.len());
            assert_eq!(
                native.labels_count.to_string(),
                row.get("labels_count").unwrap_or_default(),
                "{}",
                path.display()
            );
            let mut labels = 0;
            for (label, offset) in native.labels(&layout) {
                let via_table = native.label_offset(&layout, label.into()).unwrap();
                assert_eq!(
                    via_table,
                    offset as usize + base,
                    "{} label {label}",
                    path.display()
                );
                labels += 1;
            }
            assert!(labels > 0, "{}", path.display());
            checked += 1;
        }
    }
    assert_eq!(checked, 233 + 232);
}

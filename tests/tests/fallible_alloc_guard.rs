//! Guard for issue 8's "out of memory is an error the core returns": the compile path's source
//! must not use the allocating calls that abort when the heap is full. Growth goes through
//! `avm_jit_core::mem` (`try_reserve` and friends). Test modules (`#[cfg(test)]` and below) are
//! not scanned.

use std::path::{Path, PathBuf};

use avm_jit_tests::workspace_root;

/// Calls that allocate infallibly (or build a `BTreeMap`, which cannot grow fallibly).
const FORBIDDEN: &[&str] = &[
    "Vec::with_capacity(",
    "vec![",
    ".to_vec()",
    "Box::new(",
    "BTreeMap",
    "String::from",
    ".into_owned()",
    "format!(",
    ".to_string()",
    ".collect()",
    ".collect::<",
    ".reserve(",
    ".reserve_exact(",
    // Stable sorts allocate a scratch buffer.
    ".sort(",
    ".sort_by(",
    ".sort_by_key(",
    ".sort_by_cached_key(",
];

/// The compile path: from a .beam's bytes to its native code, and the device's prefill around
/// it (module selection, with `etf::decode` for the atoms inside literals; writing entries).
fn compile_path(root: &Path) -> Vec<PathBuf> {
    let shared = root.join("shared/src");
    let mut files = vec![
        shared.join("isa/buffer.rs"),
        shared.join("isa/pending.rs"),
        shared.join("isa/regs.rs"),
        shared.join("stream/mod.rs"),
        shared.join("beam/atoms.rs"),
        shared.join("beam/literals.rs"),
        shared.join("beam/types.rs"),
        shared.join("beam/compact.rs"),
        shared.join("compile/module.rs"),
        shared.join("beam/etf.rs"),
        shared.join("flash/prefill.rs"),
        shared.join("flash/sink.rs"),
    ];
    for dir in ["compile", "compile/ops", "compile/bs", "isa/armv6m"] {
        for entry in std::fs::read_dir(shared.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // Unit tests, recorded traces and the disassembler (a host tool) are not on it.
            let skip = ["tests.rs", "trace_tests.rs", "disasm.rs"].contains(&name.as_str());
            if name.ends_with(".rs") && !skip {
                files.push(path);
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

/// Forbidden calls in `text` before its test module: (line number, line).
fn offences(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        if FORBIDDEN.iter().any(|f| code.contains(f)) {
            found.push((i + 1, line.trim().to_string()));
        }
    }
    found
}

#[test]
fn the_compile_path_allocates_only_fallibly() {
    let root = workspace_root();
    let files = compile_path(&root);
    assert!(
        files.len() > 30,
        "compile path not found under {}",
        root.display()
    );
    let mut report = String::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        for (line, code) in offences(&text) {
            report += &format!("{}:{line}: {code}\n", path.display());
        }
    }
    assert!(
        report.is_empty(),
        "infallible allocation on the compile path (use avm_jit_core::mem):\n{report}"
    );
}

#[test]
fn the_guard_sees_what_it_forbids() {
    assert_eq!(offences("let v = Vec::with_capacity(n);").len(), 1);
    assert_eq!(offences("let v: Vec<_> = it.collect();").len(), 1);
    assert!(offences("// Vec::with_capacity( in a comment").is_empty());
    assert!(offences("#[cfg(test)]\nmod tests { let v = vec![1]; }").is_empty());
}

//! Inputs the fuzz targets (`fuzz/`) found to misbehave, each reduced by `cargo fuzz tmin`.
//! A test stays `#[ignore]`d until the bug it shows is fixed; run them with `--ignored`.
//!
//! Runaway allocations are caught with a counting allocator: the largest single request made by
//! the current thread must stay far below what a Pico has (the core runs with <= 64 KiB of heap).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use avm_jit_core::beam::{write_module, Module};
use avm_jit_core::compile::module::{precompile_beam, CodeTarget};

struct LargestRequest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the slot may be gone while the thread is shutting down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for LargestRequest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestRequest = LargestRequest;

/// The largest single allocation `f` makes on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/example/beams")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `base` with its `Code` chunk replaced by `code`, every other chunk as is.
fn with_code(base: &[u8], code: &[u8]) -> Vec<u8> {
    let module = Module::parse(base).expect("fixture parses");
    let chunks: Vec<([u8; 4], &[u8])> = module
        .chunks()
        .map(|c| c.expect("fixture chunk"))
        .map(|c| (c.id, if c.id == *b"Code" { code } else { c.data }))
        .collect();
    write_module(&chunks)
}

/// A `Code` chunk claiming one label whose only instruction is `label 0x0400_0000`.
///
/// Found by `compile_code` as `label 0x6a030103` (a 7 GB request). The backend used to notice
/// that the label is beyond the jump table but still size its label-offset table by the label
/// number; it now refuses the label without sizing anything by it. The label here is smaller, so
/// that a regression shows as a failed assertion (a 256 MiB allocation) rather than an abort.
const HUGE_LABEL_CODE: [u8; 26] = [
    0, 0, 0, 16, // header size
    0, 0, 0, 0, // instruction set
    0, 0, 0, 1, // max opcode
    0, 0, 0, 1, // label count
    0x34, 0x03, 0x12, 0x10, // function count (unused)
    1, 0x58, 0x04, 0x00, 0x00, 0x00, // label 0x0400_0000 (literal, 4 bytes follow)
];

#[test]
fn label_beyond_jump_table_is_an_error_without_a_huge_allocation() {
    let beam = with_code(&fixture("error_demo.beam"), &HUGE_LABEL_CODE);
    for target in [
        CodeTarget::Armv6m,
        CodeTarget::Armv6mThumb2,
        CodeTarget::Riscv32,
    ] {
        let (result, largest) = largest_allocation(|| precompile_beam(&beam, target));
        assert!(
            result.is_err(),
            "{target:?}: accepted a label beyond the jump table"
        );
        assert!(
            largest < 1 << 20,
            "{target:?}: a {}-byte module made a {largest}-byte allocation",
            beam.len()
        );
    }
}

/// The same module with an in-range label compiles within the same allocation bound, so the
/// bound above is about the label, not about the module.
#[test]
fn in_range_label_compiles_within_the_allocation_bound() {
    // Same header, then `label 1` and `int_code_end` (opcode 3).
    let mut code = HUGE_LABEL_CODE[..21].to_vec();
    code.extend_from_slice(&[0x10, 3]);
    let beam = with_code(&fixture("error_demo.beam"), &code);
    for target in [
        CodeTarget::Armv6m,
        CodeTarget::Armv6mThumb2,
        CodeTarget::Riscv32,
    ] {
        let (result, largest) = largest_allocation(|| precompile_beam(&beam, target));
        result.unwrap_or_else(|e| panic!("{target:?}: {e:?}"));
        assert!(largest < 1 << 20, "{target:?}: {largest}-byte allocation");
    }
}

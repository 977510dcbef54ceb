//! Out of memory is an error the core returns, never an abort (issue 8, section 1).
//!
//! A global allocator that refuses every allocation of this thread once a budget (a number of
//! allocations, or of bytes) is spent, as a small device heap would. Compiling real golden
//! modules under many budgets, each run must end in `Ok` with exactly the bytes of an unlimited
//! run, or in an error that says out of memory. An infallible allocation anywhere on the path
//! aborts the process (`handle_alloc_error`), which fails this test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use avm_jit_core::avm::Pack;
use avm_jit_core::beam::{etf, Module};
use avm_jit_core::compile::module::{precompile_beam, CodeTarget, ModuleError};
use avm_jit_core::compile::CompileErrorKind;
use avm_jit_core::flash::prefill::{self, AvmInFlash, PrefillErrorKind, Selection};
use avm_jit_core::flash::MemFlash;
use avm_jit_core::ErrorKind;
use avm_jit_tests::{beams_in, golden_dir, workspace_root};

struct Limited;

thread_local! {
    /// Whether this thread's allocations are counted against the budget.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCS_LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
    static BYTES_LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Allocations made (armed) so far, and whether one was refused.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static REFUSED: Cell<bool> = const { Cell::new(false) };
}

impl Limited {
    /// Whether an allocation of `size` bytes may go ahead (and charge it).
    fn grant(size: usize) -> bool {
        if !ARMED.with(Cell::get) {
            return true;
        }
        ALLOCS.with(|c| c.set(c.get() + 1));
        let allocs = ALLOCS_LEFT.with(Cell::get);
        let bytes = BYTES_LEFT.with(Cell::get);
        // Once one allocation is refused every later one is too: the heap stays full.
        if REFUSED.with(Cell::get) || allocs == 0 || bytes < size {
            REFUSED.with(|c| c.set(true));
            return false;
        }
        ALLOCS_LEFT.with(|c| c.set(allocs - 1));
        BYTES_LEFT.with(|c| c.set(bytes - size));
        true
    }
}

unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::grant(layout.size()) {
            unsafe { System.alloc(layout) }
        } else {
            std::ptr::null_mut()
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if Self::grant(new_size.saturating_sub(layout.size())) {
            unsafe { System.realloc(ptr, layout, new_size) }
        } else {
            std::ptr::null_mut()
        }
    }
}

#[global_allocator]
static ALLOCATOR: Limited = Limited;

#[derive(Clone, Copy, Debug)]
enum Budget {
    Allocs(usize),
    Bytes(usize),
}

/// Run `f` with this thread's heap limited to `budget`; returns its result, how many
/// allocations it asked for, and whether one was refused.
fn limited<T>(budget: Budget, f: impl FnOnce() -> T) -> (T, usize, bool) {
    let (allocs, bytes) = match budget {
        Budget::Allocs(n) => (n, usize::MAX),
        Budget::Bytes(n) => (usize::MAX, n),
    };
    ALLOCS_LEFT.with(|c| c.set(allocs));
    BYTES_LEFT.with(|c| c.set(bytes));
    ALLOCS.with(|c| c.set(0));
    REFUSED.with(|c| c.set(false));
    ARMED.with(|c| c.set(true));
    let out = f();
    ARMED.with(|c| c.set(false));
    (out, ALLOCS.with(Cell::get), REFUSED.with(Cell::get))
}

fn is_out_of_memory(e: &ModuleError) -> bool {
    match e {
        ModuleError::Beam(e) => matches!(e.kind, ErrorKind::OutOfMemory { .. }),
        ModuleError::Compile(e) => matches!(e.kind, CompileErrorKind::OutOfMemory(_)),
    }
}

/// Compile `bytes` under `budget`: Ok with `expected`'s bytes, or out of memory (and then a
/// refusal really happened).
fn check(name: &str, bytes: &[u8], expected: &[u8], budget: Budget) -> bool {
    let (result, _, refused) = limited(budget, || precompile_beam(bytes, CodeTarget::Armv6m));
    match result {
        Ok(out) => {
            assert!(
                out == expected,
                "{name} under {budget:?}: Ok but different bytes"
            );
            false
        }
        Err(e) => {
            assert!(
                is_out_of_memory(&e) && refused,
                "{name} under {budget:?}: {e} (refused: {refused})"
            );
            let message = e.to_string();
            assert!(message.contains("out of memory"), "{name}: {message}");
            true
        }
    }
}

/// Budgets from none to what a full compile needs: every one of the first `dense`, then
/// `spread` more evenly up to `total`.
fn budgets(total: usize, dense: usize, spread: usize) -> Vec<usize> {
    let mut b: Vec<usize> = (0..dense.min(total)).collect();
    b.extend((1..=spread).map(|i| total * i / (spread + 1)));
    b.push(total.saturating_sub(1));
    b.sort_unstable();
    b.dedup();
    b
}

#[test]
fn compiling_under_a_full_heap_ends_in_identical_bytes_or_out_of_memory() {
    let Some(golden) = golden_dir("out_of_memory") else {
        return;
    };
    let mut modules = 0;
    let (mut runs, mut oom) = (0, 0);
    for app in ["stdlib", "kernel", "compiler"] {
        for (name, bytes) in beams_in(&golden.join("otp25/beams").join(app)) {
            let Ok(expected) = precompile_beam(&bytes, CodeTarget::Armv6m) else {
                continue; // the reference cannot compile it either
            };
            modules += 1;
            // What an unlimited compile asks for.
            let (_, total_allocs, _) = limited(Budget::Allocs(usize::MAX), || {
                precompile_beam(&bytes, CodeTarget::Armv6m)
            });
            let mut total_bytes = 0;
            {
                // Bytes allocated in all (frees are not given back to the budget).
                let (_, _, _) = limited(Budget::Bytes(usize::MAX), || {
                    precompile_beam(&bytes, CodeTarget::Armv6m)
                });
                BYTES_LEFT.with(|c| total_bytes = usize::MAX - c.get());
            }
            for n in budgets(total_allocs, 6, 6) {
                runs += 1;
                oom += usize::from(check(&name, &bytes, &expected, Budget::Allocs(n)));
            }
            for n in budgets(total_bytes, 0, 4) {
                runs += 1;
                oom += usize::from(check(&name, &bytes, &expected, Budget::Bytes(n)));
            }
            // A full budget compiles.
            assert!(!check(
                &name,
                &bytes,
                &expected,
                Budget::Allocs(total_allocs)
            ));
        }
    }
    eprintln!("{modules} modules, {runs} limited compiles, {oom} ended out of memory");
    assert!(modules > 200, "only {modules} golden modules compiled");
    assert!(
        oom > runs / 2,
        "too few runs hit the limit: {oom} of {runs}"
    );
}

/// The device's module selection (atoms of reached modules and inside their literals) under
/// every allocation budget: the same choice as with an unlimited heap, or out of memory.
#[test]
fn choosing_modules_under_a_full_heap_ends_in_the_same_choice_or_out_of_memory() {
    let app = std::fs::read(workspace_root().join("fixtures/example/example.avm")).unwrap();
    let avms = [AvmInFlash {
        address: 0x1018_0000,
        pack: Pack::parse(&app).unwrap(),
    }];
    for selection in [Selection::Closure, Selection::All] {
        let expected: Vec<&[u8]> = prefill::select(&avms, selection)
            .unwrap()
            .iter()
            .map(|c| c.name)
            .collect();
        assert!(expected.len() > 3, "{expected:?}");
        let (_, total, _) = limited(Budget::Allocs(usize::MAX), || {
            prefill::select(&avms, selection).map(drop)
        });
        let mut oom = 0;
        for n in 0..=total {
            let (result, _, refused) =
                limited(Budget::Allocs(n), || prefill::select(&avms, selection));
            match result {
                Ok(chosen) => {
                    let names: Vec<&[u8]> = chosen.iter().map(|c| c.name).collect();
                    assert_eq!(names, expected, "{selection:?} under {n} allocations");
                }
                Err(e) => {
                    assert!(refused && e.to_string().contains("out of memory"), "{e}");
                    oom += 1;
                }
            }
        }
        assert!(oom > 0 && oom <= total, "{selection:?}: {oom} of {total}");
    }
}

/// Writing a cache entry through the flash sink (the device's path: the sink's window and patch
/// buffers, then the compile) under every small allocation budget and a spread of larger ones:
/// the same flash bytes as with an unlimited heap, or out of memory with the flash untouched
/// when the sink could not even start.
#[test]
fn writing_an_entry_under_a_full_heap_ends_in_the_same_flash_or_out_of_memory() {
    const CACHE: u32 = 0x1010_0000;
    let app = std::fs::read(workspace_root().join("fixtures/example/example.avm")).unwrap();
    let avms = [AvmInFlash {
        address: 0x1018_0000,
        pack: Pack::parse(&app).unwrap(),
    }];
    let chosen = prefill::select(&avms, Selection::Closure).unwrap();
    let module = &chosen[0];
    let write = |flash: &mut MemFlash| {
        prefill::write_entry(flash, CACHE, module, CodeTarget::Armv6m).map(drop)
    };
    let mut expected = MemFlash::erased(CACHE, 0x4_0000);
    write(&mut expected).unwrap();
    let blank = MemFlash::erased(CACHE, 0x4_0000);
    assert_ne!(expected, blank);
    let (_, total, _) = limited(Budget::Allocs(usize::MAX), || {
        write(&mut MemFlash::erased(CACHE, 0x4_0000))
    });
    let mut oom = 0;
    for n in budgets(total, 40, 40) {
        let mut flash = MemFlash::erased(CACHE, 0x4_0000);
        let (result, _, refused) = limited(Budget::Allocs(n), || write(&mut flash));
        match result {
            Ok(()) => assert!(flash == expected, "under {n} allocations: other bytes"),
            Err(e) => {
                let oom_kind = match &e.kind {
                    PrefillErrorKind::OutOfMemory(_) => true,
                    PrefillErrorKind::Compile(c) => is_out_of_memory(&c[0]),
                    _ => false,
                };
                assert!(oom_kind && refused, "under {n} allocations: {e}");
                assert!(e.to_string().contains("out of memory"), "{e}");
                if n < 2 {
                    // The sink's buffers come first: nothing was erased or programmed.
                    assert!(flash == blank, "under {n} allocations: flash touched");
                }
                oom += 1;
            }
        }
    }
    assert!(oom >= 2, "{oom} runs out of memory of {total} allocations");
}

/// Decoding literals (`beam::etf`, used by the selection) under every allocation budget: the
/// same term, or an out-of-memory error.
#[test]
fn decoding_literals_under_a_full_heap_ends_in_the_same_term_or_out_of_memory() {
    let Some(golden) = golden_dir("out_of_memory") else {
        return;
    };
    let (mut decoded, mut oom) = (0, 0);
    for (name, bytes) in beams_in(&golden.join("otp25/beams/stdlib")) {
        if !["erl_lint", "lists", "unicode_util"].contains(&name.as_str()) {
            continue;
        }
        let module = Module::parse(&bytes).unwrap();
        let literals = module.literals().unwrap();
        for index in 0..literals.len() {
            let literal = literals.get(index).unwrap();
            let Ok(expected) = etf::decode(literal, 0) else {
                continue;
            };
            decoded += 1;
            let (_, total, _) = limited(Budget::Allocs(usize::MAX), || {
                etf::decode(literal, 0).map(drop)
            });
            for n in 0..total.min(12) {
                let (result, _, refused) = limited(Budget::Allocs(n), || etf::decode(literal, 0));
                match result {
                    Ok(term) => assert_eq!(term, expected),
                    Err(e) => {
                        assert!(
                            refused && matches!(e.kind, ErrorKind::OutOfMemory { .. }),
                            "{name} literal {index}: {e}"
                        );
                        oom += 1;
                    }
                }
            }
        }
    }
    assert!(
        decoded > 100 && oom > 100,
        "{decoded} literals, {oom} out of memory"
    );
}

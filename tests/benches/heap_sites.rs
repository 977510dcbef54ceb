//! Where the compiler's peak heap goes, by call site, for a few golden OTP 25 modules.
//!
//! ```text
//! cargo bench -p avm-jit-tests --bench heap_sites [-- MODULE...]
//! ```
//! Compiles each module twice into a sink that keeps nothing (as the compile bench does): the
//! first run finds the peak, the second stops at the moment the live heap first reaches it and
//! lists the allocations live then, grouped by the innermost `avm_jit_core` frame that made them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{compile_into, BeamEnv, CodeTarget};
use avm_jit_core::native::single_arch_header;
use avm_jit_core::stream::CodeSink as _;
use avm_jit_tests::{files_with_ext, golden_dir, CountingSink};

struct Tracking;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Record call sites (second run).
static TRACE: AtomicBool = AtomicBool::new(false);
/// The live heap to stop at (second run), and whether it was reached.
static TARGET: AtomicUsize = AtomicUsize::new(usize::MAX);
static REACHED: AtomicBool = AtomicBool::new(false);

type Sites = HashMap<usize, (usize, Backtrace)>;
static SITES: Mutex<Option<Sites>> = Mutex::new(None);
static SNAPSHOT: Mutex<Option<Vec<(usize, String)>>> = Mutex::new(None);

thread_local! {
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

fn without_tracking<R>(f: impl FnOnce() -> R) -> Option<R> {
    BUSY.with(|b| {
        if b.get() {
            return None;
        }
        b.set(true);
        let r = f();
        b.set(false);
        Some(r)
    })
}

/// The innermost frames of `bt` that belong to the core.
fn site(bt: &Backtrace) -> String {
    let text = format!("{bt}");
    let frames: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.contains(": avm_jit_core::"))
        .map(|l| l.split_once(": ").map_or(l, |(_, f)| f))
        .take(3)
        .collect();
    frames.join(" <- ")
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if p.is_null() || BUSY.with(Cell::get) {
            // The profiler's own allocations are not the compiler's.
            return p;
        }
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        if TRACE.load(Ordering::Relaxed) {
            without_tracking(|| {
                let bt = Backtrace::force_capture();
                if let Some(sites) = SITES.lock().unwrap().as_mut() {
                    sites.insert(p as usize, (layout.size(), bt));
                }
                if live >= TARGET.load(Ordering::Relaxed) && !REACHED.swap(true, Ordering::Relaxed)
                {
                    let guard = SITES.lock().unwrap();
                    let snap = guard
                        .as_ref()
                        .map(|s| s.values().map(|(n, bt)| (*n, site(bt))).collect());
                    *SNAPSHOT.lock().unwrap() = snap;
                }
            });
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if BUSY.with(Cell::get) {
            return;
        }
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        if TRACE.load(Ordering::Relaxed) {
            without_tracking(|| {
                if let Some(sites) = SITES.lock().unwrap().as_mut() {
                    sites.remove(&(ptr as usize));
                }
            });
        }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

fn main() {
    let Some(golden) = golden_dir("bench heap_sites") else {
        return;
    };
    let mut wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if wanted.is_empty() {
        wanted = [
            "unicode_util",
            "erl_parse",
            "erl_lint",
            "beam_validator",
            "qlc_pt",
        ]
        .map(String::from)
        .into();
    }
    let beams = files_with_ext(&golden.join("otp25/beams"), "beam");
    for name in &wanted {
        let Some(path) = beams
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s == name.as_str()))
        else {
            println!("{name}: not in the corpus");
            continue;
        };
        let bytes = std::fs::read(path).unwrap();
        let module = Module::parse(&bytes).expect("golden beam");
        let env = BeamEnv::new(&module).expect("golden beam");
        let code = module.code().expect("code");
        let header = single_arch_header(
            code.label_count,
            CodeTarget::Armv6m.arch(),
            CodeTarget::Armv6m.variant(),
        );
        let run = || {
            let mut sink = CountingSink::default();
            sink.append(&header);
            compile_into(&module, &env, CodeTarget::Armv6m, sink).is_ok()
        };
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let ok = run();
        let peak = PEAK.load(Ordering::Relaxed) - before;
        *SITES.lock().unwrap() = Some(HashMap::new());
        *SNAPSHOT.lock().unwrap() = None;
        REACHED.store(false, Ordering::Relaxed);
        let before = LIVE.load(Ordering::Relaxed);
        TARGET.store(before + peak, Ordering::Relaxed);
        TRACE.store(true, Ordering::Relaxed);
        run();
        TRACE.store(false, Ordering::Relaxed);
        // The profiler's own bookkeeping, uncounted, from here to the end of the report.
        BUSY.with(|b| b.set(true));
        *SITES.lock().unwrap() = None;
        let snap = SNAPSHOT.lock().unwrap().take().unwrap_or_default();
        let mut by_site: HashMap<String, (usize, usize)> = HashMap::new();
        for (n, s) in snap {
            let e = by_site.entry(s).or_default();
            e.0 += n;
            e.1 += 1;
        }
        let mut rows: Vec<_> = by_site.into_iter().collect();
        rows.sort_by_key(|(_, (n, _))| std::cmp::Reverse(*n));
        println!(
            "{name}: {} labels, peak {peak} bytes{}",
            code.label_count,
            if ok { "" } else { " (compile failed)" }
        );
        for (s, (n, count)) in rows.iter().take(12) {
            println!("  {n:>8} B in {count:>4} blocks  {s}");
        }
        BUSY.with(|b| b.set(false));
    }
}

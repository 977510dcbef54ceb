//! Compile speed and memory on the OTP 25 golden modules, in one process, single-threaded.
//!
//! ```text
//! cargo bench -p avm-jit-tests --bench compile [-- riscv32|armv6m+thumb2]
//! ```
//! (default target: armv6m).
//! Prints modules/s, MB/s of `Code` chunk, the slowest module, and peak heap during a module's
//! compile (code goes to a sink that keeps nothing, as on the device, where it streams to flash),
//! compared with the module's label count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{compile_into, BeamEnv, CodeTarget};
use avm_jit_core::native::single_arch_header;
use avm_jit_core::stream::CodeSink as _;
use avm_jit_tests::{files_with_ext, golden_dir, CountingSink};

/// Counts live and peak heap bytes.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Sample {
    name: String,
    code_bytes: usize,
    labels: u32,
    time: Duration,
    /// Median of the rounds (best-of favours a warm cache; the median shows the spread).
    median: Duration,
    peak_heap: usize,
    native_bytes: usize,
}

fn main() {
    let Some(golden) = golden_dir("bench compile") else {
        return;
    };
    let target = std::env::args()
        .skip(1)
        .find_map(|a| match a.as_str() {
            "riscv32" => Some(CodeTarget::Riscv32),
            "armv6m+thumb2" => Some(CodeTarget::Armv6mThumb2),
            "armv6m" => Some(CodeTarget::Armv6m),
            _ => None,
        })
        .unwrap_or(CodeTarget::Armv6m);
    let beams = files_with_ext(&golden.join("otp25/beams"), "beam");
    let inputs: Vec<(String, Vec<u8>)> = beams
        .iter()
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect();
    let rounds = 5;
    let mut samples = Vec::new();
    let mut failed = 0;
    for (name, bytes) in &inputs {
        let module = Module::parse(bytes).expect("golden beam");
        let env = BeamEnv::new(&module).expect("golden beam");
        let code = module.code().expect("code");
        let code_bytes = module.chunk(*b"Code").map(|c| c.data.len()).unwrap_or(0);
        let header = single_arch_header(code.label_count, target.arch(), target.variant());
        let mut times = Vec::with_capacity(rounds);
        let mut peak_heap = 0;
        let mut native_bytes = 0;
        let mut ok = true;
        for _ in 0..rounds {
            let mut sink = CountingSink::default();
            sink.append(&header);
            let before = LIVE.load(Ordering::Relaxed);
            PEAK.store(before, Ordering::Relaxed);
            let start = Instant::now();
            let result = compile_into(&module, &env, target, sink);
            let elapsed = start.elapsed();
            peak_heap = PEAK.load(Ordering::Relaxed) - before;
            match result {
                Ok((sink, _)) => native_bytes = sink.offset(),
                Err(_) => ok = false,
            }
            times.push(elapsed);
        }
        times.sort();
        if !ok {
            failed += 1;
            continue;
        }
        samples.push(Sample {
            name: name.clone(),
            code_bytes,
            labels: code.label_count,
            time: times[0],
            median: times[rounds / 2],
            peak_heap,
            native_bytes,
        });
    }
    let total_time: Duration = samples.iter().map(|s| s.time).sum();
    let total_code: usize = samples.iter().map(|s| s.code_bytes).sum();
    let total_native: usize = samples.iter().map(|s| s.native_bytes).sum();
    let secs = total_time.as_secs_f64();
    println!(
        "compiled {} OTP 25 modules for {} ({} that the reference cannot compile either, skipped), best of {rounds} runs each",
        samples.len(),
        target.name(),
        failed
    );
    println!(
        "  {:.0} modules/s, {:.1} MB/s of Code chunk ({:.2} MB Code -> {:.2} MB native) in {:.3} s",
        samples.len() as f64 / secs,
        total_code as f64 / 1e6 / secs,
        total_code as f64 / 1e6,
        total_native as f64 / 1e6,
        secs
    );
    let median_secs: f64 = samples.iter().map(|s| s.median.as_secs_f64()).sum();
    println!(
        "  (median of {rounds} runs each: {:.0} modules/s, {:.1} MB/s)",
        samples.len() as f64 / median_secs,
        total_code as f64 / 1e6 / median_secs
    );
    if let Some(slowest) = samples.iter().max_by_key(|s| s.time) {
        println!(
            "  slowest: {} ({} KB Code) in {:.2} ms",
            slowest.name,
            slowest.code_bytes / 1024,
            slowest.time.as_secs_f64() * 1e3
        );
    }
    if let Some(s) = samples.iter().find(|s| s.name == "unicode_util") {
        println!(
            "  unicode_util: {} KB Code in {:.2} ms",
            s.code_bytes / 1024,
            s.time.as_secs_f64() * 1e3
        );
    }
    let worst = samples.iter().max_by(|a, b| {
        (a.peak_heap as f64 / (a.labels.max(1)) as f64)
            .total_cmp(&(b.peak_heap as f64 / (b.labels.max(1)) as f64))
    });
    let biggest = samples.iter().max_by_key(|s| s.peak_heap);
    if let (Some(w), Some(b)) = (worst, biggest) {
        println!("  peak heap while compiling: max {} KB ({}, {} labels, {} KB native); worst ratio {:.0} bytes/label ({})",
            b.peak_heap / 1024, b.name, b.labels, b.native_bytes / 1024, w.peak_heap as f64 / w.labels.max(1) as f64, w.name);
    }
    // The Pico budget for the on-device compiler.
    let budget = 64 * 1024;
    let over: Vec<&Sample> = samples.iter().filter(|s| s.peak_heap > budget).collect();
    let mut heaps: Vec<usize> = samples.iter().map(|s| s.peak_heap).collect();
    heaps.sort_unstable();
    println!(
        "  {} of {} modules need more than 64 KiB of compiler heap (median {} KB); smallest over: {}",
        over.len(),
        samples.len(),
        heaps.get(heaps.len() / 2).copied().unwrap_or(0) / 1024,
        over.iter()
            .min_by_key(|s| s.peak_heap)
            .map(|s| format!("{} ({} labels, {} KB)", s.name, s.labels, s.peak_heap / 1024))
            .unwrap_or_else(|| "none".into())
    );
    let mut largest: Vec<&Sample> = samples.iter().collect();
    largest.sort_by_key(|s| std::cmp::Reverse(s.peak_heap));
    println!(
        "  largest peaks: {}",
        largest
            .iter()
            .take(3)
            .map(|s| format!("{} {} B", s.name, s.peak_heap))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut over = over;
    over.sort_by_key(|s| std::cmp::Reverse(s.peak_heap));
    for s in over {
        println!(
            "    over: {} ({} labels, {} KB Code): {} KB",
            s.name,
            s.labels,
            s.code_bytes / 1024,
            s.peak_heap / 1024
        );
    }
}

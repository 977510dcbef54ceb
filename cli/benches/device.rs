//! The device loader's benchmark (issue 8, section 5): `avm-jit flash --mode device` on the
//! emulated RP2040 for the example app and for apps packing the golden OTP 25 corpus (stdlib;
//! kernel; compiler; 16 MiB flash each), printing per module and in total: instructions, estimated
//! device ms at 125 MHz without flash, flash ms, erase and program calls, ms per KB of bytecode,
//! peak heap and stack; and the loader's size. Figures only: nothing here is timed by a test.
//!
//! `cargo bench -p avm-jit --bench device` (set AVM_JIT_BENCH_EXAMPLE_ONLY=1 for the quick half).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const CYCLES_PER_INSTRUCTION: f64 = 1.3;
const MHZ: f64 = 125.0;

fn avm_jit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_avm-jit"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(name: &str, avm: &Path, flash_size: &str, scratch: &Path) {
    let image = scratch.join(format!("{}.img", name.replace(' ', "_")));
    let _ = std::fs::remove_file(&image);
    let out = avm_jit()
        .args(["flash", "--target", "rp2040", "--mode", "device", "--json"])
        .args(["--flash-size", flash_size, "--image"])
        .arg(&image)
        .arg(avm)
        .output()
        .expect("cannot run avm-jit");
    let json: Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(_) => {
            println!(
                "{name}: no figures: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
    };
    println!("\n== {name} ==");
    println!(
        "{:<24} {:>8} {:>8} {:>12} {:>9} {:>9} {:>6} {:>7} {:>7} {:>8} {:>7}  check",
        "module",
        "bytecode",
        "native",
        "instructions",
        "device ms",
        "flash ms",
        "erases",
        "programs",
        "ms/KB",
        "heap",
        "stack"
    );
    let mut tot = [0f64; 7];
    let (mut max_heap, mut max_stack, mut over_heap) = (0u64, 0u64, Vec::new());
    let mut lists = None;
    for m in json["modules"].as_array().into_iter().flatten() {
        let f = |k: &str| m[k].as_f64().unwrap_or(0.0);
        let (code, native, dev, fl) = (
            f("bytecode_bytes"),
            f("native_bytes"),
            f("device_ms"),
            f("flash_ms"),
        );
        let instructions = dev * 1000.0 * MHZ / CYCLES_PER_INSTRUCTION;
        let per_kb = if code > 0.0 {
            dev / (code / 1024.0)
        } else {
            0.0
        };
        let (heap, stack) = (
            m["peak_heap"].as_u64().unwrap_or(0),
            m["peak_stack"].as_u64().unwrap_or(0),
        );
        let module = m["module"].as_str().unwrap_or("?");
        println!(
            "{module:<24} {code:>8} {native:>8} {instructions:>12.0} {dev:>9.1} {fl:>9.1} {:>6} {:>7} {per_kb:>7.1} {heap:>8} {stack:>7}  {}",
            f("erase_calls"),
            f("program_calls"),
            m["check"].as_str().unwrap_or("?")
        );
        for (t, v) in tot.iter_mut().zip([
            code,
            native,
            instructions,
            dev,
            fl,
            f("erase_calls"),
            f("program_calls"),
        ]) {
            *t += v;
        }
        max_heap = max_heap.max(heap);
        max_stack = max_stack.max(stack);
        if heap > 64 * 1024 {
            over_heap.push(module.to_string());
        }
        if module == "lists" {
            lists = Some((dev, fl));
        }
    }
    println!(
        "{:<24} {:>8} {:>8} {:>12.0} {:>9.1} {:>9.1} {:>6} {:>7} {:>7.1} {max_heap:>8} {max_stack:>7}",
        "total",
        tot[0],
        tot[1],
        tot[2],
        tot[3],
        tot[4],
        tot[5],
        tot[6],
        if tot[0] > 0.0 { tot[3] / (tot[0] / 1024.0) } else { 0.0 }
    );
    println!(
        "modules: {} identical, {} differ (a module the device could not compile counts as a difference)",
        json["identical"], json["differences"]
    );
    println!(
        "loader: {} bytes of code and read-only data, {} of data (zeroed data included); heap {} bytes, stack {} bytes; restarts after out of memory: {}",
        json["loader_text"], json["loader_data"], json["heap_bytes"], json["stack_bytes"], json["restarts"]
    );
    if let Some(e) = json.get("emulator") {
        println!(
            "emulator: {} instructions, {} erase and {} program calls, flash busy {} ms, estimated {} ms at 125 MHz",
            e["instructions"], e["erase_calls"], e["program_calls"], e["flash_busy_ms"], e["estimated_ms"]
        );
    }
    println!(
        "targets: {:.1} ms/KB without flash (goal <= 20); peak heap {max_heap} (goal <= 65536; over: {over_heap:?}); loader image {} bytes (goal <= 131072)",
        if tot[0] > 0.0 { tot[3] / (tot[0] / 1024.0) } else { 0.0 },
        json["loader_bytes"]
    );
    if let Some((dev, fl)) = lists {
        println!(
            "lists end to end: {:.1} ms = {:.2} x its flash time (goal <= 1.5)",
            dev + fl,
            (dev + fl) / fl.max(0.001)
        );
    }
}

fn main() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("device_bench");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    run(
        "example app",
        &root().join("fixtures/example/example.avm"),
        "2M",
        &scratch,
    );
    if std::env::var_os("AVM_JIT_BENCH_EXAMPLE_ONLY").is_some() {
        return;
    }
    let golden = std::env::var_os("AVM_JIT_GOLDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/golden"));
    let beams = golden.join("otp25/beams");
    if !beams.is_dir() {
        println!("golden corpus not found at {}: skipped", beams.display());
        return;
    }
    // Three apps: the whole corpus's native code does not fit a 16 MiB flash next to its
    // bytecode, nor do stdlib and kernel together since `unicode_util` (1.6 MB native) compiles.
    for (name, apps) in [
        ("golden OTP 25 stdlib", &["stdlib"][..]),
        ("golden OTP 25 kernel", &["kernel"][..]),
        ("golden OTP 25 compiler", &["compiler"][..]),
    ] {
        let mut inputs: Vec<PathBuf> = vec![root().join("fixtures/example/beams/hello_pico.beam")];
        for app in apps {
            let mut files: Vec<PathBuf> = std::fs::read_dir(beams.join(app))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "beam"))
                .collect();
            files.sort();
            inputs.extend(files);
        }
        let avm = scratch.join(format!("{}.avm", apps.join("-")));
        let packed = avm_jit()
            .args(["pack", "--start", "hello_pico", "-o"])
            .arg(&avm)
            .args(&inputs)
            .status()
            .expect("cannot run avm-jit pack");
        assert!(packed.success(), "packing the golden corpus failed");
        run(name, &avm, "16M", &scratch);
    }
}

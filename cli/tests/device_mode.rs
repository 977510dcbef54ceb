//! `avm-jit flash --mode device` end to end: the device loader (built for thumbv6m and carried by
//! the CLI) runs on the emulated RP2040 over a flash image and writes AtomVM's JIT cache there.
//! The reference for its bytes is `--mode prefill` (the host writing the same cache), itself
//! checked against AtomVM's own on-device output by the cache conformance suite.

use std::path::{Path, PathBuf};
use std::process::Output;

use avm_jit_core::avm::Pack;
use avm_jit_core::flash::cache::{walk, WalkEnd};
use avm_jit_core::flash::{MemFlash, SECTOR_SIZE};
use avm_jit_tests::{golden_dir, workspace_root};

mod output;
mod rp2;
use output::{avm_jit, ok, refused};
use rp2::*;
mod scratch;
use scratch::Scratch;

fn example() -> Vec<u8> {
    std::fs::read(workspace_root().join("fixtures/example/example.avm")).unwrap()
}

fn flash(mode: &str, image: &Path, avm: &Path, extra: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"flash",
        &"--target",
        &"rp2040",
        &"--mode",
        &mode,
        &"--image",
        &image,
    ];
    args.extend_from_slice(extra);
    args.push(&avm);
    avm_jit(&args)
}

/// The entries in an image's cache region from `start`.
fn entries(image: &[u8], start: u32) -> (Vec<(u32, u32, u32)>, WalkEnd) {
    let mut flash = MemFlash::from_bytes(FLASH_BASE, image.to_vec()).unwrap();
    let mut found = Vec::new();
    let end = FLASH_BASE + image.len() as u32;
    let stop = walk(&mut flash, start, end, |e| {
        found.push((e.address, e.header.code, e.header.size))
    })
    .unwrap();
    (found, stop)
}

fn cache_start(avm: &[u8], at: u32) -> u32 {
    let end = at + Pack::parse(avm).unwrap().end().data_offset as u32;
    (end + SECTOR_SIZE - 1) & !(SECTOR_SIZE - 1)
}

#[test]
fn device_mode_writes_what_prefill_writes_for_the_example() {
    let s = Scratch::new("example");
    let app = s.write("app.avm", &example());
    let (dev, pre) = (s.path("device.img"), s.path("prefill.img"));
    let out = ok(&flash("device", &dev, &app, &[]));
    ok(&flash("prefill", &pre, &app, &[]));
    for m in [
        "hello_pico",
        "arith_demo",
        "bin_demo",
        "error_demo",
        "float_demo",
        "lists_demo",
        "maps_demo",
        "proc_demo",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(m))
            .unwrap_or_else(|| panic!("{m} not in the table:\n{out}"));
        assert!(line.ends_with("identical"), "{line}");
    }
    assert!(
        out.contains("every one identical to the host's compile"),
        "{out}"
    );
    let (d, p) = (std::fs::read(&dev).unwrap(), std::fs::read(&pre).unwrap());
    assert!(d == p, "the device's image differs from --mode prefill's");
    let (found, _) = entries(&d, cache_start(&example(), MAIN));
    assert_eq!(found.len(), 8);
}

/// The loader's own timer counts (TIMERAWL, per module, in the mailbox) are real: on a chip the
/// timer only counts once the loader has started the watchdog tick and taken TIMER out of reset
/// (the emulator models both, and clk_sys: a loader that skips its clock bring-up reads 0 or
/// counts at the ring oscillator's pace). Their sum must match the emulator's own estimate of the
/// run (instructions at 125 MHz plus flash busy time), which also covers the loader's set-up.
#[test]
fn device_timer_counts_match_the_emulated_clock() {
    let s = Scratch::new("timer");
    let app = s.write("app.avm", &example());
    let dev = s.path("device.img");
    let out = ok(&flash("device", &dev, &app, &[&"--json"]));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let modules = json["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 8);
    let (mut device, mut flash_ms) = (0.0, 0.0);
    for m in modules {
        let (d, f) = (
            m["device_ms"].as_f64().unwrap(),
            m["flash_ms"].as_f64().unwrap(),
        );
        let native = m["native_bytes"].as_f64().unwrap();
        // At least one 0.4 ms page program per 256 bytes of code; compiling takes time too.
        assert!(d > 1.0, "{m}");
        assert!(f >= 0.4 * (native / 256.0).floor(), "{m}");
        device += d;
        flash_ms += f;
    }
    let emu = &json["emulator"];
    let (estimated, busy) = (
        emu["estimated_ms"].as_f64().unwrap(),
        emu["flash_busy_ms"].as_f64().unwrap(),
    );
    let total = device + flash_ms;
    assert!(
        total <= estimated && total >= 0.97 * estimated,
        "modules {total} ms by the device's timer, {estimated} ms estimated by the emulator"
    );
    assert!(
        flash_ms <= busy && flash_ms >= 0.97 * busy,
        "{flash_ms} {busy}"
    );
}

/// A lib.avm of golden OTP 25 stdlib modules (raw beams: packed with their literals as `LitU`).
fn golden_lib(golden: &Path, s: &Scratch, names: &[&str]) -> PathBuf {
    let beams: Vec<PathBuf> = names
        .iter()
        .map(|n| golden.join(format!("otp25/beams/stdlib/{n}.beam")))
        .collect();
    let lib = s.path("lib.avm");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"pack", &"-o", &lib];
    for b in &beams {
        args.push(b);
    }
    let out = avm_jit(&args);
    ok(&out);
    lib
}

#[test]
fn device_mode_with_a_lib_writes_what_prefill_writes() {
    let Some(golden) = golden_dir("device_mode_with_a_lib_writes_what_prefill_writes") else {
        return;
    };
    let s = Scratch::new("lib");
    let app = s.write("app.avm", &example());
    let lib = golden_lib(&golden, &s, &["proplists", "orddict", "queue", "lists"]);
    let (dev, pre) = (s.path("device.img"), s.path("prefill.img"));
    let out = ok(&flash("device", &dev, &app, &[&"--lib", &lib]));
    ok(&flash("prefill", &pre, &app, &[&"--lib", &lib]));
    assert!(
        out.lines()
            .any(|l| l.starts_with("lists ") && l.ends_with("identical")),
        "{out}"
    );
    let (d, p) = (std::fs::read(&dev).unwrap(), std::fs::read(&pre).unwrap());
    assert!(d == p, "the device's image differs from --mode prefill's");
    // Both AVMs are marked valid.
    let lib_bytes = std::fs::read(&lib).unwrap();
    for (avm, at) in [(&lib_bytes, 0x1010_0000u32), (&example(), MAIN)] {
        let end = Pack::parse(avm).unwrap().end().offset + 12;
        let i = (at - FLASH_BASE) as usize + end;
        assert_eq!(&d[i..i + 3], b"END");
    }
}

/// The golden OTP 25 beams of `apps` (`stdlib`, `kernel`), but those in `except`, sorted by name.
fn golden_beams(golden: &Path, apps: &[&str], except: &[&str]) -> Vec<PathBuf> {
    let mut beams: Vec<PathBuf> = apps
        .iter()
        .flat_map(|app| {
            std::fs::read_dir(golden.join("otp25/beams").join(app))
                .unwrap()
                .map(|e| e.unwrap().path())
        })
        .filter(|p| {
            p.extension().is_some_and(|x| x == "beam")
                && !except
                    .iter()
                    .any(|n| p.file_stem().is_some_and(|s| s == *n))
        })
        .collect();
    beams.sort();
    beams
}

fn pack(out: &Path, beams: &[PathBuf]) {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"pack", &"-o", &out];
    for b in beams {
        args.push(b);
    }
    ok(&avm_jit(&args));
}

/// `--mode device` then `--mode prefill` of `app` (and `extra` arguments) on fresh 16 MiB images:
/// the two whole images must be byte-identical and every module the host compiles must have its
/// entry. Returns the device run's table.
fn device_equals_prefill_16m(
    s: &Scratch,
    app: &Path,
    extra: &[&dyn AsRef<std::ffi::OsStr>],
) -> String {
    let (dev, pre) = (s.path("device.img"), s.path("prefill.img"));
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"--flash-size", &"16M"];
    args.extend_from_slice(extra);
    let t = std::time::Instant::now();
    let out = ok(&flash("device", &dev, app, &args));
    eprintln!("--mode device: {:.1} s", t.elapsed().as_secs_f64());
    ok(&flash("prefill", &pre, app, &args));
    let (d, p) = (std::fs::read(&dev).unwrap(), std::fs::read(&pre).unwrap());
    assert_eq!(d.len(), 16 << 20);
    if let Some(i) = d.iter().zip(&p).position(|(a, b)| a != b) {
        panic!(
            "the device's image differs from --mode prefill's first at {:#010x}\n{out}",
            FLASH_BASE as usize + i
        );
    }
    assert!(
        out.contains("every one identical to the host's compile"),
        "{out}"
    );
    out
}

/// Every golden OTP 25 stdlib and kernel module the host compiles, compiled on the (emulated)
/// device, must give the very image `--mode prefill` gives, in a 16 MiB flash: stdlib as main.avm
/// here, kernel as a lib.avm in the next test. (All 178 in one app do not fit in 16 MiB: 3.0 MB of
/// AVM and 13.4 MB of cache entries after the firmware's 1.5 MiB.) `unicode_util` included (it
/// ran out of the loader's heap until waiting branches were packed into words). About three
/// minutes on the shared 2-core machine (194 s, 177 s of it the device run).
#[test]
fn device_mode_compiles_otp25_stdlib_as_prefill_does() {
    let Some(golden) = golden_dir("device_mode_compiles_otp25_stdlib_as_prefill_does") else {
        return;
    };
    let s = Scratch::new("otp25_stdlib");
    let app = s.path("stdlib.avm");
    pack(&app, &golden_beams(&golden, &["stdlib"], &[]));
    device_equals_prefill_16m(&s, &app, &[]);
}

/// The same with a lib.avm: OTP 25's kernel, split between lib.avm (0x10100000, as many modules
/// in name order as its 512 KiB partition holds) and main.avm (the rest, at 0x10180000).
/// About a minute of CPU time (4.4 MB of code compiled on the emulator).
#[test]
fn device_mode_with_otp25_kernel_in_lib_and_main_compiles_as_prefill_does() {
    let Some(golden) =
        golden_dir("device_mode_with_otp25_kernel_in_lib_and_main_compiles_as_prefill_does")
    else {
        return;
    };
    let s = Scratch::new("otp25_kernel_lib");
    let (lib, app) = (s.path("lib.avm"), s.path("app.avm"));
    let kernel = golden_beams(&golden, &["kernel"], &[]);
    let mut split = kernel.len() / 2;
    loop {
        pack(&lib, &kernel[..split]);
        if std::fs::metadata(&lib).unwrap().len() <= u64::from(MAIN - LIB) {
            break;
        }
        split -= 1;
    }
    assert!(split > 10, "{split}");
    pack(&app, &kernel[split..]);
    let out = device_equals_prefill_16m(&s, &app, &[&"--lib", &lib]);
    for m in [&kernel[0], &kernel[kernel.len() - 1]] {
        let name = m.file_stem().unwrap().to_str().unwrap();
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{name} ")) && l.ends_with("identical")),
            "{name}: {out}"
        );
    }
}

/// The example with `maps_demo`'s first instruction replaced by an opcode no compiler knows;
/// returns the AVM and the file offset of that byte inside the module's BEAM.
fn corrupt_example() -> (Vec<u8>, usize) {
    let avm = example();
    let pack = Pack::parse(&avm).unwrap();
    let section = pack
        .sections()
        .iter()
        .find(|s| s.module_name() == Some("maps_demo"))
        .unwrap();
    let module = avm_jit_core::beam::Module::parse(section.data).unwrap();
    let code = module.chunk(*b"Code").unwrap();
    let in_beam = code.offset + 20;
    let mut bytes = avm.clone();
    bytes[section.data_offset + in_beam] = 0xFE;
    (bytes, in_beam)
}

/// A corrupt module already in flash (here in the lib.avm another tool put there: `flash` itself
/// refuses a damaged AVM it is given): the loader reports it by name, offset and opcode, gives it no
/// entry and compiles the rest, and nothing outside the cache region changes but the end names.
#[test]
fn a_corrupt_module_is_reported_and_skipped_and_nothing_else_is_written() {
    let s = Scratch::new("corrupt");
    let (bad, offset) = corrupt_example();
    let good = example();
    let app = s.write("app.avm", &good);
    let lib_at = (LIB - FLASH_BASE) as usize;
    let (dev, pre, jit) = (
        s.path("device.img"),
        s.path("prefill.img"),
        s.path("jit.img"),
    );
    // Each image: the application by `flash --mode jit`, then the damaged lib.avm written in.
    for image in [&dev, &pre, &jit] {
        ok(&flash("jit", image, &app, &[]));
        let mut bytes = std::fs::read(image).unwrap();
        bytes[lib_at..lib_at + bad.len()].copy_from_slice(&bad);
        std::fs::write(image, &bytes).unwrap();
    }
    let before = std::fs::read(&jit).unwrap();
    let out = ok(&flash("device", &dev, &app, &[]));
    let line = out.lines().find(|l| l.starts_with("maps_demo")).unwrap();
    assert!(
        line.contains("not compiled (the host cannot either)"),
        "{line}"
    );
    assert!(
        out.contains(&format!(
            "unsupported opcode at offset {offset:#x}, opcode 254"
        )),
        "{out}"
    );
    ok(&flash("prefill", &pre, &app, &[]));
    let (d, p) = (std::fs::read(&dev).unwrap(), std::fs::read(&pre).unwrap());
    assert!(d == p, "the device's image differs from --mode prefill's");
    // lib.avm's 7 good modules, then main.avm's 8.
    let start = cache_start(&good, MAIN);
    let (found, stop) = entries(&d, start);
    assert_eq!(found.len(), 15, "{found:?}");
    let WalkEnd::Free { address } = stop else {
        panic!("{stop:?}")
    };
    // Outside the entries, only the two end names changed (end -> END).
    let mut expected = before.clone();
    for (at, avm) in [(LIB, &bad), (MAIN, &good)] {
        let name = (at - FLASH_BASE) as usize + Pack::parse(avm).unwrap().end().offset + 12;
        assert_eq!(&before[name..name + 3], b"end");
        expected[name..name + 3].copy_from_slice(b"END");
    }
    let cache = (start - FLASH_BASE) as usize;
    let used = (address - FLASH_BASE) as usize;
    assert!(
        d[..cache] == expected[..cache],
        "written outside the cache region"
    );
    assert!(d[used..].iter().all(|&b| b == 0xFF));
}

#[test]
fn a_cache_region_too_small_stops_cleanly_and_leaves_the_image() {
    let s = Scratch::new("small");
    let app = s.write("app.avm", &example());
    let dev = s.path("device.img");
    let old = vec![0x5Au8; 2 << 20];
    std::fs::write(&dev, &old).unwrap();
    let out = flash("device", &dev, &app, &[&"--cache-size", &"8K"]);
    refused(&out, &["cache region too small"]);
    assert!(std::fs::read(&dev).unwrap() == old, "image changed");
}

#[test]
fn device_mode_needs_a_chip() {
    let s = Scratch::new("uf2");
    let app = s.write("app.avm", &example());
    let uf2 = s.path("out.uf2");
    let out = avm_jit(&[
        &"flash",
        &"--target",
        &"rp2040",
        &"--mode",
        &"device",
        &"--uf2",
        &uf2,
        &app,
    ]);
    refused(&out, &["--mode device", "--probe or --image"]);
    assert!(!uf2.exists());
}

/// The probe path, up to the probe: without a probe attached it stops before writing anything.
#[test]
fn device_mode_over_a_probe_reaches_the_probe() {
    let s = Scratch::new("probe");
    let app = s.write("app.avm", &example());
    let out = avm_jit(&[
        &"flash",
        &"--target",
        &"rp2040",
        &"--mode",
        &"device",
        &"--probe=2e8a:000c",
        &app,
    ]);
    if out.status.success() {
        return; // a Pico is attached: the run itself is the test
    }
    refused(&out, &["probe"]);
}

/// `AVM_JIT_EMU_PROFILE=FILE` writes the loader's instruction profile to FILE, an output
/// checked like the command's others: naming an input refuses the command before anything is
/// written.
#[test]
fn the_emulator_profile_is_an_output_like_the_others() {
    let s = Scratch::new("profile");
    let app = s.write("app.avm", &example());
    let run = |image: &Path, profile: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_avm-jit"))
            .args(["flash", "--target", "rp2040", "--mode", "device", "--image"])
            .arg(image)
            .arg(&app)
            .env("AVM_JIT_EMU_PROFILE", profile)
            .output()
            .expect("spawn avm-jit")
    };
    let profile = s.path("profile.txt");
    ok(&run(&s.path("a.img"), &profile));
    let text = std::fs::read_to_string(&profile).unwrap();
    let count: u64 = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("instructions: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count > 1_000_000, "{}", &text[..text.len().min(200)]);
    assert!(text.contains("== self ==") && text.contains("compile_module"));

    let image = s.path("b.img");
    refused(&run(&image, &app), &["app.avm"]);
    assert_eq!(std::fs::read(&app).unwrap(), example());
    assert!(!image.exists());
}

//! `avm-jit flash --mode prefill` end to end: the raw AVMs plus the JIT cache AtomVM's own JIT would
//! write, checked against the reference's on-device output (`otp25/armv6m-cache` goldens), the UF2
//! against the image, the module selection and the pass-through of modules that are already native.

use std::path::Path;

use avm_jit_core::avm::{Pack, PackBuilder};
use avm_jit_core::beam::Module;
use avm_jit_core::flash::cache::{self, CacheEntry, WalkEnd};
use avm_jit_core::flash::{MemFlash, NorFlash};
use avm_jit_tests::{golden_dir, golden_index, workspace_root};
use sha2::{Digest, Sha256};

mod output;
mod rp2;
use output::{avm_jit, ok};
use rp2::*;
mod scratch;
use scratch::Scratch;

const FLASH_SIZE: usize = 2 << 20;
const RP2040_FAMILY: u32 = 0xE48B_FF56;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn example_avm() -> Vec<u8> {
    std::fs::read(workspace_root().join("fixtures/example/example.avm")).unwrap()
}

/// A lib.avm of OTP 25 stdlib beams exactly as the golden corpus holds them (input sha256
/// checked against the cache index), so their entries must equal the reference's.
fn golden_lib(golden: &Path, names: &[&str]) -> Vec<u8> {
    let rows = golden_index(golden, "otp25/armv6m-cache");
    let mut b = PackBuilder::new();
    for name in names {
        let path = golden.join(format!("otp25/beams/stdlib/{name}.beam"));
        let beam = std::fs::read(&path).unwrap();
        let row = rows
            .iter()
            .find(|r| r.app == "stdlib" && r.module == *name)
            .unwrap();
        assert_eq!(hex(&Sha256::digest(&beam)), row.beam_sha256, "{name}");
        b.beam(name, &beam, false).unwrap();
    }
    b.finish()
}

/// The finished cache entries of a flash image, from the first sector after the highest AVM end.
fn entries(image: &[u8], avms: &[(u32, &[u8])]) -> (Vec<CacheEntry>, WalkEnd) {
    let highest = avms
        .iter()
        .map(|(at, bytes)| at + Pack::parse(bytes).unwrap().end().data_offset as u32)
        .max()
        .unwrap();
    let start = cache::first_entry_address(highest);
    let mut flash = MemFlash::from_bytes(FLASH_BASE, image.to_vec()).unwrap();
    let mut out = Vec::new();
    let end = flash.end();
    let stop = cache::walk(&mut flash, start, end, |e| out.push(*e)).unwrap();
    (out, stop)
}

/// (module name, address of its `Code` chunk tag) for every module of an AVM at `at`, in order.
fn code_tags(at: u32, avm: &[u8]) -> Vec<(String, u32)> {
    let pack = Pack::parse(avm).unwrap();
    pack.modules()
        .map(|s| {
            let tag = s
                .data
                .windows(4)
                .position(|w| w == b"Code")
                .expect("a Code chunk");
            (
                s.module_name().unwrap().to_string(),
                at + (s.data_offset + tag) as u32,
            )
        })
        .collect()
}

/// `avm` as it must appear in flash once the cache is valid: its end section named `END`.
fn marked_valid(avm: &[u8]) -> Vec<u8> {
    let pack = Pack::parse(avm).unwrap();
    let mut out = avm[..pack.len()].to_vec();
    let name = pack.end().offset + 12;
    assert_eq!(&out[name..name + 3], b"end");
    out[name..name + 3].copy_from_slice(b"END");
    out
}

const LIB_MODULES: [&str; 6] = ["lists", "maps", "orddict", "ordsets", "proplists", "base64"];

#[test]
fn prefill_image_holds_the_raw_avms_and_the_reference_cache_entries() {
    let Some(golden) =
        golden_dir("prefill_image_holds_the_raw_avms_and_the_reference_cache_entries")
    else {
        return;
    };
    check_prefill_image(&golden, "rp2040", "otp25/armv6m-cache", FLASH_SIZE);
}

/// The Pico 2: the same layout with armv6m+thumb2 entries (the reference's thumb2 cache goldens)
/// in its 4 MiB flash.
#[test]
fn prefill_image_for_the_pico2_holds_the_reference_thumb2_cache_entries() {
    let Some(golden) =
        golden_dir("prefill_image_for_the_pico2_holds_the_reference_thumb2_cache_entries")
    else {
        return;
    };
    check_prefill_image(&golden, "rp2350", "otp25/armv6m+thumb2-cache", 4 << 20);
}

/// The Pico 2 on its RISC-V cores: the same layout with riscv32 entries (the reference's riscv32
/// cache goldens) in its 4 MiB flash.
#[test]
fn prefill_image_for_the_pico2_riscv_holds_the_reference_riscv32_cache_entries() {
    let Some(golden) =
        golden_dir("prefill_image_for_the_pico2_riscv_holds_the_reference_riscv32_cache_entries")
    else {
        return;
    };
    check_prefill_image(&golden, "rp2350-riscv", "otp25/riscv32-cache", 4 << 20);
}

fn check_prefill_image(golden: &Path, chip: &str, corpus: &str, flash_size: usize) {
    let s = Scratch::new(&format!("image-{chip}"));
    let lib = golden_lib(golden, &LIB_MODULES);
    let app = example_avm();
    let lib_path = s.write("lib.avm", &lib);
    let app_path = s.write("app.avm", &app);
    let image_path = s.path("flash.bin");
    let text = ok(&avm_jit(&[
        &"flash",
        &"--target",
        &chip,
        &"--mode",
        &"prefill",
        &"--image",
        &image_path,
        &"--lib",
        &lib_path,
        &app_path,
    ]));
    assert!(
        text.contains("14 entries") && text.contains("marked valid"),
        "{text}"
    );
    let image = std::fs::read(&image_path).unwrap();
    assert_eq!(image.len(), flash_size);

    // The AVMs keep their bytecode: the raw inputs, only `end` became `END`.
    let lib_valid = marked_valid(&lib);
    let app_valid = marked_valid(&app);
    assert!(image[off(LIB)..off(LIB) + lib_valid.len()] == lib_valid[..]);
    assert!(image[off(MAIN)..off(MAIN) + app_valid.len()] == app_valid[..]);

    // One entry per module, lib.avm's first, each AVM in pack order, each matched to its module by
    // the exact address of its Code chunk, back to back from the first sector after main.avm.
    let (found, stop) = entries(&image, &[(LIB, &lib), (MAIN, &app)]);
    let expected: Vec<(String, u32)> = code_tags(LIB, &lib)
        .into_iter()
        .chain(code_tags(MAIN, &app))
        .collect();
    assert_eq!(found.len(), expected.len());
    let first =
        cache::first_entry_address(MAIN + Pack::parse(&app).unwrap().end().data_offset as u32);
    assert_eq!(found[0].address, first);
    for pair in found.windows(2) {
        assert_eq!(
            Some(pair[1].address),
            cache::next_entry_address(pair[0].address, pair[0].header.size)
        );
    }
    let last = found.last().unwrap();
    assert_eq!(
        stop,
        WalkEnd::Free {
            address: cache::next_entry_address(last.address, last.header.size).unwrap()
        }
    );
    // Nothing but blank flash after the entries.
    let after = off(cache::next_entry_address(last.address, last.header.size).unwrap());
    assert!(image[after..].iter().all(|&b| b == 0xFF));

    let index = golden_index(golden, corpus);
    let mut with_golden = 0;
    for (entry, (module, code_tag)) in found.iter().zip(&expected) {
        assert_eq!(entry.header.magic, 0x4A74, "{module}");
        assert_eq!(entry.header.version, 1, "{module}");
        assert_eq!(entry.header.code, *code_tag, "{module}");
        let Some(row) = index
            .iter()
            .find(|r| r.app == "stdlib" && r.module == *module)
        else {
            continue;
        };
        let payload = std::fs::read(golden.join(format!("{corpus}/stdlib/{module}.avmN"))).unwrap();
        assert_eq!(hex(&Sha256::digest(&payload)), row.avmn_sha256);
        let labels = u32::from_be_bytes(payload[4..8].try_into().unwrap());
        let code = &payload[20..];
        assert_eq!(entry.header.labels, labels, "{module}");
        assert_eq!(entry.header.size as usize, code.len(), "{module}");
        let at = off(entry.code_address());
        assert!(
            image[at..at + code.len()] == *code,
            "{module}: the cache entry differs from the reference's"
        );
        with_golden += 1;
    }
    assert_eq!(with_golden, LIB_MODULES.len());

    // info --image names every entry's module and calls the cache valid, with no warning.
    let out = ok(&avm_jit(&[
        &"info",
        &"--image",
        &image_path,
        &"--target",
        &chip,
        &"--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cache_valid"], true);
    let listed: Vec<String> = v["cache_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["module"].as_str().unwrap_or("?").to_string())
        .collect();
    let names: Vec<String> = expected.iter().map(|(m, _)| format!("{m}.beam")).collect();
    assert_eq!(listed, names);
    assert_eq!(v["no_native"].as_array().unwrap().len(), 0);
}

#[test]
fn prefill_uf2_decodes_to_the_same_bytes_as_the_image() {
    let Some(golden) = golden_dir("prefill_uf2_decodes_to_the_same_bytes_as_the_image") else {
        return;
    };
    let s = Scratch::new("uf2");
    let lib_path = s.write("lib.avm", &golden_lib(&golden, &LIB_MODULES[..3]));
    let app_path = s.write("app.avm", &example_avm());
    let image_path = s.path("flash.bin");
    let uf2_path = s.path("app.uf2");
    for dest in [&"--image" as &dyn AsRef<std::ffi::OsStr>, &"--uf2"] {
        let file: &dyn AsRef<std::ffi::OsStr> = if dest.as_ref() == "--image" {
            &image_path
        } else {
            &uf2_path
        };
        ok(&avm_jit(&[
            &"flash", &"--mode", &"prefill", dest, file, &"--lib", &lib_path, &app_path,
        ]));
    }
    // Decode block by block (each carries its own address), onto blank flash.
    let blocks = std::fs::read(&uf2_path).unwrap();
    assert_eq!(blocks.len() % 512, 0);
    let mut flash = vec![0xFFu8; FLASH_SIZE];
    for block in blocks.chunks(512) {
        let (data, families) = uf2_decode::convert_from_uf2(block).unwrap();
        let address = *families.get(&RP2040_FAMILY).expect("RP2040 family") as u32;
        let at = off(address);
        flash[at..at + data.len()].copy_from_slice(&data);
    }
    let image = std::fs::read(&image_path).unwrap();
    assert!(flash == image, "UF2 contents differ from the flash image");

    // A boot ROM writes blocks in file order, erasing a sector at its first page: each sector's
    // blocks come together, and the sectors holding the END marks come after every cache entry,
    // so an interrupted copy never leaves a valid-looking cache with entries missing.
    let addresses: Vec<u32> = blocks
        .chunks(512)
        .map(|b| u32::from_le_bytes(b[12..16].try_into().unwrap()))
        .collect();
    let mut sectors: Vec<u32> = addresses.iter().map(|a| a & !0xFFF).collect();
    sectors.dedup();
    let mut unique = sectors.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        sectors.len(),
        unique.len(),
        "a sector's blocks are split up"
    );
    let lib = std::fs::read(&lib_path).unwrap();
    let app = std::fs::read(&app_path).unwrap();
    let end_mark = |base: u32, avm: &[u8]| {
        (base + Pack::parse(avm).unwrap().end().data_offset as u32) & !0xFFF
    };
    let end_sectors = [end_mark(LIB, &lib), end_mark(MAIN, &app)];
    let first_end = sectors
        .iter()
        .position(|s| end_sectors.contains(s))
        .expect("END sectors are in the file");
    assert!(
        sectors[first_end..].iter().all(|s| end_sectors.contains(s)),
        "END sectors are not last: {:x?}",
        &sectors[first_end..]
    );
    let cache_start =
        cache::first_entry_address(MAIN + Pack::parse(&app).unwrap().end().data_offset as u32);
    assert!(sectors[..first_end].iter().any(|&s| s >= cache_start));

    // A UF2 cannot mark a lib.avm already on the Pico valid: without --lib it is refused.
    let out = avm_jit(&[
        &"flash",
        &"--mode",
        &"prefill",
        &"--uf2",
        &s.path("x.uf2"),
        &app_path,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lib"));
    assert!(!s.path("x.uf2").exists());
}

#[test]
fn closure_selection_and_fit_check_before_writing() {
    let Some(golden) = golden_dir("closure_selection_and_fit_check_before_writing") else {
        return;
    };
    let s = Scratch::new("closure");
    // string alone is 256 KB of native code: all of these do not fit next to the example app.
    let lib_path = s.write(
        "lib.avm",
        &golden_lib(
            &golden,
            &[
                "lists", "maps", "string", "io_lib", "queue", "base64", "dict",
            ],
        ),
    );
    let app_path = s.write("app.avm", &example_avm());
    let image_path = s.path("flash.bin");
    let flash = |modules: &str| {
        avm_jit(&[
            &"flash",
            &"--mode",
            &"prefill",
            &"--modules",
            &modules,
            &"--image",
            &image_path,
            &"--lib",
            &lib_path,
            &"--json",
            &app_path,
        ])
    };
    let out = flash("all");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not fit")
            && err.contains("holds 512000")
            && err.contains("string")
            && err.contains("--modules closure")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!image_path.exists(), "a refused prefill wrote the image");

    let v: serde_json::Value = serde_json::from_str(&ok(&flash("closure"))).unwrap();
    let p = &v["prefill"];
    let cached: Vec<String> = p["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["module"].as_str().unwrap().to_string())
        .collect();
    // The example calls lists, maps and erlang (not present); nothing reaches the rest.
    let mut want = vec!["lists".to_string(), "maps".to_string()];
    want.extend(code_tags(MAIN, &example_avm()).into_iter().map(|(m, _)| m));
    assert_eq!(cached, want);
    let mut left: Vec<&str> = p["bytecode"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["module"].as_str().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["base64", "dict", "io_lib", "queue", "string"]);
    // info --image warns about exactly those.
    let text = ok(&avm_jit(&[&"info", &"--image", &image_path]));
    let warning = text
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_else(|| panic!("no warning in {text}"));
    for m in left {
        assert!(warning.contains(m), "{warning}");
    }
    assert!(!warning.contains("lists"), "{warning}");
}

#[test]
fn native_modules_pass_through_every_mode() {
    let s = Scratch::new("native");
    let app_path = s.write("app.avm", &example_avm());
    // `compile` output is what AtomVM's precompiled libraries look like: avmN and no Code.
    ok(&avm_jit(&[
        &"compile",
        &app_path,
        &"-o",
        &s.path("native.avm"),
    ]));
    let native = std::fs::read(s.path("native.avm")).unwrap();
    for m in Pack::parse(&native).unwrap().modules() {
        let module = Module::parse(m.data).unwrap();
        assert!(module.chunk(*b"Code").is_none() && module.chunk(*b"avmN").is_some());
    }
    let native_path = s.path("native.avm");
    for mode in ["aot", "jit", "prefill"] {
        let image = s.path(&format!("{mode}.bin"));
        let text = ok(&avm_jit(&[
            &"flash",
            &"--mode",
            &mode,
            &"--image",
            &image,
            &native_path,
        ]));
        let bytes = std::fs::read(&image).unwrap();
        let want = if mode == "prefill" {
            // No module to cache; the end section is still marked valid.
            assert!(
                text.contains("0 entries") && text.contains("already native"),
                "{text}"
            );
            marked_valid(&native)
        } else {
            native.clone()
        };
        assert!(
            bytes[off(MAIN)..off(MAIN) + want.len()] == want[..],
            "--mode {mode} changed an AVM of native modules"
        );
    }

    // pack keeps the avmN chunk of a precompiled module, and its own info accepts the AVM.
    let beam = s.path("hello_pico.beam");
    ok(&avm_jit(&[
        &"compile",
        &workspace_root().join("fixtures/example/beams/hello_pico.beam"),
        &"-o",
        &beam,
    ]));
    let packed = s.path("packed.avm");
    ok(&avm_jit(&[&"pack", &"-o", &packed, &beam]));
    let bytes = std::fs::read(&packed).unwrap();
    let pack = Pack::parse(&bytes).unwrap();
    let module = Module::parse(pack.modules().next().unwrap().data).unwrap();
    let beam_bytes = std::fs::read(&beam).unwrap();
    let original = Module::parse(&beam_bytes).unwrap();
    assert!(
        original.chunk(*b"avmN").is_some()
            && module.chunk(*b"avmN").map(|c| c.data) == original.chunk(*b"avmN").map(|c| c.data),
        "pack dropped or changed the avmN chunk"
    );
    let text = ok(&avm_jit(&[&"info", &packed]));
    assert!(text.contains("native: avmN"), "{text}");
}

#[test]
fn without_lib_the_lib_already_in_flash_gets_entries_and_is_marked_valid() {
    let Some(golden) =
        golden_dir("without_lib_the_lib_already_in_flash_gets_entries_and_is_marked_valid")
    else {
        return;
    };
    let s = Scratch::new("lib_in_flash");
    let lib = golden_lib(&golden, &LIB_MODULES[..2]);
    let lib_path = s.write("lib.avm", &lib);
    let app_path = s.write("app.avm", &example_avm());
    let image_path = s.path("flash.bin");
    // A lib.avm put there earlier (jit mode: its end section reads `end`).
    ok(&avm_jit(&[
        &"flash",
        &"--mode",
        &"jit",
        &"--image",
        &image_path,
        &"--lib",
        &lib_path,
        &app_path,
    ]));
    ok(&avm_jit(&[
        &"flash",
        &"--mode",
        &"prefill",
        &"--image",
        &image_path,
        &app_path,
    ]));
    let image = std::fs::read(&image_path).unwrap();
    let lib_valid = marked_valid(&lib);
    assert!(image[off(LIB)..off(LIB) + lib_valid.len()] == lib_valid[..]);
    let app = example_avm();
    let (found, _) = entries(&image, &[(LIB, &lib), (MAIN, &app)]);
    let codes: Vec<u32> = found.iter().map(|e| e.header.code).collect();
    let expected: Vec<u32> = code_tags(LIB, &lib)
        .into_iter()
        .chain(code_tags(MAIN, &app))
        .map(|(_, at)| at)
        .collect();
    assert_eq!(codes, expected);
}

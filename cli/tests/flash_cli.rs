//! `avm-jit flash` and `avm-jit info --image` end to end, on flash images and UF2 files.

use std::path::{Path, PathBuf};
use std::process::Output;

use avm_jit_core::avm::{Pack, PackBuilder};
use avm_jit_core::flash::cache::{EntryHeader, ENTRY_HEADER_LEN};
use avm_jit_tests::{beams_in, golden_dir, workspace_root};

mod output;
mod rp2;
use output::{avm_jit, ok, refused};
use rp2::*;
mod scratch;
use scratch::Scratch;

const FLASH_SIZE: usize = 2 << 20;

/// The compiler-fixture beams of the golden corpus (OTP 27).
fn golden_beams(golden: &Path) -> Vec<(String, Vec<u8>)> {
    beams_in(&golden.join("otp27/beams/fixtures"))
}

/// An application AVM made of the first `count` golden beams (the first one marked as start).
fn app_avm(golden: &Path, count: usize) -> Vec<u8> {
    let mut b = PackBuilder::new();
    for (i, (name, beam)) in golden_beams(golden).iter().take(count).enumerate() {
        b.beam(name, beam, i == 0).unwrap();
    }
    b.finish()
}

/// The example application of the fixtures, once it is built; otherwise the golden-beam app
/// (`None`: neither is there, and `test` has been reported as skipped).
fn example_avm(test: &str) -> Option<Vec<u8>> {
    let fixtures = workspace_root().join("fixtures");
    for candidate in [
        "example/example.avm",
        "example/build/example.avm",
        "example.avm",
    ] {
        if let Ok(bytes) = std::fs::read(fixtures.join(candidate)) {
            return Some(bytes);
        }
    }
    golden_dir(test).map(|golden| app_avm(&golden, usize::MAX))
}

fn flash_jit_image(image: &Path, avm: &Path) -> Output {
    avm_jit(&[
        &"flash",
        &"--target",
        &"rp2040",
        &"--mode",
        &"jit",
        &"--image",
        &image,
        &avm,
    ])
}

/// A flash image with recognisable bytes where the firmware lives.
fn image_with_firmware(s: &Scratch) -> PathBuf {
    let mut bytes = vec![0xFFu8; FLASH_SIZE];
    for (i, b) in bytes[..off(0x1010_0000)].iter_mut().enumerate() {
        *b = (i % 253) as u8;
    }
    s.write("flash.bin", &bytes)
}

#[test]
fn jit_mode_writes_the_avm_raw_and_erases_the_cache() {
    let s = Scratch::new("jit");
    let Some(avm) = example_avm("jit_mode_writes_the_avm_raw_and_erases_the_cache") else {
        return;
    };
    let app = s.write("app.avm", &avm);
    let image = image_with_firmware(&s);
    let before = std::fs::read(&image).unwrap();
    ok(&flash_jit_image(&image, &app));
    let after = std::fs::read(&image).unwrap();
    assert_eq!(after.len(), FLASH_SIZE);
    assert_eq!(&after[off(MAIN)..off(MAIN) + avm.len()], &avm[..]);
    assert!(
        after[off(MAIN) + avm.len()..].iter().all(|&b| b == 0xFF),
        "cache region not blank"
    );
    assert_eq!(
        &after[..off(MAIN)],
        &before[..off(MAIN)],
        "bytes below main.avm changed"
    );
}

#[test]
fn missing_image_is_created_blank() {
    let Some(golden) = golden_dir("missing_image_is_created_blank") else {
        return;
    };
    let s = Scratch::new("create");
    let avm = app_avm(&golden, 2);
    let app = s.write("app.avm", &avm);
    let image = s.path("new.bin");
    ok(&flash_jit_image(&image, &app));
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(bytes.len(), FLASH_SIZE);
    assert!(bytes[..off(MAIN)].iter().all(|&b| b == 0xFF));
    assert_eq!(&bytes[off(MAIN)..off(MAIN) + avm.len()], &avm[..]);
}

/// Put a finished cache entry for the first module of main.avm at the cache start and mark the
/// AVM's end section `END`, as AtomVM does after compiling on the device.
fn fake_warm_cache(image: &Path, avm: &[u8], code_len: u32) -> u32 {
    let pack = Pack::parse(avm).unwrap();
    let first = pack.modules().next().unwrap();
    // AtomVM matches an entry by the exact address of the module's `Code` chunk tag.
    let code = avm_jit_core::beam::Module::parse(first.data)
        .unwrap()
        .chunk(*b"Code")
        .unwrap();
    let code_chunk = MAIN + (first.data_offset + code.offset - 8) as u32;
    let end_name = MAIN + pack.end().offset as u32 + 12;
    let start = (MAIN + pack.end().data_offset as u32 + 4095) & !4095;
    let mut bytes = std::fs::read(image).unwrap();
    let header = EntryHeader::new(1, code_chunk, 9, code_len);
    bytes[off(start)..off(start) + 16].copy_from_slice(&header.to_bytes());
    let code = off(start + ENTRY_HEADER_LEN);
    bytes[code..code + code_len as usize].fill(0x00);
    bytes[off(end_name)..off(end_name) + 3].copy_from_slice(b"END");
    std::fs::write(image, bytes).unwrap();
    start
}

#[test]
fn info_reports_avm_modules_and_cache_entries() {
    let Some(golden) = golden_dir("info_reports_avm_modules_and_cache_entries") else {
        return;
    };
    let s = Scratch::new("info");
    let avm = app_avm(&golden, 3);
    let app = s.write("app.avm", &avm);
    let image = s.path("flash.bin");
    ok(&flash_jit_image(&image, &app));

    let out = ok(&avm_jit(&[&"info", &"--image", &image, &"--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let main = &v["avms"][0];
    assert_eq!(main["partition"], "main.avm");
    assert_eq!(main["modules"].as_array().unwrap().len(), 3);
    assert_eq!(main["modules"][0]["start"], true);
    assert_eq!(main["modules"][0]["native"], false);
    assert_eq!(v["cache_valid"], false);
    assert_eq!(v["cache_entries"].as_array().unwrap().len(), 0);

    let start = fake_warm_cache(&image, &avm, 40);
    let out = ok(&avm_jit(&[&"info", &"--image", &image, &"--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cache_start"], start);
    assert_eq!(v["cache_valid"], true);
    let entries = v["cache_entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["magic"], 0x4A74);
    assert_eq!(entries[0]["native_size"], 40);
    let first_module = golden_beams(&golden)[0].0.clone() + ".beam";
    assert_eq!(entries[0]["module"], first_module.as_str());

    let text = ok(&avm_jit(&[&"info", &"--image", &image]));
    assert!(
        text.contains("valid") && text.contains(&first_module),
        "{text}"
    );
}

#[test]
fn reflashing_a_smaller_avm_leaves_no_stale_cache() {
    let Some(golden) = golden_dir("reflashing_a_smaller_avm_leaves_no_stale_cache") else {
        return;
    };
    let s = Scratch::new("stale");
    let big = app_avm(&golden, usize::MAX);
    let small = app_avm(&golden, 1);
    assert!(small.len() + 4096 < big.len());
    let image = s.path("flash.bin");
    ok(&flash_jit_image(&image, &s.write("big.avm", &big)));
    fake_warm_cache(&image, &big, 3000);
    ok(&flash_jit_image(&image, &s.write("small.avm", &small)));
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(&bytes[off(MAIN)..off(MAIN) + small.len()], &small[..]);
    assert!(bytes[off(MAIN) + small.len()..].iter().all(|&b| b == 0xFF));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&avm_jit(&[&"info", &"--image", &image, &"--json"]))).unwrap();
    assert_eq!(v["cache_entries"].as_array().unwrap().len(), 0);
    assert_eq!(v["avms"][0]["end_name"], "end");
}

#[test]
fn uf2_decodes_to_the_same_bytes_as_the_image() {
    let s = Scratch::new("uf2");
    let Some(avm) = example_avm("uf2_decodes_to_the_same_bytes_as_the_image") else {
        return;
    };
    let app = s.write("app.avm", &avm);
    let image = s.path("flash.bin");
    let uf2 = s.path("app.uf2");
    ok(&flash_jit_image(&image, &app));
    ok(&avm_jit(&[
        &"flash",
        &"--target",
        &"rp2040",
        &"--mode",
        &"jit",
        &"--uf2",
        &uf2,
        &app,
    ]));
    let blocks = std::fs::read(&uf2).unwrap();
    assert_eq!(blocks.len() % 512, 0);
    let (bin, families) = uf2_decode::convert_from_uf2(&blocks).unwrap();
    assert_eq!(families.len(), 1);
    assert_eq!(families.get(&0xE48B_FF56), Some(&u64::from(MAIN)));
    let image = std::fs::read(&image).unwrap();
    assert_eq!(bin.len(), FLASH_SIZE - off(MAIN));
    assert!(
        bin == image[off(MAIN)..],
        "UF2 contents differ from the flash image"
    );
}

#[test]
fn refusals_name_the_file_and_write_nothing() {
    let Some(golden) = golden_dir("refusals_name_the_file_and_write_nothing") else {
        return;
    };
    let s = Scratch::new("refuse");
    let avm = app_avm(&golden, 2);
    let app = s.write("app.avm", &avm);
    let image = s.path("flash.bin");
    let jit = |extra: &[&dyn AsRef<std::ffi::OsStr>], file: &Path| {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
            vec![&"flash", &"--mode", &"jit", &"--image", &image];
        args.extend_from_slice(extra);
        let file = file.to_path_buf();
        let mut args: Vec<std::ffi::OsString> =
            args.iter().map(|a| a.as_ref().to_owned()).collect();
        args.push(file.into_os_string());
        let refs: Vec<&dyn AsRef<std::ffi::OsStr>> = args
            .iter()
            .map(|a| a as &dyn AsRef<std::ffi::OsStr>)
            .collect();
        avm_jit(&refs)
    };

    let truncated = s.write("truncated.avm", &avm[..avm.len() - 10]);
    refused(
        &jit(&[], &truncated),
        &["truncated.avm", "not a valid AVM", "offset"],
    );
    let mut corrupt = avm.clone();
    corrupt[27] = 0x33;
    refused(
        &jit(&[], &s.write("corrupt.avm", &corrupt)),
        &["corrupt.avm", "offset 0x18"],
    );
    refused(&jit(&[], &s.path("missing.avm")), &["missing.avm"]);

    let mut nostart = PackBuilder::new();
    nostart
        .beam("lonely", &golden_beams(&golden)[0].1, false)
        .unwrap();
    refused(
        &jit(&[], &s.write("nostart.avm", &nostart.finish())),
        &["nostart.avm", "start/0"],
    );

    let mut huge = PackBuilder::new();
    huge.beam("app", &golden_beams(&golden)[0].1, true).unwrap();
    huge.file("app/priv/blob", &vec![7u8; 600 << 10]).unwrap();
    let huge = s.write("huge.avm", &huge.finish());
    refused(&jit(&[], &huge), &["huge.avm", "partition holds"]);

    refused(
        &jit(&[&"--address", &"0x10180100"], &app),
        &["0x10180100", "not aligned"],
    );
    refused(&jit(&[&"--address", &"0x10080000"], &app), &["firmware"]);
    refused(
        &jit(&[&"--address", &"0x10170000"], &app),
        &["lib.avm partition"],
    );
    let flush_with_end = format!("{:#x}", 0x1020_0000 - ((avm.len() as u32 + 4095) & !4095));
    refused(
        &jit(&[&"--address", &flush_with_end], &app),
        &["no room for the JIT cache"],
    );
    refused(
        &jit(&[&"--address", &"0x101ff000"], &app),
        &["partition holds 4096"],
    );
    refused(
        &jit(&[&"--cache-size", &"1M"], &app),
        &["runs past the end of flash"],
    );
    refused(
        &jit(&[&"--cache-size", &"1000"], &app),
        &["multiple of 4 KiB"],
    );
    refused(
        &jit(&[&"--lib", &truncated], &app),
        &["truncated.avm", "not a valid AVM"],
    );
    assert!(!image.exists(), "a refused flash created the image");

    // AOT mode checks the input before compiling it.
    let out = avm_jit(&[&"flash", &"--mode", &"aot", &"--image", &image, &truncated]);
    refused(&out, &["truncated.avm", "not a valid AVM"]);
    let out = avm_jit(&[
        &"flash",
        &"--mode",
        &"aot",
        &"--uf2",
        &s.path("x.uf2"),
        &truncated,
    ]);
    refused(&out, &["truncated.avm"]);
}

#[test]
fn probe_errors_stop_at_the_probe_boundary() {
    let Some(golden) = golden_dir("probe_errors_stop_at_the_probe_boundary") else {
        return;
    };
    let s = Scratch::new("probe");
    let app = s.write("app.avm", &app_avm(&golden, 1));
    let out = avm_jit(&[&"flash", &"--mode", &"jit", &"--probe=not-a-selector", &app]);
    refused(&out, &["bad probe selector"]);
    // A probe that is not attached.
    let out = avm_jit(&[
        &"flash",
        &"--mode",
        &"jit",
        &"--probe=dead:beef:nothere",
        &app,
    ]);
    refused(&out, &["cannot open probe dead:beef:nothere"]);
    // Refusals still come before any probe is looked for.
    let bad = s.write("bad.avm", b"#!/usr/bin/env AtomVM\n\0\0");
    refused(
        &avm_jit(&[&"flash", &"--probe", &bad]),
        &["bad.avm", "not a valid AVM"],
    );
}

#[test]
fn aot_mode_writes_native_code_in_every_module() {
    let s = Scratch::new("aot");
    let Some(avm) = example_avm("aot_mode_writes_native_code_in_every_module") else {
        return;
    };
    let app = s.write("app.avm", &avm);
    let image = s.path("flash.bin");
    ok(&avm_jit(&[
        &"flash",
        &"--target",
        &"rp2040",
        &"--mode",
        &"aot",
        &"--image",
        &image,
        &app,
    ]));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&avm_jit(&[&"info", &"--image", &image, &"--json"]))).unwrap();
    let modules = v["avms"][0]["modules"].as_array().unwrap();
    assert!(!modules.is_empty());
    for m in modules.iter().filter(|m| m["beam"] == true) {
        assert_eq!(m["native"], true, "{m}");
    }
    let bytes = std::fs::read(&image).unwrap();
    let pack = Pack::parse(&bytes[off(MAIN)..]).unwrap();
    assert!(bytes[off(MAIN) + pack.len()..].iter().all(|&b| b == 0xFF));
}

//! `avm-jit flash --target rp2350` (Pico 2) end to end: the RP2350's layout and code variant in flash
//! images, UF2 files as its boot ROM takes them (checked with the independent `uf2-decode`), and
//! what is refused before anything is written.

use std::path::Path;

use avm_jit_core::avm::{Pack, PackBuilder};
use avm_jit_core::beam::Module;
use avm_jit_tests::{golden_dir, golden_index};
use sha2::{Digest, Sha256};

mod output;
mod rp2;
use output::{ok, refused, run as avm_jit};
use rp2::*;
mod scratch;
use scratch::Scratch;

/// OTP 25 stdlib modules the reference compiled for both variants.
const MODULES: [&str; 3] = ["orddict", "maps", "proplists"];

/// The beams of [`MODULES`], checked against the golden index so that the reference's output is
/// for exactly these inputs.
fn golden_modules(golden: &Path) -> Vec<(String, Vec<u8>)> {
    let index = golden_index(golden, "otp25/armv6m+thumb2");
    MODULES
        .iter()
        .map(|m| {
            let path = golden.join(format!("otp25/beams/stdlib/{m}.beam"));
            let beam = std::fs::read(&path).unwrap();
            let row = index
                .iter()
                .find(|r| r.app == "stdlib" && r.module == *m)
                .unwrap();
            let sha: String = Sha256::digest(&beam)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(sha, row.beam_sha256, "{}", path.display());
            (m.to_string(), beam)
        })
        .collect()
}

/// An application AVM of the golden modules, the first one marked as start.
fn app_avm(golden: &Path) -> Vec<u8> {
    let mut b = PackBuilder::new();
    for (i, (name, beam)) in golden_modules(golden).iter().enumerate() {
        b.beam(&format!("{name}.beam"), beam, i == 0).unwrap();
    }
    b.finish()
}

/// Module name → `avmN` payload for every module of the AVM at `address` in a flash image.
fn native_in_image(image: &[u8], address: u32) -> Vec<(String, Vec<u8>)> {
    let pack = Pack::parse(&image[off(address)..]).unwrap();
    pack.modules()
        .map(|s| {
            let module = Module::parse(s.data).unwrap();
            let name = String::from_utf8_lossy(s.name)
                .trim_end_matches(".beam")
                .to_string();
            let native = module.native().unwrap().expect("no avmN chunk");
            (name, native.bytes.to_vec())
        })
        .collect()
}

#[test]
fn aot_compiles_for_the_chip_byte_for_byte_as_the_reference() {
    let Some(golden) = golden_dir("aot_compiles_for_the_chip_byte_for_byte_as_the_reference")
    else {
        return;
    };
    let s = Scratch::new("aot");
    let app = s.write("app.avm", &app_avm(&golden));
    for (chip, variant_dir, flash_size) in [
        ("rp2350", "armv6m+thumb2", PICO2_FLASH),
        ("rp2040", "armv6m", 2 << 20),
    ] {
        let image = s.path(&format!("{chip}.bin"));
        ok(&avm_jit(&[
            "flash".as_ref(),
            "--target".as_ref(),
            chip.as_ref(),
            "--mode".as_ref(),
            "aot".as_ref(),
            "--image".as_ref(),
            image.as_os_str(),
            app.as_os_str(),
        ]));
        let bytes = std::fs::read(&image).unwrap();
        assert_eq!(bytes.len(), flash_size, "{chip}: image size");
        let natives = native_in_image(&bytes, MAIN);
        assert_eq!(natives.len(), MODULES.len());
        for (name, payload) in natives {
            let reference =
                std::fs::read(golden.join(format!("otp25/{variant_dir}/stdlib/{name}.avmN")))
                    .unwrap();
            assert!(
                payload == reference,
                "{chip}: {name}'s native code differs from the reference's {variant_dir} code"
            );
        }
        let pack = Pack::parse(&bytes[off(MAIN)..]).unwrap();
        assert!(
            bytes[off(MAIN) + pack.len()..].iter().all(|&b| b == 0xFF),
            "{chip}: cache region not erased"
        );
    }
}

/// The 512-byte blocks of a UF2 file as (flags, address, size, block_no, num_blocks, family).
fn headers(uf2: &[u8]) -> Vec<[u32; 6]> {
    uf2.chunks_exact(512)
        .map(|b| {
            let w = |i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
            assert_eq!(
                (w(0), w(1), w(127)),
                (0x0A32_4655, 0x9E5D_5157, 0x0AB1_6F30)
            );
            [w(2), w(3), w(4), w(5), w(6), w(7)]
        })
        .collect()
}

#[test]
fn uf2_for_the_pico_2_decodes_to_the_image_bytes() {
    let Some(golden) = golden_dir("uf2_for_the_pico_2_decodes_to_the_image_bytes") else {
        return;
    };
    let s = Scratch::new("uf2");
    let app = s.write("app.avm", &app_avm(&golden));
    for mode in ["jit", "aot"] {
        let image = s.path(&format!("{mode}.bin"));
        let uf2 = s.path(&format!("{mode}.uf2"));
        for dest in [("--image", &image), ("--uf2", &uf2)] {
            ok(&avm_jit(&[
                "flash".as_ref(),
                "--target".as_ref(),
                "rp2350".as_ref(),
                "--mode".as_ref(),
                mode.as_ref(),
                dest.0.as_ref(),
                dest.1.as_os_str(),
                app.as_os_str(),
            ]));
        }
        let image = std::fs::read(&image).unwrap();
        assert_eq!(image.len(), PICO2_FLASH);
        let blocks = std::fs::read(&uf2).unwrap();
        assert_eq!(blocks.len() % 512, 0);

        // First picotool's RP2350-E10 block, aimed at the last page of the 4 MiB flash (where
        // picotool's 0x10ffff00 lands on it): family ABSOLUTE, 0 of 2, ignore-block extension.
        let h = headers(&blocks);
        assert_eq!(
            h[0],
            [
                FLAG_FAMILY_ID_PRESENT | FLAG_EXTENSION_FLAGS_PRESENT,
                0x103F_FF00,
                256,
                0,
                2,
                FAMILY_ABSOLUTE
            ]
        );
        assert!(blocks[32..32 + 256].iter().all(|&b| b == 0xEF));
        assert_eq!(
            u32::from_le_bytes(blocks[288..292].try_into().unwrap()),
            EXTENSION_RP2_IGNORE_BLOCK
        );
        // Then the flash contents as DATA blocks, numbered 0..n of n, one page each, in order.
        let data = &h[1..];
        for (i, b) in data.iter().enumerate() {
            assert_eq!(
                [b[0], b[2], b[3], b[4], b[5]],
                [
                    FLAG_FAMILY_ID_PRESENT,
                    256,
                    i as u32,
                    data.len() as u32,
                    FAMILY_DATA
                ]
            );
            assert_eq!(b[1], MAIN + 256 * i as u32);
        }

        let (bin, families) = uf2_decode::convert_from_uf2(&blocks).unwrap();
        assert_eq!(families.len(), 2, "{families:?}");
        assert_eq!(families.get(&FAMILY_ABSOLUTE), Some(&0x103F_FF00));
        assert_eq!(families.get(&FAMILY_DATA), Some(&u64::from(MAIN)));
        // uf2-decode concatenates the families: the E10 page, then everything from main.avm on.
        assert_eq!(bin.len(), 256 + PICO2_FLASH - off(MAIN));
        assert!(
            bin[256..] == image[off(MAIN)..],
            "{mode}: UF2 contents differ from the flash image"
        );
    }
}

#[test]
fn info_reads_a_pico_2_image() {
    let Some(golden) = golden_dir("info_reads_a_pico_2_image") else {
        return;
    };
    let s = Scratch::new("info");
    let app = s.write("app.avm", &app_avm(&golden));
    let image = s.path("flash.bin");
    let flash = |extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = vec!["flash".into(), "--target".into()];
        args.extend(extra.iter().map(Into::into));
        args.extend(["--image".into(), image.clone().into(), app.clone().into()]);
        avm_jit(&args)
    };
    ok(&flash(&["rp2350", "--mode", "aot"]));
    let v: serde_json::Value = serde_json::from_str(&ok(&avm_jit(&[
        "info".as_ref(),
        "--image".as_ref(),
        image.as_os_str(),
        "--target".as_ref(),
        "rp2350".as_ref(),
        "--json".as_ref(),
    ])))
    .unwrap();
    assert_eq!(v["avms"][0]["partition"], "main.avm");
    assert_eq!(v["avms"][0]["address"], MAIN);
    let modules = v["avms"][0]["modules"].as_array().unwrap();
    assert_eq!(modules.len(), MODULES.len());
    assert!(modules.iter().all(|m| m["native"] == true), "{modules:?}");
    assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{v}");
    // The whole 4 MiB is the Pico 2's: an RP2040-sized reading refuses the larger image.
    let out = avm_jit(&[
        "info".as_ref(),
        "--image".as_ref(),
        image.as_os_str(),
        "--target".as_ref(),
        "rp2040".as_ref(),
    ]);
    refused(&out, &["more than the 2097152 bytes of flash"]);
    // A larger flash given explicitly moves the end of the cache region.
    ok(&flash(&["rp2350", "--mode", "jit", "--flash-size", "16M"]));
    assert_eq!(std::fs::read(&image).unwrap().len(), 16 << 20);
}

#[test]
fn refusals_come_before_anything_is_written() {
    let Some(golden) = golden_dir("refusals_come_before_anything_is_written") else {
        return;
    };
    let s = Scratch::new("refuse");
    let avm = app_avm(&golden);
    let app = s.write("app.avm", &avm);
    let image = s.path("flash.bin");
    let uf2 = s.path("app.uf2");
    let flash = |target: &str, mode: &str, extra: &[&dyn AsRef<std::ffi::OsStr>], file: &Path| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "flash".into(),
            "--target".into(),
            target.into(),
            "--mode".into(),
            mode.into(),
        ];
        args.extend(extra.iter().map(|a| a.as_ref().to_owned()));
        args.push(file.into());
        avm_jit(&args)
    };
    let to_image: [&dyn AsRef<std::ffi::OsStr>; 2] = [&"--image", &image];
    let to_uf2: [&dyn AsRef<std::ffi::OsStr>; 2] = [&"--uf2", &uf2];

    // Not chips: code variants, anything else.
    let chips = "rp2040 (Raspberry Pi Pico), rp2350 (Raspberry Pi Pico 2), rp2350-riscv";
    for target in [
        "armv6m",
        "armv6m+thumb2",
        "riscv32",
        "rp2350_riscv",
        "pico",
        "",
    ] {
        refused(
            &flash(target, "jit", &to_image, &app),
            &["unknown chip", chips],
        );
    }
    let out = avm_jit(&[
        "info".as_ref(),
        "--image".as_ref(),
        image.as_os_str(),
        "--target".as_ref(),
        "armv6m".as_ref(),
    ]);
    refused(&out, &["unknown chip `armv6m`", chips]);

    // Flash the chip cannot map.
    for size in ["32M", "0x1001000"] {
        let extra: [&dyn AsRef<std::ffi::OsStr>; 4] = [&"--image", &image, &"--flash-size", &size];
        refused(&flash("rp2350", "jit", &extra, &app), &["16 MiB", "Pico 2"]);
        refused(&flash("rp2040", "aot", &extra, &app), &["16 MiB", "Pico"]);
    }

    // Precompiled code of the other chip's variant, in main.avm or in lib.avm.
    for (variant, wrong_chip, says) in [
        (
            "armv6m",
            "rp2350",
            ["carries armv6m native code", "runs armv6m+thumb2 code only"],
        ),
        (
            "armv6m+thumb2",
            "rp2040",
            ["carries armv6m+thumb2 native code", "runs armv6m code only"],
        ),
    ] {
        let compiled = s.path(&format!("{variant}.avm"));
        ok(&avm_jit(&[
            "compile".as_ref(),
            "--quiet".as_ref(),
            "--target".as_ref(),
            variant.as_ref(),
            "-o".as_ref(),
            compiled.as_os_str(),
            app.as_os_str(),
        ]));
        // The first module's avmN chunk: where the message points.
        let bytes = std::fs::read(&compiled).unwrap();
        let pack = Pack::parse(&bytes).unwrap();
        let first = pack.modules().next().unwrap();
        let chunk = Module::parse(first.data).unwrap().chunk(*b"avmN").unwrap();
        let at = format!("offset {:#x}", first.data_offset + chunk.offset);
        let name = compiled.file_name().unwrap().to_str().unwrap();
        for dest in [&to_image, &to_uf2] {
            refused(
                &flash(wrong_chip, "jit", dest, &compiled),
                &[name, "orddict", &at, says[0], says[1]],
            );
            let mut with_lib: Vec<&dyn AsRef<std::ffi::OsStr>> = dest.to_vec();
            with_lib.extend([&"--lib" as &dyn AsRef<std::ffi::OsStr>, &compiled]);
            refused(&flash(wrong_chip, "jit", &with_lib, &app), &[name, says[0]]);
        }
        // The right chip takes it as it is.
        let right = if wrong_chip == "rp2350" {
            "rp2040"
        } else {
            "rp2350"
        };
        let ok_image = s.path(&format!("{right}.bin"));
        let to_ok: [&dyn AsRef<std::ffi::OsStr>; 2] = [&"--image", &ok_image];
        ok(&flash(right, "jit", &to_ok, &compiled));
        let written = std::fs::read(&ok_image).unwrap();
        assert_eq!(&written[off(MAIN)..off(MAIN) + bytes.len()], &bytes[..]);
        // AOT mode cannot recompile precompiled modules (they have no Code chunk left).
        refused(
            &flash(wrong_chip, "aot", &to_image, &compiled),
            &[name, &at, says[0], says[1]],
        );
    }
    assert!(!image.exists(), "a refused flash created the image");
    assert!(!uf2.exists(), "a refused flash created the UF2 file");

    // A Pico 2 behind a probe that is not there: the run gets as far as looking for it.
    let to_probe: [&dyn AsRef<std::ffi::OsStr>; 1] = [&"--probe=dead:beef:nothere"];
    refused(
        &flash("rp2350", "aot", &to_probe, &app),
        &["cannot open probe dead:beef:nothere"],
    );
}

#[test]
fn uf2_for_the_pico_keeps_the_rp2040_family_alone() {
    let Some(golden) = golden_dir("uf2_for_the_pico_keeps_the_rp2040_family_alone") else {
        return;
    };
    let s = Scratch::new("uf2_pico");
    let app = s.write("app.avm", &app_avm(&golden));
    let uf2 = s.path("app.uf2");
    ok(&avm_jit(&[
        "flash".as_ref(),
        "--mode".as_ref(),
        "jit".as_ref(),
        "--uf2".as_ref(),
        uf2.as_os_str(),
        app.as_os_str(),
    ]));
    let blocks = std::fs::read(&uf2).unwrap();
    let h = headers(&blocks);
    assert_eq!(h[0][1], MAIN, "the RP2040 file has no E10 block");
    assert!(h
        .iter()
        .all(|b| b[0] == FLAG_FAMILY_ID_PRESENT && b[5] == FAMILY_RP2040));
}

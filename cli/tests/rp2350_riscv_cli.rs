//! `avm-jit flash --target rp2350-riscv` (Pico 2 running AtomVM on its Hazard3 RISC-V cores) end to
//! end: riscv32 code at the RP2350's addresses, byte for byte as the reference's riscv32 backend
//! compiles it, UF2 files checked with the independent `uf2-decode`, `info` and `compare` on such
//! images, and every refusal (other architectures' code, device mode, probe) before anything is
//! written. The prefill cache is checked against the riscv32-cache goldens in `prefill_cli.rs`.

use std::path::{Path, PathBuf};
use std::process::Output;

use avm_jit_core::avm::{Pack, PackBuilder};
use avm_jit_core::beam::Module;
use avm_jit_tests::{golden_dir, golden_index, workspace_root};
use sha2::{Digest, Sha256};

mod output;
mod rp2;
use output::{ok, refused, run as avm_jit};
use rp2::*;
mod scratch;
use scratch::Scratch;

/// AtomVM's JIT_ARCH_RISCV32 and JIT_VARIANT_PIC.
const ARCH_RISCV32: u16 = 4;
const VARIANT_PIC: u16 = 1;

/// `avm-jit flash --target CHIP --mode MODE EXTRA... AVM`.
fn flash(chip: &str, mode: &str, extra: &[&Path], avm: &Path) -> Output {
    let mut args: Vec<std::ffi::OsString> = vec![
        "flash".into(),
        "--target".into(),
        chip.into(),
        "--mode".into(),
        mode.into(),
    ];
    args.extend(extra.iter().map(|a| a.as_os_str().to_owned()));
    args.push(avm.into());
    avm_jit(&args)
}

fn example_avm() -> PathBuf {
    workspace_root().join("fixtures/example/example.avm")
}

/// OTP 25 stdlib modules of the reference's riscv32 goldens.
const MODULES: [&str; 3] = ["orddict", "maps", "proplists"];

/// An application AVM of [`MODULES`] (the beams the riscv32 goldens were made from), the first
/// one marked as start.
fn app_avm(golden: &Path) -> Vec<u8> {
    let index = golden_index(golden, "otp25/riscv32");
    let mut b = PackBuilder::new();
    for (i, m) in MODULES.iter().enumerate() {
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
        b.beam(&format!("{m}.beam"), &beam, i == 0).unwrap();
    }
    b.finish()
}

/// Module name → (`avmN` payload, its (arch, variant) entries) for every module of the AVM at
/// `address` in a flash image.
type Natives = Vec<(String, Vec<u8>, Vec<(u16, u16)>)>;
fn natives_in_image(image: &[u8], address: u32) -> Natives {
    let pack = Pack::parse(&image[off(address)..]).unwrap();
    pack.modules()
        .map(|s| {
            let module = Module::parse(s.data).unwrap();
            let name = String::from_utf8_lossy(s.name)
                .trim_end_matches(".beam")
                .to_string();
            let native = module.native().unwrap().expect("no avmN chunk");
            let arches = native.arches().map(|a| (a.arch, a.variant)).collect();
            (name, native.bytes.to_vec(), arches)
        })
        .collect()
}

/// The acceptance: the example application in AOT mode as a UF2 file holds riscv32 code
/// only, in the documented family (DATA after picotool's RP2350-E10 block, as for the Pico 2's ARM
/// cores), and decodes to the bytes of the same flash written as an image.
#[test]
fn aot_uf2_of_the_example_holds_riscv32_code_in_pico2_blocks() {
    let s = Scratch::new("example");
    let uf2 = s.path("example.uf2");
    let image = s.path("example.bin");
    let text = ok(&flash(
        "rp2350-riscv",
        "aot",
        &[Path::new("--uf2"), &uf2],
        &example_avm(),
    ));
    assert!(
        text.contains("aot mode") && text.contains("0x10180000"),
        "{text}"
    );
    ok(&flash(
        "rp2350-riscv",
        "aot",
        &[Path::new("--image"), &image],
        &example_avm(),
    ));
    let image = std::fs::read(&image).unwrap();
    assert_eq!(image.len(), PICO2_FLASH);

    let natives = natives_in_image(&image, MAIN);
    assert!(natives.len() >= 2, "{}", natives.len());
    for (name, _, arches) in &natives {
        assert_eq!(
            arches,
            &[(ARCH_RISCV32, VARIANT_PIC)],
            "{name}: not riscv32 code"
        );
    }

    let blocks = std::fs::read(&uf2).unwrap();
    assert_eq!(blocks.len() % 512, 0);
    let (bin, families) = uf2_decode::convert_from_uf2(&blocks).unwrap();
    assert_eq!(families.len(), 2, "{families:x?}");
    assert_eq!(families.get(&FAMILY_ABSOLUTE), Some(&0x103F_FF00));
    assert_eq!(families.get(&FAMILY_DATA), Some(&u64::from(MAIN)));
    assert_eq!(bin.len(), 256 + PICO2_FLASH - off(MAIN));
    assert!(
        bin[256..] == image[off(MAIN)..],
        "the UF2 contents differ from the flash image"
    );
}

/// AOT mode compiles with the riscv32 backend: each module's `avmN` is the reference's riscv32
/// golden byte for byte; `info` and `compare` read the image with `--target rp2350-riscv`.
#[test]
fn aot_image_holds_the_reference_riscv32_code_and_info_and_compare_read_it() {
    let Some(golden) =
        golden_dir("aot_image_holds_the_reference_riscv32_code_and_info_and_compare_read_it")
    else {
        return;
    };
    let s = Scratch::new("aot");
    let app = s.write("app.avm", &app_avm(&golden));
    let image = s.path("flash.bin");
    ok(&flash(
        "rp2350-riscv",
        "aot",
        &[Path::new("--image"), &image],
        &app,
    ));
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(bytes.len(), PICO2_FLASH);
    let natives = natives_in_image(&bytes, MAIN);
    assert_eq!(natives.len(), MODULES.len());
    for (name, payload, _) in natives {
        let reference =
            std::fs::read(golden.join(format!("otp25/riscv32/stdlib/{name}.avmN"))).unwrap();
        assert!(
            payload == reference,
            "{name}'s native code differs from the reference's riscv32 code"
        );
    }
    let pack = Pack::parse(&bytes[off(MAIN)..]).unwrap();
    assert!(bytes[off(MAIN) + pack.len()..].iter().all(|&b| b == 0xFF));

    let v: serde_json::Value = serde_json::from_str(&ok(&avm_jit(&[
        "info".as_ref(),
        "--image".as_ref(),
        image.as_os_str(),
        "--target".as_ref(),
        "rp2350-riscv".as_ref(),
        "--json".as_ref(),
    ])))
    .unwrap();
    assert_eq!(v["avms"][0]["address"], MAIN);
    let modules = v["avms"][0]["modules"].as_array().unwrap();
    assert_eq!(modules.len(), MODULES.len());
    assert!(modules.iter().all(|m| m["native"] == true), "{modules:?}");
    assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{v}");

    // compare: the image against the same modules compiled for riscv32 (identical), and against
    // them compiled for the ARM cores (different code).
    for (variant, same) in [("riscv32", true), ("armv6m+thumb2", false)] {
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
        let out = avm_jit(&[
            "compare".as_ref(),
            "--target".as_ref(),
            "rp2350-riscv".as_ref(),
            image.as_os_str(),
            compiled.as_os_str(),
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.success(), same, "{variant}: {text}");
        let summary = if same {
            format!("{} identical, 0 different", MODULES.len())
        } else {
            format!("0 identical, {} different", MODULES.len())
        };
        assert!(text.contains(&summary), "{variant}: {text}");
    }
}

/// JIT mode leaves the bytecode for the device's riscv32 JIT: main.avm as given, cache erased.
#[test]
fn jit_image_keeps_the_avm_and_erases_the_cache() {
    let s = Scratch::new("jit");
    let image = s.path("flash.bin");
    let avm = std::fs::read(example_avm()).unwrap();
    ok(&flash(
        "rp2350-riscv",
        "jit",
        &[Path::new("--image"), &image],
        &example_avm(),
    ));
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(bytes.len(), PICO2_FLASH);
    assert!(bytes[off(MAIN)..off(MAIN) + avm.len()] == avm[..]);
    assert!(bytes[off(MAIN) + avm.len()..].iter().all(|&b| b == 0xFF));
}

/// `compare` of a prefilled riscv32 cache against the same app compiled ahead of time for riscv32:
/// every module identical in its own layout, the two layouts explained with riscv32 decoding (jump
/// table entries and label blocks found through the riscv32 jump table).
#[test]
fn compare_explains_a_riscv32_cache_against_riscv32_aot() {
    let s = Scratch::new("cmp-cache");
    let image = s.path("flash.bin");
    ok(&flash(
        "rp2350-riscv",
        "prefill",
        &[Path::new("--image"), &image],
        &example_avm(),
    ));
    let aot = s.path("aot.avm");
    ok(&avm_jit(&[
        "compile".as_ref(),
        "-q".as_ref(),
        "--target".as_ref(),
        "riscv32".as_ref(),
        "-o".as_ref(),
        aot.as_os_str(),
        example_avm().as_os_str(),
    ]));
    let text = ok(&avm_jit(&[
        "compare".as_ref(),
        "--target".as_ref(),
        "rp2350-riscv".as_ref(),
        image.as_os_str(),
        aot.as_os_str(),
    ]));
    assert!(text.contains("8 identical, 0 different"), "{text}");
    assert!(!text.contains("could not be split"), "{text}");
    assert_eq!(text.matches("label blocks").count(), 8, "{text}");
}

/// Code built for another architecture is refused before anything is written, both ways; so are
/// the device loader (RP2040-only) and probes (probe-rs 0.32 cannot flash the RISC-V target).
#[test]
fn other_architectures_device_mode_and_probe_are_refused_before_writing() {
    let s = Scratch::new("refuse");
    let image = s.path("flash.bin");
    let uf2 = s.path("app.uf2");
    let dests: [[&Path; 2]; 2] = [[Path::new("--image"), &image], [Path::new("--uf2"), &uf2]];
    let compiled = |variant: &str| {
        let out = s.path(&format!("{variant}.avm"));
        ok(&avm_jit(&[
            "compile".as_ref(),
            "--quiet".as_ref(),
            "--target".as_ref(),
            variant.as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            example_avm().as_os_str(),
        ]));
        out
    };

    // ARM code (arch 3) on the RISC-V cores.
    for variant in ["armv6m", "armv6m+thumb2"] {
        let avm = compiled(variant);
        for dest in &dests {
            for mode in ["jit", "aot", "prefill"] {
                refused(
                    &flash("rp2350-riscv", mode, dest, &avm),
                    &[
                        &format!("carries {variant} native code"),
                        "runs riscv32 code only",
                        "avmN chunk at offset 0x",
                    ],
                );
            }
        }
    }
    // riscv32 code (arch 4) on the ARM chips; the RISC-V cores take it as it is.
    let riscv = compiled("riscv32");
    for (chip, runs) in [("rp2040", "armv6m"), ("rp2350", "armv6m+thumb2")] {
        for dest in &dests {
            refused(
                &flash(chip, "jit", dest, &riscv),
                &[
                    "carries riscv32 native code",
                    &format!("runs {runs} code only"),
                ],
            );
        }
    }
    assert!(!image.exists(), "a refused flash created the image");
    assert!(!uf2.exists(), "a refused flash created the UF2 file");

    refused(
        &flash(
            "rp2350-riscv",
            "device",
            &[Path::new("--image"), &image],
            &riscv,
        ),
        &["RP2040-only", "rp2350-riscv"],
    );
    for args in [
        vec!["flash", "--target", "rp2350-riscv", "--probe"],
        vec!["info", "--target", "rp2350-riscv", "--probe"],
    ] {
        let mut args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        if args[0] == "flash" {
            args.push(riscv.clone().into());
        }
        refused(
            &avm_jit(&args),
            &["--probe is not supported", "RP235x_riscv", "--uf2"],
        );
    }
    assert!(!image.exists(), "a refused flash created the image");

    let ok_image = s.path("ok.bin");
    ok(&flash(
        "rp2350-riscv",
        "jit",
        &[Path::new("--image"), &ok_image],
        &riscv,
    ));
    let bytes = std::fs::read(&riscv).unwrap();
    let written = std::fs::read(&ok_image).unwrap();
    assert!(written[off(MAIN)..off(MAIN) + bytes.len()] == bytes[..]);
}

/// `--uf2-family code` writes the chip's program family instead of DATA: RP2350-RISC-V blocks for
/// the Hazard3 cores, RP2350-ARM-S for the ARM cores (what picotool writes for an executable image),
/// with the same flash contents; the Pico's RP2040 family is unchanged by it.
#[test]
fn uf2_family_code_writes_the_chips_program_family() {
    let s = Scratch::new("family");
    for (chip, family) in [
        ("rp2350-riscv", 0xE48B_FF5Au32),
        ("rp2350", 0xE48B_FF59),
        ("rp2040", 0xE48B_FF56),
    ] {
        let data = s.path(&format!("{chip}-data.uf2"));
        let code = s.path(&format!("{chip}-code.uf2"));
        ok(&flash(
            chip,
            "jit",
            &[Path::new("--uf2"), &data],
            &example_avm(),
        ));
        ok(&flash(
            chip,
            "jit",
            &[
                Path::new("--uf2"),
                &code,
                Path::new("--uf2-family"),
                Path::new("code"),
            ],
            &example_avm(),
        ));
        let (data_bin, _) = uf2_decode::convert_from_uf2(&std::fs::read(&data).unwrap()).unwrap();
        let (code_bin, families) =
            uf2_decode::convert_from_uf2(&std::fs::read(&code).unwrap()).unwrap();
        assert_eq!(
            families.get(&family),
            Some(&u64::from(MAIN)),
            "{chip}: {families:x?}"
        );
        assert!(
            !families.contains_key(&FAMILY_DATA),
            "{chip}: {families:x?}"
        );
        assert!(
            data_bin == code_bin,
            "{chip}: the family changed the contents"
        );
    }
}

//! Builds the device loader (`../device-loader`, a `thumbv6m-none-eabi` program) so that the CLI
//! carries it: `avm-jit flash --mode device` writes it into the RP2040's SRAM.
//!
//! The loader is its own workspace with its own profile (opt-level z, LTO) and target, so this runs
//! a nested cargo into OUT_DIR with the outer build's environment removed (RUSTFLAGS, the clippy
//! wrapper, profile and feature variables would otherwise leak into it). Set
//! `AVM_JIT_NO_DEVICE_LOADER=1` to build without it (then `--mode device` says so at run time).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let loader = manifest.join("../device-loader");
    let shared = manifest.join("../shared");
    for p in [
        loader.join("src"),
        loader.join("Cargo.toml"),
        loader.join("Cargo.lock"),
        loader.join("loader.x"),
        loader.join("build.rs"),
        shared.join("src"),
        shared.join("Cargo.toml"),
    ] {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!("cargo:rerun-if-env-changed=AVM_JIT_NO_DEVICE_LOADER");
    let dest = out.join("avm-jit-device-loader.elf");
    if std::env::var_os("AVM_JIT_NO_DEVICE_LOADER").is_some_and(|v| v == "1") {
        std::fs::write(&dest, []).expect("cannot write the empty loader");
        return;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = out.join("device-loader-target");
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--target",
        "thumbv6m-none-eabi",
    ])
    .arg("--manifest-path")
    .arg(loader.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir)
    .current_dir(&loader);
    // Keep the toolchain selection, CARGO_HOME, network/registry settings and the jobserver;
    // drop what describes the outer build.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = matches!(key, "CARGO_HOME" | "CARGO_MAKEFLAGS")
            || key.starts_with("CARGO_NET_")
            || key.starts_with("CARGO_HTTP_")
            || key.starts_with("CARGO_REGISTRIES_")
            || key.starts_with("CARGO_REGISTRY_");
        let outer = key.starts_with("CARGO_")
            || key.starts_with("RUSTC_")
            || key.starts_with("DEP_")
            || matches!(
                key,
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "CLIPPY_ARGS"
                    | "CLIPPY_CONF_DIR"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "RUSTC"
                    | "RUSTDOC"
                    | "RUSTC_LINKER"
            );
        if outer && !keep {
            cmd.env_remove(key);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the device loader: {e}"));
    if !status.success() {
        panic!(
            "building the device loader (device-loader/, for thumbv6m-none-eabi) failed; \
             install the target with `rustup target add thumbv6m-none-eabi`, or set \
             AVM_JIT_NO_DEVICE_LOADER=1 to build avm-jit without `--mode device`"
        );
    }
    let built = target_dir.join("thumbv6m-none-eabi/release/avm-jit-device-loader");
    std::fs::copy(&built, &dest).unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
}

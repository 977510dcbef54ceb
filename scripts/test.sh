#!/usr/bin/env bash
# The whole check: set up, formatting, lints, the core on the Pico's target, the fuzz targets,
# then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build -p avm-jit-core --target thumbv6m-none-eabi
# The fuzz crate is outside the workspace (it needs cargo-fuzz to run): check it builds so its
# targets cannot rot as the core's API changes.
cargo check --manifest-path fuzz/Cargo.toml --bins
# The device loader is its own workspace (thumbv6m only); cli/build.rs builds it, this lints it.
cargo fmt --manifest-path device-loader/Cargo.toml --check
cargo clippy --manifest-path device-loader/Cargo.toml --release --target thumbv6m-none-eabi -- -D warnings
cargo test --workspace

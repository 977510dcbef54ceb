#!/usr/bin/env bash
# Install what avm-jit's build and tests need on a fresh Debian machine with rustup.
# Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v arm-none-eabi-as >/dev/null 2>&1 || need+=(binutils-arm-none-eabi)
# libfuzzer-sys (checked by scripts/test.sh) builds libFuzzer's C++ sources.
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v riscv64-unknown-elf-as >/dev/null 2>&1 || need+=(binutils-riscv64-unknown-elf)
if [ "${AVM_JIT_WITH_ERLANG:-0}" = 1 ]; then
    command -v erlc >/dev/null 2>&1 || need+=(erlang-nox)
fi
if [ ${#need[@]} -gt 0 ]; then
    sudo_=""
    [ "$(id -u)" -ne 0 ] && sudo_="sudo"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${need[@]}" >/dev/null
fi

rustup target list --installed | grep -qx thumbv6m-none-eabi || rustup target add thumbv6m-none-eabi
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

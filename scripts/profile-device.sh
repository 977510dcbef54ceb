#!/usr/bin/env bash
# Instruction profile of the device loader compiling one module on the emulated RP2040:
#   bash scripts/profile-device.sh path/to/module.beam [OUT.txt]
# Packs the module into an AVM (with the example app's start module), runs
# `avm-jit flash --mode device` on a scratch image with AVM_JIT_EMU_PROFILE set, and writes the
# report (self and inclusive instructions per loader function, call edges), demangled, to OUT
# (replaced whole, never half-written).
set -euo pipefail
beam=${1:?usage: profile-device.sh MODULE.beam [OUT.txt]}
out=${2:-profile.txt}
root=$(cd "$(dirname "$0")/.." && pwd)
# The dev profile: the core and the emulator are optimised in it (see Cargo.toml), and it builds
# much faster than the release profile (whole-program LTO).
cargo build -q -p avm-jit --manifest-path "$root/Cargo.toml"
bin="$root/target/debug/avm-jit"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$bin" pack --start hello_pico -o "$scratch/app.avm" \
    "$root/fixtures/example/beams/hello_pico.beam" "$beam" >/dev/null
AVM_JIT_EMU_PROFILE="$scratch/raw.txt" "$bin" flash --target rp2040 --mode device \
    --image "$scratch/flash.img" "$scratch/app.avm"
demangle=cat
command -v arm-none-eabi-c++filt >/dev/null && demangle=arm-none-eabi-c++filt
# Complete and new, or the old file left as it was; never over what is not a regular file.
if [ -e "$out" ] && [ ! -f "$out" ]; then
    echo "profile-device.sh: $out is not a regular file: not replaced" >&2
    exit 1
fi
tmp_out=$(mktemp "$(dirname "$out")/.profile.XXXXXX")
$demangle <"$scratch/raw.txt" | sed -E 's/::h[0-9a-f]{16}//g; s/avm_jit_core:://g' >"$tmp_out" ||
    { rm -f "$tmp_out"; exit 1; }
mv -f "$tmp_out" "$out"
echo "profile: $out"

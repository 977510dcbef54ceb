#!/usr/bin/env bash
# Set up, build avm-jit, and run it on the bundled example application:
# describe the AVM, compile it to native code, lay the flash modes out in image files (prefill: the
# way to deploy on AtomVM's JIT firmware), and compare the prefilled cache with the AOT output.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release -p avm-jit
avm_jit=target/release/avm-jit
app=${1:-fixtures/example/example.avm}
out=target/example
mkdir -p "$out"

"$avm_jit" info "$app"
"$avm_jit" compile "$app" -o "$out/"
"$avm_jit" info "$out/$(basename "${app%.avm}").avm"
"$avm_jit" flash --target rp2040 --mode aot --image "$out/flash-aot.bin" "$app"
"$avm_jit" flash --target rp2040 --mode jit --image "$out/flash-jit.bin" "$app"
# Compile on the (emulated) Pico itself with the device loader; every entry checked against the host.
"$avm_jit" flash --target rp2040 --mode device --image "$out/flash-device.bin" "$app"
"$avm_jit" flash --target rp2040 --mode aot --uf2 "$out/app-aot.uf2" "$app"
"$avm_jit" info --image "$out/flash-aot.bin"
"$avm_jit" flash --target rp2040 --mode prefill --image "$out/flash-prefill.bin" "$app"
"$avm_jit" info --image "$out/flash-prefill.bin"
"$avm_jit" compare "$out/flash-prefill.bin" "$out/$(basename "${app%.avm}").avm"
# The same for a Pico 2 (RP2350: armv6m+thumb2 code, 4 MiB of flash).
"$avm_jit" flash --target rp2350 --mode aot --image "$out/pico2-flash-aot.bin" "$app"
"$avm_jit" flash --target rp2350 --mode aot --uf2 "$out/pico2-app-aot.uf2" "$app"
"$avm_jit" info --image "$out/pico2-flash-aot.bin" --target rp2350

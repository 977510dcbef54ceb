#!/usr/bin/env bash
# Seed the fuzz corpora (fuzz/corpus/<target>/, gitignored) from the repo's fixtures and, when it
# is there, the golden corpus next to the repo. Idempotent: files are named by content.
set -euo pipefail
cd "$(dirname "$0")"
repo=..
golden=${GOLDEN:-$repo/../shared/golden}

mkdir -p corpus/{avm_reader,compile,compile_code,native_reader,beam_reader}
cp "$repo"/fixtures/example/example.avm corpus/avm_reader/
cp "$repo"/fixtures/example/beams/*.beam corpus/compile/
cp "$repo"/fixtures/example/beams/*.beam corpus/beam_reader/

# compile_code inputs: a selector byte (module index | 0x80 for thumb2), then a Code chunk. The
# module order is BASE_BEAMS in fuzz_targets/common.rs.
python3 - "$repo"/fixtures/example/beams corpus/compile_code <<'PY'
import hashlib, pathlib, struct, sys
order = ["hello_pico", "arith_demo", "bin_demo", "error_demo", "float_demo", "lists_demo",
         "maps_demo", "proc_demo"]
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for index, name in enumerate(order):
    beam = (src / f"{name}.beam").read_bytes()
    at = 12
    while at + 8 <= len(beam):
        cid, size = beam[at:at + 4], struct.unpack(">I", beam[at + 4:at + 8])[0]
        if cid == b"Code":
            for selector in (index, index | 0x80):
                seed = bytes([selector]) + beam[at + 8:at + 8 + size]
                (out / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
            break
        at += 8 + (size + 3) // 4 * 4
PY

# native_reader: the smallest golden avmN payloads of both variants.
if [ -d "$golden" ]; then
    for dir in "$golden"/otp25/armv6m/stdlib "$golden"/otp25/armv6m+thumb2/stdlib; do
        find "$dir" -name '*.avmN' -size -16k | head -n 20 | while read -r f; do
            cp "$f" "corpus/native_reader/$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")"
        done
    done
fi
ls corpus | while read -r t; do echo "$t: $(ls "corpus/$t" | wc -l) files"; done

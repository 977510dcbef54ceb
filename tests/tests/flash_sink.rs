//! The device's code path on real modules: compiling straight into a JIT cache entry in (simulated)
//! NOR flash gives the same bytes as compiling into memory, so every back-patch the compiler makes
//! only clears bits of bytes it first wrote as 0xFF, through the page buffer and across sectors.

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{compile_into, BeamEnv, CodeTarget};
use avm_jit_core::flash::cache::{walk, ENTRY_HEADER_LEN};
use avm_jit_core::flash::nor::{MemFlash, NorFlash};
use avm_jit_core::flash::sink::FlashSink;
use avm_jit_core::stream::VecSink;
use avm_jit_tests::{beams_in, golden_dir, workspace_root};

const BASE: u32 = 0x1000_0000;
const CACHE: u32 = 0x1018_3000;

#[test]
fn flash_entries_equal_in_memory_compiles() {
    let mut beams = beams_in(&workspace_root().join("fixtures/example/beams"));
    if let Some(golden) = golden_dir("flash_entries_equal_in_memory_compiles") {
        for app in ["stdlib", "kernel", "compiler"] {
            beams.extend(beams_in(&golden.join("otp25/beams").join(app)));
        }
    }
    assert!(beams.len() >= 8);
    let mut compared = 0;
    for target in [CodeTarget::Armv6m, CodeTarget::Armv6mThumb2] {
        // A cache region that starts mid-sector with leftovers, as after an earlier application.
        let mut flash = MemFlash::erased(BASE, 0x40_0000);
        let before: Vec<u8> = (0..0x7F4u32).map(|i| (i * 7) as u8 & 0x7F).collect();
        flash.program(CACHE, &before).unwrap();
        let stale: Vec<u8> = (0..0x2_0000u32).map(|i| (i * 13) as u8 & 0xF0).collect();
        flash.program(CACHE + 0x1000, &stale).unwrap();
        let mut entry = CACHE + 0x7F4;
        let mut expected = Vec::new();
        for (name, bytes) in &beams {
            let module = Module::parse(bytes).unwrap();
            let env = BeamEnv::new(&module).unwrap();
            let Ok((memory, labels)) = compile_into(&module, &env, target, VecSink::new()) else {
                continue; // one the reference cannot compile either
            };
            let memory = memory.into_bytes();
            if entry as usize + memory.len() + 64 > (BASE + 0x40_0000) as usize {
                break;
            }
            let sink = FlashSink::new(&mut flash, entry).unwrap();
            let (sink, flash_labels) = compile_into(&module, &env, target, sink)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(labels, flash_labels);
            let next = sink
                .finish(1, 0x1018_0100, labels)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let code = flash.slice(entry + ENTRY_HEADER_LEN, memory.len()).unwrap();
            assert!(
                code == memory.as_slice(),
                "{name} ({target:?}): flash and memory differ"
            );
            expected.push((entry, memory.len() as u32));
            entry = next;
            compared += 1;
        }
        // What was before the first entry is untouched.
        assert_eq!(flash.slice(CACHE, before.len()).unwrap(), before.as_slice());
        // The cache reader finds every entry with its size.
        let mut found = Vec::new();
        walk(&mut flash, CACHE + 0x7F4, BASE + 0x40_0000, |e| {
            found.push((e.address, e.header.size))
        })
        .unwrap();
        assert_eq!(found, expected);
    }
    assert!(compared >= 16, "only {compared} modules compared");
}

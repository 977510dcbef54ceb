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

/// A flash that counts what it is asked to do.
struct Counting {
    flash: MemFlash,
    programs: u64,
    erases: u64,
}

impl NorFlash for Counting {
    fn base(&self) -> u32 {
        self.flash.base()
    }
    fn capacity(&self) -> u32 {
        self.flash.capacity()
    }
    fn read(
        &mut self,
        address: u32,
        buf: &mut [u8],
    ) -> Result<(), avm_jit_core::flash::FlashError> {
        self.flash.read(address, buf)
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), avm_jit_core::flash::FlashError> {
        self.erases += 1;
        self.flash.erase(from, to)
    }
    fn program(
        &mut self,
        address: u32,
        data: &[u8],
    ) -> Result<(), avm_jit_core::flash::FlashError> {
        self.programs += 1;
        self.flash.program(address, data)
    }
}

/// On the chip every program call costs at least a page program (~0.4 ms): the sink keeps
/// back-patches in RAM (a window of recent pages, one patch page for older ones), so a module
/// costs about one program call per page of code, not one per patched byte. Prints the figures.
#[test]
fn flash_sink_programs_about_once_per_page() {
    let Some(golden) = golden_dir("flash_sink_programs_about_once_per_page") else {
        return;
    };
    let mut beams = beams_in(&workspace_root().join("fixtures/example/beams"));
    for (app, name) in [
        ("stdlib", "lists"),
        ("stdlib", "maps"),
        ("compiler", "beam_validator"),
        ("stdlib", "unicode_util"),
    ] {
        let path = golden
            .join("otp25/beams")
            .join(app)
            .join(format!("{name}.beam"));
        beams.push((name.to_string(), std::fs::read(path).unwrap()));
    }
    println!(
        "{:<16} {:>8} {:>6} {:>9} {:>7}",
        "module", "native", "pages", "programs", "erases"
    );
    for (name, bytes) in &beams {
        let module = Module::parse(bytes).unwrap();
        let env = BeamEnv::new(&module).unwrap();
        let mut flash = Counting {
            flash: MemFlash::erased(BASE, 0x40_0000),
            programs: 0,
            erases: 0,
        };
        let sink = FlashSink::new(&mut flash, CACHE).unwrap();
        let (sink, labels) = compile_into(&module, &env, CodeTarget::Armv6m, sink).unwrap();
        let size = avm_jit_core::stream::CodeSink::offset(&sink) as u64;
        sink.finish(1, 0x1018_0100, labels).unwrap();
        let pages = (u64::from(CACHE % 256) + 16 + size).div_ceil(256);
        println!(
            "{name:<16} {size:>8} {pages:>6} {:>9} {:>7}",
            flash.programs, flash.erases
        );
        // Every page once, the header once, and each older page at most twice more for patches.
        assert!(
            flash.programs <= 3 * pages + 1,
            "{name}: {} program calls for {pages} pages",
            flash.programs
        );
    }
}

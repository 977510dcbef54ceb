//! The prefill logic the host and the device loader share (`flash::prefill`), on real AVMs: which
//! modules get entries and in which order, that the entries written through the streaming
//! `FlashSink` equal the in-memory compile, and that every `end` becomes `END` only after the last
//! entry's header is programmed.

use avm_jit_core::avm::{Pack, PackBuilder};
use avm_jit_core::compile::module::CodeTarget;
use avm_jit_core::flash::cache::{self, ENTRY_HEADER_LEN};
use avm_jit_core::flash::nor::{FlashError, MemFlash, NorFlash};
use avm_jit_core::flash::prefill::{self, AvmInFlash, Selection};
use avm_jit_core::stream::VecSink;
use avm_jit_tests::{beams_in, workspace_root};

const BASE: u32 = 0x1000_0000;
const LIB: u32 = 0x1010_0000;
const MAIN: u32 = 0x1018_0000;

/// Flash that remembers every program operation (address, length), in order.
struct Recording {
    flash: MemFlash,
    programs: Vec<(u32, usize)>,
}

impl NorFlash for Recording {
    fn base(&self) -> u32 {
        self.flash.base()
    }
    fn capacity(&self) -> u32 {
        self.flash.capacity()
    }
    fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.flash.read(address, buf)
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        self.flash.erase(from, to)
    }
    fn program(&mut self, address: u32, data: &[u8]) -> Result<(), FlashError> {
        self.programs.push((address, data.len()));
        self.flash.program(address, data)
    }
}

fn example() -> Vec<u8> {
    std::fs::read(workspace_root().join("fixtures/example/example.avm")).unwrap()
}

/// A lib of example beams: `lists_demo` is reached from the start module; `foo` only through
/// the atom `foo` inside a literal of `arith_demo` (`[-5, 0, 7, 12, 1000, foo]`), which is not in
/// its atom table; `unused` is not reached (both are `bin_demo` under another section name).
fn lib() -> Vec<u8> {
    let beams = beams_in(&workspace_root().join("fixtures/example/beams"));
    let get = |n: &str| beams.iter().find(|(name, _)| name == n).unwrap().1.clone();
    let mut b = PackBuilder::new();
    b.beam("lists_demo", &get("lists_demo"), false).unwrap();
    b.beam("unused", &get("bin_demo"), false).unwrap();
    b.beam("foo", &get("bin_demo"), false).unwrap();
    b.finish()
}

#[test]
fn order_is_lib_then_main_in_pack_order_and_closure_follows_atoms() {
    let (lib, app) = (lib(), example());
    // Given main first: the order still follows flash addresses.
    let avms = [
        AvmInFlash {
            address: MAIN,
            pack: Pack::parse(&app).unwrap(),
        },
        AvmInFlash {
            address: LIB,
            pack: Pack::parse(&lib).unwrap(),
        },
    ];
    let all = prefill::select(&avms, Selection::All).unwrap();
    let names: Vec<&str> = all.iter().map(|c| c.name_str()).collect();
    let mut want = vec!["lists_demo", "unused", "foo"];
    let main_names: Vec<String> = avms[0]
        .pack
        .modules()
        .map(|s| s.module_name().unwrap().to_string())
        .collect();
    want.extend(main_names.iter().map(String::as_str));
    assert_eq!(names, want);
    assert!(all
        .windows(2)
        .all(|w| w[0].code_address < w[1].code_address));
    for c in &all {
        let at = (c.code_address - if c.avm == 0 { MAIN } else { LIB }) as usize;
        let bytes = if c.avm == 0 { &app } else { &lib };
        assert_eq!(&bytes[at..at + 4], b"Code", "{}", c.name_str());
    }

    let closure = prefill::select(&avms, Selection::Closure).unwrap();
    let names: Vec<&str> = closure.iter().map(|c| c.name_str()).collect();
    assert!(!names.contains(&"unused"), "{names:?}");
    assert!(names.contains(&"lists_demo"), "{names:?}");
    assert!(
        names.contains(&"foo"),
        "an atom inside a literal was not followed: {names:?}"
    );
    assert_eq!(names.len(), all.len() - 1);
}

#[test]
fn streamed_entries_equal_in_memory_compiles_and_end_comes_last() {
    let (lib, app) = (lib(), example());
    let mut flash = Recording {
        flash: MemFlash::erased(BASE, 2 << 20),
        programs: Vec::new(),
    };
    flash.flash.program(LIB, &lib).unwrap();
    flash.flash.program(MAIN, &app).unwrap();
    // Leftovers of an earlier cache where the new one goes.
    let avms = [
        AvmInFlash {
            address: LIB,
            pack: Pack::parse(&lib).unwrap(),
        },
        AvmInFlash {
            address: MAIN,
            pack: Pack::parse(&app).unwrap(),
        },
    ];
    let start = prefill::cache_start(&avms).unwrap();
    flash.flash.program(start + 100, &[0x00; 64]).unwrap();
    let modules = prefill::select(&avms, Selection::All).unwrap();
    let mut seen = Vec::new();
    // What the device loader calls.
    let after = prefill::prefill_flash(
        &mut flash,
        &avms,
        Selection::All,
        CodeTarget::Armv6m,
        |c, e| seen.push((c.name_str().to_string(), *e)),
    )
    .unwrap();
    assert_eq!(seen.len(), modules.len());

    let mut at = start;
    for ((name, entry), c) in seen.iter().zip(&modules) {
        assert_eq!(entry.address, at, "{name}");
        let (sink, labels) =
            prefill::compile_entry(&c.module, CodeTarget::Armv6m, VecSink::new()).unwrap();
        let code = sink.as_bytes();
        let h = entry.header;
        assert_eq!((h.magic, h.version), (0x4A74, prefill::CACHE_VERSION));
        assert_eq!(
            (h.code, h.labels, h.size as usize),
            (c.code_address, labels, code.len())
        );
        let stored = flash
            .flash
            .slice(at + ENTRY_HEADER_LEN, code.len())
            .unwrap();
        assert!(stored == code, "{name}: streamed code differs");
        at = cache::next_entry_address(at, h.size).unwrap();
    }
    assert_eq!(after, at);

    // Both end names read END, and were programmed after every entry header.
    let last_header = flash
        .programs
        .iter()
        .rposition(|&(a, n)| n == 16 && seen.iter().any(|(_, e)| e.address == a))
        .unwrap();
    for a in &avms {
        let name = a.end_name_address();
        assert_eq!(flash.flash.slice(name, 3).unwrap(), b"END");
        let when = flash
            .programs
            .iter()
            .position(|&(addr, n)| addr == name && n == 3)
            .unwrap();
        assert!(when > last_header, "END written before the last entry");
    }
}

#[test]
fn an_older_cache_after_the_new_entries_is_not_walked() {
    let (lib, app) = (lib(), example());
    let avms = [
        AvmInFlash {
            address: LIB,
            pack: Pack::parse(&lib).unwrap(),
        },
        AvmInFlash {
            address: MAIN,
            pack: Pack::parse(&app).unwrap(),
        },
    ];
    let modules = prefill::select(&avms, Selection::All).unwrap();
    let fresh = || {
        let mut f = MemFlash::erased(BASE, 2 << 20);
        f.program(LIB, &lib).unwrap();
        f.program(MAIN, &app).unwrap();
        f
    };
    let first = prefill::cache_start(&avms).unwrap();
    let mut probe = fresh();
    let end = probe.end();
    let span = prefill::write_cache(
        &mut probe,
        &avms,
        &modules,
        first..end,
        CodeTarget::Armv6m,
        |_, _| {},
    )
    .unwrap()
        - first;
    // Start the entries so that they stop exactly at a sector boundary, where the sector after
    // them holds a finished entry of an older cache: nothing the entries touch clears it.
    let boundary = (first + span + 2 * 4096) & !4095;
    let start = boundary - span;
    let mut clean = fresh();
    let mut dirty = fresh();
    let old = cache::EntryHeader::new(1, 0x1234_5678, 3, 8);
    dirty.program(boundary, &old.to_bytes()).unwrap();
    for flash in [&mut clean, &mut dirty] {
        let after = prefill::write_cache(
            flash,
            &avms,
            &modules,
            start..end,
            CodeTarget::Armv6m,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(after, boundary);
    }
    let mut seen = 0;
    let stop = cache::walk(&mut dirty, start, end, |_| seen += 1).unwrap();
    assert_eq!(seen, modules.len());
    assert_eq!(stop, cache::WalkEnd::Free { address: boundary });
    assert!(
        dirty == clean,
        "the prefilled flash differs from a clean one"
    );
}

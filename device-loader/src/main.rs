//! avm-jit's device loader: the same `avm-jit-core` that compiles on the desktop, running on the
//! RP2040 from SRAM, compiling the modules of the AVMs in flash into AtomVM's JIT cache.
//!
//! How it is started (by `avm-jit flash --mode device`, through a debug probe or the emulated
//! RP2040): the host resets and halts the core, writes the ELF's loadable segments (all in SRAM,
//! see `loader.x`) and the mailbox, sets SP to the first word of the image at `0x2000_0000` and PC
//! to the ELF's entry, and runs it. Loading it never touches flash. The mailbox protocol (command,
//! status, per-module results, how the loader stops) is documented in
//! `avm_jit_core::flash::mailbox`; see also this crate's README.
//!
//! What it does: brings clk_sys to 125 MHz and starts the µs timer ([`clocks`]), brings up XIP
//! with the boot ROM's sequence, checks the command and the AVMs
//! (`Pack::parse` over the XIP window, literals read in place), then for each module the host
//! selected compiles it with `compile_into` straight into a cache entry through `FlashSink` over
//! the boot ROM's erase/program functions ([`rom::RomFlash`], which refuses any write outside the
//! cache region but the `end` names), records what it did, and finally programs `end` → `END`.
//!
//! Out of memory: the core allocates fallibly, so a module the heap is too small for ends with an
//! out-of-memory error in its result record and no entry, and the run goes on. An allocation that
//! fails anywhere else panics: the panic handler records it in the mailbox (kind out-of-memory,
//! the module being compiled) and stops at `bkpt #2`; the host then restarts after that module.
#![no_std]
#![no_main]

extern crate alloc;

mod clocks;
mod heap;
mod mem;
mod rom;

use avm_jit_core::avm::{Pack, BEAM_CODE, SECTION_FIXED_HEADER};
use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{compile_into, BeamEnv, CodeTarget, ModuleError};
use avm_jit_core::compile::{BackendError, CompileErrorKind};
use avm_jit_core::error::ErrorKind;
use avm_jit_core::flash::cache::{first_entry_address, prepare_entry, END_INVALID, END_VALID};
use avm_jit_core::flash::mailbox::*;
use avm_jit_core::flash::nor::{FlashError, FlashErrorKind, NorFlash};
use avm_jit_core::flash::sink::{FlashSink, StartError};
use avm_jit_core::flash::SECTOR_SIZE;
use avm_jit_core::stream::SinkError;

use rom::{Rom, RomFlash, FLASH_BASE};

/// Entry version of AtomVM v0.7.0-alpha.1's cache.
const ENTRY_VERSION: u16 = 1;
const TIMERAWL: u32 = 0x4005_4028;

pub fn timer_us() -> u32 {
    // SAFETY: the timer's raw low word, a read-only register.
    unsafe { core::ptr::read_volatile(TIMERAWL as *const u32) }
}

fn mb(offset: usize) -> u32 {
    // SAFETY: inside the mailbox, word aligned (offsets are multiples of 4).
    unsafe { core::ptr::read_volatile((MAILBOX_ADDR as usize + offset) as *const u32) }
}

fn set_mb(offset: usize, value: u32) {
    // SAFETY: as in `mb`.
    unsafe { core::ptr::write_volatile((MAILBOX_ADDR as usize + offset) as *mut u32, value) }
}

fn set_mb_text(offset: usize, len: usize, text: &[u8]) {
    let n = text.len().min(len - 1);
    for i in 0..len {
        let b = text.get(i).copied().filter(|_| i < n).unwrap_or(0);
        // SAFETY: inside the mailbox field `offset..offset+len`.
        unsafe { core::ptr::write_volatile((MAILBOX_ADDR as usize + offset + i) as *mut u8, b) }
    }
}

fn rec(index: usize, field: usize) -> usize {
    RECORDS + index * RECORD_SIZE + field
}

fn bkpt_done() {
    // SAFETY: a breakpoint; the host halts here and may resume.
    unsafe { core::arch::asm!("bkpt #0") }
}
fn bkpt_batch() {
    // SAFETY: as above.
    unsafe { core::arch::asm!("bkpt #1") }
}
fn bkpt_error() -> ! {
    loop {
        // SAFETY: as above; resuming stops here again.
        unsafe { core::arch::asm!("bkpt #2") }
    }
}

/// Text written into the mailbox's error field, built without `core::fmt`: formatting (with the
/// `Display`/`Debug` code and the panic messages it keeps alive) was 13 KB of the loader's image.
/// Text past the field's length is dropped.
struct Text {
    buf: [u8; ERROR_TEXT_LEN],
    len: usize,
}

impl Text {
    fn new() -> Self {
        Text {
            buf: [0; ERROR_TEXT_LEN],
            len: 0,
        }
    }

    fn s(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    #[inline(never)]
    fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            if self.len + 1 < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        self
    }

    /// `v` in decimal (`{v}`; a `u32`: a `u64` would bring in 1 KB of 64-bit division).
    #[inline(never)]
    fn dec(&mut self, v: u32) -> &mut Self {
        let mut digits = [0u8; 10];
        let mut at = digits.len();
        let mut v = v;
        loop {
            at -= 1;
            digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.bytes(&digits[at..])
    }

    /// `v` as `0x` and eight hex digits (`{v:#010x}`).
    #[inline(never)]
    fn hex(&mut self, v: u32) -> &mut Self {
        let mut digits = *b"0x00000000";
        for (i, d) in digits[2..].iter_mut().enumerate() {
            let nibble = (v >> (28 - 4 * i)) & 0xF;
            *d = b"0123456789abcdef"[nibble as usize];
        }
        self.bytes(&digits)
    }
}

/// Placeholders in a [`fail`] template: the next number in hex (`0x` and eight digits), the next
/// number in decimal, the next string.
const HEX: u8 = 1;
const DEC: u8 = 2;
const STR: u8 = 3;

/// Stop with a fatal error: `kind` and `arg` in the mailbox's error words, and `template` as its
/// text, each placeholder replaced by the next of `nums` or `strs`. One call per error site (a
/// template and two short arrays) keeps the sites small.
#[inline(never)]
fn fail(kind: u32, arg: u32, template: &[u8], nums: &[u32], strs: &[&str]) -> ! {
    let mut text = Text::new();
    let (mut nums, mut strs) = (nums.iter().copied(), strs.iter());
    for &b in template {
        match b {
            HEX => text.hex(nums.next().unwrap_or(0)),
            DEC => text.dec(nums.next().unwrap_or(0)),
            STR => text.s(strs.next().map_or("", |s| s)),
            _ => text.bytes(&[b]),
        };
    }
    set_mb(OFF_ERROR_KIND, kind);
    set_mb(OFF_ERROR_ARG, arg);
    set_mb_text(ERROR_TEXT, ERROR_TEXT_LEN, &text.buf[..text.len]);
    set_mb(OFF_TOTAL_US, timer_us().wrapping_sub(heap::start_us()));
    set_mb(OFF_STATE, STATE_ERROR);
    bkpt_error()
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    let failed = heap::failed_request();
    if failed != 0 {
        fail(
            ERR_OUT_OF_MEMORY,
            failed as u32,
            b"out of memory: \x02 bytes requested, \x02 of \x02 in use",
            &[failed as u32, heap::used() as u32, heap::size() as u32],
            &[],
        )
    }
    // Neither the message nor the location: reading either keeps every panic site's message
    // arguments and the formatting code they point to alive (11 KB). A panic is a bug of the
    // core (bad input is an error it returns); the host can compile the module to find it.
    fail(ERR_PANIC, 0, b"panic", &[], &[])
}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    clocks::init();
    heap::init();
    run();
    loop {
        bkpt_done();
    }
}

/// An AVM in flash, as the loader sees it.
struct Avm {
    base: u32,
    bytes: &'static [u8],
    /// Address of the end section's name.
    end_name: u32,
    /// Address just after the end section's padded name.
    end_data: u32,
}

fn open_avm(flash: &RomFlash, what: &str, base: u32, limit: u32) -> Avm {
    let bytes = match limit
        .checked_sub(base)
        .and_then(|n| flash.slice(base, n as usize))
    {
        Some(b) => b,
        None => fail(
            ERR_COMMAND,
            base,
            b"\x03 at \x01 is outside the flash",
            &[base],
            &[what],
        ),
    };
    let pack = match Pack::parse(bytes) {
        Ok(p) => p,
        Err(e) => fail(
            ERR_COMMAND,
            base,
            b"\x03 at \x01 is not a valid AVM: \x03 at offset \x02",
            // Every error of `Pack::parse` names its offset (no `None` to tell apart here).
            &[base, e.offset.unwrap_or(0) as u32],
            &[what, error_what(&e.kind)],
        ),
    };
    let end = pack.end();
    Avm {
        base,
        bytes,
        end_name: base + (end.offset + SECTION_FIXED_HEADER) as u32,
        end_data: base + end.data_offset as u32,
    }
}

/// The name, payload offset and BEAM bytes of the module section at `offset`, read directly (no
/// walk over the pack per module); everything is bounds-checked, a wrong offset gives `None`.
fn section_at(avm: &Avm, offset: u32) -> Option<(&'static [u8], usize, &'static [u8])> {
    let b = avm.bytes;
    let o = offset as usize;
    let word = |at: usize| -> Option<u32> {
        let w = b.get(at..at.checked_add(4)?)?;
        Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    let (size, flags) = (word(o)? as usize, word(o + 4)?);
    if flags & BEAM_CODE == 0 || size < 16 {
        return None;
    }
    let section = b.get(o..o.checked_add(size)?)?;
    let name_area = section.get(SECTION_FIXED_HEADER..)?;
    let name_len = name_area.iter().position(|&c| c == 0)?;
    let data_offset = o + SECTION_FIXED_HEADER + ((name_len + 1 + 3) & !3);
    let body = b.get(data_offset..o + size)?;
    if body.get(..4)? != b"FOR1" {
        return None;
    }
    let len = (word(data_offset + 4)? as usize).checked_add(8)?;
    Some((&name_area[..name_len], data_offset, body.get(..len)?))
}

fn run() {
    if mb(OFF_MAGIC) != MAGIC || mb(OFF_VERSION) != VERSION {
        fail(
            ERR_COMMAND,
            mb(OFF_VERSION),
            b"mailbox magic/version mismatch (want version \x02)",
            &[VERSION],
            &[],
        );
    }
    set_mb(OFF_STATE, STATE_RUNNING);
    set_mb(OFF_HEAP_SIZE, heap::size() as u32);
    let rom = match Rom::find() {
        Ok(r) => r,
        Err(name) => fail(
            ERR_COMMAND,
            0,
            b"boot ROM function \x03 not found",
            &[],
            &[name],
        ),
    };
    rom.xip_up();

    let flash_size = mb(OFF_FLASH_SIZE);
    let (cache_start, cache_end) = (mb(OFF_CACHE_START), mb(OFF_CACHE_END));
    let flash_end = FLASH_BASE.wrapping_add(flash_size);
    if flash_size == 0 || !flash_size.is_multiple_of(SECTOR_SIZE) || flash_size > 16 << 20 {
        fail(
            ERR_COMMAND,
            flash_size,
            b"bad flash size \x01",
            &[flash_size],
            &[],
        );
    }
    if cache_start % 4 != 0
        || cache_end % SECTOR_SIZE != 0
        || cache_start >= cache_end
        || cache_start < FLASH_BASE
        || cache_end > flash_end
    {
        fail(
            ERR_COMMAND,
            cache_start,
            b"bad cache region \x01..\x01",
            &[cache_start, cache_end],
            &[],
        );
    }
    let t = mb(OFF_TARGET);
    let target = match code_target(t) {
        // The RP2040's variant only: the core is built without Thumb-2 (see Cargo.toml). The
        // target is spelled out, not bound from the pattern: as a constant it lets the build
        // drop the other backends (~97 KB).
        Some(CodeTarget::Armv6m) => CodeTarget::Armv6m,
        _ => fail(ERR_COMMAND, t, b"unknown code target \x02", &[t], &[]),
    };
    let (main_addr, lib_addr) = (mb(OFF_MAIN), mb(OFF_LIB));
    // Only the names may be written before the flash is opened for writing: build the AVM views
    // with a read-only flash first.
    let probe = RomFlash::new(rom, flash_size, (0, 0), [0, 0]);
    let main = open_avm(&probe, "main.avm", main_addr, flash_end);
    let lib = (lib_addr != 0).then(|| {
        let limit = if lib_addr < main_addr {
            main_addr
        } else {
            flash_end
        };
        open_avm(&probe, "lib.avm", lib_addr, limit)
    });
    let highest = main.end_data.max(lib.as_ref().map_or(0, |l| l.end_data));
    if cache_start < highest || first_entry_address(highest) > cache_start {
        fail(
            ERR_COMMAND,
            cache_start,
            b"cache region \x01 overlaps an AVM (ends \x01)",
            &[cache_start, highest],
            &[],
        );
    }
    let names = [main.end_name, lib.as_ref().map_or(0, |l| l.end_name)];
    let rom = probe.into_rom();
    let mut flash = RomFlash::new(rom, flash_size, (cache_start, cache_end), names);

    let mut next = match mb(OFF_FIRST_ENTRY) {
        0 => cache_start,
        n if n % 4 == 0 && n >= cache_start && n < cache_end => n,
        n => fail(
            ERR_COMMAND,
            n,
            b"first entry \x01 is not inside the cache region",
            &[n],
            &[],
        ),
    };
    let mut written: u32 = 0;
    set_mb(OFF_NEXT_ENTRY, next);
    loop {
        let count = mb(OFF_COUNT) as usize;
        if count > MAX_RECORDS {
            fail(
                ERR_COMMAND,
                count as u32,
                b"\x02 modules, at most \x02 per batch",
                &[count as u32, MAX_RECORDS as u32],
                &[],
            );
        }
        for i in 0..count {
            let avm = match mb(rec(i, REC_AVM)) {
                0 => &main,
                1 => match &lib {
                    Some(l) => l,
                    None => fail(
                        ERR_COMMAND,
                        i as u32,
                        b"module \x02 is in lib.avm, but there is none",
                        &[i as u32],
                        &[],
                    ),
                },
                n => fail(
                    ERR_COMMAND,
                    n,
                    b"module \x02: unknown AVM \x02",
                    &[i as u32, n],
                    &[],
                ),
            };
            set_mb(OFF_CURRENT, i as u32);
            set_mb(rec(i, REC_STATUS), MOD_RUNNING);
            set_mb(rec(i, REC_ENTRY), next);
            let outcome = compile_one(&mut flash, avm, mb(rec(i, REC_SECTION)), target, next, i);
            match outcome {
                Ok((end, size)) => {
                    written += end - next;
                    next = end;
                    set_mb(rec(i, REC_NATIVE), size);
                    set_mb(rec(i, REC_STATUS), MOD_OK);
                }
                Err(()) => {
                    set_mb(rec(i, REC_STATUS), MOD_FAILED);
                }
            }
            set_mb(OFF_BYTES_WRITTEN, written);
            set_mb(OFF_NEXT_ENTRY, next);
            set_mb(OFF_ERASES, flash.stats.erases);
            set_mb(OFF_PROGRAMS, flash.stats.programs);
            set_mb(OFF_FLASH_US, flash.stats.busy_us);
            set_mb(OFF_TOTAL_US, timer_us().wrapping_sub(heap::start_us()));
        }
        if mb(OFF_FLAGS) & FLAG_MORE == 0 {
            break;
        }
        set_mb(OFF_STATE, STATE_BATCH_DONE);
        bkpt_batch();
        set_mb(OFF_STATE, STATE_RUNNING);
    }
    // Always: a module that failed here, or in a run before a restart, may have left code.
    clear_leftovers(&mut flash, next, cache_end);
    if mb(OFF_FLAGS) & FLAG_MARK_VALID != 0 {
        for name in names.into_iter().filter(|&n| n != 0) {
            if let Err(e) = mark_end_valid(&mut flash, name) {
                flash_fail(e, "marking the cache valid");
            }
        }
    }
    set_mb(OFF_ERASES, flash.stats.erases);
    set_mb(OFF_PROGRAMS, flash.stats.programs);
    set_mb(OFF_FLASH_US, flash.stats.busy_us);
    set_mb(OFF_PEAK_HEAP, heap::overall_peak() as u32);
    set_mb(OFF_PEAK_STACK, heap::stack_peak() as u32);
    set_mb(OFF_TOTAL_US, timer_us().wrapping_sub(heap::start_us()));
    set_mb(OFF_STATE, STATE_DONE);
}

/// Program `END` over the end name at `name`: from `end`, or from what a program of `END` cut short
/// by a power loss leaves (each byte still `end`'s or already `END`'s); anything else is refused.
/// What a reader error is about, in a few words (the core's `Display` needs `core::fmt`).
fn error_what(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Truncated { .. } => "truncated",
        ErrorKind::BadMagic { expected } => expected,
        ErrorKind::Invalid { what, .. }
        | ErrorKind::Unsupported { what, .. }
        | ErrorKind::LimitExceeded { what, .. }
        | ErrorKind::OutOfMemory { what, .. } => what,
        _ => "malformed",
    }
}

fn mark_end_valid(flash: &mut RomFlash, name: u32) -> Result<(), FlashError> {
    let mut now = [0u8; 3];
    flash.read(name, &mut now)?;
    if &now == END_VALID {
        return Ok(());
    }
    let ours = (0..3).all(|i| now[i] == END_INVALID[i] || now[i] == END_VALID[i]);
    if !ours {
        return Err(FlashError::new(FlashErrorKind::NotErased, name));
    }
    flash.program(name, END_VALID)
}

fn flash_fail(e: FlashError, what: &str) -> ! {
    if e.kind == FlashErrorKind::OutOfBounds {
        fail(
            ERR_CACHE_FULL,
            e.address,
            b"cache region too small: \x03 needs \x01",
            &[e.address],
            &[what],
        )
    }
    fail(
        ERR_FLASH,
        e.address,
        b"\x03: flash at \x01: \x03",
        &[e.address],
        &[what, e.kind.describe()],
    )
}

fn sink_fail(e: SinkError, entry: u32) -> ! {
    match e {
        SinkError::Full { offset } => fail(
            ERR_CACHE_FULL,
            entry,
            b"cache region too small: the entry at \x01 needs more than \x02 bytes",
            &[entry, offset as u32],
            &[],
        ),
        other => {
            let (what, n) = match other {
                SinkError::Full { offset } => ("full at offset ", offset),
                SinkError::NotErased { offset } => ("patch over cleared bits at offset ", offset),
                SinkError::OutOfRange { offset } => ("patch out of range at offset ", offset),
                SinkError::Device { offset } => ("device error at offset ", offset),
                SinkError::OutOfMemory { bytes } => ("out of memory, bytes wanted: ", bytes),
            };
            fail(
                ERR_FLASH,
                entry,
                b"writing the entry at \x01: \x03\x02",
                &[entry, n as u32],
                &[what],
            )
        }
    }
}

/// A failed compile left code after the last entry: make the rest of the cache blank again, so
/// that the flash holds exactly what an uninterrupted run of the modules that compiled leaves.
fn clear_leftovers(flash: &mut RomFlash, next: u32, cache_end: u32) {
    if let Err(e) = prepare_entry(flash, next) {
        flash_fail(e, "clearing a failed module's code");
    }
    let mut sector = (next & !(SECTOR_SIZE - 1)) + SECTOR_SIZE;
    while sector < cache_end {
        let blank = flash
            .slice(sector, SECTOR_SIZE as usize)
            .is_some_and(|s| s.iter().all(|&b| b == 0xFF));
        if blank {
            break;
        }
        if let Err(e) = flash.erase(sector, sector + SECTOR_SIZE) {
            flash_fail(e, "clearing a failed module's code");
        }
        sector += SECTOR_SIZE;
    }
}

/// `offset` is `None` for an error at no particular place (recorded as `u32::MAX`).
fn record_error(i: usize, kind: u32, offset: Option<usize>) {
    set_mb(rec(i, REC_ERR_KIND), kind);
    let offset = offset
        .and_then(|o| u32::try_from(o).ok())
        .unwrap_or(u32::MAX);
    set_mb(rec(i, REC_ERR_OFFSET), offset);
}

/// A BEAM reader's error: the heap refusing an allocation is out of memory, not a bad module.
fn beam_error(i: usize, e: &avm_jit_core::Error) {
    let kind = match e.kind {
        avm_jit_core::ErrorKind::OutOfMemory { .. } => MERR_OUT_OF_MEMORY,
        _ => MERR_BEAM,
    };
    record_error(i, kind, e.offset);
}

/// Compile the module at `section` of `avm` into an entry at `entry`; returns the next entry's
/// address and the code size, or `Err` after recording why the module has no entry.
fn compile_one(
    flash: &mut RomFlash,
    avm: &Avm,
    section: u32,
    target: CodeTarget,
    entry: u32,
    i: usize,
) -> Result<(u32, u32), ()> {
    set_mb(rec(i, REC_ERR_OPCODE), u32::MAX);
    set_mb(rec(i, REC_ERR_LABEL), u32::MAX);
    set_mb(rec(i, REC_ERR_FUNCTION), u32::MAX);
    let t0 = timer_us();
    let before = flash.stats;
    heap::reset_peak();
    heap::paint_stack();
    let result = compile_entry(flash, avm, section, target, entry, i);
    set_mb(rec(i, REC_US), timer_us().wrapping_sub(t0));
    set_mb(
        rec(i, REC_FLASH_US),
        flash.stats.busy_us.wrapping_sub(before.busy_us),
    );
    set_mb(rec(i, REC_ERASES), flash.stats.erases - before.erases);
    set_mb(rec(i, REC_PROGRAMS), flash.stats.programs - before.programs);
    set_mb(rec(i, REC_PEAK_HEAP), heap::peak() as u32);
    set_mb(rec(i, REC_PEAK_STACK), heap::stack_peak() as u32);
    result
}

#[inline(never)]
fn compile_entry(
    flash: &mut RomFlash,
    avm: &Avm,
    section: u32,
    target: CodeTarget,
    entry: u32,
    i: usize,
) -> Result<(u32, u32), ()> {
    let Some((name, data_offset, bytes)) = section_at(avm, section) else {
        record_error(i, MERR_NOT_A_MODULE, Some(section as usize));
        set_mb_text(NAME, NAME_LEN, b"");
        return Err(());
    };
    set_mb_text(NAME, NAME_LEN, name.strip_suffix(b".beam").unwrap_or(name));
    let module = Module::parse(bytes).map_err(|e| beam_error(i, &e))?;
    let env = BeamEnv::new(&module).map_err(|e| beam_error(i, &e))?;
    let Some(code) = module.chunk(*b"Code") else {
        record_error(i, MERR_BEAM, None);
        return Err(());
    };
    // The entry names the module by the flash address of its `Code` chunk's tag.
    let code_tag = avm.base + (data_offset + code.offset - 8) as u32;
    let sink = match FlashSink::new(flash, entry) {
        Ok(s) => s,
        Err(StartError::Flash(e)) => flash_fail(e, "starting an entry"),
        Err(StartError::OutOfMemory(_)) => {
            record_error(i, MERR_OUT_OF_MEMORY, None);
            return Err(());
        }
    };
    match compile_into(&module, &env, target, sink) {
        Ok((sink, labels)) => {
            let size = avm_jit_core::stream::CodeSink::offset(&sink) as u32;
            set_mb(rec(i, REC_LABELS), labels);
            match sink.finish(ENTRY_VERSION, code_tag, labels) {
                Ok(next) => Ok((next, size)),
                Err(e) => sink_fail(e, entry),
            }
        }
        Err(ModuleError::Beam(e)) => {
            beam_error(i, &e);
            Err(())
        }
        Err(ModuleError::Compile(ce)) => {
            let kind = match ce.kind {
                CompileErrorKind::BadHeader(_) => MERR_HEADER,
                CompileErrorKind::UnsupportedOpcode(_) => MERR_OPCODE,
                CompileErrorKind::Operand(_) => MERR_OPERAND,
                CompileErrorKind::Backend(BackendError::Sink(e)) => sink_fail(e, entry),
                CompileErrorKind::Backend(_) => MERR_BACKEND,
                CompileErrorKind::BadEnd => MERR_END,
                CompileErrorKind::OutOfMemory(_) => MERR_OUT_OF_MEMORY,
            };
            record_error(i, kind, Some(ce.offset));
            if let Some(op) = ce.opcode {
                set_mb(rec(i, REC_ERR_OPCODE), op.into());
            }
            if let Some(label) = ce.label {
                set_mb(rec(i, REC_ERR_LABEL), label);
            }
            if let Some((function, arity)) = ce.function {
                set_mb(rec(i, REC_ERR_FUNCTION), function);
                set_mb(rec(i, REC_ERR_ARITY), arity);
            }
            Err(())
        }
    }
}

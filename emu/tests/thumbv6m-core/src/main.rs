//! Maps flash with the boot ROM sequence, then forever: reads {flash offset, length} of a
//! `.beam` from the mailbox, compiles it in place from XIP, writes {status, output address,
//! output length, peak heap} back and stops with `bkpt #1` (the host resumes it).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::alloc::{GlobalAlloc, Layout};
use core::ptr::{addr_of_mut, read_volatile, write_volatile};

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{compile_into, BeamEnv, CodeTarget};
use avm_jit_core::native::{single_arch_header, ARCH_ARMV6M, VARIANT_PIC};
use avm_jit_core::stream::VecSink;

const MAILBOX: usize = 0x2004_1000;
const HEAP: usize = 72 * 1024;

/// A bump heap, emptied before each module; frees and grows the top block in place.
struct Bump;
static mut HEAP_MEM: [u8; HEAP] = [0; HEAP];
static mut TOP: usize = 0;
static mut LAST: usize = 0;
static mut PEAK: usize = 0;

fn base() -> usize {
    unsafe { addr_of_mut!(HEAP_MEM) as usize }
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let start = (base() + TOP + l.align() - 1) & !(l.align() - 1);
        if start + l.size() > base() + HEAP {
            return core::ptr::null_mut();
        }
        LAST = start - base();
        TOP = LAST + l.size();
        PEAK = PEAK.max(TOP);
        start as *mut u8
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if p as usize - base() == LAST && LAST + l.size() == TOP {
            TOP = LAST;
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if p as usize - base() == LAST && LAST + l.size() == TOP && LAST + new <= HEAP {
            TOP = LAST + new;
            PEAK = PEAK.max(TOP);
            return p;
        }
        let n = self.alloc(Layout::from_size_align_unchecked(new, l.align()));
        if !n.is_null() {
            core::ptr::copy_nonoverlapping(p, n, l.size().min(new));
        }
        n
    }
}

#[global_allocator]
static ALLOCATOR: Bump = Bump;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        unsafe { core::arch::asm!("bkpt #0xee") }
    }
}

/// A boot ROM function by its two-letter code, looked up as on the RP2040.
unsafe fn rom(code: &[u8; 2]) -> unsafe extern "C" fn() {
    type Lookup = unsafe extern "C" fn(*const u16, u32) -> usize;
    let lookup: Lookup = core::mem::transmute(read_volatile(0x18 as *const u16) as usize);
    let table = read_volatile(0x14 as *const u16) as usize as *const u16;
    core::mem::transmute(lookup(table, u16::from_le_bytes(*code) as u32))
}

fn compile(beam: &[u8]) -> Result<alloc::vec::Vec<u8>, u32> {
    let module = Module::parse(beam).map_err(|_| 1u32)?;
    let env = BeamEnv::new(&module).map_err(|_| 2u32)?;
    let labels = module.code().map_err(|_| 3u32)?.label_count;
    let mut sink = VecSink::with_prefix(&single_arch_header(labels, ARCH_ARMV6M, VARIANT_PIC));
    sink.set_strict(false);
    let (sink, _) = compile_into(&module, &env, CodeTarget::Armv6m, sink).map_err(|_| 4u32)?;
    Ok(sink.into_bytes())
}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    unsafe {
        rom(b"IF")();
        rom(b"EX")();
        rom(b"FC")();
        rom(b"CX")();
        loop {
            let offset = read_volatile(MAILBOX as *const u32) as usize;
            let len = read_volatile((MAILBOX + 4) as *const u32) as usize;
            TOP = 0;
            LAST = 0;
            PEAK = 0;
            let beam = core::slice::from_raw_parts((0x1000_0000 + offset) as *const u8, len);
            let (status, addr, n) = match compile(beam) {
                Ok(out) => {
                    let r = (0, out.as_ptr() as u32, out.len() as u32);
                    core::mem::forget(out);
                    r
                }
                Err(e) => (e, 0, 0),
            };
            write_volatile((MAILBOX + 8) as *mut u32, status);
            write_volatile((MAILBOX + 12) as *mut u32, addr);
            write_volatile((MAILBOX + 16) as *mut u32, n);
            write_volatile((MAILBOX + 20) as *mut u32, PEAK as u32);
            core::arch::asm!("bkpt #1");
        }
    }
}

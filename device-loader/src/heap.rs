//! The heap (between the image and the stack, see `loader.x`), measured: bytes in use, peak since
//! the last reset and overall, and the size of a request that failed (for the out-of-memory
//! report). Also the stack's high-water mark, by painting it.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::NonNull;

use linked_list_allocator::Heap;

extern "C" {
    static mut __heap_start: u8;
    static mut __heap_end: u8;
    static mut __stack_bottom: u8;
    static mut __stack_top: u8;
}

struct State {
    heap: Heap,
    peak: usize,
    overall: usize,
    failed: usize,
    start_us: u32,
}

struct Measured(UnsafeCell<State>);

// SAFETY: one core, no interrupts enabled: never accessed concurrently.
unsafe impl Sync for Measured {}

#[global_allocator]
static HEAP: Measured = Measured(UnsafeCell::new(State {
    heap: Heap::empty(),
    peak: 0,
    overall: 0,
    failed: 0,
    start_us: 0,
}));

fn state() -> &'static mut State {
    // SAFETY: see `Sync` above; no reference outlives a call.
    unsafe { &mut *HEAP.0.get() }
}

unsafe impl GlobalAlloc for Measured {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let s = state();
        match s.heap.allocate_first_fit(layout) {
            Ok(p) => {
                let used = s.heap.used();
                s.peak = s.peak.max(used);
                s.overall = s.overall.max(used);
                p.as_ptr()
            }
            Err(()) => {
                s.failed = layout.size().max(1);
                core::ptr::null_mut()
            }
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this layout.
            unsafe { state().heap.deallocate(p, layout) }
        }
    }
}

pub fn init() {
    let s = state();
    s.start_us = crate::timer_us();
    // SAFETY: linker symbols; the range between them belongs to the heap alone.
    unsafe {
        let start = core::ptr::addr_of_mut!(__heap_start);
        let end = core::ptr::addr_of_mut!(__heap_end);
        s.heap.init(start, end as usize - start as usize);
    }
}

pub fn start_us() -> u32 {
    state().start_us
}
pub fn size() -> usize {
    state().heap.size()
}
pub fn used() -> usize {
    state().heap.used()
}
pub fn failed_request() -> usize {
    state().failed
}
/// A new module: its peak starts from what is in use now, and a request refused while compiling
/// an earlier module (which that module reported as out of memory) no longer explains a panic.
pub fn reset_peak() {
    let s = state();
    s.peak = s.heap.used();
    s.failed = 0;
}
pub fn peak() -> usize {
    state().peak
}
pub fn overall_peak() -> usize {
    state().overall
}

const PAINT: u32 = 0xA5A5_A5A5;

fn stack_bounds() -> (usize, usize) {
    (
        core::ptr::addr_of!(__stack_bottom) as usize,
        core::ptr::addr_of!(__stack_top) as usize,
    )
}

/// Paint the free part of the stack (below the current frame).
#[inline(never)]
pub fn paint_stack() {
    let (bottom, _) = stack_bounds();
    let sp: usize;
    // SAFETY: reads the stack pointer.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp) };
    let mut at = bottom;
    while at + 64 < sp {
        // SAFETY: unused stack below the current frame, word aligned.
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// Deepest stack use since the stack was last painted (bytes from its top).
pub fn stack_peak() -> usize {
    let (bottom, top) = stack_bounds();
    let mut at = bottom;
    // SAFETY: inside the stack region, word aligned.
    while at < top && unsafe { core::ptr::read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    top - at
}

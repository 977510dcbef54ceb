//! Runs `work` (shared with the host test) and stores its results at 0x2003_0000, then `bkpt #1`.
#![no_std]
#![no_main]

include!("../work.rs");

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        unsafe { core::arch::asm!("bkpt #0xee") }
    }
}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut out = [0u32; 8];
    work(&mut out);
    for (i, v) in out.iter().enumerate() {
        unsafe { core::ptr::write_volatile((0x2003_0000 + 4 * i) as *mut u32, *v) }
    }
    unsafe { core::arch::asm!("bkpt #1") };
    loop {}
}

//! Clock bring-up, as the Pico SDK's runtime does it before `main`: after a debugger's
//! reset-and-halt neither the boot ROM nor boot2 has run, so the chip runs from the ring
//! oscillator (nominally 6.5 MHz, anywhere from 1.8 to 12 MHz) and the watchdog tick that the
//! TIMER counts is not generated (TIMERAWL reads 0). This brings clk_sys to 125 MHz from PLL_SYS
//! on the Pico's 12 MHz crystal and starts the 1 µs timer tick.
//!
//! Flash stays safe at 125 MHz: the loader never sets up the flash interface itself. Every access
//! goes through the boot ROM, whose `flash_exit_xip` (run before each `flash_enter_cmd_xip` and
//! each erase/program, see `rom.rs`) sets the SSI's clock divider BAUDR to 6: SCK is clk_sys / 6
//! = 20.8 MHz, well under the 50 MHz that plain 03h reads allow on the Pico's W25Q16JV (boot2
//! itself uses a divider of 2 to 4 at 125 MHz). Nothing reads flash before this runs.
//!
//! Register addresses and values are the RP2040 datasheet's.

const RESETS_BASE: u32 = 0x4000_C000;
const RESETS_RESET: u32 = RESETS_BASE;
const RESETS_RESET_DONE: u32 = RESETS_BASE + 0x8;
const RESET_PLL_SYS: u32 = 1 << 12;
const RESET_TIMER: u32 = 1 << 21;

const CLOCKS_BASE: u32 = 0x4000_8000;
const CLK_REF_CTRL: u32 = CLOCKS_BASE + 0x30;
const CLK_REF_DIV: u32 = CLOCKS_BASE + 0x34;
const CLK_REF_SELECTED: u32 = CLOCKS_BASE + 0x38;
const CLK_SYS_CTRL: u32 = CLOCKS_BASE + 0x3c;
const CLK_SYS_DIV: u32 = CLOCKS_BASE + 0x40;
const CLK_SYS_SELECTED: u32 = CLOCKS_BASE + 0x44;
const CLK_SYS_RESUS_CTRL: u32 = CLOCKS_BASE + 0x78;
/// CLK_REF_CTRL.SRC: 0 = ROSC, 2 = XOSC. SELECTED is one-hot in the source number.
const CLK_REF_SRC_ROSC: u32 = 0;
const CLK_REF_SRC_XOSC: u32 = 2;
/// CLK_SYS_CTRL.SRC (bit 0): 0 = clk_ref, 1 = the aux mux; AUXSRC (bits 7:5): 0 = PLL_SYS.
const CLK_SYS_SRC_AUX: u32 = 1;
const CLK_SYS_AUXSRC_MASK: u32 = 7 << 5;
/// A divider register holding 1.0 (integer part from bit 8).
const DIV_1: u32 = 1 << 8;

const XOSC_BASE: u32 = 0x4002_4000;
const XOSC_CTRL: u32 = XOSC_BASE;
const XOSC_STATUS: u32 = XOSC_BASE + 0x4;
const XOSC_STARTUP: u32 = XOSC_BASE + 0xc;
const XOSC_CTRL_FREQ_RANGE_1_15MHZ: u32 = 0xaa0;
const XOSC_CTRL_ENABLE: u32 = 0xfab << 12;
const XOSC_STATUS_STABLE: u32 = 1 << 31;
/// The crystal on the Pico.
const XOSC_KHZ: u32 = 12_000;
/// About 1 ms of start-up, in units of 256 crystal cycles.
const XOSC_STARTUP_DELAY: u32 = XOSC_KHZ.div_ceil(256);

const PLL_SYS_BASE: u32 = 0x4002_8000;
const PLL_CS: u32 = PLL_SYS_BASE;
const PLL_PWR: u32 = PLL_SYS_BASE + 0x4;
const PLL_FBDIV_INT: u32 = PLL_SYS_BASE + 0x8;
const PLL_PRIM: u32 = PLL_SYS_BASE + 0xc;
const PLL_CS_LOCK: u32 = 1 << 31;
const PLL_PWR_PD: u32 = 1 << 0;
const PLL_PWR_POSTDIVPD: u32 = 1 << 3;
const PLL_PWR_VCOPD: u32 = 1 << 5;
/// 12 MHz / 1 × 125 = VCO 1500 MHz; / 6 / 2 = 125 MHz.
const PLL_REFDIV: u32 = 1;
const PLL_FBDIV: u32 = 125;
const PLL_POSTDIV1: u32 = 6;
const PLL_POSTDIV2: u32 = 2;

const WATCHDOG_BASE: u32 = 0x4005_8000;
const WATCHDOG_TICK: u32 = WATCHDOG_BASE + 0x2c;
const WATCHDOG_TICK_ENABLE: u32 = 1 << 9;
/// clk_ref cycles per timer tick: 12 MHz / 12 = 1 µs.
const TICK_CYCLES: u32 = XOSC_KHZ / 1000;

/// Atomic register aliases of every APB block.
const SET: u32 = 0x2000;
const CLR: u32 = 0x3000;

fn read(addr: u32) -> u32 {
    // SAFETY: a word-aligned register of a block listed above.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write(addr: u32, value: u32) {
    // SAFETY: as in `read`; the values written are the datasheet's.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

fn wait(addr: u32, mask: u32, value: u32) {
    while read(addr) & mask != value {}
}

/// clk_sys at 125 MHz from PLL_SYS, clk_ref at 12 MHz from the crystal, TIMER counting µs.
/// Safe to run again on a chip already set up so (the PLL is reconfigured only after clk_sys
/// has left it).
pub fn init() {
    // No resuscitation of clk_sys while switching; both clocks to their glitchless defaults.
    write(CLK_SYS_RESUS_CTRL, 0);
    write(CLK_SYS_CTRL + CLR, CLK_SYS_SRC_AUX);
    wait(CLK_SYS_SELECTED, !0, 1);
    write(CLK_REF_CTRL + CLR, 3);
    wait(CLK_REF_SELECTED, !0, 1 << CLK_REF_SRC_ROSC);

    write(XOSC_CTRL, XOSC_CTRL_FREQ_RANGE_1_15MHZ);
    write(XOSC_STARTUP, XOSC_STARTUP_DELAY);
    write(XOSC_CTRL, XOSC_CTRL_FREQ_RANGE_1_15MHZ | XOSC_CTRL_ENABLE);
    wait(XOSC_STATUS, XOSC_STATUS_STABLE, XOSC_STATUS_STABLE);

    write(RESETS_RESET + SET, RESET_PLL_SYS);
    write(RESETS_RESET + CLR, RESET_PLL_SYS);
    wait(RESETS_RESET_DONE, RESET_PLL_SYS, RESET_PLL_SYS);
    write(PLL_CS, PLL_REFDIV);
    write(PLL_FBDIV_INT, PLL_FBDIV);
    write(PLL_PWR + CLR, PLL_PWR_PD | PLL_PWR_VCOPD);
    wait(PLL_CS, PLL_CS_LOCK, PLL_CS_LOCK);
    write(PLL_PRIM, PLL_POSTDIV1 << 16 | PLL_POSTDIV2 << 12);
    write(PLL_PWR + CLR, PLL_PWR_POSTDIVPD);

    write(CLK_REF_DIV, DIV_1);
    write(CLK_REF_CTRL, CLK_REF_SRC_XOSC);
    wait(CLK_REF_SELECTED, !0, 1 << CLK_REF_SRC_XOSC);

    write(CLK_SYS_DIV, DIV_1);
    // AUXSRC 0 is PLL_SYS; changed only while clk_sys is on clk_ref (the aux mux glitches).
    write(CLK_SYS_CTRL + CLR, CLK_SYS_AUXSRC_MASK);
    write(CLK_SYS_CTRL + SET, CLK_SYS_SRC_AUX);
    wait(CLK_SYS_SELECTED, !0, 1 << CLK_SYS_SRC_AUX);

    write(WATCHDOG_TICK, TICK_CYCLES | WATCHDOG_TICK_ENABLE);
    write(RESETS_RESET + CLR, RESET_TIMER);
    wait(RESETS_RESET_DONE, RESET_TIMER, RESET_TIMER);
}

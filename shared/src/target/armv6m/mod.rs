//! ARMv6-M (Thumb-1, Cortex-M0+) backend, optionally with the Thumb-2 variant for the Pico 2.

pub mod asm;
pub mod disasm;

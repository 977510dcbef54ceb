//! Flash layout planning (RP2040, RP2350) and AtomVM's JIT cache records.
//!
//! - [`chip`]: the chips and what differs between them (layout, code variant, UF2 family, probe).
//! - [`nor`]: the NOR-flash model every destination speaks ([`NorFlash`]) and an in-memory image.
//! - [`plan`]: where AVMs go and which region the JIT cache gets, with every refusal checked
//!   before anything is written.
//! - [`cache`]: the records of AtomVM's `jit_stream_flash` cache (reader and writer helpers).
//! - [`prefill`]: which modules get cache entries, in which order, where, and the END marking.
//! - [`sink`]: a code sink that compiles straight into a cache entry (the device loader's path).
//! - [`mailbox`]: the protocol between the host and the device loader running in SRAM.
//! - [`uf2`]: a plan as UF2 blocks for the BOOTSEL drive.

pub mod cache;
pub mod chip;
pub mod mailbox;
pub mod nor;
pub mod plan;
pub mod prefill;
pub mod sink;
pub mod uf2;

pub use chip::{Chip, ChipError};
pub use nor::{FlashError, MemFlash, NorFlash};
pub use plan::{Layout, Plan, PlanError, PlanRequest, Step};

/// Erase granularity of the RP2040's and RP2350's QSPI flash (and of AtomVM's cache layout).
pub const SECTOR_SIZE: u32 = 4096;
/// Program granularity of the RP2040's and RP2350's QSPI flash (and of UF2 payloads).
pub const PAGE_SIZE: u32 = 256;

/// `value` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub const fn align_up(value: u32, align: u32) -> Option<u32> {
    match value.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

pub const fn align_down(value: u32, align: u32) -> u32 {
    value & !(align - 1)
}

//! A plan as UF2 blocks, for dragging onto the RP2040's BOOTSEL drive.
//!
//! Each 512-byte block carries 256 bytes for one flash page. The boot ROM erases a sector before it
//! programs the first page it receives for it, so a plan is always sector-complete (the planner
//! pads AVMs to whole sectors); erase steps become blocks of `0xFF`.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::plan::{Plan, Step};
use super::PAGE_SIZE;

pub const MAGIC_START0: u32 = 0x0A32_4655;
pub const MAGIC_START1: u32 = 0x9E5D_5157;
pub const MAGIC_END: u32 = 0x0AB1_6F30;
/// The block's last word holds a family ID.
pub const FLAG_FAMILY_ID_PRESENT: u32 = 0x0000_2000;
pub const RP2040_FAMILY_ID: u32 = 0xE48B_FF56;
pub const BLOCK_LEN: usize = 512;

/// The pages a plan touches, each with its final contents.
pub fn plan_pages(plan: &Plan<'_>) -> BTreeMap<u32, [u8; PAGE_SIZE as usize]> {
    let mut pages: BTreeMap<u32, [u8; PAGE_SIZE as usize]> = BTreeMap::new();
    for step in &plan.steps {
        let range = step.range();
        let mut page = super::align_down(range.start, PAGE_SIZE);
        while page < range.end {
            let buf = pages.entry(page).or_insert([0xFF; PAGE_SIZE as usize]);
            if let Step::Program { address, data } = *step {
                let lo = page.max(address);
                let hi = (page + PAGE_SIZE).min(range.end);
                buf[(lo - page) as usize..(hi - page) as usize]
                    .copy_from_slice(&data[(lo - address) as usize..(hi - address) as usize]);
            }
            page += PAGE_SIZE;
        }
    }
    pages
}

/// Encode pages (address → contents) as UF2 blocks, in address order.
pub fn encode_pages(pages: &BTreeMap<u32, [u8; PAGE_SIZE as usize]>, family_id: u32) -> Vec<u8> {
    let total = pages.len() as u32;
    let mut out = Vec::with_capacity(pages.len() * BLOCK_LEN);
    for (index, (address, data)) in pages.iter().enumerate() {
        let words = [
            MAGIC_START0,
            MAGIC_START1,
            FLAG_FAMILY_ID_PRESENT,
            *address,
            PAGE_SIZE,
            index as u32,
            total,
            family_id,
        ];
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(data);
        out.resize(out.len() + BLOCK_LEN - 32 - 4 - data.len(), 0);
        out.extend_from_slice(&MAGIC_END.to_le_bytes());
    }
    out
}

/// The plan as an RP2040 UF2 file.
pub fn encode_plan(plan: &Plan<'_>) -> Vec<u8> {
    encode_pages(&plan_pages(plan), RP2040_FAMILY_ID)
}

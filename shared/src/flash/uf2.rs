//! A plan as UF2 blocks, for dragging onto the BOOTSEL drive of an RP2040 or RP2350.
//!
//! Each 512-byte block carries 256 bytes for one flash page. The boot ROM erases a sector before it
//! programs the first page it receives for it, so a plan is always sector-complete (the planner
//! pads AVMs to whole sectors); erase steps become blocks of `0xFF`.
//!
//! The family id comes from the chip ([`super::chip::Chip::uf2`]). For the RP2350 the file starts
//! with the block picotool adds for erratum RP2350-E10 (UF2 drag and drop does not work with
//! partition tables): one page of `0xEF` of family ABSOLUTE, numbered 0 of 2, marked with the
//! RP2_IGNORE_BLOCK extension. picotool aims it at `0x10ff_ff00`, the last page of a 16 MiB flash;
//! here it goes to the last page of the flash the plan describes, which is where `0x10ff_ff00`
//! lands on a 4 MiB (or any power-of-two) chip anyway. A boot ROM that does write it (the A2
//! stepping does) writes it first; the plan's own blocks for that sector, when the cache region
//! reaches the end of flash, come after it and leave the sector erased.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::chip::{family, Uf2Format};
use super::plan::{Plan, Step};
use super::PAGE_SIZE;

pub const MAGIC_START0: u32 = 0x0A32_4655;
pub const MAGIC_START1: u32 = 0x9E5D_5157;
pub const MAGIC_END: u32 = 0x0AB1_6F30;
/// The block's last word holds a family ID.
pub const FLAG_FAMILY_ID_PRESENT: u32 = 0x0000_2000;
/// Extension tags follow the payload.
pub const FLAG_EXTENSION_FLAGS_PRESENT: u32 = 0x0000_8000;
/// Extension tag (size 4, type `0x9957e3`): RP2 boot ROMs are to skip the block.
pub const EXTENSION_RP2_IGNORE_BLOCK: u32 = 0x9957_E304;
pub const RP2040_FAMILY_ID: u32 = family::RP2040;
pub const BLOCK_LEN: usize = 512;
/// Payload byte of the RP2350-E10 block.
pub const ABS_BLOCK_FILL: u8 = 0xEF;

/// The pages a plan touches, each with its final contents.
pub fn plan_pages(plan: &Plan<'_>) -> BTreeMap<u32, [u8; PAGE_SIZE as usize]> {
    let mut staged = StagedPages::default();
    staged.add(plan);
    staged.pages
}

/// Pages written in stages (plans applied one after another, such as a prefill's AVMs and entries,
/// then its `END` marks): each page holds its final contents and remembers the last stage that
/// touched it, so that [`encode_staged`] can put later stages last in the file.
#[derive(Debug, Default, Clone)]
pub struct StagedPages {
    pages: BTreeMap<u32, [u8; PAGE_SIZE as usize]>,
    stage_of: BTreeMap<u32, usize>,
    stages: usize,
}

impl StagedPages {
    /// Apply `plan` as the next stage, over what the earlier stages wrote.
    pub fn add(&mut self, plan: &Plan<'_>) {
        let stage = self.stages;
        self.stages += 1;
        for step in &plan.steps {
            let range = step.range();
            let mut page = super::align_down(range.start, PAGE_SIZE);
            while page < range.end {
                let buf = self.pages.entry(page).or_insert([0xFF; PAGE_SIZE as usize]);
                let lo = page.max(range.start);
                let hi = (page + PAGE_SIZE).min(range.end);
                let dest = &mut buf[(lo - page) as usize..(hi - page) as usize];
                match *step {
                    Step::Program { address, data } => dest
                        .copy_from_slice(&data[(lo - address) as usize..(hi - address) as usize]),
                    _ => dest.fill(0xFF),
                }
                self.stage_of.insert(page, stage);
                page += PAGE_SIZE;
            }
        }
    }

    /// Every page touched so far, with its final contents.
    pub fn pages(&self) -> &BTreeMap<u32, [u8; PAGE_SIZE as usize]> {
        &self.pages
    }
}

/// One block: header, a page of payload, `extension` words after it, zero padding, end magic.
fn push_block(out: &mut Vec<u8>, header: [u32; 8], data: &[u8], extension: &[u32]) {
    let start = out.len();
    for w in header {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(data);
    for w in extension {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.resize(start + BLOCK_LEN - 4, 0);
    out.extend_from_slice(&MAGIC_END.to_le_bytes());
}

/// The RP2350-E10 block picotool puts first in a flash UF2, aimed at `address` (a page).
pub fn abs_block(address: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOCK_LEN);
    let header = [
        MAGIC_START0,
        MAGIC_START1,
        FLAG_FAMILY_ID_PRESENT | FLAG_EXTENSION_FLAGS_PRESENT,
        address,
        PAGE_SIZE,
        0,
        // Two blocks, so that this one alone never completes a download.
        2,
        family::ABSOLUTE,
    ];
    let fill = [ABS_BLOCK_FILL; PAGE_SIZE as usize];
    push_block(&mut out, header, &fill, &[EXTENSION_RP2_IGNORE_BLOCK]);
    out
}

/// The plan as a UF2 file in the chip's format.
pub fn encode_plan(plan: &Plan<'_>, format: Uf2Format) -> Vec<u8> {
    let mut staged = StagedPages::default();
    staged.add(plan);
    encode_staged(&staged, plan.layout.flash_end(), format)
}

/// Staged pages as a UF2 file in the chip's format. A boot ROM writes blocks in file order and
/// erases a 4 KiB sector before the first page it receives for it, so pages go out sector by
/// sector (each sector's pages together, in address order), and a sector goes out with the last
/// stage that touched it: a copy interrupted part-way never leaves a later stage (such as the `END`
/// marks that make a prefilled cache valid) written before an earlier one is complete.
pub fn encode_staged(staged: &StagedPages, flash_end: u32, format: Uf2Format) -> Vec<u8> {
    let sector_of = |page: u32| super::align_down(page, super::SECTOR_SIZE);
    let mut sector_stage: BTreeMap<u32, usize> = BTreeMap::new();
    for (&page, &stage) in &staged.stage_of {
        let s = sector_stage.entry(sector_of(page)).or_insert(stage);
        *s = (*s).max(stage);
    }
    let mut order: Vec<(usize, u32)> = staged
        .pages
        .keys()
        .map(|&page| {
            let stage = sector_stage.get(&sector_of(page)).copied().unwrap_or(0);
            (stage, page)
        })
        .collect();
    order.sort_unstable();
    let total = order.len() as u32;
    let mut out = Vec::with_capacity((order.len() + 1) * BLOCK_LEN);
    if format.e10_abs_block {
        out.extend_from_slice(&abs_block(flash_end - PAGE_SIZE));
    }
    for (index, (_, address)) in order.iter().enumerate() {
        let header = [
            MAGIC_START0,
            MAGIC_START1,
            FLAG_FAMILY_ID_PRESENT,
            *address,
            PAGE_SIZE,
            index as u32,
            total,
            format.family_id,
        ];
        if let Some(data) = staged.pages.get(address) {
            push_block(&mut out, header, data, &[]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avm::PackBuilder;
    use crate::flash::plan::{plan, PlanRequest};
    use crate::flash::Chip;
    use alloc::vec;

    fn word(block: &[u8], i: usize) -> u32 {
        u32::from_le_bytes([
            block[i * 4],
            block[i * 4 + 1],
            block[i * 4 + 2],
            block[i * 4 + 3],
        ])
    }

    #[test]
    fn rp2350_files_start_with_the_e10_block_then_data_pages() {
        let mut b = PackBuilder::new();
        let mut beam = b"FOR1\0\0\0\x0cBEAM".to_vec();
        beam.resize(20, 0);
        b.beam("app", &beam, true).unwrap();
        let avm = b.finish();
        let mut req = PlanRequest::new(&avm);
        req.layout = Chip::Rp2350.layout(None).unwrap();
        req.cache_size = Some(4096);
        let p = plan(&req).unwrap();
        let uf2 = encode_plan(&p, Chip::Rp2350.uf2());
        let blocks: vec::Vec<&[u8]> = uf2.chunks(BLOCK_LEN).collect();
        // main.avm's sector and one cache sector: 32 pages, after the E10 block.
        assert_eq!(blocks.len(), 1 + 32);
        let e10 = blocks[0];
        // Flags FAMILY_ID_PRESENT | EXTENSION_FLAGS_PRESENT, the last page of 4 MiB, 0 of 2, ABSOLUTE.
        let header: vec::Vec<u32> = (2..8).map(|i| word(e10, i)).collect();
        assert_eq!(header, [0xA000, 0x103F_FF00, 256, 0, 2, 0xE48B_FF57]);
        assert!(e10[32..288].iter().all(|&x| x == 0xEF));
        assert_eq!(word(e10, 72), 0x9957_E304);
        assert!(e10[292..508].iter().all(|&x| x == 0));
        for (i, block) in blocks[1..].iter().enumerate() {
            let header: vec::Vec<u32> = (2..8).map(|w| word(block, w)).collect();
            let address = 0x1018_0000 + 256 * i as u32;
            assert_eq!(header, [0x2000, address, 256, i as u32, 32, 0xE48B_FF58]);
            assert_eq!(word(block, 127), MAGIC_END);
        }
        // The Pico's files carry RP2040 blocks only.
        req.layout = Chip::Rp2040.layout(None).unwrap();
        let p = plan(&req).unwrap();
        let uf2 = encode_plan(&p, Chip::Rp2040.uf2());
        assert_eq!(uf2.len(), 32 * BLOCK_LEN);
        assert!(uf2
            .chunks(BLOCK_LEN)
            .all(|b| word(b, 2) == 0x2000 && word(b, 7) == 0xE48B_FF56));
    }
}

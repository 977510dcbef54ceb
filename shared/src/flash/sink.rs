//! A [`CodeSink`] that streams a module's native code straight into a JIT cache entry in flash.
//!
//! Same scheme as AtomVM's flash stream: the 16-byte entry header stays blank while the code is
//! appended after it, one 256-byte page at a time; a sector entered for the first time is erased if
//! it holds leftovers. When the module is done, [`FlashSink::finish`] programs the header, which
//! makes the entry visible.
//!
//! Back-patches are frequent (every forward branch, every label of the jump table), and on the
//! chip each program call costs at least a whole page (~0.4 ms). So the last [`WINDOW_PAGES`]
//! pages stay in RAM until the code has moved past them, and patches to them cost nothing; a patch
//! to a page already programmed is collected in one of [`PATCH_PAGES`] patch buffers (the page's
//! current contents with the patches applied), programmed when the least recently patched one
//! must make room, or at the end.

use alloc::vec::Vec;
use core::fmt;

use super::cache::{prepare_entry, EntryHeader, ENTRY_HEADER_LEN};
use super::nor::{FlashError, FlashErrorKind, NorFlash};
use super::{align_down, PAGE_SIZE, SECTOR_SIZE};
use crate::mem::{try_with_capacity, AllocError};
use crate::stream::{CodeSink, SinkError};

const PAGE: usize = PAGE_SIZE as usize;
/// Pages of code kept in RAM (the one being filled included): 2 KiB.
pub const WINDOW_PAGES: usize = 8;
/// Programmed pages collecting patches at a time: 1 KiB.
pub const PATCH_PAGES: usize = 4;
/// Bytes in the window. The page at address `a` lives in slot `(a / PAGE) % WINDOW_PAGES`, so
/// the byte at address `a` is at `a % WINDOW_BYTES` in it.
const WINDOW_BYTES: usize = WINDOW_PAGES * PAGE;
pub struct FlashSink<'f, F: NorFlash + ?Sized> {
    flash: &'f mut F,
    /// Where the code starts, after the entry's header.
    start: u32,
    /// Flash address of the next byte appended.
    cursor: u32,
    /// The end of the page being filled, or `cursor` after an error: `page_end - cursor` is
    /// the room left in the page, all `append`'s fast path reads besides the cursor (no room
    /// after an error, so every append then takes the slow path, which does nothing).
    page_end: u32,
    /// The oldest page still in RAM; pages `window_addr..page_end` are buffered.
    window_addr: u32,
    /// `WINDOW_PAGES` page buffers (see [`WINDOW_BYTES`]). A page's bytes past the cursor are
    /// left over from an older page: nothing reads them (patches lie before the cursor) until
    /// [`FlashSink::finish`] blanks them.
    window: Vec<u8>,
    /// [`PATCH_PAGES`] programmed pages with the patches made to them so far; when a further
    /// page is patched, the least recently patched one is programmed to make room. Fixed slots:
    /// a page never moves once read.
    patches: Vec<PatchPage>,
    /// Counts the patches to programmed pages, to stamp their slots.
    clock: u32,
    /// The slot patched last (the most recently stamped while its `used` is not 0).
    last_patch: usize,
    error: Option<SinkError>,
}

#[derive(Clone)]
struct PatchPage {
    addr: u32,
    /// The `clock` when the page was last patched, 0 for a free slot.
    used: u32,
    bytes: [u8; PAGE],
}

/// Why [`FlashSink::new`] could not start an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// Clearing or reading the entry's first sector failed.
    Flash(FlashError),
    /// The heap refused the window or the patch buffers (3 KiB).
    OutOfMemory(AllocError),
}

impl From<FlashError> for StartError {
    fn from(e: FlashError) -> Self {
        StartError::Flash(e)
    }
}

impl From<AllocError> for StartError {
    fn from(e: AllocError) -> Self {
        StartError::OutOfMemory(e)
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Flash(e) => write!(f, "{e}"),
            StartError::OutOfMemory(e) => write!(f, "{e}"),
        }
    }
}

fn sink_error(e: FlashError, code_start: u32) -> SinkError {
    let offset = e.address.saturating_sub(code_start) as usize;
    match e.kind {
        FlashErrorKind::OutOfBounds => SinkError::Full { offset },
        FlashErrorKind::NotErased => SinkError::NotErased { offset },
        _ => SinkError::Device { offset },
    }
}

fn is_blank(flash: &mut (impl NorFlash + ?Sized), sector: u32) -> Result<bool, FlashError> {
    flash.is_erased(sector, sector + SECTOR_SIZE)
}

/// Overwrite `dst` with `src` (as long), which may only clear bits (the NOR rule); `Err(k)`
/// names the first byte that would set one, and nothing from it on is written.
#[inline]
fn clear_bits(dst: &mut [u8], src: &[u8]) -> Result<(), usize> {
    for (k, (d, &s)) in dst.iter_mut().zip(src).enumerate() {
        if *d & s != s {
            return Err(k);
        }
        *d = s;
    }
    Ok(())
}

impl<'f, F: NorFlash + ?Sized> FlashSink<'f, F> {
    /// Start an entry at `entry` (4-byte aligned, from [`super::cache::walk`] or
    /// [`super::cache::first_entry_address`]), clearing leftovers in its sector. Its buffers are
    /// allocated here, fallibly, and never grow afterwards.
    pub fn new(flash: &'f mut F, entry: u32) -> Result<Self, StartError> {
        let mut window = try_with_capacity(WINDOW_BYTES, "the flash sink's window")?;
        window.resize(WINDOW_BYTES, 0xFF);
        let mut patches = try_with_capacity(PATCH_PAGES, "the flash sink's patch pages")?;
        let free = PatchPage {
            addr: 0,
            used: 0,
            bytes: [0xFF; PAGE],
        };
        patches.resize(PATCH_PAGES, free);
        prepare_entry(flash, entry)?;
        let header_end = entry + ENTRY_HEADER_LEN;
        // The header may straddle into the next sector, or end where it starts: the code's first
        // sector is then checked (and erased if needed) like every later one.
        if align_down(header_end, SECTOR_SIZE) != align_down(entry, SECTOR_SIZE) {
            let next = align_down(header_end, SECTOR_SIZE);
            if !is_blank(flash, next)? {
                flash.erase(next, next + SECTOR_SIZE)?;
            }
        }
        let page_addr = align_down(header_end, PAGE_SIZE);
        let at = page_addr as usize % WINDOW_BYTES;
        flash.read(page_addr, &mut window[at..at + PAGE])?;
        Ok(FlashSink {
            flash,
            start: header_end,
            cursor: header_end,
            page_end: page_addr + PAGE_SIZE,
            window_addr: page_addr,
            window,
            patches,
            clock: 0,
            last_patch: 0,
            error: None,
        })
    }

    fn code_start(&self) -> u32 {
        self.start
    }

    /// Record the first error; appends stop (no room left), and so do patches.
    fn fail(&mut self, e: SinkError) {
        self.error = Some(e);
        self.page_end = self.cursor;
    }

    /// Program the oldest page of the window (skipped when blank) and drop it from RAM.
    fn retire_oldest(&mut self) -> Result<(), FlashError> {
        let at = self.window_addr as usize % WINDOW_BYTES;
        let page = &self.window[at..at + PAGE];
        // Code pages are rarely blank: stop at the first programmed byte.
        if page.iter().any(|&b| b != 0xFF) {
            self.flash.program(self.window_addr, page)?;
        }
        self.window_addr += PAGE_SIZE;
        Ok(())
    }

    fn flush_patches(&mut self) -> Result<(), FlashError> {
        for p in &mut self.patches {
            if p.used != 0 {
                p.used = 0;
                self.flash.program(p.addr, &p.bytes)?;
            }
        }
        Ok(())
    }

    /// The slot of the patch buffer of the programmed page at `page`, read into the least
    /// recently patched slot (programmed first if it held a page) when it is not there.
    fn patch_page(&mut self, page: u32) -> Result<usize, FlashError> {
        // The page patched last (jump table entries, patched one label after another, hit it
        // nearly every time): already the most recently patched, nothing to stamp or search.
        if let Some(p) = self.patches.get(self.last_patch) {
            if p.used != 0 && p.addr == page {
                return Ok(self.last_patch);
            }
        }
        self.clock = self.clock.wrapping_add(1).max(1);
        let mut victim = 0;
        let mut oldest = u32::MAX;
        for (k, p) in self.patches.iter_mut().enumerate() {
            if p.used != 0 && p.addr == page {
                p.used = self.clock;
                self.last_patch = k;
                return Ok(k);
            }
            if p.used < oldest {
                (victim, oldest) = (k, p.used);
            }
        }
        let Some(p) = self.patches.get_mut(victim) else {
            return Err(FlashError::new(FlashErrorKind::OutOfBounds, page));
        };
        if p.used != 0 {
            self.flash.program(p.addr, &p.bytes)?;
        }
        self.flash.read(page, &mut p.bytes)?;
        (p.addr, p.used) = (page, self.clock);
        self.last_patch = victim;
        Ok(victim)
    }

    /// Append `bytes`, a page's worth at a time. Every byte at or after the entry is erased when
    /// first reached ([`prepare_entry`] made the entry's sector blank from the entry on, and each
    /// further sector is checked, and erased if needed, as the code enters it), so nothing is
    /// checked here: `NorFlash::program` refuses to set bits when the page is programmed. Only
    /// the first page, which may hold the end of the previous entry, was read in
    /// [`FlashSink::new`].
    fn try_append(&mut self, mut bytes: &[u8]) -> Result<(), FlashError> {
        while !bytes.is_empty() {
            let at = self.cursor;
            let n = bytes.len().min((self.page_end - at) as usize);
            let (head, rest) = bytes.split_at(n);
            let i = at as usize % WINDOW_BYTES;
            // Within the page's slot: `page_end - at` bytes are left in it.
            let dst = self
                .window
                .get_mut(i..i + n)
                .ok_or(FlashError::new(FlashErrorKind::OutOfBounds, at))?;
            dst.copy_from_slice(head);
            self.cursor = at + n as u32;
            bytes = rest;
            if self.cursor == self.page_end {
                self.next_page()?;
            }
        }
        Ok(())
    }

    /// Move on to the page after the full one: retire the oldest page if the window is full,
    /// check (and erase if needed) a sector entered for the first time.
    fn next_page(&mut self) -> Result<(), FlashError> {
        let next = self.page_end;
        if next >= self.flash.end() {
            return Err(FlashError::new(FlashErrorKind::OutOfBounds, next));
        }
        if (next - self.window_addr) as usize >= WINDOW_BYTES {
            self.retire_oldest()?;
        }
        if next.is_multiple_of(SECTOR_SIZE) && !is_blank(self.flash, next)? {
            self.flash.erase(next, next + SECTOR_SIZE)?;
        }
        self.page_end = next + PAGE_SIZE;
        Ok(())
    }

    /// `append` past the fast path: a page completed, or an error.
    #[inline(never)]
    fn append_slow(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.try_append(bytes) {
            self.fail(sink_error(e, self.code_start()));
        }
    }

    /// Patches reaching into pages already programmed or across the window's wrap (the caller
    /// handles the rest), split at page boundaries.
    #[inline(never)]
    fn try_replace(&mut self, mut addr: u32, mut bytes: &[u8]) -> Result<(), FlashError> {
        while !bytes.is_empty() {
            let page = align_down(addr, PAGE_SIZE);
            let i = (addr - page) as usize;
            let n = bytes.len().min(PAGE - i);
            let (head, rest) = bytes.split_at(n);
            let dst = if addr >= self.window_addr {
                let at = addr as usize % WINDOW_BYTES;
                self.window.get_mut(at..at + n)
            } else {
                let k = self.patch_page(page)?;
                self.patches
                    .get_mut(k)
                    .and_then(|p| p.bytes.get_mut(i..i + n))
            };
            let dst = dst.ok_or(FlashError::new(FlashErrorKind::OutOfBounds, addr))?;
            clear_bits(dst, head)
                .map_err(|k| FlashError::new(FlashErrorKind::NotErased, addr + k as u32))?;
            addr += n as u32;
            bytes = rest;
        }
        Ok(())
    }

    /// Program what is still in RAM and then the entry header; returns the address of the next
    /// entry.
    pub fn finish(mut self, version: u16, code_chunk: u32, labels: u32) -> Result<u32, SinkError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let code_start = self.code_start();
        let len = self.cursor - code_start;
        // The rest of the last page is blank.
        let at = self.cursor as usize % WINDOW_BYTES;
        let room = (self.page_end - self.cursor) as usize;
        if let Some(rest) = self.window.get_mut(at..at + room) {
            rest.fill(0xFF);
        }
        let flushed = self.flush_patches().and_then(|()| {
            while self.window_addr < self.page_end {
                self.retire_oldest()?;
            }
            Ok(())
        });
        flushed.map_err(|e| sink_error(e, code_start))?;
        let header = EntryHeader::new(version, code_chunk, labels, len);
        let entry = code_start - ENTRY_HEADER_LEN;
        super::cache::finish_entry(self.flash, entry, &header)
            .map_err(|e| sink_error(e, code_start))?;
        super::cache::next_entry_address(entry, len).ok_or(SinkError::Full {
            offset: len as usize,
        })
    }
}

impl<F: NorFlash + ?Sized> CodeSink for FlashSink<'_, F> {
    fn offset(&self) -> usize {
        (self.cursor - self.code_start()) as usize
    }
    fn append(&mut self, bytes: &[u8]) {
        // Fast path: the bytes fit in the page being filled without completing it (nearly every
        // append: one or two halfwords; never after an error, there is no room then). The
        // window is blank from the end of the code on (see `try_append`), and
        // `NorFlash::program` refuses to set bits, so nothing is checked here.
        let at = self.cursor;
        let n = bytes.len();
        if n < (self.page_end - at) as usize {
            let i = at as usize % WINDOW_BYTES;
            if let Some(dst) = self.window.get_mut(i..i + n) {
                // Stores, not a call to memcpy: 4 bytes (literals, wide instructions) are the
                // most frequent, then 2 and 6.
                if let (Ok(dst), Ok(src)) = (
                    <&mut [u8; 4]>::try_from(&mut *dst),
                    <&[u8; 4]>::try_from(bytes),
                ) {
                    *dst = *src;
                } else if n > 8 {
                    // Jump table entries, far branch placeholders: memcpy copies words.
                    dst.copy_from_slice(bytes);
                } else {
                    for (w, &b) in dst.iter_mut().zip(bytes) {
                        *w = b;
                    }
                }
                self.cursor = at + n as u32;
                return;
            }
        }
        self.append_slow(bytes);
    }
    /// [`CodeSink::append`]'s fast path for one halfword, without the length tests and the
    /// slice the caller would build for it: two tests and two stores, inlined into the
    /// backend's `put` (most appends).
    #[inline(always)]
    fn append_halfword(&mut self, halfword: u16) {
        let at = self.cursor;
        if self.page_end - at > 2 {
            let i = at as usize % WINDOW_BYTES;
            if let Some([lo, hi]) = self.window.get_mut(i..i + 2) {
                [*lo, *hi] = halfword.to_le_bytes();
                self.cursor = at + 2;
                return;
            }
        }
        self.append_slow(&halfword.to_le_bytes());
    }
    fn replace(&mut self, offset: usize, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if offset
            .checked_add(bytes.len())
            .is_none_or(|end| end > self.offset())
        {
            self.fail(SinkError::OutOfRange { offset });
            return;
        }
        let code_start = self.code_start();
        let start = code_start + offset as u32;
        // Fast path: the patch lies in the window, not across its wrap (most do: a branch to a
        // label just placed).
        if start >= self.window_addr {
            let i = start as usize % WINDOW_BYTES;
            if let Some(dst) = self.window.get_mut(i..i + bytes.len()) {
                if let Err(k) = clear_bits(dst, bytes) {
                    self.fail(SinkError::NotErased { offset: offset + k });
                }
                return;
            }
        }
        if let Err(e) = self.try_replace(start, bytes) {
            self.fail(sink_error(e, code_start));
        }
    }
    /// [`CodeSink::replace`]'s fast path for one halfword in the window (most patches: a
    /// literal load, an `adr`, a `b`): the NOR rule checked on both bytes, two stores. Anything
    /// else (an error, a patch out of the window or across its wrap, one that would set a bit)
    /// takes `replace`, which handles and names it.
    #[inline]
    fn replace_halfword(&mut self, offset: usize, halfword: u16) {
        let bytes = halfword.to_le_bytes();
        if self.error.is_none()
            && offset
                .checked_add(2)
                .is_some_and(|end| end <= self.offset())
        {
            let start = self.start + offset as u32;
            if start >= self.window_addr {
                let i = start as usize % WINDOW_BYTES;
                if let Some([lo, hi]) = self.window.get_mut(i..i + 2) {
                    let [s0, s1] = bytes;
                    if *lo & s0 == s0 && *hi & s1 == s1 {
                        (*lo, *hi) = (s0, s1);
                        return;
                    }
                }
            }
        }
        self.replace(offset, &bytes);
    }
    fn error(&self) -> Option<SinkError> {
        self.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::cache::{walk, WalkEnd};
    use crate::flash::MemFlash;
    use crate::stream::VecSink;
    use alloc::vec::Vec;

    const BASE: u32 = 0x1000_0000;

    fn emit(sink: &mut impl CodeSink, n: usize) {
        // A placeholder patched later, across page and sector boundaries.
        sink.append(&[0xFF; 4]);
        for i in 0..n {
            sink.append(&[(i % 251) as u8]);
        }
        sink.replace(0, &[1, 2, 3, 4]);
        sink.append(&[0xFF; 2]);
        sink.replace(n + 4, &[0x12, 0x34]);
    }

    #[test]
    fn flash_sink_stores_what_a_vec_sink_holds() {
        let mut flash = MemFlash::erased(BASE, 4 * SECTOR_SIZE);
        // Leftovers in the second sector must be erased when the code reaches it.
        flash.program(BASE + SECTOR_SIZE + 10, &[0; 8]).unwrap();
        let entry = BASE + 0xF00;
        let mut sink = FlashSink::new(&mut flash, entry).unwrap();
        emit(&mut sink, 5000);
        assert_eq!(sink.error(), None);
        let next = sink.finish(1, BASE + 0x40, 77).unwrap();
        let mut expected = VecSink::new();
        emit(&mut expected, 5000);
        let code = expected.as_bytes();
        let at = (entry + 16 - BASE) as usize;
        assert_eq!(&flash.as_bytes()[at..at + code.len()], code);
        // The rest of the last page stays blank (its buffer held an older page's bytes).
        let end = at + code.len();
        assert!(flash.as_bytes()[end..(end + PAGE) & !(PAGE - 1)]
            .iter()
            .all(|&b| b == 0xFF));
        assert_eq!(next, (entry + 16 + code.len() as u32 + 3) & !3);
        let mut seen = Vec::new();
        let end = walk(&mut flash, entry, BASE + 4 * SECTOR_SIZE, |e| seen.push(*e)).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0].header,
            EntryHeader::new(1, BASE + 0x40, 77, code.len() as u32)
        );
        assert_eq!(end, WalkEnd::Free { address: next });
    }

    /// Appends of many sizes (crossing pages in the middle of an append), an entry whose header
    /// ends exactly on a sector boundary with leftovers in that next sector, and the end of the
    /// previous entry in the first page kept as it was.
    #[test]
    fn flash_sink_appends_in_pieces_erases_the_codes_first_sector_and_keeps_its_neighbour() {
        let mut flash = MemFlash::erased(BASE, 8 * SECTOR_SIZE);
        let entry = BASE + SECTOR_SIZE - 16;
        let previous = [0x11u8, 0x22, 0x33, 0x44];
        flash.program(entry - 4, &previous).unwrap();
        flash.program(BASE + SECTOR_SIZE + 300, &[0; 8]).unwrap();
        let mut sink = FlashSink::new(&mut flash, entry).unwrap();
        let mut expected = VecSink::new();
        for (i, len) in (1..=600).step_by(7).enumerate() {
            let piece: Vec<u8> = (0..len).map(|k| ((i * 31 + k) % 253) as u8).collect();
            sink.append(&piece);
            expected.append(&piece);
        }
        assert_eq!(sink.error(), None);
        sink.finish(1, BASE + 0x40, 3).unwrap();
        let code = expected.as_bytes();
        let at = (entry + 16 - BASE) as usize;
        assert_eq!(&flash.as_bytes()[at..at + code.len()], code);
        let before = (entry - 4 - BASE) as usize;
        assert_eq!(&flash.as_bytes()[before..before + 4], &previous);
    }

    /// Halfwords through their own fast path, at odd offsets too, across pages, sectors and the
    /// window's wrap: the bytes `append` would have stored.
    #[test]
    fn flash_sink_appends_halfwords_as_append_does() {
        let run = |sink: &mut dyn CodeSink, halfwords: bool| {
            for i in 0..6000u32 {
                if i % 997 == 0 {
                    sink.append(&[0x5A]);
                }
                let h = (i.wrapping_mul(40503) >> 3) as u16;
                if halfwords {
                    sink.append_halfword(h);
                } else {
                    sink.append(&h.to_le_bytes());
                }
            }
        };
        let mut flash = MemFlash::erased(BASE, 8 * SECTOR_SIZE);
        let entry = BASE + 0xF04;
        let mut sink = FlashSink::new(&mut flash, entry).unwrap();
        run(&mut sink, true);
        assert_eq!(sink.error(), None);
        sink.finish(1, BASE, 0).unwrap();
        let mut expected = VecSink::new();
        run(&mut expected, false);
        let code = expected.as_bytes();
        assert!(code.len() > 2 * SECTOR_SIZE as usize);
        let at = (entry + 16 - BASE) as usize;
        assert_eq!(&flash.as_bytes()[at..at + code.len()], code);
    }

    fn wrap(sink: &mut impl CodeSink) {
        // From entry 0xF00, code offset 238 is window byte 2046: the placeholder's last two
        // bytes are in the window's first slot.
        sink.append(&[0x5A; 238]);
        sink.append(&[0xFF; 4]);
        sink.append(&[0x11; 20]);
        sink.replace(238, &[1, 2, 3, 4]);
        sink.append(&[0xFF, 0x00]);
    }

    #[test]
    fn flash_sink_patches_across_the_window_wrap_and_names_the_failing_byte() {
        let mut flash = MemFlash::erased(BASE, 4 * SECTOR_SIZE);
        let entry = BASE + 0xF00;
        let mut sink = FlashSink::new(&mut flash, entry).unwrap();
        wrap(&mut sink);
        let mut expected = VecSink::new();
        wrap(&mut expected);
        let len = sink.offset();
        assert_eq!(len, expected.as_bytes().len());
        // Only the second byte of the patch sets a cleared bit.
        sink.replace(len - 2, &[0x0F, 0x01]);
        assert_eq!(sink.error(), Some(SinkError::NotErased { offset: len - 1 }));
        // Sticky: nothing more is appended.
        sink.append(&[1]);
        assert_eq!(sink.offset(), len);
        assert!(sink.finish(1, BASE, 0).is_err());
        let mut flash = MemFlash::erased(BASE, 4 * SECTOR_SIZE);
        let mut sink = FlashSink::new(&mut flash, entry).unwrap();
        wrap(&mut sink);
        sink.finish(1, BASE, 0).unwrap();
        let at = (entry + 16 - BASE) as usize;
        assert_eq!(&flash.as_bytes()[at..at + len], expected.as_bytes());
    }

    /// A placeholder across the end of each of `pages` pages, patched once all are programmed,
    /// several times each (clearing more bits every round: the second round across the page
    /// boundary), cycling through the pages from the last so that with more pages than patch
    /// buffers every patch finds its page evicted.
    fn scattered(sink: &mut impl CodeSink, pages: usize) {
        let mut at = Vec::new();
        for _ in 0..pages {
            let addr = 16 + sink.offset();
            sink.append(&alloc::vec![0x5A; (2 * PAGE - 4 - addr % PAGE) % PAGE]);
            at.push(sink.offset());
            sink.append(&[0xFF; 8]);
        }
        sink.append(&[0xA5; 2 * WINDOW_BYTES]);
        for round in 0..3 {
            for (k, &o) in at.iter().enumerate().rev() {
                let m = !(((2u8 << round) - 1) << (k % 5));
                sink.replace(o + 2 * round, &[m; 4]);
            }
        }
    }

    #[test]
    fn flash_sink_patches_programmed_pages_through_its_buffers_as_a_vec_sink_does() {
        for pages in [1, PATCH_PAGES, PATCH_PAGES + 3] {
            let mut flash = MemFlash::erased(BASE, 8 * SECTOR_SIZE);
            let mut sink = FlashSink::new(&mut flash, BASE).unwrap();
            scattered(&mut sink, pages);
            assert_eq!(sink.error(), None);
            let len = sink.offset();
            sink.finish(1, BASE, 0).unwrap();
            let mut expected = VecSink::new();
            expected.set_strict(true);
            scattered(&mut expected, pages);
            assert_eq!(expected.error(), None);
            assert_eq!(
                &flash.as_bytes()[16..16 + len],
                expected.as_bytes(),
                "{pages}"
            );
        }
    }

    /// A placeholder across flash address 1024, patched when the page before it is programmed
    /// and the page after it is the window's oldest.
    fn straddling(sink: &mut impl CodeSink) -> usize {
        let at = 1022 - 16;
        sink.append(&[0x5A; 1022 - 16]);
        sink.append(&[0xFF; 4]);
        sink.append(&[0x5A; 2900 - 1026]);
        sink.replace(at, &[0x12, 0x34, 0x56, 0x78]);
        at
    }

    #[test]
    fn flash_sink_patches_across_a_programmed_and_a_buffered_page_and_names_the_failing_byte() {
        let mut expected = VecSink::new();
        let at = straddling(&mut expected);
        let mut flash = MemFlash::erased(BASE, 8 * SECTOR_SIZE);
        let mut sink = FlashSink::new(&mut flash, BASE).unwrap();
        assert_eq!(straddling(&mut sink), at);
        assert_eq!(sink.error(), None);
        let len = sink.offset();
        sink.finish(1, BASE, 0).unwrap();
        assert_eq!(&flash.as_bytes()[16..16 + len], expected.as_bytes());
        // A bit set again on either side of the boundary is refused, naming the byte.
        let cases: [(usize, &[u8], usize); 4] = [
            (at + 1, &[0xFF], at + 1),
            (at + 2, &[0xFF], at + 2),
            (at, &[0x12, 0x35, 0x56, 0x78], at + 1),
            (at, &[0x12, 0x34, 0x57, 0x78], at + 2),
        ];
        for (offset, bytes, bad) in cases {
            let mut flash = MemFlash::erased(BASE, 8 * SECTOR_SIZE);
            let mut sink = FlashSink::new(&mut flash, BASE).unwrap();
            straddling(&mut sink);
            sink.replace(offset, bytes);
            assert_eq!(sink.error(), Some(SinkError::NotErased { offset: bad }));
            assert!(sink.finish(1, BASE, 0).is_err());
        }
    }

    #[test]
    fn word_and_halfword_patches_clear_bits_and_name_the_failing_byte() {
        // The fast paths of two and four bytes, in the window.
        for (len, bad) in [(4usize, 2usize), (4, 0), (4, 3), (2, 1), (2, 0)] {
            let mut flash = MemFlash::erased(BASE, SECTOR_SIZE);
            let mut sink = FlashSink::new(&mut flash, BASE).unwrap();
            sink.append(&[0xF0, 0xFF, 0x0F, 0xFF, 0xAA]);
            // Clearing bits only: accepted, in place.
            let ok = [0x30, 0x7F, 0x05, 0x80];
            sink.replace(0, &ok[..len]);
            assert_eq!(sink.error(), None);
            // The same patch with one bit set that is cleared in the byte at `bad`.
            let mut patch = ok;
            patch[bad] = 0xFF;
            sink.replace(0, &patch[..len]);
            assert_eq!(sink.error(), Some(SinkError::NotErased { offset: bad }));
        }
        let mut flash = MemFlash::erased(BASE, SECTOR_SIZE);
        let mut sink = FlashSink::new(&mut flash, BASE).unwrap();
        sink.append(&[0xF0, 0xFF, 0x0F, 0xFF, 0xAA]);
        sink.replace(0, &[0x30, 0x7F, 0x05, 0x80]);
        sink.replace(2, &[0x04, 0x00]);
        sink.finish(1, BASE, 0).unwrap();
        let at = ENTRY_HEADER_LEN as usize;
        assert_eq!(
            &flash.as_bytes()[at..at + 5],
            &[0x30, 0x7F, 0x04, 0x00, 0xAA]
        );
    }

    #[test]
    fn halfword_patches_match_replace_and_name_the_failing_byte() {
        // In the window, on a programmed page (through the patch buffers), and refused.
        let run = |sink: &mut dyn CodeSink| {
            sink.append(&[0xFF; 4]);
            sink.append(&[0x5A; 3 * PAGE]);
            sink.append(&[0xFF; 4]);
            sink.replace_halfword(0, 0x1234);
            sink.replace_halfword(3 * PAGE + 6, 0xBEEF);
            sink.replace_halfword(2, 0xF00F);
        };
        let mut expected = VecSink::new();
        run(&mut expected);
        let mut flash = MemFlash::erased(BASE, 2 * SECTOR_SIZE);
        let mut sink = FlashSink::new(&mut flash, BASE).unwrap();
        run(&mut sink);
        assert_eq!(sink.error(), None);
        sink.finish(1, BASE, 0).unwrap();
        let at = ENTRY_HEADER_LEN as usize;
        let len = expected.as_bytes().len();
        assert_eq!(&flash.as_bytes()[at..at + len], expected.as_bytes());
        for (patch, bad) in [(0x12FF, 0), (0xFF34, 1)] {
            let mut flash = MemFlash::erased(BASE, SECTOR_SIZE);
            let mut sink = FlashSink::new(&mut flash, BASE).unwrap();
            sink.append(&[0xFF; 4]);
            sink.replace_halfword(2, 0x1234);
            sink.replace_halfword(2, patch);
            assert_eq!(sink.error(), Some(SinkError::NotErased { offset: 2 + bad }));
        }
        let mut flash = MemFlash::erased(BASE, SECTOR_SIZE);
        let mut sink = FlashSink::new(&mut flash, BASE).unwrap();
        sink.append(&[0xFF; 4]);
        sink.replace_halfword(3, 0);
        assert_eq!(sink.error(), Some(SinkError::OutOfRange { offset: 3 }));
    }

    #[test]
    fn flash_sink_reports_full_and_bad_patches() {
        let mut flash = MemFlash::erased(BASE, SECTOR_SIZE);
        let mut sink = FlashSink::new(&mut flash, BASE).unwrap();
        sink.append(&[0u8; 100]);
        sink.replace(0, &[1]);
        assert!(matches!(
            sink.error(),
            Some(SinkError::NotErased { offset: 0 })
        ));
        let mut flash = MemFlash::erased(BASE, SECTOR_SIZE);
        let mut sink = FlashSink::new(&mut flash, BASE).unwrap();
        sink.append(&[0u8; SECTOR_SIZE as usize]);
        assert!(matches!(sink.error(), Some(SinkError::Full { .. })));
        sink.replace(usize::MAX, &[0]);
    }
}

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

pub struct FlashSink<'f, F: NorFlash + ?Sized> {
    flash: &'f mut F,
    entry: u32,
    /// Bytes appended so far (the stream offset).
    len: u32,
    /// The page being filled.
    page_addr: u32,
    /// The oldest page still in RAM; pages `window_addr..=page_addr` are buffered.
    window_addr: u32,
    /// `WINDOW_PAGES` page buffers; the page at address `a` lives in slot `(a / PAGE) % WINDOW_PAGES`.
    window: Vec<u8>,
    /// Programmed pages collecting patches (most recently patched last), with their contents.
    patches: Vec<(u32, [u8; PAGE])>,
    error: Option<SinkError>,
    /// Where the next byte goes in `window`, and how many bytes can be appended there before
    /// the page being filled is full (0 after an error): the fast path of `append` reads only
    /// these. Kept in step with `len` and `page_addr` by [`FlashSink::sync_cursor`].
    cursor: usize,
    room: usize,
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

fn slot(page_addr: u32) -> usize {
    (page_addr / PAGE_SIZE) as usize % WINDOW_PAGES * PAGE
}

impl<'f, F: NorFlash + ?Sized> FlashSink<'f, F> {
    /// Start an entry at `entry` (4-byte aligned, from [`super::cache::walk`] or
    /// [`super::cache::first_entry_address`]), clearing leftovers in its sector. Its buffers are
    /// allocated here, fallibly, and never grow afterwards.
    pub fn new(flash: &'f mut F, entry: u32) -> Result<Self, StartError> {
        let mut window = try_with_capacity(WINDOW_PAGES * PAGE, "the flash sink's window")?;
        window.resize(WINDOW_PAGES * PAGE, 0xFF);
        let patches = try_with_capacity(PATCH_PAGES, "the flash sink's patch pages")?;
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
        let at = slot(page_addr);
        flash.read(page_addr, &mut window[at..at + PAGE])?;
        Ok(FlashSink {
            flash,
            entry,
            len: 0,
            page_addr,
            window_addr: page_addr,
            window,
            patches,
            error: None,
            cursor: at + (header_end - page_addr) as usize,
            room: PAGE - (header_end - page_addr) as usize,
        })
    }

    /// Recompute the fast path's cursor from `len` and `page_addr` (after the slow path).
    fn sync_cursor(&mut self) {
        let in_page = (self.code_start() + self.len - self.page_addr) as usize;
        self.cursor = slot(self.page_addr) + in_page;
        self.room = if self.error.is_some() {
            0
        } else {
            PAGE - in_page
        };
    }

    fn code_start(&self) -> u32 {
        self.entry + ENTRY_HEADER_LEN
    }

    /// Program the oldest page of the window (skipped when blank) and drop it from RAM.
    fn retire_oldest(&mut self) -> Result<(), FlashError> {
        let at = slot(self.window_addr);
        let page = &self.window[at..at + PAGE];
        // Code pages are rarely blank: stop at the first programmed byte.
        if page.iter().any(|&b| b != 0xFF) {
            self.flash.program(self.window_addr, page)?;
        }
        self.window_addr += PAGE_SIZE;
        Ok(())
    }

    fn flush_patches(&mut self) -> Result<(), FlashError> {
        for (addr, page) in self.patches.drain(..) {
            self.flash.program(addr, &page)?;
        }
        Ok(())
    }

    /// The patch buffer of the programmed page at `page`, made the most recent.
    fn patch_page(&mut self, page: u32) -> Result<&mut [u8; PAGE], FlashError> {
        match self.patches.iter().position(|(a, _)| *a == page) {
            Some(k) => {
                let p = self.patches.remove(k);
                self.patches.push(p);
            }
            None => {
                if self.patches.len() == PATCH_PAGES {
                    let (addr, old) = self.patches.remove(0);
                    self.flash.program(addr, &old)?;
                }
                let mut buf = [0u8; PAGE];
                self.flash.read(page, &mut buf)?;
                // Within the capacity reserved in `new`: no allocation.
                self.patches.push((page, buf));
            }
        }
        let last = self.patches.len() - 1;
        Ok(&mut self.patches[last].1)
    }

    /// Append `bytes`, a page's worth at a time. Every byte at or after the entry is erased when
    /// first reached ([`prepare_entry`] made the entry's sector blank from the entry on, and each
    /// further sector is checked, and erased if needed, as the code enters it), so a new page starts
    /// as 0xFF in RAM without reading it; only the first page, which may hold the end of the
    /// previous entry, was read in [`FlashSink::new`].
    fn try_append(&mut self, mut bytes: &[u8]) -> Result<(), FlashError> {
        while !bytes.is_empty() {
            let addr = self.code_start() + self.len;
            let in_page = (addr - self.page_addr) as usize;
            let n = bytes.len().min(PAGE - in_page);
            let at = slot(self.page_addr) + in_page;
            // A byte loop: appends are mostly 2 or 4 bytes, where a call to memcpy costs more.
            for (k, (w, &b)) in self.window[at..at + n].iter_mut().zip(bytes).enumerate() {
                if *w & b != b {
                    return Err(FlashError::new(FlashErrorKind::NotErased, addr + k as u32));
                }
                *w = b;
            }
            self.len += n as u32;
            bytes = &bytes[n..];
            if in_page + n == PAGE {
                self.next_page()?;
            }
        }
        Ok(())
    }

    /// Move on to the page after the full one: retire the oldest page if the window is full,
    /// check (and erase if needed) a sector entered for the first time, start the page blank.
    fn next_page(&mut self) -> Result<(), FlashError> {
        let next = self.page_addr + PAGE_SIZE;
        if next >= self.flash.end() {
            return Err(FlashError::new(FlashErrorKind::OutOfBounds, next));
        }
        if (next - self.window_addr) as usize >= WINDOW_PAGES * PAGE {
            self.retire_oldest()?;
        }
        if next.is_multiple_of(SECTOR_SIZE) && !is_blank(self.flash, next)? {
            self.flash.erase(next, next + SECTOR_SIZE)?;
        }
        self.page_addr = next;
        let at = slot(next);
        self.window[at..at + PAGE].fill(0xFF);
        Ok(())
    }

    /// `append` past the fast path: a page completed, or an error.
    #[inline(never)]
    fn append_slow(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.try_append(bytes) {
            self.error = Some(sink_error(e, self.code_start()));
        }
        self.sync_cursor();
    }

    /// Patches reaching into pages already programmed (the caller handles those in the window).
    #[inline(never)]
    fn try_replace(&mut self, offset: usize, bytes: &[u8]) -> Result<(), FlashError> {
        let start = self.code_start() + offset as u32;
        for (k, &b) in bytes.iter().enumerate() {
            let addr = start + k as u32;
            let page = align_down(addr, PAGE_SIZE);
            let i = (addr - page) as usize;
            if addr >= self.window_addr {
                let i = slot(page) + i;
                if self.window[i] & b != b {
                    return Err(FlashError::new(FlashErrorKind::NotErased, addr));
                }
                self.window[i] = b;
                continue;
            }
            let patch = if self.patches.last().is_some_and(|(a, _)| *a == page) {
                let last = self.patches.len() - 1;
                &mut self.patches[last].1
            } else {
                self.patch_page(page)?
            };
            if patch[i] & b != b {
                return Err(FlashError::new(FlashErrorKind::NotErased, addr));
            }
            patch[i] = b;
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
        let flushed = self.flush_patches().and_then(|()| {
            while self.window_addr <= self.page_addr {
                self.retire_oldest()?;
            }
            Ok(())
        });
        flushed.map_err(|e| sink_error(e, code_start))?;
        let header = EntryHeader::new(version, code_chunk, labels, self.len);
        super::cache::finish_entry(self.flash, self.entry, &header)
            .map_err(|e| sink_error(e, code_start))?;
        super::cache::next_entry_address(self.entry, self.len).ok_or(SinkError::Full {
            offset: self.len as usize,
        })
    }
}

impl<F: NorFlash + ?Sized> CodeSink for FlashSink<'_, F> {
    fn offset(&self) -> usize {
        self.len as usize
    }
    fn append(&mut self, bytes: &[u8]) {
        // Fast path: the bytes fit in the page being filled without completing it (nearly every
        // append: one or two halfwords; never after an error, `room` is then 0). The window is
        // blank from the end of the code on (see `try_append`), and `NorFlash::program` refuses
        // to set bits, so nothing is checked here.
        let n = bytes.len();
        if n < self.room {
            let at = self.cursor;
            if let Some(dst) = self.window.get_mut(at..at + n) {
                if let ([d0, d1], [b0, b1]) = (&mut *dst, bytes) {
                    // One Thumb-1 instruction: most appends.
                    (*d0, *d1) = (*b0, *b1);
                } else {
                    for (w, &b) in dst.iter_mut().zip(bytes) {
                        *w = b;
                    }
                }
                self.cursor = at + n;
                self.room -= n;
                self.len += n as u32;
                return;
            }
        }
        self.append_slow(bytes);
    }
    /// [`CodeSink::append`]'s fast path for one halfword, without the length tests and the
    /// slice the caller would build for it.
    fn append_halfword(&mut self, halfword: u16) {
        if self.room > 2 {
            let at = self.cursor;
            if let Some(dst) = self.window.get_mut(at..at + 2) {
                dst.copy_from_slice(&halfword.to_le_bytes());
                self.cursor = at + 2;
                self.room -= 2;
                self.len += 2;
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
            .is_none_or(|end| end > self.len as usize)
        {
            self.error = Some(SinkError::OutOfRange { offset });
            self.room = 0;
            return;
        }
        // Fast path: the patch lies in the window (most do: a branch to a label just placed).
        // The page at `a` is in slot `(a / PAGE) % WINDOW_PAGES`, so byte `a` is at
        // `a % (WINDOW_PAGES * PAGE)`.
        let start = self.code_start() + offset as u32;
        if start >= self.window_addr {
            for (k, &b) in bytes.iter().enumerate() {
                let i = (start as usize + k) % (WINDOW_PAGES * PAGE);
                if let Some(w) = self.window.get_mut(i) {
                    if *w & b != b {
                        self.error = Some(SinkError::NotErased { offset: offset + k });
                        self.room = 0;
                        return;
                    }
                    *w = b;
                }
            }
            return;
        }
        if let Err(e) = self.try_replace(offset, bytes) {
            self.error = Some(sink_error(e, self.code_start()));
            self.room = 0;
        }
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

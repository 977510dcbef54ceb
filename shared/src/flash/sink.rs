//! A [`CodeSink`] that streams a module's native code straight into a JIT cache entry in flash.
//!
//! Same scheme as AtomVM's flash stream: the 16-byte entry header stays blank while the code is
//! appended after it, one 256-byte page buffer at a time; a sector entered for the first time is
//! erased if it holds leftovers; patches to pages already programmed only clear bits. When the module
//! is done, [`FlashSink::finish`] programs the header, which makes the entry visible.

use super::cache::{prepare_entry, EntryHeader, ENTRY_HEADER_LEN};
use super::nor::{FlashError, FlashErrorKind, NorFlash};
use super::{align_down, PAGE_SIZE, SECTOR_SIZE};
use crate::stream::{CodeSink, SinkError};

const PAGE: usize = PAGE_SIZE as usize;

pub struct FlashSink<'f, F: NorFlash + ?Sized> {
    flash: &'f mut F,
    entry: u32,
    /// Bytes appended so far (the stream offset).
    len: u32,
    page_addr: u32,
    page: [u8; PAGE],
    error: Option<SinkError>,
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
    let mut buf = [0u8; PAGE];
    for page in (sector..sector + SECTOR_SIZE).step_by(PAGE) {
        flash.read(page, &mut buf)?;
        if buf.iter().any(|&b| b != 0xFF) {
            return Ok(false);
        }
    }
    Ok(true)
}

impl<'f, F: NorFlash + ?Sized> FlashSink<'f, F> {
    /// Start an entry at `entry` (4-byte aligned, from [`super::cache::walk`] or
    /// [`super::cache::first_entry_address`]), clearing leftovers in its sector.
    pub fn new(flash: &'f mut F, entry: u32) -> Result<Self, FlashError> {
        prepare_entry(flash, entry)?;
        let header_end = entry + ENTRY_HEADER_LEN;
        // The header may straddle into the next sector.
        if align_down(header_end - 1, SECTOR_SIZE) != align_down(entry, SECTOR_SIZE) {
            let next = align_down(header_end - 1, SECTOR_SIZE);
            if !is_blank(flash, next)? {
                flash.erase(next, next + SECTOR_SIZE)?;
            }
        }
        let page_addr = align_down(header_end, PAGE_SIZE);
        let mut page = [0xFF; PAGE];
        flash.read(page_addr, &mut page)?;
        Ok(FlashSink {
            flash,
            entry,
            len: 0,
            page_addr,
            page,
            error: None,
        })
    }

    fn code_start(&self) -> u32 {
        self.entry + ENTRY_HEADER_LEN
    }

    fn flush_page(&mut self) -> Result<(), FlashError> {
        self.flash.program(self.page_addr, &self.page)
    }

    fn try_append(&mut self, bytes: &[u8]) -> Result<(), FlashError> {
        for &b in bytes {
            let addr = self.code_start() + self.len;
            let i = (addr - self.page_addr) as usize;
            if self.page[i] & b != b {
                return Err(FlashError::new(FlashErrorKind::NotErased, addr));
            }
            self.page[i] = b;
            self.len += 1;
            if i == PAGE - 1 {
                self.flush_page()?;
                let next = self.page_addr + PAGE_SIZE;
                if next >= self.flash.end() {
                    return Err(FlashError::new(FlashErrorKind::OutOfBounds, next));
                }
                if next.is_multiple_of(SECTOR_SIZE) && !is_blank(self.flash, next)? {
                    self.flash.erase(next, next + SECTOR_SIZE)?;
                }
                self.page_addr = next;
                self.flash.read(next, &mut self.page)?;
            }
        }
        Ok(())
    }

    fn try_replace(&mut self, offset: usize, bytes: &[u8]) -> Result<(), FlashError> {
        let start = self.code_start() + offset as u32;
        for (k, &b) in bytes.iter().enumerate() {
            let addr = start + k as u32;
            if addr >= self.page_addr {
                let i = (addr - self.page_addr) as usize;
                if self.page[i] & b != b {
                    return Err(FlashError::new(FlashErrorKind::NotErased, addr));
                }
                self.page[i] = b;
            } else {
                let mut old = [0u8];
                self.flash.read(addr, &mut old)?;
                if old[0] & b != b {
                    return Err(FlashError::new(FlashErrorKind::NotErased, addr));
                }
                self.flash.program(addr, &[b])?;
            }
        }
        Ok(())
    }

    /// Flush the last page and program the entry header; returns the address of the next entry.
    pub fn finish(mut self, version: u16, code_chunk: u32, labels: u32) -> Result<u32, SinkError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let code_start = self.code_start();
        self.flush_page().map_err(|e| sink_error(e, code_start))?;
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
        if self.error.is_none() {
            if let Err(e) = self.try_append(bytes) {
                self.error = Some(sink_error(e, self.code_start()));
            }
        }
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
            return;
        }
        if let Err(e) = self.try_replace(offset, bytes) {
            self.error = Some(sink_error(e, self.code_start()));
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

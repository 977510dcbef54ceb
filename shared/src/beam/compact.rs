//! The compact term encoding of BEAM instruction operands.
//!
//! `Cursor` is the low-level byte reader shared by the generic instruction decoder and by the
//! compile driver (which mirrors the reference's own decoding rules exactly).

use crate::error::{Error, Result};

/// A bounds-checked reader over the instruction bytes; offsets are file offsets.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// File offset of `bytes[0]`, for error messages.
    base: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], base: usize) -> Self {
        Cursor { bytes, pos: 0, base }
    }
    /// File offset of the next byte.
    pub fn file_offset(&self) -> usize {
        self.base + self.pos
    }
    /// Position inside `bytes`.
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }
    pub fn remaining(&self) -> &'a [u8] {
        &self.bytes[self.pos.min(self.bytes.len())..]
    }
    pub fn peek(&self) -> Result<u8> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| Error::truncated(self.file_offset(), 1, 0))
    }
    pub fn u8(&mut self) -> Result<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let avail = self.bytes.len().saturating_sub(self.pos);
        if n > avail {
            return Err(Error::truncated(self.file_offset(), n, avail));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
}

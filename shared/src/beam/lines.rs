//! The `Line` chunk: a header of five u32 BE (version 0, flags, number of `line` instructions, number
//! of line items, number of file names), the items as compact terms (an `i` term is a line number
//! in the current file; an `a` term switches the current file, 0 being the module's own source),
//! then each file name as u16 BE length + bytes.

use super::compact::{Cursor, Operand, Tag};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug)]
pub struct Lines<'a> {
    pub version: u32,
    pub flags: u32,
    pub instruction_count: u32,
    pub item_count: u32,
    pub name_count: u32,
    items: &'a [u8],
    items_offset: usize,
    names: &'a [u8],
    names_offset: usize,
}

/// One line item: `file` is 0 for the module's own source, else a 1-based index into the names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LineItem {
    pub file: u32,
    pub line: u64,
}

impl<'a> Lines<'a> {
    pub fn parse(data: &'a [u8], offset: usize) -> Result<Lines<'a>> {
        let mut c = Cursor::new(data, offset);
        let version = c.u32_be()?;
        if version != 0 {
            return Err(Error::unsupported(
                offset,
                "Line format version",
                u64::from(version),
            ));
        }
        let flags = c.u32_be()?;
        let instruction_count = c.u32_be()?;
        let item_count = c.u32_be()?;
        let name_count = c.u32_be()?;
        let items_offset = c.file_offset();
        let items_start = c.pos();
        {
            let mut items = LineItems {
                cursor: c.clone(),
                left: item_count,
                file: 0,
                name_count,
            };
            items.check_all()?;
            c = items.cursor;
        }
        let items = data.get(items_start..c.pos()).unwrap_or(&[]);
        let names_offset = c.file_offset();
        let names = c.remaining();
        for _ in 0..name_count {
            let len = usize::from(c.u16_be()?);
            c.skip(len)?;
        }
        if !c.is_empty() {
            return Err(Error::invalid(
                c.file_offset(),
                "bytes after the last file name",
                c.len() as u64,
            ));
        }
        Ok(Lines {
            version,
            flags,
            instruction_count,
            item_count,
            name_count,
            items,
            items_offset,
            names,
            names_offset,
        })
    }

    /// The line items in order (the reference's line reference N is the N-th item, from 1).
    pub fn items(&self) -> LineItems<'a> {
        LineItems {
            cursor: Cursor::new(self.items, self.items_offset),
            left: self.item_count,
            file: 0,
            name_count: self.name_count,
        }
    }

    /// File name `index` (1-based; 0 means the module's own source and has no entry).
    pub fn file_name(&self, index: u32) -> Option<&'a [u8]> {
        let mut c = Cursor::new(self.names, self.names_offset);
        for i in 1..=self.name_count {
            let len = usize::from(c.u16_be().ok()?);
            let name = c.take(len).ok()?;
            if i == index {
                return Some(name);
            }
        }
        None
    }
}

/// Iterator over line items (validated by [`Lines::parse`]).
#[derive(Clone, Debug)]
pub struct LineItems<'a> {
    cursor: Cursor<'a>,
    left: u32,
    file: u32,
    name_count: u32,
}

impl LineItems<'_> {
    /// Reads every item left, only to check them (as iterating would, same errors): runs of
    /// line numbers in their one-, two- and three-byte forms are stepped over on the bytes
    /// directly (most items; no `Result` per item), anything else (a file switch, a longer
    /// form, an error) goes through [`Self::decode_next`].
    fn check_all(&mut self) -> Result<()> {
        const INTEGER: u8 = Tag::Integer as u8;
        while self.left > 0 {
            let rest = self.cursor.remaining();
            let (mut i, mut left) = (0usize, self.left);
            while left > 0 {
                let len = match *rest.get(i..).unwrap_or(&[]) {
                    // 4-bit value, 11-bit value, 2-byte signed value that is not negative.
                    [first, ..] if first & 0x0F == INTEGER => 1,
                    [first, _, ..] if first & 0x1F == (0x08 | INTEGER) => 2,
                    [first, high, _, ..] if first == (0x18 | INTEGER) && high & 0x80 == 0 => 3,
                    _ => break,
                };
                i += len;
                left -= 1;
            }
            self.cursor.skip(i)?;
            self.left = left;
            if left > 0 {
                self.decode_next()?;
                self.left -= 1;
            }
        }
        Ok(())
    }

    fn decode_next(&mut self) -> Result<LineItem> {
        // Any number of file switches may precede a line number; each consumes input.
        loop {
            // Most items are a line number or a file index in the one- or two-byte form: read
            // here without the general operand decoder, which handles the rest (and the errors).
            let small = match *self.cursor.remaining() {
                [first, ..] if first & 0x08 == 0 => Some((first & 7, u32::from(first >> 4), 1)),
                [first, low, ..] if first & 0x10 == 0 => {
                    Some((first & 7, (u32::from(first >> 5) << 8) | u32::from(low), 2))
                }
                _ => None,
            };
            match small {
                Some((tag, line, len)) if tag == Tag::Integer as u8 => {
                    self.cursor.skip(len)?;
                    return Ok(LineItem {
                        file: self.file,
                        line: u64::from(line),
                    });
                }
                // Index 0 is `[]`: no file.
                Some((tag, file, len)) if tag == Tag::Atom as u8 && file <= self.name_count => {
                    self.cursor.skip(len)?;
                    self.file = file;
                    continue;
                }
                _ => {}
            }
            let at = self.cursor.file_offset();
            match self.cursor.operand()? {
                Operand::Integer(line) if line >= 0 => {
                    return Ok(LineItem {
                        file: self.file,
                        line: line as u64,
                    })
                }
                Operand::Nil => self.file = 0,
                Operand::Atom(file) if file <= self.name_count => self.file = file,
                Operand::Atom(file) => {
                    return Err(Error::invalid(at, "line file index", u64::from(file)))
                }
                _ => return Err(Error::invalid(at, "line item", 0)),
            }
        }
    }
}

impl Iterator for LineItems<'_> {
    type Item = Result<LineItem>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let r = self.decode_next();
        self.left = if r.is_ok() { self.left - 1 } else { 0 };
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn chunk() -> Vec<u8> {
        let mut d = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 1];
        // line 5; switch to file 1; line 300 (11-bit); line 70000 (3 bytes)
        d.extend_from_slice(&[0x51, 0x12, 0x29, 0x2C, 0x39, 0x01, 0x11, 0x70]);
        d.extend_from_slice(&[0, 3, b'a', b'.', b'h']);
        d
    }

    #[test]
    fn items_and_names() {
        let d = chunk();
        let lines = Lines::parse(&d, 0).unwrap();
        let items: Vec<_> = lines.items().map(|i| i.unwrap()).collect();
        assert_eq!(
            items,
            vec![
                LineItem { file: 0, line: 5 },
                LineItem { file: 1, line: 300 },
                LineItem {
                    file: 1,
                    line: 70000
                }
            ]
        );
        assert_eq!(lines.file_name(1), Some(&b"a.h"[..]));
        assert_eq!(lines.file_name(2), None);
        for n in 0..d.len() {
            assert!(Lines::parse(&d[..n], 0).is_err(), "prefix {n}");
        }
    }

    /// The items of a Line chunk that parses, each one read.
    fn parsed_items(d: &[u8]) -> Vec<LineItem> {
        Lines::parse(d, 0)
            .unwrap()
            .items()
            .map(|i| i.unwrap())
            .collect()
    }

    #[test]
    fn nil_clears_the_file_and_two_byte_file_indexes_are_checked() {
        let mut d = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1];
        // file 1 (two-byte form); line 5; [] (no file); line 6
        d.extend_from_slice(&[0x0A, 0x01, 0x51, 0x02, 0x61]);
        d.extend_from_slice(&[0, 1, b'a']);
        let items = parsed_items(&d);
        assert_eq!(
            items,
            vec![LineItem { file: 1, line: 5 }, LineItem { file: 0, line: 6 }]
        );
        d[21] = 0x02; // file 2 of 1
        assert_eq!(Lines::parse(&d, 0).unwrap_err().offset, Some(20));
    }

    /// Items of `items` (with one file name), checked by `parse`'s fast walk and by the
    /// item-by-item iterator: the same verdict, error offset and item bytes.
    fn both_ways(
        count: u32,
        items: &[u8],
    ) -> (Result<usize, Option<usize>>, Result<usize, Option<usize>>) {
        let mut d = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        d.extend_from_slice(&count.to_be_bytes());
        d.extend_from_slice(&[0, 0, 0, 1]);
        d.extend_from_slice(items);
        let fast = Lines::parse(&d, 0)
            .map(|l| l.items.len())
            .map_err(|e| e.offset);
        let mut it = LineItems {
            cursor: Cursor::new(&d[20..], 20),
            left: count,
            file: 0,
            name_count: 1,
        };
        let slow = it
            .try_for_each(|i| i.map(|_| ()))
            .map(|()| it.cursor.pos())
            .map_err(|e| e.offset);
        (fast, slow)
    }

    #[test]
    fn the_fast_walk_agrees_with_the_iterator() {
        // Every first byte, then every second byte of the three-byte form, before a line and
        // the file name.
        for first in 0..=255u8 {
            for second in [0x00, 0x12, 0x7F, 0x80, 0xFF] {
                let items = [first, second, 0x34, 0x51, 0, 1, b'a'];
                let (fast, slow) = both_ways(2, &items);
                // `parse` then reads the name where the items end: compare the items part.
                match (fast, slow) {
                    (Ok(len), Ok(end)) => assert_eq!(len, end, "{first:#x} {second:#x}"),
                    (Err(a), Err(b)) => assert_eq!(a, b, "{first:#x} {second:#x}"),
                    (Err(_), Ok(end)) => assert_ne!(end, 4, "{first:#x} {second:#x}"),
                    (Ok(_), Err(b)) => panic!("{first:#x} {second:#x}: parse accepted, {b:?}"),
                }
            }
        }
        // A two-byte line (4660) and a negative one, refused where it starts.
        assert_eq!(both_ways(1, &[0x19, 0x12, 0x34, 0, 1, b'a']).0, Ok(3));
        assert_eq!(
            both_ways(1, &[0x19, 0x80, 0x00, 0, 1, b'a']).0,
            Err(Some(20))
        );
        let d = [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x19, 0x12, 0x34,
        ];
        let items = parsed_items(&d);
        assert_eq!(
            items,
            vec![LineItem {
                file: 0,
                line: 4660
            }]
        );
    }

    #[test]
    fn bad_items() {
        let mut d = chunk();
        d[21] = 0x22; // file 2 of 1
        assert_eq!(Lines::parse(&d, 0).unwrap_err().offset, Some(21));
        let mut d = chunk();
        d[20] = 0x53; // an x register is not a line item
        assert!(Lines::parse(&d, 0).is_err());
        let mut d = chunk();
        d[3] = 1;
        assert!(Lines::parse(&d, 0).is_err());
    }
}

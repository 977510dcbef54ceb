//! The atom table (`AtU8`, or the old latin-1 `Atom`).
//!
//! Layout: i32 BE count, then each atom as length + bytes. A negative count (newer compilers) means the
//! lengths use the compact-term form (4-bit or 11-bit, tag bits ignored) instead of one byte.

use alloc::vec::Vec;

use super::compact::Cursor;
use crate::error::{Error, Result};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AtomEncoding {
    Utf8,
    Latin1,
}

/// How each atom's length is written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AtomLengthForm {
    /// One byte (positive count).
    Byte,
    /// A compact-term length (negative count).
    Compact,
}

#[derive(Clone, Debug)]
pub struct Atoms<'a> {
    data: &'a [u8],
    offset: usize,
    /// Position in `data` of each atom's length field.
    starts: Vec<u32>,
    pub encoding: AtomEncoding,
    pub length_form: AtomLengthForm,
}

impl<'a> Atoms<'a> {
    pub fn parse(data: &'a [u8], offset: usize, encoding: AtomEncoding) -> Result<Atoms<'a>> {
        let mut c = Cursor::new(data, offset);
        let raw_count = c.i32_be()?;
        let length_form = if raw_count < 0 {
            AtomLengthForm::Compact
        } else {
            AtomLengthForm::Byte
        };
        let count = raw_count.unsigned_abs() as usize;
        // Every atom takes at least one byte: refuse counts the chunk cannot hold before reserving.
        if count > c.len() {
            return Err(Error::invalid(offset, "atom count", count as u64));
        }
        let mut starts = crate::mem::try_with_capacity(count, "atom index")
            .map_err(|e| Error::out_of_memory(e, Some(offset)))?;
        // Names in a table that is all ASCII (lengths included: the usual case) are valid UTF-8:
        // one pass over the bytes instead of a check per name.
        let check_utf8 = encoding == AtomEncoding::Utf8 && !c.remaining().is_ascii();
        for _ in 0..count {
            starts.push(c.pos() as u32);
            let name = read_atom(&mut c, length_form)?;
            if check_utf8 && core::str::from_utf8(name).is_err() {
                return Err(Error::invalid(
                    c.file_offset() - name.len(),
                    "UTF-8 atom",
                    0,
                ));
            }
        }
        if !c.is_empty() {
            return Err(Error::invalid(
                c.file_offset(),
                "bytes after the last atom",
                c.len() as u64,
            ));
        }
        Ok(Atoms {
            data,
            offset,
            starts,
            encoding,
            length_form,
        })
    }

    /// Number of atoms (valid indexes are `1..=len()`).
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The name of atom `index` (1-based, as in BEAM operands; 0 is "no atom").
    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        let start = *self.starts.get(index.checked_sub(1)?)? as usize;
        let mut c = Cursor::new(self.data.get(start..)?, self.offset + start);
        read_atom(&mut c, self.length_form).ok()
    }

    /// The name as text (always valid for `AtU8`; latin-1 names that are not UTF-8 give `None`).
    pub fn get_str(&self, index: usize) -> Option<&'a str> {
        core::str::from_utf8(self.get(index)?).ok()
    }

    /// The module's own name (atom 1).
    pub fn module_name(&self) -> Option<&'a [u8]> {
        self.get(1)
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (1..=self.len()).filter_map(move |i| self.get(i))
    }
}

fn read_atom<'a>(c: &mut Cursor<'a>, form: AtomLengthForm) -> Result<&'a [u8]> {
    let at = c.file_offset();
    let len = match form {
        AtomLengthForm::Byte => usize::from(c.u8()?),
        AtomLengthForm::Compact => {
            let first = c.u8()?;
            if first & 0x08 == 0 {
                usize::from(first >> 4)
            } else if first & 0x10 == 0 {
                (usize::from(first >> 5) << 8) | usize::from(c.u8()?)
            } else {
                return Err(Error::invalid(at, "atom length form", u64::from(first)));
            }
        }
    };
    c.take(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn byte_lengths() {
        let data = [0, 0, 0, 2, 3, b'f', b'o', b'o', 0];
        let atoms = Atoms::parse(&data, 40, AtomEncoding::Utf8).unwrap();
        assert_eq!(atoms.len(), 2);
        assert_eq!(atoms.get(0), None);
        assert_eq!(atoms.get(1), Some(&b"foo"[..]));
        assert_eq!(atoms.get(2), Some(&b""[..]));
        assert_eq!(atoms.get(3), None);
        assert_eq!(atoms.length_form, AtomLengthForm::Byte);
    }

    #[test]
    fn compact_lengths_with_negative_count() {
        // -2 atoms: "ab" with a 4-bit length (0x20), then a 300-byte atom with an 11-bit length
        // (0x28 = top bits 001, form 01; low byte 0x2C): 0x12C = 300.
        let mut data = vec![0xFF, 0xFF, 0xFF, 0xFE, 0x20, b'a', b'b', 0x28, 0x2C];
        data.extend(core::iter::repeat_n(b'z', 300));
        let atoms = Atoms::parse(&data, 0, AtomEncoding::Utf8).unwrap();
        assert_eq!(atoms.len(), 2);
        assert_eq!(atoms.get(1), Some(&b"ab"[..]));
        assert_eq!(atoms.get(2).map(|a| a.len()), Some(300));
        assert_eq!(atoms.length_form, AtomLengthForm::Compact);
    }

    #[test]
    fn malformed() {
        // count larger than the data
        assert!(Atoms::parse(&[0, 0, 0, 9, 0], 0, AtomEncoding::Utf8).is_err());
        // i32::MIN count
        assert!(Atoms::parse(&[0x80, 0, 0, 0], 0, AtomEncoding::Utf8).is_err());
        // name running past the end
        let err = Atoms::parse(&[0, 0, 0, 1, 5, b'a'], 8, AtomEncoding::Utf8).unwrap_err();
        assert_eq!(err.offset, Some(13));
        // trailing bytes
        assert!(Atoms::parse(&[0, 0, 0, 1, 1, b'a', 0], 0, AtomEncoding::Utf8).is_err());
        // invalid UTF-8 is an error only for AtU8
        let data = [0, 0, 0, 1, 1, 0xE9];
        assert!(Atoms::parse(&data, 0, AtomEncoding::Utf8).is_err());
        assert!(Atoms::parse(&data, 0, AtomEncoding::Latin1).is_ok());
        // a table with UTF-8 names: each name is checked, the bad one named where it starts
        let data = [0, 0, 0, 3, 2, 0xC3, 0xA9, 1, b'a', 2, 0xC3, b'b'];
        let err = Atoms::parse(&data, 100, AtomEncoding::Utf8).unwrap_err();
        assert_eq!(err.offset, Some(110));
        let atoms = Atoms::parse(&data[..9], 100, AtomEncoding::Utf8);
        assert!(atoms.is_err(), "count 3, 2 names");
        let ok = [0, 0, 0, 2, 2, 0xC3, 0xA9, 1, b'a'];
        assert_eq!(
            Atoms::parse(&ok, 0, AtomEncoding::Utf8).unwrap().get_str(1),
            Some("\u{e9}")
        );
        // the multi-byte length form is not used for atoms
        assert!(Atoms::parse(
            &[0xFF, 0xFF, 0xFF, 0xFF, 0x18, 0, 1, b'a'],
            0,
            AtomEncoding::Utf8
        )
        .is_err());
    }
}

//! A small decoder of the Erlang external term format, for the literals the compiler inspects at
//! compile time (bit-syntax flag lists, literal sizes). Anything outside that subset is reported as
//! unsupported rather than guessed at.
//!
//! Bounded: every element takes at least one input byte, so element counts are checked against the
//! bytes left before anything is allocated, and nesting is limited to [`MAX_DEPTH`].

use alloc::vec::Vec;

use crate::{Error, Result};

/// Deepest nesting of lists/tuples accepted (keeps recursion bounded on the device's small stack).
pub const MAX_DEPTH: u32 = 32;

const VERSION_MAGIC: u8 = 131;
const NEW_FLOAT_EXT: u8 = 70;
const SMALL_INTEGER_EXT: u8 = 97;
const INTEGER_EXT: u8 = 98;
const ATOM_EXT: u8 = 100;
const SMALL_TUPLE_EXT: u8 = 104;
const LARGE_TUPLE_EXT: u8 = 105;
const NIL_EXT: u8 = 106;
const STRING_EXT: u8 = 107;
const LIST_EXT: u8 = 108;
const BINARY_EXT: u8 = 109;
const SMALL_BIG_EXT: u8 = 110;
const LARGE_BIG_EXT: u8 = 111;
const SMALL_ATOM_EXT: u8 = 115;
const ATOM_UTF8_EXT: u8 = 118;
const SMALL_ATOM_UTF8_EXT: u8 = 119;

/// A decoded literal. Atoms and binaries borrow from the input.
#[derive(Clone, PartialEq, Debug)]
pub enum Term<'a> {
    /// An atom by its UTF-8 name.
    Atom(&'a [u8]),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer that does not fit in 64 bits: sign and little-endian magnitude bytes.
    BigInt {
        negative: bool,
        magnitude: &'a [u8],
    },
    /// A float, as its IEEE-754 bits.
    Float(u64),
    Nil,
    /// A non-empty list: its elements, then its tail (`Nil` for a proper list) as the last
    /// item (one allocation, made fallibly).
    List(Vec<Term<'a>>),
    Tuple(Vec<Term<'a>>),
    Binary(&'a [u8]),
}

impl<'a> Term<'a> {
    pub fn as_atom(&self) -> Option<&'a [u8]> {
        match self {
            Term::Atom(name) => Some(name),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Term::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The elements of a proper list (`[]` included).
    pub fn as_proper_list(&self) -> Option<&[Term<'a>]> {
        match self {
            Term::Nil => Some(&[]),
            Term::List(items) => match items.split_last() {
                Some((Term::Nil, elements)) => Some(elements),
                _ => None,
            },
            _ => None,
        }
    }

    /// A non-empty list's elements and tail.
    pub fn as_list(&self) -> Option<(&[Term<'a>], &Term<'a>)> {
        match self {
            Term::List(items) => items.split_last().map(|(tail, elements)| (elements, tail)),
            _ => None,
        }
    }
}

/// Decode one term, with its version byte, occupying all of `bytes`. `base` is the file offset
/// of `bytes[0]`, used for error offsets.
pub fn decode(bytes: &[u8], base: usize) -> Result<Term<'_>> {
    let mut reader = Reader {
        bytes,
        pos: 0,
        base,
    };
    let magic = reader.u8()?;
    if magic != VERSION_MAGIC {
        return Err(Error::new(
            crate::ErrorKind::BadMagic {
                expected: "external term format version 131",
            },
            base,
        ));
    }
    let term = reader.term(0)?;
    if reader.pos != bytes.len() {
        return Err(Error::invalid(
            reader.offset(),
            "trailing bytes after literal",
            (bytes.len() - reader.pos) as u64,
        ));
    }
    Ok(term)
}

/// Like [`decode`] for a term that should be a proper list of atoms (or nil), without building
/// it (so without allocating): `f` gets each atom's name in order. `Ok(false)` when the term is
/// something else; errors as [`decode`]'s for a malformed term.
pub fn for_each_list_atom<'a>(
    bytes: &'a [u8],
    base: usize,
    mut f: impl FnMut(&'a [u8]),
) -> Result<bool> {
    let mut reader = Reader {
        bytes,
        pos: 0,
        base,
    };
    let magic = reader.u8()?;
    if magic != VERSION_MAGIC {
        return Err(Error::new(
            crate::ErrorKind::BadMagic {
                expected: "external term format version 131",
            },
            base,
        ));
    }
    let is_atom = |tag| {
        matches!(
            tag,
            ATOM_EXT | SMALL_ATOM_EXT | ATOM_UTF8_EXT | SMALL_ATOM_UTF8_EXT
        )
    };
    if reader.bytes.get(reader.pos) == Some(&LIST_EXT) {
        reader.u8()?;
        let n = reader.u32()?;
        reader.check_count(n.saturating_add(1), "list length")?;
        for _ in 0..n {
            if !reader.bytes.get(reader.pos).copied().is_some_and(is_atom) {
                return Ok(false);
            }
            match reader.term(1)? {
                Term::Atom(name) => f(name),
                _ => return Ok(false),
            }
        }
    }
    if reader.u8()? != NIL_EXT {
        return Ok(false);
    }
    if reader.pos != bytes.len() {
        return Err(Error::invalid(
            reader.offset(),
            "trailing bytes after literal",
            (bytes.len() - reader.pos) as u64,
        ));
    }
    Ok(true)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let available = self.remaining();
        if n > available {
            return Err(Error::truncated(self.offset(), n, available));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }

    fn u32(&mut self) -> Result<usize> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// Check that `count` elements of at least one byte each can still follow.
    fn check_count(&self, count: usize, what: &'static str) -> Result<()> {
        if count > self.remaining() {
            return Err(Error::invalid(self.offset(), what, count as u64));
        }
        Ok(())
    }

    fn term(&mut self, depth: u32) -> Result<Term<'a>> {
        let tag_offset = self.offset();
        let tag = self.u8()?;
        match tag {
            SMALL_INTEGER_EXT => Ok(Term::Int(self.u8()? as i64)),
            INTEGER_EXT => {
                let b = self.take(4)?;
                Ok(Term::Int(
                    i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64
                ))
            }
            SMALL_BIG_EXT => {
                let n = self.u8()? as usize;
                self.big(n)
            }
            LARGE_BIG_EXT => {
                let n = self.u32()?;
                self.big(n)
            }
            NEW_FLOAT_EXT => {
                let b = self.take(8)?;
                let mut bits = [0u8; 8];
                bits.copy_from_slice(b);
                Ok(Term::Float(u64::from_be_bytes(bits)))
            }
            ATOM_EXT => {
                let n = self.u16()?;
                self.latin1_atom(n)
            }
            SMALL_ATOM_EXT => {
                let n = self.u8()? as usize;
                self.latin1_atom(n)
            }
            ATOM_UTF8_EXT => {
                let n = self.u16()?;
                Ok(Term::Atom(self.take(n)?))
            }
            SMALL_ATOM_UTF8_EXT => {
                let n = self.u8()? as usize;
                Ok(Term::Atom(self.take(n)?))
            }
            NIL_EXT => Ok(Term::Nil),
            STRING_EXT => {
                let n = self.u16()?;
                let chars = self.take(n)?;
                if chars.is_empty() {
                    return Ok(Term::Nil);
                }
                let mut items = self.alloc(chars.len() + 1, tag_offset)?;
                items.extend(chars.iter().map(|&c| Term::Int(c as i64)));
                items.push(Term::Nil);
                Ok(Term::List(items))
            }
            LIST_EXT => {
                let n = self.u32()?;
                // n elements plus the tail.
                self.check_count(n.saturating_add(1), "list length")?;
                let depth = self.deeper(depth, tag_offset)?;
                if n == 0 {
                    // `[] ++ Tail` is just the tail.
                    return self.term(depth);
                }
                // The elements, then the tail.
                Ok(Term::List(self.elements(n + 1, depth)?))
            }
            SMALL_TUPLE_EXT => {
                let n = self.u8()? as usize;
                self.tuple(n, depth, tag_offset)
            }
            LARGE_TUPLE_EXT => {
                let n = self.u32()?;
                self.tuple(n, depth, tag_offset)
            }
            BINARY_EXT => {
                let n = self.u32()?;
                Ok(Term::Binary(self.take(n)?))
            }
            other => Err(Error::unsupported(
                tag_offset,
                "literal term tag",
                other as u64,
            )),
        }
    }

    fn deeper(&self, depth: u32, offset: usize) -> Result<u32> {
        if depth >= MAX_DEPTH {
            return Err(Error::unsupported(
                offset,
                "literal nesting depth",
                depth as u64,
            ));
        }
        Ok(depth + 1)
    }

    /// Room for `n` terms, failing with an error at `offset` when the heap is full.
    fn alloc(&self, n: usize, offset: usize) -> Result<Vec<Term<'a>>> {
        crate::mem::try_with_capacity(n, "literal term")
            .map_err(|e| Error::out_of_memory(e, Some(offset)))
    }

    fn elements(&mut self, n: usize, depth: u32) -> Result<Vec<Term<'a>>> {
        self.check_count(n, "element count")?;
        let mut elements = self.alloc(n, self.offset())?;
        for _ in 0..n {
            elements.push(self.term(depth)?);
        }
        Ok(elements)
    }

    fn tuple(&mut self, n: usize, depth: u32, offset: usize) -> Result<Term<'a>> {
        let depth = self.deeper(depth, offset)?;
        Ok(Term::Tuple(self.elements(n, depth)?))
    }

    fn latin1_atom(&mut self, n: usize) -> Result<Term<'a>> {
        let offset = self.offset();
        let name = self.take(n)?;
        // Latin-1 and UTF-8 agree on ASCII; other names would need re-encoding.
        if let Some(&c) = name.iter().find(|c| !c.is_ascii()) {
            return Err(Error::unsupported(
                offset,
                "non-ASCII latin-1 atom",
                c as u64,
            ));
        }
        Ok(Term::Atom(name))
    }

    fn big(&mut self, n: usize) -> Result<Term<'a>> {
        let sign_offset = self.offset();
        let sign = self.u8()?;
        if sign > 1 {
            return Err(Error::invalid(sign_offset, "bignum sign", sign as u64));
        }
        let negative = sign == 1;
        let magnitude = self.take(n)?;
        // Significant bytes only, so that small values written as bignums still become Int.
        let significant = magnitude
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |last| last + 1);
        if significant <= 8 {
            let mut le = [0u8; 8];
            le[..significant].copy_from_slice(&magnitude[..significant]);
            let abs = u64::from_le_bytes(le);
            let value = if negative {
                if abs <= i64::MAX as u64 + 1 {
                    Some((abs as i64).wrapping_neg())
                } else {
                    None
                }
            } else {
                i64::try_from(abs).ok()
            };
            if let Some(v) = value {
                return Ok(Term::Int(v));
            }
        }
        Ok(Term::BigInt {
            negative,
            magnitude: &magnitude[..significant],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    // Inputs produced by `term_to_binary/1,2` in erl (OTP 25; `minor_version 2` is the OTP 26+
    // default, which writes atoms as SMALL_ATOM_UTF8_EXT).

    #[test]
    fn decodes_flag_lists() {
        // [little, signed]
        let bytes = [
            131, 108, 0, 0, 0, 2, 119, 6, b'l', b'i', b't', b't', b'l', b'e', 119, 6, b's', b'i',
            b'g', b'n', b'e', b'd', 106,
        ];
        let term = decode(&bytes, 0).unwrap();
        let list = term.as_proper_list().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].as_atom(), Some(&b"little"[..]));
        assert_eq!(list[1].as_atom(), Some(&b"signed"[..]));
        assert_eq!(decode(&[131, 106], 0).unwrap(), Term::Nil);
        // The same list as OTP 25 writes it by default (ATOM_EXT).
        let latin1 = [
            131, 108, 0, 0, 0, 2, 100, 0, 6, b'l', b'i', b't', b't', b'l', b'e', 100, 0, 6, b's',
            b'i', b'g', b'n', b'e', b'd', 106,
        ];
        assert_eq!(decode(&latin1, 0).unwrap(), term);
    }

    #[test]
    fn decodes_integers() {
        assert_eq!(decode(&[131, 97, 255], 0).unwrap(), Term::Int(255));
        // -1
        assert_eq!(
            decode(&[131, 98, 255, 255, 255, 255], 0).unwrap(),
            Term::Int(-1)
        );
        // 1 bsl 40
        assert_eq!(
            decode(&[131, 110, 6, 0, 0, 0, 0, 0, 0, 1], 0).unwrap(),
            Term::Int(1 << 40)
        );
        // -(1 bsl 63) fits, 1 bsl 63 does not.
        let min = [131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0x80];
        assert_eq!(decode(&min, 0).unwrap(), Term::Int(i64::MIN));
        let over = [131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0x80];
        assert_eq!(
            decode(&over, 0).unwrap(),
            Term::BigInt {
                negative: false,
                magnitude: &[0, 0, 0, 0, 0, 0, 0, 0x80]
            }
        );
    }

    #[test]
    fn decodes_tuples_strings_binaries_and_improper_lists() {
        // {ok, "ab", <<1,2>>, [1|2]}
        let bytes = [
            131, 104, 4, 119, 2, b'o', b'k', 107, 0, 2, b'a', b'b', 109, 0, 0, 0, 2, 1, 2, 108, 0,
            0, 0, 1, 97, 1, 97, 2,
        ];
        let term = decode(&bytes, 0).unwrap();
        let expected = Term::Tuple(vec![
            Term::Atom(b"ok"),
            Term::List(vec![Term::Int(97), Term::Int(98), Term::Nil]),
            Term::Binary(&[1, 2]),
            Term::List(vec![Term::Int(1), Term::Int(2)]),
        ]);
        assert_eq!(term, expected);
        let Term::Tuple(items) = &term else {
            unreachable!()
        };
        assert_eq!(items[1].as_proper_list().map(<[_]>::len), Some(2));
        assert_eq!(items[3].as_proper_list(), None);
        assert_eq!(
            items[3].as_list(),
            Some((&[Term::Int(1)][..], &Term::Int(2)))
        );
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        // Wrong magic.
        assert!(decode(&[130, 106], 0).is_err());
        // Map literal (#{}) is outside the subset.
        let err = decode(&[131, 116, 0, 0, 0, 0], 10).unwrap_err();
        assert_eq!(err.offset, Some(11));
        // A list claiming 4 billion elements in a few bytes.
        assert!(decode(&[131, 108, 0xFF, 0xFF, 0xFF, 0xFF, 106], 0).is_err());
        // Truncated binary.
        assert!(decode(&[131, 109, 0, 0, 0, 5, 1], 0).is_err());
        // Trailing garbage.
        assert!(decode(&[131, 106, 0], 0).is_err());
        // Nesting deeper than the limit: [[[[...]]]]
        let mut deep = vec![131u8];
        for _ in 0..(MAX_DEPTH + 1) {
            deep.extend_from_slice(&[108, 0, 0, 0, 1]);
        }
        deep.extend(core::iter::repeat_n(106, MAX_DEPTH as usize + 2));
        assert!(decode(&deep, 0).is_err());
        // Every prefix of a valid term fails cleanly.
        let valid = [131, 104, 2, 119, 2, b'o', b'k', 97, 1];
        for len in 0..valid.len() {
            assert!(decode(&valid[..len], 0).is_err());
        }
    }
}

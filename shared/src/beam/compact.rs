//! The compact term encoding of BEAM instruction operands.
//!
//! `Cursor` is the low-level byte reader shared by every chunk reader, by the generic instruction
//! decoder and by the compile driver (which mirrors the reference's own decoding rules exactly).
//!
//! Encoding (OTP `beam_asm`): the low 3 bits of the first byte are the tag. If bit 3 is clear the
//! value is the high nibble (0..=15). If bits 4..3 are `01` the value is 11 bits: the top 3 bits of
//! the first byte, then the next byte. If they are `11`, `byte >> 5` gives the length: `n + 2` bytes
//! follow (big-endian), or for `n == 7` a nested `u` term holds `length - 9`. Only the integer tag
//! reads those bytes as two's complement. Tag 7 ("extended") carries a sub-tag in its high nibble.

use alloc::vec::Vec;

use crate::error::{Error, ErrorKind, Result};

/// Longest integer operand accepted, in bytes (a bound for hostile input, not an OTP limit).
pub const MAX_BIG_INTEGER_BYTES: usize = 64 * 1024;

/// The `N` bytes at `at`, for readers that look fields up by offset rather than in sequence;
/// a short input is an error at `at`.
pub fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N]> {
    at.checked_add(N)
        .and_then(|end| bytes.get(at..end))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::truncated(at, N, bytes.len().saturating_sub(at)))
}

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
        Cursor {
            bytes,
            pos: 0,
            base,
        }
    }
    /// File offset of the next byte.
    pub fn file_offset(&self) -> usize {
        self.base + self.pos
    }
    /// File offset of `bytes[0]`.
    pub fn base(&self) -> usize {
        self.base
    }
    /// Position inside `bytes`.
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }
    /// Bytes left to read.
    pub fn len(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
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
    /// The next byte, if any, without consuming it: for the hot decoders, which build the error
    /// themselves (an `Option<u8>` is returned in a register, a `Result<u8>` through memory).
    #[inline(always)]
    pub fn peek_byte(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }
    /// The next byte, if any, consumed (see [`Cursor::peek_byte`]).
    #[inline(always)]
    pub fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek_byte()?;
        self.pos += 1;
        Some(b)
    }
    pub fn u8(&mut self) -> Result<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let avail = self.len();
        if n > avail {
            return Err(Error::truncated(self.file_offset(), n, avail));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// Moves past `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub fn u16_be(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn u32_be(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn i32_be(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub fn i64_be(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    /// A big-endian u32 used as a count or size in memory.
    pub fn len_u32(&mut self) -> Result<usize> {
        // u32 always fits usize on the 32- and 64-bit targets we build for.
        Ok(self.u32_be()? as usize)
    }

    /// Reads one tagged compact value (tag + raw payload) without interpreting it.
    pub fn tagged(&mut self) -> Result<Tagged<'a>> {
        self.tagged_inner(true)
    }

    /// `allow_long`: whether the length-code-7 form (whose length is itself a compact term) is
    /// accepted; the nested length term may not use it again, which bounds the recursion.
    fn tagged_inner(&mut self, allow_long: bool) -> Result<Tagged<'a>> {
        let start = self.file_offset();
        let first = self.u8()?;
        let tag = Tag::from_bits(first);
        if first & 0x08 == 0 {
            return Ok(Tagged {
                tag,
                payload: Payload::Small(u64::from(first >> 4)),
                offset: start,
            });
        }
        if first & 0x10 == 0 {
            let low = self.u8()?;
            let value = (u64::from(first >> 5) << 8) | u64::from(low);
            return Ok(Tagged {
                tag,
                payload: Payload::Small(value),
                offset: start,
            });
        }
        if tag == Tag::Extended {
            // Extended terms only use the 4-bit form for their sub-tag.
            return Err(Error::invalid(
                start,
                "extended compact tag",
                u64::from(first),
            ));
        }
        let code = usize::from(first >> 5);
        let len = if code < 7 {
            code + 2
        } else if !allow_long {
            return Err(Error::invalid(
                start,
                "nested integer length",
                u64::from(first),
            ));
        } else {
            let len_offset = self.file_offset();
            let nested = self.tagged_inner(false)?;
            let extra = match (nested.tag, nested.payload) {
                (Tag::Literal, Payload::Small(v)) => v,
                (Tag::Literal, Payload::Bytes(b)) => unsigned_value(b, len_offset)?,
                _ => {
                    return Err(Error::invalid(
                        len_offset,
                        "integer length tag",
                        nested.tag as u64,
                    ))
                }
            };
            let len = extra.saturating_add(9);
            if len > MAX_BIG_INTEGER_BYTES as u64 {
                return Err(Error::new(
                    ErrorKind::LimitExceeded {
                        what: "integer operand bytes",
                        value: len,
                        limit: MAX_BIG_INTEGER_BYTES as u64,
                    },
                    len_offset,
                ));
            }
            len as usize
        };
        let bytes = self.take(len)?;
        Ok(Tagged {
            tag,
            payload: Payload::Bytes(bytes),
            offset: start,
        })
    }

    /// Decodes one generic operand (see [`Operand`]).
    pub fn operand(&mut self) -> Result<Operand<'a>> {
        self.operand_at_depth(false)
    }

    fn operand_at_depth(&mut self, in_list: bool) -> Result<Operand<'a>> {
        let t = self.tagged()?;
        let at = t.offset;
        Ok(match t.tag {
            Tag::Literal => Operand::Literal(t.unsigned()?),
            Tag::Integer => match t.payload {
                Payload::Small(v) => Operand::Integer(v as i64),
                Payload::Bytes(b) if b.len() <= 8 => Operand::Integer(signed_value(b)),
                Payload::Bytes(b) => Operand::BigInteger(b),
            },
            Tag::Atom => match t.u32("atom index")? {
                0 => Operand::Nil,
                i => Operand::Atom(i),
            },
            Tag::X => Operand::X(t.u32("x register")?),
            Tag::Y => Operand::Y(t.u32("y register")?),
            Tag::Label => Operand::Label(t.u32("label")?),
            Tag::Character => Operand::Character(t.u32("character")?),
            Tag::Extended => {
                let sub = t.unsigned()?;
                match sub {
                    EXT_LIST => {
                        if in_list {
                            return Err(Error::invalid(at, "nested list operand", sub));
                        }
                        let count = self.count_operand("list length", 1)?;
                        let mut items = crate::mem::try_with_capacity(count, "list operand")
                            .map_err(|e| Error::out_of_memory(e, Some(at)))?;
                        for _ in 0..count {
                            items.push(self.operand_at_depth(true)?);
                        }
                        Operand::List(items)
                    }
                    EXT_FP_REGISTER => Operand::FloatRegister(self.literal_u32("fp register")?),
                    EXT_ALLOCATION_LIST => {
                        let count = self.count_operand("allocation list length", 2)?;
                        let mut items = crate::mem::try_with_capacity(count, "allocation list")
                            .map_err(|e| Error::out_of_memory(e, Some(at)))?;
                        for _ in 0..count {
                            let kind_at = self.file_offset();
                            let kind = match self.literal_u32("allocation kind")? {
                                0 => AllocationKind::Words,
                                1 => AllocationKind::Floats,
                                2 => AllocationKind::Funs,
                                k => {
                                    return Err(Error::invalid(
                                        kind_at,
                                        "allocation kind",
                                        u64::from(k),
                                    ))
                                }
                            };
                            let amount = self.literal_u32("allocation amount")?;
                            items.push(Allocation { kind, amount });
                        }
                        Operand::AllocationList(items)
                    }
                    EXT_LITERAL => Operand::LiteralIndex(self.literal_u32("literal index")?),
                    EXT_TYPED_REGISTER => {
                        let reg = self.tagged()?;
                        let register = match reg.tag {
                            Tag::X => Register::X(reg.u32("x register")?),
                            Tag::Y => Register::Y(reg.u32("y register")?),
                            tag => {
                                return Err(Error::invalid(
                                    reg.offset,
                                    "typed register tag",
                                    tag as u64,
                                ))
                            }
                        };
                        let type_index = self.literal_u32("type index")?;
                        Operand::TypedRegister {
                            register,
                            type_index,
                        }
                    }
                    _ => return Err(Error::unsupported(at, "extended operand tag", sub)),
                }
            }
        })
    }

    /// Reads a `u`-tagged value (BEAM "literal" operand) that must fit in u32.
    pub fn literal_u32(&mut self, what: &'static str) -> Result<u32> {
        let t = self.tagged()?;
        if t.tag != Tag::Literal {
            return Err(Error::invalid(t.offset, what, t.tag as u64));
        }
        t.u32(what)
    }

    /// Reads a length that announces `count` items of at least `min_item_bytes` each, refusing counts
    /// the remaining input cannot hold (so callers never reserve memory from an unchecked field).
    fn count_operand(&mut self, what: &'static str, min_item_bytes: usize) -> Result<usize> {
        let at = self.file_offset();
        let count = self.literal_u32(what)? as usize;
        if count.saturating_mul(min_item_bytes) > self.len() {
            return Err(Error::truncated(
                at,
                count.saturating_mul(min_item_bytes),
                self.len(),
            ));
        }
        Ok(count)
    }
}

/// Sub-tags of the extended tag (the high nibble of a `...0111` byte).
pub const EXT_FLOAT: u64 = 0;
pub const EXT_LIST: u64 = 1;
pub const EXT_FP_REGISTER: u64 = 2;
pub const EXT_ALLOCATION_LIST: u64 = 3;
pub const EXT_LITERAL: u64 = 4;
pub const EXT_TYPED_REGISTER: u64 = 5;

/// The 3-bit tag of a compact term.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Tag {
    /// `u`: an unsigned immediate (arity, index, size...).
    Literal = 0,
    /// `i`: a signed integer term.
    Integer = 1,
    /// `a`: an atom index, 0 meaning `[]`.
    Atom = 2,
    X = 3,
    Y = 4,
    /// `f`: a label.
    Label = 5,
    /// `h`: a character.
    Character = 6,
    /// `z`: see the `EXT_*` sub-tags.
    Extended = 7,
}

impl Tag {
    pub fn from_bits(byte: u8) -> Tag {
        match byte & 7 {
            0 => Tag::Literal,
            1 => Tag::Integer,
            2 => Tag::Atom,
            3 => Tag::X,
            4 => Tag::Y,
            5 => Tag::Label,
            6 => Tag::Character,
            _ => Tag::Extended,
        }
    }
}

/// The raw value of a compact term.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Payload<'a> {
    /// The 4-bit or 11-bit forms (never negative).
    Small(u64),
    /// The multi-byte form: 2 or more big-endian bytes, as written.
    Bytes(&'a [u8]),
}

/// One tagged compact value; `offset` is the file offset of its first byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Tagged<'a> {
    pub tag: Tag,
    pub payload: Payload<'a>,
    pub offset: usize,
}

impl Tagged<'_> {
    /// The payload as an unsigned number (error if it does not fit in 64 bits).
    pub fn unsigned(&self) -> Result<u64> {
        match self.payload {
            Payload::Small(v) => Ok(v),
            Payload::Bytes(b) => unsigned_value(b, self.offset),
        }
    }
    pub fn u32(&self, what: &'static str) -> Result<u32> {
        let v = self.unsigned()?;
        u32::try_from(v).map_err(|_| Error::invalid(self.offset, what, v))
    }
}

fn unsigned_value(bytes: &[u8], offset: usize) -> Result<u64> {
    let first_nonzero = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let significant = &bytes[first_nonzero..];
    if significant.len() > 8 {
        return Err(Error::new(
            ErrorKind::LimitExceeded {
                what: "unsigned operand bytes",
                value: bytes.len() as u64,
                limit: 8,
            },
            offset,
        ));
    }
    Ok(significant
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Sign-extends 1..=8 big-endian bytes.
fn signed_value(bytes: &[u8]) -> i64 {
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut buf = [fill; 8];
    let start = 8 - bytes.len().min(8);
    buf[start..].copy_from_slice(&bytes[bytes.len() - (8 - start)..]);
    i64::from_be_bytes(buf)
}

/// A decoded generic operand.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Operand<'a> {
    /// `u`: an unsigned immediate.
    Literal(u64),
    /// `i` that fits in 64 bits.
    Integer(i64),
    /// `i` written with 9 bytes or more: big-endian two's complement bytes, as in the file.
    BigInteger(&'a [u8]),
    /// `a` with a 1-based index into the atom table.
    Atom(u32),
    /// `a` with index 0: `[]`.
    Nil,
    X(u32),
    Y(u32),
    Label(u32),
    Character(u32),
    /// `{z,1}`: a list operand with its elements (never nested).
    List(Vec<Operand<'a>>),
    /// `{z,2}`: `{fr, N}`.
    FloatRegister(u32),
    /// `{z,3}`: the heap need of an allocation instruction.
    AllocationList(Vec<Allocation>),
    /// `{z,4}`: index into the literal table.
    LiteralIndex(u32),
    /// `{z,5}`: a register with an index into the `Type` chunk.
    TypedRegister {
        register: Register,
        type_index: u32,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Register {
    X(u32),
    Y(u32),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AllocationKind {
    Words,
    Floats,
    Funs,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Allocation {
    pub kind: AllocationKind,
    pub amount: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn one(bytes: &[u8]) -> Result<Operand<'_>> {
        let mut c = Cursor::new(bytes, 100);
        let op = c.operand()?;
        assert!(c.is_empty(), "trailing bytes after {op:?}");
        Ok(op)
    }

    #[test]
    fn four_and_eleven_bit_forms() {
        assert_eq!(one(&[0x00]).unwrap(), Operand::Literal(0));
        assert_eq!(one(&[0xF0]).unwrap(), Operand::Literal(15));
        assert_eq!(one(&[0x13]).unwrap(), Operand::X(1));
        assert_eq!(one(&[0x24]).unwrap(), Operand::Y(2));
        assert_eq!(one(&[0x35]).unwrap(), Operand::Label(3));
        assert_eq!(one(&[0x52]).unwrap(), Operand::Atom(5));
        assert_eq!(one(&[0x02]).unwrap(), Operand::Nil);
        assert_eq!(one(&[0x16]).unwrap(), Operand::Character(1));
        // 11 bits: top three bits of the first byte, then the second byte.
        assert_eq!(one(&[0x08, 0x10]).unwrap(), Operand::Literal(16));
        assert_eq!(one(&[0xE8, 0xFF]).unwrap(), Operand::Literal(2047));
        assert_eq!(one(&[0x2D, 0x05]).unwrap(), Operand::Label(0x105));
        assert_eq!(one(&[0x0B, 0x40]).unwrap(), Operand::X(64));
    }

    #[test]
    fn multi_byte_integers_are_signed_only_for_i() {
        assert_eq!(one(&[0x19, 0x08, 0x00]).unwrap(), Operand::Integer(2048));
        assert_eq!(one(&[0x19, 0xFF, 0xFF]).unwrap(), Operand::Integer(-1));
        assert_eq!(one(&[0x19, 0x80, 0x00]).unwrap(), Operand::Integer(-32768));
        assert_eq!(one(&[0x18, 0xFF, 0xFF]).unwrap(), Operand::Literal(0xFFFF));
        // 8 bytes: i64::MIN.
        assert_eq!(
            one(&[0xD9, 0x80, 0, 0, 0, 0, 0, 0, 0]).unwrap(),
            Operand::Integer(i64::MIN)
        );
        // 3 bytes, positive with a leading zero byte.
        assert_eq!(
            one(&[0x39, 0x00, 0x80, 0x00]).unwrap(),
            Operand::Integer(0x8000)
        );
    }

    #[test]
    fn big_integers_keep_their_bytes() {
        // Length code 7: a nested u term gives length - 9.
        let mut bytes = vec![0xF9, 0x00];
        bytes.extend_from_slice(&[0x01; 9]);
        assert_eq!(one(&bytes).unwrap(), Operand::BigInteger(&[0x01; 9]));
        let mut bytes = vec![0xF9, 0x10];
        bytes.extend_from_slice(&[0xFF; 10]);
        assert_eq!(one(&bytes).unwrap(), Operand::BigInteger(&[0xFF; 10]));
        // Length must be a u term.
        assert!(one(&[0xF9, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // Absurd length (8-byte nested u) is refused before reading.
        let err = one(&[0xF9, 0xD8, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::LimitExceeded { .. }),
            "{err:?}"
        );
        // The nested length may not use the long form itself (bounds recursion).
        let err = one(&[0xF9, 0xF8, 0xF8, 0xF8, 0xF8]).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Invalid { .. }), "{err:?}");
    }

    #[test]
    fn unsigned_overflow_is_an_error() {
        let mut bytes = vec![0xF8, 0x00];
        bytes.extend_from_slice(&[0xFF; 9]);
        assert!(one(&bytes).is_err());
        // Leading zeros are fine.
        let mut bytes = vec![0xF8, 0x00, 0x00];
        bytes.extend_from_slice(&[0xFF; 8]);
        assert_eq!(one(&bytes).unwrap(), Operand::Literal(u64::MAX));
        // x register beyond u32.
        assert!(one(&[0x9B, 1, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn extended_terms() {
        // {list, [x0, f(3)]}
        assert_eq!(
            one(&[0x17, 0x20, 0x03, 0x35]).unwrap(),
            Operand::List(vec![Operand::X(0), Operand::Label(3)])
        );
        assert_eq!(one(&[0x27, 0x30]).unwrap(), Operand::FloatRegister(3));
        assert_eq!(
            one(&[0x37, 0x20, 0x00, 0x40, 0x10, 0x10]).unwrap(),
            Operand::AllocationList(vec![
                Allocation {
                    kind: AllocationKind::Words,
                    amount: 4
                },
                Allocation {
                    kind: AllocationKind::Floats,
                    amount: 1
                },
            ])
        );
        assert_eq!(one(&[0x47, 0x08, 0x20]).unwrap(), Operand::LiteralIndex(32));
        assert_eq!(
            one(&[0x57, 0x24, 0x70]).unwrap(),
            Operand::TypedRegister {
                register: Register::Y(2),
                type_index: 7
            }
        );
        // typed register around something that is not a register
        assert!(one(&[0x57, 0x00, 0x00]).is_err());
        // nested list
        assert!(one(&[0x17, 0x10, 0x17, 0x00]).is_err());
        // obsolete float and unknown sub-tags
        assert!(one(&[0x07]).is_err());
        assert!(one(&[0x67]).is_err());
        // extended tag in the 11-bit form
        assert!(one(&[0x0F, 0x00]).is_err());
        // unknown allocation kind
        assert!(one(&[0x37, 0x10, 0x30, 0x10]).is_err());
    }

    #[test]
    fn list_counts_are_checked_before_allocating() {
        let err = one(&[
            0x17, 0xF8, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ])
        .unwrap_err();
        assert!(err.offset >= Some(100));
        let err = one(&[0x17, 0x18, 0xFF, 0xFF, 0x03]).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::Truncated { .. })
                || matches!(err.kind, ErrorKind::Invalid { .. })
        );
    }

    #[test]
    fn truncation_reports_offset() {
        let err = one(&[0x08]).unwrap_err();
        assert_eq!(err.offset, Some(101));
        let err = one(&[0x39, 0x00]).unwrap_err();
        assert_eq!(err.offset, Some(101));
        assert_eq!(
            err.kind,
            ErrorKind::Truncated {
                needed: 3,
                available: 1
            }
        );
    }
}

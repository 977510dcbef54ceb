//! The `Type` chunk, decoded into the one representation the compiler uses.
//!
//! Header: u32 BE version, u32 BE entry count. Entry formats by version:
//! - 1 (OTP 25): fixed 18 bytes: u16 BE type bits, i64 BE min, i64 BE max (a range when min <= max).
//!   Type bits: atom, bitstring, match context, cons, float, fun, integer, map, nil, pid, port,
//!   reference, tuple (bits 0..=12).
//! - 2 (OTP 26): u16 BE type bits with the version-1 type layout, bit 13 = lower bound follows (i64),
//!   bit 14 = upper bound follows (i64), bit 15 = unit follows (u8, unit - 1).
//! - 3 (OTP 27 and 28): as 2 without the match-context bit: types in bits 0..=11, flags in 12..=14.
//! - 4 (OTP 29): as 3 plus a native-record type bit 12; flags in 13..=15.
//!
//! The compiler's view ([`Types::get`]) reproduces the reference exactly: only version 3 is read,
//! each entry maps to a [`JitType`] only when its type bits are exactly one of the known
//! combinations, anything else (and every other version, or no chunk) is `Any`.

use alloc::vec::Vec;

use super::compact::Cursor;
use crate::error::{Error, Result};

/// A type as the compiler sees it: what the reference derives from a version-3 `Type` entry.
/// Bounds are `None` for -inf/+inf.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum JitType {
    Any,
    Atom,
    /// `{t_bs_matchable, Unit}`.
    BsMatchable {
        unit: u32,
    },
    Cons,
    Float,
    Fun,
    /// `{t_number, {Lo, Hi}}` (integer or float).
    Number {
        lo: Option<i64>,
        hi: Option<i64>,
    },
    /// `{t_integer, {Lo, Hi}}`.
    Integer {
        lo: Option<i64>,
        hi: Option<i64>,
    },
    Map,
    Nil,
    /// nil or cons.
    List,
    Pid,
    Port,
    Reference,
    Tuple,
}

/// The version the compiler reads; the reference treats every other version as "no types".
pub const JIT_TYPES_VERSION: u32 = 3;

/// A union of primary types, in one layout whatever the chunk version (a version 1/2 match context
/// counts as a bitstring, as OTP itself converts it).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TypeSet(pub u16);

impl TypeSet {
    pub const ATOM: u16 = 1 << 0;
    pub const BITSTRING: u16 = 1 << 1;
    pub const CONS: u16 = 1 << 2;
    pub const FLOAT: u16 = 1 << 3;
    pub const FUN: u16 = 1 << 4;
    pub const INTEGER: u16 = 1 << 5;
    pub const MAP: u16 = 1 << 6;
    pub const NIL: u16 = 1 << 7;
    pub const PID: u16 = 1 << 8;
    pub const PORT: u16 = 1 << 9;
    pub const REFERENCE: u16 = 1 << 10;
    pub const TUPLE: u16 = 1 << 11;
    pub const RECORD: u16 = 1 << 12;
    /// Names of the bits, lowest first.
    pub const NAMES: [&'static str; 13] = [
        "atom",
        "bitstring",
        "cons",
        "float",
        "fun",
        "integer",
        "map",
        "nil",
        "pid",
        "port",
        "reference",
        "tuple",
        "record",
    ];

    pub fn contains(self, bits: u16) -> bool {
        self.0 & bits == bits
    }

    /// Names of the members, lowest bit first.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
    }
}

/// One decoded entry, whatever the chunk version.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TypeEntry {
    /// The 16-bit word as written (type bits and, from version 2, flag bits).
    pub raw_bits: u16,
    pub kinds: TypeSet,
    pub lower: Option<i64>,
    pub upper: Option<i64>,
    /// Size unit of a bitstring (1..=256), when the entry carries one.
    pub unit: Option<u16>,
}

/// Bit layout of the version-2..4 variable-length entries.
#[derive(Clone, Copy, Debug)]
struct Layout {
    type_mask: u16,
    lower: u16,
    upper: u16,
    unit: u16,
    /// Bits that must be clear.
    reserved: u16,
}

const V1_ENTRY: usize = 18;

fn layout(version: u32) -> Option<Layout> {
    match version {
        2 | 4 => Some(Layout {
            type_mask: 0x1FFF,
            lower: 1 << 13,
            upper: 1 << 14,
            unit: 1 << 15,
            reserved: 0,
        }),
        3 => Some(Layout {
            type_mask: 0x0FFF,
            lower: 1 << 12,
            upper: 1 << 13,
            unit: 1 << 14,
            reserved: 1 << 15,
        }),
        _ => None,
    }
}

/// Maps version 1/2 type bits (with the match-context bit at 2) onto [`TypeSet`].
fn kinds_from_v1_bits(bits: u16) -> TypeSet {
    let low = bits & 0b11;
    let context = (bits >> 2) & 1;
    let rest = (bits >> 3) & 0x3FF; // cons..tuple
    TypeSet(low | (context << 1) | (rest << 2))
}

#[derive(Clone, Debug)]
pub struct Types<'a> {
    /// Chunk version (0 when the module has no `Type` chunk).
    pub version: u32,
    /// The count in the header. The reference ignores it and reads entries to the end; this reader
    /// requires it to match for known versions, so a cut table is never mistaken for a short one.
    pub declared_count: u32,
    body: &'a [u8],
    body_offset: usize,
    /// Position in `body` of each entry (empty for unknown versions).
    starts: Vec<u32>,
}

impl<'a> Types<'a> {
    /// For a module without a `Type` chunk: every type is `Any`.
    pub fn absent() -> Types<'a> {
        Types {
            version: 0,
            declared_count: 0,
            body: &[],
            body_offset: 0,
            starts: Vec::new(),
        }
    }

    /// Checks every entry of a known version (1..=4); other versions are kept undecoded.
    pub fn parse(data: &'a [u8], offset: usize) -> Result<Types<'a>> {
        let mut c = Cursor::new(data, offset);
        let version = c.u32_be()?;
        let declared_count = c.u32_be()?;
        let body_offset = c.file_offset();
        let body = c.remaining();
        let starts = match version {
            1 => {
                if !body.len().is_multiple_of(V1_ENTRY) {
                    let whole = body.len() - body.len() % V1_ENTRY;
                    return Err(Error::truncated(
                        body_offset + whole,
                        V1_ENTRY,
                        body.len() % V1_ENTRY,
                    ));
                }
                let count = body.len() / V1_ENTRY;
                let mut starts = crate::mem::try_with_capacity(count, "type index")
                    .map_err(|e| Error::out_of_memory(e, Some(body_offset)))?;
                starts.extend((0..count).map(|i| (i * V1_ENTRY) as u32));
                starts
            }
            _ => match layout(version) {
                Some(l) => {
                    // Count first so the index is allocated once at its exact size.
                    let count = walk_entries(body, body_offset, l, |_| {})?;
                    let mut starts = crate::mem::try_with_capacity(count, "type index")
                        .map_err(|e| Error::out_of_memory(e, Some(body_offset)))?;
                    walk_entries(body, body_offset, l, |pos| starts.push(pos as u32))?;
                    starts
                }
                None => Vec::new(),
            },
        };
        let known = version == 1 || layout(version).is_some();
        if known && starts.len() != declared_count as usize {
            return Err(Error::invalid(
                offset + 4,
                "Type entry count",
                u64::from(declared_count),
            ));
        }
        Ok(Types {
            version,
            declared_count,
            body,
            body_offset,
            starts,
        })
    }

    /// Number of decoded entries (0 for unknown versions).
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Whether this reader knows the version's entry format.
    pub fn is_known_version(&self) -> bool {
        self.version == 1 || layout(self.version).is_some()
    }

    /// The compiler's type for `index`: `Any` unless this is a version-3 table (an index past its
    /// end also gives `Any`; see [`Types::try_get`]).
    pub fn get(&self, index: usize) -> JitType {
        self.try_get(index).unwrap_or(JitType::Any)
    }

    /// As [`Types::get`], but `None` for an index past the end of a version-3 table (where the
    /// reference fails). Any other version gives `Some(Any)` for every index, as the reference does.
    pub fn try_get(&self, index: usize) -> Option<JitType> {
        if self.version != JIT_TYPES_VERSION {
            return Some(JitType::Any);
        }
        self.entry(index).map(|e| jit_type(&e))
    }

    /// The decoded entry `index`, for any known version.
    pub fn entry(&self, index: usize) -> Option<TypeEntry> {
        let start = *self.starts.get(index)? as usize;
        let mut c = Cursor::new(self.body.get(start..)?, self.body_offset + start);
        if self.version == 1 {
            let raw_bits = c.u16_be().ok()?;
            let min = c.i64_be().ok()?;
            let max = c.i64_be().ok()?;
            let (lower, upper) = if min <= max {
                (Some(min), Some(max))
            } else {
                (None, None)
            };
            return Some(TypeEntry {
                raw_bits,
                kinds: kinds_from_v1_bits(raw_bits),
                lower,
                upper,
                unit: None,
            });
        }
        read_entry(&mut c, layout(self.version)?, self.version).ok()
    }

    pub fn entries(&self) -> impl Iterator<Item = TypeEntry> + '_ {
        (0..self.len()).filter_map(|i| self.entry(i))
    }
}

/// Calls `visit` with the position of each entry; returns the number of entries.
fn walk_entries(
    body: &[u8],
    offset: usize,
    l: Layout,
    mut visit: impl FnMut(usize),
) -> Result<usize> {
    let mut c = Cursor::new(body, offset);
    let mut count = 0;
    while !c.is_empty() {
        visit(c.pos());
        // The version only matters for the kinds mapping, which is not needed here.
        read_entry(&mut c, l, 3)?;
        count += 1;
    }
    Ok(count)
}

fn read_entry(c: &mut Cursor, l: Layout, version: u32) -> Result<TypeEntry> {
    let at = c.file_offset();
    let raw_bits = c.u16_be()?;
    if raw_bits & l.reserved != 0 {
        return Err(Error::invalid(at, "type entry flags", u64::from(raw_bits)));
    }
    // Bounds, then unit, in that order when present.
    let lower = if raw_bits & l.lower != 0 {
        Some(c.i64_be()?)
    } else {
        None
    };
    let upper = if raw_bits & l.upper != 0 {
        Some(c.i64_be()?)
    } else {
        None
    };
    let unit = if raw_bits & l.unit != 0 {
        Some(u16::from(c.u8()?) + 1)
    } else {
        None
    };
    let type_bits = raw_bits & l.type_mask;
    let kinds = match version {
        2 => kinds_from_v1_bits(type_bits),
        _ => TypeSet(type_bits),
    };
    Ok(TypeEntry {
        raw_bits,
        kinds,
        lower,
        upper,
        unit,
    })
}

/// The reference's mapping of a version-3 entry: exact type-bit combinations only.
fn jit_type(e: &TypeEntry) -> JitType {
    const NUMBER: u16 = TypeSet::FLOAT | TypeSet::INTEGER;
    const LIST: u16 = TypeSet::NIL | TypeSet::CONS;
    let (lo, hi) = (e.lower, e.upper);
    match e.kinds.0 {
        TypeSet::ATOM => JitType::Atom,
        TypeSet::BITSTRING => JitType::BsMatchable {
            unit: u32::from(e.unit.unwrap_or(1)),
        },
        TypeSet::CONS => JitType::Cons,
        TypeSet::FLOAT => JitType::Float,
        TypeSet::FUN => JitType::Fun,
        NUMBER => JitType::Number { lo, hi },
        TypeSet::INTEGER => JitType::Integer { lo, hi },
        TypeSet::MAP => JitType::Map,
        TypeSet::NIL => JitType::Nil,
        LIST => JitType::List,
        TypeSet::PID => JitType::Pid,
        TypeSet::PORT => JitType::Port,
        TypeSet::REFERENCE => JitType::Reference,
        TypeSet::TUPLE => JitType::Tuple,
        _ => JitType::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn v3(count: u8, entries: &[u8]) -> Vec<u8> {
        let mut d = vec![0, 0, 0, 3, 0, 0, 0, count];
        d.extend_from_slice(entries);
        d
    }

    #[test]
    fn version_3_mapping() {
        let mut e = vec![];
        e.extend_from_slice(&[0x00, 0x01]); // atom
        e.extend_from_slice(&[0x30, 0x20]); // integer with both bounds
        e.extend_from_slice(&(-5i64).to_be_bytes());
        e.extend_from_slice(&(1000i64).to_be_bytes());
        e.extend_from_slice(&[0x20, 0x28]); // number with an upper bound only
        e.extend_from_slice(&(7i64).to_be_bytes());
        e.extend_from_slice(&[0x40, 0x02, 7]); // bitstring, unit 8
        e.extend_from_slice(&[0x00, 0x02]); // bitstring, default unit
        e.extend_from_slice(&[0x00, 0x84]); // nil|cons
        e.extend_from_slice(&[0x00, 0x03]); // atom|bitstring: not a known combination
        e.extend_from_slice(&[0x0F, 0xFF]); // any
        let d = v3(8, &e);
        assert!(Types::parse(&v3(7, &e), 0).is_err());
        let t = Types::parse(&d, 0).unwrap();
        assert_eq!(t.len(), 8);
        assert_eq!(t.get(0), JitType::Atom);
        assert_eq!(
            t.get(1),
            JitType::Integer {
                lo: Some(-5),
                hi: Some(1000)
            }
        );
        assert_eq!(
            t.get(2),
            JitType::Number {
                lo: None,
                hi: Some(7)
            }
        );
        assert_eq!(t.get(3), JitType::BsMatchable { unit: 8 });
        assert_eq!(t.get(4), JitType::BsMatchable { unit: 1 });
        assert_eq!(t.get(5), JitType::List);
        assert_eq!(t.get(6), JitType::Any);
        assert_eq!(t.get(7), JitType::Any);
        assert_eq!(t.try_get(8), None);
        assert_eq!(t.get(8), JitType::Any);
        assert_eq!(t.entry(3).unwrap().unit, Some(8));
    }

    #[test]
    fn version_3_malformed() {
        // lower bound announced but missing
        assert!(Types::parse(&v3(1, &[0x10, 0x20, 0, 0]), 0).is_err());
        // reserved top bit
        assert_eq!(
            Types::parse(&v3(2, &[0x00, 0x01, 0x80, 0x01]), 0)
                .unwrap_err()
                .offset,
            Some(10)
        );
        // odd trailing byte
        assert!(Types::parse(&v3(1, &[0x00, 0x01, 0x00]), 0).is_err());
        // header too short
        assert!(Types::parse(&[0, 0, 0, 3, 0, 0], 0).is_err());
    }

    #[test]
    fn other_versions_are_any_for_the_compiler() {
        // version 1: integer (bit 6) with range 0..=9
        let mut d = vec![0, 0, 0, 1, 0, 0, 0, 1, 0x00, 0x40];
        d.extend_from_slice(&0i64.to_be_bytes());
        d.extend_from_slice(&9i64.to_be_bytes());
        let t = Types::parse(&d, 0).unwrap();
        assert_eq!(t.get(0), JitType::Any);
        assert_eq!(t.try_get(99), Some(JitType::Any));
        let e = t.entry(0).unwrap();
        assert_eq!(e.kinds, TypeSet(TypeSet::INTEGER));
        assert_eq!((e.lower, e.upper), (Some(0), Some(9)));
        assert!(Types::parse(&d[..d.len() - 1], 0).is_err());
        // version 2: match context (bit 2) counts as a bitstring; tuple is bit 12; unit flag bit 15
        let d = vec![0, 0, 0, 2, 0, 0, 0, 2, 0x80, 0x04, 31, 0x10, 0x00];
        let t = Types::parse(&d, 0).unwrap();
        assert_eq!(t.entry(0).unwrap().kinds, TypeSet(TypeSet::BITSTRING));
        assert_eq!(t.entry(0).unwrap().unit, Some(32));
        assert_eq!(t.entry(1).unwrap().kinds, TypeSet(TypeSet::TUPLE));
        assert_eq!(t.get(0), JitType::Any);
        // version 4: record bit 12
        let d = vec![0, 0, 0, 4, 0, 0, 0, 1, 0x10, 0x00];
        let t = Types::parse(&d, 0).unwrap();
        assert_eq!(t.entry(0).unwrap().kinds, TypeSet(TypeSet::RECORD));
        // unknown version: kept, all Any
        let t = Types::parse(&[0, 0, 0, 9, 0, 0, 0, 0, 1, 2, 3], 0).unwrap();
        assert!(!t.is_known_version());
        assert_eq!(t.get(0), JitType::Any);
        assert_eq!(Types::absent().get(3), JitType::Any);
    }
}

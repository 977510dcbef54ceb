//! Operand decoding with the reference driver's exact rules.
//!
//! The reference decodes the compact term encoding with its own pattern matches, which differ in
//! a few corners from the generic BEAM decoder in `crate::beam::compact` (e.g. which tags each
//! operand kind accepts, and how a 9-byte value is read). Output must match the reference, so
//! these functions follow those matches exactly; whatever the reference would crash on is an
//! `Err` here.

use alloc::vec::Vec;

use super::backend::{Arg, Backend, Cast, CmpOp, Cond, Reg, Val};
use super::consts::*;
use super::env::ModuleEnv;
use super::operand::{AtomOrLabel, CompileTimeLiteral, Dest, Operand};
use super::Driver;
use crate::beam::compact::Cursor;
use crate::error::{Error, Result};

// Compact term tags (low 3 bits), and their extended forms.
const TAG_LITERAL: u8 = 0;
const TAG_INTEGER: u8 = 1;
const TAG_ATOM: u8 = 2;
const TAG_XREG: u8 = 3;
const TAG_YREG: u8 = 4;
const TAG_LABEL: u8 = 5;
const LARGE_ATOM: u8 = 0xA;
const LARGE_XREG: u8 = 0xB;
const LARGE_YREG: u8 = 0xC;
const LARGE_INTEGER_11BITS: u8 = 0x09;
const LARGE_INTEGER_NBITS: u8 = 0x19;
pub(crate) const EXT_LIST: u8 = 0x17;
pub(crate) const EXT_FP_REGISTER: u8 = 0x27;
pub(crate) const EXT_ALLOCATION_LIST: u8 = 0x37;
pub(crate) const EXT_LITERAL: u8 = 0x47;
pub(crate) const EXT_TYPED_REGISTER: u8 = 0x57;
const ALLOCATOR_TAG_FLOATS: u64 = 1;
const ALLOCATOR_TAG_FUNS: u64 = 2;

/// The error of a cursor at the end of its bytes (what `Cursor::peek` and `Cursor::u8` give),
/// as the caller's whole result: the hot decoders read bytes through `Cursor::peek_byte` and
/// `Cursor::next_byte` (an `Option<u8>` in a register) and only this cold path builds an error.
#[cold]
#[inline(never)]
fn truncated<T>(cur: &Cursor) -> Result<T> {
    Err(Error::truncated(cur.file_offset(), 1, 0))
}

#[inline]
fn mismatch(cur: &Cursor, what: &'static str) -> Error {
    let byte = cur.peek().map(u64::from).unwrap_or(0);
    Error::unsupported(cur.file_offset(), what, byte)
}

/// `decode_value64`: the value of a compact term, whatever its tag (unsigned).
///
/// The long form reads `size + 2` bytes even for size 7, as the reference does; values that do
/// not fit 64 bits are rejected (the reference would carry a bignum into places that then fail).
#[inline]
pub fn decode_value64(cur: &mut Cursor) -> Result<u64> {
    let start = cur.file_offset();
    let b = cur.u8()?;
    if b & 0x08 == 0 {
        return Ok(u64::from(b >> 4));
    }
    if b & 0x10 == 0 {
        let next = cur.u8()?;
        return Ok((u64::from(b >> 5) << 8) | u64::from(next));
    }
    let len = usize::from(b >> 5) + 2;
    let bytes = cur.take(len)?;
    let mut value: u64 = 0;
    for &byte in bytes {
        if value >> 56 != 0 {
            return Err(Error::unsupported(
                start,
                "operand value wider than 64 bits",
                0,
            ));
        }
        value = (value << 8) | u64::from(byte);
    }
    Ok(value)
}

/// `decode_literal`: an untagged integer (tag 0).
#[inline]
pub fn decode_literal(cur: &mut Cursor) -> Result<u64> {
    if cur.peek()? & 0x07 != TAG_LITERAL {
        return Err(mismatch(cur, "operand tag, expected a literal"));
    }
    decode_value64(cur)
}

/// `decode_literal` where the value must also fit an `i64` (sizes, units, offsets).
#[inline]
pub fn decode_literal_i64(cur: &mut Cursor) -> Result<i64> {
    let at = cur.file_offset();
    let v = decode_literal(cur)?;
    i64::try_from(v).map_err(|_| Error::unsupported(at, "operand value", v))
}

/// `decode_literal` where the value must also fit a `u32` (counts, indexes, arities).
#[inline]
pub fn decode_literal_u32(cur: &mut Cursor) -> Result<u32> {
    let at = cur.file_offset();
    let v = decode_literal(cur)?;
    u32::try_from(v).map_err(|_| Error::unsupported(at, "literal operand too large", v))
}

/// `decode_label`.
#[inline]
pub fn decode_label(cur: &mut Cursor) -> Result<u32> {
    if cur.peek()? & 0x07 != TAG_LABEL {
        return Err(mismatch(cur, "operand tag, expected a label"));
    }
    let at = cur.file_offset();
    let v = decode_value64(cur)?;
    u32::try_from(v).map_err(|_| Error::unsupported(at, "label number too large", v))
}

/// `decode_atom`: an atom index (tag 2; index 0 is nil).
#[inline]
pub fn decode_atom(cur: &mut Cursor) -> Result<u32> {
    if cur.peek()? & 0x07 != TAG_ATOM {
        return Err(mismatch(cur, "operand tag, expected an atom"));
    }
    let at = cur.file_offset();
    let v = decode_value64(cur)?;
    u32::try_from(v).map_err(|_| Error::unsupported(at, "atom index too large", v))
}

/// `decode_nil`: exactly the byte for nil.
#[inline]
pub fn decode_nil(cur: &mut Cursor) -> Result<()> {
    if cur.peek()? != TAG_ATOM {
        return Err(mismatch(cur, "operand, expected nil"));
    }
    cur.u8()?;
    Ok(())
}

/// `decode_extended_list_header`: the length of an extended list.
#[inline]
pub fn decode_extended_list_header(cur: &mut Cursor) -> Result<u32> {
    if cur.peek()? != EXT_LIST {
        return Err(mismatch(cur, "operand, expected a list"));
    }
    cur.u8()?;
    decode_literal_u32(cur)
}

/// `decode_fp_register`: the index of `{fp_reg, N}`.
#[inline]
pub fn decode_fp_register(cur: &mut Cursor) -> Result<u32> {
    if cur.peek()? != EXT_FP_REGISTER {
        return Err(mismatch(cur, "operand, expected a float register"));
    }
    cur.u8()?;
    decode_literal_u32(cur)
}

/// `decode_allocator_list`: heap words needed, from a plain count or an allocation list.
pub fn decode_allocator_list<B: Backend>(_b: &mut B, cur: &mut Cursor) -> Result<u64> {
    if cur.peek()? != EXT_ALLOCATION_LIST {
        return decode_literal(cur);
    }
    cur.u8()?;
    let count = decode_literal(cur)?;
    let float_size: u64 = if B::WORD_SIZE == 4 {
        FLOAT_SIZE_32 as u64
    } else {
        FLOAT_SIZE_64 as u64
    };
    let mut need: u64 = 0;
    // Each entry takes at least two bytes, so `count` is bounded by the input's length.
    for _ in 0..count {
        let at = cur.file_offset();
        let tag = decode_literal(cur)?;
        let size = decode_literal(cur)?;
        let words = match tag {
            ALLOCATOR_TAG_FLOATS => size.checked_mul(float_size),
            ALLOCATOR_TAG_FUNS => size.checked_mul(BOXED_FUN_SIZE as u64),
            _ => Some(size),
        };
        need = words
            .and_then(|w| need.checked_add(w))
            .ok_or_else(|| Error::unsupported(at, "heap need overflows", size))?;
    }
    Ok(need)
}

/// `term_from_int/1`: the small integer term for `value`.
pub const fn term_from_int(value: i64) -> i64 {
    (value << 4) | TERM_INTEGER_TAG
}

/// `term_from_int/3` on a native register: tag it in place.
pub fn term_from_int_reg<B: Backend>(b: &mut B, reg: Reg) -> Reg {
    b.shift_left(Arg::keep(Val::Reg(reg)), 4);
    b.or_(Arg::keep(Val::Reg(reg)), Val::Imm(TERM_INTEGER_TAG));
    reg
}

/// `decode_dest`: a VM register; extended x registers cost a call to get their address.
pub fn decode_dest<B: Backend>(b: &mut B, cur: &mut Cursor) -> Result<Dest> {
    let Some(byte) = cur.peek_byte() else {
        return truncated(cur);
    };
    // One byte (index in the high nibble), or two (11-bit index).
    let large = match byte & 0x0F {
        TAG_XREG | TAG_YREG => false,
        LARGE_XREG | LARGE_YREG if byte & 0x10 == 0 => true,
        _ => return Err(mismatch(cur, "operand, expected a register")),
    };
    cur.next_byte();
    let mut index = u32::from(byte >> 4);
    if large {
        let Some(low) = cur.next_byte() else {
            return truncated(cur);
        };
        index = (u32::from(byte >> 5) << 8) | u32::from(low);
    }
    Ok(match byte & 0x0F {
        TAG_XREG => Dest::X(index),
        LARGE_XREG => read_any_xreg(b, index),
        // TAG_YREG, LARGE_YREG
        _ => Dest::Y(index),
    })
}

/// `read_any_xreg`: `{x_reg, N}`, or a pointer to an extended x register.
pub fn read_any_xreg<B: Backend>(b: &mut B, index: u32) -> Dest {
    if index < MAX_REG {
        Dest::X(index)
    } else {
        let reg = b.call_primitive(
            PRIM_EXTENDED_REGISTER_PTR,
            &[Arg::keep(Val::Ctx), Arg::keep(Val::Imm(i64::from(index)))],
        );
        Dest::Ptr(reg)
    }
}

/// `skip_compact_term`: step over an operand the instruction ignores.
pub fn skip_compact_term(cur: &mut Cursor) -> Result<()> {
    let byte = cur.peek()?;
    if byte & 0x0F == TAG_INTEGER {
        decode_value64(cur)?;
        return Ok(());
    }
    if byte & 0x1F == LARGE_INTEGER_11BITS {
        cur.take(2)?;
        return Ok(());
    }
    if byte & 0x1F == LARGE_INTEGER_NBITS {
        if byte >> 5 == 7 {
            // The reference's pattern for 9+ byte integers can never match: it crashes.
            return Err(Error::unsupported(
                cur.file_offset(),
                "skipping an integer of 9+ bytes",
                0,
            ));
        }
        cur.take(usize::from(byte >> 5) + 3)?;
        return Ok(());
    }
    if byte == TAG_ATOM {
        cur.u8()?;
        return Ok(());
    }
    if byte & 0x0F == TAG_ATOM || byte & 0x0F == LARGE_ATOM {
        decode_value64(cur)?;
        return Ok(());
    }
    if byte == EXT_LITERAL {
        cur.u8()?;
        decode_literal(cur)?;
        return Ok(());
    }
    if byte == EXT_TYPED_REGISTER {
        // The reference returns a tuple instead of the rest of the code here, and then crashes.
        return Err(Error::unsupported(
            cur.file_offset(),
            "skipping a typed register",
            0,
        ));
    }
    if byte & 0x07 == TAG_LABEL {
        decode_label(cur)?;
        return Ok(());
    }
    if byte & 0x07 == TAG_LITERAL {
        decode_value64(cur)?;
        return Ok(());
    }
    match byte & 0x0F {
        TAG_XREG | TAG_YREG => {
            cur.u8()?;
            Ok(())
        }
        LARGE_XREG | LARGE_YREG if byte & 0x10 == 0 => {
            cur.take(2)?;
            Ok(())
        }
        _ => Err(mismatch(cur, "operand that cannot be skipped")),
    }
}

/// `count_big_int_digits`: 32-bit digits of a magnitude given as big-endian bytes.
fn count_big_int_digits(magnitude_be: &[u8]) -> u32 {
    let significant = magnitude_be.iter().skip_while(|&&b| b == 0).count();
    significant.div_ceil(4) as u32
}

/// The 32-bit digits of a big-endian magnitude, least significant first, without leading zeros.
fn big_int_digits(magnitude_be: &[u8]) -> Result<Vec<u32>, crate::mem::AllocError> {
    let mut digits = crate::mem::try_with_capacity(magnitude_be.len() / 4 + 1, "big integer")?;
    let mut chunk_end = magnitude_be.len();
    while chunk_end > 0 {
        let chunk_start = chunk_end.saturating_sub(4);
        let digit = magnitude_be[chunk_start..chunk_end]
            .iter()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        digits.push(digit);
        chunk_end = chunk_start;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    Ok(digits)
}

/// `decode_compact_term_big_integer`: build a boxed bignum from big-endian two's complement bytes.
fn decode_compact_term_big_integer<B: Backend>(
    b: &mut B,
    bytes: &[u8],
) -> Result<Reg, crate::mem::AllocError> {
    let negative = bytes.first().is_some_and(|&b| b & 0x80 != 0);
    let sign = if negative {
        TERM_NEGATIVE_INTEGER
    } else {
        TERM_POSITIVE_INTEGER
    };
    // Magnitude: negate two's complement when negative.
    let mut magnitude: Vec<u8> = crate::mem::try_with_capacity(bytes.len(), "big integer")?;
    magnitude.extend_from_slice(bytes);
    if negative {
        let mut carry = true;
        for byte in magnitude.iter_mut().rev() {
            *byte = !*byte;
            if carry {
                let (v, c) = byte.overflowing_add(1);
                *byte = v;
                carry = c;
            }
        }
    }
    let len = count_big_int_digits(&magnitude);
    let digits = big_int_digits(&magnitude)?;
    let reg = b.call_primitive(
        PRIM_ALLOC_BIG_INTEGER_FRAGMENT,
        &[
            Arg::keep(Val::Ctx),
            Arg::keep(Val::Imm(i64::from(len))),
            Arg::keep(Val::Imm(sign)),
        ],
    );
    let reg = b.and_(Arg::free(Val::Reg(reg)), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    put_digits(b, &digits, reg);
    b.or_(Arg::keep(Val::Reg(reg)), Val::Imm(TERM_PRIMARY_BOXED));
    Ok(reg)
}

/// `put_digits`: store 32-bit digits from index 1 on (index 0 is the boxed header); on 64-bit
/// targets pairs of digits form one little-endian word.
fn put_digits<B: Backend>(b: &mut B, digits: &[u32], reg: Reg) {
    if B::WORD_SIZE == 4 {
        for (i, &digit) in digits.iter().enumerate() {
            b.move_to_array_element(Val::Imm(i64::from(digit)), reg, Val::Imm(i as i64 + 1));
        }
    } else {
        for (i, pair) in digits.chunks(2).enumerate() {
            let low = u64::from(pair[0]);
            let high = pair.get(1).map_or(0, |&h| u64::from(h));
            let word = (high << 32 | low) as i64;
            b.move_to_array_element(Val::Imm(word), reg, Val::Imm(i as i64 + 1));
        }
    }
}

/// `decode_compact_term_integer`: a small integer term, or a boxed one built at run time.
fn decode_compact_term_integer<B: Backend>(b: &mut B, value: i64) -> Operand {
    let fits_small = (INT32_MIN >> 4..=INT32_MAX >> 4).contains(&value);
    if fits_small || (B::WORD_SIZE == 8 && (INT64_MIN >> 4..=INT64_MAX >> 4).contains(&value)) {
        return Operand::Imm(term_from_int(value));
    }
    let reg = b.call_primitive(
        PRIM_ALLOC_BOXED_INTEGER_FRAGMENT,
        &[Arg::keep(Val::Ctx), Arg::keep(Val::Int64(value))],
    );
    Operand::Reg(reg)
}

/// `decode_compact_term_module_literal`.
fn decode_compact_term_module_literal<B: Backend>(b: &mut B, index: u64) -> Operand {
    let reg = b.call_primitive(
        PRIM_MODULE_LOAD_LITERAL,
        &[
            Arg::keep(Val::Ctx),
            Arg::keep(Val::JitState),
            Arg::keep(Val::Imm(index as i64)),
        ],
    );
    Operand::Reg(reg)
}

/// The value of a one-byte operand that [`Driver::decode_compact_term`] turns into a value without
/// emitting code: an x or y register below 16, a small integer 0..=15, or nil. `None` for every
/// other first byte (those take the general path). Lets the decoders that want a value skip the
/// general `Operand` (48 bytes, copied twice on the device) for the common operands.
#[inline]
fn short_val(byte: u8) -> Option<Val> {
    match byte & 0x0F {
        // The same tests, in the same order, as `decode_compact_term` for these bytes: an
        // integer with bit 3 clear is the value in the high nibble; x and y registers are none of
        // the earlier cases (their low nibble is neither 1, 2, 7, 9 nor 0xA, and their low 3 bits
        // are neither a label's nor a literal's) and reach `decode_dest`.
        TAG_INTEGER => Some(Val::Imm(term_from_int(i64::from(byte >> 4)))),
        TAG_XREG => Some(Val::X(u32::from(byte >> 4))),
        TAG_YREG => Some(Val::Y(u32::from(byte >> 4))),
        _ if byte == TAG_ATOM => Some(Val::Imm(TERM_NIL)),
        _ => None,
    }
}

/// Signed big-endian integer of 2..=8 bytes.
fn signed_be(bytes: &[u8]) -> i64 {
    let unsigned = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let bits = bytes.len() * 8;
    if bits >= 64 {
        unsigned as i64
    } else {
        ((unsigned << (64 - bits)) as i64) >> (64 - bits)
    }
}

/// `decode_flags_list0`: bitstring flags from a list of atom names known at compile time.
pub fn decode_flags_list0<'a>(atoms: impl IntoIterator<Item = &'a [u8]>) -> Result<i64> {
    let mut flags = 0;
    for atom in atoms {
        flags |= match atom {
            b"little" => BITSTRING_FLAG_LITTLE_ENDIAN,
            b"signed" => BITSTRING_FLAG_SIGNED,
            b"native" => BITSTRING_FLAG_NATIVE_ENDIAN,
            _ => return Err(Error::unsupported(0, "bitstring flag", 0)),
        };
    }
    Ok(flags)
}

/// `decode_flags_list` when the flags are only known at run time: decode them with a call, and
/// raise if they are invalid.
pub fn decode_flags_list_runtime<B: Backend>(b: &mut B, flags: Arg) -> Reg {
    let value = b.call_primitive(
        PRIM_DECODE_FLAGS_LIST,
        &[Arg::keep(Val::Ctx), Arg::keep(Val::JitState), flags],
    );
    b.if_block(
        Cond::Cmp {
            cast: Cast::Word,
            lhs: Arg::keep(Val::Reg(value)),
            op: CmpOp::Lt,
            rhs: Arg::keep(Val::Imm(0)),
        },
        |b| {
            b.call_primitive_last(
                PRIM_HANDLE_ERROR,
                &[
                    Arg::keep(Val::Ctx),
                    Arg::keep(Val::JitState),
                    Arg::keep(Val::Offset),
                ],
            )
        },
    );
    value
}

impl<'m, B: Backend, E: ModuleEnv> Driver<'m, B, E> {
    /// `decode_compact_term`: an operand as a value; may emit code to materialise it.
    pub fn decode_compact_term(&mut self, cur: &mut Cursor) -> Result<Operand> {
        let byte = cur.peek()?;
        if byte & 0x0F == TAG_INTEGER {
            let v = decode_value64(cur)?;
            return Ok(Operand::Imm(term_from_int(v as i64)));
        }
        if byte & 0x1F == LARGE_INTEGER_11BITS {
            cur.u8()?;
            let next = cur.u8()?;
            let v = (i64::from(byte >> 5) << 8) | i64::from(next);
            return Ok(Operand::Imm(term_from_int(v)));
        }
        if byte & 0x1F == LARGE_INTEGER_NBITS {
            cur.u8()?;
            if byte >> 5 == 7 {
                let at = cur.file_offset();
                let len = decode_literal(cur)?;
                let len = usize::try_from(len)
                    .ok()
                    .and_then(|l| l.checked_add(9))
                    .ok_or_else(|| Error::unsupported(at, "integer length", len))?;
                let bytes = cur.take(len)?;
                let reg = decode_compact_term_big_integer(&mut self.b, bytes)
                    .map_err(|e| Error::out_of_memory(e, Some(at)))?;
                return Ok(Operand::Reg(reg));
            }
            let bytes = cur.take(usize::from(byte >> 5) + 2)?;
            return Ok(decode_compact_term_integer(&mut self.b, signed_be(bytes)));
        }
        if byte == TAG_ATOM {
            cur.u8()?;
            return Ok(Operand::Imm(TERM_NIL));
        }
        if byte & 0x0F == TAG_ATOM || byte & 0x0F == LARGE_ATOM {
            let at = cur.file_offset();
            let index = decode_value64(cur)?;
            let index =
                u32::try_from(index).map_err(|_| Error::unsupported(at, "atom index", index))?;
            return self.decode_compact_term_atom(index, at);
        }
        if byte == EXT_LITERAL {
            cur.u8()?;
            let index = decode_literal(cur)?;
            return Ok(decode_compact_term_module_literal(&mut self.b, index));
        }
        if byte == EXT_TYPED_REGISTER {
            cur.u8()?;
            let dest = decode_dest(&mut self.b, cur)?;
            decode_literal(cur)?;
            return Ok(dest.into());
        }
        if byte & 0x07 == TAG_LABEL {
            return Ok(Operand::Label(decode_label(cur)?));
        }
        if byte & 0x07 == TAG_LITERAL {
            return Ok(Operand::Literal(decode_value64(cur)?));
        }
        Ok(decode_dest(&mut self.b, cur)?.into())
    }

    /// `decode_typed_compact_term`: like `decode_compact_term`, keeping a typed register's type.
    pub fn decode_typed_compact_term(&mut self, cur: &mut Cursor) -> Result<Operand> {
        if cur.peek()? != EXT_TYPED_REGISTER {
            return self.decode_compact_term(cur);
        }
        cur.u8()?;
        let dest = decode_dest(&mut self.b, cur)?;
        let at = cur.file_offset();
        let index = decode_literal(cur)?;
        let index =
            u32::try_from(index).map_err(|_| Error::unsupported(at, "type index", index))?;
        Ok(Operand::Typed(dest, self.env.jit_type(index)))
    }

    /// `decode_compact_term` as a value. On the device, one out-of-line copy of the operand
    /// move and its error path instead of one at each of the ~50 call sites of the three
    /// (-3.4 KB of loader); always inlined on the host, as the expression it replaces was.
    #[cfg_attr(target_os = "none", inline(never))]
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(crate) fn decode_val(&mut self, cur: &mut Cursor) -> Result<Val> {
        let Some(byte) = cur.peek_byte() else {
            return truncated(cur);
        };
        match short_val(byte) {
            Some(v) => {
                cur.next_byte();
                Ok(v)
            }
            None => self.decode_compact_term(cur)?.val(),
        }
    }

    /// `decode_compact_term` as an argument the callee frees (see [`Self::decode_val`]).
    #[cfg_attr(target_os = "none", inline(never))]
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(crate) fn decode_free(&mut self, cur: &mut Cursor) -> Result<Arg> {
        Ok(Arg::free(self.decode_val(cur)?))
    }

    /// `decode_compact_term` as an argument the callee keeps (see [`Self::decode_val`]).
    #[cfg_attr(target_os = "none", inline(never))]
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(crate) fn decode_keep(&mut self, cur: &mut Cursor) -> Result<Arg> {
        Ok(Arg::keep(self.decode_val(cur)?))
    }

    /// `decode_compact_term_atom`: a default atom is an immediate; any other is looked up at
    /// run time.
    fn decode_compact_term_atom(&mut self, index: u32, at: usize) -> Result<Operand> {
        let name = self.atom_name(index, at)?;
        if let Some(term) = default_atom_index(name) {
            return Ok(Operand::Imm(i64::from(term)));
        }
        let reg = self.b.call_primitive(
            PRIM_MODULE_GET_ATOM_TERM_BY_ID,
            &[
                Arg::keep(Val::JitState),
                Arg::keep(Val::Imm(i64::from(index))),
            ],
        );
        Ok(Operand::Reg(reg))
    }

    /// The text of atom `index`, or an error at `at` when the module has no such atom.
    pub fn atom_name(&self, index: u32, at: usize) -> Result<&'m [u8]> {
        self.env
            .atom(index)
            .ok_or_else(|| Error::invalid(at, "atom index", u64::from(index)))
    }

    /// `decode_atom_or_label`: an atom (by name) or a label.
    pub fn decode_atom_or_label(&self, cur: &mut Cursor) -> Result<AtomOrLabel<'m>> {
        if cur.peek()? & 0x07 == TAG_ATOM {
            let at = cur.file_offset();
            let index = decode_atom(cur)?;
            return Ok(AtomOrLabel::Atom(self.atom_name(index, at)?));
        }
        Ok(AtomOrLabel::Label(decode_label(cur)?))
    }

    /// `decode_compile_time_literal`: nil, or the bytes of a literal from the literal table.
    pub fn decode_compile_time_literal(&self, cur: &mut Cursor) -> Result<CompileTimeLiteral<'m>> {
        let byte = cur.peek()?;
        if byte == TAG_ATOM {
            cur.u8()?;
            return Ok(CompileTimeLiteral::Nil);
        }
        if byte != EXT_LITERAL {
            return Err(mismatch(cur, "operand, expected a compile-time literal"));
        }
        cur.u8()?;
        let at = cur.file_offset();
        let index = decode_literal(cur)?;
        let index =
            u32::try_from(index).map_err(|_| Error::unsupported(at, "literal index", index))?;
        let bytes = self
            .env
            .literal(index)
            .ok_or_else(|| Error::invalid(at, "literal index", u64::from(index)))?;
        Ok(CompileTimeLiteral::Term(bytes))
    }
}

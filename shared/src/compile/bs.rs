//! Bit syntax: the segment passes of `bs_create_bin`, the commands of `bs_match`, the shared
//! tail extraction, and the fusion of `is_tuple` + `test_arity` + `get_tuple_element`s.
//!
//! As everywhere in the driver, each function issues the reference's backend calls in the
//! reference's order; register lifetimes (what is freed when) are part of the output.

use alloc::vec::Vec;

use super::backend::{Arg, Backend, CmpOp, Reg, Val};
use super::common::{
    cmp, cond_jump_to_label, freed, handle_error_if, imm, is_false, kept, masked, term_binary_size,
    CTX, JIT_STATE, OFFSET,
};
use super::consts::*;
use super::decode::{
    decode_atom, decode_dest, decode_flags_list0, decode_flags_list_runtime, decode_label,
    decode_literal, decode_literal_i64, decode_nil,
};
use super::env::ModuleEnv;
use super::helpers::{
    cond_raise_badarg, cond_raise_badarg_or_jump_to_fail_label, if_test_try,
    memory_ensure_free_with_extra_root, term_to_int, unsupported, verify_is_any_integer,
    verify_is_binary, verify_is_integer, verify_is_number,
};
use super::operand::{CompileTimeLiteral, Dest, Operand};
use super::Driver;
use crate::beam::compact::Cursor;
use crate::beam::etf;
use crate::beam::opcodes;
use crate::error::{Error, Result};

/// The type of a `bs_create_bin` segment (its atom).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SegmentType {
    Integer,
    Utf8,
    Utf16,
    Utf32,
    Float,
    String,
    Binary,
    Append,
    PrivateAppend,
    /// Any other atom: no size, nothing inserted.
    Other,
}

impl SegmentType {
    pub(crate) fn from_name(name: &[u8]) -> Self {
        match name {
            b"integer" => SegmentType::Integer,
            b"utf8" => SegmentType::Utf8,
            b"utf16" => SegmentType::Utf16,
            b"utf32" => SegmentType::Utf32,
            b"float" => SegmentType::Float,
            b"string" => SegmentType::String,
            b"binary" => SegmentType::Binary,
            b"append" => SegmentType::Append,
            b"private_append" => SegmentType::PrivateAppend,
            _ => SegmentType::Other,
        }
    }

    fn is_binary_like(self) -> bool {
        matches!(
            self,
            SegmentType::Binary | SegmentType::Append | SegmentType::PrivateAppend
        )
    }
}

/// The binary being built by `bs_create_bin`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CreatedBin {
    Reg(Reg),
    /// Not created yet: the first segment appends to its source, reusing it (the total size in
    /// bytes is known, as an immediate or a register).
    PrivateAppend(Val),
}

impl CreatedBin {
    fn arg(self) -> Result<Arg> {
        match self {
            CreatedBin::Reg(reg) => Ok(kept(reg)),
            CreatedBin::PrivateAppend(_) => {
                Err(unsupported("binary reused after its first segment"))
            }
        }
    }
}

#[cfg_attr(target_os = "none", inline(never))]
fn checked_mul(a: i64, b: i64) -> Result<i64> {
    a.checked_mul(b)
        .ok_or_else(|| unsupported("bit size overflows"))
}

#[cfg_attr(target_os = "none", inline(never))]
fn checked_add(a: i64, b: i64) -> Result<i64> {
    a.checked_add(b)
        .ok_or_else(|| unsupported("bit size overflows"))
}

fn to_i64(v: u64, at: usize) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::unsupported(at, "operand value", v))
}

/// Add a size held in `reg` to the accumulated run-time size (or make it the accumulator).
fn accumulate_size_reg<B: Backend>(
    b: &mut B,
    acc_literal_size: i64,
    acc_size_reg: Option<Reg>,
    reg: Reg,
) -> (i64, Option<Reg>) {
    match acc_size_reg {
        None => (acc_literal_size, Some(reg)),
        Some(acc) => {
            b.add(kept(acc), Val::Reg(reg));
            b.free_native_registers(&[Val::Reg(reg)]);
            (acc_literal_size, Some(acc))
        }
    }
}

/// Raise badarg, or jump to `fail`, unconditionally (a size known to be invalid).
fn raise_badarg_or_jump<B: Backend>(b: &mut B, fail: u32) {
    if fail == 0 {
        b.call_primitive_last(
            PRIM_RAISE_ERROR,
            &[CTX, JIT_STATE, OFFSET, imm(BADARG_ATOM)],
        );
    } else {
        b.jump_to_label(fail);
    }
}

/// First pass of `bs_create_bin` over one segment: check the value's type and add the segment's
/// size in bits to the sizes known at compile time (`acc_literal_size`) or at run time
/// (`acc_size_reg`).
#[allow(clippy::too_many_arguments)]
#[cfg_attr(target_os = "none", inline(never))]
pub(crate) fn first_pass_bs_create_bin_compute_size<B: Backend>(
    b: &mut B,
    atom_type: SegmentType,
    src: Operand,
    size: Operand,
    segment_unit: i64,
    fail: u32,
    acc_literal_size: i64,
    acc_size_reg: Option<Reg>,
) -> Result<(i64, Option<Reg>)> {
    match atom_type {
        SegmentType::Utf8 | SegmentType::Utf16 => {
            let src_value = term_to_int(b, src, fail)?;
            let primitive = if atom_type == SegmentType::Utf8 {
                PRIM_BITSTRING_UTF8_SIZE
            } else {
                PRIM_BITSTRING_UTF16_SIZE
            };
            let result = b.call_primitive(primitive, &[Arg::free(src_value)]);
            cond_raise_badarg_or_jump_to_fail_label(b, cmp(kept(result), CmpOp::Eq, imm(0)), fail);
            b.shift_left(kept(result), 3);
            Ok(accumulate_size_reg(
                b,
                acc_literal_size,
                acc_size_reg,
                result,
            ))
        }
        SegmentType::Utf32 => {
            verify_is_integer(b, src.val()?, fail);
            Ok((checked_add(acc_literal_size, 32)?, acc_size_reg))
        }
        SegmentType::Float => {
            verify_is_number(b, src.val()?, fail);
            match term_to_int(b, size, fail)? {
                Val::Imm(v) => Ok((checked_add(acc_literal_size, v)?, acc_size_reg)),
                Val::Reg(reg) => {
                    let conds = [
                        cmp(kept(reg), CmpOp::Ne, imm(16)),
                        cmp(kept(reg), CmpOp::Ne, imm(32)),
                        cmp(kept(reg), CmpOp::Ne, imm(64)),
                    ];
                    cond_raise_badarg_or_jump_to_fail_label(b, &conds[..], fail);
                    Ok(accumulate_size_reg(b, acc_literal_size, acc_size_reg, reg))
                }
                _ => Err(unsupported("float segment size")),
            }
        }
        SegmentType::Integer => {
            verify_is_any_integer(b, Arg::keep(src.val()?), fail);
            verify_is_integer(b, size.val()?, fail);
            match term_to_int(b, size, 0)? {
                Val::Imm(v) => {
                    if v <= 0 {
                        raise_badarg_or_jump(b, fail);
                    }
                    let bits = checked_mul(v, segment_unit)?;
                    Ok((checked_add(acc_literal_size, bits)?, acc_size_reg))
                }
                Val::Reg(reg) => {
                    cond_raise_badarg_or_jump_to_fail_label(
                        b,
                        cmp(kept(reg), CmpOp::Lt, imm(0)),
                        fail,
                    );
                    b.mul(kept(reg), Val::Imm(segment_unit));
                    Ok(accumulate_size_reg(b, acc_literal_size, acc_size_reg, reg))
                }
                _ => Err(unsupported("integer segment size")),
            }
        }
        SegmentType::String => {
            verify_is_integer(b, size.val()?, fail);
            let Val::Imm(v) = term_to_int(b, size, 0)? else {
                return Err(unsupported("string segment size"));
            };
            if v <= 0 {
                raise_badarg_or_jump(b, fail);
            }
            let bits = checked_mul(v, segment_unit)?;
            Ok((checked_add(acc_literal_size, bits)?, acc_size_reg))
        }
        _ if atom_type.is_binary_like() => compute_binary_size(
            b,
            src,
            size,
            segment_unit,
            fail,
            acc_literal_size,
            acc_size_reg,
        ),
        // The reference has no size rule for other segment types.
        _ => Err(unsupported("bs_create_bin segment type")),
    }
}

/// The binary, append and private_append cases of the size pass.
fn compute_binary_size<B: Backend>(
    b: &mut B,
    src: Operand,
    size: Operand,
    segment_unit: i64,
    fail: u32,
    acc_literal_size: i64,
    acc_size_reg: Option<Reg>,
) -> Result<(i64, Option<Reg>)> {
    let src_val = src.val()?;
    if size == Operand::Imm(ALL_ATOM) {
        // The whole binary: its byte size, in bits.
        verify_is_binary(b, src_val, fail);
        let reg = binary_bit_size(b, src_val);
        return Ok(accumulate_size_reg(b, acc_literal_size, acc_size_reg, reg));
    }
    if let Operand::Imm(v) = size {
        if v > 0 {
            verify_is_binary(b, src_val, fail);
            let Val::Imm(size_value) = term_to_int(b, size, 0)? else {
                return Err(unsupported("binary segment size"));
            };
            let bits = checked_mul(size_value, segment_unit)?;
            return Ok((checked_add(acc_literal_size, bits)?, acc_size_reg));
        }
    }
    // Size only known at run time, and maybe `all`: start from the binary's whole size.
    verify_is_binary(b, src_val, fail);
    let size_term = b.copy_to_native_register(size.val()?);
    let reg = binary_bit_size(b, src_val);
    if_test_try(b, cmp(freed(size_term), CmpOp::Ne, imm(ALL_ATOM)), |b| {
        let size_reg = term_to_int(b, size, fail)?;
        cond_raise_badarg_or_jump_to_fail_label(
            b,
            cmp(Arg::keep(size_reg), CmpOp::Lt, imm(0)),
            fail,
        );
        b.mul(Arg::keep(size_reg), Val::Imm(segment_unit));
        cond_raise_badarg_or_jump_to_fail_label(
            b,
            cmp(kept(reg), CmpOp::Lt, Arg::keep(size_reg)),
            fail,
        );
        b.move_to_native_register_to(size_reg, reg);
        b.free_native_registers(&[size_reg]);
        Ok(())
    })?;
    Ok(accumulate_size_reg(b, acc_literal_size, acc_size_reg, reg))
}

/// The size in bits of the binary `src` (left where it is), in a new register.
fn binary_bit_size<B: Backend>(b: &mut B, src: Val) -> Reg {
    let reg = b.copy_to_native_register(src);
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(kept(reg), Val::Imm(1), Val::Reg(reg));
    b.shift_left(kept(reg), 3);
    reg
}

/// Second pass of `bs_create_bin` over one segment: write the value at `offset` (in bits) of
/// the binary; returns the new offset and the binary (created here when reused).
#[allow(clippy::too_many_arguments)]
#[cfg_attr(target_os = "none", inline(never))]
pub(crate) fn first_pass_bs_create_bin_insert_value<B: Backend>(
    b: &mut B,
    atom_type: SegmentType,
    flags: Operand,
    src: Operand,
    size: Operand,
    segment_unit: i64,
    fail: u32,
    created_bin: CreatedBin,
    offset: Val,
) -> Result<(Val, CreatedBin)> {
    // Flags operands are terms here (nil or a loaded literal), so they are decoded at run time.
    let run_time_flags =
        |b: &mut B| -> Result<Reg> { Ok(decode_flags_list_runtime(b, Arg::keep(flags.val()?))) };
    match (atom_type, created_bin) {
        (SegmentType::Utf8, _) => {
            let src_value = term_to_int(b, src, fail)?;
            let size = b.call_primitive(
                PRIM_BITSTRING_INSERT_UTF8,
                &[created_bin.arg()?, Arg::keep(offset), Arg::free(src_value)],
            );
            let offset = increment_offset(b, offset, Val::Reg(size), 8)?;
            Ok((offset, created_bin))
        }
        (SegmentType::Utf16, _) => {
            let flags_value = run_time_flags(b)?;
            let src_value = term_to_int(b, src, fail)?;
            let size = b.call_primitive(
                PRIM_BITSTRING_INSERT_UTF16,
                &[
                    created_bin.arg()?,
                    Arg::keep(offset),
                    Arg::free(src_value),
                    freed(flags_value),
                ],
            );
            let offset = increment_offset(b, offset, Val::Reg(size), 8)?;
            Ok((offset, created_bin))
        }
        (SegmentType::Utf32, _) => {
            let flags_value = run_time_flags(b)?;
            let src_value = term_to_int(b, src, fail)?;
            let ok = b.call_primitive(
                PRIM_BITSTRING_INSERT_UTF32,
                &[
                    created_bin.arg()?,
                    Arg::keep(offset),
                    Arg::free(src_value),
                    freed(flags_value),
                ],
            );
            cond_raise_badarg_or_jump_to_fail_label(b, is_false(freed(ok)), fail);
            let offset = increment_offset(b, offset, Val::Imm(4), 8)?;
            Ok((offset, created_bin))
        }
        (SegmentType::Integer, _) => {
            // term_to_int may need a register to raise badarg: it goes first.
            let size_value = term_to_int(b, size, fail)?;
            // The primitive does not take ctx, so the value must be in a register now.
            let src_reg = b.move_to_native_register(src.val()?);
            let flags_value = run_time_flags(b)?;
            b.mul(Arg::keep(size_value), Val::Imm(segment_unit));
            let at = (offset, created_bin);
            let primitive = PRIM_BITSTRING_INSERT_INTEGER;
            insert_sized(b, primitive, src_reg, size_value, flags_value, at, fail)
        }
        (SegmentType::Float, _) => {
            let src_reg = b.move_to_native_register(src.val()?);
            let flags_value = run_time_flags(b)?;
            let size_value = term_to_int(b, size, fail)?;
            let at = (offset, created_bin);
            let primitive = PRIM_BITSTRING_INSERT_FLOAT;
            insert_sized(b, primitive, src_reg, size_value, flags_value, at, fail)
        }
        (SegmentType::String, _) => {
            let src_value = term_to_int(b, src, fail)?;
            let Val::Imm(size_value) = term_to_int(b, size, fail)? else {
                return Err(unsupported("string segment size"));
            };
            let bit_size = checked_mul(size_value, segment_unit)?;
            let void = b.call_primitive(
                PRIM_BITSTRING_COPY_MODULE_STR,
                &[
                    CTX,
                    JIT_STATE,
                    created_bin.arg()?,
                    Arg::keep(offset),
                    Arg::free(src_value),
                    imm(bit_size),
                ],
            );
            b.free_native_registers(&[Val::Reg(void)]);
            let offset = increment_offset(b, offset, Val::Imm(bit_size), 1)?;
            Ok((offset, created_bin))
        }
        (SegmentType::PrivateAppend, CreatedBin::PrivateAppend(total_bytes)) => {
            // The source's contents stay in place: only the offset moves past them.
            let original_size = term_binary_size(b, Arg::keep(src.val()?));
            let bin = b.call_primitive(
                PRIM_TERM_REUSE_BINARY,
                &[CTX, src.free()?, Arg::free(total_bytes)],
            );
            b.if_block(cmp(kept(bin), CmpOp::Eq, imm(TERM_INVALID_TERM)), |b| {
                b.call_primitive_last(
                    PRIM_RAISE_ERROR,
                    &[CTX, JIT_STATE, OFFSET, imm(OUT_OF_MEMORY_ATOM)],
                )
            });
            b.shift_left(kept(original_size), 3);
            let offset = increment_offset(b, offset, Val::Reg(original_size), 1)?;
            Ok((offset, CreatedBin::Reg(bin)))
        }
        _ if atom_type.is_binary_like() => {
            let size_in_bits = match size {
                Operand::Imm(v) if v & 0xF == TERM_INTEGER_TAG => {
                    imm(checked_mul(segment_unit, v >> 4)? << 4 | TERM_INTEGER_TAG)
                }
                Operand::Imm(ALL_ATOM) => imm(ALL_ATOM),
                _ if segment_unit == 1 => {
                    let size_reg = b.move_to_native_register(size.val()?);
                    cond_raise_badarg_or_jump_to_fail_label(
                        b,
                        masked(
                            kept(size_reg),
                            TERM_IMMED_TAG_MASK,
                            CmpOp::Ne,
                            TERM_INTEGER_TAG,
                        ),
                        fail,
                    );
                    freed(size_reg)
                }
                _ => {
                    let size_value = term_to_int(b, size, fail)?;
                    b.mul(Arg::keep(size_value), Val::Imm(segment_unit));
                    match size_value {
                        Val::Reg(reg) => {
                            b.shift_left(kept(reg), 4);
                            b.or_(kept(reg), Val::Imm(TERM_INTEGER_TAG));
                            freed(reg)
                        }
                        Val::Imm(v) => imm(checked_mul(v, 16)? | TERM_INTEGER_TAG),
                        _ => return Err(unsupported("binary segment size")),
                    }
                }
            };
            let size_value = b.call_primitive(
                PRIM_BITSTRING_COPY_BINARY,
                &[
                    CTX,
                    JIT_STATE,
                    created_bin.arg()?,
                    Arg::keep(offset),
                    src.keep()?,
                    size_in_bits,
                ],
            );
            b.if_block(cmp(kept(size_value), CmpOp::Lt, imm(0)), |b| {
                b.call_primitive_last(PRIM_HANDLE_ERROR, &[CTX, JIT_STATE, OFFSET])
            });
            let offset = increment_offset(b, offset, Val::Reg(size_value), 1)?;
            Ok((offset, created_bin))
        }
        _ => Ok((offset, created_bin)),
    }
}

/// Insert an integer or float segment at `(offset, created_bin)`: `primitive(bin, offset, src,
/// size in bits, flags)` (`src` and `flags` freed), badarg or `fail` on error, then move the
/// offset past it.
fn insert_sized<B: Backend>(
    b: &mut B,
    primitive: u32,
    src_reg: Reg,
    size_value: Val,
    flags_value: Reg,
    (offset, created_bin): (Val, CreatedBin),
    fail: u32,
) -> Result<(Val, CreatedBin)> {
    let ok = b.call_primitive(
        primitive,
        &[
            created_bin.arg()?,
            Arg::keep(offset),
            freed(src_reg),
            Arg::keep(size_value),
            freed(flags_value),
        ],
    );
    cond_raise_badarg_or_jump_to_fail_label(b, is_false(freed(ok)), fail);
    let offset = increment_offset(b, offset, size_value, 1)?;
    Ok((offset, created_bin))
}

/// `first_pass_bs_create_bin_insert_value_increment_offset`: `offset + size * unit` (unit is 1
/// or 8), folded when both are known, else computed in whichever register can be reused.
pub(crate) fn increment_offset<B: Backend>(
    b: &mut B,
    offset: Val,
    size: Val,
    unit: i64,
) -> Result<Val> {
    match (offset, size) {
        (Val::Imm(o), Val::Imm(s)) => Ok(Val::Imm(checked_add(o, checked_mul(s, unit)?)?)),
        (Val::Imm(0), Val::Reg(reg)) if unit == 8 => {
            b.shift_left(kept(reg), 3);
            Ok(size)
        }
        (Val::Imm(0), _) if unit == 1 => Ok(size),
        (Val::Imm(o), Val::Reg(reg)) if unit == 8 => {
            b.shift_left(kept(reg), 3);
            b.add(kept(reg), Val::Imm(o));
            Ok(size)
        }
        (Val::Imm(o), _) if unit == 1 => {
            b.add(Arg::keep(size), Val::Imm(o));
            Ok(size)
        }
        (_, Val::Imm(s)) => {
            b.add(Arg::keep(offset), Val::Imm(checked_mul(s, unit)?));
            Ok(offset)
        }
        (_, Val::Reg(reg)) if unit == 8 => {
            b.shift_left(kept(reg), 3);
            b.add(Arg::keep(offset), size);
            b.free_native_registers(&[size]);
            Ok(offset)
        }
        _ if unit == 1 => {
            b.add(Arg::keep(offset), size);
            b.free_native_registers(&[size]);
            Ok(offset)
        }
        _ => Err(unsupported("bit offset increment")),
    }
}

/// The tail of a match context as a sub-binary; returns it and where the match state is after
/// the allocation (it may move). `bs_offset` is in bits and must be byte-aligned.
pub(crate) fn do_get_tail<B: Backend>(
    b: &mut B,
    match_state: Val,
    live: u32,
    bs_offset: Reg,
    bs_binary: Reg,
) -> Result<(Reg, Val)> {
    cond_raise_badarg(b, masked(kept(bs_offset), 0b111, CmpOp::Ne, 0));
    let offset_bytes = b.shift_right(kept(bs_offset), 3);
    let tail_bytes0 = b.get_array_element(kept(bs_binary), 1);
    b.sub(kept(tail_bytes0), Val::Reg(offset_bytes));
    let heap_size = b.call_primitive(
        PRIM_TERM_SUB_BINARY_HEAP_SIZE,
        &[kept(bs_binary), freed(tail_bytes0)],
    );
    let new_match_state =
        memory_ensure_free_with_extra_root(b, match_state, live, freed(heap_size))?;
    reload_bs_binary(b, new_match_state, bs_binary);
    b.and_(freed(bs_binary), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    let tail_bytes1 = b.get_array_element(kept(bs_binary), 1);
    b.sub(kept(tail_bytes1), Val::Reg(offset_bytes));
    b.add(kept(bs_binary), Val::Imm(TERM_PRIMARY_BOXED));
    let result = b.call_primitive(
        PRIM_TERM_MAYBE_CREATE_SUB_BINARY,
        &[
            CTX,
            kept(bs_binary),
            freed(offset_bytes),
            freed(tail_bytes1),
        ],
    );
    Ok((result, new_match_state))
}

/// The binary may have moved with a GC: reload it into `bs_binary` from the match state.
fn reload_bs_binary<B: Backend>(b: &mut B, match_state: Val, bs_binary: Reg) {
    let ms = b.copy_to_native_register(match_state);
    let ms = b.and_(freed(ms), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(
        kept(ms),
        Val::Imm(MATCH_STATE_BINARY_INDEX.into()),
        Val::Reg(bs_binary),
    );
    b.free_native_registers(&[Val::Reg(ms)]);
}

/// Read `bits` bits at the offset as an integer term: raise on a run-time error, jump to `fail`
/// when the binary is too short.
fn extract_integer<B: Backend>(b: &mut B, pos: MatchPos, bits: i64, flags: Arg, fail: u32) -> Reg {
    let result = b.call_primitive(
        PRIM_BITSTRING_EXTRACT_INTEGER,
        &[
            CTX,
            JIT_STATE,
            kept(pos.bs_binary),
            kept(pos.bs_offset),
            imm(bits),
            flags,
        ],
    );
    handle_error_if(b, cmp(kept(result), CmpOp::Eq, imm(0)));
    cond_jump_to_label(b, cmp(kept(result), CmpOp::Eq, imm(FALSE_ATOM)), fail);
    result
}

/// Where a `bs_match` command starts: the match state term, the untagged binary and the offset
/// in bits.
#[derive(Clone, Copy)]
struct MatchPos {
    match_state: Reg,
    bs_binary: Reg,
    bs_offset: Reg,
}

/// The state a `bs_match` command leaves: commands left, match state and offset registers.
type MatchStep = (i64, Reg, Reg);

fn reg_of(val: Val) -> Result<Reg> {
    match val {
        Val::Reg(reg) => Ok(reg),
        _ => Err(unsupported("match state not in a register")),
    }
}

/// An operand that decodes without emitting code and may equal a register or immediate operand
/// decoded before: x/y registers (not extended), typed registers, small integers and nil.
/// Anything else is `None`: decoding it either emits code, giving a fresh register that cannot
/// equal an earlier operand, or (atoms, wide integers) never names the tuple a `test_arity` or
/// `get_tuple_element` reads in compiled code.
fn decode_plain_operand(cur: &mut Cursor) -> Result<Option<Operand>> {
    const TYPED_REGISTER: u8 = 0x57;
    let byte = cur.peek()?;
    if byte == TYPED_REGISTER {
        cur.u8()?;
        let dest = decode_plain_register(cur)?;
        decode_literal(cur)?;
        return Ok(dest.map(Operand::from));
    }
    match byte & 0x0F {
        0x1 => {
            cur.u8()?;
            Ok(Some(Operand::Imm(
                (i64::from(byte >> 4) << 4) | TERM_INTEGER_TAG,
            )))
        }
        0x2 if byte == 0x2 => {
            cur.u8()?;
            Ok(Some(Operand::Imm(TERM_NIL)))
        }
        _ => Ok(decode_plain_register(cur)?.map(Operand::from)),
    }
}

/// A register operand that needs no code to address (not an extended x register).
fn decode_plain_register(cur: &mut Cursor) -> Result<Option<Dest>> {
    let byte = cur.peek()?;
    let large_index = |cur: &mut Cursor| -> Result<u32> {
        cur.u8()?;
        Ok((u32::from(byte >> 5) << 8) | u32::from(cur.u8()?))
    };
    match byte & 0x0F {
        0x3 => {
            cur.u8()?;
            Ok(Some(Dest::X(u32::from(byte >> 4))))
        }
        0x4 => {
            cur.u8()?;
            Ok(Some(Dest::Y(u32::from(byte >> 4))))
        }
        0xB if byte & 0x10 == 0 => {
            let index = large_index(cur)?;
            Ok((index < MAX_REG).then_some(Dest::X(index)))
        }
        0xC if byte & 0x10 == 0 => Ok(Some(Dest::Y(large_index(cur)?))),
        _ => Ok(None),
    }
}

impl<'m, B: Backend, E: ModuleEnv> Driver<'m, B, E> {
    /// The commands of `bs_match`, `count` list items long. `match_state` holds the match
    /// state term, `bs_binary` the untagged binary and `bs_offset` the offset in bits; the offset
    /// is written back after each command. Returns the final match state and offset registers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn first_pass_bs_match(
        &mut self,
        fail: u32,
        match_state: Reg,
        bs_binary: Reg,
        bs_offset: Reg,
        count: u32,
        cur: &mut Cursor,
    ) -> Result<(Reg, Reg)> {
        let (mut j, mut match_state, mut bs_offset) = (i64::from(count), match_state, bs_offset);
        // Each command consumes input, so this ends (on an error at worst).
        while j != 0 {
            let at = cur.file_offset();
            let command = self.atom_name(decode_atom(cur)?, at)?;
            let pos = MatchPos {
                match_state,
                bs_binary,
                bs_offset,
            };
            let j1 = j - 1;
            let (j2, new_match_state, new_offset) = match command {
                b"ensure_at_least" => {
                    self.first_pass_bs_match_ensure_at_least(fail, pos, j1, cur)?
                }
                b"ensure_exactly" => self.first_pass_bs_match_ensure_exactly(fail, pos, j1, cur)?,
                b"integer" => self.first_pass_bs_match_integer(fail, pos, j1, cur)?,
                b"binary" => self.first_pass_bs_match_binary(fail, pos, j1, cur)?,
                b"get_tail" => self.first_pass_bs_match_get_tail(pos, j1, cur)?,
                b"=:=" => self.first_pass_bs_match_equal_colon_equal(fail, pos, j1, cur)?,
                b"skip" => self.first_pass_bs_match_skip(pos, j1, cur)?,
                _ => return Err(Error::unsupported(at, "bs_match command", 0)),
            };
            // Write the offset back to the match state after every command.
            let ms = self
                .b
                .and_(kept(new_match_state), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
            self.b.move_to_array_element(
                Val::Reg(new_offset),
                ms,
                Val::Imm(MATCH_STATE_OFFSET_INDEX.into()),
            );
            self.b.free_native_registers(&[Val::Reg(ms)]);
            (j, match_state, bs_offset) = (j2, new_match_state, new_offset);
        }
        Ok((match_state, bs_offset))
    }

    /// Remaining bits in a register: `binary size * 8 - offset`.
    fn remaining_bits(&mut self, pos: MatchPos) -> Reg {
        let reg = self.b.get_array_element(kept(pos.bs_binary), 1);
        self.b.shift_left(kept(reg), 3);
        self.b.sub(kept(reg), Val::Reg(pos.bs_offset));
        reg
    }

    fn first_pass_bs_match_ensure_at_least(
        &mut self,
        fail: u32,
        pos: MatchPos,
        j: i64,
        cur: &mut Cursor,
    ) -> Result<MatchStep> {
        // Literals are unsigned: the reference's negative-stride branch cannot be taken.
        let stride = decode_literal_i64(cur)?;
        let unit = decode_literal_i64(cur)?;
        let reg = self.remaining_bits(pos);
        let b = &mut self.b;
        cond_jump_to_label(b, cmp(kept(reg), CmpOp::Lt, imm(stride)), fail);
        if unit > 1 {
            // (remaining - stride) must be a multiple of the unit.
            b.sub(kept(reg), Val::Imm(stride));
            let unit_reg = b.and_(freed(reg), Val::Imm(unit - 1));
            cond_jump_to_label(b, cmp(freed(unit_reg), CmpOp::Ne, imm(0)), fail);
        } else {
            b.free_native_registers(&[Val::Reg(reg)]);
        }
        Ok((j - 2, pos.match_state, pos.bs_offset))
    }

    fn first_pass_bs_match_ensure_exactly(
        &mut self,
        fail: u32,
        pos: MatchPos,
        j: i64,
        cur: &mut Cursor,
    ) -> Result<MatchStep> {
        let stride = decode_literal_i64(cur)?;
        let reg = self.remaining_bits(pos);
        let b = &mut self.b;
        cond_jump_to_label(b, cmp(kept(reg), CmpOp::Ne, imm(stride)), fail);
        b.free_native_registers(&[Val::Reg(reg)]);
        Ok((j - 1, pos.match_state, pos.bs_offset))
    }

    /// Flags known at compile time: nil or a literal list of atoms.
    fn compile_time_flags(&self, flags: CompileTimeLiteral<'m>, at: usize) -> Result<i64> {
        match flags {
            CompileTimeLiteral::Nil => Ok(0),
            CompileTimeLiteral::Term(bytes) => {
                // Read in place: the flags are a few atoms, and a list term would allocate.
                let (mut flags, mut bad) = (0, None);
                let list =
                    etf::for_each_list_atom(bytes, 0, |name| match decode_flags_list0([name]) {
                        Ok(flag) => flags |= flag,
                        Err(e) => {
                            bad.get_or_insert(e);
                        }
                    })
                    .map_err(|e| Error::new(e.kind, at))?;
                if !list {
                    return Err(Error::unsupported(at, "bs_match flags literal", 0));
                }
                match bad {
                    Some(e) => Err(Error::new(e.kind, at)),
                    None => Ok(flags),
                }
            }
        }
    }

    fn first_pass_bs_match_integer(
        &mut self,
        fail: u32,
        pos: MatchPos,
        j: i64,
        cur: &mut Cursor,
    ) -> Result<MatchStep> {
        let _live = decode_literal(cur)?;
        let at = cur.file_offset();
        let flags = self.decode_compile_time_literal(cur)?;
        let flags_value = self.compile_time_flags(flags, at)?;
        let at = cur.file_offset();
        let size = self.decode_typed_compact_term(cur)?;
        let unit = to_i64(decode_literal(cur)?, cur.file_offset())?;
        // The reference only lowers sizes known at compile time here.
        let size_value = match size {
            Operand::Imm(v) => v >> 4,
            Operand::Literal(v) => to_i64(v, at)?,
            _ => return Err(Error::unsupported(at, "bs_match integer size", 0)),
        };
        let num_bits = checked_mul(size_value, unit)?;
        let b = &mut self.b;
        let flags = Arg::free(Val::Imm(flags_value));
        let result = extract_integer(b, pos, num_bits, flags, fail);
        // Out of registers: give up the offset register and reload it from the match state.
        let out_of_regs = b.available_regs_count() == 0;
        if out_of_regs {
            b.free_native_registers(&[Val::Reg(pos.bs_offset)]);
        }
        let dest = decode_dest(&mut self.b, cur)?;
        let b = &mut self.b;
        b.move_to_vm_register(kept(result), dest.into());
        b.free_native_registers(&[Val::Reg(result), dest.into()]);
        if out_of_regs {
            let ms = b.and_(freed(pos.match_state), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
            let new_offset = b.get_array_element(kept(ms), MATCH_STATE_OFFSET_INDEX);
            b.or_(kept(ms), Val::Imm(TERM_PRIMARY_BOXED));
            b.add(kept(new_offset), Val::Imm(num_bits));
            b.free_native_registers(&[Val::Imm(num_bits)]);
            Ok((j - 5, ms, new_offset))
        } else {
            b.add(kept(pos.bs_offset), Val::Imm(num_bits));
            b.free_native_registers(&[Val::Imm(num_bits)]);
            Ok((j - 5, pos.match_state, pos.bs_offset))
        }
    }

    fn first_pass_bs_match_binary(
        &mut self,
        fail: u32,
        pos: MatchPos,
        j: i64,
        cur: &mut Cursor,
    ) -> Result<MatchStep> {
        let at = cur.file_offset();
        let live = decode_literal(cur)?;
        let live = u32::try_from(live).map_err(|_| Error::unsupported(at, "live", live))?;
        let _flags = self.decode_compile_time_literal(cur)?;
        let size = decode_literal_i64(cur)?;
        let unit = decode_literal_i64(cur)?;
        let matched_bits = checked_mul(size, unit)?;
        let b = &mut self.b;
        if matched_bits % 8 == 0 {
            cond_raise_badarg(b, masked(kept(pos.bs_offset), 0b111, CmpOp::Ne, 0));
        } else {
            // The code after this raise is still emitted, as in the reference.
            b.call_primitive_last(
                PRIM_RAISE_ERROR,
                &[CTX, JIT_STATE, OFFSET, imm(BADARG_ATOM)],
            );
        }
        let matched_bytes = matched_bits / 8;
        let offset_bytes = b.shift_right(kept(pos.bs_offset), 3);
        let remaining_bytes = b.get_array_element(kept(pos.bs_binary), 1);
        b.sub(kept(remaining_bytes), Val::Reg(offset_bytes));
        cond_jump_to_label(
            b,
            cmp(kept(remaining_bytes), CmpOp::Lt, imm(matched_bytes)),
            fail,
        );
        b.free_native_registers(&[Val::Reg(remaining_bytes)]);
        let heap_size = b.call_primitive(
            PRIM_TERM_SUB_BINARY_HEAP_SIZE,
            &[kept(pos.bs_binary), imm(matched_bytes)],
        );
        let new_match_state = memory_ensure_free_with_extra_root(
            b,
            Val::Reg(pos.match_state),
            live,
            freed(heap_size),
        )?;
        reload_bs_binary(b, new_match_state, pos.bs_binary);
        let result = b.call_primitive(
            PRIM_TERM_MAYBE_CREATE_SUB_BINARY,
            &[
                CTX,
                kept(pos.bs_binary),
                freed(offset_bytes),
                imm(matched_bytes),
            ],
        );
        b.and_(freed(pos.bs_binary), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        let dest = decode_dest(&mut self.b, cur)?;
        let b = &mut self.b;
        b.move_to_vm_register(kept(result), dest.into());
        b.free_native_registers(&[Val::Reg(result)]);
        b.add(kept(pos.bs_offset), Val::Imm(matched_bits));
        Ok((j - 5, reg_of(new_match_state)?, pos.bs_offset))
    }

    fn first_pass_bs_match_get_tail(
        &mut self,
        pos: MatchPos,
        j: i64,
        cur: &mut Cursor,
    ) -> Result<MatchStep> {
        let at = cur.file_offset();
        let live = decode_literal(cur)?;
        let live = u32::try_from(live).map_err(|_| Error::unsupported(at, "live", live))?;
        let _unit = decode_literal(cur)?;
        let (result, new_match_state) = do_get_tail(
            &mut self.b,
            Val::Reg(pos.match_state),
            live,
            pos.bs_offset,
            pos.bs_binary,
        )?;
        let dest = decode_dest(&mut self.b, cur)?;
        let b = &mut self.b;
        b.move_to_vm_register(kept(result), dest.into());
        b.free_native_registers(&[Val::Reg(result), dest.into()]);
        Ok((j - 3, reg_of(new_match_state)?, pos.bs_offset))
    }

    fn first_pass_bs_match_equal_colon_equal(
        &mut self,
        fail: u32,
        pos: MatchPos,
        j: i64,
        cur: &mut Cursor,
    ) -> Result<MatchStep> {
        // The Live operand is always nil.
        decode_nil(cur)?;
        let size = decode_literal_i64(cur)?;
        let pattern = decode_literal(cur)?;
        let b = &mut self.b;
        let result = extract_integer(b, pos, size, imm(0), fail);
        // Patterns are at most 64 bits: the wrapped i64 keeps every bit.
        let pattern_imm = imm(pattern as i64);
        if B::WORD_SIZE == 4 && pattern >> 28 > 0 {
            // Too wide for a small integer: the extracted value is boxed. (The reference also
            // builds a "not boxed -> fail" block here but drops it, so no check is emitted.)
            let result = b.and_(freed(result), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
            let value = b.get_array_element(freed(result), 1);
            cond_jump_to_label(b, cmp(freed(value), CmpOp::Ne, pattern_imm), fail);
        } else {
            let value = b.shift_right(freed(result), 4);
            cond_jump_to_label(b, cmp(freed(value), CmpOp::Ne, pattern_imm), fail);
        }
        b.add(kept(pos.bs_offset), Val::Imm(size));
        Ok((j - 3, pos.match_state, pos.bs_offset))
    }

    fn first_pass_bs_match_skip(
        &mut self,
        pos: MatchPos,
        j: i64,
        cur: &mut Cursor,
    ) -> Result<MatchStep> {
        let stride = decode_literal_i64(cur)?;
        self.b.add(kept(pos.bs_offset), Val::Imm(stride));
        Ok((j - 1, pos.match_state, pos.bs_offset))
    }

    /// After `is_tuple Label, Arg1`: when `test_arity` on the same operand follows (and maybe
    /// `get_tuple_element`s from it), check and read the tuple once. Returns whether it fused;
    /// `cur` is then past the fused instructions, and untouched otherwise.
    pub(crate) fn try_fuse_tuple_ops(
        &mut self,
        cur: &mut Cursor<'_>,
        arg1: Operand,
        is_tuple_label: u32,
    ) -> Result<bool> {
        let mut look = cur.clone();
        if look.peek().ok() != Some(opcodes::TEST_ARITY) {
            return Ok(false);
        }
        look.u8()?;
        let test_arity_label = decode_label(&mut look)?;
        let Some(test_arity_arg) = decode_plain_operand(&mut look)? else {
            return Ok(false);
        };
        let arity = decode_literal(&mut look)?;
        if test_arity_arg != arg1 {
            return Ok(false);
        }
        let elements = self.collect_get_tuple_elements(&mut look, arg1)?;
        emit_fused_tuple_ops(
            &mut self.b,
            is_tuple_label,
            test_arity_label,
            arg1,
            arity,
            &elements,
        )?;
        *cur = look;
        Ok(true)
    }

    /// The `get_tuple_element`s reading from `src_arg` that follow: (element index, dest). Stops
    /// after one that overwrites `src_arg`.
    fn collect_get_tuple_elements(
        &mut self,
        cur: &mut Cursor<'_>,
        src_arg: Operand,
    ) -> Result<Vec<(u64, Dest)>> {
        let mut elements = Vec::new();
        while cur.peek().ok() == Some(opcodes::GET_TUPLE_ELEMENT) {
            let mut look = cur.clone();
            look.u8()?;
            match decode_plain_operand(&mut look)? {
                Some(source) if source == src_arg => {}
                _ => break,
            }
            let at = look.file_offset();
            let element = decode_literal(&mut look)?;
            let dest = decode_dest(&mut self.b, &mut look)?;
            *cur = look;
            crate::mem::try_push(&mut elements, (element, dest), "tuple elements")
                .map_err(|e| Error::out_of_memory(e, Some(at)))?;
            if Operand::from(dest) == src_arg {
                break;
            }
        }
        Ok(elements)
    }
}

/// Check boxed, tuple header and arity once, then read each collected element.
fn emit_fused_tuple_ops<B: Backend>(
    b: &mut B,
    is_tuple_label: u32,
    test_arity_label: u32,
    arg1: Operand,
    arity: u64,
    elements: &[(u64, Dest)],
) -> Result<()> {
    let reg = b.move_to_native_register(arg1.val()?);
    cond_jump_to_label(
        b,
        masked(kept(reg), TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_BOXED),
        is_tuple_label,
    );
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    let header = b.get_array_element(kept(reg), 0);
    cond_jump_to_label(
        b,
        masked(
            kept(header),
            TERM_BOXED_TAG_MASK,
            CmpOp::Ne,
            TERM_BOXED_TUPLE,
        ),
        is_tuple_label,
    );
    let arity_reg = b.shift_right(freed(header), 6);
    cond_jump_to_label(
        b,
        cmp(freed(arity_reg), CmpOp::Ne, imm(arity as i64)),
        test_arity_label,
    );
    for &(element, dest) in elements {
        b.move_array_element(kept(reg), Val::Imm(element as i64 + 1), dest.into());
        b.free_native_registers(&[dest.into()]);
    }
    b.free_native_registers(&[Val::Reg(reg)]);
    Ok(())
}

mod lowering;

#[cfg(test)]
mod trace_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_types_by_name() {
        assert_eq!(
            SegmentType::from_name(b"private_append"),
            SegmentType::PrivateAppend
        );
        assert_eq!(SegmentType::from_name(b"utf16"), SegmentType::Utf16);
        assert_eq!(SegmentType::from_name(b"bogus"), SegmentType::Other);
    }

    #[test]
    fn plain_operands() {
        // x3, y2, x20 (extended: needs code), typed x1, small integer 5, nil, an atom.
        let cases: [(&[u8], Option<Operand>); 7] = [
            (&[0x33], Some(Operand::X(3))),
            (&[0x24], Some(Operand::Y(2))),
            (&[0x0B, 20], None),
            (&[0x57, 0x13, 0x00], Some(Operand::X(1))),
            (&[0x51], Some(Operand::Imm(0x5F))),
            (&[0x02], Some(Operand::Imm(TERM_NIL))),
            (&[0x12], None),
        ];
        for (bytes, expected) in cases {
            let mut cur = Cursor::new(bytes, 0);
            assert_eq!(
                decode_plain_operand(&mut cur).unwrap(),
                expected,
                "{bytes:?}"
            );
        }
    }
}

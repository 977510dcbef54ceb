//! The bit-syntax instructions built on the passes of the parent module: `bs_create_bin`,
//! `bs_match`, `bs_get_tail` and `bs_get_binary2`.

use super::{
    do_get_tail, first_pass_bs_create_bin_compute_size, first_pass_bs_create_bin_insert_value,
    to_i64, CreatedBin, SegmentType,
};
use crate::beam::compact::Cursor;
use crate::compile::backend::{Arg, Backend, CmpOp, Reg, Val};
use crate::compile::common::{
    cmp, cond_jump_to_label, freed, handle_error_if, imm, is_false, kept, masked,
    term_binary_heap_size_imm, term_binary_heap_size_reg, CTX, JIT_STATE, OFFSET,
};
use crate::compile::consts::*;
use crate::compile::decode::{
    decode_allocator_list, decode_atom, decode_dest, decode_extended_list_header, decode_label,
    decode_literal, decode_literal_i64, skip_compact_term,
};
use crate::compile::env::ModuleEnv;
use crate::compile::helpers::{
    cond_raise_badarg, memory_ensure_free_with_extra_root, term_to_int, unsupported,
    verify_is_match_state_and_get_ptr,
};
use crate::compile::operand::Operand;
use crate::compile::Driver;
use crate::error::{Error, Result};

/// What freeing an operand releases: its register, if it lives in one (labels and small
/// literals hold none).
fn freeable(op: Operand) -> Val {
    op.untyped().val().unwrap_or(Val::Imm(0))
}

/// `raise_error(unsupported)` as a tail call.
fn raise_unsupported<B: Backend>(b: &mut B) {
    b.call_primitive_last(
        PRIM_RAISE_ERROR,
        &[CTX, JIT_STATE, OFFSET, imm(UNSUPPORTED_ATOM)],
    );
}

fn u32_operand(v: u64, at: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::unsupported(at, "operand value", v))
}

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    /// The type and unit of the next `bs_create_bin` segment (its segment number is skipped).
    fn segment_header(&self, cur: &mut Cursor) -> Result<(SegmentType, i64)> {
        let at = cur.file_offset();
        let name = self.atom_name(decode_atom(cur)?, at)?;
        decode_literal(cur)?;
        let unit = decode_literal_i64(cur)?;
        Ok((SegmentType::from_name(name), unit))
    }

    /// `bs_create_bin`: a size pass checking each segment's type, one allocation, then an
    /// insertion pass decoding the segments again.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(crate) fn op_bs_create_bin(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let at = cur.file_offset();
        let alloc = to_i64(decode_allocator_list(&mut self.b, cur)?, at)?;
        let at = cur.file_offset();
        let live = u32_operand(decode_literal(cur)?, at)?;
        decode_literal(cur)?;
        let dest = decode_dest(&mut self.b, cur)?;
        let segments = decode_extended_list_header(cur)? / 6;
        let segments_start = cur.clone();

        let mut literal_bits = 0;
        let mut bits_reg: Option<Reg> = None;
        let mut reuse_source = false;
        for index in 0..segments {
            let (atom_type, unit) = self.segment_header(cur)?;
            skip_compact_term(cur)?;
            let src = self.decode_compact_term(cur)?;
            let size = self.decode_compact_term(cur)?;
            (literal_bits, bits_reg) = first_pass_bs_create_bin_compute_size(
                &mut self.b,
                atom_type,
                src,
                size,
                unit,
                fail,
                literal_bits,
                bits_reg,
            )?;
            // `<<Bin/binary-unit:N, ...>>` appending to its own source reuses it.
            reuse_source |= index == 0
                && atom_type == SegmentType::PrivateAppend
                && size == Operand::Imm(ALL_ATOM);
            self.b
                .free_native_registers(&[freeable(src), freeable(size)]);
        }

        let b = &mut self.b;
        let total_bits = match bits_reg {
            None => Val::Imm(literal_bits),
            Some(reg) if literal_bits == 0 => Val::Reg(reg),
            Some(reg) => {
                b.add(kept(reg), Val::Imm(literal_bits));
                Val::Reg(reg)
            }
        };
        // Only whole bytes are supported.
        match total_bits {
            Val::Imm(bits) if bits & 7 != 0 => raise_unsupported(b),
            Val::Reg(reg) => b.if_block(masked(kept(reg), 0x7, CmpOp::Ne, 0), raise_unsupported),
            _ => {}
        }
        let trim = b.call_primitive(PRIM_TRIM_LIVE_REGS, &[CTX, imm(i64::from(live))]);
        b.free_native_registers(&[Val::Reg(trim)]);
        let (total_bytes, alloc_size) = match total_bits {
            Val::Reg(reg) => {
                let bytes = b.shift_right(freed(reg), 3);
                let bytes_copy = b.copy_to_native_register(Val::Reg(bytes));
                let alloc_reg = term_binary_heap_size_reg(b, bytes_copy);
                if alloc != 0 {
                    b.add(kept(alloc_reg), Val::Imm(alloc));
                }
                (Val::Reg(bytes), Val::Reg(alloc_reg))
            }
            bits => {
                let bytes = match bits {
                    Val::Imm(bits) => bits / 8,
                    _ => 0,
                };
                let words = term_binary_heap_size_imm::<B>(bytes)
                    .checked_add(alloc)
                    .ok_or_else(|| unsupported("heap need overflows"))?;
                (Val::Imm(bytes), Val::Imm(words))
            }
        };
        let ok = b.call_primitive(
            PRIM_MEMORY_ENSURE_FREE_WITH_ROOTS,
            &[
                CTX,
                JIT_STATE,
                Arg::free(alloc_size),
                imm(i64::from(live)),
                imm(MEMORY_CAN_SHRINK),
            ],
        );
        handle_error_if(b, is_false(freed(ok)));
        let mut created = if reuse_source {
            // Created by the first segment, from its source.
            CreatedBin::PrivateAppend(total_bytes)
        } else {
            let bin = b.call_primitive(
                PRIM_TERM_CREATE_EMPTY_BINARY,
                &[CTX, Arg::free(total_bytes)],
            );
            b.if_block(cmp(kept(bin), CmpOp::Eq, imm(TERM_INVALID_TERM)), |b| {
                b.call_primitive_last(
                    PRIM_RAISE_ERROR,
                    &[CTX, JIT_STATE, OFFSET, imm(OUT_OF_MEMORY_ATOM)],
                )
            });
            CreatedBin::Reg(bin)
        };

        *cur = segments_start;
        let mut offset = Val::Imm(0);
        for _ in 0..segments {
            let (atom_type, unit) = self.segment_header(cur)?;
            let flags = self.decode_compact_term(cur)?;
            let src = self.decode_compact_term(cur)?;
            let size = self.decode_compact_term(cur)?;
            (offset, created) = first_pass_bs_create_bin_insert_value(
                &mut self.b,
                atom_type,
                flags,
                src,
                size,
                unit,
                fail,
                created,
                offset,
            )?;
            self.b
                .free_native_registers(&[freeable(flags), freeable(src), freeable(size)]);
        }
        let CreatedBin::Reg(bin) = created else {
            return Err(unsupported("binary never created"));
        };
        let b = &mut self.b;
        b.free_native_registers(&[offset]);
        b.move_to_vm_register(kept(bin), dest.into());
        b.free_native_registers(&[Val::Reg(bin), dest.into()]);
        Ok(())
    }

    /// `bs_match`: the command list on a match state, keeping binary and offset in registers.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(crate) fn op_bs_match(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let match_state = self.decode_compact_term(cur)?;
        let count = decode_extended_list_header(cur)?;
        let b = &mut self.b;
        let state_term = b.move_to_native_register(match_state.val()?);
        let state_ptr = b.and_(kept(state_term), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        let bin = b.get_array_element(kept(state_ptr), MATCH_STATE_BINARY_INDEX);
        let offset = b.get_array_element(kept(state_ptr), MATCH_STATE_OFFSET_INDEX);
        b.free_native_registers(&[Val::Reg(state_ptr)]);
        let bin = b.and_(freed(bin), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        let (state_term, offset) =
            self.first_pass_bs_match(fail, state_term, bin, offset, count, cur)?;
        self.b
            .free_native_registers(&[Val::Reg(bin), Val::Reg(offset), Val::Reg(state_term)]);
        Ok(())
    }

    /// `bs_get_tail`: the rest of the matched binary as a sub-binary.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(crate) fn op_bs_get_tail(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_typed_compact_term(cur)?;
        let dest = decode_dest(&mut self.b, cur)?;
        let at = cur.file_offset();
        let live = u32_operand(decode_literal(cur)?, at)?;
        let b = &mut self.b;
        let state = verify_is_match_state_and_get_ptr(b, src)?;
        let bin = b.get_array_element(kept(state), MATCH_STATE_BINARY_INDEX);
        let offset = b.get_array_element(kept(state), MATCH_STATE_OFFSET_INDEX);
        b.free_native_registers(&[Val::Reg(state)]);
        let bin = b.and_(freed(bin), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        let (result, new_match_state) = do_get_tail(b, src.val()?, live, offset, bin)?;
        b.free_native_registers(&[Val::Reg(bin)]);
        let state = b.move_to_native_register(new_match_state);
        let state = b.and_(freed(state), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        b.move_to_array_element(
            Val::Reg(offset),
            state,
            Val::Imm(MATCH_STATE_OFFSET_INDEX.into()),
        );
        b.move_to_vm_register(kept(result), dest.into());
        b.free_native_registers(&[
            Val::Reg(state),
            Val::Reg(offset),
            Val::Reg(result),
            dest.into(),
        ]);
        Ok(())
    }

    /// `bs_get_binary2`: a byte-aligned sub-binary of `Size` bytes (or the rest, for `all`).
    #[cfg_attr(target_os = "none", inline(never))]
    pub(crate) fn op_bs_get_binary2(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        let at = cur.file_offset();
        let live = u32_operand(decode_literal(cur)?, at)?;
        let size = self.decode_compact_term(cur)?;
        let unit = decode_literal(cur)?;
        let flags = decode_literal(cur)?;
        let b = &mut self.b;
        let state = verify_is_match_state_and_get_ptr(b, src)?;
        let bin = b.get_array_element(kept(state), MATCH_STATE_BINARY_INDEX);
        let offset_bits = b.get_array_element(kept(state), MATCH_STATE_OFFSET_INDEX);
        if unit != 8 || flags != 0 {
            raise_unsupported(b);
        }
        cond_raise_badarg(b, masked(kept(offset_bits), 0x7, CmpOp::Ne, 0));
        let offset = b.shift_right(freed(offset_bits), 3);
        let bin = b.and_(freed(bin), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        let size_reg = b.get_array_element(freed(bin), 1);
        // `size_reg` holds the binary's byte size; `size_value` becomes the sub-binary's.
        let size_value = match size {
            Operand::Imm(ALL_ATOM) => {
                b.sub(kept(size_reg), Val::Reg(offset));
                Val::Reg(size_reg)
            }
            Operand::Imm(term) => {
                let bytes = term >> 4;
                b.sub(kept(size_reg), Val::Imm(bytes));
                cond_jump_to_label(b, cmp(freed(size_reg), CmpOp::Lt, kept(offset)), fail);
                Val::Imm(bytes)
            }
            other => {
                let size_term = b.move_to_native_register(other.val()?);
                let mut outcome = Ok(());
                b.if_else_block(
                    cmp(kept(size_term), CmpOp::Eq, imm(ALL_ATOM)),
                    |b| {
                        b.sub(kept(size_reg), Val::Reg(offset));
                        b.free_native_registers(&[Val::Reg(size_term)]);
                    },
                    |b| {
                        outcome = term_to_int(b, Operand::Reg(size_term), 0).map(|bytes| {
                            b.sub(kept(size_reg), bytes);
                            cond_jump_to_label(
                                b,
                                cmp(kept(size_reg), CmpOp::Lt, kept(offset)),
                                fail,
                            );
                            b.move_to_native_register_to(bytes, size_reg);
                            b.free_native_registers(&[bytes]);
                        });
                    },
                );
                outcome?;
                Val::Reg(size_reg)
            }
        };
        let new_offset = b.copy_to_native_register(Val::Reg(offset));
        b.add(kept(new_offset), size_value);
        b.shift_left(kept(new_offset), 3);
        b.move_to_array_element(
            Val::Reg(new_offset),
            state,
            Val::Imm(MATCH_STATE_OFFSET_INDEX.into()),
        );
        b.free_native_registers(&[Val::Reg(new_offset)]);
        let trim = b.call_primitive(PRIM_TRIM_LIVE_REGS, &[CTX, imm(i64::from(live))]);
        b.free_native_registers(&[Val::Reg(trim)]);
        let bin = b.get_array_element(freed(state), 1);
        b.or_(kept(bin), Val::Imm(TERM_PRIMARY_BOXED));
        let heap_size = b.call_primitive(
            PRIM_TERM_SUB_BINARY_HEAP_SIZE,
            &[kept(bin), Arg::keep(size_value)],
        );
        let bin = memory_ensure_free_with_extra_root(b, Val::Reg(bin), live, freed(heap_size))?;
        let result = b.call_primitive(
            PRIM_TERM_MAYBE_CREATE_SUB_BINARY,
            &[CTX, Arg::free(bin), freed(offset), Arg::free(size_value)],
        );
        let dest = decode_dest(&mut self.b, cur)?;
        let b = &mut self.b;
        b.move_to_vm_register(kept(result), dest.into());
        b.free_native_registers(&[Val::Reg(result), dest.into()]);
        Ok(())
    }
}

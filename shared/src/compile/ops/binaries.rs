//! The bit syntax instructions lowered here (the rest are in `compile::bs`).

use super::*;

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    /// `bs_get_position`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_bs_get_position(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_val(cur)?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        decode_literal(cur)?;
        let reg = self.b.move_to_native_register(src);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b
            .move_array_element(kept(reg), Val::Imm(MATCH_STATE_OFFSET_INDEX.into()), r(reg));
        let reg = term_from_int_reg(&mut self.b, reg);
        self.b.move_to_vm_register(kept(reg), dest);
        self.b.free_native_registers(&[r(reg), dest]);
        Ok(())
    }

    /// `bs_start_match3`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_bs_start_match3(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_compact_term(cur)?;
        let live = decode_literal(cur)?;
        let dest = decode_dest(&mut self.b, cur)?;
        h::verify_is_binary_or_match_state(&mut self.b, fail, src.val()?);
        self.alloc_match_state(live, src, dest, cur)?;
        Ok(())
    }

    /// `bs_start_match4`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_bs_start_match4(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = self.decode_atom_or_label(cur)?;
        let live = decode_literal(cur)?;
        let src = self.decode_compact_term(cur)?;
        let dest = decode_dest(&mut self.b, cur)?;
        match fail {
            AtomOrLabel::Label(label) => {
                h::verify_is_binary_or_match_state(&mut self.b, label, src.val()?)
            }
            AtomOrLabel::Atom(b"no_fail") | AtomOrLabel::Atom(b"resume") => {}
            AtomOrLabel::Atom(_) => return Err(h::unsupported("bs_start_match4 fail atom")),
        }
        self.alloc_match_state(live, src, dest, cur)?;
        Ok(())
    }

    /// `bs_set_position`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_bs_set_position(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_typed_compact_term(cur)?;
        let pos = self.decode_typed_compact_term(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let pos = h::term_to_int(&mut self.b, pos, 0)?;
        self.b
            .move_to_array_element(pos, state, Val::Imm(MATCH_STATE_OFFSET_INDEX.into()));
        self.b.free_native_registers(&[pos, r(state)]);
        Ok(())
    }

    /// `bs_test_tail2`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_bs_test_tail2(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        let bits = decode_literal(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let bin = self
            .b
            .get_array_element(kept(state), MATCH_STATE_BINARY_INDEX);
        let offset = self
            .b
            .get_array_element(kept(state), MATCH_STATE_OFFSET_INDEX);
        self.b.free_native_registers(&[r(state)]);
        self.b.add(kept(offset), Val::Imm(bits as i64));
        let size = term_binary_size(&mut self.b, freed(bin));
        self.b.shift_left(kept(size), 3);
        cond_jump_to_label(&mut self.b, cmp(freed(size), CmpOp::Ne, kept(offset)), fail);
        self.b.free_native_registers(&[r(offset)]);
        Ok(())
    }

    /// `bs_test_unit`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_bs_test_unit(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        let unit = decode_literal(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let bin = self
            .b
            .get_array_element(kept(state), MATCH_STATE_BINARY_INDEX);
        let offset = self
            .b
            .get_array_element(kept(state), MATCH_STATE_OFFSET_INDEX);
        self.b.free_native_registers(&[r(state)]);
        let size = term_binary_size(&mut self.b, freed(bin));
        self.b.shift_left(kept(size), 3);
        self.b.sub(kept(size), r(offset));
        self.b.free_native_registers(&[r(offset)]);
        let rem = self.b.and_(freed(size), Val::Imm(unit as i64 - 1));
        cond_jump_to_label(&mut self.b, cmp(freed(rem), CmpOp::Ne, imm(0)), fail);
        Ok(())
    }

    /// `bs_match_string`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_bs_match_string(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        let bits = decode_literal(cur)?;
        let offset_in_str = decode_literal(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let bin = self
            .b
            .get_array_element(kept(state), MATCH_STATE_BINARY_INDEX);
        let offset = self
            .b
            .get_array_element(kept(state), MATCH_STATE_OFFSET_INDEX);
        let matched = self.b.call_primitive(
            PRIM_BITSTRING_MATCH_MODULE_STR,
            &[
                CTX,
                JIT_STATE,
                freed(bin),
                kept(offset),
                uimm(offset_in_str),
                uimm(bits),
            ],
        );
        cond_jump_to_label(&mut self.b, is_false(freed(matched)), fail);
        self.b.add(kept(offset), Val::Imm(bits as i64));
        self.b
            .move_to_array_element(r(offset), state, Val::Imm(MATCH_STATE_OFFSET_INDEX.into()));
        self.b.free_native_registers(&[r(offset), r(state)]);
        Ok(())
    }

    /// `bs_skip_bits2`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_bs_skip_bits2(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        let size = self.decode_typed_compact_term(cur)?;
        let unit = decode_literal(cur)?;
        decode_literal(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let num_bits = self.size_times_unit(size, fail, unit)?;
        let bin = self
            .b
            .get_array_element(kept(state), MATCH_STATE_BINARY_INDEX);
        let offset = self
            .b
            .get_array_element(kept(state), MATCH_STATE_OFFSET_INDEX);
        self.b.add(kept(offset), num_bits);
        self.b.free_native_registers(&[num_bits]);
        let size = term_binary_size(&mut self.b, freed(bin));
        self.b.shift_left(kept(size), 3);
        cond_jump_to_label(&mut self.b, cmp(freed(size), CmpOp::Lt, kept(offset)), fail);
        self.b
            .move_to_array_element(r(offset), state, Val::Imm(MATCH_STATE_OFFSET_INDEX.into()));
        self.b.free_native_registers(&[r(offset), r(state)]);
        Ok(())
    }

    per_instruction! {
        op_bs_get_integer2 => lower_bs_get_integer2_or_float2(opcodes::BS_GET_INTEGER2);
        op_bs_get_float2 => lower_bs_get_integer2_or_float2(opcodes::BS_GET_FLOAT2);
    }

    /// `bs_get_integer2`, `bs_get_float2`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_bs_get_integer2_or_float2(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        decode_literal(cur)?;
        let size = self.decode_typed_compact_term(cur)?;
        let unit = decode_literal(cur)?;
        let flags = decode_literal(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let num_bits = self.size_times_unit(size, fail, unit)?;
        let bin = self
            .b
            .get_array_element(kept(state), MATCH_STATE_BINARY_INDEX);
        let offset = self
            .b
            .get_array_element(kept(state), MATCH_STATE_OFFSET_INDEX);
        let result = if op == opcodes::BS_GET_INTEGER2 {
            let result = self.b.call_primitive(
                PRIM_BITSTRING_EXTRACT_INTEGER,
                &[
                    CTX,
                    JIT_STATE,
                    freed(bin),
                    kept(offset),
                    Arg::keep(num_bits),
                    Arg::free(Val::Imm(flags as i64)),
                ],
            );
            handle_error_if(&mut self.b, cmp(kept(result), CmpOp::Eq, imm(0)));
            result
        } else {
            self.b.call_primitive(
                PRIM_BITSTRING_EXTRACT_FLOAT,
                &[
                    CTX,
                    freed(bin),
                    kept(offset),
                    Arg::keep(num_bits),
                    Arg::free(Val::Imm(flags as i64)),
                ],
            )
        };
        cond_jump_to_label(
            &mut self.b,
            cmp(kept(result), CmpOp::Eq, imm(FALSE_ATOM)),
            fail,
        );
        self.b.add(kept(offset), num_bits);
        self.b.free_native_registers(&[num_bits]);
        self.b
            .move_to_array_element(r(offset), state, Val::Imm(MATCH_STATE_OFFSET_INDEX.into()));
        self.b.free_native_registers(&[r(offset), r(state)]);
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.move_to_vm_register(kept(result), dest);
        self.b.free_native_registers(&[r(result)]);
        Ok(())
    }

    per_instruction! {
        op_bs_get_utf8 => lower_bs_get_or_skip_utf(opcodes::BS_GET_UTF8);
        op_bs_skip_utf8 => lower_bs_get_or_skip_utf(opcodes::BS_SKIP_UTF8);
        op_bs_get_utf16 => lower_bs_get_or_skip_utf(opcodes::BS_GET_UTF16);
        op_bs_skip_utf16 => lower_bs_get_or_skip_utf(opcodes::BS_SKIP_UTF16);
        op_bs_get_utf32 => lower_bs_get_or_skip_utf(opcodes::BS_GET_UTF32);
        op_bs_skip_utf32 => lower_bs_get_or_skip_utf(opcodes::BS_SKIP_UTF32);
    }

    /// `bs_get_utf8`, `bs_skip_utf8`, `bs_get_utf16`, `bs_skip_utf16`, `bs_get_utf32`,
    /// `bs_skip_utf32`: one primitive per encoding; the `skip` forms drop the code point.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_bs_get_or_skip_utf(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_free(cur)?;
        skip_compact_term(cur)?;
        let (primitive, flags) = match op {
            opcodes::BS_GET_UTF8 | opcodes::BS_SKIP_UTF8 => {
                skip_compact_term(cur)?;
                (PRIM_BITSTRING_GET_UTF8, None)
            }
            opcodes::BS_GET_UTF16 | opcodes::BS_SKIP_UTF16 => {
                (PRIM_BITSTRING_GET_UTF16, Some(decode_literal(cur)?))
            }
            _ => (PRIM_BITSTRING_GET_UTF32, Some(decode_literal(cur)?)),
        };
        let value = match flags {
            None => self.b.call_primitive(primitive, &[src]),
            Some(f) => self
                .b
                .call_primitive(primitive, &[src, Arg::free(Val::Imm(f as i64))]),
        };
        let skip = matches!(
            op,
            opcodes::BS_SKIP_UTF8 | opcodes::BS_SKIP_UTF16 | opcodes::BS_SKIP_UTF32
        );
        if skip {
            cond_jump_to_label(&mut self.b, cmp(freed(value), CmpOp::Eq, imm(0)), fail);
        } else {
            cond_jump_to_label(&mut self.b, cmp(kept(value), CmpOp::Eq, imm(0)), fail);
            let dest: Val = decode_dest(&mut self.b, cur)?.into();
            self.b.move_to_vm_register(kept(value), dest);
            self.b.free_native_registers(&[r(value), dest]);
        }
        Ok(())
    }

    /// `bs_init_writable`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_bs_init_writable(&mut self) {
        let heap_size = term_binary_heap_size_imm::<B>(0);
        let ensured = self.b.call_primitive(
            PRIM_MEMORY_ENSURE_FREE_WITH_ROOTS,
            &[
                CTX,
                JIT_STATE,
                imm(heap_size),
                imm(0),
                imm(MEMORY_CAN_SHRINK),
            ],
        );
        handle_error_if(&mut self.b, is_false(freed(ensured)));
        let created = self
            .b
            .call_primitive(PRIM_TERM_CREATE_EMPTY_BINARY, &[CTX, imm(0)]);
        self.b
            .if_block(cmp(kept(created), CmpOp::Eq, imm(TERM_INVALID_TERM)), |b| {
                raise_error(b, OUT_OF_MEMORY_ATOM)
            });
        self.b.set_bs(r(created));
        self.b.move_to_vm_register(kept(created), Val::X(0));
        self.b.free_native_registers(&[r(created)]);
    }

    /// The match state of `bs_start_match3/4`, stored in `dest`.
    pub(super) fn alloc_match_state(
        &mut self,
        live: u64,
        src: Operand,
        dest: Dest,
        cur: &Cursor,
    ) -> Result<()> {
        let live = small_u32(live, cur)?;
        let new_src = h::term_alloc_bin_match_state(&mut self.b, live, src.val()?, dest)?;
        self.b.free_native_registers(&[new_src, dest.into()]);
        Ok(())
    }

    /// `Size * Unit` bits: an immediate when the size is known, else computed in the size
    /// register.
    pub(super) fn size_times_unit(&mut self, size: Operand, fail: u32, unit: u64) -> Result<Val> {
        let size = h::term_to_int(&mut self.b, size, fail)?;
        Ok(match size {
            Val::Imm(v) => Val::Imm(v.wrapping_mul(unit as i64)),
            reg => {
                if let Val::Reg(reg) = reg {
                    self.b.mul(kept(reg), Val::Imm(unit as i64));
                }
                reg
            }
        })
    }
}

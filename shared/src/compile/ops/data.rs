//! Moving and building data: move, swap, lists, tuples, funs, records.

use super::*;

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    /// `move`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_move(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_val(cur)?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.move_to_vm_register(Arg::keep(src), dest);
        self.b.free_native_registers(&[src, dest]);
        Ok(())
    }

    /// `get_list`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_get_list(&mut self, cur: &mut Cursor) -> Result<()> {
        let list = self.decode_val(cur)?;
        let head: Val = decode_dest(&mut self.b, cur)?.into();
        let tail: Val = decode_dest(&mut self.b, cur)?.into();
        let reg = self.b.move_to_native_register(list);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b
            .move_array_element(kept(reg), Val::Imm(LIST_HEAD_INDEX.into()), head);
        self.b.free_native_registers(&[head]);
        self.b
            .move_array_element(kept(reg), Val::Imm(LIST_TAIL_INDEX.into()), tail);
        self.b.free_native_registers(&[r(reg)]);
        self.b.free_native_registers(&[tail]);
        Ok(())
    }

    /// `get_tuple_element`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_get_tuple_element(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_val(cur)?;
        let element = decode_literal_i64(cur)?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let reg = self.b.move_to_native_register(src);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b
            .move_array_element(kept(reg), Val::Imm(element + 1), dest);
        self.b.free_native_registers(&[r(reg), dest]);
        Ok(())
    }

    /// `set_tuple_element`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_set_tuple_element(&mut self, cur: &mut Cursor) -> Result<()> {
        let element = self.decode_val(cur)?;
        let tuple = self.decode_val(cur)?;
        let position = decode_literal_i64(cur)?;
        let reg = self.b.move_to_native_register(tuple);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b
            .move_to_array_element(element, reg, Val::Imm(position + 1));
        self.b.free_native_registers(&[element, r(reg)]);
        Ok(())
    }

    /// `put_list`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_put_list(&mut self, cur: &mut Cursor) -> Result<()> {
        let head = self.decode_free(cur)?;
        let tail = self.decode_free(cur)?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let result = self.b.call_primitive(PRIM_PUT_LIST, &[CTX, head, tail]);
        self.b.move_to_vm_register(kept(result), dest);
        self.b.free_native_registers(&[r(result)]);
        self.b.free_native_registers(&[dest]);
        Ok(())
    }

    per_instruction! {
        op_get_hd => lower_get_hd_or_tl(opcodes::GET_HD);
        op_get_tl => lower_get_hd_or_tl(opcodes::GET_TL);
    }

    /// `get_hd`, `get_tl`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_get_hd_or_tl(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_val(cur)?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let index = if op == opcodes::GET_HD {
            LIST_HEAD_INDEX
        } else {
            LIST_TAIL_INDEX
        };
        let reg = self.b.move_to_native_register(src);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b
            .move_array_element(kept(reg), Val::Imm(index.into()), dest);
        self.b.free_native_registers(&[dest, r(reg)]);
        Ok(())
    }

    /// `swap`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_swap(&mut self, cur: &mut Cursor) -> Result<()> {
        let a: Val = decode_dest(&mut self.b, cur)?.into();
        let b_: Val = decode_dest(&mut self.b, cur)?.into();
        let reg = self.b.move_to_native_register(a);
        self.b.move_to_vm_register(Arg::keep(b_), a);
        self.b.move_to_vm_register(kept(reg), b_);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `put_tuple2`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_put_tuple2(&mut self, cur: &mut Cursor) -> Result<()> {
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let size = decode_extended_list_header(cur)?;
        let tuple = self
            .b
            .call_primitive(PRIM_TERM_ALLOC_TUPLE, &[CTX, imm(size.into())]);
        let tuple = self.b.and_(freed(tuple), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        for index in 1..=i64::from(size) {
            let element = self.decode_val(cur)?;
            self.b
                .move_to_array_element(element, tuple, Val::Imm(index));
            self.b.free_native_registers(&[element]);
        }
        self.b.or_(kept(tuple), Val::Imm(TERM_PRIMARY_BOXED));
        self.b.move_to_vm_register(kept(tuple), dest);
        self.b.free_native_registers(&[dest, r(tuple)]);
        Ok(())
    }

    /// `make_fun3`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_make_fun3(&mut self, cur: &mut Cursor) -> Result<()> {
        let fun_index = decode_literal(cur)?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let num_free = decode_extended_list_header(cur)?;
        let fun = self.b.call_primitive(
            PRIM_TERM_ALLOC_FUN,
            &[CTX, JIT_STATE, uimm(fun_index), imm(num_free.into())],
        );
        let fun = self.b.and_(freed(fun), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        for index in 3..=i64::from(num_free) + 2 {
            let element = self.decode_val(cur)?;
            self.b.move_to_array_element(element, fun, Val::Imm(index));
            self.b.free_native_registers(&[element]);
        }
        self.b.or_(kept(fun), Val::Imm(TERM_PRIMARY_BOXED));
        self.b.move_to_vm_register(kept(fun), dest);
        self.b.free_native_registers(&[dest, r(fun)]);
        Ok(())
    }

    /// `update_record`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_update_record(&mut self, cur: &mut Cursor) -> Result<()> {
        let at = cur.file_offset();
        let hint = decode_atom(cur)?;
        let reuse = self.atom_name(hint, at)? == b"reuse";
        let size = decode_literal(cur)?;
        let src = self.decode_val(cur)?;
        let src_reg = self.b.move_to_native_register(src);
        let src_reg = self
            .b
            .and_(freed(src_reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let list_len = decode_extended_list_header(cur)?;
        let dest_reg = self
            .b
            .call_primitive(PRIM_TERM_ALLOC_TUPLE, &[CTX, uimm(size)]);
        let dest_reg = self
            .b
            .and_(freed(dest_reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        let reuse_reg = self.b.move_to_native_register(Val::Imm(i64::from(reuse)));
        // `size` comes from the bytecode: a huge value would emit code until the sink is full,
        // which the backend reports; stop as soon as it does.
        let mut index: u64 = 1;
        while index <= size && self.b.error().is_none() {
            let index32 = small_u32(index, cur)?;
            let value = self.b.get_array_element(kept(src_reg), index32);
            self.b
                .move_to_array_element(r(value), dest_reg, Val::Imm(index32.into()));
            self.b.free_native_registers(&[r(value)]);
            index += 1;
        }
        for _ in 0..list_len / 2 {
            let at = cur.file_offset();
            let update_ix = decode_literal(cur)?;
            let update_ix = u32::try_from(update_ix)
                .map_err(|_| Error::unsupported(at, "record index", update_ix))?;
            let value = self.decode_val(cur)?;
            self.b.if_else_block(
                is_true(kept(reuse_reg)),
                |b| {
                    let old = b.get_array_element(kept(dest_reg), update_ix);
                    let result = b.call_primitive(
                        PRIM_TERM_COMPARE,
                        &[
                            CTX,
                            JIT_STATE,
                            freed(old),
                            Arg::keep(value),
                            imm(TERM_COMPARE_EXACT),
                        ],
                    );
                    handle_error_if(
                        b,
                        cmp_int(kept(result), CmpOp::Eq, imm(TERM_COMPARE_MEMORY_ALLOC_FAIL)),
                    );
                    b.if_block(cmp_int(freed(result), CmpOp::Ne, imm(TERM_EQUALS)), |b| {
                        b.move_to_array_element(value, dest_reg, Val::Imm(update_ix.into()));
                        b.move_to_native_register_to(Val::Imm(0), reuse_reg);
                    });
                },
                |b| b.move_to_array_element(value, dest_reg, Val::Imm(update_ix.into())),
            );
            self.b.free_native_registers(&[value]);
        }
        self.b.if_else_block(
            is_true(freed(reuse_reg)),
            |b| {
                b.or_(kept(src_reg), Val::Imm(TERM_PRIMARY_BOXED));
                b.move_to_vm_register(kept(src_reg), dest);
            },
            |b| {
                b.or_(kept(dest_reg), Val::Imm(TERM_PRIMARY_BOXED));
                b.move_to_vm_register(kept(dest_reg), dest);
            },
        );
        self.b.free_native_registers(&[r(dest_reg), r(src_reg)]);
        Ok(())
    }
}

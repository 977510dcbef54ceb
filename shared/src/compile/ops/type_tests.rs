//! Type tests, comparisons and selects: the instructions that jump to a fail label.

use super::*;

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    /// `is_atom`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_atom(&mut self, cur: &mut Cursor) -> Result<()> {
        let (label, reg) = self.label_and_native(cur)?;
        let cond = masked(
            freed(reg),
            TERM_IMMED2_TAG_MASK,
            CmpOp::Ne,
            TERM_IMMED2_ATOM,
        );
        cond_jump_to_label(&mut self.b, cond, label);
        Ok(())
    }

    /// `is_nil`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_nil(&mut self, cur: &mut Cursor) -> Result<()> {
        let (label, reg) = self.label_and_native(cur)?;
        cond_jump_to_label(&mut self.b, cmp(kept(reg), CmpOp::Ne, imm(TERM_NIL)), label);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `is_list`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_list(&mut self, cur: &mut Cursor) -> Result<()> {
        let (label, reg) = self.label_and_native(cur)?;
        let conds = [
            cmp(kept(reg), CmpOp::Ne, imm(TERM_NIL)),
            masked(freed(reg), TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_LIST),
        ];
        cond_jump_to_label_and(&mut self.b, &conds, label);
        Ok(())
    }

    /// `is_nonempty_list`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_nonempty_list(&mut self, cur: &mut Cursor) -> Result<()> {
        let (label, reg) = self.label_and_native(cur)?;
        let cond = masked(freed(reg), TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_LIST);
        cond_jump_to_label(&mut self.b, cond, label);
        Ok(())
    }

    /// `is_boolean`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_boolean(&mut self, cur: &mut Cursor) -> Result<()> {
        let (label, reg) = self.label_and_native(cur)?;
        let conds = [
            cmp(kept(reg), CmpOp::Ne, imm(TRUE_ATOM)),
            cmp(kept(reg), CmpOp::Ne, imm(FALSE_ATOM)),
        ];
        cond_jump_to_label_and(&mut self.b, &conds, label);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `is_tuple`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_tuple(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?;
        if !self.try_fuse_tuple_ops(cur, arg, label)? {
            h::verify_is_boxed_with_tag(&mut self.b, label, arg.keep()?, TERM_BOXED_TUPLE);
        }
        Ok(())
    }

    /// `test_arity`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_test_arity(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_val(cur)?;
        let arity = decode_literal(cur)?;
        let reg = self.b.move_to_native_register(arg);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b.move_array_element(kept(reg), Val::Imm(0), r(reg));
        let arity_reg = self.b.shift_right(freed(reg), 6);
        cond_jump_to_label(
            &mut self.b,
            cmp(freed(arity_reg), CmpOp::Ne, uimm(arity)),
            label,
        );
        Ok(())
    }

    /// `is_ge`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_ge(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg1 = self.decode_typed_compact_term(cur)?;
        let arg2 = self.decode_typed_compact_term(cur)?;
        crate::compile::arith::op_is_ge(&mut self.b, label, arg1, arg2)?;
        Ok(())
    }

    /// `is_integer`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_integer(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_free(cur)?;
        h::verify_is_any_integer(&mut self.b, arg, label);
        Ok(())
    }

    per_instruction! {
        op_is_float => lower_is_boxed_with_tag(TERM_BOXED_FLOAT);
        op_is_function => lower_is_boxed_with_tag(TERM_BOXED_FUN);
        op_is_map => lower_is_boxed_with_tag(TERM_BOXED_MAP);
    }

    /// `is_float`, `is_function`, `is_map`: boxed with the one boxed tag `tag` (its `op_*` methods
    /// give [`TERM_BOXED_FLOAT`], [`TERM_BOXED_FUN`] or [`TERM_BOXED_MAP`]).
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_is_boxed_with_tag(&mut self, tag: i64, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_keep(cur)?;
        h::verify_is_boxed_with_tag(&mut self.b, label, arg, tag);
        Ok(())
    }

    /// `is_number`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_number(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_free(cur)?;
        h::verify_is_immediate_or_boxed_mask(
            &mut self.b,
            arg,
            TERM_INTEGER_TAG,
            TERM_BOXED_TAG_MASK_INTEGER_OR_FLOAT,
            TERM_BOXED_TAG_POSITIVE_INTEGER_OR_FLOAT,
            label,
        );
        Ok(())
    }

    per_instruction! {
        op_is_pid => lower_is_pid_or_port(opcodes::IS_PID);
        op_is_port => lower_is_pid_or_port(opcodes::IS_PORT);
    }

    /// `is_pid`, `is_port`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_is_pid_or_port(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let (imm_tag, boxed_tag) = if op == opcodes::IS_PID {
            (TERM_PID_TAG, TERM_BOXED_EXTERNAL_PID)
        } else {
            (TERM_PORT_TAG, TERM_BOXED_EXTERNAL_PORT)
        };
        let label = decode_label(cur)?;
        let arg = self.decode_free(cur)?;
        h::verify_is_immediate_or_boxed(&mut self.b, arg, imm_tag, boxed_tag, label);
        Ok(())
    }

    /// `is_binary`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_binary(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_val(cur)?;
        h::verify_is_binary(&mut self.b, arg, label);
        self.b.free_native_registers(&[arg]);
        Ok(())
    }

    per_instruction! {
        op_is_lt => lower_compare(opcodes::IS_LT);
        op_is_eq => lower_compare(opcodes::IS_EQ);
        op_is_ne => lower_compare(opcodes::IS_NE);
        op_is_eq_exact => lower_compare(opcodes::IS_EQ_EXACT);
        op_is_ne_exact => lower_compare(opcodes::IS_NE_EXACT);
    }

    /// `is_lt`, `is_eq`, `is_ne`, `is_eq_exact`, `is_ne_exact`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_compare(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg1 = self.decode_compact_term(cur)?;
        let arg2 = self.decode_compact_term(cur)?;
        let exact = op == opcodes::IS_EQ_EXACT || op == opcodes::IS_NE_EXACT;
        if exact {
            if let Some(value) = arg2.imm() {
                // Comparing with an immediate needs no call.
                let reg = self.b.move_to_native_register(arg1.val()?);
                let cmp_op = if op == opcodes::IS_EQ_EXACT {
                    CmpOp::Ne
                } else {
                    CmpOp::Eq
                };
                cond_jump_to_label(&mut self.b, cmp(freed(reg), cmp_op, imm(value)), label);
                return Ok(());
            }
        }
        let opts = if exact {
            TERM_COMPARE_EXACT
        } else {
            TERM_COMPARE_NO_OPTS
        };
        let result = self.b.call_primitive(
            PRIM_TERM_COMPARE,
            &[CTX, JIT_STATE, arg1.free()?, arg2.free()?, imm(opts)],
        );
        handle_error_if(
            &mut self.b,
            cmp_int(kept(result), CmpOp::Eq, imm(TERM_COMPARE_MEMORY_ALLOC_FAIL)),
        );
        let cond = match op {
            opcodes::IS_LT => masked(freed(result), TERM_GREATER_THAN + TERM_EQUALS, CmpOp::Ne, 0),
            opcodes::IS_EQ | opcodes::IS_EQ_EXACT => masked(
                freed(result),
                TERM_LESS_THAN + TERM_GREATER_THAN,
                CmpOp::Ne,
                0,
            ),
            _ => cmp_int(freed(result), CmpOp::Eq, imm(TERM_EQUALS)),
        };
        cond_jump_to_label(&mut self.b, cond, label);
        Ok(())
    }

    /// Decode a label and an operand, and load the operand into a native register.
    pub(super) fn label_and_native(&mut self, cur: &mut Cursor) -> Result<(u32, Reg)> {
        let label = decode_label(cur)?;
        let arg = self.decode_val(cur)?;
        let reg = self.b.move_to_native_register(arg);
        Ok((label, reg))
    }

    per_instruction! {
        op_is_reference =>
            lower_is_boxed_with_any_tag(&[TERM_BOXED_REF, TERM_BOXED_EXTERNAL_REF]);
        op_is_bitstr => lower_is_boxed_with_any_tag(&[
            TERM_BOXED_REFC_BINARY,
            TERM_BOXED_HEAP_BINARY,
            TERM_BOXED_SUB_BINARY,
        ]);
    }

    /// `is_reference`, `is_bitstr`: boxed, with a boxed tag among `tags` (its `op_*` methods give the
    /// local and external reference tags, or the three binary tags).
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_is_boxed_with_any_tag(&mut self, tags: &[i64], cur: &mut Cursor) -> Result<()> {
        let (label, reg) = self.label_and_native(cur)?;
        let cond = masked(kept(reg), TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_BOXED);
        cond_jump_to_label(&mut self.b, cond, label);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b.move_array_element(kept(reg), Val::Imm(0), r(reg));
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_BOXED_TAG_MASK));
        // At most a few tags (no heap needed for their conditions).
        let mut conds = [cmp(kept(reg), CmpOp::Ne, imm(0)); 4];
        let n = tags.len();
        if n > conds.len() {
            return Err(crate::error::Error::unsupported(
                cur.file_offset(),
                "boxed tags",
                n as u64,
            ));
        }
        for (cond, &t) in conds.iter_mut().zip(&tags[..n]) {
            *cond = cmp(kept(reg), CmpOp::Ne, imm(t));
        }
        cond_jump_to_label_and(&mut self.b, &conds[..n], label);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `select_val`: compare with each value in turn, else jump to the default label.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_select_val(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_keep(cur)?;
        let default = decode_label(cur)?;
        let size = decode_extended_list_header(cur)?;
        for _ in 0..size / 2 {
            let value = self.decode_free(cur)?;
            let target = decode_label(cur)?;
            let result = self.b.call_primitive(
                PRIM_TERM_COMPARE,
                &[CTX, JIT_STATE, value, src, imm(TERM_COMPARE_EXACT)],
            );
            handle_error_if(
                &mut self.b,
                cmp_int(kept(result), CmpOp::Eq, imm(TERM_COMPARE_MEMORY_ALLOC_FAIL)),
            );
            cond_jump_to_label(
                &mut self.b,
                cmp_int(freed(result), CmpOp::Eq, imm(TERM_EQUALS)),
                target,
            );
        }
        self.b.jump_to_label(default);
        Ok(())
    }

    /// `select_tuple_arity`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_select_tuple_arity(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_free(cur)?;
        let default = decode_label(cur)?;
        let size = decode_extended_list_header(cur)?;
        let reg = term_get_tuple_arity(&mut self.b, src);
        for _ in 0..size / 2 {
            let arity = decode_literal(cur)?;
            let target = decode_label(cur)?;
            cond_jump_to_label(&mut self.b, cmp(kept(reg), CmpOp::Eq, uimm(arity)), target);
        }
        self.b.free_native_registers(&[r(reg)]);
        self.b.jump_to_label(default);
        Ok(())
    }

    /// `is_tagged_tuple`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_tagged_tuple(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_val(cur)?;
        let arity = decode_literal(cur)?;
        let at = cur.file_offset();
        let atom_index = decode_atom(cur)?;
        let reg = self.b.move_to_native_register(arg);
        let cond = masked(kept(reg), TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_BOXED);
        cond_jump_to_label(&mut self.b, cond, label);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        let tag = self.b.get_array_element(kept(reg), 0);
        let cond = masked(kept(tag), TERM_BOXED_TAG_MASK, CmpOp::Ne, TERM_BOXED_TUPLE);
        cond_jump_to_label(&mut self.b, cond, label);
        let tag = self.b.shift_right(freed(tag), 6);
        cond_jump_to_label(&mut self.b, cmp(kept(tag), CmpOp::Ne, uimm(arity)), label);
        self.b.free_native_registers(&[r(tag)]);
        self.b.move_array_element(kept(reg), Val::Imm(1), r(reg));
        let name = self.atom_name(atom_index, at)?;
        let atom = match default_atom_index(name) {
            Some(term) => Val::Imm(term.into()),
            None => r(self.b.call_primitive(
                PRIM_MODULE_GET_ATOM_TERM_BY_ID,
                &[JIT_STATE, imm(atom_index.into())],
            )),
        };
        cond_jump_to_label(
            &mut self.b,
            cmp(kept(reg), CmpOp::Ne, Arg::keep(atom)),
            label,
        );
        self.b.free_native_registers(&[r(reg)]);
        self.b.free_native_registers(&[atom]);
        Ok(())
    }

    /// `is_function2`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_is_function2(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_val(cur)?;
        let arity_term = self.decode_typed_compact_term(cur)?;
        let func = h::term_is_boxed_with_tag_and_get_ptr(&mut self.b, label, arg, TERM_BOXED_FUN);
        let arity = h::term_to_int(&mut self.b, arity_term, label)?;
        let module = self.b.get_array_element(kept(func), 1);
        let index_or_module = self.b.get_array_element(kept(func), 2);
        self.b.if_else_block(
            masked(
                kept(index_or_module),
                TERM_IMMED2_TAG_MASK,
                CmpOp::Ne,
                TERM_IMMED2_ATOM,
            ),
            |b| {
                let index = b.shift_right(freed(index_or_module), 4);
                let fun_arity =
                    b.call_primitive(PRIM_MODULE_GET_FUN_ARITY, &[kept(module), freed(index)]);
                cond_jump_to_label(
                    b,
                    cmp_int(freed(fun_arity), CmpOp::Ne, Arg::keep(arity)),
                    label,
                );
            },
            |b| {
                b.free_native_registers(&[r(index_or_module)]);
                let fun_arity = b.get_array_element(kept(func), 3);
                let fun_arity = b.shift_right(freed(fun_arity), 4);
                cond_jump_to_label(
                    b,
                    cmp_int(freed(fun_arity), CmpOp::Ne, Arg::keep(arity)),
                    label,
                );
            },
        );
        self.b.free_native_registers(&[r(func), r(module), arity]);
        Ok(())
    }
}

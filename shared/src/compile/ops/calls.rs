//! Calls, BIFs, returns, and stack frames (allocate, deallocate, test_heap, trim, init_yregs).

use super::*;

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    /// `call`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_call(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_literal(cur)?;
        let label = decode_label(cur)?;
        self.b.call_or_schedule_next(label);
        Ok(())
    }

    /// `call_only`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_call_only(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_literal(cur)?;
        let label = decode_label(cur)?;
        self.tail_call_only(label);
        Ok(())
    }

    /// `bif0`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_bif0(&mut self, cur: &mut Cursor) -> Result<()> {
        let bif = decode_literal(cur)?;
        let func = self
            .b
            .call_primitive(PRIM_GET_IMPORTED_BIF, &[JIT_STATE, uimm(bif)]);
        let dest = decode_dest(&mut self.b, cur)?;
        let result = self.b.call_func_ptr(FuncPtr::Reg(func), &[CTX]);
        self.b.move_to_vm_register(kept(result), dest.into());
        self.b.free_native_registers(&[dest.into(), r(result)]);
        Ok(())
    }

    /// `allocate`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_allocate(&mut self, cur: &mut Cursor) -> Result<()> {
        let stack_need = decode_literal(cur)?;
        let live = decode_literal(cur)?;
        self.allocate(stack_need, 0, live);
        Ok(())
    }

    /// `allocate_heap`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_allocate_heap(&mut self, cur: &mut Cursor) -> Result<()> {
        let stack_need = decode_literal(cur)?;
        let heap_need = decode_allocator_list(&mut self.b, cur)?;
        let live = decode_literal(cur)?;
        self.allocate(stack_need, heap_need, live);
        Ok(())
    }

    /// `test_heap`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_test_heap(&mut self, cur: &mut Cursor) -> Result<()> {
        let heap_need = decode_allocator_list(&mut self.b, cur)?;
        let live = decode_literal(cur)?;
        let result = self.b.call_primitive(
            PRIM_TEST_HEAP,
            &[CTX, JIT_STATE, uimm(heap_need), uimm(live)],
        );
        handle_error_if(&mut self.b, is_false(freed(result)));
        Ok(())
    }

    /// `deallocate`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_deallocate(&mut self, cur: &mut Cursor) -> Result<()> {
        let words = decode_literal(cur)?;
        let result = self
            .b
            .call_primitive(PRIM_DEALLOCATE, &[CTX, JIT_STATE, uimm(words)]);
        handle_error_if(&mut self.b, is_false(freed(result)));
        Ok(())
    }

    /// `trim`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_trim(&mut self, cur: &mut Cursor) -> Result<()> {
        let words = decode_literal_i64(cur)?;
        decode_literal(cur)?;
        self.b.increment_sp(words);
        Ok(())
    }

    /// `init_yregs`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_init_yregs(&mut self, cur: &mut Cursor) -> Result<()> {
        let count = decode_extended_list_header(cur)?;
        for _ in 0..count {
            let dest: Val = decode_dest(&mut self.b, cur)?.into();
            self.b.move_to_vm_register(imm(TERM_NIL), dest);
            self.b.free_native_registers(&[dest]);
        }
        Ok(())
    }

    /// `call_fun`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_call_fun(&mut self, cur: &mut Cursor) -> Result<()> {
        let at = cur.file_offset();
        let args_count = decode_literal(cur)?;
        self.b.decrement_reductions_and_maybe_schedule_next();
        let func = read_any_xreg(&mut self.b, small_u32(args_count, cur)?);
        let _ = at;
        let reg = h::verify_is_function(&mut self.b, func.into())?;
        self.b.call_primitive_with_cp(
            PRIM_CALL_FUN,
            &[CTX, JIT_STATE, OFFSET, freed(reg), uimm(args_count)],
        );
        Ok(())
    }

    /// `call_fun2`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_call_fun2(&mut self, cur: &mut Cursor) -> Result<()> {
        let tag = self.decode_compact_term(cur)?;
        let args_count = decode_literal(cur)?;
        let fun = self.decode_typed_compact_term(cur)?;
        // The tag (a literal 0 or the atom `unsafe`) is ignored.
        let tag: &[Val] = &[tag.val().unwrap_or(Val::Imm(0))];
        self.b.free_native_registers(tag);
        self.b.decrement_reductions_and_maybe_schedule_next();
        let reg = h::verify_is_function(&mut self.b, fun)?;
        self.b.call_primitive_with_cp(
            PRIM_CALL_FUN,
            &[CTX, JIT_STATE, OFFSET, freed(reg), uimm(args_count)],
        );
        Ok(())
    }

    per_instruction! {
        op_apply => lower_apply(opcodes::APPLY);
        op_apply_last => lower_apply(opcodes::APPLY_LAST);
    }

    /// `apply`, `apply_last`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_apply(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let arity = decode_literal(cur)?;
        let words = if op == opcodes::APPLY_LAST {
            Some(decode_literal(cur)?)
        } else {
            None
        };
        let arity32 = small_u32(arity, cur)?;
        let module: Val = read_any_xreg(&mut self.b, arity32).into();
        let function: Val = read_any_xreg(&mut self.b, arity32.saturating_add(1)).into();
        h::verify_is_atom(&mut self.b, module, 0);
        h::verify_is_atom(&mut self.b, function, 0);
        self.b.decrement_reductions_and_maybe_schedule_next();
        let args = [
            CTX,
            JIT_STATE,
            OFFSET,
            Arg::free(module),
            Arg::free(function),
            uimm(arity),
        ];
        match words {
            None => self.b.call_primitive_with_cp(PRIM_APPLY, &args),
            Some(words) => {
                self.b.move_to_cp(Val::Y(small_u32(words, cur)?));
                self.b.increment_sp(words as i64 + 1);
                self.b.call_primitive_last(PRIM_APPLY, &args);
            }
        }
        Ok(())
    }

    per_instruction! {
        op_gc_bif1 => lower_gc_bif(opcodes::GC_BIF1);
        op_gc_bif2 => lower_gc_bif(opcodes::GC_BIF2);
    }

    /// `gc_bif1`, `gc_bif2`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_gc_bif(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let live = decode_literal(cur)?;
        let live = small_u32(live, cur)?;
        let at = cur.file_offset();
        let bif = decode_literal(cur)?;
        let bif = small_u32(bif, cur)?;
        let arg1 = self.decode_typed_compact_term(cur)?;
        let arg2 = if op == opcodes::GC_BIF2 {
            Some(self.decode_typed_compact_term(cur)?)
        } else {
            None
        };
        let dest = decode_dest(&mut self.b, cur)?;
        let import = self
            .env
            .import(bif)
            .ok_or_else(|| Error::invalid(at, "import index", bif.into()))?;
        let expected_arity = if arg2.is_some() { 2 } else { 1 };
        if import.arity != expected_arity {
            return Err(Error::invalid(
                at,
                "gc_bif import arity",
                import.arity.into(),
            ));
        }
        let module = self.atom_name(import.module, at)?;
        let function = self.atom_name(import.function, at)?;
        match arg2 {
            None => crate::compile::arith::op_gc_bif1(
                &mut self.b,
                fail,
                live,
                bif,
                module,
                function,
                arg1,
                dest,
            )?,
            Some(arg2) => crate::compile::arith::op_gc_bif2(
                &mut self.b,
                fail,
                live,
                bif,
                module,
                function,
                arg1,
                arg2,
                dest,
            )?,
        }
        Ok(())
    }

    /// A tail call to `label` (`call_only`, `jump`), shared with an earlier identical one.
    pub(super) fn tail_call_only(&mut self, label: u32) {
        let key = TailCacheKey::CallOnly(label);
        match self.tail_cache_get(key) {
            None => {
                let offset = self.b.offset();
                self.b.call_only_or_schedule_next(label);
                self.tail_cache_put(key, offset);
            }
            Some(offset) => self.b.jump_to_offset(offset),
        }
    }

    per_instruction! {
        op_call_ext => lower_call_ext(ExtCall::Body);
        op_call_ext_last => lower_call_ext(ExtCall::Last);
        op_call_ext_only => lower_call_ext(ExtCall::Only);
    }

    /// `call_ext`, `call_ext_last` and `call_ext_only`: call import `index` through the runtime
    /// (which also deallocates the frame of a last call).
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_call_ext(&mut self, kind: ExtCall, cur: &mut Cursor) -> Result<()> {
        let arity = decode_literal(cur)?;
        let index = decode_literal(cur)?;
        let dealloc = match kind {
            ExtCall::Body => imm(CALL_EXT_NO_DEALLOC_MFA),
            ExtCall::Last => uimm(decode_literal(cur)?),
            ExtCall::Only => imm(CALL_EXT_NO_DEALLOC),
        };
        self.b.decrement_reductions_and_maybe_schedule_next();
        let args = [CTX, JIT_STATE, OFFSET, uimm(arity), uimm(index), dealloc];
        match kind {
            ExtCall::Body => self.b.call_primitive_with_cp(PRIM_CALL_EXT, &args),
            ExtCall::Last | ExtCall::Only => self.b.call_primitive_last(PRIM_CALL_EXT, &args),
        }
        Ok(())
    }

    /// `call_last`: drop the frame and jump (one shared sequence per frame size and label).
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_call_last(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_literal(cur)?;
        let label = decode_label(cur)?;
        let at = cur.file_offset();
        let words = decode_literal(cur)?;
        let words_i = to_i64(words, at)?;
        // A frame too large for a Y register index is refused below before it is ever cached,
        // so such a key can never be found: refusing it first changes nothing.
        let y = u32::try_from(words).map_err(|_| Error::unsupported(at, "words", words))?;
        let key = TailCacheKey::CallLast { words: y, label };
        match self.tail_cache_get(key) {
            Some(offset) => self.b.jump_to_offset(offset),
            None => {
                let offset0 = self.b.offset();
                self.b.move_to_cp(Val::Y(y));
                self.b.increment_sp(words_i + 1);
                self.tail_call_only(label);
                self.tail_cache_put(key, offset0);
            }
        }
        Ok(())
    }

    pub(super) fn allocate(&mut self, stack_need: u64, heap_need: u64, live: u64) {
        let result = self.b.call_primitive(
            PRIM_ALLOCATE,
            &[
                CTX,
                JIT_STATE,
                uimm(stack_need),
                uimm(heap_need),
                uimm(live),
            ],
        );
        handle_error_if(&mut self.b, is_false(freed(result)));
    }

    per_instruction! {
        op_bif1 => lower_bif(opcodes::BIF1);
        op_bif2 => lower_bif(opcodes::BIF2);
        op_bif3 => lower_bif(opcodes::BIF3);
    }

    /// `bif1`, `bif2`, `bif3`: call the BIF through its function pointer (`op` gives the
    /// argument count).
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_bif(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let bif = decode_literal(cur)?;
        let func = self
            .b
            .call_primitive(PRIM_GET_IMPORTED_BIF, &[JIT_STATE, uimm(bif)]);
        let argc = match op {
            opcodes::BIF1 => 1,
            opcodes::BIF2 => 2,
            _ => 3,
        };
        let mut args = [CTX; 5];
        args[1] = imm(fail.into());
        for arg in &mut args[2..2 + argc] {
            *arg = self.decode_free(cur)?;
        }
        let dest = decode_dest(&mut self.b, cur)?;
        let result = self.b.call_func_ptr(FuncPtr::Reg(func), &args[..2 + argc]);
        h::bif_faillabel_test(&mut self.b, fail, result, dest);
        Ok(())
    }

    /// `return`: jump straight to `cp` when it is in this module, else through the runtime.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_return(&mut self) {
        let cp = self.b.move_to_native_register(Val::Cp);
        let module_index = self.b.get_module_index();
        let cp_module = self.b.shift_right(kept(cp), MODULE_INDEX_SHIFT);
        self.b
            .if_block(cmp(freed(cp_module), CmpOp::Eq, freed(module_index)), |b| {
                let cp = b.and_(freed(cp), Val::Imm(CP_OFFSET_MASK));
                let target = b.shift_right(freed(cp), CP_OFFSET_SHIFT);
                b.jump_to_continuation(freed(target));
            });
        self.b.free_native_registers(&[r(cp)]);
        let key = TailCacheKey::Return;
        match self.tail_cache_get(key) {
            None => {
                let offset = self.b.offset();
                self.b.call_primitive_last(PRIM_RETURN, &[CTX, JIT_STATE]);
                self.tail_cache_put(key, offset);
            }
            Some(offset) => self.b.jump_to_offset(offset),
        }
    }

    pub(super) fn trim_live_regs(&mut self, live: u64) {
        let trim = self
            .b
            .call_primitive(PRIM_TRIM_LIVE_REGS, &[CTX, uimm(live)]);
        self.b.free_native_registers(&[r(trim)]);
    }

    /// Trim the live registers, then ensure `heap_words` (freed) of heap keeping the map `src`;
    /// where `src` is after a possible GC.
    pub(super) fn trim_and_ensure_free(
        &mut self,
        src: Val,
        live: u64,
        heap_words: Reg,
        cur: &Cursor,
    ) -> Result<Val> {
        self.trim_live_regs(live);
        let live = small_u32(live, cur)?;
        h::memory_ensure_free_with_extra_root(&mut self.b, src, live, freed(heap_words))
    }

    /// `gc_bif3`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_gc_bif3(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let live = decode_literal(cur)?;
        self.trim_live_regs(live);
        let capped_live = live.min(u64::from(MAX_REG));
        let bif = decode_literal(cur)?;
        let func = self
            .b
            .call_primitive(PRIM_GET_IMPORTED_BIF, &[JIT_STATE, uimm(bif)]);
        let arg1 = self.decode_free(cur)?;
        let arg2 = self.decode_free(cur)?;
        let arg3 = self.decode_free(cur)?;
        let dest = decode_dest(&mut self.b, cur)?;
        let result = self.b.call_func_ptr(
            FuncPtr::Reg(func),
            &[CTX, imm(fail.into()), uimm(capped_live), arg1, arg2, arg3],
        );
        h::bif_faillabel_test(&mut self.b, fail, result, dest);
        Ok(())
    }
}

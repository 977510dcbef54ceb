//! Exceptions: badmatch and friends, raise, catch and try.

use super::*;

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    /// `catch_end`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_catch_end(&mut self, cur: &mut Cursor) -> Result<()> {
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.move_to_vm_register(imm(TERM_NIL), dest);
        self.b.free_native_registers(&[dest]);
        let result = self.b.call_primitive(PRIM_CATCH_END, &[CTX, JIT_STATE]);
        handle_error_if(&mut self.b, is_false(freed(result)));
        Ok(())
    }

    per_instruction! {
        op_badmatch => lower_badmatch_or_case_end(opcodes::BADMATCH);
        op_case_end => lower_badmatch_or_case_end(opcodes::CASE_END);
    }

    /// `badmatch`, `case_end`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_badmatch_or_case_end(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let reason = if op == opcodes::BADMATCH {
            BADMATCH_ATOM
        } else {
            CASE_CLAUSE_ATOM
        };
        let arg = self.decode_free(cur)?;
        self.b.call_primitive_last(
            PRIM_RAISE_ERROR_TUPLE,
            &[CTX, JIT_STATE, OFFSET, imm(reason), arg],
        );
        Ok(())
    }

    per_instruction! {
        op_try_case_end => lower_try_case_end_or_badrecord(opcodes::TRY_CASE_END);
        op_badrecord => lower_try_case_end_or_badrecord(opcodes::BADRECORD);
    }

    /// `try_case_end`, `badrecord`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_try_case_end_or_badrecord(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let reason = if op == opcodes::BADRECORD {
            BADRECORD_ATOM
        } else {
            TRY_CLAUSE_ATOM
        };
        // Unlike badmatch/case_end, the value is not handed over as freeable.
        let arg = self.decode_keep(cur)?;
        self.b.call_primitive_last(
            PRIM_RAISE_ERROR_TUPLE,
            &[CTX, JIT_STATE, OFFSET, imm(reason), arg],
        );
        Ok(())
    }

    /// `if_end`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_if_end(&mut self) -> Result<()> {
        raise_error(&mut self.b, IF_CLAUSE_ATOM);
        Ok(())
    }

    per_instruction! {
        op_try_end => lower_store_nil();
        op_try_case => lower_store_nil();
        op_recv_marker_reserve => lower_store_nil();
    }

    /// `try_end`, `try_case`, `recv_marker_reserve`: each only stores `[]` in its register (the
    /// try's catch slot, or the receive marker).
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_store_nil(&mut self, cur: &mut Cursor) -> Result<()> {
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.move_to_vm_register(imm(TERM_NIL), dest);
        self.b.free_native_registers(&[dest]);
        Ok(())
    }

    /// `raise`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_raise(&mut self, cur: &mut Cursor) -> Result<()> {
        let stacktrace = self.decode_keep(cur)?;
        let value = self.decode_keep(cur)?;
        self.b
            .call_primitive_last(PRIM_RAISE, &[CTX, JIT_STATE, stacktrace, value]);
        Ok(())
    }

    /// `build_stacktrace`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_build_stacktrace(&mut self) -> Result<()> {
        let result = self.b.call_primitive(PRIM_STACKTRACE_BUILD, &[CTX]);
        self.b.move_to_vm_register(kept(result), Val::X(0));
        self.b.free_native_registers(&[r(result)]);
        Ok(())
    }

    /// `raw_raise`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_raw_raise(&mut self) -> Result<()> {
        let class = self.b.move_to_native_register(Val::X(0));
        for (atom, free) in [
            (ERROR_ATOM, false),
            (LOWERCASE_EXIT_ATOM, false),
            (THROW_ATOM, true),
        ] {
            let lhs = if free { freed(class) } else { kept(class) };
            self.b.if_block(cmp(lhs, CmpOp::Eq, imm(atom)), |b| {
                b.call_primitive_last(PRIM_RAW_RAISE, &[CTX, JIT_STATE])
            });
        }
        self.b.move_to_vm_register(imm(BADARG_ATOM), Val::X(0));
        Ok(())
    }

    per_instruction! {
        op_catch => lower_catch_or_try();
        op_try => lower_catch_or_try();
    }

    /// `catch`, `try`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_catch_or_try(&mut self, cur: &mut Cursor) -> Result<()> {
        let dest = decode_dest(&mut self.b, cur)?;
        let label = decode_label(cur)?;
        h::term_from_catch_label(&mut self.b, dest, label);
        Ok(())
    }
}

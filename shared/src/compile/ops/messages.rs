//! Receiving messages: send, loop_rec, remove_message, wait, timeouts, receive markers.

use super::*;

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    /// `send`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_send(&mut self) -> Result<()> {
        let result = self.b.call_primitive(PRIM_SEND, &[CTX, JIT_STATE]);
        handle_error_if(&mut self.b, is_false(freed(result)));
        Ok(())
    }

    /// `remove_message`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_remove_message(&mut self) -> Result<()> {
        let reg = self.b.call_primitive(PRIM_CANCEL_TIMEOUT, &[CTX]);
        self.b.free_native_registers(&[r(reg)]);
        let result = self
            .b
            .call_primitive(PRIM_PROCESS_SIGNAL_MESSAGES, &[CTX, JIT_STATE]);
        self.b.return_if_not_equal_to_ctx(freed(result));
        let reg = self.b.call_primitive(PRIM_MAILBOX_REMOVE_MESSAGE, &[CTX]);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `timeout`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_timeout(&mut self) -> Result<()> {
        let reg = self.b.call_primitive(PRIM_TIMEOUT, &[CTX]);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `loop_rec`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_loop_rec(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let result = self
            .b
            .call_primitive(PRIM_PROCESS_SIGNAL_MESSAGES, &[CTX, JIT_STATE]);
        self.b.return_if_not_equal_to_ctx(freed(result));
        let dest = self.decode_val(cur)?;
        let peek = self.b.call_primitive(PRIM_MAILBOX_PEEK, &[CTX]);
        cond_jump_to_label(&mut self.b, cmp(kept(peek), CmpOp::Eq, imm(0)), label);
        self.b.move_to_vm_register(kept(peek), dest);
        self.b.free_native_registers(&[r(peek), dest]);
        Ok(())
    }

    /// `loop_rec_end`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_loop_rec_end(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let result = self
            .b
            .call_primitive(PRIM_PROCESS_SIGNAL_MESSAGES, &[CTX, JIT_STATE]);
        self.b.return_if_not_equal_to_ctx(freed(result));
        let reg = self.b.call_primitive(PRIM_MAILBOX_NEXT, &[CTX]);
        self.b.free_native_registers(&[r(reg)]);
        self.b.jump_to_label(label);
        Ok(())
    }

    /// `wait`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_wait(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        self.b.set_continuation_to_label(label);
        self.b
            .call_primitive_last(PRIM_SCHEDULE_WAIT_CP, &[CTX, JIT_STATE]);
        Ok(())
    }

    /// `recv_marker_bind`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_recv_marker_bind(&mut self, cur: &mut Cursor) -> Result<()> {
        let a: Val = decode_dest(&mut self.b, cur)?.into();
        let b_: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.free_native_registers(&[a, b_]);
        Ok(())
    }

    per_instruction! {
        op_recv_marker_clear => lower_recv_marker_clear_or_use();
        op_recv_marker_use => lower_recv_marker_clear_or_use();
    }

    /// `recv_marker_clear`, `recv_marker_use`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_recv_marker_clear_or_use(&mut self, cur: &mut Cursor) -> Result<()> {
        let a: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.free_native_registers(&[a]);
        Ok(())
    }

    /// `wait_timeout`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_wait_timeout(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let continuation = self.b.set_continuation_to_offset();
        let timeout = self.decode_free(cur)?;
        self.b.call_primitive_last(
            PRIM_WAIT_TIMEOUT,
            &[CTX, JIT_STATE, timeout, imm(label.into())],
        );
        self.b.add_label(continuation);
        self.b.continuation_entry_point();
        let result = self
            .b
            .call_primitive(PRIM_PROCESS_SIGNAL_MESSAGES, &[CTX, JIT_STATE]);
        self.b.return_if_not_equal_to_ctx(freed(result));
        let flags = self
            .b
            .call_primitive(PRIM_CONTEXT_GET_FLAGS, &[CTX, imm(WAITING_TIMEOUT_EXPIRED)]);
        self.b.if_block(cmp(freed(flags), CmpOp::Eq, imm(0)), |b| {
            b.call_primitive_last(
                PRIM_WAIT_TIMEOUT_TRAP_HANDLER,
                &[CTX, JIT_STATE, imm(label.into())],
            )
        });
        Ok(())
    }
}

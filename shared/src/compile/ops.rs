//! `first_pass`: lowering of each BEAM instruction, in the order and with the exact sequence of
//! backend calls of the reference driver (byte-identical output depends on it).

use alloc::vec::Vec;

use super::backend::{Arg, Backend, CmpOp, FuncPtr, Label, Reg, Val};
use super::common::*;
use super::consts::*;
use super::decode::*;
use super::env::ModuleEnv;
use super::helpers as h;
use super::operand::{AtomOrLabel, Dest, Operand};
use super::{CompileError, CompileErrorKind, Driver, TailCacheKey};
use crate::beam::compact::Cursor;
use crate::beam::opcodes;
use crate::error::{Error, Result};

/// What the dispatcher did with one instruction.
pub(crate) enum Step {
    Continue,
    /// `int_call_end`: the last instruction.
    End,
    /// No lowering for this opcode (the reference has no clause for it either).
    Unsupported,
}

/// `Val` of a register.
const fn r(reg: Reg) -> Val {
    Val::Reg(reg)
}

fn to_i64(v: u64, at: usize) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::unsupported(at, "operand value", v))
}

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    /// Lower every instruction until `int_call_end`.
    pub(crate) fn first_pass(
        &mut self,
        cur: &mut Cursor,
    ) -> core::result::Result<(), CompileError> {
        loop {
            let offset = cur.file_offset();
            let Ok(opcode) = cur.u8() else {
                return Err(self.error(CompileErrorKind::BadEnd, offset, None));
            };
            let step = self.lower(opcode, cur);
            if let Some(e) = self.b.error() {
                return Err(self.error(CompileErrorKind::Backend(e), offset, Some(opcode)));
            }
            match step {
                Ok(Step::Continue) => {}
                Ok(Step::End) => return Ok(()),
                Ok(Step::Unsupported) => {
                    let kind = CompileErrorKind::UnsupportedOpcode(opcode);
                    return Err(self.error(kind, offset, Some(opcode)));
                }
                Err(e) => {
                    return Err(self.error(CompileErrorKind::Operand(e), offset, Some(opcode)))
                }
            }
        }
    }

    fn error(&self, kind: CompileErrorKind, offset: usize, opcode: Option<u8>) -> CompileError {
        CompileError {
            kind,
            offset,
            opcode,
            function: self.current_function,
            label: self.last_label,
            names: super::Names::lookup(self.env, self.current_function),
        }
    }

    /// One instruction (the opcode byte is already read): the one dispatch, with one method per
    /// BEAM instruction (or per family of instructions sharing a lowering, given `op`).
    fn lower(&mut self, op: u8, cur: &mut Cursor) -> Result<Step> {
        match op {
            opcodes::LABEL => self.op_label(cur)?,
            opcodes::FUNC_INFO => self.op_func_info(cur)?,
            opcodes::INT_CODE_END => return self.op_int_code_end(cur),
            opcodes::CALL => self.op_call(cur)?,
            opcodes::CALL_LAST => self.op_call_last(cur)?,
            opcodes::CALL_ONLY => self.op_call_only(cur)?,
            opcodes::CALL_EXT => self.op_call_ext(cur, ExtCall::Body)?,
            opcodes::CALL_EXT_LAST => self.op_call_ext(cur, ExtCall::Last)?,
            opcodes::BIF0 => self.op_bif0(cur)?,
            opcodes::BIF1 | opcodes::BIF2 | opcodes::BIF3 => self.op_bif(op, cur)?,
            opcodes::ALLOCATE => self.op_allocate(cur)?,
            opcodes::ALLOCATE_HEAP => self.op_allocate_heap(cur)?,
            opcodes::TEST_HEAP => self.op_test_heap(cur)?,
            opcodes::DEALLOCATE => self.op_deallocate(cur)?,
            opcodes::RETURN => self.op_return(),
            opcodes::SEND => self.op_send()?,
            opcodes::REMOVE_MESSAGE => self.op_remove_message()?,
            opcodes::TIMEOUT => self.op_timeout()?,
            opcodes::LOOP_REC => self.op_loop_rec(cur)?,
            opcodes::LOOP_REC_END => self.op_loop_rec_end(cur)?,
            opcodes::WAIT => self.op_wait(cur)?,
            opcodes::WAIT_TIMEOUT => self.op_wait_timeout(cur)?,
            opcodes::IS_LT
            | opcodes::IS_EQ
            | opcodes::IS_NE
            | opcodes::IS_EQ_EXACT
            | opcodes::IS_NE_EXACT => self.op_compare(op, cur)?,
            opcodes::IS_ATOM => self.op_is_atom(cur)?,
            opcodes::IS_REFERENCE => self.op_is_reference(cur)?,
            opcodes::IS_BITSTR => self.op_is_boxed_one_of(
                cur,
                &[
                    TERM_BOXED_REFC_BINARY,
                    TERM_BOXED_HEAP_BINARY,
                    TERM_BOXED_SUB_BINARY,
                ],
            )?,
            opcodes::IS_NIL => self.op_is_nil(cur)?,
            opcodes::IS_LIST => self.op_is_list(cur)?,
            opcodes::IS_NONEMPTY_LIST => self.op_is_nonempty_list(cur)?,
            opcodes::IS_BOOLEAN => self.op_is_boolean(cur)?,
            opcodes::IS_TUPLE => self.op_is_tuple(cur)?,
            opcodes::TEST_ARITY => self.op_test_arity(cur)?,
            opcodes::SELECT_VAL => self.op_select_val(cur)?,
            opcodes::SELECT_TUPLE_ARITY => self.op_select_tuple_arity(cur)?,
            opcodes::JUMP => self.op_jump(cur)?,
            opcodes::CATCH_END => self.op_catch_end(cur)?,
            opcodes::MOVE => self.op_move(cur)?,
            opcodes::GET_LIST => self.op_get_list(cur)?,
            opcodes::GET_TUPLE_ELEMENT => self.op_get_tuple_element(cur)?,
            opcodes::SET_TUPLE_ELEMENT => self.op_set_tuple_element(cur)?,
            opcodes::PUT_LIST => self.op_put_list(cur)?,
            opcodes::BADMATCH | opcodes::CASE_END => self.op_badmatch_or_case_end(op, cur)?,
            opcodes::TRY_CASE_END | opcodes::BADRECORD => {
                self.op_try_case_end_or_badrecord(op, cur)?
            }
            opcodes::IF_END => self.op_if_end()?,
            opcodes::CALL_EXT_ONLY => self.op_call_ext(cur, ExtCall::Only)?,
            opcodes::FMOVE => self.op_fmove(cur)?,
            opcodes::FCONV => self.op_fconv(cur)?,
            opcodes::FADD => self.first_pass_float3(PRIM_FADD, cur)?,
            opcodes::FSUB => self.first_pass_float3(PRIM_FSUB, cur)?,
            opcodes::FMUL => self.first_pass_float3(PRIM_FMUL, cur)?,
            opcodes::FDIV => self.first_pass_float3(PRIM_FDIV, cur)?,
            opcodes::FNEGATE => self.op_fnegate(cur)?,
            opcodes::TRY_END | opcodes::TRY_CASE | opcodes::RECV_MARKER_RESERVE => {
                self.op_try_end(cur)?
            }
            opcodes::RAISE => self.op_raise(cur)?,
            opcodes::TRIM => self.op_trim(cur)?,
            opcodes::LINE => self.op_line(cur)?,
            opcodes::BS_INIT_WRITABLE => self.op_bs_init_writable(),
            opcodes::PUT_MAP_ASSOC => self.op_put_map_assoc(cur)?,
            opcodes::HAS_MAP_FIELDS => self.op_has_map_fields(cur)?,
            opcodes::GET_MAP_ELEMENTS => self.op_get_map_elements(cur)?,
            opcodes::IS_TAGGED_TUPLE => self.op_is_tagged_tuple(cur)?,
            opcodes::BUILD_STACKTRACE => self.op_build_stacktrace()?,
            opcodes::RAW_RAISE => self.op_raw_raise()?,
            opcodes::GET_HD | opcodes::GET_TL => self.op_get_hd_or_get_tl(op, cur)?,
            opcodes::PUT_TUPLE2 => self.op_put_tuple2(cur)?,
            opcodes::BS_GET_POSITION => self.op_bs_get_position(cur)?,
            opcodes::SWAP => self.op_swap(cur)?,
            opcodes::MAKE_FUN3 => self.op_make_fun3(cur)?,
            opcodes::INIT_YREGS => self.op_init_yregs(cur)?,
            opcodes::RECV_MARKER_BIND => self.op_recv_marker_bind(cur)?,
            opcodes::RECV_MARKER_CLEAR | opcodes::RECV_MARKER_USE => {
                self.op_recv_marker_clear_or_recv_marker_use(cur)?
            }
            opcodes::UPDATE_RECORD => self.op_update_record(cur)?,
            opcodes::BS_CREATE_BIN => self.op_bs_create_bin(cur)?,
            opcodes::BS_MATCH => self.op_bs_match(cur)?,
            opcodes::BS_GET_TAIL => self.op_bs_get_tail(cur)?,
            opcodes::BS_GET_BINARY2 => self.op_bs_get_binary2(cur)?,
            opcodes::PUT_MAP_EXACT => self.op_put_map_exact(cur)?,
            opcodes::GC_BIF3 => self.op_gc_bif3(cur)?,
            opcodes::CATCH | opcodes::TRY => self.op_catch_or_try(cur)?,
            opcodes::IS_GE => self.op_is_ge(cur)?,
            opcodes::IS_INTEGER => self.op_is_integer(cur)?,
            opcodes::IS_FLOAT | opcodes::IS_FUNCTION | opcodes::IS_MAP => {
                self.op_is_float(op, cur)?
            }
            opcodes::IS_NUMBER => self.op_is_number(cur)?,
            opcodes::IS_PID | opcodes::IS_PORT => self.op_is_pid_or_is_port(op, cur)?,
            opcodes::IS_BINARY => self.op_is_binary(cur)?,
            opcodes::CALL_FUN => self.op_call_fun(cur)?,
            opcodes::CALL_FUN2 => self.op_call_fun2(cur)?,
            opcodes::APPLY | opcodes::APPLY_LAST => self.op_apply_or_apply_last(op, cur)?,
            opcodes::IS_FUNCTION2 => self.op_is_function2(cur)?,
            opcodes::GC_BIF1 | opcodes::GC_BIF2 => self.op_gc_bif1_or_gc_bif2(op, cur)?,
            opcodes::BS_START_MATCH3 => self.op_bs_start_match3(cur)?,
            opcodes::BS_START_MATCH4 => self.op_bs_start_match4(cur)?,
            opcodes::BS_SET_POSITION => self.op_bs_set_position(cur)?,
            opcodes::BS_TEST_TAIL2 => self.op_bs_test_tail2(cur)?,
            opcodes::BS_TEST_UNIT => self.op_bs_test_unit(cur)?,
            opcodes::BS_MATCH_STRING => self.op_bs_match_string(cur)?,
            opcodes::BS_SKIP_BITS2 => self.op_bs_skip_bits2(cur)?,
            opcodes::BS_GET_INTEGER2 | opcodes::BS_GET_FLOAT2 => {
                self.op_bs_get_integer2_or_bs_get_float2(op, cur)?
            }
            opcodes::BS_GET_UTF8
            | opcodes::BS_SKIP_UTF8
            | opcodes::BS_GET_UTF16
            | opcodes::BS_SKIP_UTF16
            | opcodes::BS_GET_UTF32
            | opcodes::BS_SKIP_UTF32 => self.op_bs_get_utf8(op, cur)?,
            _ => return Ok(Step::Unsupported),
        }
        Ok(Step::Continue)
    }

    /// `int_code_end`.
    fn op_int_code_end(&mut self, cur: &mut Cursor) -> Result<Step> {
        if !cur.is_empty() {
            // The reference only accepts int_call_end as the very last byte.
            return Ok(Step::Unsupported);
        }
        let labels_count = self.labels_count;
        self.b.add_label(Label::Num(labels_count));
        self.b
            .call_primitive_last(PRIM_TERMINATE_CONTEXT, &[CTX, JIT_STATE]);
        Ok(Step::End)
    }

    /// `call`.
    fn op_call(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_literal(cur)?;
        let label = decode_label(cur)?;
        self.b.call_or_schedule_next(label);
        Ok(())
    }

    /// `call_only`.
    fn op_call_only(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_literal(cur)?;
        let label = decode_label(cur)?;
        self.tail_call_only(label);
        Ok(())
    }

    /// `bif0`.
    fn op_bif0(&mut self, cur: &mut Cursor) -> Result<()> {
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
    fn op_allocate(&mut self, cur: &mut Cursor) -> Result<()> {
        let stack_need = decode_literal(cur)?;
        let live = decode_literal(cur)?;
        self.allocate(stack_need, 0, live);
        Ok(())
    }

    /// `allocate_heap`.
    fn op_allocate_heap(&mut self, cur: &mut Cursor) -> Result<()> {
        let stack_need = decode_literal(cur)?;
        let heap_need = decode_allocator_list(&mut self.b, cur)?;
        let live = decode_literal(cur)?;
        self.allocate(stack_need, heap_need, live);
        Ok(())
    }

    /// `test_heap`.
    fn op_test_heap(&mut self, cur: &mut Cursor) -> Result<()> {
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
    fn op_deallocate(&mut self, cur: &mut Cursor) -> Result<()> {
        let words = decode_literal(cur)?;
        let result = self
            .b
            .call_primitive(PRIM_DEALLOCATE, &[CTX, JIT_STATE, uimm(words)]);
        handle_error_if(&mut self.b, is_false(freed(result)));
        Ok(())
    }

    /// `send`.
    fn op_send(&mut self) -> Result<()> {
        let result = self.b.call_primitive(PRIM_SEND, &[CTX, JIT_STATE]);
        handle_error_if(&mut self.b, is_false(freed(result)));
        Ok(())
    }

    /// `remove_message`.
    fn op_remove_message(&mut self) -> Result<()> {
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
    fn op_timeout(&mut self) -> Result<()> {
        let reg = self.b.call_primitive(PRIM_TIMEOUT, &[CTX]);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `loop_rec`.
    fn op_loop_rec(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let result = self
            .b
            .call_primitive(PRIM_PROCESS_SIGNAL_MESSAGES, &[CTX, JIT_STATE]);
        self.b.return_if_not_equal_to_ctx(freed(result));
        let dest = self.decode_compact_term(cur)?.val()?;
        let peek = self.b.call_primitive(PRIM_MAILBOX_PEEK, &[CTX]);
        cond_jump_to_label(&mut self.b, cmp(kept(peek), CmpOp::Eq, imm(0)), label);
        self.b.move_to_vm_register(kept(peek), dest);
        self.b.free_native_registers(&[r(peek), dest]);
        Ok(())
    }

    /// `loop_rec_end`.
    fn op_loop_rec_end(&mut self, cur: &mut Cursor) -> Result<()> {
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
    fn op_wait(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        self.b.set_continuation_to_label(label);
        self.b
            .call_primitive_last(PRIM_SCHEDULE_WAIT_CP, &[CTX, JIT_STATE]);
        Ok(())
    }

    /// `is_atom`.
    fn op_is_atom(&mut self, cur: &mut Cursor) -> Result<()> {
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

    /// `is_reference`.
    fn op_is_reference(&mut self, cur: &mut Cursor) -> Result<()> {
        self.op_is_boxed_one_of(cur, &[TERM_BOXED_REF, TERM_BOXED_EXTERNAL_REF])?;
        Ok(())
    }

    /// `is_nil`.
    fn op_is_nil(&mut self, cur: &mut Cursor) -> Result<()> {
        let (label, reg) = self.label_and_native(cur)?;
        cond_jump_to_label(&mut self.b, cmp(kept(reg), CmpOp::Ne, imm(TERM_NIL)), label);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `is_list`.
    fn op_is_list(&mut self, cur: &mut Cursor) -> Result<()> {
        let (label, reg) = self.label_and_native(cur)?;
        let conds = [
            cmp(kept(reg), CmpOp::Ne, imm(TERM_NIL)),
            masked(freed(reg), TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_LIST),
        ];
        cond_jump_to_label_and(&mut self.b, &conds, label);
        Ok(())
    }

    /// `is_nonempty_list`.
    fn op_is_nonempty_list(&mut self, cur: &mut Cursor) -> Result<()> {
        let (label, reg) = self.label_and_native(cur)?;
        let cond = masked(freed(reg), TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_LIST);
        cond_jump_to_label(&mut self.b, cond, label);
        Ok(())
    }

    /// `is_boolean`.
    fn op_is_boolean(&mut self, cur: &mut Cursor) -> Result<()> {
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
    fn op_is_tuple(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?;
        if !self.try_fuse_tuple_ops(cur, arg, label)? {
            h::verify_is_boxed_with_tag(&mut self.b, label, arg.keep()?, TERM_BOXED_TUPLE);
        }
        Ok(())
    }

    /// `test_arity`.
    fn op_test_arity(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?.val()?;
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

    /// `jump`.
    fn op_jump(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        self.tail_call_only(label);
        Ok(())
    }

    /// `catch_end`.
    fn op_catch_end(&mut self, cur: &mut Cursor) -> Result<()> {
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.move_to_vm_register(imm(TERM_NIL), dest);
        self.b.free_native_registers(&[dest]);
        let result = self.b.call_primitive(PRIM_CATCH_END, &[CTX, JIT_STATE]);
        handle_error_if(&mut self.b, is_false(freed(result)));
        Ok(())
    }

    /// `move`.
    fn op_move(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_compact_term(cur)?.val()?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.move_to_vm_register(Arg::keep(src), dest);
        self.b.free_native_registers(&[src, dest]);
        Ok(())
    }

    /// `get_list`.
    fn op_get_list(&mut self, cur: &mut Cursor) -> Result<()> {
        let list = self.decode_compact_term(cur)?.val()?;
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
    fn op_get_tuple_element(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_compact_term(cur)?.val()?;
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
    fn op_set_tuple_element(&mut self, cur: &mut Cursor) -> Result<()> {
        let element = self.decode_compact_term(cur)?.val()?;
        let tuple = self.decode_compact_term(cur)?.val()?;
        let position = decode_literal_i64(cur)?;
        let reg = self.b.move_to_native_register(tuple);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b
            .move_to_array_element(element, reg, Val::Imm(position + 1));
        self.b.free_native_registers(&[element, r(reg)]);
        Ok(())
    }

    /// `put_list`.
    fn op_put_list(&mut self, cur: &mut Cursor) -> Result<()> {
        let head = self.decode_compact_term(cur)?.free()?;
        let tail = self.decode_compact_term(cur)?.free()?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let result = self.b.call_primitive(PRIM_PUT_LIST, &[CTX, head, tail]);
        self.b.move_to_vm_register(kept(result), dest);
        self.b.free_native_registers(&[r(result)]);
        self.b.free_native_registers(&[dest]);
        Ok(())
    }

    /// `badmatch`, `case_end`.
    fn op_badmatch_or_case_end(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let reason = if op == opcodes::BADMATCH {
            BADMATCH_ATOM
        } else {
            CASE_CLAUSE_ATOM
        };
        let arg = self.decode_compact_term(cur)?.free()?;
        self.b.call_primitive_last(
            PRIM_RAISE_ERROR_TUPLE,
            &[CTX, JIT_STATE, OFFSET, imm(reason), arg],
        );
        Ok(())
    }

    /// `try_case_end`, `badrecord`.
    fn op_try_case_end_or_badrecord(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let reason = if op == opcodes::BADRECORD {
            BADRECORD_ATOM
        } else {
            TRY_CLAUSE_ATOM
        };
        // Unlike badmatch/case_end, the value is not handed over as freeable.
        let arg = self.decode_compact_term(cur)?.keep()?;
        self.b.call_primitive_last(
            PRIM_RAISE_ERROR_TUPLE,
            &[CTX, JIT_STATE, OFFSET, imm(reason), arg],
        );
        Ok(())
    }

    /// `if_end`.
    fn op_if_end(&mut self) -> Result<()> {
        raise_error(&mut self.b, IF_CLAUSE_ATOM);
        Ok(())
    }

    /// `fnegate`.
    fn op_fnegate(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_label(cur)?;
        let fp1 = decode_fp_register(cur)?;
        let fp2 = decode_fp_register(cur)?;
        let reg = self
            .b
            .call_primitive(PRIM_FNEGATE, &[CTX, imm(fp1.into()), imm(fp2.into())]);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `try_end`, `try_case`, `recv_marker_reserve`.
    fn op_try_end(&mut self, cur: &mut Cursor) -> Result<()> {
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.move_to_vm_register(imm(TERM_NIL), dest);
        self.b.free_native_registers(&[dest]);
        Ok(())
    }

    /// `raise`.
    fn op_raise(&mut self, cur: &mut Cursor) -> Result<()> {
        let stacktrace = self.decode_compact_term(cur)?.keep()?;
        let value = self.decode_compact_term(cur)?.keep()?;
        self.b
            .call_primitive_last(PRIM_RAISE, &[CTX, JIT_STATE, stacktrace, value]);
        Ok(())
    }

    /// `trim`.
    fn op_trim(&mut self, cur: &mut Cursor) -> Result<()> {
        let words = decode_literal_i64(cur)?;
        decode_literal(cur)?;
        self.b.increment_sp(words);
        Ok(())
    }

    /// `line`.
    fn op_line(&mut self, cur: &mut Cursor) -> Result<()> {
        let at = cur.file_offset();
        let line = decode_literal(cur)?;
        let line = u32::try_from(line).map_err(|_| Error::unsupported(at, "line ref", line))?;
        let offset = self.b.offset() as u32;
        self.line_offsets.push((line, offset));
        Ok(())
    }

    /// `build_stacktrace`.
    fn op_build_stacktrace(&mut self) -> Result<()> {
        let result = self.b.call_primitive(PRIM_STACKTRACE_BUILD, &[CTX]);
        self.b.move_to_vm_register(kept(result), Val::X(0));
        self.b.free_native_registers(&[r(result)]);
        Ok(())
    }

    /// `raw_raise`.
    fn op_raw_raise(&mut self) -> Result<()> {
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

    /// `get_hd`, `get_tl`.
    fn op_get_hd_or_get_tl(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_compact_term(cur)?.val()?;
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

    /// `bs_get_position`.
    fn op_bs_get_position(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_compact_term(cur)?.val()?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        decode_literal(cur)?;
        let reg = self.b.move_to_native_register(src);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b.move_array_element(kept(reg), Val::Imm(2), r(reg));
        let reg = term_from_int_reg(&mut self.b, reg);
        self.b.move_to_vm_register(kept(reg), dest);
        self.b.free_native_registers(&[r(reg), dest]);
        Ok(())
    }

    /// `swap`.
    fn op_swap(&mut self, cur: &mut Cursor) -> Result<()> {
        let a: Val = decode_dest(&mut self.b, cur)?.into();
        let b_: Val = decode_dest(&mut self.b, cur)?.into();
        let reg = self.b.move_to_native_register(a);
        self.b.move_to_vm_register(Arg::keep(b_), a);
        self.b.move_to_vm_register(kept(reg), b_);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `init_yregs`.
    fn op_init_yregs(&mut self, cur: &mut Cursor) -> Result<()> {
        let count = decode_extended_list_header(cur)?;
        for _ in 0..count {
            let dest: Val = decode_dest(&mut self.b, cur)?.into();
            self.b.move_to_vm_register(imm(TERM_NIL), dest);
            self.b.free_native_registers(&[dest]);
        }
        Ok(())
    }

    /// `recv_marker_bind`.
    fn op_recv_marker_bind(&mut self, cur: &mut Cursor) -> Result<()> {
        let a: Val = decode_dest(&mut self.b, cur)?.into();
        let b_: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.free_native_registers(&[a, b_]);
        Ok(())
    }

    /// `recv_marker_clear`, `recv_marker_use`.
    fn op_recv_marker_clear_or_recv_marker_use(&mut self, cur: &mut Cursor) -> Result<()> {
        let a: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.free_native_registers(&[a]);
        Ok(())
    }

    /// `catch`, `try`.
    fn op_catch_or_try(&mut self, cur: &mut Cursor) -> Result<()> {
        let dest = decode_dest(&mut self.b, cur)?;
        let label = decode_label(cur)?;
        h::term_from_catch_label(&mut self.b, dest, label);
        Ok(())
    }

    /// `is_ge`.
    fn op_is_ge(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg1 = self.decode_typed_compact_term(cur)?;
        let arg2 = self.decode_typed_compact_term(cur)?;
        super::arith::op_is_ge(&mut self.b, label, arg1, arg2)?;
        Ok(())
    }

    /// `is_integer`.
    fn op_is_integer(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?.free()?;
        h::verify_is_any_integer(&mut self.b, arg, label);
        Ok(())
    }

    /// `is_float`, `is_function`, `is_map`.
    fn op_is_float(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let tag = match op {
            opcodes::IS_FLOAT => TERM_BOXED_FLOAT,
            opcodes::IS_FUNCTION => TERM_BOXED_FUN,
            _ => TERM_BOXED_MAP,
        };
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?.keep()?;
        h::verify_is_boxed_with_tag(&mut self.b, label, arg, tag);
        Ok(())
    }

    /// `is_number`.
    fn op_is_number(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?.free()?;
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

    /// `is_pid`, `is_port`.
    fn op_is_pid_or_is_port(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let (imm_tag, boxed_tag) = if op == opcodes::IS_PID {
            (TERM_PID_TAG, TERM_BOXED_EXTERNAL_PID)
        } else {
            (TERM_PORT_TAG, TERM_BOXED_EXTERNAL_PORT)
        };
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?.free()?;
        h::verify_is_immediate_or_boxed(&mut self.b, arg, imm_tag, boxed_tag, label);
        Ok(())
    }

    /// `is_binary`.
    fn op_is_binary(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?.val()?;
        h::verify_is_binary(&mut self.b, arg, label);
        self.b.free_native_registers(&[arg]);
        Ok(())
    }

    /// `call_fun`.
    fn op_call_fun(&mut self, cur: &mut Cursor) -> Result<()> {
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
    fn op_call_fun2(&mut self, cur: &mut Cursor) -> Result<()> {
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

    /// `apply`, `apply_last`.
    fn op_apply_or_apply_last(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
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

    /// `gc_bif1`, `gc_bif2`.
    fn op_gc_bif1_or_gc_bif2(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
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
            None => super::arith::op_gc_bif1(
                &mut self.b,
                fail,
                live,
                bif,
                module,
                function,
                arg1,
                dest,
            )?,
            Some(arg2) => super::arith::op_gc_bif2(
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

    /// `bs_start_match3`.
    fn op_bs_start_match3(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_compact_term(cur)?;
        let live = decode_literal(cur)?;
        let dest = decode_dest(&mut self.b, cur)?;
        h::verify_is_binary_or_match_state(&mut self.b, fail, src.val()?);
        self.alloc_match_state(live, src, dest, cur)?;
        Ok(())
    }

    /// `bs_start_match4`.
    fn op_bs_start_match4(&mut self, cur: &mut Cursor) -> Result<()> {
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
    fn op_bs_set_position(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_typed_compact_term(cur)?;
        let pos = self.decode_typed_compact_term(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let pos = h::term_to_int(&mut self.b, pos, 0)?;
        self.b.move_to_array_element(pos, state, Val::Imm(2));
        self.b.free_native_registers(&[pos, r(state)]);
        Ok(())
    }

    /// `bs_test_tail2`.
    fn op_bs_test_tail2(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        let bits = decode_literal(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let bin = self.b.get_array_element(kept(state), 1);
        let offset = self.b.get_array_element(kept(state), 2);
        self.b.free_native_registers(&[r(state)]);
        self.b.add(kept(offset), Val::Imm(bits as i64));
        let size = term_binary_size(&mut self.b, freed(bin));
        self.b.shift_left(kept(size), 3);
        cond_jump_to_label(&mut self.b, cmp(freed(size), CmpOp::Ne, kept(offset)), fail);
        self.b.free_native_registers(&[r(offset)]);
        Ok(())
    }

    /// `bs_test_unit`.
    fn op_bs_test_unit(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        let unit = decode_literal(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let bin = self.b.get_array_element(kept(state), 1);
        let offset = self.b.get_array_element(kept(state), 2);
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
    fn op_bs_match_string(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        let bits = decode_literal(cur)?;
        let offset_in_str = decode_literal(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let bin = self.b.get_array_element(kept(state), 1);
        let offset = self.b.get_array_element(kept(state), 2);
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
        self.b.move_to_array_element(r(offset), state, Val::Imm(2));
        self.b.free_native_registers(&[r(offset), r(state)]);
        Ok(())
    }

    /// `bs_skip_bits2`.
    fn op_bs_skip_bits2(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        let size = self.decode_typed_compact_term(cur)?;
        let unit = decode_literal(cur)?;
        decode_literal(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let num_bits = self.size_times_unit(size, fail, unit)?;
        let bin = self.b.get_array_element(kept(state), 1);
        let offset = self.b.get_array_element(kept(state), 2);
        self.b.add(kept(offset), num_bits);
        self.b.free_native_registers(&[num_bits]);
        let size = term_binary_size(&mut self.b, freed(bin));
        self.b.shift_left(kept(size), 3);
        cond_jump_to_label(&mut self.b, cmp(freed(size), CmpOp::Lt, kept(offset)), fail);
        self.b.move_to_array_element(r(offset), state, Val::Imm(2));
        self.b.free_native_registers(&[r(offset), r(state)]);
        Ok(())
    }

    /// `bs_get_integer2`, `bs_get_float2`.
    fn op_bs_get_integer2_or_bs_get_float2(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_typed_compact_term(cur)?;
        decode_literal(cur)?;
        let size = self.decode_typed_compact_term(cur)?;
        let unit = decode_literal(cur)?;
        let flags = decode_literal(cur)?;
        let state = h::verify_is_match_state_and_get_ptr(&mut self.b, src)?;
        let num_bits = self.size_times_unit(size, fail, unit)?;
        let bin = self.b.get_array_element(kept(state), 1);
        let offset = self.b.get_array_element(kept(state), 2);
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
        self.b.move_to_array_element(r(offset), state, Val::Imm(2));
        self.b.free_native_registers(&[r(offset), r(state)]);
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.move_to_vm_register(kept(result), dest);
        self.b.free_native_registers(&[r(result)]);
        Ok(())
    }

    /// `bs_get_utf8`, `bs_skip_utf8`, `bs_get_utf16`, `bs_skip_utf16`, `bs_get_utf32`, `bs_skip_utf32`.
    fn op_bs_get_utf8(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let src = self.decode_compact_term(cur)?.free()?;
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

    /// `label`: place it.
    fn op_label(&mut self, cur: &mut Cursor) -> Result<()> {
        let at = cur.file_offset();
        let label = decode_literal(cur)?;
        let label = u32::try_from(label).map_err(|_| Error::unsupported(at, "label", label))?;
        // The jump table has an entry for labels 0..=labels_count and no more.
        if label > self.labels_count {
            return Err(Error::invalid(
                at,
                "label beyond the Code header's label count",
                label.into(),
            ));
        }
        self.last_label = Some(label);
        self.b.add_label(Label::Num(label));
        Ok(())
    }

    /// `func_info`: raise `function_clause`; every function shares the first raise sequence.
    fn op_func_info(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_atom(cur)?;
        let function = decode_atom(cur)?;
        let at = cur.file_offset();
        let arity = decode_literal(cur)?;
        let arity = u32::try_from(arity).map_err(|_| Error::unsupported(at, "arity", arity))?;
        self.current_function = Some((function, arity));
        let offset = self.b.offset() as i64;
        let offset_reg = self.b.move_to_native_register(Val::Imm(offset));
        let function_reg = self.b.move_to_native_register(Val::Imm(function.into()));
        let arity_reg = self.b.move_to_native_register(Val::Imm(arity.into()));
        let key = TailCacheKey::RaiseErrorMfa([offset_reg, function_reg, arity_reg]);
        match self.tail_cache_get(key) {
            None => {
                let cache_offset = self.b.offset();
                self.b.call_primitive_last(
                    PRIM_RAISE_ERROR_MFA,
                    &[
                        CTX,
                        JIT_STATE,
                        freed(offset_reg),
                        freed(function_reg),
                        freed(arity_reg),
                    ],
                );
                self.tail_cache_put(key, cache_offset);
            }
            Some(cache_offset) => {
                self.b.jump_to_offset(cache_offset);
                self.b
                    .free_native_registers(&[r(offset_reg), r(function_reg), r(arity_reg)]);
            }
        }
        Ok(())
    }

    /// A tail call to `label` (`call_only`, `jump`), shared with an earlier identical one.
    fn tail_call_only(&mut self, label: u32) {
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

    /// `call_ext`, `call_ext_last` and `call_ext_only`: call import `index` through the runtime
    /// (which also deallocates the frame of a last call).
    fn op_call_ext(&mut self, cur: &mut Cursor, kind: ExtCall) -> Result<()> {
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

    fn op_call_last(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_literal(cur)?;
        let label = decode_label(cur)?;
        let at = cur.file_offset();
        let words = decode_literal(cur)?;
        let words_i = to_i64(words, at)?;
        let key = TailCacheKey::CallLast { words, label };
        match self.tail_cache_get(key) {
            Some(offset) => self.b.jump_to_offset(offset),
            None => {
                let offset0 = self.b.offset();
                let y = u32::try_from(words).map_err(|_| Error::unsupported(at, "words", words))?;
                self.b.move_to_cp(Val::Y(y));
                self.b.increment_sp(words_i + 1);
                self.tail_call_only(label);
                self.tail_cache_put(key, offset0);
            }
        }
        Ok(())
    }

    fn allocate(&mut self, stack_need: u64, heap_need: u64, live: u64) {
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

    fn op_bif(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
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
        let mut args: Vec<Arg> = Vec::with_capacity(5);
        args.push(CTX);
        args.push(imm(fail.into()));
        for _ in 0..argc {
            args.push(self.decode_compact_term(cur)?.free()?);
        }
        let dest = decode_dest(&mut self.b, cur)?;
        let result = self.b.call_func_ptr(FuncPtr::Reg(func), &args);
        h::bif_faillabel_test(&mut self.b, fail, result, dest);
        Ok(())
    }

    fn op_return(&mut self) {
        let cp = self.b.move_to_native_register(Val::Cp);
        let module_index = self.b.get_module_index();
        let cp_module = self.b.shift_right(kept(cp), 24);
        self.b
            .if_block(cmp(freed(cp_module), CmpOp::Eq, freed(module_index)), |b| {
                let cp = b.and_(freed(cp), Val::Imm(0xFF_FFFF));
                let target = b.shift_right(freed(cp), 2);
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

    fn op_wait_timeout(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let continuation = self.b.set_continuation_to_offset();
        let timeout = self.decode_compact_term(cur)?.free()?;
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

    /// `is_lt`, `is_equal`, `is_not_equal`, `is_eq_exact`, `is_ne_exact`.
    fn op_compare(&mut self, op: u8, cur: &mut Cursor) -> Result<()> {
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
    fn label_and_native(&mut self, cur: &mut Cursor) -> Result<(u32, Reg)> {
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?.val()?;
        let reg = self.b.move_to_native_register(arg);
        Ok((label, reg))
    }

    /// `is_reference`, `is_bitstr`: boxed, with a boxed tag among `tags`.
    fn op_is_boxed_one_of(&mut self, cur: &mut Cursor, tags: &[i64]) -> Result<()> {
        let (label, reg) = self.label_and_native(cur)?;
        let cond = masked(kept(reg), TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_BOXED);
        cond_jump_to_label(&mut self.b, cond, label);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b.move_array_element(kept(reg), Val::Imm(0), r(reg));
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_BOXED_TAG_MASK));
        let conds: Vec<_> = tags
            .iter()
            .map(|&t| cmp(kept(reg), CmpOp::Ne, imm(t)))
            .collect();
        cond_jump_to_label_and(&mut self.b, &conds, label);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    fn op_select_val(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_compact_term(cur)?.keep()?;
        let default = decode_label(cur)?;
        let size = decode_extended_list_header(cur)?;
        for _ in 0..size / 2 {
            let value = self.decode_compact_term(cur)?.free()?;
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

    fn op_select_tuple_arity(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_compact_term(cur)?.free()?;
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

    fn op_fmove(&mut self, cur: &mut Cursor) -> Result<()> {
        if cur.peek()? == EXT_FP_REGISTER {
            // From a float register to a term.
            cur.u8()?;
            let fp = decode_literal(cur)?;
            let dest: Val = decode_dest(&mut self.b, cur)?.into();
            let result = self
                .b
                .call_primitive(PRIM_TERM_FROM_FLOAT, &[CTX, uimm(fp)]);
            self.b.move_to_vm_register(kept(result), dest);
            self.b.free_native_registers(&[r(result), dest]);
            return Ok(());
        }
        let src = self.decode_compact_term(cur)?.val()?;
        let fp = decode_fp_register(cur)?;
        let result = self.b.call_primitive(PRIM_CONTEXT_ENSURE_FPREGS, &[CTX]);
        self.b.free_native_registers(&[r(result)]);
        let reg = self.b.move_to_native_register(src);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b
            .move_to_vm_register(Arg::free(Val::PtrOffset(reg, 1)), Val::Fp(fp));
        Ok(())
    }

    fn op_fconv(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_compact_term(cur)?.val()?;
        let reg = self.b.move_to_native_register(src);
        let is_number = self.b.call_primitive(PRIM_TERM_IS_NUMBER, &[kept(reg)]);
        self.b.if_block(is_false(freed(is_number)), |b| {
            raise_error(b, BADARITH_ATOM)
        });
        let fp = decode_fp_register(cur)?;
        let result = self.b.call_primitive(PRIM_CONTEXT_ENSURE_FPREGS, &[CTX]);
        self.b.free_native_registers(&[r(result)]);
        let conv = self
            .b
            .call_primitive(PRIM_TERM_CONV_TO_FLOAT, &[CTX, freed(reg), imm(fp.into())]);
        self.b.free_native_registers(&[r(conv)]);
        Ok(())
    }

    /// `fadd`/`fsub`/`fmul`/`fdiv`: `first_pass_float3`.
    fn first_pass_float3(&mut self, primitive: u32, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let fp1 = decode_fp_register(cur)?;
        let fp2 = decode_fp_register(cur)?;
        let fp3 = decode_fp_register(cur)?;
        let reg = self.b.call_primitive(
            primitive,
            &[CTX, imm(fp1.into()), imm(fp2.into()), imm(fp3.into())],
        );
        if label > 0 {
            cond_jump_to_label(&mut self.b, is_false(kept(reg)), label);
            self.b.free_native_registers(&[r(reg)]);
        } else {
            self.b
                .if_block(is_false(freed(reg)), |b| raise_error(b, BADARITH_ATOM));
        }
        Ok(())
    }

    fn op_bs_init_writable(&mut self) {
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

    /// Raise `out_of_memory` when the map position in `pos` says allocation failed.
    fn raise_if_map_alloc_failed(&mut self, pos: Arg) {
        self.b.if_block(
            cmp_int(pos, CmpOp::Eq, imm(TERM_MAP_MEMORY_ALLOC_FAIL)),
            |b| raise_error(b, OUT_OF_MEMORY_ATOM),
        );
    }

    /// For each key of the `count` key/value pairs at `cur` (values skipped): look it up in the
    /// map `src`, run `on_missing` when it is not there, raise when the lookup could not allocate.
    fn for_each_missing_key(
        &mut self,
        src: Val,
        count: u32,
        cur: &mut Cursor,
        on_missing: impl Fn(&mut B),
    ) -> Result<()> {
        for _ in 0..count {
            let key = self.decode_compact_term(cur)?.free()?;
            skip_compact_term(cur)?;
            let pos = self
                .b
                .call_primitive(PRIM_TERM_FIND_MAP_POS, &[CTX, Arg::keep(src), key]);
            self.b.if_block(
                cmp_int(kept(pos), CmpOp::Eq, imm(TERM_MAP_NOT_FOUND)),
                &on_missing,
            );
            self.raise_if_map_alloc_failed(freed(pos));
        }
        Ok(())
    }

    fn op_put_map_assoc(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_label(cur)?;
        let src = self.decode_compact_term(cur)?.val()?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let live = decode_literal(cur)?;
        let size = decode_extended_list_header(cur)?;
        let new_entries = self.b.move_to_native_register(Val::Imm(0));
        let count = size / 2;
        let pairs_start = cur.clone();
        // First pass over the pairs: count keys that are not in the map yet.
        self.for_each_missing_key(src, count, cur, |b| {
            b.add(kept(new_entries), Val::Imm(1));
        })?;
        let after_pairs = cur.clone();
        let src_size = term_get_map_size(&mut self.b, Arg::keep(src));
        self.b.if_else_block(
            cmp(kept(new_entries), CmpOp::Eq, imm(0)),
            |b| {
                b.add(kept(src_size), Val::Imm(2));
            },
            |b| {
                b.add(kept(src_size), r(new_entries));
                b.shift_left(kept(src_size), 1);
                b.add(kept(src_size), Val::Imm(3));
            },
        );
        let new_src = self.trim_and_ensure_free(src, live, src_size, cur)?;
        let kv = self.b.call_primitive(
            PRIM_MALLOC,
            &[
                CTX,
                JIT_STATE,
                imm(i64::from(size) * i64::from(B::WORD_SIZE)),
            ],
        );
        handle_error_if(&mut self.b, cmp(kept(kv), CmpOp::Eq, imm(0)));
        // Second pass: copy the pairs into the malloc'ed array.
        *cur = pairs_start;
        for index in 0..i64::from(count) {
            let key = self.decode_compact_term(cur)?.val()?;
            let value = self.decode_compact_term(cur)?.val()?;
            self.b.move_to_array_element(key, kv, Val::Imm(index * 2));
            self.b
                .move_to_array_element(value, kv, Val::Imm(index * 2 + 1));
            self.b.free_native_registers(&[key, value]);
        }
        check_pairs_reread(cur, &after_pairs)?;
        let result = self.b.call_primitive(
            PRIM_PUT_MAP_ASSOC,
            &[
                CTX,
                JIT_STATE,
                Arg::free(new_src),
                freed(new_entries),
                imm(count.into()),
                kept(kv),
            ],
        );
        let freed_reg = self.b.call_primitive(PRIM_FREE, &[freed(kv)]);
        self.b.free_native_registers(&[r(freed_reg)]);
        handle_error_if(&mut self.b, cmp(kept(result), CmpOp::Eq, imm(0)));
        self.b.move_to_vm_register(kept(result), dest);
        self.b.free_native_registers(&[r(result), dest]);
        Ok(())
    }

    fn op_put_map_exact(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_label(cur)?;
        let src = self.decode_compact_term(cur)?.val()?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let live = decode_literal(cur)?;
        let size = decode_extended_list_header(cur)?;
        let count = size / 2;
        let pairs_start = cur.clone();
        // Every key must already be in the map.
        self.for_each_missing_key(src, count, cur, |b| raise_error(b, BADARG_ATOM))?;
        let after_pairs = cur.clone();
        let src_size = term_get_map_size(&mut self.b, Arg::keep(src));
        self.b.add(kept(src_size), Val::Imm(2));
        let new_src = self.trim_and_ensure_free(src, live, src_size, cur)?;
        let map = self
            .b
            .call_primitive(PRIM_TERM_COPY_MAP, &[CTX, Arg::keep(new_src)]);
        let map = self.b.and_(freed(map), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        *cur = pairs_start;
        for _ in 0..count {
            let key = self.decode_compact_term(cur)?.val()?;
            let value = self.decode_compact_term(cur)?.val()?;
            let pos = self.b.call_primitive(
                PRIM_TERM_FIND_MAP_POS,
                &[CTX, Arg::keep(new_src), Arg::keep(key)],
            );
            self.raise_if_map_alloc_failed(kept(pos));
            term_set_map_assoc(&mut self.b, map, pos, key, value);
        }
        check_pairs_reread(cur, &after_pairs)?;
        self.b.or_(kept(map), Val::Imm(TERM_PRIMARY_BOXED));
        self.b.move_to_vm_register(kept(map), dest);
        self.b.free_native_registers(&[r(map), dest, new_src]);
        Ok(())
    }

    /// The match state of `bs_start_match3/4`, stored in `dest`.
    fn alloc_match_state(
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

    fn trim_live_regs(&mut self, live: u64) {
        let trim = self
            .b
            .call_primitive(PRIM_TRIM_LIVE_REGS, &[CTX, uimm(live)]);
        self.b.free_native_registers(&[r(trim)]);
    }

    /// Trim the live registers, then ensure `heap_words` (freed) of heap keeping the map `src`;
    /// where `src` is after a possible GC.
    fn trim_and_ensure_free(
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

    /// Look `key` up in `map`, jumping to `label` when it is absent; the position register
    /// (an allocation failure is still to be checked).
    fn find_map_pos_or_jump(&mut self, map: Arg, key: Arg, label: u32) -> Reg {
        let pos = self
            .b
            .call_primitive(PRIM_TERM_FIND_MAP_POS, &[CTX, map, key]);
        let absent = cmp_int(kept(pos), CmpOp::Eq, imm(TERM_MAP_NOT_FOUND));
        cond_jump_to_label(&mut self.b, absent, label);
        pos
    }

    fn op_has_map_fields(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let src = self.decode_compact_term(cur)?.val()?;
        let size = decode_extended_list_header(cur)?;
        let key = self.decode_compact_term(cur)?.free()?;
        let pos = self.find_map_pos_or_jump(Arg::keep(src), key, label);
        self.raise_if_map_alloc_failed(freed(pos));
        for _ in 2..=size {
            let key = self.decode_compact_term(cur)?.val()?;
            let pos = self.find_map_pos_or_jump(Arg::keep(src), Arg::keep(key), label);
            self.raise_if_map_alloc_failed(freed(pos));
            self.b.free_native_registers(&[key]);
        }
        self.b.free_native_registers(&[src]);
        Ok(())
    }

    fn op_get_map_elements(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let src = self.decode_compact_term(cur)?.val()?;
        let size = decode_extended_list_header(cur)?;
        let key = self.decode_compact_term(cur)?.free()?;
        let pos = self.find_map_pos_or_jump(Arg::keep(src), key, label);
        self.raise_if_map_alloc_failed(kept(pos));
        let src_reg = self.b.move_to_native_register(src);
        let map = self
            .b
            .and_(kept(src_reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b.add(kept(map), Val::Imm(i64::from(B::WORD_SIZE) * 2));
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.move_array_element_free_index(map, pos, dest);
        self.b.free_native_registers(&[dest]);
        for _ in 2..=size / 2 {
            let key = self.decode_compact_term(cur)?.val()?;
            let pos = self.find_map_pos_or_jump(kept(src_reg), Arg::keep(key), label);
            self.raise_if_map_alloc_failed(kept(pos));
            self.b.free_native_registers(&[key]);
            let dest: Val = decode_dest(&mut self.b, cur)?.into();
            self.b.move_array_element_free_index(map, pos, dest);
            self.b.free_native_registers(&[dest]);
        }
        self.b.free_native_registers(&[r(map), r(src_reg)]);
        Ok(())
    }

    fn op_is_tagged_tuple(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?.val()?;
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

    fn op_put_tuple2(&mut self, cur: &mut Cursor) -> Result<()> {
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let size = decode_extended_list_header(cur)?;
        let tuple = self
            .b
            .call_primitive(PRIM_TERM_ALLOC_TUPLE, &[CTX, imm(size.into())]);
        let tuple = self.b.and_(freed(tuple), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        for index in 1..=i64::from(size) {
            let element = self.decode_compact_term(cur)?.val()?;
            self.b
                .move_to_array_element(element, tuple, Val::Imm(index));
            self.b.free_native_registers(&[element]);
        }
        self.b.or_(kept(tuple), Val::Imm(TERM_PRIMARY_BOXED));
        self.b.move_to_vm_register(kept(tuple), dest);
        self.b.free_native_registers(&[dest, r(tuple)]);
        Ok(())
    }

    fn op_make_fun3(&mut self, cur: &mut Cursor) -> Result<()> {
        let fun_index = decode_literal(cur)?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let num_free = decode_extended_list_header(cur)?;
        let fun = self.b.call_primitive(
            PRIM_TERM_ALLOC_FUN,
            &[CTX, JIT_STATE, uimm(fun_index), imm(num_free.into())],
        );
        let fun = self.b.and_(freed(fun), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        for index in 3..=i64::from(num_free) + 2 {
            let element = self.decode_compact_term(cur)?.val()?;
            self.b.move_to_array_element(element, fun, Val::Imm(index));
            self.b.free_native_registers(&[element]);
        }
        self.b.or_(kept(fun), Val::Imm(TERM_PRIMARY_BOXED));
        self.b.move_to_vm_register(kept(fun), dest);
        self.b.free_native_registers(&[dest, r(fun)]);
        Ok(())
    }

    fn op_update_record(&mut self, cur: &mut Cursor) -> Result<()> {
        let at = cur.file_offset();
        let hint = decode_atom(cur)?;
        let reuse = self.atom_name(hint, at)? == b"reuse";
        let size = decode_literal(cur)?;
        let src = self.decode_compact_term(cur)?.val()?;
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
            let value = self.decode_compact_term(cur)?.val()?;
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

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    fn op_gc_bif3(&mut self, cur: &mut Cursor) -> Result<()> {
        let fail = decode_label(cur)?;
        let live = decode_literal(cur)?;
        self.trim_live_regs(live);
        let capped_live = live.min(u64::from(MAX_REG));
        let bif = decode_literal(cur)?;
        let func = self
            .b
            .call_primitive(PRIM_GET_IMPORTED_BIF, &[JIT_STATE, uimm(bif)]);
        let arg1 = self.decode_compact_term(cur)?.free()?;
        let arg2 = self.decode_compact_term(cur)?.free()?;
        let arg3 = self.decode_compact_term(cur)?.free()?;
        let dest = decode_dest(&mut self.b, cur)?;
        let result = self.b.call_func_ptr(
            FuncPtr::Reg(func),
            &[CTX, imm(fail.into()), uimm(capped_live), arg1, arg2, arg3],
        );
        h::bif_faillabel_test(&mut self.b, fail, result, dest);
        Ok(())
    }

    /// `Size * Unit` bits: an immediate when the size is known, else computed in the size
    /// register.
    fn size_times_unit(&mut self, size: Operand, fail: u32, unit: u64) -> Result<Val> {
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

    fn op_is_function2(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let arg = self.decode_compact_term(cur)?.val()?;
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

/// The second pass over map pairs must end where the first did.
fn check_pairs_reread(cur: &Cursor, after_pairs: &Cursor) -> Result<()> {
    if cur.pos() != after_pairs.pos() {
        return Err(Error::invalid(
            cur.file_offset(),
            "map pairs decoded differently",
            0,
        ));
    }
    Ok(())
}

/// Which `call_ext*`: a body call returns here; a last call (deallocating its frame) and an
/// only call do not.
#[derive(Clone, Copy)]
enum ExtCall {
    Body,
    Last,
    Only,
}

/// An unsigned bytecode value as an immediate argument (values above `i64::MAX` wrap, as they
/// would in a 64-bit register).
fn uimm(v: u64) -> Arg {
    imm(v as i64)
}

/// A bytecode count that must fit 32 bits.
fn small_u32(v: u64, cur: &Cursor) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::unsupported(cur.file_offset(), "operand value", v))
}

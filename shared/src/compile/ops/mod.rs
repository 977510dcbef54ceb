//! `first_pass`: lowering of each BEAM instruction, in the order and with the exact sequence of
//! backend calls of the reference driver (byte-identical output depends on it).
//!
//! [`Driver::lower`] here is the one dispatch on the opcode; each BEAM instruction has one
//! `op_<instruction>` method, in the file of its family: `calls`, `messages`, `type_tests`,
//! `data`, `exceptions`, `floats`, `maps`, `binaries` (the larger bit-syntax lowerings live in
//! [`super::bs`]). Instructions that share a lowering (`is_lt` … `is_ne_exact`, `fadd` …
//! `fdiv`, `bif1` … `bif3`, the `bs_*_utf*` forms, …) have each their own `op_*` method that
//! calls the family's `lower_*` method with what tells them apart (an opcode, a primitive, a
//! boxed tag); the `op_*` methods are inlined, so the dispatch calls `lower_*` directly. Labels,
//! `func_info`, `line`, `jump` and `int_code_end` stay here with the dispatch.

/// The `op_*` methods of instructions that share a lowering: each entry
/// `op_<instruction> => lower_<family>(arg);` is a method that calls
/// `self.lower_<family>(arg, cur)` (or `self.lower_<family>(cur)` with no argument), inlined, so
/// the dispatch calls the family's lowering directly.
macro_rules! per_instruction {
    ($($name:ident => $lower:ident($($arg:expr)?);)*) => {$(
        #[doc = concat!("`", stringify!($name), "`: [`Self::", stringify!($lower), "`].")]
        #[inline(always)]
        pub(super) fn $name(&mut self, cur: &mut Cursor) -> Result<()> {
            self.$lower($($arg,)? cur)
        }
    )*};
}

mod binaries;
mod calls;
mod data;
mod exceptions;
mod floats;
mod maps;
mod messages;
mod type_tests;

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
    #[cfg_attr(target_os = "none", inline(never))]
    pub(crate) fn first_pass(
        &mut self,
        cur: &mut Cursor,
    ) -> core::result::Result<(), CompileError> {
        loop {
            let offset = cur.file_offset();
            // Through an `Option` (in a register), not a `Result<u8>` (through memory on the
            // device): the error is this loop's own.
            let Some(opcode) = cur.next_byte() else {
                return Err(self.error(CompileErrorKind::BadEnd, offset, None));
            };
            let step = self.lower(opcode, cur);
            if let Some(e) = self.alloc_error {
                return Err(self.error(CompileErrorKind::OutOfMemory(e), offset, Some(opcode)));
            }
            if self.b.has_error() {
                if let Some(e) = self.b.error() {
                    return Err(self.error(CompileErrorKind::Backend(e), offset, Some(opcode)));
                }
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
            kind: kind.lift_out_of_memory(),
            offset,
            opcode,
            function: self.current_function,
            label: self.last_label,
            names: super::Names::lookup(self.env, self.current_function),
        }
    }

    /// One instruction (the opcode byte is already read): the one dispatch, with one `op_*`
    /// method per BEAM instruction, named after it.
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower(&mut self, op: u8, cur: &mut Cursor) -> Result<Step> {
        match op {
            opcodes::LABEL => self.op_label(cur)?,
            opcodes::FUNC_INFO => self.op_func_info(cur)?,
            opcodes::INT_CODE_END => return self.op_int_code_end(cur),
            opcodes::CALL => self.op_call(cur)?,
            opcodes::CALL_LAST => self.op_call_last(cur)?,
            opcodes::CALL_ONLY => self.op_call_only(cur)?,
            opcodes::CALL_EXT => self.op_call_ext(cur)?,
            opcodes::CALL_EXT_LAST => self.op_call_ext_last(cur)?,
            opcodes::BIF0 => self.op_bif0(cur)?,
            opcodes::BIF1 => self.op_bif1(cur)?,
            opcodes::BIF2 => self.op_bif2(cur)?,
            opcodes::BIF3 => self.op_bif3(cur)?,
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
            opcodes::IS_LT => self.op_is_lt(cur)?,
            opcodes::IS_EQ => self.op_is_eq(cur)?,
            opcodes::IS_NE => self.op_is_ne(cur)?,
            opcodes::IS_EQ_EXACT => self.op_is_eq_exact(cur)?,
            opcodes::IS_NE_EXACT => self.op_is_ne_exact(cur)?,
            opcodes::IS_ATOM => self.op_is_atom(cur)?,
            opcodes::IS_REFERENCE => self.op_is_reference(cur)?,
            opcodes::IS_BITSTR => self.op_is_bitstr(cur)?,
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
            opcodes::BADMATCH => self.op_badmatch(cur)?,
            opcodes::CASE_END => self.op_case_end(cur)?,
            opcodes::TRY_CASE_END => self.op_try_case_end(cur)?,
            opcodes::BADRECORD => self.op_badrecord(cur)?,
            opcodes::IF_END => self.op_if_end()?,
            opcodes::CALL_EXT_ONLY => self.op_call_ext_only(cur)?,
            opcodes::FMOVE => self.op_fmove(cur)?,
            opcodes::FCONV => self.op_fconv(cur)?,
            opcodes::FADD => self.op_fadd(cur)?,
            opcodes::FSUB => self.op_fsub(cur)?,
            opcodes::FMUL => self.op_fmul(cur)?,
            opcodes::FDIV => self.op_fdiv(cur)?,
            opcodes::FNEGATE => self.op_fnegate(cur)?,
            opcodes::TRY_END => self.op_try_end(cur)?,
            opcodes::TRY_CASE => self.op_try_case(cur)?,
            opcodes::RECV_MARKER_RESERVE => self.op_recv_marker_reserve(cur)?,
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
            opcodes::GET_HD => self.op_get_hd(cur)?,
            opcodes::GET_TL => self.op_get_tl(cur)?,
            opcodes::PUT_TUPLE2 => self.op_put_tuple2(cur)?,
            opcodes::BS_GET_POSITION => self.op_bs_get_position(cur)?,
            opcodes::SWAP => self.op_swap(cur)?,
            opcodes::MAKE_FUN3 => self.op_make_fun3(cur)?,
            opcodes::INIT_YREGS => self.op_init_yregs(cur)?,
            opcodes::RECV_MARKER_BIND => self.op_recv_marker_bind(cur)?,
            opcodes::RECV_MARKER_CLEAR => self.op_recv_marker_clear(cur)?,
            opcodes::RECV_MARKER_USE => self.op_recv_marker_use(cur)?,
            opcodes::UPDATE_RECORD => self.op_update_record(cur)?,
            opcodes::BS_CREATE_BIN => self.op_bs_create_bin(cur)?,
            opcodes::BS_MATCH => self.op_bs_match(cur)?,
            opcodes::BS_GET_TAIL => self.op_bs_get_tail(cur)?,
            opcodes::BS_GET_BINARY2 => self.op_bs_get_binary2(cur)?,
            opcodes::PUT_MAP_EXACT => self.op_put_map_exact(cur)?,
            opcodes::GC_BIF3 => self.op_gc_bif3(cur)?,
            opcodes::CATCH => self.op_catch(cur)?,
            opcodes::TRY => self.op_try(cur)?,
            opcodes::IS_GE => self.op_is_ge(cur)?,
            opcodes::IS_INTEGER => self.op_is_integer(cur)?,
            opcodes::IS_FLOAT => self.op_is_float(cur)?,
            opcodes::IS_FUNCTION => self.op_is_function(cur)?,
            opcodes::IS_MAP => self.op_is_map(cur)?,
            opcodes::IS_NUMBER => self.op_is_number(cur)?,
            opcodes::IS_PID => self.op_is_pid(cur)?,
            opcodes::IS_PORT => self.op_is_port(cur)?,
            opcodes::IS_BINARY => self.op_is_binary(cur)?,
            opcodes::CALL_FUN => self.op_call_fun(cur)?,
            opcodes::CALL_FUN2 => self.op_call_fun2(cur)?,
            opcodes::APPLY => self.op_apply(cur)?,
            opcodes::APPLY_LAST => self.op_apply_last(cur)?,
            opcodes::IS_FUNCTION2 => self.op_is_function2(cur)?,
            opcodes::GC_BIF1 => self.op_gc_bif1(cur)?,
            opcodes::GC_BIF2 => self.op_gc_bif2(cur)?,
            opcodes::BS_START_MATCH3 => self.op_bs_start_match3(cur)?,
            opcodes::BS_START_MATCH4 => self.op_bs_start_match4(cur)?,
            opcodes::BS_SET_POSITION => self.op_bs_set_position(cur)?,
            opcodes::BS_TEST_TAIL2 => self.op_bs_test_tail2(cur)?,
            opcodes::BS_TEST_UNIT => self.op_bs_test_unit(cur)?,
            opcodes::BS_MATCH_STRING => self.op_bs_match_string(cur)?,
            opcodes::BS_SKIP_BITS2 => self.op_bs_skip_bits2(cur)?,
            opcodes::BS_GET_INTEGER2 => self.op_bs_get_integer2(cur)?,
            opcodes::BS_GET_FLOAT2 => self.op_bs_get_float2(cur)?,
            opcodes::BS_GET_UTF8 => self.op_bs_get_utf8(cur)?,
            opcodes::BS_SKIP_UTF8 => self.op_bs_skip_utf8(cur)?,
            opcodes::BS_GET_UTF16 => self.op_bs_get_utf16(cur)?,
            opcodes::BS_SKIP_UTF16 => self.op_bs_skip_utf16(cur)?,
            opcodes::BS_GET_UTF32 => self.op_bs_get_utf32(cur)?,
            opcodes::BS_SKIP_UTF32 => self.op_bs_skip_utf32(cur)?,
            _ => return Ok(Step::Unsupported),
        }
        Ok(Step::Continue)
    }

    /// `int_code_end`.
    #[cfg_attr(target_os = "none", inline(never))]
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

    /// `jump`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn op_jump(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        self.tail_call_only(label);
        Ok(())
    }

    /// `line`.
    #[cfg_attr(target_os = "none", inline(never))]
    fn op_line(&mut self, cur: &mut Cursor) -> Result<()> {
        let at = cur.file_offset();
        let line = decode_literal(cur)?;
        let line = u32::try_from(line).map_err(|_| Error::unsupported(at, "line ref", line))?;
        let offset = self.b.offset() as u32;
        self.lines
            .push(line, offset)
            .map_err(|e| Error::out_of_memory(e, Some(at)))?;
        Ok(())
    }

    /// `label`: place it.
    #[cfg_attr(target_os = "none", inline(never))]
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
    #[cfg_attr(target_os = "none", inline(never))]
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

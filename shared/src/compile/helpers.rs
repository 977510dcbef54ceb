// Contents (driver-2): Test + cond constructors, cond_jump_to_label, handle_error_if,
// cond_raise_badarg(_or_jump_to_fail_label), term_to_int, bif_faillabel_test,
// memory_ensure_free_with_extra_root, term_alloc_bin_match_state, term_from_catch_label,
// term_is_boxed_with_tag_and_get_ptr, verify_* (all), term_get_tuple_arity, term_get_map_size,
// term_get_map_keys, term_binary_heap_size(_imm), term_binary_size, term_set_map_assoc,
// term_put_tuple_element, unwrap_typed.
//! Small code-generation helpers shared by many instructions: type checks on terms, conditional
//! raises and jumps, and accessors for boxed terms (tuples, maps, binaries).
//!
//! Each follows the reference driver's helper of the same name call for call, so that the
//! backend sees the same sequence of requests and allocates the same registers.

use super::backend::{Arg, Backend, Cast, CmpOp, Cond, Reg, Val};
use super::consts::*;
use super::operand::{Dest, Operand};
use crate::beam::JitType;
use crate::error::{Error, Result};

/// A condition as the helpers take it: one comparison, or a conjunction (`{'and', Conds}`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Test<'a> {
    One(Cond),
    And(&'a [Cond]),
}

impl From<Cond> for Test<'_> {
    fn from(cond: Cond) -> Self {
        Test::One(cond)
    }
}

impl<'a> From<&'a [Cond]> for Test<'a> {
    fn from(conds: &'a [Cond]) -> Self {
        Test::And(conds)
    }
}

/// `{Lhs, Op, Rhs}` on whole words.
pub(crate) fn cmp(lhs: impl Into<Arg>, op: CmpOp, rhs: impl Into<Arg>) -> Cond {
    Cond::Cmp {
        cast: Cast::Word,
        lhs: lhs.into(),
        op,
        rhs: rhs.into(),
    }
}

/// `{'(int)', Lhs, Op, Rhs}`.
pub(crate) fn int_cmp(lhs: impl Into<Arg>, op: CmpOp, rhs: impl Into<Arg>) -> Cond {
    Cond::Cmp {
        cast: Cast::Int,
        lhs: lhs.into(),
        op,
        rhs: rhs.into(),
    }
}

/// `{'(bool)', Lhs, '==', false}`.
pub(crate) fn is_false(lhs: impl Into<Arg>) -> Cond {
    Cond::Cmp {
        cast: Cast::Bool,
        lhs: lhs.into(),
        op: CmpOp::Eq,
        rhs: Arg::keep(Val::Imm(0)),
    }
}

/// `{Lhs, '&', Mask, Op, Value}`.
pub(crate) fn masked(lhs: impl Into<Arg>, mask: i64, op: CmpOp, value: i64) -> Cond {
    Cond::Mask {
        lhs: lhs.into(),
        mask,
        op,
        value,
    }
}

/// A kept immediate argument.
pub(crate) const fn imm(v: i64) -> Arg {
    Arg::keep(Val::Imm(v))
}

/// A freed register argument (`{free, Reg}`).
pub(crate) const fn freed(reg: Reg) -> Arg {
    Arg::free(Val::Reg(reg))
}

const CTX: Arg = Arg::keep(Val::Ctx);
const JIT_STATE: Arg = Arg::keep(Val::JitState);
const OFFSET: Arg = Arg::keep(Val::Offset);

/// An error for a shape of operands the reference cannot lower either (it would crash).
pub(crate) fn unsupported(what: &'static str) -> Error {
    Error::unsupported(0, what, 0)
}

/// `if_block` on one condition or a conjunction.
pub(crate) fn if_test<'a, B: Backend>(b: &mut B, test: impl Into<Test<'a>>, body: impl FnOnce(&mut B)) {
    match test.into() {
        Test::One(cond) => b.if_block(cond, body),
        Test::And(conds) => b.if_block_and(conds, body),
    }
}

/// `if_block` whose body can fail: the body's error comes out after the block is closed.
pub(crate) fn if_test_try<'a, B: Backend>(
    b: &mut B,
    test: impl Into<Test<'a>>,
    body: impl FnOnce(&mut B) -> Result<()>,
) -> Result<()> {
    let mut outcome = Ok(());
    if_test(b, test, |b| outcome = body(b));
    outcome
}

pub(crate) fn cond_jump_to_label<'a, B: Backend>(b: &mut B, test: impl Into<Test<'a>>, label: u32) {
    if_test(b, test, |b| b.jump_to_label(label));
}

pub(crate) fn handle_error_if<'a, B: Backend>(b: &mut B, test: impl Into<Test<'a>>) {
    if_test(b, test, |b| {
        b.call_primitive_last(PRIM_HANDLE_ERROR, &[CTX, JIT_STATE, OFFSET])
    });
}

pub(crate) fn cond_raise_badarg<'a, B: Backend>(b: &mut B, test: impl Into<Test<'a>>) {
    if_test(b, test, |b| {
        b.call_primitive_last(PRIM_RAISE_ERROR, &[CTX, JIT_STATE, OFFSET, imm(BADARG_ATOM)])
    });
}

/// Raise badarg when `fail` is 0, jump to `fail` otherwise.
pub(crate) fn cond_raise_badarg_or_jump_to_fail_label<'a, B: Backend>(
    b: &mut B,
    test: impl Into<Test<'a>>,
    fail: u32,
) {
    if fail == 0 {
        cond_raise_badarg(b, test);
    } else {
        cond_jump_to_label(b, test, fail);
    }
}

/// The untagged integer value of a term: an immediate when known at compile time, else a
/// register (checked to hold a small integer unless the type says so).
pub(crate) fn term_to_int<B: Backend>(b: &mut B, term: Operand, fail: u32) -> Result<Val> {
    match term {
        Operand::Imm(v) => Ok(Val::Imm(v >> 4)),
        Operand::Literal(v) => Ok(Val::Imm(
            i64::try_from(v).map_err(|_| unsupported("literal too large"))?,
        )),
        Operand::Typed(dest, JitType::Integer { .. }) => {
            let reg = b.move_to_native_register(dest.into());
            Ok(Val::Reg(b.shift_right(freed(reg), 4)))
        }
        Operand::Typed(dest, _) => term_to_int(b, dest.into(), fail),
        other => {
            let reg = b.move_to_native_register(other.val()?);
            cond_raise_badarg_or_jump_to_fail_label(
                b,
                masked(reg, TERM_IMMED_TAG_MASK, CmpOp::Ne, TERM_INTEGER_TAG),
                fail,
            );
            Ok(Val::Reg(b.shift_right(freed(reg), 4)))
        }
    }
}

/// After a BIF call: jump to `fail` (or handle the error when 0) if it returned 0, else store
/// the result.
pub(crate) fn bif_faillabel_test<B: Backend>(b: &mut B, fail: u32, result: Reg, dest: Dest) {
    if fail > 0 {
        cond_jump_to_label(b, cmp(result, CmpOp::Eq, imm(0)), fail);
    } else {
        handle_error_if(b, cmp(result, CmpOp::Eq, imm(0)));
    }
    b.move_to_vm_register(Arg::keep(Val::Reg(result)), dest.into());
    b.free_native_registers(&[Val::Reg(result), dest.into()]);
}

/// The x register that holds an extra GC root while `live` registers are live.
fn extra_root_xreg(live: u32) -> Val {
    if live < MAX_REG {
        Val::X(live)
    } else {
        Val::XExtra
    }
}

/// Ensure `size` free heap words while keeping `extra_root` alive across a possible GC; returns
/// where the (possibly moved) root now is.
pub(crate) fn memory_ensure_free_with_extra_root<B: Backend>(
    b: &mut B,
    extra_root: Operand,
    live: u32,
    size: Arg,
) -> Result<Operand> {
    let ensure_free = |b: &mut B, roots: u32| {
        let ok = b.call_primitive(
            PRIM_MEMORY_ENSURE_FREE_WITH_ROOTS,
            &[CTX, JIT_STATE, size, imm(i64::from(roots)), imm(MEMORY_CAN_SHRINK)],
        );
        handle_error_if(b, is_false(freed(ok)));
    };
    match extra_root {
        // Already a root.
        Operand::X(n) if n < live => {
            ensure_free(b, live);
            Ok(extra_root)
        }
        Operand::Reg(reg) => {
            let xreg = extra_root_xreg(live);
            b.move_to_vm_register(Arg::keep(Val::Reg(reg)), xreg);
            b.free_native_registers(&[Val::Reg(reg)]);
            ensure_free(b, live + 1);
            Ok(Operand::Reg(b.move_to_native_register(xreg)))
        }
        Operand::X(_) | Operand::Y(_) | Operand::Ptr(_) => {
            let xreg = extra_root_xreg(live);
            let root = extra_root.val()?;
            b.move_to_vm_register(Arg::keep(root), xreg);
            ensure_free(b, live + 1);
            b.move_to_vm_register(Arg::keep(xreg), root);
            Ok(extra_root)
        }
        _ => Err(unsupported("extra GC root operand")),
    }
}

/// Allocate a match state for `src` into `dest`; returns where `src` is after a possible GC.
pub(crate) fn term_alloc_bin_match_state<B: Backend>(
    b: &mut B,
    live: u32,
    src: Operand,
    dest: Dest,
) -> Result<Operand> {
    let trim = b.call_primitive(PRIM_TRIM_LIVE_REGS, &[CTX, imm(i64::from(live))]);
    b.free_native_registers(&[Val::Reg(trim)]);
    let new_src =
        memory_ensure_free_with_extra_root(b, src, live, imm(TERM_BOXED_BIN_MATCH_STATE_SIZE))?;
    let state = b.call_primitive(
        PRIM_TERM_ALLOC_BIN_MATCH_STATE,
        &[CTX, Arg::keep(new_src.val()?), imm(0)],
    );
    b.move_to_vm_register(Arg::keep(Val::Reg(state)), dest.into());
    b.free_native_registers(&[Val::Reg(state)]);
    Ok(new_src)
}

/// Store the catch term for `label` of this module into `dest`.
pub(crate) fn term_from_catch_label<B: Backend>(b: &mut B, dest: Dest, label: u32) {
    let reg = b.get_module_index();
    b.shift_left(Arg::keep(Val::Reg(reg)), 24);
    b.or_(
        Arg::keep(Val::Reg(reg)),
        Val::Imm((i64::from(label) << TERM_IMMED2_TAG_SIZE) | TERM_IMMED2_CATCH),
    );
    b.move_to_vm_register(Arg::keep(Val::Reg(reg)), dest.into());
    b.free_native_registers(&[Val::Reg(reg), dest.into()]);
}

/// Jump to `label` unless `arg1` is boxed with `boxed_tag`; returns the untagged pointer.
pub(crate) fn term_is_boxed_with_tag_and_get_ptr<B: Backend>(
    b: &mut B,
    label: u32,
    arg1: Val,
    boxed_tag: i64,
) -> Reg {
    let reg = b.move_to_native_register(arg1);
    cond_jump_to_label(
        b,
        masked(reg, TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_BOXED),
        label,
    );
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    let box_tag = b.get_array_element(Arg::keep(Val::Reg(reg)), 0);
    cond_jump_to_label(
        b,
        masked(freed(box_tag), TERM_BOXED_TAG_MASK, CmpOp::Ne, boxed_tag),
        label,
    );
    reg
}

/// Raise `{badfun, Func}` unless `func` is a fun; returns the register holding it.
pub(crate) fn verify_is_function<B: Backend>(b: &mut B, func: Operand) -> Result<Reg> {
    match func {
        Operand::Typed(dest, JitType::Fun) => Ok(b.move_to_native_register(dest.into())),
        Operand::Typed(dest, JitType::Any) => verify_is_function(b, dest.into()),
        Operand::Typed(dest, _) => {
            let reg = b.move_to_native_register(dest.into());
            b.call_primitive_last(
                PRIM_RAISE_ERROR_TUPLE,
                &[CTX, JIT_STATE, OFFSET, imm(BADFUN_ATOM), Arg::keep(Val::Reg(reg))],
            );
            Ok(reg)
        }
        other => {
            let reg = b.move_to_native_register(other.val()?);
            let raise = |b: &mut B| {
                b.call_primitive_last(
                    PRIM_RAISE_ERROR_TUPLE,
                    &[CTX, JIT_STATE, OFFSET, imm(BADFUN_ATOM), Arg::keep(Val::Reg(reg))],
                )
            };
            b.if_block(
                masked(reg, TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_BOXED),
                raise,
            );
            let boxed_ptr = b.and_(Arg::keep(Val::Reg(reg)), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
            b.move_array_element(
                Arg::keep(Val::Reg(boxed_ptr)),
                Val::Imm(0),
                Val::Reg(boxed_ptr),
            );
            b.if_block(
                masked(boxed_ptr, TERM_BOXED_TAG_MASK, CmpOp::Ne, TERM_BOXED_FUN),
                raise,
            );
            b.free_native_registers(&[Val::Reg(boxed_ptr)]);
            Ok(reg)
        }
    }
}

/// The boxed tag of a copy of `src`, in a fresh register (shared by the binary checks).
fn boxed_tag_of_copy<B: Backend>(b: &mut B, src: Val, fail: u32) -> Reg {
    let reg = b.copy_to_native_register(src);
    verify_is_boxed(b, reg, fail);
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(Arg::keep(Val::Reg(reg)), Val::Imm(0), Val::Reg(reg));
    b.and_(freed(reg), Val::Imm(TERM_BOXED_TAG_MASK))
}

pub(crate) fn verify_is_binary_or_match_state<B: Backend>(b: &mut B, label: u32, src: Val) {
    let reg = boxed_tag_of_copy(b, src, label);
    let conds = [
        cmp(reg, CmpOp::Ne, imm(TERM_BOXED_REFC_BINARY)),
        cmp(reg, CmpOp::Ne, imm(TERM_BOXED_HEAP_BINARY)),
        cmp(reg, CmpOp::Ne, imm(TERM_BOXED_SUB_BINARY)),
        cmp(reg, CmpOp::Ne, imm(TERM_BOXED_BIN_MATCH_STATE)),
    ];
    cond_raise_badarg_or_jump_to_fail_label(b, &conds[..], label);
    b.free_native_registers(&[Val::Reg(reg)]);
}

pub(crate) fn verify_is_boxed_with_tag<B: Backend>(b: &mut B, label: u32, arg1: Arg, boxed_tag: i64) {
    verify_is_boxed_with_tag_mask(b, label, arg1, TERM_BOXED_TAG_MASK, boxed_tag);
}

/// `verify_is_boxed_with_tag/6`: a freed register is checked in place, anything else on a copy.
pub(crate) fn verify_is_boxed_with_tag_mask<B: Backend>(
    b: &mut B,
    label: u32,
    arg1: Arg,
    boxed_mask: i64,
    boxed_tag: i64,
) {
    let reg = match arg1 {
        Arg {
            val: Val::Reg(reg),
            free: true,
        } => reg,
        _ => b.copy_to_native_register(arg1.val),
    };
    verify_is_boxed(b, reg, label);
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(Arg::keep(Val::Reg(reg)), Val::Imm(0), Val::Reg(reg));
    cond_raise_badarg_or_jump_to_fail_label(
        b,
        masked(freed(reg), boxed_mask, CmpOp::Ne, boxed_tag),
        label,
    );
}

/// Raise badarg (fail 0) or jump to `fail` unless `reg` holds a boxed term.
pub(crate) fn verify_is_boxed<B: Backend>(b: &mut B, reg: Reg, fail: u32) {
    cond_raise_badarg_or_jump_to_fail_label(
        b,
        masked(reg, TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_BOXED),
        fail,
    );
}

/// Check that `src` is a match state (raising badarg otherwise); returns its untagged pointer.
pub(crate) fn verify_is_match_state_and_get_ptr<B: Backend>(b: &mut B, src: Operand) -> Result<Reg> {
    match src {
        // Known to be boxed: only the header needs checking.
        Operand::Typed(dest, JitType::BsMatchable { .. }) => {
            let reg = b.move_to_native_register(dest.into());
            Ok(verify_is_match_state_and_get_ptr0(b, reg))
        }
        Operand::Typed(dest, _) => verify_is_match_state_and_get_ptr(b, dest.into()),
        other => {
            let reg = b.move_to_native_register(other.val()?);
            verify_is_boxed(b, reg, 0);
            Ok(verify_is_match_state_and_get_ptr0(b, reg))
        }
    }
}

fn verify_is_match_state_and_get_ptr0<B: Backend>(b: &mut B, reg: Reg) -> Reg {
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    let box_tag = b.get_array_element(Arg::keep(Val::Reg(reg)), 0);
    cond_raise_badarg(
        b,
        masked(
            freed(box_tag),
            TERM_BOXED_TAG_MASK,
            CmpOp::Ne,
            TERM_BOXED_BIN_MATCH_STATE,
        ),
    );
    reg
}

pub(crate) fn verify_is_immediate<B: Backend>(b: &mut B, arg1: Val, immediate_tag: i64, fail: u32) {
    verify_is_immediate_mask(b, arg1, TERM_IMMED_TAG_MASK, immediate_tag, fail);
}

/// `verify_is_immediate/6`: nothing to emit for an immediate known to have the tag.
pub(crate) fn verify_is_immediate_mask<B: Backend>(
    b: &mut B,
    arg1: Val,
    immediate_mask: i64,
    immediate_tag: i64,
    fail: u32,
) {
    if let Val::Imm(v) = arg1 {
        if v & immediate_mask == immediate_tag {
            return;
        }
    }
    let reg = b.copy_to_native_register(arg1);
    let cond = masked(freed(reg), immediate_mask, CmpOp::Ne, immediate_tag);
    if fail == 0 {
        cond_raise_badarg(b, cond);
    } else {
        cond_jump_to_label(b, cond, fail);
    }
}

pub(crate) fn verify_is_integer<B: Backend>(b: &mut B, arg1: Val, fail: u32) {
    verify_is_immediate(b, arg1, TERM_INTEGER_TAG, fail);
}

pub(crate) fn verify_is_atom<B: Backend>(b: &mut B, arg1: Val, fail: u32) {
    verify_is_immediate_mask(b, arg1, TERM_IMMED2_TAG_MASK, TERM_IMMED2_ATOM, fail);
}

pub(crate) fn verify_is_immediate_or_boxed<B: Backend>(
    b: &mut B,
    arg1: Arg,
    immediate_tag: i64,
    boxed_tag: i64,
    fail: u32,
) {
    verify_is_immediate_or_boxed_mask(b, arg1, immediate_tag, TERM_BOXED_TAG_MASK, boxed_tag, fail);
}

/// `verify_is_immediate_or_boxed/7`: `arg1` may be freed (`{free, Arg}`), in which case it is
/// moved rather than copied.
pub(crate) fn verify_is_immediate_or_boxed_mask<B: Backend>(
    b: &mut B,
    arg1: Arg,
    immediate_tag: i64,
    boxed_mask: i64,
    boxed_tag: i64,
    fail: u32,
) {
    if let Val::Imm(v) = arg1.val {
        if v & TERM_IMMED_TAG_MASK == immediate_tag {
            return;
        }
    }
    let reg = if arg1.free {
        b.move_to_native_register(arg1.val)
    } else {
        b.copy_to_native_register(arg1.val)
    };
    b.if_block(
        masked(reg, TERM_IMMED_TAG_MASK, CmpOp::Ne, immediate_tag),
        |b| verify_is_boxed_with_tag_mask(b, fail, freed(reg), boxed_mask, boxed_tag),
    );
    b.free_native_registers(&[Val::Reg(reg)]);
}

/// Small or big integer.
pub(crate) fn verify_is_any_integer<B: Backend>(b: &mut B, arg1: Arg, fail: u32) {
    verify_is_immediate_or_boxed_mask(
        b,
        arg1,
        TERM_INTEGER_TAG,
        TERM_BOXED_TAG_MASK_NO_SIGN,
        TERM_BOXED_POSITIVE_INTEGER,
        fail,
    );
}

pub(crate) fn verify_is_number<B: Backend>(b: &mut B, arg1: Val, fail: u32) {
    let reg = b.copy_to_native_register(arg1);
    let is_number = b.call_primitive(PRIM_TERM_IS_NUMBER, &[freed(reg)]);
    cond_raise_badarg_or_jump_to_fail_label(b, is_false(freed(is_number)), fail);
}

/// Jump to `fail` (or raise badarg when 0) unless `arg1` is a binary.
pub(crate) fn verify_is_binary<B: Backend>(b: &mut B, arg1: Val, fail: u32) {
    let reg = boxed_tag_of_copy(b, arg1, fail);
    let conds = [
        cmp(reg, CmpOp::Ne, imm(TERM_BOXED_REFC_BINARY)),
        cmp(reg, CmpOp::Ne, imm(TERM_BOXED_HEAP_BINARY)),
        cmp(reg, CmpOp::Ne, imm(TERM_BOXED_SUB_BINARY)),
    ];
    cond_raise_badarg_or_jump_to_fail_label(b, &conds[..], fail);
    b.free_native_registers(&[Val::Reg(reg)]);
}

/// `{typed, Arg, _}` -> `Arg`.
pub(crate) fn unwrap_typed(arg: Operand) -> Operand {
    arg.untyped()
}

/// The arity of a tuple, in a register. A freed argument is consumed, any other is copied.
pub(crate) fn term_get_tuple_arity<B: Backend>(b: &mut B, tuple: Arg) -> Reg {
    let reg = if tuple.free {
        b.move_to_native_register(tuple.val)
    } else {
        b.copy_to_native_register(tuple.val)
    };
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(Arg::keep(Val::Reg(reg)), Val::Imm(0), Val::Reg(reg));
    b.shift_right(freed(reg), 6)
}

/// The number of entries of a map (the arity of its keys tuple).
pub(crate) fn term_get_map_size<B: Backend>(b: &mut B, map: Arg) -> Reg {
    let keys = term_get_map_keys(b, map);
    term_get_tuple_arity(b, freed(keys))
}

/// The keys tuple of a map, in a register.
pub(crate) fn term_get_map_keys<B: Backend>(b: &mut B, map: Arg) -> Reg {
    let reg = if map.free {
        b.move_to_native_register(map.val)
    } else {
        b.copy_to_native_register(map.val)
    };
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(Arg::keep(Val::Reg(reg)), Val::Imm(1), Val::Reg(reg));
    reg
}

/// Heap words of a binary of `size` bytes known at compile time (`term_binary_heap_size/2`).
pub(crate) const fn term_binary_heap_size_imm(size: i64, word_size: u32) -> i64 {
    if word_size == 4 && size < REFC_BINARY_MIN_32 {
        ((size + 3) >> 2) + 1 + BINARY_HEADER_SIZE
    } else if word_size == 8 && size < REFC_BINARY_MIN_64 {
        ((size + 7) >> 3) + 1 + BINARY_HEADER_SIZE
    } else {
        TERM_BOXED_REFC_BINARY_SIZE
    }
}

/// `term_binary_heap_size/3`: for an immediate, the compile-time value; for a register (which
/// is consumed and reused), code computing it. The run-time refc size deliberately matches the
/// reference (header words included), which differs from the compile-time one.
pub(crate) fn term_binary_heap_size<B: Backend>(b: &mut B, size: Arg) -> Result<Val> {
    match size.val {
        Val::Imm(v) => Ok(Val::Imm(term_binary_heap_size_imm(v, B::WORD_SIZE))),
        Val::Reg(reg) => {
            let (min, round, shift) = if B::WORD_SIZE == 4 {
                (REFC_BINARY_MIN_32, 3, 2)
            } else {
                (REFC_BINARY_MIN_64, 7, 3)
            };
            b.if_else_block(
                cmp(reg, CmpOp::Lt, imm(min)),
                |b| {
                    b.add(Arg::keep(Val::Reg(reg)), Val::Imm(round));
                    let reg = b.shift_right(freed(reg), shift);
                    b.add(Arg::keep(Val::Reg(reg)), Val::Imm(1 + BINARY_HEADER_SIZE));
                },
                |b| {
                    b.move_to_native_register_to(
                        Val::Imm(TERM_BOXED_REFC_BINARY_SIZE + BINARY_HEADER_SIZE),
                        reg,
                    )
                },
            );
            Ok(Val::Reg(reg))
        }
        _ => Err(unsupported("binary size operand")),
    }
}

/// The byte size of a binary, in a register. A freed register is reused.
pub(crate) fn term_binary_size<B: Backend>(b: &mut B, src: Arg) -> Reg {
    let reg = match src {
        Arg {
            val: Val::Reg(reg),
            free: true,
        } => reg,
        _ => b.move_to_native_register(src.val),
    };
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(Arg::keep(Val::Reg(reg)), Val::Imm(1), Val::Reg(reg));
    reg
}

/// Store `key` and `value` at `pos` of a map being built; consumes `pos`, `key` and `value`.
pub(crate) fn term_set_map_assoc<B: Backend>(b: &mut B, map_ptr: Reg, pos: Reg, key: Val, value: Val) {
    let keys = b.get_array_element(Arg::keep(Val::Reg(map_ptr)), 1);
    term_put_tuple_element(b, keys, pos, key);
    b.move_to_array_element_offset(value, map_ptr, Val::Reg(pos), 2);
    b.free_native_registers(&[Val::Reg(pos), value]);
}

/// Store `value` at element `pos` of a tuple; consumes `tuple` and `value`.
pub(crate) fn term_put_tuple_element<B: Backend>(b: &mut B, tuple: Reg, pos: Reg, value: Val) {
    let tuple = b.and_(freed(tuple), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_to_array_element_offset(value, tuple, Val::Reg(pos), 1);
    b.free_native_registers(&[Val::Reg(tuple), value]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_heap_size_at_compile_time() {
        // 32-bit: heap binaries below 32 bytes, refc above.
        assert_eq!(term_binary_heap_size_imm(0, 4), 3);
        assert_eq!(term_binary_heap_size_imm(1, 4), 4);
        assert_eq!(term_binary_heap_size_imm(4, 4), 4);
        assert_eq!(term_binary_heap_size_imm(31, 4), 11);
        assert_eq!(term_binary_heap_size_imm(32, 4), 6);
        assert_eq!(term_binary_heap_size_imm(63, 8), 11);
        assert_eq!(term_binary_heap_size_imm(64, 8), 6);
    }
}

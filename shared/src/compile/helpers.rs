//! The reference driver's multi-step helpers: type checks that jump to a fail label, conditional
//! raises, BIF results, GC with an extra root, match states (see the table in [`super`] for how
//! this differs from `common`).
//!
//! Each follows the reference driver's helper of the same name call for call, so that the
//! backend sees the same sequence of requests and allocates the same registers.

use super::backend::{Arg, Backend, CmpOp, Cond, Reg, Val};
use super::common::{
    cmp, cond_jump_to_label, freed, handle_error_if, imm, is_false, kept, masked, CTX, JIT_STATE,
    OFFSET,
};
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

/// An error for a shape of operands the reference cannot lower either (it would crash).
/// It has no offset of its own: the compile error around it names the instruction.
pub(crate) fn unsupported(what: &'static str) -> Error {
    Error::without_offset(crate::error::ErrorKind::Unsupported { what, value: 0 })
}

/// `if_block` on one condition or a conjunction.
pub(crate) fn if_test<'a, B: Backend>(
    b: &mut B,
    test: impl Into<Test<'a>>,
    body: impl FnOnce(&mut B),
) {
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

pub(crate) fn cond_raise_badarg<'a, B: Backend>(b: &mut B, test: impl Into<Test<'a>>) {
    if_test(b, test, |b| {
        b.call_primitive_last(
            PRIM_RAISE_ERROR,
            &[CTX, JIT_STATE, OFFSET, imm(BADARG_ATOM)],
        )
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
        if_test(b, test, |b| b.jump_to_label(fail));
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
    b.move_to_vm_register(kept(result), dest.into());
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
/// where the (possibly moved) root now is. An immediate is not a root (the reference has no
/// clause for it).
pub(crate) fn memory_ensure_free_with_extra_root<B: Backend>(
    b: &mut B,
    extra_root: Val,
    live: u32,
    size: Arg,
) -> Result<Val> {
    let ensure_free = |b: &mut B, roots: u32| {
        let ok = b.call_primitive(
            PRIM_MEMORY_ENSURE_FREE_WITH_ROOTS,
            &[
                CTX,
                JIT_STATE,
                size,
                imm(i64::from(roots)),
                imm(MEMORY_CAN_SHRINK),
            ],
        );
        handle_error_if(b, is_false(freed(ok)));
    };
    match extra_root {
        // Already a root.
        Val::X(n) if n < live => {
            ensure_free(b, live);
            Ok(extra_root)
        }
        Val::Reg(reg) => {
            let xreg = extra_root_xreg(live);
            b.move_to_vm_register(kept(reg), xreg);
            b.free_native_registers(&[extra_root]);
            ensure_free(b, live + 1);
            Ok(Val::Reg(b.move_to_native_register(xreg)))
        }
        Val::X(_) | Val::XExtra | Val::Y(_) | Val::Ptr(_) => {
            let xreg = extra_root_xreg(live);
            b.move_to_vm_register(Arg::keep(extra_root), xreg);
            ensure_free(b, live + 1);
            b.move_to_vm_register(Arg::keep(xreg), extra_root);
            Ok(extra_root)
        }
        _ => Err(unsupported("extra GC root operand")),
    }
}

/// Allocate a match state for `src` into `dest`; returns where `src` is after a possible GC.
pub(crate) fn term_alloc_bin_match_state<B: Backend>(
    b: &mut B,
    live: u32,
    src: Val,
    dest: Dest,
) -> Result<Val> {
    let trim = b.call_primitive(PRIM_TRIM_LIVE_REGS, &[CTX, imm(i64::from(live))]);
    b.free_native_registers(&[Val::Reg(trim)]);
    let new_src =
        memory_ensure_free_with_extra_root(b, src, live, imm(TERM_BOXED_BIN_MATCH_STATE_SIZE))?;
    let state = b.call_primitive(
        PRIM_TERM_ALLOC_BIN_MATCH_STATE,
        &[CTX, Arg::keep(new_src), imm(0)],
    );
    b.move_to_vm_register(kept(state), dest.into());
    b.free_native_registers(&[Val::Reg(state)]);
    Ok(new_src)
}

/// Store the catch term for `label` of this module into `dest`.
pub(crate) fn term_from_catch_label<B: Backend>(b: &mut B, dest: Dest, label: u32) {
    let reg = b.get_module_index();
    b.shift_left(kept(reg), MODULE_INDEX_SHIFT);
    b.or_(
        kept(reg),
        Val::Imm((i64::from(label) << TERM_IMMED2_TAG_SIZE) | TERM_IMMED2_CATCH),
    );
    b.move_to_vm_register(kept(reg), dest.into());
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
    let box_tag = b.get_array_element(kept(reg), 0);
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
                &[CTX, JIT_STATE, OFFSET, imm(BADFUN_ATOM), kept(reg)],
            );
            Ok(reg)
        }
        other => {
            let reg = b.move_to_native_register(other.val()?);
            let raise = |b: &mut B| {
                b.call_primitive_last(
                    PRIM_RAISE_ERROR_TUPLE,
                    &[CTX, JIT_STATE, OFFSET, imm(BADFUN_ATOM), kept(reg)],
                )
            };
            b.if_block(
                masked(reg, TERM_PRIMARY_MASK, CmpOp::Ne, TERM_PRIMARY_BOXED),
                raise,
            );
            let boxed_ptr = b.and_(kept(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
            b.move_array_element(kept(boxed_ptr), Val::Imm(0), Val::Reg(boxed_ptr));
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
    b.move_array_element(kept(reg), Val::Imm(0), Val::Reg(reg));
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

pub(crate) fn verify_is_boxed_with_tag<B: Backend>(
    b: &mut B,
    label: u32,
    arg1: Arg,
    boxed_tag: i64,
) {
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
    b.move_array_element(kept(reg), Val::Imm(0), Val::Reg(reg));
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
pub(crate) fn verify_is_match_state_and_get_ptr<B: Backend>(
    b: &mut B,
    src: Operand,
) -> Result<Reg> {
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
    let box_tag = b.get_array_element(kept(reg), 0);
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

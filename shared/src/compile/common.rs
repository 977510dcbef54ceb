//! The driver's vocabulary: argument and condition builders, error and branch blocks, and term
//! accessors (tuple arity, map size, binary size…). Each is a few backend calls with no operand
//! decoding and no failure (see the table in [`super`]).

use super::backend::{Arg, Backend, Cast, CmpOp, Cond, Reg, Val};
use super::consts::*;

/// An immediate argument.
pub const fn imm(v: i64) -> Arg {
    Arg::keep(Val::Imm(v))
}

/// A register argument the callee may free.
pub const fn freed(r: Reg) -> Arg {
    Arg::free(Val::Reg(r))
}

/// A register argument the callee must keep.
pub const fn kept(r: Reg) -> Arg {
    Arg::keep(Val::Reg(r))
}

/// `{Lhs, Op, Rhs}`.
pub fn cmp(lhs: impl Into<Arg>, op: CmpOp, rhs: impl Into<Arg>) -> Cond {
    Cond::Cmp {
        cast: Cast::Word,
        lhs: lhs.into(),
        op,
        rhs: rhs.into(),
    }
}

/// `{'(int)', Lhs, Op, Rhs}`.
pub fn cmp_int(lhs: impl Into<Arg>, op: CmpOp, rhs: impl Into<Arg>) -> Cond {
    Cond::Cmp {
        cast: Cast::Int,
        lhs: lhs.into(),
        op,
        rhs: rhs.into(),
    }
}

/// `{'(bool)', Lhs, '==', false}`.
pub fn is_false(lhs: impl Into<Arg>) -> Cond {
    Cond::Cmp {
        cast: Cast::Bool,
        lhs: lhs.into(),
        op: CmpOp::Eq,
        rhs: imm(0),
    }
}

/// `{'(bool)', Lhs, '!=', false}`.
pub fn is_true(lhs: impl Into<Arg>) -> Cond {
    Cond::Cmp {
        cast: Cast::Bool,
        lhs: lhs.into(),
        op: CmpOp::Ne,
        rhs: imm(0),
    }
}

/// `{Lhs, '&', Mask, Op, Value}`.
pub fn masked(lhs: impl Into<Arg>, mask: i64, op: CmpOp, value: i64) -> Cond {
    Cond::Mask {
        lhs: lhs.into(),
        mask,
        op,
        value,
    }
}

/// The three leading arguments of most error primitives: `ctx, jit_state, offset`.
pub const CTX_JITSTATE_OFFSET: [Arg; 3] = [
    Arg::keep(Val::Ctx),
    Arg::keep(Val::JitState),
    Arg::keep(Val::Offset),
];

/// `ctx`.
pub const CTX: Arg = Arg::keep(Val::Ctx);
/// `jit_state`.
pub const JIT_STATE: Arg = Arg::keep(Val::JitState);
/// `offset`.
pub const OFFSET: Arg = Arg::keep(Val::Offset);

/// `handle_error_if`: leave through the error handler when `cond` holds.
pub fn handle_error_if<B: Backend>(b: &mut B, cond: Cond) {
    b.if_block(cond, |b| {
        b.call_primitive_last(PRIM_HANDLE_ERROR, &CTX_JITSTATE_OFFSET)
    });
}

/// `cond_jump_to_label`.
pub fn cond_jump_to_label<B: Backend>(b: &mut B, cond: Cond, label: u32) {
    b.if_block(cond, |b| b.jump_to_label(label));
}

/// `cond_jump_to_label` with an `{'and', Conds}` condition.
pub fn cond_jump_to_label_and<B: Backend>(b: &mut B, conds: &[Cond], label: u32) {
    b.if_block_and(conds, |b| b.jump_to_label(label));
}

/// `raise_error` with a constant reason, as a tail call.
pub fn raise_error<B: Backend>(b: &mut B, reason: i64) {
    b.call_primitive_last(PRIM_RAISE_ERROR, &[CTX, JIT_STATE, OFFSET, imm(reason)]);
}

/// `term_get_tuple_arity`: the arity of the tuple `tuple` (freed if `tuple.free`).
pub fn term_get_tuple_arity<B: Backend>(b: &mut B, tuple: Arg) -> Reg {
    let reg = if tuple.free {
        b.move_to_native_register(tuple.val)
    } else {
        b.copy_to_native_register(tuple.val)
    };
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(kept(reg), Val::Imm(0), Val::Reg(reg));
    b.shift_right(freed(reg), 6)
}

/// `term_get_map_size`: the number of entries of the map `map`.
pub fn term_get_map_size<B: Backend>(b: &mut B, map: Arg) -> Reg {
    let keys = term_get_map_keys(b, map);
    term_get_tuple_arity(b, freed(keys))
}

/// `term_get_map_keys`: the keys tuple of the map `map`.
pub fn term_get_map_keys<B: Backend>(b: &mut B, map: Arg) -> Reg {
    let reg = if map.free {
        b.move_to_native_register(map.val)
    } else {
        b.copy_to_native_register(map.val)
    };
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(kept(reg), Val::Imm(1), Val::Reg(reg));
    reg
}

/// `term_binary_heap_size/2`: heap words of a binary of `size` bytes.
pub fn term_binary_heap_size_imm<B: Backend>(size: i64) -> i64 {
    match B::WORD_SIZE {
        4 if size < REFC_BINARY_MIN_32 => ((size + 3) >> 2) + 1 + BINARY_HEADER_SIZE,
        8 if size < REFC_BINARY_MIN_64 => ((size + 7) >> 3) + 1 + BINARY_HEADER_SIZE,
        _ => TERM_BOXED_REFC_BINARY_SIZE,
    }
}

/// `term_binary_heap_size/3` on `{free, Reg}`: computed in place at run time.
pub fn term_binary_heap_size_reg<B: Backend>(b: &mut B, reg: Reg) -> Reg {
    let (min, round, shift) = if B::WORD_SIZE == 4 {
        (REFC_BINARY_MIN_32, 3, 2)
    } else {
        (REFC_BINARY_MIN_64, 7, 3)
    };
    b.if_else_block(
        cmp(kept(reg), CmpOp::Lt, imm(min)),
        |b| {
            b.add(kept(reg), Val::Imm(round));
            b.shift_right(freed(reg), shift);
            b.add(kept(reg), Val::Imm(1 + BINARY_HEADER_SIZE));
        },
        |b| {
            b.move_to_native_register_to(
                Val::Imm(TERM_BOXED_REFC_BINARY_SIZE + BINARY_HEADER_SIZE),
                reg,
            );
        },
    );
    reg
}

/// `term_binary_size`: the byte size of the binary `src` (freed if `src.free`).
pub fn term_binary_size<B: Backend>(b: &mut B, src: Arg) -> Reg {
    let reg = if src.free {
        match src.val {
            Val::Reg(r) => r,
            other => b.move_to_native_register(other),
        }
    } else {
        b.move_to_native_register(src.val)
    };
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(kept(reg), Val::Imm(1), Val::Reg(reg));
    reg
}

/// `term_set_map_assoc`: store key and value at position `pos` of the map at `map_ptr`.
pub fn term_set_map_assoc<B: Backend>(b: &mut B, map_ptr: Reg, pos: Reg, key: Val, value: Val) {
    let keys = b.get_array_element(kept(map_ptr), 1);
    term_put_tuple_element(b, keys, pos, key);
    b.move_to_array_element_offset(value, map_ptr, Val::Reg(pos), 2);
    b.free_native_registers(&[Val::Reg(pos), value]);
}

/// `term_put_tuple_element`: store `value` at `pos` of the tuple in `tuple` (both freed).
pub fn term_put_tuple_element<B: Backend>(b: &mut B, tuple: Reg, pos: Reg, value: Val) {
    let tuple = b.and_(freed(tuple), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_to_array_element_offset(value, tuple, Val::Reg(pos), 1);
    b.free_native_registers(&[Val::Reg(tuple), value]);
}

//! GC BIFs (`gc_bif1`, `gc_bif2`): inline arithmetic when the `Type` chunk proves the operands
//! and the result are small integers, a call to the BIF otherwise; and the typed `is_ge` test.
//!
//! The range checks use exact (128-bit) arithmetic so that wide type ranges give the same
//! decisions as the reference's bignums.

use super::backend::{Arg, Backend, CmpOp, FuncPtr, Reg, Val};
use super::common::{cmp, cmp_int, cond_jump_to_label, freed, handle_error_if, imm, masked};
use super::consts::*;
use super::helpers::{bif_faillabel_test, unsupported, unwrap_typed};
use super::operand::{Dest, Operand};
use crate::beam::JitType;
use crate::error::Result;

/// An integer type range: `(Lo, Hi)`, `None` for an infinite bound.
pub(crate) type Range = (Option<i64>, Option<i64>);

/// Both bounds, when finite.
fn bounds(range: Range) -> Option<(i128, i128)> {
    Some((i128::from(range.0?), i128::from(range.1?)))
}

/// The smallest and largest small integers of a target.
pub(crate) const fn small_integer_bounds(word_size: u32) -> (i64, i64) {
    if word_size == 4 {
        (-(1 << 27), (1 << 27) - 1)
    } else {
        (-(1 << 59), (1 << 59) - 1)
    }
}

fn within_small(min: i128, max: i128, word_size: u32) -> bool {
    let (min_safe, max_safe) = small_integer_bounds(word_size);
    min >= i128::from(min_safe) && max <= i128::from(max_safe)
}

/// Whether `a + b` is a small integer for all values in the ranges.
pub(crate) fn can_inline_add(range1: Range, range2: Range, word_size: u32) -> bool {
    match (bounds(range1), bounds(range2)) {
        (Some((min1, max1)), Some((min2, max2))) => {
            within_small(min1 + min2, max1 + max2, word_size)
        }
        _ => false,
    }
}

/// Whether `a - b` is a small integer for all values in the ranges.
pub(crate) fn can_inline_sub(range1: Range, range2: Range, word_size: u32) -> bool {
    match (bounds(range1), bounds(range2)) {
        (Some((min1, max1)), Some((min2, max2))) => {
            within_small(min1 - max2, max1 - min2, word_size)
        }
        _ => false,
    }
}

/// Whether both ranges hold small integers only (enough for bitwise operations).
pub(crate) fn is_small_integer_range(range1: Range, range2: Range, word_size: u32) -> bool {
    match (bounds(range1), bounds(range2)) {
        (Some((min1, max1)), Some((min2, max2))) => {
            within_small(min1, max1, word_size) && within_small(min2, max2, word_size)
        }
        _ => false,
    }
}

/// Whether `a * b` is a small integer for all values in the ranges.
pub(crate) fn can_inline_mul(range1: Range, range2: Range, word_size: u32) -> bool {
    match (bounds(range1), bounds(range2)) {
        (Some((min1, max1)), Some((min2, max2))) => {
            // i64 x i64 products fit in i128.
            let products = [min1 * min2, min1 * max2, max1 * min2, max1 * max2];
            let min = products.iter().copied().fold(i128::MAX, i128::min);
            let max = products.iter().copied().fold(i128::MIN, i128::max);
            within_small(min, max, word_size)
        }
        _ => false,
    }
}

/// `value bsl shift` compared with the small-integer bounds: (>= min_safe, <= max_safe).
fn shifted_within(value: i128, shift: i64, min_safe: i128, max_safe: i128) -> (bool, bool) {
    if value == 0 {
        return (0 >= min_safe, 0 <= max_safe);
    }
    if shift < 64 {
        // |value| < 2^63, so the shifted value stays below 2^127.
        let shifted = value << shift;
        return (shifted >= min_safe, shifted <= max_safe);
    }
    // Beyond 2^64 in magnitude: only the sign matters.
    (value > 0, value < 0)
}

/// Whether `a bsl shift` is a small integer for all `a` in the range.
pub(crate) fn can_inline_bsl(range1: Range, shift: i64, word_size: u32) -> bool {
    let Some((min1, max1)) = bounds(range1) else {
        return false;
    };
    if shift < 0 {
        return false;
    }
    let (min_safe, max_safe) = small_integer_bounds(word_size);
    let (min_safe, max_safe) = (i128::from(min_safe), i128::from(max_safe));
    shifted_within(min1, shift, min_safe, max_safe).0
        && shifted_within(max1, shift, min_safe, max_safe).1
}

/// Whether `a bsr shift` can be a logical shift on the tagged value: `a` is non-negative and
/// small, and the shift (plus the tag) stays within a word.
pub(crate) fn can_inline_bsr(range1: Range, shift: i64, word_size: u32) -> bool {
    let (_, max_safe) = small_integer_bounds(word_size);
    let word_bits = i64::from(word_size) * 8;
    match bounds(range1) {
        Some((min1, max1)) if min1 >= 0 && shift >= 0 && shift < word_bits - 4 => {
            max1 <= i128::from(max_safe)
        }
        _ => false,
    }
}

/// Whether `div`/`rem` can use the target's divide instruction: small operands, a divisor that
/// cannot be zero, and no `MIN div -1` overflow.
pub(crate) fn can_inline_div(range1: Range, range2: Range, word_size: u32, has_div: bool) -> bool {
    if !has_div {
        return false;
    }
    let (min_safe, max_safe) = small_integer_bounds(word_size);
    let (min_safe, max_safe) = (i128::from(min_safe), i128::from(max_safe));
    match (bounds(range1), bounds(range2)) {
        (Some((min1, max1)), Some((min2, max2)))
            if min1 >= min_safe
                && max1 <= max_safe
                && min2 >= min_safe
                && max2 <= max_safe
                && (min2 > 0 || max2 < 0) =>
        {
            !(min1 == min_safe && min2 <= -1 && max2 >= -1)
        }
        _ => false,
    }
}

/// log2 of a power of two.
fn log2_pow2(n: i64) -> u32 {
    n.trailing_zeros()
}

/// Whether `a div d` and `a rem d` for a power of two `d` can be a shift (a mask): `a` is
/// non-negative and small.
fn can_inline_pow2_div(range1: Range, divisor: i64, word_size: u32) -> bool {
    match bounds(range1) {
        Some((min1, max1)) if min1 >= 0 && divisor > 0 && divisor & (divisor - 1) == 0 => {
            max1 <= i128::from(small_integer_bounds(word_size).1)
        }
        _ => false,
    }
}

/// The integer range of a typed operand, if it is `{typed, Dest, {t_integer, Range}}`.
fn integer_range(arg: Operand) -> Option<(Dest, Range)> {
    match arg {
        Operand::Typed(dest, JitType::Integer { lo, hi }) => Some((dest, (lo, hi))),
        _ => None,
    }
}

/// A small integer immediate operand.
fn small_int_literal(arg: Operand) -> Option<i64> {
    match arg {
        Operand::Imm(v) if v & TERM_IMMED_TAG_MASK == TERM_INTEGER_TAG => Some(v),
        _ => None,
    }
}

/// The second operand of an inlinable operation: a typed register, or a small integer literal
/// (whose range is its value).
fn second_operand(arg: Operand) -> Option<(Operand, Range)> {
    if let Some((dest, range)) = integer_range(arg) {
        return Some((dest.into(), range));
    }
    small_int_literal(arg).map(|v| (arg, (Some(v >> 4), Some(v >> 4))))
}

/// `gc_bif2`: `Dest = Module:Function(Arg1, Arg2)` through BIF `bif`, or inline when types allow.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(target_os = "none", inline(never))]
pub(crate) fn op_gc_bif2<B: Backend>(
    b: &mut B,
    fail_label: u32,
    live: u32,
    bif: u32,
    module: &[u8],
    function: &[u8],
    arg1: Operand,
    arg2: Operand,
    dest: Dest,
) -> Result<()> {
    let args = GcBif2 {
        fail_label,
        live,
        bif,
        dest,
    };
    if module == b"erlang" {
        if let Some((a1, range1)) = integer_range(arg1) {
            let a1: Operand = a1.into();
            if let (Some(op), Some((a2, range2))) = (IntBif2::of(function), second_operand(arg2)) {
                return match op {
                    IntBif2::Alu(op) => op_gc_bif2_alu(b, op, &args, a1, a2, range1, range2),
                    IntBif2::Mul => op_gc_bif2_mul(b, &args, a1, a2, range1, range2),
                    IntBif2::Divide(op) => op_gc_bif2_div_rem(b, op, &args, a1, a2, range1, range2),
                };
            }
            if let (Some(op), Some(v)) = (ShiftOp::of(function), small_int_literal(arg2)) {
                return op_gc_bif2_shift(b, op, &args, a1, arg2, range1, v >> 4);
            }
        }
    }
    op_gc_bif2_default(b, &args, unwrap_typed(arg1), unwrap_typed(arg2))
}

/// The `erlang` BIFs of two integers that have an inline lowering.
#[derive(Clone, Copy)]
enum IntBif2 {
    Alu(AluOp),
    Mul,
    Divide(DivOp),
}

impl IntBif2 {
    fn of(function: &[u8]) -> Option<Self> {
        Some(match function {
            b"+" => IntBif2::Alu(AluOp::Add),
            b"-" => IntBif2::Alu(AluOp::Sub),
            b"band" => IntBif2::Alu(AluOp::And),
            b"bor" => IntBif2::Alu(AluOp::Or),
            b"bxor" => IntBif2::Alu(AluOp::Xor),
            b"*" => IntBif2::Mul,
            b"div" => IntBif2::Divide(DivOp::Div),
            b"rem" => IntBif2::Divide(DivOp::Rem),
            _ => return None,
        })
    }
}

/// The parts of a `gc_bif2` every lowering needs.
struct GcBif2 {
    fail_label: u32,
    live: u32,
    bif: u32,
    dest: Dest,
}

/// Call the BIF through the imported-BIF table.
#[cfg_attr(target_os = "none", inline(never))]
fn op_gc_bif2_default<B: Backend>(
    b: &mut B,
    args: &GcBif2,
    arg1: Operand,
    arg2: Operand,
) -> Result<()> {
    call_gc_bif(b, args, &[arg1.free()?, arg2.free()?])
}

/// Trim the live registers, fetch the BIF and call it with `ctx, Fail, Live` and `operands`.
fn call_gc_bif<B: Backend>(b: &mut B, args: &GcBif2, operands: &[Arg]) -> Result<()> {
    let ctx = Arg::keep(Val::Ctx);
    let trim = b.call_primitive(PRIM_TRIM_LIVE_REGS, &[ctx, imm(i64::from(args.live))]);
    b.free_native_registers(&[Val::Reg(trim)]);
    let capped_live = args.live.min(MAX_REG);
    let func = b.call_primitive(
        PRIM_GET_IMPORTED_BIF,
        &[Arg::keep(Val::JitState), imm(i64::from(args.bif))],
    );
    let mut call_args = [ctx; 5];
    call_args[1] = imm(i64::from(args.fail_label));
    call_args[2] = imm(i64::from(capped_live));
    let count = 3 + operands.len();
    let slots = call_args
        .get_mut(3..count)
        .ok_or_else(|| unsupported("BIF arity"))?;
    slots.copy_from_slice(operands);
    let result = b.call_func_ptr(FuncPtr::Reg(func), &call_args[..count]);
    bif_faillabel_test(b, args.fail_label, result, args.dest);
    Ok(())
}

/// `gc_bif1`: `Dest = Module:Function(Arg)`; `byte_size` of a known binary is read inline.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(target_os = "none", inline(never))]
pub(crate) fn op_gc_bif1<B: Backend>(
    b: &mut B,
    fail_label: u32,
    live: u32,
    bif: u32,
    module: &[u8],
    function: &[u8],
    arg: Operand,
    dest: Dest,
) -> Result<()> {
    if module == b"erlang" && function == b"byte_size" && is_known_binary(arg) {
        return op_gc_bif1_byte_size_binary(b, unwrap_typed(arg), dest);
    }
    let args = GcBif2 {
        fail_label,
        live,
        bif,
        dest,
    };
    call_gc_bif(b, &args, &[unwrap_typed(arg).free()?])
}

/// The byte size of a binary is the word after its header: tag it as a small integer.
#[cfg_attr(target_os = "none", inline(never))]
fn op_gc_bif1_byte_size_binary<B: Backend>(b: &mut B, arg: Operand, dest: Dest) -> Result<()> {
    let reg = b.move_to_native_register(arg.val()?);
    let reg = b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
    b.move_array_element(keep(reg), Val::Imm(1), Val::Reg(reg));
    b.shift_left(keep(reg), 4);
    b.or_(keep(reg), Val::Imm(TERM_INTEGER_TAG));
    store(b, reg, dest);
    Ok(())
}

/// Store `reg` into the destination and free both.
fn store<B: Backend>(b: &mut B, reg: Reg, dest: Dest) {
    b.move_to_vm_register(Arg::keep(Val::Reg(reg)), dest.into());
    b.free_native_registers(&[Val::Reg(reg), dest.into()]);
}

/// Store `reg`, then free it, `other` and the destination.
fn store2<B: Backend>(b: &mut B, reg: Reg, other: Reg, dest: Dest) {
    b.move_to_vm_register(Arg::keep(Val::Reg(reg)), dest.into());
    b.free_native_registers(&[Val::Reg(reg), Val::Reg(other), dest.into()]);
}

const fn keep(reg: Reg) -> Arg {
    Arg::keep(Val::Reg(reg))
}

const NOT_TAG: i64 = !TERM_IMMED_TAG_MASK;

/// The add, subtract and bitwise `gc_bif2`s: one instruction on the tagged operands.
#[derive(Clone, Copy)]
enum AluOp {
    Add,
    Sub,
    And,
    Or,
    Xor,
}

impl AluOp {
    /// Whether the result is a small integer for all values in the ranges.
    fn can_inline(self, range1: Range, range2: Range, word_size: u32) -> bool {
        match self {
            AluOp::Add => can_inline_add(range1, range2, word_size),
            AluOp::Sub => can_inline_sub(range1, range2, word_size),
            AluOp::And | AluOp::Or | AluOp::Xor => {
                is_small_integer_range(range1, range2, word_size)
            }
        }
    }

    /// Add and subtract need the second operand untagged (the first keeps its tag); the bitwise
    /// operations work on both tags.
    fn untags_second(self) -> bool {
        matches!(self, AluOp::Add | AluOp::Sub)
    }

    /// `reg1 op value`, left tagged as a small integer; the register holding the result (`and_`
    /// may move it, the others update `reg1` in place).
    fn apply<B: Backend>(self, b: &mut B, reg1: Reg, value: Val) -> Reg {
        match self {
            AluOp::And => return b.and_(freed(reg1), value),
            AluOp::Add => b.add(keep(reg1), value),
            AluOp::Sub => b.sub(keep(reg1), value),
            AluOp::Or => b.or_(keep(reg1), value),
            AluOp::Xor => {
                // XOR clears the tag bits: set them again.
                b.xor_(keep(reg1), value);
                b.or_(keep(reg1), Val::Imm(TERM_INTEGER_TAG))
            }
        };
        reg1
    }
}

#[cfg_attr(target_os = "none", inline(never))]
fn op_gc_bif2_alu<B: Backend>(
    b: &mut B,
    op: AluOp,
    args: &GcBif2,
    arg1: Operand,
    arg2: Operand,
    range1: Range,
    range2: Range,
) -> Result<()> {
    if !op.can_inline(range1, range2, B::WORD_SIZE) {
        return op_gc_bif2_default(b, args, arg1, arg2);
    }
    let reg1 = b.move_to_native_register(arg1.val()?);
    if let Operand::Imm(v) = arg2 {
        let v = if op.untags_second() { v & NOT_TAG } else { v };
        let result = op.apply(b, reg1, Val::Imm(v));
        store(b, result, args.dest);
    } else {
        let reg2 = b.move_to_native_register(arg2.val()?);
        let reg2 = if op.untags_second() {
            b.and_(freed(reg2), Val::Imm(NOT_TAG))
        } else {
            reg2
        };
        let result = op.apply(b, reg1, Val::Reg(reg2));
        store2(b, result, reg2, args.dest);
    }
    Ok(())
}

#[cfg_attr(target_os = "none", inline(never))]
fn op_gc_bif2_mul<B: Backend>(
    b: &mut B,
    args: &GcBif2,
    arg1: Operand,
    arg2: Operand,
    range1: Range,
    range2: Range,
) -> Result<()> {
    if !can_inline_mul(range1, range2, B::WORD_SIZE) {
        return op_gc_bif2_default(b, args, arg1, arg2);
    }
    if let Operand::Imm(v) = arg2 {
        let factor = v >> 4;
        // 0, 1 and negative factors are left to the BIF (wrong tag, identity, sign handling).
        if factor <= 1 {
            return op_gc_bif2_default(b, args, arg1, arg2);
        }
        let reg = b.move_to_native_register(arg1.val()?);
        let reg = b.and_(freed(reg), Val::Imm(NOT_TAG));
        b.mul(keep(reg), Val::Imm(factor));
        b.or_(keep(reg), Val::Imm(TERM_INTEGER_TAG));
        store(b, reg, args.dest);
    } else {
        // (a << 4) * b = (a * b) << 4.
        let reg1 = b.move_to_native_register(arg1.val()?);
        let reg2 = b.move_to_native_register(arg2.val()?);
        let reg1 = b.and_(freed(reg1), Val::Imm(NOT_TAG));
        let reg2 = b.shift_right(freed(reg2), 4);
        b.mul(keep(reg1), Val::Reg(reg2));
        b.or_(keep(reg1), Val::Imm(TERM_INTEGER_TAG));
        store2(b, reg1, reg2, args.dest);
    }
    Ok(())
}

/// `bsl`/`bsr` by a literal amount.
#[derive(Clone, Copy)]
enum ShiftOp {
    Left,
    Right,
}

impl ShiftOp {
    fn of(function: &[u8]) -> Option<Self> {
        match function {
            b"bsl" => Some(ShiftOp::Left),
            b"bsr" => Some(ShiftOp::Right),
            _ => None,
        }
    }
}

#[cfg_attr(target_os = "none", inline(never))]
fn op_gc_bif2_shift<B: Backend>(
    b: &mut B,
    op: ShiftOp,
    args: &GcBif2,
    arg1: Operand,
    arg2: Operand,
    range1: Range,
    shift: i64,
) -> Result<()> {
    let inline = match op {
        ShiftOp::Left => can_inline_bsl(range1, shift, B::WORD_SIZE),
        ShiftOp::Right => can_inline_bsr(range1, shift, B::WORD_SIZE),
    };
    if !inline {
        return op_gc_bif2_default(b, args, arg1, arg2);
    }
    let mut reg = b.move_to_native_register(arg1.val()?);
    if shift != 0 {
        reg = match op {
            ShiftOp::Left => {
                let reg = b.and_(freed(reg), Val::Imm(NOT_TAG));
                b.shift_left(keep(reg), shift_amount(shift)?);
                reg
            }
            ShiftOp::Right => {
                // One shift by S + 4 drops the tag and divides; then re-tag.
                let reg = b.shift_right(freed(reg), shift_amount(shift + 4)?);
                b.shift_left(keep(reg), 4);
                reg
            }
        };
        b.or_(keep(reg), Val::Imm(TERM_INTEGER_TAG));
    }
    store(b, reg, args.dest);
    Ok(())
}

fn shift_amount(shift: i64) -> Result<u32> {
    u32::try_from(shift).map_err(|_| unsupported("shift amount"))
}

/// Quotient or remainder from the target's divide instruction.
#[derive(Clone, Copy, PartialEq)]
enum DivOp {
    Div,
    Rem,
}

fn divide<B: Backend>(b: &mut B, op: DivOp, a: Reg, d: Reg) -> Reg {
    match op {
        DivOp::Div => b.div_(a, d),
        DivOp::Rem => b.rem_(a, d),
    }
}

/// Tag the quotient/remainder, store it and free everything.
fn store_divided<B: Backend>(b: &mut B, result: Reg, reg1: Reg, reg2: Reg, dest: Dest) {
    b.shift_left(keep(result), 4);
    b.or_(keep(result), Val::Imm(TERM_INTEGER_TAG));
    b.move_to_vm_register(keep(result), dest.into());
    b.free_native_registers(&[
        Val::Reg(result),
        Val::Reg(reg1),
        Val::Reg(reg2),
        dest.into(),
    ]);
}

/// `div`/`rem` with the divide instruction (the power-of-two cases are handled by the callers).
#[cfg_attr(target_os = "none", inline(never))]
fn op_gc_bif2_divide<B: Backend>(
    b: &mut B,
    op: DivOp,
    args: &GcBif2,
    arg1: Operand,
    arg2: Operand,
    range1: Range,
    range2: Range,
) -> Result<()> {
    if !can_inline_div(range1, range2, B::WORD_SIZE, B::HAS_DIV) {
        return op_gc_bif2_default(b, args, arg1, arg2);
    }
    // Both operands untagged; an immediate divisor is loaded after the dividend is shifted.
    let reg1 = b.move_to_native_register(arg1.val()?);
    let (reg1, reg2) = if let Operand::Imm(v) = arg2 {
        let reg1 = b.shift_right_arith(freed(reg1), 4);
        (reg1, b.move_to_native_register(Val::Imm(v >> 4)))
    } else {
        let reg2 = b.move_to_native_register(arg2.val()?);
        let reg1 = b.shift_right_arith(freed(reg1), 4);
        (reg1, b.shift_right_arith(freed(reg2), 4))
    };
    let result = divide(b, op, reg1, reg2);
    store_divided(b, result, reg1, reg2, args.dest);
    Ok(())
}

/// `div`/`rem`: by a power of two as a shift/mask when the dividend is non-negative, else with
/// the divide instruction.
#[cfg_attr(target_os = "none", inline(never))]
fn op_gc_bif2_div_rem<B: Backend>(
    b: &mut B,
    op: DivOp,
    args: &GcBif2,
    arg1: Operand,
    arg2: Operand,
    range1: Range,
    range2: Range,
) -> Result<()> {
    if let Operand::Imm(v) = arg2 {
        let divisor = v >> 4;
        if can_inline_pow2_div(range1, divisor, B::WORD_SIZE) {
            let reg = b.move_to_native_register(arg1.val()?);
            let reg = match op {
                DivOp::Div => {
                    // X div 2^k = X >> k; shifting by 4 + k also drops the tag.
                    let reg = b.shift_right_arith(freed(reg), 4 + log2_pow2(divisor));
                    b.shift_left(keep(reg), 4);
                    b.or_(keep(reg), Val::Imm(TERM_INTEGER_TAG));
                    reg
                }
                // X rem 2^k = X band (2^k - 1), masked on the tagged value.
                DivOp::Rem => {
                    let mask = ((divisor - 1) << 4) | TERM_INTEGER_TAG;
                    b.and_(freed(reg), Val::Imm(mask))
                }
            };
            store(b, reg, args.dest);
            return Ok(());
        }
    }
    op_gc_bif2_divide(b, op, args, arg1, arg2, range1, range2)
}

/// `is_ge`: jump to `label` unless `arg1 >= arg2`. Inline when one side is a typed integer and
/// the other an immediate; a big integer on the typed side decides by its sign.
#[cfg_attr(target_os = "none", inline(never))]
pub(crate) fn op_is_ge<B: Backend>(
    b: &mut B,
    label: u32,
    arg1: Operand,
    arg2: Operand,
) -> Result<()> {
    match (arg1, arg2) {
        (Operand::Imm(lhs), Operand::Typed(dest, JitType::Integer { .. })) => {
            is_ge_typed_integer(b, label, dest, lhs, IntegerSide::Right)
        }
        (Operand::Typed(dest, JitType::Integer { .. }), Operand::Imm(rhs)) => {
            is_ge_typed_integer(b, label, dest, rhs, IntegerSide::Left)
        }
        _ => {
            let result = b.call_primitive(
                PRIM_TERM_COMPARE,
                &[
                    Arg::keep(Val::Ctx),
                    Arg::keep(Val::JitState),
                    unwrap_typed(arg1).free()?,
                    unwrap_typed(arg2).free()?,
                    imm(TERM_COMPARE_NO_OPTS),
                ],
            );
            handle_error_if(
                b,
                cmp_int(keep(result), CmpOp::Eq, imm(TERM_COMPARE_MEMORY_ALLOC_FAIL)),
            );
            cond_jump_to_label(
                b,
                cmp_int(freed(result), CmpOp::Eq, imm(TERM_LESS_THAN)),
                label,
            );
        }
    }
    Ok(())
}

/// Which side of `is_ge` the typed integer is on.
#[derive(Clone, Copy, PartialEq)]
enum IntegerSide {
    Left,
    Right,
}

/// `is_ge` between the typed integer in `dest` and the immediate `value`.
fn is_ge_typed_integer<B: Backend>(
    b: &mut B,
    label: u32,
    dest: Dest,
    value: i64,
    side: IntegerSide,
) {
    let reg = b.move_to_native_register(dest.into());
    b.if_block(
        masked(reg, TERM_IMMED_TAG_MASK, CmpOp::Ne, TERM_INTEGER_TAG),
        |b| {
            let boxed = b.and_(keep(reg), Val::Imm(!TERM_PRIMARY_MASK));
            b.move_array_element(keep(boxed), Val::Imm(0), Val::Reg(boxed));
            let tag = b.and_(freed(boxed), Val::Imm(TERM_BOXED_TAG_MASK));
            // A bignum is beyond any immediate: the test fails for a positive one on the right
            // or a negative one on the left.
            let fails_if = match side {
                IntegerSide::Left => CmpOp::Ne,
                IntegerSide::Right => CmpOp::Eq,
            };
            let fails = cmp(freed(tag), fails_if, imm(TERM_BOXED_POSITIVE_INTEGER));
            cond_jump_to_label(b, fails, label);
            // Otherwise it passes: make the comparison below not jump.
            b.move_to_native_register_to(Val::Imm(value), reg);
        },
    );
    let less = match side {
        IntegerSide::Left => cmp(freed(reg), CmpOp::Lt, imm(value)),
        IntegerSide::Right => cmp(imm(value), CmpOp::Lt, freed(reg)),
    };
    cond_jump_to_label(b, less, label);
}

/// Whether `arg` is known to be a whole-byte binary (`{t_bs_matchable, Unit}`, Unit rem 8 = 0).
pub(crate) fn is_known_binary(arg: Operand) -> bool {
    matches!(arg, Operand::Typed(_, JitType::BsMatchable { unit }) if unit % 8 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: fn(i64, i64) -> Range = |lo, hi| (Some(lo), Some(hi));
    const SMALL_MAX: i64 = (1 << 27) - 1;
    const SMALL_MIN: i64 = -(1 << 27);

    #[test]
    fn bounds_per_word_size() {
        assert_eq!(small_integer_bounds(4), (-134217728, 134217727));
        assert_eq!(
            small_integer_bounds(8),
            (-576460752303423488, 576460752303423487)
        );
    }

    #[test]
    fn add_and_sub() {
        assert!(can_inline_add(R(0, 10), R(0, 10), 4));
        assert!(can_inline_add(R(0, SMALL_MAX - 1), R(1, 1), 4));
        assert!(!can_inline_add(R(0, SMALL_MAX), R(1, 1), 4));
        assert!(can_inline_add(R(0, SMALL_MAX), R(1, 1), 8));
        assert!(!can_inline_add((None, Some(3)), R(1, 1), 4));
        assert!(!can_inline_add(R(i64::MIN, 0), R(i64::MIN, 0), 8));
        assert!(can_inline_sub(R(SMALL_MIN + 1, 0), R(0, 1), 4));
        assert!(!can_inline_sub(R(SMALL_MIN, 0), R(0, 1), 4));
        // max1 - min2 overflows.
        assert!(!can_inline_sub(R(0, 1), R(-SMALL_MAX, 0), 4));
    }

    #[test]
    fn bitwise_and_mul() {
        assert!(is_small_integer_range(R(SMALL_MIN, SMALL_MAX), R(0, 0), 4));
        assert!(!is_small_integer_range(
            R(SMALL_MIN, SMALL_MAX + 1),
            R(0, 0),
            4
        ));
        assert!(!is_small_integer_range(R(0, 1), (Some(0), None), 4));
        assert!(can_inline_mul(R(-100, 100), R(-1000, 1000), 4));
        assert!(!can_inline_mul(R(-(1 << 14), 0), R(0, 1 << 14), 4));
        // (-2^13)*(2^14) = -2^27 is the smallest small integer; 2^13 * 2^14 is one past the max.
        assert!(can_inline_mul(R(-(1 << 13), 0), R(0, 1 << 14), 4));
        assert!(!can_inline_mul(R(0, 1 << 13), R(0, 1 << 14), 4));
        assert!(!can_inline_mul(
            R(i64::MIN, i64::MAX),
            R(i64::MIN, i64::MAX),
            8
        ));
    }

    #[test]
    fn shifts() {
        assert!(can_inline_bsl(R(0, 255), 8, 4));
        assert!(!can_inline_bsl(R(0, 1), 27, 4));
        assert!(can_inline_bsl(R(-1, 0), 27, 4));
        assert!(can_inline_bsl(R(0, 0), 1000, 4));
        // Positive lower bound shifted past every bound still passes the lower check.
        assert!(!can_inline_bsl(R(1, 1), 100, 4));
        assert!(!can_inline_bsl(R(-1, -1), 100, 4));
        assert!(!can_inline_bsl(R(0, 1), -1, 4));
        assert!(can_inline_bsr(R(0, SMALL_MAX), 3, 4));
        assert!(!can_inline_bsr(R(-1, 10), 3, 4));
        assert!(can_inline_bsr(R(0, 10), 27, 4));
        assert!(!can_inline_bsr(R(0, 10), 28, 4));
        assert!(can_inline_bsr(R(0, 10), 59, 8));
        assert!(!can_inline_bsr(R(0, SMALL_MAX + 1), 1, 4));
    }

    #[test]
    fn division() {
        assert!(!can_inline_div(R(0, 10), R(1, 10), 4, false));
        assert!(can_inline_div(R(0, 10), R(1, 10), 4, true));
        assert!(!can_inline_div(R(0, 10), R(0, 10), 4, true));
        assert!(can_inline_div(R(0, 10), R(-10, -1), 4, true));
        assert!(!can_inline_div(R(SMALL_MIN, 10), R(-10, -1), 4, true));
        assert!(can_inline_div(R(SMALL_MIN + 1, 10), R(-10, -1), 4, true));
        assert!(can_inline_pow2_div(R(0, 100), 8, 4));
        assert!(!can_inline_pow2_div(R(-1, 100), 8, 4));
        assert!(!can_inline_pow2_div(R(0, 100), 6, 4));
        assert!(!can_inline_pow2_div(R(0, 100), 0, 4));
        assert_eq!(log2_pow2(1), 0);
        assert_eq!(log2_pow2(64), 6);
    }
}

//! Decoded instruction operands, as the driver's decoders return them.
//!
//! An operand is either known at compile time (an immediate term, a label, a literal index) or a
//! place the generated code reads at run time (a VM register, or a native register that already
//! holds the value because decoding it needed code, e.g. loading a literal).

use super::backend::{Arg, Reg, Val};
use crate::beam::JitType;
use crate::error::Result;

/// A VM register operand (what decoding a destination yields).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dest {
    /// `x` register below the addressable maximum.
    X(u32),
    Y(u32),
    /// An extended `x` register, reached through a pointer held in a native register.
    Ptr(Reg),
}

impl From<Dest> for Val {
    #[cfg_attr(not(target_os = "none"), inline)]
    #[cfg_attr(target_os = "none", inline(never))]
    fn from(d: Dest) -> Val {
        match d {
            Dest::X(n) => Val::X(n),
            Dest::Y(n) => Val::Y(n),
            Dest::Ptr(r) => Val::Ptr(r),
        }
    }
}

impl From<Dest> for Arg {
    #[inline]
    fn from(d: Dest) -> Arg {
        Arg::keep(d.into())
    }
}

/// A decoded source operand.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Operand {
    /// A term known at compile time: small integer, nil, or one of the runtime's default atoms.
    Imm(i64),
    X(u32),
    Y(u32),
    Ptr(Reg),
    /// A native register holding the term (decoding emitted code to build it).
    Reg(Reg),
    /// `{label, N}`.
    Label(u32),
    /// `{literal, N}`: an untagged small literal (not a term).
    Literal(u64),
    /// A register with the type the compiler recorded for it.
    Typed(Dest, JitType),
}

impl From<Dest> for Operand {
    #[cfg_attr(not(target_os = "none"), inline)]
    #[cfg_attr(target_os = "none", inline(never))]
    fn from(d: Dest) -> Operand {
        match d {
            Dest::X(n) => Operand::X(n),
            Dest::Y(n) => Operand::Y(n),
            Dest::Ptr(r) => Operand::Ptr(r),
        }
    }
}

impl From<Reg> for Operand {
    #[inline]
    fn from(r: Reg) -> Operand {
        Operand::Reg(r)
    }
}

impl Operand {
    /// The value to hand to the backend. Labels, small literals and typed registers are not
    /// values: passing one means the bytecode is something the reference cannot lower either.
    #[inline]
    pub fn val(self) -> Result<Val> {
        match self {
            Operand::Imm(v) => Ok(Val::Imm(v)),
            Operand::X(n) => Ok(Val::X(n)),
            Operand::Y(n) => Ok(Val::Y(n)),
            Operand::Ptr(r) => Ok(Val::Ptr(r)),
            Operand::Reg(r) => Ok(Val::Reg(r)),
            Operand::Label(_) => Err(super::helpers::unsupported("label operand used as a value")),
            Operand::Literal(_) => Err(super::helpers::unsupported(
                "literal operand used as a value",
            )),
            Operand::Typed(..) => Err(super::helpers::unsupported("typed operand used as a value")),
        }
    }
    /// `{free, Operand}`.
    #[inline]
    pub fn free(self) -> Result<Arg> {
        Ok(Arg::free(self.val()?))
    }
    /// The operand as an argument the callee must not free.
    #[inline]
    pub fn keep(self) -> Result<Arg> {
        Ok(Arg::keep(self.val()?))
    }
    /// The immediate value, if the operand is one (the reference's `is_integer/1`).
    #[inline]
    pub fn imm(self) -> Option<i64> {
        match self {
            Operand::Imm(v) => Some(v),
            _ => None,
        }
    }
    /// The native register, if the operand lives in one (the reference's `is_atom/1` on a value).
    #[inline]
    pub fn reg(self) -> Option<Reg> {
        match self {
            Operand::Reg(r) => Some(r),
            _ => None,
        }
    }
    /// The untyped operand (what the reference gets by matching `{typed, Dest, _}` and dropping
    /// the type).
    #[inline]
    pub fn untyped(self) -> Operand {
        match self {
            Operand::Typed(d, _) => d.into(),
            other => other,
        }
    }
    /// The type when known (`any` otherwise).
    #[inline]
    pub fn jit_type(self) -> JitType {
        match self {
            Operand::Typed(_, t) => t,
            _ => JitType::Any,
        }
    }
}

/// A compile-time literal operand (`decode_compile_time_literal`): nil, or literal table bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CompileTimeLiteral<'m> {
    Nil,
    /// External-term-format bytes of a literal from the module's literal table.
    Term(&'m [u8]),
}

/// `{atom, Name}` or `{label, N}` (the fail operand of `badrecord` style instructions).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AtomOrLabel<'m> {
    Atom(&'m [u8]),
    Label(u32),
}

//! The `Type` chunk, decoded into the one representation the compiler uses.

/// A type as the compiler sees it: what the reference derives from a version-3 `Type` entry.
/// Bounds are `None` for -inf/+inf.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum JitType {
    Any,
    Atom,
    /// `{t_bs_matchable, Unit}`.
    BsMatchable { unit: u32 },
    Cons,
    Float,
    Fun,
    /// `{t_number, {Lo, Hi}}` (integer or float).
    Number { lo: Option<i64>, hi: Option<i64> },
    /// `{t_integer, {Lo, Hi}}`.
    Integer { lo: Option<i64>, hi: Option<i64> },
    Map,
    Nil,
    /// nil or cons.
    List,
    Pid,
    Port,
    Reference,
    Tuple,
}

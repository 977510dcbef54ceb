//! What the driver needs to know about the module being compiled, beyond its `Code` chunk.
//!
//! The BEAM reader implements this over a parsed module; tests implement it over hand-made tables.

use crate::beam::JitType;

/// An entry of the import table (`ImpT`): atom indexes and arity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Import {
    pub module: u32,
    pub function: u32,
    pub arity: u32,
}

/// Module data the driver looks up while lowering instructions.
pub trait ModuleEnv {
    /// Text of atom `index` (BEAM's 1-based numbering; 0 is never an atom).
    fn atom(&self, index: u32) -> Option<&[u8]>;
    /// External-term-format bytes (starting with 131) of literal `index`.
    fn literal(&self, index: u32) -> Option<&[u8]>;
    /// Import table entry `index`.
    fn import(&self, index: u32) -> Option<Import>;
    /// Type of `Type` chunk entry `index`; `JitType::Any` when the module has no usable types.
    fn jit_type(&self, index: u32) -> JitType;
}

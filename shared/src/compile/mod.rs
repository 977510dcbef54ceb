//! The ISA-independent compile driver: one pass over a module's `Code` chunk, lowering each BEAM
//! instruction through a [`Backend`].

pub mod backend;

pub use backend::{Arg, Backend, BackendError, Cast, CmpOp, Cond, FuncPtr, Label, Reg, Val};

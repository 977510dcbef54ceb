//! Native code generation: the ISA-neutral code buffer and register tracking, and one module
//! per instruction set.

pub mod armv6m;
pub mod buffer;
mod pending;
pub mod regs;

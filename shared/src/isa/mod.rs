//! Native code generation targets.

pub mod armv6m;
pub mod regs;
pub mod riscv32;

//! The riscv32 (RV32IMAC) ISA layer: encoder, disassembler and the label-use kinds a backend
//! byte-identical to the reference's `jit_riscv32` needs. The backend itself (lowering onto the
//! ISA-neutral code buffer) is not here yet.

pub mod asm;
pub mod disasm;
pub mod labels;

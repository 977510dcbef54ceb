//! AtomVM's ABI, one module per family of facts: what generated code and the runtime must agree
//! on. Each number is declared here once; the driver, the backends, the readers and the CLI use
//! these (opcode numbers have their one table in [`crate::beam::opcodes`]).
//!
//! - [`prims`]: primitive indices of the native interface table, and their special arguments.
//! - [`term`]: term tags, masks, sizes and the results of term primitives; the layout of match
//!   states and boxed floats; how a continuation pointer encodes module and offset.
//! - [`atoms`]: the runtime's fixed first atoms.
//! - [`context`]: `Context` and `JITState` field offsets, the x register count.
//! - [`jit`]: architecture and variant numbers of the `avmN` format.

pub mod atoms;
pub mod context;
pub mod jit;
pub mod prims;
pub mod term;

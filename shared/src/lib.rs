//! avm-jit-core: everything avm-jit does that must run identically on the desktop and on the Pico.
//!
//! `no_std` + `alloc`. Readers are zero-copy views over `&[u8]`; the compiler streams its output into a
//! [`stream::CodeSink`] so that the device never holds a whole module's native code in RAM.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod abi;
pub mod avm;
pub mod beam;
pub mod compile;
pub mod error;
pub mod flash;
pub mod isa;
pub mod mem;
pub mod native;
pub mod stream;

pub use error::{Error, ErrorKind, Result};

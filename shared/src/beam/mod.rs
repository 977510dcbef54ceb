//! Zero-copy reader for BEAM files (`FOR1`…`BEAM` IFF container) and their chunks.
//!
//! API CONTRACT (other modules code against these names; keep them stable):
//! - `Module::parse(bytes) -> Result<Module>`; `module.chunks()` iterates `Chunk { id, offset, data }`
//!   where `offset` is the file offset of the chunk's data; `module.chunk(*b"Code") -> Option<Chunk>`.
//! - `module.atoms() -> Result<Atoms>`; `atoms.get(index) -> Option<&[u8]>` with BEAM's 1-based atom
//!   indexes (index 0 = no atom); `atoms.len()`.
//! - `module.code() -> Result<Code>`: `Code { version, opcode_max, label_count, function_count,
//!   instructions: &[u8], instructions_offset }`; `code.instructions()` iterates decoded
//!   `Instruction { opcode, offset, args: Vec<Operand> }` (see `compact`, `opcodes`).
//! - `module.imports() -> Result<Imports>`; `imports.get(i) -> Option<Import { module, function, arity }>`
//!   (atom indexes).
//! - `module.exports()`, `module.locals()` -> `Result<Exports>` (`{function, arity, label}`),
//!   `module.funs()`.
//! - `module.literals() -> Result<Literals>`: from `LitU` or inflated `LitT`; `literals.get(i) ->
//!   Option<&[u8]>` gives the external-term-format bytes of literal i (starting with 131).
//! - `module.types() -> Result<Types>`: `types.version`, `types.get(i) -> JitType`.

pub mod compact;
pub mod opcodes;
pub mod types;

pub use types::JitType;

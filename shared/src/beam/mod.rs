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
//!
//! Also: `module.lines()`, `module.strings()`, `module.native()` (the `avmN` payload as a [`crate::native::Native`]),
//! `module.literals_with_limit(n)`, `types.try_get(i)` / `types.entry(i)` (every `Type` version),
//! `Cursor::operand()` / `Cursor::tagged()` for operand-level decoding, and [`write_module`].

pub mod atoms;
pub mod code;
pub mod compact;
pub mod container;
pub mod etf;
pub mod lines;
pub mod literals;
pub mod opcodes;
pub mod tables;
pub mod types;

pub use atoms::{AtomEncoding, Atoms};
pub use code::{Code, Instruction, Instructions};
pub use compact::{Cursor, Operand};
pub use container::{
    chunk_size, padding, try_write_module, write_chunk, write_form_header, write_module, Chunk,
    Chunks, Module, CHUNK_HEADER_LEN, FORM_HEADER_LEN,
};
pub use lines::{LineItem, Lines};
pub use literals::{InflateScratch, Literals, MAX_LITERALS_BYTES};
pub use tables::{Export, Exports, Fun, Funs, Import, Imports};
pub use types::{JitType, TypeEntry, TypeSet, Types};

use core::cell::Cell;

use crate::error::{Error, Result};
use crate::native::Native;

impl<'a> Module<'a> {
    fn required(&self, id: [u8; 4]) -> Result<Chunk<'a>> {
        self.chunk(id).ok_or(Error::missing_chunk(id))
    }

    /// The atom table: `AtU8`, or the pre-OTP 20 latin-1 `Atom` chunk.
    pub fn atoms(&self) -> Result<Atoms<'a>> {
        if let Some(c) = self.chunk(*b"AtU8") {
            return Atoms::parse(c.data, c.offset, AtomEncoding::Utf8);
        }
        let c = self
            .required(*b"Atom")
            .map_err(|_| Error::missing_chunk(*b"AtU8"))?;
        Atoms::parse(c.data, c.offset, AtomEncoding::Latin1)
    }

    /// The label count tables are checked against: from `Code`, or for a precompiled module
    /// (which keeps no bytecode) from its `avmN` header.
    pub fn label_count(&self) -> Result<u32> {
        if self.chunk(*b"Code").is_none() {
            if let Some(native) = self.native()? {
                return Ok(native.labels_count);
            }
        }
        Ok(self.code()?.label_count)
    }

    pub fn code(&self) -> Result<Code<'a>> {
        let c = self.required(*b"Code")?;
        Code::parse(c.data, c.offset)
    }

    /// `ImpT`; every module and function index is checked against the atom table.
    pub fn imports(&self) -> Result<Imports<'a>> {
        self.imports_counted(&TableCounts::new(self))
    }

    /// `ExpT`; atom indexes and labels are checked.
    pub fn exports(&self) -> Result<Exports<'a>> {
        self.exports_counted(&TableCounts::new(self))
    }

    /// `LocT`; atom indexes and labels are checked. A module without local functions may omit it.
    pub fn locals(&self) -> Result<Exports<'a>> {
        self.locals_counted(&TableCounts::new(self))
    }

    /// `FunT` (absent in modules without funs: empty).
    pub fn funs(&self) -> Result<Funs<'a>> {
        self.funs_counted(&TableCounts::new(self))
    }

    /// [`Module::imports`], with the atom count taken from `counts`.
    pub fn imports_counted(&self, counts: &TableCounts<'_, 'a>) -> Result<Imports<'a>> {
        let c = self.required(*b"ImpT")?;
        let imports = Imports::parse(c.data, c.offset)?;
        imports.check_atoms(counts.atoms()?)?;
        Ok(imports)
    }

    /// [`Module::exports`], with the counts taken from `counts`.
    pub fn exports_counted(&self, counts: &TableCounts<'_, 'a>) -> Result<Exports<'a>> {
        self.function_table(*b"ExpT", counts)
    }

    /// [`Module::locals`], with the counts taken from `counts`.
    pub fn locals_counted(&self, counts: &TableCounts<'_, 'a>) -> Result<Exports<'a>> {
        if self.chunk(*b"LocT").is_none() {
            return Ok(Exports::empty());
        }
        self.function_table(*b"LocT", counts)
    }

    fn function_table(&self, id: [u8; 4], counts: &TableCounts<'_, 'a>) -> Result<Exports<'a>> {
        let c = self.required(id)?;
        let table = Exports::parse(c.data, c.offset)?;
        table.check(counts.atoms()?, counts.labels()?)?;
        Ok(table)
    }

    /// [`Module::funs`], with the counts taken from `counts`.
    pub fn funs_counted(&self, counts: &TableCounts<'_, 'a>) -> Result<Funs<'a>> {
        let Some(c) = self.chunk(*b"FunT") else {
            return Ok(Funs::empty());
        };
        let funs = Funs::parse(c.data, c.offset)?;
        funs.check(counts.atoms()?, counts.labels()?)?;
        Ok(funs)
    }

    /// Literal table from `LitU`, else inflated from `LitT`, else empty.
    pub fn literals(&self) -> Result<Literals<'a>> {
        self.literals_with_limit(MAX_LITERALS_BYTES)
    }

    /// As [`Module::literals`], refusing a `LitT` that inflates to more than `limit` bytes.
    pub fn literals_with_limit(&self, limit: usize) -> Result<Literals<'a>> {
        self.literals_reusing(limit, &mut InflateScratch::new())
    }

    /// As [`Module::literals_with_limit`], inflating a `LitT` with `scratch` (see
    /// [`InflateScratch`]; [`InflateScratch::recycle`] takes the table's buffer back).
    pub fn literals_reusing(
        &self,
        limit: usize,
        scratch: &mut InflateScratch,
    ) -> Result<Literals<'a>> {
        if let Some(c) = self.chunk(*b"LitU") {
            return Literals::parse_uncompressed(c.data, c.offset);
        }
        match self.chunk(*b"LitT") {
            Some(c) => Literals::parse_compressed_into(c.data, c.offset, limit, scratch),
            None => Ok(Literals::empty()),
        }
    }

    /// The `Type` chunk; a module without one gets a table where every type is `Any`.
    pub fn types(&self) -> Result<Types<'a>> {
        match self.chunk(*b"Type") {
            Some(c) => Types::parse(c.data, c.offset),
            None => Ok(Types::absent()),
        }
    }

    /// The `Line` chunk, if present.
    pub fn lines(&self) -> Result<Option<Lines<'a>>> {
        self.chunk(*b"Line")
            .map(|c| Lines::parse(c.data, c.offset))
            .transpose()
    }

    /// The `StrT` chunk (bytes used by `bs_put_string`/`bs_match_string`), empty if absent.
    pub fn strings(&self) -> &'a [u8] {
        self.chunk(*b"StrT").map_or(&[], |c| c.data)
    }

    /// The `avmN` chunk (AtomVM native code), if present; errors carry file offsets.
    pub fn native(&self) -> Result<Option<Native<'a>>> {
        self.chunk(*b"avmN")
            .map(|c| Native::parse(c.data).map_err(|e| e.rebase(c.offset)))
            .transpose()
    }
}

/// The atom count and label count a module's tables are checked against, each worked out once
/// (the atom table is walked and its names checked) and only when a table first needs it, so
/// that reading several tables does not read the atom table again for each, and a table's own
/// errors still come before those of the atom table.
pub struct TableCounts<'m, 'a> {
    module: &'m Module<'a>,
    atoms: Cell<Option<usize>>,
    labels: Cell<Option<u32>>,
}

impl<'m, 'a> TableCounts<'m, 'a> {
    pub fn new(module: &'m Module<'a>) -> Self {
        TableCounts {
            module,
            atoms: Cell::new(None),
            labels: Cell::new(None),
        }
    }

    /// Counts for a module whose atom table has already been read.
    pub fn with_atoms(module: &'m Module<'a>, atoms: &Atoms<'_>) -> Self {
        let counts = TableCounts::new(module);
        counts.atoms.set(Some(atoms.len()));
        counts
    }

    /// The number of atoms ([`Module::atoms`]).
    pub fn atoms(&self) -> Result<usize> {
        if let Some(n) = self.atoms.get() {
            return Ok(n);
        }
        let n = self.module.atoms()?.len();
        self.atoms.set(Some(n));
        Ok(n)
    }

    /// The label count ([`Module::label_count`]).
    pub fn labels(&self) -> Result<u32> {
        if let Some(n) = self.labels.get() {
            return Ok(n);
        }
        let n = self.module.label_count()?;
        self.labels.set(Some(n));
        Ok(n)
    }
}

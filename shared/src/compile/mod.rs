//! The ISA-independent compile driver: one pass over a module's `Code` chunk, lowering each BEAM
//! instruction through a [`Backend`].
//!
//! | module | holds |
//! |---|---|
//! | `mod.rs` | [`Driver`] state, [`compile_module`] (header, jump table, passes), errors |
//! | `ops/` | `first_pass` and `lower`: the one dispatch on the opcode (`ops/mod.rs`), one `op_*` method per BEAM instruction (or per family sharing a lowering), in one file per family |
//! | `arith.rs`, `bs.rs`, `bs/` | the lowering of arithmetic BIFs and of the bit syntax (large families, in files of their own) |
//! | `decode.rs`, `operand.rs` | compact-term operand decoding into [`Operand`]/[`Dest`] |
//! | `common.rs` | the vocabulary: `imm`/`freed`/`kept`, condition builders, `raise_error`, jumps on conditions, term accessors — a few backend calls each, never failing |
//! | `helpers.rs` | the reference's multi-step helpers (type checks with fail labels, conditional raises, GC with roots, match states), which may fail on operands |
//! | `backend.rs` | the [`Backend`] trait every ISA implements |
//! | `consts.rs` | driver constants; re-exports the ABI facts of [`crate::abi`] |
//! | `env.rs`, `module.rs` | what the driver needs from a module; whole-module entry points (`avmN` payload, precompiled `.beam`) |

pub mod arith;
pub mod backend;
mod block_vec;
pub mod bs;
pub mod common;
pub mod consts;
pub mod decode;
pub mod env;
pub mod helpers;
mod lines;
pub mod module;
pub mod operand;
mod ops;
mod tail_cache;

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

pub use backend::{
    Arg, Backend, BackendError, Cast, CmpOp, Cond, FuncPtr, Label, Reg, SortedLines, Val,
};
pub use env::{Import, ModuleEnv};
pub use operand::{Dest, Operand};

use crate::beam::compact::Cursor;
use crate::error::Error;

/// Tail sequences already emitted once: later identical tails jump to the first copy.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum TailCacheKey {
    /// `raise_error_mfa` after loading offset, function and arity into these registers.
    RaiseErrorMfa([Reg; 3]),
    /// `call_last` with this frame size to this label.
    CallLast { words: u32, label: u32 },
    /// A tail call (or jump) to this label.
    CallOnly(u32),
    /// The slow (inter-module) path of `return`.
    Return,
}

/// Compiles one module: the driver's state between instructions, and the backend it drives.
///
/// The backend and the state are separate fields so that a closure handed to the backend (an
/// if-block body) can borrow the backend while the driver reads its own state.
pub struct Driver<'m, B: Backend, E: ModuleEnv> {
    pub b: B,
    pub env: &'m E,
    pub labels_count: u32,
    /// (line ref, code offset) in the order met.
    lines: lines::LineTable,
    tail_cache: tail_cache::TailCache,
    /// The first allocation failure of the driver's own tables (sticky, like the backend's).
    alloc_error: Option<crate::mem::AllocError>,
    /// Last `func_info` (function atom index, arity), for error messages.
    current_function: Option<(u32, u32)>,
    /// Last label placed, for error messages.
    last_label: Option<u32>,
}

impl<'m, B: Backend, E: ModuleEnv> Driver<'m, B, E> {
    pub fn new(backend: B, env: &'m E, labels_count: u32) -> Self {
        Driver {
            b: backend,
            env,
            labels_count,
            lines: lines::LineTable::default(),
            tail_cache: tail_cache::TailCache::default(),
            alloc_error: None,
            current_function: None,
            last_label: None,
        }
    }

    /// Where a tail sequence was emitted first, if it was.
    pub(crate) fn tail_cache_get(&self, key: TailCacheKey) -> Option<usize> {
        self.tail_cache.get(key)
    }

    /// Remember where a tail sequence starts; the first one wins.
    pub(crate) fn tail_cache_put(&mut self, key: TailCacheKey, offset: usize) {
        if let Err(e) = self.tail_cache.put(key, offset) {
            self.alloc_error.get_or_insert(e);
        }
    }

    /// `second_pass`: the label-0 entry that returns the labels and lines tables, then patch
    /// every branch.
    fn second_pass(&mut self) {
        self.b.add_label(Label::Num(0));
        // The reference accumulates lines newest first and then sorts stably by offset.
        if self.lines.in_order() {
            self.b.return_labels_and_lines(&self.lines);
        } else {
            match self.lines.sorted_copy() {
                Ok(sorted) => self.b.return_labels_and_lines(&sorted),
                Err(e) => {
                    self.alloc_error.get_or_insert(e);
                    self.b.return_labels_and_lines(&[]);
                }
            }
        }
        self.b.update_branches();
    }
}

/// Sort `(key, offset)` entries, listed oldest first, as the reference sorts its newest-first
/// lists: stably by offset, so entries sharing an offset come newest first. In place, and
/// without a sort buffer when entries were recorded in offset order (the usual case); otherwise
/// with one allocated fallibly (the library's stable sort would allocate it infallibly).
pub(crate) fn sort_by_offset_newest_first(
    entries: &mut [(u32, u32)],
) -> Result<(), crate::mem::AllocError> {
    if entries.is_sorted_by_key(|&(_, offset)| offset) {
        for run in entries.chunk_by_mut(|a, b| a.1 == b.1) {
            run.reverse();
        }
        return Ok(());
    }
    entries.reverse();
    let mut scratch = crate::mem::try_with_capacity(entries.len(), "sorted table")?;
    scratch.extend_from_slice(entries);
    merge_sort_by_offset(entries, &mut scratch);
    Ok(())
}

/// A `(key, offset)` table entry.
type Entry = (u32, u32);

/// Stable bottom-up merge sort of `a` by offset, `buf` (as long as `a`) as scratch.
fn merge_sort_by_offset(a: &mut [Entry], buf: &mut [Entry]) {
    let n = a.len();
    let mut width = 1;
    let mut in_a = true;
    while width < n {
        let (src, dst): (&[Entry], &mut [Entry]) = if in_a {
            (&*a, &mut *buf)
        } else {
            (&*buf, &mut *a)
        };
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j) = (start, mid);
            for slot in &mut dst[start..end] {
                // Ties take the left run first: stable.
                if j >= end || (i < mid && src[i].1 <= src[j].1) {
                    *slot = src[i];
                    i += 1;
                } else {
                    *slot = src[j];
                    j += 1;
                }
            }
            start = end;
        }
        in_a = !in_a;
        width *= 2;
    }
    if !in_a {
        a.copy_from_slice(buf);
    }
}

/// What went wrong while compiling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompileErrorKind {
    /// The `Code` chunk header is not one the compiler accepts.
    BadHeader(Error),
    /// An opcode the driver does not lower (as in the reference).
    UnsupportedOpcode(u8),
    /// An operand is malformed, or of a kind the reference cannot lower.
    Operand(Error),
    /// The backend failed (see [`BackendError`]).
    Backend(BackendError),
    /// The code ended without `int_call_end`, or has bytes after it.
    BadEnd,
    /// The heap refused an allocation (what for, and how many bytes). On the device this is a
    /// module too big for the heap: it gets no entry and the others go on.
    OutOfMemory(crate::mem::AllocError),
}

impl CompileErrorKind {
    /// The same error, with an allocation failure from the reader or the backend lifted to
    /// [`CompileErrorKind::OutOfMemory`] so that callers need to check one variant.
    pub(crate) fn lift_out_of_memory(self) -> Self {
        use crate::error::ErrorKind;
        match self {
            CompileErrorKind::Backend(BackendError::OutOfMemory(e)) => {
                CompileErrorKind::OutOfMemory(e)
            }
            CompileErrorKind::Backend(BackendError::Sink(
                crate::stream::SinkError::OutOfMemory { bytes },
            )) => CompileErrorKind::OutOfMemory(crate::mem::AllocError {
                what: "code buffer",
                bytes,
            }),
            CompileErrorKind::Operand(Error {
                kind: ErrorKind::OutOfMemory { what, bytes },
                ..
            }) => CompileErrorKind::OutOfMemory(crate::mem::AllocError { what, bytes }),
            other => other,
        }
    }
}

/// A compile error, with enough context to find the instruction in the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    pub kind: CompileErrorKind,
    /// File offset of the instruction (its opcode byte).
    pub offset: usize,
    /// The instruction's opcode, when one was read.
    pub opcode: Option<u8>,
    /// Function atom index and arity of the last `func_info` met.
    pub function: Option<(u32, u32)>,
    /// Last label met.
    pub label: Option<u32>,
    /// The module's and the function's names, read from the atom table when the error was made
    /// (so that the message names them without the module at hand). Boxed: errors are rare and
    /// a `Result` carrying one should stay small.
    pub names: Option<NamesBox>,
}

/// Names for a [`CompileError`]'s message (lossy UTF-8 of the atoms).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Names {
    pub module: Option<String>,
    pub function: Option<String>,
}

impl Names {
    /// The module's name (atom 1) and `function`'s, as far as `env` has them.
    pub(crate) fn lookup<E: ModuleEnv>(env: &E, function: Option<(u32, u32)>) -> Option<NamesBox> {
        // Names are a courtesy: when the heap is full (often the very error being reported)
        // the message goes without them rather than failing again.
        // Without the `error-names` feature (the device loader) there are none.
        if !cfg!(feature = "error-names") {
            return None;
        }
        let text = |index: u32| {
            env.atom(index)
                .and_then(|bytes| crate::mem::try_lossy_string(bytes, "error names").ok())
        };
        let names = Names {
            module: text(1),
            function: function.and_then(|(f, _)| text(f)),
        };
        NamesBox::try_new(names)
    }
}

/// A boxed [`Names`], allocated fallibly (`Box::new` would abort on a full heap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamesBox(Box<[Names; 1]>);

impl NamesBox {
    pub fn try_new(names: Names) -> Option<Self> {
        let mut one = crate::mem::try_with_capacity(1, "error names").ok()?;
        one.push(names);
        let one: Box<[Names; 1]> = one.into_boxed_slice().try_into().ok()?;
        Some(NamesBox(one))
    }
}

impl core::ops::Deref for NamesBox {
    type Target = Names;
    fn deref(&self) -> &Names {
        let [names] = &*self.0;
        names
    }
}

impl fmt::Display for CompileErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileErrorKind::BadHeader(e) => write!(f, "bad Code chunk header: {}", e.kind),
            CompileErrorKind::UnsupportedOpcode(_) => write!(f, "not supported"),
            CompileErrorKind::Operand(e) => {
                write!(f, "{}", e.kind)?;
                if let Some(offset) = e.offset {
                    write!(f, " (operand at {offset:#x})")?;
                }
                Ok(())
            }
            CompileErrorKind::Backend(e) => write!(f, "{e}"),
            CompileErrorKind::BadEnd => write!(f, "code does not end with int_call_end"),
            CompileErrorKind::OutOfMemory(e) => write!(f, "{e}"),
        }
    }
}

/// `module m: f/2, label 7, opcode 64 (move) at offset 0x1c: what`, leaving out what is unknown.
impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names.as_deref();
        if let Some(module) = names.and_then(|n| n.module.as_deref()) {
            write!(f, "module {module}: ")?;
        }
        if let Some((atom, arity)) = self.function {
            match names.and_then(|n| n.function.as_deref()) {
                Some(name) => write!(f, "{name}/{arity}, ")?,
                None => write!(f, "atom#{atom}/{arity}, ")?,
            }
        }
        if let Some(label) = self.label {
            write!(f, "label {label}, ")?;
        }
        if let Some(op) = self.opcode {
            match crate::beam::opcodes::info(op) {
                Some(info) => write!(f, "opcode {op} ({}) ", info.name)?,
                None => write!(f, "opcode {op} ")?,
            }
        }
        write!(f, "at offset {:#x}: {}", self.offset, self.kind)
    }
}

impl core::error::Error for CompileError {}

const CODE_HEADER_SIZE: usize = 20;

/// Compile a module's `Code` chunk (`code_chunk` is the chunk's data, found at
/// `code_chunk_file_offset` in the file): jump table, every instruction, the labels and lines
/// tables, then flush. Returns the backend (holding the output) and the label count.
#[cfg_attr(target_os = "none", inline(never))]
pub fn compile_module<B: Backend, E: ModuleEnv>(
    code_chunk: &[u8],
    code_chunk_file_offset: usize,
    env: &E,
    backend: B,
) -> Result<(B, u32), CompileError> {
    let header_error = |e: Error| CompileError {
        offset: e.offset.unwrap_or(code_chunk_file_offset),
        kind: CompileErrorKind::BadHeader(e),
        opcode: None,
        function: None,
        label: None,
        names: Names::lookup(env, None),
    };
    let mut header = Cursor::new(code_chunk, code_chunk_file_offset);
    let mut word = || -> Result<u32, CompileError> {
        let bytes = header.take(4).map_err(header_error)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let at = |i: usize| code_chunk_file_offset + 4 * i;
    let header_size = word()?;
    if header_size != 16 {
        return Err(header_error(Error::unsupported(
            at(0),
            "header size",
            header_size.into(),
        )));
    }
    let version = word()?;
    if version != 0 {
        return Err(header_error(Error::unsupported(
            at(1),
            "instruction set",
            version.into(),
        )));
    }
    let opcode_max = word()?;
    if opcode_max > u32::from(crate::beam::opcodes::MAX_OPCODE) {
        return Err(header_error(Error::unsupported(
            at(2),
            "max opcode",
            opcode_max.into(),
        )));
    }
    let labels_count = word()?;
    let _functions_count = word()?;
    let code = &code_chunk[CODE_HEADER_SIZE..];
    // Every label but label 0 is placed by a `label` instruction of at least two bytes, so a
    // larger count is a corrupt header (and the jump table is sized by it).
    if labels_count as usize > code.len() / 2 + 1 {
        return Err(header_error(Error::invalid(
            at(3),
            "label count",
            labels_count.into(),
        )));
    }
    let mut driver = Driver::new(backend, env, labels_count);
    driver.b.jump_table(labels_count);
    let mut cur = Cursor::new(code, code_chunk_file_offset + CODE_HEADER_SIZE);
    driver.first_pass(&mut cur)?;
    driver.second_pass();
    driver.b.flush();
    if let Some(e) = driver.alloc_error {
        return Err(CompileError {
            kind: CompileErrorKind::OutOfMemory(e),
            offset: cur.file_offset(),
            opcode: None,
            function: driver.current_function,
            label: driver.last_label,
            names: Names::lookup(env, driver.current_function),
        });
    }
    if let Some(e) = driver.b.error() {
        return Err(CompileError {
            kind: CompileErrorKind::Backend(e).lift_out_of_memory(),
            offset: cur.file_offset(),
            opcode: None,
            function: driver.current_function,
            label: driver.last_label,
            names: Names::lookup(env, driver.current_function),
        });
    }
    Ok((driver.b, labels_count))
}

#[cfg(test)]
mod tests;

//! Compiling a whole BEAM module: the [`ModuleEnv`] over a parsed module, the `avmN` payload, and
//! the precompiled `.beam` the reference writes (every chunk but `Code`, then `avmN`).

use alloc::vec::Vec;
use core::fmt;

use super::{CompileError, Import, ModuleEnv};
use crate::beam::{self, Atoms, Imports, JitType, Literals, Module, TableCounts, Types};
use crate::error::{Error, ErrorKind, Result};
use crate::native;
use crate::stream::{CodeSink, VecSink};

/// What the compiler needs from a parsed BEAM module.
pub struct BeamEnv<'a> {
    pub atoms: Atoms<'a>,
    pub literals: Literals<'a>,
    pub imports: Imports<'a>,
    pub types: Types<'a>,
}

impl<'a> BeamEnv<'a> {
    pub fn new(module: &Module<'a>) -> Result<Self> {
        let atoms = module.atoms()?;
        let literals = module.literals()?;
        let imports = module.imports_counted(&TableCounts::with_atoms(module, &atoms))?;
        Ok(BeamEnv {
            atoms,
            literals,
            imports,
            types: module.types()?,
        })
    }
}

impl ModuleEnv for BeamEnv<'_> {
    fn atom(&self, index: u32) -> Option<&[u8]> {
        self.atoms.get(index as usize)
    }
    fn literal(&self, index: u32) -> Option<&[u8]> {
        self.literals.get(index as usize)
    }
    fn import(&self, index: u32) -> Option<Import> {
        self.imports.get(index as usize).map(|i| Import {
            module: i.module,
            function: i.function,
            arity: i.arity,
        })
    }
    fn jit_type(&self, index: u32) -> JitType {
        self.types.get(index as usize)
    }
}

/// The code variant to compile for (chosen, with its backend, in [`crate::isa`]).
pub use crate::isa::CodeTarget;

/// Why a module could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleError {
    /// The BEAM file itself is malformed.
    Beam(Error),
    /// The compiler stopped at an instruction.
    Compile(CompileError),
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleError::Beam(e) => write!(f, "{e}"),
            ModuleError::Compile(e) => write!(f, "{e}"),
        }
    }
}

/// A transparent wrapper: its message is the inner error's, so it names no further source.
impl core::error::Error for ModuleError {}

impl From<Error> for ModuleError {
    fn from(e: Error) -> Self {
        ModuleError::Beam(e)
    }
}

/// Compile `module`'s code into `sink`, which must already hold whatever precedes the jump table
/// (for an `avmN` payload, its header). Returns the sink and the label count.
pub fn compile_into<S: CodeSink>(
    module: &Module<'_>,
    env: &BeamEnv<'_>,
    target: CodeTarget,
    sink: S,
) -> Result<(S, u32), ModuleError> {
    let code = module
        .chunk(*b"Code")
        .ok_or(Error::missing_chunk(*b"Code"))?;
    crate::isa::compile(target, code.data, code.offset, env, sink).map_err(ModuleError::Compile)
}

/// The `avmN` payload for `module`, exactly as the reference's precompiler produces it.
pub fn native_payload(module: &Module<'_>, target: CodeTarget) -> Result<Vec<u8>, ModuleError> {
    let env = BeamEnv::new(module)?;
    let labels = module.code()?.label_count;
    let header = native::single_arch_header(labels, target.arch(), target.variant());
    let (sink, _) = compile_into(module, &env, target, VecSink::with_prefix(&header))?;
    Ok(sink.into_bytes())
}

/// The precompiled `.beam`: every chunk of the input in order except `Code` (and any earlier
/// `avmN`), then the new `avmN` chunk.
pub fn precompile_beam(bytes: &[u8], target: CodeTarget) -> Result<Vec<u8>, ModuleError> {
    let module = Module::parse(bytes)?;
    let env = BeamEnv::new(&module)?;
    precompile_module(&module, &env, target)
}

/// [`precompile_beam`] for a module already parsed, with its tables already read into `env`
/// (the CLI checks them first and compiles with what it read): [`precompile_parts`]' pieces in
/// one buffer.
pub fn precompile_module(
    module: &Module<'_>,
    env: &BeamEnv<'_>,
    target: CodeTarget,
) -> Result<Vec<u8>, ModuleError> {
    precompile_parts(module, env, target)?.joined()
}

/// A precompiled `.beam` in pieces: the kept chunks stay in the input, so that a caller writing
/// the module out (one vectored write) does not copy them into one buffer first (they are most
/// of the bytes of a module with literals and debug chunks).
pub struct Precompiled<'a> {
    input: &'a [u8],
    head: [u8; beam::FORM_HEADER_LEN],
    kept: Vec<Piece>,
    /// The first `avmN` chunk the output has among the kept chunks (an input with two).
    kept_native: Option<&'a [u8]>,
    /// The new `avmN` chunk: header, payload, padding.
    native: Vec<u8>,
    len: usize,
}

/// Part of a kept chunk: bytes of the input (a run of whole chunks), or zero padding.
#[derive(Clone, Copy, Debug)]
enum Piece {
    Input(usize, usize),
    Zeros(usize),
}

const ZEROS: [u8; 3] = [0; 3];

impl<'a> Precompiled<'a> {
    /// The module's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The module's bytes, in order, in a few slices.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let kept = self.kept.iter().map(|piece| match *piece {
            Piece::Input(start, end) => self.input.get(start..end).unwrap_or(&[]),
            Piece::Zeros(n) => ZEROS.get(..n).unwrap_or(&[]),
        });
        core::iter::once(&self.head[..])
            .chain(kept)
            .chain(core::iter::once(&self.native[..]))
    }

    /// The data of the module's first `avmN` chunk (what a reader of the output finds): the new
    /// payload, unless the input had a second `avmN`, which comes before it.
    pub fn native_chunk_data(&self) -> &[u8] {
        match self.kept_native {
            Some(data) => data,
            None => self
                .native
                .get(beam::CHUNK_HEADER_LEN..self.native_end())
                .unwrap_or(&[]),
        }
    }

    fn native_end(&self) -> usize {
        let size = self
            .native
            .get(4..8)
            .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize);
        beam::CHUNK_HEADER_LEN + size
    }

    /// The module in one buffer (what [`precompile_module`] returns).
    pub fn joined(&self) -> Result<Vec<u8>, ModuleError> {
        let mut out = crate::mem::try_with_capacity(self.len, "precompiled module")
            .map_err(|e| Error::out_of_memory(e, None))?;
        for piece in self.pieces() {
            out.extend_from_slice(piece);
        }
        Ok(out)
    }
}

/// The precompiled `.beam` (see [`precompile_beam`]) in pieces (see [`Precompiled`]): the
/// kept chunks are not copied.
pub fn precompile_parts<'a>(
    module: &Module<'a>,
    env: &BeamEnv<'_>,
    target: CodeTarget,
) -> Result<Precompiled<'a>, ModuleError> {
    let code = module.code()?;
    let code_len = module.chunk(*b"Code").map_or(0, |c| c.data.len());
    let input = module.bytes();
    // Allocations for the output: no place in the input to name.
    let oom = |e| ModuleError::from(Error::out_of_memory(e, None));
    // Each kept chunk is at most two pieces (its bytes, and zeros for padding that is not).
    let chunks = module.chunks().count();
    let mut kept: Vec<Piece> =
        crate::mem::try_with_capacity(chunks.saturating_mul(2), "precompiled module")
            .map_err(oom)?;
    let (mut dropped_code, mut dropped_native) = (false, false);
    let mut kept_native = None;
    let mut kept_len = 0usize;
    for chunk in module.chunks() {
        let Ok(chunk) = chunk else { continue };
        // Like lists:keydelete, only the first chunk with each id goes.
        let drop = match &chunk.id {
            b"Code" => !core::mem::replace(&mut dropped_code, true),
            b"avmN" => !core::mem::replace(&mut dropped_native, true),
            _ => false,
        };
        if drop {
            continue;
        }
        if chunk.id == *b"avmN" && kept_native.is_none() {
            kept_native = Some(chunk.data);
        }
        // The input's own header is the one the output has (same id, same size).
        let start = chunk.offset - beam::CHUNK_HEADER_LEN;
        let data_end = chunk.offset + chunk.data.len();
        let pad = beam::padding(chunk.data.len());
        let padding_is_zero = input
            .get(data_end..data_end + pad)
            .is_some_and(|p| p.iter().all(|&b| b == 0));
        let end = if padding_is_zero {
            data_end + pad
        } else {
            data_end
        };
        match kept.last_mut() {
            Some(Piece::Input(_, last_end)) if *last_end == start => *last_end = end,
            _ => kept.push(Piece::Input(start, end)),
        }
        if !padding_is_zero {
            kept.push(Piece::Zeros(pad));
        }
        kept_len += beam::chunk_size(chunk.data.len());
    }
    let header = native::single_arch_header(code.label_count, target.arch(), target.variant());
    let estimate = payload_estimate(code_len);
    let mut native = crate::mem::try_with_capacity(
        beam::CHUNK_HEADER_LEN + header.len() + estimate,
        "precompiled module",
    )
    .map_err(oom)?;
    native.extend_from_slice(b"avmN");
    native.extend_from_slice(&[0; 4]);
    native.extend_from_slice(&header);
    let sink = VecSink::after(native, beam::CHUNK_HEADER_LEN);
    let (sink, _) = compile_into(module, env, target, sink)?;
    let mut native = sink.into_bytes();
    let payload_len = native.len() - beam::CHUNK_HEADER_LEN;
    let pad = beam::padding(payload_len);
    let len = beam::FORM_HEADER_LEN + kept_len + native.len() + pad;
    let sizes = u32::try_from(payload_len)
        .ok()
        .zip(u32::try_from(len - 8).ok());
    let Some((payload_size, form_size)) = sizes else {
        // The output as a whole, not a place in the input: too large for the FOR1 size field
        // (which counts all but its first 8 bytes; the payload's size is smaller still).
        return Err(Error::without_offset(ErrorKind::LimitExceeded {
            what: "precompiled module size",
            value: len as u64,
            limit: u64::from(u32::MAX) + 8,
        })
        .into());
    };
    native[4..8].copy_from_slice(&payload_size.to_be_bytes());
    crate::mem::try_reserve(&mut native, pad, "precompiled module").map_err(oom)?;
    native.resize(native.len() + pad, 0);
    let mut head = [0; beam::FORM_HEADER_LEN];
    head[..4].copy_from_slice(b"FOR1");
    head[4..8].copy_from_slice(&form_size.to_be_bytes());
    head[8..].copy_from_slice(b"BEAM");
    Ok(Precompiled {
        input,
        head,
        kept,
        kept_native,
        native,
        len,
    })
}

/// The first allocation for the native code compiled from `code_len` bytes of `Code`: the
/// armv6m code of OTP 25's modules is 5.7 to 17.5 times their `Code`, above 8 times for 47 of the
/// 232 (whose buffer then grew, and was copied, once) and above 10 times for 6. Capacity that
/// is never written costs no memory pages.
fn payload_estimate(code_len: usize) -> usize {
    code_len.saturating_mul(10).min(MAX_PAYLOAD_ESTIMATE)
}

/// The first allocation for a precompiled module's native code is at most this large.
const MAX_PAYLOAD_ESTIMATE: usize = 4 << 20;

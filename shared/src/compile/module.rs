//! Compiling a whole BEAM module: the [`ModuleEnv`] over a parsed module, the `avmN` payload, and
//! the precompiled `.beam` the reference writes (every chunk but `Code`, then `avmN`).

use alloc::vec::Vec;
use core::fmt;

use super::{CompileError, Import, ModuleEnv};
use crate::beam::{self, Atoms, Imports, JitType, Literals, Module, Types};
use crate::error::{Error, Result};
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
        Ok(BeamEnv {
            atoms: module.atoms()?,
            literals: module.literals()?,
            imports: module.imports()?,
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
    let payload = native_payload(&module, target)?;
    let mut chunks: Vec<([u8; 4], &[u8])> = Vec::new();
    let (mut dropped_code, mut dropped_native) = (false, false);
    for chunk in module.chunks() {
        let chunk = chunk?;
        // Like lists:keydelete, only the first chunk with each id goes.
        if chunk.id == *b"Code" && !dropped_code {
            dropped_code = true;
            continue;
        }
        if chunk.id == *b"avmN" && !dropped_native {
            dropped_native = true;
            continue;
        }
        crate::mem::try_push(&mut chunks, (chunk.id, chunk.data), "chunk list")
            .map_err(|e| Error::out_of_memory(e, chunk.offset))?;
    }
    crate::mem::try_push(&mut chunks, (*b"avmN", &payload), "chunk list")
        .map_err(|e| Error::out_of_memory(e, bytes.len()))?;
    beam::try_write_module(&chunks).map_err(|e| Error::out_of_memory(e, 0).into())
}

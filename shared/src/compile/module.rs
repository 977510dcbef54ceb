//! Compiling a whole BEAM module: the [`ModuleEnv`] over a parsed module, the `avmN` payload, and
//! the precompiled `.beam` the reference writes (every chunk but `Code`, then `avmN`).

use alloc::vec::Vec;

use super::{compile_module, Backend, CompileError, CompileErrorKind, Import, ModuleEnv};
use crate::beam::{self, Atoms, Imports, JitType, Literals, Module, TableCounts, Types};
use crate::error::{Error, Result};
use crate::isa::armv6m::Armv6m;
use crate::native::{self, ARCH_ARMV6M};
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

/// The code variants AtomVM's armv6m JIT knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeTarget {
    /// Thumb-1 only (RP2040, Cortex-M0+): variant PIC.
    Armv6m,
    /// Thumb-2 jump tables and immediates (RP2350, Cortex-M33): variant PIC | THUMB2.
    Armv6mThumb2,
}

impl CodeTarget {
    pub fn variant(self) -> u16 {
        match self {
            CodeTarget::Armv6m => native::VARIANT_PIC,
            CodeTarget::Armv6mThumb2 => native::VARIANT_PIC | native::VARIANT_THUMB2,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            CodeTarget::Armv6m => "armv6m",
            CodeTarget::Armv6mThumb2 => "armv6m+thumb2",
        }
    }
}

/// Why a module could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleError {
    /// The BEAM file itself is malformed.
    Beam(Error),
    /// The compiler stopped at an instruction.
    Compile(CompileError),
}

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
    let code = module.chunk(*b"Code").ok_or(Error::new(
        crate::error::ErrorKind::MissingChunk { id: *b"Code" },
        0,
    ))?;
    let backend = Armv6m::new(target.variant().into(), sink);
    let (backend, labels) =
        compile_module(code.data, code.offset, env, backend).map_err(ModuleError::Compile)?;
    if let Some(e) = backend.error() {
        return Err(ModuleError::Compile(CompileError {
            kind: CompileErrorKind::Backend(e),
            offset: code.offset,
            opcode: None,
            function: None,
            label: None,
        }));
    }
    Ok((backend.into_sink(), labels))
}

/// The `avmN` payload for `module`, exactly as the reference's precompiler produces it.
pub fn native_payload(module: &Module<'_>, target: CodeTarget) -> Result<Vec<u8>, ModuleError> {
    let env = BeamEnv::new(module)?;
    let labels = module.code()?.label_count;
    let header = native::single_arch_header(labels, ARCH_ARMV6M, target.variant());
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
        chunks.push((chunk.id, chunk.data));
    }
    chunks.push((*b"avmN", &payload));
    Ok(beam::write_module(&chunks))
}

//! Compiling a whole BEAM module: the [`ModuleEnv`] over a parsed module, the `avmN` payload, and
//! the precompiled `.beam` the reference writes (every chunk but `Code`, then `avmN`).

use alloc::vec::Vec;
use core::fmt;

use super::{CompileError, Import, ModuleEnv};
use crate::beam::{self, Atoms, Imports, JitType, Literals, Module, TableCounts, Types};
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
///
/// Built in one buffer: the kept chunks and the `avmN` headers first, then the code compiled
/// straight after them (offsets inside the sink still count from the start of the payload), then
/// the two sizes filled in; so the payload is not copied again, and the buffer is sized up front.
pub fn precompile_beam(bytes: &[u8], target: CodeTarget) -> Result<Vec<u8>, ModuleError> {
    let module = Module::parse(bytes)?;
    let env = BeamEnv::new(&module)?;
    precompile_module(&module, &env, target)
}

/// [`precompile_beam`] for a module already parsed, with its tables already read into `env`
/// (the CLI checks them first and compiles with what it read).
pub fn precompile_module(
    module: &Module<'_>,
    env: &BeamEnv<'_>,
    target: CodeTarget,
) -> Result<Vec<u8>, ModuleError> {
    let code = module.code()?;
    let code_len = module.chunk(*b"Code").map_or(0, |c| c.data.len());
    // Like lists:keydelete, only the first chunk with each id goes.
    let kept = || {
        let (mut dropped_code, mut dropped_native) = (false, false);
        module.chunks().filter_map(move |chunk| {
            let chunk = chunk.ok()?;
            let drop = match &chunk.id {
                b"Code" => !core::mem::replace(&mut dropped_code, true),
                b"avmN" => !core::mem::replace(&mut dropped_native, true),
                _ => false,
            };
            (!drop).then_some((chunk.id, chunk.data))
        })
    };
    let header = native::single_arch_header(code.label_count, target.arch(), target.variant());
    let kept_len: usize = kept().map(|(_, d)| beam::chunk_size(d.len())).sum();
    // The native code of OTP's modules is 5 to 8 times their `Code`; the estimate only sizes the
    // first allocation (capped: a larger payload grows the buffer as usual).
    let estimate = code_len.saturating_mul(8).min(MAX_PAYLOAD_ESTIMATE);
    let mut out = crate::mem::try_with_capacity(
        beam::FORM_HEADER_LEN + kept_len + beam::CHUNK_HEADER_LEN + header.len() + estimate,
        "precompiled module",
    )
    .map_err(|e| Error::out_of_memory(e, 0))?;
    beam::write_form_header(&mut out);
    for (id, data) in kept() {
        beam::write_chunk(&mut out, id, data);
    }
    let native_at = out.len() + beam::CHUNK_HEADER_LEN;
    out.extend_from_slice(b"avmN");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&header);
    let sink = VecSink::after(out, native_at);
    let (sink, _) = compile_into(module, env, target, sink)?;
    let mut out = sink.into_bytes();
    let payload_len = out.len() - native_at;
    let sizes = u32::try_from(payload_len).ok().and_then(|p| {
        let padded = out.len() + beam::padding(payload_len);
        Some((p, u32::try_from(padded - 8).ok()?))
    });
    let Some((payload_size, form_size)) = sizes else {
        return Err(Error::invalid(0, "precompiled module size", payload_len as u64).into());
    };
    out[native_at - 4..native_at].copy_from_slice(&payload_size.to_be_bytes());
    let pad = beam::padding(payload_len);
    crate::mem::try_reserve(&mut out, pad, "precompiled module")
        .map_err(|e| Error::out_of_memory(e, 0))?;
    out.resize(out.len() + pad, 0);
    out[4..8].copy_from_slice(&form_size.to_be_bytes());
    Ok(out)
}

/// The first allocation for a precompiled module's native code is at most this large.
const MAX_PAYLOAD_ESTIMATE: usize = 4 << 20;

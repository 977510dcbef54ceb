//! Compiling a whole BEAM module: the [`ModuleEnv`] over a parsed module, the `avmN` payload, and
//! the precompiled `.beam` the reference writes (every chunk but `Code`, then `avmN`).

use alloc::vec::Vec;

use super::{compile_module, Backend, CompileError, CompileErrorKind, Import, ModuleEnv};
use crate::beam::{self, Atoms, Imports, JitType, Literals, Module, TableCounts, Types};
use crate::error::{Error, Result};
use crate::isa::armv6m::Armv6m;
use crate::native::{self, ARCH_ARMV6M};
use crate::stream::{CodeSink, SinkError, VecSink};

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
///
/// Built in one buffer: the kept chunks and the `avmN` headers first, then the code compiled
/// straight after them (offsets inside the sink still count from the start of the payload), then
/// the two sizes filled in; so the payload is not copied again, and the buffer is sized up front.
pub fn precompile_beam(bytes: &[u8], target: CodeTarget) -> Result<Vec<u8>, ModuleError> {
    let module = Module::parse(bytes)?;
    let env = BeamEnv::new(&module)?;
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
    let header = native::single_arch_header(code.label_count, ARCH_ARMV6M, target.variant());
    let kept_len: usize = kept().map(|(_, d)| beam::chunk_size(d.len())).sum();
    // The native code of OTP's modules is 5 to 8 times their `Code`; the estimate only sizes the
    // first allocation (capped: a larger payload grows the buffer as usual).
    let estimate = code_len.saturating_mul(8).min(MAX_PAYLOAD_ESTIMATE);
    let mut out = Vec::with_capacity(
        beam::FORM_HEADER_LEN + kept_len + beam::CHUNK_HEADER_LEN + header.len() + estimate,
    );
    beam::write_form_header(&mut out);
    for (id, data) in kept() {
        beam::write_chunk(&mut out, id, data);
    }
    let native_at = out.len() + beam::CHUNK_HEADER_LEN;
    out.extend_from_slice(b"avmN");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&header);
    let sink = TailSink::new(out, native_at);
    let (sink, _) = compile_into(&module, &env, target, sink)?;
    let mut out = sink.bytes;
    let payload_len = out.len() - native_at;
    let sizes = u32::try_from(payload_len).ok().and_then(|p| {
        let padded = out.len() + beam::padding(payload_len);
        Some((p, u32::try_from(padded - 8).ok()?))
    });
    let Some((payload_size, form_size)) = sizes else {
        return Err(Error::invalid(0, "precompiled module size", payload_len as u64).into());
    };
    out[native_at - 4..native_at].copy_from_slice(&payload_size.to_be_bytes());
    out.resize(out.len() + beam::padding(payload_len), 0);
    out[4..8].copy_from_slice(&form_size.to_be_bytes());
    Ok(out)
}

/// The first allocation for a precompiled module's native code is at most this large.
const MAX_PAYLOAD_ESTIMATE: usize = 4 << 20;

/// A sink appending to the end of a buffer that already holds other bytes: offsets count from
/// `base`, as in a [`VecSink`] holding only the payload.
struct TailSink {
    bytes: Vec<u8>,
    base: usize,
    error: Option<SinkError>,
    /// Check the flash rule (patches may only clear bits) on every `replace`, as `VecSink` does
    /// in debug builds.
    strict: bool,
}

impl TailSink {
    fn new(bytes: Vec<u8>, base: usize) -> Self {
        TailSink {
            bytes,
            base,
            error: None,
            strict: cfg!(debug_assertions),
        }
    }
}

impl CodeSink for TailSink {
    fn offset(&self) -> usize {
        self.bytes.len() - self.base
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        // The backend appends one or two halfwords at a time: copies of a known length are a
        // store or two, where a slice of unknown length costs a call to memcpy.
        if let Ok(halfword) = <[u8; 2]>::try_from(bytes) {
            self.bytes.extend_from_slice(&halfword);
        } else if let Ok(word) = <[u8; 4]>::try_from(bytes) {
            self.bytes.extend_from_slice(&word);
        } else {
            self.bytes.extend_from_slice(bytes);
        }
    }

    fn replace(&mut self, offset: usize, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let Some(dest) = offset
            .checked_add(self.base)
            .and_then(|start| Some((start, start.checked_add(bytes.len())?)))
            .and_then(|(start, end)| self.bytes.get_mut(start..end))
        else {
            self.error = Some(SinkError::OutOfRange { offset });
            return;
        };
        if self.strict {
            if let Some(i) = dest
                .iter()
                .zip(bytes)
                .position(|(old, new)| old & new != *new)
            {
                self.error = Some(SinkError::NotErased { offset: offset + i });
                return;
            }
        }
        dest.copy_from_slice(bytes);
    }

    fn error(&self) -> Option<SinkError> {
        self.error
    }
}

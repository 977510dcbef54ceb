//! One error type for every reader: what went wrong and at which byte of the input.

use core::fmt;

/// What was wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input ends before a structure that starts at the error offset is complete.
    Truncated { needed: usize, available: usize },
    /// A magic number or identifier does not match (`expected` names what was wanted).
    BadMagic { expected: &'static str },
    /// A field holds a value that is out of range or inconsistent.
    Invalid { what: &'static str, value: u64 },
    /// A chunk that must be there is absent.
    MissingChunk { id: [u8; 4] },
    /// Compressed data could not be inflated.
    Inflate,
    /// Well-formed input that this version does not handle.
    Unsupported { what: &'static str, value: u64 },
    /// An opcode that is not a generic BEAM opcode, or above the module's declared maximum.
    UnknownOpcode { opcode: u8 },
    /// A size beyond what the reader accepts (guards memory against hostile headers).
    LimitExceeded {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    /// The heap refused an allocation (`bytes` for `what`).
    OutOfMemory { what: &'static str, bytes: usize },
}

/// An error with the byte offset (from the start of the file being read) where it was found,
/// when there is one (a chunk that is missing has no offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub offset: Option<usize>,
}

pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    pub const fn new(kind: ErrorKind, offset: usize) -> Self {
        Error {
            kind,
            offset: Some(offset),
        }
    }
    /// An error that is about the input as a whole, not about a byte of it.
    pub const fn without_offset(kind: ErrorKind) -> Self {
        Error { kind, offset: None }
    }
    /// `id` is required and the input has no such chunk.
    pub const fn missing_chunk(id: [u8; 4]) -> Self {
        Error::without_offset(ErrorKind::MissingChunk { id })
    }
    pub const fn truncated(offset: usize, needed: usize, available: usize) -> Self {
        Error::new(ErrorKind::Truncated { needed, available }, offset)
    }
    pub const fn invalid(offset: usize, what: &'static str, value: u64) -> Self {
        Error::new(ErrorKind::Invalid { what, value }, offset)
    }
    pub const fn unsupported(offset: usize, what: &'static str, value: u64) -> Self {
        Error::new(ErrorKind::Unsupported { what, value }, offset)
    }
    /// The same error, with its offset moved by `base` (for views into a larger file).
    pub fn rebase(mut self, base: usize) -> Self {
        self.offset = self.offset.map(|o| o + base);
        self
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} available")
            }
            ErrorKind::BadMagic { expected } => write!(f, "bad magic: expected {expected}"),
            ErrorKind::Invalid { what, value } => write!(f, "invalid {what} ({value})"),
            ErrorKind::MissingChunk { id } => {
                write!(
                    f,
                    "missing chunk {}",
                    core::str::from_utf8(id).unwrap_or("????")
                )
            }
            ErrorKind::Inflate => write!(f, "corrupt compressed data"),
            ErrorKind::Unsupported { what, value } => write!(f, "unsupported {what} ({value})"),
            ErrorKind::UnknownOpcode { opcode } => write!(f, "unknown opcode {opcode}"),
            ErrorKind::LimitExceeded { what, value, limit } => {
                write!(f, "{what} too large ({value} > {limit})")
            }
            ErrorKind::OutOfMemory { what, bytes } => {
                write!(f, "out of memory allocating {bytes} bytes for {what}")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(offset) => write!(f, "at offset {offset:#x}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl core::error::Error for Error {}

impl Error {
    /// The heap refused an allocation while reading the input at `offset` (`None` when the
    /// allocation is not for a place in the input, e.g. for the output as a whole).
    pub fn out_of_memory(e: crate::mem::AllocError, offset: Option<usize>) -> Self {
        Error {
            kind: ErrorKind::OutOfMemory {
                what: e.what,
                bytes: e.bytes,
            },
            offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn an_error_without_an_offset_names_none() {
        let oom = crate::mem::AllocError {
            what: "precompiled module",
            bytes: 64,
        };
        assert_eq!(
            Error::out_of_memory(oom, None).to_string(),
            "out of memory allocating 64 bytes for precompiled module"
        );
        assert_eq!(
            Error::out_of_memory(oom, Some(0x20)).to_string(),
            "at offset 0x20: out of memory allocating 64 bytes for precompiled module"
        );
        assert_eq!(
            Error::missing_chunk(*b"avmN").to_string(),
            "missing chunk avmN"
        );
    }
}

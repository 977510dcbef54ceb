//! The `Code` chunk: its header and the generic instruction stream.
//!
//! Header: u32 BE size of the header fields that follow (16 today), then u32 BE instruction set
//! version (0), highest opcode used, label count and function count. Instructions start right after
//! the announced header size.

use alloc::vec::Vec;

use super::compact::{Cursor, Operand};
use super::opcodes;
use crate::error::{Error, ErrorKind, Result};

/// Size of the header fields every known compiler writes.
pub const CODE_HEADER_SIZE: u32 = 16;

#[derive(Clone, Copy, Debug)]
pub struct Code<'a> {
    /// The announced header size (bytes after the size field before the instructions).
    pub header_size: u32,
    pub version: u32,
    pub opcode_max: u32,
    pub label_count: u32,
    pub function_count: u32,
    pub instructions: &'a [u8],
    /// File offset of `instructions[0]`.
    pub instructions_offset: usize,
}

impl<'a> Code<'a> {
    pub fn parse(data: &'a [u8], offset: usize) -> Result<Code<'a>> {
        let mut c = Cursor::new(data, offset);
        let header_size = c.u32_be()?;
        if header_size < CODE_HEADER_SIZE {
            return Err(Error::invalid(
                offset,
                "Code header size",
                u64::from(header_size),
            ));
        }
        let header_at = c.file_offset();
        let header = c.take(header_size as usize)?;
        let mut h = Cursor::new(header, header_at);
        let version = h.u32_be()?;
        if version != 0 {
            return Err(Error::unsupported(
                header_at,
                "Code format version",
                u64::from(version),
            ));
        }
        let opcode_max = h.u32_be()?;
        let label_count = h.u32_be()?;
        let function_count = h.u32_be()?;
        Ok(Code {
            header_size,
            version,
            opcode_max,
            label_count,
            function_count,
            instructions_offset: c.file_offset(),
            instructions: c.remaining(),
        })
    }

    /// Decodes the instructions one by one. The stream must end with `int_code_end` exactly at the
    /// end of the chunk; every opcode must be known and not above `opcode_max`.
    pub fn instructions(&self) -> Instructions<'a> {
        Instructions {
            cursor: Cursor::new(self.instructions, self.instructions_offset),
            opcode_max: self.opcode_max,
            done: false,
        }
    }
}

/// One decoded generic instruction.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Instruction<'a> {
    pub opcode: u8,
    /// File offset of the opcode byte.
    pub offset: usize,
    /// Encoded size in bytes (opcode and operands).
    pub len: usize,
    pub args: Vec<Operand<'a>>,
}

impl Instruction<'_> {
    pub fn name(&self) -> &'static str {
        opcodes::info(self.opcode).map_or("?", |i| i.name)
    }
}

#[derive(Clone, Debug)]
pub struct Instructions<'a> {
    cursor: Cursor<'a>,
    opcode_max: u32,
    done: bool,
}

impl<'a> Instructions<'a> {
    fn decode_next(&mut self) -> Result<Instruction<'a>> {
        let offset = self.cursor.file_offset();
        let start = self.cursor.pos();
        let opcode = self.cursor.u8()?;
        let info = opcodes::info(opcode)
            .filter(|_| u32::from(opcode) <= self.opcode_max)
            .ok_or(Error::new(ErrorKind::UnknownOpcode { opcode }, offset))?;
        let mut args = Vec::with_capacity(usize::from(info.arity));
        for _ in 0..info.arity {
            args.push(self.cursor.operand()?);
        }
        if opcode == opcodes::INT_CODE_END {
            self.done = true;
            if !self.cursor.is_empty() {
                return Err(Error::invalid(
                    self.cursor.file_offset(),
                    "bytes after int_code_end",
                    self.cursor.len() as u64,
                ));
            }
        }
        Ok(Instruction {
            opcode,
            offset,
            len: self.cursor.pos() - start,
            args,
        })
    }
}

impl<'a> Iterator for Instructions<'a> {
    type Item = Result<Instruction<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.cursor.is_empty() {
            self.done = true;
            return Some(Err(Error::invalid(
                self.cursor.file_offset(),
                "missing int_code_end",
                0,
            )));
        }
        let r = self.decode_next();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn chunk(opcode_max: u8, body: &[u8]) -> Vec<u8> {
        let mut d = vec![
            0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, opcode_max, 0, 0, 0, 3, 0, 0, 0, 1,
        ];
        d.extend_from_slice(body);
        d
    }

    #[test]
    fn decodes_a_small_function() {
        // label 1; func_info a1 a2 u0; label 2; move x0 -> x1 ; return; int_code_end
        let d = chunk(
            64,
            &[1, 0x10, 2, 0x12, 0x22, 0x00, 1, 0x20, 64, 0x03, 0x13, 19, 3],
        );
        let code = Code::parse(&d, 1000).unwrap();
        assert_eq!(
            (code.label_count, code.function_count, code.opcode_max),
            (3, 1, 64)
        );
        assert_eq!(code.instructions_offset, 1020);
        let ins: Vec<_> = code.instructions().collect::<Result<_>>().unwrap();
        assert_eq!(ins.len(), 6);
        assert_eq!(ins[1].name(), "func_info");
        assert_eq!(
            ins[1].args,
            vec![Operand::Atom(1), Operand::Atom(2), Operand::Literal(0)]
        );
        assert_eq!(ins[3].offset, 1020 + 8);
        assert_eq!(ins[3].args, vec![Operand::X(0), Operand::X(1)]);
        assert_eq!(ins[3].len, 3);
    }

    #[test]
    fn opcode_checks() {
        // move (64) above the declared maximum 19
        let d = chunk(19, &[64, 0x03, 0x13, 3]);
        let err = Code::parse(&d, 0)
            .unwrap()
            .instructions()
            .last()
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (err.kind, err.offset),
            (ErrorKind::UnknownOpcode { opcode: 64 }, Some(20))
        );
        // opcode 0 and opcodes past the table
        for op in [0u8, 186, 255] {
            let d = chunk(255, &[op, 3]);
            let err = Code::parse(&d, 0)
                .unwrap()
                .instructions()
                .next()
                .unwrap()
                .unwrap_err();
            assert_eq!(err.kind, ErrorKind::UnknownOpcode { opcode: op });
        }
    }

    #[test]
    fn stream_must_end_with_int_code_end() {
        let d = chunk(19, &[19]);
        let r: Result<Vec<_>> = Code::parse(&d, 0).unwrap().instructions().collect();
        assert!(r.is_err());
        let d = chunk(19, &[3, 19]);
        let r: Result<Vec<_>> = Code::parse(&d, 0).unwrap().instructions().collect();
        assert!(r.is_err());
        // operand cut short
        let d = chunk(64, &[64, 0x03]);
        let r: Result<Vec<_>> = Code::parse(&d, 0).unwrap().instructions().collect();
        assert!(matches!(r.unwrap_err().kind, ErrorKind::Truncated { .. }));
    }

    #[test]
    fn header_checks() {
        assert!(Code::parse(&[0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], 0).is_err());
        let mut d = chunk(19, &[3]);
        d[7] = 1;
        assert!(matches!(
            Code::parse(&d, 0).unwrap_err().kind,
            ErrorKind::Unsupported { .. }
        ));
        assert!(Code::parse(&d[..10], 0).is_err());
        // a longer header is skipped
        let mut d = vec![
            0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 3,
        ];
        let code = Code::parse(&d, 0).unwrap();
        assert_eq!(code.instructions, &[3]);
        d.truncate(22);
        assert!(Code::parse(&d, 0).is_err());
    }
}

//! The IFF container: `FOR1`, u32 BE form size, `BEAM`, then chunks (4-byte id, u32 BE size, data,
//! zero padding to a multiple of 4).

use alloc::vec::Vec;

use super::compact::Cursor;
use crate::error::{Error, ErrorKind, Result};

/// Bytes before the first chunk: `FOR1`, size, `BEAM`.
const FORM_HEADER: usize = 12;
const CHUNK_HEADER: usize = 8;
/// Bytes before the first chunk: `FOR1`, size, `BEAM`.
pub const FORM_HEADER_LEN: usize = FORM_HEADER;
/// Bytes before a chunk's data: id and size.
pub const CHUNK_HEADER_LEN: usize = CHUNK_HEADER;

/// A validated BEAM file. Parsing checks the whole chunk layout once; chunk contents are checked by
/// the typed readers.
#[derive(Clone, Copy, Debug)]
pub struct Module<'a> {
    bytes: &'a [u8],
}

/// One chunk: `offset` is the file offset of `data` (after the 8-byte chunk header).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Chunk<'a> {
    pub id: [u8; 4],
    pub offset: usize,
    pub data: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// The id as text (`"Code"`), or `"????"` if it is not UTF-8.
    pub fn id_str(&self) -> &str {
        core::str::from_utf8(&self.id).unwrap_or("????")
    }
}

impl<'a> Module<'a> {
    /// Checks the form header and that the chunks exactly fill the declared form size, which must
    /// be the file size (so every truncated file is refused here).
    pub fn parse(bytes: &'a [u8]) -> Result<Module<'a>> {
        let mut c = Cursor::new(bytes, 0);
        if c.take(4)? != b"FOR1" {
            return Err(Error::new(ErrorKind::BadMagic { expected: "FOR1" }, 0));
        }
        let form_size = c.len_u32()?;
        let available = bytes.len() - CHUNK_HEADER;
        if form_size > available {
            return Err(Error::truncated(4, form_size, available));
        }
        if form_size < available {
            return Err(Error::invalid(
                4,
                "FOR1 size (file is longer)",
                form_size as u64,
            ));
        }
        if c.take(4)? != b"BEAM" {
            return Err(Error::new(ErrorKind::BadMagic { expected: "BEAM" }, 8));
        }
        let module = Module { bytes };
        for chunk in module.chunks_unchecked() {
            chunk?;
        }
        Ok(module)
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Iterates over the chunks in file order.
    pub fn chunks(&self) -> Chunks<'a> {
        self.chunks_unchecked()
    }

    fn chunks_unchecked(&self) -> Chunks<'a> {
        let body = self.bytes.get(FORM_HEADER..).unwrap_or(&[]);
        Chunks {
            cursor: Cursor::new(body, FORM_HEADER),
            failed: false,
        }
    }

    /// The first chunk with this id.
    ///
    /// Called for every table a module's reader and compiler look up: it steps from header to
    /// header (the layout was checked by [`Module::parse`]) instead of going through
    /// [`Chunks`]' checked items, and stops where they would (a header, data or padding that
    /// does not fit).
    pub fn chunk(&self, id: [u8; 4]) -> Option<Chunk<'a>> {
        let mut pos = FORM_HEADER;
        while let Some(header) = self.bytes.get(pos..pos + CHUNK_HEADER) {
            let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let offset = pos + CHUNK_HEADER;
            let end = offset.checked_add(size)?;
            pos = end.checked_add(padding(size))?;
            if pos > self.bytes.len() {
                return None;
            }
            if header[..4] == id {
                let data = self.bytes.get(offset..end)?;
                return Some(Chunk { id, offset, data });
            }
        }
        None
    }
}

/// Iterator over a module's chunks. Yields an error (once) for a malformed chunk header; after a
/// successful [`Module::parse`] it never does.
#[derive(Clone, Debug)]
pub struct Chunks<'a> {
    cursor: Cursor<'a>,
    failed: bool,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Result<Chunk<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.cursor.is_empty() {
            return None;
        }
        let r = next_chunk(&mut self.cursor);
        self.failed = r.is_err();
        Some(r)
    }
}

fn next_chunk<'a>(c: &mut Cursor<'a>) -> Result<Chunk<'a>> {
    let header_at = c.file_offset();
    if c.len() < CHUNK_HEADER {
        return Err(Error::truncated(header_at, CHUNK_HEADER, c.len()));
    }
    let mut id = [0u8; 4];
    id.copy_from_slice(c.take(4)?);
    let size = c.len_u32()?;
    let offset = c.file_offset();
    let data = c.take(size)?;
    let pad = padding(size);
    if c.len() < pad {
        return Err(Error::truncated(c.file_offset(), pad, c.len()));
    }
    c.skip(pad)?;
    Ok(Chunk { id, offset, data })
}

/// Zero bytes after a chunk of `size` bytes, up to a multiple of 4.
pub fn padding(size: usize) -> usize {
    (4 - size % 4) % 4
}

/// Bytes a chunk of `size` bytes of data takes in the file: header, data, padding.
pub fn chunk_size(size: usize) -> usize {
    CHUNK_HEADER + size + padding(size)
}

/// Builds a BEAM file from chunks, exactly as Erlang's `beam_lib:build_module/1` does.
pub fn write_module(chunks: &[([u8; 4], &[u8])]) -> Vec<u8> {
    let body: usize = chunks.iter().map(|(_, d)| chunk_size(d.len())).sum();
    let mut out = Vec::with_capacity(FORM_HEADER + body);
    write_form_header(&mut out);
    for (id, data) in chunks {
        write_chunk(&mut out, *id, data);
    }
    // The form size counts "BEAM" and the chunks.
    out[4..8].copy_from_slice(&((4 + body) as u32).to_be_bytes());
    out
}

/// [`write_module`], failing instead of aborting when the heap cannot hold the file.
pub fn try_write_module(chunks: &[([u8; 4], &[u8])]) -> Result<Vec<u8>, crate::mem::AllocError> {
    let body: usize = chunks.iter().map(|(_, d)| chunk_size(d.len())).sum();
    let mut out = crate::mem::try_with_capacity(FORM_HEADER + body, "BEAM file")?;
    write_form_header(&mut out);
    for (id, data) in chunks {
        write_chunk(&mut out, *id, data);
    }
    out[4..8].copy_from_slice(&((4 + body) as u32).to_be_bytes());
    Ok(out)
}

/// Start a BEAM file: `FOR1`, a form size of 0 (to be filled in), `BEAM`.
pub fn write_form_header(out: &mut Vec<u8>) {
    out.extend_from_slice(b"FOR1");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(b"BEAM");
}

/// Append one chunk: id, size, data, padding.
pub fn write_chunk(out: &mut Vec<u8>, id: [u8; 4], data: &[u8]) {
    out.extend_from_slice(&id);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + padding(data.len()), 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn round_trip_and_layout() {
        let beam = write_module(&[(*b"AtU8", &[1, 2, 3]), (*b"Code", &[9; 4]), (*b"StrT", &[])]);
        // 4 ("BEAM") + (8+3+1) + (8+4) + 8
        assert_eq!(&beam[..4], b"FOR1");
        assert_eq!(u32::from_be_bytes([beam[4], beam[5], beam[6], beam[7]]), 36);
        assert_eq!(beam.len(), 44);
        assert_eq!(&beam[20..24], &[1, 2, 3, 0]);
        let m = Module::parse(&beam).unwrap();
        let chunks: Vec<_> = m.chunks().map(|c| c.unwrap()).collect();
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            chunks[0],
            Chunk {
                id: *b"AtU8",
                offset: 20,
                data: &[1, 2, 3]
            }
        );
        assert_eq!(chunks[1].offset, 32);
        assert_eq!(chunks[2].data, &[] as &[u8]);
        assert_eq!(m.chunk(*b"Code").unwrap().data, &[9; 4]);
        assert!(m.chunk(*b"Type").is_none());
    }

    #[test]
    fn chunk_finds_what_the_checked_iterator_finds() {
        let beam = write_module(&[
            (*b"AtU8", &[1, 2, 3]),
            (*b"Code", &[9; 4]),
            (*b"StrT", &[]),
            (*b"Code", &[7; 5]),
            (*b"Line", &[5; 6]),
        ]);
        let mut big = beam.clone();
        // A size past the end of the file.
        big[40..44].copy_from_slice(&u32::MAX.to_be_bytes());
        for bytes in [&beam[..], &big[..]] {
            // Every prefix too (a module that `parse` would refuse: `chunk` stops where the
            // iterator fails).
            for n in 0..=bytes.len() {
                let m = Module { bytes: &bytes[..n] };
                for id in [*b"AtU8", *b"Code", *b"StrT", *b"Line", *b"Type"] {
                    let checked = m.chunks().filter_map(|c| c.ok()).find(|c| c.id == id);
                    assert_eq!(m.chunk(id), checked, "{n} bytes, {}", id[0] as char);
                }
            }
        }
        let m = Module::parse(&beam).unwrap();
        assert_eq!(m.chunk(*b"Code").unwrap().data, &[9; 4]);
        assert_eq!(m.chunk(*b"Line").unwrap().data, &[5; 6]);
    }

    #[test]
    fn every_prefix_is_refused() {
        let beam = write_module(&[(*b"AtU8", &[1, 2, 3]), (*b"Code", &[9; 4])]);
        for n in 0..beam.len() {
            assert!(Module::parse(&beam[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn bad_headers() {
        let mut beam = write_module(&[(*b"Code", &[1])]);
        beam[0] = b'X';
        assert_eq!(
            Module::parse(&beam).unwrap_err().kind,
            ErrorKind::BadMagic { expected: "FOR1" }
        );
        let mut beam = write_module(&[(*b"Code", &[1])]);
        beam[11] = b'X';
        assert_eq!(Module::parse(&beam).unwrap_err().offset, Some(8));
        // Chunk size running past the form.
        let mut beam = write_module(&[(*b"Code", &[1])]);
        beam[19] = 200;
        let err = Module::parse(&beam).unwrap_err();
        assert_eq!(err.offset, Some(20));
        // Longer than declared.
        let mut beam = write_module(&[(*b"Code", &[1])]);
        beam.extend_from_slice(&[0; 4]);
        assert!(Module::parse(&beam).is_err());
        // A form holding a partial chunk header.
        let beam = vec![
            b'F', b'O', b'R', b'1', 0, 0, 0, 8, b'B', b'E', b'A', b'M', 1, 2, 3, 4,
        ];
        assert_eq!(Module::parse(&beam).unwrap_err().offset, Some(12));
    }
}

//! The literal table: `LitU` (plain) or `LitT` (u32 BE uncompressed size, then a zlib stream; a
//! size of 0 means the table follows uncompressed).
//!
//! Table layout: u32 BE count, then per literal u32 BE size and that many bytes of external term
//! format (starting with 131).

use alloc::borrow::Cow;
use alloc::vec::Vec;

use super::compact::Cursor;
use crate::error::{Error, ErrorKind, Result};

/// Default bound on an inflated `LitT` (the largest in OTP's own applications is about 220 KiB).
pub const MAX_LITERALS_BYTES: usize = 4 * 1024 * 1024;

/// External term format version byte.
const ETF_VERSION: u8 = 131;

/// Literals per entry of the index: it holds where every `STRIDE`th literal starts, and the
/// ones between are reached through their size fields (a module can have thousands of
/// literals: `unicode_util` has 6,221, 24 KB as a full index; 1.5 KB so).
const STRIDE: usize = 16;

#[derive(Clone, Debug)]
pub struct Literals<'a> {
    table: Cow<'a, [u8]>,
    /// File offset used in errors: the table itself for `LitU`, the chunk for inflated `LitT`.
    offset: usize,
    /// Position in `table` of the term bytes of literals 0, [`STRIDE`], 2 * [`STRIDE`], ...
    starts: Vec<u32>,
    /// Number of literals.
    count: usize,
    /// Whether the table was inflated from a compressed `LitT`.
    pub compressed: bool,
}

impl<'a> Literals<'a> {
    pub fn empty() -> Literals<'a> {
        Literals {
            table: Cow::Borrowed(&[]),
            offset: 0,
            starts: Vec::new(),
            count: 0,
            compressed: false,
        }
    }

    pub fn parse_uncompressed(data: &'a [u8], offset: usize) -> Result<Literals<'a>> {
        let (starts, count) = index_table(data, offset)?;
        Ok(Literals {
            table: Cow::Borrowed(data),
            offset,
            starts,
            count,
            compressed: false,
        })
    }

    /// Parses a `LitT` chunk, inflating at most `limit` bytes.
    pub fn parse_compressed(data: &'a [u8], offset: usize, limit: usize) -> Result<Literals<'a>> {
        Literals::parse_compressed_into(data, offset, limit, &mut InflateScratch::new())
    }

    /// [`Literals::parse_compressed`], inflating with `scratch` (see [`InflateScratch`]).
    pub fn parse_compressed_into(
        data: &'a [u8],
        offset: usize,
        limit: usize,
        scratch: &mut InflateScratch,
    ) -> Result<Literals<'a>> {
        let mut c = Cursor::new(data, offset);
        let declared = c.len_u32()?;
        if declared == 0 {
            let mut lit = Literals::parse_uncompressed(c.remaining(), offset + 4)?;
            lit.compressed = false;
            return Ok(lit);
        }
        if declared > limit {
            return Err(Error::new(
                ErrorKind::LimitExceeded {
                    what: "inflated literal table",
                    value: declared as u64,
                    limit: limit as u64,
                },
                offset,
            ));
        }
        let inflated = inflate_zlib(c.remaining(), declared, offset, scratch)?;
        if inflated.len() != declared {
            return Err(Error::invalid(
                offset,
                "LitT uncompressed size",
                declared as u64,
            ));
        }
        // Positions inside inflated data are not file positions: report the chunk's.
        let (starts, count) = index_table(&inflated, 0).map_err(|e| Error::new(e.kind, offset))?;
        Ok(Literals {
            table: Cow::Owned(inflated),
            offset,
            starts,
            count,
            compressed: true,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The external-term-format bytes of literal `index` (0-based, as in `{literal, N}` operands).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.count {
            return None;
        }
        let mut start = *self.starts.get(index / STRIDE)? as usize;
        let mut size = self.size_before(start)?;
        for _ in 0..index % STRIDE {
            start = start.checked_add(size)?.checked_add(4)?;
            size = self.size_before(start)?;
        }
        self.table.get(start..start.checked_add(size)?)
    }

    /// The size field in front of the term starting at `start`.
    #[inline]
    fn size_before(&self, start: usize) -> Option<usize> {
        let size = self.table.get(start.checked_sub(4)?..start)?;
        Some(u32::from_be_bytes([size[0], size[1], size[2], size[3]]) as usize)
    }

    /// File offset errors about this table are reported at.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The (inflated) table itself: what a `LitU` chunk holds.
    pub fn table(&self) -> &[u8] {
        &self.table
    }

    /// Size of the (inflated) table in bytes.
    pub fn table_size(&self) -> usize {
        self.table.len()
    }
}

/// What inflating a `LitT` takes besides its input, kept by a caller that reads many modules in
/// turn (the CLI, one per worker thread): the last table's buffer, whose contents are
/// overwritten (only the bytes it lacks are allocated and cleared), and the inflater's state
/// (~11 KB, reset rather than allocated and cleared again).
#[derive(Default)]
pub struct InflateScratch {
    table: Vec<u8>,
    #[cfg(feature = "inflate")]
    state: Vec<miniz_oxide::inflate::core::DecompressorOxide>,
}

impl InflateScratch {
    pub const fn new() -> Self {
        InflateScratch {
            table: Vec::new(),
            #[cfg(feature = "inflate")]
            state: Vec::new(),
        }
    }

    /// Takes back the buffer of a table inflated with this scratch, for the next one.
    pub fn recycle(&mut self, literals: Literals<'_>) {
        if let Cow::Owned(table) = literals.table {
            self.table = table;
        }
    }
}

/// Inflate the zlib stream `input` into a buffer of `declared` bytes, allocated fallibly (as is
/// the decompressor's state): the data inflated so far, shorter when the stream ends early; a
/// stream that would go on past `declared` bytes, or is corrupt, is an error. `offset` is the
/// chunk's file offset.
///
/// The buffer is the scratch's, whatever it held: the inflater writes every byte it returns
/// before any back reference reads it (a reference to before the start is an error), so old
/// contents are never seen, and only a buffer shorter than `declared` is extended (and the
/// extension cleared). The inflater's state is the scratch's too, reset to its start.
#[cfg(feature = "inflate")]
fn inflate_zlib(
    input: &[u8],
    declared: usize,
    offset: usize,
    scratch: &mut InflateScratch,
) -> Result<Vec<u8>> {
    use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
    use miniz_oxide::inflate::TINFLStatus;
    let oom = |e| Error::out_of_memory(e, Some(offset));
    let mut out = core::mem::take(&mut scratch.table);
    if out.len() >= declared {
        out.truncate(declared);
    } else {
        let more = declared - out.len();
        crate::mem::try_reserve_exact(&mut out, more, "inflated literal table").map_err(oom)?;
        out.resize(declared, 0u8);
    }
    let state = &mut scratch.state;
    if let Some(state) = state.first_mut() {
        // Every other field is reset or overwritten from the start state on.
        state.init();
    } else {
        crate::mem::try_reserve_exact(state, 1, "inflate state").map_err(oom)?;
        // Built in place in the allocation (a push would build the ~11 KB state on the stack
        // and copy it).
        state.resize_with(1, DecompressorOxide::new);
    }
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, _, written) = decompress(&mut state[0], input, &mut out, 0, flags);
    if status != TINFLStatus::Done {
        // The buffer stays for the next table.
        scratch.table = out;
        return Err(Error::new(ErrorKind::Inflate, offset + 4));
    }
    out.truncate(written);
    Ok(out)
}

/// Without the `inflate` feature (the device loader) a compressed table is refused.
#[cfg(not(feature = "inflate"))]
fn inflate_zlib(
    _input: &[u8],
    declared: usize,
    offset: usize,
    _scratch: &mut InflateScratch,
) -> Result<Vec<u8>> {
    Err(Error::unsupported(
        offset,
        "compressed literal table (LitT; pack the module with LitU)",
        declared as u64,
    ))
}

/// Checks the table layout and returns where every [`STRIDE`]th term starts, and the number of
/// literals; `offset` is the file offset of `table[0]`.
fn index_table(table: &[u8], offset: usize) -> Result<(Vec<u32>, usize)> {
    let mut c = Cursor::new(table, offset);
    let count = c.len_u32()?;
    // Each literal takes at least its 4-byte size and one byte of term.
    if count.saturating_mul(5) > c.len() {
        return Err(Error::invalid(offset, "literal count", count as u64));
    }
    let mut starts = crate::mem::try_with_capacity(count.div_ceil(STRIDE), "literal index")
        .map_err(|e| Error::out_of_memory(e, Some(offset)))?;
    for i in 0..count {
        let size_at = c.file_offset();
        let size = c.len_u32()?;
        let term_at = c.pos();
        let term = c.take(size)?;
        let version = term.first().copied().unwrap_or(0);
        if version != ETF_VERSION {
            return Err(Error::invalid(
                size_at,
                "literal term version",
                u64::from(version),
            ));
        }
        if i % STRIDE == 0 {
            starts.push(term_at as u32);
        }
    }
    if !c.is_empty() {
        return Err(Error::invalid(
            c.file_offset(),
            "bytes after the last literal",
            c.len() as u64,
        ));
    }
    Ok((starts, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn table() -> Vec<u8> {
        // two literals: 131,97,1 (small int 1) and 131,106 (nil)
        vec![0, 0, 0, 2, 0, 0, 0, 3, 131, 97, 1, 0, 0, 0, 2, 131, 106]
    }

    #[test]
    fn uncompressed() {
        let t = table();
        let lit = Literals::parse_uncompressed(&t, 0).unwrap();
        assert_eq!(lit.len(), 2);
        assert_eq!(lit.get(0), Some(&[131, 97, 1][..]));
        assert_eq!(lit.get(1), Some(&[131, 106][..]));
        assert_eq!(lit.get(2), None);
        for n in 0..t.len() {
            assert!(
                Literals::parse_uncompressed(&t[..n], 0).is_err(),
                "prefix {n}"
            );
        }
        let mut bad = t.clone();
        bad[8] = 130;
        assert_eq!(
            Literals::parse_uncompressed(&bad, 10).unwrap_err().offset,
            Some(14)
        );
    }

    #[test]
    fn literals_between_index_entries_are_found_by_their_sizes() {
        // 3 * STRIDE + 5 literals of different sizes: small ints 0.. as 131, 97, n, and
        // every third one a list of n nils.
        let count = 3 * STRIDE + 5;
        let term = |n: usize| -> Vec<u8> {
            match n % 3 {
                0 => {
                    let mut t = vec![131, 108, 0, 0, 0, n as u8];
                    t.extend(core::iter::repeat_n(106, n));
                    t.push(106);
                    t
                }
                _ => vec![131, 97, n as u8],
            }
        };
        let mut t = (count as u32).to_be_bytes().to_vec();
        for n in 0..count {
            t.extend_from_slice(&(term(n).len() as u32).to_be_bytes());
            t.extend_from_slice(&term(n));
        }
        let lit = Literals::parse_uncompressed(&t, 0).unwrap();
        assert_eq!(lit.len(), count);
        assert_eq!(lit.starts.len(), 4);
        for n in 0..count {
            assert_eq!(lit.get(n), Some(&term(n)[..]), "literal {n}");
        }
        assert_eq!(lit.get(count), None);
        assert_eq!(lit.get(usize::MAX), None);
    }

    #[test]
    fn compressed_sizes_are_checked() {
        let t = table();
        let z = miniz_oxide::deflate::compress_to_vec_zlib(&t, 6);
        let mut chunk = (t.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(&z);
        let lit = Literals::parse_compressed(&chunk, 0, MAX_LITERALS_BYTES).unwrap();
        assert_eq!(lit.get(1), Some(&[131, 106][..]));
        assert!(lit.compressed);
        // declared size smaller or larger than the real one
        let mut small = chunk.clone();
        small[3] -= 1;
        assert!(Literals::parse_compressed(&small, 0, MAX_LITERALS_BYTES).is_err());
        let mut large = chunk.clone();
        large[3] += 1;
        assert!(Literals::parse_compressed(&large, 0, MAX_LITERALS_BYTES).is_err());
        // limit
        let err = Literals::parse_compressed(&chunk, 0, 8).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::LimitExceeded { .. }));
        // corrupt stream
        let mut bad = chunk.clone();
        bad[6] ^= 0xFF;
        assert!(Literals::parse_compressed(&bad, 0, MAX_LITERALS_BYTES).is_err());
        // size 0: plain table follows
        let mut plain = vec![0, 0, 0, 0];
        plain.extend_from_slice(&t);
        let lit = Literals::parse_compressed(&plain, 0, MAX_LITERALS_BYTES).unwrap();
        assert_eq!(lit.get(0), Some(&[131, 97, 1][..]));
    }
}

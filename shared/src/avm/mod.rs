//! The packbeam (`.avm`) format: reader and byte-exact writer.
//!
//! Layout: a fixed 24-byte header, then sections. Each section is `{size, flags, reserved}` (u32
//! big-endian), a NUL-terminated name padded with NULs to a multiple of 4, then the payload padded
//! to a multiple of 4. `size` counts the whole section, header included: AtomVM steps from one
//! section to the next by adding it. The list ends with a section whose low flag byte is 0, named
//! `end` (or `END` once AtomVM has validated its JIT cache); packbeam writes its size as 0.
//!
//! [`Pack::parse`] keeps every byte it does not interpret (name padding, payload padding, bytes
//! after the end section) so that [`Pack::write`] reproduces its input exactly.

use alloc::vec::Vec;

use crate::beam::compact::array_at;
use crate::error::{Error, ErrorKind, Result};

/// `#!/usr/bin/env AtomVM\n` followed by two NUL bytes.
pub const HEADER: [u8; 24] = *b"#!/usr/bin/env AtomVM\n\0\0";
/// The section holds a module with a `start/0` entry point.
pub const BEAM_START: u32 = 1;
/// The section holds a BEAM module.
pub const BEAM_CODE: u32 = 2;
/// The section holds a plain file (payload: u32 big-endian length, then the bytes).
pub const NORMAL_FILE: u32 = 4;
/// AtomVM recognises the end section by these flag bits being all zero.
pub const END_FLAGS_MASK: u32 = 0xFF;
/// Bytes of `{size, flags, reserved}` before a section's name.
pub const SECTION_FIXED_HEADER: usize = 12;

/// One section (a module or file) of a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section<'a> {
    /// File offset of the section's `size` field.
    pub offset: usize,
    /// The `size` field: the whole section, header included.
    pub size: u32,
    pub flags: u32,
    pub reserved: u32,
    /// The name without its terminating NUL.
    pub name: &'a [u8],
    /// The NUL after the name and the bytes up to the next multiple of 4.
    pub name_padding: &'a [u8],
    /// File offset of the payload.
    pub data_offset: usize,
    /// The payload, without its trailing padding when its own length is known (BEAM and plain files).
    pub data: &'a [u8],
    /// Bytes between the payload and the end of the section.
    pub padding: &'a [u8],
}

impl<'a> Section<'a> {
    pub fn is_beam(&self) -> bool {
        self.flags & BEAM_CODE != 0
    }
    pub fn is_start(&self) -> bool {
        self.flags & BEAM_START != 0
    }
    /// The name as text, if it is UTF-8.
    pub fn name_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.name).ok()
    }
    /// The module name for a `.beam` section (`foo` for `foo.beam`).
    pub fn module_name(&self) -> Option<&'a str> {
        self.name_str().and_then(|n| n.strip_suffix(".beam"))
    }
    /// Bytes the section occupies in the file.
    pub fn len(&self) -> usize {
        self.data_offset - self.offset + self.data.len() + self.padding.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The terminating section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndSection<'a> {
    pub offset: usize,
    /// As stored: 0 for packbeam, otherwise the whole section's length.
    pub size: u32,
    pub flags: u32,
    pub reserved: u32,
    /// `end`, or `END` when AtomVM has marked its JIT cache valid.
    pub name: &'a [u8],
    pub name_padding: &'a [u8],
    /// File offset just after the padded name. AtomVM places its JIT cache in the first flash
    /// sector at or after this position.
    pub data_offset: usize,
    /// Bytes after the name when `size` claims more than the header.
    pub data: &'a [u8],
}

impl EndSection<'_> {
    /// Offset just past the end section: the pack's length.
    pub fn end_offset(&self) -> usize {
        self.data_offset + self.data.len()
    }
    /// Whether AtomVM has flipped the name to `END` (its JIT cache is valid).
    pub fn is_marked_valid(&self) -> bool {
        self.name == b"END"
    }
}

/// A parsed pack: a view over the input bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pack<'a> {
    sections: Vec<Section<'a>>,
    end: EndSection<'a>,
    /// Bytes after the end section (e.g. the rest of a flash partition).
    trailing: &'a [u8],
}

fn read_u32(bytes: &[u8], offset: usize) -> Result<u32> {
    array_at(bytes, offset).map(u32::from_be_bytes)
}

const fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// Length of the payload inside `data` when the payload says it (BEAM: IFF length; plain file:
/// u32 prefix), or `None` when it does not.
fn payload_len(flags: u32, data: &[u8], data_offset: usize) -> Result<Option<usize>> {
    let (what, len) = if flags & BEAM_CODE != 0 {
        if data.get(0..4) != Some(b"FOR1") {
            return Err(Error::new(
                ErrorKind::BadMagic { expected: "FOR1" },
                data_offset,
            ));
        }
        (
            "BEAM length",
            read_u32(data, 4).map_err(|e| e.rebase(data_offset))? as usize + 8,
        )
    } else if flags & NORMAL_FILE != 0 {
        (
            "file length",
            read_u32(data, 0).map_err(|e| e.rebase(data_offset))? as usize + 4,
        )
    } else {
        return Ok(None);
    };
    if len > data.len() {
        return Err(Error::invalid(data_offset, what, len as u64));
    }
    Ok(Some(len))
}

impl<'a> Pack<'a> {
    /// Parse a pack. Bytes after the end section are kept as [`Pack::trailing`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        match bytes.get(..HEADER.len()) {
            None => return Err(Error::truncated(0, HEADER.len(), bytes.len())),
            Some(h) if h != HEADER => {
                return Err(Error::new(
                    ErrorKind::BadMagic {
                        expected: "#!/usr/bin/env AtomVM",
                    },
                    0,
                ))
            }
            Some(_) => {}
        }
        let mut sections = Vec::new();
        let mut offset = HEADER.len();
        loop {
            let size = read_u32(bytes, offset)?;
            let flags = read_u32(bytes, offset + 4)?;
            let reserved = read_u32(bytes, offset + 8)?;
            let name_start = offset + SECTION_FIXED_HEADER;
            let is_end = flags & END_FLAGS_MASK == 0;
            // Smallest section: the fixed header and a padded one-character name.
            if size != 0 && (size % 4 != 0 || size < 16) {
                return Err(Error::invalid(offset, "section size", u64::from(size)));
            }
            // The name must end inside the section (or, for a size-0 end, inside the input).
            let limit = if size == 0 {
                bytes.len()
            } else {
                offset.saturating_add(size as usize).min(bytes.len())
            };
            let name_area = bytes.get(name_start..limit.max(name_start)).unwrap_or(&[]);
            let Some(name_len) = name_area.iter().position(|&b| b == 0) else {
                return Err(Error::invalid(name_start, "section name without NUL", 0));
            };
            let data_offset = name_start + pad4(name_len + 1);
            let name = &bytes[name_start..name_start + name_len];
            let name_padding = bytes
                .get(name_start + name_len..data_offset)
                .ok_or_else(|| {
                    Error::truncated(
                        name_start + name_len,
                        data_offset - name_start - name_len,
                        bytes.len() - name_start - name_len,
                    )
                })?;
            let header_len = (data_offset - offset) as u64;
            if size != 0 && u64::from(size) < header_len {
                return Err(Error::invalid(offset, "section size", u64::from(size)));
            }
            let section_end = if size == 0 {
                data_offset
            } else {
                offset + size as usize
            };
            if section_end > bytes.len() {
                return Err(Error::truncated(
                    offset,
                    section_end - offset,
                    bytes.len() - offset,
                ));
            }
            let body = &bytes[data_offset..section_end];
            if is_end {
                let end = EndSection {
                    offset,
                    size,
                    flags,
                    reserved,
                    name,
                    name_padding,
                    data_offset,
                    data: body,
                };
                return Ok(Pack {
                    sections,
                    end,
                    trailing: &bytes[section_end..],
                });
            }
            if size == 0 {
                // AtomVM would loop on it forever (it only stops on the end flags).
                return Err(Error::invalid(offset, "section size", 0));
            }
            let data_len = payload_len(flags, body, data_offset)?.unwrap_or(body.len());
            let (data, padding) = body.split_at(data_len);
            sections.push(Section {
                offset,
                size,
                flags,
                reserved,
                name,
                name_padding,
                data_offset,
                data,
                padding,
            });
            offset = section_end;
        }
    }

    /// The sections before the end section, in file order.
    pub fn sections(&self) -> &[Section<'a>] {
        &self.sections
    }
    pub fn end(&self) -> &EndSection<'a> {
        &self.end
    }
    pub fn trailing(&self) -> &'a [u8] {
        self.trailing
    }
    /// Bytes from the header through the end section.
    pub fn len(&self) -> usize {
        self.end.end_offset()
    }
    pub fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }
    /// The BEAM sections.
    pub fn modules(&self) -> impl Iterator<Item = &Section<'a>> {
        self.sections.iter().filter(|s| s.is_beam())
    }
    /// The section AtomVM starts: the first one flagged as both BEAM and start.
    pub fn start_module(&self) -> Option<&Section<'a>> {
        let both = BEAM_START | BEAM_CODE;
        self.sections.iter().find(|s| s.flags & both == both)
    }
    pub fn section(&self, name: &[u8]) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Append the pack's bytes to `out`, reproducing the parsed input exactly.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&HEADER);
        for s in &self.sections {
            write_as_parsed(out, s);
        }
        self.write_end(out);
    }

    /// The end section and whatever followed it, as parsed.
    fn write_end(&self, out: &mut Vec<u8>) {
        let e = &self.end;
        write_section_header(out, e.size, e.flags, e.reserved, e.name, e.name_padding);
        out.extend_from_slice(e.data);
        out.extend_from_slice(self.trailing);
    }

    /// The pack with some sections' payloads replaced (`new_data[i]` for section `i`), everything
    /// else (names, flags, reserved words, order, untouched sections, the end section and trailing
    /// bytes) as in the input. A replaced payload is zero-padded to 4 bytes and its size recomputed.
    pub fn rewrite(&self, new_data: &[Option<&[u8]>]) -> core::result::Result<Vec<u8>, BuildError> {
        let mut out = Vec::with_capacity(self.len() + self.trailing.len());
        out.extend_from_slice(&HEADER);
        for (i, s) in self.sections.iter().enumerate() {
            match new_data.get(i).copied().flatten() {
                Some(data) => {
                    let header_len = SECTION_FIXED_HEADER + s.name.len() + s.name_padding.len();
                    let size = u32::try_from(header_len + pad4(data.len()))
                        .map_err(|_| BuildError::TooLarge)?;
                    write_section_header(
                        &mut out,
                        size,
                        s.flags,
                        s.reserved,
                        s.name,
                        s.name_padding,
                    );
                    out.extend_from_slice(data);
                    out.resize(out.len() + pad4(data.len()) - data.len(), 0);
                }
                None => write_as_parsed(&mut out, s),
            }
        }
        self.write_end(&mut out);
        Ok(out)
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() + self.trailing.len());
        self.write(&mut out);
        out
    }
}

/// A section exactly as it was read: header, payload and padding.
fn write_as_parsed(out: &mut Vec<u8>, s: &Section<'_>) {
    write_section_header(out, s.size, s.flags, s.reserved, s.name, s.name_padding);
    out.extend_from_slice(s.data);
    out.extend_from_slice(s.padding);
}

fn write_section_header(
    out: &mut Vec<u8>,
    size: u32,
    flags: u32,
    reserved: u32,
    name: &[u8],
    pad: &[u8],
) {
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&reserved.to_be_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(pad);
}

/// Why a builder refused a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// The name is empty or contains a NUL byte.
    BadName,
    /// The section would not fit its 32-bit size field.
    TooLarge,
    /// Flags with a zero low byte would read as the end section.
    EndFlags,
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BuildError::BadName => "section name is empty or contains NUL",
            BuildError::TooLarge => "section larger than 4 GiB",
            BuildError::EndFlags => "section flags would mark the end of the pack",
        })
    }
}

/// Builds a pack the way packbeam writes one: header, sections with zero padding, then an `end`
/// section whose size field is 0.
#[derive(Debug, Clone)]
pub struct PackBuilder {
    out: Vec<u8>,
}

impl Default for PackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PackBuilder {
    pub fn new() -> Self {
        PackBuilder {
            out: HEADER.to_vec(),
        }
    }

    /// Add a section holding `data` as is.
    pub fn section(
        &mut self,
        name: &[u8],
        flags: u32,
        data: &[u8],
    ) -> core::result::Result<&mut Self, BuildError> {
        if name.is_empty() || name.contains(&0) {
            return Err(BuildError::BadName);
        }
        if flags & END_FLAGS_MASK == 0 {
            return Err(BuildError::EndFlags);
        }
        let header_len = pad4(SECTION_FIXED_HEADER + name.len() + 1);
        let size =
            u32::try_from(header_len + pad4(data.len())).map_err(|_| BuildError::TooLarge)?;
        self.out.extend_from_slice(&size.to_be_bytes());
        self.out.extend_from_slice(&flags.to_be_bytes());
        self.out.extend_from_slice(&0u32.to_be_bytes());
        self.out.extend_from_slice(name);
        self.out.resize(
            self.out.len() + header_len - SECTION_FIXED_HEADER - name.len(),
            0,
        );
        self.out.extend_from_slice(data);
        self.out
            .resize(self.out.len() + pad4(data.len()) - data.len(), 0);
        Ok(self)
    }

    /// Add a BEAM module named `<module>.beam`, flagged as a start module when it exports `start/0`.
    pub fn beam(
        &mut self,
        module: &str,
        beam: &[u8],
        exports_start: bool,
    ) -> core::result::Result<&mut Self, BuildError> {
        let mut name = Vec::with_capacity(module.len() + 5);
        name.extend_from_slice(module.as_bytes());
        name.extend_from_slice(b".beam");
        let flags = if exports_start {
            BEAM_CODE | BEAM_START
        } else {
            BEAM_CODE
        };
        self.section(&name, flags, beam)
    }

    /// Add a plain file: its length (u32 big-endian) then its bytes.
    pub fn file(
        &mut self,
        name: &str,
        contents: &[u8],
    ) -> core::result::Result<&mut Self, BuildError> {
        let len = u32::try_from(contents.len()).map_err(|_| BuildError::TooLarge)?;
        let mut data = Vec::with_capacity(contents.len() + 4);
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(contents);
        self.section(name.as_bytes(), NORMAL_FILE, &data)
    }

    /// Append the `end` section and return the pack.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0; 12]);
        self.out.extend_from_slice(b"end\0");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A tiny IFF "BEAM" good enough for the section reader (it only reads the IFF length).
    fn fake_beam(body_len: usize) -> Vec<u8> {
        let mut b = b"FOR1".to_vec();
        b.extend_from_slice(&((body_len + 4) as u32).to_be_bytes());
        b.extend_from_slice(b"BEAM");
        b.extend(core::iter::repeat_n(0xAB, body_len));
        b
    }

    #[test]
    fn builder_output_matches_hand_assembled_bytes() {
        let beam = fake_beam(3); // 15 bytes: one byte of padding
        let mut b = PackBuilder::new();
        b.beam("mylib", &beam, true).unwrap();
        let avm = b.finish();

        let mut expected = b"#!/usr/bin/env AtomVM\n\0\0".to_vec();
        // 12 + "mylib.beam\0" (11) padded to 24, + 15 padded to 16 = 40.
        expected.extend_from_slice(&[0, 0, 0, 40, 0, 0, 0, 3, 0, 0, 0, 0]);
        expected.extend_from_slice(b"mylib.beam\0\0");
        expected.extend_from_slice(&beam);
        expected.push(0);
        expected.extend_from_slice(&[0; 12]);
        expected.extend_from_slice(b"end\0");
        assert_eq!(avm, expected);
    }

    #[test]
    fn parse_exposes_fields_and_round_trips() {
        let beam = fake_beam(5);
        let mut b = PackBuilder::new();
        b.beam("a", &beam, true)
            .unwrap()
            .beam("bee", &fake_beam(8), false)
            .unwrap();
        b.file("app/priv/x.txt", b"hello").unwrap();
        let avm = b.finish();
        let pack = Pack::parse(&avm).unwrap();
        let s = pack.sections();
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].offset, s[0].name, s[0].flags),
            (24, &b"a.beam"[..], 3)
        );
        assert_eq!(s[0].data, &beam[..]);
        assert_eq!(s[0].padding, &[0, 0, 0][..]);
        assert_eq!(s[0].module_name(), Some("a"));
        assert_eq!(s[2].data, b"\0\0\0\x05hello");
        assert_eq!(pack.start_module().map(|s| s.name), Some(&b"a.beam"[..]));
        assert_eq!(pack.modules().count(), 2);
        assert_eq!(pack.end().name, b"end");
        assert_eq!(pack.end().data_offset, avm.len());
        assert_eq!(pack.len(), avm.len());
        assert_eq!(pack.to_vec(), avm);
    }

    #[test]
    fn round_trip_keeps_odd_padding_sized_end_and_trailing_bytes() {
        let mut avm = HEADER.to_vec();
        // A plain-flagged section with non-zero name padding and no known payload length.
        avm.extend_from_slice(&[0, 0, 0, 20, 0, 0, 0, 8, 0xDE, 0xAD, 0xBE, 0xEF]);
        avm.extend_from_slice(b"ab\0\x7F");
        avm.extend_from_slice(&[1, 2, 3, 4]);
        // An end section with an explicit size and a payload, named END.
        avm.extend_from_slice(&[0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0]);
        avm.extend_from_slice(b"END\0");
        avm.extend_from_slice(&[9, 9, 9, 9]);
        avm.extend_from_slice(&[0xFF; 7]);
        let pack = Pack::parse(&avm).unwrap();
        assert_eq!(pack.sections()[0].name_padding, b"\0\x7F");
        assert!(pack.end().is_marked_valid());
        assert_eq!(pack.end().data, &[9, 9, 9, 9]);
        assert_eq!(pack.trailing(), &[0xFF; 7]);
        assert_eq!(pack.to_vec(), avm);
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let mut b = PackBuilder::new();
        b.beam("m", &fake_beam(9), true)
            .unwrap()
            .file("f", b"xyz")
            .unwrap();
        let avm = b.finish();
        for len in 0..avm.len() {
            assert!(
                Pack::parse(&avm[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
        for i in 0..avm.len() {
            for bit in 0..8 {
                let mut bad = avm.clone();
                bad[i] ^= 1 << bit;
                if let Ok(p) = Pack::parse(&bad) {
                    assert_eq!(p.to_vec(), bad);
                }
            }
        }
    }

    #[test]
    fn errors_carry_offsets() {
        let mut avm = PackBuilder::new().finish();
        avm[0] = b'X';
        assert_eq!(Pack::parse(&avm).unwrap_err().offset, Some(0));
        let mut b = PackBuilder::new();
        b.beam("m", &fake_beam(4), false).unwrap();
        let mut avm = b.finish();
        avm[27] = 0x11; // size field of the first section becomes unaligned
        let e = Pack::parse(&avm).unwrap_err();
        assert_eq!(e.offset, Some(24));
        assert!(matches!(
            e.kind,
            ErrorKind::Invalid {
                what: "section size",
                ..
            }
        ));
        let mut avm = vec![];
        avm.extend_from_slice(&HEADER);
        avm.extend_from_slice(&[0, 0, 0, 32, 0, 0, 0, 2, 0, 0, 0, 0, b'm', 0, 0, 0]);
        avm.extend_from_slice(b"FOX1\0\0\0\0\0\0\0\0\0\0\0\0");
        let e = Pack::parse(&avm).unwrap_err();
        assert_eq!(e.offset, Some(40));
    }

    #[test]
    fn builder_rejects_bad_sections() {
        let mut b = PackBuilder::new();
        assert_eq!(b.section(b"a\0b", 2, &[]).unwrap_err(), BuildError::BadName);
        assert_eq!(b.section(b"", 2, &[]).unwrap_err(), BuildError::BadName);
        assert_eq!(
            b.section(b"x", 0x100, &[]).unwrap_err(),
            BuildError::EndFlags
        );
    }
}

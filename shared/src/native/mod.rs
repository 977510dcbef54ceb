//! The `avmN` chunk: AtomVM's native code for one module.
//!
//! Layout (all header fields big-endian):
//! ```text
//! u32 info size (16) | u32 label count | u16 format (1) | u16 arch count
//!   then per architecture: u16 arch | u16 variant | u32 offset of its code after the info
//! code: jump table (label count + 1 entries), native code, label-0 stub, labels table, lines table
//! ```
//! Offsets inside the code (labels, lines, branches) count from the start of the payload, because
//! the compiler's stream starts with the header already in it.

use crate::beam::compact::array_at;
use crate::error::{Error, Result};
use crate::isa::CodeTarget;

/// `avmN` format version understood by AtomVM v0.7.
pub const FORMAT_VERSION: u16 = 1;
/// Architecture and variant numbers of the header (declared in [`crate::abi::jit`]).
pub use crate::abi::jit::{
    ARCH_ARMV6M, ARCH_RISCV32, VARIANT_FLOAT32, VARIANT_PIC, VARIANT_THUMB2,
};
/// Size of the header for a single architecture.
pub const SINGLE_ARCH_HEADER_LEN: usize = 20;

/// The header of a single-architecture payload, as the reference writes it.
pub fn single_arch_header(
    labels_count: u32,
    arch: u16,
    variant: u16,
) -> [u8; SINGLE_ARCH_HEADER_LEN] {
    let mut h = [0u8; SINGLE_ARCH_HEADER_LEN];
    h[0..4].copy_from_slice(&16u32.to_be_bytes());
    h[4..8].copy_from_slice(&labels_count.to_be_bytes());
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    h[10..12].copy_from_slice(&1u16.to_be_bytes());
    h[12..14].copy_from_slice(&arch.to_be_bytes());
    h[14..16].copy_from_slice(&variant.to_be_bytes());
    // h[16..20]: offset 0
    h
}

/// One architecture entry of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchEntry {
    pub arch: u16,
    pub variant: u16,
    /// Offset of this architecture's code from the end of the info block.
    pub offset: u32,
}

impl ArchEntry {
    /// The code variant of this entry's code (see [`CodeTarget::from_arch_variant`]); `None` for
    /// an architecture this crate cannot read.
    pub fn target(&self) -> Option<CodeTarget> {
        CodeTarget::from_arch_variant(self.arch, self.variant)
    }
}

/// A parsed view of an `avmN` payload.
#[derive(Clone, Debug)]
pub struct Native<'a> {
    pub bytes: &'a [u8],
    pub info_size: u32,
    pub labels_count: u32,
    pub format: u16,
    arch_count: u16,
}

fn be_u16(b: &[u8], at: usize) -> Result<u16> {
    array_at(b, at).map(u16::from_be_bytes)
}

fn be_u32(b: &[u8], at: usize) -> Result<u32> {
    array_at(b, at).map(u32::from_be_bytes)
}

impl<'a> Native<'a> {
    /// Parse the header. Errors carry offsets relative to the payload start.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let info_size = be_u32(bytes, 0)?;
        if info_size < 8 || info_size as usize > bytes.len().saturating_sub(4) {
            return Err(Error::invalid(0, "avmN info size", info_size.into()));
        }
        let labels_count = be_u32(bytes, 4)?;
        let format = be_u16(bytes, 8)?;
        let arch_count = be_u16(bytes, 10)?;
        if 8 + 8 * arch_count as usize > info_size as usize {
            return Err(Error::invalid(
                10,
                "avmN architecture count",
                arch_count.into(),
            ));
        }
        let native = Native {
            bytes,
            info_size,
            labels_count,
            format,
            arch_count,
        };
        let code_len = native.code().len();
        for (n, arch) in native.arches().enumerate() {
            if arch.offset as usize > code_len {
                return Err(Error::invalid(
                    12 + 8 * n + 4,
                    "avmN code offset",
                    arch.offset.into(),
                ));
            }
        }
        Ok(native)
    }

    /// Offset of the first byte after the info block.
    pub fn data_start(&self) -> usize {
        4 + self.info_size as usize
    }

    /// Everything after the info block: the code of every architecture.
    pub fn code(&self) -> &'a [u8] {
        &self.bytes[self.data_start()..]
    }

    pub fn arches(&self) -> impl Iterator<Item = ArchEntry> + '_ {
        (0..self.arch_count as usize).filter_map(move |i| {
            let at = 12 + 8 * i;
            Some(ArchEntry {
                arch: be_u16(self.bytes, at).ok()?,
                variant: be_u16(self.bytes, at + 2).ok()?,
                offset: be_u32(self.bytes, at + 4).ok()?,
            })
        })
    }

    /// The first architecture entry whose code this crate can read, with its code variant.
    pub fn readable_arch(&self) -> Option<(ArchEntry, CodeTarget)> {
        self.arches().find_map(|a| Some((a, a.target()?)))
    }

    /// The native code layout of the architecture entry `arch`, read by its ISA's module (see
    /// [`CodeTarget::code_layout`]).
    pub fn layout(&self, arch: &ArchEntry) -> Result<CodeLayout> {
        match arch.target() {
            Some(target) => target.code_layout(self, arch),
            None => Err(Error::unsupported(
                12,
                "avmN architecture",
                arch.arch.into(),
            )),
        }
    }

    /// Offset of `label` (0..=labels_count) according to the jump table.
    pub fn label_offset(&self, layout: &CodeLayout, label: u32) -> Result<usize> {
        layout.target.label_offset(self, layout, label)
    }

    /// The labels table: (label, offset) pairs.
    pub fn labels(&self, layout: &CodeLayout) -> impl Iterator<Item = (u16, u32)> + 'a {
        pairs(self.bytes, layout.labels_at)
    }

    /// The lines table: (line ref, offset) pairs.
    pub fn lines(&self, layout: &CodeLayout) -> impl Iterator<Item = (u16, u32)> + 'a {
        pairs(self.bytes, layout.lines_at)
    }
}

/// Where the lines table starts and the payload ends, given where the labels table starts (the
/// same for every ISA: each table is a big-endian u16 count of 6-byte entries, and the lines
/// table ends the payload).
pub fn tables_after(bytes: &[u8], labels_at: usize) -> Result<(usize, usize)> {
    let labels_len = be_u16(bytes, labels_at)? as usize;
    let lines_at = labels_at + 2 + 6 * labels_len;
    let lines_len = be_u16(bytes, lines_at)? as usize;
    let end = lines_at + 2 + 6 * lines_len;
    if end != bytes.len() {
        return Err(Error::invalid(
            lines_at,
            "avmN lines table length",
            lines_len as u64,
        ));
    }
    Ok((lines_at, end))
}

fn pairs(bytes: &[u8], at: usize) -> impl Iterator<Item = (u16, u32)> + '_ {
    let n = be_u16(bytes, at).unwrap_or(0) as usize;
    (0..n).map_while(move |i| {
        let p = at + 2 + 6 * i;
        Some((be_u16(bytes, p).ok()?, be_u32(bytes, p + 2).ok()?))
    })
}

/// Where things are in one architecture's native code (payload offsets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeLayout {
    /// The code variant, from the architecture entry.
    pub target: CodeTarget,
    pub jump_table: usize,
    /// First byte after the jump table.
    pub code_start: usize,
    /// The label-0 stub that returns the tables; code proper ends here.
    pub label0: usize,
    pub labels_at: usize,
    pub lines_at: usize,
    pub end: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = single_arch_header(7, ARCH_ARMV6M, VARIANT_PIC);
        let n = Native::parse(&h).unwrap();
        assert_eq!(n.labels_count, 7);
        assert_eq!(n.format, FORMAT_VERSION);
        let a: alloc::vec::Vec<_> = n.arches().collect();
        assert_eq!(
            a,
            [ArchEntry {
                arch: 3,
                variant: 1,
                offset: 0
            }]
        );
        assert_eq!(n.data_start(), 20);
    }

    #[test]
    fn header_fields_and_bounds() {
        let d = [
            0, 0, 0, 16, 0, 0, 0, 7, 0, 1, 0, 1, 0, 3, 0, 1, 0, 0, 0, 0, 0xAA, 0xBB,
        ];
        let n = Native::parse(&d).unwrap();
        assert_eq!((n.info_size, n.labels_count, n.format), (16, 7, 1));
        assert_eq!(n.code(), &[0xAA, 0xBB]);
        assert_eq!(n.data_start(), 20);
        for len in 0..20 {
            assert!(Native::parse(&d[..len]).is_err(), "prefix {len}");
        }
        let mut two = d;
        two[11] = 2;
        assert!(Native::parse(&two).is_err());
        let mut far = d;
        far[19] = 3;
        assert_eq!(Native::parse(&far).unwrap_err().offset, Some(16));
    }

    #[test]
    fn module_native_reports_file_offsets() {
        let mut payload = single_arch_header(7, ARCH_ARMV6M, VARIANT_PIC).to_vec();
        let beam = crate::beam::write_module(&[(*b"avmN", &payload)]);
        let module = crate::beam::Module::parse(&beam).unwrap();
        assert_eq!(module.native().unwrap().unwrap().labels_count, 7);
        // Code offset 3 with no code after the info: the error points into the file, at the field.
        payload[19] = 3;
        let beam = crate::beam::write_module(&[(*b"avmN", &payload)]);
        let module = crate::beam::Module::parse(&beam).unwrap();
        assert_eq!(module.native().unwrap_err().offset, Some(20 + 16));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Native::parse(&[0, 0, 0]).is_err());
        assert!(Native::parse(&[0xFF; 32]).is_err());
        let mut h = single_arch_header(0xFFFF_FFFF, ARCH_ARMV6M, VARIANT_PIC).to_vec();
        h.extend_from_slice(&[0; 16]);
        let n = Native::parse(&h).unwrap();
        let a = n.arches().next().unwrap();
        assert!(n.layout(&a).is_err());
    }
}

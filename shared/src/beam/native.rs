//! The `avmN` chunk (AtomVM precompiled native code): u32 BE info size, then the info (u32 BE label
//! count, u16 BE format version, u16 BE architecture count, and per architecture u16 BE arch, u16 BE
//! variant, u32 BE code offset), then the native code.

use super::compact::Cursor;
use crate::error::{Error, Result};

/// Bytes of info before the per-architecture entries.
const INFO_FIXED: usize = 8;
const ARCH_ENTRY: usize = 8;

#[derive(Clone, Copy, Debug)]
pub struct NativeCode<'a> {
    pub info_size: u32,
    pub label_count: u32,
    pub version: u16,
    pub arch_count: u16,
    arches: &'a [u8],
    /// Everything after the info.
    pub code: &'a [u8],
    /// File offset of `code[0]`.
    pub code_offset: usize,
}

/// One architecture entry; `offset` is relative to the start of `code`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NativeArch {
    pub arch: u16,
    pub variant: u16,
    pub offset: u32,
}

impl<'a> NativeCode<'a> {
    pub fn parse(data: &'a [u8], offset: usize) -> Result<NativeCode<'a>> {
        let mut c = Cursor::new(data, offset);
        let info_size = c.u32_be()?;
        let info_at = c.file_offset();
        let info = c.take(info_size as usize)?;
        let mut i = Cursor::new(info, info_at);
        let label_count = i.u32_be()?;
        let version = i.u16_be()?;
        let arch_count = i.u16_be()?;
        let arches_len = usize::from(arch_count) * ARCH_ENTRY;
        if INFO_FIXED + arches_len > info.len() {
            return Err(Error::invalid(
                info_at + 6,
                "avmN architecture count",
                u64::from(arch_count),
            ));
        }
        let arches = i.take(arches_len)?;
        let native = NativeCode {
            info_size,
            label_count,
            version,
            arch_count,
            arches,
            code: c.remaining(),
            code_offset: c.file_offset(),
        };
        for (n, arch) in native.arches().enumerate() {
            if arch.offset as usize > native.code.len() {
                let at = info_at + INFO_FIXED + n * ARCH_ENTRY + 4;
                return Err(Error::invalid(
                    at,
                    "avmN code offset",
                    u64::from(arch.offset),
                ));
            }
        }
        Ok(native)
    }

    pub fn arches(&self) -> impl Iterator<Item = NativeArch> + 'a {
        self.arches.chunks_exact(ARCH_ENTRY).map(|e| NativeArch {
            arch: u16::from_be_bytes([e[0], e[1]]),
            variant: u16::from_be_bytes([e[2], e[3]]),
            offset: u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header() {
        let d = [
            0, 0, 0, 16, 0, 0, 0, 7, 0, 1, 0, 1, 0, 3, 0, 1, 0, 0, 0, 0, 0xAA, 0xBB,
        ];
        let n = NativeCode::parse(&d, 100).unwrap();
        assert_eq!(
            (n.info_size, n.label_count, n.version, n.arch_count),
            (16, 7, 1, 1)
        );
        assert_eq!(
            n.arches().next(),
            Some(NativeArch {
                arch: 3,
                variant: 1,
                offset: 0
            })
        );
        assert_eq!(n.code, &[0xAA, 0xBB]);
        assert_eq!(n.code_offset, 120);
        for len in 0..20 {
            assert!(NativeCode::parse(&d[..len], 0).is_err(), "prefix {len}");
        }
        let mut two = d;
        two[11] = 2;
        assert!(NativeCode::parse(&two, 0).is_err());
        let mut far = d;
        far[19] = 3;
        assert_eq!(NativeCode::parse(&far, 0).unwrap_err().offset, 16);
    }
}

//! Numbers of the JIT format that name code: the architecture and variant fields of an `avmN`
//! header (and of a cache entry), shared by the compiler, the readers and the CLI, and their names.

use core::fmt;

/// Architecture numbers of the `avmN` header.
pub const ARCH_X86_64: u16 = 1;
pub const ARCH_AARCH64: u16 = 2;
pub const ARCH_ARMV6M: u16 = 3;
pub const ARCH_RISCV32: u16 = 4;
pub const ARCH_RISCV64: u16 = 5;
pub const ARCH_ARM32: u16 = 6;

/// Variant bits: position-independent code.
pub const VARIANT_PIC: u16 = 1;
/// Variant bits: float registers hold single-precision values.
pub const VARIANT_FLOAT32: u16 = 2;
/// Variant bits (armv6m): Thumb-2 jump tables and immediates (ARMv7-M and later cores).
pub const VARIANT_THUMB2: u16 = 4;

/// The name of an architecture number, as the reference spells it.
pub fn arch_name(arch: u16) -> Option<&'static str> {
    Some(match arch {
        ARCH_X86_64 => "x86_64",
        ARCH_AARCH64 => "aarch64",
        ARCH_ARMV6M => "armv6m",
        ARCH_RISCV32 => "riscv32",
        ARCH_RISCV64 => "riscv64",
        ARCH_ARM32 => "arm32",
        _ => return None,
    })
}

/// The variant bits by name, in the order names list them.
const VARIANT_BITS: [(u16, &str); 3] = [
    (VARIANT_PIC, "pic"),
    (VARIANT_FLOAT32, "float32"),
    (VARIANT_THUMB2, "thumb2"),
];

/// The name of an architecture and variant pair: the one namer of `avmN` entries, for messages
/// (`flash`'s refusals) and `info`.
pub fn code_name(arch: u16, variant: u16) -> CodeName {
    CodeName { arch, variant }
}

/// An architecture and variant pair, as [`code_name`] names it. `Display` writes the code
/// variant's name, `armv6m+thumb2` (the name `compile --target` takes for the pairs the compiler
/// writes), each variant bit but PIC as `+bit` and ` (not PIC)` when that bit is clear;
/// [`CodeName::arch_name`] and [`CodeName::variant_bits`] are its two halves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeName {
    pub arch: u16,
    pub variant: u16,
}

impl CodeName {
    /// The architecture's name (see [`arch_name`]).
    pub fn arch_name(self) -> Option<&'static str> {
        arch_name(self.arch)
    }

    /// The names of the variant bits set, in a fixed order (`pic`, `float32`, `thumb2`), and
    /// `unknown` when any other bit is set.
    pub fn bits(self) -> impl Iterator<Item = &'static str> {
        let known = VARIANT_BITS.iter().fold(0, |all, (bit, _)| all | bit);
        VARIANT_BITS
            .iter()
            .filter(move |(bit, _)| self.variant & bit != 0)
            .map(|&(_, name)| name)
            .chain((self.variant & !known != 0).then_some("unknown"))
    }

    /// The variant bits set, joined by `+`: `pic+thumb2` (empty when none is).
    pub fn variant_bits(self) -> VariantBits {
        VariantBits(self)
    }
}

impl fmt::Display for CodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arch_name().unwrap_or("unknown-architecture"))?;
        for bit in self.bits().filter(|&bit| bit != "pic") {
            write!(f, "+{bit}")?;
        }
        if self.variant & VARIANT_PIC == 0 {
            f.write_str(" (not PIC)")?;
        }
        Ok(())
    }
}

/// [`CodeName::variant_bits`].
#[derive(Clone, Copy, Debug)]
pub struct VariantBits(CodeName);

impl fmt::Display for VariantBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, bit) in self.0.bits().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            f.write_str(bit)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn code_names() {
        let name = |arch, variant| code_name(arch, variant).to_string();
        assert_eq!(name(ARCH_ARMV6M, VARIANT_PIC), "armv6m");
        assert_eq!(
            name(ARCH_ARMV6M, VARIANT_PIC | VARIANT_THUMB2),
            "armv6m+thumb2"
        );
        assert_eq!(name(ARCH_RISCV32, VARIANT_PIC), "riscv32");
        assert_eq!(
            name(ARCH_X86_64, VARIANT_FLOAT32),
            "x86_64+float32 (not PIC)"
        );
        assert_eq!(name(99, VARIANT_PIC | 8), "unknown-architecture+unknown");
    }

    #[test]
    fn variant_bits() {
        let bits = |variant| code_name(ARCH_ARMV6M, variant).variant_bits().to_string();
        assert_eq!(bits(VARIANT_PIC), "pic");
        assert_eq!(bits(VARIANT_PIC | VARIANT_THUMB2), "pic+thumb2");
        assert_eq!(bits(VARIANT_THUMB2 | VARIANT_FLOAT32), "float32+thumb2");
        assert_eq!(bits(0x8001), "pic+unknown");
        assert_eq!(bits(0), "");
    }
}

//! Numbers of the JIT format that name code: the architecture and variant fields of an `avmN`
//! header (and of a cache entry), shared by the compiler, the readers and the CLI.

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

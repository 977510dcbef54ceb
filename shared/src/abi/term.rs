//! How AtomVM lays out terms on a 32-bit build: tags and masks, boxed headers, sizes, results of
//! the term primitives, bit-syntax flags.
//!
//! Values and masks are `i64` because they travel as [`Val::Imm`](crate::compile::Val::Imm) and
//! [`Cond::Mask`](crate::compile::Cond::Mask) operands.

pub const TERM_PRIMARY_MASK: i64 = 0x3;
pub const TERM_PRIMARY_CP: i64 = 0x0;
pub const TERM_PRIMARY_LIST: i64 = 0x1;
pub const TERM_PRIMARY_BOXED: i64 = 0x2;
pub const TERM_PRIMARY_CLEAR_MASK: i64 = -4;
pub const TERM_IMMED_TAG_MASK: i64 = 0xF;
pub const TERM_PID_TAG: i64 = 0x3;
pub const TERM_PORT_TAG: i64 = 0x7;
pub const TERM_INTEGER_TAG: i64 = 0xF;
pub const TERM_BOXED_TAG_MASK: i64 = 0x3F;
pub const TERM_BOXED_TUPLE: i64 = 0x0;
pub const TERM_BOXED_BIN_MATCH_STATE: i64 = 0x4;
pub const TERM_BOXED_POSITIVE_INTEGER: i64 = 0x8;
pub const TERM_BOXED_NEGATIVE_INTEGER: i64 = 0xC;
pub const TERM_BOXED_REF: i64 = 0x10;
pub const TERM_BOXED_FUN: i64 = 0x14;
pub const TERM_BOXED_FLOAT: i64 = 0x18;
pub const TERM_BOXED_REFC_BINARY: i64 = 0x20;
pub const TERM_BOXED_HEAP_BINARY: i64 = 0x24;
pub const TERM_BOXED_SUB_BINARY: i64 = 0x28;
pub const TERM_BOXED_MAP: i64 = 0x2C;
pub const TERM_BOXED_EXTERNAL_PID: i64 = 0x30;
pub const TERM_BOXED_EXTERNAL_PORT: i64 = 0x34;
pub const TERM_BOXED_EXTERNAL_REF: i64 = 0x38;
pub const TERM_BOXED_TAG_MASK_NO_SIGN: i64 = 0x3B;
pub const TERM_BOXED_TAG_MASK_INTEGER_OR_FLOAT: i64 = 0x2B;
pub const TERM_BOXED_TAG_POSITIVE_INTEGER_OR_FLOAT: i64 = 0x8;
pub const TERM_IMMED2_TAG_MASK: i64 = 0x3F;
pub const TERM_IMMED2_TAG_SIZE: u32 = 6;
pub const TERM_IMMED2_ATOM: i64 = 0xB;
pub const TERM_IMMED2_CATCH: i64 = 0x1B;
pub const TERM_NIL: i64 = 0x3B;
pub const TERM_COMPARE_NO_OPTS: i64 = 0;
pub const TERM_COMPARE_EXACT: i64 = 1;
pub const TERM_COMPARE_MEMORY_ALLOC_FAIL: i64 = 0;
pub const TERM_EQUALS: i64 = 1;
pub const TERM_LESS_THAN: i64 = 2;
pub const TERM_GREATER_THAN: i64 = 4;
pub const LIST_HEAD_INDEX: u32 = 1;
pub const LIST_TAIL_INDEX: u32 = 0;
pub const TERM_BOXED_BIN_MATCH_STATE_SIZE: i64 = 4;
/// Word index, in a match state, of the binary being matched (after the header).
pub const MATCH_STATE_BINARY_INDEX: u32 = 1;
/// Word index, in a match state, of the bit offset reached in that binary.
pub const MATCH_STATE_OFFSET_INDEX: u32 = 2;
pub const TERM_MAP_NOT_FOUND: i64 = -1;
pub const TERM_MAP_MEMORY_ALLOC_FAIL: i64 = -2;
pub const REFC_BINARY_MIN_32: i64 = 32;
pub const REFC_BINARY_MIN_64: i64 = 64;
pub const TERM_BOXED_REFC_BINARY_SIZE: i64 = 6;
pub const BINARY_HEADER_SIZE: i64 = 2;
pub const TERM_INVALID_TERM: i64 = 0;

/// Words of a boxed fun header + module + index.
pub const BOXED_FUN_SIZE: i64 = 3;
/// Words of a boxed float on 64-bit and 32-bit targets.
pub const FLOAT_SIZE_64: i64 = 2;
pub const FLOAT_SIZE_32: i64 = 3;
/// Byte offset of a boxed float's payload (the double, or the single on a float32 build): right
/// after the header word.
pub const BOXED_FLOAT_DATA_OFFSET: i64 = 4;

/// A continuation pointer (`ctx->cp`, a CP term in a frame) and a catch term name code of the
/// module whose index is in their top byte: `module_index << MODULE_INDEX_SHIFT`.
pub const MODULE_INDEX_SHIFT: u32 = 24;
/// Below the module index, a continuation pointer holds its code offset shifted left by this
/// (which leaves the primary tag [`TERM_PRIMARY_CP`], 0): `module_index << 24 | offset << 2`.
pub const CP_OFFSET_SHIFT: u32 = 2;
/// The bits of a continuation pointer below the module index.
pub const CP_OFFSET_MASK: i64 = (1 << MODULE_INDEX_SHIFT) - 1;

/// The low bits of a continuation pointer that resumes at code `offset` (the module index is
/// or-ed in above them).
pub const fn cp_offset_bits(offset: i64) -> i64 {
    offset << CP_OFFSET_SHIFT
}

/// Bit-syntax segment flags.
pub const BITSTRING_FLAG_LITTLE_ENDIAN: i64 = 0x2;
pub const BITSTRING_FLAG_SIGNED: i64 = 0x4;
pub const BITSTRING_FLAG_NATIVE_ENDIAN: i64 = 0x10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_pointers_split_into_module_and_offset() {
        let cp = (5 << MODULE_INDEX_SHIFT) | cp_offset_bits(0x1234);
        assert_eq!(cp >> MODULE_INDEX_SHIFT, 5);
        assert_eq!((cp & CP_OFFSET_MASK) >> CP_OFFSET_SHIFT, 0x1234);
        assert_eq!(cp & TERM_PRIMARY_MASK, TERM_PRIMARY_CP);
        assert_eq!(CP_OFFSET_MASK, 0xFF_FFFF);
    }
}

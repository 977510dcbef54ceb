//! ABI constants shared with AtomVM's runtime: primitive numbers of the native interface table,
//! term tags and masks, opcode numbers, default atoms and the JIT format identifiers.
//!
//! Term values and masks are `i64` because they travel as [`Val::Imm`](super::Val::Imm) and
//! [`Cond::Mask`](super::Cond::Mask) operands; primitive and opcode numbers are `u32`.

// ---- Primitive numbers (index into the `ModuleNativeInterface` table) ----

pub const PRIM_RAISE_ERROR: u32 = 0;
pub const PRIM_RETURN: u32 = 1;
pub const PRIM_SCHEDULE_NEXT_CP: u32 = 2;
pub const PRIM_MODULE_GET_ATOM_TERM_BY_ID: u32 = 3;
pub const PRIM_CALL_EXT: u32 = 4;
pub const PRIM_ALLOCATE: u32 = 5;
pub const PRIM_HANDLE_ERROR: u32 = 6;
pub const PRIM_TRIM_LIVE_REGS: u32 = 7;
pub const PRIM_GET_IMPORTED_BIF: u32 = 8;
pub const PRIM_DEALLOCATE: u32 = 9;
pub const PRIM_TERMINATE_CONTEXT: u32 = 10;
pub const PRIM_TERM_COMPARE: u32 = 11;
pub const PRIM_TEST_HEAP: u32 = 12;
pub const PRIM_PUT_LIST: u32 = 13;
pub const PRIM_MODULE_LOAD_LITERAL: u32 = 14;
pub const PRIM_ALLOC_BOXED_INTEGER_FRAGMENT: u32 = 15;
pub const PRIM_TERM_ALLOC_TUPLE: u32 = 16;
pub const PRIM_SEND: u32 = 17;
pub const PRIM_EXTENDED_REGISTER_PTR: u32 = 18;
pub const PRIM_RAISE_ERROR_TUPLE: u32 = 19;
pub const PRIM_TERM_ALLOC_FUN: u32 = 20;
pub const PRIM_PROCESS_SIGNAL_MESSAGES: u32 = 21;
pub const PRIM_MAILBOX_PEEK: u32 = 22;
pub const PRIM_MAILBOX_REMOVE_MESSAGE: u32 = 23;
pub const PRIM_TIMEOUT: u32 = 24;
pub const PRIM_MAILBOX_NEXT: u32 = 25;
pub const PRIM_CANCEL_TIMEOUT: u32 = 26;
pub const PRIM_CLEAR_TIMEOUT_FLAG: u32 = 27;
pub const PRIM_RAISE: u32 = 28;
pub const PRIM_SCHEDULE_WAIT_CP: u32 = 29;
pub const PRIM_WAIT_TIMEOUT: u32 = 30;
pub const PRIM_WAIT_TIMEOUT_TRAP_HANDLER: u32 = 31;
pub const PRIM_CALL_FUN: u32 = 32;
pub const PRIM_CONTEXT_GET_FLAGS: u32 = 33;
pub const PRIM_CONTEXT_ENSURE_FPREGS: u32 = 34;
pub const PRIM_TERM_FROM_FLOAT: u32 = 35;
pub const PRIM_TERM_IS_NUMBER: u32 = 36;
pub const PRIM_TERM_CONV_TO_FLOAT: u32 = 37;
pub const PRIM_FADD: u32 = 38;
pub const PRIM_FSUB: u32 = 39;
pub const PRIM_FMUL: u32 = 40;
pub const PRIM_FDIV: u32 = 41;
pub const PRIM_FNEGATE: u32 = 42;
pub const PRIM_CATCH_END: u32 = 43;
pub const PRIM_MEMORY_ENSURE_FREE_WITH_ROOTS: u32 = 44;
pub const PRIM_TERM_ALLOC_BIN_MATCH_STATE: u32 = 45;
pub const PRIM_BITSTRING_EXTRACT_INTEGER: u32 = 46;
pub const PRIM_TERM_SUB_BINARY_HEAP_SIZE: u32 = 47;
pub const PRIM_TERM_MAYBE_CREATE_SUB_BINARY: u32 = 48;
pub const PRIM_TERM_FIND_MAP_POS: u32 = 49;
pub const PRIM_BITSTRING_UTF8_SIZE: u32 = 50;
pub const PRIM_BITSTRING_UTF16_SIZE: u32 = 51;
pub const PRIM_TERM_CREATE_EMPTY_BINARY: u32 = 52;
pub const PRIM_DECODE_FLAGS_LIST: u32 = 53;
pub const PRIM_BITSTRING_INSERT_UTF8: u32 = 54;
pub const PRIM_BITSTRING_INSERT_UTF16: u32 = 55;
pub const PRIM_BITSTRING_INSERT_UTF32: u32 = 56;
pub const PRIM_BITSTRING_INSERT_INTEGER: u32 = 57;
pub const PRIM_BITSTRING_COPY_MODULE_STR: u32 = 58;
pub const PRIM_BITSTRING_COPY_BINARY: u32 = 59;
pub const PRIM_APPLY: u32 = 60;
pub const PRIM_MALLOC: u32 = 61;
pub const PRIM_FREE: u32 = 62;
pub const PRIM_PUT_MAP_ASSOC: u32 = 63;
pub const PRIM_BITSTRING_EXTRACT_FLOAT: u32 = 64;
pub const PRIM_MODULE_GET_FUN_ARITY: u32 = 65;
pub const PRIM_BITSTRING_MATCH_MODULE_STR: u32 = 66;
pub const PRIM_BITSTRING_GET_UTF8: u32 = 67;
pub const PRIM_BITSTRING_GET_UTF16: u32 = 68;
pub const PRIM_BITSTRING_GET_UTF32: u32 = 69;
pub const PRIM_TERM_COPY_MAP: u32 = 70;
pub const PRIM_STACKTRACE_BUILD: u32 = 71;
pub const PRIM_TERM_REUSE_BINARY: u32 = 72;
pub const PRIM_ALLOC_BIG_INTEGER_FRAGMENT: u32 = 73;
pub const PRIM_BITSTRING_INSERT_FLOAT: u32 = 74;
pub const PRIM_RAW_RAISE: u32 = 75;
pub const PRIM_RAISE_ERROR_MFA: u32 = 76;
/// `memory_ensure_free_with_roots` option: the heap may shrink.
pub const MEMORY_CAN_SHRINK: i64 = 1;

/// `call_ext` word-count argument: not a last call.
pub const CALL_EXT_NO_DEALLOC: i64 = -1;
/// `call_ext` word-count argument: not a last call, the callee is an MFA.
pub const CALL_EXT_NO_DEALLOC_MFA: i64 = -2;

/// Sign arguments of `alloc_big_integer_fragment`.
pub const TERM_POSITIVE_INTEGER: i64 = 0;
pub const TERM_NEGATIVE_INTEGER: i64 = 4;

// ---- Term layout ----

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
pub const TERM_MAP_NOT_FOUND: i64 = -1;
pub const TERM_MAP_MEMORY_ALLOC_FAIL: i64 = -2;
pub const REFC_BINARY_MIN_32: i64 = 32;
pub const REFC_BINARY_MIN_64: i64 = 64;
pub const TERM_BOXED_REFC_BINARY_SIZE: i64 = 6;
pub const BINARY_HEADER_SIZE: i64 = 2;
pub const TERM_INVALID_TERM: i64 = 0;
// ---- Generic opcode numbers ----

pub const OP_LABEL: u32 = 1;
pub const OP_FUNC_INFO: u32 = 2;
pub const OP_INT_CALL_END: u32 = 3;
pub const OP_CALL: u32 = 4;
pub const OP_CALL_LAST: u32 = 5;
pub const OP_CALL_ONLY: u32 = 6;
pub const OP_CALL_EXT: u32 = 7;
pub const OP_CALL_EXT_LAST: u32 = 8;
pub const OP_BIF0: u32 = 9;
pub const OP_BIF1: u32 = 10;
pub const OP_BIF2: u32 = 11;
pub const OP_ALLOCATE: u32 = 12;
pub const OP_ALLOCATE_HEAP: u32 = 13;
pub const OP_ALLOCATE_ZERO: u32 = 14;
pub const OP_ALLOCATE_HEAP_ZERO: u32 = 15;
pub const OP_TEST_HEAP: u32 = 16;
pub const OP_KILL: u32 = 17;
pub const OP_DEALLOCATE: u32 = 18;
pub const OP_RETURN: u32 = 19;
pub const OP_SEND: u32 = 20;
pub const OP_REMOVE_MESSAGE: u32 = 21;
pub const OP_TIMEOUT: u32 = 22;
pub const OP_LOOP_REC: u32 = 23;
pub const OP_LOOP_REC_END: u32 = 24;
pub const OP_WAIT: u32 = 25;
pub const OP_WAIT_TIMEOUT: u32 = 26;
pub const OP_IS_LT: u32 = 39;
pub const OP_IS_GE: u32 = 40;
pub const OP_IS_EQUAL: u32 = 41;
pub const OP_IS_NOT_EQUAL: u32 = 42;
pub const OP_IS_EQ_EXACT: u32 = 43;
pub const OP_IS_NOT_EQ_EXACT: u32 = 44;
pub const OP_IS_INTEGER: u32 = 45;
pub const OP_IS_FLOAT: u32 = 46;
pub const OP_IS_NUMBER: u32 = 47;
pub const OP_IS_ATOM: u32 = 48;
pub const OP_IS_PID: u32 = 49;
pub const OP_IS_REFERENCE: u32 = 50;
pub const OP_IS_PORT: u32 = 51;
pub const OP_IS_NIL: u32 = 52;
pub const OP_IS_BINARY: u32 = 53;
pub const OP_IS_LIST: u32 = 55;
pub const OP_IS_NONEMPTY_LIST: u32 = 56;
pub const OP_IS_TUPLE: u32 = 57;
pub const OP_TEST_ARITY: u32 = 58;
pub const OP_SELECT_VAL: u32 = 59;
pub const OP_SELECT_TUPLE_ARITY: u32 = 60;
pub const OP_JUMP: u32 = 61;
pub const OP_CATCH: u32 = 62;
pub const OP_CATCH_END: u32 = 63;
pub const OP_MOVE: u32 = 64;
pub const OP_GET_LIST: u32 = 65;
pub const OP_GET_TUPLE_ELEMENT: u32 = 66;
pub const OP_SET_TUPLE_ELEMENT: u32 = 67;
pub const OP_PUT_LIST: u32 = 69;
pub const OP_PUT_TUPLE: u32 = 70;
pub const OP_PUT: u32 = 71;
pub const OP_BADMATCH: u32 = 72;
pub const OP_IF_END: u32 = 73;
pub const OP_CASE_END: u32 = 74;
pub const OP_CALL_FUN: u32 = 75;
pub const OP_IS_FUNCTION: u32 = 77;
pub const OP_CALL_EXT_ONLY: u32 = 78;
pub const OP_BS_PUT_INTEGER: u32 = 89;
pub const OP_BS_PUT_BINARY: u32 = 90;
pub const OP_BS_PUT_STRING: u32 = 92;
pub const OP_FCLEARERROR: u32 = 94;
pub const OP_FCHECKERROR: u32 = 95;
pub const OP_FMOVE: u32 = 96;
pub const OP_FCONV: u32 = 97;
pub const OP_FADD: u32 = 98;
pub const OP_FSUB: u32 = 99;
pub const OP_FMUL: u32 = 100;
pub const OP_FDIV: u32 = 101;
pub const OP_FNEGATE: u32 = 102;
pub const OP_MAKE_FUN2: u32 = 103;
pub const OP_TRY: u32 = 104;
pub const OP_TRY_END: u32 = 105;
pub const OP_TRY_CASE: u32 = 106;
pub const OP_TRY_CASE_END: u32 = 107;
pub const OP_RAISE: u32 = 108;
pub const OP_BS_INIT2: u32 = 109;
pub const OP_BS_ADD: u32 = 111;
pub const OP_APPLY: u32 = 112;
pub const OP_APPLY_LAST: u32 = 113;
pub const OP_IS_BOOLEAN: u32 = 114;
pub const OP_IS_FUNCTION2: u32 = 115;
pub const OP_BS_START_MATCH2: u32 = 116;
pub const OP_BS_GET_INTEGER2: u32 = 117;
pub const OP_BS_GET_FLOAT2: u32 = 118;
pub const OP_BS_GET_BINARY2: u32 = 119;
pub const OP_BS_SKIP_BITS2: u32 = 120;
pub const OP_BS_TEST_TAIL2: u32 = 121;
pub const OP_BS_SAVE2: u32 = 122;
pub const OP_BS_RESTORE2: u32 = 123;
pub const OP_GC_BIF1: u32 = 124;
pub const OP_GC_BIF2: u32 = 125;
pub const OP_IS_BITSTR: u32 = 129;
pub const OP_BS_CONTEXT_TO_BINARY: u32 = 130;
pub const OP_BS_TEST_UNIT: u32 = 131;
pub const OP_BS_MATCH_STRING: u32 = 132;
pub const OP_BS_INIT_WRITABLE: u32 = 133;
pub const OP_BS_APPEND: u32 = 134;
pub const OP_BS_PRIVATE_APPEND: u32 = 135;
pub const OP_TRIM: u32 = 136;
pub const OP_BS_INIT_BITS: u32 = 137;
pub const OP_BS_GET_UTF8: u32 = 138;
pub const OP_BS_SKIP_UTF8: u32 = 139;
pub const OP_BS_GET_UTF16: u32 = 140;
pub const OP_BS_SKIP_UTF16: u32 = 141;
pub const OP_BS_GET_UTF32: u32 = 142;
pub const OP_BS_SKIP_UTF32: u32 = 143;
pub const OP_BS_UTF8_SIZE: u32 = 144;
pub const OP_BS_PUT_UTF8: u32 = 145;
pub const OP_BS_UTF16_SIZE: u32 = 146;
pub const OP_BS_PUT_UTF16: u32 = 147;
pub const OP_BS_PUT_UTF32: u32 = 148;
pub const OP_RECV_MARK: u32 = 150;
pub const OP_RECV_SET: u32 = 151;
pub const OP_GC_BIF3: u32 = 152;
pub const OP_LINE: u32 = 153;
pub const OP_PUT_MAP_ASSOC: u32 = 154;
pub const OP_PUT_MAP_EXACT: u32 = 155;
pub const OP_IS_MAP: u32 = 156;
pub const OP_HAS_MAP_FIELDS: u32 = 157;
pub const OP_GET_MAP_ELEMENTS: u32 = 158;
pub const OP_IS_TAGGED_TUPLE: u32 = 159;
pub const OP_BUILD_STACKTRACE: u32 = 160;
pub const OP_RAW_RAISE: u32 = 161;
pub const OP_GET_HD: u32 = 162;
pub const OP_GET_TL: u32 = 163;
pub const OP_PUT_TUPLE2: u32 = 164;
pub const OP_BS_GET_TAIL: u32 = 165;
pub const OP_BS_START_MATCH3: u32 = 166;
pub const OP_BS_GET_POSITION: u32 = 167;
pub const OP_BS_SET_POSITION: u32 = 168;
pub const OP_SWAP: u32 = 169;
pub const OP_BS_START_MATCH4: u32 = 170;
pub const OP_MAKE_FUN3: u32 = 171;
pub const OP_INIT_YREGS: u32 = 172;
pub const OP_RECV_MARKER_BIND: u32 = 173;
pub const OP_RECV_MARKER_CLEAR: u32 = 174;
pub const OP_RECV_MARKER_RESERVE: u32 = 175;
pub const OP_RECV_MARKER_USE: u32 = 176;
pub const OP_BS_CREATE_BIN: u32 = 177;
pub const OP_CALL_FUN2: u32 = 178;
pub const OP_BADRECORD: u32 = 180;
pub const OP_UPDATE_RECORD: u32 = 181;
pub const OP_BS_MATCH: u32 = 182;
pub const OP_BIF3: u32 = 185;
pub const OPCODE_MAX: u32 = 185;
// ---- Driver constants ----

/// Words of a boxed fun header + module + index.
pub const BOXED_FUN_SIZE: i64 = 3;
/// Words of a boxed float on 64-bit and 32-bit targets.
pub const FLOAT_SIZE_64: i64 = 2;
pub const FLOAT_SIZE_32: i64 = 3;

pub const INT32_MIN: i64 = i32::MIN as i64;
pub const INT32_MAX: i64 = i32::MAX as i64;
pub const INT64_MIN: i64 = i64::MIN;
pub const INT64_MAX: i64 = i64::MAX;

/// `ctx->flags` bit telling that a receive timeout fired.
pub const WAITING_TIMEOUT_EXPIRED: i64 = 2;

/// Bit-syntax segment flags.
pub const BITSTRING_FLAG_LITTLE_ENDIAN: i64 = 0x2;
pub const BITSTRING_FLAG_SIGNED: i64 = 0x4;
pub const BITSTRING_FLAG_NATIVE_ENDIAN: i64 = 0x10;

/// Number of x registers addressable directly; `{x_reg, N}` with N >= MAX_REG is "extended".
pub const MAX_REG: u32 = 16;

// ---- Default atoms (the runtime's fixed first atoms) ----

/// The atom term for the runtime's fixed atom table index `index`.
pub const fn atom_term(index: u32) -> i64 {
    ((index as i64) << TERM_IMMED2_TAG_SIZE) | TERM_IMMED2_ATOM
}

/// The runtime's fixed atoms, in table order: entry i has term `atom_term(i)`.
const DEFAULT_ATOM_NAMES: [&[u8]; 18] = [
    b"false",
    b"true",
    b"ok",
    b"error",
    b"badarg",
    b"badarith",
    b"badfun",
    b"function_clause",
    b"try_clause",
    b"out_of_memory",
    b"badmatch",
    b"case_clause",
    b"if_clause",
    b"throw",
    b"unsupported",
    b"all",
    b"exit",
    b"badrecord",
];

pub const FALSE_ATOM: i64 = atom_term(0);
pub const TRUE_ATOM: i64 = atom_term(1);
pub const OK_ATOM: i64 = atom_term(2);
pub const ERROR_ATOM: i64 = atom_term(3);
pub const BADARG_ATOM: i64 = atom_term(4);
pub const BADARITH_ATOM: i64 = atom_term(5);
pub const BADFUN_ATOM: i64 = atom_term(6);
pub const FUNCTION_CLAUSE_ATOM: i64 = atom_term(7);
pub const TRY_CLAUSE_ATOM: i64 = atom_term(8);
pub const OUT_OF_MEMORY_ATOM: i64 = atom_term(9);
pub const BADMATCH_ATOM: i64 = atom_term(10);
pub const CASE_CLAUSE_ATOM: i64 = atom_term(11);
pub const IF_CLAUSE_ATOM: i64 = atom_term(12);
pub const THROW_ATOM: i64 = atom_term(13);
pub const UNSUPPORTED_ATOM: i64 = atom_term(14);
pub const ALL_ATOM: i64 = atom_term(15);
pub const LOWERCASE_EXIT_ATOM: i64 = atom_term(16);
pub const BADRECORD_ATOM: i64 = atom_term(17);

/// The term value of a default atom, by name (`None` if the atom is not one of them and must be
/// resolved at load time).
pub fn default_atom_index(name: &[u8]) -> Option<u32> {
    DEFAULT_ATOM_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|i| atom_term(i as u32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_atoms_match_the_runtime_table() {
        // index << 6 | 0xB, as the runtime lays out its first atoms.
        assert_eq!(FALSE_ATOM, 0x0B);
        assert_eq!(TRUE_ATOM, 0x4B);
        assert_eq!(ERROR_ATOM, 0xCB);
        assert_eq!(BADRECORD_ATOM, 17 * 64 + 11);
        assert_eq!(default_atom_index(b"false"), Some(0x0B));
        assert_eq!(default_atom_index(b"true"), Some(0x4B));
        assert_eq!(default_atom_index(b"exit"), Some(16 * 64 + 11));
        assert_eq!(default_atom_index(b"badrecord"), Some(1099));
        assert_eq!(default_atom_index(b"EXIT"), None);
        assert_eq!(default_atom_index(b"undefined"), None);
        assert_eq!(default_atom_index(b""), None);
    }

    #[test]
    fn opcode_and_primitive_numbers() {
        assert_eq!(OP_BS_MATCH, 182);
        assert_eq!(OPCODE_MAX, 185);
        assert_eq!(PRIM_RAISE_ERROR_MFA, 76);
        assert_eq!(INT32_MIN, -0x8000_0000);
    }
}

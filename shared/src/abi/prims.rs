//! The runtime's primitives: index of each function in the `ModuleNativeInterface` table that
//! generated code calls through (the native interface register), and the special argument values
//! some of them take.

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

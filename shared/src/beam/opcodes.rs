//! Generic BEAM opcodes: numbers, names and arities (OTP `genop.tab`, up to OTP 28, plus `bif3`
//! which OTP 29 adds and AtomVM already knows).

/// Name and operand count of a generic opcode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OpcodeInfo {
    pub opcode: u8,
    pub name: &'static str,
    pub arity: u8,
}

macro_rules! opcodes {
    ($($num:literal $konst:ident $name:literal $arity:literal;)*) => {
        $(pub const $konst: u8 = $num;)*

        /// Indexed by opcode number; entry 0 is a placeholder (opcode 0 does not exist).
        static TABLE: &[OpcodeInfo] = &[
            OpcodeInfo { opcode: 0, name: "", arity: 0 },
            $(OpcodeInfo { opcode: $num, name: $name, arity: $arity },)*
        ];
    };
}

opcodes! {
    1 LABEL "label" 1;
    2 FUNC_INFO "func_info" 3;
    3 INT_CODE_END "int_code_end" 0;
    4 CALL "call" 2;
    5 CALL_LAST "call_last" 3;
    6 CALL_ONLY "call_only" 2;
    7 CALL_EXT "call_ext" 2;
    8 CALL_EXT_LAST "call_ext_last" 3;
    9 BIF0 "bif0" 2;
    10 BIF1 "bif1" 4;
    11 BIF2 "bif2" 5;
    12 ALLOCATE "allocate" 2;
    13 ALLOCATE_HEAP "allocate_heap" 3;
    14 ALLOCATE_ZERO "allocate_zero" 2;
    15 ALLOCATE_HEAP_ZERO "allocate_heap_zero" 3;
    16 TEST_HEAP "test_heap" 2;
    17 INIT "init" 1;
    18 DEALLOCATE "deallocate" 1;
    19 RETURN "return" 0;
    20 SEND "send" 0;
    21 REMOVE_MESSAGE "remove_message" 0;
    22 TIMEOUT "timeout" 0;
    23 LOOP_REC "loop_rec" 2;
    24 LOOP_REC_END "loop_rec_end" 1;
    25 WAIT "wait" 1;
    26 WAIT_TIMEOUT "wait_timeout" 2;
    27 M_PLUS "m_plus" 4;
    28 M_MINUS "m_minus" 4;
    29 M_TIMES "m_times" 4;
    30 M_DIV "m_div" 4;
    31 INT_DIV "int_div" 4;
    32 INT_REM "int_rem" 4;
    33 INT_BAND "int_band" 4;
    34 INT_BOR "int_bor" 4;
    35 INT_BXOR "int_bxor" 4;
    36 INT_BSL "int_bsl" 4;
    37 INT_BSR "int_bsr" 4;
    38 INT_BNOT "int_bnot" 3;
    39 IS_LT "is_lt" 3;
    40 IS_GE "is_ge" 3;
    41 IS_EQ "is_eq" 3;
    42 IS_NE "is_ne" 3;
    43 IS_EQ_EXACT "is_eq_exact" 3;
    44 IS_NE_EXACT "is_ne_exact" 3;
    45 IS_INTEGER "is_integer" 2;
    46 IS_FLOAT "is_float" 2;
    47 IS_NUMBER "is_number" 2;
    48 IS_ATOM "is_atom" 2;
    49 IS_PID "is_pid" 2;
    50 IS_REFERENCE "is_reference" 2;
    51 IS_PORT "is_port" 2;
    52 IS_NIL "is_nil" 2;
    53 IS_BINARY "is_binary" 2;
    54 IS_CONSTANT "is_constant" 2;
    55 IS_LIST "is_list" 2;
    56 IS_NONEMPTY_LIST "is_nonempty_list" 2;
    57 IS_TUPLE "is_tuple" 2;
    58 TEST_ARITY "test_arity" 3;
    59 SELECT_VAL "select_val" 3;
    60 SELECT_TUPLE_ARITY "select_tuple_arity" 3;
    61 JUMP "jump" 1;
    62 CATCH "catch" 2;
    63 CATCH_END "catch_end" 1;
    64 MOVE "move" 2;
    65 GET_LIST "get_list" 3;
    66 GET_TUPLE_ELEMENT "get_tuple_element" 3;
    67 SET_TUPLE_ELEMENT "set_tuple_element" 3;
    68 PUT_STRING "put_string" 3;
    69 PUT_LIST "put_list" 3;
    70 PUT_TUPLE "put_tuple" 2;
    71 PUT "put" 1;
    72 BADMATCH "badmatch" 1;
    73 IF_END "if_end" 0;
    74 CASE_END "case_end" 1;
    75 CALL_FUN "call_fun" 1;
    76 MAKE_FUN "make_fun" 3;
    77 IS_FUNCTION "is_function" 2;
    78 CALL_EXT_ONLY "call_ext_only" 2;
    79 BS_START_MATCH "bs_start_match" 2;
    80 BS_GET_INTEGER "bs_get_integer" 5;
    81 BS_GET_FLOAT "bs_get_float" 5;
    82 BS_GET_BINARY "bs_get_binary" 5;
    83 BS_SKIP_BITS "bs_skip_bits" 4;
    84 BS_TEST_TAIL "bs_test_tail" 2;
    85 BS_SAVE "bs_save" 1;
    86 BS_RESTORE "bs_restore" 1;
    87 BS_INIT "bs_init" 2;
    88 BS_FINAL "bs_final" 2;
    89 BS_PUT_INTEGER "bs_put_integer" 5;
    90 BS_PUT_BINARY "bs_put_binary" 5;
    91 BS_PUT_FLOAT "bs_put_float" 5;
    92 BS_PUT_STRING "bs_put_string" 2;
    93 BS_NEED_BUF "bs_need_buf" 1;
    94 FCLEARERROR "fclearerror" 0;
    95 FCHECKERROR "fcheckerror" 1;
    96 FMOVE "fmove" 2;
    97 FCONV "fconv" 2;
    98 FADD "fadd" 4;
    99 FSUB "fsub" 4;
    100 FMUL "fmul" 4;
    101 FDIV "fdiv" 4;
    102 FNEGATE "fnegate" 3;
    103 MAKE_FUN2 "make_fun2" 1;
    104 TRY "try" 2;
    105 TRY_END "try_end" 1;
    106 TRY_CASE "try_case" 1;
    107 TRY_CASE_END "try_case_end" 1;
    108 RAISE "raise" 2;
    109 BS_INIT2 "bs_init2" 6;
    110 BS_BITS_TO_BYTES "bs_bits_to_bytes" 3;
    111 BS_ADD "bs_add" 5;
    112 APPLY "apply" 1;
    113 APPLY_LAST "apply_last" 2;
    114 IS_BOOLEAN "is_boolean" 2;
    115 IS_FUNCTION2 "is_function2" 3;
    116 BS_START_MATCH2 "bs_start_match2" 5;
    117 BS_GET_INTEGER2 "bs_get_integer2" 7;
    118 BS_GET_FLOAT2 "bs_get_float2" 7;
    119 BS_GET_BINARY2 "bs_get_binary2" 7;
    120 BS_SKIP_BITS2 "bs_skip_bits2" 5;
    121 BS_TEST_TAIL2 "bs_test_tail2" 3;
    122 BS_SAVE2 "bs_save2" 2;
    123 BS_RESTORE2 "bs_restore2" 2;
    124 GC_BIF1 "gc_bif1" 5;
    125 GC_BIF2 "gc_bif2" 6;
    126 BS_FINAL2 "bs_final2" 2;
    127 BS_BITS_TO_BYTES2 "bs_bits_to_bytes2" 2;
    128 PUT_LITERAL "put_literal" 2;
    129 IS_BITSTR "is_bitstr" 2;
    130 BS_CONTEXT_TO_BINARY "bs_context_to_binary" 1;
    131 BS_TEST_UNIT "bs_test_unit" 3;
    132 BS_MATCH_STRING "bs_match_string" 4;
    133 BS_INIT_WRITABLE "bs_init_writable" 0;
    134 BS_APPEND "bs_append" 8;
    135 BS_PRIVATE_APPEND "bs_private_append" 6;
    136 TRIM "trim" 2;
    137 BS_INIT_BITS "bs_init_bits" 6;
    138 BS_GET_UTF8 "bs_get_utf8" 5;
    139 BS_SKIP_UTF8 "bs_skip_utf8" 4;
    140 BS_GET_UTF16 "bs_get_utf16" 5;
    141 BS_SKIP_UTF16 "bs_skip_utf16" 4;
    142 BS_GET_UTF32 "bs_get_utf32" 5;
    143 BS_SKIP_UTF32 "bs_skip_utf32" 4;
    144 BS_UTF8_SIZE "bs_utf8_size" 3;
    145 BS_PUT_UTF8 "bs_put_utf8" 3;
    146 BS_UTF16_SIZE "bs_utf16_size" 3;
    147 BS_PUT_UTF16 "bs_put_utf16" 3;
    148 BS_PUT_UTF32 "bs_put_utf32" 3;
    149 ON_LOAD "on_load" 0;
    150 RECV_MARK "recv_mark" 1;
    151 RECV_SET "recv_set" 1;
    152 GC_BIF3 "gc_bif3" 7;
    153 LINE "line" 1;
    154 PUT_MAP_ASSOC "put_map_assoc" 5;
    155 PUT_MAP_EXACT "put_map_exact" 5;
    156 IS_MAP "is_map" 2;
    157 HAS_MAP_FIELDS "has_map_fields" 3;
    158 GET_MAP_ELEMENTS "get_map_elements" 3;
    159 IS_TAGGED_TUPLE "is_tagged_tuple" 4;
    160 BUILD_STACKTRACE "build_stacktrace" 0;
    161 RAW_RAISE "raw_raise" 0;
    162 GET_HD "get_hd" 2;
    163 GET_TL "get_tl" 2;
    164 PUT_TUPLE2 "put_tuple2" 2;
    165 BS_GET_TAIL "bs_get_tail" 3;
    166 BS_START_MATCH3 "bs_start_match3" 4;
    167 BS_GET_POSITION "bs_get_position" 3;
    168 BS_SET_POSITION "bs_set_position" 2;
    169 SWAP "swap" 2;
    170 BS_START_MATCH4 "bs_start_match4" 4;
    171 MAKE_FUN3 "make_fun3" 3;
    172 INIT_YREGS "init_yregs" 1;
    173 RECV_MARKER_BIND "recv_marker_bind" 2;
    174 RECV_MARKER_CLEAR "recv_marker_clear" 1;
    175 RECV_MARKER_RESERVE "recv_marker_reserve" 1;
    176 RECV_MARKER_USE "recv_marker_use" 1;
    177 BS_CREATE_BIN "bs_create_bin" 6;
    178 CALL_FUN2 "call_fun2" 3;
    179 NIF_START "nif_start" 0;
    180 BADRECORD "badrecord" 1;
    181 UPDATE_RECORD "update_record" 5;
    182 BS_MATCH "bs_match" 3;
    183 EXECUTABLE_LINE "executable_line" 2;
    184 DEBUG_LINE "debug_line" 4;
    185 BIF3 "bif3" 6;
}

/// The highest opcode this table knows.
pub const MAX_OPCODE: u8 = BIF3;

/// Name and arity of `opcode`, or `None` if it is not a generic opcode we know.
pub fn info(opcode: u8) -> Option<OpcodeInfo> {
    if opcode == 0 {
        return None;
    }
    TABLE.get(usize::from(opcode)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_dense_and_ordered() {
        assert_eq!(TABLE.len(), usize::from(MAX_OPCODE) + 1);
        for (i, entry) in TABLE.iter().enumerate().skip(1) {
            assert_eq!(usize::from(entry.opcode), i);
        }
        assert_eq!(info(0), None);
        assert_eq!(info(MAX_OPCODE + 1), None);
    }

    #[test]
    fn well_known_entries() {
        assert_eq!(info(1).map(|i| (i.name, i.arity)), Some(("label", 1)));
        assert_eq!(
            info(SELECT_VAL).map(|i| (i.name, i.arity)),
            Some(("select_val", 3))
        );
        assert_eq!(info(153).map(|i| (i.name, i.arity)), Some(("line", 1)));
        assert_eq!(
            info(177).map(|i| (i.name, i.arity)),
            Some(("bs_create_bin", 6))
        );
        assert_eq!(
            info(183).map(|i| (i.name, i.arity)),
            Some(("executable_line", 2))
        );
        assert_eq!(
            info(184).map(|i| (i.name, i.arity)),
            Some(("debug_line", 4))
        );
    }
}

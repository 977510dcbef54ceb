//! The runtime's fixed first atoms: their index in the global atom table is known when compiling,
//! so their terms are immediates in generated code.

use super::term::{TERM_IMMED2_ATOM, TERM_IMMED2_TAG_SIZE};

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
}

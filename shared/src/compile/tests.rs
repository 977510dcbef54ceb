//! Driver tests: operand decoding on hand-made bytes, through the real backend.

use alloc::vec::Vec;

use super::backend::*;
use super::decode::*;
use super::env::{Import, ModuleEnv};
use super::operand::{Dest, Operand};
use super::Driver;
use crate::beam::compact::Cursor;
use crate::beam::JitType;
use crate::isa::armv6m::Armv6m;
use crate::native;
use crate::stream::VecSink;

/// The real armv6m backend over memory: these tests check the driver's decoding, not code.
fn backend() -> Armv6m<VecSink> {
    Armv6m::new(native::VARIANT_PIC.into(), VecSink::new())
}

/// Module tables for tests: atoms by name, no literals, no imports, no types.
struct Tables {
    atoms: Vec<&'static [u8]>,
    imports: Vec<Import>,
}

impl ModuleEnv for Tables {
    fn atom(&self, index: u32) -> Option<&[u8]> {
        self.atoms.get((index as usize).checked_sub(1)?).copied()
    }
    fn literal(&self, _index: u32) -> Option<&[u8]> {
        None
    }
    fn import(&self, index: u32) -> Option<Import> {
        self.imports.get(index as usize).copied()
    }
    fn jit_type(&self, _index: u32) -> JitType {
        JitType::Any
    }
}

fn cursor(bytes: &[u8]) -> Cursor<'_> {
    Cursor::new(bytes, 0x100)
}

#[test]
fn value64_short_medium_and_long_forms() {
    assert_eq!(decode_value64(&mut cursor(&[0x50])).unwrap(), 5);
    // 11-bit form: top 3 bits of the first byte, then a byte.
    assert_eq!(
        decode_value64(&mut cursor(&[0x48, 0x12])).unwrap(),
        (2 << 8) | 0x12
    );
    // Long form: (size - 2) in the top 3 bits, then big-endian bytes.
    assert_eq!(
        decode_value64(&mut cursor(&[0x18 | 0x20, 1, 2, 3])).unwrap(),
        0x010203
    );
    // Truncated input is an error, not a panic.
    assert!(decode_value64(&mut cursor(&[0x18 | 0x20, 1])).is_err());
    // Nine bytes that do not fit 64 bits.
    assert!(decode_value64(&mut cursor(&[0xF8, 1, 0, 0, 0, 0, 0, 0, 0, 0])).is_err());
}

#[test]
fn tagged_decoders_check_their_tag() {
    assert_eq!(decode_label(&mut cursor(&[0x35])).unwrap(), 3);
    assert!(decode_label(&mut cursor(&[0x30])).is_err());
    assert_eq!(decode_atom(&mut cursor(&[0x42])).unwrap(), 4);
    assert_eq!(decode_literal(&mut cursor(&[0x70])).unwrap(), 7);
    let mut c = cursor(&[0x17, 0x40, 0x27, 0x20]);
    assert_eq!(decode_extended_list_header(&mut c).unwrap(), 4);
    assert_eq!(decode_fp_register(&mut c).unwrap(), 2);
    assert!(c.is_empty());
}

#[test]
fn allocator_list_counts_floats_and_funs() {
    let mut b = backend();
    // {words 3, floats 2, funs 1} -> 3 + 2*3 + 1*3 on a 32-bit target.
    let bytes = [0x37, 0x30, 0x00, 0x30, 0x10, 0x20, 0x20, 0x10];
    assert_eq!(
        decode_allocator_list(&mut b, &mut cursor(&bytes)).unwrap(),
        12
    );
    assert_eq!(
        decode_allocator_list(&mut b, &mut cursor(&[0x50])).unwrap(),
        5
    );
}

#[test]
fn dest_decoding_and_extended_x_registers() {
    let mut b = backend();
    assert_eq!(
        decode_dest(&mut b, &mut cursor(&[0x23])).unwrap(),
        Dest::X(2)
    );
    assert_eq!(
        decode_dest(&mut b, &mut cursor(&[0x54])).unwrap(),
        Dest::Y(5)
    );
    // Large x register 20: beyond the addressable ones, so its address is fetched.
    let before = b.offset();
    let d = decode_dest(&mut b, &mut cursor(&[0x0B, 20])).unwrap();
    assert!(matches!(d, Dest::Ptr(_)));
    assert!(
        b.offset() > before,
        "no code fetched the register's address"
    );
    assert!(decode_dest(&mut b, &mut cursor(&[0x15])).is_err());
}

#[test]
fn compact_terms_integers_nil_atoms() {
    let env = Tables {
        atoms: alloc::vec![b"m", b"ok", b"custom"],
        imports: Vec::new(),
    };
    let mut d = Driver::new(backend(), &env, 1);
    assert_eq!(
        d.decode_compact_term(&mut cursor(&[0x31])).unwrap(),
        Operand::Imm(0x3F)
    );
    assert_eq!(
        d.decode_compact_term(&mut cursor(&[0x02])).unwrap(),
        Operand::Imm(0x3B)
    );
    // Negative 2-byte integer -2 -> term (-2 << 4) | 0xF.
    let neg = d
        .decode_compact_term(&mut cursor(&[0x19, 0xFF, 0xFE]))
        .unwrap();
    assert_eq!(neg, Operand::Imm((-2i64 << 4) | 0xF));
    // `ok` is a default atom (index 2 in the runtime table): an immediate.
    let ok = d.decode_compact_term(&mut cursor(&[0x22])).unwrap();
    assert_eq!(ok, Operand::Imm((2 << 6) | 0xB));
    // Any other atom is fetched at run time.
    assert!(matches!(
        d.decode_compact_term(&mut cursor(&[0x32])).unwrap(),
        Operand::Reg(_)
    ));
    // An extended list is not a value.
    assert!(d.decode_compact_term(&mut cursor(&[0x17, 0x00])).is_err());
}

/// `decode_val`'s short cut for one-byte operands gives what the general decoder gives, for
/// every first byte: the same value (or an error) and the same bytes consumed.
#[test]
fn decode_val_agrees_with_decode_compact_term_on_every_first_byte() {
    let env = Tables {
        atoms: alloc::vec![b"m", b"ok", b"custom"],
        imports: Vec::new(),
    };
    let mut short_cuts = 0;
    for first in 0..=255u8 {
        let bytes = [
            first, 0x02, 0x13, 0x21, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90,
        ];
        let mut general = Driver::new(backend(), &env, 1);
        let mut c1 = cursor(&bytes);
        let expected = general
            .decode_compact_term(&mut c1)
            .and_then(|o| o.val())
            .ok();
        let mut fast = Driver::new(backend(), &env, 1);
        let mut c2 = cursor(&bytes);
        let got = fast.decode_val(&mut c2).ok();
        assert_eq!(got, expected, "first byte {first:#04x}");
        if got.is_some() {
            assert_eq!(c2.pos(), c1.pos(), "first byte {first:#04x}");
        }
        if got.is_some() && c2.pos() == 1 && fast.b.offset() == 0 {
            short_cuts += 1;
        }
    }
    // 16 small integers, 16 x and 16 y registers, nil, and `ok` (a default atom).
    assert_eq!(short_cuts, 50);
}

#[test]
fn skip_mirrors_the_reference_failures() {
    assert!(skip_compact_term(&mut cursor(&[0xF9, 0x00])).is_err());
    assert!(skip_compact_term(&mut cursor(&[0x57, 0x03, 0x00])).is_err());
    let mut c = cursor(&[0x19, 0x01, 0x02, 0x03]);
    skip_compact_term(&mut c).unwrap();
    assert_eq!(c.pos(), 3);
}

#[test]
fn errors_print_names_and_only_real_offsets() {
    use super::{CompileError, CompileErrorKind, Names};
    use crate::error::Error;
    use alloc::string::ToString;
    assert_eq!(
        Error::missing_chunk(*b"Code").to_string(),
        "missing chunk Code"
    );
    let e = CompileError {
        kind: CompileErrorKind::Backend(BackendError::Encoding {
            what: "immediate",
            value: 300,
        }),
        offset: 0x20,
        opcode: Some(64),
        function: Some((2, 1)),
        label: Some(3),
        names: super::NamesBox::try_new(Names {
            module: Some("m".into()),
            function: Some("f".into()),
        }),
    };
    assert_eq!(
        e.to_string(),
        "module m: f/1, label 3, opcode 64 (move) at offset 0x20: cannot encode immediate 300"
    );
    let e = CompileError {
        kind: CompileErrorKind::Operand(super::helpers::unsupported("typed operand")),
        function: None,
        label: None,
        names: None,
        ..e
    };
    assert_eq!(
        e.to_string(),
        "opcode 64 (move) at offset 0x20: unsupported typed operand (0)"
    );
}

#[test]
fn tables_sort_stably_newest_first_in_place_or_with_a_fallible_buffer() {
    // Against the library's stable sort of the reversed (newest-first) list, on sorted,
    // unsorted and tie-heavy inputs of many lengths.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for len in (0..40).chain([100, 257, 1000]) {
        for spread in [1u64, 4, 1000] {
            let mut entries: alloc::vec::Vec<(u32, u32)> = (0..len)
                .map(|i| (i as u32, (next() % spread) as u32))
                .collect();
            if spread == 1000 && len % 2 == 0 {
                entries.sort_by_key(|e| e.1);
            }
            let mut expected = entries.clone();
            expected.reverse();
            expected.sort_by_key(|e| e.1);
            super::sort_by_offset_newest_first(&mut entries).unwrap();
            assert_eq!(entries, expected, "len {len} spread {spread}");
        }
    }
}

//! Any bytes decoded as a sequence of compact-term operands.
#![no_main]

use avm_jit_core::beam::Cursor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data, 0);
    while !cursor.is_empty() {
        let before = cursor.pos();
        match cursor.operand() {
            Ok(_) => assert!(cursor.pos() > before, "an operand consumed no input"),
            Err(e) => {
                assert!(
                    e.offset.is_none_or(|o| o <= data.len()),
                    "error offset past the input"
                );
                break;
            }
        }
    }
});

//! Any bytes through the packbeam (`.avm`) reader. Whatever parses must write back byte for byte,
//! and replacing payloads must still give a pack the reader accepts.
#![no_main]

use avm_jit_core::avm::Pack;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(pack) = Pack::parse(data) else {
        return;
    };
    for section in pack.sections() {
        let _ = (section.name_str(), section.module_name(), section.len());
        assert!(section.offset + section.len() <= data.len());
    }
    let _ = (
        pack.start_module(),
        pack.modules().count(),
        pack.end().end_offset(),
    );
    assert_eq!(pack.len() + pack.trailing().len(), data.len());

    assert_eq!(pack.to_vec(), data, "to_vec must reproduce the input");
    let mut out = vec![0xAA];
    pack.write(&mut out);
    assert_eq!(&out[1..], data, "write must append the input exactly");

    // Replace every other section with a payload derived from its neighbour's bytes; an empty
    // replacement list must give the input back.
    assert_eq!(pack.rewrite(&[]).expect("no replacement"), data);
    let replacements: Vec<Option<&[u8]>> = pack
        .sections()
        .iter()
        .enumerate()
        .map(|(i, s)| (i % 2 == 0).then(|| &s.name[..s.name.len() / 2]))
        .collect();
    if let Ok(rewritten) = pack.rewrite(&replacements) {
        // A replaced BEAM or plain-file section no longer announces its own length, so only the
        // sections with neither flag are checked for their new payloads.
        let replaced_typed = pack
            .sections()
            .iter()
            .step_by(2)
            .any(|s| s.is_beam() || s.flags & avm_jit_core::avm::NORMAL_FILE != 0);
        match Pack::parse(&rewritten) {
            Ok(again) => {
                assert_eq!(again.sections().len(), pack.sections().len());
                assert_eq!(again.to_vec(), rewritten);
            }
            Err(e) => assert!(replaced_typed, "rewrite gave an unreadable pack: {e:?}"),
        }
    }
    // Replacing each section with its own payload changes nothing but (possibly) padding bytes.
    let same: Vec<Option<&[u8]>> = pack.sections().iter().map(|s| Some(s.data)).collect();
    let rewritten = pack.rewrite(&same).expect("same sizes fit");
    let again = Pack::parse(&rewritten).expect("rewrite with the same payloads must parse");
    assert_eq!(again.sections().len(), pack.sections().len());
    for (a, b) in again.sections().iter().zip(pack.sections()) {
        assert_eq!((a.name, a.flags, a.data), (b.name, b.flags, b.data));
    }
});

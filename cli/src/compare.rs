//! `avm-jit compare`: do two files carry the same native code, module by module?

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use anyhow::Result;
use avm_jit_core::isa::armv6m::disasm::describe_difference;

use crate::disasm::native_payloads;

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Two files holding native code: `.beam`, `.avm` or raw `.avmN` payloads.
    pub left: PathBuf,
    pub right: PathBuf,
}

/// `avm-jit compare`: exit status 0 when every module's native code is identical.
pub fn run_compare(args: &CompareArgs) -> Result<bool> {
    let left = native_payloads(&args.left)?;
    let mut right = native_payloads(&args.right)?;
    // Two single modules (e.g. raw payloads named after their files) are compared as such.
    if let ([(l, _)], [(r, _)]) = (left.as_slice(), right.as_mut_slice()) {
        r.clone_from(l);
    }
    let mut same = 0;
    let mut differ = 0;
    // Looked up by name, not searched: linear in the number of modules.
    // (The first of several modules of one name, as a search would find.)
    let right_by_name: HashMap<&str, &Vec<u8>> =
        right.iter().rev().map(|(n, r)| (n.as_str(), r)).collect();
    let left_names: HashSet<&str> = left.iter().map(|(n, _)| n.as_str()).collect();
    for (name, l) in &left {
        match right_by_name.get(name.as_str()) {
            Some(&r) if r == l => same += 1,
            Some(&r) => {
                differ += 1;
                let mut text = String::new();
                let names = [
                    args.left.display().to_string(),
                    args.right.display().to_string(),
                ];
                let _ = describe_difference(l, r, [&names[0], &names[1]], &mut text);
                outln!("module {name} differs: {text}")?;
            }
            None => {
                differ += 1;
                outln!("module {name}: only in {}", args.left.display())?;
            }
        }
    }
    for (name, _) in &right {
        if !left_names.contains(name.as_str()) {
            differ += 1;
            outln!("module {name}: only in {}", args.right.display())?;
        }
    }
    outln!("{same} identical, {differ} different")?;
    Ok(differ == 0)
}

//! `avm-jit compare`: do two files carry the same native code, module by module?

use std::path::PathBuf;

use crate::disasm::{isa_of, native_payloads};
use anyhow::Result;

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
    for (name, l) in &left {
        match right.iter().find(|(n, _)| n == name) {
            Some((_, r)) if r == l => same += 1,
            Some((_, r)) => {
                differ += 1;
                let names = [
                    args.left.display().to_string(),
                    args.right.display().to_string(),
                ];
                let text = isa_of(l).describe_difference(l, r, [&names[0], &names[1]]);
                println!("module {name} differs: {text}");
            }
            None => {
                differ += 1;
                println!("module {name}: only in {}", args.left.display());
            }
        }
    }
    for (name, _) in &right {
        if !left.iter().any(|(n, _)| n == name) {
            differ += 1;
            println!("module {name}: only in {}", args.right.display());
        }
    }
    println!("{same} identical, {differ} different");
    Ok(differ == 0)
}

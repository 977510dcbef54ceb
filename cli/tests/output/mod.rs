//! Running `avm-jit` to completion and checking how it ended: the three helpers every end-to-end
//! test file of the CLI needs (`common` adds time limits and resource use for the fuzz-like tests).

#![allow(dead_code)]

use std::ffi::OsStr;
use std::process::{Command, Output};

/// `avm-jit ARGS...`, run to completion (arguments of mixed types: `&[&"info", &path]`).
pub fn avm_jit(args: &[&dyn AsRef<OsStr>]) -> Output {
    run(args)
}

/// `avm-jit ARGS...`, run to completion (arguments of one type).
pub fn run<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_avm-jit"))
        .args(args)
        .output()
        .expect("spawn avm-jit")
}

/// Success; its standard output.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "avm-jit failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit code 1 (never a panic) with a message containing every one of `needles`; the message.
#[track_caller]
pub fn refused(out: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a refusal, got {:?}: {err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
    err
}

//! Many files at once: compiled by several workers, reported in input order, the same bytes as
//! one at a time.
#![cfg(unix)]

mod common;

use common::*;

#[test]
fn many_inputs_compile_in_parallel_with_messages_in_input_order() {
    let dir = scratch("compile_many");
    let names = [
        "arith_demo",
        "bin_demo",
        "error_demo",
        "float_demo",
        "hello_pico",
        "lists_demo",
        "maps_demo",
        "proc_demo",
    ];
    // 40 inputs, in an order that is not sorted; the last one damaged (a file that cannot be
    // read stops the command: the ones after it may or may not have been started).
    let mut inputs = Vec::new();
    for round in 0..5 {
        for (k, name) in names.iter().enumerate().rev() {
            let path = dir.join(format!("{}_{round}_{k}.beam", name));
            let mut beam = example_beam(name);
            if round == 4 && k == 0 {
                beam.truncate(100);
            }
            std::fs::write(&path, beam).unwrap();
            inputs.push(path);
        }
    }
    let mut outputs = Vec::new();
    for jobs in ["1", "2", "4"] {
        let out = dir.join(format!("out{jobs}"));
        let mut args: Vec<std::ffi::OsString> = vec![
            "compile".into(),
            "--jobs".into(),
            jobs.into(),
            "-o".into(),
            out.clone().into(),
        ];
        args.extend(inputs.iter().map(|p| p.clone().into_os_string()));
        let run = run(&args);
        assert_eq!(
            run.code,
            Some(1),
            "the damaged input fails the command: {run:?}"
        );
        // One line per input, in input order: `IN -> OUT`, or the error for the damaged one.
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), inputs.len(), "{}", run.stderr);
        for (line, input) in lines.iter().zip(&inputs) {
            let shown = input.display().to_string();
            assert!(
                line.starts_with(&shown) || line.starts_with(&format!("error: {shown}")),
                "{line} for {shown}"
            );
        }
        outputs.push(
            listing(&out)
                .into_iter()
                .map(|n| (n.clone(), std::fs::read(out.join(n)).unwrap()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(outputs[0].len(), inputs.len() - 1);
    assert_eq!(
        outputs[0], outputs[1],
        "--jobs 2 wrote other bytes than --jobs 1"
    );
    assert_eq!(
        outputs[0], outputs[2],
        "--jobs 4 wrote other bytes than --jobs 1"
    );
}

/// One worker works through the inputs in order: a file that cannot be read stops the command
/// there, with the files before it written and none after it started.
#[test]
fn one_worker_stops_at_the_first_unreadable_input() {
    let dir = scratch("compile_one_worker");
    let mut inputs = Vec::new();
    for (k, name) in ["arith_demo", "bin_demo", "error_demo", "float_demo"]
        .iter()
        .enumerate()
    {
        let path = dir.join(format!("{name}.beam"));
        let mut beam = example_beam(name);
        if k == 1 {
            beam.truncate(100);
        }
        std::fs::write(&path, beam).unwrap();
        inputs.push(path);
    }
    let out = dir.join("out");
    let mut args: Vec<std::ffi::OsString> = vec![
        "compile".into(),
        "-j1".into(),
        "-o".into(),
        out.clone().into(),
    ];
    args.extend(inputs.iter().map(|p| p.clone().into_os_string()));
    let run = run(&args);
    assert_eq!(run.code, Some(1), "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(lines[1].starts_with("error: "), "{}", run.stderr);
    assert!(lines[1].contains("bin_demo.beam"), "{}", run.stderr);
    assert_eq!(listing(&out), vec!["arith_demo.beam".to_string()]);
}

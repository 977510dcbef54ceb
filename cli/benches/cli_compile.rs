//! The CLI path end to end: `avm-jit compile` on the 232 OTP 25 golden modules, in one process
//! (read, check, compile, write each file), as a user runs it.
//!
//! ```text
//! cargo bench -p avm-jit --bench cli_compile
//! ```
//! Prints wall time, CPU time (user + system of the avm-jit process, each shown) and MB/s of
//! `Code` chunk per CPU second (goal: at least 25), best and median of the rounds, and the same
//! compiles in this process (what the CLI adds is the difference). The rounds write into a RAM
//! file system where there is one (see `output_dir`; `AVM_JIT_BENCH_DIR=DIR` to write elsewhere).
//! Timings on a shared machine are noisy: for what the process itself does, count instructions
//! instead, e.g. `valgrind --tool=callgrind target/release/avm-jit compile -q --jobs 1 -o DIR
//! BEAMS...` (530 M for these files), and syscalls with `strace -c -f` (13 a file).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use avm_jit_core::beam::Module;
use avm_jit_core::compile::module::{precompile_beam, CodeTarget};
use avm_jit_tests::{files_with_ext, golden_dir};

const ROUNDS: usize = 11;

/// A new directory for the rounds' output, where, and why there: under `AVM_JIT_BENCH_DIR` if
/// set, else a RAM file system where there is one (`/dev/shm`), else the temp directory.
///
/// On a disk, the kernel's share of the CLI's CPU time depends on what the file system did
/// before. On ext4 without a journal, creating a file within a minute (six while the inode
/// table is not yet written back) of deleting files in the same block group first steps over
/// every recently deleted inode: the same run measured 12 to 140 ms of system time, depending
/// on how many files earlier rounds, tests or builds had just deleted. A RAM file system still
/// takes every system call the CLI makes (open, create, write, rename) and copies every byte
/// into the page cache, without that history.
fn output_dir() -> (tempfile::TempDir, &'static str) {
    let new = |root: &std::path::Path| {
        tempfile::Builder::new()
            .prefix("avm-jit-bench-")
            .tempdir_in(root)
    };
    if let Some(root) = std::env::var_os("AVM_JIT_BENCH_DIR") {
        let dir = new(root.as_ref()).expect("a directory in AVM_JIT_BENCH_DIR");
        return (dir, "AVM_JIT_BENCH_DIR");
    }
    if let Ok(dir) = new("/dev/shm".as_ref()) {
        return (dir, "a RAM file system; AVM_JIT_BENCH_DIR=DIR to choose");
    }
    let dir = new(&std::env::temp_dir()).expect("a directory in the temp directory");
    (dir, "the temp directory; AVM_JIT_BENCH_DIR=DIR to choose")
}

struct Round {
    wall: Duration,
    /// CPU time in the process itself and in the kernel on its behalf (opening, reading,
    /// creating and writing files, page faults).
    user: Duration,
    sys: Duration,
}

impl Round {
    fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

/// CPU time of this process so far.
fn process_cpu() -> Duration {
    // SAFETY: an all-zero timespec is valid; clock_gettime fills it.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// One `avm-jit compile` run; its wall time and the CPU time it used.
// Reaped by wait4 (for its CPU time), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn compile_all(beams: &[PathBuf], out: &std::path::Path, jobs: usize) -> Round {
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_avm-jit"))
        .args(["compile", "-q", "--jobs", &jobs.to_string(), "-o"])
        .arg(out)
        .args(beams)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn avm-jit");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 reaps our own child and fills both.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert!(
        r == pid && status == 0,
        "avm-jit compile failed ({status:#x})"
    );
    Round {
        wall,
        user: tv(usage.ru_utime),
        sys: tv(usage.ru_stime),
    }
}

fn main() {
    let Some(golden) = golden_dir("bench cli_compile") else {
        return;
    };
    // The modules the compiler (like the reference) compiles: 232 of the 239.
    let mut beams = Vec::new();
    let mut code_bytes = 0usize;
    let mut file_bytes = 0usize;
    for path in files_with_ext(&golden.join("otp25/beams"), "beam") {
        let bytes = std::fs::read(&path).unwrap();
        if precompile_beam(&bytes, CodeTarget::Armv6m).is_err() {
            continue;
        }
        file_bytes += bytes.len();
        let module = Module::parse(&bytes).unwrap();
        code_bytes += module.chunk(*b"Code").map_or(0, |c| c.data.len());
        beams.push(path);
    }
    let (out_dir, why) = output_dir();
    let out = out_dir.path().to_path_buf();
    // Each round writes new files into a new empty directory, as a first compile does (replacing
    // files costs what the file system's rename-over-existing costs, e.g. ext4 flushing the data
    // first). Nothing is deleted until the last round (see `output_root`).
    let mut rounds_run = 0;
    let mut round = |jobs: usize| {
        rounds_run += 1;
        let dir = out.join(rounds_run.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        compile_all(&beams, &dir, jobs)
    };
    // Warm the page cache once.
    round(1);
    let mb = code_bytes as f64 / 1e6;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "avm-jit compile, {} files ({:.2} MB, {:.2} MB of Code), one process, {ROUNDS} rounds",
        beams.len(),
        file_bytes as f64 / 1e6,
        mb
    );
    println!("  output in {} ({why})", out.display());
    let mut median_cpu_rate: f64 = 0.0;
    for jobs in [1, cores] {
        let mut rounds: Vec<Round> = (0..ROUNDS).map(|_| round(jobs)).collect();
        rounds.sort_by_key(Round::cpu);
        let (best, median) = (&rounds[0], &rounds[ROUNDS / 2]);
        let mut walls: Vec<Duration> = rounds.iter().map(|r| r.wall).collect();
        walls.sort();
        for (what, r) in [("best", best), ("median", median)] {
            let cpu = r.cpu().as_secs_f64();
            println!(
                "  --jobs {jobs} {what:>6}: CPU {:>6.1} ms (user {:.1} + system {:.1}) -> {:>5.1} MB/s of Code per CPU second, {:>4.0} us CPU per file",
                cpu * 1e3,
                r.user.as_secs_f64() * 1e3,
                r.sys.as_secs_f64() * 1e3,
                mb / cpu,
                cpu * 1e6 / beams.len() as f64,
            );
        }
        println!(
            "  --jobs {jobs}   wall: best {:.1} ms ({:.1} MB/s of Code), median {:.1} ms",
            walls[0].as_secs_f64() * 1e3,
            mb / walls[0].as_secs_f64(),
            walls[ROUNDS / 2].as_secs_f64() * 1e3
        );
        median_cpu_rate = median_cpu_rate.max(mb / median.cpu().as_secs_f64());
    }
    drop(out_dir);
    // The same compiles in this process, one pass like the CLI's (no reading, checking or
    // writing): what the CLI adds is the difference.
    let bytes: Vec<Vec<u8>> = beams.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut passes: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = process_cpu();
            for b in &bytes {
                std::hint::black_box(precompile_beam(b, CodeTarget::Armv6m).unwrap());
            }
            process_cpu() - start
        })
        .collect();
    passes.sort();
    println!(
        "  in-process precompile_beam, same files: CPU best {:.1} ms ({:.1} MB/s), median {:.1} ms ({:.1} MB/s)",
        passes[0].as_secs_f64() * 1e3,
        mb / passes[0].as_secs_f64(),
        passes[ROUNDS / 2].as_secs_f64() * 1e3,
        mb / passes[ROUNDS / 2].as_secs_f64()
    );
    println!(
        "  goal: at least 25 MB/s of Code per CPU second: {} (best median {median_cpu_rate:.1})",
        if median_cpu_rate >= 25.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

//! Running avm-jit as a user would, with a time limit, and reading what it cost.

#![allow(dead_code)]

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_avm-jit")
}

/// What one run did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (none: killed by a signal, see `signal`).
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// Exit code 1 and a message naming every one of `needles`; never a panic.
    #[track_caller]
    pub fn refused(&self, needles: &[&str]) {
        assert_eq!(self.code, Some(1), "expected exit 1: {self:?}");
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}: {}",
                self.stderr
            );
        }
    }
    #[track_caller]
    pub fn ok(&self) -> String {
        assert_eq!(self.code, Some(0), "expected success: {self:?}");
        self.stdout()
    }
}

/// Run avm-jit with `args`; `setup` may change the command (stdout, pre_exec). Killed and
/// reported after `limit`.
// The child is reaped by wait4 (for its status and a time limit), which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub fn run_with<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    limit: Duration,
    setup: impl FnOnce(&mut Command),
) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    setup(&mut cmd);
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn avm-jit");
    let pid = child.id() as libc::pid_t;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child, not yet waited for; the pointers are valid.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > limit {
            let _ = child.kill();
            // SAFETY: as above.
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            panic!(
                "avm-jit {:?} still running after {limit:?}",
                cmd.get_args().collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = std::process::ExitStatus::from_raw(status);
    Run {
        code: status.code(),
        signal: status.signal(),
        stdout: out.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        elapsed: start.elapsed(),
    }
}

pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    run_with(args, Duration::from_secs(60), |_| {})
}

/// Run with at most `bytes` of address space (RLIMIT_AS): an allocation past it aborts the
/// process, which the exit code shows. (Peak RSS cannot be read for a child: Linux counts the
/// parent's pages it was forked with.)
pub fn run_in<S: AsRef<std::ffi::OsStr>>(args: &[S], bytes: u64, limit: Duration) -> Run {
    use std::os::unix::process::CommandExt;
    run_with(args, limit, |cmd| {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let l = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

/// Address space that avm-jit gets in the memory tests: its own ~30 MB and a little more.
pub const SMALL_MEMORY: u64 = 64 << 20;

/// A fresh directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn example_dir() -> PathBuf {
    avm_jit_tests::workspace_root().join("fixtures/example")
}

/// The example application (in the repository, no golden corpus needed).
pub fn example_avm() -> Vec<u8> {
    std::fs::read(example_dir().join("example.avm")).unwrap()
}

pub fn example_beam(name: &str) -> Vec<u8> {
    std::fs::read(example_dir().join("beams").join(format!("{name}.beam"))).unwrap()
}

/// Names of the files in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// A character device node in `dir` (the null device's numbers), so that a test of what is
/// refused never points avm-jit at the machine's own /dev. None where mknod is not allowed.
pub fn device_node(dir: &Path, name: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let path = dir.join(name);
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    (made == 0).then_some(path)
}

/// The offset of the data of chunk `id` in a BEAM file.
pub fn chunk_data(beam: &[u8], id: &[u8; 4]) -> Option<(usize, usize)> {
    let mut at = 12;
    while at + 8 <= beam.len() {
        let len = u32::from_be_bytes(beam[at + 4..at + 8].try_into().unwrap()) as usize;
        if &beam[at..at + 4] == id {
            return Some((at + 8, len));
        }
        at += 8 + ((len + 3) & !3);
    }
    None
}

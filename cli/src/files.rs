//! Every file the CLI reads or writes goes through here.
//!
//! Inputs: only regular files are read (a FIFO or a device is refused without blocking on it),
//! the magic number and the size are checked before the body is read, and the read itself is
//! capped, so a hostile or mistaken input costs at most [`MAX_INPUT`] bytes of memory.
//!
//! Outputs: written to a uniquely named temporary file in the destination's directory and renamed
//! over the destination only once complete, so an output is either the complete new file or the
//! untouched old one (the temporary file is removed on any error, disk full included). Symbolic
//! links are followed to the real file, whose permissions (and, when allowed, owner) are kept;
//! what is not a regular file and what is read-only is refused. Before anything is written, every
//! output is compared by identity (device and inode, not name) with every input and every other
//! output of the command.

use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

/// The largest input read: the Pico's flash is seen through a 16 MiB XIP window, so no BEAM file,
/// AVM, native payload or flash image that can end up on a Pico is larger (a BEAM file's own
/// 32-bit size field would allow 4 GiB).
pub const MAX_INPUT: u64 = 16 << 20;

pub const BEAM_MAGIC: &[u8] = b"FOR1";
pub const AVM_MAGIC: &[u8] = b"#!/usr/bin/env AtomVM";

/// What an input must start with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A BEAM file (`FOR1`) or an AVM (`#!/usr/bin/env AtomVM`).
    BeamOrAvm,
    /// An AVM.
    Avm,
    /// A BEAM file, an AVM or a raw `avmN` payload (no magic of its own; checked by its reader).
    Native,
    /// Anything (a data file packed into an AVM, a flash image).
    Any,
}

/// What kind of file an input turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Beam,
    Avm,
    Other,
}

/// Identity of a file: device and inode on Unix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId(u64, u64);

#[cfg(unix)]
fn file_id(m: &Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId(m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_m: &Metadata) -> Option<FileId> {
    None
}

pub struct Input {
    pub bytes: Vec<u8>,
    pub kind: Kind,
}

fn kind_of(head: &[u8]) -> Kind {
    if head.starts_with(BEAM_MAGIC) {
        Kind::Beam
    } else if head.starts_with(AVM_MAGIC) {
        Kind::Avm
    } else {
        Kind::Other
    }
}

/// Open a file for reading without blocking on a FIFO.
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Read `path` as `expect` says, at most `cap` bytes (itself at most [`MAX_INPUT`]).
pub fn read_input(path: &Path, expect: Expect, cap: u64) -> Result<Input> {
    let cap = cap.min(MAX_INPUT);
    let name = path.display();
    let mut file = open_nonblocking(path).with_context(|| format!("{name}: cannot read"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("{name}: cannot read"))?;
    if !meta.is_file() {
        bail!("{name}: not a regular file");
    }
    let size = meta.len();
    let mut head = [0u8; 24];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("{name}: cannot read")),
        }
    }
    let head = &head[..got];
    let kind = kind_of(head);
    match (expect, kind) {
        (Expect::BeamOrAvm, Kind::Other) => bail!(
            "{name}: at offset 0x0: neither a BEAM file (FOR1) nor an AVM (#!/usr/bin/env AtomVM)"
        ),
        (Expect::Avm, Kind::Beam | Kind::Other) => {
            bail!("{name}: at offset 0x0: not an AVM (expected #!/usr/bin/env AtomVM)")
        }
        _ => {}
    }
    if size > cap {
        bail!(
            "{name}: {size} bytes, more than the {cap} bytes this input can be (see `avm-jit --help`)"
        );
    }
    let mut bytes = Vec::with_capacity(size as usize);
    bytes.extend_from_slice(head);
    // The file may have grown since it was measured: read one byte past the cap to tell.
    (&mut file)
        .take(cap + 1 - got as u64)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{name}: cannot read"))?;
    if bytes.len() as u64 > cap {
        bail!("{name}: more than the {cap} bytes this input can be");
    }
    Ok(Input { bytes, kind })
}

/// The inputs and outputs of one command, compared by identity before anything is written
/// (looked up by key: a command with thousands of files does not compare every pair).
#[derive(Default)]
pub struct Files {
    /// The first input with each identity.
    inputs: HashMap<FileId, PathBuf>,
    outputs: HashMap<OutKey, PathBuf>,
    /// The real path of each directory new outputs go to, as given.
    dirs: HashMap<PathBuf, PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum OutKey {
    Existing(FileId),
    New(PathBuf),
}

/// Where an output really goes.
#[derive(Clone)]
pub struct Output {
    /// The path as the user gave it (for messages).
    pub shown: PathBuf,
    /// The real file after following symbolic links.
    pub real: PathBuf,
}

impl Files {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record an input. Missing inputs are reported when they are read.
    pub fn input(&mut self, path: &Path) {
        if let Some(id) = std::fs::metadata(path).ok().as_ref().and_then(file_id) {
            self.inputs.entry(id).or_insert_with(|| path.to_path_buf());
        }
    }

    /// Check an output before anything is written: a regular, writable file or a new one, not one
    /// of the inputs and not another output of the same command.
    pub fn output(&mut self, path: &Path) -> Result<Output> {
        let (real, meta) = resolve_links(path)?;
        let key = match meta {
            Ok(meta) => {
                check_replaceable(path, &real, &meta)?;
                match file_id(&meta) {
                    Some(id) => OutKey::Existing(id),
                    None => OutKey::New(real.canonicalize().unwrap_or_else(|_| real.clone())),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let parent = parent_of(&real);
                // Outputs mostly share a directory: it is resolved once.
                let dir = match self.dirs.get(parent) {
                    Some(dir) => dir.clone(),
                    None => {
                        let dir = parent.canonicalize().with_context(|| {
                            format!("{}: cannot write in {}", path.display(), parent.display())
                        })?;
                        self.dirs.insert(parent.to_path_buf(), dir.clone());
                        dir
                    }
                };
                let file_name = real
                    .file_name()
                    .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
                OutKey::New(dir.join(file_name))
            }
            Err(e) => return Err(e).with_context(|| format!("{}: cannot write", path.display())),
        };
        if let OutKey::Existing(id) = &key {
            if let Some(input) = self.inputs.get(id) {
                bail!(
                    "{}: is the input {} (the same file): refusing to overwrite an input",
                    path.display(),
                    input.display()
                );
            }
        }
        if let Some(other) = self.outputs.get(&key) {
            bail!(
                "{}: the same file as the output {}: two outputs would overwrite each other",
                path.display(),
                other.display()
            );
        }
        self.outputs.insert(key, path.to_path_buf());
        Ok(Output {
            shown: path.to_path_buf(),
            real,
        })
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Follow symbolic links (at most 40, as the kernel does) to the path of the real file, which may
/// not exist yet, and that file's metadata (what `std::fs::metadata` would say of it: the last
/// look is not at a link, so it is already that).
fn resolve_links(path: &Path) -> Result<(PathBuf, std::io::Result<Metadata>)> {
    let mut real = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&real) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&real)
                    .with_context(|| format!("{}: cannot follow the link", path.display()))?;
                real = parent_of(&real).join(target);
            }
            meta => return Ok((real, meta)),
        }
    }
    bail!("{}: too many levels of symbolic links", path.display())
}

fn check_replaceable(shown: &Path, real: &Path, meta: &Metadata) -> Result<()> {
    if !meta.is_file() {
        bail!(
            "{}: not a regular file (a directory, device or FIFO is never replaced)",
            shown.display()
        );
    }
    if meta.permissions().readonly() {
        bail!("{}: read-only; not replaced", shown.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(real.as_os_str().as_bytes())
            .map_err(|_| anyhow!("{}: path holds a NUL byte", shown.display()))?;
        // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
            bail!(
                "{}: not writable by you: {}",
                shown.display(),
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = real;
    Ok(())
}

/// Write `bytes` to `out`: complete new file or untouched old one, whatever happens to this
/// process. With `sync`, an existing file is replaced only once the new bytes are on disk, so that
/// a power cut cannot leave an empty file either (one fsync per file: `compile`, which writes many
/// files that can be made again from their inputs, leaves that to the file system).
pub fn write_output(out: &Output, bytes: &[u8], sync: bool) -> Result<()> {
    write_output_pieces(out, &[bytes], sync)
}

/// [`write_output`] for bytes in pieces (written in order, with as few writes as the system
/// allows: the pieces are not copied into one buffer first).
pub fn write_output_pieces(out: &Output, pieces: &[&[u8]], sync: bool) -> Result<()> {
    let shown = out.shown.display();
    let fail = || format!("{shown}: cannot write");
    let dir = parent_of(&out.real);
    let existing = std::fs::metadata(&out.real).ok();
    if let Some(meta) = &existing {
        // Checked again: the file may have been replaced since the command started.
        check_replaceable(&out.shown, &out.real, meta)?;
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".avm-jit-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // What a new file would get (the umask applies), as `std::fs::write` does.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).with_context(|| {
        format!(
            "{shown}: cannot create a temporary file in {}",
            dir.display()
        )
    })?;
    write_all_pieces(tmp.as_file_mut(), pieces).with_context(fail)?;
    if let Some(meta) = &existing {
        tmp.as_file()
            .set_permissions(meta.permissions())
            .with_context(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // Keep the owner when allowed (root replacing another user's file); otherwise the
            // file becomes the user's own, as with any editor that saves by renaming.
            let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()));
        }
        if sync {
            tmp.as_file().sync_all().with_context(fail)?;
        }
    }
    tmp.persist(&out.real)
        .map_err(|e| anyhow!("{shown}: cannot write: {}", e.error))?;
    Ok(())
}

/// Write every byte of `pieces`, in order, with vectored writes.
fn write_all_pieces(file: &mut File, pieces: &[&[u8]]) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> = pieces
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| std::io::IoSlice::new(p))
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Lines on standard output; a write error (full disk, closed pipe) becomes an error that `main`
/// reports (or, for a closed pipe, ends the command quietly), never a panic.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::files::out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::files::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Text on standard output (see [`outln!`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::files::out(format_args!($($arg)*))
    };
}

/// Standard output could not be written.
#[derive(Debug)]
pub struct StdoutError(pub std::io::Error);

impl std::fmt::Display for StdoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write to standard output: {}", self.0)
    }
}

impl std::error::Error for StdoutError {}

pub fn out(args: std::fmt::Arguments<'_>) -> Result<()> {
    std::io::stdout()
        .lock()
        .write_fmt(args)
        .map_err(|e| StdoutError(e).into())
}

pub fn flush_stdout() -> Result<()> {
    std::io::stdout().flush().map_err(|e| StdoutError(e).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        f
    }

    /// A file larger than one read chunk comes back whole and classified.
    #[test]
    fn reads_the_whole_input() {
        let mut bytes = b"FOR1\0\0\0\0BEAM".to_vec();
        bytes.extend((0..100_000u32).map(|i| (i * 7) as u8));
        let f = temp_with(&bytes);
        let input = read_input(f.path(), Expect::BeamOrAvm, MAX_INPUT).unwrap();
        assert_eq!(input.bytes, bytes);
        assert!(matches!(input.kind, Kind::Beam));
    }

    /// Over the cap: refused by its size, unless it is not what was expected at all, which is
    /// said first.
    #[test]
    fn an_input_over_its_cap_is_refused_by_kind_then_size() {
        let beam = temp_with(&[b"FOR1".as_slice(), &[0; 60]].concat());
        let e = read_input(beam.path(), Expect::BeamOrAvm, 32)
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("64 bytes, more than the 32 bytes"),
            "{e}"
        );
        let other = temp_with(&[0x42; 64]);
        let e = read_input(other.path(), Expect::BeamOrAvm, 32)
            .err()
            .unwrap();
        assert!(e.to_string().contains("neither a BEAM file"), "{e}");
        // At the cap exactly: read.
        let at_cap = temp_with(&[b"FOR1".as_slice(), &[0; 28]].concat());
        assert_eq!(
            read_input(at_cap.path(), Expect::BeamOrAvm, 32)
                .unwrap()
                .bytes
                .len(),
            32
        );
    }
}

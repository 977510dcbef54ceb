//! Helpers shared by the end-to-end tests: where the golden corpus and the fixtures are.

pub mod report;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The golden corpus: `$AVM_JIT_GOLDEN`, else `../shared/golden` beside the workspace.
///
/// When it is missing, a test run under CI (`CI=true`) fails, because a silently skipped
/// conformance suite is worse than a red build; elsewhere the test says plainly that it skipped.
pub fn golden_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("AVM_JIT_GOLDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/golden"));
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: golden corpus not found at {} (set AVM_JIT_GOLDEN)",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED {test}: golden corpus not found at {}",
        dir.display()
    );
    None
}

/// One row of a golden `index.tsv`.
#[derive(Clone, Debug)]
pub struct GoldenRow {
    pub app: String,
    pub module: String,
    pub beam_sha256: String,
    pub avmn_sha256: String,
    /// Named columns after the first four (sizes, counts), as text.
    pub extra: Vec<(String, String)>,
}

impl GoldenRow {
    /// This row's input module in `beams` (see [`golden_beams_dir`]).
    pub fn beam_path(&self, beams: &Path) -> PathBuf {
        beams.join(&self.app).join(format!("{}.beam", self.module))
    }

    /// The reference's `avmN` payload for this row of `<golden>/<target>`.
    pub fn avmn_path(&self, golden: &Path, target: &str) -> PathBuf {
        golden
            .join(target)
            .join(&self.app)
            .join(format!("{}.avmN", self.module))
    }
}

/// The rows of `<golden>/<target>/index.tsv`, e.g. `target = "otp25/armv6m"`.
pub fn golden_index(golden: &Path, target: &str) -> Vec<GoldenRow> {
    let path = golden.join(target).join("index.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 4, "{}: short row {l:?}", path.display());
            GoldenRow {
                app: f[0].into(),
                module: f[1].into(),
                beam_sha256: f[2].into(),
                avmn_sha256: f[3].into(),
                extra: header
                    .iter()
                    .zip(&f)
                    .skip(4)
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect(),
            }
        })
        .collect()
}

impl GoldenRow {
    pub fn get(&self, column: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(h, _)| h == column)
            .map(|(_, v)| v.as_str())
    }
}

/// Every file with extension `ext` below `dir`, sorted.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The `.beam` files below `dir` as (module name, bytes), sorted by path; panics if there are none.
pub fn beams_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let beams: Vec<(String, Vec<u8>)> = files_with_ext(dir, "beam")
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, bytes)
        })
        .collect();
    assert!(!beams.is_empty(), "no beams in {}", dir.display());
    beams
}

/// xorshift64*: deterministic pseudo-random numbers, so a failing corruption test is reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The input beams of a golden target folder.
pub fn golden_beams_dir(golden: &Path, target: &str) -> PathBuf {
    let (otp, variant) = target.split_once('/').unwrap_or((target, ""));
    let beams = if variant.ends_with("-notype") {
        "beams-notype"
    } else {
        "beams"
    };
    golden.join(otp).join(beams)
}

/// The golden targets whose rows must match byte for byte.
pub const ARMV6M_TARGETS: [&str; 3] = ["otp25/armv6m", "otp27/armv6m", "otp27/armv6m-notype"];

/// What [`check_corpus`] found: identical rows, all rows, and a description of each other row.
pub struct CorpusResult {
    pub same: usize,
    pub total: usize,
    pub problems: Vec<String>,
}

/// Compile every row of the golden corpus `target` with `compile` (which returns the payload in
/// the layout the corpus stores) and compare it with the reference's bytes by sha256. Each input
/// is first checked against the sha256 in the index; a difference is described with both sides
/// disassembled around the first differing offset (in `arch`'s instruction set).
pub fn check_corpus<E: std::fmt::Display>(
    golden: &Path,
    target: &str,
    arch: avm_jit_core::isa::CodeTarget,
    compile: impl Fn(&avm_jit_core::beam::Module<'_>) -> Result<Vec<u8>, E>,
) -> CorpusResult {
    use sha2::{Digest, Sha256};
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    let beams = golden_beams_dir(golden, target);
    let rows = golden_index(golden, target);
    let mut same = 0;
    let mut problems = Vec::new();
    for row in &rows {
        let beam_path = row.beam_path(&beams);
        let beam =
            std::fs::read(&beam_path).unwrap_or_else(|e| panic!("{}: {e}", beam_path.display()));
        assert_eq!(
            hex(&Sha256::digest(&beam)),
            row.beam_sha256,
            "{}: not the indexed input",
            beam_path.display()
        );
        let module = avm_jit_core::beam::Module::parse(&beam)
            .unwrap_or_else(|e| panic!("{}: {e}", beam_path.display()));
        match compile(&module) {
            Ok(got) if hex(&Sha256::digest(&got)) == row.avmn_sha256 => same += 1,
            Ok(got) => {
                let expected_path = row.avmn_path(golden, target);
                let expected = std::fs::read(&expected_path).unwrap_or_default();
                problems.push(format!(
                    "{target} {}/{}: {}",
                    row.app,
                    row.module,
                    report::first_difference(&got, &expected, arch)
                ));
            }
            Err(e) => problems.push(format!("{target} {}/{}: {e}", row.app, row.module)),
        }
    }
    CorpusResult {
        same,
        total: rows.len(),
        problems,
    }
}

/// A sink that only counts what is appended, standing in for flash in benches: the compiler's own
/// time and memory are what is measured.
#[derive(Default)]
pub struct CountingSink {
    len: usize,
}

impl avm_jit_core::stream::CodeSink for CountingSink {
    fn offset(&self) -> usize {
        self.len
    }
    fn append(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
    }
    fn replace(&mut self, _offset: usize, _bytes: &[u8]) {}
    fn error(&self) -> Option<avm_jit_core::stream::SinkError> {
        None
    }
}

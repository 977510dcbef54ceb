//! Prefilling AtomVM's flash JIT cache: the entries its own on-device JIT would write, written by
//! someone else (the host through `avm-jit flash --mode prefill`, or the device loader on the Pico).
//!
//! Both writers share everything here, so that a cache written on the desktop and one written on
//! the device are the same bytes:
//!
//! - **Which modules** ([`classify`], [`select`]): a BEAM section gets an entry when it holds
//!   bytecode (a `Code` chunk) and no `avmN` chunk — AtomVM only looks a module up in the cache when
//!   it has no `avmN` chunk, and a module that is already native passes through untouched.
//!   [`Selection::All`] takes every such module of every AVM; [`Selection::Closure`] only those
//!   reachable from the start modules and from `init` through the atom tables and the atoms inside
//!   literals (every import names its module with an atom, and dynamic calls use atoms too), which
//!   cannot miss a module AtomVM loads unless a module name is built at run time.
//! - **In which order**: AVMs in ascending flash address (`lib.avm` before `main.avm`), and in
//!   each AVM its sections in pack order — that is, ascending address of the `Code` chunk. AtomVM
//!   scans the entries linearly and matches by address, so any order works; this one is fixed so
//!   that two writers agree byte for byte.
//! - **At which address** ([`cache_start`], [`super::cache::next_entry_address`]): the first entry
//!   at the first sector at or after the highest end section's name of the AVMs, each next entry at
//!   the next 4-byte boundary after the previous one's code. Nothing else is written there.
//! - **With which header**: `{0x4A74, version` [`CACHE_VERSION`] `, code, labels, size}` where
//!   `code` is the flash address of the module's `Code` chunk tag ([`Candidate::code_address`]),
//!   `labels` the compiler's label count and `size` the code bytes. The code is the module
//!   compiled into an *empty* stream ([`compile_entry`]): not the AOT payload (whose offsets are
//!   20 bytes higher).
//! - **The END marking** ([`mark_all_valid`]): AtomVM trusts the cache only when the end section of
//!   every AVM it loaded is named `END`. Each `end` becomes `END` after the last entry is complete,
//!   so an interrupted write leaves an invalid (ignored) cache rather than a wrong one.
//!
//! [`write_cache`] streams every entry straight into a [`NorFlash`] through a [`FlashSink`]: no
//! module's native code is ever held in RAM whole. The host turns the resulting flash contents into
//! a [`Plan`] with [`cache_plan`], so the same bytes can go to a probe, an image or a UF2 file.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use super::cache::{self, CacheEntry};
use super::nor::{FlashError, MemFlash, NorFlash};
use super::plan::{Plan, Step};
use super::sink::{FlashSink, StartError};
use super::{align_up, SECTOR_SIZE};
use crate::avm::{Pack, Section, SECTION_FIXED_HEADER};
use crate::beam::etf::Term;
use crate::beam::Module;
use crate::compile::module::{compile_into, BeamEnv, CodeTarget, ModuleError};
use crate::mem::{self, AllocError};
use crate::stream::{CodeSink, SinkError};

/// The `version` field AtomVM v0.7.0-alpha.1 writes and accepts (`JIT_FORMAT_VERSION`).
pub const CACHE_VERSION: u16 = 1;

/// An AVM as it sits in flash.
#[derive(Debug, Clone)]
pub struct AvmInFlash<'a> {
    /// Flash address of the pack's first byte.
    pub address: u32,
    pub pack: Pack<'a>,
}

impl AvmInFlash<'_> {
    /// The address just after the end section's padded name (where the cache may begin).
    pub fn end_data(&self) -> u32 {
        self.address
            .wrapping_add(self.pack.end().data_offset as u32)
    }
    /// The address of the end section's name (`end` or `END`).
    pub fn end_name_address(&self) -> u32 {
        self.address
            .wrapping_add((self.pack.end().offset + SECTION_FIXED_HEADER) as u32)
    }
}

/// What a section is, for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// Bytecode only: gets a cache entry.
    Bytecode,
    /// An `avmN` chunk and no `Code`: already native, passes through.
    Native,
    /// Both `Code` and `avmN`: AtomVM runs the `avmN` code and never consults the cache.
    NativeAndBytecode,
    /// A BEAM section this reader cannot use (malformed, or several `Code` chunks).
    Unusable,
    /// A plain file, not a module.
    NotModule,
}

/// What a section is (see [`ModuleKind`]).
pub fn classify(section: &Section<'_>) -> ModuleKind {
    if !section.is_beam() {
        return ModuleKind::NotModule;
    }
    let Ok(module) = Module::parse(section.data) else {
        return ModuleKind::Unusable;
    };
    let (mut code, mut native) = (0, 0);
    for chunk in module.chunks() {
        match chunk {
            Ok(c) if c.id == *b"Code" => code += 1,
            Ok(c) if c.id == *b"avmN" => native += 1,
            Ok(_) => {}
            Err(_) => return ModuleKind::Unusable,
        }
    }
    match (code, native) {
        (0, 0) => ModuleKind::Unusable,
        (0, _) => ModuleKind::Native,
        (1, 0) => ModuleKind::Bytecode,
        (1, _) => ModuleKind::NativeAndBytecode,
        _ => ModuleKind::Unusable,
    }
}

/// A module that gets a cache entry.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// Index of its AVM in the slice given to [`candidates`].
    pub avm: usize,
    /// The section name without `.beam`.
    pub name: &'a [u8],
    pub module: Module<'a>,
    /// Flash address of the `Code` chunk's tag: the entry's `code` field, and how AtomVM matches
    /// the entry to the module.
    pub code_address: u32,
}

impl Candidate<'_> {
    pub fn name_str(&self) -> &str {
        core::str::from_utf8(self.name).unwrap_or("?")
    }
}

fn module_name<'a>(section: &Section<'a>) -> &'a [u8] {
    section.name.strip_suffix(b".beam").unwrap_or(section.name)
}

fn candidate<'a>(avm: usize, at: &AvmInFlash<'a>, section: &Section<'a>) -> Option<Candidate<'a>> {
    if classify(section) != ModuleKind::Bytecode {
        return None;
    }
    let module = Module::parse(section.data).ok()?;
    let code = module.chunk(*b"Code")?;
    // `offset` is where the chunk's data starts; its tag is 8 bytes earlier.
    let in_section = u32::try_from(code.offset.checked_sub(8)?).ok()?;
    let code_address = at
        .address
        .checked_add(u32::try_from(section.data_offset).ok()?)?
        .checked_add(in_section)?;
    Some(Candidate {
        avm,
        name: module_name(section),
        module,
        code_address,
    })
}

/// Every module that can get an entry, in cache order (see the module documentation).
pub fn candidates<'a>(avms: &[AvmInFlash<'a>]) -> Result<Vec<Candidate<'a>>, AllocError> {
    let mut order: Vec<usize> = mem::try_with_capacity(avms.len(), "module selection")?;
    order.extend(0..avms.len());
    // By address (ties by position, as a stable sort would leave them): no sort buffer.
    order.sort_unstable_by_key(|&i| (avms[i].address, i));
    let mut out = Vec::new();
    for i in order {
        for s in avms[i].pack.sections() {
            if let Some(c) = candidate(i, &avms[i], s) {
                mem::try_push(&mut out, c, "module selection")?;
            }
        }
    }
    Ok(out)
}

/// Which modules get entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Every bytecode module of every AVM.
    All,
    /// Those reachable from the start modules and `init` through atoms naming a module present.
    Closure,
}

/// The modules reachable from every AVM's start module and from `init`, following every atom of
/// a reached module (its atom table and the atoms inside its literals) that names a module present
/// (bytecode or native). Returns sorted names.
pub fn closure<'a>(avms: &[AvmInFlash<'a>]) -> Result<Vec<&'a [u8]>, AllocError> {
    // Every BEAM section by name (sorted, for binary search; every section of a reached name is
    // reached, so the order among equal names does not matter).
    let count = avms.iter().map(|a| a.pack.modules().count()).sum();
    let mut present: Vec<(&'a [u8], &'a [u8])> = mem::try_with_capacity(count, "module selection")?;
    present.extend(
        avms.iter()
            .flat_map(|a| a.pack.modules())
            .map(|s| (module_name(s), s.data))
            .take(count),
    );
    present.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut reached: Vec<bool> = Vec::new();
    mem::try_resize(&mut reached, present.len(), false, "module selection")?;
    // Each section is queued at most once.
    let mut work: Vec<usize> = mem::try_with_capacity(present.len(), "module selection")?;
    let reach = |name: &[u8], reached: &mut Vec<bool>, work: &mut Vec<usize>| {
        let Ok(mut i) = present.binary_search_by(|p| p.0.cmp(name)) else {
            return;
        };
        // Every section of that name.
        while i > 0 && present[i - 1].0 == name {
            i -= 1;
        }
        while i < present.len() && present[i].0 == name {
            if !reached[i] {
                reached[i] = true;
                work.push(i);
            }
            i += 1;
        }
    };
    for a in avms {
        if let Some(s) = a.pack.start_module() {
            reach(module_name(s), &mut reached, &mut work);
        }
    }
    reach(b"init", &mut reached, &mut work);
    while let Some(i) = work.pop() {
        let Ok(module) = Module::parse(present[i].1) else {
            continue;
        };
        let Ok(atoms) = module.atoms() else {
            continue;
        };
        for atom in atoms.iter() {
            reach(atom, &mut reached, &mut work);
        }
        // Atoms inside literals (`[gen_server, supervisor]`) are not in the atom table.
        let Ok(literals) = module.literals() else {
            continue;
        };
        for index in 0..literals.len() {
            let term = match literals.get(index).map(|b| crate::beam::etf::decode(b, 0)) {
                Some(Ok(term)) => term,
                Some(Err(e)) => match e.kind {
                    crate::ErrorKind::OutOfMemory { what, bytes } => {
                        return Err(AllocError { what, bytes })
                    }
                    _ => continue,
                },
                None => continue,
            };
            let mut stack: Vec<&Term<'_>> = Vec::new();
            mem::try_push(&mut stack, &term, "module selection")?;
            while let Some(t) = stack.pop() {
                match t {
                    Term::Atom(name) => reach(name, &mut reached, &mut work),
                    Term::List(items) | Term::Tuple(items) => {
                        mem::try_reserve(&mut stack, items.len(), "module selection")?;
                        stack.extend(items.iter());
                    }
                    _ => {}
                }
            }
        }
    }
    let kept = reached.iter().filter(|&&r| r).count();
    let mut names: Vec<&'a [u8]> = mem::try_with_capacity(kept, "module selection")?;
    names.extend(
        present
            .iter()
            .zip(&reached)
            .filter(|(_, r)| **r)
            .map(|(p, _)| p.0),
    );
    names.dedup();
    Ok(names)
}

/// The modules that get entries under `selection`, in cache order. Out of memory is an error
/// (the device runs this too).
pub fn select<'a>(
    avms: &[AvmInFlash<'a>],
    selection: Selection,
) -> Result<Vec<Candidate<'a>>, AllocError> {
    let mut all = candidates(avms)?;
    if selection == Selection::Closure {
        let keep = closure(avms)?;
        all.retain(|c| keep.binary_search(&c.name).is_ok());
    }
    Ok(all)
}

/// Where the first entry goes: the first sector at or after the highest end section of `avms`.
pub fn cache_start(avms: &[AvmInFlash<'_>]) -> Option<u32> {
    avms.iter()
        .map(|a| a.end_data())
        .max()
        .map(cache::first_entry_address)
}

/// Compile `module` into `sink`, which must be empty: the code of its cache entry. Returns the sink
/// and the label count for the entry header.
pub fn compile_entry<S: CodeSink>(
    module: &Module<'_>,
    target: CodeTarget,
    sink: S,
) -> Result<(S, u32), ModuleError> {
    let env = BeamEnv::new(module)?;
    compile_into(module, &env, target, sink)
}

/// Why prefilling stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefillErrorKind {
    /// The module could not be compiled (boxed, fallibly: a `Result` carrying the error stays
    /// small).
    Compile(alloc::boxed::Box<[ModuleError; 1]>),
    /// Writing its entry failed (e.g. the region is full).
    Sink(SinkError),
    Flash(FlashError),
    /// The entry would run past the end of the cache region.
    RegionFull {
        needed_end: u32,
        region_end: u32,
    },
    /// No AVM given: there is no place for a cache.
    NoAvm,
    /// Choosing the modules (or recording an error) ran out of memory.
    OutOfMemory(AllocError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefillError {
    /// The module being written, when there was one.
    pub module: Option<alloc::string::String>,
    pub kind: PrefillErrorKind,
}

impl fmt::Display for PrefillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(m) = &self.module {
            write!(f, "module {m}: ")?;
        }
        match &self.kind {
            PrefillErrorKind::Compile(e) => write!(f, "{}", e[0]),
            PrefillErrorKind::Sink(e) => write!(f, "cannot write its cache entry: {e}"),
            PrefillErrorKind::Flash(e) => write!(f, "{e}"),
            PrefillErrorKind::RegionFull {
                needed_end,
                region_end,
            } => write!(
                f,
                "the cache region ends at {region_end:#010x}; the entries need up to {needed_end:#010x}"
            ),
            PrefillErrorKind::NoAvm => f.write_str("no AVM in flash: no place for a JIT cache"),
            PrefillErrorKind::OutOfMemory(e) => write!(f, "{e}"),
        }
    }
}

/// The error, naming the module when there is one (and room for its name on the heap).
fn err(c: Option<&Candidate<'_>>, kind: PrefillErrorKind) -> PrefillError {
    PrefillError {
        module: c.and_then(|c| mem::try_lossy_string(c.name, "error names").ok()),
        kind,
    }
}

/// A compile error as a [`PrefillErrorKind`]: boxed, or out of memory when even that fails.
fn compile_error(e: ModuleError) -> PrefillErrorKind {
    let boxed = mem::try_with_capacity(1, "error").map(|mut one| {
        one.push(e);
        one.into_boxed_slice().try_into()
    });
    match boxed {
        Ok(Ok(boxed)) => PrefillErrorKind::Compile(boxed),
        Ok(Err(_)) | Err(_) => PrefillErrorKind::OutOfMemory(AllocError {
            what: "error",
            bytes: core::mem::size_of::<ModuleError>(),
        }),
    }
}

/// Write one entry at `at` (4-byte aligned, blank or erasable) and return it; the next entry goes
/// at [`super::cache::next_entry_address`].
pub fn write_entry<F: NorFlash + ?Sized>(
    flash: &mut F,
    at: u32,
    module: &Candidate<'_>,
    target: CodeTarget,
) -> Result<CacheEntry, PrefillError> {
    let sink = FlashSink::new(flash, at).map_err(|e| {
        let kind = match e {
            StartError::Flash(e) => PrefillErrorKind::Flash(e),
            StartError::OutOfMemory(e) => PrefillErrorKind::OutOfMemory(e),
        };
        err(Some(module), kind)
    })?;
    let (sink, labels) = compile_entry(&module.module, target, sink)
        .map_err(|e| err(Some(module), compile_error(e)))?;
    let size = sink.offset() as u32;
    sink.finish(CACHE_VERSION, module.code_address, labels)
        .map_err(|e| err(Some(module), PrefillErrorKind::Sink(e)))?;
    Ok(CacheEntry {
        address: at,
        header: cache::EntryHeader::new(CACHE_VERSION, module.code_address, labels, size),
    })
}

/// Program `END` over the end section's name of every AVM (each already `END` is left alone).
pub fn mark_all_valid<F: NorFlash + ?Sized>(
    flash: &mut F,
    avms: &[AvmInFlash<'_>],
) -> Result<(), FlashError> {
    for a in avms {
        cache::mark_valid(flash, a.end_name_address())?;
    }
    Ok(())
}

/// Write the entries of `modules` one after the other from `region.start`, clear what follows the
/// last one in its sector (leftovers of an older cache), then mark every AVM's end section `END`. `on_entry` sees each entry once it is complete. Returns the address after
/// the last entry (where AtomVM would append).
pub fn write_cache<F: NorFlash + ?Sized>(
    flash: &mut F,
    avms: &[AvmInFlash<'_>],
    modules: &[Candidate<'_>],
    region: Range<u32>,
    target: CodeTarget,
    mut on_entry: impl FnMut(&Candidate<'_>, &CacheEntry),
) -> Result<u32, PrefillError> {
    let mut at = region.start;
    for m in modules {
        let entry = write_entry(flash, at, m, target)?;
        let end = entry.code_address() + entry.header.size;
        if end > region.end {
            return Err(err(
                Some(m),
                PrefillErrorKind::RegionFull {
                    needed_end: end,
                    region_end: region.end,
                },
            ));
        }
        on_entry(m, &entry);
        at = cache::next_entry_address(at, entry.header.size).ok_or(err(
            Some(m),
            PrefillErrorKind::RegionFull {
                needed_end: u32::MAX,
                region_end: region.end,
            },
        ))?;
    }
    // Whatever followed in flash (an older cache) must not be walked as entries after ours.
    if at
        .checked_add(cache::ENTRY_HEADER_LEN)
        .is_some_and(|h| h <= region.end)
    {
        cache::prepare_entry(flash, at).map_err(|e| err(None, PrefillErrorKind::Flash(e)))?;
    }
    mark_all_valid(flash, avms).map_err(|e| err(None, PrefillErrorKind::Flash(e)))?;
    Ok(at)
}

/// The whole prefill as the device loader runs it: the modules of `selection`, written from the
/// cache start of `avms` to the end of `flash`, then every AVM marked valid. Returns the address
/// after the last entry.
pub fn prefill_flash<F: NorFlash + ?Sized>(
    flash: &mut F,
    avms: &[AvmInFlash<'_>],
    selection: Selection,
    target: CodeTarget,
    on_entry: impl FnMut(&Candidate<'_>, &CacheEntry),
) -> Result<u32, PrefillError> {
    let start = cache_start(avms).ok_or(err(None, PrefillErrorKind::NoAvm))?;
    let modules =
        select(avms, selection).map_err(|e| err(None, PrefillErrorKind::OutOfMemory(e)))?;
    let end = flash.end();
    write_cache(flash, avms, &modules, start..end, target, on_entry)
}

/// The host's path from a prefilled flash model to what a destination must be told.
///
/// `base` is the plan that writes the raw AVMs and erases the cache region; `model` is flash on
/// which `base` was applied and then [`write_cache`] ran, up to `cache_end`. Returns two plans to
/// run one after the other: the first writes the AVMs (still `end`), the entries and erases the
/// rest of the region; the second programs `END` over each end name. A destination that cannot
/// order its writes (UF2) concatenates them.
pub fn cache_plan<'a>(
    base: &Plan<'a>,
    model: &'a MemFlash,
    cache_end: u32,
    avms: &[AvmInFlash<'_>],
) -> Option<(Plan<'a>, Plan<'a>)> {
    let used_end = align_up(cache_end, SECTOR_SIZE)?.max(base.cache.start);
    let mut steps: Vec<Step<'a>> = Vec::new();
    for s in &base.steps {
        match *s {
            Step::Erase { start, end } if start < base.cache.end && base.cache.start < end => {
                // The cache region: the entries, then blank to its end.
                if base.cache.start > start {
                    steps.push(Step::Erase {
                        start,
                        end: base.cache.start,
                    });
                }
                let data = model.slice(base.cache.start, (used_end - base.cache.start) as usize)?;
                steps.push(Step::Program {
                    address: base.cache.start,
                    data,
                });
                if used_end < end {
                    steps.push(Step::Erase {
                        start: used_end,
                        end,
                    });
                }
            }
            other => steps.push(other),
        }
    }
    steps.retain(|s| !s.range().is_empty());
    let mut marks = Vec::new();
    for a in avms {
        marks.push(Step::Program {
            address: a.end_name_address(),
            data: b"END",
        });
    }
    let first = Plan {
        steps,
        ..base.clone()
    };
    let second = Plan {
        steps: marks,
        ..base.clone()
    };
    Some((first, second))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avm::PackBuilder;

    #[test]
    fn end_name_and_cache_start_follow_the_pack() {
        let mut b = PackBuilder::new();
        b.file("x.txt", &[1, 2, 3]).unwrap();
        let bytes = b.finish();
        let pack = Pack::parse(&bytes).unwrap();
        let avm = AvmInFlash {
            address: 0x1018_0000,
            pack,
        };
        let name = (avm.end_name_address() - 0x1018_0000) as usize;
        assert_eq!(&bytes[name..name + 3], b"end");
        assert_eq!(cache_start(&[avm]), Some(0x1018_1000));
    }

    #[test]
    fn a_sink_error_prints_as_its_message() {
        let e = PrefillError {
            module: Some("lists".into()),
            kind: PrefillErrorKind::Sink(SinkError::Full { offset: 0x40 }),
        };
        assert_eq!(
            alloc::string::ToString::to_string(&e),
            "module lists: cannot write its cache entry: code output full at offset 0x40"
        );
    }
}

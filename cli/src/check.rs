//! One set of checks for every command: what `info` calls damaged, `compile`, `pack` and `flash`
//! refuse too, and what AtomVM would misread is refused with a message.

use std::collections::HashMap;

use anyhow::{bail, Result};
use avm_jit_core::avm::{Pack, Section};
use avm_jit_core::beam::{Atoms, Imports, Module, TableCounts, Types};
use avm_jit_core::flash::plan::Layout;
use avm_jit_core::native::Native;
use avm_jit_core::{Error, ErrorKind};

/// Every table of a module except the `Code` instructions and the literals (the compiler reads
/// those itself): imports, exports, locals, funs, types, lines, and an `avmN` chunk if present.
pub fn beam_tables(module: &Module<'_>) -> Result<(), Error> {
    beam_tables_read(module).map(|_| ())
}

/// The tables [`beam_tables`] reads that the compiler reads too, kept so that a module compiled
/// right after its check is not read twice.
pub struct Tables<'a> {
    /// The atom table, or why it cannot be read (an error of the module's compile, not of the
    /// check, when no checked table needed it: as when it is read by the compiler alone).
    pub atoms: Result<Atoms<'a>, Error>,
    pub imports: Imports<'a>,
    pub types: Types<'a>,
}

/// [`beam_tables`], keeping what it read.
pub fn beam_tables_read<'a>(module: &Module<'a>) -> Result<Tables<'a>, Error> {
    // The atom table is read once for all of them (and for the compiler). A table's own errors
    // come before those of the atom table: when it cannot be read, each table that needs its
    // count reads it when it comes to it, and fails there.
    let atoms = module.atoms();
    let counts = match &atoms {
        Ok(atoms) => TableCounts::with_atoms(module, atoms),
        Err(_) => TableCounts::new(module),
    };
    let imports = module.imports_counted(&counts)?;
    module.exports_counted(&counts)?;
    module.locals_counted(&counts)?;
    module.funs_counted(&counts)?;
    let types = module.types()?;
    module.lines()?;
    if let Some(c) = module.chunk(*b"avmN") {
        native(c.data).map_err(|e| e.rebase(c.offset))?;
    }
    Ok(Tables {
        atoms,
        imports,
        types,
    })
}

/// Everything AtomVM reads of a module: the tables, the literals and every instruction.
pub fn beam(bytes: &[u8]) -> Result<(), Error> {
    let module = Module::parse(bytes)?;
    module.atoms()?;
    beam_tables(&module)?;
    module.literals()?;
    if module.chunk(*b"Code").is_some() {
        for insn in module.code()?.instructions() {
            insn?;
        }
    }
    Ok(())
}

/// An `avmN` payload: its header and, for the entries of an architecture avm-jit reads (armv6m,
/// riscv32: see `CodeTarget::from_arch_variant`), the jump table, labels and lines tables (whose
/// 16-bit counts must hold the module's labels).
pub fn native(payload: &[u8]) -> Result<(), Error> {
    let native = Native::parse(payload)?;
    // The label count is the payload's second word.
    labels_fit(&native).map_err(|kind| Error::new(kind, 4))?;
    native_layouts(&native)
}

/// The module's labels fit the 16-bit counts of the `avmN` tables.
pub fn labels_fit(native: &Native<'_>) -> Result<(), ErrorKind> {
    if native.labels_count > u32::from(u16::MAX) {
        return Err(ErrorKind::LimitExceeded {
            what: "label count (the avmN labels table counts in 16 bits)",
            value: native.labels_count.into(),
            limit: u16::MAX.into(),
        });
    }
    Ok(())
}

/// The tables of the payload's entries of an architecture avm-jit reads (armv6m, riscv32: see
/// `CodeTarget::from_arch_variant`).
pub fn native_layouts(native: &Native<'_>) -> Result<(), Error> {
    for arch in native.arches() {
        if let Some(target) = arch.target() {
            target.code_layout(native, &arch)?;
        }
    }
    Ok(())
}

/// An AVM whose sections AtomVM would read unambiguously: no two sections of the same name (it
/// finds the first one only), every BEAM section readable. With `whole`, each module is checked as
/// by [`beam`]; otherwise only its tables are (the compiler checks the rest).
pub fn avm(pack: &Pack<'_>, whole: bool) -> Result<(), Error> {
    if !whole {
        return avm_read(pack).map(|_| ());
    }
    let mut seen: HashMap<&[u8], usize> = HashMap::with_capacity(pack.sections().len());
    for s in pack.sections() {
        unique(&mut seen, s)?;
        if s.is_beam() {
            beam(s.data).map_err(|e| e.rebase(s.data_offset))?;
        }
    }
    Ok(())
}

/// [`avm`] without `whole`, keeping each BEAM section's parsed module and the tables read (by
/// section, `None` for the others) for the compiler.
pub fn avm_read<'a>(pack: &Pack<'a>) -> Result<Vec<Option<(Module<'a>, Tables<'a>)>>, Error> {
    let mut seen: HashMap<&[u8], usize> = HashMap::with_capacity(pack.sections().len());
    let mut read = Vec::with_capacity(pack.sections().len());
    for s in pack.sections() {
        unique(&mut seen, s)?;
        read.push(if s.is_beam() {
            let module = Module::parse(s.data).map_err(|e| e.rebase(s.data_offset))?;
            let tables = beam_tables_read(&module).map_err(|e| e.rebase(s.data_offset))?;
            Some((module, tables))
        } else {
            None
        });
    }
    Ok(read)
}

/// The first section of its name (AtomVM would only see the first).
fn unique<'a>(seen: &mut HashMap<&'a [u8], usize>, s: &Section<'a>) -> Result<(), Error> {
    if seen.insert(s.name, s.offset).is_some() {
        return Err(Error::invalid(
            s.offset,
            "AVM: a second section of the same name (AtomVM would only see the first)",
            0,
        ));
    }
    Ok(())
}

/// `--flash-size` (already within the chip's window, see `Chip::layout`) and `--address`
/// describe a flash a Pico can have, and an address inside it.
pub fn flash_args(layout: &Layout, address: u32) -> Result<()> {
    let base = layout.flash_base;
    let flash_size = layout.flash_size;
    let main_offset = layout.main_address - base;
    if !flash_size.is_multiple_of(4096) || flash_size <= main_offset {
        bail!(
            "--flash-size {flash_size:#x}: must be a multiple of 4 KiB and above {main_offset:#x} (where main.avm begins)"
        );
    }
    // `Chip::layout` keeps the flash inside the 16 MiB window, so this cannot wrap.
    let end = base + flash_size;
    if !(base..end).contains(&address) {
        bail!("--address {address:#010x}: outside the flash ({base:#010x}..{end:#010x} for --flash-size {flash_size:#x})");
    }
    Ok(())
}

//! Fixed-size record tables: `ImpT`, `ExpT`/`LocT` and `FunT`.
//!
//! Each is a u32 BE count followed by that many records of u32 BE fields; the chunk must hold
//! exactly that many. Records are read on demand (O(1) by index, no allocation).

use super::compact::Cursor;
use crate::error::{Error, Result};

/// A table of `count` records of `FIELDS` u32 fields each.
#[derive(Clone, Copy, Debug)]
struct RecordTable<'a, const FIELDS: usize> {
    records: &'a [u8],
    /// File offset of `records[0]`.
    offset: usize,
}

impl<'a, const FIELDS: usize> RecordTable<'a, FIELDS> {
    const RECORD: usize = 4 * FIELDS;

    fn parse(data: &'a [u8], offset: usize, what: &'static str) -> Result<Self> {
        let mut c = Cursor::new(data, offset);
        let count = c.len_u32()?;
        let expected = count.checked_mul(Self::RECORD);
        if expected != Some(c.len()) {
            return Err(Error::invalid(offset, what, count as u64));
        }
        Ok(RecordTable {
            records: c.remaining(),
            offset: offset + 4,
        })
    }

    fn empty() -> Self {
        RecordTable {
            records: &[],
            offset: 0,
        }
    }

    fn len(&self) -> usize {
        self.records.len() / Self::RECORD
    }

    fn get(&self, index: usize) -> Option<[u32; FIELDS]> {
        let start = index.checked_mul(Self::RECORD)?;
        let rec = self.records.get(start..start.checked_add(Self::RECORD)?)?;
        let mut out = [0u32; FIELDS];
        for (field, bytes) in out.iter_mut().zip(rec.chunks_exact(4)) {
            *field = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        Some(out)
    }

    fn record_offset(&self, index: usize) -> usize {
        self.offset + index * Self::RECORD
    }
}

fn check_atom(index: u32, atom_count: usize, at: usize, what: &'static str) -> Result<()> {
    if index == 0 || index as usize > atom_count {
        return Err(Error::invalid(at, what, u64::from(index)));
    }
    Ok(())
}

fn check_label(label: u32, label_count: u32, at: usize) -> Result<()> {
    // Label 0 is never defined; valid labels are 1..label_count.
    if label == 0 || label >= label_count {
        return Err(Error::invalid(at, "label", u64::from(label)));
    }
    Ok(())
}

/// `{Module, Function, Arity}` (atom indexes are 1-based).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Import {
    pub module: u32,
    pub function: u32,
    pub arity: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct Imports<'a> {
    table: RecordTable<'a, 3>,
}

impl<'a> Imports<'a> {
    pub fn parse(data: &'a [u8], offset: usize) -> Result<Imports<'a>> {
        Ok(Imports {
            table: RecordTable::parse(data, offset, "ImpT count")?,
        })
    }
    pub fn len(&self) -> usize {
        self.table.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Import `index` (0-based, as in `call_ext` operands).
    pub fn get(&self, index: usize) -> Option<Import> {
        let [module, function, arity] = self.table.get(index)?;
        Some(Import {
            module,
            function,
            arity,
        })
    }
    pub fn iter(&self) -> impl Iterator<Item = Import> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
    /// Checks that every atom index is within `1..=atom_count`.
    pub fn check_atoms(&self, atom_count: usize) -> Result<()> {
        for (i, imp) in self.iter().enumerate() {
            let at = self.table.record_offset(i);
            check_atom(imp.module, atom_count, at, "import module atom")?;
            check_atom(imp.function, atom_count, at + 4, "import function atom")?;
        }
        Ok(())
    }
}

/// An `ExpT` or `LocT` record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Export {
    pub function: u32,
    pub arity: u32,
    pub label: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct Exports<'a> {
    table: RecordTable<'a, 3>,
}

impl<'a> Exports<'a> {
    pub fn parse(data: &'a [u8], offset: usize) -> Result<Exports<'a>> {
        Ok(Exports {
            table: RecordTable::parse(data, offset, "function table count")?,
        })
    }
    pub fn empty() -> Exports<'a> {
        Exports {
            table: RecordTable::empty(),
        }
    }
    pub fn len(&self) -> usize {
        self.table.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, index: usize) -> Option<Export> {
        let [function, arity, label] = self.table.get(index)?;
        Some(Export {
            function,
            arity,
            label,
        })
    }
    pub fn iter(&self) -> impl Iterator<Item = Export> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
    /// Checks atom indexes against the atom table and labels against the `Code` label count.
    pub fn check(&self, atom_count: usize, label_count: u32) -> Result<()> {
        for (i, e) in self.iter().enumerate() {
            let at = self.table.record_offset(i);
            check_atom(e.function, atom_count, at, "function atom")?;
            check_label(e.label, label_count, at + 8)?;
        }
        Ok(())
    }
}

/// A `FunT` record: the lambda's function atom, arity (free variables included), entry label,
/// index, number of free variables and old unique value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fun {
    pub function: u32,
    pub arity: u32,
    pub label: u32,
    pub index: u32,
    pub num_free: u32,
    pub old_uniq: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct Funs<'a> {
    table: RecordTable<'a, 6>,
}

impl<'a> Funs<'a> {
    pub fn parse(data: &'a [u8], offset: usize) -> Result<Funs<'a>> {
        Ok(Funs {
            table: RecordTable::parse(data, offset, "FunT count")?,
        })
    }
    pub fn empty() -> Funs<'a> {
        Funs {
            table: RecordTable::empty(),
        }
    }
    pub fn len(&self) -> usize {
        self.table.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, index: usize) -> Option<Fun> {
        let [function, arity, label, index, num_free, old_uniq] = self.table.get(index)?;
        Some(Fun {
            function,
            arity,
            label,
            index,
            num_free,
            old_uniq,
        })
    }
    pub fn iter(&self) -> impl Iterator<Item = Fun> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
    pub fn check(&self, atom_count: usize, label_count: u32) -> Result<()> {
        for (i, f) in self.iter().enumerate() {
            let at = self.table.record_offset(i);
            check_atom(f.function, atom_count, at, "fun function atom")?;
            check_label(f.label, label_count, at + 8)?;
            if f.num_free > f.arity {
                return Err(Error::invalid(
                    at + 16,
                    "fun free variable count",
                    u64::from(f.num_free),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports() {
        let data = [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1];
        let imp = Imports::parse(&data, 100).unwrap();
        assert_eq!(imp.len(), 1);
        assert_eq!(
            imp.get(0),
            Some(Import {
                module: 2,
                function: 3,
                arity: 1
            })
        );
        assert_eq!(imp.get(1), None);
        assert!(imp.check_atoms(3).is_ok());
        assert_eq!(imp.check_atoms(2).unwrap_err().offset, Some(108));
        assert!(Imports::parse(&data[..15], 0).is_err());
        assert!(Imports::parse(&[0xFF, 0xFF, 0xFF, 0xFF], 0).is_err());
    }

    #[test]
    fn exports_and_funs() {
        let data = [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 5];
        let ex = Exports::parse(&data, 0).unwrap();
        assert_eq!(
            ex.get(0),
            Some(Export {
                function: 2,
                arity: 0,
                label: 5
            })
        );
        assert!(ex.check(2, 6).is_ok());
        assert_eq!(ex.check(2, 5).unwrap_err().offset, Some(12));
        let mut f = [0u8; 28];
        f[3] = 1;
        f[7] = 1; // function atom 1
        f[11] = 2; // arity 2
        f[15] = 3; // label 3
        f[23] = 3; // 3 free > arity 2
        let funs = Funs::parse(&f, 0).unwrap();
        assert_eq!(funs.get(0).unwrap().label, 3);
        assert!(funs.check(1, 4).is_err());
        f[23] = 2;
        assert!(Funs::parse(&f, 0).unwrap().check(1, 4).is_ok());
    }
}

//! The lines table: a (line ref, code offset) pair per `line` instruction, in the order met.
//!
//! The reference lists them newest first and sorts the list stably by offset. Code only grows,
//! so the pairs come in offset order and the table is that order with each run of equal
//! offsets reversed: it is produced from the pairs as they are, with no sorted copy (unless
//! they somehow came out of order, then a sorted copy is made).

use alloc::vec::Vec;

use super::backend::SortedLines;
use super::block_vec::BlockVec;
use crate::mem::{self, AllocError};

#[derive(Default)]
pub(crate) struct LineTable {
    entries: BlockVec<(u32, u32)>,
    /// The last offset pushed.
    last_offset: u32,
    /// Whether the offsets are out of order.
    out_of_order: bool,
}

impl LineTable {
    pub(crate) fn push(&mut self, line: u32, offset: u32) -> Result<(), AllocError> {
        self.out_of_order |= offset < self.last_offset;
        self.last_offset = offset;
        self.entries.try_push((line, offset), "line table")
    }

    /// Whether [`SortedLines`] applies as is (else see [`Self::sorted_copy`]).
    pub(crate) fn in_order(&self) -> bool {
        !self.out_of_order
    }

    /// The table sorted, as a new vector.
    pub(crate) fn sorted_copy(&self) -> Result<Vec<(u32, u32)>, AllocError> {
        let mut sorted = mem::try_with_capacity(self.entries.len(), "sorted table")?;
        sorted.extend(self.entries.iter());
        super::sort_by_offset_newest_first(&mut sorted)?;
        Ok(sorted)
    }
}

/// The table of pairs in offset order ([`LineTable::in_order`]): each run of equal offsets
/// newest first.
impl SortedLines for LineTable {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn for_each_entry(&self, f: &mut dyn FnMut(u32, u32)) {
        let mut entries = self.entries.iter().enumerate().peekable();
        while let Some((start, (line, off))) = entries.next() {
            let same = |next: &(usize, (u32, u32))| next.1 .1 == off;
            if !entries.peek().is_some_and(same) {
                // A run of one (the usual case).
                f(line, off);
                continue;
            }
            let mut end = start + 1;
            while entries.next_if(same).is_some() {
                end += 1;
            }
            for i in (start..end).rev() {
                if let Some((line, off)) = self.entries.get(i) {
                    f(line, off);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(t: &dyn SortedLines) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        t.for_each_entry(&mut |l, o| out.push((l, o)));
        assert_eq!(out.len(), t.len());
        out
    }

    #[test]
    fn in_order_pairs_give_the_stable_sort_of_the_newest_first_list() {
        let pairs: Vec<(u32, u32)> = (0..700u32).map(|i| (i, i / 3 * 4)).collect();
        let mut lines = LineTable::default();
        for &(l, o) in &pairs {
            lines.push(l, o).unwrap();
        }
        assert!(lines.in_order());
        let mut expected = pairs.clone();
        crate::compile::sort_by_offset_newest_first(&mut expected).unwrap();
        assert_eq!(expected[..4], [(2, 0), (1, 0), (0, 0), (5, 4)]);
        assert_eq!(table(&lines), expected);
        assert_eq!(table(&lines.sorted_copy().unwrap()), expected);
        // Out of order: only the sorted copy is the table.
        lines.push(9, 0).unwrap();
        assert!(!lines.in_order());
        let mut expected = pairs;
        expected.push((9, 0));
        crate::compile::sort_by_offset_newest_first(&mut expected).unwrap();
        assert_eq!(lines.sorted_copy().unwrap(), expected);
    }
}

//! Forward branches waiting for their label, chained per label.
//!
//! Placing a label must find its waiting branches without scanning every pending branch (that
//! made compilation quadratic in the number of labels). Each label owns a chain through a slot
//! vector, newest first (one word per label); placing the label reverses the chain in place so
//! branches are patched oldest first. Patched slots go to a free list, so the slot vector is as
//! long as the most branches ever pending at once, not the number of branches in the module;
//! it grows by blocks, without moving the slots already there.

use alloc::vec::Vec;

use crate::compile::backend::Label;
use crate::mem::{self, AllocError};

/// End of a chain / no slot.
const NIL: u32 = u32::MAX;

/// A waiting branch: where its placeholder is and how to patch it (`U`: the ISA's label use).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Waiting<U> {
    pub(crate) offset: usize,
    pub(crate) kind: U,
}

/// 12 bytes for a label use of up to 4 bytes: a module can have thousands of branches waiting
/// for one label at the end of a long function.
#[derive(Clone, Copy)]
struct Slot<U> {
    offset: u32,
    /// Next slot of the same chain (or of the free list).
    next: u32,
    kind: U,
}

/// Slots per block of [`Slots`].
const BLOCK: usize = 128;

/// The slot vector, in blocks of [`BLOCK`] slots: growing it never moves (reallocates) the
/// slots already there, so growth does not hold the old and the new copy at once (with 8,192
/// branches pending, a doubling `Vec` peaked at 144 KiB for 96 KiB of slots).
struct Slots<U> {
    blocks: Vec<Vec<Slot<U>>>,
    len: usize,
}

impl<U: Copy> Slots<U> {
    #[inline]
    fn get(&self, i: u32) -> Slot<U> {
        let i = i as usize;
        self.blocks[i / BLOCK][i % BLOCK]
    }

    #[inline]
    fn get_mut(&mut self, i: u32) -> &mut Slot<U> {
        let i = i as usize;
        &mut self.blocks[i / BLOCK][i % BLOCK]
    }

    /// Make room for one more slot.
    fn reserve_one(&mut self) -> Result<(), AllocError> {
        if self.len == self.blocks.len() * BLOCK {
            let block = mem::try_with_capacity(BLOCK, "pending branches")?;
            mem::try_push(&mut self.blocks, block, "pending branch blocks")?;
        }
        Ok(())
    }

    /// Append a slot (after [`Self::reserve_one`]); returns its index.
    fn push(&mut self, slot: Slot<U>) -> u32 {
        let i = self.len;
        self.blocks[i / BLOCK].push(slot);
        self.len += 1;
        i as u32
    }
}

/// The pending branches of a module, by label.
pub(crate) struct PendingBranches<U> {
    slots: Slots<U>,
    /// Head of the free slot list.
    free: Option<u32>,
    /// Newest waiting slot of each numeric label, indexed by label number.
    numeric: Vec<u32>,
    /// Newest waiting slot of each local label, indexed by local label number.
    local: Vec<u32>,
    len: usize,
}

impl<U> Default for PendingBranches<U> {
    fn default() -> Self {
        PendingBranches {
            slots: Slots {
                blocks: Vec::new(),
                len: 0,
            },
            free: None,
            numeric: Vec::new(),
            local: Vec::new(),
            len: 0,
        }
    }
}

/// Branches detached from their label, oldest first; drained with [`PendingBranches::next`].
pub(crate) struct Detached(u32);

impl<U: Copy> PendingBranches<U> {
    /// Make room for numeric labels 0..=`max_label` up front (the jump table size).
    #[inline]
    pub(crate) fn reserve_labels(&mut self, max_label: u32) -> Result<(), AllocError> {
        let want = max_label as usize + 1;
        if self.numeric.len() < want {
            mem::try_resize(&mut self.numeric, want, NIL, "pending branch chains")?;
        }
        Ok(())
    }

    /// Number of branches still waiting.
    #[cfg(test)]
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queue `branch` for `label`. The caller bounds `label` (heads are allocated up to it).
    #[inline]
    pub(crate) fn push(&mut self, label: Label, branch: Waiting<U>) -> Result<(), AllocError> {
        let (heads, n) = match label {
            Label::Num(n) => (&mut self.numeric, n as usize),
            Label::Local(n) => (&mut self.local, n as usize),
        };
        if heads.len() <= n {
            // Amortised: local labels are numbered densely as they are made.
            mem::try_reserve(heads, n + 1 - heads.len(), "pending branch chains")?;
            heads.resize(n + 1, NIL);
        }
        if self.free.is_none() {
            self.slots.reserve_one()?;
        }
        let slot = Slot {
            offset: branch.offset as u32,
            next: heads[n],
            kind: branch.kind,
        };
        let index = match self.free {
            Some(i) => {
                let next_free = self.slots.get(i).next;
                self.free = (next_free != NIL).then_some(next_free);
                *self.slots.get_mut(i) = slot;
                i
            }
            None => self.slots.push(slot),
        };
        heads[n] = index;
        self.len += 1;
        Ok(())
    }

    /// Take every branch waiting for `label`, to be drained oldest first.
    #[inline]
    pub(crate) fn detach(&mut self, label: Label) -> Detached {
        let head = match label {
            Label::Num(n) => self.numeric.get_mut(n as usize),
            Label::Local(n) => self.local.get_mut(n as usize),
        };
        let Some(head) = head else {
            return Detached(NIL);
        };
        // Reverse the newest-first chain in place.
        let mut rest = core::mem::replace(head, NIL);
        let mut reversed = NIL;
        while rest != NIL {
            let next = self.slots.get(rest).next;
            self.slots.get_mut(rest).next = reversed;
            reversed = rest;
            rest = next;
        }
        Detached(reversed)
    }

    /// The next detached branch; its slot is freed.
    #[inline]
    pub(crate) fn next(&mut self, detached: &mut Detached) -> Option<Waiting<U>> {
        let index = detached.0;
        if index == NIL {
            return None;
        }
        let slot = self.slots.get(index);
        detached.0 = slot.next;
        self.slots.get_mut(index).next = self.free.unwrap_or(NIL);
        self.free = Some(index);
        self.len -= 1;
        Some(Waiting {
            offset: slot.offset as usize,
            kind: slot.kind,
        })
    }

    /// Every label that may have waiting branches: numeric labels first, then local ones.
    pub(crate) fn labels(&self) -> impl Iterator<Item = Label> + use<U> {
        (0..self.numeric.len() as u32)
            .map(Label::Num)
            .chain((0..self.local.len() as u32).map(Label::Local))
    }

    /// Remove every waiting branch, by label (numeric labels first).
    #[cfg(test)]
    pub(crate) fn take_all(&mut self) -> Result<Vec<(Label, Waiting<U>)>, AllocError> {
        let mut all = mem::try_with_capacity(self.len, "pending branches")?;
        for label in self.labels() {
            let mut detached = self.detach(label);
            while let Some(w) = self.next(&mut detached) {
                all.push((label, w));
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in label use: the tests only look at offsets and order.
    type Use = u8;

    fn at(offset: usize) -> Waiting<Use> {
        Waiting { offset, kind: 4 }
    }

    fn drain(p: &mut PendingBranches<Use>, label: Label) -> Vec<Waiting<Use>> {
        let mut detached = p.detach(label);
        core::iter::from_fn(|| p.next(&mut detached)).collect()
    }

    #[test]
    fn branches_come_back_per_label_oldest_first() {
        let mut p = PendingBranches::<Use>::default();
        p.push(Label::Num(3), at(10)).unwrap();
        p.push(Label::Local(0), at(20)).unwrap();
        p.push(Label::Num(3), at(30)).unwrap();
        p.push(Label::Num(1), at(40)).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(drain(&mut p, Label::Num(3)), [at(10), at(30)]);
        assert_eq!(drain(&mut p, Label::Num(3)), []);
        assert_eq!(drain(&mut p, Label::Num(99)), []);
        p.push(Label::Num(0), at(50)).unwrap();
        assert_eq!(
            p.take_all().unwrap(),
            [
                (Label::Num(0), at(50)),
                (Label::Num(1), at(40)),
                (Label::Local(0), at(20))
            ]
        );
        assert_eq!(p.len(), 0);
        assert_eq!(drain(&mut p, Label::Num(1)), []);
    }

    #[test]
    fn slots_stay_small() {
        assert!(core::mem::size_of::<Slot<u32>>() <= 12);
    }

    #[test]
    fn patched_slots_are_reused() {
        let mut p = PendingBranches::<Use>::default();
        for round in 0..100 {
            let label = Label::Num(round % 7);
            let offset = round as usize;
            p.push(label, at(offset)).unwrap();
            p.push(label, at(offset + 1)).unwrap();
            p.push(label, at(offset + 2)).unwrap();
            assert_eq!(
                drain(&mut p, label),
                [at(offset), at(offset + 1), at(offset + 2)]
            );
        }
        assert_eq!(p.slots.len, 3);
    }

    #[test]
    fn many_pending_branches_span_blocks() {
        let mut p = PendingBranches::<Use>::default();
        for i in 0..1000 {
            p.push(Label::Num(i % 3), at(i as usize)).unwrap();
        }
        assert_eq!(p.slots.blocks.len(), 1000usize.div_ceil(BLOCK));
        let all = p.take_all().unwrap();
        assert_eq!(all.len(), 1000);
        let first: Vec<_> = all.iter().take(3).map(|(_, w)| w.offset).collect();
        assert_eq!(first, [0, 3, 6]);
    }
}

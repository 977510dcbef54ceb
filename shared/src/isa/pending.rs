//! Forward branches waiting for their label, chained per label.
//!
//! Placing a label must find its waiting branches without scanning every pending branch (that
//! made compilation quadratic in the number of labels). Each label owns a chain through a slot
//! vector, newest first; placing the label reverses the chain in place so branches are patched
//! oldest first. The heads of local labels' chains are kept here; a numeric label's head is
//! kept by the code buffer in the label's own word (see `isa::buffer`), which holds its offset
//! once it is placed, so numeric labels cost one word in all. Patched slots go to a free list, so the slot vector is as
//! long as the most branches ever pending at once, not the number of branches in the module;
//! it grows by blocks, without moving the slots already there.

use alloc::vec::Vec;

use crate::mem::{self, AllocError};

/// End of a chain / no slot.
pub(crate) const NIL: u32 = u32::MAX;

/// Slot indices stay below this, so that an index fits in 31 bits.
pub(crate) const MAX_SLOTS: u32 = (1 << 31) - 1;

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
        if self.len >= MAX_SLOTS as usize {
            return Err(AllocError {
                what: "pending branches",
                bytes: usize::MAX,
            });
        }
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
            local: Vec::new(),
            len: 0,
        }
    }
}

/// Branches detached from their label, oldest first; drained with [`PendingBranches::next`].
pub(crate) struct Detached(u32);

impl<U: Copy> PendingBranches<U> {
    /// Number of branches still waiting.
    #[cfg(test)]
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queue `branch` for local label `n`.
    #[inline]
    pub(crate) fn push_local(&mut self, n: u32, branch: Waiting<U>) -> Result<(), AllocError> {
        let n = n as usize;
        let len = self.local.len();
        if len <= n {
            // Amortised: local labels are numbered densely as they are made.
            mem::try_reserve(&mut self.local, n + 1 - len, "pending branch chains")?;
            self.local.resize(n + 1, NIL);
        }
        let head = self.local[n];
        self.local[n] = self.push_chain(head, branch)?;
        Ok(())
    }

    /// Queue `branch` on the chain whose newest slot is `head` (`NIL`: an empty chain); returns
    /// the chain's new head, below [`MAX_SLOTS`].
    #[inline(always)]
    pub(crate) fn push_chain(&mut self, head: u32, branch: Waiting<U>) -> Result<u32, AllocError> {
        if self.free.is_none() {
            self.slots.reserve_one()?;
        }
        let slot = Slot {
            offset: branch.offset as u32,
            next: head,
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
        self.len += 1;
        Ok(index)
    }

    /// Take every branch waiting for local label `n`, to be drained oldest first.
    #[inline]
    pub(crate) fn detach_local(&mut self, n: u32) -> Detached {
        match self.local.get_mut(n as usize) {
            Some(head) => {
                let head = core::mem::replace(head, NIL);
                self.detach_chain(head)
            }
            None => Detached(NIL),
        }
    }

    /// Take every branch of the chain whose newest slot is `head`, to be drained oldest first.
    #[inline]
    pub(crate) fn detach_chain(&mut self, head: u32) -> Detached {
        // Reverse the newest-first chain in place.
        let mut rest = head;
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

    /// Every local label that may have waiting branches.
    pub(crate) fn local_labels(&self) -> core::ops::Range<u32> {
        0..self.local.len() as u32
    }

    /// Remove every branch waiting for a local label, by label.
    #[cfg(test)]
    pub(crate) fn take_all(
        &mut self,
    ) -> Result<Vec<(crate::compile::backend::Label, Waiting<U>)>, AllocError> {
        let mut all = mem::try_with_capacity(self.len, "pending branches")?;
        for n in self.local_labels() {
            let mut detached = self.detach_local(n);
            while let Some(w) = self.next(&mut detached) {
                all.push((crate::compile::backend::Label::Local(n), w));
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

    fn drain(p: &mut PendingBranches<Use>, n: u32) -> Vec<Waiting<Use>> {
        let mut detached = p.detach_local(n);
        core::iter::from_fn(|| p.next(&mut detached)).collect()
    }

    use crate::compile::backend::Label;

    fn drain_chain(p: &mut PendingBranches<Use>, head: u32) -> Vec<Waiting<Use>> {
        let mut detached = p.detach_chain(head);
        core::iter::from_fn(|| p.next(&mut detached)).collect()
    }

    #[test]
    fn branches_come_back_per_label_oldest_first() {
        let mut p = PendingBranches::<Use>::default();
        p.push_local(3, at(10)).unwrap();
        let chain = p.push_chain(NIL, at(20)).unwrap();
        p.push_local(3, at(30)).unwrap();
        p.push_local(1, at(40)).unwrap();
        let chain = p.push_chain(chain, at(45)).unwrap();
        assert_eq!(p.len(), 5);
        assert_eq!(drain(&mut p, 3), [at(10), at(30)]);
        assert_eq!(drain(&mut p, 3), []);
        assert_eq!(drain(&mut p, 99), []);
        assert_eq!(drain_chain(&mut p, chain), [at(20), at(45)]);
        assert_eq!(drain_chain(&mut p, NIL), []);
        p.push_local(0, at(50)).unwrap();
        assert_eq!(
            p.take_all().unwrap(),
            [(Label::Local(0), at(50)), (Label::Local(1), at(40))]
        );
        assert_eq!(p.len(), 0);
        assert_eq!(drain(&mut p, 1), []);
    }

    #[test]
    fn slots_stay_small() {
        assert!(core::mem::size_of::<Slot<u32>>() <= 12);
    }

    #[test]
    fn patched_slots_are_reused() {
        let mut p = PendingBranches::<Use>::default();
        for round in 0..100 {
            let label = round % 7;
            let offset = round as usize;
            p.push_local(label, at(offset)).unwrap();
            p.push_local(label, at(offset + 1)).unwrap();
            p.push_local(label, at(offset + 2)).unwrap();
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
            p.push_local(i % 3, at(i as usize)).unwrap();
        }
        assert_eq!(p.slots.blocks.len(), 1000usize.div_ceil(BLOCK));
        let all = p.take_all().unwrap();
        assert_eq!(all.len(), 1000);
        let first: Vec<_> = all.iter().take(3).map(|(_, w)| w.offset).collect();
        assert_eq!(first, [0, 3, 6]);
    }
}

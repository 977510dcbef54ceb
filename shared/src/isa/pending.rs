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
//!
//! A branch is queued as the buffer packs it into a word ([`Use::Packed`]: its kind in a byte
//! and its offset from the module base), an 8-byte slot; any other ([`Use::Wide`]) takes two.

use alloc::vec::Vec;

use crate::mem::{self, AllocError};

/// End of a chain / no slot.
pub(crate) const NIL: u32 = u32::MAX;

/// Slot indices stay below this, so that an index fits in 30 bits (and is not `NIL`).
pub(crate) const MAX_SLOTS: u32 = (1 << 30) - 1;

/// In a slot's word: the use is wide, held by the slot whose index is the rest of the word
/// (packed uses stay below this bit).
const WIDE: u32 = 1 << 31;

/// A waiting branch as the buffer queues it: packed in a word (which the buffer decodes), or
/// its offset and its kind's [`LabelUse::to_bits`](super::buffer::LabelUse::to_bits).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Use {
    Packed(u32),
    Wide { offset: u32, kind: u32 },
}

/// 8 bytes: a packed branch and the next slot of its chain (or of the free list); or, for a
/// wide branch, the slot holding it (`WIDE | index`) and the next; that one holds the offset
/// in `word` and the kind in `next`.
#[derive(Clone, Copy)]
struct Slot {
    word: u32,
    next: u32,
}

/// Slots per block of [`Slots`].
const BLOCK: usize = 128;

/// The slot vector, in blocks of [`BLOCK`] slots, with its free list: growing it never moves
/// (reallocates) the slots already there, so growth does not hold the old and the new copy at
/// once (with 8,192 branches pending, a doubling `Vec` peaked at 144 KiB for 96 KiB of slots).
struct Slots {
    blocks: Vec<Vec<Slot>>,
    len: usize,
    /// Head of the free slot list (`NIL`: empty).
    free: u32,
}

impl Slots {
    #[inline]
    fn get_mut(&mut self, i: u32) -> &mut Slot {
        let i = i as usize;
        &mut self.blocks[i / BLOCK][i % BLOCK]
    }

    /// Store `slot` in a free slot or a new one; returns its index (below [`MAX_SLOTS`]).
    #[inline]
    fn insert(&mut self, slot: Slot) -> Result<u32, AllocError> {
        if self.free == NIL {
            return self.append(slot);
        }
        let i = self.free;
        let free = self.get_mut(i);
        let next_free = free.next;
        *free = slot;
        self.free = next_free;
        Ok(i)
    }

    /// Store `slot` in a new slot (none is free); returns its index.
    #[inline(never)]
    fn append(&mut self, slot: Slot) -> Result<u32, AllocError> {
        let i = self.len;
        if i >= MAX_SLOTS as usize {
            return Err(AllocError {
                what: "pending branches",
                bytes: usize::MAX,
            });
        }
        if i == self.blocks.len() * BLOCK {
            let block = mem::try_with_capacity(BLOCK, "pending branches")?;
            mem::try_push(&mut self.blocks, block, "pending branch blocks")?;
        }
        self.blocks[i / BLOCK].push(slot);
        self.len += 1;
        Ok(i as u32)
    }

    /// Put slot `i` on the free list; returns what it held.
    #[inline]
    fn remove(&mut self, i: u32) -> Slot {
        let free = self.free;
        let slot = self.get_mut(i);
        let held = *slot;
        slot.next = free;
        self.free = i;
        held
    }
}

/// The pending branches of a module, by label.
#[derive(Default)]
pub(crate) struct PendingBranches {
    slots: Slots,
    /// Newest waiting slot of each local label, indexed by local label number.
    local: Vec<u32>,
    len: usize,
}

impl Default for Slots {
    fn default() -> Self {
        Slots {
            blocks: Vec::new(),
            len: 0,
            free: NIL,
        }
    }
}

/// Branches detached from their label, oldest first; drained with [`PendingBranches::next`].
pub(crate) struct Detached(u32);

impl PendingBranches {
    /// Number of branches still waiting.
    #[cfg(test)]
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queue `branch` for local label `n`.
    #[inline]
    pub(crate) fn push_local(&mut self, n: u32, branch: Use) -> Result<(), AllocError> {
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
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(crate) fn push_chain(&mut self, head: u32, branch: Use) -> Result<u32, AllocError> {
        let word = match branch {
            Use::Packed(word) => word,
            Use::Wide { offset, kind } => {
                let held = self.slots.insert(Slot {
                    word: offset,
                    next: kind,
                })?;
                WIDE | held
            }
        };
        // Out of memory here leaves a wide use's slot unreachable: the module fails anyway.
        let index = self.slots.insert(Slot { word, next: head })?;
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
            let slot = self.slots.get_mut(rest);
            let next = core::mem::replace(&mut slot.next, reversed);
            reversed = rest;
            rest = next;
        }
        Detached(reversed)
    }

    /// The next detached branch; its slot is freed.
    #[inline]
    pub(crate) fn next(&mut self, detached: &mut Detached) -> Option<Use> {
        let index = detached.0;
        if index == NIL {
            return None;
        }
        self.len -= 1;
        let slot = self.slots.remove(index);
        detached.0 = slot.next;
        if slot.word & WIDE == 0 {
            return Some(Use::Packed(slot.word));
        }
        let held = self.slots.remove(slot.word & !WIDE);
        Some(Use::Wide {
            offset: held.word,
            kind: held.next,
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
    ) -> Result<Vec<(crate::compile::backend::Label, Use)>, AllocError> {
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

    fn at(offset: u32) -> Use {
        Use::Wide { offset, kind: 4 }
    }

    fn drain(p: &mut PendingBranches, n: u32) -> Vec<Use> {
        let mut detached = p.detach_local(n);
        core::iter::from_fn(|| p.next(&mut detached)).collect()
    }

    use crate::compile::backend::Label;

    fn drain_chain(p: &mut PendingBranches, head: u32) -> Vec<Use> {
        let mut detached = p.detach_chain(head);
        core::iter::from_fn(|| p.next(&mut detached)).collect()
    }

    #[test]
    fn branches_come_back_per_label_oldest_first() {
        let mut p = PendingBranches::default();
        p.push_local(3, at(10)).unwrap();
        let chain = p.push_chain(NIL, at(20)).unwrap();
        p.push_local(3, Use::Packed(30)).unwrap();
        p.push_local(1, at(40)).unwrap();
        let chain = p.push_chain(chain, Use::Packed(45)).unwrap();
        let chain = p.push_chain(chain, at(47)).unwrap();
        assert_eq!(p.len(), 6);
        assert_eq!(drain(&mut p, 3), [at(10), Use::Packed(30)]);
        assert_eq!(drain(&mut p, 3), []);
        assert_eq!(drain(&mut p, 99), []);
        assert_eq!(
            drain_chain(&mut p, chain),
            [at(20), Use::Packed(45), at(47)]
        );
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
        assert_eq!(core::mem::size_of::<Slot>(), 8);
    }

    #[test]
    fn patched_slots_are_reused() {
        let mut p = PendingBranches::default();
        for round in 0..100 {
            let label = round % 7;
            let offset = round;
            p.push_local(label, at(offset)).unwrap();
            p.push_local(label, Use::Packed(round)).unwrap();
            p.push_local(label, at(offset + 2)).unwrap();
            p.push_local(label, Use::Packed(round + 1)).unwrap();
            assert_eq!(
                drain(&mut p, label),
                [
                    at(offset),
                    Use::Packed(round),
                    at(offset + 2),
                    Use::Packed(round + 1)
                ]
            );
        }
        // Two slots for each wide use, one for each packed one.
        assert_eq!(p.slots.len, 6);
    }

    #[test]
    fn many_pending_branches_span_blocks() {
        let mut p = PendingBranches::default();
        for i in 0..1000 {
            let branch = match i % 2 {
                0 => at(i),
                _ => Use::Packed(i),
            };
            p.push_local(i % 3, branch).unwrap();
        }
        assert_eq!(p.slots.blocks.len(), 1500usize.div_ceil(BLOCK));
        let all = p.take_all().unwrap();
        assert_eq!(all.len(), 1000);
        let first: Vec<_> = all.iter().take(3).map(|&(_, w)| w).collect();
        assert_eq!(first, [at(0), Use::Packed(3), at(6)]);
    }
}

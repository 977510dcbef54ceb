//! Where each tail sequence was first emitted: a hash map whose growth is fallible (a
//! `BTreeMap` aborts when the heap is full).
//!
//! Entries are appended to a vector; an open-addressing index of `u32` slots (kept at most half
//! full, linear probing) finds them. Nothing is ever removed.

use alloc::vec::Vec;

use super::block_vec::BlockVec;
use super::TailCacheKey;
use crate::mem::{self, AllocError};

const EMPTY: u32 = u32::MAX;

#[derive(Default)]
pub(crate) struct TailCache {
    /// Keys and code offsets (16 bytes each), in blocks (growing never moves them).
    entries: BlockVec<(TailCacheKey, u32)>,
    /// Index into `entries`, or `EMPTY`; its length is zero or a power of two.
    index: Vec<u32>,
}

/// The keys' fields are a few small integers: packed into two words and mixed by 32-bit
/// multiplies and shifts (a derived `Hash` through a byte-oriented hasher cost more than the rest
/// of the lookup, and 64-bit multiplies are library calls on ARMv6-M). The index takes the low
/// bits, so the high ones are folded down.
fn hash(key: &TailCacheKey) -> usize {
    let (a, b) = match *key {
        TailCacheKey::RaiseErrorMfa([x, y, z]) => (
            1 | u32::from(x.0) << 8 | u32::from(y.0) << 16 | u32::from(z.0) << 24,
            0,
        ),
        TailCacheKey::CallLast { words, label } => (2 | words << 8, label),
        TailCacheKey::CallOnly(label) => (3, label),
        TailCacheKey::Return => (4, 0),
    };
    let mut h = (a.wrapping_mul(0x9E37_79B9) ^ b).wrapping_mul(0x85EB_CA6B);
    h ^= h >> 15;
    h = h.wrapping_mul(0xC2B2_AE35);
    (h ^ (h >> 16)) as usize
}

impl TailCache {
    /// The slot holding `key`, or the empty slot where it would go (the index is not empty).
    /// Inlined on the host (its callers then inline less of the rest: -1.8 M instructions).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn slot(&self, key: &TailCacheKey) -> usize {
        let mask = self.index.len() - 1;
        let mut i = hash(key) & mask;
        loop {
            match self.index[i] {
                EMPTY => return i,
                e if self.entries.get(e as usize).is_some_and(|(k, _)| k == *key) => return i,
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub(crate) fn get(&self, key: TailCacheKey) -> Option<usize> {
        if self.index.is_empty() {
            return None;
        }
        let e = self.index[self.slot(&key)];
        self.entries
            .get(e as usize)
            .map(|(_, offset)| offset as usize)
    }

    /// Remember `offset` for `key` unless `key` already has one (the first wins).
    pub(crate) fn put(&mut self, key: TailCacheKey, offset: usize) -> Result<(), AllocError> {
        // Code beyond 4 GiB fails elsewhere (label offsets are 32-bit); it is not cached.
        let Ok(offset) = u32::try_from(offset) else {
            return Ok(());
        };
        if (self.entries.len() + 1) * 2 > self.index.len() {
            if self.get(key).is_some() {
                return Ok(());
            }
            self.grow()?;
        }
        // One probe finds the key or the slot it goes to.
        let slot = self.slot(&key);
        if self.index[slot] != EMPTY {
            return Ok(());
        }
        self.entries.try_push((key, offset), "tail call cache")?;
        self.index[slot] = (self.entries.len() - 1) as u32;
        Ok(())
    }

    /// Double the index. The entries alone rebuild it, so the old index goes first: growing
    /// never holds both (if the new one cannot be had, the cache is left without an index, and
    /// the out-of-memory error ends the compile).
    fn grow(&mut self) -> Result<(), AllocError> {
        // Double (sized by the entries, so also right after a failed growth).
        let size = ((self.entries.len() + 1) * 2).next_power_of_two().max(16);
        self.index = Vec::new();
        let mut index = mem::try_with_capacity(size, "tail call cache index")?;
        index.resize(size, EMPTY);
        self.index = index;
        for (e, (key, _)) in self.entries.iter().enumerate() {
            let slot = self.slot(&key);
            self.index[slot] = e as u32;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_small() {
        assert!(core::mem::size_of::<(TailCacheKey, u32)>() <= 16);
    }

    #[test]
    fn first_offset_wins_and_every_key_is_found() {
        let mut c = TailCache::default();
        assert_eq!(c.get(TailCacheKey::Return), None);
        for label in 0..1000u32 {
            c.put(TailCacheKey::CallOnly(label), label as usize * 2)
                .unwrap();
            c.put(
                TailCacheKey::CallLast { words: 3, label },
                label as usize * 3,
            )
            .unwrap();
        }
        c.put(TailCacheKey::CallOnly(5), 1).unwrap();
        for label in 0..1000u32 {
            assert_eq!(
                c.get(TailCacheKey::CallOnly(label)),
                Some(label as usize * 2)
            );
            assert_eq!(
                c.get(TailCacheKey::CallLast { words: 3, label }),
                Some(label as usize * 3)
            );
        }
        assert_eq!(c.get(TailCacheKey::CallLast { words: 4, label: 1 }), None);
    }
}

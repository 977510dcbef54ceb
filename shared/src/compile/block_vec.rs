//! An append-only vector in blocks, for the driver's tables that grow with the module (lines,
//! tail sequences): growing it never moves what is already there, so a growth step never holds
//! the old and the new copy at once (a doubling `Vec` of 16 KiB peaks at 48 KiB while it moves
//! to 32 KiB), and the slack is at most one block.
//!
//! Blocks double from [`FIRST`] items up to [`LAST`] items, then stay at [`LAST`]: small modules
//! allocate little, large ones in steps of one block.

use alloc::vec::Vec;

use crate::mem::{self, AllocError};

/// Items in the first block (log2).
const FIRST_SHIFT: u32 = 3;
/// Items in every block from the largest on (log2).
const LAST_SHIFT: u32 = 8;
const FIRST: usize = 1 << FIRST_SHIFT;
const LAST: usize = 1 << LAST_SHIFT;
/// Items in the doubling blocks together (8 + 16 + ... + 128).
const GROWING: usize = LAST - FIRST;

pub(crate) struct BlockVec<T> {
    blocks: Vec<Vec<T>>,
    len: usize,
    /// Items the blocks hold in all.
    capacity: usize,
}

impl<T> Default for BlockVec<T> {
    fn default() -> Self {
        BlockVec {
            blocks: Vec::new(),
            len: 0,
            capacity: 0,
        }
    }
}

/// `ilog2(m)` for every `m` in `1..LAST / FIRST` (the growing blocks' `(i + FIRST) / FIRST`).
const GROWING_BLOCK: [u8; LAST >> FIRST_SHIFT] = {
    let mut table = [0; LAST >> FIRST_SHIFT];
    let mut m = 2;
    while m < table.len() {
        table[m] = table[m / 2] + 1;
        m += 1;
    }
    table
};

/// The block holding item `i`, and its index there.
#[inline]
fn locate(i: usize) -> (usize, usize) {
    if i < GROWING {
        // k = ilog2(i + FIRST) - FIRST_SHIFT, by table: one load on the host and on ARMv6-M
        // (which has no `clz`: `ilog2` was a library call there).
        let n = i + FIRST;
        let k = usize::from(GROWING_BLOCK[n >> FIRST_SHIFT]);
        (k, n - (FIRST << k))
    } else {
        let j = i - GROWING;
        ((LAST_SHIFT - FIRST_SHIFT) as usize + j / LAST, j % LAST)
    }
}

/// Items in block `k`.
#[inline]
fn block_len(k: usize) -> usize {
    if k < (LAST_SHIFT - FIRST_SHIFT) as usize {
        FIRST << k
    } else {
        LAST
    }
}

impl<T: Copy> BlockVec<T> {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        let (k, j) = locate(i);
        self.blocks.get(k)?.get(j).copied()
    }

    /// The last item.
    #[cfg(test)]
    pub(crate) fn last(&self) -> Option<T> {
        self.get(self.len.checked_sub(1)?)
    }

    /// Append `item`, failing instead of aborting when the heap is full.
    pub(crate) fn try_push(&mut self, item: T, what: &'static str) -> Result<(), AllocError> {
        if self.len == self.capacity {
            let n = block_len(self.blocks.len());
            let block = mem::try_with_capacity(n, what)?;
            mem::try_push(&mut self.blocks, block, what)?;
            self.capacity += n;
        }
        // The last block has room (the earlier ones are full).
        match self.blocks.last_mut() {
            Some(block) => block.push(item),
            None => {
                return Err(AllocError {
                    what,
                    bytes: usize::MAX,
                })
            }
        }
        self.len += 1;
        Ok(())
    }

    /// The items in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.blocks.iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_back_by_index_and_in_order_across_blocks() {
        let mut v = BlockVec::default();
        for i in 0..2000u32 {
            v.try_push(i, "test").unwrap();
            assert_eq!(v.last(), Some(i));
        }
        assert_eq!(v.len(), 2000);
        assert!((0..2000).all(|i| v.get(i as usize) == Some(i)));
        assert_eq!(v.get(2000), None);
        assert!(v.iter().eq(0..2000));
        // Doubling blocks 8..=128, then blocks of 256, each allocated once at its size.
        let lens: Vec<usize> = v.blocks.iter().map(Vec::capacity).collect();
        assert_eq!(lens[..6], [8, 16, 32, 64, 128, 256]);
        assert!(lens[5..].iter().all(|&n| n == 256));
        assert_eq!(lens.iter().sum::<usize>(), 248 + 7 * 256);
    }
}

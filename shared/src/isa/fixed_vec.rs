//! A vector with a small fixed capacity on the stack, for the backends' per-call lists of
//! arguments and registers (armv6m: at most 6 arguments and 9 saved registers; riscv32: 8 and
//! 19): no heap traffic in the hottest paths, no infallible allocation on the device, and the
//! bound is explicit.

use core::ops::{Deref, DerefMut};

/// Up to `N` copies of `T`; `push` beyond that is refused.
#[derive(Clone, Copy)]
pub(crate) struct FixedVec<T: Copy, const N: usize> {
    items: [T; N],
    len: usize,
}

/// More items than a [`FixedVec`] holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Full;

impl<T: Copy, const N: usize> FixedVec<T, N> {
    /// An empty vector; `filler` only initialises the unused slots.
    #[inline]
    pub(crate) const fn new(filler: T) -> Self {
        FixedVec {
            items: [filler; N],
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, item: T) -> Result<(), Full> {
        *self.items.get_mut(self.len).ok_or(Full)? = item;
        self.len += 1;
        Ok(())
    }
}

impl<T: Copy, const N: usize> Deref for FixedVec<T, N> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        &self.items[..self.len]
    }
}

impl<T: Copy, const N: usize> DerefMut for FixedVec<T, N> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_up_to_capacity() {
        let mut v: FixedVec<u8, 2> = FixedVec::new(0);
        assert!(v.is_empty());
        assert_eq!(v.push(7), Ok(()));
        assert_eq!(v.push(8), Ok(()));
        assert_eq!(v.push(9), Err(Full));
        assert_eq!(&v[..], &[7, 8]);
        v[1] = 5;
        assert_eq!(&v[..], &[7, 5]);
    }
}

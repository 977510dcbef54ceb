//! Fallible allocation for the compile path: on the device the heap is a few tens of KiB, and an
//! allocation that fails must become an error the core returns, never an abort.
//!
//! Every growth of a collection whose size depends on the input goes through these helpers (or
//! through `try_reserve` directly). They grow as `Vec::push` does (amortised doubling), so the
//! peak heap is the same as with infallible calls.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// An allocation the heap refused: what it was for and how many bytes were asked for (at least).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocError {
    pub what: &'static str,
    pub bytes: usize,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "out of memory allocating {} bytes for {}",
            self.bytes, self.what
        )
    }
}

impl core::error::Error for AllocError {}

fn error<T>(what: &'static str, items: usize) -> AllocError {
    AllocError {
        what,
        bytes: items.saturating_mul(core::mem::size_of::<T>()),
    }
}

/// Room for `additional` more items in `v` (amortised, as `Vec::push` grows).
#[inline]
pub fn try_reserve<T>(
    v: &mut Vec<T>,
    additional: usize,
    what: &'static str,
) -> Result<(), AllocError> {
    v.try_reserve(additional)
        .map_err(|_| error::<T>(what, v.len().saturating_add(additional)))
}

/// Room for exactly `additional` more items (for sizes known up front).
#[inline]
pub fn try_reserve_exact<T>(
    v: &mut Vec<T>,
    additional: usize,
    what: &'static str,
) -> Result<(), AllocError> {
    v.try_reserve_exact(additional)
        .map_err(|_| error::<T>(what, v.len().saturating_add(additional)))
}

/// An empty vector with room for exactly `n` items.
#[inline]
pub fn try_with_capacity<T>(n: usize, what: &'static str) -> Result<Vec<T>, AllocError> {
    let mut v = Vec::new();
    try_reserve_exact(&mut v, n, what)?;
    Ok(v)
}

/// `v.push(item)`, failing instead of aborting when the heap is full.
#[inline]
pub fn try_push<T>(v: &mut Vec<T>, item: T, what: &'static str) -> Result<(), AllocError> {
    if v.len() == v.capacity() {
        try_reserve(v, 1, what)?;
    }
    v.push(item);
    Ok(())
}

/// `v.extend_from_slice(items)`, failing instead of aborting.
#[inline]
pub fn try_extend<T: Clone>(
    v: &mut Vec<T>,
    items: &[T],
    what: &'static str,
) -> Result<(), AllocError> {
    try_reserve(v, items.len(), what)?;
    v.extend_from_slice(items);
    Ok(())
}

/// `v.resize(len, value)` for growth, failing instead of aborting (exact: for tables sized by
/// a count).
#[inline]
pub fn try_resize<T: Clone>(
    v: &mut Vec<T>,
    len: usize,
    value: T,
    what: &'static str,
) -> Result<(), AllocError> {
    if len > v.len() {
        try_reserve_exact(v, len - v.len(), what)?;
    }
    v.resize(len, value);
    Ok(())
}

/// `String::from_utf8_lossy(bytes).into_owned()`, failing instead of aborting.
pub fn try_lossy_string(bytes: &[u8], what: &'static str) -> Result<String, AllocError> {
    let mut s = String::new();
    let fail = |n: usize| AllocError { what, bytes: n };
    s.try_reserve_exact(bytes.len())
        .map_err(|_| fail(bytes.len()))?;
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            let replacement = char::REPLACEMENT_CHARACTER;
            s.try_reserve(replacement.len_utf8())
                .map_err(|_| fail(s.len() + replacement.len_utf8()))?;
            s.push(replacement);
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_behave_like_the_infallible_calls() {
        let mut v: Vec<u32> = Vec::new();
        try_push(&mut v, 1, "t").unwrap();
        try_extend(&mut v, &[2, 3], "t").unwrap();
        try_resize(&mut v, 5, 9, "t").unwrap();
        assert_eq!(v, [1, 2, 3, 9, 9]);
        try_resize(&mut v, 2, 0, "t").unwrap();
        assert_eq!(v, [1, 2]);
        assert_eq!(try_lossy_string(b"a\xffb", "t").unwrap(), "a\u{FFFD}b");
        let e = try_with_capacity::<u64>(usize::MAX / 4, "huge table").unwrap_err();
        assert_eq!(e.what, "huge table");
        assert!(alloc::format!("{e}").contains("out of memory"));
    }
}

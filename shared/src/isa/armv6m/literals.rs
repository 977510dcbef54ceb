//! Loading immediates: short instruction sequences when possible, else a `ldr rX, [pc, #x]` from
//! a literal pool emitted after the next unconditional control transfer (or earlier, behind a
//! branch, when the oldest pending `ldr` nears the end of its range).

use super::asm;
use super::{Armv6m, BranchKind};
use crate::compile::backend::Reg;
use crate::stream::CodeSink;

/// Distance (bytes) from the oldest pending `ldr` after which the pool is flushed in line. Half of
/// `ldr`'s 1020-byte reach, leaving room for the pool itself.
const LITERAL_POOL_FLUSH_DISTANCE: usize = 512;

impl<S: CodeSink> Armv6m<S> {
    /// `reg = val`, choosing the shortest form the reference picks. On the host the common
    /// case, one `movs` of a byte, is inlined into the callers (a call per immediate cost about
    /// as much as the `movs` it emits); the device keeps one copy.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(super) fn mov_immediate(&mut self, reg: Reg, val: i64) {
        if matches!(val, 0..=255) {
            // A u16 fast path (see `put_ldr`); `movs_imm` + `put` for a high register.
            match asm::movs_imm_low(reg, val) {
                Some(h) => self.buf.emit_halfword(h),
                None => self.put(asm::movs_imm(reg, val)),
            }
        } else {
            self.mov_immediate_wide(reg, val);
        }
    }

    /// [`Self::mov_immediate`] of a value outside 0..=255.
    #[cfg_attr(not(target_os = "none"), inline(never))]
    fn mov_immediate_wide(&mut self, reg: Reg, val: i64) {
        // Thumb-2 first (movw, or movw + movt for any 32-bit value), then ARMv6-M's forms by
        // range: one test of the variant, then one range per form (most values end in the
        // literal pool, after every test: they were nine tests and two loads of the variant).
        if self.thumb2() {
            if matches!(val, 256..=0xFFFF) {
                self.put(asm::movw(reg, val));
                return;
            }
            if matches!(val, -0x8000_0000..0x1_0000_0000) {
                let uval = val as u32;
                self.put(asm::movw(reg, i64::from(uval & 0xFFFF)));
                self.put(asm::movt(reg, i64::from(uval >> 16)));
                return;
            }
        }
        match val {
            -255..=-1 => {
                self.put(asm::movs_imm(reg, -val));
                self.put(asm::negs(reg, reg));
            }
            256..=510 => {
                self.put(asm::movs_imm(reg, 255));
                self.put(asm::adds_imm(reg, reg, val - 255));
            }
            -256 => {
                self.put(asm::movs_imm(reg, 255));
                self.put(asm::mvns(reg, reg));
            }
            _ => match find_shifted_byte(val) {
                Some((byte, shift)) => {
                    self.put(asm::movs_imm(reg, byte));
                    self.put(asm::lsls_imm(reg, reg, shift));
                }
                None => self.mov_immediate_literal_pool(reg, val),
            },
        }
    }

    /// Emit a `ldr reg, [pc, #?]` placeholder and queue `val` for the literal pool.
    fn mov_immediate_literal_pool(&mut self, reg: Reg, val: i64) {
        // The pool holds words: the value's low 32 bits, as the reference stores it.
        self.buf
            .emit_literal_use(BranchKind::Literal(reg), val as u32);
        self.maybe_flush_literal_pool();
    }

    /// Flush the pool behind a branch over it if the oldest `ldr` is getting out of reach.
    fn maybe_flush_literal_pool(&mut self) {
        if !self
            .buf
            .literal_deadline_passed(LITERAL_POOL_FLUSH_DISTANCE)
        {
            return;
        }
        let offset = self.cur_offset();
        let count = self.buf.pending_literals().len() as i64;
        let skip = count * 4 + 4 - (offset % 4) as i64;
        self.put(asm::b(skip));
        if offset.is_multiple_of(4) {
            // Padding before the (word-aligned) pool; never executed.
            self.emit(&[0xFF, 0xFF]);
        }
        self.flush_literal_pool();
    }

    /// Lay out every pending literal here (word-aligned) and patch the `ldr`s that load them.
    #[inline]
    pub(super) fn flush_literal_pool(&mut self) {
        self.buf.flush_literals();
    }
}

/// `val` (in 511..=0x7FFF_FFFF; `None` for any other) as `byte << shift` with byte <= 255
/// and the smallest shift in 1..=31. The smallest shift leaving at most 8 significant bits is the only candidate:
/// a smaller one leaves a byte > 255, and a larger one fits only if this one does.
#[inline]
fn find_shifted_byte(val: i64) -> Option<(i64, i64)> {
    if !matches!(val, 1..=0x7FFF_FFFF) {
        return None;
    }
    // In 32 bits (the value fits): 64-bit shifts are library calls on ARMv6-M.
    let v = val as u32;
    // More than 8 bits from the lowest set bit up (most values that get here): no shift fits.
    // `v < lowest << 8` exactly when `v >> 8 < lowest` (`lowest << 8` is a multiple of 256).
    if v >> 8 >= v & v.wrapping_neg() {
        return None;
    }
    let shift = bit_length(v).saturating_sub(8).max(1);
    (v & ((1 << shift) - 1) == 0).then_some((i64::from(v >> shift), i64::from(shift)))
}

/// The number of significant bits of `v`, by halving: the same on the host and on ARMv6-M,
/// which has no `clz` (`leading_zeros` was a library call there).
#[inline]
fn bit_length(mut v: u32) -> u32 {
    let mut n = 0;
    if v >> 16 != 0 {
        (v, n) = (v >> 16, n + 16);
    }
    if v >> 8 != 0 {
        (v, n) = (v >> 8, n + 8);
    }
    if v >> 4 != 0 {
        (v, n) = (v >> 4, n + 4);
    }
    if v >> 2 != 0 {
        (v, n) = (v >> 2, n + 2);
    }
    if v >> 1 != 0 {
        (v, n) = (v >> 1, n + 1);
    }
    n + v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_byte_prefers_smallest_shift() {
        assert_eq!(find_shifted_byte(0x200), Some((128, 2)));
        assert_eq!(find_shifted_byte(0x7F80_0000), Some((255, 23)));
        assert_eq!(find_shifted_byte(0x201), None);
        assert_eq!(find_shifted_byte(0x1FE00), Some((255, 9)));
    }

    #[test]
    fn bit_length_counts_significant_bits() {
        assert_eq!(bit_length(0), 0);
        for bit in 0..32 {
            for v in [1u32 << bit, (1u32 << bit) | 1, u32::MAX >> (31 - bit)] {
                assert_eq!(bit_length(v), 32 - v.leading_zeros(), "{v:#x}");
            }
        }
    }

    /// The search the reference does: every shift from 1 up, first fit wins.
    fn shifted_byte_by_search(val: i64) -> Option<(i64, i64)> {
        (1..=31).find_map(|shift| {
            let low_clear = val & ((1 << shift) - 1) == 0;
            let byte = val >> shift;
            (low_clear && (0..=255).contains(&byte)).then_some((byte, shift))
        })
    }

    #[test]
    fn shifted_byte_matches_the_search() {
        let mut vals: alloc::vec::Vec<i64> = (511..70_000).collect();
        for shift in 0..31 {
            for byte in [1i64, 2, 3, 127, 128, 129, 254, 255, 256, 257, 511, 513] {
                let v = byte << shift;
                vals.extend([v - 1, v, v + 1]);
            }
        }
        vals.extend([0x7FFF_FFFF, 0x7F80_0000, 0x4000_0000, 0x7FFF_FFFE]);
        for v in vals.into_iter().filter(|v| (511..=0x7FFF_FFFF).contains(v)) {
            assert_eq!(find_shifted_byte(v), shifted_byte_by_search(v), "{v:#x}");
        }
    }
}

#[cfg(test)]
mod backend_tests {
    use super::super::testing::{backend, hex, CTX, JIT_STATE};
    use crate::compile::backend::{Arg, Backend, Val};

    fn imm(v: i64) -> Arg {
        Arg::keep(Val::Imm(v))
    }

    #[test]
    fn literal_pool_is_laid_out_on_flush() {
        let mut b = backend(1);
        b.call_primitive(2, &[CTX, JIT_STATE, imm(0x12345), imm(-1000)]);
        b.flush();
        assert_eq!(hex(&b), "976805B40299024A024BB847074605BC4523010018FCFFFF");
    }

    #[test]
    fn thumb2_loads_immediates_with_movw_movt() {
        let mut b = backend(5);
        b.call_primitive(2, &[CTX, JIT_STATE, imm(0x1234), imm(0x1234_5678)]);
        b.call_primitive(2, &[CTX, JIT_STATE, imm(-1), imm(200)]);
        assert_eq!(
            hex(&b),
            "976805B4029941F2342245F27863C1F23423B847074605BC9668C5B404994FF6FF72CFF6FF72C823B0470546C5BC"
        );
    }

    #[test]
    fn literal_pool_is_flushed_behind_a_branch_when_far() {
        let mut b = backend(1);
        for i in 1..=45 {
            let r = b.call_primitive(2, &[CTX, JIT_STATE, imm(0x10001 + i)]);
            b.free_native_registers(&[Val::Reg(r)]);
        }
        assert_eq!(hex(&b), "976805B40299824AB847074605BC976805B402997F4AB847074605BC976805B402997D4AB847074605BC976805B402997A4AB847074605BC976805B40299784AB847074605BC976805B40299754AB847074605BC976805B40299734AB847074605BC976805B40299704AB847074605BC976805B402996E4AB847074605BC976805B402996B4AB847074605BC976805B40299694AB847074605BC976805B40299664AB847074605BC976805B40299644AB847074605BC976805B40299614AB847074605BC976805B402995F4AB847074605BC976805B402995C4AB847074605BC976805B402995A4AB847074605BC976805B40299574AB847074605BC976805B40299554AB847074605BC976805B40299524AB847074605BC976805B40299504AB847074605BC976805B402994D4AB847074605BC976805B402994B4AB847074605BC976805B40299484AB847074605BC976805B40299464AB847074605BC976805B40299434AB847074605BC976805B40299414AB847074605BC976805B402993E4AB847074605BC976805B402993C4AB847074605BC976805B40299394AB847074605BC976805B40299374AB847074605BC976805B40299344AB847074605BC976805B40299324AB847074605BC976805B402992F4AB847074605BC976805B402992D4AB847074605BC976805B402992A4AB847074605BC976805B40299284AB847074605BC976805B40299254A4BE002000100030001000400010005000100060001000700010008000100090001000A0001000B0001000C0001000D0001000E0001000F000100100001001100010012000100130001001400010015000100160001001700010018000100190001001A0001001B0001001C0001001D0001001E0001001F0001002000010021000100220001002300010024000100250001002600010027000100B847074605BC976805B40299FFFFB847074605BC976805B40299FFFFB847074605BC976805B40299FFFFB847074605BC976805B40299FFFFB847074605BC976805B40299FFFFB847074605BC976805B40299FFFFB847074605BC976805B40299FFFFB847074605BC");
    }
}

//! What each native register is known to hold, so the backend can skip redundant loads.
//!
//! The knowledge is dropped at labels and branches (unknown incoming state) and, for the
//! caller-saved registers, after calls. Fixed-size: one slot per native register; the ISA gives
//! the register count `N` (at most 32) and, through [`RegisterFile`], the search order.
//!
//! Fidelity note: when several registers hold the same contents, [`Regs::find_reg_with_contents`]
//! must pick the register the reference picks. The reference keeps the tracker in a small map keyed
//! by register-name atoms, iterated in term order, which for atoms is alphabetical: each ISA passes
//! its register numbers in the alphabetical order of their names (armv6m: r0, r1, r10, .., r9).

use core::marker::PhantomData;

use crate::compile::{Reg, Val};

/// What the tracker needs to know about an ISA's registers.
pub trait RegisterFile: Copy {
    /// Every register number once, in the order [`Regs::find_reg_with_contents`] tries them (a
    /// constant, so the search compiles to a fixed sequence of compares).
    const SEARCH_ORDER: &'static [u8];
}

/// A VM location whose value a register may cache.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VmLoc {
    X(u32),
    Y(u32),
}

/// What a native register holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Contents {
    /// The value of a VM register.
    Vm(VmLoc),
    /// A pointer to a VM register.
    Ptr(VmLoc),
    /// A known immediate.
    Imm(i64),
    /// The continuation pointer.
    Cp,
    /// The module index.
    ModuleIndex,
    /// Nothing known. Can be stored explicitly; reads of an untracked register also give it.
    Unknown,
}

impl Contents {
    #[inline]
    pub const fn x(n: u32) -> Self {
        Contents::Vm(VmLoc::X(n))
    }
    #[inline]
    pub const fn y(n: u32) -> Self {
        Contents::Vm(VmLoc::Y(n))
    }
}

/// No information about a register (distinct from an explicit `Contents::Unknown`).
const UNTRACKED: u8 = 0;

/// [`Contents`] as a tag and a payload, so the tracker is small to copy (it is saved at every
/// branch and call) and slots compare without matching on the enum. Inlined everywhere: each
/// caller's contents are mostly a known variant, which the match then folds to a constant.
#[inline(always)]
fn pack(contents: Contents) -> (u8, u64) {
    match contents {
        Contents::Vm(VmLoc::X(n)) => (1, u64::from(n)),
        Contents::Vm(VmLoc::Y(n)) => (2, u64::from(n)),
        Contents::Ptr(VmLoc::X(n)) => (3, u64::from(n)),
        Contents::Ptr(VmLoc::Y(n)) => (4, u64::from(n)),
        Contents::Imm(v) => (5, v as u64),
        Contents::Cp => (6, 0),
        Contents::ModuleIndex => (7, 0),
        Contents::Unknown => (8, 0),
    }
}

/// The inverse of [`pack`] (`None` for an untracked slot).
#[inline]
fn unpack(tag: u8, payload: u64) -> Option<Contents> {
    Some(match tag {
        1 => Contents::x(payload as u32),
        2 => Contents::y(payload as u32),
        3 => Contents::Ptr(VmLoc::X(payload as u32)),
        4 => Contents::Ptr(VmLoc::Y(payload as u32)),
        5 => Contents::Imm(payload as i64),
        6 => Contents::Cp,
        7 => Contents::ModuleIndex,
        8 => Contents::Unknown,
        _ => return None,
    })
}

/// The slot numbers of the set bits of `m`, lowest first: one step per tracked slot (a few,
/// mostly high registers: a walk bit by bit took about 8 steps a search).
#[inline(always)]
fn slots(mut m: u32) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        if m == 0 {
            return None;
        }
        let i = m.trailing_zeros() as usize;
        m &= m - 1;
        Some(i)
    })
}

/// The register contents tracker for an ISA `F` with `N` registers.
#[derive(Clone, Copy)]
pub struct Regs<F: RegisterFile, const N: usize> {
    /// Packed contents per register, meaningful only where `live` has the slot's bit (a
    /// tracked tag is never `UNTRACKED`). An explicit `Contents::Unknown` is distinct from
    /// untracked only for `merge` and `find_reg_with_contents(Unknown)`, exactly as in the
    /// reference.
    tags: [u8; N],
    /// Bit `i` set exactly when slot `i` is tracked: the one word forgetting writes (a call
    /// forgets every register, a branch target all, a clobber one; the stale tags and payloads
    /// left behind are never read), and the loops over tracked slots stop after the highest.
    live: u32,
    /// Meaningful only where `live` has the slot's bit.
    payloads: [u64; N],
    file: PhantomData<F>,
}

impl<F: RegisterFile, const N: usize> PartialEq for Regs<F, N> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.all_contents().eq(other.all_contents())
    }
}

impl<F: RegisterFile, const N: usize> Eq for Regs<F, N> {}

impl<F: RegisterFile, const N: usize> core::fmt::Debug for Regs<F, N> {
    #[inline]
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.all_contents()).finish()
    }
}

#[inline]
fn slot<const N: usize>(reg: Reg) -> Option<usize> {
    let i = usize::from(reg.0);
    (i < N).then_some(i)
}

impl<F: RegisterFile, const N: usize> Default for Regs<F, N> {
    #[inline]
    fn default() -> Self {
        Self::new()
    }
}

impl<F: RegisterFile, const N: usize> Regs<F, N> {
    /// Nothing known.
    #[inline]
    pub const fn new() -> Self {
        assert!(N <= 32, "register masks are u32");
        Regs {
            tags: [UNTRACKED; N],
            live: 0,
            payloads: [0; N],
            file: PhantomData,
        }
    }

    #[inline]
    fn slot_contents(&self, i: usize) -> Option<Contents> {
        if self.live & (1 << i) == 0 {
            return None;
        }
        unpack(self.tags[i], self.payloads[i])
    }

    /// What `reg` holds (`Unknown` if untracked).
    #[inline]
    pub fn get_contents(&self, reg: Reg) -> Contents {
        slot::<N>(reg)
            .and_then(|i| self.slot_contents(i))
            .unwrap_or(Contents::Unknown)
    }

    /// Every tracked register with its contents, in register-number order.
    #[inline]
    pub fn all_contents(&self) -> impl Iterator<Item = (Reg, Contents)> + '_ {
        (0..N).filter_map(|i| self.slot_contents(i).map(|c| (Reg(i as u8), c)))
    }

    #[inline]
    pub fn set_contents(&mut self, reg: Reg, contents: Contents) {
        if let Some(i) = slot::<N>(reg) {
            (self.tags[i], self.payloads[i]) = pack(contents);
            // `pack` never gives `UNTRACKED`.
            self.live |= 1 << i;
        }
    }

    /// Forget `reg` (it was clobbered).
    #[cfg_attr(not(target_os = "none"), inline)]
    #[cfg_attr(target_os = "none", inline(never))]
    pub fn invalidate_reg(&mut self, reg: Reg) {
        if let Some(i) = slot::<N>(reg) {
            self.live &= !(1 << i);
        }
    }

    /// Forget everything.
    #[inline]
    pub fn invalidate_all(&mut self) {
        self.live = 0;
    }

    /// Forget every register not in `preserved` (bit n = register n): a C call clobbered them.
    #[inline]
    pub fn invalidate_volatile(&mut self, preserved: u32) {
        self.live &= preserved;
    }

    /// Forget every register caching the value of `loc` (it was just written).
    /// Pointers to `loc` stay valid.
    #[inline]
    pub fn invalidate_vm_loc(&mut self, loc: VmLoc) {
        let wanted = pack(Contents::Vm(loc));
        for i in slots(self.live) {
            if (self.tags[i], self.payloads[i]) == wanted {
                self.live &= !(1 << i);
            }
        }
    }

    /// A register holding `contents`, chosen as the reference chooses (the search order).
    #[inline]
    pub fn find_reg_with_contents(&self, contents: Contents) -> Option<Reg> {
        let (tag, payload) = pack(contents);
        // The tracked slots holding it (an untracked slot's tag and payload are stale), found
        // by walking the few tracked ones; the search order is walked only when one is found,
        // to pick it.
        let mut found = 0u32;
        for i in slots(self.live) {
            if self.tags[i] == tag && self.payloads[i] == payload {
                found |= 1 << i;
            }
        }
        if found == 0 {
            return None;
        }
        F::SEARCH_ORDER
            .iter()
            .find(|&&i| found & (1 << i) != 0)
            .map(|&i| Reg(i))
    }

    /// The state at a join point: what both paths agree on.
    #[inline]
    pub fn merge(&self, other: &Self) -> Self {
        let mut merged = *self;
        merged.merge_from(other);
        merged
    }

    /// `*self = other.merge(self)`, in place: no copy of either state (it is saved at every
    /// branch and restored at every join, the device's hot path).
    #[inline]
    pub fn merge_from(&mut self, other: &Self) {
        // A slot stays tracked only when both track it, with the same contents.
        self.live &= other.live;
        for i in slots(self.live) {
            if self.tags[i] != other.tags[i] || self.payloads[i] != other.payloads[i] {
                self.live &= !(1 << i);
            }
        }
    }
}

/// What a register loaded from `value` holds; `max_reg` is the number of x registers (the
/// `XExtra` register is x[max_reg]).
#[inline]
pub fn value_to_contents(value: Val, max_reg: u32) -> Contents {
    match value {
        Val::Cp => Contents::Cp,
        Val::X(n) => Contents::x(n),
        Val::XExtra => Contents::x(max_reg),
        Val::Y(n) => Contents::y(n),
        Val::Imm(i) => Contents::Imm(i),
        _ => Contents::Unknown,
    }
}

/// What a register stored into the VM destination `dest` then holds (a register written to x[N]
/// caches x[N]). Unlike [`value_to_contents`], an x register beyond `max_reg` gives `Unknown`.
#[inline]
pub fn vm_dest_to_contents(dest: Val, max_reg: u32) -> Contents {
    match dest {
        Val::X(n) if n < max_reg => Contents::x(n),
        Val::XExtra => Contents::x(max_reg),
        Val::Y(n) => Contents::y(n),
        _ => Contents::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::context::MAX_REG;

    /// armv6m's order (alphabetical names r0, r1, r10, ..): the tests pin the reference's choice.
    #[derive(Clone, Copy)]
    struct Arm;
    impl RegisterFile for Arm {
        const SEARCH_ORDER: &'static [u8] = &[0, 1, 10, 11, 12, 13, 14, 15, 2, 3, 4, 5, 6, 7, 8, 9];
    }
    type Regs = super::Regs<Arm, 16>;

    /// The tracker against a plain model (one `Option<Contents>` per register) over a long
    /// pseudo-random run of every operation, with the `live` summary checked at each step.
    #[test]
    fn tracker_matches_a_plain_model() {
        type Model = [Option<Contents>; 16];
        fn check(regs: &Regs, model: &Model) {
            for (i, m) in model.iter().enumerate() {
                assert_eq!(regs.slot_contents(i), *m, "slot {i}");
                assert_eq!(regs.live & (1 << i) != 0, m.is_some(), "live bit {i}");
            }
        }
        let mut seed = 0x2545_F491u32;
        let mut next = move |n: u32| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) % n
        };
        let contents = |k: u32| match k % 7 {
            0 => Contents::x(k % 3),
            1 => Contents::y(k % 3),
            2 => Contents::Ptr(VmLoc::X(k % 3)),
            3 => Contents::Imm(i64::from(k % 3) - 1),
            4 => Contents::Cp,
            5 => Contents::ModuleIndex,
            _ => Contents::Unknown,
        };
        let (mut a, mut b) = (Regs::new(), Regs::new());
        let (mut ma, mut mb): (Model, Model) = ([None; 16], [None; 16]);
        for step in 0..20_000 {
            let (regs, model) = if step % 3 == 0 {
                (&mut b, &mut mb)
            } else {
                (&mut a, &mut ma)
            };
            let r = next(16) as usize;
            match next(100) {
                0..=44 => {
                    let c = contents(next(49));
                    regs.set_contents(Reg(r as u8), c);
                    model[r] = Some(c);
                }
                45..=59 => {
                    regs.invalidate_reg(Reg(r as u8));
                    model[r] = None;
                }
                60..=74 => {
                    let loc = if next(2) == 0 {
                        VmLoc::X(next(3))
                    } else {
                        VmLoc::Y(next(3))
                    };
                    regs.invalidate_vm_loc(loc);
                    for m in model.iter_mut() {
                        if *m == Some(Contents::Vm(loc)) {
                            *m = None;
                        }
                    }
                }
                75..=79 => {
                    let preserved = next(1 << 16);
                    regs.invalidate_volatile(preserved);
                    for (i, m) in model.iter_mut().enumerate() {
                        if preserved & (1 << i) == 0 {
                            *m = None;
                        }
                    }
                }
                80 => {
                    regs.invalidate_all();
                    *model = [None; 16];
                }
                81..=90 => {
                    let merged = a.merge(&b);
                    a.merge_from(&b);
                    assert_eq!(a, merged);
                    for (x, y) in ma.iter_mut().zip(mb) {
                        if *x != y {
                            *x = None;
                        }
                    }
                    check(&merged, &ma);
                }
                _ => {
                    let c = contents(next(49));
                    let expected = Arm::SEARCH_ORDER
                        .iter()
                        .find(|&&i| ma[usize::from(i)] == Some(c))
                        .map(|&i| Reg(i));
                    assert_eq!(a.find_reg_with_contents(c), expected);
                }
            }
            check(&a, &ma);
            check(&b, &mb);
        }
    }

    #[test]
    fn new_tracker_knows_nothing() {
        let regs = Regs::new();
        assert_eq!(regs.get_contents(Reg(0)), Contents::Unknown);
        assert_eq!(regs.find_reg_with_contents(Contents::x(0)), None);
        assert_eq!(regs.all_contents().count(), 0);
    }

    #[test]
    fn set_then_get() {
        let mut regs = Regs::new();
        regs.set_contents(Reg(3), Contents::x(0));
        assert_eq!(regs.get_contents(Reg(3)), Contents::x(0));
        assert_eq!(regs.get_contents(Reg(11)), Contents::Unknown);
        regs.set_contents(Reg(11), Contents::Imm(42));
        assert_eq!(regs.get_contents(Reg(3)), Contents::x(0));
        assert_eq!(regs.get_contents(Reg(11)), Contents::Imm(42));
        // Out-of-range registers are ignored rather than panicking.
        regs.set_contents(Reg(16), Contents::Cp);
        assert_eq!(regs.get_contents(Reg(16)), Contents::Unknown);
    }

    #[test]
    fn find_distinguishes_contents() {
        let mut regs = Regs::new();
        regs.set_contents(Reg(3), Contents::x(0));
        regs.set_contents(Reg(11), Contents::y(1));
        assert_eq!(regs.find_reg_with_contents(Contents::x(0)), Some(Reg(3)));
        assert_eq!(regs.find_reg_with_contents(Contents::y(1)), Some(Reg(11)));
        assert_eq!(regs.find_reg_with_contents(Contents::x(5)), None);
        assert_eq!(
            regs.find_reg_with_contents(Contents::Ptr(VmLoc::Y(1))),
            None
        );
    }

    #[test]
    fn find_prefers_names_in_alphabetical_order() {
        let mut regs = Regs::new();
        regs.set_contents(Reg(7), Contents::Cp);
        regs.set_contents(Reg(2), Contents::Cp);
        assert_eq!(regs.find_reg_with_contents(Contents::Cp), Some(Reg(2)));
        // "r12" sorts before "r2".
        regs.set_contents(Reg(12), Contents::Cp);
        assert_eq!(regs.find_reg_with_contents(Contents::Cp), Some(Reg(12)));
        regs.set_contents(Reg(1), Contents::Cp);
        assert_eq!(regs.find_reg_with_contents(Contents::Cp), Some(Reg(1)));
        // "r9" sorts after "r3".
        let mut regs = Regs::new();
        regs.set_contents(Reg(9), Contents::Imm(1));
        regs.set_contents(Reg(3), Contents::Imm(1));
        assert_eq!(regs.find_reg_with_contents(Contents::Imm(1)), Some(Reg(3)));
    }

    #[test]
    fn explicit_unknown_is_tracked() {
        let mut regs = Regs::new();
        assert_eq!(regs.find_reg_with_contents(Contents::Unknown), None);
        regs.set_contents(Reg(5), Contents::Unknown);
        assert_eq!(regs.find_reg_with_contents(Contents::Unknown), Some(Reg(5)));
        let merged = regs.merge(&regs);
        assert_eq!(
            merged.find_reg_with_contents(Contents::Unknown),
            Some(Reg(5))
        );
    }

    #[test]
    fn invalidate_one_register() {
        let mut regs = Regs::new();
        regs.set_contents(Reg(3), Contents::x(0));
        regs.set_contents(Reg(11), Contents::y(1));
        regs.invalidate_reg(Reg(3));
        assert_eq!(regs.get_contents(Reg(3)), Contents::Unknown);
        assert_eq!(regs.get_contents(Reg(11)), Contents::y(1));
        assert_eq!(regs.find_reg_with_contents(Contents::x(0)), None);
    }

    #[test]
    fn invalidate_everything() {
        let mut regs = Regs::new();
        regs.set_contents(Reg(3), Contents::x(0));
        regs.set_contents(Reg(11), Contents::y(1));
        regs.invalidate_all();
        assert_eq!(regs.get_contents(Reg(3)), Contents::Unknown);
        assert_eq!(regs.get_contents(Reg(11)), Contents::Unknown);
        assert_eq!(regs, Regs::new());
        // A stale payload under an untracked tag matches nothing.
        assert_eq!(regs.find_reg_with_contents(Contents::x(0)), None);
    }

    #[test]
    fn invalidate_vm_loc_drops_every_cache_of_it() {
        let mut regs = Regs::new();
        regs.set_contents(Reg(3), Contents::x(0));
        regs.set_contents(Reg(11), Contents::x(0));
        regs.set_contents(Reg(10), Contents::y(1));
        regs.set_contents(Reg(4), Contents::Ptr(VmLoc::X(0)));
        regs.invalidate_vm_loc(VmLoc::X(0));
        assert_eq!(regs.get_contents(Reg(3)), Contents::Unknown);
        assert_eq!(regs.get_contents(Reg(11)), Contents::Unknown);
        assert_eq!(regs.get_contents(Reg(10)), Contents::y(1));
        assert_eq!(regs.get_contents(Reg(4)), Contents::Ptr(VmLoc::X(0)));
    }

    #[test]
    fn merge_keeps_agreement_only() {
        let mut a = Regs::new();
        a.set_contents(Reg(3), Contents::x(0));
        a.set_contents(Reg(11), Contents::x(1));
        a.set_contents(Reg(5), Contents::Imm(7));
        let mut b = Regs::new();
        b.set_contents(Reg(3), Contents::x(0));
        b.set_contents(Reg(11), Contents::x(2));
        let merged = a.merge(&b);
        let mut in_place = b;
        in_place.merge_from(&a);
        assert_eq!(in_place, merged);
        assert_eq!(merged.get_contents(Reg(3)), Contents::x(0));
        assert_eq!(merged.get_contents(Reg(11)), Contents::Unknown);
        assert_eq!(merged.get_contents(Reg(5)), Contents::Unknown);
        assert_eq!(merged.all_contents().count(), 1);
        // Both untracked with different stale payloads: still untracked, not "agreeing".
        a.invalidate_reg(Reg(3));
        b.set_contents(Reg(3), Contents::Imm(9));
        b.invalidate_reg(Reg(3));
        assert_eq!(a.merge(&b).get_contents(Reg(3)), Contents::Unknown);
        let mut in_place = b;
        in_place.merge_from(&a);
        assert_eq!(in_place.get_contents(Reg(3)), Contents::Unknown);
        assert_eq!(a.merge(&b).find_reg_with_contents(Contents::x(0)), None);
    }

    #[test]
    fn invalidate_volatile_keeps_preserved() {
        let mut regs = Regs::new();
        regs.set_contents(Reg(0), Contents::x(0));
        regs.set_contents(Reg(4), Contents::Cp);
        regs.set_contents(Reg(11), Contents::Imm(42));
        regs.invalidate_volatile(1 << 4);
        assert_eq!(regs.get_contents(Reg(0)), Contents::Unknown);
        assert_eq!(regs.get_contents(Reg(4)), Contents::Cp);
        assert_eq!(regs.get_contents(Reg(11)), Contents::Unknown);
    }

    #[test]
    fn values_to_contents() {
        assert_eq!(value_to_contents(Val::Cp, MAX_REG), Contents::Cp);
        assert_eq!(value_to_contents(Val::X(0), MAX_REG), Contents::x(0));
        assert_eq!(value_to_contents(Val::X(5), MAX_REG), Contents::x(5));
        assert_eq!(
            value_to_contents(Val::XExtra, MAX_REG),
            Contents::x(MAX_REG)
        );
        assert_eq!(value_to_contents(Val::Y(3), MAX_REG), Contents::y(3));
        assert_eq!(value_to_contents(Val::Imm(42), MAX_REG), Contents::Imm(42));
        assert_eq!(value_to_contents(Val::Imm(0), MAX_REG), Contents::Imm(0));
        assert_eq!(
            value_to_contents(Val::Ptr(Reg(0)), MAX_REG),
            Contents::Unknown
        );
        assert_eq!(value_to_contents(Val::Fp(0), MAX_REG), Contents::Unknown);
        assert_eq!(
            value_to_contents(Val::Reg(Reg(1)), MAX_REG),
            Contents::Unknown
        );
        assert_eq!(value_to_contents(Val::Int64(1), MAX_REG), Contents::Unknown);
    }

    #[test]
    fn vm_destinations_to_contents() {
        assert_eq!(vm_dest_to_contents(Val::X(0), MAX_REG), Contents::x(0));
        assert_eq!(vm_dest_to_contents(Val::X(15), MAX_REG), Contents::x(15));
        assert_eq!(vm_dest_to_contents(Val::X(16), MAX_REG), Contents::Unknown);
        assert_eq!(
            vm_dest_to_contents(Val::XExtra, MAX_REG),
            Contents::x(MAX_REG)
        );
        assert_eq!(vm_dest_to_contents(Val::Y(5), MAX_REG), Contents::y(5));
        assert_eq!(vm_dest_to_contents(Val::Fp(0), MAX_REG), Contents::Unknown);
        assert_eq!(
            vm_dest_to_contents(Val::Ptr(Reg(0)), MAX_REG),
            Contents::Unknown
        );
    }
}

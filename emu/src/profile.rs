//! An instruction profile of the code the core runs from SRAM (what the device loader's speed
//! work is measured with): instructions per SRAM halfword (self time per function once
//! symbolized), and per call edge (call site → callee) the calls and the instructions run until
//! the callee returned (inclusive time). Calls are `bl`/`blx` (they leave LR at the next
//! instruction); a return is reaching that address again.

use std::collections::HashMap;
use std::fmt::Write as _;

use object::{Object, ObjectSymbol, SymbolKind};

use crate::{SRAM_BASE, SRAM_SIZE};

/// Deepest call chain followed (a deeper one stops being attributed, it is not an error).
const MAX_DEPTH: usize = 512;

struct Frame {
    ret: u32,
    site: u32,
    entry: u32,
    start: u64,
}

#[derive(Default, Clone, Copy)]
struct Edge {
    calls: u64,
    inclusive: u64,
}

/// See the module documentation.
pub struct Profile {
    counts: Vec<u64>,
    stack: Vec<Frame>,
    edges: HashMap<(u32, u32), Edge>,
    total: u64,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            counts: vec![0; SRAM_SIZE as usize / 2],
            stack: Vec::new(),
            edges: HashMap::new(),
            total: 0,
        }
    }
}

impl Profile {
    /// One instruction, encoded `raw` (a 32-bit one with its first halfword high), ran at `pc`
    /// as instruction number `count`; after it PC is `next`.
    pub(crate) fn record(&mut self, pc: u32, raw: u32, next: u32, count: u64) {
        self.total += 1;
        if let Some(c) = self
            .counts
            .get_mut((pc.wrapping_sub(SRAM_BASE) >> 1) as usize)
        {
            *c += 1;
        }
        let bl = raw > 0xffff && raw >> 27 == 0b11110 && raw & 0xd000 == 0xd000;
        let blx = raw & 0xff87 == 0x4780 && raw <= 0xffff;
        if bl || blx {
            if self.stack.len() < MAX_DEPTH {
                self.stack.push(Frame {
                    ret: pc + if bl { 4 } else { 2 },
                    site: pc,
                    entry: next,
                    start: count,
                });
            }
            return;
        }
        // pop {..., pc}, bx rm, mov pc, rm: a return if it lands on a frame's return address
        // (a frame left by a helper that did not return to its caller, such as Thumb-1 switch
        // helpers, is closed with it).
        let ret = raw <= 0xffff
            && (raw & 0xff00 == 0xbd00 || raw & 0xff87 == 0x4700 || raw & 0xff87 == 0x4687);
        if !ret {
            return;
        }
        if let Some(depth) = self.stack.iter().rev().take(8).position(|f| f.ret == next) {
            for _ in 0..=depth {
                if let Some(top) = self.stack.pop() {
                    let e = self.edges.entry((top.site, top.entry)).or_default();
                    e.calls += 1;
                    e.inclusive += count + 1 - top.start;
                }
            }
        }
    }

    /// Calls seen to the function at `entry` (its address, without the Thumb bit) and the
    /// instructions they ran, the call instructions included.
    pub fn calls_to(&self, entry: u32) -> (u64, u64) {
        self.edges
            .iter()
            .filter(|((_, e), _)| *e == entry)
            .fold((0, 0), |(c, n), (_, e)| (c + e.calls, n + e.inclusive))
    }

    /// Instructions run at `addr` (an SRAM address).
    pub fn at(&self, addr: u32) -> u64 {
        self.counts
            .get((addr.wrapping_sub(SRAM_BASE) >> 1) as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Instructions run while profiling.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The profile symbolized with `elf`'s function symbols: self and inclusive instructions per
    /// function, the top `lines` of each, and the call sites of the most called functions.
    pub fn report(&self, elf: &[u8], lines: usize) -> String {
        let mut syms: Vec<(u32, u32, String)> = match object::File::parse(elf) {
            Ok(file) => file
                .symbols()
                .filter(|s| s.kind() == SymbolKind::Text)
                .map(|s| {
                    (
                        (s.address() as u32) & !1,
                        s.size() as u32,
                        s.name().unwrap_or("?").to_string(),
                    )
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        syms.sort();
        // Assembly routines (memcpy, memset) have no size: they reach to the next symbol.
        for i in 0..syms.len() {
            if syms[i].1 == 0 {
                let next = syms[i + 1..].iter().find(|s| s.0 > syms[i].0);
                syms[i].1 = next.map_or(0, |s| s.0 - syms[i].0);
            }
        }
        let func = |addr: u32| -> usize {
            match syms.partition_point(|s| s.0 <= addr) {
                0 => usize::MAX,
                i if addr < syms[i - 1].0 + syms[i - 1].1 => i - 1,
                _ => usize::MAX,
            }
        };
        let name = |i: usize| syms.get(i).map_or("?", |s| s.2.as_str());
        let mut selfs: HashMap<usize, u64> = HashMap::new();
        for (slot, &c) in self.counts.iter().enumerate() {
            if c > 0 {
                *selfs.entry(func(SRAM_BASE + 2 * slot as u32)).or_default() += c;
            }
        }
        // Inclusive per callee (recursion counted once per outermost call is not attempted:
        // a recursive function's figure can exceed the total).
        let mut incl: HashMap<usize, (u64, u64)> = HashMap::new();
        let mut by_site: HashMap<(usize, usize), (u64, u64)> = HashMap::new();
        for (&(site, entry), e) in &self.edges {
            let callee = func(entry);
            let v = incl.entry(callee).or_default();
            v.0 += e.calls;
            v.1 += e.inclusive;
            let w = by_site.entry((func(site), callee)).or_default();
            w.0 += e.calls;
            w.1 += e.inclusive;
        }
        let pct = |n: u64| 100.0 * n as f64 / self.total.max(1) as f64;
        let mut out = String::new();
        let _ = writeln!(out, "instructions: {}", self.total);
        let _ = writeln!(out, "\n== self ==");
        let mut v: Vec<_> = selfs.into_iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1));
        for (f, c) in v.iter().take(lines) {
            let _ = writeln!(out, "{c:>12} {:>6.2}%  {}", pct(*c), name(*f));
        }
        let _ = writeln!(out, "\n== inclusive (calls) ==");
        let mut v: Vec<_> = incl.into_iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1 .1));
        for (f, (calls, c)) in v.iter().take(lines) {
            let _ = writeln!(out, "{c:>12} {:>6.2}% {calls:>9}  {}", pct(*c), name(*f));
        }
        let _ = writeln!(
            out,
            "\n== call edges: caller -> callee (calls, inclusive) =="
        );
        let mut v: Vec<_> = by_site.into_iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1 .1));
        for ((caller, callee), (calls, c)) in v.iter().take(lines * 2) {
            let _ = writeln!(
                out,
                "{c:>12} {:>6.2}% {calls:>9}  {} -> {}",
                pct(*c),
                name(*caller),
                name(*callee)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::{Rp2040, Stop, SRAM_BASE};

    /// Two `bl`s to one function and a `blx` to another: self counts per instruction, and per
    /// callee its calls and the instructions they ran (call, body, return).
    #[test]
    fn counts_instructions_and_calls() {
        let code: [u16; 10] = [
            0x4c04, //         0x00: ldr r4, [pc, #16] (the literal at 0x14: g)
            0xf000, 0xf804, // 0x02: bl f
            0xf000, 0xf802, // 0x06: bl f
            0x47a0, //         0x0a: blx r4
            0xbe00, //         0x0c: bkpt
            0x2001, //         0x0e: f: movs r0, #1
            0x4770, //         0x10: bx lr
            0x4770, //         0x12: g: bx lr
        ];
        let mut bytes: Vec<u8> = code.iter().flat_map(|h| h.to_le_bytes()).collect();
        bytes.extend_from_slice(&(SRAM_BASE + 0x13).to_le_bytes());
        let mut chip = Rp2040::new(vec![0xff; 4096]).unwrap();
        chip.write_memory(SRAM_BASE, &bytes).unwrap();
        chip.set_profiling(true);
        chip.set_sp_pc(SRAM_BASE + 0x1000, SRAM_BASE | 1);
        assert!(matches!(chip.run(100), Ok(Stop::Breakpoint { .. })));
        let p = chip.profile().unwrap();
        assert_eq!(p.total(), 10);
        assert_eq!(p.calls_to(SRAM_BASE + 0x0e), (2, 6));
        assert_eq!((p.at(SRAM_BASE + 0x0e), p.at(SRAM_BASE + 0x10)), (2, 2));
        assert_eq!(p.calls_to(SRAM_BASE + 0x12), (1, 2));
        assert_eq!(p.at(SRAM_BASE + 0x0c), 1);
    }
}

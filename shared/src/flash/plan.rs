//! Where AVMs go in a Pico's flash and which region AtomVM's JIT cache gets.
//!
//! The addresses come from the chip ([`super::chip::Chip::layout`]); AtomVM v0.7.0-alpha.1's rp2
//! port uses the same ones on the RP2040 and the RP2350. It runs the firmware from `0x1000_0000`, reads `lib.avm` at
//! `0x1010_0000` and the application (`main.avm`) at `0x1018_0000`. Its JIT cache starts in the first
//! 4 KiB sector at or after the highest end section of the AVMs in flash and runs to the end of
//! flash. A plan writes the AVMs, fills the rest of their last sector with `0xFF` (so every
//! destination — probe, image, UF2 — leaves identical bytes), and erases the cache region so that
//! nothing stale can be taken for a cache entry. Every refusal is decided before any step runs.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use super::nor::{fill_erased, write_preserving, FlashError, NorFlash};
use super::{align_up, SECTOR_SIZE};
use crate::avm::Pack;
use crate::Error;

/// Flash addresses of the AtomVM port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub flash_base: u32,
    pub flash_size: u32,
    /// Start of the `lib.avm` partition; the firmware lives below it.
    pub lib_address: u32,
    /// Default address of `main.avm`; it also ends the `lib.avm` partition.
    pub main_address: u32,
}

impl Layout {
    pub const RP2040_FLASH_BASE: u32 = 0x1000_0000;
    /// The XIP window maps at most 16 MiB.
    pub const RP2040_MAX_FLASH: u32 = 16 << 20;

    /// AtomVM v0.7.0-alpha.1 on a Pico (2 MiB of flash).
    pub const fn rp2040() -> Self {
        super::chip::Chip::Rp2040.default_layout()
    }
    pub const fn flash_end(&self) -> u32 {
        self.flash_base + self.flash_size
    }
    pub const fn lib_partition(&self) -> Range<u32> {
        self.lib_address..self.main_address
    }
}

impl Default for Layout {
    fn default() -> Self {
        Self::rp2040()
    }
}

/// The AVM partitions of the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    Lib,
    Main,
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Partition::Lib => "lib.avm",
            Partition::Main => "main.avm",
        })
    }
}

/// What to put in flash.
#[derive(Debug, Clone, Copy)]
pub struct PlanRequest<'a> {
    pub layout: Layout,
    /// Where `main` goes (normally `layout.main_address`).
    pub main_address: u32,
    /// The application AVM, as it must appear in flash (already compiled in AOT mode).
    pub main: &'a [u8],
    /// A `lib.avm` to write at `layout.lib_address` as well.
    pub lib: Option<&'a [u8]>,
    /// For a `lib.avm` already in flash and not rewritten: the address just after its end
    /// section's name (see [`crate::avm::EndSection::data_offset`]).
    pub lib_in_flash_end: Option<u32>,
    /// Size of the cache region; `None` = up to the end of flash.
    pub cache_size: Option<u32>,
}

impl<'a> PlanRequest<'a> {
    pub fn new(main: &'a [u8]) -> Self {
        let layout = Layout::rp2040();
        PlanRequest {
            layout,
            main_address: layout.main_address,
            main,
            lib: None,
            lib_in_flash_end: None,
            cache_size: None,
        }
    }
}

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The flash size is not a whole number of sectors, too small for the layout, or too large.
    BadFlashSize {
        size: u32,
    },
    InvalidAvm {
        partition: Partition,
        error: Error,
    },
    /// The application has no module exporting `start/0`: AtomVM would refuse to boot it.
    NoStartModule,
    /// An address that must start a sector does not.
    Unaligned {
        address: u32,
    },
    /// The AVM does not fit between its address and the end of its partition.
    TooLarge {
        partition: Partition,
        size: u32,
        capacity: u32,
    },
    /// `main.avm` would cover the firmware (below the `lib.avm` partition).
    OverlapsFirmware {
        address: u32,
        firmware_end: u32,
    },
    /// `main.avm` would cover the `lib.avm` partition.
    OverlapsLib {
        start: u32,
        end: u32,
        lib: Range<u32>,
    },
    /// The cache size is zero or not a whole number of sectors.
    BadCacheSize {
        size: u32,
    },
    /// The cache region would run past the end of flash, or there is no room for it.
    CacheDoesNotFit {
        start: u32,
        size: Option<u32>,
        flash_end: u32,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::BadFlashSize { size } => write!(
                f,
                "flash size {size:#x} is not a multiple of 4 KiB, too small for the lib.avm and main.avm partitions, or over 16 MiB"
            ),
            PlanError::InvalidAvm { partition, error } => write!(f, "{partition} is not a valid AVM: {error}"),
            PlanError::NoStartModule => {
                f.write_str("main.avm has no module exporting start/0 (flag 1): AtomVM would not boot it")
            }
            PlanError::Unaligned { address } => {
                write!(f, "address {address:#010x} is not aligned to a 4 KiB flash sector")
            }
            PlanError::TooLarge { partition, size, capacity } => write!(
                f,
                "{partition} needs {size} bytes (rounded to 4 KiB sectors) but its partition holds {capacity}"
            ),
            PlanError::OverlapsFirmware { address, firmware_end } => write!(
                f,
                "main.avm at {address:#010x} would overwrite the AtomVM firmware (below {firmware_end:#010x})"
            ),
            PlanError::OverlapsLib { start, end, lib } => write!(
                f,
                "main.avm at {start:#010x}..{end:#010x} would overlap the lib.avm partition {:#010x}..{:#010x}",
                lib.start, lib.end
            ),
            PlanError::BadCacheSize { size } => {
                write!(f, "cache size {size:#x} is not a non-zero multiple of 4 KiB")
            }
            PlanError::CacheDoesNotFit { start, size: Some(size), flash_end } => write!(
                f,
                "the JIT cache region {start:#010x}..{:#010x} runs past the end of flash ({flash_end:#010x})",
                u64::from(*start) + u64::from(*size)
            ),
            PlanError::CacheDoesNotFit { start, size: None, flash_end } => write!(
                f,
                "no room for the JIT cache: it would start at {start:#010x}, flash ends at {flash_end:#010x}"
            ),
        }
    }
}

/// One thing to do to the flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// Write `data` at `address` (sectors it touches are erased first, the rest of them kept).
    Program { address: u32, data: &'a [u8] },
    /// Make `start..end` all `0xFF` (the rest of partially covered sectors kept).
    Erase { start: u32, end: u32 },
}

impl Step<'_> {
    pub fn range(&self) -> Range<u32> {
        match *self {
            Step::Program { address, data } => address..address + data.len() as u32,
            Step::Erase { start, end } => start..end,
        }
    }
}

/// A checked plan: steps in increasing address order, never overlapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    pub layout: Layout,
    pub steps: Vec<Step<'a>>,
    /// Where AtomVM will put its first cache entry.
    pub cache_start: u32,
    /// The region erased for the cache.
    pub cache: Range<u32>,
    pub main_address: u32,
}

struct Placed<'a> {
    bytes: &'a [u8],
    end_data: u32,
    span: Range<u32>,
}

fn place<'a>(partition: Partition, address: u32, bytes: &'a [u8]) -> Result<Placed<'a>, PlanError> {
    let pack = Pack::parse(bytes).map_err(|error| PlanError::InvalidAvm { partition, error })?;
    if partition == Partition::Main && pack.start_module().is_none() {
        return Err(PlanError::NoStartModule);
    }
    // Bytes after the end section are not part of the AVM (and would land in the cache region).
    let len = pack.len();
    let too_large = PlanError::TooLarge {
        partition,
        size: u32::MAX,
        capacity: 0,
    };
    let len32 = u32::try_from(len).map_err(|_| too_large.clone())?;
    let padded = align_up(len32, SECTOR_SIZE).ok_or(too_large.clone())?;
    let end = address.checked_add(padded).ok_or(too_large)?;
    Ok(Placed {
        bytes: &bytes[..len],
        end_data: address + pack.end().data_offset as u32,
        span: address..end,
    })
}

fn check_layout(l: &Layout) -> Result<(), PlanError> {
    let ok = l.flash_size.is_multiple_of(SECTOR_SIZE)
        && l.flash_size <= Layout::RP2040_MAX_FLASH
        && l.flash_base.checked_add(l.flash_size).is_some()
        && l.flash_base <= l.lib_address
        && l.lib_address < l.main_address
        && l.main_address < l.flash_base.wrapping_add(l.flash_size);
    if ok {
        Ok(())
    } else {
        Err(PlanError::BadFlashSize { size: l.flash_size })
    }
}

/// Check a request and turn it into steps. Nothing is written here.
pub fn plan<'a>(req: &PlanRequest<'a>) -> Result<Plan<'a>, PlanError> {
    let layout = req.layout;
    check_layout(&layout)?;
    let flash_end = layout.flash_end();
    if !req.main_address.is_multiple_of(SECTOR_SIZE) {
        return Err(PlanError::Unaligned {
            address: req.main_address,
        });
    }
    let main = place(Partition::Main, req.main_address, req.main)?;
    if req.main_address < layout.lib_address {
        return Err(PlanError::OverlapsFirmware {
            address: req.main_address,
            firmware_end: layout.lib_address,
        });
    }
    let lib_part = layout.lib_partition();
    if main.span.start < lib_part.end && lib_part.start < main.span.end {
        return Err(PlanError::OverlapsLib {
            start: main.span.start,
            end: main.span.end,
            lib: lib_part,
        });
    }
    if main.span.end > flash_end {
        return Err(PlanError::TooLarge {
            partition: Partition::Main,
            size: main.span.end - main.span.start,
            capacity: flash_end.saturating_sub(req.main_address),
        });
    }
    let lib = match req.lib {
        Some(bytes) => {
            let lib = place(Partition::Lib, layout.lib_address, bytes)?;
            if lib.span.end > lib_part.end {
                return Err(PlanError::TooLarge {
                    partition: Partition::Lib,
                    size: lib.span.end - lib.span.start,
                    capacity: lib_part.end - lib_part.start,
                });
            }
            Some(lib)
        }
        None => None,
    };

    let highest_end = [
        Some(main.end_data),
        lib.as_ref().map(|l| l.end_data),
        req.lib_in_flash_end,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(main.end_data);
    let cache_start = super::cache::first_entry_address(highest_end);
    let cache_end = match req.cache_size {
        Some(size) if size == 0 || size % SECTOR_SIZE != 0 => {
            return Err(PlanError::BadCacheSize { size })
        }
        Some(size) => cache_start.checked_add(size),
        None => Some(flash_end),
    };
    match cache_end {
        Some(end) if end <= flash_end && cache_start < end => {}
        _ => {
            return Err(PlanError::CacheDoesNotFit {
                start: cache_start,
                size: req.cache_size,
                flash_end,
            })
        }
    }
    let cache = cache_start..cache_end.unwrap_or(flash_end);

    let mut steps = Vec::new();
    for placed in lib.iter().chain(core::iter::once(&main)) {
        let data_end = placed.span.start + placed.bytes.len() as u32;
        steps.push(Step::Program {
            address: placed.span.start,
            data: placed.bytes,
        });
        if data_end < placed.span.end {
            steps.push(Step::Erase {
                start: data_end,
                end: placed.span.end,
            });
        }
    }
    // The cache never starts before the main AVM's padded span ends.
    steps.push(Step::Erase {
        start: cache.start.max(main.span.end),
        end: cache.end,
    });
    steps.retain(|s| !s.range().is_empty());
    Ok(Plan {
        layout,
        steps,
        cache_start,
        cache,
        main_address: req.main_address,
    })
}

impl Plan<'_> {
    /// Run the plan on a flash (an image, or a device that accepts byte writes).
    pub fn apply<F: NorFlash + ?Sized>(&self, flash: &mut F) -> Result<(), FlashError> {
        for step in &self.steps {
            match *step {
                Step::Program { address, data } => write_preserving(flash, address, data)?,
                Step::Erase { start, end }
                    if start % SECTOR_SIZE == 0 && end % SECTOR_SIZE == 0 =>
                {
                    flash.erase(start, end)?
                }
                Step::Erase { start, end } => fill_erased(flash, start, end)?,
            }
        }
        Ok(())
    }

    /// Bytes programmed and bytes erased (for progress bars and summaries).
    pub fn totals(&self) -> (u64, u64) {
        self.steps.iter().fold((0, 0), |(p, e), s| match s {
            Step::Program { data, .. } => (p + data.len() as u64, e),
            Step::Erase { start, end } => (p, e + u64::from(end - start)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avm::PackBuilder;
    use crate::flash::MemFlash;
    use alloc::vec;

    fn beam(len: usize) -> Vec<u8> {
        let mut b = b"FOR1".to_vec();
        b.extend_from_slice(&(len as u32).to_be_bytes());
        b.extend_from_slice(b"BEAM");
        b.resize(len + 8, 0x5A);
        b
    }

    fn app(len: usize) -> Vec<u8> {
        let mut b = PackBuilder::new();
        b.beam("app", &beam(len), true).unwrap();
        b.finish()
    }

    #[test]
    fn default_plan_writes_main_pads_its_sector_and_erases_to_flash_end() {
        let avm = app(100);
        let p = plan(&PlanRequest::new(&avm)).unwrap();
        let end = 0x1018_0000 + avm.len() as u32;
        assert_eq!(
            p.steps,
            vec![
                Step::Program {
                    address: 0x1018_0000,
                    data: &avm[..]
                },
                Step::Erase {
                    start: end,
                    end: 0x1018_1000
                },
                Step::Erase {
                    start: 0x1018_1000,
                    end: 0x1020_0000
                },
            ]
        );
        assert_eq!(p.cache_start, 0x1018_1000);
        let mut flash = MemFlash::from_bytes(0x1000_0000, vec![0x42; 2 << 20]).unwrap();
        p.apply(&mut flash).unwrap();
        let b = flash.as_bytes();
        assert_eq!(&b[0x18_0000..0x18_0000 + avm.len()], &avm[..]);
        assert!(b[0x18_0000 + avm.len()..].iter().all(|&x| x == 0xFF));
        assert!(b[..0x18_0000].iter().all(|&x| x == 0x42));
    }

    #[test]
    fn refusals() {
        let avm = app(100);
        let mut r = PlanRequest::new(&avm);
        r.main_address = 0x1018_0100;
        assert_eq!(
            plan(&r).unwrap_err(),
            PlanError::Unaligned {
                address: 0x1018_0100
            }
        );
        r.main_address = 0x1000_0000;
        assert!(matches!(
            plan(&r).unwrap_err(),
            PlanError::OverlapsFirmware { .. }
        ));
        r.main_address = 0x1017_F000;
        assert!(matches!(
            plan(&r).unwrap_err(),
            PlanError::OverlapsLib { .. }
        ));
        r.main_address = 0x1020_0000;
        assert!(matches!(
            plan(&r).unwrap_err(),
            PlanError::TooLarge {
                partition: Partition::Main,
                capacity: 0,
                ..
            }
        ));
        r.main_address = 0x101F_F000;
        assert!(matches!(
            plan(&r).unwrap_err(),
            PlanError::CacheDoesNotFit { size: None, .. }
        ));
        r.main_address = 0x1018_0000;
        r.cache_size = Some(0x7F000);
        assert!(plan(&r).is_ok());
        r.cache_size = Some(0x80000);
        assert!(matches!(
            plan(&r).unwrap_err(),
            PlanError::CacheDoesNotFit { size: Some(_), .. }
        ));
        r.cache_size = Some(100);
        assert_eq!(plan(&r).unwrap_err(), PlanError::BadCacheSize { size: 100 });
        r.cache_size = None;
        r.layout.flash_size = 0x1234;
        assert!(matches!(
            plan(&r).unwrap_err(),
            PlanError::BadFlashSize { .. }
        ));

        let big = app(600 << 10);
        assert!(matches!(
            plan(&PlanRequest::new(&big)).unwrap_err(),
            PlanError::TooLarge { .. }
        ));
        let mut r = PlanRequest::new(&big);
        r.layout.flash_size = 4 << 20;
        assert!(plan(&r).is_ok());
        r.lib = Some(&big);
        assert!(matches!(
            plan(&r).unwrap_err(),
            PlanError::TooLarge {
                partition: Partition::Lib,
                ..
            }
        ));
        r.lib = Some(&avm[..10]);
        assert!(matches!(
            plan(&r).unwrap_err(),
            PlanError::InvalidAvm {
                partition: Partition::Lib,
                ..
            }
        ));

        let mut nostart = PackBuilder::new();
        nostart.beam("lib", &beam(10), false).unwrap();
        let nostart = nostart.finish();
        assert_eq!(
            plan(&PlanRequest::new(&nostart)).unwrap_err(),
            PlanError::NoStartModule
        );
        let e = plan(&PlanRequest::new(&avm[..avm.len() - 1])).unwrap_err();
        assert!(matches!(
            e,
            PlanError::InvalidAvm {
                partition: Partition::Main,
                ..
            }
        ));
    }
}

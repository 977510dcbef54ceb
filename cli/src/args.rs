//! Values of options that several commands take: numbers and sizes (`--address`, `--flash-size`),
//! the chip (`--target` of `flash`, `info`, `compare`) and its layout, and a code variant
//! (`compile --target`). Commands parse them here, not in each other's files.

use anyhow::{anyhow, Result};
use avm_jit_core::flash::plan::Layout;
use avm_jit_core::flash::Chip;
use avm_jit_core::isa::CodeTarget;

/// `4096`, `0x1000`, `4K`, `4KiB`, `2M`, `2MiB`.
pub fn parse_number(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let (digits, scale) = match t.find(|c: char| c.is_ascii_alphabetic() && c != 'x' && c != 'X') {
        Some(i) if !t.starts_with("0x") && !t.starts_with("0X") => {
            let scale = match t[i..].to_ascii_lowercase().as_str() {
                "k" | "kib" | "kb" => 1u64 << 10,
                "m" | "mib" | "mb" => 1 << 20,
                other => return Err(format!("unknown size suffix {other:?}")),
            };
            (&t[..i], scale)
        }
        _ => (t, 1),
    };
    let value = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse::<u64>(),
    }
    .map_err(|e| format!("{text:?} is not a number: {e}"))?;
    value
        .checked_mul(scale)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| format!("{text:?} does not fit in 32 bits"))
}

/// `--target NAME` as a chip; anything else is refused with the list of chips.
pub fn parse_chip(name: &str) -> Result<Chip> {
    Chip::from_name(name).ok_or_else(|| {
        let hint = match name {
            _ if CodeTarget::from_name(name).is_some() => {
                " (that is a code variant: `avm-jit compile --target` takes it; `flash` takes the chip)"
            }
            "rp2350_riscv" => " (did you mean rp2350-riscv?)",
            _ => "",
        };
        anyhow!(
            "unknown chip `{name}` for --target{hint}; the chips are: {}",
            Chip::list()
        )
    })
}

/// The chip's layout with `--flash-size`, refused when the chip cannot map that much.
pub fn chip_layout(chip: Chip, flash_size: Option<u32>) -> Result<Layout> {
    chip.layout(flash_size)
        .map_err(|e| anyhow!("--flash-size: {e}"))
}

/// A code variant by its name (`compile --target`), refused with the list of names.
pub fn parse_code_target(name: &str) -> Result<CodeTarget, String> {
    CodeTarget::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = CodeTarget::ALL.iter().map(|t| t.name()).collect();
        format!("unknown target `{name}` ({})", names.join(", "))
    })
}

/// The help of `compile --target`: every code variant, with the chips that run it (no final
/// period, as clap leaves none in the other options' help).
pub fn code_target_help() -> String {
    let names: Vec<String> = CodeTarget::ALL
        .iter()
        .map(|&target| {
            let chips: Vec<&str> = Chip::ALL
                .iter()
                .filter(|chip| chip.code_target() == target)
                .map(|chip| chip.name())
                .collect();
            format!("`{}` ({})", target.name(), chips.join(", "))
        })
        .collect();
    match names.split_last() {
        Some((last, [])) => format!("Code variant: {last}"),
        Some((last, rest)) => format!("Code variant: {} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

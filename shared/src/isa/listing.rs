//! What the disassemblers share: finding where two code buffers first differ and listing both sides
//! around it. Each ISA's `disasm` module supplies how one instruction is decoded and how its bytes
//! are shown; the layout of the listing is the same for every ISA.

use core::fmt::{self, Write};

/// Where two code buffers first differ (`None` when they are identical).
pub fn first_difference(left: &[u8], right: &[u8]) -> Option<usize> {
    left.iter()
        .zip(right)
        .position(|(a, b)| a != b)
        .or((left.len() != right.len()).then(|| left.len().min(right.len())))
}

/// Both sides around their first difference, disassembled, the differing line marked `>>`.
/// `names` label the two sides. Listing starts 20 bytes before the difference on a halfword
/// (every ISA here has 2- and 4-byte instructions on halfword boundaries) and stops 24 after.
/// `line` writes one instruction at `address` (its bytes then a tab and the instruction, no
/// newline) and returns the bytes it used (at least 1).
pub fn describe_difference(
    left: &[u8],
    right: &[u8],
    names: [&str; 2],
    out: &mut impl Write,
    mut line: impl FnMut(&[u8], u32, &mut dyn Write) -> Result<usize, fmt::Error>,
) -> fmt::Result {
    let Some(at) = first_difference(left, right) else {
        return writeln!(out, "identical ({} bytes)", left.len());
    };
    let from = at.saturating_sub(20) & !1;
    writeln!(
        out,
        "sizes {} ({}) and {} ({}), first difference at {at:#x}",
        left.len(),
        names[0],
        right.len(),
        names[1]
    )?;
    for (name, bytes) in names.iter().zip([left, right]) {
        writeln!(out, "  {name}:")?;
        let end = (at + 24).min(bytes.len());
        let mut rest = bytes.get(from..end).unwrap_or_default();
        let mut address = from;
        while !rest.is_empty() {
            let mut text = alloc::string::String::new();
            let len = line(rest, address as u32, &mut text)?.clamp(1, rest.len());
            let mark = if (address..address + len).contains(&at) {
                ">>"
            } else {
                "  "
            };
            writeln!(out, "  {mark}{address:8x}:\t{text}")?;
            address += len;
            rest = &rest[len..];
        }
    }
    Ok(())
}

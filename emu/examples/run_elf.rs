//! Runs a RAM-only Cortex-M0+ ELF (such as the device loader) on the emulated RP2040 and prints
//! what it cost: instructions, estimated device time, flash calls and time.
//!
//! ```text
//! cargo run --release -p avm-jit-emu --example run_elf -- PROGRAM.elf \
//!     [--flash IMAGE | --flash-size BYTES] [--limit INSTRUCTIONS] [--resume BREAKPOINTS] \
//!     [--out IMAGE] [--dump HEXADDR:LEN]...
//! ```
//! SP starts at `_stack_start` if the ELF defines it, else at the top of SRAM; PC at the entry.
//! The run ends at the first `bkpt` (or resumes over `--resume` of them first). `--out` writes
//! the flash afterwards (to a new file beside it, then renamed over).

use std::path::PathBuf;
use std::process::ExitCode;

use avm_jit_emu::{load_elf, Rp2040, Stop, SRAM_BASE, SRAM_SIZE};

struct Args {
    elf: PathBuf,
    flash: Option<PathBuf>,
    flash_size: usize,
    limit: u64,
    resume: u32,
    out: Option<PathBuf>,
    dump: Vec<(u32, u32)>,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args_os().skip(1);
    let mut args = Args {
        elf: PathBuf::new(),
        flash: None,
        flash_size: 2 << 20,
        limit: 50_000_000_000,
        resume: 0,
        out: None,
        dump: Vec::new(),
    };
    let mut elf = None;
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))
                .map(|v| v.to_string_lossy().into_owned())
        };
        let number = |s: String, name: &str| -> Result<u64, String> {
            s.replace('_', "")
                .parse()
                .map_err(|_| format!("{name}: not a number: {s}"))
        };
        match a.to_str() {
            Some("--flash") => args.flash = Some(value("--flash")?.into()),
            Some("--flash-size") => {
                args.flash_size = number(value("--flash-size")?, "--flash-size")? as usize
            }
            Some("--limit") => args.limit = number(value("--limit")?, "--limit")?,
            Some("--resume") => args.resume = number(value("--resume")?, "--resume")? as u32,
            Some("--out") => args.out = Some(value("--out")?.into()),
            Some("--dump") => {
                let v = value("--dump")?;
                let (a, n) = v.split_once(':').ok_or("--dump wants ADDR:LEN")?;
                let hex = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16);
                let parsed = hex(a).ok().zip(n.parse::<u32>().ok());
                args.dump
                    .push(parsed.ok_or(format!("--dump {v}: want hex ADDR:decimal LEN"))?);
            }
            _ if elf.is_none() => elf = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument {}", a.to_string_lossy())),
        }
    }
    args.elf = elf.ok_or("usage: run_elf PROGRAM.elf [--flash IMAGE | --flash-size BYTES] [--limit N] [--resume N] [--out IMAGE] [--dump HEXADDR:LEN]")?;
    Ok(args)
}

fn run(args: &Args) -> Result<(), String> {
    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let elf = read(&args.elf)?;
    let flash = match &args.flash {
        Some(p) => read(p)?,
        None => vec![0xff; args.flash_size],
    };
    let mut chip = Rp2040::new(flash).map_err(|e| e.to_string())?;
    let loaded = load_elf(&mut chip, &elf).map_err(|e| format!("{}: {e}", args.elf.display()))?;
    let sp = loaded.stack_start.unwrap_or(SRAM_BASE + SRAM_SIZE);
    chip.set_sp_pc(sp, loaded.entry);
    println!(
        "{}: entry {:#010x}, sp {sp:#010x}, {} byte(s) in SRAM",
        args.elf.display(),
        loaded.entry,
        loaded.segments.iter().map(|s| s.1 as u64).sum::<u64>()
    );
    let t = std::time::Instant::now();
    let mut resumes = args.resume;
    let outcome = loop {
        let left = args.limit.saturating_sub(chip.stats().instructions);
        match chip.run(left) {
            Ok(Stop::Breakpoint { imm, pc }) if resumes > 0 => {
                println!("bkpt #{imm} at {pc:#010x}: resuming");
                resumes -= 1;
            }
            Ok(Stop::Breakpoint { imm, pc }) => break format!("bkpt #{imm} at {pc:#010x}"),
            Ok(Stop::InstructionLimit) => break format!("instruction limit {}", args.limit),
            Ok(Stop::PowerCut) => break "power cut".into(),
            Err(e) => break format!("error: {e}"),
        }
    };
    let host = t.elapsed();
    let s = chip.stats();
    let cpu_us = s.estimated_us - s.flash_busy_us;
    println!("stop                  {outcome}");
    println!("instructions          {}", s.instructions);
    println!("device ms (cpu)       {:.3}", cpu_us as f64 / 1000.0);
    println!(
        "device ms (flash)     {:.3}",
        s.flash_busy_us as f64 / 1000.0
    );
    println!(
        "device ms (total)     {:.3}",
        s.estimated_us as f64 / 1000.0
    );
    println!("stack used            {} bytes", sp - chip.lowest_sp());
    println!(
        "erase calls           {} ({} bytes)",
        s.erase_calls, s.erased_bytes
    );
    println!(
        "program calls         {} ({} bytes)",
        s.program_calls, s.programmed_bytes
    );
    println!(
        "host time             {:.3} s ({:.1} M instructions/s)",
        host.as_secs_f64(),
        s.instructions as f64 / host.as_secs_f64().max(1e-9) / 1e6
    );
    for &(addr, len) in &args.dump {
        let mut buf = vec![0u8; len.min(1 << 20) as usize];
        chip.read_memory(addr, &mut buf)
            .map_err(|e| e.to_string())?;
        for (i, w) in buf.chunks(4).enumerate() {
            let mut b = [0u8; 4];
            b[..w.len()].copy_from_slice(w);
            print!(
                "{:08x}{}",
                u32::from_le_bytes(b),
                if i % 8 == 7 { "\n" } else { " " }
            );
        }
        println!();
    }
    if let Some(out) = &args.out {
        let tmp = out.with_extension("tmp-run-elf");
        std::fs::write(&tmp, chip.flash())
            .and_then(|()| std::fs::rename(&tmp, out))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("{}: {e}", out.display())
            })?;
        println!("flash written to {}", out.display());
    }
    if outcome.starts_with("error") {
        return Err(outcome);
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse().and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("run_elf: {e}");
            ExitCode::FAILURE
        }
    }
}

//! avm-jit: compile BEAM modules to native ARMv6-M code for AtomVM, and put them on a Pico or a
//! Pico 2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[macro_use]
mod files;

mod aot;
mod check;
mod compare;
mod compile;
mod device;
mod device_mode;
mod disasm;
mod flash;
mod image_info;
mod info;
mod pack;
mod prefill;

/// Exit codes, also in the README.
const EXIT_CODES: &str = "\
Exit status: 0 success; 1 failure (bad input, refused output, a module that did not compile, files
that differ, standard output that could not be written; a closed pipe ends the command quietly with
1); 2 usage error (unknown option, missing argument).

Inputs are read only from regular files of at most 16 MiB (what a Pico's flash can map); a flash
image at most --flash-size. Outputs are written to a temporary file beside them and renamed when
complete: an output is the complete new file or the untouched old one, never an input.";

#[derive(Parser)]
#[command(name = "avm-jit", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe .beam and .avm files, or what is in a flash (--image / --probe).
    Info(InfoArgs),
    /// Add native code (avmN chunks) to .beam and .avm files.
    Compile(compile::CompileArgs),
    /// Write an application AVM to a Pico or Pico 2 (probe), a flash image or a UF2 file.
    Flash(flash::FlashArgs),
    /// Disassemble the native code of a .beam, .avm or .avmN file.
    Disasm(disasm::DisasmArgs),
    /// Compare the native code of two files, module by module.
    Compare(compare::CompareArgs),
    /// Pack .beam files into an AVM, as atomvm_packbeam does.
    Pack(pack::PackArgs),
}

#[derive(clap::Args)]
struct InfoArgs {
    /// .beam and .avm files.
    #[arg(value_name = "FILE", required_unless_present_any = ["image", "probe"], conflicts_with_all = ["image", "probe"])]
    files: Vec<PathBuf>,
    /// A flash image (the whole flash from 0x10000000).
    #[arg(long, value_name = "FILE", conflicts_with = "probe")]
    image: Option<PathBuf>,
    /// Read the flash of a Pico or Pico 2 behind a debug probe (the only one attached, or `--probe=VID:PID[:SERIAL]`).
    #[arg(long, value_name = "SELECTOR", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    probe: Option<String>,
    /// The chip: rp2040 (Raspberry Pi Pico), rp2350 (Raspberry Pi Pico 2) or rp2350-riscv (Pico 2, RISC-V cores).
    #[arg(long, value_name = "CHIP", default_value = "rp2040")]
    target: String,
    /// Flash size for --image/--probe [default: 2M for rp2040, 4M for rp2350(-riscv)].
    #[arg(long, value_parser = flash::parse_number)]
    flash_size: Option<u32>,
    /// Where main.avm sits in flash (also: where an AVM given as FILE would be flashed).
    #[arg(long, value_parser = flash::parse_number, default_value = "0x10180000")]
    address: u32,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Flash(args) => flash::run_flash(&args).map(|()| true),
        Command::Info(args) if args.files.is_empty() => image_info::run_info(
            args.image.as_deref(),
            args.probe.as_deref(),
            &args.target,
            args.flash_size,
            args.address,
            args.json,
        ),
        Command::Info(args) => info::run(
            &args.files,
            &args.target,
            args.flash_size,
            args.address,
            args.json,
        )
        .map(|()| true),
        Command::Compile(args) => compile::run(&args),
        Command::Disasm(args) => disasm::run_disasm(&args).map(|()| true),
        Command::Compare(args) => compare::run_compare(&args),
        Command::Pack(args) => pack::run(&args).map(|()| true),
    }
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so a closed pipe is a write error, handled below rather than a signal.
    match run(Cli::parse()).and_then(|ok| files::flush_stdout().map(|()| ok)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            let stdout = e
                .chain()
                .find_map(|c| c.downcast_ref::<files::StdoutError>());
            match stdout {
                Some(files::StdoutError(io)) if io.kind() == std::io::ErrorKind::BrokenPipe => {}
                _ => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

//! avm-jit: compile BEAM modules to native ARMv6-M code for AtomVM, and put them on a Pico.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod aot;
mod device;
mod flash;

#[derive(Parser)]
#[command(name = "avm-jit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write an application AVM to a Pico (probe), a flash image or a UF2 file.
    Flash(flash::FlashArgs),
    /// Describe files, or what is in a flash (--image / --probe).
    Info(InfoArgs),
}

#[derive(clap::Args)]
struct InfoArgs {
    /// A flash image (the whole flash from 0x10000000).
    #[arg(long, value_name = "FILE", conflicts_with = "probe")]
    image: Option<PathBuf>,
    /// Read the flash of a Pico behind a debug probe (the only one attached, or `--probe=VID:PID[:SERIAL]`).
    #[arg(long, value_name = "SELECTOR", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    probe: Option<String>,
    /// Flash size for --image/--probe.
    #[arg(long, value_parser = flash::parse_number, default_value = "2M")]
    flash_size: u32,
    /// Address of main.avm for --image/--probe.
    #[arg(long, value_parser = flash::parse_number, default_value = "0x10180000")]
    address: u32,
    #[arg(long)]
    json: bool,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Flash(args) => flash::run_flash(&args),
        Command::Info(args) => flash::run_info(
            args.image.as_deref(),
            args.probe.as_deref(),
            args.flash_size,
            args.address,
            args.json,
        ),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

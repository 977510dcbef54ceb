//! avm-jit: compile BEAM modules to native ARMv6-M code for AtomVM, and put them on a Pico.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod aot;
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

#[derive(Parser)]
#[command(name = "avm-jit", version, about)]
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
    /// Write an application AVM to a Pico (probe), a flash image or a UF2 file.
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
    /// Read the flash of a Pico behind a debug probe (the only one attached, or `--probe=VID:PID[:SERIAL]`).
    #[arg(long, value_name = "SELECTOR", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    probe: Option<String>,
    /// Flash size for --image/--probe.
    #[arg(long, value_parser = flash::parse_number, default_value = "2M")]
    flash_size: u32,
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
            args.flash_size,
            args.address,
            args.json,
        )
        .map(|()| true),
        Command::Info(args) => info::run(&args.files, args.address, args.json).map(|()| true),
        Command::Compile(args) => compile::run(&args),
        Command::Disasm(args) => disasm::run_disasm(&args).map(|()| true),
        Command::Compare(args) => compare::run_compare(&args),
        Command::Pack(args) => pack::run(&args).map(|()| true),
    }
}

/// Die quietly on a closed pipe (`avm-jit disasm x.beam | head`), as Unix tools do, instead of
/// panicking on the failed write.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default is async-signal-safe and done before
    // any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! avm-jit: compile BEAM modules to native ARMv6-M code for AtomVM, and put them on a Pico or a
//! Pico 2.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[macro_use]
mod files;

mod aot;
mod args;
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
    Info(info::InfoArgs),
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

fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Flash(args) => flash::run_flash(&args).map(|()| true),
        Command::Info(args) => info::run(&args),
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

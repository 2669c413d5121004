//! The `ocellus` binary: glue over the library's command-line front ends.
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    // Run as ra, rasort, ... (links made by `ocellus install-aliases`).
    match ocellus::cli::aliases::command_for(&argv0) {
        Some(cmd) => {
            ocellus::cli::main_with_args(std::iter::once(cmd.to_string()).chain(rest).collect())
        }
        None => ocellus::cli::main_with_args(rest),
    }
}

//! The `ocellus` binary: glue over the library's command-line front ends.
use std::process::ExitCode;

fn main() -> ExitCode {
    ocellus::cli::main_with_args(std::env::args().skip(1).collect())
}

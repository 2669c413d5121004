//! Writes every crafted scenario capture into a directory:
//! `cargo run -p ocellus-tests --bin write-scenarios -- DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: write-scenarios DIR");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for s in ocellus_tests::all_scenarios() {
        let path = dir.join(format!("{}.pcap", s.name));
        if let Err(e) = (s.write)(&path) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}\t{}", path.display(), s.description);
    }
    ExitCode::SUCCESS
}

//! Running the real programs the tests compare: the `ocellus` binary, and
//! Argus's `argus` and `ra`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The shared real-capture corpus (`../shared/corpus/real` beside the checkout).
pub fn corpus_dir() -> PathBuf {
    root().join("../shared/corpus/real")
}

/// The release `ocellus` binary, built once per test process (`OCELLUS_BIN`
/// overrides it).
pub fn ocellus_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("OCELLUS_BIN") {
            return PathBuf::from(p);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--release",
                "-p",
                "ocellus",
                "--bin",
                "ocellus",
            ])
            .current_dir(root())
            .status()
            .expect("cannot run cargo to build the ocellus binary");
        assert!(status.success(), "building the ocellus binary failed");
        root().join("target/release/ocellus")
    })
    .clone()
}

/// Runs a command and returns its output; panics with the command line when it
/// cannot start.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()))
}

/// Whether Argus (server and client) is installed. CI installs it; a test that
/// needs it fails with this message rather than skipping.
pub fn require_argus() {
    for p in ["/usr/sbin/argus", "/usr/bin/ra"] {
        assert!(
            Path::new(p).exists(),
            "{p} is missing: install Debian's argus-server and argus-client (cargo xtask setup does)"
        );
    }
}

/// An installed Argus client (`/usr/bin/rasort` ...), run with `-X` (no rarc).
pub fn argus_client(name: &str) -> Command {
    let mut c = Command::new(Path::new("/usr/bin").join(name));
    c.arg("-X");
    c
}

/// An `ocellus` subcommand.
pub fn ocellus(sub: &str) -> Command {
    let mut c = Command::new(ocellus_bin());
    c.arg(sub);
    c
}

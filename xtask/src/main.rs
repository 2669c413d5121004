//! Project tasks: `cargo xtask setup | run | test | bench`.
//!
//! `setup` checks (and, as root on Debian, installs) everything the build and
//! the tests need, and says exactly what is missing otherwise. `run` builds the
//! probe in release mode and runs `ocellus probe` with the given arguments.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "ocellus project tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check and install the build and test prerequisites.
    Setup {
        /// Only check; install nothing.
        #[arg(long)]
        check: bool,
    },
    /// Build the probe (release) and run `ocellus probe ARGS...`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the whole test suite (setup check first).
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a benchmark: `replay` (default).
    Bench {
        #[arg(default_value = "replay")]
        which: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Debian packages the project needs, with the command that proves each is there.
const PACKAGES: &[(&str, &str)] = &[
    ("argus-server", "/usr/sbin/argus"),
    ("argus-client", "/usr/bin/ra"),
    ("tcpdump", "/usr/bin/tcpdump"),
    ("netbase", "/etc/services"),
    ("libpcap-dev", "/usr/include/pcap.h"),
    ("iproute2", "/usr/sbin/ip"),
    ("ethtool", "/usr/sbin/ethtool"),
    ("tcpreplay", "/usr/bin/tcpreplay"),
    // The HTML report's rendering test (tests/tests/graph.rs).
    ("chromium", "/usr/bin/chromium"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed with {status}", cmd);
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn setup(check_only: bool) -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, path)| !Path::new(path).exists())
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        eprintln!("setup: all Debian packages present.");
    } else if check_only || !is_root() || !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "missing Debian packages: {}. Install them with: apt-get install -y {}",
            missing.join(" "),
            missing.join(" ")
        );
    } else {
        eprintln!("setup: installing {}", missing.join(" "));
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let corpus = root().join("../shared/corpus/real");
    if !corpus.is_dir() {
        eprintln!(
            "setup: note: {} is missing; the corpus tests need the shared corpus beside the checkout.",
            corpus.display()
        );
    }
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Setup { check } => setup(check),
        Cmd::Run { args } => (|| {
            setup(false)?;
            run(cargo().args(["build", "--release", "-p", "ocellus"]))?;
            let bin = root().join("target/release/ocellus");
            run(Command::new(bin).arg("probe").args(&args))
        })(),
        Cmd::Test { args } => (|| {
            setup(false)?;
            run(cargo().args(["build", "--release", "-p", "ocellus"]))?;
            run(cargo().args(["test", "--workspace"]).args(&args))
        })(),
        Cmd::Bench { which, args } => (|| {
            setup(false)?;
            run(cargo().args(["build", "--release", "-p", "ocellus", "-p", "ocellus-bench"]))?;
            let bin = root().join("target/release/ocellus-bench");
            run(Command::new(bin)
                .arg(&which)
                .args(&args)
                .current_dir(root()))
        })(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

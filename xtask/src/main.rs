//! Project tasks: `cargo xtask setup | run | test | bench`.
//!
//! `setup` checks (and, as root on Debian, installs) everything the build and
//! the tests need, and says exactly what is missing otherwise. `build-ebpf`
//! builds the XDP program (nightly, `-Z build-std=core`, bpf-linker) into
//! `target/ebpf/`, where `probe-user/build.rs` finds it. `run` builds the probe
//! in release mode (and the XDP program first when the arguments capture live
//! with `--iface`) and runs `ocellus probe` with the given arguments.

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
    /// Build the XDP program (needs nightly with rust-src and bpf-linker: `cargo xtask setup`).
    BuildEbpf,
    /// Build the probe (release) and run `ocellus probe ARGS...` (live capture
    /// with `--iface` builds the XDP program first and needs root).
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the whole test suite (setup check first).
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a benchmark: `replay` (default), `live` (veth, trafgen; as root), or
    /// `clients` (ra/rasort/racluster against ocellus read/sort/cluster over the
    /// records of a generated 16M-packet capture probed with `-S 1`, or
    /// `clients --pcap FILE`).
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
    // trafgen, for `cargo xtask bench live`.
    ("netsniff-ng", "/usr/sbin/trafgen"),
    ("softflowd", "/usr/sbin/softflowd"),
    ("nfdump", "/usr/bin/nfcapd"),
    ("bpftool", "/usr/sbin/bpftool"),
    ("iputils-ping", "/usr/bin/ping"),
    // The HTML report's rendering test (tests/tests/graph.rs).
    ("chromium", "/usr/bin/chromium"),
];

/// The bpf-linker release that links with the nightly's LLVM (see
/// ../shared/TOOLCHAIN.md: 0.11 needs a system LLVM 23, 0.10.0 emits bad BTF).
const BPF_LINKER: &str = "bpf-linker@0.10.4";

/// Where `build-ebpf` leaves the XDP object (probe-user/build.rs looks here).
const EBPF_OBJ: &str = "target/ebpf/bpfel-unknown-none/release/ocellus-xdp";

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
    ebpf_toolchain(check_only)?;
    let corpus = root().join("../shared/corpus/real");
    if !corpus.is_dir() {
        eprintln!(
            "setup: note: {} is missing; the corpus tests need the shared corpus beside the checkout.",
            corpus.display()
        );
    }
    Ok(())
}

fn has_bpf_linker() -> bool {
    Command::new("bpf-linker")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The eBPF toolchain: nightly with rust-src, and bpf-linker.
fn ebpf_toolchain(check_only: bool) -> Result<()> {
    let rust_src = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("rust-src"))
        })
        .unwrap_or(false);
    if !rust_src {
        if check_only {
            bail!("the XDP program needs nightly with rust-src: rustup toolchain install nightly --component rust-src");
        }
        eprintln!("setup: installing nightly with rust-src");
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))?;
    }
    if !has_bpf_linker() {
        if check_only {
            bail!("the XDP program needs bpf-linker: cargo +nightly install {BPF_LINKER} --locked");
        }
        eprintln!("setup: installing {BPF_LINKER} (a few minutes)");
        run(Command::new("cargo")
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .args(["+nightly", "install", BPF_LINKER, "--locked"]))?;
    }
    Ok(())
}

/// Builds the XDP program into `EBPF_OBJ`.
fn build_ebpf() -> Result<()> {
    ebpf_toolchain(false)?;
    let dir = root().join("probe-ebpf");
    // The stable toolchain's variables must not leak into the nightly build.
    run(Command::new("cargo")
        .current_dir(&dir)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", "-Clink-arg=--btf")
        .args([
            "+nightly",
            "build",
            "-Z",
            "build-std=core",
            "--target",
            "bpfel-unknown-none",
            "--release",
            "--locked",
            "--target-dir",
        ])
        .arg(root().join("target/ebpf")))?;
    let obj = root().join(EBPF_OBJ);
    if !obj.is_file() {
        bail!("the eBPF build finished but {} is missing", obj.display());
    }
    // probe-user/build.rs embeds the object; make it look again.
    let script = root().join("probe-user/build.rs");
    if let Ok(f) = std::fs::File::options().append(true).open(&script) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
    eprintln!("build-ebpf: {}", obj.display());
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
        Cmd::BuildEbpf => build_ebpf(),
        Cmd::Run { args } => (|| {
            setup(false)?;
            if args
                .iter()
                .any(|a| a == "--iface" || a.starts_with("--iface="))
            {
                build_ebpf()?;
            }
            run(cargo().args(["build", "--release", "-p", "ocellus"]))?;
            let bin = root().join("target/release/ocellus");
            run(Command::new(bin).arg("probe").args(&args))
        })(),
        Cmd::Test { args } => (|| {
            setup(false)?;
            // The live-capture tests load the XDP program.
            build_ebpf()?;
            run(cargo().args(["build", "--release", "-p", "ocellus"]))?;
            run(cargo().args(["test", "--workspace"]).args(&args))
        })(),
        Cmd::Bench { which, args } => (|| {
            setup(false)?;
            if which == "live" {
                // The AF_XDP consumers need the XDP program.
                build_ebpf()?;
            }
            run(cargo().args(["build", "--release", "-p", "ocellus", "-p", "ocellus-bench"]))?;
            let bin = root().join("target/release/ocellus-bench");
            let mut args = args;
            if which == "replay" && !args.iter().any(|a| a == "--pcap") {
                // The default input: the deterministic 10M-packet capture,
                // generated once into bench/work/ (ignored by git).
                let pcap = root().join("bench/work/replay.pcap");
                if !pcap.exists() {
                    std::fs::create_dir_all(root().join("bench/work"))?;
                    run(Command::new(&bin).arg("gen").arg("-o").arg(&pcap))?;
                }
                args.splice(0..0, ["--pcap".to_string(), pcap.display().to_string()]);
                if !args.iter().any(|a| a == "--workers") {
                    args.extend(["--workers", "1", "2"].map(String::from));
                }
            }
            if which == "clients" && !args.iter().any(|a| a == "--pcap") {
                // The default input: a 16M-packet capture whose flows, probed
                // with `-S 1`, make about 10.6 million records.
                let pcap = root().join("bench/work/clients.pcap");
                if !pcap.exists() {
                    std::fs::create_dir_all(root().join("bench/work"))?;
                    run(Command::new(&bin).arg("gen").arg("-o").arg(&pcap).args([
                        "--packets",
                        "16000000",
                        "--flows",
                        "1280000",
                        "--duration-s",
                        "96",
                    ]))?;
                }
                args.splice(0..0, ["--pcap".to_string(), pcap.display().to_string()]);
                if !args.iter().any(|a| a == "--status-interval") {
                    args.extend(["--status-interval", "1"].map(String::from));
                }
            }
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

//! Project tasks: `cargo xtask setup | run | test | bench | pgo`.
//!
//! `setup` checks (and, as root on Debian, installs) everything the build and
//! the tests need, and says exactly what is missing otherwise. `build-ebpf`
//! builds the XDP program (nightly, `-Z build-std=core`, bpf-linker) into
//! `target/ebpf/`, where `probe-user/build.rs` finds it. `run` builds the probe
//! in release mode (and the XDP program first when the arguments capture live
//! with `--iface`) and runs `ocellus probe` with the given arguments. `pgo`
//! builds the probe again with profile-guided optimisation (see [`pgo`]).

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
        /// Run the profile-guided build (`cargo xtask pgo`) instead.
        #[arg(long)]
        pgo: bool,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the probe with profile-guided optimisation into target/pgo/ocellus:
    /// an instrumented build replays a generated capture (and the shared
    /// corpus), and the release build is optimised with that profile.
    Pgo,
    /// Run the whole test suite (setup check first).
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a benchmark: `replay` (default), `live` (veth, trafgen; as root), or
    /// `clients` (ra/rasort/racluster against ocellus read/sort/cluster over the
    /// records of a generated 16M-packet capture probed with `-S 1`, or
    /// `clients --pcap FILE`). `replay --pgo` also times the profile-guided
    /// build (`cargo xtask pgo`) beside the plain one.
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

/// The major version of the LLVM that rustc is built with (`rustc -vV`):
/// profiles must be merged by an `llvm-profdata` of the same major version.
fn rustc_llvm_major() -> Result<u32> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .with_context(|| format!("cannot run {rustc} -vV"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.trim().parse().ok())
        .with_context(|| format!("no LLVM version in `{rustc} -vV`: {text}"))
}

/// Debian's `llvm-N` package has the `llvm-profdata` for LLVM N here.
fn llvm_profdata_path(major: u32) -> PathBuf {
    PathBuf::from(format!("/usr/lib/llvm-{major}/bin/llvm-profdata"))
}

/// `llvm-profdata` for rustc's LLVM, which `pgo` needs (and only it, so
/// `setup` leaves it out): installed as Debian's `llvm-N` package as root on
/// Debian, otherwise an error that says how.
fn llvm_profdata_installed() -> Result<PathBuf> {
    let major = rustc_llvm_major()?;
    let tool = llvm_profdata_path(major);
    if tool.is_file() {
        return Ok(tool);
    }
    let pkg = format!("llvm-{major}");
    if !is_root() || !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "profile-guided builds need llvm-profdata for LLVM {major} (rustc's): apt-get install -y {pkg}"
        );
    }
    eprintln!("pgo: installing {pkg} (llvm-profdata)");
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", &pkg])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    if !tool.is_file() {
        bail!("{pkg} is installed but {} is missing", tool.display());
    }
    Ok(tool)
}

/// `cargo` with these rustc flags, in a target directory of its own (so the
/// plain release build is left alone).
fn cargo_with_flags(target_dir: &Path, flags: &str) -> Command {
    let mut c = cargo();
    c.env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", flags)
        .env("CARGO_TARGET_DIR", target_dir);
    c
}

/// The profile-guided build of the probe, `target/pgo/ocellus`.
///
/// 1. An instrumented build (`-Cprofile-generate`) in `target/pgo/gen`.
/// 2. Training: it replays a generated capture (2M packets, 150k flows, a
///    different seed from the benchmark's) with one worker and with two,
///    once with `-J -U 32`, replays every capture of the shared corpus, and
///    reads its records back. The training is redone only when the
///    instrumented binary has changed.
/// 3. `llvm-profdata merge`, and the release build with `-Cprofile-use` in
///    `target/pgo/use`, copied to `target/pgo/ocellus`.
///
/// Live capture (XDP, AF_XDP, libpcap) is not in the training: its code is
/// compiled as rarely run, with the same optimisation level.
fn pgo() -> Result<PathBuf> {
    let tool = llvm_profdata_installed()?;
    let dir = root().join("target/pgo");
    let raw = dir.join("raw");
    let profile = dir.join("ocellus.profdata");
    run(cargo_with_flags(
        &dir.join("gen"),
        &format!("-Cprofile-generate={}", raw.display()),
    )
    .args(["build", "--release", "-p", "ocellus"]))?;
    let instrumented = dir.join("gen/release/ocellus");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (modified(&profile), modified(&instrumented)) {
        (Some(p), Some(i)) => p < i,
        _ => true,
    };
    if stale {
        run(cargo().args(["build", "--release", "-p", "ocellus-bench"]))?;
        let train = root().join("bench/work/train.pcap");
        if !train.exists() {
            std::fs::create_dir_all(root().join("bench/work"))?;
            run(Command::new(root().join("target/release/ocellus-bench"))
                .arg("gen")
                .arg("-o")
                .arg(&train)
                .args(["--packets", "2000000", "--flows", "150000"])
                .args(["--concurrency", "50000", "--seed", "7"]))?;
        }
        if raw.exists() {
            std::fs::remove_dir_all(&raw)?;
        }
        let ocr = dir.join("train.ocr");
        let probe = |extra: &[&str]| -> Result<()> {
            run(Command::new(&instrumented)
                .arg("probe")
                .arg("-r")
                .arg(&train)
                .arg("-w")
                .arg(&ocr)
                .args(extra))
        };
        eprintln!("pgo: training on {}", train.display());
        probe(&["--workers", "2", "-J", "-U", "32"])?;
        probe(&["--workers", "2"])?;
        probe(&["--workers", "1"])?;
        run(Command::new(&instrumented)
            .arg("read")
            .arg("-r")
            .arg(&ocr)
            .stdout(std::process::Stdio::null()))?;
        // The real corpus, malformed captures included: whether each one
        // goes through is the tests' business, not the training's.
        let corpus = root().join("../shared/corpus/real");
        if let Ok(tsv) = std::fs::read_to_string(corpus.join("SOURCES.tsv")) {
            let files: Vec<PathBuf> = tsv
                .lines()
                .skip(1)
                .filter_map(|l| l.split('\t').next())
                .filter(|name| !name.is_empty())
                .map(|name| corpus.join(name))
                .collect();
            eprintln!(
                "pgo: training on {} captures of {}",
                files.len(),
                corpus.display()
            );
            for f in files {
                let _ = Command::new(&instrumented)
                    .arg("probe")
                    .arg("-r")
                    .arg(&f)
                    .args(["-w", "/dev/null"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
        std::fs::remove_file(&ocr)?;
        run(Command::new(&tool)
            .arg("merge")
            .arg("-o")
            .arg(&profile)
            .arg(&raw))?;
    }
    run(cargo_with_flags(
        &dir.join("use"),
        &format!("-Cprofile-use={}", profile.display()),
    )
    .args(["build", "--release", "-p", "ocellus"]))?;
    let bin = dir.join("ocellus");
    std::fs::copy(dir.join("use/release/ocellus"), &bin)
        .with_context(|| format!("cannot copy the profile-guided build to {}", bin.display()))?;
    eprintln!("pgo: {}", bin.display());
    Ok(bin)
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
        Cmd::Run {
            pgo: with_pgo,
            args,
        } => (|| {
            setup(false)?;
            if args
                .iter()
                .any(|a| a == "--iface" || a.starts_with("--iface="))
            {
                build_ebpf()?;
            }
            let bin = if with_pgo {
                pgo()?
            } else {
                run(cargo().args(["build", "--release", "-p", "ocellus"]))?;
                root().join("target/release/ocellus")
            };
            run(Command::new(bin).arg("probe").args(&args))
        })(),
        Cmd::Pgo => (|| {
            setup(false)?;
            pgo().map(|_| ())
        })(),
        Cmd::Test { args } => (|| {
            setup(false)?;
            // The live-capture tests load the XDP program.
            build_ebpf()?;
            run(cargo().args(["build", "--release", "-p", "ocellus"]))?;
            // tests/tests/pgo.rs checks the profile-guided build's records.
            let pgo_bin = pgo()?;
            run(cargo()
                .args(["test", "--workspace"])
                .args(&args)
                .env("OCELLUS_PGO_BIN", pgo_bin))
        })(),
        Cmd::Bench { which, args } => (|| {
            setup(false)?;
            if which == "live" {
                // The AF_XDP consumers need the XDP program.
                build_ebpf()?;
            }
            let mut args = args;
            let with_pgo = which == "replay" && args.iter().any(|a| a == "--pgo");
            args.retain(|a| !(which == "replay" && a == "--pgo"));
            if with_pgo {
                let pgo_bin = pgo()?;
                args.extend(["--ocellus-pgo".to_string(), pgo_bin.display().to_string()]);
            }
            run(cargo().args(["build", "--release", "-p", "ocellus", "-p", "ocellus-bench"]))?;
            let bin = root().join("target/release/ocellus-bench");
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

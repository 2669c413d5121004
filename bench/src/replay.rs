//! The replay benchmark: ocellus, argus and tcpdump read the same capture in one
//! session; each child's wall time, CPU time and peak RSS are measured with
//! `wait4` and compared.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{json, Value};

/// What to run.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub pcap: PathBuf,
    /// Path of the ocellus binary.
    pub ocellus: PathBuf,
    /// One ocellus run per value (`--workers N`); empty = one run without the flag.
    pub workers: Vec<u32>,
    /// Extra arguments for `ocellus probe`.
    pub ocellus_args: Vec<String>,
    pub argus: String,
    pub tcpdump: String,
    /// Where the JSON and markdown results go.
    pub results_dir: PathBuf,
    /// Runs per tool; the fastest (least wall time) is reported.
    pub repeat: u32,
}

/// Measurements of one child process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    pub wall_s: f64,
    pub user_s: f64,
    pub sys_s: f64,
    /// Peak resident set size in KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
    /// Exit code, or 128 + signal.
    pub exit_code: i32,
}

impl Usage {
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }
}

/// One tool's run (or why it did not run).
#[derive(Clone, Debug)]
pub struct ToolRun {
    /// `ocellus`, `ocellus --workers 4`, `argus`, `tcpdump`.
    pub label: String,
    pub tool: &'static str,
    pub command: Vec<String>,
    pub usage: Option<Usage>,
    pub skipped: Option<String>,
    pub stderr_tail: String,
    pub output_bytes: Option<u64>,
    /// CPU seconds of every successful run, in round order.
    pub cpu_runs: Vec<f64>,
}

impl ToolRun {
    pub fn ok(&self) -> bool {
        self.usage.as_ref().is_some_and(|u| u.exit_code == 0)
    }

    /// The median of [`ToolRun::cpu_runs`] (the mean of the middle two for
    /// an even count).
    pub fn cpu_median(&self) -> Option<f64> {
        let mut v = self.cpu_runs.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }
}

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read the capture {path}: {source}")]
    Input { path: PathBuf, source: io::Error },
    #[error("cannot write results to {path}: {source}")]
    Results { path: PathBuf, source: io::Error },
    #[error("cannot create the scratch directory {path}: {source}")]
    Scratch { path: PathBuf, source: io::Error },
}

/// Spawns `argv` and waits for it with `wait4`, returning its rusage.
pub fn measure(argv: &[String]) -> io::Result<(Usage, String)> {
    let Some((prog, args)) = argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let stderr_file = tempfile_path("stderr");
    let stderr = std::fs::File::create(&stderr_file)?;
    let start = Instant::now();
    let child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills in; zeroed is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = loop {
        // SAFETY: `pid` is our child, not yet reaped (std never waits on a Child
        // by itself); `status` and `ru` are valid for writes.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if rc == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        break rc;
    };
    let wall_s = start.elapsed().as_secs_f64();
    // The child was reaped by wait4; dropping `Child` neither waits nor kills.
    drop(child);
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    let exit_code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let usage = Usage {
        wall_s,
        user_s: tv(ru.ru_utime),
        sys_s: tv(ru.ru_stime),
        max_rss_kib: u64::try_from(ru.ru_maxrss).unwrap_or(0),
        exit_code,
    };
    let text = std::fs::read(&stderr_file).unwrap_or_default();
    let _ = std::fs::remove_file(&stderr_file);
    let text = String::from_utf8_lossy(&text);
    let tail: String = text
        .lines()
        .rev()
        .take(10)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    Ok((usage, tail))
}

fn tempfile_path(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("ocellus-bench-{}-{n}.{what}", std::process::id()))
}

/// Finds `name` on PATH (or accepts a path that exists).
fn find_tool(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// One tool to time: what to run, and the file it writes (removed before
/// each run and at the end).
struct Job {
    label: String,
    tool: &'static str,
    argv: Vec<String>,
    out_file: Option<PathBuf>,
}

/// Runs every job `repeat` times, in rounds: each round runs every job
/// once, so that a noisy spell of the machine falls on all the tools
/// alike rather than on the repeats of one (the ratios are what the
/// benchmark reports). Each job keeps its best run (least wall time); a
/// job that fails or cannot start is not run again.
fn run_rounds(jobs: Vec<Job>, repeat: u32) -> Vec<ToolRun> {
    let mut runs: Vec<ToolRun> = jobs
        .iter()
        .map(|j| ToolRun {
            command: j.argv.clone(),
            skipped: None,
            ..skipped_quietly(&j.label, j.tool)
        })
        .collect();
    let mut stopped = vec![false; jobs.len()];
    for _ in 0..repeat.max(1) {
        for (k, job) in jobs.iter().enumerate() {
            if stopped[k] {
                continue;
            }
            let run = &mut runs[k];
            if let Some(f) = &job.out_file {
                // argus -w appends; every tool starts from no output file.
                let _ = std::fs::remove_file(f);
            }
            eprintln!("Running {}: {}", job.label, job.argv.join(" "));
            match measure(&job.argv) {
                Ok((u, t)) => {
                    let failed = u.exit_code != 0;
                    run.stderr_tail = t;
                    run.output_bytes = job
                        .out_file
                        .as_ref()
                        .and_then(|f| std::fs::metadata(f).ok())
                        .map(|m| m.len());
                    if !failed {
                        run.cpu_runs.push(u.cpu_s());
                    }
                    if run.usage.as_ref().is_none_or(|b| u.wall_s < b.wall_s) || failed {
                        run.usage = Some(u);
                    }
                    stopped[k] = failed;
                }
                Err(e) => {
                    run.usage = None;
                    run.skipped = Some(format!("cannot start: {e}"));
                    stopped[k] = true;
                }
            }
        }
    }
    for f in jobs.iter().filter_map(|j| j.out_file.as_ref()) {
        let _ = std::fs::remove_file(f);
    }
    runs
}

fn skipped(label: &str, tool: &'static str, why: String) -> ToolRun {
    eprintln!("Skipping {label}: {why}");
    ToolRun {
        skipped: Some(why),
        ..skipped_quietly(label, tool)
    }
}

/// Runs every tool on the capture.
pub fn run_all(opts: &ReplayOptions) -> Result<Vec<ToolRun>, ReplayError> {
    let pcap = opts.pcap.to_string_lossy().into_owned();
    std::fs::metadata(&opts.pcap).map_err(|source| ReplayError::Input {
        path: opts.pcap.clone(),
        source,
    })?;
    let scratch = std::env::temp_dir().join(format!("ocellus-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|source| ReplayError::Scratch {
        path: scratch.clone(),
        source,
    })?;
    let ocr = scratch.join("x.ocr");
    let argus_out = scratch.join("x.argus");
    // The tools that can run, in the report's order; a missing one is
    // reported as skipped in its place.
    let mut runs = Vec::new();
    let mut jobs = Vec::new();
    let mut places = Vec::new();

    if opts.ocellus.is_file() {
        let worker_sets: Vec<Option<u32>> = if opts.workers.is_empty() {
            vec![None]
        } else {
            opts.workers.iter().copied().map(Some).collect()
        };
        for w in worker_sets {
            let mut argv = vec![
                opts.ocellus.to_string_lossy().into_owned(),
                "probe".into(),
                "-r".into(),
                pcap.clone(),
                "-w".into(),
                ocr.to_string_lossy().into_owned(),
                // Prints the peak number of concurrent flows (memory per flow).
                "--stats".into(),
            ];
            let label = match w {
                Some(n) => {
                    argv.extend(["--workers".into(), n.to_string()]);
                    format!("ocellus --workers {n}")
                }
                None => "ocellus".into(),
            };
            argv.extend(opts.ocellus_args.iter().cloned());
            places.push(runs.len());
            runs.push(skipped_quietly(&label, "ocellus"));
            jobs.push(Job {
                label,
                tool: "ocellus",
                argv,
                out_file: Some(ocr.clone()),
            });
        }
    } else {
        runs.push(skipped(
            "ocellus",
            "ocellus",
            format!(
                "{} does not exist (build it with `cargo build --release -p ocellus`, or pass --ocellus PATH)",
                opts.ocellus.display()
            ),
        ));
    }

    match find_tool(&opts.argus) {
        Some(argus) => {
            let argv = vec![
                argus.to_string_lossy().into_owned(),
                "-X".into(),
                "-r".into(),
                pcap.clone(),
                "-w".into(),
                argus_out.to_string_lossy().into_owned(),
            ];
            places.push(runs.len());
            runs.push(skipped_quietly("argus", "argus"));
            jobs.push(Job {
                label: "argus".into(),
                tool: "argus",
                argv,
                out_file: Some(argus_out.clone()),
            });
        }
        None => runs.push(skipped(
            "argus",
            "argus",
            format!("`{}` not found (apt-get install argus-server)", opts.argus),
        )),
    }

    match find_tool(&opts.tcpdump) {
        Some(tcpdump) => {
            let argv = vec![
                tcpdump.to_string_lossy().into_owned(),
                "-r".into(),
                pcap,
                "-w".into(),
                "/dev/null".into(),
            ];
            places.push(runs.len());
            runs.push(skipped_quietly("tcpdump", "tcpdump"));
            jobs.push(Job {
                label: "tcpdump".into(),
                tool: "tcpdump",
                argv,
                out_file: None,
            });
        }
        None => runs.push(skipped(
            "tcpdump",
            "tcpdump",
            format!("`{}` not found (apt-get install tcpdump)", opts.tcpdump),
        )),
    }
    for (at, run) in places.into_iter().zip(run_rounds(jobs, opts.repeat)) {
        runs[at] = run;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(runs)
}

/// A tool that did not run (yet): the place a run or a reason fills.
fn skipped_quietly(label: &str, tool: &'static str) -> ToolRun {
    ToolRun {
        label: label.to_owned(),
        tool,
        command: Vec::new(),
        usage: None,
        skipped: Some("did not run".into()),
        stderr_tail: String::new(),
        output_bytes: None,
        cpu_runs: Vec::new(),
    }
}

fn rate(packets: Option<u64>, secs: f64) -> Option<f64> {
    match packets {
        Some(p) if secs > 0.0 => Some(p as f64 / secs),
        _ => None,
    }
}

/// The first successful run of `tool`: what the ratios compare with.
fn reference_run<'a>(runs: &'a [ToolRun], tool: &str) -> Option<&'a ToolRun> {
    runs.iter().find(|r| r.tool == tool && r.ok())
}

fn reference<'a>(runs: &'a [ToolRun], tool: &str) -> Option<&'a Usage> {
    reference_run(runs, tool).and_then(|r| r.usage.as_ref())
}

/// The results as JSON.
pub fn results_json(
    opts: &ReplayOptions,
    runs: &[ToolRun],
    packets: Option<u64>,
    date: &str,
) -> Value {
    let argus = reference(runs, "argus");
    let tcpdump = reference(runs, "tcpdump");
    let ratio = |num: f64, den: f64| if den > 0.0 { Some(num / den) } else { None };
    let tools: Vec<Value> = runs
        .iter()
        .map(|r| {
            let u = r.usage.as_ref();
            json!({
                "label": r.label,
                "tool": r.tool,
                "command": r.command,
                "ok": r.ok(),
                "skipped": r.skipped,
                "exit_code": u.map(|u| u.exit_code),
                "wall_s": u.map(|u| u.wall_s),
                "user_s": u.map(|u| u.user_s),
                "sys_s": u.map(|u| u.sys_s),
                "cpu_s": u.map(Usage::cpu_s),
                "cpu_s_runs": r.cpu_runs,
                "cpu_s_median": r.cpu_median(),
                "max_rss_kib": u.map(|u| u.max_rss_kib),
                "packets_per_s": u.and_then(|u| rate(packets, u.wall_s)),
                "packets_per_cpu_s": u.and_then(|u| rate(packets, u.cpu_s())),
                "output_bytes": r.output_bytes,
                // > 1 means this tool is faster / cheaper than the reference.
                "speedup_vs_argus": u.zip(argus).and_then(|(u, a)| ratio(a.wall_s, u.wall_s)),
                "cpu_efficiency_vs_argus": u.zip(argus).and_then(|(u, a)| ratio(a.cpu_s(), u.cpu_s())),
                "speedup_vs_tcpdump": u.zip(tcpdump).and_then(|(u, t)| ratio(t.wall_s, u.wall_s)),
                "cpu_efficiency_vs_tcpdump": u.zip(tcpdump).and_then(|(u, t)| ratio(t.cpu_s(), u.cpu_s())),
                "stderr_tail": if r.ok() { Value::Null } else { Value::from(r.stderr_tail.clone()) },
            })
        })
        .collect();
    json!({
        "date": date,
        "input": {
            "pcap": opts.pcap,
            "bytes": std::fs::metadata(&opts.pcap).ok().map(|m| m.len()),
            "packets": packets,
        },
        "host": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
        },
        "repeat": opts.repeat,
        "tools": tools,
    })
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// The results as a markdown table.
pub fn results_markdown(
    opts: &ReplayOptions,
    runs: &[ToolRun],
    packets: Option<u64>,
    date: &str,
) -> String {
    let argus = reference(runs, "argus");
    let tcpdump = reference(runs, "tcpdump");
    let mut md = String::new();
    let _ = writeln!(md, "# Replay benchmark, {date}\n");
    let _ = writeln!(
        md,
        "Input: `{}` ({} packets). Best of {} run(s) per tool, in rounds (each round runs every tool once); the table shows each tool's fastest run by wall time, and every round's CPU time follows it. Ratios > 1 mean faster (wall) or cheaper (CPU) than the reference.\n",
        opts.pcap.display(),
        packets.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
        opts.repeat.max(1)
    );
    md.push_str("| tool | wall s | CPU s (user+sys) | peak RSS MiB | Mpkt/s | kpkt per CPU-s | vs argus wall | vs argus CPU | vs tcpdump wall | vs tcpdump CPU |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in runs {
        let Some(u) = r.usage.as_ref() else {
            let why = r.skipped.as_deref().unwrap_or("did not run");
            let _ = writeln!(md, "| {} | skipped: {why} | | | | | | | | |", r.label);
            continue;
        };
        let failed = if u.exit_code == 0 {
            String::new()
        } else {
            format!(" (exit {})", u.exit_code)
        };
        let vs = |reference: Option<&Usage>, cpu: bool| {
            reference.map(|a| {
                if cpu {
                    a.cpu_s() / u.cpu_s().max(1e-9)
                } else {
                    a.wall_s / u.wall_s.max(1e-9)
                }
            })
        };
        let _ = writeln!(
            md,
            "| {}{failed} | {:.3} | {:.3} | {:.1} | {} | {} | {} | {} | {} | {} |",
            r.label,
            u.wall_s,
            u.cpu_s(),
            u.max_rss_kib as f64 / 1024.0,
            fmt_opt(rate(packets, u.wall_s).map(|r| r / 1e6), 3),
            fmt_opt(rate(packets, u.cpu_s()).map(|r| r / 1e3), 1),
            fmt_opt(vs(argus, false), 2),
            fmt_opt(vs(argus, true), 2),
            fmt_opt(vs(tcpdump, false), 2),
            fmt_opt(vs(tcpdump, true), 2),
        );
    }
    // Every round's CPU time: the table above takes each tool's fastest run
    // by wall time, and on a noisy machine one lucky run can make a
    // difference that the rounds do not bear out.
    if runs.iter().any(|r| r.cpu_runs.len() > 1) {
        let median = |tool: &str| reference_run(runs, tool).and_then(ToolRun::cpu_median);
        let (argus_m, tcpdump_m) = (median("argus"), median("tcpdump"));
        let _ = writeln!(
            md,
            "\nCPU seconds of every round, their median, and the ratios of the medians:\n"
        );
        for r in runs.iter().filter(|r| !r.cpu_runs.is_empty()) {
            let m = r.cpu_median().unwrap_or(0.0);
            let each: Vec<String> = r.cpu_runs.iter().map(|c| format!("{c:.3}")).collect();
            let ratio = |reference: Option<f64>, name: &str| {
                reference
                    .filter(|_| m > 0.0)
                    .map(|a| format!(", {:.2}× {name}'s", a / m))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                md,
                "- {}: {} (median {m:.3}{}{})",
                r.label,
                each.join(", "),
                ratio(argus_m, "argus"),
                ratio(tcpdump_m, "tcpdump"),
            );
        }
    }
    // Memory per concurrent flow: peak RSS over the most flows held at once
    // (ocellus --stats; Argus follows the same flow model on the same input,
    // so its RSS is divided by the same count).
    if let Some(flows) = runs.iter().find_map(|r| peak_flows(&r.stderr_tail)) {
        let _ = writeln!(
            md,
            "\nMemory per concurrent flow (peak RSS / {flows} flows at once, from `ocellus probe --stats`):\n"
        );
        for r in runs {
            if let Some(u) = r.usage.as_ref().filter(|_| r.tool != "tcpdump") {
                let _ = writeln!(
                    md,
                    "- {}: {:.0} bytes",
                    r.label,
                    u.max_rss_kib as f64 * 1024.0 / flows as f64
                );
            }
        }
    }
    md
}

/// The most flows held at once, from `ocellus probe --stats`'s summary line
/// ("... flows (at most N at once) ...").
fn peak_flows(stderr: &str) -> Option<u64> {
    let (_, rest) = stderr.rsplit_once("(at most ")?;
    let n = rest.split_whitespace().next()?;
    n.parse().ok().filter(|&n| n > 0)
}

/// Runs the benchmark and writes `replay-<date>.json` and `.md` into the results directory.
/// Returns the runs and the two paths.
pub fn replay(opts: &ReplayOptions) -> Result<(Vec<ToolRun>, PathBuf, PathBuf), ReplayError> {
    let packets =
        crate::gen::count_pcap_packets(&opts.pcap).map_err(|source| ReplayError::Input {
            path: opts.pcap.clone(),
            source,
        })?;
    if packets.is_none() {
        eprintln!(
            "{} is not a classic pcap; packet rates are left out.",
            opts.pcap.display()
        );
    }
    let runs = run_all(opts)?;
    let date = chrono::Local::now().format("%Y-%m-%dT%H%M%S").to_string();
    std::fs::create_dir_all(&opts.results_dir).map_err(|source| ReplayError::Results {
        path: opts.results_dir.clone(),
        source,
    })?;
    let json_path = opts.results_dir.join(format!("replay-{date}.json"));
    let md_path = opts.results_dir.join(format!("replay-{date}.md"));
    let json = results_json(opts, &runs, packets, &date);
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    std::fs::write(&json_path, text + "\n").map_err(|source| ReplayError::Results {
        path: json_path.clone(),
        source,
    })?;
    let md = results_markdown(opts, &runs, packets, &date);
    std::fs::write(&md_path, &md).map_err(|source| ReplayError::Results {
        path: md_path.clone(),
        source,
    })?;
    print!("{md}");
    Ok((runs, json_path, md_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_run_every_tool_once_each_and_stop_a_failed_one() {
        let dir = std::env::temp_dir().join(format!("ocellus-bench-rounds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let job = |label: &str, script: String| Job {
            label: label.into(),
            tool: "tcpdump",
            argv: vec!["sh".into(), "-c".into(), script],
            out_file: Some(dir.join(format!("{label}.out"))),
        };
        let append = |tag: &str, code: u8| {
            format!(
                "echo {tag} >> {0}; echo x > {1}/{tag}.out; exit {code}",
                log.display(),
                dir.display()
            )
        };
        let runs = run_rounds(
            vec![
                job("a", append("a", 0)),
                job("b", append("b", 0)),
                job("c", append("c", 7)),
                job("d", "exec /nonexistent/tool".into()),
            ],
            3,
        );
        let order = std::fs::read_to_string(&log)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(order, "a b c a b a b");
        assert_eq!(runs.len(), 4);
        assert!(runs[0].ok() && runs[1].ok(), "{:?}", runs[0].skipped);
        assert_eq!(runs[0].output_bytes, Some(2));
        assert_eq!(runs[2].usage.as_ref().unwrap().exit_code, 7);
        assert_eq!(runs[3].usage.as_ref().map(|u| u.exit_code), Some(127));
        // The output files are gone afterwards.
        assert!(!dir.join("a.out").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn peak_flows_is_read_from_the_stats_line() {
        let line = "ocellus probe: 10 packets, 900 bytes, 4 flows (at most 3 at once), 5 records";
        assert_eq!(peak_flows(line), Some(3));
        assert_eq!(peak_flows("no stats here"), None);
    }

    #[test]
    fn measure_reports_cpu_and_rss_of_the_child() {
        // A shell loop burns a little CPU; its RSS is a few MiB.
        let argv: Vec<String> = [
            "sh",
            "-c",
            "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (u, _) = measure(&argv).unwrap();
        assert_eq!(u.exit_code, 0);
        assert!(u.cpu_s() > 0.01, "{u:?}");
        assert!(u.wall_s >= u.user_s * 0.5, "{u:?}");
        assert!(u.max_rss_kib > 100, "{u:?}");
        let (u, _) = measure(&["sh".into(), "-c".into(), "exit 3".into()]).unwrap();
        assert_eq!(u.exit_code, 3);
        assert!(measure(&["/nonexistent/tool".into()]).is_err());
    }
}

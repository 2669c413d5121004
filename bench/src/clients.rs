//! `ocellus-bench clients`: the client suite against Argus's clients on the
//! same flows. One capture is probed by `argus` and by `ocellus probe` (same
//! status interval), then each pair runs on its own format with output to
//! /dev/null, measured with `wait4` (wall time, CPU, peak RSS):
//! `ra` vs `ocellus read` with a filter, `rasort -m bytes` vs `ocellus sort`,
//! `racluster -m saddr daddr` vs `ocellus cluster`.
//! Results go to `bench/results/clients-<date>.json` and `.md`.

use crate::replay::{measure, Usage};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `ocellus-bench clients` runs on.
#[derive(Clone, Debug)]
pub struct ClientsOptions {
    /// The capture both probes read.
    pub pcap: PathBuf,
    /// Where the record files go (kept and re-used with `reuse`).
    pub work_dir: PathBuf,
    pub ocellus: PathBuf,
    pub argus: String,
    /// Directory of `ra`, `rasort`, `racluster`.
    pub ra_dir: PathBuf,
    /// Status interval for both probes (`-S`): more records per flow.
    pub status_interval: u32,
    /// Re-use the record files in `work_dir` when they exist.
    pub reuse: bool,
    pub results_dir: PathBuf,
    /// Runs per command; the fastest is reported.
    pub repeat: u32,
}

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    #[error("cannot read the capture {path}: {source}")]
    Input {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} failed (exit {code}): {tail}")]
    Probe {
        what: String,
        code: i32,
        tail: String,
    },
    #[error("cannot run {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot write results to {path}: {source}")]
    Results {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot count the records of {path}: {why}")]
    Count { path: PathBuf, why: String },
}

/// One measured command.
#[derive(Clone, Debug)]
pub struct Measured {
    pub command: Vec<String>,
    pub usage: Usage,
    pub stderr_tail: String,
}

/// One comparison: Argus's client and ocellus's on the same flows.
#[derive(Clone, Debug)]
pub struct Pair {
    pub name: &'static str,
    pub argus: Measured,
    pub ocellus: Measured,
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn best_of(argv: &[String], repeat: u32) -> Result<Measured, ClientsError> {
    let mut best: Option<(Usage, String)> = None;
    for _ in 0..repeat.max(1) {
        eprintln!("Running: {}", argv.join(" "));
        let (u, tail) = measure(argv).map_err(|source| ClientsError::Spawn {
            what: argv.join(" "),
            source,
        })?;
        let failed = u.exit_code != 0;
        if failed || best.as_ref().is_none_or(|(b, _)| u.wall_s < b.wall_s) {
            best = Some((u, tail));
        }
        if failed {
            break;
        }
    }
    let (usage, stderr_tail) = best.unwrap_or_default();
    Ok(Measured {
        command: argv.to_vec(),
        usage,
        stderr_tail,
    })
}

/// Runs a probe unless its output exists and `reuse` is set.
fn probe(argv: Vec<String>, out: &Path, reuse: bool) -> Result<Option<Measured>, ClientsError> {
    if reuse && out.exists() {
        eprintln!("Re-using {}", out.display());
        return Ok(None);
    }
    // argus -w appends: start from no file.
    let _ = std::fs::remove_file(out);
    let m = best_of(&argv, 1)?;
    if m.usage.exit_code != 0 {
        return Err(ClientsError::Probe {
            what: argv.join(" "),
            code: m.usage.exit_code,
            tail: m.stderr_tail,
        });
    }
    Ok(Some(m))
}

/// Counts the flow records (not management records) of an ocellus record file.
pub fn count_records(path: &Path) -> Result<u64, ClientsError> {
    let err = |why: String| ClientsError::Count {
        path: path.to_path_buf(),
        why,
    };
    let mut src = ocellus::ring::open_source(path, false).map_err(|e| err(e.to_string()))?;
    let mut rec = ocellus::record::FlowRecord::default();
    let mut n = 0u64;
    while src.next_into(&mut rec).map_err(|e| err(e.to_string()))? {
        if !rec.kind.is_man() {
            n += 1;
        }
    }
    Ok(n)
}

/// Probes the capture both ways, then measures every pair.
pub fn run_clients(opts: &ClientsOptions) -> Result<(Vec<Pair>, Value, String), ClientsError> {
    std::fs::metadata(&opts.pcap).map_err(|source| ClientsError::Input {
        path: opts.pcap.clone(),
        source,
    })?;
    std::fs::create_dir_all(&opts.work_dir).map_err(|source| ClientsError::Input {
        path: opts.work_dir.clone(),
        source,
    })?;
    let pcap = opts.pcap.to_string_lossy().into_owned();
    let fa = opts.work_dir.join("flows.argus");
    let fo = opts.work_dir.join("flows.ocr");
    let fa_s = fa.to_string_lossy().into_owned();
    let fo_s = fo.to_string_lossy().into_owned();
    let oc = opts.ocellus.to_string_lossy().into_owned();
    let interval = opts.status_interval.to_string();
    let argus_probe = probe(
        vec![
            opts.argus.clone(),
            s("-X"),
            s("-S"),
            interval.clone(),
            s("-r"),
            pcap.clone(),
            s("-w"),
            fa_s.clone(),
        ],
        &fa,
        opts.reuse,
    )?;
    let ocellus_probe = probe(
        vec![
            oc.clone(),
            s("probe"),
            s("-q"),
            s("-S"),
            interval,
            s("-r"),
            pcap,
            s("-w"),
            fo_s.clone(),
        ],
        &fo,
        opts.reuse,
    )?;
    let records = count_records(&fo)?;
    eprintln!("{records} flow records in {}", fo.display());
    let ra = |tool: &str| opts.ra_dir.join(tool).to_string_lossy().into_owned();
    // The same command both ways: the Argus client and its ocellus
    // subcommand, options, the record file, and a filter after `-`.
    let case = |name: &'static str, tool: &str, sub: &str, opts: &[&str], filter: Option<&str>| {
        let tail = |file: &String| {
            let mut v: Vec<String> = opts.iter().map(|o| s(o)).collect();
            v.extend([s("-r"), file.clone()]);
            v.extend(filter.into_iter().flat_map(|f| [s("-"), s(f)]));
            v
        };
        let mut a = vec![ra(tool)];
        a.extend(tail(&fa_s));
        let mut o = vec![oc.clone(), s(sub)];
        o.extend(tail(&fo_s));
        (name, a, o)
    };
    let cases = [
        case(
            "read - 'tcp and dst port 80'",
            "ra",
            "read",
            &[],
            Some("tcp and dst port 80"),
        ),
        case(
            "read - 'udp and pkts gt 3'",
            "ra",
            "read",
            &[],
            Some("udp and pkts gt 3"),
        ),
        case("sort -m bytes", "rasort", "sort", &["-m", "bytes"], None),
        case(
            "cluster -m saddr daddr",
            "racluster",
            "cluster",
            &["-m", "saddr", "daddr"],
            None,
        ),
    ];
    let mut pairs = Vec::new();
    for (name, a, o) in cases {
        let argus = best_of(&a, opts.repeat)?;
        let ocellus = best_of(&o, opts.repeat)?;
        pairs.push(Pair {
            name,
            argus,
            ocellus,
        });
    }
    let date = chrono::Local::now().format("%Y-%m-%dT%H%M%S").to_string();
    let sizes = (
        std::fs::metadata(&fa).map(|m| m.len()).ok(),
        std::fs::metadata(&fo).map(|m| m.len()).ok(),
    );
    let probes = [("argus", &argus_probe), ("ocellus probe", &ocellus_probe)];
    let json = results_json(opts, &pairs, &probes, records, sizes, &date);
    let md = results_markdown(opts, &pairs, &probes, records, sizes, &date);
    Ok((pairs, json, md))
}

fn usage_json(m: &Measured) -> Value {
    let u = &m.usage;
    json!({
        "command": m.command,
        "exit_code": u.exit_code,
        "wall_s": u.wall_s,
        "user_s": u.user_s,
        "sys_s": u.sys_s,
        "cpu_s": u.cpu_s(),
        "max_rss_kib": u.max_rss_kib,
        "stderr_tail": if u.exit_code == 0 { Value::Null } else { Value::from(m.stderr_tail.clone()) },
    })
}

/// Argus's number over ocellus's (> 1: ocellus is faster or smaller).
fn ratio(a: f64, o: f64) -> Option<f64> {
    (o > 0.0).then(|| a / o)
}

type Probes<'a> = [(&'a str, &'a Option<Measured>)];

/// The results as JSON.
pub fn results_json(
    opts: &ClientsOptions,
    pairs: &[Pair],
    probes: &Probes,
    records: u64,
    sizes: (Option<u64>, Option<u64>),
    date: &str,
) -> Value {
    let cmp: Vec<Value> = pairs
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "argus": usage_json(&p.argus),
                "ocellus": usage_json(&p.ocellus),
                "wall_speedup": ratio(p.argus.usage.wall_s, p.ocellus.usage.wall_s),
                "cpu_speedup": ratio(p.argus.usage.cpu_s(), p.ocellus.usage.cpu_s()),
                "rss_ratio": ratio(p.argus.usage.max_rss_kib as f64, p.ocellus.usage.max_rss_kib as f64),
            })
        })
        .collect();
    let probes: Vec<Value> = probes
        .iter()
        .map(|(name, m)| json!({"name": name, "run": m.as_ref().map(usage_json)}))
        .collect();
    json!({
        "date": date,
        "input": {
            "pcap": opts.pcap,
            "pcap_bytes": std::fs::metadata(&opts.pcap).ok().map(|m| m.len()),
            "status_interval_s": opts.status_interval,
            "flow_records": records,
            "argus_file_bytes": sizes.0,
            "ocellus_file_bytes": sizes.1,
        },
        "host": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
        },
        "repeat": opts.repeat,
        "probes": probes,
        "comparisons": cmp,
    })
}

/// The results as a markdown table.
pub fn results_markdown(
    opts: &ClientsOptions,
    pairs: &[Pair],
    probes: &Probes,
    records: u64,
    sizes: (Option<u64>, Option<u64>),
    date: &str,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Client benchmark, {date}\n");
    let mb =
        |b: Option<u64>| b.map_or_else(|| "?".to_owned(), |b| format!("{:.0} MB", b as f64 / 1e6));
    let _ = writeln!(
        md,
        "Input: `{}` probed with `-S {}` by argus and by ocellus: {records} flow records ({} in Argus format, {} in ocellus format). Output to /dev/null; best of {} run(s); wall time and peak RSS from `wait4`. Ratios are Argus / ocellus (> 1: ocellus is faster or smaller).\n",
        opts.pcap.display(),
        opts.status_interval,
        mb(sizes.0),
        mb(sizes.1),
        opts.repeat.max(1)
    );
    let _ = writeln!(
        md,
        "The ocellus clients read, filter and format on {} threads (one per core, at most 16); the Argus clients use one.\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(16)
    );
    md.push_str("| command | ra* wall s | ocellus wall s | wall ratio | ra* CPU s | ocellus CPU s | CPU ratio | ra* peak RSS MiB | ocellus peak RSS MiB | RSS ratio |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let f = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
    for p in pairs {
        let (a, o) = (&p.argus.usage, &p.ocellus.usage);
        let failed = |u: &Usage| {
            if u.exit_code == 0 {
                String::new()
            } else {
                format!(" (exit {})", u.exit_code)
            }
        };
        let _ = writeln!(
            md,
            "| `{}` | {:.2}{} | {:.2}{} | {} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {} |",
            p.name,
            a.wall_s,
            failed(a),
            o.wall_s,
            failed(o),
            f(ratio(a.wall_s, o.wall_s)),
            a.cpu_s(),
            o.cpu_s(),
            f(ratio(a.cpu_s(), o.cpu_s())),
            a.max_rss_kib as f64 / 1024.0,
            o.max_rss_kib as f64 / 1024.0,
            f(ratio(a.max_rss_kib as f64, o.max_rss_kib as f64)),
        );
    }
    md.push_str("\nProbes (making the record files, for reference):\n\n");
    for (name, m) in probes {
        match m {
            Some(m) => {
                let _ = writeln!(
                    md,
                    "- {name}: {:.2} s wall, {:.2} s CPU, {:.1} MiB peak RSS",
                    m.usage.wall_s,
                    m.usage.cpu_s(),
                    m.usage.max_rss_kib as f64 / 1024.0
                );
            }
            None => {
                let _ = writeln!(md, "- {name}: re-used an existing record file");
            }
        }
    }
    md
}

/// Runs the benchmark and writes `clients-<date>.json` and `.md`.
pub fn clients(opts: &ClientsOptions) -> Result<(Vec<Pair>, PathBuf, PathBuf), ClientsError> {
    let (pairs, json, md) = run_clients(opts)?;
    let date = json["date"].as_str().unwrap_or("undated").to_owned();
    std::fs::create_dir_all(&opts.results_dir).map_err(|source| ClientsError::Results {
        path: opts.results_dir.clone(),
        source,
    })?;
    let json_path = opts.results_dir.join(format!("clients-{date}.json"));
    let md_path = opts.results_dir.join(format!("clients-{date}.md"));
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    std::fs::write(&json_path, text + "\n").map_err(|source| ClientsError::Results {
        path: json_path.clone(),
        source,
    })?;
    std::fs::write(&md_path, &md).map_err(|source| ClientsError::Results {
        path: md_path.clone(),
        source,
    })?;
    print!("{md}");
    Ok((pairs, json_path, md_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(wall: f64, rss: u64) -> Measured {
        Measured {
            command: vec![s("x")],
            usage: Usage {
                wall_s: wall,
                user_s: wall / 2.0,
                sys_s: 0.0,
                max_rss_kib: rss,
                exit_code: 0,
            },
            stderr_tail: String::new(),
        }
    }

    #[test]
    fn ratios_are_argus_over_ocellus() {
        let opts = ClientsOptions {
            pcap: PathBuf::from("/nonexistent.pcap"),
            work_dir: PathBuf::from("/tmp"),
            ocellus: PathBuf::from("ocellus"),
            argus: s("argus"),
            ra_dir: PathBuf::from("/usr/bin"),
            status_interval: 5,
            reuse: false,
            results_dir: PathBuf::from("/tmp"),
            repeat: 1,
        };
        let pairs = vec![Pair {
            name: "sort -m bytes",
            argus: m(10.0, 4000),
            ocellus: m(0.5, 1000),
        }];
        let j = results_json(&opts, &pairs, &[], 42, (Some(1), Some(2)), "d");
        let c = &j["comparisons"][0];
        assert_eq!(c["wall_speedup"].as_f64(), Some(20.0));
        assert_eq!(c["rss_ratio"].as_f64(), Some(4.0));
        assert_eq!(j["input"]["flow_records"].as_u64(), Some(42));
        let md = results_markdown(&opts, &pairs, &[], 42, (Some(1), Some(2)), "d");
        assert!(
            md.contains("| `sort -m bytes` | 10.00 | 0.50 | 20.0 |"),
            "{md}"
        );
    }

    #[test]
    fn a_missing_capture_is_an_error() {
        let opts = ClientsOptions {
            pcap: PathBuf::from("/nonexistent/x.pcap"),
            work_dir: std::env::temp_dir(),
            ocellus: PathBuf::from("ocellus"),
            argus: s("argus"),
            ra_dir: PathBuf::from("/usr/bin"),
            status_interval: 5,
            reuse: false,
            results_dir: std::env::temp_dir(),
            repeat: 1,
        };
        assert!(matches!(
            run_clients(&opts),
            Err(ClientsError::Input { .. })
        ));
    }
}

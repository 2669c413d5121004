//! Relay throughput: `ocellus relay` reading a ring of synthetic records and
//! serving them to 1..K readers over the remote protocol (plain TCP on
//! loopback, `--insecure`, so that the number is the relay's, not TLS's).
//! Reports records per second at the slowest reader and the relay's peak
//! resident memory (VmHWM).

use ocellus::record::{FlowKey, FlowRecord};
use ocellus::remote::{client, ClientOptions};
use ocellus::ring::{self, RecordSource, SinkOptions};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RelayBenchError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Clone, Debug)]
pub struct RelayBenchOptions {
    pub ocellus: PathBuf,
    pub records: u64,
    pub readers: Vec<usize>,
    pub results_dir: PathBuf,
}

/// One measured run.
#[derive(Clone, Debug)]
pub struct RelayRun {
    pub readers: usize,
    pub records: u64,
    pub secs: f64,
    pub records_per_s: f64,
    pub relay_peak_rss_kib: u64,
    pub cut_off: usize,
}

fn synthetic(i: u64) -> FlowRecord {
    let mut rec = FlowRecord {
        seq: i,
        stime_ns: 1_700_000_000_000_000_000 + i * 1000,
        ltime_ns: 1_700_000_000_000_000_000 + i * 1000 + 500,
        key: FlowKey::default(),
        ..FlowRecord::default()
    };
    rec.key.class = ocellus::record::KeyClass::Ipv4 as u8;
    rec.key.proto = if i.is_multiple_of(5) { 17 } else { 6 };
    rec.src.pkts = 1 + i % 7;
    rec.src.bytes = 64 * rec.src.pkts;
    rec
}

fn write_ring(dir: &Path, n: u64) -> Result<(), RelayBenchError> {
    let spec = format!("{}/", dir.display());
    let mut sink = ring::open_sink(
        &spec,
        &SinkOptions {
            max_segments: None,
            ..SinkOptions::default()
        },
    )
    .map_err(|e| RelayBenchError::Setup(e.to_string()))?;
    for i in 0..n {
        sink.write(&synthetic(i))
            .map_err(|e| RelayBenchError::Setup(e.to_string()))?;
    }
    sink.flush()
        .map_err(|e| RelayBenchError::Setup(e.to_string()))?;
    Ok(())
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn free_port() -> Result<u16, RelayBenchError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn one_run(o: &RelayBenchOptions, readers: usize, tmp: &Path) -> Result<RelayRun, RelayBenchError> {
    let staged = tmp.join(format!("staged-{readers}"));
    let live = tmp.join(format!("src-{readers}"));
    write_ring(&staged, o.records)?;
    let port = free_port()?;
    let mut relay = Command::new(&o.ocellus)
        .args(["relay", "-S"])
        .arg(format!("1={}/", live.display()))
        .args(["-P", &port.to_string(), "--insecure", "--queue", "262144"])
        .args([
            "--window",
            "100ms",
            "--backoff-max",
            "200ms",
            "--backlog",
            "0",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| RelayBenchError::Setup(format!("{}: {e}", o.ocellus.display())))?;
    let stderr = relay.stderr.take();
    let mut log = stderr.map(|e| BufReader::new(e).lines());
    // Wait until it serves.
    if let Some(lines) = log.as_mut() {
        for l in lines.by_ref() {
            if l?.contains("serving records") {
                break;
            }
        }
    }
    std::thread::spawn(move || log.map(|l| l.for_each(drop)));
    let addr = format!("127.0.0.1:{port}");
    let opts = ClientOptions {
        insecure: true,
        ..ClientOptions::default()
    };
    let mut srcs = Vec::new();
    for _ in 0..readers {
        srcs.push(
            client::connect(&addr, &opts, "", 0)
                .map_err(|e| RelayBenchError::Setup(e.to_string()))?,
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let n = o.records;
    let handles: Vec<_> = srcs
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                let mut rec = FlowRecord::default();
                let mut got = 0u64;
                while got < n {
                    match s.next_into(&mut rec) {
                        Ok(true) => got += 1,
                        _ => break,
                    }
                }
                (got, Instant::now())
            })
        })
        .collect();
    let start = Instant::now();
    std::fs::rename(&staged, &live)?;
    let mut last = start;
    let mut cut_off = 0;
    for h in handles {
        let (got, t) = h
            .join()
            .map_err(|_| RelayBenchError::Setup("reader thread panicked".into()))?;
        if got < n {
            cut_off += 1;
        }
        last = last.max(t);
    }
    let rss = peak_rss_kib(relay.id());
    let _ = relay.kill();
    let _ = relay.wait();
    let _ = std::fs::remove_dir_all(&live);
    // The relay holds records for its window before they leave.
    let secs = last.duration_since(start).as_secs_f64();
    Ok(RelayRun {
        readers,
        records: n,
        secs,
        records_per_s: n as f64 / secs.max(1e-9),
        relay_peak_rss_kib: rss,
        cut_off,
    })
}

/// Runs the benchmark and writes `relay-<date>.{json,md}` under `results_dir`.
pub fn relay_bench(
    o: &RelayBenchOptions,
) -> Result<(Vec<RelayRun>, PathBuf, PathBuf), RelayBenchError> {
    if !o.ocellus.exists() {
        return Err(RelayBenchError::Setup(format!(
            "{} does not exist: cargo build --release -p ocellus",
            o.ocellus.display()
        )));
    }
    let tmp = std::env::temp_dir().join(format!("ocellus-relay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut runs = Vec::new();
    for &k in &o.readers {
        runs.push(one_run(o, k.max(1), &tmp)?);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let date = chrono::Local::now().format("%Y-%m-%dT%H%M%S").to_string();
    std::fs::create_dir_all(&o.results_dir)?;
    let json_path = o.results_dir.join(format!("relay-{date}.json"));
    let md_path = o.results_dir.join(format!("relay-{date}.md"));
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let v: Value = json!({
        "benchmark": "relay",
        "date": date,
        "cpus": cpus,
        "records": o.records,
        "transport": "plain TCP on loopback (--insecure)",
        "window": "100ms",
        "runs": runs.iter().map(|r| json!({
            "readers": r.readers,
            "seconds": r.secs,
            "records_per_s": r.records_per_s,
            "relay_peak_rss_kib": r.relay_peak_rss_kib,
            "readers_cut_off": r.cut_off,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&v).unwrap_or_default(),
    )?;
    let mut md = String::new();
    let _ = writeln!(md, "# Relay throughput ({date})\n");
    let _ = writeln!(
        md,
        "`ocellus relay` reading a ring of {} synthetic records (one source) and serving them over plain TCP on loopback to K readers in the benchmark process; {cpus} CPUs shared by relay and readers. Time from the ring appearing to the last record at the slowest reader (includes the 100 ms reorder window). Memory: the relay's peak RSS.\n",
        o.records
    );
    let _ = writeln!(
        md,
        "| readers | seconds | records/s (each reader) | relay peak RSS | readers cut off |"
    );
    let _ = writeln!(md, "| ---: | ---: | ---: | ---: | ---: |");
    for r in &runs {
        let _ = writeln!(
            md,
            "| {} | {:.2} | {:.0} | {:.1} MiB | {} |",
            r.readers,
            r.secs,
            r.records_per_s,
            r.relay_peak_rss_kib as f64 / 1024.0,
            r.cut_off
        );
    }
    std::fs::write(&md_path, md)?;
    Ok((runs, json_path, md_path))
}

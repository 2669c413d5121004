//! `-t TIMERANGE` against `ra -t` on corpus captures (both in TZ=UTC), the
//! time-range errors, and `ocellus read -f` following a ring while a writer
//! appends to it.

use ocellus::record::{FlowRecord, KeyClass};
use ocellus::ring::{open_sink, SinkOptions};
use ocellus_tests::diff::{argus_record_file, csv_args, ocellus_record_file, parse_rows, Row};
use ocellus_tests::tools::{argus_client, corpus_dir, ocellus, ocellus_bin, output, require_argus};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ID: &[&str] = &[
    "stime", "ltime", "proto", "saddr", "sport", "daddr", "dport", "spkts", "dpkts", "sbytes",
    "dbytes",
];

fn rows(mut cmd: Command, file: &Path, range: Option<&str>) -> Vec<Row> {
    cmd.env("TZ", "UTC").args(csv_args(ID)).arg("-r").arg(file);
    if let Some(r) = range {
        cmd.arg("-t").arg(r);
    }
    // Flow records only: ra prints management records, read does not by default.
    cmd.args(["-", "not", "man"]);
    let o = output(&mut cmd);
    assert!(
        o.status.success(),
        "{:?} -t {range:?} failed: {}",
        cmd.get_program(),
        String::from_utf8_lossy(&o.stderr)
    );
    parse_rows(&String::from_utf8_lossy(&o.stdout))
}

/// `date -u` formatting of epoch seconds.
fn utc(secs: i64, fmt: &str) -> String {
    let o = output(
        Command::new("date")
            .arg("-u")
            .arg("-d")
            .arg(format!("@{secs}"))
            .arg(format!("+{fmt}")),
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn time_ranges_select_what_ra_t_selects() {
    require_argus();
    for name in ["zeek-wikipedia.pcap", "ndpi-reddit-ipv6-tls.pcap"] {
        let work = tempfile::tempdir().unwrap();
        let cap = corpus_dir().join(name);
        let fa = argus_record_file(&cap, work.path()).unwrap();
        let fo = ocellus_record_file(&cap, work.path()).unwrap();
        let all_a: BTreeSet<Row> = rows(argus_client("ra"), &fa, None).into_iter().collect();
        let all_o: BTreeSet<Row> = rows(ocellus("read"), &fo, None).into_iter().collect();
        let common: BTreeSet<Row> = all_a.intersection(&all_o).cloned().collect();
        assert!(
            common.len() >= 10,
            "{name}: {} records in common",
            common.len()
        );
        let t0 = common
            .iter()
            .filter_map(|r| r[0].parse::<f64>().ok())
            .fold(f64::MAX, f64::min) as i64;
        let t1 = common
            .iter()
            .filter_map(|r| r[1].parse::<f64>().ok())
            .fold(0.0, f64::max) as i64;
        let mid = t0 + (t1 - t0).max(2) / 2;
        let day = utc(t0, "%Y/%m/%d");
        let hms = |t: i64| utc(t, "%H:%M:%S");
        let ranges = vec![
            format!("{}-{}", t0 + 1, mid + 1),
            format!("c{}-{}", t0 + 1, mid + 1),
            format!("n{}-{}", t0 + 1, t0 + 2),
            format!("x{}+2s", t0 + 1),
            format!("xc{}-{}", t0, mid),
            format!("{mid}"),
            format!("{day}.{}-{}", hms(t0 + 1), hms(mid)),
            format!("c{day}.{}+3s", hms(t0)),
            format!("{day}.{}", hms(mid)),
            utc(t0, "%Y"),
            utc(t0, "%Y/%m"),
            day.clone(),
            utc(t0, "****/%m/%d"),
            format!(
                "{}-{}",
                utc(t0 - 86400, "%Y/%m/%d"),
                utc(t0 + 86400, "%Y/%m/%d")
            ),
            format!("{}", t1 + 10),
        ];
        let mut proper = 0;
        for r in &ranges {
            let a: BTreeSet<Row> = rows(argus_client("ra"), &fa, Some(r))
                .into_iter()
                .filter(|x| common.contains(x))
                .collect();
            let o: BTreeSet<Row> = rows(ocellus("read"), &fo, Some(r))
                .into_iter()
                .filter(|x| common.contains(x))
                .collect();
            assert_eq!(
                a,
                o,
                "{name} -t {r}: ra selected {} of the common records, ocellus {}",
                a.len(),
                o.len()
            );
            if !a.is_empty() && a.len() < common.len() {
                proper += 1;
            }
        }
        assert!(
            proper >= 5,
            "{name}: only {proper} ranges selected a proper subset"
        );
        // The other clients take -t too: sort selects what read selects.
        let r = &ranges[0];
        let mut sorted = Command::new(ocellus_bin());
        sorted.arg("sort").args(["-m", "stime"]);
        let s: BTreeSet<Row> = rows(sorted, &fo, Some(r)).into_iter().collect();
        let o: BTreeSet<Row> = rows(ocellus("read"), &fo, Some(r)).into_iter().collect();
        assert_eq!(s, o, "{name}: sort -t {r}");
    }
}

#[test]
fn impossible_time_ranges_are_one_line_errors_with_status_2() {
    let work = tempfile::tempdir().unwrap();
    let cap = corpus_dir().join("zeek-wikipedia.pcap");
    let fo = ocellus_record_file(&cap, work.path()).unwrap();
    for tool in ["read", "sort", "count", "cluster"] {
        for bad in [
            "19:06:10-19:06:08",
            "2011/13",
            "25",
            "1300475168+2x",
            "abc",
            "",
        ] {
            let o = output(ocellus(tool).arg("-r").arg(&fo).arg("-t").arg(bad));
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{tool} -t {bad:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{tool} -t {bad:?}: {err}");
            assert!(err.contains("time range"), "{tool} -t {bad:?}: {err}");
        }
    }
}

fn record(i: u64) -> FlowRecord {
    let mut r = FlowRecord {
        seq: i,
        stime_ns: (1_600_000_000 + i) * 1_000_000_000,
        ltime_ns: (1_600_000_000 + i) * 1_000_000_000 + 5_000,
        ..FlowRecord::default()
    };
    r.key.class = KeyClass::Ipv4 as u8;
    r.key.proto = 17;
    r.key.sport = 1000 + (i % 50_000) as u16;
    r.key.dport = 53;
    r.src.pkts = 1;
    r.src.bytes = 80;
    r
}

/// `ocellus read -f ring/` prints records as a writer appends them, batch by
/// batch, without waiting for the writer to finish.
#[test]
fn read_follows_a_ring_while_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let ring = format!("{}/ring/", dir.path().display());
    let opts = SinkOptions {
        segment_bytes: 16 << 10,
        ..SinkOptions::default()
    };
    let mut sink = open_sink(&ring, &opts).unwrap();
    sink.write(&record(0)).unwrap();
    sink.flush().unwrap();
    let mut child = Command::new(ocellus_bin())
        .args([
            "read", "-f", "-n", "-u", "-L", "-1", "-s", "stime", "sport", "-r",
        ])
        .arg(&ring)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (go_tx, go_rx) = std::sync::mpsc::channel::<u64>();
    let writer = std::thread::spawn(move || {
        // Batches of 300 records (several segments each); each batch waits
        // until the test has seen the previous one printed.
        let mut next = 1u64;
        while let Ok(upto) = go_rx.recv() {
            while next <= upto {
                sink.write(&record(next)).unwrap();
                next += 1;
            }
            sink.flush().unwrap();
        }
    });
    let mut seen = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    for batch in 0..5u64 {
        if batch > 0 {
            go_tx.send(batch * 300).unwrap();
        }
        let want = batch * 300;
        while seen <= want {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!("read -f stopped at record {seen} (waiting for {want})")
            });
            let fields: Vec<&str> = line.split_whitespace().collect();
            let want_time = format!("{}.000000", 1_600_000_000 + seen);
            assert_eq!(
                fields.first(),
                Some(&want_time.as_str()),
                "record {seen}: {line}"
            );
            assert_eq!(
                fields.get(1).copied(),
                Some((1000 + seen).to_string().as_str()),
                "record {seen}: {line}"
            );
            seen += 1;
        }
    }
    drop(go_tx);
    writer.join().unwrap();
    // Still following: nothing ends the reader but us.
    assert!(
        child.try_wait().unwrap().is_none(),
        "read -f exited on its own"
    );
    child.kill().unwrap();
    let _ = child.wait();
    reader.join().unwrap();
    assert_eq!(seen, 1201);
}

//! End to end: generate a tiny capture, run the replay harness on it with argus
//! and tcpdump (ocellus given a path that does not exist, so it is skipped), and
//! check the results files. Needs `argus` and `tcpdump` installed (CI has them).

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ocellus-bench");

fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .chain(["/usr/sbin".into()])
                .any(|d| d.join(tool).is_file())
        })
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed; apt-get install argus-server tcpdump"
    );
}

#[test]
fn replay_runs_argus_and_tcpdump_and_skips_a_missing_ocellus() {
    require("argus");
    require("tcpdump");
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("tiny.pcap");
    let results = dir.path().join("results");

    let gen = Command::new(BIN)
        .args([
            "gen",
            "-o",
            pcap.to_str().unwrap(),
            "--packets",
            "3000",
            "--flows",
            "300",
        ])
        .args(["--concurrency", "100", "--duration-s", "5", "--seed", "42"])
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "gen failed: {}",
        String::from_utf8_lossy(&gen.stderr)
    );
    assert!(String::from_utf8_lossy(&gen.stdout).contains("Wrote 3000 packets"));

    let out = Command::new(BIN)
        .args([
            "replay",
            "--pcap",
            pcap.to_str().unwrap(),
            "--ocellus",
            "/nonexistent/ocellus",
        ])
        .args([
            "--workers",
            "1",
            "2",
            "--results-dir",
            results.to_str().unwrap(),
            "--repeat",
            "2",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed: {stderr}");
    assert!(
        stderr.contains("Skipping ocellus: /nonexistent/ocellus does not exist"),
        "{stderr}"
    );

    let files: Vec<_> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let json_path = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON result");
    let md_path = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "md"))
        .expect("a markdown result");
    assert!(json_path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("replay-"));

    let v: Value = serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    assert_eq!(v["input"]["packets"], 3000);
    let tools = v["tools"].as_array().unwrap();
    let by = |label: &str| {
        tools
            .iter()
            .find(|t| t["label"] == label)
            .unwrap_or_else(|| panic!("no {label} in {v}"))
    };

    let ocellus = by("ocellus");
    assert_eq!(ocellus["ok"], false);
    assert!(ocellus["skipped"]
        .as_str()
        .unwrap()
        .contains("does not exist"));

    for tool in ["argus", "tcpdump"] {
        let t = by(tool);
        assert_eq!(t["ok"], true, "{tool}: {t}");
        assert_eq!(t["exit_code"], 0);
        let wall = t["wall_s"].as_f64().unwrap();
        let cpu = t["cpu_s"].as_f64().unwrap();
        assert!(wall > 0.0 && cpu >= 0.0, "{t}");
        assert!(
            t["max_rss_kib"].as_u64().unwrap() > 500,
            "{tool} peak RSS: {t}"
        );
        let pps = t["packets_per_s"].as_f64().unwrap();
        assert!((pps - 3000.0 / wall).abs() < 1e-6 * pps.max(1.0), "{t}");
    }
    // Every round's CPU time is kept, with its median.
    for tool in ["argus", "tcpdump"] {
        let t = by(tool);
        let runs: Vec<f64> = t["cpu_s_runs"]
            .as_array()
            .unwrap_or_else(|| panic!("{tool}: {t}"))
            .iter()
            .map(|c| c.as_f64().unwrap())
            .collect();
        assert_eq!(runs.len(), 2, "{tool}: {t}");
        let median = t["cpu_s_median"].as_f64().unwrap();
        assert!(
            (median - (runs[0] + runs[1]) / 2.0).abs() < 1e-9,
            "{tool}: {t}"
        );
    }
    // argus wrote records: its output size is measured.
    assert!(by("argus")["output_bytes"].as_u64().unwrap() > 0);
    // A tool compared with itself is 1.
    assert!((by("argus")["speedup_vs_argus"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert!(
        (by("tcpdump")["cpu_efficiency_vs_tcpdump"].as_f64().unwrap() - 1.0).abs() < 1e-9
            || by("tcpdump")["cpu_s"] == 0.0
    );

    let md = std::fs::read_to_string(md_path).unwrap();
    assert!(md.contains("| tool | wall s |"), "{md}");
    assert!(md.contains("| ocellus | skipped:"), "{md}");
    assert!(md.lines().any(|l| l.starts_with("| argus |")), "{md}");
    assert!(md.lines().any(|l| l.starts_with("| tcpdump |")), "{md}");
    assert!(md.contains("CPU seconds of every round"), "{md}");
    assert!(
        md.lines().any(|l| l.starts_with("- argus: ")
            && l.contains("(median ")
            && l.contains("1.00× argus's")),
        "{md}"
    );
}

#[test]
fn replay_reports_a_missing_capture() {
    let out = Command::new(BIN)
        .args(["replay", "--pcap", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read the capture /nonexistent/x.pcap"));
}

//! Reads every capture of the shared real-world corpus and checks the packet
//! counts and damage verdicts recorded in its SOURCES.tsv.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ocellus::capture::{CaptureError, FileReader, MergedReader};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/real")
}

#[derive(Debug)]
enum Expect {
    Ok(u64),
    DamagedAfter(u64),
    Unreadable,
}

struct Row {
    file: String,
    expect: Expect,
}

/// Rows where we deliberately differ from SOURCES.tsv (whose counts come from
/// Wireshark's capinfos/tshark), with what we read instead and why.
const DIFFERENCES: &[(&str, Expect, &str)] = &[
    (
        "suricata-fuzz-6875.pcap",
        Expect::DamagedAfter(1),
        "fuzzed; Wireshark guesses RedHat 6.1's 24-byte record headers behind the \
         standard magic and finds 2 packets; we read standard records as libpcap \
         does, and record 2 claims 1409179648 bytes",
    ),
    (
        "ndpi-fuzz-2021-10-13.pcap",
        Expect::DamagedAfter(0),
        "fuzzed; record 1 claims 524501 captured bytes (over the 256 KiB limit) \
         and the file holds 199; tshark counts the partial frame, libpcap and we \
         reject it",
    ),
];

fn rows() -> Vec<Row> {
    let tsv = std::fs::read_to_string(corpus_dir().join("SOURCES.tsv"))
        .expect("the shared corpus must be present at ../shared/corpus/real");
    let mut out = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 10, "short SOURCES.tsv row: {line}");
        let packets: u64 = cols[7].parse().expect("packets column");
        let expect = match cols[9] {
            "ok" => Expect::Ok(packets),
            "unreadable" => Expect::Unreadable,
            s => {
                let n = s
                    .strip_prefix("damaged-after-")
                    .unwrap_or_else(|| panic!("unknown status {s}"));
                Expect::DamagedAfter(n.parse().expect("damaged-after-N"))
            }
        };
        out.push(Row {
            file: cols[0].to_string(),
            expect,
        });
    }
    out
}

/// Reads a whole file: (packets, link types seen, the error that ended it).
fn read_all(path: &Path) -> Result<(u64, Vec<u32>, Option<CaptureError>), CaptureError> {
    let mut r = FileReader::open(path)?;
    let mut links = Vec::new();
    let mut n = 0;
    loop {
        match r.next_packet() {
            Ok(Some(p)) => {
                n += 1;
                assert!(p.data.len() as u64 <= u64::from(ocellus::capture::MAX_CAPLEN));
                if !links.contains(&p.link.0) {
                    links.push(p.link.0);
                }
            }
            Ok(None) => return Ok((n, links, None)),
            Err(e) => {
                // One error, then the reader stays ended.
                assert!(
                    matches!(r.next_packet(), Ok(None)),
                    "{}: read after error",
                    r.name()
                );
                assert_eq!(r.packets_read(), n);
                return Ok((n, links, Some(e)));
            }
        }
    }
}

#[test]
fn corpus_counts_match_sources_tsv() {
    let rows = rows();
    for d in DIFFERENCES {
        assert!(
            rows.iter().any(|r| r.file == d.0),
            "{} is not in the corpus",
            d.0
        );
    }
    assert!(
        rows.len() > 200,
        "corpus looks incomplete: {} rows",
        rows.len()
    );
    let mut failures = Vec::new();
    let mut links: BTreeMap<u32, usize> = BTreeMap::new();
    for row in &rows {
        let path = corpus_dir().join(&row.file);
        let got = read_all(&path);
        match &got {
            Err(e) | Ok((_, _, Some(e))) => eprintln!("{}: {e}", row.file),
            Ok(_) => {}
        }
        if let Ok((_, l, _)) = &got {
            for t in l {
                *links.entry(*t).or_default() += 1;
            }
        }
        let expect = DIFFERENCES
            .iter()
            .find(|d| d.0 == row.file)
            .map_or(&row.expect, |d| &d.1);
        let ok = match (expect, &got) {
            (Expect::Ok(n), Ok((m, _, None))) => n == m,
            (Expect::DamagedAfter(n), Ok((m, _, Some(_)))) => n == m,
            (Expect::Unreadable, Err(_)) => true,
            (Expect::Unreadable, Ok((0, _, Some(_)))) => true,
            _ => false,
        };
        if !ok {
            let got = match got {
                Ok((m, _, e)) => format!("{m} packets, then {e:?}"),
                Err(e) => format!("open failed: {e}"),
            };
            failures.push(format!("{}: expected {expect:?}, got {got}", row.file));
        }
    }
    eprintln!("link types found (type: files): {links:?}");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(links.contains_key(&1), "no Ethernet captures read");
}

#[test]
fn corpus_errors_name_file_and_offset() {
    let path = corpus_dir().join("suricata-smtp-to-comma-damaged.pcap");
    let (n, _, err) = read_all(&path).expect("opens");
    assert_eq!(n, 18);
    let msg = err.expect("damaged tail").to_string();
    assert!(
        msg.contains("suricata-smtp-to-comma-damaged.pcap: offset "),
        "{msg}"
    );
    assert!(msg.contains("3925868813 captured bytes"), "{msg}");
    assert!(msg.ends_with("file is corrupt"), "{msg}");

    let path = corpus_dir().join("libpcap-pcap-invalid-version-1.pcap");
    let msg = FileReader::open(&path)
        .expect_err("bad version")
        .to_string();
    assert!(msg.contains("unsupported pcap version 1."), "{msg}");
}

#[test]
fn corpus_merge_of_two_files_keeps_every_packet_in_time_order() {
    let a = corpus_dir().join("ndpi-alexa-app.pcapng");
    let b = corpus_dir().join("zeek-http-get-to-ssh-server.pcap");
    let expect = read_all(&a).unwrap().0 + read_all(&b).unwrap().0;
    let mut m = MergedReader::open(&[a, b]).unwrap();
    let (mut n, mut prev) = (0u64, 0u64);
    let mut sorted = true;
    while let Some(p) = m.next_packet() {
        n += 1;
        sorted &= p.ts_ns >= prev || n == 1;
        prev = p.ts_ns;
    }
    assert_eq!(n, expect);
    assert!(m.take_warnings().is_empty());
    // Each file on its own is in time order, so the merge must be too.
    assert!(sorted);
}

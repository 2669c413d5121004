//! Crafted captures of every case in ARGUS.md, through the real Argus and
//! through ocellus: the records must be identical, except for the deliberate
//! differences, each of which is pinned by its own test below.

use ocellus_tests::diff::{argus_rows, compare, describe, ocellus_rows, Row, FIELDS};
use ocellus_tests::tools::require_argus;
use ocellus_tests::{all_scenarios, Scenario};

/// Scenarios where ocellus differs from Argus on purpose (README, "What ocellus
/// does differently"), with the test that pins what ocellus does instead.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "qinq_udp",
        "802.1ad QinQ is decapsulated: deliberate_qinq_is_decapsulated",
    ),
    (
        "ipip_tcp",
        "IP-in-IP is decapsulated: deliberate_ipip_is_decapsulated",
    ),
    (
        "sixin4_udp",
        "6in4 is decapsulated: deliberate_6in4_is_decapsulated",
    ),
    (
        "vxlan_udp",
        "VXLAN is decapsulated: deliberate_vxlan_is_decapsulated",
    ),
    (
        "ipv6_fragments",
        "IPv6 fragments are folded into their flow: deliberate_ipv6_fragments_fold",
    ),
    (
        "lldp",
        "the sender of a multicast frame is the source: deliberate_multicast_sender_is_source",
    ),
    (
        "stp_llc",
        "the sender of a multicast frame is the source: deliberate_multicast_sender_is_source",
    ),
    (
        "esp_ipv6",
        "ESP over IPv6 is reported: deliberate_ipv6_esp_is_reported",
    ),
    (
        "igmp_v3_report",
        "IGMP's group address is printed as is: deliberate_igmp_destination",
    ),
];

fn scenario(name: &str) -> Scenario {
    all_scenarios()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

fn ocellus_for(name: &str) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join(format!("{name}.pcap"));
    (scenario(name).write)(&cap).unwrap();
    ocellus_rows(&cap, dir.path(), 2).unwrap()
}

fn field(r: &Row, name: &str) -> String {
    let i = FIELDS.iter().position(|f| *f == name).unwrap();
    r[i].clone()
}

#[test]
fn scenarios_match_argus() {
    require_argus();
    let mut failures = String::new();
    let mut checked = 0;
    for s in all_scenarios() {
        if DELIBERATE.iter().any(|(n, _)| *n == s.name) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let cap = dir.path().join(format!("{}.pcap", s.name));
        (s.write)(&cap).unwrap();
        let a = argus_rows(&cap, dir.path()).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let o = ocellus_rows(&cap, dir.path(), 2).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let c = compare(&a, &o);
        checked += 1;
        if !c.is_clean() {
            failures += &format!("{} ({}):\n{}", s.name, s.description, describe(&c, 10));
        }
    }
    assert!(checked > 40, "only {checked} scenarios compared");
    assert!(
        failures.is_empty(),
        "records differ from Argus:\n{failures}"
    );
}

#[test]
fn deliberate_qinq_is_decapsulated() {
    let rows = ocellus_for("qinq_udp");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(field(&rows[0], "proto"), "udp", "{rows:?}");
    assert_eq!(field(&rows[0], "flgs").trim(), "*");
}

#[test]
fn deliberate_ipip_is_decapsulated() {
    let rows = ocellus_for("ipip_tcp");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(field(&rows[0], "proto"), "tcp", "{rows:?}");
    assert_eq!(field(&rows[0], "state"), "FIN", "{rows:?}");
}

#[test]
fn deliberate_6in4_is_decapsulated() {
    let rows = ocellus_for("sixin4_udp");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(field(&rows[0], "proto"), "udp");
    assert!(field(&rows[0], "saddr").contains(':'), "{rows:?}");
}

#[test]
fn deliberate_vxlan_is_decapsulated() {
    let rows = ocellus_for("vxlan_udp");
    assert!(!rows.is_empty());
    for r in &rows {
        assert_ne!(
            field(r, "dport"),
            "4789",
            "outer VXLAN flow reported: {rows:?}"
        );
    }
}

#[test]
fn deliberate_ipv6_fragments_fold() {
    let rows = ocellus_for("ipv6_fragments");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(field(&rows[0], "spkts"), "3");
    assert_eq!(
        field(&rows[0], "flgs").chars().nth(6),
        Some('F'),
        "{rows:?}"
    );
}

#[test]
fn deliberate_multicast_sender_is_source() {
    let rows = ocellus_for("lldp");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let s = field(&rows[0], "saddr");
    assert!(
        !s.starts_with("01:80:c2"),
        "multicast address as source: {rows:?}"
    );
    assert!(field(&rows[0], "daddr").starts_with("01:80:c2"), "{rows:?}");
}

/// Argus 3.0.8 writes no record at all for ESP over IPv6; an audit record
/// per security association is what ocellus writes for ESP over IPv4 too.
#[test]
fn deliberate_ipv6_esp_is_reported() {
    let rows = ocellus_for("esp_ipv6");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(field(&rows[0], "proto"), "esp");
    assert_eq!(field(&rows[0], "saddr"), "2001:db8::1");
    assert_eq!(field(&rows[0], "spkts"), "2");
    assert_eq!(field(&rows[0], "dport"), "0x20200002");
}

#[test]
fn deliberate_igmp_destination() {
    let rows = ocellus_for("igmp_v3_report");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(field(&rows[0], "daddr"), "224.0.0.22");
}

/// The same capture gives the same records, in the same order, with any number
/// of workers.
#[test]
fn replay_is_independent_of_worker_count() {
    use ocellus_tests::tools::{corpus_dir, ocellus_bin, output};
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    for cap in [
        "ndpi-gnutella.pcap",
        "ipfixprobe-mixed.pcap",
        "zeek-wikipedia.pcap",
    ] {
        let mut outputs = Vec::new();
        for workers in [1, 2, 3, 4] {
            let ocr = dir.path().join(format!("w{workers}.ocr"));
            let o = output(
                Command::new(ocellus_bin())
                    .args(["probe", "-q", "--shards", "16", "--workers"])
                    .arg(workers.to_string())
                    .arg("-r")
                    .arg(corpus_dir().join(cap))
                    .arg("-w")
                    .arg(&ocr),
            );
            assert!(
                o.status.success(),
                "{cap}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let o = output(
                Command::new(ocellus_bin())
                    .args([
                        "read", "-M", "man", "-u", "-s", "+ltime", "+spkts", "+dpkts", "+flgs",
                        "-r",
                    ])
                    .arg(&ocr),
            );
            assert!(o.status.success());
            outputs.push(String::from_utf8_lossy(&o.stdout).into_owned());
        }
        assert!(outputs[0].lines().count() > 10, "{cap}: too few records");
        for (i, out) in outputs.iter().enumerate().skip(1) {
            assert_eq!(
                &outputs[0],
                out,
                "{cap}: workers=1 and workers={} differ",
                i + 1
            );
        }
    }
}

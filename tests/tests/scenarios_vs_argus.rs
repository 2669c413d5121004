//! Every crafted scenario is checked against the real tools: `tcpdump -nn -vv`
//! must read each packet with no complaint (checksums included), and Argus 3.0.8
//! (`argus -X` then `ra -X -n`) must give the outcome `shared/ARGUS.md` reports
//! for that case. These tests need `tcpdump`, `argus` and `ra` on the PATH
//! (Debian: `apt-get install tcpdump argus-server argus-client`); CI installs them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ocellus_tests::scenarios::BASE_S;
use ocellus_tests::{all_scenarios, Scenario};

/// One line of `ra -X -n -u -c , -s ...` output.
#[derive(Debug, Clone)]
struct Rec {
    /// Seconds after [`BASE_S`].
    t: f64,
    /// The 9-character flags string without its position 0, right-trimmed (`e s`, `*`, `eU`).
    flgs: String,
    /// `proto saddr[.sport] dir daddr[.dport] spkts/dpkts bytes state`, as ARGUS.md writes a record.
    line: String,
    fields: Vec<String>,
}

const RA_FIELDS: &[&str] = &[
    "stime", "flgs", "proto", "saddr", "sport", "dir", "daddr", "dport", "spkts", "dpkts", "bytes",
    "state",
];

impl Rec {
    fn field(&self, name: &str) -> &str {
        let idx = RA_FIELDS
            .iter()
            .chain(EXTRA_FIELDS)
            .position(|f| *f == name);
        let idx = idx.unwrap_or_else(|| panic!("{name} is not among the ra fields fetched"));
        self.fields.get(idx).map_or("", String::as_str)
    }
}

/// Extra fields fetched for the attribute checks (appended after `RA_FIELDS`).
const EXTRA_FIELDS: &[&str] = &[
    "stcpb", "dtcpb", "tcpopt", "stos", "dtos", "swin", "svid", "dvid", "smpls", "dmpls",
];

fn tool_missing(tool: &str) -> ! {
    panic!(
        "`{tool}` is not installed or not on PATH. These differential tests run the real tools: \
         apt-get install tcpdump argus-server argus-client"
    )
}

fn run(tool: &str, args: &[&str]) -> std::process::Output {
    match Command::new(tool).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => tool_missing(tool),
        Err(e) => panic!("cannot run {tool}: {e}"),
    }
}

/// Number of packet records in a classic pcap (little-endian, as `PcapWriter` writes).
fn pcap_packet_count(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let mut off = 24;
    let mut n = 0;
    while off + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16 + caplen;
        n += 1;
    }
    assert_eq!(
        off,
        bytes.len(),
        "{} has a partial record at the end",
        path.display()
    );
    n
}

/// Writes the scenario into a fresh directory and checks it with tcpdump.
fn write_checked(s: &Scenario, dir: &Path) -> PathBuf {
    let pcap = dir.join(format!("{}.pcap", s.name));
    (s.write)(&pcap).unwrap_or_else(|e| panic!("writing {}: {e}", pcap.display()));
    let expected = pcap_packet_count(&pcap);
    let out = run("tcpdump", &["-nn", "-vv", "-r", pcap.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tcpdump failed on {}: {}",
        s.name,
        String::from_utf8_lossy(&out.stderr)
    );
    // Packet lines start with the HH:MM:SS timestamp; -vv continuation lines with blanks.
    let packet_lines = stdout
        .lines()
        .filter(|l| l.as_bytes().first().is_some_and(u8::is_ascii_digit))
        .count();
    assert_eq!(
        packet_lines, expected,
        "tcpdump printed {packet_lines} packets of {expected} in {}:\n{stdout}",
        s.name
    );
    for complaint in [
        "bad",
        "incorrect",
        "truncated",
        "[|",
        "invalid",
        "malformed",
    ] {
        assert!(
            !stdout.to_ascii_lowercase().contains(complaint),
            "tcpdump complains ({complaint}) about {}:\n{stdout}",
            s.name
        );
    }
    pcap
}

/// Runs argus and ra on `pcap` and parses the records; `ra_extra` goes before `-r`.
fn argus_records_with(pcap: &Path, ra_extra: &[&str]) -> Vec<Rec> {
    let argus_out = pcap.with_extension("argus");
    // argus -w appends to an existing file.
    let _ = std::fs::remove_file(&argus_out);
    let out = run(
        "argus",
        &[
            "-X",
            "-r",
            pcap.to_str().unwrap(),
            "-w",
            argus_out.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "argus failed on {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args: Vec<&str> = vec!["-X"];
    args.extend_from_slice(ra_extra);
    args.extend_from_slice(&[
        "-n",
        "-u",
        "-c",
        ",",
        "-r",
        argus_out.to_str().unwrap(),
        "-s",
    ]);
    args.extend(RA_FIELDS.iter().chain(EXTRA_FIELDS.iter()));
    let out = run("ra", &args);
    assert!(
        out.status.success(),
        "ra failed on {}: {}",
        argus_out.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .skip(1) // header
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_rec(l, &text))
        .collect()
}

fn argus_records(pcap: &Path) -> Vec<Rec> {
    argus_records_with(pcap, &[])
}

fn parse_rec(line: &str, all: &str) -> Rec {
    let f: Vec<String> = line.split(',').map(str::to_owned).collect();
    assert!(
        f.len() >= RA_FIELDS.len(),
        "short ra line {line:?} in\n{all}"
    );
    let stime: f64 = f[0]
        .parse()
        .unwrap_or_else(|_| panic!("bad stime in {line:?}"));
    let addr = |a: &str, p: &str| {
        if p.is_empty() {
            a.to_owned()
        } else {
            format!("{a}.{p}")
        }
    };
    let line = format!(
        "{} {} {} {} {}/{} {} {}",
        f[2],
        addr(&f[3], &f[4]),
        f[5].trim(),
        addr(&f[6], &f[7]),
        f[8],
        f[9],
        f[10],
        f[11]
    );
    Rec {
        t: stime - BASE_S as f64,
        flgs: f[1].get(1..).unwrap_or("").trim_end().to_owned(),
        line,
        fields: f,
    }
}

fn scenario(name: &str) -> Scenario {
    all_scenarios()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

/// Writes, checks with tcpdump, runs argus; returns the records.
fn records(name: &str) -> Vec<Rec> {
    let dir = tempfile::tempdir().unwrap();
    let pcap = write_checked(&scenario(name), dir.path());
    argus_records(&pcap)
}

fn lines(recs: &[Rec]) -> Vec<&str> {
    recs.iter().map(|r| r.line.as_str()).collect()
}

/// Asserts the records, in order, as (seconds after BASE_S, flags, line).
fn expect(name: &str, recs: &[Rec], want: &[(f64, &str, &str)]) {
    let got: Vec<(f64, &str, &str)> = recs
        .iter()
        .map(|r| (r.t, r.flgs.as_str(), r.line.as_str()))
        .collect();
    let same = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| (g.0 - w.0).abs() < 1e-6 && g.1 == w.1 && g.2 == w.2);
    assert!(same, "{name}: argus gave\n{got:#?}\nexpected\n{want:#?}");
}

macro_rules! cases {
    ($($name:ident => $body:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let recs = records(stringify!($name));
                let check: &dyn Fn(&str, &[Rec]) = &$body;
                check(stringify!($name), &recs);
            }
        )*

        /// A scenario without a check here would never be compared with Argus.
        #[test]
        fn every_scenario_has_a_check() {
            let checked: BTreeSet<&str> = [$(stringify!($name)),*].into_iter().collect();
            let all: BTreeSet<&str> = all_scenarios().iter().map(|s| s.name).collect();
            let missing: Vec<_> = all.difference(&checked).collect();
            assert!(missing.is_empty(), "scenarios with no Argus check: {missing:?}");
        }
    };
}

cases! {
    // ---- §4 TCP states
    tcp_syn_retransmitted => |n, r| {
        expect(n, r, &[(0.0, "e s", "tcp 10.0.1.1.41001 -> 10.0.1.2.80 3/0 162 REQ")]);
    };
    tcp_syn_synack => |n, r| expect(n, r, &[(0.1, "e", "tcp 10.0.2.1.41002 -> 10.0.2.2.80 1/1 108 ACC")]);
    tcp_established_idle => |n, r| expect(n, r, &[(0.3, "e", "tcp 10.0.3.1.41003 -> 10.0.3.2.80 3/2 300 CON")]);
    tcp_rst_initiator => |n, r| expect(n, r, &[(0.7, "e", "tcp 10.0.6.1.41006 -> 10.0.6.2.80 3/1 216 RST")]);
    tcp_rst_responder => |n, r| expect(n, r, &[(0.7, "e", "tcp 10.0.7.1.41007 -> 10.0.7.2.80 2/2 216 RST")]);
    tcp_refused => |n, r| expect(n, r, &[(0.9, "e", "tcp 10.0.8.1.41008 -> 10.0.8.2.81 1/1 108 RST")]);
    tcp_retrans_zero_window_fin => |n, r| {
        expect(n, r, &[(1.0, "e sD", "tcp 10.0.9.1.41009 -> 10.0.9.2.80 6/4 940 FIN")]);
    };
    tcp_server_closes_first => |n, r| expect(n, r, &[(1.2, "e", "tcp 10.0.10.1.41010 -> 10.0.10.2.80 3/3 324 FIN")]);
    tcp_synack_first => |n, r| {
        // src = the SYN-ACK receiver; the odd CLO state.
        expect(n, r, &[(1.3, "e", "tcp 10.0.11.1.41011 -> 10.0.11.2.80 1/1 108 CLO")]);
    };
    udp_request_response => |n, r| expect(n, r, &[(2.1, "e", "udp 10.0.21.1.42002 <-> 10.0.21.2.9001 1/1 144 CON")]);
    icmp_echo_unanswered => |n, r| {
        expect(n, r, &[(3.1, "e", "icmp 10.0.31.1.0x0008 -> 10.0.31.2.0x9900 1/0 98 ECO")]);
    };
    icmp_echo_same_seq_twice => |n, r| {
        expect(n, r, &[(3.2, "e", "icmp 10.0.32.1.0x0008 <-> 10.0.32.2.0x5500 2/2 392 ECO")]);
    };
    arp_request_reply => |n, r| expect(n, r, &[(5.0, "e", "arp 10.0.40.1 who 10.0.40.2 1/1 84 CON")]);

    // ---- §3 mid-stream pickups and direction
    tcp_midstream => |n, r| {
        expect(n, r, &[(0.0, "e", "tcp 10.77.0.1.52544 <?> 10.77.0.2.7000 10/5 1010 CON")]);
        // Base sequence numbers: the first sender's first seq - 1, the other side's as seen.
        assert_eq!(r[0].field("stcpb"), "1458308230");
        assert_eq!(r[0].field("dtcpb"), "54503999");
    };
    tcp_midstream_fin => |n, r| expect(n, r, &[(0.0, "e", "tcp 10.77.0.1.52558 <?> 10.77.0.2.7000 3/2 310 FIN")]);
    direction_8080_to_41000 => |n, r| {
        expect(n, r, &[(0.0, "e", "tcp 10.9.20.1.8080 ?> 10.9.20.2.41000 1/0 54 CON")]);
        direction_with_rarc(n, "tcp 10.9.20.2.41000 <? 10.9.20.1.8080 0/1 54 CON");
    };
    direction_80_to_443 => |n, r| {
        expect(n, r, &[(0.0, "e", "tcp 10.9.20.1.80 ?> 10.9.20.2.443 1/0 54 CON")]);
        direction_with_rarc(n, "tcp 10.9.20.2.443 <? 10.9.20.1.80 0/1 54 CON");
    };
    direction_443_to_80 => |n, r| {
        expect(n, r, &[(0.0, "e", "tcp 10.9.20.1.443 ?> 10.9.20.2.80 1/0 54 CON")]);
        direction_with_rarc(n, "tcp 10.9.20.1.443 ?> 10.9.20.2.80 1/0 54 CON");
    };
    direction_5432_to_60000 => |n, r| {
        expect(n, r, &[(0.0, "e", "tcp 10.9.20.1.5432 ?> 10.9.20.2.60000 1/0 54 CON")]);
        direction_with_rarc(n, "tcp 10.9.20.2.60000 <? 10.9.20.1.5432 0/1 54 CON");
    };
    direction_1024_to_1023 => |n, r| {
        expect(n, r, &[(0.0, "e", "tcp 10.9.20.1.1024 ?> 10.9.20.2.1023 1/0 54 CON")]);
        direction_with_rarc(n, "tcp 10.9.20.1.1024 ?> 10.9.20.2.1023 1/0 54 CON");
    };
    direction_40000_to_50000 => |n, r| {
        expect(n, r, &[(0.0, "e", "tcp 10.9.20.2.40000 ?> 10.9.20.1.50000 1/0 54 CON")]);
        direction_with_rarc(n, "tcp 10.9.20.2.40000 ?> 10.9.20.1.50000 1/0 54 CON");
    };
    udp_from_port_53 => |n, r| expect(n, r, &[(0.0, "e", "udp 10.0.22.2.53 -> 10.0.22.1.42003 1/0 71 INT")]);

    // ---- §4 idle gaps and status intervals
    udp_idle_gaps => |n, r| {
        let flow: Vec<Rec> = r.iter().filter(|x| x.line.contains(".42001 ")).cloned().collect();
        let states: Vec<(f64, &str)> = flow.iter().map(|x| (x.t, x.field("state"))).collect();
        assert_eq!(
            states,
            vec![(2.0, "INT"), (12.0, "REQ"), (41.0, "REQ"), (72.5, "REQ"), (134.0, "INT")],
            "{n}: gaps of 10, 29 and 31.5 s continue the flow, 61.5 s starts a new one: {:#?}",
            lines(&flow)
        );
        // The 20-byte 'u' payload is taken for UDT.
        assert!(flow.iter().all(|x| x.line.starts_with("udt 10.0.20.1.42001 -> 10.0.20.2.9000 1/0 62 ")), "{:#?}", lines(&flow));
    };
    icmp_echo_gaps => |n, r| {
        let want = "icmp 10.0.30.1.0x0008 -> 10.0.30.2.0x3412 1/0 98 ECO";
        expect(n, r, &[(3.0, "e", want), (4.0, "e", want), (8.5, "e", want), (14.5, "e", want)]);
    };
    arp_gaps => |n, r| {
        expect(n, r, &[
            (5.0, "e", "arp 10.0.40.1 who 10.0.40.2 2/0 84 INT"),
            (10.0, "e", "arp 10.0.40.1 who 10.0.40.2 1/0 42 INT"),
            (16.0, "e", "arp 10.0.40.1 who 10.0.40.2 1/0 42 INT"),
        ]);
    };
    ipproto253_gaps => |n, r| {
        expect(n, r, &[
            (6.0, "e", "ib 10.0.50.1 -> 10.0.50.2 1/0 54 INT"),
            (26.0, "e", "ib 10.0.50.1 -> 10.0.50.2 1/0 54 REQ"),
            (57.5, "e", "ib 10.0.50.1 -> 10.0.50.2 1/0 54 REQ"),
        ]);
    };
    ethertype_88b5_gaps => |n, r| {
        let l = |s| format!("34997 02:00:00:00:00:01.0 -> 02:00:00:00:00:02.0 1/0 60 {s}");
        let (a, b, c) = (l("INT"), l("REQ"), l("REQ"));
        expect(n, r, &[(7.0, "e", &a), (27.0, "e", &b), (58.5, "e", &c)]);
    };
    tcp_idle_70_130 => |n, r| {
        let flow: Vec<Rec> = r.iter().filter(|x| x.line.contains(".41003 ")).cloned().collect();
        expect(n, &flow, &[
            (0.3, "e", "tcp 10.0.3.1.41003 -> 10.0.3.2.80 3/2 300 CON"),
            (70.304, "e", "tcp 10.0.3.1.41003 <?> 10.0.3.2.80 1/1 168 CON"),
            (200.305, "e", "tcp 10.0.3.1.41003 ?> 10.0.3.2.80 1/0 84 CON"),
        ]);
    };
    udp_bidirectional_150s => |n, r| {
        assert_eq!(r.len(), 30, "{n}: one record per 5 s: {:#?}", lines(r));
        for (k, rec) in r.iter().enumerate() {
            assert!((rec.t - 5.0 * k as f64).abs() < 1e-6, "{n}: record {k} starts at {}", rec.t);
            assert_eq!(rec.line, "udp 10.0.60.1.43000 <-> 10.0.60.2.6000 5/5 740 CON", "{n}: record {k}");
        }
    };

    // ---- keys
    dns_txid_v4 => |n, r| {
        expect(n, r, &[
            (0.0, "e", "udp 10.0.70.1.42053 -> 10.0.70.2.53 2/0 142 INT"),
            (0.1, "e", "udp 10.0.70.1.42053 -> 10.0.70.2.53 1/0 71 INT"),
        ]);
    };
    dns_txid_v6 => |n, r| expect(n, r, &[(0.0, "e", "udp 2001:db8:70::1.42053 -> 2001:db8:70::2.53 3/0 273 INT")]);
    icmp_echo_v4_per_seq => |n, r| {
        let want = "icmp 10.77.0.1.0x0008 <-> 10.77.0.2.0xd154 1/1 196 ECO";
        expect(n, r, &[(0.0, "e", want), (1.0, "e", want), (2.0, "e", want), (3.0, "e", want), (4.0, "e", want)]);
    };
    icmpv6_echo_one_flow => |n, r| {
        expect(n, r, &[(0.0, "e", "ipv6-icmp 2001:db8:80::1.128 <-> 2001:db8:80::2.0 3/3 708 ECO")]);
    };
    icmpv6_neighbor_solicit => |n, r| expect(n, r, &[(0.0, "e", "ipv6-icmp fd77::1.135 -> ff02::1:ff00:2.0 1/0 86 NNS")]);
    icmp_port_unreachable => |n, r| {
        expect(n, r, &[
            (0.0, "eU", "udp 10.0.90.1.42090 -> 10.0.90.2.9999 1/0 62 INT"),
            (0.001, "e", "icmp 10.0.90.2.0x0303 -> 10.0.90.1.0x0f27 1/0 90 URP"),
        ]);
    };

    // ---- §5 encapsulations
    ipv6_tcp => |n, r| expect(n, r, &[(0.01, "e", "tcp 2001:db8::a.40001 -> 2001:db8::b.80 6/4 822 FIN")]);
    vlan_tcp => |n, r| {
        expect(n, r, &[(0.01, "*", "tcp 192.0.2.1.40010 -> 192.0.2.2.80 6/4 662 FIN")]);
        assert_eq!((r[0].field("svid"), r[0].field("dvid")), ("100", "100"));
    };
    vlan_udp_200_201 => |n, r| {
        expect(n, r, &[(0.01, "*", "udp 192.0.2.1.40011 <-> 192.0.2.3.5000 3/3 1176 CON")]);
        assert_eq!((r[0].field("svid"), r[0].field("dvid")), ("200", "201"));
    };
    qinq_udp => |n, r| {
        expect(n, r, &[(0.01, "e", "34984 02:00:00:00:00:0a.0 <-> 02:00:00:00:00:0b.0 3/3 1200 CON")]);
    };
    mpls_tcp => |n, r| {
        expect(n, r, &[(0.01, "*", "tcp 198.51.100.1.40020 -> 198.51.100.2.443 6/4 662 FIN")]);
        assert_eq!((r[0].field("smpls"), r[0].field("dmpls")), ("1000", "1001"));
    };
    gre_udp => |n, r| expect(n, r, &[(0.01, "*", "udp 10.1.1.1.40030 <-> 10.1.1.2.5003 3/3 1296 CON")]);
    ipip_tcp => |n, r| expect(n, r, &[(0.01, "e", "ipnip 203.0.113.1 <-> 203.0.113.3 6/4 822 CON")]);
    sixin4_udp => |n, r| expect(n, r, &[(0.01, "e", "ipv6 203.0.113.1 <-> 203.0.113.4 3/3 1392 CON")]);
    pppoe_udp => |n, r| expect(n, r, &[(0.01, "*", "udp 100.64.0.1.40060 <-> 100.64.0.2.5005 3/3 1200 CON")]);
    ipv4_fragments => |n, r| expect(n, r, &[(0.0, "e    F", "udp 192.0.2.1.40070 -> 192.0.2.9.5006 3/0 3110 INT")]);
    ipv6_fragments => |n, r| {
        // Measured: Argus 3.0.8 does not fold IPv6 fragments into the flow. The first
        // fragment makes the UDP flow; the rest form a partial-fragment flow (flag f)
        // whose "dport" is the low half of the fragment id 0x4242.
        expect(n, r, &[
            (0.0, "e", "udp 2001:db8:f::1.40071 -> 2001:db8:f::2.5007 1/0 1510 INT"),
            (0.001, "e    f", "udp 2001:db8:f::1.0 -> 2001:db8:f::2.16962 2/0 1684 INT"),
        ]);
    };
    lldp => |n, r| {
        // The multicast destination prints as SrcAddr.
        expect(n, r, &[(0.0, "e", "lldp 01:80:c2:00:00:0e.0 -> 02:00:00:00:00:0a.0 2/0 66 INT")]);
    };
    stp_llc => |n, r| expect(n, r, &[(0.0, "*", "llc 01:80:c2:00:00:00.66 -> 02:00:00:00:00:0a.66 1/0 52 INT")]);
    sctp => |n, r| expect(n, r, &[(0.0, "e", "sctp 192.0.2.1 <-> 192.0.2.6 1/1 132 CON")]);
    esp => |n, r| expect(n, r, &[(0.0, "e", "esp 192.0.2.1 -> 192.0.2.7.0x20200001 2/0 164 INT")]);
    // Argus 3.0.8 counts the packets but writes no flow record for ESP over
    // IPv6 (ocellus reports it: deliberate_ipv6_esp_is_reported).
    esp_ipv6 => |n, r| expect(n, r, &[]);
    igmp_v3_report => |n, r| expect(n, r, &[(0.0, "e", "igmp 192.0.2.1 -> 0.0.0.1 1/0 50 INT")]);
    vxlan_udp => |n, r| {
        // Measured: VXLAN is not decapsulated; both directions use source port 49152,
        // so they are two one-way outer UDP flows.
        expect(n, r, &[
            (0.01, "e", "udp 192.0.2.1.49152 -> 192.0.2.10.4789 3/0 576 INT"),
            (0.011, "e", "udp 192.0.2.10.49152 -> 192.0.2.1.4789 3/0 576 INT"),
        ]);
    };
    tcp_snaplen_truncated => |n, r| {
        // 3x54 + 154 + 5x1054 + 4x54 = 5802 bytes on the wire although only 96 bytes per frame were captured.
        expect(n, r, &[(0.0, "e", "tcp 10.77.0.1.49456 -> 10.77.0.2.8080 6/7 5802 FIN")]);
    };
    tcp_ecn_options => |n, r| {
        expect(n, r, &[(0.0, "e   t", "tcp 10.0.95.1.41095 -> 10.0.95.2.80 3/2 320 CON")]);
        assert_eq!(r[0].field("tcpopt"), "Mws   T   S", "MSS, wscale, sackOK, timestamps, ECN on the SYN");
        assert_eq!((r[0].field("stos"), r[0].field("dtos")), ("2", "3"));
        assert_eq!(r[0].field("swin"), "64256", "the window is scaled: 502 x 128");
    };
    ipv4_options => |n, r| expect(n, r, &[(0.0, "e     R", "udp 10.0.96.1.42096 -> 10.0.96.2.5010 1/0 64 INT")]);
}

/// With Debian's rarc direction rule (`RA_PORT_DIRECTION="services,wellknown"`),
/// ra flips ambiguous TCP flows so that the service port is the destination.
fn direction_with_rarc(name: &str, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pcap = write_checked(&scenario(name), dir.path());
    let rc = dir.path().join("ra.rc");
    std::fs::write(&rc, "RA_PORT_DIRECTION=\"services,wellknown\"\n").unwrap();
    let recs = argus_records_with(&pcap, &["-F", rc.to_str().unwrap()]);
    assert_eq!(
        lines(&recs),
        vec![want],
        "{name} with the port-direction rarc"
    );
}

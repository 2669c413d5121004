//! NetFlow/IPFIX against real peers, all on 127.0.0.1: softflowd exports a
//! corpus capture to `ocellus collect` and to nfcapd at once; ocellus's IPFIX
//! export is read back by `ocellus collect` and by nfcapd/nfdump. Every flow
//! and counter must be accounted for.

use ocellus::record::FlowRecord;
use ocellus_tests::tools::{corpus_dir, ocellus, output};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn require_peers() {
    for p in [
        "/usr/sbin/softflowd",
        "/usr/sbin/softflowctl",
        "/usr/bin/nfcapd",
        "/usr/bin/nfdump",
    ] {
        assert!(
            Path::new(p).exists(),
            "{p} is missing: install Debian's softflowd and nfdump (cargo xtask setup does)"
        );
    }
}

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// `ocellus collect --listen` on a free port, writing to `out`; returns the
/// child and the port it printed.
fn start_collect(out: &Path) -> (Child, u16, BufReader<std::process::ChildStderr>) {
    let mut child = ocellus("collect")
        .args([
            "--listen",
            "udp://127.0.0.1:0",
            "--idle-exit",
            "3",
            "--stats",
            "-w",
        ])
        .arg(out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ocellus collect");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("collect's first line");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (child, port, err)
}

/// Waits for collect to stop on its own (idle exit) and returns its stats line.
fn finish_collect(mut child: Child, mut err: BufReader<std::process::ChildStderr>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            assert!(st.success(), "collect failed: {st}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ocellus collect did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut rest = String::new();
    err.read_to_string(&mut rest).expect("stderr");
    rest
}

fn stat(stats: &str, name: &str) -> u64 {
    let words: Vec<&str> = stats.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {stats}"))
}

fn read_records(path: &Path) -> Vec<FlowRecord> {
    let mut src = ocellus::ring::open_source(path, false).expect("open records");
    let mut v = Vec::new();
    while let Some(r) = src.next_record().expect("read records") {
        if !r.kind.is_man() {
            v.push(r);
        }
    }
    v
}

/// nfcapd on a free port writing under `dir`.
struct Nfcapd {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nfcapd {
    fn start(dir: &Path) -> Nfcapd {
        std::fs::create_dir_all(dir).expect("mkdir");
        let port = free_udp_port();
        let child = Command::new("/usr/bin/nfcapd")
            .arg("-w")
            .arg(dir)
            .args(["-b", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nfcapd");
        // nfcapd binds within a moment; wait until the port is taken.
        let deadline = Instant::now() + Duration::from_secs(10);
        while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < deadline, "nfcapd did not bind");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nfcapd {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// Stops nfcapd (it writes its file on SIGTERM) and returns nfdump's flows:
    /// (sa, da, sp, dp, pr) -> (ipkt, ibyt, opkt, obyt), summed over duplicates.
    fn flows(mut self) -> Vec<[String; 9]> {
        std::thread::sleep(Duration::from_millis(500));
        let pid = self.child.id().to_string();
        output(Command::new("kill").args(["-TERM", &pid]));
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "nfcapd did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = output(
            Command::new("/usr/bin/nfdump")
                .arg("-R")
                .arg(&self.dir)
                .args([
                    "-q",
                    "-N",
                    "-6",
                    "-o",
                    "fmt:%sa,%da,%sp,%dp,%pr,%ipkt,%ibyt,%opkt,%obyt",
                ]),
        );
        assert!(
            out.status.success(),
            "nfdump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let f: Vec<String> = l.split(',').map(|s| s.trim().to_string()).collect();
                assert_eq!(f.len(), 9, "nfdump line {l:?}");
                std::array::from_fn(|i| f[i].clone())
            })
            .collect()
    }
}

fn addr(r: &FlowRecord, src: bool) -> String {
    let a = if src { r.key.src } else { r.key.dst };
    if r.key.class == ocellus::record::KeyClass::Ipv4 as u8 {
        std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()
    } else {
        std::net::Ipv6Addr::from(a).to_string()
    }
}

/// A flow as both sides can state it: addresses, ports (not for ICMP, whose
/// type/code each tool writes its own way), protocol -> counters.
type FlowMap = BTreeMap<(String, String, u16, u16, u8), [u64; 4]>;

fn ocellus_flows(recs: &[FlowRecord]) -> FlowMap {
    let mut m = FlowMap::new();
    for r in recs {
        let icmp = r.key.proto == 1 || r.key.proto == 58;
        let (sp, dp) = if icmp {
            (0, 0)
        } else {
            (r.key.sport, r.key.dport)
        };
        let e = m
            .entry((addr(r, true), addr(r, false), sp, dp, r.key.proto))
            .or_default();
        e[0] += r.src.pkts;
        e[1] += r.src.bytes;
        e[2] += r.dst.pkts;
        e[3] += r.dst.bytes;
    }
    m
}

fn nfdump_flows(rows: &[[String; 9]]) -> FlowMap {
    let mut m = FlowMap::new();
    for f in rows {
        // With -N nfdump prints protocol numbers.
        let proto: u8 = f[4]
            .parse()
            .unwrap_or_else(|_| panic!("nfdump protocol {:?}", f[4]));
        let icmp = proto == 1 || proto == 58;
        let port = |s: &str| {
            if icmp {
                0
            } else {
                s.parse::<u16>().unwrap_or(0)
            }
        };
        let n = |s: &str| {
            s.parse::<u64>()
                .unwrap_or_else(|_| panic!("nfdump count {s:?}"))
        };
        let e = m
            .entry((f[0].clone(), f[1].clone(), port(&f[2]), port(&f[3]), proto))
            .or_default();
        e[0] += n(&f[5]);
        e[1] += n(&f[6]);
        e[2] += n(&f[7]);
        e[3] += n(&f[8]);
    }
    m
}

fn totals(m: &FlowMap) -> [u64; 4] {
    m.values().fold([0; 4], |a, v| {
        [a[0] + v[0], a[1] + v[1], a[2] + v[2], a[3] + v[3]]
    })
}

/// What softflowd says it did, from its shutdown report.
#[derive(Debug, Default)]
struct SoftflowdView {
    packets: u64,
    flows: u64,
    records: u64,
    export_packets: u64,
    octets: u64,
}

fn parse_softflowd(text: &str) -> SoftflowdView {
    let mut v = SoftflowdView::default();
    let num = |s: &str| {
        s.trim_matches(|c: char| !c.is_ascii_digit())
            .parse::<u64>()
            .unwrap_or(0)
    };
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("Flows exported:") {
            // Flows exported: 9 (17 records) in 1 packets (0 failures)
            v.flows = num(w[2]);
            v.records = num(w[3]);
            v.export_packets = num(w[6]);
            assert_eq!(num(w[8]), 0, "softflowd send failures: {line}");
        } else if w.len() >= 4 && w[1].starts_with('(') && line.contains("):") {
            // Per-protocol statistics:   tcp (6):   65524   46   ...
            v.octets += num(w[2]);
            v.packets += num(w[3]);
        }
    }
    v
}

/// Runs softflowd over `pcap` exporting version `ver` to a relay socket, then
/// forwards every datagram to each of `targets`. Returns softflowd's view and
/// the datagrams relayed.
fn softflowd_export(
    pcap: &Path,
    ver: &str,
    bidir: bool,
    targets: &[u16],
    tmp: &Path,
) -> (SoftflowdView, usize) {
    let relay = UdpSocket::bind("127.0.0.1:0").expect("relay");
    relay
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let rport = relay.local_addr().expect("addr").port();
    let ctl = tmp.join(format!("ctl{ver}{bidir}"));
    let mut cmd = Command::new("/usr/sbin/softflowd");
    cmd.arg("-r")
        .arg(pcap)
        .args(["-n", &format!("127.0.0.1:{rport}"), "-v", ver, "-d"])
        .arg("-p")
        .arg(tmp.join("pid"))
        .arg("-c")
        .arg(&ctl)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if bidir {
        cmd.arg("-b");
    }
    if ver != "5" {
        // Track IPv6 too (NetFlow v5 cannot carry it).
        cmd.arg("-6");
    }
    let mut child = cmd.spawn().expect("start softflowd");
    // softflowd 1.1 reads a capture file only once its control socket is
    // served; `shutdown` makes it read, expire every flow, export and report.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ctl.exists() {
        assert!(
            Instant::now() < deadline,
            "softflowd made no control socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A first command starts the reading; `shutdown` alone can win the race
    // and export nothing.
    for cmd in ["statistics", "shutdown"] {
        let o = output(
            Command::new("/usr/sbin/softflowctl")
                .arg("-c")
                .arg(&ctl)
                .arg(cmd),
        );
        assert!(o.status.success(), "softflowctl {cmd}: {o:?}");
    }
    let mut datagrams = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match relay.recv(&mut buf) {
            Ok(n) => datagrams.push(buf[..n].to_vec()),
            Err(_) => {
                if child.try_wait().expect("wait").is_some() {
                    break;
                }
            }
        }
        assert!(Instant::now() < deadline, "softflowd did not finish");
    }
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut text)
        .expect("read");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut text)
        .expect("read");
    let out = UdpSocket::bind("127.0.0.1:0").expect("sender");
    for d in &datagrams {
        for &p in targets {
            out.send_to(d, ("127.0.0.1", p)).expect("forward");
        }
        // Pace the sends: both receivers are on this machine.
        std::thread::sleep(Duration::from_millis(2));
    }
    (parse_softflowd(&text), datagrams.len())
}

#[test]
fn softflowd_exports_match_collect_and_nfdump() {
    require_peers();
    let captures = [
        "ipfixprobe-http.pcap",
        "ipfixprobe-dns.pcap",
        "ipfixprobe-mixed.pcap",
    ];
    for cap in captures {
        for (ver, bidir) in [("5", false), ("9", false), ("10", false), ("10", true)] {
            let tmp = tempfile::tempdir().expect("tmp");
            let out = tmp.path().join("c.ocr");
            let (collect, cport, err) = start_collect(&out);
            let nf = Nfcapd::start(&tmp.path().join("nf"));
            let (view, n) = softflowd_export(
                &corpus_dir().join(cap),
                ver,
                bidir,
                &[cport, nf.port],
                tmp.path(),
            );
            let stats = finish_collect(collect, err);
            let what = format!("{cap} v{ver}{}", if bidir { " biflow" } else { "" });
            assert_eq!(
                n as u64, view.export_packets,
                "{what}: relayed all of softflowd's datagrams"
            );
            assert_eq!(stat(&stats, "datagrams"), n as u64, "{what}: {stats}");
            assert_eq!(
                stat(&stats, "malformed_sets") + stat(&stats, "malformed_records"),
                0,
                "{what}"
            );
            assert_eq!(stat(&stats, "held_sets_dropped"), 0, "{what}");
            let recs = read_records(&out);
            assert!(recs
                .iter()
                .all(|r| r.flags & ocellus::record::flag::NETFLOW != 0));
            // softflowd's own view: its record count and octet total.
            assert!(view.records > 0, "{what}: softflowd exported nothing");
            assert_eq!(recs.len() as u64, view.records, "{what}: {view:?}");
            let ours = ocellus_flows(&recs);
            let t = totals(&ours);
            assert_eq!(
                t[1] + t[3],
                view.octets,
                "{what}: bytes vs softflowd {view:?}"
            );
            {
                assert_eq!(
                    t[0] + t[2],
                    view.packets,
                    "{what}: packets vs softflowd {view:?}"
                );
            }
            if bidir {
                assert!(t[2] > 0, "{what}: biflow reverse counters");
            }
            // nfdump decoding the same datagrams: the same flows, flow by flow.
            let theirs = nfdump_flows(&nf.flows());
            assert_eq!(ours, theirs, "{what}: ocellus vs nfdump");
        }
    }
}

#[test]
fn ipfix_export_round_trips_through_collect_and_nfdump() {
    require_peers();
    let tmp = tempfile::tempdir().expect("tmp");
    let inputs = probe_captures(
        tmp.path(),
        &[
            "ipfixprobe-mixed.pcap",
            "ipfixprobe-smtp.pcap",
            "ipfixprobe-http.pcap",
            "ipfixprobe-vlan.pcap",
        ],
    );
    let out = tmp.path().join("back.ocr");
    let (collect, cport, err) = start_collect(&out);
    let nf = Nfcapd::start(&tmp.path().join("nf"));
    let mut sent = Vec::new();
    for ocr in &inputs {
        for port in [cport, nf.port] {
            export_ipfix(ocr, &format!("udp://127.0.0.1:{port}"));
        }
        sent.extend(read_records(ocr));
    }
    let stats = finish_collect(collect, err);
    let ip: Vec<FlowRecord> = sent.into_iter().filter(|r| r.key.class().is_ip()).collect();
    assert!(ip.len() > 50, "enough flows to span several messages");
    let back = read_records(&out);
    assert_eq!(back.len(), ip.len(), "{stats}");
    assert_eq!(
        stat(&stats, "biflow_records"),
        ip.iter().filter(|r| r.dst.pkts > 0).count() as u64
    );
    let sent_map = ocellus_flows(&ip);
    assert_eq!(
        ocellus_flows(&back),
        sent_map,
        "ocellus collect got every flow and counter"
    );
    // Times survive at millisecond resolution.
    for (s, b) in ip.iter().zip(&back) {
        assert_eq!(b.stime_ns / 1_000_000, s.stime_ns / 1_000_000);
        assert_eq!(b.ltime_ns / 1_000_000, s.ltime_ns / 1_000_000);
    }
    let theirs = nfdump_flows(&nf.flows());
    assert_eq!(theirs, sent_map, "nfdump got every flow and counter");
}

/// `ocellus collect --listen tcp://` on a free port; returns the child, the
/// port and its stderr.
/// `ocellus read -r ocr --ipfix url`: exports the file's records as IPFIX.
fn export_ipfix(ocr: &Path, url: &str) {
    let o = output(ocellus("read").arg("-r").arg(ocr).args(["--ipfix", url]));
    assert!(o.status.success(), "read --ipfix {url}: {o:?}");
}

/// Records of corpus captures, made by `ocellus probe` into `dir`.
fn probe_captures(dir: &Path, caps: &[&str]) -> Vec<PathBuf> {
    caps.iter()
        .map(|cap| {
            let ocr = dir.join(format!("{cap}.ocr"));
            let o = output(
                ocellus("probe")
                    .arg("-r")
                    .arg(corpus_dir().join(cap))
                    .arg("-w")
                    .arg(&ocr),
            );
            assert!(o.status.success(), "probe {cap}: {o:?}");
            ocr
        })
        .collect()
}

fn start_collect_tcp(
    out: &Path,
    extra: &[&str],
) -> (Child, u16, BufReader<std::process::ChildStderr>) {
    let mut child = ocellus("collect")
        .args(["--listen", "tcp://127.0.0.1:0", "--stats"])
        .args(extra)
        .arg("-w")
        .arg(out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ocellus collect");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("collect's first line");
    assert!(line.contains("listening on tcp://"), "{line}");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (child, port, err)
}

/// Whether the collector closed `s` (end of stream or reset) within `secs`.
fn closed_by_peer(s: &mut std::net::TcpStream, secs: u64) -> bool {
    use std::io::Read as _;
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut b = [0u8; 16];
    !matches!(s.read(&mut b), Err(ref e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
}

#[test]
fn ipfix_over_tcp_round_trips_and_hostile_streams_are_closed() {
    use std::io::Write as _;
    use std::net::TcpStream;
    let tmp = tempfile::tempdir().expect("tmp");
    let inputs = probe_captures(
        tmp.path(),
        &["ipfixprobe-mixed.pcap", "ipfixprobe-http.pcap"],
    );
    let out = tmp.path().join("back.ocr");
    let (collect, port, err) = start_collect_tcp(
        &out,
        &[
            "--idle-exit",
            "6",
            "--tcp-idle-timeout",
            "1",
            "--max-exporters",
            "3",
        ],
    );
    let addr = format!("127.0.0.1:{port}");
    // Three exporters that connect and say nothing fill the slots: a fourth
    // is closed at once; the silent ones are closed after the idle timeout.
    let mut silent: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&addr).unwrap();
    assert!(
        closed_by_peer(&mut extra, 3),
        "a fourth exporter is refused"
    );
    for s in &mut silent {
        assert!(closed_by_peer(s, 5), "a silent exporter is closed");
    }
    // Hostile streams: each is closed, and the collector goes on.
    let hostile = |bytes: &[u8], then_close: bool| {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(bytes).unwrap();
        if then_close {
            drop(s);
        } else {
            assert!(closed_by_peer(&mut s, 3), "{bytes:?} was not closed");
        }
    };
    hostile(b"GET / HTTP/1.0\r\n\r\n", false);
    hostile(&[0, 10, 0, 0], false);
    hostile(&[0, 9, 0, 1, 0, 0, 0, 0], false);
    let mut truncated = vec![0u8; 40];
    truncated[..4].copy_from_slice(&[0, 10, 0, 100]);
    hostile(&truncated, true);
    let mut sent = Vec::new();
    for ocr in &inputs {
        export_ipfix(ocr, &format!("tcp://{addr}"));
        sent.extend(read_records(ocr));
    }
    let stats = finish_collect(collect, err);
    let ip: Vec<FlowRecord> = sent.into_iter().filter(|r| r.key.class().is_ip()).collect();
    assert!(ip.len() > 20, "{}", ip.len());
    let back = read_records(&out);
    assert_eq!(back.len(), ip.len(), "{stats}");
    assert_eq!(
        ocellus_flows(&back),
        ocellus_flows(&ip),
        "every flow and counter came over TCP"
    );
    assert_eq!(stat(&stats, "tcp_refused"), 1, "{stats}");
    assert_eq!(stat(&stats, "tcp_closed_idle"), 3, "{stats}");
    assert_eq!(stat(&stats, "tcp_closed_bad_stream"), 3, "{stats}");
    assert_eq!(stat(&stats, "tcp_closed_mid_message"), 1, "{stats}");
    assert_eq!(
        stat(&stats, "tcp_accepted"),
        3 + 4 + inputs.len() as u64,
        "{stats}"
    );
    for why in [
        "refused: too many exporters",
        "sent nothing for",
        "not an IPFIX stream (version 18245",
        "message length 0 is shorter",
        "version 9",
        "closed in the middle of a message (40 bytes dropped)",
    ] {
        assert!(stats.contains(why), "no '{why}' in the log:\n{stats}");
    }
}

//! Live capture for real, as root (CI runs as root; elsewhere these fail with
//! a clear message): namespaces, veth pairs, a tc mirror to the probe's
//! namespace, real traffic; the live records must equal `ocellus probe -r` on
//! tcpdump's capture of the same frames.

use ocellus_tests::netns::{in_netns, require_root, sh, spawn_in_netns, start_ready, term, Topo};
use ocellus_tests::tools::ocellus_bin;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One live test at a time: they load the same XDP program and check that
/// none is left behind.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Real traffic between a and b: pings (v4, v6), a TCP transfer, a UDP burst.
fn traffic(t: &Topo) {
    sh(&[
        "ip",
        "netns",
        "exec",
        &t.a,
        "ping",
        "-c",
        "3",
        "-i",
        "0.2",
        &t.ip4(2),
    ]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &t.a,
        "ping",
        "-6",
        "-c",
        "3",
        "-i",
        "0.2",
        &t.ip6(2),
    ]);
    // TCP: a server in b, a client in a sending 200 kB; UDP: 50 datagrams.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = spawn_in_netns(&t.b, move || {
        let l = std::net::TcpListener::bind("0.0.0.0:5555").expect("bind");
        let u = std::net::UdpSocket::bind("0.0.0.0:5556").expect("bind udp");
        ready_tx.send(()).expect("ready");
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).expect("read");
        s.write_all(b"thanks").expect("reply");
        drop(s);
        u.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let mut n = 0;
        let mut b = [0u8; 2048];
        while u.recv_from(&mut b).is_ok() {
            n += 1;
            if n == 50 {
                break;
            }
        }
        (buf.len(), n)
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server ready");
    let dst4 = t.ip4(2);
    in_netns(&t.a, move || {
        let mut c = std::net::TcpStream::connect(format!("{dst4}:5555")).expect("connect");
        c.write_all(&vec![7u8; 200_000]).expect("send");
        c.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut r = Vec::new();
        c.read_to_end(&mut r).expect("reply");
        let u = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp");
        for i in 0..50u32 {
            u.send_to(&[i as u8; 300], format!("{dst4}:5556"))
                .expect("udp send");
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let (tcp_bytes, udp) = server.join().expect("server");
    assert_eq!(tcp_bytes, 200_000);
    assert_eq!(udp, 50);
}

const FIELDS: &[&str] = &[
    "proto", "saddr", "sport", "dir", "daddr", "dport", "spkts", "dpkts", "sbytes", "dbytes",
    "state",
];

/// The records of `file`, printed as CSV and sorted; link-local and multicast
/// housekeeping left out (it is not the hosts' traffic).
fn rows(file: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["read", "-n", "-u", "-c", ",", "-L", "-1", "-s"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(FIELDS.iter().map(|s| s.to_string()));
    let o = Command::new(ocellus_bin())
        .args(&args)
        .arg("-r")
        .arg(file)
        .output()
        .expect("ocellus read");
    assert!(
        o.status.success(),
        "ocellus read: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split(',').map(str::trim).collect::<Vec<_>>().join(","))
        .filter(|l| !l.is_empty() && !l.contains("ff02:") && !l.contains("fe80:"))
        .collect();
    v.sort();
    v
}

/// Runs the probe with `capture_args` on span1 and tcpdump on span0 (the
/// mirror's sending side: the same frames), makes traffic, stops both, and
/// compares the live records with a replay of tcpdump's capture.
fn live_equals_replay(tag: &str, capture_args: &[&str], ready: &str) {
    live_equals_replay_at(tag, Watch::Span, capture_args, ready)
}

/// Where the probe watches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// span1 in p: the mirror of b's link (tcpdump on span0, outgoing).
    Span,
    /// vb in b: the server's own interface (tcpdump on vb, both ways).
    Host,
}

fn live_equals_replay_at(tag: &str, watch: Watch, capture_args: &[&str], ready: &str) {
    let (a, err) = live_vs_replay(tag, watch, capture_args, ready, None);
    assert!(
        a.iter().filter(|r| r.starts_with("tcp,")).count() == 1
            && a.iter().filter(|r| r.starts_with("udp,")).count() >= 1
            && a.iter().filter(|r| r.starts_with("icmp,")).count() >= 3,
        "the live records miss the test traffic:\n{}\nprobe stderr:\n{err}",
        a.join("\n")
    );
    if capture_args.contains(&"xdp") {
        let k = kernel_counters(&err);
        assert!(k.seen > 0, "no kernel counters in:\n{err}");
        // Sockets are in the map before the program attaches, and the
        // program detaches before they close: no frame meets an empty slot.
        assert_eq!(k.redirect_failed, 0, "redirect failures:\n{err}");
    }
}

/// The XDP program's final counters, from the probe's `--stats` output.
#[derive(Debug, Default)]
struct KernelCounters {
    seen: u64,
    filtered: u64,
    redirect_failed: u64,
}

fn kernel_counters(stderr: &str) -> KernelCounters {
    let Some(line) = stderr.lines().rev().find(|l| l.contains(": kernel: seen ")) else {
        return KernelCounters::default();
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let get = |name: &str| -> u64 {
        words
            .iter()
            .position(|w| *w == name)
            .and_then(|i| words.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    KernelCounters {
        seen: get("seen"),
        filtered: get("filtered"),
        redirect_failed: get("redirect-failed"),
    }
}

/// Runs the probe (with `--filter` when `filter` is given) and tcpdump (with
/// the same filter) during the test traffic; asserts the live records equal
/// the replay of tcpdump's capture and returns them with the probe's stderr.
fn live_vs_replay(
    tag: &str,
    watch: Watch,
    capture_args: &[&str],
    ready: &str,
    filter: Option<&str>,
) -> (Vec<String>, String) {
    require_root();
    let _g = serial();
    let t = Topo::new(tag);
    let dir = tempfile::tempdir().expect("tempdir");
    let live = dir.path().join("live.ocr");
    let cap = dir.path().join("span.pcap");
    let bin = ocellus_bin();
    let bin = bin.to_str().expect("utf-8 path");
    let live_s = live.to_str().expect("utf-8 path");
    let cap_s = cap.to_str().expect("utf-8 path");
    let (probe_ns, probe_if, dump_if, dump_dir) = match watch {
        Watch::Span => (&t.p, "span1", "span0", "out"),
        Watch::Host => (&t.b, "vb", "vb", "inout"),
    };
    let mut args = vec![
        bin, "probe", "--iface", probe_if, "-w", live_s, "-S", "3600", "--stats",
    ];
    args.extend_from_slice(capture_args);
    if let Some(f) = filter {
        args.extend_from_slice(&["--filter", f]);
    }
    let (mut probe, probe_err) = start_ready(probe_ns, &args, &[ready]);
    let mut dump_args = vec![
        "tcpdump",
        "-i",
        dump_if,
        "-Q",
        dump_dir,
        "-n",
        "-s",
        "0",
        // Each packet handed over as it comes: otherwise the kernel holds
        // them in blocks for up to a second, and the block still held when
        // tcpdump is stopped is lost (the capture then misses the last
        // flows of the traffic).
        "--immediate-mode",
        "-U",
        "-w",
        cap_s,
    ];
    dump_args.extend(filter);
    let (mut dump, _dump_err) = start_ready(&t.b, &dump_args, &["listening on"]);
    std::thread::sleep(Duration::from_millis(300));
    traffic(&t);
    std::thread::sleep(Duration::from_millis(700));
    let st = term(&mut probe);
    term(&mut dump);
    let err = probe_err.join().unwrap_or_default();
    assert!(st.success(), "the probe exited with {st}: {err}");

    // Nothing left attached after SIGTERM.
    let link = sh(&["ip", "-n", probe_ns, "link", "show", probe_if]);
    assert!(
        !link.contains("xdp"),
        "XDP still attached after SIGTERM: {link}"
    );
    let progs = sh(&["bpftool", "prog", "show"]);
    assert!(
        !progs.contains("ocellus_xdp"),
        "an ocellus XDP program is still loaded after SIGTERM: {progs}"
    );

    let replay = dir.path().join("replay.ocr");
    let o = Command::new(bin)
        .args(["probe", "-S", "3600", "-r", cap_s, "-w"])
        .arg(&replay)
        .output()
        .expect("replay");
    assert!(
        o.status.success(),
        "replay: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (a, b) = (rows(&live), rows(&replay));
    eprintln!(
        "{tag}: {} live records, {} replayed:\n{}",
        a.len(),
        b.len(),
        a.join("\n")
    );
    assert_eq!(
        a, b,
        "live records (left) differ from the replay of tcpdump's capture (right); probe stderr:\n{err}"
    );
    (a, err)
}

/// A filter the kernel can express: what it excludes is dropped in the XDP
/// program (counted as `filtered`), and the records equal the replay of
/// tcpdump's capture with the same filter.
#[test]
fn live_xdp_kernel_filter_equals_filtered_replay() {
    for (tag, filter, want) in [
        ("fa", "not icmp", &["tcp,", "udp,"][..]),
        ("fb", "tcp and port 5555", &["tcp,"][..]),
    ] {
        let (a, err) = live_vs_replay(
            tag,
            Watch::Span,
            &["--capture", "xdp", "--xdp-mode", "drv"],
            "native (driver) mode",
            Some(filter),
        );
        assert!(
            err.contains("filter applied in the kernel"),
            "{filter}: {err}"
        );
        for w in want {
            assert!(
                a.iter().any(|r| r.starts_with(w)),
                "{filter}: no {w} record:\n{}\n{err}",
                a.join("\n")
            );
        }
        assert!(
            !a.iter().any(|r| r.starts_with("icmp,")),
            "{filter}: ICMP records passed the filter:\n{}",
            a.join("\n")
        );
        if filter.starts_with("tcp") {
            assert!(a.iter().all(|r| r.starts_with("tcp,")), "{}", a.join("\n"));
        }
        let k = kernel_counters(&err);
        assert!(
            k.filtered > 0 && k.seen > k.filtered,
            "{filter}: the kernel filtered nothing ({k:?}):\n{err}"
        );
        assert_eq!(k.redirect_failed, 0, "{filter}: {err}");
    }
}

/// A filter beyond the kernel subset still works, in userspace, and the
/// probe says so.
#[test]
fn live_xdp_userspace_filter_fallback_equals_filtered_replay() {
    let (a, err) = live_vs_replay(
        "fu",
        Watch::Span,
        &["--capture", "xdp", "--xdp-mode", "drv"],
        "native (driver) mode",
        Some("greater 0 and not icmp"),
    );
    assert!(
        err.contains("filter applied in userspace: "),
        "no fallback line: {err}"
    );
    assert!(a.iter().any(|r| r.starts_with("tcp,")), "{}", a.join("\n"));
    assert!(
        !a.iter().any(|r| r.starts_with("icmp,")),
        "{}",
        a.join("\n")
    );
    assert_eq!(kernel_counters(&err).filtered, 0, "{err}");
}

#[test]
fn live_xdp_native_equals_replay_of_tcpdump() {
    live_equals_replay(
        "d",
        &["--capture", "xdp", "--xdp-mode", "drv"],
        "native (driver) mode",
    );
}

#[test]
fn live_xdp_skb_equals_replay_of_tcpdump() {
    live_equals_replay(
        "s",
        &["--capture", "xdp", "--xdp-mode", "skb"],
        "generic (skb) mode",
    );
}

#[test]
fn live_pcap_equals_replay_of_tcpdump() {
    live_equals_replay("c", &["--capture", "pcap"], "libpcap (tap mode)");
}

/// `--mode host` on the server's own interface: the server keeps answering
/// pings, TCP and UDP while the probe watches (`traffic` fails otherwise), and
/// the records equal a replay of tcpdump's capture of the same interface.
#[test]
fn live_host_mode_server_keeps_answering_and_records_match() {
    live_equals_replay_at("h", Watch::Host, &["--mode", "host"], "libpcap (host mode)");
}

/// Asking for more AF_XDP queues than the interface has is a clear error,
/// before anything attaches; `--capture auto` does not hide it by falling back.
#[test]
fn live_too_many_queues_is_a_clear_error() {
    require_root();
    let _g = serial();
    let t = Topo::new("q");
    for capture in ["xdp", "auto"] {
        let o = Command::new("ip")
            .args(["netns", "exec", &t.p])
            .arg(ocellus_bin())
            .args([
                "probe",
                "--iface",
                "span1",
                "--capture",
                capture,
                "--queues",
                "8",
            ])
            .output()
            .expect("ocellus");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{capture}: {err}");
        assert!(
            err.contains("--queues 8: span1 has 1 RX queue(s); use 1 to 1"),
            "{capture}: {err}"
        );
        assert!(!err.contains("falling back"), "{capture}: {err}");
        let link = sh(&["ip", "-n", &t.p, "link", "show", "span1"]);
        assert!(!link.contains("xdp"), "{link}");
    }
}

/// A wrong interface name is a clear error with a non-zero exit, not a panic.
#[test]
fn live_bad_interface_is_a_clear_error() {
    require_root();
    let o = Command::new(ocellus_bin())
        .args(["probe", "--iface", "no-such-if0", "--capture", "xdp"])
        .output()
        .expect("ocellus");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no interface named"), "{err}");
}

/// The kernel parser and the userspace parser agree: corpus frames sent
/// through the XDP program carry hashes equal to what userspace computes from
/// `packet_key`/`shard_hash` for the same frames.
#[test]
fn kernel_and_userspace_keys_agree_on_the_corpus() {
    use ocellus::flow::key;
    use ocellus::live::{xdp, xsk};
    use ocellus::packet::{self, LinkType, PacketInfo};
    require_root();
    let _g = serial();
    let t = Topo::new("k");
    let corpus = ocellus_tests::tools::corpus_dir();
    // Ethernet captures from the corpus, a few of each kind.
    let mut files: Vec<String> = Vec::new();
    for name in [
        "zeek-wikipedia.pcap",
        "akvorado-mpls-ipv4.pcap",
        "akvorado-mpls-ipv6.pcap",
        "ipfixprobe-dns.pcap",
        "ipfixprobe-vlan.pcap",
        "libpcap-ipv6_ext_headers.pcap",
        "ndpi-malformed_icmp.pcap",
        "ndpi-vxlan.pcap",
        "suricata-ipv4frags.pcap",
        "suricata-frag-eth-vlan-ipv6-tcp.pcap",
        "ndpi-reddit-ipv6-tls.pcap",
        "ndpi-bad-dns-traffic.pcap",
    ] {
        let p = corpus.join(name);
        if p.is_file() {
            files.push(p.to_string_lossy().into_owned());
        }
    }
    if files.is_empty() {
        // Any Ethernet capture will do.
        for e in std::fs::read_dir(&corpus)
            .expect("the shared corpus")
            .flatten()
            .take(400)
        {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("zeek-") && n.ends_with(".pcap") && files.len() < 12 {
                files.push(e.path().to_string_lossy().into_owned());
            }
        }
    }
    assert!(
        !files.is_empty(),
        "no corpus captures under {}",
        corpus.display()
    );
    // The probe's side: the program on vb (native), one socket on queue 0.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let recv = spawn_in_netns(&t.b, move || {
        let mut att = xdp::XdpAttachment::attach("vb", xdp::AttachMode::Drv).expect("attach");
        let mut sock = xsk::Xsk::new(att.ifindex, 0, &xsk::XskConfig::default()).expect("xsk");
        att.add_socket(0, &sock).expect("xskmap");
        tx.send(()).expect("ready");
        let (mut keyed, mut total, mut bad) = (0u64, 0u64, Vec::new());
        let mut info = PacketInfo::default();
        let mut idle_since: Option<Instant> = None;
        loop {
            let n = sock.receive(64, |f| {
                total += 1;
                let Some(m) = f.meta else { return };
                if m.flags & ocellus_common::META_USER_KEY != 0 {
                    return;
                }
                keyed += 1;
                packet::parse(LinkType::ETHERNET, f.data, f.data.len() as u32, 0, &mut info);
                let Some(k) = key::packet_key(&info) else {
                    bad.push(format!("kernel keyed a frame userspace does not key: {:02x?}", &f.data[..f.data.len().min(64)]));
                    return;
                };
                let fh = k.canonical().0.sym_hash();
                let sh = key::shard_hash(&info, &k);
                if fh != m.flow_hash || sh != m.shard_hash || k.class != m.class || k.proto != m.proto {
                    bad.push(format!(
                        "key {k:?}: userspace {fh:08x}/{sh:08x}, kernel {:08x}/{:08x} (frame {:02x?})",
                        m.flow_hash, m.shard_hash, &f.data[..f.data.len().min(64)]
                    ));
                }
            });
            if n == 0 {
                if done_rx.try_recv().is_ok() {
                    idle_since.get_or_insert_with(Instant::now);
                }
                if idle_since.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
                    break;
                }
                sock.wait(50);
            }
        }
        (keyed, total, bad, att.stats())
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("receiver ready");
    for f in &files {
        // tcpreplay skips frames larger than the MTU; it fails on none of these.
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &t.a,
                "tcpreplay",
                "-q",
                "-t",
                "-i",
                "va",
                f,
            ])
            .output()
            .expect("tcpreplay");
    }
    std::thread::sleep(Duration::from_millis(300));
    done_tx.send(()).expect("done");
    let (keyed, total, bad, ks) = recv.join().expect("receiver");
    eprintln!(
        "kernel keyed {keyed} of {total} frames from {} captures; {ks:?}",
        files.len()
    );
    assert!(total > 200, "only {total} frames arrived ({ks:?})");
    assert!(
        keyed > 100,
        "the kernel keyed only {keyed} of {total} frames ({ks:?})"
    );
    assert!(
        bad.is_empty(),
        "{} of {keyed} kernel-keyed frames disagree with userspace; first: {}",
        bad.len(),
        bad.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
}

//! Remote access and `ocellus relay`, all on 127.0.0.1: two probes replaying
//! two corpus captures and serving them over mutual TLS, one relay merging
//! them, and readers: two fast ones (one with a filter), one that reads
//! nothing (cut off without harm to the others), unauthorized ones
//! (refused); a probe restarted mid-stream is reconnected.

use ocellus_tests::tools::{corpus_dir, ocellus, output};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CAP_A: &str = "ndpi-synscan.pcap";
const CAP_B: &str = "suricata-defrag-af-confusion-spray.pcap";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn p(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    (params.self_signed(&key).unwrap(), key)
}

fn leaf(
    dir: &Path,
    name: &str,
    sans: &[&str],
    issuer: &(rcgen::Certificate, rcgen::KeyPair),
    expired: bool,
) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    if expired {
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2002, 1, 1);
    }
    let cert = params.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

fn make_certs(dir: &Path) -> Certs {
    let good = ca("ocellus test CA");
    let bad = ca("some other CA");
    std::fs::write(dir.join("ca.pem"), good.0.pem()).unwrap();
    std::fs::write(dir.join("wrong-ca.pem"), bad.0.pem()).unwrap();
    leaf(dir, "server", &["localhost", "127.0.0.1"], &good, false);
    leaf(dir, "client", &["client"], &good, false);
    leaf(dir, "stranger", &["stranger"], &bad, false);
    leaf(dir, "expired", &["expired"], &good, true);
    std::fs::write(
        dir.join("users"),
        "# test users\nalice token:alice-token-1\nudpuser token:udp-token-1 udp\n",
    )
    .unwrap();
    Certs {
        dir: dir.to_path_buf(),
    }
}

/// A child whose stderr is collected in the background.
struct Proc {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        cmd.stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn ocellus");
        let log = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let l = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut g = l.lock().unwrap();
                g.push_str(&line);
                g.push('\n');
            }
        });
        Proc { child, log }
    }
    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
    fn wait_log(&self, what: &str, secs: u64) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let l = self.log();
            if l.contains(what) {
                return l;
            }
            assert!(
                Instant::now() < end,
                "no '{what}' in the log within {secs}s:\n{l}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    fn stop(mut self) -> String {
        unsafe_free_term(&self.child);
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.log()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM, so that the program ends as an operator would end it.
fn unsafe_free_term(child: &Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
}

fn probe(c: &Certs, cap: &str, port: u16) -> Proc {
    let mut cmd = ocellus("probe");
    cmd.arg("-r")
        .arg(corpus_dir().join(cap))
        .args(["-q", "-P", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--tls-cert",
            &c.p("server.pem"),
            "--tls-key",
            &c.p("server.key"),
        ])
        .args(["--client-ca", &c.p("ca.pem"), "--users", &c.p("users")]);
    let p = Proc::spawn(cmd);
    p.wait_log("serving records on", 20);
    p
}

/// Flow records of a capture as `ocellus probe` writes them.
fn expected_records(cap: &str, tmp: &Path) -> usize {
    let out = tmp.join(format!("{cap}.ocr"));
    let o = output(
        ocellus("probe")
            .arg("-r")
            .arg(corpus_dir().join(cap))
            .arg("-q")
            .arg("-w")
            .arg(&out),
    );
    assert!(o.status.success());
    read_lines(ocellus("read").arg("-r").arg(&out).args(["-L", "-1"])).len()
}

fn read_lines(cmd: &mut Command) -> Vec<String> {
    let o = output(cmd);
    assert!(
        o.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// A reader of the relay: `ocellus read -S ...` with -N, output collected.
fn reader(args: &[&str], n: usize) -> std::thread::JoinHandle<(bool, String, String)> {
    let mut cmd = ocellus("read");
    // The filter (after a lone -) comes last.
    cmd.args(["-N", &n.to_string(), "-L", "-1", "-u", "-nn", "-c", ","])
        .args(["-s", "stime", "srcid", "proto"])
        .args(args);
    std::thread::spawn(move || {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = String::new();
        let mut err = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let ok = child.wait().unwrap().success();
        (ok, out, err)
    })
}

fn wait_with_deadline<T>(h: std::thread::JoinHandle<T>, secs: u64, what: &str) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    while !h.is_finished() {
        assert!(Instant::now() < end, "{what} did not finish in {secs}s");
        std::thread::sleep(Duration::from_millis(50));
    }
    h.join().unwrap()
}

#[test]
fn two_probes_one_relay_and_readers_fast_slow_filtered_and_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let c = make_certs(tmp.path());
    let n_a = expected_records(CAP_A, tmp.path());
    let n_b = expected_records(CAP_B, tmp.path());
    assert!(n_a > 1000 && n_b > 5000, "{n_a} {n_b}");

    let (pa, pb, pr) = (free_port(), free_port(), free_port());
    let probe_a = probe(&c, CAP_A, pa);
    let probe_b = probe(&c, CAP_B, pb);
    let ring = tmp.path().join("merged/");
    let relay_port = pr.to_string();
    let mut cmd = ocellus("relay");
    cmd.args([
        "-S",
        &format!("1=127.0.0.1:{pa}"),
        "-S",
        &format!("2=127.0.0.1:{pb}"),
    ])
    .args([
        "--ca",
        &c.p("ca.pem"),
        "--cert",
        &c.p("client.pem"),
        "--key",
        &c.p("client.key"),
    ])
    .args(["-P", &relay_port, "--bind", "127.0.0.1"])
    .args([
        "--tls-cert",
        &c.p("server.pem"),
        "--tls-key",
        &c.p("server.key"),
    ])
    .args(["--client-ca", &c.p("ca.pem"), "--users", &c.p("users")])
    .args([
        "--allow",
        "127.0.0.0/8",
        "--window",
        "1s",
        "--backoff-max",
        "300ms",
    ])
    .args(["--write-timeout", "2s", "--queue", "4096", "--stats"])
    .arg("-w")
    .arg(&ring);
    let relay = Proc::spawn(cmd);
    relay.wait_log("source 1 (127.0.0.1", 20);
    // Wait until the relay has merged everything (its ring holds it).
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let n = if has_segments(&ring) {
            read_lines(ocellus("read").arg("-r").arg(&ring).args(["-L", "-1"])).len()
        } else {
            0
        };
        if n >= n_a + n_b {
            assert_eq!(n, n_a + n_b, "the relay wrote each record once");
            break;
        }
        assert!(
            Instant::now() < end,
            "relay ring has {n} of {} records",
            n_a + n_b
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let relay_addr = format!("127.0.0.1:{pr}");
    let ca_pem = c.p("ca.pem");

    // The slow reader: connects, asks for everything, then reads nothing.
    // It is a connection held in this process rather than a reader process
    // with an unread pipe: a process keeps reading until its pipe is full,
    // and the kernel's receive-buffer autotuning (up to tcp_rmem's maximum,
    // 32 MiB here) could then swallow the whole backlog, so that nothing
    // ever stalls. A connection nobody reads keeps the initial buffer.
    let slow = ocellus::remote::client::connect(
        &relay_addr,
        &ocellus::remote::ClientOptions {
            ca: Some(PathBuf::from(&ca_pem)),
            token: Some("alice-token-1".into()),
            since_ns: 1,
            ..Default::default()
        },
        "",
        0,
    )
    .expect("the slow reader connects");

    let n_tcp = read_lines(
        ocellus("read")
            .arg("-r")
            .arg(&ring)
            .args(["-L", "-1", "-", "tcp"]),
    )
    .len();
    let n_udp = read_lines(
        ocellus("read")
            .arg("-r")
            .arg(&ring)
            .args(["-L", "-1", "-", "udp"]),
    )
    .len();
    let fast = reader(
        &[
            "-S",
            &relay_addr,
            "--ca",
            &ca_pem,
            "--token",
            "alice-token-1",
            "--since",
            "all",
        ],
        n_a + n_b,
    );
    let filtered = reader(
        &[
            "-S",
            &relay_addr,
            "--ca",
            &ca_pem,
            "--cert",
            &c.p("client.pem"),
            "--key",
            &c.p("client.key"),
            "--since",
            "all",
            "-",
            "tcp",
        ],
        n_tcp,
    );
    // A user whose own filter (udp) is ANDed with the reader's (tcp): nothing.
    let user_filtered = reader(
        &[
            "-S",
            &relay_addr,
            "--ca",
            &ca_pem,
            "--token",
            "udp-token-1",
            "--since",
            "all",
        ],
        n_udp,
    );
    let (ok, out, err) = wait_with_deadline(fast, 60, "the fast reader");
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        n_a + n_b,
        "every record reaches the fast reader"
    );
    let mut last = 0f64;
    let (mut from_a, mut from_b) = (0, 0);
    for l in &lines {
        let f: Vec<&str> = l.split(',').collect();
        let t: f64 = f[0].trim().parse().unwrap_or_else(|_| panic!("{l}"));
        assert!(t >= last, "out of time order: {l} after {last}");
        last = t;
        match f[1].trim() {
            // srcid prints as an address, as Argus prints it.
            "1" | "0.0.0.1" => from_a += 1,
            "2" | "0.0.0.2" => from_b += 1,
            other => panic!("srcid {other} in {l}"),
        }
    }
    assert_eq!(
        (from_a, from_b),
        (n_a, n_b),
        "records tagged with their source"
    );
    let (ok, out, err) = wait_with_deadline(filtered, 60, "the filtered reader");
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), n_tcp);
    assert!(
        out.lines()
            .all(|l| l.split(',').nth(2).map(str::trim) == Some("6")),
        "only TCP"
    );
    let (ok, out, err) = wait_with_deadline(user_filtered, 60, "the udp user's reader");
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), n_udp);
    assert!(out
        .lines()
        .all(|l| l.split(',').nth(2).map(str::trim) == Some("17")));

    // The slow reader is cut off, with the reason logged.
    eprintln!(
        "{}",
        String::from_utf8_lossy(&Command::new("ss").args(["-tmni"]).output().unwrap().stdout)
    );
    let log = relay.wait_log("disconnected: stalled", 20);
    assert!(log.contains("accepted as alice"), "{log}");
    drop(slow);

    // Unauthorized readers are refused, and the relay logs each refusal.
    for (args, why) in [
        (
            vec!["--ca", ca_pem.as_str(), "--token", "wrong-token-99"],
            "unknown token",
        ),
        (vec!["--ca", ca_pem.as_str()], "no credentials"),
        (
            vec!["--ca", &c.p("wrong-ca.pem"), "--token", "alice-token-1"],
            "TLS",
        ),
        (
            vec![
                "--ca",
                ca_pem.as_str(),
                "--cert",
                &c.p("stranger.pem"),
                "--key",
                &c.p("stranger.key"),
            ],
            "TLS",
        ),
        (
            vec![
                "--ca",
                ca_pem.as_str(),
                "--cert",
                &c.p("expired.pem"),
                "--key",
                &c.p("expired.key"),
            ],
            "TLS",
        ),
        (vec!["--insecure"], ""),
    ] {
        let o = output(
            ocellus("read")
                .args(["-S", &relay_addr])
                .args(&args)
                .args(["-N", "1"]),
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} was let in");
        assert!(o.stdout.is_empty(), "{args:?} got records");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    let log = relay.wait_log("refused: unknown token", 10);
    assert!(log.contains("refused: no credentials"), "{log}");
    assert!(log.contains("refused: TLS handshake failed"), "{log}");

    // A probe restarted mid-stream is reconnected and its records flow again.
    let live = reader(
        &[
            "-S",
            &relay_addr,
            "--ca",
            &ca_pem,
            "--token",
            "alice-token-1",
            "-",
            "srcid",
            "1",
        ],
        n_a,
    );
    std::thread::sleep(Duration::from_millis(500));
    let _ = probe_a.stop();
    relay.wait_log("source 1 (127.0.0.1", 10);
    relay.wait_log("went away", 10);
    let probe_a = probe(&c, CAP_A, pa);
    relay.wait_log("reconnected to a restarted server", 20);
    let (ok, out, err) = wait_with_deadline(live, 60, "the live reader");
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().count(),
        n_a,
        "the restarted probe's records, live"
    );
    let log = relay.stop();
    assert!(log.contains("records received"), "{log}");
    drop(probe_a);
    drop(probe_b);
}

#[test]
fn insecure_only_on_loopback_and_the_allow_list_refuses() {
    let cap = corpus_dir().join(CAP_A);
    let o = output(ocellus("probe").arg("-r").arg(&cap).args([
        "-q",
        "-P",
        "0",
        "--insecure",
        "--bind",
        "0.0.0.0",
    ]));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("only allowed on loopback"));
    let o = output(ocellus("probe").arg("-r").arg(&cap).args(["-q", "-P", "0"]));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs TLS"));

    // Tokens over plain TCP on loopback, and a network allow-list.
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("users");
    std::fs::write(&users, "bob token:bob-token-1 tcp\n").unwrap();
    let port = free_port();
    let mut cmd = ocellus("probe");
    cmd.arg("-r")
        .arg(&cap)
        .args(["-q", "-P", &port.to_string(), "--insecure", "--users"])
        .arg(&users);
    let p = Proc::spawn(cmd);
    p.wait_log("serving records", 20);
    let addr = format!("127.0.0.1:{port}");
    let o = output(ocellus("read").args([
        "-S",
        &addr,
        "--insecure",
        "--token",
        "nope-nope-1",
        "-N",
        "1",
    ]));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown token"));
    let lines = read_lines(ocellus("read").args([
        "-S",
        &addr,
        "--insecure",
        "--token",
        "bob-token-1",
        "--since",
        "all",
        "-N",
        "5",
        "-L",
        "-1",
        "-nn",
        "-s",
        "proto",
    ]));
    assert_eq!(lines.len(), 5);
    assert!(
        lines.iter().all(|l| l.trim() == "6"),
        "bob's filter applies: {lines:?}"
    );
    // A client that connects and sends nothing is refused after the handshake timeout.
    let idle = std::net::TcpStream::connect(&addr).unwrap();
    p.wait_log("timed out waiting for the hello", 15);
    drop(idle);
    // Garbage instead of a hello.
    {
        use std::io::Write;
        let mut g = std::net::TcpStream::connect(&addr).unwrap();
        let _ = g.write_all(&[0xAB; 300]);
        p.wait_log("bad magic", 10);
    }
    p.stop();

    let port = free_port();
    let mut cmd = ocellus("probe");
    cmd.arg("-r").arg(&cap).args([
        "-q",
        "-P",
        &port.to_string(),
        "--insecure",
        "--allow",
        "10.0.0.0/8",
    ]);
    let p = Proc::spawn(cmd);
    p.wait_log("serving records", 20);
    let o =
        output(ocellus("read").args(["-S", &format!("127.0.0.1:{port}"), "--insecure", "-N", "1"]));
    assert!(!o.status.success());
    let log = p.wait_log("not in the allow-list", 10);
    assert!(log.contains("reader 127.0.0.1:"), "{log}");
    p.stop();
}

/// A probe replaying a capture into a ring and serving it (plain TCP on
/// loopback), its in-memory backlog made too small to matter.
fn ring_probe(cap: &str, ring: &Path, port: u16) -> Proc {
    let mut cmd = ocellus("probe");
    cmd.arg("-r")
        .arg(corpus_dir().join(cap))
        .arg("-q")
        .arg("-w")
        .arg(ring)
        .args(["-P", &port.to_string(), "--insecure", "--backlog", "10"]);
    let p = Proc::spawn(cmd);
    p.wait_log("serving records on", 20);
    p
}

const FIELDS: [&str; 10] = [
    "stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "spkts", "dpkts", "bytes",
];

/// The records of a ring (or file), one line each, as `ocellus read -r` prints them.
fn ring_lines(ring: &Path) -> Vec<String> {
    read_lines(
        ocellus("read")
            .arg("-r")
            .arg(ring)
            .args(["-L", "-1", "-u", "-nn", "-c", ",", "-s"])
            .args(FIELDS),
    )
}

/// Whether the ring directory holds a segment file yet.
fn has_segments(ring: &Path) -> bool {
    std::fs::read_dir(ring).is_ok_and(|d| {
        d.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("seg-") && name.ends_with(".ocr")
        })
    })
}

/// Waits until `ring` holds `n` records; fails on more.
fn wait_ring(ring: &Path, n: usize, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        // The probe makes the directory a moment before its first segment,
        // and `read` refuses a directory with no segments.
        let have = if has_segments(ring) {
            ring_lines(ring).len()
        } else {
            0
        };
        if have >= n {
            assert_eq!(have, n, "{}: each record once", ring.display());
            return;
        }
        assert!(
            Instant::now() < end,
            "{} has {have} of {n} records",
            ring.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_late_reader_gets_the_backlog_from_the_ring_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let n_a = expected_records(CAP_A, tmp.path());
    let ring = tmp.path().join("ring/");
    let port = free_port();
    let probe = ring_probe(CAP_A, &ring, port);
    wait_ring(&ring, n_a, 30);
    let want = ring_lines(&ring);
    assert!(want.len() > 1000, "{}", want.len());
    // The probe kept 10 records in memory: the rest can only come from disk.
    let got = read_lines(
        ocellus("read")
            .args(["-S", &format!("127.0.0.1:{port}"), "--insecure"])
            .args(["--since", "all", "-N", &want.len().to_string()])
            .args(["-L", "-1", "-u", "-nn", "-c", ",", "-s"])
            .args(FIELDS),
    );
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the reader's records differ from the ring's");
    let log = probe.stop();
    assert!(log.contains("accepted as anonymous"), "{log}");
}

#[test]
fn a_relay_resumes_a_probe_restarted_on_its_ring_without_loss_or_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let n_a = expected_records(CAP_A, tmp.path());
    let n_b = expected_records(CAP_B, tmp.path());
    let (probe_ring, relay_ring) = (tmp.path().join("probe/"), tmp.path().join("relay/"));
    let port = free_port();
    let probe_a = ring_probe(CAP_A, &probe_ring, port);
    let mut cmd = ocellus("relay");
    cmd.args(["-S", &format!("1=127.0.0.1:{port}"), "--insecure"])
        .args(["--window", "200ms", "--backoff-max", "300ms", "--stats"])
        .arg("-w")
        .arg(&relay_ring);
    let relay = Proc::spawn(cmd);
    relay.wait_log("source 1 (127.0.0.1", 20);
    wait_ring(&relay_ring, n_a, 30);
    // The probe goes away; a new one writes on in the same ring, serving
    // both captures' records. The relay must take only the new ones.
    let _ = probe_a.stop();
    relay.wait_log("went away", 10);
    let probe_b = ring_probe(CAP_B, &probe_ring, port);
    relay.wait_log("resuming after the last record received", 20);
    wait_ring(&relay_ring, n_a + n_b, 30);
    std::thread::sleep(Duration::from_millis(1500));
    wait_ring(&relay_ring, n_a + n_b, 1);
    // The same records as the probes' ring, each once (merged in time
    // order, so compare as sets).
    let mut got = ring_lines(&relay_ring);
    let mut want = ring_lines(&probe_ring);
    assert_eq!(want.len(), n_a + n_b);
    got.sort();
    want.sort();
    assert!(got == want, "the relay's records differ from the probes'");
    let log = relay.stop();
    assert!(
        log.contains("0 late") || log.contains("records received"),
        "{log}"
    );
    drop(probe_b);
}

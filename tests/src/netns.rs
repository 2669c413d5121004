//! Network namespaces for the live-capture tests: two hosts talking over a
//! veth pair, and a SPAN-style mirror of their link (tc `mirred`) to a third
//! namespace where the probe listens. Everything is created under unique names
//! and deleted on drop; no traffic leaves these namespaces.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Live tests need root; CI runs as root. Not being root is a failure, not a skip.
pub fn require_root() {
    // SAFETY: no arguments.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "the live-capture tests need root (network namespaces, XDP); run them as root as CI does"
    );
}

/// Runs a command; panics with its output when it fails.
pub fn sh(args: &[&str]) -> String {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Hosts `a` (10.77.N.1, fd77:N::1) and `b` (.2, ::2) on veth `va`/`vb`; every
/// frame on `vb` (both directions) mirrored out `span0` to `span1` in `p`.
pub struct Topo {
    pub a: String,
    pub b: String,
    pub p: String,
    pub n: u32,
}

impl Topo {
    pub fn new(tag: &str) -> Topo {
        require_root();
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = (std::process::id() % 200 + SEQ.fetch_add(1, Ordering::Relaxed) * 7) % 250 + 1;
        let base = format!("oc{tag}{}-{n}", std::process::id() % 10000);
        let t = Topo {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
            p: format!("{base}-p"),
            n,
        };
        for ns in [&t.a, &t.b, &t.p] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            sh(&["ip", "netns", "add", ns]);
            // Quiet hosts: no router solicitations.
            for k in [
                "net.ipv6.conf.default.router_solicitations=0",
                "net.ipv6.conf.all.router_solicitations=0",
            ] {
                sh(&["ip", "netns", "exec", ns, "sysctl", "-qw", k]);
            }
        }
        sh(&[
            "ip", "-n", &t.a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns",
            &t.b,
        ]);
        sh(&[
            "ip", "-n", &t.b, "link", "add", "span0", "type", "veth", "peer", "name", "span1",
            "netns", &t.p,
        ]);
        for (ns, dev) in [(&t.a, "va"), (&t.b, "vb"), (&t.b, "span0"), (&t.p, "span1")] {
            for feat in ["gso", "tso", "gro"] {
                let _ = Command::new("ip")
                    .args(["netns", "exec", ns, "ethtool", "-K", dev, feat, "off"])
                    .output();
            }
        }
        for (ns, dev) in [(&t.b, "span0"), (&t.p, "span1")] {
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
            ]);
            sh(&["ip", "-n", ns, "link", "set", dev, "arp", "off"]);
        }
        sh(&[
            "ip",
            "-n",
            &t.a,
            "addr",
            "add",
            &format!("10.77.{n}.1/24"),
            "dev",
            "va",
        ]);
        sh(&[
            "ip",
            "-n",
            &t.b,
            "addr",
            "add",
            &format!("10.77.{n}.2/24"),
            "dev",
            "vb",
        ]);
        sh(&[
            "ip",
            "-n",
            &t.a,
            "addr",
            "add",
            &format!("fd77:{n}::1/64"),
            "dev",
            "va",
            "nodad",
        ]);
        sh(&[
            "ip",
            "-n",
            &t.b,
            "addr",
            "add",
            &format!("fd77:{n}::2/64"),
            "dev",
            "vb",
            "nodad",
        ]);
        for (ns, dev) in [
            (&t.a, "va"),
            (&t.b, "vb"),
            (&t.b, "span0"),
            (&t.p, "span1"),
            (&t.a, "lo"),
            (&t.b, "lo"),
            (&t.p, "lo"),
        ] {
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        sh(&[
            "ip", "netns", "exec", &t.b, "tc", "qdisc", "add", "dev", "vb", "clsact",
        ]);
        for dir in ["ingress", "egress"] {
            sh(&[
                "ip", "netns", "exec", &t.b, "tc", "filter", "add", "dev", "vb", dir, "protocol",
                "all", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror",
                "dev", "span0",
            ]);
        }
        t
    }

    pub fn ip4(&self, host: u8) -> String {
        format!("10.77.{}.{host}", self.n)
    }
    pub fn ip6(&self, host: u8) -> String {
        format!("fd77:{}::{host}", self.n)
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b, &self.p] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Starts `f` on a thread that has entered network namespace `ns`.
pub fn spawn_in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        use std::os::fd::AsRawFd;
        // SAFETY: setns on this thread with a valid namespace descriptor.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// Runs `f` on a thread inside network namespace `ns` and waits for it.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_in_netns(ns, f)
        .join()
        .expect("a thread in a network namespace panicked")
}

/// Starts a program in namespace `ns` and waits (30 s at most) until its
/// stderr shows one of `ready`; returns it and a thread collecting its stderr.
pub fn start_ready(
    ns: &str,
    args: &[impl AsRef<std::ffi::OsStr> + std::fmt::Debug],
    ready: &[&str],
) -> (Child, std::thread::JoinHandle<String>) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"));
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let ready: Vec<String> = ready.iter().map(|s| s.to_string()).collect();
    let h = std::thread::spawn(move || {
        let mut all = String::new();
        let mut r = BufReader::new(err);
        let mut line = String::new();
        let mut told = false;
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            if !told && ready.iter().any(|w| line.contains(w.as_str())) {
                let _ = tx.send(());
                told = true;
            }
            all.push_str(&line);
            line.clear();
        }
        all
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{args:?} did not get ready: {}",
            h.join().unwrap_or_default()
        );
    }
    (child, h)
}

/// Sends SIGTERM and waits (30 s at most) for the child to exit.
pub fn term(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return st;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the process did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! The probe as a service, for real as root in network namespaces: a daemon
//! with a PID file that refuses a second start and flushes on SIGTERM, periodic
//! status records with the drop counters, and `--user` giving up root once the
//! XDP program and sockets exist.

use ocellus_tests::netns::{require_root, sh, start_ready, Topo};
use ocellus_tests::tools::ocellus_bin;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One at a time: they load the same XDP program and check none is left.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn ping(t: &Topo, n: u32) {
    sh(&[
        "ip",
        "netns",
        "exec",
        &t.a,
        "ping",
        "-c",
        &n.to_string(),
        "-i",
        "0.2",
        &t.ip4(2),
    ]);
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

fn wait_gone(pid: i32) {
    let t0 = Instant::now();
    while alive(pid) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "process {pid} still runs 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn nothing_attached(t: &Topo) {
    let link = sh(&["ip", "-n", &t.p, "link", "show", "span1"]);
    assert!(!link.contains("xdp"), "XDP still attached: {link}");
    let progs = sh(&["bpftool", "prog", "show"]);
    assert!(
        !progs.contains("ocellus_xdp"),
        "an ocellus XDP program is still loaded: {progs}"
    );
}

/// The flows of `file` as `proto,saddr,daddr,pkts` lines.
fn flows(file: &Path) -> Vec<String> {
    let o = Command::new(ocellus_bin())
        .args([
            "read", "-n", "-c", ",", "-L", "-1", "-s", "proto", "saddr", "daddr", "pkts", "-r",
        ])
        .arg(file)
        .output()
        .expect("ocellus read");
    assert!(
        o.status.success(),
        "ocellus read: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split(',').map(str::trim).collect::<Vec<_>>().join(","))
        .collect()
}

fn read_man(file: &Path) -> String {
    let o = Command::new(ocellus_bin())
        .args(["read", "-n", "-M", "man", "-r"])
        .arg(file)
        .output()
        .expect("ocellus read");
    assert!(
        o.status.success(),
        "ocellus read: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `--daemon --pid-file`: the start returns once capture runs, the PID file
/// names the daemon, a second start is refused while it runs, SIGTERM flushes
/// every flow and removes the PID file; status records every --mar-interval
/// carry the drop counters and `ocellus read -M man` prints them.
#[test]
fn daemon_pid_file_status_records_and_sigterm_flush() {
    require_root();
    let _g = serial();
    let t = Topo::new("m");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("live.ocr");
    let pidf = dir.path().join("probe.pid");
    let bin = ocellus_bin();
    let start = |extra: &[&str]| {
        Command::new("ip")
            .args(["netns", "exec", &t.p])
            .arg(&bin)
            .args([
                "probe",
                "--iface",
                "span1",
                "--capture",
                "xdp",
                "-S",
                "3600",
                "--daemon",
                "--mar-interval",
                "1",
                "--pid-file",
            ])
            .arg(&pidf)
            .arg("-w")
            .arg(&out)
            .args(extra)
            .output()
            .expect("start the probe")
    };
    let o = start(&[]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "daemon start failed: {err}");
    assert!(
        err.contains("running in the background as process"),
        "{err}"
    );
    let pid: i32 = std::fs::read_to_string(&pidf)
        .expect("the PID file")
        .trim()
        .parse()
        .expect("a PID in the PID file");
    assert!(alive(pid), "the daemon {pid} is not running");
    assert!(
        err.contains(&format!("process {pid}")),
        "the start names another process than the PID file ({pid}): {err}"
    );

    // A second probe with the same PID file is refused, and leaves it alone.
    let o2 = start(&[]);
    let err2 = String::from_utf8_lossy(&o2.stderr);
    assert_eq!(o2.status.code(), Some(2), "{err2}");
    assert!(
        err2.contains(&format!("another probe is running with PID {pid}")),
        "{err2}"
    );
    assert_eq!(
        std::fs::read_to_string(&pidf).expect("PID file").trim(),
        pid.to_string()
    );

    ping(&t, 5);
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: signalling the daemon this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    wait_gone(pid);
    assert!(!pidf.exists(), "the PID file is still there after SIGTERM");
    nothing_attached(&t);

    let text = read_man(&out);
    eprintln!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().any(|l| l.contains(" STA")), "no start record");
    assert!(
        lines.last().is_some_and(|l| l.contains(" STP")),
        "the stop record is not last"
    );
    // The pings, flushed at SIGTERM: one flow per echo (Argus keys echo
    // flows by sequence number), request and reply each.
    let want = format!("icmp,{},{},2", t.ip4(1), t.ip4(2));
    let f = flows(&out);
    assert_eq!(
        f.iter().filter(|l| **l == want).count(),
        5,
        "5 x {want} expected in {f:?}"
    );
    let status: Vec<&&str> = lines.iter().filter(|l| l.contains(" CON ")).collect();
    assert!(
        status.len() >= 2,
        "status records every second (and one at shutdown): {text}"
    );
    for s in &status {
        // "drops N: key=value ...": N is what was lost, the stages add up to it
        // (a frame that came before the socket was in the map is a redirect
        // failure, so that one may be non-zero at this rate).
        let (head, kv) = s
            .split_once(" drops ")
            .and_then(|(_, r)| r.split_once(": "))
            .unwrap_or_else(|| panic!("no drops in {s}"));
        let total: u64 = head.parse().expect("drops total");
        let v = |k: &str| -> u64 {
            kv.split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{k}=")))
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("{k} missing in {s}"))
        };
        assert_eq!(
            total,
            v("redirect_failed")
                + v("pcap_dropped")
                + v("pcap_if_dropped")
                + v("xsk_rx_dropped")
                + v("xsk_ring_full")
                + v("xsk_invalid"),
            "{s}"
        );
        assert_eq!(
            v("xsk_ring_full") + v("xsk_invalid") + v("pcap_dropped"),
            0,
            "{s}"
        );
        assert_eq!(v("writer_stalls"), 0, "{s}");
    }
    // The last status record (at shutdown, before the flush) saw the ping
    // flow still in the table.
    let last = status.last().expect("a status record");
    let active: u64 = last
        .split("flows_active=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(active >= 1, "{last}");
}

/// `--user nobody`: after start the probe runs as nobody (every uid and gid
/// in /proc/PID/status), still captures, still reads the XDP program's
/// counters (through the map fd opened as root), and still detaches at SIGTERM.
#[test]
fn user_gives_up_root_after_setup() {
    require_root();
    let _g = serial();
    let t = Topo::new("u");
    let nobody = ocellus::live::daemon::lookup_user("nobody").expect("user nobody");
    // A directory nobody may write in (records are opened after root is gone).
    let dir = tempfile::tempdir().expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = dir.path().join("live.ocr");
    let bin = ocellus_bin();
    let args = [
        bin.as_os_str(),
        "probe".as_ref(),
        "--iface".as_ref(),
        "span1".as_ref(),
        "--capture".as_ref(),
        "xdp".as_ref(),
        "-S".as_ref(),
        "3600".as_ref(),
        "--user".as_ref(),
        "nobody".as_ref(),
        "--stats".as_ref(),
        "-w".as_ref(),
        out.as_os_str(),
    ];
    let (mut child, errs) = start_ready(&t.p, &args, &["running as user"]);
    let pid = child.id() as i32;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let ids = |key: &str| -> Vec<u32> {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .map(|l| {
                l[key.len()..]
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(ids("Uid:"), vec![nobody.uid; 4], "{status}");
    assert_eq!(ids("Gid:"), vec![nobody.gid; 4], "{status}");
    assert_eq!(ids("Groups:"), vec![nobody.gid], "{status}");
    let cap_eff = status
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .unwrap_or_default()
        .to_string();
    assert!(cap_eff.ends_with("0000000000000000"), "{cap_eff}");

    ping(&t, 3);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling a child this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let st = child.wait().expect("wait");
    let err = errs.join().unwrap_or_default();
    assert!(st.success(), "exit {st}: {err}");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&out).expect("the record file");
    assert_eq!(
        meta.uid(),
        nobody.uid,
        "the record file was not written by nobody"
    );
    let want = format!("icmp,{},{},2", t.ip4(1), t.ip4(2));
    let f = flows(&out);
    assert_eq!(
        f.iter().filter(|l| **l == want).count(),
        3,
        "3 x {want} expected in {f:?}: {err}"
    );
    // The final counters, read as nobody: the 6 echo frames at least.
    let kernel = err
        .lines()
        .rev()
        .find(|l| l.contains(": kernel: seen "))
        .unwrap_or_default();
    let counter = |name: &str| -> u64 {
        let w: Vec<&str> = kernel.split_whitespace().collect();
        w.iter()
            .position(|x| *x == name)
            .and_then(|i| w.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        counter("seen") >= 6 && counter("redirected") >= 6,
        "kernel counters after --user: {kernel:?}\n{err}"
    );
    assert_eq!(counter("redirect-failed"), 0, "{kernel}");
    nothing_attached(&t);
}

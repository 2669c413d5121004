//! The server, hub and client together on loopback: backlogs from a ring on
//! disk handed over to the live queue, and readers resuming after the last
//! record they got.

use super::client::{connect, connect_after, RemoteSource};
use super::hub::{Hub, HubConfig};
use super::server::{ServeOptions, Server};
use super::ClientOptions;
use crate::record::FlowRecord;
use crate::ring::{RecordSink, RecordSource, RingWriter, SinkOptions};
use std::path::Path;
use std::sync::Arc;

const T0: u64 = 1_700_000_000_000_000_000;

fn rec(i: u64) -> FlowRecord {
    let mut r = FlowRecord {
        seq: i,
        stime_ns: T0 + i * 1000,
        ltime_ns: T0 + i * 1000 + 10,
        ..FlowRecord::default()
    };
    r.key.sport = (i % 60000) as u16;
    r.key.proto = if i.is_multiple_of(2) { 6 } else { 17 };
    r.key.class = crate::record::KeyClass::Ipv4 as u8;
    r.src.pkts = i;
    r.suser = vec![7; (i % 30) as usize];
    r
}

fn small_ring() -> SinkOptions {
    SinkOptions {
        segment_bytes: 16 << 10,
        max_segments: None,
        max_bytes: None,
        append: false,
    }
}

fn serve(hub: &Arc<Hub>) -> Server {
    let mut o = ServeOptions::new("127.0.0.1:0".parse().unwrap());
    o.insecure = true;
    Server::start(&o, Arc::clone(hub), "test").unwrap()
}

fn client(since_ns: u64) -> ClientOptions {
    ClientOptions {
        insecure: true,
        since_ns,
        ..ClientOptions::default()
    }
}

/// Records in due order, as a probe sends them: their last times jump
/// back and forth (a long flow's record comes after short later ones), so
/// resuming "after the last ltime seen" would skip or repeat records.
fn rec_due_order(i: u64) -> FlowRecord {
    let mut r = rec(i);
    r.ltime_ns = T0 + (i * 7919 % 1009) * 1_000_000;
    r.stime_ns = r.ltime_ns - 5;
    r
}

/// Writes records `range` to the ring (when given) and publishes them.
fn produce(hub: &Hub, ring: &mut Option<RingWriter>, range: std::ops::Range<u64>) {
    produce_with(hub, ring, range, rec)
}

fn produce_with(
    hub: &Hub,
    ring: &mut Option<RingWriter>,
    range: std::ops::Range<u64>,
    make: fn(u64) -> FlowRecord,
) {
    for i in range {
        let r = make(i);
        let pos = ring.as_mut().map(|w| {
            w.write(&r).unwrap();
            w.position().unwrap()
        });
        hub.publish_at(&r, pos);
    }
}

/// The next `n` records' numbers (fewer if the stream ends); a stream that
/// stalls for 10 s fails the test.
fn take(src: &mut RemoteSource, n: usize) -> Vec<u64> {
    if let Some(t) = src.closer() {
        t.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
    }
    let mut out = Vec::with_capacity(n);
    let mut r = FlowRecord::default();
    while out.len() < n {
        match src.next_into(&mut r) {
            Ok(true) => out.push(r.seq),
            Ok(false) => break,
            Err(e) => panic!(
                "after {} of {n} records (last {:?}): {e}",
                out.len(),
                out.last()
            ),
        }
    }
    out
}

fn ringed_hub(dir: &Path, queue: usize) -> (Arc<Hub>, Option<RingWriter>) {
    let w = RingWriter::open(dir, &small_ring()).unwrap();
    let hub = Hub::new(
        HubConfig {
            queue,
            backlog: 1000,
        },
        "test",
    );
    hub.attach_ring(dir.to_path_buf(), w.ring_id(), w.position());
    (hub, Some(w))
}

#[test]
fn since_backlog_comes_from_the_ring_then_live_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let ring_dir = dir.path().join("ring");
    let (hub, mut ring) = ringed_hub(&ring_dir, 1 << 16);
    let server = serve(&hub);
    // More than the in-memory backlog would keep: the ring is the backlog.
    produce(&hub, &mut ring, 0..3000);
    let addr = server.local_addr().to_string();
    let since = rec(1200).ltime_ns;
    let mut src = connect(&addr, &client(since), "", 0).unwrap();
    assert_eq!(src.stream, ring.as_ref().unwrap().ring_id());
    // The producer goes on while the reader catches up: the hand-off
    // happens somewhere in the middle of it.
    let h = {
        let hub = Arc::clone(&hub);
        std::thread::spawn(move || {
            for k in 0..20 {
                produce(&hub, &mut ring, 3000 + k * 100..3100 + k * 100);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            ring
        })
    };
    let got = take(&mut src, 5000 - 1200);
    let _ring = h.join().unwrap();
    assert_eq!(got, (1200..5000).collect::<Vec<_>>());
    // A live-only reader gets nothing of the backlog.
    let mut live = connect(&addr, &client(0), "", 0).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut ring = _ring;
    produce(&hub, &mut ring, 5000..5003);
    assert_eq!(take(&mut live, 3), vec![5000, 5001, 5002]);
    // A filtered reader from the start of the ring.
    let mut udp = connect(&addr, &client(1), "udp", 0).unwrap();
    let got = take(&mut udp, 2501);
    assert_eq!(got, (0..5003).filter(|i| i % 2 == 1).collect::<Vec<_>>());
    server.stop();
}

fn resume_case(ringed: bool) {
    let dir = tempfile::tempdir().unwrap();
    let ring_dir = dir.path().join("ring");
    let (hub, mut ring) = if ringed {
        ringed_hub(&ring_dir, 1 << 16)
    } else {
        let hub = Hub::new(
            HubConfig {
                queue: 1 << 16,
                backlog: 100_000,
            },
            "test",
        );
        (hub, None)
    };
    let server = serve(&hub);
    let addr = server.local_addr().to_string();
    produce_with(&hub, &mut ring, 0..1000, rec_due_order);
    let mut next = 1000;
    for filter in ["", "tcp"] {
        let keep = |i: &u64| filter.is_empty() || i.is_multiple_of(2);
        let mut src = connect(&addr, &client(1), filter, 0).unwrap();
        let first = take(&mut src, 300);
        let (stream, pos) = (src.stream, src.position());
        assert!(pos.is_some());
        // Later records with earlier last times exist: an ltime resume point
        // would lose them.
        let last_ltime = rec_due_order(*first.last().unwrap()).ltime_ns;
        assert!((300..1000).any(|i| rec_due_order(i).ltime_ns < last_ltime));
        // The connection goes away mid-stream; the records published
        // meanwhile must still come, once.
        drop(src);
        produce_with(&hub, &mut ring, next..next + 200, rec_due_order);
        next += 200;
        let mut src = connect_after(&addr, &client(1), filter, stream, pos).unwrap();
        let total = (0..next).filter(keep).count();
        let rest = take(&mut src, total - 300);
        let all: Vec<u64> = first.into_iter().chain(rest).collect();
        assert_eq!(
            all,
            (0..next).filter(keep).collect::<Vec<_>>(),
            "filter '{filter}'"
        );
    }
    server.stop();
}

#[test]
fn a_reader_resumes_after_the_last_record_it_got_memory_backlog() {
    resume_case(false);
}

#[test]
fn a_reader_resumes_after_the_last_record_it_got_ring_backlog() {
    resume_case(true);
}

#[test]
fn a_server_restarted_on_the_same_ring_resumes_its_readers() {
    let dir = tempfile::tempdir().unwrap();
    let ring_dir = dir.path().join("ring");
    let (stream, pos, first) = {
        let (hub, mut ring) = ringed_hub(&ring_dir, 1 << 16);
        let server = serve(&hub);
        produce(&hub, &mut ring, 0..500);
        let mut src = connect(&server.local_addr().to_string(), &client(1), "", 0).unwrap();
        let first = take(&mut src, 200);
        server.stop();
        (src.stream, src.position(), first)
    };
    // A new server (new instance) writing on in the same ring.
    let (hub, mut ring) = ringed_hub(&ring_dir, 1 << 16);
    assert_eq!(hub.stream_id(), stream);
    let server = serve(&hub);
    produce(&hub, &mut ring, 500..700);
    let mut src = connect_after(
        &server.local_addr().to_string(),
        &client(1),
        "",
        stream,
        pos,
    )
    .unwrap();
    assert_ne!(src.instance, 0);
    let rest = take(&mut src, 500);
    let all: Vec<u64> = first.into_iter().chain(rest).collect();
    assert_eq!(all, (0..700).collect::<Vec<_>>());
    // A client that saw another stream gets all of it.
    let mut other = connect_after(
        &server.local_addr().to_string(),
        &client(1),
        "",
        stream ^ 1,
        pos,
    )
    .unwrap();
    assert_eq!(take(&mut other, 700), (0..700).collect::<Vec<_>>());
    server.stop();
}

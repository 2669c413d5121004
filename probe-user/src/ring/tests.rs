use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::record::codec::{self, tests::arb_record};
use crate::record::{Cause, ManInfo, RecordKind, TcpPerf};

/// A record whose size varies with `i` (user data, TCP and management blocks
/// come and go), numbered by `seq`.
fn rec(i: u64) -> FlowRecord {
    let mut r = FlowRecord {
        seq: i,
        srcid: 3,
        stime_ns: 1_000_000_000 + i,
        ltime_ns: 2_000_000_000 + i,
        cause: Cause::Status,
        ..FlowRecord::default()
    };
    r.key.sport = i as u16;
    r.src.pkts = i;
    r.dst.bytes = i * 3;
    r.suser = vec![(i % 251) as u8; (i % 40) as usize];
    if i.is_multiple_of(3) {
        r.tcp = Some(TcpPerf {
            state: i as u32,
            ..TcpPerf::default()
        });
    }
    if i.is_multiple_of(97) {
        r.kind = RecordKind::ManStatus;
        r.man = Some(Box::new(ManInfo {
            records: i,
            ..ManInfo::default()
        }));
    }
    r
}

fn read_all(src: &mut dyn RecordSource) -> Result<Vec<FlowRecord>, RingError> {
    let mut out = Vec::new();
    while let Some(r) = src.next_record()? {
        out.push(r);
    }
    Ok(out)
}

fn encoded(r: &FlowRecord) -> Vec<u8> {
    let mut v = Vec::new();
    codec::encode(r, &mut v);
    v
}

fn assert_contiguous(recs: &[FlowRecord], first: u64) {
    for (k, r) in recs.iter().enumerate() {
        assert_eq!(r.seq, first + k as u64, "record {k} out of order");
        assert_eq!(r, &rec(r.seq), "record {k} differs");
    }
}

fn small_ring(segment_bytes: u64, max_segments: Option<u32>) -> SinkOptions {
    SinkOptions {
        segment_bytes,
        max_segments,
        max_bytes: None,
        append: false,
    }
}

fn fast_follow() -> SourceOptions {
    SourceOptions {
        follow: true,
        poll: Some(Duration::from_millis(1)),
        stop: None,
    }
}

fn seg_count(dir: &Path) -> usize {
    fs_names(dir)
        .iter()
        .filter(|n| n.starts_with("seg-") && n.ends_with(".ocr"))
        .count()
}

fn fs_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// Files and streams.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn file_round_trip_random(recs in proptest::collection::vec(arb_record(), 0..20)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flows.ocr");
        let mut sink = open_sink(path.to_str().unwrap(), &SinkOptions::default()).unwrap();
        for r in &recs {
            sink.write(r).unwrap();
        }
        drop(sink);
        let mut src = open_source(&path, false).unwrap();
        let back = read_all(&mut *src).unwrap();
        prop_assert_eq!(back.len(), recs.len());
        for (a, b) in recs.iter().zip(&back) {
            prop_assert_eq!(encoded(a), encoded(b));
        }
        prop_assert_eq!(src.stats().torn_tail_bytes, 0);
    }
}

#[test]
fn stream_round_trip_in_memory() {
    let mut sink = StreamSink::new(Vec::new(), "<mem>".into()).unwrap();
    for i in 0..500 {
        sink.write(&rec(i)).unwrap();
    }
    let bytes = sink.into_inner().unwrap();
    let mut src =
        StreamReader::new(bytes.as_slice(), "<mem>".into(), SourceOptions::default()).unwrap();
    let back = read_all(&mut src).unwrap();
    assert_eq!(back.len(), 500);
    assert_contiguous(&back, 0);
    assert_eq!(src.stats().records, 500);
}

/// A reader that hands out one byte per call, to exercise buffer refills.
struct Trickle<'a>(&'a [u8]);
impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.0[0];
        self.0 = &self.0[1..];
        Ok(1)
    }
}

#[test]
fn stream_reader_handles_short_reads_and_big_records() {
    let mut sink = StreamSink::new(Vec::new(), "<mem>".into()).unwrap();
    let mut big = rec(1);
    big.suser = vec![9; codec::MAX_USER_BYTES];
    big.duser = vec![8; codec::MAX_USER_BYTES];
    for r in [rec(0), big.clone(), rec(2)] {
        sink.write(&r).unwrap();
    }
    let bytes = sink.into_inner().unwrap();
    let mut src =
        StreamReader::new(Trickle(&bytes), "<mem>".into(), SourceOptions::default()).unwrap();
    let back = read_all(&mut src).unwrap();
    assert_eq!(back, vec![rec(0), big, rec(2)]);
}

#[test]
fn torn_tail_at_every_cut_reads_complete_records() {
    let mut sink = StreamSink::new(Vec::new(), "<mem>".into()).unwrap();
    for i in 0..4 {
        sink.write(&rec(i)).unwrap();
    }
    let bytes = sink.into_inner().unwrap();
    let last_len = encoded(&rec(3)).len();
    let last_start = bytes.len() - last_len;
    for cut in last_start..bytes.len() {
        let mut src =
            StreamReader::new(&bytes[..cut], "<mem>".into(), SourceOptions::default()).unwrap();
        let back = read_all(&mut src).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        assert_eq!(back.len(), 3, "cut {cut}");
        assert_contiguous(&back, 0);
        assert_eq!(src.stats().torn_tail_bytes, (cut - last_start) as u64);
    }
    // A header cut short is an error, never a panic.
    for cut in 1..codec::FILE_HEADER_LEN {
        assert!(
            StreamReader::new(&bytes[..cut], "<mem>".into(), SourceOptions::default()).is_err()
        );
    }
}

#[test]
fn corruption_in_the_middle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.ocr");
    let mut sink = StreamSink::create_file(&path, false).unwrap();
    for i in 0..10 {
        sink.write(&rec(i)).unwrap();
    }
    drop(sink);
    let mut bytes = std::fs::read(&path).unwrap();
    let off = codec::FILE_HEADER_LEN + encoded(&rec(0)).len() + 30;
    bytes[off] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let mut src = open_source(&path, false).unwrap();
    assert_eq!(src.next_record().unwrap().unwrap().seq, 0);
    let err = src.next_record().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RingError::Corrupt { .. }), "{msg}");
    assert!(
        msg.contains("x.ocr") && msg.contains("check mismatch"),
        "{msg}"
    );
}

#[test]
fn foreign_file_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.pcap");
    let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    pcap.extend_from_slice(&[0; 16]);
    std::fs::write(&path, &pcap).unwrap();
    let err = open_source(&path, false).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: not an ocellus record file (magic d4c3b2a1); ocellus read takes records written by ocellus probe -w",
            path.display()
        )
    );
    // And -w refuses to overwrite it.
    let err = open_sink(path.to_str().unwrap(), &SinkOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, RingError::NotOcellus { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), pcap);

    let empty = dir.path().join("empty.ocr");
    std::fs::write(&empty, b"").unwrap();
    let err = open_source(&empty, false).err().unwrap();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn newer_file_version_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.ocr");
    let mut hdr = Vec::new();
    codec::encode_file_header(1, 0, &mut hdr);
    hdr[8..10].copy_from_slice(&7u16.to_le_bytes());
    std::fs::write(&path, &hdr).unwrap();
    let err = open_source(&path, false).err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("format version 7") && msg.contains("upgrade"),
        "{msg}"
    );
}

#[test]
fn append_cuts_torn_tail_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.ocr");
    let mut sink = StreamSink::create_file(&path, false).unwrap();
    for i in 0..10 {
        sink.write(&rec(i)).unwrap();
    }
    drop(sink);
    // Tear the last record.
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 5).unwrap();
    drop(f);
    let opts = SinkOptions {
        append: true,
        ..SinkOptions::default()
    };
    let mut sink = open_sink(path.to_str().unwrap(), &opts).unwrap();
    for i in 9..15 {
        sink.write(&rec(i)).unwrap();
    }
    drop(sink);
    let mut src = open_source(&path, false).unwrap();
    let back = read_all(&mut *src).unwrap();
    assert_eq!(back.len(), 15);
    assert_contiguous(&back, 0);
    assert_eq!(src.stats().torn_tail_bytes, 0);
}

/// A file written before the packed records (format version 1, record
/// version 1) reads as it did, and a newer probe appending to it adds packed
/// records behind the old ones.
#[test]
fn version_1_file_reads_and_takes_appended_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.ocr");
    let mut bytes = Vec::new();
    codec::encode_file_header(1, 0, &mut bytes);
    bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
    let crc = codec::crc32c(&bytes[..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    let old: Vec<FlowRecord> = (0..20).map(rec).collect();
    for r in &old {
        codec::encode_v1(r, &mut bytes);
    }
    assert_eq!(bytes[codec::FILE_HEADER_LEN + 9], 1);
    std::fs::write(&path, &bytes).unwrap();
    let mut src = open_source(&path, false).unwrap();
    assert_eq!(read_all(&mut *src).unwrap(), old);

    let opts = SinkOptions {
        append: true,
        ..SinkOptions::default()
    };
    let mut sink = open_sink(path.to_str().unwrap(), &opts).unwrap();
    for i in 20..30 {
        sink.write(&rec(i)).unwrap();
    }
    drop(sink);
    let grown = std::fs::read(&path).unwrap();
    assert_eq!(grown[bytes.len() + 9], codec::RECORD_VERSION);
    let mut src = open_source(&path, false).unwrap();
    let back = read_all(&mut *src).unwrap();
    assert_eq!(back.len(), 30);
    assert_contiguous(&back, 0);
    assert_eq!(back[..20], old[..]);
}

#[test]
fn file_follow_sees_appended_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.ocr");
    let mut sink = StreamSink::create_file(&path, false).unwrap();
    sink.flush().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let opts = SourceOptions {
        stop: Some(stop.clone()),
        ..fast_follow()
    };
    let p = path.clone();
    let reader = std::thread::spawn(move || {
        let mut src = open_source_with(&p, &opts).unwrap();
        let mut got = Vec::new();
        while got.len() < 300 {
            match src.next_record().unwrap() {
                Some(r) => got.push(r),
                None => break,
            }
        }
        got
    });
    for i in 0..300 {
        sink.write(&rec(i)).unwrap();
        if i.is_multiple_of(7) {
            sink.flush().unwrap();
        }
    }
    sink.flush().unwrap();
    let got = reader.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(got.len(), 300);
    assert_contiguous(&got, 0);
}

// ---------------------------------------------------------------------------
// Rings.

#[test]
fn ring_concurrent_follower_sees_every_record_in_order() {
    const N: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    let mut w = RingWriter::open(&ring, &small_ring(64 << 10, None)).unwrap();
    let r = ring.clone();
    let reader = std::thread::spawn(move || {
        let mut src = open_source_with(&r, &fast_follow()).unwrap();
        let mut rec_buf = FlowRecord::default();
        let mut n = 0u64;
        while n < N {
            assert!(src.next_into(&mut rec_buf).unwrap());
            assert_eq!(rec_buf.seq, n, "out of order");
            assert_eq!(rec_buf, rec(n), "torn or wrong record {n}");
            n += 1;
        }
        src.stats()
    });
    for i in 0..N {
        w.write(&rec(i)).unwrap();
    }
    let stats = reader.join().unwrap();
    assert_eq!(stats.records, N);
    assert_eq!(stats.segments_lost, 0);
    assert!(seg_count(&ring) > 100, "expected many segments");
    drop(w);
    // A second, non-following pass reads the same.
    let mut src = open_source(&ring, false).unwrap();
    let all = read_all(&mut *src).unwrap();
    assert_eq!(all.len() as u64, N);
}

#[test]
fn ring_retention_keeps_at_most_n_segments() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r");
    let mut w = RingWriter::open(&ring, &small_ring(8192, Some(3))).unwrap();
    for i in 0..3000 {
        w.write(&rec(i)).unwrap();
        assert!(seg_count(&ring) <= 3);
    }
    assert_eq!(w.generation(), Some(fs_max_generation(&ring)));
    let mut src = open_source(&ring, false).unwrap();
    let back = read_all(&mut *src).unwrap();
    let first = back[0].seq;
    assert!(first > 0);
    assert_contiguous(&back, first);
    assert_eq!(back.last().unwrap().seq, 2999);
    assert_eq!(src.stats().segments_lost, 0);
}

fn fs_max_generation(dir: &Path) -> u64 {
    fs_names(dir)
        .iter()
        .filter_map(|n| n.strip_prefix("seg-")?.strip_suffix(".ocr")?.parse().ok())
        .max()
        .unwrap()
}

#[test]
fn ring_retention_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r");
    let opts = SinkOptions {
        segment_bytes: 8192,
        max_segments: None,
        max_bytes: Some(5 * 8192),
        append: false,
    };
    let mut w = RingWriter::open(&ring, &opts).unwrap();
    for i in 0..3000 {
        w.write(&rec(i)).unwrap();
    }
    assert_eq!(seg_count(&ring), 5);
}

#[test]
fn slow_reader_gets_ordered_stream_with_gap_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r");
    let mut w = RingWriter::open(&ring, &small_ring(8192, Some(3))).unwrap();
    for i in 0..10 {
        w.write(&rec(i)).unwrap();
    }
    let mut src = open_source(&ring, false).unwrap();
    let mut got = vec![src.next_record().unwrap().unwrap()];
    // The writer laps the reader: segment 0 and many after it are removed.
    for i in 10..3000 {
        w.write(&rec(i)).unwrap();
    }
    got.extend(read_all(&mut *src).unwrap());
    let stats = src.stats();
    assert!(stats.segments_lost > 0, "{stats:?}");
    // Strictly increasing, one jump where the lost segments were, ending at the last record.
    let jumps = got.windows(2).filter(|p| p[1].seq != p[0].seq + 1).count();
    assert!(got.windows(2).all(|p| p[1].seq > p[0].seq));
    assert_eq!(jumps, 1);
    assert_eq!(got[0].seq, 0);
    assert_eq!(got.last().unwrap().seq, 2999);
    for r in &got {
        assert_eq!(r, &rec(r.seq));
    }
}

#[test]
fn ring_reopen_continues_after_the_newest_generation() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r");
    let mut w = RingWriter::open(&ring, &small_ring(8192, None)).unwrap();
    for i in 0..200 {
        w.write(&rec(i)).unwrap();
    }
    let g = w.generation().unwrap();
    drop(w);
    let mut w = RingWriter::open(&ring, &small_ring(8192, None)).unwrap();
    assert_eq!(w.generation(), Some(g + 1));
    for i in 200..400 {
        w.write(&rec(i)).unwrap();
    }
    drop(w);
    let back = read_all(&mut *open_source(&ring, false).unwrap()).unwrap();
    assert_eq!(back.len(), 400);
    assert_contiguous(&back, 0);
}

#[test]
fn second_writer_on_a_ring_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r");
    let _w = RingWriter::open(&ring, &small_ring(8192, None)).unwrap();
    let err = RingWriter::open(&ring, &small_ring(8192, None))
        .err()
        .unwrap();
    assert!(matches!(err, RingError::Locked { .. }), "{err}");
}

#[test]
fn ring_larger_than_free_space_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r");
    std::fs::create_dir(&ring).unwrap();
    let f = std::fs::File::open(&ring).unwrap();
    // Only where 1 TiB is more than free: the up-front check must refuse it
    // before fallocate runs (a failed fallocate can hold the disk full).
    if segment::free_bytes(&f).is_none_or(|free| free >= super::MAX_SEGMENT_BYTES) {
        return;
    }
    let err = RingWriter::open(&ring, &small_ring(super::MAX_SEGMENT_BYTES, None))
        .err()
        .unwrap();
    assert!(matches!(err, RingError::Preallocate { .. }), "{err}");
    assert!(err.to_string().contains("free disk space"), "{err}");
    assert_eq!(seg_count(&ring), 0);
    assert!(!fs_names(&ring).iter().any(|n| n.ends_with(".tmp")));
}

/// In a child: a file size limit makes fallocate fail (EFBIG) the way a full
/// disk does (ENOSPC), without filling anything.
fn child_prealloc_fails(dir: &Path) {
    // A ring opened before the limit, with segments larger than the limit.
    let ok = dir.join("ok");
    let mut w = RingWriter::open(&ok, &small_ring(512 << 10, None)).unwrap();
    // SAFETY: plain syscalls on the child's own limits and signal disposition.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let lim = libc::rlimit {
            rlim_cur: 256 << 10,
            rlim_max: 256 << 10,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
    let ring = dir.join("r");
    let err = RingWriter::open(&ring, &small_ring(4 << 20, None))
        .err()
        .expect("preallocation past the limit must fail");
    assert!(matches!(err, RingError::Preallocate { .. }), "{err}");
    assert_eq!(seg_count(&ring), 0);
    assert!(!fs_names(&ring).iter().any(|n| n.ends_with(".tmp")));
    // Rotation into a segment that cannot be preallocated is an error from
    // write(), not a crash, and every record written before stays readable.
    let mut written = 0;
    let err = loop {
        match w.write(&rec(written)) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 100_000, "rotation never failed");
    };
    assert!(matches!(err, RingError::Preallocate { .. }), "{err}");
    assert!(written > 1000);
    assert!(!fs_names(&ok).iter().any(|n| n.ends_with(".tmp")));
    let back = read_all(&mut *open_source(&ok, false).unwrap()).unwrap();
    assert_eq!(back.len() as u64, written);
    assert_contiguous(&back, 0);
    // Tell the parent the checks ran (a mistyped test name would run nothing).
    // (2 bytes, well under the file size limit.)
    std::fs::write(dir.join("child-done"), b"ok").unwrap();
    std::process::exit(0);
}

#[test]
fn ring_preallocation_failure_is_an_error() {
    if let Ok(job) = std::env::var(CHILD_ENV) {
        if let Some(dir) = job.strip_prefix("prealloc:") {
            child_prealloc_fails(Path::new(dir));
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "ring::tests::ring_preallocation_failure_is_an_error",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("prealloc:{}", dir.path().display()))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "child failed: {status}");
    assert!(
        dir.path().join("child-done").exists(),
        "child ran no checks"
    );
}

#[test]
fn ring_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r");
    for opts in [
        small_ring(100, None),
        small_ring(8192, Some(0)),
        SinkOptions {
            max_bytes: Some(100),
            ..small_ring(8192, None)
        },
    ] {
        assert!(matches!(
            RingWriter::open(&ring, &opts),
            Err(RingError::BadOption(_))
        ));
    }
    let mut w = RingWriter::open(&ring, &small_ring(4096, None)).unwrap();
    let mut big = rec(0);
    big.suser = vec![1; 5000];
    assert!(matches!(
        w.write(&big),
        Err(RingError::RecordTooLarge { .. })
    ));
    // The writer stays usable.
    w.write(&rec(1)).unwrap();
}

#[test]
fn open_sink_picks_file_ring_by_spec() {
    let dir = tempfile::tempdir().unwrap();
    let ring = format!("{}/ring/", dir.path().display());
    let file = format!("{}/f.ocr", dir.path().display());
    let opts = small_ring(8192, Some(4));
    for spec in [&ring, &file] {
        let mut s = open_sink(spec, &opts).unwrap();
        for i in 0..50 {
            s.write(&rec(i)).unwrap();
        }
        s.flush().unwrap();
    }
    assert!(Path::new(&ring).is_dir());
    assert!(Path::new(&file).is_file());
    // An existing directory without the trailing slash is a ring too.
    assert!(is_ring_spec(ring.trim_end_matches('/')));
    for spec in [&ring, &file] {
        let back = read_all(&mut *open_source(Path::new(spec), false).unwrap()).unwrap();
        assert_eq!(back.len(), 50);
        assert_contiguous(&back, 0);
    }
    // A single segment opened by path.
    let seg = Path::new(&ring).join(segment_file_name(0));
    let back = read_all(&mut *open_source(&seg, false).unwrap()).unwrap();
    assert_contiguous(&back, 0);
    // A plain directory is not a ring.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let err = open_source(&plain, false).err().unwrap();
    assert!(matches!(err, RingError::NotRing { .. }), "{err}");
}

#[test]
fn corrupt_segment_commit_offset_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r");
    let mut w = RingWriter::open(&ring, &small_ring(8192, None)).unwrap();
    w.write(&rec(0)).unwrap();
    drop(w);
    let seg = ring.join(segment_file_name(0));
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    let err = read_all(&mut *open_source(&ring, false).unwrap()).unwrap_err();
    assert!(err.to_string().contains("commit offset"), "{err}");
}

// ---------------------------------------------------------------------------
// Writers killed mid-stream (SIGKILL), in a child process that re-runs this
// test binary with an environment variable naming the job.

const CHILD_ENV: &str = "OCELLUS_RING_TEST_CHILD";

/// In the child: write records until killed (or a safety cap).
fn child_main(job: &str) {
    let (kind, path) = job.split_once(':').unwrap();
    let mut sink: Box<dyn RecordSink> = match kind {
        "ring" => Box::new(RingWriter::open(Path::new(path), &small_ring(16384, None)).unwrap()),
        _ => Box::new(StreamSink::create_file(Path::new(path), false).unwrap()),
    };
    // Capped, and stops if the parent test died, so a failed run leaves no runaway writer.
    let parent = std::os::unix::process::parent_id();
    for i in 0..200_000u64 {
        if i.is_multiple_of(100) && std::os::unix::process::parent_id() != parent {
            break;
        }
        sink.write(&rec(i)).unwrap();
        if i.is_multiple_of(10) {
            sink.flush().unwrap();
        }
        if i.is_multiple_of(100) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    std::process::exit(0);
}

fn run_and_kill(test_name: &str, job: String, ready: impl Fn() -> bool) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, job)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "child wrote too little");
        if let Some(st) = child.try_wait().unwrap() {
            panic!("child exited early: {st}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
}

#[test]
fn ring_writer_killed_leaves_every_committed_record() {
    if let Ok(job) = std::env::var(CHILD_ENV) {
        return child_main(&job);
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    let r = ring.clone();
    run_and_kill(
        "ring::tests::ring_writer_killed_leaves_every_committed_record",
        format!("ring:{}", ring.display()),
        move || r.is_dir() && seg_count(&r) >= 8,
    );
    let back = read_all(&mut *open_source(&ring, false).unwrap()).unwrap();
    assert!(back.len() > 300, "only {} records", back.len());
    assert_contiguous(&back, 0);
    // The ring is still usable: a new writer seals the dead writer's segment
    // and continues; a follower crosses from the old records to the new.
    let mut w = RingWriter::open(&ring, &small_ring(16384, None)).unwrap();
    let n = back.len() as u64;
    for i in n..n + 100 {
        w.write(&rec(i)).unwrap();
    }
    let mut src = open_source_with(&ring, &fast_follow()).unwrap();
    for i in 0..n + 100 {
        assert_eq!(src.next_record().unwrap().unwrap().seq, i);
    }
}

#[test]
fn file_writer_killed_leaves_every_complete_record() {
    if let Ok(job) = std::env::var(CHILD_ENV) {
        return child_main(&job);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.ocr");
    let p = path.clone();
    run_and_kill(
        "ring::tests::file_writer_killed_leaves_every_complete_record",
        format!("file:{}", path.display()),
        move || std::fs::metadata(&p).is_ok_and(|m| m.len() > 100_000),
    );
    let mut src = open_source(&path, false).unwrap();
    let back = read_all(&mut *src).unwrap();
    assert!(back.len() > 300, "only {} records", back.len());
    assert_contiguous(&back, 0);
    // Whatever was torn is reported, and is less than one record.
    assert!(src.stats().torn_tail_bytes < codec::MAX_RECORD_LEN as u64);
    let _ = std::io::stderr().flush();
}

#[test]
fn ring_positions_resume_exactly_after_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r");
    let mut w = RingWriter::open(&ring, &small_ring(4096, None)).unwrap();
    let id = w.ring_id();
    assert_ne!(id, 0);
    assert_eq!(read_ring_id(&ring), Some(id));
    let mut written = Vec::new();
    for i in 0..200 {
        w.write(&rec(i)).unwrap();
        written.push(w.position().unwrap());
    }
    // Positions increase, across segments too.
    assert!(written.windows(2).all(|p| p[0] < p[1]));
    assert!(written.last().unwrap().generation > 0);
    // A reader reports the writer's positions, record by record.
    let mut r = RingReader::open(&ring, SourceOptions::default()).unwrap();
    let mut got = FlowRecord::default();
    let mut seen = Vec::new();
    while r.next_into(&mut got).unwrap() {
        seen.push(r.position().unwrap());
    }
    assert_eq!(seen, written);
    // Resuming after any record gives exactly the ones after it.
    for k in [0usize, 1, 17, 40, 41, 150, 199] {
        let mut r = RingReader::open_after(&ring, SourceOptions::default(), written[k]).unwrap();
        let rest = read_all(&mut r).unwrap();
        assert_eq!(rest.len(), 199 - k, "after record {k}");
        assert_contiguous(&rest, k as u64 + 1);
    }
    // A position that is not the end of a record is an error, never a crash.
    let bogus = RingPos {
        generation: written[5].generation,
        offset: written[5].offset - 3,
    };
    let mut r = RingReader::open_after(&ring, SourceOptions::default(), bogus).unwrap();
    assert!(read_all(&mut r).is_err());
    let beyond = RingPos {
        generation: written[5].generation,
        offset: u64::MAX,
    };
    let mut r = RingReader::open_after(&ring, SourceOptions::default(), beyond).unwrap();
    assert!(read_all(&mut r).is_err());
    // The id survives the writer: a new writer keeps it.
    drop(w);
    let w2 = RingWriter::open(&ring, &small_ring(4096, None)).unwrap();
    assert_eq!(w2.ring_id(), id);
    assert_eq!(w2.ring_info().map(|i| i.1), Some(id));
}

#[test]
fn resuming_after_a_removed_segment_counts_it_lost() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r");
    let mut w = RingWriter::open(&ring, &small_ring(4096, Some(2))).unwrap();
    w.write(&rec(0)).unwrap();
    let early = w.position().unwrap();
    for i in 1..300 {
        w.write(&rec(i)).unwrap();
    }
    let mut r = RingReader::open_after(&ring, SourceOptions::default(), early).unwrap();
    let rest = read_all(&mut r).unwrap();
    assert!(!rest.is_empty() && rest.len() < 299);
    assert_contiguous(&rest, rest[0].seq);
    assert_eq!(rest.last().unwrap().seq, 299);
    assert!(r.stats().segments_lost > 0);
}

//! `ocellus relay` (Argus's `radium`): reads several sources (probes and
//! relays over the remote protocol, local ring directories), tags each
//! record with its source id, merges them in time order within a bounded
//! reorder window, and hands the merged stream to a [`Hub`] (readers) and
//! optionally a record sink (`-w`). A source that goes away is reconnected
//! with exponential backoff; a restarted server is read from its start.
//!
//! Ordering: records are ordered by start time. A record waits in the
//! window until a record that arrived `window` earlier (wall clock) has a
//! start time at or after its own, or until the window holds `max_held`
//! records; so every record leaves within `window` of arriving, and the
//! output is in order unless a source delivers a record more than `window`
//! after records of later times (counted as `late`, passed on, never dropped).

use super::client::connect_after;
use super::hub::Hub;
use super::{log, ClientOptions, RemoteError};
use crate::record::FlowRecord;
use crate::ring::{RecordSink, RecordSource, RingPos, RingReader, SourceOptions};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a relay's records come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// A probe or relay, `host:port`.
    Remote(String),
    /// A local ring directory (or record file), followed.
    Ring(PathBuf),
}

/// One `-S` source and the id its records are tagged with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSpec {
    pub id: u32,
    pub kind: SourceKind,
}

impl SourceSpec {
    /// Parses `[ID=]host:port` or `[ID=]DIR`; without `ID=` the id is
    /// `index + 1`. A path that exists (or ends in '/') is a ring.
    pub fn parse(s: &str, index: usize) -> Result<SourceSpec, RemoteError> {
        let (id, rest) = match s.split_once('=') {
            Some((id, rest)) => (
                id.parse::<u32>().map_err(|_| {
                    RemoteError::Config(format!(
                        "-S {s}: the source id before '=' must be a number"
                    ))
                })?,
                rest,
            ),
            None => (index as u32 + 1, s),
        };
        if rest.is_empty() {
            return Err(RemoteError::Config(format!("-S {s}: empty source")));
        }
        let p = std::path::Path::new(rest);
        let kind = if rest.ends_with('/') || p.exists() {
            SourceKind::Ring(p.to_path_buf())
        } else if rest
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        {
            SourceKind::Remote(rest.to_string())
        } else {
            return Err(RemoteError::Config(format!(
                "-S {s}: neither host:port nor an existing ring directory"
            )));
        };
        Ok(SourceSpec { id, kind })
    }

    fn name(&self) -> String {
        match &self.kind {
            SourceKind::Remote(a) => format!("source {} ({a})", self.id),
            SourceKind::Ring(p) => format!("source {} ({})", self.id, p.display()),
        }
    }
}

/// How a relay runs.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    pub sources: Vec<SourceSpec>,
    /// How the relay connects to remote sources.
    pub client: ClientOptions,
    /// Filter asked of every source ("" for all).
    pub filter: String,
    /// Reorder window (wall clock).
    pub window: Duration,
    /// Most records held in the window.
    pub max_held: usize,
    /// Longest wait between reconnection attempts.
    pub backoff_max: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            sources: Vec::new(),
            client: ClientOptions::default(),
            filter: String::new(),
            window: Duration::from_secs(2),
            max_held: 1 << 20,
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// Counters of a relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub received: AtomicU64,
    pub released: AtomicU64,
    /// Records that arrived after records of later start times had left.
    pub late: AtomicU64,
    /// Records stamped more than a minute in the future (ordered as now).
    pub future: AtomicU64,
    pub connects: AtomicU64,
    pub disconnects: AtomicU64,
}

const WHO: &str = "relay";

/// Runs the relay until `stop` is set: source threads in the background,
/// the merge in this thread. Records go to `hub` and `sink`.
pub fn run(
    cfg: &RelayConfig,
    hub: Arc<Hub>,
    mut sink: Option<Box<dyn RecordSink + Send>>,
    stop: Arc<AtomicBool>,
    stats: Arc<RelayStats>,
) -> Result<(), RemoteError> {
    if cfg.sources.is_empty() {
        return Err(RemoteError::Config(
            "no sources: give -S host:port or -S DIR".into(),
        ));
    }
    if let Some((dir, id)) = sink.as_ref().and_then(|s| s.ring_info()) {
        // Readers' backlogs come from the ring the merged stream goes to.
        hub.attach_ring(dir, id, sink.as_ref().and_then(|s| s.ring_position()));
    }
    let (tx, rx) = crossbeam_channel::bounded::<FlowRecord>(16 * 1024);
    for spec in &cfg.sources {
        let (spec, cfg2, tx, stop, stats) = (
            spec.clone(),
            cfg.clone(),
            tx.clone(),
            Arc::clone(&stop),
            Arc::clone(&stats),
        );
        std::thread::Builder::new()
            .name(format!("relay-src-{}", spec.id))
            .spawn(move || source_loop(&spec, &cfg2, &tx, &stop, &stats))?;
    }
    drop(tx);
    merge(cfg, &rx, &hub, &mut sink, &stop, &stats)?;
    if let Some(s) = sink.as_mut() {
        s.flush()?;
    }
    Ok(())
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20).min(d));
    }
}

fn source_loop(
    spec: &SourceSpec,
    cfg: &RelayConfig,
    tx: &Sender<FlowRecord>,
    stop: &AtomicBool,
    stats: &RelayStats,
) {
    let name = spec.name();
    let mut backoff = Duration::from_millis(100);
    // The resume point: the source's stream and the position of the last
    // record taken from it. On reconnection the source sends exactly the
    // records after it (everything, when its stream changed).
    let mut stream = 0u64;
    let mut last: Option<RingPos> = None;
    let mut rec = FlowRecord::default();
    while !stop.load(Ordering::Relaxed) {
        let opened: Result<Source, String> = match &spec.kind {
            SourceKind::Remote(addr) => {
                let opts = ClientOptions {
                    // First contact: everything the server still holds.
                    since_ns: 1,
                    ..cfg.client.clone()
                };
                match connect_after(addr, &opts, &cfg.filter, stream, last) {
                    Ok(src) => {
                        let what = if stream == 0 {
                            "connected"
                        } else if stream == src.stream {
                            "reconnected, resuming after the last record received"
                        } else {
                            "reconnected to a restarted server (a new stream: reading all of it)"
                        };
                        log(WHO, format_args!("{name}: {what}"));
                        if stream != src.stream {
                            last = None;
                        }
                        stream = src.stream;
                        Ok(Source::Remote(Box::new(src)))
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            SourceKind::Ring(path) => {
                let opts = SourceOptions {
                    follow: true,
                    ..SourceOptions::default()
                };
                if path.is_dir() {
                    let r = match last {
                        Some(p) => RingReader::open_after(path, opts, p),
                        None => RingReader::open(path, opts),
                    };
                    r.map(|r| Source::Ring(Box::new(r)))
                        .map_err(|e| e.to_string())
                } else {
                    crate::ring::open_source_with(path, &opts)
                        .map(Source::Other)
                        .map_err(|e| e.to_string())
                }
            }
        };
        match opened {
            Ok(mut src) => {
                stats.connects.fetch_add(1, Ordering::Relaxed);
                backoff = Duration::from_millis(100);
                let why = loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    match src.next_into(&mut rec) {
                        Ok(true) => {
                            if let Some(p) = src.position() {
                                last = Some(p);
                            }
                            rec.srcid = spec.id;
                            stats.received.fetch_add(1, Ordering::Relaxed);
                            if tx.send(rec.clone()).is_err() {
                                return;
                            }
                        }
                        Ok(false) => break "end of stream".to_string(),
                        Err(e) => break e.to_string(),
                    }
                };
                stats.disconnects.fetch_add(1, Ordering::Relaxed);
                log(WHO, format_args!("{name}: went away: {why}; reconnecting"));
            }
            Err(e) => log(
                WHO,
                format_args!("{name}: cannot connect: {e}; retrying in {backoff:?}"),
            ),
        }
        sleep_unless_stopped(backoff, stop);
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

/// An open source and how to ask it where it is.
enum Source {
    Remote(Box<super::client::RemoteSource>),
    Ring(Box<RingReader>),
    Other(Box<dyn RecordSource + Send>),
}

impl Source {
    fn next_into(&mut self, rec: &mut FlowRecord) -> Result<bool, crate::ring::RingError> {
        match self {
            Source::Remote(s) => s.next_into(rec),
            Source::Ring(s) => s.next_into(rec),
            Source::Other(s) => s.next_into(rec),
        }
    }

    fn position(&self) -> Option<RingPos> {
        match self {
            Source::Remote(s) => s.position(),
            Source::Ring(s) => s.position(),
            Source::Other(_) => None,
        }
    }
}

/// A record waiting in the window, ordered by (start time, arrival).
struct Held {
    key: u64,
    arrival: u64,
    rec: FlowRecord,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.key, self.arrival) == (o.key, o.arrival)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.key, self.arrival).cmp(&(o.key, o.arrival))
    }
}

/// The reorder window itself, separate from threads so that it can be tested.
pub struct Merger {
    window: Duration,
    max_held: usize,
    heap: BinaryHeap<Reverse<Held>>,
    /// (arrival time, key) of records in arrival order.
    arrivals: VecDeque<(Instant, u64)>,
    watermark: u64,
    last_out: u64,
    seq: u64,
}

impl Merger {
    pub fn new(window: Duration, max_held: usize) -> Merger {
        Merger {
            window,
            max_held: max_held.max(1),
            heap: BinaryHeap::new(),
            arrivals: VecDeque::new(),
            watermark: 0,
            last_out: 0,
            seq: 0,
        }
    }

    /// Records waiting.
    pub fn held(&self) -> usize {
        self.heap.len()
    }

    /// Takes a record in at `now`.
    pub fn push(&mut self, rec: FlowRecord, now: Instant, stats: &RelayStats) {
        let horizon = super::now_ns().saturating_add(60_000_000_000);
        let key = if rec.stime_ns > horizon {
            stats.future.fetch_add(1, Ordering::Relaxed);
            horizon
        } else {
            rec.stime_ns
        };
        if key < self.last_out {
            stats.late.fetch_add(1, Ordering::Relaxed);
        }
        self.seq += 1;
        self.arrivals.push_back((now, key));
        self.heap.push(Reverse(Held {
            key,
            arrival: self.seq,
            rec,
        }));
    }

    /// Hands out, in order, every record that may leave at `now` (all of
    /// them with `flush`).
    pub fn release(&mut self, now: Instant, flush: bool, mut out: impl FnMut(&FlowRecord)) {
        while let Some(&(t, key)) = self.arrivals.front() {
            if flush || now.duration_since(t) >= self.window || self.arrivals.len() > self.max_held
            {
                self.watermark = self.watermark.max(key);
                self.arrivals.pop_front();
            } else {
                break;
            }
        }
        while let Some(Reverse(top)) = self.heap.peek() {
            if !(flush || top.key <= self.watermark || self.heap.len() > self.max_held) {
                break;
            }
            let Some(Reverse(h)) = self.heap.pop() else {
                break;
            };
            self.watermark = self.watermark.max(h.key);
            self.last_out = self.last_out.max(h.key);
            out(&h.rec);
        }
    }
}

fn merge(
    cfg: &RelayConfig,
    rx: &Receiver<FlowRecord>,
    hub: &Hub,
    sink: &mut Option<Box<dyn RecordSink + Send>>,
    stop: &AtomicBool,
    stats: &RelayStats,
) -> Result<(), RemoteError> {
    let mut m = Merger::new(cfg.window, cfg.max_held);
    let tick = (cfg.window / 4).clamp(Duration::from_millis(5), Duration::from_millis(50));
    let mut err: Option<RemoteError> = None;
    fn emit(
        rec: &FlowRecord,
        hub: &Hub,
        sink: &mut Option<Box<dyn RecordSink + Send>>,
        stats: &RelayStats,
        err: &mut Option<RemoteError>,
    ) {
        // Into the ring first: a record is published with its place there.
        let mut pos = None;
        if let Some(s) = sink.as_mut() {
            if err.is_none() {
                match s.write(rec) {
                    Ok(()) => pos = s.ring_position(),
                    Err(e) => *err = Some(e.into()),
                }
            }
        }
        hub.publish_at(rec, pos);
        stats.released.fetch_add(1, Ordering::Relaxed);
    }
    let mut last_flush = Instant::now();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        match rx.recv_timeout(tick) {
            Ok(rec) => {
                let now = Instant::now();
                m.push(rec, now, stats);
                for _ in 0..4096 {
                    match rx.try_recv() {
                        Ok(rec) => m.push(rec, now, stats),
                        Err(_) => break,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                m.release(Instant::now(), true, |r| {
                    emit(r, hub, sink, stats, &mut err)
                });
                break;
            }
        }
        m.release(Instant::now(), stopping, |r| {
            emit(r, hub, sink, stats, &mut err)
        });
        if stopping {
            break;
        }
        if last_flush.elapsed() >= Duration::from_millis(500) {
            last_flush = Instant::now();
            if let Some(s) = sink.as_mut() {
                s.flush()?;
            }
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64, src: u32) -> FlowRecord {
        FlowRecord {
            stime_ns: t,
            ltime_ns: t,
            srcid: src,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn specs() {
        let s = SourceSpec::parse("127.0.0.1:5000", 2).unwrap();
        assert_eq!(s.id, 3);
        assert_eq!(s.kind, SourceKind::Remote("127.0.0.1:5000".into()));
        let s = SourceSpec::parse("9=ring/", 0).unwrap();
        assert_eq!(
            s,
            SourceSpec {
                id: 9,
                kind: SourceKind::Ring("ring/".into())
            }
        );
        assert!(SourceSpec::parse("x=1.2.3.4:5", 0).is_err());
        assert!(SourceSpec::parse("nothing-here", 0).is_err());
    }

    #[test]
    fn window_orders_what_arrives_within_it() {
        let st = RelayStats::default();
        let mut m = Merger::new(Duration::from_secs(2), 1000);
        let t0 = Instant::now();
        for t in [5, 1, 4, 2, 3] {
            m.push(rec(t, 1), t0, &st);
        }
        let mut out = Vec::new();
        m.release(t0 + Duration::from_millis(100), false, |r| {
            out.push(r.stime_ns)
        });
        assert!(out.is_empty(), "held within the window");
        m.release(t0 + Duration::from_secs(2), false, |r| out.push(r.stime_ns));
        assert_eq!(out, vec![1, 2, 3, 4, 5]);
        // A record older than what left is late, passed on at once.
        m.push(rec(0, 2), t0 + Duration::from_secs(3), &st);
        m.release(t0 + Duration::from_secs(3), false, |r| out.push(r.stime_ns));
        assert_eq!(out.last(), Some(&0));
        assert_eq!(st.late.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_window_is_bounded_in_records() {
        let st = RelayStats::default();
        let mut m = Merger::new(Duration::from_secs(3600), 10);
        let t0 = Instant::now();
        let mut out = Vec::new();
        for t in (0..100).rev() {
            m.push(rec(t, 1), t0, &st);
            m.release(t0, false, |r| out.push(r.stime_ns));
            assert!(m.held() <= 10);
        }
        m.release(t0, true, |r| out.push(r.stime_ns));
        assert_eq!(out.len(), 100);
        assert_eq!(m.held(), 0);
    }
}

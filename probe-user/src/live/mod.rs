//! Live capture: frames from interfaces into the flow engine.
//!
//! Two capture paths feed the same engine (`flow::live`):
//! - **XDP + AF_XDP** (`--capture xdp`, tap mode): the XDP program parses and
//!   keys each frame in the kernel and redirects it to the AF_XDP socket of its
//!   RX queue; one worker thread per socket, pinned to a CPU. The frames are
//!   consumed: the host stack does not see them, which is what a dedicated tap
//!   or SPAN port wants.
//! - **libpcap** (`--capture pcap`, and always in `--mode host`): AF_PACKET
//!   (TPACKET_V3 through libpcap) gets a copy of every frame while the host
//!   keeps its traffic. One worker per interface.
//!
//! `--capture auto` tries XDP and, when it cannot attach, says why and uses
//! libpcap. Shutdown (the `stop` flag, set by SIGINT/SIGTERM): every capture
//! loop stops first, the XDP programs are detached, then every worker flushes
//! its flows as final records and the writer finishes.
//!
//! Timestamps: the XDP program stamps frames with `bpf_ktime_get_ns`
//! (CLOCK_MONOTONIC); each worker adds `CLOCK_REALTIME - CLOCK_MONOTONIC`,
//! re-read every second, so records carry wall-clock times like libpcap's.

pub mod config;
pub mod daemon;
pub mod kfilter;
pub mod xdp;
pub mod xsk;

use crate::flow::live::{self, KernelMeta, LiveWorker};
use crate::flow::pipeline::{PipelineError, RecordOut, ReplayConfig};
use crate::flow::EngineStats;
use crate::packet::LinkType;
use crate::record::{FlowRecord, ManDrops, ManInfo, RecordKind};
use ocellus_common::{META_FILTER_PASS, META_USER_KEY};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xdp::{AttachMode, KernelStats, XdpAttachment};
use xsk::{Xsk, XskConfig, XskError};

/// Why live capture could not run.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{0}")]
    Interface(String),
    #[error("XDP: {0}")]
    Xdp(String),
    #[error("AF_XDP: {0}")]
    Xsk(#[from] XskError),
    #[error("libpcap: {0}")]
    Pcap(String),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Engine(#[from] PipelineError),
}

/// Which capture path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureKind {
    Xdp,
    Pcap,
    /// XDP, else libpcap.
    Auto,
}

/// How the probe watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchMode {
    /// A dedicated tap or SPAN port: frames are consumed.
    Tap,
    /// A host's own interface: every frame still reaches the host (libpcap).
    Host,
}

/// Live capture settings.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub ifaces: Vec<String>,
    pub capture: CaptureKind,
    pub xdp_mode: AttachMode,
    pub mode: WatchMode,
    /// AF_XDP sockets per interface (default: every RX queue).
    pub queues: Option<u32>,
    /// CPUs to pin workers to, in order (default: 0, 1, 2, ...).
    pub cpus: Option<Vec<usize>>,
    pub xsk: XskConfig,
    /// A capture filter (tcpdump syntax): compiled by libpcap; in the kernel
    /// for the pcap path; for the XDP path, in the XDP program as far as
    /// [`kfilter`] can express it, and in the worker for the rest.
    pub filter: Option<String>,
    /// libpcap kernel buffer, bytes.
    pub pcap_buffer: i32,
    /// Print counters on stderr this often.
    pub stats_every: Option<Duration>,
    /// Frames per AF_XDP receive batch.
    pub batch: u32,
    /// A probe status record (`ManStatus`, with the drop counters) this often,
    /// and one at shutdown; `None`: none. Only with `engine.man_records`.
    pub mar_every: Option<Duration>,
    pub engine: ReplayConfig,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            ifaces: Vec::new(),
            capture: CaptureKind::Auto,
            xdp_mode: AttachMode::Auto,
            mode: WatchMode::Tap,
            queues: None,
            cpus: None,
            xsk: XskConfig::default(),
            filter: None,
            pcap_buffer: 64 << 20,
            stats_every: None,
            batch: 64,
            mar_every: Some(Duration::from_secs(60)),
            engine: ReplayConfig::default(),
        }
    }
}

/// Counters one capture thread publishes.
#[derive(Default)]
pub struct SourceCounters {
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    /// Frames the userspace capture filter excluded.
    pub filtered: AtomicU64,
    /// Frames that came with kernel hashes.
    pub kernel_keyed: AtomicU64,
    /// AF_XDP: XDP_STATISTICS.
    pub xsk_rx_dropped: AtomicU64,
    pub xsk_ring_full: AtomicU64,
    pub xsk_fill_empty: AtomicU64,
    pub xsk_invalid: AtomicU64,
    /// libpcap: received / dropped by the kernel / dropped by the interface.
    pub pcap_received: AtomicU64,
    pub pcap_dropped: AtomicU64,
    pub pcap_if_dropped: AtomicU64,
}

/// What a live run did.
#[derive(Debug, Default)]
pub struct LiveReport {
    /// "xdp" or "pcap".
    pub capture: String,
    pub records_written: u64,
    pub engine: EngineStats,
    pub frames: u64,
    pub kernel: Vec<(String, KernelStats)>,
    pub xsk_dropped: u64,
    pub pcap_dropped: u64,
    /// The drop counters of the last status record.
    pub drops: ManDrops,
}

enum Source {
    Xsk {
        xsk: Box<Xsk>,
        label: String,
    },
    Pcap {
        cap: pcap::Capture<pcap::Active>,
        label: String,
    },
}

fn now_real_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// CLOCK_REALTIME - CLOCK_MONOTONIC, to turn `bpf_ktime_get_ns` into wall time.
fn mono_to_real() -> i64 {
    now_real_ns() as i64 - clock_ns(libc::CLOCK_MONOTONIC) as i64
}

fn is_root() -> bool {
    // SAFETY: no arguments.
    unsafe { libc::geteuid() == 0 }
}

/// Sets up XDP and the sockets on every interface.
fn open_xdp(cfg: &LiveConfig) -> Result<(Vec<XdpAttachment>, Vec<Source>), LiveError> {
    if !is_root() {
        return Err(LiveError::Xdp(
            "loading an XDP program needs root (CAP_BPF and CAP_NET_ADMIN)".into(),
        ));
    }
    let kernel_filter = match cfg.filter.as_deref().map(kfilter::compile) {
        None => None,
        Some(Ok(p)) => {
            eprintln!(
                "ocellus probe: filter applied in the kernel ({} alternative(s)); userspace decides only the frames the kernel cannot",
                p.n_terms
            );
            Some(p)
        }
        Some(Err(why)) => {
            eprintln!("ocellus probe: filter applied in userspace: {why}");
            None
        }
    };
    let mut atts = Vec::new();
    let mut sources = Vec::new();
    // Every interface checked before any program attaches.
    let mut plan = Vec::with_capacity(cfg.ifaces.len());
    for iface in &cfg.ifaces {
        let have = xdp::rx_queues(iface);
        let queues = cfg.queues.unwrap_or(have);
        if queues == 0 || queues > have {
            return Err(LiveError::Config(format!(
                "--queues {queues}: {iface} has {have} RX queue(s); use 1 to {have}"
            )));
        }
        plan.push((iface, queues));
    }
    for (iface, queues) in plan {
        // Sockets bound and in the map before the program attaches: no
        // frame can meet an empty slot (a redirect failure) in between.
        let mut att = XdpAttachment::load(iface, kernel_filter.as_ref())?;
        let mut zc = None;
        for q in 0..queues {
            let xsk = Xsk::new(att.ifindex, q, &cfg.xsk)?;
            att.add_socket(q, &xsk)?;
            zc = Some(xsk.zero_copy);
            sources.push(Source::Xsk {
                xsk: Box::new(xsk),
                label: format!("{iface}/q{q}"),
            });
        }
        att.attach_loaded(cfg.xdp_mode)?;
        eprintln!(
            "ocellus probe: {iface}: XDP in {} mode, {queues} AF_XDP socket(s) in {} mode, {}-entry rings, {} frames",
            match att.mode {
                AttachMode::Skb => "generic (skb)",
                _ => "native (driver)",
            },
            if zc == Some(true) { "zero-copy" } else { "copy" },
            cfg.xsk.ring,
            cfg.xsk.frames
        );
        atts.push(att);
    }
    Ok((atts, sources))
}

fn open_pcap(cfg: &LiveConfig) -> Result<Vec<Source>, LiveError> {
    let mut sources = Vec::new();
    for iface in &cfg.ifaces {
        xdp::ifindex(iface)?;
        let cap = pcap::Capture::from_device(iface.as_str())
            .and_then(|c| {
                c.promisc(true)
                    .snaplen(262144)
                    .buffer_size(cfg.pcap_buffer)
                    .timeout(100)
                    .precision(pcap::Precision::Nano)
                    .open()
            })
            .map_err(|e| LiveError::Pcap(format!("{iface}: {e}")))?;
        // A tap's own transmissions are not traffic; a host's are.
        let dir = match cfg.mode {
            WatchMode::Tap => pcap::Direction::In,
            WatchMode::Host => pcap::Direction::InOut,
        };
        cap.direction(dir)
            .map_err(|e| LiveError::Pcap(format!("{iface}: direction: {e}")))?;
        let mut cap = cap;
        if let Some(f) = &cfg.filter {
            cap.filter(f, true)
                .map_err(|e| LiveError::Pcap(format!("filter {f:?}: {e}")))?;
        }
        eprintln!(
            "ocellus probe: {iface}: libpcap ({} mode), {} MiB buffer",
            if cfg.mode == WatchMode::Host {
                "host"
            } else {
                "tap"
            },
            cfg.pcap_buffer >> 20
        );
        sources.push(Source::Pcap {
            cap,
            label: iface.clone(),
        });
    }
    Ok(sources)
}

/// The message when this build has no XDP program.
pub fn no_object_message() -> &'static str {
    "this build has no XDP program: run `cargo xtask build-ebpf` and rebuild (or use --capture pcap)"
}

/// Capture set up (programs attached, sockets open) and not started: what
/// [`open`] returns, so a service can give up root before [`Opened::run`].
pub struct Opened {
    atts: Vec<XdpAttachment>,
    sources: Vec<Source>,
    capture: &'static str,
}

impl Opened {
    /// "xdp" or "pcap".
    pub fn capture(&self) -> &'static str {
        self.capture
    }

    /// Captures until `stop` is set; writes records to `out`.
    pub fn run(
        self,
        cfg: &LiveConfig,
        out: Box<dyn RecordOut>,
        stop: Arc<AtomicBool>,
    ) -> Result<LiveReport, LiveError> {
        run_opened(self, cfg, out, stop)
    }
}

/// Runs live capture until `stop` is set; writes records to `out`.
pub fn run(
    cfg: &LiveConfig,
    out: Box<dyn RecordOut>,
    stop: Arc<AtomicBool>,
) -> Result<LiveReport, LiveError> {
    open(cfg)?.run(cfg, out, stop)
}

/// Checks the settings, attaches the XDP programs and opens the sockets (or
/// the libpcap handles). Needs root; starts no thread.
pub fn open(cfg: &LiveConfig) -> Result<Opened, LiveError> {
    if cfg.ifaces.is_empty() {
        return Err(LiveError::Config("no interface (--iface)".into()));
    }
    for i in &cfg.ifaces {
        xdp::ifindex(i)?;
    }
    // Checked before anything attaches.
    if let Some(f) = &cfg.filter {
        pcap::Capture::dead(pcap::Linktype::ETHERNET)
            .and_then(|d| d.compile(f, true))
            .map_err(|e| LiveError::Config(format!("filter {f:?}: {e}")))?;
    }
    let (atts, sources, capture) = match (cfg.mode, cfg.capture) {
        (WatchMode::Host, CaptureKind::Xdp) => {
            return Err(LiveError::Config(
                "--mode host captures with libpcap (XDP capture consumes the frames); use --capture pcap or auto".into(),
            ))
        }
        (WatchMode::Host, _) | (WatchMode::Tap, CaptureKind::Pcap) => {
            (Vec::new(), open_pcap(cfg)?, "pcap")
        }
        (WatchMode::Tap, CaptureKind::Xdp) => {
            let (a, s) = open_xdp(cfg)?;
            (a, s, "xdp")
        }
        (WatchMode::Tap, CaptureKind::Auto) => match open_xdp(cfg) {
            Ok((a, s)) => (a, s, "xdp"),
            // A wrong setting is not a reason to fall back.
            Err(e @ LiveError::Config(_)) => return Err(e),
            Err(e) => {
                eprintln!("ocellus probe: XDP capture unavailable ({e}); falling back to libpcap");
                (Vec::new(), open_pcap(cfg)?, "pcap")
            }
        },
    };
    Ok(Opened {
        atts,
        sources,
        capture,
    })
}

fn run_opened(
    opened: Opened,
    cfg: &LiveConfig,
    out: Box<dyn RecordOut>,
    stop: Arc<AtomicBool>,
) -> Result<LiveReport, LiveError> {
    let Opened {
        mut atts,
        sources,
        capture,
    } = opened;
    // The capture loops stop on `halt`, which is set once the programs are
    // detached (so frames still arriving are not redirect failures) or when a
    // loop fails.
    let halt = Arc::new(AtomicBool::new(false));
    let n = sources.len();
    let (workers, handle) = live::start(&cfg.engine, n, out)?;
    let counters: Vec<Arc<SourceCounters>> = (0..n)
        .map(|_| Arc::new(SourceCounters::default()))
        .collect();
    let labels: Vec<String> = sources
        .iter()
        .map(|s| match s {
            Source::Xsk { label, .. } | Source::Pcap { label, .. } => label.clone(),
        })
        .collect();
    let cpus: Vec<usize> = cfg.cpus.clone().unwrap_or_else(|| {
        core_affinity::get_core_ids()
            .map(|v| v.into_iter().map(|c| c.id).collect())
            .unwrap_or_default()
    });
    let mut threads = Vec::with_capacity(n);
    for (i, ((src, w), ctr)) in sources
        .into_iter()
        .zip(workers)
        .zip(counters.iter().cloned())
        .enumerate()
    {
        let halt = Arc::clone(&halt);
        let cpu = if cfg.engine.pin && !cpus.is_empty() {
            Some(cpus[i % cpus.len()])
        } else {
            None
        };
        let filter = match (&cfg.filter, &src) {
            // The pcap path filters in the kernel already.
            (Some(f), Source::Xsk { .. }) => Some(
                pcap::Capture::dead(pcap::Linktype::ETHERNET)
                    .and_then(|d| d.compile(f, true))
                    .map_err(|e| LiveError::Config(format!("filter {f:?}: {e}")))?,
            ),
            _ => None,
        };
        let batch = cfg.batch.max(1);
        let t = std::thread::Builder::new()
            .name(format!("ocellus-cap{i}"))
            .spawn(move || {
                if let Some(c) = cpu {
                    core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                capture_loop(src, w, &ctr, filter, batch, &halt)
            })
            .map_err(|e| LiveError::Config(format!("cannot start a capture thread: {e}")))?;
        threads.push(t);
    }

    // Watch: counters on stderr and status records, until told to stop.
    let mar_every = cfg.mar_every.filter(|_| cfg.engine.man_records);
    let mut last = Instant::now();
    let mut last_mar = Instant::now();
    let mut mar_since = now_real_ns();
    let mut drops = ManDrops::default();
    let mut status_err: Option<LiveError> = None;
    let send_status = |drops: ManDrops, since: u64| -> Result<u64, LiveError> {
        let now = now_real_ns();
        let (st, _) = handle.snapshot();
        let rec = status_record(&st, drops, since, now);
        handle.send_status(rec, now)?;
        Ok(now)
    };
    while !stop.load(Ordering::Relaxed) && !threads.iter().all(|t| t.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(every) = cfg.stats_every {
            if last.elapsed() >= every {
                last = Instant::now();
                print_stats(&atts, &labels, &counters);
            }
        }
        if let Some(every) = mar_every {
            if last_mar.elapsed() >= every {
                last_mar = Instant::now();
                drops = gather_drops(&atts, &counters, &handle);
                match send_status(drops, mar_since) {
                    Ok(t) => mar_since = t,
                    Err(e) => {
                        status_err = Some(e);
                        break;
                    }
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    // 1. No new frames: the programs detach; then every capture loop takes
    // what its socket holds and stops.
    for a in &mut atts {
        a.detach();
    }
    halt.store(true, Ordering::Relaxed);
    let mut finished = Vec::with_capacity(threads.len());
    let mut first_err: Option<LiveError> = None;
    for t in threads {
        match t.join() {
            Ok((w, e)) => {
                finished.push(w);
                if let Some(e) = e {
                    first_err.get_or_insert(e);
                }
            }
            Err(_) => {
                first_err.get_or_insert(LiveError::Config("a capture thread panicked".into()));
            }
        }
    }
    // 2. The last status record, then detach (the sockets closed with their
    // threads).
    if let Some(e) = status_err {
        first_err.get_or_insert(e);
    }
    if mar_every.is_some() && first_err.is_none() {
        drops = gather_drops(&atts, &counters, &handle);
        if let Err(e) = send_status(drops, mar_since) {
            first_err.get_or_insert(e);
        }
    }
    let kernel: Vec<(String, KernelStats)> =
        atts.iter().map(|a| (a.iface.clone(), a.stats())).collect();
    drop(atts);
    if cfg.stats_every.is_some() {
        print_stats(&[], &labels, &counters);
        for (i, k) in &kernel {
            eprintln!("ocellus probe: {i}: kernel: {}", kernel_line(k));
        }
    }
    // 3. Every flow is flushed as a final record; the writer finishes.
    let mut engine = EngineStats::default();
    for w in finished {
        engine.add(&w.finish()?);
    }
    let records_written = handle.join()?;
    if let Some(e) = first_err {
        return Err(e);
    }
    let sum = |f: fn(&SourceCounters) -> &AtomicU64| -> u64 {
        counters.iter().map(|c| f(c).load(Ordering::Relaxed)).sum()
    };
    Ok(LiveReport {
        capture: capture.into(),
        records_written,
        engine,
        frames: sum(|c| &c.frames),
        kernel,
        xsk_dropped: sum(|c| &c.xsk_rx_dropped) + sum(|c| &c.xsk_ring_full),
        pcap_dropped: sum(|c| &c.pcap_dropped) + sum(|c| &c.pcap_if_dropped),
        drops,
    })
}

/// The drop counters now, from every stage.
fn gather_drops(
    atts: &[XdpAttachment],
    counters: &[Arc<SourceCounters>],
    handle: &live::LiveHandle,
) -> ManDrops {
    let sum = |f: fn(&SourceCounters) -> &AtomicU64| -> u64 {
        counters.iter().map(|c| f(c).load(Ordering::Relaxed)).sum()
    };
    let (_, active) = handle.snapshot();
    ManDrops {
        redirect_failed: atts.iter().map(|a| a.stats().redirect_fail).sum(),
        pcap_dropped: sum(|c| &c.pcap_dropped),
        pcap_if_dropped: sum(|c| &c.pcap_if_dropped),
        xsk_rx_dropped: sum(|c| &c.xsk_rx_dropped),
        xsk_ring_full: sum(|c| &c.xsk_ring_full),
        xsk_fill_empty: sum(|c| &c.xsk_fill_empty),
        xsk_invalid: sum(|c| &c.xsk_invalid),
        flows_active: active,
        writer_stalls: handle.writer_stalls(),
    }
}

/// A probe status record (Argus MAR `CON`) covering `since..now`.
pub fn status_record(st: &EngineStats, drops: ManDrops, since_ns: u64, now_ns: u64) -> FlowRecord {
    FlowRecord {
        kind: RecordKind::ManStatus,
        stime_ns: since_ns,
        ltime_ns: now_ns,
        man: Some(Box::new(ManInfo {
            pkts: st.packets,
            bytes: st.bytes,
            flows: st.flows_created,
            records: st.records,
            malformed: st.malformed,
            dropped: drops.lost(),
            drops: Some(drops),
        })),
        ..FlowRecord::default()
    }
}

fn kernel_line(k: &KernelStats) -> String {
    format!(
        "seen {} redirected {} keyed {} malformed {} filtered {} redirect-failed {} no-metadata {}",
        k.seen, k.redirected, k.keyed, k.malformed, k.filtered, k.redirect_fail, k.no_meta
    )
}

fn print_stats(atts: &[XdpAttachment], labels: &[String], counters: &[Arc<SourceCounters>]) {
    for a in atts {
        eprintln!(
            "ocellus probe: {}: kernel: {}",
            a.iface,
            kernel_line(&a.stats())
        );
    }
    for (l, c) in labels.iter().zip(counters) {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        eprintln!(
            "ocellus probe: {l}: frames {} bytes {} kernel-keyed {} filtered {} | af_xdp dropped {} ring-full {} fill-empty {} invalid {} | pcap received {} dropped {} if-dropped {}",
            g(&c.frames),
            g(&c.bytes),
            g(&c.kernel_keyed),
            g(&c.filtered),
            g(&c.xsk_rx_dropped),
            g(&c.xsk_ring_full),
            g(&c.xsk_fill_empty),
            g(&c.xsk_invalid),
            g(&c.pcap_received),
            g(&c.pcap_dropped),
            g(&c.pcap_if_dropped),
        );
    }
}

/// The worker back, with the error that stopped the loop if one did.
type LoopResult = (LiveWorker, Option<LiveError>);

/// One capture thread: reads its source until `stop`, feeding `w`.
fn capture_loop(
    src: Source,
    mut w: LiveWorker,
    ctr: &SourceCounters,
    filter: Option<pcap::BpfProgram>,
    batch: u32,
    stop: &AtomicBool,
) -> LoopResult {
    let r = match src {
        Source::Xsk { xsk, .. } => {
            let wait_us = xsk.batch_wait_us();
            xsk_loop(xsk, &mut w, ctr, filter, batch, wait_us, stop)
        }
        Source::Pcap { cap, .. } => pcap_loop(cap, &mut w, ctr, stop),
    };
    match r {
        Ok(()) => (w, None),
        Err(e) => {
            stop.store(true, Ordering::Relaxed);
            (w, Some(e))
        }
    }
}

fn xsk_loop(
    mut xsk: Box<Xsk>,
    w: &mut LiveWorker,
    ctr: &SourceCounters,
    filter: Option<pcap::BpfProgram>,
    batch: u32,
    batch_wait_us: u32,
    stop: &AtomicBool,
) -> Result<(), LiveError> {
    let mut offset = mono_to_real();
    let mut next_clock = Instant::now() + Duration::from_secs(1);
    let mut err: Option<PipelineError> = None;
    let (mut frames, mut bytes, mut keyed, mut filtered) = (0u64, 0u64, 0u64, 0u64);
    // One pass takes everything the RX ring holds; a pass that found less
    // than `batch` frames means the ring is being drained faster than it
    // fills, so (in poll mode) the worker sleeps `batch_wait` before the next
    // pass instead of waking for every frame or two. The sleep is bounded, so
    // nothing waits longer than that at low rates, and an empty pass still
    // blocks in poll() until the next frame.
    let pass = xsk.rx_size().max(batch);
    let batch = batch.clamp(1, pass);
    let batch_wait = (!xsk.busy_poll() && batch_wait_us > 0)
        .then(|| Duration::from_micros(batch_wait_us.min(100_000) as u64));
    while !stop.load(Ordering::Relaxed) {
        let got = xsk.receive(pass, |f| {
            if err.is_some() {
                return;
            }
            if let Some(p) = &filter {
                // The kernel filter marks what surely matches; the rest is
                // decided here.
                let kernel_yes = f.meta.is_some_and(|m| m.flags & META_FILTER_PASS != 0);
                if !kernel_yes && !p.filter(f.data) {
                    filtered += 1;
                    return;
                }
            }
            let len = f.data.len() as u32;
            frames += 1;
            bytes += len as u64;
            let (ts, meta) = match f.meta {
                Some(m) => {
                    let ts = (m.ktime_ns as i64).saturating_add(offset).max(0) as u64;
                    let km = if m.flags & META_USER_KEY == 0 {
                        keyed += 1;
                        Some(KernelMeta {
                            flow_hash: m.flow_hash,
                            shard_hash: m.shard_hash,
                        })
                    } else {
                        None
                    };
                    (ts, km)
                }
                None => (now_real_ns(), None),
            };
            if let Err(e) = w.push(LinkType::ETHERNET, f.data, len, ts, meta) {
                err = Some(e);
            }
        });
        if let Some(e) = err.take() {
            return Err(e.into());
        }
        let now = Instant::now();
        if got == 0 || now >= next_clock {
            w.tick(now_real_ns())?;
        }
        if now >= next_clock {
            next_clock = now + Duration::from_secs(1);
            offset = mono_to_real();
            if let Ok(s) = xsk.stats() {
                ctr.xsk_rx_dropped.store(s.rx_dropped, Ordering::Relaxed);
                ctr.xsk_ring_full.store(s.rx_ring_full, Ordering::Relaxed);
                ctr.xsk_fill_empty
                    .store(s.rx_fill_ring_empty, Ordering::Relaxed);
                ctr.xsk_invalid.store(s.rx_invalid_descs, Ordering::Relaxed);
            }
        }
        ctr.frames.store(frames, Ordering::Relaxed);
        ctr.bytes.store(bytes, Ordering::Relaxed);
        ctr.kernel_keyed.store(keyed, Ordering::Relaxed);
        ctr.filtered.store(filtered, Ordering::Relaxed);
        if got == 0 {
            xsk.wait(100);
        } else if got < batch {
            if let Some(d) = batch_wait {
                std::thread::sleep(d);
            }
        }
    }
    // What arrived before the stop still counts.
    loop {
        let mut e2 = None;
        let got = xsk.receive(pass, |f| {
            let kernel_yes = f.meta.is_some_and(|m| m.flags & META_FILTER_PASS != 0);
            if e2.is_some() || (!kernel_yes && filter.as_ref().is_some_and(|p| !p.filter(f.data))) {
                return;
            }
            let len = f.data.len() as u32;
            let ts = f.meta.map_or_else(now_real_ns, |m| {
                (m.ktime_ns as i64).saturating_add(offset).max(0) as u64
            });
            let meta = f
                .meta
                .filter(|m| m.flags & META_USER_KEY == 0)
                .map(|m| KernelMeta {
                    flow_hash: m.flow_hash,
                    shard_hash: m.shard_hash,
                });
            frames += 1;
            bytes += len as u64;
            if let Err(e) = w.push(LinkType::ETHERNET, f.data, len, ts, meta) {
                e2 = Some(e);
            }
        });
        if let Some(e) = e2 {
            return Err(e.into());
        }
        if got == 0 {
            break;
        }
    }
    ctr.frames.store(frames, Ordering::Relaxed);
    ctr.bytes.store(bytes, Ordering::Relaxed);
    if let Ok(s) = xsk.stats() {
        ctr.xsk_rx_dropped.store(s.rx_dropped, Ordering::Relaxed);
        ctr.xsk_ring_full.store(s.rx_ring_full, Ordering::Relaxed);
    }
    w.tick(now_real_ns())?;
    Ok(())
}

fn pcap_loop(
    cap: pcap::Capture<pcap::Active>,
    w: &mut LiveWorker,
    ctr: &SourceCounters,
    stop: &AtomicBool,
) -> Result<(), LiveError> {
    use std::os::fd::AsRawFd;
    let link = LinkType(cap.get_datalink().0 as u32);
    // Non-blocking, with our own poll: with TPACKET_V3 a blocking read waits
    // for a full or timed-out block and would not see the stop flag on an idle
    // link.
    let mut cap = cap
        .setnonblock()
        .map_err(|e| LiveError::Pcap(format!("non-blocking mode: {e}")))?;
    let fd = cap.as_raw_fd();
    let wait = |ms: i32| {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, ms) };
    };
    let mut next_stats = Instant::now() + Duration::from_secs(1);
    let mut tot = (0u64, 0u64);
    let read_stats = |cap: &mut pcap::Capture<pcap::Active>| {
        if let Ok(s) = cap.stats() {
            ctr.pcap_received
                .store(s.received as u64, Ordering::Relaxed);
            ctr.pcap_dropped.store(s.dropped as u64, Ordering::Relaxed);
            ctr.pcap_if_dropped
                .store(s.if_dropped as u64, Ordering::Relaxed);
        }
    };
    // Reads what is ready (at most `max` frames); returns how many.
    let drain = |cap: &mut pcap::Capture<pcap::Active>,
                 w: &mut LiveWorker,
                 tot: &mut (u64, u64),
                 max: u32|
     -> Result<u32, LiveError> {
        let mut n = 0;
        while n < max {
            match cap.next_packet() {
                Ok(p) => {
                    let ts = (p.header.ts.tv_sec as u64)
                        .saturating_mul(1_000_000_000)
                        .saturating_add(p.header.ts.tv_usec as u64);
                    tot.0 += 1;
                    tot.1 += p.header.len as u64;
                    w.push(link, p.data, p.header.len, ts, None)?;
                    n += 1;
                }
                Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => break,
                Err(e) => return Err(LiveError::Pcap(e.to_string())),
            }
        }
        Ok(n)
    };
    while !stop.load(Ordering::Relaxed) {
        let n = drain(&mut cap, w, &mut tot, 256)?;
        w.tick(now_real_ns())?;
        if n == 0 {
            wait(100);
        }
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + Duration::from_secs(1);
            read_stats(&mut cap);
            ctr.frames.store(tot.0, Ordering::Relaxed);
            ctr.bytes.store(tot.1, Ordering::Relaxed);
        }
    }
    // Frames in a block the kernel has not handed over yet (it retires a
    // block after the 100 ms timeout) still count.
    for _ in 0..3 {
        wait(150);
        while drain(&mut cap, w, &mut tot, 4096)? > 0 {}
    }
    read_stats(&mut cap);
    ctr.frames.store(tot.0, Ordering::Relaxed);
    ctr.bytes.store(tot.1, Ordering::Relaxed);
    w.tick(now_real_ns())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without an embedded object, `--capture xdp` says what to do, before
    /// touching any interface.
    #[test]
    fn a_build_without_the_xdp_object_says_how_to_get_it() {
        let m = no_object_message();
        assert!(m.contains("cargo xtask build-ebpf"), "{m}");
        assert!(m.contains("--capture pcap"), "{m}");
        if !xdp::object_present() {
            let e = XdpAttachment::attach("lo", AttachMode::Skb)
                .err()
                .map(|e| e.to_string());
            assert_eq!(e, Some(format!("XDP: {m}")));
        }
    }

    #[test]
    fn status_records_carry_the_drops() {
        let st = EngineStats {
            packets: 10,
            bytes: 1000,
            flows_created: 2,
            ..EngineStats::default()
        };
        let d = ManDrops {
            xsk_ring_full: 4,
            pcap_dropped: 1,
            xsk_fill_empty: 9,
            flows_active: 2,
            writer_stalls: 3,
            ..ManDrops::default()
        };
        let r = status_record(&st, d, 5, 7);
        assert_eq!(r.kind, RecordKind::ManStatus);
        assert_eq!((r.stime_ns, r.ltime_ns), (5, 7));
        let m = r.man.expect("man info");
        assert_eq!((m.pkts, m.bytes, m.flows), (10, 1000, 2));
        // Fill-ring-empty overlaps rx_dropped and stalls lose nothing.
        assert_eq!(m.dropped, 5);
        assert_eq!(m.drops, Some(d));
    }
}

//! `ocellus probe`: packets in, flow records out (Argus's `argus`).

use super::EXIT_USAGE;
use crate::capture::{MergedReader, PacketSource, RawPacket};
use crate::flow::pipeline::{self, PipelineError, RecordOut, ReplayConfig};
use crate::flow::EngineConfig;
use crate::record::FlowRecord;
use crate::ring::{self, RecordSink, SinkOptions};
use clap::{CommandFactory, Parser};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "ocellus probe",
    about = "Turn packets into bidirectional flow records (the job of Argus's `argus`).",
    after_help = "Records are written with -w (a file, a ring directory ending in '/', or - for a \
                  stream on stdout); without -w they are printed as `ocellus read` prints them.\n\
                  Status records come every -S seconds of packet time while a flow lives; idle \
                  timeouts follow Argus 3.0.8 (TCP 60 s, UDP/other 30 s, ICMP/ARP 5 s)."
)]
pub struct ProbeArgs {
    /// Capture files to replay (pcap, pcapng, gzip too), read in timestamp order as one capture.
    #[arg(short = 'r', long = "read", num_args = 1.., required_unless_present = "iface", conflicts_with = "iface", value_name = "FILE")]
    pub read: Vec<PathBuf>,
    /// Capture live on this interface (several times for several); needs root.
    /// Runs until SIGINT/SIGTERM, then flushes every flow.
    #[arg(short = 'i', long = "iface", value_name = "IFACE")]
    pub iface: Vec<String>,
    /// Live capture path: xdp (XDP + AF_XDP), pcap (libpcap), auto (XDP, else libpcap).
    #[arg(long, default_value = "auto", value_parser = ["xdp", "pcap", "auto"])]
    pub capture: String,
    /// XDP attach mode: drv (native), skb (generic), auto (native, else generic).
    #[arg(long, default_value = "auto", value_parser = ["drv", "skb", "auto"])]
    pub xdp_mode: String,
    /// tap: a dedicated tap/SPAN port, frames are consumed (XDP); host: the
    /// host's own interface, every frame still reaches the host (libpcap).
    #[arg(long, default_value = "tap", value_parser = ["tap", "host"])]
    pub mode: String,
    /// AF_XDP sockets (and workers) per interface: RX queues 0..N (default: all).
    #[arg(long, value_name = "N")]
    pub queues: Option<u32>,
    /// CPUs to pin capture workers to, e.g. 2,3,4 (default: 0, 1, ...).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub cpus: Option<Vec<usize>>,
    /// AF_XDP fill and RX ring entries (a power of two).
    #[arg(long, default_value_t = 8192, value_name = "N")]
    pub ring_size: u32,
    /// AF_XDP UMEM frames per socket.
    #[arg(long, default_value_t = 16384, value_name = "N")]
    pub umem_frames: u32,
    /// AF_XDP zero-copy: auto (where the driver offers it), on, off.
    #[arg(long, default_value = "auto", value_parser = ["auto", "on", "off"])]
    pub zero_copy: String,
    /// Busy-poll the AF_XDP sockets instead of sleeping.
    #[arg(long)]
    pub busy_poll: bool,
    /// AF_XDP poll mode: after a receive pass that found few frames, wait
    /// this many µs (at most 100000) so frames accumulate and one wakeup
    /// serves many; 0 polls again at once. Frame timestamps are unaffected.
    #[arg(long, default_value_t = 200, value_name = "US")]
    pub xsk_batch_wait_us: u32,
    /// Capture filter in tcpdump syntax (compiled by libpcap).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// libpcap kernel buffer size in bytes.
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
    pub pcap_buffer: i32,
    /// With --stats during live capture: print counters every SECS.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub stats_interval: f64,
    /// Output: FILE, DIR/ (ring of mapped segments) or - (record stream on stdout).
    #[arg(short = 'w', long = "write", value_name = "OUT")]
    pub write: Option<String>,
    /// Also export the records as IPFIX biflows (RFC 7011/5103) to udp://HOST:PORT
    /// or tcp://HOST:PORT. Without -w or -P the records are only exported.
    #[arg(long, value_name = "URL")]
    pub ipfix: Option<String>,
    /// Status record interval in seconds (Argus -S).
    #[arg(
        short = 'S',
        long = "status-interval",
        default_value_t = 5.0,
        value_name = "SECS"
    )]
    pub status_interval: f64,
    /// Capture the first N payload bytes of each direction (Argus -U).
    #[arg(short = 'U', long = "user-data", default_value_t = 0, value_name = "N")]
    pub user_data: u32,
    /// Keep inter-packet time statistics per direction (Argus -J: sintpkt,
    /// sjit, ...; off by default, as in Argus, to keep flows small).
    #[arg(short = 'J', long)]
    pub jitter: bool,
    /// Worker threads applying packets to the flow table.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Flow table shards (rounded up to a power of two). Default in replay:
    /// one per worker when the workers are a power of two, else 8 per worker
    /// (so that rounding up leaves the workers' shares even). Each worker
    /// owns its shards, and a batch applies shard by shard, prefetching its
    /// lookups a dozen packets ahead within each: fewer, fuller shards keep
    /// that pipeline full. 256 in live capture (workers share the table, so
    /// more locks mean less contention).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Do not pin threads to CPUs.
    #[arg(long)]
    pub no_pin: bool,
    /// Probe id stamped on every record.
    #[arg(long, default_value_t = 0, value_name = "ID")]
    pub srcid: u32,
    /// Do not write the probe start/stop management records.
    #[arg(long)]
    pub no_man: bool,
    /// Ring segment size in bytes (with -w DIR/).
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
    pub segment_size: u64,
    /// Ring retention: at most this many segments (with -w DIR/).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_segments: u32,
    /// Append to an existing record file instead of replacing it.
    #[arg(long)]
    pub append: bool,
    /// Print the probe's counters on stderr at the end (and periodically when live).
    #[arg(long)]
    pub stats: bool,
    /// No progress bar, no warnings summary.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Serving records to remote readers (-P PORT). A replay (-r) keeps
    /// serving its backlog after the end of the capture, until SIGINT/SIGTERM.
    #[command(flatten)]
    pub serve: super::serve::ServeArgs,
    /// Read settings from this TOML file: each key is a long option of this
    /// command (`iface = ["eth1"]`, `xdp-mode = "drv"`, `busy-poll = true`);
    /// options given on the command line win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Live capture: probe status record (with the drop counters) every SECS
    /// (Argus ARGUS_MAR_STATUS_INTERVAL).
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub mar_interval: f64,
    /// Live capture: run in the background once capture is set up (needs -w).
    #[arg(long, requires = "iface")]
    pub daemon: bool,
    /// Live capture: write the probe's process id here; refuse to start while
    /// it names a running process; removed on exit.
    #[arg(long, value_name = "FILE", requires = "iface")]
    pub pid_file: Option<PathBuf>,
    /// Live capture: become this user once the sockets and the XDP program are
    /// set up (as root).
    #[arg(long, value_name = "NAME", requires = "iface")]
    pub user: Option<String>,
}

/// The command line with the configuration file's settings added (`--config`):
/// the file's keys become the options the command line does not give.
pub fn with_config(argv: Vec<String>) -> Result<Vec<String>, String> {
    let cmd = ProbeArgs::command();
    let path = cmd
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&argv)
        .ok()
        .and_then(|m| m.get_one::<PathBuf>("config").cloned());
    let Some(path) = path else {
        return Ok(argv);
    };
    let extra = crate::live::config::file_args(&cmd, &argv, &path).map_err(|e| e.to_string())?;
    let mut all = argv;
    all.extend(extra);
    Ok(all)
}

impl PacketSource for MergedReader {
    type Error = crate::capture::CaptureError;
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Self::Error> {
        Ok(MergedReader::next_packet(self))
    }
}

/// Adapts a ring sink to the pipeline's record output.
struct SinkOut(Box<dyn RecordSink + Send>);

impl RecordOut for SinkOut {
    fn write_record(&mut self, rec: &FlowRecord) -> Result<(), PipelineError> {
        self.0
            .write(rec)
            .map_err(|e| PipelineError::Output(e.to_string()))
    }
    fn write_encoded(&mut self, rec: &[u8]) -> Result<(), PipelineError> {
        self.0
            .write_encoded(rec)
            .map_err(|e| PipelineError::Output(e.to_string()))
    }
    fn finish(&mut self) -> Result<(), PipelineError> {
        self.0
            .flush()
            .map_err(|e| PipelineError::Output(e.to_string()))
    }
}

/// Prints records as `ocellus read` does (no -w).
struct PrintOut {
    printer: crate::print::Printer,
    out: std::io::BufWriter<std::io::Stdout>,
    /// Live capture: each record shows as it is reported.
    flush_each: bool,
}

impl RecordOut for PrintOut {
    fn write_record(&mut self, rec: &FlowRecord) -> Result<(), PipelineError> {
        if rec.kind.is_man() {
            return Ok(());
        }
        self.printer
            .write_record(rec, &mut self.out)
            .map_err(|e| PipelineError::Output(e.to_string()))?;
        if self.flush_each {
            use std::io::Write;
            self.out
                .flush()
                .map_err(|e| PipelineError::Output(e.to_string()))?;
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), PipelineError> {
        use std::io::Write;
        self.out
            .flush()
            .map_err(|e| PipelineError::Output(e.to_string()))
    }
}

pub fn main(args: Vec<String>) -> ExitCode {
    let argv = match with_config(
        std::iter::once("ocellus probe".to_string())
            .chain(args)
            .collect(),
    ) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("ocellus probe: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let a = match ProbeArgs::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(&a) {
        Ok(code) => code,
        Err(e) => {
            if super::is_broken_pipe(e.as_ref()) {
                return ExitCode::SUCCESS;
            }
            eprintln!("ocellus probe: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(a: &ProbeArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if !(a.status_interval.is_finite() && a.status_interval > 0.0 && a.status_interval <= 86400.0) {
        return Err(format!(
            "-S {}: the status interval must be between 0 and 86400 seconds",
            a.status_interval
        )
        .into());
    }
    if !a.iface.is_empty() {
        return run_live(a);
    }
    let mut reader = MergedReader::open(&a.read)?;
    let total = reader.total_size();
    let workers = a.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get().clamp(1, 4))
            .unwrap_or(1)
    });
    if workers == 0 || workers > 1024 {
        return Err(format!("--workers {workers}: use between 1 and 1024").into());
    }
    let cfg = ReplayConfig {
        engine: EngineConfig {
            status_interval_ns: (a.status_interval * 1e9) as u64,
            user_data_len: a.user_data.min(65536),
            jitter: a.jitter,
            shards: a.shards.unwrap_or(replay_shards(workers)).clamp(1, 1 << 16),
            ..EngineConfig::default()
        },
        workers,
        pin: !a.no_pin,
        man_records: !a.no_man,
        srcid: a.srcid,
        ..ReplayConfig::default()
    };
    let served = a.serve.start("probe")?;
    let out = with_server(a, false, &served)?;

    let bar = if !a.quiet && std::io::stderr().is_terminal() {
        let pb = match total {
            Some(t) => indicatif::ProgressBar::new(t),
            None => indicatif::ProgressBar::new_spinner(),
        };
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    let report = {
        let cb_bar = bar.clone();
        let r = pipeline::replay(&mut reader, &cfg, out, move |n| {
            if let Some(b) = &cb_bar {
                b.set_message(format!("{n} packets"));
                b.tick();
            }
        });
        if let Some(b) = &bar {
            b.set_position(reader.bytes_consumed());
            b.finish_and_clear();
        }
        r?
    };
    let mut warnings: Vec<String> = report.warnings.clone();
    warnings.extend(reader.take_warnings().into_iter().map(|w| w.to_string()));
    for w in &warnings {
        eprintln!("ocellus probe: warning: {w}");
    }
    let st = &report.stats;
    if a.stats {
        eprintln!(
            "ocellus probe: {} packets, {} bytes, {} flows (at most {} at once), {} records written, {} malformed, {} without a flow key, {} fragments matched, {} ICMP errors mapped",
            st.packets,
            st.bytes,
            st.flows_created,
            st.peak_flows,
            report.records_written,
            st.malformed,
            st.unkeyed,
            st.fragments_matched,
            st.icmp_mapped
        );
        for r in crate::packet::Malformed::ALL {
            let n = report.malformed_by_reason[r as usize & 7];
            if n > 0 {
                eprintln!("ocellus probe:   malformed {}: {n}", r.name());
            }
        }
    }
    if served.is_some() {
        // Readers may still connect for the backlog (--since).
        super::serve::wait_for_signal()?;
    }
    Ok(if warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The replay's default shard count (see `--shards`).
fn replay_shards(workers: usize) -> usize {
    if workers.is_power_of_two() {
        workers
    } else {
        workers * 8
    }
}

fn sink_options(a: &ProbeArgs) -> SinkOptions {
    SinkOptions {
        segment_bytes: a.segment_size,
        max_segments: Some(a.max_segments),
        append: a.append,
        ..SinkOptions::default()
    }
}

fn record_out(a: &ProbeArgs, live: bool) -> Result<Box<dyn RecordOut>, Box<dyn std::error::Error>> {
    Ok(match &a.write {
        Some(spec) => Box::new(SinkOut(ring::open_sink(spec, &sink_options(a))?)),
        None => Box::new(PrintOut {
            printer: crate::print::Printer::new(crate::print::PrintOptions::default()),
            out: std::io::BufWriter::new(std::io::stdout()),
            flush_each: live,
        }),
    })
}

/// The record output: with -P, records also go to the server's hub (after
/// -w, so that a ring's readers get their backlog from the ring); without
/// -w they are then only served, not printed.
fn with_server(
    a: &ProbeArgs,
    live: bool,
    served: &Option<(
        std::sync::Arc<crate::remote::hub::Hub>,
        crate::remote::server::Server,
    )>,
) -> Result<Box<dyn RecordOut>, Box<dyn std::error::Error>> {
    let out: Box<dyn RecordOut> = match served {
        Some((hub, _)) => {
            let sink = match &a.write {
                Some(spec) => Some(ring::open_sink(spec, &sink_options(a))?),
                None => None,
            };
            Box::new(super::serve::HubOut::new(sink, std::sync::Arc::clone(hub)))
        }
        None => record_out(a, live)?,
    };
    match &a.ipfix {
        Some(spec) => {
            let exporter = crate::ipfix::Exporter::connect(spec, Default::default())
                .map_err(|e| format!("--ipfix {spec}: {e}"))?;
            let keep = a.write.is_some() || served.is_some();
            Ok(Box::new(IpfixOut {
                inner: keep.then_some(out),
                exporter,
            }))
        }
        None => Ok(out),
    }
}

/// Exports every record as IPFIX besides handing it on (`--ipfix`).
struct IpfixOut {
    inner: Option<Box<dyn RecordOut>>,
    exporter: crate::ipfix::Exporter,
}

impl RecordOut for IpfixOut {
    fn write_record(&mut self, rec: &FlowRecord) -> Result<(), PipelineError> {
        self.exporter
            .export(rec)
            .map_err(|e| PipelineError::Output(format!("IPFIX export: {e}")))?;
        match &mut self.inner {
            Some(o) => o.write_record(rec),
            None => Ok(()),
        }
    }
    fn finish(&mut self) -> Result<(), PipelineError> {
        self.exporter
            .flush()
            .map_err(|e| PipelineError::Output(format!("IPFIX export: {e}")))?;
        match &mut self.inner {
            Some(o) => o.finish(),
            None => Ok(()),
        }
    }
}

/// `ocellus probe --iface IF...`: live capture until SIGINT/SIGTERM.
fn run_live(a: &ProbeArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use crate::live::daemon;
    use crate::live::{self, xdp::AttachMode, xsk::ZeroCopy, CaptureKind, LiveConfig, WatchMode};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    if !(a.stats_interval.is_finite() && a.stats_interval > 0.0 && a.stats_interval <= 86400.0) {
        return Err(format!(
            "--stats-interval {}: use between 0 and 86400 seconds",
            a.stats_interval
        )
        .into());
    }
    if !(a.mar_interval.is_finite() && a.mar_interval > 0.0 && a.mar_interval <= 86400.0) {
        return Err(format!(
            "--mar-interval {}: use between 0 and 86400 seconds",
            a.mar_interval
        )
        .into());
    }
    if a.daemon && a.write.as_deref().is_none_or(|w| w == "-") {
        return Err(
            "--daemon needs -w FILE or -w DIR/ (a daemon has no terminal to print on)".into(),
        );
    }
    // Before anything is set up: a user that does not exist, a probe that is
    // already running.
    let user = a.user.as_deref().map(daemon::lookup_user).transpose()?;
    let mut pid_file = a
        .pid_file
        .as_deref()
        .map(daemon::PidFile::check)
        .transpose()?;
    let cfg = LiveConfig {
        ifaces: a.iface.clone(),
        capture: match a.capture.as_str() {
            "xdp" => CaptureKind::Xdp,
            "pcap" => CaptureKind::Pcap,
            _ => CaptureKind::Auto,
        },
        xdp_mode: match a.xdp_mode.as_str() {
            "drv" => AttachMode::Drv,
            "skb" => AttachMode::Skb,
            _ => AttachMode::Auto,
        },
        mode: if a.mode == "host" {
            WatchMode::Host
        } else {
            WatchMode::Tap
        },
        queues: a.queues,
        cpus: a.cpus.clone(),
        xsk: crate::live::xsk::XskConfig {
            frames: a.umem_frames,
            ring: a.ring_size,
            zero_copy: match a.zero_copy.as_str() {
                "on" => ZeroCopy::Force,
                "off" => ZeroCopy::Off,
                _ => ZeroCopy::Auto,
            },
            busy_poll: a.busy_poll,
            batch_wait_us: a.xsk_batch_wait_us,
            ..Default::default()
        },
        filter: a.filter.clone(),
        pcap_buffer: a.pcap_buffer,
        stats_every: a
            .stats
            .then(|| std::time::Duration::from_secs_f64(a.stats_interval)),
        mar_every: Some(std::time::Duration::from_secs_f64(a.mar_interval)),
        engine: ReplayConfig {
            engine: EngineConfig {
                status_interval_ns: (a.status_interval * 1e9) as u64,
                user_data_len: a.user_data.min(65536),
                jitter: a.jitter,
                shards: a.shards.unwrap_or(256).clamp(1, 1 << 16),
                ..EngineConfig::default()
            },
            workers: 1,
            pin: !a.no_pin,
            // Measured for live capture with this size (the replay's
            // default is smaller).
            batch: 1024,
            man_records: !a.no_man,
            srcid: a.srcid,
        },
        ..LiveConfig::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let served = a.serve.start("probe")?;
    let opened = match live::open(&cfg) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ocellus probe: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    // Sockets open and programs attached: background, PID file, drop root,
    // then the output (opened as the user that will write it).
    let ready = if a.daemon {
        daemon::daemonize()?
    } else {
        daemon::Ready::foreground()
    };
    let started = (|| -> Result<Box<dyn RecordOut>, Box<dyn std::error::Error>> {
        if let Some(p) = pid_file.as_mut() {
            p.write(user.as_ref())?;
        }
        if let Some(u) = &user {
            daemon::drop_privileges(u)?;
            eprintln!(
                "ocellus probe: running as user {} (uid {}, gid {})",
                u.name, u.uid, u.gid
            );
        }
        with_server(a, true, &served)
    })();
    let out = match started {
        Ok(o) => {
            ready.ok();
            o
        }
        Err(e) => {
            ready.fail(&e.to_string());
            eprintln!("ocellus probe: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let report = match opened.run(&cfg, out, stop) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ocellus probe: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    drop(pid_file);
    let st = &report.engine;
    if a.stats {
        eprintln!(
            "ocellus probe: {} capture: {} frames, {} packets, {} bytes, {} flows (at most {} at once), {} records written, {} malformed, {} without a flow key, dropped: {} af_xdp, {} libpcap",
            report.capture,
            report.frames,
            st.packets,
            st.bytes,
            st.flows_created,
            st.peak_flows,
            report.records_written,
            st.malformed,
            st.unkeyed,
            report.xsk_dropped,
            report.pcap_dropped
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_shards_divide_evenly_among_the_workers() {
        for workers in 1..=64 {
            let shards = replay_shards(workers).next_power_of_two();
            let share = |w: usize| (0..shards).filter(|s| s % workers == w).count();
            let (lo, hi) = (share(workers - 1), share(0));
            assert!(
                hi - lo <= 1 && lo * 8 >= hi * 7,
                "{workers} workers: {lo}..{hi} shards each"
            );
        }
        assert_eq!(replay_shards(1), 1);
        assert_eq!(replay_shards(2), 2);
    }

    fn parse(cli: &[&str], file: &str) -> Result<ProbeArgs, String> {
        let d = tempfile::tempdir().map_err(|e| e.to_string())?;
        let p = d.path().join("ocellus.toml");
        std::fs::write(&p, file).map_err(|e| e.to_string())?;
        let mut argv: Vec<String> = ["ocellus probe", "--config", p.to_str().unwrap_or("")]
            .iter()
            .map(|s| s.to_string())
            .collect();
        argv.extend(cli.iter().map(|s| s.to_string()));
        let all = with_config(argv)?;
        ProbeArgs::try_parse_from(all).map_err(|e| e.to_string())
    }

    const FILE: &str = r#"
iface = ["span1", "span2"]
capture = "pcap"
queues = 3
mar-interval = 2.5
busy-poll = true
write = "/var/lib/ocellus/ring/"
"#;

    #[test]
    fn the_file_sets_what_the_command_line_does_not() {
        let a = parse(&[], FILE).unwrap();
        assert_eq!(a.iface, ["span1", "span2"]);
        assert_eq!(a.capture, "pcap");
        assert_eq!(a.queues, Some(3));
        assert_eq!(a.mar_interval, 2.5);
        assert!(a.busy_poll);
        assert_eq!(a.write.as_deref(), Some("/var/lib/ocellus/ring/"));
        // Untouched options keep their defaults.
        assert_eq!(a.xdp_mode, "auto");
    }

    #[test]
    fn flags_win_over_the_file() {
        let a = parse(
            &[
                "-i",
                "eth9",
                "--capture",
                "xdp",
                "--queues",
                "1",
                "-w",
                "x.ocr",
            ],
            FILE,
        )
        .unwrap();
        assert_eq!(a.iface, ["eth9"], "the flag's list replaces the file's");
        assert_eq!(a.capture, "xdp");
        assert_eq!(a.queues, Some(1));
        assert_eq!(a.write.as_deref(), Some("x.ocr"));
        // What the flags do not give still comes from the file.
        assert_eq!(a.mar_interval, 2.5);
        assert!(a.busy_poll);
    }

    /// The example in dist/ is a valid configuration.
    #[test]
    fn the_shipped_example_parses() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/ocellus.toml"),
        )
        .unwrap();
        let a = parse(&[], &text).unwrap();
        assert_eq!(a.iface, ["eth1"]);
        assert_eq!(a.user.as_deref(), Some("ocellus"));
        assert_eq!(a.write.as_deref(), Some("/var/lib/ocellus/ring/"));
        assert_eq!((a.mar_interval, a.status_interval), (60.0, 5.0));
        assert_eq!(a.max_segments, 64);
        let a = parse(&["--cpus", "1,2"], "iface = \"x\"\ncpus = [3, 4]\n").unwrap();
        assert_eq!(a.cpus, Some(vec![1, 2]));
        let a = parse(&[], "iface = \"x\"\ncpus = [3, 4]\n").unwrap();
        assert_eq!(a.cpus, Some(vec![3, 4]));
    }

    #[test]
    fn a_bad_file_is_one_line_naming_key_and_file() {
        let e = parse(&[], "iface = \"x\"\nxdp-mode = \"native\"\n").unwrap_err();
        assert!(
            e.ends_with("ocellus.toml: key `xdp-mode`: invalid value \"native\" (possible values: drv, skb, auto)"),
            "{e}"
        );
        let e = parse(&[], "interface = \"x\"\n").unwrap_err();
        assert!(e.contains("ocellus.toml: unknown key `interface`"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = parse(&[], "iface = \"x\"\nqueues = 1.5\n").unwrap_err();
        assert!(e.contains("key `queues`: invalid value '1.5'"), "{e}");
    }
}

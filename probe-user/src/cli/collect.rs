//! `ocellus collect`: NetFlow v5/v9 and IPFIX in, flow records out.

use super::read::{parse_args as parse_read_args, print_options, ReadArgs};
use super::EXIT_USAGE;
use crate::filter::Filter;
use crate::netflow::{decode_capture, Collector, CollectorConfig};
use crate::record::FlowRecord;
use crate::ring::{self, RecordSink, SinkOptions};
use std::io::{self, Write};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HELP: &str = "\
ocellus collect: NetFlow v5, v9 and IPFIX export packets in, flow records out

Usage: ocellus collect --listen udp://ADDR:PORT [OPTIONS] [- FILTER]
       ocellus collect --listen tcp://ADDR:PORT [OPTIONS] [- FILTER]
       ocellus collect -r EXPORTS.pcap... [OPTIONS] [- FILTER]

  --listen udp://ADDR:PORT   receive export datagrams (port 0: any free port;
                             the bound address is printed on stderr)
  --listen tcp://ADDR:PORT   accept IPFIX exporters over TCP (RFC 7011 10.4:
                             messages framed by their length); a stream that is
                             not IPFIX is closed with the reason logged
  --max-exporters N          with tcp://: most exporter connections at once (64)
  --tcp-idle-timeout SECONDS with tcp://: close a connection silent this long (600)
  -r FILE...                 read export datagrams from capture files (UDP to
                             any port; other traffic is skipped)
  -w OUT                     write records (file, ring directory/, or - for a
                             stream) instead of printing them
  --stats                    print the collector's counters on stderr at the end
  --idle-exit SECONDS        with --listen: stop after this long without a datagram
  --max-datagrams N          with --listen: stop after N datagrams (TCP: messages)
  --template-timeout SECONDS forget templates not refreshed for this long (1800)
  --no-scale-sampling        keep packet and byte counters as exported instead
                             of multiplying them by the sampling rate
  Printing options are those of ocellus read (-n, -s, -c, -L, -u, -p, -N, -Z, --json).

Records are flagged N (NetFlow-derived). Their byte counts are what the
exporter counted: IP bytes (IP header and payload), without the link-layer
header that a probe counts. As nfdump's nfcapd does by default, packet and
byte counters are multiplied by the sampling rate (1 in N) the exporter
announces: the NetFlow v5 header's sampling interval, a record's own
samplingInterval, or the rate of the exporter's options data
(samplingInterval, samplerRandomInterval, samplingPacketInterval/Space).
Scaled records carry the SAMPLED flag; --stats counts them (scaled_records).
Records of RFC 5103 biflows have both directions; others only the source side.
";

#[derive(Debug, Default)]
struct CollectArgs {
    listen: Option<String>,
    files: Vec<PathBuf>,
    write: Option<String>,
    stats: bool,
    idle_exit: Option<Duration>,
    max_datagrams: Option<u64>,
    template_timeout_s: Option<u64>,
    tcp: crate::netflow::tcp::TcpConfig,
    no_scale_sampling: bool,
    read: ReadArgs,
}

fn parse_args(args: &[String]) -> Result<CollectArgs, String> {
    let mut a = CollectArgs::default();
    let mut rest = vec!["-r".to_string(), "-".to_string()];
    let mut i = 0;
    let value = |i: &mut usize, opt: &str| -> Result<String, String> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("option {opt} needs a value"))
    };
    let number = |v: &str, opt: &str| -> Result<u64, String> {
        v.parse()
            .map_err(|_| format!("{opt} {v}: expected a whole number"))
    };
    while i < args.len() {
        match args[i].as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--listen" => a.listen = Some(value(&mut i, "--listen")?),
            "-r" => {
                a.files.push(PathBuf::from(value(&mut i, "-r")?));
                while i + 1 < args.len() && !args[i + 1].starts_with('-') {
                    i += 1;
                    a.files.push(PathBuf::from(&args[i]));
                }
            }
            "-w" => a.write = Some(value(&mut i, "-w")?),
            "--stats" => a.stats = true,
            "--no-scale-sampling" => a.no_scale_sampling = true,
            "--idle-exit" => {
                let v = value(&mut i, "--idle-exit")?;
                let s: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| format!("--idle-exit {v}: expected seconds"))?;
                a.idle_exit = Some(Duration::from_secs_f64(s));
            }
            "--max-datagrams" => {
                let v = value(&mut i, "--max-datagrams")?;
                a.max_datagrams = Some(number(&v, "--max-datagrams")?);
            }
            "--max-exporters" => {
                let v = value(&mut i, "--max-exporters")?;
                let n = number(&v, "--max-exporters")?;
                if !(1..=4096).contains(&n) {
                    return Err(format!("--max-exporters {v}: use between 1 and 4096"));
                }
                a.tcp.max_exporters = n as usize;
            }
            "--tcp-idle-timeout" => {
                let v = value(&mut i, "--tcp-idle-timeout")?;
                let s: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 86400.0)
                    .ok_or_else(|| format!("--tcp-idle-timeout {v}: expected seconds"))?;
                a.tcp.idle_timeout = Duration::from_secs_f64(s);
            }
            "--template-timeout" => {
                let v = value(&mut i, "--template-timeout")?;
                a.template_timeout_s = Some(number(&v, "--template-timeout")?);
            }
            "-" | "--" => {
                rest.extend_from_slice(&args[i..]);
                break;
            }
            _ => rest.push(args[i].clone()),
        }
        i += 1;
    }
    match (&a.listen, a.files.is_empty()) {
        (None, true) => {
            return Err("no input: give --listen udp://ADDR:PORT or -r EXPORTS.pcap".into())
        }
        (Some(_), false) => return Err("give either --listen or -r, not both".into()),
        _ => {}
    }
    a.read = parse_read_args(&rest)?;
    Ok(a)
}

pub fn main(args: Vec<String>) -> ExitCode {
    let a = match parse_args(&args) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ocellus collect: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if super::is_broken_pipe(e.as_ref()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ocellus collect: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Where records go: a record sink, or the printer.
struct Output {
    sink: Option<Box<dyn RecordSink + Send>>,
    printer: crate::print::Printer,
    out: io::BufWriter<io::Stdout>,
    filter: Option<Filter>,
    max: Option<u64>,
    emitted: u64,
}

impl Output {
    fn emit(&mut self, rec: &FlowRecord) -> Result<(), Box<dyn std::error::Error>> {
        if self.filter.as_ref().is_some_and(|f| !f.matches(rec)) {
            return Ok(());
        }
        if self.max.is_some_and(|n| self.emitted >= n) {
            return Ok(());
        }
        self.emitted += 1;
        match &mut self.sink {
            Some(s) => s.write(rec)?,
            None => self.printer.write_record(rec, &mut self.out)?,
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        match &mut self.sink {
            Some(s) => s.flush()?,
            None => self.out.flush()?,
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct EmitError(String);

fn run(a: &CollectArgs) -> Result<(), Box<dyn std::error::Error>> {
    let filter = if a.read.filter.is_empty() {
        None
    } else {
        Some(Filter::parse_args(&a.read.filter)?)
    };
    let sink = match &a.write {
        Some(spec) => Some(ring::open_sink(spec, &SinkOptions::default())?),
        None => None,
    };
    let mut output = Output {
        sink,
        printer: crate::print::Printer::new(print_options(&a.read)?),
        out: io::BufWriter::with_capacity(1 << 16, io::stdout()),
        filter,
        max: a.read.max_records,
        emitted: 0,
    };
    let mut cfg = CollectorConfig {
        scale_sampling: !a.no_scale_sampling,
        ..CollectorConfig::default()
    };
    if let Some(s) = a.template_timeout_s {
        cfg.template_timeout_ns = s.saturating_mul(1_000_000_000);
    }
    let mut collector = Collector::new(cfg);
    if let Some(spec) = &a.listen {
        listen(spec, a, &mut collector, &mut output)?;
    } else {
        let sum = decode_capture(&a.files, &mut collector, |r| {
            output.emit(r).map_err(|e| EmitError(e.to_string()))
        })?;
        if a.stats {
            eprintln!(
                "ocellus collect: capture: packets {} udp_datagrams {} not_udp {} refused_datagrams {}",
                sum.packets, sum.udp_datagrams, sum.not_udp, sum.refused_datagrams
            );
        }
    }
    output.flush()?;
    if a.stats {
        let st = collector.stats();
        let line: Vec<String> = st
            .fields()
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        eprintln!("ocellus collect: {}", line.join(" "));
    }
    Ok(())
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn listen(
    spec: &str,
    a: &CollectArgs,
    collector: &mut Collector,
    output: &mut Output,
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(addr) = spec.strip_prefix("tcp://") {
        return listen_tcp(spec, addr, a, collector, output);
    }
    let addr = spec.strip_prefix("udp://").ok_or_else(|| {
        format!("--listen {spec}: expected udp://ADDR:PORT or tcp://ADDR:PORT (e.g. udp://127.0.0.1:2055)")
    })?;
    let sock = UdpSocket::bind(addr).map_err(|e| format!("--listen {spec}: {e}"))?;
    eprintln!("ocellus collect: listening on udp://{}", sock.local_addr()?);
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    // The largest UDP payload; one buffer for the whole run.
    let mut buf = vec![0u8; 65_536];
    let mut recs = Vec::with_capacity(64);
    let mut last_datagram = Instant::now();
    let mut datagrams: u64 = 0;
    let mut last_sweep = Instant::now();
    loop {
        if a.max_datagrams.is_some_and(|n| datagrams >= n) {
            break;
        }
        match sock.recv_from(&mut buf) {
            Ok((n, peer)) => {
                datagrams += 1;
                last_datagram = Instant::now();
                recs.clear();
                // Refused datagrams are counted in the collector's stats.
                let _ = collector.decode(peer.ip(), now_ns(), &buf[..n], &mut recs);
                for r in &recs {
                    output.emit(r)?;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                output.flush()?;
                if a.idle_exit.is_some_and(|d| last_datagram.elapsed() >= d) {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
        if last_sweep.elapsed() >= Duration::from_secs(10) {
            collector.expire_templates(now_ns());
            last_sweep = Instant::now();
        }
    }
    Ok(())
}

/// `--listen tcp://`: IPFIX exporters over TCP, all served by this thread.
fn listen_tcp(
    spec: &str,
    addr: &str,
    a: &CollectArgs,
    collector: &mut Collector,
    output: &mut Output,
) -> Result<(), Box<dyn std::error::Error>> {
    use crate::netflow::tcp::TcpIngest;
    let mut ingest = TcpIngest::bind(addr, a.tcp).map_err(|e| format!("--listen {spec}: {e}"))?;
    eprintln!(
        "ocellus collect: listening on tcp://{}",
        ingest.local_addr()?
    );
    let mut recs = Vec::with_capacity(1024);
    let mut last_message = Instant::now();
    let mut messages: u64 = 0;
    let mut last_sweep = Instant::now();
    loop {
        if a.max_datagrams.is_some_and(|n| messages >= n) {
            break;
        }
        recs.clear();
        let n = ingest.poll(Duration::from_millis(200), collector, now_ns(), &mut recs)?;
        for r in &recs {
            output.emit(r)?;
        }
        if n > 0 {
            messages += n;
            last_message = Instant::now();
        } else {
            output.flush()?;
            if a.idle_exit.is_some_and(|d| last_message.elapsed() >= d) {
                break;
            }
        }
        if last_sweep.elapsed() >= Duration::from_secs(10) {
            collector.expire_templates(now_ns());
            last_sweep = Instant::now();
        }
    }
    if a.stats {
        let line: Vec<String> = ingest
            .stats()
            .fields()
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        eprintln!("ocellus collect: {}", line.join(" "));
    }
    Ok(())
}

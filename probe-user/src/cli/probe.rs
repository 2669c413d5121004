//! `ocellus probe`: packets in, flow records out (Argus's `argus`).

use super::EXIT_USAGE;
use crate::capture::{MergedReader, PacketSource, RawPacket};
use crate::flow::pipeline::{self, PipelineError, RecordOut, ReplayConfig};
use crate::flow::EngineConfig;
use crate::record::FlowRecord;
use crate::ring::{self, RecordSink, SinkOptions};
use clap::Parser;
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
    #[arg(short = 'r', long = "read", num_args = 1.., required = true, value_name = "FILE")]
    pub read: Vec<PathBuf>,
    /// Output: FILE, DIR/ (ring of mapped segments) or - (record stream on stdout).
    #[arg(short = 'w', long = "write", value_name = "OUT")]
    pub write: Option<String>,
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
    /// Worker threads applying packets to the flow table.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Flow table shards (rounded up to a power of two).
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub shards: usize,
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
    /// Print the probe's counters on stderr at the end.
    #[arg(long)]
    pub stats: bool,
    /// No progress bar, no warnings summary.
    #[arg(short = 'q', long)]
    pub quiet: bool,
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
}

impl RecordOut for PrintOut {
    fn write_record(&mut self, rec: &FlowRecord) -> Result<(), PipelineError> {
        if rec.kind.is_man() {
            return Ok(());
        }
        self.printer
            .write_record(rec, &mut self.out)
            .map_err(|e| PipelineError::Output(e.to_string()))
    }
    fn finish(&mut self) -> Result<(), PipelineError> {
        use std::io::Write;
        self.out
            .flush()
            .map_err(|e| PipelineError::Output(e.to_string()))
    }
}

pub fn main(args: Vec<String>) -> ExitCode {
    let a =
        match ProbeArgs::try_parse_from(std::iter::once("ocellus probe".to_string()).chain(args)) {
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
            shards: a.shards.clamp(1, 1 << 16),
            ..EngineConfig::default()
        },
        workers,
        pin: !a.no_pin,
        man_records: !a.no_man,
        srcid: a.srcid,
        ..ReplayConfig::default()
    };
    let out: Box<dyn RecordOut> = match &a.write {
        Some(spec) => Box::new(SinkOut(ring::open_sink(
            spec,
            &SinkOptions {
                segment_bytes: a.segment_size,
                max_segments: Some(a.max_segments),
                append: a.append,
                ..SinkOptions::default()
            },
        )?)),
        None => Box::new(PrintOut {
            printer: crate::print::Printer::new(crate::print::PrintOptions::default()),
            out: std::io::BufWriter::new(std::io::stdout()),
        }),
    };

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
            "ocellus probe: {} packets, {} bytes, {} flows, {} records written, {} malformed, {} without a flow key, {} fragments matched, {} ICMP errors mapped",
            st.packets,
            st.bytes,
            st.flows_created,
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
    Ok(if warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

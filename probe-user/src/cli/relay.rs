//! `ocellus relay` (Argus's `radium`): merge probes, relays and rings, serve
//! the merged stream, and write it with -w.

use super::serve::ServeArgs;
use super::EXIT_USAGE;
use crate::remote::relay::{self, RelayConfig, RelayStats, SourceSpec};
use crate::remote::ClientOptions;
use crate::ring::{self, SinkOptions};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "ocellus relay",
    about = "Merge records from probes, relays and ring directories, tag them with their \
             source id, and serve the merged stream (the job of Argus's `radium`).",
    after_help = "Sources (-S) are HOST:PORT (a probe or relay serving with -P) or a ring \
                  directory; ID=SOURCE sets the source id stamped on its records (default: its \
                  position, from 1). A source that goes away is reconnected with backoff.\n\
                  Runs until SIGINT/SIGTERM."
)]
pub struct RelayArgs {
    /// A source: [ID=]HOST:PORT or [ID=]RING_DIR (repeatable).
    #[arg(short = 'S', long = "source", required = true, value_name = "SRC")]
    pub sources: Vec<String>,
    /// Write the merged stream: FILE, DIR/ (ring) or -.
    #[arg(short = 'w', long = "write", value_name = "OUT")]
    pub write: Option<String>,
    /// Reorder window: records are put in time order within it.
    #[arg(long, default_value = "2s", value_name = "DUR")]
    pub window: String,
    /// Most records held in the reorder window.
    #[arg(long, default_value_t = 1 << 20, value_name = "N")]
    pub window_records: usize,
    /// CA of the sources' certificates (PEM).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) presented to the sources.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Key of --cert (PEM).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Token presented to the sources.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Longest wait between reconnection attempts.
    #[arg(long, default_value = "5s", value_name = "DUR")]
    pub backoff_max: String,
    /// Print the relay's counters on stderr at the end.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub serve: ServeArgs,
    /// A filter asked of every source (after a lone -).
    #[arg(last = true, value_name = "FILTER")]
    pub filter: Vec<String>,
}

pub fn main(args: Vec<String>) -> ExitCode {
    // `- FILTER` as the other clients take it.
    let args: Vec<String> = args
        .into_iter()
        .map(|a| if a == "-" { "--".to_string() } else { a })
        .collect();
    let a =
        match RelayArgs::try_parse_from(std::iter::once("ocellus relay".to_string()).chain(args)) {
            Ok(a) => a,
            Err(e) => {
                let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
                let _ = e.print();
                return ExitCode::from(code);
            }
        };
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ocellus relay: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(a: &RelayArgs) -> Result<(), Box<dyn std::error::Error>> {
    let sources = a
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| SourceSpec::parse(s, i))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = a.filter.join(" ");
    if !filter.trim().is_empty() {
        crate::filter::Filter::parse(&filter).map_err(|e| format!("filter: {e}"))?;
    }
    let cfg = RelayConfig {
        sources,
        client: ClientOptions {
            ca: a.ca.clone(),
            cert: a.cert.clone(),
            key: a.key.clone(),
            token: a.token.clone(),
            insecure: a.serve.insecure,
            since_ns: 1,
            server_name: None,
        },
        filter,
        window: crate::remote::parse_duration(&a.window).map_err(|e| format!("--window {e}"))?,
        max_held: a.window_records.clamp(1, 1 << 26),
        backoff_max: crate::remote::parse_duration(&a.backoff_max)
            .map_err(|e| format!("--backoff-max {e}"))?
            .max(std::time::Duration::from_millis(100)),
    };
    let sink = match &a.write {
        Some(w) => Some(ring::open_sink(w, &SinkOptions::default())?),
        None => None,
    };
    let (hub, server) = match a.serve.start("relay")? {
        Some(s) => (s.0, Some(s.1)),
        None => {
            if sink.is_none() {
                return Err("nothing to do: serve with -P PORT and/or write with -w OUT".into());
            }
            let hub = crate::remote::hub::Hub::new(
                crate::remote::hub::HubConfig {
                    queue: 1,
                    backlog: 0,
                },
                "relay",
            );
            (hub, None)
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let stats = Arc::new(RelayStats::default());
    relay::run(&cfg, hub, sink, stop, Arc::clone(&stats))?;
    if let Some(s) = &server {
        s.stop();
    }
    if a.stats {
        eprintln!(
            "ocellus relay: {} records received, {} sent on, {} late, {} future, {} connects, {} disconnects",
            stats.received.load(Ordering::Relaxed),
            stats.released.load(Ordering::Relaxed),
            stats.late.load(Ordering::Relaxed),
            stats.future.load(Ordering::Relaxed),
            stats.connects.load(Ordering::Relaxed),
            stats.disconnects.load(Ordering::Relaxed),
        );
    }
    Ok(())
}

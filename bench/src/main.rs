//! `ocellus-bench gen` writes a deterministic benchmark capture;
//! `ocellus-bench replay` runs ocellus, argus and tcpdump on a capture and
//! writes `bench/results/replay-<date>.{json,md}`; `ocellus-bench clients`
//! compares `ocellus read|sort|cluster` with `ra|rasort|racluster` on the
//! same flows and writes `bench/results/clients-<date>.{json,md}`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ocellus_bench::clients::{clients, ClientsOptions};
use ocellus_bench::gen::{generate, GenOptions};
use ocellus_bench::live::{live, LiveOptions};
use ocellus_bench::replay::{replay, ReplayOptions};

#[derive(Parser)]
#[command(name = "ocellus-bench", about = "Benchmarks for ocellus")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a deterministic replay capture: IMIX 7:4:1 frame sizes (orig_len
    /// 60/590/1514 = 64/594/1518 on the wire minus FCS), stored cut to --snaplen.
    Gen {
        /// Output pcap.
        #[arg(short = 'o', long, default_value = "replay.pcap")]
        out: PathBuf,
        #[arg(long, default_value_t = 10_000_000)]
        packets: u64,
        /// Flows started (approximate).
        #[arg(long, default_value_t = 800_000)]
        flows: u64,
        /// Flows open at once.
        #[arg(long, default_value_t = 300_000)]
        concurrency: u64,
        /// Seconds of packet time.
        #[arg(long, default_value_t = 60.0)]
        duration_s: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Bytes stored per frame (orig_len keeps the full size); 0 = whole frames.
        #[arg(long, default_value_t = 128)]
        snaplen: u32,
    },
    /// Run ocellus, argus and tcpdump on the same capture and compare them.
    Replay {
        #[arg(long)]
        pcap: PathBuf,
        /// The ocellus binary (skipped with a message when it does not exist).
        #[arg(long, default_value = "target/release/ocellus")]
        ocellus: PathBuf,
        /// Run ocellus once per value with `--workers N`.
        #[arg(long, num_args = 1..)]
        workers: Vec<u32>,
        /// Extra argument for `ocellus probe` (repeat it for several).
        #[arg(long = "ocellus-arg", allow_hyphen_values = true)]
        ocellus_args: Vec<String>,
        #[arg(long, default_value = "argus")]
        argus: String,
        #[arg(long, default_value = "tcpdump")]
        tcpdump: String,
        #[arg(long, default_value = "bench/results")]
        results_dir: PathBuf,
        /// Runs per tool; the fastest is reported.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
    /// Relay throughput: records per second to 1..K readers and the relay's memory.
    Relay {
        #[arg(long, default_value = "target/release/ocellus")]
        ocellus: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        /// Reader counts to measure.
        #[arg(long, num_args = 1.., default_values_t = [1usize, 4])]
        readers: Vec<usize>,
        #[arg(long, default_value = "bench/results")]
        results_dir: PathBuf,
    },
    /// Live capture over veth at rising rates (trafgen): ocellus AF_XDP (poll
    /// and busy-poll), ocellus libpcap and `argus -i`; needs root.
    Live {
        #[arg(long, default_value = "target/release/ocellus")]
        ocellus: PathBuf,
        #[arg(long, default_value = "argus")]
        argus: String,
        /// Offered rates, packets per second (0: trafgen's top speed).
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        rates: Vec<u64>,
        /// Seconds of traffic per rate step.
        #[arg(long, default_value_t = 1.0)]
        step_s: f64,
        /// CPU for the consumer (trafgen uses CPU 0).
        #[arg(long, default_value_t = 1)]
        cpu: usize,
        /// Only these consumers: xdp, busy, pcap, argus (default: all).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        #[arg(long, default_value = "bench/results")]
        results_dir: PathBuf,
    },
    /// Probe a capture with argus and ocellus, then time ra/rasort/racluster
    /// against ocellus read/sort/cluster on the same flows.
    Clients {
        /// The capture (make one with `gen`).
        #[arg(long)]
        pcap: PathBuf,
        /// Where the two record files go.
        #[arg(long, default_value = "/tmp/ocellus-bench-clients")]
        work_dir: PathBuf,
        /// Re-use the record files in --work-dir when they exist.
        #[arg(long)]
        reuse: bool,
        /// Status interval of both probes (-S), in seconds.
        #[arg(long, default_value_t = 5)]
        status_interval: u32,
        #[arg(long, default_value = "target/release/ocellus")]
        ocellus: PathBuf,
        #[arg(long, default_value = "argus")]
        argus: String,
        /// Directory of ra, rasort and racluster.
        #[arg(long, default_value = "/usr/bin")]
        ra_dir: PathBuf,
        #[arg(long, default_value = "bench/results")]
        results_dir: PathBuf,
        /// Runs per command; the fastest is reported.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Cmd::Relay {
            ocellus,
            records,
            readers,
            results_dir,
        } => {
            let o = ocellus_bench::relay::RelayBenchOptions {
                ocellus,
                records,
                readers,
                results_dir,
            };
            match ocellus_bench::relay::relay_bench(&o) {
                Ok((runs, json, md)) => {
                    for r in &runs {
                        println!(
                            "{} readers: {:.0} records/s each, relay peak RSS {} KiB, {} cut off",
                            r.readers, r.records_per_s, r.relay_peak_rss_kib, r.cut_off
                        );
                    }
                    eprintln!("Results: {} and {}", json.display(), md.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ocellus-bench relay: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Live {
            ocellus,
            argus,
            rates,
            step_s,
            cpu,
            only,
            results_dir,
        } => {
            let mut o = LiveOptions {
                ocellus,
                argus,
                step_s,
                cpu,
                only,
                results_dir,
                ..LiveOptions::default()
            };
            if !rates.is_empty() {
                o.rates = rates;
            }
            match live(&o) {
                Ok((j, m)) => {
                    eprintln!("Results: {} and {}", j.display(), m.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ocellus-bench live: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Gen {
            out,
            packets,
            flows,
            concurrency,
            duration_s,
            seed,
            snaplen,
        } => {
            let opts = GenOptions {
                packets,
                flows,
                concurrency,
                duration_s,
                seed,
                snaplen,
                out,
                ..GenOptions::default()
            };
            let start = std::time::Instant::now();
            match generate(&opts) {
                Ok(s) => {
                    let secs = start.elapsed().as_secs_f64();
                    println!(
                        "Wrote {} packets ({} bytes, {:.0} MB/s) to {}: {} flows ({} TCP, {} UDP, {} ICMP), {} still open at the end; IMIX 64/594/1518: {:?}; {} bytes on the wire.",
                        s.packets,
                        s.file_bytes,
                        s.file_bytes as f64 / secs / 1e6,
                        opts.out.display(),
                        s.flows_started,
                        s.tcp_flows,
                        s.udp_flows,
                        s.icmp_flows,
                        s.flows_open_at_end,
                        s.imix_packets,
                        s.wire_bytes
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ocellus-bench gen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Clients {
            pcap,
            work_dir,
            reuse,
            status_interval,
            ocellus,
            argus,
            ra_dir,
            results_dir,
            repeat,
        } => {
            let opts = ClientsOptions {
                pcap,
                work_dir,
                ocellus,
                argus,
                ra_dir,
                status_interval,
                reuse,
                results_dir,
                repeat,
            };
            match clients(&opts) {
                Ok((pairs, json, md)) => {
                    eprintln!("Results: {} and {}", json.display(), md.display());
                    if pairs
                        .iter()
                        .any(|p| p.argus.usage.exit_code != 0 || p.ocellus.usage.exit_code != 0)
                    {
                        eprintln!(
                            "ocellus-bench clients: a command failed; see stderr_tail in the JSON."
                        );
                        return ExitCode::FAILURE;
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ocellus-bench clients: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Replay {
            pcap,
            ocellus,
            workers,
            ocellus_args,
            argus,
            tcpdump,
            results_dir,
            repeat,
        } => {
            let opts = ReplayOptions {
                pcap,
                ocellus,
                workers,
                ocellus_args,
                argus,
                tcpdump,
                results_dir,
                repeat,
            };
            match replay(&opts) {
                Ok((runs, json, md)) => {
                    eprintln!("Results: {} and {}", json.display(), md.display());
                    if runs
                        .iter()
                        .any(|r| r.usage.as_ref().is_some_and(|u| u.exit_code != 0))
                    {
                        eprintln!(
                            "ocellus-bench replay: a tool failed; see stderr_tail in the JSON."
                        );
                        return ExitCode::FAILURE;
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ocellus-bench replay: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

//! Command-line front ends. The binary is glue: it calls [`main_with_args`].
//!
//! `probe` uses clap. `read` takes `ra`'s own option syntax (`-s` field lists,
//! a filter after `-`), which getopt-style parsing handles better than clap,
//! so it has a small parser of its own in [`read`].

pub mod aliases;
pub mod anonymize;
pub mod cluster;
pub mod collect;
pub mod count;
pub mod graph;
pub mod grep;
pub mod probe;
mod ra_common;
pub mod read;
pub mod relay;
pub mod report;
pub mod serve;
pub mod sort;

use std::process::ExitCode;

/// Exit status for usage errors and bad input (as Argus's clients use).
pub const EXIT_USAGE: u8 = 2;

const TOP_HELP: &str = "\
ocellus: network activity audit (flow probe and Argus-style clients)

Usage: ocellus <COMMAND> [ARGS...]

Commands:
  probe   turn packets into flow records (argus): ocellus probe -r FILE... [-w OUT]
  read    print flow records (ra): ocellus read -r PATH... [-n] [-s FIELD...] [- FILTER]
  sort    sort records (rasort): ocellus sort -r PATH... -m KEY...
  count   count records, packets, bytes (racount): ocellus count -r PATH... [-M proto]
  cluster merge records by flow or keys (racluster): ocellus cluster -r PATH... [-m KEY...]
  grep    select records by payload (ragrep): ocellus grep -r PATH... -e REGEX
  collect NetFlow v5/v9 and IPFIX in: ocellus collect --listen udp://ADDR:PORT | -r EXPORTS.pcap [-w OUT]
  anonymize  prefix-preserving anonymization (ranonymize): ocellus anonymize -r PATH... -w OUT --key HEX
  graph   draw metrics over time (ragraph): ocellus graph bytes -M 1s [-m proto] -w out.png -r PATH...
          or who talks to whom: ocellus graph --links -m saddr daddr dport -w out.svg -r PATH...
  relay   merge probes and rings and serve them (radium): ocellus relay -S HOST:PORT... -P PORT [-w OUT]
  report  a self-contained HTML summary: ocellus report -r PATH... -w report.html
  install-aliases DIR  make ra, rasort, racount, racluster, ragrep, ranonymize, ragraph links to ocellus

Run `ocellus <COMMAND> --help` for a command's options.
";

/// Runs the program with `args` (without the program name).
pub fn main_with_args(args: Vec<String>) -> ExitCode {
    let Some(cmd) = args.first() else {
        eprint!("{TOP_HELP}");
        return ExitCode::from(EXIT_USAGE);
    };
    let rest = args[1..].to_vec();
    match cmd.as_str() {
        "probe" => probe::main(rest),
        "read" => read::main(rest),
        "sort" => sort::main(rest),
        "count" => count::main(rest),
        "cluster" => cluster::main(rest),
        "grep" => grep::main(rest),
        "anonymize" => anonymize::main(rest),
        "collect" => collect::main(rest),
        "graph" => graph::main(rest),
        "report" => report::main(rest),
        "relay" => relay::main(rest),
        "install-aliases" => aliases::install(rest),
        "-h" | "--help" | "help" => {
            print!("{TOP_HELP}");
            ExitCode::SUCCESS
        }
        "-V" | "--version" => {
            println!("ocellus {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("ocellus: unknown command '{other}'; the commands are probe, read, sort, count, cluster, grep, anonymize, collect, graph, report, relay and install-aliases (see ocellus --help)");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Whether an error chain ends in a closed pipe (`ocellus read | head`): that
/// is a normal end, not a failure.
pub fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        if err.to_string().contains("Broken pipe") {
            return true;
        }
        cur = err.source();
    }
    false
}

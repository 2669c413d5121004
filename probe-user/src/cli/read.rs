//! `ocellus read`: print flow records (Argus's `ra`), with `ra`'s option syntax.

use super::EXIT_USAGE;
use crate::clients::parallel::{for_each_chunk, Parallel, Printed};
use crate::clients::timerange::TimeRange;
use crate::filter::Filter;
use crate::record::FlowRecord;
use crate::ring;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
ocellus read: print flow records, as Argus's `ra` prints them

Usage: ocellus read -r PATH... [OPTIONS] [- FILTER]

  -r PATH...    record files, ring directories, or - for standard input
  -f            follow: wait for new records at the end (files and rings)
  -S HOST:PORT  read live from a probe or relay (ocellus probe/relay -P PORT);
                the filter is sent to it, so only matching records cross the network
  --ca FILE     CA of the server's certificate (PEM); TLS is the default
  --cert FILE --key FILE   client certificate and key (mutual TLS)
  --token TOKEN a per-user token (from the server's users file)
  --insecure    plain TCP (only to loopback addresses)
  --since all|DUR|TIME  also the backlog the server still holds (all, e.g. 10m, or
                    @EPOCH / 2026-11-26T10:00:00)
  -t RANGE      only records in this time range, Argus's syntax:
                [x][i|n|c]SPEC[-SPEC|+DURATION] or -DURATION[+DURATION];
                SPEC [[[yyyy/]mm/]dd.]HH[:MM[:SS]], yyyy/mm/dd, yyyy/mm, yyyy or
                epoch seconds; * in a date field matches any; DURATION e.g. 2h5m
                (units y M d h m s). i: starts or ends inside (default),
                n: spans the range, c: inside it, x: not. Examples: -t 14,
                -t 2011/03/18.19:06-19:30, -t 1300475168+2s, -t -10m, -t c14:10-14:20
  -n            numeric ports; -nn numeric protocols too
  -s FIELD...   fields to print (Argus names); +FIELD appends, -FIELD removes,
                FIELD:N sets the width; a lone - ends the list
  -c CHAR       delimiter (CSV with -c ,)
  -L N          labels: -1 none, 0 once (default), N every N lines
  -u            times as Unix epoch seconds
  -p N          fractional digits of times (default 6)
  -N N          print at most N records
  -z            TCP state history letters in the State column
  -Z s|d|b      TCP flags per side in the State column
  -M man        print the probe's management (start/stop) records too
  --threads N   threads that decode, filter and format a record file (default:
                one per core, at most 16; 1: a single thread); the output is the
                same, in file order
  --json        one JSON object per record
  --ipfix udp://HOST:PORT|tcp://HOST:PORT
                export the records as IPFIX (RFC 7011, RFC 5103 biflows)
                instead of printing them
  -h, --help    this help

Filter (after a lone - or --, as in ra), e.g. - 'tcp and dst port 80':
  combine with and/&&, or/||, not/!, parentheses; and/or have equal precedence,
  left to right. A bare value re-uses the last qualifier: host a and b; port 80 or 443.
  Direction: src, dst, src or dst (default), src and dst.
  tcp udp icmp igmp arp rarp ip ipv4 ipv6 man    ip proto N|NAME    ether proto N
  /etc/protocols names: esp sctp gre ipv6-icmp (icmp6) ...
  [dir] host ADDR       [dir] net ADDR/LEN | ADDR mask MASK     (IPv4 or IPv6)
  [tcp|udp] [dir] port P   number, /etc/services name, or range 53-215
  ether [dir] host MAC   ether multicast|broadcast   [ip] multicast   [ip] broadcast
  [dir] vid N   [dir] vpri N   mpls   [dir] mid LABEL   srcid N
  [dir] pkts|bytes|appbytes|ttl|tos|loss|rate|load|dur [OP] N
        OP: gt gte lt lte eq ne > >= < <= = == != (default eq); N may end in k, M, G.
        Counters compare per side: pkts gt 5 = either side sent more than 5.
  syn synack fin finack normal wait est con timeout start status fragonly multipath
  [dir] reset retrans outoforder winshut ecn frag     echo unreach redirect timexed
  Errors name the column; a bad filter exits with status 2.
";

/// `ocellus read`'s options, parsed getopt-style as `ra` parses them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadArgs {
    pub paths: Vec<PathBuf>,
    pub follow: bool,
    pub numeric: u8,
    pub fields: Vec<String>,
    pub delimiter: Option<char>,
    pub labels: Option<i64>,
    pub epoch: bool,
    pub precision: Option<usize>,
    pub max_records: Option<u64>,
    pub history: bool,
    pub flags_mode: Option<char>,
    pub man: bool,
    pub json: bool,
    /// `-t RANGE`, parsed by [`crate::clients::timerange::TimeRange`].
    pub time_range: Option<String>,
    pub filter: Vec<String>,
    /// `--ipfix DEST`: export as IPFIX instead of printing.
    pub ipfix: Option<String>,
    /// `-S HOST:PORT`: probes or relays to read from.
    pub servers: Vec<String>,
    /// How to connect to `servers` (--ca, --cert, --key, --token, --insecure, --since).
    pub remote: crate::remote::ClientOptions,
    /// `--threads N`: threads that read a record file (0: one per core).
    pub threads: usize,
}

/// Parses `read`'s arguments. Errors are one line, naming the option.
pub fn parse_args(args: &[String]) -> Result<ReadArgs, String> {
    let mut a = ReadArgs::default();
    let mut i = 0;
    let value = |i: &mut usize, opt: &str| -> Result<String, String> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("option {opt} needs a value"))
    };
    while i < args.len() {
        let arg = args[i].as_str();
        match arg {
            "-" | "--" => {
                a.filter = args[i + 1..].to_vec();
                break;
            }
            "-h" | "--help" => return Err(String::new()),
            "--json" => a.json = true,
            "--threads" => {
                let v = value(&mut i, "--threads")?;
                a.threads = match v.parse::<usize>() {
                    Ok(n) if (1..=1024).contains(&n) => n,
                    _ => return Err(format!("--threads {v}: expected a thread count from 1 to 1024")),
                };
            }
            "--ipfix" => a.ipfix = Some(value(&mut i, "--ipfix")?),
            "-S" => a.servers.push(value(&mut i, "-S")?),
            "--ca" => a.remote.ca = Some(PathBuf::from(value(&mut i, "--ca")?)),
            "--cert" => a.remote.cert = Some(PathBuf::from(value(&mut i, "--cert")?)),
            "--key" => a.remote.key = Some(PathBuf::from(value(&mut i, "--key")?)),
            "--token" => a.remote.token = Some(value(&mut i, "--token")?),
            "--server-name" => a.remote.server_name = Some(value(&mut i, "--server-name")?),
            "--insecure" => a.remote.insecure = true,
            "--since" => a.remote.since_ns = parse_since(&value(&mut i, "--since")?)?,
            "-t" => a.time_range = Some(value(&mut i, "-t")?),
            "-r" => {
                let first = value(&mut i, "-r")?;
                a.paths.push(PathBuf::from(first));
                while i + 1 < args.len() && !args[i + 1].starts_with('-') {
                    i += 1;
                    a.paths.push(PathBuf::from(&args[i]));
                }
            }
            "-s" => {
                // The first value is always a field (it may be -field); then
                // more fields until an option or a lone '-'.
                a.fields.push(value(&mut i, "-s")?);
                while i + 1 < args.len() && !args[i + 1].starts_with('-') {
                    i += 1;
                    a.fields.push(args[i].clone());
                }
            }
            "-c" => {
                let v = value(&mut i, "-c")?;
                let mut chars = v.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => a.delimiter = Some(c),
                    _ if v == "\\t" => a.delimiter = Some('\t'),
                    _ => return Err(format!("-c {v}: the delimiter must be one character")),
                }
            }
            "-L" => {
                let v = value(&mut i, "-L")?;
                a.labels = Some(
                    v.parse()
                        .map_err(|_| format!("-L {v}: expected a number (-1 none, 0 once, N every N lines)"))?,
                );
            }
            "-p" => {
                let v = value(&mut i, "-p")?;
                let p: usize = v
                    .parse()
                    .map_err(|_| format!("-p {v}: expected a number of digits (0 to 9)"))?;
                if p > 9 {
                    return Err(format!("-p {v}: at most 9 fractional digits"));
                }
                a.precision = Some(p);
            }
            "-N" => {
                let v = value(&mut i, "-N")?;
                a.max_records = Some(
                    v.parse()
                        .map_err(|_| format!("-N {v}: expected a record count"))?,
                );
            }
            "-Z" => {
                let v = value(&mut i, "-Z")?;
                match v.as_str() {
                    "s" | "d" | "b" => a.flags_mode = v.chars().next(),
                    _ => return Err(format!("-Z {v}: expected s, d or b")),
                }
            }
            "-M" => {
                let v = value(&mut i, "-M")?;
                match v.as_str() {
                    "man" => a.man = true,
                    "noman" => a.man = false,
                    _ => return Err(format!("-M {v}: supported modes are man and noman")),
                }
            }
            _ if arg.starts_with('-') && arg.len() > 1 && !arg.starts_with("--") => {
                // Bundled single-letter flags: -nn, -uz, -nu ...
                for c in arg[1..].chars() {
                    match c {
                        'n' => a.numeric = (a.numeric + 1) % 4,
                        'u' => a.epoch = true,
                        'z' => a.history = true,
                        'f' => a.follow = true,
                        'X' | 'q' => {}
                        _ => {
                            return Err(format!(
                                "unknown option -{c} in '{arg}' (see ocellus read --help)"
                            ))
                        }
                    }
                }
            }
            _ => {
                return Err(format!(
                    "unexpected argument '{arg}': put a filter after a lone '-' (see ocellus read --help)"
                ))
            }
        }
        i += 1;
    }
    if a.paths.is_empty() && a.servers.is_empty() {
        return Err(
            "no input: give record files or ring directories with -r PATH (or -r - for stdin), or a probe or relay with -S HOST:PORT"
                .into(),
        );
    }
    Ok(a)
}

/// `--since all` (the whole backlog the server holds), `--since DUR`
/// (records that ended at most DUR ago, e.g. 10m), or an absolute time:
/// `@EPOCH` seconds, `2026-11-26T10:00:00` or Argus's `2026/11/26.10:00:00`
/// (local time), for the records of a replay or an older part of a ring.
pub(crate) fn parse_since(v: &str) -> Result<u64, String> {
    if v == "all" {
        return Ok(1);
    }
    if let Some(t) = since_absolute(v) {
        return t.map(|ns| ns.max(1));
    }
    let d = crate::remote::parse_duration(v)
        .map_err(|e| format!("--since {e} (or all, @EPOCH, or YYYY-MM-DDTHH:MM:SS)"))?;
    Ok(crate::remote::now_ns()
        .saturating_sub(d.as_nanos() as u64)
        .max(1))
}

/// An absolute `--since` time in ns, if `v` has the shape of one.
fn since_absolute(v: &str) -> Option<Result<u64, String>> {
    use chrono::{Local, NaiveDateTime, TimeZone};
    let bad = |why: &str| Some(Err(format!("--since {v}: {why}")));
    if let Some(e) = v.strip_prefix('@') {
        return match e.parse::<f64>() {
            Ok(s) if s.is_finite() && (0.0..1e11).contains(&s) => Some(Ok((s * 1e9) as u64)),
            _ => bad("expected @ and seconds since the epoch"),
        };
    }
    if !(v.contains('-') || v.contains('/')) || !v.contains(':') {
        return None;
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y/%m/%d.%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, fmt) {
            return match Local.from_local_datetime(&t).earliest() {
                Some(t) => match t.timestamp_nanos_opt() {
                    Some(ns) if ns > 0 => Some(Ok(ns as u64)),
                    _ => bad("out of range"),
                },
                None => bad("no such local time"),
            };
        }
    }
    bad("expected YYYY-MM-DDTHH:MM:SS[.frac] or YYYY/MM/DD.HH:MM:SS")
}

#[cfg(test)]
mod since_tests {
    use super::parse_since;

    #[test]
    fn since_takes_all_durations_and_absolute_times() {
        assert_eq!(parse_since("all"), Ok(1));
        assert_eq!(parse_since("@1700000000"), Ok(1_700_000_000_000_000_000));
        assert_eq!(parse_since("@1700000000.5"), Ok(1_700_000_000_500_000_000));
        let iso = parse_since("2023-11-14T22:13:20").unwrap();
        let argus = parse_since("2023/11/14.22:13:20").unwrap();
        assert_eq!(iso, argus);
        // Within a day of the epoch instant, whatever the local zone.
        assert!(iso.abs_diff(1_700_000_000_000_000_000) <= 86_400_000_000_000);
        let recent = parse_since("10m").unwrap();
        assert!(recent > 1_700_000_000_000_000_000);
        for bad in [
            "@x",
            "@-5",
            "2023-13-40T99:00:00",
            "yesterday",
            "2023/11/14",
        ] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}

/// Opens input `i`: the paths first, then the servers (`-S`), asking each
/// server for the records matching the filter.
pub(crate) fn open_input(
    a: &ReadArgs,
    i: usize,
) -> Result<Box<dyn ring::RecordSource + Send>, Box<dyn std::error::Error>> {
    match a.paths.get(i) {
        Some(path) => Ok(ring::open_source(path, a.follow)?),
        None => {
            let addr = &a.servers[i - a.paths.len()];
            Ok(Box::new(crate::remote::client::connect(
                addr,
                &a.remote,
                &a.filter.join(" "),
                0,
            )?))
        }
    }
}

pub fn main(args: Vec<String>) -> ExitCode {
    let a = match parse_args(&args) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ocellus read: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let filter = if a.filter.is_empty() {
        None
    } else {
        match Filter::parse_args(&a.filter) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("ocellus read: error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    };
    let time = match a.time_range.as_deref().map(TimeRange::parse).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ocellus read: error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(&a, filter.as_ref(), time.as_ref()) {
        Ok(code) => code,
        Err(e) => {
            if super::is_broken_pipe(e.as_ref()) {
                return ExitCode::SUCCESS;
            }
            eprintln!("ocellus read: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(
    a: &ReadArgs,
    filter: Option<&Filter>,
    time: Option<&TimeRange>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // A filter naming `man` asks for management records even without -M man.
    let want_man = a.man || filter.is_some_and(Filter::mentions_man);
    if let Some(dest) = &a.ipfix {
        return export_ipfix(a, dest, filter, time, want_man);
    }
    let mut printer = crate::print::Printer::new(print_options(a)?);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut printed: u64 = 0;
    let mut rec = FlowRecord::default();
    let (mut keep, late) = crate::clients::selection(filter, time, want_man);
    // Several threads format a file's records when nothing depends on the
    // count of lines printed so far (-N, -L N) and the input ends (no -f).
    let par = Parallel::new(a.threads);
    let (wopts, wnames) = printer.worker_parts();
    let parallel =
        par.threads > 1 && !a.follow && a.max_records.is_none() && printer.options().labels <= 0;
    'paths: for i in 0..a.paths.len() + a.servers.len() {
        if let Some(path) = a.paths.get(i).filter(|_| parallel) {
            let worker = || {
                (
                    crate::print::Printer::with_names(wopts.clone(), wnames.clone()),
                    FlowRecord::default(),
                    crate::clients::selection(filter, time, want_man),
                )
            };
            let done = for_each_chunk(
                path,
                par,
                worker,
                |(p, rec, (keep, late)), chunk, text: &mut Printed| {
                    text.bytes.clear();
                    text.records = 0;
                    chunk.for_each_kept(rec, keep, *late, |rec| {
                        text.records += 1;
                        Ok(p.write_record(rec, &mut text.bytes)?)
                    })
                },
                |text| {
                    if text.records > 0 {
                        printer.count_printed(text.records, &mut out)?;
                        out.write_all(&text.bytes)?;
                    }
                    Ok(true)
                },
            )?;
            if done.is_some() {
                continue;
            }
        }
        let mut src = open_input(a, i)?;
        while src.next_kept_into(&mut rec, &mut keep)? {
            if late.is_some_and(|f| !f.matches(&rec)) {
                continue;
            }
            if a.max_records.is_some_and(|n| printed >= n) {
                break 'paths;
            }
            printer.write_record(&rec, &mut out)?;
            printed += 1;
            // A live source (-S, -f) may never send another record.
            if a.max_records.is_some_and(|n| printed >= n) {
                break 'paths;
            }
            if a.follow {
                out.flush()?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `--ipfix`: sends the selected records to an IPFIX collector.
fn export_ipfix(
    a: &ReadArgs,
    dest: &str,
    filter: Option<&Filter>,
    time: Option<&TimeRange>,
    want_man: bool,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut exporter =
        crate::ipfix::Exporter::connect(dest, crate::ipfix::ExporterConfig::default())?;
    let mut rec = FlowRecord::default();
    let mut selected: u64 = 0;
    let (mut keep, late) = crate::clients::selection(filter, time, want_man);
    'paths: for i in 0..a.paths.len() + a.servers.len() {
        let mut src = open_input(a, i)?;
        while src.next_kept_into(&mut rec, &mut keep)? {
            if late.is_some_and(|f| !f.matches(&rec)) {
                continue;
            }
            if a.max_records.is_some_and(|n| selected >= n) {
                break 'paths;
            }
            exporter.export(&rec)?;
            selected += 1;
            if a.max_records.is_some_and(|n| selected >= n) {
                break 'paths;
            }
            if a.follow {
                exporter.flush()?;
            }
        }
    }
    exporter.flush()?;
    let st = exporter.stats();
    eprintln!(
        "ocellus read: exported {} records in {} IPFIX messages to {dest} ({} skipped: not IP flows)",
        st.records, st.messages, st.skipped
    );
    Ok(ExitCode::SUCCESS)
}

/// Maps `ra`-style options onto the printer's.
pub(crate) fn print_options(
    a: &ReadArgs,
) -> Result<crate::print::PrintOptions, Box<dyn std::error::Error>> {
    let mut o = crate::print::PrintOptions {
        numeric: a.numeric.min(2),
        delimiter: a.delimiter,
        epoch_time: a.epoch,
        state_history: a.history,
        json: a.json,
        ..crate::print::PrintOptions::default()
    };
    if let Some(l) = a.labels {
        o.labels = l;
    }
    if let Some(p) = a.precision {
        o.precision = p;
    }
    if let Some(m) = a.flags_mode {
        o.tcp_flags = Some(crate::print::PrintOptions::parse_flag_sides(
            &m.to_string(),
        )?);
    }
    if !a.fields.is_empty() {
        o.set_fields(&a.fields)?;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn ra_style_field_lists_and_filters() {
        let a = parse_args(&args("-n -r f.ocr -s saddr daddr - tcp and port 80")).unwrap();
        assert_eq!(a.numeric, 1);
        assert_eq!(a.fields, vec!["saddr", "daddr"]);
        assert_eq!(a.filter, args("tcp and port 80"));
        let a = parse_args(&args("-r a b -s -dur +sttl -nn")).unwrap();
        assert_eq!(a.paths.len(), 2);
        assert_eq!(a.fields, vec!["-dur", "+sttl"]);
        assert_eq!(a.numeric, 2);
        let a = parse_args(&args("-r a -s saddr -u")).unwrap();
        assert!(a.epoch);
    }

    #[test]
    fn bad_options_are_one_line_errors() {
        for bad in [
            "-r",
            "-r f -c",
            "-r f -c ab",
            "-r f -p x",
            "-r f -Q",
            "-r f -s sport extra -x",
            "-n",
        ] {
            let e = parse_args(&args(bad)).unwrap_err();
            assert!(!e.is_empty() && !e.contains('\n'), "{bad}: {e}");
        }
    }
}

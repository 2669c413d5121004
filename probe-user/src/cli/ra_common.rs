//! What the client subcommands (`sort count cluster grep anonymize`) share:
//! their own options are taken out of the arguments, and the rest goes to
//! `read`'s `ra`-style parser ([`super::read::parse_args`]), so `-r -n -s -c -L
//! -u -p -N -z -Z -M man --json` and `- FILTER` mean what they mean for `read`.
//! Output goes through the same printer, plus `--csv-afterglow` and `-w FILE`.

use super::read::{parse_args, print_options, ReadArgs};
use super::EXIT_USAGE;
use crate::clients::{self, ClientError, Input, Listed};
use crate::print::Printer;
use crate::record::FlowRecord;
use crate::ring::{self, RecordSink, SinkOptions};
use std::io::Write;
use std::process::ExitCode;

/// How many values a tool option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arity {
    Switch,
    One,
    /// Values up to the next argument that starts with '-'.
    Many,
}

/// A tool's arguments: `read`'s, and the tool's own by option name.
#[derive(Debug, Default)]
pub(crate) struct ToolArgs {
    pub read: ReadArgs,
    own: Vec<(&'static str, Vec<String>)>,
}

impl ToolArgs {
    /// Whether an option was given.
    pub fn has(&self, name: &str) -> bool {
        self.own.iter().any(|(n, _)| *n == name)
    }
    /// All values given to an option (over all its occurrences).
    pub fn values(&self, name: &str) -> Vec<String> {
        self.own
            .iter()
            .filter(|(n, _)| *n == name)
            .flat_map(|(_, v)| v.iter().cloned())
            .collect()
    }
    /// The last value of a one-value option.
    pub fn value(&self, name: &str) -> Option<String> {
        self.values(name).pop()
    }
}

/// The options every client takes besides `read`'s.
const COMMON: &[(&str, Arity)] = &[("-w", Arity::One), ("--csv-afterglow", Arity::Switch)];

/// Splits `args` into the tool's options (`spec`, plus `-w` and
/// `--csv-afterglow`) and `read`'s. `-h`/`--help` gives `Err("")`.
pub(crate) fn parse_tool_args(
    args: &[String],
    spec: &[(&'static str, Arity)],
) -> Result<ToolArgs, String> {
    let mut t = ToolArgs::default();
    let mut rest = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "-" || arg == "--" {
            rest.extend_from_slice(&args[i..]);
            break;
        }
        let Some(&(name, arity)) = spec.iter().chain(COMMON).find(|(n, _)| *n == arg) else {
            rest.push(args[i].clone());
            // `-s`'s first value may itself start with '-' (`-s -dur`).
            if arg == "-s" && i + 1 < args.len() {
                i += 1;
                rest.push(args[i].clone());
            }
            i += 1;
            continue;
        };
        let mut vals = Vec::new();
        match arity {
            Arity::Switch => {}
            Arity::One => {
                i += 1;
                vals.push(
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("option {name} needs a value"))?,
                );
            }
            Arity::Many => {
                while i + 1 < args.len() && !args[i + 1].starts_with('-') {
                    i += 1;
                    vals.push(args[i].clone());
                }
                if vals.is_empty() {
                    return Err(format!("option {name} needs at least one value"));
                }
            }
        }
        t.own.push((name, vals));
        i += 1;
    }
    t.read = parse_args(&rest)?;
    Ok(t)
}

/// The input the read options describe, with the `- FILTER` hook, for the
/// clients that need the whole input (`-f` is refused).
pub(crate) fn input(a: &ReadArgs) -> Result<Input, ClientError> {
    if a.follow {
        return Err(ClientError::Usage(
            "-f (follow) is for read, grep and anonymize; this client needs the whole input".into(),
        ));
    }
    streaming_input(a)
}

/// [`input`] for the clients that handle records one by one (grep,
/// anonymize): `-f` follows files and rings as `read -f` does.
pub(crate) fn streaming_input(a: &ReadArgs) -> Result<Input, ClientError> {
    Ok(Input {
        follow: a.follow,
        threads: a.threads,
        paths: a.paths.clone(),
        man: a.man,
        filter: clients::apply_filter(&a.filter)?,
        remote: clients::RemoteInput {
            servers: a.servers.clone(),
            options: a.remote.clone(),
            filter: a.filter.join(" "),
        },
        time: a
            .time_range
            .as_deref()
            .map(clients::timerange::TimeRange::parse)
            .transpose()?,
    })
}

/// Where a client's records go: the printer (text, CSV, JSON, afterglow) or
/// a record file (`-w`).
pub(crate) enum Out {
    Print {
        printer: Box<Printer>,
        out: std::io::BufWriter<std::io::StdoutLock<'static>>,
        follow: bool,
        /// Threads that format lines ([`Out::in_order`]).
        threads: usize,
    },
    Write(Box<dyn RecordSink + Send>, bool),
}

impl Out {
    pub(crate) fn new(t: &ToolArgs) -> Result<Out, Box<dyn std::error::Error>> {
        if let Some(w) = t.value("-w") {
            return Ok(Out::Write(
                ring::open_sink(&w, &SinkOptions::default())?,
                t.read.follow,
            ));
        }
        let opts = if t.has("--csv-afterglow") {
            clients::output::afterglow_options(&t.read.fields, t.read.numeric)?
        } else {
            print_options(&t.read)?
        };
        Ok(Out::Print {
            printer: Box::new(Printer::new(opts)),
            out: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
            follow: t.read.follow,
            threads: clients::parallel::Parallel::new(t.read.threads).threads,
        })
    }

    pub(crate) fn record(&mut self, rec: &FlowRecord, trans: u64) -> Result<(), ClientError> {
        // Following (-f), each record goes out as it comes.
        match self {
            Out::Print {
                printer,
                out,
                follow,
                ..
            } => {
                printer.write_record_trans(rec, trans, out)?;
                if *follow {
                    out.flush()?;
                }
            }
            Out::Write(sink, follow) => {
                sink.write(rec)?;
                if *follow {
                    sink.flush()?;
                }
            }
        }
        Ok(())
    }

    /// Prints or writes items `0..n` of `list` in order. When printing a
    /// finite output with labels at most once, worker threads format blocks
    /// of lines (fetching the records a few ahead, as an order that jumps
    /// about in memory needs) and this thread writes them in order.
    pub(crate) fn in_order(&mut self, n: usize, list: &impl Listed) -> Result<(), ClientError> {
        const BLOCK: usize = 4096;
        const AHEAD: usize = 6;
        let mut scratch = FlowRecord::default();
        match self {
            Out::Print {
                printer,
                out,
                follow: false,
                threads,
            } if *threads > 1 && n > BLOCK && printer.options().labels <= 0 => {
                let (opts, names) = printer.worker_parts();
                clients::parallel::run_ordered(
                    n.div_ceil(BLOCK),
                    *threads,
                    || {
                        (
                            Printer::with_names(opts.clone(), names.clone()),
                            FlowRecord::default(),
                        )
                    },
                    |(p, scratch), k, text: &mut clients::parallel::Printed| {
                        text.bytes.clear();
                        let end = ((k + 1) * BLOCK).min(n);
                        for i in k * BLOCK..end {
                            if i + AHEAD < end {
                                list.prefetch(i + AHEAD);
                            }
                            let (rec, trans) = list.get(i, scratch)?;
                            p.write_record_trans(rec, trans, &mut text.bytes)?;
                        }
                        text.records = (end - k * BLOCK) as u64;
                        Ok(())
                    },
                    |_, text| {
                        printer.count_printed(text.records, out)?;
                        out.write_all(&text.bytes)?;
                        Ok(true)
                    },
                )?;
            }
            _ => {
                for i in 0..n {
                    if i + AHEAD < n {
                        list.prefetch(i + AHEAD);
                    }
                    let (rec, trans) = list.get(i, &mut scratch)?;
                    self.record(rec, trans)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<(), ClientError> {
        match self {
            Out::Print { mut out, .. } => out.flush()?,
            Out::Write(mut sink, _) => sink.flush()?,
        }
        Ok(())
    }
}

/// The front ends' shared `main`: parse, run, and turn errors into one line
/// on stderr and exit status 2 (a closed pipe is a normal end).
pub(crate) fn run_main(
    tool: &str,
    help: &str,
    args: &[String],
    spec: &[(&'static str, Arity)],
    run: impl FnOnce(&ToolArgs) -> Result<(), Box<dyn std::error::Error>>,
) -> ExitCode {
    let t = match parse_tool_args(args, spec) {
        Ok(t) => t,
        Err(e) if e.is_empty() => {
            print!("{help}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ocellus {tool}: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(&t) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if super::is_broken_pipe(e.as_ref()) {
                return ExitCode::SUCCESS;
            }
            eprintln!("ocellus {tool}: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The help lines every client shares (after its own).
pub(crate) const COMMON_HELP: &str = "\
  -r PATH...       record files, ring directories, or - for standard input
  -S HOST:PORT     records from a probe or relay (--ca --cert --key --token
                   --insecure --since, as for ocellus read)
  -w OUT           write records (file, ring DIR/, or - for stdout) instead of printing
  -t TIMERANGE     only records in this time range (as ocellus read -t)
  -f               follow files and rings for new records (grep and anonymize)
  --threads N      threads that decode and filter a record file (default: one
                   per core, at most 16; 1: a single thread)
  -n -s -c -L -u -p -N -z -Z -M man --json
                   printing options, as for ocellus read
  --csv-afterglow  print source,target[,event] rows for AfterGlow
                   (default saddr daddr dport; -s picks two or three fields)
  - FILTER         a filter expression after a lone -
  -h, --help       this help
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn own_options_come_out_and_the_rest_is_reads() {
        let spec = [("-m", Arity::Many), ("-i", Arity::Switch)];
        let t = parse_tool_args(
            &args("-r f.ocr -m saddr/24 proto -n -s -dur +sttl -i - tcp"),
            &spec,
        )
        .unwrap();
        assert_eq!(t.values("-m"), args("saddr/24 proto"));
        assert!(t.has("-i"));
        assert_eq!(t.read.numeric, 1);
        assert_eq!(t.read.fields, args("-dur +sttl"));
        assert_eq!(t.read.filter, args("tcp"));
        assert!(parse_tool_args(&args("-r f -m"), &spec).is_err());
        assert!(parse_tool_args(&args("-r f -w"), &spec).is_err());
        assert_eq!(parse_tool_args(&args("-h"), &spec).unwrap_err(), "");
    }
}

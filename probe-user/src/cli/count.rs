//! `ocellus count` (Argus's `racount`): record, packet and byte totals.

use super::ra_common::{input, run_main, Arity, COMMON_HELP};
use crate::clients::count::{self, AddrTally, Counter};
use crate::clients::ClientError;
use crate::print::{Column, Field, PrintOptions, Printer};
use std::io::Write;
use std::process::ExitCode;

const HELP: &str = "\
ocellus count: count flow records, packets and bytes, as Argus's racount does

Usage: ocellus count -r PATH... [-M proto] [OPTIONS] [- FILTER]

  -M proto         add a Protocol Summary, one line per protocol
  -M addr          add an Address Summary: source and destination addresses
                   per IANA address class, as racount counts them
                   (-M proto addr gives both)
  -c CHAR          delimited lines instead of racount's columns
  --json           one JSON object per line
";

pub fn main(args: Vec<String>) -> ExitCode {
    let help = format!("{HELP}{COMMON_HELP}");
    run_main("count", &help, &args, &[("-M", Arity::Many)], |t| {
        let (mut by_proto, mut by_addr) = (false, false);
        for m in t.values("-M") {
            match m.as_str() {
                "proto" => by_proto = true,
                "addr" => by_addr = true,
                _ => {
                    return Err(ClientError::Usage(format!(
                        "-M {m}: count's modes are proto and addr"
                    ))
                    .into())
                }
            }
        }
        let mut c = Counter::default();
        let mut addrs = AddrTally::default();
        let mut inp = input(&t.read)?;
        inp.man = true; // the start record counts (see Counter::add)
        inp.for_each(|r| {
            c.add(r);
            if by_addr {
                addrs.add(r);
            }
            Ok(true)
        })?;
        // Protocol names as the printer writes them (-n, -nn).
        let mut names = Printer::new(PrintOptions {
            columns: vec![Column {
                field: Field::Proto,
                width: None,
            }],
            numeric: t.read.numeric.min(2),
            delimiter: Some(','),
            labels: -1,
            ..PrintOptions::default()
        });
        let mut lines = Vec::new();
        let json = t.read.json;
        let delim = t.read.delimiter;
        let line = |label: &str, tot: &count::Totals| match (json, delim) {
            (true, _) => count::json_line(label, tot),
            (false, Some(d)) => count::delimited_line(label, tot, d),
            (false, None) => count::line(label, tot),
        };
        if !json && t.read.labels != Some(-1) {
            lines.push(match delim {
                Some(d) => count::delimited_header(d),
                None => count::header(),
            });
        }
        lines.push(line("sum", &c.total));
        if by_proto {
            if !json && delim.is_none() {
                lines.push("Protocol Summary".to_string());
            }
            for (_, tot, sample) in c.by_proto() {
                let name = names.format_record(sample);
                lines.push(line(name.trim(), &tot));
            }
        }
        if by_addr {
            match (json, delim) {
                (true, _) => lines.extend(addrs.classes().into_iter().map(|(l, s, d)| {
                    serde_json::json!({"address_class": l, "src": s, "dst": d}).to_string()
                })),
                (false, Some(d)) => lines.extend(
                    addrs
                        .classes()
                        .into_iter()
                        .map(|(l, s, n)| format!("addr{d}{l}{d}{s}{d}{n}")),
                ),
                (false, None) => lines.extend(addrs.lines()),
            }
        }
        let mut out = std::io::stdout().lock();
        for l in lines {
            writeln!(out, "{l}")?;
        }
        out.flush()?;
        Ok(())
    })
}

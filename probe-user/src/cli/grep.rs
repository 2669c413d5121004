//! `ocellus grep` (Argus's `ragrep`): records whose captured payload matches.

use super::ra_common::{run_main, streaming_input, Arity, Out, COMMON_HELP};
use crate::clients::grep::{GrepOptions, Matcher};
use std::io::Write;
use std::process::ExitCode;

const HELP: &str = "\
ocellus grep: select flow records by their captured payload, as Argus's ragrep does

Usage: ocellus grep -r PATH... -e REGEX [-e REGEX...] [-i] [-v] [-c] [OPTIONS] [- FILTER]

  -e REGEX         pattern over the payload probe -U kept; s:REGEX searches the
                   source's bytes only, d:REGEX the destination's (bytes, not text)
  -i               ignore case
  -v               select the records that do not match
  -c, --count      print only the number of selected records
                   (-c with a one-character value is the delimiter, as for read)
";

pub fn main(mut args: Vec<String>) -> ExitCode {
    // ragrep's -c counts; ra's -c X sets the delimiter. A -c followed by one
    // character (or \t) is the delimiter, otherwise it counts.
    for i in 0..args.len() {
        if args[i] == "-c" {
            let delim = args
                .get(i + 1)
                .is_some_and(|v| v.chars().count() == 1 && v != "-" || v == "\\t");
            if !delim {
                args[i] = "--count".into();
            }
        }
    }
    let help = format!("{HELP}{COMMON_HELP}");
    run_main(
        "grep",
        &help,
        &args,
        &[
            ("-e", Arity::One),
            ("-i", Arity::Switch),
            ("-v", Arity::Switch),
            ("--count", Arity::Switch),
        ],
        |t| {
            let m = Matcher::new(
                &t.values("-e"),
                GrepOptions {
                    ignore_case: t.has("-i"),
                    invert: t.has("-v"),
                },
            )?;
            let count_only = t.has("--count");
            if count_only && t.read.follow {
                return Err("-c counts the whole input; it cannot be used with -f (follow)".into());
            }
            let mut out = if count_only { None } else { Some(Out::new(t)?) };
            let mut n: u64 = 0;
            let max = t.read.max_records;
            streaming_input(&t.read)?.for_each(|r| {
                if r.kind.is_man() || !m.is_match(r) {
                    return Ok(true);
                }
                if max.is_some_and(|x| n >= x) {
                    return Ok(false);
                }
                n += 1;
                if let Some(o) = out.as_mut() {
                    o.record(r, 1)?;
                }
                Ok(true)
            })?;
            match out {
                Some(o) => o.finish()?,
                None => {
                    let mut so = std::io::stdout().lock();
                    writeln!(so, "{n}")?;
                    so.flush()?;
                }
            }
            Ok(())
        },
    )
}

//! `ocellus report`: a self-contained HTML summary of flow records.

use super::ra_common::{input, run_main, Arity, COMMON_HELP};
use crate::graph::report::ReportBuilder;
use crate::graph::GraphError;
use std::io::Write;
use std::process::ExitCode;

const HELP: &str = "\
ocellus report: one self-contained HTML page about a capture (totals,
timeline, top talkers, protocols, ports, TCP states and round trips, and a
communication graph), with nothing fetched from the network

Usage: ocellus report -r PATH... [-w report.html] [--title T] [- FILTER]

  -w FILE          the page (default: standard output)
  --title T        the page's title
";

pub fn main(args: Vec<String>) -> ExitCode {
    let help = format!("{HELP}{COMMON_HELP}");
    run_main("report", &help, &args, &[("--title", Arity::One)], |t| {
        let sources = t
            .read
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut b = ReportBuilder::new(t.value("--title"), sources)?;
        input(&t.read)?.for_each(|r| {
            b.add(r);
            Ok(true)
        })?;
        let html = b.finish()?;
        match t.value("-w").as_deref() {
            None | Some("-") => {
                let mut out = std::io::stdout().lock();
                out.write_all(html.as_bytes())?;
                out.flush()?;
            }
            Some(path) => std::fs::write(path, html)
                .map_err(|e| GraphError::Usage(format!("-w {path}: {e}")))?,
        }
        Ok(())
    })
}

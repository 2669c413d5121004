//! `ocellus cluster` (Argus's `racluster`): merge records by flow or by keys.

use super::ra_common::{input, run_main, Arity, Out, COMMON_HELP};
use crate::clients::cluster::{cluster_input, ClusterMode};
use crate::clients::ClientError;
use std::process::ExitCode;

const HELP: &str = "\
ocellus cluster: merge flow records, as Argus's racluster does

Usage: ocellus cluster -r PATH... [-m KEY...] [OPTIONS] [- FILTER]

  -m KEY...        group on these fields (default: merge each flow's records).
                   Keys: none saddr[/len] daddr[/len] proto sport dport smac dmac
                   svlan dvlan smpls dmpls stos dtos sttl dttl srcid matrix[/len]
                   (sport and dport imply proto)
  -M correct       default mode: also merge records keyed the other way round
  -M nocorrect     default mode: do not
  Merged records: trans = records merged (print it with -s +trans), stime the
  earliest, ltime the latest, counters summed, TCP state OR-ed; identity fields
  that differ within a group print as 0. Groups print in order of first arrival.
  With -w the records are written without their trans counts.
";

pub fn main(args: Vec<String>) -> ExitCode {
    let help = format!("{HELP}{COMMON_HELP}");
    run_main(
        "cluster",
        &help,
        &args,
        &[("-m", Arity::Many), ("-M", Arity::Many)],
        |t| {
            let mut mode = ClusterMode::parse(&t.values("-m"))?;
            let mut read = t.read.clone();
            for m in t.values("-M") {
                match (m.as_str(), &mut mode) {
                    ("correct", ClusterMode::Flow { correct }) => *correct = true,
                    ("nocorrect", ClusterMode::Flow { correct }) => *correct = false,
                    ("correct" | "nocorrect", ClusterMode::Keys(_)) => {}
                    ("man", _) => read.man = true,
                    ("noman", _) => read.man = false,
                    _ => {
                        return Err(ClientError::Usage(format!(
                            "-M {m}: cluster's modes are correct, nocorrect, man and noman"
                        ))
                        .into())
                    }
                }
            }
            let aggs = cluster_input(&input(&read)?, mode)?;
            let mut out = Out::new(t)?;
            let n = t
                .read
                .max_records
                .map_or(aggs.len(), |m| aggs.len().min(m as usize));
            out.in_order(n, &aggs)?;
            out.finish()?;
            // The process ends next: freeing every group one by one would
            // only cost time.
            std::mem::forget(aggs);
            Ok(())
        },
    )
}

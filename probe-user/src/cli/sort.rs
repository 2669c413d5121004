//! `ocellus sort` (Argus's `rasort`): print or write records sorted by keys.

use super::ra_common::{input, run_main, Arity, Out, COMMON_HELP};
use crate::clients::sort::{sorted_indices, SortKey};
use std::process::ExitCode;

const HELP: &str = "\
ocellus sort: sort flow records, as Argus's rasort does

Usage: ocellus sort -r PATH... [-m KEY...] [OPTIONS] [- FILTER]

  -m KEY...        sort keys, in order (default stime). Counters sort largest first,
                   times, addresses and ports smallest first; the sort is stable.
                   Keys: stime ltime trans dur avgdur mindur maxdur smac dmac
                   saddr[/cidr] daddr[/cidr] proto sport dport stos dtos sttl dttl
                   bytes sbytes dbytes pkts spkts dpkts load sload dload loss sloss
                   dloss ploss rate srate drate seq smpls dmpls svlan dvlan srcid
                   stcpb dtcpb tcprtt smeansz dmeansz
";

pub fn main(args: Vec<String>) -> ExitCode {
    let help = format!("{HELP}{COMMON_HELP}");
    run_main("sort", &help, &args, &[("-m", Arity::Many)], |t| {
        let keys = t.values("-m");
        let keys = if keys.is_empty() {
            vec![SortKey::STime]
        } else {
            SortKey::parse_list(&keys)?
        };
        let recs = input(&t.read)?.read_all()?;
        // Visit the records in sorted order rather than moving them there.
        let order = sorted_indices(&recs, &keys);
        let mut out = Out::new(t)?;
        let n = t
            .read
            .max_records
            .map_or(order.len(), |m| order.len().min(m as usize));
        out.in_order(n, |k| (&recs[order[k]], 1))?;
        out.finish()?;
        // The process ends next: freeing every record one by one would only
        // cost time.
        std::mem::forget(recs);
        Ok(())
    })
}

//! `ocellus sort` (Argus's `rasort`): print or write records sorted by keys.

use super::ra_common::{input, run_main, Arity, Out, COMMON_HELP};
use crate::clients::sort::{integer_keys, sort_encoded, sorted_indices, RecordsSorted, SortKey};
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
        let inp = input(&t.read)?;
        let limit = |n: usize| t.read.max_records.map_or(n, |m| n.min(m as usize));
        // The process ends after printing: freeing the records one by one
        // would only cost time, hence the forgets.
        if integer_keys(&keys) {
            let sorted = sort_encoded(&inp, &keys)?;
            let mut out = Out::new(t)?;
            out.in_order(limit(sorted.len()), &sorted)?;
            out.finish()?;
            std::mem::forget(sorted);
        } else {
            let recs = inp.read_all()?;
            let order = sorted_indices(&recs, &keys);
            let sorted = RecordsSorted { recs, order };
            let mut out = Out::new(t)?;
            out.in_order(limit(sorted.order.len()), &sorted)?;
            out.finish()?;
            std::mem::forget(sorted);
        }
        Ok(())
    })
}

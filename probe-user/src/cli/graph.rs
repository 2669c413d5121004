//! `ocellus graph` (Argus's `ragraph`): metrics over time as a PNG or SVG
//! chart, or with `--links` a communication graph (DOT, SVG, PNG).
//!
//! ragraph's own spelling works too: metrics and an object first
//! (`ragraph bytes proto -M 1s`) and single-dash long options (`-fill
//! -stack -split -title T -width N -height N`).

use super::ra_common::{input, run_main, Arity, ToolArgs, COMMON_HELP};
use crate::graph::chart::{self, ChartOptions};
use crate::graph::links::{self, ColourBy, LinkBuilder, LinkSpec};
use crate::graph::series::{Binner, GraphSpec, MetricSpec, METRIC_NAMES};
use crate::graph::{parse_duration_ns, GraphError};
use std::process::ExitCode;

const HELP: &str = "\
ocellus graph: draw flow records (ragraph), or who talks to whom

Usage: ocellus graph METRIC... [KEY] -M BIN [-m KEY...] [--stack] [--fill] [--split]
                     [--title T] -w OUT.png|OUT.svg -r PATH... [- FILTER]
       ocellus graph --links [-m SRC DST [EVENT]] -w OUT.dot|OUT.svg|OUT.png -r PATH...

  METRIC           bytes pkts appbytes rate load loss rtt flows; s/d prefix
                   for one direction (sbytes dpkts). bytes, appbytes and load
                   are drawn in bits/s, pkts, rate and loss in packets/s,
                   flows as records starting per bin, rtt as the mean TCP
                   round trip of the records starting in a bin. A KEY word
                   after the metrics (ragraph's object, e.g. proto) is -m KEY.
  -M BIN           bin width: 1s, 500ms, 5m, 1h (default: about 200 bins).
                   A record spanning bins is shared among them by time.
  -m KEY...        one series per key value (print field names: proto dport
                   saddr/24 ...); the --top keys by total of the first metric
                   keep their series, the rest are summed as 'other'
  --top N          keys with their own series (default 8; links: nodes, 40)
  --stack, -stack  pile the series (largest key at the bottom, 'other' on
                   top; the legend lists them from the top down). rtt is
                   never stacked.
  --fill, -fill    fill the area under each series
  --split, -split  source side above the axis, destination side below
  --title T, -title T     the picture's title
  --width N, --height N   picture size in pixels (also -width -height)
  --data FILE      also write the binned series as CSV
                   (bin_start,metric,key,raw,value; raw = summed counts)
  -w OUT           .png or .svg (default ragraph.png); with --links also .dot
  --links          a communication graph: nodes sized by bytes, edges as wide
                   as their bytes and labelled with the EVENT key's values
  --color role|net colour nodes by role (default) or by /16 network
";

const SPEC: &[(&str, Arity)] = &[
    ("-M", Arity::One),
    ("-m", Arity::Many),
    ("--top", Arity::One),
    ("--stack", Arity::Switch),
    ("-stack", Arity::Switch),
    ("--fill", Arity::Switch),
    ("-fill", Arity::Switch),
    ("--split", Arity::Switch),
    ("-split", Arity::Switch),
    ("--title", Arity::One),
    ("-title", Arity::One),
    ("--width", Arity::One),
    ("-width", Arity::One),
    ("--height", Arity::One),
    ("-height", Arity::One),
    ("--data", Arity::One),
    ("--links", Arity::Switch),
    ("--color", Arity::One),
    ("--colour", Arity::One),
];

pub fn main(args: Vec<String>) -> ExitCode {
    let help = format!("{HELP}{COMMON_HELP}");
    // ragraph's leading words: metrics, then perhaps an object (a key).
    let lead = args.iter().take_while(|a| !a.starts_with('-')).count();
    let words = args[..lead].to_vec();
    run_main("graph", &help, &args[lead..], SPEC, |t| {
        if t.has("--links") {
            links_main(t, &words)
        } else {
            chart_main(t, &words)
        }
        .map_err(Into::into)
    })
}

fn either(t: &ToolArgs, long: &str, short: &str) -> Option<String> {
    t.value(long).or_else(|| t.value(short))
}

fn number(t: &ToolArgs, long: &str, short: &str, default: u32) -> Result<u32, GraphError> {
    match either(t, long, short) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| GraphError::Usage(format!("{long} {v}: give a whole number"))),
    }
}

fn chart_main(t: &ToolArgs, words: &[String]) -> Result<(), GraphError> {
    let mut metrics = Vec::new();
    let mut keys = Vec::new();
    for w in words {
        match MetricSpec::parse(w) {
            Ok(m) if keys.is_empty() => metrics.push(m),
            _ => keys.push(w.clone()),
        }
    }
    if let (true, Some(first)) = (metrics.is_empty(), words.first()) {
        // The first word is not a metric: say so.
        MetricSpec::parse(first)?;
    }
    if metrics.is_empty() {
        return Err(GraphError::Usage(format!(
            "name a metric to draw first (ocellus graph bytes -M 1s ...): {METRIC_NAMES}"
        )));
    }
    keys.extend(t.values("-m"));
    let bin_ns = t.value("-M").map(|m| parse_duration_ns(&m)).transpose()?;
    let top = match t.value("--top") {
        None => 8,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| GraphError::Usage(format!("--top {v}: give a number from 1 to 100")))?,
    };
    let stack = t.has("--stack") || t.has("-stack");
    let spec = GraphSpec {
        metrics,
        bin_ns,
        keys,
        numeric: t.read.numeric,
        top,
        split: t.has("--split") || t.has("-split"),
    };
    let out = t.value("-w").unwrap_or_else(|| "ragraph.png".into());
    if !matches!(
        crate::graph::Format::of(&out),
        Some(crate::graph::Format::Png | crate::graph::Format::Svg)
    ) {
        return Err(GraphError::Usage(format!(
            "-w {out}: a graph is written as .png or .svg"
        )));
    }
    let opts = ChartOptions {
        title: either(t, "--title", "-title"),
        width: number(t, "--width", "-width", 1000)?,
        height: number(t, "--height", "-height", 0)?,
        stack,
        fill: t.has("--fill") || t.has("-fill"),
    };
    let mut binner = Binner::new(spec)?;
    input(&t.read)?.for_each(|r| {
        binner.add(r);
        Ok(true)
    })?;
    let binned = binner.finish()?;
    if let Some(data) = t.value("--data") {
        std::fs::write(&data, binned.to_csv())
            .map_err(|e| GraphError::Usage(format!("--data {data}: {e}")))?;
    }
    chart::write(&binned, &opts, &out)
}

fn links_main(t: &ToolArgs, words: &[String]) -> Result<(), GraphError> {
    let mut keys: Vec<String> = words.to_vec();
    keys.extend(t.values("-m"));
    if keys.is_empty() {
        keys = vec!["saddr".into(), "daddr".into()];
    }
    let top = match t.value("--top") {
        None => 40,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (2..=500).contains(n))
            .ok_or_else(|| GraphError::Usage(format!("--top {v}: give a number from 2 to 500")))?,
    };
    let colour = match t
        .value("--color")
        .or_else(|| t.value("--colour"))
        .as_deref()
    {
        None | Some("role") => ColourBy::Role,
        Some("net") => ColourBy::Net,
        Some(o) => {
            return Err(GraphError::Usage(format!(
                "--color {o}: nodes are coloured by role or net"
            )))
        }
    };
    let spec = LinkSpec {
        keys,
        numeric: t.read.numeric.max(1),
        top,
        colour,
        title: either(t, "--title", "-title"),
        width: number(t, "--width", "-width", 1000)?,
        height: number(t, "--height", "-height", 800)?,
    };
    let Some(out) = t.value("-w") else {
        return Err(GraphError::Usage(
            "--links needs -w OUT.dot, OUT.svg or OUT.png".into(),
        ));
    };
    let mut b = LinkBuilder::new(spec.clone())?;
    input(&t.read)?.for_each(|r| {
        b.add(r);
        Ok(true)
    })?;
    let g = b.finish()?;
    if let Some(data) = t.value("--data") {
        let mut csv = String::from("source,target,bytes,pkts,records,events\n");
        for e in &g.edges {
            csv.push_str(&format!(
                "{},{},{},{},{},\"{}\"\n",
                g.nodes[e.from].label,
                g.nodes[e.to].label,
                e.bytes,
                e.pkts,
                e.records,
                e.label()
            ));
        }
        std::fs::write(&data, csv).map_err(|e| GraphError::Usage(format!("--data {data}: {e}")))?;
    }
    links::write(&g, &spec, &out)
}

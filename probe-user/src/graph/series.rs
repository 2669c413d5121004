//! Metrics over time bins, as Argus's `rabins -M hard` computes them for
//! `ragraph`: the time line is cut into bins of a fixed width aligned on
//! multiples of the width since the epoch, and a record that spans several
//! bins is shared among them in proportion to the time it spends in each
//! (integer shares whose sum is exactly the record's count). Counts that are
//! not shared: `flows` (a record counts in the bin where it starts) and `rtt`
//! (the mean TCP round trip of the records starting in the bin).
//!
//! With keys (`-m proto`), each key value is a series; the `top` keys with
//! the largest total of the first metric keep their own series, in
//! decreasing order of that total (the stacking order, bottom first), and
//! the rest add up to a last series, `other`.

use super::{human_duration, GraphError};
use crate::clients::{addr_bits, mask_addr, parse_prefix_len, ClientError};
use crate::print::{PrintOptions, Printer};
use crate::record::FlowRecord;
use hashbrown::HashMap;

/// The most bins a graph may have.
pub const MAX_BINS: u64 = 20_000;

/// The label of the series that gathers the keys past the top N.
pub const OTHER: &str = "other";

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Bytes on the wire, drawn as bits/s.
    Bytes,
    /// Packets, drawn as packets/s.
    Pkts,
    /// Application bytes (payload), drawn as bits/s.
    AppBytes,
    /// ragraph's name for packets/s (the same numbers as `pkts`).
    Rate,
    /// ragraph's name for bits/s (the same numbers as `bytes`).
    Load,
    /// TCP retransmitted or lost packets, drawn per second.
    Loss,
    /// Mean TCP round trip (synack + ackdat) of the records starting in a bin.
    Rtt,
    /// Records starting in a bin.
    Flows,
}

/// Which direction a metric counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Both,
    Src,
    Dst,
}

/// A metric and its direction (`bytes`, `sbytes`, `dpkts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricSpec {
    pub metric: Metric,
    pub dir: Dir,
}

/// The metric names (for errors and help).
pub const METRIC_NAMES: &str =
    "bytes pkts appbytes rate load loss rtt flows (s/d prefix for one direction: sbytes dpkts ...)";

impl MetricSpec {
    pub fn parse(s: &str) -> Result<MetricSpec, GraphError> {
        let base = |n: &str| -> Option<Metric> {
            Some(match n {
                "bytes" => Metric::Bytes,
                "pkts" => Metric::Pkts,
                "appbytes" => Metric::AppBytes,
                "rate" => Metric::Rate,
                "load" => Metric::Load,
                "loss" => Metric::Loss,
                "rtt" | "tcprtt" => Metric::Rtt,
                "flows" | "records" | "trans" => Metric::Flows,
                _ => return None,
            })
        };
        if let Some(metric) = base(s) {
            return Ok(MetricSpec {
                metric,
                dir: Dir::Both,
            });
        }
        let (dir, rest) = match s.split_at_checked(1) {
            Some(("s", r)) => (Dir::Src, r),
            Some(("d", r)) => (Dir::Dst, r),
            _ => (Dir::Both, ""),
        };
        match base(rest) {
            Some(m) if dir != Dir::Both && m.has_direction() => Ok(MetricSpec { metric: m, dir }),
            _ => Err(GraphError::Usage(format!(
                "unknown metric '{s}'; the metrics are {METRIC_NAMES}"
            ))),
        }
    }

    /// The name, as given (`sbytes`).
    pub fn name(&self) -> String {
        let base = match self.metric {
            Metric::Bytes => "bytes",
            Metric::Pkts => "pkts",
            Metric::AppBytes => "appbytes",
            Metric::Rate => "rate",
            Metric::Load => "load",
            Metric::Loss => "loss",
            Metric::Rtt => "rtt",
            Metric::Flows => "flows",
        };
        match self.dir {
            Dir::Both => base.to_string(),
            Dir::Src => format!("s{base}"),
            Dir::Dst => format!("d{base}"),
        }
    }

    /// The raw count of one record.
    fn raw(&self, r: &FlowRecord) -> u64 {
        let pick = |s: u64, d: u64| match self.dir {
            Dir::Both => s.saturating_add(d),
            Dir::Src => s,
            Dir::Dst => d,
        };
        match self.metric {
            Metric::Bytes | Metric::Load => pick(r.src.bytes, r.dst.bytes),
            Metric::Pkts | Metric::Rate => pick(r.src.pkts, r.dst.pkts),
            Metric::AppBytes => pick(r.src.appbytes, r.dst.appbytes),
            Metric::Loss => r.tcp.as_ref().map_or(0, |t| {
                pick(u64::from(t.src_retrans), u64::from(t.dst_retrans))
            }),
            Metric::Rtt => r.tcp.as_ref().map_or(0, |t| {
                u64::from(t.synack_us).saturating_add(u64::from(t.ackdat_us))
            }),
            Metric::Flows => 1,
        }
    }

    /// The unit of the drawn value.
    pub fn unit(&self) -> &'static str {
        match self.metric {
            Metric::Bytes | Metric::Load | Metric::AppBytes => "bit/s",
            Metric::Pkts | Metric::Rate | Metric::Loss => "pkt/s",
            Metric::Rtt => "s",
            Metric::Flows => "flows",
        }
    }

    /// Whether the value adds up across keys (and so can be stacked).
    pub fn additive(&self) -> bool {
        self.metric != Metric::Rtt
    }

    /// Whether a record's count is shared among the bins it spans.
    fn spread(&self) -> bool {
        !matches!(self.metric, Metric::Rtt | Metric::Flows)
    }
}

impl Metric {
    fn has_direction(self) -> bool {
        !matches!(self, Metric::Rtt | Metric::Flows)
    }
}

/// What to bin.
#[derive(Clone, Debug)]
pub struct GraphSpec {
    pub metrics: Vec<MetricSpec>,
    /// The bin width; `None` picks one that gives at most about 200 bins.
    pub bin_ns: Option<u64>,
    /// `-m` keys: print field names, `saddr/24`-style prefixes allowed.
    pub keys: Vec<String>,
    /// `-n` level for key labels (0: names for protocols and ports).
    pub numeric: u8,
    /// How many keys keep their own series.
    pub top: usize,
    /// `--split`: each two-way metric as its source side (up) and its
    /// destination side (down).
    pub split: bool,
}

impl Default for GraphSpec {
    fn default() -> Self {
        GraphSpec {
            metrics: vec![MetricSpec {
                metric: Metric::Bytes,
                dir: Dir::Both,
            }],
            bin_ns: None,
            keys: Vec::new(),
            numeric: 0,
            top: 8,
            split: false,
        }
    }
}

/// One series: a key value's counts per bin.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    /// Drawn below the axis (`--split`'s destination side).
    pub below: bool,
    /// The metric counted (direction included).
    pub metric: MetricSpec,
    /// The summed raw counts per bin (bytes, packets, records; for `rtt`
    /// the summed microseconds).
    pub raw: Vec<u64>,
    /// For `rtt`: the records averaged per bin.
    pub samples: Vec<u64>,
}

impl Series {
    /// The value drawn for bin `i`: a rate per second, a count, or the mean
    /// round trip in seconds; `None` where there is nothing to average.
    pub fn value(&self, i: usize, bin_ns: u64) -> Option<f64> {
        let raw = *self.raw.get(i)? as f64;
        let bin_s = bin_ns as f64 / 1e9;
        let v = match self.metric.metric {
            Metric::Bytes | Metric::Load | Metric::AppBytes => raw * 8.0 / bin_s,
            Metric::Pkts | Metric::Rate | Metric::Loss => raw / bin_s,
            Metric::Flows => raw,
            Metric::Rtt => {
                let n = *self.samples.get(i)?;
                if n == 0 {
                    return None;
                }
                raw / n as f64 / 1e6
            }
        };
        v.is_finite().then_some(v)
    }

    /// The total raw count.
    pub fn total(&self) -> u64 {
        self.raw.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }
}

/// One panel of a chart: one metric, its series in stacking order.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub metric: MetricSpec,
    pub series: Vec<Series>,
}

/// The binned series of a graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Binned {
    /// The start of the first bin (ns since the epoch).
    pub start_ns: u64,
    pub bin_ns: u64,
    pub nbins: usize,
    pub panels: Vec<Panel>,
    /// Records binned.
    pub records: u64,
    /// Distinct key values seen (1 without keys).
    pub keys_seen: usize,
    /// The key names (`-m`), for titles.
    pub key_names: Vec<String>,
}

impl Binned {
    /// The start of bin `i` in ns since the epoch.
    pub fn bin_start_ns(&self, i: usize) -> u64 {
        self.start_ns + self.bin_ns * i as u64
    }

    /// The series as CSV: `bin_start,metric,key,raw,value` per bin and
    /// series (bin_start in epoch seconds; value as drawn, empty where none).
    pub fn to_csv(&self) -> String {
        let mut s = String::from("bin_start,metric,key,raw,value\n");
        for p in &self.panels {
            for ser in &p.series {
                for i in 0..self.nbins {
                    let t = self.bin_start_ns(i);
                    let v = ser
                        .value(i, self.bin_ns)
                        .map_or(String::new(), |v| format!("{v}"));
                    let label = if ser.label.contains([',', '"']) {
                        format!("\"{}\"", ser.label.replace('"', "\"\""))
                    } else {
                        ser.label.clone()
                    };
                    s.push_str(&format!(
                        "{}.{:09},{},{},{},{}\n",
                        t / 1_000_000_000,
                        t % 1_000_000_000,
                        ser.metric.name(),
                        label,
                        ser.raw[i],
                        v
                    ));
                }
            }
        }
        s
    }
}

/// Makes key labels from records: the `-m` fields as the printer writes
/// them, with address prefixes applied.
pub struct KeyMaker {
    printer: Printer,
    /// `(is source address, prefix length)` for `saddr/len`, `daddr/len`.
    masks: Vec<(bool, u8)>,
    scratch: FlowRecord,
}

impl KeyMaker {
    pub fn new(keys: &[String], numeric: u8) -> Result<KeyMaker, GraphError> {
        let mut names = Vec::with_capacity(keys.len());
        let mut masks = Vec::new();
        for k in keys {
            match k.split_once('/') {
                Some((name @ ("saddr" | "daddr"), len)) => {
                    masks.push((name == "saddr", parse_prefix_len("graph", k, len)?));
                    names.push(name.to_string());
                }
                Some(_) => {
                    return Err(ClientError::BadKey {
                        tool: "graph",
                        key: k.clone(),
                        why: "only saddr and daddr take a /prefix length".into(),
                    }
                    .into())
                }
                None => names.push(k.clone()),
            }
        }
        let mut opts = PrintOptions {
            numeric,
            delimiter: Some(','),
            labels: -1,
            ..PrintOptions::default()
        };
        opts.set_fields(&names)
            .map_err(|e| GraphError::Usage(format!("-m: {e}")))?;
        Ok(KeyMaker {
            printer: Printer::new(opts),
            masks,
            scratch: FlowRecord::default(),
        })
    }

    /// The fields of a record as the printer writes them, with address
    /// prefixes applied, comma-separated.
    fn line(&mut self, r: &FlowRecord) -> String {
        if self.masks.is_empty() {
            return self.printer.format_record(r);
        }
        self.scratch.clone_from(r);
        let bits = addr_bits(r.key.class());
        for &(src, len) in &self.masks {
            let len = len.min(bits);
            let a = if src {
                &mut self.scratch.key.src
            } else {
                &mut self.scratch.key.dst
            };
            *a = mask_addr(a, len);
        }
        self.printer.format_record(&self.scratch)
    }

    /// The label of a record (the fields joined by spaces, at most 48
    /// characters).
    pub fn label(&mut self, r: &FlowRecord) -> String {
        let line = self.line(r);
        let mut label = line
            .split(',')
            .map(|f| if f.trim().is_empty() { "-" } else { f.trim() })
            .collect::<Vec<_>>()
            .join(" ");
        if label.chars().count() > 48 {
            label = label.chars().take(47).collect::<String>() + "…";
        }
        label
    }

    /// The key's fields, one string each.
    pub fn fields(&mut self, r: &FlowRecord) -> Vec<String> {
        self.line(r)
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    }
}

/// A record kept for binning: its key and time span; its counts are in
/// [`Binner::vals`].
#[derive(Clone, Copy, Debug)]
struct Sample {
    key: u32,
    stime_ns: u64,
    ltime_ns: u64,
}

/// One drawn column: a metric (direction resolved) in a panel.
#[derive(Clone, Copy, Debug)]
struct Column {
    panel: usize,
    metric: MetricSpec,
    below: bool,
}

/// Collects records, then bins them ([`Binner::finish`]).
pub struct Binner {
    spec: GraphSpec,
    columns: Vec<Column>,
    keys: Option<KeyMaker>,
    key_ids: HashMap<String, u32>,
    key_labels: Vec<String>,
    /// Per key: the total of the first column (its count for `rtt`).
    key_totals: Vec<u64>,
    samples: Vec<Sample>,
    /// `columns.len()` counts per sample.
    vals: Vec<u64>,
    min_ns: u64,
    max_ns: u64,
}

impl Binner {
    pub fn new(spec: GraphSpec) -> Result<Binner, GraphError> {
        if spec.metrics.is_empty() {
            return Err(GraphError::Usage(format!(
                "name a metric to draw: {METRIC_NAMES}"
            )));
        }
        let mut columns = Vec::new();
        for (panel, &m) in spec.metrics.iter().enumerate() {
            if spec.split && m.dir == Dir::Both && m.metric.has_direction() {
                for (dir, below) in [(Dir::Src, false), (Dir::Dst, true)] {
                    columns.push(Column {
                        panel,
                        metric: MetricSpec { dir, ..m },
                        below,
                    });
                }
            } else {
                columns.push(Column {
                    panel,
                    metric: m,
                    below: false,
                });
            }
        }
        let keys = if spec.keys.is_empty() {
            None
        } else {
            Some(KeyMaker::new(&spec.keys, spec.numeric)?)
        };
        Ok(Binner {
            spec,
            columns,
            keys,
            key_ids: HashMap::new(),
            key_labels: Vec::new(),
            key_totals: Vec::new(),
            samples: Vec::new(),
            vals: Vec::new(),
            min_ns: u64::MAX,
            max_ns: 0,
        })
    }

    /// Adds a record (management records are skipped).
    pub fn add(&mut self, r: &FlowRecord) {
        if r.kind.is_man() {
            return;
        }
        let key = match &mut self.keys {
            None => 0,
            Some(k) => {
                let label = k.label(r);
                match self.key_ids.get(&label) {
                    Some(&id) => id,
                    None => {
                        let id = self.key_labels.len() as u32;
                        self.key_ids.insert(label.clone(), id);
                        self.key_labels.push(label);
                        self.key_totals.push(0);
                        id
                    }
                }
            }
        };
        if self.key_totals.is_empty() {
            self.key_totals.push(0);
        }
        let stime_ns = r.stime_ns;
        let ltime_ns = r.ltime_ns.max(stime_ns);
        self.min_ns = self.min_ns.min(stime_ns);
        self.max_ns = self.max_ns.max(ltime_ns);
        for (i, c) in self.columns.iter().enumerate() {
            let v = c.metric.raw(r);
            if i == 0 {
                let add = if c.metric.metric == Metric::Rtt {
                    u64::from(v > 0)
                } else {
                    v
                };
                let t = &mut self.key_totals[key as usize];
                *t = t.saturating_add(add);
            }
            self.vals.push(v);
        }
        self.samples.push(Sample {
            key,
            stime_ns,
            ltime_ns,
        });
    }

    /// The records added so far.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Bins the records.
    pub fn finish(self) -> Result<Binned, GraphError> {
        if self.samples.is_empty() {
            return Err(GraphError::NoRecords);
        }
        let span_ns = self.max_ns - self.min_ns;
        let bin_ns = match self.spec.bin_ns {
            Some(b) => b.max(1),
            None => auto_bin_ns(span_ns),
        };
        let start_ns = self.min_ns / bin_ns * bin_ns;
        let nbins = (self.max_ns - start_ns) / bin_ns + 1;
        if nbins > MAX_BINS {
            return Err(GraphError::TooManyBins {
                nbins,
                bin: human_duration(bin_ns),
                span: human_duration(span_ns),
                max: MAX_BINS,
            });
        }
        let nbins = nbins as usize;

        // Keys in decreasing order of their total (ties by label), the top
        // N each a series, the rest "other".
        let nkeys = self.key_totals.len();
        let mut order: Vec<u32> = (0..nkeys as u32).collect();
        order.sort_by(|&a, &b| {
            self.key_totals[b as usize]
                .cmp(&self.key_totals[a as usize])
                .then_with(|| self.label_of(a).cmp(self.label_of(b)))
        });
        let top = self.spec.top.max(1);
        let has_other = nkeys > top;
        let nslots = nkeys.min(top) + usize::from(has_other);
        let mut slot_of = vec![0u32; nkeys];
        for (rank, &k) in order.iter().enumerate() {
            slot_of[k as usize] = rank.min(top) as u32;
        }
        let mut labels: Vec<String> = order
            .iter()
            .take(top)
            .map(|&k| self.label_of(k).to_string())
            .collect();
        if has_other {
            labels.push(OTHER.to_string());
        }

        let mut panels: Vec<Panel> = self
            .spec
            .metrics
            .iter()
            .map(|&metric| Panel {
                metric,
                series: Vec::new(),
            })
            .collect();
        // Series index per (column, slot).
        let mut index = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let mut ids = Vec::with_capacity(nslots);
            for label in &labels {
                let p = &mut panels[c.panel];
                ids.push(p.series.len());
                let label = match (c.below, self.spec.split, c.metric.dir) {
                    (_, true, Dir::Src) => format!("{label} (src)"),
                    (_, true, Dir::Dst) => format!("{label} (dst)"),
                    _ => label.clone(),
                };
                p.series.push(Series {
                    label,
                    below: c.below,
                    metric: c.metric,
                    raw: vec![0; nbins],
                    samples: vec![0; nbins],
                });
            }
            index.push(ids);
        }

        let ncol = self.columns.len();
        for (si, s) in self.samples.iter().enumerate() {
            let slot = slot_of[s.key as usize] as usize;
            let first = ((s.stime_ns - start_ns) / bin_ns) as usize;
            let last = ((s.ltime_ns - start_ns) / bin_ns) as usize;
            for (ci, c) in self.columns.iter().enumerate() {
                let v = self.vals[si * ncol + ci];
                let ser = &mut panels[c.panel].series[index[ci][slot]];
                if !c.metric.spread() || first == last || v == 0 {
                    if c.metric.metric == Metric::Rtt {
                        if v > 0 {
                            ser.raw[first] = ser.raw[first].saturating_add(v);
                            ser.samples[first] += 1;
                        }
                    } else {
                        ser.raw[first] = ser.raw[first].saturating_add(v);
                    }
                    continue;
                }
                // Shares proportional to the time in each bin; the
                // cumulative floors telescope, so they add up to v exactly.
                let dur = u128::from(s.ltime_ns - s.stime_ns);
                let cum = |t: u64| -> u64 {
                    let t = t.clamp(s.stime_ns, s.ltime_ns);
                    (u128::from(v) * u128::from(t - s.stime_ns) / dur) as u64
                };
                for b in first..=last {
                    let b0 = start_ns + b as u64 * bin_ns;
                    let lo = cum(b0);
                    let hi = if b == last {
                        v
                    } else {
                        cum(b0.saturating_add(bin_ns))
                    };
                    ser.raw[b] = ser.raw[b].saturating_add(hi - lo);
                }
            }
        }
        Ok(Binned {
            start_ns,
            bin_ns,
            nbins,
            panels,
            records: self.samples.len() as u64,
            keys_seen: nkeys,
            key_names: self.spec.keys.clone(),
        })
    }

    fn label_of(&self, k: u32) -> &str {
        self.key_labels
            .get(k as usize)
            .map_or("all", String::as_str)
    }
}

/// A bin width that gives at most about 200 bins over `span_ns`.
pub fn auto_bin_ns(span_ns: u64) -> u64 {
    const S: u64 = 1_000_000_000;
    const STEPS: &[u64] = &[
        1_000_000,
        10_000_000,
        100_000_000,
        S,
        5 * S,
        10 * S,
        30 * S,
        60 * S,
        300 * S,
        600 * S,
        1800 * S,
        3600 * S,
        6 * 3600 * S,
        86400 * S,
        7 * 86400 * S,
        30 * 86400 * S,
        365 * 86400 * S,
    ];
    STEPS
        .iter()
        .copied()
        .find(|&b| span_ns / b < 200)
        .unwrap_or(365 * 86400 * S)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{DirStats, KeyClass, TcpPerf};

    const S: u64 = 1_000_000_000;

    fn rec(proto: u8, stime_s: f64, dur_s: f64, sbytes: u64, dbytes: u64) -> FlowRecord {
        let mut r = FlowRecord {
            stime_ns: (stime_s * 1e9) as u64,
            ltime_ns: ((stime_s + dur_s) * 1e9) as u64,
            src: DirStats {
                pkts: 1,
                bytes: sbytes,
                ..DirStats::default()
            },
            dst: DirStats {
                pkts: 1,
                bytes: dbytes,
                ..DirStats::default()
            },
            ..FlowRecord::default()
        };
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.proto = proto;
        r
    }

    fn spec(metrics: &[&str], bin_s: u64, keys: &[&str]) -> GraphSpec {
        GraphSpec {
            metrics: metrics
                .iter()
                .map(|m| MetricSpec::parse(m).unwrap())
                .collect(),
            bin_ns: Some(bin_s * S),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            numeric: 2,
            ..GraphSpec::default()
        }
    }

    #[test]
    fn metric_names_parse_with_directions() {
        let m = MetricSpec::parse("sbytes").unwrap();
        assert_eq!((m.metric, m.dir), (Metric::Bytes, Dir::Src));
        assert_eq!(MetricSpec::parse("dpkts").unwrap().dir, Dir::Dst);
        assert_eq!(MetricSpec::parse("rtt").unwrap().metric, Metric::Rtt);
        for bad in ["srtt", "sflows", "bogus", "", "s", "d"] {
            let e = MetricSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains("unknown metric"), "{bad}: {e}");
        }
        assert_eq!(MetricSpec::parse("dappbytes").unwrap().name(), "dappbytes");
    }

    #[test]
    fn a_record_spanning_bins_is_shared_in_proportion_and_adds_up() {
        let mut b = Binner::new(spec(&["bytes"], 1, &[])).unwrap();
        // 1000 + 1000 bytes over 10.5 s .. 13.5 s: 1/6, 1/3, 1/3, 1/6.
        b.add(&rec(6, 10.5, 3.0, 1000, 1000));
        let g = b.finish().unwrap();
        assert_eq!(g.start_ns, 10 * S);
        assert_eq!(g.nbins, 4);
        let s = &g.panels[0].series[0];
        assert_eq!(s.raw, vec![333, 667, 666, 334]);
        assert_eq!(s.total(), 2000);
        assert_eq!(s.value(0, g.bin_ns), Some(333.0 * 8.0));
    }

    #[test]
    fn odd_counts_still_add_up_exactly() {
        let mut b = Binner::new(spec(&["pkts", "bytes"], 1, &[])).unwrap();
        for i in 0..50u64 {
            let mut r = rec(
                17,
                100.0 + i as f64 * 0.37,
                (i % 7) as f64 * 1.3,
                7 * i + 1,
                i,
            );
            r.src.pkts = i + 3;
            b.add(&r);
        }
        let g = b.finish().unwrap();
        let pkts: u64 = (0..50u64).map(|i| i + 4).sum();
        let bytes: u64 = (0..50u64).map(|i| 8 * i + 1).sum();
        assert_eq!(g.panels[0].series[0].total(), pkts);
        assert_eq!(g.panels[1].series[0].total(), bytes);
    }

    #[test]
    fn keys_are_ordered_by_total_with_the_rest_as_other() {
        let mut sp = spec(&["bytes"], 10, &["proto"]);
        sp.top = 2;
        let mut b = Binner::new(sp).unwrap();
        b.add(&rec(6, 1.0, 0.0, 100, 0));
        b.add(&rec(17, 2.0, 0.0, 300, 0));
        b.add(&rec(1, 3.0, 0.0, 50, 0));
        b.add(&rec(47, 4.0, 0.0, 20, 0));
        b.add(&rec(6, 5.0, 0.0, 150, 0));
        let g = b.finish().unwrap();
        let labels: Vec<_> = g.panels[0]
            .series
            .iter()
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(labels, ["17", "6", OTHER]);
        let totals: Vec<_> = g.panels[0].series.iter().map(Series::total).collect();
        assert_eq!(totals, [300, 250, 70]);
        assert_eq!(g.keys_seen, 4);
    }

    #[test]
    fn split_puts_the_destination_side_below() {
        let mut sp = spec(&["bytes"], 1, &[]);
        sp.split = true;
        let mut b = Binner::new(sp).unwrap();
        b.add(&rec(6, 1.0, 0.0, 100, 40));
        let g = b.finish().unwrap();
        let s = &g.panels[0].series;
        assert_eq!(s.len(), 2);
        assert!(!s[0].below && s[1].below);
        assert_eq!((s[0].total(), s[1].total()), (100, 40));
    }

    #[test]
    fn rtt_averages_and_leaves_gaps() {
        let mut b = Binner::new(spec(&["rtt"], 1, &[])).unwrap();
        let mut r = rec(6, 1.0, 0.0, 1, 1);
        r.tcp = Some(TcpPerf {
            synack_us: 1000,
            ackdat_us: 1000,
            ..TcpPerf::default()
        });
        b.add(&r);
        r.tcp = Some(TcpPerf {
            synack_us: 3000,
            ackdat_us: 1000,
            ..TcpPerf::default()
        });
        b.add(&r);
        b.add(&rec(17, 3.2, 0.0, 1, 1));
        let g = b.finish().unwrap();
        let s = &g.panels[0].series[0];
        assert_eq!(s.value(0, g.bin_ns), Some(0.003));
        assert_eq!(s.value(2, g.bin_ns), None, "no TCP: a gap, not NaN");
    }

    #[test]
    fn bad_shapes_give_errors_not_panics() {
        let b = Binner::new(spec(&["bytes"], 1, &[])).unwrap();
        assert!(matches!(b.finish(), Err(GraphError::NoRecords)));
        let mut b = Binner::new(GraphSpec {
            bin_ns: Some(1000),
            ..GraphSpec::default()
        })
        .unwrap();
        b.add(&rec(6, 0.0, 0.0, 1, 1));
        b.add(&rec(6, 1_000_000.0, 0.0, 1, 1));
        let e = b.finish().unwrap_err().to_string();
        assert!(e.contains("too many"), "{e}");
        // A record whose end is before its start counts at its start.
        let mut b = Binner::new(spec(&["bytes"], 1, &[])).unwrap();
        let mut r = rec(6, 5.0, 0.0, 10, 0);
        r.ltime_ns = 0;
        b.add(&r);
        let g = b.finish().unwrap();
        assert_eq!((g.nbins, g.panels[0].series[0].total()), (1, 10));
        assert!(Binner::new(spec(&["bytes"], 1, &["bogus"])).is_err());
        assert!(Binner::new(spec(&["bytes"], 1, &["proto/8"])).is_err());
    }

    #[test]
    fn a_bin_larger_than_the_capture_is_one_bin() {
        let mut b = Binner::new(spec(&["bytes"], 3600, &[])).unwrap();
        b.add(&rec(6, 7200.5, 2.0, 10, 0));
        b.add(&rec(6, 7201.0, 1.0, 5, 0));
        let g = b.finish().unwrap();
        assert_eq!(g.nbins, 1);
        assert_eq!(g.panels[0].series[0].raw, vec![15]);
        let csv = g.to_csv();
        assert_eq!(
            csv.lines().nth(1),
            Some("7200.000000000,bytes,all,15,0.03333333333333333")
        );
    }

    #[test]
    fn address_prefixes_group_keys() {
        let mut b = Binner::new(spec(&["bytes"], 10, &["saddr/24"])).unwrap();
        for last in [1u8, 2, 3] {
            let mut r = rec(6, 1.0, 0.0, 10, 0);
            r.key.src[..4].copy_from_slice(&[10, 1, 2, last]);
            b.add(&r);
        }
        let g = b.finish().unwrap();
        assert_eq!(g.panels[0].series.len(), 1);
        assert_eq!(g.panels[0].series[0].label, "10.1.2.0");
        assert_eq!(g.panels[0].series[0].total(), 30);
    }
    #[test]
    fn many_distinct_keys_make_top_n_and_other() {
        let mut sp = spec(&["bytes"], 1, &["saddr"]);
        sp.top = 5;
        let mut b = Binner::new(sp).unwrap();
        let mut r = rec(6, 1.0, 0.5, 1, 0);
        // (A million, through the binary, in tests/tests/graph.rs.)
        for i in 0u32..100_000 {
            r.key.src[..4].copy_from_slice(&(0x0a00_0000 + i).to_be_bytes());
            r.src.bytes = if i < 5 { 1000 + u64::from(i) } else { 1 };
            b.add(&r);
        }
        let g = b.finish().unwrap();
        assert_eq!(g.keys_seen, 100_000);
        let s = &g.panels[0].series;
        let labels: Vec<&str> = s.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["10.0.0.4", "10.0.0.3", "10.0.0.2", "10.0.0.1", "10.0.0.0", OTHER]
        );
        assert_eq!(s[5].total(), 99_995);
    }
}

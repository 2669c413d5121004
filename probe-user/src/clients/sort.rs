//! `rasort`: sort records by keys, as Argus 3.0.8.2's `rasort -m` does.
//!
//! Directions were measured on the real `rasort`: times, durations, addresses,
//! ports, TTLs, MPLS/VLAN labels, sequence numbers and the probe id sort
//! ascending; counters (bytes, packets, loss, rates, loads, mean sizes, `trans`),
//! TOS values, protocol numbers and TCP base sequence numbers sort descending.
//! The sort is stable: records with equal keys keep their input order.
//!
//! Addresses sort by kind first (IPv4, IPv6, MAC-keyed frames, ARP), then as
//! big-endian numbers. (rasort orders IPv6 addresses by 32-bit words in host
//! order; ocellus uses plain numeric order.) Non-IP records have protocol 0.
//! `avgdur`, `smeansz` and `dmeansz` are in rasort's documentation but refused
//! by its 3.0.8.2 build; ocellus implements them.

use super::parallel::{self, Parallel};
use super::{mask_addr, parse_prefix_len, Aggregate, ClientError, Input};
use crate::record::{FlowRecord, KeyClass};
use std::cmp::Ordering;

/// A `rasort -m` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    STime,
    LTime,
    Trans,
    Dur,
    AvgDur,
    MinDur,
    MaxDur,
    SMac,
    DMac,
    /// With a prefix length (`saddr/24`); 128 = whole address.
    SAddr(u8),
    DAddr(u8),
    Proto,
    SPort,
    DPort,
    STos,
    DTos,
    STtl,
    DTtl,
    Bytes,
    SBytes,
    DBytes,
    Pkts,
    SPkts,
    DPkts,
    Load,
    SLoad,
    DLoad,
    Loss,
    SLoss,
    DLoss,
    PLoss,
    Rate,
    SRate,
    DRate,
    Seq,
    SMpls,
    DMpls,
    SVlan,
    DVlan,
    SrcId,
    STcpb,
    DTcpb,
    TcpRtt,
    SMeanSz,
    DMeanSz,
}

/// The key names, in rasort's documentation order.
pub const SORT_KEY_NAMES: &[&str] = &[
    "stime",
    "ltime",
    "trans",
    "dur",
    "avgdur",
    "mindur",
    "maxdur",
    "smac",
    "dmac",
    "saddr[/cidr]",
    "daddr[/cidr]",
    "proto",
    "sport",
    "dport",
    "stos",
    "dtos",
    "sttl",
    "dttl",
    "bytes",
    "sbytes",
    "dbytes",
    "pkts",
    "spkts",
    "dpkts",
    "load",
    "sload",
    "dload",
    "loss",
    "sloss",
    "dloss",
    "ploss",
    "rate",
    "srate",
    "drate",
    "seq",
    "smpls",
    "dmpls",
    "svlan",
    "dvlan",
    "srcid",
    "stcpb",
    "dtcpb",
    "tcprtt",
    "smeansz",
    "dmeansz",
];

fn valid_keys() -> String {
    SORT_KEY_NAMES.join(" ")
}

impl SortKey {
    /// Parses one `-m` key.
    pub fn parse(s: &str) -> Result<SortKey, ClientError> {
        let (name, len) = match s.split_once('/') {
            Some((n, l)) => (n, Some(l)),
            None => (s, None),
        };
        let prefix = |len: Option<&str>| -> Result<u8, ClientError> {
            len.map_or(Ok(128), |l| parse_prefix_len("sort", s, l))
        };
        use SortKey::*;
        let k = match name {
            "saddr" => return Ok(SAddr(prefix(len)?)),
            "daddr" => return Ok(DAddr(prefix(len)?)),
            "stime" => STime,
            "ltime" => LTime,
            "trans" => Trans,
            "dur" => Dur,
            "avgdur" => AvgDur,
            "mindur" => MinDur,
            "maxdur" => MaxDur,
            "smac" => SMac,
            "dmac" => DMac,
            "proto" => Proto,
            "sport" => SPort,
            "dport" => DPort,
            "stos" => STos,
            "dtos" => DTos,
            "sttl" => STtl,
            "dttl" => DTtl,
            "bytes" => Bytes,
            "sbytes" => SBytes,
            "dbytes" => DBytes,
            "pkts" => Pkts,
            "spkts" => SPkts,
            "dpkts" => DPkts,
            "load" => Load,
            "sload" => SLoad,
            "dload" => DLoad,
            "loss" => Loss,
            "sloss" => SLoss,
            "dloss" => DLoss,
            "ploss" => PLoss,
            "rate" => Rate,
            "srate" => SRate,
            "drate" => DRate,
            "seq" => Seq,
            "smpls" => SMpls,
            "dmpls" => DMpls,
            "svlan" => SVlan,
            "dvlan" => DVlan,
            "srcid" => SrcId,
            "stcpb" => STcpb,
            "dtcpb" => DTcpb,
            "tcprtt" => TcpRtt,
            "smeansz" => SMeanSz,
            "dmeansz" => DMeanSz,
            _ => {
                return Err(ClientError::UnknownKey {
                    tool: "sort",
                    key: s.to_string(),
                    valid: valid_keys(),
                })
            }
        };
        if len.is_some() {
            return Err(ClientError::BadKey {
                tool: "sort",
                key: s.to_string(),
                why: "only saddr and daddr take a /prefix length".into(),
            });
        }
        Ok(k)
    }

    /// Parses a list of keys (each argument may hold several, space separated).
    pub fn parse_list<S: AsRef<str>>(args: &[S]) -> Result<Vec<SortKey>, ClientError> {
        args.iter()
            .flat_map(|a| a.as_ref().split_whitespace())
            .map(SortKey::parse)
            .collect()
    }

    /// Whether larger values come first.
    pub fn descending(self) -> bool {
        use SortKey::*;
        matches!(
            self,
            Trans
                | Proto
                | STos
                | DTos
                | Bytes
                | SBytes
                | DBytes
                | Pkts
                | SPkts
                | DPkts
                | Load
                | SLoad
                | DLoad
                | Loss
                | SLoss
                | DLoss
                | PLoss
                | Rate
                | SRate
                | DRate
                | STcpb
                | DTcpb
                | SMeanSz
                | DMeanSz
        )
    }
}

/// The selected records of an input in sorted order, kept as they were
/// encoded (about a third of the memory of decoded records, which matters
/// with tens of millions of them) and decoded again as they are printed.
pub struct EncodedSorted {
    bytes: Vec<u8>,
    /// Where each record starts in `bytes`, in input order.
    offs: Vec<u64>,
    /// Input indices in sorted order.
    order: Vec<u32>,
}

impl EncodedSorted {
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl super::Listed for EncodedSorted {
    fn get<'a>(
        &'a self,
        i: usize,
        scratch: &'a mut FlowRecord,
    ) -> Result<(&'a FlowRecord, u64), ClientError> {
        let off = self.offs[self.order[i] as usize] as usize;
        crate::record::codec::decode_into(&self.bytes[off..], scratch).map_err(|source| {
            crate::ring::RingError::Corrupt {
                path: "<sorted records>".into(),
                offset: off as u64,
                source,
            }
        })?;
        Ok((scratch, 1))
    }

    fn prefetch(&self, i: usize) {
        let off = self.offs[self.order[i] as usize] as usize;
        crate::prefetch::prefetch(self.bytes[off..].as_ptr());
        if let Some(b) = self.bytes.get(off + 64) {
            crate::prefetch::prefetch(b);
        }
    }
}

/// Records decoded, and the order to list them in.
pub struct RecordsSorted {
    pub recs: Vec<FlowRecord>,
    pub order: Vec<usize>,
}

impl super::Listed for RecordsSorted {
    fn get<'a>(
        &'a self,
        i: usize,
        _: &'a mut FlowRecord,
    ) -> Result<(&'a FlowRecord, u64), ClientError> {
        Ok((&self.recs[self.order[i]], 1))
    }

    fn prefetch(&self, i: usize) {
        crate::prefetch::prefetch_whole(&self.recs[self.order[i]]);
    }
}

/// Whether every key has an integer form ([`key_u64`]), so that records can
/// be sorted on their keys alone ([`sort_encoded`]).
pub fn integer_keys(keys: &[SortKey]) -> bool {
    let r = FlowRecord::default();
    keys.iter().all(|&k| key_u64(k, &r, 1).is_some())
}

/// Keys and encoded bytes of the records of one chunk.
#[derive(Default)]
struct Keyed {
    /// `keys.len()` values per record, descending keys inverted.
    keys: Vec<u64>,
    bytes: Vec<u8>,
    offs: Vec<u64>,
}

impl Keyed {
    fn add(&mut self, keys: &[SortKey], rec: &FlowRecord, encoded: Option<&[u8]>) {
        for &k in keys {
            let v = key_u64(k, rec, 1).unwrap_or(0);
            self.keys.push(if k.descending() { !v } else { v });
        }
        self.offs.push(self.bytes.len() as u64);
        match encoded {
            Some(b) => self.bytes.extend_from_slice(b),
            None => crate::record::codec::encode(rec, &mut self.bytes),
        }
    }
}

/// Sorts the records of `input` (stably) by `keys`, which must all have an
/// integer form ([`integer_keys`]). Plain record files are read on several
/// threads that copy each selected record's bytes and work out its keys;
/// other inputs are encoded again as they are read.
pub fn sort_encoded(input: &Input, keys: &[SortKey]) -> Result<EncodedSorted, ClientError> {
    let mut all = Keyed::default();
    let par = Parallel::new(input.threads);
    if par.threads > 1 && input.plain_files_only()? {
        for path in &input.paths {
            parallel::for_each_chunk(
                path,
                par,
                || (FlowRecord::default(), input.selection()),
                |(rec, (keep, late)), chunk, out: &mut Keyed| {
                    out.keys.clear();
                    out.bytes.clear();
                    out.offs.clear();
                    chunk.for_each_kept_raw(rec, keep, *late, |rec, raw| {
                        out.add(keys, rec, Some(raw));
                        Ok(())
                    })
                },
                |out| {
                    let base = all.bytes.len() as u64;
                    all.bytes.extend_from_slice(&out.bytes);
                    all.offs.extend(out.offs.iter().map(|o| base + o));
                    all.keys.extend_from_slice(&out.keys);
                    Ok(true)
                },
            )?;
        }
    } else {
        input.for_each(|rec| {
            all.add(keys, rec, None);
            Ok(true)
        })?;
    }
    let n = all.offs.len();
    if n > u32::MAX as usize {
        return Err(ClientError::Usage(format!(
            "{n} records are more than sort takes at once ({})",
            u32::MAX
        )));
    }
    let width = keys.len();
    let order = if width == 0 {
        (0..n as u32).collect()
    } else {
        let mut dec: Vec<(u64, u32)> = (0..n).map(|i| (all.keys[i * width], i as u32)).collect();
        if width == 1 {
            dec.sort_unstable();
        } else {
            let rest = |i: u32| &all.keys[i as usize * width + 1..(i as usize + 1) * width];
            dec.sort_unstable_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| rest(a.1).cmp(rest(b.1)))
                    .then(a.1.cmp(&b.1))
            });
        }
        dec.into_iter().map(|(_, i)| i).collect()
    };
    Ok(EncodedSorted {
        bytes: all.bytes,
        offs: all.offs,
        order,
    })
}

/// Sorts records in place (stable).
pub fn sort_records(recs: &mut [FlowRecord], keys: &[SortKey]) {
    // Records are large: sort their indices, then move each record once.
    let order = sorted_indices(recs, keys);
    apply_order(recs, order);
}

/// The stable sorted order of `recs`: `recs[order[0]]` comes first. For a
/// caller that only visits the records in order, this saves moving them.
pub fn sorted_indices(recs: &[FlowRecord], keys: &[SortKey]) -> Vec<usize> {
    sorted_order(
        recs.len(),
        keys,
        |i, k| key_u64(k, &recs[i], 1),
        |a, b, rest| compare(&recs[a], 1, &recs[b], 1, rest),
    )
}

/// The stable sorted order of `n` items. When the first key has a compact
/// integer form (`key(i, k)`), the order is decorated with it once, so the
/// n log n comparisons read a 16-byte array instead of two records (ties go to
/// `rest` with the other keys, then to the index, which keeps it stable).
fn sorted_order(
    n: usize,
    keys: &[SortKey],
    key: impl Fn(usize, SortKey) -> Option<u64>,
    cmp: impl Fn(usize, usize, &[SortKey]) -> Ordering,
) -> Vec<usize> {
    let Some((&first, rest)) = keys.split_first() else {
        return (0..n).collect();
    };
    let mut dec: Vec<(u64, usize)> = Vec::with_capacity(n);
    for i in 0..n {
        match key(i, first) {
            Some(v) => dec.push((if first.descending() { !v } else { v }, i)),
            None => {
                let mut idx: Vec<usize> = (0..n).collect();
                idx.sort_by(|&a, &b| cmp(a, b, keys));
                return idx;
            }
        }
    }
    if rest.is_empty() {
        dec.sort_unstable();
    } else {
        dec.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| cmp(a.1, b.1, rest))
                .then(a.1.cmp(&b.1))
        });
    }
    dec.into_iter().map(|(_, i)| i).collect()
}

/// A float as a u64 with the same order as `f64::total_cmp`.
fn f64_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// The key's value as a u64 ordered as `compare_one` orders it (ascending),
/// for the keys that have one (not addresses and MACs).
fn key_u64(k: SortKey, r: &FlowRecord, trans: u64) -> Option<u64> {
    use SortKey::*;
    let dur = || secs(r.ltime_ns).max(secs(r.stime_ns)) - secs(r.stime_ns);
    Some(match k {
        STime => r.stime_ns,
        LTime => r.ltime_ns,
        Trans => trans,
        Dur | MinDur | MaxDur => f64_key(dur()),
        AvgDur => f64_key(dur() / trans.max(1) as f64),
        SMac | DMac | SAddr(_) | DAddr(_) => return None,
        Proto => u64::from(proto_num(r)),
        SPort => u64::from(ports(r).0),
        DPort => u64::from(ports(r).1),
        STos => u64::from(r.src.tos),
        DTos => u64::from(r.dst.tos),
        STtl => u64::from(r.src.ttl),
        DTtl => u64::from(r.dst.ttl),
        Bytes => r.bytes(),
        SBytes => r.src.bytes,
        DBytes => r.dst.bytes,
        Pkts => r.pkts(),
        SPkts => r.src.pkts,
        DPkts => r.dst.pkts,
        Seq => r.seq,
        SMpls => u64::from(r.smpls),
        DMpls => u64::from(r.dmpls),
        SVlan => u64::from(r.svlan),
        DVlan => u64::from(r.dvlan),
        SrcId => u64::from(r.srcid),
        STcpb => u64::from(tcp_of(r, |t| t.src_base_seq)),
        DTcpb => u64::from(tcp_of(r, |t| t.dst_base_seq)),
        TcpRtt => tcp_of(r, |t| t.synack_us as u64 + t.ackdat_us as u64),
        Loss => {
            let (s, d) = loss(r);
            s + d
        }
        SLoss => loss(r).0,
        DLoss => loss(r).1,
        // Rates, loads, percentages and means compare records directly.
        _ => return None,
    })
}

/// Puts `v[order[i]]` at position `i` (each element moved once, by cycles).
fn apply_order<T>(v: &mut [T], mut order: Vec<usize>) {
    for i in 0..v.len() {
        // Follow the cycle through i; `order[j] == j` marks a placed slot.
        let mut j = i;
        loop {
            let k = order[j];
            order[j] = j;
            if k == i {
                break;
            }
            v.swap(j, k);
            j = k;
        }
    }
}

/// Sorts aggregates in place (stable); `trans` and `avgdur` use their counts.
pub fn sort_aggregates(aggs: &mut [Aggregate], keys: &[SortKey]) {
    let order = sorted_order(
        aggs.len(),
        keys,
        |i, k| key_u64(k, &aggs[i].rec, aggs[i].trans),
        |a, b, rest| {
            compare(
                &aggs[a].rec,
                aggs[a].trans,
                &aggs[b].rec,
                aggs[b].trans,
                rest,
            )
        },
    );
    apply_order(aggs, order);
}

/// Compares two records (with their `trans` counts) by `keys` in order.
pub fn compare(a: &FlowRecord, ta: u64, b: &FlowRecord, tb: u64, keys: &[SortKey]) -> Ordering {
    for &k in keys {
        let o = compare_one(k, a, ta, b, tb);
        let o = if k.descending() { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn secs(ns: u64) -> f64 {
    (ns / 1000) as f64 / 1e6
}

fn per_sec(x: f64, dur: f64) -> f64 {
    // Single precision, as the printer (and Argus) compute rates and loads.
    if dur > 0.0 {
        (x as f32 / dur as f32) as f64
    } else {
        0.0
    }
}

fn load_bytes(d: &crate::record::DirStats) -> f64 {
    // Argus's load counts the bytes after the first packet.
    d.bytes
        .checked_div(d.pkts)
        .map_or(0.0, |first| d.bytes.saturating_sub(first) as f64)
}

fn mean(d: &crate::record::DirStats) -> f64 {
    if d.pkts == 0 {
        0.0
    } else {
        d.bytes as f64 / d.pkts as f64
    }
}

/// Address sort rank of a record's kind: IPv4, IPv6, MAC-keyed frames, ARP.
fn addr_rank(c: KeyClass) -> u8 {
    match c {
        KeyClass::Ipv4 => 0,
        KeyClass::Ipv6 => 1,
        KeyClass::Ether | KeyClass::Llc | KeyClass::Rarp => 2,
        KeyClass::Arp => 3,
        KeyClass::None => 4,
    }
}

fn addr_key(r: &FlowRecord, src: bool, len: u8) -> (u8, [u8; 16]) {
    let class = r.key.class();
    let a = if src { &r.key.src } else { &r.key.dst };
    let bits = super::addr_bits(class).min(len);
    (addr_rank(class), mask_addr(a, bits))
}

fn proto_num(r: &FlowRecord) -> u8 {
    if r.key.class().is_ip() {
        r.key.proto
    } else {
        0
    }
}

fn ports(r: &FlowRecord) -> (u16, u16) {
    if r.key.class().is_ip() || r.key.class() == KeyClass::Llc {
        (r.key.sport, r.key.dport)
    } else {
        (0, 0)
    }
}

fn loss(r: &FlowRecord) -> (u64, u64) {
    r.tcp
        .map_or((0, 0), |t| (t.src_retrans as u64, t.dst_retrans as u64))
}

fn compare_one(k: SortKey, a: &FlowRecord, ta: u64, b: &FlowRecord, tb: u64) -> Ordering {
    use SortKey::*;
    let f = |x: f64, y: f64| x.total_cmp(&y);
    // Durations only for the keys that use them (this runs n log n times).
    let dur = |r: &FlowRecord| secs(r.ltime_ns).max(secs(r.stime_ns)) - secs(r.stime_ns);
    match k {
        STime => a.stime_ns.cmp(&b.stime_ns),
        LTime => a.ltime_ns.cmp(&b.ltime_ns),
        Trans => ta.cmp(&tb),
        Dur | MinDur | MaxDur => f(dur(a), dur(b)),
        AvgDur => f(dur(a) / ta.max(1) as f64, dur(b) / tb.max(1) as f64),
        SMac => a.smac.cmp(&b.smac),
        DMac => a.dmac.cmp(&b.dmac),
        SAddr(l) => addr_key(a, true, l).cmp(&addr_key(b, true, l)),
        DAddr(l) => addr_key(a, false, l).cmp(&addr_key(b, false, l)),
        Proto => proto_num(a).cmp(&proto_num(b)),
        SPort => ports(a).0.cmp(&ports(b).0),
        DPort => ports(a).1.cmp(&ports(b).1),
        STos => a.src.tos.cmp(&b.src.tos),
        DTos => a.dst.tos.cmp(&b.dst.tos),
        STtl => a.src.ttl.cmp(&b.src.ttl),
        DTtl => a.dst.ttl.cmp(&b.dst.ttl),
        Bytes => a.bytes().cmp(&b.bytes()),
        SBytes => a.src.bytes.cmp(&b.src.bytes),
        DBytes => a.dst.bytes.cmp(&b.dst.bytes),
        Pkts => a.pkts().cmp(&b.pkts()),
        SPkts => a.src.pkts.cmp(&b.src.pkts),
        DPkts => a.dst.pkts.cmp(&b.dst.pkts),
        Load => f(
            per_sec((load_bytes(&a.src) + load_bytes(&a.dst)) * 8.0, dur(a)),
            per_sec((load_bytes(&b.src) + load_bytes(&b.dst)) * 8.0, dur(b)),
        ),
        SLoad => f(
            per_sec(load_bytes(&a.src) * 8.0, dur(a)),
            per_sec(load_bytes(&b.src) * 8.0, dur(b)),
        ),
        DLoad => f(
            per_sec(load_bytes(&a.dst) * 8.0, dur(a)),
            per_sec(load_bytes(&b.dst) * 8.0, dur(b)),
        ),
        Loss => {
            let (x, y) = (loss(a), loss(b));
            (x.0 + x.1).cmp(&(y.0 + y.1))
        }
        SLoss => loss(a).0.cmp(&loss(b).0),
        DLoss => loss(a).1.cmp(&loss(b).1),
        PLoss => {
            let p = |r: &FlowRecord| {
                let (s, d) = loss(r);
                let l = s + d;
                if l == 0 {
                    0.0
                } else {
                    l as f64 * 100.0 / (l + r.pkts()) as f64
                }
            };
            f(p(a), p(b))
        }
        Rate => f(
            per_sec(a.pkts().saturating_sub(1) as f64, dur(a)),
            per_sec(b.pkts().saturating_sub(1) as f64, dur(b)),
        ),
        SRate => f(
            per_sec(a.src.pkts.saturating_sub(1) as f64, dur(a)),
            per_sec(b.src.pkts.saturating_sub(1) as f64, dur(b)),
        ),
        DRate => f(
            per_sec(a.dst.pkts.saturating_sub(1) as f64, dur(a)),
            per_sec(b.dst.pkts.saturating_sub(1) as f64, dur(b)),
        ),
        Seq => a.seq.cmp(&b.seq),
        SMpls => a.smpls.cmp(&b.smpls),
        DMpls => a.dmpls.cmp(&b.dmpls),
        SVlan => a.svlan.cmp(&b.svlan),
        DVlan => a.dvlan.cmp(&b.dvlan),
        SrcId => a.srcid.cmp(&b.srcid),
        STcpb => tcp_of(a, |t| t.src_base_seq).cmp(&tcp_of(b, |t| t.src_base_seq)),
        DTcpb => tcp_of(a, |t| t.dst_base_seq).cmp(&tcp_of(b, |t| t.dst_base_seq)),
        TcpRtt => {
            let rtt = |r: &FlowRecord| tcp_of(r, |t| t.synack_us as u64 + t.ackdat_us as u64);
            rtt(a).cmp(&rtt(b))
        }
        SMeanSz => f(mean(&a.src), mean(&b.src)),
        DMeanSz => f(mean(&a.dst), mean(&b.dst)),
    }
}

fn tcp_of<T: Default>(r: &FlowRecord, f: impl Fn(&crate::record::TcpPerf) -> T) -> T {
    r.tcp.as_ref().map(f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::DirStats;

    fn rec(stime: u64, bytes: u64, src4: [u8; 4], sport: u16) -> FlowRecord {
        let mut r = FlowRecord {
            stime_ns: stime * 1_000_000_000,
            ltime_ns: stime * 1_000_000_000 + 5_000_000,
            src: DirStats {
                pkts: 1,
                bytes,
                ..DirStats::default()
            },
            ..FlowRecord::default()
        };
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.proto = 17;
        r.key.src[..4].copy_from_slice(&src4);
        r.key.sport = sport;
        r
    }

    #[test]
    fn counters_descend_times_and_addresses_ascend_and_ties_keep_order() {
        let mut v = vec![
            rec(3, 100, [10, 0, 0, 2], 1),
            rec(1, 300, [10, 0, 0, 1], 2),
            rec(2, 100, [9, 0, 0, 1], 3),
        ];
        sort_records(&mut v, &[SortKey::Bytes]);
        let order: Vec<u16> = v.iter().map(|r| r.key.sport).collect();
        assert_eq!(order, vec![2, 1, 3]);
        sort_records(&mut v, &[SortKey::STime]);
        assert_eq!(
            v.iter().map(|r| r.key.sport).collect::<Vec<_>>(),
            vec![2, 3, 1]
        );
        sort_records(&mut v, &[SortKey::SAddr(128)]);
        assert_eq!(
            v.iter().map(|r| r.key.sport).collect::<Vec<_>>(),
            vec![3, 2, 1]
        );
        // With /8, 10.0.0.2 and 10.0.0.1 tie; the bytes key then decides.
        sort_records(&mut v, &[SortKey::SAddr(8), SortKey::Bytes]);
        assert_eq!(
            v.iter().map(|r| r.key.sport).collect::<Vec<_>>(),
            vec![3, 2, 1]
        );
    }

    #[test]
    fn keys_parse_and_bad_keys_list_the_valid_ones() {
        assert_eq!(
            SortKey::parse_list(&["saddr/24 bytes", "dport"]).unwrap(),
            vec![SortKey::SAddr(24), SortKey::Bytes, SortKey::DPort]
        );
        let e = SortKey::parse("bites").unwrap_err().to_string();
        assert!(
            e.contains("'bites'") && e.contains("stime") && !e.contains('\n'),
            "{e}"
        );
        assert!(SortKey::parse("bytes/8").is_err());
        assert!(SortKey::parse("saddr/200").is_err());
    }

    #[test]
    fn decorated_order_is_the_comparison_order() {
        // Every integer key, alone and with a second key, against the plain
        // stable sort by `compare`.
        let mut recs = Vec::new();
        for i in 0..200u64 {
            let mut r = rec(
                (i * 7919) % 13 * 1_000_000,
                (i * 31) % 5 * 100,
                [10, 0, (i % 3) as u8, 1],
                (i % 7) as u16,
            );
            r.ltime_ns = r.stime_ns + (i % 4) * 1_500_000;
            r.src.pkts = i % 6;
            r.seq = 1000 - i;
            recs.push(r);
        }
        for first in [
            "stime", "ltime", "dur", "bytes", "sbytes", "pkts", "spkts", "sport", "seq", "proto",
        ] {
            for second in [None, Some("saddr"), Some("dur"), Some("bytes")] {
                let mut keys = vec![SortKey::parse(first).unwrap_or_else(|e| panic!("{e}"))];
                if let Some(s) = second {
                    keys.push(SortKey::parse(s).unwrap_or_else(|e| panic!("{e}")));
                }
                let mut want: Vec<usize> = (0..recs.len()).collect();
                want.sort_by(|&a, &b| compare(&recs[a], 1, &recs[b], 1, &keys));
                let got = sorted_order(
                    recs.len(),
                    &keys,
                    |i, k| key_u64(k, &recs[i], 1),
                    |a, b, rest| compare(&recs[a], 1, &recs[b], 1, rest),
                );
                assert_eq!(got, want, "{first} {second:?}");
            }
        }
        assert!(key_u64(
            SortKey::parse("saddr").unwrap_or(SortKey::STime),
            &recs[0],
            1
        )
        .is_none());
        assert!(f64_key(-1.0) < f64_key(-0.0) && f64_key(-0.0) < f64_key(0.0));
        assert!(f64_key(0.0) < f64_key(0.5) && f64_key(0.5) < f64_key(f64::INFINITY));
    }
}

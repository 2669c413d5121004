//! `racount`: record, packet and byte totals, as Argus 3.0.8.2 prints them.
//!
//! ```text
//! racount   records     total_pkts     src_pkts       dst_pkts       total_bytes        src_bytes          dst_bytes
//!     sum   43          136            91             45             25260              15353              9907
//! ```
//! (the data lines keep their trailing blanks, as racount's do). Management
//! records add no packets or bytes (a start record counts as a record in `sum`). `-M proto` adds a `Protocol Summary` with one line
//! per protocol: IP protocols by number, then the other kinds of frame.

use crate::record::{FlowRecord, KeyClass, RecordKind};
use std::fmt::Write as _;

/// One line of totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub records: u64,
    pub src_pkts: u64,
    pub dst_pkts: u64,
    pub src_bytes: u64,
    pub dst_bytes: u64,
}

impl Totals {
    pub fn add(&mut self, r: &FlowRecord) {
        self.records += 1;
        self.src_pkts = self.src_pkts.saturating_add(r.src.pkts);
        self.dst_pkts = self.dst_pkts.saturating_add(r.dst.pkts);
        self.src_bytes = self.src_bytes.saturating_add(r.src.bytes);
        self.dst_bytes = self.dst_bytes.saturating_add(r.dst.bytes);
    }
    pub fn pkts(&self) -> u64 {
        self.src_pkts.saturating_add(self.dst_pkts)
    }
    pub fn bytes(&self) -> u64 {
        self.src_bytes.saturating_add(self.dst_bytes)
    }
}

/// What a protocol line groups: the IP protocol number, or a non-IP kind
/// (key class and ethertype).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtoId {
    Ip(u8),
    /// Ordered by ethertype (802.3/LLC frames count as 0), as racount lists them.
    Other {
        ethertype: u32,
        class: u8,
    },
}

impl ProtoId {
    pub fn of(r: &FlowRecord) -> ProtoId {
        let class = r.key.class();
        if class.is_ip() {
            ProtoId::Ip(r.key.proto)
        } else {
            let ethertype = match class {
                KeyClass::Ether => r.key.aux,
                KeyClass::Arp => 0x0806,
                KeyClass::Rarp => 0x8035,
                _ => 0,
            };
            ProtoId::Other {
                ethertype,
                class: r.key.class,
            }
        }
    }
}

/// racount's state.
#[derive(Clone, Debug, Default)]
pub struct Counter {
    pub total: Totals,
    /// Per protocol, in first-seen order (printed sorted).
    pub protos: Vec<(ProtoId, Totals)>,
    /// A record of each protocol, for naming it with the printer.
    pub samples: Vec<FlowRecord>,
}

impl Counter {
    /// Counts a record. Management records add no packets or bytes; a probe
    /// start record counts in the `sum` line's records (racount 3.0.8.2 counts
    /// the start MAR there, not the stop MAR, nor any in the protocol lines).
    pub fn add(&mut self, r: &FlowRecord) {
        if r.kind == RecordKind::ManStart {
            self.total.records += 1;
        }
        if r.kind.is_man() {
            return;
        }
        self.total.add(r);
        let id = ProtoId::of(r);
        match self.protos.iter_mut().find(|(p, _)| *p == id) {
            Some((_, t)) => t.add(r),
            None => {
                let mut t = Totals::default();
                t.add(r);
                self.protos.push((id, t));
                let mut s = r.clone();
                s.suser.clear();
                s.duser.clear();
                self.samples.push(s);
            }
        }
    }

    /// The protocol lines sorted as racount sorts them (IP protocols by
    /// number, then the rest), each with a sample record.
    pub fn by_proto(&self) -> Vec<(ProtoId, Totals, &FlowRecord)> {
        let mut v: Vec<_> = self
            .protos
            .iter()
            .zip(&self.samples)
            .map(|((p, t), s)| (*p, *t, s))
            .collect();
        v.sort_by_key(|(p, _, _)| *p);
        v
    }
}

/// The header line.
pub fn header() -> String {
    "racount   records     total_pkts     src_pkts       dst_pkts       total_bytes        src_bytes          dst_bytes".to_string()
}

/// One totals line, labelled (`sum`, or a protocol name).
pub fn line(label: &str, t: &Totals) -> String {
    let mut s = String::with_capacity(128);
    let _ = write!(
        s,
        "{label:>7}   {:<11} {:<14} {:<14} {:<14} {:<18} {:<18} {:<18}",
        t.records,
        t.pkts(),
        t.src_pkts,
        t.dst_pkts,
        t.bytes(),
        t.src_bytes,
        t.dst_bytes
    );
    s
}

/// One line in CSV (or another delimiter): label and the seven numbers.
pub fn delimited_line(label: &str, t: &Totals, d: char) -> String {
    [
        label.to_string(),
        t.records.to_string(),
        t.pkts().to_string(),
        t.src_pkts.to_string(),
        t.dst_pkts.to_string(),
        t.bytes().to_string(),
        t.src_bytes.to_string(),
        t.dst_bytes.to_string(),
    ]
    .join(&d.to_string())
}

/// The CSV header.
pub fn delimited_header(d: char) -> String {
    [
        "racount",
        "records",
        "total_pkts",
        "src_pkts",
        "dst_pkts",
        "total_bytes",
        "src_bytes",
        "dst_bytes",
    ]
    .join(&d.to_string())
}

/// A JSON object for one line.
pub fn json_line(label: &str, t: &Totals) -> String {
    serde_json::json!({
        "label": label,
        "records": t.records,
        "total_pkts": t.pkts(),
        "src_pkts": t.src_pkts,
        "dst_pkts": t.dst_pkts,
        "total_bytes": t.bytes(),
        "src_bytes": t.src_bytes,
        "dst_bytes": t.dst_bytes,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::DirStats;

    #[test]
    fn the_sum_line_has_racounts_layout() {
        let t = Totals {
            records: 43,
            src_pkts: 91,
            dst_pkts: 45,
            src_bytes: 15353,
            dst_bytes: 9907,
        };
        // Measured on racount -r zeek-wikipedia.argus.
        assert_eq!(
            line("sum", &t),
            "    sum   43          136            91             45             25260              15353              9907              "
        );
        assert_eq!(header().find("records"), Some(10));
    }

    #[test]
    fn management_records_are_not_counted_and_protocols_sort_by_number() {
        let mut c = Counter::default();
        let mut r = FlowRecord {
            src: DirStats {
                pkts: 2,
                bytes: 100,
                ..DirStats::default()
            },
            ..FlowRecord::default()
        };
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.proto = 17;
        c.add(&r);
        r.key.proto = 6;
        c.add(&r);
        c.add(&r);
        c.add(&FlowRecord {
            kind: RecordKind::ManStop,
            ..r.clone()
        });
        assert_eq!(c.total.records, 3);
        c.add(&FlowRecord {
            kind: RecordKind::ManStart,
            ..r.clone()
        });
        assert_eq!(c.total.records, 4, "racount counts the start record");
        assert_eq!(c.total.pkts(), 6, "but not its packets");
        assert_eq!(c.total.pkts(), 6);
        let p = c.by_proto();
        assert_eq!(p[0].0, ProtoId::Ip(6));
        assert_eq!(p[0].1.records, 2);
        assert_eq!(p[1].0, ProtoId::Ip(17));
    }
}

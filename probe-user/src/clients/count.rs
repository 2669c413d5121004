//! `racount`: record, packet and byte totals, as Argus 3.0.8.2 prints them.
//!
//! ```text
//! racount   records     total_pkts     src_pkts       dst_pkts       total_bytes        src_bytes          dst_bytes
//!     sum   43          136            91             45             25260              15353              9907
//! ```
//! (the data lines keep their trailing blanks, as racount's do). Management
//! records add no packets or bytes (a start record counts as a record in `sum`). `-M proto` adds a `Protocol Summary` with one line
//! per protocol: IP protocols by number, then the other kinds of frame.
//! `-M addr` adds an `Address Summary` ([`AddrTally`]): IANA address classes,
//! counted as racount 3.0.8.2 counts them (see there).

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

/// The address classes of racount's `Address Summary`, in its print order,
/// each label padded as racount pads it.
const ADDR_CLASSES: [&str; 28] = [
    "IPv4 Unicast             ",
    "IPv4 Unicast This Network",
    "IPv4 Unicast Private     ",
    "IPv4 Unicast LoopBack    ",
    "IPv4 Unicast Link Local  ",
    "IPv4 Unicast Test Net    ",
    "IPv4 Unicast Reserved    ",
    "IPv4 Multicast Local     ",
    "IPv4 Multicast Internet  ",
    "IPv4 Multicast AdHoc     ",
    "IPv4 Multicast Reserved  ",
    "IPv4 Multicast SdpSap    ",
    "IPv4 Multicast Nasdaq    ",
    "IPv4 Multicast DisTrans  ",
    "IPv4 Multicast Src Spec  ",
    "IPv4 Multicast GLOP Blk  ",
    "IPv4 Multicast OrgLocal  ",
    "IPv4 Multicast SiteLocal ",
    "IPv6 Unspecified         ",
    "IPv6 Loopback            ",
    "IPv6 LinkLocal           ",
    "IPv6 SiteLocal           ",
    "IPv6 Global              ",
    "IPv6 Multicast Node Local",
    "IPv6 Multicast Link Local",
    "IPv6 Multicast Site Local",
    "IPv6 Multicast Org  Local",
    "IPv6 Multicast Global    ",
];

mod class {
    pub const V4_UNICAST: usize = 0;
    pub const V4_THIS_NET: usize = 1;
    pub const V4_PRIVATE: usize = 2;
    pub const V4_LOOPBACK: usize = 3;
    pub const V4_LINK_LOCAL: usize = 4;
    pub const V4_TEST_NET: usize = 5;
    pub const V4_RESERVED: usize = 6;
    pub const V4_MC_LOCAL: usize = 7;
    pub const V4_MC_INTERNET: usize = 8;
    pub const V4_MC_ADHOC: usize = 9;
    pub const V4_MC_RESERVED: usize = 10;
    pub const V4_MC_SDPSAP: usize = 11;
    pub const V4_MC_NASDAQ: usize = 12;
    pub const V4_MC_DISTRANS: usize = 13;
    pub const V4_MC_SRCSPEC: usize = 14;
    pub const V4_MC_GLOP: usize = 15;
    pub const V4_MC_ORGLOCAL: usize = 16;
    pub const V4_MC_SITELOCAL: usize = 17;
    pub const V6_UNSPECIFIED: usize = 18;
    pub const V6_LOOPBACK: usize = 19;
    pub const V6_LINK_LOCAL: usize = 20;
    pub const V6_SITE_LOCAL: usize = 21;
    pub const V6_MC_NODE: usize = 23;
    pub const V6_MC_LINK: usize = 24;
    pub const V6_MC_SITE: usize = 25;
    pub const V6_MC_ORG: usize = 26;
    pub const V6_MC_GLOBAL: usize = 27;
}

/// racount's `-M addr` tally, with its measured habits kept: IPv4 addresses
/// count once each (distinct sources, distinct destinations), IPv6 addresses
/// once per record; IPv4 classes follow racount's table (only 172.16/16 and
/// 192.168/16 and 10/8 are private; 169.254/16 is counted as plain unicast;
/// many unassigned /8s are "reserved"; a multicast address may count in two
/// classes); IPv6 global unicast and IPv4-mapped addresses are not counted,
/// nor multicast scopes other than 1, 2, 5, 8, 14; the Test Net line shows
/// only when the Link Local count is not zero. Non-IP records add nothing.
#[derive(Clone, Debug, Default)]
pub struct AddrTally {
    counts: [[u64; 2]; 28],
    seen: [hashbrown::HashSet<u32>; 2],
}

impl AddrTally {
    /// Tallies a record's addresses.
    pub fn add(&mut self, r: &FlowRecord) {
        if r.kind.is_man() {
            return;
        }
        match r.key.class() {
            KeyClass::Ipv4 => {
                for (side, a) in [&r.key.src, &r.key.dst].into_iter().enumerate() {
                    let addr = u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
                    if self.seen[side].insert(addr) {
                        for c in ipv4_classes(addr).into_iter().flatten() {
                            self.counts[c][side] += 1;
                        }
                    }
                }
            }
            KeyClass::Ipv6 => {
                for (side, a) in [&r.key.src, &r.key.dst].into_iter().enumerate() {
                    if let Some(c) = ipv6_class(a) {
                        self.counts[c][side] += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// The `Address Summary` lines (the heading first), as racount prints them.
    pub fn lines(&self) -> Vec<String> {
        let mut v = vec!["Address Summary".to_string()];
        for (i, label) in ADDR_CLASSES.iter().enumerate() {
            // racount prints the Test Net line when the Link Local count is set.
            let shown = if i == class::V4_TEST_NET {
                class::V4_LINK_LOCAL
            } else {
                i
            };
            let [s, d] = self.counts[i];
            let [ss, sd] = self.counts[shown];
            if ss != 0 || sd != 0 {
                v.push(format!("  {label} src {s:<10}  dst {d:<10}"));
            }
        }
        v
    }

    /// (label, src, dst) for every class with a count, for CSV and JSON.
    pub fn classes(&self) -> Vec<(&'static str, u64, u64)> {
        ADDR_CLASSES
            .iter()
            .zip(&self.counts)
            .filter(|(_, [s, d])| *s != 0 || *d != 0)
            .map(|(l, [s, d])| (l.trim_end(), *s, *d))
            .collect()
    }
}

/// racount's IPv4 classes of an address (a multicast address can be in two).
fn ipv4_classes(addr: u32) -> [Option<usize>; 2] {
    use class::*;
    let top = addr >> 24;
    let low24 = addr & 0x00ff_ffff;
    if (0xe0..0xf0).contains(&top) {
        let mut first = None;
        let mut second = None;
        if top == 0xe0 {
            first = match low24 {
                0..=0xff => Some(V4_MC_LOCAL),
                0x100..=0x1ff => Some(V4_MC_INTERNET),
                0x200..=0xfeff => Some(V4_MC_ADHOC),
                0xff00..=0x1_ffff => Some(V4_MC_RESERVED),
                0x2_0000..=0x2_ffff => Some(V4_MC_SDPSAP),
                0x3_0000..=0x3_003f => Some(V4_MC_NASDAQ),
                0x3_0040..=0xfc_ffff => Some(V4_MC_RESERVED),
                0xfd_0000 => Some(V4_MC_DISTRANS),
                _ => None,
            };
        }
        if top > 0xe0 && top < 0xe8 {
            first = Some(V4_MC_RESERVED);
        }
        if top == 0xe8 {
            first = Some(V4_MC_SRCSPEC);
        }
        if top == 0xe9 {
            first = Some(V4_MC_GLOP);
        }
        if (0xe9..=0xee).contains(&top) {
            second = Some(V4_MC_RESERVED);
        }
        if top == 0xef {
            let b = (addr >> 16) & 0xff;
            first = match b {
                0 => None,
                1..=0xbf => Some(V4_MC_RESERVED),
                0xc0..=0xfb => Some(V4_MC_ORGLOCAL),
                _ => Some(V4_MC_SITELOCAL),
            };
        }
        return [first, second];
    }
    let c = match top {
        0 => V4_THIS_NET,
        1..=2 | 5 | 0x17 | 0x1b | 0x24 | 0x25 | 0x29 | 0x30 => V4_RESERVED,
        0x49..=0x4f | 0x59..=0x7e => V4_RESERVED,
        0x7f => V4_LOOPBACK,
        _ if addr >> 16 == 0xac10 => V4_PRIVATE,
        // racount looks for 169.254/16 inside 173/8-187/8, so never finds it.
        0xad..=0xbb => V4_RESERVED,
        0xbe..=0xbf => V4_RESERVED,
        0xc0 if addr >> 8 == 0xc0_0002 => V4_TEST_NET,
        0xc0 if addr >> 16 == 0xc0a8 => V4_PRIVATE,
        0xc0 => V4_UNICAST,
        0xc5 | 0xdf | 0xf0..=0xff => V4_RESERVED,
        0x0a => V4_PRIVATE,
        _ => V4_UNICAST,
    };
    [Some(c), None]
}

/// racount's IPv6 class of an address, if it counts one.
fn ipv6_class(a: &[u8; 16]) -> Option<usize> {
    use class::*;
    let w = |i: usize| u32::from_be_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]]);
    let zero96 = w(0) == 0 && w(4) == 0 && w(8) == 0;
    if zero96 && w(12) == 0 {
        return Some(V6_UNSPECIFIED);
    }
    if zero96 && w(12) == 1 {
        return Some(V6_LOOPBACK);
    }
    if zero96 || (w(0) == 0 && w(4) == 0 && w(8) == 0xffff) {
        return None; // IPv4-compatible and IPv4-mapped: counted, never printed
    }
    match (a[0], a[1] & 0xc0) {
        (0xfe, 0x80) => return Some(V6_LINK_LOCAL),
        (0xfe, 0xc0) => return Some(V6_SITE_LOCAL),
        _ => {}
    }
    if a[0] != 0xff {
        return None;
    }
    match a[1] & 0x0f {
        1 => Some(V6_MC_NODE),
        2 => Some(V6_MC_LINK),
        5 => Some(V6_MC_SITE),
        8 => Some(V6_MC_ORG),
        0xe => Some(V6_MC_GLOBAL),
        _ => None,
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

    fn v4(s: [u8; 4], d: [u8; 4]) -> FlowRecord {
        let mut r = FlowRecord::default();
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.src[..4].copy_from_slice(&s);
        r.key.dst[..4].copy_from_slice(&d);
        r
    }

    #[test]
    fn ipv4_addresses_count_once_in_racounts_classes() {
        let mut t = AddrTally::default();
        t.add(&v4([10, 1, 2, 3], [224, 0, 0, 251]));
        t.add(&v4([10, 1, 2, 3], [224, 0, 0, 251]));
        t.add(&v4([192, 168, 1, 2], [239, 255, 255, 250]));
        t.add(&v4([172, 17, 0, 1], [233, 1, 2, 3]));
        t.add(&v4([169, 254, 1, 1], [141, 142, 220, 1]));
        t.add(&FlowRecord {
            kind: RecordKind::ManStatus,
            ..v4([127, 0, 0, 1], [0, 0, 0, 0])
        });
        assert_eq!(
            t.lines(),
            [
                "Address Summary",
                // 172.17.0.1 and 169.254.1.1: racount's table calls them unicast.
                "  IPv4 Unicast              src 2           dst 1         ",
                "  IPv4 Unicast Private      src 2           dst 0         ",
                "  IPv4 Multicast Local      src 0           dst 1         ",
                // 233/8 counts as GLOP and as reserved.
                "  IPv4 Multicast Reserved   src 0           dst 1         ",
                "  IPv4 Multicast GLOP Blk   src 0           dst 1         ",
                "  IPv4 Multicast SiteLocal  src 0           dst 1         ",
            ]
        );
    }

    #[test]
    fn ipv6_addresses_count_per_record() {
        let mut t = AddrTally::default();
        let mut r = FlowRecord::default();
        r.key.class = KeyClass::Ipv6 as u8;
        r.key.src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        r.key.dst = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        t.add(&r);
        t.add(&r);
        r.key.src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        r.key.dst = [0; 16];
        t.add(&r);
        assert_eq!(
            t.lines(),
            [
                "Address Summary",
                "  IPv6 Unspecified          src 0           dst 1         ",
                "  IPv6 LinkLocal            src 2           dst 0         ",
                "  IPv6 Multicast Link Local src 0           dst 2         ",
            ]
        );
        assert_eq!(t.classes()[1], ("IPv6 LinkLocal", 2, 0));
    }
}

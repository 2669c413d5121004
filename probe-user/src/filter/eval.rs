//! Deciding one record: a walk over the expression tree that allocates nothing.

use super::{Dir, Expr, Flag, Metric, Op, Prim, Proto, Value};
use crate::record::{flag, tcpstate, Cause, DirStats, FlowRecord, KeyClass};
use ocellus_common::{ipproto, AUX_FRAGMENT};
use std::net::IpAddr;

pub(super) fn eval(e: &Expr, rec: &FlowRecord) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|e| eval(e, rec)),
        Expr::Or(v) => v.iter().any(|e| eval(e, rec)),
        Expr::Not(e) => !eval(e, rec),
        Expr::Prim(p) => prim(p, rec),
    }
}

/// Applies a per-side test as the direction qualifier says.
#[inline]
fn sides(dir: Dir, test: impl Fn(bool) -> bool) -> bool {
    match dir {
        Dir::Src => test(true),
        Dir::Dst => test(false),
        Dir::Either => test(true) || test(false),
        Dir::Both => test(true) && test(false),
    }
}

fn is_ip(rec: &FlowRecord) -> bool {
    rec.key.class().is_ip()
}

fn is_tcp(rec: &FlowRecord) -> bool {
    is_ip(rec) && rec.key.proto == ipproto::TCP
}

fn is_icmp4(rec: &FlowRecord) -> bool {
    is_ip(rec) && rec.key.proto == ipproto::ICMP
}

fn icmp_type(rec: &FlowRecord) -> u8 {
    (rec.key.sport >> 8) as u8
}

fn stats(rec: &FlowRecord, src: bool) -> &DirStats {
    if src {
        &rec.src
    } else {
        &rec.dst
    }
}

fn proto(p: Proto, rec: &FlowRecord) -> bool {
    let class = rec.key.class();
    let ip_is = |n: u8| is_ip(rec) && rec.key.proto == n;
    match p {
        Proto::Man => rec.kind.is_man(),
        Proto::Ip => is_ip(rec),
        Proto::Ipv4 => class == KeyClass::Ipv4,
        Proto::Ipv6 => class == KeyClass::Ipv6,
        Proto::Tcp => ip_is(ipproto::TCP),
        Proto::Udp => ip_is(ipproto::UDP),
        Proto::Icmp => ip_is(ipproto::ICMP),
        Proto::Igmp => ip_is(ipproto::IGMP),
        Proto::IpProto(n) => ip_is(n),
        Proto::Arp => class == KeyClass::Arp,
        Proto::Rarp => class == KeyClass::Rarp,
        Proto::EtherProto(t) => match class {
            KeyClass::Ipv4 => t == 0x0800,
            KeyClass::Ipv6 => t == 0x86dd,
            KeyClass::Arp => t == 0x0806,
            KeyClass::Rarp => t == 0x8035,
            KeyClass::Ether => rec.key.aux == u32::from(t),
            KeyClass::Llc | KeyClass::None => false,
        },
    }
}

/// The side's address as the key holds it, when the record has IP-family
/// addresses of the kind `v6` asks for (ARP flows hold IPv4 protocol addresses).
fn addr(rec: &FlowRecord, src: bool, v6: bool) -> Option<&[u8]> {
    let a = if src { &rec.key.src } else { &rec.key.dst };
    match (rec.key.class(), v6) {
        (KeyClass::Ipv4 | KeyClass::Arp, false) => Some(&a[..4]),
        (KeyClass::Ipv6, true) => Some(&a[..]),
        _ => None,
    }
}

fn tcp_state(rec: &FlowRecord) -> u32 {
    match &rec.tcp {
        Some(t) if is_tcp(rec) => t.state,
        _ => 0,
    }
}

/// Record duration in seconds at Argus's microsecond resolution.
fn dur_secs(rec: &FlowRecord) -> f64 {
    (rec.ltime_ns / 1000).saturating_sub(rec.stime_ns / 1000) as f64 / 1e6
}

/// `x / dur` in single precision, 0 for a zero duration (as the printer computes
/// rate and load).
fn per_sec(x: f64, dur_s: f64) -> f64 {
    if dur_s > 0.0 {
        f64::from(x as f32 / dur_s as f32)
    } else {
        0.0
    }
}

/// The value of a metric for one side.
fn metric(m: Metric, rec: &FlowRecord, src: bool) -> Value {
    let d = stats(rec, src);
    match m {
        Metric::Pkts => Value::Int(d.pkts),
        Metric::Bytes => Value::Int(d.bytes),
        Metric::AppBytes => Value::Int(d.appbytes),
        Metric::Ttl => Value::Int(u64::from(d.ttl)),
        Metric::Tos => Value::Int(u64::from(d.tos)),
        Metric::Loss => Value::Int(match &rec.tcp {
            Some(t) if is_tcp(rec) => u64::from(if src { t.src_retrans } else { t.dst_retrans }),
            _ => 0,
        }),
        Metric::Rate => Value::Float(per_sec(d.pkts.saturating_sub(1) as f64, dur_secs(rec))),
        Metric::Load => {
            let bytes = d
                .bytes
                .checked_div(d.pkts)
                .map_or(0.0, |per_pkt| (d.bytes - per_pkt) as f64);
            Value::Float(per_sec(bytes * 8.0, dur_secs(rec)))
        }
        Metric::Dur => Value::Float(dur_secs(rec)),
        Metric::Seq => Value::Int(rec.seq),
        Metric::Pcr => {
            let (s, d) = (rec.src.appbytes as f64, rec.dst.appbytes as f64);
            let v = if s + d > 0.0 { (s - d) / (s + d) } else { 0.0 };
            Value::Float(f64::from(v as f32))
        }
        Metric::PLoss => {
            let lost = match &rec.tcp {
                Some(t) if is_tcp(rec) => {
                    u64::from(if src { t.src_retrans } else { t.dst_retrans })
                }
                _ => 0,
            };
            let total = lost + d.pkts;
            Value::Float(if lost == 0 || total == 0 {
                0.0
            } else {
                lost as f64 * 100.0 / total as f64
            })
        }
    }
}

fn compare(op: Op, have: Value, want: Value) -> bool {
    match (have, want) {
        (Value::Int(a), Value::Int(b)) => op.test(a, b),
        (Value::Float(a), Value::Float(b)) => op.test(a, b),
        (Value::Int(a), Value::Float(b)) => op.test(a as f64, b),
        (Value::Float(a), Value::Int(b)) => op.test(a, b as f64),
    }
}

fn prim(p: &Prim, rec: &FlowRecord) -> bool {
    if rec.kind.is_man() {
        return *p == Prim::Proto(Proto::Man);
    }
    match p {
        Prim::Proto(pr) => proto(*pr, rec),
        // Fixed-size comparisons (a slice comparison calls `memcmp`), of
        // the addresses `addr` gives.
        Prim::Host { dir, addr: a } => match a {
            IpAddr::V4(a) => {
                let want = a.octets();
                matches!(rec.key.class(), KeyClass::Ipv4 | KeyClass::Arp)
                    && sides(*dir, |s| {
                        let k = if s { &rec.key.src } else { &rec.key.dst };
                        [k[0], k[1], k[2], k[3]] == want
                    })
            }
            IpAddr::V6(a) => {
                let want = a.octets();
                rec.key.class() == KeyClass::Ipv6
                    && sides(*dir, |s| {
                        *(if s { &rec.key.src } else { &rec.key.dst }) == want
                    })
            }
        },
        Prim::Net { dir, net } => sides(*dir, |s| {
            addr(rec, s, net.v6).is_some_and(|a| {
                a.iter()
                    .zip(net.mask.iter().zip(&net.addr))
                    .all(|(x, (m, n))| x & m == *n)
            })
        }),
        Prim::Port { dir, lo, hi } => {
            (rec.key.proto == ipproto::TCP || rec.key.proto == ipproto::UDP)
                && is_ip(rec)
                && sides(*dir, |s| {
                    let port = if s { rec.key.sport } else { rec.key.dport };
                    (*lo..=*hi).contains(&port)
                })
        }
        Prim::EtherHost { dir, mac } => {
            rec.flags & flag::HAS_MAC != 0
                && sides(*dir, |s| {
                    if s {
                        rec.smac == *mac
                    } else {
                        rec.dmac == *mac
                    }
                })
        }
        Prim::EtherCast { broadcast } => {
            rec.flags & flag::HAS_MAC != 0
                && if *broadcast {
                    rec.dmac == [0xff; 6]
                } else {
                    rec.dmac[0] & 1 != 0
                }
        }
        Prim::IpCast { v6: true, .. } => {
            rec.key.class() == KeyClass::Ipv6 && rec.key.dst[0] == 0xff
        }
        Prim::IpCast {
            v6: false,
            broadcast,
        } => {
            rec.key.class() == KeyClass::Ipv4
                && if *broadcast {
                    rec.key.dst[..4] == [255; 4]
                } else {
                    rec.key.dst[0] >= 224
                }
        }
        Prim::Vid { dir, vid } => sides(*dir, |s| {
            let (has, tci) = vlan(rec, s);
            has && tci & 0x0fff == *vid
        }),
        Prim::Vpri { dir, pri } => sides(*dir, |s| {
            let (has, tci) = vlan(rec, s);
            has && (tci >> 13) as u8 == *pri
        }),
        Prim::Mpls => {
            rec.flags & (flag::HAS_SMPLS | flag::HAS_DMPLS) != 0
                || rec.encaps & crate::packet::encaps::MPLS != 0
        }
        Prim::Mid { dir, label } => sides(*dir, |s| {
            let (bit, l) = if s {
                (flag::HAS_SMPLS, rec.smpls)
            } else {
                (flag::HAS_DMPLS, rec.dmpls)
            };
            rec.flags & bit != 0 && l == *label
        }),
        Prim::Srcid(id) => rec.srcid == *id,
        // Counters against a whole number, the common case, without going
        // through `Value`.
        Prim::Cmp {
            dir,
            metric: m @ (Metric::Pkts | Metric::Bytes | Metric::AppBytes),
            op,
            value: Value::Int(want),
        } => sides(*dir, |s| {
            let d = stats(rec, s);
            let have = match m {
                Metric::Pkts => d.pkts,
                Metric::Bytes => d.bytes,
                _ => d.appbytes,
            };
            op.test(have, *want)
        }),
        Prim::Cmp {
            dir,
            metric: m,
            op,
            value,
        } => {
            if matches!(m, Metric::Ttl | Metric::Tos) && rec.key.class() != KeyClass::Ipv4 {
                return false;
            }
            if m.is_flow_level() {
                return compare(*op, metric(*m, rec, true), *value);
            }
            sides(*dir, |s| compare(*op, metric(*m, rec, s), *value))
        }
        Prim::Flag { dir, flag: f } => flag_prim(*f, *dir, rec),
        Prim::TcpOpt(bits) => rec
            .tcp
            .as_ref()
            .is_some_and(|t| is_tcp(rec) && t.options & bits != 0),
        Prim::Encaps { mask, .. } => rec.encaps & mask != 0,
    }
}

fn vlan(rec: &FlowRecord, src: bool) -> (bool, u16) {
    if src {
        (rec.flags & flag::HAS_SVLAN != 0, rec.svlan)
    } else {
        (rec.flags & flag::HAS_DVLAN != 0, rec.dvlan)
    }
}

fn flag_prim(f: Flag, dir: Dir, rec: &FlowRecord) -> bool {
    let st = tcp_state(rec);
    let tcp = rec.tcp.as_ref().filter(|_| is_tcp(rec));
    let bits = |s: bool, src_bit: u32, dst_bit: u32| st & if s { src_bit } else { dst_bit } != 0;
    match f {
        // Argus forgets the SYN in the status records of an established flow.
        Flag::Syn => {
            st & (tcpstate::SAW_SYN | tcpstate::SAW_SYN_SENT) != 0
                && (rec.flags & flag::FIRST != 0 || st & tcpstate::ESTABLISHED == 0)
        }
        Flag::SynAck => st & tcpstate::SAW_SYNACK != 0,
        Flag::Fin => sides(dir, |s| bits(s, tcpstate::FIN_SRC, tcpstate::FIN_DST)),
        Flag::FinAck => st & tcpstate::FIN_ACKED != 0,
        Flag::Reset => match dir {
            Dir::Either => st & tcpstate::RESET != 0,
            _ => tcp.is_some_and(|t| {
                sides(dir, |s| {
                    (if s { t.src_flags } else { t.dst_flags }) & 0x04 != 0
                })
            }),
        },
        Flag::Retrans => tcp.is_some_and(|t| {
            sides(dir, |s| {
                bits(s, tcpstate::SRC_PKTS_RETRANS, tcpstate::DST_PKTS_RETRANS)
                    || (if s { t.src_retrans } else { t.dst_retrans }) > 0
            })
        }),
        Flag::OutOfOrder => tcp.is_some_and(|t| {
            sides(dir, |s| {
                bits(s, tcpstate::SRC_OUTOFORDER, tcpstate::DST_OUTOFORDER)
                    || (if s { t.src_ooo } else { t.dst_ooo }) > 0
            })
        }),
        Flag::WinShut => sides(dir, |s| {
            bits(s, tcpstate::SRC_WINSHUT, tcpstate::DST_WINSHUT)
        }),
        Flag::Ecn => sides(dir, |s| {
            rec.flags & if s { flag::SRC_ECN } else { flag::DST_ECN } != 0
        }),
        // ARGUS_NORMAL_CLOSE without FIN or RST: the state column's CLO.
        Flag::Normal => {
            st & tcpstate::CLOSED != 0
                && st & (tcpstate::FIN_SRC | tcpstate::FIN_DST | tcpstate::RESET) == 0
        }
        Flag::Wait => {
            st & (tcpstate::FIN_SRC | tcpstate::FIN_DST) != 0
                && st & (tcpstate::FIN_ACKED | tcpstate::CLOSED | tcpstate::RESET) == 0
        }
        // Argus sets ARGUS_CON_ESTABLISHED once both sides of an IP flow spoke
        // (a TCP RST answering a SYN counts); an established TCP flow keeps it.
        // Neighbour discovery exchanges (ICMPv6 133-137) never count as connected.
        Flag::Established => {
            let nd = rec.key.class() == KeyClass::Ipv6
                && rec.key.proto == 58
                && matches!(rec.key.sport >> 8, 133..=137);
            is_ip(rec)
                && !nd
                && ((rec.src.pkts > 0 && rec.dst.pkts > 0) || st & tcpstate::ESTABLISHED != 0)
        }
        Flag::Timeout => rec.cause == Cause::Timeout,
        Flag::Start => rec.flags & flag::FIRST != 0,
        Flag::Status => rec.flags & flag::FIRST == 0,
        Flag::Frag => {
            rec.key.class() == KeyClass::Ipv4
                && rec.flags & (flag::FRAGMENTS | flag::FRAG_PARTIAL | flag::FRAG_OVERLAP) != 0
                && sides(dir, |s| stats(rec, s).pkts > 0)
        }
        Flag::FragOnly => is_ip(rec) && rec.key.aux & AUX_FRAGMENT != 0,
        Flag::Multipath => rec.flags & flag::MULTIPATH != 0,
        Flag::Echo => is_icmp4(rec) && matches!(icmp_type(rec), 0 | 8),
        Flag::Unreach => (is_icmp4(rec) && icmp_type(rec) == 3) || rec.icmp_mapped == b'U',
        Flag::Redirect => (is_icmp4(rec) && icmp_type(rec) == 5) || rec.icmp_mapped == b'R',
        Flag::Timexed => (is_icmp4(rec) && icmp_type(rec) == 11) || rec.icmp_mapped == b'T',
    }
}

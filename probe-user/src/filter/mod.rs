//! The Argus client filter language (`ra - 'tcp and dst port 80'`), ARGUS.md §5.
//!
//! [`Filter::parse`] turns an expression into an [`Expr`] tree once; then
//! [`Filter::matches`] decides each record without allocating.
//!
//! # Grammar
//!
//! ```text
//! expr      := term { ("and" | "&&" | "or" | "||") term }   equal precedence, left to right
//! term      := ("not" | "!") term | "(" expr ")" | primitive | value
//! value     := a bare value re-uses the last qualifier:  host a and b,  port 80 or 443
//! dir       := src | dst | src or dst (the default) | src and dst
//! ```
//!
//! Primitives (`[dir]` may precede those that take it):
//!
//! | Primitive | Selects |
//! |---|---|
//! | `tcp udp icmp igmp arp rarp man` | that protocol; `man` = the probe's management records |
//! | `ip` / `ipv4` / `ipv6` | IPv4 or IPv6 / IPv4 / IPv6 flows |
//! | `ip proto N`, `ether proto N` | IP protocol number or name; ethertype (decimal or 0x hex) |
//! | any `/etc/protocols` name | `esp`, `sctp`, `gre`, `ipv6-icmp` (also `icmp6`) ... as `ip proto N` |
//! | `[dir] host ADDR` | IPv4 or IPv6 address (ARP flows match their protocol addresses) |
//! | `[dir] net ADDR/LEN`, `[dir] net ADDR mask MASK` | IPv4 or IPv6 network |
//! | `[tcp\|udp] [dir] port P` | TCP/UDP port: number, `/etc/services` name, range `53-215` |
//! | `ether [dir] host MAC`, `ether multicast\|broadcast` | MAC addresses (records made with MAC data) |
//! | `[ip] multicast`, `ipv6 multicast`, `[ip] broadcast` | destination IPv4 >= 224.0.0.0 (Argus counts 255.255.255.255 too) / ff00::/8 / 255.255.255.255 |
//! | `[dir] vid N`, `[dir] vpri N`, `mpls`, `[dir] mid N` | VLAN id, VLAN priority, any MPLS label, MPLS label |
//! | `srcid N` | probe id (number or dotted IPv4) |
//! | `[dir] host NAME` | a host name, resolved once when the filter is compiled (system resolver, `/etc/hosts` first); any of its addresses |
//! | `gateway NAME` | relayed by NAME: its `/etc/ethers` MAC on either side and none of its IP addresses |
//! | `encaps NAME` | encapsulation: `eth 802q mpls llc pppoe gre ipnip ipnip6 sll chdlc` (also `ether vlan ppp vxlan`; Argus's other names select nothing) |
//! | `[tcpopt] OPTION` | TCP flows whose SYNs carried `mss wscale selackok selack tcpecho tcpechoreply tcptimestamp tcpcc tcpccnew tcpccecho`, or ECN `secn decn` |
//! | `[dir] METRIC [OP] N` | METRIC: `pkts bytes appbytes ttl tos loss ploss rate load dur seq pcr`; OP: `gt gte lt lte eq ne > >= < <= = == !=` (default `eq`); N may end in `k`, `M`, `G` (x1000) |
//! | `syn synack fin finack normal wait` | TCP handshake and close states |
//! | `[dir] reset retrans outoforder winshut ecn frag` | TCP resets, retransmissions, out-of-order segments, zero windows, ECN, fragments |
//! | `est` / `con`, `timeout`, `start`, `status` | established (TCP) or answered (others); record cause |
//! | `fragonly`, `multipath` | flows of fragments only (first fragment never seen); several MAC pairs |
//! | `echo unreach redirect timexed` | ICMP type, or an ICMP error mapped onto the flow |
//!
//! As in Argus, counters compare per direction: `pkts gt 5` is true when either
//! side sent more than 5 packets (`src and dst pkts gt 5` needs both), and `ttl`
//! and `tos` apply to IPv4 flows only. A management record satisfies `man` and no
//! other primitive.
//!
//! Deliberate differences from Argus 3.0.8.2 (whose filter compiler has bugs
//! here): `fragonly`, `multipath` and `ipv6 multicast` select every record in Argus
//! and their meaning here; `rarp` selects ARP flows too in Argus and only RARP
//! here; `vpri` compares the 3 priority bits (Argus compares 4 bits, one of them
//! the CFI); bare `broadcast`, operator symbols, `ne`, number suffixes, `loss`,
//! protocol names from `/etc/protocols` and `proto` names are accepted here and
//! refused by `ra`. Also: Argus's option primitives (`mss` ...) read option bits
//! in non-TCP records too (so `mss` selects UDP flows), here only TCP flows have
//! options; Argus selects every management record with `encaps` and `ploss`
//! primitives; Argus's `pcr` and `ploss` comparisons see every record as 0 or
//! below (`ploss gt 0` selects nothing); `gateway`, `encaps mpls` and
//! `tcpopt NAME` are refused by `ra`. `dur`, `seq` and `pcr` are one value per
//! record (a direction qualifier is ignored).

mod eval;
mod names;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::record::FlowRecord;

/// The longest expression accepted, in bytes.
pub const MAX_EXPR_BYTES: usize = 64 * 1024;
/// The most tokens an expression may have.
pub const MAX_TOKENS: usize = 8192;
/// The deepest nesting of parentheses and `not`.
pub const MAX_DEPTH: usize = 256;

/// Why an expression was refused. Every message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The expression has no terms.
    #[error("empty filter expression")]
    Empty,
    /// Longer than [`MAX_EXPR_BYTES`].
    #[error("filter expression is {len} bytes long; the limit is {max}")]
    TooLong { len: usize, max: usize },
    /// More than [`MAX_TOKENS`] tokens.
    #[error("filter expression has more than {max} tokens")]
    TooManyTokens { max: usize },
    /// Parentheses and `not` nest deeper than [`MAX_DEPTH`].
    #[error("filter expression nests deeper than {max} levels (column {column})")]
    TooDeep { max: usize, column: usize },
    /// A syntax error or a bad value, at a 1-based character column.
    #[error("{message} (column {column})")]
    Syntax { message: String, column: usize },
}

/// Which side of a flow a primitive looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Dir {
    Src,
    Dst,
    /// `src or dst` (the default).
    #[default]
    Either,
    /// `src and dst`.
    Both,
}

/// A protocol primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Ip,
    Ipv4,
    Ipv6,
    Tcp,
    Udp,
    Icmp,
    Igmp,
    Arp,
    Rarp,
    /// Management (MAR) records.
    Man,
    /// `ip proto N`.
    IpProto(u8),
    /// `ether proto N`.
    EtherProto(u16),
}

/// A counter or rate compared with a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Pkts,
    Bytes,
    AppBytes,
    Ttl,
    Tos,
    /// TCP retransmissions (Argus `sloss`/`dloss`).
    Loss,
    /// Packets per second.
    Rate,
    /// Bits per second.
    Load,
    /// Record duration, seconds.
    Dur,
    /// The record's sequence number (the `seq` column).
    Seq,
    /// Producer/consumer ratio `(sappbytes - dappbytes) / (sappbytes + dappbytes)`.
    Pcr,
    /// Percent of packets lost (retransmitted), per side.
    PLoss,
}

impl Metric {
    /// Whether the metric's values are fractional.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            Metric::Rate | Metric::Load | Metric::Dur | Metric::Pcr | Metric::PLoss
        )
    }
    /// Whether the metric is one value per record (a direction qualifier is ignored).
    pub fn is_flow_level(self) -> bool {
        matches!(self, Metric::Dur | Metric::Seq | Metric::Pcr)
    }
    fn name(self) -> &'static str {
        match self {
            Metric::Pkts => "pkts",
            Metric::Bytes => "bytes",
            Metric::AppBytes => "appbytes",
            Metric::Ttl => "ttl",
            Metric::Tos => "tos",
            Metric::Loss => "loss",
            Metric::Rate => "rate",
            Metric::Load => "load",
            Metric::Dur => "dur",
            Metric::Seq => "seq",
            Metric::Pcr => "pcr",
            Metric::PLoss => "ploss",
        }
    }
    /// The largest value a comparison may name.
    fn max(self) -> u64 {
        match self {
            Metric::Ttl | Metric::Tos => 255,
            _ => u64::MAX,
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Ge => "gte",
            Op::Lt => "lt",
            Op::Le => "lte",
        }
    }
    #[inline]
    fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
        }
    }
}

/// The number a comparison names: integral for counters, fractional for rates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

/// Flag and state primitives without a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    Syn,
    SynAck,
    Fin,
    FinAck,
    Reset,
    Retrans,
    OutOfOrder,
    WinShut,
    Ecn,
    Normal,
    Wait,
    Established,
    Timeout,
    Start,
    Status,
    Frag,
    FragOnly,
    Multipath,
    Echo,
    Unreach,
    Redirect,
    Timexed,
}

impl Flag {
    const ALL: [(Flag, &'static str); 22] = [
        (Flag::Syn, "syn"),
        (Flag::SynAck, "synack"),
        (Flag::Fin, "fin"),
        (Flag::FinAck, "finack"),
        (Flag::Reset, "reset"),
        (Flag::Retrans, "retrans"),
        (Flag::OutOfOrder, "outoforder"),
        (Flag::WinShut, "winshut"),
        (Flag::Ecn, "ecn"),
        (Flag::Normal, "normal"),
        (Flag::Wait, "wait"),
        (Flag::Established, "con"),
        (Flag::Timeout, "timeout"),
        (Flag::Start, "start"),
        (Flag::Status, "status"),
        (Flag::Frag, "frag"),
        (Flag::FragOnly, "fragonly"),
        (Flag::Multipath, "multipath"),
        (Flag::Echo, "echo"),
        (Flag::Unreach, "unreach"),
        (Flag::Redirect, "redirect"),
        (Flag::Timexed, "timexed"),
    ];

    fn from_name(w: &str) -> Option<Flag> {
        if w == "est" {
            return Some(Flag::Established);
        }
        Flag::ALL.iter().find(|(_, n)| *n == w).map(|(f, _)| *f)
    }
    fn name(self) -> &'static str {
        Flag::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("?", |(_, n)| n)
    }
    /// Whether `src`/`dst` may qualify it.
    pub fn takes_dir(self) -> bool {
        matches!(
            self,
            Flag::Fin
                | Flag::Reset
                | Flag::Retrans
                | Flag::OutOfOrder
                | Flag::WinShut
                | Flag::Ecn
                | Flag::Frag
        )
    }
}

/// An IPv4 or IPv6 network: the address (already masked) and the mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub v6: bool,
    pub addr: [u8; 16],
    pub mask: [u8; 16],
}

impl Net {
    fn new(addr: IpAddr, mask: [u8; 16]) -> Net {
        let (v6, mut a) = match addr {
            IpAddr::V4(a) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&a.octets());
                (false, b)
            }
            IpAddr::V6(a) => (true, a.octets()),
        };
        for (x, m) in a.iter_mut().zip(mask) {
            *x &= m;
        }
        Net { v6, addr: a, mask }
    }
    /// The prefix length when the mask is contiguous.
    fn prefix_len(&self) -> Option<u32> {
        let n = if self.v6 { 16 } else { 4 };
        let bits = self.mask[..n].iter().map(|b| b.count_ones()).sum::<u32>();
        (mask_from_prefix(bits, self.v6) == self.mask).then_some(bits)
    }
}

/// The mask of a prefix length (bytes past the family's length stay 0).
fn mask_from_prefix(len: u32, v6: bool) -> [u8; 16] {
    let n = if v6 { 16 } else { 4 };
    let mut m = [0u8; 16];
    for (i, b) in m.iter_mut().enumerate().take(n) {
        let bits = len.saturating_sub(8 * i as u32).min(8);
        *b = if bits == 0 { 0 } else { 0xffu8 << (8 - bits) };
    }
    m
}

/// A primitive: one test on a record.
#[derive(Clone, Debug, PartialEq)]
pub enum Prim {
    Proto(Proto),
    Host {
        dir: Dir,
        addr: IpAddr,
    },
    Net {
        dir: Dir,
        net: Net,
    },
    /// TCP or UDP port in `lo..=hi`.
    Port {
        dir: Dir,
        lo: u16,
        hi: u16,
    },
    EtherHost {
        dir: Dir,
        mac: [u8; 6],
    },
    /// `ether broadcast` (true) or `ether multicast` (false).
    EtherCast {
        broadcast: bool,
    },
    /// `ip multicast`, `ipv6 multicast`, `ip broadcast`.
    IpCast {
        v6: bool,
        broadcast: bool,
    },
    Vid {
        dir: Dir,
        vid: u16,
    },
    Vpri {
        dir: Dir,
        pri: u8,
    },
    Mpls,
    Mid {
        dir: Dir,
        label: u32,
    },
    Srcid(u32),
    Cmp {
        dir: Dir,
        metric: Metric,
        op: Op,
        value: Value,
    },
    Flag {
        dir: Dir,
        flag: Flag,
    },
    /// A TCP option (or ECN) seen on the flow: `packet::tcpopt` and
    /// `record::tcpopt_ecn` bits, any of which selects.
    TcpOpt(u16),
    /// An encapsulation (`encaps NAME`): any of the `packet::encaps` bits in
    /// `mask` (0 for Argus names ocellus never decodes: nothing matches).
    Encaps {
        name: &'static str,
        mask: u32,
    },
}

/// The TCP option primitives, as Argus names them, with their bits.
pub(crate) const TCP_OPTIONS: &[(&str, u16)] = {
    use crate::packet::tcpopt as t;
    use crate::record::tcpopt_ecn as e;
    &[
        ("mss", t::MSS),
        ("wscale", t::WSCALE),
        ("selackok", t::SACK_OK),
        ("selack", t::SACK),
        ("tcpecho", t::ECHO),
        ("tcpechoreply", t::ECHO_REPLY),
        ("tcptimestamp", t::TIMESTAMP),
        ("tcpcc", t::CC),
        ("tcpccnew", t::CC_NEW),
        ("tcpccecho", t::CC_ECHO),
        ("secn", e::SRC),
        ("decn", e::DST),
    ]
};

/// The `encaps` names (Argus's, then ocellus aliases) with their `packet::encaps`
/// bits; Argus names of link layers ocellus does not decode have no bits.
pub(crate) const ENCAPS_NAMES: &[(&str, u32)] = {
    use crate::packet::encaps as e;
    &[
        ("eth", e::ETHER),
        ("mpls", e::MPLS),
        ("802q", e::VLAN | e::QINQ),
        ("llc", e::LLC),
        ("pppoe", e::PPPOE),
        ("isl", 0),
        ("gre", e::GRE),
        ("erspan", 0),
        ("ah", 0),
        ("ipnip", e::IPIP),
        ("ipnip6", e::IP6IN4),
        ("hdlc", 0),
        ("chdlc", e::CHDLC),
        ("atm", 0),
        ("sll", e::SLL),
        ("fddi", 0),
        ("slip", 0),
        ("arc", 0),
        ("wlan", 0),
        ("prism", 0),
        ("avs", 0),
        ("lrh", 0),
        ("grh", 0),
        ("teredo", 0),
        ("udt", 0),
        ("ipsec", 0),
        ("juniper", 0),
        ("ether", e::ETHER),
        ("vlan", e::VLAN | e::QINQ),
        ("ppp", e::PPP),
        ("vxlan", e::VXLAN),
    ]
};

pub use crate::record::codec::ProtoSet;

/// A filter expression. `And`/`Or` hold two or more operands.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Prim(Prim),
}

/// A compiled filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    expr: Expr,
}

impl Filter {
    /// Compiles an expression.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        Ok(Filter {
            expr: parse::parse(text)?,
        })
    }

    /// Compiles an expression given as several command-line words (joined by
    /// spaces; columns in errors count in the joined text).
    pub fn parse_args(words: &[String]) -> Result<Filter, FilterError> {
        Filter::parse(&words.join(" "))
    }

    /// The expression tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether the record is selected. Allocates nothing.
    #[inline]
    pub fn matches(&self, rec: &FlowRecord) -> bool {
        eval::eval(&self.expr, rec)
    }

    /// Whether the expression looks only at a record's core fields (those
    /// [`crate::record::codec::decode_core_into`] decodes: kind, key, times,
    /// ids, flags, encapsulations and the per-direction counters, TTL and
    /// TOS), so that a reader may test it before decoding the rest
    /// ([`crate::ring::RecordSource::next_kept_into`]). TCP state and
    /// performance, MAC addresses, VLAN ids and MPLS labels are not core.
    pub fn core_only(&self) -> bool {
        fn prim(p: &Prim) -> bool {
            match p {
                Prim::Proto(_)
                | Prim::Host { .. }
                | Prim::Net { .. }
                | Prim::Port { .. }
                | Prim::IpCast { .. }
                | Prim::Mpls
                | Prim::Srcid(_)
                | Prim::Encaps { .. } => true,
                Prim::EtherHost { .. }
                | Prim::EtherCast { .. }
                | Prim::Vid { .. }
                | Prim::Vpri { .. }
                | Prim::Mid { .. }
                | Prim::TcpOpt(_) => false,
                Prim::Cmp { metric, .. } => match metric {
                    Metric::Pkts
                    | Metric::Bytes
                    | Metric::AppBytes
                    | Metric::Ttl
                    | Metric::Tos
                    | Metric::Rate
                    | Metric::Load
                    | Metric::Dur
                    | Metric::Seq
                    | Metric::Pcr => true,
                    Metric::Loss | Metric::PLoss => false,
                },
                Prim::Flag { flag, .. } => match flag {
                    Flag::Ecn
                    | Flag::Timeout
                    | Flag::Start
                    | Flag::Status
                    | Flag::Frag
                    | Flag::FragOnly
                    | Flag::Multipath
                    | Flag::Echo
                    | Flag::Unreach
                    | Flag::Redirect
                    | Flag::Timexed => true,
                    Flag::Syn
                    | Flag::SynAck
                    | Flag::Fin
                    | Flag::FinAck
                    | Flag::Reset
                    | Flag::Retrans
                    | Flag::OutOfOrder
                    | Flag::WinShut
                    | Flag::Normal
                    | Flag::Wait
                    | Flag::Established => false,
                },
            }
        }
        fn walk(e: &Expr) -> bool {
            match e {
                Expr::And(v) | Expr::Or(v) => v.iter().all(walk),
                Expr::Not(e) => walk(e),
                Expr::Prim(p) => prim(p),
            }
        }
        walk(&self.expr)
    }

    /// The IP protocol numbers that a flow record's key can hold when this
    /// filter selects the record: a superset, from the tests that name a
    /// protocol (`tcp`, `udp`, `icmp`, `igmp`, `proto N`, and `port`, which
    /// only TCP and UDP flows have). `None` when any protocol can be
    /// selected. Management records are outside it (their own test is
    /// `man`). A reader can reject a flow record whose protocol is not in
    /// the set before it decodes the rest of the key.
    pub fn protocols(&self) -> Option<ProtoSet> {
        use ocellus_common::ipproto;
        fn walk(e: &Expr) -> ProtoSet {
            match e {
                Expr::Prim(Prim::Proto(p)) => match p {
                    Proto::Tcp => ProtoSet::of(&[ipproto::TCP]),
                    Proto::Udp => ProtoSet::of(&[ipproto::UDP]),
                    Proto::Icmp => ProtoSet::of(&[ipproto::ICMP]),
                    Proto::Igmp => ProtoSet::of(&[ipproto::IGMP]),
                    Proto::IpProto(n) => ProtoSet::of(&[*n]),
                    // No flow record is a management record.
                    Proto::Man => ProtoSet::EMPTY,
                    _ => ProtoSet::ALL,
                },
                Expr::Prim(Prim::Port { .. }) => ProtoSet::of(&[ipproto::TCP, ipproto::UDP]),
                Expr::Prim(_) | Expr::Not(_) => ProtoSet::ALL,
                Expr::And(v) => v.iter().fold(ProtoSet::ALL, |s, e| s.and(walk(e))),
                Expr::Or(v) => v.iter().fold(ProtoSet::EMPTY, |s, e| s.or(walk(e))),
            }
        }
        Some(walk(&self.expr)).filter(|s| *s != ProtoSet::ALL)
    }

    /// A test on a record's kind and key alone that every record this
    /// filter selects passes: the filter with each test of anything else
    /// replaced by the constant that selects the most (true where an even
    /// number of `not`s apply, false where an odd one does). Since `and`
    /// and `or` only ever select more as their operands do, a record this
    /// test rejects the filter rejects too, so a reader can skip the rest of
    /// its decoding. `None` when the key decides nothing (`pkts gt 3`).
    pub fn key_stage(&self) -> Option<Filter> {
        fn key_only(p: &Prim) -> bool {
            matches!(
                p,
                Prim::Proto(_) | Prim::Host { .. } | Prim::Net { .. } | Prim::Port { .. }
            )
        }
        /// The bound of `e` where `pos` says whether an even number of
        /// `not`s apply: an expression, or a constant.
        fn bound(e: &Expr, pos: bool) -> Result<Expr, bool> {
            match e {
                Expr::Prim(p) if key_only(p) => Ok(e.clone()),
                Expr::Prim(_) => Err(pos),
                Expr::Not(x) => match bound(x, !pos) {
                    Ok(y) => Ok(Expr::Not(Box::new(y))),
                    Err(c) => Err(!c),
                },
                Expr::And(v) | Expr::Or(v) => {
                    // `and` is decided by a false operand, `or` by a true one;
                    // the other constant drops out.
                    let decides = matches!(e, Expr::Or(_));
                    let mut kept = Vec::new();
                    for x in v {
                        match bound(x, pos) {
                            Ok(y) => kept.push(y),
                            Err(c) if c == decides => return Err(c),
                            Err(_) => {}
                        }
                    }
                    match kept.len() {
                        0 => Err(!decides),
                        1 => Ok(kept.remove(0)),
                        _ if decides => Ok(Expr::Or(kept)),
                        _ => Ok(Expr::And(kept)),
                    }
                }
            }
        }
        match bound(&self.expr, true) {
            Ok(expr) => Some(Filter { expr }),
            // A constant true decides nothing; a constant false cannot come
            // from a filter that selects anything, but is kept exact.
            Err(true) => None,
            Err(false) => Some(Filter {
                expr: Expr::And(vec![
                    Expr::Prim(Prim::Proto(Proto::Man)),
                    Expr::Not(Box::new(Expr::Prim(Prim::Proto(Proto::Man)))),
                ]),
            }),
        }
    }

    /// Whether the expression names `man` (so management records are wanted).
    pub fn mentions_man(&self) -> bool {
        fn walk(e: &Expr) -> bool {
            match e {
                Expr::And(v) | Expr::Or(v) => v.iter().any(walk),
                Expr::Not(e) => walk(e),
                Expr::Prim(p) => *p == Prim::Proto(Proto::Man),
            }
        }
        walk(&self.expr)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(v) | Expr::Or(v) => {
                let op = if matches!(self, Expr::And(_)) {
                    " and "
                } else {
                    " or "
                };
                f.write_str("(")?;
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(op)?;
                    }
                    e.fmt(f)?;
                }
                f.write_str(")")
            }
            Expr::Not(e) => write!(f, "not {e}"),
            Expr::Prim(p) => p.fmt(f),
        }
    }
}

impl fmt::Display for Dir {
    /// The qualifier with a trailing space; nothing for the default.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::Src => "src ",
            Dir::Dst => "dst ",
            Dir::Either => "",
            Dir::Both => "src and dst ",
        })
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proto::Ip => f.write_str("ip"),
            Proto::Ipv4 => f.write_str("ipv4"),
            Proto::Ipv6 => f.write_str("ipv6"),
            Proto::Tcp => f.write_str("tcp"),
            Proto::Udp => f.write_str("udp"),
            Proto::Icmp => f.write_str("icmp"),
            Proto::Igmp => f.write_str("igmp"),
            Proto::Arp => f.write_str("arp"),
            Proto::Rarp => f.write_str("rarp"),
            Proto::Man => f.write_str("man"),
            Proto::IpProto(n) => write!(f, "ip proto {n}"),
            Proto::EtherProto(n) => write!(f, "ether proto 0x{n:04x}"),
        }
    }
}

impl fmt::Display for Prim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prim::Proto(p) => p.fmt(f),
            Prim::Host { dir, addr } => write!(f, "{dir}host {addr}"),
            Prim::Net { dir, net } => {
                let addr: IpAddr = if net.v6 {
                    Ipv6Addr::from(net.addr).into()
                } else {
                    Ipv4Addr::new(net.addr[0], net.addr[1], net.addr[2], net.addr[3]).into()
                };
                match net.prefix_len() {
                    Some(len) => write!(f, "{dir}net {addr}/{len}"),
                    None => {
                        let m = &net.mask;
                        write!(
                            f,
                            "{dir}net {addr} mask {}.{}.{}.{}",
                            m[0], m[1], m[2], m[3]
                        )
                    }
                }
            }
            Prim::Port { dir, lo, hi } if lo == hi => write!(f, "{dir}port {lo}"),
            Prim::Port { dir, lo, hi } => write!(f, "{dir}port {lo}-{hi}"),
            Prim::EtherHost { dir, mac } => {
                let m = mac;
                write!(
                    f,
                    "ether {dir}host {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    m[0], m[1], m[2], m[3], m[4], m[5]
                )
            }
            Prim::EtherCast { broadcast: true } => f.write_str("ether broadcast"),
            Prim::EtherCast { broadcast: false } => f.write_str("ether multicast"),
            Prim::IpCast { v6: true, .. } => f.write_str("ipv6 multicast"),
            Prim::IpCast {
                broadcast: true, ..
            } => f.write_str("ip broadcast"),
            Prim::IpCast {
                broadcast: false, ..
            } => f.write_str("ip multicast"),
            Prim::Vid { dir, vid } => write!(f, "{dir}vid {vid}"),
            Prim::Vpri { dir, pri } => write!(f, "{dir}vpri {pri}"),
            Prim::Mpls => f.write_str("mpls"),
            Prim::Mid { dir, label } => write!(f, "{dir}mid {label}"),
            Prim::Srcid(id) => write!(f, "srcid {id}"),
            Prim::Cmp {
                dir,
                metric,
                op,
                value,
            } => {
                write!(f, "{dir}{} {} ", metric.name(), op.name())?;
                match value {
                    Value::Int(v) => write!(f, "{v}"),
                    Value::Float(v) => write!(f, "{v}"),
                }
            }
            Prim::Flag { dir, flag } => write!(f, "{dir}{}", flag.name()),
            Prim::TcpOpt(bits) => {
                let mut first = true;
                for (name, b) in TCP_OPTIONS {
                    if bits & b != 0 {
                        f.write_str(if first { "" } else { " or " })?;
                        f.write_str(name)?;
                        first = false;
                    }
                }
                Ok(())
            }
            Prim::Encaps { name, .. } => write!(f, "encaps {name}"),
        }
    }
}

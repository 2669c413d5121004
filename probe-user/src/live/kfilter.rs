//! The capture filter in the kernel: a tcpdump expression compiled into the
//! rule program the XDP program evaluates ([`ocellus_common::kfilter`]).
//!
//! Only a subset of the pcap-filter language is compiled: `ip`, `ip6`, `arp`,
//! `rarp`, `tcp`, `udp`, `sctp`, `icmp`, `icmp6`, `igmp`, `[ip|ip6] proto N`,
//! `[ip|ip6] [src|dst|src or dst|src and dst] host|net ADDR[/LEN]`,
//! `[tcp|udp|sctp] [src|dst|...] port N|portrange A-B`, with `and`, `or`,
//! `not` (also `&&`, `||`, `!`), parentheses, and bare values that take the
//! qualifiers of the primitive before them (`port 80 or 443`). As in libpcap,
//! `and` and `or` have the same precedence and group left to right.
//!
//! Everything else (names to resolve, `vlan`, `ether`, byte tests, lengths...)
//! is refused with a reason, and the filter then runs in userspace only. The
//! kernel filter never replaces the userspace one: frames it cannot decide
//! (fragments, IPv6 extension headers, short frames) reach userspace, which
//! runs the libpcap program on them; it only drops what is surely excluded
//! and marks what surely matches.

use ocellus_common::ipproto;
use ocellus_common::kfilter::{
    Prim, Program, Term, ETH_ARP, ETH_IP, ETH_IPV6, ETH_RARP, F_ARP, F_DST, F_NEG, F_SRC, K_ADDR,
    K_ETHERTYPE, K_PORT, K_PROTO, MAX_PRIMS, MAX_TERMS,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why an expression stays in userspace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    #[error("{0:?} is beyond the kernel subset")]
    Token(String),
    #[error("{0}")]
    Form(String),
    #[error("more than {MAX_TERMS} alternatives of at most {MAX_PRIMS} tests each")]
    TooComplex,
    #[error("unexpected end of the expression")]
    End,
}

/// An expression tree with negation on its leaves only after [`nnf`].
#[derive(Clone, Debug)]
enum Expr {
    Prim(Prim),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// The qualifiers a bare value inherits.
#[derive(Clone, Copy, Debug, Default)]
struct Quals {
    proto: Option<&'static str>,
    dir: Dir,
    kind: Option<&'static str>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Dir {
    #[default]
    Either,
    Src,
    Dst,
    Both,
}

fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => flush(&mut cur, &mut out),
            '(' | ')' => {
                flush(&mut cur, &mut out);
                out.push(c.to_string());
            }
            '!' if chars.peek() == Some(&'=') => cur.push(c),
            '!' => {
                flush(&mut cur, &mut out);
                out.push("not".into());
            }
            '&' | '|' if chars.peek() == Some(&c) => {
                chars.next();
                flush(&mut cur, &mut out);
                out.push(if c == '&' { "and" } else { "or" }.into());
            }
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut out);
    out
}

struct Parser {
    toks: Vec<String>,
    pos: usize,
    last: Quals,
}

const PROTO_WORDS: &[&str] = &[
    "ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6", "igmp",
];

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(String::as_str)
    }

    fn next(&mut self) -> Result<String, Unsupported> {
        let t = self.toks.get(self.pos).cloned().ok_or(Unsupported::End)?;
        self.pos += 1;
        Ok(t)
    }

    fn expr(&mut self) -> Result<Expr, Unsupported> {
        let mut e = self.term(false)?;
        while let Some(op) = self.peek() {
            let and = match op {
                "and" => true,
                "or" => false,
                ")" => break,
                t => return Err(Unsupported::Token(t.to_string())),
            };
            self.pos += 1;
            let r = self.term(true)?;
            e = if and {
                Expr::And(Box::new(e), Box::new(r))
            } else {
                Expr::Or(Box::new(e), Box::new(r))
            };
        }
        Ok(e)
    }

    fn term(&mut self, after_op: bool) -> Result<Expr, Unsupported> {
        match self.peek().ok_or(Unsupported::End)? {
            "not" => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.term(after_op)?)))
            }
            "(" => {
                self.pos += 1;
                let e = self.expr()?;
                if self.next()? != ")" {
                    return Err(Unsupported::Form("unbalanced parentheses".into()));
                }
                Ok(e)
            }
            t if after_op && is_value(t) => {
                // A bare value: the previous primitive's qualifiers.
                let q = self.last;
                if q.kind.is_none() && q.proto.is_none() && q.dir == Dir::Either {
                    return Err(Unsupported::Token(t.to_string()));
                }
                let v = self.next()?;
                self.primitive(q, &v)
            }
            _ => self.qualified(),
        }
    }

    /// `[proto] [dir] [kind] value`, `[ip|ip6] proto N`, or a protocol word alone.
    fn qualified(&mut self) -> Result<Expr, Unsupported> {
        let mut q = Quals::default();
        if let Some(p) = self
            .peek()
            .and_then(|t| PROTO_WORDS.iter().find(|w| **w == t))
        {
            q.proto = Some(p);
            self.pos += 1;
        }
        if q.proto.is_some() && self.peek() == Some("proto") {
            self.pos += 1;
            let v = self.next()?;
            return proto_number(q.proto, &v);
        }
        if q.proto.is_none() && self.peek() == Some("proto") {
            self.pos += 1;
            let v = self.next()?;
            return proto_number(None, &v);
        }
        match self.peek() {
            Some("src") | Some("dst") => {
                let first = self.next()?;
                q.dir = if first == "src" { Dir::Src } else { Dir::Dst };
                // `src or dst`, `src and dst`, when a qualifier follows.
                if let (Some(op @ ("or" | "and")), Some(other)) = (
                    self.toks.get(self.pos).map(String::as_str),
                    self.toks.get(self.pos + 1).map(String::as_str),
                ) {
                    if (other == "src" || other == "dst") && other != first {
                        q.dir = if op == "or" { Dir::Either } else { Dir::Both };
                        self.pos += 2;
                    }
                }
            }
            _ => {}
        }
        if let Some(k) = self.peek().and_then(|t| {
            ["host", "net", "port", "portrange"]
                .into_iter()
                .find(|w| *w == t)
        }) {
            q.kind = Some(k);
            self.pos += 1;
        }
        if q.kind.is_none() && q.dir == Dir::Either {
            // A protocol word alone.
            let Some(p) = q.proto else {
                let t = self.peek().ok_or(Unsupported::End)?.to_string();
                return Err(Unsupported::Token(t));
            };
            if self.peek().is_some_and(is_value) {
                // `tcp 80`-style juxtaposition is not pcap-filter syntax we know.
                return Err(Unsupported::Token(self.peek().unwrap_or("").to_string()));
            }
            return Ok(proto_word(p));
        }
        let v = self.next()?;
        if !is_value(&v) {
            return Err(Unsupported::Token(v));
        }
        self.last = q;
        self.primitive(q, &v)
    }

    fn primitive(&mut self, q: Quals, v: &str) -> Result<Expr, Unsupported> {
        let kind = q.kind.unwrap_or("host");
        let mut prims = match kind {
            "host" | "net" => addr_prims(q, kind, v)?,
            _ => port_prims(q, kind, v)?,
        };
        if let Some(p) = q.proto.filter(|_| matches!(kind, "port" | "portrange")) {
            prims.insert(0, Expr::Prim(proto_prim(0, proto_of(p))));
        }
        let mut it = prims.into_iter();
        let first = it.next().ok_or(Unsupported::End)?;
        Ok(it.fold(first, |a, b| Expr::And(Box::new(a), Box::new(b))))
    }
}

fn is_value(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_ascii_hexdigit() || c == ':')
        && !PROTO_WORDS.contains(&t)
        && !["and", "or", "not", "src", "dst"].contains(&t)
}

fn proto_of(p: &str) -> u8 {
    match p {
        "tcp" => ipproto::TCP,
        "udp" => ipproto::UDP,
        "sctp" => ipproto::SCTP,
        "icmp" => ipproto::ICMP,
        "icmp6" => ipproto::ICMPV6,
        _ => ipproto::IGMP,
    }
}

fn proto_prim(ver: u8, proto: u8) -> Prim {
    Prim {
        kind: K_PROTO,
        ver,
        lo: proto as u16,
        ..Prim::default()
    }
}

fn ether_prim(et: u16) -> Prim {
    Prim {
        kind: K_ETHERTYPE,
        lo: et,
        ..Prim::default()
    }
}

/// A protocol word alone, as libpcap defines it.
fn proto_word(p: &str) -> Expr {
    Expr::Prim(match p {
        "ip" => ether_prim(ETH_IP),
        "ip6" => ether_prim(ETH_IPV6),
        "arp" => ether_prim(ETH_ARP),
        "rarp" => ether_prim(ETH_RARP),
        // `icmp` and `igmp` are IPv4 only, `icmp6` IPv6 only.
        "icmp" | "igmp" => proto_prim(4, proto_of(p)),
        "icmp6" => proto_prim(6, ipproto::ICMPV6),
        _ => proto_prim(0, proto_of(p)),
    })
}

fn proto_number(q: Option<&str>, v: &str) -> Result<Expr, Unsupported> {
    let ver = match q {
        None => 0,
        Some("ip") => 4,
        Some("ip6") => 6,
        Some(p) => return Err(Unsupported::Form(format!("`{p} proto`"))),
    };
    let n = decimal(v)?;
    if n > 255 {
        return Err(Unsupported::Form(format!("protocol {v}")));
    }
    Ok(Expr::Prim(proto_prim(ver, n as u8)))
}

/// A plain decimal number (names and other bases stay with libpcap).
fn decimal(v: &str) -> Result<u32, Unsupported> {
    if v.is_empty()
        || v.len() > 6
        || !v.bytes().all(|b| b.is_ascii_digit())
        || (v.len() > 1 && v.starts_with('0'))
    {
        return Err(Unsupported::Form(format!(
            "{v:?} is not a plain decimal number"
        )));
    }
    v.parse()
        .map_err(|_| Unsupported::Form(format!("{v:?} is not a plain decimal number")))
}

fn dir_flags(d: Dir) -> Vec<u8> {
    match d {
        Dir::Either => vec![F_SRC | F_DST],
        Dir::Src => vec![F_SRC],
        Dir::Dst => vec![F_DST],
        Dir::Both => vec![F_SRC, F_DST],
    }
}

fn halves(a: [u8; 16]) -> [u64; 2] {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&a[..8]);
    hi.copy_from_slice(&a[8..]);
    [u64::from_ne_bytes(lo), u64::from_ne_bytes(hi)]
}

fn prefix_mask(bits: u32, len: usize) -> [u8; 16] {
    let mut m = [0u8; 16];
    for (i, b) in m.iter_mut().enumerate().take(len) {
        let have = bits.saturating_sub(i as u32 * 8).min(8);
        *b = if have == 0 { 0 } else { 0xffu8 << (8 - have) };
    }
    m
}

fn addr_prims(q: Quals, kind: &str, v: &str) -> Result<Vec<Expr>, Unsupported> {
    let (a, plen) = match v.split_once('/') {
        Some((a, l)) if kind == "net" => (a, Some(decimal(l)?)),
        Some(_) => return Err(Unsupported::Form(format!("host {v}"))),
        None => (v, None),
    };
    let (bytes, ver, len) = if let Ok(x) = a.parse::<Ipv4Addr>() {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&x.octets());
        (b, 4u8, 4usize)
    } else if a.contains(':') {
        let x = a
            .parse::<Ipv6Addr>()
            .map_err(|_| Unsupported::Form(format!("address {a:?}")))?;
        (x.octets(), 6u8, 16usize)
    } else {
        return Err(Unsupported::Form(format!(
            "{a:?} is not a full numeric address (names and short networks stay with libpcap)"
        )));
    };
    let bits = plen.unwrap_or(len as u32 * 8);
    if bits > len as u32 * 8 {
        return Err(Unsupported::Form(format!("prefix /{bits}")));
    }
    let arp = match (q.proto, ver) {
        (None, 4) => F_ARP,
        (None, 6) | (Some("ip"), 4) | (Some("ip6"), 6) => 0,
        (Some(p), _) => return Err(Unsupported::Form(format!("`{p} {kind} {v}`"))),
        _ => 0,
    };
    let mask = prefix_mask(bits, len);
    let mut addr = bytes;
    for (x, m) in addr.iter_mut().zip(mask) {
        *x &= m;
    }
    Ok(dir_flags(q.dir)
        .into_iter()
        .map(|d| {
            Expr::Prim(Prim {
                kind: K_ADDR,
                flags: d | arp,
                ver,
                addr: halves(addr),
                mask: halves(mask),
                ..Prim::default()
            })
        })
        .collect())
}

fn port_prims(q: Quals, kind: &str, v: &str) -> Result<Vec<Expr>, Unsupported> {
    if let Some(p) = q.proto {
        if !matches!(p, "tcp" | "udp" | "sctp") {
            return Err(Unsupported::Form(format!("`{p} {kind}`")));
        }
    }
    let (lo, hi) = if kind == "portrange" {
        let (a, b) = v
            .split_once('-')
            .ok_or_else(|| Unsupported::Form(format!("portrange {v}")))?;
        let (a, b) = (decimal(a)?, decimal(b)?);
        (a.min(b), a.max(b))
    } else {
        let p = decimal(v)?;
        (p, p)
    };
    if hi > 65535 {
        return Err(Unsupported::Form(format!("port {v}")));
    }
    Ok(dir_flags(q.dir)
        .into_iter()
        .map(|d| {
            Expr::Prim(Prim {
                kind: K_PORT,
                flags: d,
                lo: lo as u16,
                hi: hi as u16,
                ..Prim::default()
            })
        })
        .collect())
}

/// Negations pushed down to the leaves (De Morgan holds in Kleene logic too).
fn nnf(e: Expr, neg: bool) -> Expr {
    match e {
        Expr::Prim(mut p) => {
            if neg {
                p.flags ^= F_NEG;
            }
            Expr::Prim(p)
        }
        Expr::Not(x) => nnf(*x, !neg),
        Expr::And(a, b) if neg => Expr::Or(Box::new(nnf(*a, true)), Box::new(nnf(*b, true))),
        Expr::Or(a, b) if neg => Expr::And(Box::new(nnf(*a, true)), Box::new(nnf(*b, true))),
        Expr::And(a, b) => Expr::And(Box::new(nnf(*a, false)), Box::new(nnf(*b, false))),
        Expr::Or(a, b) => Expr::Or(Box::new(nnf(*a, false)), Box::new(nnf(*b, false))),
    }
}

/// Disjunctive normal form of an NNF expression, within the program's limits.
fn dnf(e: &Expr) -> Result<Vec<Vec<Prim>>, Unsupported> {
    let terms = match e {
        Expr::Prim(p) => vec![vec![*p]],
        Expr::Not(_) => return Err(Unsupported::Form("negation left inside".into())),
        Expr::Or(a, b) => {
            let mut t = dnf(a)?;
            t.extend(dnf(b)?);
            t
        }
        Expr::And(a, b) => {
            let (x, y) = (dnf(a)?, dnf(b)?);
            if x.len() * y.len() > MAX_TERMS {
                return Err(Unsupported::TooComplex);
            }
            let mut t = Vec::with_capacity(x.len() * y.len());
            for l in &x {
                for r in &y {
                    let mut c = l.clone();
                    c.extend_from_slice(r);
                    t.push(c);
                }
            }
            t
        }
    };
    if terms.len() > MAX_TERMS || terms.iter().any(|t| t.len() > MAX_PRIMS) {
        return Err(Unsupported::TooComplex);
    }
    Ok(terms)
}

/// Compiles `filter` (tcpdump syntax, already accepted by libpcap) into the
/// kernel's rule program, or says why it stays in userspace.
pub fn compile(filter: &str) -> Result<Program, Unsupported> {
    let toks = tokens(filter);
    if toks.is_empty() {
        return Err(Unsupported::Form("empty filter".into()));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        last: Quals::default(),
    };
    let e = p.expr()?;
    if let Some(t) = p.peek() {
        return Err(Unsupported::Token(t.to_string()));
    }
    let terms = dnf(&nnf(e, false))?;
    let mut prog = Program {
        enabled: 1,
        n_terms: terms.len() as u32,
        ..Program::default()
    };
    for (slot, t) in prog.terms.iter_mut().zip(&terms) {
        *slot = Term {
            n: t.len() as u32,
            ..Term::default()
        };
        for (s, p) in slot.prims.iter_mut().zip(t) {
            *s = *p;
        }
    }
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocellus_common::kfilter::{eval, Facts, MAYBE, NO, YES};

    fn v4(a: [u8; 4]) -> [u64; 2] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&a);
        halves(b)
    }

    fn tcp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Facts {
        Facts {
            ethertype: ETH_IP,
            ver: 4,
            proto: ipproto::TCP,
            sport,
            dport,
            src: v4(src),
            dst: v4(dst),
        }
    }

    fn run(f: &str, facts: &Facts) -> u8 {
        eval(&compile(f).unwrap_or_else(|e| panic!("{f}: {e}")), facts)
    }

    #[test]
    fn protocol_and_port_filters_compile_and_decide() {
        let t = tcp4([10, 0, 0, 1], 40000, [10, 0, 0, 2], 5001);
        let mut u = t;
        u.proto = ipproto::UDP;
        let icmp = Facts {
            proto: ipproto::ICMP,
            sport: 0x0800,
            dport: 7,
            ..t
        };
        let arp = Facts {
            ethertype: ETH_ARP,
            ..Facts::default()
        };
        let cases: &[(&str, &Facts, u8)] = &[
            ("tcp and port 5001", &t, YES),
            ("tcp and port 5001", &u, NO),
            ("tcp and port 5002", &t, NO),
            ("tcp port 5001", &t, YES),
            ("udp port 5001", &t, NO),
            ("port 5001", &u, YES),
            ("src port 5001", &t, NO),
            ("dst port 5001", &t, YES),
            ("src and dst port 5001", &t, NO),
            ("src or dst port 40000", &t, YES),
            ("portrange 5000-5010", &t, YES),
            ("portrange 5010-5000", &t, YES),
            ("tcp portrange 1-1024", &t, NO),
            ("port 80 or 5001", &t, YES),
            ("port 80 or 443", &t, NO),
            ("not icmp", &t, YES),
            ("not icmp", &icmp, NO),
            ("! icmp && ip", &t, YES),
            ("icmp or tcp", &icmp, YES),
            ("icmp6", &icmp, NO),
            ("ip6", &t, NO),
            ("ip", &t, YES),
            ("arp", &arp, YES),
            ("tcp", &arp, NO),
            ("not tcp", &arp, YES),
            ("port 5001", &icmp, NO),
            ("ip proto 6", &t, YES),
            ("proto 17", &t, NO),
            ("ip6 proto 6", &t, NO),
        ];
        for &(f, facts, want) in cases {
            assert_eq!(run(f, facts), want, "{f} on {facts:?}");
        }
    }

    #[test]
    fn address_filters_compile_and_decide() {
        let t = tcp4([10, 0, 0, 1], 40000, [192, 168, 1, 9], 80);
        let arp = Facts {
            ethertype: ETH_ARP,
            ..Facts::default()
        };
        let mut six = Facts {
            ethertype: ETH_IPV6,
            ver: 6,
            proto: ipproto::UDP,
            sport: 53,
            dport: 9999,
            ..Facts::default()
        };
        six.src = halves(
            "2001:db8::1"
                .parse::<Ipv6Addr>()
                .map(|a| a.octets())
                .unwrap_or_default(),
        );
        six.dst = halves(
            "fd00::2"
                .parse::<Ipv6Addr>()
                .map(|a| a.octets())
                .unwrap_or_default(),
        );
        let cases: &[(&str, &Facts, u8)] = &[
            ("host 10.0.0.1", &t, YES),
            ("src host 10.0.0.1", &t, YES),
            ("dst host 10.0.0.1", &t, NO),
            ("dst 192.168.1.9", &t, YES),
            ("ip src 10.0.0.1 and tcp", &t, YES),
            ("net 192.168.0.0/16", &t, YES),
            ("net 192.168.2.0/24", &t, NO),
            ("dst net 10.0.0.0/8", &t, NO),
            ("host 10.0.0.7 or 10.0.0.1", &t, YES),
            ("not host 10.0.0.1", &t, NO),
            // libpcap's `host` also tests ARP's addresses: undecided there.
            ("host 10.0.0.1", &arp, MAYBE),
            ("not host 10.0.0.1", &arp, MAYBE),
            ("ip host 10.0.0.1", &arp, NO),
            ("host 10.0.0.1 or arp", &arp, YES),
            ("tcp and host 10.0.0.1", &arp, NO),
            ("host 2001:db8::1", &six, YES),
            ("host 2001:db8::1", &t, NO),
            ("ip6 net 2001:db8::/32 and udp port 53", &six, YES),
            ("src net fd00::/8", &six, NO),
            ("dst net fd00::/8", &six, YES),
            ("host 10.0.0.1", &six, NO),
        ];
        for &(f, facts, want) in cases {
            assert_eq!(run(f, facts), want, "{f} on {facts:?}");
        }
    }

    #[test]
    fn and_and_or_group_left_to_right_as_in_libpcap() {
        // (udp or tcp) and port 53, not udp or (tcp and port 53).
        let t = tcp4([1, 1, 1, 1], 1, [2, 2, 2, 2], 80);
        assert_eq!(run("udp or tcp and port 53", &t), NO);
        assert_eq!(run("udp or (tcp and port 80)", &t), YES);
        assert_eq!(run("not (tcp and port 80)", &t), NO);
        assert_eq!(run("not (udp or port 80)", &t), NO);
        assert_eq!(run("not (udp or port 81)", &t), YES);
    }

    #[test]
    fn what_the_kernel_cannot_express_stays_in_userspace() {
        for f in [
            "vlan 10 and tcp",
            "ether host 00:11:22:33:44:55",
            "host example.com",
            "net 10",
            "net 10.0.0.0 mask 255.0.0.0",
            "port http",
            "port 0x50",
            "tcp[13] & 2 != 0",
            "greater 100",
            "len <= 64",
            "icmp[icmptype] == 8",
            "tcp host 1.2.3.4",
            "ip port 80",
            "broadcast",
            "",
            "(tcp",
            // 9 alternatives after distribution.
            "(port 1 or port 2 or port 3) and (host 1.1.1.1 or host 2.2.2.2 or host 3.3.3.3)",
            "tcp and port 1 and port 2 and port 3 and port 4 and port 5 and port 6",
        ] {
            let r = compile(f);
            assert!(r.is_err(), "{f:?} compiled: {r:?}");
            assert!(!r
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .is_empty());
        }
        // At the limits: 8 alternatives, 6 tests.
        assert!(compile(
            "(port 1 or port 2 or port 3 or port 4) and (host 1.1.1.1 or host 2.2.2.2)"
        )
        .is_ok());
        assert!(compile("tcp and port 1 and port 2 and port 3 and port 4 and port 5").is_ok());
    }

    #[test]
    fn compiled_program_layout() {
        let p = compile("tcp and port 5001").unwrap_or_default();
        assert_eq!((p.enabled, p.n_terms, p.terms[0].n), (1, 1, 2));
        assert_eq!(p.terms[0].prims[0].kind, K_PROTO);
        assert_eq!(p.terms[0].prims[1].kind, K_PORT);
        assert_eq!(
            (p.terms[0].prims[1].lo, p.terms[0].prims[1].hi),
            (5001, 5001)
        );
        let p = compile("not icmp").unwrap_or_default();
        assert_eq!((p.n_terms, p.terms[0].n), (1, 1));
        assert_eq!(p.terms[0].prims[0].flags & F_NEG, F_NEG);
        // De Morgan: not (a and b) is two alternatives.
        let p = compile("not (tcp and port 22)").unwrap_or_default();
        assert_eq!(p.n_terms, 2);
    }
}

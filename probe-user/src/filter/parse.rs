//! The lexer and the recursive-descent parser. Recursion is bounded by
//! `MAX_DEPTH` (parentheses and `not`); `and`/`or` chains are loops that build
//! n-ary nodes, so no input can overflow the stack.

use super::names::{protocol_number, service_port};
use super::{
    mask_from_prefix, Dir, Expr, FilterError, Flag, Metric, Net, Op, Prim, Proto, Value,
    ENCAPS_NAMES, MAX_DEPTH, MAX_EXPR_BYTES, MAX_TOKENS, TCP_OPTIONS,
};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    LParen,
    RParen,
    /// `!`
    Bang,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    Op(Op),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// 1-based character column.
    col: usize,
    text: String,
}

fn is_special(c: char) -> bool {
    matches!(c, '(' | ')' | '!' | '&' | '|' | '<' | '>' | '=')
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if toks.len() >= MAX_TOKENS {
            return Err(FilterError::TooManyTokens { max: MAX_TOKENS });
        }
        let col = i + 1;
        let next = chars.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('!', Some('=')) => (Tok::Op(Op::Ne), 2),
            ('!', _) => (Tok::Bang, 1),
            ('&', Some('&')) => (Tok::AndAnd, 2),
            ('|', Some('|')) => (Tok::OrOr, 2),
            ('>', Some('=')) => (Tok::Op(Op::Ge), 2),
            ('>', _) => (Tok::Op(Op::Gt), 1),
            ('<', Some('=')) => (Tok::Op(Op::Le), 2),
            ('<', _) => (Tok::Op(Op::Lt), 1),
            ('=', Some('=')) => (Tok::Op(Op::Eq), 2),
            ('=', _) => (Tok::Op(Op::Eq), 1),
            ('&' | '|', _) => {
                return Err(FilterError::Syntax {
                    message: format!("unexpected '{c}': use 'and' / '&&' or 'or' / '||'"),
                    column: col,
                })
            }
            _ => {
                let mut j = i;
                while j < chars.len() && !chars[j].is_whitespace() && !is_special(chars[j]) {
                    j += 1;
                }
                let w: String = chars[i..j].iter().collect();
                (Tok::Word(w), j - i)
            }
        };
        let text: String = chars[i..i + len].iter().collect();
        toks.push(Token { tok, col, text });
        i += len;
    }
    Ok(toks)
}

/// What a bare value re-uses from the primitive before it (`host a and b`).
#[derive(Clone, Copy, Debug)]
enum Template {
    Host(Dir),
    Net(Dir),
    Port(Dir, Option<Proto>),
    EtherHost(Dir),
    Vid(Dir),
    Vpri(Dir),
    Mid(Dir),
    Srcid,
    Cmp(Dir, Metric, Op),
}

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "src",
    "dst",
    "host",
    "net",
    "mask",
    "port",
    "proto",
    "ether",
    "ip",
    "ipv4",
    "ipv6",
    "tcp",
    "udp",
    "icmp",
    "igmp",
    "arp",
    "rarp",
    "man",
    "multicast",
    "broadcast",
    "vid",
    "vpri",
    "mpls",
    "mid",
    "srcid",
    "pkts",
    "bytes",
    "appbytes",
    "ttl",
    "tos",
    "loss",
    "rate",
    "load",
    "dur",
    "gt",
    "gte",
    "ge",
    "lt",
    "lte",
    "le",
    "eq",
    "ne",
    "est",
    "seq",
    "pcr",
    "ploss",
    "encaps",
    "tcpopt",
    "gateway",
];

fn is_keyword(w: &str) -> bool {
    KEYWORDS.contains(&w)
        || Flag::from_name(w).is_some()
        || tcp_option(w).is_some()
        || protocol_number(w).is_some()
}

fn tcp_option(w: &str) -> Option<u16> {
    TCP_OPTIONS.iter().find(|(n, _)| *n == w).map(|(_, b)| *b)
}

fn metric_of(w: &str) -> Option<Metric> {
    Some(match w {
        "pkts" => Metric::Pkts,
        "bytes" => Metric::Bytes,
        "appbytes" => Metric::AppBytes,
        "ttl" => Metric::Ttl,
        "tos" => Metric::Tos,
        "loss" => Metric::Loss,
        "rate" => Metric::Rate,
        "load" => Metric::Load,
        "dur" => Metric::Dur,
        "seq" => Metric::Seq,
        "pcr" => Metric::Pcr,
        "ploss" => Metric::PLoss,
        _ => return None,
    })
}

fn op_word(w: &str) -> Option<Op> {
    Some(match w {
        "gt" => Op::Gt,
        "gte" | "ge" => Op::Ge,
        "lt" => Op::Lt,
        "lte" | "le" => Op::Le,
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        _ => return None,
    })
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    last: Option<Template>,
    /// Column just past the end of the text, for errors at the end.
    end_col: usize,
}

pub(super) fn parse(text: &str) -> Result<Expr, FilterError> {
    if text.len() > MAX_EXPR_BYTES {
        return Err(FilterError::TooLong {
            len: text.len(),
            max: MAX_EXPR_BYTES,
        });
    }
    let toks = lex(text)?;
    if toks.is_empty() {
        return Err(FilterError::Empty);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        last: None,
        end_col: text.chars().count() + 1,
    };
    let e = p.expr()?;
    if let Some(t) = p.peek() {
        let msg = if t.tok == Tok::RParen {
            "unmatched ')'".to_string()
        } else {
            format!("expected 'and' or 'or', found '{}'", t.text)
        };
        return Err(p.err_at(msg, t.col));
    }
    Ok(e)
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }
    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Token {
                tok: Tok::Word(w), ..
            }) => Some(w),
            _ => None,
        }
    }
    fn peek_word_at(&self, ahead: usize) -> Option<&str> {
        match self.toks.get(self.pos + ahead) {
            Some(Token {
                tok: Tok::Word(w), ..
            }) => Some(w),
            _ => None,
        }
    }
    fn col(&self) -> usize {
        self.peek().map_or(self.end_col, |t| t.col)
    }
    fn err_at(&self, message: String, column: usize) -> FilterError {
        FilterError::Syntax { message, column }
    }
    /// The text of the tokens from `start` to the current position.
    fn context(&self, start: usize) -> String {
        self.toks[start..self.pos.min(self.toks.len())]
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
    /// "expected WHAT after 'CONTEXT', found 'X'" at the current token.
    fn expected(&self, what: &str, start: usize) -> FilterError {
        let found = match self.peek() {
            Some(t) => format!("'{}'", t.text),
            None => "the end of the expression".to_string(),
        };
        let ctx = self.context(start);
        let msg = if ctx.is_empty() {
            format!("expected {what}, found {found}")
        } else {
            format!("expected {what} after '{ctx}', found {found}")
        };
        self.err_at(msg, self.col())
    }
    /// Takes the next word, if it is one.
    fn word(&mut self) -> Option<(String, usize)> {
        match self.peek() {
            Some(Token {
                tok: Tok::Word(w),
                col,
                ..
            }) => {
                let r = (w.clone(), *col);
                self.pos += 1;
                Some(r)
            }
            _ => None,
        }
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.peek_word() == Some(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.term()?];
        let mut and: Option<bool> = None;
        loop {
            let is_and = match self.peek().map(|t| &t.tok) {
                Some(Tok::AndAnd) => true,
                Some(Tok::OrOr) => false,
                Some(Tok::Word(w)) if w == "and" => true,
                Some(Tok::Word(w)) if w == "or" => false,
                _ => break,
            };
            self.pos += 1;
            let rhs = self.term()?;
            match and {
                Some(op) if op != is_and => {
                    let node = make(op, std::mem::take(&mut items));
                    items = vec![node, rhs];
                }
                _ => items.push(rhs),
            }
            and = Some(is_and);
        }
        Ok(match and {
            None => items.pop().ok_or(FilterError::Empty)?,
            Some(op) => make(op, items),
        })
    }

    fn enter(&mut self, col: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::TooDeep {
                max: MAX_DEPTH,
                column: col,
            });
        }
        Ok(())
    }

    fn term(&mut self) -> Result<Expr, FilterError> {
        let start = self.pos;
        let Some(t) = self.peek().cloned() else {
            let ctx = if self.pos > 0 {
                self.toks[self.pos - 1].text.clone()
            } else {
                String::new()
            };
            return Err(self.err_at(
                format!("expected a primitive after '{ctx}', found the end of the expression"),
                self.end_col,
            ));
        };
        match &t.tok {
            Tok::LParen => {
                self.enter(t.col)?;
                self.pos += 1;
                let e = self.expr()?;
                if self.peek().map(|t| &t.tok) != Some(&Tok::RParen) {
                    let found = self
                        .peek()
                        .map_or("the end of the expression".to_string(), |t| {
                            format!("'{}'", t.text)
                        });
                    return Err(self.err_at(
                        format!(
                            "expected ')' to close '(' at column {}, found {found}",
                            t.col
                        ),
                        self.col(),
                    ));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(e)
            }
            Tok::Bang => self.not(t.col),
            Tok::Word(w) if w == "not" => self.not(t.col),
            Tok::RParen => Err(self.err_at("unexpected ')'".into(), t.col)),
            Tok::AndAnd | Tok::OrOr => {
                Err(self.err_at(format!("expected a primitive, found '{}'", t.text), t.col))
            }
            Tok::Op(op) => match self.last {
                Some(Template::Cmp(dir, m, _)) => {
                    self.pos += 1;
                    self.value(Template::Cmp(dir, m, *op), start)
                }
                _ => Err(self.err_at(
                    format!(
                        "'{}' needs a metric before it, as in 'pkts {} 10'",
                        t.text, t.text
                    ),
                    t.col,
                )),
            },
            Tok::Word(w) => {
                if let (Some(op), Some(Template::Cmp(dir, m, _))) = (op_word(w), self.last) {
                    self.pos += 1;
                    return self.value(Template::Cmp(dir, m, op), start);
                }
                if is_keyword(w) {
                    return self.primitive();
                }
                match self.last {
                    Some(tpl) => self.value(tpl, start),
                    None => Err(self.err_at(format!("unknown keyword '{w}'"), t.col)),
                }
            }
        }
    }

    fn not(&mut self, col: usize) -> Result<Expr, FilterError> {
        self.enter(col)?;
        self.pos += 1;
        let e = self.term()?;
        self.depth -= 1;
        Ok(Expr::Not(Box::new(e)))
    }

    /// `src`, `dst`, `src or dst`, `src and dst` (and the reversed forms), if present.
    fn dir(&mut self) -> Option<Dir> {
        let first = match self.peek_word() {
            Some("src") => Dir::Src,
            Some("dst") => Dir::Dst,
            _ => return None,
        };
        self.pos += 1;
        let other = if first == Dir::Src { "dst" } else { "src" };
        match (self.peek_word(), self.peek_word_at(1)) {
            (Some("or"), Some(o)) if o == other => {
                self.pos += 2;
                Some(Dir::Either)
            }
            (Some("and"), Some(o)) if o == other => {
                self.pos += 2;
                Some(Dir::Both)
            }
            _ => Some(first),
        }
    }

    fn primitive(&mut self) -> Result<Expr, FilterError> {
        let start = self.pos;
        let Some(w) = self.peek_word().map(str::to_string) else {
            return Err(self.expected("a primitive", start));
        };
        match w.as_str() {
            "src" | "dst" => {
                let dir = self.dir().unwrap_or_default();
                self.qualified(dir, None, start)
            }
            "host" | "net" | "port" | "vid" | "vpri" | "mid" | "srcid" | "pkts" | "bytes"
            | "appbytes" | "ttl" | "tos" | "loss" | "rate" | "load" | "dur" | "seq" | "pcr"
            | "ploss" => self.qualified(Dir::Either, None, start),
            "tcp" | "udp" => {
                self.pos += 1;
                let p = if w == "tcp" { Proto::Tcp } else { Proto::Udp };
                match self.peek_word() {
                    Some("port" | "src" | "dst") => {
                        let dir = self.dir().unwrap_or_default();
                        if self.peek_word() != Some("port") {
                            return Err(self.expected("'port'", start));
                        }
                        self.qualified(dir, Some(p), start)
                    }
                    _ => Ok(Expr::Prim(Prim::Proto(p))),
                }
            }
            "ip" | "ipv4" | "ipv6" | "proto" => {
                let p = match w.as_str() {
                    "ipv4" => Proto::Ipv4,
                    "ipv6" => Proto::Ipv6,
                    _ => Proto::Ip,
                };
                if w != "proto" {
                    self.pos += 1;
                }
                match self.peek_word() {
                    Some("proto") => {
                        self.pos += 1;
                        let n = self.ip_proto_value(start)?;
                        let e = Expr::Prim(Prim::Proto(Proto::IpProto(n)));
                        Ok(if p == Proto::Ip {
                            e
                        } else {
                            Expr::And(vec![Expr::Prim(Prim::Proto(p)), e])
                        })
                    }
                    Some(c @ ("multicast" | "broadcast")) => {
                        let broadcast = c == "broadcast";
                        if p == Proto::Ipv6 && broadcast {
                            return Err(self.err_at(
                                "IPv6 has no broadcast; use 'ipv6 multicast'".into(),
                                self.col(),
                            ));
                        }
                        self.pos += 1;
                        Ok(Expr::Prim(Prim::IpCast {
                            v6: p == Proto::Ipv6,
                            broadcast,
                        }))
                    }
                    Some("host" | "net" | "src" | "dst") => {
                        let dir = self.dir().unwrap_or_default();
                        let q = self.qualified(dir, None, start)?;
                        Ok(Expr::And(vec![Expr::Prim(Prim::Proto(p)), q]))
                    }
                    _ => Ok(Expr::Prim(Prim::Proto(p))),
                }
            }
            "ether" => {
                self.pos += 1;
                match self.peek_word() {
                    Some("proto") => {
                        self.pos += 1;
                        let n = self.ether_proto_value(start)?;
                        Ok(Expr::Prim(Prim::Proto(Proto::EtherProto(n))))
                    }
                    Some(c @ ("multicast" | "broadcast")) => {
                        let broadcast = c == "broadcast";
                        self.pos += 1;
                        Ok(Expr::Prim(Prim::EtherCast { broadcast }))
                    }
                    Some("host" | "src" | "dst") => {
                        let dir = self.dir().unwrap_or_default();
                        self.eat_word("host");
                        self.value(Template::EtherHost(dir), start)
                    }
                    _ => Err(self.expected(
                        "'proto', 'host', 'src', 'dst', 'multicast' or 'broadcast'",
                        start,
                    )),
                }
            }
            "icmp" | "igmp" | "arp" | "rarp" | "man" => {
                self.pos += 1;
                Ok(Expr::Prim(Prim::Proto(match w.as_str() {
                    "icmp" => Proto::Icmp,
                    "igmp" => Proto::Igmp,
                    "arp" => Proto::Arp,
                    "rarp" => Proto::Rarp,
                    _ => Proto::Man,
                })))
            }
            "multicast" | "broadcast" => {
                self.pos += 1;
                Ok(Expr::Prim(Prim::IpCast {
                    v6: false,
                    broadcast: w == "broadcast",
                }))
            }
            "mpls" => {
                self.pos += 1;
                Ok(Expr::Prim(Prim::Mpls))
            }
            "encaps" => {
                self.pos += 1;
                let Some((v, col)) = self.word_value() else {
                    return Err(self.expected("an encapsulation name (eth, 802q, mpls ...)", start));
                };
                match ENCAPS_NAMES.iter().find(|(n, _)| *n == v) {
                    Some((name, mask)) => Ok(Expr::Prim(Prim::Encaps { name, mask: *mask })),
                    None => Err(self.err_at(
                        format!(
                            "unknown encapsulation '{v}': expected one of {}",
                            ENCAPS_NAMES
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                        col,
                    )),
                }
            }
            "tcpopt" => {
                self.pos += 1;
                match self.peek_word().and_then(tcp_option) {
                    Some(bits) => {
                        self.pos += 1;
                        Ok(Expr::Prim(Prim::TcpOpt(bits)))
                    }
                    None => Err(self.expected(
                        "a TCP option (mss wscale selackok selack tcpecho tcpechoreply tcptimestamp tcpcc tcpccnew tcpccecho secn decn)",
                        start,
                    )),
                }
            }
            "gateway" => {
                self.pos += 1;
                let Some((v, col)) = self.word_value() else {
                    return Err(self.expected("a host name", start));
                };
                self.gateway(&v, col)
            }
            _ => {
                if let Some(bits) = tcp_option(&w) {
                    self.pos += 1;
                    return Ok(Expr::Prim(Prim::TcpOpt(bits)));
                }
                if let Some(flag) = Flag::from_name(&w) {
                    self.pos += 1;
                    return Ok(Expr::Prim(Prim::Flag {
                        dir: Dir::Either,
                        flag,
                    }));
                }
                if let Some(n) = protocol_number(&w) {
                    self.pos += 1;
                    return Ok(Expr::Prim(Prim::Proto(Proto::IpProto(n))));
                }
                Err(self.err_at(format!("'{w}' cannot start a primitive here"), self.col()))
            }
        }
    }

    /// After an optional direction (and protocol for ports): the qualifier word
    /// and its value.
    fn qualified(
        &mut self,
        dir: Dir,
        proto: Option<Proto>,
        start: usize,
    ) -> Result<Expr, FilterError> {
        let Some(w) = self.peek_word().map(str::to_string) else {
            return Err(self.expected("'host', 'net', 'port' or a metric", start));
        };
        if let Some(m) = metric_of(&w) {
            self.pos += 1;
            let op = match self.peek() {
                Some(Token {
                    tok: Tok::Op(op), ..
                }) => {
                    let op = *op;
                    self.pos += 1;
                    op
                }
                Some(Token {
                    tok: Tok::Word(o), ..
                }) => match op_word(o) {
                    Some(op) => {
                        self.pos += 1;
                        op
                    }
                    None => Op::Eq,
                },
                _ => Op::Eq,
            };
            return self.value(Template::Cmp(dir, m, op), start);
        }
        if let Some(flag) = Flag::from_name(&w) {
            if !flag.takes_dir() && dir != Dir::Either {
                return Err(self.err_at(
                    format!("'{w}' does not take a direction qualifier"),
                    self.col(),
                ));
            }
            self.pos += 1;
            return Ok(Expr::Prim(Prim::Flag { dir, flag }));
        }
        let tpl = match w.as_str() {
            "host" => Template::Host(dir),
            "net" => Template::Net(dir),
            "port" => Template::Port(dir, proto),
            "vid" => Template::Vid(dir),
            "vpri" => Template::Vpri(dir),
            "mid" => Template::Mid(dir),
            "srcid" if dir == Dir::Either => Template::Srcid,
            "ether" if dir != Dir::Either => {
                self.pos += 1;
                self.eat_word("host");
                return self.value(Template::EtherHost(dir), start);
            }
            _ if !is_keyword(&w) && dir != Dir::Either => {
                // `src 10.0.0.1`, `dst 10.0.0.0/8`: a host or a net.
                let tpl = if w.contains('/') {
                    Template::Net(dir)
                } else {
                    Template::Host(dir)
                };
                return self.value(tpl, start);
            }
            _ => {
                return Err(
                    self.expected("'host', 'net', 'port', 'ether', a metric or a flag", start)
                )
            }
        };
        self.pos += 1;
        self.value(tpl, start)
    }

    /// Reads the value of a template and remembers the template for later bare values.
    fn value(&mut self, tpl: Template, start: usize) -> Result<Expr, FilterError> {
        let what = match tpl {
            Template::Host(_) => "an IPv4 or IPv6 address",
            Template::Net(_) => "a network (ADDR/LEN or ADDR mask MASK)",
            Template::Port(..) => "a port",
            Template::EtherHost(_) => "a MAC address",
            Template::Vid(_) => "a VLAN id",
            Template::Vpri(_) => "a VLAN priority",
            Template::Mid(_) => "an MPLS label",
            Template::Srcid => "a source id",
            Template::Cmp(..) => "a number",
        };
        let Some((v, col)) = self.word_value() else {
            return Err(self.expected(what, start));
        };
        let bad = |msg: String| FilterError::Syntax {
            message: msg,
            column: col,
        };
        let prim = match tpl {
            Template::Host(dir) => {
                if v.contains('/') {
                    return Err(bad(format!("'{v}' is a network: use 'net {v}'")));
                }
                match v.parse::<IpAddr>() {
                    Ok(addr) => Prim::Host { dir, addr },
                    Err(_) => {
                        let addrs = resolve_host(&v).map_err(bad)?;
                        self.last = Some(tpl);
                        return Ok(any_host(dir, &addrs));
                    }
                }
            }
            Template::Net(dir) => Prim::Net {
                dir,
                net: self.net_value(&v, col)?,
            },
            Template::Port(dir, _) => {
                let (lo, hi) = port_value(&v).map_err(bad)?;
                Prim::Port { dir, lo, hi }
            }
            Template::EtherHost(dir) => Prim::EtherHost {
                dir,
                mac: mac_value(&v).ok_or_else(|| {
                    bad(format!(
                        "bad MAC address '{v}': expected six hex bytes like 00:11:22:aa:bb:cc"
                    ))
                })?,
            },
            Template::Vid(dir) => Prim::Vid {
                dir,
                vid: int_value(&v, 4095, "VLAN id").map_err(bad)? as u16,
            },
            Template::Vpri(dir) => Prim::Vpri {
                dir,
                pri: int_value(&v, 7, "VLAN priority").map_err(bad)? as u8,
            },
            Template::Mid(dir) => Prim::Mid {
                dir,
                label: int_value(&v, 0xf_ffff, "MPLS label").map_err(bad)? as u32,
            },
            Template::Srcid => {
                let id = match v.parse::<Ipv4Addr>() {
                    Ok(a) => u32::from(a),
                    Err(_) => int_value(&v, u64::from(u32::MAX), "source id").map_err(bad)? as u32,
                };
                Prim::Srcid(id)
            }
            Template::Cmp(dir, metric, op) => {
                let value = if metric.is_float() {
                    Value::Float(float_value(&v).map_err(bad)?)
                } else {
                    Value::Int(int_value(&v, metric.max(), metric.name()).map_err(bad)?)
                };
                Prim::Cmp {
                    dir,
                    metric,
                    op,
                    value,
                }
            }
        };
        self.last = Some(tpl);
        let e = Expr::Prim(prim);
        Ok(match tpl {
            Template::Port(_, Some(p)) => Expr::And(vec![Expr::Prim(Prim::Proto(p)), e]),
            _ => e,
        })
    }

    /// The next token as a value word (keywords included, for good errors).
    fn word_value(&mut self) -> Option<(String, usize)> {
        match self.peek_word() {
            Some(w) if !matches!(w, "and" | "or" | "not") => self.word(),
            _ => None,
        }
    }

    fn net_value(&mut self, v: &str, col: usize) -> Result<Net, FilterError> {
        let bad = |message: String| FilterError::Syntax {
            message,
            column: col,
        };
        if let Some((a, len)) = v.split_once('/') {
            let addr: IpAddr = a.parse().map_err(|_| {
                bad(format!(
                    "bad network '{v}': '{a}' is not an IPv4 or IPv6 address"
                ))
            })?;
            let max = if addr.is_ipv6() { 128 } else { 32 };
            let len: u32 = len.parse().ok().filter(|l| *l <= max).ok_or_else(|| {
                bad(format!(
                    "bad network '{v}': the prefix length must be 0 to {max}"
                ))
            })?;
            return Ok(Net::new(addr, mask_from_prefix(len, addr.is_ipv6())));
        }
        let addr: IpAddr = v.parse().map_err(|_| {
            bad(format!(
                "bad network '{v}': expected ADDR/LEN or ADDR mask MASK"
            ))
        })?;
        if !self.eat_word("mask") {
            return Err(bad(format!(
                "network '{v}' needs a prefix length ('{v}/24') or 'mask MASK'"
            )));
        }
        let Some((m, mcol)) = self.word_value() else {
            return Err(self.expected("a mask", self.pos.saturating_sub(3)));
        };
        let mask_addr: IpAddr = m.parse().map_err(|_| FilterError::Syntax {
            message: format!("bad mask '{m}': expected an address like 255.255.0.0"),
            column: mcol,
        })?;
        let mask = match (addr, mask_addr) {
            (IpAddr::V4(_), IpAddr::V4(mk)) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&mk.octets());
                b
            }
            (IpAddr::V6(_), IpAddr::V6(mk)) => mk.octets(),
            _ => {
                return Err(FilterError::Syntax {
                    message: format!("mask '{m}' is not of the same family as '{v}'"),
                    column: mcol,
                })
            }
        };
        Ok(Net::new(addr, mask))
    }

    fn ip_proto_value(&mut self, start: usize) -> Result<u8, FilterError> {
        let Some((v, col)) = self.word_value() else {
            return Err(self.expected("a protocol number or name", start));
        };
        if let Ok(n) = parse_u64(&v) {
            return u8::try_from(n).map_err(|_| FilterError::Syntax {
                message: format!("IP protocol {v} is out of range (0-255)"),
                column: col,
            });
        }
        let named = match v.as_str() {
            "tcp" => Some(6),
            "udp" => Some(17),
            "icmp" => Some(1),
            "igmp" => Some(2),
            _ => protocol_number(&v),
        };
        named.ok_or_else(|| FilterError::Syntax {
            message: format!("unknown IP protocol '{v}'"),
            column: col,
        })
    }

    fn ether_proto_value(&mut self, start: usize) -> Result<u16, FilterError> {
        let Some((v, col)) = self.word_value() else {
            return Err(self.expected("an ethertype", start));
        };
        let named = match v.as_str() {
            "ip" | "ipv4" => Some(0x0800),
            "ipv6" => Some(0x86dd),
            "arp" => Some(0x0806),
            "rarp" => Some(0x8035),
            _ => None,
        };
        if let Some(n) = named {
            return Ok(n);
        }
        let n = parse_u64(&v).map_err(|_| FilterError::Syntax {
            message: format!(
                "bad ethertype '{v}': expected a number (0x0800) or ip, ipv6, arp, rarp"
            ),
            column: col,
        })?;
        u16::try_from(n).map_err(|_| FilterError::Syntax {
            message: format!("ethertype {v} is out of range (0-0xffff)"),
            column: col,
        })
    }
}

impl Parser {
    /// `gateway H`: packets relayed by H, as in tcpdump: H's MAC address (from
    /// `/etc/ethers`) on either side and none of H's IP addresses.
    fn gateway(&mut self, v: &str, col: usize) -> Result<Expr, FilterError> {
        let bad = |message: String| FilterError::Syntax {
            message,
            column: col,
        };
        let ethers = std::fs::read_to_string("/etc/ethers").unwrap_or_default();
        let mac = ether_lookup(&ethers, v).ok_or_else(|| {
            bad(format!(
                "gateway '{v}' has no MAC address in /etc/ethers: add a line 'MAC {v}' there, or write 'ether host MAC and not host ADDR'"
            ))
        })?;
        let addrs = match v.parse::<IpAddr>() {
            Ok(a) => vec![a],
            Err(_) => resolve_host(v).map_err(bad)?,
        };
        Ok(Expr::And(vec![
            Expr::Prim(Prim::EtherHost {
                dir: Dir::Either,
                mac,
            }),
            Expr::Not(Box::new(any_host(Dir::Either, &addrs))),
        ]))
    }
}

/// The MAC address `/etc/ethers` text gives `name` (lines `MAC name`, `#` comments).
pub(super) fn ether_lookup(ethers: &str, name: &str) -> Option<[u8; 6]> {
    ethers.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut w = line.split_whitespace();
        let (mac, host) = (w.next()?, w.next()?);
        if host.eq_ignore_ascii_case(name) {
            mac_value(mac)
        } else {
            None
        }
    })
}

/// Resolves a host name once, through the system resolver (`/etc/hosts` first,
/// as `/etc/nsswitch.conf` says). The addresses come back sorted, without repeats.
fn resolve_host(name: &str) -> Result<Vec<IpAddr>, String> {
    use std::net::ToSocketAddrs;
    if name.contains(':') || name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!(
            "bad host address '{name}': expected an IPv4 or IPv6 address or a host name"
        ));
    }
    let ok_name = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !ok_name {
        return Err(format!(
            "bad host '{name}': expected an IPv4 or IPv6 address or a host name"
        ));
    }
    let mut addrs: Vec<IpAddr> = (name, 0u16)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host name '{name}': {e}"))?
        .map(|sa| sa.ip())
        .collect();
    addrs.sort();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("host name '{name}' has no addresses"));
    }
    Ok(addrs)
}

/// `host A` for one address, `(host A or host B ...)` for several.
fn any_host(dir: Dir, addrs: &[IpAddr]) -> Expr {
    if let [addr] = addrs {
        return Expr::Prim(Prim::Host { dir, addr: *addr });
    }
    Expr::Or(
        addrs
            .iter()
            .map(|&addr| Expr::Prim(Prim::Host { dir, addr }))
            .collect(),
    )
}

fn make(and: bool, items: Vec<Expr>) -> Expr {
    if and {
        Expr::And(items)
    } else {
        Expr::Or(items)
    }
}

/// Decimal or 0x hex, no suffix.
fn parse_u64(v: &str) -> Result<u64, ()> {
    let r = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None if v.bytes().all(|b| b.is_ascii_digit()) => v.parse(),
        None => return Err(()),
    };
    r.map_err(|_| ())
}

/// Splits a k/M/G suffix (powers of 1000).
fn suffix(v: &str) -> (&str, u64) {
    match v.as_bytes().last() {
        Some(b'k' | b'K') => (&v[..v.len() - 1], 1_000),
        Some(b'M') => (&v[..v.len() - 1], 1_000_000),
        Some(b'G') => (&v[..v.len() - 1], 1_000_000_000),
        _ => (v, 1),
    }
}

fn int_value(v: &str, max: u64, what: &str) -> Result<u64, String> {
    let (digits, mult) = if v.starts_with("0x") || v.starts_with("0X") {
        (v, 1)
    } else {
        suffix(v)
    };
    let n = parse_u64(digits).map_err(|_| {
        if digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty() {
            format!("{what} {v} is out of range (0-{max})")
        } else {
            format!("bad {what} '{v}': expected a whole number")
        }
    })?;
    n.checked_mul(mult)
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("{what} {v} is out of range (0-{max})"))
}

fn float_value(v: &str) -> Result<f64, String> {
    let (digits, mult) = suffix(v);
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| {
            b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E' || b == b'-' || b == b'+'
        })
        && digits.as_bytes()[0] != b'-';
    let x: f64 = if ok {
        digits.parse().map_err(|_| ())
    } else {
        Err(())
    }
    .map_err(|_| format!("bad number '{v}': expected a number like 10, 1.5 or 2k"))?;
    let x = x * mult as f64;
    if !x.is_finite() || x < 0.0 {
        return Err(format!("number '{v}' is out of range"));
    }
    Ok(x)
}

/// A port number, service name or range `lo-hi`.
fn port_value(v: &str) -> Result<(u16, u16), String> {
    let one = |s: &str| -> Result<u16, String> {
        if let Some(p) = service_port(s) {
            return Ok(p);
        }
        match parse_u64(s) {
            Ok(n) => u16::try_from(n).map_err(|_| format!("port {s} is out of range (0-65535)")),
            Err(()) => Err(format!(
                "unknown port '{s}': not a number or an /etc/services name"
            )),
        }
    };
    if let Some(p) = service_port(v) {
        return Ok((p, p));
    }
    if let Some((a, b)) = v.split_once('-') {
        if !a.is_empty() && !b.is_empty() {
            let (lo, hi) = (one(a)?, one(b)?);
            if lo > hi {
                return Err(format!("bad port range '{v}': {lo} is above {hi}"));
            }
            return Ok((lo, hi));
        }
    }
    let p = one(v)?;
    Ok((p, p))
}

fn mac_value(v: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut n = 0;
    for part in v.split([':', '-']) {
        if n == 6 || part.is_empty() || part.len() > 2 {
            return None;
        }
        mac[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(mac)
}

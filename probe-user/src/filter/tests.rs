use super::*;
use crate::record::{flag, tcpstate, Cause, FlowKey, KeyClass, RecordKind, TcpPerf};
use ocellus_common::{ipproto, AUX_FRAGMENT};
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn v4(class: KeyClass, proto: u8, s: [u8; 4], sp: u16, d: [u8; 4], dp: u16) -> FlowRecord {
    let mut k = FlowKey::ZERO;
    k.src[..4].copy_from_slice(&s);
    k.dst[..4].copy_from_slice(&d);
    k.sport = sp;
    k.dport = dp;
    k.proto = proto;
    k.class = class as u8;
    let mut r = FlowRecord {
        key: k,
        flags: flag::FIRST,
        ..FlowRecord::default()
    };
    r.src.pkts = 3;
    r.src.bytes = 300;
    r.src.ttl = 64;
    r.stime_ns = 1_000_000_000;
    r.ltime_ns = 3_000_000_000;
    r
}

fn tcp(sp: u16, dp: u16, state: u32) -> FlowRecord {
    let mut r = v4(
        KeyClass::Ipv4,
        ipproto::TCP,
        [10, 0, 0, 1],
        sp,
        [10, 0, 0, 2],
        dp,
    );
    r.tcp = Some(TcpPerf {
        state,
        ..TcpPerf::default()
    });
    r
}

fn udp(s: [u8; 4], sp: u16, d: [u8; 4], dp: u16) -> FlowRecord {
    v4(KeyClass::Ipv4, ipproto::UDP, s, sp, d, dp)
}

fn v6(proto: u8, d: [u8; 16]) -> FlowRecord {
    let mut r = udp([0; 4], 1000, [0; 4], 53);
    r.key.class = KeyClass::Ipv6 as u8;
    r.key.proto = proto;
    r.key.src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    r.key.dst = d;
    r
}

fn m(f: &str, r: &FlowRecord) -> bool {
    Filter::parse(f)
        .unwrap_or_else(|e| panic!("{f}: {e}"))
        .matches(r)
}

fn err(f: &str) -> String {
    Filter::parse(f).expect_err(f).to_string()
}

#[test]
fn protocols() {
    let t = tcp(1000, 80, 0);
    let u = udp([1, 1, 1, 1], 5, [2, 2, 2, 2], 6);
    let arp = v4(KeyClass::Arp, 0, [1, 1, 1, 1], 0, [2, 2, 2, 2], 0);
    let esp = v4(KeyClass::Ipv4, ipproto::ESP, [1; 4], 0, [2; 4], 0);
    let six = v6(
        ipproto::ICMPV6,
        [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    assert!(m("tcp", &t) && !m("tcp", &u) && !m("udp", &t) && m("udp", &u));
    assert!(m("ip", &t) && m("ipv4", &t) && !m("ipv6", &t) && !m("ip", &arp));
    assert!(m("arp", &arp) && !m("rarp", &arp) && !m("arp", &t));
    assert!(m("esp", &esp) && m("ip proto 50", &esp) && !m("esp", &t));
    assert!(m("ip proto 6", &t) && m("ip proto tcp", &t) && m("ipv4 proto 6", &t));
    assert!(m("ipv6-icmp", &six) && m("icmp6", &six) && m("ipv6", &six) && !m("icmp", &six));
    assert!(m("ether proto 0x0800", &t) && m("ether proto 2048", &t));
    assert!(m("ether proto 0x0806", &arp) && !m("ether proto 0x86dd", &t));
    assert!(m("ether proto 0x86dd", &six) && m("ether proto ipv6", &six));
    let mut nonip = v4(KeyClass::Ether, 0, [0; 4], 0, [0; 4], 0);
    nonip.key.aux = 0x88cc;
    assert!(m("ether proto 0x88cc", &nonip) && !m("ip", &nonip));
}

#[test]
fn man_records_match_only_man() {
    let mut r = tcp(1, 2, 0);
    r.kind = RecordKind::ManStart;
    assert!(m("man", &r));
    for f in [
        "tcp",
        "ip",
        "pkts gt 0",
        "srcid 0",
        "start",
        "port 1",
        "host 10.0.0.1",
    ] {
        assert!(!m(f, &r), "{f}");
    }
    assert!(!m("man", &tcp(1, 2, 0)));
    assert!(Filter::parse("tcp or man").unwrap().mentions_man());
    assert!(!Filter::parse("tcp").unwrap().mentions_man());
}

#[test]
fn hosts_nets_and_directions() {
    let r = udp([10, 1, 2, 3], 1000, [192, 168, 0, 9], 53);
    assert!(m("host 10.1.2.3", &r) && m("host 192.168.0.9", &r));
    assert!(m("src host 10.1.2.3", &r) && !m("dst host 10.1.2.3", &r));
    assert!(m("src 10.1.2.3", &r) && m("dst 192.168.0.0/16", &r));
    assert!(m("host 10.1.2.3 and 192.168.0.9", &r));
    assert!(!m("host 10.1.2.3 and 192.168.0.8", &r));
    assert!(m("src or dst host 192.168.0.9", &r));
    assert!(!m("src and dst host 192.168.0.9", &r));
    assert!(m("src and dst net 0.0.0.0/0", &r));
    assert!(m("net 10.0.0.0/8", &r) && !m("net 11.0.0.0/8", &r));
    assert!(m("net 10.1.0.0 mask 255.255.0.0", &r));
    assert!(m("dst net 192.168.0.0 mask 255.255.255.0", &r));
    assert!(!m("src net 192.168.0.0 mask 255.255.255.0", &r));
    let s = v6(
        ipproto::UDP,
        [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    assert!(m("host 2001:db8::1", &s) && m("net 2001:db8::/32", &s) && !m("net 2001:db9::/32", &s));
    assert!(!m("host 10.1.2.3", &s) && !m("net 0.0.0.0/0", &s) && m("net ::/0", &s));
    let arp = v4(KeyClass::Arp, 0, [10, 0, 0, 1], 0, [10, 0, 0, 2], 0);
    assert!(m("host 10.0.0.2", &arp));
}

#[test]
fn ports() {
    let r = tcp(40000, 80, 0);
    assert!(m("port 80", &r) && m("dst port 80", &r) && !m("src port 80", &r));
    assert!(m("port http", &r) && m("tcp port 80", &r) && !m("udp port 80", &r));
    assert!(m("port 53 or 80", &r) && m("port 1-100", &r) && !m("port 81-100", &r));
    assert!(m("src port 40000-40000", &r) && m("tcp dst port http", &r));
    assert!(m("port 22 or 443 or 80", &r) && !m("port 22 or 443", &r));
    let d = udp([1; 4], 5353, [2; 4], 53);
    assert!(m("udp port domain", &d) && m("port 53", &d));
    let icmp = v4(KeyClass::Ipv4, ipproto::ICMP, [1; 4], 0x0800, [2; 4], 80);
    assert!(!m("port 80", &icmp));
}

#[test]
fn ether_vlan_mpls_srcid() {
    let mut r = udp([1; 4], 1, [2; 4], 2);
    assert!(!m("ether host 00:11:22:33:44:55", &r));
    r.flags |= flag::HAS_MAC | flag::HAS_SVLAN | flag::HAS_SMPLS;
    r.smac = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
    r.dmac = [0xff; 6];
    r.svlan = (5 << 13) | 100;
    r.smpls = 1234;
    r.srcid = 7;
    assert!(m("ether host 00:11:22:33:44:55", &r) && m("ether src 00:11:22:33:44:55", &r));
    assert!(!m("ether dst host 00:11:22:33:44:55", &r));
    assert!(m("ether broadcast", &r) && m("ether multicast", &r));
    assert!(m("vid 100", &r) && m("src vid 100", &r) && !m("dst vid 100", &r) && !m("vid 101", &r));
    assert!(m("vpri 5", &r) && !m("vpri 4", &r));
    assert!(m("mpls", &r) && m("mid 1234", &r) && !m("dst mid 1234", &r));
    assert!(m("srcid 7", &r) && !m("srcid 8", &r) && m("srcid 0.0.0.7", &r));
    assert!(!m("mpls", &udp([1; 4], 1, [2; 4], 2)));
}

#[test]
fn casts() {
    assert!(m("multicast", &udp([1; 4], 1, [224, 0, 0, 251], 5353)));
    assert!(m("ip multicast", &udp([1; 4], 1, [255; 4], 67)));
    assert!(!m("multicast", &udp([1; 4], 1, [10, 0, 0, 1], 53)));
    assert!(m("broadcast", &udp([1; 4], 1, [255; 4], 67)));
    assert!(!m("ip broadcast", &udp([1; 4], 1, [10, 0, 0, 255], 67)));
    let mut d = [0u8; 16];
    d[0] = 0xff;
    assert!(m("ipv6 multicast", &v6(ipproto::UDP, d)) && !m("multicast", &v6(ipproto::UDP, d)));
}

#[test]
fn comparisons() {
    let mut r = udp([1; 4], 1, [2; 4], 2);
    r.dst.pkts = 10;
    r.dst.bytes = 2000;
    r.dst.ttl = 50;
    r.src.tos = 8;
    assert!(m("pkts gt 5", &r) && m("dst pkts > 5", &r) && !m("src pkts gt 5", &r));
    assert!(!m("src and dst pkts gt 5", &r) && m("src and dst pkts gte 3", &r));
    assert!(m("pkts 3", &r) && m("pkts eq 10", &r) && m("pkts == 3", &r) && m("pkts = 10", &r));
    assert!(m("src pkts != 10", &r) && !m("src pkts ne 3", &r));
    assert!(m("bytes gte 2k", &r) && !m("bytes gt 2k", &r) && m("bytes lt 1M", &r));
    assert!(m("src pkts lt 4 and dst pkts lte 10", &r));
    assert!(
        m("pkts gt 100 or lt 4", &r) && m("pkts gt 100 or 9", &r) && !m("pkts gt 100 or 10", &r)
    );
    assert!(
        m("ttl 64", &r) && m("dst ttl lt 60", &r) && m("tos gt 0", &r) && !m("dst tos gt 0", &r)
    );
    assert!(m("dur 2", &r) && m("dur gt 1.5", &r) && !m("dur gt 2", &r));
    // rate = (pkts - 1) / dur: src 1/s, dst 4.5/s; load = (bytes - bytes/pkts) * 8 / dur.
    assert!(m("src rate eq 1", &r) && m("dst rate gt 4", &r) && !m("rate gt 5", &r));
    assert!(m("src load 800", &r) && m("load gt 7k", &r));
    assert!(!m("appbytes gt 0", &r));
    let six = v6(ipproto::UDP, [0; 16]);
    assert!(!m("ttl 64", &six) && !m("tos 0", &six));
    let mut t = tcp(1, 2, tcpstate::SRC_PKTS_RETRANS);
    t.tcp.as_mut().unwrap().src_retrans = 3;
    assert!(m("loss 3", &t) && m("src loss gt 2", &t) && !m("dst loss gt 0", &t));
}

#[test]
fn tcp_flags_and_states() {
    use tcpstate::*;
    let hs = SAW_SYN | SAW_SYNACK | ESTABLISHED;
    let mut r = tcp(1000, 80, hs | FIN_SRC | FIN_ACKED);
    r.dst.pkts = 2;
    assert!(m("syn", &r) && m("synack", &r) && m("fin", &r) && m("src fin", &r));
    assert!(!m("dst fin", &r) && m("finack", &r) && m("est", &r) && m("con", &r));
    assert!(!m("reset", &r) && !m("normal", &r) && !m("wait", &r));
    r.flags &= !flag::FIRST;
    assert!(
        !m("syn", &r),
        "an established flow's status record has no SYN"
    );
    assert!(m("status", &r) && !m("start", &r));
    let mut rst = tcp(1, 2, SAW_SYN | RESET);
    rst.tcp.as_mut().unwrap().dst_flags = 0x04;
    assert!(m("reset", &rst) && m("dst reset", &rst) && !m("src reset", &rst));
    assert!(!m("est", &rst), "one side only");
    rst.dst.pkts = 1;
    assert!(m("est", &rst), "an answer (even a RST) establishes");
    let clo = tcp(1, 2, hs | CLOSED);
    assert!(m("normal", &clo));
    let wait = tcp(1, 2, hs | FIN_DST);
    assert!(m("wait", &wait) && m("dst fin", &wait));
    let mut re = tcp(1, 2, DST_PKTS_RETRANS | SRC_OUTOFORDER | DST_WINSHUT);
    re.flags |= flag::SRC_ECN;
    assert!(m("retrans", &re) && m("dst retrans", &re) && !m("src retrans", &re));
    assert!(m("outoforder", &re) && m("src outoforder", &re) && !m("dst outoforder", &re));
    assert!(m("winshut", &re) && m("dst winshut", &re) && !m("src winshut", &re));
    assert!(m("ecn", &re) && m("src ecn", &re) && !m("dst ecn", &re));
    let mut to = tcp(1, 2, hs);
    to.cause = Cause::Timeout;
    assert!(m("timeout", &to) && !m("timeout", &clo));
    // TCP primitives never select other protocols.
    let u = udp([1; 4], 1, [2; 4], 2);
    for f in [
        "syn", "synack", "fin", "finack", "reset", "retrans", "winshut", "normal", "wait",
    ] {
        assert!(!m(f, &u), "{f}");
    }
}

#[test]
fn frags_icmp_multipath() {
    let mut r = udp([1; 4], 1, [2; 4], 2);
    assert!(!m("frag", &r) && !m("fragonly", &r) && !m("multipath", &r));
    r.flags |= flag::FRAGMENTS | flag::MULTIPATH;
    assert!(m("frag", &r) && m("src frag", &r) && !m("dst frag", &r) && m("multipath", &r));
    r.key.aux = AUX_FRAGMENT | 77;
    assert!(m("fragonly", &r));
    let echo = v4(
        KeyClass::Ipv4,
        ipproto::ICMP,
        [1; 4],
        0x0800,
        [2; 4],
        0x1234,
    );
    let unr = v4(KeyClass::Ipv4, ipproto::ICMP, [1; 4], 0x0303, [2; 4], 0);
    let red = v4(KeyClass::Ipv4, ipproto::ICMP, [1; 4], 0x0501, [2; 4], 0);
    let tx = v4(KeyClass::Ipv4, ipproto::ICMP, [1; 4], 0x0b00, [2; 4], 0);
    assert!(m("echo", &echo) && !m("unreach", &echo) && m("icmp", &echo));
    assert!(m("unreach", &unr) && m("redirect", &red) && m("timexed", &tx) && !m("echo", &tx));
    let mut mapped = udp([1; 4], 1, [2; 4], 2);
    mapped.icmp_mapped = b'U';
    assert!(m("unreach", &mapped) && !m("timexed", &mapped) && !m("echo", &mapped));
}

#[test]
fn boolean_structure_and_precedence() {
    let t = tcp(1000, 80, 0);
    assert!(m("not udp", &t) && m("! udp", &t) && m("!udp", &t) && !m("not not udp", &t));
    assert!(m("tcp && port 80", &t) && m("udp || tcp", &t));
    // and/or have equal precedence, left to right: (udp or tcp) and port 81 is false.
    assert!(!m("udp or tcp and port 81", &t));
    assert!(m("udp or (tcp and port 80)", &t));
    assert!(m("((((tcp))))", &t));
    assert!(m("not (udp or port 81)", &t));
}

#[test]
fn display_is_canonical_and_parses_back() {
    for (src, canon) in [
        ("tcp and dst port 80", "(tcp and dst port 80)"),
        (
            "host 1.2.3.4 and 5.6.7.8",
            "(host 1.2.3.4 and host 5.6.7.8)",
        ),
        (
            "tcp port 80 or 443",
            "((tcp and port 80) or (tcp and port 443))",
        ),
        ("src or dst pkts > 5", "pkts gt 5"),
        ("src and dst bytes gte 1k", "src and dst bytes gte 1000"),
        ("net 10.0.0.0 mask 255.0.0.0", "net 10.0.0.0/8"),
        (
            "net 10.0.0.0 mask 255.0.255.0",
            "net 10.0.0.0 mask 255.0.255.0",
        ),
        ("net 10.1.2.3/8", "net 10.0.0.0/8"),
        ("! esp", "not ip proto 50"),
        (
            "ether src aa:BB:cc:00:11:22",
            "ether src host aa:bb:cc:00:11:22",
        ),
        ("est", "con"),
        ("dur gt 1.5 || rate lt 2", "(dur gt 1.5 or rate lt 2)"),
    ] {
        let f = Filter::parse(src).unwrap();
        assert_eq!(f.to_string(), canon, "{src}");
        assert_eq!(Filter::parse(canon).unwrap(), f, "{canon}");
    }
}

#[test]
fn errors_point_at_the_token() {
    assert_eq!(
        err("tcp and dst port and udp"),
        "expected a port after 'dst port', found 'and' (column 18)"
    );
    assert_eq!(
        Filter::parse_args(&["tcp".into(), "and".into(), "dst".into(), "port".into()])
            .unwrap_err()
            .to_string(),
        "expected a port after 'dst port', found the end of the expression (column 17)"
    );
    assert_eq!(err("frobnicate"), "unknown keyword 'frobnicate' (column 1)");
    assert_eq!(
        err("tcp and"),
        "expected a primitive after 'and', found the end of the expression (column 8)"
    );
    assert!(err("(tcp").starts_with("expected ')' to close '(' at column 1"));
    assert_eq!(err("tcp)"), "unmatched ')' (column 4)");
    assert_eq!(
        err("tcp udp"),
        "expected 'and' or 'or', found 'udp' (column 5)"
    );
    assert!(err("host 10.0.0.300").contains("bad host address '10.0.0.300'"));
    assert!(err("host ::1::2").contains("bad host address '::1::2'"));
    assert!(err("net 10.0.0.0/33").contains("prefix length must be 0 to 32"));
    assert!(err("net 10.0.0.0").contains("needs a prefix length"));
    assert!(err("net 10.0.0.0 mask 300.0.0.0").contains("bad mask"));
    assert!(err("port 70000").contains("port 70000 is out of range (0-65535)"));
    assert!(err("port 90-80").contains("bad port range"));
    assert!(err("port nosuchservice").contains("unknown port 'nosuchservice'"));
    assert!(err("ttl gt 256").contains("ttl 256 is out of range (0-255)"));
    assert!(err("pkts gt 99999999999999999999").contains("out of range"));
    assert!(err("pkts gt x").contains("bad pkts 'x'"));
    assert!(err("vid 5000").contains("out of range (0-4095)"));
    assert!(err("ether host 00:11").contains("bad MAC address"));
    assert!(err("ip proto 300").contains("out of range"));
    assert!(err("gt 5").contains("cannot start a primitive"));
    assert!(err("> 5").contains("needs a metric"));
    assert!(err("src syn").contains("does not take a direction"));
    assert!(err("tcp & udp").contains("use 'and'"));
    assert_eq!(Filter::parse("   ").unwrap_err(), FilterError::Empty);
    for e in [
        "tcp and",
        "(",
        ")",
        "not",
        "src",
        "host",
        "ether",
        "net 1.2.3.4 mask",
    ] {
        let msg = err(e);
        assert!(!msg.contains('\n') && msg.contains("column"), "{e}: {msg}");
    }
}

#[test]
fn limits_refuse_quickly() {
    let t0 = Instant::now();
    let deep = "(".repeat(100_000);
    assert!(matches!(
        Filter::parse(&deep),
        Err(FilterError::TooLong { .. })
    ));
    let deep = format!("{}tcp{}", "(".repeat(300), ")".repeat(300));
    assert!(matches!(
        Filter::parse(&deep),
        Err(FilterError::TooDeep { max: 256, .. })
    ));
    let nots = "not ".repeat(1000) + "tcp";
    assert!(matches!(
        Filter::parse(&nots),
        Err(FilterError::TooDeep { .. })
    ));
    let ok = format!("{}tcp{}", "(".repeat(200), ")".repeat(200));
    assert!(Filter::parse(&ok).is_ok());
    let big = "tcp or ".repeat(150_000) + "udp";
    assert!(big.len() > 1_000_000);
    assert!(matches!(
        Filter::parse(&big),
        Err(FilterError::TooLong { .. })
    ));
    let many = "tcp or ".repeat(5000) + "udp";
    assert!(matches!(
        Filter::parse(&many),
        Err(FilterError::TooManyTokens { .. })
    ));
    // A long flat chain under the limits is fine and evaluates without recursion depth.
    let chain = "port 1 or ".repeat(2000) + "port 80";
    assert!(Filter::parse(&chain).unwrap().matches(&tcp(5, 80, 0)));
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "limits took {:?}",
        t0.elapsed()
    );
}

// Property tests: random expressions over a pool of primitives, random records.

const ATOMS: &[&str] = &[
    "tcp",
    "udp",
    "icmp",
    "arp",
    "ip",
    "ipv6",
    "man",
    "esp",
    "ether proto 0x0806",
    "host 10.0.0.1",
    "src host 10.0.0.2",
    "dst net 10.0.0.0/24",
    "net 10.0.0.0 mask 255.0.255.0",
    "host fe80::1",
    "port 80",
    "src port 1-1000",
    "tcp dst port 53",
    "pkts gt 2",
    "src and dst bytes lte 500",
    "dst pkts 0",
    "rate gt 0.5",
    "dur lt 1",
    "ttl 64",
    "syn",
    "synack",
    "fin",
    "dst reset",
    "est",
    "retrans",
    "frag",
    "multicast",
    "ip broadcast",
    "unreach",
    "echo",
    "vid 5",
    "mpls",
    "srcid 1",
    "start",
    "timeout",
    "ether host 00:00:00:00:00:01",
    "load gt 100",
    "loss 0",
    "tos 0",
];

fn arb_expr() -> impl Strategy<Value = Expr> {
    let leaf = proptest::sample::select(ATOMS).prop_map(|a| Filter::parse(a).unwrap().expr);
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn arb_record() -> impl Strategy<Value = FlowRecord> {
    (
        0usize..6,
        0u8..4,
        0u16..3,
        (0u64..5, 0u64..5, 0u64..2000, 0u64..2000),
        any::<u32>(),
        (0u8..4, 0u8..4),
        any::<bool>(),
    )
        .prop_map(
            |(kind, host, port, (sp, dp, sb, db), bits, (dur, cause), man)| {
                let proto = [
                    ipproto::TCP,
                    ipproto::UDP,
                    ipproto::ICMP,
                    ipproto::ESP,
                    0,
                    0,
                ][kind];
                let class = if kind == 4 {
                    KeyClass::Arp
                } else {
                    KeyClass::Ipv4
                };
                let mut r = v4(
                    class,
                    proto,
                    [10, 0, 0, host],
                    [80, 53, 999][port as usize],
                    [224 * (host & 1), 0, 0, 1],
                    [53, 80, 5000][port as usize],
                );
                if kind == 5 {
                    r = v6(
                        ipproto::UDP,
                        [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host],
                    );
                }
                r.src.pkts = sp;
                r.dst.pkts = dp;
                r.src.bytes = sb;
                r.dst.bytes = db;
                r.ltime_ns = r.stime_ns + u64::from(dur) * 400_000_000;
                r.flags = bits & 0x7fff;
                r.cause = Cause::from_u8(cause).unwrap_or_default();
                if proto == ipproto::TCP {
                    r.tcp = Some(TcpPerf {
                        state: bits.rotate_left(7) & 0x3ffff,
                        dst_flags: bits as u8,
                        ..TcpPerf::default()
                    });
                }
                if man {
                    r.kind = RecordKind::ManStatus;
                }
                r
            },
        )
}

proptest! {
    #[test]
    fn print_then_parse_gives_the_same_ast(e in arb_expr()) {
        let text = e.to_string();
        let back = Filter::parse(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
        prop_assert_eq!(back.expr(), &e, "{}", text);
    }

    #[test]
    fn boolean_laws_hold_on_records(a in arb_expr(), b in arb_expr(), recs in proptest::collection::vec(arb_record(), 1..16)) {
        let fa = Filter { expr: a.clone() };
        let not_not = Filter { expr: Expr::Not(Box::new(Expr::Not(Box::new(a.clone())))) };
        let and = Filter { expr: Expr::And(vec![a.clone(), b.clone()]) };
        let or = Filter { expr: Expr::Or(vec![a, b]) };
        for r in &recs {
            let x = fa.matches(r);
            prop_assert_eq!(not_not.matches(r), x);
            prop_assert!(!and.matches(r) || x, "a and b selected more than a");
            prop_assert!(or.matches(r) || !x, "a or b selected less than a");
        }
    }

    #[test]
    fn core_only_filters_decide_on_the_core_alone(
        e in arb_expr(),
        r in arb_record(),
        other in arb_record(),
        mac in prop_oneof![Just([0, 0, 0, 0, 0, 1]), Just([0xff; 6]), any::<[u8; 6]>()],
        vlan in prop_oneof![Just(5u16), any::<u16>()],
    ) {
        // `r`'s core over `other`'s extension fields, as a reader that
        // tests before decoding the extension blocks holds it.
        use crate::record::codec;
        let mut other = other;
        other.flags |= flag::HAS_MAC | flag::HAS_SVLAN | flag::HAS_DVLAN | flag::HAS_SMPLS;
        other.smac = mac;
        other.dmac = mac;
        other.svlan = vlan;
        other.dvlan = vlan;
        other.smpls = u32::from(vlan);
        other.tcp = Some(TcpPerf { state: u32::from(vlan) << 3, options: vlan, src_retrans: 1, ..TcpPerf::default() });
        let (mut a, mut b) = (Vec::new(), Vec::new());
        codec::encode(&other, &mut a);
        codec::encode(&r, &mut b);
        let mut mixed = FlowRecord::default();
        codec::decode_into(&a, &mut mixed).unwrap();
        codec::decode_core_into(&b, &mut mixed).unwrap();
        let f = Filter { expr: e };
        if f.core_only() {
            prop_assert_eq!(f.matches(&mixed), f.matches(&r), "{}", f);
        }
    }

    /// The key stage never rejects a record the filter selects, and it
    /// is a test of kind and key alone: on a record whose counters, times
    /// and extensions are another's, it decides the same.
    #[test]
    fn the_key_stage_rejects_only_what_the_filter_rejects(
        e in arb_expr(),
        recs in proptest::collection::vec(arb_record(), 1..16),
        other in arb_record(),
    ) {
        let f = Filter { expr: e };
        if let Some(k) = f.key_stage() {
            for r in &recs {
                prop_assert!(!f.matches(r) || k.matches(r), "{} selected what {} rejects", f, k);
                let mut mixed = other.clone();
                mixed.kind = r.kind;
                mixed.key = r.key;
                prop_assert_eq!(k.matches(&mixed), k.matches(r), "{}", k);
            }
        }
    }

    /// A flow record the filter selects holds a protocol of the filter's
    /// set, so a reader may reject the others on their protocol alone.
    #[test]
    fn the_protocol_set_holds_every_selected_flow(
        e in arb_expr(),
        recs in proptest::collection::vec(arb_record(), 1..16),
    ) {
        let f = Filter { expr: e };
        if let Some(set) = f.protocols() {
            for r in recs.iter().filter(|r| !r.kind.is_man()) {
                prop_assert!(!f.matches(r) || set.contains(r.key.proto), "{} selected protocol {}", f, r.key.proto);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "[a-z0-9 ()!&|<>=.:/-]{0,80}") {
        let _ = Filter::parse(&s);
    }
}

#[test]
fn the_key_stage_keeps_what_the_key_decides() {
    let stage = |t: &str| Filter::parse(t).unwrap().key_stage().map(|k| k.to_string());
    assert_eq!(stage("udp and pkts gt 3").as_deref(), Some("udp"));
    assert_eq!(stage("pkts gt 3"), None);
    assert_eq!(stage("tcp or pkts gt 3"), None);
    assert_eq!(stage("not (udp or pkts gt 5)").as_deref(), Some("not udp"));
    assert_eq!(
        stage("src net 10.0.0.0/16 and not icmp and bytes gt 1").as_deref(),
        Some("(src net 10.0.0.0/16 and not icmp)")
    );
    // Under a `not`, a test of anything else selects the least.
    assert_eq!(stage("not (pkts gt 3 and udp)"), None);
}

#[test]
fn tcp_options_select_tcp_flows_with_the_option() {
    use crate::packet::tcpopt as t;
    use crate::record::tcpopt_ecn as e;
    let mut r = tcp(1000, 80, tcpstate::SAW_SYN);
    if let Some(tp) = r.tcp.as_mut() {
        tp.options = t::MSS | t::TIMESTAMP | e::DST;
    }
    assert!(m("mss", &r));
    assert!(m("tcpopt mss", &r));
    assert!(m("tcptimestamp and decn", &r));
    assert!(!m("wscale", &r));
    assert!(!m("selackok or selack or secn", &r));
    assert!(!m(
        "tcpcc or tcpccnew or tcpccecho or tcpecho or tcpechoreply",
        &r
    ));
    // Only TCP flows carry options (Argus reads other records' bytes as options).
    let mut u = udp([10, 0, 0, 1], 1, [10, 0, 0, 2], 2);
    u.tcp = r.tcp;
    assert!(!m("mss", &u));
    assert!(err("tcpopt").contains("expected a TCP option"));
    assert!(err("src mss").contains("column 5"));
}

#[test]
fn encaps_names() {
    use crate::packet::encaps as en;
    let mut r = udp([10, 0, 0, 1], 1, [10, 0, 0, 2], 2);
    r.encaps = en::ETHER | en::VLAN;
    assert!(m("encaps eth", &r));
    assert!(m("encaps 802q and encaps vlan", &r));
    assert!(!m("encaps mpls or encaps sll or encaps gre", &r));
    assert!(
        !m("encaps atm", &r),
        "names ocellus never decodes select nothing"
    );
    r.encaps = en::MPLS;
    assert!(m("encaps mpls and not encaps eth", &r));
    let e = err("encaps token-ring");
    assert!(e.contains("unknown encapsulation 'token-ring'") && e.contains("column 8"));
    assert!(err("encaps").contains("expected an encapsulation name"));
}

#[test]
fn seq_pcr_and_ploss() {
    let mut r = tcp(1000, 80, tcpstate::ESTABLISHED);
    r.seq = 42;
    assert!(m("seq 42", &r) && m("seq gt 41", &r) && !m("seq lt 42", &r));
    assert!(m("src seq 42", &r), "seq is one value per record");
    r.src.appbytes = 300;
    r.dst.appbytes = 100;
    // (300 - 100) / 400 = 0.5
    assert!(m("pcr 0.5", &r) && m("pcr gt 0.4", &r) && !m("pcr gt 0.5", &r));
    r.dst.appbytes = 900;
    assert!(m("pcr lt 0", &r) || m("pcr lt 0.0", &r));
    assert!(!m("pcr gte 0", &r));
    r.src.appbytes = 0;
    r.dst.appbytes = 0;
    assert!(m("pcr 0", &r), "no payload either way: a ratio of 0");
    // 1 lost of 3 seen + 1 lost = 25 %.
    r.src.pkts = 3;
    r.dst.pkts = 4;
    if let Some(t) = r.tcp.as_mut() {
        t.src_retrans = 1;
    }
    assert!(m("ploss gt 24.9", &r) && m("src ploss 25", &r));
    assert!(!m("dst ploss gt 0", &r));
    assert!(!m("src and dst ploss gt 0", &r));
}

#[test]
fn host_names_resolve_once_through_etc_hosts() {
    let f = Filter::parse("host localhost").unwrap_or_else(|e| panic!("{e}"));
    let mut r = udp([127, 0, 0, 1], 1, [10, 0, 0, 2], 2);
    assert!(f.matches(&r));
    r.key.src[..4].copy_from_slice(&[10, 0, 0, 9]);
    assert!(!f.matches(&r));
    // The printed tree names addresses and parses back to itself.
    let again = Filter::parse(&f.to_string()).unwrap_or_else(|e| panic!("{f}: {e}"));
    assert_eq!(again, f);
    // Inherited: `host localhost and 10.0.0.2`.
    let mut r = udp([127, 0, 0, 1], 1, [10, 0, 0, 2], 2);
    assert!(m("src host localhost and dst 10.0.0.2", &r));
    r.key.src[..4].copy_from_slice(&[10, 0, 0, 2]);
    assert!(m("dst localhost or 10.0.0.2", &r));
    // (A name that fails to resolve is not tried here: that would ask DNS.)
    let e = err("host a$b");
    assert!(
        e.contains("bad host 'a$b'") && e.contains("column 6"),
        "{e}"
    );
}

#[test]
fn gateway_needs_an_ethers_entry() {
    let ethers = "# comment\n00:11:22:33:44:55 router1\n0:1:2:3:4:5\tother # x\n";
    assert_eq!(
        parse::ether_lookup(ethers, "router1"),
        Some([0, 0x11, 0x22, 0x33, 0x44, 0x55])
    );
    assert_eq!(
        parse::ether_lookup(ethers, "OTHER"),
        Some([0, 1, 2, 3, 4, 5])
    );
    assert_eq!(parse::ether_lookup(ethers, "nobody"), None);
    if !std::path::Path::new("/etc/ethers").exists() {
        let e = err("gateway localhost");
        assert!(e.contains("no MAC address in /etc/ethers"), "{e}");
    }
}

#[test]
fn the_protocol_set_names_what_the_filter_can_select() {
    use super::ProtoSet;
    let set = |t: &str| Filter::parse(t).unwrap().protocols();
    assert_eq!(set("udp and pkts gt 3"), Some(ProtoSet::of(&[17])));
    assert_eq!(
        set("tcp or udp or proto 132"),
        Some(ProtoSet::of(&[6, 17, 132]))
    );
    assert_eq!(set("dst port 53"), Some(ProtoSet::of(&[6, 17])));
    assert_eq!(
        set("(icmp or igmp) and host 10.0.0.1"),
        Some(ProtoSet::of(&[1, 2]))
    );
    assert_eq!(set("udp and tcp"), Some(ProtoSet::EMPTY));
    assert_eq!(set("man"), Some(ProtoSet::EMPTY));
    // Nothing to say: every protocol can be selected.
    assert_eq!(set("not udp"), None);
    assert_eq!(set("udp or pkts gt 3"), None);
    assert_eq!(set("host 10.0.0.1"), None);
    let s = ProtoSet::of(&[0, 63, 64, 255]);
    assert!((0..=255u8).all(|p| s.contains(p) == [0, 63, 64, 255].contains(&p)));
}

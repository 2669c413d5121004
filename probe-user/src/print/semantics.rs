//! The record-level columns `ra` computes from a record's contents: state, dir
//! and flgs (ARGUS.md 2.1-2.3).

use crate::packet::{encaps, ipopt};
use crate::record::{flag, tcpstate, Cause, FlowRecord, KeyClass, RecordKind};
use ocellus_common::ipproto;

/// Which side's TCP flags `-Z` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagSides {
    Src,
    Dst,
    Both,
}

/// `tcpopt` bits beyond `packet::tcpopt`: ECN negotiated by the source / destination
/// (Argus tcpopt letters 11 and 12, `S` and `D`).
pub const TCPOPT_SRC_ECN: u16 = crate::record::tcpopt_ecn::SRC;
pub const TCPOPT_DST_ECN: u16 = crate::record::tcpopt_ecn::DST;

pub(crate) fn is_tcp(rec: &FlowRecord) -> bool {
    rec.key.class().is_ip() && rec.key.proto == ipproto::TCP
}

pub(crate) fn is_icmp(rec: &FlowRecord) -> bool {
    rec.key.class() == KeyClass::Ipv4 && rec.key.proto == ipproto::ICMP
}

pub(crate) fn is_icmp6(rec: &FlowRecord) -> bool {
    rec.key.class() == KeyClass::Ipv6 && rec.key.proto == ipproto::ICMPV6
}

/// The State column (without `-z`/`-Z`).
pub fn state(rec: &FlowRecord) -> &'static str {
    match rec.kind {
        RecordKind::ManStart => return "STA",
        RecordKind::ManStop => return "STP",
        RecordKind::ManStatus => return "CON",
        RecordKind::Flow => {}
    }
    if is_tcp(rec) {
        if let Some(tcp) = &rec.tcp {
            let s = tcp.state;
            return if s & tcpstate::RESET != 0 {
                "RST"
            } else if s & (tcpstate::FIN_SRC | tcpstate::FIN_DST) != 0 {
                "FIN"
            } else if s & tcpstate::CLOSED != 0 {
                "CLO"
            } else if rec.cause == Cause::Timeout {
                "TIM"
            } else if s & (tcpstate::ESTABLISHED | tcpstate::MIDSTREAM) != 0 {
                "CON"
            } else if s & tcpstate::SAW_SYNACK != 0 {
                "ACC"
            } else if s & (tcpstate::SAW_SYN | tcpstate::SAW_SYN_SENT) != 0 {
                "REQ"
            } else {
                generic_state(rec)
            };
        }
    }
    if is_icmp(rec) {
        if rec.icmp_mapped != 0 {
            return mapped_icmp_state(rec.icmp_mapped);
        }
        return icmp4_state((rec.key.sport >> 8) as u8, rec.key.sport as u8);
    }
    if is_icmp6(rec) {
        return icmp6_state((rec.key.sport >> 8) as u8, rec.key.sport as u8);
    }
    generic_state(rec)
}

/// UDP, other IP, ARP and non-IP: by which sides sent packets in this record.
fn generic_state(rec: &FlowRecord) -> &'static str {
    match (rec.src.pkts > 0, rec.dst.pkts > 0) {
        (true, true) => "CON",
        (true, false) if rec.flags & flag::FIRST != 0 => "INT",
        (true, false) => "REQ",
        (false, true) => "RSP",
        (false, false) => "INT",
    }
}

/// An ICMP error mapped onto an ICMP flow replaces its state. The record keeps only
/// the kind of error, so the state is the one for code 0 of that type.
fn mapped_icmp_state(letter: u8) -> &'static str {
    match letter {
        b'U' => "URN",
        b'R' => "RED",
        b'T' => "TXD",
        _ => "UNK",
    }
}

pub(crate) fn icmp4_state(icmp_type: u8, code: u8) -> &'static str {
    match icmp_type {
        0 => "ECR",
        3 => match code {
            0 => "URN",
            1 => "URH",
            2 | 3 => "URP",
            4 => "URF",
            5 => "URS",
            6 => "URNU",
            7 => "URHU",
            8 => "URISO",
            9 => "URNPRO",
            10 => "URHPRO",
            11 => "URNTOS",
            12 => "URHTOS",
            13 => "URFIL",
            14 => "URPRE",
            15 => "URCUT",
            _ => "UR",
        },
        4 => "SRC",
        5 => "RED",
        6 => "AHA",
        8 => "ECO",
        9 => "RTA",
        10 => "RTS",
        11 => "TXD",
        12 => "PAR",
        13 => "TST",
        14 => "TSR",
        15 => "IRQ",
        16 => "IRR",
        17 => "MAS",
        18 => "MSR",
        19 => "SEC",
        20..=29 => "ROB",
        30 => "TRC",
        31 => "DCE",
        32 => "MHR",
        33 => "WAY",
        34 => "IAH",
        35 => "MRQ",
        36 => "MRP",
        37 => "DNQ",
        38 => "DNP",
        39 => "SKP",
        40 => "PHO",
        _ => "UNK",
    }
}

pub(crate) fn icmp6_state(icmp_type: u8, code: u8) -> &'static str {
    match icmp_type {
        1 => match code {
            0 => "URN",
            1 => "URHPRO",
            3 => "URH",
            4 => "URP",
            _ => "UR",
        },
        2 => "PTB",
        3 => "TXD",
        4 => "PAR",
        128 => "ECO",
        129 => "ECR",
        130 => "MRQ",
        131 | 143 => "MHR",
        132 => "MHD",
        133 => "NRS",
        134 => "NRA",
        135 => "NNS",
        136 => "NNA",
        137 => "RED",
        _ => "UNK",
    }
}

/// `-z`: the TCP state-change letters `s S E f F C R` seen.
pub fn state_history(rec: &FlowRecord, out: &mut String) {
    let Some(tcp) = rec.tcp.as_ref().filter(|_| is_tcp(rec)) else {
        out.push_str(state(rec));
        return;
    };
    for (i, c) in ['s', 'S', 'E', 'f', 'F', 'C', 'R'].into_iter().enumerate() {
        if tcp.history & (1 << i) != 0 {
            out.push(c);
        }
    }
}

/// `-Z`: cumulative TCP flags per side, `src_dst` for both.
pub fn state_flags(rec: &FlowRecord, sides: FlagSides, out: &mut String) {
    let Some(tcp) = rec.tcp.as_ref().filter(|_| is_tcp(rec)) else {
        out.push_str(state(rec));
        return;
    };
    match sides {
        FlagSides::Src => push_tcp_flags(tcp.src_flags, out),
        FlagSides::Dst => push_tcp_flags(tcp.dst_flags, out),
        FlagSides::Both => {
            push_tcp_flags(tcp.src_flags, out);
            out.push('_');
            push_tcp_flags(tcp.dst_flags, out);
        }
    }
}

fn push_tcp_flags(f: u8, out: &mut String) {
    // Argus order: FIN SYN RST PSH ACK URG ECE CWR.
    for (bit, c) in [
        (0x01, 'F'),
        (0x02, 'S'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, 'A'),
        (0x20, 'U'),
        (0x40, '7'),
        (0x80, '8'),
    ] {
        if f & bit != 0 {
            out.push(c);
        }
    }
}

/// The Dir column before padding: `who`, `tel`, `<->`, ` ->`, `<?>`, `->` ...
pub fn direction(rec: &FlowRecord) -> &'static str {
    if rec.kind.is_man() {
        return "";
    }
    match rec.key.class() {
        KeyClass::Arp => return "who",
        KeyClass::Rarp => return "tel",
        _ => {}
    }
    if is_tcp(rec) {
        if let Some(tcp) = &rec.tcp {
            let handshake = tcpstate::SAW_SYN | tcpstate::SAW_SYN_SENT | tcpstate::SAW_SYNACK;
            if tcp.state & handshake != 0 {
                return if rec.flags & flag::REVERSE != 0 {
                    "<-"
                } else {
                    "->"
                };
            }
            return match (rec.src.pkts > 0, rec.dst.pkts > 0) {
                (true, true) => "<?>",
                (true, false) => " ?>",
                (false, true) => "<? ",
                (false, false) => " ? ",
            };
        }
    }
    match (rec.src.pkts > 0, rec.dst.pkts > 0) {
        (true, true) => "<->",
        (true, false) => " ->",
        (false, true) => "<- ",
        (false, false) => "   ",
    }
}

/// The 9-character Flgs indicator string.
pub fn flags(rec: &FlowRecord) -> [u8; 9] {
    let mut f = [b' '; 9];
    if rec.kind.is_man() {
        return f;
    }
    if rec.flags & flag::NETFLOW != 0 {
        f[0] = b'N';
    }
    f[1] = encaps_letter(rec.encaps);
    if rec.flags & flag::MULTIPATH != 0 {
        f[1] = b'M';
    }
    if rec.icmp_mapped != 0 {
        f[2] = rec.icmp_mapped;
    }
    if let Some(tcp) = rec.tcp.as_ref().filter(|_| is_tcp(rec)) {
        let s = tcp.state;
        let src_re = s & tcpstate::SRC_PKTS_RETRANS != 0 || tcp.src_retrans > 0;
        let dst_re = s & tcpstate::DST_PKTS_RETRANS != 0 || tcp.dst_retrans > 0;
        let src_ooo = s & tcpstate::SRC_OUTOFORDER != 0 || tcp.src_ooo > 0;
        let dst_ooo = s & tcpstate::DST_OUTOFORDER != 0 || tcp.dst_ooo > 0;
        f[3] = match (src_re, dst_re, src_ooo, dst_ooo) {
            (true, true, _, _) => b'*',
            (true, false, _, _) => b's',
            (false, true, _, _) => b'd',
            (_, _, true, true) => b'&',
            (_, _, true, false) => b'i',
            (_, _, false, true) => b'r',
            _ if s & (tcpstate::SRC_GAP | tcpstate::DST_GAP) != 0 => b'g',
            _ => b' ',
        };
        f[4] = match (
            s & tcpstate::SRC_WINSHUT != 0,
            s & tcpstate::DST_WINSHUT != 0,
        ) {
            (true, true) => b'@',
            (true, false) => b'S',
            (false, true) => b'D',
            _ => b' ',
        };
    }
    f[5] = match (
        rec.flags & flag::SRC_ECN != 0,
        rec.flags & flag::DST_ECN != 0,
    ) {
        (true, true) => b'E',
        (true, false) => b'x',
        (false, true) => b't',
        _ => b' ',
    };
    f[6] = if rec.flags & flag::FRAG_OVERLAP != 0 {
        b'V'
    } else if rec.flags & flag::FRAG_PARTIAL != 0 {
        b'f'
    } else if rec.flags & flag::FRAGMENTS != 0 {
        b'F'
    } else {
        b' '
    };
    f[7] = ip_option_letter(rec.ip_options);
    f
}

/// flgs[1]: the one encapsulation letter, `*` for several, blank for none. Links
/// without a header of their own (raw IP, BSD loopback) count as none.
fn encaps_letter(e: u32) -> u8 {
    const LETTERS: [(u32, u8); 11] = [
        (encaps::ETHER, b'e'),
        (encaps::VLAN, b'v'),
        (encaps::MPLS, b'm'),
        (encaps::LLC, b'l'),
        (encaps::PPPOE, b'p'),
        (encaps::PPP, b'p'),
        (encaps::GRE, b'G'),
        (encaps::IPIP, b'P'),
        (encaps::IP6IN4, b'6'),
        (encaps::SLL, b'S'),
        (encaps::VXLAN, b'*'),
    ];
    let mut n = 0;
    let mut letter = b' ';
    for (bit, c) in LETTERS {
        if e & bit != 0 {
            n += 1;
            letter = c;
        }
    }
    if n > 1 {
        b'*'
    } else {
        letter
    }
}

fn ip_option_letter(o: u16) -> u8 {
    if o.count_ones() > 1 {
        return b'O';
    }
    match o {
        ipopt::SSRR => b'S',
        ipopt::LSRR => b'L',
        ipopt::TIMESTAMP => b'T',
        ipopt::SECURITY => b'+',
        ipopt::RR => b'R',
        ipopt::ROUTER_ALERT => b'A',
        ipopt::SATID => b'D',
        ipopt::UNKNOWN => b'U',
        _ => b' ',
    }
}

/// `RA_PORT_DIRECTION="services,wellknown"`: whether an ambiguous (`?`) TCP flow
/// should be turned round so that the well-known or named port is the destination.
pub fn wants_port_flip(rec: &FlowRecord, is_service: impl Fn(u16) -> bool) -> bool {
    if !is_tcp(rec) {
        return false;
    }
    let Some(tcp) = &rec.tcp else { return false };
    let handshake = tcpstate::SAW_SYN | tcpstate::SAW_SYN_SENT | tcpstate::SAW_SYNACK;
    if tcp.state & handshake != 0 {
        return false;
    }
    let (sp, dp) = (rec.key.sport, rec.key.dport);
    let (s_wk, d_wk) = (sp < 1024, dp < 1024);
    match (s_wk, d_wk) {
        (true, true) => sp < dp,
        (true, false) => true,
        (false, true) => false,
        (false, false) => match (is_service(sp), is_service(dp)) {
            (true, false) => true,
            (true, true) => sp < dp,
            _ => false,
        },
    }
}

/// The record seen from the other side (for the port-direction flip).
pub fn reversed(rec: &FlowRecord) -> FlowRecord {
    let mut r = rec.clone();
    r.key = rec.key.reversed();
    std::mem::swap(&mut r.src, &mut r.dst);
    std::mem::swap(&mut r.smac, &mut r.dmac);
    std::mem::swap(&mut r.svlan, &mut r.dvlan);
    std::mem::swap(&mut r.smpls, &mut r.dmpls);
    std::mem::swap(&mut r.suser, &mut r.duser);
    let swap_bits = |f: u32, a: u32, b: u32| {
        let mut out = f & !(a | b);
        if f & a != 0 {
            out |= b;
        }
        if f & b != 0 {
            out |= a;
        }
        out
    };
    r.flags = swap_bits(r.flags, flag::HAS_SVLAN, flag::HAS_DVLAN);
    r.flags = swap_bits(r.flags, flag::HAS_SMPLS, flag::HAS_DMPLS);
    r.flags = swap_bits(r.flags, flag::SRC_ECN, flag::DST_ECN);
    if let Some(t) = r.tcp.as_mut() {
        let s = t.state;
        let mut ns = s;
        for (a, b) in [
            (tcpstate::FIN_SRC, tcpstate::FIN_DST),
            (tcpstate::SRC_WINSHUT, tcpstate::DST_WINSHUT),
            (tcpstate::SRC_PKTS_RETRANS, tcpstate::DST_PKTS_RETRANS),
            (tcpstate::SRC_OUTOFORDER, tcpstate::DST_OUTOFORDER),
            (tcpstate::SRC_GAP, tcpstate::DST_GAP),
        ] {
            ns = swap_bits(ns, a, b);
        }
        t.state = ns;
        std::mem::swap(&mut t.src_flags, &mut t.dst_flags);
        std::mem::swap(&mut t.src_base_seq, &mut t.dst_base_seq);
        std::mem::swap(&mut t.src_win, &mut t.dst_win);
        std::mem::swap(&mut t.src_retrans, &mut t.dst_retrans);
        std::mem::swap(&mut t.src_ooo, &mut t.dst_ooo);
        std::mem::swap(&mut t.src_gap_bytes, &mut t.dst_gap_bytes);
        std::mem::swap(&mut t.src_max_seq, &mut t.dst_max_seq);
    }
    r
}

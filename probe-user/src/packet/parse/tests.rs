//! Parser tests: one fixture per layer and encapsulation, every truncation of
//! every fixture, a seeded mutation loop, and a sweep over the real corpus.
use super::*;

// ---------------------------------------------------------------------------
// Fixture builders
// ---------------------------------------------------------------------------

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const A4: [u8; 4] = [192, 0, 2, 1];
const B4: [u8; 4] = [192, 0, 2, 2];

fn a6() -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[15] = 0x0a;
    a
}

fn b6() -> [u8; 16] {
    let mut a = a6();
    a[15] = 0x0b;
    a
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn eth(et: u16, payload: &[u8]) -> Vec<u8> {
    cat(&[&MAC_B, &MAC_A, &et.to_be_bytes(), payload])
}

fn vlan(tci: u16, et: u16, payload: &[u8]) -> Vec<u8> {
    cat(&[&tci.to_be_bytes(), &et.to_be_bytes(), payload])
}

fn mpls(label: u32, bos: bool, payload: &[u8]) -> Vec<u8> {
    let entry = (label << 12) | if bos { 0x100 } else { 0 } | 64;
    cat(&[&entry.to_be_bytes(), payload])
}

struct V4 {
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
    tos: u8,
    ttl: u8,
    id: u16,
    frag: u16,
    options: Vec<u8>,
}

impl V4 {
    fn new(proto: u8, src: [u8; 4], dst: [u8; 4]) -> V4 {
        V4 {
            proto,
            src,
            dst,
            tos: 0x02,
            ttl: 64,
            id: 0x1234,
            frag: 0x4000,
            options: Vec::new(),
        }
    }
    fn build(&self, payload: &[u8]) -> Vec<u8> {
        assert_eq!(self.options.len() % 4, 0);
        let hl = 20 + self.options.len();
        let total = (hl + payload.len()) as u16;
        let mut h = vec![0x40 | (hl / 4) as u8, self.tos];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&self.id.to_be_bytes());
        h.extend_from_slice(&self.frag.to_be_bytes());
        h.extend_from_slice(&[self.ttl, self.proto, 0, 0]);
        h.extend_from_slice(&self.src);
        h.extend_from_slice(&self.dst);
        h.extend_from_slice(&self.options);
        h.extend_from_slice(payload);
        h
    }
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    V4::new(proto, A4, B4).build(payload)
}

fn ipv6_with(nh: u8, src: [u8; 16], dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60 | 0x0b, 0x80, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[nh, 57]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

fn ipv6(nh: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_with(nh, a6(), b6(), payload)
}

/// A generic IPv6 extension header (hop-by-hop, routing, destination options)
/// of `units` 8-byte units.
fn ext6(nh: u8, units: usize, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![nh, (units - 1) as u8];
    h.resize(units * 8, 0x01);
    h.extend_from_slice(payload);
    h
}

fn frag6(nh: u8, offset_bytes: u16, more: bool, id: u32, payload: &[u8]) -> Vec<u8> {
    let fo = offset_bytes | u16::from(more);
    cat(&[&[nh, 0], &fo.to_be_bytes(), &id.to_be_bytes(), payload])
}

fn tcp(sport: u16, dport: u16, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let doff = ((20 + opts.len()) / 4) as u8;
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&1000u32.to_be_bytes());
    h.extend_from_slice(&2000u32.to_be_bytes());
    h.extend_from_slice(&[doff << 4, flags]);
    h.extend_from_slice(&8192u16.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    h.extend_from_slice(opts);
    h.extend_from_slice(payload);
    h
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    cat(&[
        &sport.to_be_bytes(),
        &dport.to_be_bytes(),
        &len.to_be_bytes(),
        &[0, 0],
        payload,
    ])
}

fn icmp(ty: u8, code: u8, rest: [u8; 4], payload: &[u8]) -> Vec<u8> {
    cat(&[&[ty, code, 0, 0], &rest, payload])
}

fn gre(flags: u16, proto: u16, extra: &[u8], payload: &[u8]) -> Vec<u8> {
    cat(&[&flags.to_be_bytes(), &proto.to_be_bytes(), extra, payload])
}

fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    cat(&[&[0x08, 0, 0, 0], &(vni << 8).to_be_bytes(), inner])
}

const PAYLOAD: &[u8] = b"hello, flow";
const SYN_OPTS: [u8; 20] = [
    2, 4, 0x05, 0xb4, // MSS 1460
    4, 2, // SACK permitted
    8, 10, 0, 0, 0, 1, 0, 0, 0, 0, // timestamp
    1, // NOP
    3, 3, 7, // window scale 7
];

fn tcp_v4() -> Vec<u8> {
    ipv4(6, &tcp(40000, 80, tcpflag::SYN, &SYN_OPTS, PAYLOAD))
}

fn udp_v4() -> Vec<u8> {
    ipv4(17, &udp(40001, 5000, PAYLOAD))
}

// ---------------------------------------------------------------------------
// Fixtures: a frame, its link type, and how many leading bytes the flow needs
// ---------------------------------------------------------------------------

struct Fx {
    name: &'static str,
    link: LinkType,
    data: Vec<u8>,
    /// Bytes the flow's headers need: any shorter capture must be `Malformed`,
    /// any longer one must give the same flow as the full frame.
    needed: usize,
    check: fn(&PacketInfo),
}

fn fx(
    name: &'static str,
    link: LinkType,
    data: Vec<u8>,
    trailing: usize,
    check: fn(&PacketInfo),
) -> Fx {
    let needed = data.len() - trailing;
    Fx {
        name,
        link,
        data,
        needed,
        check,
    }
}

fn assert_v4_flow(p: &PacketInfo, proto: u8, sport: u16, dport: u16) {
    assert_eq!(p.net, Net::Ipv4);
    assert_eq!(&p.src_ip[..4], &A4);
    assert_eq!(&p.dst_ip[..4], &B4);
    assert_eq!(p.src_ip[4..], [0; 12]);
    assert_eq!(p.proto, proto);
    assert_eq!((p.sport, p.dport), (sport, dport));
}

fn assert_tcp_syn(p: &PacketInfo) {
    assert_eq!(p.malformed, Malformed::None);
    assert!(p.has_l4);
    assert_eq!(p.tcp.seq, 1000);
    assert_eq!(p.tcp.ack, 2000);
    assert_eq!(p.tcp.flags, tcpflag::SYN);
    assert_eq!(p.tcp.window, 8192);
    assert_eq!(p.tcp.header_len, 40);
    assert_eq!(p.tcp.mss, 1460);
    assert_eq!(p.tcp.wscale, 7);
    assert_eq!(
        p.tcp.options,
        tcpopt::MSS | tcpopt::SACK_OK | tcpopt::TIMESTAMP | tcpopt::WSCALE
    );
    assert_eq!(p.app_len, PAYLOAD.len() as u32);
}

fn assert_payload_is(p: &PacketInfo, frame: &[u8], payload: &[u8]) {
    let off = p.payload_off as usize;
    assert_eq!(&frame[off..off + p.payload_caplen as usize], payload);
}

fn fixtures() -> Vec<Fx> {
    let mut v = Vec::new();
    v.push(fx(
        "ether ipv4 tcp syn+opts",
        LinkType::ETHERNET,
        eth(0x0800, &tcp_v4()),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 6, 40000, 80);
            assert_tcp_syn(p);
            assert_eq!(p.encaps, encaps::ETHER);
            assert!(p.has_mac);
            assert_eq!((p.src_mac, p.dst_mac), (MAC_A, MAC_B));
            assert_eq!(p.ethertype, 0x0800);
            assert_eq!((p.ttl, p.tos, p.ip_id), (64, 0x02, 0x1234));
            assert_eq!(p.l4_len, (40 + PAYLOAD.len()) as u32);
            assert_eq!(p.payload_off, 14 + 20 + 40);
            assert!(!p.frag.is_fragment);
        },
    ));
    v.push(fx(
        "ether ipv4 udp",
        LinkType::ETHERNET,
        eth(0x0800, &udp_v4()),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 17, 40001, 5000);
            assert!(p.has_l4);
            assert_eq!(p.l4_len, 8 + PAYLOAD.len() as u32);
            assert_eq!(p.app_len, PAYLOAD.len() as u32);
            assert_eq!(p.payload_off, 14 + 20 + 8);
            assert!(!p.has_dns_txid);
        },
    ));
    v.push(fx(
        "ether ipv4 udp dns",
        LinkType::ETHERNET,
        eth(
            0x0800,
            &ipv4(17, &udp(40002, 53, &[0xab, 0xcd, 1, 0, 0, 1])),
        ),
        4,
        |p| {
            assert_v4_flow(p, 17, 40002, 53);
            assert!(p.has_dns_txid);
            assert_eq!(p.dns_txid, 0xabcd);
        },
    ));
    v.push(fx(
        "ether ipv4 sctp",
        LinkType::ETHERNET,
        eth(
            0x0800,
            &ipv4(132, &cat(&[&[0x0b, 0xb8, 0x0b, 0xb9], &[0; 8], PAYLOAD])),
        ),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 132, 3000, 3001);
            assert!(p.has_l4);
            assert_eq!(p.app_len, PAYLOAD.len() as u32);
        },
    ));
    v.push(fx(
        "ether ipv4 icmp echo",
        LinkType::ETHERNET,
        eth(
            0x0800,
            &ipv4(1, &icmp(8, 0, [0x00, 0x99, 0x00, 0x07], PAYLOAD)),
        ),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 1, 0, 0);
            assert!(p.has_l4);
            assert_eq!(
                (p.icmp_type, p.icmp_code, p.icmp_id, p.icmp_seq),
                (8, 0, 0x99, 7)
            );
            assert_eq!(p.app_len, PAYLOAD.len() as u32);
            assert!(!p.quoted.valid);
        },
    ));
    {
        // Port unreachable quoting the UDP datagram B -> A.
        let quoted_pkt = V4::new(17, B4, A4).build(&udp(5000, 40001, PAYLOAD));
        let quoted_part = quoted_pkt[..28].to_vec();
        v.push(fx(
            "ether ipv4 icmp unreachable",
            LinkType::ETHERNET,
            eth(0x0800, &ipv4(1, &icmp(3, 3, [0; 4], &quoted_part))),
            28,
            |p| {
                assert_v4_flow(p, 1, 0, 0);
                assert_eq!((p.icmp_type, p.icmp_code, p.icmp_id), (3, 3, 0));
                if p.cap_len as usize == 14 + 20 + 8 + 28 {
                    let q = p.quoted;
                    assert!(q.valid && !q.v6);
                    assert_eq!((&q.src[..4], &q.dst[..4]), (&B4[..], &A4[..]));
                    assert_eq!((q.proto, q.sport, q.dport), (17, 5000, 40001));
                }
            },
        ));
    }
    v.push(fx(
        "ether ipv4 esp",
        LinkType::ETHERNET,
        eth(
            0x0800,
            &ipv4(
                50,
                &cat(&[&0x0202_0304u32.to_be_bytes(), &1u32.to_be_bytes(), PAYLOAD]),
            ),
        ),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 50, 0, 0);
            assert_eq!(p.esp_spi, 0x0202_0304);
            assert!(p.has_l4);
        },
    ));
    v.push(fx(
        "ether ipv4 igmp",
        LinkType::ETHERNET,
        eth(0x0800, &ipv4(2, &[0x16, 0, 0, 0, 224, 0, 0, 22])),
        0,
        |p| {
            assert_v4_flow(p, 2, 0, 0);
            assert!(p.has_l4);
            assert_eq!(p.app_len, 0);
        },
    ));
    v.push(fx(
        "ether ipv4 other proto",
        LinkType::ETHERNET,
        eth(0x0800, &ipv4(253, PAYLOAD)),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 253, 0, 0);
            assert!(!p.has_l4);
            assert_eq!(p.app_len, PAYLOAD.len() as u32);
            assert_eq!(p.payload_off, 34);
        },
    ));
    {
        // Options: NOP, router alert, record route (7 bytes), timestamp (8 bytes), EOL.
        let mut h = V4::new(17, A4, B4);
        h.options = vec![
            1, 0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0x44, 8, 5, 0, 0, 0, 0, 0,
        ];
        v.push(fx(
            "ether ipv4 options udp",
            LinkType::ETHERNET,
            eth(0x0800, &h.build(&udp(1, 2, PAYLOAD))),
            PAYLOAD.len(),
            |p| {
                assert_v4_flow(p, 17, 1, 2);
                assert_eq!(
                    p.ip_options,
                    ipopt::ROUTER_ALERT | ipopt::RR | ipopt::TIMESTAMP
                );
                assert_eq!(p.payload_off, 14 + 40 + 8);
                assert_eq!(p.app_len, PAYLOAD.len() as u32);
            },
        ));
    }
    {
        let mut h = V4::new(17, A4, B4);
        h.frag = 0x2000; // first fragment, more fragments
        v.push(fx(
            "ether ipv4 first fragment",
            LinkType::ETHERNET,
            eth(0x0800, &h.build(&udp(1, 2, PAYLOAD))),
            PAYLOAD.len(),
            |p| {
                assert_v4_flow(p, 17, 1, 2);
                assert!(p.frag.is_fragment && p.frag.more);
                assert_eq!((p.frag.offset, p.frag.id), (0, 0x1234));
                assert!(p.has_l4);
            },
        ));
        let mut h = V4::new(17, A4, B4);
        h.frag = 185; // offset 1480, last fragment
        v.push(fx(
            "ether ipv4 later fragment",
            LinkType::ETHERNET,
            eth(0x0800, &h.build(PAYLOAD)),
            PAYLOAD.len(),
            |p| {
                assert_v4_flow(p, 17, 0, 0);
                assert!(p.frag.is_fragment && !p.frag.more);
                assert_eq!(p.frag.offset, 1480);
                assert!(!p.has_l4);
                assert_eq!(p.app_len, PAYLOAD.len() as u32);
            },
        ));
    }
    v.push(fx(
        "ether ipv6 tcp",
        LinkType::ETHERNET,
        eth(
            0x86dd,
            &ipv6(6, &tcp(40000, 443, tcpflag::SYN, &SYN_OPTS, PAYLOAD)),
        ),
        PAYLOAD.len(),
        |p| {
            assert_eq!(p.net, Net::Ipv6);
            assert_eq!((p.src_ip, p.dst_ip), (a6(), b6()));
            assert_eq!((p.proto, p.sport, p.dport), (6, 40000, 443));
            assert_eq!((p.ttl, p.tos), (57, 0xb8));
            assert_tcp_syn(p);
            assert_eq!(p.l4_len, 40 + PAYLOAD.len() as u32);
        },
    ));
    {
        // Hop-by-hop (8), routing (16), destination options (8), then UDP.
        let chain = ext6(43, 1, &ext6(60, 2, &ext6(17, 1, &udp(7, 8, PAYLOAD))));
        v.push(fx(
            "ether ipv6 ext chain udp",
            LinkType::ETHERNET,
            eth(0x86dd, &ipv6(0, &chain)),
            PAYLOAD.len(),
            |p| {
                assert_eq!(p.net, Net::Ipv6);
                assert_eq!((p.proto, p.sport, p.dport), (17, 7, 8));
                assert_eq!(p.l4_len, 8 + PAYLOAD.len() as u32);
                assert_eq!(p.app_len, PAYLOAD.len() as u32);
                assert_eq!(p.payload_off, 14 + 40 + 32 + 8);
                assert!(!p.has_dns_txid);
            },
        ));
    }
    {
        // AH (4 words + 2 = 24 bytes) then TCP.
        let mut ah = vec![6, 4, 0, 0];
        ah.resize(24, 0x55);
        let data = eth(
            0x86dd,
            &ipv6(51, &cat(&[&ah, &tcp(1, 2, tcpflag::ACK, &[], PAYLOAD)])),
        );
        v.push(fx(
            "ether ipv6 ah tcp",
            LinkType::ETHERNET,
            data,
            PAYLOAD.len(),
            |p| {
                assert_eq!((p.proto, p.sport, p.dport), (6, 1, 2));
                assert_eq!(p.tcp.wscale, 0xff);
                assert_eq!(p.app_len, PAYLOAD.len() as u32);
            },
        ));
    }
    v.push(fx(
        "ether ipv6 first fragment",
        LinkType::ETHERNET,
        eth(
            0x86dd,
            &ipv6(44, &frag6(17, 0, true, 0xdead_beef, &udp(9, 10, PAYLOAD))),
        ),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.proto, p.sport, p.dport), (17, 9, 10));
            assert!(p.frag.is_fragment && p.frag.more);
            assert_eq!(
                (p.frag.offset, p.frag.id, p.ip_id),
                (0, 0xdead_beef, 0xdead_beef)
            );
            assert!(p.has_l4);
        },
    ));
    v.push(fx(
        "ether ipv6 later fragment",
        LinkType::ETHERNET,
        eth(0x86dd, &ipv6(44, &frag6(17, 1448, false, 7, PAYLOAD))),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.proto, p.sport, p.dport), (17, 0, 0));
            assert!(p.frag.is_fragment && !p.frag.more);
            assert_eq!((p.frag.offset, p.frag.id), (1448, 7));
            assert!(!p.has_l4);
        },
    ));
    v.push(fx(
        "ether ipv6 icmpv6 echo",
        LinkType::ETHERNET,
        eth(
            0x86dd,
            &ipv6(58, &icmp(128, 0, [0x12, 0x34, 0, 3], PAYLOAD)),
        ),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.proto), (Net::Ipv6, 58));
            assert_eq!((p.icmp_type, p.icmp_id, p.icmp_seq), (128, 0x1234, 3));
        },
    ));
    {
        let quoted_pkt = ipv6_with(6, b6(), a6(), &tcp(443, 40000, tcpflag::ACK, &[], &[]));
        let part = quoted_pkt[..48].to_vec();
        v.push(fx(
            "ether ipv6 icmpv6 packet too big",
            LinkType::ETHERNET,
            eth(0x86dd, &ipv6(58, &icmp(2, 0, 1280u32.to_be_bytes(), &part))),
            48,
            |p| {
                assert_eq!((p.icmp_type, p.icmp_id, p.icmp_seq), (2, 0, 0));
                if p.cap_len as usize == 14 + 40 + 8 + 48 {
                    let q = p.quoted;
                    assert!(q.valid && q.v6);
                    assert_eq!((q.src, q.dst), (b6(), a6()));
                    assert_eq!((q.proto, q.sport, q.dport), (6, 443, 40000));
                }
            },
        ));
    }
    v.push(fx(
        "ether arp",
        LinkType::ETHERNET,
        eth(
            0x0806,
            &cat(&[&[0, 1, 8, 0, 6, 4, 0, 1], &MAC_A, &A4, &[0; 6], &B4]),
        ),
        0,
        |p| {
            assert_eq!(p.net, Net::Arp);
            assert_eq!(p.ethertype, 0x0806);
            let a = p.arp;
            assert!(a.valid);
            assert_eq!(
                (a.op, a.sender_mac, a.sender_ip, a.target_ip),
                (1, MAC_A, A4, B4)
            );
        },
    ));
    v.push(fx(
        "ether rarp",
        LinkType::ETHERNET,
        eth(
            0x8035,
            &cat(&[&[0, 1, 8, 0, 6, 4, 0, 3], &MAC_A, &[0; 4], &MAC_A, &[0; 4]]),
        ),
        0,
        |p| {
            assert_eq!(p.net, Net::Rarp);
            assert!(p.arp.valid);
            assert_eq!(p.arp.op, 3);
        },
    ));
    v.push(fx(
        "ether non-ip",
        LinkType::ETHERNET,
        eth(0x88b5, PAYLOAD),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.ethertype), (Net::Ether, 0x88b5));
            assert!(p.has_mac);
        },
    ));
    v.push(fx(
        "ether pppoe discovery",
        LinkType::ETHERNET,
        eth(0x8863, &[0x11, 0x09, 0, 0, 0, 0]),
        6,
        |p| {
            assert_eq!((p.net, p.ethertype), (Net::Ether, 0x8863));
        },
    ));
    v.push(fx(
        "802.3 llc stp",
        LinkType::ETHERNET,
        eth(38, &cat(&[&[0x42, 0x42, 0x03], &[0; 35]])),
        35,
        |p| {
            assert_eq!(p.net, Net::Llc);
            assert_eq!((p.llc_dsap, p.llc_ssap), (0x42, 0x42));
            assert_eq!(p.encaps, encaps::ETHER | encaps::LLC);
            assert!(!p.is_ip());
        },
    ));
    v.push(fx(
        "802.3 snap ipv4 udp",
        LinkType::ETHERNET,
        eth(
            100,
            &cat(&[&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00], &udp_v4()]),
        ),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 17, 40001, 5000);
            assert_eq!(p.encaps, encaps::ETHER | encaps::LLC);
            assert_eq!(p.ethertype, 0x0800);
        },
    ));
    v.push(fx(
        "802.1q ipv4 tcp",
        LinkType::ETHERNET,
        eth(0x8100, &vlan(0x2064, 0x0800, &tcp_v4())),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 6, 40000, 80);
            assert!(p.has_vlan);
            assert_eq!(p.vlan_tci, 0x2064);
            assert_eq!(p.encaps, encaps::ETHER | encaps::VLAN);
            assert_eq!(p.payload_off, 18 + 20 + 40);
        },
    ));
    v.push(fx(
        "qinq 88a8 ipv4 udp",
        LinkType::ETHERNET,
        eth(0x88a8, &vlan(300, 0x8100, &vlan(100, 0x0800, &udp_v4()))),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 17, 40001, 5000);
            assert_eq!(p.vlan_tci, 300);
            assert_eq!(p.encaps, encaps::ETHER | encaps::VLAN | encaps::QINQ);
        },
    ));
    v.push(fx(
        "vlan 9100 ipv6 udp",
        LinkType::ETHERNET,
        eth(0x9100, &vlan(7, 0x86dd, &ipv6(17, &udp(1, 2, PAYLOAD)))),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.proto, p.sport), (Net::Ipv6, 17, 1));
            assert_eq!(p.vlan_tci, 7);
            assert_eq!(p.encaps, encaps::ETHER | encaps::VLAN);
        },
    ));
    v.push(fx(
        "mpls 2 labels ipv4 tcp",
        LinkType::ETHERNET,
        eth(0x8847, &mpls(1000, false, &mpls(2000, true, &tcp_v4()))),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 6, 40000, 80);
            assert!(p.has_mpls);
            assert_eq!(p.mpls_label, 1000);
            assert_eq!(p.encaps, encaps::ETHER | encaps::MPLS);
        },
    ));
    v.push(fx(
        "mpls multicast ipv6",
        LinkType::ETHERNET,
        eth(0x8848, &mpls(5, true, &ipv6(17, &udp(1, 2, PAYLOAD)))),
        PAYLOAD.len(),
        |p| {
            assert_eq!(
                (p.net, p.sport, p.dport, p.mpls_label),
                (Net::Ipv6, 1, 2, 5)
            );
        },
    ));
    v.push(fx(
        "mpls pseudowire ethernet",
        LinkType::ETHERNET,
        eth(
            0x8847,
            &mpls(16, true, &cat(&[&[0; 4], &eth(0x0800, &udp_v4())])),
        ),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 17, 40001, 5000);
            assert_eq!(p.mpls_label, 16);
            // The MACs are the outer frame's.
            assert_eq!(p.src_mac, MAC_A);
        },
    ));
    v.push(fx(
        "pppoe ipv4 udp",
        LinkType::ETHERNET,
        eth(
            0x8864,
            &cat(&[
                &[0x11, 0, 0, 1],
                &((udp_v4().len() + 2) as u16).to_be_bytes(),
                &[0x00, 0x21],
                &udp_v4(),
            ]),
        ),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 17, 40001, 5000);
            assert_eq!(p.encaps, encaps::ETHER | encaps::PPPOE);
            assert_eq!(p.payload_off, 14 + 8 + 28);
        },
    ));
    v.push(fx(
        "pppoe ipv6",
        LinkType::ETHERNET,
        eth(
            0x8864,
            &cat(&[
                &[0x11, 0, 0, 1, 0, 0, 0x00, 0x57],
                &ipv6(17, &udp(1, 2, PAYLOAD)),
            ]),
        ),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.sport, p.dport), (Net::Ipv6, 1, 2));
        },
    ));
    v.push(fx(
        "gre ipv4 in ipv4",
        LinkType::ETHERNET,
        eth(
            0x0800,
            &ipv4(
                47,
                &gre(
                    0,
                    0x0800,
                    &[],
                    &V4::new(17, [10, 1, 1, 1], [10, 1, 1, 2]).build(&udp(40030, 5003, PAYLOAD)),
                ),
            ),
        ),
        PAYLOAD.len(),
        |p| {
            assert_eq!(p.net, Net::Ipv4);
            assert_eq!(
                (&p.src_ip[..4], &p.dst_ip[..4]),
                (&[10, 1, 1, 1][..], &[10, 1, 1, 2][..])
            );
            assert_eq!((p.proto, p.sport, p.dport), (17, 40030, 5003));
            assert_eq!(p.encaps, encaps::ETHER | encaps::GRE);
            assert_eq!(p.l4_len, 8 + PAYLOAD.len() as u32);
            assert_eq!(p.payload_off, 14 + 20 + 4 + 20 + 8);
        },
    ));
    v.push(fx(
        "gre csum+key+seq ipv6",
        LinkType::ETHERNET,
        eth(
            0x0800,
            &ipv4(
                47,
                &gre(
                    0xb000,
                    0x86dd,
                    &[0; 12],
                    &ipv6(6, &tcp(1, 2, tcpflag::ACK, &[], PAYLOAD)),
                ),
            ),
        ),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.proto, p.sport, p.dport), (Net::Ipv6, 6, 1, 2));
            assert_eq!(p.encaps, encaps::ETHER | encaps::GRE);
            assert_eq!(p.payload_off, 14 + 20 + 16 + 40 + 20);
        },
    ));
    v.push(fx(
        "gre over ipv6",
        LinkType::ETHERNET,
        eth(
            0x86dd,
            &ipv6(47, &gre(0x2000, 0x0800, &[0, 0, 0, 1], &udp_v4())),
        ),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 17, 40001, 5000);
            assert_eq!(p.encaps, encaps::ETHER | encaps::GRE);
        },
    ));
    {
        let inner = cat(&[
            &[0x02, 0, 0, 0, 0, 0x22],
            &[0x02, 0, 0, 0, 0, 0x11],
            &[0x08, 0x00],
            &udp_v4(),
        ]);
        v.push(fx(
            "gre teb ethernet",
            LinkType::ETHERNET,
            eth(
                0x0800,
                &V4::new(47, [203, 0, 113, 1], [203, 0, 113, 2]).build(&gre(
                    0,
                    0x6558,
                    &[],
                    &inner,
                )),
            ),
            PAYLOAD.len(),
            |p| {
                assert_v4_flow(p, 17, 40001, 5000);
                assert_eq!((p.src_mac, p.dst_mac), (MAC_A, MAC_B));
                assert_eq!(p.encaps, encaps::ETHER | encaps::GRE);
            },
        ));
        let erspan2 = cat(&[&[0x10, 0x01, 0, 0x05], &[0; 4], &inner]);
        v.push(fx(
            "gre erspan type ii",
            LinkType::ETHERNET,
            eth(
                0x0800,
                &V4::new(47, [203, 0, 113, 1], [203, 0, 113, 2]).build(&gre(
                    0x1000,
                    0x88be,
                    &[0, 0, 0, 9],
                    &erspan2,
                )),
            ),
            PAYLOAD.len(),
            |p| {
                assert_v4_flow(p, 17, 40001, 5000);
                assert_eq!(p.encaps, encaps::ETHER | encaps::GRE);
            },
        ));
    }
    v.push(fx(
        "ip-in-ip",
        LinkType::ETHERNET,
        eth(
            0x0800,
            &V4::new(4, [203, 0, 113, 1], [203, 0, 113, 3]).build(&tcp_v4()),
        ),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 6, 40000, 80);
            assert_tcp_syn(p);
            assert_eq!(p.encaps, encaps::ETHER | encaps::IPIP);
        },
    ));
    v.push(fx(
        "6in4",
        LinkType::ETHERNET,
        eth(
            0x0800,
            &V4::new(41, [203, 0, 113, 1], [203, 0, 113, 4]).build(&ipv6(17, &udp(1, 2, PAYLOAD))),
        ),
        PAYLOAD.len(),
        |p| {
            assert_eq!(
                (p.net, p.src_ip, p.proto, p.sport, p.dport),
                (Net::Ipv6, a6(), 17, 1, 2)
            );
            assert_eq!(p.encaps, encaps::ETHER | encaps::IP6IN4);
            assert_eq!(p.ethertype, 0x86dd);
        },
    ));
    v.push(fx(
        "ipv6 in ipv6",
        LinkType::ETHERNET,
        eth(
            0x86dd,
            &ipv6_with(41, b6(), a6(), &ipv6(17, &udp(1, 2, PAYLOAD))),
        ),
        PAYLOAD.len(),
        |p| {
            assert_eq!(
                (p.net, p.src_ip, p.dst_ip, p.sport),
                (Net::Ipv6, a6(), b6(), 1)
            );
            assert_eq!(p.encaps, encaps::ETHER | encaps::IP6IN4);
        },
    ));
    v.push(fx(
        "ipv4 in ipv6",
        LinkType::ETHERNET,
        eth(0x86dd, &ipv6(4, &udp_v4())),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 17, 40001, 5000);
            assert_eq!(p.encaps, encaps::ETHER | encaps::IPIP);
        },
    ));
    {
        let inner = cat(&[
            &[0x02, 0, 0, 0, 0, 0x22],
            &[0x02, 0, 0, 0, 0, 0x11],
            &[0x81, 0x00],
            &vlan(42, 0x0800, &tcp_v4()),
        ]);
        v.push(fx(
            "vxlan inner vlan tcp",
            LinkType::ETHERNET,
            eth(
                0x0800,
                &V4::new(17, [198, 51, 100, 1], [198, 51, 100, 2]).build(&udp(
                    50000,
                    4789,
                    &vxlan(77, &inner),
                )),
            ),
            PAYLOAD.len(),
            |p| {
                assert_v4_flow(p, 6, 40000, 80);
                assert_tcp_syn(p);
                assert_eq!(p.encaps, encaps::ETHER | encaps::VXLAN | encaps::VLAN);
                assert_eq!((p.src_mac, p.vlan_tci), (MAC_A, 42));
            },
        ));
    }
    v.push(fx(
        "sll ipv4 tcp",
        LinkType::LINUX_SLL,
        cat(&[
            &[0, 0, 0, 1, 0, 6],
            &MAC_A,
            &[0, 0],
            &[0x08, 0x00],
            &tcp_v4(),
        ]),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 6, 40000, 80);
            assert_eq!(p.encaps, encaps::SLL | encaps::ETHER);
            assert!(p.has_mac);
            assert_eq!(p.src_mac, MAC_A);
            assert_eq!(p.payload_off, 16 + 60);
        },
    ));
    v.push(fx(
        "sll2 ipv6 udp",
        LinkType::LINUX_SLL2,
        cat(&[
            &[0x86, 0xdd, 0, 0],
            &[0, 0, 0, 2],
            &[0, 1, 4, 6],
            &MAC_B,
            &[0, 0],
            &ipv6(17, &udp(1, 2, PAYLOAD)),
        ]),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.sport, p.dport), (Net::Ipv6, 1, 2));
            assert_eq!((p.encaps, p.src_mac), (encaps::SLL | encaps::ETHER, MAC_B));
        },
    ));
    v.push(fx(
        "raw ipv4",
        LinkType::RAW,
        tcp_v4(),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 6, 40000, 80);
            assert_eq!((p.encaps, p.ethertype), (encaps::RAW, 0));
            assert!(!p.has_mac);
        },
    ));
    v.push(fx(
        "raw (12) ipv6",
        LinkType::RAW_ALT,
        ipv6(17, &udp(1, 2, PAYLOAD)),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.sport), (Net::Ipv6, 1));
        },
    ));
    v.push(fx(
        "raw (14) ipv4",
        LinkType::RAW_OPENBSD,
        udp_v4(),
        PAYLOAD.len(),
        |p| assert_v4_flow(p, 17, 40001, 5000),
    ));
    v.push(fx(
        "linktype ipv4",
        LinkType::IPV4,
        udp_v4(),
        PAYLOAD.len(),
        |p| assert_v4_flow(p, 17, 40001, 5000),
    ));
    v.push(fx(
        "linktype ipv6",
        LinkType::IPV6,
        ipv6(17, &udp(1, 2, PAYLOAD)),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.dport), (Net::Ipv6, 2));
        },
    ));
    v.push(fx(
        "null le ipv4",
        LinkType::NULL,
        cat(&[&2u32.to_le_bytes(), &udp_v4()]),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 17, 40001, 5000);
            assert_eq!(p.encaps, encaps::NULL);
        },
    ));
    v.push(fx(
        "null be ipv6 (30)",
        LinkType::NULL,
        cat(&[&30u32.to_be_bytes(), &ipv6(17, &udp(1, 2, PAYLOAD))]),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.sport), (Net::Ipv6, 1));
        },
    ));
    v.push(fx(
        "null le ipv6 (24)",
        LinkType::NULL,
        cat(&[&24u32.to_le_bytes(), &ipv6(17, &udp(1, 2, PAYLOAD))]),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.sport), (Net::Ipv6, 1));
        },
    ));
    v.push(fx(
        "loop ipv6 (28)",
        LinkType::LOOP,
        cat(&[&28u32.to_be_bytes(), &ipv6(17, &udp(1, 2, PAYLOAD))]),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.sport), (Net::Ipv6, 1));
        },
    ));
    v.push(fx(
        "ppp ff03 ipv4",
        LinkType(9),
        cat(&[&[0xff, 0x03, 0x00, 0x21], &udp_v4()]),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 17, 40001, 5000);
            assert_eq!(p.encaps, encaps::PPP);
        },
    ));
    v.push(fx(
        "ppp ipv6 no address",
        LinkType(9),
        cat(&[&[0x00, 0x57], &ipv6(17, &udp(1, 2, PAYLOAD))]),
        PAYLOAD.len(),
        |p| {
            assert_eq!((p.net, p.sport), (Net::Ipv6, 1));
        },
    ));
    v.push(fx(
        "ppp lcp",
        LinkType(9),
        vec![0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4],
        4,
        |p| {
            assert_eq!((p.net, p.ethertype), (Net::Ether, 0xc021));
        },
    ));
    v.push(fx(
        "cisco hdlc ipv4",
        LinkType(104),
        cat(&[&[0x0f, 0x00, 0x08, 0x00], &udp_v4()]),
        PAYLOAD.len(),
        |p| {
            assert_v4_flow(p, 17, 40001, 5000);
            assert_eq!(p.encaps, encaps::CHDLC);
        },
    ));
    v
}

fn run(link: LinkType, data: &[u8]) -> PacketInfo {
    let mut p = PacketInfo::default();
    parse(link, data, data.len() as u32 + 4, 42, &mut p);
    assert_same_as_general(link, data, data.len() as u32 + 4, &p);
    p
}

/// `p`, what [`parse`] made of `data`, is what the general path (without the
/// shortcut for common frames) makes of it, field for field.
fn assert_same_as_general(link: LinkType, data: &[u8], wire_len: u32, p: &PacketInfo) {
    let mut g = PacketInfo {
        // Stale values where the general path starts: it must reset them.
        ttl: 99,
        sport: 7,
        ..PacketInfo::default()
    };
    parse_general(link, data, wire_len, p.ts_ns, &mut g);
    let (a, b) = (format!("{p:?}"), format!("{g:?}"));
    assert!(
        a == b,
        "link {} frame {data:02x?}\nshortcut {a}\ngeneral  {b}",
        link.0
    );
}

/// Whether [`parse`] took the shortcut for common frames on `data`.
fn took_shortcut(data: &[u8]) -> bool {
    let mut p = PacketInfo::default();
    ether_ipv4_common(data, &mut p)
}

/// The fields a flow key and the engine's per-flow state are built from.
fn flow_fields(p: &PacketInfo) -> impl PartialEq + std::fmt::Debug {
    (
        (
            p.net,
            p.src_ip,
            p.dst_ip,
            p.proto,
            p.sport,
            p.dport,
            p.ethertype,
            p.llc_dsap,
            p.llc_ssap,
        ),
        (
            p.icmp_type,
            p.icmp_code,
            p.icmp_id,
            p.icmp_seq,
            p.esp_spi,
            p.has_dns_txid,
            p.dns_txid,
        ),
        (
            p.has_l4,
            p.tcp,
            p.l4_len,
            p.app_len,
            p.frag,
            p.encaps,
            p.vlan_tci,
            p.mpls_label,
            p.src_mac,
            p.arp,
        ),
    )
}

/// Invariants every parse result keeps, whatever the input.
fn assert_sane(p: &PacketInfo, len: usize) {
    assert!(p.payload_off as usize + p.payload_caplen as usize <= len.max(p.payload_off as usize));
    if p.payload_caplen > 0 {
        assert!(p.payload_off as usize + p.payload_caplen as usize <= len);
    }
    if p.has_l4 {
        assert!(p.is_ip(), "has_l4 without IP: {p:?}");
    }
    if p.malformed == Malformed::UnknownLinkType {
        assert_eq!(p.net, Net::None);
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn every_fixture_parses_to_its_fields() {
    for f in fixtures() {
        let p = run(f.link, &f.data);
        assert_eq!(p.malformed, Malformed::None, "{}: {p:?}", f.name);
        // Cooked and loopback pseudo-headers are not counted as wire bytes.
        let pseudo = match f.link.0 {
            113 => 16,
            276 => 20,
            0 | 108 => 4,
            _ => 0,
        };
        assert_eq!(
            (p.ts_ns, p.wire_len, p.cap_len),
            (42, f.data.len() as u32 + 4 - pseudo, f.data.len() as u32),
            "{}",
            f.name
        );
        assert_sane(&p, f.data.len());
        (f.check)(&p);
        // No fixture has padding: a captured payload runs to the frame's end and
        // holds at least the fixture's trailing bytes.
        if p.is_ip() && p.payload_caplen > 0 {
            assert_eq!(
                (p.payload_off + p.payload_caplen) as usize,
                f.data.len(),
                "{}",
                f.name
            );
            assert!(
                p.payload_caplen as usize >= f.data.len() - f.needed,
                "{}",
                f.name
            );
        }
    }
}

#[test]
fn every_truncation_is_counted_and_never_panics() {
    for f in fixtures() {
        let full = run(f.link, &f.data);
        for len in 0..f.data.len() {
            let p = run(f.link, &f.data[..len]);
            assert_sane(&p, len);
            if len < f.needed {
                assert_ne!(
                    p.malformed,
                    Malformed::None,
                    "{} cut at {len} of needed {}: {p:?}",
                    f.name,
                    f.needed
                );
            } else {
                assert_eq!(
                    p.malformed,
                    Malformed::None,
                    "{} cut at {len}: {p:?}",
                    f.name
                );
                assert_eq!(
                    flow_fields(&p),
                    flow_fields(&full),
                    "{} cut at {len}",
                    f.name
                );
                (f.check)(&p);
            }
        }
    }
}

#[test]
fn padding_after_the_datagram_is_not_payload() {
    let mut frame = eth(0x0800, &ipv4(17, &udp(1, 2, b"ab")));
    frame.resize(60, 0);
    let p = run(LinkType::ETHERNET, &frame);
    assert_eq!((p.l4_len, p.app_len, p.payload_caplen), (10, 2, 2));
    assert_payload_is(&p, &frame, b"ab");
}

#[test]
fn snap_length_cut_keeps_ip_lengths() {
    let frame = eth(0x0800, &tcp_v4());
    let p = run(LinkType::ETHERNET, &frame[..14 + 20 + 40 + 3]);
    assert_eq!(p.malformed, Malformed::None);
    assert_eq!(p.app_len, PAYLOAD.len() as u32);
    assert_eq!(p.payload_caplen, 3);
    assert_payload_is(&p, &frame, &PAYLOAD[..3]);
}

#[test]
fn bad_ip_headers() {
    // Total length smaller than the header.
    let mut pkt = udp_v4();
    pkt[2..4].copy_from_slice(&19u16.to_be_bytes());
    let p = run(LinkType::RAW, &pkt);
    assert_eq!(p.malformed, Malformed::BadIpHeader);
    assert_eq!(&p.src_ip[..4], &A4, "the addresses are kept");
    // IHL below 5.
    let mut pkt = udp_v4();
    pkt[0] = 0x44;
    assert_eq!(run(LinkType::RAW, &pkt).malformed, Malformed::BadIpHeader);
    // Ethertype IPv4, version 6.
    let p = run(LinkType::ETHERNET, &eth(0x0800, &ipv6(17, &udp(1, 2, b""))));
    assert_eq!((p.malformed, p.net), (Malformed::BadIpHeader, Net::None));
    // Raw link, version 5.
    assert_eq!(
        run(LinkType::RAW, &[0x50; 40]).malformed,
        Malformed::BadIpHeader
    );
}

#[test]
fn tcp_data_offset_below_five() {
    let mut pkt = tcp_v4();
    pkt[20 + 12] = 0x40;
    let p = run(LinkType::RAW, &pkt);
    assert_eq!(p.malformed, Malformed::BadL4Header);
    assert!(!p.has_l4);
    assert_eq!((p.net, p.sport, p.dport), (Net::Ipv4, 40000, 80));
}

#[test]
fn tcp_options_cut_by_snaplen() {
    let pkt = tcp_v4();
    let p = run(LinkType::RAW, &pkt[..20 + 24]);
    assert_eq!(p.malformed, Malformed::TruncatedL4);
    assert!(p.has_l4, "the fixed header is all there");
    assert_eq!(p.tcp.mss, 1460);
    assert_eq!(p.tcp.wscale, 0xff);
    assert_eq!(p.payload_caplen, 0);
}

#[test]
fn unknown_link_type() {
    let p = run(LinkType(147), &eth(0x0800, &udp_v4()));
    assert_eq!(
        (p.malformed, p.net),
        (Malformed::UnknownLinkType, Net::None)
    );
}

#[test]
fn tunnel_with_cut_inner_header_keeps_outer_flow() {
    let inner = V4::new(17, [10, 1, 1, 1], [10, 1, 1, 2]).build(&udp(1, 2, PAYLOAD));
    let frame = eth(0x0800, &ipv4(47, &gre(0, 0x0800, &[], &inner)));
    let p = run(LinkType::ETHERNET, &frame[..14 + 20 + 4 + 12]);
    assert_eq!(p.malformed, Malformed::TruncatedIp);
    assert_v4_flow(&p, 47, 0, 0);
    assert_eq!(p.encaps, encaps::ETHER, "GRE was not decapsulated");
    // Inner L4 cut: the inner flow stands, without ports.
    let p = run(LinkType::ETHERNET, &frame[..14 + 20 + 4 + 20 + 2]);
    assert_eq!(p.malformed, Malformed::TruncatedL4);
    assert_eq!(
        (&p.src_ip[..4], p.proto, p.has_l4),
        (&[10, 1, 1, 1][..], 17, false)
    );
    assert_eq!(p.encaps, encaps::ETHER | encaps::GRE);
}

#[test]
fn non_ip_inside_a_tunnel_keeps_outer_flow() {
    let arp = eth(
        0x0806,
        &cat(&[&[0, 1, 8, 0, 6, 4, 0, 1], &MAC_A, &A4, &[0; 6], &B4]),
    );
    let p = run(
        LinkType::ETHERNET,
        &eth(0x0800, &ipv4(17, &udp(50000, 4789, &vxlan(1, &arp)))),
    );
    assert_eq!(p.malformed, Malformed::None);
    assert_v4_flow(&p, 17, 50000, 4789);
    assert_eq!(p.encaps, encaps::ETHER);
    // VXLAN header without the I flag: plain UDP.
    let p = run(
        LinkType::ETHERNET,
        &eth(0x0800, &ipv4(17, &udp(1, 4789, &[0; 16]))),
    );
    assert_eq!(
        (p.malformed, p.dport, p.encaps),
        (Malformed::None, 4789, encaps::ETHER)
    );
}

#[test]
fn pptp_gre_v1_keeps_outer_flow() {
    let inner = cat(&[&[0xff, 0x03, 0x00, 0x21], &udp_v4()]);
    let p = run(
        LinkType::RAW,
        &ipv4(47, &gre(0x3081, 0x880b, &[0, 0, 0, 0, 0, 0, 0, 1], &inner)),
    );
    assert_eq!(p.malformed, Malformed::None);
    assert_v4_flow(&p, 47, 0, 0);
    assert_eq!(p.encaps, encaps::RAW);
}

#[test]
fn fragmented_tunnel_is_not_decapsulated() {
    let mut h = V4::new(4, [203, 0, 113, 1], [203, 0, 113, 3]);
    h.frag = 0x2000;
    let p = run(LinkType::RAW, &h.build(&udp_v4()));
    assert_eq!(
        (p.proto, p.encaps, p.malformed),
        (4, encaps::RAW, Malformed::None)
    );
    assert_eq!(&p.src_ip[..4], &[203, 0, 113, 1]);
}

#[test]
fn nesting_deeper_than_the_limit_is_too_deep() {
    // 12 IPv4 headers nested by IP-in-IP, the innermost carrying UDP.
    let mut pkt = udp(1, 2, PAYLOAD);
    let mut proto = 17;
    for level in (0..12u8).rev() {
        pkt = V4::new(proto, [10, 0, 0, level], [10, 0, 1, level]).build(&pkt);
        proto = 4;
    }
    let p = run(LinkType::RAW, &pkt);
    assert_eq!(p.malformed, Malformed::TooDeep);
    // The deepest header followed (depth MAX_DEPTH - 1) carries the flow.
    let last = MAX_DEPTH - 1;
    assert_eq!((&p.src_ip[..4], p.proto), (&[10, 0, 0, last][..], 4));
    assert_eq!(p.encaps, encaps::RAW | encaps::IPIP);
    // Up to the limit it all decapsulates.
    let mut pkt = udp(1, 2, PAYLOAD);
    let mut proto = 17;
    for level in (0..MAX_DEPTH).rev() {
        pkt = V4::new(proto, [10, 0, 0, level], [10, 0, 1, level]).build(&pkt);
        proto = 4;
    }
    let p = run(LinkType::RAW, &pkt);
    assert_eq!(p.malformed, Malformed::None);
    assert_eq!(
        (&p.src_ip[..4], p.proto, p.sport),
        (&[10, 0, 0, MAX_DEPTH - 1][..], 17, 1)
    );
}

#[test]
fn endless_vlan_and_mpls_stacks_are_too_deep() {
    let mut tags = Vec::new();
    for _ in 0..20 {
        tags.extend_from_slice(&[0, 1, 0x81, 0x00]);
    }
    let p = run(LinkType::ETHERNET, &eth(0x8100, &tags));
    assert_eq!((p.malformed, p.vlan_tci), (Malformed::TooDeep, 1));
    let labels = [0u8, 0x01, 0x00, 64].repeat(20);
    let p = run(LinkType::ETHERNET, &eth(0x8847, &labels));
    assert_eq!(p.malformed, Malformed::TooDeep);
    // SNAP inside SNAP inside ... ends too.
    let snap = [0x00, 0x20, 0xaa, 0xaa, 0x03, 0, 0, 0].repeat(200);
    let p = run(LinkType::ETHERNET, &eth(0x20, &snap[2..]));
    assert_eq!(p.malformed, Malformed::TooDeep);
}

#[test]
fn ipv6_extension_cut_is_truncated_ip() {
    let pkt = ipv6(0, &ext6(60, 2, &ext6(6, 1, &tcp(1, 2, 0, &[], b""))));
    let p = run(LinkType::RAW, &pkt[..40 + 8 + 10]);
    assert_eq!((p.malformed, p.net), (Malformed::TruncatedIp, Net::Ipv6));
    assert_eq!(p.src_ip, a6());
    let p = run(LinkType::RAW, &pkt);
    assert_eq!((p.malformed, p.proto, p.sport), (Malformed::None, 6, 1));
    assert_eq!(p.payload_off, 40 + 16 + 8 + 20);
}

#[test]
fn ipv4_total_length_zero_takes_the_wire_length() {
    // What segmentation offload (TSO, BIG TCP) leaves in captures.
    let mut pkt = tcp_v4();
    pkt[2..4].copy_from_slice(&[0, 0]);
    let mut p = PacketInfo::default();
    parse(LinkType::RAW, &pkt[..60], 70_000, 0, &mut p);
    assert_eq!(p.malformed, Malformed::None);
    assert_eq!((p.l4_len, p.app_len), (70_000 - 20, 70_000 - 60));
    assert!(p.has_l4);
}

#[test]
fn ipv6_jumbogram_length_from_hop_by_hop() {
    // Hop-by-hop with the jumbo option (0xc2, 4 bytes), then UDP.
    let mut pkt = ipv6(
        0,
        &cat(&[
            &[17, 0, 0xc2, 4],
            &70_016u32.to_be_bytes(),
            &udp(1, 2, PAYLOAD),
        ]),
    );
    pkt[4..6].copy_from_slice(&[0, 0]);
    let p = run(LinkType::RAW, &pkt);
    assert_eq!(p.malformed, Malformed::None);
    assert_eq!(
        (p.proto, p.sport, p.l4_len, p.app_len),
        (17, 1, 70_008, 70_000)
    );
}

#[test]
fn ipv6_extension_past_the_payload_length_is_bad() {
    let mut pkt = ipv6(60, &ext6(17, 2, &udp(1, 2, b"")));
    // Payload length 12: the destination options header (16 bytes) overruns it.
    pkt[4..6].copy_from_slice(&12u16.to_be_bytes());
    let p = run(LinkType::RAW, &pkt);
    assert_eq!((p.malformed, p.net), (Malformed::BadIpHeader, Net::Ipv6));
    // Cut by the capture instead: truncated.
    let pkt = ipv6(60, &ext6(17, 2, &udp(1, 2, b"")));
    assert_eq!(
        run(LinkType::RAW, &pkt[..50]).malformed,
        Malformed::TruncatedIp
    );
}

#[test]
fn every_fragment_reports_the_same_proto() {
    // IPv4 + AH + UDP: AH is skipped only when the datagram is whole.
    let ah = [17, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
    let whole = run(LinkType::RAW, &ipv4(51, &cat(&[&ah, &udp(1, 2, PAYLOAD)])));
    assert_eq!(
        (whole.proto, whole.sport, whole.app_len),
        (17, 1, PAYLOAD.len() as u32)
    );
    let mut first = V4::new(51, A4, B4);
    first.frag = 0x2000;
    let mut later = V4::new(51, A4, B4);
    later.frag = 100;
    let first = run(
        LinkType::RAW,
        &first.build(&cat(&[&ah, &udp(1, 2, PAYLOAD)])),
    );
    let later = run(LinkType::RAW, &later.build(PAYLOAD));
    assert_eq!((first.proto, later.proto), (51, 51));
    // IPv6: fragment header, then destination options, then UDP.
    let first = run(
        LinkType::RAW,
        &ipv6(
            44,
            &frag6(60, 0, true, 9, &ext6(17, 1, &udp(1, 2, PAYLOAD))),
        ),
    );
    let later = run(LinkType::RAW, &ipv6(44, &frag6(60, 800, false, 9, PAYLOAD)));
    assert_eq!((first.proto, later.proto, first.frag.id), (60, 60, 9));
    // An atomic fragment (offset 0, no more) is not a fragment: walk on.
    let atomic = run(
        LinkType::RAW,
        &ipv6(
            44,
            &frag6(60, 0, false, 9, &ext6(17, 1, &udp(1, 2, PAYLOAD))),
        ),
    );
    assert_eq!(
        (atomic.proto, atomic.sport, atomic.frag.is_fragment),
        (17, 1, false)
    );
}

#[test]
fn cisco_slarp_is_not_rarp() {
    let p = run(
        LinkType(104),
        &[0x8f, 0, 0x80, 0x35, 0, 0, 0, 2, 0, 0, 0, 0],
    );
    assert_eq!(
        (p.net, p.ethertype, p.malformed),
        (Net::Ether, 0x8035, Malformed::None)
    );
}

#[test]
fn mobility_header_is_skipped() {
    let p = run(LinkType::RAW, &ipv6(135, &ext6(59, 2, &[])));
    assert_eq!((p.malformed, p.proto, p.l4_len), (Malformed::None, 59, 0));
}

#[test]
fn dns_over_ipv6_has_no_txid() {
    let p = run(LinkType::RAW, &ipv6(17, &udp(53, 40000, &[1, 2, 3])));
    assert!(!p.has_dns_txid);
}

#[test]
fn ipv4_unknown_and_security_options() {
    let mut h = V4::new(6, A4, B4);
    h.options = vec![0x82, 4, 0, 0, 0x89, 3, 0, 0x83, 3, 0, 0x99, 2];
    let p = run(LinkType::RAW, &h.build(&tcp(1, 2, 0, &[], b"")));
    assert_eq!(
        p.ip_options,
        ipopt::SECURITY | ipopt::SSRR | ipopt::LSRR | ipopt::UNKNOWN
    );
    assert_eq!(p.malformed, Malformed::None);
}

/// xorshift64*: a small seeded generator, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_mutations_never_panic() {
    let fx = fixtures();
    let links = [0u32, 1, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276];
    let mut rng = Rng(0x0ce1_1a5e_ed00_0001);
    let mut buf = Vec::new();
    let mut p = PacketInfo::default();
    for i in 0..100_000 {
        let f = &fx[rng.below(fx.len())];
        buf.clear();
        buf.extend_from_slice(&f.data);
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(buf.len());
            buf[at] = match rng.below(4) {
                0 => 0xff,
                1 => 0,
                _ => rng.next() as u8,
            };
        }
        if rng.below(4) == 0 {
            buf.truncate(rng.below(buf.len() + 1));
        }
        let link = if i % 16 == 0 {
            LinkType(links[rng.below(links.len())])
        } else {
            f.link
        };
        parse(link, &buf, buf.len() as u32, 0, &mut p);
        assert_sane(&p, buf.len());
        assert_same_as_general(link, &buf, buf.len() as u32, &p);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5eed);
    let mut buf = [0u8; 256];
    let mut p = PacketInfo::default();
    for _ in 0..20_000 {
        let len = rng.below(buf.len());
        for b in buf[..len].iter_mut() {
            *b = rng.next() as u8;
        }
        for link in [0u32, 1, 9, 101, 104, 113, 228, 229, 276] {
            parse(LinkType(link), &buf[..len], len as u32, 0, &mut p);
            assert_sane(&p, len);
            assert_same_as_general(LinkType(link), &buf[..len], len as u32, &p);
        }
    }
}

/// The shortcut takes the frames it is for, and leaves every other frame to
/// the general path, which gives the same result either way (`run`).
#[test]
fn the_shortcut_takes_common_frames_only() {
    let tcp_plain = ipv4(6, &tcp(40000, 80, tcpflag::ACK, &[], PAYLOAD));
    let taken = [
        ("tcp, options", eth(0x0800, &tcp_v4())),
        ("tcp, no options", eth(0x0800, &tcp_plain)),
        ("udp", eth(0x0800, &udp_v4())),
        (
            "one 802.1Q tag",
            eth(0x8100, &vlan(0x2064, 0x0800, &tcp_v4())),
        ),
        (
            "dns source port elsewhere",
            eth(0x0800, &ipv4(17, &udp(5353, 5354, b"ab"))),
        ),
    ];
    for (what, frame) in &taken {
        assert!(took_shortcut(frame), "{what}");
        let p = run(LinkType::ETHERNET, frame);
        assert_eq!(p.malformed, Malformed::None, "{what}");
        assert!(p.has_l4, "{what}");
    }
    let mut ip_options = V4::new(6, A4, B4);
    ip_options.options = vec![0x94, 4, 0, 0];
    let mut fragment = V4::new(17, A4, B4);
    fragment.frag = 0x2000;
    let mut tso = eth(0x0800, &tcp_v4());
    tso[16..18].copy_from_slice(&[0, 0]);
    let mut cut_options = eth(0x0800, &tcp_v4());
    cut_options.truncate(14 + 20 + 30);
    let declined = [
        (
            "dns",
            eth(0x0800, &ipv4(17, &udp(40000, 53, b"\x12\x34rest"))),
        ),
        (
            "dns reply",
            eth(0x0800, &ipv4(17, &udp(53, 40000, b"\x12\x34rest"))),
        ),
        (
            "vxlan",
            eth(
                0x0800,
                &ipv4(17, &udp(40000, 4789, &vxlan(42, &eth(0x0800, &tcp_v4())))),
            ),
        ),
        (
            "ip options",
            eth(0x0800, &ip_options.build(&tcp(1, 2, 0, &[], b""))),
        ),
        (
            "fragment",
            eth(0x0800, &fragment.build(&udp(1, 2, b"abcdefgh"))),
        ),
        ("total length 0", tso),
        ("tcp options cut", cut_options),
        (
            "icmp",
            eth(0x0800, &ipv4(1, &icmp(8, 0, [0, 1, 0, 1], b"ping"))),
        ),
        (
            "qinq",
            eth(0x88a8, &vlan(1, 0x8100, &vlan(2, 0x0800, &tcp_v4()))),
        ),
        ("ipv6", eth(0x86dd, &ipv6(6, &tcp(1, 2, 0, &[], b"")))),
        ("mpls", eth(0x8847, &mpls(16, true, &tcp_v4()))),
    ];
    for (what, frame) in &declined {
        assert!(!took_shortcut(frame), "{what}");
        run(LinkType::ETHERNET, frame);
    }
}

/// Mutations of the frames the shortcut takes, aimed at the header fields it
/// reads (lengths, version, flags, ports, data offset), and cuts at every
/// length: the shortcut and the general path agree on every one.
#[test]
fn the_shortcut_agrees_with_the_general_path_on_mutated_common_frames() {
    let frames = [
        eth(0x0800, &tcp_v4()),
        eth(0x0800, &udp_v4()),
        eth(0x8100, &vlan(7, 0x0800, &tcp_v4())),
        eth(0x0800, &ipv4(6, &tcp(1, 2, tcpflag::ACK, &[], b""))),
    ];
    let mut rng = Rng(0xfa57_0000_0001);
    let mut p = PacketInfo::default();
    let mut shortcuts = 0;
    for i in 0..200_000 {
        let f = &frames[i % frames.len()];
        let mut buf = f.clone();
        for _ in 0..1 + rng.below(3) {
            // Mostly the first 60 bytes: the Ethernet, VLAN, IP and TCP/UDP headers.
            let at = if rng.below(4) == 0 {
                rng.below(buf.len())
            } else {
                rng.below(buf.len().min(60))
            };
            buf[at] = match rng.below(5) {
                0 => 0,
                1 => 0xff,
                2 => buf[at] ^ (1 << rng.below(8)),
                _ => rng.next() as u8,
            };
        }
        if rng.below(3) == 0 {
            buf.truncate(rng.below(buf.len() + 1));
        }
        let wire_len = buf.len() as u32 + rng.below(64) as u32;
        parse(LinkType::ETHERNET, &buf, wire_len, 5, &mut p);
        assert_same_as_general(LinkType::ETHERNET, &buf, wire_len, &p);
        shortcuts += usize::from(took_shortcut(&buf));
    }
    // Most mutations keep a frame common: the comparison covered the shortcut.
    assert!(shortcuts > 50_000, "{shortcuts}");
}

mod corpus;

/// `reset` leaves exactly the default value, whatever was there (the quoted
/// DNS id included, the one field whose default is not zero bytes).
#[test]
fn reset_gives_the_default() {
    let mut p = PacketInfo {
        ts_ns: 5,
        net: Net::Ipv6,
        malformed: Malformed::TooDeep,
        has_l4: true,
        src_ip: [7; 16],
        ..PacketInfo::default()
    };
    p.quoted.dns_txid = Some(0x1234);
    p.quoted.valid = true;
    p.tcp.flags = 0x12;
    p.arp.op = 2;
    p.reset();
    assert_eq!(format!("{p:?}"), format!("{:?}", PacketInfo::default()));
}

//! One small capture per measured case of `shared/ARGUS.md` ("Measured output
//! rules", sections 3, 4 and 5), written at test time with [`crate::craft`].
//!
//! Each scenario reproduces the packets, sizes and timing of the case, so that
//! Argus gives the outcome ARGUS.md reports (the differential tests in
//! `tests/tests/scenarios_vs_argus.rs` check that) and ocellus can be compared
//! with it. All captures start at [`BASE_S`] seconds since the epoch.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::craft::{
    ethertype, fragment_ipv4, mac, sctp_init_chunk, write_pcap, write_pcap_with, Frame, Ipv6Ext,
    Mac, PcapOptions, TcpConv, ACK, ECE, FIN, PSH, RST, SYN,
};

/// One crafted capture.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// File stem, also the test name (`<name>.pcap`).
    pub name: &'static str,
    /// What the capture holds and what Argus makes of it.
    pub description: &'static str,
    /// Writes the capture to the given path.
    pub write: fn(&Path) -> io::Result<()>,
}

/// Epoch seconds of the first packet of every scenario (2023-11-14 22:13:20 UTC).
pub const BASE_S: u64 = 1_700_000_000;

/// Timestamp in ns of `secs` seconds after [`BASE_S`].
pub fn at(secs: f64) -> u64 {
    BASE_S * 1_000_000_000 + (secs * 1e9).round() as u64
}

type Packets = Vec<(u64, Vec<u8>)>;

/// Timestamps `frames` from `start_s`, `step_s` apart.
fn spaced(start_s: f64, step_s: f64, frames: Vec<Vec<u8>>) -> Packets {
    frames
        .into_iter()
        .enumerate()
        .map(|(k, f)| (at(start_s + step_s * k as f64), f))
        .collect()
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

macro_rules! scenarios {
    ($($name:ident: $desc:literal;)*) => {
        /// Every scenario, in ARGUS.md order.
        pub fn all_scenarios() -> Vec<Scenario> {
            vec![$(Scenario { name: stringify!($name), description: $desc, write: $name }),*]
        }
    };
}

scenarios! {
    // §4 TCP states
    tcp_syn_retransmitted: "SYN + 2 retransmitted SYNs (t=0,1,3): 3 pkts 162 bytes, REQ, flag s";
    tcp_syn_synack: "SYN, SYN-ACK: 2 pkts 108 bytes, ACC";
    tcp_established_idle: "3WHS + 30-byte request + ACK, then nothing: 5 pkts 300 bytes, CON";
    tcp_rst_initiator: "3WHS then RST from the initiator: 4 pkts 216 bytes, RST";
    tcp_rst_responder: "3WHS then RST from the responder: 4 pkts 216 bytes, RST";
    tcp_refused: "SYN to port 81 answered by RST/ACK: 2 pkts 108 bytes, RST";
    tcp_retrans_zero_window_fin: "3WHS, 200-byte request sent twice, zero window from the server, FIN close: 10 pkts 940 bytes, FIN, flags sD";
    tcp_server_closes_first: "3WHS, server FIN, client FIN, ACK: 6 pkts 324 bytes, FIN";
    tcp_synack_first: "first packet a SYN-ACK, then the ACK: src = SYN-ACK receiver, dir ->, CLO";
    udp_request_response: "one UDP request and its response: 2 pkts 144 bytes, <->, CON";
    icmp_echo_unanswered: "one echo request id 0x0099: 98 bytes, ECO, dport printed 0x9900";
    icmp_echo_same_seq_twice: "echo request/reply with the same id+seq twice: one flow, 4 pkts 392 bytes, ECO";
    arp_request_reply: "ARP who-has and is-at: proto arp, dir who, 2 pkts 84 bytes, CON";
    // §3 flows picked up mid-stream and direction
    tcp_midstream: "data segments both ways, no SYN, no FIN, 4 s: dir <?>, CON, stcpb = first seq - 1";
    tcp_midstream_fin: "mid-stream flow that closes with FINs: dir <?>, FIN";
    direction_8080_to_41000: "one ACK .1:8080 -> .2:41000: ra -X keeps the probe orientation ( ?>)";
    direction_80_to_443: "one ACK .1:80 -> .2:443:  ?>";
    direction_443_to_80: "one ACK .1:443 -> .2:80:  ?>";
    direction_5432_to_60000: "one ACK .1:5432 -> .2:60000:  ?>";
    direction_1024_to_1023: "one ACK .1:1024 -> .2:1023:  ?>";
    direction_40000_to_50000: "one ACK .2:40000 -> .1:50000:  ?>";
    udp_from_port_53: "a UDP packet from port 53 first: src stays 10.0.22.2.53, dir ->";
    // §4 idle gaps and status intervals
    udp_idle_gaps: "UDP 42001->9000 at t=2,12,41,72.5,134 (20-byte 'u' payload, proto udt) plus a clock flow: INT, REQ, REQ, REQ, then a new flow INT";
    icmp_echo_gaps: "echo requests id 0x1234 at t=3,4,8.5,14.5 with seqs 1..4: one record per seq";
    arp_gaps: "ARP requests at t=5,6,10,16: records (5,6) INT, 10 INT, 16 INT";
    ipproto253_gaps: "IP protocol 253 at t=6,26,57.5: one flow, records INT, REQ, REQ";
    ethertype_88b5_gaps: "ethertype 0x88b5 at t=7,27,58.5: one flow, records INT, REQ, REQ";
    tcp_idle_70_130: "TCP flow, idle 70 s, data both ways, idle 130 s, one segment, plus a clock flow: records ->, <?>, ' ?>'";
    udp_bidirectional_150s: "UDP 1 pkt/s each way (reply +0.5 s) for 150 s: one CON record of 5/5 pkts every 5 s";
    // Keys
    dns_txid_v4: "three DNS queries on one 5-tuple, txids 0x1111, 0x2222, 0x1111: 2 flows";
    dns_txid_v6: "the same over IPv6: the txid is not in the key, 1 flow";
    icmp_echo_v4_per_seq: "5 IPv4 pings (request+reply), same id: 5 ECO records";
    icmpv6_echo_one_flow: "3 IPv6 pings, same id: 1 ECO record";
    icmpv6_neighbor_solicit: "neighbour solicitation fd77::1 -> ff02::1:ff00:2: 86 bytes, NNS";
    icmp_port_unreachable: "UDP to a closed port and the ICMP port unreachable quoting it: the UDP flow gets flag U";
    // §5 encapsulations
    ipv6_tcp: "IPv6 TCP session 2001:db8::a.40001 -> 2001:db8::b.80: 10 pkts 822 bytes, FIN";
    vlan_tcp: "802.1Q vid 100 TCP session: 10 pkts 662 bytes, FIN, flag *";
    vlan_udp_200_201: "UDP with vid 200 one way and 201 back: 6 pkts 1176 bytes, CON, svid 200 dvid 201";
    qinq_udp: "802.1ad QinQ UDP: not parsed, ethertype-34984 MAC flow, 6 pkts 1200 bytes, CON";
    mpls_tcp: "MPLS label 1000 / 1001 TCP session: 10 pkts 662 bytes, FIN, flag *";
    gre_udp: "UDP inside GRE: the inner flow 10.1.1.1.40030 <-> 10.1.1.2.5003, 6 pkts 1296 bytes (outer frames)";
    ipip_tcp: "TCP inside IP-in-IP: not decapsulated, ipnip 203.0.113.1 <-> 203.0.113.3, 10 pkts 822 bytes";
    sixin4_udp: "IPv6 UDP inside IPv4 (6in4): not decapsulated, ipv6 203.0.113.1 <-> 203.0.113.4, 6 pkts 1392 bytes";
    pppoe_udp: "UDP over PPPoE session: inner flow, 6 pkts 1200 bytes, flag *";
    ipv4_fragments: "a 3000-byte UDP datagram in 3 fragments (1514+1514+82): 3 pkts 3110 bytes, INT, flag F";
    ipv6_fragments: "a 3000-byte UDP datagram over IPv6 in 3 fragments (fragment extension header)";
    lldp: "two LLDP frames to 01:80:c2:00:00:0e: lldp, multicast dst printed as src, 2 pkts 66 bytes";
    stp_llc: "one 802.3 STP BPDU (LLC SAP 0x42): llc, 1 pkt 52 bytes";
    sctp: "SCTP INIT and INIT-ACK: sctp 192.0.2.1 <-> 192.0.2.6, 2 pkts 132 bytes, CON";
    esp: "two ESP packets one way: esp, 2 pkts 164 bytes, INT";
    esp_ipv6: "two ESP packets one way over IPv6: Argus 3.0.8 writes no record for them";
    igmp_v3_report: "IGMPv3 report to 224.0.0.22: igmp, 1 pkt 50 bytes, daddr printed 0.0.0.1";
    vxlan_udp: "UDP inside VXLAN (UDP 4789): measured what Argus reports";
    tcp_snaplen_truncated: "TCP session with 1000-byte segments captured with snaplen 96: bytes = orig_len";
    tcp_ecn_options: "TCP with MSS/wscale/sackOK/timestamps options and ECN-marked TOS: tcpopt, stos 2 / dtos 3";
    ipv4_options: "UDP with an IPv4 record-route option: flag R in flgs[7]";
}

// ---------------------------------------------------------------- §4 TCP states

fn tcp_syn_retransmitted(path: &Path) -> io::Result<()> {
    let mut c = TcpConv::ipv4(v4(10, 0, 1, 1), 41001, v4(10, 0, 1, 2), 80);
    let syn = c.client(SYN, &[]);
    write_pcap(
        path,
        &[
            (at(0.0), syn.clone()),
            (at(1.0), syn.clone()),
            (at(3.0), syn),
        ],
    )
}

fn tcp_syn_synack(path: &Path) -> io::Result<()> {
    let mut c = TcpConv::ipv4(v4(10, 0, 2, 1), 41002, v4(10, 0, 2, 2), 80);
    write_pcap(
        path,
        &spaced(
            0.1,
            0.001,
            vec![c.client(SYN, &[]), c.server(SYN | ACK, &[])],
        ),
    )
}

fn tcp_established_idle(path: &Path) -> io::Result<()> {
    let mut c = TcpConv::ipv4(v4(10, 0, 3, 1), 41003, v4(10, 0, 3, 2), 80);
    let frames = vec![
        c.client(SYN, &[]),
        c.server(SYN | ACK, &[]),
        c.client(ACK, &[]),
        c.client(PSH | ACK, &[b'd'; 30]),
        c.server(ACK, &[]),
    ];
    write_pcap(path, &spaced(0.3, 0.001, frames))
}

fn tcp_rst(path: &Path, from_initiator: bool, net: u8, port: u16) -> io::Result<()> {
    let mut c = TcpConv::ipv4(v4(10, 0, net, 1), port, v4(10, 0, net, 2), 80);
    let mut frames = vec![
        c.client(SYN, &[]),
        c.server(SYN | ACK, &[]),
        c.client(ACK, &[]),
    ];
    frames.push(if from_initiator {
        c.client(RST | ACK, &[])
    } else {
        c.server(RST | ACK, &[])
    });
    write_pcap(path, &spaced(0.7, 0.001, frames))
}

fn tcp_rst_initiator(path: &Path) -> io::Result<()> {
    tcp_rst(path, true, 6, 41006)
}

fn tcp_rst_responder(path: &Path) -> io::Result<()> {
    tcp_rst(path, false, 7, 41007)
}

fn tcp_refused(path: &Path) -> io::Result<()> {
    let mut c = TcpConv::ipv4(v4(10, 0, 8, 1), 41008, v4(10, 0, 8, 2), 81);
    write_pcap(
        path,
        &spaced(
            0.9,
            0.001,
            vec![c.client(SYN, &[]), c.server(RST | ACK, &[])],
        ),
    )
}

fn tcp_retrans_zero_window_fin(path: &Path) -> io::Result<()> {
    let mut c = TcpConv::ipv4(v4(10, 0, 9, 1), 41009, v4(10, 0, 9, 2), 80);
    let request = [b'r'; 200];
    let mut frames = vec![
        c.client(SYN, &[]),
        c.server(SYN | ACK, &[]),
        c.client(ACK, &[]),
    ];
    frames.push(c.client(PSH | ACK, &request));
    frames.push(c.client_retransmit(PSH | ACK, &request));
    c.server_window = 0;
    frames.push(c.server(ACK, &[]));
    c.server_window = 65160;
    frames.push(c.server(ACK, &[]));
    frames.push(c.client(FIN | ACK, &[]));
    frames.push(c.server(FIN | ACK, &[]));
    frames.push(c.client(ACK, &[]));
    write_pcap(path, &spaced(1.0, 0.01, frames))
}

fn tcp_server_closes_first(path: &Path) -> io::Result<()> {
    let mut c = TcpConv::ipv4(v4(10, 0, 10, 1), 41010, v4(10, 0, 10, 2), 80);
    let frames = vec![
        c.client(SYN, &[]),
        c.server(SYN | ACK, &[]),
        c.client(ACK, &[]),
        c.server(FIN | ACK, &[]),
        c.client(FIN | ACK, &[]),
        c.server(ACK, &[]),
    ];
    write_pcap(path, &spaced(1.2, 0.01, frames))
}

fn tcp_synack_first(path: &Path) -> io::Result<()> {
    let mut c = TcpConv::ipv4(v4(10, 0, 11, 1), 41011, v4(10, 0, 11, 2), 80);
    c.client_seq += 1; // the SYN was sent before the capture started
    write_pcap(
        path,
        &spaced(
            1.3,
            0.001,
            vec![c.server(SYN | ACK, &[]), c.client(ACK, &[])],
        ),
    )
}

fn udp_request_response(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(10, 0, 21, 1), v4(10, 0, 21, 2));
    let frames = vec![
        Frame::eth(mac(1), mac(2))
            .ipv4(a, b)
            .udp(42002, 9001)
            .payload_fill(30, b'q')
            .build(),
        Frame::eth(mac(2), mac(1))
            .ipv4(b, a)
            .udp(9001, 42002)
            .payload_fill(30, b'p')
            .build(),
    ];
    write_pcap(path, &spaced(2.1, 0.001, frames))
}

fn echo_pair(a: Ipv4Addr, b: Ipv4Addr, id: u16, seq: u16) -> [Vec<u8>; 2] {
    [
        Frame::eth(mac(1), mac(2))
            .ipv4(a, b)
            .icmp_echo_request(id, seq)
            .payload_fill(56, 0x42)
            .build(),
        Frame::eth(mac(2), mac(1))
            .ipv4(b, a)
            .icmp_echo_reply(id, seq)
            .payload_fill(56, 0x42)
            .build(),
    ]
}

fn icmp_echo_unanswered(path: &Path) -> io::Result<()> {
    let [req, _] = echo_pair(v4(10, 0, 31, 1), v4(10, 0, 31, 2), 0x0099, 1);
    write_pcap(path, &[(at(3.1), req)])
}

fn icmp_echo_same_seq_twice(path: &Path) -> io::Result<()> {
    let [req, rep] = echo_pair(v4(10, 0, 32, 1), v4(10, 0, 32, 2), 0x0055, 1);
    write_pcap(
        path,
        &spaced(3.2, 0.01, vec![req.clone(), rep.clone(), req, rep]),
    )
}

fn arp_request_reply(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(10, 0, 40, 1), v4(10, 0, 40, 2));
    let frames = vec![
        Frame::eth(mac(1), [0xff; 6])
            .arp_request(mac(1), a, b)
            .build(),
        Frame::eth(mac(2), mac(1))
            .arp_reply(mac(2), b, mac(1), a)
            .build(),
    ];
    write_pcap(path, &spaced(5.0, 0.001, frames))
}

// ---------------------------------------------------------------- §3 mid-stream and direction

fn midstream_conv(client_port: u16) -> TcpConv {
    let mut c = TcpConv::ipv4(v4(10, 77, 0, 1), client_port, v4(10, 77, 0, 2), 7000);
    c.client_seq = 1_458_308_231;
    c.server_seq = 54_503_999;
    c
}

fn tcp_midstream(path: &Path) -> io::Result<()> {
    let mut c = midstream_conv(52544);
    let mut frames = Vec::new();
    for _ in 0..5 {
        frames.push(c.client(PSH | ACK, &[b'e'; 20]));
        frames.push(c.server(PSH | ACK, &[b'e'; 20]));
        frames.push(c.client(ACK, &[]));
    }
    write_pcap(path, &spaced(0.0, 0.25, frames))
}

fn tcp_midstream_fin(path: &Path) -> io::Result<()> {
    let mut c = midstream_conv(52558);
    let frames = vec![
        c.client(PSH | ACK, &[b'e'; 20]),
        c.server(PSH | ACK, &[b'e'; 20]),
        c.client(FIN | ACK, &[]),
        c.server(FIN | ACK, &[]),
        c.client(ACK, &[]),
    ];
    write_pcap(path, &spaced(0.0, 0.01, frames))
}

fn one_ack(path: &Path, from: Ipv4Addr, sport: u16, to: Ipv4Addr, dport: u16) -> io::Result<()> {
    let frame = Frame::eth(mac(1), mac(2))
        .ipv4(from, to)
        .tcp(sport, dport)
        .flags(ACK)
        .seq(7777)
        .ack(8888)
        .build();
    write_pcap(path, &[(at(0.0), frame)])
}

const DIR_1: Ipv4Addr = Ipv4Addr::new(10, 9, 20, 1);
const DIR_2: Ipv4Addr = Ipv4Addr::new(10, 9, 20, 2);

fn direction_8080_to_41000(path: &Path) -> io::Result<()> {
    one_ack(path, DIR_1, 8080, DIR_2, 41000)
}

fn direction_80_to_443(path: &Path) -> io::Result<()> {
    one_ack(path, DIR_1, 80, DIR_2, 443)
}

fn direction_443_to_80(path: &Path) -> io::Result<()> {
    one_ack(path, DIR_1, 443, DIR_2, 80)
}

fn direction_5432_to_60000(path: &Path) -> io::Result<()> {
    one_ack(path, DIR_1, 5432, DIR_2, 60000)
}

fn direction_1024_to_1023(path: &Path) -> io::Result<()> {
    one_ack(path, DIR_1, 1024, DIR_2, 1023)
}

fn direction_40000_to_50000(path: &Path) -> io::Result<()> {
    one_ack(path, DIR_2, 40000, DIR_1, 50000)
}

fn udp_from_port_53(path: &Path) -> io::Result<()> {
    let frame = Frame::eth(mac(2), mac(1))
        .ipv4([10, 0, 22, 2], [10, 0, 22, 1])
        .dns_response(53, 42003, 0x4242, "example.com")
        .build();
    write_pcap(path, &[(at(0.0), frame)])
}

// ---------------------------------------------------------------- §4 idle gaps

/// Argus expires idle flows from its timer, which packet time drives: with no
/// other traffic a flow is found again however long the gap. Captures that
/// measure idle timeouts carry this one-way UDP flow (10.0.99.1.43999 ->
/// 10.0.99.2.6999, one packet a second from t=0 to `until_s`) as a clock, as
/// the measured states.pcap did with its other flows.
pub fn clock_packets(until_s: u32) -> Packets {
    let frame = Frame::eth(mac(98), mac(99))
        .ipv4([10, 0, 99, 1], [10, 0, 99, 2])
        .udp(43999, 6999)
        .payload_fill(8, b'c');
    let frame = frame.build();
    (0..=until_s)
        .map(|s| (at(f64::from(s)), frame.clone()))
        .collect()
}

/// Merges `packets` with the clock flow, in time order.
fn with_clock(mut packets: Packets, until_s: u32) -> Packets {
    packets.extend(clock_packets(until_s));
    packets.sort_by_key(|(ts, _)| *ts);
    packets
}

fn udp_idle_gaps(path: &Path) -> io::Result<()> {
    let frame = Frame::eth(mac(1), mac(2))
        .ipv4([10, 0, 20, 1], [10, 0, 20, 2])
        .udp(42001, 9000)
        .payload_fill(20, b'u');
    let packets = [2.0, 12.0, 41.0, 72.5, 134.0]
        .iter()
        .map(|&t| (at(t), frame.build()))
        .collect::<Packets>();
    write_pcap(path, &with_clock(packets, 140))
}

fn icmp_echo_gaps(path: &Path) -> io::Result<()> {
    let packets = [3.0, 4.0, 8.5, 14.5]
        .iter()
        .zip(1u16..)
        .map(|(&t, seq)| {
            let f = Frame::eth(mac(1), mac(2))
                .ipv4([10, 0, 30, 1], [10, 0, 30, 2])
                .icmp_echo_request(0x1234, seq);
            (at(t), f.payload_fill(56, 0x42).build())
        })
        .collect::<Packets>();
    write_pcap(path, &packets)
}

fn arp_gaps(path: &Path) -> io::Result<()> {
    let frame = Frame::eth(mac(1), [0xff; 6])
        .arp_request(mac(1), [10, 0, 40, 1], [10, 0, 40, 2])
        .build();
    let packets = [5.0, 6.0, 10.0, 16.0]
        .iter()
        .map(|&t| (at(t), frame.clone()))
        .collect::<Packets>();
    write_pcap(path, &packets)
}

fn ipproto253_gaps(path: &Path) -> io::Result<()> {
    let frame = Frame::eth(mac(1), mac(2))
        .ipv4([10, 0, 50, 1], [10, 0, 50, 2])
        .ip_proto(253)
        .payload_fill(20, 0xfd);
    let packets = [6.0, 26.0, 57.5]
        .iter()
        .map(|&t| (at(t), frame.build()))
        .collect::<Packets>();
    write_pcap(path, &packets)
}

fn ethertype_88b5_gaps(path: &Path) -> io::Result<()> {
    let frame = Frame::eth(mac(1), mac(2))
        .ethertype(0x88b5)
        .payload_fill(46, 0xb5)
        .build();
    let packets = [7.0, 27.0, 58.5]
        .iter()
        .map(|&t| (at(t), frame.clone()))
        .collect::<Packets>();
    write_pcap(path, &packets)
}

fn tcp_idle_70_130(path: &Path) -> io::Result<()> {
    let mut c = TcpConv::ipv4(v4(10, 0, 3, 1), 41003, v4(10, 0, 3, 2), 80);
    let mut packets = spaced(
        0.3,
        0.001,
        vec![
            c.client(SYN, &[]),
            c.server(SYN | ACK, &[]),
            c.client(ACK, &[]),
            c.client(PSH | ACK, &[b'd'; 30]),
            c.server(ACK, &[]),
        ],
    );
    packets.extend(spaced(
        70.304,
        0.001,
        vec![
            c.client(PSH | ACK, &[b'd'; 30]),
            c.server(PSH | ACK, &[b'r'; 30]),
        ],
    ));
    packets.push((at(200.305), c.client(PSH | ACK, &[b'd'; 30])));
    write_pcap(path, &with_clock(packets, 205))
}

fn udp_bidirectional_150s(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(10, 0, 60, 1), v4(10, 0, 60, 2));
    let req = Frame::eth(mac(1), mac(2))
        .ipv4(a, b)
        .udp(43000, 6000)
        .payload_fill(32, b'a')
        .build();
    let rep = Frame::eth(mac(2), mac(1))
        .ipv4(b, a)
        .udp(6000, 43000)
        .payload_fill(32, b'b')
        .build();
    let mut packets = Packets::new();
    for s in 0..150 {
        packets.push((at(s as f64), req.clone()));
        packets.push((at(s as f64 + 0.5), rep.clone()));
    }
    write_pcap(path, &packets)
}

// ---------------------------------------------------------------- keys

fn dns_txid_v4(path: &Path) -> io::Result<()> {
    let frames = [0x1111, 0x2222, 0x1111]
        .iter()
        .map(|&txid| {
            Frame::eth(mac(1), mac(2))
                .ipv4([10, 0, 70, 1], [10, 0, 70, 2])
                .dns_query(42053, 53, txid, "example.com")
                .build()
        })
        .collect();
    write_pcap(path, &spaced(0.0, 0.1, frames))
}

fn dns_txid_v6(path: &Path) -> io::Result<()> {
    let frames = [0x1111, 0x2222, 0x1111]
        .iter()
        .map(|&txid| {
            Frame::eth(mac(1), mac(2))
                .ipv6(v6("2001:db8:70::1"), v6("2001:db8:70::2"))
                .dns_query(42053, 53, txid, "example.com")
                .build()
        })
        .collect();
    write_pcap(path, &spaced(0.0, 0.1, frames))
}

fn icmp_echo_v4_per_seq(path: &Path) -> io::Result<()> {
    let mut frames = Vec::new();
    for seq in 1..=5 {
        frames.extend(echo_pair(v4(10, 77, 0, 1), v4(10, 77, 0, 2), 0x54d1, seq));
    }
    write_pcap(path, &spaced(0.0, 0.5, frames))
}

fn icmpv6_echo_one_flow(path: &Path) -> io::Result<()> {
    let (a, b) = (v6("2001:db8:80::1"), v6("2001:db8:80::2"));
    let mut frames = Vec::new();
    for seq in 1..=3 {
        frames.push(
            Frame::eth(mac(1), mac(2))
                .ipv6(a, b)
                .icmpv6_echo_request(0x77, seq)
                .payload_fill(56, 1)
                .build(),
        );
        frames.push(
            Frame::eth(mac(2), mac(1))
                .ipv6(b, a)
                .icmpv6_echo_reply(0x77, seq)
                .payload_fill(56, 1)
                .build(),
        );
    }
    write_pcap(path, &spaced(0.0, 0.5, frames))
}

fn icmpv6_neighbor_solicit(path: &Path) -> io::Result<()> {
    let frame = Frame::eth(mac(1), [0x33, 0x33, 0xff, 0, 0, 2])
        .ipv6(v6("fd77::1"), v6("ff02::1:ff00:2"))
        .ttl(255)
        .icmpv6_neighbor_solicit(v6("fd77::2"), Some(mac(1)))
        .build();
    write_pcap(path, &[(at(0.0), frame)])
}

fn icmp_port_unreachable(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(10, 0, 90, 1), v4(10, 0, 90, 2));
    let query = Frame::eth(mac(1), mac(2))
        .ipv4(a, b)
        .udp(42090, 9999)
        .payload_fill(20, b'z')
        .build();
    let unreach = Frame::eth(mac(2), mac(1))
        .ipv4(b, a)
        .icmp_unreachable(3, &query[14..])
        .build();
    write_pcap(path, &spaced(0.0, 0.001, vec![query, unreach]))
}

// ---------------------------------------------------------------- §5 encapsulations

fn session_packets(mut c: TcpConv) -> Packets {
    spaced(0.01, 0.001, c.full_session(&[b'q'; 40], &[b'r'; 42]))
}

fn ipv6_tcp(path: &Path) -> io::Result<()> {
    let (a, b) = (v6("2001:db8::a"), v6("2001:db8::b"));
    let c = TcpConv::new(
        Frame::eth(mac(10), mac(11)).ipv6(a, b),
        Frame::eth(mac(11), mac(10)).ipv6(b, a),
        40001,
        80,
    );
    write_pcap(path, &session_packets(c))
}

fn vlan_tcp(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(192, 0, 2, 1), v4(192, 0, 2, 2));
    let c = TcpConv::new(
        Frame::eth(mac(10), mac(11)).vlan(100).ipv4(a, b),
        Frame::eth(mac(11), mac(10)).vlan(100).ipv4(b, a),
        40010,
        80,
    );
    write_pcap(path, &session_packets(c))
}

/// Three requests and three responses of 150 bytes over the given prefixes.
fn udp_exchange(
    c2s: Frame,
    s2c: Frame,
    sport: u16,
    dport: u16,
    req_len: usize,
    rsp_len: usize,
) -> Packets {
    let mut frames = Vec::new();
    for _ in 0..3 {
        frames.push(
            c2s.clone()
                .udp(sport, dport)
                .payload_fill(req_len, b'q')
                .build(),
        );
        frames.push(
            s2c.clone()
                .udp(dport, sport)
                .payload_fill(rsp_len, b'r')
                .build(),
        );
    }
    spaced(0.01, 0.001, frames)
}

fn vlan_udp_200_201(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(192, 0, 2, 1), v4(192, 0, 2, 3));
    let packets = udp_exchange(
        Frame::eth(mac(10), mac(11)).vlan(200).ipv4(a, b),
        Frame::eth(mac(11), mac(10)).vlan(201).ipv4(b, a),
        40011,
        5000,
        150,
        150,
    );
    write_pcap(path, &packets)
}

fn qinq_udp(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(192, 0, 2, 1), v4(192, 0, 2, 4));
    let packets = udp_exchange(
        Frame::eth(mac(10), mac(11)).qinq(300, 301).ipv4(a, b),
        Frame::eth(mac(11), mac(10)).qinq(300, 301).ipv4(b, a),
        40012,
        5001,
        150,
        150,
    );
    write_pcap(path, &packets)
}

fn mpls_tcp(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(198, 51, 100, 1), v4(198, 51, 100, 2));
    let c = TcpConv::new(
        Frame::eth(mac(10), mac(11)).mpls(1000).ipv4(a, b),
        Frame::eth(mac(11), mac(10)).mpls(1001).ipv4(b, a),
        40020,
        443,
    );
    write_pcap(path, &session_packets(c))
}

fn gre_udp(path: &Path) -> io::Result<()> {
    let (oa, ob) = (v4(192, 0, 2, 1), v4(192, 0, 2, 5));
    let (a, b) = (v4(10, 1, 1, 1), v4(10, 1, 1, 2));
    let packets = udp_exchange(
        Frame::eth(mac(10), mac(11)).ipv4(oa, ob).gre().ipv4(a, b),
        Frame::eth(mac(11), mac(10)).ipv4(ob, oa).gre().ipv4(b, a),
        40030,
        5003,
        100,
        200,
    );
    write_pcap(path, &packets)
}

fn ipip_tcp(path: &Path) -> io::Result<()> {
    let (oa, ob) = (v4(203, 0, 113, 1), v4(203, 0, 113, 3));
    let (a, b) = (v4(10, 2, 0, 1), v4(10, 2, 0, 2));
    let c = TcpConv::new(
        Frame::eth(mac(10), mac(11)).ipv4(oa, ob).ipv4(a, b),
        Frame::eth(mac(11), mac(10)).ipv4(ob, oa).ipv4(b, a),
        40040,
        80,
    );
    write_pcap(path, &session_packets(c))
}

fn sixin4_udp(path: &Path) -> io::Result<()> {
    let (oa, ob) = (v4(203, 0, 113, 1), v4(203, 0, 113, 4));
    let (a, b) = (v6("2001:db8:64::1"), v6("2001:db8:64::2"));
    let packets = udp_exchange(
        Frame::eth(mac(10), mac(11)).ipv4(oa, ob).ipv6(a, b),
        Frame::eth(mac(11), mac(10)).ipv4(ob, oa).ipv6(b, a),
        40050,
        5004,
        150,
        150,
    );
    write_pcap(path, &packets)
}

fn pppoe_udp(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(100, 64, 0, 1), v4(100, 64, 0, 2));
    let packets = udp_exchange(
        Frame::eth(mac(10), mac(11)).pppoe(0x1234).ipv4(a, b),
        Frame::eth(mac(11), mac(10)).pppoe(0x1234).ipv4(b, a),
        40060,
        5005,
        150,
        150,
    );
    write_pcap(path, &packets)
}

fn ipv4_fragments(path: &Path) -> io::Result<()> {
    let full = Frame::eth(mac(10), mac(11))
        .ipv4([192, 0, 2, 1], [192, 0, 2, 9])
        .ip_id(4242)
        .udp(40070, 5006)
        .payload_fill(3000, b'f')
        .build();
    write_pcap(path, &spaced(0.0, 0.001, fragment_ipv4(&full, 14, 1480)))
}

fn ipv6_fragments(path: &Path) -> io::Result<()> {
    let (a, b) = (v6("2001:db8:f::1"), v6("2001:db8:f::2"));
    // The UDP header and data as one datagram, then cut into three fragment payloads.
    let whole = Frame::bare_ipv6(a, b)
        .udp(40071, 5007)
        .payload_fill(3000, b'f')
        .build();
    let l4 = &whole[40..];
    let mut frames = Vec::new();
    for (offset, end) in [(0usize, 1448usize), (1448, 2896), (2896, l4.len())] {
        let more = end < l4.len();
        frames.push(
            Frame::eth(mac(10), mac(11))
                .ipv6(a, b)
                .ipv6_ext(Ipv6Ext::Fragment {
                    offset: offset as u16,
                    more,
                    id: 0x4242,
                })
                .ip_proto(crate::craft::ipproto::UDP)
                .payload(&l4[offset..end])
                .build(),
        );
    }
    write_pcap(path, &spaced(0.0, 0.001, frames))
}

fn lldp_frame(src: Mac) -> Vec<u8> {
    let mut tlvs = vec![0x02, 0x07, 0x04]; // chassis id, MAC subtype
    tlvs.extend_from_slice(&src);
    tlvs.extend_from_slice(&[0x04, 0x02, 0x07, b'1']); // port id, local subtype
    tlvs.extend_from_slice(&[0x06, 0x02, 0x00, 0x78]); // TTL 120
    tlvs.extend_from_slice(&[0x00, 0x00]); // end
    Frame::eth(src, [0x01, 0x80, 0xc2, 0, 0, 0x0e])
        .ethertype(ethertype::LLDP)
        .payload(&tlvs)
        .build()
}

fn lldp(path: &Path) -> io::Result<()> {
    write_pcap(
        path,
        &spaced(0.0, 0.01, vec![lldp_frame(mac(10)), lldp_frame(mac(10))]),
    )
}

fn stp_llc(path: &Path) -> io::Result<()> {
    let mut bpdu = vec![0, 0, 0, 0, 0]; // protocol id, version, type config, flags
    bpdu.extend_from_slice(&[0x80, 0x00]);
    bpdu.extend_from_slice(&mac(10)); // root id
    bpdu.extend_from_slice(&[0, 0, 0, 0]); // root path cost
    bpdu.extend_from_slice(&[0x80, 0x00]);
    bpdu.extend_from_slice(&mac(10)); // bridge id
    bpdu.extend_from_slice(&[0x80, 0x01, 0, 0, 0x14, 0, 0x02, 0, 0x0f, 0]); // port, ages, hello, delay
    let frame = Frame::eth(mac(10), [0x01, 0x80, 0xc2, 0, 0, 0])
        .llc(0x42, 0x42, 0x03)
        .payload(&bpdu)
        .build();
    write_pcap(path, &[(at(0.0), frame)])
}

fn sctp(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(192, 0, 2, 1), v4(192, 0, 2, 6));
    let frames = vec![
        Frame::eth(mac(10), mac(11))
            .ipv4(a, b)
            .sctp(40080, 5008, 0)
            .payload(&sctp_init_chunk(1, 0xa1a1, 1))
            .build(),
        Frame::eth(mac(11), mac(10))
            .ipv4(b, a)
            .sctp(5008, 40080, 0xa1a1)
            .payload(&sctp_init_chunk(2, 0xb2b2, 1))
            .build(),
    ];
    write_pcap(path, &spaced(0.0, 0.001, frames))
}

fn esp(path: &Path) -> io::Result<()> {
    let frames = (1..=2)
        .map(|seq| {
            Frame::eth(mac(10), mac(11))
                .ipv4([192, 0, 2, 1], [192, 0, 2, 7])
                .esp(0x2020_0001, seq)
                .payload_fill(40, 0xee)
                .build()
        })
        .collect();
    write_pcap(path, &spaced(0.0, 0.01, frames))
}

fn esp_ipv6(path: &Path) -> io::Result<()> {
    let frames = (1..=2)
        .map(|seq| {
            Frame::eth(mac(10), mac(11))
                .ipv6(v6("2001:db8::1"), v6("2001:db8::7"))
                .esp(0x2020_0002, seq)
                .payload_fill(40, 0xee)
                .build()
        })
        .collect();
    write_pcap(path, &spaced(0.0, 0.01, frames))
}

fn igmp_v3_report(path: &Path) -> io::Result<()> {
    let frame = Frame::eth(mac(10), [0x01, 0x00, 0x5e, 0, 0, 0x16])
        .ipv4([192, 0, 2, 1], [224, 0, 0, 22])
        .ttl(1)
        .igmp_v3_report(&[v4(239, 1, 2, 3)])
        .build();
    write_pcap(path, &[(at(0.0), frame)])
}

fn vxlan_udp(path: &Path) -> io::Result<()> {
    let (oa, ob) = (v4(192, 0, 2, 1), v4(192, 0, 2, 10));
    let (a, b) = (v4(10, 3, 0, 1), v4(10, 3, 0, 2));
    let packets = udp_exchange(
        Frame::eth(mac(10), mac(11))
            .ipv4(oa, ob)
            .udp(49152, 4789)
            .vxlan(42)
            .inner_eth(mac(20), mac(21))
            .ipv4(a, b),
        Frame::eth(mac(11), mac(10))
            .ipv4(ob, oa)
            .udp(49152, 4789)
            .vxlan(42)
            .inner_eth(mac(21), mac(20))
            .ipv4(b, a),
        40090,
        5009,
        100,
        100,
    );
    write_pcap(path, &packets)
}

fn tcp_snaplen_truncated(path: &Path) -> io::Result<()> {
    let mut c = TcpConv::ipv4(v4(10, 77, 0, 1), 49456, v4(10, 77, 0, 2), 8080);
    let mut frames = vec![
        c.client(SYN, &[]),
        c.server(SYN | ACK, &[]),
        c.client(ACK, &[]),
    ];
    frames.push(c.client(PSH | ACK, &[b'g'; 100]));
    for _ in 0..5 {
        frames.push(c.server(ACK, &[b'x'; 1000]));
    }
    frames.push(c.client(ACK, &[]));
    frames.push(c.client(FIN | ACK, &[]));
    frames.push(c.server(FIN | ACK, &[]));
    frames.push(c.client(ACK, &[]));
    let options = PcapOptions {
        snaplen: 96,
        ..PcapOptions::default()
    };
    write_pcap_with(path, options, &spaced(0.0, 0.001, frames))
}

fn tcp_ecn_options(path: &Path) -> io::Result<()> {
    let (a, b) = (v4(10, 0, 95, 1), v4(10, 0, 95, 2));
    let c2s = Frame::eth(mac(1), mac(2)).ipv4(a, b);
    let s2c = Frame::eth(mac(2), mac(1)).ipv4(b, a);
    let syn = c2s
        .clone()
        .tcp(41095, 80)
        .flags(SYN | ECE | crate::craft::CWR)
        .seq(1000)
        .window(64240);
    let syn = syn
        .mss(1460)
        .sack_ok()
        .timestamps(1, 0)
        .tcp_option(crate::craft::TcpOpt::Nop)
        .wscale(7);
    let synack = s2c
        .clone()
        .tcp(80, 41095)
        .flags(SYN | ACK | ECE)
        .seq(5000)
        .ack(1001)
        .window(65160);
    let synack = synack
        .mss(1460)
        .sack_ok()
        .timestamps(2, 1)
        .tcp_option(crate::craft::TcpOpt::Nop)
        .wscale(7);
    let frames = vec![
        syn.build(),
        synack.build(),
        c2s.clone()
            .tcp(41095, 80)
            .seq(1001)
            .ack(5001)
            .window(502)
            .build(),
        c2s.clone()
            .tos(2)
            .tcp(41095, 80)
            .flags(PSH | ACK)
            .seq(1001)
            .ack(5001)
            .window(502)
            .payload(&[1; 10])
            .build(),
        s2c.clone()
            .tos(3)
            .tcp(80, 41095)
            .flags(ACK)
            .seq(5001)
            .ack(1011)
            .window(509)
            .build(),
    ];
    write_pcap(path, &spaced(0.0, 0.001, frames))
}

fn ipv4_options(path: &Path) -> io::Result<()> {
    // Record route: type 7, length 11, pointer 4, two empty slots (+1 EOL pad).
    let rr = [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0];
    let frame = Frame::eth(mac(1), mac(2))
        .ipv4([10, 0, 96, 1], [10, 0, 96, 2])
        .ip_options(&rr)
        .udp(42096, 5010)
        .payload_fill(10, 1);
    write_pcap(path, &[(at(0.0), frame.build())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = all_scenarios().iter().map(|s| s.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn every_scenario_writes_a_pcap() {
        let dir = std::env::temp_dir().join(format!("ocellus-scen-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for s in all_scenarios() {
            let p = dir.join(format!("{}.pcap", s.name));
            (s.write)(&p).unwrap();
            let len = std::fs::metadata(&p).unwrap().len();
            assert!(len > 24 + 16, "{} wrote no packet", s.name);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

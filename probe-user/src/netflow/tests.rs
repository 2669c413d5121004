use super::*;
use std::net::Ipv4Addr;
use std::path::PathBuf;

const EXP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const SEC: u64 = 1_000_000_000;

fn v5_packet(uptime_ms: u32, secs: u32, recs: &[(u32, u32, u8, u16, u16)]) -> Vec<u8> {
    // recs: (first_ms, last_ms, proto, sport, dport)
    let mut p = Vec::new();
    p.extend_from_slice(&5u16.to_be_bytes());
    p.extend_from_slice(&(recs.len() as u16).to_be_bytes());
    p.extend_from_slice(&uptime_ms.to_be_bytes());
    p.extend_from_slice(&secs.to_be_bytes());
    p.extend_from_slice(&500_000_000u32.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    for (i, &(first, last, proto, sport, dport)) in recs.iter().enumerate() {
        p.extend_from_slice(&[10, 0, 0, 1 + i as u8, 10, 0, 1, 1, 0, 0, 0, 0]);
        p.extend_from_slice(&[0, 1, 0, 2]);
        p.extend_from_slice(&(3u32 + i as u32).to_be_bytes());
        p.extend_from_slice(&(300u32 + i as u32).to_be_bytes());
        p.extend_from_slice(&first.to_be_bytes());
        p.extend_from_slice(&last.to_be_bytes());
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0, 0x1b, proto, 0x28, 0, 0, 0, 0, 24, 24, 0, 0]);
    }
    p
}

#[test]
fn v5_times_ports_icmp_and_uptime_wrap() {
    // Uptime wrapped 1 s ago; the first flow started 2 s before the wrap.
    let up = 1000u32;
    let first_before_wrap = u32::MAX - 1999;
    let p = v5_packet(
        up,
        1_700_000_000,
        &[
            (first_before_wrap, 500, 6, 1234, 80),
            (900, 1000, 1, 0, 3 << 8 | 1),
        ],
    );
    let mut c = Collector::default();
    let mut out = Vec::new();
    assert_eq!(c.decode(EXP, 0, &p, &mut out), Ok(2));
    let export_ns = 1_700_000_000 * SEC + 500_000_000;
    let r = &out[0];
    assert_eq!(r.stime_ns, export_ns - 3 * SEC);
    assert_eq!(r.ltime_ns, export_ns - SEC / 2);
    assert_eq!(r.flags & flag::NETFLOW, flag::NETFLOW);
    assert_eq!(
        (r.key.sport, r.key.dport, r.key.proto),
        (1234, 80, 6),
        "{r:?}"
    );
    assert_eq!((r.src.pkts, r.src.bytes, r.src.tos), (3, 300, 0x28));
    let tcp = r.tcp.expect("tcp perf");
    assert_eq!(tcp.src_flags, 0x1b);
    assert_eq!(&r.key.src[..4], &[10, 0, 0, 1]);
    assert_eq!(r.srcid, u32::from(Ipv4Addr::new(192, 0, 2, 1)));
    // ICMP type 3 code 1 from the destination port.
    let r = &out[1];
    assert_eq!((r.key.proto, r.key.sport, r.key.dport), (1, 3 << 8 | 1, 0));
    assert_eq!(r.stime_ns, export_ns - 100_000_000);
    assert_eq!(r.ltime_ns, export_ns);
}

#[test]
fn v5_bad_counts_are_refused() {
    let mut p = v5_packet(1, 1, &[(0, 0, 6, 1, 2)]);
    p[3] = 2; // claims 2 records, holds 1
    let mut c = Collector::default();
    let mut out = Vec::new();
    assert!(matches!(
        c.decode(EXP, 0, &p, &mut out),
        Err(DecodeError::BadV5Count { .. })
    ));
    p[2] = 0xff; // enormous count
    assert!(c.decode(EXP, 0, &p, &mut out).is_err());
    assert!(out.is_empty());
    assert_eq!(c.stats().malformed_datagrams, 2);
}

/// IPFIX message builder.
struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(domain: u32, export_s: u32) -> Msg {
        let mut buf = vec![0, 10, 0, 0];
        buf.extend_from_slice(&export_s.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&domain.to_be_bytes());
        Msg { buf }
    }
    fn set(mut self, id: u16, body: &[u8]) -> Msg {
        self.buf.extend_from_slice(&id.to_be_bytes());
        self.buf
            .extend_from_slice(&(body.len() as u16 + 4).to_be_bytes());
        self.buf.extend_from_slice(body);
        self
    }
    fn done(mut self) -> Vec<u8> {
        let n = self.buf.len() as u16;
        self.buf[2..4].copy_from_slice(&n.to_be_bytes());
        self.buf
    }
}

/// A template record: (id, len, pen) triples.
fn tmpl(tid: u16, fields: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&tid.to_be_bytes());
    b.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for &(id, len, pen) in fields {
        let id = if pen != 0 { id | 0x8000 } else { id };
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        if pen != 0 {
            b.extend_from_slice(&pen.to_be_bytes());
        }
    }
    b
}

fn biflow_template() -> Vec<u8> {
    tmpl(
        300,
        &[
            (ie::SOURCE_IPV4_ADDRESS, 4, 0),
            (ie::DESTINATION_IPV4_ADDRESS, 4, 0),
            (ie::SOURCE_TRANSPORT_PORT, 2, 0),
            (ie::DESTINATION_TRANSPORT_PORT, 2, 0),
            (ie::PROTOCOL_IDENTIFIER, 1, 0),
            (ie::FLOW_START_MILLISECONDS, 8, 0),
            (ie::FLOW_END_MILLISECONDS, 8, 0),
            (ie::OCTET_DELTA_COUNT, 4, 0),
            (ie::PACKET_DELTA_COUNT, 4, 0),
            (ie::TCP_CONTROL_BITS, 1, 0),
            (ie::OCTET_DELTA_COUNT, 4, ie::REVERSE_PEN),
            (ie::PACKET_DELTA_COUNT, 4, ie::REVERSE_PEN),
            (ie::TCP_CONTROL_BITS, 1, ie::REVERSE_PEN),
            (1, 65535, 9), // enterprise varlen field, skipped
            (ie::VLAN_ID, 2, 0),
            (ie::SOURCE_MAC_ADDRESS, 6, 0),
            (ie::DESTINATION_MAC_ADDRESS, 6, 0),
        ],
    )
}

fn biflow_record(sport: u16, vl: &[u8]) -> Vec<u8> {
    let mut r = vec![10, 1, 1, 1, 10, 2, 2, 2];
    r.extend_from_slice(&sport.to_be_bytes());
    r.extend_from_slice(&443u16.to_be_bytes());
    r.push(6);
    r.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
    r.extend_from_slice(&1_700_000_002_500u64.to_be_bytes());
    r.extend_from_slice(&1000u32.to_be_bytes());
    r.extend_from_slice(&10u32.to_be_bytes());
    r.push(0x1b); // FIN PSH ACK SYN
    r.extend_from_slice(&5000u32.to_be_bytes());
    r.extend_from_slice(&8u32.to_be_bytes());
    r.push(0x13); // FIN SYN ACK
    if vl.len() < 255 {
        r.push(vl.len() as u8);
    } else {
        r.push(255);
        r.extend_from_slice(&(vl.len() as u16).to_be_bytes());
    }
    r.extend_from_slice(vl);
    r.extend_from_slice(&100u16.to_be_bytes());
    r.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
    r
}

#[test]
fn ipfix_biflow_varlen_enterprise_and_macs() {
    let mut data = biflow_record(40000, b"hello");
    data.extend(biflow_record(40001, &[7u8; 300]));
    let m = Msg::new(7, 1_700_000_010)
        .set(2, &biflow_template())
        .set(300, &data)
        .done();
    let mut c = Collector::default();
    let mut out = Vec::new();
    assert_eq!(c.decode(EXP, 0, &m, &mut out), Ok(2));
    let r = &out[0];
    assert_eq!((r.src.pkts, r.src.bytes), (10, 1000));
    assert_eq!((r.dst.pkts, r.dst.bytes), (8, 5000));
    assert_eq!(r.stime_ns, 1_700_000_000 * SEC);
    assert_eq!(r.ltime_ns, 1_700_000_002_500 * 1_000_000);
    let tcp = r.tcp.expect("tcp");
    assert_eq!((tcp.src_flags, tcp.dst_flags), (0x1b, 0x13));
    assert_ne!(tcp.state & tcpstate::SAW_SYNACK, 0);
    assert_ne!(tcp.state & tcpstate::CLOSED, 0);
    assert_eq!(r.cause, Cause::Close);
    assert_eq!(r.svlan, 100);
    assert_eq!(r.smac, [2, 0, 0, 0, 0, 1]);
    assert_eq!(r.dmac, [2, 0, 0, 0, 0, 2]);
    assert_ne!(r.flags & flag::HAS_MAC, 0);
    assert_eq!(out[1].key.sport, 40001);
    let st = c.stats();
    assert_eq!(st.biflow_records, 2);
    assert_eq!(st.enterprise_fields_skipped, 2);
    assert_eq!(st.records, 2);
}

#[test]
fn data_before_template_is_held_then_replayed_or_dropped() {
    let data = biflow_record(1, b"");
    let d = Msg::new(1, 100).set(300, &data).done();
    let t = Msg::new(1, 100).set(2, &biflow_template()).done();
    let mut c = Collector::default();
    let mut out = Vec::new();
    assert_eq!(c.decode(EXP, SEC, &d, &mut out), Ok(0));
    assert_eq!(c.held_sets(), 1);
    // The template from another domain does not release it.
    let other = Msg::new(2, 100).set(2, &biflow_template()).done();
    assert_eq!(c.decode(EXP, SEC, &other, &mut out), Ok(0));
    assert_eq!(c.decode(EXP, 2 * SEC, &t, &mut out), Ok(1));
    assert_eq!(c.held_sets(), 0);
    assert_eq!(c.stats().held_sets_replayed, 1);

    // Held too long: dropped with a counter.
    let mut c = Collector::default();
    assert_eq!(c.decode(EXP, SEC, &d, &mut out), Ok(0));
    assert_eq!(c.decode(EXP, 30 * SEC, &t, &mut out), Ok(0));
    assert_eq!(c.stats().held_sets_dropped, 1);
    assert_eq!(c.stats().unknown_template_sets, 1);

    // The hold queue is bounded.
    let cfg = CollectorConfig {
        max_held_sets: 4,
        ..CollectorConfig::default()
    };
    let mut c = Collector::new(cfg);
    for _ in 0..100 {
        let _ = c.decode(EXP, SEC, &d, &mut out);
    }
    assert_eq!(c.held_sets(), 4);
    assert_eq!(c.stats().held_sets_dropped, 96);
}

#[test]
fn template_withdrawal_and_expiry() {
    let t = Msg::new(1, 100).set(2, &biflow_template()).done();
    let d = Msg::new(1, 100).set(300, &biflow_record(1, b"")).done();
    let mut c = Collector::default();
    let mut out = Vec::new();
    c.decode(EXP, 0, &t, &mut out).unwrap();
    assert_eq!(c.template_count(), 1);
    // Withdraw template 300 (field count 0).
    let w = Msg::new(1, 100).set(2, &[1, 44, 0, 0]).done();
    c.decode(EXP, 0, &w, &mut out).unwrap();
    assert_eq!(c.template_count(), 0);
    assert_eq!(c.stats().template_withdrawals, 1);
    assert_eq!(c.decode(EXP, 0, &d, &mut out), Ok(0));
    // Withdraw-all (template id = set id 2).
    c.decode(EXP, 0, &t, &mut out).unwrap();
    let wa = Msg::new(1, 100).set(2, &[0, 2, 0, 0]).done();
    c.decode(EXP, 0, &wa, &mut out).unwrap();
    assert_eq!(c.template_count(), 0);

    // Expiry: a template not refreshed within the timeout is forgotten.
    let cfg = CollectorConfig {
        template_timeout_ns: 60 * SEC,
        ..CollectorConfig::default()
    };
    let mut c = Collector::new(cfg);
    c.decode(EXP, 0, &t, &mut out).unwrap();
    assert_eq!(c.decode(EXP, 59 * SEC, &d, &mut out), Ok(1));
    assert_eq!(c.decode(EXP, 61 * SEC, &d, &mut out), Ok(0));
    assert_eq!(c.stats().templates_expired, 1);
    c.decode(EXP, 61 * SEC, &t, &mut out).unwrap();
    c.expire_templates(200 * SEC);
    assert_eq!(c.template_count(), 0);
    assert_eq!(c.stats().templates_expired, 2);
}

#[test]
fn options_template_sampling_is_kept() {
    // IPFIX options template 400: scope observationDomainId, option samplingPacketInterval/Space.
    let mut ot = Vec::new();
    ot.extend_from_slice(&400u16.to_be_bytes());
    ot.extend_from_slice(&3u16.to_be_bytes());
    ot.extend_from_slice(&1u16.to_be_bytes());
    for (id, len) in [
        (149u16, 4u16),
        (ie::SAMPLING_PACKET_INTERVAL, 4),
        (ie::SAMPLING_PACKET_SPACE, 4),
    ] {
        ot.extend_from_slice(&id.to_be_bytes());
        ot.extend_from_slice(&len.to_be_bytes());
    }
    let mut od = Vec::new();
    for v in [9u32, 1, 99] {
        od.extend_from_slice(&v.to_be_bytes());
    }
    let m = Msg::new(9, 1).set(3, &ot).set(400, &od).done();
    let mut c = Collector::default();
    let mut out = Vec::new();
    assert_eq!(c.decode(EXP, 0, &m, &mut out), Ok(0));
    assert_eq!(c.sampling_interval(EXP, 9, 10), Some(100));
    assert_eq!(c.stats().options_records, 1);
    assert_eq!(c.stats().options_templates_learned, 1);
}

#[test]
fn v9_uptime_times_and_ipfix_system_init() {
    // NetFlow v9: template 256 with FIRST/LAST_SWITCHED, addresses, counters.
    let fields: [(u16, u16); 6] = [
        (ie::SOURCE_IPV4_ADDRESS, 4),
        (ie::DESTINATION_IPV4_ADDRESS, 4),
        (ie::FLOW_START_SYS_UP_TIME, 4),
        (ie::FLOW_END_SYS_UP_TIME, 4),
        (ie::OCTET_DELTA_COUNT, 4),
        (ie::PACKET_DELTA_COUNT, 4),
    ];
    let mut t = vec![1, 0, 0, fields.len() as u8];
    for (id, len) in fields {
        t.extend_from_slice(&id.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
    }
    let mut d = vec![1, 2, 3, 4, 5, 6, 7, 8];
    d.extend_from_slice(&(u32::MAX - 999).to_be_bytes()); // 1 s before the wrap
    d.extend_from_slice(&500u32.to_be_bytes());
    d.extend_from_slice(&64u32.to_be_bytes());
    d.extend_from_slice(&1u32.to_be_bytes());
    d.extend_from_slice(&[0, 0]); // padding
    let mut p = vec![0, 9, 0, 2];
    p.extend_from_slice(&2000u32.to_be_bytes()); // uptime
    p.extend_from_slice(&1_000_000u32.to_be_bytes()); // unix secs
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 42]);
    for (id, body) in [(0u16, &t), (256, &d)] {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&(body.len() as u16 + 4).to_be_bytes());
        p.extend_from_slice(body);
    }
    let mut c = Collector::default();
    let mut out = Vec::new();
    assert_eq!(c.decode(EXP, 0, &p, &mut out), Ok(1));
    let export = 1_000_000 * SEC;
    assert_eq!(out[0].stime_ns, export - 3 * SEC);
    assert_eq!(out[0].ltime_ns, export - 1_500_000_000);
    assert_eq!(out[0].src.bytes, 64);
}

#[test]
fn hostile_templates_and_sets_are_counted_not_fatal() {
    let mut c = Collector::default();
    let mut out = Vec::new();
    // A set length of 0 would loop forever.
    let mut m = Msg::new(1, 1).set(2, &biflow_template()).done();
    m.extend_from_slice(&[1, 44, 0, 0, 1, 2, 3, 4]);
    let n = m.len() as u16;
    m[2..4].copy_from_slice(&n.to_be_bytes());
    assert_eq!(c.decode(EXP, 0, &m, &mut out), Ok(0));
    assert_eq!(c.stats().malformed_sets, 1);
    // A template of only zero-length fields.
    let z = Msg::new(1, 1)
        .set(2, &tmpl(301, &[(1, 0, 0), (2, 0, 0)]))
        .done();
    c.decode(EXP, 0, &z, &mut out).unwrap();
    assert_eq!(c.stats().templates_malformed, 1);
    // A template claiming more fields than the set holds.
    let mut big = tmpl(302, &[(1, 4, 0)]);
    big[2..4].copy_from_slice(&60000u16.to_be_bytes());
    let b = Msg::new(1, 1).set(2, &big).done();
    c.decode(EXP, 0, &b, &mut out).unwrap();
    assert_eq!(c.stats().templates_malformed, 2);
    // A record whose variable length runs past the set.
    let mut rec = biflow_record(1, b"abc");
    let vl_at = rec.len() - 12 - 2 - 3 - 1;
    rec[vl_at] = 200;
    let d = Msg::new(1, 1).set(300, &rec).done();
    assert_eq!(c.decode(EXP, 0, &d, &mut out), Ok(0));
    assert_eq!(c.stats().malformed_records, 1);
    // IPFIX length beyond the datagram.
    let mut l = Msg::new(1, 1).done();
    l[2] = 0xff;
    assert!(c.decode(EXP, 0, &l, &mut out).is_err());
    // Not NetFlow at all.
    assert_eq!(
        c.decode(EXP, 0, &[0, 77, 1, 2], &mut out),
        Err(DecodeError::UnknownVersion(77))
    );
    assert_eq!(c.decode(EXP, 0, &[5], &mut out).map_err(|_| ()), Err(()));
}

#[test]
fn template_caps_bound_memory() {
    let cfg = CollectorConfig {
        max_templates_per_domain: 10,
        max_templates_total: 25,
        max_domains: 3,
        ..CollectorConfig::default()
    };
    let mut c = Collector::new(cfg);
    let mut out = Vec::new();
    for domain in 0..5u32 {
        let mut body = Vec::new();
        for tid in 256..300u16 {
            body.extend(tmpl(tid, &[(ie::OCTET_DELTA_COUNT, 4, 0)]));
        }
        let m = Msg::new(domain, 1).set(2, &body).done();
        c.decode(EXP, 0, &m, &mut out).unwrap();
    }
    assert_eq!(c.template_count(), 25);
    assert_eq!(c.stats().templates_learned, 25);
    assert_eq!(c.stats().templates_over_limit, 5 * 44 - 25);
}

#[test]
fn every_truncation_of_a_valid_message_is_safe() {
    let mut data = biflow_record(40000, b"hello");
    data.extend(biflow_record(40001, b""));
    let m = Msg::new(7, 1)
        .set(2, &biflow_template())
        .set(300, &data)
        .done();
    for cut in 0..m.len() {
        let mut c = Collector::default();
        let mut out = Vec::new();
        let _ = c.decode(EXP, 0, &m[..cut], &mut out);
        assert!(out.len() <= 1, "cut {cut}");
    }
    let p = v5_packet(1, 1, &[(0, 0, 6, 1, 2), (0, 0, 17, 3, 4)]);
    for cut in 0..p.len() {
        let mut c = Collector::default();
        let mut out = Vec::new();
        let _ = c.decode(EXP, 0, &p[..cut], &mut out);
        assert!(out.is_empty(), "cut {cut}");
    }
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/real")
}

/// (file, records, v5, v9, ipfix datagrams) for every NetFlow/IPFIX capture of
/// the corpus. The v5 count (29) is the one the corpus description gives; the
/// others were checked by hand against the sets the datagrams hold.
const CORPUS: &[(&str, u64, u64, u64, u64)] = &[
    ("akvorado-ipfix-mpls.pcap", 2, 0, 0, 1),
    ("akvorado-ipfix-physicalinterfaces.pcap", 8, 0, 0, 1),
    ("akvorado-ipfixprobe-data.pcap", 0, 0, 0, 1),
    ("akvorado-ipfixprobe-templates.pcap", 0, 0, 0, 1),
    ("akvorado-nfv5.pcap", 29, 1, 0, 0),
    ("akvorado-nfv9-data+templates.pcap", 21, 0, 1, 0),
    ("akvorado-nfv9-data.pcap", 0, 0, 1, 0),
    ("akvorado-nfv9-nat.pcap", 9, 0, 1, 0),
    ("akvorado-nfv9-options-data.pcap", 0, 0, 1, 0),
    ("akvorado-nfv9-options-template.pcap", 0, 0, 1, 0),
    ("akvorado-nfv9-samplingrate-data.pcap", 0, 0, 1, 0),
    ("akvorado-nfv9-samplingrate-template.pcap", 0, 0, 1, 0),
    ("akvorado-nfv9-template.pcap", 0, 0, 1, 0),
    ("ndpi-netflow-fritz.pcap", 0, 0, 0, 1),
    ("ndpi-netflowv9.pcap", 0, 0, 10, 0),
    ("pmacct-IPFIXv10-BGP-IPv6-MPLS.pcap", 74, 0, 0, 66),
    ("pmacct-IPFIXv10-BMP-IPv6-MPLS.pcap", 748, 0, 0, 596),
    ("pmacct-IPFIXv10-BMP-SRv6.pcap", 657, 0, 0, 583),
    ("pmacct-IPFIXv10-CISCO.pcap", 12, 0, 0, 6),
    ("pmacct-IPFIXv10-HUAWEI-vrf_name.pcap", 3, 0, 0, 6),
    ("pmacct-IPFIXv10-IPv6-sampling_option.pcap", 3, 0, 0, 5),
    (
        "pmacct-IPFIXv10-options-map-reassignment-sll.pcap",
        9,
        0,
        0,
        21,
    ),
    ("pmacct-NFv9-CISCO-cust_primitives.pcap", 51, 0, 40, 0),
    ("pmacct-NFv9-CISCO-f2rd-sampling.pcap", 35, 0, 25, 0),
    ("pmacct-NFv9-IPv6-IPv4-mix.pcap", 11, 0, 11, 0),
    ("scapy-ipfix.pcap", 1, 0, 0, 3),
    ("scapy-netflowv9-nsec.pcap", 24, 0, 5, 0),
];

fn decode_file(paths: &[PathBuf]) -> (Collector, Vec<FlowRecord>, CaptureSummary) {
    decode_file_with(paths, CollectorConfig::default())
}

fn decode_file_with(
    paths: &[PathBuf],
    cfg: CollectorConfig,
) -> (Collector, Vec<FlowRecord>, CaptureSummary) {
    let mut c = Collector::new(cfg);
    let mut recs = Vec::new();
    let sum = decode_capture::<std::io::Error>(paths, &mut c, |r| {
        recs.push(r.clone());
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{paths:?}: {e}"));
    (c, recs, sum)
}

#[test]
fn corpus_exports_decode() {
    for &(file, records, v5, v9, ipfix) in CORPUS {
        let path = corpus().join(file);
        let (c, recs, sum) = decode_file(&[path]);
        let st = c.stats();
        assert_eq!(
            (
                st.records,
                st.v5_datagrams,
                st.v9_datagrams,
                st.ipfix_messages
            ),
            (records, v5, v9, ipfix),
            "{file}: {st:?}"
        );
        assert_eq!(sum.refused_datagrams, 0, "{file}");
        assert_eq!(
            st.malformed_sets + st.malformed_records,
            0,
            "{file}: {st:?}"
        );
        for r in &recs {
            assert_ne!(r.flags & flag::NETFLOW, 0);
            assert!(r.key.class().is_ip(), "{file}: {r:?}");
            // Export times of these captures lie between 2001 and 2030.
            assert!(
                (978_307_200 * SEC..1_893_456_000 * SEC).contains(&r.stime_ns),
                "{file}: start {}",
                r.stime_ns
            );
            assert!(r.ltime_ns >= r.stime_ns);
            assert!(
                r.pkts() == 0 || r.bytes() >= 20 * r.pkts() || r.bytes() == 0,
                "{file}: {r:?}"
            );
        }
    }
}

#[test]
fn corpus_v5_matches_its_description_and_split_v9_pairs_join() {
    let (_, recs, _) = decode_file(&[corpus().join("akvorado-nfv5.pcap")]);
    assert_eq!(recs.len(), 29);
    assert!(recs.iter().all(|r| r.key.class == KeyClass::Ipv4 as u8));
    // A template capture and its data capture read together: the data set
    // waits for its template and is then decoded. The two were captured
    // minutes apart, so the hold must last that long.
    let patient = || CollectorConfig {
        held_timeout_ns: 3600 * SEC,
        ..CollectorConfig::default()
    };
    let pair = [
        corpus().join("akvorado-nfv9-template.pcap"),
        corpus().join("akvorado-nfv9-data.pcap"),
    ];
    let (c, recs, _) = decode_file_with(&pair, patient());
    assert_eq!(recs.len(), 4, "{:?}", c.stats());
    // With the default 10 s hold the data set is dropped, and counted.
    let (c, recs, _) = decode_file(&pair);
    assert_eq!((recs.len(), c.stats().held_sets_dropped), (0, 1));
    let (c, _, _) = decode_file_with(
        &[
            corpus().join("akvorado-nfv9-options-template.pcap"),
            corpus().join("akvorado-nfv9-options-data.pcap"),
        ],
        patient(),
    );
    assert_eq!(c.stats().options_records, 4, "{:?}", c.stats());
    assert_eq!(c.stats().held_sets_replayed, 1);
    // The Cisco options record with a zero-length System scope gives 1 in 100.
    let (c, _, _) = decode_file(&[corpus().join("akvorado-nfv9-data+templates.pcap")]);
    assert_eq!(c.stats().options_records, 1);
    let exporter: IpAddr = "102.102.144.1".parse().expect("ip");
    assert_eq!(c.sampling_interval(exporter, 17_170_432, 9), Some(100));
}

/// Deterministic xorshift, so a failure reproduces from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn seeded_mutations_of_real_exports_never_panic_and_stay_bounded() {
    let mut payloads: Vec<(IpAddr, Vec<u8>)> = Vec::new();
    for &(file, ..) in CORPUS.iter().filter(|c| !c.0.contains("BMP")) {
        let mut reader = MergedReader::open(&[corpus().join(file)]).expect("open");
        let mut info = PacketInfo::default();
        while let Some(p) = reader.next_packet() {
            crate::packet::parse(p.link, p.data, p.wire_len, p.ts_ns, &mut info);
            if let Some((ip, pl)) = udp_payload(p.data, &info) {
                payloads.push((ip, pl.to_vec()));
            }
        }
    }
    assert!(payloads.len() > 100);
    let cfg = CollectorConfig {
        max_templates_total: 64,
        max_held_sets: 16,
        ..CollectorConfig::default()
    };
    let mut c = Collector::new(cfg);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut out = Vec::new();
    for round in 0..20_000u64 {
        let (ip, base) = &payloads[(rng.next() as usize) % payloads.len()];
        let mut p = base.clone();
        let edits = 1 + rng.next() % 8;
        for _ in 0..edits {
            if p.is_empty() {
                break;
            }
            let at = (rng.next() as usize) % p.len();
            match rng.next() % 5 {
                0 => p[at] = rng.next() as u8,
                1 => p[at] = 0,
                2 => p[at] = 0xff,
                3 => p.truncate(at),
                _ => {
                    // Duplicate a slice: repeated sets and templates.
                    let end = (at + (rng.next() as usize % 64)).min(p.len());
                    let dup = p[at..end].to_vec();
                    p.extend_from_slice(&dup);
                }
            }
        }
        out.clear();
        let _ = c.decode(*ip, round * 1_000_000, &p, &mut out);
        assert!(c.template_count() <= 64);
        assert!(c.held_sets() <= 16);
        // A record takes at least one byte of the datagram.
        assert!(out.len() <= p.len(), "round {round}");
    }
    assert!(c.stats().records > 0);
}

#[test]
fn v5_header_sampling_interval_scales_counters() {
    let mut p = v5_packet(1000, 1_700_000_000, &[(900, 1000, 6, 1, 2)]);
    // Mode 01 (deterministic), interval 64.
    p[22..24].copy_from_slice(&(0x4000u16 | 64).to_be_bytes());
    let mut c = Collector::default();
    let mut out = Vec::new();
    c.decode(EXP, 0, &p, &mut out).unwrap();
    assert_eq!((out[0].src.pkts, out[0].src.bytes), (3 * 64, 300 * 64));
    assert_eq!(out[0].flags & flag::SAMPLED, flag::SAMPLED);
    assert_eq!(c.stats().scaled_records, 1);
    // Interval 0 or 1: unsampled, untouched.
    for interval in [0u16, 1] {
        p[22..24].copy_from_slice(&interval.to_be_bytes());
        out.clear();
        c.decode(EXP, 0, &p, &mut out).unwrap();
        assert_eq!((out[0].src.pkts, out[0].flags & flag::SAMPLED), (3, 0));
    }
    // Scaling off: as exported, not flagged.
    p[22..24].copy_from_slice(&64u16.to_be_bytes());
    let mut c = Collector::new(CollectorConfig {
        scale_sampling: false,
        ..CollectorConfig::default()
    });
    out.clear();
    c.decode(EXP, 0, &p, &mut out).unwrap();
    assert_eq!((out[0].src.pkts, out[0].flags & flag::SAMPLED), (3, 0));
    assert_eq!(c.stats().scaled_records, 0);
}

/// An IPFIX data template 256 (addresses, packets, octets, and `extra`) and
/// one record of 5 packets / 700 octets.
fn sampled_flow(extra: &[(u16, u16)], extra_vals: &[u32]) -> (Vec<u8>, Vec<u8>) {
    let mut fields = vec![
        (ie::SOURCE_IPV4_ADDRESS, 4, 0),
        (ie::DESTINATION_IPV4_ADDRESS, 4, 0),
        (ie::PACKET_DELTA_COUNT, 4, 0),
        (ie::OCTET_DELTA_COUNT, 4, 0),
        (ie::PACKET_DELTA_COUNT, 4, ie::REVERSE_PEN),
    ];
    fields.extend(extra.iter().map(|&(id, len)| (id, len, 0)));
    let t = tmpl(256, &fields);
    let mut d = Vec::new();
    for v in [0x0a00_0001u32, 0x0a00_0002, 5, 700, 2] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    for v in extra_vals {
        d.extend_from_slice(&v.to_be_bytes());
    }
    (t, d)
}

#[test]
fn ipfix_sampling_from_options_data_and_from_the_record_scales_both_directions() {
    // Options template 400 (scope observationDomainId) announcing
    // samplerRandomInterval 1000; then a data record: scaled by 1000.
    let mut ot = Vec::new();
    ot.extend_from_slice(&400u16.to_be_bytes());
    ot.extend_from_slice(&2u16.to_be_bytes());
    ot.extend_from_slice(&1u16.to_be_bytes());
    for (id, len) in [(149u16, 4u16), (ie::SAMPLER_RANDOM_INTERVAL, 4)] {
        ot.extend_from_slice(&id.to_be_bytes());
        ot.extend_from_slice(&len.to_be_bytes());
    }
    let mut od = Vec::new();
    for v in [7u32, 1000] {
        od.extend_from_slice(&v.to_be_bytes());
    }
    let (t, d) = sampled_flow(&[], &[]);
    let m = Msg::new(7, 1_700_000_000)
        .set(3, &ot)
        .set(400, &od)
        .set(2, &t)
        .set(256, &d)
        .done();
    let mut c = Collector::default();
    let mut out = Vec::new();
    assert_eq!(c.decode(EXP, 0, &m, &mut out), Ok(1));
    let r = &out[0];
    assert_eq!((r.src.pkts, r.src.bytes, r.dst.pkts), (5000, 700_000, 2000));
    assert_eq!(r.flags & flag::SAMPLED, flag::SAMPLED);
    // Another domain of the same exporter announced nothing: as exported.
    let m = Msg::new(8, 1_700_000_000).set(2, &t).set(256, &d).done();
    out.clear();
    c.decode(EXP, 0, &m, &mut out).unwrap();
    assert_eq!((out[0].src.pkts, out[0].flags & flag::SAMPLED), (5, 0));
    // A record carrying its own samplingInterval (4) wins over the domain's.
    let (t, d) = sampled_flow(&[(ie::SAMPLING_INTERVAL, 4)], &[4]);
    let m = Msg::new(7, 1_700_000_000).set(2, &t).set(256, &d).done();
    out.clear();
    c.decode(EXP, 0, &m, &mut out).unwrap();
    assert_eq!((out[0].src.pkts, out[0].src.bytes), (20, 2800));
    assert_eq!(c.stats().scaled_records, 2);
    // The domain keeps the rate its options data announced.
    assert_eq!(c.sampling_interval(EXP, 7, 10), Some(1000));
}

#[test]
fn tcp_session_templates_end_with_the_session() {
    let t = Msg::new(1, 100).set(2, &biflow_template()).done();
    let d = Msg::new(1, 100).set(300, &biflow_record(1, b"")).done();
    let mut c = Collector::default();
    let mut out = Vec::new();
    // The same exporter over UDP (session 0) and two TCP sessions.
    c.decode(EXP, 0, &t, &mut out).unwrap();
    c.decode_in_session(EXP, 1, 0, &t, &mut out).unwrap();
    assert_eq!(c.template_count(), 2);
    // A session's templates serve that session only.
    assert_eq!(c.decode_in_session(EXP, 2, 0, &d, &mut out), Ok(0));
    assert_eq!(c.held_sets(), 1);
    assert_eq!(c.decode_in_session(EXP, 1, 0, &d, &mut out), Ok(1));
    c.end_session(1);
    c.end_session(2);
    assert_eq!(c.template_count(), 1, "the UDP templates stay");
    assert_eq!(c.stats().templates_session_closed, 1);
    assert_eq!(c.held_sets(), 0, "held sets of a closed session go too");
    assert_eq!(c.decode_in_session(EXP, 1, 0, &d, &mut out), Ok(0));
    assert_eq!(c.decode(EXP, 0, &d, &mut out), Ok(1));
}

#[test]
fn unmapped_fields_are_counted_and_the_record_kept() {
    // applicationId (95) and paddingOctets (210) have no place in a record.
    let t = Msg::new(1, 7)
        .set(
            2,
            &tmpl(
                256,
                &[
                    (ie::SOURCE_IPV4_ADDRESS, 4, 0),
                    (95, 4, 0),
                    (ie::DESTINATION_IPV4_ADDRESS, 4, 0),
                    (210, 3, 0),
                    (ie::PACKET_DELTA_COUNT, 4, 0),
                ],
            ),
        )
        .done();
    let rec = [10, 0, 0, 1, 0, 0, 0, 9, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 5];
    let d = Msg::new(1, 7).set(256, &rec).done();
    let mut c = Collector::default();
    let mut out = Vec::new();
    c.decode(EXP, 0, &t, &mut out).unwrap();
    assert_eq!(c.decode(EXP, 0, &d, &mut out), Ok(1));
    assert_eq!(c.stats().fields_unmapped, 2);
    assert_eq!(out[0].key.src[..4], [10, 0, 0, 1]);
    assert_eq!(out[0].key.dst[..4], [10, 0, 0, 2]);
    assert_eq!(out[0].pkts(), 5);
}

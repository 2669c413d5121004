//! Printer tests. The expected lines are what `ra -X` (Argus 3.0.8.2) printed for
//! records of the corpus captures (`argus -X -r <capture> -w x.argus; ra -X -r
//! x.argus ...`, TZ=UTC); each record here is built by hand to hold what the Argus
//! record held.

use super::*;
use crate::packet::encaps;
use crate::record::{tcpstate, Cause, DirStats, FlowKey, ManInfo, RecordKind, TcpPerf};

const E: u32 = encaps::ETHER;

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&a);
    x
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>()
        .map(|a| a.octets())
        .unwrap_or_default()
}

fn mac(m: [u8; 6]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..6].copy_from_slice(&m);
    x
}

/// ns from an epoch time written as seconds and microseconds.
fn t(s: u64, us: u64) -> u64 {
    s * 1_000_000_000 + us * 1000
}

fn dir(pkts: u64, bytes: u64) -> DirStats {
    DirStats {
        pkts,
        bytes,
        ..DirStats::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn rec(
    class: KeyClass,
    proto: u8,
    src: [u8; 16],
    sport: u16,
    dst: [u8; 16],
    dport: u16,
    stime: u64,
    ltime: u64,
    s: DirStats,
    d: DirStats,
) -> FlowRecord {
    FlowRecord {
        key: FlowKey {
            src,
            dst,
            sport,
            dport,
            proto,
            class: class as u8,
            ..FlowKey::ZERO
        },
        stime_ns: stime,
        ltime_ns: ltime,
        encaps: E,
        flags: flag::FIRST,
        src: s,
        dst: d,
        ..FlowRecord::default()
    }
}

fn tcp(state: u32) -> Option<TcpPerf> {
    Some(TcpPerf {
        state,
        ..TcpPerf::default()
    })
}

fn utc() -> PrintOptions {
    PrintOptions {
        utc_offset: FixedOffset::east_opt(0),
        ..PrintOptions::default()
    }
}

fn printer(opts: PrintOptions) -> Printer {
    Printer::with_names(opts, Names::builtin())
}

fn line(opts: PrintOptions, r: &FlowRecord) -> String {
    printer(opts).format_record(r)
}

fn with_fields(mut opts: PrintOptions, fields: &[&str]) -> PrintOptions {
    opts.set_fields(fields).expect("valid fields");
    opts
}

fn numeric(n: u8) -> PrintOptions {
    PrintOptions {
        numeric: n,
        ..utc()
    }
}

// zeek-wikipedia.pcap record 1.
fn mdns4() -> FlowRecord {
    let ts = t(1300475167, 96535);
    rec(
        KeyClass::Ipv4,
        17,
        v4([141, 142, 220, 202]),
        5353,
        v4([224, 0, 0, 251]),
        5353,
        ts,
        ts,
        dir(1, 87),
        dir(0, 0),
    )
}

#[test]
fn default_header_is_ras() {
    let h = printer(utc()).header();
    assert_eq!(
        h,
        "         StartTime      Flgs  Proto            SrcAddr  Sport   Dir            DstAddr  Dport  TotPkts   TotBytes State "
    );
    assert_eq!(h.len(), 120);
}

#[test]
fn udp_ipv4_named_ports() {
    let l = line(utc(), &mdns4());
    assert_eq!(
        l,
        "   19:06:07.096535  e           udp    141.142.220.202.mdns      ->        224.0.0.251.mdns          1         87   INT"
    );
    assert_eq!(l.len(), 119);
}

#[test]
fn long_ipv6_address_is_cut_with_star() {
    let ts = t(1300475167, 97012);
    let r = rec(
        KeyClass::Ipv6,
        17,
        v6("fe80::217:f2ff:fed7:cf65"),
        5353,
        v6("ff02::fb"),
        5353,
        ts,
        ts,
        dir(1, 213),
        dir(0, 0),
    );
    assert_eq!(
        line(utc(), &r),
        "   19:06:07.097012  e           udp fe80::217:f2ff:fe*.mdns      ->           ff02::fb.mdns          1        213   INT"
    );
}

#[test]
fn arp_has_who_and_no_ports() {
    let ts = t(1300475167, 961861);
    let r = rec(
        KeyClass::Arp,
        0,
        v4([141, 142, 220, 1]),
        0,
        v4([141, 142, 220, 26]),
        0,
        ts,
        ts,
        dir(1, 60),
        dir(0, 0),
    );
    assert_eq!(
        line(utc(), &r),
        "   19:06:07.961861  e           arp      141.142.220.1          who     141.142.220.26               1         60   INT"
    );
    assert_eq!(
        line(numeric(2), &r),
        "   19:06:07.961861  e          2054      141.142.220.1          who     141.142.220.26               1         60   INT"
    );
}

#[test]
fn midstream_tcp_prints_question_mark() {
    let mut r = rec(
        KeyClass::Ipv4,
        6,
        v4([141, 142, 220, 118]),
        35634,
        v4([208, 80, 152, 2]),
        80,
        t(1300475168, 652003),
        t(1300475168, 713332),
        dir(2, 595),
        dir(1, 416),
    );
    r.tcp = tcp(tcpstate::MIDSTREAM);
    assert_eq!(
        line(numeric(1), &r),
        "   19:06:08.652003  e           tcp    141.142.220.118.35634    <?>       208.80.152.2.80            3       1011   CON"
    );
    r.dst = dir(0, 0);
    assert!(line(numeric(1), &r).contains(".35634     ?>  "));
}

#[test]
fn long_service_name_is_cut() {
    // ARGUS.md 3.1: http-alt in a 6-wide port column.
    let mut r = rec(
        KeyClass::Ipv4,
        6,
        v4([10, 77, 0, 1]),
        49452,
        v4([10, 77, 0, 2]),
        8080,
        t(1795678208, 754475),
        t(1795678208, 761956),
        dir(6, 491),
        dir(6, 602),
    );
    r.tcp =
        tcp(tcpstate::SAW_SYN | tcpstate::SAW_SYNACK | tcpstate::ESTABLISHED | tcpstate::FIN_SRC);
    let l = line(utc(), &r);
    assert_eq!(
        &l[18..],
        "  e           tcp          10.77.0.1.49452     ->          10.77.0.2.http-*       12       1093   FIN"
    );
}

#[test]
fn icmp_ports_and_mapped_unreachable() {
    // ipfixprobe-mixed.pcap: echo request id 715 answered by a net unreachable.
    let ts = t(1700000000, 88087);
    let mut r = rec(
        KeyClass::Ipv4,
        1,
        v4([10, 5, 5, 1]),
        0x0800,
        v4([8, 8, 4, 4]),
        715,
        ts,
        ts,
        dir(1, 98),
        dir(0, 0),
    );
    r.icmp_mapped = b'U';
    let l = line(numeric(1), &r);
    assert_eq!(
        &l[18..],
        "  eU         icmp           10.5.5.1.0x0008    ->            8.8.4.4.0xcb02        1         98   URN"
    );
    // ICMPv4 "ports" stay hexadecimal at every -n level.
    assert!(line(numeric(2), &r)
        .contains("   1           10.5.5.1.0x0008    ->            8.8.4.4.0xcb02"));
    assert_eq!(line(numeric(3), &r), line(utc(), &r));
    r.icmp_mapped = 0;
    assert!(line(utc(), &r).ends_with("8.8.4.4.0xcb02        1         98   ECO"));
}

#[test]
fn icmpv6_types_by_numeric_level() {
    let ts = t(1700000000, 971095);
    let r = rec(
        KeyClass::Ipv6,
        58,
        v6("::"),
        143 << 8,
        v6("ff02::16"),
        0,
        ts,
        ts,
        dir(2, 180),
        dir(0, 0),
    );
    let l0 = line(utc(), &r);
    let l1 = line(numeric(1), &r);
    let l2 = line(numeric(2), &r);
    assert_eq!(
        &l0[18..],
        "  e        ipv6-*                 ::.0x008f    ->           ff02::16.0x0000        2        180   MHR"
    );
    assert_eq!(
        &l1[18..],
        "  e        ipv6-*                 ::.143       ->           ff02::16.0             2        180   MHR"
    );
    assert_eq!(
        &l2[18..],
        "  e            58                 ::.143       ->           ff02::16.0             2        180   MHR"
    );
}

#[test]
fn nn_prints_numeric_protocols_and_ports() {
    let ts = t(1700000000, 213758);
    let r = rec(
        KeyClass::Ipv4,
        17,
        v4([0, 0, 0, 0]),
        68,
        v4([255, 255, 255, 255]),
        67,
        ts,
        ts,
        dir(2, 684),
        dir(0, 0),
    );
    assert_eq!(
        &line(numeric(2), &r)[18..],
        "  e            17            0.0.0.0.68        ->    255.255.255.255.67            2        684   INT"
    );
    let mut later = r.clone();
    later.flags &= !flag::FIRST;
    assert!(line(numeric(2), &later).ends_with("  REQ"));
}

#[test]
fn non_ip_ethertype_and_broadcast() {
    // zeek-pppoe.pcap: PPPoE discovery to the broadcast address.
    let ts = t(1700000000, 780560);
    let mut r = rec(
        KeyClass::Ether,
        0,
        mac([0xcc, 0x05, 0x0e, 0x88, 0x00, 0x00]),
        0,
        mac([0xff; 6]),
        0,
        ts,
        ts,
        dir(1, 60),
        dir(0, 0),
    );
    r.key.aux = 0x8863;
    r.encaps = E | encaps::PPPOE;
    assert_eq!(
        &line(utc(), &r)[18..],
        "  *         pppoe  cc:05:0e:88:00:00           ->          Broadcast               1         60   INT"
    );
    assert_eq!(
        &line(numeric(1), &r)[18..],
        "  *         pppoe  cc:05:0e:88:00:00.0         ->  ff:ff:ff:ff:ff:ff.0             1         60   INT"
    );
    assert_eq!(
        &line(numeric(2), &r)[18..],
        "  *         34915  cc:05:0e:88:00:00.0         ->  ff:ff:ff:ff:ff:ff.0             1         60   INT"
    );
    r.key.aux = 0x88a8;
    assert!(line(utc(), &r).contains(" unkno*  cc:05"));
}

#[test]
fn llc_saps_in_csv() {
    // zeek-wikipedia.pcap: STP BPDUs, `ra -X -c ,`.
    let mut r = rec(
        KeyClass::Llc,
        0,
        mac([0x00, 0x13, 0x7f, 0x4f, 0x8e, 0xf2]),
        0x42,
        mac([0x01, 0x80, 0xc2, 0, 0, 0]),
        0x42,
        t(1300475167, 133969),
        t(1300475171, 134933),
        dir(3, 180),
        dir(0, 0),
    );
    r.encaps = E | encaps::LLC;
    let csv = PrintOptions {
        delimiter: Some(','),
        ..utc()
    };
    let mut p = printer(csv);
    let mut out = Vec::new();
    p.write_record(&mdns4(), &mut out).expect("vec write");
    p.write_record(&r, &mut out).expect("vec write");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "StartTime,Flgs,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,TotPkts,TotBytes,State\n\
         19:06:07.096535, e        ,udp,141.142.220.202,mdns,   ->,224.0.0.251,mdns,1,87,INT\n\
         19:06:07.133969, *        ,llc,00:13:7f:4f:8e:f2,stp,   ->,01:80:c2:00:00:00,stp,3,180,INT\n"
    );
    r.key.sport = 1;
    assert!(line(utc(), &r).contains("8e:f2.0x01 "));
    assert!(line(numeric(1), &r).contains("8e:f2.1 "));
}

#[test]
fn csv_does_not_cut_long_values() {
    let mut r = mdns4();
    r.key.class = KeyClass::Ipv6 as u8;
    r.key.src = v6("fe80::217:f2ff:fed7:cf65");
    r.key.dst = v6("ff02::fb");
    let opts = with_fields(
        PrintOptions {
            delimiter: Some(','),
            ..utc()
        },
        &["saddr daddr sport dport dir proto"],
    );
    let mut p = printer(opts);
    assert_eq!(p.header(), "SrcAddr,DstAddr,Sport,Dport,Dir,Proto");
    assert_eq!(
        p.format_record(&r),
        "fe80::217:f2ff:fed7:cf65,ff02::fb,mdns,mdns,   ->,udp"
    );
}

#[test]
fn labels_every_n_records_and_none() {
    let opts = with_fields(PrintOptions { labels: 2, ..utc() }, &["stime", "proto"]);
    let mut p = printer(opts);
    let mut out = Vec::new();
    for _ in 0..3 {
        p.write_record(&mdns4(), &mut out).expect("vec write");
    }
    let h = "         StartTime  Proto \n";
    let l = "   19:06:07.096535    udp\n";
    assert_eq!(String::from_utf8_lossy(&out), format!("{h}{l}{l}{h}{l}"));

    let mut p = printer(PrintOptions {
        labels: -1,
        ..utc()
    });
    let mut out = Vec::new();
    p.write_record(&mdns4(), &mut out).expect("vec write");
    p.write_record(&mdns4(), &mut out).expect("vec write");
    assert_eq!(String::from_utf8_lossy(&out).lines().count(), 2);
    assert!(!String::from_utf8_lossy(&out).contains("StartTime"));
}

#[test]
fn epoch_and_precision() {
    let mut r = mdns4();
    r.ltime_ns = r.stime_ns;
    let opts = with_fields(
        PrintOptions {
            epoch_time: true,
            ..utc()
        },
        &["stime ltime"],
    );
    assert_eq!(line(opts, &r), " 1300475167.096535  1300475167.096535");

    let p3 = with_fields(
        PrintOptions {
            precision: 3,
            ..utc()
        },
        &["stime dur"],
    );
    assert_eq!(printer(p3.clone()).header(), "      StartTime        Dur ");
    // The fraction is cut, not rounded (.096535 -> .096).
    assert_eq!(line(p3, &r), "   19:06:07.096      0.000");

    let p0 = with_fields(
        PrintOptions {
            precision: 0,
            ..utc()
        },
        &["stime dur load rate"],
    );
    assert_eq!(
        printer(p0.clone()).header(),
        "   StartTime        Dur     Load         Rate "
    );
    assert_eq!(
        line(p0, &r),
        "    19:06:07          0        0            0"
    );
}

#[test]
fn time_zone_is_honoured() {
    let opts = with_fields(
        PrintOptions {
            utc_offset: FixedOffset::east_opt(3600),
            ..PrintOptions::default()
        },
        &["stime"],
    );
    assert_eq!(line(opts, &mdns4()), "   20:06:07.096535");
}

#[test]
fn field_list_editing() {
    let mut o = utc();
    o.set_fields(&["+2dur"]).expect("valid");
    assert_eq!(o.columns[2].field, Field::Dur);
    assert_eq!(o.columns.len(), 12);
    o.set_fields(&["-bytes", "-state"]).expect("valid");
    assert!(!o
        .columns
        .iter()
        .any(|c| matches!(c.field, Field::Bytes | Field::State)));
    o.set_fields(&["+state"]).expect("valid");
    assert_eq!(o.columns.last().map(|c| c.field), Some(Field::State));
    o.set_fields(&["saddr:10"]).expect("valid");
    assert_eq!(
        o.columns,
        vec![Column {
            field: Field::SrcAddr,
            width: Some(10)
        }]
    );
    match o.set_fields(&["stime", "bogus"]) {
        Err(PrintError::UnknownField { name, valid }) => {
            assert_eq!(name, "bogus");
            assert!(valid.contains("stime") && valid.contains("sipid"));
        }
        other => panic!("expected UnknownField, got {other:?}"),
    }
    assert!(matches!(
        o.set_fields(&["dur:x"]),
        Err(PrintError::BadWidth { .. })
    ));
}

#[test]
fn custom_widths_cut_values_and_labels() {
    // `ra -s saddr:10 sport:3 seq:20 proto:2 state:3 dur:4`
    let mut r = mdns4();
    r.seq = 1;
    let opts = with_fields(utc(), &["saddr:10 sport:3 seq:20 proto:2 state:3 dur:4"]);
    assert_eq!(
        printer(opts.clone()).header(),
        "   SrcAddr Spo         Seq          Pr Sta  Dur "
    );
    assert_eq!(
        line(opts, &r),
        "141.142.2*.md*                    1 u* INT 0.0*"
    );
}

#[test]
fn standalone_ports_are_left_aligned() {
    let opts = with_fields(utc(), &["sport saddr dport"]);
    assert_eq!(
        printer(opts.clone()).header(),
        " Sport            SrcAddr  Dport "
    );
    assert_eq!(line(opts, &mdns4()), "mdns      141.142.220.202 mdns");
}

#[test]
fn state_history_and_tcp_flags() {
    let mut r = rec(
        KeyClass::Ipv4,
        6,
        v4([1, 2, 0, 2]),
        2527,
        v4([1, 2, 0, 3]),
        6649,
        t(1, 0),
        t(2, 0),
        dir(4, 400),
        dir(3, 300),
    );
    r.tcp = Some(TcpPerf {
        state: tcpstate::SAW_SYN | tcpstate::SAW_SYNACK | tcpstate::ESTABLISHED,
        history: 0b111,
        src_flags: 0x02 | 0x08 | 0x10,
        dst_flags: 0x02 | 0x08 | 0x10,
        ..TcpPerf::default()
    });
    let z = with_fields(
        PrintOptions {
            state_history: true,
            ..utc()
        },
        &["state"],
    );
    assert_eq!(line(z, &r), "  sSE");
    let zb = with_fields(
        PrintOptions {
            tcp_flags: Some(FlagSides::Both),
            ..utc()
        },
        &["state"],
    );
    // SPA_SPA does not fit in 5 columns.
    assert_eq!(line(zb.clone(), &r), "SPA_*");
    if let Some(t) = r.tcp.as_mut() {
        t.src_flags = 0x18;
        t.dst_flags = 0x18;
    }
    assert_eq!(line(zb, &r), "PA_PA");
    let zs = with_fields(
        PrintOptions {
            tcp_flags: Some(FlagSides::Src),
            ..utc()
        },
        &["state"],
    );
    assert_eq!(line(zs.clone(), &r), "   PA");
    // Non-TCP records keep their state.
    assert_eq!(line(zs, &mdns4()), "  INT");
}

#[test]
fn tcp_states() {
    let base = rec(
        KeyClass::Ipv4,
        6,
        v4([10, 0, 1, 1]),
        41001,
        v4([10, 0, 1, 2]),
        80,
        t(1, 0),
        t(1, 0),
        dir(3, 162),
        dir(0, 0),
    );
    let st = |s: u32, cause: Cause| {
        let mut r = base.clone();
        r.tcp = tcp(s);
        r.cause = cause;
        state(&r)
    };
    use tcpstate::*;
    assert_eq!(st(SAW_SYN, Cause::Start), "REQ");
    assert_eq!(st(SAW_SYN | SAW_SYNACK, Cause::Start), "ACC");
    assert_eq!(st(SAW_SYN | SAW_SYNACK | ESTABLISHED, Cause::Stop), "CON");
    assert_eq!(
        st(SAW_SYN | SAW_SYNACK | ESTABLISHED, Cause::Timeout),
        "TIM"
    );
    assert_eq!(
        st(SAW_SYN | ESTABLISHED | FIN_DST | RESET, Cause::Close),
        "RST"
    );
    assert_eq!(st(SAW_SYN | ESTABLISHED | FIN_DST, Cause::Close), "FIN");
    assert_eq!(st(SAW_SYNACK | CLOSED, Cause::Close), "CLO");
    assert_eq!(st(MIDSTREAM, Cause::Status), "CON");
}

#[test]
fn flags_column_letters() {
    let mut r = mdns4();
    r.tcp = None;
    assert_eq!(&flags(&r), b" e       ");
    r.encaps = E | encaps::VLAN;
    assert_eq!(&flags(&r), b" *       ");
    r.encaps = encaps::RAW;
    assert_eq!(&flags(&r), b"         ");
    r.encaps = encaps::SLL;
    r.flags |= flag::FRAGMENTS | flag::SRC_ECN | flag::DST_ECN;
    r.ip_options = crate::packet::ipopt::RR;
    assert_eq!(&flags(&r), b" S   EFR ");
    r.ip_options |= crate::packet::ipopt::LSRR;
    r.flags |= flag::NETFLOW | flag::MULTIPATH;
    r.icmp_mapped = b'T';
    assert_eq!(&flags(&r), b"NMT  EFO ");

    // zeek-tcp-retransmit-fast009.pcap: retransmissions by the destination.
    let mut t1 = rec(
        KeyClass::Ipv4,
        6,
        v4([10, 0, 88, 85]),
        50368,
        v4([192, 168, 0, 27]),
        80,
        t(1, 0),
        t(2, 0),
        dir(16, 1000),
        dir(22, 29703),
    );
    t1.tcp = Some(TcpPerf {
        state: tcpstate::SAW_SYN
            | tcpstate::SAW_SYNACK
            | tcpstate::ESTABLISHED
            | tcpstate::DST_PKTS_RETRANS,
        dst_retrans: 3,
        options: crate::packet::tcpopt::MSS
            | crate::packet::tcpopt::SACK_OK
            | crate::packet::tcpopt::SACK,
        src_win: 65535,
        dst_win: 6432,
        src_base_seq: 414291386,
        dst_base_seq: 4249385775,
        ..TcpPerf::default()
    });
    assert_eq!(&flags(&t1), b" e d     ");
    let opts = with_fields(
        utc(),
        &["spkts dpkts loss sloss dloss ploss sploss dploss retrans sretrans dretrans pretrans sgap dgap flgs state tcpopt swin dwin stcpb dtcpb"],
    );
    assert_eq!(
        line(opts, &t1),
        "      16       22          3          0          3 7.317073   0.000000  12.000000       0        0        0 0.0000*        0        0  e d        CON M sS          65535   6432    414291386   4249385775"
    );
    if let Some(t) = t1.tcp.as_mut() {
        t.state |= tcpstate::SRC_PKTS_RETRANS | tcpstate::SRC_WINSHUT | tcpstate::DST_WINSHUT;
    }
    assert_eq!(&flags(&t1), b" e *@    ");
}

#[test]
fn ip_attributes_and_vlans() {
    // zeek-wikipedia.pcap record 7 and zeek-mixed-vlan-mpls.pcap.
    let mut r = rec(
        KeyClass::Ipv4,
        6,
        v4([141, 142, 220, 118]),
        48649,
        v4([208, 80, 152, 118]),
        80,
        t(1300475168, 724007),
        t(1300475168, 843912),
        dir(4, 797),
        dir(3, 438),
    );
    r.src.ttl = 64;
    r.dst.ttl = 49;
    r.src.ipid = 0x34da;
    r.dst.ipid = 0xfdbf;
    r.tcp = tcp(tcpstate::SAW_SYN);
    let opts = with_fields(
        utc(),
        &["stos dtos sttl dttl sipid dipid svlan dvlan svid dvid smpls"],
    );
    assert_eq!(
        line(opts.clone(), &r),
        "    0     0   64   49  0xda34  0xbffd"
    );
    r.flags |= flag::HAS_SVLAN | flag::HAS_DVLAN | flag::HAS_SMPLS;
    r.svlan = 0x0ffd;
    r.dvlan = 0x0ffd;
    r.smpls = 29;
    assert_eq!(
        line(opts.clone(), &r),
        "    0     0   64   49  0xda34  0xbffd   0x0ffd   0x0ffd   4093   4093       29"
    );
    // No destination packets: the d* attributes are blank.
    r.dst = dir(0, 0);
    r.flags &= !flag::HAS_DVLAN;
    assert_eq!(
        line(opts, &r),
        "    0         64       0xda34           0x0ffd            4093              29"
    );
}

#[test]
fn rates_loads_and_sizes() {
    // zeek-wikipedia.pcap record 6 (`-s dur:12 sload:20 dload:20 rate:20 srate:20`).
    let mut r = rec(
        KeyClass::Ipv4,
        6,
        v4([141, 142, 220, 118]),
        35634,
        v4([208, 80, 152, 2]),
        80,
        t(1300475168, 652003),
        t(1300475168, 713332),
        dir(2, 595),
        dir(1, 416),
    );
    r.tcp = tcp(tcpstate::MIDSTREAM);
    let opts = with_fields(utc(), &["dur:12 sload:20 dload:20 rate:20 srate:20"]);
    assert_eq!(
        line(opts, &r),
        "    0.061329         38872.312500             0.000000            32.611000            16.305500"
    );
    let opts = with_fields(utc(), &["load sload smeansz dmeansz smaxsz dmaxsz"]);
    r.src.max_sz = 529;
    r.dst.max_sz = 416;
    assert_eq!(
        line(opts, &r),
        "38872.3* 38872.3*   297.500000   416.000000          529          416"
    );
    // zeek-wikipedia.pcap record 7 (`-s load:20 sload:20 dload:20 rate:20 srate:20 drate:20`).
    let mut w = rec(
        KeyClass::Ipv4,
        6,
        v4([141, 142, 220, 118]),
        48649,
        v4([208, 80, 152, 118]),
        80,
        t(1300475168, 724007),
        t(1300475168, 843912),
        dir(4, 797),
        dir(3, 438),
    );
    w.tcp = tcp(tcpstate::SAW_SYN | tcpstate::ESTABLISHED);
    let opts = with_fields(
        utc(),
        &["load:20 sload:20 dload:20 rate:20 srate:20 drate:20"],
    );
    assert_eq!(
        line(opts, &w),
        "        59380.339844         39898.253906         19482.089844            50.039612            25.019806            16.679871"
    );
    // UDP 43927: rate is a single-precision float.
    let mut u = mdns4();
    u.ltime_ns = u.stime_ns + 435_000;
    u.dst = dir(1, 131);
    let opts = with_fields(utc(), &["rate srate drate pcr"]);
    assert_eq!(
        line(opts, &u),
        " 2298.850586     0.000000     0.000000  -0.000000"
    );
}

#[test]
fn jitter_is_population_stddev_in_ms() {
    let mut r = mdns4();
    let iv = [59892.0f64, 122.0, 59891.0];
    r.src.intpkt_n = 3;
    r.src.intpkt_sum_us = iv.iter().sum();
    r.src.intpkt_sumsq_us = iv.iter().map(|x| x * x).sum();
    r.src.intpkt_max_us = 59892.0;
    r.src.intpkt_min_us = 122.0;
    let opts = with_fields(utc(), &["sintpkt sjit sintpktmax sintpktmin dintpkt"]);
    assert_eq!(
        line(opts, &r),
        "   39.968333    28.175613    59.892000     0.122000"
    );
}

#[test]
fn user_data_and_macs() {
    let mut r = mdns4();
    r.suser = b"GET / HTTP/1.1\r\n".to_vec();
    r.flags |= flag::HAS_MAC;
    r.smac = [0x00, 0x24, 0x7e, 0xe0, 0x1d, 0xb5];
    r.dmac = [0xff; 6];
    let opts = with_fields(utc(), &["smac dmac suser duser"]);
    assert_eq!(
        line(opts.clone(), &r),
        " 00:24:7e:e0:1d:b5          Broadcast s[16]=GET / HTTP/1.1.."
    );
    // At most 16 bytes show, and the count is of those shown.
    r.suser = b"GET /skins-1.5/monobook".to_vec();
    r.duser = b"HTTP/1.1 304 Not Modified".to_vec();
    assert_eq!(
        line(opts, &r),
        " 00:24:7e:e0:1d:b5          Broadcast s[16]=GET /skins-1.5/m    d[16]=HTTP/1.1 304 Not"
    );
    let opts = with_fields(utc(), &["suser duser"]);
    assert_eq!(
        printer(opts).header(),
        "        srcUdata                  dstUdata          "
    );
}

#[test]
fn per_direction_times_as_argus_defaults() {
    // zeek-wikipedia.pcap records 5 (ARP, no reply) and 6.
    let ts = t(1300475167, 961861);
    let arp = rec(
        KeyClass::Arp,
        0,
        v4([141, 142, 220, 1]),
        0,
        v4([141, 142, 220, 26]),
        0,
        ts,
        ts,
        dir(1, 60),
        dir(0, 0),
    );
    let opts = with_fields(utc(), &["sstime dstime sltime dltime"]);
    assert_eq!(
        printer(opts.clone()).header(),
        "       SrcStartTime        DstStartTime         SrcLastTime         DstLastTime "
    );
    assert_eq!(
        line(opts.clone(), &arp),
        "   19:06:07.961861    00:00:00.000000    19:06:07.961861    00:00:00.000000"
    );
    let mut r = rec(
        KeyClass::Ipv4,
        6,
        v4([141, 142, 220, 118]),
        35634,
        v4([208, 80, 152, 2]),
        80,
        t(1300475168, 652003),
        t(1300475168, 713332),
        dir(2, 595),
        dir(1, 416),
    );
    r.dst.stime_ns = t(1300475168, 700000);
    r.dst.ltime_ns = t(1300475168, 700000);
    r.src.stime_ns = r.stime_ns;
    r.src.ltime_ns = r.ltime_ns;
    assert_eq!(
        line(opts.clone(), &r),
        "   19:06:08.652003    19:06:08.652003    19:06:08.713332    19:06:08.713332"
    );
    let p3 = with_fields(
        PrintOptions {
            precision: 3,
            ..utc()
        },
        &["sstime stime"],
    );
    assert_eq!(
        printer(p3.clone()).header(),
        "    SrcStartTime       StartTime "
    );
    assert_eq!(line(p3, &r), "   19:06:08.652    19:06:08.652");
    let sd = with_fields(utc(), &["sdur ddur dur"]);
    assert_eq!(line(sd.clone(), &r), "  0.061329   0.061329   0.061329");
    let bidir = PrintOptions {
        bidir_times: true,
        ..sd
    };
    assert_eq!(line(bidir, &r), "  0.061329   0.000000   0.061329");
    let bidir = with_fields(
        PrintOptions {
            bidir_times: true,
            ..utc()
        },
        &["dstime"],
    );
    assert_eq!(line(bidir, &r), "   19:06:08.700000");
}

#[test]
fn esp_spi_in_dport() {
    let mut r = rec(
        KeyClass::Ipv4,
        50,
        v4([192, 0, 2, 1]),
        0,
        v4([192, 0, 2, 7]),
        0,
        t(1, 0),
        t(1, 0),
        dir(2, 164),
        dir(0, 0),
    );
    r.key.aux = 0x2020202;
    let l = line(utc(), &r);
    assert!(
        l.ends_with("   esp          192.0.2.1           ->          192.0.2.7.0x202*        2        164   INT"),
        "{l}"
    );
}

#[test]
fn man_records() {
    let r = FlowRecord {
        kind: RecordKind::ManStart,
        stime_ns: t(1700000000, 27440),
        ltime_ns: t(1700000000, 27440),
        man: Some(Box::default()),
        ..FlowRecord::default()
    };
    assert_eq!(
        &line(utc(), &r)[18..],
        "              man                  0      0                        0      0        0          0   STA"
    );
    let stop = FlowRecord {
        kind: RecordKind::ManStop,
        man: Some(Box::new(ManInfo {
            pkts: 5,
            bytes: 900,
            ..ManInfo::default()
        })),
        ..r.clone()
    };
    assert!(line(utc(), &stop).ends_with("       5        900   STP"));
    // ARGUS.md 1.2: a MAR record in CSV has an empty Dir.
    let csv = with_fields(
        PrintOptions {
            delimiter: Some(','),
            ..utc()
        },
        &["stime dur proto saddr sport dir daddr dport spkts dpkts sbytes dbytes state"],
    );
    assert_eq!(
        line(csv, &r),
        "22:13:20.027440,0.000000,man,0,0,,0,0,0,0,0,0,STA"
    );
}

/// A live probe's status record (CON) shows its drops by stage after the
/// columns, and as a `drops` object in JSON; replay's records have none.
#[test]
fn man_status_records_show_the_drops() {
    let r = FlowRecord {
        kind: RecordKind::ManStatus,
        stime_ns: t(1700000000, 27440),
        ltime_ns: t(1700000060, 27440),
        man: Some(Box::new(ManInfo {
            pkts: 7,
            bytes: 700,
            dropped: 5,
            drops: Some(crate::record::ManDrops {
                xsk_ring_full: 4,
                redirect_failed: 1,
                flows_active: 3,
                ..Default::default()
            }),
            ..ManInfo::default()
        })),
        ..FlowRecord::default()
    };
    let l = line(utc(), &r);
    assert!(
        l.contains("       7        700   CON  drops 5: redirect_failed=1 pcap_dropped=0 pcap_if_dropped=0 xsk_rx_dropped=0 xsk_ring_full=4 xsk_fill_empty=0 xsk_invalid=0 flows_active=3 writer_stalls=0"),
        "{l}"
    );
    let j = line(
        PrintOptions {
            json: true,
            ..utc()
        },
        &r,
    );
    let v: serde_json::Value = serde_json::from_str(&j).expect("JSON");
    assert_eq!(v["drops"]["xsk_ring_full"], 4, "{j}");
    assert_eq!(v["drops"]["flows_active"], 3, "{j}");
    let plain = FlowRecord {
        man: Some(Box::default()),
        ..r.clone()
    };
    assert!(!line(utc(), &plain).contains("drops"));
}

#[test]
fn ipv6_text_matches_inet_ntop() {
    let f = |s: &str| {
        let mut o = String::new();
        push_ipv6(&v6(s), &mut o);
        o
    };
    assert_eq!(f("::"), "::");
    assert_eq!(f("::1"), "::1");
    assert_eq!(f("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
    assert_eq!(f("::1.2.3.4"), "::1.2.3.4");
    assert_eq!(f("2001:db8::a"), "2001:db8::a");
    assert_eq!(f("2001:db8:0:1:0:0:0:1"), "2001:db8:0:1::1");
    assert_eq!(f("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
    assert_eq!(f("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
    assert_eq!(f("fe80::217:f2ff:fed7:cf65"), "fe80::217:f2ff:fed7:cf65");
}

#[test]
fn port_direction_flips_ambiguous_tcp() {
    // ARGUS.md 3: craft/direction3.pcap, one ACK each.
    let mk = |sp: u16, dp: u16| {
        let mut r = rec(
            KeyClass::Ipv4,
            6,
            v4([10, 9, 20, 1]),
            sp,
            v4([10, 9, 20, 2]),
            dp,
            t(1, 0),
            t(1, 0),
            dir(1, 54),
            dir(0, 0),
        );
        r.tcp = tcp(tcpstate::MIDSTREAM);
        r
    };
    let names = Names::builtin();
    let flips = |sp, dp| wants_port_flip(&mk(sp, dp), |p| names.is_service(p));
    assert!(flips(8080, 41000));
    assert!(flips(80, 443));
    assert!(!flips(443, 80));
    assert!(flips(5432, 60000));
    assert!(!flips(1024, 1023));
    assert!(!flips(40000, 50000));

    let opts = PrintOptions {
        port_direction: true,
        numeric: 1,
        ..utc()
    };
    let l = line(opts, &mk(8080, 41000));
    assert!(
        l.contains("10.9.20.2.41000    <?           10.9.20.1.8080 "),
        "{l}"
    );
    // -X semantics leave it alone; handshake flows are never flipped.
    assert!(line(numeric(1), &mk(8080, 41000)).contains("10.9.20.1.8080      ?>"));
    let mut hs = mk(8080, 41000);
    hs.tcp = tcp(tcpstate::SAW_SYN);
    assert!(!wants_port_flip(&hs, |_| true));
}

#[test]
fn json_lines_are_valid_with_numbers() {
    let mut r = mdns4();
    r.dst = dir(1, 131);
    r.ltime_ns = r.stime_ns + 435_000;
    let mut opts = utc();
    opts.json = true;
    opts.set_fields(&["+dur", "+rate", "+sipid", "+dttl", "+smac"])
        .expect("valid");
    let mut p = printer(opts);
    assert_eq!(p.header(), "");
    let mut out = Vec::new();
    p.write_record(&r, &mut out).expect("vec write");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).expect("valid JSON");
    assert_eq!(v["stime"].as_f64(), Some(1300475167.096535));
    assert_eq!(v["proto"], "udp");
    assert_eq!(v["saddr"], "141.142.220.202");
    assert_eq!(v["sport"], "mdns");
    assert_eq!(v["dir"], "<->");
    assert_eq!(v["flgs"], " e       ");
    assert_eq!(v["pkts"].as_u64(), Some(2));
    assert_eq!(v["bytes"].as_u64(), Some(218));
    assert_eq!(v["state"], "CON");
    assert_eq!(v["dur"].as_f64(), Some(0.000435));
    assert!(v["rate"].is_number());
    assert_eq!(v["dttl"].as_u64(), Some(0));
    assert!(v["smac"].is_null());
    // Field order is the -s order.
    let first_key = text.split('"').nth(1);
    assert_eq!(first_key, Some("stime"));
    // Numeric ports are numbers.
    let mut p = printer(PrintOptions {
        json: true,
        numeric: 1,
        ..utc()
    });
    let v: serde_json::Value = serde_json::from_str(&p.format_record(&r)).expect("valid JSON");
    assert_eq!(v["sport"].as_u64(), Some(5353));
}

#[test]
fn every_field_prints_for_every_class_without_panicking() {
    let mut opts = utc();
    let names: Vec<&str> = ALL_FIELDS.iter().map(|f| f.name()).collect();
    opts.set_fields(&names).expect("all fields are valid");
    for json in [false, true] {
        for class in 0..=7u8 {
            for proto in [0u8, 1, 6, 17, 50, 58, 255] {
                let mut r = mdns4();
                r.key.class = class;
                r.key.proto = proto;
                r.key.sport = u16::MAX;
                r.src = DirStats {
                    pkts: u64::MAX / 4,
                    bytes: u64::MAX / 4,
                    stime_ns: u64::MAX,
                    ..DirStats::default()
                };
                r.stime_ns = u64::MAX;
                r.ltime_ns = 0;
                r.tcp = Some(TcpPerf {
                    state: u32::MAX,
                    history: u8::MAX,
                    options: u16::MAX,
                    ..TcpPerf::default()
                });
                r.suser = (0..=255).collect();
                let mut p = printer(PrintOptions {
                    json,
                    ..opts.clone()
                });
                let l = p.format_record(&r);
                assert!(!l.is_empty());
                if json {
                    serde_json::from_str::<serde_json::Value>(&l).expect("valid JSON");
                }
            }
        }
    }
}

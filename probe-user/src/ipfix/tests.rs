use super::*;
use crate::netflow::Collector;
use crate::record::{flag, DirStats, RecordKind, TcpPerf};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

/// A sink the test can read after the exporter took it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<Vec<u8>>>>);
impl MessageSink for Shared {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        self.0
            .lock()
            .map_err(|_| io::ErrorKind::Other)?
            .push(msg.to_vec());
        Ok(())
    }
    fn needs_refresh(&self) -> bool {
        true
    }
}

fn rec(i: u32, v6: bool) -> FlowRecord {
    let mut r = FlowRecord::default();
    if v6 {
        r.key.class = KeyClass::Ipv6 as u8;
        r.key.src = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        r.key.dst = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    } else {
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.src[..4].copy_from_slice(&[10, 0, (i >> 8) as u8, i as u8]);
        r.key.dst[..4].copy_from_slice(&[192, 0, 2, 9]);
    }
    r.key.proto = match (i % 3, v6) {
        (0, false) => 1,
        (0, true) => 58,
        _ => 6,
    };
    if r.key.proto != 6 {
        r.key.sport = 8 << 8;
    } else {
        r.key.sport = 1024 + i as u16;
        r.key.dport = 443;
        r.tcp = Some(TcpPerf {
            src_flags: 0x1b,
            dst_flags: 0x12,
            ..TcpPerf::default()
        });
    }
    r.stime_ns = 1_700_000_000_123_000_000 + u64::from(i) * 1_000_000;
    r.ltime_ns = r.stime_ns + 2_500_000_000;
    r.src = DirStats {
        pkts: 10 + u64::from(i),
        bytes: 1000 + u64::from(i),
        tos: 0x10,
        ttl: 64,
        ..DirStats::default()
    };
    r.dst = DirStats {
        pkts: 5,
        bytes: 1 << 33, // beyond 32 bits
        ttl: 57,
        ..DirStats::default()
    };
    r.svlan = 12;
    r.flags = flag::HAS_SVLAN | flag::HAS_SMPLS;
    r.smpls = 16004;
    r.smac = [2, 0, 0, 0, 0, 1];
    r.dmac = [2, 0, 0, 0, 0, 2];
    r
}

#[test]
fn round_trip_through_the_collector_keeps_every_counter() {
    let sink = Shared::default();
    let mut ex = Exporter::new(Box::new(sink.clone()), ExporterConfig::default());
    let mut sent = Vec::new();
    for i in 0..500 {
        let r = rec(i, i % 7 == 0);
        ex.export(&r).unwrap();
        sent.push(r);
    }
    let mut arp = FlowRecord::default();
    arp.key.class = KeyClass::Arp as u8;
    ex.export(&arp).unwrap();
    let man = FlowRecord {
        kind: RecordKind::ManStart,
        ..FlowRecord::default()
    };
    ex.export(&man).unwrap();
    ex.flush().unwrap();
    let st = ex.stats();
    assert_eq!((st.records, st.skipped), (500, 2));
    let msgs = sink.0.lock().unwrap().clone();
    assert_eq!(msgs.len() as u64, st.messages);
    assert!(msgs.iter().all(|m| m.len() <= 1400));

    let mut c = Collector::default();
    let mut got = Vec::new();
    let exporter = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for m in &msgs {
        c.decode(exporter, 0, m, &mut got).unwrap();
    }
    assert_eq!(got.len(), sent.len());
    for (s, g) in sent.iter().zip(&got) {
        assert_eq!(g.key.src, s.key.src);
        assert_eq!(g.key.dst, s.key.dst);
        assert_eq!(
            (g.key.sport, g.key.dport, g.key.proto),
            (s.key.sport, s.key.dport, s.key.proto)
        );
        assert_eq!((g.src.pkts, g.src.bytes), (s.src.pkts, s.src.bytes));
        assert_eq!((g.dst.pkts, g.dst.bytes), (s.dst.pkts, s.dst.bytes));
        assert_eq!((g.src.tos, g.src.ttl, g.dst.ttl), (0x10, 64, 57));
        // Millisecond resolution.
        assert_eq!(g.stime_ns, s.stime_ns / 1_000_000 * 1_000_000);
        assert_eq!(g.ltime_ns, s.ltime_ns / 1_000_000 * 1_000_000);
        assert_eq!(
            g.tcp.map(|t| (t.src_flags, t.dst_flags)),
            s.tcp.map(|t| (t.src_flags, t.dst_flags))
        );
        assert_eq!(
            (g.svlan, g.smpls, g.smac, g.dmac),
            (12, 16004, s.smac, s.dmac)
        );
    }
    // Sequence numbers count data records before each message.
    let mut expect_seq = 0u32;
    for m in &msgs {
        let seq = u32::from_be_bytes([m[8], m[9], m[10], m[11]]);
        assert_eq!(seq, expect_seq);
        expect_seq = expect_seq.wrapping_add(count_records(m));
    }
    assert_eq!(expect_seq, 500);
}

/// Counts the data records of one of our messages (both templates have fixed lengths).
fn count_records(m: &[u8]) -> u32 {
    let mut off = 16;
    let mut n = 0;
    while off + 4 <= m.len() {
        let id = u16::from_be_bytes([m[off], m[off + 1]]);
        let len = usize::from(u16::from_be_bytes([m[off + 2], m[off + 3]]));
        let rl = match id {
            256 => record_len(&FIELDS_V4),
            257 => record_len(&FIELDS_V6),
            _ => 0,
        };
        n += (len - 4).checked_div(rl).unwrap_or(0) as u32;
        off += len;
    }
    n
}

fn has_templates(m: &[u8]) -> bool {
    m.len() > 18 && m[16..18] == [0, 2]
}

#[test]
fn templates_are_refreshed_every_n_messages_and_every_interval() {
    let sink = Shared::default();
    let cfg = ExporterConfig {
        template_refresh_messages: 5,
        template_refresh: Duration::from_secs(3600),
        ..ExporterConfig::default()
    };
    let mut ex = Exporter::new(Box::new(sink.clone()), cfg);
    for i in 0..22 {
        ex.export(&rec(i, false)).unwrap();
        ex.flush().unwrap();
    }
    let msgs = sink.0.lock().unwrap().clone();
    let with: Vec<usize> = (0..msgs.len())
        .filter(|&i| has_templates(&msgs[i]))
        .collect();
    assert_eq!(with, vec![0, 5, 10, 15, 20]);

    let sink = Shared::default();
    let cfg = ExporterConfig {
        template_refresh_messages: 1000,
        template_refresh: Duration::from_millis(30),
        ..ExporterConfig::default()
    };
    let mut ex = Exporter::new(Box::new(sink.clone()), cfg);
    for i in 0..3 {
        ex.export(&rec(i, false)).unwrap();
        ex.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(40));
    ex.export(&rec(9, false)).unwrap();
    ex.flush().unwrap();
    let msgs = sink.0.lock().unwrap().clone();
    let with: Vec<bool> = msgs.iter().map(|m| has_templates(m)).collect();
    assert_eq!(with, vec![true, false, false, true]);
}

#[test]
fn template_records_use_reverse_pen_for_the_responder() {
    let mut v = Vec::new();
    template_set(&mut v);
    let pen = ie::REVERSE_PEN.to_be_bytes();
    let reverse = v.windows(4).filter(|w| *w == pen).count();
    // Five reverse elements in each of the two templates.
    assert_eq!(reverse, 10);
}

#[test]
fn bad_destinations_are_clear_errors() {
    for bad in ["127.0.0.1:4739", "http://x", "udp://no-port"] {
        let e = Exporter::connect(bad, ExporterConfig::default()).unwrap_err();
        assert!(e.to_string().contains("IPFIX destination"), "{e}");
    }
}

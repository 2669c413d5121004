//! Hand-made capture files: every supported format and byte order, timestamp
//! scaling, gzip, truncation at every length, and seeded random damage.

use std::io::{Cursor, Write};

use ocellus::capture::{CaptureError, FileReader, Format, LinkType, MergedReader, MAX_CAPLEN};

// ---------- builders ----------

/// One packet as written: seconds, fraction (us or ns per the file), bytes, wire length.
#[derive(Clone)]
struct Rec {
    sec: u32,
    frac: u32,
    data: Vec<u8>,
    wire_len: u32,
}

fn rec(sec: u32, frac: u32, len: usize) -> Rec {
    let data = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(sec as u8))
        .collect();
    Rec {
        sec,
        frac,
        data,
        wire_len: len as u32 + 4,
    }
}

struct Bytes {
    be: bool,
    out: Vec<u8>,
}

impl Bytes {
    fn new(be: bool) -> Bytes {
        Bytes {
            be,
            out: Vec::new(),
        }
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
        self
    }
    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }
}

#[derive(Clone, Copy)]
enum PcapKind {
    Micro,
    Nano,
    Modified,
}

fn pcap_file(be: bool, kind: PcapKind, snaplen: u32, link: u32, recs: &[Rec]) -> Vec<u8> {
    let magic = match kind {
        PcapKind::Micro => 0xa1b2_c3d4,
        PcapKind::Nano => 0xa1b2_3c4d,
        PcapKind::Modified => 0xa1b2_cd34,
    };
    let mut b = Bytes::new(be);
    b.u32(magic)
        .u16(2)
        .u16(4)
        .u32(0)
        .u32(0)
        .u32(snaplen)
        .u32(link);
    for r in recs {
        b.u32(r.sec)
            .u32(r.frac)
            .u32(r.data.len() as u32)
            .u32(r.wire_len);
        if let PcapKind::Modified = kind {
            b.u32(3).u16(0x0800).raw(&[0, 0]);
        }
        b.raw(&r.data);
    }
    b.out
}

/// pcapng writer: each call appends one block.
struct Ng(Bytes);

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

impl Ng {
    fn new(be: bool) -> Ng {
        Ng(Bytes::new(be))
    }
    fn block(&mut self, block_type: u32, body: &[u8]) -> &mut Self {
        let len = 12 + body.len() as u32;
        self.0.u32(block_type).u32(len).raw(body).u32(len);
        self
    }
    fn body(&self) -> Bytes {
        Bytes::new(self.0.be)
    }
    fn options(&self, b: &mut Bytes, opts: &[(u16, Vec<u8>)]) {
        for (code, v) in opts {
            b.u16(*code).u16(v.len() as u16).raw(v);
            pad4(&mut b.out);
        }
        if !opts.is_empty() {
            b.u32(0);
        }
    }
    fn shb(&mut self, major: u16, minor: u16) -> &mut Self {
        let mut b = self.body();
        b.u32(0x1a2b_3c4d)
            .u16(major)
            .u16(minor)
            .u32(u32::MAX)
            .u32(u32::MAX);
        self.options(&mut b, &[(4, b"ocellus test".to_vec())]);
        self.block(0x0a0d_0d0a, &b.out.clone())
    }
    fn idb(&mut self, link: u16, snaplen: u32, opts: &[(u16, Vec<u8>)]) -> &mut Self {
        let mut b = self.body();
        b.u16(link).u16(0).u32(snaplen);
        self.options(&mut b, opts);
        self.block(1, &b.out.clone())
    }
    fn epb(&mut self, if_id: u32, ts: u64, data: &[u8], wire_len: u32) -> &mut Self {
        let mut b = self.body();
        b.u32(if_id)
            .u32((ts >> 32) as u32)
            .u32(ts as u32)
            .u32(data.len() as u32)
            .u32(wire_len)
            .raw(data);
        pad4(&mut b.out);
        self.options(&mut b, &[(1, b"comment".to_vec())]);
        self.block(6, &b.out.clone())
    }
    fn pb(&mut self, if_id: u16, ts: u64, data: &[u8], wire_len: u32) -> &mut Self {
        let mut b = self.body();
        b.u16(if_id)
            .u16(0)
            .u32((ts >> 32) as u32)
            .u32(ts as u32)
            .u32(data.len() as u32)
            .u32(wire_len)
            .raw(data);
        pad4(&mut b.out);
        self.block(2, &b.out.clone())
    }
    fn spb(&mut self, data: &[u8], wire_len: u32) -> &mut Self {
        let mut b = self.body();
        b.u32(wire_len).raw(data);
        pad4(&mut b.out);
        self.block(3, &b.out.clone())
    }
    fn bytes(&self) -> Vec<u8> {
        self.0.out.clone()
    }
}

fn tsresol(v: u8) -> (u16, Vec<u8>) {
    (9, vec![v])
}

fn tsoffset(be: bool, s: i64) -> (u16, Vec<u8>) {
    (
        14,
        if be { s.to_be_bytes() } else { s.to_le_bytes() }.to_vec(),
    )
}

// ---------- reading helpers ----------

#[derive(Debug, PartialEq)]
struct Pkt {
    ts_ns: u64,
    wire_len: u32,
    link: u32,
    data: Vec<u8>,
}

fn reader(bytes: &[u8]) -> Result<FileReader, CaptureError> {
    FileReader::from_reader(
        "test.pcap".to_string(),
        Box::new(Cursor::new(bytes.to_vec())),
    )
}

/// Reads to the end; returns the packets and the error that ended the file, if any.
/// Fails the test if the reader does not stop (more packets than bytes) or
/// reports more than one error.
fn read_all(mut r: FileReader, limit: usize) -> (Vec<Pkt>, Option<CaptureError>) {
    let mut out = Vec::new();
    loop {
        match r.next_packet() {
            Ok(Some(p)) => {
                out.push(Pkt {
                    ts_ns: p.ts_ns,
                    wire_len: p.wire_len,
                    link: p.link.0,
                    data: p.data.to_vec(),
                });
                assert!(out.len() <= limit, "reader does not stop");
            }
            Ok(None) => return (out, None),
            Err(e) => {
                assert!(
                    matches!(r.next_packet(), Ok(None)),
                    "second read after an error"
                );
                return (out, Some(e));
            }
        }
    }
}

fn read_ok(bytes: &[u8]) -> Vec<Pkt> {
    let (pkts, err) = read_all(reader(bytes).expect("opens"), bytes.len());
    assert!(err.is_none(), "unexpected error: {err:?}");
    pkts
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

// ---------- classic pcap ----------

#[test]
fn pcap_both_byte_orders_micro_and_nano() {
    let recs = [
        rec(1_700_000_000, 999_999, 60),
        rec(1_700_000_001, 5, 0),
        rec(7, 123, 1514),
    ];
    for be in [false, true] {
        for kind in [PcapKind::Micro, PcapKind::Nano, PcapKind::Modified] {
            let file = pcap_file(be, kind, 65535, 1, &recs);
            let r = reader(&file).unwrap();
            let expect_format = match kind {
                PcapKind::Micro => Format::Pcap {
                    big_endian: be,
                    nanos: false,
                },
                PcapKind::Nano => Format::Pcap {
                    big_endian: be,
                    nanos: true,
                },
                PcapKind::Modified => Format::ModifiedPcap { big_endian: be },
            };
            assert_eq!(r.format(), expect_format);
            assert_eq!(r.link_type(), Some(LinkType::ETHERNET));
            let pkts = read_ok(&file);
            assert_eq!(pkts.len(), recs.len());
            for (p, r) in pkts.iter().zip(&recs) {
                let frac_ns = match kind {
                    PcapKind::Nano => u64::from(r.frac),
                    _ => u64::from(r.frac) * 1000,
                };
                assert_eq!(p.ts_ns, u64::from(r.sec) * 1_000_000_000 + frac_ns);
                assert_eq!(p.data, r.data);
                assert_eq!(p.wire_len, r.wire_len);
                assert_eq!(p.link, 1);
            }
        }
    }
}

#[test]
fn pcap_fcs_bits_are_masked_and_reserved_bits_rejected() {
    let file = pcap_file(
        false,
        PcapKind::Micro,
        65535,
        0x1400_0000 | 113,
        &[rec(1, 0, 10)],
    );
    assert_eq!(
        reader(&file).unwrap().link_type(),
        Some(LinkType::LINUX_SLL)
    );
    let file = pcap_file(true, PcapKind::Micro, 65535, 0x0001_0001, &[]);
    let e = reader(&file).unwrap_err();
    assert!(
        matches!(e, CaptureError::Unusable { offset: 20, .. }),
        "{e}"
    );
}

#[test]
fn pcap_bad_magic_and_version_fail_open() {
    let e = reader(b"GIF89a, not a capture at all").unwrap_err();
    assert!(
        e.to_string().contains("unknown magic number 47494638"),
        "{e}"
    );
    assert!(matches!(
        reader(b"").unwrap_err(),
        CaptureError::Unusable { .. }
    ));
    let mut file = pcap_file(false, PcapKind::Micro, 65535, 1, &[]);
    file[4] = 3; // version 3.4
    let e = reader(&file).unwrap_err();
    assert!(
        e.to_string().contains("unsupported pcap version 3.4"),
        "{e}"
    );
}

#[test]
fn caplen_over_snaplen_is_accepted_up_to_the_limit() {
    // snaplen 64, but a 1000-byte record: tcpdump reads it, so do we.
    let file = pcap_file(
        false,
        PcapKind::Micro,
        64,
        1,
        &[rec(1, 0, 1000), rec(2, 0, MAX_CAPLEN as usize)],
    );
    let pkts = read_ok(&file);
    assert_eq!(pkts.len(), 2);
    assert_eq!(pkts[1].data.len(), MAX_CAPLEN as usize);

    // One byte more is garbage: the records before it stand, then one error.
    let file = pcap_file(
        false,
        PcapKind::Micro,
        65535,
        1,
        &[rec(1, 0, 100), rec(2, 0, MAX_CAPLEN as usize + 1)],
    );
    let (pkts, err) = read_all(reader(&file).unwrap(), 10);
    assert_eq!(pkts.len(), 1);
    let msg = err.expect("corrupt record").to_string();
    assert_eq!(
        msg,
        "test.pcap: offset 140: packet record claims 262145 captured bytes (snaplen 65535; \
         the limit is 262144); file is corrupt"
    );

    let mut file = pcap_file(false, PcapKind::Micro, 65535, 1, &[rec(1, 0, 100)]);
    file[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
    let (pkts, err) = read_all(reader(&file).unwrap(), 10);
    assert!(pkts.is_empty());
    assert!(err
        .unwrap()
        .to_string()
        .contains("offset 24: packet record claims 4294967295 captured bytes"));
}

#[test]
fn many_packets_cross_buffer_refills_intact() {
    // ~3 MiB of records of varied sizes so some straddle the 1 MiB buffer's end.
    let recs: Vec<Rec> = (0..3000u32)
        .map(|i| rec(i, i, (i as usize * 37) % 2000))
        .collect();
    let file = pcap_file(false, PcapKind::Micro, 65535, 1, &recs);
    assert!(file.len() > 2 << 20);
    let pkts = read_ok(&file);
    assert_eq!(pkts.len(), recs.len());
    assert!(pkts.iter().zip(&recs).all(|(p, r)| p.data == r.data));
}

// ---------- pcapng ----------

#[test]
fn pcapng_timestamp_resolutions_and_offset() {
    for be in [false, true] {
        let mut ng = Ng::new(be);
        ng.shb(1, 0)
            .idb(1, 0, &[])
            .idb(101, 0, &[tsresol(9)])
            .idb(113, 0, &[tsresol(0x80 | 20)])
            .idb(228, 0, &[tsresol(3), tsoffset(be, 1_000)])
            .idb(229, 0, &[tsresol(0x80 | 32), tsoffset(be, -10)]);
        ng.epb(0, 1_700_000_000_123_456, b"micro", 5)
            .epb(1, 1_700_000_000_123_456_789, b"nano", 4)
            .epb(2, 3 << 20 | 1 << 19, b"2^-20", 5) // 3.5 s
            .epb(3, 42_001, b"milli", 5) // 42.001 s + 1000 s
            .epb(4, (20u64 << 32) | (1 << 30), b"2^-32", 5); // 20.25 s - 10 s
        let file = ng.bytes();
        assert_eq!(reader(&file).unwrap().format(), Format::PcapNg);
        let pkts = read_ok(&file);
        let got: Vec<(u64, u32, &[u8])> = pkts
            .iter()
            .map(|p| (p.ts_ns, p.link, &p.data[..]))
            .collect();
        assert_eq!(
            got,
            vec![
                (1_700_000_000_123_456_000, 1, &b"micro"[..]),
                (1_700_000_000_123_456_789, 101, &b"nano"[..]),
                (3_500_000_000, 113, &b"2^-20"[..]),
                (1_042_001_000_000, 228, &b"milli"[..]),
                (10_250_000_000, 229, &b"2^-32"[..]),
            ],
            "big endian: {be}"
        );
    }
}

#[test]
fn pcapng_several_sections_of_both_byte_orders() {
    let mut file = Vec::new();
    let mut a = Ng::new(false);
    a.shb(1, 0)
        .idb(1, 0, &[])
        .epb(0, 1_000_000, b"a0", 2)
        .epb(0, 2_000_000, b"a1", 2);
    file.extend(a.bytes());
    // A new section forgets the old interfaces: its interface 0 is another link type.
    let mut b = Ng::new(true);
    b.shb(1, 2)
        .idb(113, 0, &[tsresol(9)])
        .block(0x0bad, &[1, 2, 3, 4])
        .epb(0, 3_000_000_000, b"b0", 2);
    file.extend(b.bytes());
    let mut c = Ng::new(false);
    c.shb(1, 0)
        .idb(101, 0, &[])
        .block(5, &[0; 20])
        .pb(0, 4_000_000, b"c0", 2);
    file.extend(c.bytes());
    let pkts = read_ok(&file);
    let got: Vec<(u64, u32, &[u8])> = pkts
        .iter()
        .map(|p| (p.ts_ns, p.link, &p.data[..]))
        .collect();
    assert_eq!(
        got,
        vec![
            (1_000_000_000, 1, &b"a0"[..]),
            (2_000_000_000, 1, &b"a1"[..]),
            (3_000_000_000, 113, &b"b0"[..]),
            (4_000_000_000, 101, &b"c0"[..]),
        ]
    );
}

#[test]
fn pcapng_simple_packet_block_uses_snaplen_and_block_length() {
    let data: Vec<u8> = (0..100).collect();
    let mut ng = Ng::new(false);
    ng.shb(1, 0)
        .idb(1, 64, &[])
        .epb(0, 5_000_000, &data[..10], 10);
    ng.spb(&data, 100); // snaplen 64 cuts it
    ng.spb(&data[..30], 1500); // the block holds 30 (padded to 32) of 1500
    let pkts = read_ok(&ng.bytes());
    assert_eq!(pkts.len(), 3);
    assert_eq!(pkts[1].data, &data[..64]);
    assert_eq!(pkts[1].wire_len, 100);
    assert_eq!(pkts[2].data.len(), 32);
    assert_eq!(&pkts[2].data[..30], &data[..30]);
    // No timestamp of its own: it keeps the previous packet's place in time.
    assert_eq!(pkts[1].ts_ns, 5_000_000_000);
    assert_eq!(pkts[2].ts_ns, 5_000_000_000);
}

#[test]
fn pcapng_skips_big_unknown_blocks() {
    let mut ng = Ng::new(false);
    ng.shb(1, 0)
        .idb(1, 0, &[])
        .block(0x4000_0bad, &vec![0xee; 3 << 20])
        .epb(0, 1, b"after", 5);
    let pkts = read_ok(&ng.bytes());
    assert_eq!(pkts.len(), 1);
    assert_eq!(pkts[0].data, b"after");
}

#[test]
fn pcapng_damage_is_reported_once_with_offset() {
    // A packet naming an interface the section lacks.
    let mut ng = Ng::new(false);
    ng.shb(1, 0).idb(1, 0, &[]).epb(0, 1, b"ok", 2);
    let at = ng.bytes().len();
    ng.epb(1, 2, b"bad", 3);
    let (pkts, err) = read_all(reader(&ng.bytes()).unwrap(), 10);
    assert_eq!(pkts.len(), 1);
    let e = err.unwrap();
    assert_eq!(e.offset(), Some(at as u64));
    assert!(
        e.to_string()
            .contains("interface 1, but the section describes 1"),
        "{e}"
    );

    // A block length that is not a multiple of 4.
    let mut file = ng.bytes();
    file[at + 4] = 0x31;
    let (pkts, err) = read_all(reader(&file).unwrap(), 10);
    assert_eq!(pkts.len(), 1);
    assert!(err
        .unwrap()
        .to_string()
        .contains("claims a length of 49 bytes"));

    // A second section with an unknown version ends the file there.
    let mut ng = Ng::new(false);
    ng.shb(1, 0)
        .idb(1, 0, &[])
        .epb(0, 1, b"ok", 2)
        .shb(2, 0)
        .idb(1, 0, &[])
        .epb(0, 1, b"no", 2);
    let (pkts, err) = read_all(reader(&ng.bytes()).unwrap(), 10);
    assert_eq!(pkts.len(), 1);
    assert!(matches!(err, Some(CaptureError::Corrupt { .. })));

    // An unknown version in the first section means the file is unusable.
    let mut ng = Ng::new(true);
    ng.shb(1, 1);
    assert!(matches!(
        reader(&ng.bytes()).unwrap_err(),
        CaptureError::Unusable { .. }
    ));

    // An option running past its block.
    let mut ng = Ng::new(false);
    ng.shb(1, 0);
    let mut file = ng.bytes();
    file[26..28].copy_from_slice(&400u16.to_le_bytes());
    let e = reader(&file).unwrap_err();
    assert!(
        e.to_string()
            .contains("option 4 of length 400 runs past the end"),
        "{e}"
    );

    // Nonsense timestamp resolution.
    let mut ng = Ng::new(false);
    ng.shb(1, 0).idb(1, 0, &[tsresol(90)]).epb(0, 1, b"x", 1);
    let (pkts, err) = read_all(reader(&ng.bytes()).unwrap(), 10);
    assert!(pkts.is_empty());
    assert!(err.unwrap().to_string().contains("if_tsresol 0x5a"));
}

// ---------- gzip ----------

fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    let recs = [rec(10, 1, 60), rec(11, 2, 0), rec(12, 3, 90)];
    let mut ng = Ng::new(true);
    ng.shb(1, 0)
        .idb(1, 0, &[tsresol(9)])
        .epb(0, 10, b"one", 3)
        .block(5, &[0; 8]);
    ng.spb(b"two!", 4).pb(0, 30, b"three", 5);
    vec![
        (
            "pcap-le-us",
            pcap_file(false, PcapKind::Micro, 65535, 1, &recs),
        ),
        (
            "pcap-be-ns",
            pcap_file(true, PcapKind::Nano, 65535, 1, &recs),
        ),
        (
            "modified",
            pcap_file(false, PcapKind::Modified, 65535, 1, &recs),
        ),
        ("pcapng-be", ng.bytes()),
    ]
}

#[test]
fn gzip_round_trip_matches_plain() {
    for (name, plain) in sample_files() {
        let gz = gzip(&plain);
        let r = reader(&gz).unwrap();
        assert!(r.is_gzip(), "{name}");
        let (pkts, err) = read_all(r, 100);
        assert!(err.is_none(), "{name}: {err:?}");
        assert_eq!(pkts, read_ok(&plain), "{name}");
        assert!(!pkts.is_empty());
    }
}

#[test]
fn gzip_file_on_disk_reports_progress_in_compressed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<Rec> = (0..500).map(|i| rec(i, 0, 300)).collect();
    let plain = pcap_file(false, PcapKind::Micro, 65535, 1, &recs);
    let gz = gzip(&plain);
    // Two gzip members back to back read as one stream (as `cat a.gz b.gz`).
    let mut two = gz.clone();
    two.extend(gzip(&[]));
    let path = dir.path().join("t.pcap.gz");
    std::fs::write(&path, &two).unwrap();
    let mut r = FileReader::open(&path).unwrap();
    assert_eq!(r.file_size(), Some(two.len() as u64));
    let mut n = 0;
    while r.next_packet().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 500);
    assert_eq!(r.bytes_consumed(), two.len() as u64);
    assert_eq!(r.offset(), plain.len() as u64);

    let path = dir.path().join("t.pcap");
    std::fs::write(&path, &plain).unwrap();
    let mut r = FileReader::open(&path).unwrap();
    assert!(!r.is_gzip());
    r.next_packet().unwrap();
    assert_eq!(r.bytes_consumed(), 24 + 16 + 300);
    while r.next_packet().unwrap().is_some() {}
    assert_eq!(r.bytes_consumed(), plain.len() as u64);
    assert_eq!(r.packets_read(), 500);
    assert_eq!(r.captured_bytes(), 500 * 300);

    let e = FileReader::open(&dir.path().join("missing.pcap")).unwrap_err();
    assert!(matches!(e, CaptureError::Open { .. }));
    assert!(e.to_string().contains("missing.pcap: cannot open"), "{e}");
}

// ---------- truncation and random damage ----------

/// Record boundaries of a sample file: offsets where a cut leaves whole records.
fn boundaries(file: &[u8]) -> Vec<usize> {
    // Cut points found by reading: after each packet, the reader's offset.
    let mut r = reader(file).unwrap();
    let mut out = vec![];
    while r.next_packet().unwrap().is_some() {
        out.push(r.offset() as usize);
    }
    out
}

#[test]
fn every_truncation_reads_a_prefix_then_stops() {
    for (name, file) in sample_files() {
        let full = read_ok(&file);
        let cuts = boundaries(&file);
        let header_len = reader(&file).unwrap().offset() as usize;
        for len in 0..=file.len() {
            let r = match reader(&file[..len]) {
                Ok(r) => r,
                Err(_) => {
                    assert!(
                        len < header_len,
                        "{name}: a {len}-byte prefix fails to open"
                    );
                    continue;
                }
            };
            let (pkts, err) = read_all(r, len);
            assert_eq!(pkts[..], full[..pkts.len()], "{name} cut at {len}");
            let whole = cuts.iter().filter(|&&c| c <= len).count();
            assert_eq!(pkts.len(), whole, "{name} cut at {len}");
            // Clean only where a record (or a skipped block) ends.
            if err.is_none() && len < file.len() {
                let at_block_end =
                    cuts.contains(&len) || name.starts_with("pcapng") || len == header_len;
                assert!(at_block_end, "{name}: cut at {len} reads clean");
            }
            if len > header_len && !cuts.contains(&len) && !name.starts_with("pcapng") {
                assert!(
                    matches!(err, Some(CaptureError::Truncated { .. })),
                    "{name} cut at {len}"
                );
            }
        }
        // gzip cut short: whole packets, then an error or a clean end, never a panic.
        let gz = gzip(&file);
        for len in 0..=gz.len() {
            if let Ok(r) = reader(&gz[..len]) {
                let (pkts, _) = read_all(r, file.len());
                assert_eq!(pkts[..], full[..pkts.len()], "{name}.gz cut at {len}");
            }
        }
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn seeded_random_damage_never_panics_or_hangs() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let files = sample_files();
    let mut outcomes = [0usize; 3]; // open error, clean, damaged
    for round in 0..20_000 {
        let (_, base) = &files[round % files.len()];
        let mut f = base.clone();
        match rng.below(4) {
            // Flip bytes, mostly in the headers.
            0 | 1 => {
                for _ in 0..1 + rng.below(6) {
                    let span = if rng.below(2) == 0 {
                        64.min(f.len())
                    } else {
                        f.len()
                    };
                    let i = rng.below(span);
                    f[i] = rng.next() as u8;
                }
            }
            // Drop a random 32-bit length anywhere.
            2 => {
                let i = rng.below(f.len() - 4);
                let v = [u32::MAX, 0, 1, 12, 0x8000_0000, MAX_CAPLEN + 1][rng.below(6)];
                f[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            // Random tail after a valid header.
            _ => {
                let keep = rng.below(f.len());
                f.truncate(keep.max(4));
                for _ in 0..rng.below(300) {
                    f.push(rng.next() as u8);
                }
            }
        }
        let f = if round % 10 == 0 { gzip(&f) } else { f };
        match reader(&f) {
            Err(_) => outcomes[0] += 1,
            Ok(r) => {
                let (pkts, err) = read_all(r, f.len());
                assert!(pkts.iter().all(|p| p.data.len() <= MAX_CAPLEN as usize));
                outcomes[if err.is_none() { 1 } else { 2 }] += 1;
            }
        }
    }
    // The mutations must exercise all three outcomes.
    assert!(outcomes.iter().all(|&n| n > 100), "{outcomes:?}");
}

// ---------- merge ----------

fn merged_from(files: &[Vec<u8>]) -> MergedReader {
    MergedReader::new(files.iter().map(|f| reader(f).unwrap()).collect())
}

#[test]
fn merge_orders_interleaved_files_by_time() {
    // File a: even seconds (pcap, us); file b: odd seconds (pcapng, ns) and one tie.
    let a = pcap_file(
        false,
        PcapKind::Micro,
        65535,
        1,
        &[rec(0, 0, 1), rec(2, 0, 2), rec(4, 0, 3), rec(5, 0, 4)],
    );
    let mut ng = Ng::new(true);
    ng.shb(1, 0).idb(101, 0, &[tsresol(9)]);
    for s in [1u64, 3, 5, 7] {
        ng.epb(0, s * 1_000_000_000, &[s as u8; 5], 5);
    }
    let b = ng.bytes();
    let mut m = merged_from(&[a, b]);
    let mut got = Vec::new();
    while let Some(p) = m.next_packet() {
        got.push((p.ts_ns / 1_000_000_000, p.link.0));
    }
    // At 5 s both files have a packet: file a (listed first) goes first.
    assert_eq!(
        got,
        vec![
            (0, 1),
            (1, 101),
            (2, 1),
            (3, 101),
            (4, 1),
            (5, 1),
            (5, 101),
            (7, 101)
        ]
    );
    assert_eq!(m.packets_read(), 8);
    assert!(m.take_warnings().is_empty());
    assert_eq!(m.total_size(), None);
}

#[test]
fn merge_goes_on_past_a_damaged_file() {
    let good = pcap_file(
        false,
        PcapKind::Micro,
        65535,
        1,
        &[rec(1, 0, 10), rec(3, 0, 10), rec(5, 0, 10)],
    );
    let mut bad = pcap_file(
        false,
        PcapKind::Micro,
        65535,
        1,
        &[rec(2, 0, 10), rec(4, 0, 10)],
    );
    bad.truncate(bad.len() - 3);
    let mut m = merged_from(&[good, bad]);
    let mut secs = Vec::new();
    let mut warned = Vec::new();
    while let Some(p) = m.next_packet() {
        secs.push(p.ts_ns / 1_000_000_000);
        warned.extend(m.take_warnings());
    }
    warned.extend(m.take_warnings());
    assert_eq!(secs, vec![1, 2, 3, 5]);
    assert_eq!(warned.len(), 1);
    assert!(matches!(warned[0], CaptureError::Truncated { .. }));
    assert!(m.take_warnings().is_empty());
}

#[test]
fn readers_can_move_to_a_reader_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<FileReader>();
    assert_send::<MergedReader>();
}

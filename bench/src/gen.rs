//! Deterministic generator of a large replay-benchmark capture.
//!
//! The capture is a classic microsecond pcap (Ethernet) of IPv4 traffic: mostly
//! TCP (3-way handshake, data both ways, FIN close), some UDP request/response
//! and some ICMP echo, spread evenly over `duration_s` of packet time.
//!
//! Model: `concurrency` flow slots are live at once; each packet goes to a slot
//! picked at random, and a finished flow is replaced by a new one. So about
//! `concurrency` flows are open at any time, and a flow lives about
//! `packets_per_flow * concurrency / packet_rate` seconds (22 s with the defaults).
//! The mean packets per flow is set so that about `flows` flows are started.
//!
//! Frame sizes follow the simple IMIX 7:4:1 of 64/594/1518 bytes on the wire;
//! pcap does not store the 4-byte FCS, so `orig_len` is 60/590/1514. Handshake,
//! pure-ACK and FIN segments are small frames (Ethernet-padded to 60); data
//! packets take the size class furthest below its IMIX share, which keeps the
//! whole file at 7:4:1. Frames are cut to `snaplen` bytes in the file (128 by
//! default, headers intact) while `orig_len` keeps the IMIX size, so a 10
//! million packet file is about 1 GB. Payload bytes are zeros, which lets the
//! TCP/UDP checksums be exact without the cut-off bytes.
//!
//! The same options and seed give the same file, byte for byte.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Generator options.
#[derive(Clone, Debug)]
pub struct GenOptions {
    pub packets: u64,
    pub flows: u64,
    pub concurrency: u64,
    pub duration_s: f64,
    pub seed: u64,
    /// Bytes of each frame stored in the file (0 = whole frames).
    pub snaplen: u32,
    /// First packet timestamp, seconds since the epoch.
    pub start_s: u64,
    pub out: PathBuf,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            packets: 10_000_000,
            flows: 800_000,
            concurrency: 300_000,
            duration_s: 60.0,
            seed: 1,
            snaplen: 128,
            start_s: 1_700_000_000,
            out: PathBuf::from("replay.pcap"),
        }
    }
}

/// What was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenStats {
    pub packets: u64,
    pub flows_started: u64,
    pub tcp_flows: u64,
    pub udp_flows: u64,
    pub icmp_flows: u64,
    /// Flows with packets still to send when the capture ends (no FIN seen).
    pub flows_open_at_end: u64,
    /// Packets per IMIX class: 64, 594, 1518 wire bytes.
    pub imix_packets: [u64; 3],
    /// Sum of orig_len.
    pub wire_bytes: u64,
    /// Bytes of the file.
    pub file_bytes: u64,
}

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("invalid option: {0}")]
    Invalid(String),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// splitmix64: small, fast, and good enough for traffic shapes.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with the given mean, rounded down.
    pub fn exp(&mut self, mean: f64) -> u64 {
        (-self.unit().ln() * mean) as u64
    }
}

const IMIX_WIRE: [u32; 3] = [64, 594, 1518];
const IMIX_WEIGHT: [u64; 3] = [7, 4, 1];
const FCS: u32 = 4;
const ETH_MIN: u32 = 60;
const TCP_SERVER_PORTS: [u16; 6] = [443, 80, 8080, 22, 5432, 3306];
const UDP_SERVER_PORTS: [u16; 4] = [443, 123, 514, 8125];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Clone, Copy, Debug)]
struct Flow {
    kind: Kind,
    client_ip: u32,
    server_ip: u32,
    client_port: u16,
    server_port: u16,
    /// Packets sent so far.
    sent: u32,
    /// Packets this flow will send in all.
    total: u32,
    client_seq: u32,
    server_seq: u32,
}

struct Writer {
    out: BufWriter<File>,
    snaplen: usize,
    frame: Vec<u8>,
    stats: GenStats,
}

/// Writes the capture described by `opts`.
pub fn generate(opts: &GenOptions) -> Result<GenStats, GenError> {
    if opts.packets == 0 || opts.flows == 0 || opts.concurrency == 0 {
        return Err(GenError::Invalid(
            "--packets, --flows and --concurrency must be above 0".into(),
        ));
    }
    if opts.concurrency > opts.flows {
        return Err(GenError::Invalid(format!(
            "--concurrency {} is above --flows {}: there cannot be more open flows than flows",
            opts.concurrency, opts.flows
        )));
    }
    if opts.flows > 1 << 24 {
        return Err(GenError::Invalid(
            "--flows above 16777216: client addresses come from 10.0.0.0/8".into(),
        ));
    }
    if opts.duration_s.is_nan() || opts.duration_s <= 0.0 {
        return Err(GenError::Invalid("--duration-s must be above 0".into()));
    }
    let io_err = |source| GenError::Io {
        path: opts.out.clone(),
        source,
    };
    let file = File::create(&opts.out).map_err(io_err)?;
    let snaplen = if opts.snaplen == 0 {
        65_535
    } else {
        opts.snaplen.max(64)
    };
    let mut w = Writer {
        out: BufWriter::with_capacity(1 << 20, file),
        snaplen: snaplen as usize,
        frame: vec![0u8; 1514],
        stats: GenStats::default(),
    };
    w.header(snaplen).map_err(io_err)?;

    // packets ≈ (flows - k * concurrency) * mean: the flows still open at the end
    // have sent only part of theirs. k = 0.75 was measured to give the requested
    // flow count within a few percent (80.9k for 80k with 30k open).
    let effective = (opts.flows as f64 - opts.concurrency as f64 * 0.75).max(1.0);
    let mean_pkts = (opts.packets as f64 / effective).max(2.0);
    let mut rng = Rng::new(opts.seed);
    let mut slots: Vec<Flow> = Vec::with_capacity(opts.concurrency as usize);
    for _ in 0..opts.concurrency {
        slots.push(new_flow(&mut rng, &mut w.stats, mean_pkts));
    }
    let start_ns = u128::from(opts.start_s) * 1_000_000_000;
    let span_ns = (opts.duration_s * 1e9) as u128;
    for i in 0..opts.packets {
        let ts_ns = start_ns + span_ns * u128::from(i) / u128::from(opts.packets);
        let slot = rng.below(slots.len() as u64) as usize;
        let done = w
            .packet(&mut rng, &mut slots[slot], ts_ns)
            .map_err(io_err)?;
        if done {
            slots[slot] = new_flow(&mut rng, &mut w.stats, mean_pkts);
        }
    }
    w.stats.flows_open_at_end = slots.iter().filter(|f| f.sent > 0).count() as u64;
    // Slots never picked were never seen on the wire.
    let unseen = slots.iter().filter(|f| f.sent == 0);
    for f in unseen {
        w.stats.flows_started -= 1;
        match f.kind {
            Kind::Tcp => w.stats.tcp_flows -= 1,
            Kind::Udp => w.stats.udp_flows -= 1,
            Kind::Icmp => w.stats.icmp_flows -= 1,
        }
    }
    w.out.flush().map_err(io_err)?;
    let file_bytes = w.out.get_ref().metadata().map_err(io_err)?.len();
    w.stats.file_bytes = file_bytes;
    Ok(w.stats)
}

fn new_flow(rng: &mut Rng, stats: &mut GenStats, mean_pkts: f64) -> Flow {
    let id = stats.flows_started;
    stats.flows_started += 1;
    let roll = rng.below(100);
    let kind = if roll < 80 {
        Kind::Tcp
    } else if roll < 96 {
        Kind::Udp
    } else {
        Kind::Icmp
    };
    // ICMP flows are short (a couple of pings); TCP and UDP share the rest of the mean.
    let long_mean = ((mean_pkts - 0.04 * 4.0) / 0.96).max(7.0);
    let total = match kind {
        Kind::Tcp => {
            stats.tcp_flows += 1;
            7 + rng.exp(long_mean - 7.0)
        }
        Kind::Udp => {
            stats.udp_flows += 1;
            1 + rng.exp(long_mean - 1.0)
        }
        Kind::Icmp => {
            stats.icmp_flows += 1;
            2 * (1 + rng.exp(1.0))
        }
    };
    let (ports, n) = match kind {
        Kind::Udp => (&UDP_SERVER_PORTS[..], UDP_SERVER_PORTS.len()),
        _ => (&TCP_SERVER_PORTS[..], TCP_SERVER_PORTS.len()),
    };
    Flow {
        kind,
        client_ip: 0x0a00_0000 | (id as u32 & 0x00ff_ffff),
        server_ip: 0xac10_0000 | (rng.below(4096) as u32), // 172.16.0.0/20
        client_port: 1024 + rng.below(64_512) as u16,
        server_port: if kind == Kind::Icmp {
            (id & 0xffff) as u16
        } else {
            ports[rng.below(n as u64) as usize]
        },
        sent: 0,
        total: u32::try_from(total).unwrap_or(u32::MAX).min(100_000),
        client_seq: rng.next_u64() as u32,
        server_seq: rng.next_u64() as u32,
    }
}

fn sum16(bytes: &[u8]) -> u32 {
    bytes
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum()
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Writer {
    fn header(&mut self, snaplen: u32) -> io::Result<()> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        self.out.write_all(&h)
    }

    /// The IMIX class (0, 1, 2) furthest below its share, for a data packet.
    fn data_class(&self) -> usize {
        let total: u64 = self.stats.imix_packets.iter().sum::<u64>() + 1;
        let mut best = 0;
        let mut best_deficit = i64::MIN;
        for (c, (weight, sent)) in IMIX_WEIGHT.iter().zip(self.stats.imix_packets).enumerate() {
            let deficit = (total * weight) as i64 - (sent * 12) as i64;
            if deficit > best_deficit {
                best = c;
                best_deficit = deficit;
            }
        }
        best
    }

    /// Emits the next packet of `f`; returns true when the flow has sent its last one.
    fn packet(&mut self, rng: &mut Rng, f: &mut Flow, ts_ns: u128) -> io::Result<bool> {
        let k = f.sent;
        f.sent += 1;
        let last = f.sent >= f.total;
        match f.kind {
            Kind::Tcp => self.tcp_packet(rng, f, k, ts_ns)?,
            Kind::Udp => {
                let from_client = k.is_multiple_of(2);
                let class = self.data_class();
                self.udp_packet(f, from_client, class, ts_ns)?;
            }
            Kind::Icmp => {
                let request = k.is_multiple_of(2);
                let class = self.data_class();
                self.icmp_packet(f, request, (k / 2) as u16, class, ts_ns)?;
            }
        }
        Ok(last)
    }

    fn tcp_packet(&mut self, rng: &mut Rng, f: &mut Flow, k: u32, ts_ns: u128) -> io::Result<()> {
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        const FIN: u8 = 0x01;
        const PSH: u8 = 0x08;
        let n = f.total;
        // Segment plan: 0 SYN, 1 SYN-ACK, 2 ACK, data..., n-3 FIN (client), n-2 FIN-ACK, n-1 ACK.
        let (from_client, flags, class) = match k {
            0 => (true, SYN, 0),
            1 => (false, SYN | ACK, 0),
            2 => (true, ACK, 0),
            k if k == n - 3 => (true, FIN | ACK, 0),
            k if k == n - 2 => (false, FIN | ACK, 0),
            k if k == n - 1 => (true, ACK, 0),
            // The first data segment is the client's request, then mostly server data.
            3 => (true, PSH | ACK, self.data_class()),
            _ => (rng.below(10) < 3, ACK, self.data_class()),
        };
        let wire = IMIX_WIRE[class] - FCS;
        let syn_opts = if flags & SYN != 0 { 4 } else { 0 };
        let payload = if class == 0 { 0 } else { wire - 54 };
        let ip_len = 40 + syn_opts + payload;
        let orig_len = (14 + ip_len).max(ETH_MIN);
        let (src, dst, sport, dport) = if from_client {
            (f.client_ip, f.server_ip, f.client_port, f.server_port)
        } else {
            (f.server_ip, f.client_ip, f.server_port, f.client_port)
        };
        let (seq, ack) = if from_client {
            (f.client_seq, f.server_seq)
        } else {
            (f.server_seq, f.client_seq)
        };
        let consumed = payload + u32::from(flags & (SYN | FIN) != 0);
        if from_client {
            f.client_seq = f.client_seq.wrapping_add(consumed);
        } else {
            f.server_seq = f.server_seq.wrapping_add(consumed);
        }
        let fr = &mut self.frame;
        eth(fr, from_client);
        ipv4(fr, ip_len as u16, 6, src, dst, k as u16);
        let t = &mut fr[34..];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        let ack = if flags & ACK != 0 { ack } else { 0 };
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = ((20 + syn_opts as u8) / 4) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&64_240u16.to_be_bytes());
        t[16..20].fill(0);
        let hdr = 20 + syn_opts as usize;
        if syn_opts != 0 {
            t[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
        }
        let tcp_len = ip_len - 20;
        // Zero payload: the checksum covers the pseudo-header and the header only.
        let sum = sum16(&fr[26..34]) + 6 + tcp_len + sum16(&fr[34..34 + hdr]);
        fr[50..52].copy_from_slice(&fold(sum).to_be_bytes());
        self.emit(ts_ns, 34 + hdr, orig_len, class)
    }

    fn udp_packet(
        &mut self,
        f: &Flow,
        from_client: bool,
        class: usize,
        ts_ns: u128,
    ) -> io::Result<()> {
        let orig_len = IMIX_WIRE[class] - FCS;
        let ip_len = orig_len - 14;
        let (src, dst, sport, dport) = if from_client {
            (f.client_ip, f.server_ip, f.client_port, f.server_port)
        } else {
            (f.server_ip, f.client_ip, f.server_port, f.client_port)
        };
        let fr = &mut self.frame;
        eth(fr, from_client);
        ipv4(fr, ip_len as u16, 17, src, dst, f.sent as u16);
        let udp_len = ip_len - 20;
        let u = &mut fr[34..42];
        u[0..2].copy_from_slice(&sport.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        u[6..8].fill(0);
        let sum = sum16(&fr[26..34]) + 17 + udp_len + sum16(&fr[34..42]);
        let c = match fold(sum) {
            0 => 0xffff,
            c => c,
        };
        fr[40..42].copy_from_slice(&c.to_be_bytes());
        self.emit(ts_ns, 42, orig_len, class)
    }

    fn icmp_packet(
        &mut self,
        f: &Flow,
        request: bool,
        seq: u16,
        class: usize,
        ts_ns: u128,
    ) -> io::Result<()> {
        let orig_len = IMIX_WIRE[class] - FCS;
        let ip_len = orig_len - 14;
        let (src, dst) = if request {
            (f.client_ip, f.server_ip)
        } else {
            (f.server_ip, f.client_ip)
        };
        let fr = &mut self.frame;
        eth(fr, request);
        ipv4(fr, ip_len as u16, 1, src, dst, seq);
        let i = &mut fr[34..42];
        i[0] = if request { 8 } else { 0 };
        i[1] = 0;
        i[2..4].fill(0);
        i[4..6].copy_from_slice(&f.server_port.to_be_bytes()); // echo id
        i[6..8].copy_from_slice(&seq.to_be_bytes());
        let sum = sum16(&fr[34..42]);
        fr[36..38].copy_from_slice(&fold(sum).to_be_bytes());
        self.emit(ts_ns, 42, orig_len, class)
    }

    /// Writes the record: headers are in `frame[..hdr_len]`, the rest of the
    /// captured part is zero payload or Ethernet padding.
    fn emit(&mut self, ts_ns: u128, hdr_len: usize, orig_len: u32, class: usize) -> io::Result<()> {
        let caplen = (orig_len as usize).min(self.snaplen);
        self.frame[hdr_len..caplen.max(hdr_len)].fill(0);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts_ns % 1_000_000_000 / 1000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&self.frame[..caplen])?;
        self.stats.packets += 1;
        self.stats.imix_packets[class] += 1;
        self.stats.wire_bytes += u64::from(orig_len);
        Ok(())
    }
}

fn eth(fr: &mut [u8], from_client: bool) {
    const CLIENT: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
    let (src, dst) = if from_client {
        (CLIENT, ROUTER)
    } else {
        (ROUTER, CLIENT)
    };
    fr[0..6].copy_from_slice(&dst);
    fr[6..12].copy_from_slice(&src);
    fr[12..14].copy_from_slice(&[0x08, 0x00]);
}

fn ipv4(fr: &mut [u8], total_len: u16, proto: u8, src: u32, dst: u32, id: u16) {
    let ip = &mut fr[14..34];
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2..4].copy_from_slice(&total_len.to_be_bytes());
    ip[4..6].copy_from_slice(&id.to_be_bytes());
    ip[6..8].copy_from_slice(&[0x40, 0]); // DF
    ip[8] = 64;
    ip[9] = proto;
    ip[10..12].fill(0);
    ip[12..16].copy_from_slice(&src.to_be_bytes());
    ip[16..20].copy_from_slice(&dst.to_be_bytes());
    let sum = fold(sum16(ip));
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// Counts the packets of a classic pcap (either byte order) by walking its
/// record headers; `None` when the file is not a classic pcap.
pub fn count_pcap_packets(path: &Path) -> io::Result<Option<u64>> {
    use std::io::{BufReader, Read};
    let mut r = BufReader::with_capacity(1 << 16, File::open(path)?);
    let mut h = [0u8; 24];
    if r.read_exact(&mut h).is_err() {
        return Ok(None);
    }
    let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let little = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => return Ok(None),
    };
    let mut n = 0;
    let mut rec = [0u8; 16];
    loop {
        match r.read_exact(&mut rec) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let b = [rec[8], rec[9], rec[10], rec[11]];
        let caplen = if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        };
        r.seek_relative(i64::from(caplen))?;
        n += 1;
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(out: PathBuf, seed: u64) -> GenOptions {
        GenOptions {
            packets: 20_000,
            flows: 2_000,
            concurrency: 500,
            duration_s: 10.0,
            seed,
            out,
            ..GenOptions::default()
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let dir = std::env::temp_dir().join(format!("ocellus-gen-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = generate(&small(dir.join("a.pcap"), 7)).unwrap();
        let b = generate(&small(dir.join("b.pcap"), 7)).unwrap();
        let c = generate(&small(dir.join("c.pcap"), 8)).unwrap();
        assert_ne!(a, c);
        assert_eq!(a, b);
        let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
        assert_eq!(read("a.pcap"), read("b.pcap"));
        assert_ne!(read("a.pcap"), read("c.pcap"));
        assert_eq!(a.packets, 20_000);
        assert_eq!(
            count_pcap_packets(&dir.join("a.pcap")).unwrap(),
            Some(20_000)
        );
        // IMIX 7:4:1 within one packet per class.
        let total = a.packets as f64;
        for (c, w) in IMIX_WEIGHT.iter().enumerate() {
            let share = a.imix_packets[c] as f64 / total;
            assert!(
                (share - *w as f64 / 12.0).abs() < 0.01,
                "class {c}: share {share}"
            );
        }
        // About the requested number of flows, TCP the majority.
        assert!((1_500..=2_600).contains(&a.flows_started), "{a:?}");
        assert!(a.tcp_flows * 10 > a.flows_started * 7, "{a:?}");
        assert!(a.flows_open_at_end <= 500);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_impossible_options() {
        let mut o = small(PathBuf::from("/nonexistent/x.pcap"), 1);
        o.concurrency = o.flows + 1;
        assert!(matches!(generate(&o), Err(GenError::Invalid(_))));
        o.concurrency = 10;
        assert!(matches!(generate(&o), Err(GenError::Io { .. })));
    }
}

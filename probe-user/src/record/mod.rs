//! Flow records: the unit the probe writes and every client reads.
//!
//! A record is one flow over one report interval, as in Argus: counters are
//! per record (deltas), and `cluster` merges them back. The binary encoding is in
//! `codec` and documented in FORMAT.md.

pub mod codec;

pub use ocellus_common::{FlowKey, KeyClass};

/// What a record describes.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum RecordKind {
    /// A flow record.
    #[default]
    Flow = 0,
    /// Probe start (Argus MAR `STA`).
    ManStart = 1,
    /// Probe stop (Argus MAR `STP`), with totals.
    ManStop = 2,
    /// Periodic probe status (Argus MAR `CON`), with drop counters.
    ManStatus = 3,
}

impl RecordKind {
    pub fn from_u8(v: u8) -> Option<RecordKind> {
        Some(match v {
            0 => RecordKind::Flow,
            1 => RecordKind::ManStart,
            2 => RecordKind::ManStop,
            3 => RecordKind::ManStatus,
            _ => return None,
        })
    }
    pub fn is_man(self) -> bool {
        self != RecordKind::Flow
    }
}

/// Why a record was written (Argus `cause`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Cause {
    /// First record of a flow.
    #[default]
    Start = 0,
    /// Later status record of a live flow.
    Status = 1,
    /// The flow closed (TCP FIN/RST handshake complete).
    Close = 2,
    /// The flow timed out idle.
    Timeout = 3,
    /// Flushed at end of input or shutdown.
    Stop = 4,
}

impl Cause {
    pub fn from_u8(v: u8) -> Option<Cause> {
        Some(match v {
            0 => Cause::Start,
            1 => Cause::Status,
            2 => Cause::Close,
            3 => Cause::Timeout,
            4 => Cause::Stop,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Cause::Start => "Start",
            Cause::Status => "Status",
            Cause::Close => "Close",
            Cause::Timeout => "Timeout",
            Cause::Stop => "Stop",
        }
    }
}

/// `FlowRecord::flags` bits.
pub mod flag {
    /// This is the flow's first record (Argus `cause == START`, drives INT vs REQ).
    pub const FIRST: u32 = 1 << 0;
    /// Several MAC address pairs were seen (Argus flgs[1] `M`).
    pub const MULTIPATH: u32 = 1 << 1;
    /// Record derived from NetFlow/IPFIX (Argus flgs[0] `N`).
    pub const NETFLOW: u32 = 1 << 2;
    /// MAC addresses are present.
    pub const HAS_MAC: u32 = 1 << 3;
    pub const HAS_SVLAN: u32 = 1 << 4;
    pub const HAS_DVLAN: u32 = 1 << 5;
    pub const HAS_SMPLS: u32 = 1 << 6;
    pub const HAS_DMPLS: u32 = 1 << 7;
    /// TCP: the record's direction is reversed relative to the SYN (Argus REVERSE; dir `<-`).
    pub const REVERSE: u32 = 1 << 8;
    /// The source/destination saw ECN-marked (CE) or ECN-capable packets.
    pub const SRC_ECN: u32 = 1 << 9;
    pub const DST_ECN: u32 = 1 << 10;
    /// A fragment of this flow was seen (Argus flgs[6] `F`).
    pub const FRAGMENTS: u32 = 1 << 11;
    /// Fragments were seen but the datagram was never completed (flgs[6] `f`).
    pub const FRAG_PARTIAL: u32 = 1 << 12;
    /// Overlapping fragments (flgs[6] `V`).
    pub const FRAG_OVERLAP: u32 = 1 << 13;
    /// Packets whose headers were cut by the snap length contributed to this record.
    pub const TRUNCATED: u32 = 1 << 14;
    /// NetFlow/IPFIX: packet and byte counters were multiplied by the
    /// exporter's sampling rate (1 in N).
    pub const SAMPLED: u32 = 1 << 15;
}

/// TCP state bits, `TcpPerf::state` (Argus ARGUS_SAW_SYN etc.).
pub mod tcpstate {
    pub const SAW_SYN: u32 = 1 << 0;
    pub const SAW_SYN_SENT: u32 = 1 << 1; // SYN retransmitted
    pub const SAW_SYNACK: u32 = 1 << 2;
    pub const ESTABLISHED: u32 = 1 << 3;
    pub const FIN_SRC: u32 = 1 << 4;
    pub const FIN_DST: u32 = 1 << 5;
    pub const FIN_ACKED: u32 = 1 << 6;
    pub const RESET: u32 = 1 << 7;
    pub const CLOSED: u32 = 1 << 8;
    pub const SRC_WINSHUT: u32 = 1 << 9;
    pub const DST_WINSHUT: u32 = 1 << 10;
    pub const SRC_PKTS_RETRANS: u32 = 1 << 11;
    pub const DST_PKTS_RETRANS: u32 = 1 << 12;
    pub const SRC_OUTOFORDER: u32 = 1 << 13;
    pub const DST_OUTOFORDER: u32 = 1 << 14;
    pub const SRC_GAP: u32 = 1 << 15;
    pub const DST_GAP: u32 = 1 << 16;
    /// The flow was picked up mid-stream (no SYN or SYN-ACK seen).
    pub const MIDSTREAM: u32 = 1 << 17;
}

/// Per-direction statistics of one record.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DirStats {
    pub pkts: u64,
    /// Wire bytes (frame length, L2 header included, FCS excluded).
    pub bytes: u64,
    /// Transport payload bytes from the IP length fields.
    pub appbytes: u64,
    /// First and last packet time of this direction in this record (0 if none).
    pub stime_ns: u64,
    pub ltime_ns: u64,
    /// Last TTL / hop limit and TOS / traffic class seen.
    pub ttl: u8,
    pub tos: u8,
    /// Last IP id seen.
    pub ipid: u16,
    /// Smallest and largest frame (wire length).
    pub min_sz: u32,
    pub max_sz: u32,
    /// Inter-packet intervals: count, sum and sum of squares (microseconds).
    pub intpkt_n: u32,
    pub intpkt_sum_us: f64,
    pub intpkt_sumsq_us: f64,
    pub intpkt_min_us: f64,
    pub intpkt_max_us: f64,
}

/// TCP performance data of one record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpPerf {
    /// `tcpstate::*` bits.
    pub state: u32,
    /// The state history letters seen (for `-z`): bits in the order `s S E f F C R`.
    pub history: u8,
    /// Cumulative TCP flags per side (for `-Z`).
    pub src_flags: u8,
    pub dst_flags: u8,
    /// Base sequence numbers (ISN, or first seq - 1 when picked up mid-stream).
    pub src_base_seq: u32,
    pub dst_base_seq: u32,
    /// Last advertised window per side, scaled when window scaling was negotiated.
    pub src_win: u32,
    pub dst_win: u32,
    /// `packet::tcpopt` bits seen on either side's SYN, plus ECN bits.
    pub options: u16,
    /// SYN to SYN-ACK and SYN-ACK to ACK, microseconds.
    pub synack_us: u32,
    pub ackdat_us: u32,
    /// Retransmitted segments per side (Argus sloss/dloss for TCP).
    pub src_retrans: u32,
    pub dst_retrans: u32,
    /// Out-of-order segments per side.
    pub src_ooo: u32,
    pub dst_ooo: u32,
    /// Bytes missing from the sequence space per side.
    pub src_gap_bytes: u32,
    pub dst_gap_bytes: u32,
    /// Highest sequence number seen per side.
    pub src_max_seq: u32,
    pub dst_max_seq: u32,
}

/// One flow over one report interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowRecord {
    pub kind: RecordKind,
    pub cause: Cause,
    /// Sequence number assigned by the probe, increasing per probe run.
    pub seq: u64,
    /// Probe (source) id.
    pub srcid: u32,
    /// Oriented key: `src` is the initiator.
    pub key: FlowKey,
    /// First and last packet time in this record (ns since the epoch).
    pub stime_ns: u64,
    pub ltime_ns: u64,
    /// `packet::encaps` bits seen on this flow's packets.
    pub encaps: u32,
    /// `flag::*` bits.
    pub flags: u32,
    /// ICMP error mapped onto this flow: b'U' unreachable, b'R' redirect,
    /// b'T' time exceeded, b'I' other; 0 for none.
    pub icmp_mapped: u8,
    /// `packet::ipopt` bits seen.
    pub ip_options: u16,
    pub src: DirStats,
    pub dst: DirStats,
    /// Present for TCP flows.
    pub tcp: Option<TcpPerf>,
    pub smac: [u8; 6],
    pub dmac: [u8; 6],
    /// VLAN TCI per direction.
    pub svlan: u16,
    pub dvlan: u16,
    /// Top MPLS label per direction.
    pub smpls: u32,
    pub dmpls: u32,
    /// The first bytes of transport payload each way (`-U N`).
    pub suser: Vec<u8>,
    pub duser: Vec<u8>,
    /// For management records: totals of the run (packets, bytes, flows, drops).
    /// Boxed: flow records, the many, do not carry it.
    pub man: Option<Box<ManInfo>>,
}

/// Probe totals carried by management records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ManInfo {
    pub pkts: u64,
    pub bytes: u64,
    pub flows: u64,
    pub records: u64,
    pub malformed: u64,
    pub dropped: u64,
    /// Drops by stage, carried by the live probe's status and stop records
    /// (`None` in replay and in records written before it existed).
    pub drops: Option<ManDrops>,
}

/// Where a live probe lost frames, and how close it came to losing more.
/// Counters are totals since the probe started; `flows_active` is a gauge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ManDrops {
    /// XDP: frames the program could not redirect to a socket.
    pub redirect_failed: u64,
    /// libpcap: frames the kernel dropped (buffer full) / the interface dropped.
    pub pcap_dropped: u64,
    pub pcap_if_dropped: u64,
    /// AF_XDP `XDP_STATISTICS`: dropped for other reasons, RX ring full,
    /// fill ring empty, invalid descriptors.
    pub xsk_rx_dropped: u64,
    pub xsk_ring_full: u64,
    pub xsk_fill_empty: u64,
    pub xsk_invalid: u64,
    /// Flow-table pressure: flows in the table when the record was made.
    pub flows_active: u64,
    /// Writer backpressure: times a capture worker found the record writer's
    /// queue full and had to wait.
    pub writer_stalls: u64,
}

impl ManDrops {
    /// Frames lost: every counter except the gauge and the stalls (a stall
    /// delays, it does not lose).
    pub fn lost(&self) -> u64 {
        self.redirect_failed
            + self.pcap_dropped
            + self.pcap_if_dropped
            + self.xsk_rx_dropped
            + self.xsk_ring_full
            + self.xsk_invalid
    }
}

impl FlowRecord {
    pub fn pkts(&self) -> u64 {
        self.src.pkts + self.dst.pkts
    }
    pub fn bytes(&self) -> u64 {
        self.src.bytes + self.dst.bytes
    }
    pub fn appbytes(&self) -> u64 {
        self.src.appbytes + self.dst.appbytes
    }
    pub fn dur_ns(&self) -> u64 {
        self.ltime_ns.saturating_sub(self.stime_ns)
    }
}

/// ECN bits kept in `TcpPerf::options` beside the `packet::tcpopt` bits
/// (Argus `tcpopt` letters `S` (src ECN) and `D` (dst ECN)).
pub mod tcpopt_ecn {
    pub const SRC: u16 = 1 << 10;
    pub const DST: u16 = 1 << 11;
}

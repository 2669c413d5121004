//! Packet parsing: link layer to L4, for every capture source.
//!
//! One parser serves live capture and file replay, so a replay and a live capture
//! of the same traffic give the same flows. `parse` fills a caller-owned
//! [`PacketInfo`] (no allocation) from a frame's captured bytes. It never panics:
//! a frame cut short or with nonsense in a header yields what could be parsed plus
//! a [`Malformed`] reason, which the flow engine counts.
#![deny(unsafe_code)]

mod parse;
pub use parse::parse;

/// Link-layer header types (pcap LINKTYPE_ values) the parser understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// OpenBSD's DLT_RAW value as found in some captures.
    pub const RAW_OPENBSD: LinkType = LinkType(14);
    pub const RAW_ALT: LinkType = LinkType(12);
}

/// Encapsulation bits (Argus's flgs[1] letters, plus what we decapsulate beyond Argus).
pub mod encaps {
    pub const ETHER: u32 = 1 << 0; // e
    pub const VLAN: u32 = 1 << 1; // v (802.1Q, 802.1ad, 0x9100)
    pub const MPLS: u32 = 1 << 2; // m
    pub const LLC: u32 = 1 << 3; // l
    pub const PPPOE: u32 = 1 << 4; // p
    pub const GRE: u32 = 1 << 5; // G
    pub const IPIP: u32 = 1 << 6; // P (IPv4-in-IP, decapsulated by ocellus, not Argus)
    pub const IP6IN4: u32 = 1 << 7; // 6 (decapsulated by ocellus, not Argus)
    pub const VXLAN: u32 = 1 << 8; // (no Argus letter; shown as part of '*')
    pub const SLL: u32 = 1 << 9; // S
    pub const NULL: u32 = 1 << 10; // (BSD loopback)
    pub const RAW: u32 = 1 << 11; // (raw IP link)
    pub const QINQ: u32 = 1 << 12; // second VLAN tag
    pub const PPP: u32 = 1 << 13; // p (PPP link type)
    pub const CHDLC: u32 = 1 << 14; // C (Cisco HDLC link type)
    /// Every bit above.
    pub const ALL: u32 = ETHER
        | VLAN
        | MPLS
        | LLC
        | PPPOE
        | GRE
        | IPIP
        | IP6IN4
        | VXLAN
        | SLL
        | NULL
        | RAW
        | QINQ
        | PPP
        | CHDLC;
}

/// What the network layer of a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Net {
    /// Nothing usable (frame too short for its link header, unknown link type).
    #[default]
    None,
    Ipv4,
    Ipv6,
    /// ARP (ethertype 0x0806) with `arp` filled.
    Arp,
    /// RARP (0x8035) with `arp` filled.
    Rarp,
    /// Any other Ethernet II ethertype (in `PacketInfo::ethertype`).
    Ether,
    /// 802.3 length field with an LLC header (`llc_dsap`, `llc_ssap`).
    Llc,
}

/// Why a frame could not be fully parsed. Counted per reason by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Malformed {
    #[default]
    None = 0,
    /// The captured bytes end before the link-layer header does.
    TruncatedLink,
    /// The captured bytes end inside an IPv4/IPv6 header or its extension headers.
    TruncatedIp,
    /// The captured bytes end inside the transport header (L3 still usable).
    TruncatedL4,
    /// A header field is impossible (IPv4 IHL < 5, total length < header, version mismatch).
    BadIpHeader,
    /// A transport header field is impossible (TCP data offset < 5).
    BadL4Header,
    /// The link type is not one the parser knows.
    UnknownLinkType,
    /// Encapsulations nested deeper than the parser follows.
    TooDeep,
}

impl Malformed {
    pub const ALL: [Malformed; 7] = [
        Malformed::TruncatedLink,
        Malformed::TruncatedIp,
        Malformed::TruncatedL4,
        Malformed::BadIpHeader,
        Malformed::BadL4Header,
        Malformed::UnknownLinkType,
        Malformed::TooDeep,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Malformed::None => "none",
            Malformed::TruncatedLink => "truncated_link",
            Malformed::TruncatedIp => "truncated_ip",
            Malformed::TruncatedL4 => "truncated_l4",
            Malformed::BadIpHeader => "bad_ip_header",
            Malformed::BadL4Header => "bad_l4_header",
            Malformed::UnknownLinkType => "unknown_link_type",
            Malformed::TooDeep => "too_deep",
        }
    }
}

/// The transport header fields the flow engine uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    pub seq: u32,
    pub ack: u32,
    /// FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80.
    pub flags: u8,
    pub window: u16,
    /// Option bits, see `tcpopt`.
    pub options: u16,
    pub mss: u16,
    /// Window scale shift from the option, or 0xff when absent.
    pub wscale: u8,
    /// The TCP header length in bytes (data offset * 4).
    pub header_len: u8,
}

/// TCP option bits (Argus `tcpopt` letters `M w s S e E T c N O`).
pub mod tcpopt {
    pub const MSS: u16 = 1 << 0;
    pub const WSCALE: u16 = 1 << 1;
    pub const SACK_OK: u16 = 1 << 2;
    pub const SACK: u16 = 1 << 3;
    pub const ECHO: u16 = 1 << 4;
    pub const ECHO_REPLY: u16 = 1 << 5;
    pub const TIMESTAMP: u16 = 1 << 6;
    pub const CC: u16 = 1 << 7;
    pub const CC_NEW: u16 = 1 << 8;
    pub const CC_ECHO: u16 = 1 << 9;
}

pub mod tcpflag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// The flow an ICMP error quotes (its embedded IP header and first L4 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quoted {
    pub valid: bool,
    pub v6: bool,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub proto: u8,
    /// Ports (TCP/UDP/SCTP); for a quoted ICMP message, type << 8 | code and the echo id.
    pub sport: u16,
    pub dport: u16,
    /// For a quoted ICMP echo: its sequence number.
    pub seq: u16,
    /// For a quoted IPv4 UDP packet to or from port 53: the DNS transaction id.
    pub dns_txid: Option<u16>,
}

/// IPv4/IPv6 fragment information.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragInfo {
    /// The packet is a fragment (offset != 0 or more-fragments set).
    pub is_fragment: bool,
    /// Fragment offset in bytes.
    pub offset: u32,
    pub more: bool,
    /// The identification field (IPv4 16 bits, IPv6 32 bits).
    pub id: u32,
}

/// ARP/RARP fields (Ethernet/IPv4 ARP only; others leave `valid` false).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArpInfo {
    pub valid: bool,
    pub op: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: [u8; 4],
    pub target_mac: [u8; 6],
    pub target_ip: [u8; 4],
}

/// IP option bits (Argus flgs[7]).
pub mod ipopt {
    pub const SSRR: u16 = 1 << 0;
    pub const LSRR: u16 = 1 << 1;
    pub const TIMESTAMP: u16 = 1 << 2;
    pub const SECURITY: u16 = 1 << 3;
    pub const RR: u16 = 1 << 4;
    pub const ROUTER_ALERT: u16 = 1 << 5;
    pub const SATID: u16 = 1 << 6;
    pub const UNKNOWN: u16 = 1 << 7;
}

/// Everything the flow engine needs from one frame. Plain `Copy` data, filled in
/// place by [`parse`]; the caller reuses one value per packet slot.
///
/// The fields the flow engine reads for every packet come first, up to
/// [`PacketInfo::HOT_LEN`] bytes; the rest (addresses and ports, which the
/// key repeats, ARP, ICMP and LLC details) are read only when keying, or for
/// the packets [`PacketInfo::needs_cold`] names. The replay's reader copies
/// only the first part of the other packets into the batch it hands a
/// worker: about three cache lines of a batch item cross between cores
/// instead of six.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct PacketInfo {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length of the frame on the wire (pcap orig_len): what Argus counts as bytes.
    pub wire_len: u32,
    /// Transport payload length from the IP length fields (Argus appbytes).
    pub app_len: u32,
    /// `encaps::*` bits of every layer seen, outermost first.
    pub encaps: u32,
    /// Top MPLS label (20 bits).
    pub mpls_label: u32,
    pub ip_id: u32,
    pub malformed: Malformed,
    pub net: Net,
    /// The transport protocol (IPv6: after the extension headers).
    pub proto: u8,
    pub ttl: u8,
    pub tos: u8,
    pub has_mac: bool,
    pub has_vlan: bool,
    pub has_mpls: bool,
    /// The transport header is present and fully captured.
    pub has_l4: bool,
    pub icmp_type: u8,
    /// Outermost VLAN TCI (priority, DEI, id).
    pub vlan_tci: u16,
    pub ip_options: u16,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub tcp: TcpInfo,
    pub frag: FragInfo,

    // Read only when keying, or for the packets `needs_cold` names.
    /// Bytes actually captured.
    pub cap_len: u32,
    /// Transport header plus payload length, from the IP header's length fields
    /// (not the captured length): IPv4 total length - IHL*4, IPv6 payload length
    /// minus extension headers.
    pub l4_len: u32,
    /// The ethertype that carried `net` (0 for raw/null links with no ethertype).
    pub ethertype: u16,
    pub llc_dsap: u8,
    pub llc_ssap: u8,
    pub arp: ArpInfo,
    /// IP addresses (IPv4 in bytes 0..4) of the innermost IP header that carries
    /// the flow (after decapsulation).
    pub src_ip: [u8; 16],
    pub dst_ip: [u8; 16],
    /// Ports (TCP, UDP, SCTP); 0 otherwise.
    pub sport: u16,
    pub dport: u16,
    pub icmp_code: u8,
    /// ICMP/ICMPv6 echo identifier and sequence.
    pub icmp_id: u16,
    pub icmp_seq: u16,
    /// For ICMP errors: the flow quoted in the error.
    pub quoted: Quoted,
    /// IPv4 UDP port 53 with at least 2 payload bytes: the DNS transaction id.
    pub has_dns_txid: bool,
    pub dns_txid: u16,
    /// ESP security parameter index.
    pub esp_spi: u32,
    /// Offset of the transport payload in the captured bytes, and how many of
    /// its bytes were captured (for `-U` user data).
    pub payload_off: u32,
    pub payload_caplen: u32,
}

// The hot part stays within a cache line and a half (a batch item holds it
// after the key: see `flow::pipeline::Item`).
const _: () = assert!(PacketInfo::HOT_LEN <= 96);

impl PacketInfo {
    /// The bytes at the start of the struct that hold every field the flow
    /// engine reads for a packet that does not [`need the rest`](Self::needs_cold).
    pub const HOT_LEN: usize = core::mem::offset_of!(PacketInfo, cap_len);

    pub fn is_ip(&self) -> bool {
        matches!(self.net, Net::Ipv4 | Net::Ipv6)
    }

    /// Sets `self` to [`PacketInfo::default()`], as zero bytes written in
    /// place: the default value built and assigned went through a call to
    /// `memcpy` for every packet (29 instructions a packet, callgrind).
    ///
    /// The parser's one use of `unsafe`, which touches no packet bytes.
    #[inline]
    #[allow(unsafe_code)]
    pub fn reset(&mut self) {
        let p: *mut PacketInfo = self;
        // SAFETY: every field of `PacketInfo`, and of the structs in it, is
        // an integer, a bool, an array of them or a `repr(u8)` enum whose
        // default variant is 0, so zero bytes are each one's default value.
        // The one exception, `quoted.dns_txid` (an `Option`, whose layout
        // is not specified), is then written through the raw pointer,
        // before `self` is used again.
        unsafe {
            std::ptr::write_bytes(p, 0, 1);
            std::ptr::addr_of_mut!((*p).quoted.dns_txid).write(None);
        }
    }

    /// Whether applying this packet reads fields after [`Self::HOT_LEN`]:
    /// not IP (ARP replies are told by `arp`), a fragment (keyed by its
    /// addresses until matched), ICMP (errors map onto the flow they quote).
    #[inline]
    pub fn needs_cold(&self) -> bool {
        !self.is_ip()
            || self.frag.is_fragment
            || matches!(
                self.proto,
                ocellus_common::ipproto::ICMP | ocellus_common::ipproto::ICMPV6
            )
    }
}

//! Crafted captures: a small frame builder and a classic pcap writer.
//!
//! Tests build the exact packets a case needs at test time, so no binary
//! capture is committed. A frame is a stack of layers, outermost first; the
//! builder fills in what follows from the stack (EtherTypes, IP protocol
//! numbers, lengths, checksums) when [`Frame::build`] serializes it.
//!
//! ```
//! use ocellus_tests::craft::{Frame, SYN, mac};
//! let frame = Frame::eth(mac(1), mac(2))
//!     .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
//!     .tcp(40000, 80)
//!     .flags(SYN)
//!     .seq(100)
//!     .mss(1460)
//!     .build();
//! assert_eq!(frame.len(), 14 + 20 + 24);
//! ```
//!
//! Builder misuse (for example `.seq()` on a frame with no TCP layer) panics
//! with a message naming the call: this is test support, and a wrong test
//! should stop loudly.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// A locally administered unicast MAC `02:00:00:00:00:nn`.
pub const fn mac(n: u8) -> Mac {
    [0x02, 0, 0, 0, 0, n]
}

/// TCP flag bits, to be OR-ed: `SYN | ACK`.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

/// EtherTypes the builder knows.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const LLDP: u16 = 0x88cc;
    /// Transparent Ethernet bridging (Ethernet inside GRE).
    pub const TEB: u16 = 0x6558;
}

/// IP protocol numbers the builder knows.
pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const IPV6_ROUTING: u8 = 43;
    pub const IPV6_FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NONXT: u8 = 59;
    pub const IPV6_DSTOPTS: u8 = 60;
    pub const IPV6_HOPOPTS: u8 = 0;
    pub const SCTP: u8 = 132;
}

/// A TCP option as written on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOpt {
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    Timestamps { tsval: u32, tsecr: u32 },
    Nop,
}

/// An IPv6 extension header placed between the IPv6 header and the upper layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ipv6Ext {
    /// Hop-by-hop options, padded with PadN to a multiple of 8 bytes.
    HopByHop,
    /// Destination options, padded with PadN.
    DestOpts,
    /// Type 0 routing header with no addresses and segments left 0.
    Routing,
    /// Fragment header: offset in bytes (a multiple of 8), more-fragments flag, identification.
    Fragment { offset: u16, more: bool, id: u32 },
}

impl Ipv6Ext {
    fn proto(&self) -> u8 {
        match self {
            Ipv6Ext::HopByHop => ipproto::IPV6_HOPOPTS,
            Ipv6Ext::DestOpts => ipproto::IPV6_DSTOPTS,
            Ipv6Ext::Routing => ipproto::IPV6_ROUTING,
            Ipv6Ext::Fragment { .. } => ipproto::IPV6_FRAGMENT,
        }
    }

    fn encode(&self, next: u8, out: &mut Vec<u8>) {
        match self {
            // 2 bytes of header then a PadN option filling up to 8 bytes.
            Ipv6Ext::HopByHop | Ipv6Ext::DestOpts => {
                out.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0])
            }
            Ipv6Ext::Routing => out.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 0]),
            Ipv6Ext::Fragment { offset, more, id } => {
                out.extend_from_slice(&[next, 0]);
                out.extend_from_slice(&((offset & !7) | u16::from(*more)).to_be_bytes());
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Ipv4Hdr {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    tos: u8,
    id: u16,
    dont_fragment: bool,
    more_fragments: bool,
    frag_offset_bytes: u16,
    ttl: u8,
    proto: Option<u8>,
    options: Vec<u8>,
}

#[derive(Clone, Debug)]
struct Ipv6Hdr {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    traffic_class: u8,
    flow_label: u32,
    hop_limit: u8,
    next: Option<u8>,
    ext: Vec<Ipv6Ext>,
}

#[derive(Clone, Debug)]
struct TcpHdr {
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urgent: u16,
    options: Vec<TcpOpt>,
}

#[derive(Clone, Debug)]
enum Layer {
    Eth {
        src: Mac,
        dst: Mac,
        ethertype: Option<u16>,
    },
    Vlan {
        tpid: u16,
        pcp: u8,
        vid: u16,
        ethertype: Option<u16>,
    },
    Mpls {
        label: u32,
        tc: u8,
        ttl: u8,
    },
    Pppoe {
        session: u16,
    },
    Llc {
        dsap: u8,
        ssap: u8,
        control: u8,
    },
    Arp {
        op: u16,
        sha: Mac,
        spa: Ipv4Addr,
        tha: Mac,
        tpa: Ipv4Addr,
    },
    Ipv4(Ipv4Hdr),
    Ipv6(Ipv6Hdr),
    Tcp(TcpHdr),
    Udp {
        sport: u16,
        dport: u16,
    },
    Icmp {
        ty: u8,
        code: u8,
        rest: [u8; 4],
    },
    Icmpv6 {
        ty: u8,
        code: u8,
        rest: [u8; 4],
    },
    Gre {
        proto: Option<u16>,
    },
    Vxlan {
        vni: u32,
    },
    Sctp {
        sport: u16,
        dport: u16,
        vtag: u32,
    },
    Esp {
        spi: u32,
        seq: u32,
    },
    Igmp {
        head: [u8; 8],
    },
}

impl Layer {
    /// The EtherType announcing this layer, when it sits right after an L2 header.
    fn ethertype(&self) -> Option<u16> {
        match self {
            Layer::Vlan { tpid, .. } => Some(*tpid),
            Layer::Mpls { .. } => Some(ethertype::MPLS),
            Layer::Pppoe { .. } => Some(ethertype::PPPOE_SESSION),
            Layer::Arp { .. } => Some(ethertype::ARP),
            Layer::Ipv4(_) => Some(ethertype::IPV4),
            Layer::Ipv6(_) => Some(ethertype::IPV6),
            Layer::Eth { .. } => Some(ethertype::TEB),
            _ => None,
        }
    }

    /// The IP protocol number announcing this layer.
    fn ip_proto(&self) -> Option<u8> {
        match self {
            Layer::Ipv4(_) => Some(ipproto::IPIP),
            Layer::Ipv6(_) => Some(ipproto::IPV6),
            Layer::Tcp(_) => Some(ipproto::TCP),
            Layer::Udp { .. } => Some(ipproto::UDP),
            Layer::Icmp { .. } => Some(ipproto::ICMP),
            Layer::Icmpv6 { .. } => Some(ipproto::ICMPV6),
            Layer::Gre { .. } => Some(ipproto::GRE),
            Layer::Sctp { .. } => Some(ipproto::SCTP),
            Layer::Esp { .. } => Some(ipproto::ESP),
            Layer::Igmp { .. } => Some(ipproto::IGMP),
            _ => None,
        }
    }
}

/// A frame under construction: layers outermost first, then a payload.
#[derive(Clone, Debug)]
pub struct Frame {
    layers: Vec<Layer>,
    payload: Vec<u8>,
}

impl Frame {
    /// Starts an Ethernet II frame. The EtherType follows from the next layer
    /// (or [`Frame::ethertype`]); an [`Frame::llc`] layer makes it an 802.3 length.
    pub fn eth(src: Mac, dst: Mac) -> Frame {
        Frame {
            layers: vec![Layer::Eth {
                src,
                dst,
                ethertype: None,
            }],
            payload: Vec::new(),
        }
    }

    /// Starts a bare IPv4 packet (no link layer), e.g. to quote inside ICMP or for raw-IP captures.
    pub fn bare_ipv4(src: impl Into<Ipv4Addr>, dst: impl Into<Ipv4Addr>) -> Frame {
        Frame {
            layers: Vec::new(),
            payload: Vec::new(),
        }
        .ipv4(src, dst)
    }

    /// Starts a bare IPv6 packet (no link layer).
    pub fn bare_ipv6(src: impl Into<Ipv6Addr>, dst: impl Into<Ipv6Addr>) -> Frame {
        Frame {
            layers: Vec::new(),
            payload: Vec::new(),
        }
        .ipv6(src, dst)
    }

    fn push(mut self, layer: Layer) -> Frame {
        self.layers.push(layer);
        self
    }

    fn last_mut<T>(&mut self, call: &str, pick: impl Fn(&mut Layer) -> Option<&mut T>) -> &mut T {
        let found = (0..self.layers.len())
            .rev()
            .find(|&i| pick(&mut self.layers[i]).is_some());
        let Some(i) = found else {
            panic!("craft: {call} has no matching layer in {:?}", self.layers)
        };
        match pick(&mut self.layers[i]) {
            Some(layer) => layer,
            None => unreachable!("pick matched layer {i} a moment ago"),
        }
    }

    // ---- link layer ----

    /// Adds an inner Ethernet header (inside GRE or VXLAN).
    pub fn inner_eth(self, src: Mac, dst: Mac) -> Frame {
        self.push(Layer::Eth {
            src,
            dst,
            ethertype: None,
        })
    }

    /// Adds an 802.1Q tag.
    pub fn vlan(self, vid: u16) -> Frame {
        self.push(Layer::Vlan {
            tpid: ethertype::VLAN,
            pcp: 0,
            vid,
            ethertype: None,
        })
    }

    /// Adds an 802.1ad outer tag (0x88a8) then an 802.1Q inner tag.
    pub fn qinq(self, outer_vid: u16, inner_vid: u16) -> Frame {
        self.push(Layer::Vlan {
            tpid: ethertype::QINQ,
            pcp: 0,
            vid: outer_vid,
            ethertype: None,
        })
        .vlan(inner_vid)
    }

    /// Sets the priority (PCP) of the last VLAN tag.
    pub fn vlan_pcp(mut self, pcp: u8) -> Frame {
        *self.last_mut("vlan_pcp()", |l| match l {
            Layer::Vlan { pcp, .. } => Some(pcp),
            _ => None,
        }) = pcp & 7;
        self
    }

    /// Adds one MPLS label; several calls make a stack (bottom-of-stack is set on the last).
    pub fn mpls(self, label: u32) -> Frame {
        self.push(Layer::Mpls {
            label: label & 0xf_ffff,
            tc: 0,
            ttl: 64,
        })
    }

    /// Adds a PPPoE session header and the PPP protocol field.
    pub fn pppoe(self, session: u16) -> Frame {
        self.push(Layer::Pppoe { session })
    }

    /// Adds an 802.2 LLC header (the Ethernet header then carries a length).
    pub fn llc(self, dsap: u8, ssap: u8, control: u8) -> Frame {
        self.push(Layer::Llc {
            dsap,
            ssap,
            control,
        })
    }

    /// Sets the EtherType of the last Ethernet header or VLAN tag, for a raw payload.
    pub fn ethertype(mut self, value: u16) -> Frame {
        *self.last_mut("ethertype()", |l| match l {
            Layer::Eth { ethertype, .. } | Layer::Vlan { ethertype, .. } => Some(ethertype),
            _ => None,
        }) = Some(value);
        self
    }

    /// Adds an ARP request (`who has tpa tell spa`).
    pub fn arp_request(
        self,
        sha: Mac,
        spa: impl Into<Ipv4Addr>,
        tpa: impl Into<Ipv4Addr>,
    ) -> Frame {
        self.push(Layer::Arp {
            op: 1,
            sha,
            spa: spa.into(),
            tha: [0; 6],
            tpa: tpa.into(),
        })
    }

    /// Adds an ARP reply (`spa is at sha`, to tha/tpa).
    pub fn arp_reply(
        self,
        sha: Mac,
        spa: impl Into<Ipv4Addr>,
        tha: Mac,
        tpa: impl Into<Ipv4Addr>,
    ) -> Frame {
        self.push(Layer::Arp {
            op: 2,
            sha,
            spa: spa.into(),
            tha,
            tpa: tpa.into(),
        })
    }

    // ---- network layer ----

    /// Adds an IPv4 header (TTL 64, id 1, DF clear). Protocol, lengths and checksum are filled in.
    pub fn ipv4(self, src: impl Into<Ipv4Addr>, dst: impl Into<Ipv4Addr>) -> Frame {
        self.push(Layer::Ipv4(Ipv4Hdr {
            src: src.into(),
            dst: dst.into(),
            tos: 0,
            id: 1,
            dont_fragment: false,
            more_fragments: false,
            frag_offset_bytes: 0,
            ttl: 64,
            proto: None,
            options: Vec::new(),
        }))
    }

    fn ip4(&mut self, call: &str) -> &mut Ipv4Hdr {
        self.last_mut(call, |l| match l {
            Layer::Ipv4(h) => Some(h),
            _ => None,
        })
    }

    /// Sets the IPv4 identification of the last IPv4 header.
    pub fn ip_id(mut self, id: u16) -> Frame {
        self.ip4("ip_id()").id = id;
        self
    }

    /// Sets the TTL (IPv4) or hop limit (IPv6) of the last IP header.
    pub fn ttl(mut self, ttl: u8) -> Frame {
        let hdr = self.last_mut("ttl()", |l| match l {
            Layer::Ipv4(h) => Some(&mut h.ttl),
            Layer::Ipv6(h) => Some(&mut h.hop_limit),
            _ => None,
        });
        *hdr = ttl;
        self
    }

    /// Sets the TOS (IPv4) or traffic class (IPv6) byte, DSCP and ECN together.
    pub fn tos(mut self, tos: u8) -> Frame {
        let hdr = self.last_mut("tos()", |l| match l {
            Layer::Ipv4(h) => Some(&mut h.tos),
            Layer::Ipv6(h) => Some(&mut h.traffic_class),
            _ => None,
        });
        *hdr = tos;
        self
    }

    /// Sets the don't-fragment bit.
    pub fn dont_fragment(mut self) -> Frame {
        self.ip4("dont_fragment()").dont_fragment = true;
        self
    }

    /// Makes the last IPv4 header a fragment: offset in bytes (multiple of 8) and the MF bit.
    pub fn fragment(mut self, offset_bytes: u16, more_fragments: bool) -> Frame {
        let h = self.ip4("fragment()");
        h.frag_offset_bytes = offset_bytes & !7;
        h.more_fragments = more_fragments;
        self
    }

    /// Sets the IPv4 options bytes (padded with EOL to a multiple of 4).
    pub fn ip_options(mut self, options: &[u8]) -> Frame {
        let h = self.ip4("ip_options()");
        h.options = options.to_vec();
        while !h.options.len().is_multiple_of(4) {
            h.options.push(0);
        }
        self
    }

    /// Sets the IP protocol / IPv6 next header explicitly (for a raw payload).
    pub fn ip_proto(mut self, proto: u8) -> Frame {
        let hdr = self.last_mut("ip_proto()", |l| match l {
            Layer::Ipv4(h) => Some(&mut h.proto),
            Layer::Ipv6(h) => Some(&mut h.next),
            _ => None,
        });
        *hdr = Some(proto);
        self
    }

    /// Adds an IPv6 header (hop limit 64).
    pub fn ipv6(self, src: impl Into<Ipv6Addr>, dst: impl Into<Ipv6Addr>) -> Frame {
        self.push(Layer::Ipv6(Ipv6Hdr {
            src: src.into(),
            dst: dst.into(),
            traffic_class: 0,
            flow_label: 0,
            hop_limit: 64,
            next: None,
            ext: Vec::new(),
        }))
    }

    /// Appends an extension header to the last IPv6 header.
    pub fn ipv6_ext(mut self, ext: Ipv6Ext) -> Frame {
        self.last_mut("ipv6_ext()", |l| match l {
            Layer::Ipv6(h) => Some(&mut h.ext),
            _ => None,
        })
        .push(ext);
        self
    }

    /// Sets the IPv6 flow label.
    pub fn flow_label(mut self, label: u32) -> Frame {
        *self.last_mut("flow_label()", |l| match l {
            Layer::Ipv6(h) => Some(&mut h.flow_label),
            _ => None,
        }) = label & 0xf_ffff;
        self
    }

    /// Adds a GRE header (version 0, no options); the protocol type follows from the next layer.
    pub fn gre(self) -> Frame {
        self.push(Layer::Gre { proto: None })
    }

    // ---- transport layer ----

    /// Adds a TCP header (flags ACK, window 65535, seq/ack 0). Offset and checksum are filled in.
    pub fn tcp(self, sport: u16, dport: u16) -> Frame {
        self.push(Layer::Tcp(TcpHdr {
            sport,
            dport,
            seq: 0,
            ack: 0,
            flags: ACK,
            window: 65535,
            urgent: 0,
            options: Vec::new(),
        }))
    }

    fn tcph(&mut self, call: &str) -> &mut TcpHdr {
        self.last_mut(call, |l| match l {
            Layer::Tcp(h) => Some(h),
            _ => None,
        })
    }

    /// Sets the TCP flags (replacing the default ACK).
    pub fn flags(mut self, flags: u8) -> Frame {
        self.tcph("flags()").flags = flags;
        self
    }

    /// Sets the TCP sequence number.
    pub fn seq(mut self, seq: u32) -> Frame {
        self.tcph("seq()").seq = seq;
        self
    }

    /// Sets the TCP acknowledgement number.
    pub fn ack(mut self, ack: u32) -> Frame {
        self.tcph("ack()").ack = ack;
        self
    }

    /// Sets the TCP window field (unscaled, as on the wire).
    pub fn window(mut self, window: u16) -> Frame {
        self.tcph("window()").window = window;
        self
    }

    /// Sets the TCP urgent pointer.
    pub fn urgent(mut self, pointer: u16) -> Frame {
        self.tcph("urgent()").urgent = pointer;
        self
    }

    /// Appends a TCP option; the header is padded with NOPs/EOL to a multiple of 4.
    pub fn tcp_option(mut self, opt: TcpOpt) -> Frame {
        self.tcph("tcp_option()").options.push(opt);
        self
    }

    /// Appends the MSS option.
    pub fn mss(self, mss: u16) -> Frame {
        self.tcp_option(TcpOpt::Mss(mss))
    }

    /// Appends the window-scale option.
    pub fn wscale(self, shift: u8) -> Frame {
        self.tcp_option(TcpOpt::WindowScale(shift))
    }

    /// Appends the SACK-permitted option.
    pub fn sack_ok(self) -> Frame {
        self.tcp_option(TcpOpt::SackPermitted)
    }

    /// Appends the timestamps option.
    pub fn timestamps(self, tsval: u32, tsecr: u32) -> Frame {
        self.tcp_option(TcpOpt::Timestamps { tsval, tsecr })
    }

    /// Adds a UDP header. Length and checksum are filled in.
    pub fn udp(self, sport: u16, dport: u16) -> Frame {
        self.push(Layer::Udp { sport, dport })
    }

    /// Adds UDP and a DNS query for `name` (type A, class IN) with transaction id `txid`.
    pub fn dns_query(self, sport: u16, dport: u16, txid: u16, name: &str) -> Frame {
        self.udp(sport, dport)
            .payload(&dns_message(txid, false, name))
    }

    /// Adds UDP and a DNS response header (no answers) echoing `name` with transaction id `txid`.
    pub fn dns_response(self, sport: u16, dport: u16, txid: u16, name: &str) -> Frame {
        self.udp(sport, dport)
            .payload(&dns_message(txid, true, name))
    }

    /// Adds a VXLAN header (I flag set); follow it with [`Frame::inner_eth`].
    pub fn vxlan(self, vni: u32) -> Frame {
        self.push(Layer::Vxlan {
            vni: vni & 0xff_ffff,
        })
    }

    /// Adds an SCTP common header; put chunks in the payload (see [`sctp_init_chunk`]).
    pub fn sctp(self, sport: u16, dport: u16, vtag: u32) -> Frame {
        self.push(Layer::Sctp { sport, dport, vtag })
    }

    /// Adds an ESP header (SPI and sequence number); the payload stands for the ciphertext.
    pub fn esp(self, spi: u32, seq: u32) -> Frame {
        self.push(Layer::Esp { spi, seq })
    }

    /// Adds an ICMP echo request (type 8).
    pub fn icmp_echo_request(self, id: u16, seq: u16) -> Frame {
        self.push(Layer::Icmp {
            ty: 8,
            code: 0,
            rest: id_seq(id, seq),
        })
    }

    /// Adds an ICMP echo reply (type 0).
    pub fn icmp_echo_reply(self, id: u16, seq: u16) -> Frame {
        self.push(Layer::Icmp {
            ty: 0,
            code: 0,
            rest: id_seq(id, seq),
        })
    }

    /// Adds an ICMP destination unreachable (type 3) quoting `quoted` (an IP packet; RFC 792
    /// asks for its header and 8 bytes, pass what you want quoted).
    pub fn icmp_unreachable(self, code: u8, quoted: &[u8]) -> Frame {
        self.push(Layer::Icmp {
            ty: 3,
            code,
            rest: [0; 4],
        })
        .payload(quoted)
    }

    /// Adds any ICMP message: type, code and the 4 bytes after the checksum.
    pub fn icmp(self, ty: u8, code: u8, rest: [u8; 4]) -> Frame {
        self.push(Layer::Icmp { ty, code, rest })
    }

    /// Adds an ICMPv6 echo request (type 128).
    pub fn icmpv6_echo_request(self, id: u16, seq: u16) -> Frame {
        self.push(Layer::Icmpv6 {
            ty: 128,
            code: 0,
            rest: id_seq(id, seq),
        })
    }

    /// Adds an ICMPv6 echo reply (type 129).
    pub fn icmpv6_echo_reply(self, id: u16, seq: u16) -> Frame {
        self.push(Layer::Icmpv6 {
            ty: 129,
            code: 0,
            rest: id_seq(id, seq),
        })
    }

    /// Adds an ICMPv6 neighbour solicitation (type 135) for `target`, with a source
    /// link-layer address option when `source_mac` is given.
    pub fn icmpv6_neighbor_solicit(
        self,
        target: impl Into<Ipv6Addr>,
        source_mac: Option<Mac>,
    ) -> Frame {
        let mut body = target.into().octets().to_vec();
        if let Some(m) = source_mac {
            body.extend_from_slice(&[1, 1]);
            body.extend_from_slice(&m);
        }
        self.push(Layer::Icmpv6 {
            ty: 135,
            code: 0,
            rest: [0; 4],
        })
        .payload(&body)
    }

    /// Adds any ICMPv6 message: type, code and the 4 bytes after the checksum.
    pub fn icmpv6(self, ty: u8, code: u8, rest: [u8; 4]) -> Frame {
        self.push(Layer::Icmpv6 { ty, code, rest })
    }

    /// Adds an IGMPv2 message (0x16 report, 0x17 leave, 0x11 query).
    pub fn igmp_v2(self, ty: u8, max_resp: u8, group: impl Into<Ipv4Addr>) -> Frame {
        let g = group.into().octets();
        self.push(Layer::Igmp {
            head: [ty, max_resp, 0, 0, g[0], g[1], g[2], g[3]],
        })
    }

    /// Adds an IGMPv3 membership report (type 0x22) with one change-to-exclude record per group.
    pub fn igmp_v3_report(self, groups: &[Ipv4Addr]) -> Frame {
        let n = u16::try_from(groups.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes();
        let mut records = Vec::new();
        for g in groups {
            records.extend_from_slice(&[4, 0, 0, 0]);
            records.extend_from_slice(&g.octets());
        }
        self.push(Layer::Igmp {
            head: [0x22, 0, 0, 0, 0, 0, n[0], n[1]],
        })
        .payload(&records)
    }

    // ---- payload ----

    /// Sets the innermost payload.
    pub fn payload(mut self, bytes: &[u8]) -> Frame {
        self.payload = bytes.to_vec();
        self
    }

    /// Sets a payload of `len` copies of `byte`.
    pub fn payload_fill(mut self, len: usize, byte: u8) -> Frame {
        self.payload = vec![byte; len];
        self
    }

    /// Serializes the frame.
    pub fn build(&self) -> Vec<u8> {
        let mut inner = self.payload.clone();
        for i in (0..self.layers.len()).rev() {
            inner = self.encode(i, inner);
        }
        inner
    }

    fn next_ethertype(&self, i: usize, explicit: Option<u16>) -> u16 {
        explicit
            .or_else(|| self.layers.get(i + 1).and_then(Layer::ethertype))
            .unwrap_or(0x88b5) // IEEE local experimental, for a raw payload
    }

    fn next_ip_proto(&self, i: usize, explicit: Option<u8>) -> u8 {
        explicit
            .or_else(|| self.layers.get(i + 1).and_then(Layer::ip_proto))
            .unwrap_or(if self.layers.get(i + 1).is_none() {
                253
            } else {
                ipproto::IPV6_NONXT
            })
    }

    /// The pseudo-header sum of the nearest IP header enclosing layer `i`.
    fn pseudo_sum(&self, i: usize, proto: u8, l4_len: usize) -> u32 {
        let mut sum = 0u32;
        for layer in self.layers[..i].iter().rev() {
            match layer {
                Layer::Ipv4(h) => {
                    sum = add_words(sum, &h.src.octets());
                    sum = add_words(sum, &h.dst.octets());
                    sum += u32::from(proto) + (l4_len as u32 & 0xffff);
                    break;
                }
                Layer::Ipv6(h) => {
                    sum = add_words(sum, &h.src.octets());
                    sum = add_words(sum, &h.dst.octets());
                    sum = add_words(sum, &(l4_len as u32).to_be_bytes());
                    sum += u32::from(proto);
                    break;
                }
                _ => {}
            }
        }
        sum
    }

    fn encode(&self, i: usize, inner: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::with_capacity(inner.len() + 64);
        match &self.layers[i] {
            Layer::Eth {
                src,
                dst,
                ethertype,
            } => {
                out.extend_from_slice(dst);
                out.extend_from_slice(src);
                let ty = if matches!(self.layers.get(i + 1), Some(Layer::Llc { .. })) {
                    inner.len() as u16
                } else {
                    self.next_ethertype(i, *ethertype)
                };
                out.extend_from_slice(&ty.to_be_bytes());
                out.extend_from_slice(&inner);
            }
            Layer::Vlan {
                pcp,
                vid,
                ethertype,
                ..
            } => {
                let tci = (u16::from(*pcp) << 13) | (vid & 0x0fff);
                out.extend_from_slice(&tci.to_be_bytes());
                out.extend_from_slice(&self.next_ethertype(i, *ethertype).to_be_bytes());
                out.extend_from_slice(&inner);
            }
            Layer::Mpls { label, tc, ttl } => {
                let bottom = !matches!(self.layers.get(i + 1), Some(Layer::Mpls { .. }));
                let word = (label << 12)
                    | (u32::from(*tc & 7) << 9)
                    | (u32::from(bottom) << 8)
                    | u32::from(*ttl);
                out.extend_from_slice(&word.to_be_bytes());
                out.extend_from_slice(&inner);
            }
            Layer::Pppoe { session } => {
                let ppp_proto: u16 = match self.layers.get(i + 1) {
                    Some(Layer::Ipv6(_)) => 0x0057,
                    _ => 0x0021,
                };
                out.extend_from_slice(&[0x11, 0x00]);
                out.extend_from_slice(&session.to_be_bytes());
                out.extend_from_slice(&((inner.len() + 2) as u16).to_be_bytes());
                out.extend_from_slice(&ppp_proto.to_be_bytes());
                out.extend_from_slice(&inner);
            }
            Layer::Llc {
                dsap,
                ssap,
                control,
            } => {
                out.extend_from_slice(&[*dsap, *ssap, *control]);
                out.extend_from_slice(&inner);
            }
            Layer::Arp {
                op,
                sha,
                spa,
                tha,
                tpa,
            } => {
                out.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
                out.extend_from_slice(&op.to_be_bytes());
                out.extend_from_slice(sha);
                out.extend_from_slice(&spa.octets());
                out.extend_from_slice(tha);
                out.extend_from_slice(&tpa.octets());
                out.extend_from_slice(&inner);
            }
            Layer::Ipv4(h) => {
                let hlen = 20 + h.options.len();
                let total = (hlen + inner.len()) as u16;
                let frag = (u16::from(h.dont_fragment) << 14)
                    | (u16::from(h.more_fragments) << 13)
                    | (h.frag_offset_bytes >> 3);
                out.push(0x40 | (hlen / 4) as u8);
                out.push(h.tos);
                out.extend_from_slice(&total.to_be_bytes());
                out.extend_from_slice(&h.id.to_be_bytes());
                out.extend_from_slice(&frag.to_be_bytes());
                out.push(h.ttl);
                out.push(self.next_ip_proto(i, h.proto));
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&h.src.octets());
                out.extend_from_slice(&h.dst.octets());
                out.extend_from_slice(&h.options);
                let sum = checksum(0, &out);
                out[10..12].copy_from_slice(&sum.to_be_bytes());
                out.extend_from_slice(&inner);
            }
            Layer::Ipv6(h) => {
                let upper = self.next_ip_proto(i, h.next);
                let mut ext = Vec::new();
                for (k, e) in h.ext.iter().enumerate() {
                    let next = h.ext.get(k + 1).map_or(upper, Ipv6Ext::proto);
                    e.encode(next, &mut ext);
                }
                let first = h.ext.first().map_or(upper, Ipv6Ext::proto);
                let word = (6u32 << 28) | (u32::from(h.traffic_class) << 20) | h.flow_label;
                out.extend_from_slice(&word.to_be_bytes());
                out.extend_from_slice(&((ext.len() + inner.len()) as u16).to_be_bytes());
                out.push(first);
                out.push(h.hop_limit);
                out.extend_from_slice(&h.src.octets());
                out.extend_from_slice(&h.dst.octets());
                out.extend_from_slice(&ext);
                out.extend_from_slice(&inner);
            }
            Layer::Tcp(h) => {
                let mut opts = Vec::new();
                for o in &h.options {
                    match o {
                        TcpOpt::Mss(v) => {
                            opts.extend_from_slice(&[2, 4]);
                            opts.extend_from_slice(&v.to_be_bytes());
                        }
                        TcpOpt::WindowScale(s) => opts.extend_from_slice(&[3, 3, *s]),
                        TcpOpt::SackPermitted => opts.extend_from_slice(&[4, 2]),
                        TcpOpt::Timestamps { tsval, tsecr } => {
                            opts.extend_from_slice(&[8, 10]);
                            opts.extend_from_slice(&tsval.to_be_bytes());
                            opts.extend_from_slice(&tsecr.to_be_bytes());
                        }
                        TcpOpt::Nop => opts.push(1),
                    }
                }
                while !opts.len().is_multiple_of(4) {
                    opts.push(0);
                }
                let hlen = 20 + opts.len();
                out.extend_from_slice(&h.sport.to_be_bytes());
                out.extend_from_slice(&h.dport.to_be_bytes());
                out.extend_from_slice(&h.seq.to_be_bytes());
                out.extend_from_slice(&h.ack.to_be_bytes());
                out.push(((hlen / 4) as u8) << 4);
                out.push(h.flags);
                out.extend_from_slice(&h.window.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&h.urgent.to_be_bytes());
                out.extend_from_slice(&opts);
                out.extend_from_slice(&inner);
                let sum = checksum(self.pseudo_sum(i, ipproto::TCP, out.len()), &out);
                out[16..18].copy_from_slice(&sum.to_be_bytes());
            }
            Layer::Udp { sport, dport } => {
                let len = 8 + inner.len();
                out.extend_from_slice(&sport.to_be_bytes());
                out.extend_from_slice(&dport.to_be_bytes());
                out.extend_from_slice(&(len as u16).to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&inner);
                let mut sum = checksum(self.pseudo_sum(i, ipproto::UDP, len), &out);
                if sum == 0 {
                    sum = 0xffff;
                }
                out[6..8].copy_from_slice(&sum.to_be_bytes());
            }
            Layer::Icmp { ty, code, rest } | Layer::Icmpv6 { ty, code, rest } => {
                out.extend_from_slice(&[*ty, *code, 0, 0]);
                out.extend_from_slice(rest);
                out.extend_from_slice(&inner);
                let initial = match self.layers[i] {
                    Layer::Icmpv6 { .. } => self.pseudo_sum(i, ipproto::ICMPV6, out.len()),
                    _ => 0,
                };
                let sum = checksum(initial, &out);
                out[2..4].copy_from_slice(&sum.to_be_bytes());
            }
            Layer::Gre { proto } => {
                let ty = proto
                    .or_else(|| self.layers.get(i + 1).and_then(Layer::ethertype))
                    .unwrap_or(ethertype::IPV4);
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&ty.to_be_bytes());
                out.extend_from_slice(&inner);
            }
            Layer::Vxlan { vni } => {
                out.extend_from_slice(&[0x08, 0, 0, 0]);
                out.extend_from_slice(&(vni << 8).to_be_bytes());
                out.extend_from_slice(&inner);
            }
            Layer::Sctp { sport, dport, vtag } => {
                out.extend_from_slice(&sport.to_be_bytes());
                out.extend_from_slice(&dport.to_be_bytes());
                out.extend_from_slice(&vtag.to_be_bytes());
                out.extend_from_slice(&[0, 0, 0, 0]);
                out.extend_from_slice(&inner);
                let crc = crc32c(&out);
                out[8..12].copy_from_slice(&crc.to_le_bytes());
            }
            Layer::Esp { spi, seq } => {
                out.extend_from_slice(&spi.to_be_bytes());
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(&inner);
            }
            Layer::Igmp { head } => {
                out.extend_from_slice(head);
                out[2] = 0;
                out[3] = 0;
                out.extend_from_slice(&inner);
                let sum = checksum(0, &out);
                out[2..4].copy_from_slice(&sum.to_be_bytes());
            }
        }
        out
    }
}

fn id_seq(id: u16, seq: u16) -> [u8; 4] {
    let (a, b) = (id.to_be_bytes(), seq.to_be_bytes());
    [a[0], a[1], b[0], b[1]]
}

/// A DNS message with one question (A, IN) and no answers.
pub fn dns_message(txid: u16, response: bool, name: &str) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&txid.to_be_bytes());
    let flags: u16 = if response { 0x8180 } else { 0x0100 };
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        m.push(bytes.len() as u8);
        m.extend_from_slice(bytes);
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// An SCTP INIT (chunk type 1) or INIT-ACK (2) chunk with no parameters (20 bytes).
pub fn sctp_init_chunk(chunk_type: u8, initiate_tag: u32, initial_tsn: u32) -> Vec<u8> {
    let mut c = vec![chunk_type, 0, 0, 20];
    c.extend_from_slice(&initiate_tag.to_be_bytes());
    c.extend_from_slice(&65535u32.to_be_bytes()); // a_rwnd
    c.extend_from_slice(&[0, 10, 0, 10]); // outbound / inbound streams
    c.extend_from_slice(&initial_tsn.to_be_bytes());
    c
}

fn add_words(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for w in &mut chunks {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// The Internet checksum (RFC 1071) of `data`, starting from a partial `initial` sum.
pub fn checksum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = u64::from(add_words(initial, data));
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// CRC-32C (Castagnoli), as SCTP uses it.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Splits the IPv4 packet starting at `l2_len` in `frame` into fragments carrying at
/// most `max_payload` bytes of IP payload each (rounded down to a multiple of 8).
/// The link-layer header is copied onto every fragment; lengths, flags, offsets and
/// checksums are rewritten. A frame that is not IPv4 comes back unchanged.
pub fn fragment_ipv4(frame: &[u8], l2_len: usize, max_payload: usize) -> Vec<Vec<u8>> {
    let Some(ip) = frame.get(l2_len..) else {
        return vec![frame.to_vec()];
    };
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return vec![frame.to_vec()];
    }
    let hlen = usize::from(ip[0] & 0x0f) * 4;
    let Some(data) = ip.get(hlen..) else {
        return vec![frame.to_vec()];
    };
    let step = (max_payload / 8).max(1) * 8;
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let end = (offset + step).min(data.len());
        let more = end < data.len();
        let mut f = frame[..l2_len + hlen].to_vec();
        f.extend_from_slice(&data[offset..end]);
        let h = &mut f[l2_len..];
        h[2..4].copy_from_slice(&((hlen + end - offset) as u16).to_be_bytes());
        let frag = (u16::from(more) << 13) | ((offset / 8) as u16);
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let sum = checksum(0, &h[..hlen]);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        out.push(f);
        offset = end;
    }
    out
}

/// Options of a pcap file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapOptions {
    /// Nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds.
    pub nanos: bool,
    /// Link type (1 = Ethernet, 101 = raw IP).
    pub linktype: u32,
    /// Frames longer than this are cut to it; their orig_len keeps the full length.
    pub snaplen: u32,
}

impl Default for PcapOptions {
    fn default() -> Self {
        PcapOptions {
            nanos: false,
            linktype: LINKTYPE_ETHERNET,
            snaplen: 262_144,
        }
    }
}

/// DLT/LINKTYPE numbers.
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;

/// A classic (libpcap 2.4) capture file writer, little-endian.
pub struct PcapWriter<W: Write> {
    out: W,
    options: PcapOptions,
    packets: u64,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates `path` with the default options (microseconds, Ethernet).
    pub fn create(path: &Path) -> io::Result<Self> {
        PcapWriter::with_options(BufWriter::new(File::create(path)?), PcapOptions::default())
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header with the default options.
    pub fn new(out: W) -> io::Result<Self> {
        PcapWriter::with_options(out, PcapOptions::default())
    }

    /// Writes the file header.
    pub fn with_options(mut out: W, options: PcapOptions) -> io::Result<Self> {
        let magic: u32 = if options.nanos {
            0xa1b2_3c4d
        } else {
            0xa1b2_c3d4
        };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&magic.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&options.snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&options.linktype.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            options,
            packets: 0,
        })
    }

    /// Writes one frame at `ts_ns` nanoseconds since the epoch, cut to the snaplen.
    pub fn write_packet(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        self.write_packet_truncated(ts_ns, frame, orig_len)
    }

    /// Writes `captured` as the first bytes of a frame that was `orig_len` long on the
    /// wire (orig_len > captured length emulates a capture with a small snaplen).
    pub fn write_packet_truncated(
        &mut self,
        ts_ns: u64,
        captured: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let caplen = captured.len().min(self.options.snaplen as usize);
        let frac = if self.options.nanos {
            ts_ns % 1_000_000_000
        } else {
            ts_ns % 1_000_000_000 / 1000
        };
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&(frac as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.max(caplen as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&captured[..caplen])?;
        self.packets += 1;
        Ok(())
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `packets` (timestamp in ns, frame) to `path` as a microsecond Ethernet pcap.
pub fn write_pcap(path: &Path, packets: &[(u64, Vec<u8>)]) -> io::Result<()> {
    write_pcap_with(path, PcapOptions::default(), packets)
}

/// Writes `packets` to `path` with the given options.
pub fn write_pcap_with(
    path: &Path,
    options: PcapOptions,
    packets: &[(u64, Vec<u8>)],
) -> io::Result<()> {
    let mut w = PcapWriter::with_options(BufWriter::new(File::create(path)?), options)?;
    for (ts, frame) in packets {
        w.write_packet(*ts, frame)?;
    }
    w.finish()?;
    Ok(())
}

/// A TCP conversation that keeps sequence numbers: each call builds the next
/// segment of one side on top of that side's L2/L3 prefix.
#[derive(Clone, Debug)]
pub struct TcpConv {
    /// Layers for client→server segments (up to and including IP).
    pub c2s: Frame,
    /// Layers for server→client segments.
    pub s2c: Frame,
    pub client_port: u16,
    pub server_port: u16,
    /// Next sequence number the client sends.
    pub client_seq: u32,
    /// Next sequence number the server sends.
    pub server_seq: u32,
    pub client_window: u16,
    pub server_window: u16,
}

impl TcpConv {
    /// A conversation over the given prefixes, with ISNs 1000 (client) and 5000 (server).
    pub fn new(c2s: Frame, s2c: Frame, client_port: u16, server_port: u16) -> TcpConv {
        TcpConv {
            c2s,
            s2c,
            client_port,
            server_port,
            client_seq: 1000,
            server_seq: 5000,
            client_window: 64240,
            server_window: 65160,
        }
    }

    /// A conversation over plain Ethernet + IPv4 between `client` (MAC 02::01) and `server` (MAC 02::02).
    pub fn ipv4(
        client: impl Into<Ipv4Addr>,
        client_port: u16,
        server: impl Into<Ipv4Addr>,
        server_port: u16,
    ) -> TcpConv {
        let (c, s) = (client.into(), server.into());
        TcpConv::new(
            Frame::eth(mac(1), mac(2)).ipv4(c, s),
            Frame::eth(mac(2), mac(1)).ipv4(s, c),
            client_port,
            server_port,
        )
    }

    /// The next client segment; SYN and FIN take a sequence number, the ACK field
    /// is set when the ACK flag is.
    pub fn client(&mut self, flags: u8, payload: &[u8]) -> Vec<u8> {
        let f = self.c2s.clone().tcp(self.client_port, self.server_port);
        let ack = if flags & ACK != 0 { self.server_seq } else { 0 };
        let frame = f
            .flags(flags)
            .seq(self.client_seq)
            .ack(ack)
            .window(self.client_window)
            .payload(payload)
            .build();
        self.client_seq = advance(self.client_seq, flags, payload.len());
        frame
    }

    /// The next server segment.
    pub fn server(&mut self, flags: u8, payload: &[u8]) -> Vec<u8> {
        let f = self.s2c.clone().tcp(self.server_port, self.client_port);
        let ack = if flags & ACK != 0 { self.client_seq } else { 0 };
        let frame = f
            .flags(flags)
            .seq(self.server_seq)
            .ack(ack)
            .window(self.server_window)
            .payload(payload)
            .build();
        self.server_seq = advance(self.server_seq, flags, payload.len());
        frame
    }

    /// Sends again the client's last `len` sequence numbers' worth (a retransmission).
    pub fn client_retransmit(&mut self, flags: u8, payload: &[u8]) -> Vec<u8> {
        self.client_seq = self.client_seq.wrapping_sub(consumed(flags, payload.len()));
        self.client(flags, payload)
    }

    /// The ten segments of a complete exchange: 3-way handshake, a request and its
    /// ACK, a response and its ACK, client FIN, server FIN-ACK, final ACK.
    pub fn full_session(&mut self, request: &[u8], response: &[u8]) -> Vec<Vec<u8>> {
        vec![
            self.client(SYN, &[]),
            self.server(SYN | ACK, &[]),
            self.client(ACK, &[]),
            self.client(PSH | ACK, request),
            self.server(ACK, &[]),
            self.server(PSH | ACK, response),
            self.client(ACK, &[]),
            self.client(FIN | ACK, &[]),
            self.server(FIN | ACK, &[]),
            self.client(ACK, &[]),
        ]
    }
}

fn consumed(flags: u8, len: usize) -> u32 {
    len as u32 + u32::from(flags & SYN != 0) + u32::from(flags & FIN != 0)
}

fn advance(seq: u32, flags: u8, len: usize) -> u32 {
    seq.wrapping_add(consumed(flags, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_tcp_checksums_verify() {
        let f = Frame::eth(mac(1), mac(2))
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
            .tcp(1234, 80)
            .flags(SYN)
            .mss(1460)
            .wscale(7)
            .sack_ok()
            .timestamps(1, 0)
            .payload(b"abc")
            .build();
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        let ip = &f[14..];
        assert_eq!(
            checksum(0, &ip[..20]),
            0,
            "IPv4 header checksum must verify"
        );
        assert_eq!(ip[9], 6);
        let tcp = &ip[20..];
        assert_eq!(tcp.len(), 20 + 20 + 3);
        assert_eq!(tcp[12] >> 4, 10);
        let pseudo = add_words(add_words(0, &ip[12..20]), &[0, 6]) + tcp.len() as u32;
        assert_eq!(checksum(pseudo, tcp), 0, "TCP checksum must verify");
    }

    #[test]
    fn encapsulations_set_types_and_lengths() {
        let f = Frame::eth(mac(1), mac(2))
            .qinq(10, 20)
            .ipv4([1, 1, 1, 1], [2, 2, 2, 2])
            .udp(1, 2)
            .build();
        assert_eq!(&f[12..14], &[0x88, 0xa8]);
        assert_eq!(&f[16..18], &[0x81, 0x00]);
        assert_eq!(&f[20..22], &[0x08, 0x00]);
        let f = Frame::eth(mac(1), mac(2))
            .mpls(100)
            .mpls(200)
            .ipv4([1, 1, 1, 1], [2, 2, 2, 2])
            .build();
        assert_eq!(&f[12..14], &[0x88, 0x47]);
        assert_eq!(f[16] & 1, 0, "first label is not bottom of stack");
        assert_eq!(f[20] & 1, 1, "last label is bottom of stack");
        let f = Frame::eth(mac(1), mac(2))
            .llc(0x42, 0x42, 3)
            .payload(&[0; 35])
            .build();
        assert_eq!(u16::from_be_bytes([f[12], f[13]]), 38);
        let f = Frame::eth(mac(1), mac(2))
            .pppoe(7)
            .ipv4([1, 1, 1, 1], [2, 2, 2, 2])
            .payload(&[0; 4])
            .build();
        assert_eq!(u16::from_be_bytes([f[18], f[19]]), 2 + 24);
        assert_eq!(&f[20..22], &[0x00, 0x21]);
    }

    #[test]
    fn ipv6_extension_chain() {
        let f = Frame::bare_ipv6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST)
            .ipv6_ext(Ipv6Ext::HopByHop)
            .ipv6_ext(Ipv6Ext::Fragment {
                offset: 0,
                more: true,
                id: 9,
            })
            .udp(1, 2)
            .build();
        assert_eq!(f[6], ipproto::IPV6_HOPOPTS);
        assert_eq!(f[40], ipproto::IPV6_FRAGMENT);
        assert_eq!(f[48], ipproto::UDP);
        assert_eq!(u16::from_be_bytes([f[4], f[5]]), 8 + 8 + 8);
    }

    #[test]
    fn fragments_reassemble_to_the_original_payload() {
        let full = Frame::eth(mac(1), mac(2))
            .ipv4([1, 1, 1, 1], [2, 2, 2, 2])
            .udp(1, 2)
            .payload_fill(3000, 7)
            .build();
        let frags = fragment_ipv4(&full, 14, 1480);
        assert_eq!(
            frags.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1514, 1514, 82]
        );
        let mut joined = Vec::new();
        for f in &frags {
            assert_eq!(checksum(0, &f[14..34]), 0);
            joined.extend_from_slice(&f[34..]);
        }
        assert_eq!(joined, full[34..]);
    }

    #[test]
    fn sctp_crc32c_known_value() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
    }

    #[test]
    fn pcap_header_and_truncation() {
        let mut w = PcapWriter::with_options(
            Vec::new(),
            PcapOptions {
                nanos: true,
                snaplen: 10,
                ..PcapOptions::default()
            },
        )
        .unwrap();
        w.write_packet(1_500_000_123, &[1u8; 30]).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(&out[0..4], &0xa1b2_3c4du32.to_le_bytes());
        assert_eq!(out.len(), 24 + 16 + 10);
        assert_eq!(u32::from_le_bytes(out[24..28].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_le_bytes(out[28..32].try_into().unwrap()),
            500_000_123
        );
        assert_eq!(u32::from_le_bytes(out[32..36].try_into().unwrap()), 10);
        assert_eq!(u32::from_le_bytes(out[36..40].try_into().unwrap()), 30);
    }
}

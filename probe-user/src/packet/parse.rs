//! The parser proper. See the module docs in `mod.rs`.
//!
//! Every read goes through the bounds-checked helpers at the bottom of this file
//! (`be16`, `be32`, `bytes::<N>` ...), which return `None` past the captured end,
//! so no input can make the parser panic. Offsets are absolute offsets into the
//! captured frame, so `payload_off` can be handed to the user-data capture as is.
//! Views are only ever shortened (to the end of an IP datagram, so Ethernet
//! padding is never read as a header or as payload).
//!
//! # What is parsed and decapsulated
//!
//! | Layer | Handling | Argus 3.0.8 |
//! |---|---|---|
//! | Ethernet II, 802.3 + LLC, SNAP | parsed; LLC → `Net::Llc`, SNAP continues with its ethertype | same |
//! | SLL, SLL2, raw IP (101, 12, 14, 228, 229), NULL/LOOP, PPP (9, 50), Cisco HDLC (104) | parsed | same (CHDLC sets `encaps::CHDLC`) |
//! | 802.1Q (0x8100) | skipped, outermost TCI kept | same |
//! | 802.1ad (0x88a8), 0x9100, stacked tags | skipped, `VLAN` + `QINQ` bits | **differs**: Argus reports a non-IP ethertype-34984 flow |
//! | MPLS 0x8847/0x8848 | stack skipped to bottom-of-stack, IPv4/IPv6 by version nibble, control word 0 → pseudowire Ethernet | same (PW Ethernet is extra) |
//! | PPPoE session 0x8864 | PPP 0x0021/0x0057 → inner IP; other PPP protocols → non-IP 0x8864 flow | same |
//! | GRE v0 (checksum/key/sequence), proto IPv4, IPv6, MPLS, 0x6558 TEB, ERSPAN I/II/III | inner flow reported, `GRE` bit | same for GRE/IP; TEB/ERSPAN extra |
//! | GRE v1 (PPTP), GRE with routing, GRE with another protocol | outer flow (proto 47) kept | same |
//! | IP-in-IP (proto 4), 6in4 / 6in6 (proto 41), inside IPv4 or IPv6 | inner flow, `IPIP` / `IP6IN4` bits | **differs**: Argus reports the outer `ipnip`/`ipv6` flow |
//! | VXLAN (UDP dst 4789, I flag) | inner Ethernet → inner flow, `VXLAN` bit | **differs**: Argus reports the outer UDP flow |
//! | IPv6 extension headers 0, 43, 44, 60, 51 (AH), 135 | skipped, fragment header fills `frag`; AH is skipped in IPv4 too | same |
//!
//! # Choices worth knowing
//!
//! - **Tunnels keep the outer flow when the inside is unusable.** A tunnel is only
//!   decapsulated when the inner packet yields a complete, valid IP header. If the
//!   inner link or IP header is cut short or impossible, or nesting goes deeper than
//!   [`MAX_DEPTH`], the outer flow (tunnel endpoints, proto 47/4/41 or UDP 4789) is
//!   restored, so the frame is still accounted, and `malformed` names the inner
//!   problem. The same applies when the inner packet is not IP at all (ARP inside
//!   VXLAN, PPP control inside GRE): the outer flow is kept, `malformed` stays
//!   `None`, because the MAC addresses we report are the outermost ones and would
//!   not describe an inner non-IP flow.
//! - Fragmented tunnel packets (`frag.is_fragment`) are not decapsulated: the
//!   later fragments carry no inner header, so the fragment-reassembly key must be
//!   the outer one for all of them.
//! - Only a first fragment (offset 0) has a transport header. Every fragment of a
//!   datagram reports the same `proto`: in a fragmented datagram the IPv6 header
//!   walk stops after the fragment header, and IPv4 AH is not skipped.
//! - An IPv4 total length of 0 (segmentation offload, Linux BIG TCP) means "the rest
//!   of the frame on the wire" (`wire_len`); an IPv6 payload length of 0 with a
//!   hop-by-hop header takes the Jumbo Payload option's length. Argus counts such
//!   packets as broken; we keep them.
//! - Options or extension headers that run past a fully captured datagram's own
//!   length are `BadIpHeader`; past the captured bytes, `TruncatedIp`.
//! - `l4_len` and `app_len` come from the IP length fields, never from the captured
//!   length. `app_len` = `l4_len` minus the transport header: TCP data offset * 4,
//!   UDP 8, SCTP 12 (common header), ICMP/ICMPv6/IGMP/ESP 8; for any other protocol,
//!   and for non-first fragments, the whole IP payload. Saturating.
//! - `payload_off`/`payload_caplen` point after that same header, and the captured
//!   payload stops at the IP datagram's end (Ethernet padding is not payload).
//! - `malformed` is a reason to count, not a verdict: `net`, the addresses and
//!   `has_l4` say what is usable. An IPv4 header with a bad total length, or an IP
//!   header whose options/extension headers are cut, still has its addresses filled.
//!   TCP options cut short by the snap length give `TruncatedL4` with `has_l4` true
//!   (ports, flags, seq are there).
//! - `ethertype` is the last ethertype-like field read (Ethernet, VLAN, SNAP, SLL,
//!   GRE protocol, Cisco HDLC); for PPP links, the PPP protocol number (non-IP PPP
//!   frames become `Net::Ether` flows keyed by it); 0 for raw IP and NULL links.
//! - A cut header that hides the flow's key gives a reason even where the outer
//!   flow stands: ARP cut short, a GRE header or a VXLAN header cut short
//!   (`TruncatedLink`), an IPv4 DNS transaction id cut short (`TruncatedL4`).
//! - Cisco HDLC ethertype 0x8035 is SLARP (a non-IP flow), not RARP.
//! - `IP6IN4` marks IPv6 carried in IPv4 or IPv6 (proto 41); `IPIP` marks IPv4
//!   carried in IPv4 or IPv6 (proto 4).
use super::*;

/// The deepest nesting of Ethernet and IP headers followed; deeper → `TooDeep`.
pub const MAX_DEPTH: u8 = 8;
/// VLAN tags followed in one Ethernet header before giving up with `TooDeep`.
const MAX_VLAN_TAGS: u8 = 8;
/// MPLS labels followed before giving up with `TooDeep`.
const MAX_MPLS_LABELS: u8 = 16;

mod ether_type {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const TEB: u16 = 0x6558;
    pub const RARP: u16 = 0x8035;
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS_UC: u16 = 0x8847;
    pub const MPLS_MC: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const QINQ: u16 = 0x88a8;
    pub const ERSPAN_II: u16 = 0x88be;
    pub const ERSPAN_III: u16 = 0x22eb;
    pub const VLAN_9100: u16 = 0x9100;
}

mod ip_proto {
    pub const HOPOPT: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const DSTOPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const UDPLITE: u8 = 136;
    pub const SCTP: u8 = 132;
}

mod ppp_proto {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
    pub const MPLS_UC: u16 = 0x0281;
    pub const MPLS_MC: u16 = 0x0283;
}

const VXLAN_PORT: u16 = 4789;
const DNS_PORT: u16 = 53;

/// Parses one frame. `data` is the captured bytes, `wire_len` the frame's length
/// on the wire, `ts_ns` its timestamp. Always returns; problems are reported in
/// `out.malformed`.
#[inline]
pub fn parse(link: LinkType, data: &[u8], wire_len: u32, ts_ns: u64, out: &mut PacketInfo) {
    parse_with(link, data, wire_len, ts_ns, out, true);
}

/// [`parse`] without the shortcut for common frames: what the shortcut must
/// agree with (tests).
#[cfg(test)]
pub(crate) fn parse_general(
    link: LinkType,
    data: &[u8],
    wire_len: u32,
    ts_ns: u64,
    out: &mut PacketInfo,
) {
    parse_with(link, data, wire_len, ts_ns, out, false);
}

#[inline(always)]
fn parse_with(
    link: LinkType,
    data: &[u8],
    wire_len: u32,
    ts_ns: u64,
    out: &mut PacketInfo,
    shortcut: bool,
) {
    out.reset();
    out.ts_ns = ts_ns;
    out.wire_len = wire_len;
    out.cap_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    if !(shortcut && link.0 == 1 && ether_ipv4_common(data, out)) {
        layers(link, data, out);
    }
}

/// Every layer from the link's, for any link type: the general path. Not
/// inlined, so that the shortcut's caller does not carry its code (and the
/// registers it saves).
#[inline(never)]
fn layers(link: LinkType, data: &[u8], out: &mut PacketInfo) {
    match link.0 {
        1 => {
            ethernet(data, 0, out, 0);
        }
        113 => sll(data, out),
        276 => sll2(data, out),
        101 | 12 | 14 => {
            out.encaps |= encaps::RAW;
            raw_ip(data, 0, out, 0);
        }
        228 => {
            out.encaps |= encaps::RAW;
            ipv4(data, 0, out, 0);
        }
        229 => {
            out.encaps |= encaps::RAW;
            ipv6(data, 0, out, 0);
        }
        0 | 108 => null_loop(data, out),
        // 50 is PPP in HDLC-like framing (PPP_HDLC), the same layout as 9.
        9 | 50 => ppp(data, out),
        104 => cisco_hdlc(data, out),
        _ => out.malformed = Malformed::UnknownLinkType,
    }
    // Argus counts the bytes of a frame from its Ethernet header, or from the
    // network header where the link has no Ethernet header: the pseudo-headers
    // of cooked and loopback captures are not part of the frame on the wire.
    let pseudo = match link.0 {
        113 => 16,
        276 => 20,
        0 | 108 => 4,
        _ => 0,
    };
    out.wire_len = out.wire_len.saturating_sub(pseudo);
}

/// The shortcut for the frames most of a capture is made of: Ethernet II,
/// untagged or with one 802.1Q tag, carrying an IPv4 datagram with no
/// options that is not a fragment, and in it a whole TCP header (options
/// included) or a UDP header whose ports are neither DNS's nor VXLAN's.
/// Such a frame needs none of the general path's dispatch and depth checks:
/// one check of each header's length, and of the ports that would lead the
/// general path elsewhere, decides; then the general path's own functions
/// (`ipv4_fields`, `tcp`, `udp`) fill `out` (reset, with the frame's times
/// and lengths), and it returns true. For any other frame it writes nothing
/// and returns false.
/// The parser's tests hold the two paths to the same result on every frame
/// of the corpus, every fixture cut at every length, and mutated frames.
#[inline(always)]
fn ether_ipv4_common(d: &[u8], out: &mut PacketInfo) -> bool {
    let Some(eh) = d.first_chunk::<14>() else {
        return false;
    };
    let mut et = u16::from_be_bytes([eh[12], eh[13]]);
    let mut off = 14;
    let mut tci = None;
    if et == ether_type::VLAN {
        let Some(t) = bytes::<4>(d, 14) else {
            return false;
        };
        tci = Some(u16::from_be_bytes([t[0], t[1]]));
        et = u16::from_be_bytes([t[2], t[3]]);
        off = 18;
    }
    if et != ether_type::IPV4 {
        return false;
    }
    let Some(ih) = bytes::<20>(d, off) else {
        return false;
    };
    let total_len = usize::from(u16::from_be_bytes([ih[2], ih[3]]));
    let frag = u16::from_be_bytes([ih[6], ih[7]]);
    // Version 4 with a 20-byte header; a total length of 0 (segmentation
    // offload) or below the header goes the general way.
    if ih[0] != 0x45 || frag & 0x3fff != 0 || total_len < 20 {
        return false;
    }
    // The datagram ends at its total length or at the captured end.
    let view = &d[..d.len().min(off + total_len)];
    let l4 = off + 20;
    // Everything the general path would stop at is checked before anything
    // is written: then the layers are filled by the general path's own
    // functions, which find nothing to stop at.
    match ih[9] {
        ip_proto::TCP => {
            let Some(th) = bytes::<20>(view, l4) else {
                return false;
            };
            let header_len = usize::from(th[12] >> 4) * 4;
            if header_len < 20 || view.len() < l4 + header_len {
                return false;
            }
        }
        ip_proto::UDP => {
            let Some(uh) = bytes::<8>(view, l4) else {
                return false;
            };
            let (sport, dport) = (
                u16::from_be_bytes([uh[0], uh[1]]),
                u16::from_be_bytes([uh[2], uh[3]]),
            );
            if sport == DNS_PORT || dport == DNS_PORT || dport == VXLAN_PORT {
                return false;
            }
        }
        _ => return false,
    }
    out.encaps |= encaps::ETHER;
    out.has_mac = true;
    out.dst_mac = [eh[0], eh[1], eh[2], eh[3], eh[4], eh[5]];
    out.src_mac = [eh[6], eh[7], eh[8], eh[9], eh[10], eh[11]];
    if let Some(tci) = tci {
        out.encaps |= encaps::VLAN;
        out.has_vlan = true;
        out.vlan_tci = tci;
    }
    out.ethertype = ether_type::IPV4;
    ipv4_fields(&ih, out);
    out.l4_len = (total_len - 20) as u32;
    if ih[9] == ip_proto::TCP {
        tcp(view, l4, out);
    } else {
        udp(view, l4, false, out, 1);
    }
    true
}

// ---------------------------------------------------------------------------
// Link layers
// ---------------------------------------------------------------------------

/// Ethernet II or 802.3 at `off`. Returns true when it led to a usable IP header.
fn ethernet(d: &[u8], off: usize, out: &mut PacketInfo, depth: u8) -> bool {
    if depth >= MAX_DEPTH {
        out.malformed = Malformed::TooDeep;
        return false;
    }
    let (Some(dst), Some(src), Some(et)) = (
        bytes::<6>(d, off),
        bytes::<6>(d, off + 6),
        be16(d, off + 12),
    ) else {
        out.malformed = Malformed::TruncatedLink;
        return false;
    };
    out.encaps |= encaps::ETHER;
    // The MACs are the outermost Ethernet header's: an inner Ethernet frame
    // (VXLAN, GRE bridging) does not replace them.
    if !out.has_mac {
        out.has_mac = true;
        out.dst_mac = dst;
        out.src_mac = src;
    }
    by_ether_type(d, off + 14, et, out, depth + 1)
}

/// What follows an ethertype (or an 802.3 length) at `off`.
fn by_ether_type(d: &[u8], mut off: usize, mut et: u16, out: &mut PacketInfo, depth: u8) -> bool {
    if depth >= MAX_DEPTH {
        out.malformed = Malformed::TooDeep;
        return false;
    }
    // VLAN tags, any number up to MAX_VLAN_TAGS: 802.1Q, 802.1ad, 0x9100.
    let mut tags = 0u8;
    while matches!(
        et,
        ether_type::VLAN | ether_type::QINQ | ether_type::VLAN_9100
    ) {
        if tags == MAX_VLAN_TAGS {
            out.malformed = Malformed::TooDeep;
            return false;
        }
        let (Some(tci), Some(inner)) = (be16(d, off), be16(d, off + 2)) else {
            out.ethertype = et;
            out.malformed = Malformed::TruncatedLink;
            return false;
        };
        if tags == 0 {
            out.encaps |= encaps::VLAN;
            if !out.has_vlan {
                out.has_vlan = true;
                out.vlan_tci = tci;
            }
        } else {
            out.encaps |= encaps::QINQ;
        }
        tags += 1;
        et = inner;
        off += 4;
    }
    out.ethertype = et;
    match et {
        0..=1500 => llc(d, off, out, depth),
        ether_type::IPV4 => ipv4(d, off, out, depth),
        ether_type::IPV6 => ipv6(d, off, out, depth),
        ether_type::MPLS_UC | ether_type::MPLS_MC => mpls(d, off, out, depth),
        ether_type::PPPOE_SESSION => pppoe(d, off, out, depth),
        ether_type::ARP => arp(d, off, Net::Arp, out),
        ether_type::RARP => arp(d, off, Net::Rarp, out),
        ether_type::TEB => ethernet(d, off, out, depth),
        _ => {
            out.net = Net::Ether;
            false
        }
    }
}

/// 802.2 LLC after an 802.3 length field; SNAP continues with its ethertype.
fn llc(d: &[u8], off: usize, out: &mut PacketInfo, depth: u8) -> bool {
    out.ethertype = 0;
    let Some([dsap, ssap, ctrl]) = bytes::<3>(d, off) else {
        out.malformed = Malformed::TruncatedLink;
        return false;
    };
    out.encaps |= encaps::LLC;
    if dsap == 0xaa && ssap == 0xaa && ctrl == 0x03 {
        // SNAP: 3-byte OUI, then an ethertype.
        let Some(et) = be16(d, off + 6) else {
            out.malformed = Malformed::TruncatedLink;
            return false;
        };
        return by_ether_type(d, off + 8, et, out, depth + 1);
    }
    out.net = Net::Llc;
    out.llc_dsap = dsap;
    out.llc_ssap = ssap;
    false
}

/// An MPLS label stack down to bottom-of-stack, then IPv4/IPv6 by version nibble,
/// or Ethernet pseudowire after a zero control word.
fn mpls(d: &[u8], mut off: usize, out: &mut PacketInfo, depth: u8) -> bool {
    out.encaps |= encaps::MPLS;
    let mut labels = 0u8;
    loop {
        if labels == MAX_MPLS_LABELS {
            out.malformed = Malformed::TooDeep;
            return false;
        }
        let Some(entry) = be32(d, off) else {
            out.malformed = Malformed::TruncatedLink;
            return false;
        };
        if !out.has_mpls {
            out.has_mpls = true;
            out.mpls_label = entry >> 12;
        }
        labels += 1;
        off += 4;
        if entry & 0x100 != 0 {
            break;
        }
    }
    let Some(first) = u8_at(d, off) else {
        // The stack says something follows; the flow needs it.
        out.malformed = Malformed::TruncatedIp;
        return false;
    };
    match first >> 4 {
        4 => ipv4(d, off, out, depth),
        6 => ipv6(d, off, out, depth),
        // Pseudowire control word (RFC 4385): first nibble 0, 4 bytes.
        0 => ethernet(d, off + 4, out, depth),
        _ => {
            out.net = Net::Ether;
            false
        }
    }
}

/// PPPoE session header (6 bytes) and the PPP protocol (2 bytes).
fn pppoe(d: &[u8], off: usize, out: &mut PacketInfo, depth: u8) -> bool {
    let Some(proto) = be16(d, off + 6) else {
        out.malformed = Malformed::TruncatedLink;
        return false;
    };
    out.encaps |= encaps::PPPOE;
    match proto {
        ppp_proto::IPV4 => ipv4(d, off + 8, out, depth),
        ppp_proto::IPV6 => ipv6(d, off + 8, out, depth),
        // LCP, IPCP, ...: a non-IP flow of ethertype 0x8864.
        _ => {
            out.net = Net::Ether;
            false
        }
    }
}

/// ARP/RARP; `ArpInfo` is filled for Ethernet/IPv4 ARP only.
fn arp(d: &[u8], off: usize, net: Net, out: &mut PacketInfo) -> bool {
    out.net = net;
    let Some(fixed) = bytes::<8>(d, off) else {
        out.malformed = Malformed::TruncatedLink;
        return false;
    };
    let [h0, h1, p0, p1, hlen, plen, o0, o1] = fixed;
    out.arp.op = u16::from_be_bytes([o0, o1]);
    // Addresses sit where the header's own lengths put them (Argus reads
    // them so even when the lengths are not Ethernet/IPv4's 6 and 4).
    let _ = (h0, h1, p0, p1);
    let (hl, pl) = (usize::from(hlen), usize::from(plen));
    let (Some(sm), Some(si), Some(tm), Some(ti)) = (
        bytes::<6>(d, off + 8),
        bytes::<4>(d, off + 8 + hl),
        bytes::<6>(d, off + 8 + hl + pl),
        bytes::<4>(d, off + 8 + 2 * hl + pl),
    ) else {
        out.malformed = Malformed::TruncatedLink;
        return false;
    };
    out.arp.valid = true;
    out.arp.sender_mac = sm;
    out.arp.sender_ip = si;
    out.arp.target_mac = tm;
    out.arp.target_ip = ti;
    false
}

/// Linux cooked capture v1: pkttype(2) arphrd(2) addr_len(2) addr(8) proto(2).
fn sll(d: &[u8], out: &mut PacketInfo) {
    let (Some(hatype), Some(alen), Some(addr), Some(proto)) =
        (be16(d, 2), be16(d, 4), bytes::<8>(d, 6), be16(d, 14))
    else {
        out.malformed = Malformed::TruncatedLink;
        return;
    };
    // Argus marks cooked captures as Ethernet and SLL (flgs '*').
    out.encaps |= encaps::SLL | encaps::ETHER;
    sll_common(d, 16, hatype, alen, addr, proto, out);
}

/// Linux cooked capture v2: proto(2) reserved(2) ifindex(4) arphrd(2) pkttype(1)
/// addr_len(1) addr(8).
fn sll2(d: &[u8], out: &mut PacketInfo) {
    let (Some(proto), Some(hatype), Some(alen), Some(addr)) =
        (be16(d, 0), be16(d, 8), u8_at(d, 11), bytes::<8>(d, 12))
    else {
        out.malformed = Malformed::TruncatedLink;
        return;
    };
    out.encaps |= encaps::SLL | encaps::ETHER;
    sll_common(d, 20, hatype, u16::from(alen), addr, proto, out);
}

fn sll_common(
    d: &[u8],
    off: usize,
    hatype: u16,
    alen: u16,
    addr: [u8; 8],
    proto: u16,
    out: &mut PacketInfo,
) {
    const ARPHRD_ETHER: u16 = 1;
    const ARPHRD_LOOPBACK: u16 = 772;
    if matches!(hatype, ARPHRD_ETHER | ARPHRD_LOOPBACK) && alen == 6 {
        out.has_mac = true;
        out.src_mac = [addr[0], addr[1], addr[2], addr[3], addr[4], addr[5]];
    }
    match proto {
        // LINUX_SLL_P_802_3 (Novell raw 802.3) and LINUX_SLL_P_802_2 (LLC frame).
        0x0001 | 0x0004 => {
            llc(d, off, out, 0);
        }
        _ => {
            by_ether_type(d, off, proto, out, 0);
        }
    }
}

/// Raw IP: the version nibble decides.
fn raw_ip(d: &[u8], off: usize, out: &mut PacketInfo, depth: u8) -> bool {
    match u8_at(d, off).map(|b| b >> 4) {
        None => {
            out.malformed = Malformed::TruncatedIp;
            false
        }
        Some(4) => ipv4(d, off, out, depth),
        Some(6) => ipv6(d, off, out, depth),
        Some(_) => {
            out.malformed = Malformed::BadIpHeader;
            false
        }
    }
}

/// BSD NULL (host byte order of the capturing machine) and OpenBSD LOOP (network
/// order): a 4-byte address family. Both orders are accepted for both.
fn null_loop(d: &[u8], out: &mut PacketInfo) {
    let Some(raw) = bytes::<4>(d, 0) else {
        out.malformed = Malformed::TruncatedLink;
        return;
    };
    out.encaps |= encaps::NULL;
    let le = u32::from_le_bytes(raw);
    let af = if le > 0xffff {
        u32::from_be_bytes(raw)
    } else {
        le
    };
    match af {
        2 => {
            ipv4(d, 4, out, 0);
        }
        // AF_INET6 on NetBSD/OpenBSD (24), FreeBSD (28), macOS (30); Linux (10).
        10 | 24 | 28 | 30 => {
            ipv6(d, 4, out, 0);
        }
        // Unknown family: trust the version nibble if it is IP.
        _ => match u8_at(d, 4).map(|b| b >> 4) {
            Some(4 | 6) => {
                raw_ip(d, 4, out, 0);
            }
            _ => out.malformed = Malformed::UnknownLinkType,
        },
    }
}

/// PPP: optional 0xff 0x03 address/control, then the protocol (1 byte when
/// compressed: an odd first byte).
fn ppp(d: &[u8], out: &mut PacketInfo) {
    // 0xff (all-stations address) never starts a protocol field: it is the
    // address/control pair 0xff 0x03.
    let off = match d.first() {
        None => {
            out.malformed = Malformed::TruncatedLink;
            return;
        }
        Some(0xff) => 2,
        Some(_) => 0,
    };
    let mut off = off;
    let Some(first) = u8_at(d, off) else {
        out.malformed = Malformed::TruncatedLink;
        return;
    };
    let proto = if first & 1 == 1 {
        off += 1;
        u16::from(first)
    } else {
        let Some(p) = be16(d, off) else {
            out.malformed = Malformed::TruncatedLink;
            return;
        };
        off += 2;
        p
    };
    out.encaps |= encaps::PPP;
    out.ethertype = proto;
    match proto {
        ppp_proto::IPV4 => {
            ipv4(d, off, out, 0);
        }
        ppp_proto::IPV6 => {
            ipv6(d, off, out, 0);
        }
        ppp_proto::MPLS_UC | ppp_proto::MPLS_MC => {
            mpls(d, off, out, 0);
        }
        _ => out.net = Net::Ether,
    }
}

/// Cisco HDLC: address(1) control(1) ethertype(2).
fn cisco_hdlc(d: &[u8], out: &mut PacketInfo) {
    let Some(et) = be16(d, 2) else {
        out.malformed = Malformed::TruncatedLink;
        return;
    };
    out.encaps |= encaps::CHDLC;
    // 0x8035 is Cisco SLARP here, not RARP.
    const SLARP: u16 = 0x8035;
    if et == SLARP {
        out.ethertype = et;
        out.net = Net::Ether;
        return;
    }
    by_ether_type(d, 4, et, out, 0);
}

// ---------------------------------------------------------------------------
// IP
// ---------------------------------------------------------------------------

/// IPv4 at `off`. Returns true when the header is complete and valid (the flow
/// fields describe this header or a successfully decapsulated inner one).
fn ipv4(d: &[u8], off: usize, out: &mut PacketInfo, depth: u8) -> bool {
    if depth >= MAX_DEPTH {
        out.malformed = Malformed::TooDeep;
        return false;
    }
    let Some(h) = bytes::<20>(d, off) else {
        out.malformed = Malformed::TruncatedIp;
        return false;
    };
    if h[0] >> 4 != 4 {
        out.malformed = Malformed::BadIpHeader;
        return false;
    }
    ipv4_fields(&h, out);
    let header_len = usize::from(h[0] & 0x0f) * 4;
    let mut total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total_len == 0 {
        // Segmentation offload (TSO, Linux BIG TCP) leaves the total length 0:
        // the datagram is the rest of the frame on the wire.
        total_len = (out.wire_len as usize).saturating_sub(off);
    }
    if header_len < 20 || total_len < header_len {
        out.malformed = Malformed::BadIpHeader;
        return false;
    }
    let Some(options) = d.get(off + 20..off + header_len) else {
        out.malformed = Malformed::TruncatedIp;
        return false;
    };
    out.ip_options = ipv4_options(options);
    out.l4_len = (total_len - header_len) as u32;
    // The datagram ends at its total length or at the captured end.
    let view = d.get(..d.len().min(off + total_len)).unwrap_or(d);
    let mut l4_off = off + header_len;
    let mut proto = out.proto;
    // AH in IPv4: skip it like an IPv6 extension header.
    // Not in fragments: every fragment of a datagram must report the same proto.
    if proto == ip_proto::AH && !out.frag.is_fragment {
        let (Some(next), Some(len)) = (u8_at(view, l4_off), u8_at(view, l4_off + 1)) else {
            out.malformed = cut_reason(d, off + total_len);
            return false;
        };
        let ah_len = (usize::from(len) + 2) * 4;
        if !has(view, l4_off, ah_len) {
            out.malformed = cut_reason(d, off + total_len);
            return false;
        }
        l4_off += ah_len;
        out.l4_len = out.l4_len.saturating_sub(ah_len as u32);
        proto = next;
        out.proto = next;
    }
    transport(view, l4_off, proto, false, out, depth);
    true
}

/// What an IPv4 header's first 20 bytes say of the packet: addresses,
/// protocol, TTL, TOS, id and fragment fields.
#[inline(always)]
fn ipv4_fields(h: &[u8; 20], out: &mut PacketInfo) {
    out.net = Net::Ipv4;
    out.tos = h[1];
    out.ip_id = u32::from(u16::from_be_bytes([h[4], h[5]]));
    out.ttl = h[8];
    out.proto = h[9];
    // Each address written whole, in one store: the key is made from them
    // right after, and a 16-byte load of bytes that two stores wrote (the
    // zeros, then the address) waits for both to retire instead of taking
    // them from the store buffer.
    let v4 = |a: [u8; 4]| u128::from(u32::from_le_bytes(a)).to_le_bytes();
    out.src_ip = v4([h[12], h[13], h[14], h[15]]);
    out.dst_ip = v4([h[16], h[17], h[18], h[19]]);
    let frag = u16::from_be_bytes([h[6], h[7]]);
    out.frag = FragInfo {
        offset: u32::from(frag & 0x1fff) * 8,
        more: frag & 0x2000 != 0,
        is_fragment: frag & 0x3fff != 0,
        id: out.ip_id,
    };
}

/// IPv4 option bits (`ipopt`).
fn ipv4_options(opts: &[u8]) -> u16 {
    let mut bits = 0;
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            0 => break,
            1 => {
                i += 1;
                continue;
            }
            _ => {}
        }
        bits |= match kind {
            0x89 => ipopt::SSRR,
            0x83 => ipopt::LSRR,
            0x44 => ipopt::TIMESTAMP,
            0x82 | 0x85 => ipopt::SECURITY,
            0x07 => ipopt::RR,
            0x94 => ipopt::ROUTER_ALERT,
            0x88 => ipopt::SATID,
            _ => ipopt::UNKNOWN,
        };
        match opts.get(i + 1) {
            Some(&len) if len >= 2 => i += usize::from(len),
            // A length below 2 or past the end: stop, keep what was seen.
            _ => break,
        }
    }
    bits
}

/// IPv6 at `off`, with its extension headers.
fn ipv6(d: &[u8], off: usize, out: &mut PacketInfo, depth: u8) -> bool {
    if depth >= MAX_DEPTH {
        out.malformed = Malformed::TooDeep;
        return false;
    }
    let Some(h) = bytes::<40>(d, off) else {
        out.malformed = Malformed::TruncatedIp;
        return false;
    };
    if h[0] >> 4 != 6 {
        out.malformed = Malformed::BadIpHeader;
        return false;
    }
    out.net = Net::Ipv6;
    out.tos = (h[0] << 4) | (h[1] >> 4);
    out.ttl = h[7];
    out.src_ip.copy_from_slice(&h[8..24]);
    out.dst_ip.copy_from_slice(&h[24..40]);
    out.ip_id = 0;
    out.frag = FragInfo::default();
    let mut payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if payload_len == 0 && h[6] == ip_proto::HOPOPT {
        // A jumbogram (RFC 2675) or BIG TCP: the length is in a hop-by-hop option.
        payload_len = ipv6_jumbo_len(d, off + 40).unwrap_or(0);
    }
    let end = off + 40 + payload_len;
    let view = d.get(..d.len().min(end)).unwrap_or(d);
    let ext = ipv6_ext_headers(view, off + 40, h[6], Some(&mut out.frag));
    out.proto = ext.proto;
    out.ip_id = out.frag.id;
    out.l4_len = payload_len.saturating_sub(ext.off - (off + 40)) as u32;
    if !ext.complete {
        out.malformed = cut_reason(d, end);
        return false;
    }
    transport(view, ext.off, ext.proto, true, out, depth);
    true
}

/// Why an IP header (options, extension headers) ends early: cut by the snap
/// length (`TruncatedIp`), or running past its own datagram's length, which was
/// fully captured (`BadIpHeader`).
fn cut_reason(d: &[u8], datagram_end: usize) -> Malformed {
    if d.len() >= datagram_end {
        Malformed::BadIpHeader
    } else {
        Malformed::TruncatedIp
    }
}

/// The Jumbo Payload option (0xc2) of the hop-by-hop header at `off`.
fn ipv6_jumbo_len(d: &[u8], off: usize) -> Option<usize> {
    let end = off + (usize::from(u8_at(d, off + 1)?) + 1) * 8;
    let mut i = off + 2;
    while i < end {
        match u8_at(d, i)? {
            0 => i += 1,
            0xc2 => return be32(d, i + 2).map(|len| len as usize),
            _ => i += 2 + usize::from(u8_at(d, i + 1)?),
        }
    }
    None
}

struct ExtEnd {
    /// The protocol after the last extension header (or the one cut short).
    proto: u8,
    /// Where it starts.
    off: usize,
    /// False when an extension header is cut short.
    complete: bool,
}

/// Skips IPv6 extension headers starting with `next` at `off`. Stops after the
/// fragment header of a fragmented datagram.
fn ipv6_ext_headers(
    d: &[u8],
    mut off: usize,
    mut next: u8,
    mut frag: Option<&mut FragInfo>,
) -> ExtEnd {
    loop {
        let len = match next {
            ip_proto::HOPOPT | ip_proto::ROUTING | ip_proto::DSTOPTS | ip_proto::MOBILITY => {
                u8_at(d, off + 1).map(|l| (usize::from(l) + 1) * 8)
            }
            ip_proto::AH => u8_at(d, off + 1).map(|l| (usize::from(l) + 2) * 4),
            ip_proto::FRAGMENT => Some(8),
            _ => {
                return ExtEnd {
                    proto: next,
                    off,
                    complete: true,
                }
            }
        };
        let (Some(len), Some(following)) = (len, u8_at(d, off)) else {
            return ExtEnd {
                proto: next,
                off,
                complete: false,
            };
        };
        if !has(d, off, len) {
            return ExtEnd {
                proto: next,
                off,
                complete: false,
            };
        }
        if next == ip_proto::FRAGMENT {
            let (Some(fo), Some(id)) = (be16(d, off + 2), be32(d, off + 4)) else {
                return ExtEnd {
                    proto: next,
                    off,
                    complete: false,
                };
            };
            let info = FragInfo {
                offset: u32::from(fo & 0xfff8),
                more: fo & 1 != 0,
                is_fragment: fo & 0xfff9 != 0,
                id,
            };
            if let Some(f) = frag.as_deref_mut() {
                *f = info;
            }
            // In a fragmented datagram, stop after the fragment header: later
            // fragments cannot see the headers that follow it, and every
            // fragment must report the same `proto` to be reassembled.
            if info.is_fragment {
                return ExtEnd {
                    proto: following,
                    off: off + len,
                    complete: true,
                };
            }
        }
        next = following;
        off += len;
    }
}

// ---------------------------------------------------------------------------
// Transport and tunnels
// ---------------------------------------------------------------------------

/// The IP payload at `off` (the view `d` ends at the datagram's end).
fn transport(d: &[u8], off: usize, proto: u8, v6: bool, out: &mut PacketInfo, depth: u8) {
    // Defaults for protocols without a parsed header: all of it is payload.
    out.app_len = out.l4_len;
    set_payload(d, off, out);
    if out.frag.offset != 0 {
        return;
    }
    let tunnel_ok = !out.frag.is_fragment;
    match proto {
        ip_proto::TCP => tcp(d, off, out),
        ip_proto::UDP | ip_proto::UDPLITE => udp(d, off, v6, out, depth),
        ip_proto::SCTP => {
            if let Some(h) = fixed_l4::<12>(d, off, out) {
                out.sport = u16::from_be_bytes([h[0], h[1]]);
                out.dport = u16::from_be_bytes([h[2], h[3]]);
            }
        }
        ip_proto::ICMP if !v6 => icmp(d, off, false, out),
        ip_proto::ICMPV6 if v6 => icmp(d, off, true, out),
        ip_proto::IGMP => {
            fixed_l4::<8>(d, off, out);
        }
        ip_proto::ESP => {
            if let Some(spi) = be32(d, off) {
                out.esp_spi = spi;
            }
            fixed_l4::<8>(d, off, out);
        }
        ip_proto::GRE if tunnel_ok => gre(d, off, out, depth),
        ip_proto::IPIP if tunnel_ok => {
            decap(out, encaps::IPIP, |o| {
                o.ethertype = inner_ether_type(o.ethertype, ether_type::IPV4);
                ipv4(d, off, o, depth + 1)
            });
        }
        ip_proto::IPV6 if tunnel_ok => {
            decap(out, encaps::IP6IN4, |o| {
                o.ethertype = inner_ether_type(o.ethertype, ether_type::IPV6);
                ipv6(d, off, o, depth + 1)
            });
        }
        _ => {}
    }
}

/// The ethertype an IP-in-IP inner header is shown with: only where the outer
/// one came with an ethertype at all.
fn inner_ether_type(outer: u16, inner: u16) -> u16 {
    if outer == 0 {
        0
    } else {
        inner
    }
}

/// Points `payload_off`/`payload_caplen` at `off` in the view.
fn set_payload(d: &[u8], off: usize, out: &mut PacketInfo) {
    out.payload_off = u32::try_from(off).unwrap_or(u32::MAX);
    out.payload_caplen = u32::try_from(d.len().saturating_sub(off)).unwrap_or(u32::MAX);
}

/// A transport header of fixed length `N`: sets `has_l4`, `app_len` and the
/// payload, or `TruncatedL4`.
fn fixed_l4<const N: usize>(d: &[u8], off: usize, out: &mut PacketInfo) -> Option<[u8; N]> {
    let Some(h) = bytes::<N>(d, off) else {
        out.malformed = Malformed::TruncatedL4;
        return None;
    };
    out.has_l4 = true;
    out.app_len = out.l4_len.saturating_sub(N as u32);
    set_payload(d, off + N, out);
    Some(h)
}

fn tcp(d: &[u8], off: usize, out: &mut PacketInfo) {
    out.tcp.wscale = 0xff;
    let Some(h) = bytes::<20>(d, off) else {
        // Keep the ports if they made it: the engine may still want them.
        if let (Some(s), Some(t)) = (be16(d, off), be16(d, off + 2)) {
            out.sport = s;
            out.dport = t;
        }
        out.malformed = Malformed::TruncatedL4;
        return;
    };
    out.sport = u16::from_be_bytes([h[0], h[1]]);
    out.dport = u16::from_be_bytes([h[2], h[3]]);
    let header_len = usize::from(h[12] >> 4) * 4;
    out.tcp.seq = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    out.tcp.ack = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    out.tcp.flags = h[13];
    out.tcp.window = u16::from_be_bytes([h[14], h[15]]);
    out.tcp.header_len = header_len as u8;
    if header_len < 20 {
        out.malformed = Malformed::BadL4Header;
        return;
    }
    out.has_l4 = true;
    out.app_len = out.l4_len.saturating_sub(header_len as u32);
    let opts_end = d.len().min(off + header_len);
    let opts = d.get(off + 20..opts_end).unwrap_or(&[]);
    tcp_options(opts, &mut out.tcp);
    set_payload(d, off + header_len, out);
    if opts_end < off + header_len {
        out.malformed = Malformed::TruncatedL4;
    }
}

/// TCP option bits, MSS and window scale. Stops at the end-of-list option or at
/// an option cut short.
fn tcp_options(opts: &[u8], tcp: &mut TcpInfo) {
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            0 => break,
            1 => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let len = match opts.get(i + 1) {
            Some(&l) if l >= 2 => usize::from(l),
            _ => break,
        };
        let Some(body) = opts.get(i + 2..i + len) else {
            break;
        };
        match (kind, body) {
            (2, &[a, b]) => {
                tcp.options |= tcpopt::MSS;
                tcp.mss = u16::from_be_bytes([a, b]);
            }
            (3, &[shift]) => {
                tcp.options |= tcpopt::WSCALE;
                tcp.wscale = shift;
            }
            (4, _) => tcp.options |= tcpopt::SACK_OK,
            (5, _) => tcp.options |= tcpopt::SACK,
            (6, _) => tcp.options |= tcpopt::ECHO,
            (7, _) => tcp.options |= tcpopt::ECHO_REPLY,
            (8, _) => tcp.options |= tcpopt::TIMESTAMP,
            (11, _) => tcp.options |= tcpopt::CC,
            (12, _) => tcp.options |= tcpopt::CC_NEW,
            (13, _) => tcp.options |= tcpopt::CC_ECHO,
            _ => {}
        }
        i += len;
    }
}

fn udp(d: &[u8], off: usize, v6: bool, out: &mut PacketInfo, depth: u8) {
    let Some(h) = fixed_l4::<8>(d, off, out) else {
        if let (Some(s), Some(t)) = (be16(d, off), be16(d, off + 2)) {
            out.sport = s;
            out.dport = t;
        }
        return;
    };
    out.sport = u16::from_be_bytes([h[0], h[1]]);
    out.dport = u16::from_be_bytes([h[2], h[3]]);
    let payload = off + 8;
    if !v6 && (out.sport == DNS_PORT || out.dport == DNS_PORT) {
        match be16(d, payload) {
            Some(txid) => {
                out.has_dns_txid = true;
                out.dns_txid = txid;
            }
            // The transaction id is part of an IPv4 DNS flow's key.
            None if out.app_len >= 2 => out.malformed = Malformed::TruncatedL4,
            None => {}
        }
    }
    if out.dport == VXLAN_PORT && !out.frag.is_fragment {
        // VXLAN: flags(1) with I = 0x08, reserved(3), VNI(3), reserved(1).
        match bytes::<8>(d, payload) {
            Some([flags, ..]) if flags & 0x08 != 0 => {
                decap(out, encaps::VXLAN, |o| {
                    ethernet(d, payload + 8, o, depth + 1)
                });
            }
            Some(_) => {}
            // The datagram holds a VXLAN header that was not captured.
            None if out.app_len >= 8 => out.malformed = Malformed::TruncatedLink,
            None => {}
        }
    }
}

fn icmp(d: &[u8], off: usize, v6: bool, out: &mut PacketInfo) {
    let (Some(ty), Some(code)) = (u8_at(d, off), u8_at(d, off + 1)) else {
        out.malformed = Malformed::TruncatedL4;
        return;
    };
    out.icmp_type = ty;
    out.icmp_code = code;
    let Some(h) = fixed_l4::<8>(d, off, out) else {
        return;
    };
    let (echo, error) = if v6 {
        (matches!(ty, 128 | 129), matches!(ty, 1..=4))
    } else {
        (matches!(ty, 0 | 8), matches!(ty, 3 | 4 | 5 | 11 | 12))
    };
    if echo {
        out.icmp_id = u16::from_be_bytes([h[4], h[5]]);
        out.icmp_seq = u16::from_be_bytes([h[6], h[7]]);
    }
    if error {
        out.quoted = quoted(d, off + 8);
    }
}

/// The flow an ICMP error quotes: its embedded IP header and first L4 bytes.
fn quoted(d: &[u8], off: usize) -> Quoted {
    let mut q = Quoted::default();
    let (proto, l4) = match u8_at(d, off).map(|b| b >> 4) {
        Some(4) => {
            let Some(h) = bytes::<20>(d, off) else {
                return q;
            };
            q.src[..4].copy_from_slice(&h[12..16]);
            q.dst[..4].copy_from_slice(&h[16..20]);
            let frag_off = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
            let l4 = (frag_off == 0).then_some(off + usize::from(h[0] & 0x0f) * 4);
            (h[9], l4)
        }
        Some(6) => {
            let Some(h) = bytes::<40>(d, off) else {
                return q;
            };
            q.v6 = true;
            q.src.copy_from_slice(&h[8..24]);
            q.dst.copy_from_slice(&h[24..40]);
            let mut frag = FragInfo::default();
            let ext = ipv6_ext_headers(d, off + 40, h[6], Some(&mut frag));
            (
                ext.proto,
                (ext.complete && frag.offset == 0).then_some(ext.off),
            )
        }
        _ => return q,
    };
    q.valid = true;
    q.proto = proto;
    if let Some(l4) = l4 {
        if matches!(
            proto,
            ip_proto::TCP | ip_proto::UDP | ip_proto::UDPLITE | ip_proto::SCTP
        ) {
            if let (Some(s), Some(t)) = (be16(d, l4), be16(d, l4 + 2)) {
                q.sport = s;
                q.dport = t;
                if proto == ip_proto::UDP && !q.v6 && (s == DNS_PORT || t == DNS_PORT) {
                    q.dns_txid = be16(d, l4 + 8);
                }
            }
        } else if matches!(proto, ip_proto::ICMP | ip_proto::ICMPV6) {
            if let (Some(tc), Some(id), Some(seq)) = (be16(d, l4), be16(d, l4 + 4), be16(d, l4 + 6))
            {
                q.sport = tc;
                q.dport = id;
                q.seq = seq;
            }
        }
    }
    q
}

/// GRE (RFC 2784/2890). Version 0 with a protocol we follow is decapsulated;
/// PPTP (version 1), source routing and other protocols keep the outer flow.
fn gre(d: &[u8], off: usize, out: &mut PacketInfo, depth: u8) {
    // A GRE header cut short hides the inner flow: count it (the outer flow stays).
    let (Some(flags), Some(proto)) = (be16(d, off), be16(d, off + 2)) else {
        out.malformed = Malformed::TruncatedLink;
        return;
    };
    const CHECKSUM: u16 = 0x8000;
    const ROUTING: u16 = 0x4000;
    const KEY: u16 = 0x2000;
    const SEQUENCE: u16 = 0x1000;
    if flags & 0x0007 != 0 || flags & ROUTING != 0 {
        return;
    }
    let mut inner = off + 4;
    for bit in [CHECKSUM, KEY, SEQUENCE] {
        if flags & bit != 0 {
            inner += 4;
        }
    }
    if !has(d, off, inner - off) {
        out.malformed = Malformed::TruncatedLink;
        return;
    }
    match proto {
        ether_type::IPV4
        | ether_type::IPV6
        | ether_type::MPLS_UC
        | ether_type::MPLS_MC
        | ether_type::TEB => {
            decap(out, encaps::GRE, |o| {
                by_ether_type(d, inner, proto, o, depth + 1)
            });
        }
        ether_type::ERSPAN_II => {
            // Type I has no header (and no sequence bit); type II has 8 bytes.
            let start = if flags & SEQUENCE != 0 {
                inner + 8
            } else {
                inner
            };
            decap(out, encaps::GRE, |o| ethernet(d, start, o, depth + 1));
        }
        ether_type::ERSPAN_III => {
            // 12 bytes, plus an 8-byte platform subheader when O (last bit) is set.
            let Some(last) = u8_at(d, inner + 11) else {
                out.malformed = Malformed::TruncatedLink;
                return;
            };
            let start = inner + 12 + if last & 1 != 0 { 8 } else { 0 };
            decap(out, encaps::GRE, |o| ethernet(d, start, o, depth + 1));
        }
        _ => {}
    }
}

/// Replaces the outer flow with the inner one parsed by `inner`, or restores the
/// outer flow (keeping the inner failure reason in `malformed`) when `inner`
/// returns false: no usable inner IP header.
fn decap(out: &mut PacketInfo, bit: u32, inner: impl FnOnce(&mut PacketInfo) -> bool) {
    let outer = *out;
    *out = PacketInfo {
        ts_ns: outer.ts_ns,
        wire_len: outer.wire_len,
        cap_len: outer.cap_len,
        encaps: outer.encaps | bit,
        malformed: outer.malformed,
        has_mac: outer.has_mac,
        src_mac: outer.src_mac,
        dst_mac: outer.dst_mac,
        has_vlan: outer.has_vlan,
        vlan_tci: outer.vlan_tci,
        has_mpls: outer.has_mpls,
        mpls_label: outer.mpls_label,
        ethertype: outer.ethertype,
        ..PacketInfo::default()
    };
    if !inner(out) {
        let reason = out.malformed;
        *out = outer;
        out.malformed = reason;
    }
}

// ---------------------------------------------------------------------------
// Bounds-checked reads
// ---------------------------------------------------------------------------

/// `d[off..off + n]` is captured.
fn has(d: &[u8], off: usize, n: usize) -> bool {
    off.checked_add(n).is_some_and(|end| end <= d.len())
}

fn u8_at(d: &[u8], off: usize) -> Option<u8> {
    d.get(off).copied()
}

fn bytes<const N: usize>(d: &[u8], off: usize) -> Option<[u8; N]> {
    d.get(off..off.checked_add(N)?)?.try_into().ok()
}

fn be16(d: &[u8], off: usize) -> Option<u16> {
    bytes::<2>(d, off).map(u16::from_be_bytes)
}

fn be32(d: &[u8], off: usize) -> Option<u32> {
    bytes::<4>(d, off).map(u32::from_be_bytes)
}

#[cfg(test)]
mod tests;

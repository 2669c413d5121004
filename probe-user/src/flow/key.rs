//! Argus's flow-key rules: which packets belong to one flow.
//!
//! - IPv4/IPv6 TCP, UDP, SCTP: addresses and ports.
//! - IPv4 UDP with port 53: the DNS transaction id joins the key, so each query
//!   and its response are one flow (Argus does not do this for IPv6).
//! - ICMPv4 echo: type, id and sequence (every ping is its own flow);
//!   ICMPv6 echo: type and id (one flow per ping session).
//! - ICMP unreachable: type/code and the quoted destination port; other ICMP:
//!   type/code.
//! - ESP: addresses and SPI. Other IP protocols: addresses and protocol.
//! - Fragments after the first: addresses, protocol and IP id, until they are
//!   matched with the first fragment's flow.
//! - ARP/RARP: sender and target protocol addresses. Non-IP: MACs and ethertype
//!   (or LLC SAPs).

use super::slab::Slab;
use crate::packet::{Net, PacketInfo};
use ocellus_common::{ipproto, FlowKey, KeyClass, AUX_FRAGMENT};

/// ICMP types whose flows are echo sessions.
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_UNREACH: u8 = 3;
const ICMP_ECHO: u8 = 8;
const ICMP6_UNREACH: u8 = 1;
const ICMP6_ECHO: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;

/// The request type of an ICMP request/reply pair (echo, timestamp,
/// information, mask; ICMPv6 echo, router and neighbour discovery), or the type
/// itself.
pub fn icmp_request_type(v6: bool, t: u8) -> u8 {
    match (v6, t) {
        (false, ICMP_ECHO_REPLY) => ICMP_ECHO,
        (false, 14) => 13,
        (false, 16) => 15,
        (false, 18) => 17,
        (true, ICMP6_ECHO_REPLY) => ICMP6_ECHO,
        (true, 134) => 133,
        (true, 136) => 135,
        _ => t,
    }
}

/// Whether an ICMP(v6) type is an error that quotes another flow.
pub fn icmp_is_error(v6: bool, icmp_type: u8) -> bool {
    if v6 {
        matches!(icmp_type, 1..=4)
    } else {
        matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
    }
}

/// The Argus flgs[2] letter for an ICMP error mapped onto the flow it quotes.
pub fn icmp_map_letter(v6: bool, icmp_type: u8) -> u8 {
    match (v6, icmp_type) {
        (false, 3) | (true, 1) => b'U',
        (false, 5) => b'R',
        (false, 11) | (true, 3) => b'T',
        _ => b'I',
    }
}

/// The key a packet belongs to, as the packet sees it: `key.src` is the packet's
/// sender. `None` when the frame has nothing to key on.
///
/// Most packets are IPv4 TCP or UDP, whole, and not DNS: their key is their
/// addresses, protocol and ports, made without a call; the rest go to
/// [`packet_key_general`], which gives the same key for those too (tests).
#[inline]
pub fn packet_key(p: &PacketInfo) -> Option<FlowKey> {
    let mut k = FlowKey::ZERO;
    packet_key_into(p, &mut k).then_some(k)
}

/// [`packet_key`] written into `k`; false (and `k` unspecified) when the
/// frame has nothing to key on. The reader makes each key in place in its
/// batch: a key returned by value went through the stack, and the copy's
/// 8-byte loads spanned the smaller stores that had just made it, which the
/// CPU cannot forward (a stall on every packet).
#[inline]
pub fn packet_key_into(p: &PacketInfo, k: &mut FlowKey) -> bool {
    if p.net == Net::Ipv4
        && p.has_l4
        && !p.frag.is_fragment
        && (p.proto == ipproto::TCP || (p.proto == ipproto::UDP && !p.has_dns_txid))
    {
        k.src = p.src_ip;
        k.dst = p.dst_ip;
        k.sport = p.sport;
        k.dport = p.dport;
        k.aux = 0;
        k.proto = p.proto;
        k.class = KeyClass::Ipv4 as u8;
        k._pad = [0; 6];
        return true;
    }
    match packet_key_general(p) {
        Some(g) => {
            *k = g;
            true
        }
        None => false,
    }
}

/// [`packet_key`] for any packet.
#[inline(never)]
pub fn packet_key_general(p: &PacketInfo) -> Option<FlowKey> {
    let mut k = FlowKey::ZERO;
    match p.net {
        Net::None => return None,
        Net::Ipv4 | Net::Ipv6 => {
            let v6 = p.net == Net::Ipv6;
            k.class = if v6 { KeyClass::Ipv6 } else { KeyClass::Ipv4 } as u8;
            k.src = p.src_ip;
            k.dst = p.dst_ip;
            k.proto = p.proto;
            if p.frag.is_fragment && p.frag.offset != 0 {
                k.aux = AUX_FRAGMENT | (p.frag.id & !AUX_FRAGMENT);
                return Some(k);
            }
            match p.proto {
                ipproto::TCP | ipproto::UDP | ipproto::SCTP if p.has_l4 => {
                    k.sport = p.sport;
                    k.dport = p.dport;
                    if p.proto == ipproto::UDP && !v6 && p.has_dns_txid {
                        k.aux = p.dns_txid as u32 + 1;
                    }
                }
                ipproto::ICMP | ipproto::ICMPV6 if p.has_l4 => {
                    // Requests and replies meet in one flow keyed (and
                    // reported, as Argus does) on the request type.
                    let t = icmp_request_type(v6, p.icmp_type);
                    let echo = if v6 { ICMP6_ECHO } else { ICMP_ECHO };
                    if t == echo {
                        // ICMPv4 pings are one flow each (id and sequence);
                        // ICMPv6 echo is one flow per address pair.
                        k.sport = (echo as u16) << 8;
                        if !v6 {
                            k.dport = p.icmp_id;
                            k.aux = p.icmp_seq as u32 + 1;
                        }
                    } else {
                        k.sport = (t as u16) << 8 | p.icmp_code as u16;
                        let unreach = if v6 { ICMP6_UNREACH } else { ICMP_UNREACH };
                        if t == unreach && p.quoted.valid {
                            // Port unreachable: the quoted destination port;
                            // other codes: the top of the quoted destination address.
                            let port_code = if v6 { 4 } else { 3 };
                            k.dport = if p.icmp_code == port_code {
                                p.quoted.dport
                            } else {
                                u16::from_be_bytes([p.quoted.dst[0], p.quoted.dst[1]])
                            };
                        }
                    }
                }
                ipproto::ESP => k.aux = p.esp_spi,
                _ => {}
            }
        }
        Net::Arp | Net::Rarp => {
            // Keyed from the requester's side: a reply comes from the flow's dst.
            let (s_ip, d_ip, s_mac, d_mac) = if arp_reply(p) {
                (
                    p.arp.target_ip,
                    p.arp.sender_ip,
                    p.arp.target_mac,
                    p.arp.sender_mac,
                )
            } else {
                (
                    p.arp.sender_ip,
                    p.arp.target_ip,
                    p.arp.sender_mac,
                    p.arp.target_mac,
                )
            };
            if p.net == Net::Arp && p.arp.valid {
                k.class = KeyClass::Arp as u8;
                k.src[..4].copy_from_slice(&s_ip);
                k.dst[..4].copy_from_slice(&d_ip);
            } else if p.arp.valid {
                k.class = KeyClass::Rarp as u8;
                k.src[..6].copy_from_slice(&s_mac);
                k.dst[..6].copy_from_slice(&d_mac);
            } else {
                k.class = KeyClass::Ether as u8;
                k.src[..6].copy_from_slice(&p.src_mac);
                k.dst[..6].copy_from_slice(&p.dst_mac);
                k.aux = p.ethertype as u32;
            }
        }
        Net::Ether => {
            k.class = KeyClass::Ether as u8;
            k.src[..6].copy_from_slice(&p.src_mac);
            k.dst[..6].copy_from_slice(&p.dst_mac);
            k.aux = p.ethertype as u32;
        }
        Net::Llc => {
            k.class = KeyClass::Llc as u8;
            k.src[..6].copy_from_slice(&p.src_mac);
            k.dst[..6].copy_from_slice(&p.dst_mac);
            k.sport = p.llc_ssap as u16;
            k.dport = p.llc_dsap as u16;
        }
    }
    Some(k)
}

/// An ARP or RARP reply: its sender is the flow's destination.
pub fn arp_reply(p: &PacketInfo) -> bool {
    matches!(p.net, Net::Arp | Net::Rarp) && p.arp.valid && matches!(p.arp.op, 2 | 4)
}

/// The key a fragment after the first is filed under until it is matched.
pub fn fragment_key(p: &PacketInfo) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.class = if p.net == Net::Ipv6 {
        KeyClass::Ipv6
    } else {
        KeyClass::Ipv4
    } as u8;
    k.src = p.src_ip;
    k.dst = p.dst_ip;
    k.proto = p.proto;
    k.aux = AUX_FRAGMENT | (p.frag.id & !AUX_FRAGMENT);
    k
}

/// The hash that picks a packet's shard. ICMP errors go to the shard of the
/// flow they quote, so the mapping onto that flow happens in order with its
/// packets whatever the number of workers.
pub fn shard_hash(p: &PacketInfo, key: &FlowKey) -> u32 {
    quoted_pair_hash(p, key).unwrap_or_else(|| key.pair_hash())
}

/// [`shard_hash`], and the packet's flow hash (its key's `sym_hash`, the
/// same as its canonical key's) with it, sharing the work on the addresses.
/// Not inlined: in the reader's loop it cost more than the call (callgrind,
/// 10M-packet replay).
#[inline(never)]
pub fn shard_and_flow_hash(p: &PacketInfo, key: &FlowKey) -> (u32, u32) {
    let (pair, sym) = key.pair_and_sym_hash();
    (quoted_pair_hash(p, key).unwrap_or(pair), sym)
}

/// For an ICMP error: the pair hash of the flow it quotes.
#[inline]
fn quoted_pair_hash(p: &PacketInfo, key: &FlowKey) -> Option<u32> {
    if matches!(p.net, Net::Ipv4 | Net::Ipv6)
        && matches!(p.proto, ipproto::ICMP | ipproto::ICMPV6)
        && p.quoted.valid
        && icmp_is_error(p.net == Net::Ipv6, p.icmp_type)
    {
        let mut q = FlowKey::ZERO;
        q.class = key.class;
        q.src = p.quoted.src;
        q.dst = p.quoted.dst;
        return Some(q.pair_hash());
    }
    None
}

/// The quoted flow of an ICMP error, as a key (src = the quoted packet's sender).
pub fn quoted_key(p: &PacketInfo) -> Option<FlowKey> {
    let q = &p.quoted;
    if !q.valid {
        return None;
    }
    let mut k = FlowKey::ZERO;
    k.class = if q.v6 { KeyClass::Ipv6 } else { KeyClass::Ipv4 } as u8;
    k.src = q.src;
    k.dst = q.dst;
    k.proto = q.proto;
    if matches!(q.proto, ipproto::TCP | ipproto::UDP | ipproto::SCTP) {
        k.sport = q.sport;
        k.dport = q.dport;
        if let Some(txid) = q.dns_txid {
            k.aux = txid as u32 + 1;
        }
    } else if matches!(q.proto, ipproto::ICMP | ipproto::ICMPV6) {
        // The quoted ICMP message's own flow, keyed as `packet_key` keys it.
        let t = icmp_request_type(q.v6, (q.sport >> 8) as u8);
        let echo = if q.v6 { ICMP6_ECHO } else { ICMP_ECHO };
        if t == echo {
            k.sport = (echo as u16) << 8;
            if !q.v6 {
                k.dport = q.dport;
                k.aux = q.seq as u32 + 1;
            }
        } else {
            k.sport = (t as u16) << 8 | (q.sport & 0xff);
        }
    }
    Some(k)
}

/// A flow's canonical key as the flow table keeps it: 20 bytes instead of
/// [`FlowKey`]'s 48. Keys whose addresses fit in 4 bytes (IPv4, ARP: nearly
/// every flow) are held whole; the addresses of any other key (IPv6, MAC
/// addresses) live in the shard's [`WideAddrs`] slab, and the key holds
/// their index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct StoredKey {
    /// The source address, or the index of the addresses in the wide slab.
    src: [u8; 4],
    /// The destination address (zero for a wide key).
    dst: [u8; 4],
    pub sport: u16,
    pub dport: u16,
    pub aux: u32,
    pub proto: u8,
    class: u8,
    wide: bool,
    _pad: u8,
}

/// The addresses of a key that does not fit a [`StoredKey`]: source, destination.
pub type WideAddrs = [[u8; 16]; 2];

impl StoredKey {
    /// The key whole, when its addresses fit in 4 bytes.
    #[inline]
    pub fn narrow(k: &FlowKey) -> Option<StoredKey> {
        let rest_zero = |a: &[u8; 16]| u128::from_le_bytes(*a) >> 32 == 0;
        (rest_zero(&k.src) && rest_zero(&k.dst)).then(|| StoredKey {
            src: [k.src[0], k.src[1], k.src[2], k.src[3]],
            dst: [k.dst[0], k.dst[1], k.dst[2], k.dst[3]],
            ..StoredKey::header(k, false)
        })
    }

    /// A key whose addresses are stored at index `at` of the wide slab.
    pub fn wide(k: &FlowKey, at: u32) -> StoredKey {
        StoredKey {
            src: at.to_le_bytes(),
            ..StoredKey::header(k, true)
        }
    }

    fn header(k: &FlowKey, wide: bool) -> StoredKey {
        StoredKey {
            src: [0; 4],
            dst: [0; 4],
            sport: k.sport,
            dport: k.dport,
            aux: k.aux,
            proto: k.proto,
            class: k.class,
            wide,
            _pad: 0,
        }
    }

    /// Where the addresses are in the wide slab, for a wide key.
    #[inline]
    pub fn wide_index(&self) -> Option<u32> {
        self.wide.then(|| u32::from_le_bytes(self.src))
    }

    pub fn class(&self) -> KeyClass {
        KeyClass::from_u8(self.class)
    }

    /// Whether this is `k`, a key that does not fit a narrow [`StoredKey`]
    /// (narrow keys compare whole, with `==`).
    #[inline]
    pub fn is_wide(&self, k: &FlowKey, wide: &Slab<WideAddrs>) -> bool {
        self.wide_index()
            .is_some_and(|at| *self == StoredKey::wide(k, at) && *wide.get(at) == [k.src, k.dst])
    }

    /// The full key.
    pub fn expand(&self, wide: &Slab<WideAddrs>) -> FlowKey {
        let (src, dst) = match self.wide_index() {
            Some(at) => {
                let [s, d] = *wide.get(at);
                (s, d)
            }
            None => {
                // Each address made whole in a register and stored once: a
                // 16-byte load of an array written in parts (as the record's
                // key is read right after) waits for the stores to retire.
                (widen_v4(self.src), widen_v4(self.dst))
            }
        };
        FlowKey {
            src,
            dst,
            sport: self.sport,
            dport: self.dport,
            aux: self.aux,
            proto: self.proto,
            class: self.class,
            _pad: [0; 6],
        }
    }
}

/// An IPv4 address as a key holds it, in bytes 0..4 of 16, made in a
/// vector register so that it is stored with one 16-byte store. (Built as
/// a `u128`, it is stored as two 8-byte halves, and the 16-byte load that
/// copies the key next waits for both: a third of taking a record's time.)
#[inline(always)]
fn widen_v4(a: [u8; 4]) -> [u8; 16] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_cvtsi32_si128};
        // SAFETY: SSE2 is part of the x86-64 baseline; the transmute is
        // between two 16-byte plain-data types.
        unsafe {
            std::mem::transmute::<__m128i, [u8; 16]>(_mm_cvtsi32_si128(i32::from_le_bytes(a)))
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        u128::from(u32::from_le_bytes(a)).to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut of `packet_key` gives the general path's key, over the
    /// fields it tests and the ones the general path looks at besides.
    #[test]
    fn the_common_key_is_the_general_key() {
        let nets = [Net::Ipv4, Net::Ipv6, Net::Arp, Net::Ether, Net::None];
        let protos = [
            ipproto::TCP,
            ipproto::UDP,
            ipproto::ICMP,
            ipproto::SCTP,
            ipproto::ESP,
            47,
        ];
        let mut n = 0;
        for net in nets {
            for proto in protos {
                for bits in 0..32u32 {
                    let mut p = PacketInfo {
                        net,
                        proto,
                        has_l4: bits & 1 != 0,
                        has_dns_txid: bits & 2 != 0,
                        dns_txid: 0x1234,
                        sport: 53,
                        dport: 40000,
                        icmp_type: 8,
                        icmp_id: 7,
                        esp_spi: 99,
                        ..PacketInfo::default()
                    };
                    p.frag.is_fragment = bits & 4 != 0;
                    p.frag.offset = if bits & 8 != 0 { 1480 } else { 0 };
                    p.frag.id = 77;
                    p.src_ip[..4].copy_from_slice(&[10, 0, 0, 1]);
                    p.dst_ip[..4].copy_from_slice(&[10, 0, 0, 2]);
                    if bits & 16 != 0 {
                        p.src_ip[15] = 9;
                    }
                    assert_eq!(packet_key(&p), packet_key_general(&p), "{p:?}");
                    let mut k = FlowKey {
                        aux: 0xdead,
                        ..FlowKey::ZERO
                    };
                    let made = packet_key_into(&p, &mut k);
                    assert_eq!(made.then_some(k), packet_key(&p), "{p:?}");
                    n += usize::from(packet_key(&p).is_some());
                }
            }
        }
        assert!(n > 100, "{n}");
    }

    /// IPv4 keys are held whole in 20 bytes; wider ones keep their
    /// addresses in the slab, and both compare and expand exactly.
    #[test]
    fn stored_keys_hold_narrow_keys_whole_and_wide_ones_beside() {
        assert_eq!(std::mem::size_of::<StoredKey>(), 20);
        let mut v4 = FlowKey {
            sport: 1234,
            dport: 80,
            aux: 7,
            proto: ipproto::TCP,
            class: KeyClass::Ipv4 as u8,
            ..FlowKey::ZERO
        };
        v4.src[..4].copy_from_slice(&[10, 0, 0, 1]);
        v4.dst[..4].copy_from_slice(&[10, 0, 0, 2]);
        let mut wide = Slab::default();
        let n = StoredKey::narrow(&v4).expect("IPv4 fits");
        assert_eq!(n.wide_index(), None);
        assert_eq!(n.expand(&wide), v4);
        assert_eq!(StoredKey::narrow(&v4), Some(n));
        let other = FlowKey { dport: 81, ..v4 };
        let no = StoredKey::narrow(&other).unwrap();
        assert_ne!(n, no);

        let mut v6 = FlowKey {
            class: KeyClass::Ipv6 as u8,
            ..v4
        };
        v6.src = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        v6.dst = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        assert!(StoredKey::narrow(&v6).is_none());
        let _filler = wide.insert([[9; 16]; 2]);
        let at = wide.insert([v6.src, v6.dst]);
        let w = StoredKey::wide(&v6, at);
        assert_eq!(w.wide_index(), Some(at));
        assert_eq!(w.expand(&wide), v6);
        assert!(w.is_wide(&v6, &wide));
        // A wide key never equals a narrow one, nor another wide key.
        assert_ne!(w, n);
        assert!(!n.is_wide(&v6, &wide));
        let mut v6b = v6;
        v6b.dst[15] = 3;
        assert!(!w.is_wide(&v6b, &wide));
        assert!(!w.is_wide(&FlowKey { sport: 1, ..v6 }, &wide));
    }

    fn udp(sa: u8, da: u8, sp: u16, dp: u16) -> PacketInfo {
        let mut p = PacketInfo {
            net: Net::Ipv4,
            proto: ipproto::UDP,
            has_l4: true,
            sport: sp,
            dport: dp,
            ..Default::default()
        };
        p.src_ip[..4].copy_from_slice(&[10, 0, 0, sa]);
        p.dst_ip[..4].copy_from_slice(&[10, 0, 0, da]);
        p
    }

    #[test]
    fn both_directions_share_a_canonical_key() {
        let a = packet_key(&udp(1, 2, 1000, 53)).unwrap();
        let b = packet_key(&udp(2, 1, 53, 1000)).unwrap();
        assert_eq!(a.canonical().0, b.canonical().0);
        assert_ne!(a.canonical().1, b.canonical().1);
    }

    #[test]
    fn dns_txid_splits_flows_on_ipv4_only() {
        let mut q1 = udp(1, 2, 1000, 53);
        q1.has_dns_txid = true;
        q1.dns_txid = 0x1111;
        let mut q2 = q1;
        q2.dns_txid = 0x2222;
        assert_ne!(packet_key(&q1), packet_key(&q2));
        q1.net = Net::Ipv6;
        q2.net = Net::Ipv6;
        assert_eq!(packet_key(&q1), packet_key(&q2));
    }

    #[test]
    fn icmp_echo_request_and_reply_meet() {
        let mut req = udp(1, 2, 0, 0);
        req.proto = ipproto::ICMP;
        req.icmp_type = 8;
        req.icmp_id = 7;
        req.icmp_seq = 1;
        let mut rep = udp(2, 1, 0, 0);
        rep.proto = ipproto::ICMP;
        rep.icmp_type = 0;
        rep.icmp_id = 7;
        rep.icmp_seq = 1;
        let a = packet_key(&req).unwrap().canonical().0;
        let b = packet_key(&rep).unwrap().canonical().0;
        assert_eq!(a, b);
        let mut next = req;
        next.icmp_seq = 2;
        assert_ne!(packet_key(&next).unwrap().canonical().0, a);
    }
}

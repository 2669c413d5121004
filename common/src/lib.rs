//! Types shared by the ocellus XDP program and userspace.
//!
//! Everything here is `no_std`, `#[repr(C)]` and free of allocation, so the
//! kernel program and the userspace workers build the same flow key and the same
//! symmetric hash from the same code. The kernel computes the hash once and hands
//! it to userspace in the packet metadata; userspace never recomputes it for
//! frames that came through XDP.
#![no_std]

/// What kind of endpoints a [`FlowKey`] holds.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum KeyClass {
    /// Nothing parsed (never stored in a flow table).
    #[default]
    None = 0,
    /// IPv4 addresses in the first 4 bytes of `src`/`dst`.
    Ipv4 = 1,
    /// IPv6 addresses.
    Ipv6 = 2,
    /// ARP: sender and target protocol (IPv4) addresses.
    Arp = 3,
    /// RARP: sender and target hardware addresses.
    Rarp = 4,
    /// Non-IP Ethernet II frame: MAC addresses in the first 6 bytes, ethertype in `aux`.
    Ether = 5,
    /// 802.3/LLC frame: MAC addresses, SAPs in `sport`/`dport`.
    Llc = 6,
}

impl KeyClass {
    pub const fn from_u8(v: u8) -> KeyClass {
        match v {
            1 => KeyClass::Ipv4,
            2 => KeyClass::Ipv6,
            3 => KeyClass::Arp,
            4 => KeyClass::Rarp,
            5 => KeyClass::Ether,
            6 => KeyClass::Llc,
            _ => KeyClass::None,
        }
    }
    pub const fn is_ip(self) -> bool {
        matches!(self, KeyClass::Ipv4 | KeyClass::Ipv6)
    }
}

/// IP protocol numbers used by the flow model.
pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

/// The flow key, oriented: `src` is the side that the flow engine decided is the
/// initiator. `canonical()` gives the direction-independent form used for hashing
/// and table lookup.
///
/// Field use by class:
/// - IP: `src`/`dst` addresses (IPv4 in bytes 0..4), `sport`/`dport` ports for
///   TCP/UDP/SCTP; for ICMP `sport` = type << 8 | code and `dport` = echo id;
///   `aux` = DNS transaction id + 1 (IPv4 UDP port 53), ICMPv4 echo sequence + 1,
///   ESP SPI, or the IP id of an unmatched fragment (with `AUX_FRAGMENT`).
/// - ARP: protocol addresses in `src`/`dst` bytes 0..4.
/// - Ether/LLC: MAC addresses in bytes 0..6; `aux` = ethertype, or SAPs in ports.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FlowKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub aux: u32,
    pub proto: u8,
    pub class: u8,
    pub _pad: [u8; 6],
}

const _: () = assert!(core::mem::size_of::<FlowKey>() == 48);

/// Set in `FlowKey::aux` for a fragment whose first fragment has not been seen.
pub const AUX_FRAGMENT: u32 = 1 << 31;

#[cfg(feature = "user")]
// SAFETY: FlowKey is repr(C), Copy, has explicit padding and no pointers.
unsafe impl Send for FlowKey {}

impl FlowKey {
    pub const ZERO: FlowKey = FlowKey {
        src: [0; 16],
        dst: [0; 16],
        sport: 0,
        dport: 0,
        aux: 0,
        proto: 0,
        class: 0,
        _pad: [0; 6],
    };

    pub fn class(&self) -> KeyClass {
        KeyClass::from_u8(self.class)
    }

    /// Whether `sport`/`dport` belong to the endpoints (TCP/UDP/SCTP ports, LLC
    /// SAPs) rather than to the flow as a whole (ICMP type and id).
    #[inline(always)]
    pub fn ports_are_per_endpoint(&self) -> bool {
        !(self.proto == ipproto::ICMP || self.proto == ipproto::ICMPV6)
            || !(self.class == KeyClass::Ipv4 as u8 || self.class == KeyClass::Ipv6 as u8)
    }

    /// The same flow seen from the other side.
    pub fn reversed(&self) -> FlowKey {
        let (sport, dport) = if self.ports_are_per_endpoint() {
            (self.dport, self.sport)
        } else {
            (self.sport, self.dport)
        };
        FlowKey {
            src: self.dst,
            dst: self.src,
            sport,
            dport,
            ..*self
        }
    }

    /// Whether the endpoints must swap to put the key in canonical order.
    /// ICMP keys (whose ports are not per-endpoint) order by address only.
    #[inline(always)]
    pub fn needs_swap(&self) -> bool {
        if self.src != self.dst {
            return lt16(&self.dst, &self.src);
        }
        self.ports_are_per_endpoint() && self.dport < self.sport
    }

    /// The symmetric hash of the address pair alone: it picks the table shard, so
    /// that fragments (which lack ports) and the flow they belong to meet in the
    /// same shard.
    #[inline(always)]
    pub fn pair_hash(&self) -> u32 {
        let a = endpoint_hash(&self.src, 0);
        let b = endpoint_hash(&self.dst, 0);
        let h = a.wrapping_add(b) ^ (a ^ b).rotate_left(13) ^ (self.class as u64) << 48;
        fmix64(h) as u32
    }

    /// [`FlowKey::pair_hash`] and [`FlowKey::sym_hash`] at once, sharing the
    /// work on the addresses: what a packet needs to find its shard and its
    /// flow, for the cost of little more than one of them.
    #[inline(always)]
    pub fn pair_and_sym_hash(&self) -> (u32, u32) {
        let per_endpoint = self.ports_are_per_endpoint();
        let (sp, dp) = if per_endpoint {
            (self.sport, self.dport)
        } else {
            (0, 0)
        };
        let (src, dst) = (address_word(&self.src), address_word(&self.dst));
        let (a0, b0) = (endpoint_mix(src, 0), endpoint_mix(dst, 0));
        let pair = a0.wrapping_add(b0) ^ (a0 ^ b0).rotate_left(13) ^ (self.class as u64) << 48;
        let (a, b) = if per_endpoint {
            (endpoint_mix(src, sp), endpoint_mix(dst, dp))
        } else {
            (a0, b0)
        };
        (fmix64(pair) as u32, self.sym_finish(a, b, per_endpoint))
    }

    /// The direction-independent form of the key, and whether it was swapped.
    #[inline(always)]
    pub fn canonical(&self) -> (FlowKey, bool) {
        if self.needs_swap() {
            (self.reversed(), true)
        } else {
            (*self, false)
        }
    }

    /// The symmetric hash: the same value for a key and its reverse. The XDP
    /// program and userspace call this one function.
    #[inline(always)]
    pub fn sym_hash(&self) -> u32 {
        let per_endpoint = self.ports_are_per_endpoint();
        let (sp, dp) = if per_endpoint {
            (self.sport, self.dport)
        } else {
            (0, 0)
        };
        let a = endpoint_hash(&self.src, sp);
        let b = endpoint_hash(&self.dst, dp);
        self.sym_finish(a, b, per_endpoint)
    }

    /// The end of [`FlowKey::sym_hash`] from its two endpoint hashes: a
    /// commutative combination, then the direction-free fields mixed in.
    #[inline(always)]
    fn sym_finish(&self, a: u64, b: u64, per_endpoint: bool) -> u32 {
        let mut h = a.wrapping_add(b) ^ (a ^ b).rotate_left(13);
        if !per_endpoint {
            h ^=
                ((self.sport as u64) << 16 | self.dport as u64).wrapping_mul(0xA076_1D64_78BD_642F);
        }
        h ^= (self.proto as u64) << 40 | (self.class as u64) << 48;
        h ^= (self.aux as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        fmix64(h) as u32
    }
}

/// `a < b` in byte order: two big-endian words compared as a pair, not a
/// byte loop (the same order; BPF has the byte swap too).
#[inline(always)]
fn lt16(a: &[u8; 16], b: &[u8; 16]) -> bool {
    let word = |x: &[u8; 16], at: usize| {
        u64::from_be_bytes([
            x[at],
            x[at + 1],
            x[at + 2],
            x[at + 3],
            x[at + 4],
            x[at + 5],
            x[at + 6],
            x[at + 7],
        ])
    };
    (word(a, 0), word(a, 8)) < (word(b, 0), word(b, 8))
}

#[inline(always)]
fn endpoint_hash(addr: &[u8; 16], port: u16) -> u64 {
    endpoint_mix(address_word(addr), port)
}

/// An address folded into one word: the part of its endpoint hash that does
/// not depend on the port.
#[inline(always)]
fn address_word(addr: &[u8; 16]) -> u64 {
    let lo = u64::from_le_bytes([
        addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[6], addr[7],
    ]);
    let hi = u64::from_le_bytes([
        addr[8], addr[9], addr[10], addr[11], addr[12], addr[13], addr[14], addr[15],
    ]);
    lo ^ hi.rotate_left(32)
}

/// Half a finalizer per endpoint: the full one runs once, on the
/// combination (this runs for every packet, in the kernel and here).
#[inline(always)]
fn endpoint_mix(addr: u64, port: u16) -> u64 {
    let mut x = addr ^ (port as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 32;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 29)
}

/// MurmurHash3's 64-bit finalizer.
#[inline(always)]
pub const fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The metadata block the XDP program writes in front of each frame it hands
/// to an AF_XDP socket (`bpf_xdp_adjust_meta`). In the UMEM it ends exactly
/// where the frame starts.
///
/// `ktime_ns` is `bpf_ktime_get_ns()`: CLOCK_MONOTONIC, not wall time.
/// Userspace converts it with an offset `realtime - monotonic` read once at
/// start (and re-read periodically, so a stepped wall clock is followed).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct XdpMeta {
    /// CLOCK_MONOTONIC nanoseconds when the XDP program saw the frame.
    pub ktime_ns: u64,
    /// `XDP_META_MAGIC`: tells a written block from stale UMEM bytes.
    pub magic: u32,
    /// `sym_hash()` of the canonical key (0 with `META_USER_KEY`).
    pub flow_hash: u32,
    /// `pair_hash()` of the key: picks the table shard (0 with `META_USER_KEY`).
    pub shard_hash: u32,
    /// Offsets of the network and transport headers from the frame start.
    pub l3_off: u16,
    pub l4_off: u16,
    /// `META_*` bits.
    pub flags: u16,
    /// The key's `KeyClass` (0 when the kernel did not key the frame).
    pub class: u8,
    /// The IP protocol (0 for non-IP).
    pub proto: u8,
    /// The RX queue the frame came in on.
    pub rx_queue: u32,
}

const _: () = assert!(core::mem::size_of::<XdpMeta>() == 32);

/// `XdpMeta::magic`.
pub const XDP_META_MAGIC: u32 = 0x0CE1_15A5;
/// The kernel did not build the key (tunnels, fragments, ICMP errors, non-IP,
/// anything beyond the simple cases): userspace computes it. Hashes are 0.
pub const META_USER_KEY: u16 = 1 << 0;
/// The kernel parser found the frame malformed (userspace decides how).
pub const META_MALFORMED: u16 = 1 << 1;
/// A VLAN tag was seen.
pub const META_VLAN: u16 = 1 << 2;
/// An MPLS label stack was seen.
pub const META_MPLS: u16 = 1 << 3;
/// The kernel's capture filter decided that the frame matches: userspace
/// need not run the filter on it. Without it (and with a filter given),
/// userspace decides.
pub const META_FILTER_PASS: u16 = 1 << 4;

/// Indexes of the XDP program's per-CPU counters (`OCELLUS_STATS` map).
pub mod xdp_stat {
    /// Frames the program ran on.
    pub const SEEN: u32 = 0;
    /// Frames redirected to an AF_XDP socket.
    pub const REDIRECTED: u32 = 1;
    /// Frames the kernel filter excluded (dropped in tap mode, not captured).
    pub const FILTERED: u32 = 2;
    /// Frames the kernel parser found malformed (still handed to userspace).
    pub const MALFORMED: u32 = 3;
    /// Redirects that failed (no socket on the queue, socket ring full).
    pub const REDIRECT_FAIL: u32 = 4;
    /// Frames keyed in the kernel (hashes in the metadata).
    pub const KEYED: u32 = 5;
    /// Frames whose metadata could not be reserved.
    pub const NO_META: u32 = 6;
    pub const COUNT: u32 = 8;
}

/// The capture filter the XDP program evaluates (`OCELLUS_FILTER` map, one
/// entry): a disjunction of up to [`kfilter::MAX_TERMS`] terms, each a
/// conjunction of up to [`kfilter::MAX_PRIMS`] primitive tests, evaluated in
/// three-valued (Kleene) logic. A frame is dropped only when the result is
/// surely false; when it is surely true the frame carries `META_FILTER_PASS`;
/// otherwise userspace runs the full filter on it.
pub mod kfilter {
    pub const MAX_TERMS: usize = 8;
    pub const MAX_PRIMS: usize = 6;

    /// `ether[12:2] == lo` (the outer ethertype, before any VLAN tag).
    pub const K_ETHERTYPE: u8 = 1;
    /// IP protocol `lo` (IPv4 `ip[9]`, IPv6 next header), for IP version
    /// `ver` (0: either).
    pub const K_PROTO: u8 = 2;
    /// Address under `mask` equal to `addr`, IP version `ver` (4 or 6), by
    /// `F_SRC`/`F_DST`.
    pub const K_ADDR: u8 = 3;
    /// TCP/UDP/SCTP port in `lo..=hi`, by `F_SRC`/`F_DST`.
    pub const K_PORT: u8 = 4;

    /// Negate the primitive.
    pub const F_NEG: u8 = 1;
    /// Test the source (address or port).
    pub const F_SRC: u8 = 2;
    /// Test the destination; with `F_SRC`: either.
    pub const F_DST: u8 = 4;
    /// `K_ADDR` that libpcap also tests on ARP/RARP frames: unknown there.
    pub const F_ARP: u8 = 8;

    /// One primitive test. Addresses are the 16 address bytes of a
    /// `FlowKey` read as two native-endian u64 (IPv4 in the first 4 bytes).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct Prim {
        pub kind: u8,
        pub flags: u8,
        pub ver: u8,
        pub _pad: u8,
        pub lo: u16,
        pub hi: u16,
        pub addr: [u64; 2],
        pub mask: [u64; 2],
    }

    /// A conjunction of `n` primitives.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct Term {
        pub n: u32,
        pub _pad: u32,
        pub prims: [Prim; MAX_PRIMS],
    }

    /// The whole filter: when `enabled` is 0 every frame passes unmarked.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct Program {
        pub enabled: u32,
        pub n_terms: u32,
        pub terms: [Term; MAX_TERMS],
    }

    const _: () = assert!(core::mem::size_of::<Prim>() == 40);
    const _: () = assert!(core::mem::size_of::<Program>() == 8 + MAX_TERMS * (8 + MAX_PRIMS * 40));

    /// Three-valued results.
    pub const NO: u8 = 0;
    pub const MAYBE: u8 = 1;
    pub const YES: u8 = 2;

    /// What the XDP program knows of a frame, read at libpcap's fixed
    /// offsets (Ethernet header at 0, network header at 14).
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Facts {
        /// `ether[12:2]`.
        pub ethertype: u16,
        /// 4 or 6: an IP header at 14 whose protocol, addresses and (for
        /// TCP/UDP/SCTP) ports are known; 0 otherwise.
        pub ver: u8,
        pub proto: u8,
        pub sport: u16,
        pub dport: u16,
        pub src: [u64; 2],
        pub dst: [u64; 2],
    }

    pub const ETH_IP: u16 = 0x0800;
    pub const ETH_IPV6: u16 = 0x86dd;
    pub const ETH_ARP: u16 = 0x0806;
    pub const ETH_RARP: u16 = 0x8035;

    #[inline(always)]
    fn has_ports(proto: u8) -> bool {
        proto == 6 || proto == 17 || proto == 132
    }

    #[inline(always)]
    fn masked_eq(a: &[u64; 2], p: &Prim) -> bool {
        a[0] & p.mask[0] == p.addr[0] && a[1] & p.mask[1] == p.addr[1]
    }

    /// One primitive on `f` (which must be decidable: an IP ethertype with
    /// `ver` 0 is not).
    #[inline(always)]
    pub fn eval_prim(p: &Prim, f: &Facts) -> u8 {
        let arp = f.ethertype == ETH_ARP || f.ethertype == ETH_RARP;
        let v = match p.kind {
            K_ETHERTYPE => f.ethertype == p.lo,
            K_PROTO => f.ver != 0 && (p.ver == 0 || p.ver == f.ver) && f.proto as u16 == p.lo,
            K_ADDR => {
                if arp && p.flags & F_ARP != 0 {
                    return MAYBE;
                }
                f.ver != 0
                    && p.ver == f.ver
                    && ((p.flags & F_SRC != 0 && masked_eq(&f.src, p))
                        || (p.flags & F_DST != 0 && masked_eq(&f.dst, p)))
            }
            K_PORT => {
                f.ver != 0
                    && has_ports(f.proto)
                    && ((p.flags & F_SRC != 0 && f.sport >= p.lo && f.sport <= p.hi)
                        || (p.flags & F_DST != 0 && f.dport >= p.lo && f.dport <= p.hi))
            }
            _ => return MAYBE,
        };
        if v == (p.flags & F_NEG == 0) {
            YES
        } else {
            NO
        }
    }

    /// The whole program on `f`: `NO`, `MAYBE` or `YES`.
    #[inline(always)]
    pub fn eval(prog: &Program, f: &Facts) -> u8 {
        let mut any = NO;
        for (i, t) in prog.terms.iter().enumerate() {
            if i as u32 >= prog.n_terms {
                break;
            }
            let mut all = YES;
            for (j, p) in t.prims.iter().enumerate() {
                if j as u32 >= t.n {
                    break;
                }
                let v = eval_prim(p, f);
                if v < all {
                    all = v;
                }
                if all == NO {
                    break;
                }
            }
            if all > any {
                any = all;
            }
            if any == YES {
                break;
            }
        }
        any
    }
}

/// The name of the XDP program in the object (also how a stale one is recognised).
pub const XDP_PROG_NAME: &str = "ocellus_xdp";

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn key(a: u8, b: u8, sp: u16, dp: u16) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.src[..4].copy_from_slice(&[10, 0, 0, a]);
        k.dst[..4].copy_from_slice(&[10, 0, 0, b]);
        k.sport = sp;
        k.dport = dp;
        k.proto = ipproto::TCP;
        k.class = KeyClass::Ipv4 as u8;
        k
    }

    #[test]
    fn hash_is_symmetric() {
        for (a, b, sp, dp) in [(1, 2, 1000, 80), (9, 3, 5, 5), (4, 4, 1, 2)] {
            let k = key(a, b, sp, dp);
            assert_eq!(k.sym_hash(), k.reversed().sym_hash());
            assert_eq!(k.canonical().0, k.reversed().canonical().0);
        }
    }

    /// The word comparison orders addresses as the bytes do, whichever byte
    /// first differs.
    #[test]
    fn address_order_is_byte_order() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut a = [0u8; 16];
            for c in a.chunks_mut(8) {
                c.copy_from_slice(&next().to_le_bytes());
            }
            let mut b = a;
            // Differ from a random byte on (or not at all).
            let from = (next() % 17) as usize;
            for v in b.iter_mut().skip(from) {
                *v = next() as u8;
            }
            assert_eq!(lt16(&a, &b), a < b, "{a:02x?} {b:02x?}");
            assert_eq!(lt16(&b, &a), b < a, "{a:02x?} {b:02x?}");
        }
    }

    /// The joint hash gives what the two hashes give alone, for keys whose
    /// ports are per endpoint and keys whose ports are not.
    #[test]
    fn joint_hashes_are_the_two_hashes() {
        for (a, b, sp, dp) in [(1, 2, 1000, 80), (9, 3, 5, 5), (4, 4, 1, 2), (7, 200, 0, 0)] {
            for proto in [ipproto::TCP, ipproto::UDP, ipproto::ICMP, 47] {
                let mut k = key(a, b, sp, dp);
                k.proto = proto;
                k.aux = u32::from(a) * 77;
                assert_eq!(k.pair_and_sym_hash(), (k.pair_hash(), k.sym_hash()));
                let r = k.reversed();
                assert_eq!(r.pair_and_sym_hash(), k.pair_and_sym_hash());
            }
        }
    }

    #[test]
    fn icmp_keys_keep_their_ports_when_reversed() {
        let mut k = key(9, 3, 0x0008, 0x1234);
        k.proto = ipproto::ICMP;
        let r = k.reversed();
        assert_eq!((r.sport, r.dport), (0x0008, 0x1234));
        assert_eq!(k.sym_hash(), r.sym_hash());
        assert_eq!(k.canonical().0, r.canonical().0);
    }

    #[test]
    fn hash_separates_flows() {
        let a = key(1, 2, 1000, 80).sym_hash();
        let b = key(1, 2, 1001, 80).sym_hash();
        let c = key(1, 2, 80, 1000).sym_hash();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    /// Structured traffic (many clients, sequential ports, one server) still
    /// spreads: almost no two flows share a hash, and the bits that pick
    /// shards and index slots are balanced.
    #[test]
    fn hash_spreads_structured_traffic() {
        let mut hashes = std::vec::Vec::new();
        for client in 0..=255u8 {
            for port in 40000..40400u16 {
                hashes.push(key(client, 1, port, 443).sym_hash());
            }
        }
        let n = hashes.len();
        let mut sorted = hashes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert!(
            n - sorted.len() < 20,
            "{} collisions in {n}",
            n - sorted.len()
        );
        for shift in [0, 16, 24] {
            let mut buckets = [0usize; 16];
            for h in &hashes {
                buckets[((h >> shift) & 15) as usize] += 1;
            }
            let (lo, hi) = (n / 16 * 9 / 10, n / 16 * 11 / 10);
            assert!(
                buckets.iter().all(|&b| b > lo && b < hi),
                "shift {shift}: {buckets:?}"
            );
        }
        // The pair hash (shards) spreads the address pairs too.
        let mut pairs = [0usize; 16];
        for client in 0..=255u8 {
            for server in 0..16u8 {
                pairs[(key(client, server, 1, 2).pair_hash().rotate_left(16) & 15) as usize] += 1;
            }
        }
        assert!(
            pairs.iter().all(|&b| b > 256 * 8 / 10 && b < 256 * 12 / 10),
            "{pairs:?}"
        );
    }
}

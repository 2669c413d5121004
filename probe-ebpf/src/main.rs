//! The ocellus XDP program.
//!
//! For every frame: parse down to L4 with bounds checks the verifier accepts,
//! build the flow key exactly as userspace's `flow::key::packet_key` builds it
//! (for the simple cases: TCP, UDP, SCTP, ICMP and ICMPv6 over Ethernet, up to
//! two VLAN tags, an MPLS stack, IPv4 with options, IPv6 with hop-by-hop,
//! routing and destination-options headers), hash it with the very
//! `ocellus-common` functions userspace uses, write an [`XdpMeta`] block in
//! front of the frame and redirect it to the AF_XDP socket of its RX queue.
//!
//! Everything else (fragments, tunnels, ICMP errors, ARP, non-IP, damaged
//! headers) goes to userspace with `META_USER_KEY` and zero hashes: the
//! userspace parser, which knows every rule, keys it. The kernel never drops a
//! frame it cannot parse; it counts it.
//!
//! With a capture filter (`OCELLUS_FILTER`, compiled by userspace from the
//! tcpdump expression), the program reads the fields libpcap's code would
//! read (at its fixed offsets) and evaluates the filter in three-valued
//! logic: surely false: dropped here and counted as `filtered`; surely true:
//! redirected with `META_FILTER_PASS`; anything it cannot decide (fragments,
//! IPv6 extension headers, short frames...): redirected, and userspace runs
//! the full filter.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    helpers::{
        bpf_ktime_get_ns,
        generated::{bpf_loop, bpf_xdp_adjust_meta},
    },
    macros::{map, xdp},
    maps::{Array, PerCpuArray, XskMap},
    programs::XdpContext,
};
use ocellus_common::{
    ipproto, kfilter, xdp_stat, FlowKey, KeyClass, XdpMeta, META_FILTER_PASS, META_MALFORMED,
    META_MPLS, META_USER_KEY, META_VLAN, XDP_META_MAGIC,
};

/// One AF_XDP socket per RX queue, indexed by queue.
#[map(name = "OCELLUS_XSKS")]
static XSKS: XskMap = XskMap::with_max_entries(1024, 0);

/// Per-CPU counters, indexed by `xdp_stat::*`.
#[map(name = "OCELLUS_STATS")]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(xdp_stat::COUNT, 0);

/// The capture filter (entry 0); disabled until userspace writes it.
#[map(name = "OCELLUS_FILTER")]
static FILTER: Array<kfilter::Program> = Array::with_max_entries(1, 0);

/// Offsets past this are not followed (keeps every offset bounded for the verifier).
const MAX_OFF: usize = 1024;
const NO_LIM: usize = MAX_OFF + 64;
const MAX_VLAN_TAGS: usize = 2;
const MAX_MPLS_LABELS: usize = 4;
const MAX_IPV6_EXT: usize = 4;
const DNS_PORT: u16 = 53;
const VXLAN_PORT: u16 = 4789;

#[inline(always)]
fn count(idx: u32) {
    if let Some(p) = STATS.get_ptr_mut(idx) {
        // SAFETY: a per-CPU slot, only this CPU writes it.
        unsafe { *p += 1 };
    }
}

/// `N` bytes at `off` when they lie before `lim` (an offset from the IP
/// header's length fields, or `NO_LIM`) and before the end of the frame.
/// `lim` must never be derived from `data_end`: LLVM would then drop the
/// packet-pointer check the verifier needs as redundant.
#[inline(always)]
fn load<const N: usize>(ctx: &XdpContext, off: usize, lim: usize) -> Option<[u8; N]> {
    if off > MAX_OFF || off + N > lim {
        return None;
    }
    let start = ctx.data();
    let end = ctx.data_end();
    if start + off + N > end {
        return None;
    }
    // SAFETY: bounds checked against data_end just above.
    Some(unsafe { core::ptr::read_unaligned((start + off) as *const [u8; N]) })
}

#[inline(always)]
fn be16(a: u8, b: u8) -> u16 {
    u16::from_be_bytes([a, b])
}

/// What the parse found; `key` is valid unless `flags` has `META_USER_KEY`.
struct Parsed {
    key: FlowKey,
    flags: u16,
    l3: u16,
    l4: u16,
    /// `ether[12:2]`, when the frame has an Ethernet header.
    et0: Option<u16>,
    /// For the filter: 4 or 6 when the IP header's protocol and addresses
    /// were read as libpcap reads them; 0 otherwise.
    fver: u8,
    /// The protocol libpcap's `ip proto`/`ip6 proto` tests see.
    fproto: u8,
    /// TCP/UDP/SCTP ports were read into the key.
    ports_ok: bool,
}

impl Parsed {
    /// What the filter needs, or `None` when the frame is beyond what the
    /// kernel filter decides (userspace then runs the full filter).
    #[inline(always)]
    fn facts(&self) -> Option<kfilter::Facts> {
        let et = self.et0?;
        let mut f = kfilter::Facts {
            ethertype: et,
            ..kfilter::Facts::default()
        };
        if et == kfilter::ETH_IP || et == kfilter::ETH_IPV6 {
            if self.fver == 0 {
                return None;
            }
            let ports = matches!(self.fproto, ipproto::TCP | ipproto::UDP | ipproto::SCTP);
            if ports && !self.ports_ok {
                return None;
            }
            f.ver = self.fver;
            f.proto = self.fproto;
            f.sport = self.key.sport;
            f.dport = self.key.dport;
            f.src = halves(&self.key.src);
            f.dst = halves(&self.key.dst);
        }
        Some(f)
    }
}

#[inline(always)]
fn halves(a: &[u8; 16]) -> [u64; 2] {
    [
        u64::from_ne_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]),
        u64::from_ne_bytes([a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]]),
    ]
}

#[xdp]
pub fn ocellus_xdp(ctx: XdpContext) -> u32 {
    count(xdp_stat::SEEN);
    let mut p = Parsed {
        key: FlowKey::ZERO,
        flags: META_USER_KEY,
        l3: 0,
        l4: 0,
        et0: None,
        fver: 0,
        fproto: 0,
        ports_ok: false,
    };
    parse(&ctx, &mut p);
    if let Some(prog) = FILTER.get(0) {
        if prog.enabled != 0 {
            let verdict = match p.facts() {
                Some(f) => eval_filter(prog, f),
                None => kfilter::MAYBE,
            };
            if verdict == kfilter::NO {
                // Tap mode: what the filter excludes never leaves the kernel.
                count(xdp_stat::FILTERED);
                return xdp_action::XDP_DROP;
            }
            if verdict == kfilter::YES {
                p.flags |= META_FILTER_PASS;
            }
        }
    }
    let mut m = XdpMeta {
        // SAFETY: a helper without arguments.
        ktime_ns: unsafe { bpf_ktime_get_ns() },
        magic: XDP_META_MAGIC,
        flow_hash: 0,
        shard_hash: 0,
        l3_off: p.l3,
        l4_off: p.l4,
        flags: p.flags,
        class: 0,
        proto: 0,
        rx_queue: ctx.rx_queue_index(),
    };
    if p.flags & META_MALFORMED != 0 {
        count(xdp_stat::MALFORMED);
    }
    if p.flags & META_USER_KEY == 0 {
        count(xdp_stat::KEYED);
        // sym_hash is symmetric: the key's hash is its canonical form's hash,
        // so the kernel need not build the canonical copy.
        m.flow_hash = p.key.sym_hash();
        m.shard_hash = p.key.pair_hash();
        m.class = p.key.class;
        m.proto = p.key.proto;
    }
    let size = core::mem::size_of::<XdpMeta>();
    // SAFETY: ctx.ctx is the program's context.
    let rc = unsafe { bpf_xdp_adjust_meta(ctx.ctx, -(size as i32)) };
    let mut written = false;
    if rc == 0 {
        let meta = ctx.metadata();
        if meta + size <= ctx.data() {
            // SAFETY: [meta, meta + size) lies before data, checked above.
            unsafe { core::ptr::write_unaligned(meta as *mut XdpMeta, m) };
            written = true;
        }
    }
    if !written {
        count(xdp_stat::NO_META);
    }
    match XSKS.redirect(m.rx_queue, xdp_action::XDP_PASS as u64) {
        Ok(action) => {
            count(xdp_stat::REDIRECTED);
            action
        }
        Err(_) => {
            // No socket on this queue: the frame goes on to the stack.
            count(xdp_stat::REDIRECT_FAIL);
            xdp_action::XDP_PASS
        }
    }
}

/// The state [`eval_step`] carries from primitive to primitive.
#[repr(C)]
struct EvalCtx {
    facts: kfilter::Facts,
    /// The current term's conjunction so far.
    all: u8,
    /// The disjunction of the finished terms.
    any: u8,
}

/// `kfilter::eval`, one primitive per `bpf_loop` step: the verifier checks
/// the step once instead of every path through nested loops.
#[inline(always)]
fn eval_filter(prog: &kfilter::Program, facts: kfilter::Facts) -> u8 {
    let mut c = EvalCtx {
        facts,
        all: kfilter::YES,
        any: kfilter::NO,
    };
    let terms = if prog.n_terms > kfilter::MAX_TERMS as u32 {
        kfilter::MAX_TERMS as u32
    } else {
        prog.n_terms
    };
    // SAFETY: `eval_step` is a BPF callback of the right signature and `c`
    // outlives the call.
    unsafe {
        bpf_loop(
            terms * STEPS_PER_TERM as u32,
            eval_step as *mut core::ffi::c_void,
            &mut c as *mut EvalCtx as *mut core::ffi::c_void,
            0,
        )
    };
    c.any
}

/// Steps per term: a power of two at least `MAX_PRIMS + 1`, so that the
/// step splits into term and primitive by shift and mask, which the verifier
/// follows (it loses the bounds of a division or remainder).
const STEPS_PER_TERM: usize = 8;
const _: () = assert!(STEPS_PER_TERM > kfilter::MAX_PRIMS);

#[inline(never)]
extern "C" fn eval_step(i: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: `ctx` is the `EvalCtx` `eval_filter` passes to bpf_loop.
    let c = unsafe { &mut *(ctx as *mut EvalCtx) };
    let Some(prog) = FILTER.get(0) else {
        return 1;
    };
    let t = (i >> 3) as usize;
    let j = (i & 7) as usize;
    let Some(term) = prog.terms.get(t) else {
        return 1;
    };
    if j == 0 {
        c.all = kfilter::YES;
    }
    if (j as u32) < term.n {
        if let Some(p) = term.prims.get(j) {
            let v = kfilter::eval_prim(p, &c.facts);
            if v < c.all {
                c.all = v;
            }
        }
    }
    if j == STEPS_PER_TERM - 1 {
        if c.all > c.any {
            c.any = c.all;
        }
        if c.any == kfilter::YES {
            return 1;
        }
    }
    0
}

#[inline(always)]
fn malformed(p: &mut Parsed) {
    p.flags |= META_USER_KEY | META_MALFORMED;
}

fn parse(ctx: &XdpContext, p: &mut Parsed) {
    let frame = NO_LIM;
    let Some(eth) = load::<14>(ctx, 0, frame) else {
        malformed(p);
        return;
    };
    let mut et = be16(eth[12], eth[13]);
    p.et0 = Some(et);
    let mut off = 14usize;
    for _ in 0..MAX_VLAN_TAGS {
        if !matches!(et, 0x8100 | 0x88a8 | 0x9100) {
            break;
        }
        let Some(t) = load::<4>(ctx, off, frame) else {
            malformed(p);
            return;
        };
        p.flags |= META_VLAN;
        et = be16(t[2], t[3]);
        off += 4;
    }
    let v6 = match et {
        0x0800 => false,
        0x86dd => true,
        0x8847 | 0x8848 => {
            p.flags |= META_MPLS;
            let mut bottom = false;
            for _ in 0..MAX_MPLS_LABELS {
                let Some(e) = load::<4>(ctx, off, frame) else {
                    malformed(p);
                    return;
                };
                off += 4;
                if e[2] & 1 != 0 {
                    bottom = true;
                    break;
                }
            }
            if !bottom {
                return;
            }
            let Some([first]) = load::<1>(ctx, off, frame) else {
                malformed(p);
                return;
            };
            match first >> 4 {
                4 => false,
                6 => true,
                _ => return,
            }
        }
        // More tags, ARP, LLC, PPPoE, non-IP: userspace keys them.
        _ => return,
    };
    p.l3 = off as u16;
    if v6 {
        ipv6(ctx, off, frame, p);
    } else {
        ipv4(ctx, off, frame, p);
    }
}

fn ipv4(ctx: &XdpContext, off: usize, frame: usize, p: &mut Parsed) {
    let Some(h) = load::<20>(ctx, off, frame) else {
        malformed(p);
        return;
    };
    if h[0] >> 4 != 4 {
        malformed(p);
        return;
    }
    let hl = ((h[0] & 0x0f) as usize) * 4;
    let total = be16(h[2], h[3]) as usize;
    if total == 0 {
        // Offloaded super-packet: userspace applies its rule.
        return;
    }
    if hl < 20 || total < hl {
        malformed(p);
        return;
    }
    if be16(h[6], h[7]) & 0x3fff != 0 {
        // Fragments: userspace matches them with their first fragment.
        return;
    }
    if ctx.data() + off + hl > ctx.data_end() {
        // Options cut short.
        malformed(p);
        return;
    }
    let lim = off + total;
    p.fver = 4;
    p.fproto = h[9];
    p.key.class = KeyClass::Ipv4 as u8;
    p.key.src[..4].copy_from_slice(&h[12..16]);
    p.key.dst[..4].copy_from_slice(&h[16..20]);
    p.key.proto = h[9];
    let l4 = off + hl;
    p.l4 = l4 as u16;
    transport(ctx, l4, lim, false, p);
}

fn ipv6(ctx: &XdpContext, off: usize, frame: usize, p: &mut Parsed) {
    let Some(h) = load::<8>(ctx, off, frame) else {
        malformed(p);
        return;
    };
    if h[0] >> 4 != 6 {
        malformed(p);
        return;
    }
    let (Some(src), Some(dst)) = (
        load::<16>(ctx, off + 8, frame),
        load::<16>(ctx, off + 24, frame),
    ) else {
        malformed(p);
        return;
    };
    let plen = be16(h[4], h[5]) as usize;
    if plen == 0 {
        // A jumbogram or BIG TCP: userspace reads the length option.
        return;
    }
    let lim = off + 40 + plen;
    let mut next = h[6];
    // libpcap's `ip6 proto` reads this byte (and looks behind a fragment
    // header only): with an extension header first, the filter cannot
    // tell, and userspace decides.
    if !matches!(next, 0 | 43 | 44 | 51 | 60 | 135 | 139 | 140) {
        p.fver = 6;
        p.fproto = next;
    }
    let mut l4 = off + 40;
    let mut done = false;
    for _ in 0..MAX_IPV6_EXT {
        match next {
            // Hop-by-hop, routing, destination options, mobility.
            0 | 43 | 60 | 135 => {
                let Some(e) = load::<2>(ctx, l4, lim) else {
                    malformed(p);
                    return;
                };
                let len = (e[1] as usize + 1) * 8;
                if l4 + len > lim {
                    malformed(p);
                    return;
                }
                next = e[0];
                l4 += len;
            }
            // Fragment header, AH: userspace.
            44 | 51 => return,
            _ => {
                done = true;
                break;
            }
        }
    }
    if !done {
        return;
    }
    p.key.class = KeyClass::Ipv6 as u8;
    p.key.src = src;
    p.key.dst = dst;
    p.key.proto = next;
    p.l4 = l4 as u16;
    transport(ctx, l4, lim, true, p);
}

/// The request type of an ICMP request/reply pair, as `key::icmp_request_type`.
#[inline(always)]
fn icmp_request_type(v6: bool, t: u8) -> u8 {
    match (v6, t) {
        (false, 0) => 8,
        (false, 14) => 13,
        (false, 16) => 15,
        (false, 18) => 17,
        (true, 129) => 128,
        (true, 134) => 133,
        (true, 136) => 135,
        _ => t,
    }
}

#[inline(always)]
fn transport(ctx: &XdpContext, l4: usize, lim: usize, v6: bool, p: &mut Parsed) {
    let k = &mut p.key;
    match k.proto {
        ipproto::TCP => {
            let Some(t) = load::<20>(ctx, l4, lim) else {
                return;
            };
            k.sport = be16(t[0], t[1]);
            k.dport = be16(t[2], t[3]);
            p.ports_ok = true;
            if t[12] >> 4 < 5 {
                p.flags |= META_MALFORMED;
                return;
            }
        }
        ipproto::SCTP => {
            let Some(t) = load::<12>(ctx, l4, lim) else {
                return;
            };
            k.sport = be16(t[0], t[1]);
            k.dport = be16(t[2], t[3]);
            p.ports_ok = true;
        }
        ipproto::UDP => {
            let Some(u) = load::<8>(ctx, l4, lim) else {
                return;
            };
            k.sport = be16(u[0], u[1]);
            k.dport = be16(u[2], u[3]);
            p.ports_ok = true;
            if k.dport == VXLAN_PORT {
                // Maybe a tunnel: userspace decapsulates.
                return;
            }
            if !v6 && (k.sport == DNS_PORT || k.dport == DNS_PORT) {
                if let Some(id) = load::<2>(ctx, l4 + 8, lim) {
                    k.aux = be16(id[0], id[1]) as u32 + 1;
                }
            }
        }
        ipproto::ICMP | ipproto::ICMPV6 => {
            if (k.proto == ipproto::ICMPV6) != v6 {
                return;
            }
            let Some(c) = load::<8>(ctx, l4, lim) else {
                return;
            };
            let (ty, code) = (c[0], c[1]);
            let error = if v6 {
                matches!(ty, 1..=4)
            } else {
                matches!(ty, 3 | 4 | 5 | 11 | 12)
            };
            if error {
                // Keyed on the quoted flow's shard: userspace.
                return;
            }
            let t = icmp_request_type(v6, ty);
            let echo = if v6 { 128 } else { 8 };
            if t == echo {
                k.sport = (echo as u16) << 8;
                if !v6 {
                    k.dport = be16(c[4], c[5]);
                    k.aux = be16(c[6], c[7]) as u32 + 1;
                }
            } else {
                k.sport = (t as u16) << 8 | code as u16;
            }
        }
        _ => return,
    }
    p.flags &= !META_USER_KEY;
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

//! Record version 2: the packed layout (FORMAT.md, section 2.4).
//!
//! The same fields as version 1, in fewer bytes: counters, durations and
//! small ids are LEB128 varints, times after the record's start are offsets
//! from it, addresses take the bytes their class needs, and a direction or
//! field group that is all zero is a cleared bit instead of zeros. An IPv4
//! TCP record on Ethernet takes about 140 bytes instead of 380: what a
//! record file costs on disk, and what every reader copies and checksums.
//!
//! Nothing is lost: every `FlowRecord` round-trips bit for bit (a key whose
//! bytes do not fit its class, or a time before the record's start, takes a
//! longer form, never a wrong one).

use super::{
    crc32c, dir_has_stats, ext, has_l2, set_man, set_man_drops, set_user, tcp_counters, user_len,
    CodecError, RECORD_HEADER_LEN,
};
use std::mem::MaybeUninit;

use crate::record::{Cause, DirStats, FlowKey, FlowRecord, TcpPerf};

/// The record version this module writes.
pub const VERSION: u8 = 2;

/// Largest encoding of everything but the user data: the bound the encoder
/// sizes its output for before writing.
pub const MAX_FIXED: usize = 1024;

/// The longest varint: a u64 in seven-bit groups.
const MAX_VAR: usize = 10;

/// A v2 block header: type (bit 7: critical), then the body length as a
/// varint. Bodies of the fixed blocks are always under 128 bytes.
pub const CRITICAL: u8 = 0x80;

/// `dir` presence bits.
mod dbit {
    pub const COUNTS: u8 = 1 << 0;
    pub const TIMES: u8 = 1 << 1;
    pub const IP: u8 = 1 << 2;
    pub const ALL: u8 = COUNTS | TIMES | IP;
}

/// Key forms.
const KEY_PACKED: u8 = 0;
const KEY_RAW: u8 = 1;

/// STATS block per-direction presence bits.
mod sbit {
    pub const SIZES: u8 = 1 << 0;
    pub const INTPKT: u8 = 1 << 1;
    pub const ALL: u8 = SIZES | INTPKT;
}

/// Address bytes a key class uses; the rest of `src`/`dst` must be zero for
/// the packed key form.
fn addr_len(class: u8) -> usize {
    match class {
        1 | 3 => 4,
        4..=6 => 6,
        _ => 16,
    }
}

/// A writer into the spare capacity of the output, reserved for the worst
/// case: no zeroing before, one length update after, and no bounds check per
/// byte (the encoder's largest output is known: [`MAX_FIXED`] plus the user
/// data, which `encode` reserves before it makes a `W`).
struct W<'a> {
    b: &'a mut [MaybeUninit<u8>],
    p: usize,
}

impl W<'_> {
    /// Where the next `n` bytes go.
    #[inline(always)]
    fn at(&mut self, n: usize) -> *mut u8 {
        debug_assert!(
            self.p + n <= self.b.len(),
            "the encoder wrote past what it reserved"
        );
        // SAFETY: `p + n` never exceeds the reserved length: `encode`
        // reserves MAX_FIXED (above the largest fixed encoding) plus the user
        // data and its block heads; debug builds check it (above).
        unsafe { self.b.as_mut_ptr().add(self.p).cast::<u8>() }
    }
    #[inline(always)]
    fn u8(&mut self, v: u8) {
        let d = self.at(1);
        // SAFETY: `at` gave room for one byte.
        unsafe { d.write(v) };
        self.p += 1;
    }
    #[inline(always)]
    fn bytes(&mut self, s: &[u8]) {
        let d = self.at(s.len());
        // SAFETY: `at` gave room for `s.len()` bytes; `s` is not in the
        // output's spare capacity (it is borrowed from elsewhere).
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), d, s.len()) };
        self.p += s.len();
    }
    #[inline(always)]
    fn array<const N: usize>(&mut self, a: [u8; N]) {
        let d = self.at(N);
        // SAFETY: `at` gave room for N bytes; the store is unaligned.
        unsafe { d.cast::<[u8; N]>().write_unaligned(a) };
        self.p += N;
    }
    #[inline(always)]
    fn u16(&mut self, v: u16) {
        self.array(v.to_le_bytes());
    }
    #[inline(always)]
    fn u32(&mut self, v: u32) {
        self.array(v.to_le_bytes());
    }
    #[inline(always)]
    fn u64(&mut self, v: u64) {
        self.array(v.to_le_bytes());
    }
    /// A LEB128 varint: one byte for values under 128 (most), else a loop
    /// over its bytes with no bounds check per byte.
    #[inline(always)]
    fn var(&mut self, v: u64) {
        if v < 0x80 {
            self.u8(v as u8);
            return;
        }
        let d = self.at(MAX_VAR);
        let mut rest = v;
        let mut n = 0;
        while rest >= 0x80 {
            // SAFETY: `at` gave room for MAX_VAR bytes, and a u64 takes at
            // most that many.
            unsafe { d.add(n).write(rest as u8 | 0x80) };
            rest >>= 7;
            n += 1;
        }
        // SAFETY: as above; `n` < MAX_VAR here.
        unsafe { d.add(n).write(rest as u8) };
        self.p += n + 1;
    }
    /// Writes a block: type, a one-byte length, the body `f` writes.
    #[inline]
    fn block(&mut self, ty: u8, f: impl FnOnce(&mut Self)) {
        self.u8(ty);
        let at = self.p;
        self.u8(0);
        f(self);
        let n = self.p - at - 1;
        debug_assert!(n < 0x80, "fixed block bodies stay under 128 bytes");
        self.b[at].write(n as u8);
    }
}

#[inline(always)]
fn put_key(w: &mut W<'_>, k: &FlowKey) {
    let n = addr_len(k.class);
    // The bytes past the class's address length, all zero: one 16-byte test
    // per address rather than a loop over its bytes.
    let beyond = if n >= 16 { 0 } else { !0u128 << (8 * n) };
    let packed =
        k._pad == [0; 6] && (u128::from_le_bytes(k.src) | u128::from_le_bytes(k.dst)) & beyond == 0;
    if packed {
        w.u8(KEY_PACKED);
        w.u8(k.class);
        w.u8(k.proto);
        w.bytes(&k.src[..n]);
        w.bytes(&k.dst[..n]);
        w.u16(k.sport);
        w.u16(k.dport);
        w.var(k.aux as u64);
    } else {
        w.u8(KEY_RAW);
        w.bytes(&k.src);
        w.bytes(&k.dst);
        w.u16(k.sport);
        w.u16(k.dport);
        w.u32(k.aux);
        w.u8(k.proto);
        w.u8(k.class);
        w.bytes(&k._pad);
    }
}

#[inline(always)]
fn put_dir(w: &mut W<'_>, d: &DirStats, base_ns: u64) {
    let mut bits = 0;
    if d.pkts | d.bytes | d.appbytes != 0 {
        bits |= dbit::COUNTS;
    }
    if d.stime_ns | d.ltime_ns != 0 {
        bits |= dbit::TIMES;
    }
    if d.ttl != 0 || d.tos != 0 || d.ipid != 0 {
        bits |= dbit::IP;
    }
    w.u8(bits);
    if bits & dbit::COUNTS != 0 {
        w.var(d.pkts);
        w.var(d.bytes);
        w.var(d.appbytes);
    }
    if bits & dbit::TIMES != 0 {
        w.var(d.stime_ns.wrapping_sub(base_ns));
        w.var(d.ltime_ns.wrapping_sub(d.stime_ns));
    }
    if bits & dbit::IP != 0 {
        w.u8(d.ttl);
        w.u8(d.tos);
        w.u16(d.ipid);
    }
}

#[inline(always)]
fn put_dir_stats(w: &mut W<'_>, d: &DirStats) {
    let mut bits = 0;
    if d.min_sz != 0 || d.max_sz != 0 || d.intpkt_n != 0 {
        bits |= sbit::SIZES;
    }
    if (d.intpkt_sum_us.to_bits()
        | d.intpkt_sumsq_us.to_bits()
        | d.intpkt_min_us.to_bits()
        | d.intpkt_max_us.to_bits())
        != 0
    {
        bits |= sbit::INTPKT;
    }
    w.u8(bits);
    if bits & sbit::SIZES != 0 {
        w.var(d.min_sz as u64);
        w.var(d.max_sz as u64);
        w.var(d.intpkt_n as u64);
    }
    if bits & sbit::INTPKT != 0 {
        for v in [
            d.intpkt_sum_us,
            d.intpkt_sumsq_us,
            d.intpkt_min_us,
            d.intpkt_max_us,
        ] {
            w.u64(v.to_bits());
        }
    }
}

/// Appends the version-2 encoding of `rec` to `out`. User data longer than
/// `MAX_USER_BYTES` per direction is cut to that length.
pub fn encode(rec: &FlowRecord, out: &mut Vec<u8>) {
    let start = out.len();
    encode_unsealed(rec, out);
    let b = &mut out[start..];
    let crc = crc32c(&b[8..]);
    b[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// [`encode`] without the check value (left zero): for a record that
/// [`restamp`] completes.
pub fn encode_unsealed(rec: &FlowRecord, out: &mut Vec<u8>) {
    let start = out.len();
    let su = user_len(&rec.suser);
    let du = user_len(&rec.duser);
    out.reserve(MAX_FIXED + su + du);
    let mut w = W {
        b: out.spare_capacity_mut(),
        p: 0,
    };
    // The header: length, CRC and core length are set at the end.
    w.bytes(&[0; 8]);
    w.u8(rec.kind as u8);
    w.u8(VERSION);
    w.u16(0);

    // Core.
    w.var(rec.seq);
    w.u64(rec.stime_ns);
    w.var(rec.ltime_ns.wrapping_sub(rec.stime_ns));
    w.var(rec.srcid as u64);
    w.var(rec.encaps as u64);
    w.var(rec.flags as u64);
    w.var(rec.ip_options as u64);
    w.u8(rec.cause as u8);
    w.u8(rec.icmp_mapped);
    put_key(&mut w, &rec.key);
    put_dir(&mut w, &rec.src, rec.stime_ns);
    put_dir(&mut w, &rec.dst, rec.stime_ns);
    let core_len = w.p - RECORD_HEADER_LEN;

    // Extension blocks, in type order.
    if let Some(t) = &rec.tcp {
        w.block(ext::TCP as u8, |w| {
            w.var(t.state as u64);
            w.u8(t.history);
            w.u8(t.src_flags);
            w.u8(t.dst_flags);
            w.u32(t.src_base_seq);
            w.u32(t.dst_base_seq);
            w.var(t.src_win as u64);
            w.var(t.dst_win as u64);
            w.var(t.options as u64);
            for v in [
                t.synack_us,
                t.ackdat_us,
                t.src_retrans,
                t.dst_retrans,
                t.src_ooo,
                t.dst_ooo,
                t.src_gap_bytes,
                t.dst_gap_bytes,
                t.src_max_seq.wrapping_sub(t.src_base_seq),
                t.dst_max_seq.wrapping_sub(t.dst_base_seq),
            ] {
                w.var(v as u64);
            }
        });
    }
    if has_l2(rec) {
        w.block(ext::L2 as u8, |w| {
            w.bytes(&rec.smac);
            w.bytes(&rec.dmac);
            w.var(rec.svlan as u64);
            w.var(rec.dvlan as u64);
            w.var(rec.smpls as u64);
            w.var(rec.dmpls as u64);
        });
    }
    if dir_has_stats(&rec.src) || dir_has_stats(&rec.dst) {
        w.block(ext::STATS as u8, |w| {
            put_dir_stats(w, &rec.src);
            put_dir_stats(w, &rec.dst);
        });
    }
    for (ty, data, n) in [
        (ext::SRC_USER, &rec.suser, su),
        (ext::DST_USER, &rec.duser, du),
    ] {
        if n > 0 {
            w.u8(ty as u8);
            w.var(n as u64);
            w.bytes(&data[..n]);
        }
    }
    if let Some(m) = &rec.man {
        w.block(ext::MAN as u8, |w| {
            for v in [m.pkts, m.bytes, m.flows, m.records, m.malformed, m.dropped] {
                w.var(v);
            }
        });
        if let Some(d) = &m.drops {
            w.block(ext::MAN_DROPS as u8, |w| {
                for v in [
                    d.redirect_failed,
                    d.pcap_dropped,
                    d.pcap_if_dropped,
                    d.xsk_rx_dropped,
                    d.xsk_ring_full,
                    d.xsk_fill_empty,
                    d.xsk_invalid,
                    d.flows_active,
                    d.writer_stalls,
                ] {
                    w.var(v);
                }
            });
        }
    }
    let len = w.p;
    // SAFETY: `W` wrote every byte of `start..start + len` (it writes
    // sequentially from the start, and the one byte it goes back to, a block
    // length, it wrote first), all within the reserved capacity.
    unsafe { out.set_len(start + len) };

    let b = &mut out[start..];
    b[0..4].copy_from_slice(&(len as u32).to_le_bytes());
    b[10..12].copy_from_slice(&(core_len as u16).to_le_bytes());
}

/// Appends record `rec` (as [`encode_unsealed`] wrote it, whatever its
/// sequence number and source id) to `out` with sequence number `seq` and
/// source id `srcid`, and seals it with its check value.
///
/// Workers encode their records as they take them from the flows, and the
/// writer, which numbers them in output order, only rewrites the two fields
/// at the head of the core and checksums: the records cross between threads
/// as their encodings, a quarter of the size of a `FlowRecord`.
pub fn restamp(rec: &[u8], seq: u64, srcid: u32, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let bad = |reason| CodecError::BadHeader { reason };
    if rec.len() < RECORD_HEADER_LEN || rec[9] != VERSION {
        return Err(bad("restamp: not a version-2 record"));
    }
    let core_len = u16::from_le_bytes([rec[10], rec[11]]) as usize;
    // Core: seq, stime (8 bytes), duration, srcid, the rest.
    let mut r = R::new(rec, RECORD_HEADER_LEN);
    r.var().ok_or(bad("restamp: bad sequence number"))?;
    let stime_at = r.pos();
    r.take::<8>().ok_or(bad("restamp: truncated start time"))?;
    r.var().ok_or(bad("restamp: bad duration"))?;
    let srcid_at = r.pos();
    r.var().ok_or(bad("restamp: bad source id"))?;
    let rest_at = r.pos();
    if rest_at > RECORD_HEADER_LEN + core_len || RECORD_HEADER_LEN + core_len > rec.len() {
        return Err(bad("restamp: core length"));
    }
    let start = out.len();
    // The new head is at most two longest varints longer than the old.
    out.reserve(rec.len() + 2 * MAX_VAR);
    let mut w = W {
        b: out.spare_capacity_mut(),
        p: 0,
    };
    w.bytes(&rec[..RECORD_HEADER_LEN]);
    w.var(seq);
    w.bytes(&rec[stime_at..srcid_at]);
    w.var(srcid as u64);
    // The new head's length against the old's (12 + core_len >= rest_at).
    let core_len = core_len + w.p - rest_at;
    w.bytes(&rec[rest_at..]);
    let len = w.p;
    // SAFETY: `W` wrote every byte of `start..start + len`, sequentially,
    // within the capacity reserved above.
    unsafe { out.set_len(start + len) };
    let b = &mut out[start..];
    b[0..4].copy_from_slice(&(len as u32).to_le_bytes());
    b[10..12].copy_from_slice(&(core_len as u16).to_le_bytes());
    let crc = crc32c(&b[8..]);
    b[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A reader over one record's core or one block body. Its reads return
/// `None` when a field runs past the end or a varint is malformed or out of
/// range for its field; the caller turns that into one error for the part
/// it reads. (`Option` stays in registers: a `Result` with a `CodecError`
/// would go through memory for every field.)
pub(super) struct R<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> R<'a> {
    pub(super) fn new(b: &'a [u8], p: usize) -> R<'a> {
        R { b, p }
    }

    /// Where the next read starts.
    pub(super) fn pos(&self) -> usize {
        self.p
    }

    /// The length of the whole slice read.
    pub(super) fn len(&self) -> usize {
        self.b.len()
    }

    #[inline]
    pub(super) fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.p..self.p + N)?;
        self.p += N;
        s.try_into().ok()
    }
    #[inline]
    fn slice(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.p..self.p + n)?;
        self.p += n;
        Some(s)
    }
    #[inline]
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.p)?;
        self.p += 1;
        Some(v)
    }
    #[inline]
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    #[inline]
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    #[inline]
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    #[inline]
    fn f64(&mut self) -> Option<f64> {
        self.u64().map(f64::from_bits)
    }

    /// A LEB128 varint of at most 10 bytes.
    #[inline]
    fn var(&mut self) -> Option<u64> {
        let b = *self.b.get(self.p)?;
        if b < 0x80 {
            self.p += 1;
            return Some(b as u64);
        }
        // Up to 8 bytes at once: find the last byte by its clear top bit and
        // gather the 7-bit groups without a loop.
        if let Some(chunk) = self.b.get(self.p..self.p + 8) {
            let w = u64::from_le_bytes(chunk.try_into().ok()?);
            let stops = !w & 0x8080_8080_8080_8080;
            if stops != 0 {
                let n = (stops.trailing_zeros() / 8 + 1) as usize;
                let w = if n == 8 {
                    w
                } else {
                    w & ((1u64 << (8 * n)) - 1)
                };
                let v = (w & 0x7f)
                    | (w >> 1) & (0x7f << 7)
                    | (w >> 2) & (0x7f << 14)
                    | (w >> 3) & (0x7f << 21)
                    | (w >> 4) & (0x7f << 28)
                    | (w >> 5) & (0x7f << 35)
                    | (w >> 6) & (0x7f << 42)
                    | (w >> 7) & (0x7f << 49);
                self.p += n;
                return Some(v);
            }
        }
        self.var_slow()
    }

    #[cold]
    fn var_slow(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self.b.get(self.p + i)?;
            if i == 9 && b > 1 {
                return None;
            }
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                self.p += i + 1;
                return Some(v);
            }
        }
        None
    }

    /// Steps over `n` varints (at most 8) without decoding them: the bytes
    /// up to the `n`th one with a clear top bit, or [`R::var`]'s verdict on
    /// each when they run past a 16-byte window.
    #[inline]
    fn skip_vars(&mut self, n: u32) -> Option<()> {
        debug_assert!((1..=8).contains(&n));
        if let Some(chunk) = self.b.get(self.p..).and_then(|b| b.first_chunk::<16>()) {
            let tops = top_bits16(chunk);
            // Bit i: byte i ends a varint.
            let mut stops = !tops & 0xffff;
            for _ in 1..n {
                stops &= stops.wrapping_sub(1);
            }
            if stops != 0 {
                self.p += stops.trailing_zeros() as usize + 1;
                return Some(());
            }
        }
        for _ in 0..n {
            self.var()?;
        }
        Some(())
    }

    /// Steps over a core's head (sequence number, start time, duration,
    /// source id, encapsulations, flags, IP options, cause and ICMP mapping)
    /// to its key, checking only that it is there.
    #[inline]
    fn skip_head(&mut self) -> Option<()> {
        // Nearly always: the first varint in one 16-byte window, the five
        // after the start time in another.
        let fast = (|| {
            let b = self.b;
            let m0 = !top_bits16(b.get(self.p..)?.first_chunk::<16>()?) & 0xffff;
            if m0 == 0 {
                return None;
            }
            let q = self.p + m0.trailing_zeros() as usize + 1 + 8;
            let mut m1 = !top_bits16(b.get(q..)?.first_chunk::<16>()?) & 0xffff;
            for _ in 1..5 {
                m1 &= m1.wrapping_sub(1);
            }
            if m1 == 0 {
                return None;
            }
            let end = q + m1.trailing_zeros() as usize + 1 + 2;
            (end <= b.len()).then_some(end)
        })();
        if let Some(end) = fast {
            self.p = end;
            return Some(());
        }
        self.skip_vars(1)?;
        self.take::<8>()?;
        self.skip_vars(5)?;
        self.take::<2>()?;
        Some(())
    }

    /// A varint that must fit `u32`.
    #[inline]
    fn var32(&mut self) -> Option<u32> {
        u32::try_from(self.var()?).ok()
    }

    /// A varint that must fit `u16`.
    #[inline]
    fn var16(&mut self) -> Option<u16> {
        u16::try_from(self.var()?).ok()
    }
}

/// The top bits of 8 bytes, byte `i`'s in bit `i` (SSE2's `movemask`, in
/// portable code: the multiplication gathers the bits, one per partial
/// product, into the top byte without carries).
#[inline]
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
fn top_bits(b: [u8; 8]) -> u32 {
    let w = u64::from_le_bytes(b);
    (((w >> 7) & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// The top bits of 16 bytes, byte `i`'s in bit `i`: SSE2's `movemask` (every
/// x86-64 CPU has it), [`top_bits`] twice elsewhere.
#[inline]
fn top_bits16(b: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_loadu_si128, _mm_movemask_epi8};
        // SAFETY: SSE2 is part of x86-64; the load is unaligned and reads
        // the 16 bytes of `b`.
        unsafe { _mm_movemask_epi8(_mm_loadu_si128(b.as_ptr().cast())) as u32 & 0xffff }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (lo, hi) = b.split_at(8);
        top_bits(lo.try_into().unwrap_or_default())
            | top_bits(hi.try_into().unwrap_or_default()) << 8
    }
}

/// Why a core could not be read, beyond running short.
enum CoreError {
    Short,
    Bad(CodecError),
}

/// Where a key's protocol number lies from the key's start, by the key's
/// form byte (`put_key`); past any core for an unknown form, which
/// `get_key_into` then rejects.
#[inline]
fn key_proto_at(form: u8) -> usize {
    match form {
        KEY_PACKED => 2,
        KEY_RAW => 1 + 16 + 16 + 2 + 2 + 4,
        _ => usize::MAX / 2,
    }
}

/// The protocol of the key at `key_at` in `core`, if it is there.
#[inline]
fn proto_at(core: &[u8], key_at: usize) -> Option<u8> {
    let form = *core.get(key_at)?;
    core.get(key_at + key_proto_at(form)).copied()
}

/// The protocol of the key of `core` (a record's header and core), if the
/// head before it and the protocol's byte are there.
#[inline]
pub(super) fn key_proto(core: &[u8]) -> Option<u8> {
    let mut k = R::new(core, RECORD_HEADER_LEN);
    k.skip_head()?;
    proto_at(core, k.p)
}

/// Decodes a key into `k` in place. (Built on the stack and copied out, the
/// key's narrow stores of its addresses stalled the copy's wide loads: the
/// store buffer cannot forward them.)
fn get_key_into(c: &mut R<'_>, k: &mut FlowKey) -> Result<(), CoreError> {
    let form = c.u8().ok_or(CoreError::Short)?;
    let ok = match form {
        KEY_PACKED => (|| {
            let [class, proto] = c.take()?;
            let n = addr_len(class);
            *k = FlowKey {
                class,
                proto,
                ..FlowKey::ZERO
            };
            if n == 4 {
                // IPv4 and ARP, nearly every record: fixed-size copies.
                let a: [u8; 8] = c.take()?;
                k.src[..4].copy_from_slice(&a[..4]);
                k.dst[..4].copy_from_slice(&a[4..]);
            } else {
                let a = c.slice(2 * n)?;
                k.src[..n].copy_from_slice(&a[..n]);
                k.dst[..n].copy_from_slice(&a[n..]);
            }
            k.sport = c.u16()?;
            k.dport = c.u16()?;
            k.aux = c.var32()?;
            Some(())
        })(),
        KEY_RAW => (|| {
            k.src = c.take()?;
            k.dst = c.take()?;
            k.sport = c.u16()?;
            k.dport = c.u16()?;
            k.aux = c.u32()?;
            k.proto = c.u8()?;
            k.class = c.u8()?;
            k._pad = c.take()?;
            Some(())
        })(),
        _ => {
            return Err(CoreError::Bad(CodecError::BadValue {
                field: "key form",
                value: form as u64,
            }))
        }
    };
    ok.ok_or(CoreError::Short)
}

fn get_dir(c: &mut R<'_>, d: &mut DirStats, base_ns: u64) -> Result<(), CoreError> {
    let bits = c.u8().ok_or(CoreError::Short)?;
    if bits & !dbit::ALL != 0 {
        return Err(CoreError::Bad(CodecError::BadValue {
            field: "direction bits",
            value: bits as u64,
        }));
    }
    (|| {
        (d.pkts, d.bytes, d.appbytes) = if bits & dbit::COUNTS != 0 {
            (c.var()?, c.var()?, c.var()?)
        } else {
            (0, 0, 0)
        };
        (d.stime_ns, d.ltime_ns) = if bits & dbit::TIMES != 0 {
            let s = base_ns.wrapping_add(c.var()?);
            (s, s.wrapping_add(c.var()?))
        } else {
            (0, 0)
        };
        (d.ttl, d.tos, d.ipid) = if bits & dbit::IP != 0 {
            (c.u8()?, c.u8()?, c.u16()?)
        } else {
            (0, 0, 0)
        };
        Some(())
    })()
    .ok_or(CoreError::Short)
}

/// Decodes the packed core of `buf` (one whole record, header checked by
/// the caller) into `r`, leaving the kind, and the fields the blocks carry,
/// to the caller.
pub(super) fn decode_core(
    buf: &[u8],
    core_len: usize,
    r: &mut FlowRecord,
    keep: &mut dyn super::Keep,
) -> Result<bool, CodecError> {
    let core = &buf[..RECORD_HEADER_LEN + core_len];
    let mut c = R::new(core, RECORD_HEADER_LEN);
    let res = (|| {
        // The key first: a record the key stage rejects needs nothing else,
        // and its head's varints are only stepped over.
        let mut k = R::new(core, RECORD_HEADER_LEN);
        k.skip_head().ok_or(CoreError::Short)?;
        let key_at = k.p;
        // The key's protocol first: a filter that names protocols rejects
        // most records on it, before their addresses are copied out.
        if let Some(proto) = proto_at(core, key_at) {
            if !keep.proto(r.kind, proto) {
                return Ok(false);
            }
        }
        get_key_into(&mut k, &mut r.key)?;
        if !keep.key(r) {
            return Ok(false);
        }
        let head = (|| {
            r.seq = c.var()?;
            r.stime_ns = c.u64()?;
            r.ltime_ns = r.stime_ns.wrapping_add(c.var()?);
            r.srcid = c.var32()?;
            r.encaps = c.var32()?;
            r.flags = c.var32()?;
            r.ip_options = c.var16()?;
            Some((c.u8()?, c.u8()?))
        })();
        let (cause, icmp) = head.ok_or(CoreError::Short)?;
        r.cause = Cause::from_u8(cause).ok_or(CoreError::Bad(CodecError::BadValue {
            field: "cause",
            value: cause as u64,
        }))?;
        r.icmp_mapped = icmp;
        debug_assert_eq!(c.p, key_at, "the head's walk and its decoding agree");
        c.p = k.p;
        get_dir(&mut c, &mut r.src, r.stime_ns)?;
        get_dir(&mut c, &mut r.dst, r.stime_ns)?;
        // A longer core (a newer minor revision) keeps its tail to itself.
        Ok(true)
    })();
    res.map_err(|e| match e {
        CoreError::Short => CodecError::BadValue {
            field: "core length",
            value: core_len as u64,
        },
        CoreError::Bad(e) => e,
    })
}

/// Decodes the v2 extension blocks of `buf` from `pos` on into `r`, whose
/// block fields the caller has reset.
pub(super) fn decode_blocks(
    buf: &[u8],
    mut pos: usize,
    r: &mut FlowRecord,
    suser: &mut Vec<u8>,
    duser: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let len = buf.len();
    while pos < len {
        let mut h = R::new(buf, pos);
        let ty = buf[pos];
        h.p += 1;
        let Some(blen) = h.var() else {
            return Err(CodecError::BadBlock {
                ty: ty as u16,
                offset: pos,
                reason: "block length runs past the record end",
            });
        };
        let body_start = h.p;
        let Some(body) = usize::try_from(blen)
            .ok()
            .and_then(|n| buf.get(body_start..body_start.checked_add(n)?))
        else {
            return Err(CodecError::BadBlock {
                ty: ty as u16,
                offset: pos,
                reason: "block body runs past the record end",
            });
        };
        match decode_block(ty, body, r, suser, duser) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e),
            None => {
                return Err(CodecError::BadBlock {
                    ty: ty as u16,
                    offset: pos,
                    reason: "block shorter than its fields, or a value out of range",
                })
            }
        }
        pos = body_start + body.len();
    }
    Ok(())
}

fn get_dir_stats(b: &mut R<'_>, d: &mut DirStats) -> Option<()> {
    let bits = b.u8()?;
    if bits & !sbit::ALL != 0 {
        return None;
    }
    if bits & sbit::SIZES != 0 {
        d.min_sz = b.var32()?;
        d.max_sz = b.var32()?;
        d.intpkt_n = b.var32()?;
    }
    if bits & sbit::INTPKT != 0 {
        d.intpkt_sum_us = b.f64()?;
        d.intpkt_sumsq_us = b.f64()?;
        d.intpkt_min_us = b.f64()?;
        d.intpkt_max_us = b.f64()?;
    }
    Some(())
}

/// One block's body into `r`: `None` when it is short or holds a value out
/// of range, `Some(Err)` for an unknown critical block.
fn decode_block(
    ty: u8,
    body: &[u8],
    r: &mut FlowRecord,
    suser: &mut Vec<u8>,
    duser: &mut Vec<u8>,
) -> Option<Result<(), CodecError>> {
    let mut b = R::new(body, 0);
    match ty as u16 {
        ext::TCP => {
            let state = b.var32()?;
            let [history, src_flags, dst_flags] = b.take()?;
            let src_base_seq = b.u32()?;
            let dst_base_seq = b.u32()?;
            let src_win = b.var32()?;
            let dst_win = b.var32()?;
            let options = b.var16()?;
            let mut v = [0u32; 10];
            for x in &mut v {
                *x = b.var32()?;
            }
            // The highest sequence numbers are stored from the bases.
            v[8] = src_base_seq.wrapping_add(v[8]);
            v[9] = dst_base_seq.wrapping_add(v[9]);
            r.tcp = Some(TcpPerf {
                state,
                history,
                src_flags,
                dst_flags,
                src_base_seq,
                dst_base_seq,
                src_win,
                dst_win,
                options,
                ..tcp_counters(v)
            });
        }
        ext::L2 => {
            r.smac = b.take()?;
            r.dmac = b.take()?;
            r.svlan = b.var16()?;
            r.dvlan = b.var16()?;
            r.smpls = b.var32()?;
            r.dmpls = b.var32()?;
        }
        ext::STATS => {
            get_dir_stats(&mut b, &mut r.src)?;
            get_dir_stats(&mut b, &mut r.dst)?;
        }
        ext::SRC_USER => set_user(suser, body),
        ext::DST_USER => set_user(duser, body),
        ext::MAN => {
            let mut v = [0u64; 6];
            for x in &mut v {
                *x = b.var()?;
            }
            set_man(r, v);
        }
        ext::MAN_DROPS => {
            let mut v = [0u64; 9];
            for x in &mut v {
                *x = b.var()?;
            }
            set_man_drops(r, v);
        }
        _ if ty & CRITICAL != 0 => {
            return Some(Err(CodecError::UnknownCriticalBlock { ty: ty as u16 }));
        }
        _ => {} // Unknown, not critical: skipped.
    }
    Some(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift).
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn top_bits_gathers_each_bytes_top_bit() {
        let mut x = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..10_000 {
            let b = next(&mut x).to_le_bytes();
            let naive = (0..8).fold(0, |m, i| m | u32::from(b[i] >> 7) << i);
            assert_eq!(top_bits(b), naive, "{b:02x?}");
            let mut b16 = [0u8; 16];
            b16[..8].copy_from_slice(&b);
            b16[8..].copy_from_slice(&next(&mut x).to_le_bytes());
            let naive16 = (0..16).fold(0, |m, i| m | u32::from(b16[i] >> 7) << i);
            assert_eq!(top_bits16(&b16), naive16, "{b16:02x?}");
        }
    }

    /// The unchecked varint writer writes plain LEB128, at every length and
    /// at each length's edges, and the reader reads it back.
    #[test]
    fn varints_written_without_checks_are_leb128() {
        let mut values = vec![0u64, u64::MAX];
        for bits in 1..64 {
            let edge = 1u64 << bits;
            values.extend([edge - 1, edge, edge + 1]);
        }
        let mut x = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let v = next(&mut x);
            values.push(v >> (v % 64));
        }
        for v in values {
            let mut want = Vec::new();
            let mut rest = v;
            while rest >= 0x80 {
                want.push(rest as u8 | 0x80);
                rest >>= 7;
            }
            want.push(rest as u8);
            let mut out: Vec<u8> = Vec::with_capacity(32);
            let mut w = W {
                b: out.spare_capacity_mut(),
                p: 0,
            };
            w.var(v);
            let n = w.p;
            // SAFETY: `var` wrote its `n` bytes from the start.
            unsafe { out.set_len(n) };
            assert_eq!(out, want, "{v:#x}");
            let mut r = R { b: &out, p: 0 };
            assert_eq!(r.var(), Some(v));
            assert_eq!(r.p, n);
        }
    }

    /// Stepping over a head lands where decoding it does, for fields of
    /// every length, and fails where decoding does when the buffer is cut.
    #[test]
    fn skipping_a_head_lands_where_decoding_it_does() {
        let mut x = 0x853c_49e6_748f_ea9b;
        for _ in 0..3000 {
            let mut buf = vec![0u8; RECORD_HEADER_LEN];
            let mut w = Vec::new();
            let var = |v: u64, out: &mut Vec<u8>| {
                let mut v = v;
                while v >= 0x80 {
                    out.push(v as u8 | 0x80);
                    v >>= 7;
                }
                out.push(v as u8);
            };
            let r = next(&mut x);
            var(next(&mut x) >> (r % 64), &mut w);
            w.extend_from_slice(&next(&mut x).to_le_bytes());
            for i in 0..5 {
                var(next(&mut x) >> ((r >> (6 + 6 * i)) % 64), &mut w);
            }
            w.extend_from_slice(&[3, 0]);
            buf.extend_from_slice(&w);
            let end = buf.len();
            buf.extend((0..(r >> 40) % 40).map(|_| next(&mut x) as u8));
            for cut in [buf.len(), end, end - 1, end.saturating_sub(9)] {
                let b = &buf[..cut.max(RECORD_HEADER_LEN)];
                let mut s = R::new(b, RECORD_HEADER_LEN);
                let mut d = R::new(b, RECORD_HEADER_LEN);
                let decoded = (|| {
                    d.var()?;
                    d.take::<8>()?;
                    for _ in 0..5 {
                        d.var()?;
                    }
                    d.take::<2>()
                })();
                let skipped = s.skip_head();
                assert_eq!(skipped.is_some(), decoded.is_some(), "{w:02x?} cut {cut}");
                if decoded.is_some() {
                    assert_eq!(s.p, d.p);
                    assert_eq!(s.p, end);
                }
            }
        }
    }

    /// Stepping over varints lands where decoding them does, for values of
    /// every length, anywhere in the buffer, up to its end.
    #[test]
    fn skipping_varints_lands_where_decoding_them_does() {
        let mut x = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2_000 {
            let mut buf = Vec::new();
            let count = 1 + next(&mut x) % 12;
            for _ in 0..count {
                let bits = next(&mut x) % 65;
                let v = next(&mut x) & (u64::MAX >> (64 - bits.max(1)));
                let mut v = if bits == 0 { 0 } else { v };
                while v >= 0x80 {
                    buf.push(v as u8 | 0x80);
                    v >>= 7;
                }
                buf.push(v as u8);
            }
            let n = 1 + (next(&mut x) % count.min(8)) as u32;
            let mut dec = R::new(&buf, 0);
            for _ in 0..n {
                dec.var().unwrap();
            }
            let mut skip = R::new(&buf, 0);
            skip.skip_vars(n).unwrap();
            assert_eq!(skip.pos(), dec.pos(), "{n} of {buf:02x?}");
            // Cut inside the `n`th varint: both see it run short.
            let cut = &buf[..dec.pos() - 1];
            let mut dec = R::new(cut, 0);
            let decoded = (0..n).try_for_each(|_| dec.var().map(drop));
            assert_eq!(R::new(cut, 0).skip_vars(n), decoded, "{n} of {cut:02x?}");
        }
    }
}

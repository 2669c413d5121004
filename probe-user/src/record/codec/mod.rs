//! The binary record encoding (see FORMAT.md at the repository root).
//!
//! Little-endian throughout. A record is a 12-byte header (length, CRC32C,
//! kind, version, core length), a core, and optional extension blocks.
//! Version 2 ([`v2`], what this code writes) packs the core and the blocks
//! with varints and presence bits; version 1 (a fixed 176-byte core and
//! fixed-size blocks) is still read, so files written before stay readable.
//! Readers skip extension blocks they do not know unless the block is marked
//! critical.

mod v2;

use super::{Cause, DirStats, FlowKey, FlowRecord, ManDrops, ManInfo, RecordKind, TcpPerf};

/// The first 8 bytes of every ocellus file and ring segment.
pub const MAGIC: [u8; 8] = *b"OCELLUS\0";
/// File / segment header format version this code writes and the newest it
/// reads. Version 2 files hold version-2 records; a reader of version 1
/// files stops at the header with a clear message instead of misreading them.
pub const FORMAT_VERSION: u16 = 2;
/// Record layout version this code writes and the newest it reads.
pub const RECORD_VERSION: u8 = v2::VERSION;
/// Bytes of the common prefix of file and segment headers (magic, version,
/// header length, flags).
pub const HEADER_PREFIX_LEN: usize = 16;
/// Bytes of a file header (version 1).
pub const FILE_HEADER_LEN: usize = 32;
/// Largest header length a reader accepts (newer writers may grow the header).
pub const MAX_HEADER_LEN: usize = 4096;
/// Bytes of the record header.
pub const RECORD_HEADER_LEN: usize = 12;
/// Bytes of the fixed core (record version 1).
pub const CORE_LEN: usize = 176;
/// Smallest length a reader accepts before looking further (a version-2
/// record is at least 40 bytes; a version-1 record at least 188).
pub const MIN_RECORD_LEN: usize = 32;
/// Largest record a reader accepts: a cap against hostile length fields.
pub const MAX_RECORD_LEN: usize = 1 << 20;
/// Bytes of an extension block header (type, length).
pub const EXT_HEADER_LEN: usize = 4;
/// User data beyond this many bytes per direction is not encoded (the block
/// length is a u16).
pub const MAX_USER_BYTES: usize = u16::MAX as usize;

/// File header `flags` bits.
pub mod file_flag {
    /// The file is a ring segment: its header is a segment header and records
    /// are valid only up to the commit offset.
    pub const SEGMENT: u32 = 1 << 0;
}

/// Extension block types.
pub mod ext {
    /// TCP performance (`FlowRecord::tcp`).
    pub const TCP: u16 = 1;
    /// MAC addresses, VLAN tags and MPLS labels.
    pub const L2: u16 = 2;
    /// Per-direction size and inter-packet (jitter) statistics.
    pub const STATS: u16 = 3;
    /// Source user data (first payload bytes, `-U`).
    pub const SRC_USER: u16 = 4;
    /// Destination user data.
    pub const DST_USER: u16 = 5;
    /// Management totals (`FlowRecord::man`).
    pub const MAN: u16 = 6;
    /// Live probe drops by stage (`ManInfo::drops`), in status and stop records.
    pub const MAN_DROPS: u16 = 7;
    /// A block type with this bit set must be understood: a reader that does
    /// not know it rejects the record instead of skipping the block.
    pub const CRITICAL: u16 = 0x8000;

    /// Body sizes of the version-1 blocks (a reader accepts longer bodies and
    /// ignores the tail, so a block can grow at the end).
    pub const TCP_LEN: usize = 68;
    pub const L2_LEN: usize = 24;
    pub const STATS_LEN: usize = 88;
    pub const MAN_LEN: usize = 48;
    pub const MAN_DROPS_LEN: usize = 72;
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("truncated: need {needed} bytes, have {have}")]
    Truncated { needed: usize, have: usize },
    #[error("bad record length {len} (valid: {MIN_RECORD_LEN}..={MAX_RECORD_LEN})")]
    BadLength { len: usize },
    #[error("check mismatch: stored CRC32C {stored:08x}, computed {computed:08x}")]
    BadCheck { stored: u32, computed: u32 },
    #[error(
        "record version {found} is newer than this ocellus reads (up to {supported}); upgrade ocellus"
    )]
    UnsupportedRecordVersion { found: u8, supported: u8 },
    #[error(
        "format version {found} is newer than this ocellus reads (up to {supported}); upgrade ocellus"
    )]
    UnsupportedFormatVersion { found: u16, supported: u16 },
    #[error("unknown record kind {kind} ({len} bytes)")]
    UnknownKind { kind: u8, len: usize },
    #[error("unknown critical extension block type {ty:#06x}")]
    UnknownCriticalBlock { ty: u16 },
    #[error("bad extension block type {ty:#06x} at record offset {offset}: {reason}")]
    BadBlock {
        ty: u16,
        offset: usize,
        reason: &'static str,
    },
    #[error("bad value {value} in field {field}")]
    BadValue { field: &'static str, value: u64 },
    #[error("not an ocellus header (magic {found:02x?})")]
    BadMagic { found: [u8; 8] },
    #[error("bad header: {reason}")]
    BadHeader { reason: &'static str },
}

// ---------------------------------------------------------------------------
// CRC32C (Castagnoli), slice-by-8.

const CRC32C_POLY: u32 = 0x82F6_3B78;

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ CRC32C_POLY
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static CRC_TABLES: [[u32; 256]; 8] = crc_tables();

/// `LEAD[k]`: the CRC32C state that `k` zero bytes turn into `0xFFFF_FFFF`,
/// the initial state (each zero bit's step run backwards: a step that
/// shifted a set bit out XORed in the polynomial, whose top bit is set).
static LEAD: [u32; 9] = {
    let mut t = [0u32; 9];
    let mut k = 0;
    while k < 9 {
        let mut s = !0u32;
        let mut bit = 0;
        while bit < 8 * k {
            s = if s & 0x8000_0000 != 0 {
                ((s ^ CRC32C_POLY) << 1) | 1
            } else {
                s << 1
            };
            bit += 1;
        }
        t[k] = s;
        k += 1;
    }
    t
};

/// Continues a CRC32C over `data`; `state` starts at `!0` and the final CRC is `!state`.
pub fn crc32c_update(state: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        // The checksum is most of the cost of decoding a record: use the
        // SSE4.2 crc32 instruction (the same CRC-32C) where the CPU has it.
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU supports SSE4.2, checked just above.
            return unsafe { crc32c_update_sse42(state, data) };
        }
    }
    crc32c_update_table(state, data)
}

/// [`crc32c_update`] with the `crc32` instruction, 8 bytes at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32c_update_sse42(state: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::_mm_crc32_u64;
    let mut s = u64::from(state);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        s = _mm_crc32_u64(s, v);
    }
    // SAFETY: this function's caller has checked for SSE4.2.
    unsafe { crc32c_tail_sse42(s as u32, chunks.remainder()) }
}

/// The last 0 to 7 bytes of a CRC32C, in at most three steps.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
#[inline]
unsafe fn crc32c_tail_sse42(mut s: u32, mut rest: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u16, _mm_crc32_u32, _mm_crc32_u8};
    if let Some((c, r)) = rest.split_first_chunk::<4>() {
        s = _mm_crc32_u32(s, u32::from_le_bytes(*c));
        rest = r;
    }
    if let Some((c, r)) = rest.split_first_chunk::<2>() {
        s = _mm_crc32_u16(s, u16::from_le_bytes(*c));
        rest = r;
    }
    if let Some(&b) = rest.first() {
        s = _mm_crc32_u8(s, b);
    }
    s
}

/// [`crc32c_update`] in portable code (slicing by 8).
fn crc32c_update_table(mut state: u32, data: &[u8]) -> u32 {
    let t = &CRC_TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ state;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        state = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        state = t[0][((state ^ b as u32) & 0xff) as usize] ^ (state >> 8);
    }
    state
}

/// CRC32C of `data` (the iSCSI / ext4 checksum; `crc32c(b"123456789") == 0xe3069283`).
pub fn crc32c(data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU supports SSE4.2, checked just above.
            return unsafe { crc32c_whole_sse42(data) };
        }
    }
    !crc32c_update(!0, data)
}

/// [`crc32c`] in whole words only. Records' lengths vary, so a tail of 1 to
/// 7 bytes taken in steps of 4, 2 and 1 costs a mispredicted branch or
/// two per record, as much as the words themselves. Instead the string is
/// led by the zero bytes that make its length a multiple of 8, from the
/// state that those zeros turn into the initial one ([`LEAD`]): the first
/// word is the zeros and the first bytes, the rest are whole.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32c_whole_sse42(data: &[u8]) -> u32 {
    use std::arch::x86_64::_mm_crc32_u64;
    let Some(first) = data.first_chunk::<8>() else {
        // SAFETY: this function's caller has checked for SSE4.2.
        return !unsafe { crc32c_update_sse42(!0, data) };
    };
    let lead = 8 - data.len() % 8;
    // The first `8 - lead` bytes, moved past `lead` zero bytes; none when
    // the length is a multiple of 8 (`lead` 8: a word of zeros).
    let w = u64::from_le_bytes(*first)
        .checked_shl(8 * lead as u32)
        .unwrap_or(0);
    let mut s = _mm_crc32_u64(u64::from(LEAD[lead]), w);
    for c in data[8 - lead..].chunks_exact(8) {
        s = _mm_crc32_u64(s, u64::from_le_bytes(c.try_into().unwrap_or_default()));
    }
    !(s as u32)
}

// ---------------------------------------------------------------------------
// Headers.

/// A decoded file header (the common prefix plus the file-only fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub version: u16,
    /// Bytes from the start of the file to the first record.
    pub header_len: usize,
    /// `file_flag::*` bits.
    pub flags: u32,
    pub created_ns: u64,
}

/// Appends a version-1 file header.
pub fn encode_file_header(created_ns: u64, flags: u32, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(FILE_HEADER_LEN as u16).to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&created_ns.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let crc = crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The common 16-byte prefix of file and segment headers: checks the magic and
/// the version and returns (version, header length, flags).
pub fn decode_header_prefix(buf: &[u8]) -> Result<(u16, usize, u32), CodecError> {
    let mut magic = [0u8; 8];
    let n = buf.len().min(8);
    magic[..n].copy_from_slice(&buf[..n]);
    if buf.len() < MAGIC.len() || magic != MAGIC {
        if n < 8 && MAGIC.starts_with(&buf[..n]) {
            return Err(CodecError::Truncated {
                needed: HEADER_PREFIX_LEN,
                have: buf.len(),
            });
        }
        return Err(CodecError::BadMagic { found: magic });
    }
    let mut c = Cursor::new(buf, 8);
    let version = c.u16()?;
    let header_len = c.u16()? as usize;
    let flags = c.u32()?;
    if version == 0 {
        return Err(CodecError::BadHeader {
            reason: "format version 0",
        });
    }
    if version > FORMAT_VERSION {
        return Err(CodecError::UnsupportedFormatVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if !(HEADER_PREFIX_LEN..=MAX_HEADER_LEN).contains(&header_len) {
        return Err(CodecError::BadHeader {
            reason: "header length out of range",
        });
    }
    Ok((version, header_len, flags))
}

/// Decodes a file header (not a segment header: see `ring`). `buf` must hold
/// at least `FILE_HEADER_LEN` bytes; the header may be longer (`header_len`).
pub fn decode_file_header(buf: &[u8]) -> Result<FileHeader, CodecError> {
    let (version, header_len, flags) = decode_header_prefix(buf)?;
    if flags & file_flag::SEGMENT != 0 {
        return Err(CodecError::BadHeader {
            reason: "this is a ring segment header, not a file header",
        });
    }
    if header_len < FILE_HEADER_LEN {
        return Err(CodecError::BadHeader {
            reason: "file header shorter than 32 bytes",
        });
    }
    let mut c = Cursor::new(buf, HEADER_PREFIX_LEN);
    let created_ns = c.u64()?;
    let _reserved = c.u32()?;
    let stored = c.u32()?;
    let computed = crc32c(&buf[..FILE_HEADER_LEN - 4]);
    if stored != computed {
        return Err(CodecError::BadCheck { stored, computed });
    }
    Ok(FileHeader {
        version,
        header_len,
        flags,
        created_ns,
    })
}

// ---------------------------------------------------------------------------
// Records.

#[cfg(test)]
#[inline]
fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
#[cfg(test)]
#[inline]
fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
#[cfg(test)]
#[inline]
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
#[cfg(test)]
#[inline]
fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn has_l2(r: &FlowRecord) -> bool {
    r.smac != [0; 6]
        || r.dmac != [0; 6]
        || r.svlan != 0
        || r.dvlan != 0
        || r.smpls != 0
        || r.dmpls != 0
}

fn dir_has_stats(d: &DirStats) -> bool {
    d.min_sz != 0
        || d.max_sz != 0
        || d.intpkt_n != 0
        || d.intpkt_sum_us.to_bits() != 0
        || d.intpkt_sumsq_us.to_bits() != 0
        || d.intpkt_min_us.to_bits() != 0
        || d.intpkt_max_us.to_bits() != 0
}

fn user_len(v: &[u8]) -> usize {
    v.len().min(MAX_USER_BYTES)
}

/// Bytes that `encode_v1(rec, ..)` appends.
#[cfg(test)]
pub(crate) fn encoded_len(rec: &FlowRecord) -> usize {
    let mut n = RECORD_HEADER_LEN + CORE_LEN;
    if rec.tcp.is_some() {
        n += EXT_HEADER_LEN + ext::TCP_LEN;
    }
    if has_l2(rec) {
        n += EXT_HEADER_LEN + ext::L2_LEN;
    }
    if dir_has_stats(&rec.src) || dir_has_stats(&rec.dst) {
        n += EXT_HEADER_LEN + ext::STATS_LEN;
    }
    if !rec.suser.is_empty() {
        n += EXT_HEADER_LEN + user_len(&rec.suser);
    }
    if !rec.duser.is_empty() {
        n += EXT_HEADER_LEN + user_len(&rec.duser);
    }
    if let Some(m) = &rec.man {
        n += EXT_HEADER_LEN + ext::MAN_LEN;
        if m.drops.is_some() {
            n += EXT_HEADER_LEN + ext::MAN_DROPS_LEN;
        }
    }
    n
}

#[cfg(test)]
fn put_key(out: &mut Vec<u8>, k: &FlowKey) {
    out.extend_from_slice(&k.src);
    out.extend_from_slice(&k.dst);
    put_u16(out, k.sport);
    put_u16(out, k.dport);
    put_u32(out, k.aux);
    out.push(k.proto);
    out.push(k.class);
    out.extend_from_slice(&k._pad);
}

#[cfg(test)]
fn put_dir_core(out: &mut Vec<u8>, d: &DirStats) {
    put_u64(out, d.pkts);
    put_u64(out, d.bytes);
    put_u64(out, d.appbytes);
    put_u64(out, d.stime_ns);
    put_u64(out, d.ltime_ns);
    out.push(d.ttl);
    out.push(d.tos);
    put_u16(out, d.ipid);
}

#[cfg(test)]
fn put_dir_stats(out: &mut Vec<u8>, d: &DirStats) {
    put_u32(out, d.min_sz);
    put_u32(out, d.max_sz);
    put_u32(out, d.intpkt_n);
    put_f64(out, d.intpkt_sum_us);
    put_f64(out, d.intpkt_sumsq_us);
    put_f64(out, d.intpkt_min_us);
    put_f64(out, d.intpkt_max_us);
}

#[cfg(test)]
fn put_block_header(out: &mut Vec<u8>, ty: u16, len: usize) {
    put_u16(out, ty);
    // Callers pass block sizes bounded by MAX_USER_BYTES.
    put_u16(out, len.min(u16::MAX as usize) as u16);
}

/// Appends the encoding of `rec` to `out` (record version 2). Allocates
/// nothing beyond growing `out`. User data longer than `MAX_USER_BYTES` per
/// direction is cut to that length.
pub fn encode(rec: &FlowRecord, out: &mut Vec<u8>) {
    v2::encode(rec, out)
}

pub use v2::{encode_unsealed, restamp};

/// Spare room the encoder asks of its output before each record, whatever
/// the record's size (user data aside): a buffer sized for N records needs
/// this much more, or its last record makes it grow.
pub const ENCODE_RESERVE: usize = v2::MAX_FIXED;

/// Appends the version-1 encoding of `rec` to `out`: what ocellus wrote
/// before version 2, kept to test that such records stay readable.
#[cfg(test)]
pub(crate) fn encode_v1(rec: &FlowRecord, out: &mut Vec<u8>) {
    let len = encoded_len(rec);
    out.reserve(len);
    let start = out.len();
    // Header: length and CRC are patched at the end.
    put_u32(out, len as u32);
    put_u32(out, 0);
    out.push(rec.kind as u8);
    out.push(1);
    put_u16(out, CORE_LEN as u16);

    // Core.
    put_u64(out, rec.seq);
    put_u64(out, rec.stime_ns);
    put_u64(out, rec.ltime_ns);
    put_u32(out, rec.srcid);
    put_u32(out, rec.encaps);
    put_u32(out, rec.flags);
    put_u16(out, rec.ip_options);
    out.push(rec.cause as u8);
    out.push(rec.icmp_mapped);
    put_key(out, &rec.key);
    put_dir_core(out, &rec.src);
    put_dir_core(out, &rec.dst);
    debug_assert_eq!(out.len() - start, RECORD_HEADER_LEN + CORE_LEN);

    // Extension blocks.
    if let Some(t) = &rec.tcp {
        put_block_header(out, ext::TCP, ext::TCP_LEN);
        put_u32(out, t.state);
        out.push(t.history);
        out.push(t.src_flags);
        out.push(t.dst_flags);
        out.push(0);
        put_u32(out, t.src_base_seq);
        put_u32(out, t.dst_base_seq);
        put_u32(out, t.src_win);
        put_u32(out, t.dst_win);
        put_u16(out, t.options);
        put_u16(out, 0);
        put_u32(out, t.synack_us);
        put_u32(out, t.ackdat_us);
        put_u32(out, t.src_retrans);
        put_u32(out, t.dst_retrans);
        put_u32(out, t.src_ooo);
        put_u32(out, t.dst_ooo);
        put_u32(out, t.src_gap_bytes);
        put_u32(out, t.dst_gap_bytes);
        put_u32(out, t.src_max_seq);
        put_u32(out, t.dst_max_seq);
    }
    if has_l2(rec) {
        put_block_header(out, ext::L2, ext::L2_LEN);
        out.extend_from_slice(&rec.smac);
        out.extend_from_slice(&rec.dmac);
        put_u16(out, rec.svlan);
        put_u16(out, rec.dvlan);
        put_u32(out, rec.smpls);
        put_u32(out, rec.dmpls);
    }
    if dir_has_stats(&rec.src) || dir_has_stats(&rec.dst) {
        put_block_header(out, ext::STATS, ext::STATS_LEN);
        put_dir_stats(out, &rec.src);
        put_dir_stats(out, &rec.dst);
    }
    for (ty, data) in [(ext::SRC_USER, &rec.suser), (ext::DST_USER, &rec.duser)] {
        if !data.is_empty() {
            let n = user_len(data);
            put_block_header(out, ty, n);
            out.extend_from_slice(&data[..n]);
        }
    }
    if let Some(m) = &rec.man {
        put_block_header(out, ext::MAN, ext::MAN_LEN);
        put_u64(out, m.pkts);
        put_u64(out, m.bytes);
        put_u64(out, m.flows);
        put_u64(out, m.records);
        put_u64(out, m.malformed);
        put_u64(out, m.dropped);
        if let Some(d) = &m.drops {
            put_block_header(out, ext::MAN_DROPS, ext::MAN_DROPS_LEN);
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
                put_u64(out, v);
            }
        }
    }
    debug_assert_eq!(out.len() - start, len);

    let crc = crc32c(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The reader of version 1 records and file headers: [`v2::R`] with this
/// format's error for a field that runs past the end.
struct Cursor<'a>(v2::R<'a>);

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], pos: usize) -> Cursor<'a> {
        Cursor(v2::R::new(buf, pos))
    }
    #[inline]
    fn take<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let (needed, have) = (self.0.pos() + N, self.0.len());
        self.0.take().ok_or(CodecError::Truncated { needed, have })
    }
    #[inline]
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take::<1>()?[0])
    }
    #[inline]
    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    #[inline]
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    #[inline]
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    #[inline]
    fn f64(&mut self) -> Result<f64, CodecError> {
        Ok(f64::from_bits(self.u64()?))
    }
}

fn get_key(c: &mut Cursor<'_>) -> Result<FlowKey, CodecError> {
    Ok(FlowKey {
        src: c.take()?,
        dst: c.take()?,
        sport: c.u16()?,
        dport: c.u16()?,
        aux: c.u32()?,
        proto: c.u8()?,
        class: c.u8()?,
        _pad: c.take()?,
    })
}

fn get_dir_core(c: &mut Cursor<'_>, d: &mut DirStats) -> Result<(), CodecError> {
    d.pkts = c.u64()?;
    d.bytes = c.u64()?;
    d.appbytes = c.u64()?;
    d.stime_ns = c.u64()?;
    d.ltime_ns = c.u64()?;
    d.ttl = c.u8()?;
    d.tos = c.u8()?;
    d.ipid = c.u16()?;
    Ok(())
}

fn get_dir_stats(c: &mut Cursor<'_>, d: &mut DirStats) -> Result<(), CodecError> {
    d.min_sz = c.u32()?;
    d.max_sz = c.u32()?;
    d.intpkt_n = c.u32()?;
    d.intpkt_sum_us = c.f64()?;
    d.intpkt_sumsq_us = c.f64()?;
    d.intpkt_min_us = c.f64()?;
    d.intpkt_max_us = c.f64()?;
    Ok(())
}

/// Reads the record length from the first 4 bytes of `buf` and checks it
/// against the caps, without looking at the rest. Lets a stream reader know
/// how many bytes to read next.
pub fn peek_len(buf: &[u8]) -> Result<usize, CodecError> {
    let Some(b) = buf.get(..4) else {
        return Err(CodecError::Truncated {
            needed: 4,
            have: buf.len(),
        });
    };
    let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if !(MIN_RECORD_LEN..=MAX_RECORD_LEN).contains(&len) {
        return Err(CodecError::BadLength { len });
    }
    Ok(len)
}

/// Decodes the record at the start of `buf`; returns it and the bytes consumed.
pub fn decode(buf: &[u8]) -> Result<(FlowRecord, usize), CodecError> {
    let mut rec = FlowRecord::default();
    let n = decode_into(buf, &mut rec)?;
    Ok((rec, n))
}

/// Like `decode`, into an existing record, reusing its user-data buffers.
/// On error `rec` holds unspecified (but valid) contents.
pub fn decode_into(buf: &[u8], rec: &mut FlowRecord) -> Result<usize, CodecError> {
    let (len, ext_at) = decode_core_into(buf, rec)?;
    decode_ext_into(&buf[..len], ext_at, rec)?;
    Ok(len)
}

/// The first half of [`decode_into`]: checks the record's length, checksum,
/// kind and version, and decodes the core (kind, cause, times, ids, flags,
/// key and the per-direction packets, bytes, times, TTL, TOS and IP id),
/// leaving every field the extension blocks carry as it was. Returns the
/// record length and where its extension blocks start, for
/// [`decode_ext_into`]. A reader that only wants records passing a test of
/// core fields (a filter on addresses, ports, protocol, counters, times)
/// decodes the rest of the ones that pass.
pub fn decode_core_into(buf: &[u8], rec: &mut FlowRecord) -> Result<(usize, usize), CodecError> {
    decode_core_staged(buf, rec, &mut |_: &FlowRecord| true).map(|(len, ext_at, _)| (len, ext_at))
}

/// A set of IP protocol numbers ([`crate::filter::Filter::protocols`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtoSet([u64; 4]);

impl ProtoSet {
    pub const ALL: ProtoSet = ProtoSet([u64::MAX; 4]);
    pub const EMPTY: ProtoSet = ProtoSet([0; 4]);

    pub fn of(protos: &[u8]) -> ProtoSet {
        let mut s = ProtoSet::EMPTY;
        for &p in protos {
            s.0[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        s
    }

    #[inline]
    pub fn contains(&self, proto: u8) -> bool {
        self.0[usize::from(proto >> 6)] >> (proto & 63) & 1 != 0
    }

    pub fn and(self, o: ProtoSet) -> ProtoSet {
        ProtoSet(std::array::from_fn(|i| self.0[i] & o.0[i]))
    }

    pub fn or(self, o: ProtoSet) -> ProtoSet {
        ProtoSet(std::array::from_fn(|i| self.0[i] | o.0[i]))
    }
}

/// What a filtered read keeps, tested in two stages as a record's core is
/// decoded ([`decode_kept_into`]). A plain closure is a test on the whole
/// core.
pub trait Keep {
    /// Whether a record of `kind` whose key holds the IP protocol number
    /// `proto` may be kept: a test a reader may make before it decodes the
    /// key (version 2 records), so it must accept every record that `key`
    /// accepts. `false` rejects the record, and nothing of it past the
    /// checksum, the header and the key's protocol is checked.
    fn proto(&mut self, _kind: RecordKind, _proto: u8) -> bool {
        true
    }
    /// The set that `proto` tests flow records against, when it is one:
    /// `proto(RecordKind::Flow, p)` is then `set.contains(p)`, so a reader
    /// may skip such records in bulk ([`skip_by_proto`]).
    fn protocols(&self) -> Option<ProtoSet> {
        None
    }
    /// Whether the record may be kept, from its kind and key alone (tested
    /// before the rest of its core is decoded: its other fields are those
    /// of an earlier record). `false` rejects it, and nothing of it past the
    /// checksum, the header and the key is checked.
    fn key(&mut self, _rec: &FlowRecord) -> bool {
        true
    }
    /// Whether the record is kept, from its core fields; called only on
    /// records `key` accepted.
    fn core(&mut self, rec: &FlowRecord) -> bool;
}

impl<F: FnMut(&FlowRecord) -> bool> Keep for F {
    fn core(&mut self, rec: &FlowRecord) -> bool {
        self(rec)
    }
}

/// [`decode_core_into`], stopping after the key when `keep.key` rejects the
/// record (the checksum is checked first either way). Returns the record
/// length, where its blocks start, and whether the core was decoded whole.
fn decode_core_staged(
    buf: &[u8],
    rec: &mut FlowRecord,
    keep: &mut dyn Keep,
) -> Result<(usize, usize, bool), CodecError> {
    if buf.len() < RECORD_HEADER_LEN {
        return Err(CodecError::Truncated {
            needed: RECORD_HEADER_LEN,
            have: buf.len(),
        });
    }
    let len = peek_len(buf)?;
    if buf.len() < len {
        return Err(CodecError::Truncated {
            needed: len,
            have: buf.len(),
        });
    }
    let buf = &buf[..len];
    let mut c = Cursor::new(buf, 4);
    let stored = c.u32()?;
    let computed = crc32c(&buf[8..]);
    if stored != computed {
        return Err(CodecError::BadCheck { stored, computed });
    }
    let kind = c.u8()?;
    let version = c.u8()?;
    let core_len = c.u16()? as usize;
    if version > RECORD_VERSION {
        return Err(CodecError::UnsupportedRecordVersion {
            found: version,
            supported: RECORD_VERSION,
        });
    }
    if version == 0 {
        return Err(CodecError::BadValue {
            field: "record version",
            value: 0,
        });
    }
    let Some(kind) = RecordKind::from_u8(kind) else {
        return Err(CodecError::UnknownKind { kind, len });
    };
    let min_core = if version == 1 { CORE_LEN } else { 0 };
    if core_len < min_core || RECORD_HEADER_LEN + core_len > len {
        return Err(CodecError::BadValue {
            field: "core length",
            value: core_len as u64,
        });
    }

    let r = rec;
    r.kind = kind;
    if version != 1 {
        let whole = v2::decode_core(buf, core_len, r, keep)?;
        return Ok((len, RECORD_HEADER_LEN + core_len, whole));
    }
    r.seq = c.u64()?;
    r.stime_ns = c.u64()?;
    r.ltime_ns = c.u64()?;
    r.srcid = c.u32()?;
    r.encaps = c.u32()?;
    r.flags = c.u32()?;
    r.ip_options = c.u16()?;
    let cause = c.u8()?;
    r.cause = Cause::from_u8(cause).ok_or(CodecError::BadValue {
        field: "cause",
        value: cause as u64,
    })?;
    r.icmp_mapped = c.u8()?;
    r.key = get_key(&mut c)?;
    if !keep.key(r) {
        return Ok((len, RECORD_HEADER_LEN + core_len, false));
    }
    get_dir_core(&mut c, &mut r.src)?;
    get_dir_core(&mut c, &mut r.dst)?;
    // Extension blocks, after the core as the writer sized it.
    Ok((len, RECORD_HEADER_LEN + core_len, true))
}

/// [`decode_into`] for a reader that wants only the records `keep` accepts
/// on their core fields ([`decode_core_into`]): a rejected record's extension
/// blocks are not decoded. Returns the record length and whether it was kept
/// (and decoded whole). The checksum is checked either way.
pub fn decode_kept_into(
    buf: &[u8],
    rec: &mut FlowRecord,
    keep: &mut dyn Keep,
) -> Result<(usize, bool), CodecError> {
    let (len, ext_at, whole) = decode_core_staged(buf, rec, keep)?;
    if !whole || !keep.core(rec) {
        return Ok((len, false));
    }
    decode_ext_into(&buf[..len], ext_at, rec)?;
    Ok((len, true))
}

/// Steps over the whole, well-formed version 2 flow records at the start of
/// `buf` whose key's protocol is not in `protos`, and returns how many
/// bytes they take. It stops at the first record that is anything else: a
/// kept protocol, another kind or version, or any fault (a bad length, a
/// cut record, a bad checksum, a short core). That record is left to
/// [`decode_kept_into`], which decides it, or reports it, as if nothing had
/// been skipped: every record stepped over is one that it would have
/// checked and rejected, with a `keep` whose [`Keep::protocols`] is `protos`.
/// One tight loop, without the decoder's calls and error paths, for filters
/// that reject most records on their protocol.
pub fn skip_by_proto(buf: &[u8], protos: &ProtoSet) -> usize {
    let mut pos = 0;
    while let Some(rec) = buf.get(pos..).and_then(|b| {
        let h = b.first_chunk::<RECORD_HEADER_LEN>()?;
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let core_len = u16::from_le_bytes([h[10], h[11]]) as usize;
        let whole = (MIN_RECORD_LEN..=MAX_RECORD_LEN).contains(&len)
            && h[8] == RecordKind::Flow as u8
            && h[9] == v2::VERSION
            && RECORD_HEADER_LEN + core_len <= len;
        b.get(..len).filter(|_| whole)
    }) {
        let stored = u32::from_le_bytes([rec[4], rec[5], rec[6], rec[7]]);
        let core_len = u16::from_le_bytes([rec[10], rec[11]]) as usize;
        // The protocol first: a record that stops the loop is left to the
        // decoder whole, so its checksum is not computed twice. One that is
        // stepped over has been checked.
        let rejected = v2::key_proto(&rec[..RECORD_HEADER_LEN + core_len])
            .is_some_and(|p| !protos.contains(p))
            && crc32c(&rec[8..]) == stored;
        if !rejected {
            break;
        }
        pos += rec.len();
    }
    pos
}

/// The second half of [`decode_into`]: the extension blocks of the record
/// `buf` (exactly one record, checked by [`decode_core_into`]) from
/// `ext_at` on. Every field they carry is reset first, so a block that is
/// absent leaves its default.
pub fn decode_ext_into(buf: &[u8], ext_at: usize, r: &mut FlowRecord) -> Result<(), CodecError> {
    r.tcp = None;
    r.smac = [0; 6];
    r.dmac = [0; 6];
    r.svlan = 0;
    r.dvlan = 0;
    r.smpls = 0;
    r.dmpls = 0;
    for d in [&mut r.src, &mut r.dst] {
        d.min_sz = 0;
        d.max_sz = 0;
        d.intpkt_n = 0;
        d.intpkt_sum_us = 0.0;
        d.intpkt_sumsq_us = 0.0;
        d.intpkt_min_us = 0.0;
        d.intpkt_max_us = 0.0;
    }
    r.man = None;
    let mut suser = std::mem::take(&mut r.suser);
    let mut duser = std::mem::take(&mut r.duser);
    suser.clear();
    duser.clear();
    let res = if buf.get(9) == Some(&1) {
        decode_blocks_v1(buf, ext_at, r, &mut suser, &mut duser)
    } else {
        v2::decode_blocks(buf, ext_at, r, &mut suser, &mut duser)
    };
    r.suser = suser;
    r.duser = duser;
    res
}

// What both record versions' block decoders build from the values they read.

/// The TCP counters in block order: SYN-ACK and ACK times, retransmissions,
/// out-of-order segments, gap bytes and highest sequence numbers, source
/// then destination each.
fn tcp_counters(v: [u32; 10]) -> TcpPerf {
    TcpPerf {
        synack_us: v[0],
        ackdat_us: v[1],
        src_retrans: v[2],
        dst_retrans: v[3],
        src_ooo: v[4],
        dst_ooo: v[5],
        src_gap_bytes: v[6],
        dst_gap_bytes: v[7],
        src_max_seq: v[8],
        dst_max_seq: v[9],
        ..TcpPerf::default()
    }
}

fn set_user(dst: &mut Vec<u8>, body: &[u8]) {
    dst.clear();
    dst.extend_from_slice(body);
}

/// The MAN block's six totals, in block order.
fn set_man(r: &mut FlowRecord, v: [u64; 6]) {
    // The drops block may come first only in a hand-made record; keep it
    // either way.
    let drops = r.man.as_ref().and_then(|m| m.drops);
    r.man = Some(Box::new(ManInfo {
        pkts: v[0],
        bytes: v[1],
        flows: v[2],
        records: v[3],
        malformed: v[4],
        dropped: v[5],
        drops,
    }));
}

/// The MAN_DROPS block's nine counters, in block order.
fn set_man_drops(r: &mut FlowRecord, v: [u64; 9]) {
    let d = ManDrops {
        redirect_failed: v[0],
        pcap_dropped: v[1],
        pcap_if_dropped: v[2],
        xsk_rx_dropped: v[3],
        xsk_ring_full: v[4],
        xsk_fill_empty: v[5],
        xsk_invalid: v[6],
        flows_active: v[7],
        writer_stalls: v[8],
    };
    r.man.get_or_insert_with(Box::default).drops = Some(d);
}

/// The version-1 extension blocks of `buf` from `pos` on.
fn decode_blocks_v1(
    buf: &[u8],
    mut pos: usize,
    r: &mut FlowRecord,
    suser: &mut Vec<u8>,
    duser: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let len = buf.len();
    while pos < len {
        let Some(h) = buf.get(pos..pos + EXT_HEADER_LEN) else {
            return Err(CodecError::BadBlock {
                ty: 0,
                offset: pos,
                reason: "block header runs past the record end",
            });
        };
        let ty = u16::from_le_bytes([h[0], h[1]]);
        let blen = u16::from_le_bytes([h[2], h[3]]) as usize;
        let body_start = pos + EXT_HEADER_LEN;
        let body_end = body_start + blen;
        let Some(body) = buf.get(body_start..body_end) else {
            return Err(CodecError::BadBlock {
                ty,
                offset: pos,
                reason: "block body runs past the record end",
            });
        };
        let need = match ty {
            ext::TCP => ext::TCP_LEN,
            ext::L2 => ext::L2_LEN,
            ext::STATS => ext::STATS_LEN,
            ext::MAN => ext::MAN_LEN,
            ext::MAN_DROPS => ext::MAN_DROPS_LEN,
            _ => 0,
        };
        if blen < need {
            return Err(CodecError::BadBlock {
                ty,
                offset: pos,
                reason: "block shorter than its type requires",
            });
        }
        let mut b = Cursor::new(body, 0);
        match ty {
            ext::TCP => {
                let state = b.u32()?;
                let history = b.u8()?;
                let src_flags = b.u8()?;
                let dst_flags = b.u8()?;
                let _pad = b.u8()?;
                let src_base_seq = b.u32()?;
                let dst_base_seq = b.u32()?;
                let src_win = b.u32()?;
                let dst_win = b.u32()?;
                let options = b.u16()?;
                let _pad = b.u16()?;
                let mut v = [0u32; 10];
                for x in &mut v {
                    *x = b.u32()?;
                }
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
                r.svlan = b.u16()?;
                r.dvlan = b.u16()?;
                r.smpls = b.u32()?;
                r.dmpls = b.u32()?;
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
                    *x = b.u64()?;
                }
                set_man(r, v);
            }
            ext::MAN_DROPS => {
                let mut v = [0u64; 9];
                for x in &mut v {
                    *x = b.u64()?;
                }
                set_man_drops(r, v);
            }
            _ if ty & ext::CRITICAL != 0 => {
                return Err(CodecError::UnknownCriticalBlock { ty });
            }
            _ => {} // Unknown, not critical: skip (forward compatibility).
        }
        pos = body_end;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{flag, tcpstate};
    use proptest::prelude::*;

    /// Re-encodes and compares bytes as well as values, so NaN floats (which
    /// are not equal to themselves) still prove an exact round trip.
    /// Both record versions: what ocellus writes now, and version 1, which
    /// it still reads.
    fn assert_round_trip(rec: &FlowRecord) {
        let mut v1 = Vec::new();
        encode_v1(rec, &mut v1);
        assert_eq!(v1.len(), encoded_len(rec));
        for enc in [encode as fn(&FlowRecord, &mut Vec<u8>), encode_v1] {
            let mut buf = Vec::new();
            enc(rec, &mut buf);
            let (back, n) = decode(&buf).expect("decode");
            assert_eq!(n, buf.len());
            let mut again = Vec::new();
            enc(&back, &mut again);
            assert_eq!(buf, again);
            if !has_nan(rec) {
                assert_eq!(&back, rec);
            }
        }
    }

    /// Where the core of a v2 record ends (its blocks start).
    fn v2_blocks_at(b: &[u8]) -> usize {
        RECORD_HEADER_LEN + u16::from_le_bytes([b[10], b[11]]) as usize
    }

    /// Sets the length field and the CRC after an edit.
    fn reseal(b: &mut [u8]) {
        let len = b.len() as u32;
        b[..4].copy_from_slice(&len.to_le_bytes());
        let crc = crc32c(&b[8..]);
        b[4..8].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn decoding_into_a_used_record_leaves_nothing_of_it() {
        // A record with every extension, then a bare one into the same
        // buffer: the second must come out as if decoded fresh.
        let mut full = sample_tcp();
        full.suser = b"GET / HTTP/1.1".to_vec();
        full.duser = b"HTTP/1.1 200".to_vec();
        full.smac = [2, 0, 0, 0, 0, 1];
        full.svlan = 7;
        full.src.min_sz = 60;
        full.src.intpkt_n = 3;
        full.man = Some(Box::default());
        let mut bare = FlowRecord {
            kind: RecordKind::Flow,
            ..FlowRecord::default()
        };
        bare.key.proto = 17;
        bare.src.pkts = 1;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        encode(&full, &mut a);
        encode(&bare, &mut b);
        let mut rec = FlowRecord::default();
        decode_into(&a, &mut rec).unwrap();
        assert_eq!(rec.suser, full.suser);
        decode_into(&b, &mut rec).unwrap();
        assert_eq!(rec, decode(&b).unwrap().0);
        // Kept or not, a record is consumed whole.
        let mut buf = a.clone();
        buf.extend_from_slice(&b);
        let (n, kept) =
            decode_kept_into(&buf, &mut rec, &mut |r: &FlowRecord| r.key.proto == 17).unwrap();
        assert_eq!((n, kept), (a.len(), false));
        let (n, kept) =
            decode_kept_into(&buf[n..], &mut rec, &mut |r: &FlowRecord| r.key.proto == 17).unwrap();
        assert_eq!((n, kept), (b.len(), true));
        assert_eq!(rec, decode(&b).unwrap().0);
    }

    /// A test on the key's protocol that records what it was shown.
    struct ByProto {
        want: u8,
        seen: Vec<(RecordKind, u8)>,
    }

    impl Keep for ByProto {
        fn proto(&mut self, kind: RecordKind, proto: u8) -> bool {
            self.seen.push((kind, proto));
            proto == self.want
        }
        fn core(&mut self, _rec: &FlowRecord) -> bool {
            true
        }
    }

    #[test]
    fn the_protocol_test_sees_each_key_forms_protocol() {
        // A packed key (IPv4) and a raw one (an address past its class's
        // width), each rejected and kept on its protocol alone.
        let mut packed = sample_tcp();
        packed.key.proto = 17;
        let mut raw = sample_tcp();
        raw.key.proto = 50;
        raw.key.src[12] = 9;
        for r in [packed, raw] {
            let mut b = Vec::new();
            encode(&r, &mut b);
            let mut rec = FlowRecord::default();
            let mut other = ByProto {
                want: r.key.proto.wrapping_add(1),
                seen: Vec::new(),
            };
            assert_eq!(
                decode_kept_into(&b, &mut rec, &mut other).unwrap(),
                (b.len(), false)
            );
            assert_eq!(other.seen, [(RecordKind::Flow, r.key.proto)]);
            let mut same = ByProto {
                want: r.key.proto,
                seen: Vec::new(),
            };
            assert_eq!(
                decode_kept_into(&b, &mut rec, &mut same).unwrap(),
                (b.len(), true)
            );
            assert_eq!(rec, decode(&b).unwrap().0);
            // A damaged record fails its checksum before any test.
            let mut bad = b.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            let mut never = ByProto {
                want: 0,
                seen: Vec::new(),
            };
            assert!(matches!(
                decode_kept_into(&bad, &mut rec, &mut never),
                Err(CodecError::BadCheck { .. })
            ));
            assert!(never.seen.is_empty());
        }
    }

    fn has_nan(r: &FlowRecord) -> bool {
        [&r.src, &r.dst].iter().any(|d| {
            d.intpkt_sum_us.is_nan()
                || d.intpkt_sumsq_us.is_nan()
                || d.intpkt_min_us.is_nan()
                || d.intpkt_max_us.is_nan()
        })
    }

    fn sample_tcp() -> FlowRecord {
        let mut key = FlowKey::ZERO;
        key.src[..4].copy_from_slice(&[192, 168, 1, 2]);
        key.dst[..4].copy_from_slice(&[10, 0, 0, 1]);
        key.sport = 51234;
        key.dport = 443;
        key.proto = 6;
        key.class = 1;
        FlowRecord {
            kind: RecordKind::Flow,
            cause: Cause::Close,
            seq: 42,
            srcid: 7,
            key,
            stime_ns: 1_700_000_000_000_000_000,
            ltime_ns: 1_700_000_001_000_000_000,
            encaps: 1,
            flags: flag::FIRST | flag::HAS_MAC,
            icmp_mapped: 0,
            ip_options: 0,
            src: DirStats {
                pkts: 10,
                bytes: 1500,
                appbytes: 900,
                stime_ns: 1,
                ltime_ns: 2,
                ttl: 64,
                tos: 0,
                ipid: 77,
                min_sz: 60,
                max_sz: 1514,
                intpkt_n: 9,
                intpkt_sum_us: 1.5,
                intpkt_sumsq_us: 2.25,
                intpkt_min_us: 0.1,
                intpkt_max_us: 0.9,
            },
            dst: DirStats::default(),
            tcp: Some(TcpPerf {
                state: tcpstate::SAW_SYN | tcpstate::CLOSED,
                history: 3,
                src_win: 65535,
                ..TcpPerf::default()
            }),
            smac: [1, 2, 3, 4, 5, 6],
            dmac: [6, 5, 4, 3, 2, 1],
            svlan: 100,
            dvlan: 0,
            smpls: 0,
            dmpls: 0,
            suser: b"GET / HTTP/1.1\r\n".to_vec(),
            duser: Vec::new(),
            man: None,
        }
    }

    #[test]
    fn crc32c_known_vectors() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        // Split updates equal one pass.
        let data: Vec<u8> = (0..=255u8).collect();
        let split = !crc32c_update(crc32c_update(!0, &data[..13]), &data[13..]);
        assert_eq!(split, crc32c(&data));
    }

    #[test]
    fn crc32c_hardware_and_table_paths_agree() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in (0..=24).chain([63, 64, 65, 370, 1000]) {
            for start in [0, 1, 3] {
                let d = &data[start..len.max(start)];
                assert_eq!(
                    crc32c_update(!0, d),
                    crc32c_update_table(!0, d),
                    "len {len} start {start}"
                );
            }
        }
    }

    #[test]
    fn whole_word_checksums_agree_with_the_table_at_every_length() {
        let data: Vec<u8> = (0..700u32).map(|i| (i * 31 + i / 7) as u8).collect();
        for len in 0..=600 {
            for start in [0, 1, 5] {
                let d = &data[start..start + len];
                assert_eq!(
                    crc32c(d),
                    !crc32c_update_table(!0, d),
                    "len {len} start {start}"
                );
            }
        }
        // Each lead's zeros bring its state to the initial one.
        for (k, &s) in LEAD.iter().enumerate() {
            assert_eq!(crc32c_update_table(s, &vec![0; k]), !0, "{k} zero bytes");
        }
    }

    /// The version-1 offsets FORMAT.md documents, checked against the
    /// version-1 encoder.
    #[test]
    fn v1_layout_matches_format_md() {
        let mut r = sample_tcp();
        r.key.aux = 0xa1a2_a3a4;
        r.dst.ipid = 0xbeef;
        r.icmp_mapped = b'U';
        r.ip_options = 0x1234;
        r.tcp = Some(TcpPerf {
            options: 0x5678,
            dst_max_seq: 0xdead_beef,
            ..TcpPerf::default()
        });
        let mut b = Vec::new();
        encode_v1(&r, &mut b);
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut a = [0; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        assert_eq!(u32_at(0) as usize, b.len());
        assert_eq!(b[8], RecordKind::Flow as u8);
        assert_eq!(b[9], 1);
        assert_eq!(u16_at(10), 176);
        assert_eq!(u64_at(12), r.seq);
        assert_eq!(u64_at(20), r.stime_ns);
        assert_eq!(u64_at(28), r.ltime_ns);
        assert_eq!(u32_at(36), r.srcid);
        assert_eq!(u32_at(40), r.encaps);
        assert_eq!(u32_at(44), r.flags);
        assert_eq!(u16_at(48), 0x1234);
        assert_eq!(b[50], Cause::Close as u8);
        assert_eq!(b[51], b'U');
        assert_eq!(&b[52..56], &[192, 168, 1, 2]);
        assert_eq!(&b[68..72], &[10, 0, 0, 1]);
        assert_eq!(u16_at(84), 51234);
        assert_eq!(u16_at(86), 443);
        assert_eq!(u32_at(88), 0xa1a2_a3a4);
        assert_eq!(b[92], 6);
        assert_eq!(b[93], 1);
        assert_eq!(u64_at(100), r.src.pkts);
        assert_eq!(u64_at(108), r.src.bytes);
        assert_eq!(b[140], r.src.ttl);
        assert_eq!(u16_at(186), 0xbeef);
        // First block: TCP, then L2, then STATS, then SRC_USER.
        assert_eq!((u16_at(188), u16_at(190)), (ext::TCP, 68));
        assert_eq!(u16_at(192 + 24), 0x5678);
        assert_eq!(u32_at(192 + 64), 0xdead_beef);
        let l2 = 192 + 68;
        assert_eq!((u16_at(l2), u16_at(l2 + 2)), (ext::L2, 24));
        assert_eq!(&b[l2 + 4..l2 + 10], &r.smac);
        assert_eq!(u16_at(l2 + 4 + 12), r.svlan);
        let st = l2 + 4 + 24;
        assert_eq!((u16_at(st), u16_at(st + 2)), (ext::STATS, 88));
        assert_eq!(u32_at(st + 4 + 4), r.src.max_sz);
        assert_eq!(u64_at(st + 4 + 12), r.src.intpkt_sum_us.to_bits());
        let us = st + 4 + 88;
        assert_eq!(u16_at(us), ext::SRC_USER);
        assert_eq!(&b[us + 4..], &r.suser[..]);
        assert_eq!(u32_at(4), crc32c(&b[8..]));
        assert_eq!(decode(&b).unwrap().0, r);
    }

    /// The version-2 layout FORMAT.md documents, byte by byte, for an IPv4
    /// TCP record.
    #[test]
    fn v2_layout_matches_format_md() {
        let mut r = sample_tcp();
        r.src.stime_ns = r.stime_ns + 300; // 2-byte varint offset
        r.src.ltime_ns = r.stime_ns + 400; // 100 after the direction's start
        r.key.aux = 5;
        r.src.intpkt_sum_us = 0.0;
        r.src.intpkt_sumsq_us = 0.0;
        r.src.intpkt_min_us = 0.0;
        r.src.intpkt_max_us = 0.0;
        r.tcp = Some(TcpPerf {
            state: 0x81,
            src_base_seq: 0xffff_fff0,
            src_max_seq: 0x10, // 32 bytes on, across the wrap
            src_win: 65535,
            ..TcpPerf::default()
        });
        let mut b = Vec::new();
        encode(&r, &mut b);
        let core: &[u8] = &[
            42, // seq
            0x00,
            0x00,
            0x2a,
            0x36,
            0xfe,
            0x9c,
            0x97,
            0x17, // stime_ns, u64
            0x80,
            0x94,
            0xeb,
            0xdc,
            0x03, // duration 1e9 ns, varint
            7,
            1,                                   // srcid, encaps
            (flag::FIRST | flag::HAS_MAC) as u8, // flags
            0,                                   // ip_options
            Cause::Close as u8,
            0, // icmp_mapped
            0,
            1,
            6, // key: packed form, class IPv4, proto TCP
            192,
            168,
            1,
            2,
            10,
            0,
            0,
            1, // addresses, 4 bytes each
            0x22,
            0xc8,
            0xbb,
            0x01, // sport 51234, dport 443
            5,    // aux
            0b111,
            10,
            0xdc,
            0x0b,
            0x84,
            0x07, // src: bits, pkts 10, bytes 1500, appbytes 900
            0xac,
            0x02,
            100, // stime +300, ltime +100
            64,
            0,
            77,
            0, // ttl, tos, ipid
            0, // dst: nothing
        ];
        assert_eq!(
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
            b.len()
        );
        assert_eq!((b[8], b[9]), (RecordKind::Flow as u8, 2));
        assert_eq!(v2_blocks_at(&b), RECORD_HEADER_LEN + core.len());
        assert_eq!(&b[12..12 + core.len()], core);
        let mut at = v2_blocks_at(&b);
        let tcp: &[u8] = &[
            0x81, 0x01, // state 0x81, varint
            0, 0, 0, // history, src_flags, dst_flags
            0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0, // base sequence numbers, u32
            0xff, 0xff, 0x03, 0, // windows
            0, // options
            0, 0, 0, 0, 0, 0, 0, 0, // synack, ackdat, retrans, ooo, gap
            32, 0, // max_seq - base_seq per side
        ];
        assert_eq!((b[at], b[at + 1] as usize), (ext::TCP as u8, tcp.len()));
        assert_eq!(&b[at + 2..at + 2 + tcp.len()], tcp);
        at += 2 + tcp.len();
        let l2: &[u8] = &[1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1, 100, 0, 0, 0];
        assert_eq!((b[at], b[at + 1] as usize), (ext::L2 as u8, l2.len()));
        assert_eq!(&b[at + 2..at + 2 + l2.len()], l2);
        at += 2 + l2.len();
        let stats: &[u8] = &[1, 60, 0xea, 0x0b, 9, 0]; // src sizes 60/1514, 9 gaps; dst none
        assert_eq!((b[at], b[at + 1] as usize), (ext::STATS as u8, stats.len()));
        assert_eq!(&b[at + 2..at + 2 + stats.len()], stats);
        at += 2 + stats.len();
        assert_eq!(
            (b[at], b[at + 1] as usize),
            (ext::SRC_USER as u8, r.suser.len())
        );
        assert_eq!(&b[at + 2..], &r.suser[..]);
        assert_eq!(
            u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            crc32c(&b[8..])
        );
        assert_eq!(decode(&b).unwrap().0, r);
        // A third of the version-1 size.
        assert!(
            b.len() * 2 < encoded_len(&r),
            "{} vs {}",
            b.len(),
            encoded_len(&r)
        );
    }

    #[test]
    fn plain_record_is_core_only() {
        let rec = FlowRecord::default();
        let mut buf = Vec::new();
        encode(&rec, &mut buf);
        assert_eq!(buf.len(), v2_blocks_at(&buf));
        assert_round_trip(&rec);
        // The smallest record there is (an IPv4 key, nothing else) is still
        // longer than a remote position mark and passes the length check.
        let mut rec = FlowRecord::default();
        rec.key.class = 1;
        buf.clear();
        encode(&rec, &mut buf);
        assert_eq!(buf.len(), 46);
        assert!(buf.len() >= MIN_RECORD_LEN);
        assert_eq!(peek_len(&buf), Ok(46));
    }

    /// Every key class with one address byte set at each position, in
    /// either address: bytes past the class's width take the raw key form,
    /// the others the packed one, and both come back as they were.
    #[test]
    fn keys_with_a_byte_at_each_address_position_round_trip() {
        for class in 0..=8u8 {
            for at in 0..32 {
                let mut r = sample_tcp();
                r.key.class = class;
                r.key.src = [0; 16];
                r.key.dst = [0; 16];
                if at < 16 {
                    r.key.src[at] = 0x80 | at as u8;
                } else {
                    r.key.dst[at - 16] = 0x80 | at as u8;
                }
                assert_round_trip(&r);
                // The raw form is the longer: a byte within the width leaves
                // the length of the all-zero key's record as it was.
                let mut zero = r.clone();
                zero.key.src = [0; 16];
                zero.key.dst = [0; 16];
                let (mut b, mut b0) = (Vec::new(), Vec::new());
                encode(&r, &mut b);
                encode(&zero, &mut b0);
                let width = match class {
                    1 | 3 => 4,
                    4..=6 => 6,
                    _ => 16,
                };
                assert_eq!(
                    b.len() > b0.len(),
                    at % 16 >= width,
                    "class {class} byte {at}"
                );
            }
        }
    }

    #[test]
    fn edge_values_round_trip() {
        assert_round_trip(&sample_tcp());
        let mut r = sample_tcp();
        r.seq = u64::MAX;
        r.stime_ns = u64::MAX;
        r.src.pkts = u64::MAX;
        r.src.intpkt_min_us = f64::INFINITY;
        r.src.intpkt_max_us = -0.0;
        r.dst.intpkt_sum_us = f64::NAN;
        r.key._pad = [0xff; 6];
        r.suser = vec![0xab; MAX_USER_BYTES];
        r.duser = vec![0; 1];
        r.man = Some(Box::new(ManInfo {
            pkts: u64::MAX,
            bytes: 1,
            flows: 2,
            records: 3,
            malformed: 4,
            dropped: 5,
            drops: None,
        }));
        r.kind = RecordKind::ManStop;
        assert_round_trip(&r);
        let mut plain = Vec::new();
        encode(&r, &mut plain);
        r.man = r.man.map(|m| {
            Box::new(ManInfo {
                drops: Some(ManDrops {
                    redirect_failed: 1,
                    pcap_dropped: 2,
                    pcap_if_dropped: 3,
                    xsk_rx_dropped: 4,
                    xsk_ring_full: u64::MAX,
                    xsk_fill_empty: 6,
                    xsk_invalid: 7,
                    flows_active: 8,
                    writer_stalls: 9,
                }),
                ..*m
            })
        });
        r.kind = RecordKind::ManStatus;
        assert_round_trip(&r);
        let mut with = Vec::new();
        encode(&r, &mut with);
        assert!(with.len() > plain.len());
    }

    /// The drops block is optional: its absence is the old layout, and a reader
    /// that skips it (as one that predates it does) still gets the totals.
    #[test]
    fn man_drops_block_is_additive() {
        let mut r = FlowRecord {
            kind: RecordKind::ManStatus,
            man: Some(Box::new(ManInfo {
                pkts: 10,
                dropped: 3,
                drops: Some(ManDrops {
                    xsk_ring_full: 3,
                    ..ManDrops::default()
                }),
                ..ManInfo::default()
            })),
            ..FlowRecord::default()
        };
        for (enc, header) in [
            (encode as fn(&FlowRecord, &mut Vec<u8>), 2),
            (encode_v1, EXT_HEADER_LEN),
        ] {
            let mut with = Vec::new();
            enc(&r, &mut with);
            // The drops block sits last; cut it off and fix length and CRC:
            // an old writer's record.
            let body = if header == 2 {
                9 // nine one-byte varints
            } else {
                ext::MAN_DROPS_LEN
            };
            let cut = with.len() - header - body;
            assert_eq!(with[cut], ext::MAN_DROPS as u8);
            let mut old = with[..cut].to_vec();
            reseal(&mut old);
            let (back, _) = decode(&old).unwrap();
            let mut want = r.clone();
            want.man = want.man.map(|m| Box::new(ManInfo { drops: None, ..*m }));
            assert_eq!(back, want);
        }
        r.man = None;
    }

    #[test]
    fn oversized_user_data_is_cut() {
        let mut r = sample_tcp();
        r.suser = vec![7; MAX_USER_BYTES + 100];
        let mut buf = Vec::new();
        encode(&r, &mut buf);
        let (back, _) = decode(&buf).unwrap();
        assert_eq!(back.suser.len(), MAX_USER_BYTES);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut buf = Vec::new();
        let mut r = sample_tcp();
        r.man = Some(Box::default());
        r.duser = b"xyz".to_vec();
        encode(&r, &mut buf);
        for cut in 0..buf.len() {
            match decode(&buf[..cut]) {
                Err(CodecError::Truncated { have, .. }) => assert_eq!(have, cut),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn corrupted_check_detected() {
        let mut buf = Vec::new();
        encode(&sample_tcp(), &mut buf);
        for i in 4..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            match decode(&bad) {
                Err(CodecError::BadCheck { .. }) => {}
                other => panic!("flip at {i}: {other:?}"),
            }
        }
    }

    /// Rewrites one header byte and fixes the CRC so the change gets past the check.
    fn patch(buf: &mut [u8], at: usize, bytes: &[u8]) {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
        let crc = crc32c(&buf[8..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn newer_version_is_a_clear_error() {
        let mut buf = Vec::new();
        encode(&sample_tcp(), &mut buf);
        patch(&mut buf, 9, &[RECORD_VERSION + 1]);
        let err = decode(&buf).unwrap_err();
        assert_eq!(
            err,
            CodecError::UnsupportedRecordVersion {
                found: 3,
                supported: 2
            }
        );
        assert!(err.to_string().contains("upgrade ocellus"));

        let mut hdr = Vec::new();
        encode_file_header(5, 0, &mut hdr);
        hdr[8] = 9;
        match decode_file_header(&hdr) {
            Err(CodecError::UnsupportedFormatVersion { found: 9, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_lengths_rejected() {
        let mut buf = Vec::new();
        encode(&sample_tcp(), &mut buf);
        for len in [0u32, 11, (MIN_RECORD_LEN - 1) as u32, u32::MAX] {
            let mut b = buf.clone();
            b[..4].copy_from_slice(&len.to_le_bytes());
            assert!(matches!(decode(&b), Err(CodecError::BadLength { .. })));
        }
        // A block whose length runs past the end, with a valid CRC.
        let mut b = buf.clone();
        patch(&mut b, v2_blocks_at(&buf) + 1, &[0xff, 0x7f]);
        assert!(matches!(decode(&b), Err(CodecError::BadBlock { .. })));
        // A block length that is not a varint at all.
        let mut b = buf.clone();
        let at = v2_blocks_at(&buf) + 1;
        patch(&mut b, at, &[0xff; 12]);
        assert!(matches!(decode(&b), Err(CodecError::BadBlock { .. })));
        // A core length beyond the record.
        let mut b = buf.clone();
        patch(&mut b, 10, &[0xff, 0xff]);
        assert!(matches!(decode(&b), Err(CodecError::BadValue { .. })));
        // A core cut short: its fields run past the core length.
        let mut b = buf.clone();
        patch(&mut b, 10, &[20, 0]);
        assert_eq!(
            decode(&b).unwrap_err(),
            CodecError::BadValue {
                field: "core length",
                value: 20
            }
        );
        // Version 1: a block running past the end, a core shorter than 176.
        let mut v1 = Vec::new();
        encode_v1(&sample_tcp(), &mut v1);
        let mut b = v1.clone();
        patch(&mut b, RECORD_HEADER_LEN + CORE_LEN + 2, &[0xff, 0xff]);
        assert!(matches!(decode(&b), Err(CodecError::BadBlock { .. })));
        let mut b = v1.clone();
        patch(&mut b, 10, &[175, 0]);
        assert!(matches!(decode(&b), Err(CodecError::BadValue { .. })));
    }

    #[test]
    fn unknown_blocks_skipped_critical_rejected() {
        let rec = sample_tcp();
        let mut buf = Vec::new();
        encode(&rec, &mut buf);
        // Append an unknown block and fix length and CRC, as a newer writer would.
        let with_block = |ty: u8| {
            let mut b = buf.clone();
            b.extend_from_slice(&[ty, 3, 1, 2, 3]);
            reseal(&mut b);
            b
        };
        let b = with_block(0x77);
        let (back, n) = decode(&b).unwrap();
        assert_eq!(n, b.len());
        assert_eq!(back, rec);
        let b = with_block(0xf7);
        assert_eq!(
            decode(&b).unwrap_err(),
            CodecError::UnknownCriticalBlock { ty: 0xf7 }
        );
        // A known block longer than its fields (grown at the end) is read,
        // its tail ignored.
        let mut b = buf.clone();
        b.extend_from_slice(&[ext::L2 as u8, 20]);
        b.extend_from_slice(&[9; 12]);
        b.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 0]);
        reseal(&mut b);
        let back = decode(&b).unwrap().0;
        assert_eq!((back.smac, back.svlan, back.dvlan), ([9; 6], 1, 2));
    }

    #[test]
    fn longer_core_from_newer_writer_is_skipped() {
        let rec = sample_tcp();
        let mut buf = Vec::new();
        encode(&rec, &mut buf);
        // Insert 8 extra core bytes after the core.
        let at = v2_blocks_at(&buf);
        let mut b = buf[..at].to_vec();
        b.extend_from_slice(&[9; 8]);
        b.extend_from_slice(&buf[at..]);
        let core = (at - RECORD_HEADER_LEN + 8) as u16;
        b[10..12].copy_from_slice(&core.to_le_bytes());
        reseal(&mut b);
        let (back, _) = decode(&b).unwrap();
        assert_eq!(back, rec);
        // Likewise version 1.
        let mut buf = Vec::new();
        encode_v1(&rec, &mut buf);
        let at = RECORD_HEADER_LEN + CORE_LEN;
        let mut b = buf[..at].to_vec();
        b.extend_from_slice(&[9; 8]);
        b.extend_from_slice(&buf[at..]);
        b[10..12].copy_from_slice(&((CORE_LEN + 8) as u16).to_le_bytes());
        reseal(&mut b);
        let (back, _) = decode(&b).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn unknown_kind_reports_length() {
        let mut buf = Vec::new();
        encode(&sample_tcp(), &mut buf);
        patch(&mut buf, 8, &[200]);
        assert_eq!(
            decode(&buf).unwrap_err(),
            CodecError::UnknownKind {
                kind: 200,
                len: buf.len()
            }
        );
    }

    #[test]
    fn file_header_round_trip_and_magic() {
        let mut hdr = Vec::new();
        encode_file_header(123, 0, &mut hdr);
        assert_eq!(hdr.len(), FILE_HEADER_LEN);
        let h = decode_file_header(&hdr).unwrap();
        assert_eq!(h.created_ns, 123);
        assert_eq!(h.header_len, FILE_HEADER_LEN);
        let pcap = [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            decode_file_header(&pcap),
            Err(CodecError::BadMagic { .. })
        ));
        for cut in 0..FILE_HEADER_LEN {
            assert!(decode_file_header(&hdr[..cut]).is_err());
        }
    }

    prop_compose! {
        fn arb_dir()(
            ints in any::<(u64, u64, u64, u64, u64)>(),
            small in any::<(u8, u8, u16, u32, u32, u32)>(),
            floats in any::<(f64, f64, f64, f64)>(),
        ) -> DirStats {
            DirStats {
                pkts: ints.0, bytes: ints.1, appbytes: ints.2, stime_ns: ints.3, ltime_ns: ints.4,
                ttl: small.0, tos: small.1, ipid: small.2, min_sz: small.3, max_sz: small.4,
                intpkt_n: small.5,
                intpkt_sum_us: floats.0, intpkt_sumsq_us: floats.1,
                intpkt_min_us: floats.2, intpkt_max_us: floats.3,
            }
        }
    }

    prop_compose! {
        fn arb_tcp()(
            a in any::<(u32, u8, u8, u8, u32, u32, u32, u32, u16)>(),
            b in any::<[u32; 10]>(),
        ) -> TcpPerf {
            TcpPerf {
                state: a.0, history: a.1, src_flags: a.2, dst_flags: a.3,
                src_base_seq: a.4, dst_base_seq: a.5, src_win: a.6, dst_win: a.7, options: a.8,
                synack_us: b[0], ackdat_us: b[1], src_retrans: b[2], dst_retrans: b[3],
                src_ooo: b[4], dst_ooo: b[5], src_gap_bytes: b[6], dst_gap_bytes: b[7],
                src_max_seq: b[8], dst_max_seq: b[9],
            }
        }
    }

    prop_compose! {
        fn arb_key()(
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
            p in any::<(u16, u16, u32, u8, u8)>(), pad in any::<[u8; 6]>(),
        ) -> FlowKey {
            FlowKey { src, dst, sport: p.0, dport: p.1, aux: p.2, proto: p.3, class: p.4, _pad: pad }
        }
    }

    prop_compose! {
        pub(crate) fn arb_record()(
            kind in 0u8..4, cause in 0u8..5,
            head in any::<(u64, u32, u64, u64, u32, u32, u8, u16)>(),
            key in arb_key(),
            src in arb_dir(), dst in arb_dir(),
            tcp in proptest::option::of(arb_tcp()),
            l2 in proptest::option::of(any::<([u8; 6], [u8; 6], u16, u16, u32, u32)>()),
            suser in proptest::collection::vec(any::<u8>(), 0..300),
            duser in proptest::collection::vec(any::<u8>(), 0..300),
            man in proptest::option::of(any::<[u64; 6]>()),
            drops in proptest::option::of(any::<[u64; 9]>()),
        ) -> FlowRecord {
            let l2 = l2.unwrap_or_default();
            FlowRecord {
                kind: RecordKind::from_u8(kind).unwrap_or_default(),
                cause: Cause::from_u8(cause).unwrap_or_default(),
                seq: head.0, srcid: head.1, stime_ns: head.2, ltime_ns: head.3,
                encaps: head.4, flags: head.5, icmp_mapped: head.6, ip_options: head.7,
                key, src, dst, tcp,
                smac: l2.0, dmac: l2.1, svlan: l2.2, dvlan: l2.3, smpls: l2.4, dmpls: l2.5,
                suser, duser,
                man: man.map(|m| Box::new(ManInfo {
                    pkts: m[0], bytes: m[1], flows: m[2], records: m[3], malformed: m[4], dropped: m[5],
                    drops: drops.map(|d| ManDrops {
                        redirect_failed: d[0], pcap_dropped: d[1], pcap_if_dropped: d[2],
                        xsk_rx_dropped: d[3], xsk_ring_full: d[4], xsk_fill_empty: d[5],
                        xsk_invalid: d[6], flows_active: d[7], writer_stalls: d[8],
                    }),
                })),
            }
        }
    }

    proptest! {
        #[test]
        fn random_records_round_trip(rec in arb_record()) {
            assert_round_trip(&rec);
        }

        #[test]
        fn decode_into_reuses_and_resets(a in arb_record(), b in arb_record()) {
            // Decoding b over a decoded a leaves nothing of a behind.
            let mut buf = Vec::new();
            encode(&a, &mut buf);
            let mut rec = decode(&buf).unwrap().0;
            buf.clear();
            encode(&b, &mut buf);
            decode_into(&buf, &mut rec).unwrap();
            let mut again = Vec::new();
            encode(&rec, &mut again);
            prop_assert_eq!(buf, again);
        }

        /// Skipping by protocol then decoding keeps the same records and
        /// stops with the same error, at the same place, as decoding alone:
        /// over records of every protocol, kind and version, one of them
        /// maybe damaged, the last maybe cut.
        #[test]
        fn skipping_by_protocol_changes_nothing_a_reader_sees(
            recs in proptest::collection::vec((arb_record(), 0u8..5, any::<bool>()), 1..12),
            damage in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
            cut in 0usize..40,
            wanted in proptest::collection::vec(prop_oneof![Just(6u8), Just(17u8), Just(1u8), any::<u8>()], 0..3),
        ) {
            let mut buf = Vec::new();
            for (mut r, p, v1) in recs {
                r.key.proto = [6, 17, 1, 50, r.key.proto][p as usize];
                if v1 {
                    encode_v1(&r, &mut buf);
                } else {
                    encode(&r, &mut buf);
                }
            }
            if let Some((at, x)) = damage {
                let i = at.index(buf.len());
                buf[i] ^= x.max(1);
            }
            buf.truncate(buf.len() - cut.min(buf.len() / 2));
            let set = ProtoSet::of(&wanted);
            struct BySet(ProtoSet);
            impl Keep for BySet {
                fn proto(&mut self, kind: RecordKind, proto: u8) -> bool {
                    kind != RecordKind::Flow || self.0.contains(proto)
                }
                fn protocols(&self) -> Option<ProtoSet> {
                    Some(self.0)
                }
                fn core(&mut self, _rec: &FlowRecord) -> bool {
                    true
                }
            }
            let read = |skip: bool| {
                let mut seen = Vec::new();
                let mut rec = FlowRecord::default();
                let mut pos = 0;
                while pos < buf.len() {
                    if skip {
                        pos += skip_by_proto(&buf[pos..], &set);
                        if pos == buf.len() {
                            break;
                        }
                    }
                    match decode_kept_into(&buf[pos..], &mut rec, &mut BySet(set)) {
                        Ok((n, kept)) => {
                            if kept {
                                seen.push(format!("{pos}: {:?}", rec));
                            }
                            pos += n;
                        }
                        Err(CodecError::UnknownKind { len, .. }) => pos += len,
                        Err(e) => {
                            seen.push(format!("{pos}: {e}"));
                            break;
                        }
                    }
                }
                seen
            };
            prop_assert_eq!(read(true), read(false));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&bytes);
            let _ = decode_file_header(&bytes);
        }

        #[test]
        fn garbage_with_valid_check_never_panics(
            mut bytes in proptest::collection::vec(any::<u8>(), 188..600),
            kind in 0u8..4, version in 1u8..3, core in 0usize..176,
        ) {
            // Get past the length and CRC checks so the core and block parsers see garbage.
            bytes[8] = kind;
            bytes[9] = version;
            let core = if version == 1 { CORE_LEN } else { core };
            bytes[10..12].copy_from_slice(&(core as u16).to_le_bytes());
            if version == 1 {
                bytes[50] %= 5; // a valid cause, so block parsing is reached
            }
            reseal(&mut bytes);
            let _ = decode(&bytes);
        }

        #[test]
        fn garbage_blocks_after_a_valid_core_never_panic(
            rec in arb_record(),
            tail in proptest::collection::vec(any::<u8>(), 1..200),
        ) {
            // A valid v2 core, then garbage where the blocks are.
            let mut b = Vec::new();
            encode(&rec, &mut b);
            b.truncate(v2_blocks_at(&b));
            b.extend_from_slice(&tail);
            reseal(&mut b);
            let _ = decode(&b);
        }

        #[test]
        fn version_1_records_decode_as_version_2(rec in arb_record()) {
            // The same record, written by either version, decodes the same.
            let (mut a, mut b) = (Vec::new(), Vec::new());
            encode(&rec, &mut a);
            encode_v1(&rec, &mut b);
            let (x, y) = (decode(&a).unwrap().0, decode(&b).unwrap().0);
            let (mut xa, mut ya) = (Vec::new(), Vec::new());
            encode(&x, &mut xa);
            encode(&y, &mut ya);
            prop_assert_eq!(xa, ya);
            // A varint takes at most 2 bytes more than its fixed field (10
            // for a u64's 8, 5 for a u32's 4, 3 for a u16's 2), and a record
            // has about 60 of them: values near every field's maximum, as
            // these are, can cost up to ~120 bytes more than version 1.
            prop_assert!(a.len() <= b.len() + 160, "v2 {} v1 {}", a.len(), b.len());
        }

        #[test]
        fn back_to_back_records_split_exactly(recs in proptest::collection::vec(arb_record(), 1..8)) {
            let mut buf = Vec::new();
            for r in &recs { encode(r, &mut buf); }
            let mut pos = 0;
            for r in &recs {
                let (back, n) = decode(&buf[pos..]).unwrap();
                prop_assert_eq!(back.seq, r.seq);
                pos += n;
            }
            prop_assert_eq!(pos, buf.len());
        }
    }
}

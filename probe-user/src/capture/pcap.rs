//! pcap and pcapng file reading (gzip too).
//!
//! [`FileReader`] reads classic pcap (either byte order, microsecond or
//! nanosecond timestamps), Kuznetzov's modified pcap, and pcapng (any number of
//! sections of either byte order, per-interface link types and timestamp
//! resolutions), each optionally gzip-compressed. Packets come out as
//! [`RawPacket`]s borrowed from one reusable buffer.
//!
//! Damage handling follows libpcap where it draws a line: a file whose header
//! is unusable fails in [`FileReader::open`]; a record that is cut short or
//! claims an impossible length ends the file with one error, and the packets
//! before it stand. A captured length above the file's snaplen is accepted up
//! to [`MAX_CAPLEN`] (as tcpdump does); beyond that it is garbage.
#![deny(unsafe_code)]

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use super::error::CaptureError;
use super::source::{ByteSource, CountingReader, MAX_HELD_BYTES};
use super::RawPacket;
use crate::packet::LinkType;

/// The largest captured length a record may claim (libpcap's limit for
/// ordinary link types). Larger lengths are corruption.
pub const MAX_CAPLEN: u32 = 262_144;

/// The largest pcapng block we hold or skip. libpcap refuses blocks bigger
/// than a packet could need; we allow more room for big option or name blocks.
const MAX_BLOCK_BYTES: u32 = MAX_HELD_BYTES as u32;

const NS_PER_S: u64 = 1_000_000_000;

/// pcapng block types.
const BT_SHB: u32 = 0x0A0D_0D0A;
const BT_IDB: u32 = 1;
const BT_PB: u32 = 2;
const BT_SPB: u32 = 3;
const BT_EPB: u32 = 6;

/// What kind of file a reader found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap; `nanos` for the 0xa1b23c4d magic.
    Pcap { big_endian: bool, nanos: bool },
    /// Kuznetzov's modified pcap (0xa1b2cd34, 24-byte record headers).
    ModifiedPcap { big_endian: bool },
    /// pcapng (byte order may change from section to section).
    PcapNg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

/// A pcap record header's time (ns), captured length and wire length.
/// Out-of-range fractions (seen in the wild) carry into the seconds; no
/// overflow: u32 seconds * 1e9 + u32 * 1000 < 2^63.
#[inline(always)]
fn record_header(endian: Endian, nanos: bool, h: &[u8]) -> (u64, u32, u32) {
    let ts_s = u64::from(endian.u32(h, 0));
    let ts_frac = u64::from(endian.u32(h, 4));
    let ts_ns = ts_s * NS_PER_S + if nanos { ts_frac } else { ts_frac * 1_000 };
    (ts_ns, endian.u32(h, 8), endian.u32(h, 12))
}

impl Endian {
    // Callers check lengths first; a short slice reads as zero rather than panicking.
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let Some(s) = b.get(at..at + 2) else { return 0 };
        let a = [s[0], s[1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }

    #[inline(always)]
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let Some(s) = b.get(at..at + 4) else { return 0 };
        let a = [s[0], s[1], s[2], s[3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }

    fn u64(self, b: &[u8], at: usize) -> u64 {
        let hi_lo = (self.u32(b, at) as u64, self.u32(b, at + 4) as u64);
        match self {
            Endian::Little => hi_lo.0 | (hi_lo.1 << 32),
            Endian::Big => (hi_lo.0 << 32) | hi_lo.1,
        }
    }
}

/// Converts pcapng timestamp units to Unix nanoseconds: `units * mul / div + offset_s`.
#[derive(Clone, Copy, Debug)]
struct TsScale {
    mul: u128,
    div: u128,
    offset_s: i64,
}

impl TsScale {
    /// pcapng's default resolution: microseconds.
    const MICROS: TsScale = TsScale {
        mul: 1_000,
        div: 1,
        offset_s: 0,
    };

    /// From an `if_tsresol` byte: high bit set means 2^-n seconds, else 10^-n.
    fn from_tsresol(v: u8) -> Option<TsScale> {
        let n = u32::from(v & 0x7f);
        let (mul, div) = if v & 0x80 != 0 {
            (u128::from(NS_PER_S), 1u128.checked_shl(n)?)
        } else if n <= 9 {
            (10u128.pow(9 - n), 1)
        } else {
            (1, 10u128.checked_pow(n - 9)?)
        };
        Some(TsScale {
            mul,
            div,
            offset_s: 0,
        })
    }

    fn to_ns(self, units: u64) -> u64 {
        // units < 2^64 and mul <= 10^9, so the product fits in u128.
        let ns = (u128::from(units) * self.mul / self.div) as i128
            + i128::from(self.offset_s) * i128::from(NS_PER_S);
        ns.clamp(0, i128::from(u64::MAX)) as u64
    }
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    ts: TsScale,
}

enum Kind {
    Pcap {
        endian: Endian,
        nanos: bool,
        /// Record header size: 16, or 24 for the modified format.
        header_len: usize,
        link: LinkType,
        snaplen: u32,
    },
    PcapNg {
        endian: Endian,
        /// Interfaces of the current section, in IDB order.
        interfaces: Vec<Interface>,
    },
}

/// The packet a reader is positioned on: its bytes sit at
/// `src.available()[data_at..data_at + caplen]` until the next advance.
#[derive(Clone, Copy, Debug)]
struct Current {
    ts_ns: u64,
    wire_len: u32,
    link: LinkType,
    data_at: usize,
    caplen: usize,
}

/// Reads one capture file (pcap, modified pcap, pcapng; gzip or not).
pub struct FileReader {
    name: String,
    src: ByteSource,
    kind: Kind,
    format: Format,
    /// Bytes of the compressed file read so far; `None` when not compressed.
    compressed_read: Option<Arc<AtomicU64>>,
    file_size: Option<u64>,
    /// Length of the current record, consumed on the next advance.
    pending: usize,
    current: Option<Current>,
    done: bool,
    packets_read: u64,
    captured_bytes: u64,
    /// Timestamp for pcapng Simple Packet Blocks, which carry none: the
    /// previous packet's, so they keep their place in a merge.
    last_ts_ns: u64,
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("offset", &self.src.pos())
            .field("packets_read", &self.packets_read)
            .finish_non_exhaustive()
    }
}

impl FileReader {
    /// Opens a capture file and reads its header.
    pub fn open(path: &Path) -> Result<FileReader, CaptureError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| CaptureError::Open {
            file: name.clone(),
            source,
        })?;
        let file_size = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        Self::start(name, Box::new(file), file_size)
    }

    /// Reads a capture from any byte stream (`-r -` reads stdin). `name` is
    /// used in messages.
    pub fn from_reader(name: String, r: Box<dyn Read + Send>) -> Result<FileReader, CaptureError> {
        Self::start(name, r, None)
    }

    fn start(
        name: String,
        mut raw: Box<dyn Read + Send>,
        file_size: Option<u64>,
    ) -> Result<FileReader, CaptureError> {
        let mut sniff = [0u8; 2];
        let sniffed = read_up_to(&mut raw, &mut sniff).map_err(|source| CaptureError::Read {
            file: name.clone(),
            offset: 0,
            source,
        })?;
        let raw = Cursor::new(sniff[..sniffed].to_vec()).chain(raw);
        let gzip = sniff[..sniffed] == [0x1f, 0x8b];
        let (inner, compressed_read): (Box<dyn Read + Send>, _) = if gzip {
            let count = Arc::new(AtomicU64::new(0));
            let counted = CountingReader {
                inner: raw,
                count: Arc::clone(&count),
            };
            (Box::new(MultiGzDecoder::new(counted)), Some(count))
        } else {
            (Box::new(raw), None)
        };
        let mut reader = FileReader {
            name,
            src: ByteSource::new(inner),
            kind: Kind::PcapNg {
                endian: Endian::Little,
                interfaces: Vec::new(),
            },
            format: Format::PcapNg,
            compressed_read,
            file_size,
            pending: 0,
            current: None,
            done: false,
            packets_read: 0,
            captured_bytes: 0,
            last_ts_ns: 0,
        };
        reader.read_file_header().map_err(unusable)?;
        Ok(reader)
    }

    /// The name given at open (the path, or what `from_reader` was told).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the file is gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.compressed_read.is_some()
    }

    /// The file's link type: the pcap header's, or for pcapng the first
    /// interface's seen so far (`None` before the first IDB).
    pub fn link_type(&self) -> Option<LinkType> {
        match &self.kind {
            Kind::Pcap { link, .. } => Some(*link),
            Kind::PcapNg { interfaces, .. } => interfaces.first().map(|i| i.link),
        }
    }

    /// Packets returned so far.
    pub fn packets_read(&self) -> u64 {
        self.packets_read
    }

    /// Sum of the captured lengths of the packets returned so far.
    pub fn captured_bytes(&self) -> u64 {
        self.captured_bytes
    }

    /// Offset in the (uncompressed) capture stream up to which records have
    /// been read, the current one included.
    pub fn offset(&self) -> u64 {
        self.src.pos() + self.pending as u64
    }

    /// Bytes of the file on disk used so far, comparable with
    /// [`FileReader::file_size`] for a progress bar. For a compressed file this
    /// counts compressed bytes (read ahead by up to a buffer).
    pub fn bytes_consumed(&self) -> u64 {
        match &self.compressed_read {
            Some(count) => count.load(Ordering::Relaxed),
            None => self.offset(),
        }
    }

    /// Size of the file on disk, when it is a regular file.
    pub fn file_size(&self) -> Option<u64> {
        self.file_size
    }

    /// The next packet, `Ok(None)` at the end. After an error (the rest of the
    /// file is damaged) it returns `Ok(None)`.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.advance()? {
            Ok(self.current())
        } else {
            Ok(None)
        }
    }

    /// Moves to the next packet; `Ok(false)` at the end. The packet stays
    /// available through [`FileReader::current`] until the next call.
    #[inline(always)]
    pub(crate) fn advance(&mut self) -> Result<bool, CaptureError> {
        self.current = None;
        if self.done {
            return Ok(false);
        }
        self.src.consume(self.pending);
        self.pending = 0;
        if let Some(cur) = self.buffered_pcap_record() {
            self.packets_read += 1;
            self.captured_bytes += cur.caplen as u64;
            self.last_ts_ns = cur.ts_ns;
            self.pending = cur.data_at + cur.caplen;
            self.current = Some(cur);
            return Ok(true);
        }
        self.advance_slow()
    }

    /// The common case of a pcap file, without a call: the next record is
    /// whole in the buffer and its length is sane. Anything else (a record
    /// across the buffer's end, a bad length, pcapng) goes the general way,
    /// which reads more or reports the fault.
    #[inline(always)]
    fn buffered_pcap_record(&self) -> Option<Current> {
        let Kind::Pcap {
            endian,
            nanos,
            header_len,
            link,
            ..
        } = self.kind
        else {
            return None;
        };
        let h = self.src.available();
        let head: &[u8; 16] = h.get(..16)?.try_into().ok()?;
        let (ts_ns, caplen, wire_len) = record_header(endian, nanos, head);
        let total = header_len + caplen as usize;
        if caplen > MAX_CAPLEN || h.len() < total {
            return None;
        }
        Some(Current {
            ts_ns,
            wire_len,
            link,
            data_at: header_len,
            caplen: caplen as usize,
        })
    }

    fn advance_slow(&mut self) -> Result<bool, CaptureError> {
        let next = match self.kind {
            Kind::Pcap { .. } => self.read_pcap_record(),
            Kind::PcapNg { .. } => self.read_pcapng_packet(),
        };
        match next {
            Ok(Some(cur)) => {
                self.packets_read += 1;
                self.captured_bytes += cur.caplen as u64;
                self.last_ts_ns = cur.ts_ns;
                self.current = Some(cur);
                Ok(true)
            }
            Ok(None) => {
                self.done = true;
                Ok(false)
            }
            Err(e) => {
                self.done = true;
                self.pending = 0;
                Err(e)
            }
        }
    }

    /// The packet the last successful [`FileReader::advance`] moved to.
    #[inline]
    pub(crate) fn current(&self) -> Option<RawPacket<'_>> {
        let c = self.current.as_ref()?;
        let data = self.src.available().get(c.data_at..c.data_at + c.caplen)?;
        Some(RawPacket {
            ts_ns: c.ts_ns,
            wire_len: c.wire_len,
            link: c.link,
            data,
        })
    }

    // ---- errors ----

    fn read_err(&self, source: io::Error) -> CaptureError {
        CaptureError::Read {
            file: self.name.clone(),
            offset: self.src.pos(),
            source,
        }
    }

    fn corrupt(&self, offset: u64, reason: String) -> CaptureError {
        CaptureError::Corrupt {
            file: self.name.clone(),
            offset,
            reason,
        }
    }

    fn truncated(&self, what: &'static str, needed: usize, got: usize) -> CaptureError {
        CaptureError::Truncated {
            file: self.name.clone(),
            offset: self.src.pos(),
            what,
            needed: needed as u64,
            got: got as u64,
        }
    }

    /// Makes `n` bytes available or reports the file cut short inside `what`.
    fn need(&mut self, n: usize, what: &'static str) -> Result<(), CaptureError> {
        let have = self.src.fill(n).map_err(|e| self.read_err(e))?;
        if have < n {
            return Err(self.truncated(what, n, have));
        }
        Ok(())
    }

    // ---- file header ----

    fn read_file_header(&mut self) -> Result<(), CaptureError> {
        let have = self.src.fill(24).map_err(|e| self.read_err(e))?;
        if have < 4 {
            return Err(self.corrupt(
                0,
                format!("the file holds only {have} bytes, too few for a capture file header"),
            ));
        }
        let b = self.src.available();
        let magic = [b[0], b[1], b[2], b[3]];
        let (endian, format) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (Endian::Little, pcap(false, false)),
            [0xa1, 0xb2, 0xc3, 0xd4] => (Endian::Big, pcap(true, false)),
            [0x4d, 0x3c, 0xb2, 0xa1] => (Endian::Little, pcap(false, true)),
            [0xa1, 0xb2, 0x3c, 0x4d] => (Endian::Big, pcap(true, true)),
            [0x34, 0xcd, 0xb2, 0xa1] => {
                (Endian::Little, Format::ModifiedPcap { big_endian: false })
            }
            [0xa1, 0xb2, 0xcd, 0x34] => (Endian::Big, Format::ModifiedPcap { big_endian: true }),
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                self.format = Format::PcapNg;
                // The first block must be a Section Header Block.
                return self.read_shb();
            }
            _ => {
                return Err(self.corrupt(
                    0,
                    format!(
                        "unknown magic number {:02x}{:02x}{:02x}{:02x}",
                        magic[0], magic[1], magic[2], magic[3]
                    ),
                ))
            }
        };
        self.need(24, "pcap file header")?;
        let h = self.src.available();
        let (major, minor) = (endian.u16(h, 4), endian.u16(h, 6));
        let snaplen = endian.u32(h, 16);
        let linktype = endian.u32(h, 20);
        // Any 2.x (as Wireshark; libpcap stops at 2.4, but later minors never
        // changed the layout), and 543.0 (DG/UX tcpdump).
        if !(major == 2 || (major == 543 && minor == 0)) {
            return Err(self.corrupt(4, format!("unsupported pcap version {major}.{minor}")));
        }
        // Bits 16-25 are reserved; the top bits carry the FCS length.
        if linktype & 0x03FF_0000 != 0 {
            return Err(self.corrupt(
                20,
                format!("link-type field 0x{linktype:08x} has reserved bits set"),
            ));
        }
        let (nanos, header_len) = match format {
            Format::Pcap { nanos, .. } => (nanos, 16),
            _ => (false, 24),
        };
        self.format = format;
        self.kind = Kind::Pcap {
            endian,
            nanos,
            header_len,
            link: LinkType(linktype & 0xFFFF),
            snaplen,
        };
        self.src.consume(24);
        Ok(())
    }

    // ---- classic pcap ----

    fn read_pcap_record(&mut self) -> Result<Option<Current>, CaptureError> {
        let Kind::Pcap {
            endian,
            nanos,
            header_len,
            link,
            snaplen,
        } = self.kind
        else {
            return Ok(None);
        };
        let have = self.src.fill(header_len).map_err(|e| self.read_err(e))?;
        if have == 0 {
            return Ok(None);
        }
        if have < header_len {
            return Err(self.truncated("packet record header", header_len, have));
        }
        let h = self.src.available();
        let (ts_ns, caplen, wire_len) = record_header(endian, nanos, h);
        if caplen > MAX_CAPLEN {
            return Err(self.corrupt(
                self.src.pos(),
                format!(
                    "packet record claims {caplen} captured bytes (snaplen {snaplen}; the limit is {MAX_CAPLEN})"
                ),
            ));
        }
        let total = header_len + caplen as usize;
        self.need(total, "packet record")?;
        self.pending = total;
        Ok(Some(Current {
            ts_ns,
            wire_len,
            link,
            data_at: header_len,
            caplen: caplen as usize,
        }))
    }

    // ---- pcapng ----

    /// Reads a Section Header Block at the current position and starts a new
    /// section.
    fn read_shb(&mut self) -> Result<(), CaptureError> {
        let at = self.src.pos();
        self.need(12, "pcapng section header")?;
        let b = self.src.available();
        let endian = match [b[8], b[9], b[10], b[11]] {
            [0x4d, 0x3c, 0x2b, 0x1a] => Endian::Little,
            [0x1a, 0x2b, 0x3c, 0x4d] => Endian::Big,
            bom => {
                return Err(self.corrupt(
                    at + 8,
                    format!(
                        "pcapng section header has byte-order magic {:02x}{:02x}{:02x}{:02x}",
                        bom[0], bom[1], bom[2], bom[3]
                    ),
                ))
            }
        };
        let block_len = endian.u32(b, 4);
        self.check_block_len(at, BT_SHB, block_len, 28)?;
        let block_len = block_len as usize;
        self.need(block_len, "pcapng section header")?;
        let block = &self.src.available()[..block_len];
        if let Some(reason) = trailer_mismatch(endian, block) {
            return Err(self.corrupt(at, reason));
        }
        let (major, minor) = (endian.u16(block, 12), endian.u16(block, 14));
        // 1.0 is the standard; 1.2 was written by some tools. libpcap reads both.
        if !(major == 1 && (minor == 0 || minor == 2)) {
            return Err(self.corrupt(
                at + 12,
                format!("unsupported pcapng version {major}.{minor}"),
            ));
        }
        if let Err(reason) = walk_options(endian, &block[24..block_len - 4], |_, _| Ok(())) {
            return Err(self.corrupt(at, format!("pcapng section header: {reason}")));
        }
        self.src.consume(block_len);
        match &mut self.kind {
            Kind::PcapNg {
                endian: e,
                interfaces,
            } => {
                *e = endian;
                interfaces.clear();
            }
            Kind::Pcap { .. } => {
                self.kind = Kind::PcapNg {
                    endian,
                    interfaces: Vec::new(),
                }
            }
        }
        Ok(())
    }

    fn check_block_len(
        &self,
        at: u64,
        block_type: u32,
        block_len: u32,
        min: u32,
    ) -> Result<(), CaptureError> {
        if block_len < min || !block_len.is_multiple_of(4) || block_len > MAX_BLOCK_BYTES {
            return Err(self.corrupt(
                at,
                format!(
                    "pcapng block of type 0x{block_type:x} claims a length of {block_len} bytes \
                     (must be a multiple of 4, from {min} to {MAX_BLOCK_BYTES})"
                ),
            ));
        }
        Ok(())
    }

    fn read_pcapng_packet(&mut self) -> Result<Option<Current>, CaptureError> {
        // Each pass consumes a whole block (at least 12 bytes) or returns, so
        // this ends on any input.
        loop {
            let Kind::PcapNg { endian, .. } = self.kind else {
                return Ok(None);
            };
            let at = self.src.pos();
            let have = self.src.fill(8).map_err(|e| self.read_err(e))?;
            if have == 0 {
                return Ok(None);
            }
            if have < 8 {
                return Err(self.truncated("pcapng block header", 8, have));
            }
            let b = self.src.available();
            if b[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
                self.read_shb()?;
                continue;
            }
            let block_type = endian.u32(b, 0);
            let block_len = endian.u32(b, 4);
            let min = match block_type {
                BT_IDB => 20,
                BT_SPB => 16,
                BT_EPB | BT_PB => 32,
                _ => 12,
            };
            self.check_block_len(at, block_type, block_len, min)?;
            if !matches!(block_type, BT_IDB | BT_SPB | BT_EPB | BT_PB) {
                // Statistics, name resolution, secrets, custom blocks: not packets.
                let skipped = self
                    .src
                    .skip(u64::from(block_len))
                    .map_err(|e| self.read_err(e))?;
                if skipped < u64::from(block_len) {
                    return Err(CaptureError::Truncated {
                        file: self.name.clone(),
                        offset: at,
                        what: "pcapng block",
                        needed: u64::from(block_len),
                        got: skipped,
                    });
                }
                continue;
            }
            let block_len = block_len as usize;
            self.need(block_len, "pcapng block")?;
            let block = &self.src.available()[..block_len];
            if let Some(reason) = trailer_mismatch(endian, block) {
                return Err(self.corrupt(at, reason));
            }
            if block_type == BT_IDB {
                let iface = parse_idb(endian, block).map_err(|reason| self.corrupt(at, reason))?;
                if let Kind::PcapNg { interfaces, .. } = &mut self.kind {
                    // Bounded: each IDB costs at least 20 bytes of input.
                    interfaces.push(iface);
                }
                self.src.consume(block_len);
                continue;
            }
            let cur = self.parse_packet_block(at, endian, block_type, block_len)?;
            self.pending = block_len;
            return Ok(Some(cur));
        }
    }

    /// Parses an EPB, SPB or obsolete PB held at the start of the buffer.
    fn parse_packet_block(
        &self,
        at: u64,
        endian: Endian,
        block_type: u32,
        block_len: usize,
    ) -> Result<Current, CaptureError> {
        let Kind::PcapNg { interfaces, .. } = &self.kind else {
            return Err(self.corrupt(at, "internal: not a pcapng reader".to_string()));
        };
        let block = &self.src.available()[..block_len];
        let body_end = block_len - 4;
        let (if_id, data_at, caplen, wire_len, ts_units) = match block_type {
            BT_SPB => {
                let wire_len = endian.u32(block, 8);
                let room = body_end - 12;
                let mut caplen = (wire_len as usize).min(room);
                if let Some(iface) = interfaces.first() {
                    if iface.snaplen != 0 {
                        caplen = caplen.min(iface.snaplen as usize);
                    }
                }
                (0, 12, caplen, wire_len, None)
            }
            _ => {
                let (if_id, ts_at) = if block_type == BT_EPB {
                    (endian.u32(block, 8) as usize, 12)
                } else {
                    (usize::from(endian.u16(block, 8)), 12)
                };
                let ts = (u64::from(endian.u32(block, ts_at)) << 32)
                    | u64::from(endian.u32(block, ts_at + 4));
                let caplen = endian.u32(block, 20) as usize;
                let wire_len = endian.u32(block, 24);
                if caplen > body_end - 28 {
                    return Err(self.corrupt(
                        at,
                        format!(
                            "packet block claims {caplen} captured bytes but the block has room for {}",
                            body_end - 28
                        ),
                    ));
                }
                (if_id, 28, caplen, wire_len, Some(ts))
            }
        };
        if caplen > MAX_CAPLEN as usize {
            return Err(self.corrupt(
                at,
                format!("packet block claims {caplen} captured bytes (limit {MAX_CAPLEN})"),
            ));
        }
        let Some(iface) = interfaces.get(if_id) else {
            return Err(self.corrupt(
                at,
                format!(
                    "packet block refers to interface {if_id}, but the section describes {}",
                    interfaces.len()
                ),
            ));
        };
        let ts_ns = match ts_units {
            Some(units) => iface.ts.to_ns(units),
            None => self.last_ts_ns,
        };
        Ok(Current {
            ts_ns,
            wire_len,
            link: iface.link,
            data_at,
            caplen,
        })
    }
}

fn pcap(big_endian: bool, nanos: bool) -> Format {
    Format::Pcap { big_endian, nanos }
}

/// A damaged header read by `open` means the file is unusable, not damaged later.
fn unusable(e: CaptureError) -> CaptureError {
    match e {
        CaptureError::Corrupt {
            file,
            offset,
            reason,
        } => CaptureError::Unusable {
            file,
            offset,
            reason,
        },
        other => other,
    }
}

/// Reads until `buf` is full or the stream ends.
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A pcapng block repeats its length at its end; a mismatch means we are no
/// longer reading blocks where they start.
fn trailer_mismatch(endian: Endian, block: &[u8]) -> Option<String> {
    let len = block.len();
    let trailer = endian.u32(block, len.checked_sub(4)?);
    (trailer as usize != len)
        .then(|| format!("pcapng block length {len} does not match its trailing copy {trailer}"))
}

/// Walks pcapng options (code, length, value padded to 4 bytes) until
/// `opt_endofopt` or the end of `body`, calling `f` for each.
fn walk_options(
    endian: Endian,
    body: &[u8],
    mut f: impl FnMut(u16, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut i = 0;
    while i + 4 <= body.len() {
        let code = endian.u16(body, i);
        let len = usize::from(endian.u16(body, i + 2));
        i += 4;
        if code == 0 {
            break;
        }
        let Some(value) = body.get(i..i + len) else {
            return Err(format!(
                "option {code} of length {len} runs past the end of its block"
            ));
        };
        f(code, value)?;
        i += (len + 3) & !3;
    }
    Ok(())
}

fn parse_idb(endian: Endian, block: &[u8]) -> Result<Interface, String> {
    let link = LinkType(u32::from(endian.u16(block, 8)));
    let snaplen = endian.u32(block, 12);
    let mut ts = TsScale::MICROS;
    let mut offset_s = 0i64;
    walk_options(endian, &block[16..block.len() - 4], |code, value| {
        match (code, value.len()) {
            (9, 1..) => {
                ts = TsScale::from_tsresol(value[0]).ok_or_else(|| {
                    format!("interface has an impossible if_tsresol 0x{:02x}", value[0])
                })?;
            }
            (14, 8..) => offset_s = endian.u64(value, 0) as i64,
            _ => {}
        }
        Ok(())
    })
    .map_err(|reason| format!("pcapng interface description: {reason}"))?;
    ts.offset_s = offset_s;
    Ok(Interface { link, snaplen, ts })
}

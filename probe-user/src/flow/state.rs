//! Per-flow state: the pending record's accumulators and the TCP tracker.
//!
//! A flow in the table holds only what the pending record needs to be built:
//! a compact [`Flow`] (124 bytes, its key a 20-byte [`StoredKey`], its MAC
//! addresses, VLANs and MPLS labels an id in the shard's [`L2Table`]), with
//! a [`TcpAcc`] (68 bytes) right after it for a TCP flow (see
//! `store::FlowStore`), and an out-of-line [`FlowExt`] only when jitter
//! (`-J`) or user data (`-U`) is asked for. The [`FlowRecord`] is assembled
//! when the record is taken.

use super::key::StoredKey;
use super::l2::{L2Table, L2};
use super::EngineConfig;
use crate::packet::{tcpflag, Net, PacketInfo};
use crate::record::{flag, tcpstate, Cause, DirStats, FlowKey, FlowRecord, TcpPerf};
use ocellus_common::ipproto;

/// TCP state history letters, in `TcpPerf::history` bit order.
pub mod history {
    pub const SYN: u8 = 1 << 0; // s
    pub const SYNACK: u8 = 1 << 1; // S
    pub const EST: u8 = 1 << 2; // E
    pub const FIN: u8 = 1 << 3; // f
    pub const FINACK: u8 = 1 << 4; // F
    pub const CLOSE: u8 = 1 << 5; // C
    pub const RESET: u8 = 1 << 6; // R
}

/// The TCP tracker and the pending record's TCP counters. Lives as long as
/// the flow; the per-record counters reset when a record is taken.
/// In declared order (`repr(C)`), so that the 8-byte handshake time falls
/// within a cache line where `store` puts it.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct TcpAcc {
    pub state: u32,
    pub src_base: u32,
    pub dst_base: u32,
    pub src_next: u32,
    pub dst_next: u32,
    pub src_fin_seq: u32,
    pub dst_fin_seq: u32,
    pub synack_us: u32,
    /// The window each side last advertised, as sent: scaled when the
    /// record is taken if `have` says so (`WIN_SCALED_*`; a flow's scale
    /// factors do not change once both are known).
    src_win: u16,
    dst_win: u16,
    pub src_retrans: u32,
    pub dst_retrans: u32,
    pub src_gap_bytes: u32,
    pub dst_gap_bytes: u32,
    /// While `have & HAVE_HS`: the time of the last handshake step, the SYN
    /// until the SYN-ACK is seen, then the SYN-ACK. Once the handshake's
    /// ACK gave the SYN-ACK→ACK time (`have & HAVE_ACKDAT`): that time in
    /// microseconds, in the first half. Kept as two halves so the
    /// accumulators need only 4-byte alignment.
    hs: [u32; 2],
    pub options: u16,
    pub history: u8,
    /// `HAVE_*` bits.
    have: u8,
    pub src_wscale: u8,
    pub dst_wscale: u8,
    pub src_flags: u8,
    pub dst_flags: u8,
}

const HAVE_SRC_SEQ: u8 = 1;
const HAVE_DST_SEQ: u8 = 2;
/// `hs` holds a handshake step's time.
const HAVE_HS: u8 = 4;
/// `hs[0]` holds the SYN-ACK→ACK time.
const HAVE_ACKDAT: u8 = 8;
/// The window last advertised by the source (destination) is to be scaled.
const WIN_SCALED_SRC: u8 = 16;
const WIN_SCALED_DST: u8 = 32;

impl TcpAcc {
    /// Where the handshake time lies (for a test of the layout).
    #[cfg(test)]
    pub(super) const HS_OFFSET: usize = std::mem::offset_of!(TcpAcc, hs);

    /// The time of the last handshake step, if the handshake is under way.
    #[inline]
    fn hs_ns(&self) -> Option<u64> {
        (self.have & HAVE_HS != 0).then(|| (self.hs[1] as u64) << 32 | self.hs[0] as u64)
    }
    #[inline]
    fn set_hs_ns(&mut self, ts: u64) {
        // Only before the handshake's end (a SYN or SYN-ACK seen first).
        debug_assert!(self.have & HAVE_ACKDAT == 0);
        // A time of 0 stands for none, as it always has.
        if ts == 0 {
            self.have &= !HAVE_HS;
        } else {
            self.hs = [ts as u32, (ts >> 32) as u32];
            self.have |= HAVE_HS;
        }
    }

    /// The SYN-ACK→ACK time in microseconds (0: not seen).
    #[inline]
    pub fn ackdat_us(&self) -> u32 {
        if self.have & HAVE_ACKDAT != 0 {
            self.hs[0]
        } else {
            0
        }
    }

    /// The windows last advertised by the source and the destination,
    /// scaled where they were sent under scaling.
    pub fn windows(&self) -> (u32, u32) {
        let scaled = |win: u16, scale: u8, bit: u8| {
            let shift = if self.have & bit != 0 {
                scale.min(14) as u32
            } else {
                0
            };
            (win as u32) << shift
        };
        (
            scaled(self.src_win, self.src_wscale, WIN_SCALED_SRC),
            scaled(self.dst_win, self.dst_wscale, WIN_SCALED_DST),
        )
    }

    fn new(midstream: bool) -> TcpAcc {
        TcpAcc {
            src_wscale: 0xff,
            dst_wscale: 0xff,
            state: if midstream { tcpstate::MIDSTREAM } else { 0 },
            ..Default::default()
        }
    }
}

/// One direction's accumulators for the pending record. Packed to 4-byte
/// alignment, as [`Flow`] is.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, packed(4))]
pub struct DirAcc {
    /// Per record; a record is cut before these can wrap (`BYTES_LIMIT`).
    pub bytes: u32,
    pub appbytes: u32,
    pub stime_ns: u64,
    pub ltime_ns: u64,
    pub pkts: u32,
    pub min_sz: u32,
    pub max_sz: u32,
    pub ttl: u8,
    pub tos: u8,
    pub ipid: u16,
}

/// Inter-packet statistics of one direction (`-J`), microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Jitter {
    pub n: u32,
    pub sum_us: f64,
    pub sumsq_us: f64,
    pub min_us: f64,
    pub max_us: f64,
}

/// What only some runs ask for, kept out of line.
#[derive(Clone, Debug, Default)]
pub struct FlowExt {
    pub jitter: [Jitter; 2],
    pub suser: Vec<u8>,
    pub duser: Vec<u8>,
}

/// `Flow::bits`.
pub(super) mod bit {
    /// The initiator is the canonical key's `dst` side.
    pub const ORIENT_SWAPPED: u8 = 1 << 0;
    /// The next record emitted is the flow's first.
    pub const FIRST: u8 = 1 << 1;
    /// The pending record's `dmac` came from a packet of the destination side.
    pub const DST_MAC_SEEN: u8 = 1 << 2;
    /// The TCP connection has finished (FIN handshake or reset).
    pub const TCP_CLOSED: u8 = 1 << 3;
    /// The slab entry is free (the flow was forgotten).
    pub const VACANT: u8 = 1 << 4;
    /// The flow's `l2` tuple is the last record's: the pending record has
    /// none yet (the id is kept, so that a next record with the same tuple
    /// needs no lookup).
    pub const L2_STALE: u8 = 1 << 5;
    /// A tick has noted the flow as idle past its timeout.
    pub const RETIRING: u8 = 1 << 6;
    /// The pending record's first packet came from the destination side.
    pub const FIRST_FROM_DST: u8 = 1 << 7;
}

/// A record [`flag`] as a flow's 16-bit `flags` holds it. Only used in
/// constants ([`fflag`]), so a flag that does not fit fails the build.
const fn narrow(f: u32) -> u16 {
    assert!(f <= u16::MAX as u32, "a flag a flow sets must fit 16 bits");
    f as u16
}

/// The record flags a flow sets, as its `flags` holds them.
mod fflag {
    use super::{flag, narrow};
    pub const MULTIPATH: u16 = narrow(flag::MULTIPATH);
    pub const HAS_MAC: u16 = narrow(flag::HAS_MAC);
    pub const HAS_SVLAN: u16 = narrow(flag::HAS_SVLAN);
    pub const HAS_DVLAN: u16 = narrow(flag::HAS_DVLAN);
    pub const HAS_SMPLS: u16 = narrow(flag::HAS_SMPLS);
    pub const HAS_DMPLS: u16 = narrow(flag::HAS_DMPLS);
    pub const SRC_ECN: u16 = narrow(flag::SRC_ECN);
    pub const DST_ECN: u16 = narrow(flag::DST_ECN);
    pub const FRAGMENTS: u16 = narrow(flag::FRAGMENTS);
    pub const TRUNCATED: u16 = narrow(flag::TRUNCATED);
}
const _: () = assert!(crate::packet::encaps::ALL <= u16::MAX as u32);

/// A per-record packet counter this close to overflowing makes the record
/// due now (a 32-bit count per status interval is otherwise plenty).
const PKTS_LIMIT: u32 = u32::MAX - 1;

/// Likewise the per-record byte counters: 4 GiB one way within a status
/// interval (5 s: 6.9 Gbit/s in one flow) cuts the record early, leaving room
/// for one more frame of any size a capture holds (a length claimed beyond
/// that saturates).
const BYTES_LIMIT: u32 = u32::MAX - (1 << 18);

/// One live flow: 124 bytes, packed to 4-byte alignment so that a TCP flow
/// and its [`TcpAcc`] make three whole cache lines (see `store`); none of
/// its 8-byte fields crosses a line there (`store`'s tests check).
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
pub struct Flow {
    /// Canonical table key.
    pub key: StoredKey,
    pub src: DirAcc,
    pub dst: DirAcc,
    /// While a record is pending: its last time (packets, or an ICMP error
    /// quoting the flow). Otherwise: when the flow's last report was due
    /// (idle timeouts count from there).
    pub ltime_ns: u64,
    /// `packet::encaps` bits (16 of them are used).
    pub encaps: u16,
    /// The record's [`flag`] bits that a flow sets ([`fflag`]).
    pub flags: u16,
    pub ip_options: u16,
    pub icmp_mapped: u8,
    pub(super) bits: u8,
    /// The pending record's MAC addresses, VLANs and MPLS labels: an id in
    /// the shard's [`L2Table`] (unless `bits` has `L2_STALE`).
    pub l2: u32,
    /// The canonical key's hash, under which the index holds the flow.
    pub hash: u32,
}

/// Whether two MAC addresses are the same (two loads and a compare each,
/// where `==` on arrays compares byte by byte).
#[inline(always)]
fn mac_eq(a: &[u8; 6], b: &[u8; 6]) -> bool {
    let w = |m: &[u8; 6]| {
        u32::from_le_bytes([m[0], m[1], m[2], m[3]]) as u64
            | (u16::from_le_bytes([m[4], m[5]]) as u64) << 32
    };
    w(a) == w(b)
}

/// Sequence-space comparison (RFC 1982).
#[inline]
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Flow {
    /// A new flow for packet `p` whose packet key is `pkey` (src = sender) and
    /// canonical key `ckey` (`swapped` when the sender is the canonical dst).
    /// Returns the TCP accumulators to keep beside it for a TCP flow.
    pub fn new(
        p: &PacketInfo,
        pkey: &FlowKey,
        ckey: StoredKey,
        swapped: bool,
    ) -> (Flow, Option<TcpAcc>) {
        let is_tcp = p.is_ip() && p.proto == ipproto::TCP && !pkey_is_fragment(pkey);
        // Who initiated: the sender, except that a flow first seen on a SYN-ACK
        // belongs to the SYN-ACK's receiver.
        let synack = is_tcp
            && p.has_l4
            && p.tcp.flags & (tcpflag::SYN | tcpflag::ACK) == (tcpflag::SYN | tcpflag::ACK);
        let orient_swapped = if synack { !swapped } else { swapped };
        let tcp = is_tcp.then(|| TcpAcc::new(p.has_l4 && p.tcp.flags & tcpflag::SYN == 0));
        let flow = Flow {
            key: ckey,
            src: DirAcc::default(),
            dst: DirAcc::default(),
            ltime_ns: p.ts_ns,
            encaps: 0,
            flags: 0,
            ip_options: 0,
            icmp_mapped: 0,
            bits: bit::FIRST
                | if orient_swapped {
                    bit::ORIENT_SWAPPED
                } else {
                    0
                },
            l2: L2Table::NONE,
            hash: 0,
        };
        (flow, tcp)
    }

    /// The record's key, from the flow's canonical key `ckey` (its `key`
    /// expanded): `src` is the initiator.
    #[inline]
    pub fn out_key(&self, ckey: FlowKey) -> FlowKey {
        if self.bits & bit::ORIENT_SWAPPED != 0 {
            ckey.reversed()
        } else {
            ckey
        }
    }

    /// Whether a packet whose canonical-key swap flag is `swapped` came from the initiator.
    #[inline]
    pub fn from_src(&self, swapped: bool) -> bool {
        swapped == (self.bits & bit::ORIENT_SWAPPED != 0)
    }

    /// Time of the pending record's first packet (at least 1); 0 when
    /// nothing is pending.
    #[inline]
    pub fn rec_start_ns(&self) -> u64 {
        let d = if self.bits & bit::FIRST_FROM_DST != 0 {
            &self.dst
        } else {
            &self.src
        };
        if d.pkts == 0 {
            0
        } else {
            d.stime_ns.max(1)
        }
    }

    #[inline]
    pub fn pending(&self) -> bool {
        self.src.pkts != 0 || self.dst.pkts != 0
    }

    /// When the pending record is due (status interval after its first packet).
    #[inline]
    pub fn due_ns(&self, cfg: &EngineConfig) -> u64 {
        self.rec_start_ns().saturating_add(cfg.status_interval_ns)
    }

    /// When a packet at `ts` finds the pending record due: the time it was
    /// due, or `ts` itself when a per-record counter is about to overflow.
    #[inline]
    pub fn report_due(&self, ts: u64, cfg: &EngineConfig) -> Option<u64> {
        if !self.pending() {
            return None;
        }
        let due = self.due_ns(cfg);
        if ts >= due {
            Some(due)
        } else if self.src.pkts >= PKTS_LIMIT
            || self.dst.pkts >= PKTS_LIMIT
            || self.src.bytes.max(self.src.appbytes) >= BYTES_LIMIT
            || self.dst.bytes.max(self.dst.appbytes) >= BYTES_LIMIT
        {
            Some(ts)
        } else {
            None
        }
    }

    /// When the flow may be forgotten if no packet comes.
    pub fn expire_ns(&self, cfg: &EngineConfig) -> u64 {
        let timeout = cfg.timeouts.for_flow(self);
        let base = if self.pending() {
            self.due_ns(cfg)
        } else {
            self.ltime_ns
        };
        base.saturating_add(timeout)
    }

    /// When the flow next needs attention: its pending record's due time,
    /// or, once reported, the end of its idle timeout.
    #[inline]
    pub fn next_event_ns(&self, cfg: &EngineConfig) -> u64 {
        if self.pending() {
            self.due_ns(cfg)
        } else {
            self.expire_ns(cfg)
        }
    }

    /// An ICMP error quoting this flow: mark it, and extend the pending
    /// record to the error's time.
    pub fn icmp_error(&mut self, letter: u8, ts: u64) {
        self.icmp_mapped = letter;
        if self.pending() {
            self.ltime_ns = self.ltime_ns.max(ts);
        }
    }

    /// Whether the TCP connection has finished (FIN handshake or reset).
    #[inline]
    pub fn tcp_closed(&self) -> bool {
        self.bits & bit::TCP_CLOSED != 0
    }

    /// Adds one packet to the pending record. `tcp` is the flow's TCP
    /// accumulators, if it has them; `l2` the shard's tuples.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        tcp: Option<&mut TcpAcc>,
        mut ext: Option<&mut FlowExt>,
        l2: &mut L2Table,
        p: &PacketInfo,
        from_src: bool,
        payload: &[u8],
        cfg: &EngineConfig,
    ) {
        let ts = p.ts_ns;
        if !self.pending() {
            self.bits = if from_src {
                self.bits & !bit::FIRST_FROM_DST
            } else {
                self.bits | bit::FIRST_FROM_DST
            };
            self.ltime_ns = ts;
        }
        self.ltime_ns = self.ltime_ns.max(ts);
        self.encaps |= p.encaps as u16;
        self.ip_options |= p.ip_options;
        if p.frag.is_fragment {
            self.flags |= fflag::FRAGMENTS;
        }
        if p.malformed != crate::packet::Malformed::None {
            self.flags |= fflag::TRUNCATED;
        }

        let d: &mut DirAcc = if from_src {
            &mut self.src
        } else {
            &mut self.dst
        };
        if d.pkts > 0 {
            if let Some(ext) = ext.as_deref_mut().filter(|_| cfg.jitter) {
                let j = &mut ext.jitter[!from_src as usize];
                let gap_us = ts.saturating_sub(d.ltime_ns) as f64 / 1000.0;
                if j.n == 0 {
                    j.min_us = gap_us;
                    j.max_us = gap_us;
                } else {
                    j.min_us = j.min_us.min(gap_us);
                    j.max_us = j.max_us.max(gap_us);
                }
                j.n += 1;
                j.sum_us += gap_us;
                j.sumsq_us += gap_us * gap_us;
            }
        } else {
            d.stime_ns = ts;
            d.min_sz = p.wire_len;
        }
        d.ltime_ns = ts;
        d.pkts += 1;
        d.bytes = d.bytes.saturating_add(p.wire_len);
        d.appbytes = d.appbytes.saturating_add(p.app_len);
        d.min_sz = d.min_sz.min(p.wire_len);
        d.max_sz = d.max_sz.max(p.wire_len);
        if p.is_ip() {
            d.ttl = p.ttl;
            d.tos = p.tos;
            d.ipid = p.ip_id as u16;
            if p.tos & 0x03 == 0x03 {
                self.flags |= if from_src {
                    fflag::SRC_ECN
                } else {
                    fflag::DST_ECN
                };
            }
        }

        if p.has_mac || p.has_vlan || p.has_mpls {
            self.update_l2(l2, p, from_src);
        }
        if cfg.user_data_len > 0 && !payload.is_empty() {
            if let Some(ext) = ext {
                let buf = if from_src {
                    &mut ext.suser
                } else {
                    &mut ext.duser
                };
                let room = (cfg.user_data_len as usize).saturating_sub(buf.len());
                if room > 0 {
                    if buf.capacity() == 0 {
                        buf.reserve_exact(cfg.user_data_len as usize);
                    }
                    buf.extend_from_slice(&payload[..payload.len().min(room)]);
                }
            }
        }

        if let Some(t) = tcp {
            if p.has_l4 && p.net != Net::None {
                let peer_seen = if from_src {
                    self.dst.pkts > 0
                } else {
                    self.src.pkts > 0
                };
                tcp_update(t, p, from_src, peer_seen);
                if t.state & tcpstate::CLOSED != 0 {
                    self.bits |= bit::TCP_CLOSED;
                }
            }
        }
    }

    /// The link-layer part of [`Flow::update`]: the packet's MACs, VLAN and
    /// MPLS label into the pending record's tuple.
    #[inline]
    fn update_l2(&mut self, l2: &mut L2Table, p: &PacketInfo, from_src: bool) {
        // Nearly every packet: an Ethernet frame without VLAN or label, of a
        // side whose MAC the pending record has. Only a change of MAC can
        // come of it.
        if self.bits & bit::L2_STALE == 0
            && self.flags & fflag::HAS_MAC != 0
            && !(p.has_vlan || p.has_mpls)
            && (from_src || self.bits & bit::DST_MAC_SEEN != 0)
        {
            let t = l2.get(self.l2);
            let mac = if from_src { &t.smac } else { &t.dmac };
            if !mac_eq(mac, &p.src_mac) {
                self.flags |= fflag::MULTIPATH;
            }
            return;
        }
        self.update_l2_slow(l2, p, from_src);
    }

    /// [`Flow::update_l2`] for the other packets: a record's first, a new
    /// VLAN or label, the first MAC of a side. A tuple equal to the flow's
    /// entry (the last record's, most often) keeps it without a lookup.
    #[inline(never)]
    fn update_l2_slow(&mut self, l2: &mut L2Table, p: &PacketInfo, from_src: bool) {
        let stale = self.bits & bit::L2_STALE != 0;
        let cur = if stale { L2::ZERO } else { *l2.get(self.l2) };
        let mut t = cur;
        if p.has_mac {
            // Each side's MAC is the one its own packets come from; a side that
            // changes MAC means several paths (Argus flgs `M`).
            if self.flags & fflag::HAS_MAC == 0 {
                self.flags |= fflag::HAS_MAC;
                if from_src {
                    t.smac = p.src_mac;
                    t.dmac = p.dst_mac;
                    self.bits &= !bit::DST_MAC_SEEN;
                } else {
                    t.smac = p.dst_mac;
                    t.dmac = p.src_mac;
                    self.bits |= bit::DST_MAC_SEEN;
                }
            } else if from_src {
                if t.smac != p.src_mac {
                    self.flags |= fflag::MULTIPATH;
                }
            } else if self.bits & bit::DST_MAC_SEEN == 0 {
                t.dmac = p.src_mac;
                self.bits |= bit::DST_MAC_SEEN;
            } else if t.dmac != p.src_mac {
                self.flags |= fflag::MULTIPATH;
            }
        }
        if p.has_vlan {
            if from_src {
                t.svlan = p.vlan_tci;
                self.flags |= fflag::HAS_SVLAN;
            } else {
                t.dvlan = p.vlan_tci;
                self.flags |= fflag::HAS_DVLAN;
            }
        }
        if p.has_mpls {
            if from_src {
                t.smpls = p.mpls_label;
                self.flags |= fflag::HAS_SMPLS;
            } else {
                t.dmpls = p.mpls_label;
                self.flags |= fflag::HAS_DMPLS;
            }
        }
        if stale || t != cur {
            self.bits &= !bit::L2_STALE;
            let old = self.l2;
            if *l2.get(old) != t {
                self.l2 = l2.intern(&t);
                l2.release(old);
            }
        }
    }

    /// The start time the pending record will carry: its first packet;
    /// Argus starts a later record at its source's first packet when it has one.
    pub fn record_stime(&self) -> u64 {
        if self.bits & bit::FIRST == 0 && self.src.pkts > 0 {
            return self.src.stime_ns;
        }
        let start = self.rec_start_ns();
        if start == 1 {
            // A packet stamped 0 or 1 ns: take the exact time.
            return [&self.src, &self.dst]
                .iter()
                .filter(|d| d.pkts > 0)
                .map(|d| d.stime_ns)
                .min()
                .unwrap_or(0);
        }
        start
    }

    /// Takes the pending record out into `rec`, resetting the per-record
    /// accumulators. `ckey` is the flow's canonical key (`key` expanded).
    /// The record is written where it will be sent from, not returned: a
    /// `FlowRecord` is over 400 bytes, and each move on its way to a vector
    /// was a copy.
    #[allow(clippy::too_many_arguments)]
    pub fn take_record(
        &mut self,
        ckey: FlowKey,
        tcp: Option<&mut TcpAcc>,
        ext: Option<&mut FlowExt>,
        l2: &L2Table,
        cause: Cause,
        due_ns: u64,
        rec: &mut FlowRecord,
    ) {
        let first = self.bits & bit::FIRST != 0;
        let (sj, dj, suser, duser) = match ext {
            Some(e) => {
                let j = std::mem::take(&mut e.jitter);
                (
                    j[0],
                    j[1],
                    std::mem::take(&mut e.suser),
                    std::mem::take(&mut e.duser),
                )
            }
            None => Default::default(),
        };
        let stime_ns = self.record_stime();
        let src = std::mem::take(&mut self.src);
        let dst = std::mem::take(&mut self.dst);
        let tcp_perf = tcp.map(|t| {
            let (src_win, dst_win) = t.windows();
            let perf = TcpPerf {
                state: t.state,
                history: t.history,
                src_flags: t.src_flags,
                dst_flags: t.dst_flags,
                src_base_seq: t.src_base,
                dst_base_seq: t.dst_base,
                src_win,
                dst_win,
                options: t.options,
                synack_us: t.synack_us,
                ackdat_us: t.ackdat_us(),
                src_retrans: t.src_retrans,
                dst_retrans: t.dst_retrans,
                src_ooo: 0,
                dst_ooo: 0,
                src_gap_bytes: t.src_gap_bytes,
                dst_gap_bytes: t.dst_gap_bytes,
                src_max_seq: t.src_next,
                dst_max_seq: t.dst_next,
            };
            // Per-record counters, loss and window flags start again with the
            // next record.
            t.src_flags = 0;
            t.dst_flags = 0;
            t.src_retrans = 0;
            t.dst_retrans = 0;
            t.src_gap_bytes = 0;
            t.dst_gap_bytes = 0;
            t.state &= !(tcpstate::SRC_PKTS_RETRANS
                | tcpstate::DST_PKTS_RETRANS
                | tcpstate::SRC_GAP
                | tcpstate::DST_GAP
                | tcpstate::SRC_WINSHUT
                | tcpstate::DST_WINSHUT
                | tcpstate::SAW_SYN_SENT);
            perf
        });
        // Field by field into the reused record (building a whole new one
        // and moving it in copied its 400-odd bytes once more per record);
        // the pattern names every field, so none is left stale.
        let FlowRecord {
            kind: r_kind,
            cause: r_cause,
            seq: r_seq,
            srcid: r_srcid,
            key: r_key,
            stime_ns: r_stime,
            ltime_ns: r_ltime,
            encaps: r_encaps,
            flags: r_flags,
            icmp_mapped: r_icmp,
            ip_options: r_ipopt,
            src: r_src,
            dst: r_dst,
            tcp: r_tcp,
            smac: r_smac,
            dmac: r_dmac,
            svlan: r_svlan,
            dvlan: r_dvlan,
            smpls: r_smpls,
            dmpls: r_dmpls,
            suser: r_suser,
            duser: r_duser,
            man: r_man,
        } = rec;
        *r_kind = crate::record::RecordKind::Flow;
        *r_cause = if first && cause == Cause::Status {
            Cause::Start
        } else {
            cause
        };
        *r_seq = 0;
        *r_srcid = 0;
        *r_key = self.out_key(ckey);
        *r_stime = stime_ns;
        *r_ltime = self.ltime_ns;
        *r_encaps = self.encaps as u32;
        *r_flags = self.flags as u32 | if first { flag::FIRST } else { 0 };
        *r_icmp = self.icmp_mapped;
        *r_ipopt = self.ip_options;
        *r_src = dir_stats(&src, &sj);
        *r_dst = dir_stats(&dst, &dj);
        *r_tcp = tcp_perf;
        let t = if self.bits & bit::L2_STALE != 0 {
            &L2::ZERO
        } else {
            l2.get(self.l2)
        };
        *r_smac = t.smac;
        *r_dmac = t.dmac;
        *r_svlan = t.svlan;
        *r_dvlan = t.dvlan;
        *r_smpls = t.smpls;
        *r_dmpls = t.dmpls;
        *r_suser = suser;
        *r_duser = duser;
        *r_man = None;
        self.encaps = 0;
        self.flags = 0;
        self.icmp_mapped = 0;
        self.ip_options = 0;
        self.bits &= !(bit::FIRST | bit::DST_MAC_SEEN);
        self.bits |= bit::L2_STALE;
        self.ltime_ns = due_ns;
    }
}

fn dir_stats(d: &DirAcc, j: &Jitter) -> DirStats {
    DirStats {
        pkts: d.pkts as u64,
        bytes: d.bytes as u64,
        appbytes: d.appbytes as u64,
        stime_ns: d.stime_ns,
        ltime_ns: d.ltime_ns,
        ttl: d.ttl,
        tos: d.tos,
        ipid: d.ipid,
        min_sz: d.min_sz,
        max_sz: d.max_sz,
        intpkt_n: j.n,
        intpkt_sum_us: j.sum_us,
        intpkt_sumsq_us: j.sumsq_us,
        intpkt_min_us: j.min_us,
        intpkt_max_us: j.max_us,
    }
}

/// The TCP tracker: one packet of a TCP flow. `peer_seen`: the other side
/// has sent packets in this record.
fn tcp_update(t: &mut TcpAcc, p: &PacketInfo, from_src: bool, peer_seen: bool) {
    let fl = p.tcp.flags;
    let ts = p.ts_ns;
    let seq = p.tcp.seq;
    let syn = fl & tcpflag::SYN != 0;
    let ack = fl & tcpflag::ACK != 0;
    if from_src {
        t.src_flags |= fl;
    } else {
        t.dst_flags |= fl;
    }

    // Handshake.
    if syn && !ack {
        if from_src {
            if t.state & tcpstate::SAW_SYN != 0 {
                t.state |= tcpstate::SAW_SYN_SENT | tcpstate::SRC_PKTS_RETRANS;
                t.src_retrans += 1;
            } else {
                t.state |= tcpstate::SAW_SYN;
                t.history |= history::SYN;
                if t.state & tcpstate::SAW_SYNACK == 0 {
                    t.set_hs_ns(ts);
                }
                t.src_base = seq;
                t.have |= HAVE_SRC_SEQ;
                t.src_next = seq.wrapping_add(1);
                t.src_wscale = p.tcp.wscale;
                t.options |= p.tcp.options;
                if fl & (tcpflag::ECE | tcpflag::CWR) == (tcpflag::ECE | tcpflag::CWR) {
                    t.options |= crate::record::tcpopt_ecn::SRC;
                }
            }
        }
    } else if syn && ack {
        if !from_src {
            if t.state & tcpstate::SAW_SYNACK != 0 {
                t.state |= tcpstate::DST_PKTS_RETRANS;
                t.dst_retrans += 1;
            } else {
                if let Some(hs) = t.hs_ns().filter(|_| t.state & tcpstate::SAW_SYN != 0) {
                    t.synack_us = (ts.saturating_sub(hs) / 1000) as u32;
                }
                t.state |= tcpstate::SAW_SYNACK;
                t.history |= history::SYNACK;
                t.set_hs_ns(ts);
                t.dst_base = seq;
                t.have |= HAVE_DST_SEQ;
                t.dst_next = seq.wrapping_add(1);
                t.dst_wscale = p.tcp.wscale;
                t.options |= p.tcp.options;
                if fl & tcpflag::ECE != 0 {
                    t.options |= crate::record::tcpopt_ecn::DST;
                }
            }
        }
    } else if ack
        && from_src
        && t.state & (tcpstate::SAW_SYNACK | tcpstate::SAW_SYN) != 0
        && t.state & tcpstate::ESTABLISHED == 0
    {
        t.state |= tcpstate::ESTABLISHED;
        t.history |= history::EST;
        if let Some(hs) = t.hs_ns().filter(|_| t.state & tcpstate::SAW_SYNACK != 0) {
            // The handshake is over: its last step's time gives way to the
            // SYN-ACK→ACK time.
            t.hs = [(ts.saturating_sub(hs) / 1000) as u32, 0];
            t.have = (t.have & !HAVE_HS) | HAVE_ACKDAT;
        }
        if t.state & tcpstate::SAW_SYN == 0 && t.state & tcpstate::SAW_SYNACK != 0 {
            // First seen on a SYN-ACK, then its ACK: Argus reports this as a
            // close without FIN (state CLO).
            t.state |= tcpstate::CLOSED;
        }
    }

    // Sequence space: retransmissions, gaps.
    let peer_seen = peer_seen || t.have & if from_src { HAVE_DST_SEQ } else { HAVE_SRC_SEQ } != 0;
    if !syn {
        let len = p.app_len;
        let end = seq
            .wrapping_add(len)
            .wrapping_add((fl & tcpflag::FIN != 0) as u32);
        let have_bit = if from_src { HAVE_SRC_SEQ } else { HAVE_DST_SEQ };
        let have = t.have & have_bit != 0;
        let (next, base) = if from_src {
            (&mut t.src_next, &mut t.src_base)
        } else {
            (&mut t.dst_next, &mut t.dst_base)
        };
        if !have {
            t.have |= have_bit;
            // Picked up mid-stream: the first sender's base is seq - 1, the
            // other side's is its first seq (as Argus reports them).
            *base = if from_src { seq.wrapping_sub(1) } else { seq };
            *next = end;
        } else if len > 0 {
            // Only segments that carry data count as retransmissions:
            // repeated FINs and keep-alive probes do not, nor does anything
            // while the other side has not been heard (as in Argus).
            if seq_lt(seq, *next) {
                if !seq_lt(*next, end) && peer_seen {
                    if from_src {
                        t.src_retrans += 1;
                        t.state |= tcpstate::SRC_PKTS_RETRANS;
                    } else {
                        t.dst_retrans += 1;
                        t.state |= tcpstate::DST_PKTS_RETRANS;
                    }
                } else {
                    *next = end;
                }
            } else {
                if seq != *next {
                    let gap = seq.wrapping_sub(*next);
                    if from_src {
                        t.src_gap_bytes = t.src_gap_bytes.saturating_add(gap);
                        t.state |= tcpstate::SRC_GAP;
                    } else {
                        t.dst_gap_bytes = t.dst_gap_bytes.saturating_add(gap);
                        t.state |= tcpstate::DST_GAP;
                    }
                }
                *next = end;
            }
        }
    }

    // Windows (scaled once both sides offered scaling; the scaling is
    // applied when the record is taken).
    let scale = t.src_wscale != 0xff && t.dst_wscale != 0xff && !syn;
    let scaled_bit = if from_src {
        t.src_win = p.tcp.window;
        WIN_SCALED_SRC
    } else {
        t.dst_win = p.tcp.window;
        WIN_SCALED_DST
    };
    t.have = if scale {
        t.have | scaled_bit
    } else {
        t.have & !scaled_bit
    };
    if p.tcp.window == 0 && fl & (tcpflag::RST | tcpflag::SYN | tcpflag::FIN) == 0 {
        t.state |= if from_src {
            tcpstate::SRC_WINSHUT
        } else {
            tcpstate::DST_WINSHUT
        };
    }

    // Teardown.
    if fl & tcpflag::RST != 0 {
        t.state |= tcpstate::RESET | tcpstate::CLOSED;
        t.history |= history::RESET;
    }
    if fl & tcpflag::FIN != 0 {
        t.history |= history::FIN;
        if from_src && t.state & tcpstate::FIN_SRC == 0 {
            t.state |= tcpstate::FIN_SRC;
            t.src_fin_seq = seq.wrapping_add(p.app_len);
        } else if !from_src && t.state & tcpstate::FIN_DST == 0 {
            t.state |= tcpstate::FIN_DST;
            t.dst_fin_seq = seq.wrapping_add(p.app_len);
        }
    }
    if ack {
        let other_fin = if from_src {
            tcpstate::FIN_DST
        } else {
            tcpstate::FIN_SRC
        };
        let fin_seq = if from_src {
            t.dst_fin_seq
        } else {
            t.src_fin_seq
        };
        if t.state & other_fin != 0 && !seq_lt(p.tcp.ack, fin_seq.wrapping_add(1)) {
            t.state |= tcpstate::FIN_ACKED;
            t.history |= history::FINACK;
            if t.state & (tcpstate::FIN_SRC | tcpstate::FIN_DST)
                == (tcpstate::FIN_SRC | tcpstate::FIN_DST)
            {
                t.state |= tcpstate::CLOSED;
                t.history |= history::CLOSE;
            }
        }
    }
}

fn pkey_is_fragment(k: &FlowKey) -> bool {
    k.aux & ocellus_common::AUX_FRAGMENT != 0 && k.sport == 0 && k.dport == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_state_stays_compact() {
        // The memory budget per concurrent flow (300 bytes with default
        // options) rests on these sizes; with them a TCP flow and its
        // accumulators make three cache lines (see `store`).
        assert_eq!(std::mem::size_of::<Flow>(), 124);
        assert_eq!(std::mem::size_of::<TcpAcc>(), 68);
    }

    /// The handshake's two times share 8 bytes with the handshake step's
    /// time, and windows are scaled when the record is taken: what a
    /// record reports is what the packets said, in this record and the next.
    #[test]
    fn handshake_times_and_windows_survive_their_compact_storage() {
        use crate::packet::TcpInfo;
        let cfg = EngineConfig::default();
        let t0 = 1_700_000_000_000_000_000u64;
        let seg = |ts: u64, flags: u8, seq: u32, window: u16, wscale: u8, len: u32| PacketInfo {
            ts_ns: ts,
            net: Net::Ipv4,
            proto: ipproto::TCP,
            has_l4: true,
            wire_len: 54 + len,
            app_len: len,
            tcp: TcpInfo {
                flags,
                seq,
                window,
                wscale,
                ..TcpInfo::default()
            },
            ..PacketInfo::default()
        };
        let syn = seg(t0, tcpflag::SYN, 1000, 64240, 7, 0);
        let key = FlowKey::default();
        let (mut f, tcp) = Flow::new(&syn, &key, StoredKey::narrow(&key).unwrap(), false);
        let mut t = tcp.expect("a TCP flow");
        let mut l2 = L2Table::default();
        let ack = tcpflag::ACK;
        for (p, from_src) in [
            (syn, true),
            // SYN-ACK 1.5 ms later, ACK 0.25 ms after it.
            (
                seg(t0 + 1_500_000, tcpflag::SYN | ack, 5000, 65160, 9, 0),
                false,
            ),
            (seg(t0 + 1_750_000, ack, 1001, 502, 0xff, 0), true),
            (seg(t0 + 2_000_000, ack, 1001, 502, 0xff, 100), true),
            (seg(t0 + 2_100_000, ack, 5001, 300, 0xff, 0), false),
        ] {
            f.update(Some(&mut t), None, &mut l2, &p, from_src, &[], &cfg);
        }
        let mut rec = FlowRecord::default();
        let took = |f: &mut Flow, t: &mut TcpAcc, l2: &L2Table, rec: &mut FlowRecord| {
            f.take_record(
                key,
                Some(t),
                None,
                l2,
                Cause::Status,
                t0 + 5_000_000_000,
                rec,
            );
            let p = rec.tcp.expect("TCP performance");
            (p.synack_us, p.ackdat_us, p.src_win, p.dst_win)
        };
        assert_eq!(
            took(&mut f, &mut t, &l2, &mut rec),
            (1500, 250, 502 << 7, 300 << 9)
        );
        // The next record keeps the connection's times; its windows are its
        // own packets', scaled as before.
        f.update(
            Some(&mut t),
            None,
            &mut l2,
            &seg(t0 + 6_000_000_000, ack, 1101, 40, 0xff, 0),
            true,
            &[],
            &cfg,
        );
        assert_eq!(
            took(&mut f, &mut t, &l2, &mut rec),
            (1500, 250, 40 << 7, 300 << 9)
        );
    }

    /// The per-record byte counters are 32 bits: a record is cut before they
    /// could wrap, and a claimed frame length beyond any capture's saturates.
    #[test]
    fn byte_counters_cut_the_record_before_they_wrap() {
        let cfg = EngineConfig::default();
        let p = PacketInfo {
            ts_ns: 1_000_000_000,
            wire_len: 1 << 18,
            app_len: 1 << 18,
            ..PacketInfo::default()
        };
        let key = FlowKey::default();
        let stored = StoredKey::narrow(&key).unwrap();
        let (mut f, _) = Flow::new(&p, &key, stored, false);
        let mut l2 = L2Table::default();
        f.update(None, None, &mut l2, &p, true, &[], &cfg);
        let soon = p.ts_ns + 1;
        assert_eq!(f.report_due(soon, &cfg), None);
        f.src.bytes = BYTES_LIMIT - 1;
        assert_eq!(f.report_due(soon, &cfg), None);
        // One more frame of the largest size reaches the limit without
        // wrapping; the next packet finds the record due.
        f.update(None, None, &mut l2, &p, true, &[], &cfg);
        assert_eq!(f.src.bytes, BYTES_LIMIT - 1 + (1 << 18));
        assert_eq!(f.report_due(soon, &cfg), Some(soon));
        let mut rec = FlowRecord::default();
        f.take_record(key, None, None, &l2, Cause::Status, soon, &mut rec);
        assert_eq!(rec.src.bytes, (BYTES_LIMIT - 1 + (1 << 18)) as u64);
        assert_eq!(f.report_due(soon, &cfg), None);
        // The destination's application bytes count too.
        f.update(None, None, &mut l2, &p, false, &[], &cfg);
        f.dst.appbytes = BYTES_LIMIT;
        assert_eq!(f.report_due(soon, &cfg), Some(soon));
        // An absurd claimed length saturates instead of wrapping.
        let huge = PacketInfo {
            wire_len: u32::MAX,
            ..p
        };
        f.update(None, None, &mut l2, &huge, false, &[], &cfg);
        assert_eq!(f.dst.bytes, u32::MAX);
    }
}

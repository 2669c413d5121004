//! Per-flow state: the pending record's accumulators and the TCP tracker.

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

/// The TCP tracker: lives as long as the flow, across its records.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpTrack {
    pub state: u32,
    pub history: u8,
    pub have_src_seq: bool,
    pub have_dst_seq: bool,
    pub src_base: u32,
    pub dst_base: u32,
    pub src_next: u32,
    pub dst_next: u32,
    pub src_wscale: u8,
    pub dst_wscale: u8,
    pub src_fin_seq: u32,
    pub dst_fin_seq: u32,
    pub options: u16,
    pub syn_ns: u64,
    pub synack_ns: u64,
    pub synack_us: u32,
    pub ackdat_us: u32,
    pub src_win: u32,
    pub dst_win: u32,
}

/// One live flow.
#[derive(Clone, Debug)]
pub struct Flow {
    /// Canonical table key.
    pub key: FlowKey,
    /// Whether the initiator is the canonical key's `dst` side.
    pub orient_swapped: bool,
    /// The record being accumulated (its counters are the pending deltas).
    pub rec: FlowRecord,
    /// Time of the pending record's first packet; 0 when nothing is pending.
    pub rec_start_ns: u64,
    /// When the flow's last report was due; idle timeouts count from here.
    pub idle_base_ns: u64,
    /// The next record emitted is the flow's first.
    pub first: bool,
    pub tcp: TcpTrack,
    pub is_tcp: bool,
    /// The pending record's `dmac` came from a packet of the destination side.
    pub dst_mac_seen: bool,
}

/// Sequence-space comparison (RFC 1982).
#[inline]
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Flow {
    /// A new flow for packet `p` whose packet key is `pkey` (src = sender) and
    /// canonical key `ckey` (`swapped` when the sender is the canonical dst).
    pub fn new(p: &PacketInfo, pkey: &FlowKey, ckey: FlowKey, swapped: bool) -> Flow {
        let is_tcp = p.is_ip() && p.proto == ipproto::TCP && !pkey_is_fragment(pkey);
        // Who initiated: the sender, except that a flow first seen on a SYN-ACK
        // belongs to the SYN-ACK's receiver.
        let synack = is_tcp
            && p.has_l4
            && p.tcp.flags & (tcpflag::SYN | tcpflag::ACK) == (tcpflag::SYN | tcpflag::ACK);
        let sender_is_src = !synack;
        let out_key = if sender_is_src {
            *pkey
        } else {
            pkey.reversed()
        };
        let orient_swapped = if sender_is_src { swapped } else { !swapped };
        let rec = FlowRecord {
            key: out_key,
            tcp: if is_tcp {
                Some(TcpPerf::default())
            } else {
                None
            },
            ..Default::default()
        };
        let mut tcp = TcpTrack {
            src_wscale: 0xff,
            dst_wscale: 0xff,
            ..Default::default()
        };
        if is_tcp && p.has_l4 && p.tcp.flags & (tcpflag::SYN) == 0 {
            tcp.state |= tcpstate::MIDSTREAM;
        }
        Flow {
            key: ckey,
            orient_swapped,
            rec,
            rec_start_ns: 0,
            idle_base_ns: p.ts_ns,
            first: true,
            tcp,
            is_tcp,
            dst_mac_seen: false,
        }
    }

    /// Whether a packet whose canonical-key swap flag is `swapped` came from the initiator.
    #[inline]
    pub fn from_src(&self, swapped: bool) -> bool {
        swapped == self.orient_swapped
    }

    #[inline]
    pub fn pending(&self) -> bool {
        self.rec_start_ns != 0
    }

    /// When the pending record is due (status interval after its first packet).
    #[inline]
    pub fn due_ns(&self, cfg: &EngineConfig) -> u64 {
        self.rec_start_ns.saturating_add(cfg.status_interval_ns)
    }

    /// When the flow may be forgotten if no packet comes.
    pub fn expire_ns(&self, cfg: &EngineConfig) -> u64 {
        let timeout = cfg.timeouts.for_flow(self);
        let base = if self.pending() {
            self.due_ns(cfg)
        } else {
            self.idle_base_ns
        };
        base.saturating_add(timeout)
    }

    /// Adds one packet to the pending record.
    pub fn update(&mut self, p: &PacketInfo, from_src: bool, payload: &[u8], cfg: &EngineConfig) {
        let ts = p.ts_ns;
        if !self.pending() {
            self.rec_start_ns = ts.max(1);
            self.rec.stime_ns = ts;
        }
        self.rec.ltime_ns = self.rec.ltime_ns.max(ts);
        self.rec.encaps |= p.encaps;
        self.rec.ip_options |= p.ip_options;
        if p.frag.is_fragment {
            self.rec.flags |= flag::FRAGMENTS;
        }
        if p.malformed != crate::packet::Malformed::None {
            self.rec.flags |= flag::TRUNCATED;
        }

        let rec = &mut self.rec;
        let d: &mut DirStats = if from_src { &mut rec.src } else { &mut rec.dst };
        if d.pkts > 0 {
            let gap_us = ts.saturating_sub(d.ltime_ns) as f64 / 1000.0;
            if d.intpkt_n == 0 {
                d.intpkt_min_us = gap_us;
                d.intpkt_max_us = gap_us;
            } else {
                d.intpkt_min_us = d.intpkt_min_us.min(gap_us);
                d.intpkt_max_us = d.intpkt_max_us.max(gap_us);
            }
            d.intpkt_n += 1;
            d.intpkt_sum_us += gap_us;
            d.intpkt_sumsq_us += gap_us * gap_us;
        } else {
            d.stime_ns = ts;
            d.min_sz = p.wire_len;
        }
        d.ltime_ns = ts;
        d.pkts += 1;
        d.bytes += p.wire_len as u64;
        d.appbytes += p.app_len as u64;
        d.min_sz = d.min_sz.min(p.wire_len);
        d.max_sz = d.max_sz.max(p.wire_len);
        if p.is_ip() {
            d.ttl = p.ttl;
            d.tos = p.tos;
            d.ipid = p.ip_id as u16;
            if p.tos & 0x03 == 0x03 {
                rec.flags |= if from_src {
                    flag::SRC_ECN
                } else {
                    flag::DST_ECN
                };
            }
        }

        if p.has_mac {
            // Each side's MAC is the one its own packets come from; a side that
            // changes MAC means several paths (Argus flgs `M`).
            if rec.flags & flag::HAS_MAC == 0 {
                rec.flags |= flag::HAS_MAC;
                if from_src {
                    rec.smac = p.src_mac;
                    rec.dmac = p.dst_mac;
                } else {
                    rec.smac = p.dst_mac;
                    rec.dmac = p.src_mac;
                }
                self.dst_mac_seen = !from_src;
            } else if from_src {
                if rec.smac != p.src_mac {
                    rec.flags |= flag::MULTIPATH;
                }
            } else if !self.dst_mac_seen {
                rec.dmac = p.src_mac;
                self.dst_mac_seen = true;
            } else if rec.dmac != p.src_mac {
                rec.flags |= flag::MULTIPATH;
            }
        }
        if p.has_vlan {
            if from_src {
                rec.svlan = p.vlan_tci;
                rec.flags |= flag::HAS_SVLAN;
            } else {
                rec.dvlan = p.vlan_tci;
                rec.flags |= flag::HAS_DVLAN;
            }
        }
        if p.has_mpls {
            if from_src {
                rec.smpls = p.mpls_label;
                rec.flags |= flag::HAS_SMPLS;
            } else {
                rec.dmpls = p.mpls_label;
                rec.flags |= flag::HAS_DMPLS;
            }
        }
        if cfg.user_data_len > 0 && !payload.is_empty() {
            let buf = if from_src {
                &mut rec.suser
            } else {
                &mut rec.duser
            };
            let room = (cfg.user_data_len as usize).saturating_sub(buf.len());
            if room > 0 {
                if buf.capacity() == 0 {
                    buf.reserve_exact(cfg.user_data_len as usize);
                }
                buf.extend_from_slice(&payload[..payload.len().min(room)]);
            }
        }

        if self.is_tcp && p.has_l4 && p.net != Net::None {
            self.tcp_update(p, from_src);
        }
    }

    fn tcp_update(&mut self, p: &PacketInfo, from_src: bool) {
        let t = &mut self.tcp;
        let perf = self.rec.tcp.get_or_insert_with(TcpPerf::default);
        let fl = p.tcp.flags;
        let ts = p.ts_ns;
        let seq = p.tcp.seq;
        let syn = fl & tcpflag::SYN != 0;
        let ack = fl & tcpflag::ACK != 0;
        if from_src {
            perf.src_flags |= fl;
        } else {
            perf.dst_flags |= fl;
        }

        // Handshake.
        if syn && !ack {
            if from_src {
                if t.state & tcpstate::SAW_SYN != 0 {
                    t.state |= tcpstate::SAW_SYN_SENT | tcpstate::SRC_PKTS_RETRANS;
                    perf.src_retrans += 1;
                } else {
                    t.state |= tcpstate::SAW_SYN;
                    t.history |= history::SYN;
                    t.syn_ns = ts;
                    t.src_base = seq;
                    t.have_src_seq = true;
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
                    perf.dst_retrans += 1;
                } else {
                    t.state |= tcpstate::SAW_SYNACK;
                    t.history |= history::SYNACK;
                    t.synack_ns = ts;
                    if t.syn_ns != 0 {
                        t.synack_us = (ts.saturating_sub(t.syn_ns) / 1000) as u32;
                    }
                    t.dst_base = seq;
                    t.have_dst_seq = true;
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
            if t.synack_ns != 0 {
                t.ackdat_us = (ts.saturating_sub(t.synack_ns) / 1000) as u32;
            }
            if t.state & tcpstate::SAW_SYN == 0 && t.state & tcpstate::SAW_SYNACK != 0 {
                // First seen on a SYN-ACK, then its ACK: Argus reports this as a
                // close without FIN (state CLO).
                t.state |= tcpstate::CLOSED;
            }
        }

        // Sequence space: retransmissions, gaps.
        let peer_seen = if from_src {
            self.rec.dst.pkts > 0 || t.have_dst_seq
        } else {
            self.rec.src.pkts > 0 || t.have_src_seq
        };
        if !syn {
            let len = p.app_len;
            let end = seq
                .wrapping_add(len)
                .wrapping_add((fl & tcpflag::FIN != 0) as u32);
            let (have, next, base) = if from_src {
                (&mut t.have_src_seq, &mut t.src_next, &mut t.src_base)
            } else {
                (&mut t.have_dst_seq, &mut t.dst_next, &mut t.dst_base)
            };
            if !*have {
                *have = true;
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
                            perf.src_retrans += 1;
                            t.state |= tcpstate::SRC_PKTS_RETRANS;
                        } else {
                            perf.dst_retrans += 1;
                            t.state |= tcpstate::DST_PKTS_RETRANS;
                        }
                    } else {
                        *next = end;
                    }
                } else {
                    if seq != *next {
                        let gap = seq.wrapping_sub(*next);
                        if from_src {
                            perf.src_gap_bytes = perf.src_gap_bytes.saturating_add(gap);
                            t.state |= tcpstate::SRC_GAP;
                        } else {
                            perf.dst_gap_bytes = perf.dst_gap_bytes.saturating_add(gap);
                            t.state |= tcpstate::DST_GAP;
                        }
                    }
                    *next = end;
                }
            }
        }

        // Windows (scaled once both sides offered scaling).
        let scale = t.src_wscale != 0xff && t.dst_wscale != 0xff && !syn;
        let shift = |w: u8| if scale { w.min(14) as u32 } else { 0 };
        if from_src {
            t.src_win = (p.tcp.window as u32) << shift(t.src_wscale);
        } else {
            t.dst_win = (p.tcp.window as u32) << shift(t.dst_wscale);
        }
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

    /// Whether the TCP connection has finished (FIN handshake or reset).
    pub fn tcp_closed(&self) -> bool {
        self.is_tcp && self.tcp.state & tcpstate::CLOSED != 0
    }

    /// Takes the pending record out, resetting the per-record accumulators.
    pub fn take_record(&mut self, cause: Cause, due_ns: u64) -> FlowRecord {
        let mut rec = FlowRecord {
            key: self.rec.key,
            tcp: if self.is_tcp {
                Some(TcpPerf::default())
            } else {
                None
            },
            ..Default::default()
        };
        std::mem::swap(&mut rec, &mut self.rec);
        rec.kind = crate::record::RecordKind::Flow;
        // Argus starts a later record at its source's first packet when it
        // has one (the first record starts at the flow's first packet).
        if !self.first && rec.src.pkts > 0 {
            rec.stime_ns = rec.src.stime_ns;
        }
        rec.cause = if self.first && cause == Cause::Status {
            Cause::Start
        } else {
            cause
        };
        if self.first {
            rec.flags |= flag::FIRST;
        }
        if let Some(perf) = rec.tcp.as_mut() {
            let t = &self.tcp;
            perf.state = t.state;
            perf.history = t.history;
            perf.src_base_seq = t.src_base;
            perf.dst_base_seq = t.dst_base;
            perf.src_win = t.src_win;
            perf.dst_win = t.dst_win;
            perf.options = t.options;
            perf.synack_us = t.synack_us;
            perf.ackdat_us = t.ackdat_us;
            perf.src_max_seq = t.src_next;
            perf.dst_max_seq = t.dst_next;
        }
        // Per-record loss and window flags start again with the next record.
        self.tcp.state &= !(tcpstate::SRC_PKTS_RETRANS
            | tcpstate::DST_PKTS_RETRANS
            | tcpstate::SRC_GAP
            | tcpstate::DST_GAP
            | tcpstate::SRC_WINSHUT
            | tcpstate::DST_WINSHUT
            | tcpstate::SAW_SYN_SENT);
        self.first = false;
        self.dst_mac_seen = false;
        self.rec_start_ns = 0;
        self.idle_base_ns = due_ns;
        let _ = rec.stime_ns;
        rec
    }
}

fn pkey_is_fragment(k: &FlowKey) -> bool {
    k.aux & ocellus_common::AUX_FRAGMENT != 0 && k.sport == 0 && k.dport == 0
}

//! The flow engine: the Argus 3 flow model over lock-sharded hash tables.
//!
//! Packets are applied to [`Shard`]s chosen by the symmetric hash of the
//! address pair, so both directions (and fragments, and the ICMP errors that
//! quote a flow) meet in one shard, whatever queue or worker they arrived on.
//! A worker applies a batch by grouping it per shard and taking each shard's
//! lock once. Time is packet time: status intervals and idle timeouts advance
//! with the timestamps of the packets, so a replay is reproducible.
//!
//! Records leave the engine tagged with the packet time at which they were due
//! (`Emitted::due_ns`); the pipeline orders them by that time, so the output does
//! not depend on how many workers ran.

pub mod key;
pub mod live;
pub mod pipeline;
pub mod state;

use crate::packet::{Net, PacketInfo};
use crate::record::{Cause, FlowKey, FlowRecord};
use hashbrown::HashTable;
use ocellus_common::ipproto;
use state::Flow;
use std::sync::Mutex;

const NS: u64 = 1_000_000_000;

/// Idle timeouts per protocol, in seconds (Argus 3.0.8's compiled values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    pub tcp_s: u64,
    pub tcp_closed_s: u64,
    pub udp_s: u64,
    pub icmp_s: u64,
    pub arp_s: u64,
    pub igmp_s: u64,
    pub other_s: u64,
    pub frag_s: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_s: 60,
            tcp_closed_s: 10,
            udp_s: 30,
            icmp_s: 5,
            arp_s: 5,
            igmp_s: 30,
            other_s: 30,
            frag_s: 5,
        }
    }
}

impl Timeouts {
    pub fn for_flow(&self, f: &Flow) -> u64 {
        let k = &f.rec.key;
        let s = match k.class() {
            ocellus_common::KeyClass::Ipv4 | ocellus_common::KeyClass::Ipv6 => match k.proto {
                ipproto::TCP if f.tcp_closed() => self.tcp_closed_s,
                ipproto::TCP => self.tcp_s,
                ipproto::UDP => self.udp_s,
                ipproto::ICMP | ipproto::ICMPV6 => self.icmp_s,
                ipproto::IGMP => self.igmp_s,
                _ => self.other_s,
            },
            // An ARP exchange ends with its report: the next request is a new flow.
            ocellus_common::KeyClass::Arp | ocellus_common::KeyClass::Rarp if !f.pending() => 0,
            ocellus_common::KeyClass::Arp | ocellus_common::KeyClass::Rarp => self.arp_s,
            _ => self.other_s,
        };
        s.saturating_mul(NS)
    }
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Status record interval (Argus `-S`), nanoseconds.
    pub status_interval_ns: u64,
    pub timeouts: Timeouts,
    /// Bytes of payload captured each way per record (Argus `-U`).
    pub user_data_len: u32,
    /// Number of table shards (a power of two).
    pub shards: usize,
    /// How often (in packet time) idle flows are scanned.
    pub scan_interval_ns: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            status_interval_ns: 5 * NS,
            timeouts: Timeouts::default(),
            user_data_len: 0,
            shards: 64,
            scan_interval_ns: NS,
        }
    }
}

/// A record leaving the engine, with the packet time it was due.
#[derive(Clone, Debug)]
pub struct Emitted {
    pub due_ns: u64,
    pub rec: FlowRecord,
}

/// Counters kept per shard (summed for reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub packets: u64,
    pub bytes: u64,
    /// Frames with nothing to key on (unknown link type, truncated link header).
    pub unkeyed: u64,
    pub malformed: u64,
    pub flows_created: u64,
    pub records: u64,
    pub fragments_matched: u64,
    pub icmp_mapped: u64,
    /// Most flows held at once (summed over shards: an upper bound of the
    /// table's peak).
    pub peak_flows: u64,
}

impl EngineStats {
    pub fn add(&mut self, o: &EngineStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.unkeyed += o.unkeyed;
        self.malformed += o.malformed;
        self.flows_created += o.flows_created;
        self.records += o.records;
        self.fragments_matched += o.fragments_matched;
        self.icmp_mapped += o.icmp_mapped;
        self.peak_flows += o.peak_flows;
    }
}

#[derive(Clone, Copy, Debug)]
struct FragEntry {
    frag_key: FlowKey,
    flow_key: FlowKey,
    flow_hash: u32,
    expire_ns: u64,
}

/// One lock's worth of flows.
#[derive(Default)]
pub struct Shard {
    flows: HashTable<Flow>,
    frags: HashTable<FragEntry>,
    /// Records emitted and not yet collected by a worker.
    pub out: Vec<Emitted>,
    pub stats: EngineStats,
}

#[inline]
fn h64(h: u32) -> u64 {
    // hashbrown uses the top 7 bits for its control bytes: spread the 32-bit hash.
    (h as u64) << 32 | h as u64
}

impl Shard {
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Applies one packet. `pkey` is its key as the packet sees it, `payload`
    /// the captured transport payload (for `-U`).
    /// `flow_hash` is the canonical key's `sym_hash` when the kernel computed it
    /// (XDP metadata), or 0 to compute it here.
    pub fn apply(
        &mut self,
        p: &PacketInfo,
        pkey: &FlowKey,
        flow_hash: u32,
        payload: &[u8],
        cfg: &EngineConfig,
    ) {
        self.stats.packets += 1;
        self.stats.bytes += p.wire_len as u64;
        if p.malformed != crate::packet::Malformed::None {
            self.stats.malformed += 1;
        }
        let ts = p.ts_ns;

        // Later fragments join the flow of their first fragment.
        let pkey = *pkey;
        let mut frag_target: Option<(FlowKey, u32)> = None;
        if p.is_ip() && p.frag.is_fragment {
            let fkey = key::fragment_key(p).canonical().0;
            let fh = fkey.sym_hash();
            if p.frag.offset != 0 {
                if let Some(e) = self
                    .frags
                    .find(h64(fh), |e| e.frag_key == fkey && e.expire_ns > ts)
                {
                    frag_target = Some((e.flow_key, e.flow_hash));
                    self.stats.fragments_matched += 1;
                }
            }
        }

        let (ckey, swapped) = match frag_target {
            Some((fk, _)) => {
                // Orientation: compare the fragment's sender with the flow's src.
                (fk, fk.src != p.src_ip)
            }
            None => pkey.canonical(),
        };
        let hash = match frag_target {
            Some((_, h)) => h,
            None if flow_hash != 0 => flow_hash,
            None => ckey.sym_hash(),
        };

        // ICMP errors mark the flow they quote.
        if p.is_ip()
            && matches!(p.proto, ipproto::ICMP | ipproto::ICMPV6)
            && p.has_l4
            && key::icmp_is_error(p.net == Net::Ipv6, p.icmp_type)
        {
            if let Some(q) = key::quoted_key(p) {
                let qc = q.canonical().0;
                let letter = key::icmp_map_letter(p.net == Net::Ipv6, p.icmp_type);
                if let Some(f) = self.flows.find_mut(h64(qc.sym_hash()), |f| f.key == qc) {
                    f.rec.icmp_mapped = letter;
                    // The error is news of this flow: its record lasts until then.
                    if f.pending() {
                        f.rec.ltime_ns = f.rec.ltime_ns.max(ts);
                    }
                    self.stats.icmp_mapped += 1;
                }
            }
        }

        // A key built from the requester's side for a reply (ARP).
        let reply = key::arp_reply(p);

        // Find the flow, reporting or retiring it first if its time has come.
        let mut expired = false;
        {
            let Shard {
                flows, out, stats, ..
            } = self;
            if let Some(f) = flows.find_mut(h64(hash), |f| f.key == ckey) {
                if f.pending() && ts >= f.due_ns(cfg) {
                    let due = f.due_ns(cfg);
                    let rec = f.take_record(Cause::Status, due);
                    stats.records += 1;
                    out.push(Emitted { due_ns: due, rec });
                }
                if f.pending() || ts < f.expire_ns(cfg) {
                    let from_src = f.from_src(swapped) != reply;
                    f.update(p, from_src, payload, cfg);
                    self.register_fragment(p, &ckey, hash, ts, cfg);
                    return;
                }
                expired = true;
            }
        }
        if expired {
            if let Ok(entry) = self.flows.find_entry(h64(hash), |f| f.key == ckey) {
                entry.remove();
            }
        }
        let mut flow = Flow::new(p, &pkey, ckey, swapped);
        let from_src = flow.from_src(swapped) != reply;
        flow.update(p, from_src, payload, cfg);
        self.stats.flows_created += 1;
        self.flows
            .insert_unique(h64(hash), flow, |f| h64(f.key.sym_hash()));
        self.stats.peak_flows = self.stats.peak_flows.max(self.flows.len() as u64);
        self.register_fragment(p, &ckey, hash, ts, cfg);
    }

    fn register_fragment(
        &mut self,
        p: &PacketInfo,
        ckey: &FlowKey,
        hash: u32,
        ts: u64,
        cfg: &EngineConfig,
    ) {
        if !(p.is_ip() && p.frag.is_fragment && p.frag.offset == 0) {
            return;
        }
        let fkey = key::fragment_key(p).canonical().0;
        let fh = fkey.sym_hash();
        let entry = FragEntry {
            frag_key: fkey,
            flow_key: *ckey,
            flow_hash: hash,
            expire_ns: ts.saturating_add(cfg.timeouts.frag_s * NS),
        };
        match self.frags.find_mut(h64(fh), |e| e.frag_key == fkey) {
            Some(e) => *e = entry,
            None => {
                self.frags
                    .insert_unique(h64(fh), entry, |e| h64(e.frag_key.sym_hash()));
            }
        }
    }

    /// Reports every record due by `now_ns` and forgets idle flows.
    pub fn scan(&mut self, now_ns: u64, cfg: &EngineConfig) {
        let mut out = std::mem::take(&mut self.out);
        let mut records = 0;
        self.flows.retain(|f| {
            if f.pending() && f.due_ns(cfg) <= now_ns {
                let due = f.due_ns(cfg);
                let rec = f.take_record(Cause::Status, due);
                records += 1;
                out.push(Emitted { due_ns: due, rec });
            }
            f.pending() || f.expire_ns(cfg) > now_ns
        });
        self.frags.retain(|e| e.expire_ns > now_ns);
        self.stats.records += records;
        self.out = out;
    }

    /// Reports every pending record (end of input or shutdown) and empties the shard.
    pub fn flush(&mut self) {
        let mut out = std::mem::take(&mut self.out);
        for mut f in self.flows.drain() {
            if f.pending() {
                let rec = f.take_record(Cause::Stop, u64::MAX);
                self.stats.records += 1;
                out.push(Emitted {
                    due_ns: u64::MAX,
                    rec,
                });
            }
        }
        self.frags.clear();
        self.out = out;
    }
}

/// The sharded flow table shared by all workers.
pub struct FlowTable {
    shards: Box<[Mutex<Shard>]>,
    mask: usize,
}

impl FlowTable {
    pub fn new(shards: usize) -> FlowTable {
        let n = shards.max(1).next_power_of_two();
        FlowTable {
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            mask: n - 1,
        }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    #[inline]
    pub fn shard_of(&self, shard_hash: u32) -> usize {
        // The table hash uses the low bits; pick the shard from the high ones.
        (shard_hash.rotate_left(16) as usize) & self.mask
    }

    /// Locks shard `i`. A poisoned lock (a worker panicked) is still usable:
    /// the shard's data is plain counters and flows.
    pub fn lock(&self, i: usize) -> std::sync::MutexGuard<'_, Shard> {
        match self.shards[i].lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

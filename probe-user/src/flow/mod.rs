//! The flow engine: the Argus 3 flow model over lock-sharded hash tables.
//!
//! Packets are applied to [`Shard`]s chosen by the symmetric hash of the
//! address pair, so both directions (and fragments, and the ICMP errors that
//! quote a flow) meet in one shard, whatever queue or worker they arrived on.
//! A worker applies a batch by grouping it per shard and taking each shard's
//! lock once. Time is packet time: status intervals and idle timeouts advance
//! with the timestamps of the packets, so a replay is reproducible.
//!
//! Records leave the engine encoded and tagged with the packet time at which
//! they were due ([`emit::Head::due_ns`]); the pipeline orders them by that
//! time, so the output does not depend on how many workers ran.

pub mod emit;
mod index;
pub mod key;
mod l2;
pub mod live;
mod pages;
pub mod pipeline;
mod slab;
pub mod state;
mod store;
mod timers;

use crate::packet::{Net, PacketInfo};
use crate::record::{Cause, FlowKey, FlowRecord};
use hashbrown::HashTable;
use index::FlowIndex;
use key::{StoredKey, WideAddrs};
use l2::L2Table;
use ocellus_common::ipproto;
use slab::Slab;
use state::{bit, Flow, FlowExt, TcpAcc};
use std::sync::Mutex;
use store::FlowStore;
use timers::Timers;

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
        let k = &f.key;
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
    /// Inter-packet time statistics (Argus `-J`; off by default, as in Argus).
    pub jitter: bool,
    /// Number of table shards (a power of two).
    pub shards: usize,
    /// How often (in packet time) the flows whose time has come are visited:
    /// status records due, idle timeouts (a tick).
    pub scan_interval_ns: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            status_interval_ns: 5 * NS,
            timeouts: Timeouts::default(),
            user_data_len: 0,
            jitter: false,
            shards: 64,
            scan_interval_ns: timers::SCAN_NS,
        }
    }
}

pub use emit::Records;

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
    /// Ids of the flows, by the hash of their canonical key.
    index: FlowIndex,
    flows: FlowStore,
    /// The addresses of the flows whose keys do not fit a [`StoredKey`].
    wide: Slab<WideAddrs>,
    /// When each flow next needs attention (a record due, an idle timeout):
    /// every flow's latest filing there is no later than that time.
    timers: Timers,
    /// What only some runs keep per flow (`-J`, `-U`), by flow index; empty
    /// otherwise, so a flow does not carry a pointer for it.
    exts: Vec<Option<Box<FlowExt>>>,
    /// The flows' MAC addresses, VLANs and MPLS labels.
    l2: L2Table,
    frags: HashTable<FragEntry>,
    /// Records emitted and not yet collected by a worker.
    pub out: Records,
    /// Where a record is made before it is encoded (reused: it stays in
    /// the cache).
    rec: FlowRecord,
    pub stats: EngineStats,
    /// Flows to forget at the end of a tick (`retire`): hash, index.
    scratch: Vec<(u32, u32)>,
}

/// What `Shard::prefetch_flow` returns when no flow is filed under a hash.
pub const NO_FLOW: u32 = u32::MAX;

/// A flow with what is kept beside it.
type Parts<'a> = (
    &'a mut Flow,
    Option<&'a mut TcpAcc>,
    Option<&'a mut FlowExt>,
);

/// Flow `i` with its TCP accumulators and extras, from a shard's tables.
#[inline]
fn parts<'a>(flows: &'a mut FlowStore, exts: &'a mut [Option<Box<FlowExt>>], i: u32) -> Parts<'a> {
    let (f, tcp) = flows.parts(i);
    let ext = exts.get_mut(i as usize).and_then(|e| e.as_deref_mut());
    (f, tcp, ext)
}

/// How far ahead a reported flow is filed (see [`Shard::take_all_due`]): a
/// status interval, or a scan interval if ticks are further apart.
fn idle_step(cfg: &EngineConfig) -> u64 {
    cfg.status_interval_ns.max(cfg.scan_interval_ns)
}

#[inline]
fn h64(h: u32) -> u64 {
    // hashbrown uses the top 7 bits for its control bytes: spread the 32-bit hash.
    (h as u64) << 32 | h as u64
}

/// What taking a flow's record needs of its shard, borrowed apart from the
/// timers (a tick takes records while it visits them).
struct Taker<'a> {
    flows: &'a mut FlowStore,
    exts: &'a mut Vec<Option<Box<FlowExt>>>,
    wide: &'a Slab<WideAddrs>,
    l2: &'a L2Table,
    rec: &'a mut FlowRecord,
    stats: &'a mut EngineStats,
}

impl Taker<'_> {
    /// Takes flow `i`'s pending record into `out`, stamped `due`: built in
    /// the shard's reused record (it stays in the cache), then encoded.
    /// Returns the flow.
    #[inline]
    fn take(&mut self, i: u32, cause: Cause, due: u64, out: &mut Records) -> &mut Flow {
        let (f, tcp, ext) = parts(self.flows, self.exts, i);
        let ckey = f.key.expand(self.wide);
        f.take_record(ckey, tcp, ext, self.l2, cause, due, self.rec);
        out.push(due, self.rec);
        self.stats.records += 1;
        f
    }
}

impl Shard {
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    fn find(&self, hash: u32, key: &FlowKey) -> Option<u32> {
        let flows = &self.flows;
        match StoredKey::narrow(key) {
            Some(n) => self.index.find(hash, |i| flows.get(i).key == n),
            None => self
                .index
                .find(hash, |i| flows.get(i).key.is_wide(key, &self.wide)),
        }
    }

    /// Flow `i`'s canonical key.
    fn key_of(&self, i: u32) -> FlowKey {
        self.flows.get(i).key.expand(&self.wide)
    }

    /// Hints the CPU to fetch what a packet whose canonical key hashes to
    /// `hash` will look up: call this some packets ahead of `apply`.
    #[inline]
    pub fn prefetch_index(&self, hash: u32) {
        self.index.prefetch(hash);
    }

    /// Hints the CPU to fetch the flow stored under `hash` (after
    /// `prefetch_index` had time to bring its slots in): all of it, as a
    /// packet touches its key, both directions' counters, its times and its
    /// TCP accumulators, two or three cache lines. Returns the flow's id,
    /// or [`NO_FLOW`]: a hint for `apply`, which checks it before trusting it.
    #[inline]
    pub fn prefetch_flow(&self, hash: u32) -> u32 {
        match self.index.first_match(hash) {
            Some(i) => {
                self.flows.prefetch(i);
                i
            }
            None => NO_FLOW,
        }
    }

    /// [`Shard::find`], trying first the index `prefetch_flow` returned some
    /// packets earlier: it is the flow when that flow is live, filed under
    /// `hash`, and holds `key` (a flow created since, or a hash shared by
    /// two keys, sends the search the usual way).
    #[inline]
    fn find_hinted(&self, hash: u32, key: &FlowKey, hint: u32) -> Option<u32> {
        if hint != NO_FLOW {
            let f = self.flows.get(hint);
            if f.hash == hash && f.bits & bit::VACANT == 0 {
                let same = match StoredKey::narrow(key) {
                    Some(n) => f.key == n,
                    None => f.key.is_wide(key, &self.wide),
                };
                if same {
                    return Some(hint);
                }
            }
        }
        self.find(hash, key)
    }

    /// Takes flow `i`'s pending record into `out`, stamped `due`.
    fn take(&mut self, i: u32, cause: Cause, due: u64, out: &mut Records) {
        let mut t = Taker {
            flows: &mut self.flows,
            exts: &mut self.exts,
            wide: &self.wide,
            l2: &self.l2,
            rec: &mut self.rec,
            stats: &mut self.stats,
        };
        t.take(i, cause, due, out);
    }

    /// [`Shard::take`] into the shard's own `out`.
    fn take_to_out(&mut self, i: u32, cause: Cause, due: u64) {
        let mut out = std::mem::take(&mut self.out);
        self.take(i, cause, due, &mut out);
        self.out = out;
    }

    /// Forgets flow `i` (already removed from the index).
    fn release(&mut self, i: u32) {
        if let Some(e) = self.exts.get_mut(i as usize) {
            *e = None;
        }
        let f = self.flows.get_mut(i);
        self.l2.release(f.l2);
        if let Some(at) = f.key.wide_index() {
            self.wide.remove(at);
        }
        f.bits |= bit::VACANT;
        self.flows.remove(i);
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
        self.apply_hinted(p, pkey, flow_hash, NO_FLOW, payload, cfg);
    }

    /// [`Shard::apply`] with the flow index `prefetch_flow` returned for the
    /// packet (or [`NO_FLOW`]).
    pub fn apply_hinted(
        &mut self,
        p: &PacketInfo,
        pkey: &FlowKey,
        flow_hash: u32,
        hint: u32,
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
                if let Some(i) = self.find(qc.sym_hash(), &qc) {
                    // The error is news of this flow: its record lasts until then.
                    self.flows.get_mut(i).icmp_error(letter, ts);
                    self.stats.icmp_mapped += 1;
                }
            }
        }

        // A key built from the requester's side for a reply (ARP).
        let reply = key::arp_reply(p);

        // Find the flow, reporting or retiring it first if its time has come.
        if let Some(i) = self.find_hinted(hash, &ckey, hint) {
            // The flow is found in its slab once, unless a record is taken
            // first (finding it costs a dozen instructions).
            let mut found = parts(&mut self.flows, &mut self.exts, i);
            if let Some(due) = found.0.report_due(ts, cfg) {
                self.take_to_out(i, Cause::Status, due);
                found = parts(&mut self.flows, &mut self.exts, i);
            }
            let (f, tcp, ext) = found;
            if f.pending() || ts < f.expire_ns(cfg) {
                let from_src = f.from_src(swapped) != reply;
                let was_pending = f.pending();
                f.update(tcp, ext, &mut self.l2, p, from_src, payload, cfg);
                if !was_pending {
                    // A new record: the flow is next due when the record is
                    // (after its last report it was filed for later).
                    let due = f.due_ns(cfg);
                    self.timers.file(due, i);
                }
                self.register_fragment(p, &ckey, hash, ts, cfg);
                return;
            }
            // Idle too long: the packet starts a new flow with the same key,
            // in the same place: the index entry stays.
            if self.restart(i, p, pkey, swapped, cfg) {
                self.first_packet(i, p, (swapped, reply), payload, cfg);
                self.register_fragment(p, &ckey, hash, ts, cfg);
                return;
            }
            // The new flow is kept elsewhere (see `restart`): the old one is
            // forgotten and the new one made as any other.
            self.index.remove(hash, i);
            self.release(i);
        }
        let stored = match StoredKey::narrow(&ckey) {
            Some(k) => k,
            None => StoredKey::wide(&ckey, self.wide.insert([ckey.src, ckey.dst])),
        };
        let (mut flow, tcp) = Flow::new(p, pkey, stored, swapped);
        flow.hash = hash;
        let i = self.flows.insert(flow, tcp);
        if cfg.jitter || cfg.user_data_len > 0 {
            let at = i as usize;
            if self.exts.len() <= at {
                self.exts.resize_with(at + 1, || None);
            }
            self.exts[at] = Some(Box::default());
        }
        self.first_packet(i, p, (swapped, reply), payload, cfg);
        self.index.insert(hash, i);
        self.stats.peak_flows = self.stats.peak_flows.max(self.flows.len() as u64);
        self.register_fragment(p, &ckey, hash, ts, cfg);
    }

    /// Applies the first packet of new flow `i` and files the flow under its
    /// first record's due. `swapped`: the packet's key is the canonical
    /// key reversed; `reply`: its key was built from the requester's side.
    #[inline]
    fn first_packet(
        &mut self,
        i: u32,
        p: &PacketInfo,
        (swapped, reply): (bool, bool),
        payload: &[u8],
        cfg: &EngineConfig,
    ) {
        let from_src = self.flows.get(i).from_src(swapped) != reply;
        let (f, tcp, ext) = parts(&mut self.flows, &mut self.exts, i);
        f.update(tcp, ext, &mut self.l2, p, from_src, payload, cfg);
        let due = f.due_ns(cfg);
        self.timers.file(due, i);
        self.stats.flows_created += 1;
    }

    /// Replaces flow `i`, idle past its timeout, with a new flow of the same
    /// key for packet `p`, in place. Returns false, changing nothing, when
    /// the new flow does not have the TCP accumulators the old one had, or
    /// the other way round (a TCP flow's idle restart by a later fragment of
    /// a datagram, which is keyed as a fragment): it cannot take the old id.
    fn restart(
        &mut self,
        i: u32,
        p: &PacketInfo,
        pkey: &FlowKey,
        swapped: bool,
        cfg: &EngineConfig,
    ) -> bool {
        let old = self.flows.get(i);
        let (key, hash, old_l2) = (old.key, old.hash, old.l2);
        let (mut flow, tcp) = Flow::new(p, pkey, key, swapped);
        flow.hash = hash;
        if !self.flows.replace(i, flow, tcp) {
            return false;
        }
        self.l2.release(old_l2);
        if cfg.jitter || cfg.user_data_len > 0 {
            if let Some(e) = self.exts.get_mut(i as usize) {
                *e = Some(Box::default());
            }
        }
        true
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
        self.take_all_due(now_ns, cfg, &mut out);
        self.out = out;
        self.retire(now_ns);
    }

    /// A tick: takes the status record of every flow whose record is due by
    /// `now_ns` into `out`, in the order the timers find them (the writer
    /// puts records in output order); a flow idle past its timeout once
    /// reported is noted for `retire`, any other is filed again under the
    /// end of its idle timeout.
    ///
    /// Each flow is taken when its timer entry is visited, while it is in
    /// the cache: listing the due flows first and taking them in output
    /// order afterwards fetched every flow twice.
    pub fn take_all_due(&mut self, now_ns: u64, cfg: &EngineConfig, out: &mut Records) {
        let Shard {
            timers,
            flows,
            exts,
            wide,
            l2,
            rec,
            stats,
            scratch,
            ..
        } = self;
        let mut t = Taker {
            flows,
            exts,
            wide,
            l2,
            rec,
            stats,
        };
        timers.visit(now_ns, |idx, ahead| {
            if ahead != timers::NONE_AHEAD {
                t.flows.prefetch(ahead);
            }
            let f = t.flows.get_mut(idx);
            if f.bits & (bit::VACANT | bit::RETIRING) != 0 {
                // Forgotten, or already found idle by this tick.
                return None;
            }
            let at = f.next_event_ns(cfg);
            if at > now_ns {
                return Some(at);
            }
            let hash = f.hash;
            let f = if f.pending() {
                let f = t.take(idx, Cause::Status, at, out);
                let expire = f.expire_ns(cfg);
                if expire > now_ns {
                    // A packet starting the next record files the flow
                    // again under that record's due. Until then the flow
                    // is filed a status interval ahead: an entry that a
                    // packet supersedes waits in the timers that long at
                    // most, and a flow found idle then is filed under the
                    // end of its timeout.
                    return Some(expire.min(now_ns.saturating_add(idle_step(cfg))));
                }
                f
            } else {
                f
            };
            f.bits |= bit::RETIRING;
            scratch.push((hash, idx));
            None
        });
    }

    /// Forgets the flows noted as idle past their timeout (by
    /// `take_all_due`, at a tick) and expired fragments.
    pub fn retire(&mut self, now_ns: u64) {
        let mut gone = std::mem::take(&mut self.scratch);
        for &(hash, i) in &gone {
            self.index.remove(hash, i);
            self.release(i);
        }
        gone.clear();
        self.scratch = gone;
        self.frags.retain(|e| e.expire_ns > now_ns);
    }

    /// End of input, step 1: where each flow with a pending record is, and
    /// its record's start and last times (see [`FinalKey`]).
    pub fn final_keys(&self, shard: u32, out: &mut Vec<FinalKey>) {
        for (_, idx) in self.index.entries() {
            let f = self.flows.get(idx);
            if f.pending() {
                out.push(FinalKey {
                    stime_ns: f.record_stime(),
                    shard,
                    idx,
                });
            }
        }
    }

    /// The key and last time flow `idx`'s record will carry (to order
    /// records that tie before them).
    pub fn record_key_and_ltime(&self, idx: u32) -> (FlowKey, u64) {
        let f = self.flows.get(idx);
        (f.out_key(self.key_of(idx)), f.ltime_ns)
    }

    /// Hints the CPU to fetch flow `idx` (a live flow), for taking its
    /// record a few records later.
    #[inline]
    pub fn prefetch_take(&self, idx: u32) {
        self.flows.prefetch(idx);
    }

    /// End of input, step 2: flow `idx`'s final record (from `final_keys`),
    /// added to `out`.
    pub fn take_final(&mut self, idx: u32, out: &mut Records) {
        self.take(idx, Cause::Stop, u64::MAX, out);
    }

    /// End of input, step 3: forgets every flow.
    pub fn reset(&mut self) {
        self.index = FlowIndex::default();
        self.flows.clear();
        self.wide.clear();
        self.timers.clear();
        self.exts.clear();
        self.l2.clear();
        self.frags.clear();
    }

    /// Reports every pending record (end of input or shutdown) and empties the shard.
    pub fn flush(&mut self) {
        let index = std::mem::take(&mut self.index);
        for (_, i) in index.entries() {
            if self.flows.get(i).pending() {
                self.take_to_out(i, Cause::Stop, u64::MAX);
            }
        }
        self.flows.clear();
        self.wide.clear();
        self.timers.clear();
        self.exts.clear();
        self.l2.clear();
        self.frags.clear();
    }
}

/// Where a flow's final record goes in the output: records due at the end
/// of input are written in (start, key, last time) order, as every other
/// record group is. Sorting these small keys instead of the records lets the
/// records be made, and written, a few thousand at a time. The key and the
/// last time are not kept (16 bytes a flow instead of 72, at the moment the
/// table is fullest): flows that start at the same time are put in order by
/// reading them back ([`Shard::record_key_and_ltime`]).
#[derive(Clone, Copy, Debug)]
pub struct FinalKey {
    pub stime_ns: u64,
    pub shard: u32,
    pub idx: u32,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{parse, LinkType};

    /// An IPv4 frame from 10.0.0.1 to 10.9.9.9 of IP id 7: the first
    /// fragment of a TCP segment (1000 -> 80, ACK, more fragments to come)
    /// when `offset` is 0, a later fragment otherwise, or the whole segment.
    fn tcp_frame(offset: u16, whole: bool) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 24];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&44u16.to_be_bytes());
        ip[4..6].copy_from_slice(&7u16.to_be_bytes());
        let more = if whole || offset != 0 { 0 } else { 0x2000 };
        ip[6..8].copy_from_slice(&(more | (offset / 8)).to_be_bytes());
        ip[8] = 64;
        ip[9] = ipproto::TCP;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 9, 9, 9]);
        if offset == 0 {
            let tcp = &mut f[34..54];
            tcp[0..2].copy_from_slice(&1000u16.to_be_bytes());
            tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
            tcp[12] = 5 << 4;
            tcp[13] = 0x10;
        }
        f
    }

    fn apply(shard: &mut Shard, frame: &[u8], ts_ns: u64, cfg: &EngineConfig) -> PacketInfo {
        let mut p = PacketInfo::default();
        parse(LinkType::ETHERNET, frame, frame.len() as u32, ts_ns, &mut p);
        let pkey = key::packet_key(&p).expect("an IPv4 frame has a key");
        shard.apply(&p, &pkey, 0, &[], cfg);
        p
    }

    /// The flows' MAC addresses live in the shard's L2 table: a record
    /// reports them as inline fields did, the next record of the flow reuses
    /// the entry, and entries go with the last flow that used them.
    #[test]
    fn mac_addresses_are_kept_once_per_shard() {
        let cfg = EngineConfig::default();
        let t0 = 1_700_000_000 * NS;
        let frame = |src_ip: u8, smac: u8| {
            let mut f = tcp_frame(0, true);
            f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0xdd]);
            f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, smac]);
            f[29] = src_ip;
            f
        };
        let mut shard = Shard::default();
        apply(&mut shard, &frame(1, 0xaa), t0, &cfg);
        shard.scan(t0 + 5 * NS + 1, &cfg);
        let r = shard.out.record(0);
        assert_eq!((r.smac[5], r.dmac[5]), (0xaa, 0xdd));
        assert_eq!(
            r.flags & crate::record::flag::HAS_MAC,
            crate::record::flag::HAS_MAC
        );
        assert_eq!(shard.l2.len(), 1);
        let id = shard.flows.get(shard.index.entries().next().unwrap().1).l2;

        // The next record: the same tuple, the same entry.
        apply(&mut shard, &frame(1, 0xaa), t0 + 6 * NS, &cfg);
        assert_eq!(
            shard.flows.get(shard.index.entries().next().unwrap().1).l2,
            id
        );
        // A source that changes MAC: several paths.
        apply(&mut shard, &frame(1, 0xab), t0 + 6 * NS + 1, &cfg);
        // Flows of other hosts: one entry per distinct tuple.
        for host in 2..=9 {
            apply(&mut shard, &frame(host, host), t0 + 6 * NS + 2, &cfg);
            apply(&mut shard, &frame(host, host), t0 + 6 * NS + 3, &cfg);
        }
        assert_eq!(shard.l2.len(), 9);
        shard.scan(t0 + 11 * NS + 10, &cfg);
        let recs: Vec<_> = (1..shard.out.len()).map(|i| shard.out.record(i)).collect();
        assert_eq!(recs.len(), 9);
        let first = recs.iter().find(|r| r.key.src[3] == 1).unwrap();
        assert_eq!((first.smac[5], first.dmac[5]), (0xaa, 0xdd));
        assert_ne!(first.flags & crate::record::flag::MULTIPATH, 0);
        for r in recs.iter().filter(|r| r.key.src[3] != 1) {
            assert_eq!(r.smac[5], r.key.src[3]);
            assert_eq!(r.flags & crate::record::flag::MULTIPATH, 0);
        }
        // Idle past their timeouts, the flows go, and their tuples with them.
        shard.scan(t0 + 200 * NS, &cfg);
        assert_eq!((shard.flow_count(), shard.l2.len()), (0, 0));
    }

    /// A TCP flow idle past its timeout that a later fragment of a datagram
    /// restarts becomes a flow without TCP accumulators (the fragment is
    /// keyed as one), kept elsewhere: the old one is forgotten cleanly, and
    /// the flow's next packets and records find the new one.
    #[test]
    fn a_restart_that_drops_the_tcp_accumulators_moves_the_flow() {
        let cfg = EngineConfig {
            timeouts: Timeouts {
                tcp_s: 1,
                frag_s: 1000,
                ..Timeouts::default()
            },
            ..EngineConfig::default()
        };
        let t0 = 1_700_000_000 * NS;
        let mut shard = Shard::default();
        let first = apply(&mut shard, &tcp_frame(0, false), t0, &cfg);
        let (ckey, _) = key::packet_key(&first).unwrap().canonical();
        let hash = ckey.sym_hash();
        let old = shard.find(hash, &ckey).expect("the flow is made");
        assert!(FlowStore::is_tcp(old));
        // Its first record is reported; it is then idle past its timeout
        // (due + 1 s), but no tick has retired it yet.
        shard.scan(t0 + 5 * NS + 1, &cfg);
        assert_eq!(shard.out.len(), 1);
        assert!(shard.out.record(0).tcp.is_some());
        assert_eq!(shard.flow_count(), 1);

        apply(&mut shard, &tcp_frame(16, false), t0 + 7 * NS, &cfg);
        assert_eq!(shard.stats.fragments_matched, 1);
        assert_eq!(shard.flow_count(), 1, "the old flow is forgotten");
        assert_eq!(shard.index.entries().count(), 1);
        let new = shard.find(hash, &ckey).expect("the new flow holds the key");
        assert!(!FlowStore::is_tcp(new));
        assert_eq!(shard.stats.flows_created, 2);

        // A whole segment of the same connection joins the new flow.
        apply(&mut shard, &tcp_frame(0, true), t0 + 7 * NS + 1, &cfg);
        assert_eq!(shard.flow_count(), 1);
        shard.flush();
        assert_eq!(shard.out.len(), 2);
        let last = &shard.out.record(1);
        assert_eq!((last.key, last.src.pkts, last.dst.pkts), (ckey, 2, 0));
        assert!(last.tcp.is_none());
        assert_eq!(last.stime_ns, t0 + 7 * NS);
    }
}

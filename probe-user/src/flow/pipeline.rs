//! The replay pipeline: one reader thread, N pinned workers, one writer.
//!
//! ```text
//! reader: read ▸ parse ▸ key ▸ shard ──batches──► worker w (shards s with s % N == w)
//!                                                   lock shard once per batch, apply;
//!                                                   at a tick: the records due, encoded
//!                                                   (seq and srcid left 0)
//!                                                        │ tagged with due time, watermark
//!                                                        ▼
//!                      writer: order by (due, start, key) ▸ number, seal ▸ sink
//! ```
//!
//! Each shard belongs to one worker, so the packets of a flow are applied in
//! capture order. The reader sends every worker a tick each scan interval of
//! packet time (100 ms by default). At a tick the worker takes the records
//! due as its timers find them, each flow once, while it is in the cache,
//! and sends them with a watermark (everything of this worker due by the
//! tick is out); the writer releases records in (due, start, key) order up
//! to the lowest watermark all workers have passed. At the end of input
//! each worker streams its final records in order a chunk at a time, and
//! the writer merges the streams, so the records of all the flows still open
//! are never all in memory at once. The output is therefore the same for any
//! number of workers. Batches are recycled: nothing is allocated per packet.
//!
//! With one worker the reader thread applies its batches itself (the same
//! `Worker::handle`, called in place of a send): the batch stays in the
//! core's cache from parsing to applying, which took about 11% of the CPU
//! time of a replay when the batch crossed to another core, and a second
//! thread would gain no time, as the two would only take turns.
//!
//! The reader parses each packet into an item of its own and copies into
//! the worker's batch only what applying it reads: for most packets the
//! key and the start of the `PacketInfo` ([`Batch::push`]), 144 of its 288
//! bytes, three cache lines where a batch crosses to another core.

use super::{key, EngineConfig, EngineStats, FinalKey, FlowTable, Shard, NO_FLOW};
use crate::capture::PacketSource;
use crate::flow::emit::Head;
use crate::flow::Records;
use crate::packet::{self, PacketInfo};
use crate::record::{codec, FlowKey, FlowRecord, ManInfo, RecordKind};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};

/// Where the pipeline's records go.
pub trait RecordOut: Send {
    fn write_record(&mut self, rec: &FlowRecord) -> Result<(), PipelineError>;
    /// A record as its sealed encoding. Outputs that store encodings take
    /// it as it is; the others have it decoded for them.
    fn write_encoded(&mut self, rec: &[u8]) -> Result<(), PipelineError> {
        let (rec, _) = codec::decode(rec)
            .map_err(|e| PipelineError::Output(format!("a record the engine encoded: {e}")))?;
        self.write_record(&rec)
    }
    fn finish(&mut self) -> Result<(), PipelineError>;
}

/// Errors that stop a replay.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Capture(String),
    #[error("writing records: {0}")]
    Output(String),
    #[error("a worker thread failed: {0}")]
    Worker(String),
}

/// Replay settings.
#[derive(Clone, Debug)]
pub struct ReplayConfig {
    pub engine: EngineConfig,
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Pin workers to CPUs.
    pub pin: bool,
    /// Packets per batch.
    pub batch: usize,
    /// Probe id stamped on records.
    pub srcid: u32,
    /// Write probe start/stop management records.
    pub man_records: bool,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            engine: EngineConfig::default(),
            workers: 1,
            pin: true,
            // As fast as 1024 on the 10M-packet replay, and the worker
            // threads' batch pools hold half the memory.
            batch: 512,
            srcid: 0,
            man_records: true,
        }
    }
}

/// What a replay did.
#[derive(Clone, Debug, Default)]
pub struct ReplayReport {
    pub stats: EngineStats,
    /// Frames counted per `Malformed` reason (index = reason as u8).
    pub malformed_by_reason: [u64; 8],
    pub records_written: u64,
    /// File problems that did not stop the replay (damaged tails).
    pub warnings: Vec<String>,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
}

/// A parsed packet waiting in a batch. The fields the applier reads for
/// every packet come first: the key, these two, and the start of `info`
/// ([`PacketInfo::HOT_LEN`] bytes), 144 bytes.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Item {
    pub(crate) key: FlowKey,
    pub(crate) pay_off: u32,
    pub(crate) pay_len: u32,
    pub(crate) info: PacketInfo,
}

// What applying a packet reads of its item spans at most three cache lines.
const _: () = assert!(std::mem::offset_of!(Item, info) + PacketInfo::HOT_LEN <= 3 * 64);

impl Item {
    fn empty() -> Item {
        Item {
            info: PacketInfo::default(),
            key: FlowKey::ZERO,
            pay_off: 0,
            pay_len: 0,
        }
    }
}

/// A batch of parsed packets, recycled between the reader and a worker.
pub(crate) struct Batch {
    /// The packets are the first [`Batch::len`]; the rest are slots of
    /// earlier rounds, reused in place (see [`Batch::spare`]).
    items: Vec<Item>,
    /// Where each packet goes, one per packet (their count is the batch's
    /// length): beside the items, so that grouping a batch by shard reads
    /// 8 bytes a packet, not an item's cache line.
    routes: Vec<Route>,
    pub(crate) payload: Vec<u8>,
    pub(crate) now_ns: u64,
    pub(crate) tick: bool,
    pub(crate) eof: bool,
}

/// A packet's shard, and its flow hash: the canonical key's `sym_hash`, as
/// the kernel or the reader computed it (0: compute).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) shard: u32,
    pub(crate) flow_hash: u32,
}

/// How many batches each worker thread's pool holds: 3 (one being filled,
/// one queued, one being applied). A batch of 512 packets is about 150 KB,
/// all of it touched once its slots are made, so the pools' total matters
/// to memory per flow. (One worker needs no pool: the reader applies its
/// batch itself.)
const BATCHES_PER_WORKER: usize = 3;

/// Applies batches to the table: groups a batch by shard (a counting sort that
/// keeps capture order within a shard) and takes each shard's lock once.
/// Its scratch space is reused, so applying allocates nothing.
pub(crate) struct BatchApplier {
    counts: Vec<u32>,
    pos: Vec<u32>,
    order: Vec<u32>,
    hashes: Vec<u32>,
    hints: Vec<u32>,
}

/// How many packets ahead a batch prefetches index slots, and flows with
/// their TCP accumulators.
const PREFETCH_SLOTS: usize = 12;
const PREFETCH_FLOWS: usize = 7;
/// How many final records ahead the end of input prefetches the flows to
/// take.
const TAKE_AHEAD: usize = 8;

impl BatchApplier {
    pub(crate) fn new(nshards: usize) -> BatchApplier {
        BatchApplier {
            counts: vec![0; nshards + 1],
            pos: vec![0; nshards + 1],
            order: Vec::new(),
            hashes: Vec::new(),
            hints: Vec::new(),
        }
    }

    pub(crate) fn apply(
        &mut self,
        table: &FlowTable,
        (items, routes): (&[Item], &[Route]),
        payload: &[u8],
        cfg: &EngineConfig,
        records: &mut Records,
    ) {
        debug_assert_eq!(items.len(), routes.len());
        if items.is_empty() {
            return;
        }
        let counts = &mut self.counts;
        self.order.clear();
        if counts.len() == 2 {
            // One shard: the group is the batch, in capture order.
            counts[1] = routes.len() as u32;
            self.order.extend(0..routes.len() as u32);
        } else {
            counts.iter_mut().for_each(|c| *c = 0);
            for r in routes {
                counts[r.shard as usize + 1] += 1;
            }
            for i in 1..counts.len() {
                counts[i] += counts[i - 1];
            }
            self.order.resize(routes.len(), 0);
            self.pos.copy_from_slice(counts);
            for (i, r) in routes.iter().enumerate() {
                let s = r.shard as usize;
                self.order[self.pos[s] as usize] = i as u32;
                self.pos[s] += 1;
            }
        }
        let mut i = 0;
        while i < self.order.len() {
            let s = routes[self.order[i] as usize].shard as usize;
            let end = counts[s + 1] as usize;
            let group = &self.order[i..end];
            // The flow hash of each packet, so the lookups can be prefetched a
            // few packets ahead (the kernel's hash when it gave one). The hash
            // is symmetric: the packet's key gives the canonical key's hash.
            self.hashes.clear();
            self.hashes
                .extend(group.iter().map(|&ix| match routes[ix as usize].flow_hash {
                    0 => items[ix as usize].key.sym_hash(),
                    h => h,
                }));
            let hashes = &self.hashes;
            // The flow index each packet's prefetch found, for its lookup.
            self.hints.clear();
            self.hints.resize(group.len(), NO_FLOW);
            let hints = &mut self.hints;
            let mut shard = table.lock(s);
            let n = group.len();
            for k in 0..n + PREFETCH_SLOTS {
                if k < n {
                    shard.prefetch_index(hashes[k]);
                }
                if let Some(j) = k.checked_sub(PREFETCH_SLOTS - PREFETCH_FLOWS) {
                    if j < n {
                        hints[j] = shard.prefetch_flow(hashes[j]);
                    }
                }
                let Some(j) = k.checked_sub(PREFETCH_SLOTS) else {
                    continue;
                };
                let it = &items[group[j] as usize];
                // Payload is kept only with `-U`.
                let pay: &[u8] = if it.pay_len == 0 {
                    &[]
                } else {
                    let start = (it.pay_off as usize).min(payload.len());
                    let stop = (start + it.pay_len as usize).min(payload.len());
                    &payload[start..stop]
                };
                shard.apply_hinted(&it.info, &it.key, hashes[j], hints[j], pay, cfg);
            }
            records.append(&mut shard.out);
            drop(shard);
            i = end;
        }
    }
}

impl Batch {
    pub(crate) fn new(cap: usize) -> Batch {
        Batch {
            items: Vec::with_capacity(cap),
            routes: Vec::with_capacity(cap),
            payload: Vec::new(),
            now_ns: 0,
            tick: false,
            eof: false,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.routes.clear();
        self.payload.clear();
        self.tick = false;
        self.eof = false;
    }

    /// The packets in the batch, with their routes.
    #[inline]
    pub(crate) fn packets(&self) -> (&[Item], &[Route]) {
        (&self.items[..self.len()], &self.routes)
    }

    /// The slot after the batch's packets, for live capture to parse the
    /// next packet into in place. What it holds is stale until parsed into;
    /// [`Batch::commit`] adds it.
    #[inline]
    pub(crate) fn spare(&mut self) -> &mut Item {
        let n = self.len();
        if n == self.items.len() {
            self.grow();
        }
        &mut self.items[n]
    }

    /// A new slot, once per slot of a batch's life: out of line, so that
    /// what adds packets stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        self.items.push(Item::empty());
    }

    /// Makes the spare slot, which `parse` filled from frame `data`, the
    /// batch's next packet: it gets its key, shard and flow hash (0:
    /// compute), and up to `user_len` bytes of its transport payload (`-U`)
    /// are copied into the batch.
    #[inline]
    pub(crate) fn commit(
        &mut self,
        data: &[u8],
        key: FlowKey,
        shard: u32,
        flow_hash: u32,
        user_len: usize,
    ) {
        let n = self.len();
        let slot = &mut self.items[n];
        slot.key = key;
        let payload = (slot.info.payload_off, slot.info.payload_caplen);
        self.seal(data, payload, shard, flow_hash, user_len);
    }

    /// Adds `it`, parsed and keyed outside the batch, as the next packet,
    /// as [`Batch::commit`] would. Of `it.info` only the first
    /// [`PacketInfo::HOT_LEN`] bytes are copied unless the packet
    /// [`needs the rest`](PacketInfo::needs_cold): the rest of the slot keeps
    /// an earlier packet's values, which applying this one does not read.
    /// (A batch bound for another core moves about half the cache lines
    /// this way.) Inlined into the reader's loop, its one caller: as a call
    /// it cost about 20 instructions a packet, saving and restoring registers.
    #[inline(always)]
    pub(crate) fn push(
        &mut self,
        it: &Item,
        data: &[u8],
        shard: u32,
        flow_hash: u32,
        user_len: usize,
    ) {
        let slot = self.spare();
        slot.key = it.key;
        if it.info.needs_cold() {
            slot.info = it.info;
        } else {
            copy_hot(&it.info, &mut slot.info);
        }
        let payload = (it.info.payload_off, it.info.payload_caplen);
        self.seal(data, payload, shard, flow_hash, user_len);
    }

    /// Completes the spare slot as the batch's next packet: its shard and
    /// flow hash, and up to `user_len` bytes of its captured transport
    /// payload, `(offset, length)` in `data`, copied into the batch.
    #[inline]
    fn seal(
        &mut self,
        data: &[u8],
        (pay_off, pay_caplen): (u32, u32),
        shard: u32,
        flow_hash: u32,
        user_len: usize,
    ) {
        let caplen = pay_caplen as usize;
        let n = self.len();
        let it = &mut self.items[n];
        (it.pay_off, it.pay_len) = if user_len > 0 && caplen > 0 {
            let start = (pay_off as usize).min(data.len());
            let end = start.saturating_add(caplen.min(user_len)).min(data.len());
            let at = self.payload.len();
            self.payload.extend_from_slice(&data[start..end]);
            (at as u32, (end - start) as u32)
        } else {
            (0, 0)
        };
        self.routes.push(Route { shard, flow_hash });
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }
}

/// Copies the fields of `from` that the flow engine reads for every packet
/// (the first [`PacketInfo::HOT_LEN`] bytes) into `to`. In debug builds the
/// rest of `to` is then set to values no packet has, so that a read of them
/// where [`PacketInfo::needs_cold`] says none happens changes the records
/// the tests check.
#[inline]
fn copy_hot(from: &PacketInfo, to: &mut PacketInfo) {
    // SAFETY: `PacketInfo` is `repr(C)` plain data, and `HOT_LEN` is the
    // offset of a field: the copy replaces every field before it whole, each
    // with a valid value of its type, and leaves the ones after it as they
    // were. The two references are distinct, so the bytes do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (from as *const PacketInfo).cast::<u8>(),
            (to as *mut PacketInfo).cast::<u8>(),
            PacketInfo::HOT_LEN,
        );
    }
    #[cfg(debug_assertions)]
    poison_cold(to);
}

/// Fills the fields after [`PacketInfo::HOT_LEN`] with values that would
/// change a record if the engine read them: another flow's addresses and
/// ports, a valid ARP reply and a quoted flow.
#[cfg(debug_assertions)]
fn poison_cold(p: &mut PacketInfo) {
    p.src_ip = [0xee; 16];
    p.dst_ip = [0xdd; 16];
    p.sport = 0xeeee;
    p.dport = 0xdddd;
    p.arp = packet::ArpInfo {
        valid: true,
        op: 2,
        ..p.arp
    };
    p.quoted.valid = true;
    p.quoted.src = [0xcc; 16];
    p.payload_off = u32::MAX;
    p.payload_caplen = u32::MAX;
}

/// What a worker hands the writer: records, and the packet time up to which
/// it has reported everything due.
pub(crate) struct WorkerOut {
    pub(crate) worker: usize,
    pub(crate) watermark_ns: u64,
    pub(crate) records: Records,
    pub(crate) done: Option<EngineStats>,
}

/// Replays `src` through the flow engine into `out`.
pub fn replay<S: PacketSource>(
    src: &mut S,
    cfg: &ReplayConfig,
    out: Box<dyn RecordOut>,
    mut progress: impl FnMut(u64),
) -> Result<ReplayReport, PipelineError> {
    let workers = cfg.workers.max(1);
    let table = Arc::new(FlowTable::new(cfg.engine.shards.max(workers)));
    let nshards = table.shard_count();
    let batch_cap = cfg.batch.max(1);
    let cores = if cfg.pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };

    let (wtx, wrx) = bounded::<WorkerOut>(workers * 8);
    let mut to_worker: Vec<Sender<Box<Batch>>> = Vec::with_capacity(workers);
    let mut from_worker: Vec<Receiver<Box<Batch>>> = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    let mut fin_rxs = Vec::with_capacity(workers);
    // One worker: the reader applies its batches itself (see the module
    // documentation).
    let mut inline: Option<Worker> = None;
    for w in 0..workers {
        let (fin_tx, fin_rx) = bounded::<Records>(2);
        fin_rxs.push(fin_rx);
        let worker = Worker::new(w, workers, &table, (wtx.clone(), fin_tx));
        if workers == 1 {
            inline = Some(worker);
            break;
        }
        let (tx, rx) = bounded::<Box<Batch>>(8);
        let (rtx, rrx) = bounded::<Box<Batch>>(16);
        for _ in 0..BATCHES_PER_WORKER {
            // Pre-filled pool: the reader never allocates a batch while running.
            let _ = rtx.try_send(Box::new(Batch::new(batch_cap)));
        }
        to_worker.push(tx);
        from_worker.push(rrx);
        let table = Arc::clone(&table);
        let engine = cfg.engine.clone();
        let core = if cores.is_empty() {
            None
        } else {
            Some(cores[(w + 1) % cores.len()])
        };
        let h = std::thread::Builder::new()
            .name(format!("ocellus-worker-{w}"))
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                worker_loop(worker, &table, &engine, rx, rtx)
            })
            .map_err(|e| PipelineError::Worker(e.to_string()))?;
        handles.push(h);
    }
    drop(wtx);

    let man = cfg.man_records;
    let srcid = cfg.srcid;
    let first_packet_ns = Arc::new(AtomicU64::new(u64::MAX));
    let first_w = Arc::clone(&first_packet_ns);
    let writer = std::thread::Builder::new()
        .name("ocellus-writer".into())
        .spawn(move || writer_loop(workers, wrx, fin_rxs, out, man, srcid, first_w))
        .map_err(|e| PipelineError::Worker(e.to_string()))?;
    if let Some(c) = cores.first() {
        core_affinity::set_for_current(*c);
    }

    let mut report = ReplayReport::default();
    let stopped = || PipelineError::Worker("a worker stopped early".into());
    let read_result = match inline.as_mut() {
        Some(worker) => read_loop(
            src,
            cfg,
            &first_packet_ns,
            &table,
            nshards,
            vec![Box::new(Batch::new(batch_cap))],
            |_, b| {
                inline_handle(worker, &table, &cfg.engine, b)?;
                b.clear();
                Ok(())
            },
            &mut report,
            &mut progress,
        ),
        None => {
            let mut cur = Vec::with_capacity(workers);
            for rx in &from_worker {
                cur.push(rx.recv().map_err(|_| stopped())?);
            }
            read_loop(
                src,
                cfg,
                &first_packet_ns,
                &table,
                nshards,
                cur,
                |w, b| {
                    let fresh = from_worker[w].recv().map_err(|_| stopped())?;
                    let full = std::mem::replace(b, fresh);
                    to_worker[w].send(full).map_err(|_| stopped())
                },
                &mut report,
                &mut progress,
            )
        }
    };
    // Tell every worker the input is over (also after an error: flush what we have).
    let mut eof = Box::new(Batch::new(0));
    eof.now_ns = report.last_ts_ns;
    eof.eof = true;
    let mut worker_err = None;
    if let Some(mut worker) = inline.take() {
        match inline_handle(&mut worker, &table, &cfg.engine, &eof) {
            Ok(st) => report.stats.add(&st.unwrap_or_default()),
            Err(e) => worker_err = Some(e),
        }
    }
    for (w, tx) in to_worker.iter().enumerate() {
        let mut b = from_worker[w]
            .recv()
            .unwrap_or_else(|_| Box::new(Batch::new(0)));
        b.clear();
        b.now_ns = report.last_ts_ns;
        b.eof = true;
        let _ = tx.send(b);
    }
    drop(to_worker);
    for h in handles {
        match h.join() {
            Ok(Ok(stats)) => report.stats.add(&stats),
            Ok(Err(e)) => worker_err = Some(e),
            Err(_) => worker_err = Some(PipelineError::Worker("a worker panicked".into())),
        }
    }
    let written = match writer.join() {
        Ok(r) => r,
        Err(_) => Err(PipelineError::Worker("the writer panicked".into())),
    };
    // The man stop record carries the totals; the writer wrote it from the worker stats.
    report.records_written = written?;
    if let Some(e) = worker_err {
        return Err(e);
    }
    read_result?;
    Ok(report)
}

/// Reads, parses and keys packets into the current batch of each worker;
/// `dispatch(w, batch)` hands worker `w` its full batch and leaves an empty
/// one in its place. (The batches are boxes because they travel through
/// channels between threads; the reader holds those same boxes.)
#[allow(clippy::too_many_arguments, clippy::vec_box)]
fn read_loop<S: PacketSource>(
    src: &mut S,
    cfg: &ReplayConfig,
    first_packet_ns: &AtomicU64,
    table: &FlowTable,
    nshards: usize,
    mut cur: Vec<Box<Batch>>,
    mut dispatch: impl FnMut(usize, &mut Box<Batch>) -> Result<(), PipelineError>,
    report: &mut ReplayReport,
    progress: &mut impl FnMut(u64),
) -> Result<(), PipelineError> {
    let workers = cur.len();
    let batch_cap = cfg.batch.max(1);
    let user_len = cfg.engine.user_data_len as usize;
    let scan_ns = cfg.engine.scan_interval_ns.max(1);
    let worker_of_shard: Vec<usize> = (0..nshards).map(|s| s % workers).collect();
    let mut now: u64 = 0;
    let mut next_tick: u64 = 0;
    let mut n: u64 = 0;
    let mut scratch = Item::empty();

    let mut send =
        |w: usize, cur: &mut Vec<Box<Batch>>, now: u64, tick: bool| -> Result<(), PipelineError> {
            cur[w].now_ns = now;
            cur[w].tick = tick;
            dispatch(w, &mut cur[w])
        };

    loop {
        let pkt = match src.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                report.warnings.push(e.to_string());
                break;
            }
        };
        n += 1;
        if report.first_ts_ns == 0 {
            report.first_ts_ns = pkt.ts_ns;
            first_packet_ns.store(pkt.ts_ns, Ordering::Release);
            next_tick = pkt.ts_ns.saturating_add(scan_ns);
        }
        now = now.max(pkt.ts_ns);
        report.last_ts_ns = now;

        // The worker is known only after parsing: parse into the reader's
        // own item (which `parse` resets, in the first-level cache), and
        // copy what the worker needs into its batch.
        let it = &mut scratch;
        packet::parse(pkt.link, pkt.data, pkt.wire_len, pkt.ts_ns, &mut it.info);
        if it.info.malformed != packet::Malformed::None {
            report.malformed_by_reason[it.info.malformed as usize & 7] += 1;
        }
        if !key::packet_key_into(&it.info, &mut it.key) {
            report.stats.unkeyed += 1;
            report.stats.packets += 1;
            report.stats.bytes += pkt.wire_len as u64;
            continue;
        }
        let (shard, flow_hash) = if nshards == 1 {
            // One shard (one worker): no shard to choose, only the flow's hash.
            (0, it.key.sym_hash())
        } else {
            let (shard_hash, flow_hash) = key::shard_and_flow_hash(&it.info, &it.key);
            (table.shard_of(shard_hash), flow_hash)
        };
        let w = worker_of_shard[shard];
        let b = &mut cur[w];
        b.push(it, pkt.data, shard as u32, flow_hash, user_len);
        if b.len() >= batch_cap {
            send(w, &mut cur, now, false)?;
        }
        if now >= next_tick {
            for w in 0..workers {
                send(w, &mut cur, now, true)?;
            }
            next_tick = now.saturating_add(scan_ns);
        }
        if n.is_multiple_of(65536) {
            progress(n);
        }
    }
    // Last partial batches.
    for w in 0..workers {
        if cur[w].len() != 0 {
            send(w, &mut cur, now, true)?;
        }
    }
    progress(n);
    Ok(())
}

/// One worker's state between batches.
struct Worker {
    me: usize,
    my_shards: Vec<usize>,
    applier: BatchApplier,
    records: Records,
    /// The records the last tick took, and their bytes: the room the next
    /// tick reserves.
    tick_records: (usize, usize),
    watermark: u64,
    out: Sender<WorkerOut>,
    fin: Sender<Records>,
}

impl Worker {
    fn new(
        me: usize,
        workers: usize,
        table: &FlowTable,
        (out, fin): (Sender<WorkerOut>, Sender<Records>),
    ) -> Worker {
        let nshards = table.shard_count();
        Worker {
            me,
            my_shards: (0..nshards).filter(|s| s % workers == me).collect(),
            applier: BatchApplier::new(nshards),
            records: Records::default(),
            tick_records: (0, 0),
            watermark: 0,
            out,
            fin,
        }
    }

    /// Applies batch `b` (and its tick); at the end of input, reports every
    /// flow and returns the worker's totals.
    fn handle(
        &mut self,
        table: &FlowTable,
        cfg: &EngineConfig,
        b: &Batch,
    ) -> Result<Option<EngineStats>, PipelineError> {
        let me = self.me;
        let stopped = || PipelineError::Output("the record writer stopped".into());
        self.applier
            .apply(table, b.packets(), &b.payload, cfg, &mut self.records);
        if b.eof {
            let records = std::mem::take(&mut self.records);
            return finish(me, table, &self.my_shards, records, &self.out, &self.fin).map(Some);
        }
        if b.tick {
            // The status records due, in the order the timers find them
            // (the writer orders them), go with the records made while
            // applying in the message below, under this tick's watermark.
            //
            // The buffer first gets room for a quarter more records than
            // the last tick took: grown from what the batches left in it, a
            // tick's buffer (about a megabyte in the replay benchmark) was
            // copied at every doubling. Room never written is never
            // faulted in.
            let before = (self.records.len(), self.records.byte_len());
            let (n, bytes) = self.tick_records;
            self.records.reserve(n + n / 4, bytes + bytes / 4);
            for &s in &self.my_shards {
                let mut shard = table.lock(s);
                shard.take_all_due(b.now_ns, cfg, &mut self.records);
                shard.retire(b.now_ns);
            }
            self.tick_records = (
                self.records.len() - before.0,
                self.records.byte_len() - before.1,
            );
            self.watermark = self.watermark.max(b.now_ns);
        }
        // Between ticks the records applying makes wait here, up to a
        // message's worth: the writer could not write them before the next
        // tick's watermark anyway, and a message per batch woke it (two
        // system calls and a switch each way) about 20k times a replay.
        if self.records.len() >= RECORDS_PER_MESSAGE || b.tick {
            let msg = WorkerOut {
                worker: me,
                watermark_ns: self.watermark,
                records: std::mem::take(&mut self.records),
                done: None,
            };
            self.out.send(msg).map_err(|_| stopped())?;
        }
        Ok(None)
    }
}

/// [`Worker::handle`] on the reader's thread, a panic in it reported as a
/// worker thread's would be (an error, not the end of the process).
fn inline_handle(
    worker: &mut Worker,
    table: &FlowTable,
    cfg: &EngineConfig,
    b: &Batch,
) -> Result<Option<EngineStats>, PipelineError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        worker.handle(table, cfg, b)
    }))
    .unwrap_or_else(|_| Err(PipelineError::Worker("a worker panicked".into())))
}

/// A worker thread: applies the batches the reader sends, and gives them back.
fn worker_loop(
    mut worker: Worker,
    table: &FlowTable,
    cfg: &EngineConfig,
    rx: Receiver<Box<Batch>>,
    back: Sender<Box<Batch>>,
) -> Result<EngineStats, PipelineError> {
    while let Ok(mut b) = rx.recv() {
        if let Some(st) = worker.handle(table, cfg, &b)? {
            return Ok(st);
        }
        b.clear();
        let _ = back.send(b);
    }
    Ok(EngineStats::default())
}

/// Sorts final keys into the output order of their records, (start, key,
/// last time): by start, then runs that tie there by the record key, read
/// back from the table, and last time. (In place: at the end of input every
/// flow is listed, and a stable sort's buffer would hold as many bytes again
/// as the keys.)
fn sort_in_output_order(keys: &mut [FinalKey], table: &FlowTable) {
    keys.sort_unstable_by_key(|k| k.stime_ns);
    let mut tie: Vec<(FlowKey, u64, FinalKey)> = Vec::new();
    let mut i = 0;
    while i < keys.len() {
        let p = keys[i].stime_ns;
        let j = i + keys[i..].iter().take_while(|k| k.stime_ns == p).count();
        if j - i > 1 {
            tie.clear();
            for k in &keys[i..j] {
                let (key, ltime) = table.lock(k.shard as usize).record_key_and_ltime(k.idx);
                tie.push((key, ltime, *k));
            }
            tie.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            for (slot, t) in keys[i..j].iter_mut().zip(&tie) {
                *slot = t.2;
            }
        }
        i = j;
    }
}

/// Final records per message at the end of input.
const FINAL_CHUNK: usize = 1024;

/// Records made while applying packets that a worker sends at once, unless
/// a tick comes first (about 50 KB).
const RECORDS_PER_MESSAGE: usize = 256;

/// End of input for one worker: hands over the last records, tells the writer
/// it is done, then streams every flow's final record in order, a chunk at a
/// time (the writer merges the workers' streams), so the records of all the
/// flows still open are never all in memory at once.
fn finish(
    me: usize,
    table: &FlowTable,
    my_shards: &[usize],
    records: Records,
    out: &Sender<WorkerOut>,
    fin: &Sender<Records>,
) -> Result<EngineStats, PipelineError> {
    let stopped = || PipelineError::Output("the record writer stopped".into());
    // Sized once: a growing vector could hold twice what it needs just when
    // the table is fullest.
    let flows: usize = my_shards.iter().map(|&s| table.lock(s).flow_count()).sum();
    let mut keys = Vec::with_capacity(flows);
    let mut st = EngineStats::default();
    for &s in my_shards {
        let shard = table.lock(s);
        shard.final_keys(s as u32, &mut keys);
        st.add(&shard.stats);
    }
    sort_in_output_order(&mut keys, table);
    st.records += keys.len() as u64;
    let msg = WorkerOut {
        worker: me,
        watermark_ns: u64::MAX,
        records,
        done: Some(st),
    };
    out.send(msg).map_err(|_| stopped())?;
    // The worker's shards are all held while their final records are
    // taken: nothing else uses them at the end of input, and holding them
    // all lets the loop fetch the flows a few records ahead, whatever their
    // shard (they are taken in start order, scattered through memory).
    let mut held: Vec<Option<MutexGuard<'_, Shard>>> =
        (0..table.shard_count()).map(|_| None).collect();
    for &s in my_shards {
        held[s] = Some(table.lock(s));
    }
    let mine = "a worker's final keys are of its own shards";
    for (n, chunk) in keys.chunks(FINAL_CHUNK).enumerate() {
        let mut v = Records::with_capacity(chunk.len());
        for (j, k) in chunk.iter().enumerate() {
            if let Some(a) = keys.get(n * FINAL_CHUNK + j + TAKE_AHEAD) {
                held[a.shard as usize]
                    .as_ref()
                    .expect(mine)
                    .prefetch_take(a.idx);
            }
            held[k.shard as usize]
                .as_mut()
                .expect(mine)
                .take_final(k.idx, &mut v);
        }
        fin.send(v).map_err(|_| stopped())?;
    }
    for shard in held.iter_mut().flatten() {
        shard.reset();
    }
    Ok(st)
}

/// `first_packet_ns` holds the time of the first packet (the lowest any
/// reader or worker saw): it is set before that packet's records can reach the
/// writer, and it stamps the probe start record.
pub(crate) fn writer_loop(
    workers: usize,
    rx: Receiver<WorkerOut>,
    fins: Vec<Receiver<Records>>,
    mut out: Box<dyn RecordOut>,
    man: bool,
    srcid: u32,
    first_packet_ns: Arc<AtomicU64>,
) -> Result<u64, PipelineError> {
    // Records wait here until every worker has passed their due time; then
    // they are written in (due, start, key) order. Sorting an index keeps the
    // records from moving more than once.
    // Records arrive in the workers' batches and stay in them (a burst of
    // status records is never copied into one big buffer).
    let mut pending: Vec<Records> = Vec::new();
    let mut ready: Vec<Ready> = Vec::new();
    let mut released_to = 0u64;
    let mut marks = vec![0u64; workers];
    let mut done = 0;
    let mut totals = EngineStats::default();
    let mut first_ts = 0u64;
    let mut last_ts = 0u64;
    let mut started = false;
    let mut w = Stamper {
        seq: 0,
        srcid,
        buf: Vec::new(),
    };
    while let Ok(msg) = rx.recv() {
        for h in msg.records.heads() {
            if first_ts == 0 || h.stime_ns < first_ts {
                first_ts = h.stime_ns;
            }
            last_ts = last_ts.max(h.ltime_ns);
        }
        if !msg.records.is_empty() {
            pending.push(msg.records);
        }
        marks[msg.worker] = marks[msg.worker].max(msg.watermark_ns);
        if let Some(st) = msg.done {
            totals.add(&st);
            done += 1;
        }
        let wm = marks.iter().copied().min().unwrap_or(0);
        if man && !started && !pending.is_empty() {
            started = true;
            let t = first_packet_ns.load(Ordering::Acquire);
            let t = if t == u64::MAX { first_ts } else { t };
            let mut m = man_record(RecordKind::ManStart, t, t, &EngineStats::default());
            w.record(&mut m, &mut out)?;
        }
        if wm > released_to || done == workers {
            released_to = wm;
            release(&mut pending, &mut ready, wm, |r, h| {
                w.encoded(r, h, &mut out)
            })?;
        }
        if done == workers {
            break;
        }
    }
    release(&mut pending, &mut ready, u64::MAX, |r, h| {
        w.encoded(r, h, &mut out)
    })?;
    if man && !started && !fins.is_empty() {
        started = true;
        let t = first_packet_ns.load(Ordering::Acquire);
        let t = if t == u64::MAX { first_ts } else { t };
        let mut m = man_record(RecordKind::ManStart, t, t, &EngineStats::default());
        w.record(&mut m, &mut out)?;
    }
    merge_finals(&fins, |r, h| {
        if first_ts == 0 || h.stime_ns < first_ts {
            first_ts = h.stime_ns;
        }
        last_ts = last_ts.max(h.ltime_ns);
        w.encoded(r, h, &mut out)
    })?;
    if man {
        if !started {
            let t = first_packet_ns.load(Ordering::Acquire);
            let t = if t == u64::MAX { first_ts } else { t };
            let mut m = man_record(RecordKind::ManStart, t, t, &EngineStats::default());
            w.record(&mut m, &mut out)?;
        }
        let t = first_packet_ns.load(Ordering::Acquire);
        let t = if t == u64::MAX { first_ts } else { t };
        let mut m = man_record(RecordKind::ManStop, t, last_ts, &totals);
        w.record(&mut m, &mut out)?;
    }
    out.finish()?;
    Ok(w.seq)
}

/// Numbers the records in the order they are written, and stamps them with
/// the probe's id.
struct Stamper {
    seq: u64,
    srcid: u32,
    buf: Vec<u8>,
}

impl Stamper {
    /// A record the writer made itself.
    fn record(
        &mut self,
        rec: &mut FlowRecord,
        out: &mut Box<dyn RecordOut>,
    ) -> Result<(), PipelineError> {
        self.seq += 1;
        rec.seq = self.seq;
        rec.srcid = self.srcid;
        out.write_record(rec)
    }

    /// A record a worker encoded.
    fn encoded(
        &mut self,
        recs: &Records,
        h: &Head,
        out: &mut Box<dyn RecordOut>,
    ) -> Result<(), PipelineError> {
        self.seq += 1;
        self.buf.clear();
        codec::restamp(recs.bytes(h), self.seq, self.srcid, &mut self.buf)
            .map_err(|e| PipelineError::Output(format!("a record the engine encoded: {e}")))?;
        out.write_encoded(&self.buf)
    }
}

/// Merges the workers' streams of final records (each in order) into one.
fn merge_finals(
    fins: &[Receiver<Records>],
    mut write: impl FnMut(&Records, &Head) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    let order = |h: &Head| (h.stime_ns, h.key, h.ltime_ns);
    // Per stream: its current chunk and the position in it (None: ended).
    let next = |rx: &Receiver<Records>| loop {
        match rx.recv() {
            Ok(v) if v.is_empty() => continue,
            Ok(v) => break Some((v, 0)),
            Err(_) => break None,
        }
    };
    let mut heads: Vec<Option<(Records, usize)>> = fins.iter().map(next).collect();
    loop {
        let mut best: Option<usize> = None;
        for (w, h) in heads.iter().enumerate() {
            if let Some((v, i)) = h {
                let better = match best {
                    None => true,
                    Some(b) => {
                        let (bv, bi) = heads[b].as_ref().expect("best is live");
                        order(&v.heads()[*i]) < order(&bv.heads()[*bi])
                    }
                };
                if better {
                    best = Some(w);
                }
            }
        }
        let Some(w) = best else {
            return Ok(());
        };
        let (v, i) = heads[w].as_mut().expect("best is live");
        write(v, &v.heads()[*i])?;
        *i += 1;
        if *i == v.len() {
            heads[w] = next(&fins[w]);
        }
    }
}

/// A pending record due for release: where it is, and the start of its
/// sort key.
#[derive(Clone, Copy)]
struct Ready {
    due_ns: u64,
    stime_ns: u64,
    chunk: u32,
    at: u32,
}

/// Writes the pending records due by `wm`, in order, and keeps the rest.
fn release(
    pending: &mut Vec<Records>,
    ready: &mut Vec<Ready>,
    wm: u64,
    mut write: impl FnMut(&Records, &Head) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    ready.clear();
    for (c, chunk) in pending.iter().enumerate() {
        ready.extend(
            chunk
                .heads()
                .iter()
                .enumerate()
                .filter(|(_, h)| h.due_ns <= wm)
                .map(|(i, h)| Ready {
                    due_ns: h.due_ns,
                    stime_ns: h.stime_ns,
                    chunk: c as u32,
                    at: i as u32,
                }),
        );
    }
    if ready.is_empty() {
        return Ok(());
    }
    // Sorted by the (due, start) copied beside each index, which decides
    // nearly every pair without going to the heads; only runs that tie
    // there are ordered by the rest of the sort key. Each worker's chunks
    // arrive in order: the stable sort merges those runs.
    ready.sort_by_key(|r| (r.due_ns, r.stime_ns));
    let head = |r: &Ready| &pending[r.chunk as usize].heads()[r.at as usize];
    let mut i = 0;
    while i < ready.len() {
        let p = (ready[i].due_ns, ready[i].stime_ns);
        let j = i + ready[i..]
            .iter()
            .take_while(|r| (r.due_ns, r.stime_ns) == p)
            .count();
        if j - i > 1 {
            ready[i..j].sort_unstable_by(|a, b| head(a).order().cmp(&head(b).order()));
        }
        i = j;
    }
    for r in ready.iter() {
        let chunk = &pending[r.chunk as usize];
        write(chunk, &chunk.heads()[r.at as usize])?;
    }
    pending.retain_mut(|chunk| {
        chunk.retain(|h| h.due_ns > wm);
        !chunk.is_empty()
    });
    Ok(())
}

fn man_record(kind: RecordKind, stime: u64, ltime: u64, st: &EngineStats) -> FlowRecord {
    FlowRecord {
        kind,
        stime_ns: stime,
        ltime_ns: ltime,
        man: Some(Box::new(ManInfo {
            pkts: st.packets,
            bytes: st.bytes,
            flows: st.flows_created,
            records: st.records,
            malformed: st.malformed,
            dropped: 0,
            drops: None,
        })),
        ..Default::default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::capture::RawPacket;
    use crate::packet::LinkType;
    use std::sync::Mutex;

    struct Frames(Vec<(u64, Vec<u8>)>, usize);
    impl PacketSource for Frames {
        type Error = std::io::Error;
        fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Self::Error> {
            let Some((ts, f)) = self.0.get(self.1) else {
                return Ok(None);
            };
            self.1 += 1;
            Ok(Some(RawPacket {
                ts_ns: *ts,
                wire_len: f.len() as u32,
                link: LinkType::ETHERNET,
                data: f,
            }))
        }
    }

    /// Keeps every record written, for tests here and in `flow::live`.
    #[derive(Clone, Default)]
    pub(crate) struct Collect(pub(crate) Arc<Mutex<Vec<FlowRecord>>>);
    impl RecordOut for Collect {
        fn write_record(&mut self, rec: &FlowRecord) -> Result<(), PipelineError> {
            self.0.lock().unwrap().push(rec.clone());
            Ok(())
        }
        fn finish(&mut self) -> Result<(), PipelineError> {
            Ok(())
        }
    }

    /// One UDP packet from 10.0.0.`host`:`sport` to 10.9.9.9:9999.
    fn udp(host: u8, sport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&28u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[10, 0, 0, host]);
        ip[16..20].copy_from_slice(&[10, 9, 9, 9]);
        let udp = &mut f[34..42];
        udp[0..2].copy_from_slice(&sport.to_be_bytes());
        udp[2..4].copy_from_slice(&9999u16.to_be_bytes());
        udp[4..6].copy_from_slice(&8u16.to_be_bytes());
        f
    }

    /// Replays `frames` with `workers` workers (no management records).
    fn replay_frames(frames: &[(u64, Vec<u8>)], workers: usize) -> Vec<FlowRecord> {
        replay_frames_every(frames, workers, 5_000_000_000)
    }

    /// [`replay_frames`] with status records every `status_ns`.
    fn replay_frames_every(
        frames: &[(u64, Vec<u8>)],
        workers: usize,
        status_ns: u64,
    ) -> Vec<FlowRecord> {
        let out = Collect::default();
        let cfg = ReplayConfig {
            workers,
            pin: false,
            man_records: false,
            engine: EngineConfig {
                status_interval_ns: status_ns,
                ..EngineConfig::default()
            },
            ..ReplayConfig::default()
        };
        replay(
            &mut Frames(frames.to_vec(), 0),
            &cfg,
            Box::new(out.clone()),
            |_| {},
        )
        .unwrap();
        let recs = out.0.lock().unwrap();
        recs.clone()
    }

    /// 60 UDP flows, all starting at `t0`, created in a scrambled order;
    /// every third one sends a second packet 1 ms later (a later last time).
    fn flows_starting_together(t0: u64) -> Vec<(u64, Vec<u8>)> {
        let mut frames: Vec<(u64, Vec<u8>)> = (0..60).map(|k| (t0, together(k))).collect();
        frames.extend((0..60).step_by(3).map(|k| (t0 + 1_000_000, together(k))));
        frames
    }

    /// A packet of flow `k` of [`flows_starting_together`].
    fn together(k: u32) -> Vec<u8> {
        udp(((k * 37) % 60) as u8 + 1, 1000 + (k % 7) as u16)
    }

    /// A batch's packets are the slots committed since it was cleared; live
    /// capture parses into the spare slot, which may hold a stale packet.
    #[test]
    fn a_batch_holds_what_was_committed_and_reuses_its_slots() {
        let mut b = Batch::new(4);
        let frame: Vec<u8> = (0..64).collect();
        for n in 0..3u32 {
            // A packet whose transport payload is bytes 40..60 of its frame.
            b.spare().info.payload_off = 40;
            b.spare().info.payload_caplen = 20;
            b.commit(&frame, FlowKey::ZERO, n, 7, 8 * n as usize);
        }
        b.spare().pay_len = 99; // parsed, then dropped (no key): not a packet
        assert_eq!(b.len(), 3);
        let (items, routes) = b.packets();
        assert_eq!(
            items
                .iter()
                .zip(routes)
                .map(|(it, r)| (r.shard, r.flow_hash, it.pay_off, it.pay_len))
                .collect::<Vec<_>>(),
            [(0, 7, 0, 0), (1, 7, 0, 8), (2, 7, 8, 16)],
            "up to -U bytes of each payload are kept, one after another"
        );
        assert_eq!(b.payload, [&frame[40..48], &frame[40..56]].concat());
        let slots = (b.items.as_ptr(), b.routes.as_ptr());
        b.clear();
        assert!(b.packets().0.is_empty() && b.payload.is_empty());
        assert!(b.packets().1.is_empty());
        assert_eq!(
            b.spare().info.payload_off,
            40,
            "the stale slot is handed out for reuse"
        );
        b.commit(&frame, FlowKey::ZERO, 7, 0, 0);
        // A payload claimed past the end of the captured frame is cut there.
        b.spare().info.payload_off = 60;
        b.commit(&frame, FlowKey::ZERO, 8, 0, 100);
        assert_eq!(b.payload, &frame[60..]);
        assert_eq!(
            b.packets().1.iter().map(|r| r.shard).collect::<Vec<_>>(),
            [7, 8]
        );
        assert_eq!(
            (b.items.as_ptr(), b.routes.as_ptr()),
            slots,
            "no new allocation"
        );
    }

    /// `push` copies a plain UDP packet's hot fields only, and all of an
    /// ICMP packet (errors map onto the flow they quote), with the payload
    /// and key of each.
    #[test]
    fn a_pushed_packet_carries_what_applying_it_reads() {
        let mut b = Batch::new(4);
        let mut it = Item::empty();
        let link = crate::capture::LinkType(1);
        let mut udp_frame = udp(5, 1234);
        udp_frame.extend_from_slice(b"data");
        udp_frame[16..18].copy_from_slice(&32u16.to_be_bytes());
        udp_frame[38..40].copy_from_slice(&12u16.to_be_bytes());
        packet::parse(link, &udp_frame, 60, 11, &mut it.info);
        assert!(key::packet_key_into(&it.info, &mut it.key));
        assert!(!it.info.needs_cold());
        b.push(&it, &udp_frame, 3, 9, 16);
        let got = &b.packets().0[0];
        assert_eq!(
            b.packets().1[0],
            Route {
                shard: 3,
                flow_hash: 9
            }
        );
        assert_eq!(got.key, it.key);
        assert_eq!(
            &b.payload, b"data",
            "the payload is found from the parsed packet"
        );
        let (g, w) = (&got.info, &it.info);
        assert_eq!(
            (g.ts_ns, g.wire_len, g.app_len, g.net, g.proto, g.ttl, g.has_l4),
            (w.ts_ns, w.wire_len, w.app_len, w.net, w.proto, w.ttl, w.has_l4)
        );
        assert_eq!(
            (g.src_mac, g.dst_mac, g.tcp, g.frag),
            (w.src_mac, w.dst_mac, w.tcp, w.frag)
        );
        if cfg!(debug_assertions) {
            assert_eq!(
                g.src_ip, [0xee; 16],
                "the rest is not copied (and poisoned)"
            );
        }

        // An ICMP echo: everything, addresses included.
        let mut icmp = udp(6, 0);
        icmp[23] = 1;
        icmp[34..42].copy_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
        packet::parse(link, &icmp, 60, 12, &mut it.info);
        assert!(key::packet_key_into(&it.info, &mut it.key));
        assert!(it.info.needs_cold());
        b.push(&it, &icmp, 4, 0, 0);
        let g = &b.packets().0[1].info;
        assert_eq!(
            (g.src_ip, g.dst_ip, g.icmp_id, g.icmp_seq, g.quoted, g.arp),
            (
                it.info.src_ip,
                it.info.dst_ip,
                1,
                1,
                it.info.quoted,
                it.info.arp
            )
        );
        assert_eq!(b.len(), 2);
    }

    /// Final records of flows that start at the same time come out in key
    /// order (then last time), whatever the worker count and packet order:
    /// the end-of-input sort reads their keys back for the tie.
    #[test]
    fn final_records_starting_together_are_in_key_order() {
        let t0 = 1_700_000_000_000_000_000u64;
        let frames = flows_starting_together(t0);
        let mut seen = Vec::new();
        for workers in [1, 3] {
            let recs = replay_frames(&frames, workers);
            assert_eq!(recs.len(), 60);
            let order: Vec<(u64, FlowKey, u64)> = recs
                .iter()
                .map(|r| (r.stime_ns, r.key, r.ltime_ns))
                .collect();
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(order, sorted, "{workers} workers");
            assert!(recs.iter().all(|r| r.stime_ns == t0));
            seen.push(order);
        }
        assert_eq!(seen[0], seen[1]);
    }

    /// Status records due together and starting together leave the writer
    /// in key order (then last time) whatever the worker count: the
    /// writer's sort on (due, start) hands that tie to the full sort key.
    #[test]
    fn status_records_due_together_are_in_key_order() {
        let t0 = 1_700_000_000_000_000_000u64;
        let t1 = t0 + 6_000_000_000;
        let mut frames = flows_starting_together(t0);
        // Later packets of every flow bring the tick their status records
        // (due at t0 + 5 s) come out at.
        frames.extend((0..60).map(|k| (t1, together(k))));
        let mut seen = Vec::new();
        for workers in [1, 3] {
            let recs = replay_frames(&frames, workers);
            assert_eq!(recs.len(), 120, "{workers} workers");
            let status: Vec<(u64, FlowKey, u64)> = recs[..60]
                .iter()
                .map(|r| (r.stime_ns, r.key, r.ltime_ns))
                .collect();
            assert!(status.iter().all(|s| s.0 == t0), "{workers} workers");
            let mut sorted = status.clone();
            sorted.sort();
            assert_eq!(status, sorted, "{workers} workers");
            seen.push(status);
        }
        assert_eq!(seen[0], seen[1]);
    }

    /// A tick with many status records due, taken in the order the timers
    /// find them: the writer writes every record once, in output order, the
    /// same whatever the worker count.
    #[test]
    fn a_tick_of_many_status_records_streams_in_order() {
        let t0 = 1_700_000_000_000_000_000u64;
        let n = 635;
        let flow = |k: u32| udp((k % 200) as u8 + 1, 1000 + (k / 200) as u16);
        let mut frames: Vec<(u64, Vec<u8>)> = (0..n)
            .map(|k| (t0 + u64::from(k), flow(n - 1 - k)))
            .collect();
        // Six seconds later every flow speaks again: the 5 s status records
        // of all of them are due at the tick this brings.
        let t1 = t0 + 6_000_000_000;
        frames.extend((0..n).map(|k| (t1 + u64::from(k), flow(k))));
        let mut seen = Vec::new();
        for workers in [1, 3] {
            let recs = replay_frames(&frames, workers);
            assert_eq!(recs.len() as u32, 2 * n, "{workers} workers");
            // The tick's records (each flow's first, due at its start + 5 s)
            // come first, in (due, start, key) order: their starts rise, one
            // flow per nanosecond; then the final records.
            let (tick, last) = recs.split_at(n as usize);
            assert!(
                tick.iter().all(|r| r.stime_ns < t1 && r.src.pkts == 1),
                "{workers} workers"
            );
            assert!(
                tick.windows(2).all(|w| w[0].stime_ns < w[1].stime_ns),
                "{workers} workers"
            );
            assert!(last.iter().all(|r| r.stime_ns >= t1), "{workers} workers");
            seen.push(
                recs.iter()
                    .map(|r| (r.stime_ns, r.key, r.ltime_ns))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(seen[0], seen[1]);
    }

    /// A packet stamped earlier than packets already seen (captures are
    /// not always in time order) can start a record due before the time its
    /// idle flow is filed under: it is filed again, so the record comes out
    /// at the first tick past its due, in order.
    #[test]
    fn a_late_packet_reopening_an_idle_flow_reports_in_order() {
        let t0 = 1_700_000_000_000_000_000u64;
        let s = 1_000_000_000u64;
        let frames = vec![
            (t0, udp(1, 1000)),
            // A tick at 12 s reports flow 1 (due at 5 s); it is idle.
            (t0 + 12 * s, udp(2, 1000)),
            // Late: flow 1 again (a record due at 11 s), and a new flow (12 s).
            (t0 + 6 * s, udp(1, 1000)),
            (t0 + 7 * s, udp(3, 1000)),
            // A tick at 12.5 s must report both; one at 18 s the next two.
            (t0 + 12 * s + s / 2, udp(4, 1000)),
            (t0 + 18 * s, udp(5, 1000)),
        ];
        assert_starts(&frames, 5 * s, t0, s / 10, &[0, 60, 70, 120, 125, 180]);
    }

    /// Replays `frames` with status records every `status_ns` on 1 and 2
    /// workers, and checks the records' start times, in `unit`s after `t0`.
    fn assert_starts(frames: &[(u64, Vec<u8>)], status_ns: u64, t0: u64, unit: u64, want: &[u64]) {
        for workers in [1, 2] {
            let recs = replay_frames_every(frames, workers, status_ns);
            let starts: Vec<u64> = recs.iter().map(|r| (r.stime_ns - t0) / unit).collect();
            assert_eq!(starts, want, "{workers} workers");
        }
    }

    /// With a status interval shorter than a tick, an idle flow is still
    /// looked at every interval: a packet reopening it (in time order)
    /// starts a record that comes out at the first tick past its due.
    #[test]
    fn a_short_status_interval_reports_reopened_flows_in_order() {
        let t0 = 1_700_000_000_000_000_000u64;
        let ms = 1_000_000u64;
        let frames = vec![
            (t0, udp(1, 1000)),
            // A tick at 1 s reports flow 1 (due at 10 ms); it is idle.
            (t0 + 1000 * ms, udp(2, 1000)),
            // Flow 1 again (due at 1.03 s), then flow 3 (due at 1.05 s).
            (t0 + 1020 * ms, udp(1, 1000)),
            (t0 + 1040 * ms, udp(3, 1000)),
            // A tick at 1.15 s reports both, in order; one at 1.3 s the rest.
            (t0 + 1150 * ms, udp(4, 1000)),
            (t0 + 1300 * ms, udp(5, 1000)),
        ];
        assert_starts(&frames, 10 * ms, t0, ms, &[0, 1000, 1020, 1040, 1150, 1300]);
    }
}

//! The flow engine for live capture: each capture worker (one per RX queue,
//! pinned) parses its own frames and applies them to the shared sharded table,
//! taking each shard's lock once per batch.
//!
//! The two directions of a flow may arrive on different queues, so state lives
//! in shards picked by the symmetric hash, not per worker. Each worker also
//! scans the shards it owns (`shard % workers == id`) for records that are due
//! and idle flows, and tells the writer how far it has scanned; the writer
//! orders records by due time as in replay.
//!
//! ```text
//! let (mut workers, handle) = live::start(&cfg, 2, out)?;
//! // on each worker's thread:
//! w.push(LinkType::ETHERNET, frame, wire_len, ts_ns, None)?;   // per frame
//! w.tick(now_ns)?;                                           // per batch / poll timeout
//! w.finish()?;                                               // at shutdown
//! // then:
//! handle.join()?;
//! ```

use super::pipeline::{
    writer_loop, Batch, BatchApplier, PipelineError, RecordOut, ReplayConfig, WorkerOut,
};
use super::{key, EngineConfig, EngineStats, FlowTable, Records};
use crate::packet::{self, LinkType, Malformed};
use crate::record::FlowRecord;
use crossbeam_channel::{bounded, Sender, TrySendError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the kernel (XDP) already computed for a frame, so userspace does not
/// compute it again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelMeta {
    /// `FlowKey::sym_hash` of the frame's canonical key.
    pub flow_hash: u32,
    /// The shard hash (`key::shard_hash`).
    pub shard_hash: u32,
}

/// Per-worker counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub frames: u64,
    pub unkeyed: u64,
    pub malformed_by_reason: [u64; 8],
}

/// One capture worker's handle on the engine.
pub struct LiveWorker {
    id: usize,
    table: Arc<FlowTable>,
    cfg: EngineConfig,
    batch: Batch,
    batch_cap: usize,
    applier: BatchApplier,
    records: Records,
    out: Sender<WorkerOut>,
    my_shards: Vec<usize>,
    next_scan_ns: u64,
    /// Lowest first-packet time of all workers (stamps the probe start record).
    first_packet_ns: Arc<AtomicU64>,
    /// Times this worker's records found the writer's queue full.
    stalls: Arc<AtomicU64>,
    pub stats: LiveStats,
}

/// The writer side of a live engine.
pub struct LiveHandle {
    writer: JoinHandle<Result<u64, PipelineError>>,
    /// For status records; dropped before the writer is joined, so a writer
    /// whose workers died still ends.
    tx: Sender<WorkerOut>,
    table: Arc<FlowTable>,
    stalls: Arc<AtomicU64>,
}

impl LiveHandle {
    /// Waits for the writer (after every worker finished); returns the number
    /// of records written.
    pub fn join(self) -> Result<u64, PipelineError> {
        drop(self.tx);
        self.writer
            .join()
            .map_err(|_| PipelineError::Worker("the writer panicked".into()))?
    }

    /// The engine's counters so far, and the flows in the table now (locks
    /// each shard in turn, briefly: call it once per status interval, not per
    /// packet).
    pub fn snapshot(&self) -> (EngineStats, u64) {
        let mut st = EngineStats::default();
        let mut active = 0u64;
        for s in 0..self.table.shard_count() {
            let shard = self.table.lock(s);
            st.add(&shard.stats);
            active += shard.flow_count() as u64;
        }
        (st, active)
    }

    /// Times a worker found the writer's queue full (writer backpressure).
    pub fn writer_stalls(&self) -> u64 {
        self.stalls.load(Ordering::Relaxed)
    }

    /// Hands a probe status record to the writer; it is written in due-time
    /// order with the flow records, at `due_ns`.
    pub fn send_status(&self, rec: FlowRecord, due_ns: u64) -> Result<(), PipelineError> {
        let mut records = Records::default();
        records.push(due_ns, &rec);
        self.tx
            .send(WorkerOut {
                worker: 0,
                watermark_ns: 0,
                records,
                done: None,
            })
            .map_err(|_| PipelineError::Output("the record writer stopped".into()))
    }
}

/// Starts a live engine for `workers` capture workers writing to `out`.
pub fn start(
    cfg: &ReplayConfig,
    workers: usize,
    out: Box<dyn RecordOut>,
) -> Result<(Vec<LiveWorker>, LiveHandle), PipelineError> {
    let workers = workers.max(1);
    let table = Arc::new(FlowTable::new(cfg.engine.shards.max(workers)));
    let nshards = table.shard_count();
    let (tx, rx) = bounded::<WorkerOut>(workers * 8);
    let man = cfg.man_records;
    let srcid = cfg.srcid;
    let first_packet_ns = Arc::new(AtomicU64::new(u64::MAX));
    let first_w = Arc::clone(&first_packet_ns);
    let stalls = Arc::new(AtomicU64::new(0));
    let writer = std::thread::Builder::new()
        .name("ocellus-writer".into())
        .spawn(move || writer_loop(workers, rx, Vec::new(), out, man, srcid, first_w))
        .map_err(|e| PipelineError::Worker(e.to_string()))?;
    let ws = (0..workers)
        .map(|id| LiveWorker {
            id,
            table: Arc::clone(&table),
            cfg: cfg.engine.clone(),
            batch: Batch::new(cfg.batch.max(1)),
            batch_cap: cfg.batch.max(1),
            applier: BatchApplier::new(nshards),
            records: Records::default(),
            out: tx.clone(),
            my_shards: (0..nshards).filter(|s| s % workers == id).collect(),
            next_scan_ns: 0,
            first_packet_ns: Arc::clone(&first_packet_ns),
            stalls: Arc::clone(&stalls),
            stats: LiveStats::default(),
        })
        .collect();
    Ok((
        ws,
        LiveHandle {
            writer,
            tx,
            table,
            stalls,
        },
    ))
}

impl LiveWorker {
    pub fn id(&self) -> usize {
        self.id
    }

    /// Parses one frame and queues it; applies the queue when the batch is full.
    /// `meta` carries what XDP computed; without it the hashes are computed here.
    pub fn push(
        &mut self,
        link: LinkType,
        data: &[u8],
        wire_len: u32,
        ts_ns: u64,
        meta: Option<KernelMeta>,
    ) -> Result<(), PipelineError> {
        self.stats.frames += 1;
        if self.stats.frames == 1 {
            // Once per worker, not per packet.
            self.first_packet_ns.fetch_min(ts_ns, Ordering::AcqRel);
        }
        // Parsed in place, into the batch's spare slot.
        let info = &mut self.batch.spare().info;
        packet::parse(link, data, wire_len, ts_ns, info);
        if info.malformed != Malformed::None {
            self.stats.malformed_by_reason[info.malformed as usize & 7] += 1;
        }
        let Some(pkey) = key::packet_key(info) else {
            self.stats.unkeyed += 1;
            return Ok(());
        };
        let shard_hash = match meta {
            Some(m) => m.shard_hash,
            None => key::shard_hash(info, &pkey),
        };
        let shard = self.table.shard_of(shard_hash) as u32;
        let flow_hash = meta.map_or(0, |m| m.flow_hash);
        let user_len = self.cfg.user_data_len as usize;
        self.batch.commit(data, pkey, shard, flow_hash, user_len);
        if self.batch.len() >= self.batch_cap {
            self.flush()?;
        }
        Ok(())
    }

    /// Applies the queued frames.
    pub fn flush(&mut self) -> Result<(), PipelineError> {
        self.applier.apply(
            &self.table,
            self.batch.packets(),
            &self.batch.payload,
            &self.cfg,
            &mut self.records,
        );
        self.batch.clear();
        Ok(())
    }

    /// Applies the queue, and once per scan interval reports what is due by
    /// `now_ns` in this worker's shards. Call it after each batch and on every
    /// poll timeout, so records flow on an idle link too.
    pub fn tick(&mut self, now_ns: u64) -> Result<(), PipelineError> {
        self.flush()?;
        let scan = now_ns >= self.next_scan_ns;
        if scan {
            for &s in &self.my_shards {
                let mut shard = self.table.lock(s);
                shard.scan(now_ns, &self.cfg);
                self.records.append(&mut shard.out);
            }
            self.next_scan_ns = now_ns.saturating_add(self.cfg.scan_interval_ns.max(1));
        }
        if scan || !self.records.is_empty() {
            let msg = WorkerOut {
                worker: self.id,
                watermark_ns: if scan { now_ns } else { 0 },
                records: std::mem::take(&mut self.records),
                done: None,
            };
            match self.out.try_send(msg) {
                Ok(()) => {}
                Err(TrySendError::Full(msg)) => {
                    self.stalls.fetch_add(1, Ordering::Relaxed);
                    self.out
                        .send(msg)
                        .map_err(|_| PipelineError::Output("the record writer stopped".into()))?;
                }
                Err(TrySendError::Disconnected(_)) => {
                    return Err(PipelineError::Output("the record writer stopped".into()))
                }
            }
        }
        Ok(())
    }

    /// Flushes every active flow in this worker's shards as a final record
    /// (shutdown) and tells the writer this worker is done.
    pub fn finish(mut self) -> Result<EngineStats, PipelineError> {
        self.flush()?;
        let mut st = EngineStats::default();
        for &s in &self.my_shards {
            let mut shard = self.table.lock(s);
            shard.flush();
            self.records.append(&mut shard.out);
            st.add(&shard.stats);
        }
        st.unkeyed += self.stats.unkeyed;
        let msg = WorkerOut {
            worker: self.id,
            watermark_ns: u64::MAX,
            records: std::mem::take(&mut self.records),
            done: Some(st),
        };
        self.out
            .send(msg)
            .map_err(|_| PipelineError::Output("the record writer stopped".into()))?;
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::MergedReader;
    use crate::flow::pipeline;
    use crate::flow::pipeline::tests::Collect;
    use crate::record::FlowRecord;

    fn corpus(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus/real")
            .join(name)
    }

    fn summary(recs: &[FlowRecord]) -> Vec<String> {
        let mut v: Vec<String> = recs
            .iter()
            .filter(|r| !r.kind.is_man())
            .map(|r| {
                format!(
                    "{} {} {:?} {} {} {} {}",
                    r.stime_ns, r.ltime_ns, r.key, r.src.pkts, r.dst.pkts, r.src.bytes, r.dst.bytes
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Inter-packet statistics come with `-J` (EngineConfig::jitter) only,
    /// as in Argus, and change nothing else in the records.
    #[test]
    fn jitter_is_kept_only_when_asked() {
        let path = corpus("zeek-wikipedia.pcap");
        let run = |jitter: bool| {
            let mut cfg = ReplayConfig {
                pin: false,
                ..ReplayConfig::default()
            };
            cfg.engine.jitter = jitter;
            let out = Collect::default();
            let mut reader = MergedReader::open(std::slice::from_ref(&path)).unwrap();
            pipeline::replay(&mut reader, &cfg, Box::new(out.clone()), |_| {}).unwrap();
            let got = out.0.lock().unwrap();
            got.clone()
        };
        let plain = run(false);
        let with = run(true);
        assert_eq!(summary(&plain), summary(&with));
        assert!(plain
            .iter()
            .all(|r| r.src.intpkt_n == 0 && r.dst.intpkt_n == 0));
        let multi: Vec<_> = with
            .iter()
            .filter(|r| !r.kind.is_man() && r.src.pkts >= 3)
            .collect();
        assert!(!multi.is_empty());
        for r in multi {
            // One interval between each pair of a direction's packets.
            assert_eq!(u64::from(r.src.intpkt_n), r.src.pkts - 1, "{r:?}");
            let span_us = (r.src.ltime_ns - r.src.stime_ns) as f64 / 1000.0;
            assert!((r.src.intpkt_sum_us - span_us).abs() < 1.0, "{r:?}");
            assert!(r.src.intpkt_min_us <= r.src.intpkt_max_us);
        }
    }

    /// Frames of one flow arriving on different workers (as with an asymmetric
    /// RSS hash) give the records a replay gives.
    #[test]
    fn live_workers_give_the_replay_records() {
        let path = corpus("zeek-wikipedia.pcap");
        let cfg = ReplayConfig {
            pin: false,
            ..ReplayConfig::default()
        };
        let replayed = Collect::default();
        let mut reader = MergedReader::open(std::slice::from_ref(&path)).unwrap();
        pipeline::replay(&mut reader, &cfg, Box::new(replayed.clone()), |_| {}).unwrap();

        let live = Collect::default();
        let (mut workers, handle) = start(&cfg, 2, Box::new(live.clone())).unwrap();
        let mut reader = MergedReader::open(&[path]).unwrap();
        let mut n = 0usize;
        while let Some(p) = reader.next_packet() {
            // Alternate frames between the two workers, one at a time, with
            // a tick after each so records are due as they would be live.
            let w = &mut workers[n % 2];
            w.push(p.link, p.data, p.wire_len, p.ts_ns, None).unwrap();
            w.tick(p.ts_ns).unwrap();
            n += 1;
        }
        for w in workers {
            w.finish().unwrap();
        }
        handle.join().unwrap();
        let a = summary(&replayed.0.lock().unwrap());
        let b = summary(&live.0.lock().unwrap());
        assert!(a.len() > 20);
        assert_eq!(a, b);
    }
}

//! Fan-out of records to readers: each record is encoded once and handed to
//! every reader's bounded queue. A reader whose queue is full is cut off
//! (its socket shut down, the reason logged): the publisher never waits.
//! The hub also keeps the last `backlog` records for readers that ask for
//! them (`since`), unless it is attached to the ring its records are written
//! to ([`Hub::attach_ring`]): then the backlog is the ring on disk.
//!
//! Every record published has a position ([`RingPos`]): its place in the
//! ring when there is one, else (0, bytes published so far including it).
//! Readers resume after a position; a subscription taken under the hub's
//! lock says the position of the last record published before it, the exact
//! hand-off point between the backlog and the live queue.

use crate::record::{codec, FlowRecord};
use crate::ring::RingPos;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::collections::VecDeque;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One record as it goes to readers: decoded (for filters) and encoded.
#[derive(Debug)]
pub struct Item {
    pub rec: FlowRecord,
    pub bytes: Vec<u8>,
    /// Where the record sits in the hub's stream (see the module comment).
    pub pos: RingPos,
}

/// What a reader asks for besides live records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Want {
    /// Backlog records whose last time is at or after this (0: none).
    pub since_ns: u64,
    /// Every record after this position (takes precedence over `since_ns`).
    pub after: Option<RingPos>,
}

/// The ring a hub's records are written to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingInfo {
    pub dir: PathBuf,
    pub id: u64,
}

/// Limits of a hub.
#[derive(Clone, Copy, Debug)]
pub struct HubConfig {
    /// Records queued per reader before it counts as too slow.
    pub queue: usize,
    /// Records kept for `since` requests.
    pub backlog: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            queue: 8192,
            backlog: 100_000,
        }
    }
}

/// Counters of a hub.
#[derive(Debug, Default)]
pub struct HubStats {
    pub published: AtomicU64,
    pub slow_disconnects: AtomicU64,
    pub subscribed: AtomicU64,
}

struct Sub {
    id: u64,
    tx: Sender<Arc<Item>>,
    peer: SocketAddr,
    /// A handle on the reader's socket, to unblock its writer when cut off.
    tcp: Option<TcpStream>,
}

struct Inner {
    subs: Vec<Sub>,
    backlog: VecDeque<Arc<Item>>,
    next_id: u64,
    scratch: Vec<u8>,
    /// Bytes published (positions without a ring).
    published_bytes: u64,
    /// The position of the last record published.
    last_pos: Option<RingPos>,
    ring: Option<RingInfo>,
}

/// The fan-out point between a record producer and the server's readers.
pub struct Hub {
    inner: Mutex<Inner>,
    cfg: HubConfig,
    who: &'static str,
    /// When this hub started (ns): the server instance readers see.
    pub instance: u64,
    pub stats: HubStats,
}

/// What `subscribe` gives a reader: its queue and the backlog it asked for.
pub struct Subscription {
    pub id: u64,
    pub rx: Receiver<Arc<Item>>,
    /// The in-memory backlog asked for (empty with a ring: read it there).
    pub backlog: Vec<Arc<Item>>,
    /// The position of the last record published before this subscription:
    /// records at or before it are the backlog's, records after it come on `rx`.
    pub handoff: Option<RingPos>,
    /// The ring holding the backlog, when the hub has one.
    pub ring: Option<RingInfo>,
}

impl Hub {
    /// `who` names the program in log lines (`probe`, `relay`).
    pub fn new(cfg: HubConfig, who: &'static str) -> Arc<Hub> {
        Arc::new(Hub {
            inner: Mutex::new(Inner {
                subs: Vec::new(),
                backlog: VecDeque::with_capacity(cfg.backlog.min(1 << 16)),
                next_id: 1,
                scratch: Vec::with_capacity(4096),
                published_bytes: 0,
                last_pos: None,
                ring: None,
            }),
            cfg: HubConfig {
                queue: cfg.queue.max(1),
                backlog: cfg.backlog,
            },
            who,
            instance: super::now_ns().max(1),
            stats: HubStats::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking reader thread must not take the publisher down with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Readers connected now.
    pub fn readers(&self) -> usize {
        self.lock().subs.len()
    }

    /// From now on the records published are also in the ring `dir` (id
    /// `id`), and `publish_at` gives their positions there: readers asking
    /// for a backlog read it from the ring, and the in-memory one is dropped.
    /// `end` is the ring's position before the first record published.
    pub fn attach_ring(&self, dir: PathBuf, id: u64, end: Option<RingPos>) {
        let mut g = self.lock();
        g.ring = Some(RingInfo { dir, id });
        g.backlog = VecDeque::new();
        g.last_pos = end;
    }

    /// The stream readers' positions refer to: the ring's id, or this hub's
    /// instance when it has no ring.
    pub fn stream_id(&self) -> u64 {
        self.lock().ring.as_ref().map_or(self.instance, |r| r.id)
    }

    /// The ring attached, if any.
    pub fn ring(&self) -> Option<RingInfo> {
        self.lock().ring.clone()
    }

    /// The position of the last record published.
    pub fn last_position(&self) -> Option<RingPos> {
        self.lock().last_pos
    }

    /// Hands a record to every reader (and the backlog). Never blocks on a reader.
    pub fn publish(&self, rec: &FlowRecord) {
        self.publish_at(rec, None);
    }

    /// `publish` for a record just written to the attached ring at `ring_pos`
    /// (the end of the record there).
    pub fn publish_at(&self, rec: &FlowRecord, ring_pos: Option<RingPos>) {
        let mut g = self.lock();
        let inner = &mut *g;
        let keep_backlog = self.cfg.backlog > 0 && inner.ring.is_none();
        let ringed = ring_pos.is_some() && inner.ring.is_some();
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        if inner.subs.is_empty() && !keep_backlog {
            // Nobody to send it to: positions need only keep increasing.
            inner.last_pos = match ring_pos {
                Some(p) if ringed => Some(p),
                _ => {
                    inner.published_bytes += 1;
                    Some(RingPos {
                        generation: 0,
                        offset: inner.published_bytes,
                    })
                }
            };
            return;
        }
        inner.scratch.clear();
        codec::encode(rec, &mut inner.scratch);
        let pos = match ring_pos {
            Some(p) if ringed => p,
            _ => {
                inner.published_bytes += inner.scratch.len() as u64;
                RingPos {
                    generation: 0,
                    offset: inner.published_bytes,
                }
            }
        };
        inner.last_pos = Some(pos);
        let item = Arc::new(Item {
            rec: rec.clone(),
            bytes: inner.scratch.clone(),
            pos,
        });
        if keep_backlog {
            if inner.backlog.len() >= self.cfg.backlog {
                inner.backlog.pop_front();
            }
            inner.backlog.push_back(Arc::clone(&item));
        }
        let queue = self.cfg.queue;
        let who = self.who;
        let stats = &self.stats;
        inner
            .subs
            .retain(|s| match s.tx.try_send(Arc::clone(&item)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    stats.slow_disconnects.fetch_add(1, Ordering::Relaxed);
                    super::log(
                        who,
                        format_args!(
                        "reader {}: disconnected: too slow (its queue of {queue} records is full)",
                        s.peer
                    ),
                    );
                    if let Some(t) = &s.tcp {
                        let _ = t.shutdown(Shutdown::Both);
                    }
                    false
                }
                // The reader's thread is gone; it logged why.
                Err(TrySendError::Disconnected(_)) => false,
            });
    }

    /// Registers a reader. Without a ring, the in-memory backlog records it
    /// wants come with the subscription (taken under the same lock, so
    /// nothing is missed or sent twice); with a ring, the subscription's
    /// `handoff` says up to where the reader takes records from the ring.
    pub fn subscribe(&self, peer: SocketAddr, tcp: Option<TcpStream>, want: Want) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(self.cfg.queue);
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        let backlog = match want.after {
            Some(after) => g
                .backlog
                .iter()
                .filter(|i| i.pos > after)
                .cloned()
                .collect(),
            None if want.since_ns > 0 => g
                .backlog
                .iter()
                .filter(|i| i.rec.ltime_ns >= want.since_ns || i.rec.ltime_ns == 0)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        g.subs.push(Sub { id, tx, peer, tcp });
        self.stats.subscribed.fetch_add(1, Ordering::Relaxed);
        Subscription {
            id,
            rx,
            backlog,
            handoff: g.last_pos,
            ring: g.ring.clone(),
        }
    }

    /// The oldest position the in-memory backlog still holds.
    pub fn oldest_backlog(&self) -> Option<RingPos> {
        self.lock().backlog.front().map(|i| i.pos)
    }

    /// Removes a reader (its connection ended).
    pub fn unsubscribe(&self, id: u64) {
        self.unsubscribe_was_present(id);
    }

    /// Removes a reader; `false` when the hub had already cut it off.
    pub fn unsubscribe_was_present(&self, id: u64) -> bool {
        let mut g = self.lock();
        let before = g.subs.len();
        g.subs.retain(|s| s.id != id);
        g.subs.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64) -> FlowRecord {
        FlowRecord {
            stime_ns: t,
            ltime_ns: t,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn slow_readers_are_cut_and_others_keep_everything() {
        let hub = Hub::new(
            HubConfig {
                queue: 4,
                backlog: 3,
            },
            "test",
        );
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let fast = hub.subscribe(peer, None, Want::default());
        let slow = hub.subscribe(peer, None, Want::default());
        let mut got = Vec::new();
        for t in 1..=10 {
            hub.publish(&rec(t));
            while let Ok(i) = fast.rx.try_recv() {
                got.push(i.rec.stime_ns);
            }
        }
        assert_eq!(got, (1..=10).collect::<Vec<_>>());
        assert_eq!(hub.readers(), 1);
        assert_eq!(hub.stats.slow_disconnects.load(Ordering::Relaxed), 1);
        // The slow one got its 4 and then its queue was dropped.
        assert_eq!(slow.rx.iter().count(), 4);
        let late = hub.subscribe(
            peer,
            None,
            Want {
                since_ns: 9,
                after: None,
            },
        );
        let times: Vec<u64> = late.backlog.iter().map(|i| i.rec.ltime_ns).collect();
        assert_eq!(times, vec![9, 10]);
        assert_eq!(late.handoff, late.backlog.last().map(|i| i.pos));
        // Resuming after the 8th record gets the 9th and 10th (all the
        // backlog holds past it), whatever their times.
        let p8 = {
            let r = rec(1);
            let mut b = Vec::new();
            codec::encode(&r, &mut b);
            RingPos {
                generation: 0,
                offset: 8 * b.len() as u64,
            }
        };
        let resumed = hub.subscribe(
            peer,
            None,
            Want {
                since_ns: 0,
                after: Some(p8),
            },
        );
        let times: Vec<u64> = resumed.backlog.iter().map(|i| i.rec.ltime_ns).collect();
        assert_eq!(times, vec![9, 10]);
        hub.unsubscribe(resumed.id);
        hub.unsubscribe(fast.id);
        hub.unsubscribe(late.id);
        assert_eq!(hub.readers(), 0);
    }
}

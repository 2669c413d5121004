//! Fan-out of records to readers: each record is encoded once and handed to
//! every reader's bounded queue. A reader whose queue is full is cut off
//! (its socket shut down, the reason logged): the publisher never waits.
//! The hub also keeps the last `backlog` records for readers that ask for
//! them (`since`).

use crate::record::{codec, FlowRecord};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::collections::VecDeque;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One record as it goes to readers: decoded (for filters) and encoded.
#[derive(Debug)]
pub struct Item {
    pub rec: FlowRecord,
    pub bytes: Vec<u8>,
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
    pub backlog: Vec<Arc<Item>>,
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

    /// Hands a record to every reader (and the backlog). Never blocks on a reader.
    pub fn publish(&self, rec: &FlowRecord) {
        let mut g = self.lock();
        let inner = &mut *g;
        if inner.subs.is_empty() && self.cfg.backlog == 0 {
            return;
        }
        inner.scratch.clear();
        codec::encode(rec, &mut inner.scratch);
        let item = Arc::new(Item {
            rec: rec.clone(),
            bytes: inner.scratch.clone(),
        });
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        if self.cfg.backlog > 0 {
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

    /// Registers a reader. With `since_ns > 0`, the backlog records whose
    /// last time is at or after it come with the subscription (taken under
    /// the same lock, so nothing is missed or sent twice).
    pub fn subscribe(
        &self,
        peer: SocketAddr,
        tcp: Option<TcpStream>,
        since_ns: u64,
    ) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(self.cfg.queue);
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        let backlog = if since_ns > 0 {
            g.backlog
                .iter()
                .filter(|i| i.rec.ltime_ns >= since_ns || i.rec.ltime_ns == 0)
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        g.subs.push(Sub { id, tx, peer, tcp });
        self.stats.subscribed.fetch_add(1, Ordering::Relaxed);
        Subscription { id, rx, backlog }
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
        let fast = hub.subscribe(peer, None, 0);
        let slow = hub.subscribe(peer, None, 0);
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
        let late = hub.subscribe(peer, None, 9);
        let times: Vec<u64> = late.backlog.iter().map(|i| i.rec.ltime_ns).collect();
        assert_eq!(times, vec![9, 10]);
        hub.unsubscribe(fast.id);
        hub.unsubscribe(late.id);
        assert_eq!(hub.readers(), 0);
    }
}

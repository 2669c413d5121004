//! Records leaving the engine, encoded where they are made.
//!
//! A worker encodes each record as it takes it from its flow (record
//! version 2, sequence number and source id left 0, no check value), into
//! one byte buffer per batch of records, beside a small head that says when
//! the record was due and what orders it. The writer orders the heads,
//! numbers the records and seals them ([`codec::restamp`]).
//!
//! Before, a record crossed from the worker to the writer as a 450-byte
//! `FlowRecord` and was encoded there: the worker's stores into fresh
//! memory and the writer's loads of it were a cache miss every few fields,
//! and the writer did every worker's encoding alone. An encoding is about
//! a quarter of that size, and the workers encode in parallel.

use crate::record::codec;
use crate::record::{FlowKey, FlowRecord};

/// What orders a record, and where its encoding is.
#[derive(Clone, Copy, Debug)]
pub struct Head {
    /// Packet time at which the record was due.
    pub due_ns: u64,
    pub stime_ns: u64,
    pub ltime_ns: u64,
    /// The record's (oriented) key.
    pub key: FlowKey,
    /// Where the encoding starts in the buffer (a tick's records with
    /// `-U` user data can pass 4 GB), and its length (at most 1 KB plus
    /// 64 KB of user data per direction).
    at: u64,
    len: u32,
}

impl Head {
    /// The output order: due time, start, key, last time.
    #[inline]
    pub fn order(&self) -> (u64, u64, &FlowKey, u64) {
        (self.due_ns, self.stime_ns, &self.key, self.ltime_ns)
    }
}

/// Encoded records with their heads, in the order they were added.
#[derive(Debug, Default)]
pub struct Records {
    heads: Vec<Head>,
    bytes: Vec<u8>,
}

/// About what a record's encoding takes, for sizing buffers.
const TYPICAL_LEN: usize = 128;

impl Records {
    /// Room for `n` records without growing, as far as they are typical.
    pub fn with_capacity(n: usize) -> Records {
        let mut r = Records::default();
        r.reserve(n, n * TYPICAL_LEN);
        r
    }

    /// Bytes of encoded records held.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Room for `n` more records of `bytes` bytes in all without growing.
    pub fn reserve(&mut self, n: usize, bytes: usize) {
        self.heads.reserve(n);
        self.bytes.reserve(bytes + codec::ENCODE_RESERVE);
    }

    /// Adds `rec`, due at `due_ns`. Its sequence number and source id are
    /// not encoded: the writer sets them.
    pub fn push(&mut self, due_ns: u64, rec: &FlowRecord) {
        let at = self.bytes.len();
        codec::encode_unsealed(rec, &mut self.bytes);
        let len = (self.bytes.len() - at) as u32;
        let at = at as u64;
        self.heads.push(Head {
            due_ns,
            stime_ns: rec.stime_ns,
            ltime_ns: rec.ltime_ns,
            key: rec.key,
            at,
            len,
        });
    }

    pub fn len(&self) -> usize {
        self.heads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    pub fn heads(&self) -> &[Head] {
        &self.heads
    }

    /// Record `h`'s encoding (unsealed: see [`codec::restamp`]).
    #[inline]
    pub fn bytes(&self, h: &Head) -> &[u8] {
        &self.bytes[h.at as usize..h.at as usize + h.len as usize]
    }

    /// Record `i`, decoded (with sequence number and source id 0).
    pub fn record(&self, i: usize) -> FlowRecord {
        let mut b = Vec::new();
        codec::restamp(self.bytes(&self.heads[i]), 0, 0, &mut b)
            .expect("the engine's own encoding restamps");
        codec::decode(&b)
            .expect("the engine's own encoding decodes")
            .0
    }

    /// Moves every record of `other` to the end of these.
    pub fn append(&mut self, other: &mut Records) {
        if self.is_empty() {
            std::mem::swap(self, other);
            return;
        }
        let base = self.bytes.len() as u64;
        self.bytes.extend_from_slice(&other.bytes);
        self.heads.extend(other.heads.iter().map(|h| Head {
            at: h.at + base,
            ..*h
        }));
        other.clear();
    }

    /// Keeps the records whose head `keep` accepts. Their encodings stay
    /// where they are until every record is gone.
    pub fn retain(&mut self, keep: impl FnMut(&Head) -> bool) {
        self.heads.retain(keep);
        if self.heads.is_empty() {
            self.bytes.clear();
        }
    }

    pub fn clear(&mut self) {
        self.heads.clear();
        self.bytes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Cause, DirStats, RecordKind};

    fn rec(n: u64) -> FlowRecord {
        let mut key = FlowKey::default();
        key.src[..4].copy_from_slice(&[10, 0, 0, n as u8]);
        key.class = 1;
        key.proto = 17;
        key.sport = 1000 + n as u16;
        FlowRecord {
            kind: RecordKind::Flow,
            cause: Cause::Status,
            seq: 77,
            srcid: 9,
            key,
            stime_ns: 1_000_000_000 * n,
            ltime_ns: 1_000_000_000 * n + 5_000,
            src: DirStats {
                pkts: n + 1,
                bytes: 100 * (n + 1),
                ..DirStats::default()
            },
            suser: vec![n as u8; n as usize * 100],
            ..FlowRecord::default()
        }
    }

    #[test]
    fn reserved_room_holds_records_of_that_size_without_growing() {
        let mut first = Records::default();
        for n in 0..50 {
            first.push(n, &rec(n % 3));
        }
        let mut r = Records::default();
        r.push(0, &rec(1));
        r.reserve(first.len(), first.byte_len());
        let (heads, bytes) = (r.heads.as_ptr(), r.bytes.as_ptr());
        for n in 0..50 {
            r.push(n, &rec(n % 3));
        }
        assert_eq!(r.len(), 51);
        assert_eq!(
            r.byte_len(),
            first.byte_len() + r.bytes(&r.heads()[0]).len()
        );
        assert_eq!((r.heads.as_ptr(), r.bytes.as_ptr()), (heads, bytes));
    }

    #[test]
    fn records_round_trip_and_restamp_as_a_direct_encoding() {
        let mut r = Records::with_capacity(2);
        for n in 0..5 {
            r.push(n * 10, &rec(n));
        }
        let mut more = Records::default();
        for n in 5..8 {
            more.push(n * 10, &rec(n));
        }
        r.append(&mut more);
        assert!(more.is_empty());
        assert_eq!(r.len(), 8);
        for (i, h) in r.heads().iter().enumerate() {
            let want = rec(i as u64);
            assert_eq!(
                h.order(),
                (i as u64 * 10, want.stime_ns, &want.key, want.ltime_ns)
            );
            // Restamped with any number, the bytes are what encoding the
            // record with that number gives; sequence numbers of several
            // varint lengths move the rest of the record.
            for (seq, srcid) in [(0, 0), (1, 9), (300, 70_000), (u64::MAX, u32::MAX)] {
                let mut got = Vec::new();
                codec::restamp(r.bytes(h), seq, srcid, &mut got).unwrap();
                let mut direct = Vec::new();
                codec::encode(
                    &FlowRecord {
                        seq,
                        srcid,
                        ..want.clone()
                    },
                    &mut direct,
                );
                assert_eq!(got, direct, "record {i}, seq {seq}");
            }
            let back = r.record(i);
            assert_eq!(
                back,
                FlowRecord {
                    seq: 0,
                    srcid: 0,
                    ..want
                }
            );
        }
        r.retain(|h| h.due_ns >= 50);
        assert_eq!(r.len(), 3);
        assert_eq!(r.record(0).stime_ns, rec(5).stime_ns);
        r.retain(|_| false);
        assert!(r.is_empty());
    }

    #[test]
    fn restamp_refuses_what_is_not_a_record() {
        let mut out = Vec::new();
        assert!(codec::restamp(&[], 1, 1, &mut out).is_err());
        assert!(codec::restamp(&[0; 12], 1, 1, &mut out).is_err());
        let mut r = Records::default();
        r.push(0, &rec(1));
        let b = r.bytes(&r.heads()[0]).to_vec();
        // Cut anywhere in its head, a record is refused; cut in its blocks,
        // what comes out is shorter. None panics.
        let core_end = 12 + u16::from_le_bytes([b[10], b[11]]) as usize;
        for n in 0..b.len() {
            let mut out = Vec::new();
            let r = codec::restamp(&b[..n], 1, 1, &mut out);
            if n < core_end {
                assert!(r.is_err(), "cut at {n}");
            } else {
                assert_eq!(out.len(), n);
            }
        }
        // A varint that never ends.
        let mut bad = b.clone();
        bad[12..24].fill(0xff);
        assert!(codec::restamp(&bad, 1, 1, &mut out).is_err());
    }
}

//! Where a shard keeps its flows: a TCP flow's accumulators right after it.
//!
//! A TCP packet touches its flow and the flow's [`TcpAcc`] both. Kept in two
//! slabs, the pair spanned about five cache lines at two unrelated places,
//! and the second place could only be found by reading the first: a batch
//! prefetching its flows had to wait for each flow before it could prefetch
//! its accumulators. Here a TCP flow and its accumulators are one 192-byte
//! entry, aligned to a cache line so that it spans exactly three lines (a
//! flow without them, 128 bytes, two), and a flow's id says which slab
//! holds it: one prefetch fetches everything a packet will touch.

use super::slab::Slab;
use super::state::{Flow, TcpAcc};
use crate::prefetch::prefetch;

/// A TCP flow with its accumulators.
#[repr(C, align(64))]
struct TcpFlow {
    flow: Flow,
    tcp: TcpAcc,
}

/// A flow without TCP accumulators, on whole cache lines.
#[repr(C, align(64))]
struct PlainFlow(Flow);

// `FlowStore::prefetch` fetches three lines for a TCP flow, two for another.
const _: () = assert!(std::mem::size_of::<TcpFlow>() == 3 * 64);
const _: () = assert!(std::mem::size_of::<PlainFlow>() == 2 * 64);

/// The low bit of a flow id: the flow is in the TCP slab. The rest of the
/// id is its index in that slab.
const TCP_BIT: u32 = 1;

/// A shard's flows, by id.
#[derive(Default)]
pub struct FlowStore {
    plain: Slab<PlainFlow>,
    tcp: Slab<TcpFlow>,
}

impl FlowStore {
    /// Flows held.
    pub fn len(&self) -> usize {
        self.plain.len() + self.tcp.len()
    }

    /// Stores a flow, with its TCP accumulators for a TCP flow; returns its id.
    pub fn insert(&mut self, flow: Flow, tcp: Option<TcpAcc>) -> u32 {
        let (at, bit) = match tcp {
            Some(tcp) => (self.tcp.insert(TcpFlow { flow, tcp }), TCP_BIT),
            None => (self.plain.insert(PlainFlow(flow)), 0),
        };
        debug_assert!(at < 1 << 31, "a shard holds fewer than 2^31 flows");
        at << 1 | bit
    }

    /// Whether flow `i` has TCP accumulators.
    #[inline(always)]
    pub fn is_tcp(i: u32) -> bool {
        i & TCP_BIT != 0
    }

    #[inline(always)]
    pub fn get(&self, i: u32) -> &Flow {
        if Self::is_tcp(i) {
            &self.tcp.get(i >> 1).flow
        } else {
            &self.plain.get(i >> 1).0
        }
    }

    #[inline(always)]
    pub fn get_mut(&mut self, i: u32) -> &mut Flow {
        if Self::is_tcp(i) {
            &mut self.tcp.get_mut(i >> 1).flow
        } else {
            &mut self.plain.get_mut(i >> 1).0
        }
    }

    /// Flow `i` and its TCP accumulators, if it has them.
    #[inline(always)]
    pub fn parts(&mut self, i: u32) -> (&mut Flow, Option<&mut TcpAcc>) {
        if Self::is_tcp(i) {
            let e = self.tcp.get_mut(i >> 1);
            (&mut e.flow, Some(&mut e.tcp))
        } else {
            (&mut self.plain.get_mut(i >> 1).0, None)
        }
    }

    /// Where flow `i` and what is kept with it lie: address and length (the
    /// lines [`FlowStore::prefetch`] fetches). The flow comes first.
    #[cfg(test)]
    fn span(&self, i: u32) -> (usize, usize) {
        let f: *const Flow = self.get(i);
        (f as usize, Self::span_len(i))
    }

    /// Hints the CPU to fetch flow `i` and what is kept with it: its two or
    /// three whole cache lines (entries are line-aligned, so no loop over
    /// the lines a span covers).
    #[inline(always)]
    pub fn prefetch(&self, i: u32) {
        let at = (self.get(i) as *const Flow).cast::<u8>();
        prefetch(at);
        prefetch(at.wrapping_add(64));
        if Self::is_tcp(i) {
            prefetch(at.wrapping_add(128));
        }
    }

    /// How many bytes flow `i` and what is kept with it take.
    #[cfg(test)]
    fn span_len(i: u32) -> usize {
        if Self::is_tcp(i) {
            std::mem::size_of::<TcpFlow>()
        } else {
            std::mem::size_of::<PlainFlow>()
        }
    }

    /// Replaces flow `i` with a new flow of the same kind (TCP or not).
    /// Returns false, storing nothing, when the kind differs: the new flow
    /// then needs an id of its own.
    pub fn replace(&mut self, i: u32, flow: Flow, tcp: Option<TcpAcc>) -> bool {
        match tcp {
            Some(tcp) if Self::is_tcp(i) => *self.tcp.get_mut(i >> 1) = TcpFlow { flow, tcp },
            None if !Self::is_tcp(i) => *self.plain.get_mut(i >> 1) = PlainFlow(flow),
            _ => return false,
        }
        true
    }

    /// Marks flow `i` vacant; its id is reused by a later flow of its kind.
    pub fn remove(&mut self, i: u32) {
        if Self::is_tcp(i) {
            self.tcp.remove(i >> 1);
        } else {
            self.plain.remove(i >> 1);
        }
    }

    /// Forgets every flow.
    pub fn clear(&mut self) {
        self.plain.clear();
        self.tcp.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::StoredKey;
    use crate::flow::state::DirAcc;
    use crate::packet::PacketInfo;
    use crate::record::FlowKey;

    fn flow(ts_ns: u64) -> Flow {
        let p = PacketInfo {
            ts_ns,
            ..PacketInfo::default()
        };
        let key = FlowKey::default();
        Flow::new(&p, &key, StoredKey::narrow(&key).unwrap(), false).0
    }

    #[test]
    fn flows_fill_whole_cache_lines() {
        // Three for a TCP flow with its accumulators, two for any other.
        assert_eq!(std::mem::size_of::<TcpFlow>(), 192);
        assert_eq!(std::mem::size_of::<PlainFlow>(), 128);
        let mut s = FlowStore::default();
        for n in 0..100 {
            let i = s.insert(flow(n), Some(TcpAcc::default()));
            let (at, len) = s.span(i);
            assert_eq!((at % 64, len), (0, 192));
            let i = s.insert(flow(n), None);
            let (at, len) = s.span(i);
            assert_eq!((at % 64, len), (0, 128));
        }
    }

    #[test]
    fn no_8_byte_field_of_a_flow_crosses_a_cache_line() {
        // `Flow` is packed to 4-byte alignment: an 8-byte field at an offset
        // of 60 in a line would be split across two.
        use std::mem::offset_of;
        let dir = [offset_of!(DirAcc, stime_ns), offset_of!(DirAcc, ltime_ns)];
        let mut at = vec![offset_of!(Flow, ltime_ns)];
        for d in [offset_of!(Flow, src), offset_of!(Flow, dst)] {
            at.extend(dir.iter().map(|o| d + o));
        }
        at.push(offset_of!(TcpFlow, tcp) + TcpAcc::HS_OFFSET);
        for o in at {
            assert!(o % 64 <= 56, "an 8-byte field at offset {o}");
        }
    }

    #[test]
    fn ids_name_the_flow_and_its_kind() {
        let mut s = FlowStore::default();
        let plain: Vec<u32> = (0..5000).map(|n| s.insert(flow(n), None)).collect();
        let tcp: Vec<u32> = (0..5000)
            .map(|n| {
                let mut t = TcpAcc::default();
                t.src_base = n as u32;
                s.insert(flow(10_000 + n), Some(t))
            })
            .collect();
        assert_eq!(s.len(), 10_000);
        for (n, (&p, &t)) in plain.iter().zip(&tcp).enumerate() {
            assert!(!FlowStore::is_tcp(p) && FlowStore::is_tcp(t));
            assert_eq!({ s.get(p).ltime_ns }, n as u64);
            assert!(s.parts(p).1.is_none());
            let (f, acc) = s.parts(t);
            assert_eq!({ f.ltime_ns }, 10_000 + n as u64);
            assert_eq!(acc.unwrap().src_base, n as u32);
        }
        // Replacing keeps the id when the kind matches, and refuses otherwise.
        assert!(s.replace(tcp[7], flow(1), Some(TcpAcc::default())));
        assert_eq!({ s.get(tcp[7]).ltime_ns }, 1);
        assert!(!s.replace(tcp[7], flow(2), None));
        assert!(!s.replace(plain[7], flow(3), Some(TcpAcc::default())));
        assert_eq!({ s.get(plain[7]).ltime_ns }, 7);
        // Removed ids are reused by their own kind.
        s.remove(tcp[9]);
        s.remove(plain[9]);
        assert_eq!(s.len(), 9_998);
        assert_eq!(s.insert(flow(0), None), plain[9]);
        assert_eq!(s.insert(flow(0), Some(TcpAcc::default())), tcp[9]);
        s.clear();
        assert_eq!(s.len(), 0);
    }
}

//! The link-layer identity of flows' pending records, kept once per shard.
//!
//! A record carries its source and destination MAC addresses, VLAN ids and
//! MPLS labels: 24 bytes, which on a tap or span port take a handful of
//! distinct values (the hosts' and the routers' MACs on a few VLANs), the
//! same for most of the flows. Each distinct tuple is kept here once, with
//! a count of the flows that refer to it, and a flow keeps its tuple's
//! 4-byte id. That brings a TCP flow with its accumulators to three cache
//! lines instead of four, and a flow without to two instead of three.
//!
//! A packet whose tuple is its flow's (nearly every packet) reads the entry
//! and changes nothing; a new tuple is looked up by its hash. A tuple no
//! flow refers to any more is forgotten and its id reused, so the table
//! never holds more entries than the shard holds flows, whatever the
//! packets claim: random MACs cost an entry per flow, about 40 bytes with
//! its slot in the lookup table, where the inline fields took 24.

use hashbrown::HashTable;

/// A record's MAC addresses, VLAN ids and MPLS labels, each side as the
/// record reports it.
#[derive(Clone, Copy, Debug, Default, Eq)]
#[repr(C)]
pub struct L2 {
    pub smac: [u8; 6],
    pub dmac: [u8; 6],
    pub svlan: u16,
    pub dvlan: u16,
    pub smpls: u32,
    pub dmpls: u32,
}

impl PartialEq for L2 {
    /// Three 8-byte compares (the derived one goes field by field, the MACs
    /// byte by byte).
    #[inline]
    fn eq(&self, o: &L2) -> bool {
        self.words() == o.words()
    }
}

impl L2 {
    /// The tuple as three words: all 24 bytes, no padding.
    #[inline(always)]
    fn words(&self) -> [u64; 3] {
        // SAFETY: `L2` is `repr(C)` plain data of 24 bytes without padding
        // (6 + 6 + 2 + 2 + 4 + 4, each field at its own alignment), so every
        // byte is initialised; the read is unaligned.
        unsafe { (self as *const L2).cast::<[u64; 3]>().read_unaligned() }
    }

    /// No addresses, VLANs or labels: id [`L2Table::NONE`], never stored.
    pub const ZERO: L2 = L2 {
        smac: [0; 6],
        dmac: [0; 6],
        svlan: 0,
        dvlan: 0,
        smpls: 0,
        dmpls: 0,
    };

    fn hash(&self) -> u64 {
        let [a, b, c] = self.words();
        let x = a ^ b.rotate_left(19) ^ c.rotate_left(41);
        // A multiply-xorshift finaliser: every input bit reaches the top
        // bits hashbrown reads first.
        let x = (x ^ x >> 32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ x >> 29
    }
}

// `L2::words` reads the tuple whole: it must have no padding.
const _: () = assert!(std::mem::size_of::<L2>() == 24);

struct Entry {
    tuple: L2,
    /// Flows referring to it; 0: vacant (its id is in `free`).
    refs: u32,
}

/// One shard's distinct tuples, by id.
pub struct L2Table {
    /// Entry `id` (`0` is [`L2::ZERO`], never counted or forgotten).
    entries: Vec<Entry>,
    /// Ids of vacant entries.
    free: Vec<u32>,
    /// Ids of the live entries, by their tuple's hash.
    ids: HashTable<u32>,
}

impl Default for L2Table {
    fn default() -> Self {
        L2Table {
            entries: vec![Entry {
                tuple: L2::ZERO,
                refs: 0,
            }],
            free: Vec::new(),
            ids: HashTable::new(),
        }
    }
}

impl L2Table {
    /// The id of [`L2::ZERO`].
    pub const NONE: u32 = 0;

    /// The tuple of id `id` (one the table gave and has not forgotten).
    #[inline(always)]
    pub fn get(&self, id: u32) -> &L2 {
        &self.entries[id as usize].tuple
    }

    /// The id of `t`, counting one more flow that refers to it (kept until
    /// each such flow [`L2Table::release`]s it).
    pub fn intern(&mut self, t: &L2) -> u32 {
        if *t == L2::ZERO {
            return Self::NONE;
        }
        let h = t.hash();
        let entries = &mut self.entries;
        if let Some(&id) = self.ids.find(h, |&id| entries[id as usize].tuple == *t) {
            entries[id as usize].refs += 1;
            return id;
        }
        let entry = Entry { tuple: *t, refs: 1 };
        let id = match self.free.pop() {
            Some(id) => {
                entries[id as usize] = entry;
                id
            }
            None => {
                let id = u32::try_from(entries.len()).expect("fewer than 2^32 tuples");
                entries.push(entry);
                id
            }
        };
        self.ids
            .insert_unique(h, id, |&id| entries[id as usize].tuple.hash());
        id
    }

    /// One flow fewer refers to `id`; with none left it is forgotten.
    pub fn release(&mut self, id: u32) {
        if id == Self::NONE {
            return;
        }
        let e = &mut self.entries[id as usize];
        debug_assert!(e.refs > 0, "an L2 tuple released more often than interned");
        e.refs -= 1;
        if e.refs > 0 {
            return;
        }
        let h = e.tuple.hash();
        if let Ok(found) = self.ids.find_entry(h, |&i| i == id) {
            found.remove();
        }
        self.free.push(id);
    }

    /// Live tuples (for tests and statistics).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Forgets every tuple.
    pub fn clear(&mut self) {
        *self = L2Table::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(n: u32) -> L2 {
        L2 {
            smac: [2, 0, 0, 0, 0, n as u8],
            dmac: [2, 0, 0, 0, 1, (n >> 8) as u8],
            svlan: n as u16,
            ..L2::ZERO
        }
    }

    #[test]
    fn a_tuple_is_kept_once_while_flows_refer_to_it() {
        let mut t = L2Table::default();
        assert_eq!(t.intern(&L2::ZERO), L2Table::NONE);
        assert_eq!(*t.get(L2Table::NONE), L2::ZERO);
        let a = t.intern(&tuple(1));
        let b = t.intern(&tuple(2));
        assert_ne!(a, b);
        assert_eq!(t.intern(&tuple(1)), a);
        assert_eq!((*t.get(a), *t.get(b), t.len()), (tuple(1), tuple(2), 2));
        t.release(a);
        assert_eq!(*t.get(a), tuple(1), "one flow still refers to it");
        t.release(a);
        assert_eq!(t.len(), 1);
        // The forgotten id serves the next new tuple; the old tuple is new
        // again.
        let c = t.intern(&tuple(3));
        assert_eq!((c, *t.get(c)), (a, tuple(3)));
        let d = t.intern(&tuple(1));
        assert_ne!(d, a);
        assert_eq!(*t.get(b), tuple(2));
        t.release(L2Table::NONE);
        t.clear();
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn the_table_holds_no_more_tuples_than_flows_refer_to() {
        // Every flow with a tuple of its own (random MACs), flows coming and
        // going: the entries follow the live flows, not the tuples seen.
        let mut t = L2Table::default();
        let mut live = std::collections::VecDeque::new();
        for n in 0..100_000u32 {
            live.push_back(t.intern(&tuple(n)));
            if live.len() > 1000 {
                t.release(live.pop_front().unwrap());
            }
        }
        assert_eq!(t.len(), 1000);
        assert!(t.entries.len() <= 1002, "{}", t.entries.len());
    }
}

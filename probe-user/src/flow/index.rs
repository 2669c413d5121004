//! The flow index: an open-addressing table from a flow's 32-bit hash to
//! its id in the shard's store, built so that a batch can prefetch its
//! lookups.
//!
//! Each slot is one `u64`: the hash in the high half, the flow id in the
//! low half (`EMPTY` is all ones). Linear probing keeps a probe sequence in
//! one or two cache lines; a batch first prefetches the slots of the packets
//! ahead ([`FlowIndex::prefetch`]), then the flows those slots point at
//! ([`FlowIndex::first_match`]), so the cache misses of many packets overlap
//! instead of following one another. Deletion shifts later entries back
//! (no tombstones), so probe sequences stay short under churn.

use super::pages::FilledArray;

const EMPTY: u64 = u64::MAX;
const MIN_SLOTS: usize = 1024;

pub struct FlowIndex {
    /// On huge pages once large: a lookup touches a slot at random.
    slots: FilledArray<u64>,
    /// `slots.len() - 1` (a power of two minus one).
    mask: usize,
    /// Shift that maps a mixed 64-bit hash to a slot.
    shift: u32,
    len: usize,
}

impl Default for FlowIndex {
    fn default() -> Self {
        FlowIndex::with_slots(MIN_SLOTS)
    }
}

#[inline]
fn pack(hash: u32, idx: u32) -> u64 {
    (hash as u64) << 32 | idx as u64
}

impl FlowIndex {
    fn with_slots(n: usize) -> FlowIndex {
        debug_assert!(n.is_power_of_two());
        FlowIndex {
            slots: FilledArray::new(n, EMPTY),
            mask: n - 1,
            shift: 64 - n.trailing_zeros(),
            len: 0,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn home(&self, hash: u32) -> usize {
        ((hash as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Hints the CPU to fetch the slots `hash` probes first.
    #[inline]
    pub fn prefetch(&self, hash: u32) {
        crate::prefetch::prefetch(self.slots.as_ptr().wrapping_add(self.home(hash)));
    }

    /// The first index stored under `hash` (without checking the key): for
    /// prefetching the flow a packet will most likely touch.
    #[inline]
    pub fn first_match(&self, hash: u32) -> Option<u32> {
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if (s >> 32) as u32 == hash {
                return Some(s as u32);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The index stored under `hash` for which `eq` holds.
    #[inline]
    pub fn find(&self, hash: u32, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if (s >> 32) as u32 == hash && eq(s as u32) {
                return Some(s as u32);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `idx` under `hash` (the caller knows it is not there yet).
    pub fn insert(&mut self, hash: u32, idx: u32) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        self.place(pack(hash, idx));
        self.len += 1;
    }

    fn place(&mut self, v: u64) {
        let mut i = self.home((v >> 32) as u32);
        while self.slots[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = v;
    }

    fn grow(&mut self) {
        let old = std::mem::replace(self, FlowIndex::with_slots(self.slots.len() * 2));
        for &v in old.slots.iter() {
            if v != EMPTY {
                self.place(v);
                self.len += 1;
            }
        }
    }

    /// Removes `idx` stored under `hash`; returns whether it was there.
    pub fn remove(&mut self, hash: u32, idx: u32) -> bool {
        let want = pack(hash, idx);
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return false;
            }
            if s == want {
                break;
            }
            i = (i + 1) & self.mask;
        }
        // Backward-shift deletion: move up every later entry of the run that
        // may sit at the hole (its home is not cyclically within (hole, j]).
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let s = self.slots[j];
            if s == EMPTY {
                break;
            }
            let home = self.home((s >> 32) as u32);
            let dist_home = j.wrapping_sub(home) & self.mask;
            let dist_hole = j.wrapping_sub(hole) & self.mask;
            if dist_home >= dist_hole {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// Every (hash, index) held, in slot order.
    pub fn entries(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.slots
            .iter()
            .filter(|&&s| s != EMPTY)
            .map(|&s| ((s >> 32) as u32, s as u32))
    }

    /// Empties the index, giving its memory back.
    #[cfg(test)]
    pub fn clear(&mut self) {
        *self = FlowIndex::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A cheap deterministic generator (no rand dependency in the library).
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn agrees_with_a_hashmap_under_churn() {
        let mut ix = FlowIndex::default();
        let mut model: HashMap<u32, u32> = HashMap::new();
        let mut x = 0x1234_5678_9abc_def0u64;
        for step in 0..200_000u32 {
            let r = next(&mut x);
            // Few distinct hashes, so runs collide and wrap around.
            let hash = (r % 5_000) as u32 * 0x9E37;
            if r & (1 << 40) != 0 || model.is_empty() {
                if let std::collections::hash_map::Entry::Vacant(e) = model.entry(hash) {
                    e.insert(step);
                    ix.insert(hash, step);
                }
            } else if let Some(&idx) = model.get(&hash) {
                assert!(ix.remove(hash, idx));
                model.remove(&hash);
            } else {
                assert!(!ix.remove(hash, step));
            }
            assert_eq!(ix.len(), model.len());
            if step % 997 == 0 {
                for (&h, &i) in &model {
                    assert_eq!(ix.find(h, |j| j == i), Some(i));
                    assert_eq!(ix.first_match(h), Some(i));
                }
            }
        }
        let mut got: Vec<(u32, u32)> = ix.entries().collect();
        let mut want: Vec<(u32, u32)> = model.into_iter().collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        ix.clear();
        assert_eq!(ix.len(), 0);
        assert_eq!(ix.find(want[0].0, |_| true), None);
    }

    #[test]
    fn same_hash_different_flows() {
        let mut ix = FlowIndex::default();
        for i in 0..100 {
            ix.insert(7, i);
        }
        assert_eq!(ix.find(7, |i| i == 63), Some(63));
        assert!(ix.remove(7, 0));
        assert_eq!(ix.find(7, |i| i == 99), Some(99));
        assert_eq!(ix.find(7, |i| i == 0), None);
    }
}

//! A slab of fixed-size chunks: stable indices, no moves when it grows.
//!
//! The flow table indexes flows by `u32` into a slab instead of storing them
//! in the hash table itself: a table slot is then 4 bytes, growing the table
//! moves indices rather than flows, and a chunk, once allocated, is only
//! ever filled in place (resident memory follows the flows actually held).

const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
const MASK: u32 = (1 << CHUNK_BITS) - 1;

pub struct Slab<T> {
    chunks: Vec<Vec<T>>,
    /// Indices of vacant entries (their old values stay until reused).
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Entries in use.
    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `v`, returning its index.
    pub fn insert(&mut self, v: T) -> u32 {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            *self.get_mut(i) = v;
            return i;
        }
        let full = self.chunks.last().is_none_or(|c| c.len() == CHUNK);
        if full {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let n = self.chunks.len() - 1;
        let chunk = &mut self.chunks[n];
        chunk.push(v);
        ((n << CHUNK_BITS) | (chunk.len() - 1)) as u32
    }

    /// Marks entry `i` vacant. Its value stays in place until the entry is
    /// reused: release what it owns first.
    pub fn remove(&mut self, i: u32) {
        self.len -= 1;
        self.free.push(i);
    }

    #[inline]
    pub fn get(&self, i: u32) -> &T {
        &self.chunks[(i >> CHUNK_BITS) as usize][(i & MASK) as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, i: u32) -> &mut T {
        &mut self.chunks[(i >> CHUNK_BITS) as usize][(i & MASK) as usize]
    }

    /// Empties the slab, keeping the first chunk's allocation.
    pub fn clear(&mut self) {
        self.chunks.truncate(1);
        if let Some(c) = self.chunks.first_mut() {
            c.clear();
        }
        self.free = Vec::new();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_stable_and_reused() {
        let mut s = Slab::default();
        let ids: Vec<u32> = (0..10_000u32).map(|v| s.insert(v)).collect();
        assert_eq!(s.len(), 10_000);
        for (v, &i) in ids.iter().enumerate() {
            assert_eq!(*s.get(i), v as u32);
        }
        s.remove(ids[5000]);
        s.remove(ids[7]);
        assert_eq!(s.len(), 9_998);
        let a = s.insert(1);
        let b = s.insert(2);
        assert!(a == ids[7] && b == ids[5000], "vacant entries are reused");
        assert_eq!(*s.get(ids[9_999]), 9_999);
        s.clear();
        assert!(s.is_empty());
        let i = s.insert(42);
        assert_eq!(*s.get(i), 42);
    }
}

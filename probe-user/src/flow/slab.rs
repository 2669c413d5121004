//! A slab of fixed-size chunks: stable indices, no moves when it grows.
//!
//! The flow table indexes flows by `u32` into a slab instead of storing them
//! in the hash table itself: a table slot is then 4 bytes, growing the table
//! moves indices rather than flows, and a chunk, once allocated, is only
//! ever filled in place (resident memory follows the flows actually held).

use super::pages::{Pages, HUGE_PAGE};

/// Bytes of a chunk: a whole number of huge pages (see [`super::pages`]),
/// so that a full chunk lies wholly on them.
const CHUNK_BYTES: usize = 2 * HUGE_PAGE;

pub struct Slab<T> {
    /// Each has room for [`Slab::PER`] entries, and becomes huge pages as
    /// it fills ([`Pages::filled`]).
    chunks: Vec<Pages<T>>,
    /// Entries written so far: indices `0..filled` hold values (vacant ones
    /// included).
    filled: usize,
    /// Indices of vacant entries (their old values stay until reused).
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            filled: 0,
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Entries per chunk. Not a power of two: dividing by a constant costs
    /// a multiplication, where a power of two would leave up to a third of
    /// each chunk's last huge page unused.
    const PER: usize = match std::mem::size_of::<T>() {
        0 => 1 << 16,
        n if n >= CHUNK_BYTES => 1,
        n => CHUNK_BYTES / n,
    };

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
        if let Some(i) = self.free.pop() {
            *self.get_mut(i) = v;
            self.len += 1;
            return i;
        }
        let i = u32::try_from(self.filled).expect("a slab holds fewer than 2^32 entries");
        if self.filled == self.chunks.len() * Self::PER {
            self.chunks.push(Pages::new(Self::PER, true));
        }
        // SAFETY: entry `i` is in the last chunk's room, not yet written
        // (`i == filled`).
        unsafe { self.slot(i).write(v) };
        self.chunks[self.chunks.len() - 1].filled(self.filled % Self::PER);
        self.filled += 1;
        self.len += 1;
        i
    }

    /// Where entry `i` lies. In 32 bits: the division by a constant is
    /// then one narrow multiplication.
    ///
    /// # Safety
    ///
    /// `i` is within the room of the chunks there are.
    #[inline(always)]
    unsafe fn slot(&self, i: u32) -> *mut T {
        let per = Self::PER as u32;
        // SAFETY: the caller's promise.
        let chunk = unsafe { self.chunks.get_unchecked((i / per) as usize) };
        chunk.as_ptr().wrapping_add((i % per) as usize)
    }

    /// Where entry `i` lies, `i` below `filled` (or a panic).
    #[inline(always)]
    fn written(&self, i: u32) -> *mut T {
        if i as usize >= self.filled {
            out_of_range(i);
        }
        // SAFETY: entries below `filled` lie in the chunks there are.
        unsafe { self.slot(i) }
    }

    /// Marks entry `i` vacant. Its value stays in place until the entry is
    /// reused: release what it owns first.
    pub fn remove(&mut self, i: u32) {
        self.len -= 1;
        self.free.push(i);
    }

    #[inline(always)]
    pub fn get(&self, i: u32) -> &T {
        // SAFETY: entries below `filled` are written, and stay so until the
        // slab is cleared or dropped (which take `&mut self`).
        unsafe { &*self.written(i) }
    }

    #[inline(always)]
    pub fn get_mut(&mut self, i: u32) -> &mut T {
        // SAFETY: as in `get`; `&mut self` makes this the only borrow.
        unsafe { &mut *self.written(i) }
    }

    /// Drops every entry written.
    fn drop_entries(&mut self) {
        let filled = std::mem::take(&mut self.filled);
        if std::mem::needs_drop::<T>() {
            for i in 0..filled as u32 {
                // SAFETY: entries below the old `filled` are written, and
                // `filled` is already 0: none is dropped twice, even if a
                // drop panics.
                unsafe { std::ptr::drop_in_place(self.slot(i)) };
            }
        }
    }

    /// Empties the slab, keeping the first chunk's allocation.
    pub fn clear(&mut self) {
        self.drop_entries();
        self.chunks.truncate(1);
        self.free = Vec::new();
        self.len = 0;
    }
}

#[cold]
#[inline(never)]
fn out_of_range(i: u32) -> ! {
    panic!("slab index {i} out of range")
}

impl<T> Drop for Slab<T> {
    fn drop(&mut self) {
        self.drop_entries();
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

    /// Entries past the first chunk, of a type that owns memory: each is
    /// where it was put, and each is dropped once, by `clear` or by the
    /// slab's own drop.
    #[test]
    fn entries_across_chunks_keep_their_values_and_drop_once() {
        use std::rc::Rc;
        let alive = Rc::new(());
        let n = Slab::<(Rc<()>, [u64; 30])>::PER * 2 + 10;
        let mut s = Slab::default();
        let ids: Vec<u32> = (0..n)
            .map(|v| s.insert((alive.clone(), [v as u64; 30])))
            .collect();
        assert_eq!(Rc::strong_count(&alive), n + 1);
        for (v, &i) in ids.iter().enumerate() {
            assert_eq!(s.get(i).1[29], v as u64);
        }
        // A reused entry drops the value it held.
        s.remove(ids[3]);
        let again = s.insert((alive.clone(), [7; 30]));
        assert_eq!((again, Rc::strong_count(&alive)), (ids[3], n + 1));
        s.clear();
        assert_eq!(Rc::strong_count(&alive), 1);
        for v in 0..n {
            s.insert((alive.clone(), [v as u64; 30]));
        }
        drop(s);
        assert_eq!(Rc::strong_count(&alive), 1);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn an_index_never_written_is_refused() {
        let mut s = Slab::default();
        s.insert(1u32);
        s.get(1);
    }
}

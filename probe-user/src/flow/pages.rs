//! Memory for the flow table's large arrays, on transparent huge pages.
//!
//! A replay touches its flows and their index slots at random, over a
//! hundred megabytes: with 4 KiB pages nearly every touch also misses the
//! TLB, and in a virtual machine each of those misses walks two page tables
//! (the guest's and the host's). On this project's 2-core VM, the same
//! binary run with glibc's `glibc.malloc.hugetlb=1` (which advises every
//! large allocation for huge pages) used 10 to 15% less CPU on the 10M-packet
//! replay. This module does that for the arrays where it matters, and only
//! for them, in a mapping of their own aligned to a 2 MiB huge page:
//!
//! - an array written whole at once (the flow index) is advised
//!   `MADV_HUGEPAGE` first, and faults in on huge pages;
//! - an array that fills up from the start (a slab chunk) stays on small
//!   pages while it fills, and each huge page's worth is collapsed into a
//!   huge page (`MADV_COLLAPSE`) once it is full. A huge page is resident
//!   whole from its first touch: advised up front, the partly filled last
//!   huge page of every slab would cost up to 2 MiB.
//!
//! A kernel without THP refuses the advice, and small pages do.

use std::ptr::NonNull;

/// The size of a transparent huge page on x86-64 and most of arm64.
pub const HUGE_PAGE: usize = 2 << 20;

/// Room for `cap` values of `T`, uninitialised: the owner tracks which are
/// written and drops them; dropping this only frees the memory.
pub struct Pages<T> {
    ptr: NonNull<T>,
    cap: usize,
    /// Bytes of the mapping the memory is (it starts at `ptr`, on a huge
    /// page boundary); 0: from the heap (or nothing, for no bytes).
    mapped: usize,
}

// SAFETY: `Pages` owns its memory as a `Vec` would; sending or sharing it is
// sending or sharing the `T`s it may hold.
unsafe impl<T: Send> Send for Pages<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Pages<T> {}

impl<T> Pages<T> {
    /// Room for `cap` values: with `huge`, and at least one huge page of
    /// bytes, a mapping of its own (see [`Pages::advise`] and
    /// [`Pages::filled`]); otherwise, or if mapping fails, from the heap.
    pub fn new(cap: usize, huge: bool) -> Pages<T> {
        let bytes = std::mem::size_of::<T>()
            .checked_mul(cap)
            .expect("a flow table array fits the address space");
        if bytes == 0 {
            return Pages {
                ptr: NonNull::dangling(),
                cap,
                mapped: 0,
            };
        }
        if huge && bytes >= HUGE_PAGE {
            if let Some((ptr, mapped)) = map_aligned(bytes) {
                return Pages {
                    ptr: ptr.cast(),
                    cap,
                    mapped,
                };
            }
        }
        let layout = std::alloc::Layout::array::<T>(cap).expect("a valid array layout");
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(p.cast::<T>()) else {
            std::alloc::handle_alloc_error(layout)
        };
        Pages {
            ptr,
            cap,
            mapped: 0,
        }
    }

    #[inline(always)]
    pub fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Whether the memory is a mapping of its own.
    #[cfg(test)]
    pub fn is_mapped(&self) -> bool {
        self.mapped != 0
    }

    /// Advises the mapping for huge pages, before it is written: for memory
    /// written whole at once.
    pub fn advise(&self) {
        if self.mapped != 0 {
            // SAFETY: the range is this value's own mapping.
            unsafe {
                libc::madvise(self.ptr.as_ptr().cast(), self.mapped, libc::MADV_HUGEPAGE);
            }
        }
    }

    /// Value `i` has just been written, and every one before it: makes the
    /// huge page it completes a huge page, and the last one, once the room
    /// is full. Cheap when it completes nothing.
    #[inline]
    pub fn filled(&self, i: usize) -> bool {
        if self.mapped == 0 {
            return false;
        }
        let size = std::mem::size_of::<T>();
        let (a, b) = (i * size, (i + 1) * size);
        if b / HUGE_PAGE > a / HUGE_PAGE {
            return self.collapse(a / HUGE_PAGE);
        }
        if i + 1 == self.cap && b % HUGE_PAGE != 0 {
            return self.collapse(b / HUGE_PAGE);
        }
        false
    }

    /// Collapses huge page `k` of the mapping into a huge page, if the
    /// mapping holds it whole; returns whether the kernel did.
    #[cold]
    fn collapse(&self, k: usize) -> bool {
        if (k + 1) * HUGE_PAGE > self.mapped {
            return false;
        }
        let at = self.ptr.as_ptr() as usize + k * HUGE_PAGE;
        // SAFETY: the range is a whole huge page of this value's mapping;
        // collapsing keeps its contents.
        unsafe { libc::madvise(at as *mut libc::c_void, HUGE_PAGE, MADV_COLLAPSE) == 0 }
    }
}

/// `madvise(2)`'s synchronous collapse into huge pages (Linux 6.1).
const MADV_COLLAPSE: libc::c_int = 25;

impl<T> Drop for Pages<T> {
    fn drop(&mut self) {
        let bytes = std::mem::size_of::<T>() * self.cap;
        if self.mapped != 0 {
            // SAFETY: `ptr` is the start of a mapping of `mapped` bytes that
            // this value owns.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.mapped) };
        } else if bytes != 0 {
            let layout = std::alloc::Layout::array::<T>(self.cap).expect("allocated with it");
            // SAFETY: allocated by `std::alloc::alloc` with this layout.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

/// A fixed-length array of `Copy` values, every one written at creation:
/// on huge pages when it spans at least one.
pub struct FilledArray<T: Copy> {
    pages: Pages<T>,
}

impl<T: Copy> FilledArray<T> {
    pub fn new(len: usize, value: T) -> FilledArray<T> {
        let pages: Pages<T> = Pages::new(len, true);
        pages.advise();
        for i in 0..len {
            // SAFETY: `i` is within the room for `len` values.
            unsafe { pages.as_ptr().add(i).write(value) };
        }
        FilledArray { pages }
    }

    #[cfg(test)]
    pub fn is_mapped(&self) -> bool {
        self.pages.is_mapped()
    }
}

impl<T: Copy> std::ops::Deref for FilledArray<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: every value was written by `new`.
        unsafe { std::slice::from_raw_parts(self.pages.as_ptr(), self.pages.capacity()) }
    }
}

impl<T: Copy> std::ops::DerefMut for FilledArray<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, borrowed uniquely.
        unsafe { std::slice::from_raw_parts_mut(self.pages.as_ptr(), self.pages.capacity()) }
    }
}

/// A private anonymous mapping of at least `bytes`, starting on a huge page
/// boundary: (start, mapped length). A tail that nearly fills a huge page
/// (a slab chunk falls short of its last by less than an entry) is mapped
/// to the end of it, so that it can be a huge page too.
fn map_aligned(bytes: usize) -> Option<(NonNull<u8>, usize)> {
    let page = 4096;
    let mut len = bytes.checked_add(page - 1)? & !(page - 1);
    let whole = bytes / HUGE_PAGE * HUGE_PAGE;
    if bytes - whole >= HUGE_PAGE - HUGE_PAGE / 16 {
        len = whole + HUGE_PAGE;
    }
    let over = len.checked_add(HUGE_PAGE)?;
    // SAFETY: a new anonymous mapping; no existing memory is touched.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            over,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    // Trim the mapping to `len` bytes from the first huge page boundary.
    let b = base as usize;
    let start = (b + HUGE_PAGE - 1) & !(HUGE_PAGE - 1);
    let head = start - b;
    let tail = over - head - len;
    // SAFETY: both ranges lie inside the mapping just made, page-aligned
    // (`len` and `HUGE_PAGE` are multiples of the page size).
    unsafe {
        if head > 0 {
            libc::munmap(base, head);
        }
        if tail > 0 {
            libc::munmap((start + len) as *mut libc::c_void, tail);
        }
    }
    NonNull::new(start as *mut u8).map(|p| (p, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_or_unasked_room_comes_from_the_heap() {
        let p: Pages<u64> = Pages::new(1000, true);
        assert!(!p.is_mapped());
        let q: Pages<u64> = Pages::new(HUGE_PAGE, false);
        assert!(!q.is_mapped());
        let z: Pages<u64> = Pages::new(0, true);
        assert_eq!(z.capacity(), 0);
    }

    #[test]
    fn a_filled_array_holds_its_value_everywhere_on_huge_pages() {
        let small = FilledArray::new(10, 7u64);
        assert!(!small.is_mapped() && small.iter().all(|&v| v == 7));
        let mut big = FilledArray::new(3 * HUGE_PAGE / 8 + 100, u64::MAX);
        assert!(big.is_mapped() && big.len() == 3 * HUGE_PAGE / 8 + 100);
        assert_eq!(big.as_ptr() as usize % HUGE_PAGE, 0);
        assert!(big.iter().all(|&v| v == u64::MAX));
        big[12345] = 1;
        assert_eq!(big.iter().filter(|&&v| v == 1).count(), 1);
        if thp_on() {
            let kb = huge_kb(big.as_ptr() as usize);
            assert!(kb >= 3 * 2048, "{kb} kB of the index on huge pages");
        }
    }

    /// A room filled value by value has each huge page collapsed as it
    /// fills: the full ones are huge pages, the one being filled is not.
    #[test]
    fn room_filled_in_order_becomes_huge_pages_as_they_fill() {
        // 48-byte values: some straddle huge page boundaries.
        type V = [u64; 6];
        let cap = (2 * HUGE_PAGE + HUGE_PAGE / 2) / 48;
        let p: Pages<V> = Pages::new(cap, true);
        assert!(p.is_mapped());
        let mut collapsed = 0;
        for i in 0..HUGE_PAGE * 3 / 2 / 48 {
            // SAFETY: `i` is within the room.
            unsafe { p.as_ptr().add(i).write([i as u64; 6]) };
            collapsed += p.filled(i) as usize;
        }
        for i in 0..HUGE_PAGE * 3 / 2 / 48 {
            // SAFETY: written above.
            assert_eq!(unsafe { *p.as_ptr().add(i) }, [i as u64; 6]);
        }
        if thp_on() {
            assert_eq!(collapsed, 1, "the first huge page, once full");
            assert_eq!(huge_kb(p.as_ptr() as usize), 2048);
        }
    }

    /// Whether this kernel can give huge pages to this process, as it can
    /// where CI runs (THP `madvise` or `always`, Linux 6.1 or later for
    /// `MADV_COLLAPSE`).
    fn thp_on() -> bool {
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        thp.contains("[madvise]") || thp.contains("[always]")
    }

    /// `AnonHugePages` of the mapping that starts at `addr`, from
    /// /proc/self/smaps.
    fn huge_kb(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((lo, _)) = range.split_once('-') {
                    if let Ok(lo) = usize::from_str_radix(lo, 16) {
                        inside = lo == addr;
                        continue;
                    }
                }
            }
            if inside {
                if let Some(v) = line.strip_prefix("AnonHugePages:") {
                    return v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                }
            }
        }
        0
    }
}

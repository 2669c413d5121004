//! Cache prefetch hints, for the loops that know a few steps ahead which
//! memory they will touch: the flow engine's batches (index slots, flows),
//! and `sort`'s printing in sorted order.

/// Hints the CPU to fetch the cache line at `p`.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Hints the CPU to fetch every cache line of `v`.
#[inline(always)]
pub fn prefetch_whole<T>(v: &T) {
    prefetch_span(v as *const T as usize, std::mem::size_of::<T>());
}

/// Hints the CPU to fetch every cache line of the `len` bytes at address
/// `at` (which need not hold anything: a prefetch never faults).
#[inline(always)]
pub fn prefetch_span(at: usize, len: usize) {
    let mut line = at & !63;
    let end = at.wrapping_add(len);
    while line < end {
        prefetch(line as *const u8);
        line += 64;
    }
}

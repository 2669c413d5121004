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
    let p = v as *const T as *const u8;
    let mut off = 0;
    while off < std::mem::size_of::<T>() {
        prefetch(p.wrapping_add(off));
        off += 64;
    }
}

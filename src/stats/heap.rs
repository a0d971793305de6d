//! Heap accounting: a global allocator that wraps the system one and keeps the bytes in use
//! and their high-water mark, so the process can report its own memory on any target
//! (including under qemu-user, where the host's view of the process is qemu's, not ours).
//!
//! Invariant: `in_use` is the sum of the sizes of live allocations made through this
//! allocator; `peak` is the largest value `in_use` has had. Both are `usize` atomics
//! (MIPS32 has 32-bit atomics but no 64-bit ones).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counted.
pub struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = IN_USE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call forwards to `System` with the caller's layout unchanged; the counters
// are side bookkeeping and never affect the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes of heap in use now.
pub fn in_use() -> usize {
    IN_USE.load(Relaxed)
}

/// The most heap ever in use at once since the process started.
pub fn peak() -> usize {
    PEAK.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_allocation_raises_in_use_and_peak() {
        let before_peak = peak();
        let v: Vec<u8> = Vec::with_capacity(1 << 20);
        // Other test threads allocate too, so only bounds can be asserted.
        assert!(peak() >= 1 << 20);
        assert!(peak() >= before_peak);
        assert!(in_use() <= peak());
        drop(v);
    }
}

//! The global allocator: dlmalloc, as std's own in WebAssembly, but taking memory from the
//! engine in growing steps (a quarter of the memory so far, at least what is asked) instead of
//! 64 KiB at a time. Every `memory.grow` replaces the JS `ArrayBuffer` of the memory and counts as
//! external memory for the engine's garbage collector: a replica whose heap grew 64 KiB at a time
//! made V8 run a full collection every few milliseconds while JS called into it, and that, not
//! the core, was most of a write's time through the JS API (docs/adr/0014).

use core::arch::wasm32;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;

const PAGE: usize = 64 * 1024;

/// The engine's memory, grown geometrically.
struct GrowingMemory;

unsafe impl dlmalloc::Allocator for GrowingMemory {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let wanted = size.div_ceil(PAGE);
        let generous = wanted.max(wasm32::memory_size(0) / 4);
        // Near the 4 GiB limit a generous step can fail where the exact one still fits.
        let (prev, pages) = match wasm32::memory_grow(0, generous) {
            usize::MAX if generous > wanted => (wasm32::memory_grow(0, wanted), wanted),
            prev => (prev, generous),
        };
        if prev == usize::MAX {
            return (std::ptr::null_mut(), 0, 0);
        }
        let (base, size) = (prev * PAGE, pages * PAGE);
        // A region must not end at the top of the address space (a pointer would wrap to 0).
        let size = if base.wrapping_add(size) == 0 { size - 16 } else { size };
        (base as *mut u8, size, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        std::ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false // WebAssembly memory never shrinks.
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

/// dlmalloc over [`GrowingMemory`]. This build has no threads (no `atomics` target feature), so
/// no call can overlap another and no lock is needed.
pub(crate) struct Allocator(UnsafeCell<dlmalloc::Dlmalloc<GrowingMemory>>);

// SAFETY: single-threaded build (see the `cfg` of the static in lib.rs).
unsafe impl Sync for Allocator {}

impl Allocator {
    pub(crate) const fn new() -> Allocator {
        Allocator(UnsafeCell::new(dlmalloc::Dlmalloc::new_with_allocator(GrowingMemory)))
    }
}

// SAFETY: forwards to dlmalloc with the layout's size and alignment; calls never overlap.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).malloc(layout.size(), layout.align()) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).calloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { (*self.0.get()).free(ptr, layout.size(), layout.align()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size) }
    }
}

//! hupwatch's allocator, in place of libc's malloc.
#![allow(unsafe_code)]

use core::ffi::c_int;

/// hupwatch's allocator, in place of libc's malloc (about 9 KB of code in a
/// static musl binary; this is a few hundred bytes). Requests round up to a
/// power-of-two class from 16 bytes to 2 KiB, carved from 64 KiB anonymous
/// mappings and kept on one free list per class for reuse; anything larger
/// gets a mapping of its own, returned at once when freed. hupwatch
/// allocates while it sets up and then the same few sizes per reload, so the
/// free lists bound what it holds. It never starts a thread, so no lock.
/// realloc is GlobalAlloc's own (a new block, a copy, the old one freed): a
/// shortcut for a size that stays in its class cost 120 bytes of code and
/// saves only the copy of a few bytes, now and then.
pub struct Allocator(core::cell::UnsafeCell<Heap>);

struct Heap {
    /// The first free block of each class; a free block holds the next one's address.
    free: [*mut u8; CLASSES],
    /// The unused rest of the current chunk.
    next: usize,
    end: usize,
}

const SMALLEST: usize = 16;

/// 16, 32, ..., 2048 bytes.
const CLASSES: usize = 8;

const CHUNK: usize = 64 << 10;

const PAGE: usize = 4096;

// SAFETY: hupwatch is single-threaded (it never starts a thread), so the
// heap is never reached from two threads. Unit tests, which run in threads,
// use the system allocator and only private instances of this one.
unsafe impl Sync for Allocator {}

#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: Allocator = Allocator::new();

impl Allocator {
    pub const fn new() -> Allocator {
        Allocator(core::cell::UnsafeCell::new(Heap { free: [core::ptr::null_mut(); CLASSES], next: 0, end: 0 }))
    }
}

/// A layout's class (index and block size), or `None` when it is large.
fn class(layout: core::alloc::Layout) -> Option<(usize, usize)> {
    let size = layout.size().max(layout.align()).max(SMALLEST).next_power_of_two();
    let index = (size.trailing_zeros() - SMALLEST.trailing_zeros()) as usize;
    (index < CLASSES).then_some((index, size))
}

fn round_up(n: usize, to: usize) -> usize {
    (n + to - 1) & !(to - 1)
}

/// Fresh zeroed pages; null when the kernel has none.
fn map(len: usize) -> *mut u8 {
    let (prot, flags) = (libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS);
    // 32-bit targets map with mmap2: i386's SYS_mmap is the old call that
    // takes a pointer to its arguments, and 32-bit ARM has none. The offset
    // (0 here) counts pages instead of bytes.
    #[cfg(target_pointer_width = "32")]
    let nr = libc::SYS_mmap2;
    #[cfg(target_pointer_width = "64")]
    let nr = libc::SYS_mmap;
    // SAFETY: an anonymous private mapping touches no existing memory.
    let p = unsafe { libc::syscall(nr, 0usize, len, prot, flags, -1 as c_int, 0usize) };
    if p == -1 { core::ptr::null_mut() } else { p as *mut u8 }
}

// SAFETY: every block handed out is `layout.size()` bytes or more, aligned to
// `layout.align()` (a class block sits at a multiple of its size inside a
// page-aligned chunk, and the class is at least the alignment), and belongs
// to one caller until it is freed.
unsafe impl core::alloc::GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        // SAFETY: single-threaded (see `Sync` above), and no reference to
        // the heap outlives this call.
        let heap = unsafe { &mut *self.0.get() };
        let Some((index, size)) = class(layout) else {
            return if layout.align() > PAGE { core::ptr::null_mut() } else { map(round_up(layout.size(), PAGE)) };
        };
        let head = heap.free[index];
        if !head.is_null() {
            // SAFETY: a free block's first word holds the next free block.
            heap.free[index] = unsafe { *(head as *mut *mut u8) };
            return head;
        }
        let mut start = round_up(heap.next, size);
        if start + size > heap.end {
            let chunk = map(CHUNK);
            if chunk.is_null() {
                return chunk;
            }
            start = chunk as usize;
            heap.end = start + CHUNK;
        }
        heap.next = start + size;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        // SAFETY: as in `alloc`.
        let heap = unsafe { &mut *self.0.get() };
        match class(layout) {
            Some((index, _)) => {
                // SAFETY: the block is the caller's to give back and holds at
                // least one aligned pointer (16 bytes or more).
                unsafe { *(ptr as *mut *mut u8) = heap.free[index] };
                heap.free[index] = ptr;
            }
            // SAFETY: a large block is a mapping of exactly this length.
            None => unsafe {
                libc::syscall(libc::SYS_munmap, ptr, round_up(layout.size(), PAGE));
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::alloc::{GlobalAlloc, Layout};

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn allocator_aligns_and_never_overlaps() {
        let heap = Allocator::new();
        let mut blocks = Vec::new();
        for (i, size) in [1, 7, 16, 17, 100, 512, 2000, 2048, 2049, 10_000].into_iter().cycle().take(300).enumerate() {
            let align = [1, 8, 16, 64, 4096][i % 5];
            let l = layout(size, align);
            // SAFETY: l has a non-zero size.
            let p = unsafe { heap.alloc(l) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "size {size} align {align}");
            // SAFETY: the block is ours and l.size() bytes long.
            unsafe { core::ptr::write_bytes(p, i as u8, size) };
            blocks.push((p, l, i as u8));
        }
        for &(p, l, fill) in &blocks {
            // SAFETY: as above; every block still holds its own fill.
            let bytes = unsafe { core::slice::from_raw_parts(p, l.size()) };
            assert!(bytes.iter().all(|&b| b == fill));
            // SAFETY: p came from this allocator with layout l.
            unsafe { heap.dealloc(p, l) };
        }
    }

    #[test]
    fn allocator_reuses_freed_blocks() {
        let heap = Allocator::new();
        let sizes = [24, 24, 100, 700, 3000];
        // SAFETY (whole test): every pointer comes from `heap` with the layout it is freed with.
        let first: Vec<*mut u8> = sizes.iter().map(|&s| unsafe { heap.alloc(layout(s, 8)) }).collect();
        for (&p, &s) in first.iter().zip(&sizes) {
            unsafe { heap.dealloc(p, layout(s, 8)) };
        }
        // SAFETY: reading the bump pointer of a heap no one else uses.
        let high_water = unsafe { (*heap.0.get()).next };
        for _ in 0..1000 {
            let again: Vec<*mut u8> = sizes.iter().map(|&s| unsafe { heap.alloc(layout(s, 8)) }).collect();
            for (&p, &s) in again.iter().zip(&sizes) {
                unsafe { heap.dealloc(p, layout(s, 8)) };
            }
        }
        assert_eq!(unsafe { (*heap.0.get()).next }, high_water, "a steady load takes no new memory");
    }

    #[test]
    fn allocator_realloc_keeps_contents() {
        let heap = Allocator::new();
        // SAFETY (whole test): each pointer is used with the layout it was last given.
        unsafe {
            let p = heap.alloc(layout(20, 1));
            core::ptr::copy_nonoverlapping(b"hupwatch-realloc-ok!".as_ptr(), p, 20);
            let p = heap.realloc(p, layout(20, 1), 30);
            assert_eq!(core::slice::from_raw_parts(p, 20), b"hupwatch-realloc-ok!");
            let q = heap.realloc(p, layout(30, 1), 5000);
            assert_eq!(core::slice::from_raw_parts(q, 20), b"hupwatch-realloc-ok!");
            let r = heap.realloc(q, layout(5000, 1), 40);
            assert_eq!(core::slice::from_raw_parts(r, 20), b"hupwatch-realloc-ok!");
            heap.dealloc(r, layout(40, 1));
        }
    }
}

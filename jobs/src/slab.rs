//! Job memory: per-thread magazines over a shared depot.
//!
//! Every job is one block of memory (a `HeapJob<C>`, see `job.rs`). A frame creates and finishes
//! thousands of them, usually on different threads: the main thread or a parent job allocates,
//! whichever worker runs the job last frees it. This module keeps those blocks out of the global
//! allocator in steady state, after Bonwick and Adams, *Magazines and Vmem* (USENIX 2001).
//!
//! ## Classes
//! A job whose layout fits one of [`CLASS_SIZES`] (size at most the class, alignment at most
//! [`ALIGN`]) gets a block of the smallest such class; larger or more aligned jobs are plain
//! boxes. The class of a job type is a constant, so choosing it costs nothing at run time. Every
//! block of a class has the same [`Layout`], so any thread may free any block, and a block the
//! caches cannot keep goes back to the global allocator with that layout.
//!
//! Blocks are whole cache lines, aligned to one, so a job never shares a line with another job.
//! Magazines hand blocks out in the order they were freed, so neighbouring blocks belong to
//! unrelated jobs, often running on other cores; with 16-byte alignment they would write to each
//! other's lines. The smallest job (the 40-byte header, the 16-byte next step) takes 56 bytes,
//! hence the smallest class, one 64-byte line: up to 8 bytes of capture (a closure of one
//! reference); the next class, two lines, holds up to 72.
//!
//! ## Magazines
//! A magazine is a bounded stack of free blocks of one class ([`MAGAZINE_BYTES`] worth: 512
//! blocks of the smallest class). Each thread has, per class, two: `loaded` and `previous`, in a
//! `thread_local!`, reached without locks or atomics. Allocation pops from `loaded`; free pushes
//! onto it. When `loaded` is empty (on allocation) or full (on free) and `previous` can serve,
//! the two are swapped: a thread that allocates and frees around a magazine boundary swaps back
//! and forth without leaving itself.
//!
//! ## The depot
//! Only when both magazines are empty (or both full) does a thread go to the depot of the class:
//! a `Mutex` over a list of full magazines and a list of empty ones. An allocating thread trades
//! an empty magazine for a full one, a freeing thread a full one for an empty one: one lock per
//! magazine, not one per job. This is what makes the cross-thread case free of global
//! allocations: jobs the main thread allocates are freed into the workers' magazines, which come
//! back to the main thread through the depot, while the main thread's empty magazines travel the
//! other way.
//!
//! If the depot has no full magazine, the allocating thread fills half its magazine from the
//! global allocator at once (and, while the depot stays empty, finds that out without taking the
//! lock: [`Depot::full`]). If the depot already keeps [`DEPOT_BYTES`] of blocks, a full magazine
//! handed in is emptied to the global allocator instead, while its blocks are still warm in the
//! cache of the thread that freed them. The bound keeps what is recycled small enough to stay in
//! the caches: a burst of a million live jobs is served by the global allocator, whose pages keep
//! neighbouring jobs together, rather than leaving a hundred megabytes of blocks in the depot,
//! shuffled, for every later frame to miss in the caches and the TLB (measured: an unbounded
//! depot made the `empty_spawn` benchmark slower round after round).
//!
//! ## Thread exit
//! A thread's magazines are handed to the depot when its thread-local storage is destroyed (the
//! ones with blocks to the full list while there is room, the rest are freed). A job freed after
//! that, by another thread-local destructor, goes straight to the global allocator, and one
//! allocated after that comes from it. The depot is a static, so blocks parked there at process
//! exit are still reachable and not leaked (Miri's leak check agrees, and does report them when
//! they are dropped on the floor instead).
//!
//! ## Re-entrancy
//! The thread's cache is a `RefCell` taken with `try_borrow_mut`. The slow paths call the global
//! allocator while holding it; if that allocator created a job of its own, the job would find
//! the cache busy and use the global allocator: no panic, no aliasing.

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::mem::{self, MaybeUninit};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::sync::lock;

/// The number of classes.
const CLASSES: usize = 5;

/// Block sizes of the classes, smallest first: multiples of [`ALIGN`].
const CLASS_SIZES: [usize; CLASSES] = [64, 128, 192, 256, 512];

/// The alignment of every block, and the largest a job may need to get one: a cache line.
const ALIGN: usize = 64;

/// The bytes of blocks a magazine holds: 512 blocks of the smallest class, 64 of the largest.
/// A thread goes to the depot once per magazine, so larger magazines mean fewer trips (and fewer
/// cache lines moving between threads), at the price of more memory idle in each thread: up to
/// two magazines per class. 32 KiB measured faster than 8 KiB on the `empty_spawn` benchmark.
///
/// Under Miri, 1 KiB (16 blocks of the smallest class), so that its short tests go through the
/// depot and its bound.
const MAGAZINE_BYTES: usize = if cfg!(miri) { 1 << 10 } else { 32 << 10 };

/// The most memory a class's depot keeps in free blocks: 2 MiB, 32,768 jobs of the smallest
/// class (a frame's worth, several times over). Full magazines beyond it go back to the global
/// allocator. Under Miri, 8 magazines.
const DEPOT_BYTES: usize = if cfg!(miri) { 8 << 10 } else { 2 << 20 };

/// The blocks a magazine of `class` holds.
const fn rounds(class: usize) -> usize {
    MAGAZINE_BYTES / CLASS_SIZES[class]
}

/// The most full magazines (and, separately, empty ones) a depot keeps: 64 (8 under Miri).
const DEPOT_MAGAZINES: usize = DEPOT_BYTES / MAGAZINE_BYTES;

/// The class of blocks that can hold `layout`, if any.
const fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > ALIGN {
        return None;
    }
    let mut class = 0;
    while class < CLASSES {
        if layout.size() <= CLASS_SIZES[class] {
            return Some(class);
        }
        class += 1;
    }
    None
}

/// The layout of every block of `class`.
const fn class_layout(class: usize) -> Layout {
    match Layout::from_size_align(CLASS_SIZES[class], ALIGN) {
        Ok(layout) => layout,
        Err(_) => panic!("class sizes are multiples of ALIGN, a power of two"),
    }
}

/// The class of `T`, computed at compile time.
struct ClassOf<T>(PhantomData<T>);

impl<T> ClassOf<T> {
    const CLASS: Option<usize> = class_of(Layout::new::<T>());
}

/// Uninitialized memory for one `T`: a block of `T`'s class from this thread's magazines, or a
/// plain box if `T` fits no class.
#[inline]
pub(crate) fn allocate<T>() -> NonNull<T> {
    match ClassOf::<T>::CLASS {
        Some(class) => allocate_block(class).cast(),
        None => NonNull::from(Box::leak(Box::<MaybeUninit<T>>::new_uninit())).cast(),
    }
}

/// Drops the `T` at `ptr` and gives its memory back, also when the drop panics (as `Box` does).
///
/// # Safety
/// `ptr` came from [`allocate::<T>`](allocate), holds an initialized `T` that nothing else
/// borrows, and is not used afterwards.
#[inline]
pub(crate) unsafe fn drop_and_free<T>(ptr: NonNull<T>) {
    /// Frees the memory when dropped: after the `T`'s drop returns or unwinds.
    struct Free<T>(NonNull<T>);
    impl<T> Drop for Free<T> {
        fn drop(&mut self) {
            match ClassOf::<T>::CLASS {
                Some(class) => free_block(class, self.0.cast()),
                // SAFETY: a `T` of no class was allocated as a `Box<MaybeUninit<T>>` (see
                // `allocate`); its value has been dropped, and `MaybeUninit` drops nothing.
                None => drop(unsafe { Box::from_raw(self.0.cast::<MaybeUninit<T>>().as_ptr()) }),
            }
        }
    }
    let free = Free(ptr);
    // SAFETY: the caller hands us the initialized `T` to drop, borrowed by nobody.
    unsafe { ptr::drop_in_place(ptr.as_ptr()) };
    drop(free);
}

/// A block of `class` from this thread's loaded magazine (the fast path: no lock, no atomic),
/// else from [`refill`].
#[inline(always)]
fn allocate_block(class: usize) -> NonNull<u8> {
    let cached = CACHE.try_with(|cache| match cache.try_borrow_mut() {
        Ok(mut cache) => {
            let blocks = &mut cache.classes[class].loaded.blocks;
            let block = blocks.pop();
            if let Some(&next) = blocks.last() {
                prefetch_for_write(next);
            }
            block
        }
        Err(_) => None,
    });
    match cached {
        Ok(Some(block)) => block,
        _ => refill(class),
    }
}

/// Asks for the cache line at `block` in a writable state before the next allocation writes
/// it: a block freed by another thread (a job that thread stole and ran) has its line in that
/// thread's cache, and taking it over costs a cross-core round trip. Asked one allocation
/// ahead, the trip overlaps the work between two allocations instead of filling the store
/// buffer and stalling the spawner (perf on `empty_spawn` with two threads).
#[inline(always)]
fn prefetch_for_write(block: NonNull<u8>) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if has_prefetchw() {
        // SAFETY: the CPU has the instruction (checked above; the check is a cached load). A
        // prefetch is a hint: it neither reads nor writes anything the program can see, and
        // never faults, whatever the address.
        unsafe {
            std::arch::asm!(
                "prefetchw [{0}]",
                in(reg) block.as_ptr(),
                options(nostack, preserves_flags, readonly)
            );
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = block;
}

/// Whether this CPU has `prefetchw` (CPUID leaf 0x8000_0001, ECX bit 8: Intel since Broadwell,
/// AMD since the K6), asked once.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
fn has_prefetchw() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    /// 0: not asked yet, 1: no, 2: yes.
    static HAS: AtomicU8 = AtomicU8::new(0);
    match HAS.load(Ordering::Relaxed) {
        0 => {
            #[cold]
            fn ask() -> bool {
                use std::arch::x86_64::__cpuid;
                // Leaf 0x8000_0000 gives the highest extended leaf, asked before 0x8000_0001.
                let has = __cpuid(0x8000_0000).eax >= 0x8000_0001
                    && __cpuid(0x8000_0001).ecx & (1 << 8) != 0;
                HAS.store(if has { 2 } else { 1 }, Ordering::Relaxed);
                has
            }
            ask()
        }
        known => known == 2,
    }
}

/// A block of `class` once the loaded magazine is empty (see [`Magazines::refill`]), or from the
/// global allocator while this thread's cache is destroyed or busy.
#[cold]
#[inline(never)]
fn refill(class: usize) -> NonNull<u8> {
    let cached = CACHE.try_with(|cache| match cache.try_borrow_mut() {
        Ok(mut cache) => Some(cache.classes[class].refill(class)),
        Err(_) => None,
    });
    match cached {
        Ok(Some(block)) => block,
        _ => allocate_global(class),
    }
}

/// Gives a block of `class` back to this thread's loaded magazine (the fast path), else to
/// [`spill`].
#[inline]
fn free_block(class: usize, block: NonNull<u8>) {
    let kept = CACHE.try_with(|cache| match cache.try_borrow_mut() {
        Ok(mut cache) => cache.classes[class].loaded.try_push(block),
        Err(_) => false,
    });
    if kept != Ok(true) {
        spill(class, block);
    }
}

/// Gives a block of `class` back once the loaded magazine is full (see [`Magazines::spill`]),
/// or to the global allocator while this thread's cache is destroyed or busy.
#[cold]
#[inline(never)]
fn spill(class: usize, block: NonNull<u8>) {
    let kept = CACHE.try_with(|cache| match cache.try_borrow_mut() {
        Ok(mut cache) => {
            cache.classes[class].spill(class, block);
            true
        }
        Err(_) => false,
    });
    if kept != Ok(true) {
        free_global(class, block);
    }
}

fn allocate_global(class: usize) -> NonNull<u8> {
    let layout = class_layout(class);
    // SAFETY: class layouts have a non-zero size.
    let ptr = unsafe { alloc::alloc(layout) };
    NonNull::new(ptr).unwrap_or_else(|| alloc::handle_alloc_error(layout))
}

fn free_global(class: usize, block: NonNull<u8>) {
    // SAFETY: every block of `class` was allocated with `class_layout(class)` (by
    // `allocate_global`), and a free block belongs to whoever holds it, here us.
    unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) };
}

/// A stack of free blocks of one class: [`rounds`] at most, its capacity, which it never grows.
/// A magazine of capacity zero is a placeholder that holds nothing.
#[derive(Default)]
struct Magazine {
    blocks: Vec<NonNull<u8>>,
}

// SAFETY: the blocks are unused memory that the magazine owns; any thread may hand them out or
// free them (every block of a class has the same layout, and the global allocator is not tied
// to a thread).
unsafe impl Send for Magazine {}

impl Magazine {
    const PLACEHOLDER: Magazine = Magazine { blocks: Vec::new() };

    fn new(class: usize) -> Magazine {
        Magazine {
            blocks: Vec::with_capacity(rounds(class)),
        }
    }

    fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// A real magazine, not the placeholder.
    fn is_real(&self) -> bool {
        self.blocks.capacity() > 0
    }

    /// Pushes `block` if the magazine has room; never grows it.
    #[inline]
    fn try_push(&mut self, block: NonNull<u8>) -> bool {
        let room = self.blocks.len() < self.blocks.capacity();
        if room {
            self.blocks.push(block);
        }
        room
    }

    /// Frees every block to the global allocator; the magazine stays, empty.
    fn release(&mut self, class: usize) {
        for block in self.blocks.drain(..) {
            free_global(class, block);
        }
    }
}

/// One thread's two magazines of one class (module docs).
struct Magazines {
    loaded: Magazine,
    previous: Magazine,
}

impl Magazines {
    const PLACEHOLDERS: Magazines = Magazines {
        loaded: Magazine::PLACEHOLDER,
        previous: Magazine::PLACEHOLDER,
    };

    /// A block once `loaded` is empty: from `previous` if it has any (swapping the two), else
    /// from a full magazine of the depot (trading `previous` for it), else from the global
    /// allocator, filling `loaded` half-way on the side.
    fn refill(&mut self, class: usize) -> NonNull<u8> {
        if !self.previous.is_empty() {
            mem::swap(&mut self.loaded, &mut self.previous);
        } else {
            match DEPOTS[class].trade_empty(mem::take(&mut self.previous)) {
                Ok(full) => self.previous = mem::replace(&mut self.loaded, full),
                Err(empty) => {
                    self.previous = empty;
                    if !self.loaded.is_real() {
                        self.loaded = Magazine::new(class);
                    }
                    while self.loaded.blocks.len() < rounds(class) / 2 {
                        self.loaded.blocks.push(allocate_global(class));
                    }
                }
            }
        }
        // Both branches leave blocks in `loaded`: `previous` had some, the depot's full
        // magazines have some, or we just allocated them.
        match self.loaded.blocks.pop() {
            Some(block) => block,
            None => allocate_global(class),
        }
    }

    /// Keeps a block once `loaded` is full: in `previous` if it is empty (swapping the two), else
    /// in an empty magazine traded at the depot for `previous`.
    fn spill(&mut self, class: usize, block: NonNull<u8>) {
        if self.previous.is_empty() && self.previous.is_real() {
            mem::swap(&mut self.loaded, &mut self.previous);
        } else {
            let empty = DEPOTS[class].trade_full(class, mem::take(&mut self.previous));
            self.previous = mem::replace(&mut self.loaded, empty);
        }
        if !self.loaded.try_push(block) {
            // Unreachable: a swapped-in or traded magazine is empty and real.
            free_global(class, block);
        }
    }
}

/// A thread's magazines, one pair per class.
struct ThreadCache {
    classes: [Magazines; CLASSES],
}

impl Drop for ThreadCache {
    fn drop(&mut self) {
        for (class, magazines) in self.classes.iter_mut().enumerate() {
            DEPOTS[class].park(class, mem::take(&mut magazines.loaded));
            DEPOTS[class].park(class, mem::take(&mut magazines.previous));
        }
    }
}

thread_local! {
    /// This thread's magazines (module docs).
    static CACHE: RefCell<ThreadCache> = const {
        RefCell::new(ThreadCache { classes: [Magazines::PLACEHOLDERS; CLASSES] })
    };
}

/// The magazines of one class that no thread holds.
struct Depot {
    lists: Mutex<Lists>,
    /// `lists.full.len()`, written under the lock and read without it, so that a thread finding
    /// the depot empty goes to the global allocator without taking the lock. Relaxed: a hint;
    /// the blocks themselves pass through the lock. A stale zero costs a trip to the global
    /// allocator, a stale non-zero one lock.
    full: AtomicUsize,
}

struct Lists {
    /// Magazines with blocks: full ones, and partly full ones parked at thread exit.
    full: Vec<Magazine>,
    /// Real magazines without blocks.
    empty: Vec<Magazine>,
}

/// One depot per class.
static DEPOTS: [Depot; CLASSES] = [const {
    Depot {
        lists: Mutex::new(Lists {
            full: Vec::new(),
            empty: Vec::new(),
        }),
        full: AtomicUsize::new(0),
    }
}; CLASSES];

impl Depot {
    /// A full magazine for `empty` (which the depot keeps for a freeing thread), or `empty` back
    /// if the depot has no full magazine.
    fn trade_empty(&self, empty: Magazine) -> Result<Magazine, Magazine> {
        if self.full.load(Ordering::Relaxed) == 0 {
            return Err(empty);
        }
        let mut lists = lock(&self.lists);
        let Some(full) = lists.full.pop() else {
            return Err(empty);
        };
        self.full.store(lists.full.len(), Ordering::Relaxed);
        let spare = if empty.is_real() && lists.empty.len() < DEPOT_MAGAZINES {
            lists.empty.push(empty);
            None
        } else {
            Some(empty)
        };
        drop(lists);
        // Outside the lock: dropping a real magazine frees its buffer.
        drop(spare);
        Ok(full)
    }

    /// An empty real magazine for `full`, which the depot keeps for an allocating thread; if the
    /// depot is at its bound, the blocks of `full` go to the global allocator instead and it
    /// comes back emptied.
    fn trade_full(&self, class: usize, mut full: Magazine) -> Magazine {
        if !full.is_empty() {
            let mut lists = lock(&self.lists);
            if lists.full.len() < DEPOT_MAGAZINES {
                lists.full.push(full);
                self.full.store(lists.full.len(), Ordering::Relaxed);
                full = lists.empty.pop().unwrap_or_default();
            }
        }
        // Outside the lock: the global allocator may be slow. `full` is now the rejected
        // magazine, an empty one from the depot, or the placeholder.
        full.release(class);
        if full.is_real() {
            full
        } else {
            Magazine::new(class)
        }
    }

    /// Keeps a magazine of an exiting thread, or frees it.
    fn park(&self, class: usize, mut magazine: Magazine) {
        if magazine.is_real() {
            let mut lists = lock(&self.lists);
            let lists = &mut *lists;
            let list = if magazine.is_empty() {
                &mut lists.empty
            } else {
                &mut lists.full
            };
            if list.len() < DEPOT_MAGAZINES {
                list.push(magazine);
                self.full.store(lists.full.len(), Ordering::Relaxed);
                return;
            }
        }
        magazine.release(class);
    }
}

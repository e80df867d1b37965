//! The tagged heap: frame memory in the Naughty Dog manner.
//!
//! Memory comes in large *chunks* (2 MiB by default). Each allocation (a [`Block`]) names a
//! [`Tag`] (the frame graph tags by frame); the blocks of one tag are carved one after another
//! out of that tag's current chunk. [`TaggedHeap::release`] frees every chunk of a tag at once,
//! back to a free list for the next tag: no per-allocation free, no fragmentation across frames.
//! The free list keeps at most [`Config::heap_reserve_chunks`](crate::Config::heap_reserve_chunks)
//! chunks; a chunk released beyond them goes back to the operating system, so a peak of memory
//! does not stay with the process. Chunks come zeroed from the system without being written
//! (see `pages`): only the pages a tag uses become memory.
//!
//! Safety without trust: a [`Block`] keeps its underlying memory alive, so a block still held
//! when its tag is released is recycled only once that last `Block` is dropped. Releasing early
//! is never a use-after-free; it only delays reuse.

use std::collections::HashMap;
use std::fmt;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, Weak};

use crate::sync::lock;

/// Whose memory an allocation is: all blocks of a tag (all the chunks they are carved from) are
/// freed together.
///
/// ```
/// let tag = jobs::Tag(42); // e.g. the frame number
/// assert_eq!(tag.0, 42);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u64);

/// Why memory could not be had.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryError {
    /// The alignment was not a power of two, or above 4096.
    BadAlignment(usize),
    /// The system allocator refused.
    OutOfMemory {
        /// Bytes asked for.
        size: usize,
    },
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryError::BadAlignment(a) => {
                write!(f, "alignment {a} is not a power of two of at most 4096")
            }
            MemoryError::OutOfMemory { size } => write!(f, "out of memory allocating {size} bytes"),
        }
    }
}

impl std::error::Error for MemoryError {}

const BLOCK_ALIGN: usize = 4096;

/// The tagged heap's settings, from [`Config`](crate::Config).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeapSettings {
    /// Bytes in one chunk.
    pub(crate) chunk_size: usize,
    /// Released chunks kept for reuse; a chunk released beyond them goes back to the system.
    pub(crate) reserve_chunks: usize,
}

/// Where chunks come from and go back to.
///
/// On Linux, pages mapped straight from the kernel: they read as zero without being touched
/// (a page becomes memory on its first write), and unmapping gives them back at once. The
/// global allocator does neither for chunks: glibc serves a 4096-aligned request with
/// `posix_memalign`, which `alloc_zeroed` then fills with zeros page by page (2,000 chunks of
/// 2 MiB were 4 GB resident for 8 bytes each); and after the first large free glibc raises its
/// mmap threshold, so later chunks come from an arena that returns memory only from its top.
/// Elsewhere (and under Miri), the global allocator, zeroed.
mod pages {
    use std::ptr::NonNull;

    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64"),
        not(miri)
    ))]
    mod imp {
        use std::ffi::{c_int, c_void};
        use std::ptr::NonNull;

        // The C library's, which std links on Linux; the constants are those of
        // <sys/mman.h> on x86_64 and aarch64.
        extern "C" {
            fn mmap(
                addr: *mut c_void,
                len: usize,
                prot: c_int,
                flags: c_int,
                fd: c_int,
                offset: i64,
            ) -> *mut c_void;
            fn munmap(addr: *mut c_void, len: usize) -> c_int;
        }
        const PROT_READ: c_int = 0x1;
        const PROT_WRITE: c_int = 0x2;
        const MAP_PRIVATE: c_int = 0x02;
        const MAP_ANONYMOUS: c_int = 0x20;
        const MAP_FAILED: *mut c_void = usize::MAX as *mut c_void;

        pub(super) fn allocate(size: usize) -> Option<NonNull<u8>> {
            // SAFETY: a new private anonymous mapping: no address hint, no file; it aliases
            // nothing. Its pages are zero and page-aligned (pages are at least 4096 bytes on
            // these targets, so `BLOCK_ALIGN` holds).
            let ptr = unsafe {
                mmap(
                    std::ptr::null_mut(),
                    size,
                    PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if ptr == MAP_FAILED {
                return None;
            }
            NonNull::new(ptr.cast())
        }

        /// # Safety
        /// `ptr` and `size` are those of one `allocate`, not yet freed, and nothing refers to
        /// the memory any more.
        pub(super) unsafe fn free(ptr: NonNull<u8>, size: usize) {
            // SAFETY: see the function's contract. It cannot fail for a whole mapping.
            unsafe { munmap(ptr.as_ptr().cast(), size) };
        }
    }

    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64"),
        not(miri)
    )))]
    mod imp {
        use std::alloc::{self, Layout};
        use std::ptr::NonNull;

        use super::super::BLOCK_ALIGN;

        pub(super) fn allocate(size: usize) -> Option<NonNull<u8>> {
            let layout = Layout::from_size_align(size, BLOCK_ALIGN).ok()?;
            // SAFETY: the layout's size is not zero (see `pages::allocate`).
            NonNull::new(unsafe { alloc::alloc_zeroed(layout) })
        }

        /// # Safety
        /// `ptr` and `size` are those of one `allocate`, not yet freed, and nothing refers to
        /// the memory any more.
        pub(super) unsafe fn free(ptr: NonNull<u8>, size: usize) {
            // SAFETY: allocated by `allocate` with this layout, which was valid then.
            unsafe {
                alloc::dealloc(
                    ptr.as_ptr(),
                    Layout::from_size_align_unchecked(size, BLOCK_ALIGN),
                )
            };
        }
    }

    /// `size` (more than zero) bytes of zeros aligned to `BLOCK_ALIGN`, or `None` if the system
    /// has no memory (or address space) for them.
    pub(super) fn allocate(size: usize) -> Option<NonNull<u8>> {
        debug_assert!(size > 0);
        imp::allocate(size)
    }

    /// Gives the memory back to the system.
    ///
    /// # Safety
    /// `ptr` and `size` are those of one `allocate`, not yet freed, and nothing refers to the
    /// memory any more.
    pub(super) unsafe fn free(ptr: NonNull<u8>, size: usize) {
        // SAFETY: the caller's promise is `imp::free`'s.
        unsafe { imp::free(ptr, size) }
    }
}

/// One chunk of memory from the system.
struct Chunk {
    ptr: NonNull<u8>,
    size: usize,
    /// Where the memory goes when the last reference is dropped; none for oversized chunks.
    free_list: Weak<FreeList>,
}

// SAFETY: a Chunk owns its memory; the bytes are handed out in disjoint `Block`s.
unsafe impl Send for Chunk {}
// SAFETY: as above; a shared `Chunk` is only used to reach the disjoint ranges of `Block`s.
unsafe impl Sync for Chunk {}

impl Chunk {
    fn new(size: usize, free_list: Weak<FreeList>) -> Result<Chunk, MemoryError> {
        // Zero when made, so every byte handed out is initialized (reused chunks keep the bytes
        // of their last user).
        let ptr = pages::allocate(size.max(1)).ok_or(MemoryError::OutOfMemory { size })?;
        Ok(Chunk {
            ptr,
            size: size.max(1),
            free_list,
        })
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: allocated in `Chunk::new` with this size; a chunk is dropped only when no
        // `Block` (no `Live`) refers to it any more.
        unsafe { pages::free(self.ptr, self.size) };
    }
}

/// Released chunks kept for reuse: at most `reserve` of them.
struct FreeList {
    chunks: Mutex<Vec<Chunk>>,
    reserve: usize,
}

/// A chunk while some tag or block uses it; when dropped, returns the memory to the free list,
/// or to the system if the reserve is full.
struct Live(Option<Chunk>);

impl Drop for Live {
    fn drop(&mut self) {
        let Some(chunk) = self.0.take() else { return };
        if let Some(free_list) = chunk.free_list.upgrade() {
            let mut chunks = lock(&free_list.chunks);
            if chunks.len() < free_list.reserve {
                chunks.push(chunk);
                return;
            }
        }
        // The heap is gone or its reserve is full: back to the system, outside the lock.
        drop(chunk);
    }
}

impl Live {
    fn chunk(&self) -> &Chunk {
        self.0
            .as_ref()
            .expect("a live chunk holds its memory until dropped")
    }
}

/// Memory handed out by the tagged heap: `len` bytes, exclusively this block's.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1))?;
/// let frame = jobs::Tag(7);
/// let mut block = system.heap().allocate_bytes(frame, 1024, 16)?;
/// block.as_mut_slice()[0] = 1;
/// let floats: &mut [f32] = block.cast_slice_mut();
/// assert_eq!(floats.len(), 256);
/// drop(block);
/// system.heap().release(frame); // every block of frame 7 goes back at once
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Block {
    chunk: Arc<Live>,
    offset: usize,
    len: usize,
}

impl Block {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the block holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `offset..offset + len` lies inside the chunk, which `self.chunk` keeps alive;
        // no other block overlaps it; every byte is initialized (chunks are zero when made).
        unsafe {
            std::slice::from_raw_parts(self.chunk.chunk().ptr.as_ptr().add(self.offset), self.len)
        }
    }

    /// The bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only access to the range.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.chunk.chunk().ptr.as_ptr().add(self.offset),
                self.len,
            )
        }
    }

    /// The bytes as plain-old-data values ([`Pod`](crate::Pod): as many whole `T` as fit).
    /// The block's alignment must suit `T`: ask for it in the request (a block of too small an
    /// alignment panics here, as `bytemuck` does).
    pub fn cast_slice_mut<T: bytemuck::Pod>(&mut self) -> &mut [T] {
        let whole = self.whole_bytes::<T>();
        bytemuck::cast_slice_mut(&mut self.as_mut_slice()[..whole])
    }

    /// The bytes as plain-old-data values, for reading (as
    /// [`cast_slice_mut`](Self::cast_slice_mut)).
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(1))?;
    /// let mut block = system.heap().allocate_bytes(jobs::Tag(1), 16, 4)?;
    /// block.cast_slice_mut::<u32>().copy_from_slice(&[1, 2, 3, 4]);
    /// let read: &[u32] = block.cast_slice();
    /// assert_eq!(read.iter().sum::<u32>(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cast_slice<T: bytemuck::Pod>(&self) -> &[T] {
        let whole = self.whole_bytes::<T>();
        bytemuck::cast_slice(&self.as_slice()[..whole])
    }

    /// The bytes that hold whole `T`s (none for a zero-sized `T`).
    fn whole_bytes<T>(&self) -> usize {
        let size = std::mem::size_of::<T>();
        self.len / size.max(1) * size
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block").field("len", &self.len).finish()
    }
}

struct TagState {
    /// The chunk being carved, and how far.
    current: Option<(Arc<Live>, usize)>,
    /// Every chunk of the tag, released together.
    chunks: Vec<Arc<Live>>,
}

/// Heap statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Tags holding memory.
    pub live_tags: usize,
    /// Chunks owned by live tags.
    pub live_chunks: usize,
    /// Chunks on the free list, ready for reuse: at most
    /// [`Config::heap_reserve_chunks`](crate::Config::heap_reserve_chunks).
    pub free_chunks: usize,
}

/// Memory by tag, carved from large chunks; every chunk of a tag freed at once. How it works:
/// `jobs/src/heap.rs`.
pub struct TaggedHeap {
    chunk_size: usize,
    tags: Mutex<HashMap<Tag, TagState>>,
    free_list: Arc<FreeList>,
}

impl TaggedHeap {
    pub(crate) fn new(settings: HeapSettings) -> Self {
        TaggedHeap {
            chunk_size: settings.chunk_size,
            tags: Mutex::new(HashMap::new()),
            free_list: Arc::new(FreeList {
                chunks: Mutex::new(Vec::new()),
                reserve: settings.reserve_chunks,
            }),
        }
    }

    /// The size of one chunk.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// `size` bytes aligned to `align`, freed when `tag` is released. A request larger than a
    /// chunk gets a chunk of its own.
    pub fn allocate_bytes(
        &self,
        tag: Tag,
        size: usize,
        align: usize,
    ) -> Result<Block, MemoryError> {
        self.allocate(MemoryRequest { tag, size, align })
    }

    pub(crate) fn allocate(&self, request: MemoryRequest) -> Result<Block, MemoryError> {
        let MemoryRequest { tag, size, align } = request;
        if !align.is_power_of_two() || align > BLOCK_ALIGN {
            return Err(MemoryError::BadAlignment(align));
        }
        let mut tags = lock(&self.tags);
        if let Some(TagState {
            current: Some((live, used)),
            ..
        }) = tags.get_mut(&tag)
        {
            let offset = used.next_multiple_of(align);
            // Checked: a huge request must fail, not wrap around to a bogus offset.
            if let Some(end) = offset
                .checked_add(size)
                .filter(|&end| end <= live.chunk().size)
            {
                *used = end;
                return Ok(Block {
                    chunk: Arc::clone(live),
                    offset,
                    len: size,
                });
            }
        }
        // A new chunk, taken before the tag is recorded, so that a failure leaves no empty tag.
        let chunk = self.take_chunk(size)?;
        let state = tags.entry(tag).or_insert_with(|| TagState {
            current: None,
            chunks: Vec::new(),
        });
        let live = Arc::new(Live(Some(chunk)));
        state.chunks.push(Arc::clone(&live));
        if size <= self.chunk_size {
            state.current = Some((Arc::clone(&live), size));
        }
        Ok(Block {
            chunk: live,
            offset: 0,
            len: size,
        })
    }

    fn take_chunk(&self, size: usize) -> Result<Chunk, MemoryError> {
        if size > self.chunk_size {
            return Chunk::new(size, Weak::new());
        }
        if let Some(chunk) = lock(&self.free_list.chunks).pop() {
            return Ok(chunk);
        }
        Chunk::new(self.chunk_size, Arc::downgrade(&self.free_list))
    }

    /// Frees every chunk of `tag`: each goes back to the free list, at once if no [`Block`] of
    /// it is still held, else when the last one is dropped; a chunk that finds the free list
    /// holding [`Config::heap_reserve_chunks`](crate::Config::heap_reserve_chunks) already goes
    /// back to the operating system. Returns the number of chunks.
    pub fn release(&self, tag: Tag) -> usize {
        let state = lock(&self.tags).remove(&tag);
        state.map_or(0, |state| state.chunks.len())
    }

    /// A snapshot of the heap's use.
    pub fn stats(&self) -> HeapStats {
        let tags = lock(&self.tags);
        HeapStats {
            live_tags: tags.len(),
            live_chunks: tags.values().map(|t| t.chunks.len()).sum(),
            free_chunks: lock(&self.free_list.chunks).len(),
        }
    }
}

/// A request for memory from the tagged heap: `size` bytes aligned to `align`, freed when `tag`
/// is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRequest {
    /// Whose memory it is: all blocks of a tag are freed together (with its chunks).
    pub tag: Tag,
    /// Bytes wanted.
    pub size: usize,
    /// Alignment: a power of two, at most 4096.
    pub align: usize,
}

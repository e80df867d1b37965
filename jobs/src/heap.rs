//! The tagged heap: frame memory in the Naughty Dog manner.
//!
//! Memory comes in large blocks (2 MiB by default). Each allocation names a [`Tag`] (the frame
//! graph tags by frame); allocations of one tag are carved one after another out of that tag's
//! current block. [`TaggedHeap::release`] frees every block of a tag at once, back to a free list
//! for the next tag: no per-allocation free, no fragmentation across frames.
//!
//! Safety without trust: a [`Block`] keeps its underlying memory alive, so a block still held
//! when its tag is released is recycled only once that last `Block` is dropped. Releasing early
//! is never a use-after-free; it only delays reuse.

use std::alloc::{self, Layout};
use std::collections::HashMap;
use std::fmt;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, Weak};

use crate::action::MemoryRequest;
use crate::sync::lock;

/// Whose memory an allocation is: all blocks of a tag are freed together.
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

/// One block of memory from the system allocator.
struct Chunk {
    ptr: NonNull<u8>,
    size: usize,
    /// Where the memory goes when the last reference is dropped; none for oversized chunks.
    free_list: Weak<Mutex<Vec<Chunk>>>,
}

// SAFETY: a Chunk owns its memory; the bytes are handed out in disjoint `Block`s.
unsafe impl Send for Chunk {}
// SAFETY: as above; a shared `Chunk` is only used to reach the disjoint ranges of `Block`s.
unsafe impl Sync for Chunk {}

impl Chunk {
    fn new(size: usize, free_list: Weak<Mutex<Vec<Chunk>>>) -> Result<Chunk, MemoryError> {
        // `from_size_align` refuses sizes that overflow `isize` once rounded to the alignment.
        let layout = Layout::from_size_align(size.max(1), BLOCK_ALIGN)
            .map_err(|_| MemoryError::OutOfMemory { size })?;
        // SAFETY: the layout has a non-zero size. Zeroed, so every byte handed out is
        // initialized (reused blocks keep the bytes of their last user).
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or(MemoryError::OutOfMemory { size })?;
        Ok(Chunk {
            ptr,
            size: size.max(1),
            free_list,
        })
    }
}

/// A chunk while some tag or block uses it; returns the memory to the free list when dropped.
struct Live(Option<Chunk>);

impl Drop for Live {
    fn drop(&mut self) {
        let Some(chunk) = self.0.take() else { return };
        if let Some(free_list) = chunk.free_list.upgrade() {
            lock(&free_list).push(chunk);
        } else {
            drop(chunk);
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: allocated in `Chunk::new` with this size and alignment.
        unsafe {
            alloc::dealloc(
                self.ptr.as_ptr(),
                Layout::from_size_align_unchecked(self.size, BLOCK_ALIGN),
            )
        };
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
        // no other block overlaps it; every byte is initialized (chunks are zeroed when made).
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

    /// The bytes as plain-old-data values (as many whole `T` as fit). The block's alignment must
    /// suit `T`: ask for it in the request.
    pub fn cast_slice_mut<T: bytemuck::Pod>(&mut self) -> &mut [T] {
        let whole = self.len / std::mem::size_of::<T>().max(1) * std::mem::size_of::<T>();
        bytemuck::cast_slice_mut(&mut self.as_mut_slice()[..whole])
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block").field("len", &self.len).finish()
    }
}

struct TagState {
    /// The block being carved, and how far.
    current: Option<(Arc<Live>, usize)>,
    /// Every block of the tag, released together.
    blocks: Vec<Arc<Live>>,
}

/// Heap statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Tags holding memory.
    pub live_tags: usize,
    /// Blocks owned by live tags.
    pub live_blocks: usize,
    /// Blocks on the free list, ready for reuse.
    pub free_blocks: usize,
}

/// Large blocks, tagged; every block of a tag freed at once. How it works: `jobs/src/heap.rs`.
pub struct TaggedHeap {
    block_size: usize,
    tags: Mutex<HashMap<Tag, TagState>>,
    free_list: Arc<Mutex<Vec<Chunk>>>,
}

impl TaggedHeap {
    pub(crate) fn new(block_size: usize) -> Self {
        TaggedHeap {
            block_size,
            tags: Mutex::new(HashMap::new()),
            free_list: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The size of one block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// `size` bytes aligned to `align`, freed when `tag` is released. A request larger than a
    /// block gets a block of its own.
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
            // Checked: a huge request must fail, not wrap around to a bogus block.
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
        // A new block, taken before the tag is recorded, so that a failure leaves no empty tag.
        let chunk = self.take_chunk(size)?;
        let state = tags.entry(tag).or_insert_with(|| TagState {
            current: None,
            blocks: Vec::new(),
        });
        let live = Arc::new(Live(Some(chunk)));
        state.blocks.push(Arc::clone(&live));
        if size <= self.block_size {
            state.current = Some((Arc::clone(&live), size));
        }
        Ok(Block {
            chunk: live,
            offset: 0,
            len: size,
        })
    }

    fn take_chunk(&self, size: usize) -> Result<Chunk, MemoryError> {
        if size > self.block_size {
            return Chunk::new(size, Weak::new());
        }
        if let Some(chunk) = lock(&self.free_list).pop() {
            return Ok(chunk);
        }
        Chunk::new(self.block_size, Arc::downgrade(&self.free_list))
    }

    /// Frees every block of `tag`: each goes back to the free list, at once if no [`Block`] of
    /// it is still held, else when the last one is dropped. Returns the number of blocks.
    pub fn release(&self, tag: Tag) -> usize {
        let state = lock(&self.tags).remove(&tag);
        state.map_or(0, |state| state.blocks.len())
    }

    /// A snapshot of the heap's use.
    pub fn stats(&self) -> HeapStats {
        let tags = lock(&self.tags);
        HeapStats {
            live_tags: tags.len(),
            live_blocks: tags.values().map(|t| t.blocks.len()).sum(),
            free_blocks: lock(&self.free_list).len(),
        }
    }
}

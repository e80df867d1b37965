//! A lane: one thread's log of spans, written without locks or read-modify-write atomics.
//!
//! ## Protocol
//! A lane has exactly one writer at a time (a worker for its whole life, the main thread, an I/O
//! thread, or a helper thread that borrowed the lane from the recorder's pool under its lock),
//! and one reader at a time (whoever holds the `reader` lock: the recorder when it collects).
//!
//! The writer appends spans to a chain of fixed-size chunks. Writing a span is a plain store
//! into the tail chunk's next slot, then a `Release` store of the chunk's length: a reader that
//! loads the length with `Acquire` sees every span below it fully written, and never reads a
//! slot at or above it (where the writer may be writing). When the tail chunk is full, the
//! writer links a new one (`Release` on the old chunk's `next`) and never touches the old one
//! again. So the reader, after reading a chunk up to its length, frees the chunk once `next` is
//! set (reading the last spans first: the chunk is full by then); it never frees the tail.
//!
//! Memory is bounded by a budget of chunks shared by all lanes of a recorder. A writer that
//! needs a chunk when the budget is spent drops the span and counts it in `dropped`; chunks the
//! reader frees go back to the budget.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr::{self, addr_of_mut};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::sync::lock;

use crate::meta::Inherit;
use crate::Label;
/// Spans per chunk: 96 KiB of spans, one allocation per 4096 jobs.
pub(crate) const CHUNK: usize = 4096;

/// One run of a job on a lane, in ticks (24 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawSpan {
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// Modulo 2^32; meaningful if `in_frame`.
    pub(crate) frame: u32,
    pub(crate) label: Label,
    /// `Priority::index()`.
    pub(crate) priority: u8,
    pub(crate) in_frame: bool,
}

impl RawSpan {
    /// A span of a job with `inherit`'s label, frame and priority.
    #[inline]
    pub(crate) fn new(start: u64, end: u64, inherit: Inherit) -> RawSpan {
        RawSpan {
            start,
            end,
            frame: inherit.frame.unwrap_or(0),
            label: inherit.label,
            priority: inherit.priority.index() as u8,
            in_frame: inherit.frame.is_some(),
        }
    }
}

struct Chunk {
    /// Spans written; `Release` by the writer after each span.
    len: AtomicUsize,
    /// The next chunk, set once by the writer when this one is full.
    next: AtomicPtr<Chunk>,
    /// Reached only through raw pointers (the two sides touch disjoint slots at once).
    spans: [MaybeUninit<RawSpan>; CHUNK],
}

impl Chunk {
    fn allocate() -> *mut Chunk {
        let mut chunk = Box::<Chunk>::new_uninit();
        let ptr = chunk.as_mut_ptr();
        // SAFETY: `ptr` points to memory for one `Chunk`; the two atomics are initialized here,
        // and `spans` is an array of `MaybeUninit`, valid uninitialized.
        unsafe {
            addr_of_mut!((*ptr).len).write(AtomicUsize::new(0));
            addr_of_mut!((*ptr).next).write(AtomicPtr::new(ptr::null_mut()));
            Box::into_raw(chunk.assume_init())
        }
    }

    /// A pointer to slot `index`, made without a reference to the array (the reader and the
    /// writer touch different slots at the same time; Miri checks that neither borrows the
    /// whole array).
    ///
    /// # Safety
    /// `chunk` is live and `index < CHUNK`.
    unsafe fn slot(chunk: *mut Chunk, index: usize) -> *mut MaybeUninit<RawSpan> {
        debug_assert!(index < CHUNK);
        // SAFETY: in bounds of the live chunk's array, per the contract.
        unsafe {
            addr_of_mut!((*chunk).spans)
                .cast::<MaybeUninit<RawSpan>>()
                .add(index)
        }
    }

    /// # Safety
    /// `chunk` is live and slot `index` is below a length loaded with `Acquire` (or the caller
    /// is the writer, which wrote it).
    unsafe fn read(chunk: *mut Chunk, index: usize) -> RawSpan {
        // SAFETY: per the contract, the slot is written and nobody writes it any more.
        unsafe { Chunk::slot(chunk, index).read().assume_init() }
    }
}

/// The writer's position: only the lane's current writer touches it.
struct Tail {
    chunk: *mut Chunk,
    len: usize,
}

/// The reader's position: behind the `reader` lock.
struct Head {
    chunk: *mut Chunk,
    read: usize,
}

/// One thread's log (module docs).
pub(crate) struct Lane {
    tail: UnsafeCell<Tail>,
    /// A chunk the writer prepared while idle, to link when the tail fills (its budget already
    /// taken), or null: writer-only, like `tail`. Fresh memory costs page faults on first touch
    /// (milliseconds on some virtual machines): paid while idle, not between two jobs.
    spare: UnsafeCell<*mut Chunk>,
    /// The first chunk, published once by the writer for a reader that has none yet.
    first: AtomicPtr<Chunk>,
    reader: Mutex<Head>,
    /// Spans dropped because the budget was spent.
    dropped: AtomicU64,
}

// SAFETY: `tail` is touched only by the lane's single writer (module docs); everything else is
// atomics or behind the lock. The chunks are plain memory owned by the lane.
unsafe impl Sync for Lane {}
// SAFETY: as above; raw pointers to chunks the lane owns.
unsafe impl Send for Lane {}

impl Lane {
    pub(crate) fn new() -> Lane {
        Lane {
            tail: UnsafeCell::new(Tail {
                chunk: ptr::null_mut(),
                len: 0,
            }),
            spare: UnsafeCell::new(ptr::null_mut()),
            first: AtomicPtr::new(ptr::null_mut()),
            reader: Mutex::new(Head {
                chunk: ptr::null_mut(),
                read: 0,
            }),
            dropped: AtomicU64::new(0),
        }
    }

    /// Appends `span`, or counts it dropped if it needs a chunk and `budget` has none left.
    ///
    /// # Safety
    /// The caller is the lane's only writer for now (module docs).
    #[inline]
    pub(crate) unsafe fn push(&self, span: RawSpan, budget: &Budget) {
        // SAFETY: only the single writer touches `tail`.
        let tail = unsafe { &mut *self.tail.get() };
        if (tail.chunk.is_null() || tail.len == CHUNK) && !self.grow(tail, budget) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: slot `len` of the tail chunk is beyond every length published so far, so no
        // reader touches it; the chunk lives until the reader frees it, after the writer left it.
        unsafe { Chunk::slot(tail.chunk, tail.len).write(MaybeUninit::new(span)) };
        tail.len += 1;
        // SAFETY: the tail chunk is live (see above).
        unsafe { (*tail.chunk).len.store(tail.len, Ordering::Release) };
    }

    /// Prepares the next chunk now, if the tail chunk is at least half full and none is
    /// prepared yet (and the budget allows): for a writer about to go idle, so that the first
    /// touch of the new memory happens there rather than on the job path.
    ///
    /// # Safety
    /// As [`push`](Self::push): the caller is the lane's only writer.
    pub(crate) unsafe fn prepare(&self, budget: &Budget) {
        // SAFETY: only the single writer touches `tail` and `spare`.
        let (tail, spare) = unsafe { (&*self.tail.get(), &mut *self.spare.get()) };
        if !spare.is_null() || tail.chunk.is_null() || tail.len < CHUNK / 2 || !budget.take() {
            return;
        }
        let chunk = Chunk::allocate();
        // Touch every page of the spans once (they are `MaybeUninit`: any byte is valid).
        // SAFETY: `chunk` is a fresh allocation nobody else sees; the offsets stay inside its
        // spans array.
        unsafe {
            let spans = addr_of_mut!((*chunk).spans).cast::<u8>();
            for offset in (0..std::mem::size_of::<[MaybeUninit<RawSpan>; CHUNK]>()).step_by(4096) {
                spans.add(offset).write_volatile(0);
            }
        }
        *spare = chunk;
    }

    #[cold]
    fn grow(&self, tail: &mut Tail, budget: &Budget) -> bool {
        // SAFETY: only the single writer (the caller, through `push`) touches `spare`.
        let spare = unsafe { &mut *self.spare.get() };
        let chunk = if spare.is_null() {
            if !budget.take() {
                return false;
            }
            Chunk::allocate()
        } else {
            // Prepared while idle; its budget is taken already.
            std::mem::replace(spare, ptr::null_mut())
        };
        if tail.chunk.is_null() {
            self.first.store(chunk, Ordering::Release);
        } else {
            // SAFETY: the old tail is full and still live (the reader frees a chunk only once
            // `next` is set, which happens here).
            unsafe { (*tail.chunk).next.store(chunk, Ordering::Release) };
        }
        tail.chunk = chunk;
        tail.len = 0;
        true
    }

    /// Hands every span written so far to `f`, oldest first, and frees the chunks the writer
    /// has left. Returns, and resets, the count of dropped spans.
    pub(crate) fn drain(&self, budget: &Budget, mut f: impl FnMut(RawSpan)) -> u64 {
        let mut head = lock(&self.reader);
        if head.chunk.is_null() {
            head.chunk = self.first.load(Ordering::Acquire);
            head.read = 0;
        }
        while !head.chunk.is_null() {
            let chunk = head.chunk;
            // SAFETY: the reader frees a chunk only here, after the writer has left it; `chunk`
            // is the oldest one not freed.
            let len = unsafe { (*chunk).len.load(Ordering::Acquire) };
            while head.read < len {
                // SAFETY: below a length loaded with Acquire.
                f(unsafe { Chunk::read(chunk, head.read) });
                head.read += 1;
            }
            // SAFETY: as above.
            let next = unsafe { (*chunk).next.load(Ordering::Acquire) };
            if next.is_null() {
                break;
            }
            // The writer has left this chunk, full: read what was written since the length
            // was loaded, then free it.
            // SAFETY: as above; `next` was set after the last span, so this sees them all.
            let len = unsafe { (*chunk).len.load(Ordering::Acquire) };
            while head.read < len {
                // SAFETY: as above.
                f(unsafe { Chunk::read(chunk, head.read) });
                head.read += 1;
            }
            // SAFETY: allocated by `Chunk::allocate`; the writer never touches it again and
            // the reader moves past it now.
            drop(unsafe { Box::from_raw(chunk) });
            budget.give_back();
            head.chunk = next;
            head.read = 0;
        }
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        let spare = std::mem::replace(self.spare.get_mut(), ptr::null_mut());
        if !spare.is_null() {
            // SAFETY: allocated by `Chunk::allocate` in `prepare`, never linked, no writer left.
            drop(unsafe { Box::from_raw(spare) });
        }
        let head = self.reader.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut chunk = if head.chunk.is_null() {
            *self.first.get_mut()
        } else {
            head.chunk
        };
        while !chunk.is_null() {
            // SAFETY: `&mut self`: no writer nor reader is left; every chunk from the reader's
            // position on is live and owned by the lane.
            let boxed = unsafe { Box::from_raw(chunk) };
            chunk = boxed.next.load(Ordering::Acquire);
        }
    }
}

/// How many chunks the lanes of one recorder may hold at once.
pub(crate) struct Budget {
    left: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(chunks: usize) -> Budget {
        Budget {
            left: AtomicUsize::new(chunks),
        }
    }

    /// Bytes of spans that `chunks` chunks hold.
    pub(crate) fn chunks_for(bytes: usize) -> usize {
        (bytes / std::mem::size_of::<Chunk>()).max(1)
    }

    fn take(&self) -> bool {
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        self.left.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(i: u64) -> RawSpan {
        RawSpan {
            start: i,
            end: i + 1,
            frame: 0,
            label: Label::NONE,
            priority: 1,
            in_frame: false,
        }
    }

    #[test]
    fn a_reader_sees_every_span_once_while_the_writer_writes() {
        let lane = Lane::new();
        let budget = Budget::new(4);
        let total = (CHUNK * 10) as u64;
        let mut seen = Vec::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..total {
                    // Budget: 4 chunks in flight; wait for the reader when it is spent.
                    loop {
                        let before = lane.dropped.load(Ordering::Relaxed);
                        // SAFETY: this thread is the only writer.
                        unsafe { lane.push(span(i), &budget) };
                        if lane.dropped.load(Ordering::Relaxed) == before {
                            break;
                        }
                        lane.dropped.fetch_sub(1, Ordering::Relaxed);
                        std::thread::yield_now();
                    }
                }
            });
            while (seen.len() as u64) < total {
                lane.drain(&budget, |s| seen.push(s.start));
                std::thread::yield_now();
            }
        });
        assert!(seen.iter().copied().eq(0..total));
    }

    #[test]
    fn a_spent_budget_drops_and_counts() {
        let lane = Lane::new();
        let budget = Budget::new(1);
        for i in 0..(CHUNK as u64 + 10) {
            // SAFETY: this thread is the only writer.
            unsafe { lane.push(span(i), &budget) };
        }
        let mut kept = 0;
        let dropped = lane.drain(&budget, |_| kept += 1);
        assert_eq!((kept, dropped), (CHUNK, 10));
    }

    #[test]
    fn a_chunk_prepared_while_idle_is_linked_when_the_tail_fills_and_counts_in_the_budget() {
        let lane = Lane::new();
        let budget = Budget::new(2);
        let push = |from: u64, to: u64| {
            for i in from..to {
                // SAFETY: this thread is the only writer.
                unsafe { lane.push(span(i), &budget) };
            }
        };
        let half = CHUNK as u64 / 2;
        push(0, half - 1);
        // SAFETY: as above. Less than half full: nothing prepared, the budget untouched.
        unsafe { lane.prepare(&budget) };
        assert_eq!(budget.left.load(Ordering::Relaxed), 1);
        push(half - 1, half);
        // SAFETY: as above. Half full: the next chunk is prepared, and takes the budget's last.
        unsafe { lane.prepare(&budget) };
        assert_eq!(budget.left.load(Ordering::Relaxed), 0);
        // SAFETY: as above. Prepared once only.
        unsafe { lane.prepare(&budget) };
        // The tail fills: the prepared chunk is linked without the (spent) budget.
        push(half, CHUNK as u64 + 10);
        let mut seen = Vec::new();
        let dropped = lane.drain(&budget, |s| seen.push(s.start));
        assert_eq!(dropped, 0);
        assert!(seen.iter().copied().eq(0..CHUNK as u64 + 10));
        // The first chunk went back to the budget; the second is the tail.
        assert_eq!(budget.left.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_prepared_chunk_never_linked_is_freed_with_its_lane() {
        // Miri's leak check (and ASan) would see it lost otherwise.
        let lane = Lane::new();
        let budget = Budget::new(4);
        for i in 0..CHUNK as u64 / 2 {
            // SAFETY: this thread is the only writer.
            unsafe { lane.push(span(i), &budget) };
        }
        // SAFETY: as above.
        unsafe { lane.prepare(&budget) };
        assert_eq!(budget.left.load(Ordering::Relaxed), 2);
        drop(lane);
    }
}

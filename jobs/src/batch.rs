//! Batches: many jobs that share one body and one counter, run by a few runner jobs.
//!
//! A batch of `n` items with body `f` is what Naughty Dog's `RunJobs` with an array of `n` job
//! declarations is. Instead of `n` allocations and `n` queue operations, the batch is one shared
//! `Chunks` with an atomic cursor over its chunks, and as many runner jobs as there are threads
//! running jobs (the workers, and the main thread when it helps). Each runner claims one chunk of `grain` items at a time with one `fetch_add` and runs it.
//!
//! ## Counting
//! Only the runners are counted on the batch's counter (or parent), one each: a runner finishes
//! when the cursor is past the last chunk and its own chunks have run, so when the last runner
//! has finished every item has, and nothing holds the body any more. The count is exact for any
//! number of items (a batch of 2^40 items counts as a handful of jobs), and the cursor counts
//! chunks, so it stays below `chunks + runners` and never wraps. The items are counted in the
//! statistics as jobs finished.
//!
//! A runner of a Normal or Low batch looks between items whether higher-priority work is
//! waiting, and yields if so, keeping the rest of its chunk. A look reads a few shared words
//! (about 20 instructions, three times what running an empty item costs), so a runner whose
//! items are short looks only every so many of them ([`Pace`]): after every item while a few
//! items take longer than [`LOOK_EVERY`], and at most every [`MAX_STRIDE`] items, so that
//! higher-priority work waits for such a runner about [`LOOK_EVERY`] (or one item). The pace
//! follows the items' length over the last few looks: a runner whose items have been tiny and
//! turn long looks again after up to [`MAX_STRIDE`] of the long ones, then at once more often.

use std::num::NonZeroUsize;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::action::Action;
use crate::config::ConfigError;
use crate::job::{Completion, Job};
use crate::panic::{drop_payload, Payload};
use crate::{Context, Priority};

/// A pointer to the items of a `for_each_mut`, shared by its chunks.
struct SendPtr<T>(*mut T);

// SAFETY: the chunks that share it touch disjoint items (`each_mut`'s contract), and `T: Send`.
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SendPtr<T> {}

/// The chunk body of a `for_each_mut` over `items`: `body(i, &mut items[i])` for each `i` of a
/// chunk.
///
/// # Safety
/// The returned body is called only on ranges within `0..items.len()` that never overlap, and
/// only while `items` stays mutably borrowed (the caller keeps the borrow until every chunk has
/// run).
pub(crate) unsafe fn each_mut<T, F>(items: &mut [T], body: F) -> impl Fn(Range<usize>) + Send + Sync
where
    T: Send,
    F: Fn(usize, &mut T) + Send + Sync,
{
    let base = SendPtr(items.as_mut_ptr());
    move |chunk: Range<usize>| {
        let base = &base;
        for i in chunk {
            // SAFETY: in bounds, never handed out twice, and still borrowed (the contract).
            body(i, unsafe { &mut *base.0.add(i) });
        }
    }
}

/// How many items a batch hands out at a time (the grain size, or "min range" in enkiTS).
///
/// Pick a grain so that one chunk costs at least about 10 us: then the cost of claiming it (one
/// atomic operation that other workers may contend on) is noise, and there are still enough
/// chunks to balance the load. `Auto` cuts the range into 8 chunks per thread running jobs.
///
/// ```
/// use jobs::Grain;
/// assert!(Grain::fixed(256).is_ok());
/// assert!(Grain::fixed(0).is_err()); // a zero grain is an error, not a silent fallback
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Grain {
    /// 8 chunks per thread running jobs, at least one item each.
    #[default]
    Auto,
    /// Exactly this many items per chunk (the last may be shorter).
    Fixed(NonZeroUsize),
}

impl Grain {
    /// A fixed grain of `items`; zero is [`ConfigError::ZeroGrain`].
    pub fn fixed(items: usize) -> Result<Grain, ConfigError> {
        NonZeroUsize::new(items)
            .map(Grain::Fixed)
            .ok_or(ConfigError::ZeroGrain)
    }

    pub(crate) fn resolve(self, items: usize, threads: usize) -> usize {
        match self {
            Grain::Fixed(n) => n.get(),
            Grain::Auto => items.div_ceil(threads.max(1).saturating_mul(8)).max(1),
        }
    }
}

/// How a batch runs: how its items are cut into chunks ([`Grain`]) and the priority of its
/// runner jobs. Every batch entry point takes one (`impl Into<Batch>`: a [`Grain`] alone is a
/// batch at the default priority):
///
/// | from | items (`body(i)`) | chunks (`body(range)`) | a slice (`body(i, &mut item)`) |
/// |---|---|---|---|
/// | [`JobSystem`](crate::JobSystem), waiting | `parallel_for` | `parallel_for_chunks` | `for_each_mut` |
/// | [`JobSystem`](crate::JobSystem), counted | `submit_for` | | |
/// | [`Scope`](crate::Scope), part of the scope | `parallel_for` | `parallel_for_chunks` | `for_each_mut` |
/// | [`Spawner`](crate::Spawner) (and a frame pass), children | `parallel_for` | `parallel_for_chunks` | `for_each_mut` |
///
/// The default priority is Normal from the system and the parent's from a spawner.
///
/// ```
/// use jobs::{Batch, Grain, Priority};
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
/// let mut lods = vec![0u8; 4096];
/// // Background work: its runners are Low jobs, cut 256 items at a time.
/// let background = Batch::new().grain(Grain::fixed(256)?).priority(Priority::Low);
/// system.for_each_mut(&mut lods, background, |i, lod| *lod = (i % 4) as u8)?;
/// system.parallel_for(0..100, Grain::Auto, |_| {})?; // a grain alone: Normal
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub(crate) grain: Grain,
    pub(crate) priority: Option<Priority>,
}

impl Batch {
    /// [`Grain::Auto`], at the default priority.
    pub const fn new() -> Batch {
        Batch {
            grain: Grain::Auto,
            priority: None,
        }
    }

    /// Cut the items `grain` at a time.
    pub const fn grain(mut self, grain: Grain) -> Batch {
        self.grain = grain;
        self
    }

    /// Run the runner jobs at `priority`.
    pub const fn priority(mut self, priority: Priority) -> Batch {
        self.priority = Some(priority);
        self
    }
}

impl From<Grain> for Batch {
    fn from(grain: Grain) -> Batch {
        Batch::new().grain(grain)
    }
}

struct Chunks<F> {
    body: F,
    /// The next chunk to hand out.
    next: CachePadded<AtomicUsize>,
    range: Range<usize>,
    grain: usize,
    chunks: usize,
    /// Where the runners report, and where a panicking item's panic goes.
    completion: Completion,
}

// SAFETY: `completion` is a raw pointer to a counter or parent that outlives every runner of the
// batch (they are counted on it); the body is `Send + Sync`.
unsafe impl<F: Send + Sync> Send for Chunks<F> {}
// SAFETY: as above; runners share the batch and only read `body` and `completion`.
unsafe impl<F: Send + Sync> Sync for Chunks<F> {}

impl<F> Chunks<F> {
    /// Claims the next chunk.
    fn claim(&self) -> Option<Range<usize>> {
        // Relaxed: the cursor only partitions the range; the items' effects are published
        // through the counter. Each runner stops at its first failed claim, so the cursor never
        // passes `chunks + runners`.
        let chunk = self.next.fetch_add(1, Ordering::Relaxed);
        if chunk >= self.chunks {
            return None;
        }
        // `chunk < chunks`, so `chunk * grain < len`: neither product nor sum overflows.
        let start = self.range.start + chunk * self.grain;
        Some(start..start + self.grain.min(self.range.end - start))
    }

    /// Records the panic of an item. The runner reporting it is still counted on `completion`.
    fn item_panicked(&self, cx: &mut Context<'_>, panic: Payload) {
        // SAFETY: the calling runner is counted on `completion` and has not finished.
        if let Some(unkept) = unsafe { self.completion.record_panic(panic) } {
            cx.local().shared.unobserved_panic();
            drop_payload(unkept);
        }
    }
}

struct Runner<F> {
    batch: Arc<Chunks<F>>,
    /// The claimed items not yet run.
    current: Range<usize>,
    /// How often an item runner looks for higher-priority work.
    pace: Pace,
}

/// About how long a runner of short items goes between two looks for higher-priority work
/// (module docs).
const LOOK_EVERY: Duration = Duration::from_micros(5);

/// The most items a runner runs between two looks, however short they are.
const MAX_STRIDE: u32 = 256;

/// Looks timed together while the runner looks after every item: the clock is read once per
/// this many looks (reading it costs about what a look does).
const LOOKS_TIMED: u32 = 8;

/// When an item runner looks for higher-priority work: every `stride` items, between 1 and
/// [`MAX_STRIDE`]. The stride doubles while looks come less than [`LOOK_EVERY`] apart and
/// shrinks in proportion while they come more than twice that apart. The clock is read at
/// every look while the stride is above 1 (a read per so many items), and every
/// [`LOOKS_TIMED`] looks at a stride of 1: items that take microseconds are each followed by a
/// look, and pay one clock read per [`LOOKS_TIMED`] items for the pacing.
struct Pace {
    stride: u32,
    /// Items left before the next look.
    until: u32,
    /// Looks since the clock was read.
    looks: u32,
    /// When the clock was read last (`None`: not in this step yet).
    since: Option<Instant>,
}

impl Pace {
    fn new() -> Pace {
        Pace {
            stride: 1,
            until: 1,
            looks: 0,
            since: None,
        }
    }

    /// One more item ran: true if higher-priority work is waiting (looked at when due).
    #[inline]
    fn ran_one(&mut self, cx: &Context<'_>) -> bool {
        self.until -= 1;
        if self.until > 0 {
            return false;
        }
        self.look(cx)
    }

    /// Looks for higher-priority work; first, if due, times the looks since the clock was
    /// last read and sets the stride for the next ones (also when this look yields: a runner
    /// whose items turned long must not come back from the yield still pacing for short ones).
    #[inline(never)]
    fn look(&mut self, cx: &Context<'_>) -> bool {
        self.looks += 1;
        if self.stride > 1 || self.looks >= LOOKS_TIMED {
            let now = Instant::now();
            if let Some(since) = self.since.replace(now) {
                let apart = now.saturating_duration_since(since) / self.looks;
                if apart < LOOK_EVERY {
                    self.stride = (self.stride * 2).min(MAX_STRIDE);
                } else if apart > LOOK_EVERY * 2 {
                    // `apart` over twice `LOOK_EVERY`, so the quotient is below `stride / 2`.
                    let fewer = u128::from(self.stride) * LOOK_EVERY.as_nanos() / apart.as_nanos();
                    self.stride = u32::try_from(fewer).unwrap_or(1).max(1);
                }
            }
            self.looks = 0;
        }
        self.until = self.stride;
        cx.higher_priority_waiting()
    }

    /// A step starts: time from here (the runner may have waited in a queue since its last).
    fn restart(&mut self) {
        self.since = Some(Instant::now());
        self.looks = 0;
        self.until = self.until.min(self.stride);
    }
}

/// The runner jobs of a batch, to be counted on `completion` one each.
fn runners<'a, F: Send + Sync + 'a>(
    body: F,
    range: Range<usize>,
    grain: Grain,
    threads: usize,
    completion: Completion,
    step: fn(&mut Runner<F>, &mut Context<'_>) -> Action<Runner<F>>,
) -> Vec<Job<'a>> {
    let items = range.len();
    let grain = grain.resolve(items, threads);
    let chunks = items.div_ceil(grain);
    let batch = Arc::new(Chunks {
        body,
        next: CachePadded::new(AtomicUsize::new(0)),
        range,
        grain,
        chunks,
        completion,
    });
    (0..chunks.min(threads.max(1)))
        .map(|_| {
            Job::new(
                Runner {
                    batch: Arc::clone(&batch),
                    current: 0..0,
                    pace: Pace::new(),
                },
                step,
            )
        })
        .collect()
}

/// Runner jobs for a batch whose body takes one item at a time.
pub(crate) fn items<'a, F>(
    body: F,
    range: Range<usize>,
    grain: Grain,
    threads: usize,
    completion: Completion,
) -> Vec<Job<'a>>
where
    F: Fn(usize) + Send + Sync + 'a,
{
    runners(body, range, grain, threads, completion, run_items::<F>)
}

/// Runner jobs for a batch whose body takes a chunk at a time.
pub(crate) fn chunks<'a, F>(
    body: F,
    range: Range<usize>,
    grain: Grain,
    threads: usize,
    completion: Completion,
) -> Vec<Job<'a>>
where
    F: Fn(Range<usize>) + Send + Sync + 'a,
{
    runners(body, range, grain, threads, completion, run_chunks::<F>)
}

fn run_items<F: Fn(usize) + Sync>(
    runner: &mut Runner<F>,
    cx: &mut Context<'_>,
) -> Action<Runner<F>> {
    let Runner {
        batch,
        current,
        pace,
    } = runner;
    let may_yield = cx.priority() != Priority::High;
    if may_yield {
        pace.restart();
    }
    loop {
        if Range::is_empty(current) {
            match batch.claim() {
                Some(chunk) => *current = chunk,
                None => return Action::Done,
            }
        }
        let start = current.start;
        let mut next = start;
        let mut stopped = false;
        while next < current.end && !stopped {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                while next < current.end {
                    (batch.body)(next);
                    next += 1;
                    if may_yield && pace.ran_one(cx) {
                        return true;
                    }
                }
                false
            }));
            match outcome {
                Ok(yielded) => stopped = yielded,
                Err(panic) => {
                    // Item `next` panicked: it counts as finished, and the others still run,
                    // paced like any other item (a run of panicking items still looks).
                    batch.item_panicked(cx, panic);
                    next += 1;
                    stopped = may_yield && pace.ran_one(cx);
                }
            }
        }
        cx.local().count_finished(next - start);
        current.start = next;
        if !Range::is_empty(current) {
            return Action::Yield(run_items::<F>);
        }
    }
}

fn run_chunks<F: Fn(Range<usize>) + Sync>(
    runner: &mut Runner<F>,
    cx: &mut Context<'_>,
) -> Action<Runner<F>> {
    let Runner { batch, .. } = runner;
    while let Some(chunk) = batch.claim() {
        let count = chunk.len();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (batch.body)(chunk))) {
            batch.item_panicked(cx, panic);
        }
        cx.local().count_finished(count);
        if cx.priority() != Priority::High && cx.higher_priority_waiting() {
            return Action::Yield(run_chunks::<F>);
        }
    }
    Action::Done
}

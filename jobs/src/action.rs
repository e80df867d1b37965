//! Actions: what a job's step returns, telling the executor what happens next.
//!
//! This is the seed's model in Rust. A job is an owned capture `C` plus a step
//! `fn(&mut C, &mut Context) -> Action<C>`. Each action other than `Done` names the step that
//! continues the job once the executor has done what was asked. The job is suspended in between,
//! without a stack of its own and without blocking its worker: the worker runs other jobs.

use std::marker::PhantomData;
use std::ops::Range;
use std::ptr::NonNull;

use crate::batch::{self, Grain};
use crate::counter::Counter;
use crate::heap::{Block, MemoryError, Tag};
use crate::job::{Completion, Header, Job};
use crate::worker::{Local, LocalPtr};
use crate::Context;

/// One step of a job of capture `C`: runs on a worker and says what happens next.
pub type Step<C> = fn(&mut C, &mut Context<'_>) -> Action<C>;

/// Creates a job's children. Children may borrow the capture for `'c`: the executor neither
/// moves, touches nor drops the capture until every child has finished.
pub type SpawnStep<C> = for<'c> fn(&'c mut C, &mut Spawner<'c, '_>);

/// Continues a job with the memory it asked for.
pub type MemoryStep<C> = fn(&mut C, &mut Context<'_>, Result<Block, MemoryError>) -> Action<C>;

/// Runs on an I/O thread with the suspended job's capture, and may block there (read a file,
/// sleep, call a blocking API); it stores what it got into the capture.
pub type BlockingStep<C> = fn(&mut C);

/// What happens next to a job. See the [crate docs](crate) for a complete chain.
///
/// ```
/// use jobs::{Action, Context, Counter, Job, JobSystem};
///
/// struct Sum { data: Vec<u64>, partial: [u64; 2], total: u64 }
///
/// fn start(s: &mut Sum, _cx: &mut Context<'_>) -> Action<Sum> {
///     // Two children, each borrowing half of the capture; then `add` continues the job.
///     Action::Spawn(
///         |s, spawner| {
///             let (left, right) = s.data.split_at(s.data.len() / 2);
///             let [pl, pr] = &mut s.partial;
///             spawner.spawn_fn(move |_| *pl = left.iter().sum());
///             spawner.spawn_fn(move |_| *pr = right.iter().sum());
///         },
///         add,
///     )
/// }
/// fn add(s: &mut Sum, _cx: &mut Context<'_>) -> Action<Sum> {
///     s.total = s.partial[0] + s.partial[1];
///     assert_eq!(s.total, 5050);
///     Action::Done
/// }
///
/// let system = JobSystem::new(jobs::Config::default().workers(2))?;
/// let done = Counter::new();
/// let data = (1..=100).collect();
/// system.submit_counted(&done, Job::new(Sum { data, partial: [0; 2], total: 0 }, start));
/// system.wait(&done)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub enum Action<C> {
    /// The job is finished: its capture is dropped and its counter (or parent) told.
    Done,
    /// Let other jobs run, then continue with the step. The job goes to the back of the shared
    /// queue of its priority.
    Yield(Step<C>),
    /// Create children with the first function, then continue with the step only when all of
    /// them have finished and their effects are visible. If a child panics, the job is cancelled
    /// instead and the panic passed on to whoever waits for the job.
    Spawn(SpawnStep<C>, Step<C>),
    /// Continue with the step once the counter is zero (at once if it is). If a job counted by
    /// it panicked, this job is cancelled with that panic.
    Wait(Counter, Step<C>),
    /// Continue with the step once the counter is zero, like `Wait`, but whatever happened to
    /// the counted jobs: a panic among them is not passed on to this job (it stays with the
    /// counter, for [`JobSystem::wait`](crate::JobSystem::wait) or a `Wait` to report). For
    /// ordering work after work that may have failed: the next frame after the last one.
    After(Counter, Step<C>),
    /// Allocate from the tagged heap, then continue with the memory.
    Memory(MemoryRequest, MemoryStep<C>),
    /// Run the first function on an I/O thread, where it may block, then continue with the step
    /// on a worker. The worker does not wait: it runs other jobs meanwhile.
    Blocking(BlockingStep<C>, Step<C>),
}

impl<C> Action<C> {
    /// `Action::Wait` on a handle to `counter`.
    pub fn wait(counter: &Counter, then: Step<C>) -> Self {
        Action::Wait(counter.clone(), then)
    }

    /// `Action::After` on a handle to `counter`.
    pub fn after(counter: &Counter, then: Step<C>) -> Self {
        Action::After(counter.clone(), then)
    }

    /// `Action::Memory` for `size` bytes aligned to 16, freed when `tag` is released.
    pub fn memory(tag: Tag, size: usize, then: MemoryStep<C>) -> Self {
        Action::Memory(
            MemoryRequest {
                tag,
                size,
                align: 16,
            },
            then,
        )
    }
}

/// A request for memory from the tagged heap: `size` bytes aligned to `align`, freed when `tag`
/// is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRequest {
    /// Whose memory it is: all blocks of a tag are freed together.
    pub tag: Tag,
    /// Bytes wanted.
    pub size: usize,
    /// Alignment: a power of two, at most 4096.
    pub align: usize,
}

/// Creates the children of a job that returned [`Action::Spawn`].
///
/// Children may borrow the parent's capture for `'c`. Each child is counted on the parent: the
/// parent continues when the last one finishes. Children take the parent's priority unless they
/// set their own.
pub struct Spawner<'c, 'w> {
    local: LocalPtr,
    _local: PhantomData<&'w mut Local>,
    parent: NonNull<Header>,
    /// Children spawned so far, counted here and taken off the parent's guard at the end.
    spawned: &'w mut usize,
    /// Children are jobs borrowing for `'c`; invariant so that `'c` cannot be shortened.
    _borrow: PhantomData<fn(&'c ()) -> &'c ()>,
}

impl<'c, 'w> Spawner<'c, 'w> {
    pub(crate) fn new(local: LocalPtr, parent: NonNull<Header>, spawned: &'w mut usize) -> Self {
        Spawner {
            local,
            _local: PhantomData,
            parent,
            spawned,
            _borrow: PhantomData,
        }
    }

    fn local(&mut self) -> &mut Local {
        // SAFETY: `local` is this thread's live executor state; the borrow ends before any user
        // code runs (see `worker::LocalPtr`).
        unsafe { &mut *self.local.as_ptr() }
    }

    fn parent(&self) -> &Header {
        // SAFETY: the parent is suspended in `Action::Spawn` while its spawner exists: its box is
        // alive and only its atomics and immutable fields are read.
        unsafe { self.parent.as_ref() }
    }

    /// Spawns a child job.
    pub fn spawn(&mut self, job: Job<'c>) {
        *self.spawned += 1;
        let inherit = self.parent().inherit();
        let job = job.into_ref(Completion::Parent(self.parent), inherit);
        self.local().push(job);
    }

    /// Spawns a child that runs a closure to completion.
    pub fn spawn_fn<F>(&mut self, f: F)
    where
        F: FnOnce(&mut Context<'_>) + Send + 'c,
    {
        self.spawn(Job::from_fn(f));
    }

    /// Runs `body(i)` for every `i` in `range` as children of this job, in chunks of `grain`
    /// items spread over the workers. The parent continues when every item has run.
    pub fn parallel_for<F>(&mut self, range: Range<usize>, grain: Grain, body: F)
    where
        F: Fn(usize) + Send + Sync + 'c,
    {
        self.spawn_batch(range.len(), |workers, done| {
            batch::items(body, range, grain, workers, done)
        });
    }

    /// Like [`parallel_for`](Self::parallel_for), but `body` gets a whole chunk of at most
    /// `grain` items at a time.
    pub fn parallel_for_chunks<F>(&mut self, range: Range<usize>, grain: Grain, body: F)
    where
        F: Fn(Range<usize>) + Send + Sync + 'c,
    {
        self.spawn_batch(range.len(), |workers, done| {
            batch::chunks(body, range, grain, workers, done)
        });
    }

    /// Counts the batch's runners as children of the parent (see `batch.rs`: when the last
    /// has finished, every item has and none holds the body), and queues them.
    fn spawn_batch(
        &mut self,
        items: usize,
        runners: impl FnOnce(usize, Completion) -> Vec<Job<'c>>,
    ) {
        if items == 0 {
            return;
        }
        let completion = Completion::Parent(self.parent);
        let inherit = self.parent().inherit();
        let workers = self.local().shared.worker_count();
        let runners = runners(workers, completion);
        *self.spawned += runners.len();
        for runner in runners {
            let job = runner.into_ref(completion, inherit);
            self.local().push(job);
        }
    }

    /// The context of the parent: worker, heap, detached spawns.
    pub fn context(&mut self) -> Context<'_> {
        let inherit = self.parent().inherit();
        Context::new(self.local, inherit)
    }
}

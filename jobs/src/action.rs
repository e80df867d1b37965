//! Actions: what a job's step returns, telling the executor what happens next.
//!
//! This is the seed's model in Rust. A job is an owned capture `C` plus a step
//! `fn(&mut C, &mut Context) -> Action<C>`. Each action other than `Done` names the step that
//! continues the job once the executor has done what was asked. The job is suspended in between,
//! without a stack of its own and without blocking its worker: the worker runs other jobs.

use crate::counter::Counter;
use crate::executor::Spawner;
use crate::heap::{Block, MemoryError, MemoryRequest, Tag};
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
///             spawner.spawn(move |_| *pl = left.iter().sum());
///             spawner.spawn(move |_| *pr = right.iter().sum());
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
    /// Continue with the step once the counter is zero and its jobs have *settled*, whether
    /// they finished or panicked: unlike `Wait`, a panic among them is not passed on to this
    /// job (it stays with the counter, for [`JobSystem::wait`](crate::JobSystem::wait) or a
    /// `Wait` to report). For ordering work after work that may have failed: the next frame
    /// after the last one.
    WaitSettled(Counter, Step<C>),
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

    /// `Action::WaitSettled` on a handle to `counter`.
    pub fn wait_settled(counter: &Counter, then: Step<C>) -> Self {
        Action::WaitSettled(counter.clone(), then)
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

//! The spawner: how a job that returned [`Action::Spawn`](crate::Action::Spawn) creates children
//! that borrow its capture, counted on it so that it continues when the last one finishes.

use std::marker::PhantomData;
use std::ops::Range;
use std::ptr::NonNull;

use super::local::{Local, LocalPtr};
use crate::batch::{self, Grain};
use crate::job::{Completion, Header, Job, JobRef};
use crate::Context;

/// Creates the children of a job that returned [`Action::Spawn`](crate::Action::Spawn).
///
/// Children may borrow the parent's capture for `'c`. Each child is counted on the parent: the
/// parent continues when the last one finishes. Children take the parent's priority unless they
/// set their own.
///
/// The last child spawned (unless pinned to the main thread) runs next on this thread, as soon
/// as the spawning closure returns, without a trip through a queue, even before a job of higher
/// priority that arrived meanwhile; the others wait in this thread's deque, where idle workers
/// steal them. When that deque is full, a child runs at once, inside `spawn` (as enkiTS runs a
/// task when its pipe is full): a job spawning a million children holds a deque's worth of them
/// at a time. So keep the closure to spawning, and put long work in a step.
pub struct Spawner<'c, 'w> {
    local: LocalPtr,
    _local: PhantomData<&'w mut Local>,
    parent: NonNull<Header>,
    /// Children spawned so far, counted here and taken off the parent's guard at the end.
    spawned: &'w mut usize,
    /// The newest child, not queued yet: the interpreter runs it next (type docs).
    held: &'w mut Option<JobRef>,
    /// Children are jobs borrowing for `'c`; invariant so that `'c` cannot be shortened.
    _borrow: PhantomData<fn(&'c ()) -> &'c ()>,
}

impl<'c, 'w> Spawner<'c, 'w> {
    pub(crate) fn new(
        local: LocalPtr,
        parent: NonNull<Header>,
        spawned: &'w mut usize,
        held: &'w mut Option<JobRef>,
    ) -> Self {
        Spawner {
            local,
            _local: PhantomData,
            parent,
            spawned,
            held,
            _borrow: PhantomData,
        }
    }

    fn local(&mut self) -> &mut Local {
        // SAFETY: `local` is this thread's live executor state; the borrow ends before any user
        // code runs (see `executor::local::LocalPtr`).
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
        // The newest child is held to run next here; the one it replaces goes to the deque. A
        // child pinned to the main thread goes where the main thread takes it.
        if job.header().pinned() {
            self.local().push(job);
        } else if let Some(older) = self.held.replace(job) {
            if let Some(full) = self.local().push_child(older) {
                // The deque is full: run the child now, here (see `Local::push_child`).
                // SAFETY: `local` is this thread's state and no borrow of it is held (each
                // borrow above ended); the child is ours, and what it borrows outlives `'c`.
                unsafe { Local::run(self.local, full) };
            }
        }
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
        let threads = self.local().shared.threads_running_jobs();
        let runners = runners(threads, completion);
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

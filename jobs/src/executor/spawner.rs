//! The spawner: how a job that returned [`Action::Spawn`](crate::Action::Spawn) creates children
//! that borrow its capture, counted on it so that it continues when the last one finishes.

use std::marker::PhantomData;
use std::ops::Range;
use std::ptr::NonNull;

use super::children::SPAWN_GUARD;
use super::local::{Local, LocalPtr};
use crate::batch::{self, Batch};
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
/// priority that arrived meanwhile; the others go to this thread's deque, where idle workers
/// steal them: the first few when the closure returns, later ones as they are spawned. When that
/// deque is full, a child runs at once, inside `spawn` (as enkiTS runs a task when its pipe is
/// full): a job spawning a million children holds a deque's worth of them at a time. A closure
/// child ([`spawn`](Self::spawn)) runs at once sooner, once 64 jobs wait in the deque (32 per
/// other thread that runs jobs, on a system of more than three, at most 512; a few more may be
/// queued between two looks), and never becomes a job at all (no job memory, no
/// queue, no step): it is called, and a panic of it cancels the parent as a child job's
/// would. So keep the
/// closure to spawning, and put long work in a step; and never wait inside the closure for a
/// child to run (spin on a flag it sets, block on a channel it sends to): the newest child, and
/// the first eight, run only after the closure returns. What runs after the children is the
/// continuation step, which is what it is for.
///
/// ```
/// use jobs::{Action, Context, Counter, Job, JobSystem, Spawner};
///
/// struct Sum { parts: [u64; 2], total: u64 }
/// fn split(_: &mut Sum, _: &mut Context<'_>) -> Action<Sum> {
///     Action::Spawn(halves, add) // spawn, then continue with `add` once both have run
/// }
/// fn halves<'c>(sum: &'c mut Sum, spawner: &mut Spawner<'c, '_>) {
///     let [a, b] = &mut sum.parts;
///     spawner.spawn(move |_| *a = (0..500).sum());
///     spawner.spawn(move |_| *b = (500..1000).sum());
/// }
/// fn add(sum: &mut Sum, _: &mut Context<'_>) -> Action<Sum> {
///     sum.total = sum.parts[0] + sum.parts[1];
///     assert_eq!(sum.total, 499_500);
///     Action::Done
/// }
///
/// let system = JobSystem::new(jobs::Config::default().workers(2))?;
/// let done = Counter::new();
/// system.submit_counted(&done, Job::new(Sum { parts: [0; 2], total: 0 }, split));
/// system.wait(&done)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Spawner<'c, 'w> {
    local: LocalPtr,
    _local: PhantomData<&'w mut Local>,
    parent: NonNull<Header>,
    children: &'w mut Children,
    /// Children are jobs borrowing for `'c`; invariant so that `'c` cannot be shortened.
    _borrow: PhantomData<fn(&'c ()) -> &'c ()>,
}

/// Children kept back before the first is published: a spawn of up to this many plus one
/// children publishes them all at its end, with the parent's count written before any child
/// can run, so that counting them takes no read-modify-write.
const KEPT_BACK: usize = 8;

/// The children of one spawning job, as its spawner counts and publishes them: kept back and
/// counted without a read-modify-write while the spawn is small, else under the guard (the
/// protocol is in `children.rs`).
pub(crate) struct Children {
    spawned: usize,
    /// Whether the parent's count holds the guard (children may be running).
    guarded: bool,
    /// Unpublished children, oldest first (before `guarded` only).
    kept: [Option<JobRef>; KEPT_BACK],
    kept_len: usize,
    /// The newest child, held to run next on this thread (type docs of [`Spawner`]).
    held: Option<JobRef>,
    /// Closure children still to run at once without looking at the deque (see
    /// [`runs_at_once`](Self::runs_at_once)).
    at_once: usize,
}

/// The fewest jobs queued on a thread's deque from which its closure children run at once
/// (enkiTS runs a task once its 256-task pipe is full); see [`at_once_queued`] for the count
/// used, which grows with the threads that steal. Queueing more only trades slots with the
/// thieves: each slot a thief frees is filled at once with a new job, a heap job and a
/// cross-core handover apiece, which for short children costs the spawner more than running
/// them. `empty_spawn` on two threads: 120 ns a child with the whole deque as the threshold;
/// 256 measured 11.9-12.2 ns on an Intel Xeon and 21-35 on an AMD EPYC, 64 measured 10.1-11.0
/// and 11.9-13.9 in the same runs; on one thread 5.
const AT_ONCE_QUEUED: usize = 64;

/// The most jobs [`at_once_queued`] asks for: half the deque, so that closure children still
/// run at once well before a full deque makes every child do so.
const AT_ONCE_QUEUED_MAX: usize = super::deque::CAPACITY / 2;

/// Jobs queued on a thread's deque from which its closure children run at once, on a system
/// where `threads` threads run jobs: [`AT_ONCE_RUN`] for each other thread (each may steal while
/// the spawner runs that many children without looking: with fewer, children as long as each
/// other would leave thieves idle), at least [`AT_ONCE_QUEUED`], at most
/// [`AT_ONCE_QUEUED_MAX`]. 64 up to 3 threads, 224 for 8, 480 for 16, 512 from 17.
pub(crate) fn at_once_queued(threads: usize) -> usize {
    AT_ONCE_RUN
        .saturating_mul(threads.saturating_sub(1))
        .clamp(AT_ONCE_QUEUED, AT_ONCE_QUEUED_MAX)
}

/// Closure children run at once between two looks at the deque: the look reads the end
/// the thieves write, a cache line that moves between cores while they steal.
const AT_ONCE_RUN: usize = 32;

/// What becomes of a job whose spawning closure returned.
pub(crate) enum Spawned {
    /// Every child has finished (or none was spawned): the job continues now.
    Continue,
    /// The last child to finish resumes the job; this thread runs the child handed back next.
    Handed(Option<JobRef>),
}

impl Children {
    pub(crate) fn new() -> Children {
        Children {
            spawned: 0,
            guarded: false,
            kept: [const { None }; KEPT_BACK],
            kept_len: 0,
            held: None,
            at_once: 0,
        }
    }

    /// Whether a closure child of priority `p` runs at once inside `spawn`: while this thread's
    /// deque holds [`at_once_queued`] jobs or more, looked at once per [`AT_ONCE_RUN`] such
    /// children.
    #[inline]
    fn runs_at_once(&mut self, local: LocalPtr, p: usize) -> bool {
        // SAFETY: a short borrow of this thread's state (see `executor::local::LocalPtr`).
        let local = unsafe { local.as_ref() };
        if !local.may_run_child_at_once(p) {
            return false;
        }
        if self.at_once > 0 {
            self.at_once -= 1;
            return true;
        }
        if local.own_len(p) >= local.at_once_queued() {
            self.at_once = AT_ONCE_RUN - 1;
            return true;
        }
        false
    }

    /// Counts `more` children spawned.
    ///
    /// # Panics
    /// Past [`SPAWN_GUARD`] children in one spawn (2^63 on 64-bit targets: the count must stay
    /// below the guard, or it would reach zero early). The panic cancels the parent, after the
    /// children spawned so far.
    #[inline]
    fn count(&mut self, more: usize) {
        self.spawned = self
            .spawned
            .checked_add(more)
            .filter(|&spawned| spawned < SPAWN_GUARD)
            .expect("a job spawns fewer than usize::MAX / 2 children in one Action::Spawn");
    }

    /// Publishes what was kept back and puts the guard in the parent's count, if not yet.
    fn guard(&mut self, local: LocalPtr, parent: &Header) {
        if self.guarded {
            return;
        }
        self.guarded = true;
        parent.children.guard();
        for i in 0..self.kept_len {
            if let Some(child) = self.kept[i].take() {
                publish(local, child);
            }
        }
        self.kept_len = 0;
    }

    /// Counts and publishes the children once the spawning closure has returned (also after a
    /// panic in it: the children spawned until then run all the same).
    pub(crate) fn finish(&mut self, local: LocalPtr, parent: &Header) -> Spawned {
        if self.guarded {
            return if parent.children.unguard(self.spawned) {
                debug_assert!(self.held.is_none(), "a held child is unfinished");
                Spawned::Continue
            } else {
                // The held child counts on the parent, which cannot resume without it.
                Spawned::Handed(self.held.take())
            };
        }
        if self.spawned == 0 {
            return Spawned::Continue;
        }
        parent.children.set(self.spawned);
        for i in 0..self.kept_len {
            if let Some(child) = self.kept[i].take() {
                publish(local, child);
            }
        }
        Spawned::Handed(self.held.take())
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        // `finish` takes every child out; only an unwind out of the interpreter (which aborts,
        // see `AbortOnUnwind`) could leave one here.
        debug_assert!(self.held.is_none() && self.kept.iter().all(Option::is_none));
    }
}

/// Queues a child on this thread's deque, or runs it at once if the deque is full.
fn publish(local: LocalPtr, child: JobRef) {
    // SAFETY: a short borrow of this thread's state (see `executor::local::LocalPtr`).
    let full = unsafe { &mut *local.as_ptr() }.push_child(child);
    if let Some(full) = full {
        // The deque is full: run the child now, here (see `Local::push_child`).
        // SAFETY: `local` is this thread's state and no borrow of it is held (the one above
        // ended); the child is ours, and what it borrows outlives the spawner.
        unsafe { Local::run(local, full) };
    }
}

impl<'c, 'w> Spawner<'c, 'w> {
    pub(crate) fn new(
        local: LocalPtr,
        parent: NonNull<Header>,
        children: &'w mut Children,
    ) -> Self {
        Spawner {
            local,
            _local: PhantomData,
            parent,
            children,
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

    /// Spawns a child job (a capture and steps) that may borrow for `'c`.
    // Inline: the `Job` is read where its fields were just written, in registers. Through a
    // call it went by memory, its option bytes written one by one and read back with one wider
    // load, which the CPU cannot forward from those stores: it stalled until they reached the
    // cache, every child (a tenth of a spawn tree's time).
    #[inline]
    pub fn spawn_job(&mut self, job: Job<'c>) {
        // Counted first: past the count's limit this panics with the `Job` still owned here,
        // which then frees it (a `JobRef` would leak).
        self.children.count(1);
        let inherit = self.parent().inherit();
        let job = job.into_ref(Completion::Parent(self.parent), inherit, || {
            self.local().shared.inboxes.id()
        });
        self.spawn_ref(job);
    }

    /// Holds, keeps back or publishes a child counted on the parent and made into a job.
    fn spawn_ref(&mut self, job: JobRef) {
        // SAFETY: as in `parent` (a copy of the pointer, so that `children` can be borrowed).
        let parent = unsafe { self.parent.as_ref() };
        if job.header().pinned() {
            // The main thread takes it from its own queue: published now.
            self.children.guard(self.local, parent);
            self.local().push(job);
            return;
        }
        // The newest child is held to run next here; the one it replaces is kept back while
        // the spawn is small, else published.
        let Some(older) = self.children.held.replace(job) else {
            return;
        };
        if !self.children.guarded && self.children.kept_len < KEPT_BACK {
            self.children.kept[self.children.kept_len] = Some(older);
            self.children.kept_len += 1;
            return;
        }
        self.children.guard(self.local, parent);
        publish(self.local, older);
    }

    /// Spawns a child that runs a closure to completion; it may borrow for `'c` (the parent's
    /// capture).
    pub fn spawn<F>(&mut self, f: F)
    where
        F: FnOnce(&mut Context<'_>) + Send + 'c,
    {
        let inherit = self.parent().inherit();
        if self
            .children
            .runs_at_once(self.local, inherit.priority.index())
        {
            // The deque is full: the child would run at once anyway (type docs). It runs
            // without becoming a job: no job memory, no queue, no interpreter.
            // SAFETY: `local` is this thread's state, no borrow of it held; the parent is
            // suspended while this spawner lives.
            unsafe { Local::run_child_at_once(self.local, self.parent, inherit, f) };
            return;
        }
        self.spawn_job(Job::from_fn(f));
    }

    /// Runs `body(i)` for every `i` in `range` as children of this job, cut and run as `batch`
    /// says ([`Batch`]: a [`Grain`](crate::Grain) alone is one at the parent's priority), spread over the
    /// workers. The parent continues when every item has run.
    pub fn parallel_for<F>(&mut self, range: Range<usize>, batch: impl Into<Batch>, body: F)
    where
        F: Fn(usize) + Send + Sync + 'c,
    {
        let batch = batch.into();
        self.spawn_batch(range.len(), batch, |workers, done| {
            batch::items(body, range, batch.grain, workers, done)
        });
    }

    /// Like [`parallel_for`](Self::parallel_for), but `body` gets a whole chunk of items at a
    /// time.
    pub fn parallel_for_chunks<F>(&mut self, range: Range<usize>, batch: impl Into<Batch>, body: F)
    where
        F: Fn(Range<usize>) + Send + Sync + 'c,
    {
        let batch = batch.into();
        self.spawn_batch(range.len(), batch, |workers, done| {
            batch::chunks(body, range, batch.grain, workers, done)
        });
    }

    /// Calls `body(i, &mut items[i])` for every item, in parallel, as children of this job:
    /// each item is visited once, and the parent continues when all have been. `items` may be
    /// (part of) the parent's capture. A panic in `body` ends its chunk (the rest of that chunk
    /// is not visited) and cancels the parent once every other chunk has run.
    ///
    /// ```
    /// use jobs::{Action, Context, Grain, Job};
    /// struct Particles { speeds: Vec<f32> }
    /// fn integrate(p: &mut Particles, _: &mut Context<'_>) -> Action<Particles> {
    ///     Action::Spawn(
    ///         |p, spawner| spawner.for_each_mut(&mut p.speeds, Grain::Auto, |_, v| *v *= 0.5),
    ///         |p, _| { assert!(p.speeds.iter().all(|&v| v == 1.0)); Action::Done },
    ///     )
    /// }
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let done = system.counter();
    /// system.submit_counted(&done, Job::new(Particles { speeds: vec![2.0; 10_000] }, integrate));
    /// system.wait(&done)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_mut<T, F>(&mut self, items: &'c mut [T], batch: impl Into<Batch>, body: F)
    where
        T: Send + 'c,
        F: Fn(usize, &mut T) + Send + Sync + 'c,
    {
        let len = items.len();
        // SAFETY: the batch hands every index of `0..len` out exactly once, and `items` is
        // borrowed for `'c`: the parent stays suspended, its capture untouched, until every
        // child has finished.
        let chunks = unsafe { batch::each_mut(items, body) };
        self.parallel_for_chunks(0..len, batch, chunks);
    }

    /// Counts the batch's runners as children of the parent (see `batch.rs`: when the last
    /// has finished, every item has and none holds the body), and queues them.
    fn spawn_batch(
        &mut self,
        items: usize,
        batch: Batch,
        runners: impl FnOnce(usize, Completion) -> Vec<Job<'c>>,
    ) {
        if items == 0 {
            return;
        }
        let completion = Completion::Parent(self.parent);
        let mut inherit = self.parent().inherit();
        if let Some(priority) = batch.priority {
            inherit.priority = priority;
        }
        let threads = self.local().shared.threads_running_jobs();
        let runners = runners(threads, completion);
        // SAFETY: as in `parent`.
        self.children
            .guard(self.local, unsafe { self.parent.as_ref() });
        self.children.count(runners.len());
        for runner in runners {
            let job = runner.into_ref(completion, inherit, || self.local().shared.inboxes.id());
            self.local().push(job);
        }
    }

    /// The context of the parent: worker, heap, detached spawns.
    pub fn context(&mut self) -> Context<'_> {
        let inherit = self.parent().inherit();
        Context::new(self.local, inherit)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Children, SPAWN_GUARD};

    #[test]
    fn closure_children_run_at_once_from_a_queue_that_grows_with_the_thieves() {
        use super::at_once_queued;
        assert_eq!(at_once_queued(0), 64);
        assert_eq!(at_once_queued(1), 64);
        assert_eq!(at_once_queued(3), 64);
        assert_eq!(at_once_queued(4), 96);
        assert_eq!(at_once_queued(8), 224);
        assert_eq!(at_once_queued(16), 480);
        assert_eq!(at_once_queued(17), 512);
        assert_eq!(at_once_queued(1024), 512);
        assert_eq!(at_once_queued(usize::MAX), 512, "no overflow");
    }

    #[test]
    fn the_count_of_children_stays_below_the_guard() {
        let mut children = Children::new();
        children.count(SPAWN_GUARD - 2);
        children.count(1);
        // One more would make the count reach the guard: children finishing early could then
        // bring the parent's count to zero while the spawn goes on.
        let more = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| children.count(1)));
        assert!(more.is_err());
        let mut children = Children::new();
        let wrap = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            children.count(usize::MAX);
        }));
        assert!(
            wrap.is_err(),
            "a count past usize::MAX is refused, never wrapped"
        );
    }
}

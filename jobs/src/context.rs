//! The context a job's step runs in.

use std::marker::PhantomData;

use crate::counter::Counter;
use crate::executor::{Local, LocalPtr};
use crate::heap::TaggedHeap;
use crate::job::{Completion, Job};
use crate::meta::Inherit;
use crate::{Label, Priority};

/// What a running step can ask of the executor: where it runs, detached spawns, the heap.
///
/// ```
/// use jobs::{Counter, Job, JobSystem};
/// let system = JobSystem::new(jobs::Config::default().workers(2))?;
/// let done = Counter::new();
/// let inner = done.clone();
/// system.submit_counted(&done, Job::from_fn(move |cx| {
///     // Fan out from inside a job: these go to this worker's own queue.
///     for _ in 0..10 {
///         cx.spawn_job_counted(&inner, Job::from_fn(|_| {}));
///     }
/// }));
/// system.wait(&done)?; // the ten spawned jobs are counted too
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Context<'w> {
    local: LocalPtr,
    inherit: Inherit,
    _local: PhantomData<&'w mut Local>,
}

impl<'w> Context<'w> {
    pub(crate) fn new(local: LocalPtr, inherit: Inherit) -> Self {
        Context {
            local,
            inherit,
            _local: PhantomData,
        }
    }

    pub(crate) fn local(&mut self) -> &mut Local {
        // SAFETY: `local` is this thread's live executor state; callers end the borrow before
        // any user code runs (see `executor::local::LocalPtr`).
        unsafe { &mut *self.local.as_ptr() }
    }

    /// This thread's executor state, for `executor::join`.
    pub(crate) fn local_ptr(&self) -> LocalPtr {
        self.local
    }

    /// What the running job passes on to the jobs it starts.
    pub(crate) fn inherit(&self) -> Inherit {
        self.inherit
    }

    fn local_ref(&self) -> &Local {
        // SAFETY: as in `local`.
        unsafe { self.local.as_ref() }
    }

    /// The index of the worker running this step, `None` on a thread outside the pool (the
    /// main thread while it waits).
    pub fn worker_index(&self) -> Option<usize> {
        self.local_ref().worker_index()
    }

    /// Whether this step runs on the main thread (the thread that created the system).
    pub fn on_main_thread(&self) -> bool {
        self.local_ref().on_main_thread()
    }

    /// The priority of the running job.
    pub fn priority(&self) -> Priority {
        self.inherit.priority
    }

    /// The running job's label ([`Label::NONE`] if nobody named it or its parent).
    pub fn label(&self) -> Label {
        self.inherit.label
    }

    /// The frame the running job belongs to (modulo 2^32), if it or its parent was given one.
    pub fn frame(&self) -> Option<u32> {
        self.inherit.frame
    }

    /// Whether work of a higher priority than this job's is waiting: a long job can check this
    /// and return [`Action::Yield`](crate::Action::Yield).
    pub fn higher_priority_waiting(&self) -> bool {
        self.local_ref()
            .higher_priority_waiting(self.inherit.priority)
    }

    /// Runs `a` and `b`, in parallel if a worker is idle, and returns both results: fork-join
    /// on this thread's stack, for recursive splits (a tree, a sort, a spatial partition)
    /// where a spawn-then-continue step per level would cost a job, a suspension and a resume
    /// per node.
    ///
    /// `a` runs here at once, while `b` waits in this thread's own deque where an idle worker
    /// can take it; if nobody did, `b` runs here next, as a plain call. Nothing is allocated.
    /// If another thread took `b`, this thread runs other jobs until `b` has finished (as
    /// [`JobSystem::wait`](crate::JobSystem::wait) inside a job does; for as long as an idle
    /// worker spins, only jobs of this job's priority or higher, so that a short `b` is not
    /// followed by a long background job), so the job calling
    /// `join` holds its thread until both halves are done: keep the halves short and
    /// recursive, and use [`Action::Spawn`](crate::Action::Spawn) to wait for long work
    /// without holding a thread.
    ///
    /// On a thread that runs only its pinned jobs now (inside
    /// [`run_pinned`](crate::JobSystem::run_pinned), or a wait without help), both halves run
    /// here, one after the other. A thread that helps runs what it takes on its own stack: the
    /// main thread, helping in a wait, may take a `b` that recurses deeply, and needs the
    /// stack for it ([`Config::worker_stack_size`](crate::Config::worker_stack_size) sizes
    /// only the workers).
    ///
    /// Both closures may borrow the caller's stack (`join` returns only after both have run),
    /// and each gets a context of this job (its priority, label and frame) to join or spawn
    /// further. A panic in either is passed on from `join` once the other half has finished
    /// or is known not to start (if `a` panicked before another thread took `b`, `b` does not
    /// run); if both panicked, `a`'s goes on.
    ///
    /// ```
    /// use jobs::{Context, Job, JobSystem};
    ///
    /// fn sum(cx: &mut Context<'_>, values: &[u64]) -> u64 {
    ///     if values.len() <= 1024 {
    ///         return values.iter().sum();
    ///     }
    ///     let (left, right) = values.split_at(values.len() / 2);
    ///     let (l, r) = cx.join(|cx| sum(cx, left), |cx| sum(cx, right));
    ///     l + r
    /// }
    ///
    /// let system = JobSystem::new(jobs::Config::default().workers(2))?;
    /// let values: Vec<u64> = (0..100_000).collect();
    /// let mut total = 0;
    /// system.scope(|s| s.spawn(|cx| total = sum(cx, &values)));
    /// assert_eq!(total, 4_999_950_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join<A, B, RA, RB>(&mut self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce(&mut Context<'_>) -> RA,
        B: FnOnce(&mut Context<'_>) -> RB + Send,
        RB: Send,
    {
        crate::executor::join(self, a, b)
    }

    /// Spawns a detached closure onto this thread's own queue (other workers take it when they
    /// are idle). It runs at this job's priority.
    pub fn spawn<F>(&mut self, f: F)
    where
        F: FnOnce(&mut Context<'_>) + Send + 'static,
    {
        self.spawn_job(Job::from_fn(f));
    }

    /// Spawns a detached job (a capture and steps) onto this thread's own queue. It takes this
    /// job's priority unless it sets its own.
    pub fn spawn_job(&mut self, job: Job<'static>) {
        let job = job.into_ref(Completion::None, self.inherit, || self.system_id());
        self.local().push(job);
    }

    /// Spawns a closure counted on `counter`.
    pub fn spawn_counted<F>(&mut self, counter: &Counter, f: F)
    where
        F: FnOnce(&mut Context<'_>) + Send + 'static,
    {
        self.spawn_job_counted(counter, Job::from_fn(f));
    }

    /// Spawns a job counted on `counter`.
    pub fn spawn_job_counted(&mut self, counter: &Counter, job: Job<'static>) {
        let job = job.into_ref(Completion::Counter(counter.arm(1)), self.inherit, || {
            self.system_id()
        });
        self.local().push(job);
    }

    fn system_id(&self) -> u64 {
        self.local_ref().shared.inboxes.id()
    }

    /// The system's tagged heap.
    pub fn heap(&self) -> &TaggedHeap {
        self.local_ref().shared.heap()
    }
}

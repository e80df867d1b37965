//! Workers: the pinned threads that run jobs, and the executor state of any thread that runs
//! jobs (a worker, or the main thread while it waits).
//!
//! ## Where a worker looks for a job
//! Highest priority first. At each priority: its private queue (newest first, for locality),
//! then the shared queue of that priority (oldest first). A thread that waits on a counter also
//! looks at its inbox of jobs pinned to it, before anything else.
//!
//! ## Private queues and sharing
//! A job spawned inside a job goes to the spawning thread's private queue: a plain `VecDeque`,
//! no atomics, no fences. Other workers cannot see it, so the owner shares: whenever it pushes
//! or pops and sees that some worker is looking for work (or asleep with nobody looking), it
//! moves the older half of that private queue into the shared queue as one bundle (one job that,
//! when run, adopts its jobs into the runner's private queue), and wakes one sleeper if nobody is
//! looking. Work moves between cores in halves, one shared-queue operation per bundle, not per job.
//!
//! ## Cached completions
//! A worker keeps the count of jobs it finished for the same counter (or parent) and applies it
//! in one atomic operation when it is about to run a job counted elsewhere, or runs out of work.
//! A counter thus never reaches zero early, and its cache line moves once per run of jobs.
//!
//! ## `LocalPtr`
//! Jobs run user code that may re-enter the executor of the same thread (a
//! [`JobSystem::wait`](crate::JobSystem::wait) inside a job helps from the same queues). So the
//! executor state is reached through one raw pointer per thread ([`LocalPtr`]), and every borrow
//! of it is short and ends before user code runs. No `&mut Local` is held across a job's step.

use std::cell::Cell;
use std::collections::VecDeque;
use std::mem;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Instant;

use crate::counter::CounterState;
use crate::job::{Completion, Inherit, JobRef};
use crate::panic::Payload;
use crate::queue::Entry;
use crate::sleep::Wake;
use crate::system::Shared;
use crate::trace::clock;
use crate::trace::lane::RawSpan;
use crate::Priority;

/// The executor state of the current thread, reached only through short borrows (module docs).
pub(crate) type LocalPtr = NonNull<Local>;

thread_local! {
    /// The executor state of this thread while it runs jobs: a worker's for its whole life, an
    /// outside thread's while it waits.
    static CURRENT: Cell<Option<LocalPtr>> = const { Cell::new(None) };
}

/// Jobs run between two publications of a worker's statistics while it stays busy.
const STATS_EVERY: u64 = 1024;

/// The most jobs shared in one bundle: enough that taking a bundle costs well under a
/// nanosecond per job, few enough that sharing a flat queue of a million jobs copies little.
const MAX_BUNDLE: usize = 4096;

/// One thread's executor state.
pub(crate) struct Local {
    pub(crate) shared: Arc<Shared>,
    /// `Some(i)` on worker `i`.
    index: Option<usize>,
    /// On the main thread, which runs the jobs pinned to it.
    main: bool,
    private: [VecDeque<JobRef>; 3],
    /// Finished jobs not yet taken off their counter or parent (module docs).
    pending: Completion,
    pending_count: usize,
    /// Jobs finished per priority since the statistics were last published.
    finished: [u64; 3],
    since_publish: u64,
    /// Priority of the job being run.
    current: Priority,
    /// This thread's lane in the recorder (a helper thread borrows one when it first records).
    lane: Option<u16>,
    /// Whether this thread has asked for a helper lane (and given it back on drop if it got one).
    lane_borrowed: bool,
    /// Jobs running on this thread now (more than one when a job waits inside).
    depth: u32,
    /// When a worker's last top-level job ended, while it has not gone looking for work since:
    /// the next span starts there (see `trace`: back-to-back spans share a clock read).
    last_end: Option<u64>,
}

/// A span being recorded: its start and what the job was.
struct OpenSpan {
    start: u64,
    inherit: Inherit,
}

impl Local {
    pub(crate) fn new(shared: Arc<Shared>, index: Option<usize>) -> Local {
        let main = index.is_none() && shared.is_main_thread();
        let lane = match index {
            Some(index) => Some(shared.recorder.worker_lane(index)),
            None if main => Some(shared.recorder.main_lane()),
            None => None,
        };
        Local {
            lane,
            lane_borrowed: false,
            depth: 0,
            last_end: None,
            shared,
            index,
            main,
            private: Default::default(),
            pending: Completion::None,
            pending_count: 0,
            finished: [0; 3],
            since_publish: 0,
            current: Priority::Normal,
        }
    }

    pub(crate) fn worker_index(&self) -> Option<usize> {
        self.index
    }

    pub(crate) fn on_main_thread(&self) -> bool {
        self.main
    }

    /// Queues a job spawned on this thread.
    pub(crate) fn push(&mut self, job: JobRef) {
        let header = job.header();
        if header.pinned() {
            // Never in a private queue, even the main thread's: private jobs get shared.
            self.shared.push_main(job);
            return;
        }
        let p = header.priority().index();
        self.private[p].push_back(job);
        self.maybe_share(p);
    }

    /// The next job this thread should run, highest priority first (module docs).
    pub(crate) fn find_work(&mut self) -> Option<JobRef> {
        if self.main {
            if let Some(job) = self.shared.pop_main() {
                return Some(job);
            }
        }
        for p in 0..Priority::ALL.len() {
            if let Some(job) = self.private[p].pop_back() {
                self.maybe_share(p);
                return Some(job);
            }
            match self.shared.steal(p) {
                Some(Entry::Job(job)) => return Some(job),
                Some(Entry::Bundle(jobs)) => {
                    // Adopt the bundle: newest of its jobs first, the rest stays private.
                    self.private[p].extend(jobs);
                    let job = self.private[p].pop_back();
                    self.maybe_share(p);
                    return job;
                }
                None => {}
            }
        }
        // Going to look for work: the next span starts when some is found.
        self.last_end = None;
        None
    }

    /// Whether work of a priority above `priority` is waiting where this thread can see it.
    pub(crate) fn higher_priority_waiting(&self, priority: Priority) -> bool {
        (0..priority.index()).any(|p| !self.private[p].is_empty() || self.shared.has_queued(p))
    }

    /// Shares half of private queue `p` (rounded up: a lone job too) if another worker is
    /// looking for work, or asleep with nobody looking (module docs). Called after a push (the
    /// spawning job still runs here) and after a pop (the popped job will run here), so every job
    /// left in the queue is one this thread is not about to run.
    #[inline]
    fn maybe_share(&mut self, p: usize) {
        if self.private[p].is_empty() {
            return;
        }
        // The hints sit on a cache line of their own, written only when a worker goes idle or
        // to sleep: while every worker is busy this load hits the local cache.
        let (looking, sleeping) = self.shared.sleep.hints();
        if (looking > 0 && !self.shared.has_queued(p)) || (looking == 0 && sleeping > 0) {
            self.share(p);
        }
    }

    #[cold]
    fn share(&mut self, p: usize) {
        let queue = &mut self.private[p];
        let half = queue.len().div_ceil(2).min(MAX_BUNDLE);
        let entry = if half == 1 {
            Entry::Job(
                queue
                    .pop_front()
                    .expect("maybe_share checked the queue is not empty"),
            )
        } else {
            Entry::Bundle(queue.drain(..half).collect())
        };
        self.shared.publish(p, entry);
    }

    /// Runs `job` on this thread.
    ///
    /// # Safety
    /// `local` is this thread's live executor state and no borrow of it is held; the caller
    /// owns `job`.
    pub(crate) unsafe fn run(local: LocalPtr, job: JobRef) {
        let (outer, span) = {
            // SAFETY: a short borrow, ended before the job's user code runs.
            let this = unsafe { &mut *local.as_ptr() };
            let header = job.header();
            // Before the flush, so that a span covers all the thread does for its job (the
            // statistics count the flush as busy time too).
            let span = if this.shared.recorder.is_recording() {
                this.open_span(header.inherit())
            } else {
                // A later recording must not start a span where this job's predecessor ended.
                this.last_end = None;
                None
            };
            if this.pending != header.completion() {
                this.flush();
            }
            this.depth += 1;
            (
                std::mem::replace(&mut this.current, header.priority()),
                span,
            )
        };
        #[cfg(feature = "tracy")]
        let zone = crate::trace::tracy::job_zone(job.header().inherit());
        // SAFETY: forwarded from the caller.
        unsafe { job.run(local) };
        #[cfg(feature = "tracy")]
        drop(zone);
        // SAFETY: the job's user code has returned; a short borrow.
        let this = unsafe { &mut *local.as_ptr() };
        this.depth -= 1;
        if let Some(span) = span {
            this.close_span(span);
        }
        // A job that waits inside (a nested `wait`) runs others here: restore the priority of
        // the job that was running before, for the statistics.
        this.current = outer;
    }

    /// Starts a span for a job about to run, if this thread has a lane.
    #[inline]
    fn open_span(&mut self, inherit: Inherit) -> Option<OpenSpan> {
        if self.lane.is_none() && !self.lane_borrowed {
            self.lane_borrowed = true;
            self.lane = self.shared.recorder.borrow_helper();
        }
        if self.lane.is_none() {
            self.shared.recorder.drop_span();
            return None;
        }
        // Only a worker's top-level jobs run back to back with nothing between them but the
        // search for the next one; elsewhere the thread may have done anything since.
        let start = match self.last_end.take() {
            Some(end) if self.depth == 0 => end,
            _ => clock::now(),
        };
        Some(OpenSpan { start, inherit })
    }

    #[inline]
    fn close_span(&mut self, span: OpenSpan) {
        let Some(lane) = self.lane else { return };
        let end = clock::now();
        // SAFETY: `lane` is this thread's own: its worker index, the main thread's lane, or a
        // helper lane lent to this thread until its `Local` drops.
        unsafe {
            self.shared
                .recorder
                .push(lane, RawSpan::new(span.start, end, span.inherit))
        };
        if self.depth == 0 && self.index.is_some() {
            self.last_end = Some(end);
        }
    }

    /// Tells the recorder and the profiler that a job with `inherit` panicked on this thread.
    #[cold]
    pub(crate) fn job_panicked(&self, inherit: Inherit, panic: &Payload) {
        self.shared
            .recorder
            .job_panicked(self.lane, inherit.label, panic);
        #[cfg(feature = "tracy")]
        crate::trace::tracy::job_panicked(inherit, panic);
    }

    /// Reports `count` finished jobs (or batch items) to `completion`, after recording `panic`
    /// there. The decrement itself is cached (module docs).
    pub(crate) fn complete(
        &mut self,
        completion: Completion,
        count: usize,
        panic: Option<Payload>,
    ) {
        self.finished[self.current.index()] += count as u64;
        self.since_publish += 1;
        if self.since_publish >= STATS_EVERY {
            self.publish_stats();
        }
        if let Some(panic) = panic {
            match completion {
                Completion::None => self.shared.unobserved_panic(panic),
                // SAFETY: the job is still counted, so the counter is alive.
                Completion::Counter(counter) => unsafe { counter.as_ref().record_panic(panic) },
                // SAFETY: the parent is suspended until this child reports, so it is alive.
                Completion::Parent(parent) => unsafe { parent.as_ref().record_panic(panic) },
            }
        }
        if completion == Completion::None {
            return;
        }
        if self.pending == completion {
            self.pending_count += count;
        } else {
            self.flush();
            self.pending = completion;
            self.pending_count = count;
        }
    }

    /// Applies the cached completions if they are for `counter` (a job is about to wait on it).
    pub(crate) fn flush_pending_on(&mut self, counter: &CounterState) {
        if let Completion::Counter(pending) = self.pending {
            if std::ptr::eq(pending.as_ptr().cast_const(), counter) {
                self.flush();
            }
        }
    }

    /// Applies the cached completions; true if that resumed a parent into this thread's queue.
    pub(crate) fn flush(&mut self) -> bool {
        let count = mem::replace(&mut self.pending_count, 0);
        match mem::replace(&mut self.pending, Completion::None) {
            Completion::None => false,
            Completion::Counter(counter) => {
                // Statistics first: whoever sees the counter reach zero sees these jobs counted
                // (a frame's job count is read right after its counters reach zero).
                self.publish_stats();
                // SAFETY: `count` finished jobs of this counter are still counted on it.
                unsafe { CounterState::decrement(counter, count) };
                false
            }
            Completion::Parent(parent) => {
                // SAFETY: the parent is suspended until its last child reports, so it is alive.
                let resumed = unsafe { parent.as_ref() }.finish_children(count);
                if resumed {
                    // Resume it here, next: its children's data is hot in this cache.
                    self.push(JobRef::from_header(parent));
                }
                resumed
            }
        }
    }

    /// Sends a yielding job to the back of the shared queue of its priority.
    pub(crate) fn yield_job(&mut self, job: JobRef) {
        self.shared.schedule(job);
    }

    /// Adds this thread's finished-job counts to the shared statistics.
    pub(crate) fn publish_stats(&mut self) {
        self.since_publish = 0;
        let finished = mem::take(&mut self.finished);
        self.shared.stats().add_finished(self.index, finished);
        if let Some(index) = self.index {
            let queued = self.private.iter().map(VecDeque::len).sum();
            self.shared.stats().worker(index).set_private_queued(queued);
        }
    }

    /// The next job pinned to this thread, if it is the main thread.
    pub(crate) fn find_pinned(&mut self) -> Option<JobRef> {
        if self.main {
            self.shared.pop_main()
        } else {
            None
        }
    }

    /// Publishes every private job to the shared queues (an outside thread stops helping).
    pub(crate) fn publish_private(&mut self) {
        for p in 0..Priority::ALL.len() {
            if !self.private[p].is_empty() {
                let jobs = self.private[p].drain(..).collect();
                self.shared.publish(p, Entry::Bundle(jobs));
            }
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.flush();
        self.publish_private();
        self.publish_stats();
        if let (true, Some(lane)) = (self.lane_borrowed, self.lane) {
            self.shared.recorder.give_back_helper(lane);
        }
    }
}

/// Whether this thread is one of `shared`'s workers.
pub(crate) fn is_worker_of(shared: &Arc<Shared>) -> bool {
    CURRENT.get().is_some_and(|local| {
        // SAFETY: CURRENT points to the live state of a frame further up this thread's stack.
        let local = unsafe { local.as_ref() };
        local.index.is_some() && Arc::ptr_eq(&local.shared, shared)
    })
}

/// Runs `f` with this thread's executor state for `shared`: the current one if this thread is
/// already running jobs of that system, else a new one for the duration of the call.
pub(crate) fn with_local<R>(shared: &Arc<Shared>, f: impl FnOnce(LocalPtr) -> R) -> R {
    if let Some(local) = CURRENT.get() {
        // SAFETY: CURRENT points to the live state of a frame further up this thread's stack.
        if Arc::ptr_eq(&unsafe { local.as_ref() }.shared, shared) {
            return f(local);
        }
    }
    let mut local = Local::new(Arc::clone(shared), None);
    let ptr = NonNull::from(&mut local);
    let previous = CURRENT.replace(Some(ptr));
    struct Restore(Option<LocalPtr>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.set(self.0);
        }
    }
    let restore = Restore(previous);
    let result = f(ptr);
    drop(restore);
    drop(local);
    result
}

/// The body of worker thread `index`.
pub(crate) fn worker_main(shared: Arc<Shared>, index: usize, core: Option<usize>) {
    #[cfg(feature = "tracy")]
    crate::trace::tracy::name_thread(&format!("jobs worker {index}"));
    if let Some(core) = core {
        let pinned = core_affinity::set_for_current(core_affinity::CoreId { id: core });
        shared.stats().worker(index).set_pinned(core, pinned);
    }
    let mut local = Local::new(Arc::clone(&shared), Some(index));
    let ptr = NonNull::from(&mut local);
    CURRENT.set(Some(ptr));
    let stats = shared.stats().worker(index);
    stats.mark_busy(true);
    let this = || {
        // SAFETY: `ptr` is this thread's state, and every borrow made here ends before a job
        // runs (see `LocalPtr`).
        unsafe { &mut *ptr.as_ptr() }
    };
    'work: loop {
        while let Some(job) = this().find_work() {
            // SAFETY: we own `job`; no borrow of the state is held.
            unsafe { Local::run(ptr, job) };
        }
        // Idle from the moment no job is left: applying the cached completions and publishing
        // the counts is not running a job (and so falls between spans in a trace too).
        stats.mark_busy(false);
        this().flush();
        this().publish_stats();
        shared.sleep.start_looking();
        let spin = shared.spin();
        let mut deadline = Instant::now() + spin;
        let mut rounds = 0u32;
        loop {
            if let Some(job) = this().find_work() {
                shared.sleep.stop_looking();
                stats.mark_busy(true);
                // SAFETY: as above.
                unsafe { Local::run(ptr, job) };
                continue 'work;
            }
            rounds = rounds.wrapping_add(1);
            if rounds % 8 != 0 {
                std::hint::spin_loop();
                continue;
            }
            if Instant::now() < deadline {
                // Two cores, three threads (the main thread helps): give the core away now and
                // then while looking.
                std::thread::yield_now();
                continue;
            }
            let wake =
                shared
                    .sleep
                    .sleep(index, || shared.has_visible_work(), || shared.may_finish());
            match wake {
                Wake::Look => deadline = Instant::now() + spin,
                Wake::Done => break 'work,
            }
        }
    }
    CURRENT.set(None);
    drop(local);
}

//! The job system: its threads, its shared state, and the ways into it.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, Thread, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::batch::{self, Batch};
use crate::config::{Config, ConfigError};
use crate::counter::{Counter, CounterPool};
use crate::executor::{self, with_local, BackgroundSlots, Stealers, WaitOptions, WaitStop};
use crate::heap::TaggedHeap;
use crate::job::{Completion, Job, JobRef};
use crate::meta::Inherit;
use crate::panic::JobPanic;
use crate::pinned::{self, Inboxes, NotRegistered, RegisterError, ThreadRegistration};
use crate::queue::{Entry, Queues};
use crate::sleep::{Seen, Sleep};
use crate::stats::{Stats, StatsShared};
use crate::sync::lock;
use crate::trace::{self, lane::RawSpan, probe, Recorder, RecordingError, Trace};
use crate::{Context, Priority};

/// A fixed set of pinned worker threads running prioritized jobs. See the [crate docs](crate).
///
/// `JobSystem` is `Sync`: any thread may submit. The thread that creates it is the *main
/// thread*: jobs [pinned to it](Job::pinned_to_main) run there.
///
/// ## Shutdown
/// Dropping the system lets the workers run every job already queued, every job those spawn,
/// and every job resumed by a blocking request in flight, until no worker can find work. Then
/// every worker and I/O thread is joined, and jobs still queued for the main thread or a
/// [registered](JobSystem::register_thread) thread are cancelled: dropped without running, and
/// reported to whoever waits for them as a [`JobPanic`] saying so (a
/// [`ThreadRegistration`](crate::ThreadRegistration) may outlive its system: dropping it then
/// does nothing). Dropped from inside one of its own jobs (the last `Arc<JobSystem>` let go on a
/// worker), the system cannot join the thread it runs on: it shuts down the same way but
/// detaches its threads, which exit once idle. A job suspended on a counter that has not reached
/// zero stays suspended; if the
/// counter reaches zero later it is cancelled then (a job waiting on a counter that never reaches
/// zero is a deadlock in the program, and is never run nor dropped).
pub struct JobSystem {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    io_threads: Vec<JoinHandle<()>>,
}

/// The state every thread of one job system shares.
pub(crate) struct Shared {
    queues: Queues,
    /// Every worker's deques, then the main thread's (`executor/local.rs`).
    stealers: Vec<Stealers>,
    pub(crate) sleep: Sleep,
    main_id: ThreadId,
    main_thread: Thread,
    /// The jobs pinned to the main thread and to registered threads (`pinned.rs`).
    pub(crate) inboxes: Inboxes,
    /// Taken (closing the channel) at shutdown, so that the I/O threads end.
    io: Mutex<Option<Sender<JobRef>>>,
    io_in_flight: AtomicUsize,
    heap: TaggedHeap,
    counters: Arc<CounterPool>,
    stats: StatsShared,
    pub(crate) recorder: Recorder,
    spin: Duration,
    help_while_waiting: bool,
    workers: usize,
    /// The threads that may run Low-priority jobs at once (`executor/background.rs`).
    pub(crate) background: BackgroundSlots,
    /// Set once the workers have exited: whatever is scheduled from then on is cancelled.
    closed: AtomicBool,
    /// Workers that have started and reported their pinning (`JobSystem::new` waits for all).
    started: AtomicUsize,
}

impl Shared {
    /// The threads that may run a batch's runners: the workers, and the main thread when it
    /// helps while it waits. A batch gets one runner for each, so that none of them is left
    /// without a share while another runs two.
    pub(crate) fn threads_running_jobs(&self) -> usize {
        self.workers + usize::from(self.help_while_waiting)
    }

    pub(crate) fn spin(&self) -> Duration {
        self.spin
    }

    /// Worker `index` has started and reported where it runs: wakes `JobSystem::new`.
    pub(crate) fn worker_started(&self) {
        self.started.fetch_add(1, Ordering::Release);
        self.main_thread.unpark();
    }

    /// Arms `counter` for the runners `make` creates for a batch of `items` items, and queues
    /// them at the batch's priority (Normal unless it names one): the system's and a
    /// `Scope`'s batches.
    fn queue_runners<'a>(
        &self,
        counter: &Counter,
        batch: Batch,
        items: usize,
        make: impl FnOnce(usize, Completion) -> Vec<Job<'a>>,
    ) {
        let priority = batch.priority.unwrap_or(Priority::Normal);
        if items == 0 {
            return;
        }
        // Only the runners are counted (see `batch.rs`): when the counter reaches zero every
        // item has run and no runner holds the body, for any number of items.
        let completion = Completion::Counter(counter.arm(0));
        let runners = make(self.threads_running_jobs(), completion);
        counter.arm(runners.len());
        for runner in runners {
            let job = runner.into_ref(completion, Inherit::at(priority), || self.inboxes.id());
            self.queues.push(priority.index(), Entry::Job(job));
        }
        self.sleep.notify(self.workers);
    }

    /// Whether threads outside the pool run its jobs while they wait.
    pub(crate) fn outside_threads_help(&self) -> bool {
        self.help_while_waiting
    }

    pub(crate) fn heap(&self) -> &TaggedHeap {
        &self.heap
    }

    pub(crate) fn stats(&self) -> &StatsShared {
        &self.stats
    }

    pub(crate) fn is_main_thread(&self) -> bool {
        thread::current().id() == self.main_id
    }

    /// Whether the calling thread is one of this system's workers or I/O threads.
    pub(crate) fn is_pool_thread(self: &Arc<Self>) -> bool {
        executor::is_worker_of(self) || is_io_thread_of(self)
    }

    /// Queues a job where it can be seen by every worker (or by the thread it is pinned to),
    /// and wakes a worker (or that thread) for it.
    pub(crate) fn schedule(&self, job: JobRef) {
        if self.closed.load(Ordering::Acquire) {
            // A job resumed after shutdown (its counter reached zero late): nobody can run it.
            // SAFETY: a job being scheduled is not running.
            unsafe { job.cancel(self) };
            return;
        }
        let header = job.header();
        match header.pinned_slot() {
            Some(slot) => self.push_pinned(slot, job),
            None => self.publish(header.priority().index(), Entry::Job(job)),
        }
    }

    /// Pushes to the shared queue of `priority` and wakes a worker if one sleeps.
    pub(crate) fn publish(&self, priority: usize, entry: Entry) {
        self.queues.push(priority, entry);
        self.sleep.notify(1);
    }

    pub(crate) fn steal(&self, priority: usize) -> Option<Entry> {
        self.queues.steal(priority)
    }

    #[inline]
    pub(crate) fn has_queued(&self, priority: usize) -> bool {
        self.queues.has_queued(priority)
    }

    /// Every worker's deques by worker index, then the main thread's.
    pub(crate) fn stealers(&self) -> &[Stealers] {
        &self.stealers
    }

    /// Whether a job waits that a thread running the first `runs` priorities could take now.
    /// Low jobs count only while the thread may take one (`executor/background.rs`): it holds
    /// a slot for Low work (`holds_slot`: it waits inside a Low job and keeps its slot), or one
    /// is free. A worker sleeps through Low work that every slot's holder is busy with, and is
    /// woken when one is given back.
    pub(crate) fn has_visible_work_for(&self, runs: usize, holds_slot: bool) -> bool {
        let runs = if holds_slot || self.background.any_free() {
            runs
        } else {
            runs.min(Priority::ALL.len() - 1)
        };
        (0..runs.min(Priority::ALL.len())).any(|p| {
            self.queues.has_queued(p) || self.stealers.iter().any(|deques| !deques[p].is_empty())
        })
    }

    /// What a thread running the first `runs` priorities (holding a slot for Low work if
    /// `holds_slot`) sees before it sleeps: work it may take, only work it may not, or none.
    pub(crate) fn seen_by(&self, runs: usize, holds_slot: bool) -> Seen {
        if self.has_visible_work_for(runs, holds_slot) {
            Seen::Work
        } else if self.has_visible_work_for(Priority::ALL.len(), true) {
            Seen::Beyond
        } else {
            Seen::Nothing
        }
    }

    /// Wakes a sleeping worker if any work is visible: called by a thread that slept in the
    /// sleep protocol inside a wait and leaves it for its job, since a publisher's wake may have
    /// chosen it just as its wait ended (`sleep/README.md`, *Waiting inside a job*). Low work
    /// counts even with no slot free: another wait holding one may take it (the sleeper woken
    /// first is the one that may take the most, or hands the wake up, *Ranks*).
    pub(crate) fn pass_on_wake(&self) {
        if self.has_visible_work_for(Priority::ALL.len(), true) {
            self.sleep.notify(1);
        }
    }

    /// Whether workers may shut down once idle: no blocking request can still resume a job.
    pub(crate) fn may_finish(&self) -> bool {
        // A thread running a Low job (a registered thread, helping) may still queue work, and
        // Low jobs may wait for its slot: the workers stay until it gives it back.
        self.io_in_flight.load(Ordering::Acquire) == 0 && self.background.none_taken()
    }

    /// Queues a job pinned to the thread of `slot`; cancels it if no thread will run it.
    pub(crate) fn push_pinned(&self, slot: u8, job: JobRef) {
        if let Err((job, why)) = self.inboxes.push(slot, job) {
            // SAFETY: a job being queued is not running.
            unsafe { job.finish_detached(Some(pinned::unrunnable(why)), self) };
        }
    }

    /// Whether jobs pinned to the thread of `slot` wait for it (a hint: a relaxed load).
    pub(crate) fn pinned_waiting(&self, slot: u8) -> bool {
        self.inboxes.waiting(slot)
    }

    /// The next job pinned to the thread of `slot`, of priority `lowest` or higher.
    pub(crate) fn pop_pinned(&self, slot: u8, lowest: Priority) -> Option<JobRef> {
        self.inboxes.pop(slot, lowest)
    }

    /// Hands a job with a pending blocking step to an I/O thread.
    pub(crate) fn submit_blocking(&self, job: JobRef) {
        self.io_in_flight.fetch_add(1, Ordering::AcqRel);
        let refused = match lock(&self.io).as_ref() {
            Some(sender) => sender.send(job).err().map(|e| e.into_inner()),
            None => Some(job),
        };
        if let Some(job) = refused {
            // SAFETY: the job's step has returned; it is suspended, not running.
            unsafe { job.cancel(self) };
            self.io_in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Counts a panic nobody will see: of a job nothing counts, or not the first recorded where
    /// its completion goes. (The panic hook already reported it where it happened.)
    pub(crate) fn unobserved_panic(&self) {
        self.stats.unobserved_panics.fetch_add(1, Ordering::Relaxed);
    }

    /// Cancels everything still queued (shutdown, after the workers have exited).
    fn cancel_queued(&self) {
        loop {
            let mut any = false;
            for job in self.inboxes.drain() {
                // SAFETY: a queued job is not running.
                unsafe { job.cancel(self) };
                any = true;
            }
            for p in 0..Priority::ALL.len() {
                while let Some(entry) = self.steal(p) {
                    entry.cancel(self);
                    any = true;
                }
            }
            if !any {
                return;
            }
        }
    }
}

thread_local! {
    /// On an I/O thread: the system it serves.
    static IO_OF: std::cell::Cell<*const Shared> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// Whether this thread is one of `shared`'s I/O threads.
fn is_io_thread_of(shared: &Arc<Shared>) -> bool {
    IO_OF.get() == Arc::as_ptr(shared)
}

/// The body of an I/O thread: runs blocking steps, then sends their jobs back to the workers.
fn io_main(shared: Arc<Shared>, index: usize, requests: Receiver<JobRef>) {
    probe::name_thread(|| format!("jobs io {index}"));
    IO_OF.set(Arc::as_ptr(&shared));
    let lane = shared.recorder.io_lane(index);
    for mut job in requests {
        let start = shared.recorder.is_recording().then(trace::clock::now);
        let inherit = job.header().inherit();
        let outcome = {
            let _zone = probe::job_zone(inherit);
            // SAFETY: only `Action::Blocking` sends jobs here (`Shared::submit_blocking`).
            unsafe { job.run_blocking() }
        };
        if let Some(start) = start {
            // SAFETY: this I/O thread is the only writer of its lane.
            unsafe {
                shared
                    .recorder
                    .push(lane, RawSpan::new(start, trace::clock::now(), inherit))
            };
        }
        match outcome {
            Ok(()) => shared.schedule(job),
            Err(panic) => {
                shared
                    .recorder
                    .job_panicked(Some(lane), inherit.label, &panic);
                probe::job_panicked(inherit, &panic);
                // SAFETY: the blocking step has returned; nothing else runs the job.
                unsafe { job.finish_detached(Some(panic), &shared) }
            }
        }
        shared.io_in_flight.fetch_sub(1, Ordering::AcqRel);
        // A shutting-down system may be waiting for this request to end.
        shared.sleep.notify(1);
    }
}

/// Starts a thread of the pool; an error (the operating system's reason) if it cannot.
fn spawn_thread(
    name: String,
    stack_size: usize,
    body: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, ConfigError> {
    #[cfg(test)]
    if tests::SPAWN_FAILS_AT.with(|at| at.borrow().as_deref() == Some(name.as_str())) {
        return Err(ConfigError::Spawn(format!("{name}: refused by the test")));
    }
    thread::Builder::new()
        .name(name)
        .stack_size(stack_size)
        .spawn(body)
        .map_err(|e| ConfigError::Spawn(e.to_string()))
}

impl JobSystem {
    /// How many jobs may run nested on one thread's stack (jobs that wait inside jobs, each
    /// running others while it waits) before a wait stops running jobs and only sleeps: deep
    /// enough for any real nesting, shallow enough that a worker's stack never overflows.
    pub const MAX_HELPING_DEPTH: usize = executor::MAX_HELPING_DEPTH;

    /// Starts the workers and I/O threads described by `config`.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default())?;
    /// assert!(system.worker_count() >= 1);
    /// assert_eq!(
    ///     jobs::JobSystem::new(jobs::Config::default().workers(0)).err(),
    ///     Some(jobs::ConfigError::ZeroWorkers)
    /// );
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn new(config: Config) -> Result<JobSystem, ConfigError> {
        let resolved = config.resolve()?;
        let (sender, receiver) = crossbeam_channel::unbounded();
        let current = thread::current();
        let (deques, mut stealers): (Vec<_>, Vec<_>) =
            (0..resolved.workers).map(|_| executor::deques()).unzip();
        // The main thread's deques, last: it makes its own owner handle (`Local::new`).
        stealers.push(executor::deques().1);
        let shared = Arc::new(Shared {
            queues: Queues::new(),
            stealers,
            sleep: Sleep::new(resolved.workers),
            main_id: current.id(),
            inboxes: Inboxes::new(current.clone()),
            main_thread: current,
            io: Mutex::new(Some(sender)),
            io_in_flight: AtomicUsize::new(0),
            heap: TaggedHeap::new(config.heap),
            counters: Arc::new(CounterPool::default()),
            stats: StatsShared::new(resolved.workers),
            recorder: Recorder::new(resolved.workers, config.io_threads, config.recorder_memory),
            spin: config.spin,
            help_while_waiting: config.help_while_waiting,
            workers: resolved.workers,
            background: BackgroundSlots::new(resolved.low_priority_threads),
            closed: AtomicBool::new(false),
            started: AtomicUsize::new(0),
        });
        // Told when this thread exits, to cancel the jobs pinned to it.
        pinned::hold_main(&shared);
        let mut system = JobSystem {
            shared,
            workers: Vec::new(),
            io_threads: Vec::new(),
        };
        for (index, (core, deques)) in resolved.cores.into_iter().zip(deques).enumerate() {
            let shared = Arc::clone(&system.shared);
            let spawned = spawn_thread(
                format!("jobs-worker-{index}"),
                config.stack_size,
                move || executor::worker_main(shared, index, core, deques),
            );
            match spawned {
                Ok(handle) => system.workers.push(handle),
                Err(err) => {
                    // The workers that did start shut down as a pool of their own size: the
                    // sleep protocol must not wait for the others to fall asleep (the drop of
                    // `system` joins them).
                    system.shared.sleep.only_started(system.workers.len());
                    return Err(err);
                }
            }
        }
        for index in 0..config.io_threads {
            let shared = Arc::clone(&system.shared);
            let receiver = receiver.clone();
            let handle = spawn_thread(format!("jobs-io-{index}"), config.stack_size, move || {
                io_main(shared, index, receiver)
            })?;
            system.io_threads.push(handle);
        }
        // Wait for every worker to start, so that `core_affinity` tells from the first call where
        // each one runs (a worker pins itself first thing).
        while system.shared.started.load(Ordering::Acquire) < system.workers.len() {
            thread::park_timeout(Duration::from_millis(1));
        }
        Ok(system)
    }

    /// Tells this system's [`PinnedThread`](crate::PinnedThread)s from other systems'.
    fn id(&self) -> u64 {
        self.shared.inboxes.id()
    }

    /// The number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.shared.workers
    }

    /// How many threads may run [`Priority::Low`] jobs at once
    /// ([`Config::low_priority_threads`](crate::Config::low_priority_threads); by default every
    /// thread that runs jobs but one, at least one).
    ///
    /// ```
    /// let config = jobs::Config::default().workers(3).help_while_waiting(false);
    /// let system = jobs::JobSystem::new(config)?;
    /// assert_eq!(system.low_priority_threads(), 2); // one worker always free for frame work
    /// let config = jobs::Config::default().workers(1).help_while_waiting(false);
    /// assert_eq!(jobs::JobSystem::new(config)?.low_priority_threads(), 1);
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn low_priority_threads(&self) -> usize {
        self.shared.background.limit()
    }

    /// Per worker: the core it was asked to run on and whether setting its affinity to that core
    /// succeeded, or `None` if it has none ([`Config::core_affinity`](crate::Config::core_affinity)).
    /// Known from the start: [`JobSystem::new`] returns once every worker has set its own.
    /// (Core affinity is where a *thread* runs; a *job* pinned to a thread is
    /// [`Job::pinned_to`](crate::Job::pinned_to).)
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2).cores(vec![0]))?;
    /// // Both workers asked for core 0, and have tried already.
    /// assert!(system.core_affinity().iter().all(|p| matches!(p, Some((0, _)))));
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn core_affinity(&self) -> Vec<Option<(usize, bool)>> {
        self.stats().workers.into_iter().map(|w| w.core).collect()
    }

    /// A counter at zero from the system's pool (it goes back when the last handle is dropped).
    pub fn counter(&self) -> Counter {
        Counter::from_pool(&self.shared.counters)
    }

    /// The tagged heap that [`Action::Memory`](crate::Action::Memory) allocates from.
    pub fn heap(&self) -> &TaggedHeap {
        &self.shared.heap
    }

    /// A snapshot of the statistics. Cheap: a few loads per worker.
    pub fn stats(&self) -> Stats {
        let (workers, jobs_finished) = self.shared.stats.snapshot();
        Stats {
            workers,
            jobs_finished,
            queued: self.shared.queues.lengths(),
            pinned_queued: self.shared.inboxes.queued(),
            io_in_flight: self.shared.io_in_flight.load(Ordering::Relaxed),
            unobserved_panics: self.shared.stats.unobserved_panics.load(Ordering::Relaxed)
                + self.shared.counters.unobserved.load(Ordering::Relaxed),
            heap: self.shared.heap.stats(),
        }
    }

    /// The recorder: whether it records, and what frame loops add to a trace (frames, the
    /// graph, messages). See [`trace`](crate::trace).
    pub fn recorder(&self) -> &Recorder {
        &self.shared.recorder
    }

    /// Starts recording every job span (see [`trace`](crate::trace)); an error if a recording
    /// is already under way.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// system.start_recording()?;
    /// assert!(system.start_recording().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_recording(&self) -> Result<(), RecordingError> {
        self.shared.recorder.start(self.stats())
    }

    /// Stops recording and returns what was recorded since
    /// [`start_recording`](Self::start_recording), with the job system's statistics over the
    /// same window; an error if nothing is being recorded. Jobs running at this moment may
    /// finish their spans after it: those spans are clipped to the window.
    pub fn stop_recording(&self) -> Result<Trace, RecordingError> {
        self.shared.recorder.stop(self.stats())
    }

    /// Submits a job that nothing counts (fire and forget).
    pub fn submit(&self, job: Job<'static>) {
        self.shared
            .schedule(job.into_ref(Completion::None, Inherit::ROOT, || self.id()));
    }

    /// Submits a job counted on `counter`.
    pub fn submit_counted(&self, counter: &Counter, job: Job<'static>) {
        let completion = Completion::Counter(counter.arm(1));
        self.shared
            .schedule(job.into_ref(completion, Inherit::ROOT, || self.id()));
    }

    /// Submits jobs counted on `counter`: the counter goes up by their number at once, and they
    /// reach the workers in a few bundles rather than one by one.
    ///
    /// ```
    /// use jobs::{Job, JobSystem};
    /// let system = JobSystem::new(jobs::Config::default().workers(2))?;
    /// let counter = system.counter();
    /// system.submit_batch(&counter, (0..1000).map(|_| Job::from_fn(|_| {})));
    /// system.wait(&counter)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_batch<I>(&self, counter: &Counter, jobs: I)
    where
        I: IntoIterator<Item = Job<'static>>,
    {
        let jobs: Vec<Job<'static>> = jobs.into_iter().collect();
        let completion = Completion::Counter(counter.arm(jobs.len()));
        let mut by_priority: [Vec<JobRef>; 3] = Default::default();
        for job in jobs {
            let job = job.into_ref(completion, Inherit::ROOT, || self.id());
            if let Some(slot) = job.header().pinned_slot() {
                self.shared.push_pinned(slot, job);
            } else {
                by_priority[job.header().priority().index()].push(job);
            }
        }
        let workers = self.shared.workers;
        for (p, mut jobs) in by_priority.into_iter().enumerate() {
            // One bundle per worker: each worker takes one and shares on from there.
            let per_bundle = jobs.len().div_ceil(workers).max(1);
            while !jobs.is_empty() {
                let rest = jobs.split_off(per_bundle.min(jobs.len()));
                let bundle = std::mem::replace(&mut jobs, rest);
                self.shared.publish(p, Entry::Bundle(bundle));
            }
        }
    }

    /// Submits `range.len()` jobs counted on `counter`, job `i` running `body(i)`: Naughty Dog's
    /// `RunJobs` with an array of job declarations. The items are handed out as `batch` says
    /// ([`Batch`](crate::Batch): the grain, and the runners' priority, Normal by default) by one
    /// runner job per thread running jobs.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let counter = system.counter();
    /// let s = sum.clone();
    /// system.submit_for(&counter, 0..1000, jobs::Grain::Auto, move |i| {
    ///     s.fetch_add(i as u64, Ordering::Relaxed);
    /// });
    /// system.wait(&counter)?;
    /// assert_eq!(sum.load(Ordering::Relaxed), 499_500);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_for<F>(
        &self,
        counter: &Counter,
        range: Range<usize>,
        batch: impl Into<Batch>,
        body: F,
    ) where
        F: Fn(usize) + Send + Sync + 'static,
    {
        let batch = batch.into();
        self.shared
            .queue_runners(counter, batch, range.len(), |workers, completion| {
                batch::items(body, range, batch.grain, workers, completion)
            });
    }

    /// Runs `body(i)` for every `i` in `range` on the workers (and this thread), returning when
    /// all are done. `body` may borrow from the caller. A panic in `body` is returned as an error
    /// once every other item has run.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let hits = AtomicUsize::new(0); // borrowed from this stack frame
    /// system.parallel_for(0..1000, jobs::Grain::Auto, |_| {
    ///     hits.fetch_add(1, Ordering::Relaxed);
    /// })?;
    /// assert_eq!(hits.into_inner(), 1000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parallel_for<F>(
        &self,
        range: Range<usize>,
        batch: impl Into<Batch>,
        body: F,
    ) -> Result<(), JobPanic>
    where
        F: Fn(usize) + Send + Sync,
    {
        let batch = batch.into();
        self.run_batch(range.len(), batch, |workers, completion| {
            batch::items(body, range, batch.grain, workers, completion)
        })
    }

    /// Like [`parallel_for`](Self::parallel_for), with `body` called once per chunk of items as
    /// `batch` cuts them: the form for kernels that loop over a slice. A panic ends its own
    /// chunk (the other chunks still run) and is returned as an error.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let data: Vec<f32> = (0..100_000).map(|i| i as f32).collect();
    /// let total = std::sync::atomic::AtomicU64::new(0);
    /// system.parallel_for_chunks(0..data.len(), jobs::Grain::fixed(4096)?, |chunk| {
    ///     let sum: f32 = data[chunk].iter().sum();
    ///     total.fetch_add(sum as u64, std::sync::atomic::Ordering::Relaxed);
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parallel_for_chunks<F>(
        &self,
        range: Range<usize>,
        batch: impl Into<Batch>,
        body: F,
    ) -> Result<(), JobPanic>
    where
        F: Fn(Range<usize>) + Send + Sync,
    {
        let batch = batch.into();
        self.run_batch(range.len(), batch, |workers, completion| {
            batch::chunks(body, range, batch.grain, workers, completion)
        })
    }

    /// Submits a batch of `items` whose runners `make` creates, and waits for it (helping).
    fn run_batch<'a>(
        &self,
        items: usize,
        batch: Batch,
        make: impl FnOnce(usize, Completion) -> Vec<Job<'a>>,
    ) -> Result<(), JobPanic> {
        let counter = self.counter();
        self.shared.queue_runners(&counter, batch, items, make);
        // Every runner borrowing the body is counted: after this wait none is left.
        self.wait_for_borrowers(&counter)
    }

    /// Calls `body(i, &mut items[i])` for every item, in parallel: each item is visited once.
    /// Items are visited a chunk at a time ([`Batch`](crate::Batch)): a panic in `body` ends
    /// its chunk (the items after it in that chunk are not visited), every other chunk still
    /// runs, and the first panic is returned as an error.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let mut squares = vec![0u64; 1000];
    /// system.for_each_mut(&mut squares, jobs::Grain::Auto, |i, square| *square = (i * i) as u64)?;
    /// assert_eq!(squares[999], 998_001);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_mut<T, F>(
        &self,
        items: &mut [T],
        batch: impl Into<Batch>,
        body: F,
    ) -> Result<(), JobPanic>
    where
        T: Send,
        F: Fn(usize, &mut T) + Send + Sync,
    {
        let len = items.len();
        // SAFETY: the batch hands every index of `0..len` out exactly once, and `items` stays
        // mutably borrowed until this returns, after every chunk has run.
        let chunks = unsafe { batch::each_mut(items, body) };
        self.parallel_for_chunks(0..len, batch, chunks)
    }

    /// Waits until `counter` is zero, running jobs on this thread meanwhile (jobs pinned to it
    /// first, if this is the main thread). Sleeps only when there is nothing it can run, and is
    /// woken by the counter reaching zero (or by new work, on a worker).
    ///
    /// Returns the panic of a job counted in the round this wait waited for (on a counter already
    /// at zero: its last round), as every wait for that round does, or of an earlier round that
    /// no wait has reported yet (see [`Counter`](crate::Counter#panics)). Inside a job, prefer
    /// [`Action::Wait`](crate::Action::Wait): it suspends the job and frees the worker. A wait
    /// inside a job runs other jobs on the same stack; past a nesting of
    /// [`MAX_HELPING_DEPTH`](Self::MAX_HELPING_DEPTH) jobs it stops running jobs and sleeps.
    ///
    /// A wait that can never end because the counter counts a job running further up this
    /// thread's stack (the job that waits, or one it is nested in) returns a [`JobPanic`] saying
    /// "deadlock" at once. Other waits that never end (a job pinned to a main thread that no
    /// longer runs jobs, a counter nobody decrements) can be bounded with
    /// [`wait_timeout`](Self::wait_timeout).
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let counter = system.counter();
    /// system.submit_counted(&counter, jobs::Job::from_fn(|_| {}));
    /// system.wait(&counter)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&self, counter: &Counter) -> Result<(), JobPanic> {
        // Without a deadline it returns only once the counter's round has ended.
        self.wait_with(counter, WaitOptions::new()).map(|_| ())
    }

    /// Like [`wait`](Self::wait), but gives up after `timeout`: `Ok(false)` if the counter was
    /// not zero by then (its jobs go on; wait again later), `Ok(true)` once it is.
    ///
    /// A thread that helps while it waits looks at the clock between jobs: it may return later
    /// than `timeout` by the length of the job it was running. For a hard bound, do not let the
    /// thread help ([`Config::help_while_waiting(false)`](crate::Config::help_while_waiting)).
    ///
    /// ```
    /// use std::time::Duration;
    /// // This thread must not run the job itself while it waits: it would spin forever.
    /// let config = jobs::Config::default().workers(1).help_while_waiting(false);
    /// let system = jobs::JobSystem::new(config)?;
    /// let counter = system.counter();
    /// let gate = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    /// let open = gate.clone();
    /// system.submit_counted(&counter, jobs::Job::from_fn(move |_| {
    ///     while !open.load(std::sync::atomic::Ordering::Acquire) { std::thread::yield_now(); }
    /// }));
    /// assert!(!system.wait_timeout(&counter, Duration::from_millis(10))?);
    /// gate.store(true, std::sync::atomic::Ordering::Release);
    /// assert!(system.wait_timeout(&counter, Duration::from_secs(60))?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_timeout(&self, counter: &Counter, timeout: Duration) -> Result<bool, JobPanic> {
        self.wait_with(counter, WaitOptions::new().timeout(timeout))
    }

    /// Like [`wait`](Self::wait), as `options` say: until a deadline (then `Ok(false)` if the
    /// counter is not zero yet, as [`wait_timeout`](Self::wait_timeout)), and running only
    /// jobs of a priority at or above a given one meanwhile (enkiTS's `lowestPriorityToRun`).
    /// `Ok(true)` once the counter is zero.
    ///
    /// A wait limited to a priority cannot run the jobs below it itself: if the counter waits
    /// for such a job pinned to this very thread, it ends only at its deadline (without one,
    /// never). The limit also holds for whatever the jobs it runs call: nested waits,
    /// [`run_pinned`](Self::run_pinned), [`run_pinned_until`](Self::run_pinned_until) and
    /// [`help_until`](Self::help_until) never run a job below it.
    ///
    /// ```
    /// use jobs::{Job, Priority, WaitOptions};
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(1))?;
    /// let frame = system.counter();
    /// let background = system.counter();
    /// system.submit_counted(&background, Job::from_fn(|_| {}).with_priority(Priority::Low));
    /// system.submit_counted(&frame, Job::from_fn(|_| {}).with_priority(Priority::High));
    /// let high_only = WaitOptions::new().lowest_priority(Priority::High);
    /// assert!(system.wait_with(&frame, high_only)?); // never ran the Low job itself
    /// system.wait(&background)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_with(&self, counter: &Counter, options: WaitOptions) -> Result<bool, JobPanic> {
        let round = counter.begin_wait();
        if let Some(round) = round {
            let waited = with_local(&self.shared, |local| {
                executor::help_until(&self.shared, local, counter, round, options)
            });
            match waited {
                Ok(()) => {}
                Err(WaitStop::TimedOut) => return Ok(false),
                Err(WaitStop::Deadlock) => {
                    return Err(JobPanic::message_only(
                        "deadlock: the counter waited on counts a job running further up this \
                         thread's stack (the waiting job, or a job it runs inside of)"
                            .to_owned(),
                    ))
                }
            }
        }
        counter.outcome(round).map(|()| true)
    }

    /// Waits for a counter that jobs borrowing from this thread's stack are counted on (a scope,
    /// a batch). It must not return before the counter is zero: it cannot time out, and the
    /// deadlock it could detect cannot happen (the counter was made by the caller and no job
    /// running below it on this stack is counted on it); if it did, aborting is the only sound
    /// way out.
    fn wait_for_borrowers(&self, counter: &Counter) -> Result<(), JobPanic> {
        let round = counter.begin_wait();
        if let Some(round) = round {
            let waited = with_local(&self.shared, |local| {
                executor::help_until(&self.shared, local, counter, round, WaitOptions::new())
            });
            if waited.is_err() {
                eprintln!("jobs: a scope's or batch's wait failed while its jobs borrow; aborting");
                std::process::abort();
            }
        }
        counter.outcome(round)
    }

    /// Runs the jobs pinned to this thread (the main thread, or one
    /// [registered](Self::register_thread)) that are queued when it is called, and what they
    /// hand over to run next (a pinned job whose children have all finished on this thread
    /// resumes here at once); returns how many ran. A job they queue here meanwhile (one that
    /// yields, or pins a successor to this thread) is left for the next call, so that it always
    /// returns. Their completions are reported before it returns. An error on a thread that
    /// takes no pinned jobs. Call it once a frame from the game loop (waiting does it too), or
    /// use [`run_pinned_until`](Self::run_pinned_until) to run them while pacing. Called from a
    /// job nested [`MAX_HELPING_DEPTH`](Self::MAX_HELPING_DEPTH) deep, it runs nothing.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// system.submit(jobs::Job::from_fn(|cx| assert!(cx.on_main_thread())).pinned_to_main());
    /// assert_eq!(system.run_pinned(), Ok(1));
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert_eq!(system.run_pinned(), Err(jobs::NotRegistered)));
    /// });
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn run_pinned(&self) -> Result<usize, NotRegistered> {
        let slot = pinned::slot_here(&self.shared).ok_or(NotRegistered)?;
        Ok(with_local(&self.shared, |local| {
            executor::run_pinned(&self.shared, local, slot, None)
        }))
    }

    /// Runs the jobs pinned to this thread as they come, until `deadline`; sleeps in between,
    /// and is woken by the next one pinned here. Returns how many ran. This is how a game loop
    /// paces its frames without delaying its main-thread work: instead of sleeping until the
    /// next frame is due, it runs what becomes ready for the main thread (a present, an upload)
    /// within the wake-up time of a parked thread. It looks at the clock between jobs: it may
    /// return later than `deadline` by the length of the job it was running, however many jobs
    /// keep coming. It reports the completions of the jobs it ran before each sleep. Called from
    /// a job nested [`MAX_HELPING_DEPTH`](Self::MAX_HELPING_DEPTH) deep, it runs nothing and
    /// only sleeps until the deadline.
    ///
    /// An error on a thread that takes no pinned jobs (neither the main thread nor
    /// [registered](Self::register_thread)).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let next_frame = Instant::now() + Duration::from_millis(5);
    /// // A worker job that hands its result to the main thread mid-sleep.
    /// system.submit(jobs::Job::from_fn(|cx| {
    ///     cx.spawn_job(jobs::Job::from_fn(|cx| assert!(cx.on_main_thread())).pinned_to_main());
    /// }));
    /// let ran = system.run_pinned_until(next_frame).expect("the main thread");
    /// assert!(Instant::now() >= next_frame);
    /// assert_eq!(ran, 1);
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn run_pinned_until(&self, deadline: Instant) -> Result<usize, NotRegistered> {
        let slot = pinned::slot_here(&self.shared).ok_or(NotRegistered)?;
        Ok(with_local(&self.shared, |local| {
            executor::run_pinned(&self.shared, local, slot, Some(deadline))
        }))
    }

    /// Lets the calling thread take jobs [pinned](Job::pinned_to) to it, as the main thread
    /// does: a render thread, an audio thread. The jobs run when the thread waits, or calls
    /// [`run_pinned`](Self::run_pinned) or [`run_pinned_until`](Self::run_pinned_until). The
    /// registration ends when the returned [`ThreadRegistration`] drops or the thread exits;
    /// jobs pinned to it after that finish with a [`JobPanic`].
    ///
    /// An error on the main thread or a thread registered already, on the system's own
    /// threads, and once [`MAX_REGISTERED_THREADS`](crate::MAX_REGISTERED_THREADS) threads
    /// have registered over the system's life.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// assert_eq!(system.register_thread().err(), Some(jobs::RegisterError::AlreadyRegistered));
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let render = system.register_thread().expect("a slot is free");
    ///         let frame = system.counter();
    ///         system.submit_counted(&frame, jobs::Job::from_fn(|_| {}).pinned_to(render.thread()));
    ///         system.wait(&frame).expect("ran here, while this thread waited");
    ///     });
    /// });
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn register_thread(&self) -> Result<ThreadRegistration, RegisterError> {
        pinned::register(&self.shared)
    }

    /// Runs jobs on the calling thread until `deadline`: any thread (one outside the pool, a
    /// loading thread with nothing to do) joins the workers for a while. It runs the jobs
    /// pinned to it first, if it takes any, then any other job, highest priority first; with
    /// nothing to run it looks again at least every millisecond. It may return later than
    /// `deadline` by the length of the job it was running. Returns how many jobs it ran
    /// (a job's chain of children run next counts once).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(1))?;
    /// let done = system.counter();
    /// system.submit_batch(&done, (0..100).map(|_| jobs::Job::from_fn(|_| {})));
    /// std::thread::scope(|s| {
    ///     s.spawn(|| system.help_until(Instant::now() + Duration::from_millis(20)));
    /// });
    /// system.wait(&done)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn help_until(&self, deadline: Instant) -> usize {
        with_local(&self.shared, |local| {
            executor::help_for(&self.shared, local, deadline)
        })
    }

    /// Runs `f` with a [`Scope`] whose jobs may borrow from the caller's stack; returns when
    /// every job spawned in it has finished. A panic in a job (or in `f`) is re-raised here after
    /// that.
    ///
    /// The wait at the end is a [`wait`](Self::wait): inside a job it runs other jobs on top of
    /// itself, at most [`MAX_HELPING_DEPTH`](Self::MAX_HELPING_DEPTH) deep, and past that only
    /// sleeps. Scopes nested deeper than that inside one another on a thread wait for other
    /// threads to run their jobs: with one worker and a main thread that does not help, nobody
    /// does, and the innermost scope never ends. Nest scopes (and waits) shallowly, or use
    /// [`Context::join`](crate::Context::join) or [`Action::Spawn`](crate::Action::Spawn) for
    /// deep recursion.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let mut halves = [0u32; 2];
    /// let (a, b) = halves.split_at_mut(1);
    /// system.scope(|s| {
    ///     s.spawn(|_| a[0] = 1);
    ///     s.spawn(|_| b[0] = 2);
    /// });
    /// assert_eq!(halves, [1, 2]);
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn scope<'env, F, R>(&'env self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        let scope = Scope {
            shared: &self.shared,
            counter: self.counter(),
            _scope: PhantomData,
            _env: PhantomData,
        };
        let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        // Every job of the scope is counted: after this wait none can touch the borrows.
        let waited = self.wait_for_borrowers(&scope.counter);
        match result {
            Err(panic) => resume_unwind(panic),
            Ok(value) => match waited {
                Ok(()) => value,
                Err(panic) => panic.resume(),
            },
        }
    }
}

impl Drop for JobSystem {
    fn drop(&mut self) {
        self.shared.sleep.terminate();
        if executor::is_worker_of(&self.shared) || is_io_thread_of(&self.shared) {
            // Dropped from inside one of its own jobs (or blocking steps): this thread cannot
            // join itself, nor wait for the others (they wait for it to go idle, or for its
            // blocking request to end). Detach: every thread exits on its own once idle, and the
            // last one to let go of the shared state cancels what is left.
            drop(lock(&self.shared.io).take());
            for job in self.shared.inboxes.drain() {
                // SAFETY: a queued job is not running.
                unsafe { job.cancel(&self.shared) };
            }
            self.workers.clear();
            self.io_threads.clear();
            return;
        }
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
        // Closing the channel ends the I/O threads once their requests are done.
        drop(lock(&self.shared.io).take());
        for handle in self.io_threads.drain(..) {
            let _ = handle.join();
        }
        self.shared.closed.store(true, Ordering::Release);
        self.shared.cancel_queued();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Only jobs queued after a detached shutdown (see `JobSystem::drop`) can be left.
        self.closed.store(true, Ordering::Release);
        self.cancel_queued();
    }
}

impl fmt::Debug for JobSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobSystem")
            .field("workers", &self.shared.workers)
            .finish_non_exhaustive()
    }
}

/// Jobs that may borrow from the stack of [`JobSystem::scope`]'s caller.
pub struct Scope<'scope, 'env: 'scope> {
    shared: &'env Arc<Shared>,
    counter: Counter,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a job that runs `f`, which may borrow anything that outlives the scope.
    pub fn spawn<F>(&'scope self, f: F)
    where
        F: FnOnce(&mut Context<'_>) + Send + 'scope,
    {
        self.spawn_job(Job::from_fn(f));
    }

    /// Spawns any job (a capture and steps) that may borrow for the scope.
    pub fn spawn_job(&'scope self, job: Job<'scope>) {
        let job = job.into_ref(
            Completion::Counter(self.counter.arm(1)),
            Inherit::ROOT,
            || self.shared.inboxes.id(),
        );
        self.shared.schedule(job);
    }

    /// Runs `body(i)` for every `i` in `range` as part of the scope (which ends when every item
    /// has run), cut and run as `batch` says ([`Batch`]; a [`Grain`](crate::Grain) alone runs
    /// at Normal). Returns at once: the scope waits.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let (a, b) = (AtomicU64::new(0), AtomicU64::new(0));
    /// system.scope(|s| {
    ///     s.parallel_for(0..100, jobs::Grain::Auto, |i| { a.fetch_add(i as u64, Ordering::Relaxed); });
    ///     s.spawn(|_| b.store(7, Ordering::Relaxed));
    /// });
    /// assert_eq!((a.into_inner(), b.into_inner()), (4950, 7));
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn parallel_for<F>(&'scope self, range: Range<usize>, batch: impl Into<Batch>, body: F)
    where
        F: Fn(usize) + Send + Sync + 'scope,
    {
        let batch = batch.into();
        self.shared
            .queue_runners(&self.counter, batch, range.len(), |threads, done| {
                batch::items(body, range, batch.grain, threads, done)
            });
    }

    /// Like [`parallel_for`](Self::parallel_for), with `body` called once per chunk of items.
    pub fn parallel_for_chunks<F>(
        &'scope self,
        range: Range<usize>,
        batch: impl Into<Batch>,
        body: F,
    ) where
        F: Fn(Range<usize>) + Send + Sync + 'scope,
    {
        let batch = batch.into();
        self.shared
            .queue_runners(&self.counter, batch, range.len(), |threads, done| {
                batch::chunks(body, range, batch.grain, threads, done)
            });
    }

    /// Calls `body(i, &mut items[i])` for every item as part of the scope: each item is
    /// visited once, before the scope ends. `items` is borrowed until then. A panic in `body`
    /// ends its chunk (the rest of that chunk is not visited); the scope re-raises it.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let (mut left, mut right) = (vec![0u32; 500], vec![0u32; 500]);
    /// system.scope(|s| {
    ///     s.for_each_mut(&mut left, jobs::Grain::Auto, |i, v| *v = i as u32);
    ///     s.for_each_mut(&mut right, jobs::Grain::Auto, |_, v| *v = 1);
    /// });
    /// assert_eq!((left[499], right.iter().sum::<u32>()), (499, 500));
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn for_each_mut<T, F>(
        &'scope self,
        items: &'scope mut [T],
        batch: impl Into<Batch>,
        body: F,
    ) where
        T: Send + 'scope,
        F: Fn(usize, &mut T) + Send + Sync + 'scope,
    {
        let len = items.len();
        // SAFETY: the batch hands every index of `0..len` out exactly once, and `items` is
        // borrowed for `'scope`: the scope does not end before every runner has finished.
        let chunks = unsafe { batch::each_mut(items, body) };
        self.parallel_for_chunks(0..len, batch, chunks);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::{Config, ConfigError, JobSystem};

    thread_local! {
        /// The name of the thread `JobSystem::new` on this thread fails to start.
        pub(super) static SPAWN_FAILS_AT: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// `JobSystem::new` with thread `name` failing to start, on a thread of its own under a
    /// watchdog: it must return the error, having shut down the threads it started.
    fn new_failing_at(name: &str, config: Config) -> Result<JobSystem, ConfigError> {
        let (sender, receiver) = mpsc::channel();
        let name = name.to_string();
        std::thread::spawn(move || {
            SPAWN_FAILS_AT.with(|at| *at.borrow_mut() = Some(name));
            let _ = sender.send(JobSystem::new(config));
        });
        receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("JobSystem::new hung after a thread failed to start")
    }

    #[test]
    fn a_worker_that_cannot_start_is_an_error_not_a_hang() {
        // It used to hang: the started workers waited, to shut down, for all the configured
        // ones to fall asleep, and the drop of the half-built system joined them forever.
        for at in ["jobs-worker-0", "jobs-worker-1", "jobs-worker-3"] {
            let config = Config::default().workers(4).core_affinity(false);
            match new_failing_at(at, config) {
                Err(ConfigError::Spawn(reason)) => assert!(reason.contains(at), "{reason}"),
                other => panic!("{at} failing to start gave {other:?}"),
            }
        }
    }

    #[test]
    fn an_io_thread_that_cannot_start_is_an_error_not_a_hang() {
        let config = Config::default()
            .workers(2)
            .io_threads(3)
            .core_affinity(false);
        match new_failing_at("jobs-io-2", config) {
            Err(ConfigError::Spawn(reason)) => assert!(reason.contains("jobs-io-2"), "{reason}"),
            other => panic!("an I/O thread failing to start gave {other:?}"),
        }
    }
}

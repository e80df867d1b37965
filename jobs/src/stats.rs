//! Statistics a frame loop and a profiler can read: a cheap snapshot, no locks on the job path.
//!
//! Each worker owns a cache line of counters that only it writes. It updates its busy/idle clock
//! when it runs out of work or finds some again (not per job), and publishes its finished-job
//! counts when it goes idle and every 1024 jobs while busy. A snapshot reads them all and adds the
//! time of the period in progress, so utilization is exact at any instant.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::heap::HeapStats;
use crate::Priority;

/// A snapshot of a job system's statistics. See [`JobSystem::stats`](crate::JobSystem::stats).
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
/// system.parallel_for(0..10_000, jobs::Grain::Auto, |i| { std::hint::black_box(i); })?;
/// let before = system.stats();
/// // ... a frame ...
/// let after = system.stats();
/// let frame = after.since(&before);
/// println!("utilization {:.0}%", 100.0 * frame.utilization());
/// assert_eq!(after.workers.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Per worker, in index order.
    pub workers: Vec<WorkerStats>,
    /// Jobs finished per priority (High, Normal, Low) by every thread, the main thread included.
    /// Each item of a batch counts as one job (and so does each of the batch's few runner jobs).
    pub jobs_finished: [u64; 3],
    /// Entries in the shared queues per priority (a bundle of shared jobs counts as one).
    pub queued: [usize; 3],
    /// Jobs waiting for the main thread.
    pub pinned_queued: usize,
    /// Blocking requests handed to I/O threads and not yet back.
    pub io_in_flight: usize,
    /// Panics nobody will see: of jobs that nothing waited for (no counter, no parent), and
    /// every panic after the first where one is reported (a counter's round, a batch, a parent's
    /// children: ten panicking items of one batch are one error and nine here).
    pub unobserved_panics: u64,
    /// The tagged heap.
    pub heap: HeapStats,
}

/// One worker's figures in a [`Stats`] snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerStats {
    /// Time spent running jobs (or between jobs while there was work) since the system started.
    pub busy: Duration,
    /// Time spent looking for work or asleep.
    pub idle: Duration,
    /// Jobs finished per priority by this worker.
    pub jobs_finished: [u64; 3],
    /// Jobs in this worker's private queue when it last published.
    pub private_queued: usize,
    /// The core this worker was asked to run on, and whether pinning succeeded.
    pub core: Option<(usize, bool)>,
}

impl Stats {
    /// The difference `self - earlier`: what happened between two snapshots (times and job
    /// counts; queue lengths are `self`'s).
    pub fn since(&self, earlier: &Stats) -> Stats {
        let mut diff = self.clone();
        for (now, then) in diff.workers.iter_mut().zip(&earlier.workers) {
            now.busy = now.busy.saturating_sub(then.busy);
            now.idle = now.idle.saturating_sub(then.idle);
            for p in 0..3 {
                now.jobs_finished[p] -= then.jobs_finished[p].min(now.jobs_finished[p]);
            }
        }
        for p in 0..3 {
            diff.jobs_finished[p] -= earlier.jobs_finished[p].min(diff.jobs_finished[p]);
        }
        diff.unobserved_panics -= earlier.unobserved_panics.min(diff.unobserved_panics);
        diff
    }

    /// Busy time over busy plus idle time of all workers, from 0 to 1.
    pub fn utilization(&self) -> f64 {
        let busy: f64 = self.workers.iter().map(|w| w.busy.as_secs_f64()).sum();
        let idle: f64 = self.workers.iter().map(|w| w.idle.as_secs_f64()).sum();
        if busy + idle == 0.0 {
            0.0
        } else {
            busy / (busy + idle)
        }
    }

    /// Jobs finished, all priorities.
    pub fn total_jobs(&self) -> u64 {
        self.jobs_finished
            .iter()
            .fold(0u64, |total, &jobs| total.saturating_add(jobs))
    }

    /// Jobs finished at `priority`.
    pub fn jobs_at(&self, priority: Priority) -> u64 {
        self.jobs_finished[priority.index()]
    }
}

/// The live counters of one worker, written only by it.
#[derive(Default)]
pub(crate) struct WorkerCounters {
    busy_ns: AtomicU64,
    idle_ns: AtomicU64,
    /// Start of the period in progress, in ns since the system's epoch.
    since_ns: AtomicU64,
    busy_now: AtomicBool,
    finished: [AtomicU64; 3],
    private_queued: AtomicUsize,
    /// `usize::MAX` when not pinned.
    core: AtomicUsize,
    pinned: AtomicBool,
}

/// Every worker's counters, plus those of threads outside the pool.
pub(crate) struct StatsShared {
    epoch: Instant,
    workers: Vec<CachePadded<WorkerCounters>>,
    outside_finished: [AtomicU64; 3],
    pub(crate) unobserved_panics: AtomicU64,
}

impl StatsShared {
    pub(crate) fn new(workers: usize) -> Self {
        StatsShared {
            epoch: Instant::now(),
            workers: (0..workers)
                .map(|_| {
                    let counters = WorkerCounters::default();
                    counters.core.store(usize::MAX, Ordering::Relaxed);
                    CachePadded::new(counters)
                })
                .collect(),
            outside_finished: Default::default(),
            unobserved_panics: AtomicU64::new(0),
        }
    }

    pub(crate) fn worker(&self, index: usize) -> WorkerHandle<'_> {
        WorkerHandle {
            counters: &self.workers[index],
            epoch: self.epoch,
        }
    }

    pub(crate) fn add_finished(&self, worker: Option<usize>, finished: [u64; 3]) {
        let target = match worker {
            Some(index) => &self.workers[index].finished,
            None => &self.outside_finished,
        };
        for (slot, count) in target.iter().zip(finished) {
            if count > 0 {
                // Saturating: a batch of `usize::MAX` items counts that many jobs at once.
                let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
                    Some(total.saturating_add(count))
                });
            }
        }
    }

    pub(crate) fn snapshot(&self) -> (Vec<WorkerStats>, [u64; 3]) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let mut total = [0u64; 3];
        for (slot, count) in total.iter_mut().zip(&self.outside_finished) {
            *slot = slot.saturating_add(count.load(Ordering::Relaxed));
        }
        let workers = self
            .workers
            .iter()
            .map(|w| {
                let mut busy = w.busy_ns.load(Ordering::Relaxed);
                let mut idle = w.idle_ns.load(Ordering::Relaxed);
                let since = w.since_ns.load(Ordering::Relaxed);
                let running = now.saturating_sub(since);
                if w.busy_now.load(Ordering::Relaxed) {
                    busy += running;
                } else {
                    idle += running;
                }
                let finished = [0, 1, 2].map(|p| w.finished[p].load(Ordering::Relaxed));
                for p in 0..3 {
                    total[p] = total[p].saturating_add(finished[p]);
                }
                let core = w.core.load(Ordering::Relaxed);
                WorkerStats {
                    busy: Duration::from_nanos(busy),
                    idle: Duration::from_nanos(idle),
                    jobs_finished: finished,
                    private_queued: w.private_queued.load(Ordering::Relaxed),
                    core: (core != usize::MAX).then(|| (core, w.pinned.load(Ordering::Relaxed))),
                }
            })
            .collect();
        (workers, total)
    }
}

/// A worker's view of its own counters.
pub(crate) struct WorkerHandle<'a> {
    counters: &'a WorkerCounters,
    epoch: Instant,
}

impl WorkerHandle<'_> {
    /// Ends the period in progress and starts a busy (`true`) or idle one.
    pub(crate) fn mark_busy(&self, busy: bool) {
        let c = self.counters;
        let now = self.epoch.elapsed().as_nanos() as u64;
        let since = c.since_ns.swap(now, Ordering::Relaxed);
        let elapsed = now.saturating_sub(since);
        if c.busy_now.swap(busy, Ordering::Relaxed) {
            c.busy_ns.fetch_add(elapsed, Ordering::Relaxed);
        } else {
            c.idle_ns.fetch_add(elapsed, Ordering::Relaxed);
        }
    }

    pub(crate) fn set_private_queued(&self, count: usize) {
        self.counters.private_queued.store(count, Ordering::Relaxed);
    }

    pub(crate) fn set_pinned(&self, core: usize, pinned: bool) {
        self.counters.core.store(core, Ordering::Relaxed);
        self.counters.pinned.store(pinned, Ordering::Relaxed);
    }
}

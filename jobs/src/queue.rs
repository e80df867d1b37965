//! The shared queues: one per priority, FIFO, many producers and many consumers.
//!
//! They hold what other threads must be able to see at once: jobs submitted from outside the
//! pool, yielded and resumed jobs, batches, and the halves of their deques that workers hand over
//! in one piece (see `executor/local.rs`). Each is a `crossbeam_deque::Injector`, a lock-free
//! segmented queue: a push or a steal is a few atomic operations on its head or tail, and
//! emptiness is two loads.

use crossbeam_deque::{Injector, Steal};

use crate::job::JobRef;
use crate::system::Shared;

/// What a shared queue holds.
pub(crate) enum Entry {
    /// One job.
    Job(JobRef),
    /// Jobs submitted together (`JobSystem::submit_batch`); the thread that takes it adopts them.
    Bundle(Vec<JobRef>),
}

impl Entry {
    /// Cancels every job of the entry (shutdown).
    pub(crate) fn cancel(self, shared: &Shared) {
        let jobs = match self {
            Entry::Job(job) => vec![job],
            Entry::Bundle(jobs) => jobs,
        };
        for job in jobs {
            // SAFETY: a queued job is not running.
            unsafe { job.cancel(shared) };
        }
    }
}

/// The shared queues of one job system, highest priority first.
pub(crate) struct Queues {
    by_priority: [Injector<Entry>; 3],
}

impl Queues {
    pub(crate) fn new() -> Self {
        Queues {
            by_priority: [Injector::new(), Injector::new(), Injector::new()],
        }
    }

    pub(crate) fn push(&self, priority: usize, entry: Entry) {
        self.by_priority[priority].push(entry);
    }

    /// Takes the oldest entry of priority `priority`.
    #[inline]
    pub(crate) fn steal(&self, priority: usize) -> Option<Entry> {
        let queue = &self.by_priority[priority];
        if queue.is_empty() {
            return None;
        }
        loop {
            match queue.steal() {
                Steal::Success(entry) => return Some(entry),
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    #[inline]
    pub(crate) fn has_queued(&self, priority: usize) -> bool {
        !self.by_priority[priority].is_empty()
    }

    /// Entries queued per priority (a snapshot; bundles count as one).
    pub(crate) fn lengths(&self) -> [usize; 3] {
        [0, 1, 2].map(|p| self.by_priority[p].len())
    }
}

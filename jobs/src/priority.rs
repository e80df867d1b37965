//! Job priorities.

/// How urgently a job should run.
///
/// A worker that picks a job takes the highest-priority job it can see: its own queue and the
/// shared queues, High before Normal before Low. A High job submitted while Low jobs are queued
/// starts before them (running jobs are not interrupted; long Low batches check for waiting
/// High work between items).
///
/// ```
/// use jobs::{Job, JobSystem, Priority, Counter};
/// let system = JobSystem::new(jobs::Config::default().workers(2))?;
/// let done = Counter::new();
/// system.submit_counted(&done, Job::from_fn(|_| { /* input for this frame */ }).with_priority(Priority::High));
/// system.wait(&done)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Latency-critical work: input, the pass on the frame's critical path.
    High = 0,
    /// Ordinary frame work. The default.
    #[default]
    Normal = 1,
    /// Background work that may be overtaken: streaming, snapshot writing.
    Low = 2,
}

impl Priority {
    /// All priorities, highest first: the order in which workers look for work.
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    /// The index of this priority in `ALL` (High = 0).
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

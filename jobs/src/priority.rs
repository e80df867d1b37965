//! Job priorities.
//!
//! [`Priority`] is defined once, in the `jobs-trace-format` crate, because the trace records it
//! on every span and its readers read it back: the job system schedules by the same type the
//! file spells. The scheduling it means is documented on the type.
//!
//! ```
//! use jobs::{Job, JobSystem, Priority, Counter};
//! let system = JobSystem::new(jobs::Config::default().workers(2))?;
//! let done = Counter::new();
//! system.submit_counted(&done, Job::from_fn(|_| { /* input for this frame */ }).with_priority(Priority::High));
//! system.wait(&done)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use jobs_trace_format::Priority;

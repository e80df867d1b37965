//! The built-in recorder: every job span, cheaply, and a Chrome trace of them.
//!
//! Off by default. [`JobSystem::start_recording`](crate::JobSystem::start_recording) turns it on;
//! from then on every run of a job on any thread (a worker, the main thread, an I/O thread, a
//! thread helping while it waits) becomes a [`Span`]: lane, label, priority, frame, start, end.
//! [`JobSystem::stop_recording`](crate::JobSystem::stop_recording) collects them into a
//! [`Trace`], which [`Trace::write_chrome`] writes as a Chrome trace (Perfetto and
//! chrome://tracing open it; the format is defined by the `jobs-trace-format` crate, and the `tools` crate turns it
//! into figures and pictures).
//!
//! ```
//! use jobs::{Config, Job, JobSystem, Label};
//! let system = JobSystem::new(Config::default().workers(2))?;
//! system.start_recording()?;
//! let done = system.counter();
//! let physics = Label::new("physics");
//! for _ in 0..100 {
//!     system.submit_counted(&done, Job::from_fn(|_| {}).with_label(physics).in_frame(7));
//! }
//! system.wait(&done)?;
//! let trace = system.stop_recording()?;
//! assert_eq!(trace.dropped_spans, 0);
//! assert_eq!(trace.spans.iter().filter(|s| s.label == physics).count(), 100);
//! let mut json = Vec::new();
//! trace.write_chrome(&mut json)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Cost
//! With the recorder off, a job pays one relaxed load of a flag. With it on, one or two reads of
//! the clock (`clock.rs`: the time-stamp counter, about 12 ns here) and a 24-byte store into the
//! thread's own lane (`lane.rs`: no lock, no read-modify-write). The `recorder_cost` entry of
//! `benches`' `compare` measures it.
//!
//! ## What a span covers
//! From the moment a thread picked the job to the moment the job finished, suspended (waiting,
//! spawning, blocking) or yielded. A worker running jobs back to back reads the clock once
//! between two jobs: the end of one is the start of the next, so the time it spends picking a
//! job belongs to that job, and the gaps between spans are exactly the time it had no job,
//! which is how the job system's own statistics ([`Stats`]) count idle time.
//!
//! ## Memory
//! Spans go to per-thread chunks of 4096 (96 KiB); at most
//! [`Config::recorder_memory`](crate::Config::recorder_memory) bytes of them (default 256 MiB,
//! about 11 million spans) are held at once. Past that, spans are dropped and counted in
//! [`Trace::dropped_spans`]: a trace either has every span of its window or says how many it
//! lacks.

mod chrome;
pub(crate) mod clock;
pub(crate) mod lane;
pub(crate) mod probe;
mod recorder;
#[cfg(feature = "tracy")]
pub(crate) mod tracy;

pub use clock::ticks;
pub use recorder::{Recorder, RecordingError};

use std::time::{Duration, Instant};

use crate::{Label, Priority, Stats};

/// One run of a job on one lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The lane (index into [`Trace::lanes`]).
    pub lane: u16,
    /// The job's label (inherited from its parent unless set).
    pub label: Label,
    /// The job's priority.
    pub priority: Priority,
    /// The job's frame, modulo 2^32 (inherited from its parent unless set).
    pub frame: Option<u32>,
    /// From the start of the recording window, in nanoseconds.
    pub start_ns: u64,
    /// From the start of the recording window, in nanoseconds.
    pub end_ns: u64,
}

/// What kind of thread a lane is: defined with the trace format (`jobs-trace-format`), which
/// spells it in the file. The recorder never makes [`LaneKind::Other`].
pub use jobs_trace_format::LaneKind;

/// A lane of a trace: one thread that ran jobs.
///
/// ```
/// use jobs::trace::LaneKind;
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(2).io_threads(1))?;
/// system.start_recording()?;
/// let trace = system.stop_recording()?;
/// let main = &trace.lanes[2];
/// assert_eq!((main.name.as_str(), main.kind, main.index), ("main", LaneKind::Main, 0));
/// let io = &trace.lanes[3];
/// assert_eq!((io.name.as_str(), io.kind, io.index), ("io 0", LaneKind::Io, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneInfo {
    /// Its name in the trace (`"worker 0"`, `"main"`, `"io 0"`, `"helper 0"`:
    /// [`LaneKind::lane_name`]).
    pub name: String,
    /// What kind of thread it is.
    pub kind: LaneKind,
    /// Which one of its kind: worker `index`, I/O thread `index`, helper lane `index` (0 for
    /// the main thread).
    pub index: usize,
}

impl LaneInfo {
    /// Lane `index` of `kind`, named as the format names it.
    pub(crate) fn new(kind: LaneKind, index: usize) -> LaneInfo {
        LaneInfo {
            name: kind.lane_name(index),
            kind,
            index,
        }
    }
}

/// A frame, as a frame loop recorded it ([`Recorder::record_frame`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FrameRecord {
    /// The frame's number.
    pub number: u64,
    /// When it started (was submitted).
    pub start: Instant,
    /// When its last pass ended.
    pub end: Instant,
    /// The job system's utilization over the frame's window, from 0 to 1, as the frame loop
    /// measured it.
    pub utilization: f64,
    /// Jobs finished over the frame's window.
    pub jobs: u64,
    /// The passes on the frame's critical path, first to last.
    pub critical_path: Vec<Label>,
    /// Every pass that ran.
    pub passes: Vec<PassRecord>,
}

/// A pass of a frame graph in one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassRecord {
    /// The pass's name.
    pub label: Label,
    /// When its first job started.
    pub start: Instant,
    /// When its last job ended.
    pub end: Instant,
    /// The worker its first step ran on (`None`: the main thread).
    pub worker: Option<usize>,
}

/// A pass of a frame graph and what it waits for, for tools that rebuild the critical path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphPass {
    /// The pass.
    pub label: Label,
    /// Passes of the same frame it runs after.
    pub after: Vec<Label>,
    /// Passes of the previous frame it waits for.
    pub after_previous: Vec<Label>,
}

/// A notable moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// When it happened, from the start of the recording window, in nanoseconds.
    pub at_ns: u64,
    /// The lane it happened on, if it belongs to one.
    pub lane: Option<u16>,
    /// What happened.
    pub kind: EventKind,
}

/// What an [`Event`] was.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// A job panicked (the panic was caught and passed to whoever waits for the job).
    JobPanicked {
        /// The job's label.
        label: Label,
        /// The panic's message, if it was a string.
        message: String,
    },
    /// A frame took longer than its budget.
    FrameOverBudget {
        /// The frame.
        frame: u64,
        /// How long it took.
        took: Duration,
        /// The budget.
        budget: Duration,
    },
    /// A program's own message ([`Recorder::message`]).
    Message(String),
}

/// Everything recorded between [`start_recording`](crate::JobSystem::start_recording) and
/// [`stop_recording`](crate::JobSystem::stop_recording). Times are nanoseconds from the start.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Worker count of the job system.
    pub workers: usize,
    /// Every lane, in index order (workers first, then main, I/O threads, helpers).
    pub lanes: Vec<LaneInfo>,
    /// Length of the recording window.
    pub window: Duration,
    /// Every span of the window, lane by lane, each lane in the order its spans ended. A span
    /// that started before the window or ended after it is clipped to it.
    pub spans: Vec<Span>,
    /// Spans that could not be kept (memory limit). Zero: `spans` is complete.
    pub dropped_spans: u64,
    /// The job system's own statistics over the window.
    pub stats: Stats,
    /// Frames a frame loop recorded, with their passes, converted to this window's times by
    /// [`Trace::ns`].
    pub frames: Vec<FrameRecord>,
    /// The frame graph, if one was recorded.
    pub graph: Vec<GraphPass>,
    /// Notable moments.
    pub events: Vec<Event>,
    /// The window's start.
    pub origin: Instant,
}

impl Trace {
    /// Nanoseconds from the window's start to `instant` (0 before it).
    pub fn ns(&self, instant: Instant) -> u64 {
        instant.saturating_duration_since(self.origin).as_nanos() as u64
    }

    /// Busy time of each worker: the union of its spans (spans nest when a job waits inside).
    pub fn worker_busy(&self) -> Vec<Duration> {
        self.worker_intervals()
            .iter()
            .map(|busy| Duration::from_nanos(busy.iter().map(|(s, e)| e - s).sum()))
            .collect()
    }

    /// The workers' busy time over the window, from 0 to 1: the figure
    /// [`Stats::utilization`](crate::Stats::utilization) gives for the same window.
    pub fn utilization(&self) -> f64 {
        let window = self.window.as_secs_f64() * self.workers as f64;
        if window == 0.0 {
            return 0.0;
        }
        self.worker_busy()
            .iter()
            .map(Duration::as_secs_f64)
            .sum::<f64>()
            / window
    }
}

impl Trace {
    /// Per worker, the times it ran jobs: its spans merged where they overlap or nest, in order.
    pub(crate) fn worker_intervals(&self) -> Vec<Vec<(u64, u64)>> {
        let mut by_worker: Vec<Vec<(u64, u64)>> = vec![Vec::new(); self.workers];
        for span in &self.spans {
            if let Some(spans) = by_worker.get_mut(usize::from(span.lane)) {
                spans.push((span.start_ns, span.end_ns));
            }
        }
        for spans in &mut by_worker {
            spans.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
            for &(start, end) in spans.iter() {
                match merged.last_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => merged.push((start, end)),
                }
            }
            *spans = merged;
        }
        by_worker
    }
}

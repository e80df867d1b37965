//! Per-frame statistics: wall time, time per pass, the critical path, utilization, jobs.

use std::sync::Arc;
use std::time::Duration;

/// What one pass did in one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct PassTime {
    /// The pass.
    pub name: Arc<str>,
    /// When its body started, from the frame's start (`None` if it did not run: skipped after
    /// a failed input, or cancelled at shutdown).
    pub start: Option<Duration>,
    /// From its body's start to its end (its spawned jobs included).
    pub duration: Duration,
    /// The worker its first step ran on (`None` for the main thread).
    pub worker: Option<usize>,
}

/// What one frame did, from the job system's and the graph's own records.
///
/// ```
/// use std::sync::Arc;
/// use frame::{Frames, GraphBuilder};
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
/// let mut graph = GraphBuilder::new();
/// let x = graph.import("x", 0u64);
/// graph.pass("count", x.write(), |x, _| *x += 1);
/// let mut frames = Frames::new(system, graph.compile()?)?;
/// for _ in 0..10 {
///     frames.run_frame(std::time::Duration::from_millis(16))?;
/// }
/// frames.finish()?;
/// let last = frames.history().back().expect("ten frames ran");
/// assert_eq!(last.number, 9);
/// assert_eq!(last.passes[0].name.as_ref(), "count");
/// println!("{:?} wall, {:.0}% busy", last.wall, 100.0 * last.utilization);
/// // The interval between the last two frames' completions, as a player sees it.
/// let before = &frames.history()[frames.history().len() - 2];
/// println!("{:?} between frames", last.completed - before.completed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameStats {
    /// The frame's number.
    pub number: u64,
    /// From the frame's start (its submission) to the end of its last pass.
    pub wall: Duration,
    /// When the frame completed (its last pass ended), counted from [`Frames::epoch`]: the
    /// moment all of its results were there, which is what a player sees. With frames in
    /// flight, the time between two frames' completions is the frame interval on screen, not
    /// the time between two [`Frames::run_frame`] returns (those only wait for room). Frames
    /// complete in order: every pass waits for its own run in the frame before, so
    /// `completed` never decreases from one frame to the next. The frame started at
    /// `completed - wall`.
    ///
    /// [`Frames::epoch`]: crate::Frames::epoch
    /// [`Frames::run_frame`]: crate::Frames::run_frame
    pub completed: Duration,
    /// Each kept pass, in the graph's order.
    pub passes: Vec<PassTime>,
    /// The frame's **critical path**: the longest chain of dependent passes, summing their
    /// durations (waits left out): the frame's length with unlimited workers. Not the `tools`
    /// crate's *completion chain*, the chain that ended the frame with its waits; the
    /// `jobs-trace-format` crate defines the two side by side ("Two paths through a frame").
    pub critical_path: Duration,
    /// The passes on that chain (indices into `passes`), first to last.
    pub critical_passes: Vec<usize>,
    /// The workers' busy time over their total time while the frame was in flight (from its
    /// start until the frame loop saw it complete), from 0 to 1. When frames overlap, the
    /// neighbours' work in that window counts too.
    pub utilization: f64,
    /// Jobs finished while the frame was in flight (the same window as `utilization`).
    pub jobs: u64,
    /// Whether a pass failed (see [`FrameError`](crate::FrameError)).
    pub failed: bool,
}

//! The top-level `jobs` object: what the recorder adds to the Chrome format so that figures can
//! be checked against the job system's and the frame graph's own (see `jobs/src/trace/FORMAT.md`).

use serde::{Deserialize, Serialize};

/// The `jobs` object of a trace.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[], "jobs":{"format":1,"workers":1,
///   "lanes":[{"tid":0,"name":"worker 0","kind":"worker"}], "window_us":[0.0, 100.0]}}"#)?;
/// let meta = trace.meta.as_ref().unwrap();
/// assert_eq!((meta.format, meta.workers, meta.dropped_spans), (1, 1, 0));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct JobsMeta {
    /// The format's version (1).
    pub format: u32,
    /// How many workers the job system had.
    pub workers: usize,
    /// Every lane: its `tid`, name and kind.
    pub lanes: Vec<LaneMeta>,
    /// The recording window's start and stop, in microseconds.
    pub window_us: [f64; 2],
    /// How many spans the recorder kept.
    #[serde(default)]
    pub spans: u64,
    /// How many spans it could not keep (its memory limit was reached).
    #[serde(default)]
    pub dropped_spans: u64,
    /// The job system's own statistics over the window.
    #[serde(default)]
    pub job_system: Option<JobSystemStats>,
    /// The frame graph's passes in execution order; empty without a frame graph.
    #[serde(default)]
    pub graph: Vec<GraphPass>,
    /// Every frame that completed inside the window, with the frame graph's own figures.
    #[serde(default)]
    pub frames: Vec<FrameMeta>,
}

/// One lane as the `jobs.lanes` array describes it.
///
/// ```
/// let lane: tools::LaneMeta = serde_json::from_str(r#"{"tid":2,"name":"main","kind":"main"}"#)?;
/// assert_eq!(tools::LaneKind::parse(&lane.kind), tools::LaneKind::Main);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LaneMeta {
    /// The lane's `tid` in the events.
    pub tid: u64,
    /// The thread's name.
    pub name: String,
    /// `"worker"`, `"main"`, `"io"` or `"helper"`.
    pub kind: String,
}

/// The job system's own statistics over the recording window (`jobs::Stats`).
///
/// ```
/// let stats: tools::JobSystemStats = serde_json::from_str(r#"{"utilization":0.97,
///   "busy_us":[97.0],"idle_us":[3.0],"jobs":10}"#)?;
/// assert_eq!(stats.jobs, 10);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct JobSystemStats {
    /// Busy over busy plus idle, workers only, 0 to 1.
    pub utilization: f64,
    /// Busy time per worker, in microseconds.
    #[serde(default)]
    pub busy_us: Vec<f64>,
    /// Idle time per worker, in microseconds.
    #[serde(default)]
    pub idle_us: Vec<f64>,
    /// Jobs finished.
    #[serde(default)]
    pub jobs: u64,
}

/// One pass of the frame graph and what it waits for.
///
/// ```
/// let pass: tools::GraphPass = serde_json::from_str(
///     r#"{"pass":"integrate","after":["count"],"after_previous":["integrate"]}"#)?;
/// assert_eq!(pass.after, ["count"]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct GraphPass {
    /// The pass's name.
    pub pass: String,
    /// The passes of the same frame it runs after.
    #[serde(default)]
    pub after: Vec<String>,
    /// The passes of the previous frame it runs after.
    #[serde(default)]
    pub after_previous: Vec<String>,
}

/// One completed frame with the frame graph's own figures for it (`FrameStats`).
///
/// ```
/// let frame: tools::FrameMeta = serde_json::from_str(r#"{"frame":12,"start_us":1000.0,
///   "end_us":9000.0,"utilization":0.968,"jobs":2570,"critical_path":["count","integrate"]}"#)?;
/// assert_eq!(frame.critical_path.len(), 2);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct FrameMeta {
    /// The frame number.
    pub frame: u64,
    /// When it began, in microseconds.
    pub start_us: f64,
    /// When it ended, in microseconds.
    pub end_us: f64,
    /// The workers' utilization over the frame's window, 0 to 1.
    #[serde(default)]
    pub utilization: Option<f64>,
    /// Jobs the frame ran.
    #[serde(default)]
    pub jobs: Option<u64>,
    /// The frame graph's critical path, by pass names.
    #[serde(default)]
    pub critical_path: Vec<String>,
}

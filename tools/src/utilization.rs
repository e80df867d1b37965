//! How busy the lanes were over the recording window, and how that compares with the job
//! system's own figure.

use serde::Serialize;

use crate::busy::Busy;
use crate::time::{to_millis, Interval, Nanos};
use crate::trace::{LaneKind, Trace};

/// One lane's busy time over the window.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":3.0,"name":"a"},
///   {"ph":"X","pid":1,"tid":0,"ts":6.0,"dur":4.0,"name":"a"}]}"#)?;
/// let worker = &tools::utilization::utilization(&trace).workers[0];
/// assert_eq!((worker.busy_ms, worker.spans), (0.007, 2));
/// assert!((worker.utilization - 0.7).abs() < 1e-12);
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct LaneUtilization {
    /// The lane's `tid`.
    pub tid: u64,
    /// The thread's name.
    pub name: String,
    /// What kind of thread it is.
    pub kind: LaneKind,
    /// How many spans it ran.
    pub spans: usize,
    /// The union of its spans inside the window, in milliseconds.
    pub busy_ms: f64,
    /// Busy time over the window's length, 0 to 1.
    pub utilization: f64,
    /// The job system's own busy time for this worker, in milliseconds (workers only, when the
    /// trace has `job_system.busy_us`).
    pub job_system_busy_ms: Option<f64>,
}

/// Utilization over the recording window: per worker, overall, and the other lanes apart.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":10.0,"name":"a"},
///   {"ph":"X","pid":1,"tid":1,"ts":0.0,"dur":5.0,"name":"a"}],
///  "jobs":{"format":1,"workers":2,"window_us":[0.0,10.0],
///   "lanes":[{"tid":0,"name":"worker 0","kind":"worker"},{"tid":1,"name":"worker 1","kind":"worker"}],
///   "job_system":{"utilization":0.76}}}"#)?;
/// let u = tools::utilization::utilization(&trace);
/// assert_eq!(u.overall, 0.75);
/// assert!((u.difference_pp.unwrap() - -1.0).abs() < 1e-9);
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct Utilization {
    /// The window it is computed over.
    pub window: Interval,
    /// The window's length in milliseconds.
    pub window_ms: f64,
    /// Each worker.
    pub workers: Vec<LaneUtilization>,
    /// The main, I/O, helper and other lanes, which do not count in `overall`.
    pub other_lanes: Vec<LaneUtilization>,
    /// The workers' busy time over workers times the window, 0 to 1 (0 without workers).
    pub overall: f64,
    /// The job system's own utilization (`job_system.utilization`), when the trace has it.
    pub job_system: Option<f64>,
    /// `overall` minus `job_system`, in percentage points.
    pub difference_pp: Option<f64>,
}

/// The busy time of each worker lane, in lane order: what the window and frame figures are
/// computed from.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"M","pid":1,"tid":1,"name":"thread_name","args":{"name":"main"}},
///   {"ph":"X","pid":1,"tid":1,"ts":0.0,"dur":10.0,"name":"a"}]}"#)?;
/// let busy = tools::utilization::worker_busy(&trace);
/// assert_eq!(busy.len(), 1);
/// assert!(busy[0].intervals().is_empty());
/// # Ok::<(), tools::TraceError>(())
/// ```
pub fn worker_busy(trace: &Trace) -> Vec<Busy> {
    trace.workers().map(|lane| Busy::of(&lane.spans)).collect()
}

/// The workers' utilization over `window` from their busy time: the sum of busy time inside it
/// over workers times its length (0 for no workers or an empty window).
///
/// ```
/// use tools::{busy::Busy, Interval};
/// let workers = [Busy::from_intervals([Interval::new(0, 10)]), Busy::default()];
/// assert_eq!(tools::utilization::utilization_within(&workers, Interval::new(0, 10)), 0.5);
/// ```
pub fn utilization_within(workers: &[Busy], window: Interval) -> f64 {
    let busy: Nanos = workers.iter().map(|busy| busy.within(window)).sum();
    share(busy, workers.len() as Nanos * window.len())
}

/// `part` over `whole`, 0 when `whole` is 0.
fn share(part: Nanos, whole: Nanos) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Utilization over the trace's recording window.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":4.0,"name":"a"},
///   {"ph":"X","pid":1,"tid":0,"ts":2.0,"dur":4.0,"name":"a"},
///   {"ph":"X","pid":1,"tid":0,"ts":8.0,"dur":2.0,"name":"a"}]}"#)?;
/// // Overlapping spans count once: busy 0..6 and 8..10 of 0..10.
/// assert_eq!(tools::utilization::utilization(&trace).overall, 0.8);
/// # Ok::<(), tools::TraceError>(())
/// ```
pub fn utilization(trace: &Trace) -> Utilization {
    let window = trace.window;
    let job_system = trace
        .meta
        .as_ref()
        .and_then(|meta| meta.job_system.as_ref());
    let mut workers = Vec::new();
    let mut other_lanes = Vec::new();
    let mut busy_total: Nanos = 0;
    for lane in &trace.lanes {
        let busy = Busy::of(&lane.spans).within(window);
        let is_worker = lane.kind == LaneKind::Worker;
        let job_system_busy_ms = job_system
            .filter(|_| is_worker)
            .and_then(|stats| stats.busy_ns.get(workers.len()))
            .map(|&ns| to_millis(ns));
        let figures = LaneUtilization {
            tid: lane.tid,
            name: lane.name.clone(),
            kind: lane.kind,
            spans: lane.spans.len(),
            busy_ms: to_millis(busy),
            utilization: share(busy, window.len()),
            job_system_busy_ms,
        };
        if is_worker {
            busy_total += busy;
            workers.push(figures);
        } else {
            other_lanes.push(figures);
        }
    }
    let overall = share(busy_total, workers.len() as Nanos * window.len());
    let job_system = job_system.map(|stats| stats.utilization);
    Utilization {
        window,
        window_ms: to_millis(window.len()),
        workers,
        other_lanes,
        overall,
        job_system,
        difference_pp: job_system.map(|theirs| (overall - theirs) * 100.0),
    }
}

//! Utilization per frame: the workers' busy time over each frame's own window.
//!
//! Frames overlap (frame N+1 simulates while frame N renders), so a frame's window counts every
//! worker's spans inside it, whichever frame they belong to, as the frame graph's `FrameStats` do.

use serde::Serialize;

use crate::busy::Busy;
use crate::stats::Summary;
use crate::time::{to_millis, Interval};
use crate::trace::{Frame, Trace};
use crate::utilization::utilization_within;

/// One frame's figures.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"b","pid":1,"cat":"frame","name":"frame","id":1,"ts":0.0},
///   {"ph":"X","pid":1,"tid":0,"ts":2.0,"dur":6.0,"name":"a"},
///   {"ph":"e","pid":1,"cat":"frame","name":"frame","id":1,"ts":10.0}]}"#)?;
/// let frame = &tools::frames::frame_utilization(&trace, &trace.frames)[0];
/// assert_eq!((frame.frame, frame.wall_ms, frame.utilization), (1, 0.01, 0.6));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct FrameUtilization {
    /// The frame number.
    pub frame: u64,
    /// From its begin to its end.
    pub time: Interval,
    /// Its wall time in milliseconds.
    pub wall_ms: f64,
    /// The workers' busy time inside its window over workers times the window, 0 to 1.
    pub utilization: f64,
    /// The frame graph's own figure for it (`jobs.frames[].utilization`), when the trace has it.
    pub recorded: Option<f64>,
}

/// Each frame's utilization, in the order given.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"b","pid":1,"cat":"frame","name":"frame","id":1,"ts":0.0},
///   {"ph":"b","pid":1,"cat":"frame","name":"frame","id":2,"ts":5.0},
///   {"ph":"X","pid":1,"tid":0,"ts":4.0,"dur":2.0,"name":"a"},
///   {"ph":"e","pid":1,"cat":"frame","name":"frame","id":1,"ts":10.0},
///   {"ph":"e","pid":1,"cat":"frame","name":"frame","id":2,"ts":15.0}]}"#)?;
/// // The span 4..6 lies in both frames' windows.
/// let frames = tools::frames::frame_utilization(&trace, &trace.frames);
/// assert_eq!(frames.iter().map(|f| f.utilization).collect::<Vec<_>>(), [0.2, 0.1]);
/// # Ok::<(), tools::TraceError>(())
/// ```
pub fn frame_utilization(trace: &Trace, frames: &[Frame]) -> Vec<FrameUtilization> {
    let workers: Vec<Busy> = crate::utilization::worker_busy(trace);
    let recorded = |number: u64| {
        trace
            .meta
            .as_ref()
            .and_then(|meta| meta.frames.iter().find(|f| f.frame == number))
            .and_then(|f| f.utilization)
    };
    frames
        .iter()
        .map(|frame| FrameUtilization {
            frame: frame.number,
            time: frame.time,
            wall_ms: to_millis(frame.time.len()),
            utilization: utilization_within(&workers, frame.time),
            recorded: recorded(frame.number),
        })
        .collect()
}

/// Per-frame figures summed up: utilization and wall time, the worst frames, and how the mean
/// compares with the frame graph's own figures.
///
/// ```
/// use tools::{frames::{FrameSummary, FrameUtilization}, Interval};
/// let frame = |n: u64, u: f64| FrameUtilization {
///     frame: n, time: Interval::new(0, 1_000_000), wall_ms: 1.0, utilization: u, recorded: None,
/// };
/// let summary = FrameSummary::of(&[frame(1, 0.9), frame(2, 0.5), frame(3, 0.7)], 2).unwrap();
/// assert_eq!(summary.worst.iter().map(|f| f.frame).collect::<Vec<_>>(), [2, 3]);
/// assert!((summary.utilization.mean - 0.7).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct FrameSummary {
    /// How many frames.
    pub frames: usize,
    /// Their utilization, 0 to 1.
    pub utilization: Summary,
    /// Their wall time, in milliseconds.
    pub wall_ms: Summary,
    /// The mean of the frame graph's own utilization figures for the same frames, when the trace
    /// has them.
    pub recorded_mean: Option<f64>,
    /// The mean utilization minus `recorded_mean` over the frames that have a recorded figure,
    /// in percentage points.
    pub difference_pp: Option<f64>,
    /// The frames with the lowest utilization, lowest first.
    pub worst: Vec<FrameUtilization>,
}

impl FrameSummary {
    /// Sums up `frames`, keeping the `top` worst; `None` for no frames.
    ///
    /// ```
    /// assert!(tools::frames::FrameSummary::of(&[], 5).is_none());
    /// ```
    pub fn of(frames: &[FrameUtilization], top: usize) -> Option<FrameSummary> {
        let figures = |f: fn(&FrameUtilization) -> f64| frames.iter().map(f).collect::<Vec<f64>>();
        let utilization = Summary::of(&figures(|f| f.utilization))?;
        let wall_ms = Summary::of(&figures(|f| f.wall_ms))?;
        // Compared over the frames that have a recorded figure, mine and theirs alike.
        let pairs: Vec<(f64, f64)> = frames
            .iter()
            .filter_map(|f| Some((f.utilization, f.recorded?)))
            .collect();
        let mean =
            |f: fn(&(f64, f64)) -> f64| pairs.iter().map(f).sum::<f64>() / pairs.len() as f64;
        let recorded_mean = (!pairs.is_empty()).then(|| mean(|p| p.1));
        let difference_pp = (!pairs.is_empty()).then(|| (mean(|p| p.0) - mean(|p| p.1)) * 100.0);
        let mut worst = frames.to_vec();
        worst.sort_by(|a, b| a.utilization.total_cmp(&b.utilization));
        worst.truncate(top);
        Some(FrameSummary {
            frames: frames.len(),
            utilization,
            wall_ms,
            recorded_mean,
            difference_pp,
            worst,
        })
    }
}

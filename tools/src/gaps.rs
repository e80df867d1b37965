//! Idle gaps: the stretches of the window in which a worker ran no job.

use serde::Serialize;

use crate::busy::Busy;
use crate::stats::Summary;
use crate::time::{to_micros, to_millis, Interval, Nanos};
use crate::trace::{Frame, Trace};

/// One idle stretch of one worker.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":2.0,"name":"a"},
///   {"ph":"X","pid":1,"tid":0,"ts":7.0,"dur":3.0,"name":"a"}]}"#)?;
/// let gap = &tools::gaps::idle_gaps(&trace, 5).longest[0];
/// assert_eq!((gap.worker.as_str(), gap.time, gap.us), ("worker 0", tools::Interval::new(2_000, 7_000), 5.0));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct Gap {
    /// The worker's name.
    pub worker: String,
    /// When it began and ended.
    pub time: Interval,
    /// Its length in microseconds.
    pub us: f64,
    /// The frames whose windows it overlaps (frames overlap, so there may be several).
    pub frames: Vec<u64>,
}

/// One worker's idle time.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":2.0,"name":"a"},
///   {"ph":"X","pid":1,"tid":0,"ts":3.0,"dur":1.0,"name":"a"},
///   {"ph":"X","pid":1,"tid":0,"ts":7.0,"dur":3.0,"name":"a"}]}"#)?;
/// let worker = &tools::gaps::idle_gaps(&trace, 1).workers[0];
/// assert_eq!((worker.idle_ms, worker.gaps, worker.longest.len()), (0.004, 2, 1));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct WorkerIdle {
    /// The worker's name.
    pub worker: String,
    /// All its idle time inside the window, in milliseconds.
    pub idle_ms: f64,
    /// How many gaps.
    pub gaps: usize,
    /// Its gaps' lengths in microseconds; `None` without gaps.
    pub lengths_us: Option<Summary>,
    /// Its longest gaps, longest first.
    pub longest: Vec<Gap>,
}

/// How many gaps fall in one range of lengths.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":2.0,"name":"a"},
///   {"ph":"X","pid":1,"tid":0,"ts":7.0,"dur":3.0,"name":"a"}]}"#)?;
/// let bucket = &tools::gaps::idle_gaps(&trace, 5).histogram[1];
/// assert_eq!((bucket.label.as_str(), bucket.gaps), ("1-10 us", 1));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct GapBucket {
    /// The range, e.g. `"10-100 us"`.
    pub label: String,
    /// The shortest gap it holds, in nanoseconds.
    pub from_ns: Nanos,
    /// The bound its gaps are shorter than, in nanoseconds (`None`: no bound).
    pub to_ns: Option<Nanos>,
    /// How many gaps.
    pub gaps: usize,
    /// Their total length in milliseconds.
    pub total_ms: f64,
}

/// The workers' idle gaps over the recording window.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"M","pid":1,"tid":1,"name":"thread_name","args":{"name":"worker 1"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":10.0,"name":"a"},
///   {"ph":"X","pid":1,"tid":1,"ts":4.0,"dur":6.0,"name":"a"}]}"#)?;
/// let idle = tools::gaps::idle_gaps(&trace, 3);
/// assert_eq!(idle.lengths_us.unwrap().count, 1);
/// assert_eq!(idle.workers[1].idle_ms, 0.004);
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct IdleGaps {
    /// Each worker's idle time.
    pub workers: Vec<WorkerIdle>,
    /// The longest gaps of all workers, longest first.
    pub longest: Vec<Gap>,
    /// All workers' gap lengths in microseconds; `None` without gaps.
    pub lengths_us: Option<Summary>,
    /// All workers' gaps by length, in decades from under 1 us to 10 ms and over.
    pub histogram: Vec<GapBucket>,
}

/// The histogram's buckets: label, shortest gap, bound (nanoseconds; `Nanos::MAX`: none).
const BUCKETS: [(&str, Nanos, Nanos); 6] = [
    ("< 1 us", 0, 1_000),
    ("1-10 us", 1_000, 10_000),
    ("10-100 us", 10_000, 100_000),
    ("100 us-1 ms", 100_000, 1_000_000),
    ("1-10 ms", 1_000_000, 10_000_000),
    (">= 10 ms", 10_000_000, Nanos::MAX),
];

/// The workers' idle gaps inside the trace's window, keeping the `top` longest per worker and
/// overall. A gap is a stretch of the window no span of the worker covers, including the ones
/// before its first span and after its last.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":10.0,"name":"a"}]}"#)?;
/// assert!(tools::gaps::idle_gaps(&trace, 3).longest.is_empty());
/// # Ok::<(), tools::TraceError>(())
/// ```
pub fn idle_gaps(trace: &Trace, top: usize) -> IdleGaps {
    let mut all: Vec<Nanos> = Vec::new();
    let mut longest: Vec<Gap> = Vec::new();
    let workers = trace
        .workers()
        .map(|lane| {
            let mut gaps = Busy::of(&lane.spans).gaps(trace.window);
            let lengths: Vec<Nanos> = gaps.iter().map(|gap| gap.len()).collect();
            all.extend(&lengths);
            gaps.sort_by_key(|gap| std::cmp::Reverse(gap.len()));
            gaps.truncate(top);
            let mine: Vec<Gap> = gaps
                .into_iter()
                .map(|time| Gap {
                    worker: lane.name.clone(),
                    time,
                    us: to_micros(time.len()),
                    frames: frames_overlapping(&trace.frames, time),
                })
                .collect();
            longest.extend(mine.iter().cloned());
            WorkerIdle {
                worker: lane.name.clone(),
                idle_ms: to_millis(lengths.iter().sum()),
                gaps: lengths.len(),
                lengths_us: summary_us(&lengths),
                longest: mine,
            }
        })
        .collect();
    longest.sort_by_key(|gap| std::cmp::Reverse(gap.time.len()));
    longest.truncate(top);
    IdleGaps {
        workers,
        longest,
        lengths_us: summary_us(&all),
        histogram: histogram(&all),
    }
}

fn summary_us(lengths: &[Nanos]) -> Option<Summary> {
    let us: Vec<f64> = lengths.iter().map(|&ns| to_micros(ns)).collect();
    Summary::of(&us)
}

/// The frames whose windows overlap `time`.
fn frames_overlapping(frames: &[Frame], time: Interval) -> Vec<u64> {
    frames
        .iter()
        .filter(|frame| frame.time.overlaps(time))
        .map(|frame| frame.number)
        .collect()
}

fn histogram(lengths: &[Nanos]) -> Vec<GapBucket> {
    BUCKETS
        .iter()
        .map(|&(label, from, to)| {
            let inside = lengths.iter().filter(|&&ns| from <= ns && ns < to);
            GapBucket {
                label: label.to_owned(),
                from_ns: from,
                to_ns: (to != Nanos::MAX).then_some(to),
                gaps: inside.clone().count(),
                total_ms: to_millis(inside.sum()),
            }
        })
        .collect()
}

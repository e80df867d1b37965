//! A trace as typed data: the lanes with their job spans, the frames and passes of a frame graph,
//! counters, instant events and the `jobs` metadata. [`crate::read`] builds it from the file.

use std::sync::Arc;

use serde::Serialize;

use crate::meta::JobsMeta;
use crate::time::{Interval, Nanos};

/// Everything a trace file holds, in time order within each kind.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":5.0,"name":"integrate","cat":"job"}]}"#)?;
/// assert_eq!(trace.workers().count(), 1);
/// assert_eq!(trace.window.len(), 5_000);
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Trace {
    /// The recording window: from the `jobs` metadata, or the first and last timestamps without it.
    pub window: Interval,
    /// Every lane (thread), ordered as the file orders them (by `tid`).
    pub lanes: Vec<Lane>,
    /// Frames that began and ended in the trace, by start time.
    pub frames: Vec<Frame>,
    /// Passes that began and ended in the trace, by start time.
    pub passes: Vec<Pass>,
    /// Counter samples, by time.
    pub counters: Vec<CounterSample>,
    /// Instant events, by time.
    pub instants: Vec<Instant>,
    /// The `jobs` object, when the file has one.
    pub meta: Option<JobsMeta>,
}

impl Trace {
    /// The worker lanes, the ones utilization is about.
    ///
    /// ```
    /// let trace = tools::Trace::from_json(r#"{"traceEvents":[
    ///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
    ///   {"ph":"M","pid":1,"tid":1,"name":"thread_name","args":{"name":"main"}}]}"#)?;
    /// assert_eq!(trace.workers().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["worker 0"]);
    /// # Ok::<(), tools::TraceError>(())
    /// ```
    pub fn workers(&self) -> impl Iterator<Item = &Lane> {
        self.lanes
            .iter()
            .filter(|lane| lane.kind == LaneKind::Worker)
    }

    /// The frame with this number, if the trace has it.
    ///
    /// ```
    /// let trace = tools::Trace::from_json(r#"{"traceEvents":[
    ///   {"ph":"b","pid":1,"cat":"frame","name":"frame","id":7,"ts":0.0},
    ///   {"ph":"e","pid":1,"cat":"frame","name":"frame","id":7,"ts":16.0}]}"#)?;
    /// assert_eq!(trace.frame(7).map(|f| f.time.len()), Some(16_000));
    /// # Ok::<(), tools::TraceError>(())
    /// ```
    pub fn frame(&self, number: u64) -> Option<&Frame> {
        self.frames.iter().find(|frame| frame.number == number)
    }

    /// Every distinct span and pass name, sorted: the order the pictures give colours in.
    ///
    /// ```
    /// let trace = tools::Trace::from_json(r#"{"traceEvents":[
    ///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":1.0,"name":"b"},
    ///   {"ph":"X","pid":1,"tid":0,"ts":1.0,"dur":1.0,"name":"a"},
    ///   {"ph":"X","pid":1,"tid":0,"ts":2.0,"dur":1.0,"name":"b"}]}"#)?;
    /// assert_eq!(trace.names().iter().map(|name| &**name).collect::<Vec<_>>(), ["a", "b"]);
    /// # Ok::<(), tools::TraceError>(())
    /// ```
    pub fn names(&self) -> Vec<Arc<str>> {
        let mut names: Vec<Arc<str>> = self
            .lanes
            .iter()
            .flat_map(|lane| lane.spans.iter().map(|span| span.name.clone()))
            .chain(self.passes.iter().map(|pass| pass.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// What kind of thread a lane is, from the `jobs` metadata or the thread's name: the trace
/// format's own type.
///
/// ```
/// use tools::LaneKind;
/// assert_eq!(LaneKind::from_thread_name("worker 3"), LaneKind::Worker);
/// assert_eq!(LaneKind::parse("io"), LaneKind::Io);
/// assert_eq!(LaneKind::from_thread_name("audio"), LaneKind::Other);
/// ```
pub use jobs_trace_format::LaneKind;

/// One thread of the trace and the job spans it ran.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"X","pid":1,"tid":4,"ts":0.0,"dur":2.0,"name":"load"}]}"#)?;
/// let lane = &trace.lanes[0];
/// assert_eq!((lane.tid, lane.name.as_str(), lane.spans.len()), (4, "tid 4", 1));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Lane {
    /// The lane index the file gives (`tid`).
    pub tid: u64,
    /// The thread's name (`"worker 0"`), or `"tid N"` when the file names none.
    pub name: String,
    /// What kind of thread it is.
    pub kind: LaneKind,
    /// Its job spans by start time; they may nest.
    pub spans: Vec<Span>,
}

/// One run of a job on a lane (an `"X"` event).
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[{"ph":"X","pid":1,"tid":0,
///   "ts":1.5,"dur":2.0,"name":"collide","args":{"frame":3,"priority":"High"}}]}"#)?;
/// let span = &trace.lanes[0].spans[0];
/// assert_eq!((span.time.start, span.time.end), (1_500, 3_500));
/// assert_eq!((&*span.name, span.frame, span.priority), ("collide", Some(3), Some(tools::Priority::High)));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Span {
    /// When the thread picked the job and when it finished, suspended or handed it on.
    pub time: Interval,
    /// The job's label (the pass's name for a frame graph's jobs), `"job"` when unlabelled.
    pub name: Arc<str>,
    /// The frame the job belongs to, if any.
    pub frame: Option<u64>,
    /// The job's priority, when the file gives it.
    pub priority: Option<Priority>,
}

/// A job's priority: the trace format's own type, the one the job system schedules by.
///
/// ```
/// assert_eq!(tools::Priority::parse("Low"), Some(tools::Priority::Low));
/// assert_eq!(tools::Priority::parse("urgent"), None);
/// ```
pub use jobs_trace_format::Priority;

/// A frame: its number and when it began and ended (frames overlap).
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"b","pid":1,"cat":"frame","name":"frame","id":12,"ts":1000.0},
///   {"ph":"e","pid":1,"cat":"frame","name":"frame","id":12,"ts":9000.0}]}"#)?;
/// assert_eq!(trace.frames[0].number, 12);
/// assert_eq!(trace.frames[0].time.len(), 8_000_000);
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The frame number (modulo 2^32 in files from the jobs recorder).
    pub number: u64,
    /// From the frame's begin to its end.
    pub time: Interval,
}

/// One pass of one frame: from its first job's start to the end of its last job.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"b","pid":1,"cat":"pass","name":"integrate","id":12,"ts":1100.0,"args":{"frame":12,"worker":0}},
///   {"ph":"e","pid":1,"cat":"pass","name":"integrate","id":12,"ts":2100.0}]}"#)?;
/// let pass = &trace.passes[0];
/// assert_eq!((&*pass.name, pass.frame, pass.time.len()), ("integrate", 12, 1_000_000));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pass {
    /// The pass's name.
    pub name: Arc<str>,
    /// The frame it ran for.
    pub frame: u64,
    /// From its first job's start to the end of its last job.
    pub time: Interval,
    /// The worker its first job started on, when the file gives it.
    pub worker: Option<u64>,
}

/// One sample of a counter (a `"C"` event): every series it sets, at one time.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"C","pid":1,"name":"workers busy","ts":1000.0,"args":{"%":97.5}}]}"#)?;
/// let sample = &trace.counters[0];
/// assert_eq!((&*sample.name, sample.time, sample.series[0].1), ("workers busy", 1_000_000, 97.5));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct CounterSample {
    /// The counter's name.
    pub name: Arc<str>,
    /// When the values took effect.
    pub time: Nanos,
    /// Each series' name and value (`("%", 97.5)` for `workers busy`).
    pub series: Vec<(String, f64)>,
}

/// A notable moment (an `"i"` event): a job that panicked, a frame over budget, a message.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[{"ph":"i","pid":1,"tid":1,"s":"t",
///   "name":"job panicked","ts":77.0,"args":{"label":"collide","message":"index out of bounds"}}]}"#)?;
/// let panic = &trace.instants[0];
/// assert_eq!((panic.name.as_str(), panic.tid), ("job panicked", Some(1)));
/// assert_eq!(panic.args["label"], "collide");
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct Instant {
    /// What happened (`"job panicked"`, `"frame over budget"`, a program's own name).
    pub name: String,
    /// When.
    pub time: Nanos,
    /// The lane it happened on; `None` for a global event.
    pub tid: Option<u64>,
    /// Its details as the file gives them.
    pub args: serde_json::Map<String, serde_json::Value>,
}

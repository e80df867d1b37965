//! The top-level `jobs` object: what the recorder adds to the Chrome format so that readers can
//! check their figures against the job system's and the frame graph's own, and know the lanes,
//! the window and the graph without guessing. Viewers ignore it.
//!
//! Times are nanoseconds here ([`JobsMeta::window_ns`], ...), microseconds in the file (the
//! `_us` keys), as everywhere in the format ([`Micros`]).

use std::fmt;

use crate::json::{JsonList, JsonStr};
use crate::time::Micros;
use crate::LaneKind;

/// The `jobs` object of a trace.
///
/// ```
/// use jobs_trace_format::{JobsMeta, LaneKind, LaneMeta};
/// let meta = JobsMeta {
///     lanes: vec![LaneMeta { tid: 0, name: "worker 0".into(), kind: LaneKind::Worker }],
///     workers: 1,
///     window_ns: [0, 5_000],
///     ..JobsMeta::default()
/// };
/// let text = meta.to_string();
/// assert!(text.starts_with(r#"{"format":1,"workers":1,"lanes":[{"tid":0,"name":"worker 0","kind":"worker"}],"window_us":[0.000,5.000]"#));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub struct JobsMeta {
    /// The format's version ([`VERSION`](crate::VERSION) when written by this crate; readers
    /// check it with [`check_version`](crate::check_version)).
    pub format: u32,
    /// How many workers the job system had.
    pub workers: usize,
    /// Every lane: its `tid`, name and kind, in `tid` order.
    pub lanes: Vec<LaneMeta>,
    /// The recording window's start and stop (`window_us` in the file). Spans are clipped to it
    /// by whoever computes utilization.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "window_us", with = "crate::time::serde_micros::pair")
    )]
    pub window_ns: [i64; 2],
    /// How many spans the recorder kept.
    #[cfg_attr(feature = "serde", serde(default))]
    pub spans: u64,
    /// How many it could not keep (its memory limit was reached); 0: the trace has every job run
    /// of the window.
    #[cfg_attr(feature = "serde", serde(default))]
    pub dropped_spans: u64,
    /// The job system's own statistics over the window (`jobs::Stats`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub job_system: Option<JobSystemStats>,
    /// The frame graph's passes in execution order; empty without a frame graph.
    #[cfg_attr(feature = "serde", serde(default))]
    pub graph: Vec<GraphPass>,
    /// Every frame that completed inside the window, with the frame graph's own figures.
    #[cfg_attr(feature = "serde", serde(default))]
    pub frames: Vec<FrameMeta>,
}

impl Default for JobsMeta {
    /// An empty object of the current [`VERSION`](crate::VERSION).
    ///
    /// ```
    /// assert_eq!(jobs_trace_format::JobsMeta::default().format, jobs_trace_format::VERSION);
    /// ```
    fn default() -> Self {
        JobsMeta {
            format: crate::VERSION,
            workers: 0,
            lanes: Vec::new(),
            window_ns: [0, 0],
            spans: 0,
            dropped_spans: 0,
            job_system: None,
            graph: Vec::new(),
            frames: Vec::new(),
        }
    }
}

impl fmt::Display for JobsMeta {
    /// The object as the recorder writes it: keys in this order, the frames one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"format":{},"workers":{},"lanes":[{}],"window_us":[{},{}],"spans":{},"dropped_spans":{}"#,
            self.format,
            self.workers,
            JsonList(|| self.lanes.iter()),
            Micros(self.window_ns[0]),
            Micros(self.window_ns[1]),
            self.spans,
            self.dropped_spans,
        )?;
        if let Some(stats) = &self.job_system {
            write!(f, r#","job_system":{stats}"#)?;
        }
        write!(
            f,
            r#","graph":[{}],"frames":["#,
            JsonList(|| self.graph.iter())
        )?;
        for (i, frame) in self.frames.iter().enumerate() {
            if i > 0 {
                f.write_str(",\n")?;
            }
            write!(f, "{frame}")?;
        }
        f.write_str("]}")
    }
}

/// One lane as `jobs.lanes` describes it.
///
/// ```
/// use jobs_trace_format::{LaneKind, LaneMeta};
/// let lane = LaneMeta { tid: 2, name: "main".into(), kind: LaneKind::Main };
/// assert_eq!(lane.to_string(), r#"{"tid":2,"name":"main","kind":"main"}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub struct LaneMeta {
    /// The lane's `tid` in the events.
    pub tid: u64,
    /// The thread's name ([`LaneKind::lane_name`]).
    pub name: String,
    /// What kind of thread it is; an unknown word reads as [`LaneKind::Other`].
    pub kind: LaneKind,
}

impl fmt::Display for LaneMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"tid":{},"name":{},"kind":"{}"}}"#,
            self.tid,
            JsonStr(&self.name),
            self.kind
        )
    }
}

/// The job system's own statistics over the recording window (`jobs::Stats`).
///
/// ```
/// use jobs_trace_format::JobSystemStats;
/// let stats = JobSystemStats { utilization: 0.97, busy_ns: vec![97_000], idle_ns: vec![3_000], jobs: 10 };
/// assert_eq!(stats.to_string(), r#"{"utilization":0.970000,"busy_us":[97.000],"idle_us":[3.000],"jobs":10}"#);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub struct JobSystemStats {
    /// Busy over busy plus idle, workers only, 0 to 1 (written with 6 decimals).
    pub utilization: f64,
    /// Busy time per worker (`busy_us`).
    #[cfg_attr(
        feature = "serde",
        serde(default, rename = "busy_us", with = "crate::time::serde_micros::list")
    )]
    pub busy_ns: Vec<i64>,
    /// Idle time per worker (`idle_us`).
    #[cfg_attr(
        feature = "serde",
        serde(default, rename = "idle_us", with = "crate::time::serde_micros::list")
    )]
    pub idle_ns: Vec<i64>,
    /// Jobs finished.
    #[cfg_attr(feature = "serde", serde(default))]
    pub jobs: u64,
}

impl fmt::Display for JobSystemStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"utilization":{:.6},"busy_us":[{}],"idle_us":[{}],"jobs":{}}}"#,
            self.utilization,
            JsonList(|| self.busy_ns.iter().map(|&ns| Micros(ns))),
            JsonList(|| self.idle_ns.iter().map(|&ns| Micros(ns))),
            self.jobs
        )
    }
}

/// One pass of the frame graph and what it waits for: what a reader needs to rebuild a frame's
/// completion chain (see the crate's "Two paths through a frame").
///
/// ```
/// use jobs_trace_format::GraphPass;
/// let pass = GraphPass { pass: "integrate".into(), after: vec!["count".into()], after_previous: vec![] };
/// assert_eq!(pass.to_string(), r#"{"pass":"integrate","after":["count"],"after_previous":[]}"#);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub struct GraphPass {
    /// The pass's name.
    pub pass: String,
    /// The passes of the same frame it runs after.
    #[cfg_attr(feature = "serde", serde(default))]
    pub after: Vec<String>,
    /// The passes of the previous frame it runs after.
    #[cfg_attr(feature = "serde", serde(default))]
    pub after_previous: Vec<String>,
}

impl fmt::Display for GraphPass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"pass":{},"after":[{}],"after_previous":[{}]}}"#,
            JsonStr(&self.pass),
            JsonList(|| self.after.iter().map(|name| JsonStr(name))),
            JsonList(|| self.after_previous.iter().map(|name| JsonStr(name))),
        )
    }
}

/// One completed frame with the frame graph's own figures for it (`frame::FrameStats`).
///
/// ```
/// use jobs_trace_format::FrameMeta;
/// let frame = FrameMeta { frame: 12, start_ns: 1_000_000, end_ns: 9_000_000, utilization: Some(0.968),
///     jobs: Some(2570), critical_path: vec!["count".into(), "integrate".into()] };
/// assert_eq!(frame.to_string(), r#"{"frame":12,"start_us":1000.000,"end_us":9000.000,"utilization":0.968000,"jobs":2570,"critical_path":["count","integrate"]}"#);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub struct FrameMeta {
    /// The frame number.
    pub frame: u64,
    /// When it began (was submitted), `start_us` in the file.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "start_us", with = "crate::time::serde_micros")
    )]
    pub start_ns: i64,
    /// When its last pass ended, `end_us` in the file.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "end_us", with = "crate::time::serde_micros")
    )]
    pub end_ns: i64,
    /// The workers' utilization over the frame's window, 0 to 1 (6 decimals).
    #[cfg_attr(feature = "serde", serde(default))]
    pub utilization: Option<f64>,
    /// Jobs the frame ran.
    #[cfg_attr(feature = "serde", serde(default))]
    pub jobs: Option<u64>,
    /// The frame graph's **critical path** (see the crate's "Two paths through a frame"): the
    /// chain of dependent passes whose durations add up to the most, by pass names, first to
    /// last.
    #[cfg_attr(feature = "serde", serde(default))]
    pub critical_path: Vec<String>,
}

impl fmt::Display for FrameMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"frame":{},"start_us":{},"end_us":{}"#,
            self.frame,
            Micros(self.start_ns),
            Micros(self.end_ns)
        )?;
        if let Some(utilization) = self.utilization {
            write!(f, r#","utilization":{utilization:.6}"#)?;
        }
        if let Some(jobs) = self.jobs {
            write!(f, r#","jobs":{jobs}"#)?;
        }
        write!(
            f,
            r#","critical_path":[{}]}}"#,
            JsonList(|| self.critical_path.iter().map(|name| JsonStr(name)))
        )
    }
}

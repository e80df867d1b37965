//! The events of `traceEvents`: their names, their `args`, and each event as the writer writes
//! it (one line of JSON, no allocation).
//!
//! Readers parse events generically (any Chrome trace); what is particular to this format is
//! here: the names ([`names`]), the `args` of job spans ([`SpanArgs`]) and of frames and passes
//! ([`AsyncArgs`]), and the events the recorder writes ([`SpanEvent`], [`AsyncEvent`],
//! [`BusyEvent`], [`InstantEvent`], [`ThreadEvents`]).

use std::fmt;

use crate::json::JsonStr;
use crate::time::Micros;
use crate::Priority;

/// The names this format gives events, categories and counters.
///
/// ```
/// use jobs_trace_format::names;
/// assert_eq!((names::PASS_CATEGORY, names::WORKERS_BUSY), ("pass", "workers busy"));
/// ```
pub mod names {
    /// The process's name (`process_name` metadata).
    pub const PROCESS: &str = "jobs";
    /// The category of job spans.
    pub const JOB_CATEGORY: &str = "job";
    /// The name of a job span without a label (`jobs::Label::NONE`).
    pub const UNLABELLED: &str = "job";
    /// The category and the name of frame begin/end pairs.
    pub const FRAME_CATEGORY: &str = "frame";
    /// The category of pass begin/end pairs (named by the pass).
    pub const PASS_CATEGORY: &str = "pass";
    /// The workers' utilization counter, one sample per millisecond.
    pub const WORKERS_BUSY: &str = "workers busy";
    /// The one series of [`WORKERS_BUSY`], in percent.
    pub const PERCENT_SERIES: &str = "%";
    /// An instant event: a job panicked.
    pub const JOB_PANICKED: &str = "job panicked";
    /// An instant event: a frame took longer than its budget.
    pub const FRAME_OVER_BUDGET: &str = "frame over budget";
    /// An instant event: a program's own message.
    pub const MESSAGE: &str = "message";
}

/// The `args` of a job span: the frame the job belongs to and its priority.
///
/// ```
/// use jobs_trace_format::{Priority, SpanArgs};
/// let args = SpanArgs { frame: Some(12), priority: Some(Priority::Normal) };
/// assert_eq!(args.to_string(), r#"{"frame":12,"priority":"Normal"}"#);
/// assert_eq!(SpanArgs::default().to_string(), "{}");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub struct SpanArgs {
    /// The frame the job belongs to (inherited like the label); absent for a job outside any
    /// frame. The recorder keeps frame numbers modulo 2^32.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub frame: Option<u64>,
    /// The job's priority; an unknown spelling reads as `None`.
    #[cfg_attr(
        feature = "serde",
        serde(
            default,
            deserialize_with = "crate::priority::lenient",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub priority: Option<Priority>,
}

impl fmt::Display for SpanArgs {
    /// Written piece by piece, without format strings: a trace writes one per span.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        if let Some(frame) = self.frame {
            f.write_str(r#""frame":"#)?;
            fmt::Display::fmt(&frame, f)?;
        }
        if let Some(priority) = self.priority {
            f.write_str(if self.frame.is_some() { "," } else { "" })?;
            f.write_str(r#""priority":""#)?;
            f.write_str(priority.as_str())?;
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// The `args` of a frame's or a pass's begin event: the frame, and for a pass the worker its
/// first step ran on (absent: the main thread).
///
/// ```
/// use jobs_trace_format::AsyncArgs;
/// assert_eq!(AsyncArgs { frame: Some(12), worker: Some(0) }.to_string(), r#"{"frame":12,"worker":0}"#);
/// assert_eq!(AsyncArgs { frame: Some(12), worker: None }.to_string(), r#"{"frame":12}"#);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub struct AsyncArgs {
    /// The frame (the event's `id` too).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub frame: Option<u64>,
    /// The worker a pass's first step ran on.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub worker: Option<u64>,
}

impl fmt::Display for AsyncArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        if let Some(frame) = self.frame {
            write!(f, r#""frame":{frame}"#)?;
        }
        if let Some(worker) = self.worker {
            let comma = if self.frame.is_some() { "," } else { "" };
            write!(f, r#"{comma}"worker":{worker}"#)?;
        }
        f.write_str("}")
    }
}

/// The process name and, per lane, its `thread_name` and `thread_sort_index` metadata events
/// (lane `tid` sorts at `tid`), separated by `",\n"`.
///
/// ```
/// use jobs_trace_format::ThreadEvents;
/// let text = ThreadEvents(&["worker 0"]).to_string();
/// assert_eq!(text.lines().count(), 3);
/// assert!(text.contains(r#""tid":0,"name":"thread_name","args":{"name":"worker 0"}"#));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ThreadEvents<'a, S>(pub &'a [S]);

impl<S: AsRef<str>> fmt::Display for ThreadEvents<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"ph":"M","pid":1,"name":"process_name","args":{{"name":{}}}}}"#,
            JsonStr(names::PROCESS)
        )?;
        for (tid, name) in self.0.iter().enumerate() {
            write!(
                f,
                ",\n{{\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"name\":\"thread_name\",\"args\":{{\"name\":{}}}}}",
                JsonStr(name.as_ref())
            )?;
            write!(
                f,
                ",\n{{\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"name\":\"thread_sort_index\",\"args\":{{\"sort_index\":{tid}}}}}"
            )?;
        }
        Ok(())
    }
}

/// One run of a job on a lane: a complete (`"X"`) event.
///
/// ```
/// use jobs_trace_format::{Priority, SpanArgs, SpanEvent};
/// let span = SpanEvent { tid: 0, start_ns: 1_234_567, end_ns: 1_239_817, name: "integrate",
///     args: SpanArgs { frame: Some(12), priority: Some(Priority::Normal) } };
/// assert_eq!(span.to_string(), r#"{"ph":"X","pid":1,"tid":0,"ts":1234.567,"dur":5.250,"name":"integrate","cat":"job","args":{"frame":12,"priority":"Normal"}}"#);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SpanEvent<'a> {
    /// The lane.
    pub tid: u16,
    /// When the thread picked the job, from the window's start.
    pub start_ns: u64,
    /// When the job finished, suspended or was handed on (a span that ends before it starts is
    /// written with length 0).
    pub end_ns: u64,
    /// The job's label ([`names::UNLABELLED`] for none).
    pub name: &'a str,
    /// Its frame and priority.
    pub args: SpanArgs,
}

impl fmt::Display for SpanEvent<'_> {
    /// Written piece by piece, without format strings: the bulk of a trace is spans.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Display as D;
        f.write_str(r#"{"ph":"X","pid":1,"tid":"#)?;
        D::fmt(&self.tid, f)?;
        f.write_str(r#","ts":"#)?;
        D::fmt(&Micros::from_nanos(self.start_ns), f)?;
        f.write_str(r#","dur":"#)?;
        D::fmt(
            &Micros::from_nanos(self.end_ns.saturating_sub(self.start_ns)),
            f,
        )?;
        f.write_str(r#","name":"#)?;
        D::fmt(&JsonStr(self.name), f)?;
        f.write_str(r#","cat":""#)?;
        f.write_str(names::JOB_CATEGORY)?;
        f.write_str(r#"","args":"#)?;
        D::fmt(&self.args, f)?;
        f.write_str("}")
    }
}

/// The begin (`"b"`) or end (`"e"`) of a frame or a pass: async events, because frames overlap.
/// The `id` is the frame number; only a begin carries `args`.
///
/// ```
/// use jobs_trace_format::{AsyncArgs, AsyncEvent};
/// let begin = AsyncEvent::begin_frame(12, 1_000_000);
/// assert_eq!(begin.to_string(), r#"{"ph":"b","pid":1,"cat":"frame","name":"frame","id":12,"ts":1000.000,"args":{"frame":12}}"#);
/// let end = AsyncEvent::end_pass("integrate", 12, 2_100_000);
/// assert_eq!(end.to_string(), r#"{"ph":"e","pid":1,"cat":"pass","name":"integrate","id":12,"ts":2100.000}"#);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AsyncEvent<'a> {
    /// `"frame"` or `"pass"` ([`names::FRAME_CATEGORY`], [`names::PASS_CATEGORY`]).
    pub category: &'a str,
    /// `"frame"` for a frame, the pass's name for a pass.
    pub name: &'a str,
    /// The frame number.
    pub id: u64,
    /// When, from the window's start.
    pub at_ns: u64,
    /// `Some` for a begin (`"b"`), `None` for an end (`"e"`).
    pub begin: Option<AsyncArgs>,
}

impl<'a> AsyncEvent<'a> {
    /// A frame's begin.
    ///
    /// ```
    /// assert!(jobs_trace_format::AsyncEvent::begin_frame(1, 0).begin.is_some());
    /// ```
    pub fn begin_frame(frame: u64, at_ns: u64) -> Self {
        let args = AsyncArgs {
            frame: Some(frame),
            worker: None,
        };
        AsyncEvent {
            category: names::FRAME_CATEGORY,
            name: names::FRAME_CATEGORY,
            id: frame,
            at_ns,
            begin: Some(args),
        }
    }

    /// A frame's end.
    ///
    /// ```
    /// assert!(jobs_trace_format::AsyncEvent::end_frame(1, 0).begin.is_none());
    /// ```
    pub fn end_frame(frame: u64, at_ns: u64) -> Self {
        AsyncEvent {
            begin: None,
            ..AsyncEvent::begin_frame(frame, at_ns)
        }
    }

    /// A pass's begin in `frame`; `worker` is where its first step ran (`None`: main thread).
    ///
    /// ```
    /// let e = jobs_trace_format::AsyncEvent::begin_pass("collide", 3, 0, Some(1));
    /// assert!(e.to_string().ends_with(r#""args":{"frame":3,"worker":1}}"#));
    /// ```
    pub fn begin_pass(pass: &'a str, frame: u64, at_ns: u64, worker: Option<u64>) -> Self {
        let args = AsyncArgs {
            frame: Some(frame),
            worker,
        };
        AsyncEvent {
            category: names::PASS_CATEGORY,
            name: pass,
            id: frame,
            at_ns,
            begin: Some(args),
        }
    }

    /// A pass's end in `frame`.
    ///
    /// ```
    /// assert_eq!(jobs_trace_format::AsyncEvent::end_pass("a", 3, 0).id, 3);
    /// ```
    pub fn end_pass(pass: &'a str, frame: u64, at_ns: u64) -> Self {
        AsyncEvent {
            begin: None,
            ..AsyncEvent::begin_pass(pass, frame, at_ns, None)
        }
    }
}

impl fmt::Display for AsyncEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"ph":"{}","pid":1,"cat":{},"name":{},"id":{},"ts":{}"#,
            if self.begin.is_some() { "b" } else { "e" },
            JsonStr(self.category),
            JsonStr(self.name),
            self.id,
            Micros::from_nanos(self.at_ns),
        )?;
        if let Some(args) = self.begin {
            write!(f, r#","args":{args}"#)?;
        }
        f.write_str("}")
    }
}

/// One sample of the workers' utilization counter: the percentage of the millisecond starting
/// at `at_ns` the workers were busy (a step plot).
///
/// ```
/// use jobs_trace_format::BusyEvent;
/// let e = BusyEvent { at_ns: 1_000_000, percent: 97.5 };
/// assert_eq!(e.to_string(), r#"{"ph":"C","pid":1,"name":"workers busy","ts":1000.000,"args":{"%":97.5}}"#);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BusyEvent {
    /// The sample's start, from the window's start.
    pub at_ns: u64,
    /// Busy, 0 to 100 (written with one decimal).
    pub percent: f64,
}

impl fmt::Display for BusyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"ph":"C","pid":1,"name":{},"ts":{},"args":{{{}:{:.1}}}}}"#,
            JsonStr(names::WORKERS_BUSY),
            Micros::from_nanos(self.at_ns),
            JsonStr(names::PERCENT_SERIES),
            self.percent
        )
    }
}

/// What an instant event says.
///
/// ```
/// use jobs_trace_format::Instant;
/// let panic = Instant::JobPanicked { label: "collide", message: "index out of bounds" };
/// assert_eq!(panic.name(), "job panicked");
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Instant<'a> {
    /// A job panicked (on the lane where it happened).
    JobPanicked {
        /// The job's label.
        label: &'a str,
        /// The panic's message.
        message: &'a str,
    },
    /// A frame took longer than its budget (global).
    FrameOverBudget {
        /// The frame.
        frame: u64,
        /// How long it took, in milliseconds (written with 3 decimals).
        ms: f64,
        /// Its budget, in milliseconds (written with 3 decimals).
        budget_ms: f64,
    },
    /// A program's own message.
    Message(&'a str),
}

impl Instant<'_> {
    /// The event's name: [`names::JOB_PANICKED`], [`names::FRAME_OVER_BUDGET`],
    /// [`names::MESSAGE`].
    ///
    /// ```
    /// assert_eq!(jobs_trace_format::Instant::Message("hi").name(), "message");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Instant::JobPanicked { .. } => names::JOB_PANICKED,
            Instant::FrameOverBudget { .. } => names::FRAME_OVER_BUDGET,
            Instant::Message(_) => names::MESSAGE,
        }
    }
}

/// An instant (`"i"`) event: on a lane (`"s":"t"`) or global (`"s":"g"`).
///
/// ```
/// use jobs_trace_format::{Instant, InstantEvent};
/// let e = InstantEvent { at_ns: 77_000, tid: Some(1),
///     what: Instant::JobPanicked { label: "collide", message: "index out of bounds" } };
/// assert_eq!(e.to_string(), r#"{"ph":"i","pid":1,"tid":1,"s":"t","name":"job panicked","ts":77.000,"args":{"label":"collide","message":"index out of bounds"}}"#);
/// let e = InstantEvent { at_ns: 9_000_000, tid: None,
///     what: Instant::FrameOverBudget { frame: 12, ms: 18.2, budget_ms: 16.7 } };
/// assert_eq!(e.to_string(), r#"{"ph":"i","pid":1,"s":"g","name":"frame over budget","ts":9000.000,"args":{"frame":12,"ms":18.200,"budget_ms":16.700}}"#);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct InstantEvent<'a> {
    /// When, from the window's start.
    pub at_ns: u64,
    /// The lane it happened on; `None` for a global event.
    pub tid: Option<u16>,
    /// What happened.
    pub what: Instant<'a>,
}

impl fmt::Display for InstantEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"{"ph":"i","pid":1,"#)?;
        match self.tid {
            Some(tid) => write!(f, r#""tid":{tid},"s":"t","#)?,
            None => f.write_str(r#""s":"g","#)?,
        }
        write!(
            f,
            r#""name":{},"ts":{},"args":{{"#,
            JsonStr(self.what.name()),
            Micros::from_nanos(self.at_ns)
        )?;
        match self.what {
            Instant::JobPanicked { label, message } => write!(
                f,
                r#""label":{},"message":{}"#,
                JsonStr(label),
                JsonStr(message)
            )?,
            Instant::FrameOverBudget {
                frame,
                ms,
                budget_ms,
            } => write!(
                f,
                r#""frame":{frame},"ms":{ms:.3},"budget_ms":{budget_ms:.3}"#
            )?,
            Instant::Message(text) => write!(f, r#""message":{}"#, JsonStr(text))?,
        }
        f.write_str("}}")
    }
}

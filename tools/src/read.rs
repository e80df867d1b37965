//! Reading a trace file into a [`Trace`]: the Chrome trace event JSON the jobs recorder writes
//! (object form with `traceEvents`, or a bare array of events), with or without the `jobs` object.
//!
//! Bad input is an error value that says what is wrong and where; nothing here panics on it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::meta::JobsMeta;
use crate::time::{from_micros, Interval, Nanos};
use crate::trace::{CounterSample, Frame, Instant, Lane, LaneKind, Pass, Span, Trace};
use jobs_trace_format::{check_version, names, AsyncArgs, SpanArgs};

/// Why a trace could not be read: the file (when there is one) and the problem.
///
/// ```
/// let err = tools::Trace::from_json("[{\"ph\":\"X\",\"tid\":0,\"ts\":1.0,\"name\":\"a\"}]").unwrap_err();
/// assert_eq!(err.to_string(), "trace: event 0 (\"X\" \"a\"): no \"dur\"");
/// ```
#[derive(Debug)]
pub struct TraceError {
    /// The file, when the trace came from one.
    pub path: Option<PathBuf>,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with a trace.
///
/// ```
/// let err = tools::Trace::from_json("{\"traceEvents\": [").unwrap_err();
/// assert!(matches!(err.problem, tools::Problem::NotJson(_)));
/// ```
#[derive(Debug)]
pub enum Problem {
    /// The file could not be read.
    Io(std::io::Error),
    /// The text is not JSON (the parser's message, with line and column).
    NotJson(String),
    /// The JSON is not a trace: what is missing or of the wrong type.
    NotATrace(String),
    /// The `jobs` object says the file is of a format version this reader does not read.
    ///
    /// ```
    /// let err = tools::Trace::from_json(r#"{"traceEvents":[],"jobs":{"format":99}}"#).unwrap_err();
    /// assert!(matches!(err.problem, tools::Problem::Version(_)));
    /// assert!(err.to_string().starts_with("trace: trace format 99 is newer than this reader's"));
    /// ```
    Version(jobs_trace_format::VersionError),
    /// One event is malformed: its index in `traceEvents` and what is wrong with it.
    BadEvent {
        /// The event's index in `traceEvents`.
        index: usize,
        /// Its phase and name, and what is wrong.
        what: String,
    },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}: ", path.display())?,
            None => write!(f, "trace: ")?,
        }
        match &self.problem {
            Problem::Io(err) => write!(f, "cannot read: {err}"),
            Problem::NotJson(msg) => write!(f, "not JSON: {msg}"),
            Problem::NotATrace(msg) => write!(f, "not a trace: {msg}"),
            Problem::Version(err) => write!(f, "{err}"),
            Problem::BadEvent { index, what } => write!(f, "event {index} {what}"),
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl Trace {
    /// Reads the trace file at `path`.
    ///
    /// ```
    /// let err = tools::Trace::read("no/such/trace.json").unwrap_err();
    /// assert!(err.to_string().starts_with("no/such/trace.json: cannot read"));
    /// ```
    pub fn read(path: impl AsRef<Path>) -> Result<Trace, TraceError> {
        let path = path.as_ref();
        let named = |problem| TraceError {
            path: Some(path.to_path_buf()),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|err| named(Problem::Io(err)))?;
        parse(&text).map_err(named)
    }

    /// Reads a trace from its JSON text.
    ///
    /// ```
    /// let trace = tools::Trace::from_json(r#"{"traceEvents":[
    ///   {"ph":"X","pid":1,"tid":0,"ts":10.0,"dur":5.0,"name":"a"}]}"#)?;
    /// assert_eq!(trace.window, tools::Interval::new(10_000, 15_000));
    /// # Ok::<(), tools::TraceError>(())
    /// ```
    pub fn from_json(text: &str) -> Result<Trace, TraceError> {
        parse(text).map_err(|problem| TraceError {
            path: None,
            problem,
        })
    }
}

/// The top level in object form.
#[derive(Deserialize)]
struct ObjectForm<'a> {
    #[serde(rename = "traceEvents", borrow)]
    trace_events: Option<Vec<Event<'a>>>,
    #[serde(borrow)]
    jobs: Option<&'a RawValue>,
}

/// One event, with its `args` left unparsed until its phase says what they hold.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    ph: Cow<'a, str>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cat: Option<Cow<'a, str>>,
    #[serde(default)]
    tid: Option<Id>,
    #[serde(default)]
    id: Option<Id>,
    #[serde(default)]
    ts: Option<f64>,
    #[serde(default)]
    dur: Option<f64>,
    #[serde(borrow, default)]
    s: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    args: Option<&'a RawValue>,
}

/// A `tid` or an `id`: a number, or a string holding one (decimal or `0x` hex).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Id(u64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a string holding one")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                u64::try_from(v)
                    .map(Id)
                    .map_err(|_| E::custom(format!("negative id {v}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Id, E> {
                if v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 {
                    Ok(Id(v as u64))
                } else {
                    Err(E::custom(format!("id {v} is not a whole number")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                let parsed = match v.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => v.parse(),
                };
                parsed
                    .map(Id)
                    .map_err(|_| E::custom(format!("id {v:?} is not a number")))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

#[derive(Deserialize, Default)]
struct MetadataArgs {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    sort_index: Option<i64>,
}

/// An event's `args` as `T`; an event without them has `T::default()`.
fn parse_args<'a, T: Deserialize<'a> + Default>(
    index: usize,
    event: &Event<'a>,
) -> Result<T, Problem> {
    let Some(raw) = event.args else {
        return Ok(T::default());
    };
    serde_json::from_str(raw.get()).map_err(|err| Problem::BadEvent {
        index,
        what: format!("{}: bad args: {err}", describe(event)),
    })
}

/// Where one event is, for error messages: `(phase "name")`.
fn describe(event: &Event<'_>) -> String {
    match &event.name {
        Some(name) => format!("({:?} {:?})", event.ph, name),
        None => format!("({:?})", event.ph),
    }
}

/// The state of a parse: what the events seen so far say.
#[derive(Default)]
struct Builder {
    names: HashMap<String, Arc<str>>,
    thread_names: BTreeMap<u64, String>,
    sort_index: BTreeMap<u64, i64>,
    spans: BTreeMap<u64, Vec<Span>>,
    /// Async events begun and not yet ended, by (category, name, id): start and args.
    open: HashMap<(String, String, u64), (Nanos, AsyncArgs)>,
    frames: Vec<Frame>,
    passes: Vec<Pass>,
    counters: Vec<CounterSample>,
    instants: Vec<Instant>,
    first: Option<Nanos>,
    last: Option<Nanos>,
}

impl Builder {
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(name) = self.names.get(name) {
            return name.clone();
        }
        let interned: Arc<str> = Arc::from(name);
        self.names.insert(name.to_owned(), interned.clone());
        interned
    }

    fn saw(&mut self, time: Nanos) {
        self.first = Some(self.first.map_or(time, |t| t.min(time)));
        self.last = Some(self.last.map_or(time, |t| t.max(time)));
    }

    fn event(&mut self, index: usize, event: Event<'_>) -> Result<(), Problem> {
        let bad = |what: String| Problem::BadEvent {
            index,
            what: format!("{}: {what}", describe(&event)),
        };
        let ts = || {
            event
                .ts
                .map(from_micros)
                .ok_or_else(|| bad("no \"ts\"".into()))
        };
        let name = event.name.as_deref().unwrap_or("");
        match &*event.ph {
            "M" => {
                let tid = match event.tid {
                    Some(Id(tid)) => tid,
                    None => return Ok(()), // process_name and other process-wide metadata
                };
                let args: MetadataArgs = parse_args(index, &event)?;
                match name {
                    "thread_name" => {
                        let name = args.name.ok_or_else(|| bad("no args.name".into()))?;
                        self.thread_names.insert(tid, name);
                    }
                    "thread_sort_index" => {
                        let index = args
                            .sort_index
                            .ok_or_else(|| bad("no args.sort_index".into()))?;
                        self.sort_index.insert(tid, index);
                    }
                    _ => {}
                }
            }
            "X" => {
                let Id(tid) = event.tid.ok_or_else(|| bad("no \"tid\"".into()))?;
                let start = ts()?;
                let dur = event.dur.ok_or_else(|| bad("no \"dur\"".into()))?;
                if dur < 0.0 || !dur.is_finite() {
                    return Err(bad(format!("\"dur\" is {dur}")));
                }
                let args: SpanArgs = parse_args(index, &event)?;
                let end = start + from_micros(dur);
                self.saw(start);
                self.saw(end);
                let span = Span {
                    time: Interval::new(start, end),
                    name: self.intern(if name.is_empty() {
                        names::UNLABELLED
                    } else {
                        name
                    }),
                    frame: args.frame,
                    priority: args.priority,
                };
                self.spans.entry(tid).or_default().push(span);
            }
            "b" | "e" => {
                let Id(id) = event.id.ok_or_else(|| bad("no \"id\"".into()))?;
                let time = ts()?;
                self.saw(time);
                let cat = event.cat.as_deref().unwrap_or("").to_owned();
                let key = (cat, name.to_owned(), id);
                if event.ph == "b" {
                    let args: AsyncArgs = parse_args(index, &event)?;
                    self.open.insert(key, (time, args));
                } else if let Some((start, args)) = self.open.remove(&key) {
                    let time = Interval::new(start, time);
                    match key.0.as_str() {
                        names::FRAME_CATEGORY => self.frames.push(Frame {
                            number: args.frame.unwrap_or(id),
                            time,
                        }),
                        names::PASS_CATEGORY => {
                            let name = self.intern(&key.1);
                            self.passes.push(Pass {
                                name,
                                frame: args.frame.unwrap_or(id),
                                time,
                                worker: args.worker,
                            });
                        }
                        _ => {}
                    }
                }
                // An end without a begin (the window opened mid-frame) is skipped, as is a begin
                // without an end (it closed mid-frame): neither has a length.
            }
            "C" => {
                let time = ts()?;
                self.saw(time);
                let args: serde_json::Map<String, serde_json::Value> = parse_args(index, &event)?;
                let series = args
                    .into_iter()
                    .filter_map(|(series, value)| value.as_f64().map(|v| (series, v)))
                    .collect();
                let name = self.intern(name);
                self.counters.push(CounterSample { name, time, series });
            }
            "i" | "I" => {
                let time = ts()?;
                self.saw(time);
                let args = parse_args(index, &event)?;
                let global = matches!(event.s.as_deref(), Some("g" | "p"));
                self.instants.push(Instant {
                    name: name.to_owned(),
                    time,
                    tid: if global {
                        None
                    } else {
                        event.tid.map(|Id(tid)| tid)
                    },
                    args,
                });
            }
            _ => {} // other phases (flow events, samples...) carry nothing the tools use
        }
        Ok(())
    }

    fn finish(mut self, meta: Option<JobsMeta>) -> Trace {
        // Lanes: those the metadata lists, those named by thread_name, those with spans.
        let mut lanes: BTreeMap<u64, (Option<String>, Option<LaneKind>)> = BTreeMap::new();
        for lane in meta.iter().flat_map(|meta| &meta.lanes) {
            lanes.insert(lane.tid, (Some(lane.name.clone()), Some(lane.kind)));
        }
        for (tid, name) in &self.thread_names {
            lanes
                .entry(*tid)
                .or_default()
                .0
                .get_or_insert_with(|| name.clone());
        }
        for tid in self.spans.keys() {
            lanes.entry(*tid).or_default();
        }
        let mut lanes: Vec<Lane> = lanes
            .into_iter()
            .map(|(tid, (name, kind))| {
                let name = name.unwrap_or_else(|| format!("tid {tid}"));
                let kind = kind.unwrap_or_else(|| LaneKind::from_thread_name(&name));
                let mut spans = self.spans.remove(&tid).unwrap_or_default();
                // Outer spans before the ones nested in them.
                spans.sort_by_key(|span| (span.time.start, std::cmp::Reverse(span.time.end)));
                Lane {
                    tid,
                    name,
                    kind,
                    spans,
                }
            })
            .collect();
        lanes.sort_by_key(|lane| {
            (
                self.sort_index.get(&lane.tid).copied().unwrap_or(i64::MAX),
                lane.tid,
            )
        });

        // Frames the metadata lists that no event pair gave (a file with the metadata only).
        for frame in meta.iter().flat_map(|meta| &meta.frames) {
            if !self.frames.iter().any(|f| f.number == frame.frame) {
                self.frames.push(Frame {
                    number: frame.frame,
                    time: Interval::new(frame.start_ns, frame.end_ns),
                });
            }
        }
        self.frames
            .sort_by_key(|frame| (frame.time.start, frame.number));
        self.passes
            .sort_by_key(|pass| (pass.time.start, pass.time.end));
        self.counters.sort_by_key(|sample| sample.time);
        self.instants.sort_by_key(|instant| instant.time);

        let window = match &meta {
            Some(meta) => Interval::new(meta.window_ns[0], meta.window_ns[1]),
            None => Interval::new(self.first.unwrap_or(0), self.last.unwrap_or(0)),
        };
        Trace {
            window,
            lanes,
            frames: self.frames,
            passes: self.passes,
            counters: self.counters,
            instants: self.instants,
            meta,
        }
    }
}

/// Classifies a serde_json error: broken text, or JSON of the wrong shape.
fn json_problem(err: serde_json::Error, what: &str) -> Problem {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => Problem::NotJson(err.to_string()),
        Category::Data => Problem::NotATrace(format!("{what}: {err}")),
    }
}

/// The `jobs` object, once its version says this reader reads it: a file of another version is
/// [`Problem::Version`], before any of its other fields can be misread.
fn read_meta(raw: &RawValue) -> Result<JobsMeta, Problem> {
    #[derive(Deserialize)]
    struct Version {
        format: u32,
    }
    let not_a_trace =
        |err: serde_json::Error| Problem::NotATrace(format!("the \"jobs\" object: {err}"));
    let Version { format } = serde_json::from_str(raw.get()).map_err(not_a_trace)?;
    check_version(format).map_err(Problem::Version)?;
    serde_json::from_str::<JobsMeta>(raw.get()).map_err(not_a_trace)
}

fn parse(text: &str) -> Result<Trace, Problem> {
    let (events, jobs) = if text.trim_start().starts_with('[') {
        let events: Vec<Event<'_>> =
            serde_json::from_str(text).map_err(|err| json_problem(err, "the event array"))?;
        (events, None)
    } else {
        let top: ObjectForm<'_> =
            serde_json::from_str(text).map_err(|err| json_problem(err, "the top-level object"))?;
        let events = top
            .trace_events
            .ok_or_else(|| Problem::NotATrace("no \"traceEvents\" array".into()))?;
        (events, top.jobs)
    };
    let meta = match jobs {
        Some(raw) if raw.get() != "null" => Some(read_meta(raw)?),
        _ => None,
    };
    let mut builder = Builder::default();
    for (index, event) in events.into_iter().enumerate() {
        builder.event(index, event)?;
    }
    Ok(builder.finish(meta))
}

//! The trace file of the `jobs` recorder, defined once: what its writer (`jobs::trace::Trace::write_chrome`)
//! writes and its readers (the `tools` crate's `jobs-trace`) read.
//!
//! The file is the Chrome trace event format (JSON object form), which Perfetto and
//! chrome://tracing open, plus a top-level `jobs` object for tools (viewers ignore unknown
//! keys). `FORMAT.md` beside this crate shows every event; this crate has the types:
//!
//! - the vocabulary both sides share: [`Priority`] (the job system's own type: `jobs::Priority`
//!   is this one), [`LaneKind`] and the lanes' names, the event names ([`names`]);
//! - the time encoding: whole nanoseconds written as microseconds with three decimals
//!   ([`Micros`], [`nanos_from_micros`]);
//! - the records: each event as the writer writes it ([`SpanEvent`], [`AsyncEvent`],
//!   [`BusyEvent`], [`InstantEvent`], [`ThreadEvents`]), the `args` a reader parses back
//!   ([`SpanArgs`], [`AsyncArgs`]), and the `jobs` object ([`JobsMeta`] and its parts);
//! - the version ([`VERSION`], [`check_version`]).
//!
//! Writing needs no JSON library: every record is [`Display`](std::fmt::Display) and writes
//! itself without allocating. Reading is for the `serde` feature: the `args` and the `jobs`
//! object derive `Deserialize` with the file's keys.
//!
//! ```
//! use jobs_trace_format::{Priority, SpanArgs, SpanEvent};
//! let span = SpanEvent { tid: 1, start_ns: 2_000, end_ns: 7_500, name: "collide",
//!     args: SpanArgs { frame: Some(3), priority: Some(Priority::High) } };
//! let line = span.to_string();
//! assert!(line.contains(r#""ts":2.000,"dur":5.500,"name":"collide""#));
//! # #[cfg(feature = "serde")] {
//! let back: serde_json::Value = serde_json::from_str(&line)?;
//! let args: SpanArgs = serde_json::from_value(back["args"].clone())?;
//! assert_eq!(args, span.args);
//! # }
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! # Two paths through a frame
//!
//! A frame graph's frame has two chains of passes worth naming, and this project gives them
//! two names:
//!
//! - The **critical path** (`frame::FrameStats::critical_path`, written as
//!   [`FrameMeta::critical_path`]): the chain of dependent passes whose *durations* add up to
//!   the most. Waits do not count: it is how long the frame would take with as many workers
//!   as it could use, a property of the graph and of how long each pass ran. A frame much
//!   longer than its critical path is short of workers or waiting on something else.
//! - The **completion chain** (the `tools` crate's `completion_chain`): the chain that decided
//!   when the frame actually completed. Start at the pass that ended last; step to its in-frame
//!   dependency that ended last; stop at a pass with none. Its length runs from its first
//!   pass's start to its last pass's end, waits included: what the frame waited on in this
//!   run.
//!
//! They are the same passes when the frame never waited for a worker; where they differ, the
//! waits on the completion chain say where the time went.

mod event;
mod json;
mod lane;
mod meta;
mod priority;
mod time;

pub use event::{
    names, AsyncArgs, AsyncEvent, BusyEvent, Instant, InstantEvent, SpanArgs, SpanEvent,
    ThreadEvents,
};
pub use json::{JsonList, JsonStr};
pub use lane::LaneKind;
pub use meta::{FrameMeta, GraphPass, JobSystemStats, JobsMeta, LaneMeta};
pub use priority::Priority;
pub use time::{nanos_from_micros, Micros};

use std::fmt;

/// The format's version, `jobs.format` in the file. It changes when a reader of the previous
/// version would misread a file of the new one.
///
/// ```
/// assert_eq!(jobs_trace_format::VERSION, 1);
/// ```
pub const VERSION: u32 = 1;

/// The oldest version this crate's readers still read.
///
/// ```
/// assert!(jobs_trace_format::OLDEST_READABLE <= jobs_trace_format::VERSION);
/// ```
pub const OLDEST_READABLE: u32 = 1;

/// A file of a version this crate does not read.
///
/// ```
/// let err = jobs_trace_format::check_version(2).unwrap_err();
/// assert_eq!(err.found, 2);
/// assert_eq!(err.to_string(), "trace format 2 is newer than this reader's (it reads formats 1 to 1): \
///     read it with a newer version of the tools");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionError {
    /// The file's `jobs.format`.
    pub found: u32,
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let found = self.found;
        if found > VERSION {
            write!(
                f,
                "trace format {found} is newer than this reader's (it reads formats \
                 {OLDEST_READABLE} to {VERSION}): read it with a newer version of the tools"
            )
        } else {
            write!(
                f,
                "trace format {found} is older than this reader reads (formats \
                 {OLDEST_READABLE} to {VERSION}): read it with an older version of the tools"
            )
        }
    }
}

impl std::error::Error for VersionError {}

/// Whether a reader of this crate reads a file of format `found` (its `jobs.format`).
///
/// ```
/// use jobs_trace_format::{check_version, VERSION};
/// assert!(check_version(VERSION).is_ok());
/// assert!(check_version(0).is_err());
/// assert!(check_version(VERSION + 1).is_err());
/// ```
pub fn check_version(found: u32) -> Result<(), VersionError> {
    if (OLDEST_READABLE..=VERSION).contains(&found) {
        Ok(())
    } else {
        Err(VersionError { found })
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    /// Everything the writer writes, the reader reads back as it was.
    #[test]
    fn records_round_trip_through_serde() {
        let meta = JobsMeta {
            workers: 2,
            lanes: vec![
                LaneMeta {
                    tid: 0,
                    name: LaneKind::Worker.lane_name(0),
                    kind: LaneKind::Worker,
                },
                LaneMeta {
                    tid: 1,
                    name: "audio".into(),
                    kind: LaneKind::Other,
                },
            ],
            window_ns: [0, 5_012_345_678],
            spans: 3,
            dropped_spans: 1,
            job_system: Some(JobSystemStats {
                utilization: 0.5,
                busy_ns: vec![1, 2_000_001],
                idle_ns: vec![3, 4],
                jobs: 7,
            }),
            graph: vec![GraphPass {
                pass: "a \"quoted\"\nname".into(),
                after: vec!["b".into()],
                after_previous: vec!["a".into()],
            }],
            frames: vec![FrameMeta {
                frame: 12,
                start_ns: 1_000,
                end_ns: 9_999_999_999,
                utilization: Some(0.25),
                jobs: Some(5),
                critical_path: vec!["b".into(), "a".into()],
            }],
            ..JobsMeta::default()
        };
        let back: JobsMeta = serde_json::from_str(&meta.to_string()).expect("valid JSON");
        assert_eq!(back, meta);

        for args in [
            SpanArgs::default(),
            SpanArgs {
                frame: Some(u64::from(u32::MAX)),
                priority: Some(Priority::Low),
            },
            SpanArgs {
                frame: None,
                priority: Some(Priority::High),
            },
        ] {
            let back: SpanArgs = serde_json::from_str(&args.to_string()).expect("valid JSON");
            assert_eq!(back, args);
        }
        let args = AsyncArgs {
            frame: None,
            worker: Some(3),
        };
        assert_eq!(
            serde_json::from_str::<AsyncArgs>(&args.to_string()).expect("valid JSON"),
            args
        );
    }

    /// A priority a newer writer spells differently is skipped, not an error.
    #[test]
    fn an_unknown_priority_reads_as_none() {
        let args: SpanArgs =
            serde_json::from_str(r#"{"frame":1,"priority":"Urgent"}"#).expect("valid args");
        assert_eq!(args.priority, None);
        assert_eq!(args.frame, Some(1));
    }

    /// Every event line is JSON with the keys the format documents.
    #[test]
    fn events_are_json() {
        let lines = [
            SpanEvent {
                tid: 3,
                start_ns: 10,
                end_ns: 5,
                name: "x\ty",
                args: SpanArgs::default(),
            }
            .to_string(),
            AsyncEvent::begin_pass("p", 1, 2, None).to_string(),
            AsyncEvent::end_frame(1, 2).to_string(),
            BusyEvent {
                at_ns: 0,
                percent: 100.0,
            }
            .to_string(),
            InstantEvent {
                at_ns: 1,
                tid: None,
                what: Instant::Message("a\u{1}b"),
            }
            .to_string(),
        ];
        for line in lines {
            let value: serde_json::Value = serde_json::from_str(&line).expect(&line);
            assert!(value["ph"].is_string() && value["ts"].is_number(), "{line}");
        }
        let threads = format!("[{}]", ThreadEvents(&["worker 0", "main"]));
        let value: serde_json::Value = serde_json::from_str(&threads).expect("valid JSON");
        assert_eq!(value.as_array().map(Vec::len), Some(5));
    }
}

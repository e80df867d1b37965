//! Tools for traces recorded by the jobs recorder: read a trace file (the format the
//! `jobs-trace-format` crate defines, re-exported here as [`format`](mod@format)) into typed
//! data, compute utilization, per-frame figures, the longest passes, idle gaps and completion
//! chains, and draw the timeline and utilization pictures.
//!
//! The `jobs-trace` command (`src/main.rs`) prints all of it; the library is for tests and other
//! programs:
//!
//! ```
//! let trace = tools::Trace::from_json(r#"{"traceEvents":[
//!   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
//!   {"ph":"M","pid":1,"tid":1,"name":"thread_name","args":{"name":"worker 1"}},
//!   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":10.0,"name":"integrate"},
//!   {"ph":"X","pid":1,"tid":1,"ts":5.0,"dur":5.0,"name":"collide"}]}"#)?;
//! let report = tools::Report::build(&trace, &tools::ReportOptions::default());
//! assert_eq!(report.utilization.overall, 0.75);
//! println!("{report}");
//! # Ok::<(), tools::TraceError>(())
//! ```
//!
//! Every figure is computed from the file alone: the tools read what the job system records, not
//! its internals. Times are whole nanoseconds ([`Nanos`]) from the start of the recording.

pub mod busy;
pub mod completion_chain;
pub mod frame_range;
pub mod frames;
pub mod gaps;
pub mod meta;
pub mod passes;
pub mod plot;
pub mod read;
pub mod report;
pub mod stats;
pub mod table;
pub mod time;
pub mod trace;
pub mod utilization;

pub use jobs_trace_format as format;

pub use frame_range::FrameRange;
pub use meta::{FrameMeta, GraphPass, JobSystemStats, JobsMeta, LaneMeta};
pub use read::{Problem, TraceError};
pub use report::{Report, ReportOptions};
pub use time::{Interval, Nanos};
pub use trace::{CounterSample, Frame, Instant, Lane, LaneKind, Pass, Priority, Span, Trace};

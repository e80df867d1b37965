//! Tools for traces recorded by the jobs recorder: read a Chrome trace event file
//! (`jobs/src/trace/FORMAT.md`) into typed data, compute utilization, per-frame figures, the
//! longest passes, idle gaps and critical paths, and draw the timeline and utilization pictures.
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
pub mod critical_path;
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

pub use frame_range::FrameRange;
pub use meta::{FrameMeta, GraphPass, JobSystemStats, JobsMeta, LaneMeta};
pub use read::{Problem, TraceError};
pub use report::{Report, ReportOptions};
pub use time::{Interval, Nanos};
pub use trace::{CounterSample, Frame, Instant, Lane, LaneKind, Pass, Priority, Span, Trace};

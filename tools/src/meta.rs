//! The top-level `jobs` object: what the recorder adds to the Chrome format so that figures can
//! be checked against the job system's and the frame graph's own. Its records are defined once,
//! in the `jobs-trace-format` crate, for the writer and this reader; times are nanoseconds.
//!
//! ```
//! let trace = tools::Trace::from_json(r#"{"traceEvents":[], "jobs":{"format":1,"workers":1,
//!   "lanes":[{"tid":0,"name":"worker 0","kind":"worker"}], "window_us":[0.0, 100.0]}}"#)?;
//! let meta: &tools::JobsMeta = trace.meta.as_ref().unwrap();
//! assert_eq!((meta.format, meta.workers, meta.dropped_spans), (1, 1, 0));
//! assert_eq!(meta.window_ns, [0, 100_000]);
//! assert_eq!(meta.lanes[0].kind, tools::LaneKind::Worker);
//! # Ok::<(), tools::TraceError>(())
//! ```

pub use jobs_trace_format::{FrameMeta, GraphPass, JobSystemStats, JobsMeta, LaneMeta};

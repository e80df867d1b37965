//! Writing a [`Trace`] as a trace file: the records of the `jobs-trace-format` crate (its
//! `FORMAT.md` has the layout), one event per line.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use jobs_trace_format::{
    AsyncEvent, BusyEvent, FrameMeta, GraphPass, Instant, InstantEvent, JobSystemStats, JobsMeta,
    LaneMeta, SpanArgs, SpanEvent, ThreadEvents,
};

use super::{EventKind, Trace};
use crate::Label;

/// Width of the `workers busy` counter's steps.
const BUSY_BIN_NS: u64 = 1_000_000;

impl Trace {
    /// Writes the trace as Chrome trace event JSON (Perfetto, chrome://tracing, the `tools`
    /// crate's `jobs-trace`): one track per lane, frames and passes as async tracks, the
    /// workers' utilization as a counter, panics and other moments as instant events. The
    /// layout is documented in the `jobs-trace-format` crate (`trace-format/FORMAT.md`).
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// system.start_recording()?;
    /// system.parallel_for(0..1000, jobs::Grain::Auto, |i| { std::hint::black_box(i); })?;
    /// let mut json = Vec::new();
    /// system.stop_recording()?.write_chrome(&mut json)?;
    /// assert!(json.starts_with(b"{\"traceEvents\":["));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_chrome(&self, out: impl Write) -> io::Result<()> {
        let mut w = BufWriter::with_capacity(1 << 16, out);
        let names: Vec<&str> = self.lanes.iter().map(|lane| lane.name.as_str()).collect();
        write!(w, "{{\"traceEvents\":[\n{}", ThreadEvents(&names))?;
        for span in &self.spans {
            let event = SpanEvent {
                tid: span.lane,
                start_ns: span.start_ns,
                end_ns: span.end_ns,
                name: span.label.name(),
                args: SpanArgs {
                    frame: span.frame.map(u64::from),
                    priority: Some(span.priority),
                },
            };
            write!(w, ",\n{event}")?;
        }
        for frame in &self.frames {
            let n = frame.number;
            write!(w, ",\n{}", AsyncEvent::begin_frame(n, self.ns(frame.start)))?;
            write!(w, ",\n{}", AsyncEvent::end_frame(n, self.ns(frame.end)))?;
            for pass in &frame.passes {
                let name = pass.label.name();
                let worker = pass.worker.map(|worker| worker as u64);
                let begin = AsyncEvent::begin_pass(name, n, self.ns(pass.start), worker);
                write!(w, ",\n{begin}")?;
                write!(w, ",\n{}", AsyncEvent::end_pass(name, n, self.ns(pass.end)))?;
            }
        }
        for (at_ns, percent) in self.busy_bins() {
            write!(w, ",\n{}", BusyEvent { at_ns, percent })?;
        }
        for event in &self.events {
            let what = match &event.kind {
                EventKind::JobPanicked { label, message } => Instant::JobPanicked {
                    label: label.name(),
                    message,
                },
                EventKind::FrameOverBudget {
                    frame,
                    took,
                    budget,
                } => Instant::FrameOverBudget {
                    frame: *frame,
                    ms: took.as_secs_f64() * 1e3,
                    budget_ms: budget.as_secs_f64() * 1e3,
                },
                EventKind::Message(text) => Instant::Message(text),
            };
            let event = InstantEvent {
                at_ns: event.at_ns,
                tid: event.lane,
                what,
            };
            write!(w, ",\n{event}")?;
        }
        write!(
            w,
            "\n],\n\"displayTimeUnit\":\"ms\",\n\"jobs\":{}}}\n",
            self.metadata()
        )?;
        w.flush()
    }

    /// Writes the trace to `path` (through a temporary file beside it, renamed when complete).
    pub fn save_chrome(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let result = File::create(&partial)
            .and_then(|file| self.write_chrome(file))
            .and_then(|()| std::fs::rename(&partial, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    /// The `jobs` object: what the tools need besides the events.
    fn metadata(&self) -> JobsMeta {
        let names = |labels: &[Label]| labels.iter().map(|l| l.name().to_owned()).collect();
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let stats = &self.stats;
        JobsMeta {
            format: jobs_trace_format::VERSION,
            workers: self.workers,
            lanes: (self.lanes.iter().enumerate())
                .map(|(tid, lane)| LaneMeta {
                    tid: tid as u64,
                    name: lane.name.clone(),
                    kind: lane.kind,
                })
                .collect(),
            window_ns: [0, nanos(self.window)],
            spans: self.spans.len() as u64,
            dropped_spans: self.dropped_spans,
            job_system: Some(JobSystemStats {
                utilization: stats.utilization(),
                busy_ns: stats.workers.iter().map(|s| nanos(s.busy)).collect(),
                idle_ns: stats.workers.iter().map(|s| nanos(s.idle)).collect(),
                jobs: stats.total_jobs(),
            }),
            graph: (self.graph.iter())
                .map(|pass| GraphPass {
                    pass: pass.label.name().to_owned(),
                    after: names(&pass.after),
                    after_previous: names(&pass.after_previous),
                })
                .collect(),
            frames: (self.frames.iter())
                .map(|frame| FrameMeta {
                    frame: frame.number,
                    start_ns: nanos(frame.start.saturating_duration_since(self.origin)),
                    end_ns: nanos(frame.end.saturating_duration_since(self.origin)),
                    utilization: Some(frame.utilization),
                    jobs: Some(frame.jobs),
                    critical_path: names(&frame.critical_path),
                })
                .collect(),
        }
    }

    /// The workers' utilization in each millisecond of the window: (start, percent).
    fn busy_bins(&self) -> Vec<(u64, f64)> {
        let window = self.window.as_nanos() as u64;
        if self.workers == 0 || window == 0 {
            return Vec::new();
        }
        let bins = window.div_ceil(BUSY_BIN_NS) as usize;
        let mut busy = vec![0u64; bins];
        for intervals in self.worker_intervals() {
            for (start, end) in intervals {
                let mut at = start;
                while at < end {
                    let bin = (at / BUSY_BIN_NS) as usize;
                    let bin_end = ((bin as u64 + 1) * BUSY_BIN_NS).min(end);
                    if let Some(b) = busy.get_mut(bin) {
                        *b += bin_end - at;
                    }
                    at = bin_end;
                }
            }
        }
        busy.iter()
            .enumerate()
            .map(|(bin, &ns)| {
                let start = bin as u64 * BUSY_BIN_NS;
                let width = (window - start).min(BUSY_BIN_NS) * self.workers as u64;
                (start, 100.0 * ns as f64 / width as f64)
            })
            .collect()
    }
}

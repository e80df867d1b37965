//! The whole report: every analysis of a trace, as data (for `--json`) and as aligned text.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::critical_path::{critical_path, CriticalPath};
use crate::frame_range::FrameRange;
use crate::frames::{frame_utilization, FrameSummary, FrameUtilization};
use crate::gaps::{idle_gaps, IdleGaps};
use crate::passes::{pass_durations, PassDurations, PassOrder};
use crate::stats::Summary;
use crate::table::Table;
use crate::time::{to_millis, Interval};
use crate::trace::{Frame, Trace};
use crate::utilization::{utilization, Utilization};

/// What the report covers and how much of it it lists.
///
/// ```
/// let options = tools::ReportOptions { top: 3, ..Default::default() };
/// assert_eq!((options.top, options.frames, options.pass_order), (3, None, tools::passes::PassOrder::Max));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ReportOptions {
    /// How many worst frames, longest gaps (overall and per worker) and passes to list.
    pub top: usize,
    /// The frames the per-frame figures, passes and critical paths are about (all when `None`).
    pub frames: Option<FrameRange>,
    /// How to sort the passes.
    pub pass_order: PassOrder,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            top: 10,
            frames: None,
            pass_order: PassOrder::Max,
        }
    }
}

/// Every figure the `jobs-trace` command prints.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":8.0,"name":"a"},
///   {"ph":"X","pid":1,"tid":0,"ts":9.0,"dur":1.0,"name":"a"}]}"#)?;
/// let report = tools::Report::build(&trace, &tools::ReportOptions::default());
/// assert_eq!(report.utilization.overall, 0.9);
/// assert!(report.to_string().contains("workers overall  90.00%"));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// What the trace holds.
    pub contents: Contents,
    /// Utilization over the whole recording window.
    pub utilization: Utilization,
    /// The frames the frame figures are about (all when `None`).
    pub frame_range: Option<FrameRange>,
    /// Per-frame utilization and wall time; `None` without frames.
    pub frames: Option<FrameSummary>,
    /// Per pass name, longest first (the `top` longest).
    pub passes: Vec<PassDurations>,
    /// How sorted.
    pub pass_order: PassOrder,
    /// The workers' idle gaps over the window.
    pub idle: IdleGaps,
    /// The critical paths of the slowest frame and of the median frame.
    pub critical_paths: Vec<LabelledPath>,
    /// Each counter series' samples.
    pub counters: Vec<CounterSeries>,
    /// How many instant events of each name.
    pub instants: Vec<InstantCount>,
    /// What could not be computed and why.
    pub notes: Vec<String>,
    /// The pictures written, once the caller adds them.
    pub pictures: Vec<Picture>,
}

/// What a trace holds, counted.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[]}"#)?;
/// let report = tools::Report::build(&trace, &Default::default());
/// assert_eq!((report.contents.spans, report.contents.has_metadata), (0, false));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct Contents {
    /// The recording window.
    pub window: Interval,
    /// Worker lanes.
    pub workers: usize,
    /// Other lanes (main, I/O, helpers).
    pub other_lanes: usize,
    /// Job spans.
    pub spans: usize,
    /// Spans the recorder dropped (0 when the trace does not say).
    pub dropped_spans: u64,
    /// Frames.
    pub frames: usize,
    /// Pass runs.
    pub passes: usize,
    /// Whether the trace has the `jobs` object.
    pub has_metadata: bool,
}

/// A critical path and which frame it is for (`"slowest frame"`, `"median frame"`).
///
/// ```
/// # let trace = tools::Trace::from_json(r#"{"traceEvents":[]}"#)?;
/// let report = tools::Report::build(&trace, &Default::default());
/// assert!(report.critical_paths.is_empty());
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct LabelledPath {
    /// Which frame this is.
    pub label: String,
    /// Its critical path.
    pub path: CriticalPath,
}

/// One counter series' samples summed up (a plain mean over samples, not weighted by time).
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"C","pid":1,"name":"workers busy","ts":0.0,"args":{"%":90.0}},
///   {"ph":"C","pid":1,"name":"workers busy","ts":1000.0,"args":{"%":100.0}}]}"#)?;
/// let counter = &tools::Report::build(&trace, &Default::default()).counters[0];
/// assert_eq!((counter.name.as_str(), counter.series.as_str(), counter.values.mean), ("workers busy", "%", 95.0));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct CounterSeries {
    /// The counter's name.
    pub name: String,
    /// The series' name.
    pub series: String,
    /// Its values.
    pub values: Summary,
}

/// How many instant events had one name, and when the first was.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"i","pid":1,"s":"g","name":"frame over budget","ts":9.0,"args":{"frame":1}}]}"#)?;
/// let count = &tools::Report::build(&trace, &Default::default()).instants[0];
/// assert_eq!((count.name.as_str(), count.count, count.first_ms), ("frame over budget", 1, 0.009));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct InstantCount {
    /// The event's name.
    pub name: String,
    /// How many.
    pub count: usize,
    /// When the first was, in milliseconds.
    pub first_ms: f64,
}

/// A picture the command wrote.
///
/// ```
/// let picture = tools::report::Picture { what: "timeline".into(), path: "trace-timeline.png".into() };
/// assert_eq!(picture.what, "timeline");
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct Picture {
    /// What it shows.
    pub what: String,
    /// Where it is.
    pub path: PathBuf,
}

impl Report {
    /// Computes every figure of the report.
    ///
    /// ```
    /// let trace = tools::Trace::from_json(r#"{"traceEvents":[]}"#)?;
    /// let report = tools::Report::build(&trace, &tools::ReportOptions::default());
    /// assert!(report.frames.is_none());
    /// assert!(report.notes.iter().any(|note| note.contains("no frames")));
    /// # Ok::<(), tools::TraceError>(())
    /// ```
    pub fn build(trace: &Trace, options: &ReportOptions) -> Report {
        let mut notes = Vec::new();
        let frames: Vec<Frame> = match options.frames {
            Some(range) => range.select(&trace.frames),
            None => trace.frames.clone(),
        };
        let in_range = |frame: u64| options.frames.is_none_or(|range| range.contains(frame));
        let per_frame = frame_utilization(trace, &frames);
        let frame_summary = FrameSummary::of(&per_frame, options.top);
        match (trace.frames.is_empty(), frame_summary.is_none()) {
            (true, _) => notes.push("no frames in the trace: per-frame figures skipped".to_owned()),
            (false, true) => notes.push("no frame in the chosen range".to_owned()),
            _ => {}
        }
        let passes: Vec<_> = trace
            .passes
            .iter()
            .filter(|pass| in_range(pass.frame))
            .cloned()
            .collect();
        let critical_paths = critical_paths(trace, &per_frame);
        let has_graph = trace
            .meta
            .as_ref()
            .is_some_and(|meta| !meta.graph.is_empty());
        if !has_graph {
            notes.push("no \"graph\" in the jobs metadata: critical paths skipped".to_owned());
        }
        if trace.meta.is_none() {
            notes.push(
                "no \"jobs\" object: lanes from thread names, window from the first and last \
                 timestamps, no job system figures to compare with"
                    .to_owned(),
            );
        }
        let dropped_spans = trace.meta.as_ref().map_or(0, |meta| meta.dropped_spans);
        if dropped_spans > 0 {
            notes.push(format!(
                "the recorder dropped {dropped_spans} spans: busy time from spans is too low"
            ));
        }
        let utilization = utilization(trace);
        Report {
            contents: Contents {
                window: trace.window,
                workers: utilization.workers.len(),
                other_lanes: utilization.other_lanes.len(),
                spans: trace.lanes.iter().map(|lane| lane.spans.len()).sum(),
                dropped_spans,
                frames: trace.frames.len(),
                passes: trace.passes.len(),
                has_metadata: trace.meta.is_some(),
            },
            utilization,
            frame_range: options.frames,
            frames: frame_summary,
            passes: {
                let mut passes = pass_durations(&passes, options.pass_order);
                passes.truncate(options.top);
                passes
            },
            pass_order: options.pass_order,
            idle: idle_gaps(trace, options.top),
            critical_paths,
            counters: counters(trace),
            instants: instants(trace),
            notes,
            pictures: Vec::new(),
        }
    }
}

/// The critical paths of the slowest and the median frame (by wall time).
fn critical_paths(trace: &Trace, frames: &[FrameUtilization]) -> Vec<LabelledPath> {
    let mut by_wall: Vec<&FrameUtilization> = frames.iter().collect();
    by_wall.sort_by_key(|frame| (frame.time.len(), frame.frame));
    let picks = [
        ("slowest frame", by_wall.last()),
        (
            "median frame",
            by_wall.get(by_wall.len().saturating_sub(1) / 2),
        ),
    ];
    picks
        .into_iter()
        .filter_map(|(label, frame)| {
            let frame = trace.frame(frame?.frame)?;
            Some(LabelledPath {
                label: label.to_owned(),
                path: critical_path(trace, frame)?,
            })
        })
        .collect()
}

fn counters(trace: &Trace) -> Vec<CounterSeries> {
    let mut values: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for sample in &trace.counters {
        for (series, value) in &sample.series {
            values
                .entry((&sample.name, series))
                .or_default()
                .push(*value);
        }
    }
    values
        .into_iter()
        .filter_map(|((name, series), values)| {
            Some(CounterSeries {
                name: name.to_owned(),
                series: series.to_owned(),
                values: Summary::of(&values)?,
            })
        })
        .collect()
}

fn instants(trace: &Trace) -> Vec<InstantCount> {
    let mut counts: BTreeMap<&str, InstantCount> = BTreeMap::new();
    for instant in &trace.instants {
        counts
            .entry(&instant.name)
            .or_insert_with(|| InstantCount {
                name: instant.name.clone(),
                count: 0,
                first_ms: to_millis(instant.time),
            })
            .count += 1;
    }
    counts.into_values().collect()
}

/// A fraction as a percentage with two decimals.
fn percent(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

/// Percentage points with a sign.
fn points(pp: f64) -> String {
    format!("{pp:+.2} pp")
}

fn ms(value: f64) -> String {
    format!("{value:.3}")
}

fn us(value: f64) -> String {
    format!("{value:.1}")
}

fn frames_list(frames: &[u64]) -> String {
    match frames {
        [] => "-".to_owned(),
        [one] => one.to_string(),
        [first, .., last] => format!("{first}-{last}"),
    }
}

impl Report {
    fn write_utilization(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.utilization;
        writeln!(f, "Utilization over the window ({} ms)", ms(u.window_ms))?;
        let mut table = Table::new([
            "lane",
            "kind",
            "spans",
            "busy ms",
            "busy",
            "job system busy ms",
        ]);
        let idle_lanes = u.other_lanes.iter().filter(|lane| lane.spans == 0).count();
        for lane in u
            .workers
            .iter()
            .chain(u.other_lanes.iter().filter(|lane| lane.spans > 0))
        {
            table.row([
                lane.name.clone(),
                lane.kind.as_str().to_owned(),
                lane.spans.to_string(),
                ms(lane.busy_ms),
                percent(lane.utilization),
                lane.job_system_busy_ms.map_or("-".to_owned(), ms),
            ]);
        }
        write!(f, "{table}")?;
        if idle_lanes > 0 {
            writeln!(f, "  ({idle_lanes} other lanes ran no job)")?;
        }
        write!(f, "  workers overall  {}", percent(u.overall))?;
        match (u.job_system, u.difference_pp) {
            (Some(theirs), Some(pp)) => writeln!(
                f,
                "   job system's own  {}   spans minus job system  {}",
                percent(theirs),
                points(pp)
            ),
            _ => writeln!(f, "   (no job system figure in the trace)"),
        }
    }

    fn write_frames(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(frames) = &self.frames else {
            return Ok(());
        };
        let range = self
            .frame_range
            .map_or_else(String::new, |range| format!(", frames {range}"));
        writeln!(f, "\nFrames ({} frames{range})", frames.frames)?;
        let mut table = Table::new(["", "mean", "min", "p50", "p95", "max"]);
        let u = frames.utilization;
        table.row([
            "utilization".to_owned(),
            percent(u.mean),
            percent(u.min),
            percent(u.p50),
            percent(u.p95),
            percent(u.max),
        ]);
        let w = frames.wall_ms;
        table.row([
            "wall time ms".to_owned(),
            ms(w.mean),
            ms(w.min),
            ms(w.p50),
            ms(w.p95),
            ms(w.max),
        ]);
        write!(f, "{table}")?;
        if let (Some(theirs), Some(pp)) = (frames.recorded_mean, frames.difference_pp) {
            writeln!(
                f,
                "  the frame graph's own mean  {}   spans minus frame graph  {}",
                percent(theirs),
                points(pp)
            )?;
        }
        writeln!(f, "\nWorst {} frames by utilization", frames.worst.len())?;
        let mut table = Table::new([
            "frame",
            "start ms",
            "wall ms",
            "utilization",
            "frame graph's",
        ]);
        for frame in &frames.worst {
            table.row([
                frame.frame.to_string(),
                ms(to_millis(frame.time.start)),
                ms(frame.wall_ms),
                percent(frame.utilization),
                frame.recorded.map_or("-".to_owned(), percent),
            ]);
        }
        write!(f, "{table}")
    }

    fn write_passes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.passes.is_empty() {
            return Ok(());
        }
        let by = match self.pass_order {
            PassOrder::Max => "longest run",
            PassOrder::Total => "total time",
        };
        writeln!(f, "\nLongest passes (by {by})")?;
        let mut table = Table::new([
            "pass",
            "runs",
            "total ms",
            "mean ms",
            "p95 ms",
            "max ms",
            "slowest frame",
        ]);
        for pass in &self.passes {
            table.row([
                pass.name.to_string(),
                pass.count.to_string(),
                ms(pass.total_ms),
                ms(pass.mean_ms),
                ms(pass.p95_ms),
                ms(pass.max_ms),
                pass.slowest_frame.to_string(),
            ]);
        }
        write!(f, "{table}")
    }

    fn write_idle(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = &self.idle;
        if idle.workers.is_empty() {
            return Ok(());
        }
        writeln!(f, "\nIdle gaps per worker (over the window)")?;
        let window_ms = self.utilization.window_ms;
        let mut table = Table::new([
            "worker", "idle ms", "idle", "gaps", "p50 us", "p95 us", "max us",
        ]);
        for worker in &idle.workers {
            let lengths = worker.lengths_us;
            let figure =
                |f: fn(&Summary) -> f64| lengths.as_ref().map_or("-".to_owned(), |s| us(f(s)));
            table.row([
                worker.worker.clone(),
                ms(worker.idle_ms),
                percent(if window_ms > 0.0 {
                    worker.idle_ms / window_ms
                } else {
                    0.0
                }),
                worker.gaps.to_string(),
                figure(|s| s.p50),
                figure(|s| s.p95),
                figure(|s| s.max),
            ]);
        }
        write!(f, "{table}")?;
        if !idle.longest.is_empty() {
            writeln!(f, "\nLongest {} gaps", idle.longest.len())?;
            let mut table = Table::new(["worker", "from ms", "to ms", "length us", "frames"]);
            for gap in &idle.longest {
                table.row([
                    gap.worker.clone(),
                    ms(to_millis(gap.time.start)),
                    ms(to_millis(gap.time.end)),
                    us(gap.us),
                    frames_list(&gap.frames),
                ]);
            }
            write!(f, "{table}")?;
        }
        if idle.lengths_us.is_some() {
            writeln!(f, "\nGap lengths, all workers")?;
            let mut table = Table::new(["length", "gaps", "total ms"]);
            for bucket in &idle.histogram {
                table.row([
                    bucket.label.clone(),
                    bucket.gaps.to_string(),
                    ms(bucket.total_ms),
                ]);
            }
            write!(f, "{table}")?;
        }
        Ok(())
    }

    fn write_critical_paths(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for LabelledPath { label, path } in &self.critical_paths {
            writeln!(
                f,
                "\nCritical path of the {label} (frame {}, wall {} ms)",
                path.frame,
                ms(path.frame_wall_ms)
            )?;
            let mut table = Table::new([
                "pass",
                "start ms",
                "duration ms",
                "wait before ms",
                "also after (previous frame)",
            ]);
            for step in &path.steps {
                table.row([
                    step.pass.to_string(),
                    ms(to_millis(step.time.start)),
                    ms(step.duration_ms),
                    ms(step.wait_before_ms),
                    step.after_previous.join(", "),
                ]);
            }
            write!(f, "{table}")?;
            let share = if path.frame_wall_ms > 0.0 {
                path.length_ms() / path.frame_wall_ms
            } else {
                0.0
            };
            writeln!(
                f,
                "  chain {} ms of passes + {} ms waiting = {} ms, {} of the frame's wall time \
                 (it began {} ms into the frame)",
                ms(path.busy_ms),
                ms(path.waiting_ms),
                ms(path.length_ms()),
                percent(share),
                ms(path.lead_in_ms)
            )?;
            let mine = path.passes().join(" -> ");
            writeln!(f, "  from the pass events:  {mine}")?;
            if let Some(recorded) = &path.recorded {
                let theirs = recorded.join(" -> ");
                let verdict = if theirs == mine { "same" } else { "differs" };
                writeln!(f, "  the frame graph's own: {theirs}  ({verdict})")?;
            }
        }
        Ok(())
    }

    fn write_events(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.counters.is_empty() {
            writeln!(f, "\nCounters (mean of samples)")?;
            let mut table = Table::new(["counter", "series", "samples", "mean", "min", "max"]);
            for counter in &self.counters {
                let v = counter.values;
                table.row([
                    counter.name.clone(),
                    counter.series.clone(),
                    v.count.to_string(),
                    format!("{:.2}", v.mean),
                    format!("{:.2}", v.min),
                    format!("{:.2}", v.max),
                ]);
            }
            write!(f, "{table}")?;
        }
        if !self.instants.is_empty() {
            writeln!(f, "\nInstant events")?;
            let mut table = Table::new(["event", "count", "first at ms"]);
            for instant in &self.instants {
                table.row([
                    instant.name.clone(),
                    instant.count.to_string(),
                    ms(instant.first_ms),
                ]);
            }
            write!(f, "{table}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.contents;
        writeln!(
            f,
            "{} workers, {} other lanes, {} spans ({} dropped), {} frames, {} pass runs, window {} ms",
            c.workers,
            c.other_lanes,
            c.spans,
            c.dropped_spans,
            c.frames,
            c.passes,
            ms(to_millis(c.window.len()))
        )?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        writeln!(f)?;
        self.write_utilization(f)?;
        self.write_frames(f)?;
        self.write_passes(f)?;
        self.write_idle(f)?;
        self.write_critical_paths(f)?;
        self.write_events(f)?;
        if !self.pictures.is_empty() {
            writeln!(f, "\nPictures")?;
            for picture in &self.pictures {
                writeln!(f, "  {:<12} {}", picture.what, picture.path.display())?;
            }
        }
        Ok(())
    }
}

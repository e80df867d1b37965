//! The whole report: every analysis of a trace, as data (for `--json`) and as aligned text.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::completion_chain::{completion_chain, CompletionChain};
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
    /// The frames the per-frame figures, passes and completion chains are about (all when
    /// `None`).
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
    /// The completion chains of the slowest frame and of the median frame.
    pub completion_chains: Vec<LabelledChain>,
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

/// A completion chain and which frame it is for (`"slowest frame"`, `"median frame"`).
///
/// ```
/// # let trace = tools::Trace::from_json(r#"{"traceEvents":[]}"#)?;
/// let report = tools::Report::build(&trace, &Default::default());
/// assert!(report.completion_chains.is_empty());
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct LabelledChain {
    /// Which frame this is.
    pub label: String,
    /// Its completion chain.
    pub chain: CompletionChain,
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
        let completion_chains = completion_chains(trace, &per_frame);
        let has_graph = trace
            .meta
            .as_ref()
            .is_some_and(|meta| !meta.graph.is_empty());
        if !has_graph {
            notes.push("no \"graph\" in the jobs metadata: completion chains skipped".to_owned());
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
            completion_chains,
            counters: counters(trace),
            instants: instants(trace),
            notes,
            pictures: Vec::new(),
        }
    }
}

/// The completion chains of the slowest and the median frame (by wall time).
fn completion_chains(trace: &Trace, frames: &[FrameUtilization]) -> Vec<LabelledChain> {
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
            Some(LabelledChain {
                label: label.to_owned(),
                chain: completion_chain(trace, frame)?,
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

/// One kind of table in the text report, as data: [`SECTIONS`] lists them in the order they
/// are printed. Each table is a blank line, its heading, the aligned table, then its lines.
struct Section {
    /// One heading per table of this kind the report has (none: the section is left out).
    /// `rows` and `lines` get the table's index among them.
    headings: fn(&Report) -> Vec<String>,
    /// The column headers.
    columns: &'static [&'static str],
    /// The rows of table `i`.
    rows: fn(&Report, usize) -> Vec<Vec<String>>,
    /// The lines printed after table `i`.
    lines: fn(&Report, usize) -> Vec<String>,
}

/// A single heading when `present`, none otherwise.
fn heading_if(present: bool, heading: impl FnOnce() -> String) -> Vec<String> {
    if present {
        vec![heading()]
    } else {
        Vec::new()
    }
}

fn no_lines(_: &Report, _: usize) -> Vec<String> {
    Vec::new()
}

/// The sections of the text report, in order.
const SECTIONS: &[Section] = &[
    Section {
        headings: |r| {
            let window = ms(r.utilization.window_ms);
            vec![format!("Utilization over the window ({window} ms)")]
        },
        columns: &[
            "lane",
            "kind",
            "spans",
            "busy ms",
            "busy",
            "job system busy ms",
        ],
        rows: |r, _| {
            let u = &r.utilization;
            let ran_jobs = u.other_lanes.iter().filter(|lane| lane.spans > 0);
            (u.workers.iter().chain(ran_jobs))
                .map(|lane| {
                    vec![
                        lane.name.clone(),
                        lane.kind.as_str().to_owned(),
                        lane.spans.to_string(),
                        ms(lane.busy_ms),
                        percent(lane.utilization),
                        lane.job_system_busy_ms.map_or("-".to_owned(), ms),
                    ]
                })
                .collect()
        },
        lines: |r, _| {
            let u = &r.utilization;
            let mut lines = Vec::new();
            let idle_lanes = u.other_lanes.iter().filter(|lane| lane.spans == 0).count();
            if idle_lanes > 0 {
                lines.push(format!("  ({idle_lanes} other lanes ran no job)"));
            }
            let theirs = match (u.job_system, u.difference_pp) {
                (Some(theirs), Some(pp)) => format!(
                    "   job system's own  {}   spans minus job system  {}",
                    percent(theirs),
                    points(pp)
                ),
                _ => "   (no job system figure in the trace)".to_owned(),
            };
            lines.push(format!("  workers overall  {}{theirs}", percent(u.overall)));
            lines
        },
    },
    Section {
        headings: |r| {
            let range =
                (r.frame_range).map_or_else(String::new, |range| format!(", frames {range}"));
            let frames = r.frames.as_ref();
            frames.map_or_else(Vec::new, |frames| {
                vec![format!("Frames ({} frames{range})", frames.frames)]
            })
        },
        columns: &["", "mean", "min", "p50", "p95", "max"],
        rows: |r, _| {
            let Some(frames) = &r.frames else {
                return Vec::new();
            };
            let (u, w) = (frames.utilization, frames.wall_ms);
            vec![
                [u.mean, u.min, u.p50, u.p95, u.max].map(percent).to_vec(),
                [w.mean, w.min, w.p50, w.p95, w.max].map(ms).to_vec(),
            ]
            .into_iter()
            .zip(["utilization", "wall time ms"])
            .map(|(figures, name)| std::iter::once(name.to_owned()).chain(figures).collect())
            .collect()
        },
        lines: |r, _| {
            let recorded = r
                .frames
                .as_ref()
                .map(|f| (f.recorded_mean, f.difference_pp));
            match recorded {
                Some((Some(theirs), Some(pp))) => vec![format!(
                    "  the frame graph's own mean  {}   spans minus frame graph  {}",
                    percent(theirs),
                    points(pp)
                )],
                _ => Vec::new(),
            }
        },
    },
    Section {
        headings: |r| {
            let frames = r.frames.as_ref();
            frames.map_or_else(Vec::new, |f| {
                vec![format!("Worst {} frames by utilization", f.worst.len())]
            })
        },
        columns: &[
            "frame",
            "start ms",
            "wall ms",
            "utilization",
            "frame graph's",
        ],
        rows: |r, _| {
            let worst = r.frames.iter().flat_map(|frames| &frames.worst);
            worst
                .map(|frame| {
                    vec![
                        frame.frame.to_string(),
                        ms(to_millis(frame.time.start)),
                        ms(frame.wall_ms),
                        percent(frame.utilization),
                        frame.recorded.map_or("-".to_owned(), percent),
                    ]
                })
                .collect()
        },
        lines: no_lines,
    },
    Section {
        headings: |r| {
            let by = match r.pass_order {
                PassOrder::Max => "longest run",
                PassOrder::Total => "total time",
            };
            heading_if(!r.passes.is_empty(), || format!("Longest passes (by {by})"))
        },
        columns: &[
            "pass",
            "runs",
            "total ms",
            "mean ms",
            "p95 ms",
            "max ms",
            "slowest frame",
        ],
        rows: |r, _| {
            (r.passes.iter())
                .map(|pass| {
                    vec![
                        pass.name.to_string(),
                        pass.count.to_string(),
                        ms(pass.total_ms),
                        ms(pass.mean_ms),
                        ms(pass.p95_ms),
                        ms(pass.max_ms),
                        pass.slowest_frame.to_string(),
                    ]
                })
                .collect()
        },
        lines: no_lines,
    },
    Section {
        headings: |r| {
            let present = !r.idle.workers.is_empty();
            heading_if(present, || {
                "Idle gaps per worker (over the window)".to_owned()
            })
        },
        columns: &[
            "worker", "idle ms", "idle", "gaps", "p50 us", "p95 us", "max us",
        ],
        rows: |r, _| {
            let window_ms = r.utilization.window_ms;
            (r.idle.workers.iter())
                .map(|worker| {
                    let lengths = worker.lengths_us;
                    let figure = |f: fn(&Summary) -> f64| {
                        lengths.as_ref().map_or("-".to_owned(), |s| us(f(s)))
                    };
                    let idle = if window_ms > 0.0 {
                        worker.idle_ms / window_ms
                    } else {
                        0.0
                    };
                    vec![
                        worker.worker.clone(),
                        ms(worker.idle_ms),
                        percent(idle),
                        worker.gaps.to_string(),
                        figure(|s| s.p50),
                        figure(|s| s.p95),
                        figure(|s| s.max),
                    ]
                })
                .collect()
        },
        lines: no_lines,
    },
    Section {
        headings: |r| {
            let (workers, longest) = (&r.idle.workers, &r.idle.longest);
            let present = !workers.is_empty() && !longest.is_empty();
            heading_if(present, || format!("Longest {} gaps", longest.len()))
        },
        columns: &["worker", "from ms", "to ms", "length us", "frames"],
        rows: |r, _| {
            (r.idle.longest.iter())
                .map(|gap| {
                    vec![
                        gap.worker.clone(),
                        ms(to_millis(gap.time.start)),
                        ms(to_millis(gap.time.end)),
                        us(gap.us),
                        frames_list(&gap.frames),
                    ]
                })
                .collect()
        },
        lines: no_lines,
    },
    Section {
        headings: |r| {
            let present = !r.idle.workers.is_empty() && r.idle.lengths_us.is_some();
            heading_if(present, || "Gap lengths, all workers".to_owned())
        },
        columns: &["length", "gaps", "total ms"],
        rows: |r, _| {
            (r.idle.histogram.iter())
                .map(|bucket| {
                    vec![
                        bucket.label.clone(),
                        bucket.gaps.to_string(),
                        ms(bucket.total_ms),
                    ]
                })
                .collect()
        },
        lines: no_lines,
    },
    Section {
        headings: |r| {
            (r.completion_chains.iter())
                .map(|LabelledChain { label, chain }| {
                    let (frame, wall) = (chain.frame, ms(chain.frame_wall_ms));
                    format!("Completion chain of the {label} (frame {frame}, wall {wall} ms)")
                })
                .collect()
        },
        columns: &[
            "pass",
            "start ms",
            "duration ms",
            "wait before ms",
            "also after (previous frame)",
        ],
        rows: |r, i| {
            (r.completion_chains[i].chain.steps.iter())
                .map(|step| {
                    vec![
                        step.pass.to_string(),
                        ms(to_millis(step.time.start)),
                        ms(step.duration_ms),
                        ms(step.wait_before_ms),
                        step.after_previous.join(", "),
                    ]
                })
                .collect()
        },
        lines: |r, i| {
            let chain = &r.completion_chains[i].chain;
            let share = if chain.frame_wall_ms > 0.0 {
                chain.length_ms() / chain.frame_wall_ms
            } else {
                0.0
            };
            let mine = chain.passes().join(" -> ");
            let mut lines = vec![
                format!(
                    "  chain {} ms of passes + {} ms waiting = {} ms, {} of the frame's wall time \
                     (it began {} ms into the frame)",
                    ms(chain.busy_ms),
                    ms(chain.waiting_ms),
                    ms(chain.length_ms()),
                    percent(share),
                    ms(chain.lead_in_ms)
                ),
                format!("  from the pass events:  {mine}"),
            ];
            if let Some(critical) = &chain.critical_path {
                let theirs = critical.join(" -> ");
                let verdict = if theirs == mine { "same" } else { "differs" };
                lines.push(format!(
                    "  the frame graph's critical path (longest summed durations): {theirs}  \
                     ({verdict})"
                ));
            }
            lines
        },
    },
    Section {
        headings: |r| {
            heading_if(!r.counters.is_empty(), || {
                "Counters (mean of samples)".to_owned()
            })
        },
        columns: &["counter", "series", "samples", "mean", "min", "max"],
        rows: |r, _| {
            (r.counters.iter())
                .map(|counter| {
                    let v = counter.values;
                    vec![
                        counter.name.clone(),
                        counter.series.clone(),
                        v.count.to_string(),
                        format!("{:.2}", v.mean),
                        format!("{:.2}", v.min),
                        format!("{:.2}", v.max),
                    ]
                })
                .collect()
        },
        lines: no_lines,
    },
    Section {
        headings: |r| heading_if(!r.instants.is_empty(), || "Instant events".to_owned()),
        columns: &["event", "count", "first at ms"],
        rows: |r, _| {
            (r.instants.iter())
                .map(|instant| {
                    vec![
                        instant.name.clone(),
                        instant.count.to_string(),
                        ms(instant.first_ms),
                    ]
                })
                .collect()
        },
        lines: no_lines,
    },
];

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
        for section in SECTIONS {
            for (i, heading) in (section.headings)(self).into_iter().enumerate() {
                writeln!(f, "\n{heading}")?;
                let mut table = Table::new(section.columns.iter().copied());
                for row in (section.rows)(self, i) {
                    table.row(row);
                }
                write!(f, "{table}")?;
                for line in (section.lines)(self, i) {
                    writeln!(f, "{line}")?;
                }
            }
        }
        if !self.pictures.is_empty() {
            writeln!(f, "\nPictures")?;
            for picture in &self.pictures {
                writeln!(f, "  {:<12} {}", picture.what, picture.path.display())?;
            }
        }
        Ok(())
    }
}

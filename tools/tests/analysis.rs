//! The analyses on a hand-made trace whose figures are worked out by hand
//! (`tests/data/two_frames.json`):
//!
//! ```text
//! time (us)  0    100   200   300   400   500   600   700   800   900   1000
//! worker 0   [a  ][b (b nested) ]  [d     ][a][c   ]        [d   ]
//! worker 1 x][   ][c            ]      [b                  ]  [y ....(past the window)
//! frame 1    [0 ........................ 600]
//! frame 2                     [400 ............................. 1000]
//! ```
//! Worker 0 is busy 0-300, 350-550, 560-700, 910-1000 (730 us); worker 1 0-20 (a span from
//! before the window), 100-340, 560-900, 950-1000 (650 us).

mod common;

use common::fixture;
use tools::busy::Busy;
use tools::completion_chain::completion_chain;
use tools::frames::{frame_utilization, FrameSummary};
use tools::gaps::idle_gaps;
use tools::passes::{pass_durations, PassOrder};
use tools::utilization::utilization;
use tools::{Interval, Report, ReportOptions};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn nested_spans_count_once_and_spans_are_clipped_to_the_window() {
    let trace = fixture("two_frames.json");
    let u = utilization(&trace);
    let busy: Vec<f64> = u.workers.iter().map(|w| w.busy_ms).collect();
    // Worker 0's nested span adds nothing; worker 1's spans before and after the window count
    // only inside it.
    assert_eq!(busy, [0.73, 0.65]);
    assert!(close(u.workers[0].utilization, 0.73));
    assert!(close(u.overall, (730.0 + 650.0) / 2000.0));
    // The main thread is reported apart and does not count.
    assert_eq!(
        u.other_lanes
            .iter()
            .map(|l| (l.name.as_str(), l.busy_ms))
            .collect::<Vec<_>>(),
        [("main", 0.1), ("io 0", 0.0)]
    );
    assert!(close(u.other_lanes[0].utilization, 0.1));
}

#[test]
fn utilization_is_compared_with_the_job_systems_own() {
    let u = utilization(&fixture("two_frames.json"));
    assert_eq!(u.job_system, Some(0.70));
    assert!(
        close(u.difference_pp.unwrap(), -1.0),
        "{:?}",
        u.difference_pp
    );
    assert_eq!(u.workers[1].job_system_busy_ms, Some(0.65));
}

#[test]
fn gaps_between_spans_are_idle_time() {
    let trace = fixture("two_frames.json");
    let worker1 = Busy::of(&trace.lanes[1].spans);
    assert_eq!(
        worker1.gaps(trace.window),
        [
            Interval::new(20_000, 100_000),
            Interval::new(340_000, 560_000),
            Interval::new(900_000, 950_000)
        ]
    );
    // Back-to-back spans (a then b on worker 0) leave no gap.
    let worker0 = Busy::of(&trace.lanes[0].spans);
    assert_eq!(worker0.intervals()[0], Interval::new(0, 300_000));
}

#[test]
fn per_frame_utilization_counts_every_workers_spans_in_the_frames_window() {
    let trace = fixture("two_frames.json");
    let frames = frame_utilization(&trace, &trace.frames);
    // Frame 1 (0-600): worker 0 busy 540, worker 1 300. Frame 2 (400-1000): 380 and 390.
    assert!(close(frames[0].utilization, 840.0 / 1200.0));
    assert!(close(frames[1].utilization, 770.0 / 1200.0));
    assert_eq!((frames[0].wall_ms, frames[1].wall_ms), (0.6, 0.6));
    assert_eq!(
        (frames[0].recorded, frames[1].recorded),
        (Some(0.70), Some(0.64))
    );

    let summary = FrameSummary::of(&frames, 1).unwrap();
    assert!(close(summary.utilization.mean, (840.0 + 770.0) / 2400.0));
    assert!(close(summary.utilization.min, 770.0 / 1200.0));
    assert!(close(summary.utilization.max, 0.7));
    assert_eq!(
        summary.worst.iter().map(|f| f.frame).collect::<Vec<_>>(),
        [2]
    );
    assert!(close(summary.recorded_mean.unwrap(), 0.67));
    assert!(close(
        summary.difference_pp.unwrap(),
        ((840.0 + 770.0) / 2400.0 - 0.67) * 100.0
    ));
}

#[test]
fn the_completion_chain_follows_the_dependency_that_ended_last() {
    let trace = fixture("two_frames.json");
    // Frame 1: d ended last; of its dependencies b (300) and c (340), c ended last; then a.
    let path = completion_chain(&trace, trace.frame(1).unwrap()).unwrap();
    assert_eq!(path.passes(), ["a", "c", "d"]);
    let steps: Vec<(f64, f64)> = path
        .steps
        .iter()
        .map(|s| (s.duration_ms, s.wait_before_ms))
        .collect();
    assert_eq!(steps, [(0.1, 0.0), (0.24, 0.0), (0.15, 0.01)]);
    assert!(close(path.busy_ms, 0.49) && close(path.waiting_ms, 0.01));
    assert!(close(path.length_ms(), 0.5));
    assert_eq!((path.frame_wall_ms, path.lead_in_ms), (0.6, 0.0));
    assert_eq!(
        path.critical_path.as_deref(),
        Some(&["a".to_owned(), "c".to_owned(), "d".to_owned()][..])
    );
    assert_eq!(path.steps[2].after_previous, ["d"]);

    // Frame 2: b (900) beats c (700); it began 100 us after the frame.
    let path = completion_chain(&trace, trace.frame(2).unwrap()).unwrap();
    assert_eq!(path.passes(), ["a", "b", "d"]);
    assert!(close(path.busy_ms, 0.48) && close(path.waiting_ms, 0.02));
    assert_eq!(path.lead_in_ms, 0.1);
}

#[test]
fn no_completion_chain_without_a_graph() {
    let mut trace = fixture("two_frames.json");
    trace.meta.as_mut().unwrap().graph.clear();
    assert!(completion_chain(&trace, &trace.frames[0]).is_none());
    let report = Report::build(&trace, &ReportOptions::default());
    assert!(report.completion_chains.is_empty());
    assert!(report
        .notes
        .iter()
        .any(|n| n.contains("completion chains skipped")));
}

#[test]
fn idle_gaps_per_worker_with_their_frames() {
    let idle = idle_gaps(&fixture("two_frames.json"), 3);
    let totals: Vec<(&str, f64, usize)> = idle
        .workers
        .iter()
        .map(|w| (w.worker.as_str(), w.idle_ms, w.gaps))
        .collect();
    assert_eq!(totals, [("worker 0", 0.27, 3), ("worker 1", 0.35, 3)]);
    let longest: Vec<(&str, Interval, Vec<u64>)> = idle
        .longest
        .iter()
        .map(|g| (g.worker.as_str(), g.time, g.frames.clone()))
        .collect();
    assert_eq!(
        longest,
        [
            ("worker 1", Interval::new(340_000, 560_000), vec![1, 2]),
            ("worker 0", Interval::new(700_000, 910_000), vec![2]),
            ("worker 1", Interval::new(20_000, 100_000), vec![1]),
        ]
    );
    // Gap lengths 10, 50, 50, 80, 210, 220 us.
    let lengths = idle.lengths_us.unwrap();
    assert_eq!(
        (lengths.count, lengths.p50, lengths.p95, lengths.max),
        (6, 50.0, 220.0, 220.0)
    );
    let histogram: Vec<(&str, usize)> = idle
        .histogram
        .iter()
        .map(|b| (b.label.as_str(), b.gaps))
        .collect();
    assert_eq!(
        histogram,
        [
            ("< 1 us", 0),
            ("1-10 us", 0),
            ("10-100 us", 4),
            ("100 us-1 ms", 2),
            ("1-10 ms", 0),
            (">= 10 ms", 0)
        ]
    );
    assert_eq!(idle.workers[0].longest.len(), 3);
}

#[test]
fn passes_are_summed_up_per_name() {
    let trace = fixture("two_frames.json");
    let passes = pass_durations(&trace.passes, PassOrder::Max);
    let figures: Vec<(&str, usize, f64, f64)> = passes
        .iter()
        .map(|p| (&*p.name, p.count, p.max_ms, p.total_ms))
        .collect();
    assert_eq!(
        figures,
        [
            ("b", 2, 0.34, 0.54),
            ("c", 2, 0.24, 0.38),
            ("d", 2, 0.15, 0.24),
            ("a", 2, 0.1, 0.15)
        ]
    );
    assert_eq!(passes[0].slowest_frame, 2);
}

#[test]
fn a_frame_range_limits_the_frame_figures_but_not_the_window() {
    let trace = fixture("two_frames.json");
    let options = ReportOptions {
        frames: Some("2..".parse().unwrap()),
        ..ReportOptions::default()
    };
    let report = Report::build(&trace, &options);
    let frames = report.frames.as_ref().unwrap();
    assert_eq!(frames.frames, 1);
    assert!(close(frames.utilization.mean, 770.0 / 1200.0));
    assert!(report.passes.iter().all(|p| p.count == 1));
    assert!(close(report.utilization.overall, 0.69));
    assert!(report.completion_chains.iter().all(|c| c.chain.frame == 2));
}

#[test]
fn a_trace_without_frames_still_has_window_figures() {
    let trace = fixture("no_metadata.json");
    let report = Report::build(&trace, &ReportOptions::default());
    // Worker 0 busy 10-30 and 40-60, worker 1 20-50, in a 0-60 window.
    assert!(close(report.utilization.overall, 70.0 / 120.0));
    assert!(report.utilization.job_system.is_none());
    assert!(report.frames.is_none());
    assert!(report.completion_chains.is_empty());
    assert_eq!(report.idle.workers[1].idle_ms, 0.03);
    let text = report.to_string();
    assert!(text.contains("no \"jobs\" object"), "{text}");
    assert!(text.contains("workers overall  58.33%"), "{text}");
}

/// The two paths through a frame are different things: the completion chain follows what ended
/// last (waits included), the frame graph's critical path the longest summed durations. Here c
/// waited 2 ms for a worker: it decided when the frame ended, while a -> b is the longer work.
#[test]
fn the_completion_chain_and_the_critical_path_are_told_apart() {
    let trace = tools::Trace::from_json(
        r#"{"traceEvents":[
  {"ph":"b","pid":1,"cat":"frame","name":"frame","id":1,"ts":0.0},
  {"ph":"b","pid":1,"cat":"pass","name":"a","id":1,"ts":0.0},
  {"ph":"e","pid":1,"cat":"pass","name":"a","id":1,"ts":1000.0},
  {"ph":"b","pid":1,"cat":"pass","name":"b","id":1,"ts":1000.0},
  {"ph":"e","pid":1,"cat":"pass","name":"b","id":1,"ts":2000.0},
  {"ph":"b","pid":1,"cat":"pass","name":"c","id":1,"ts":3000.0},
  {"ph":"e","pid":1,"cat":"pass","name":"c","id":1,"ts":3500.0},
  {"ph":"e","pid":1,"cat":"frame","name":"frame","id":1,"ts":3500.0}],
 "jobs":{"format":1,"workers":1,"lanes":[],"window_us":[0.0,3500.0],
  "graph":[{"pass":"a"},{"pass":"b","after":["a"]},{"pass":"c","after":["a"]}],
  "frames":[{"frame":1,"start_us":0.0,"end_us":3500.0,"critical_path":["a","b"]}]}}"#,
    )
    .expect("a valid trace");
    let chain = completion_chain(&trace, &trace.frames[0]).expect("a graph and passes");
    assert_eq!(chain.passes(), ["a", "c"]);
    assert!(close(chain.busy_ms, 1.5) && close(chain.waiting_ms, 2.0));
    assert_eq!(
        chain.critical_path.as_deref(),
        Some(&["a".to_owned(), "b".to_owned()][..])
    );
    let text = Report::build(&trace, &ReportOptions::default()).to_string();
    assert!(text.contains("Completion chain of the slowest frame (frame 1, wall 3.500 ms)"));
    assert!(text.contains("  from the pass events:  a -> c\n"), "{text}");
    assert!(
        text.contains(
            "  the frame graph's critical path (longest summed durations): a -> b  (differs)\n"
        ),
        "{text}"
    );
}

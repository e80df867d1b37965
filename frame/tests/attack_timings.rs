//! An outside tester's attack on the frame statistics since pass timings come from the CPU's
//! time-stamp counter (`jobs::trace::ticks`, turned into nanoseconds when a frame completes),
//! completion times are clamped never to go backwards, a finishing pass starts the passes it
//! readies from its own queue and closure passes take a shorter path.
//!
//! Expected, from the docs of `FrameStats`, `PassTime`, `Frames::epoch` and
//! `Frames::last_completed`, for 1 to 3 workers, 1 to 3 frames in flight, with and without
//! failing passes, and for graphs of 0, 1 and 10 000 passes:
//!
//! - every pass that ran has a start, and `start + duration` lies within the frame's `wall`;
//!   a pass that did not run has no start;
//! - the frame started at `completed - wall` (so `completed >= wall`), and `completed` never
//!   decreases from one frame to the next; `epoch + completed` is not in the future;
//! - the window the stats give a pass contains (within a millisecond of clock conversion) the
//!   window the pass's body measured itself with `Instant`;
//! - the critical path is a chain of valid pass indices no longer than the wall time;
//!   utilization is within 0..=1; a frame ran at least as many jobs as passes;
//! - right after `run_frame` returned frame N with K frames in flight, `last_completed_frame`
//!   is N - K and `last_completed` holds that frame's value; failed frames are marked failed.
//!
//! Every test runs under `common::watchdog`. No duration is asserted.
//!
//! `CARGO_TARGET_DIR=/work/target-attack-children cargo test -p frame --test attack_timings`

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{run_frames, spin, system, watchdog, DT};
use frame::{FrameStats, Frames, FramesConfig, GraphBuilder};

const WATCH: u64 = 300;

/// How far the stats' window of a pass may be from what the pass measured (clock conversion).
const SLACK: Duration = Duration::from_millis(1);

/// (frame, pass) -> (body start, body end), measured by the body itself.
type Measured = Arc<Mutex<HashMap<(u64, String), (Instant, Instant)>>>;

/// Checks one frame's stats against the docs; returns the problems found.
fn check_frame(s: &FrameStats, epoch: Instant, measured: Option<&Measured>) -> Vec<String> {
    let mut problems = Vec::new();
    let n = s.number;
    if s.completed < s.wall {
        problems.push(format!(
            "frame {n}: completed {:?} < wall {:?}: started before the epoch",
            s.completed, s.wall
        ));
    }
    if epoch + s.completed > Instant::now() {
        problems.push(format!("frame {n}: completed in the future"));
    }
    if !(0.0..=1.0).contains(&s.utilization) {
        problems.push(format!("frame {n}: utilization {}", s.utilization));
    }
    let frame_start = epoch + s.completed.saturating_sub(s.wall);
    let mut ran = 0;
    for p in &s.passes {
        let Some(start) = p.start else {
            if p.duration != Duration::ZERO {
                problems.push(format!(
                    "frame {n} pass {}: no start but duration {:?}",
                    p.name, p.duration
                ));
            }
            continue;
        };
        ran += 1;
        if start + p.duration > s.wall {
            problems.push(format!(
                "frame {n} pass {}: start {start:?} + duration {:?} past wall {:?}",
                p.name, p.duration, s.wall
            ));
        }
        if let Some(measured) = measured {
            if let Some(&(body_start, body_end)) =
                measured.lock().unwrap().get(&(n, p.name.to_string()))
            {
                let stats_start = frame_start + start;
                let stats_end = stats_start + p.duration;
                if stats_start > body_start + SLACK || stats_end + SLACK < body_end {
                    problems.push(format!(
                        "frame {n} pass {}: stats window [{:?}, {:?}] from the epoch does not \
                         hold the body's [{:?}, {:?}]",
                        p.name,
                        stats_start - epoch,
                        stats_end - epoch,
                        body_start.saturating_duration_since(epoch),
                        body_end.saturating_duration_since(epoch)
                    ));
                }
            }
        }
    }
    if s.jobs < ran {
        problems.push(format!("frame {n}: {} jobs for {ran} passes run", s.jobs));
    }
    if s.critical_path > s.wall {
        problems.push(format!(
            "frame {n}: critical path {:?} longer than wall {:?}",
            s.critical_path, s.wall
        ));
    }
    if s.critical_passes.iter().any(|&i| i >= s.passes.len()) {
        problems.push(format!("frame {n}: critical pass index out of range"));
    }
    let summed: Duration = s
        .critical_passes
        .iter()
        .map(|&i| s.passes[i.min(s.passes.len() - 1)].duration)
        .sum();
    if !s.critical_passes.is_empty() && summed != s.critical_path {
        problems.push(format!(
            "frame {n}: critical passes sum to {summed:?}, critical path {:?}",
            s.critical_path
        ));
    }
    problems
}

/// Checks the whole history: each frame, and completion times in order.
fn check_history(frames: &Frames, measured: Option<&Measured>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut before: Option<&FrameStats> = None;
    for s in frames.history() {
        problems.extend(check_frame(s, frames.epoch(), measured));
        if let Some(b) = before {
            if s.number != b.number + 1 {
                problems.push(format!("history: frame {} after {}", s.number, b.number));
            }
            if s.completed < b.completed {
                problems.push(format!(
                    "frame {} completed at {:?}, before frame {} at {:?}",
                    s.number, s.completed, b.number, b.completed
                ));
            }
        }
        before = Some(s);
    }
    problems
}

/// A diamond-ish graph of closure passes (some spawning jobs) and a step pass, each measuring
/// its body; `fail` says in which frames the pass "mid" panics.
fn timed_frames(workers: usize, in_flight: usize, fail: fn(u64) -> bool) -> (Frames, Measured) {
    let measured: Measured = Arc::default();
    let mut graph = GraphBuilder::new();
    let a = graph.carried("a", 0u64);
    let b = graph.scratch("b", vec![0u64; 64]);
    let c = graph.scratch("c", 0u64);
    let out = graph.import("out", 0u64);
    let m = measured.clone();
    graph.pass("source", a.write(), move |a, cx| {
        let t0 = Instant::now();
        *a += 1;
        spin(Duration::from_micros(50));
        m.lock()
            .unwrap()
            .insert((cx.frame().number, "source".into()), (t0, Instant::now()));
    });
    let m = measured.clone();
    graph.pass("fan", (a.read(), b.write()), move |(a, b), cx| {
        let t0 = Instant::now();
        let frame = cx.frame().number;
        for (i, x) in b.iter_mut().enumerate() {
            let a = *a;
            cx.spawn(move |_| *x = a + i as u64);
        }
        // The jobs run after the body returns; the pass ends when they have.
        m.lock()
            .unwrap()
            .insert((frame, "fan".into()), (t0, Instant::now()));
    });
    let m = measured.clone();
    graph.pass("mid", (a.read(), c.write()), move |(a, c), cx| {
        let t0 = Instant::now();
        let frame = cx.frame().number;
        *c = *a * 2;
        spin(Duration::from_micros(30));
        m.lock()
            .unwrap()
            .insert((frame, "mid".into()), (t0, Instant::now()));
        assert!(!fail(frame), "mid fails in frame {frame}");
    });
    let m = measured.clone();
    graph
        .pass(
            "sink",
            (b.read(), c.read(), out.write()),
            move |(b, c, out), cx| {
                let t0 = Instant::now();
                *out = b.iter().sum::<u64>() + *c;
                m.lock()
                    .unwrap()
                    .insert((cx.frame().number, "sink".into()), (t0, Instant::now()));
            },
        )
        .side_effect();
    let config = FramesConfig::default().in_flight(in_flight).history(1000);
    let frames = Frames::with_config(system(workers), graph.compile().unwrap(), config).unwrap();
    (frames, measured)
}

#[test]
fn timings_lie_inside_their_frames_and_completions_never_go_back() {
    watchdog(WATCH, || {
        let mut problems = Vec::new();
        for workers in 1..=3 {
            for in_flight in 1..=3 {
                let (mut frames, measured) = timed_frames(workers, in_flight, |_| false);
                let errors = run_frames(&mut frames, 200);
                assert!(errors.is_empty(), "{errors:?}");
                assert_eq!(frames.history().len(), 200);
                for p in check_history(&frames, Some(&measured)) {
                    problems.push(format!("{workers} workers, {in_flight} in flight: {p}"));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "{} problems, first: {:#?}",
            problems.len(),
            &problems[..problems.len().min(8)]
        );
    });
}

#[test]
fn failing_passes_keep_the_stats_sane() {
    watchdog(WATCH, || {
        let mut problems = Vec::new();
        for workers in 1..=3 {
            for in_flight in 1..=3 {
                let (mut frames, measured) = timed_frames(workers, in_flight, |f| f % 3 == 1);
                let errors = run_frames(&mut frames, 90);
                assert_eq!(errors.len(), 30, "one error per failed frame: {errors:?}");
                for s in frames.history() {
                    assert_eq!(
                        s.failed,
                        s.number % 3 == 1,
                        "frame {} failed flag",
                        s.number
                    );
                    if s.failed {
                        let sink = s.passes.iter().find(|p| p.name.as_ref() == "sink").unwrap();
                        assert!(
                            sink.start.is_none(),
                            "frame {}: the skipped sink has a start",
                            s.number
                        );
                    }
                }
                for p in check_history(&frames, Some(&measured)) {
                    problems.push(format!("{workers} workers, {in_flight} in flight: {p}"));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "{} problems, first: {:#?}",
            problems.len(),
            &problems[..problems.len().min(8)]
        );
    });
}

#[test]
fn last_completed_is_n_minus_k_with_that_frames_value() {
    watchdog(WATCH, || {
        for workers in 1..=3 {
            for in_flight in 1..=3 {
                let mut graph = GraphBuilder::new();
                let score = graph.carried("score", 0u64);
                graph.pass("score", score.write(), |score, cx| {
                    *score += 1;
                    if cx.frame().number % 2 == 0 {
                        cx.spawn(|_| spin(Duration::from_micros(20)));
                    }
                });
                let config = FramesConfig::default().in_flight(in_flight);
                let mut frames =
                    Frames::with_config(system(workers), graph.compile().unwrap(), config).unwrap();
                assert_eq!(frames.last_completed_frame(), None);
                for _ in 0..100 {
                    let n = frames.run_frame(DT).unwrap();
                    let expected = n.checked_sub(in_flight as u64);
                    let what = format!("{workers} workers, {in_flight} in flight, frame {n}");
                    assert_eq!(frames.last_completed_frame(), expected, "{what}");
                    let shown = *frames.last_completed(score).unwrap();
                    assert_eq!(shown, expected.map_or(0, |m| m + 1), "{what}");
                    let newest = frames.history().back().map(|s| s.number);
                    assert_eq!(newest, expected, "{what}: the newest stats");
                }
                frames.finish().unwrap();
                assert_eq!(frames.last_completed_frame(), Some(99));
                assert_eq!(*frames.last_completed(score).unwrap(), 100);
                let problems = check_history(&frames, None);
                assert!(problems.is_empty(), "{problems:#?}");
            }
        }
    });
}

#[test]
fn a_graph_of_no_passes() {
    watchdog(WATCH, || {
        for in_flight in 1..=3 {
            let graph = GraphBuilder::new()
                .compile()
                .expect("an empty graph compiles");
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames = Frames::with_config(system(2), graph, config).unwrap();
            let errors = run_frames(&mut frames, 50);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(frames.history().len().min(50), frames.history().len());
            assert_eq!(frames.last_completed_frame(), Some(49));
            for s in frames.history() {
                assert!(s.passes.is_empty());
                assert!(s.critical_passes.is_empty());
                assert_eq!(s.critical_path, Duration::ZERO);
            }
            let problems = check_history(&frames, None);
            assert!(problems.is_empty(), "{problems:#?}");
        }
    });
}

/// 10 000 passes in chains of ten, each writing a scratch value of its own.
fn big_graph() -> frame::Graph {
    let mut graph = GraphBuilder::new();
    let mut previous = None;
    for i in 0..10_000 {
        let r = graph.scratch(&format!("r{i}"), 0u64);
        let id = graph
            .pass(&format!("p{i}"), r.write(), move |r, cx| {
                *r = cx.frame().number + i as u64;
            })
            .side_effect()
            .id();
        // Every tenth pass ordered after the one before: chains of ten.
        if i % 10 != 0 {
            if let Some(p) = previous {
                graph.order(p, id);
            }
        }
        previous = Some(id);
    }
    graph.compile().expect("10 000 passes compile")
}

#[test]
fn a_graph_of_ten_thousand_passes() {
    watchdog(WATCH, || {
        for in_flight in [1, 2] {
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames = Frames::with_config(system(2), big_graph(), config).unwrap();
            let errors = run_frames(&mut frames, 4);
            assert!(errors.is_empty(), "{errors:?}");
            for s in frames.history() {
                assert_eq!(s.passes.len(), 10_000);
                assert!(s.passes.iter().all(|p| p.start.is_some()));
                assert_eq!(
                    s.critical_passes.len(),
                    10,
                    "frame {}: a chain of ten",
                    s.number
                );
            }
            let problems = check_history(&frames, None);
            assert!(
                problems.is_empty(),
                "{} problems, first {:#?}",
                problems.len(),
                &problems[..problems.len().min(8)]
            );
        }
    });
}

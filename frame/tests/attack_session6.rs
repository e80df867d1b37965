//! Session 6 of an outside tester's attack, through the public API only, on two things:
//!
//! - `Frames::history()`, whose statistics are now made after the next frame has started.
//!   Promised (docs of `Frames::history`, `FrameSetup::start`, `FrameStats`): a frame is in the
//!   history once the call that completed it has returned (`run_frame`, `finish`, or
//!   `FrameSetup::start` after `begin_frame`); a frame completed by a `begin_frame` whose setup
//!   is dropped unstarted comes in at the next `begin_frame` or `finish`; a failed frame is
//!   there before `run_frame` / `begin_frame` returns its error; and each `FrameStats` still
//!   describes the completed frame itself (its number, its passes' workers, starts and
//!   durations, skipped passes, failure, completion time, wall time, critical path, the jobs
//!   of its window). Attacked with 1, 2 and 3 frames in flight, random mixes of `run_frame`,
//!   `begin_frame` + `start`, dropped setups and `finish`, failed frames (also consecutive),
//!   histories of 0 and 1 frames, and `GameLoop`.
//! - The cap of Low-priority work (`jobs::Config::low_priority_threads`) under the frame
//!   graph: Low passes fanning out, Low background work spawned by passes, a Low pass on the
//!   main thread while background work holds every slot, passes that wait for Low work, a
//!   main thread that does not help, and `FramesConfig::lowest_to_run(Normal)`.
//!
//! Statistics are checked against what the pass bodies recorded themselves (worker index,
//! `Instant`s): only orderings, with 1 ms of slack for clock rounding, never a duration bound.
//! Every test runs under `common::watchdog`.
//!
//! `cargo test -p frame --release --test attack_session6`

mod common;

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{spin, watchdog, DT};
use frame::{FrameError, FrameStats, Frames, FramesConfig, GameLoop, Graph, GraphBuilder};
use jobs::{Action, Batch, Config, Context, Counter, Grain, Job, JobSystem, Priority};

const WATCH: u64 = 120;

/// Slack for comparing the statistics' times with the `Instant`s the passes recorded.
const SLACK: Duration = Duration::from_millis(1);

fn sys(workers: usize, help: bool, cap: Option<usize>) -> Arc<JobSystem> {
    let mut config = Config::default()
        .workers(workers)
        .core_affinity(false)
        .help_while_waiting(help);
    if let Some(cap) = cap {
        config = config.low_priority_threads(cap);
    }
    Arc::new(JobSystem::new(config).expect("a valid config"))
}

/// What a pass body saw of its own run.
#[derive(Clone, Copy, Debug)]
struct Obs {
    worker: Option<usize>,
    start: Instant,
    end: Instant,
}

type Log = Arc<Mutex<HashMap<(u64, &'static str), Obs>>>;

fn record(log: &Log, frame: u64, pass: &'static str, worker: Option<usize>, start: Instant) {
    let end = Instant::now();
    let previous = log
        .lock()
        .unwrap()
        .insert((frame, pass), Obs { worker, start, end });
    assert!(previous.is_none(), "{pass} ran twice in frame {frame}");
}

/// The graph under observation: `a` -> `b` -> `d` and `c` -> `d`. `b` fans out a batch of
/// `fan(n)` items and panics in the frames of `fails`; `c` runs at `c_priority`; every pass
/// records its run.
struct Observed {
    order: Vec<String>,
    deps: HashMap<String, Vec<String>>,
    log: Log,
    fails: Arc<HashSet<u64>>,
}

fn observed(fails: &[u64], fan: fn(u64) -> usize, c_priority: Priority) -> (Graph, Observed) {
    let log: Log = Arc::default();
    let fails: Arc<HashSet<u64>> = Arc::new(fails.iter().copied().collect());
    let mut graph = GraphBuilder::new();
    let x = graph.scratch("x", 0u64);
    let y = graph.scratch("y", 0u64);
    let z = graph.scratch("z", 0u64);
    let w = graph.scratch("w", 0u64);
    let l = log.clone();
    graph.pass("a", x.write(), move |x, cx| {
        let start = Instant::now();
        let n = cx.frame().number;
        *x = n;
        spin(Duration::from_micros(30));
        record(&l, n, "a", cx.context().worker_index(), start);
    });
    let (l, f) = (log.clone(), fails.clone());
    graph.pass("b", (x.read(), z.write()), move |(x, z), cx| {
        let start = Instant::now();
        let n = cx.frame().number;
        assert_eq!(*x, n, "b reads its own frame's x");
        if f.contains(&n) {
            panic!("planned failure of frame {n}");
        }
        *z = *x + 1;
        let items = fan(n);
        if items > 0 {
            cx.parallel_for(0..items, Grain::fixed(1).expect("a grain"), |i| {
                std::hint::black_box(i);
            });
        }
        record(&l, n, "b", cx.context().worker_index(), start);
    });
    let l = log.clone();
    graph
        .pass("c", y.write(), move |y, cx| {
            let start = Instant::now();
            let n = cx.frame().number;
            *y = 2 * n;
            spin(Duration::from_micros(30));
            record(&l, n, "c", cx.context().worker_index(), start);
        })
        .priority(c_priority);
    let l = log.clone();
    graph
        .pass(
            "d",
            (z.read(), y.read(), w.write()),
            move |(z, y, w), cx| {
                let start = Instant::now();
                let n = cx.frame().number;
                assert_eq!((*z, *y), (n + 1, 2 * n), "d reads its own frame's inputs");
                *w = *z + *y;
                record(&l, n, "d", cx.context().worker_index(), start);
            },
        )
        .side_effect();
    let graph = graph.compile().expect("compiles");
    let order: Vec<String> = graph.order().iter().map(|s| s.to_string()).collect();
    let deps = order
        .iter()
        .map(|p| {
            let d = graph.dependencies(p).expect("a kept pass");
            (p.clone(), d.iter().map(|s| s.to_string()).collect())
        })
        .collect();
    (
        graph,
        Observed {
            order,
            deps,
            log,
            fails,
        },
    )
}

/// Whether `later` depends on `earlier`, directly or through other passes.
fn depends(deps: &HashMap<String, Vec<String>>, later: &str, earlier: &str) -> bool {
    let mut todo = vec![later.to_string()];
    let mut seen = HashSet::new();
    while let Some(p) = todo.pop() {
        for d in deps.get(&p).into_iter().flatten() {
            if d == earlier {
                return true;
            }
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    false
}

/// When the call that started each frame was made, and when the call that completed it
/// returned.
#[derive(Default)]
struct Calls {
    started: HashMap<u64, Instant>,
    completed: HashMap<u64, Instant>,
}

/// Checks one frame's statistics against what its passes recorded; returns the problems.
fn check_stats(s: &FrameStats, o: &Observed, epoch: Instant, calls: &Calls) -> Vec<String> {
    let n = s.number;
    let mut problems = Vec::new();
    let mut problem = |p: String| problems.push(format!("frame {n}: {p}"));
    let failed = o.fails.contains(&n);
    if s.failed != failed {
        problem(format!(
            "failed is {}, the frame {}",
            s.failed,
            if failed { "failed" } else { "did not" }
        ));
    }
    let names: Vec<&str> = s.passes.iter().map(|p| p.name.as_ref()).collect();
    if names != o.order {
        problem(format!(
            "passes {names:?}, the graph's order is {:?}",
            o.order
        ));
        return problems;
    }
    let completed_at = epoch + s.completed;
    let Some(frame_start) = completed_at.checked_sub(s.wall) else {
        problem("wall longer than the time since the epoch".into());
        return problems;
    };
    let log = o.log.lock().unwrap();
    for p in &s.passes {
        let name = p.name.as_ref();
        let skipped = failed && name == "d";
        match (p.start, skipped) {
            (Some(_), true) => problem(format!("{name} has a start but was skipped")),
            (None, false) => problem(format!("{name} has no start but ran")),
            _ => {}
        }
        if skipped || (failed && name == "b") {
            continue;
        }
        let Some(obs) = log.get(&(n, name)) else {
            problem(format!("{name}: no record of its run"));
            continue;
        };
        if p.worker != obs.worker {
            problem(format!(
                "{name} ran on {:?}, the statistics say {:?}",
                obs.worker, p.worker
            ));
        }
        if p.duration + SLACK < obs.end - obs.start {
            problem(format!(
                "{name}: duration {:?} shorter than its body's {:?}",
                p.duration,
                obs.end - obs.start
            ));
        }
        if let Some(start) = p.start {
            if frame_start + start > obs.start + SLACK {
                problem(format!("{name}: started after its body did"));
            }
            if frame_start + start + p.duration + SLACK < obs.end {
                problem(format!("{name}: ended before its body did"));
            }
        }
        if completed_at + SLACK < obs.end {
            problem(format!("completed before {name}'s body ended"));
        }
        if frame_start > obs.start + SLACK {
            problem(format!("started after {name}'s body started"));
        }
    }
    if let Some(&called) = calls.started.get(&n) {
        if frame_start + SLACK < called {
            problem("started before the call that started it".into());
        }
    }
    if let Some(&returned) = calls.completed.get(&n) {
        if completed_at > returned + SLACK {
            problem("completed after the call that completed it returned".into());
        }
    }
    if !(0.0..=1.0).contains(&s.utilization) {
        problem(format!("utilization {}", s.utilization));
    }
    if !failed {
        let on_path: Duration = s
            .critical_passes
            .iter()
            .map(|&i| s.passes[i].duration)
            .sum();
        let diff = on_path.abs_diff(s.critical_path);
        if diff > Duration::from_micros(1) {
            problem(format!(
                "critical path {:?}, its passes sum to {on_path:?}",
                s.critical_path
            ));
        }
        for pair in s.critical_passes.windows(2) {
            let (earlier, later) = (&o.order[pair[0]], &o.order[pair[1]]);
            if !depends(&o.deps, later, earlier) {
                problem(format!(
                    "critical path: {later} does not depend on {earlier}"
                ));
            }
        }
        if s.critical_path > s.wall + SLACK {
            problem("critical path longer than the wall time".into());
        }
        let longest = s
            .passes
            .iter()
            .map(|p| p.duration)
            .max()
            .unwrap_or_default();
        if s.critical_path + Duration::from_micros(1) < longest {
            problem("critical path shorter than its longest pass".into());
        }
    }
    problems
}

/// Frames complete in order: `completed` never decreases along the history.
fn completions_in_order(frames: &Frames) -> Vec<String> {
    let h: Vec<&FrameStats> = frames.history().iter().collect();
    h.windows(2)
        .filter(|w| w[1].completed < w[0].completed)
        .map(|w| {
            format!(
                "frame {} completed before frame {}",
                w[1].number, w[0].number
            )
        })
        .collect()
}

/// Drops a frame's setup unstarted (it starts nothing).
fn abandon(setup: frame::FrameSetup<'_>) {
    let _unstarted = setup;
}

/// The history's frame numbers, oldest first.
fn numbers(frames: &Frames) -> Vec<u64> {
    frames.history().iter().map(|s| s.number).collect()
}

/// The history is consecutive frames.
fn consecutive(frames: &Frames) -> bool {
    numbers(frames).windows(2).all(|w| w[1] == w[0] + 1)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Run,
    BeginStart,
    BeginDrop,
    Finish,
}

/// Drives `frames` through `ops` (cycled) until `count` frames have started, then finishes.
/// After every call, checks the history's promise; records the calls. Returns the problems
/// and the failed frames reported, in order.
fn drive(
    frames: &mut Frames,
    ops: &[Op],
    count: u64,
    calls: &mut Calls,
) -> (Vec<String>, Vec<u64>) {
    let mut problems = Vec::new();
    let mut errors = Vec::new();
    let mut i = 0;
    let mut previous_op = None;
    loop {
        let next = frames.next_frame();
        let op = if next >= count {
            Op::Finish
        } else {
            ops[i % ops.len()]
        };
        i += 1;
        // `run_frame` right after a dropped setup: its own test (not the documented pair).
        let op = if op == Op::Run && previous_op == Some(Op::BeginDrop) {
            Op::BeginStart
        } else {
            op
        };
        let before = frames.last_completed_frame();
        let called = Instant::now();
        let result: Result<(), FrameError> = match op {
            Op::Run => frames.run_frame(DT).map(|_| ()),
            Op::BeginStart => frames
                .begin_frame()
                .and_then(|setup| setup.start(DT).map(|_| ())),
            Op::BeginDrop => frames.begin_frame().map(abandon),
            Op::Finish => frames.finish(),
        };
        let returned = Instant::now();
        let started = frames.next_frame() > next;
        if started {
            calls.started.insert(next, called);
        }
        let after = frames.last_completed_frame();
        let newly = match (before, after) {
            (_, None) => 0..0,
            (None, Some(a)) => 0..a + 1,
            (Some(b), Some(a)) => b + 1..a + 1,
        };
        for f in newly.clone() {
            calls.completed.insert(f, returned);
        }
        let back = frames.history().back().map(|s| s.number);
        let what = format!("{op:?} (frame {next})");
        if !consecutive(frames) {
            problems.push(format!(
                "{what}: history not consecutive: {:?}",
                numbers(frames)
            ));
        }
        // A setup dropped unstarted may leave the frame its `begin_frame` completed out.
        let lag_allowed = op == Op::BeginDrop && !newly.is_empty();
        if !lag_allowed && back != after {
            problems.push(format!(
                "{what}: the newest frame in the history is {back:?}, the newest completed {after:?}"
            ));
        }
        if let Err(error) = result {
            match error {
                FrameError::PassPanicked {
                    frame, ref pass, ..
                } => {
                    errors.push(frame);
                    if pass != "b" {
                        problems.push(format!("{what}: failed pass {pass}"));
                    }
                    let there = frames.history().iter().find(|s| s.number == frame);
                    if !there.is_some_and(|s| s.failed) {
                        problems.push(format!(
                            "{what}: failed frame {frame} not in the history as failed when its \
                             error returned (history {:?})",
                            numbers(frames)
                        ));
                    }
                }
                other => problems.push(format!("{what}: unexpected error {other}")),
            }
        }
        previous_op = Some(op);
        if op == Op::Finish && frames.next_frame() >= count {
            break;
        }
    }
    (problems, errors)
}

const OPS: [&[Op]; 4] = [
    &[Op::Run],
    &[Op::BeginStart],
    &[
        Op::Run,
        Op::BeginDrop,
        Op::BeginStart,
        Op::Run,
        Op::BeginDrop,
        Op::BeginDrop,
    ],
    &[
        Op::BeginDrop,
        Op::Run,
        Op::Finish,
        Op::BeginStart,
        Op::BeginDrop,
        Op::Finish,
        Op::Run,
    ],
];

fn no_fan(_: u64) -> usize {
    0
}

fn some_fan(n: u64) -> usize {
    if n % 3 == 1 {
        300
    } else {
        0
    }
}

/// Every way of starting and completing frames, with 1, 2 and 3 in flight: after each call the
/// history has every completed frame (but the one a dropped setup's `begin_frame` completed),
/// consecutive, and each frame's statistics describe that frame.
#[test]
fn history_follows_every_call_and_describes_each_frame() {
    watchdog(WATCH, || {
        for in_flight in 1..=3 {
            for (k, ops) in OPS.iter().enumerate() {
                let system = sys(2, true, None);
                let (graph, o) = observed(&[], some_fan, Priority::Normal);
                let config = FramesConfig::default().in_flight(in_flight).history(1000);
                let mut frames = Frames::with_config(system, graph, config).expect("valid");
                let mut calls = Calls::default();
                let (mut problems, errors) = drive(&mut frames, ops, 40, &mut calls);
                assert!(errors.is_empty(), "{errors:?}");
                assert_eq!(numbers(&frames), (0..40).collect::<Vec<_>>());
                problems.extend(completions_in_order(&frames));
                for s in frames.history() {
                    problems.extend(check_stats(s, &o, frames.epoch(), &calls));
                }
                assert!(
                    problems.is_empty(),
                    "{in_flight} in flight, ops {k}: {} problems, first: {:#?}",
                    problems.len(),
                    &problems[..problems.len().min(8)]
                );
            }
        }
    });
}

/// Failed frames (one alone, two in a row, the last one) with 1, 2 and 3 in flight and every
/// way of driving: each is in the history, as failed, before its error returns; its statistics
/// are its own (its skipped pass has no start); the frames around it are complete.
#[test]
fn a_failed_frame_is_in_the_history_before_its_error_returns() {
    watchdog(WATCH, || {
        let fails = [2, 7, 8, 15, 23];
        for in_flight in 1..=3 {
            for (k, ops) in OPS.iter().enumerate() {
                let system = sys(2, true, None);
                let (graph, o) = observed(&fails, some_fan, Priority::Normal);
                let config = FramesConfig::default().in_flight(in_flight).history(1000);
                let mut frames = Frames::with_config(system, graph, config).expect("valid");
                let mut calls = Calls::default();
                let (mut problems, errors) = drive(&mut frames, ops, 24, &mut calls);
                assert_eq!(numbers(&frames), (0..24).collect::<Vec<_>>());
                let failed: Vec<u64> = frames
                    .history()
                    .iter()
                    .filter(|s| s.failed)
                    .map(|s| s.number)
                    .collect();
                assert_eq!(failed, fails, "{in_flight} in flight, ops {k}");
                // Every failure is reported once, but `finish` reports only the first of those
                // it completes.
                for e in &errors {
                    assert!(fails.contains(e), "{e} reported as failed");
                }
                problems.extend(completions_in_order(&frames));
                for s in frames.history() {
                    problems.extend(check_stats(s, &o, frames.epoch(), &calls));
                }
                assert!(
                    problems.is_empty(),
                    "{in_flight} in flight, ops {k}: {} problems, first: {:#?}",
                    problems.len(),
                    &problems[..problems.len().min(8)]
                );
            }
        }
    });
}

/// A frame completed by a `begin_frame` whose setup is dropped comes in at the next
/// `begin_frame` (also dropped), or at `finish`; dropped setups before any frame completed, and
/// many in a row, change nothing.
#[test]
fn a_dropped_setups_frame_comes_in_at_the_next_begin_frame_or_finish() {
    watchdog(WATCH, || {
        for in_flight in 1..=3u64 {
            let system = sys(2, true, None);
            let (graph, o) = observed(&[], no_fan, Priority::Normal);
            let config = FramesConfig::default()
                .in_flight(in_flight as usize)
                .history(100);
            let mut frames = Frames::with_config(system, graph, config).expect("ok");
            for _ in 0..5 {
                abandon(frames.begin_frame().expect("room"));
            }
            assert!(frames.history().is_empty());
            assert_eq!(frames.next_frame(), 0);
            for _ in 0..in_flight + 2 {
                frames.run_frame(DT).expect("ok");
            }
            let completed = frames.last_completed_frame();
            assert_eq!(
                completed,
                Some(1),
                "{in_flight}: K + 2 frames started, 2 completed"
            );
            // Completes frame 2; its statistics may wait.
            abandon(frames.begin_frame().expect("room"));
            assert_eq!(frames.last_completed_frame(), Some(2));
            // The next begin_frame brings it in, even dropped.
            abandon(frames.begin_frame().expect("room"));
            assert_eq!(
                numbers(&frames),
                vec![0, 1, 2],
                "{in_flight} in flight: the dropped setup's frame after the next begin_frame"
            );
            for _ in 0..10 {
                abandon(frames.begin_frame().expect("room"));
            }
            assert_eq!(numbers(&frames), vec![0, 1, 2]);
            // And at finish.
            let mut setup = frames.begin_frame().expect("room");
            setup.simulate(true);
            setup.start(DT).expect("ok");
            abandon(frames.begin_frame().expect("room"));
            frames.finish().expect("ok");
            let all: Vec<u64> = (0..frames.next_frame()).collect();
            assert_eq!(numbers(&frames), all, "{in_flight} in flight: after finish");
            let calls = Calls::default();
            for s in frames.history() {
                let problems = check_stats(s, &o, frames.epoch(), &calls);
                assert!(problems.is_empty(), "{problems:#?}");
            }
        }
    });
}

/// `run_frame` right after a setup dropped unstarted: `run_frame` begins a frame as
/// `begin_frame` does, so the dropped setup's frame should be in the history when it returns
/// (the docs name `begin_frame` and `finish`; `run_frame` is `begin_frame` + `start`).
#[test]
fn a_dropped_setups_frame_is_in_the_history_after_the_next_run_frame() {
    watchdog(WATCH, || {
        for in_flight in 1..=3u64 {
            let system = sys(2, true, None);
            let (graph, _) = observed(&[], no_fan, Priority::Normal);
            let config = FramesConfig::default()
                .in_flight(in_flight as usize)
                .history(100);
            let mut frames = Frames::with_config(system, graph, config).expect("ok");
            for _ in 0..in_flight + 1 {
                frames.run_frame(DT).expect("ok");
            }
            abandon(frames.begin_frame().expect("room"));
            let newest = frames.last_completed_frame();
            frames.run_frame(DT).expect("ok");
            let back = frames.history().back().map(|s| s.number);
            assert_eq!(
                back,
                frames.last_completed_frame(),
                "{in_flight} in flight: history {:?} after run_frame (newest completed before \
                 it: {newest:?})",
                numbers(&frames)
            );
        }
    });
}

/// A graph with an imported counter and a per-frame input, for the calls that wait for the
/// frames in flight.
fn counting_graph() -> (Graph, frame::Res<u64>, frame::Res<u64>) {
    let mut graph = GraphBuilder::new();
    let total = graph.import("total", 0u64);
    let input = graph.scratch("input", 0u64);
    graph.pass("add", (input.read(), total.write()), |(input, total), _| {
        *total += *input;
        spin(Duration::from_micros(50));
    });
    (graph.compile().expect("compiles"), total, input)
}

/// The documented calls around a setup that waits for every frame in flight
/// (`FrameSetup::resource_mut`): after `start` returns, the history has every completed
/// frame; after such a setup is dropped, the next `begin_frame` brings its frames in.
#[test]
fn history_after_a_setup_that_waited_for_every_frame() {
    watchdog(WATCH, || {
        for in_flight in 1..=3 {
            let (graph, total, input) = counting_graph();
            let config = FramesConfig::default().in_flight(in_flight).history(100);
            let mut frames = Frames::with_config(sys(2, true, None), graph, config).expect("ok");
            for _ in 0..5 {
                let mut setup = frames.begin_frame().expect("ok");
                *setup.per_frame_mut(input).expect("scratch") = 1;
                setup.start(DT).expect("ok");
            }
            let mut setup = frames.begin_frame().expect("ok");
            *setup.resource_mut(total).expect("waits for the frames") += 100;
            *setup.per_frame_mut(input).expect("scratch") = 1;
            setup.start(DT).expect("ok");
            assert_eq!(frames.last_completed_frame(), Some(4), "{in_flight}");
            assert_eq!(
                numbers(&frames),
                (0..5).collect::<Vec<_>>(),
                "{in_flight}: after start"
            );
            let mut setup = frames.begin_frame().expect("ok");
            *setup.per_frame_mut(input).expect("scratch") = 0;
            setup.start(DT).expect("ok");
            let mut setup = frames.begin_frame().expect("ok");
            *setup.resource_mut(total).expect("waits for the frames") += 100;
            abandon(setup);
            abandon(frames.begin_frame().expect("ok"));
            assert_eq!(
                numbers(&frames),
                (0..7).collect::<Vec<_>>(),
                "{in_flight}: after a dropped setup that waited, and the next begin_frame"
            );
            frames.finish().expect("ok");
            assert_eq!(*frames.resource(total).expect("ok"), 206);
        }
    });
}

/// The other calls that complete the frames in flight (`resource`, `resource_mut`,
/// `rewrite`): whether the history has the frames they completed once they return. The docs
/// list only `run_frame`, `finish` and `FrameSetup::start`; this asks whether the history also
/// follows these (a UI reading `resource` then `history`).
#[test]
fn history_after_resource_and_rewrite() {
    watchdog(WATCH, || {
        let mut seen = Vec::new();
        for in_flight in 1..=3 {
            let (graph, total, input) = counting_graph();
            let config = FramesConfig::default().in_flight(in_flight).history(100);
            let mut frames = Frames::with_config(sys(2, true, None), graph, config).expect("ok");
            for (call, name) in [(0, "resource"), (1, "resource_mut"), (2, "rewrite")] {
                for _ in 0..4 {
                    let mut setup = frames.begin_frame().expect("ok");
                    *setup.per_frame_mut(input).expect("scratch") = 1;
                    setup.start(DT).expect("ok");
                }
                match call {
                    0 => {
                        frames.resource(total).expect("ok");
                    }
                    1 => {
                        *frames.resource_mut(total).expect("ok") += 0;
                    }
                    _ => {
                        let value = *frames.resource(total).expect("ok");
                        frames.rewrite(total, value).expect("ok");
                    }
                }
                seen.push((
                    in_flight,
                    name,
                    frames.history().back().map(|s| s.number),
                    frames.last_completed_frame(),
                ));
            }
        }
        assert!(
            seen.iter().all(|&(_, _, back, newest)| back == newest),
            "(in flight, call, newest in history, newest completed): {seen:?}"
        );
    });
}

/// Histories of 0 and 1 frames, and a history shorter than the frames in flight: the newest
/// completed frame is always the one kept.
#[test]
fn short_histories_keep_the_newest_completed_frame() {
    watchdog(WATCH, || {
        for in_flight in 1..=3 {
            for keep in [0, 1, 2] {
                let system = sys(2, true, None);
                let (graph, _) = observed(&[4], some_fan, Priority::Normal);
                let config = FramesConfig::default().in_flight(in_flight).history(keep);
                let mut frames = Frames::with_config(system, graph, config).expect("valid");
                while frames.next_frame() < 12 {
                    let result = frames.run_frame(DT);
                    assert!(frames.history().len() <= keep);
                    if keep > 0 {
                        assert_eq!(
                            frames.history().back().map(|s| s.number),
                            frames.last_completed_frame(),
                            "{in_flight} in flight, history({keep})"
                        );
                    }
                    if let Err(FrameError::PassPanicked { frame, .. }) = result {
                        if keep > 0 {
                            assert!(
                                frames
                                    .history()
                                    .iter()
                                    .any(|s| s.number == frame && s.failed),
                                "history({keep}): failed frame {frame} missing"
                            );
                        }
                    }
                }
                let _ = frames.finish();
                let kept: Vec<u64> = (12 - keep as u64..12).collect();
                assert_eq!(
                    numbers(&frames),
                    kept,
                    "{in_flight} in flight, history({keep})"
                );
            }
        }
    });
}

/// With one frame in flight frames do not overlap, so a frame's window (its start to its
/// completion) holds no job of the next frame. Frames alternate between a pass fanning out
/// 20 000 batch items and none: a light frame's jobs stay far below that (were its figures
/// read once the next, heavy frame had started, they would include its items).
#[test]
fn a_frames_jobs_are_its_own_window_not_the_next_frames() {
    watchdog(WATCH, || {
        fn heavy_odd(n: u64) -> usize {
            if n % 2 == 1 {
                20_000
            } else {
                0
            }
        }
        for help in [true, false] {
            let system = sys(2, help, None);
            let (graph, o) = observed(&[], heavy_odd, Priority::Normal);
            let config = FramesConfig::default().in_flight(1).history(100);
            let mut frames = Frames::with_config(system, graph, config).expect("ok");
            let mut calls = Calls::default();
            let (mut problems, _) = drive(&mut frames, &[Op::Run], 30, &mut calls);
            for s in frames.history() {
                problems.extend(check_stats(s, &o, frames.epoch(), &calls));
            }
            assert!(problems.is_empty(), "{problems:#?}");
            let mut light = Vec::new();
            let mut heavy = Vec::new();
            for s in frames.history() {
                if s.number % 2 == 1 {
                    heavy.push((s.number, s.jobs));
                } else {
                    light.push((s.number, s.jobs));
                }
                // K = 1: each frame starts after the one before completed.
                if s.number > 0 {
                    let before = &frames.history()[s.number as usize - 1];
                    let start = s.completed.checked_sub(s.wall).expect("after the epoch");
                    assert!(
                        start + SLACK >= before.completed,
                        "frame {} started before frame {} completed",
                        s.number,
                        before.number
                    );
                }
            }
            // Workers publish job counts every 1024 jobs and when idle: a window may miss up
            // to about a thousand per thread of its own, and show as many of the frame before.
            assert!(
                light.iter().all(|&(_, jobs)| jobs < 8_000),
                "help {help}: light frames' jobs {light:?}"
            );
            assert!(
                heavy.iter().all(|&(_, jobs)| jobs >= 12_000),
                "help {help}: heavy frames' jobs {heavy:?}"
            );
        }
    });
}

/// `GameLoop` (which ends a turn on a dropped setup when its closure breaks): afterwards the
/// history is consecutive and ends at the newest completed frame or one before; after `finish`
/// it has every frame the loop ran, with its own statistics.
#[test]
fn game_loop_history_is_complete_after_finish() {
    watchdog(WATCH, || {
        for in_flight in 1..=3 {
            let system = sys(2, true, None);
            let (graph, o) = observed(&[], some_fan, Priority::Low);
            let config = FramesConfig::default().in_flight(in_flight).history(1000);
            let mut frames = Frames::with_config(system, graph, config).expect("ok");
            let summary = GameLoop::new(2000.0)
                .expect("rate")
                .target_rate(1000.0)
                .expect("rate")
                .run(&mut frames, |turn| {
                    if turn.first() && turn.turn >= 25 {
                        return Ok(ControlFlow::Break(()));
                    }
                    Ok(ControlFlow::Continue(()))
                })
                .expect("no failure");
            assert!(consecutive(&frames));
            let back = frames.history().back().map(|s| s.number);
            let newest = frames.last_completed_frame();
            assert!(
                back == newest || back.map(|b| b + 1) == newest,
                "{in_flight} in flight: history ends at {back:?}, newest completed {newest:?}"
            );
            frames.finish().expect("no failure");
            assert_eq!(frames.next_frame(), summary.frames);
            let all: Vec<u64> = (0..summary.frames).collect();
            assert_eq!(numbers(&frames), all, "{in_flight} in flight");
            let calls = Calls::default();
            for s in frames.history() {
                let problems = check_stats(s, &o, frames.epoch(), &calls);
                assert!(problems.is_empty(), "{problems:#?}");
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Low-priority work under the frame graph
// ---------------------------------------------------------------------------------------------

/// How many threads run some work at once, and the most that ever did.
#[derive(Clone, Default)]
struct Running {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    runs: Arc<AtomicUsize>,
}

impl Running {
    fn work(&self, d: Duration) {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        self.runs.fetch_add(1, SeqCst);
        spin(d);
        self.now.fetch_sub(1, SeqCst);
    }

    fn most(&self) -> usize {
        self.most.load(SeqCst)
    }

    fn runs(&self) -> usize {
        self.runs.load(SeqCst)
    }
}

/// Three independent Low passes each fanning out 16 Low children, a Normal pass, and Low
/// background jobs spawned (detached, counted) by a pass every frame, at caps of one and two,
/// with the main thread helping or not, `lowest_to_run` Low or Normal, 1 to 3 frames in
/// flight: every frame completes, all background work runs, never more Low work at once than
/// the cap, and the history is complete.
#[test]
fn low_passes_and_background_work_stay_under_the_cap() {
    watchdog(WATCH, || {
        // (workers, help, cap, lowest_to_run, in flight)
        let configs = [
            (2, true, 1, Priority::Low, 2),
            (2, true, 1, Priority::Normal, 1),
            (2, false, 1, Priority::Low, 3),
            (3, false, 2, Priority::Normal, 2),
            (4, true, 1, Priority::Low, 3),
        ];
        for (workers, help, cap, lowest, in_flight) in configs {
            let system = sys(workers, help, Some(cap));
            let low = Running::default();
            let background = Counter::new();
            let mut graph = GraphBuilder::new();
            let mut outputs = Vec::new();
            for name in ["low 0", "low 1", "low 2"] {
                let out = graph.scratch(name, vec![0u32; 16]);
                let l = low.clone();
                graph
                    .pass(name, out.write(), move |out, cx| {
                        assert_eq!(cx.context().priority(), Priority::Low);
                        for v in out.iter_mut() {
                            let l = l.clone();
                            cx.spawn(move |_| {
                                l.work(Duration::from_micros(40));
                                *v += 1;
                            });
                        }
                    })
                    .priority(Priority::Low);
                outputs.push(out);
            }
            let (l, bg) = (low.clone(), background.clone());
            let normal = graph.scratch("normal", 0u64);
            graph
                .pass("spawn background", normal.write(), move |n, cx| {
                    *n += 1;
                    for _ in 0..3 {
                        let l = l.clone();
                        cx.context().spawn_job_counted(
                            &bg,
                            Job::from_fn(move |_| l.work(Duration::from_micros(300)))
                                .with_priority(Priority::Low),
                        );
                    }
                })
                .side_effect();
            let sum = graph.import("sum", 0u64);
            graph.pass(
                "sum",
                (
                    outputs[0].read(),
                    outputs[1].read(),
                    outputs[2].read(),
                    sum.write(),
                ),
                |(a, b, c, sum), _| {
                    *sum += a
                        .iter()
                        .chain(b.iter())
                        .chain(c.iter())
                        .map(|&v| u64::from(v))
                        .sum::<u64>();
                },
            );
            let config = FramesConfig::default()
                .in_flight(in_flight)
                .lowest_to_run(lowest)
                .history(100);
            let mut frames =
                Frames::with_config(system.clone(), graph.compile().expect("compiles"), config)
                    .expect("valid");
            for _ in 0..30 {
                frames.run_frame(DT).expect("no failure");
                assert_eq!(
                    frames.history().back().map(|s| s.number),
                    frames.last_completed_frame()
                );
            }
            frames.finish().expect("no failure");
            assert_eq!(numbers(&frames), (0..30).collect::<Vec<_>>());
            // Scratch copies start with what the frame K + 1 before left: each frame adds 48
            // to its slot's copies.
            assert!(*frames.resource(sum).expect("readable") > 0);
            drop(frames);
            if help {
                system.wait(&background).expect("no panic");
            } else {
                assert!(
                    poll(30, || background.is_zero()),
                    "background work did not finish"
                );
            }
            assert_eq!(low.runs(), 30 * (3 * 16 + 3));
            assert!(
                low.most() <= cap,
                "workers({workers}) help {help}: {} Low at once, cap {cap}",
                low.most()
            );
        }
    });
}

fn poll(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A Low pass on the main thread runs while Low background jobs hold every slot and wait for
/// it (they would give up after 10 s otherwise): pinned work runs whatever the count.
#[test]
fn a_low_main_thread_pass_runs_while_background_work_holds_every_slot() {
    watchdog(WATCH, || {
        for (workers, help, cap, lowest) in [
            (2, true, 1, Priority::Low),
            (2, false, 1, Priority::Low),
            (3, true, 2, Priority::Normal),
            (1, true, 1, Priority::High),
        ] {
            let system = sys(workers, help, Some(cap));
            let passes_ran = Arc::new(AtomicUsize::new(0));
            let gave_up = Arc::new(AtomicUsize::new(0));
            let holding = Arc::new(AtomicUsize::new(0));
            let holders = system.counter();
            for _ in 0..cap {
                let (ran, gave_up, holding) =
                    (passes_ran.clone(), gave_up.clone(), holding.clone());
                system.submit_counted(
                    &holders,
                    Job::from_fn(move |_| {
                        holding.fetch_add(1, SeqCst);
                        if !poll(10, || ran.load(SeqCst) >= 3) {
                            gave_up.fetch_add(1, SeqCst);
                        }
                    })
                    .with_priority(Priority::Low),
                );
            }
            assert!(poll(10, || holding.load(SeqCst) == cap));
            let mut graph = GraphBuilder::new();
            let x = graph.import("x", 0u64);
            let ran = passes_ran.clone();
            let main = std::thread::current().id();
            graph
                .pass("present", x.write(), move |x, cx| {
                    assert!(cx.context().on_main_thread());
                    assert_eq!(std::thread::current().id(), main);
                    *x += 1;
                    ran.fetch_add(1, SeqCst);
                })
                .priority(Priority::Low)
                .on_main_thread();
            let config = FramesConfig::default().lowest_to_run(lowest).in_flight(2);
            let mut frames =
                Frames::with_config(system.clone(), graph.compile().expect("ok"), config)
                    .expect("ok");
            for _ in 0..3 {
                frames.run_frame(DT).expect("ok");
            }
            frames.finish().expect("ok");
            assert_eq!(*frames.resource(x).expect("ok"), 3);
            assert_eq!(numbers(&frames), vec![0, 1, 2]);
            assert!(poll(30, || holders.is_zero()));
            assert_eq!(
                gave_up.load(SeqCst),
                0,
                "workers({workers}): the main-thread Low pass waited for the cap"
            );
        }
    });
}

/// A pass that submits Low jobs and waits for them inside its body (`JobSystem::wait`), at a
/// cap of one, with the main thread helping or not: the pass's thread lends nothing it holds
/// (the pass is Normal), the Low jobs run, frames complete.
#[test]
fn a_pass_waiting_for_low_work_it_submitted_completes() {
    watchdog(WATCH, || {
        for (workers, help, in_flight) in [(2, true, 2), (2, false, 1), (1, false, 3), (3, true, 3)]
        {
            let system = sys(workers, help, Some(1));
            let low = Running::default();
            let mut graph = GraphBuilder::new();
            let x = graph.scratch("x", 0u64);
            let (s, l) = (system.clone(), low.clone());
            graph
                .pass("wait for low", x.write(), move |x, _| {
                    let c = Counter::new();
                    for _ in 0..4 {
                        let l = l.clone();
                        s.submit_counted(
                            &c,
                            Job::from_fn(move |_| l.work(Duration::from_micros(100)))
                                .with_priority(Priority::Low),
                        );
                    }
                    s.wait(&c).expect("no panic");
                    *x += 1;
                })
                .side_effect();
            let (s, l) = (system.clone(), low.clone());
            graph
                .pass("low waits for low", (), move |_, _| {
                    let c = Counter::new();
                    for _ in 0..4 {
                        let l = l.clone();
                        s.submit_counted(
                            &c,
                            Job::from_fn(move |_| l.work(Duration::from_micros(100)))
                                .with_priority(Priority::Low),
                        );
                    }
                    s.wait(&c).expect("no panic");
                })
                .priority(Priority::Low)
                .side_effect();
            let config = FramesConfig::default().in_flight(in_flight).history(100);
            let mut frames =
                Frames::with_config(system.clone(), graph.compile().expect("ok"), config)
                    .expect("ok");
            for _ in 0..20 {
                frames.run_frame(DT).expect("ok");
            }
            frames.finish().expect("ok");
            assert_eq!(numbers(&frames), (0..20).collect::<Vec<_>>());
            assert_eq!(low.runs(), 20 * 8);
        }
    });
}

struct LowStep {
    items: Vec<u64>,
    inner: Counter,
    low: Running,
    system: Arc<JobSystem>,
}

type LowPass = frame::Pass<LowStep, frame::Write<u64>>;

fn low_step_start(_: &mut LowPass, _: &mut Context<'_>) -> Action<LowPass> {
    Action::Spawn(
        |p, s| {
            let batch = Batch::new()
                .grain(Grain::fixed(4).expect("a grain"))
                .priority(Priority::Low);
            let (state, _) = p.parts();
            let low = state.low.clone();
            s.for_each_mut(&mut state.items, batch, move |i, v| {
                low.work(Duration::from_micros(10));
                *v = i as u64;
            });
        },
        low_step_submit,
    )
}

fn low_step_submit(p: &mut LowPass, _: &mut Context<'_>) -> Action<LowPass> {
    let state = p.state();
    assert!(state.items.iter().enumerate().all(|(i, v)| *v == i as u64));
    for _ in 0..3 {
        let low = state.low.clone();
        state.system.submit_counted(
            &state.inner,
            Job::from_fn(move |_| low.work(Duration::from_micros(50))).with_priority(Priority::Low),
        );
    }
    let inner = state.inner.clone();
    Action::wait(&inner, low_step_end)
}

fn low_step_end(p: &mut LowPass, _: &mut Context<'_>) -> Action<LowPass> {
    let (state, out) = p.parts();
    *out += state.items.len() as u64;
    Action::Done
}

/// A Low step pass that spawns a Low batch over its state, then submits Low jobs and suspends
/// on their counter, beside Normal passes, at a cap of one: every frame completes, the cap
/// holds, and the history has every frame.
#[test]
fn a_low_step_pass_spawning_and_waiting_under_a_cap_of_one() {
    watchdog(WATCH, || {
        for (workers, help, in_flight) in [(2, true, 3), (2, false, 2), (4, true, 1)] {
            let system = sys(workers, help, Some(1));
            let low = Running::default();
            let mut graph = GraphBuilder::new();
            let out = graph.import("out", 0u64);
            let other = graph.scratch("other", 0u64);
            let state = LowStep {
                items: vec![0; 64],
                inner: Counter::new(),
                low: low.clone(),
                system: system.clone(),
            };
            graph
                .step_pass("low step", out.write(), state, low_step_start)
                .priority(Priority::Low);
            graph
                .pass("normal", other.write(), |o, _| {
                    *o += 1;
                    spin(Duration::from_micros(50));
                })
                .side_effect();
            let config = FramesConfig::default().in_flight(in_flight).history(100);
            let mut frames =
                Frames::with_config(system.clone(), graph.compile().expect("ok"), config)
                    .expect("ok");
            for _ in 0..20 {
                frames.run_frame(DT).expect("ok");
                assert_eq!(
                    frames.history().back().map(|s| s.number),
                    frames.last_completed_frame()
                );
            }
            frames.finish().expect("ok");
            assert_eq!(*frames.resource(out).expect("ok"), 20 * 64);
            assert_eq!(numbers(&frames), (0..20).collect::<Vec<_>>());
            assert_eq!(low.runs(), 20 * (64 + 3));
            assert!(
                low.most() <= 1,
                "workers({workers}) help {help}: {} Low at once, cap 1",
                low.most()
            );
        }
    });
}

/// Dropping the frames and the system while Low background work spawned by passes is still
/// queued at a cap of one: everything is counted off, nothing hangs.
#[test]
fn dropping_frames_and_system_with_low_background_work_queued() {
    watchdog(WATCH, || {
        for (workers, help) in [(1, false), (2, true), (4, false)] {
            let background = Counter::new();
            let ran = Arc::new(AtomicUsize::new(0));
            {
                let system = sys(workers, help, Some(1));
                let mut graph = GraphBuilder::new();
                let x = graph.scratch("x", 0u64);
                let (bg, r) = (background.clone(), ran.clone());
                graph.pass("spawn", x.write(), move |x, cx| {
                    *x += 1;
                    for _ in 0..20 {
                        let r = r.clone();
                        cx.context().spawn_job_counted(
                            &bg,
                            Job::from_fn(move |_| {
                                spin(Duration::from_micros(200));
                                r.fetch_add(1, SeqCst);
                            })
                            .with_priority(Priority::Low),
                        );
                    }
                });
                graph.pass("read", x.read(), |_, _| {}).side_effect();
                let mut frames = Frames::new(system, graph.compile().expect("ok")).expect("ok");
                for _ in 0..10 {
                    frames.run_frame(DT).expect("ok");
                }
                // Frames dropped, then the system (its last handle is in `frames`).
            }
            assert!(
                background.is_zero(),
                "workers({workers}): background work left counted"
            );
            assert_eq!(ran.load(SeqCst), 10 * 20, "workers({workers})");
        }
    });
}

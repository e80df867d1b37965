//! Statistics: a bounded history of completed frames whose figures hang together (passes in
//! order, times within the frame, a critical path along real dependencies), and the DOT dump
//! with timings.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{spin, system, watchdog, DT};
use frame::{FrameStats, Frames, FramesConfig, Graph, GraphBuilder};

const WORK: Duration = Duration::from_micros(200);

/// A diamond with a tail, and a culled pass: every kept pass spins for `WORK`.
fn diamond() -> Graph {
    let mut graph = GraphBuilder::new();
    let source = graph.scratch("source", 0u64);
    let left = graph.transient::<u64>("left", 8);
    let right = graph.transient::<u64>("right", 8);
    let joined = graph.scratch("joined", 0u64);
    let unused = graph.transient::<u64>("unused", 8);
    graph.pass("source", source.write(), |s, cx| {
        *s = cx.frame().number;
        spin(WORK);
    });
    graph.pass("left", (source.read(), left.write()), |(s, l), _| {
        l.fill(*s);
        spin(WORK);
    });
    graph.pass("right", (source.read(), right.write()), |(s, r), _| {
        r.fill(*s);
        spin(WORK * 2);
    });
    graph.pass(
        "join",
        (left.read(), right.read(), joined.write()),
        |(l, r, j), _| {
            *j = l[0] + r[0];
            spin(WORK);
        },
    );
    graph.pass("ignored", unused.write(), |_, _| {});
    graph.compile().expect("compiles")
}

/// The compiled graph's order, and each kept pass's dependencies, read before the graph is
/// handed to `Frames`.
struct Shape {
    order: Vec<String>,
    dependencies: HashMap<String, Vec<String>>,
}

impl Shape {
    fn of(graph: &Graph) -> Shape {
        Shape {
            order: graph.order().iter().map(|s| s.to_string()).collect(),
            dependencies: graph
                .order()
                .iter()
                .map(|&p| {
                    let deps = graph.dependencies(p).unwrap();
                    (p.to_string(), deps.iter().map(|s| s.to_string()).collect())
                })
                .collect(),
        }
    }

    fn dependencies(&self, pass: &str) -> &[String] {
        &self.dependencies[pass]
    }
}

fn check_frame(stats: &FrameStats, graph: &Shape, workers: usize) {
    let n = stats.number;
    assert!(!stats.failed, "frame {n}");
    let names: Vec<&str> = stats.passes.iter().map(|p| p.name.as_ref()).collect();
    assert_eq!(names, graph.order, "frame {n}: passes in the graph's order");
    let end = |name: &str| {
        let pass = stats
            .passes
            .iter()
            .find(|p| p.name.as_ref() == name)
            .unwrap();
        pass.start.unwrap() + pass.duration
    };
    for pass in &stats.passes {
        let start = pass
            .start
            .unwrap_or_else(|| panic!("frame {n}: `{}` ran", pass.name));
        assert!(
            pass.duration >= WORK,
            "frame {n}: `{}` spun {WORK:?}",
            pass.name
        );
        assert!(
            start + pass.duration <= stats.wall,
            "frame {n}: `{}` ended after the frame's end",
            pass.name
        );
        if let Some(worker) = pass.worker {
            assert!(worker < workers, "frame {n}: worker {worker}");
        }
        // A pass starts after its dependencies have ended.
        for dependency in graph.dependencies(&pass.name) {
            assert!(
                end(dependency) <= start,
                "frame {n}: `{}` started before `{dependency}` ended",
                pass.name
            );
        }
    }
    // The critical path: a chain of dependencies whose durations sum to it, no shorter than
    // any pass, no longer than the frame (each link starts after the one before ends).
    assert!(!stats.critical_passes.is_empty());
    let chain: Vec<&str> = stats
        .critical_passes
        .iter()
        .map(|&i| stats.passes[i].name.as_ref())
        .collect();
    for pair in chain.windows(2) {
        assert!(
            graph.dependencies(pair[1]).iter().any(|d| d == pair[0]),
            "frame {n}: the critical path {chain:?} is not a chain of dependencies"
        );
    }
    let sum: Duration = stats
        .critical_passes
        .iter()
        .map(|&i| stats.passes[i].duration)
        .sum();
    assert_eq!(sum, stats.critical_path, "frame {n}");
    for pass in &stats.passes {
        assert!(stats.critical_path >= pass.duration, "frame {n}");
    }
    assert!(
        stats.critical_path <= stats.wall,
        "frame {n}: critical path {:?} > wall {:?}",
        stats.critical_path,
        stats.wall
    );
    // The longest chain is at least as long as the one through "right" (which spins twice).
    assert!(stats.critical_path >= WORK * 4, "frame {n}");
    assert!(
        (0.0..=1.0).contains(&stats.utilization),
        "frame {n}: utilization {}",
        stats.utilization
    );
}

#[test]
fn frame_statistics_hang_together() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let graph = diamond();
            let shape = Shape::of(&graph);
            assert_eq!(shape.order, ["source", "left", "right", "join"]);
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames = Frames::with_config(system(2), graph, config).unwrap();
            for _ in 0..40 {
                frames.run_frame(DT).unwrap();
            }
            frames.finish().unwrap();
            let history = frames.history();
            assert_eq!(history.len(), 40);
            for (n, stats) in history.iter().enumerate() {
                assert_eq!(stats.number, n as u64);
                check_frame(stats, &shape, 2);
            }
        }
    });
}

#[test]
fn a_frame_completes_when_its_last_pass_ends_and_frames_complete_in_order() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let made = Instant::now();
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames = Frames::with_config(system(2), diamond(), config).unwrap();
            assert!(frames.epoch() >= made);
            // When each `run_frame` returned: the submission cadence, not the completions.
            let mut returned = Vec::new();
            for _ in 0..30 {
                frames.run_frame(DT).unwrap();
                returned.push(Instant::now());
            }
            frames.finish().unwrap();
            let finished = Instant::now();
            let epoch = frames.epoch();
            let history = frames.history();
            assert_eq!(history.len(), 30);
            for (n, stats) in history.iter().enumerate() {
                // The last pass's end, from the frame's start, is the frame's wall time...
                let last_end = stats
                    .passes
                    .iter()
                    .map(|p| p.start.unwrap() + p.duration)
                    .max()
                    .unwrap();
                assert_eq!(last_end, stats.wall, "frame {n}");
                // ...and the frame completed then: after it started, before `finish` returned.
                assert!(stats.completed >= stats.wall, "frame {n}");
                assert!(epoch + stats.completed <= finished, "frame {n}");
                // It started inside its own `run_frame`.
                let started = epoch + (stats.completed - stats.wall);
                assert!(started <= returned[n], "frame {n}");
                assert!(n == 0 || started >= returned[n - 1], "frame {n}");
                // `run_frame` makes room for frame n + K by completing frame n first.
                if let Some(&room_made) = returned.get(n + in_flight) {
                    assert!(
                        epoch + stats.completed <= room_made,
                        "{in_flight} in flight: frame {n} completed after frame {} was started",
                        n + in_flight
                    );
                }
            }
            for pair in history.iter().collect::<Vec<_>>().windows(2) {
                let (before, after) = (pair[0], pair[1]);
                assert!(
                    before.completed <= after.completed,
                    "{in_flight} in flight: frame {} completed before frame {}",
                    after.number,
                    before.number
                );
                assert!(
                    before.completed - before.wall <= after.completed - after.wall,
                    "frames start in order"
                );
            }
        }
    });
}

#[test]
fn history_is_bounded() {
    watchdog(30, || {
        for keep in [1, 5, 10] {
            let config = FramesConfig::default().history(keep).in_flight(2);
            let mut frames = Frames::with_config(system(2), diamond(), config).unwrap();
            assert!(frames.history().is_empty());
            for _ in 0..25 {
                frames.run_frame(DT).unwrap();
                assert!(frames.history().len() <= keep);
            }
            frames.finish().unwrap();
            let numbers: Vec<u64> = frames.history().iter().map(|s| s.number).collect();
            let expected: Vec<u64> = (25 - keep as u64..25).collect();
            assert_eq!(numbers, expected, "the newest {keep}, oldest first");
        }
    });
}

#[test]
fn the_dot_dump_shows_every_pass_and_its_timings() {
    watchdog(30, || {
        let graph = diamond();
        let plain = graph.to_dot();
        for name in ["source", "left", "right", "join", "ignored"] {
            assert!(plain.contains(&format!("\"{name}\"")), "{plain}");
        }
        assert!(plain.starts_with("digraph"), "{plain}");
        assert!(
            plain.contains("culled"),
            "the culled pass is marked: {plain}"
        );
        assert!(
            plain.contains("\"source\" -> \"left\" [label=\"source\"]"),
            "{plain}"
        );
        assert!(
            plain.contains("\"right\" -> \"join\" [label=\"right\"]"),
            "{plain}"
        );
        assert!(
            !plain.contains("\"source\" -> \"join\""),
            "implied edges are left out"
        );
        let mut frames = Frames::new(system(2), graph).unwrap();
        assert_eq!(frames.to_dot(), plain, "no timings before a frame ran");
        for _ in 0..10 {
            frames.run_frame(DT).unwrap();
        }
        frames.finish().unwrap();
        let timed = frames.to_dot();
        for name in ["source", "left", "right", "join", "ignored"] {
            assert!(timed.contains(&format!("\"{name}\"")), "{timed}");
        }
        // One timing line per kept pass, over the 10 frames of the history.
        assert_eq!(timed.matches("mean ").count(), 4, "{timed}");
        assert_eq!(timed.matches("(10 frames)").count(), 4, "{timed}");
        assert!(timed.contains(" ms"), "{timed}");
    });
}

#[test]
fn a_graph_with_every_pass_culled_runs_empty_frames() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let unused = graph.transient::<u8>("unused", 8);
        graph.pass("pointless", unused.write(), |_, _| {});
        let graph = graph.compile().unwrap();
        assert!(graph.order().is_empty());
        let mut frames = Frames::new(system(2), graph).unwrap();
        for _ in 0..10 {
            frames.run_frame(DT).unwrap();
        }
        frames.finish().unwrap();
        assert_eq!(frames.history().len(), 10);
        for stats in frames.history() {
            assert!(stats.passes.is_empty());
            assert!(stats.critical_passes.is_empty());
            assert_eq!(stats.critical_path, Duration::ZERO);
            assert!(!stats.failed);
        }
        assert_eq!(frames.system().heap().stats().live_tags, 0);
    });
}

#[test]
fn the_graph_of_running_frames_still_answers_questions() {
    watchdog(30, || {
        let graph = diamond();
        let shape = Shape::of(&graph);
        let previous: Vec<Option<Vec<String>>> = shape
            .order
            .iter()
            .map(|p| {
                graph
                    .previous_frame_dependencies(p)
                    .map(|d| d.iter().map(|s| s.to_string()).collect())
            })
            .collect();
        let frames = Frames::new(system(2), graph).unwrap();
        let graph = frames.graph();
        assert_eq!(graph.order(), shape.order);
        for (pass, previous) in shape.order.iter().zip(previous) {
            let deps = graph.dependencies(pass).expect("a kept pass");
            assert_eq!(deps, shape.dependencies(pass));
            let got = graph
                .previous_frame_dependencies(pass)
                .map(|d| d.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, previous);
        }
    });
}

#[test]
fn every_frame_counts_at_least_its_pass_jobs() {
    watchdog(30, || {
        for in_flight in 1..=3 {
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames = Frames::with_config(system(2), diamond(), config).unwrap();
            for _ in 0..200 {
                frames.run_frame(DT).unwrap();
            }
            frames.finish().unwrap();
            let counts: Vec<u64> = frames.history().iter().map(|s| s.jobs).collect();
            assert!(
                counts.iter().all(|&jobs| jobs >= 4),
                "{in_flight} in flight: jobs per frame {counts:?}"
            );
        }
    });
}

#[test]
fn a_completed_frame_is_in_the_history_when_the_call_that_completed_it_returns() {
    watchdog(30, || {
        let newest = |frames: &Frames| frames.history().back().map(|s| (s.number, s.failed));
        for in_flight in 1..=3u64 {
            let config = FramesConfig::default().in_flight(in_flight as usize);
            let mut frames = Frames::with_config(system(2), diamond(), config).unwrap();
            for n in 0..6u64 {
                frames.run_frame(DT).unwrap();
                // Frame n started; frame n - in_flight completed to make room for it.
                let expected = n.checked_sub(in_flight).map(|f| (f, false));
                assert_eq!(
                    newest(&frames),
                    expected,
                    "{in_flight} in flight, frame {n}"
                );
            }
            // One by one: the completed frame comes in with the start of the next.
            // A setup dropped unstarted (the frame before it completed, not yet recorded).
            let _ = frames.begin_frame().unwrap();
            let setup = frames.begin_frame().unwrap();
            // The setup dropped unstarted: its completed frame is in by the next begin_frame.
            assert_eq!(setup.number(), 6);
            setup.start(DT).unwrap();
            assert_eq!(newest(&frames), Some((6 - in_flight, false)));
            frames.finish().unwrap();
            assert_eq!(
                newest(&frames),
                Some((6, false)),
                "finish records every frame"
            );
            let numbers: Vec<u64> = frames.history().iter().map(|s| s.number).collect();
            assert_eq!(
                numbers,
                (0..=6).collect::<Vec<_>>(),
                "each frame once, in order"
            );
        }
    });
}

#[test]
fn a_failed_frame_is_in_the_history_when_its_error_is_returned() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let out = graph.scratch("out", 0u64);
        graph.pass("fails in frame 2", out.write(), |out, cx| {
            *out = cx.frame().number;
            assert_ne!(cx.frame().number, 2, "frame 2 fails");
        });
        let config = FramesConfig::default().in_flight(1);
        let mut frames = Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
        for _ in 0..3 {
            frames.run_frame(DT).unwrap();
        }
        assert!(frames.run_frame(DT).is_err(), "frame 2's error");
        let last = frames.history().back().map(|s| (s.number, s.failed));
        assert_eq!(last, Some((2, true)), "recorded before the error came back");
        frames.run_frame(DT).unwrap();
        frames.finish().unwrap();
        let failed: Vec<bool> = frames.history().iter().map(|s| s.failed).collect();
        assert_eq!(
            failed,
            [false, false, true, false],
            "frames 0 to 3: no frame started after the error"
        );
    });
}

//! Per-frame resources: each frame in flight has its own copy, `read_previous` sees exactly the
//! previous frame's, inputs set in `FrameSetup` reach that frame only, a carried copy starts
//! from the previous frame's, and the newest completed frame's copy is read without waiting.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{spin, system, watchdog, DT};
use frame::{FrameError, Frames, FramesConfig, GraphBuilder};

fn frames_with(graph: GraphBuilder, in_flight: usize) -> Frames {
    frames_with_graph(graph.compile().expect("compiles"), in_flight)
}

fn frames_with_graph(graph: frame::Graph, in_flight: usize) -> Frames {
    let config = FramesConfig::default().in_flight(in_flight);
    Frames::with_config(system(2), graph, config).unwrap()
}

#[test]
fn each_frame_sees_its_own_copy() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let wrong = Arc::new(AtomicUsize::new(0));
            let mut graph = GraphBuilder::new();
            let state = graph.scratch("state", u64::MAX);
            graph.pass("stamp", state.write(), |state, cx| {
                *state = cx.frame().number;
                spin(Duration::from_micros(100));
            });
            let w = Arc::clone(&wrong);
            graph
                .pass("check", state.read(), move |state, cx| {
                    spin(Duration::from_micros(200));
                    if *state != cx.frame().number {
                        w.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .side_effect();
            let mut frames = frames_with(graph, in_flight);
            for _ in 0..200 {
                frames.run_frame(DT).unwrap();
            }
            assert_eq!(*frames.resource(state).unwrap(), 199);
            assert_eq!(wrong.load(Ordering::SeqCst), 0, "{in_flight} in flight");
        }
    });
}

#[test]
fn read_previous_sees_exactly_the_previous_frame() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let mut graph = GraphBuilder::new();
            let counter = graph.scratch("counter", 0u64);
            let s = Arc::clone(&seen);
            graph.pass(
                "count",
                (counter.read_previous(), counter.write()),
                move |(before, now), cx| {
                    s.lock().unwrap().push((cx.frame().number, *before));
                    *now = *before + 1;
                },
            );
            // Another reader of the previous copy, later in the frame (after this frame's
            // write): it still sees the previous frame's value, not this frame's.
            let s = Arc::clone(&seen);
            graph
                .pass(
                    "look back",
                    (counter.read(), counter.read_previous()),
                    move |(now, before), cx| {
                        s.lock()
                            .unwrap()
                            .push((1000 + cx.frame().number, *now - *before));
                    },
                )
                .side_effect();
            let mut frames = frames_with(graph, in_flight);
            let count = 300;
            for _ in 0..count {
                frames.run_frame(DT).unwrap();
            }
            assert_eq!(*frames.resource(counter).unwrap(), count);
            let mut seen = seen.lock().unwrap().clone();
            seen.sort_unstable();
            let expected: Vec<(u64, u64)> = (0..count)
                .map(|n| (n, n))
                .chain((0..count).map(|n| (1000 + n, 1)))
                .collect();
            assert_eq!(seen, expected, "{in_flight} in flight");
        }
    });
}

#[test]
fn resource_mut_changes_what_the_next_frame_sees_as_previous() {
    watchdog(30, || {
        for in_flight in 1..=3 {
            let mut graph = GraphBuilder::new();
            let counter = graph.scratch("counter", 0u64);
            graph.pass(
                "count",
                (counter.read_previous(), counter.write()),
                |(before, now), _| *now = *before + 1,
            );
            let mut frames = frames_with(graph, in_flight);
            for _ in 0..10 {
                frames.run_frame(DT).unwrap();
            }
            assert_eq!(*frames.resource(counter).unwrap(), 10);
            *frames.resource_mut(counter).unwrap() = 1000;
            for _ in 0..5 {
                frames.run_frame(DT).unwrap();
            }
            assert_eq!(
                *frames.resource(counter).unwrap(),
                1005,
                "{in_flight} in flight"
            );
        }
    });
}

#[test]
fn setup_inputs_reach_their_frame_only() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let mut graph = GraphBuilder::new();
            let input = graph.scratch("input", 0u64);
            let total = graph.import("total", 0u64);
            let s = Arc::clone(&seen);
            graph.pass(
                "apply",
                (input.read(), total.write()),
                move |(input, total), cx| {
                    spin(Duration::from_micros(100));
                    s.lock().unwrap().push((cx.frame().number, *input));
                    *total += *input;
                },
            );
            let mut frames = frames_with(graph, in_flight);
            let count = 100u64;
            for n in 0..count {
                let mut setup = frames.begin_frame().unwrap();
                assert_eq!(setup.number(), n);
                let copy = setup.per_frame_mut(input).unwrap();
                // The copy holds what a frame `in_flight + 1` earlier was given (or the
                // initial value): no frame in flight uses it.
                let expected_old = n
                    .checked_sub(in_flight as u64 + 1)
                    .map_or(0, |earlier| earlier * 10 + 7);
                assert_eq!(*copy, expected_old, "frame {n}, {in_flight} in flight");
                *copy = n * 10 + 7;
                assert_eq!(setup.start(DT).unwrap(), n);
            }
            assert_eq!(
                *frames.resource(total).unwrap(),
                (0..count).map(|n| n * 10 + 7).sum::<u64>()
            );
            let mut seen = seen.lock().unwrap().clone();
            seen.sort_unstable();
            let expected: Vec<(u64, u64)> = (0..count).map(|n| (n, n * 10 + 7)).collect();
            assert_eq!(seen, expected, "{in_flight} in flight");
        }
    });
}

#[test]
fn per_frame_mut_wants_a_per_frame_resource_of_this_graph() {
    watchdog(30, || {
        let mut other = GraphBuilder::new();
        let foreign = other.scratch("foreign", 0u32);
        let mut graph = GraphBuilder::new();
        let settings = graph.import("settings", 0u32);
        let input = graph.scratch("input", 0u32);
        let state = graph.carried("state", 0u32);
        graph
            .pass(
                "use",
                (settings.read(), input.read(), state.read()),
                |_, _| {},
            )
            .side_effect();
        let mut frames = frames_with(graph, 2);
        let mut setup = frames.begin_frame().unwrap();
        let error = setup.per_frame_mut(settings).expect_err("imported");
        assert_eq!(
            error,
            FrameError::WrongKind {
                resource: "settings".into(),
                expected: "scratch",
            }
        );
        assert!(error.to_string().contains("settings"), "{error}");
        // A carried copy is made from the previous frame's once the frame runs.
        assert_eq!(
            setup.per_frame_mut(state).err(),
            Some(FrameError::WrongKind {
                resource: "state".into(),
                expected: "scratch",
            })
        );
        assert_eq!(
            setup.per_frame_mut(foreign).err(),
            Some(FrameError::ForeignResource)
        );
        assert!(setup.per_frame_mut(input).is_ok());
        setup.start(DT).unwrap();
        assert_eq!(
            frames.resource(foreign).err(),
            Some(FrameError::ForeignResource)
        );
        assert_eq!(
            frames.resource_mut(foreign).err(),
            Some(FrameError::ForeignResource)
        );
        frames.finish().unwrap();
    });
}

#[test]
fn copies_are_made_from_the_initial_value_and_dropped() {
    /// Counts its clones (in `.0[0]`) and drops (in `.0[1]`).
    #[derive(Debug)]
    struct Counted(Arc<[AtomicUsize; 2]>, u32);
    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.0[0].fetch_add(1, Ordering::SeqCst);
            Counted(Arc::clone(&self.0), self.1)
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0[1].fetch_add(1, Ordering::SeqCst);
        }
    }
    watchdog(30, || {
        for in_flight in 1..=3 {
            let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
            let mut graph = GraphBuilder::new();
            let value = graph.scratch("value", Counted(Arc::clone(&counts), 5));
            let imported = graph.import("imported", Counted(Arc::clone(&counts), 9));
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s = Arc::clone(&seen);
            graph
                .pass(
                    "look",
                    (value.read(), value.read_previous(), imported.read()),
                    move |(now, before, imported), _| {
                        s.lock().unwrap().push((now.1, before.1, imported.1))
                    },
                )
                .side_effect();
            let mut frames = frames_with(graph, in_flight);
            for _ in 0..5 {
                frames.run_frame(DT).unwrap();
            }
            frames.finish().unwrap();
            assert_eq!(*seen.lock().unwrap(), [(5, 5, 9); 5]);
            let clones = counts[0].load(Ordering::SeqCst);
            // At least one copy per frame that may be in flight, and one for the previous frame.
            assert!(
                clones > in_flight,
                "{clones} copies for {in_flight} in flight"
            );
            drop(frames);
            // Every value made is dropped once: the copies, the initial value, the imported.
            assert_eq!(counts[1].load(Ordering::SeqCst), clones + 2);
        }
    });
}

#[test]
fn a_carried_copy_starts_from_the_previous_frames() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let mut graph = GraphBuilder::new();
            let halves = graph.carried("halves", [0u64; 2]);
            // Each frame changes one half only, and slowly: the other is carried over.
            graph.pass("one half", halves.write(), |halves, cx| {
                spin(Duration::from_micros(50));
                halves[(cx.frame().number % 2) as usize] += 1;
            });
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s = Arc::clone(&seen);
            graph
                .pass("look", halves.read(), move |halves, cx| {
                    s.lock().unwrap().push((cx.frame().number, *halves));
                })
                .side_effect();
            let graph = graph.compile().expect("compiles");
            assert_eq!(graph.order(), ["carry halves", "one half", "look"]);
            assert_eq!(graph.dependencies("one half"), Some(vec!["carry halves"]));
            let mut frames = frames_with_graph(graph, in_flight);
            for _ in 0..101 {
                frames.run_frame(DT).unwrap();
            }
            assert_eq!(*frames.resource(halves).unwrap(), [51, 50]);
            let mut seen = seen.lock().unwrap().clone();
            seen.sort_unstable();
            for (n, halves) in seen {
                assert_eq!(
                    halves,
                    [n / 2 + 1, n.div_ceil(2)],
                    "frame {n}, {in_flight} in flight"
                );
            }
        }
    });
}

#[test]
fn last_completed_reads_the_newest_completed_frame_without_waiting() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let mut graph = GraphBuilder::new();
            let carried = graph.carried("carried", 0u64);
            let scratch = graph.scratch("scratch", u64::MAX);
            let settings = graph.import("settings", 0u64);
            graph.pass(
                "stamp",
                (carried.write(), scratch.write()),
                |(carried, scratch), cx| {
                    spin(Duration::from_micros(200));
                    *carried += 1;
                    *scratch = cx.frame().number;
                },
            );
            graph
                .pass("settle", settings.read(), |_, _| {})
                .side_effect();
            let mut frames = frames_with(graph, in_flight);
            // Before any frame: the initial values.
            assert_eq!(frames.last_completed_frame(), None);
            assert_eq!(*frames.last_completed(carried).unwrap(), 0);
            assert_eq!(*frames.last_completed(scratch).unwrap(), u64::MAX);
            for n in 0..50u64 {
                frames.run_frame(DT).unwrap();
                let in_flight_now = frames.frames_in_flight();
                let newest = frames.last_completed_frame();
                // Room was made for frame n: at most `in_flight` frames remain in flight.
                assert!(in_flight_now >= 1 && in_flight_now <= in_flight);
                assert_eq!(newest, (n + 1).checked_sub(in_flight_now as u64 + 1));
                if let Some(m) = newest {
                    assert_eq!(*frames.last_completed(scratch).unwrap(), m);
                    assert_eq!(*frames.last_completed(carried).unwrap(), m + 1);
                }
                assert_eq!(
                    frames.frames_in_flight(),
                    in_flight_now,
                    "no frame waited for"
                );
            }
            assert_eq!(
                frames.last_completed(settings).err(),
                Some(FrameError::WrongKind {
                    resource: "settings".into(),
                    expected: "per-frame (carried or scratch)",
                })
            );
            let mut other = GraphBuilder::new();
            let foreign = other.carried("foreign", 0u64);
            assert_eq!(
                frames.last_completed(foreign).err(),
                Some(FrameError::ForeignResource)
            );
            frames.finish().unwrap();
            assert_eq!(frames.last_completed_frame(), Some(49));
            assert_eq!(*frames.last_completed(carried).unwrap(), 50);
        }
    });
}

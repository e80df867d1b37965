//! The life of graphs and frame loops: what each frame is told, dropping with frames in flight,
//! dropping what passes own, two frame loops sharing one job system, moving a frame loop to
//! another thread.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{spin, system, watchdog, DT};
use frame::{Frames, FramesConfig, GraphBuilder};

#[test]
fn each_frame_is_told_its_number_step_and_time() {
    watchdog(30, || {
        for in_flight in 1..=3 {
            let infos = Arc::new(Mutex::new(Vec::new()));
            let mut graph = GraphBuilder::new();
            let x = graph.scratch("x", 0u64);
            let i = Arc::clone(&infos);
            graph.pass("note", x.write(), move |_, cx| {
                i.lock().unwrap().push(cx.frame())
            });
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames =
                Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
            let steps: Vec<Duration> = (1..=20).map(Duration::from_millis).collect();
            for (n, &dt) in steps.iter().enumerate() {
                assert_eq!(frames.next_frame(), n as u64);
                assert_eq!(frames.run_frame(dt).unwrap(), n as u64);
            }
            frames.finish().unwrap();
            let mut infos = infos.lock().unwrap().clone();
            infos.sort_by_key(|f| f.number);
            let got: Vec<(u64, Duration, Duration, f32, bool, bool)> = infos
                .iter()
                .map(|f| (f.number, f.dt, f.time, f.alpha, f.simulates(), f.renders()))
                .collect();
            let expected: Vec<(u64, Duration, Duration, f32, bool, bool)> = steps
                .iter()
                .enumerate()
                .map(|(n, &dt)| (n as u64, dt, steps[..n].iter().sum(), 1.0, true, true))
                .collect();
            assert_eq!(got, expected);
        }
    });
}

#[test]
fn dropping_the_frames_waits_for_the_frames_in_flight() {
    watchdog(30, || {
        for in_flight in 1..=3 {
            let ended = Arc::new(AtomicUsize::new(0));
            let mut graph = GraphBuilder::new();
            let x = graph.scratch("x", 0u64);
            let y = graph.scratch("y", 0u64);
            let e = Arc::clone(&ended);
            graph.pass("slow", x.write(), move |_, cx| {
                let e = Arc::clone(&e);
                cx.spawn(move |_| {
                    spin(Duration::from_millis(2));
                    e.fetch_add(1, Ordering::SeqCst);
                });
            });
            let e = Arc::clone(&ended);
            graph.pass("after", (x.read(), y.write()), move |_, _| {
                spin(Duration::from_millis(1));
                e.fetch_add(1, Ordering::SeqCst);
            });
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames =
                Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
            for _ in 0..5 {
                frames.run_frame(DT).unwrap();
            }
            drop(frames);
            assert_eq!(ended.load(Ordering::SeqCst), 10, "{in_flight} in flight");
        }
    });
}

/// Counts its drops.
struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A graph whose pass closures and imported value each hold a token.
fn graph_with_tokens(drops: &Arc<AtomicUsize>, valid: bool) -> GraphBuilder {
    let mut graph = GraphBuilder::new();
    let x = graph.import("x", Token(Arc::clone(drops)));
    let token = Token(Arc::clone(drops));
    graph.pass("a", x.write(), move |_, _| {
        let _ = &token;
    });
    let token = Token(Arc::clone(drops));
    graph
        .pass("b", x.read(), move |_, _| {
            let _ = &token;
        })
        .side_effect();
    if !valid {
        graph.pass("b", (), |(), _| {});
    }
    graph
}

#[test]
fn what_passes_and_resources_own_is_dropped_once() {
    watchdog(30, || {
        let drops = Arc::new(AtomicUsize::new(0));
        // A builder dropped as is.
        drop(graph_with_tokens(&drops, true));
        assert_eq!(drops.swap(0, Ordering::SeqCst), 3);
        // A graph that fails to compile.
        assert!(graph_with_tokens(&drops, false).compile().is_err());
        assert_eq!(drops.swap(0, Ordering::SeqCst), 3);
        // A compiled graph never run.
        drop(graph_with_tokens(&drops, true).compile().unwrap());
        assert_eq!(drops.swap(0, Ordering::SeqCst), 3);
        // A graph that ran frames, dropped with frames in flight.
        let graph = graph_with_tokens(&drops, true).compile().unwrap();
        let mut frames = Frames::new(system(2), graph).unwrap();
        for _ in 0..10 {
            frames.run_frame(DT).unwrap();
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "nothing dropped while running"
        );
        drop(frames);
        assert_eq!(drops.swap(0, Ordering::SeqCst), 3);
    });
}

#[test]
fn two_frame_loops_share_one_job_system() {
    watchdog(60, || {
        let system = system(2);
        let make = |seed: u64| {
            let mut graph = GraphBuilder::new();
            let scratch = graph.transient::<u64>("scratch", 512);
            let out = graph.scratch("out", 0u64);
            graph.pass("fill", scratch.write(), move |s, cx| {
                s.fill(seed + cx.frame().number);
                spin(Duration::from_micros(100));
            });
            graph.pass(
                "check",
                (scratch.read(), out.write()),
                move |(s, out), cx| {
                    spin(Duration::from_micros(100));
                    let expected = seed + cx.frame().number;
                    assert!(s.iter().all(|&x| x == expected), "another loop's memory");
                    *out = expected;
                },
            );
            let graph = graph.compile().unwrap();
            let config = FramesConfig::default().in_flight(3);
            (
                Frames::with_config(Arc::clone(&system), graph, config).unwrap(),
                out,
            )
        };
        let (mut first, first_out) = make(0);
        let (mut second, second_out) = make(1_000_000);
        for _ in 0..100 {
            first.run_frame(DT).unwrap();
            second.run_frame(DT).unwrap();
            assert!(system.heap().stats().live_tags <= 6);
        }
        assert_eq!(*first.resource(first_out).unwrap(), 99);
        assert_eq!(*second.resource(second_out).unwrap(), 1_000_099);
        assert_eq!(system.heap().stats().live_tags, 0);
    });
}

#[test]
fn frames_can_move_to_another_thread() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        graph.pass("count", x.write(), |x, _| *x += 1);
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        for _ in 0..5 {
            frames.run_frame(DT).unwrap();
        }
        let mut frames = std::thread::spawn(move || {
            for _ in 0..5 {
                frames.run_frame(DT).unwrap();
            }
            frames
        })
        .join()
        .unwrap();
        assert_eq!(*frames.resource(x).unwrap(), 10);
    });
}

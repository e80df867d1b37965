//! Frames overlap when allowed, and only as far as the resources allow: with two frames in
//! flight the next frame simulates while this one renders; with one they never overlap; and no
//! two frames touch a shared imported resource at once when one of them writes it.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{spin, system, watchdog, Conflicts, Guard, Span, Timeline, DT};
use frame::{FrameError, Frames, FramesConfig, GraphBuilder};

/// Simulate writes per-frame state (reading the previous frame's), render reads it; each takes
/// `work`.
fn two_stages(timeline: &Timeline, work: Duration) -> GraphBuilder {
    let mut graph = GraphBuilder::new();
    let state = graph.scratch("state", 0u64);
    let t = timeline.clone();
    graph.pass(
        "simulate",
        (state.read_previous(), state.write()),
        move |(before, now), cx| {
            t.record(cx.frame().number, "simulate", || {
                *now = *before + 1;
                spin(work);
            })
        },
    );
    let t = timeline.clone();
    graph
        .pass("render", state.read(), move |state, cx| {
            t.record(cx.frame().number, "render", || {
                assert_eq!(
                    *state,
                    cx.frame().number + 1,
                    "render sees its frame's state"
                );
                spin(work);
            })
        })
        .side_effect();
    graph
}

/// The first start and the last end of each frame's passes, by frame.
fn frame_extents(spans: &[Span], frames: u64) -> Vec<(Span, Span)> {
    (0..frames)
        .map(|n| {
            let of_frame: Vec<&Span> = spans.iter().filter(|s| s.frame == n).collect();
            assert!(!of_frame.is_empty(), "frame {n} ran no pass");
            let first = of_frame.iter().min_by_key(|s| s.start).unwrap();
            let last = of_frame.iter().max_by_key(|s| s.end).unwrap();
            ((*first).clone(), (*last).clone())
        })
        .collect()
}

#[test]
fn with_two_frames_in_flight_the_next_frame_starts_before_this_one_ends() {
    watchdog(60, || {
        let timeline = Timeline::default();
        let graph = two_stages(&timeline, Duration::from_micros(1500))
            .compile()
            .unwrap();
        let config = FramesConfig::default().in_flight(2);
        let mut frames = Frames::with_config(system(2), graph, config).unwrap();
        let count = 120;
        let mut max_in_flight = 0;
        for _ in 0..count {
            frames.run_frame(DT).unwrap();
            max_in_flight = max_in_flight.max(frames.frames_in_flight());
        }
        frames.finish().unwrap();
        assert_eq!(max_in_flight, 2);
        let extents = frame_extents(&timeline.spans(), count);
        let overlaps = extents
            .windows(2)
            .filter(|pair| pair[1].0.start < pair[0].1.end)
            .count();
        assert!(
            overlaps > 0,
            "over {count} frames, no pass of a frame started before the previous frame ended"
        );
        // The overlap is the allowed one: simulate of N + 1 beside render of N; never two runs
        // of the same pass at once.
        for n in 1..count {
            for pass in ["simulate", "render"] {
                let (before, now) = (timeline.get(n - 1, pass), timeline.get(n, pass));
                assert!(
                    before.end <= now.start,
                    "`{pass}` of frames {} and {n}",
                    n - 1
                );
            }
        }
    });
}

#[test]
fn with_one_frame_in_flight_frames_never_overlap() {
    watchdog(60, || {
        let timeline = Timeline::default();
        let graph = two_stages(&timeline, Duration::from_micros(300))
            .compile()
            .unwrap();
        let config = FramesConfig::default().in_flight(1);
        let mut frames = Frames::with_config(system(2), graph, config).unwrap();
        let count = 150;
        for _ in 0..count {
            frames.run_frame(DT).unwrap();
            assert!(frames.frames_in_flight() <= 1);
        }
        frames.finish().unwrap();
        let extents = frame_extents(&timeline.spans(), count);
        for (n, pair) in extents.windows(2).enumerate() {
            assert!(
                pair[0].1.end <= pair[1].0.start && pair[0].1.seq_end < pair[1].0.seq_start,
                "frame {} started a pass before frame {n} ended its last",
                n + 1
            );
        }
    });
}

/// A value shared by every frame, with a guard its users take.
#[derive(Default)]
struct World {
    guard: Guard,
    version: u64,
}

#[test]
fn frames_never_overlap_on_an_imported_resource_they_write() {
    watchdog(60, || {
        for in_flight in 2..=3 {
            let timeline = Timeline::default();
            let conflicts = Conflicts::default();
            let work = Duration::from_micros(200);
            let mut graph = GraphBuilder::new();
            let world = graph.import("world", World::default());
            let input = graph.scratch("input", 0u64);
            let image = graph.scratch("image", 0u64);
            // "prepare" touches only its frame's copy: free to overlap anything.
            let t = timeline.clone();
            graph.pass("prepare", input.write(), move |input, cx| {
                t.record(cx.frame().number, "prepare", || {
                    *input = cx.frame().number;
                    spin(work);
                })
            });
            // "update" and "fix up" write the world, "render" reads it.
            let (t, c) = (timeline.clone(), conflicts.clone());
            let update = graph
                .pass(
                    "update",
                    (input.read(), world.write()),
                    move |(input, world), cx| {
                        t.record(cx.frame().number, "update", || {
                            world.guard.write("update", &c);
                            world.version = *input;
                            spin(work);
                            world.guard.end_write();
                        })
                    },
                )
                .id();
            let (t, c) = (timeline.clone(), conflicts.clone());
            graph
                .pass("fix up", world.write(), move |world, cx| {
                    t.record(cx.frame().number, "fix up", || {
                        world.guard.write("fix up", &c);
                        spin(work);
                        world.guard.end_write();
                    })
                })
                .after(update);
            let (t, c) = (timeline.clone(), conflicts.clone());
            graph.pass(
                "render",
                (world.read(), image.write()),
                move |(world, image), cx| {
                    t.record(cx.frame().number, "render", || {
                        world.guard.read("render", &c);
                        *image = world.version;
                        spin(work);
                        world.guard.end_read();
                    })
                },
            );
            let graph = graph.compile().unwrap();
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames = Frames::with_config(system(2), graph, config).unwrap();
            let count = 150;
            for _ in 0..count {
                frames.run_frame(DT).unwrap();
            }
            assert_eq!(*frames.resource(image).unwrap(), count - 1);
            conflicts.assert_none();
            let spans = timeline.spans();
            let touching: Vec<&Span> = spans.iter().filter(|s| s.pass != "prepare").collect();
            for a in &touching {
                for b in &touching {
                    if a.frame < b.frame {
                        assert!(
                            !a.overlaps(b) && a.seq_end < b.seq_start,
                            "{in_flight} in flight: `{}` of frame {} and `{}` of frame {} ran \
                             at once on the shared world",
                            a.pass,
                            a.frame,
                            b.pass,
                            b.frame
                        );
                    }
                }
            }
        }
    });
}

#[test]
fn frames_in_flight_must_be_one_to_three() {
    for bad in [0, 4, 100] {
        let graph = GraphBuilder::new().compile().unwrap();
        let config = FramesConfig::default().in_flight(bad);
        let error = Frames::with_config(system(1), graph, config)
            .err()
            .expect("rejected");
        assert_eq!(error, FrameError::BadFramesInFlight(bad));
        assert!(error.to_string().contains(&bad.to_string()), "{error}");
    }
}

#[test]
fn frames_in_flight_never_exceed_the_setting() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let running = std::sync::Arc::new(AtomicU64::new(0));
            let most = std::sync::Arc::new(AtomicU64::new(0));
            let mut graph = GraphBuilder::new();
            let state = graph.scratch("state", 0u64);
            let (r, m) = (running.clone(), most.clone());
            // One pass per frame that takes a while, touching only its frame's copy: only the
            // setting limits how many run at once.
            graph.pass("slow", state.write(), move |_, _| {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                spin(Duration::from_micros(300));
                r.fetch_sub(1, Ordering::SeqCst);
            });
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames =
                Frames::with_config(system(2), graph.compile().unwrap(), config).expect("valid");
            for _ in 0..60 {
                frames.run_frame(DT).unwrap();
                assert!(frames.frames_in_flight() <= in_flight);
            }
            frames.finish().unwrap();
            assert_eq!(frames.frames_in_flight(), 0);
            // A pass waits for its own previous run: one at a time whatever the setting.
            assert_eq!(most.load(Ordering::SeqCst), 1);
        }
    });
}

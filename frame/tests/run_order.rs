//! The declared order holds at run time: every pass starts after the passes it depends on have
//! ended, in its frame and across frames in flight, and a reader never sees a resource that a
//! writer (and the jobs it fanned out to) has only half written.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{spin, system, watchdog, Timeline, DT};
use frame::{Frames, FramesConfig, GraphBuilder};
use jobs::Grain;

const PASSES: [&str; 7] = [
    "input", "simulate", "animate", "cull", "draw", "audio", "present",
];

/// The graph of a small game frame; every pass records its run on `timeline`.
fn game_frame(timeline: &Timeline) -> GraphBuilder {
    let mut graph = GraphBuilder::new();
    let input = graph.import("input", 0u64);
    let state = graph.scratch("state", 0u64);
    let poses = graph.transient::<u64>("poses", 64);
    let visible = graph.transient::<u64>("visible", 64);
    let commands = graph.scratch("commands", 0u64);
    let screen = graph.import("screen", 0u64);
    let work = Duration::from_micros(30);
    let t = timeline.clone();
    graph.pass("input", input.write(), move |input, cx| {
        t.record(cx.frame().number, "input", || {
            *input = cx.frame().number;
            spin(work);
        })
    });
    let t = timeline.clone();
    graph.pass(
        "simulate",
        (input.read(), state.read_previous(), state.write()),
        move |(input, before, now), cx| {
            t.record(cx.frame().number, "simulate", || {
                *now = *before + *input;
                spin(work);
            })
        },
    );
    let t = timeline.clone();
    graph.pass(
        "animate",
        (state.read(), poses.write()),
        move |(s, p), cx| {
            t.record(cx.frame().number, "animate", || {
                p.fill(*s);
                spin(work);
            })
        },
    );
    let t = timeline.clone();
    let cull = graph
        .pass(
            "cull",
            (state.read(), visible.write()),
            move |(s, v), cx| {
                t.record(cx.frame().number, "cull", || {
                    v.fill(*s + 1);
                    spin(work);
                })
            },
        )
        .id();
    let t = timeline.clone();
    graph.pass(
        "draw",
        (poses.read(), visible.read(), commands.write()),
        move |(p, v, c), cx| {
            t.record(cx.frame().number, "draw", || {
                *c = p.iter().sum::<u64>() + v.iter().sum::<u64>();
                spin(work);
            })
        },
    );
    let t = timeline.clone();
    graph
        .pass("audio", state.read(), move |_, cx| {
            t.record(cx.frame().number, "audio", || spin(work))
        })
        .after(cull)
        .side_effect();
    let t = timeline.clone();
    graph.pass(
        "present",
        (commands.read(), screen.write()),
        move |(c, s), cx| {
            t.record(cx.frame().number, "present", || {
                *s = *c;
                spin(work);
            })
        },
    );
    graph
}

/// What must run before what in one frame, from the declarations (not from the compiled
/// graph's own lists): writer before reader, and the explicit ordering.
const IN_FRAME: [(&str, &str); 8] = [
    ("input", "simulate"),
    ("simulate", "animate"),
    ("simulate", "cull"),
    ("animate", "draw"),
    ("cull", "draw"),
    ("simulate", "audio"),
    ("cull", "audio"),
    ("draw", "present"),
];

/// What of frame N must end before what of frame N + 1 starts, besides each pass's own previous
/// run: the readers of the imported input before its next writer, the per-frame state's writer
/// before the next reader of its previous copy.
const ACROSS_FRAMES: [(&str, &str); 2] = [("simulate", "input"), ("simulate", "simulate")];

#[test]
fn passes_run_in_the_declared_order_in_and_across_frames() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let timeline = Timeline::default();
            let graph = game_frame(&timeline).compile().expect("compiles");
            assert_eq!(graph.order(), PASSES);
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames = Frames::with_config(system(2), graph, config).unwrap();
            let count = 150;
            for _ in 0..count {
                frames.run_frame(DT).unwrap();
            }
            frames.finish().unwrap();
            assert_eq!(timeline.spans().len(), count * PASSES.len());
            for n in 0..count as u64 {
                for (before, after) in IN_FRAME {
                    let (b, a) = (timeline.get(n, before), timeline.get(n, after));
                    assert!(
                        b.seq_end < a.seq_start,
                        "frame {n}, {in_flight} in flight: `{after}` started before `{before}` ended"
                    );
                }
                if n == 0 {
                    continue;
                }
                let own = PASSES.iter().map(|&p| (p, p));
                for (before, after) in ACROSS_FRAMES.into_iter().chain(own) {
                    let (b, a) = (timeline.get(n - 1, before), timeline.get(n, after));
                    assert!(
                        b.seq_end < a.seq_start,
                        "{in_flight} in flight: `{after}` of frame {n} started before `{before}` \
                         of frame {} ended",
                        n - 1
                    );
                }
            }
        }
    });
}

const LEN: usize = 1 << 14;

/// Atomics, cloneable (a per-frame resource is cloned into one copy per frame slot).
struct Atomics(Vec<AtomicU64>);

impl Atomics {
    fn new(value: u64) -> Atomics {
        Atomics((0..LEN).map(|_| AtomicU64::new(value)).collect())
    }
}

impl Clone for Atomics {
    fn clone(&self) -> Self {
        Atomics(
            self.0
                .iter()
                .map(|x| AtomicU64::new(x.load(Ordering::Relaxed)))
                .collect(),
        )
    }
}

/// A writer fans out over many child jobs to fill two large vectors with the frame number (one
/// through `spawn` on disjoint chunks, one through `parallel_for_chunks` on atomics); a
/// reader checks, again fanned out, that every element holds this frame's number.
fn fill_and_check(per_frame: bool, in_flight: usize, frames_to_run: u64) {
    let bad = Arc::new(AtomicUsize::new(0));
    let checked = Arc::new(AtomicUsize::new(0));
    let mut graph = GraphBuilder::new();
    let (plain, atomic) = if per_frame {
        (
            graph.scratch("plain", vec![u64::MAX; LEN]),
            graph.scratch("atomic", Atomics::new(u64::MAX)),
        )
    } else {
        (
            graph.import("plain", vec![u64::MAX; LEN]),
            graph.import("atomic", Atomics::new(u64::MAX)),
        )
    };
    graph.pass("fill plain", plain.write(), |data, cx| {
        let n = cx.frame().number;
        for chunk in data.chunks_mut(512) {
            cx.spawn(move |_| chunk.fill(n));
        }
    });
    graph.pass("fill atomic", atomic.write(), |data, cx| {
        let n = cx.frame().number;
        let data: &[AtomicU64] = &data.0;
        cx.parallel_for_chunks(0..LEN, Grain::fixed(300).unwrap(), move |range| {
            for x in &data[range] {
                x.store(n, Ordering::Relaxed);
            }
        });
    });
    let (b, c) = (Arc::clone(&bad), Arc::clone(&checked));
    graph
        .pass(
            "check",
            (plain.read(), atomic.read()),
            move |(plain, atomic), cx| {
                let n = cx.frame().number;
                let b2 = Arc::clone(&b);
                cx.parallel_for_chunks(0..LEN, Grain::fixed(700).unwrap(), move |range| {
                    let wrong = plain[range].iter().filter(|&&x| x != n).count();
                    b2.fetch_add(wrong, Ordering::Relaxed);
                });
                for chunk in atomic.0.chunks(1000) {
                    let b = Arc::clone(&b);
                    cx.spawn(move |_| {
                        let wrong = chunk
                            .iter()
                            .filter(|x| x.load(Ordering::Relaxed) != n)
                            .count();
                        b.fetch_add(wrong, Ordering::Relaxed);
                    });
                }
                c.fetch_add(1, Ordering::Relaxed);
            },
        )
        .side_effect();
    let config = FramesConfig::default().in_flight(in_flight);
    let mut frames = Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
    for _ in 0..frames_to_run {
        frames.run_frame(DT).unwrap();
    }
    frames.finish().unwrap();
    assert_eq!(checked.load(Ordering::Relaxed), frames_to_run as usize);
    assert_eq!(
        bad.load(Ordering::Relaxed),
        0,
        "a reader saw a half-written resource ({in_flight} in flight, per-frame: {per_frame})"
    );
    let last = frames_to_run - 1;
    assert!(frames.resource(plain).unwrap().iter().all(|&x| x == last));
    assert!(frames
        .resource(atomic)
        .unwrap()
        .0
        .iter()
        .all(|x| x.load(Ordering::Relaxed) == last));
}

#[test]
fn a_reader_never_sees_a_half_written_imported_resource() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            fill_and_check(false, in_flight, 200);
        }
    });
}

#[test]
fn a_reader_never_sees_a_half_written_per_frame_resource() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            fill_and_check(true, in_flight, 200);
        }
    });
}

//! What a failed frame leaves (issue 12, item 6): a per-frame resource whose writers did not all
//! finish is, after the frame, the previous frame's copy (the next frame starts from the last
//! good state); an imported resource whose writer failed is poisoned until rewritten. Never
//! silently half-written.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{run_frames, system, watchdog, DT};
use frame::{FrameError, Frames, FramesConfig, GraphBuilder};

/// The case: a per-frame `[u32; 2]`, one frame in flight, two jobs each add 1 to one
/// half per frame, one of them panics in frame 2. The old code left `[5, 3]` after 5 frames (the
/// failed frame's copy held data from two frames earlier and later frames went on from it).
#[test]
fn a_failed_frame_leaves_the_previous_frames_copy() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let halves = graph.scratch("halves", [0u32; 2]);
        graph.pass(
            "add",
            (halves.read_previous(), halves.write()),
            |(before, after), cx| {
                let frame = cx.frame().number;
                let [low, high] = after;
                let [b0, b1] = *before;
                cx.spawn(move |_| *low = b0 + 1);
                cx.spawn(move |_| {
                    if frame == 2 {
                        panic!("half 1 fails in frame 2");
                    }
                    *high = b1 + 1;
                });
            },
        );
        let config = FramesConfig::default().in_flight(1);
        let mut frames = Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
        let errors = run_frames(&mut frames, 5);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(matches!(
            &errors[0],
            FrameError::PassPanicked { frame: 2, .. }
        ));
        // Frames 0, 1, 3 and 4 added one to each half; frame 2 left frame 1's [2, 2].
        assert_eq!(*frames.resource(halves).unwrap(), [4, 4]);
    });
}

/// The case with a carried resource (each job adds one to its half in place) and with
/// a scratch one (each job writes its half from the previous frame's), 1 to 3 frames in flight.
#[test]
fn carried_and_scratch_go_back_to_the_last_good_state_with_any_frames_in_flight() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            for carried in [true, false] {
                let mut graph = GraphBuilder::new();
                let halves = if carried {
                    graph.carried("halves", [0u32; 2])
                } else {
                    graph.scratch("halves", [0u32; 2])
                };
                graph.pass(
                    "add",
                    (halves.read_previous(), halves.write()),
                    move |(before, after), cx| {
                        let frame = cx.frame().number;
                        if !carried {
                            *after = *before;
                        }
                        let [low, high] = after;
                        cx.spawn(move |_| *low += 1);
                        cx.spawn(move |_| {
                            if frame == 2 || frame == 5 {
                                panic!("half 1 fails in frame {frame}");
                            }
                            *high += 1;
                        });
                    },
                );
                let config = FramesConfig::default().in_flight(in_flight);
                let mut frames =
                    Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
                let errors = run_frames(&mut frames, 9);
                let failed: Vec<u64> = errors
                    .iter()
                    .map(|e| match e {
                        FrameError::PassPanicked { frame, .. } => *frame,
                        other => panic!("{other:?}"),
                    })
                    .collect();
                assert_eq!(failed, [2, 5], "{in_flight} in flight, carried {carried}");
                assert_eq!(
                    *frames.resource(halves).unwrap(),
                    [7, 7],
                    "{in_flight} in flight, carried {carried}"
                );
            }
        }
    });
}

#[test]
fn a_frame_failing_every_time_leaves_the_initial_state() {
    watchdog(30, || {
        for in_flight in 1..=3 {
            let mut graph = GraphBuilder::new();
            let carried = graph.carried("carried", vec![1u8; 16]);
            let scratch = graph.scratch("scratch", vec![2u8; 16]);
            graph.pass(
                "break both",
                (carried.write(), scratch.write()),
                |(carried, scratch), _| {
                    carried[..8].fill(0);
                    scratch[..8].fill(0);
                    panic!("always");
                },
            );
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames =
                Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
            run_frames(&mut frames, 10);
            let history = frames.history();
            assert!(history.len() == 10 && history.iter().all(|f| f.failed));
            assert_eq!(*frames.last_completed(carried).unwrap(), vec![1u8; 16]);
            assert_eq!(*frames.resource(carried).unwrap(), vec![1u8; 16]);
            assert_eq!(*frames.resource(scratch).unwrap(), vec![2u8; 16]);
        }
    });
}

#[test]
fn a_resource_whose_writers_finished_keeps_the_failed_frames_value() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let good = graph.carried("good", 0u32);
        let bad = graph.carried("bad", 0u32);
        graph.pass("good", good.write(), |good, _| *good += 1);
        graph.pass("bad", (good.read(), bad.write()), |(_, bad), cx| {
            *bad += 1;
            assert!(cx.frame().number != 1, "bad fails in frame 1");
        });
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        let errors = run_frames(&mut frames, 3);
        assert_eq!(errors.len(), 1);
        assert_eq!(*frames.resource(good).unwrap(), 3, "every frame counted");
        assert_eq!(*frames.resource(bad).unwrap(), 2, "frame 1 put back");
    });
}

#[test]
fn an_imported_resource_left_half_written_is_poisoned_until_rewritten() {
    watchdog(30, || {
        for in_flight in 1..=3 {
            let mut graph = GraphBuilder::new();
            let pair = graph.import("pair", [0u32; 2]);
            let copy = graph.import("copy", [0u32; 2]);
            let fail_at = Arc::new(AtomicU64::new(2));
            let f = Arc::clone(&fail_at);
            graph.pass("count", pair.write(), move |pair, cx| {
                pair[0] += 1;
                assert!(
                    cx.frame().number != f.load(Ordering::SeqCst),
                    "count fails halfway"
                );
                pair[1] += 1;
            });
            let copied = Arc::new(AtomicU64::new(0));
            let c = Arc::clone(&copied);
            graph.pass(
                "copy",
                (pair.read(), copy.write()),
                move |(pair, copy), _| {
                    *copy = *pair;
                    c.fetch_add(1, Ordering::SeqCst);
                },
            );
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames =
                Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
            let errors = run_frames(&mut frames, 6);
            // Frame 2 fails; every later frame touching `pair` fails on the poison (`finish`
            // reports the first failure among the frames in flight).
            let failed: Vec<bool> = frames.history().iter().map(|f| f.failed).collect();
            assert_eq!(failed, [false, false, true, true, true, true]);
            assert!(matches!(
                &errors[0],
                FrameError::PassPanicked { frame: 2, .. }
            ));
            for error in &errors[1..] {
                let FrameError::PassPanicked { pass, message, .. } = error else {
                    panic!("{error:?}");
                };
                assert_eq!(pass, "count");
                assert!(
                    message.contains("`pair` is poisoned") && message.contains("frame 2"),
                    "{message}"
                );
            }
            assert_eq!(copied.load(Ordering::SeqCst), 2, "frames 0 and 1 only");
            let poisoned = frames.resource(pair).unwrap_err();
            assert_eq!(
                poisoned,
                FrameError::Poisoned {
                    resource: "pair".into(),
                    frame: 2,
                    pass: "count".into()
                }
            );
            assert!(frames.resource_mut(pair).is_err());
            assert_eq!(
                *frames.resource(copy).unwrap(),
                [2, 2],
                "never half-written"
            );
            fail_at.store(u64::MAX, Ordering::SeqCst);
            frames.rewrite(pair, [10, 10]).unwrap();
            assert!(run_frames(&mut frames, 9).is_empty());
            assert_eq!(*frames.resource(pair).unwrap(), [13, 13]);
            assert_eq!(*frames.resource(copy).unwrap(), [13, 13]);
        }
    });
}

/// A value whose `clone_from` panics when told to.
struct Fussy(u32, Arc<AtomicU64>);
impl Clone for Fussy {
    fn clone(&self) -> Self {
        Fussy(self.0, Arc::clone(&self.1))
    }
    fn clone_from(&mut self, source: &Self) {
        assert!(self.1.load(Ordering::SeqCst) == 0, "clone_from refuses");
        self.0 = source.0;
    }
}

#[test]
fn a_per_frame_resource_that_cannot_be_put_back_is_poisoned() {
    watchdog(30, || {
        let refuse = Arc::new(AtomicU64::new(0));
        let mut graph = GraphBuilder::new();
        let state = graph.scratch("state", Fussy(0, Arc::clone(&refuse)));
        let r = Arc::clone(&refuse);
        graph.pass(
            "step",
            (state.read_previous(), state.write()),
            move |(before, now), cx| {
                now.0 = before.0 + 1;
                if cx.frame().number == 2 {
                    r.store(1, Ordering::SeqCst);
                    panic!("step fails in frame 2");
                }
            },
        );
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        run_frames(&mut frames, 4);
        let failed: Vec<bool> = frames.history().iter().map(|f| f.failed).collect();
        assert_eq!(
            failed,
            [false, false, true, true],
            "frame 3 fails on the poison"
        );
        let poisoned = FrameError::Poisoned {
            resource: "state".into(),
            frame: 2,
            pass: "step".into(),
        };
        assert_eq!(frames.last_completed(state).err(), Some(poisoned.clone()));
        assert_eq!(frames.resource(state).err(), Some(poisoned));
        refuse.store(0, Ordering::SeqCst);
        frames
            .rewrite(state, Fussy(100, Arc::clone(&refuse)))
            .unwrap();
        assert!(run_frames(&mut frames, 6).is_empty());
        assert_eq!(frames.resource(state).unwrap().0, 102);
    });
}

#[test]
fn a_scratch_resource_whose_writer_is_switched_off_is_the_previous_frames() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let frozen = graph.flag("frozen");
        let state = graph.scratch("state", 0u64);
        graph
            .pass(
                "count",
                (state.read_previous(), state.write()),
                |(b, n), _| *n = b + 1,
            )
            .run_if(frame::Flag::SIMULATE);
        let seen = graph.import("seen", Vec::new());
        graph.pass("look", (state.read(), seen.write()), |(s, seen), _| {
            seen.push(*s)
        });
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        for n in 0..8 {
            let mut setup = frames.begin_frame().unwrap();
            setup.simulate(n % 3 != 2);
            setup.set_flag(frozen, true).unwrap();
            setup.start(DT).unwrap();
        }
        assert_eq!(*frames.resource(seen).unwrap(), [1, 2, 2, 3, 4, 4, 5, 6]);
    });
}

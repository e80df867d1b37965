//! A reduced suite of the frame graph's unsafe parts, small enough for Miri: resources behind
//! raw pointers, bodies and slots shared with jobs of overlapping frames, transient buffers in
//! the tagged heap, children borrowing resources, a panicking pass.
//!
//! `MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-strict-provenance" cargo +nightly miri test -p frame --test miri`
//!
//! It also runs as an ordinary test.

use std::sync::Arc;
use std::time::Duration;

use frame::{FrameError, Frames, FramesConfig, GraphBuilder, Pass, ReadPrevious, Write};
use jobs::{Action, Config, Context, JobSystem};

fn system() -> Arc<JobSystem> {
    Arc::new(
        JobSystem::new(
            Config::default()
                .workers(2)
                .core_affinity(false)
                .spin_before_sleep(Duration::ZERO)
                .heap_chunk_size(4096),
        )
        .expect("valid config"),
    )
}

const DT: Duration = Duration::from_millis(16);

#[test]
fn every_kind_of_resource_over_overlapping_frames() {
    for in_flight in 1..=3 {
        let mut graph = GraphBuilder::new();
        let step = graph.import("step", 2u64);
        let state = graph.scratch("state", vec![0u64; 8]);
        let scratch = graph.transient::<u64>("scratch", 8);
        let log = graph.import("log", Vec::<u64>::new());
        graph.pass(
            "simulate",
            (step.read(), state.read_previous(), state.write()),
            |(step, before, after), cx| {
                // Children borrow disjoint halves of the resource.
                let (left, right) = after.split_at_mut(4);
                let (old_left, old_right) = before.split_at(4);
                cx.spawn(move |_| {
                    for (n, o) in left.iter_mut().zip(old_left) {
                        *n = o + step;
                    }
                });
                cx.spawn(move |_| {
                    for (n, o) in right.iter_mut().zip(old_right) {
                        *n = o + step;
                    }
                });
            },
        );
        graph.pass("copy", (state.read(), scratch.write()), |(s, t), _| {
            t.copy_from_slice(s)
        });
        graph.pass("sum", (scratch.read(), log.write()), |(t, log), _| {
            log.push(t.iter().sum())
        });
        let mut frames = Frames::with_config(
            system(),
            graph.compile().expect("compiles"),
            FramesConfig::default().in_flight(in_flight),
        )
        .expect("valid");
        for _ in 0..4 {
            frames.run_frame(DT).expect("no pass panics");
        }
        assert_eq!(frames.resource(state).expect("ok"), &vec![8u64; 8]);
        assert_eq!(
            frames.resource(log).expect("ok"),
            &vec![16u64, 32, 48, 64],
            "in flight {in_flight}"
        );
        assert_eq!(frames.system().heap().stats().live_tags, 0);
    }
}

type Counting = Pass<u32, (ReadPrevious<u32>, Write<u32>)>;

fn count(_: &mut Counting, _cx: &mut Context<'_>) -> Action<Counting> {
    Action::Yield(|p, _| {
        let (runs, (before, after)) = p.parts();
        *runs += 1;
        *after = *before + 1;
        Action::Done
    })
}

#[test]
fn a_step_pass_and_a_panicking_pass() {
    let mut graph = GraphBuilder::new();
    let n = graph.scratch("n", 0u32);
    // Carried: the failed frame's copy goes back to the previous frame's (an imported `out`
    // would be poisoned by the panic).
    let out = graph.carried("out", 0u32);
    graph.step_pass("count", (n.read_previous(), n.write()), 0, count);
    graph.pass("check", (n.read(), out.write()), |(n, out), _| {
        if *n == 2 {
            panic!("two");
        }
        *out = *n;
    });
    let mut frames = Frames::new(system(), graph.compile().expect("compiles")).expect("valid");
    // A failed frame is reported by the call that completes it, which then starts nothing.
    let mut failures = 0;
    let mut started = 0;
    while started < 4 {
        match frames.run_frame(DT) {
            Ok(_) => started += 1,
            Err(FrameError::PassPanicked { pass, message, .. }) => {
                assert_eq!((pass.as_str(), message.as_str()), ("check", "two"));
                failures += 1;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    if let Err(FrameError::PassPanicked { .. }) = frames.finish() {
        failures += 1;
    }
    assert_eq!(failures, 1);
    assert_eq!(*frames.resource(n).expect("ok"), 4);
    assert_eq!(*frames.resource(out).expect("ok"), 4);
}

#[test]
fn put_back_and_poison_with_frames_in_flight() {
    // A scratch copy written from the previous one, its writer failing in frame 1 and switched
    // off in frame 3 (both put back by `clone_from` from the previous frame's copy), and an
    // imported resource poisoned in frame 1, then rewritten.
    let mut graph = GraphBuilder::new();
    let history = graph.scratch("history", vec![0u32; 4]);
    let shared = graph.import("shared", 0u32);
    graph
        .pass(
            "extend",
            (history.read_previous(), history.write(), shared.write()),
            |(before, now, shared), cx| {
                let n = cx.frame().number as u32;
                now.clone_from(before);
                now[(n % 4) as usize] += 1;
                *shared += 1;
                assert!(n != 1, "extend fails in frame 1");
            },
        )
        .simulate();
    let config = FramesConfig::default().in_flight(2);
    let mut frames =
        Frames::with_config(system(), graph.compile().expect("compiles"), config).expect("valid");
    let mut failed = 0;
    while frames.next_frame() < 5 {
        let n = frames.next_frame();
        match frames.begin_frame() {
            Ok(mut setup) => {
                setup.simulate(n != 3);
                setup.start(DT).expect("starts");
            }
            Err(_) => failed += 1,
        }
    }
    if frames.finish().is_err() {
        failed += 1;
    }
    assert!(failed >= 1);
    // Frame 0 counted, 1 failed, 2 poisoned by `shared`, 3 off, 4 poisoned.
    assert_eq!(*frames.resource(history).expect("put back"), [1, 0, 0, 0]);
    assert!(matches!(
        frames.resource(shared),
        Err(FrameError::Poisoned { frame: 1, .. })
    ));
    frames.rewrite(shared, 0).expect("rewritten");
    frames.run_frame(DT).expect("runs");
    frames.finish().expect("runs");
    assert_eq!(*frames.resource(history).expect("ok"), [1, 1, 0, 0]);
}

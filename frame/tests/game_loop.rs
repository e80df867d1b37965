//! The game loop: rejects bad rates, stops when the main thread's work says so, starts one frame
//! per simulation step and renders once a turn (a render-only frame when no step is due), hands
//! every frame's setup to the main thread's work (inputs per step), paces turns to the target
//! rate (checked only from below: a noisy machine may be slower, never faster), caps the steps
//! of a turn, and passes a failed frame on.

mod common;

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{system, watchdog};
use frame::{FrameError, Frames, GameLoop, GraphBuilder, Res, Turn};

/// A graph of one pass counting its frames, and the frames it runs in.
fn ticking() -> (Frames, Res<u64>) {
    let mut graph = GraphBuilder::new();
    let ticks = graph.import("ticks", 0u64);
    graph.pass("tick", ticks.write(), |ticks, cx| {
        assert_eq!(*ticks, cx.frame().number);
        *ticks += 1;
    });
    (
        Frames::new(system(2), graph.compile().unwrap()).unwrap(),
        ticks,
    )
}

type Flow = Result<ControlFlow<()>, FrameError>;

fn stop_after(turns: u64) -> impl FnMut(&mut Turn<'_>) -> Flow {
    move |turn| {
        if turn.turn >= turns {
            Ok(ControlFlow::Break(()))
        } else {
            Ok(ControlFlow::Continue(()))
        }
    }
}

#[test]
fn bad_rates_are_rejected() {
    for bad in [0.0, -1.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let error = GameLoop::new(bad).expect_err("a bad simulation rate");
        assert!(matches!(error, FrameError::BadRate(_)), "{error:?}");
        assert!(error.to_string().contains("rate"), "{error}");
        let error = GameLoop::new(60.0)
            .unwrap()
            .target_rate(bad)
            .expect_err("a bad target rate");
        assert!(matches!(error, FrameError::BadRate(_)), "{error:?}");
    }
    let game_loop = GameLoop::new(50.0).unwrap();
    assert_eq!(game_loop.timestep(), Duration::from_millis(20));
    assert!(game_loop.target_rate(144.0).is_ok());
}

#[test]
fn the_loop_stops_when_the_main_thread_breaks_and_frames_match_the_count() {
    watchdog(30, || {
        let (mut frames, ticks) = ticking();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let summary = GameLoop::new(1000.0)
            .unwrap()
            .run(&mut frames, move |turn| {
                if turn.first() {
                    s.lock()
                        .unwrap()
                        .push((turn.turn, turn.frames, turn.elapsed));
                }
                if turn.turn >= 25 {
                    Ok(ControlFlow::Break(()))
                } else {
                    Ok(ControlFlow::Continue(()))
                }
            })
            .unwrap();
        assert_eq!(summary.turns, 25);
        assert!(summary.frames >= 1, "the first turn runs a frame");
        assert!(summary.frames <= 25 * 4, "at most max_steps per turn");
        assert_eq!(*frames.resource(ticks).unwrap(), summary.frames);
        assert_eq!(frames.next_frame(), summary.frames);
        assert_eq!(
            frames.frames_in_flight(),
            0,
            "the loop waits for its frames"
        );
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.len(),
            26,
            "called once per turn, and once more to break"
        );
        for (i, pair) in seen.windows(2).enumerate() {
            assert_eq!(pair[0].0, i as u64);
            assert!(pair[0].1 <= pair[1].1, "frames only go up");
            assert!(pair[0].2 <= pair[1].2, "elapsed only goes up");
        }
        assert!(summary.elapsed >= seen.last().unwrap().2);
    });
}

#[test]
fn breaking_on_the_first_turn_runs_no_frame() {
    watchdog(30, || {
        let (mut frames, ticks) = ticking();
        let summary = GameLoop::new(60.0)
            .unwrap()
            .run(&mut frames, |_| Ok(ControlFlow::Break(())))
            .unwrap();
        assert_eq!(summary.turns, 0);
        assert_eq!(summary.frames, 0);
        assert_eq!(*frames.resource(ticks).unwrap(), 0);
    });
}

#[test]
fn pacing_does_not_run_faster_than_the_target_rate() {
    watchdog(30, || {
        let (mut frames, ticks) = ticking();
        let start = Instant::now();
        let summary = GameLoop::new(200.0)
            .unwrap()
            .target_rate(200.0)
            .unwrap()
            .run(&mut frames, stop_after(20))
            .unwrap();
        let took = start.elapsed();
        assert_eq!(summary.turns, 20);
        // 20 turns of 5 ms: the loop sleeps until each turn's deadline.
        assert!(took >= Duration::from_millis(80), "took {took:?}");
        assert!(summary.elapsed >= Duration::from_millis(80), "{summary:?}");
        assert_eq!(*frames.resource(ticks).unwrap(), summary.frames);
    });
}

#[test]
fn steps_beyond_the_per_turn_limit_are_dropped() {
    watchdog(30, || {
        let (mut frames, ticks) = ticking();
        // 1 ms steps, 10 ms turns, at most one step a turn: most steps are dropped.
        let game_loop = GameLoop::new(1000.0)
            .unwrap()
            .target_rate(100.0)
            .unwrap()
            .max_steps_per_turn(1)
            .unwrap();
        let summary = game_loop.run(&mut frames, stop_after(10)).unwrap();
        assert_eq!(summary.turns, 10);
        assert!(summary.steps <= 10, "{summary:?}");
        assert!(summary.dropped_steps > 0, "{summary:?}");
        // Every step of elapsed time was either run or dropped (but for the unspent rest, and
        // the first frame, which runs at once).
        let steps = summary.elapsed.as_secs_f64() / game_loop.timestep().as_secs_f64();
        assert!(
            (summary.steps + summary.dropped_steps) as f64 <= steps + 1.0,
            "{summary:?}"
        );
        assert_eq!(*frames.resource(ticks).unwrap(), summary.frames);
    });
}

#[test]
fn frames_carry_the_fixed_timestep_and_the_simulation_time() {
    watchdog(30, || {
        let infos = Arc::new(Mutex::new(Vec::new()));
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        let i = Arc::clone(&infos);
        graph
            .pass("note", x.write(), move |_, cx| {
                i.lock().unwrap().push(cx.frame())
            })
            .simulate();
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        let game_loop = GameLoop::new(250.0).unwrap();
        let summary = game_loop.run(&mut frames, stop_after(15)).unwrap();
        let mut infos = infos.lock().unwrap().clone();
        infos.sort_by_key(|f| f.number);
        assert_eq!(infos.len() as u64, summary.steps);
        for (n, info) in infos.iter().enumerate() {
            assert!(info.simulates());
            assert_eq!(info.dt, game_loop.timestep());
            // Frames that only render come between, with no simulation time.
            assert_eq!(info.time, game_loop.timestep() * n as u32);
        }
    });
}

#[test]
fn alpha_is_between_zero_and_one() {
    watchdog(30, || {
        let (mut frames, _) = ticking();
        let alphas = Arc::new(Mutex::new(Vec::new()));
        let a = Arc::clone(&alphas);
        let game_loop = GameLoop::new(1000.0).unwrap().target_rate(100.0).unwrap();
        game_loop
            .run(&mut frames, move |turn| {
                a.lock().unwrap().push(turn.alpha);
                if turn.turn >= 10 {
                    Ok(ControlFlow::Break(()))
                } else {
                    Ok(ControlFlow::Continue(()))
                }
            })
            .unwrap();
        let alphas = alphas.lock().unwrap();
        assert!(
            alphas.iter().all(|a| (0.0..=1.0).contains(a)),
            "alphas {alphas:?}"
        );
    });
}

#[test]
fn a_failed_frame_stops_the_loop_with_its_error() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        graph.pass("fragile", x.write(), |x, cx| {
            if cx.frame().number == 3 {
                panic!("fragile broke");
            }
            *x += 1;
        });
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        let error = GameLoop::new(1000.0)
            .unwrap()
            .run(&mut frames, |_| Ok(ControlFlow::Continue(())))
            .expect_err("frame 3 fails, the loop never breaks on its own");
        assert!(
            matches!(&error, FrameError::PassPanicked { frame: 3, pass, message, .. }
                if pass == "fragile" && message == "fragile broke"),
            "{error:?}"
        );
        // The frames in flight complete (the one after the failure fails too: `x`, imported,
        // was left half-written, so it is poisoned until rewritten).
        let _ = frames.finish();
        let poisoned = frames.resource(x).expect_err("poisoned");
        assert!(
            matches!(&poisoned, FrameError::Poisoned { frame: 3, pass, resource }
                if pass == "fragile" && resource == "x"),
            "{poisoned:?}"
        );
        frames.rewrite(x, 100).unwrap();
        frames.run_frame(std::time::Duration::ZERO).unwrap();
        assert_eq!(*frames.resource(x).unwrap(), 101);
    });
}

#[test]
fn a_failed_frame_leaves_no_frame_in_flight() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        graph.pass("fragile", x.write(), |_, cx| {
            if cx.frame().number == 3 {
                panic!("fragile broke");
            }
        });
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        let result = GameLoop::new(1000.0)
            .unwrap()
            .run(&mut frames, |_| Ok(ControlFlow::Continue(())));
        assert!(result.is_err());
        assert_eq!(
            frames.frames_in_flight(),
            0,
            "the loop waits for its frames"
        );
    });
}

/// What went wrong inside the passes.
type Wrong = Arc<Mutex<Vec<String>>>;

/// What each kind of pass saw: (frame number, dt, alpha, simulates, renders).
type Seen = Arc<Mutex<Vec<(u64, Duration, f32, bool, bool)>>>;

/// A graph with a simulation pass, a render pass and a pass in both parts, each noting the
/// frames it ran in; the simulation pass checks that its input is its own frame's.
fn parts() -> (Frames, Res<u64>, [Seen; 3], Wrong) {
    let seen: [Seen; 3] = Default::default();
    let wrong = Arc::new(Mutex::new(Vec::new()));
    let mut graph = GraphBuilder::new();
    let input = graph.scratch("input", u64::MAX);
    let state = graph.carried("state", 0u64);
    let note = |seen: &Seen, cx: &frame::PassContext<'_, '_, '_>| {
        let f = cx.frame();
        seen.lock()
            .unwrap()
            .push((f.number, f.dt, f.alpha, f.simulates(), f.renders()));
    };
    let (s, w) = (Arc::clone(&seen[0]), Arc::clone(&wrong));
    graph
        .pass(
            "simulate",
            (input.read(), state.write()),
            move |(input, state), cx| {
                note(&s, cx);
                if *input != cx.frame().number {
                    w.lock()
                        .unwrap()
                        .push(format!("frame {} got input {input}", cx.frame().number));
                }
                *state += 1;
            },
        )
        .simulate();
    let s = Arc::clone(&seen[1]);
    graph
        .pass("render", state.read(), move |_, cx| note(&s, cx))
        .render()
        .side_effect();
    let s = Arc::clone(&seen[2]);
    graph
        .pass("always", (), move |_, cx| note(&s, cx))
        .side_effect();
    let frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
    (frames, input, seen, wrong)
}

#[test]
fn inputs_are_filled_for_every_frame_and_simulation_runs_per_step_render_once_per_turn() {
    watchdog(60, || {
        let (mut frames, input, seen, wrong) = parts();
        let game_loop = GameLoop::new(1000.0).unwrap().target_rate(200.0).unwrap();
        let turns = Arc::new(Mutex::new(Vec::new()));
        let t = Arc::clone(&turns);
        let summary = game_loop
            .run(&mut frames, move |turn| {
                if turn.first() && turn.turn >= 20 {
                    return Ok(ControlFlow::Break(()));
                }
                // The frame about to start is frame `turn.frames`: its input says so.
                assert_eq!(turn.number(), turn.frames);
                *turn.per_frame_mut(input)? = turn.number();
                t.lock().unwrap().push((
                    turn.turn,
                    turn.step,
                    turn.steps,
                    turn.simulates(),
                    turn.renders(),
                ));
                Ok(ControlFlow::Continue(()))
            })
            .unwrap();
        assert!(
            wrong.lock().unwrap().is_empty(),
            "{:?}",
            wrong.lock().unwrap()
        );
        let [simulate, render, always] = seen.map(|s| s.lock().unwrap().clone());
        assert_eq!(summary.turns, 20);
        assert_eq!(simulate.len() as u64, summary.steps, "{summary:?}");
        assert_eq!(render.len() as u64, summary.turns, "one render a turn");
        assert_eq!(always.len() as u64, summary.frames);
        assert!(summary.steps >= 20, "5 ms turns of 1 ms steps: {summary:?}");
        for &(_, dt, _, simulates, renders) in &simulate {
            assert!(simulates);
            assert_eq!(dt, game_loop.timestep());
            let _ = renders;
        }
        for &(_, dt, alpha, simulates, renders) in &render {
            assert!(renders && (0.0..=1.0).contains(&alpha), "alpha {alpha}");
            assert_eq!(
                dt.is_zero(),
                !simulates,
                "a render-only frame simulates no time"
            );
        }
        // Each turn: its steps first, the last frame rendering (a lone render-only frame when
        // no step is due).
        let turns = turns.lock().unwrap();
        for turn in 0..20 {
            let frames: Vec<_> = turns.iter().filter(|t| t.0 == turn).collect();
            let steps = frames[0].2;
            assert_eq!(frames.len() as u32, steps.max(1), "turn {turn}: {frames:?}");
            for (i, &&(_, step, _, simulates, renders)) in frames.iter().enumerate() {
                assert_eq!(step, i as u32);
                assert_eq!(simulates, step < steps);
                assert_eq!(renders, i + 1 == frames.len());
            }
        }
    });
}

#[test]
fn with_no_step_due_a_turn_only_renders() {
    watchdog(30, || {
        let (mut frames, input, seen, _) = parts();
        // One step an hour: the first turn runs one, the others none.
        let game_loop = GameLoop::new(GameLoop::MIN_RATE)
            .unwrap()
            .target_rate(1000.0)
            .unwrap();
        let summary = game_loop
            .run(&mut frames, |turn| {
                *turn.per_frame_mut(input)? = turn.number();
                stop_after(10)(turn)
            })
            .unwrap();
        assert_eq!(summary.steps, 1);
        assert_eq!(summary.frames, 10, "one frame a turn");
        let [simulate, render, _] = seen.map(|s| s.lock().unwrap().clone());
        assert_eq!(simulate.len(), 1);
        assert_eq!(render.len(), 10);
        let mut render = render;
        render.sort_by_key(|r| r.0);
        for &(number, dt, alpha, simulates, _) in &render[1..] {
            assert!(!simulates && dt.is_zero(), "frame {number}");
            // A millisecond or so into an hour-long step.
            assert!(
                (0.0..0.01).contains(&alpha),
                "frame {number}: alpha {alpha}"
            );
        }
    });
}

#[test]
fn a_turn_runs_at_most_max_steps_and_drops_the_rest() {
    watchdog(60, || {
        let (mut frames, input, seen, _) = parts();
        // A million steps a second, at most 1000 a turn; the main thread stalls 20 ms once:
        // 20 000 steps due, 1000 run.
        let game_loop = GameLoop::new(GameLoop::MAX_RATE)
            .unwrap()
            .max_steps_per_turn(GameLoop::MAX_STEPS_PER_TURN)
            .unwrap();
        let steps = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&steps);
        let summary = game_loop
            .run(&mut frames, move |turn| {
                if turn.first() {
                    s.lock().unwrap().push(turn.steps);
                    if turn.turn == 1 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                *turn.per_frame_mut(input)? = turn.number();
                stop_after(4)(turn)
            })
            .unwrap();
        let steps = steps.lock().unwrap();
        assert!(
            steps.iter().all(|&n| n <= GameLoop::MAX_STEPS_PER_TURN),
            "{steps:?}"
        );
        assert_eq!(steps[2], GameLoop::MAX_STEPS_PER_TURN, "{steps:?}");
        assert!(summary.dropped_steps >= 15_000, "{summary:?}");
        assert_eq!(
            seen[0].lock().unwrap().len() as u64,
            summary.steps,
            "every step ran its simulation"
        );
    });
}

#[test]
fn an_error_or_a_panic_of_the_main_threads_work_leaves_no_frame_in_flight() {
    watchdog(30, || {
        let (mut frames, ticks) = ticking();
        let error = GameLoop::new(1000.0)
            .unwrap()
            .run(&mut frames, |turn| {
                if turn.turn == 3 {
                    return Err(FrameError::BadRate("the game's own".into()));
                }
                Ok(ControlFlow::Continue(()))
            })
            .expect_err("the closure's error");
        assert_eq!(error, FrameError::BadRate("the game's own".into()));
        assert_eq!(frames.frames_in_flight(), 0);
        let started = frames.next_frame();
        assert_eq!(*frames.resource(ticks).unwrap(), started);

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            GameLoop::new(1000.0).unwrap().run(&mut frames, |turn| {
                assert!(turn.turn < 2, "the main thread's work panics");
                Ok(ControlFlow::Continue(()))
            })
        }));
        assert!(panicked.is_err());
        // The frames it started still complete.
        frames.finish().unwrap();
        let started = frames.next_frame();
        assert_eq!(*frames.resource(ticks).unwrap(), started);
    });
}

#[test]
fn a_frame_failing_every_time_stops_the_loop_at_the_first() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let x = graph.carried("x", 0u64);
        graph.pass("broken", x.write(), |_, _| panic!("always"));
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        for round in 0..3 {
            let error = GameLoop::new(1000.0)
                .unwrap()
                .run(&mut frames, |_| Ok(ControlFlow::Continue(())))
                .expect_err("fails");
            assert!(
                matches!(&error, FrameError::PassPanicked { pass, .. } if pass == "broken"),
                "round {round}: {error:?}"
            );
            assert_eq!(frames.frames_in_flight(), 0);
            // A carried resource is put back: never half-written, never poisoned.
            assert_eq!(*frames.resource(x).unwrap(), 0);
        }
    });
}

#[test]
fn a_main_thread_pass_runs_while_the_loop_paces_not_at_the_next_turn() {
    // A worker pass takes a few ms, then a main-thread pass (a present) depends on it. Turns
    // are 100 ms apart, two frames in flight: the present must run during the pacing of its
    // own turn, not wait for the next turn's frames. It used to: the loop slept, and ran the
    // main thread's jobs only after the next turn's frames had started.
    watchdog(60, || {
        let mut graph = GraphBuilder::new();
        let image = graph.import("image", 0u64);
        let presented = Arc::new(Mutex::new(Vec::new()));
        graph.pass("render", image.write(), |image, _| {
            std::thread::sleep(Duration::from_millis(5));
            *image += 1;
        });
        let p = presented.clone();
        graph
            .pass("present", image.read(), move |image, cx| {
                p.lock().unwrap().push((cx.frame().number, *image));
            })
            .on_main_thread()
            .side_effect();
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        let late = Arc::new(Mutex::new(Vec::new()));
        let game_loop = GameLoop::new(10.0).unwrap().target_rate(10.0).unwrap();
        let (l, p) = (late.clone(), presented.clone());
        game_loop
            .run(&mut frames, move |turn| {
                if turn.turn >= 6 {
                    return Ok(ControlFlow::Break(()));
                }
                if turn.first() && turn.turn > 0 {
                    // Every earlier turn's frame has been presented by now.
                    let shown = p.lock().unwrap().len() as u64;
                    if shown < turn.frames {
                        l.lock().unwrap().push((turn.turn, shown, turn.frames));
                    }
                }
                Ok(ControlFlow::Continue(()))
            })
            .unwrap();
        assert!(
            late.lock().unwrap().is_empty(),
            "(turn, frames presented, frames started): {:?}",
            late.lock().unwrap()
        );
        assert_eq!(presented.lock().unwrap().len(), 6);
    });
}

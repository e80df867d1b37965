//! The game loop: rejects bad rates, stops when the main thread's work says so, starts one frame
//! per simulation step, paces turns to the target rate (checked only from below: a noisy
//! machine may be slower, never faster), and passes a failed frame on.

mod common;

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{system, watchdog};
use frame::{FrameError, Frames, GameLoop, GraphBuilder, Res};

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

fn stop_after(turns: u64) -> impl FnMut(&frame::Turn) -> ControlFlow<()> {
    move |turn| {
        if turn.turn >= turns {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
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
                s.lock()
                    .unwrap()
                    .push((turn.turn, turn.frames, turn.elapsed));
                if turn.turn >= 25 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
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
            .run(&mut frames, |_| ControlFlow::Break(()))
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
        assert!(summary.frames <= 10, "{summary:?}");
        assert!(summary.dropped_steps > 0, "{summary:?}");
        // Every step of elapsed time was either run or dropped (but for the unspent rest, and
        // the first frame, which runs at once).
        let steps = summary.elapsed.as_secs_f64() / game_loop.timestep().as_secs_f64();
        assert!(
            (summary.frames + summary.dropped_steps) as f64 <= steps + 1.0,
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
        graph.pass("note", x.write(), move |_, cx| {
            i.lock().unwrap().push(cx.frame())
        });
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        let game_loop = GameLoop::new(250.0).unwrap();
        let summary = game_loop.run(&mut frames, stop_after(15)).unwrap();
        let mut infos = infos.lock().unwrap().clone();
        infos.sort_by_key(|f| f.number);
        assert_eq!(infos.len() as u64, summary.frames);
        for (n, info) in infos.iter().enumerate() {
            assert_eq!(info.number, n as u64);
            assert_eq!(info.dt, game_loop.timestep());
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
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
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
            .run(&mut frames, |_| ControlFlow::Continue(()))
            .expect_err("frame 3 fails, the loop never breaks on its own");
        assert!(
            matches!(&error, FrameError::PassPanicked { frame: 3, pass, message, .. }
                if pass == "fragile" && message == "fragile broke"),
            "{error:?}"
        );
        // The frames in flight complete normally afterwards.
        frames.finish().unwrap();
        assert!(*frames.resource(x).unwrap() >= 3);
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
            .run(&mut frames, |_| ControlFlow::Continue(()));
        assert!(result.is_err());
        assert_eq!(
            frames.frames_in_flight(),
            0,
            "the loop waits for its frames"
        );
    });
}

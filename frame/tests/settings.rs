//! Every setting of the frame loop at its extremes (0, 1, `usize::MAX`, zero and endless
//! durations, NaN, infinities, negative and tiny rates): each either works or is an error that
//! names the value and the range allowed; none panics or hangs.

mod common;

use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::Duration;

use common::{system, watchdog};
use frame::{FrameError, Frames, FramesConfig, GameLoop, GraphBuilder};

/// A graph of one pass counting its frames.
fn ticking() -> frame::Graph {
    let mut graph = GraphBuilder::new();
    let ticks = graph.import("ticks", 0u64);
    graph.pass("tick", ticks.write(), |ticks, _| *ticks += 1);
    graph.compile().unwrap()
}

/// Asserts that `error`'s message names `value` and `range`.
fn names(error: &FrameError, value: &str, range: &str) {
    let message = error.to_string();
    assert!(message.contains(value), "{message:?} should name {value}");
    assert!(message.contains(range), "{message:?} should name {range}");
}

#[test]
fn a_history_too_long_is_an_error_not_a_panic() {
    // `history(usize::MAX)` used to panic making room for the history.
    for keep in [usize::MAX, 100_001] {
        let config = FramesConfig::default().history(keep);
        let error = Frames::with_config(system(1), ticking(), config)
            .err()
            .unwrap_or_else(|| panic!("history({keep}) was accepted"));
        names(&error, &format!("history({keep})"), "0 to 100000");
    }
}

#[test]
fn frames_in_flight_out_of_range_are_errors() {
    for bad in [0, 4, usize::MAX] {
        let config = FramesConfig::default().in_flight(bad);
        let error = Frames::with_config(system(1), ticking(), config)
            .err()
            .unwrap();
        assert_eq!(error, FrameError::BadFramesInFlight(bad));
        names(&error, &bad.to_string(), "1, 2 or 3");
    }
}

#[test]
fn every_frames_setting_works_at_its_allowed_extremes() {
    watchdog(60, || {
        for config in [
            FramesConfig::default().in_flight(1).history(0).budget(None),
            FramesConfig::default()
                .in_flight(3)
                .history(100_000)
                .budget(Some(Duration::ZERO)),
            FramesConfig::default()
                .history(1)
                .budget(Some(Duration::MAX)),
        ] {
            let mut frames = Frames::with_config(system(2), ticking(), config.clone()).unwrap();
            for _ in 0..5 {
                frames.run_frame(Duration::ZERO).unwrap();
            }
            frames.run_frame(Duration::MAX).unwrap();
            frames.finish().unwrap();
            assert!(frames.history().len() <= 6, "{config:?}");
        }
    });
}

/// Runs `game_loop` for `turns` turns on its own thread; fails the test if it has not returned
/// within `seconds` (the thread is left behind, spinning, until the test binary exits: the
/// suite does not hang).
fn runs_and_returns(game_loop: GameLoop, turns: u64, seconds: u64) {
    let (done, finished) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        let _done = done;
        let mut graph = GraphBuilder::new();
        let ticks = graph.import("ticks", 0u64);
        graph.pass("tick", ticks.write(), |ticks, _| *ticks += 1);
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        let summary = game_loop
            .run(&mut frames, |turn| {
                if turn.turn >= turns {
                    Ok(ControlFlow::Break(()))
                } else {
                    Ok(ControlFlow::Continue(()))
                }
            })
            .unwrap();
        assert_eq!(*frames.resource(ticks).unwrap(), summary.frames);
        summary
    });
    match finished.recv_timeout(Duration::from_secs(seconds)) {
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("GameLoop::run did not return within {seconds} s")
        }
        _ => {
            let summary = handle.join().expect("the loop panicked");
            assert_eq!(summary.turns, turns);
        }
    }
}

#[test]
fn a_rate_too_high_is_an_error_not_a_loop_that_never_returns() {
    // `GameLoop::new(1e12)` used to make a 0 ns step: `run` then counted dropped steps forever.
    for rate in [1e12, 1e300, f64::MAX, 1_000_001.0] {
        match GameLoop::new(rate) {
            Err(error) => names(&error, &format!("{rate:?}"), "to 1000000"),
            Ok(game_loop) => {
                runs_and_returns(game_loop, 3, 10);
                panic!("GameLoop::new({rate}) was accepted");
            }
        }
        let error = GameLoop::new(60.0).unwrap().target_rate(rate).unwrap_err();
        names(&error, &format!("{rate:?}"), "to 1000000");
    }
}

#[test]
fn a_rate_too_low_is_an_error_not_a_panic() {
    // `GameLoop::new(1e-300)` used to panic making a step of 1e300 s.
    for rate in [1e-300, f64::MIN_POSITIVE, 5e-324, 1.0 / 3601.0] {
        let error = GameLoop::new(rate)
            .err()
            .unwrap_or_else(|| panic!("GameLoop::new({rate}) was accepted"));
        names(&error, &format!("{rate:?}"), "to 1000000");
        let error = GameLoop::new(60.0).unwrap().target_rate(rate).unwrap_err();
        names(&error, &format!("{rate:?}"), "to 1000000");
    }
    for bad in [0.0, -0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let error = GameLoop::new(bad).unwrap_err();
        names(&error, &format!("{bad:?}"), "to 1000000");
    }
}

#[test]
fn the_loop_runs_at_the_extreme_rates_allowed() {
    // The fastest step with the fastest pacing, and the most steps a turn.
    let fastest = GameLoop::new(GameLoop::MAX_RATE)
        .unwrap()
        .target_rate(GameLoop::MAX_RATE)
        .unwrap()
        .max_steps_per_turn(GameLoop::MAX_STEPS_PER_TURN)
        .unwrap();
    assert!(fastest.timestep() >= Duration::from_nanos(999));
    runs_and_returns(fastest, 20, 60);
    // One step an hour: the first turn runs a step, later ones none.
    let slowest = GameLoop::new(GameLoop::MIN_RATE)
        .unwrap()
        .target_rate(1000.0)
        .unwrap()
        .max_steps_per_turn(1)
        .unwrap();
    assert!(slowest.timestep().abs_diff(Duration::from_secs(3600)) < Duration::from_micros(1));
    runs_and_returns(slowest, 3, 30);
    // Valid; running it would sleep an hour a turn.
    assert!(GameLoop::new(1000.0)
        .unwrap()
        .target_rate(GameLoop::MIN_RATE)
        .is_ok());
}

#[test]
fn steps_per_turn_out_of_range_are_errors() {
    for steps in [0, GameLoop::MAX_STEPS_PER_TURN + 1, u32::MAX] {
        let error = GameLoop::new(60.0)
            .unwrap()
            .max_steps_per_turn(steps)
            .unwrap_err();
        assert_eq!(error, FrameError::BadStepsPerTurn(steps));
        names(&error, &format!("max_steps_per_turn({steps})"), "1 to 1000");
    }
}

#[test]
fn a_long_pause_drops_its_steps_at_once() {
    // A 1 us step after a 200 ms pause: 200 000 steps to drop, counted in one division.
    let game_loop = GameLoop::new(GameLoop::MAX_RATE).unwrap();
    watchdog(60, move || {
        let mut frames = Frames::new(system(1), ticking()).unwrap();
        let summary = game_loop
            .run(&mut frames, |turn| {
                if turn.first() && turn.turn == 1 {
                    std::thread::sleep(Duration::from_millis(200));
                }
                if turn.turn >= 3 {
                    Ok(ControlFlow::Break(()))
                } else {
                    Ok(ControlFlow::Continue(()))
                }
            })
            .unwrap();
        assert!(summary.dropped_steps >= 190_000, "{summary:?}");
    });
}

#[test]
fn a_history_at_the_limit_is_allowed_and_the_error_is_typed() {
    let config = FramesConfig::default().history(FramesConfig::MAX_HISTORY);
    assert!(Frames::with_config(system(1), ticking(), config).is_ok());
    let config = FramesConfig::default().history(usize::MAX);
    let error = Frames::with_config(system(1), ticking(), config).err();
    assert_eq!(error, Some(FrameError::HistoryTooLong(usize::MAX)));
}

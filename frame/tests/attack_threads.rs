//! An outside tester's attack on the issue-12 thread features of `frame`, through the public API
//! only: passes on a registered render thread that drives its own `run_pinned_until` loop (1 to
//! 3 frames in flight), that thread leaving mid-run (by dropping its registration, by exiting,
//! by panicking), a pass pinned to a thread of another job system, `GameLoop` with main-thread
//! passes at 1 Hz and 10 000 Hz and run from a thread that is not the system's main thread,
//! `FramesConfig::lowest_to_run(High)` with Normal passes, and Low background jobs flooding the
//! workers while frames run.
//!
//! Tests that could hang run under `soft_watchdog`, which fails the test (instead of aborting
//! the process as `common::watchdog` does) so that the other tests still report; the threads
//! such a hang leaves behind sleep, they do not spin.

mod common;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use common::{run_frames, soft_watchdog, system, DT};
use frame::{Frames, FramesConfig, GameLoop, GraphBuilder, Pass, Res, Write};
use jobs::{Action, Context, Job, JobSystem, PinnedThread, Priority};

const WATCH: u64 = 30;

/// How a render thread leaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Leave {
    /// Only when told to stop, dropping its registration.
    Never,
    /// After running `n` pinned jobs, dropping its registration, then staying alive.
    Drop(usize),
    /// After `n` pinned jobs, exiting with the registration still held.
    Exit(usize),
    /// After `n` pinned jobs, exiting with the registration forgotten (`mem::forget`).
    Forget(usize),
    /// After `n` pinned jobs, panicking with the registration held.
    Panic(usize),
}

struct RenderThread {
    thread: PinnedThread,
    id: ThreadId,
    stop: Arc<AtomicBool>,
    ran: Arc<AtomicUsize>,
    left: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl RenderThread {
    /// A thread that registers with `system` and runs the jobs pinned to it with
    /// `run_pinned_until` in 2 ms slices, until told to stop or until it leaves as `leave` says.
    fn start(system: &Arc<JobSystem>, leave: Leave) -> RenderThread {
        let (to_test, from_thread) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let ran = Arc::new(AtomicUsize::new(0));
        let left = Arc::new(AtomicBool::new(false));
        let handle = {
            let (system, stop, ran, left) =
                (system.clone(), stop.clone(), ran.clone(), left.clone());
            std::thread::Builder::new()
                .name("render".into())
                .spawn(move || {
                    let registration = system.register_thread().expect("a slot is free");
                    to_test
                        .send((registration.thread(), std::thread::current().id()))
                        .unwrap();
                    let limit = match leave {
                        Leave::Never => usize::MAX,
                        Leave::Drop(n) | Leave::Exit(n) | Leave::Forget(n) | Leave::Panic(n) => n,
                    };
                    while !stop.load(SeqCst) && ran.load(SeqCst) < limit {
                        let soon = Instant::now() + Duration::from_millis(2);
                        let n = system.run_pinned_until(soon).expect("registered");
                        ran.fetch_add(n, SeqCst);
                    }
                    match leave {
                        Leave::Never | Leave::Drop(_) => {
                            drop(registration);
                            left.store(true, SeqCst);
                            // Stay alive (unregistered) until told to stop.
                            while !stop.load(SeqCst) {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        }
                        Leave::Exit(_) => {
                            left.store(true, SeqCst);
                            drop(system);
                            // The registration drops with this frame as the thread exits.
                            let _keep = registration;
                        }
                        Leave::Forget(_) => {
                            std::mem::forget(registration);
                            left.store(true, SeqCst);
                        }
                        Leave::Panic(_) => {
                            let _keep = registration;
                            left.store(true, SeqCst);
                            panic!("the render thread panicked on purpose");
                        }
                    }
                })
                .expect("spawn the render thread")
        };
        let (thread, id) = from_thread.recv().expect("the render thread registered");
        RenderThread {
            thread,
            id,
            stop,
            ran,
            left,
            handle: Some(handle),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for RenderThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A graph of three passes: `simulate` on a worker (counts a carried state up), `submit` on
/// `render` (copies the state into an imported list with its thread), and `present` on the main
/// thread (records what it saw).
struct Chain {
    frames: Frames,
    submitted: Res<Vec<(u64, ThreadId, u64)>>,
    presented: Res<Vec<(u64, ThreadId)>>,
    state: Res<u64>,
}

fn chain(system: &Arc<JobSystem>, render: PinnedThread, in_flight: usize) -> Chain {
    let mut graph = GraphBuilder::new();
    let state = graph.carried("state", 0u64);
    let submitted = graph.import("submitted", Vec::new());
    let presented = graph.import("presented", Vec::new());
    graph.pass("simulate", state.write(), |s, _| *s += 1);
    graph
        .pass(
            "submit",
            (state.read(), submitted.write()),
            |(s, out), cx| {
                out.push((cx.frame().number, std::thread::current().id(), *s));
            },
        )
        .on_thread(render);
    graph
        .pass(
            "present",
            (submitted.read(), presented.write()),
            |(_, p), cx| {
                p.push((cx.frame().number, std::thread::current().id()));
            },
        )
        .on_main_thread()
        .side_effect();
    let config = FramesConfig::default().in_flight(in_flight);
    let frames = Frames::with_config(system.clone(), graph.compile().unwrap(), config).unwrap();
    Chain {
        frames,
        submitted,
        presented,
        state,
    }
}

// ---------------------------------------------------------------------------------------------
// A render thread that stays.

#[test]
fn a_pass_on_a_render_thread_runs_there_every_frame_with_one_to_three_in_flight() {
    soft_watchdog(WATCH, || {
        let main = std::thread::current().id();
        for in_flight in 1..=3 {
            let system = system(2);
            let mut render = RenderThread::start(&system, Leave::Never);
            let mut c = chain(&system, render.thread, in_flight);
            let errors = run_frames(&mut c.frames, 25);
            assert!(errors.is_empty(), "in flight {in_flight}: {errors:?}");
            let submitted = c.frames.resource(c.submitted).unwrap().clone();
            assert_eq!(submitted.len(), 25, "in flight {in_flight}");
            for (k, &(frame, id, state)) in submitted.iter().enumerate() {
                assert_eq!(frame, k as u64, "frames in order");
                assert_eq!(id, render.id, "frame {frame} not on the render thread");
                assert_eq!(state, frame + 1, "frame {frame} saw its own simulate");
            }
            let presented = c.frames.resource(c.presented).unwrap().clone();
            assert_eq!(presented.len(), 25);
            assert!(presented.iter().all(|&(_, id)| id == main));
            assert_eq!(*c.frames.resource(c.state).unwrap(), 25);
            render.stop();
            assert!(render.ran.load(SeqCst) >= 25, "run_pinned_until's counts");
        }
    });
}

/// The render thread owns the frames (as in `PassConfig::on_thread`'s example) and its passes
/// run while its own `run_frame` waits, with up to three frames in flight.
#[test]
fn the_render_thread_that_owns_the_frames_runs_its_passes_while_it_waits() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        std::thread::scope(|s| {
            for in_flight in 1..=3 {
                let system = &system;
                s.spawn(move || {
                    let render = system.register_thread().unwrap();
                    let here = std::thread::current().id();
                    let mut graph = GraphBuilder::new();
                    let state = graph.carried("state", 0u64);
                    let seen = graph.import("seen", Vec::new());
                    graph.pass("simulate", state.write(), |s, _| *s += 1);
                    graph
                        .pass("submit", (state.read(), seen.write()), |(s, seen), _| {
                            seen.push((*s, std::thread::current().id()));
                        })
                        .on_thread(render.thread());
                    let config = FramesConfig::default().in_flight(in_flight);
                    let mut frames =
                        Frames::with_config(system.clone(), graph.compile().unwrap(), config)
                            .unwrap();
                    let errors = run_frames(&mut frames, 22);
                    assert!(errors.is_empty(), "{errors:?}");
                    let seen = frames.resource(seen).unwrap().clone();
                    assert_eq!(seen.len(), 22);
                    for (k, &(s, id)) in seen.iter().enumerate() {
                        assert_eq!((s, id), (k as u64 + 1, here));
                    }
                });
            }
        });
    });
}

/// `on_thread(PinnedThread::MAIN)` is `on_main_thread()`; the last of the two calls wins.
#[test]
fn on_thread_main_and_the_last_call_wins() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        let main = std::thread::current().id();
        let mut render = RenderThread::start(&system, Leave::Never);
        let mut graph = GraphBuilder::new();
        let seen = graph.import("seen", Vec::new());
        let a = graph
            .pass("a", seen.write(), |s, _| {
                s.push(("a", std::thread::current().id()))
            })
            .on_thread(PinnedThread::MAIN)
            .id();
        let b = graph
            .pass("b", seen.write(), |s, _| {
                s.push(("b", std::thread::current().id()))
            })
            .on_main_thread()
            .on_thread(render.thread)
            .after(a)
            .id();
        graph
            .pass("c", seen.write(), |s, _| {
                s.push(("c", std::thread::current().id()))
            })
            .on_thread(render.thread)
            .on_main_thread()
            .after(b);
        let mut frames = Frames::new(system.clone(), graph.compile().unwrap()).unwrap();
        assert!(run_frames(&mut frames, 5).is_empty());
        let seen = frames.resource(seen).unwrap().clone();
        assert_eq!(seen.len(), 15);
        for (name, id) in seen {
            let want = if name == "b" { render.id } else { main };
            assert_eq!(id, want, "pass {name}");
        }
        render.stop();
    });
}

// ---------------------------------------------------------------------------------------------
// The render thread leaves.

fn leaves_mid_run(leave: Leave, in_flight: usize) {
    let system = system(2);
    let mut render = RenderThread::start(&system, leave);
    let mut c = chain(&system, render.thread, in_flight);
    let mut errors = Vec::new();
    let mut ok_frames = Vec::new();
    // Run until the thread has left, then 15 frames more.
    let mut after = 0;
    while after < 15 {
        if render.left.load(SeqCst) {
            after += 1;
        }
        match c.frames.run_frame(DT) {
            Ok(n) => ok_frames.push(n),
            Err(e) => errors.push(e),
        }
        assert!(c.frames.next_frame() < 10_000, "the thread never left");
    }
    if let Err(e) = c.frames.finish() {
        errors.push(e);
    }
    let what = format!("{leave:?}, {in_flight} in flight");
    assert!(!errors.is_empty(), "{what}: no frame failed");
    for e in &errors {
        let text = e.to_string();
        assert!(
            text.contains("unregistered or exited") || text.contains("submit"),
            "{what}: {text}"
        );
    }
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("unregistered or exited")),
        "{what}: no error says the thread left: {errors:?}"
    );
    // The frames after the thread left all failed; the resources are still readable and hold
    // the last good frame's writes.
    let submitted = c.frames.resource(c.submitted).unwrap().clone();
    assert!(
        submitted.iter().all(|&(_, id, _)| id == render.id),
        "{what}"
    );
    assert!(
        submitted.len() <= render.ran.load(SeqCst),
        "{what}: {} submits, {} ran",
        submitted.len(),
        render.ran.load(SeqCst)
    );
    for &(frame, _, state) in &submitted {
        assert_eq!(state, frame + 1, "{what}");
    }
    // The frame loop goes on after the failures: a graph without the render pass runs.
    let presented = c.frames.resource(c.presented).unwrap().len();
    assert_eq!(
        presented,
        submitted.len(),
        "{what}: present skipped after a failed submit"
    );
    render.stop();
}

#[test]
fn a_render_thread_dropping_its_registration_mid_run_fails_the_frames_with_a_message() {
    soft_watchdog(WATCH, || {
        for in_flight in 1..=3 {
            leaves_mid_run(Leave::Drop(8), in_flight);
        }
    });
}

#[test]
fn a_render_thread_exiting_mid_run_fails_the_frames_with_a_message() {
    soft_watchdog(WATCH, || {
        for in_flight in 1..=3 {
            leaves_mid_run(Leave::Exit(6), in_flight);
        }
    });
}

#[test]
fn a_render_thread_forgetting_its_registration_and_exiting_fails_the_frames() {
    soft_watchdog(WATCH, || {
        for in_flight in [1, 3] {
            leaves_mid_run(Leave::Forget(5), in_flight);
        }
    });
}

#[test]
fn a_render_thread_panicking_mid_run_fails_the_frames_with_a_message() {
    soft_watchdog(WATCH, || {
        for in_flight in [2, 3] {
            leaves_mid_run(Leave::Panic(7), in_flight);
        }
    });
}

/// The render thread leaves while submit passes are queued in its inbox: the thread is busy in
/// a pinned job of its own (the one job it runs before it leaves) while three frames start.
#[test]
fn a_render_thread_leaving_with_submits_queued_fails_those_frames() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        let mut render = RenderThread::start(&system, Leave::Drop(1));
        let (started, gate) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let busy = system.counter();
        let (s, g) = (started.clone(), gate.clone());
        system.submit_counted(
            &busy,
            Job::from_fn(move |_| {
                s.store(true, SeqCst);
                while !g.load(SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                // Past the render thread's 2 ms slice of run_pinned_until, for sure.
                std::thread::sleep(Duration::from_millis(20));
            })
            .pinned_to(render.thread),
        );
        assert!(common_poll(10, || started.load(SeqCst)));
        let mut c = chain(&system, render.thread, 3);
        let mut errors = Vec::new();
        for _ in 0..3 {
            if let Err(e) = c.frames.run_frame(DT) {
                errors.push(e);
            }
        }
        assert_eq!(c.frames.frames_in_flight(), 3);
        gate.store(true, SeqCst);
        if let Err(e) = c.frames.finish() {
            errors.push(e);
        }
        assert!(
            !errors.is_empty(),
            "a queued submit ran on a thread that left"
        );
        assert!(
            errors
                .iter()
                .all(|e| e.to_string().contains("unregistered or exited")),
            "{errors:?}"
        );
        assert!(c.frames.resource(c.submitted).unwrap().is_empty());
        assert_eq!(
            *c.frames.resource(c.state).unwrap(),
            3,
            "simulate ran in every frame"
        );
        system.wait(&busy).unwrap();
        render.stop();
    });
}

/// Polls `done` every millisecond for up to `seconds`.
fn common_poll(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    done()
}

/// A step pass on the render thread that yields: the thread leaves between its steps.
#[test]
fn a_yielding_step_pass_whose_thread_leaves_between_steps_fails_its_frame() {
    soft_watchdog(WATCH, || {
        type P = Pass<u32, Write<Vec<ThreadId>>>;
        fn step(p: &mut P, _: &mut Context<'_>) -> Action<P> {
            let (n, seen) = p.parts();
            seen.push(std::thread::current().id());
            *n += 1;
            std::thread::sleep(Duration::from_millis(1));
            Action::Yield(step)
        }
        let system = system(2);
        let mut render = RenderThread::start(&system, Leave::Drop(50));
        let mut graph = GraphBuilder::new();
        let seen = graph.import("seen", Vec::new());
        graph
            .step_pass("forever", seen.write(), 0u32, step)
            .on_thread(render.thread);
        let mut frames = Frames::new(system.clone(), graph.compile().unwrap()).unwrap();
        let errors = run_frames(&mut frames, 1);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].to_string().contains("unregistered or exited"),
            "{}",
            errors[0]
        );
        // Never resumed elsewhere.
        let seen = frames.resource(seen);
        match seen {
            Ok(seen) => assert!(seen.iter().all(|&id| id == render.id)),
            Err(e) => assert!(e.to_string().contains("forever"), "{e}"),
        }
        render.stop();
    });
}

// ---------------------------------------------------------------------------------------------
// Another system's thread.

/// A pass pinned to a thread registered with another job system fails its frame with a message
/// and never runs, not even on this system's own thread of the same slot.
#[test]
fn a_pass_on_another_systems_thread_fails_and_never_runs_on_a_thread_of_this_one() {
    soft_watchdog(WATCH, || {
        let a = system(2);
        let b = system(1);
        // Both systems get a registered thread in their first slot.
        let mut a_render = RenderThread::start(&a, Leave::Never);
        let mut b_render = RenderThread::start(&b, Leave::Never);
        let ran = Arc::new(AtomicUsize::new(0));
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        let r = ran.clone();
        graph
            .pass("foreign", x.write(), move |x, _| {
                r.fetch_add(1, SeqCst);
                *x += 1;
            })
            .on_thread(b_render.thread);
        let mut frames = Frames::new(a.clone(), graph.compile().unwrap()).unwrap();
        let errors = run_frames(&mut frames, 5);
        assert_eq!(ran.load(SeqCst), 0, "the pass ran");
        assert!(!errors.is_empty(), "no frame failed");
        for e in &errors {
            assert!(e.to_string().contains("foreign"), "{e}");
        }
        assert_eq!(
            a_render.ran.load(SeqCst),
            0,
            "a's render thread ran something"
        );
        a_render.stop();
        b_render.stop();
    });
}

// ---------------------------------------------------------------------------------------------
// GameLoop.

fn presenting_loop(system: Arc<JobSystem>) -> (Frames, Res<Vec<ThreadId>>, Res<u64>) {
    let mut graph = GraphBuilder::new();
    let image = graph.import("image", 0u64);
    let shown = graph.import("shown", Vec::new());
    graph.pass("draw", image.write(), |i, _| *i += 1).render();
    graph
        .pass("present", (image.read(), shown.write()), |(_, s), _| {
            s.push(std::thread::current().id())
        })
        .on_main_thread()
        .render()
        .side_effect();
    let frames = Frames::new(system, graph.compile().unwrap()).unwrap();
    (frames, shown, image)
}

#[test]
fn a_game_loop_at_one_hertz_runs_two_turns_with_main_thread_passes() {
    soft_watchdog(WATCH, || {
        let main = std::thread::current().id();
        let (mut frames, shown, image) = presenting_loop(system(2));
        let started = Instant::now();
        let summary = GameLoop::new(1.0)
            .unwrap()
            .target_rate(1.0)
            .unwrap()
            .run(&mut frames, |turn| {
                Ok(if turn.turn >= 2 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
            .unwrap();
        let took = started.elapsed();
        assert_eq!(summary.turns, 2);
        assert!(took >= Duration::from_millis(900), "paced: {took:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
        let shown = frames.resource(shown).unwrap().clone();
        assert_eq!(shown.len(), 2);
        assert!(shown.iter().all(|&id| id == main));
        assert_eq!(*frames.resource(image).unwrap(), 2);
    });
}

#[test]
fn a_game_loop_at_ten_kilohertz_presents_once_a_turn() {
    soft_watchdog(WATCH, || {
        let main = std::thread::current().id();
        let (mut frames, shown, image) = presenting_loop(system(2));
        let summary = GameLoop::new(10_000.0)
            .unwrap()
            .target_rate(10_000.0)
            .unwrap()
            .run(&mut frames, |turn| {
                Ok(
                    if turn.first() && turn.elapsed > Duration::from_millis(500) {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    },
                )
            })
            .unwrap();
        assert!(summary.turns > 0);
        let shown = frames.resource(shown).unwrap().clone();
        assert_eq!(shown.len() as u64, summary.turns, "{summary:?}");
        assert!(shown.iter().all(|&id| id == main));
        assert_eq!(*frames.resource(image).unwrap(), summary.turns);
        assert!(
            summary.elapsed < Duration::from_secs(10),
            "the loop took {:?}",
            summary.elapsed
        );
    });
}

/// A GameLoop run from a thread that is neither the system's main thread nor registered: the
/// docs do not say; with no pinned pass it must still run and pace (it cannot run pinned jobs
/// there, but it must not fail or spin).
#[test]
fn a_game_loop_on_an_unregistered_thread_runs_worker_passes_and_paces() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        let s = system.clone();
        std::thread::spawn(move || {
            let mut graph = GraphBuilder::new();
            let n = graph.import("n", 0u64);
            graph.pass("count", n.write(), |n, _| *n += 1).render();
            let mut frames = Frames::new(s, graph.compile().unwrap()).unwrap();
            let started = Instant::now();
            let summary = GameLoop::new(50.0)
                .unwrap()
                .target_rate(50.0)
                .unwrap()
                .run(&mut frames, |turn| {
                    Ok(if turn.turn >= 10 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    })
                })
                .expect("a loop on an unregistered thread");
            let took = started.elapsed();
            assert_eq!(summary.turns, 10);
            assert_eq!(*frames.resource(n).unwrap(), 10);
            assert!(took >= Duration::from_millis(150), "not paced: {took:?}");
        })
        .join()
        .unwrap();
    });
}

/// A GameLoop run on a registered render thread whose passes are pinned to it: its pacing
/// (`run_pinned_until` on the calling thread) runs them.
#[test]
fn a_game_loop_on_a_registered_thread_runs_the_passes_pinned_to_it() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        let s = system.clone();
        std::thread::spawn(move || {
            let render = s.register_thread().unwrap();
            let here = std::thread::current().id();
            let mut graph = GraphBuilder::new();
            let seen = graph.import("seen", Vec::new());
            graph
                .pass("submit", seen.write(), |seen, _| {
                    seen.push(std::thread::current().id())
                })
                .on_thread(render.thread())
                .render()
                .side_effect();
            let mut frames = Frames::new(s.clone(), graph.compile().unwrap()).unwrap();
            let summary = GameLoop::new(100.0)
                .unwrap()
                .target_rate(100.0)
                .unwrap()
                .run(&mut frames, |turn| {
                    Ok(if turn.turn >= 20 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    })
                })
                .expect("the loop on a registered thread");
            assert_eq!(summary.turns, 20);
            let seen = frames.resource(seen).unwrap().clone();
            assert_eq!(seen.len(), 20);
            assert!(seen.iter().all(|&id| id == here));
        })
        .join()
        .unwrap();
    });
}

/// A GameLoop whose render thread leaves mid-run: the loop stops with the frame's error.
#[test]
fn a_game_loop_whose_render_thread_leaves_stops_with_an_error() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        let mut render = RenderThread::start(&system, Leave::Drop(10));
        let mut c = chain(&system, render.thread, 2);
        let result = GameLoop::new(200.0)
            .unwrap()
            .target_rate(200.0)
            .unwrap()
            .run(&mut c.frames, |turn| {
                Ok(if turn.turn >= 2000 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            });
        let error = result.expect_err("the loop ends with the frame's error");
        assert!(
            error.to_string().contains("unregistered or exited"),
            "{error}"
        );
        assert_eq!(c.frames.frames_in_flight(), 0);
        render.stop();
    });
}

// ---------------------------------------------------------------------------------------------
// lowest_to_run and Low floods.

fn counting_graph(
    system: &Arc<JobSystem>,
    config: FramesConfig,
    main_pass: bool,
) -> (Frames, Res<u64>, Res<u64>) {
    let mut graph = GraphBuilder::new();
    let a = graph.carried("a", 0u64);
    let b = graph.import("b", 0u64);
    graph.pass("one", a.write(), |a, _| {
        common::spin(Duration::from_micros(300));
        *a += 1;
    });
    let two = graph.pass("two", (a.read(), b.write()), |(a, b), cx| {
        *b = *a;
        // A batch from the pass, at the pass's (Normal) priority.
        cx.parallel_for(0..64, jobs::Grain::Auto, |_| {});
    });
    if main_pass {
        two.on_main_thread();
    }
    let frames = Frames::with_config(system.clone(), graph.compile().unwrap(), config).unwrap();
    (frames, a, b)
}

#[test]
fn lowest_to_run_high_with_only_normal_passes_still_completes() {
    soft_watchdog(WATCH, || {
        for in_flight in 1..=3 {
            let system = system(1);
            let config = FramesConfig::default()
                .in_flight(in_flight)
                .lowest_to_run(Priority::High);
            let (mut frames, a, b) = counting_graph(&system, config, false);
            let errors = run_frames(&mut frames, 30);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(*frames.resource(a).unwrap(), 30);
            assert_eq!(*frames.resource(b).unwrap(), 30);
        }
    });
}

/// A Normal pass on the main thread with `lowest_to_run(High)`: the frame loop's waits run
/// nothing below High, the main-thread pass is Normal and only the main thread can run it.
/// The frames must not hang. (This hung against the working tree of 06:19 UTC, between
/// 0f125ba and 86246d2; 86246d2 makes the frame loop's waits run down to the lowest priority of
/// the passes pinned to a thread.)
#[test]
fn lowest_to_run_high_with_a_normal_main_thread_pass_does_not_hang() {
    soft_watchdog(5, || {
        let system = system(1);
        let config = FramesConfig::default().lowest_to_run(Priority::High);
        let (mut frames, a, b) = counting_graph(&system, config, true);
        let errors = run_frames(&mut frames, 10);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(*frames.resource(a).unwrap(), 10);
        assert_eq!(*frames.resource(b).unwrap(), 10);
    });
}

/// The same on a registered render thread that owns its frames: a Low pass pinned to it with
/// `lowest_to_run(Normal)` (the render thread leaving background work to the workers).
#[test]
fn lowest_to_run_normal_with_a_low_pass_on_the_owning_render_thread_does_not_hang() {
    soft_watchdog(5, || {
        let system = system(1);
        let s = system.clone();
        std::thread::spawn(move || {
            let render = s.register_thread().unwrap();
            let mut graph = GraphBuilder::new();
            let x = graph.import("x", 0u64);
            graph
                .pass("upload", x.write(), |x, _| *x += 1)
                .priority(Priority::Low)
                .on_thread(render.thread());
            let config = FramesConfig::default().lowest_to_run(Priority::Normal);
            let mut frames =
                Frames::with_config(s.clone(), graph.compile().unwrap(), config).unwrap();
            let errors = run_frames(&mut frames, 5);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(*frames.resource(x).unwrap(), 5);
        })
        .join()
        .unwrap();
    });
}

/// The unpaced GameLoop (no `target_rate`): it has no pacing to run pinned jobs in.
#[test]
fn lowest_to_run_high_with_a_normal_main_thread_pass_in_an_unpaced_game_loop() {
    soft_watchdog(5, || {
        let system = system(1);
        let config = FramesConfig::default().lowest_to_run(Priority::High);
        let (mut frames, a, _) = counting_graph(&system, config, true);
        let summary = GameLoop::new(1000.0)
            .unwrap()
            .run(&mut frames, |turn| {
                Ok(if turn.turn >= 10 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
            .unwrap();
        assert_eq!(*frames.resource(a).unwrap(), summary.frames);
    });
}

/// The same in a paced GameLoop: its pacing (`run_pinned_until`) runs the main-thread pass
/// when the pass becomes ready while it paces, but a frame that takes longer than a turn makes
/// the pass ready while the loop waits for a frame slot (with the High limit): it must not
/// hang there either.
#[test]
fn lowest_to_run_high_with_a_normal_main_thread_pass_in_a_paced_game_loop() {
    soft_watchdog(5, || {
        let system = system(1);
        let mut graph = GraphBuilder::new();
        let image = graph.import("image", 0u64);
        let shown = graph.import("shown", 0u64);
        graph.pass("draw", image.write(), |i, _| {
            common::spin(Duration::from_millis(5));
            *i += 1;
        });
        graph
            .pass("present", (image.read(), shown.write()), |(_, s), _| {
                *s += 1
            })
            .on_main_thread();
        let config = FramesConfig::default().lowest_to_run(Priority::High);
        let mut frames =
            Frames::with_config(system.clone(), graph.compile().unwrap(), config).unwrap();
        let summary = GameLoop::new(1000.0)
            .unwrap()
            .target_rate(1000.0)
            .unwrap()
            .run(&mut frames, |turn| {
                Ok(if turn.turn >= 20 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
            .unwrap();
        assert_eq!(*frames.resource(shown).unwrap(), summary.frames);
    });
}

/// Low background jobs flood the workers (a feeder keeps about a hundred queued) while frames
/// run, with each `lowest_to_run`: every frame completes, in order, and with a limit of Normal
/// or High the main thread runs no Low job while it waits for frames.
#[test]
fn low_background_jobs_flooding_while_frames_run() {
    soft_watchdog(WATCH, || {
        for lowest in [Priority::Low, Priority::Normal, Priority::High] {
            let system = system(2);
            let main = std::thread::current().id();
            let stop = Arc::new(AtomicBool::new(false));
            let low_on_main = Arc::new(AtomicU64::new(0));
            let low_ran = Arc::new(AtomicU64::new(0));
            let background = jobs::Counter::new();
            let feeder = {
                let (system, stop, bg) = (system.clone(), stop.clone(), background.clone());
                let (on_main, ran) = (low_on_main.clone(), low_ran.clone());
                std::thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        if bg.value() < 100 {
                            let (on_main, ran) = (on_main.clone(), ran.clone());
                            system.submit_counted(
                                &bg,
                                Job::from_fn(move |_| {
                                    if std::thread::current().id() == main {
                                        on_main.fetch_add(1, SeqCst);
                                    }
                                    ran.fetch_add(1, SeqCst);
                                    common::spin(Duration::from_micros(200));
                                })
                                .with_priority(Priority::Low),
                            );
                        } else {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                })
            };
            let config = FramesConfig::default().lowest_to_run(lowest);
            let (mut frames, a, b) = counting_graph(&system, config, false);
            let errors = run_frames(&mut frames, 40);
            assert!(errors.is_empty(), "{lowest:?}: {errors:?}");
            assert_eq!(*frames.resource(a).unwrap(), 40);
            assert_eq!(*frames.resource(b).unwrap(), 40);
            stop.store(true, SeqCst);
            feeder.join().unwrap();
            if lowest != Priority::Low {
                assert_eq!(low_on_main.load(SeqCst), 0, "{lowest:?}");
            }
            system.wait(&background).unwrap();
            assert!(low_ran.load(SeqCst) > 0);
        }
    });
}

/// A render thread's pass with Low floods on the workers, and the render thread itself waiting
/// for frames it owns (`run_frame` there) with `lowest_to_run(Normal)`: its pinned Normal pass
/// still runs.
#[test]
fn a_render_thread_owning_frames_with_lowest_to_run_normal_and_a_low_flood() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        let background = jobs::Counter::new();
        for _ in 0..300 {
            system.submit_counted(
                &background,
                Job::from_fn(|_| common::spin(Duration::from_micros(300)))
                    .with_priority(Priority::Low),
            );
        }
        let s = system.clone();
        std::thread::spawn(move || {
            let render = s.register_thread().unwrap();
            let mut graph = GraphBuilder::new();
            let x = graph.carried("x", 0u64);
            let y = graph.import("y", 0u64);
            graph.pass("sim", x.write(), |x, _| *x += 1);
            graph
                .pass("submit", (x.read(), y.write()), |(x, y), _| *y = *x)
                .on_thread(render.thread());
            let config = FramesConfig::default()
                .in_flight(3)
                .lowest_to_run(Priority::Normal);
            let mut frames =
                Frames::with_config(s.clone(), graph.compile().unwrap(), config).unwrap();
            let errors = run_frames(&mut frames, 20);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(*frames.resource(y).unwrap(), 20);
        })
        .join()
        .unwrap();
        system.wait(&background).unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// Stale handles, children of a pinned pass, dropping frames.

/// A render thread that unregisters and registers again gets a new handle: a pass pinned to the
/// old one fails (it never reaches the same OS thread's new registration), one pinned to the
/// new one runs.
#[test]
fn a_stale_handle_of_a_thread_that_registered_again_fails_and_the_new_one_runs() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        let (to_test, handles) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let ran = Arc::new(AtomicUsize::new(0));
        let render = {
            let (system, stop, ran) = (system.clone(), stop.clone(), ran.clone());
            std::thread::spawn(move || {
                let first = system.register_thread().unwrap();
                let old = first.thread();
                drop(first);
                let second = system.register_thread().unwrap();
                assert_ne!(old, second.thread(), "a slot was reused");
                to_test.send((old, second.thread())).unwrap();
                while !stop.load(SeqCst) {
                    let n = system
                        .run_pinned_until(Instant::now() + Duration::from_millis(2))
                        .unwrap();
                    ran.fetch_add(n, SeqCst);
                }
            })
        };
        let (old, new) = handles.recv().unwrap();
        let here = render.thread().id();
        for (handle, ok) in [(old, false), (new, true)] {
            let mut graph = GraphBuilder::new();
            let seen = graph.import("seen", Vec::new());
            graph
                .pass("submit", seen.write(), |s, _| {
                    s.push(std::thread::current().id())
                })
                .on_thread(handle);
            let mut frames = Frames::new(system.clone(), graph.compile().unwrap()).unwrap();
            let errors = run_frames(&mut frames, 4);
            let seen = frames.resource(seen).unwrap().clone();
            if ok {
                assert!(errors.is_empty(), "{errors:?}");
                assert_eq!(seen, vec![here; 4]);
            } else {
                assert!(!errors.is_empty());
                assert!(
                    seen.is_empty(),
                    "the stale handle reached the thread: {seen:?}"
                );
                for e in errors {
                    assert!(e.to_string().contains("unregistered or exited"), "{e}");
                }
            }
        }
        stop.store(true, SeqCst);
        render.join().unwrap();
    });
}

/// A step pass on the render thread that spawns a batch and closure children (they may run on
/// the workers) continues on the render thread, every frame, with three frames in flight.
#[test]
fn a_pinned_step_pass_spawning_a_batch_continues_on_its_thread() {
    soft_watchdog(WATCH, || {
        type P = Pass<Vec<u64>, Write<Vec<(ThreadId, ThreadId, u64)>>>;
        fn start(p: &mut P, _: &mut Context<'_>) -> Action<P> {
            let first = std::thread::current().id();
            let (state, out) = p.parts();
            out.push((first, first, 0));
            state.iter_mut().for_each(|x| *x = 0);
            Action::Spawn(
                |p, s| {
                    let (state, _) = p.parts();
                    let batch = jobs::Batch::new()
                        .grain(jobs::Grain::fixed(3).unwrap())
                        .priority(Priority::High);
                    s.for_each_mut(state, batch, |i, x| *x = i as u64 + 1);
                    s.parallel_for(0..100, jobs::Grain::Auto, |_| {});
                    s.spawn(|_| {});
                },
                finish,
            )
        }
        fn finish(p: &mut P, _: &mut Context<'_>) -> Action<P> {
            let (state, out) = p.parts();
            let sum: u64 = state.iter().sum();
            let last = out.last_mut().unwrap();
            last.1 = std::thread::current().id();
            last.2 = sum;
            Action::Done
        }
        let system = system(2);
        let mut render = RenderThread::start(&system, Leave::Never);
        let mut graph = GraphBuilder::new();
        let out = graph.import("out", Vec::new());
        graph
            .step_pass("upload", out.write(), vec![0u64; 50], start)
            .on_thread(render.thread);
        let config = FramesConfig::default().in_flight(3);
        let mut frames =
            Frames::with_config(system.clone(), graph.compile().unwrap(), config).unwrap();
        let errors = run_frames(&mut frames, 20);
        assert!(errors.is_empty(), "{errors:?}");
        let out = frames.resource(out).unwrap().clone();
        assert_eq!(out.len(), 20);
        for (first, last, sum) in out {
            assert_eq!((first, last), (render.id, render.id));
            assert_eq!(sum, (1..=50).sum::<u64>());
        }
        render.stop();
    });
}

/// Frames dropped with frames in flight whose render pass can no longer run (the thread left)
/// and without `finish`: the drop must not hang.
#[test]
fn dropping_frames_in_flight_after_the_render_thread_left_does_not_hang() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        let mut render = RenderThread::start(&system, Leave::Drop(3));
        let mut c = chain(&system, render.thread, 3);
        while !render.left.load(SeqCst) {
            let _ = c.frames.run_frame(DT);
        }
        for _ in 0..3 {
            let _ = c.frames.run_frame(DT);
        }
        drop(c);
        // The system still runs frames of another graph.
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        graph.pass("p", x.write(), |x, _| *x += 1);
        let mut frames = Frames::new(system.clone(), graph.compile().unwrap()).unwrap();
        assert!(run_frames(&mut frames, 5).is_empty());
        assert_eq!(*frames.resource(x).unwrap(), 5);
        render.stop();
    });
}

/// A High pass on the main thread whose child is a Low job pinned to the main thread, with
/// `lowest_to_run(High)`: the frame waits for a job only the main thread may run, below the
/// wait's limit. The pinned pass is High, so the limit stays High.
#[test]
// Hung on 86246d2 (the frame loop's waits refused the pinned child's priority); fixed by
// WaitOptions::pinned_jobs_at_any_priority in the frame loop's waits.
fn lowest_to_run_high_with_a_low_child_pinned_to_main_does_not_hang() {
    soft_watchdog(5, || {
        type P = Pass<(), Write<u64>>;
        fn start(_: &mut P, _: &mut Context<'_>) -> Action<P> {
            Action::Spawn(
                |p, s| {
                    let (_, x) = p.parts();
                    s.spawn_job(
                        Job::from_fn(move |_| *x += 1)
                            .with_priority(Priority::Low)
                            .pinned_to_main(),
                    );
                },
                |_, _| Action::Done,
            )
        }
        let system = system(1);
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        graph
            .step_pass("present", x.write(), (), start)
            .priority(Priority::High)
            .on_main_thread();
        let config = FramesConfig::default().lowest_to_run(Priority::High);
        let mut frames =
            Frames::with_config(system.clone(), graph.compile().unwrap(), config).unwrap();
        let errors = run_frames(&mut frames, 3);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(*frames.resource(x).unwrap(), 3);
    });
}

/// A worker pass (Normal) that hands part of its work to the main thread (a child pinned to
/// main, as the README's game loop does with uploads), with `lowest_to_run(High)` and no pass
/// pinned anywhere: the frame loop's waits run nothing below High, so the child never runs.
#[test]
// Hung on 86246d2, as the test above; fixed the same way.
fn lowest_to_run_high_with_a_worker_pass_handing_a_child_to_main_does_not_hang() {
    soft_watchdog(5, || {
        let system = system(1);
        let main = std::thread::current().id();
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", Vec::new());
        graph.pass("encode", x.write(), |x, cx| {
            cx.spawn_job(
                Job::from_fn(move |_| x.push(std::thread::current().id())).pinned_to_main(),
            );
        });
        let config = FramesConfig::default().lowest_to_run(Priority::High);
        let mut frames =
            Frames::with_config(system.clone(), graph.compile().unwrap(), config).unwrap();
        let errors = run_frames(&mut frames, 3);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(*frames.resource(x).unwrap(), vec![main; 3]);
    });
}

/// Two registered threads, each owning frames whose pass is pinned to the other thread: each
/// runs the other's passes while its own `run_frame` waits. Neither may stall.
#[test]
fn two_threads_owning_frames_with_passes_pinned_to_each_other() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        let (tx_a, rx_a) = mpsc::channel::<PinnedThread>();
        let (tx_b, rx_b) = mpsc::channel::<PinnedThread>();
        let finished = Arc::new(AtomicUsize::new(0));
        let spawn = |mine: mpsc::Sender<PinnedThread>, theirs: mpsc::Receiver<PinnedThread>| {
            let (system, finished) = (system.clone(), finished.clone());
            std::thread::spawn(move || {
                let me = system.register_thread().unwrap();
                mine.send(me.thread()).unwrap();
                let other = theirs.recv().unwrap();
                let mut graph = GraphBuilder::new();
                let state = graph.carried("state", 0u64);
                let seen = graph.import("seen", Vec::new());
                graph.pass("sim", state.write(), |s, _| *s += 1);
                graph
                    .pass("remote", (state.read(), seen.write()), |(s, seen), _| {
                        seen.push((*s, std::thread::current().id()))
                    })
                    .on_thread(other);
                let config = FramesConfig::default().in_flight(3);
                let mut frames =
                    Frames::with_config(system.clone(), graph.compile().unwrap(), config).unwrap();
                let errors = run_frames(&mut frames, 20);
                let seen = frames.resource(seen).unwrap().clone();
                finished.fetch_add(1, SeqCst);
                // Keep serving the other thread's passes until it is done too.
                while finished.load(SeqCst) < 2 {
                    system
                        .run_pinned_until(Instant::now() + Duration::from_millis(2))
                        .unwrap();
                }
                (errors, seen)
            })
        };
        let a = spawn(tx_a, rx_b);
        let b = spawn(tx_b, rx_a);
        let (a_id, b_id) = (a.thread().id(), b.thread().id());
        let (errors_a, seen_a) = a.join().unwrap();
        let (errors_b, seen_b) = b.join().unwrap();
        assert!(
            errors_a.is_empty() && errors_b.is_empty(),
            "{errors_a:?} {errors_b:?}"
        );
        assert_eq!(seen_a.len(), 20);
        assert_eq!(seen_b.len(), 20);
        for (k, (&(sa, ta), &(sb, tb))) in seen_a.iter().zip(&seen_b).enumerate() {
            assert_eq!((sa, sb), (k as u64 + 1, k as u64 + 1));
            assert_eq!((ta, tb), (b_id, a_id), "frame {k}: on the wrong thread");
        }
    });
}

/// A 10 kHz GameLoop with a pass on a render thread (its own run_pinned_until loop) and a
/// present on the main thread, three frames in flight.
#[test]
fn a_ten_kilohertz_game_loop_with_a_render_thread_pass_and_a_main_present() {
    soft_watchdog(WATCH, || {
        let system = system(2);
        let mut render = RenderThread::start(&system, Leave::Never);
        let mut c = chain(&system, render.thread, 3);
        let summary = GameLoop::new(10_000.0)
            .unwrap()
            .target_rate(10_000.0)
            .unwrap()
            .run(&mut c.frames, |turn| {
                Ok(
                    if turn.first() && turn.elapsed > Duration::from_millis(300) {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    },
                )
            })
            .unwrap();
        let submitted = c.frames.resource(c.submitted).unwrap().clone();
        assert_eq!(submitted.len() as u64, summary.frames, "{summary:?}");
        assert!(submitted.iter().all(|&(_, id, _)| id == render.id));
        for (k, &(frame, _, state)) in submitted.iter().enumerate() {
            assert_eq!((frame, state), (k as u64, k as u64 + 1));
        }
        assert_eq!(
            c.frames.resource(c.presented).unwrap().len() as u64,
            summary.frames
        );
        render.stop();
    });
}

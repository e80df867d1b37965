//! Where and how urgently passes run: `on_main_thread` passes run every step on the thread that
//! created the job system, and a pass's priority is its job's (and its children's).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use common::{spin, system, watchdog, DT};
use frame::{Frames, FramesConfig, GraphBuilder, Pass, Write};
use jobs::{Action, Block, Context, Counter, Job, MemoryError, Priority, Tag};

/// Records every place a step ran that was not the main thread.
#[derive(Clone, Default)]
struct Misplaced(Arc<Mutex<Vec<String>>>);

impl Misplaced {
    fn check(&self, what: &str, cx: &Context<'_>, main: ThreadId) {
        let here = std::thread::current().id();
        if !cx.on_main_thread() || here != main || cx.worker_index().is_some() {
            self.0.lock().unwrap().push(format!("{what} on {here:?}"));
        }
    }
}

struct Pinned {
    main: ThreadId,
    misplaced: Misplaced,
    counter: Counter,
    steps: u32,
}
type PinnedPass = Pass<Pinned, Write<u64>>;

fn pinned_start(p: &mut PinnedPass, cx: &mut Context<'_>) -> Action<PinnedPass> {
    let state = p.state();
    state.misplaced.check("first step", cx, state.main);
    state.steps = 1;
    Action::Yield(pinned_after_yield)
}

fn pinned_after_yield(p: &mut PinnedPass, cx: &mut Context<'_>) -> Action<PinnedPass> {
    let state = p.state();
    state.misplaced.check("after yield", cx, state.main);
    state.steps += 1;
    // A job that may run anywhere, and a wait for it.
    cx.spawn_job_counted(
        &state.counter,
        Job::from_fn(|_| spin(Duration::from_micros(50))),
    );
    Action::wait(&state.counter, pinned_after_wait)
}

fn pinned_after_wait(p: &mut PinnedPass, cx: &mut Context<'_>) -> Action<PinnedPass> {
    let state = p.state();
    state.misplaced.check("after wait", cx, state.main);
    state.steps += 1;
    Action::Spawn(
        |p, spawner| {
            let (_, out) = p.parts();
            spawner.spawn(move |_| *out += 1);
        },
        pinned_after_spawn,
    )
}

fn pinned_after_spawn(p: &mut PinnedPass, cx: &mut Context<'_>) -> Action<PinnedPass> {
    let state = p.state();
    state.misplaced.check("after spawn", cx, state.main);
    state.steps += 1;
    Action::memory(Tag(9_000 + p.frame().number), 64, pinned_after_memory)
}

fn pinned_after_memory(
    p: &mut PinnedPass,
    cx: &mut Context<'_>,
    memory: Result<Block, MemoryError>,
) -> Action<PinnedPass> {
    drop(memory.expect("64 bytes"));
    cx.heap().release(Tag(9_000 + p.frame().number));
    let state = p.state();
    state.misplaced.check("after memory", cx, state.main);
    state.steps += 1;
    Action::Blocking(
        |_| std::thread::sleep(Duration::from_micros(100)),
        pinned_after_blocking,
    )
}

fn pinned_after_blocking(p: &mut PinnedPass, cx: &mut Context<'_>) -> Action<PinnedPass> {
    let state = p.state();
    state.misplaced.check("after blocking", cx, state.main);
    state.steps += 1;
    assert_eq!(state.steps, 6);
    Action::Done
}

#[test]
fn main_thread_passes_run_every_step_on_the_main_thread() {
    watchdog(60, || {
        let main = std::thread::current().id();
        for in_flight in 1..=3 {
            let misplaced = Misplaced::default();
            let closure_runs = Arc::new(AtomicUsize::new(0));
            let mut graph = GraphBuilder::new();
            let steps = graph.import("steps", 0u64);
            let other = graph.scratch("other", 0u64);
            let state = Pinned {
                main,
                misplaced: misplaced.clone(),
                counter: Counter::new(),
                steps: 0,
            };
            graph
                .step_pass("pinned steps", steps.write(), state, pinned_start)
                .on_main_thread();
            let (m, runs) = (misplaced.clone(), Arc::clone(&closure_runs));
            graph
                .pass("pinned closure", other.write(), move |other, cx| {
                    m.check("closure", &cx.context(), main);
                    *other = cx.frame().number;
                    runs.fetch_add(1, Ordering::SeqCst);
                })
                .on_main_thread();
            // A worker pass between them, so that the main thread's passes wait on workers.
            graph
                .pass("worker", other.read(), |_, _| {
                    spin(Duration::from_micros(50))
                })
                .side_effect();
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames =
                Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
            for _ in 0..30 {
                frames.run_frame(DT).unwrap();
            }
            assert_eq!(*frames.resource(steps).unwrap(), 30);
            assert_eq!(closure_runs.load(Ordering::SeqCst), 30);
            assert_eq!(*misplaced.0.lock().unwrap(), Vec::<String>::new());
            // The statistics say so too: no worker ran the pinned passes.
            for stats in frames.history() {
                for pass in &stats.passes {
                    if pass.name.starts_with("pinned") {
                        assert_eq!(pass.worker, None, "{} in frame {}", pass.name, stats.number);
                    }
                }
            }
            let dot = frames.graph().to_dot();
            assert!(dot.contains("main thread"), "{dot}");
        }
    });
}

#[test]
fn passes_and_their_children_run_at_their_priority() {
    watchdog(30, || {
        let wrong = Arc::new(Mutex::new(Vec::new()));
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        let y = graph.import("y", 0u64);
        let z = graph.import("z", 0u64);
        for (name, resource, priority) in [
            ("high", x, Some(Priority::High)),
            ("low", y, Some(Priority::Low)),
            ("default", z, None),
        ] {
            let expected = priority.unwrap_or(Priority::Normal);
            let w = Arc::clone(&wrong);
            let config = graph.pass(name, resource.write(), move |x, cx| {
                let seen = cx.context().priority();
                if seen != expected {
                    w.lock().unwrap().push(format!("{name}: {seen:?}"));
                }
                let w = Arc::clone(&w);
                cx.spawn(move |child| {
                    if child.priority() != expected {
                        w.lock()
                            .unwrap()
                            .push(format!("{name}'s child: {:?}", child.priority()));
                    }
                    *x += 1;
                });
            });
            if let Some(priority) = priority {
                config.priority(priority);
            }
        }
        let graph = graph.compile().unwrap();
        let dot = graph.to_dot();
        for label in ["High", "Low", "Normal"] {
            assert!(dot.contains(label), "{dot}");
        }
        let system = system(2);
        let before = system.stats();
        let mut frames = Frames::new(Arc::clone(&system), graph).unwrap();
        for _ in 0..20 {
            frames.run_frame(DT).unwrap();
        }
        assert_eq!(*frames.resource(x).unwrap(), 20);
        assert_eq!(*frames.resource(z).unwrap(), 20);
        assert_eq!(*wrong.lock().unwrap(), Vec::<String>::new());
        // The job system counted them at those priorities: each pass is its job and a child.
        let ran = system.stats().since(&before);
        assert!(ran.jobs_at(Priority::High) >= 40, "{:?}", ran.jobs_finished);
        assert!(ran.jobs_at(Priority::Low) >= 40, "{:?}", ran.jobs_finished);
    });
}

/// Notes the priority of each of its steps; two steps a frame.
type PriorityPass = Pass<(Arc<Mutex<Vec<Priority>>>, u32), Write<u64>>;

fn note_priority(p: &mut PriorityPass, cx: &mut Context<'_>) -> Action<PriorityPass> {
    let ((seen, steps), out) = p.parts();
    seen.lock().unwrap().push(cx.priority());
    *steps += 1;
    *out += 1;
    if *steps % 2 == 1 {
        Action::Yield(note_priority)
    } else {
        Action::Done
    }
}

#[test]
fn step_passes_run_every_step_at_their_priority() {
    watchdog(30, || {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        graph
            .step_pass(
                "low steps",
                x.write(),
                (Arc::clone(&seen), 0),
                note_priority,
            )
            .priority(Priority::Low);
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        for _ in 0..10 {
            frames.run_frame(DT).unwrap();
        }
        assert_eq!(*frames.resource(x).unwrap(), 20);
        assert_eq!(*seen.lock().unwrap(), [Priority::Low; 20]);
    });
}

#[test]
fn passes_on_a_registered_thread_run_there_every_frame_and_the_main_thread_runs_its_own() {
    // The game's main thread owns the frames; a render thread registers and runs the passes
    // pinned to it while it paces itself with run_pinned_until.
    watchdog(60, || {
        let system = system(2);
        let main = std::thread::current().id();
        let (to_main, render_thread) = std::sync::mpsc::channel();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let render = {
            let (system, stop) = (system.clone(), stop.clone());
            std::thread::spawn(move || {
                let registration = system.register_thread().unwrap();
                to_main
                    .send((registration.thread(), std::thread::current().id()))
                    .unwrap();
                while !stop.load(Ordering::SeqCst) {
                    let soon = std::time::Instant::now() + Duration::from_millis(5);
                    system.run_pinned_until(soon).unwrap();
                }
                // Leaving: passes pinned here later fail instead of waiting forever.
                drop(registration);
            })
        };
        let (thread, render_id) = render_thread.recv().unwrap();
        let mut graph = GraphBuilder::new();
        let image = graph.import("image", Vec::<(ThreadId, u64)>::new());
        let shown = graph.import("shown", Vec::<ThreadId>::new());
        graph
            .pass("submit", image.write(), |image, cx| {
                image.push((std::thread::current().id(), cx.frame().number));
            })
            .on_thread(thread);
        graph
            .pass("present", (image.read(), shown.write()), |(_, shown), _| {
                shown.push(std::thread::current().id());
            })
            .on_main_thread();
        let mut frames = Frames::new(system.clone(), graph.compile().unwrap()).unwrap();
        for _ in 0..20 {
            frames.run_frame(DT).unwrap();
        }
        frames.finish().unwrap();
        let image = frames.resource(image).unwrap().clone();
        assert_eq!(image.len(), 20);
        assert!(image.iter().all(|&(id, _)| id == render_id), "{image:?}");
        assert!(frames.resource(shown).unwrap().iter().all(|&id| id == main));
        // The render thread leaves: the next frame's submit fails, with a message, no hang.
        stop.store(true, Ordering::SeqCst);
        render.join().unwrap();
        let error = frames
            .run_frame(DT)
            .and_then(|_| frames.finish())
            .expect_err("a pass pinned to a thread that left");
        assert!(
            error.to_string().contains("unregistered or exited"),
            "{error}"
        );
    });
}

#[test]
fn a_main_thread_waiting_for_frames_can_leave_low_jobs_to_the_workers() {
    watchdog(60, || {
        let system = system(1);
        let main = std::thread::current().id();
        // Background work: Low jobs that would fill every idle moment.
        let background = Counter::new();
        let low_on_main = Arc::new(AtomicUsize::new(0));
        for _ in 0..400 {
            let l = low_on_main.clone();
            system.submit_counted(
                &background,
                Job::from_fn(move |_| {
                    if std::thread::current().id() == main {
                        l.fetch_add(1, Ordering::SeqCst);
                    }
                    spin(Duration::from_micros(500));
                })
                .with_priority(Priority::Low),
            );
        }
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        // Long enough that a thread waiting for it would pick up background work meanwhile.
        graph.pass("work", x.write(), |x, _| {
            spin(Duration::from_millis(3));
            *x += 1;
        });
        let config = FramesConfig::default().lowest_to_run(Priority::Normal);
        let mut frames =
            Frames::with_config(system.clone(), graph.compile().unwrap(), config).unwrap();
        for _ in 0..20 {
            frames.run_frame(DT).unwrap();
        }
        frames.finish().unwrap();
        assert_eq!(*frames.resource(x).unwrap(), 20);
        assert_eq!(low_on_main.load(Ordering::SeqCst), 0);
        system.wait(&background).unwrap();
    });
}

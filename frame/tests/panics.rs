//! A panicking pass fails its frame, not the program: the frame's error names the pass, the
//! message and the passes skipped because they needed its output; later frames run normally,
//! and the workers survive.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{system, watchdog, DT};
use frame::{FrameError, Frames, FramesConfig, GraphBuilder, Pass, Write};
use jobs::{Action, Context, Counter, Job, JobSystem};

/// Runs frames until `count` have started, calling again after an error (the failed frame's
/// error is returned by the call that completes it, which starts nothing); returns the errors.
fn run_frames(frames: &mut Frames, count: u64) -> Vec<FrameError> {
    let mut errors = Vec::new();
    while frames.next_frame() < count {
        let next = frames.next_frame();
        let in_flight = frames.frames_in_flight();
        match frames.run_frame(DT) {
            Ok(number) => assert_eq!(number, next),
            Err(error) => {
                assert_eq!(frames.next_frame(), next, "a failed call starts no frame");
                assert!(frames.frames_in_flight() < in_flight);
                errors.push(error);
            }
        }
    }
    if let Err(error) = frames.finish() {
        errors.push(error);
    }
    assert_eq!(frames.finish(), Ok(()), "finishing again finds nothing");
    errors
}

/// Counts of the runs of each pass of the graph below.
#[derive(Default)]
struct Runs {
    a: AtomicUsize,
    b: AtomicUsize,
    c: AtomicUsize,
    d: AtomicUsize,
}

/// "a" -> "b" -> "c" through per-frame resources; "d" beside them. "a" panics in frame
/// `fail_at`, directly or in a child job.
fn chain(runs: &Arc<Runs>, fail_at: u64, in_child: bool) -> (GraphBuilder, frame::Res<u64>) {
    let mut graph = GraphBuilder::new();
    let x = graph.scratch("x", 0u64);
    let y = graph.scratch("y", 0u64);
    let total = graph.import("total", 0u64);
    let r = Arc::clone(runs);
    graph.pass("a", x.write(), move |x, cx| {
        let n = cx.frame().number;
        if in_child {
            cx.spawn(move |_| {
                if n == fail_at {
                    panic!("child boom in frame {n}");
                }
            });
        } else if n == fail_at {
            panic!("boom in frame {n}");
        }
        *x = n;
        r.a.fetch_add(1, Ordering::SeqCst);
    });
    let r = Arc::clone(runs);
    graph.pass("b", (x.read(), y.write()), move |(x, y), cx| {
        assert_eq!(*x, cx.frame().number);
        *y = *x;
        r.b.fetch_add(1, Ordering::SeqCst);
    });
    let r = Arc::clone(runs);
    graph
        .pass("c", y.read(), move |y, cx| {
            assert_eq!(*y, cx.frame().number);
            r.c.fetch_add(1, Ordering::SeqCst);
        })
        .side_effect();
    let r = Arc::clone(runs);
    graph.pass("d", total.write(), move |total, _| {
        *total += 1;
        r.d.fetch_add(1, Ordering::SeqCst);
    });
    (graph, total)
}

fn assert_one_failure(errors: &[FrameError], frame: u64, message: &str) {
    assert_eq!(errors.len(), 1, "{errors:?}");
    let FrameError::PassPanicked {
        frame: failed,
        pass,
        message: got,
        also_failed,
        skipped,
    } = &errors[0]
    else {
        panic!("expected a panicked pass, got {:?}", errors[0]);
    };
    assert_eq!(*failed, frame);
    assert_eq!(pass, "a");
    assert!(got.contains(message), "message {got:?}");
    assert_eq!(*skipped, ["b", "c"]);
    assert!(also_failed.is_empty(), "{also_failed:?}");
    let shown = errors[0].to_string();
    for part in [&format!("frame {frame}"), "`a`", message, "b", "c"] {
        assert!(shown.contains(part), "{shown:?} lacks {part:?}");
    }
}

#[test]
fn a_panicking_pass_fails_its_frame_and_later_frames_run() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let runs = Arc::new(Runs::default());
            let (graph, total) = chain(&runs, 5, false);
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames =
                Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
            let errors = run_frames(&mut frames, 20);
            assert_one_failure(&errors, 5, "boom in frame 5");
            assert_eq!(runs.a.load(Ordering::SeqCst), 19);
            assert_eq!(runs.b.load(Ordering::SeqCst), 19);
            assert_eq!(runs.c.load(Ordering::SeqCst), 19);
            assert_eq!(
                runs.d.load(Ordering::SeqCst),
                20,
                "independent of the failure"
            );
            assert_eq!(*frames.resource(total).unwrap(), 20);
            let failed: Vec<u64> = frames
                .history()
                .iter()
                .filter(|f| f.failed)
                .map(|f| f.number)
                .collect();
            assert_eq!(failed, [5]);
            let stats = frames.history().iter().find(|f| f.number == 5).unwrap();
            let started: Vec<(&str, bool)> = stats
                .passes
                .iter()
                .map(|p| (p.name.as_ref(), p.start.is_some()))
                .collect();
            assert_eq!(
                started,
                [("a", true), ("b", false), ("c", false), ("d", true)]
            );
        }
    });
}

#[test]
fn a_panic_in_a_child_job_reports_the_pass_that_spawned_it() {
    watchdog(60, || {
        for in_flight in 1..=2 {
            let runs = Arc::new(Runs::default());
            let (graph, total) = chain(&runs, 3, true);
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames =
                Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
            let errors = run_frames(&mut frames, 12);
            assert_one_failure(&errors, 3, "child boom in frame 3");
            // The body itself ran to its end in every frame; the pass failed with its child.
            assert_eq!(runs.a.load(Ordering::SeqCst), 12);
            assert_eq!(runs.b.load(Ordering::SeqCst), 11);
            assert_eq!(runs.c.load(Ordering::SeqCst), 11);
            assert_eq!(*frames.resource(total).unwrap(), 12);
        }
    });
}

type Stepper = Pass<u32, Write<u64>>;

fn step_start(p: &mut Stepper, _: &mut Context<'_>) -> Action<Stepper> {
    *p.state() = 0;
    Action::Yield(step_again)
}

fn step_again(p: &mut Stepper, _: &mut Context<'_>) -> Action<Stepper> {
    let n = p.frame().number;
    let (yields, out) = p.parts();
    *yields += 1;
    if *yields < 3 {
        return Action::Yield(step_again);
    }
    if n == 2 {
        panic!("step pass gave up in frame {n}");
    }
    *out += 1;
    Action::Done
}

#[test]
fn a_panic_in_a_later_step_of_a_step_pass_reports_the_pass() {
    watchdog(60, || {
        let mut graph = GraphBuilder::new();
        // Carried: a failed frame's copy goes back (an imported one would be poisoned).
        let out = graph.carried("out", 0u64);
        let seen = graph.import("seen", 0u64);
        graph.step_pass("stepper", out.write(), 0u32, step_start);
        graph.pass("after", (out.read(), seen.write()), |(out, seen), _| {
            *seen = *out
        });
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        let errors = run_frames(&mut frames, 6);
        assert_eq!(
            errors,
            [FrameError::PassPanicked {
                frame: 2,
                pass: "stepper".into(),
                message: "step pass gave up in frame 2".into(),
                also_failed: vec![],
                skipped: vec!["after".into()],
            }]
        );
        assert_eq!(*frames.resource(out).unwrap(), 5);
        assert_eq!(*frames.resource(seen).unwrap(), 5);
    });
}

#[test]
fn finish_and_resource_report_the_failure_once() {
    watchdog(30, || {
        let runs = Arc::new(Runs::default());
        let (graph, total) = chain(&runs, 4, false);
        let config = FramesConfig::default().in_flight(3);
        let mut frames = Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
        for _ in 0..5 {
            frames.run_frame(DT).unwrap(); // frame 4 is still in flight: no error yet
        }
        let error = frames.resource(total).expect_err("frame 4 failed");
        assert!(
            matches!(error, FrameError::PassPanicked { frame: 4, ref pass, .. } if pass == "a")
        );
        assert_eq!(frames.frames_in_flight(), 0);
        assert_eq!(*frames.resource(total).unwrap(), 5);
        assert_eq!(frames.finish(), Ok(()));
    });
}

/// Two jobs that each wait (up to 10 s) until both have started: they can only both finish on
/// two different threads at once. Returns the worker indices they ran on.
fn both_workers_run(system: &JobSystem) -> Vec<Option<usize>> {
    let arrived = Arc::new(AtomicUsize::new(0));
    let timed_out = Arc::new(AtomicBool::new(false));
    let workers = Arc::new(Mutex::new(Vec::new()));
    let done = Counter::new();
    for _ in 0..2 {
        let (arrived, timed_out, workers) = (arrived.clone(), timed_out.clone(), workers.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                workers.lock().unwrap().push(cx.worker_index());
                arrived.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(10);
                while arrived.load(Ordering::SeqCst) < 2 {
                    if Instant::now() > deadline {
                        timed_out.store(true, Ordering::SeqCst);
                        return;
                    }
                    std::thread::yield_now();
                }
            }),
        );
    }
    // Poll without helping: this thread must not run the jobs itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done.is_zero() {
        assert!(Instant::now() < deadline, "the two jobs did not finish");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        !timed_out.load(Ordering::SeqCst),
        "a worker did not take its job"
    );
    let mut workers = workers.lock().unwrap().clone();
    workers.sort_unstable();
    workers
}

#[test]
fn workers_survive_panicking_passes() {
    watchdog(60, || {
        let runs = Arc::new(Runs::default());
        let mut graph = GraphBuilder::new();
        let x = graph.carried("x", 0u64);
        let r = Arc::clone(&runs);
        graph.pass("flaky", x.write(), move |x, cx| {
            r.a.fetch_add(1, Ordering::SeqCst);
            // Panics in every other frame, on whichever thread runs it, sometimes in children.
            let n = cx.frame().number;
            if n % 4 == 1 {
                for _ in 0..4 {
                    cx.spawn(move |_| panic!("child of frame {n}"));
                }
                return;
            }
            if n % 4 == 3 {
                panic!("frame {n}");
            }
            *x += 1;
        });
        let system = system(2);
        let mut frames = Frames::new(Arc::clone(&system), graph.compile().unwrap()).unwrap();
        let errors = run_frames(&mut frames, 40);
        assert_eq!(errors.len(), 20);
        for error in &errors {
            let FrameError::PassPanicked {
                frame,
                pass,
                skipped,
                ..
            } = error
            else {
                panic!("{error:?}");
            };
            assert_eq!(frame % 2, 1);
            assert_eq!(pass, "flaky");
            assert!(skipped.is_empty());
        }
        assert_eq!(*frames.resource(x).unwrap(), 20);
        assert_eq!(runs.a.load(Ordering::SeqCst), 40);
        assert_eq!(system.worker_count(), 2);
        assert_eq!(both_workers_run(&system), [Some(0), Some(1)]);
    });
}

#[test]
fn a_second_panicking_pass_is_not_reported_as_skipped() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u64);
        let y = graph.import("y", 0u64);
        graph.pass("first", x.write(), |_, _| panic!("first"));
        graph.pass("second", y.write(), |_, _| panic!("second"));
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        frames.run_frame(DT).unwrap();
        let error = frames.finish().expect_err("both passes panicked");
        let FrameError::PassPanicked {
            pass,
            skipped,
            also_failed,
            ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(pass, "first");
        assert_eq!(also_failed, &["second".to_string()]);
        assert!(
            error.to_string().contains("also panicked: second"),
            "{error}"
        );
        // "second" ran (and panicked on its own): it was not skipped because of "first".
        assert!(
            !skipped.contains(&"second".to_string()),
            "`skipped` lists a pass that ran: {error}"
        );
    });
}

#[test]
fn children_of_a_panicking_pass_end_before_the_next_frames_writer_starts() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            // Children of the pass still running (holding the resource) while the body panics.
            let active = Arc::new(AtomicUsize::new(0));
            let overlapped = Arc::new(AtomicUsize::new(0));
            let mut graph = GraphBuilder::new();
            let data = graph.carried("data", vec![0u64; 4 * 64]);
            let (a, o) = (Arc::clone(&active), Arc::clone(&overlapped));
            graph.pass("writer", data.write(), move |data, cx| {
                if a.load(Ordering::SeqCst) != 0 {
                    o.fetch_add(1, Ordering::SeqCst);
                }
                let n = cx.frame().number;
                for chunk in data.chunks_mut(64) {
                    let a = Arc::clone(&a);
                    a.fetch_add(1, Ordering::SeqCst);
                    cx.spawn(move |_| {
                        common::spin(Duration::from_micros(500));
                        chunk.fill(n);
                        a.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                if n % 3 == 1 {
                    panic!("gave up after spawning, frame {n}");
                }
            });
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames =
                Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
            let errors = run_frames(&mut frames, 15);
            assert_eq!(errors.len(), 5, "{errors:?}");
            assert_eq!(
                overlapped.load(Ordering::SeqCst),
                0,
                "{in_flight} in flight"
            );
            assert_eq!(active.load(Ordering::SeqCst), 0);
            assert!(frames.resource(data).unwrap().iter().all(|&x| x == 14));
        }
    });
}

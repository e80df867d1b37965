//! An outside tester's attack on closure children that run at once inside `Spawner::spawn`
//! (since 28958d5: once 256 jobs, now 64, wait in the spawning thread's own deque, not only when the
//! 1024-slot deque is full), through the public API only.
//!
//! The promise under attack (docs of `jobs::Spawner`): such a child is still a child in every
//! way. Expected, and checked here for spawns of 0, 1, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025 and
//! 100 000 closure children, mixed with `spawn_job` children, on 1 worker without help, 2
//! workers with the main thread helping and 3 workers:
//!
//! - every child runs exactly once, with the parent's priority, label and frame, and may write
//!   through a borrow of the parent's capture; its capture is dropped exactly once; the parent
//!   continues exactly once, after every child, and sees every write;
//! - a panic in a child (or in the drop of its capture), at any position, cancels the parent
//!   (its continuation does not run), every other child still runs, and the panic reaches
//!   `JobSystem::wait`;
//! - `Stats::jobs_finished` grows by exactly one per child plus one for the parent;
//! - `JobSystem::wait` inside a child on its parent's counter returns a "deadlock" error; a
//!   wait on another counter, `Context::join` and detached spawns work inside such children;
//! - the recorder has one span per child, with the parent's label and frame;
//! - it works inside `wait_with(lowest_priority)`, under `run_pinned` on the main thread and in
//!   a job pinned to a registered thread;
//! - deep nesting (scopes of 300 closure children, each nesting further; trees of 300 x 300)
//!   does not overflow the default 2 MiB worker stacks.
//!
//! Every test runs under `common::watchdog`. No timing is asserted.
//!
//! `CARGO_TARGET_DIR=/work/target-attack-children cargo test -p jobs --test attack_children`

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{poll_until, system_helping as sys, watchdog, DropCount, DropToken};
use jobs::{Action, Context, Counter, Job, JobSystem, Label, Priority, Spawner, WaitOptions};

const WATCH: u64 = 300;

/// (workers, main thread helps).
const CONFIGS: [(usize, bool); 3] = [(1, false), (2, true), (3, false)];

const SIZES: [usize; 12] = [0, 1, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 100_000];

const PRIORITIES: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

// ------------------------------------------------------------------------------------------
// The fan-out under test.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Tally {
    runs: Arc<AtomicUsize>,
    resumed: Arc<AtomicUsize>,
    child_drops: DropCount,
    parent_drops: DropCount,
    /// Children that saw a wrong priority, label or frame (first description kept).
    wrong: Arc<Mutex<Vec<String>>>,
}

/// What a child expects of its context.
#[derive(Clone, Copy)]
struct Inherit {
    priority: Priority,
    label: Label,
    frame: Option<u32>,
}

/// What a child does besides counting.
#[derive(Clone, Copy, PartialEq)]
enum Extra {
    None,
    /// Panics (the child at this position).
    PanicAt(usize),
    /// Its capture panics when dropped (the child at this position).
    DropPanicAt(usize),
    /// Calls `Context::join` and checks the results.
    Join,
    /// Spawns a detached closure counted on the test's `side` counter.
    Detached,
}

struct Fan {
    slots: Vec<u8>,
    job_every: usize,
    extra: Extra,
    inherit: Inherit,
    tally: Tally,
    side: Counter,
    _token: DropToken,
}

struct PanicsOnDrop;
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("capture dropped: boom");
        }
    }
}

fn check(cx: &Context<'_>, inherit: Inherit, tally: &Tally, i: usize) {
    if cx.priority() != inherit.priority
        || cx.label() != inherit.label
        || cx.frame() != inherit.frame
    {
        let mut wrong = tally.wrong.lock().unwrap();
        if wrong.len() < 4 {
            wrong.push(format!(
                "child {i}: priority {:?} label {:?} frame {:?}",
                cx.priority(),
                cx.label().name(),
                cx.frame()
            ));
        }
    }
}

struct JobChild<'c> {
    slot: &'c mut u8,
    i: usize,
    inherit: Inherit,
    tally: Tally,
    _token: DropToken,
}

fn fan_spawn<'c>(f: &'c mut Fan, s: &mut Spawner<'c, '_>) {
    let (every, extra, inherit) = (f.job_every, f.extra, f.inherit);
    for (i, slot) in f.slots.iter_mut().enumerate() {
        let tally = f.tally.clone();
        let token = tally.child_drops.token();
        if every != 0 && i % every == every - 1 {
            s.spawn_job(Job::new(
                JobChild {
                    slot,
                    i,
                    inherit,
                    tally,
                    _token: token,
                },
                // The lifetime is 'c; the step is generic over it.
                job_child_step,
            ));
            continue;
        }
        let side = f.side.clone();
        // Made only for the child whose capture must panic when dropped.
        let bomb = if extra == Extra::DropPanicAt(i) {
            Some(PanicsOnDrop)
        } else {
            None
        };
        s.spawn(move |cx| {
            let _token = token;
            let _bomb = bomb;
            check(cx, inherit, &tally, i);
            *slot += 1;
            tally.runs.fetch_add(1, SeqCst);
            match extra {
                Extra::PanicAt(at) if at == i => panic!("child {i} panics: boom"),
                Extra::Join => {
                    let (a, b) = cx.join(|_| i * 2, |_| i * 3);
                    assert_eq!(a + b, i * 5);
                }
                Extra::Detached => {
                    let t = tally.clone();
                    cx.spawn_counted(&side, move |_| {
                        t.runs.fetch_add(1, SeqCst);
                    });
                }
                _ => {}
            }
        });
    }
}

fn job_child_step<'c>(c: &mut JobChild<'c>, cx: &mut Context<'_>) -> Action<JobChild<'c>> {
    check(cx, c.inherit, &c.tally, c.i);
    *c.slot += 1;
    c.tally.runs.fetch_add(1, SeqCst);
    Action::Done
}

fn fan_start(_: &mut Fan, _: &mut Context<'_>) -> Action<Fan> {
    Action::Spawn(fan_spawn, fan_end)
}

fn fan_end(f: &mut Fan, _: &mut Context<'_>) -> Action<Fan> {
    let missing = f.slots.iter().filter(|&&s| s != 1).count();
    assert_eq!(
        missing, 0,
        "the parent resumed with {missing} child writes not 1"
    );
    f.tally.resumed.fetch_add(1, SeqCst);
    Action::Done
}

struct Plan {
    n: usize,
    job_every: usize,
    extra: Extra,
    inherit: Inherit,
}

fn parent(plan: &Plan, tally: &Tally, side: &Counter) -> Job<'static> {
    let mut job = Job::new(
        Fan {
            slots: vec![0; plan.n],
            job_every: plan.job_every,
            extra: plan.extra,
            inherit: plan.inherit,
            tally: tally.clone(),
            side: side.clone(),
            _token: tally.parent_drops.token(),
        },
        fan_start,
    )
    .with_priority(plan.inherit.priority)
    .with_label(plan.inherit.label);
    if let Some(frame) = plan.inherit.frame {
        job = job.in_frame(frame);
    }
    job
}

/// Polls the statistics until `expected` jobs at `p` finished since `before` (they may be
/// published late), then returns the delta seen.
fn stats_delta(system: &JobSystem, before: &jobs::Stats, p: Priority, expected: u64) -> u64 {
    let mut seen = 0;
    poll_until(10, || {
        seen = system.stats().since(before).jobs_at(p);
        seen >= expected
    });
    std::thread::sleep(Duration::from_millis(20));
    system.stats().since(before).jobs_at(p)
}

// ------------------------------------------------------------------------------------------
// Counts, inheritance, statistics.
// ------------------------------------------------------------------------------------------

#[test]
fn every_size_every_config_counts_inherits_and_is_counted_in_stats() {
    watchdog(WATCH, || {
        let label = Label::new("attack-children");
        let mut turn = 0;
        for (workers, help) in CONFIGS {
            let system = sys(workers, help);
            for n in SIZES {
                for job_every in [0, 7] {
                    let p = PRIORITIES[turn % 3];
                    turn += 1;
                    let plan = Plan {
                        n,
                        job_every,
                        extra: Extra::None,
                        inherit: Inherit {
                            priority: p,
                            label,
                            frame: Some(turn as u32),
                        },
                    };
                    let tally = Tally::default();
                    let side = Counter::new();
                    let before = system.stats();
                    let done = system.counter();
                    system.submit_counted(&done, parent(&plan, &tally, &side));
                    system.wait(&done).expect("no child panics");
                    let what = format!(
                        "{workers} workers help {help}, {n} children, job every {job_every}, {p:?}"
                    );
                    assert_eq!(tally.runs.load(SeqCst), n, "{what}: runs");
                    assert_eq!(tally.resumed.load(SeqCst), 1, "{what}: resumes");
                    assert_eq!(tally.child_drops.get(), n, "{what}: child drops");
                    assert_eq!(tally.parent_drops.get(), 1, "{what}: parent drops");
                    assert!(
                        tally.wrong.lock().unwrap().is_empty(),
                        "{what}: {:?}",
                        tally.wrong.lock().unwrap()
                    );
                    let delta = stats_delta(&system, &before, p, n as u64 + 1);
                    assert_eq!(delta, n as u64 + 1, "{what}: Stats::jobs_finished delta");
                    let total = system.stats().since(&before).total_jobs();
                    assert_eq!(total, n as u64 + 1, "{what}: total jobs delta");
                }
            }
        }
    });
}

// ------------------------------------------------------------------------------------------
// Panics.
// ------------------------------------------------------------------------------------------

fn panic_run(workers: usize, help: bool, n: usize, extra: Extra, job_every: usize) {
    let system = sys(workers, help);
    let plan = Plan {
        n,
        job_every,
        extra,
        inherit: Inherit {
            priority: Priority::Normal,
            label: Label::NONE,
            frame: None,
        },
    };
    let tally = Tally::default();
    let side = Counter::new();
    let done = system.counter();
    system.submit_counted(&done, parent(&plan, &tally, &side));
    let what = format!(
        "{workers} workers help {help}, {n} children, {:?}",
        position(extra)
    );
    let err = system
        .wait(&done)
        .expect_err(&format!("{what}: the panic must reach wait"));
    assert!(
        err.message().contains("boom"),
        "{what}: message {:?}",
        err.message()
    );
    assert_eq!(
        tally.resumed.load(SeqCst),
        0,
        "{what}: the cancelled parent resumed"
    );
    assert_eq!(tally.runs.load(SeqCst), n, "{what}: every child must run");
    assert_eq!(tally.child_drops.get(), n, "{what}: child drops");
    assert_eq!(tally.parent_drops.get(), 1, "{what}: parent drops");
    // The system is still usable.
    let again = system.counter();
    system.submit_counted(&again, Job::from_fn(|_| {}));
    system.wait(&again).expect("a later job runs");
}

fn position(extra: Extra) -> String {
    match extra {
        Extra::PanicAt(i) => format!("panic at {i}"),
        Extra::DropPanicAt(i) => format!("drop panics at {i}"),
        _ => "-".into(),
    }
}

const POSITIONS: [usize; 15] = [
    0, 1, 63, 64, 65, 254, 255, 256, 257, 300, 511, 1000, 1023, 1024, 1199,
];

#[test]
fn a_panic_at_every_position_cancels_the_parent_and_reaches_wait() {
    watchdog(WATCH, || {
        for (workers, help) in CONFIGS {
            for at in POSITIONS {
                panic_run(workers, help, 1200, Extra::PanicAt(at), 0);
            }
            panic_run(workers, help, 100_000, Extra::PanicAt(99_999), 0);
            panic_run(workers, help, 100_000, Extra::PanicAt(50_000), 0);
        }
    });
}

#[test]
fn a_capture_that_panics_on_drop_cancels_the_parent_and_reaches_wait() {
    watchdog(WATCH, || {
        for (workers, help) in CONFIGS {
            for at in POSITIONS {
                panic_run(workers, help, 1200, Extra::DropPanicAt(at), 0);
            }
        }
    });
}

#[test]
fn panics_among_job_children_and_at_once_children() {
    watchdog(WATCH, || {
        for (workers, help) in CONFIGS {
            for at in [255, 256, 600, 1198] {
                panic_run(workers, help, 1200, Extra::PanicAt(at), 5);
            }
        }
    });
}

// ------------------------------------------------------------------------------------------
// Join and detached spawns inside the children.
// ------------------------------------------------------------------------------------------

#[test]
fn children_that_join_and_spawn_detached() {
    watchdog(WATCH, || {
        for (workers, help) in CONFIGS {
            let system = sys(workers, help);
            for extra in [Extra::Join, Extra::Detached] {
                for n in [255, 256, 1025, 20_000] {
                    let plan = Plan {
                        n,
                        job_every: 0,
                        extra,
                        inherit: Inherit {
                            priority: Priority::High,
                            label: Label::NONE,
                            frame: None,
                        },
                    };
                    let tally = Tally::default();
                    let side = system.counter();
                    let done = system.counter();
                    system.submit_counted(&done, parent(&plan, &tally, &side));
                    system.wait(&done).expect("no panic");
                    system.wait(&side).expect("no panic in detached");
                    let detached = if extra == Extra::Detached { n } else { 0 };
                    assert_eq!(tally.runs.load(SeqCst), n + detached);
                    assert_eq!(tally.resumed.load(SeqCst), 1);
                    assert!(tally.wrong.lock().unwrap().is_empty());
                }
            }
        }
    });
}

// ------------------------------------------------------------------------------------------
// Waits inside the children.
// ------------------------------------------------------------------------------------------

struct Waiter {
    n: usize,
    system: Arc<JobSystem>,
    own: Counter,
    other: Counter,
    deadlocks: Arc<AtomicUsize>,
    oks: Arc<AtomicUsize>,
    errors: Arc<Mutex<Vec<String>>>,
    resumed: Arc<AtomicUsize>,
}

fn waiter_start(_: &mut Waiter, _: &mut Context<'_>) -> Action<Waiter> {
    Action::Spawn(
        |w, s| {
            for i in 0..w.n {
                let (system, own, other) = (&w.system, &w.own, &w.other);
                let (deadlocks, oks, errors) = (&w.deadlocks, &w.oks, &w.errors);
                s.spawn(move |_| {
                    // Children far past 256 surely run at once on one worker without help.
                    if i >= 600 && i % 50 == 0 {
                        match system.wait(own) {
                            Err(e) if e.message().contains("deadlock") => {
                                deadlocks.fetch_add(1, SeqCst);
                            }
                            other => errors.lock().unwrap().push(format!("own {i}: {other:?}")),
                        }
                    }
                    if i >= 600 && i % 50 == 25 {
                        match system.wait(other) {
                            Ok(()) => {
                                oks.fetch_add(1, SeqCst);
                            }
                            e => errors.lock().unwrap().push(format!("other {i}: {e:?}")),
                        }
                    }
                });
            }
        },
        |w, _| {
            w.resumed.fetch_add(1, SeqCst);
            Action::Done
        },
    )
}

#[test]
fn a_wait_on_the_parents_counter_in_an_at_once_child_is_a_deadlock() {
    watchdog(WATCH, || {
        let system = Arc::new(sys(1, false));
        let own = system.counter();
        let other = system.counter();
        // Queued behind the parent on the only worker: a child's wait on it must run it.
        let w = Waiter {
            n: 1200,
            system: system.clone(),
            own: own.clone(),
            other: other.clone(),
            deadlocks: Default::default(),
            oks: Default::default(),
            errors: Default::default(),
            resumed: Default::default(),
        };
        let (deadlocks, oks, errors, resumed) = (
            w.deadlocks.clone(),
            w.oks.clone(),
            w.errors.clone(),
            w.resumed.clone(),
        );
        system.submit_counted(&own, Job::new(w, waiter_start));
        system.submit_counted(&other, Job::from_fn(|_| {}));
        system.wait(&own).expect("no panic");
        system.wait(&other).expect("no panic");
        assert!(
            errors.lock().unwrap().is_empty(),
            "{:?}",
            errors.lock().unwrap()
        );
        assert_eq!(deadlocks.load(SeqCst), 12, "waits on the parent's counter");
        assert_eq!(oks.load(SeqCst), 12, "waits on another counter");
        assert_eq!(resumed.load(SeqCst), 1);
        release(system);
    });
}

/// A child that spawns a detached closure counted on a counter of its own and waits for it
/// with `JobSystem::wait` (allowed inside a job: the wait helps). Expected: every wait ends.
/// Actual: each thread's wait runs a sibling instead of the detached job it is waiting for,
/// that sibling does the same, and at `MAX_HELPING_DEPTH` (64) nested waits the thread stops
/// helping and sleeps; once every worker is there, nothing runs the detached jobs queued under
/// them: 63 of 100 ran on one worker, 188 of 3000 on three. Not caused by the at-once change
/// (100 children hang as well), but it hits every fan-out of waiting children.
#[test]
fn children_that_wait_on_their_own_detached_work_do_not_hang() {
    watchdog(WATCH, || {
        spawn_and_wait(1, false, 100);
        spawn_and_wait(1, false, 300);
        spawn_and_wait(2, true, 300);
        spawn_and_wait(3, false, 3000);
    });
}

/// The same through a scope inside a job.
#[test]
fn a_scope_of_children_waiting_on_their_own_detached_work_does_not_hang() {
    watchdog(60, || {
        let system = Arc::new(sys(1, false));
        let runs = Arc::new(AtomicUsize::new(0));
        let done = system.counter();
        let (s2, r2) = (system.clone(), runs.clone());
        system.submit_counted(&done, Job::from_fn(move |_| scope_fan(&s2, &r2, 300)));
        assert!(
            poll_until(20, || done.is_zero()),
            "stuck: {} runs of 600",
            runs.load(SeqCst)
        );
        system.wait(&done).expect("no panic");
        assert_eq!(runs.load(SeqCst), 600);
        release(system);
    });
}

/// Inside a job: a scope of `n` closure children, each spawning a detached job counted on its
/// own counter and waiting for it.
fn scope_fan(sys: &JobSystem, runs: &Arc<AtomicUsize>, n: usize) {
    sys.scope(|s| {
        for _ in 0..n {
            s.spawn(|cx| {
                runs.fetch_add(1, SeqCst);
                let mine = Counter::new();
                let r = runs.clone();
                cx.spawn_counted(&mine, move |_| {
                    r.fetch_add(1, SeqCst);
                });
                sys.wait(&mine).expect("no panic");
            });
        }
    });
}

/// Waits until the test holds the only handle to `system`, so that it is never dropped on a
/// worker by a job's capture.
fn release(system: Arc<JobSystem>) {
    assert!(poll_until(30, || Arc::strong_count(&system) == 1));
}

// ------------------------------------------------------------------------------------------
// Priority-limited waits, run_pinned, registered threads.
// ------------------------------------------------------------------------------------------

#[test]
fn inside_wait_with_lowest_priority() {
    watchdog(WATCH, || {
        for (workers, help) in [(1, true), (2, true), (1, false)] {
            let system = sys(workers, help);
            for p in PRIORITIES {
                for n in [256, 1025, 30_000] {
                    let plan = Plan {
                        n,
                        job_every: 9,
                        extra: Extra::None,
                        inherit: Inherit {
                            priority: p,
                            label: Label::NONE,
                            frame: Some(3),
                        },
                    };
                    let tally = Tally::default();
                    let side = Counter::new();
                    let done = system.counter();
                    system.submit_counted(&done, parent(&plan, &tally, &side));
                    let options = WaitOptions::new()
                        .lowest_priority(Priority::High)
                        .timeout(Duration::from_secs(120));
                    assert!(system.wait_with(&done, options).expect("no panic"));
                    assert_eq!(tally.runs.load(SeqCst), n);
                    assert_eq!(tally.resumed.load(SeqCst), 1);
                    assert!(tally.wrong.lock().unwrap().is_empty());
                }
            }
        }
    });
}

#[test]
fn a_parent_pinned_to_the_main_thread_under_run_pinned() {
    watchdog(WATCH, || {
        for (workers, help) in CONFIGS {
            let system = sys(workers, help);
            for n in [255, 256, 1025, 30_000] {
                let plan = Plan {
                    n,
                    job_every: 11,
                    extra: Extra::None,
                    inherit: Inherit {
                        priority: Priority::Low,
                        label: Label::new("pinned"),
                        frame: Some(9),
                    },
                };
                let tally = Tally::default();
                let side = Counter::new();
                let done = system.counter();
                system.submit_counted(&done, parent(&plan, &tally, &side).pinned_to_main());
                let finished = poll_until(120, || {
                    system.run_pinned().expect("the main thread");
                    done.is_zero()
                });
                assert!(finished, "{workers}/{help} {n}: stuck at {}", done.value());
                system.wait(&done).expect("no panic");
                assert_eq!(tally.runs.load(SeqCst), n);
                assert_eq!(tally.resumed.load(SeqCst), 1);
                assert!(
                    tally.wrong.lock().unwrap().is_empty(),
                    "{:?}",
                    tally.wrong.lock().unwrap()
                );
            }
        }
    });
}

#[test]
fn a_parent_pinned_to_a_registered_thread() {
    watchdog(WATCH, || {
        for (workers, help) in CONFIGS {
            let system = sys(workers, help);
            for n in [256, 1025, 30_000] {
                let plan = Plan {
                    n,
                    job_every: 13,
                    extra: Extra::PanicAt(700),
                    inherit: Inherit {
                        priority: Priority::High,
                        label: Label::NONE,
                        frame: None,
                    },
                };
                let tally = Tally::default();
                let side = Counter::new();
                let done = system.counter();
                std::thread::scope(|s| {
                    let (system, done) = (&system, &done);
                    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
                    let (submitted_tx, submitted_rx) = std::sync::mpsc::channel::<()>();
                    let handle = s.spawn(move || {
                        let registration = system.register_thread().expect("register");
                        ready_tx.send(registration.thread()).unwrap();
                        submitted_rx.recv().unwrap();
                        let finished = poll_until(120, || {
                            system.run_pinned().expect("registered");
                            done.is_zero()
                        });
                        drop(registration);
                        finished
                    });
                    let thread = ready_rx.recv().unwrap();
                    system.submit_counted(done, parent(&plan, &tally, &side).pinned_to(thread));
                    submitted_tx.send(()).unwrap();
                    assert!(handle.join().unwrap(), "{workers}/{help} {n}: stuck");
                });
                let expect_panic = n > 700;
                let result = system.wait(&done);
                assert_eq!(result.is_err(), expect_panic, "{n}: {result:?}");
                assert_eq!(tally.runs.load(SeqCst), n);
                assert_eq!(tally.resumed.load(SeqCst), usize::from(!expect_panic));
                assert_eq!(tally.child_drops.get(), n);
            }
        }
    });
}

// ------------------------------------------------------------------------------------------
// The recorder.
// ------------------------------------------------------------------------------------------

#[test]
fn one_span_per_child_with_label_and_frame() {
    watchdog(WATCH, || {
        for (workers, help) in CONFIGS {
            let system = sys(workers, help);
            let mut baseline = None;
            for n in [1, 255, 256, 257, 1025, 5000] {
                let label = Label::new("recorded-fan");
                let plan = Plan {
                    n,
                    job_every: 0,
                    extra: Extra::None,
                    inherit: Inherit {
                        priority: Priority::Normal,
                        label,
                        frame: Some(77),
                    },
                };
                let tally = Tally::default();
                let side = Counter::new();
                let done = system.counter();
                system.start_recording().expect("start");
                system.submit_counted(&done, parent(&plan, &tally, &side));
                system.wait(&done).expect("no panic");
                let trace = system.stop_recording().expect("stop");
                assert_eq!(trace.dropped_spans, 0);
                let ours: Vec<_> = trace.spans.iter().filter(|s| s.label == label).collect();
                assert!(
                    ours.iter().all(|s| s.frame == Some(77)),
                    "a span of the fan has the wrong frame"
                );
                for s in &ours {
                    assert!(s.start_ns <= s.end_ns, "span ends before it starts: {s:?}");
                }
                // The parent's own spans are the same whatever n: spans - n is constant.
                let extra = ours.len() as i64 - n as i64;
                let base = *baseline.get_or_insert(extra);
                assert_eq!(
                    extra,
                    base,
                    "{workers}/{help}: {n} children gave {} spans of the label (1 child: {})",
                    ours.len(),
                    1 + base
                );
            }
        }
    });
}

// ------------------------------------------------------------------------------------------
// Deep nesting on the default stacks.
// ------------------------------------------------------------------------------------------

/// A chain of scopes: each level spawns 300 closure children; the last of them (far past
/// 256, so at once on one worker) opens the next level's scope.
fn chain(cx_sys: &JobSystem, depth: usize, runs: &AtomicUsize) {
    cx_sys.scope(|s| {
        for i in 0..300 {
            s.spawn(move |_| {
                runs.fetch_add(1, SeqCst);
                if i == 299 && depth > 0 {
                    chain(cx_sys, depth - 1, runs);
                }
            });
        }
    });
}

#[test]
fn a_chain_of_scopes_nesting_at_once_children_60_deep() {
    watchdog(WATCH, || {
        for (workers, help) in CONFIGS {
            let system = Arc::new(sys(workers, help));
            let runs = Arc::new(AtomicUsize::new(0));
            let done = system.counter();
            let (s2, r2) = (system.clone(), runs.clone());
            system.submit_counted(&done, Job::from_fn(move |_| chain(&s2, 59, &r2)));
            system.wait(&done).expect("no panic");
            assert_eq!(runs.load(SeqCst), 300 * 60);
            release(system);
        }
    });
}

/// A tree of `Action::Spawn` jobs: 300 job children, each spawning 300 closure children that
/// each join, nested.
struct Tree {
    depth: u32,
    runs: Arc<AtomicUsize>,
    system: Arc<JobSystem>,
}

fn tree(_: &mut Tree, _: &mut Context<'_>) -> Action<Tree> {
    Action::Spawn(
        |t, s| {
            for _ in 0..300 {
                if t.depth > 0 {
                    s.spawn_job(Job::new(
                        Tree {
                            depth: t.depth - 1,
                            runs: t.runs.clone(),
                            system: t.system.clone(),
                        },
                        tree,
                    ));
                } else {
                    let runs = &t.runs;
                    s.spawn(move |cx| {
                        runs.fetch_add(1, SeqCst);
                        let (a, b) = cx_join_pair(cx, runs);
                        assert_eq!(a + b, 3);
                    });
                }
            }
        },
        |t, _| {
            t.runs.fetch_add(1, SeqCst);
            Action::Done
        },
    )
}

/// Joins twice, nested, counting three runs.
fn cx_join_pair(cx: &mut Context<'_>, runs: &AtomicUsize) -> (usize, usize) {
    cx.join(
        |_| {
            runs.fetch_add(1, SeqCst);
            1
        },
        |cx| {
            let (x, y) = cx.join(|_| 1, |_| 1);
            runs.fetch_add(2, SeqCst);
            x + y
        },
    )
}

#[test]
fn a_tree_300_by_300_with_nested_joins() {
    watchdog(WATCH, || {
        for (workers, help) in CONFIGS {
            let system = Arc::new(sys(workers, help));
            let runs = Arc::new(AtomicUsize::new(0));
            let done = system.counter();
            system.submit_counted(
                &done,
                Job::new(
                    Tree {
                        depth: 1,
                        runs: runs.clone(),
                        system: system.clone(),
                    },
                    tree,
                ),
            );
            system.wait(&done).expect("no panic");
            // 1 root + 300 inner resumes + 90 000 leaves * (1 + 3).
            assert_eq!(runs.load(SeqCst), 1 + 300 + 90_000 * 4);
            release(system);
        }
    });
}

/// Experiment: `n` closure children on `workers`, each spawning a detached closure counted
/// on a counter of its own and waiting for it with `JobSystem::wait`.
fn spawn_and_wait(workers: usize, help: bool, n: usize) {
    struct W(Arc<JobSystem>, Arc<AtomicUsize>, usize);
    let system = Arc::new(sys(workers, help));
    let done = system.counter();
    let runs = Arc::new(AtomicUsize::new(0));
    system.submit_counted(
        &done,
        Job::new(W(system.clone(), runs.clone(), n), |_, _| {
            Action::Spawn(
                |w, s| {
                    for _ in 0..w.2 {
                        let (sys, runs) = (&w.0, &w.1);
                        s.spawn(move |cx| {
                            let mine = Counter::new();
                            let r = runs.clone();
                            cx.spawn_counted(&mine, move |_| {
                                r.fetch_add(1, SeqCst);
                            });
                            sys.wait(&mine).expect("no panic");
                        });
                    }
                },
                |_, _| Action::Done,
            )
        }),
    );
    let finished = poll_until(20, || done.is_zero());
    assert!(
        finished,
        "{workers} workers help {help}, {n} children: stuck, {} of {n} detached jobs ran",
        runs.load(SeqCst)
    );
    system.wait(&done).unwrap();
    assert_eq!(runs.load(SeqCst), n);
    release(system);
}

/// The chain 100 deep on one worker without help. Expected: it ends (the docs promise nesting
/// never overflows the stack; nothing says it may hang). Actual: past 64 nested scope waits the
/// worker stops helping and sleeps, and nobody runs the queued children of the deepest scope.
/// FINDING at caa1a52; answered by the docs of `JobSystem::scope` (a scope's wait nests at
/// most `MAX_HELPING_DEPTH` deep, then only sleeps; with one worker and no help nobody runs the
/// innermost scope's jobs), not by a change: the bound keeps the stack from overflowing.
#[test]
#[ignore = "LIMITATION (documented in JobSystem::scope): scopes nested past MAX_HELPING_DEPTH (64) on one worker without help never end"]
fn a_chain_of_scopes_100_deep_on_one_worker() {
    watchdog(60, || {
        let system = Arc::new(sys(1, false));
        let runs = Arc::new(AtomicUsize::new(0));
        let done = system.counter();
        let (s2, r2) = (system.clone(), runs.clone());
        system.submit_counted(&done, Job::from_fn(move |_| chain(&s2, 99, &r2)));
        assert!(
            poll_until(20, || done.is_zero()),
            "stuck: {} of 30000 children ran",
            runs.load(SeqCst)
        );
        release(system);
    });
}

// ------------------------------------------------------------------------------------------
// Where closure children start to run at once (fifth session of issue 11).
// ------------------------------------------------------------------------------------------

/// The first index of `n` closure children that ran at once inside `spawn` (on the spawning
/// thread, while the spawning closure was still in its loop), on `system`; `None` if none did.
fn first_at_once(system: &JobSystem, n: usize) -> Option<usize> {
    thread_local! {
        static IN_LOOP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    struct Fan {
        n: usize,
        first: Arc<Mutex<Option<usize>>>,
    }
    let first = Arc::new(Mutex::new(None::<usize>));
    let done = system.counter();
    system.submit_counted(
        &done,
        Job::new(
            Fan {
                n,
                first: first.clone(),
            },
            |_, _| {
                Action::Spawn(
                    |fan, s| {
                        IN_LOOP.with(|f| f.set(true));
                        for i in 0..fan.n {
                            let first = &fan.first;
                            s.spawn(move |_| {
                                if IN_LOOP.with(|f| f.get()) {
                                    let mut first = first.lock().unwrap();
                                    if first.is_none_or(|f| i < f) {
                                        *first = Some(i);
                                    }
                                }
                            });
                        }
                        IN_LOOP.with(|f| f.set(false));
                    },
                    |_, _| Action::Done,
                )
            },
        ),
    );
    system.wait(&done).unwrap();
    let first = *first.lock().unwrap();
    first
}

/// A closure child runs at once only once enough jobs wait for the other threads to steal: 64
/// up to three threads running jobs, 32 per other thread above (224 for eight threads). With
/// 64 for every system, eight threads' thieves could drain the queue while the spawner ran a
/// run of 32 long children without looking, and sit idle.
#[test]
fn closure_children_run_at_once_only_past_a_queue_that_grows_with_the_threads() {
    watchdog(WATCH, || {
        // One worker, no help: nobody steals, so the first child past the threshold (and the
        // children kept back and held) runs at once.
        let one = sys(1, false);
        for _ in 0..20 {
            let first = first_at_once(&one, 1000).expect("children run at once on one thread");
            assert!(
                (64..=64 + 10).contains(&first),
                "one thread: the first child run at once is child {first}, not past 64"
            );
        }
        // Eight threads running jobs (seven workers and the helping main thread): thieves may
        // take jobs, so the queue fills later, never earlier.
        let eight = sys(7, true);
        for _ in 0..20 {
            if let Some(first) = first_at_once(&eight, 3000) {
                assert!(
                    first >= 224,
                    "eight threads: child {first} ran at once with fewer than 224 queued"
                );
            }
        }
    });
}

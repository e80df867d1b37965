//! Priorities: a worker takes the highest-priority job it can see; children take their
//! parent's priority unless they set their own; long jobs and batches can give way to High work.
//!
//! The order tests occupy the only worker with a gate job, queue work behind it, open the gate,
//! and let the worker alone run the queue (the test thread polls instead of waiting, since a
//! waiting thread would run jobs too).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{occupy_workers, poll_until, poll_zero, system, watchdog, Flag, Gate};
use jobs::{Action, Context, Counter, Grain, Job, Priority};

type Log = Arc<Mutex<Vec<&'static str>>>;

#[test]
fn a_high_job_queued_after_low_ones_runs_before_them() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let order = Log::default();
        let counter = Counter::new();
        for (name, priority) in [
            ("low 1", Priority::Low),
            ("low 2", Priority::Low),
            ("normal", Priority::Normal),
            ("low 3", Priority::Low),
            ("high", Priority::High),
        ] {
            let order = order.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| order.lock().unwrap().push(name)).with_priority(priority),
            );
        }
        gate.open();
        poll_zero(&blocked, 30);
        poll_zero(&counter, 30);
        assert_eq!(
            *order.lock().unwrap(),
            ["high", "normal", "low 1", "low 2", "low 3"]
        );
    });
}

#[test]
fn submit_batch_respects_each_jobs_priority() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let order = Arc::new(Mutex::new(Vec::new()));
        let counter = Counter::new();
        let jobs = (0..30).map(|i| {
            let priority = Priority::ALL[2 - i % 3]; // Low, Normal, High, Low, ...
            let order = order.clone();
            Job::from_fn(move |cx| order.lock().unwrap().push(cx.priority()))
                .with_priority(priority)
        });
        system.submit_batch(&counter, jobs);
        gate.open();
        poll_zero(&blocked, 30);
        poll_zero(&counter, 30);
        let order = order.lock().unwrap().clone();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(
            order, sorted,
            "every High before every Normal before every Low"
        );
        assert_eq!(order.len(), 30);
    });
}

#[test]
fn children_take_their_parents_priority_unless_they_set_their_own() {
    watchdog(30, || {
        let system = system(2);
        let seen = Arc::new(Mutex::new(Vec::new()));
        struct P(Arc<Mutex<Vec<(&'static str, Priority)>>>);
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(P(seen.clone()), |p, cx| {
                p.0.lock().unwrap().push(("parent", cx.priority()));
                let s = p.0.clone();
                cx.spawn_job(Job::from_fn(move |cx| {
                    s.lock().unwrap().push(("detached", cx.priority()));
                }));
                Action::Spawn(
                    |p, spawner| {
                        let s = p.0.clone();
                        spawner.spawn(move |cx| {
                            s.lock().unwrap().push(("child", cx.priority()));
                        });
                        let s = p.0.clone();
                        spawner.spawn_job(
                            Job::from_fn(move |cx| {
                                s.lock().unwrap().push(("low child", cx.priority()));
                            })
                            .with_priority(Priority::Low),
                        );
                    },
                    |p, cx| {
                        p.0.lock().unwrap().push(("continuation", cx.priority()));
                        Action::Done
                    },
                )
            })
            .with_priority(Priority::High),
        );
        system.wait(&counter).unwrap();
        assert!(poll_until(30, || seen.lock().unwrap().len() == 5));
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("child", Priority::High),
                ("continuation", Priority::High),
                ("detached", Priority::High),
                ("low child", Priority::Low),
                ("parent", Priority::High),
            ]
        );
        // Jobs submitted from outside, and scoped jobs, default to Normal.
        let priority = Arc::new(Mutex::new(None));
        let p = priority.clone();
        system.scope(|s| s.spawn(move |cx| *p.lock().unwrap() = Some(cx.priority())));
        assert_eq!(*priority.lock().unwrap(), Some(Priority::Normal));
    });
}

#[test]
fn a_long_job_sees_waiting_high_work_and_yields_to_it() {
    watchdog(30, || {
        let system = system(1);
        let order = Log::default();
        let started = Flag::default();
        struct L(Log, Flag, u64);
        fn long(l: &mut L, cx: &mut Context<'_>) -> Action<L> {
            l.0.lock().unwrap().push("low starts");
            l.1.set();
            // Work until High work is queued (the test queues it once this job has started).
            while !cx.higher_priority_waiting() {
                l.2 += 1;
                std::hint::spin_loop();
            }
            Action::Yield(|l, cx| {
                assert!(!cx.higher_priority_waiting());
                l.0.lock().unwrap().push("low continues");
                Action::Done
            })
        }
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(L(order.clone(), started.clone(), 0), long).with_priority(Priority::Low),
        );
        assert!(poll_until(30, || started.get()));
        let o = order.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                assert!(!cx.higher_priority_waiting(), "nothing is above High");
                o.lock().unwrap().push("high");
            })
            .with_priority(Priority::High),
        );
        poll_zero(&counter, 30);
        system.wait(&counter).unwrap();
        assert_eq!(
            *order.lock().unwrap(),
            ["low starts", "high", "low continues"]
        );
    });
}

#[test]
fn a_low_batch_gives_way_to_a_high_job_between_items() {
    watchdog(30, || {
        let system = system(1);
        const ITEMS: usize = 1000;
        let done = Arc::new(AtomicUsize::new(0));
        let high_submitted = Flag::default();
        let items_done_when_high_ran = Arc::new(AtomicUsize::new(usize::MAX));
        let batch = Counter::new();
        let (d, h) = (done.clone(), high_submitted.clone());
        system.submit_for(
            &batch,
            0..ITEMS,
            jobs::Batch::from(Grain::fixed(ITEMS).unwrap()).priority(Priority::Low), // one chunk: only yielding lets the High job in
            move |i| {
                if i == 20 {
                    // Hold the batch here until the High job is queued.
                    assert!(poll_until(30, || h.get()), "the High job was never queued");
                }
                d.fetch_add(1, Ordering::SeqCst);
            },
        );
        assert!(poll_until(30, || done.load(Ordering::SeqCst) >= 10));
        let high = Counter::new();
        let (d, w) = (done.clone(), items_done_when_high_ran.clone());
        system.submit_counted(
            &high,
            Job::from_fn(move |_| w.store(d.load(Ordering::SeqCst), Ordering::SeqCst))
                .with_priority(Priority::High),
        );
        high_submitted.set();
        poll_zero(&high, 30);
        poll_zero(&batch, 30);
        let when = items_done_when_high_ran.load(Ordering::SeqCst);
        assert!(
            (21..ITEMS).contains(&when),
            "the High job ran after {when} of {ITEMS} items: it should overtake the batch"
        );
        assert_eq!(done.load(Ordering::SeqCst), ITEMS);
        system.wait(&batch).unwrap();
    });
}

/// A runner of tiny items looks for higher-priority work only every so many items (paced, so
/// that looking costs little next to them), but still within a few hundred: a High job
/// submitted while a one-chunk Low batch of 20 million tiny items runs starts long before the
/// batch ends.
#[test]
fn a_low_batch_of_tiny_items_still_gives_way_to_a_high_job_soon() {
    watchdog(60, || {
        let system = system(1);
        const ITEMS: usize = 20_000_000;
        let done = Arc::new(AtomicUsize::new(0));
        let batch = Counter::new();
        let d = done.clone();
        system.submit_for(
            &batch,
            0..ITEMS,
            jobs::Batch::from(Grain::fixed(ITEMS).unwrap()).priority(Priority::Low),
            move |_| {
                d.fetch_add(1, Ordering::Relaxed);
            },
        );
        // Well into the batch: the runner's pace has settled on its longest stride.
        assert!(poll_until(30, || done.load(Ordering::Relaxed) >= 1_000_000));
        let submitted_at = done.load(Ordering::Relaxed);
        let when = Arc::new(AtomicUsize::new(usize::MAX));
        let high = Counter::new();
        let (d, w) = (done.clone(), when.clone());
        system.submit_counted(
            &high,
            Job::from_fn(move |_| w.store(d.load(Ordering::Relaxed), Ordering::Relaxed))
                .with_priority(Priority::High),
        );
        poll_zero(&high, 30);
        poll_zero(&batch, 60);
        let when = when.load(Ordering::Relaxed);
        // A look every 256 items at the most; the margin is for the submitting thread losing
        // its core on this noisy machine, not for the runner.
        assert!(
            when.saturating_sub(submitted_at) < 1_000_000,
            "the High job ran {} items after it was submitted (at item {submitted_at} of \
             {ITEMS}): the runner stopped looking for higher-priority work",
            when.saturating_sub(submitted_at)
        );
        assert_eq!(done.load(Ordering::Relaxed), ITEMS);
        system.wait(&batch).unwrap();
    });
}

#[test]
fn yield_requeues_behind_jobs_of_the_same_priority_only() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let order = Log::default();
        let counter = Counter::new();
        struct Y(Log, u32);
        fn y(s: &mut Y, _: &mut Context<'_>) -> Action<Y> {
            s.0.lock().unwrap().push("normal yields");
            if s.1 == 0 {
                return Action::Done;
            }
            s.1 -= 1;
            Action::Yield(y)
        }
        system.submit_counted(&counter, Job::new(Y(order.clone(), 2), y));
        let o = order.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| o.lock().unwrap().push("normal")),
        );
        let o = order.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| o.lock().unwrap().push("low")).with_priority(Priority::Low),
        );
        gate.open();
        poll_zero(&blocked, 30);
        poll_zero(&counter, 30);
        // A yielding Normal job lets the other Normal job run, but not the Low one.
        assert_eq!(
            *order.lock().unwrap(),
            [
                "normal yields",
                "normal",
                "normal yields",
                "normal yields",
                "low"
            ]
        );
    });
}

#[test]
fn an_idle_worker_takes_normal_work_from_another_deque_before_a_shared_low_job() {
    // It used to take the Low job from the shared queue first (it looked at other workers'
    // deques only when it found nothing at any priority): a stream of Low background jobs then
    // delayed a frame's Normal jobs spawned on a busy worker by a whole Low job each.
    watchdog(30, || {
        let system = system(2);
        let gate = Gate::default();
        let order = Log::default();
        let counter = Counter::new();
        // Worker B: held at the gate until everything is queued.
        let (g, b_started) = (gate.clone(), Flag::default());
        let started = b_started.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| {
                started.set();
                g.wait();
            }),
        );
        assert!(poll_until(10, || b_started.get()));
        // Worker A: spawns a Normal job onto its own deque, then stays busy until someone has
        // started a job after the gate opened.
        let (spawned, log) = (Flag::default(), order.clone());
        let s = spawned.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                let l = log.clone();
                cx.spawn_job(Job::from_fn(move |_| l.lock().unwrap().push("normal")));
                s.set();
                let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while log.lock().unwrap().is_empty() && std::time::Instant::now() < until {
                    std::thread::yield_now();
                }
            }),
        );
        assert!(poll_until(10, || spawned.get()));
        // A Low job in the shared queue.
        let log = order.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| log.lock().unwrap().push("low")).with_priority(Priority::Low),
        );
        gate.open();
        poll_zero(&counter, 30);
        assert_eq!(order.lock().unwrap().clone(), ["normal", "low"]);
    });
}

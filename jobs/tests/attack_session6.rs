//! Session 6 of an outside tester's attack, through the public API only, on the cap of
//! background work: `Config::low_priority_threads(n)` and `JobSystem::low_priority_threads()`.
//!
//! Promised (docs of `Config::low_priority_threads`, `JobSystem::low_priority_threads`): at most
//! `n` threads run `Priority::Low` jobs at once (default: every thread that runs jobs but one,
//! at least one; the main thread counts when it helps while it waits); High and Normal jobs are
//! unaffected; a thread waiting inside a Low job (`JobSystem::wait`, `wait_with`,
//! `wait_timeout`, `Context::join`) does not count; jobs pinned to a thread run there whatever
//! the count; `low_priority_threads(0)` is `ConfigError::ZeroLowPriorityThreads`; `usize::MAX`
//! (or anything above the threads) means no cap.
//!
//! Attacked: caps of 1, of the thread count, above it and `usize::MAX`; 1 worker with and
//! without help, 16 and 64 workers; Low jobs that spawn children of every priority (a spawn
//! step, `cx.spawn`, `spawn_job_counted`), wait (every kind of wait), join thousands deep,
//! yield, run batches, panic (also in the drop of their capture), are pinned to the main thread
//! and to registered threads, are queued or running at shutdown; threads outside the pool that
//! help (`help_until`); idle workers that must be woken when a slot is lent or given back.
//!
//! Concurrency is measured with atomic counters entered inside the Low jobs' bodies (left
//! before a wait, entered again after it), which can only under-count the threads really
//! running Low work: a count above the cap is a real breach. No timing is asserted beyond
//! generous liveness deadlines; every test runs under `common::watchdog`.
//!
//! `cargo test -p jobs --release --test attack_session6`

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_child_passed, isolated, poll_until, poll_zero, watchdog};
use jobs::{
    Action, Batch, Config, ConfigError, Context, Counter, Grain, Job, JobSystem, Priority, Spawner,
    WaitOptions,
};

const WATCH: u64 = 120;

/// A system of unpinned workers; `cap` sets `low_priority_threads` when given.
fn sys(workers: usize, help: bool, cap: Option<usize>) -> JobSystem {
    let mut config = Config::default()
        .workers(workers)
        .core_affinity(false)
        .help_while_waiting(help);
    if let Some(cap) = cap {
        config = config.low_priority_threads(cap);
    }
    JobSystem::new(config).expect("a valid config")
}

/// `sys`, with idle workers that sleep at once (so that a missing wake-up shows).
fn sleepy(workers: usize, help: bool, cap: usize) -> JobSystem {
    let config = Config::default()
        .workers(workers)
        .core_affinity(false)
        .help_while_waiting(help)
        .spin_before_sleep(Duration::ZERO)
        .low_priority_threads(cap);
    JobSystem::new(config).expect("a valid config")
}

/// How many threads run some work at once (entered inside the work, left before any wait),
/// and the most that ever did.
#[derive(Clone, Default)]
struct Running {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    runs: Arc<AtomicUsize>,
}

/// Left on drop, also while a panic unwinds.
struct Inside<'a>(&'a Running);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, SeqCst);
    }
}

impl Running {
    fn enter(&self) -> Inside<'_> {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        self.runs.fetch_add(1, SeqCst);
        Inside(self)
    }

    /// Enters for `d` of busy work.
    fn work(&self, d: Duration) {
        let _inside = self.enter();
        spin(d);
    }

    fn most(&self) -> usize {
        self.most.load(SeqCst)
    }

    fn runs(&self) -> usize {
        self.runs.load(SeqCst)
    }
}

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// A flag shared between jobs and the test.
#[derive(Clone, Default)]
struct Flag(Arc<AtomicBool>);

impl Flag {
    fn set(&self) {
        self.0.store(true, SeqCst);
    }
    fn get(&self) -> bool {
        self.0.load(SeqCst)
    }
}

/// Arrives, then waits (polling, holding the thread) until `n` have arrived or `secs` passed.
fn meet(arrived: &AtomicUsize, n: usize, secs: u64) -> bool {
    arrived.fetch_add(1, SeqCst);
    poll_until(secs, || arrived.load(SeqCst) >= n)
}

/// Submits `n` jobs of `priority` that hold their threads until all `n` run at once (or 10 s
/// pass); returns how many saw all `n`. The calling thread does not run them (it polls).
fn run_at_once(system: &JobSystem, priority: Priority, n: usize) -> usize {
    let arrived = Arc::new(AtomicUsize::new(0));
    let met = Arc::new(AtomicUsize::new(0));
    let done = system.counter();
    for _ in 0..n {
        let (arrived, met) = (arrived.clone(), met.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |_| {
                if meet(&arrived, n, 10) {
                    met.fetch_add(1, SeqCst);
                }
            })
            .with_priority(priority),
        );
    }
    poll_zero(&done, 60);
    met.load(SeqCst)
}

/// After whatever happened to the system: every one of its `cap` Low slots can still be held
/// at once (the slots did not leak), and every worker still runs Normal jobs.
fn assert_slots_intact(system: &JobSystem, cap: usize, what: &str) {
    assert_eq!(
        run_at_once(system, Priority::Low, cap),
        cap,
        "{what}: {cap} Low jobs could no longer run at once with a cap of {cap} (a slot leaked)"
    );
    let workers = system.worker_count();
    assert_eq!(
        run_at_once(system, Priority::Normal, workers),
        workers,
        "{what}: the {workers} workers no longer all run Normal jobs (one died or is stuck)"
    );
}

// ---------------------------------------------------------------------------------------------
// The setting and its defaults
// ---------------------------------------------------------------------------------------------

#[test]
fn the_cap_reported_follows_the_documented_defaults_and_extremes() {
    watchdog(WATCH, || {
        // (workers, help, setting, expected)
        let cases: [(usize, bool, Option<usize>, usize); 14] = [
            (1, true, None, 1),  // two threads (worker + main) but one: 1
            (1, false, None, 1), // one thread, at least one: 1
            (2, true, None, 2),  // three threads but one
            (2, false, None, 1), // two threads but one
            (3, false, None, 2), // the documented example
            (16, false, None, 15),
            (16, true, None, 16),
            (64, false, None, 63),
            (64, true, None, 64),
            (2, false, Some(1), 1),
            (2, false, Some(2), 2),
            (2, false, Some(5), 5), // above the threads: kept as given, no cap
            (64, true, Some(usize::MAX), usize::MAX),
            (1, false, Some(usize::MAX), usize::MAX),
        ];
        for (workers, help, setting, expected) in cases {
            let system = sys(workers, help, setting);
            assert_eq!(
                system.low_priority_threads(),
                expected,
                "workers({workers}), help {help}, low_priority_threads({setting:?})"
            );
        }
        for (workers, help) in [(1, true), (1, false), (64, true)] {
            let config = Config::default()
                .workers(workers)
                .help_while_waiting(help)
                .core_affinity(false)
                .low_priority_threads(0);
            let err = JobSystem::new(config).err();
            assert_eq!(err, Some(ConfigError::ZeroLowPriorityThreads));
        }
        // The last call wins: a zero overwritten by a valid value is valid, and the reverse not.
        let ok = Config::default()
            .workers(2)
            .core_affinity(false)
            .low_priority_threads(0)
            .low_priority_threads(1);
        assert_eq!(JobSystem::new(ok).expect("valid").low_priority_threads(), 1);
        let bad = Config::default()
            .workers(2)
            .core_affinity(false)
            .low_priority_threads(1)
            .low_priority_threads(0);
        assert_eq!(
            JobSystem::new(bad).err(),
            Some(ConfigError::ZeroLowPriorityThreads)
        );
    });
}

// ---------------------------------------------------------------------------------------------
// The cap itself
// ---------------------------------------------------------------------------------------------

/// Plain Low jobs on many configurations, including 16 and 64 workers: never more at once than
/// the cap, and all run.
#[test]
fn plain_low_jobs_never_exceed_the_cap_on_any_config() {
    watchdog(WATCH, || {
        // (workers, help, cap)
        let configs: [(usize, bool, Option<usize>); 12] = [
            (1, false, None),
            (1, true, None),
            (2, true, Some(1)),
            (3, false, Some(1)),
            (3, false, Some(3)),
            (4, true, Some(2)),
            (16, false, Some(1)),
            (16, false, Some(4)),
            (16, true, None),
            (64, false, Some(1)),
            (64, false, Some(7)),
            (64, true, Some(usize::MAX)),
        ];
        for (workers, help, cap) in configs {
            let system = sys(workers, help, cap);
            let cap = system.low_priority_threads();
            let low = Running::default();
            let done = system.counter();
            for _ in 0..150 {
                let low = low.clone();
                system.submit_counted(
                    &done,
                    Job::from_fn(move |_| low.work(Duration::from_micros(150)))
                        .with_priority(Priority::Low),
                );
            }
            if help {
                system.wait(&done).expect("no panic");
            } else {
                poll_zero(&done, 60);
            }
            assert_eq!(low.runs(), 150);
            assert!(
                low.most() <= cap,
                "workers({workers}) help {help}: {} Low jobs at once, cap {cap}",
                low.most()
            );
        }
    });
}

/// A cap equal to the threads, above them, and `usize::MAX` all let every thread hold a Low
/// job at once; the helping main thread is one of them.
#[test]
fn a_cap_at_or_above_the_threads_lets_every_thread_run_low_jobs_at_once() {
    watchdog(WATCH, || {
        for (workers, cap) in [(3, 3), (2, 5), (4, usize::MAX), (16, 16), (16, usize::MAX)] {
            let system = sys(workers, false, Some(cap));
            assert_eq!(
                run_at_once(&system, Priority::Low, workers),
                workers,
                "workers({workers}), cap {cap}: not every worker ran a Low job at once"
            );
        }
        // Two workers and the helping main thread, cap 3: the main thread takes the third.
        let system = sys(2, true, Some(3));
        let arrived = Arc::new(AtomicUsize::new(0));
        let met = Arc::new(AtomicUsize::new(0));
        let on_main = Arc::new(AtomicUsize::new(0));
        let done = system.counter();
        for _ in 0..3 {
            let (arrived, met, on_main) = (arrived.clone(), met.clone(), on_main.clone());
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    if cx.on_main_thread() {
                        on_main.fetch_add(1, SeqCst);
                    }
                    if meet(&arrived, 3, 10) {
                        met.fetch_add(1, SeqCst);
                    }
                })
                .with_priority(Priority::Low),
            );
        }
        system.wait(&done).expect("no panic");
        assert_eq!(met.load(SeqCst), 3, "3 threads (2 workers + main), cap 3");
        assert_eq!(on_main.load(SeqCst), 1, "the main thread ran one of them");
    });
}

/// With the default cap on two workers and a helping main thread (cap 2), the main thread's
/// Low job counts: three Low jobs that each wait (holding their thread) for all three never
/// meet.
#[test]
fn the_helping_main_thread_counts_against_the_default_cap() {
    watchdog(WATCH, || {
        let system = sys(2, true, None);
        assert_eq!(system.low_priority_threads(), 2);
        let low = Running::default();
        let arrived = Arc::new(AtomicUsize::new(0));
        let done = system.counter();
        for _ in 0..3 {
            let (low, arrived) = (low.clone(), arrived.clone());
            system.submit_counted(
                &done,
                Job::from_fn(move |_| {
                    let _inside = low.enter();
                    // Held for at most 300 ms: enough for a third thread to come in if allowed.
                    meet(&arrived, 3, 0);
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_millis(300) && arrived.load(SeqCst) < 3 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
                .with_priority(Priority::Low),
            );
        }
        system.wait(&done).expect("no panic");
        assert_eq!(low.runs(), 3);
        assert!(low.most() <= 2, "{} Low jobs at once, cap 2", low.most());
    });
}

/// Threads outside the pool that join the workers with `help_until`, or wait on counters of
/// their own, run Low jobs only within the cap.
#[test]
fn outside_threads_that_help_obey_the_cap() {
    watchdog(WATCH, || {
        for (workers, cap) in [(1, 1), (2, 1), (3, 2)] {
            let system = sys(workers, false, Some(cap));
            let low = Running::default();
            let done = system.counter();
            for _ in 0..80 {
                let low = low.clone();
                system.submit_counted(
                    &done,
                    Job::from_fn(move |_| low.work(Duration::from_micros(300)))
                        .with_priority(Priority::Low),
                );
            }
            std::thread::scope(|s| {
                for _ in 0..3 {
                    s.spawn(|| {
                        while !done.is_zero() {
                            system.help_until(Instant::now() + Duration::from_millis(5));
                        }
                    });
                }
                // Outside threads waiting on Low work of their own.
                for _ in 0..2 {
                    s.spawn(|| {
                        let mine = system.counter();
                        for _ in 0..20 {
                            let low = low.clone();
                            system.submit_counted(
                                &mine,
                                Job::from_fn(move |_| low.work(Duration::from_micros(300)))
                                    .with_priority(Priority::Low),
                            );
                        }
                        system.wait(&mine).expect("no panic");
                    });
                }
            });
            poll_zero(&done, 60);
            assert_eq!(low.runs(), 80 + 40);
            assert!(
                low.most() <= cap,
                "workers({workers}) + 5 outside threads: {} Low jobs at once, cap {cap}",
                low.most()
            );
        }
    });
}

/// High and Normal work is unaffected: with the only Low slot held, the other three workers
/// run three High (then three Normal) jobs at once, while queued Low jobs stay queued.
#[test]
fn other_priorities_run_on_every_other_thread_while_the_slots_are_full() {
    watchdog(WATCH, || {
        let system = sys(4, false, Some(1));
        let low = Running::default();
        let release = Flag::default();
        let holding = Flag::default();
        let low_done = system.counter();
        {
            let (low, release, holding) = (low.clone(), release.clone(), holding.clone());
            system.submit_counted(
                &low_done,
                Job::from_fn(move |_| {
                    let _inside = low.enter();
                    holding.set();
                    poll_until(20, || release.get());
                })
                .with_priority(Priority::Low),
            );
        }
        assert!(poll_until(10, || holding.get()));
        for _ in 0..40 {
            let low = low.clone();
            system.submit_counted(
                &low_done,
                Job::from_fn(move |_| low.work(Duration::from_micros(100)))
                    .with_priority(Priority::Low),
            );
        }
        for priority in [Priority::High, Priority::Normal] {
            assert_eq!(
                run_at_once(&system, priority, 3),
                3,
                "{priority:?}: three workers free beside the Low slot's"
            );
        }
        assert_eq!(low.runs(), 1, "queued Low jobs ran beside the held slot");
        release.set();
        poll_zero(&low_done, 60);
        assert_eq!(low.runs(), 41);
        assert!(low.most() <= 1);
    });
}

// ---------------------------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------------------------

struct Parent {
    low: Running,
    arrived: Arc<AtomicUsize>,
    met: Arc<AtomicUsize>,
    children_ran: Arc<AtomicUsize>,
    continued: Arc<AtomicUsize>,
}

fn parent_start(_: &mut Parent, _: &mut Context<'_>) -> Action<Parent> {
    Action::Spawn(parent_children, parent_end)
}

fn parent_children<'c>(p: &'c mut Parent, s: &mut Spawner<'c, '_>) {
    let p: &'c Parent = p;
    // Low closure children (the parent's priority).
    for _ in 0..30 {
        let (low, ran) = (&p.low, &p.children_ran);
        s.spawn(move |cx| {
            assert_eq!(cx.priority(), Priority::Low, "a child takes its parent's");
            low.work(Duration::from_micros(100));
            ran.fetch_add(1, SeqCst);
        });
    }
    // High children that must run on three threads at once (the cap does not touch them).
    for _ in 0..3 {
        let (arrived, met, ran) = (&p.arrived, &p.met, &p.children_ran);
        s.spawn_job(
            Job::from_fn(move |cx| {
                assert_eq!(cx.priority(), Priority::High);
                if meet(arrived, 3, 10) {
                    met.fetch_add(1, SeqCst);
                }
                ran.fetch_add(1, SeqCst);
            })
            .with_priority(Priority::High),
        );
    }
    // Normal and Low job children.
    for priority in [Priority::Normal, Priority::Low, Priority::Normal] {
        let (low, ran) = (&p.low, &p.children_ran);
        s.spawn_job(
            Job::from_fn(move |cx| {
                if cx.priority() == Priority::Low {
                    low.work(Duration::from_micros(100));
                }
                ran.fetch_add(1, SeqCst);
            })
            .with_priority(priority),
        );
    }
}

fn parent_end(p: &mut Parent, _: &mut Context<'_>) -> Action<Parent> {
    let _inside = p.low.enter();
    assert_eq!(p.children_ran.load(SeqCst) % 36, 0, "every child ran first");
    p.continued.fetch_add(1, SeqCst);
    Action::Done
}

/// Low parents spawning Low, Normal and High children through a spawn step: Low children
/// obey the cap, High children run three at once beside the slot, every parent continues
/// once after its children.
#[test]
fn low_parents_spawning_children_of_every_priority() {
    watchdog(WATCH, || {
        for (workers, help, cap) in [(4, false, 1), (4, true, 2), (5, false, 1)] {
            let system = sys(workers, help, Some(cap));
            let low = Running::default();
            let met = Arc::new(AtomicUsize::new(0));
            let continued = Arc::new(AtomicUsize::new(0));
            let done = system.counter();
            for _ in 0..4 {
                // One parent at a time, so that each one's three High children meet.
                let parent = Parent {
                    low: low.clone(),
                    arrived: Arc::new(AtomicUsize::new(0)),
                    met: met.clone(),
                    children_ran: Arc::new(AtomicUsize::new(0)),
                    continued: continued.clone(),
                };
                system.submit_counted(
                    &done,
                    Job::new(parent, parent_start).with_priority(Priority::Low),
                );
                if help {
                    system.wait(&done).expect("no panic");
                } else {
                    poll_zero(&done, 60);
                }
            }
            assert_eq!(continued.load(SeqCst), 4);
            assert_eq!(met.load(SeqCst), 12, "High children of a Low parent met");
            assert!(
                low.most() <= cap,
                "workers({workers}): {} Low at once, cap {cap}",
                low.most()
            );
        }
    });
}

/// A Low job's detached children: a Normal one (`spawn_job_counted`) runs on another worker
/// while the Low job holds the only slot; a Low one (`cx.spawn`) does not start until the Low
/// job has ended.
#[test]
fn detached_children_of_a_low_job_at_a_cap_of_one() {
    watchdog(WATCH, || {
        for workers in [2, 3, 16] {
            let system = sys(workers, false, Some(1));
            let done = system.counter();
            let normal_ran = Flag::default();
            let parent_running = Flag::default();
            let low_child_overlapped = Flag::default();
            let low_child_ran = Flag::default();
            let gave_up = Flag::default();
            {
                let d = done.clone();
                let (normal_ran, parent_running) = (normal_ran.clone(), parent_running.clone());
                let (overlapped, child_ran, gave_up) = (
                    low_child_overlapped.clone(),
                    low_child_ran.clone(),
                    gave_up.clone(),
                );
                system.submit_counted(
                    &done,
                    Job::from_fn(move |cx| {
                        parent_running.set();
                        let pr = parent_running.clone();
                        cx.spawn_counted(&d, move |_| {
                            if pr.get() {
                                overlapped.set();
                            }
                            child_ran.set();
                        });
                        let nr = normal_ran.clone();
                        cx.spawn_job_counted(
                            &d,
                            Job::from_fn(move |_| nr.set()).with_priority(Priority::Normal),
                        );
                        if !poll_until(10, || normal_ran.get()) {
                            gave_up.set();
                        }
                        // Give the Low child every chance to start beside this job.
                        std::thread::sleep(Duration::from_millis(30));
                        parent_running.0.store(false, SeqCst);
                    })
                    .with_priority(Priority::Low),
                );
            }
            poll_zero(&done, 60);
            assert!(
                !gave_up.get(),
                "workers({workers}): the Normal child waited for the Low parent to give up"
            );
            assert!(low_child_ran.get());
            assert!(
                !low_child_overlapped.get(),
                "workers({workers}): a Low child ran beside its Low parent with a cap of 1"
            );
        }
    });
}

/// A Normal job's Low children, left in its own queue while it holds its thread, are taken by
/// idle (asleep) workers: the slot is free.
#[test]
fn idle_workers_take_low_children_left_in_a_busy_threads_queue() {
    watchdog(WATCH, || {
        for rep in 0..10 {
            let system = sleepy(3, false, 1);
            let done = system.counter();
            let gave_up = Flag::default();
            let ran = Arc::new(AtomicUsize::new(0));
            {
                let (d, gave_up, ran) = (done.clone(), gave_up.clone(), ran.clone());
                system.submit_counted(
                    &done,
                    Job::from_fn(move |cx| {
                        for _ in 0..10 {
                            let ran = ran.clone();
                            cx.spawn_job_counted(
                                &d,
                                Job::from_fn(move |_| {
                                    ran.fetch_add(1, SeqCst);
                                })
                                .with_priority(Priority::Low),
                            );
                        }
                        if !poll_until(10, || ran.load(SeqCst) == 10) {
                            gave_up.set();
                        }
                    }),
                );
            }
            poll_zero(&done, 60);
            assert!(
                !gave_up.get(),
                "rep {rep}: Low children in a busy worker's queue were not taken by idle ones"
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Waits inside Low jobs
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum WaitKind {
    Plain,
    Timeout,
    AtLeastLow,
    AtLeastNormal,
    AtLeastHigh,
}

fn wait_as(system: &JobSystem, counter: &Counter, kind: WaitKind) -> bool {
    let limited = |p| WaitOptions::new().lowest_priority(p);
    match kind {
        WaitKind::Plain => system.wait(counter).map(|()| true),
        WaitKind::Timeout => system.wait_timeout(counter, Duration::from_secs(30)),
        WaitKind::AtLeastLow => system.wait_with(counter, limited(Priority::Low)),
        WaitKind::AtLeastNormal => system.wait_with(counter, limited(Priority::Normal)),
        WaitKind::AtLeastHigh => system.wait_with(
            counter,
            limited(Priority::High).timeout(Duration::from_secs(30)),
        ),
    }
    .expect("no panic")
}

const WAITS: [WaitKind; 5] = [
    WaitKind::Plain,
    WaitKind::Timeout,
    WaitKind::AtLeastLow,
    WaitKind::AtLeastNormal,
    WaitKind::AtLeastHigh,
];

/// A Low job waiting (every kind of wait) for Low jobs it submitted lends its slot: they run
/// (on another worker when the wait may not run Low jobs itself), the wait ends, and the cap
/// holds. One such job at a time: two waiting at once on two workers with waits limited to
/// Normal would leave no thread that may run the Low jobs (with or without a cap), and with
/// several at once a waiter resumes while another thread runs the next one's Low work (see
/// `a_low_job_resuming_from_its_wait_does_not_push_past_the_cap`).
#[test]
fn a_low_job_waiting_for_low_jobs_lends_its_slot_with_every_wait() {
    watchdog(WATCH, || {
        for kind in WAITS {
            for (workers, help) in [(2, false), (3, false), (2, true)] {
                let system = Arc::new(sys(workers, help, Some(1)));
                let low = Running::default();
                let done = system.counter();
                let ended = Arc::new(AtomicUsize::new(0));
                for _ in 0..3 {
                    poll_zero(&done, 60);
                    let (s, low, ended) = (system.clone(), low.clone(), ended.clone());
                    system.submit_counted(
                        &done,
                        Job::from_fn(move |_| {
                            let inside = low.enter();
                            let mine = Counter::new();
                            for _ in 0..4 {
                                let low = low.clone();
                                s.submit_counted(
                                    &mine,
                                    Job::from_fn(move |_| low.work(Duration::from_micros(500)))
                                        .with_priority(Priority::Low),
                                );
                            }
                            drop(inside);
                            if wait_as(&s, &mine, kind) {
                                ended.fetch_add(1, SeqCst);
                            }
                            low.work(Duration::from_micros(200));
                        })
                        .with_priority(Priority::Low),
                    );
                }
                poll_zero(&done, 60);
                assert_eq!(
                    ended.load(SeqCst),
                    3,
                    "{kind:?}: a wait did not end in time"
                );
                assert_eq!(low.runs(), 3 * 2 + 12);
                assert!(
                    low.most() <= 1,
                    "{kind:?}, workers({workers}): {} Low at once, cap 1",
                    low.most()
                );
            }
        }
    });
}

/// A Low job waits (`kind`) for a Normal gate job that holds its thread until released, with
/// a cap of one on three workers; meanwhile 40 Low jobs are submitted. Returns, per wait: the
/// most Low work at once, whether the gate ran on the waiter's own thread (on top of its
/// wait), and whether the 40 Low jobs finished only after the gate gave up (`give_up` s), i.e.
/// whether the waiter's slot stayed unusable while its thread ran the gate.
fn low_work_beside_a_waiting_low_job(give_up: u64) -> Vec<(WaitKind, usize, bool, bool)> {
    let mut seen = Vec::new();
    for kind in [WaitKind::Plain, WaitKind::Timeout, WaitKind::AtLeastLow] {
        let system = Arc::new(sys(3, false, Some(1)));
        let low = Running::default();
        let done = system.counter();
        let (release, waiting, gave_up, nested) = (
            Flag::default(),
            Flag::default(),
            Flag::default(),
            Flag::default(),
        );
        {
            let (s, low) = (system.clone(), low.clone());
            let (release, waiting, gave_up, nested) = (
                release.clone(),
                waiting.clone(),
                gave_up.clone(),
                nested.clone(),
            );
            system.submit_counted(
                &done,
                Job::from_fn(move |_| {
                    let inside = low.enter();
                    let gate = Counter::new();
                    let waiter = std::thread::current().id();
                    // A Normal job that ends only when the test says (or after `give_up` s).
                    s.submit_counted(
                        &gate,
                        Job::from_fn(move |_| {
                            if std::thread::current().id() == waiter {
                                nested.set();
                            }
                            if !poll_until(give_up, || release.get()) {
                                gave_up.set();
                            }
                        }),
                    );
                    drop(inside);
                    waiting.set();
                    wait_as(&s, &gate, kind);
                    low.work(Duration::from_micros(100));
                })
                .with_priority(Priority::Low),
            );
        }
        assert!(poll_until(10, || waiting.get()));
        let more = system.counter();
        for _ in 0..40 {
            let low = low.clone();
            system.submit_counted(
                &more,
                Job::from_fn(move |_| low.work(Duration::from_micros(500)))
                    .with_priority(Priority::Low),
            );
        }
        poll_zero(&more, 60);
        release.set();
        poll_zero(&done, 60);
        assert_eq!(low.runs(), 2 + 40, "{kind:?}");
        seen.push((kind, low.most(), nested.get(), gave_up.get()));
    }
    seen
}

/// While a Low job waits (its slot lent), the Low jobs other threads run (and its own thread,
/// on top of the wait) still share the one slot.
#[test]
fn low_jobs_run_on_top_of_a_waiting_low_job_stay_under_the_cap() {
    watchdog(WATCH, || {
        let seen = low_work_beside_a_waiting_low_job(5);
        assert!(
            seen.iter().all(|&(_, most, _, _)| most <= 1),
            "(wait, Low at once, gate on the waiter's thread, gate gave up), cap 1: {seen:?}"
        );
    });
}

/// A thread waiting inside a Low job does not count, also while it runs a long Normal job on
/// top of its wait: the Low jobs submitted meanwhile run on the two other workers at once,
/// long before the gate gives up. This was the first design (every wait lent its slot), which
/// let the count pass the cap on resumption; now a wait that may run Low jobs keeps its slot,
/// and a job spinning outside the system for Low work on top of it waits (README's known
/// limitations), hence ignored.
#[test]
#[ignore = "documented limitation (README): a job spinning outside the system for Low work, on top of a Low job's wait that keeps its slot"]
fn a_waiting_low_jobs_slot_is_usable_while_its_thread_runs_other_work() {
    watchdog(WATCH * 2, || {
        let seen = low_work_beside_a_waiting_low_job(20);
        assert!(
            seen.iter().all(|&(_, _, _, gave_up)| !gave_up),
            "(wait, Low at once, gate on the waiter's thread, gate gave up), cap 1: {seen:?}: \
             the Low jobs ran only after the gate job gave up"
        );
    });
}

/// The cap's hard case: Low job A waits on a job pinned to the main thread; Low job B holds a
/// slot until A has resumed (at most 3 s). A wait that may run Low jobs keeps A's slot (B runs
/// inside it, on A's thread): never two at once. A wait limited to Normal or High lends it (B
/// takes it on the other worker) and takes it back at its end whatever the count: at most one
/// more, the documented exception. (Found with the first design, which lent on every wait.)
#[test]
fn a_low_job_resuming_from_its_wait_does_not_push_past_the_cap() {
    watchdog(WATCH, || {
        let mut seen = Vec::new();
        for kind in [
            WaitKind::AtLeastNormal,
            WaitKind::AtLeastHigh,
            WaitKind::Plain,
            WaitKind::Timeout,
        ] {
            let system = Arc::new(sys(2, false, Some(1)));
            let low = Running::default();
            let done = system.counter();
            let (b_started, a_resumed, b_gave_up) =
                (Flag::default(), Flag::default(), Flag::default());
            {
                let (s, low, d) = (system.clone(), low.clone(), done.clone());
                let (b_started, a_resumed, b_gave_up) =
                    (b_started.clone(), a_resumed.clone(), b_gave_up.clone());
                system.submit_counted(
                    &done,
                    Job::from_fn(move |_| {
                        let inside = low.enter();
                        let gate = Counter::new();
                        s.submit_counted(&gate, Job::from_fn(|_| {}).pinned_to_main());
                        let (low_b, bs, ar) = (low.clone(), b_started.clone(), a_resumed.clone());
                        s.submit_counted(
                            &d,
                            Job::from_fn(move |_| {
                                let _inside = low_b.enter();
                                bs.set();
                                if !poll_until(3, || ar.get()) {
                                    b_gave_up.set();
                                }
                            })
                            .with_priority(Priority::Low),
                        );
                        drop(inside);
                        wait_as(&s, &gate, kind);
                        let _inside = low.enter();
                        a_resumed.set();
                        spin(Duration::from_millis(2));
                    })
                    .with_priority(Priority::Low),
                );
            }
            // B can start only on the lent slot, so A is waiting by then.
            let b_ran = poll_until(20, || b_started.get());
            assert_eq!(system.run_pinned(), Ok(1), "{kind:?}: the gate job");
            poll_zero(&done, 60);
            assert!(b_ran, "{kind:?}: B never started on the lent slot");
            seen.push((kind, low.most(), b_gave_up.get()));
        }
        // The documented exception (`Config::low_priority_threads`): a wait that may not run
        // Low jobs lends the slot and takes it back at its end whatever the count, so one more
        // thread may be inside Low work until one ends its job; a wait that may run them keeps
        // the slot (B then runs on A's own thread, inside A's wait).
        for &(kind, most, _) in &seen {
            let lends = matches!(kind, WaitKind::AtLeastNormal | WaitKind::AtLeastHigh);
            let bound = if lends { 2 } else { 1 };
            assert!(
                most <= bound,
                "{kind:?}: {most} threads ran Low work at once with a cap of 1: {seen:?}"
            );
        }
    });
}

/// A slot lent by a waiting Low job wakes a sleeping worker for the queued Low work that the
/// waiter itself may not run (its wait runs High jobs only).
#[test]
fn a_lent_slot_wakes_an_idle_worker() {
    watchdog(WATCH, || {
        for rep in 0..20 {
            let system = Arc::new(sleepy(3, false, 1));
            let done = system.counter();
            let result = Arc::new(Mutex::new(None));
            {
                let (s, result) = (system.clone(), result.clone());
                system.submit_counted(
                    &done,
                    Job::from_fn(move |_| {
                        let mine = Counter::new();
                        for _ in 0..5 {
                            s.submit_counted(
                                &mine,
                                Job::from_fn(|_| spin(Duration::from_micros(50)))
                                    .with_priority(Priority::Low),
                            );
                        }
                        // The other workers look, find only Low work, and sleep.
                        std::thread::sleep(Duration::from_millis(20));
                        let high_only = WaitOptions::new()
                            .lowest_priority(Priority::High)
                            .timeout(Duration::from_secs(5));
                        *result.lock().unwrap() =
                            Some(s.wait_with(&mine, high_only).is_ok_and(|z| z));
                    })
                    .with_priority(Priority::Low),
                );
            }
            poll_zero(&done, 60);
            assert_eq!(
                *result.lock().unwrap(),
                Some(true),
                "rep {rep}: the Low work behind a lent slot did not run within 5 s"
            );
        }
    });
}

struct Suspender {
    system: Arc<JobSystem>,
    low_ran: Flag,
    hog_gave_up: Flag,
    mine: Counter,
}

fn suspender_start(s: &mut Suspender, cx: &mut Context<'_>) -> Action<Suspender> {
    for _ in 0..5 {
        let ran = s.low_ran.clone();
        s.system.submit_counted(
            &s.mine,
            Job::from_fn(move |_| ran.set()).with_priority(Priority::Low),
        );
    }
    std::thread::sleep(Duration::from_millis(20));
    // A Normal job that holds a thread until Low work has run (5 s at most).
    let (ran, gave_up) = (s.low_ran.clone(), s.hog_gave_up.clone());
    cx.spawn_job(
        Job::from_fn(move |_| {
            if !poll_until(5, || ran.get()) {
                gave_up.set();
            }
        })
        .with_priority(Priority::Normal),
    );
    Action::wait(&s.mine, suspender_end)
}

fn suspender_end(_: &mut Suspender, _: &mut Context<'_>) -> Action<Suspender> {
    Action::Done
}

/// A Low job suspending on a counter (`Action::Wait`) gives its slot back; a sleeping worker is
/// woken for the queued Low work while its own thread runs something else.
#[test]
fn a_slot_given_back_by_a_suspended_low_job_wakes_an_idle_worker() {
    watchdog(WATCH, || {
        for rep in 0..10 {
            let system = Arc::new(sleepy(3, false, 1));
            let done = system.counter();
            let (low_ran, hog_gave_up) = (Flag::default(), Flag::default());
            let job = Suspender {
                system: system.clone(),
                low_ran: low_ran.clone(),
                hog_gave_up: hog_gave_up.clone(),
                mine: Counter::new(),
            };
            system.submit_counted(
                &done,
                Job::new(job, suspender_start).with_priority(Priority::Low),
            );
            poll_zero(&done, 60);
            assert!(low_ran.get());
            assert!(
                !hog_gave_up.get(),
                "rep {rep}: Low work waited 5 s for a free slot nobody was woken for"
            );
            drop(system);
        }
    });
}

/// `wait_timeout` that gives up inside a Low job (its gate is a job pinned to the main thread,
/// which the test runs only afterwards): the slot is lent during the wait and taken back
/// after; the counts stay right and no slot is lost.
#[test]
fn a_low_job_whose_wait_times_out_keeps_the_count_right() {
    watchdog(WATCH, || {
        let system = Arc::new(sys(3, false, Some(2)));
        let low = Running::default();
        let done = system.counter();
        let timed_out = Arc::new(AtomicUsize::new(0));
        for _ in 0..6 {
            let (s, low, timed_out) = (system.clone(), low.clone(), timed_out.clone());
            system.submit_counted(
                &done,
                Job::from_fn(move |_| {
                    low.work(Duration::from_micros(200));
                    let gate = Counter::new();
                    s.submit_counted(&gate, Job::from_fn(|_| {}).pinned_to_main());
                    if !s
                        .wait_timeout(&gate, Duration::from_millis(20))
                        .expect("no panic")
                    {
                        timed_out.fetch_add(1, SeqCst);
                    }
                    low.work(Duration::from_micros(200));
                })
                .with_priority(Priority::Low),
            );
        }
        poll_zero(&done, 60);
        assert_eq!(system.run_pinned(), Ok(6), "the six gates");
        assert_eq!(timed_out.load(SeqCst), 6);
        assert_eq!(low.runs(), 12);
        assert!(low.most() <= 2, "{} Low at once, cap 2", low.most());
        assert_slots_intact(&system, 2, "after timed-out waits");
    });
}

struct Blocker {
    arrived: Arc<AtomicUsize>,
    met: Arc<AtomicUsize>,
    low: Running,
}

fn blocker_start(_: &mut Blocker, _: &mut Context<'_>) -> Action<Blocker> {
    Action::Blocking(
        |b| {
            // On an I/O thread: wait there until all three Low jobs block at once.
            if meet(&b.arrived, 3, 5) {
                b.met.fetch_add(1, SeqCst);
            }
        },
        |b, cx| {
            assert_eq!(cx.priority(), Priority::Low);
            b.low.work(Duration::from_micros(100));
            Action::Done
        },
    )
}

/// Low jobs blocked on I/O threads (`Action::Blocking`) are not running on a worker: at a cap
/// of one, three of them block at once (three I/O threads), and their continuations on the
/// workers stay under the cap.
#[test]
fn low_jobs_blocked_on_io_threads_hold_no_slot() {
    watchdog(WATCH, || {
        for workers in [1, 2, 4] {
            let system = JobSystem::new(
                Config::default()
                    .workers(workers)
                    .core_affinity(false)
                    .help_while_waiting(false)
                    .io_threads(3)
                    .low_priority_threads(1),
            )
            .expect("valid");
            let low = Running::default();
            let met = Arc::new(AtomicUsize::new(0));
            let arrived = Arc::new(AtomicUsize::new(0));
            let done = system.counter();
            for _ in 0..3 {
                let job = Blocker {
                    arrived: arrived.clone(),
                    met: met.clone(),
                    low: low.clone(),
                };
                system.submit_counted(
                    &done,
                    Job::new(job, blocker_start).with_priority(Priority::Low),
                );
            }
            poll_zero(&done, 60);
            assert_eq!(
                met.load(SeqCst),
                3,
                "workers({workers}): Low jobs blocked on I/O threads held the one slot"
            );
            assert_eq!(low.runs(), 3);
            assert!(low.most() <= 1);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// join, yield, batches
// ---------------------------------------------------------------------------------------------

/// A chain of `depth` nested joins: each level does a little Low work, then joins the next
/// level with a leaf.
fn chain(cx: &mut Context<'_>, depth: usize, low: &Running) -> u64 {
    if depth == 0 {
        return 1;
    }
    low.work(Duration::from_nanos(500));
    let (a, b) = cx.join(
        |cx| chain(cx, depth - 1, low),
        |_| {
            low.work(Duration::from_micros(2));
            1
        },
    );
    a + b
}

/// A balanced tree of joins over `range`, each leaf a little Low work.
fn tree(cx: &mut Context<'_>, lo: u64, hi: u64, low: &Running) -> u64 {
    if hi - lo <= 4 {
        low.work(Duration::from_micros(5));
        return (lo..hi).sum();
    }
    let mid = lo + (hi - lo) / 2;
    let (a, b) = cx.join(|cx| tree(cx, lo, mid, low), |cx| tree(cx, mid, hi, low));
    a + b
}

/// The simplest join: a Low job joins two halves of 20 ms of Low work each, with a cap of one
/// on three workers. The joiner holds the only slot while it runs `a`, so no other thread may
/// take `b` and run it beside `a`.
#[test]
fn a_low_join_of_two_long_halves_stays_under_a_cap_of_one() {
    watchdog(WATCH, || {
        let mut seen = Vec::new();
        for _ in 0..10 {
            let system = sys(3, false, Some(1));
            let low = Running::default();
            let done = system.counter();
            {
                let low = low.clone();
                system.submit_counted(
                    &done,
                    Job::from_fn(move |cx| {
                        cx.join(
                            |_| low.work(Duration::from_millis(20)),
                            |_| low.work(Duration::from_millis(20)),
                        );
                    })
                    .with_priority(Priority::Low),
                );
            }
            poll_zero(&done, 30);
            seen.push(low.most());
        }
        assert!(
            seen.iter().all(|&most| most <= 1),
            "Low at once per run, cap 1: {seen:?}"
        );
    });
}

/// One Low job, alone in the system, joining a balanced tree of 2048 leaves (or a chain of
/// 4000 levels), with a cap of one on 2, 3, 4 and 8 workers: only its own thread may run its
/// Low work. Failed at commit 4c439ba (3, 4 and 8 workers, trees only: leaves ran on two
/// threads at once, hundreds of times a run, in most runs), when a join lent its slot.
#[test]
fn a_single_low_join_tree_stays_under_a_cap_of_one() {
    watchdog(WATCH, || {
        let depth = if cfg!(debug_assertions) { 1500 } else { 4000 };
        let mut seen = Vec::new();
        for workers in [2, 3, 4, 8] {
            for shape in ["tree", "chain"] {
                for _ in 0..4 {
                    let system = JobSystem::new(
                        Config::default()
                            .workers(workers)
                            .core_affinity(false)
                            .help_while_waiting(false)
                            .worker_stack_size(512 << 20)
                            .low_priority_threads(1),
                    )
                    .expect("valid");
                    let low = Running::default();
                    let done = system.counter();
                    {
                        let low = low.clone();
                        system.submit_counted(
                            &done,
                            Job::from_fn(move |cx| {
                                if shape == "tree" {
                                    assert_eq!(tree(cx, 0, 1 << 13, &low), (0..1u64 << 13).sum());
                                } else {
                                    assert_eq!(chain(cx, depth, &low), depth as u64 + 1);
                                }
                            })
                            .with_priority(Priority::Low),
                        );
                    }
                    poll_zero(&done, 60);
                    seen.push((workers, shape, low.most()));
                }
            }
        }
        assert!(
            seen.iter().all(|&(_, _, most)| most <= 1),
            "(workers, shape, Low at once) per run, cap 1: {seen:?}"
        );
    });
}

/// Runs Low jobs joining thousands deep (and in wide trees), four at once, on several caps:
/// asserts every result and that the slots are intact afterwards; returns, per config, the
/// workers, the cap and the most Low work seen at once.
fn deep_joins() -> Vec<(usize, usize, usize)> {
    let depth = if cfg!(debug_assertions) { 1500 } else { 4000 };
    let mut seen = Vec::new();
    for (workers, cap) in [(4, 1), (4, 2), (4, 3), (3, usize::MAX)] {
        let system = JobSystem::new(
            Config::default()
                .workers(workers)
                .core_affinity(false)
                .help_while_waiting(false)
                .worker_stack_size(512 << 20)
                .low_priority_threads(cap),
        )
        .expect("valid");
        let low = Running::default();
        let results = Arc::new(Mutex::new(Vec::new()));
        let done = system.counter();
        for root in 0..4 {
            let (low, results) = (low.clone(), results.clone());
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    let value = if root % 2 == 0 {
                        chain(cx, depth, &low)
                    } else {
                        tree(cx, 0, 1 << 13, &low)
                    };
                    results.lock().unwrap().push((root, value));
                })
                .with_priority(Priority::Low),
            );
        }
        poll_zero(&done, 120);
        let mut results = results.lock().unwrap().clone();
        results.sort();
        let tree_sum = (0..1u64 << 13).sum::<u64>();
        let expected: Vec<(i32, u64)> = (0..4)
            .map(|r| {
                (
                    r,
                    if r % 2 == 0 {
                        depth as u64 + 1
                    } else {
                        tree_sum
                    },
                )
            })
            .collect();
        assert_eq!(results, expected, "workers({workers}), cap {cap}");
        if cap <= workers {
            assert_slots_intact(&system, cap, "after deep joins");
        }
        seen.push((workers, cap, low.most()));
    }
    seen
}

/// Low jobs joining thousands deep, four at once: every result right, nothing hangs, and the
/// slots are intact afterwards (the cap itself: the next test).
#[test]
fn low_jobs_joining_thousands_deep_finish_and_leak_no_slot() {
    watchdog(WATCH * 2, || {
        let seen = deep_joins();
        // Results and slots are asserted inside; the most at once is the next test's.
        assert_eq!(seen.len(), 4);
        assert!(seen.iter().all(|&(_, _, most)| most >= 1), "{seen:?}");
    });
}

/// The same deep joins: never more threads running Low work at once than the cap. Failed at
/// commit 4c439ba (caps 1 and 2 on four workers: 2 and 3 threads), as the single join tree
/// above did.
#[test]
fn low_jobs_joining_thousands_deep_stay_under_the_cap() {
    watchdog(WATCH * 2, || {
        let seen = deep_joins();
        for (workers, cap, most) in seen {
            assert!(
                most <= workers.min(cap),
                "workers({workers}): {most} threads ran Low work at once, cap {cap}"
            );
        }
    });
}

/// A deep join whose bottom leaf panics: the panic reaches the waiter, and the slot comes back.
#[test]
fn a_panic_at_the_bottom_of_a_deep_low_join_gives_back_the_slot() {
    watchdog(WATCH, || {
        fn down(cx: &mut Context<'_>, depth: usize) -> u64 {
            if depth == 0 {
                panic!("bottom of the join");
            }
            let (a, b) = cx.join(|cx| down(cx, depth - 1), |_| 1u64);
            a + b
        }
        let depth = if cfg!(debug_assertions) { 800 } else { 3000 };
        let system = JobSystem::new(
            Config::default()
                .workers(3)
                .core_affinity(false)
                .help_while_waiting(false)
                .worker_stack_size(256 << 20)
                .low_priority_threads(2),
        )
        .expect("valid");
        for _ in 0..3 {
            let c = system.counter();
            system.submit_counted(
                &c,
                Job::from_fn(move |cx| {
                    down(cx, depth);
                })
                .with_priority(Priority::Low),
            );
            let err = system.wait(&c).expect_err("the leaf panicked");
            assert!(
                err.message().contains("bottom of the join"),
                "{}",
                err.message()
            );
        }
        assert_slots_intact(&system, 2, "after panicking deep joins");
    });
}

struct Yielder {
    low: Running,
    left: u32,
}

fn yield_step(y: &mut Yielder, cx: &mut Context<'_>) -> Action<Yielder> {
    assert_eq!(cx.priority(), Priority::Low);
    y.low.work(Duration::from_micros(20));
    if y.left == 0 {
        return Action::Done;
    }
    y.left -= 1;
    Action::Yield(yield_step)
}

/// Low jobs that yield hundreds of times: all finish, the cap holds, Normal work submitted
/// meanwhile still finds a free thread.
#[test]
fn low_jobs_that_yield_stay_under_the_cap() {
    watchdog(WATCH, || {
        for (workers, help, cap) in [(1, false, 1), (2, true, 1), (3, false, 1), (4, false, 2)] {
            let system = sys(workers, help, Some(cap));
            let low = Running::default();
            let done = system.counter();
            for _ in 0..6 {
                system.submit_counted(
                    &done,
                    Job::new(
                        Yielder {
                            low: low.clone(),
                            left: 200,
                        },
                        yield_step,
                    )
                    .with_priority(Priority::Low),
                );
            }
            let normal = system.counter();
            let normal_ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..20 {
                let r = normal_ran.clone();
                system.submit_counted(
                    &normal,
                    Job::from_fn(move |_| {
                        r.fetch_add(1, SeqCst);
                    }),
                );
            }
            if help {
                system.wait(&normal).expect("no panic");
                system.wait(&done).expect("no panic");
            } else {
                poll_zero(&normal, 60);
                poll_zero(&done, 60);
            }
            assert_eq!(normal_ran.load(SeqCst), 20);
            assert_eq!(low.runs(), 6 * 201);
            let threads = workers + usize::from(help);
            assert!(
                low.most() <= cap.min(threads),
                "workers({workers}): {} Low at once, cap {cap}",
                low.most()
            );
        }
    });
}

struct BatchParent {
    low: Running,
    sum: Arc<AtomicU64>,
    items: Vec<u64>,
}

fn batch_children<'c>(p: &'c mut BatchParent, s: &mut Spawner<'c, '_>) {
    let batch = Batch::new()
        .grain(Grain::fixed(16).expect("a grain"))
        .priority(Priority::Low);
    let BatchParent { low, sum, items } = p;
    let (low, sum): (&'c Running, &'c AtomicU64) = (low, sum);
    s.parallel_for(0..1000, batch, move |i| {
        low.work(Duration::from_micros(5));
        sum.fetch_add(i as u64, SeqCst);
    });
    s.for_each_mut(items, batch, move |i, v| {
        low.work(Duration::from_micros(5));
        *v = i as u64;
    });
}

fn batch_parent_start(_: &mut BatchParent, _: &mut Context<'_>) -> Action<BatchParent> {
    Action::Spawn(batch_children, |p, _| {
        assert!(p.items.iter().enumerate().all(|(i, v)| *v == i as u64));
        Action::Done
    })
}

/// Low batches from every entry point (the system waiting, counted, a scope, a Normal parent's
/// spawner, and a Low job's spawner), at caps of 1 and 2: every item runs once, and never more
/// Low items at once than the cap.
#[test]
fn low_batches_from_every_entry_point_stay_under_the_cap() {
    watchdog(WATCH, || {
        for (workers, help, cap) in [(4, false, 1), (4, true, 1), (4, true, 2), (1, true, 1)] {
            let system = sys(workers, help, Some(cap));
            let low = Running::default();
            let batch = Batch::new()
                .grain(Grain::fixed(8).expect("a grain"))
                .priority(Priority::Low);
            let expected = (0..2000u64).sum::<u64>();

            let sum = AtomicU64::new(0);
            system
                .parallel_for(0..2000, batch, |i| {
                    low.work(Duration::from_micros(5));
                    sum.fetch_add(i as u64, SeqCst);
                })
                .expect("no panic");
            assert_eq!(sum.load(SeqCst), expected);

            let chunks = AtomicU64::new(0);
            system
                .parallel_for_chunks(0..2000, batch, |range| {
                    low.work(Duration::from_micros(20));
                    chunks.fetch_add(range.map(|i| i as u64).sum::<u64>(), SeqCst);
                })
                .expect("no panic");
            assert_eq!(chunks.load(SeqCst), expected);

            let counted = system.counter();
            let total = Arc::new(AtomicU64::new(0));
            {
                let (low, total) = (low.clone(), total.clone());
                system.submit_for(&counted, 0..2000, batch, move |i| {
                    low.work(Duration::from_micros(5));
                    total.fetch_add(i as u64, SeqCst);
                });
            }
            if help {
                system.wait(&counted).expect("no panic");
            } else {
                poll_zero(&counted, 60);
            }
            assert_eq!(total.load(SeqCst), expected);

            let mut items = vec![0u64; 1500];
            system.scope(|s| {
                s.for_each_mut(&mut items, batch, |i, v| {
                    low.work(Duration::from_micros(5));
                    *v = i as u64 * 2;
                });
            });
            assert!(items.iter().enumerate().all(|(i, v)| *v == i as u64 * 2));

            for parent_priority in [Priority::Normal, Priority::Low] {
                let done = system.counter();
                let sum = Arc::new(AtomicU64::new(0));
                system.submit_counted(
                    &done,
                    Job::new(
                        BatchParent {
                            low: low.clone(),
                            sum: sum.clone(),
                            items: vec![0; 700],
                        },
                        batch_parent_start,
                    )
                    .with_priority(parent_priority),
                );
                if help {
                    system.wait(&done).expect("no panic");
                } else {
                    poll_zero(&done, 60);
                }
                assert_eq!(sum.load(SeqCst), (0..1000u64).sum::<u64>());
            }
            let threads = workers + usize::from(help);
            assert!(
                low.most() <= cap.min(threads),
                "workers({workers}) help {help}: {} Low items at once, cap {cap}",
                low.most()
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------------------------

/// Yields five times, then panics.
fn yield_then_panic(n: &mut u32, _: &mut Context<'_>) -> Action<u32> {
    *n += 1;
    if *n > 5 {
        panic!("boom 4");
    }
    Action::Yield(yield_then_panic)
}

/// Low jobs that panic in every way a job can (plain, after a nested wait, in a join half, in
/// a spawned child, after a yield, in a Low batch, in a job run on top of a wait): each panic
/// reaches its waiter, the workers survive, and afterwards all `cap` Low slots can be held at
/// once again.
#[test]
fn panicking_low_jobs_reach_their_waiters_and_leak_no_slot() {
    watchdog(WATCH, || {
        for (workers, cap) in [(2, 1), (3, 2), (4, 4)] {
            let system = Arc::new(sys(workers, false, Some(cap)));
            for round in 0..3 {
                for kind in 0..7 {
                    let c = system.counter();
                    let s = system.clone();
                    let job = match kind {
                        0 => Job::from_fn(|_| panic!("boom 0")),
                        1 => Job::from_fn(move |_| {
                            let inner = Counter::new();
                            s.submit_counted(&inner, Job::from_fn(|_| {}));
                            s.wait(&inner).expect("no panic");
                            panic!("boom 1");
                        }),
                        2 => Job::from_fn(|cx| {
                            cx.join(|_| {}, |_| panic!("boom 2"));
                        }),
                        3 => Job::new((), |_, _| {
                            Action::Spawn(
                                |_, s| {
                                    s.spawn(|_| {});
                                    s.spawn(|_| panic!("boom 3"));
                                    s.spawn(|_| {});
                                },
                                |_, _| Action::Done,
                            )
                        }),
                        4 => Job::new(0u32, yield_then_panic),
                        5 => Job::from_fn(move |_| {
                            let batch = Batch::new().priority(Priority::Low);
                            let result = s.parallel_for(0..100, batch, |i| {
                                if i == 37 {
                                    panic!("boom 5");
                                }
                            });
                            result.expect_err("item 37 panicked").resume();
                        }),
                        _ => Job::from_fn(move |_| {
                            let inner = Counter::new();
                            s.submit_counted(
                                &inner,
                                Job::from_fn(|_| panic!("boom 6")).with_priority(Priority::Low),
                            );
                            s.wait(&inner).expect_err("the inner job panicked").resume();
                        }),
                    };
                    system.submit_counted(&c, job.with_priority(Priority::Low));
                    let err = system
                        .wait(&c)
                        .expect_err("the Low job panicked: its waiter must hear of it");
                    assert!(
                        err.message().contains(&format!("boom {kind}")),
                        "round {round}, kind {kind}: {}",
                        err.message()
                    );
                }
            }
            assert_slots_intact(&system, cap, &format!("workers({workers}) after panics"));
        }
    });
}

/// Panics in the drop of a Low job's capture (after it finished, after its step panicked, of a
/// closure job, of a Low child, and of a job pinned to the main thread cancelled at shutdown):
/// no abort, every counter reaches zero, and the Low slots are intact afterwards. Run in a
/// child process so that an abort fails this test only.
#[test]
fn panics_in_the_drop_of_low_captures_leak_no_slot() {
    const NAME: &str = "panics_in_the_drop_of_low_captures_leak_no_slot";
    let output = isolated(NAME, 120, || {
        watchdog(WATCH, || {
            struct PanicOnDrop;
            impl Drop for PanicOnDrop {
                fn drop(&mut self) {
                    if !std::thread::panicking() {
                        panic!("drop boom");
                    }
                }
            }
            let system = sys(3, false, Some(2));
            let mut outcomes = Vec::new();
            for kind in 0..4 {
                let c = system.counter();
                let job = match kind {
                    0 => Job::new(PanicOnDrop, |_, _| Action::Done),
                    1 => Job::new(PanicOnDrop, |_, _| panic!("step boom")),
                    2 => {
                        let capture = PanicOnDrop;
                        Job::from_fn(move |_| {
                            let _keep = &capture;
                        })
                    }
                    _ => Job::new((), |_, _| {
                        Action::Spawn(
                            |_, s| {
                                s.spawn_job(Job::new(PanicOnDrop, |_, _| Action::Done));
                                s.spawn(|_| {});
                            },
                            |_, _| Action::Done,
                        )
                    }),
                };
                system.submit_counted(&c, job.with_priority(Priority::Low));
                poll_zero(&c, 30);
                let result = system.wait(&c).map_err(|e| e.message().to_string());
                outcomes.push((kind, result));
            }
            for (kind, result) in &outcomes {
                assert!(
                    result.is_err(),
                    "kind {kind}: a panic in the drop of a Low capture was not reported: \
                     {outcomes:?}"
                );
            }
            assert_slots_intact(&system, 2, "after drop panics");
            // Pinned to the main thread, never run: cancelled at shutdown, dropped then.
            let c = system.counter();
            system.submit_counted(
                &c,
                Job::new(PanicOnDrop, |_, _| Action::Done)
                    .with_priority(Priority::Low)
                    .pinned_to_main(),
            );
            drop(system);
            assert!(c.is_zero(), "the cancelled pinned job was not counted off");
        });
    });
    assert_child_passed(NAME, output);
}

// ---------------------------------------------------------------------------------------------
// Pinned Low jobs
// ---------------------------------------------------------------------------------------------

/// Low jobs pinned to the main thread and to a registered thread run there while every slot
/// is held by Low jobs that wait for them (which would never end otherwise).
#[test]
fn pinned_low_jobs_run_on_their_threads_whatever_the_count() {
    watchdog(WATCH, || {
        for (workers, help, cap) in [(2, false, 1), (1, false, 1), (2, true, 2), (3, true, 1)] {
            let system = sys(workers, help, Some(cap));
            let pinned_ran = Arc::new(AtomicUsize::new(0));
            let gave_up = Arc::new(AtomicUsize::new(0));
            let holders = system.counter();
            let holding = Arc::new(AtomicUsize::new(0));
            for _ in 0..cap {
                let (ran, gave_up, holding) =
                    (pinned_ran.clone(), gave_up.clone(), holding.clone());
                system.submit_counted(
                    &holders,
                    Job::from_fn(move |_| {
                        holding.fetch_add(1, SeqCst);
                        if !poll_until(10, || ran.load(SeqCst) == 3) {
                            gave_up.fetch_add(1, SeqCst);
                        }
                    })
                    .with_priority(Priority::Low),
                );
            }
            assert!(poll_until(10, || holding.load(SeqCst) == cap));
            // The main thread: by a plain wait, and by a wait limited to High that runs its
            // pinned jobs at any priority.
            let main_thread = std::thread::current().id();
            for options in [
                None,
                Some(
                    WaitOptions::new()
                        .lowest_priority(Priority::High)
                        .pinned_jobs_at_any_priority(),
                ),
            ] {
                let c = system.counter();
                let ran = pinned_ran.clone();
                system.submit_counted(
                    &c,
                    Job::from_fn(move |cx| {
                        assert!(cx.on_main_thread());
                        assert_eq!(std::thread::current().id(), main_thread);
                        ran.fetch_add(1, SeqCst);
                    })
                    .with_priority(Priority::Low)
                    .pinned_to_main(),
                );
                match options {
                    None => system.wait(&c).expect("ran here"),
                    Some(o) => assert!(system.wait_with(&c, o).expect("ran here")),
                }
            }
            // A registered thread.
            std::thread::scope(|s| {
                s.spawn(|| {
                    let registration = system.register_thread().expect("a slot");
                    let c = system.counter();
                    let ran = pinned_ran.clone();
                    let here = std::thread::current().id();
                    system.submit_counted(
                        &c,
                        Job::from_fn(move |_| {
                            assert_eq!(std::thread::current().id(), here);
                            ran.fetch_add(1, SeqCst);
                        })
                        .with_priority(Priority::Low)
                        .pinned_to(registration.thread()),
                    );
                    system.wait(&c).expect("ran here");
                });
            });
            poll_zero(&holders, 30);
            assert_eq!(pinned_ran.load(SeqCst), 3);
            assert_eq!(
                gave_up.load(SeqCst),
                0,
                "workers({workers}): a pinned Low job waited for the cap"
            );
        }
    });
}

/// Many pinned Low jobs (some panicking, some waiting, some yielding) run on the main thread
/// and on a registered thread: afterwards every slot is still free.
#[test]
fn pinned_low_jobs_leak_no_slot() {
    watchdog(WATCH, || {
        let system = Arc::new(sys(2, false, Some(2)));
        for round in 0..50u32 {
            let c = system.counter();
            let s = system.clone();
            let job = match round % 4 {
                0 => Job::from_fn(|_| {}),
                1 => Job::from_fn(|_| panic!("pinned boom")),
                2 => Job::from_fn(move |_| {
                    let inner = Counter::new();
                    s.submit_counted(&inner, Job::from_fn(|_| {}).with_priority(Priority::Low));
                    s.wait(&inner).expect("no panic");
                }),
                _ => Job::new(0u8, |n, _| {
                    if *n == 3 {
                        return Action::Done;
                    }
                    *n += 1;
                    Action::Yield(|_, _| Action::Done)
                }),
            };
            system.submit_counted(&c, job.with_priority(Priority::Low).pinned_to_main());
            let result = system.wait(&c);
            assert_eq!(result.is_err(), round % 4 == 1, "round {round}");
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                let registration = system.register_thread().expect("a slot");
                for round in 0..20 {
                    let c = system.counter();
                    let job = if round % 2 == 0 {
                        Job::from_fn(|_| {})
                    } else {
                        Job::from_fn(|_| panic!("registered boom"))
                    };
                    system.submit_counted(
                        &c,
                        job.with_priority(Priority::Low)
                            .pinned_to(registration.thread()),
                    );
                    assert_eq!(system.wait(&c).is_err(), round % 2 == 1);
                }
            });
        });
        assert_slots_intact(&system, 2, "after pinned Low jobs");
    });
}

// ---------------------------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------------------------

struct Fan {
    ran: Arc<AtomicUsize>,
}

fn fan_start(_: &mut Fan, _: &mut Context<'_>) -> Action<Fan> {
    Action::Spawn(
        |f, s| {
            for _ in 0..5 {
                let ran = &f.ran;
                s.spawn(move |_| {
                    spin(Duration::from_micros(30));
                    ran.fetch_add(1, SeqCst);
                });
            }
        },
        |f, _| {
            f.ran.fetch_add(1, SeqCst);
            Action::Done
        },
    )
}

/// Dropping the system with Low work queued and running at a cap (of 1 on up to 64 workers,
/// and none): every queued job, and every child they spawn, runs before the drop returns.
#[test]
fn shutdown_with_low_work_queued_and_running_runs_all_of_it() {
    watchdog(WATCH, || {
        for (workers, cap) in [(1, 1), (2, 1), (4, 1), (16, 1), (64, 3), (8, usize::MAX)] {
            let done = Counter::new();
            let ran = Arc::new(AtomicUsize::new(0));
            let low = Running::default();
            {
                let system = sys(workers, false, Some(cap));
                for i in 0..200 {
                    let (ran, low) = (ran.clone(), low.clone());
                    let d = done.clone();
                    let job = if i % 20 == 0 {
                        Job::new(Fan { ran }, fan_start)
                    } else {
                        Job::from_fn(move |cx| {
                            low.work(Duration::from_micros(30));
                            ran.fetch_add(1, SeqCst);
                            if i % 10 == 5 {
                                for _ in 0..3 {
                                    let ran = ran.clone();
                                    cx.spawn_counted(&d, move |_| {
                                        ran.fetch_add(1, SeqCst);
                                    });
                                }
                            }
                        })
                    };
                    system.submit_counted(&done, job.with_priority(Priority::Low));
                }
                // Dropped at once: most of it is still queued.
            }
            assert!(
                done.is_zero(),
                "workers({workers}): work left counted after drop"
            );
            assert_eq!(
                ran.load(SeqCst),
                10 * 6 + 190 + 20 * 3,
                "workers({workers}), cap {cap}: not every queued Low job ran at shutdown"
            );
            assert!(low.most() <= workers.min(cap));
        }
    });
}

struct Waiter {
    inner: Counter,
}

/// Dropping the system with Low jobs suspended on counters of queued Low jobs, and Low jobs
/// pinned to the main thread never run: the drop returns, and nothing stays counted.
#[test]
fn shutdown_with_suspended_and_pinned_low_jobs_leaves_nothing_counted() {
    watchdog(WATCH, || {
        for (workers, cap) in [(1, 1), (3, 1), (16, 2)] {
            let done = Counter::new();
            let pinned = Counter::new();
            {
                let system = sys(workers, false, Some(cap));
                for _ in 0..20 {
                    let inner = Counter::new();
                    for _ in 0..5 {
                        system.submit_counted(
                            &inner,
                            Job::from_fn(|_| spin(Duration::from_micros(50)))
                                .with_priority(Priority::Low),
                        );
                    }
                    system.submit_counted(
                        &done,
                        Job::new(Waiter { inner }, |w, _| {
                            Action::wait(&w.inner, |_, _| Action::Done)
                        })
                        .with_priority(Priority::Low),
                    );
                    system.submit_counted(
                        &pinned,
                        Job::from_fn(|_| {})
                            .with_priority(Priority::Low)
                            .pinned_to_main(),
                    );
                }
            }
            assert!(
                done.is_zero(),
                "workers({workers}): a suspended Low job stayed counted"
            );
            assert!(
                pinned.is_zero(),
                "workers({workers}): a pinned Low job stayed counted"
            );
        }
    });
}

/// The last handle to the system dropped inside a Low job on a worker, with Low work still
/// queued at a cap of one: everything is counted off, nothing hangs.
#[test]
fn the_system_dropped_inside_a_low_job_with_low_work_queued() {
    watchdog(WATCH, || {
        for workers in [1, 2, 4] {
            let system = Arc::new(sys(workers, false, Some(1)));
            let done = Counter::new();
            let main_dropped = Flag::default();
            let holder_dropped = Flag::default();
            for _ in 0..50 {
                system.submit_counted(
                    &done,
                    Job::from_fn(|_| spin(Duration::from_micros(50))).with_priority(Priority::Low),
                );
            }
            {
                let (s, main_dropped, holder_dropped) =
                    (system.clone(), main_dropped.clone(), holder_dropped.clone());
                system.submit_counted(
                    &done,
                    Job::from_fn(move |_| {
                        assert!(poll_until(10, || main_dropped.get()));
                        drop(s);
                        holder_dropped.set();
                    })
                    .with_priority(Priority::Low),
                );
            }
            drop(system);
            main_dropped.set();
            assert!(poll_until(30, || holder_dropped.get()));
            poll_zero(&done, 30);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// A main thread that does not help, and a random mix
// ---------------------------------------------------------------------------------------------

/// The main thread does not help: it never runs a Low job while it waits (only its pinned
/// ones), the workers do, under the default cap.
#[test]
fn a_main_thread_that_does_not_help_runs_no_low_job() {
    watchdog(WATCH, || {
        for workers in [1, 2, 3] {
            let system = sys(workers, false, None);
            let cap = system.low_priority_threads();
            assert_eq!(cap, (workers - 1).max(1));
            let low = Running::default();
            let on_main = Arc::new(AtomicUsize::new(0));
            let done = system.counter();
            for i in 0..60 {
                let (low, on_main) = (low.clone(), on_main.clone());
                let mut job = Job::from_fn(move |cx| {
                    if cx.on_main_thread() {
                        on_main.fetch_add(1, SeqCst);
                    }
                    low.work(Duration::from_micros(100));
                })
                .with_priority(Priority::Low);
                if i % 15 == 0 {
                    job = job.pinned_to_main();
                }
                system.submit_counted(&done, job);
            }
            system.wait(&done).expect("no panic");
            assert_eq!(low.runs(), 60);
            assert_eq!(on_main.load(SeqCst), 4, "only the pinned ones ran on main");
            // The pinned ones run on main whatever the count: the cap may be exceeded by them.
            assert!(low.most() <= cap + 1, "{} at once, cap {cap}", low.most());
        }
    });
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const PRIORITIES: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

/// One random job: it works (counted if Low), and may spawn children of random priorities and
/// wait for them, join, or spawn detached ones.
fn random_job(
    system: Arc<JobSystem>,
    low: Running,
    seed: u64,
    depth: u32,
    ran: Arc<AtomicUsize>,
) -> Job<'static> {
    let mut rng = Rng(seed.max(1));
    let priority = PRIORITIES[(rng.next() % 3) as usize];
    let action = rng.next() % 5;
    Job::from_fn(move |cx| {
        ran.fetch_add(1, SeqCst);
        let is_low = cx.priority() == Priority::Low;
        let work = |low: &Running| {
            if is_low {
                low.work(Duration::from_micros(20));
            } else {
                spin(Duration::from_micros(20));
            }
        };
        work(&low);
        if depth == 0 {
            return;
        }
        match action {
            0 => {
                let children = Counter::new();
                for k in 0..3 {
                    let job = random_job(
                        system.clone(),
                        low.clone(),
                        rng.next() ^ k,
                        depth - 1,
                        ran.clone(),
                    );
                    cx.spawn_job_counted(&children, job);
                }
                system.wait(&children).expect("no panic");
                work(&low);
            }
            1 => {
                let (a, b) = cx.join(
                    |_| {
                        work(&low);
                        1
                    },
                    |cx| {
                        if cx.priority() == Priority::Low {
                            low.work(Duration::from_micros(20));
                        }
                        2
                    },
                );
                assert_eq!(a + b, 3);
            }
            2 => {
                let job = random_job(
                    system.clone(),
                    low.clone(),
                    rng.next(),
                    depth - 1,
                    ran.clone(),
                );
                cx.spawn_job(job);
            }
            _ => {}
        }
    })
    .with_priority(priority)
}

/// Runs a random mix of priorities, children, waits, joins and detached spawns on several
/// configs; asserts that everything finishes; returns, per config, the workers, whether the
/// main thread helps, the cap and the most Low work seen at once.
fn random_mix() -> Vec<(usize, bool, usize, usize)> {
    let configs: [(usize, bool, Option<usize>); 6] = [
        (1, false, Some(1)),
        (2, true, Some(1)),
        (3, false, Some(2)),
        (4, true, None),
        (8, false, Some(3)),
        (16, false, Some(1)),
    ];
    let mut seen = Vec::new();
    for (c, (workers, help, cap)) in configs.into_iter().enumerate() {
        let system = Arc::new(sys(workers, help, cap));
        let cap = system.low_priority_threads();
        let low = Running::default();
        let ran = Arc::new(AtomicUsize::new(0));
        let done = system.counter();
        for i in 0..150u64 {
            let seed = (c as u64 + 1) * 7919 + i;
            let job = random_job(system.clone(), low.clone(), seed, 2, ran.clone());
            system.submit_counted(&done, job);
        }
        if help {
            system.wait(&done).expect("no panic");
        } else {
            poll_zero(&done, 120);
        }
        // Detached children are not counted on `done`: the drop runs what is left.
        drop(system);
        assert!(ran.load(SeqCst) >= 150);
        seen.push((workers, help, cap, low.most()));
    }
    seen
}

/// A random mix of priorities, children, waits, joins and detached spawns on several configs:
/// everything finishes (the cap itself: the next test).
#[test]
fn a_random_mix_finishes() {
    watchdog(WATCH * 2, || {
        let seen = random_mix();
        assert_eq!(seen.len(), 6);
        // One worker and no help: one thread in all, never two.
        assert_eq!(seen[0].3, 1, "{seen:?}");
    });
}

/// The same random mix: Low work never exceeds the cap. Fails in some runs by the documented
/// exception: a `join` inside a Normal job that runs on top of a Low job's wait narrows the
/// wait to Normal, which lends the Low job's slot; its thread takes it back at the end whatever
/// the count.
#[test]
#[ignore = "documented exception (Config::low_priority_threads): a join in a Normal job nested in a Low job's wait lends the slot, taken back whatever the count"]
fn a_random_mix_stays_under_the_cap() {
    watchdog(WATCH * 2, || {
        for (workers, help, cap, most) in random_mix() {
            let threads = workers + usize::from(help);
            assert!(
                most <= cap.min(threads),
                "workers({workers}) help {help}: {most} threads ran Low work at once, cap {cap}"
            );
        }
    });
}

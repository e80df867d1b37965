//! Background work: at most `Config::low_priority_threads` threads run Low-priority jobs at
//! once, so that frame work always finds a thread free; a thread waiting inside a Low job does
//! not count; jobs pinned to a thread run there whatever the count; nothing hangs at the cap.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{poll_until, poll_zero, watchdog};
use jobs::{Config, Counter, Job, JobSystem, Priority, WaitOptions};

fn system(config: Config) -> JobSystem {
    JobSystem::new(config.core_affinity(false)).expect("valid config")
}

/// How many of some jobs run at once, and the most that ever did.
#[derive(Clone, Default)]
struct Running {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Running {
    fn during(&self, body: impl FnOnce()) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        body();
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

fn spin(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

#[test]
fn low_jobs_run_on_at_most_the_threads_allowed() {
    watchdog(60, || {
        // (config, the cap it gives)
        let configs = [
            (Config::default().workers(2).help_while_waiting(false), 1),
            (Config::default().workers(4).help_while_waiting(false), 3),
            (Config::default().workers(3), 3), // the helping main thread counts
            (Config::default().workers(4).low_priority_threads(1), 1),
            (Config::default().workers(4).low_priority_threads(2), 2),
        ];
        for (config, cap) in configs {
            let system = system(config);
            assert_eq!(system.low_priority_threads(), cap);
            let low = Running::default();
            let done = system.counter();
            for _ in 0..24 {
                let low = low.clone();
                system.submit_counted(
                    &done,
                    Job::from_fn(move |_| low.during(|| spin(Duration::from_millis(2))))
                        .with_priority(Priority::Low),
                );
            }
            system.wait(&done).unwrap();
            assert!(low.most() >= 1);
            assert!(
                low.most() <= cap,
                "{} Low jobs ran at once with a cap of {cap}",
                low.most()
            );
        }
    });
}

#[test]
fn without_a_cap_every_thread_may_run_low_jobs() {
    watchdog(60, || {
        let system = system(
            Config::default()
                .workers(3)
                .help_while_waiting(false)
                .low_priority_threads(usize::MAX),
        );
        assert_eq!(system.low_priority_threads(), usize::MAX);
        let low = Running::default();
        let all_in = Arc::new(AtomicUsize::new(0));
        let done = system.counter();
        for _ in 0..3 {
            let (low, all_in) = (low.clone(), all_in.clone());
            system.submit_counted(
                &done,
                Job::from_fn(move |_| {
                    low.during(|| {
                        // Each holds its thread until all three run (or 5 s pass).
                        all_in.fetch_add(1, Ordering::SeqCst);
                        poll_until(5, || all_in.load(Ordering::SeqCst) == 3);
                    })
                })
                .with_priority(Priority::Low),
            );
        }
        poll_zero(&done, 30);
        assert_eq!(
            low.most(),
            3,
            "three workers, no cap: three Low jobs at once"
        );
    });
}

/// The point of the cap: Low jobs that hold their threads (long background work) leave one
/// free, which runs a Normal job submitted after them at once. Without the cap both workers
/// take a Low job, and the Normal job waits until one ends (here: until they give up after
/// 10 s, which fails the test).
#[test]
fn a_normal_job_finds_a_thread_free_while_low_jobs_hold_the_others() {
    watchdog(60, || {
        let system = system(Config::default().workers(2).help_while_waiting(false));
        let normal_ran = Arc::new(AtomicBool::new(false));
        let gave_up = Arc::new(AtomicUsize::new(0));
        let low_done = system.counter();
        for _ in 0..2 {
            let (normal_ran, gave_up) = (normal_ran.clone(), gave_up.clone());
            system.submit_counted(
                &low_done,
                Job::from_fn(move |_| {
                    if !poll_until(10, || normal_ran.load(Ordering::SeqCst)) {
                        gave_up.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .with_priority(Priority::Low),
            );
        }
        // Both workers have had time to take a Low job, were they allowed to.
        std::thread::sleep(Duration::from_millis(50));
        let normal = system.counter();
        let flag = normal_ran.clone();
        system.submit_counted(
            &normal,
            Job::from_fn(move |_| flag.store(true, Ordering::SeqCst)),
        );
        poll_zero(&normal, 30);
        poll_zero(&low_done, 30);
        assert_eq!(
            gave_up.load(Ordering::SeqCst),
            0,
            "the Normal job waited for the Low jobs to give up"
        );
    });
}

/// A thread waiting inside its Low job lends its slot: a Low job it waits for runs on another
/// thread even when the waiter itself may not run Low jobs (a wait limited to Normal and
/// above), with a cap of one.
#[test]
fn a_low_job_waiting_for_another_low_job_lends_it_its_slot() {
    watchdog(60, || {
        let system = Arc::new(system(
            Config::default().workers(2).help_while_waiting(false),
        ));
        assert_eq!(system.low_priority_threads(), 1);
        let done = system.counter();
        let ran = Arc::new(AtomicBool::new(false));
        let (inner_system, inner_ran) = (system.clone(), ran.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |_| {
                let inner = Counter::new();
                let flag = inner_ran.clone();
                inner_system.submit_counted(
                    &inner,
                    Job::from_fn(move |_| flag.store(true, Ordering::SeqCst))
                        .with_priority(Priority::Low),
                );
                let normal_only = WaitOptions::new().lowest_priority(Priority::Normal);
                inner_system.wait_with(&inner, normal_only).unwrap();
            })
            .with_priority(Priority::Low),
        );
        poll_zero(&done, 30);
        assert!(ran.load(Ordering::SeqCst));
        // The slot came back: Low work still runs afterwards.
        let after = system.counter();
        system.submit_counted(&after, Job::from_fn(|_| {}).with_priority(Priority::Low));
        poll_zero(&after, 30);
    });
}

/// A Low job pinned to the main thread runs there even while the only slot is held.
#[test]
fn a_pinned_low_job_runs_on_its_thread_whatever_the_count() {
    watchdog(60, || {
        let system = system(Config::default().workers(2).help_while_waiting(false));
        let holding = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let low = system.counter();
        let (h, r) = (holding.clone(), release.clone());
        system.submit_counted(
            &low,
            Job::from_fn(move |_| {
                h.store(true, Ordering::SeqCst);
                poll_until(10, || r.load(Ordering::SeqCst));
            })
            .with_priority(Priority::Low),
        );
        assert!(poll_until(10, || holding.load(Ordering::SeqCst)));
        let pinned = system.counter();
        system.submit_counted(
            &pinned,
            Job::from_fn(|cx| assert!(cx.on_main_thread()))
                .with_priority(Priority::Low)
                .pinned_to_main(),
        );
        assert_eq!(system.run_pinned(), Ok(1));
        assert!(pinned.is_zero());
        release.store(true, Ordering::SeqCst);
        poll_zero(&low, 30);
    });
}

/// Many short Low jobs, spawning more Low and Normal children, with waits inside, through the
/// cap on every config: all run, nothing hangs, and the cap holds.
#[test]
fn low_work_at_the_cap_always_finishes() {
    watchdog(120, || {
        for (workers, help, cap) in [(1, false, 1), (2, false, 1), (2, true, 1), (4, true, 2)] {
            let system = Arc::new(system(
                Config::default()
                    .workers(workers)
                    .help_while_waiting(help)
                    .low_priority_threads(cap),
            ));
            let low = Running::default();
            let ran = Arc::new(AtomicUsize::new(0));
            let done = system.counter();
            for i in 0..200 {
                let (low, ran, inner_system) = (low.clone(), ran.clone(), system.clone());
                system.submit_counted(
                    &done,
                    Job::from_fn(move |cx| {
                        low.during(|| spin(Duration::from_micros(20)));
                        ran.fetch_add(1, Ordering::SeqCst);
                        if i % 10 == 0 {
                            // Children of both priorities, waited for inside the job.
                            let children = Counter::new();
                            for p in [Priority::Low, Priority::Normal] {
                                let ran = ran.clone();
                                cx.spawn_job_counted(
                                    &children,
                                    Job::from_fn(move |_| {
                                        ran.fetch_add(1, Ordering::SeqCst);
                                    })
                                    .with_priority(p),
                                );
                            }
                            inner_system.wait(&children).unwrap();
                        }
                    })
                    .with_priority(Priority::Low),
                );
            }
            if help {
                system.wait(&done).unwrap();
            } else {
                poll_zero(&done, 60);
            }
            assert_eq!(ran.load(Ordering::SeqCst), 200 + 20 * 2);
            assert!(low.most() <= cap, "{} at once, cap {cap}", low.most());
        }
    });
}

#[test]
fn a_system_dropped_with_low_work_queued_at_the_cap_shuts_down() {
    watchdog(60, || {
        let done = Counter::new();
        {
            let system = system(
                Config::default()
                    .workers(2)
                    .help_while_waiting(false)
                    .low_priority_threads(1),
            );
            for _ in 0..100 {
                system.submit_counted(
                    &done,
                    Job::from_fn(|_| spin(Duration::from_micros(100))).with_priority(Priority::Low),
                );
            }
        }
        // Every job ran or was cancelled: nothing is left counted.
        assert!(done.is_zero());
    });
}

#[test]
fn zero_low_priority_threads_is_an_error_naming_the_value() {
    let err = JobSystem::new(Config::default().low_priority_threads(0)).unwrap_err();
    assert_eq!(err, jobs::ConfigError::ZeroLowPriorityThreads);
    assert!(
        err.to_string().starts_with("low_priority_threads(0)"),
        "{err}"
    );
}

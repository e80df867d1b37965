//! The system's promises: priorities, counters, the main thread, panics, shutdown, configuration
//! errors, statistics and the conveniences.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{system, watchdog, Gate};
use jobs::{
    Action, Config, ConfigError, Context, Counter, Grain, Job, JobSystem, NotMainThread, Priority,
};

/// Occupies the only worker until the gate opens.
fn block_worker(system: &JobSystem, gate: &Gate) -> Counter {
    let blocked = Counter::new();
    let started = Arc::new(AtomicUsize::new(0));
    let (g, s) = (gate.clone(), started.clone());
    system.submit_counted(
        &blocked,
        Job::from_fn(move |_| {
            s.store(1, Ordering::SeqCst);
            g.wait();
        }),
    );
    while started.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    blocked
}

#[test]
fn a_high_job_submitted_after_low_jobs_starts_before_them() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = block_worker(&system, &gate);
        let order = Arc::new(Mutex::new(Vec::new()));
        let counter = Counter::new();
        for (name, priority) in [
            ("low1", Priority::Low),
            ("normal", Priority::Normal),
            ("low2", Priority::Low),
            ("high", Priority::High),
        ] {
            let order = order.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| order.lock().unwrap().push(name)).with_priority(priority),
            );
        }
        gate.open();
        // Poll instead of `wait`: a waiting thread would run jobs too, racing the worker.
        while !(blocked.is_zero() && counter.is_zero()) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order[0], "high", "{order:?}");
        assert_eq!(order[1], "normal", "{order:?}");
    });
}

#[test]
fn counters_count_batches_and_are_reusable_round_after_round() {
    watchdog(60, || {
        let system = system(2);
        let counter = system.counter();
        let hits = Arc::new(AtomicUsize::new(0));
        for round in 1..=50 {
            let jobs = (0..round).map(|_| {
                let hits = hits.clone();
                Job::from_fn(move |_| {
                    hits.fetch_add(1, Ordering::Relaxed);
                })
            });
            system.submit_batch(&counter, jobs);
            system.wait(&counter).unwrap();
            assert!(counter.is_zero());
        }
        assert_eq!(hits.load(Ordering::Relaxed), 50 * 51 / 2);
        let gate = Gate::default();
        let _blocked = block_worker(&system, &gate);
        let c = system.counter();
        let g = gate.clone();
        system.submit_counted(&c, Job::from_fn(move |_| g.wait()));
        system.submit_counted(&c, Job::from_fn(|_| {}));
        assert!(c.value() >= 1, "value is visible while jobs are pending");
        gate.open();
        system.wait(&c).unwrap();
        assert_eq!(c.value(), 0);
    });
}

#[test]
fn the_waiting_thread_runs_jobs_itself() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = block_worker(&system, &gate);
        let counter = Counter::new();
        let ran_outside = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let r = ran_outside.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |cx| {
                    if cx.worker_index().is_none() {
                        r.fetch_add(1, Ordering::Relaxed);
                    }
                }),
            );
        }
        // The only worker is blocked: only this thread can run them.
        system.wait(&counter).unwrap();
        assert_eq!(ran_outside.load(Ordering::Relaxed), 100);
        gate.open();
        system.wait(&blocked).unwrap();
    });
}

#[test]
fn pinned_jobs_run_only_on_the_main_thread() {
    // Not under the watchdog: the main thread is the one that creates the system.
    let system = system(2);
    let counter = Counter::new();
    let on_main = Arc::new(AtomicUsize::new(0));
    for _ in 0..20 {
        let m = on_main.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                if cx.on_main_thread() && cx.worker_index().is_none() {
                    m.fetch_add(1, Ordering::SeqCst);
                }
            })
            .pinned_to_main(),
        );
    }
    system.wait(&counter).unwrap();
    assert_eq!(on_main.load(Ordering::SeqCst), 20);

    // run_pinned runs them when asked; from another thread it is an error.
    let m = on_main.clone();
    system.submit(
        Job::from_fn(move |cx| {
            if cx.on_main_thread() {
                m.fetch_add(1, Ordering::SeqCst);
            }
        })
        .pinned_to_main(),
    );
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(system.run_pinned(), Err(NotMainThread)));
    });
    assert_eq!(system.run_pinned(), Ok(1));
    assert_eq!(on_main.load(Ordering::SeqCst), 21);
}

#[test]
fn a_pinned_job_that_suspends_resumes_on_the_main_thread() {
    let system = system(2);
    let counter = Counter::new();
    let steps_on_main = Arc::new(AtomicUsize::new(0));
    struct P(Arc<AtomicUsize>);
    fn step(p: &mut P, cx: &mut Context<'_>) -> Action<P> {
        if cx.on_main_thread() {
            p.0.fetch_add(1, Ordering::SeqCst);
        }
        Action::Spawn(
            |_, s| s.spawn_fn(|_| {}),
            |p, cx| {
                if cx.on_main_thread() {
                    p.0.fetch_add(1, Ordering::SeqCst);
                }
                Action::Done
            },
        )
    }
    system.submit_counted(
        &counter,
        Job::new(P(steps_on_main.clone()), step).pinned_to_main(),
    );
    system.wait(&counter).unwrap();
    assert_eq!(steps_on_main.load(Ordering::SeqCst), 2);
}

#[test]
fn a_panicking_job_reaches_its_waiter_and_the_worker_survives() {
    watchdog(30, || {
        let system = system(1);
        for round in 0..20 {
            let counter = Counter::new();
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| panic!("bad particle {round}")),
            );
            system.submit_counted(&counter, Job::from_fn(|_| {}));
            let err = system.wait(&counter).unwrap_err();
            assert_eq!(err.message(), format!("bad particle {round}"));
        }
        // The one worker is alive and well.
        let ok = Counter::new();
        system.submit_counted(
            &ok,
            Job::from_fn(|cx| assert!(cx.worker_index().is_some() || cx.worker_index().is_none())),
        );
        system.wait(&ok).unwrap();
        let unobserved = system.stats().unobserved_panics;
        system.submit(Job::from_fn(|_| panic!("nobody waits for me")));
        let flush = Counter::new();
        system.submit_counted(&flush, Job::from_fn(|_| {}));
        system.wait(&flush).unwrap();
        while system.stats().unobserved_panics == unobserved {
            std::thread::yield_now();
        }
    });
}

#[test]
fn a_panicking_child_cancels_its_parent_and_reaches_the_parents_counter() {
    watchdog(30, || {
        let system = system(2);
        let continued = Arc::new(AtomicUsize::new(0));
        struct P(Arc<AtomicUsize>);
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(P(continued.clone()), |_, _| {
                Action::Spawn(
                    |_, s| {
                        s.spawn_fn(|_| {});
                        s.spawn_fn(|_| panic!("child failed"));
                    },
                    |p, _| {
                        p.0.fetch_add(1, Ordering::SeqCst);
                        Action::Done
                    },
                )
            }),
        );
        let err = system.wait(&counter).unwrap_err();
        assert_eq!(err.message(), "child failed");
        assert_eq!(
            continued.load(Ordering::SeqCst),
            0,
            "the parent must not continue"
        );
    });
}

#[test]
fn a_job_waiting_on_a_counter_whose_job_panicked_is_cancelled_with_it() {
    watchdog(30, || {
        let system = system(2);
        let inputs = Counter::new();
        system.submit_counted(&inputs, Job::from_fn(|_| panic!("input failed")));
        struct W(Counter, Arc<AtomicUsize>);
        let continued = Arc::new(AtomicUsize::new(0));
        let done = Counter::new();
        system.submit_counted(
            &done,
            Job::new(W(inputs.clone(), continued.clone()), |w, _| {
                Action::wait(&w.0, |w, _| {
                    w.1.fetch_add(1, Ordering::SeqCst);
                    Action::Done
                })
            }),
        );
        let err = system.wait(&done).unwrap_err();
        assert_eq!(err.message(), "input failed");
        assert_eq!(continued.load(Ordering::SeqCst), 0);
        assert!(system.wait(&inputs).is_err());
    });
}

#[test]
fn panics_in_batches_blocking_steps_drops_and_scopes_are_reported() {
    watchdog(30, || {
        let system = system(2);
        let err = system
            .parallel_for(0..1000, Grain::Auto, |i| assert!(i != 500, "item 500"))
            .unwrap_err();
        assert_eq!(err.message(), "item 500");

        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new((), |_, _| {
                Action::Blocking(|_| panic!("disk on fire"), |_, _| Action::Done)
            }),
        );
        assert_eq!(system.wait(&counter).unwrap_err().message(), "disk on fire");

        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("drop failed");
            }
        }
        system.submit_counted(&counter, Job::new(Bomb, |_, _| Action::Done));
        assert_eq!(system.wait(&counter).unwrap_err().message(), "drop failed");

        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            system.scope(|s| s.spawn(|_| panic!("scoped")));
        }));
        let payload = caught.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>().copied(), Some("scoped"));
        // Still working afterwards.
        system.parallel_for(0..100, Grain::Auto, |_| {}).unwrap();
    });
}

#[test]
fn dropping_the_system_runs_what_is_queued_and_joins_every_thread() {
    watchdog(60, || {
        let ran = Arc::new(AtomicUsize::new(0));
        let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
        {
            let system = system(2);
            for _ in 0..10_000 {
                let (ran, threads) = (ran.clone(), threads.clone());
                system.submit(Job::from_fn(move |cx| {
                    ran.fetch_add(1, Ordering::Relaxed);
                    if cx.worker_index().is_some() {
                        threads.lock().unwrap().insert(std::thread::current().id());
                    }
                    // Spawned work is run too.
                    let ran = ran.clone();
                    cx.spawn(Job::from_fn(move |_| {
                        ran.fetch_add(1, Ordering::Relaxed);
                    }));
                }));
            }
            // A job suspended on a counter that does not reach zero does not stop the drop.
            let never = Counter::new();
            struct W(Counter);
            system.submit(Job::new(W(never.clone()), |w, _| {
                Action::wait(&w.0, |_, _| Action::Done)
            }));
            // Keep `never` above zero with a job pinned to the main thread, never run before drop.
            system.submit_counted(&never, Job::from_fn(|_| {}).pinned_to_main());
        }
        assert_eq!(ran.load(Ordering::Relaxed), 20_000);
        assert!(!threads.lock().unwrap().is_empty());
    });
}

#[test]
fn main_thread_jobs_left_at_drop_are_cancelled_and_reported() {
    let counter = Counter::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    {
        let system = system(1);
        system.submit_counted(
            &counter,
            Job::new(Flag(dropped.clone()), |_, _| Action::Done).pinned_to_main(),
        );
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the capture was dropped");
    assert!(counter.is_zero());
    // The counter's round ended with the cancellation.
    let system = system(1);
    let err = system.wait(&counter).unwrap_err();
    assert!(err.message().contains("cancelled"), "{}", err.message());
}

#[test]
fn bad_configuration_is_an_error_that_names_the_problem() {
    type Expected = fn(&ConfigError) -> bool;
    let cases: Vec<(Config, Expected)> = vec![
        (Config::default().workers(0), |e| {
            *e == ConfigError::ZeroWorkers
        }),
        (Config::default().io_threads(0), |e| {
            *e == ConfigError::ZeroIoThreads
        }),
        (Config::default().heap_block_size(0), |e| {
            *e == ConfigError::ZeroHeapBlockSize
        }),
        (Config::default().cores(vec![]), |e| {
            *e == ConfigError::EmptyCoreList
        }),
        (Config::default().cores(vec![9999]), |e| {
            matches!(e, ConfigError::NoSuchCore { core: 9999, .. })
        }),
    ];
    for (config, expected) in cases {
        let err = JobSystem::new(config).unwrap_err();
        assert!(expected(&err), "{err:?}");
        assert!(!err.to_string().is_empty());
    }
    assert!(ConfigError::NoSuchCore {
        core: 9999,
        available: vec![0, 1]
    }
    .to_string()
    .contains("9999"));
    assert_eq!(Grain::fixed(0), Err(ConfigError::ZeroGrain));
    assert!(ConfigError::ZeroGrain.to_string().contains("grain"));
}

#[test]
fn statistics_count_jobs_per_priority_and_time_per_worker() {
    watchdog(30, || {
        let system = system(2);
        let before = system.stats();
        let counter = Counter::new();
        for priority in Priority::ALL {
            for _ in 0..100 {
                system.submit_counted(
                    &counter,
                    Job::from_fn(|_| {
                        let start = std::time::Instant::now();
                        while start.elapsed().as_micros() < 20 {}
                    })
                    .with_priority(priority),
                );
            }
        }
        system.wait(&counter).unwrap();
        // Workers publish their counts when they go idle: wait for that.
        let mut stats = system.stats().since(&before);
        while stats.total_jobs() < 300 {
            std::thread::yield_now();
            stats = system.stats().since(&before);
        }
        for priority in Priority::ALL {
            assert_eq!(stats.jobs_at(priority), 100, "{priority:?}: {stats:?}");
        }
        let utilization = stats.utilization();
        assert!((0.0..=1.0).contains(&utilization), "{utilization}");
        assert!(stats.workers.iter().any(|w| !w.busy.is_zero()));
        assert_eq!(stats.workers.len(), 2);
        assert_eq!(stats.queued, [0, 0, 0]);
    });
}

#[test]
fn conveniences_visit_every_item_exactly_once() {
    watchdog(60, || {
        let system = system(2);
        let hits: Vec<AtomicUsize> = (0..100_000).map(|_| AtomicUsize::new(0)).collect();
        system
            .parallel_for(0..hits.len(), Grain::Auto, |i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        system
            .parallel_for_chunks(0..hits.len(), Grain::fixed(777).unwrap(), |chunk| {
                assert!(chunk.len() <= 777);
                for i in chunk {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                }
            })
            .unwrap();
        let mut values = vec![0usize; 100_000];
        system
            .for_each_mut(&mut values, Grain::fixed(1).unwrap(), |i, v| *v += i + 1)
            .unwrap();
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 2));
        assert!(values.iter().enumerate().all(|(i, &v)| v == i + 1));

        let counter = Counter::new();
        let sum = Arc::new(AtomicUsize::new(0));
        let s = sum.clone();
        system.submit_for(
            &counter,
            Priority::Low,
            0..1000,
            Grain::fixed(3).unwrap(),
            move |i| {
                s.fetch_add(i, Ordering::Relaxed);
            },
        );
        system.wait(&counter).unwrap();
        assert_eq!(sum.load(Ordering::Relaxed), 499_500);

        let mut borrowed = [0u32; 8];
        system.scope(|s| {
            for (i, slot) in borrowed.iter_mut().enumerate() {
                s.spawn(move |cx| {
                    *slot = i as u32;
                    cx.spawn(Job::from_fn(|_| {})); // detached spawns from scoped jobs are fine
                });
            }
        });
        assert_eq!(borrowed, [0, 1, 2, 3, 4, 5, 6, 7]);
        // Empty ranges are fine.
        system
            .parallel_for(5..5, Grain::Auto, |_| unreachable!())
            .unwrap();
    });
}

#[test]
fn a_wait_inside_a_job_helps_instead_of_deadlocking() {
    watchdog(30, || {
        let system = Arc::new(system(1));
        let counter = Counter::new();
        let inner_done = Arc::new(AtomicUsize::new(0));
        let (sys, done) = (system.clone(), inner_done.clone());
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                let inner = Counter::new();
                for _ in 0..10 {
                    cx.spawn_counted(&inner, Job::from_fn(|_| {}));
                }
                // Discouraged (Action::Wait is the way), but it must not deadlock the only worker.
                sys.wait(&inner).unwrap();
                done.store(1, Ordering::SeqCst);
            }),
        );
        system.wait(&counter).unwrap();
        assert_eq!(inner_done.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_waiting_thread_runs_the_parent_its_last_child_resumed() {
    // Found by Miri: a waiting thread that already slept once finishes a parent's last child,
    // applies the cached completion (which resumes the parent into its own queue), and must run
    // the parent rather than sleep again. Here the parent is pinned to the waiting (main) thread,
    // which is woken by it after sleeping on the counter.
    watchdog(30, || {
        let system = JobSystem::new(
            Config::default()
                .workers(1)
                .pin_workers(false)
                .spin_before_sleep(std::time::Duration::ZERO),
        )
        .unwrap();
        for _ in 0..20 {
            let counter = Counter::new();
            let sum = Arc::new(AtomicUsize::new(0));
            struct Outer(Arc<AtomicUsize>);
            struct Pinned(Arc<AtomicUsize>, [usize; 2]);
            system.submit_counted(
                &counter,
                Job::new(Outer(sum.clone()), |_, _| {
                    // Let the main thread run out of work and sleep on the counter first.
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    Action::Spawn(
                        |o, s| {
                            let pinned = Job::new(Pinned(o.0.clone(), [0; 2]), |_, _| {
                                Action::Spawn(
                                    |p, s| {
                                        let [a, b] = &mut p.1;
                                        s.spawn_fn(move |_| *a = 1);
                                        s.spawn_fn(move |_| *b = 2);
                                    },
                                    |p, _| {
                                        p.0.store(p.1[0] + p.1[1], Ordering::SeqCst);
                                        Action::Done
                                    },
                                )
                            });
                            s.spawn(pinned.pinned_to_main());
                        },
                        |_, _| Action::Done,
                    )
                }),
            );
            system.wait(&counter).unwrap();
            assert_eq!(sum.load(Ordering::SeqCst), 3);
        }
    });
}

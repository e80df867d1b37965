//! Counters: submitting adds, each finished job takes one off, anything can wait for zero;
//! counters are reusable round after round, pooled by the system, and shared by handles.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{occupy_workers, poll_until, system, watchdog, Gate};
use jobs::{Action, Counter, Grain, Job, Priority};

#[test]
fn submitting_adds_to_the_counter_and_the_value_is_visible() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let counter = system.counter();
        assert_eq!(counter.value(), 0);
        assert!(counter.is_zero());
        system.submit_batch(&counter, (0..10).map(|_| Job::from_fn(|_| {})));
        assert_eq!(counter.value(), 10, "a batch adds its count at once");
        system.submit_counted(&counter, Job::from_fn(|_| {}));
        assert_eq!(counter.value(), 11);
        system.submit_batch(&counter, std::iter::empty());
        assert_eq!(counter.value(), 11, "an empty batch adds nothing");
        let clone = counter.clone();
        assert_eq!(clone.value(), 11, "clones are handles to the same counter");
        assert_eq!(format!("{counter:?}"), "Counter { value: 11 }");
        gate.open();
        system.wait(&counter).unwrap();
        assert_eq!(clone.value(), 0);
        system.wait(&blocked).unwrap();
    });
}

#[test]
fn a_counter_stays_above_zero_while_any_of_its_jobs_runs() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        let hits = Arc::new(AtomicUsize::new(0));
        for round in 0..20 {
            let jobs = (0..50).map(|_| {
                let (c, h) = (counter.clone(), hits.clone());
                Job::from_fn(move |_| {
                    assert!(c.value() >= 1, "a running job is still counted");
                    h.fetch_add(1, Ordering::SeqCst);
                })
            });
            system.submit_batch(&counter, jobs);
            system.wait(&counter).unwrap();
            // Every job's effects are visible once the counter reads zero.
            assert_eq!(hits.load(Ordering::SeqCst), 50 * (round + 1));
        }
    });
}

#[test]
fn every_finished_job_takes_exactly_one_off() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        // A job held back: the other 99 finish, the counter must not reach zero.
        let gate = Gate::default();
        let g = gate.clone();
        system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
        let finished = Arc::new(AtomicUsize::new(0));
        for _ in 0..99 {
            let f = finished.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| {
                    f.fetch_add(1, Ordering::SeqCst);
                }),
            );
        }
        assert!(poll_until(30, || finished.load(Ordering::SeqCst) == 99));
        // Finished jobs may be taken off in one go a little later (cached per worker): wait
        // until they are, then exactly the one held back is left.
        assert!(poll_until(30, || counter.value() == 1), "{counter:?}");
        gate.open();
        system.wait(&counter).unwrap();
        assert_eq!(counter.value(), 0);
    });
}

#[test]
fn a_counter_is_reusable_for_many_rounds() {
    watchdog(60, || {
        let system = system(2);
        let counter = system.counter();
        let hits = Arc::new(AtomicUsize::new(0));
        for round in 1..=200 {
            match round % 4 {
                0 => {
                    let jobs = (0..round).map(|_| {
                        let hits = hits.clone();
                        Job::from_fn(move |_| {
                            hits.fetch_add(1, Ordering::Relaxed);
                        })
                    });
                    system.submit_batch(&counter, jobs);
                }
                1 => {
                    for _ in 0..round {
                        let hits = hits.clone();
                        system.submit_counted(
                            &counter,
                            Job::from_fn(move |_| {
                                hits.fetch_add(1, Ordering::Relaxed);
                            }),
                        );
                    }
                }
                2 => {
                    let hits = hits.clone();
                    system.submit_for(
                        &counter,
                        0..round,
                        jobs::Batch::from(Grain::Auto).priority(Priority::Low),
                        move |_| {
                            hits.fetch_add(1, Ordering::Relaxed);
                        },
                    );
                }
                _ => {
                    // A round waited on by a job instead of a thread.
                    for _ in 0..round {
                        let hits = hits.clone();
                        system.submit_counted(
                            &counter,
                            Job::from_fn(move |_| {
                                hits.fetch_add(1, Ordering::Relaxed);
                            }),
                        );
                    }
                    let waiter = Counter::new();
                    system.submit_counted(
                        &waiter,
                        Job::new(counter.clone(), |c, _| {
                            Action::wait(&c.clone(), |c, _| {
                                assert!(c.is_zero());
                                Action::Done
                            })
                        }),
                    );
                    system.wait(&waiter).unwrap();
                }
            }
            system.wait(&counter).unwrap();
            assert!(counter.is_zero());
            assert_eq!(hits.load(Ordering::Relaxed), round * (round + 1) / 2);
        }
    });
}

#[test]
fn a_new_round_starts_without_the_last_rounds_panic() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        system.submit_counted(&counter, Job::from_fn(|_| panic!("round one")));
        assert_eq!(system.wait(&counter).unwrap_err().message(), "round one");
        // Still the last round's outcome while nothing new is counted.
        assert!(system.wait(&counter).is_err());
        system.submit_counted(&counter, Job::from_fn(|_| {}));
        system.wait(&counter).expect("round two had no panic");
    });
}

#[test]
fn pooled_counters_start_at_zero_with_no_panic_and_outlive_the_system() {
    watchdog(30, || {
        let system = system(2);
        for _ in 0..50 {
            let counter = system.counter();
            assert!(counter.is_zero());
            system
                .wait(&counter)
                .expect("a fresh pooled counter has no panic");
            system.submit_counted(&counter, Job::from_fn(|_| panic!("pooled")));
            assert!(system.wait(&counter).is_err());
            // Dropped here: back to the pool, and handed out again next time.
        }
        let kept = system.counter();
        let clone = kept.clone();
        drop(clone);
        system.submit_counted(&kept, Job::from_fn(|_| {}));
        system.wait(&kept).unwrap();
        drop(system);
        // The pool is gone; the counter still works as a counter.
        assert!(kept.is_zero());
        let other = common::system(1);
        other.submit_counted(&kept, Job::from_fn(|_| {}));
        other.wait(&kept).unwrap();
        drop(kept);
    });
}

#[test]
fn a_counter_dropped_by_every_handle_while_busy_still_completes() {
    watchdog(30, || {
        let system = system(2);
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let counter = system.counter();
            let r = ran.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| {
                    r.fetch_add(1, Ordering::SeqCst);
                }),
            );
            drop(counter); // nobody waits: the jobs still finish and the state stays valid
        }
        assert!(poll_until(30, || ran.load(Ordering::SeqCst) == 100));
    });
}

#[test]
fn waiting_on_a_zero_counter_returns_at_once() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        // The only worker is blocked and nothing is counted: wait must not need anyone.
        system.wait(&Counter::new()).unwrap();
        system.wait(&Counter::default()).unwrap();
        system.wait(&system.counter()).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| system.wait(&Counter::new()).unwrap());
        });
        gate.open();
        system.wait(&blocked).unwrap();
    });
}

#[test]
fn the_waiting_thread_runs_jobs_itself() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let counter = Counter::new();
        let ran_here = Arc::new(AtomicUsize::new(0));
        let here = std::thread::current().id();
        for _ in 0..100 {
            let r = ran_here.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |cx| {
                    if cx.worker_index().is_none() && std::thread::current().id() == here {
                        r.fetch_add(1, Ordering::SeqCst);
                    }
                }),
            );
        }
        // The only worker is blocked: only this thread can run them.
        system.wait(&counter).unwrap();
        assert_eq!(ran_here.load(Ordering::SeqCst), 100);
        gate.open();
        system.wait(&blocked).unwrap();
    });
}

#[test]
fn a_thread_other_than_the_main_one_also_runs_jobs_while_it_waits() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        std::thread::scope(|s| {
            s.spawn(|| {
                let counter = Counter::new();
                let outside = Arc::new(AtomicUsize::new(0));
                for _ in 0..50 {
                    let o = outside.clone();
                    system.submit_counted(
                        &counter,
                        Job::from_fn(move |cx| {
                            if cx.worker_index().is_none() && !cx.on_main_thread() {
                                o.fetch_add(1, Ordering::SeqCst);
                            }
                        }),
                    );
                }
                system.wait(&counter).unwrap();
                assert_eq!(outside.load(Ordering::SeqCst), 50);
            });
        });
        gate.open();
        system.wait(&blocked).unwrap();
    });
}

#[test]
fn many_threads_can_wait_on_one_counter() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        let gate = Gate::default();
        let g = gate.clone();
        system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
        let hits = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let h = hits.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| {
                    h.fetch_add(1, Ordering::SeqCst);
                }),
            );
        }
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    system.wait(&counter).unwrap();
                    assert_eq!(hits.load(Ordering::SeqCst), 100);
                    assert!(gate.is_open());
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            gate.open();
        });
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
                    let done = done.clone();
                    cx.spawn_job_counted(
                        &inner,
                        Job::from_fn(move |_| {
                            done.fetch_add(1, Ordering::SeqCst);
                        }),
                    );
                }
                // Discouraged (Action::Wait is the way), but it must not deadlock the only
                // worker: the worker runs the inner jobs itself.
                sys.wait(&inner).unwrap();
                assert_eq!(done.load(Ordering::SeqCst), 10);
                done.fetch_add(100, Ordering::SeqCst);
            }),
        );
        common::poll_zero(&counter, 30);
        system.wait(&counter).unwrap();
        assert_eq!(inner_done.load(Ordering::SeqCst), 110);
    });
}

#[test]
fn one_counter_can_count_jobs_of_two_systems() {
    watchdog(30, || {
        let a = system(1);
        let b = system(1);
        let counter = Counter::new();
        let hits = Arc::new(AtomicUsize::new(0));
        for i in 0..200 {
            let h = hits.clone();
            let job = Job::from_fn(move |_| {
                h.fetch_add(1, Ordering::SeqCst);
            });
            if i % 2 == 0 {
                a.submit_counted(&counter, job);
            } else {
                b.submit_counted(&counter, job);
            }
        }
        a.wait(&counter).unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 200);
        // A job of one system can wait on jobs of the other.
        let inputs = Counter::new();
        b.submit_counted(&inputs, Job::from_fn(|_| {}));
        let done = Counter::new();
        a.submit_counted(
            &done,
            Job::new(inputs, |c, _| Action::wait(&c.clone(), |_, _| Action::Done)),
        );
        a.wait(&done).unwrap();
    });
}

#[test]
fn a_waiting_thread_runs_the_parent_its_last_child_resumed() {
    // Found by Miri: a waiting thread that already slept once finishes a parent's last child,
    // applies the cached completion (which resumes the parent into its own queue), and must run
    // the parent rather than sleep again. Here the parent is pinned to the waiting (main) thread,
    // which is woken by it after sleeping on the counter.
    watchdog(30, || {
        let system = jobs::JobSystem::new(
            jobs::Config::default()
                .workers(1)
                .core_affinity(false)
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
                                        s.spawn(move |_| *a = 1);
                                        s.spawn(move |_| *b = 2);
                                    },
                                    |p, _| {
                                        p.0.store(p.1[0] + p.1[1], Ordering::SeqCst);
                                        Action::Done
                                    },
                                )
                            });
                            s.spawn_job(pinned.pinned_to_main());
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

/// Stress of the look bit (`counter.rs`, *Waking*): one counter reused for many short rounds,
/// each ended by a job on a worker while, in some rounds, outside threads and a suspended job
/// wait for it (registering as the round ends) and in others nobody waits (the round ends with
/// no look). Every wait returns, after the round's effects; a lost wake-up hangs (the watchdog).
#[test]
fn rounds_with_and_without_waiters_wake_every_waiter() {
    watchdog(120, || {
        let system = system(2);
        let counter = system.counter();
        let done = Arc::new(AtomicUsize::new(0));
        for round in 0..2000usize {
            let d = done.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| {
                    d.fetch_add(1, Ordering::Relaxed);
                }),
            );
            match round % 3 {
                // Nobody waits: the next round starts as soon as the value reads zero.
                0 => {
                    while !counter.is_zero() {
                        std::hint::spin_loop();
                    }
                }
                // Two threads wait, one of them from inside a job that waits on the counter.
                1 => {
                    let waited = system.counter();
                    type Capture = (Counter, Arc<AtomicUsize>, usize);
                    fn wait(c: &mut Capture, _: &mut jobs::Context<'_>) -> Action<Capture> {
                        Action::Wait(c.0.clone(), after)
                    }
                    fn after(c: &mut Capture, _: &mut jobs::Context<'_>) -> Action<Capture> {
                        assert!(
                            c.1.load(Ordering::Relaxed) > c.2,
                            "resumed before the round ended"
                        );
                        Action::Done
                    }
                    system.submit_counted(
                        &waited,
                        Job::new((counter.clone(), done.clone(), round), wait),
                    );
                    std::thread::scope(|s| {
                        s.spawn(|| system.wait(&counter).unwrap());
                        system.wait(&counter).unwrap();
                    });
                    system.wait(&waited).unwrap();
                }
                // Only this thread waits.
                _ => system.wait(&counter).unwrap(),
            }
            assert_eq!(done.load(Ordering::Relaxed), round + 1, "round {round}");
        }
    });
}

//! Shutdown: dropping the system runs every job already queued (and what those spawn, and
//! jobs resumed by blocking requests in flight), joins every worker and I/O thread, and cancels
//! the jobs still queued for the main thread. A job suspended on a counter that never reaches
//! zero is neither run nor dropped; if the counter reaches zero after the drop, it is cancelled.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{occupy_workers, poll_until, system, watchdog, DropCount, DropToken, Flag, Gate};
use jobs::{Action, Context, Counter, Job};

/// The kernel's id of the current thread (Linux), to check later that the thread is gone.
fn thread_id() -> Option<String> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    Some(link.file_name()?.to_string_lossy().into_owned())
}

fn thread_alive(tid: &str) -> bool {
    std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
}

#[test]
fn dropping_the_system_runs_every_queued_job_and_joins_every_thread() {
    watchdog(60, || {
        let ran = Arc::new(AtomicUsize::new(0));
        let threads = Arc::new(Mutex::new(HashSet::new()));
        let tids = Arc::new(Mutex::new(HashSet::new()));
        {
            let system = system(2);
            let gate = Gate::default();
            let blocked = occupy_workers(&system, &gate);
            // Queued behind the gate: none can have run before the drop starts.
            for _ in 0..10_000 {
                let (ran, threads, tids) = (ran.clone(), threads.clone(), tids.clone());
                system.submit(Job::from_fn(move |cx| {
                    ran.fetch_add(1, Ordering::Relaxed);
                    let name = std::thread::current().name().map(String::from);
                    threads.lock().unwrap().insert(name);
                    if let Some(tid) = thread_id() {
                        tids.lock().unwrap().insert(tid);
                    }
                    // Spawned work is run too.
                    let ran = ran.clone();
                    cx.spawn_job(Job::from_fn(move |_| {
                        ran.fetch_add(1, Ordering::Relaxed);
                    }));
                }));
            }
            // A blocking request: its I/O thread must be joined as well.
            system.submit(Job::new(tids.clone(), |_, _| {
                Action::Blocking(
                    |t| {
                        if let Some(tid) = thread_id() {
                            t.lock().unwrap().insert(tid);
                        }
                    },
                    |_, _| Action::Done,
                )
            }));
            assert_eq!(ran.load(Ordering::Relaxed), 0);
            gate.open();
            drop(blocked);
            // The drop returns only once everything queued has run.
        }
        assert_eq!(ran.load(Ordering::Relaxed), 20_000);
        let threads = threads.lock().unwrap().clone();
        assert!(
            threads
                .iter()
                .all(|n| n.as_deref().is_some_and(|n| n.starts_with("jobs-worker-"))),
            "only workers ran them (nobody waited): {threads:?}"
        );
        // Every thread that ran a job is gone (joined; the kernel may take a moment to reap).
        let tids = tids.lock().unwrap().clone();
        if std::path::Path::new("/proc/thread-self").exists() {
            assert!(tids.len() >= 2, "{tids:?}");
            assert!(
                poll_until(10, || tids.iter().all(|t| !thread_alive(t))),
                "threads still alive after the drop: {tids:?}"
            );
        }
    });
}

#[test]
fn an_idle_system_shuts_down_promptly_many_times() {
    watchdog(60, || {
        for i in 0..50 {
            let system = system(1 + i % 3);
            if i % 2 == 0 {
                system
                    .parallel_for(0..100, jobs::Grain::Auto, |_| {})
                    .unwrap();
            }
            drop(system);
        }
    });
}

#[test]
fn a_blocking_request_in_flight_at_drop_finishes_and_its_job_continues() {
    watchdog(30, || {
        let continued = Flag::default();
        let started = Flag::default();
        let release = Gate::default();
        {
            let system = system(1);
            struct B(Flag, Flag, Gate);
            system.submit(Job::new(
                B(started.clone(), continued.clone(), release.clone()),
                |_, _| {
                    Action::Blocking(
                        |b| {
                            b.0.set();
                            b.2.wait();
                        },
                        |_, _| {
                            // Even work spawned after the request runs before the drop ends.
                            Action::Spawn(
                                |_, s| s.spawn(|_| {}),
                                |b, _| {
                                    b.1.set();
                                    Action::Done
                                },
                            )
                        },
                    )
                },
            ));
            assert!(poll_until(30, || started.get()));
            let opener = {
                let release = release.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    release.open();
                })
            };
            drop(system);
            opener.join().unwrap();
        }
        assert!(release.is_open());
        assert!(
            continued.get(),
            "the job resumed after its request and finished"
        );
    });
}

#[test]
fn jobs_pinned_to_the_main_thread_left_at_drop_are_cancelled() {
    watchdog(30, || {
        let counter = Counter::new();
        let drops = DropCount::default();
        let ran = Flag::default();
        #[allow(dead_code)] // the DropToken is held only for its drop
        struct P(DropToken, Flag);
        {
            let system = system(1);
            for _ in 0..3 {
                system.submit_counted(
                    &counter,
                    Job::new(P(drops.token(), ran.clone()), |p, _| {
                        p.1.set();
                        Action::Done
                    })
                    .pinned_to_main(),
                );
            }
            assert_eq!(counter.value(), 3);
        }
        assert!(!ran.get(), "a cancelled job does not run");
        assert_eq!(drops.get(), 3, "its capture was dropped");
        assert!(counter.is_zero(), "it counts as finished");
        // The round ended with the cancellation, which waiting reports.
        let system = system(1);
        let err = system.wait(&counter).unwrap_err();
        assert_eq!(
            err.message(),
            "job cancelled: the job system shut down before it could run"
        );
    });
}

#[test]
fn a_job_suspended_on_a_counter_that_never_reaches_zero_does_not_stop_the_drop() {
    watchdog(30, || {
        // The counter is kept above zero by a job of another system, blocked on a gate.
        let other = system(1);
        let gate = Gate::default();
        let never = Counter::new();
        let g = gate.clone();
        other.submit_counted(&never, Job::from_fn(move |_| g.wait()));

        let waiter_done = Counter::new();
        let continued = Flag::default();
        let drops = DropCount::default();
        #[allow(dead_code)] // the DropToken is held only for its drop
        struct W(Counter, Flag, DropToken);
        {
            let system = system(2);
            system.submit_counted(
                &waiter_done,
                Job::new(
                    W(never.clone(), continued.clone(), drops.token()),
                    |w, _| {
                        Action::wait(&w.0.clone(), |w, _| {
                            w.1.set();
                            Action::Done
                        })
                    },
                ),
            );
            // Other queued work still runs before the drop returns.
            let ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..100 {
                let r = ran.clone();
                system.submit(Job::from_fn(move |_| {
                    r.fetch_add(1, Ordering::SeqCst);
                }));
            }
            drop(system);
            assert_eq!(ran.load(Ordering::SeqCst), 100);
        }
        assert!(!continued.get(), "never run");
        assert_eq!(
            drops.get(),
            0,
            "never dropped while the counter is above zero"
        );
        assert_eq!(waiter_done.value(), 1);
        // The counter reaches zero after the drop: the suspended job is cancelled then.
        gate.open();
        other.wait(&never).unwrap();
        assert!(poll_until(30, || waiter_done.is_zero()));
        assert!(!continued.get(), "cancelled, not run");
        assert_eq!(drops.get(), 1);
        let err = other.wait(&waiter_done).unwrap_err();
        assert!(err.message().contains("cancelled"), "{}", err.message());
    });
}

#[test]
fn a_job_waiting_on_a_pinned_job_cancelled_at_drop_is_cancelled_too() {
    watchdog(30, || {
        let inputs = Counter::new();
        let done = Counter::new();
        let continued = Flag::default();
        struct W(Counter, Flag);
        {
            let system = system(2);
            system.submit_counted(&inputs, Job::from_fn(|_| {}).pinned_to_main());
            system.submit_counted(
                &done,
                Job::new(W(inputs.clone(), continued.clone()), |w, _| {
                    Action::wait(&w.0.clone(), |w, _| {
                        w.1.set();
                        Action::Done
                    })
                }),
            );
        }
        assert!(inputs.is_zero());
        assert!(done.is_zero(), "cancelled in turn");
        assert!(!continued.get());
        let system = system(1);
        assert!(system
            .wait(&done)
            .unwrap_err()
            .message()
            .contains("cancelled"));
    });
}

#[test]
fn queued_jobs_that_wait_yield_and_spawn_all_finish_at_drop() {
    watchdog(30, || {
        let finished = Arc::new(AtomicUsize::new(0));
        {
            let system = system(2);
            let gate = Gate::default();
            let blocked = occupy_workers(&system, &gate);
            let inputs = Counter::new();
            struct J(Counter, u32, Arc<AtomicUsize>, u32);
            fn step(j: &mut J, _: &mut Context<'_>) -> Action<J> {
                match j.1 {
                    0 => {
                        assert_eq!(j.3, 2, "both children ran");
                        j.2.fetch_add(1, Ordering::SeqCst);
                        Action::Done
                    }
                    n if n % 3 == 0 => {
                        j.1 -= 1;
                        Action::wait(&j.0.clone(), step)
                    }
                    n if n % 3 == 1 => {
                        j.1 -= 1;
                        Action::Yield(step)
                    }
                    _ => {
                        j.1 -= 1;
                        Action::Spawn(
                            |j, s| {
                                let children = &mut j.3;
                                s.spawn(move |_| *children += 1);
                            },
                            step,
                        )
                    }
                }
            }
            for i in 0..200 {
                let job = Job::new(J(inputs.clone(), 6, finished.clone(), 0), step);
                if i % 2 == 0 {
                    system.submit_counted(&inputs, Job::from_fn(|_| {}));
                }
                system.submit(job);
            }
            gate.open();
            drop(blocked);
        }
        assert_eq!(finished.load(Ordering::SeqCst), 200);
    });
}

/// Dropping the last handle to the system on one of its own workers makes the worker join the
/// other workers, which wait for every worker to go idle, including the one that is joining:
/// `JobSystem::drop` deadlocks (with one worker it would join itself).
#[test]
fn dropping_the_last_handle_inside_a_job_does_not_deadlock() {
    watchdog(10, || {
        let system = Arc::new(system(2));
        let dropped = Flag::default();
        let gate = Gate::default();
        let (s, d, g) = (system.clone(), dropped.clone(), gate.clone());
        system.submit(Job::from_fn(move |_| {
            g.wait();
            drop(s); // the last handle: the system shuts down here
            d.set();
        }));
        drop(system);
        gate.open();
        assert!(
            poll_until(8, || dropped.get()),
            "the drop inside the job hung"
        );
    });
}

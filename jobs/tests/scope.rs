//! `JobSystem::scope`: jobs that borrow the caller's stack; the scope returns only once every
//! job spawned in it (also by its jobs) has finished; panics are re-raised after that.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{run_tree, system, watchdog, Gate};
use jobs::{Action, Context, Job};

#[test]
fn scoped_jobs_borrow_the_stack_mutably() {
    watchdog(30, || {
        let system = system(2);
        let mut slots = [0u32; 64];
        let shared = AtomicUsize::new(0);
        system.scope(|s| {
            for (i, slot) in slots.iter_mut().enumerate() {
                let shared = &shared;
                s.spawn(move |_| {
                    *slot = i as u32 * 2;
                    shared.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        assert!(slots.iter().enumerate().all(|(i, &v)| v == i as u32 * 2));
        assert_eq!(shared.into_inner(), 64);
    });
}

#[test]
fn the_scope_returns_only_when_every_job_has_finished() {
    watchdog(30, || {
        let system = system(2);
        let gate = Gate::default();
        let finished = AtomicUsize::new(0);
        let opener = std::thread::spawn({
            let gate = gate.clone();
            move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                gate.open();
            }
        });
        system.scope(|s| {
            for _ in 0..4 {
                let (gate, finished) = (&gate, &finished);
                s.spawn(move |_| {
                    gate.wait();
                    finished.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        assert!(gate.is_open());
        assert_eq!(finished.load(Ordering::SeqCst), 4);
        opener.join().unwrap();
    });
}

#[test]
fn the_scope_returns_the_closures_value() {
    watchdog(30, || {
        let system = system(1);
        let mut x = 0;
        let value = system.scope(|s| {
            s.spawn(|_| x = 5);
            "done"
        });
        assert_eq!((value, x), ("done", 5));
        assert_eq!(system.scope(|_| 42), 42);
    });
}

#[test]
fn scoped_jobs_can_spawn_more_scoped_jobs() {
    watchdog(30, || {
        let system = system(2);
        let total = AtomicUsize::new(0);
        let leaves = Mutex::new(Vec::new());
        system.scope(|s| {
            for a in 0..4 {
                let (total, leaves) = (&total, &leaves);
                s.spawn(move |_| {
                    total.fetch_add(1, Ordering::SeqCst);
                    for b in 0..4 {
                        s.spawn(move |_| {
                            total.fetch_add(1, Ordering::SeqCst);
                            for c in 0..4 {
                                s.spawn(move |_| {
                                    total.fetch_add(1, Ordering::SeqCst);
                                    leaves.lock().unwrap().push((a, b, c));
                                });
                            }
                        });
                    }
                });
            }
        });
        assert_eq!(total.into_inner(), 4 + 16 + 64);
        let mut leaves = leaves.into_inner().unwrap();
        leaves.sort();
        leaves.dedup();
        assert_eq!(leaves.len(), 64);
    });
}

#[test]
fn scoped_jobs_may_have_steps_and_children_borrowing_the_stack() {
    watchdog(30, || {
        let system = system(2);
        assert_eq!(run_tree(&system, 8), 256);
        let mut out = vec![0u64; 100];
        struct S<'a> {
            out: &'a mut [u64],
        }
        fn step<'a>(_: &mut S<'a>, _: &mut Context<'_>) -> Action<S<'a>> {
            Action::Spawn(
                |s, spawner| {
                    for (i, v) in s.out.iter_mut().enumerate() {
                        spawner.spawn(move |_| *v = i as u64);
                    }
                },
                |s, _| {
                    s.out.iter_mut().for_each(|v| *v += 1);
                    Action::Yield(|_, _| Action::Done)
                },
            )
        }
        system.scope(|s| s.spawn_job(Job::new(S { out: &mut out }, step)));
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u64 + 1));
    });
}

#[test]
fn a_panic_in_a_scoped_job_is_re_raised_after_every_job_finished() {
    watchdog(30, || {
        let system = system(2);
        let finished = Arc::new(AtomicUsize::new(0));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            system.scope(|s| {
                s.spawn(|_| panic!("scoped job failed"));
                for _ in 0..20 {
                    let f = finished.clone();
                    s.spawn(move |_| {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        f.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
        }));
        let payload = caught.expect_err("the scope re-raises");
        assert_eq!(
            payload.downcast_ref::<&str>().copied(),
            Some("scoped job failed"),
            "the original payload"
        );
        assert_eq!(finished.load(Ordering::SeqCst), 20, "the others ran first");
        // The system is fine afterwards.
        let mut x = 0;
        system.scope(|s| s.spawn(|_| x = 1));
        assert_eq!(x, 1);
    });
}

#[test]
fn a_panic_in_the_scope_closure_waits_for_its_jobs_first() {
    watchdog(30, || {
        let system = system(2);
        let finished = AtomicUsize::new(0);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            system.scope(|s| {
                for _ in 0..10 {
                    let f = &finished;
                    s.spawn(move |_| {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        f.fetch_add(1, Ordering::SeqCst);
                    });
                }
                panic!("closure failed");
            })
        }));
        let payload = caught.expect_err("the scope re-raises");
        assert_eq!(
            payload.downcast_ref::<&str>().copied(),
            Some("closure failed")
        );
        // The borrowed counter is still in scope: every job used it before the panic left.
        assert_eq!(finished.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn a_scope_inside_a_job_works_on_a_worker() {
    watchdog(30, || {
        let system = Arc::new(system(1));
        let counter = jobs::Counter::new();
        let out = Arc::new(AtomicUsize::new(0));
        let (sys, o) = (system.clone(), out.clone());
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| {
                let mut parts = [0usize; 8];
                sys.scope(|s| {
                    for (i, p) in parts.iter_mut().enumerate() {
                        s.spawn(move |_| *p = i);
                    }
                });
                o.store(parts.iter().sum(), Ordering::SeqCst);
            }),
        );
        common::poll_zero(&counter, 30);
        system.wait(&counter).unwrap();
        assert_eq!(out.load(Ordering::SeqCst), 28);
    });
}

#[test]
fn a_scopes_batches_run_every_item_before_it_ends_and_their_panics_are_raised_there() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let system = jobs::JobSystem::new(jobs::Config::default().workers(2).core_affinity(false))
        .expect("valid config");
    let hits = AtomicUsize::new(0);
    let mut items = vec![0u64; 10_000];
    system.scope(|s| {
        s.parallel_for(
            0..1000,
            jobs::Batch::new().priority(jobs::Priority::High),
            |_| {
                hits.fetch_add(1, Ordering::Relaxed);
            },
        );
        s.parallel_for_chunks(0..0, jobs::Grain::Auto, |_| unreachable!());
        s.for_each_mut(&mut items, jobs::Grain::fixed(7).unwrap(), |i, v| {
            *v = i as u64
        });
    });
    assert_eq!(hits.into_inner(), 1000);
    assert!(items.iter().enumerate().all(|(i, &v)| v == i as u64));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        system.scope(|s| s.parallel_for(0..100, jobs::Grain::Auto, |i| assert!(i != 50)));
    }));
    assert!(caught.is_err(), "the item's panic is raised by the scope");
}

//! Panics: a panicking job is dropped and counted as finished, its worker goes on, and the
//! panic reaches whoever waits for it: the counter's waiters, the parent (which is cancelled),
//! jobs waiting on the counter (cancelled too), `parallel_for`'s caller, `scope`'s caller; or,
//! when nothing waits, the statistics.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{poll_until, poll_zero, system, watchdog, DropCount, DropToken, Flag, Gate};
use jobs::{Action, Context, Counter, Grain, Job};

#[test]
fn a_panicking_job_reaches_its_waiter_with_the_message() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        // The other job holds the round open until the panicking one has been submitted too,
        // so that both are in one round, which every wait reports. (Submitted the other way
        // round, the panicking job could end a round of its own first; a later wait for the
        // next round then reports it once, as the counter's docs say, and a second wait not.)
        let gate = Gate::default();
        let g = gate.clone();
        system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
        system.submit_counted(
            &counter,
            Job::from_fn(|_| panic!("bad particle {}", std::hint::black_box(7))),
        );
        gate.open();
        let err = system.wait(&counter).unwrap_err();
        assert_eq!(err.message(), "bad particle 7");
        assert_eq!(err.to_string(), "a job panicked: bad particle 7");
        assert!(format!("{err:?}").contains("bad particle 7"));
        // A formatted message: the payload is a String.
        let payload = err
            .into_payload()
            .expect("the first waiter gets the payload");
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("bad particle 7")
        );
        // A second waiter gets the message only.
        let again = system.wait(&counter).unwrap_err();
        assert_eq!(again.message(), "bad particle 7");
        assert!(again.into_payload().is_none());
    });
}

#[test]
fn a_panic_with_a_payload_that_is_not_a_string_is_reported_too() {
    watchdog(30, || {
        let system = system(1);
        let counter = Counter::new();
        system.submit_counted(&counter, Job::from_fn(|_| std::panic::panic_any(42u32)));
        let err = system.wait(&counter).unwrap_err();
        assert_eq!(err.message(), "Box<dyn Any>");
        assert_eq!(err.into_payload().unwrap().downcast_ref::<u32>(), Some(&42));
    });
}

#[test]
fn a_panicking_job_does_not_kill_its_worker() {
    watchdog(30, || {
        let system = system(1);
        for round in 0..20 {
            let counter = Counter::new();
            system.submit_counted(&counter, Job::from_fn(move |_| panic!("round {round}")));
            // Poll: the only worker must run it (and survive it).
            poll_zero(&counter, 30);
            assert_eq!(
                system.wait(&counter).unwrap_err().message(),
                format!("round {round}")
            );
        }
        // The one worker still runs jobs: not this thread, which only polls.
        let counter = Counter::new();
        let on_worker = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let o = on_worker.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |cx| {
                    if cx.worker_index() == Some(0) {
                        o.fetch_add(1, Ordering::SeqCst);
                    }
                }),
            );
        }
        poll_zero(&counter, 30);
        assert_eq!(on_worker.load(Ordering::SeqCst), 100);
    });
}

#[test]
fn a_panicking_job_drops_its_capture() {
    watchdog(30, || {
        let system = system(2);
        let drops = DropCount::default();
        let counter = Counter::new();
        #[allow(dead_code)] // the DropToken is held only for its drop
        struct C(DropToken);
        system.submit_counted(
            &counter,
            Job::new(C(drops.token()), |_, _| panic!("step failed")),
        );
        system.submit_counted(
            &counter,
            Job::new(C(drops.token()), |_, _| {
                Action::Yield(|_, _| Action::Spawn(|_, _| {}, |_, _| panic!("later step")))
            }),
        );
        assert!(system.wait(&counter).is_err());
        assert_eq!(drops.get(), 2);
    });
}

#[test]
fn a_panicking_child_cancels_its_parent_and_reaches_the_parents_counter() {
    watchdog(30, || {
        let system = system(2);
        let continued = Flag::default();
        let siblings = Arc::new(AtomicUsize::new(0));
        let drops = DropCount::default();
        #[allow(dead_code)] // the DropToken is held only for its drop
        struct P(Flag, Arc<AtomicUsize>, DropToken);
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(
                P(continued.clone(), siblings.clone(), drops.token()),
                |_, _| {
                    Action::Spawn(
                        |p, s| {
                            for i in 0..10 {
                                let siblings = &p.1;
                                s.spawn(move |_| {
                                    assert!(i != 5, "child {i} failed");
                                    siblings.fetch_add(1, Ordering::SeqCst);
                                });
                            }
                        },
                        |p, _| {
                            p.0.set();
                            Action::Done
                        },
                    )
                },
            ),
        );
        let err = system.wait(&counter).unwrap_err();
        assert_eq!(err.message(), "child 5 failed");
        assert!(!continued.get(), "the parent must not continue");
        assert_eq!(siblings.load(Ordering::SeqCst), 9, "the other children ran");
        assert_eq!(drops.get(), 1, "the parent's capture was dropped");
    });
}

#[test]
fn a_panic_deep_in_a_spawn_tree_cancels_every_ancestor() {
    watchdog(30, || {
        let system = system(2);
        let continuations = Arc::new(AtomicUsize::new(0));
        struct N(u32, Arc<AtomicUsize>);
        fn level(n: &mut N, _: &mut Context<'_>) -> Action<N> {
            if n.0 == 0 {
                panic!("leaf failed");
            }
            Action::Spawn(
                |n, s| s.spawn_job(Job::new(N(n.0 - 1, n.1.clone()), level)),
                |n, _| {
                    n.1.fetch_add(1, Ordering::SeqCst);
                    Action::Done
                },
            )
        }
        let counter = Counter::new();
        system.submit_counted(&counter, Job::new(N(6, continuations.clone()), level));
        assert_eq!(system.wait(&counter).unwrap_err().message(), "leaf failed");
        assert_eq!(continuations.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn a_panic_in_the_spawn_function_cancels_the_job_after_its_children() {
    watchdog(30, || {
        let system = system(2);
        let children = Arc::new(AtomicUsize::new(0));
        let continued = Flag::default();
        struct P {
            data: Vec<u32>,
            children: Arc<AtomicUsize>,
            continued: Flag,
        }
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(
                P {
                    data: vec![1; 8],
                    children: children.clone(),
                    continued: continued.clone(),
                },
                |_, _| {
                    Action::Spawn(
                        |p, s| {
                            let c = &p.children;
                            for v in p.data.iter_mut() {
                                s.spawn(move |_| {
                                    std::thread::sleep(std::time::Duration::from_millis(1));
                                    *v += 1;
                                    c.fetch_add(1, Ordering::SeqCst);
                                });
                            }
                            panic!("spawning failed");
                        },
                        |p, _| {
                            p.continued.set();
                            Action::Done
                        },
                    )
                },
            ),
        );
        assert_eq!(
            system.wait(&counter).unwrap_err().message(),
            "spawning failed"
        );
        // The capture they borrowed was kept until all of them had finished.
        assert_eq!(children.load(Ordering::SeqCst), 8);
        assert!(!continued.get());
    });
}

#[test]
fn a_job_waiting_on_a_counter_whose_job_panicked_is_cancelled_with_it() {
    watchdog(30, || {
        let system = system(2);
        let inputs = Counter::new();
        let gate = common::Gate::default();
        let g = gate.clone();
        system.submit_counted(
            &inputs,
            Job::from_fn(move |_| {
                g.wait();
                panic!("input failed")
            }),
        );
        let continued = Flag::default();
        let drops = DropCount::default();
        #[allow(dead_code)] // the DropToken is held only for its drop
        struct W(Counter, Flag, DropToken);
        let done = Counter::new();
        system.submit_counted(
            &done,
            Job::new(
                W(inputs.clone(), continued.clone(), drops.token()),
                |w, _| {
                    Action::wait(&w.0, |w, _| {
                        w.1.set();
                        Action::Done
                    })
                },
            ),
        );
        gate.open();
        let err = system.wait(&done).unwrap_err();
        assert_eq!(err.message(), "input failed");
        assert!(!continued.get());
        assert_eq!(drops.get(), 1);
        assert_eq!(system.wait(&inputs).unwrap_err().message(), "input failed");
        // A job that waits on the counter later, while its panicked round is still the last
        // one, is cancelled at once.
        let late = Counter::new();
        system.submit_counted(
            &late,
            Job::new(
                W(inputs.clone(), continued.clone(), drops.token()),
                |w, _| {
                    Action::wait(&w.0, |w, _| {
                        w.1.set();
                        Action::Done
                    })
                },
            ),
        );
        assert_eq!(system.wait(&late).unwrap_err().message(), "input failed");
        assert!(!continued.get());
    });
}

#[test]
fn panics_in_parallel_for_come_back_as_errors() {
    watchdog(30, || {
        let system = system(2);
        let err = system
            .parallel_for(0..1000, Grain::Auto, |i| assert!(i != 500, "item {i}"))
            .unwrap_err();
        assert_eq!(err.message(), "item 500");
        let err = system
            .parallel_for_chunks(0..1000, Grain::fixed(10).unwrap(), |c| {
                assert!(!c.contains(&123), "chunk {c:?}")
            })
            .unwrap_err();
        assert_eq!(err.message(), "chunk 120..130");
        let mut items = vec![0; 100];
        let err = system
            .for_each_mut(&mut items, Grain::Auto, |i, _| assert!(i != 99, "last"))
            .unwrap_err();
        assert_eq!(err.message(), "last");
        let counter = Counter::new();
        system.submit_for(
            &counter,
            0..100,
            jobs::Batch::from(Grain::Auto).priority(jobs::Priority::High),
            |i| assert!(i != 0, "first"),
        );
        assert_eq!(system.wait(&counter).unwrap_err().message(), "first");
        // And afterwards, everything works.
        system.parallel_for(0..1000, Grain::Auto, |_| {}).unwrap();
    });
}

#[test]
fn a_panicking_item_of_parallel_for_does_not_stop_the_items_of_other_chunks() {
    watchdog(30, || {
        let system = system(2);
        let ran = AtomicUsize::new(0);
        let result = system.parallel_for(0..1000, Grain::fixed(1).unwrap(), |i| {
            assert!(i % 100 != 0, "item {i}");
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert!(result.is_err());
        assert_eq!(ran.into_inner(), 990);
    });
}

/// `parallel_for`'s docs: "A panic in `body` is returned as an error once every other item has
/// run." With a grain above one, the items after the panicking one in its chunk are skipped
/// (counted as finished without running: `batch::run_items`).
#[test]
fn a_panicking_item_of_parallel_for_does_not_stop_the_other_items() {
    watchdog(30, || {
        let system = system(2);
        let ran = AtomicUsize::new(0);
        let result = system.parallel_for(0..100, Grain::fixed(10).unwrap(), |i| {
            assert!(i != 5, "item 5");
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(result.unwrap_err().message(), "item 5");
        assert_eq!(ran.into_inner(), 99, "every other item must run");
    });
}

#[test]
fn a_panic_in_a_blocking_step_reaches_the_counter_and_skips_the_continuation() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        let continued = Flag::default();
        let drops = DropCount::default();
        #[allow(dead_code)] // the DropToken is held only for its drop
        struct B(Flag, DropToken);
        system.submit_counted(
            &counter,
            Job::new(B(continued.clone(), drops.token()), |_, _| {
                Action::Blocking(
                    |_| panic!("disk on fire"),
                    |b, _| {
                        b.0.set();
                        Action::Done
                    },
                )
            }),
        );
        assert_eq!(system.wait(&counter).unwrap_err().message(), "disk on fire");
        assert!(!continued.get());
        assert_eq!(drops.get(), 1);
        // The I/O thread survived.
        let counter = Counter::new();
        let read = Arc::new(Mutex::new(None));
        system.submit_counted(
            &counter,
            Job::new(read.clone(), |_, _| {
                Action::Blocking(
                    |r| *r.lock().unwrap() = std::thread::current().name().map(String::from),
                    |_, _| Action::Done,
                )
            }),
        );
        system.wait(&counter).unwrap();
        assert_eq!(read.lock().unwrap().as_deref(), Some("jobs-io-0"));
    });
}

#[test]
fn a_panic_in_a_captures_drop_is_reported() {
    watchdog(30, || {
        let system = system(2);
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("drop failed");
            }
        }
        let counter = Counter::new();
        system.submit_counted(&counter, Job::new(Bomb, |_, _| Action::Done));
        assert_eq!(system.wait(&counter).unwrap_err().message(), "drop failed");
        // The step's panic wins over the drop's.
        system.submit_counted(&counter, Job::new(Bomb, |_, _| panic!("step failed")));
        assert_eq!(system.wait(&counter).unwrap_err().message(), "step failed");
        // As a child: the parent is cancelled.
        struct P;
        system.submit_counted(
            &counter,
            Job::new(P, |_, _| {
                Action::Spawn(
                    |_, s| s.spawn_job(Job::new(Bomb, |_, _| Action::Done)),
                    |_, _| panic!("the parent must not continue"),
                )
            }),
        );
        assert_eq!(system.wait(&counter).unwrap_err().message(), "drop failed");
        system.parallel_for(0..100, Grain::Auto, |_| {}).unwrap();
    });
}

#[test]
fn unobserved_panics_are_counted_in_the_statistics() {
    watchdog(30, || {
        let system = system(2);
        assert_eq!(system.stats().unobserved_panics, 0);
        for _ in 0..5 {
            system.submit(Job::from_fn(|_| panic!("nobody waits for me")));
        }
        let counter = Counter::new();
        // Detached spawns from a job are unobserved too.
        system.submit_counted(
            &counter,
            Job::from_fn(|cx| {
                for _ in 0..3 {
                    cx.spawn_job(Job::from_fn(|_| panic!("detached")));
                }
            }),
        );
        system.wait(&counter).unwrap();
        assert!(poll_until(30, || system.stats().unobserved_panics == 8));
        // Observed panics are not counted there.
        system.submit_counted(&counter, Job::from_fn(|_| panic!("observed")));
        assert!(system.wait(&counter).is_err());
        assert_eq!(system.stats().unobserved_panics, 8);
    });
}

#[test]
fn a_job_after_a_counter_whose_job_panicked_continues_and_the_panic_stays_with_the_counter() {
    watchdog(30, || {
        let system = system(2);
        let inputs = Counter::new();
        let gate = common::Gate::default();
        let g = gate.clone();
        system.submit_counted(
            &inputs,
            Job::from_fn(move |_| {
                g.wait();
                panic!("input failed")
            }),
        );
        struct A(Counter, Flag);
        fn after(a: &mut A, _: &mut Context<'_>) -> Action<A> {
            Action::wait_settled(&a.0, |a, _| {
                a.1.set();
                Action::Done
            })
        }
        // One job suspends before the panic, one arrives after it.
        let early = Flag::default();
        let done = Counter::new();
        system.submit_counted(&done, Job::new(A(inputs.clone(), early.clone()), after));
        gate.open();
        assert_eq!(system.wait(&inputs).unwrap_err().message(), "input failed");
        let late = Flag::default();
        system.submit_counted(&done, Job::new(A(inputs.clone(), late.clone()), after));
        system.wait(&done).unwrap();
        assert!(early.get() && late.get());
        assert_eq!(system.wait(&inputs).unwrap_err().message(), "input failed");
    });
}

//! `Context::join`: fork-join on the caller's stack. Results and borrows, a half taken by
//! another thread (the joining thread waits for it, helps meanwhile, sleeps and is woken),
//! panics of either half, the limits of the thread it runs on, and deep nesting.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{poll_zero, system, watchdog, Flag, Gate};
use jobs::{Context, Job, JobSystem};

fn tree(cx: &mut Context<'_>, depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let (l, r) = cx.join(|cx| tree(cx, depth - 1), |cx| tree(cx, depth - 1));
    l + r
}

/// Spins until `done`, for at most 10 s (the caller then fails): a half waiting for the other
/// to start on another thread.
fn spin_until(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::hint::spin_loop();
    }
    true
}

/// `cx.join(a, b)` with `b` run by another thread for certain: `a` starts once `b` has started
/// elsewhere (it waits at most 10 s, then fails).
fn join_elsewhere<RA, RB: Send>(
    cx: &mut Context<'_>,
    a: impl FnOnce() -> RA,
    b: impl FnOnce(&mut Context<'_>) -> RB + Send,
) -> (RA, RB) {
    let started = AtomicBool::new(false);
    cx.join(
        |_| {
            assert!(
                spin_until(|| started.load(Ordering::SeqCst)),
                "b taken elsewhere"
            );
            a()
        },
        |cx| {
            started.store(true, Ordering::SeqCst);
            b(cx)
        },
    )
}

#[test]
fn join_sums_every_leaf_in_every_round() {
    watchdog(120, || {
        let system = system(2);
        for round in 0..200 {
            let mut total = 0;
            system.scope(|s| s.spawn(|cx| total = tree(cx, 12)));
            assert_eq!(total, 1 << 12, "round {round}");
        }
    });
}

/// Both halves borrow the caller's stack mutably (disjoint halves of one slice): a parallel
/// quicksort sorts.
#[test]
fn halves_write_disjoint_parts_of_the_callers_slice() {
    fn sort(cx: &mut Context<'_>, v: &mut [u32]) {
        if v.len() <= 32 {
            v.sort_unstable();
            return;
        }
        let pivot = v[v.len() / 2];
        let mut lo = 0;
        for i in 0..v.len() {
            if v[i] < pivot {
                v.swap(i, lo);
                lo += 1;
            }
        }
        let mut mid = lo;
        for i in lo..v.len() {
            if v[i] == pivot {
                v.swap(i, mid);
                mid += 1;
            }
        }
        let (left, rest) = v.split_at_mut(lo);
        let right = &mut rest[mid - lo..];
        cx.join(|cx| sort(cx, left), |cx| sort(cx, right));
    }
    watchdog(60, || {
        let system = system(2);
        let mut seed = 12345u32;
        let mut v: Vec<u32> = (0..100_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed % 1000
            })
            .collect();
        let mut expected = v.clone();
        expected.sort_unstable();
        system.scope(|s| s.spawn(|cx| sort(cx, &mut v)));
        assert_eq!(v, expected);
    });
}

/// `a` holds on until another worker has taken `b`; `b` then takes its time, so the joining
/// worker finds nothing to do and sleeps: it is woken when `b` ends, and `join` returns `b`'s
/// result, written on the other thread into the joining frame.
#[test]
fn a_half_taken_by_another_worker_is_waited_for() {
    watchdog(60, || {
        let system = system(2);
        for round in 0..20 {
            let mut threads = (None, None);
            system.scope(|s| {
                s.spawn(|cx| {
                    let (ta, tb) = join_elsewhere(
                        cx,
                        || thread::current().id(),
                        |_| {
                            // Longer than the joining worker spins before it sleeps.
                            thread::sleep(Duration::from_millis(if round % 2 == 0 {
                                20
                            } else {
                                0
                            }));
                            thread::current().id()
                        },
                    );
                    threads = (Some(ta), Some(tb));
                })
            });
            let (ta, tb) = threads;
            assert!(ta.is_some() && tb.is_some());
            assert_ne!(ta, tb, "round {round}: the halves ran on two threads");
        }
    });
}

/// While its half runs elsewhere, the joining worker runs other jobs: here the only thread that
/// can run the jobs the half waits for (the half blocks the other worker, and the test thread
/// does not help).
#[test]
fn the_joining_worker_helps_while_it_waits() {
    watchdog(60, || {
        let system = system(2);
        let done = system.counter();
        let ran_by_joiner = Arc::new(AtomicUsize::new(0));
        let r = ran_by_joiner.clone();
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let joiner = thread::current().id();
                join_elsewhere(
                    cx,
                    || (),
                    |cx| {
                        // Four jobs on this worker's deque; this worker then blocks until
                        // they have run: only the joining worker can run them.
                        let gate = Gate::default();
                        let left = Arc::new(AtomicUsize::new(4));
                        for _ in 0..4 {
                            let (gate, left, r) = (gate.clone(), left.clone(), r.clone());
                            cx.spawn(move |_| {
                                if thread::current().id() == joiner {
                                    r.fetch_add(1, Ordering::SeqCst);
                                }
                                if left.fetch_sub(1, Ordering::SeqCst) == 1 {
                                    gate.open();
                                }
                            });
                        }
                        gate.wait();
                    },
                );
            }),
        );
        poll_zero(&done, 30);
        assert_eq!(ran_by_joiner.load(Ordering::SeqCst), 4);
    });
}

fn panic_message(result: Result<(), jobs::JobPanic>) -> String {
    result.expect_err("the job panicked").message().to_owned()
}

#[test]
fn a_panic_in_either_half_goes_on_from_join() {
    watchdog(60, || {
        let system = system(2);
        let after = Flag::default();
        let done = system.counter();
        let a = after.clone();
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                cx.join(|_| panic!("in a"), |_| ());
                a.set();
            }),
        );
        assert_eq!(panic_message(system.wait(&done)), "in a");
        assert!(!after.get(), "join did not return");

        system.submit_counted(
            &done,
            Job::from_fn(|cx| {
                cx.join(|_| (), |_| panic!("in b"));
            }),
        );
        assert_eq!(panic_message(system.wait(&done)), "in b");

        // Both panic, `b` on another thread for certain: `a`'s panic goes on, `b`'s is counted
        // as unobserved.
        let unobserved = system.stats().unobserved_panics;
        system.submit_counted(
            &done,
            Job::from_fn(|cx| {
                join_elsewhere(cx, || panic!("first"), |_| panic!("second"));
            }),
        );
        assert_eq!(panic_message(system.wait(&done)), "first");
        assert_eq!(system.stats().unobserved_panics, unobserved + 1);

        // The workers survived: the system still runs joins.
        let mut total = 0;
        system.scope(|s| s.spawn(|cx| total = tree(cx, 8)));
        assert_eq!(total, 256);
    });
}

/// With one worker and a test thread that does not help, nobody can take `b`: when `a`
/// panics, `b` is dropped without running.
#[test]
fn b_does_not_run_after_a_panicked_if_nobody_took_it() {
    watchdog(30, || {
        let system = system(1);
        let ran = Flag::default();
        let dropped = Flag::default();
        struct SetOnDrop(Flag);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.set();
            }
        }
        let done = system.counter();
        let (r, d) = (ran.clone(), dropped.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let guard = SetOnDrop(d);
                cx.join(
                    |_| panic!("a"),
                    move |_| {
                        let _guard = guard;
                        r.set();
                    },
                );
            }),
        );
        poll_zero(&done, 20);
        assert!(!ran.get(), "b ran after a panicked");
        assert!(dropped.get(), "b's capture was dropped");
        assert_eq!(panic_message(system.wait(&done)), "a");
    });
}

/// `a` panics while another worker runs `b`, and `b`'s result panics when dropped: `a`'s panic
/// goes on, `b`'s drop panic is counted, and nothing is lost or doubled.
#[test]
fn a_panicking_result_drop_after_a_panicked_is_counted() {
    watchdog(30, || {
        let system = system(2);
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("bomb");
            }
        }
        let unobserved = system.stats().unobserved_panics;
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::from_fn(|cx| {
                let _ = join_elsewhere(cx, || panic!("a first"), |_| Bomb);
            }),
        );
        assert_eq!(panic_message(system.wait(&done)), "a first");
        assert_eq!(system.stats().unobserved_panics, unobserved + 1);
    });
}

/// A job pinned to the main thread that joins inside `run_pinned` (which runs only pinned jobs)
/// runs both halves there.
#[test]
fn a_join_in_a_pinned_job_runs_both_halves_on_its_thread() {
    watchdog(30, || {
        let system = system(2);
        let done = system.counter();
        let on_main = Arc::new(Mutex::new(Vec::new()));
        let m = on_main.clone();
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let (a, b) = cx.join(|cx| cx.on_main_thread(), |cx| cx.on_main_thread());
                m.lock().unwrap().extend([a, b]);
            })
            .pinned_to_main(),
        );
        assert_eq!(system.run_pinned(), Ok(1));
        assert!(done.is_zero());
        assert_eq!(*on_main.lock().unwrap(), vec![true, true]);
    });
}

/// A chain of joins nested 5,000 deep on a worker (the left half recurses): no limit of the
/// executor stands in the way; the stack is the worker's, as for a plain recursion, and
/// `worker_stack_size` makes room for it (5,000 levels overflow the default 2 MiB in a debug
/// build).
#[test]
fn joins_nest_thousands_deep() {
    fn chain(cx: &mut Context<'_>, depth: u32) -> u32 {
        if depth == 0 {
            return 0;
        }
        let (deeper, one) = cx.join(|cx| chain(cx, depth - 1), |_| 1);
        deeper + one
    }
    watchdog(60, || {
        let config = jobs::Config::default()
            .workers(2)
            .core_affinity(false)
            .help_while_waiting(false)
            .worker_stack_size(64 << 20);
        let system = JobSystem::new(config).expect("valid config");
        let done = system.counter();
        system.submit_counted(&done, Job::from_fn(|cx| assert_eq!(chain(cx, 5000), 5000)));
        system.wait(&done).expect("no overflow");
    });
}

/// The half on another thread waits on the counter the joining job is counted on: that can
/// never end (the job waits for the half), and the wait says so instead of hanging.
#[test]
fn a_half_waiting_on_its_joining_jobs_counter_is_a_reported_deadlock() {
    watchdog(60, || {
        let system = Arc::new(system(2));
        let counter = system.counter();
        let got = Arc::new(Mutex::new(None));
        let (sys, c, g) = (system.clone(), counter.clone(), got.clone());
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                join_elsewhere(
                    cx,
                    || (),
                    |_| {
                        let r = sys
                            .wait_timeout(&c, Duration::from_secs(20))
                            .map_err(|e| e.message().to_owned());
                        *g.lock().unwrap() = Some(r);
                    },
                );
            }),
        );
        poll_zero(&counter, 30);
        let got = got.lock().unwrap().clone().expect("b ran");
        assert!(
            matches!(&got, Err(m) if m.contains("deadlock")),
            "the half's wait returned {got:?}"
        );
    });
}

/// Joins from many jobs at once, with the main thread helping: every result is right and every
/// half ran once.
#[test]
fn many_jobs_join_at_once() {
    watchdog(120, || {
        let system = system(2);
        let halves = AtomicUsize::new(0);
        for _ in 0..20 {
            let mut totals = [0u64; 16];
            system.scope(|s| {
                for total in &mut totals {
                    let halves = &halves;
                    s.spawn(move |cx| {
                        fn counted(cx: &mut Context<'_>, depth: u32, halves: &AtomicUsize) -> u64 {
                            halves.fetch_add(1, Ordering::Relaxed);
                            if depth == 0 {
                                return 1;
                            }
                            let (l, r) = cx.join(
                                |cx| counted(cx, depth - 1, halves),
                                |cx| counted(cx, depth - 1, halves),
                            );
                            l + r
                        }
                        *total = counted(cx, 8, halves);
                    });
                }
            });
            assert!(totals.iter().all(|&t| t == 256), "{totals:?}");
        }
        assert_eq!(halves.load(Ordering::Relaxed), 20 * 16 * 511);
    });
}

/// Dropping the system while no join runs leaves nothing behind; and a system made and dropped
/// in a loop, each time joining, never hangs.
#[test]
fn systems_that_join_shut_down() {
    watchdog(60, || {
        for _ in 0..20 {
            let system: JobSystem = system(2);
            let mut total = 0;
            system.scope(|s| s.spawn(|cx| total = tree(cx, 6)));
            assert_eq!(total, 64);
        }
    });
}

/// While its half runs on another worker, a High job's join does not pick up a Low job for as
/// long as an idle worker spins (here 1 s, far longer than the half): a long background job
/// would delay the frame work waiting on the join. The Low job waiting in the joining worker's
/// own deque runs only after `join` returned, or elsewhere.
#[test]
fn a_join_waits_without_running_lower_priority_jobs() {
    watchdog(60, || {
        let system = JobSystem::new(
            jobs::Config::default()
                .workers(2)
                .core_affinity(false)
                .spin_before_sleep(Duration::from_secs(1)),
        )
        .expect("valid config");
        let violations = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let done = system.counter();
            let v = violations.clone();
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    let joiner = thread::current().id();
                    let joining = Arc::new(AtomicBool::new(true));
                    let (j, v) = (joining.clone(), v.clone());
                    cx.spawn_job(
                        Job::from_fn(move |_| {
                            if thread::current().id() == joiner && j.load(Ordering::SeqCst) {
                                v.fetch_add(1, Ordering::SeqCst);
                            }
                        })
                        .with_priority(jobs::Priority::Low),
                    );
                    join_elsewhere(cx, || (), |_| thread::sleep(Duration::from_millis(5)));
                    joining.store(false, Ordering::SeqCst);
                })
                .with_priority(jobs::Priority::High),
            );
            poll_zero(&done, 30);
        }
        assert_eq!(
            violations.load(Ordering::SeqCst),
            0,
            "Low jobs run inside a High join"
        );
    });
}

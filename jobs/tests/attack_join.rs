//! An outside tester's attack on `Context::join` (fork-join on the job's stack) and
//! `Config::worker_stack_size`, written against the promises of the docs, not the code.
//!
//! The standards: no safe call lets a half outlive what it borrows, race on the caller's data
//! or leave a `&mut` aliased; a panicking half neither kills its worker nor hangs whoever waits;
//! no panic is silently lost (unobserved ones are counted in `Stats::unobserved_panics`); no
//! panic or abort in library code on input a user can get wrong.
//!
//! Tests that could abort the process (a panic while unwinding, a stack overflow) run in a
//! child process (`isolated`), so that an abort fails one test instead of the whole binary.
//! Every test that could hang runs under a watchdog.

mod common;

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_child_passed, isolated, isolated_with, occupy_workers, poll_until, poll_zero, watchdog,
    DropCount, Flag, Gate,
};
use jobs::{
    Action, Config, ConfigError, Context, Job, JobSystem, Label, Priority, Spawner, WaitOptions,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn config(workers: usize) -> Config {
    let config = Config::default().workers(workers).core_affinity(false);
    if cfg!(miri) {
        config.spin_before_sleep(Duration::ZERO)
    } else {
        config
    }
}

fn system(workers: usize) -> JobSystem {
    JobSystem::new(config(workers)).expect("valid config")
}

/// A system whose waiting threads do not run the pool's jobs.
fn quiet_system(workers: usize) -> JobSystem {
    JobSystem::new(config(workers).help_while_waiting(false)).expect("valid config")
}

/// Spins until `done` or `limit` has passed; returns whether `done` became true.
fn spin_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::hint::spin_loop();
        thread::yield_now();
    }
    true
}

fn tree(cx: &mut Context<'_>, depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let (l, r) = cx.join(|cx| tree(cx, depth - 1), |cx| tree(cx, depth - 1));
    l + r
}

/// The message of a panic payload.
fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<not a string>".to_owned()
    }
}

fn panic_message(result: Result<(), jobs::JobPanic>) -> String {
    result.expect_err("the job panicked").message().to_owned()
}

/// A value whose drop panics with its message.
struct Bomb(&'static str);

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// A panic payload whose drop panics.
struct PayloadBomb;

impl Drop for PayloadBomb {
    fn drop(&mut self) {
        panic!("payload bomb");
    }
}

/// Runs `body` in a child process under a watchdog of `seconds`, and asserts it passed.
fn in_child(name: &str, seconds: u64, body: impl FnOnce() + Send + 'static) {
    let output = isolated(name, seconds + 30, || watchdog(seconds, body));
    assert_child_passed(name, output);
}

/// Submits `f` counted on a fresh counter and waits for it without helping (polling); returns
/// the outcome of a wait afterwards.
fn run_job(system: &JobSystem, seconds: u64, f: impl FnOnce(&mut Context<'_>) + Send + 'static) {
    let done = system.counter();
    system.submit_counted(&done, Job::from_fn(f));
    poll_zero(&done, seconds);
    system.wait(&done).expect("the job did not panic");
}

/// Submits `f`, polls until it is done, and returns the panic message it finished with.
fn run_panicking_job(
    system: &JobSystem,
    seconds: u64,
    f: impl FnOnce(&mut Context<'_>) + Send + 'static,
) -> String {
    let done = system.counter();
    system.submit_counted(&done, Job::from_fn(f));
    poll_zero(&done, seconds);
    panic_message(system.wait(&done))
}

// ---------------------------------------------------------------------------------------------
// Panics in a, in b, in both
// ---------------------------------------------------------------------------------------------

/// `a` panics while another worker runs `b`, which borrows the joining frame (`&mut` to a local)
/// and takes a while: `join` must not unwind out of the frame before `b` has finished, since
/// `b` still writes into it. Expected: after `catch_unwind(join)`, `b`'s write is there and its
/// end was reached; the panic is `a`'s.
#[test]
fn a_panic_does_not_unwind_past_a_running_b() {
    watchdog(60, || {
        let system = system(2);
        let outcome = Arc::new(Mutex::new(None));
        let out = outcome.clone();
        run_job(&system, 30, move |cx| {
            let started = AtomicBool::new(false);
            let finished = AtomicBool::new(false);
            let mut slot = 0u64;
            let joined = catch_unwind(AssertUnwindSafe(|| {
                cx.join(
                    |_| {
                        let taken =
                            spin_until(Duration::from_secs(10), || started.load(Ordering::SeqCst));
                        panic!("a (b taken: {taken})")
                    },
                    |_| {
                        started.store(true, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(50));
                        slot = 7;
                        finished.store(true, Ordering::SeqCst);
                    },
                )
            }));
            let message = payload_message(&*joined.expect_err("a panicked"));
            *out.lock().unwrap() = Some((message, finished.load(Ordering::SeqCst), slot));
        });
        let (message, finished, slot) = outcome.lock().unwrap().take().expect("the job ran");
        assert_eq!(message, "a (b taken: true)");
        assert!(finished, "join unwound while b still ran");
        assert_eq!(slot, 7, "b's write into the joining frame is missing");
    });
}

/// `a` panics at once, racing a thief that may be taking `b` at that very moment, many times:
/// whenever `b` started, it had finished by the time `join` unwound (never half-run, never run
/// after the frame is gone), and the panic that comes out is always `a`'s. `b` never panics, so
/// nothing is counted as unobserved.
#[test]
fn a_panic_racing_a_thief_never_leaves_b_half_run() {
    watchdog(120, || {
        let system = system(2);
        let unobserved = system.stats().unobserved_panics;
        let rounds = if cfg!(miri) { 5 } else { 400 };
        let stats = Arc::new(Mutex::new((0usize, 0usize)));
        let st = stats.clone();
        run_job(&system, 100, move |cx| {
            for _ in 0..rounds {
                let started = AtomicBool::new(false);
                let finished = AtomicBool::new(false);
                let joined = catch_unwind(AssertUnwindSafe(|| {
                    cx.join(
                        |_| panic!("a"),
                        |_| {
                            started.store(true, Ordering::SeqCst);
                            for _ in 0..200 {
                                std::hint::spin_loop();
                            }
                            finished.store(true, Ordering::SeqCst);
                        },
                    )
                }));
                let message = payload_message(&*joined.expect_err("a panicked"));
                assert_eq!(message, "a");
                let (s, f) = (
                    started.load(Ordering::SeqCst),
                    finished.load(Ordering::SeqCst),
                );
                assert_eq!(s, f, "b started but had not finished when join unwound");
                let mut st = st.lock().unwrap();
                if s {
                    st.0 += 1;
                } else {
                    st.1 += 1;
                }
            }
        });
        let (ran, skipped) = *stats.lock().unwrap();
        assert_eq!(ran + skipped, rounds);
        assert_eq!(system.stats().unobserved_panics, unobserved);
    });
}

/// `b` runs on the joining thread (one worker, and the test thread does not help, so nobody
/// can take it) and panics: the panic comes out of `join` (and reaches the waiter), `a`'s
/// result is dropped exactly once, the worker survives and nothing counts as unobserved.
#[test]
fn a_panic_in_b_run_here_goes_on_and_drops_as_result_once() {
    watchdog(60, || {
        let system = quiet_system(1);
        let unobserved = system.stats().unobserved_panics;
        let drops = DropCount::default();
        let d = drops.clone();
        let message = run_panicking_job(&system, 30, move |cx| {
            let here = thread::current().id();
            cx.join(
                move |_| d.token(),
                move |_| {
                    assert_eq!(thread::current().id(), here, "b ran elsewhere");
                    panic!("b here")
                },
            );
        });
        assert_eq!(message, "b here");
        assert_eq!(drops.get(), 1, "a's result dropped {} times", drops.get());
        assert_eq!(system.stats().unobserved_panics, unobserved);
        // The worker survived.
        let done = system.counter();
        system.submit_counted(&done, Job::from_fn(|cx| assert_eq!(tree(cx, 6), 64)));
        system.wait(&done).expect("the worker still runs joins");
    });
}

/// `b` runs on another worker and panics while `a` is still running: the panic comes out of
/// `join` once `a` has returned, `a`'s result is dropped exactly once, and nothing counts as
/// unobserved.
#[test]
fn a_panic_in_b_run_elsewhere_goes_on_after_a() {
    watchdog(60, || {
        let system = system(2);
        let unobserved = system.stats().unobserved_panics;
        let drops = DropCount::default();
        let d = drops.clone();
        let a_done = Flag::default();
        let ad = a_done.clone();
        let message = run_panicking_job(&system, 30, move |cx| {
            let started = AtomicBool::new(false);
            let here = thread::current().id();
            let r = catch_unwind(AssertUnwindSafe(|| {
                cx.join(
                    |_| {
                        assert!(
                            spin_until(Duration::from_secs(10), || started.load(Ordering::SeqCst))
                        );
                        thread::sleep(Duration::from_millis(20));
                        ad.set();
                        d.token()
                    },
                    |_| {
                        started.store(true, Ordering::SeqCst);
                        assert_ne!(thread::current().id(), here, "b ran here");
                        panic!("b elsewhere")
                    },
                )
            }));
            let Err(payload) = r else {
                panic!("b panicked, join returned")
            };
            assert!(ad.get(), "join unwound before a returned");
            std::panic::resume_unwind(payload);
        });
        assert_eq!(message, "b elsewhere");
        assert!(a_done.get());
        assert_eq!(drops.get(), 1);
        assert_eq!(system.stats().unobserved_panics, unobserved);
    });
}

/// Both halves panic, `b` on another worker with a payload whose `Drop` panics: `a`'s panic comes
/// out of `join`; `b`'s payload, which nobody will see, is dropped safely (no abort) and counted
/// as unobserved.
#[test]
fn both_panic_and_bs_payload_panics_when_dropped() {
    in_child("both_panic_and_bs_payload_panics_when_dropped", 60, || {
        let system = system(2);
        let unobserved = system.stats().unobserved_panics;
        let message = run_panicking_job(&system, 30, move |cx| {
            let started = AtomicBool::new(false);
            cx.join(
                |_| {
                    assert!(spin_until(Duration::from_secs(10), || started.load(Ordering::SeqCst)));
                    thread::sleep(Duration::from_millis(20));
                    panic!("a first")
                },
                |_| {
                    started.store(true, Ordering::SeqCst);
                    std::panic::panic_any(PayloadBomb)
                },
            );
        });
        assert_eq!(message, "a first");
        let counted = system.stats().unobserved_panics - unobserved;
        assert!(counted >= 1, "b's panic was lost: {counted} counted");
        // The system still works.
        let done = system.counter();
        system.submit_counted(&done, Job::from_fn(|cx| assert_eq!(tree(cx, 6), 64)));
        system.wait(&done).expect("still runs joins");
    });
}

// ---------------------------------------------------------------------------------------------
// Panics in the Drop of the captures and of the results
// ---------------------------------------------------------------------------------------------

/// `a` panics and nobody can take `b` (one worker, the test thread does not help), so `b` is
/// dropped without running; `b`'s capture panics when dropped. Expected: `a`'s panic comes out
/// of `join`, the capture's panic is caught and counted as unobserved, no abort (a drop while
/// `a`'s panic unwinds would be a panic while panicking).
#[test]
fn bs_capture_panics_when_dropped_unrun_after_a_panicked() {
    in_child(
        "bs_capture_panics_when_dropped_unrun_after_a_panicked",
        60,
        || {
            let system = quiet_system(1);
            let unobserved = system.stats().unobserved_panics;
            let ran = Flag::default();
            let r = ran.clone();
            let message = run_panicking_job(&system, 30, move |cx| {
                let bomb = Bomb("b's capture");
                cx.join(
                    |_| panic!("a"),
                    move |_| {
                        let _bomb = bomb;
                        r.set();
                    },
                );
            });
            let counted = system.stats().unobserved_panics - unobserved;
            assert!(
                !ran.get(),
                "b ran after a panicked though nobody could take it"
            );
            assert_eq!(
                (message.as_str(), counted),
                ("a", 1),
                "(the panic out of join, panics counted as unobserved)"
            );
        },
    );
}

/// `a`'s capture panics when dropped (as `a` returns, so it is `a`'s panic), `b` run by nobody
/// else: the panic comes out of `join`, `b` does not run (a panicked before anyone took it).
/// Then with `b` taken by another worker: `join` unwinds only after `b` finished.
#[test]
fn as_capture_panics_when_dropped() {
    in_child("as_capture_panics_when_dropped", 60, || {
        let system = quiet_system(1);
        let ran = Flag::default();
        let r = ran.clone();
        let message = run_panicking_job(&system, 30, move |cx| {
            let bomb = Bomb("a's capture");
            cx.join(
                move |_| {
                    let _bomb = bomb;
                },
                move |_| r.set(),
            );
        });
        assert_eq!(message, "a's capture");
        assert!(!ran.get());

        // The same with `b` taken by another worker: it finishes before the panic goes on.
        let system = self::system(2);
        let finished = Flag::default();
        let f = finished.clone();
        let message = run_panicking_job(&system, 30, move |cx| {
            let bomb = Bomb("a's capture, b elsewhere");
            let started = AtomicBool::new(false);
            let r = catch_unwind(AssertUnwindSafe(|| {
                cx.join(
                    |_| {
                        let _bomb = bomb;
                        assert!(
                            spin_until(Duration::from_secs(10), || started.load(Ordering::SeqCst))
                        );
                    },
                    |_| {
                        started.store(true, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(30));
                        f.set();
                    },
                )
            }));
            let Err(payload) = r else {
                panic!("a's capture panicked, join returned")
            };
            assert!(f.get(), "join unwound before b finished");
            std::panic::resume_unwind(payload);
        });
        assert_eq!(message, "a's capture, b elsewhere");
        assert!(finished.get());
    });
}

/// `b`'s capture panics when dropped as `b` returns, with `b` run on the joining thread: that is
/// `b`'s panic, and it comes out of `join`; `a`'s result is dropped once.
#[test]
fn bs_capture_panics_when_dropped_after_running_here() {
    in_child(
        "bs_capture_panics_when_dropped_after_running_here",
        60,
        || {
            let system = quiet_system(1);
            let drops = DropCount::default();
            let d = drops.clone();
            let unobserved = system.stats().unobserved_panics;
            let message = run_panicking_job(&system, 30, move |cx| {
                let bomb = Bomb("b's capture");
                cx.join(
                    move |_| d.token(),
                    move |_| {
                        let _bomb = bomb;
                    },
                );
            });
            assert_eq!(message, "b's capture");
            assert_eq!(drops.get(), 1);
            assert_eq!(system.stats().unobserved_panics, unobserved);
        },
    );
}

/// `b`'s capture panics when dropped as `b` returns on another worker: `b`'s panic comes out of
/// `join` after `a`.
#[test]
fn bs_capture_panics_when_dropped_after_running_elsewhere() {
    in_child(
        "bs_capture_panics_when_dropped_after_running_elsewhere",
        60,
        || {
            let system = system(2);
            let unobserved = system.stats().unobserved_panics;
            let message = run_panicking_job(&system, 30, move |cx| {
                let started = AtomicBool::new(false);
                let here = thread::current().id();
                let bomb = Bomb("b's capture elsewhere");
                cx.join(
                    |_| {
                        assert!(
                            spin_until(Duration::from_secs(10), || started.load(Ordering::SeqCst))
                        )
                    },
                    |_| {
                        let _bomb = bomb;
                        started.store(true, Ordering::SeqCst);
                        assert_ne!(thread::current().id(), here);
                    },
                );
            });
            assert_eq!(message, "b's capture elsewhere");
            assert_eq!(system.stats().unobserved_panics, unobserved);
        },
    );
}

/// `b` panics on the joining thread and `a`'s result panics when `join` drops it: `b`'s panic
/// comes out of `join`; the result's panic is caught and counted as unobserved; no abort.
#[test]
fn as_result_panics_when_dropped_after_b_panicked_here() {
    in_child(
        "as_result_panics_when_dropped_after_b_panicked_here",
        60,
        || {
            let system = quiet_system(1);
            let unobserved = system.stats().unobserved_panics;
            let message = run_panicking_job(&system, 30, move |cx| {
                cx.join(|_| Bomb("a's result"), |_| panic!("b here"));
            });
            assert_eq!(message, "b here");
            assert_eq!(
                system.stats().unobserved_panics,
                unobserved + 1,
                "the panic of a's result was not counted"
            );
        },
    );
}

/// `b` panics on another worker and `a`'s result panics when `join` drops it: as above.
#[test]
fn as_result_panics_when_dropped_after_b_panicked_elsewhere() {
    in_child(
        "as_result_panics_when_dropped_after_b_panicked_elsewhere",
        60,
        || {
            let system = system(2);
            let unobserved = system.stats().unobserved_panics;
            let message = run_panicking_job(&system, 30, move |cx| {
                let started = AtomicBool::new(false);
                cx.join(
                    |_| {
                        assert!(
                            spin_until(Duration::from_secs(10), || started.load(Ordering::SeqCst))
                        );
                        thread::sleep(Duration::from_millis(20));
                        Bomb("a's result")
                    },
                    |_| {
                        started.store(true, Ordering::SeqCst);
                        panic!("b elsewhere")
                    },
                );
            });
            assert_eq!(message, "b elsewhere");
            assert_eq!(
                system.stats().unobserved_panics,
                unobserved + 1,
                "the panic of a's result was not counted"
            );
        },
    );
}

/// `a` panics after `b` has finished on another worker, and `b`'s result panics when dropped:
/// `a`'s panic comes out, the result's is counted, no abort.
#[test]
fn bs_result_panics_when_dropped_after_a_panicked() {
    in_child("bs_result_panics_when_dropped_after_a_panicked", 60, || {
        let system = system(2);
        let unobserved = system.stats().unobserved_panics;
        let message = run_panicking_job(&system, 30, move |cx| {
            let returned = AtomicBool::new(false);
            cx.join(
                |_| {
                    assert!(spin_until(Duration::from_secs(10), || returned
                        .load(Ordering::SeqCst)));
                    thread::sleep(Duration::from_millis(20));
                    panic!("a after b")
                },
                |_| {
                    returned.store(true, Ordering::SeqCst);
                    Bomb("b's result")
                },
            );
        });
        assert_eq!(message, "a after b");
        assert_eq!(system.stats().unobserved_panics, unobserved + 1);
    });
}

/// Both results panic when dropped and neither half panics: `join` returns them (the caller
/// owns them); dropping them is the job's own panic, reported to the waiter, and the worker
/// survives.
#[test]
fn both_results_returned_even_if_they_would_panic_when_dropped() {
    in_child(
        "both_results_returned_even_if_they_would_panic_when_dropped",
        60,
        || {
            let system = system(2);
            let message = run_panicking_job(&system, 30, move |cx| {
                let (a, b) = cx.join(|_| Bomb("a's result"), |_| Bomb("b's result"));
                std::mem::forget(a);
                drop(b);
            });
            assert_eq!(message, "b's result");
            let done = system.counter();
            system.submit_counted(&done, Job::from_fn(|cx| assert_eq!(tree(cx, 5), 32)));
            system.wait(&done).expect("the workers survived");
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Nesting: deep and wide
// ---------------------------------------------------------------------------------------------

fn left_chain(cx: &mut Context<'_>, depth: u32) -> u32 {
    if depth == 0 {
        return 0;
    }
    let (deeper, one) = cx.join(|cx| left_chain(cx, depth - 1), |_| 1);
    deeper + one
}

fn right_chain(cx: &mut Context<'_>, depth: u32) -> u32 {
    if depth == 0 {
        return 0;
    }
    let (one, deeper) = cx.join(|_| 1, |cx| right_chain(cx, depth - 1));
    deeper + one
}

/// 20,000 nested joins recursing in `a`, on workers with 256 MiB stacks, the test thread not
/// helping: no overflow, the right count.
#[test]
fn joins_nest_20000_deep_through_a() {
    in_child("joins_nest_20000_deep_through_a", 120, || {
        let system = JobSystem::new(
            config(2)
                .help_while_waiting(false)
                .worker_stack_size(256 << 20),
        )
        .expect("valid config");
        run_job(&system, 100, |cx| {
            assert_eq!(left_chain(cx, 20_000), 20_000)
        });
    });
}

/// 20,000 nested joins recursing in `b` (the half other workers take), on workers with 256 MiB
/// stacks, the test thread not helping: the recursion moves between workers, each helping
/// while its `b` runs elsewhere; no overflow, the right count.
#[test]
fn joins_nest_20000_deep_through_b() {
    in_child("joins_nest_20000_deep_through_b", 120, || {
        let system = JobSystem::new(
            config(2)
                .help_while_waiting(false)
                .worker_stack_size(256 << 20),
        )
        .expect("valid config");
        run_job(&system, 100, |cx| {
            assert_eq!(right_chain(cx, 20_000), 20_000)
        });
    });
}

/// Deep join recursion with 256 MiB worker stacks, while the main thread (an 8 MiB stack, as a
/// process's main thread has) helps in `JobSystem::wait` (the default
/// `help_while_waiting(true)`): a job on the only worker joins, `a` waits until `b` has been
/// taken (the main thread, helping, takes it), and `b` recurses through nested joins (20,000
/// deep in a debug build, 400,000 optimized: beyond 8 MiB at ~1.5 KiB a level in debug, ~200
/// bytes optimized, and within 256 MiB). The recursion then runs on the main thread's stack,
/// which `worker_stack_size` does not size. Expected, from the docs (`worker_stack_size`: "Jobs
/// that recurse deeply on their stack want more"; `join`: `b` "may run on an idle worker"):
/// the deep join completes. Actual: the main thread overflows its stack and the process aborts
/// ("thread 'main-8MiB' has overflowed its stack"). Nothing in the docs said that a thread that
/// helps while it waits needs the stack of a worker. FINDING at fd95afa, answered in ced6ed8
/// by the docs (`join`, `worker_stack_size`: a helping thread runs what it takes on its own
/// stack; give it as much, or turn help off): this guard gives the main thread the workers'
/// 256 MiB, and the deep join completes.
#[test]
fn joins_nest_deep_through_b_with_the_main_thread_helping() {
    let name = "joins_nest_deep_through_b_with_the_main_thread_helping";
    let output = isolated(name, 150, || {
        let main = thread::Builder::new()
            .name("main-256MiB".into())
            .stack_size(256 << 20)
            .spawn(|| {
                let system =
                    JobSystem::new(config(1).worker_stack_size(256 << 20)).expect("valid config");
                let done = system.counter();
                let started = Flag::default();
                let st = started.clone();
                system.submit_counted(
                    &done,
                    Job::from_fn(move |cx| {
                        st.set();
                        let depth = if cfg!(debug_assertions) {
                            20_000
                        } else {
                            400_000
                        };
                        let taken = AtomicBool::new(false);
                        let here = thread::current().id();
                        let ((), (levels, elsewhere)) = cx.join(
                            |_| {
                                spin_until(Duration::from_secs(10), || {
                                    taken.load(Ordering::SeqCst)
                                });
                            },
                            |cx| {
                                taken.store(true, Ordering::SeqCst);
                                (left_chain(cx, depth), thread::current().id() != here)
                            },
                        );
                        assert_eq!(levels, depth);
                        eprintln!("b ran on another thread: {elsewhere}");
                    }),
                );
                // Let the worker start the job, then help: the main thread takes `b`.
                assert!(poll_until(30, || started.get()));
                system.wait(&done).expect("no panic");
            })
            .expect("spawn");
        main.join().expect("the main thread");
    });
    assert_child_passed(name, output);
}

/// A balanced tree of joins 20 levels deep (a million leaves) on 2 workers with the default
/// 2 MiB stacks and the main thread helping: a worker that waits for a stolen half helps with
/// other jobs on top of its own stack, so the stack holds more than the tree's 20 levels;
/// expected: no overflow, the right sum.
#[test]
fn a_million_leaf_tree_fits_the_default_stack() {
    in_child("a_million_leaf_tree_fits_the_default_stack", 240, || {
        let system = system(2);
        let done = system.counter();
        let total = Arc::new(Mutex::new(0));
        let t = total.clone();
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| *t.lock().unwrap() = tree(cx, 20)),
        );
        system.wait(&done).expect("no panic");
        assert_eq!(*total.lock().unwrap(), 1 << 20);
    });
}

fn counted_tree(cx: &mut Context<'_>, depth: u32, halves: &AtomicUsize) -> u64 {
    halves.fetch_add(1, Ordering::Relaxed);
    if depth == 0 {
        return 1;
    }
    let (l, r) = cx.join(
        |cx| counted_tree(cx, depth - 1, halves),
        |cx| counted_tree(cx, depth - 1, halves),
    );
    l + r
}

/// 256 jobs submitted at once each join a tree of depth 8 on 3 workers, the test thread not
/// helping (`help_while_waiting(false)` and a wait that sleeps): every tree sums right, every
/// half runs once.
#[test]
fn many_jobs_join_at_once_without_the_main_thread() {
    watchdog(120, || {
        let system = quiet_system(3);
        let halves = Arc::new(AtomicUsize::new(0));
        let sums = Arc::new(Mutex::new(Vec::new()));
        let done = system.counter();
        for _ in 0..256 {
            let (h, s) = (halves.clone(), sums.clone());
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    let t = counted_tree(cx, 8, &h);
                    s.lock().unwrap().push(t);
                }),
            );
        }
        system.wait(&done).expect("no panic");
        let sums = sums.lock().unwrap();
        assert_eq!(sums.len(), 256);
        assert!(sums.iter().all(|&t| t == 256));
        assert_eq!(halves.load(Ordering::Relaxed), 256 * 511);
    });
}

/// The same with the main thread helping in `wait` (it runs joining jobs and takes halves).
#[test]
fn many_jobs_join_at_once_with_the_main_thread_helping() {
    watchdog(120, || {
        let system = system(3);
        let halves = Arc::new(AtomicUsize::new(0));
        let sums = Arc::new(Mutex::new(Vec::new()));
        let on_main = Arc::new(AtomicUsize::new(0));
        let done = system.counter();
        for i in 0..256 {
            let (h, s, m) = (halves.clone(), sums.clone(), on_main.clone());
            let prio = [Priority::High, Priority::Normal, Priority::Low][i % 3];
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    if cx.on_main_thread() {
                        m.fetch_add(1, Ordering::Relaxed);
                    }
                    let t = counted_tree(cx, 8, &h);
                    s.lock().unwrap().push(t);
                })
                .with_priority(prio),
            );
        }
        system.wait(&done).expect("no panic");
        let sums = sums.lock().unwrap();
        assert_eq!(sums.len(), 256);
        assert!(sums.iter().all(|&t| t == 256));
        assert_eq!(halves.load(Ordering::Relaxed), 256 * 511);
    });
}

// ---------------------------------------------------------------------------------------------
// Where join runs: the main thread while it waits, registered threads, helpers, spawners,
// scopes, batches
// ---------------------------------------------------------------------------------------------

/// A job run by the main thread inside `JobSystem::wait` (every worker is busy when it starts)
/// joins; `a` then frees the workers and waits up to 5 s for one of them to take `b`. The docs
/// say `b` "waits in this thread's own deque where an idle worker can take it". Expected: a
/// worker takes `b`; either way, both results are right and `join` returns.
#[test]
fn join_in_a_job_the_main_thread_runs_while_it_waits() {
    watchdog(60, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let done = system.counter();
        let report = Arc::new(Mutex::new(None));
        let (g, r) = (gate.clone(), report.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                assert!(cx.on_main_thread(), "every worker is busy");
                let taken = AtomicBool::new(false);
                let (a, b) = cx.join(
                    |_| {
                        g.open();
                        spin_until(Duration::from_secs(5), || taken.load(Ordering::SeqCst))
                    },
                    |cx| {
                        taken.store(true, Ordering::SeqCst);
                        cx.on_main_thread()
                    },
                );
                *r.lock().unwrap() = Some((a, b));
            }),
        );
        system.wait(&done).expect("no panic");
        system.wait(&blocked).expect("gate jobs");
        let (taken_by_worker, b_on_main) = report.lock().unwrap().take().expect("ran");
        assert!(
            taken_by_worker && !b_on_main,
            "b of a join on the main thread was never taken by the idle worker \
             (a waited 5 s; b then ran on the main thread: {b_on_main})"
        );
    });
}

/// A High job pinned to the main thread joins inside `wait_with(lowest_priority(High))`; `b`
/// runs elsewhere if a worker takes it (or here), and while the main thread waits for it, it must
/// not run the Low jobs queued meanwhile ("the limit also holds for whatever the jobs it runs
/// call"). Expected: no Low job ran on the main thread during the wait, the join's results are
/// right.
#[test]
fn join_under_a_priority_limited_wait_runs_no_lower_jobs() {
    watchdog(60, || {
        let system = system(1);
        let low_on_main = Arc::new(AtomicUsize::new(0));
        let low = system.counter();
        for _ in 0..20 {
            let l = low_on_main.clone();
            system.submit_counted(
                &low,
                Job::from_fn(move |cx| {
                    if cx.on_main_thread() {
                        l.fetch_add(1, Ordering::SeqCst);
                    }
                    thread::sleep(Duration::from_millis(1));
                })
                .with_priority(Priority::Low),
            );
        }
        let frame = system.counter();
        let result = Arc::new(Mutex::new(None));
        let r = result.clone();
        system.submit_counted(
            &frame,
            Job::from_fn(move |cx| {
                let (a, b) = cx.join(
                    |cx| tree(cx, 4),
                    |cx| {
                        thread::sleep(Duration::from_millis(30));
                        tree(cx, 4) + u64::from(cx.priority() == Priority::High)
                    },
                );
                *r.lock().unwrap() = Some((a, b));
            })
            .with_priority(Priority::High)
            .pinned_to_main(),
        );
        let options = WaitOptions::new()
            .lowest_priority(Priority::High)
            .timeout(Duration::from_secs(30));
        assert!(system.wait_with(&frame, options).expect("no panic"));
        assert_eq!(
            low_on_main.load(Ordering::SeqCst),
            0,
            "a Low job ran on the main thread inside a High-limited wait"
        );
        assert_eq!(*result.lock().unwrap(), Some((16, 17)));
        poll_zero(&low, 30);
    });
}

/// A Low job on the only worker joins and offers `b` while the main thread waits with
/// `lowest_priority(High)` for a High job: the main thread must not take the Low half (it would
/// be running a Low job under a High limit). `a` waits up to 3 s for `b` to be taken.
/// Expected: `b` runs on the worker, never on the main thread.
#[test]
fn a_priority_limited_main_thread_does_not_take_a_low_half() {
    watchdog(60, || {
        let system = system(1);
        let low = system.counter();
        let b_on_main = Arc::new(Mutex::new(None));
        let in_a = Flag::default();
        let gate = Gate::default();
        let (bm, ia, g) = (b_on_main.clone(), in_a.clone(), gate.clone());
        system.submit_counted(
            &low,
            Job::from_fn(move |cx| {
                let taken = AtomicBool::new(false);
                let (_, on_main) = cx.join(
                    |_| {
                        ia.set();
                        spin_until(Duration::from_secs(3), || taken.load(Ordering::SeqCst));
                        g.open();
                    },
                    |cx| {
                        taken.store(true, Ordering::SeqCst);
                        cx.on_main_thread()
                    },
                );
                *bm.lock().unwrap() = Some(on_main);
            })
            .with_priority(Priority::Low),
        );
        assert!(poll_until(30, || in_a.get()));
        // A High job that ends when `a` is done: the main thread waits for it, limited to High.
        let frame = system.counter();
        let g = gate.clone();
        system.submit_counted(
            &frame,
            Job::from_fn(move |_| g.wait())
                .with_priority(Priority::High)
                .pinned_to_main(),
        );
        gate.wait(); // let a finish before the pinned High job blocks the main thread
        let options = WaitOptions::new()
            .lowest_priority(Priority::High)
            .timeout(Duration::from_secs(30));
        assert!(system.wait_with(&frame, options).expect("no panic"));
        poll_zero(&low, 30);
        assert_eq!(
            *b_on_main.lock().unwrap(),
            Some(false),
            "the Low half ran on the High-limited main thread"
        );
    });
}

/// With `help_while_waiting(false)` the waiting main thread runs only jobs pinned to it: it must
/// never take `b` of a join on a worker. `a` waits up to 2 s for `b` to be taken while the main
/// thread sits in `wait`.
#[test]
fn a_main_thread_that_does_not_help_never_takes_a_half() {
    watchdog(60, || {
        let system = quiet_system(1);
        let done = system.counter();
        let b_on_main = Arc::new(Mutex::new(None));
        let bm = b_on_main.clone();
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let taken = AtomicBool::new(false);
                let (taken_elsewhere, on_main) = cx.join(
                    |_| spin_until(Duration::from_secs(2), || taken.load(Ordering::SeqCst)),
                    |cx| {
                        taken.store(true, Ordering::SeqCst);
                        cx.on_main_thread()
                    },
                );
                *bm.lock().unwrap() = Some((taken_elsewhere, on_main));
            }),
        );
        system.wait(&done).expect("no panic");
        assert_eq!(*b_on_main.lock().unwrap(), Some((false, false)));
    });
}

/// An outside thread in `help_until` runs a job that joins (every worker is busy when it starts;
/// `a` frees them): both halves run, the results are right, `help_until` returns.
#[test]
fn join_in_a_job_run_by_help_until() {
    watchdog(60, || {
        let system = Arc::new(system(1));
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let done = system.counter();
        let result = Arc::new(Mutex::new(None));
        let (g, r) = (gate.clone(), result.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let (a, b) = cx.join(
                    |cx| {
                        g.open();
                        tree(cx, 6)
                    },
                    |cx| tree(cx, 6),
                );
                *r.lock().unwrap() = Some(a + b);
            }),
        );
        let s = system.clone();
        let helper = thread::spawn(move || {
            let mut ran = 0;
            let deadline = Instant::now() + Duration::from_secs(20);
            while !s.stats().queued.iter().all(|&q| q == 0) || ran == 0 {
                ran += s.help_until(Instant::now() + Duration::from_millis(50));
                if Instant::now() > deadline {
                    break;
                }
            }
            ran
        });
        poll_zero(&done, 30);
        helper.join().expect("the helper");
        system.wait(&blocked).expect("gate jobs");
        assert_eq!(*result.lock().unwrap(), Some(128));
    });
}

/// A job pinned to the main thread, run by `run_pinned_until`, joins; `a` waits up to 3 s for a
/// worker to take `b`. What happens (a regression guard of the behaviour, not of the docs):
/// nobody takes `b`, `a` gives up, `b` runs next on the main thread, `run_pinned_until`
/// returns.
#[test]
fn join_in_a_pinned_job_run_by_run_pinned_until() {
    watchdog(60, || {
        let system = system(2);
        let done = system.counter();
        let report = Arc::new(Mutex::new(None));
        let r = report.clone();
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let taken = AtomicBool::new(false);
                let (t, b_on_main) = cx.join(
                    |_| spin_until(Duration::from_secs(3), || taken.load(Ordering::SeqCst)),
                    |cx| {
                        taken.store(true, Ordering::SeqCst);
                        cx.on_main_thread()
                    },
                );
                *r.lock().unwrap() = Some((t, b_on_main));
            })
            .pinned_to_main(),
        );
        let ran = system
            .run_pinned_until(Instant::now() + Duration::from_millis(50))
            .expect("the main thread");
        assert_eq!(ran, 1);
        assert!(done.is_zero());
        let (taken, b_on_main) = report.lock().unwrap().take().expect("ran");
        // What happens: `b` of a pinned job stays on the pinned thread (see
        // `a_pinned_jobs_b_can_be_taken_by_an_idle_worker` for what the docs say).
        assert_eq!((taken, b_on_main), (false, true));
    });
}

/// A job pinned to a registered thread joins while that thread waits for it (and helps); `a`
/// waits up to 3 s for a worker to take `b`. Both halves run once, the results are right, the
/// wait returns. Since ced6ed8 a thread without a deque offers `b` on the shared queue, so a
/// worker takes it (before: both halves ran on the registered thread).
#[test]
fn join_in_a_job_pinned_to_a_registered_thread() {
    watchdog(60, || {
        let system = Arc::new(system(2));
        let s = system.clone();
        let report = thread::spawn(move || {
            let registration = s.register_thread().expect("a slot");
            let done = s.counter();
            let report = Arc::new(Mutex::new(None));
            let r = report.clone();
            let me = thread::current().id();
            s.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    assert_eq!(thread::current().id(), me);
                    let taken = AtomicBool::new(false);
                    let (t, b_thread) = cx.join(
                        |_| spin_until(Duration::from_secs(3), || taken.load(Ordering::SeqCst)),
                        |cx| {
                            taken.store(true, Ordering::SeqCst);
                            (thread::current().id(), tree(cx, 5))
                        },
                    );
                    *r.lock().unwrap() = Some((t, b_thread.0 == me, b_thread.1));
                })
                .pinned_to(registration.thread()),
            );
            s.wait(&done).expect("no panic");
            drop(registration);
            let got = report.lock().unwrap().take();
            got
        })
        .join()
        .expect("the registered thread");
        let (taken, b_here, sum) = report.expect("ran");
        assert_eq!(sum, 32);
        assert_eq!((taken, b_here), (true, false));
    });
}

/// A job spawned by a `Spawner` (a child of `Action::Spawn`) joins and both halves write into
/// the parent's capture through disjoint `&mut` borrows; the continuation sees every write.
#[test]
fn join_inside_spawner_children() {
    struct Parent {
        values: Vec<u64>,
        total: u64,
    }
    fn step(_: &mut Parent, _: &mut Context<'_>) -> Action<Parent> {
        Action::Spawn(
            |p, s: &mut Spawner<'_, '_>| {
                for chunk in p.values.chunks_mut(64) {
                    s.spawn(move |cx| {
                        let (l, r) = chunk.split_at_mut(32);
                        cx.join(
                            |_| l.iter_mut().for_each(|x| *x = 1),
                            |_| r.iter_mut().for_each(|x| *x = 2),
                        );
                    });
                }
            },
            |p, _| {
                p.total = p.values.iter().sum();
                assert_eq!(p.total, 64 * (32 + 64));
                Action::Done
            },
        )
    }
    watchdog(60, || {
        let system = system(2);
        for _ in 0..20 {
            let done = system.counter();
            system.submit_counted(
                &done,
                Job::new(
                    Parent {
                        values: vec![0; 64 * 64],
                        total: 0,
                    },
                    step,
                ),
            );
            system.wait(&done).expect("no panic");
        }
    });
}

/// The spawn closure of `Action::Spawn` spawns children that borrow the capture, then joins
/// through `Spawner::context()`; `b` runs on another worker and takes a while, so the joining
/// thread helps meanwhile, and may run the children. The continuation must not run before the
/// spawn closure has returned (it would alias the `&mut` capture the closure still holds): it
/// checks a flag the spawn closure sets as its last act, and the closure writes the capture
/// after its join.
#[test]
fn join_through_spawner_context_does_not_resume_the_parent_early() {
    struct Parent {
        values: Vec<u64>,
        tail: u64,
        spawn_returned: Arc<AtomicBool>,
        early: Arc<AtomicBool>,
    }
    fn step(_: &mut Parent, _: &mut Context<'_>) -> Action<Parent> {
        Action::Spawn(
            |p, s: &mut Spawner<'_, '_>| {
                let returned = p.spawn_returned.clone();
                for chunk in p.values.chunks_mut(16) {
                    s.spawn(move |_| chunk.iter_mut().for_each(|x| *x += 1));
                }
                {
                    let mut cx = s.context();
                    let started = AtomicBool::new(false);
                    cx.join(
                        |_| {
                            spin_until(Duration::from_secs(2), || started.load(Ordering::SeqCst));
                        },
                        |_| {
                            started.store(true, Ordering::SeqCst);
                            thread::sleep(Duration::from_millis(20));
                        },
                    );
                }
                p.tail = 5; // the capture is still ours here
                returned.store(true, Ordering::SeqCst);
            },
            |p, _| {
                if !p.spawn_returned.load(Ordering::SeqCst) {
                    p.early.store(true, Ordering::SeqCst);
                }
                assert_eq!(p.tail, 5);
                assert!(p.values.iter().all(|&v| v == 1));
                Action::Done
            },
        )
    }
    watchdog(120, || {
        let system = system(2);
        for round in 0..if cfg!(miri) { 2 } else { 30 } {
            let early = Arc::new(AtomicBool::new(false));
            let done = system.counter();
            system.submit_counted(
                &done,
                Job::new(
                    Parent {
                        values: vec![0; 64],
                        tail: 0,
                        spawn_returned: Arc::new(AtomicBool::new(false)),
                        early: early.clone(),
                    },
                    step,
                ),
            );
            system.wait(&done).expect("no panic");
            assert!(
                !early.load(Ordering::SeqCst),
                "round {round}: the continuation ran while the spawn closure still held the capture"
            );
        }
    });
}

/// Jobs of a `Scope` join, and both halves write through `&mut` borrows of the scope's
/// environment; `Scope::parallel_for` bodies get no `Context` (the only way to join from one is
/// a nested scope, which is what this does): every write lands.
#[test]
fn join_in_scope_jobs_and_from_parallel_for_bodies() {
    watchdog(120, || {
        let system = system(2);
        let mut pairs = vec![(0u64, 0u64); 8];
        system.scope(|s| {
            for pair in &mut pairs {
                s.spawn(move |cx| {
                    let (x, y) = (&mut pair.0, &mut pair.1);
                    cx.join(|cx| *x = tree(cx, 4), |cx| *y = tree(cx, 5));
                });
            }
        });
        assert!(pairs.iter().all(|&p| p == (16, 32)), "{pairs:?}");

        // A parallel_for body has no Context: it joins through a nested scope.
        let sums: Vec<AtomicUsize> = (0..16).map(|_| AtomicUsize::new(0)).collect();
        system
            .parallel_for(0..16, jobs::Grain::Auto, |i| {
                let mut total = 0;
                system.scope(|s| s.spawn(|cx| total = tree(cx, 6)));
                sums[i].store(total as usize, Ordering::SeqCst);
            })
            .expect("no panic");
        assert!(sums.iter().all(|s| s.load(Ordering::SeqCst) == 64));
    });
}

// ---------------------------------------------------------------------------------------------
// What b does: wait, spawn, join, wait on its own job
// ---------------------------------------------------------------------------------------------

/// `b` waits (`JobSystem::wait`) for other jobs, spawns detached counted jobs and joins itself,
/// run here (one worker, the test thread not helping) and elsewhere (two workers, `a` waits for
/// `b` to be taken): all of it completes and every spawned job is counted.
#[test]
fn b_waits_spawns_and_joins() {
    for (workers, force_steal) in [(1, false), (2, true)] {
        watchdog(60, move || {
            let system = Arc::new(quiet_system(workers));
            let spawned = system.counter();
            let ran = Arc::new(AtomicUsize::new(0));
            let done = system.counter();
            let (s, sp, r) = (system.clone(), spawned.clone(), ran.clone());
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    let taken = AtomicBool::new(false);
                    let ((), sum) = cx.join(
                        |_| {
                            if force_steal {
                                assert!(spin_until(Duration::from_secs(10), || taken
                                    .load(Ordering::SeqCst)));
                            }
                        },
                        |cx| {
                            taken.store(true, Ordering::SeqCst);
                            let others = s.counter();
                            for _ in 0..8 {
                                let r = r.clone();
                                s.submit_counted(
                                    &others,
                                    Job::from_fn(move |_| {
                                        r.fetch_add(1, Ordering::SeqCst);
                                    }),
                                );
                            }
                            s.wait(&others).expect("b's wait");
                            for _ in 0..8 {
                                let r = r.clone();
                                cx.spawn_counted(&sp, move |_| {
                                    r.fetch_add(1, Ordering::SeqCst);
                                });
                            }
                            tree(cx, 6)
                        },
                    );
                    assert_eq!(sum, 64);
                }),
            );
            system.wait(&done).expect("no panic");
            system.wait(&spawned).expect("spawned jobs");
            assert_eq!(ran.load(Ordering::SeqCst), 16);
        });
    }
}

/// `b`, run on the joining thread, waits on the counter its own job is counted on: that can
/// never end; the docs promise a "deadlock" `JobPanic` at once for a wait on a job further up
/// this thread's stack. Expected: the wait returns the deadlock error within its timeout.
#[test]
fn b_run_here_waiting_on_its_own_jobs_counter_is_a_reported_deadlock() {
    watchdog(60, || {
        let system = Arc::new(quiet_system(1));
        let counter = system.counter();
        let got = Arc::new(Mutex::new(None));
        let (s, c, g) = (system.clone(), counter.clone(), got.clone());
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                cx.join(
                    |_| (),
                    |_| {
                        let r = s
                            .wait_timeout(&c, Duration::from_secs(5))
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
            "b's wait returned {got:?}"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// One worker, nobody to take b
// ---------------------------------------------------------------------------------------------

/// One worker, the main thread not helping: nobody can take `b`. `a` waits (up to 2 s) for `b`
/// to be taken: it never is, `a` gives up, and `b` runs next on the same thread. (An `a` that
/// waited without a bound would deadlock: documented behaviour, "b runs here next".)
#[test]
fn one_worker_nobody_takes_b() {
    watchdog(60, || {
        let system = quiet_system(1);
        let report = Arc::new(Mutex::new(None));
        let r = report.clone();
        run_job(&system, 30, move |cx| {
            let taken = AtomicBool::new(false);
            let here = thread::current().id();
            let (t, b_here) = cx.join(
                |_| spin_until(Duration::from_secs(2), || taken.load(Ordering::SeqCst)),
                |_| {
                    taken.store(true, Ordering::SeqCst);
                    thread::current().id() == here
                },
            );
            *r.lock().unwrap() = Some((t, b_here));
        });
        assert_eq!(*report.lock().unwrap(), Some((false, true)));
    });
}

/// One worker, no help: `b` blocks on a gate only `a` opens. `a` runs first and opens it, so
/// `b` (run next on the same thread) passes: progress, not deadlock.
#[test]
fn one_worker_b_blocks_on_what_a_releases() {
    watchdog(60, || {
        let system = quiet_system(1);
        let gate = Gate::default();
        let g = gate.clone();
        run_job(&system, 30, move |cx| {
            let (g1, g2) = (g.clone(), g);
            let ((), passed) = cx.join(
                move |_| g1.open(),
                move |_| {
                    g2.wait();
                    true
                },
            );
            assert!(passed);
        });
    });
}

/// One worker, no help: `a` waits (`wait_timeout`, 5 s) for a job that blocks on a gate only `b`
/// opens. What happens is documented here: `a`'s wait runs other jobs meanwhile; if it runs
/// `b` (from its own deque), `b` opens the gate and the job finishes: progress. Expected from
/// the docs ("`JobSystem::wait` inside a job runs other jobs meanwhile"): progress, either by
/// running `b` inside the wait or by the wait timing out and `b` then running.
#[test]
fn one_worker_a_waits_for_what_only_b_releases() {
    watchdog(60, || {
        let system = Arc::new(quiet_system(1));
        let outcome = Arc::new(Mutex::new(None));
        let (s, o) = (system.clone(), outcome.clone());
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let gate = Gate::default();
                let blocked = s.counter();
                let g = gate.clone();
                // A job that needs the gate, queued before the join.
                cx.spawn_counted(&blocked, move |_| g.wait());
                let b_ran_in_a = AtomicBool::new(false);
                let in_a = AtomicBool::new(false);
                let (waited, ()) = cx.join(
                    |_| {
                        in_a.store(true, Ordering::SeqCst);
                        let r = s.wait_timeout(&blocked, Duration::from_secs(5));
                        in_a.store(false, Ordering::SeqCst);
                        r
                    },
                    |_| {
                        b_ran_in_a.store(in_a.load(Ordering::SeqCst), Ordering::SeqCst);
                        gate.open();
                    },
                );
                *o.lock().unwrap() = Some((
                    waited.map_err(|e| e.message().to_owned()),
                    b_ran_in_a.load(Ordering::SeqCst),
                ));
                // Whatever happened, the gate is open now: the blocked job can end.
                s.wait(&blocked).expect("the blocked job");
            }),
        );
        poll_zero(&done, 50);
        let outcome = outcome.lock().unwrap().take().expect("ran");
        eprintln!("one worker, a waits for b's release: {outcome:?}");
        // Either outcome is progress; a hang would have tripped the watchdog.
        assert!(matches!(outcome, (Ok(true), true) | (Ok(false), false)));
    });
}

// ---------------------------------------------------------------------------------------------
// Dropping the system while a join waits
// ---------------------------------------------------------------------------------------------

/// The last handle of the system is dropped inside `b`, running on another worker, while the
/// joining worker waits for `b`; `b` then goes on (sleeps, writes into the joining frame).
/// Expected: `join` returns only after `b` finished (its write is there), no hang, no crash.
#[test]
fn dropping_the_system_inside_b_while_join_waits() {
    in_child("dropping_the_system_inside_b_while_join_waits", 60, || {
        let system = Arc::new(system(2));
        let holder = Arc::new(Mutex::new(Some(system.clone())));
        let report = Arc::new(Mutex::new(None));
        let (h, r) = (holder.clone(), report.clone());
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let started = AtomicBool::new(false);
                let mut slot = 0u32;
                let finished = AtomicBool::new(false);
                let here = thread::current().id();
                cx.join(
                    |_| {
                        assert!(
                            spin_until(Duration::from_secs(10), || started.load(Ordering::SeqCst))
                        );
                    },
                    |_| {
                        started.store(true, Ordering::SeqCst);
                        let last = h.lock().unwrap().take();
                        // Wait until the test thread has let go of its handles too.
                        if let Some(last) = last {
                            assert!(spin_until(Duration::from_secs(10), || Arc::strong_count(
                                &last
                            ) == 1));
                            let _ = thread::current().id() == here;
                            drop(last); // the JobSystem drops here, on a worker
                        }
                        thread::sleep(Duration::from_millis(50));
                        slot = 9;
                        finished.store(true, Ordering::SeqCst);
                    },
                );
                *r.lock().unwrap() = Some((slot, finished.load(Ordering::SeqCst)));
            }),
        );
        drop(system);
        assert!(
            poll_until(30, || report.lock().unwrap().is_some()),
            "the joining job never finished after the system was dropped inside b"
        );
        assert_eq!(*report.lock().unwrap(), Some((9, true)));
        assert!(poll_until(10, || done.is_zero()));
    });
}

/// The last handle of the system is dropped inside `a` while `b` runs on another worker and
/// writes into the joining frame after the drop; the job then joins a tree. Expected: `join`
/// returns after `b` finished, later joins still work, no hang, no crash.
#[test]
fn dropping_the_system_inside_a_while_b_runs_elsewhere() {
    in_child(
        "dropping_the_system_inside_a_while_b_runs_elsewhere",
        60,
        || {
            let system = Arc::new(system(2));
            let holder = Arc::new(Mutex::new(Some(system.clone())));
            let report = Arc::new(Mutex::new(None));
            let (h, r) = (holder.clone(), report.clone());
            let done = system.counter();
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    let started = AtomicBool::new(false);
                    let mut slot = 0u32;
                    cx.join(
                        |_| {
                            assert!(spin_until(Duration::from_secs(10), || started
                                .load(Ordering::SeqCst)));
                            let last = h.lock().unwrap().take().expect("the handle");
                            assert!(spin_until(Duration::from_secs(10), || Arc::strong_count(
                                &last
                            ) == 1));
                            drop(last);
                        },
                        |_| {
                            started.store(true, Ordering::SeqCst);
                            thread::sleep(Duration::from_millis(100));
                            slot = 3;
                        },
                    );
                    // The system is gone (detached): joins in the job still running work.
                    assert_eq!(tree(cx, 8), 256);
                    *r.lock().unwrap() = Some(slot);
                }),
            );
            drop(system);
            assert!(
                poll_until(30, || report.lock().unwrap().is_some()),
                "the joining job never finished after the system was dropped inside a"
            );
            assert_eq!(*report.lock().unwrap(), Some(3));
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Priorities, labels, frames
// ---------------------------------------------------------------------------------------------

/// At every priority, with `b` run here and elsewhere: each half's context carries the job's
/// priority, label and frame ("each gets a context of this job (its priority, label and
/// frame)"), and a job `b` spawns inherits them. (Both workers may run Low work here: by
/// default only one of two does, and a Low `b` is then never stolen.)
#[test]
fn halves_carry_the_jobs_priority_label_and_frame() {
    watchdog(120, || {
        for workers in [1usize, 2] {
            let system = Arc::new(
                JobSystem::new(
                    config(workers)
                        .help_while_waiting(false)
                        .low_priority_threads(usize::MAX),
                )
                .expect("valid config"),
            );
            for prio in [Priority::High, Priority::Normal, Priority::Low] {
                let label = Label::new("attack-join");
                let seen = Arc::new(Mutex::new(Vec::new()));
                let spawned = system.counter();
                let done = system.counter();
                let (s, sp) = (seen.clone(), spawned.clone());
                let steal = workers == 2;
                system.submit_counted(
                    &done,
                    Job::from_fn(move |cx| {
                        let taken = AtomicBool::new(false);
                        let here = thread::current().id();
                        let (a, (b, elsewhere)) = cx.join(
                            |cx| {
                                if steal {
                                    assert!(spin_until(Duration::from_secs(10), || taken
                                        .load(Ordering::SeqCst)));
                                }
                                (cx.priority(), cx.label(), cx.frame())
                            },
                            |cx| {
                                taken.store(true, Ordering::SeqCst);
                                let s2 = s.clone();
                                cx.spawn_counted(&sp, move |cx| {
                                    s2.lock().unwrap().push((
                                        cx.priority(),
                                        cx.label(),
                                        cx.frame(),
                                    ));
                                });
                                (
                                    (cx.priority(), cx.label(), cx.frame()),
                                    thread::current().id() != here,
                                )
                            },
                        );
                        assert_eq!(elsewhere, steal, "b ran elsewhere: {elsewhere}");
                        s.lock().unwrap().push(a);
                        s.lock().unwrap().push(b);
                    })
                    .with_priority(prio)
                    .with_label(label)
                    .in_frame(77),
                );
                poll_zero(&done, 30);
                system.wait(&done).expect("no panic");
                poll_zero(&spawned, 30);
                let seen = seen.lock().unwrap();
                assert_eq!(seen.len(), 3);
                for &(p, l, f) in seen.iter() {
                    assert_eq!(
                        (p, l, f),
                        (prio, label, Some(77)),
                        "workers {workers}, {prio:?}"
                    );
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// worker_stack_size
// ---------------------------------------------------------------------------------------------

/// Out-of-range stack sizes are a `ConfigError::StackSize` naming the value and the range, not a
/// panic: 0, 1, 64 KiB - 1, 1 GiB + 1, `usize::MAX`.
#[test]
fn stack_sizes_out_of_range_are_config_errors() {
    for bytes in [0, 1, (64 << 10) - 1, (1 << 30) + 1, usize::MAX] {
        let err = JobSystem::new(config(1).worker_stack_size(bytes))
            .expect_err("out of range must be refused");
        assert_eq!(err, ConfigError::StackSize(bytes));
        let text = err.to_string();
        assert!(
            text.contains(&bytes.to_string()) && text.contains("65536 to 1073741824"),
            "{text}"
        );
    }
    assert_eq!(Config::MIN_STACK_SIZE, 64 << 10);
    assert_eq!(Config::MAX_STACK_SIZE, 1 << 30);
}

/// The smallest allowed stack, 64 KiB, in this (debug) build: workers run joins, survive a
/// panicking job, a panicking half on either side and a panic coming out of a nested join.
/// Expected: no stack overflow (the docs: below 64 KiB "the executor's own frames and a panic's
/// unwinding leave little or nothing for jobs", so 64 KiB must leave enough for these).
#[test]
fn the_smallest_stack_runs_joins_and_survives_panics() {
    in_child(
        "the_smallest_stack_runs_joins_and_survives_panics",
        60,
        || {
            let system = JobSystem::new(
                config(2)
                    .help_while_waiting(false)
                    .worker_stack_size(Config::MIN_STACK_SIZE),
            )
            .expect("64 KiB is allowed");
            run_job(&system, 30, |cx| assert_eq!(tree(cx, 8), 256));
            assert_eq!(run_panicking_job(&system, 30, |_| panic!("plain")), "plain");
            assert_eq!(
                run_panicking_job(&system, 30, |cx| {
                    cx.join(|_| panic!("in a"), |_| ());
                }),
                "in a"
            );
            assert_eq!(
                run_panicking_job(&system, 30, |cx| {
                    let started = AtomicBool::new(false);
                    cx.join(
                        |_| {
                            spin_until(Duration::from_secs(5), || started.load(Ordering::SeqCst));
                        },
                        |_| {
                            started.store(true, Ordering::SeqCst);
                            panic!("in b")
                        },
                    );
                }),
                "in b"
            );
            assert_eq!(
                run_panicking_job(&system, 30, |cx| {
                    fn nest(cx: &mut Context<'_>, d: u32) {
                        if d == 0 {
                            panic!("deep");
                        }
                        cx.join(|cx| nest(cx, d - 1), |_| ());
                    }
                    nest(cx, 8);
                }),
                "deep"
            );
            run_job(&system, 30, |cx| assert_eq!(tree(cx, 8), 256));
        },
    );
}

/// The largest allowed stack, 1 GiB, is accepted and works; with many workers (64 GiB of
/// address space) `new` either works or returns `ConfigError::Spawn`, never panics or aborts.
#[test]
fn the_largest_stack_works_or_is_an_error() {
    in_child("the_largest_stack_works_or_is_an_error", 120, || {
        let system = JobSystem::new(config(2).worker_stack_size(Config::MAX_STACK_SIZE))
            .expect("1 GiB is allowed");
        run_job(&system, 30, |cx| assert_eq!(left_chain(cx, 2000), 2000));
        drop(system);
        match JobSystem::new(config(64).worker_stack_size(Config::MAX_STACK_SIZE)) {
            Ok(system) => {
                run_job(&system, 60, |cx| assert_eq!(tree(cx, 10), 1024));
            }
            Err(ConfigError::Spawn(why)) => eprintln!("64 x 1 GiB refused: {why}"),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    });
}

/// A job pinned to the main thread joins in `run_pinned` while both workers are awake and idle
/// (they spin for up to 1 s looking for work); `a` waits up to 3 s for one of them to take `b`.
/// Since 5fadf53 the docs say so: on a thread that "runs only its pinned jobs now (inside
/// `run_pinned`), both halves run here, one after the other". Expected: nobody takes `b`; it
/// runs after `a` on the main thread. (At 90f5ecd the docs promised that an idle worker could
/// take it: this was a finding of this suite then.)
#[test]
fn a_pinned_jobs_join_inside_run_pinned_stays_on_its_thread() {
    watchdog(60, || {
        let system =
            JobSystem::new(config(2).spin_before_sleep(Duration::from_secs(1))).expect("valid");
        let done = system.counter();
        let report = Arc::new(Mutex::new(None));
        let r = report.clone();
        // Wake the workers: they then spin for a second looking for work.
        let warm = system.counter();
        for _ in 0..4 {
            system.submit_counted(&warm, Job::from_fn(|_| {}));
        }
        poll_zero(&warm, 10);
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let taken = AtomicBool::new(false);
                let (t, b_on_main) = cx.join(
                    |_| spin_until(Duration::from_secs(3), || taken.load(Ordering::SeqCst)),
                    |cx| {
                        taken.store(true, Ordering::SeqCst);
                        cx.on_main_thread()
                    },
                );
                *r.lock().unwrap() = Some((t, b_on_main));
            })
            .pinned_to_main(),
        );
        assert_eq!(system.run_pinned(), Ok(1));
        assert_eq!(
            *report.lock().unwrap(),
            Some((false, true)),
            "(taken by a worker within 3 s, b ran on the main thread)"
        );
    });
}

/// `a` spawns detached jobs (onto this thread's own queue, above `b`) before it returns: with
/// one worker and nobody else (`b` and the spawned jobs all run on the joining thread) and with
/// two workers. Expected: `b` runs exactly once, every spawned job runs, `join` returns.
#[test]
fn a_spawns_detached_jobs_above_b() {
    for workers in [1usize, 2] {
        watchdog(60, move || {
            let system = quiet_system(workers);
            let spawned = system.counter();
            let ran = Arc::new(AtomicUsize::new(0));
            let b_runs = Arc::new(AtomicUsize::new(0));
            let (sp, r, br) = (spawned.clone(), ran.clone(), b_runs.clone());
            run_job(&system, 30, move |cx| {
                let (x, y) = cx.join(
                    |cx| {
                        for _ in 0..100 {
                            let r = r.clone();
                            cx.spawn_counted(&sp, move |cx| {
                                r.fetch_add(1, Ordering::SeqCst);
                                let _ = tree(cx, 2);
                            });
                        }
                        1
                    },
                    |cx| {
                        br.fetch_add(1, Ordering::SeqCst);
                        tree(cx, 4)
                    },
                );
                assert_eq!((x, y), (1, 16));
            });
            poll_zero(&spawned, 30);
            assert_eq!(ran.load(Ordering::SeqCst), 100);
            assert_eq!(b_runs.load(Ordering::SeqCst), 1);
        });
    }
}

/// The smallest stack (64 KiB) with `RUST_BACKTRACE=1`, as a developer often runs: the panic
/// hook prints a backtrace on the panicking worker's stack. A panicking job, a panic in `b` on
/// another worker, a panic deep in nested joins, and a panicking blocking call on an I/O thread
/// (whose stack is also `worker_stack_size`). Expected: every panic is reported, no stack
/// overflow.
#[test]
fn the_smallest_stack_survives_panics_with_backtraces_on() {
    let name = "the_smallest_stack_survives_panics_with_backtraces_on";
    let output = isolated_with(name, 120, "1", || {
        watchdog(90, || {
            let system = JobSystem::new(
                config(2)
                    .help_while_waiting(false)
                    .worker_stack_size(Config::MIN_STACK_SIZE),
            )
            .expect("64 KiB is allowed");
            assert_eq!(run_panicking_job(&system, 30, |_| panic!("plain")), "plain");
            assert_eq!(
                run_panicking_job(&system, 30, |cx| {
                    let started = AtomicBool::new(false);
                    cx.join(
                        |_| {
                            spin_until(Duration::from_secs(5), || started.load(Ordering::SeqCst));
                        },
                        |_| {
                            started.store(true, Ordering::SeqCst);
                            panic!("in b")
                        },
                    );
                }),
                "in b"
            );
            assert_eq!(
                run_panicking_job(&system, 30, |cx| {
                    fn nest(cx: &mut Context<'_>, d: u32) {
                        if d == 0 {
                            panic!("deep");
                        }
                        cx.join(|cx| nest(cx, d - 1), |_| ());
                    }
                    nest(cx, 8);
                }),
                "deep"
            );
            let done = system.counter();
            system.submit_counted(
                &done,
                Job::new(0u32, |_, _| {
                    Action::Blocking(|_| panic!("blocking"), |_, _| Action::Done)
                }),
            );
            poll_zero(&done, 30);
            assert_eq!(panic_message(system.wait(&done)), "blocking");
        });
    });
    assert_child_passed(name, output);
}

/// One worker, no help, and the joining thread's own queue is flooded first (`a` is called
/// after the job spawned 200,000 detached jobs, more than any fixed deque holds): `b` blocks
/// on a gate only `a` opens. The docs: "`a` runs here at once, while `b` waits in this
/// thread's own deque ... if nobody did, `b` runs here next". Expected: `a` runs first whatever
/// the queue holds, so `b` passes the gate; no deadlock.
#[test]
fn a_runs_first_even_when_the_queue_is_full() {
    watchdog(120, || {
        let system = quiet_system(1);
        let spawned = system.counter();
        let ran = Arc::new(AtomicUsize::new(0));
        let (sp, r) = (spawned.clone(), ran.clone());
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        run_job(&system, 100, move |cx| {
            for _ in 0..200_000 {
                let r = r.clone();
                cx.spawn_counted(&sp, move |_| {
                    r.fetch_add(1, Ordering::Relaxed);
                });
            }
            let gate = Gate::default();
            let (g1, g2) = (gate.clone(), gate);
            let (o1, o2) = (o.clone(), o);
            cx.join(
                move |_| {
                    o1.lock().unwrap().push('a');
                    g1.open();
                },
                move |_| {
                    o2.lock().unwrap().push('b');
                    assert!(
                        poll_until(5, || g2.is_open()),
                        "b ran before a opened the gate"
                    );
                },
            );
        });
        poll_zero(&spawned, 100);
        assert_eq!(ran.load(Ordering::Relaxed), 200_000);
        assert_eq!(*order.lock().unwrap(), vec!['a', 'b']);
    });
}

/// The same inside the spawn closure of `Action::Spawn`: 100,000 children fill the spawner's
/// deque (children that find it full run at once), then a join through `Spawner::context()`,
/// `b` blocking on what `a` releases. Expected: `a` first, no deadlock, every child ran once.
#[test]
fn a_runs_first_after_a_spawner_filled_the_queue() {
    struct Parent {
        hits: Vec<u8>,
        order: Vec<char>,
    }
    fn step(_: &mut Parent, _: &mut Context<'_>) -> Action<Parent> {
        Action::Spawn(
            |p, s: &mut Spawner<'_, '_>| {
                for hit in p.hits.iter_mut() {
                    s.spawn(move |_| *hit += 1);
                }
                let order = &mut p.order;
                let mut cx = s.context();
                let gate = Gate::default();
                let (g1, g2) = (gate.clone(), gate);
                let (x, y) = cx.join(
                    move |_| {
                        g1.open();
                        'a'
                    },
                    move |_| {
                        assert!(poll_until(5, || g2.is_open()), "b ran before a");
                        'b'
                    },
                );
                order.extend([x, y]);
            },
            |p, _| {
                assert!(p.hits.iter().all(|&h| h == 1));
                assert_eq!(p.order, vec!['a', 'b']);
                Action::Done
            },
        )
    }
    watchdog(120, || {
        let system = quiet_system(1);
        run_job(&system, 100, |cx| {
            let _ = cx;
        });
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::new(
                Parent {
                    hits: vec![0; 100_000],
                    order: Vec::new(),
                },
                step,
            ),
        );
        poll_zero(&done, 100);
        system.wait(&done).expect("no panic");
    });
}

/// One worker, no help: `a` waits (`JobSystem::wait`) for a job that needs a gate only `b`
/// opens; `b` (run inside `a`'s wait, from this thread's own queue) opens it and then panics.
/// Expected: `a`'s wait is not disturbed by `b`'s panic (its counter's job did not panic), and
/// `b`'s panic comes out of `join` after `a` returned.
#[test]
fn b_panicking_inside_as_wait_comes_out_of_join_not_the_wait() {
    watchdog(60, || {
        let system = Arc::new(quiet_system(1));
        let report = Arc::new(Mutex::new(None));
        let (s, r) = (system.clone(), report.clone());
        let message = run_panicking_job(&system, 30, move |cx| {
            let gate = Gate::default();
            let blocked = s.counter();
            let g = gate.clone();
            cx.spawn_counted(&blocked, move |_| g.wait());
            cx.join(
                |_| {
                    let waited = s
                        .wait_timeout(&blocked, Duration::from_secs(5))
                        .map_err(|e| e.message().to_owned());
                    *r.lock().unwrap() = Some(waited);
                },
                |_| {
                    gate.open();
                    panic!("b after opening")
                },
            );
        });
        assert_eq!(message, "b after opening");
        assert_eq!(*report.lock().unwrap(), Some(Ok(true)));
    });
}

/// Many panics in one tree of joins spread over threads (2 workers and the main thread
/// helping): every 7th leaf panics. Exactly one panic reaches the waiter, and every other
/// panic that happened is counted in `Stats::unobserved_panics` ("no panic is silently lost"):
/// reported + counted == leaves that panicked. Repeated over several rounds.
#[test]
fn every_panic_in_a_tree_of_joins_is_reported_or_counted() {
    fn leafy(cx: &mut Context<'_>, lo: u32, hi: u32, panicked: &AtomicUsize) -> u64 {
        if hi - lo == 1 {
            if lo % 7 == 3 {
                panicked.fetch_add(1, Ordering::SeqCst);
                panic!("leaf {lo}");
            }
            return 1;
        }
        let mid = (lo + hi) / 2;
        let (l, r) = cx.join(
            |cx| leafy(cx, lo, mid, panicked),
            |cx| leafy(cx, mid, hi, panicked),
        );
        l + r
    }
    watchdog(120, || {
        let system = system(2);
        let rounds = if cfg!(miri) { 1 } else { 30 };
        for round in 0..rounds {
            let before = system.stats().unobserved_panics;
            let panicked = Arc::new(AtomicUsize::new(0));
            let p = panicked.clone();
            let done = system.counter();
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    leafy(cx, 0, if cfg!(miri) { 32 } else { 1024 }, &p);
                }),
            );
            let message = panic_message(system.wait(&done));
            assert!(message.starts_with("leaf "), "{message}");
            let happened = panicked.load(Ordering::SeqCst) as u64;
            assert!(
                poll_until(10, || system.stats().unobserved_panics - before + 1
                    == happened),
                "round {round}: {happened} leaves panicked, 1 reported, {} counted",
                system.stats().unobserved_panics - before
            );
        }
    });
}

/// Stack sizes inside the range that are not a multiple of the page size are accepted and work.
#[test]
fn odd_stack_sizes_in_range_work() {
    watchdog(60, || {
        for bytes in [
            Config::MIN_STACK_SIZE + 1,
            100_003,
            Config::MAX_STACK_SIZE - 1,
        ] {
            let system = JobSystem::new(config(1).worker_stack_size(bytes)).expect("in range");
            run_job(&system, 30, |cx| assert_eq!(tree(cx, 6), 64));
        }
    });
}

/// Uses about `kib` KiB of stack (1 KiB a frame), so that a too-small stack overflows.
fn burn_stack(kib: usize) -> u64 {
    let frame = std::hint::black_box([kib as u8; 1024]);
    if kib == 0 {
        return u64::from(frame[0]);
    }
    burn_stack(kib - 1) + u64::from(std::hint::black_box(frame)[1023])
}

/// The docs of `worker_stack_size`: 2 MiB (the default) hold "a thousand [levels of nested
/// join] in debug". Expected: 1,000 nested joins through `a` and through `b` fit the default
/// stack of this debug build (the test thread not helping, so only workers run them).
#[test]
fn a_thousand_nested_joins_fit_the_default_stack_in_debug() {
    in_child(
        "a_thousand_nested_joins_fit_the_default_stack_in_debug",
        60,
        || {
            let system = quiet_system(2);
            run_job(&system, 30, |cx| assert_eq!(left_chain(cx, 1000), 1000));
            run_job(&system, 30, |cx| assert_eq!(right_chain(cx, 1000), 1000));
        },
    );
}

/// The docs of `worker_stack_size`: "The stack size of each worker (and I/O) thread". A
/// blocking call (run on an I/O thread) recursing 4,096 frames of over 1 KiB (over 4 MiB, more than a default stack), with
/// `worker_stack_size` at 64 MiB; the same recursion in a job on a worker is the control.
/// Expected: no overflow on either.
#[test]
fn worker_stack_size_also_sizes_the_io_threads() {
    in_child("worker_stack_size_also_sizes_the_io_threads", 60, || {
        let system = JobSystem::new(config(1).worker_stack_size(64 << 20)).expect("valid");
        // The control: the same recursion in a job, on a worker, fits.
        run_job(&system, 30, |_| assert!(burn_stack(4 << 10) > 0));
        eprintln!("the worker ran it");
        let done = system.counter();
        let out = Arc::new(AtomicUsize::new(0));
        let o = out.clone();
        system.submit_counted(
            &done,
            Job::new(o, |_, _| {
                Action::Blocking(
                    |o| {
                        o.store(burn_stack(4 << 10) as usize + 1, Ordering::SeqCst);
                    },
                    |_, _| Action::Done,
                )
            }),
        );
        poll_zero(&done, 30);
        system.wait(&done).expect("no panic");
        assert!(out.load(Ordering::SeqCst) > 0);
    });
}

/// Calls back into the system when dropped: submits jobs and waits for them (running them on
/// this thread if it helps).
struct WaitsWhenDropped(Arc<JobSystem>, Arc<AtomicUsize>);

impl Drop for WaitsWhenDropped {
    fn drop(&mut self) {
        let counter = self.0.counter();
        for _ in 0..4 {
            let ran = self.1.clone();
            self.0.submit_counted(
                &counter,
                Job::from_fn(move |cx| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    let _ = tree(cx, 3);
                }),
            );
        }
        let _ = self.0.wait_timeout(&counter, Duration::from_secs(20));
    }
}

/// `a` panics and nobody can take `b`, whose capture, when `join` drops it unrun, submits jobs
/// and waits for them (running them on the joining thread: one worker, the test thread does
/// not help); and `b` panics while `a`'s result does the same when dropped. Expected: the
/// half's panic comes out of `join`, the jobs submitted from the drops all ran, no hang.
#[test]
fn values_join_drops_may_call_back_into_the_system() {
    watchdog(60, || {
        let system = Arc::new(quiet_system(1));
        let ran = Arc::new(AtomicUsize::new(0));
        let (s, r) = (system.clone(), ran.clone());
        let message = run_panicking_job(&system, 30, move |cx| {
            let capture = WaitsWhenDropped(s, r);
            cx.join(
                |_| panic!("a"),
                move |_| {
                    let _capture = capture;
                },
            );
        });
        assert_eq!(message, "a");
        assert_eq!(ran.load(Ordering::SeqCst), 4);

        let (s, r) = (system.clone(), ran.clone());
        let message = run_panicking_job(&system, 30, move |cx| {
            cx.join(move |_| WaitsWhenDropped(s, r), |_| panic!("b"));
        });
        assert_eq!(message, "b");
        assert_eq!(ran.load(Ordering::SeqCst), 8);
    });
}

/// A value aligned to a page, to catch a half or a result stored without its alignment.
#[repr(align(4096))]
struct PageAligned([u8; 64]);

impl PageAligned {
    fn is_aligned(&self) -> bool {
        (self as *const Self as usize) % 4096 == 0
    }
}

/// Over-aligned captures and results, with `b` run here and elsewhere: `b`'s capture and
/// result cross threads through the joining frame. Expected: every value is intact and at its
/// alignment wherever it is seen.
#[test]
fn over_aligned_captures_and_results_cross_intact() {
    for (workers, steal) in [(1usize, false), (2, true)] {
        watchdog(60, move || {
            let system = quiet_system(workers);
            run_job(&system, 30, move |cx| {
                let rounds = if cfg!(miri) { 2 } else { 50 };
                for i in 0..rounds {
                    let into_a = PageAligned([i as u8; 64]);
                    let into_b = PageAligned([i as u8 + 1; 64]);
                    let taken = AtomicBool::new(false);
                    let taken = &taken;
                    let (ra, rb) = cx.join(
                        |_| {
                            if steal {
                                assert!(spin_until(Duration::from_secs(10), || taken
                                    .load(Ordering::SeqCst)));
                            }
                            assert!(into_a.is_aligned());
                            PageAligned([into_a.0[0] + 10; 64])
                        },
                        move |_| {
                            taken.store(true, Ordering::SeqCst);
                            let b = into_b; // moved in: the capture holds it
                            assert!(b.is_aligned());
                            assert!(b.0.iter().all(|&x| x == i as u8 + 1));
                            PageAligned([b.0[0] + 20; 64])
                        },
                    );
                    assert!(ra.is_aligned() && rb.is_aligned());
                    assert!(ra.0.iter().all(|&x| x == i as u8 + 10));
                    assert!(rb.0.iter().all(|&x| x == i as u8 + 21));
                }
            });
        });
    }
}

/// A panic with a payload that is not a string (`panic_any(42u32)`) in `b`, run here and
/// elsewhere: the very payload comes out of `join`.
#[test]
fn a_non_string_payload_comes_out_of_join_intact() {
    for (workers, steal) in [(1usize, false), (2, true)] {
        watchdog(60, move || {
            let system = quiet_system(workers);
            run_job(&system, 30, move |cx| {
                let taken = AtomicBool::new(false);
                let r = catch_unwind(AssertUnwindSafe(|| {
                    cx.join(
                        |_| {
                            if steal {
                                assert!(spin_until(Duration::from_secs(10), || taken
                                    .load(Ordering::SeqCst)));
                            }
                        },
                        |_| {
                            taken.store(true, Ordering::SeqCst);
                            std::panic::panic_any(42u32)
                        },
                    )
                }));
                let Err(payload) = r else {
                    panic!("b panicked, join returned")
                };
                assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
            });
        });
    }
}

/// Many joins whose `b` is taken by another worker and takes a varying short while, with
/// workers that go to sleep at once (`spin_before_sleep(0)`): the joining worker sleeps and
/// must be woken by every `b` that ends (a lost wake-up hangs, and the watchdog fails it).
#[test]
fn a_sleeping_joiner_is_woken_every_time() {
    watchdog(120, || {
        let system = JobSystem::new(
            config(3)
                .help_while_waiting(false)
                .spin_before_sleep(Duration::ZERO),
        )
        .expect("valid");
        let rounds = if cfg!(miri) { 3 } else { 3000 };
        run_job(&system, 100, move |cx| {
            for i in 0..rounds {
                let started = AtomicBool::new(false);
                let mut out = 0u32;
                cx.join(
                    |_| {
                        // Wait for a thief only part of the time: the rest, b may run here.
                        if i % 2 == 0 {
                            spin_until(Duration::from_secs(5), || started.load(Ordering::SeqCst));
                        }
                    },
                    |_| {
                        started.store(true, Ordering::SeqCst);
                        for _ in 0..(i % 7) * 50 {
                            std::hint::spin_loop();
                        }
                        if i % 11 == 0 {
                            thread::sleep(Duration::from_micros(100));
                        }
                        out = i;
                    },
                );
                assert_eq!(out, i);
            }
        });
    });
}

/// The docs of `worker_stack_size`: 2 MiB "hold about ten thousand levels optimized". In an
/// optimized build (`cargo test --release`; in a debug build this test checks nothing, see
/// `a_thousand_nested_joins_fit_the_default_stack_in_debug`), 9,000 nested joins through `a`
/// and through `b` fit the default stack.
#[test]
fn nine_thousand_nested_joins_fit_the_default_stack_optimized() {
    if cfg!(debug_assertions) || cfg!(miri) {
        return;
    }
    in_child(
        "nine_thousand_nested_joins_fit_the_default_stack_optimized",
        60,
        || {
            let system = quiet_system(2);
            run_job(&system, 30, |cx| assert_eq!(left_chain(cx, 9000), 9000));
            run_job(&system, 30, |cx| assert_eq!(right_chain(cx, 9000), 9000));
        },
    );
}

/// An outside thread runs a job (every worker is busy when it starts); the job joins, `a` frees
/// the worker and waits up to 5 s for `b` to be taken. The thread helps by `help_until`, by
/// `wait`, and by `wait` on a registered thread. The docs (since 5fadf53): `b` "waits in this
/// thread's own deque where an idle worker can take it", except "on a thread that has no deque
/// (a registered thread other than the main thread)", where both halves run here. Expected:
/// the worker takes `b` on the unregistered thread (`help_until`, `wait`: "any thread ... joins
/// the workers for a while"); `b` stays on the registered thread. Actual: on the unregistered
/// thread too nobody takes `b` in 5 s; it runs after `a` there: that thread has no deque
/// either, and the docs do not say so (on the main thread, in
/// `join_in_a_job_the_main_thread_runs_while_it_waits`, the worker does take it). FINDING at
/// fd95afa; since ced6ed8 a thread without a deque offers `b` on the shared queue: a worker
/// takes it on every helping thread, registered or not.
#[test]
fn b_of_a_join_on_a_helping_outside_thread_can_be_taken() {
    let got: Vec<_> = [0usize, 1, 2]
        .into_iter()
        .map(b_of_a_join_on_a_helping_outside_thread)
        .collect();
    assert_eq!(
        got,
        vec![
            Some((true, false)),
            Some((true, false)),
            Some((true, false))
        ],
        "(b taken by the worker, b ran on the helping thread) when the outside thread helps by \
         help_until, wait, wait on a registered thread"
    );
}

fn b_of_a_join_on_a_helping_outside_thread(how: usize) -> Option<(bool, bool)> {
    watchdog(60, move || {
        let system = Arc::new(system(1));
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let done = system.counter();
        let report = Arc::new(Mutex::new(None));
        let (g, r) = (gate.clone(), report.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let taken = AtomicBool::new(false);
                let here = thread::current().id();
                let (t, b_here) = cx.join(
                    |_| {
                        g.open();
                        spin_until(Duration::from_secs(5), || taken.load(Ordering::SeqCst))
                    },
                    |_| {
                        taken.store(true, Ordering::SeqCst);
                        thread::current().id() == here
                    },
                );
                *r.lock().unwrap() = Some((t, b_here));
            }),
        );
        let s = system.clone();
        let d = done.clone();
        thread::spawn(move || match how {
            0 => {
                s.help_until(Instant::now() + Duration::from_millis(200));
            }
            1 => s.wait(&d).expect("no panic"),
            _ => {
                let _registration = s.register_thread().expect("a slot");
                s.wait(&d).expect("no panic");
            }
        })
        .join()
        .expect("the helper");
        poll_zero(&done, 30);
        system.wait(&blocked).expect("gate jobs");
        let got = *report.lock().unwrap();
        got
    })
}

/// A job run by an outside thread in `help_until` spawns detached jobs (onto "this thread's own
/// queue") and the helper's deadline passes; then the helper thread exits. Expected: the
/// workers run the spawned jobs anyway (nothing is stranded on a thread that left).
#[test]
fn jobs_spawned_on_a_helping_thread_are_not_stranded() {
    watchdog(60, || {
        let system = Arc::new(system(1));
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let spawned = system.counter();
        let ran = Arc::new(AtomicUsize::new(0));
        let done = system.counter();
        let (sp, r) = (spawned.clone(), ran.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                for _ in 0..10 {
                    let r = r.clone();
                    cx.spawn_counted(&sp, move |cx| {
                        r.fetch_add(1, Ordering::SeqCst);
                        let _ = tree(cx, 2);
                    });
                }
                let (x, y) = cx.join(|cx| tree(cx, 2), |cx| tree(cx, 2));
                assert_eq!(x + y, 8);
                // Outlast the helper's deadline: it then returns without running more.
                thread::sleep(Duration::from_millis(100));
            }),
        );
        let s = system.clone();
        let ran_here = thread::spawn(move || {
            // Runs the job, whose spawned jobs it may leave behind at its deadline.
            s.help_until(Instant::now() + Duration::from_millis(50))
        })
        .join()
        .expect("the helper");
        eprintln!("the helper ran {ran_here} jobs");
        gate.open();
        assert!(
            poll_until(20, || spawned.is_zero() && done.is_zero()),
            "stranded: {} of 10 spawned jobs ran, the job done: {}",
            ran.load(Ordering::SeqCst),
            done.is_zero()
        );
        system.wait(&blocked).expect("gate jobs");
    });
}

/// While a join on one worker waits for `b` (running on the other worker), the joining worker
/// helps and runs a job that drops the last handle of the system (from inside one of its own
/// jobs: the system detaches). Expected: `b` still finishes, the join returns with `b`'s write,
/// the joining job completes, no hang, no crash.
#[test]
fn dropping_the_system_in_a_job_the_joiner_runs_while_it_waits() {
    in_child(
        "dropping_the_system_in_a_job_the_joiner_runs_while_it_waits",
        60,
        || {
            let system = Arc::new(quiet_system(2));
            let holder = Arc::new(Mutex::new(Some(system.clone())));
            let b_started = Flag::default();
            let report = Arc::new(Mutex::new(None));
            let (bs, r) = (b_started.clone(), report.clone());
            let done = system.counter();
            let joiner = Arc::new(Mutex::new(None));
            let j = joiner.clone();
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    *j.lock().unwrap() = Some(thread::current().id());
                    let mut slot = 0u32;
                    let here = thread::current().id();
                    let started = AtomicBool::new(false);
                    cx.join(
                        |_| {
                            assert!(spin_until(Duration::from_secs(10), || started
                                .load(Ordering::SeqCst)));
                        },
                        |_| {
                            assert_ne!(thread::current().id(), here);
                            started.store(true, Ordering::SeqCst);
                            bs.set();
                            thread::sleep(Duration::from_millis(300));
                            slot = 11;
                        },
                    );
                    *r.lock().unwrap() = Some(slot);
                }),
            );
            assert!(poll_until(30, || b_started.get()));
            // Only the joining worker is free: it runs this while it waits for `b`.
            let ran_on = Arc::new(Mutex::new(None));
            let (h, ro) = (holder.clone(), ran_on.clone());
            system.submit(Job::from_fn(move |_| {
                *ro.lock().unwrap() = Some(thread::current().id());
                let last = h.lock().unwrap().take().expect("the handle");
                assert!(spin_until(Duration::from_secs(10), || Arc::strong_count(
                    &last
                ) == 1));
                drop(last);
            }));
            drop(system);
            assert!(
                poll_until(30, || report.lock().unwrap().is_some()),
                "the joining job never finished"
            );
            assert_eq!(*report.lock().unwrap(), Some(11));
            assert!(poll_until(10, || done.is_zero()));
            eprintln!(
                "the drop ran on the joining worker: {}",
                *ran_on.lock().unwrap() == *joiner.lock().unwrap()
            );
        },
    );
}

/// Since 2a8ac2d a join waiting for its half "runs other jobs of this job's priority or higher
/// until `b` has finished (never a long background job of a lower one)". A High job on the main
/// thread (pinned there, run by the main thread's `wait`) joins; a worker takes `b`, which hands
/// a Normal job to the main thread (`pinned_to_main`: only the main thread can run it) and waits
/// for it (with a 10 s timeout standing in for a plain `wait`, which would hang). The main
/// thread is inside `join`, waiting for `b`. Expected: the main thread runs the job pinned to
/// it (as `WaitOptions::pinned_jobs_at_any_priority` lets a limited wait do), `b`'s wait ends,
/// no deadlock. A priority limit that also holds back the thread's own pinned jobs deadlocks
/// here: `b` waits for the main thread, the main thread for `b`. FINDING at fd95afa (a limit
/// since 2a8ac2d): the job pinned to main did not run while the main thread waited in `join`;
/// `b`'s wait timed out after 10 s (`Ok(false)`; a plain `wait` hangs). Fixed in ced6ed8 (a
/// join runs its thread's pinned jobs at any priority, and limits itself only for the first
/// moments of its wait).
#[test]
fn a_high_join_on_the_main_thread_runs_a_lower_job_pinned_to_it_that_b_waits_for() {
    watchdog(60, || {
        let system = Arc::new(system(1));
        let done = system.counter();
        let report = Arc::new(Mutex::new(None));
        let (s, r) = (system.clone(), report.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                assert!(cx.on_main_thread());
                let taken = AtomicBool::new(false);
                let here = thread::current().id();
                let (t, (elsewhere, waited)) = cx.join(
                    |_| spin_until(Duration::from_secs(10), || taken.load(Ordering::SeqCst)),
                    |_| {
                        taken.store(true, Ordering::SeqCst);
                        let upload = s.counter();
                        s.submit_counted(
                            &upload,
                            Job::from_fn(|cx| assert!(cx.on_main_thread())).pinned_to_main(),
                        );
                        let waited = s
                            .wait_timeout(&upload, Duration::from_secs(10))
                            .map_err(|e| e.message().to_owned());
                        (thread::current().id() != here, waited)
                    },
                );
                *r.lock().unwrap() = Some((t, elsewhere, waited));
            })
            .with_priority(Priority::High)
            .pinned_to_main(),
        );
        system.wait(&done).expect("no panic");
        let got = report.lock().unwrap().take().expect("ran");
        assert_eq!(
            got,
            (true, true, Ok(true)),
            "(b taken by the worker, b ran elsewhere, b's wait for the job pinned to main)"
        );
    });
}

/// The same inversion between a worker and a priority-limited main thread: the main thread
/// waits for a High job with `wait_with(lowest_priority(High))` once the job has started on the
/// only worker; the job joins; `a` spawns a Low job onto the worker's own queue and waits until
/// `b` is taken (the main thread takes it: High is allowed); `b` waits (10 s timeout standing
/// in for a plain `wait`) for the Low job, which the main thread may not run (its own limit,
/// documented to hold for what the jobs it runs call). Expected: the worker, waiting in
/// `join`, runs the Low job `a` left on its own queue (it did before 2a8ac2d), `b`'s wait
/// ends. FINDING at fd95afa: nobody ran it until `b`'s wait gave up after 10 s (`Ok(false)`;
/// with a plain `wait`, a deadlock: the worker waits for `b`, `b` for the Low job, which only
/// the worker may run). Fixed in ced6ed8: the join's own limit lasts only while an idle worker
/// would spin.
#[test]
fn a_high_join_on_a_worker_runs_a_lower_job_its_b_waits_for() {
    watchdog(60, || {
        let system = Arc::new(system(1));
        let frame = system.counter();
        let report = Arc::new(Mutex::new(None));
        let ran_at = Arc::new(Mutex::new(None));
        let started = Flag::default();
        let (s, r, ra2, st) = (
            system.clone(),
            report.clone(),
            ran_at.clone(),
            started.clone(),
        );
        system.submit_counted(
            &frame,
            Job::from_fn(move |cx| {
                let ran_at = ra2;
                st.set();
                assert!(cx.worker_index().is_some());
                let background = s.counter();
                let taken = AtomicBool::new(false);
                let here = thread::current().id();
                let (t, (elsewhere, waited)) = cx.join(
                    |cx| {
                        let ra = ran_at.clone();
                        cx.spawn_job_counted(
                            &background,
                            Job::from_fn(move |cx| {
                                *ra.lock().unwrap() = Some(if cx.on_main_thread() {
                                    "main"
                                } else {
                                    "worker"
                                });
                            })
                            .with_priority(Priority::Low),
                        );
                        spin_until(Duration::from_secs(10), || taken.load(Ordering::SeqCst))
                    },
                    |_| {
                        taken.store(true, Ordering::SeqCst);
                        let waited = s
                            .wait_timeout(&background, Duration::from_secs(10))
                            .map_err(|e| e.message().to_owned());
                        (thread::current().id() != here, waited)
                    },
                );
                *r.lock().unwrap() = Some((t, elsewhere, waited));
            })
            .with_priority(Priority::High),
        );
        // Let the worker start the job, then wait (and help) with the High limit.
        assert!(poll_until(30, || started.get()));
        let options = WaitOptions::new()
            .lowest_priority(Priority::High)
            .timeout(Duration::from_secs(40));
        assert!(system.wait_with(&frame, options).expect("no panic"));
        let got = report.lock().unwrap().take().expect("ran");
        eprintln!("the Low job ran on: {:?}", *ran_at.lock().unwrap());
        assert_eq!(
            got,
            (true, true, Ok(true)),
            "(b taken by the main thread, b ran elsewhere, b's wait for the Low job)"
        );
    });
}

/// The main thread waits with `lowest_priority(High).pinned_jobs_at_any_priority()` and so runs a
/// Low job pinned to it; that job joins and a worker takes `b`, so the main thread waits inside
/// `join`, which may run "jobs of this job's priority or higher" (Low). The outer wait's docs:
/// "The limit also holds for whatever the jobs it runs call". Expected: while it waits in the
/// join, the main thread runs none of the (unpinned) Low jobs queued meanwhile. (What happens:
/// the worker never takes `b` here, within 2 s, so the main thread does not wait inside the
/// join at all; the guard holds either way.)
#[test]
fn a_join_inside_a_limited_wait_keeps_the_waits_limit() {
    watchdog(60, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let low_on_main = Arc::new(AtomicUsize::new(0));
        let low = system.counter();
        for _ in 0..50 {
            let l = low_on_main.clone();
            system.submit_counted(
                &low,
                Job::from_fn(move |cx| {
                    if cx.on_main_thread() {
                        l.fetch_add(1, Ordering::SeqCst);
                    }
                    thread::sleep(Duration::from_millis(2));
                })
                .with_priority(Priority::Low),
            );
        }
        let frame = system.counter();
        let report = Arc::new(Mutex::new(None));
        let (g, r) = (gate.clone(), report.clone());
        system.submit_counted(
            &frame,
            Job::from_fn(move |cx| {
                let taken = AtomicBool::new(false);
                let (t, ()) = cx.join(
                    |_| {
                        g.open();
                        spin_until(Duration::from_secs(2), || taken.load(Ordering::SeqCst))
                    },
                    |_| {
                        taken.store(true, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(100));
                    },
                );
                *r.lock().unwrap() = Some(t);
            })
            .with_priority(Priority::Low)
            .pinned_to_main(),
        );
        let options = WaitOptions::new()
            .lowest_priority(Priority::High)
            .pinned_jobs_at_any_priority()
            .timeout(Duration::from_secs(30));
        assert!(system.wait_with(&frame, options).expect("no panic"));
        let on_main = low_on_main.load(Ordering::SeqCst);
        let taken = report.lock().unwrap().take();
        system.wait(&blocked).expect("gate");
        poll_zero(&low, 30);
        eprintln!("b taken by the worker: {taken:?}");
        assert_eq!(
            on_main, 0,
            "unpinned Low jobs ran on the main thread inside a High-limited wait"
        );
    });
}

/// A High job's join on a worker waits for `b`, which the other worker runs for a while; Low
/// jobs are queued meanwhile. The docs (since ced6ed8): the joining thread runs, "for as long
/// as an idle worker spins, only jobs of this job's priority or higher". With a spin of 1 s,
/// longer than `b` (300 ms), expected: no Low job runs on the joining worker while it waits in
/// `join`; they all run eventually.
#[test]
fn a_high_join_waiting_for_b_runs_no_low_job() {
    watchdog(60, || {
        let system = Arc::new(
            JobSystem::new(
                config(2)
                    .help_while_waiting(false)
                    .spin_before_sleep(Duration::from_secs(1)),
            )
            .expect("valid config"),
        );
        let waiting = Arc::new(Mutex::new(None::<thread::ThreadId>));
        let violations = Arc::new(AtomicUsize::new(0));
        let b_started = Flag::default();
        let done = system.counter();
        let (w, bs) = (waiting.clone(), b_started.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                let started = AtomicBool::new(false);
                cx.join(
                    |_| {
                        assert!(
                            spin_until(Duration::from_secs(10), || started.load(Ordering::SeqCst))
                        );
                        *w.lock().unwrap() = Some(thread::current().id());
                    },
                    |_| {
                        started.store(true, Ordering::SeqCst);
                        bs.set();
                        thread::sleep(Duration::from_millis(300));
                    },
                );
                *w.lock().unwrap() = None;
            })
            .with_priority(Priority::High),
        );
        assert!(poll_until(30, || b_started.get()));
        let low = system.counter();
        for _ in 0..20 {
            let (w, v) = (waiting.clone(), violations.clone());
            system.submit_counted(
                &low,
                Job::from_fn(move |_| {
                    if *w.lock().unwrap() == Some(thread::current().id()) {
                        v.fetch_add(1, Ordering::SeqCst);
                    }
                    thread::sleep(Duration::from_millis(5));
                })
                .with_priority(Priority::Low),
            );
        }
        poll_zero(&done, 30);
        poll_zero(&low, 30);
        assert_eq!(
            violations.load(Ordering::SeqCst),
            0,
            "Low jobs ran on the worker waiting in a High join"
        );
    });
}

/// Joins while the recorder records (halves run here and on other threads, some panicking):
/// recording and stopping work, spans are well formed, and the labelled joining jobs appear.
#[test]
fn joins_while_recording() {
    watchdog(60, || {
        let system = system(2);
        system.start_recording().expect("start");
        let label = Label::new("attack-join-recorded");
        let done = system.counter();
        for i in 0..32u32 {
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        cx.join(
                            |cx| tree(cx, 6),
                            |cx| {
                                if i % 5 == 0 {
                                    panic!("recorded panic");
                                }
                                tree(cx, 6)
                            },
                        )
                    }));
                })
                .with_label(label)
                .in_frame(i),
            );
        }
        system.wait(&done).expect("caught inside");
        let trace = system.stop_recording().expect("stop");
        assert!(trace.spans.iter().all(|s| s.start_ns <= s.end_ns));
        assert!(
            trace.spans.iter().any(|s| s.label == label),
            "no span of the joining jobs"
        );
    });
}

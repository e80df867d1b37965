//! Regression tests for the soundness and liveness findings of outside testing (issue 10): each
//! of these failed (returned early, ran out of range, unwound with jobs still borrowing, hung or
//! aborted) on the code before the fix. Hangs are caught by a watchdog; aborts by running the
//! case in a child process.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{system, watchdog};
use jobs::{Action, Config, Context, Counter, Grain, Job, JobSystem};

/// A batch larger than 2^32 items counted exactly: `parallel_for_chunks` returns only after
/// every chunk ran, even when the item count does not fit a counter's 32 bits (it returned with
/// 3 of 4 chunks done, the 4th then read the freed vector).
#[test]
fn huge_batch_returns_only_after_every_chunk() {
    watchdog(60, || {
        let system = system(2);
        let borrowed = [7u8; 16];
        let chunks = AtomicUsize::new(0);
        let items = AtomicUsize::new(0);
        system
            .parallel_for_chunks(0..1 << 33, Grain::fixed(1 << 31).unwrap(), |chunk| {
                if chunk.start == 3 << 31 {
                    std::thread::sleep(Duration::from_millis(50));
                }
                assert_eq!(borrowed[3], 7);
                items.fetch_add(chunk.len(), Ordering::Relaxed);
                chunks.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        assert_eq!(
            chunks.load(Ordering::Relaxed),
            4,
            "returned before every chunk ran"
        );
        assert_eq!(items.load(Ordering::Relaxed), 1 << 33);
    });
}

/// Just below the old documented limit: 2^32 - 2 items armed the counter and then the runners,
/// carrying into the round bits; `parallel_for` returned at once with the runners still holding
/// the body.
#[test]
fn batch_near_old_counter_limit_is_counted_exactly() {
    watchdog(60, || {
        let system = system(2);
        let calls = AtomicUsize::new(0);
        system
            .parallel_for_chunks(0..(1 << 32) - 2, Grain::fixed(1 << 30).unwrap(), |chunk| {
                std::thread::sleep(Duration::from_millis(10));
                calls.fetch_add(chunk.len(), Ordering::Relaxed);
            })
            .unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), (1 << 32) - 2);
    });
}

/// The batch cursor near `usize::MAX`: every index of the range exactly once, none outside
/// (the claim wrapped: ~10^8 calls with indices outside the range, then a hang).
#[test]
fn batch_cursor_does_not_wrap_near_usize_max() {
    watchdog(20, || {
        let system = system(2);
        for grain in [
            Grain::fixed(4).unwrap(),
            Grain::Auto,
            Grain::fixed(usize::MAX).unwrap(),
        ] {
            let seen = Mutex::new(Vec::new());
            let range = (usize::MAX - 10)..usize::MAX;
            system
                .parallel_for(range.clone(), grain, |i| seen.lock().unwrap().push(i))
                .unwrap();
            let mut seen = seen.into_inner().unwrap();
            seen.sort_unstable();
            assert_eq!(seen, range.clone().collect::<Vec<_>>(), "grain {grain:?}");
            let chunks = Mutex::new(Vec::new());
            system
                .parallel_for_chunks(range.clone(), grain, |c| chunks.lock().unwrap().push(c))
                .unwrap();
            let mut chunks = chunks.into_inner().unwrap();
            chunks.sort_unstable_by_key(|c| c.start);
            let covered: Vec<usize> = chunks.into_iter().flatten().collect();
            assert_eq!(covered, range.collect::<Vec<_>>(), "grain {grain:?}");
        }
    });
}

/// A panic payload whose `Drop` panics too.
struct PanickyPayload;

impl Drop for PanickyPayload {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("the payload's drop panics");
        }
    }
}

/// Two scope jobs panic with payloads whose `Drop` panics: the scope still returns (or
/// re-raises) only after its other job, which reads the caller's frame, has finished.
#[test]
fn scope_waits_for_every_job_even_when_panic_payloads_panic_on_drop() {
    watchdog(30, || {
        let system = system(2);
        for _ in 0..20 {
            let finished = AtomicBool::new(false);
            let borrowed = [1u32; 64];
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                system.scope(|s| {
                    s.spawn(|_| std::panic::panic_any(PanickyPayload));
                    s.spawn(|_| std::panic::panic_any(PanickyPayload));
                    s.spawn(|_| {
                        std::thread::sleep(Duration::from_millis(20));
                        assert_eq!(borrowed.iter().sum::<u32>(), 64);
                        finished.store(true, Ordering::SeqCst);
                    });
                });
            }));
            assert!(outcome.is_err(), "the scope re-raises a job's panic");
            assert!(
                finished.load(Ordering::SeqCst),
                "the scope ended while one of its jobs still read the caller's frame"
            );
            // The payload that came back may itself panic when dropped: the test drops it
            // inside a catch, as a user who knows their payloads would.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(outcome)));
        }
    });
}

/// A payload whose `Drop` calls `JobSystem::wait` (re-entering the executor of the thread that
/// drops it) works: nothing holds the executor's state while a payload is dropped.
#[test]
fn payload_drop_may_wait_on_the_system() {
    struct Waits(Arc<JobSystem>, Counter);
    impl Drop for Waits {
        fn drop(&mut self) {
            let _ = self.0.wait(&self.1);
        }
    }
    watchdog(30, || {
        let system = Arc::new(system(2));
        for _ in 0..20 {
            let counter = system.counter();
            let other = system.counter();
            system.submit_counted(&other, Job::from_fn(|_| {}));
            for _ in 0..2 {
                let payload = Waits(Arc::clone(&system), other.clone());
                system.submit_counted(
                    &counter,
                    Job::from_fn(move |_| std::panic::panic_any(payload)),
                );
            }
            let err = system.wait(&counter).unwrap_err();
            drop(err);
            system.wait(&other).unwrap();
        }
    });
}

/// A panic is never lost: a job panics, its counter reaches zero unobserved, another job is
/// counted on the same counter, and `wait` still reports the panic.
#[test]
fn panic_reaches_the_next_wait_after_the_counter_is_reused() {
    watchdog(20, || {
        let system = system(2);
        let counter = system.counter();
        system.submit_counted(&counter, Job::from_fn(|_| panic!("first round")));
        common::poll_zero(&counter, 10);
        system.submit_counted(&counter, Job::from_fn(|_| {}));
        let err = system
            .wait(&counter)
            .expect_err("the first round's panic was lost");
        assert_eq!(err.message(), "first round");
        // Observed once: the next round is clean.
        system.submit_counted(&counter, Job::from_fn(|_| {}));
        system.wait(&counter).unwrap();
    });
}

/// Work spawned inside a job is not stranded while its owner runs one long step: an idle
/// worker takes the other children. The first child to run blocks until every other child has
/// finished (or 10 s have passed, which fails the test).
#[test]
fn idle_worker_takes_children_while_their_owner_runs_a_long_step() {
    watchdog(60, || {
        let system = system(2);
        for round in 0..20 {
            let done = Counter::new();
            let others = Arc::new(AtomicUsize::new(0));
            let first = Arc::new(AtomicBool::new(false));
            let stranded = Arc::new(AtomicBool::new(false));
            let (o, f, s) = (others.clone(), first.clone(), stranded.clone());
            system.submit_counted(
                &done,
                Job::from_fn(move |cx: &mut Context<'_>| {
                    for _ in 0..8 {
                        let (o, f, s) = (o.clone(), f.clone(), s.clone());
                        cx.spawn_job(Job::from_fn(move |_| {
                            if !f.swap(true, Ordering::SeqCst) {
                                // The first child: a long step on this worker.
                                let deadline = Instant::now() + Duration::from_secs(10);
                                while o.load(Ordering::SeqCst) < 7 {
                                    if Instant::now() > deadline {
                                        s.store(true, Ordering::SeqCst);
                                        return;
                                    }
                                    std::hint::spin_loop();
                                }
                            } else {
                                o.fetch_add(1, Ordering::SeqCst);
                            }
                        }));
                    }
                }),
            );
            common::poll_zero(&done, 30);
            assert!(common::poll_until(30, || others.load(Ordering::SeqCst) == 7));
            assert!(
                !stranded.load(Ordering::SeqCst),
                "round {round}: children stayed in a busy worker's queue for 10 s"
            );
        }
    });
}

/// With `help_while_waiting(false)` and one worker: a parent spawns one child pinned to the
/// main thread, and a long job is queued behind it. The main thread runs the child; the parent
/// it resumes must reach a worker (it used to sit in the main thread's private queue forever).
#[test]
fn parent_resumed_by_the_main_thread_reaches_a_worker() {
    watchdog(20, || {
        let system = JobSystem::new(
            Config::default()
                .workers(1)
                .core_affinity(false)
                .help_while_waiting(false),
        )
        .unwrap();
        struct Parent;
        fn spawn(_: &mut Parent, _cx: &mut Context<'_>) -> Action<Parent> {
            Action::Spawn(
                |_, spawner| spawner.spawn_job(Job::from_fn(|_| {}).pinned_to_main()),
                |_, _| Action::Done,
            )
        }
        let done = system.counter();
        system.submit_counted(&done, Job::new(Parent, spawn));
        let long = system.counter();
        system.submit_counted(
            &long,
            Job::from_fn(|_| std::thread::sleep(Duration::from_millis(300))),
        );
        system.wait(&done).unwrap();
        system.wait(&long).unwrap();
    });
}

/// A job that waits (with `JobSystem::wait`) on the counter of a job further up the same
/// thread's stack can never finish: it gets an error instead of livelocking.
///
/// The main thread does not help here: a helping main thread (waiting on `outer`) could take B
/// itself, and B waiting on `outer` there while A waits for B is a cycle across two threads,
/// which no thread's stack shows (a documented limitation: `wait_timeout` bounds such waits).
/// It did so under ThreadSanitizer's slower timing and hung this test.
#[test]
fn nested_wait_on_a_job_further_up_the_stack_is_an_error() {
    watchdog(20, || {
        let system = Arc::new(
            JobSystem::new(
                Config::default()
                    .workers(1)
                    .core_affinity(false)
                    .help_while_waiting(false),
            )
            .unwrap(),
        );
        let outer = system.counter();
        let inner = system.counter();
        let got = Arc::new(Mutex::new(None));
        let (s, o, i, g) = (system.clone(), outer.clone(), inner.clone(), got.clone());
        system.submit_counted(
            &outer,
            Job::from_fn(move |_| {
                // B waits for `outer`, which counts this very job (A).
                let (s2, o2, g2) = (s.clone(), o.clone(), g.clone());
                s.submit_counted(
                    &i,
                    Job::from_fn(move |_| {
                        *g2.lock().unwrap() = Some(s2.wait(&o2).is_err());
                    }),
                );
                // A waits for B, helping: it runs B on this thread.
                let _ = s.wait(&i);
            }),
        );
        let _ = system.wait(&outer);
        let _ = system.wait(&inner);
        assert_eq!(
            *got.lock().unwrap(),
            Some(true),
            "the inner wait should fail"
        );
    });
}

/// A job that suspends on the counter it is itself counted on is cancelled with an error, not
/// left waiting forever.
#[test]
fn job_waiting_on_its_own_counter_is_cancelled() {
    watchdog(20, || {
        let system = system(2);
        struct Own(Option<Counter>);
        fn wait_own(own: &mut Own, _cx: &mut Context<'_>) -> Action<Own> {
            match own.0.take() {
                Some(counter) => Action::Wait(counter, |_, _| Action::Done),
                None => Action::Done,
            }
        }
        let counter = system.counter();
        system.submit_counted(&counter, Job::new(Own(Some(counter.clone())), wait_own));
        let err = system
            .wait(&counter)
            .expect_err("waiting on its own counter");
        assert!(err.message().contains("deadlock"), "{}", err.message());
    });
}

/// 5,000 jobs each calling `JobSystem::wait` inside a job: the nesting of helping waits is
/// bounded, so no worker's stack overflows (it aborted the process). Run in a child process so
/// that an abort fails this test instead of killing the test binary.
#[test]
fn thousands_of_nested_waits_do_not_overflow_the_stack() {
    if std::env::var_os("JOBS_NESTED_WAIT_CHILD").is_some() {
        let system = Arc::new(system(2));
        let gate = system.counter();
        system.submit_counted(
            &gate,
            Job::from_fn(|_| std::thread::sleep(Duration::from_millis(300))),
        );
        let all = system.counter();
        for _ in 0..5_000 {
            let (s, g) = (system.clone(), gate.clone());
            system.submit_counted(&all, Job::from_fn(move |_| s.wait(&g).unwrap()));
        }
        system.wait(&all).unwrap();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "thousands_of_nested_waits_do_not_overflow_the_stack",
            "--nocapture",
        ])
        .env("JOBS_NESTED_WAIT_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child hung for 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "the child aborted or failed: {status:?}");
}

/// A job pinned to the main thread after that thread has exited (the system lives on, shared
/// with another thread) is cancelled with an error naming why, instead of waiting forever; so
/// are pinned jobs still queued when it exits.
#[test]
fn jobs_pinned_to_an_exited_main_thread_are_cancelled() {
    watchdog(20, || {
        let (system, queued) = std::thread::spawn(|| {
            let system = Arc::new(system(2));
            let queued = system.counter();
            system.submit_counted(&queued, Job::from_fn(|_| {}).pinned_to_main());
            (system, queued)
        })
        .join()
        .unwrap();
        let err = system.wait(&queued).expect_err("never ran");
        assert!(err.message().contains("exited"), "{}", err.message());
        let later = system.counter();
        system.submit_counted(&later, Job::from_fn(|_| {}).pinned_to_main());
        let err = system.wait(&later).expect_err("never ran");
        assert!(err.message().contains("exited"), "{}", err.message());
    });
}

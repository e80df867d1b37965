//! Threads other than the workers: threads registered to take pinned jobs (a render thread,
//! an audio thread), the main thread running its pinned jobs while it paces a frame
//! (`run_pinned_until`), an outside thread helping for a while (`help_until`), and waits with a
//! deadline or a lowest priority (`wait_with`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use common::{occupy_workers, system, watchdog, Gate};
use jobs::{
    Action, Config, Context, Job, JobSystem, NotRegistered, Priority, RegisterError, WaitOptions,
    MAX_REGISTERED_THREADS,
};

/// Thread ids where each job ran.
type Ran = Arc<Mutex<Vec<ThreadId>>>;

fn note(ran: &Ran) -> impl FnOnce(&mut Context<'_>) + Send + 'static {
    let ran = ran.clone();
    move |_| ran.lock().unwrap().push(std::thread::current().id())
}

#[test]
fn jobs_pinned_to_a_registered_thread_run_only_there() {
    watchdog(30, || {
        let system = system(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                let render = system.register_thread().unwrap();
                let me = std::thread::current().id();
                let ran = Ran::default();
                let counter = system.counter();
                for _ in 0..50 {
                    system.submit_counted(
                        &counter,
                        Job::from_fn(note(&ran)).pinned_to(render.thread()),
                    );
                    // Ordinary jobs of the same counter run anywhere.
                    system.submit_counted(&counter, Job::from_fn(|_| {}));
                }
                system.wait(&counter).unwrap();
                let ran = ran.lock().unwrap();
                assert_eq!(ran.len(), 50);
                assert!(ran.iter().all(|&id| id == me));
            });
        });
    });
}

#[test]
fn jobs_pinned_from_a_worker_reach_the_registered_thread_and_resume_there() {
    // A job pinned to the render thread that suspends (spawns children on workers) continues
    // there, every step.
    struct Draw {
        ran: Ran,
        parts: [u32; 4],
    }
    fn draw(d: &mut Draw, _: &mut Context<'_>) -> Action<Draw> {
        d.ran.lock().unwrap().push(std::thread::current().id());
        Action::Spawn(
            |d, spawner| {
                for part in &mut d.parts {
                    spawner.spawn(move |_| *part = 1);
                }
            },
            submit,
        )
    }
    fn submit(d: &mut Draw, _: &mut Context<'_>) -> Action<Draw> {
        d.ran.lock().unwrap().push(std::thread::current().id());
        assert_eq!(d.parts, [1; 4]);
        Action::Done
    }
    watchdog(30, || {
        let system = system(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                let render = system.register_thread().unwrap();
                let thread = render.thread();
                let me = std::thread::current().id();
                let ran = Ran::default();
                let counter = system.counter();
                let r = ran.clone();
                let frame = system.counter();
                let f = frame.clone();
                // A worker job pins the draw to the render thread.
                system.submit_counted(
                    &counter,
                    Job::from_fn(move |cx| {
                        cx.spawn_job_counted(
                            &f,
                            Job::new(
                                Draw {
                                    ran: r,
                                    parts: [0; 4],
                                },
                                draw,
                            )
                            .pinned_to(thread),
                        )
                    }),
                );
                system.wait(&counter).unwrap();
                system.wait(&frame).unwrap();
                let ran = ran.lock().unwrap();
                assert_eq!(ran.len(), 2);
                assert!(ran.iter().all(|&id| id == me));
            });
        });
    });
}

#[test]
fn run_pinned_runs_a_registered_threads_jobs_and_refuses_other_threads() {
    watchdog(30, || {
        let system = system(1);
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(system.run_pinned(), Err(NotRegistered));
                let audio = system.register_thread().unwrap();
                let ran = Ran::default();
                for _ in 0..5 {
                    system.submit(Job::from_fn(note(&ran)).pinned_to(audio.thread()));
                }
                // The main thread's run_pinned does not take them.
                assert_eq!(ran.lock().unwrap().len(), 0);
                assert_eq!(system.run_pinned(), Ok(5));
                assert_eq!(ran.lock().unwrap().len(), 5);
            });
        });
        assert_eq!(system.run_pinned(), Ok(0));
    });
}

#[test]
fn registration_errors_name_the_reason() {
    watchdog(60, || {
        let system = system(1);
        assert_eq!(
            system.register_thread().err(),
            Some(RegisterError::AlreadyRegistered)
        );
        // A worker cannot register (this wait does not run the job on the main thread).
        let system = JobSystem::new(
            Config::default()
                .workers(1)
                .core_affinity(false)
                .help_while_waiting(false),
        )
        .unwrap();
        let (tx, rx) = mpsc::channel();
        let system = Arc::new(system);
        let inside = system.clone();
        let counter = system.counter();
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| {
                let _ = tx.send(inside.register_thread().err());
            }),
        );
        system.wait(&counter).unwrap();
        assert_eq!(rx.recv().unwrap(), Some(RegisterError::PoolThread));
        std::thread::scope(|s| {
            s.spawn(|| {
                let first = system.register_thread().unwrap();
                assert_eq!(
                    system.register_thread().err(),
                    Some(RegisterError::AlreadyRegistered)
                );
                drop(first);
                // Unregistered, it may register again (a new slot).
                let _again = system.register_thread().unwrap();
            });
        });
        // Slots are never given twice: after MAX_REGISTERED_THREADS registrations, none is left.
        let mut refused = None;
        for i in 0..MAX_REGISTERED_THREADS + 1 {
            let system = &system;
            let got = std::thread::scope(|s| s.spawn(|| system.register_thread().err()).join());
            if let Some(err) = got.unwrap() {
                refused = Some((i, err));
                break;
            }
        }
        // Two were used above.
        assert_eq!(
            refused,
            Some((MAX_REGISTERED_THREADS - 2, RegisterError::NoSlotLeft))
        );
        let message = RegisterError::NoSlotLeft.to_string();
        assert!(
            message.contains(&MAX_REGISTERED_THREADS.to_string()),
            "{message}"
        );
    });
}

#[test]
fn jobs_pinned_to_a_thread_that_is_gone_finish_with_a_panic_instead_of_hanging() {
    watchdog(30, || {
        let system = system(2);
        let (tx, rx) = mpsc::channel();
        let queued = system.counter();
        let system_ref = &system;
        let queued_ref = &queued;
        std::thread::scope(|s| {
            s.spawn(move || {
                let render = system_ref.register_thread().unwrap();
                // Queued while registered, never run: cancelled when the thread exits.
                system_ref.submit_counted(
                    queued_ref,
                    Job::from_fn(|_| unreachable!()).pinned_to(render.thread()),
                );
                tx.send(render.thread()).unwrap();
                // The registration is leaked: the thread's exit still closes the slot.
                std::mem::forget(render);
            });
        });
        let gone = rx.recv().unwrap();
        let err = system.wait(&queued).unwrap_err();
        assert!(err.to_string().contains("unregistered or exited"), "{err}");
        // Pinned there later: finishes at once with the same reason.
        let later = system.counter();
        system.submit_counted(&later, Job::from_fn(|_| unreachable!()).pinned_to(gone));
        let err = system.wait(&later).unwrap_err();
        assert!(err.to_string().contains("unregistered or exited"), "{err}");
    });
}

#[test]
fn a_pinned_thread_of_another_system_is_refused_not_run_elsewhere() {
    watchdog(30, || {
        let a = system(1);
        let b = system(1);
        std::thread::scope(|s| {
            s.spawn(|| {
                let render_of_a = a.register_thread().unwrap();
                let _render_of_b = b.register_thread().unwrap();
                let counter = b.counter();
                b.submit_counted(
                    &counter,
                    Job::from_fn(|_| unreachable!()).pinned_to(render_of_a.thread()),
                );
                let err = b.wait(&counter).unwrap_err();
                assert!(err.to_string().contains("another job system"), "{err}");
            });
        });
    });
}

#[test]
fn run_pinned_until_runs_jobs_as_they_become_ready_then_returns_at_the_deadline() {
    watchdog(30, || {
        let system = system(2);
        let main = std::thread::current().id();
        let ran = Ran::default();
        let started = Instant::now();
        // Far enough that the worker below reaches its spawn on a loaded machine.
        let deadline = started + Duration::from_millis(500);
        // A worker pins a job to the main thread 10 ms into the wait.
        let r = ran.clone();
        system.submit(Job::from_fn(move |cx| {
            std::thread::sleep(Duration::from_millis(10));
            let r = r.clone();
            cx.spawn_job(Job::from_fn(note(&r)).pinned_to_main());
        }));
        let count = system.run_pinned_until(deadline).unwrap();
        assert!(Instant::now() >= deadline);
        assert_eq!(count, 1);
        assert_eq!(*ran.lock().unwrap(), vec![main]);
        // A deadline already past: runs what is queued, returns at once.
        system.submit(Job::from_fn(|_| {}).pinned_to_main());
        assert_eq!(system.run_pinned_until(Instant::now()), Ok(1));
        // Not a thread that takes pinned jobs.
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(
                    system.run_pinned_until(Instant::now() + Duration::from_millis(1)),
                    Err(NotRegistered)
                )
            });
        });
    });
}

#[test]
fn run_pinned_until_does_not_run_unpinned_jobs() {
    watchdog(30, || {
        // No worker is free: the gate holds the only one.
        let system = system(1);
        let gate = Gate::default();
        let held = occupy_workers(&system, &gate);
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let counter = system.counter();
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| r.store(true, Ordering::SeqCst)),
        );
        system
            .run_pinned_until(Instant::now() + Duration::from_millis(20))
            .unwrap();
        assert!(
            !ran.load(Ordering::SeqCst),
            "an unpinned job ran on the main thread"
        );
        gate.open();
        system.wait(&counter).unwrap();
        system.wait(&held).unwrap();
    });
}

#[test]
fn help_until_lets_an_outside_thread_run_jobs_for_a_while() {
    watchdog(30, || {
        let system = system(1);
        // The only worker is held: only the helper can run the jobs.
        let gate = Gate::default();
        let held = occupy_workers(&system, &gate);
        let done = system.counter();
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let c = count.clone();
            system.submit_counted(
                &done,
                Job::from_fn(move |_| {
                    c.fetch_add(1, Ordering::SeqCst);
                }),
            );
        }
        let helper = std::thread::scope(|s| {
            s.spawn(|| {
                let id = std::thread::current().id();
                let start = Instant::now();
                let ran = system.help_until(start + Duration::from_millis(100));
                assert!(start.elapsed() >= Duration::from_millis(100));
                (id, ran)
            })
            .join()
            .unwrap()
        });
        assert_eq!(helper.1, 100);
        assert_eq!(count.load(Ordering::SeqCst), 100);
        assert!(done.is_zero());
        gate.open();
        system.wait(&held).unwrap();
    });
}

#[test]
fn help_until_with_a_past_deadline_returns_at_once() {
    watchdog(30, || {
        let system = system(1);
        assert_eq!(system.help_until(Instant::now()), 0);
    });
}

#[test]
fn a_wait_for_high_work_runs_no_low_job() {
    watchdog(60, || {
        // One worker, held: whatever runs besides runs on the waiting main thread.
        let system = JobSystem::new(Config::default().workers(1).core_affinity(false)).unwrap();
        let gate = Gate::default();
        let held = occupy_workers(&system, &gate);
        let main = std::thread::current().id();
        let low_ran_here = Arc::new(AtomicBool::new(false));
        let background = system.counter();
        for _ in 0..20 {
            let l = low_ran_here.clone();
            system.submit_counted(
                &background,
                Job::from_fn(move |_| {
                    if std::thread::current().id() == main {
                        l.store(true, Ordering::SeqCst);
                    }
                })
                .with_priority(Priority::Low),
            );
        }
        // Low jobs pinned to the main thread are not taken either.
        let pinned_low = Arc::new(AtomicBool::new(false));
        let p = pinned_low.clone();
        system.submit_counted(
            &background,
            Job::from_fn(move |_| p.store(true, Ordering::SeqCst))
                .with_priority(Priority::Low)
                .pinned_to_main(),
        );
        let frame = system.counter();
        let normal_ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..20 {
            let n = normal_ran.clone();
            let l = low_ran_here.clone();
            let bg = background.clone();
            system.submit_counted(
                &frame,
                Job::from_fn(move |cx| {
                    n.fetch_add(1, Ordering::SeqCst);
                    // Low jobs spawned by the High ones wait too.
                    cx.spawn_job_counted(
                        &bg,
                        Job::from_fn(move |_| {
                            if std::thread::current().id() == main {
                                l.store(true, Ordering::SeqCst);
                            }
                        })
                        .with_priority(Priority::Low),
                    );
                })
                .with_priority(Priority::High),
            );
        }
        let high_only = WaitOptions::new().lowest_priority(Priority::High);
        assert!(system.wait_with(&frame, high_only).unwrap());
        assert_eq!(normal_ran.load(Ordering::SeqCst), 20);
        assert!(
            !low_ran_here.load(Ordering::SeqCst),
            "a Low job ran in a wait for High work"
        );
        assert!(
            !pinned_low.load(Ordering::SeqCst),
            "a pinned Low job ran in a wait for High work"
        );
        assert!(!background.is_zero());
        // A wait without the limit runs them.
        gate.open();
        system.wait(&background).unwrap();
        system.wait(&held).unwrap();
        assert!(pinned_low.load(Ordering::SeqCst));
    });
}

#[test]
fn a_wait_with_a_deadline_returns_false_and_can_be_waited_again() {
    watchdog(30, || {
        let system = JobSystem::new(
            Config::default()
                .workers(1)
                .core_affinity(false)
                .help_while_waiting(false),
        )
        .unwrap();
        let gate = Gate::default();
        let g = gate.clone();
        let counter = system.counter();
        system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
        let start = Instant::now();
        let options = WaitOptions::new().until(start + Duration::from_millis(20));
        assert!(!system.wait_with(&counter, options).unwrap());
        assert!(start.elapsed() >= Duration::from_millis(20));
        // A timeout too long to represent is no timeout.
        gate.open();
        assert!(system
            .wait_with(&counter, WaitOptions::new().timeout(Duration::MAX))
            .unwrap());
    });
}

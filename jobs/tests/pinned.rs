//! Jobs pinned to the main thread (the thread that created the system): they run only there,
//! when it waits or calls `run_pinned`, every step of them, also after they suspend.
//!
//! Each test creates its system inside the watchdog's thread, which is then its main thread.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{poll_until, system, watchdog};
use jobs::{Action, Block, Context, Counter, Job, MemoryError, NotRegistered, Tag};

/// Where each step of a job ran: `(on_main_thread, worker_index, same thread as the test)`.
type Places = Arc<Mutex<Vec<(bool, Option<usize>, bool)>>>;

fn record(places: &Places, cx: &Context<'_>, main: std::thread::ThreadId) {
    places.lock().unwrap().push((
        cx.on_main_thread(),
        cx.worker_index(),
        std::thread::current().id() == main,
    ));
}

fn all_on_main(places: &Places) -> bool {
    places
        .lock()
        .unwrap()
        .iter()
        .all(|&p| p == (true, None, true))
}

#[test]
fn pinned_jobs_run_on_the_main_thread_when_it_waits() {
    watchdog(30, || {
        let system = system(2);
        let main = std::thread::current().id();
        let counter = Counter::new();
        let places = Places::default();
        for _ in 0..50 {
            let p = places.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |cx| record(&p, cx, main)).pinned_to_main(),
            );
        }
        // Ordinary jobs of the same counter run anywhere.
        for _ in 0..50 {
            system.submit_counted(&counter, Job::from_fn(|_| {}));
        }
        assert!(!counter.is_zero());
        system.wait(&counter).unwrap();
        assert_eq!(places.lock().unwrap().len(), 50);
        assert!(all_on_main(&places), "{:?}", places.lock().unwrap());
    });
}

#[test]
fn pinned_jobs_wait_for_the_main_thread() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        system.submit_counted(&counter, Job::from_fn(|_| {}).pinned_to_main());
        // The workers are idle, but may not take it.
        assert!(!poll_until(1, || counter.is_zero()));
        assert_eq!(system.stats().pinned_queued, 1);
        assert_eq!(system.run_pinned(), Ok(1));
        assert!(counter.is_zero());
        assert_eq!(system.stats().pinned_queued, 0);
    });
}

#[test]
fn run_pinned_runs_the_queued_pinned_jobs_and_only_on_the_main_thread() {
    watchdog(30, || {
        let system = system(2);
        let main = std::thread::current().id();
        let places = Places::default();
        assert_eq!(system.run_pinned(), Ok(0));
        for _ in 0..7 {
            let p = places.clone();
            system.submit(Job::from_fn(move |cx| record(&p, cx, main)).pinned_to_main());
        }
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(system.run_pinned(), Err(NotRegistered)));
        });
        assert_eq!(places.lock().unwrap().len(), 0);
        assert_eq!(system.run_pinned(), Ok(7));
        assert_eq!(places.lock().unwrap().len(), 7);
        assert!(all_on_main(&places));
        assert!(NotRegistered.to_string().contains("thread that created"));
    });
}

#[test]
fn pinned_jobs_queued_from_anywhere_reach_the_main_thread() {
    watchdog(30, || {
        let system = system(2);
        let main = std::thread::current().id();
        let places = Places::default();
        let counter = Counter::new();
        // From a worker, through the context.
        let (p, c) = (places.clone(), counter.clone());
        let from_worker = Counter::new();
        system.submit_counted(
            &from_worker,
            Job::from_fn(move |cx| {
                for _ in 0..5 {
                    let p = p.clone();
                    cx.spawn_job_counted(
                        &c,
                        Job::from_fn(move |cx| record(&p, cx, main)).pinned_to_main(),
                    );
                }
            }),
        );
        common::poll_zero(&from_worker, 30);
        // From another thread, and in a batch.
        std::thread::scope(|s| {
            s.spawn(|| {
                let jobs = (0..5).map(|_| {
                    let p = places.clone();
                    Job::from_fn(move |cx| record(&p, cx, main)).pinned_to_main()
                });
                system.submit_batch(&counter, jobs);
            });
        });
        // As children of a job.
        struct S(Places, std::thread::ThreadId);
        system.submit_counted(
            &counter,
            Job::new(S(places.clone(), main), |_, _| {
                Action::Spawn(
                    |s, spawner| {
                        for _ in 0..5 {
                            let (p, main) = (s.0.clone(), s.1);
                            spawner.spawn_job(
                                Job::from_fn(move |cx| record(&p, cx, main)).pinned_to_main(),
                            );
                        }
                    },
                    |_, _| Action::Done,
                )
            }),
        );
        // Not `wait` yet: the parent must spawn on a worker. (Spawned on this thread, pinned
        // jobs can end up on a worker: see the ignored tests below.)
        assert!(poll_until(30, || system.stats().pinned_queued == 15));
        system.wait(&counter).unwrap();
        assert_eq!(places.lock().unwrap().len(), 15);
        assert!(all_on_main(&places), "{:?}", places.lock().unwrap());
    });
}

#[test]
fn every_step_of_a_pinned_job_runs_on_the_main_thread() {
    watchdog(30, || {
        let system = system(2);
        let main = std::thread::current().id();
        let places = Places::default();
        let inputs = Counter::new();
        system.submit_counted(&inputs, Job::from_fn(|_| {}));
        struct P {
            places: Places,
            main: std::thread::ThreadId,
            inputs: Counter,
            child: u32,
        }
        fn start(p: &mut P, cx: &mut Context<'_>) -> Action<P> {
            record(&p.places, cx, p.main);
            Action::Spawn(|p, s| s.spawn(|_| p.child = 1), after_spawn)
        }
        fn after_spawn(p: &mut P, cx: &mut Context<'_>) -> Action<P> {
            assert_eq!(p.child, 1);
            record(&p.places, cx, p.main);
            Action::wait(&p.inputs.clone(), after_wait)
        }
        fn after_wait(p: &mut P, cx: &mut Context<'_>) -> Action<P> {
            record(&p.places, cx, p.main);
            Action::Yield(after_yield)
        }
        fn after_yield(p: &mut P, cx: &mut Context<'_>) -> Action<P> {
            record(&p.places, cx, p.main);
            Action::memory(Tag(5), 8, after_memory)
        }
        fn after_memory(
            p: &mut P,
            cx: &mut Context<'_>,
            b: Result<Block, MemoryError>,
        ) -> Action<P> {
            b.expect("memory");
            record(&p.places, cx, p.main);
            Action::Blocking(
                |p| assert_ne!(std::thread::current().id(), p.main),
                |p, cx| {
                    record(&p.places, cx, p.main);
                    Action::Done
                },
            )
        }
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(
                P {
                    places: places.clone(),
                    main,
                    inputs,
                    child: 0,
                },
                start,
            )
            .pinned_to_main(),
        );
        system.wait(&counter).unwrap();
        assert_eq!(places.lock().unwrap().len(), 6);
        assert!(all_on_main(&places), "{:?}", places.lock().unwrap());
        system.heap().release(Tag(5));
    });
}

#[test]
fn a_thread_that_is_not_the_main_one_never_runs_pinned_jobs() {
    watchdog(30, || {
        let system = system(1);
        let main = std::thread::current().id();
        let places = Places::default();
        let counter = Counter::new();
        for _ in 0..10 {
            let p = places.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |cx| record(&p, cx, main)).pinned_to_main(),
            );
        }
        std::thread::scope(|s| {
            // Another thread waits on the counter: it must leave the pinned jobs to us.
            let waiter = s.spawn(|| system.wait(&counter));
            while !counter.is_zero() {
                system.run_pinned().unwrap();
                std::thread::yield_now();
            }
            waiter.join().unwrap().unwrap();
        });
        assert_eq!(places.lock().unwrap().len(), 10);
        assert!(all_on_main(&places), "{:?}", places.lock().unwrap());
    });
}

/// Pinned jobs spawned by a job that runs on the main thread go to the main thread's private
/// queue; when `run_pinned` (or a wait) ends, that queue is published to the shared queues,
/// and the workers run the pinned jobs (`Local::push` keeps pinned jobs private on the main
/// thread; `Local::maybe_share` and `Local::publish_private` share them like any other job).
#[test]
fn pinned_jobs_spawned_by_a_job_on_the_main_thread_stay_on_the_main_thread() {
    watchdog(30, || {
        let system = system(1);
        let main = std::thread::current().id();
        let places = Places::default();
        let children = Counter::new();
        let (p, c) = (places.clone(), children.clone());
        system.submit(
            Job::from_fn(move |cx| {
                for _ in 0..4 {
                    let p = p.clone();
                    cx.spawn_job_counted(
                        &c,
                        Job::from_fn(move |cx| record(&p, cx, main)).pinned_to_main(),
                    );
                }
            })
            .pinned_to_main(),
        );
        system.run_pinned().unwrap();
        // Give a worker the chance to (wrongly) take them, then run what is left here.
        poll_until(1, || children.is_zero());
        system.wait(&children).unwrap();
        assert_eq!(places.lock().unwrap().len(), 4);
        assert!(all_on_main(&places), "{:?}", places.lock().unwrap());
    });
}

#[test]
fn pinned_children_spawned_while_the_main_thread_waits_stay_on_the_main_thread() {
    watchdog(30, || {
        let system = system(2);
        let main = std::thread::current().id();
        let places = Places::default();
        let counter = Counter::new();
        let children = Counter::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let (p, c, r) = (places.clone(), children.clone(), ran.clone());
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                for _ in 0..8 {
                    let (p, r) = (p.clone(), r.clone());
                    cx.spawn_job_counted(
                        &c,
                        Job::from_fn(move |cx| {
                            record(&p, cx, main);
                            r.fetch_add(1, Ordering::SeqCst);
                        })
                        .pinned_to_main(),
                    );
                }
            })
            .pinned_to_main(),
        );
        system.wait(&counter).unwrap();
        poll_until(1, || children.is_zero());
        system.wait(&children).unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 8);
        assert!(all_on_main(&places), "{:?}", places.lock().unwrap());
    });
}

#[test]
fn a_main_thread_that_does_not_help_runs_only_its_pinned_jobs_and_what_they_spawn_still_runs() {
    watchdog(30, || {
        let system = jobs::JobSystem::new(
            jobs::Config::default()
                .workers(2)
                .core_affinity(false)
                .help_while_waiting(false),
        )
        .expect("valid config");
        let main = std::thread::current().id();
        let on_main = Arc::new(AtomicUsize::new(0));
        let counter = Counter::new();
        for _ in 0..200 {
            let on_main = Arc::clone(&on_main);
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| {
                    if std::thread::current().id() == main {
                        on_main.fetch_add(1, Ordering::SeqCst);
                    }
                }),
            );
        }
        // A pinned job whose children go to the main thread's own queue: they must reach the
        // workers, since the main thread will not run them.
        let children = Arc::new(AtomicUsize::new(0));
        let inner = counter.clone();
        let c = Arc::clone(&children);
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                assert!(cx.on_main_thread());
                for _ in 0..10 {
                    let c = Arc::clone(&c);
                    cx.spawn_job_counted(
                        &inner,
                        Job::from_fn(move |_| {
                            c.fetch_add(1, Ordering::SeqCst);
                        }),
                    );
                }
            })
            .pinned_to_main(),
        );
        system.wait(&counter).expect("no panic");
        assert_eq!(on_main.load(Ordering::SeqCst), 0);
        assert_eq!(children.load(Ordering::SeqCst), 10);
    });
}

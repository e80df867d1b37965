//! A reduced suite of the unsafe core, small enough for Miri (few jobs, one or two unpinned
//! workers):
//!
//! `MIRIFLAGS="-Zmiri-disable-isolation" cargo +nightly miri test -p jobs --test miri`
//!
//! (add `-Zmiri-strict-provenance` to check that no pointer goes through an integer, and
//! `-Zmiri-many-seeds=0..8` to try several thread interleavings). It covers children borrowing
//! the parent's capture, counters and waits (by jobs and by threads), yields, memory blocks,
//! blocking steps on the I/O thread, panics, scopes, `for_each_mut`, pinned jobs (on the main
//! thread and a registered one), shutdown
//! with queued work, and job memory (blocks crossing threads and outliving them in the depot).
//! It also runs as an ordinary test.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{run_tree, DropCount, DropToken, Flag};
use jobs::{Action, Block, Config, Context, Counter, Grain, Job, JobSystem, MemoryError, Tag};

/// `workers` unpinned workers that sleep as soon as they run out of work (spinning is slow
/// under Miri).
fn system(workers: usize) -> JobSystem {
    JobSystem::new(
        Config::default()
            .workers(workers)
            .core_affinity(false)
            .spin_before_sleep(Duration::ZERO),
    )
    .expect("valid config")
}

#[test]
fn children_borrow_the_parent_capture() {
    let system = system(2);
    assert_eq!(run_tree(&system, 3), 8);
    // Children writing disjoint parts of a Vec in the capture, read by the continuation.
    struct S {
        values: Vec<u32>,
        out: Arc<Mutex<Vec<u32>>>,
    }
    let out = Arc::new(Mutex::new(Vec::new()));
    let counter = Counter::new();
    system.submit_counted(
        &counter,
        Job::new(
            S {
                values: vec![0; 6],
                out: out.clone(),
            },
            |_, _| {
                Action::Spawn(
                    |s, spawner| {
                        for (i, chunk) in s.values.chunks_mut(2).enumerate() {
                            spawner.spawn(move |_| chunk.fill(i as u32 + 1));
                        }
                    },
                    |s, _| {
                        *s.out.lock().unwrap() = s.values.clone();
                        Action::Done
                    },
                )
            },
        ),
    );
    system.wait(&counter).unwrap();
    assert_eq!(*out.lock().unwrap(), [1, 1, 2, 2, 3, 3]);
}

#[test]
fn a_spawn_with_no_children_and_a_spawner_batch() {
    let system = system(1);
    struct S {
        hits: Vec<AtomicUsize>,
        ok: Flag,
    }
    let ok = Flag::default();
    let counter = Counter::new();
    system.submit_counted(
        &counter,
        Job::new(
            S {
                hits: (0..10).map(|_| AtomicUsize::new(0)).collect(),
                ok: ok.clone(),
            },
            |_, _| {
                Action::Spawn(
                    |_, _| {},
                    |_, _| {
                        Action::Spawn(
                            |s, spawner| {
                                let hits = &s.hits;
                                spawner.parallel_for(0..10, Grain::fixed(3).unwrap(), move |i| {
                                    hits[i].fetch_add(1, Ordering::Relaxed);
                                });
                            },
                            |s, _| {
                                if s.hits.iter().all(|h| h.load(Ordering::Relaxed) == 1) {
                                    s.ok.set();
                                }
                                Action::Done
                            },
                        )
                    },
                )
            },
        ),
    );
    system.wait(&counter).unwrap();
    assert!(ok.get());
}

#[test]
fn counters_detached_spawns_and_waits() {
    let system = system(2);
    let counter = system.counter();
    let hits = Arc::new(AtomicUsize::new(0));
    for _ in 0..4 {
        let h = hits.clone();
        let inner = counter.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                h.fetch_add(1, Ordering::Relaxed);
                let h = h.clone();
                cx.spawn_job_counted(
                    &inner,
                    Job::from_fn(move |_| {
                        h.fetch_add(1, Ordering::Relaxed);
                    }),
                );
            }),
        );
    }
    // A job waiting on the counter, and one waiting on a counter already at zero.
    struct W(Counter, Arc<AtomicUsize>);
    let done = Counter::new();
    system.submit_counted(
        &done,
        Job::new(W(counter.clone(), hits.clone()), |w, _| {
            Action::wait(&w.0.clone(), |w, _| {
                assert_eq!(w.1.load(Ordering::Relaxed), 8);
                Action::wait(&Counter::new(), |_, _| Action::Done)
            })
        }),
    );
    system.wait(&counter).unwrap();
    system.wait(&done).unwrap();
    assert_eq!(hits.load(Ordering::Relaxed), 8);
    // Another round on the same (pooled) counter, waited on from another thread.
    system.submit_batch(&counter, (0..3).map(|_| Job::from_fn(|_| {})));
    std::thread::scope(|s| {
        s.spawn(|| system.wait(&counter).unwrap());
    });
    assert!(counter.is_zero());
}

#[test]
fn yields_run_again_later() {
    let system = system(1);
    let steps = Arc::new(AtomicUsize::new(0));
    struct Y(u32, Arc<AtomicUsize>);
    fn step(y: &mut Y, _: &mut Context<'_>) -> Action<Y> {
        y.1.fetch_add(1, Ordering::Relaxed);
        if y.0 == 0 {
            return Action::Done;
        }
        y.0 -= 1;
        Action::Yield(step)
    }
    let counter = Counter::new();
    for _ in 0..3 {
        system.submit_counted(&counter, Job::new(Y(3, steps.clone()), step));
    }
    system.wait(&counter).unwrap();
    assert_eq!(steps.load(Ordering::Relaxed), 12);
}

#[test]
fn memory_blocking_and_for_each_mut() {
    let system = system(2);
    struct M {
        bytes: Vec<u8>,
        block: Option<Block>,
    }
    fn with(m: &mut M, _: &mut Context<'_>, block: Result<Block, MemoryError>) -> Action<M> {
        let mut block = block.expect("a block");
        block.as_mut_slice()[..3].copy_from_slice(&m.bytes);
        block.cast_slice_mut::<u32>()[1] = 7;
        m.block = Some(block);
        Action::Blocking(
            |m| {
                // On the I/O thread, with the capture (and the block in it).
                let block = m.block.as_ref().unwrap();
                let copy = block.as_slice()[..3].to_vec();
                m.bytes.extend(copy);
            },
            |m, _| {
                assert_eq!(m.bytes, [1, 2, 3, 1, 2, 3]);
                Action::Yield(|_, _| Action::Done)
            },
        )
    }
    let counter = Counter::new();
    system.submit_counted(
        &counter,
        Job::new(
            M {
                bytes: vec![1, 2, 3],
                block: None,
            },
            |_, _| Action::memory(Tag(1), 32, with),
        ),
    );
    system.wait(&counter).unwrap();
    assert_eq!(system.heap().release(Tag(1)), 1);
    // A bad alignment is an error, not a block.
    assert!(system.heap().allocate_bytes(Tag(2), 8, 3).is_err());
    let reused = system.heap().allocate_bytes(Tag(2), 8, 8).unwrap();
    assert_eq!(
        system.heap().stats().free_chunks,
        0,
        "the released block is reused"
    );
    drop(reused);
    system.heap().release(Tag(2));
    let mut values = vec![0u32; 20];
    system
        .for_each_mut(&mut values, Grain::fixed(3).unwrap(), |i, v| *v = i as u32)
        .unwrap();
    assert!(values.iter().enumerate().all(|(i, &v)| v == i as u32));
}

#[test]
fn panics_reach_counters_parents_and_waiting_jobs() {
    let system = system(2);
    let counter = Counter::new();
    system.submit_counted(&counter, Job::from_fn(|_| panic!("boom")));
    assert_eq!(system.wait(&counter).unwrap_err().message(), "boom");
    // A panicking child cancels its parent; its sibling still ran.
    let continued = Flag::default();
    let sibling = Flag::default();
    struct P(Flag, Flag);
    let parent = Counter::new();
    system.submit_counted(
        &parent,
        Job::new(P(continued.clone(), sibling.clone()), |_, _| {
            Action::Spawn(
                |p, s| {
                    let sibling = &p.1;
                    s.spawn(|_| panic!("child"));
                    s.spawn(move |_| sibling.set());
                },
                |p, _| {
                    p.0.set();
                    Action::Done
                },
            )
        }),
    );
    assert_eq!(system.wait(&parent).unwrap_err().message(), "child");
    assert!(!continued.get());
    assert!(sibling.get());
    // A job waiting on a counter whose job panicked is cancelled with it.
    let waiter = Counter::new();
    system.submit_counted(
        &waiter,
        Job::new(counter.clone(), |c, _| {
            Action::wait(&c.clone(), |_, _| Action::Done)
        }),
    );
    assert_eq!(system.wait(&waiter).unwrap_err().message(), "boom");
    // Panics in a blocking step, in a capture's drop, in a batch.
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("drop");
        }
    }
    let more = Counter::new();
    system.submit_counted(
        &more,
        Job::new((), |_, _| {
            Action::Blocking(|_| panic!("io"), |_, _| Action::Done)
        }),
    );
    assert_eq!(system.wait(&more).unwrap_err().message(), "io");
    system.submit_counted(&more, Job::new(Bomb, |_, _| Action::Done));
    assert_eq!(system.wait(&more).unwrap_err().message(), "drop");
    let err = system
        .parallel_for(0..6, Grain::fixed(2).unwrap(), |i| assert!(i != 3, "item"))
        .unwrap_err();
    assert_eq!(err.message(), "item");
    system.submit(Job::from_fn(|_| panic!("unobserved")));
    let _ = common::poll_until(60, || system.stats().unobserved_panics == 1);
}

#[test]
fn scopes_borrow_the_stack_and_re_raise_panics() {
    let system = system(2);
    let mut slots = [0u32; 4];
    let total = AtomicUsize::new(0);
    system.scope(|s| {
        for (i, slot) in slots.iter_mut().enumerate() {
            let total = &total;
            s.spawn(move |_| {
                *slot = i as u32 + 1;
                // Nested: a scoped job spawns another.
                s.spawn(move |_| {
                    total.fetch_add(1, Ordering::Relaxed);
                });
            });
        }
    });
    assert_eq!(slots, [1, 2, 3, 4]);
    assert_eq!(total.into_inner(), 4);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        system.scope(|s| s.spawn(|_| panic!("scoped")));
    }));
    assert_eq!(
        caught.unwrap_err().downcast_ref::<&str>().copied(),
        Some("scoped")
    );
}

#[test]
fn pinned_jobs_run_on_the_main_thread() {
    let system = system(1);
    let counter = Counter::new();
    let on_main = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let m = on_main.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                if cx.on_main_thread() {
                    m.fetch_add(1, Ordering::SeqCst);
                }
            })
            .pinned_to_main(),
        );
    }
    system.wait(&counter).unwrap();
    let m = on_main.clone();
    system.submit(
        Job::from_fn(move |cx| {
            if cx.on_main_thread() {
                m.fetch_add(1, Ordering::SeqCst);
            }
        })
        .pinned_to_main(),
    );
    assert_eq!(system.run_pinned(), Ok(1));
    assert_eq!(on_main.load(Ordering::SeqCst), 3);
}

#[test]
fn jobs_pinned_to_a_registered_thread_and_cancelled_when_it_leaves() {
    let system = system(1);
    let gone = std::thread::scope(|s| {
        s.spawn(|| {
            let render = system.register_thread().unwrap();
            let here = std::thread::current().id();
            // A pinned parent whose children borrow its capture, resumed on this thread.
            let ran = Arc::new(Mutex::new(Vec::new()));
            let counter = Counter::new();
            let r = ran.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| r.lock().unwrap().push(std::thread::current().id()))
                    .pinned_to(render.thread()),
            );
            system.wait(&counter).unwrap();
            assert_eq!(*ran.lock().unwrap(), vec![here]);
            // Queued, never run: cancelled when the registration drops.
            let queued = Counter::new();
            system.submit_counted(
                &queued,
                Job::from_fn(|_| unreachable!()).pinned_to(render.thread()),
            );
            let thread = render.thread();
            drop(render);
            assert!(system.wait(&queued).is_err());
            thread
        })
        .join()
        .unwrap()
    });
    let later = Counter::new();
    system.submit_counted(&later, Job::from_fn(|_| unreachable!()).pinned_to(gone));
    assert!(system.wait(&later).is_err());
}

#[test]
fn shutdown_runs_queued_work_and_cancels_what_cannot_run() {
    let ran = Arc::new(AtomicUsize::new(0));
    let pinned = Counter::new();
    let waiting = Counter::new();
    let drops = DropCount::default();
    #[allow(dead_code)] // the DropToken is held only for its drop
    struct W(Counter, DropToken);
    {
        let system = system(2);
        for _ in 0..6 {
            let r = ran.clone();
            system.submit(Job::from_fn(move |cx| {
                r.fetch_add(1, Ordering::Relaxed);
                let r = r.clone();
                cx.spawn_job(Job::from_fn(move |_| {
                    r.fetch_add(1, Ordering::Relaxed);
                }));
            }));
        }
        // Left for the main thread at drop: cancelled.
        system.submit_counted(&pinned, Job::from_fn(|_| {}).pinned_to_main());
        // Suspended on that counter: cancelled when the cancellation brings it to zero.
        system.submit_counted(
            &waiting,
            Job::new(W(pinned.clone(), drops.token()), |w, _| {
                Action::wait(&w.0.clone(), |_, _| Action::Done)
            }),
        );
        // A blocking step in flight at drop.
        system.submit(Job::new(ran.clone(), |_, _| {
            Action::Blocking(
                |r| {
                    r.fetch_add(100, Ordering::Relaxed);
                },
                |r, _| {
                    r.fetch_add(1000, Ordering::Relaxed);
                    Action::Done
                },
            )
        }));
    }
    assert_eq!(ran.load(Ordering::Relaxed), 1112);
    assert!(
        pinned.is_zero(),
        "the pinned job left at drop was cancelled"
    );
    assert!(waiting.is_zero(), "its waiter was cancelled in turn");
    assert_eq!(drops.get(), 1);
    let system = system(1);
    assert!(system
        .wait(&waiting)
        .unwrap_err()
        .message()
        .contains("cancelled"));
}

#[test]
fn job_memory_crosses_threads_and_outlives_them() {
    // Jobs of two classes and boxes (too large, too aligned), more than a thread's two
    // magazines and the depot hold (under Miri, 8 jobs of the smallest class a magazine, and 8
    // magazines a depot): created here, dropped on another thread, which exits with its
    // magazines (parked in the depot, where they stay until the process exits: not a leak).
    #[allow(dead_code)] // the tokens are held only for their drop
    #[repr(align(128))]
    struct Aligned(DropToken);
    fn jobs(drops: &DropCount) -> Vec<Job<'static>> {
        let mut jobs = Vec::new();
        for i in 0..140 {
            let t = drops.token();
            jobs.push(Job::from_fn(move |_| drop(t)));
            if i % 10 == 0 {
                let t = (drops.token(), [0u8; 200]);
                jobs.push(Job::from_fn(move |_| drop(t)));
                let t = (drops.token(), [0u8; 1000]);
                jobs.push(Job::from_fn(move |_| drop(t)));
                jobs.push(Job::new(Aligned(drops.token()), |_, _| Action::Done));
            }
        }
        jobs
    }
    let drops = DropCount::default();
    let made = jobs(&drops);
    let count = made.len();
    std::thread::spawn(move || drop(made)).join().unwrap();
    assert_eq!(drops.get(), count);
    // Created again, partly from the depot (workers freeing jobs made here: the other tests).
    drop(jobs(&drops));
    assert_eq!(drops.get(), 2 * count);
    // A capture whose drop panics still gives its block back (else Miri reports it leaked).
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("boom");
        }
    }
    let job = Job::new(Bomb, |_, _| Action::Done);
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(job))).is_err());
}

#[test]
fn the_recorder_collects_while_workers_write() {
    let system = Arc::new(system(2));
    let label = jobs::Label::new("miri-recorded");
    system.start_recording().expect("not recording yet");
    let done = system.counter();
    for i in 0..60u64 {
        let job = Job::from_fn(move |_| {
            std::hint::black_box(i);
        });
        system.submit_counted(&done, job.with_label(label).in_frame(i as u32));
    }
    // A blocking step records on the I/O thread's lane; another thread's wait on a lent one.
    struct Io(u32);
    fn ask(_io: &mut Io, _cx: &mut Context<'_>) -> Action<Io> {
        Action::Blocking(|io: &mut Io| io.0 += 1, |_, _| Action::Done)
    }
    system.submit_counted(&done, Job::new(Io(0), ask).with_label(label));
    let helper = {
        let system = Arc::clone(&system);
        std::thread::spawn(move || {
            let mine = system.counter();
            system.submit_counted(&mine, Job::from_fn(|_| {}).with_label(label));
            system.wait(&mine).expect("no panic");
        })
    };
    // Collected while the workers may still be writing their lanes: at most every span of the
    // run, 60 jobs, the I/O job's three steps (its step, the blocking step, its continuation)
    // and the helper thread's job. An optimized build can finish all of them first.
    let early = system.stop_recording().expect("recording");
    assert!(early.spans.len() <= 64, "{} spans", early.spans.len());
    system.wait(&done).expect("no panic");
    helper.join().expect("the helper thread");
    system.start_recording().expect("stopped");
    let more = system.counter();
    system.submit_batch(
        &more,
        (0..20).map(|_| Job::from_fn(|_| {}).with_label(label)),
    );
    system.wait(&more).expect("no panic");
    let trace = system.stop_recording().expect("recording");
    assert_eq!(trace.spans.len(), 20);
    let mut json = Vec::new();
    trace.write_chrome(&mut json).expect("written to memory");
}

/// Panic payloads are user data dropped inside the executor: one whose `Drop` panics, and one
/// whose `Drop` re-enters the executor with `JobSystem::wait` (Miri checks that no `&mut` to the
/// thread's executor state is alive meanwhile). The scope waits for its borrowing job all the
/// same.
#[test]
fn panic_payloads_that_panic_or_wait_when_dropped() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("payload drop");
            }
        }
    }
    struct WaitsOnDrop(Arc<JobSystem>, Counter);
    impl Drop for WaitsOnDrop {
        fn drop(&mut self) {
            let _ = self.0.wait(&self.1);
        }
    }
    let system = Arc::new(system(2));
    let read = AtomicUsize::new(0);
    let borrowed = [1usize; 4];
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        system.scope(|s| {
            s.spawn(|_| std::panic::panic_any(PanicsOnDrop));
            s.spawn(|_| std::panic::panic_any(PanicsOnDrop));
            s.spawn(|_| {
                read.fetch_add(borrowed.iter().sum(), Ordering::SeqCst);
            });
        })
    }));
    assert_eq!(read.load(Ordering::SeqCst), 4);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(outcome)));
    let counter = system.counter();
    let other = system.counter();
    system.submit_counted(&other, Job::from_fn(|_| {}));
    for _ in 0..2 {
        let payload = WaitsOnDrop(Arc::clone(&system), other.clone());
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| std::panic::panic_any(payload)),
        );
    }
    assert!(system.wait(&counter).is_err());
}

/// Stealing: a job spawns children onto its own deque and then blocks until another worker has
/// run them all (only a thief can). Also a counter reused across rounds with a panic carried to
/// the next wait, and a nested wait from inside a job.
#[test]
fn idle_workers_steal_and_counters_carry_panics_across_rounds() {
    let system = Arc::new(system(2));
    let done = Counter::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    system.submit_counted(
        &done,
        Job::from_fn(move |cx| {
            for _ in 0..3 {
                let r = r.clone();
                cx.spawn_job(Job::from_fn(move |_| {
                    r.fetch_add(1, Ordering::SeqCst);
                }));
            }
            while r.load(Ordering::SeqCst) < 3 {
                std::thread::yield_now();
            }
        }),
    );
    // Not `wait`: this thread must not run the children itself.
    while !done.is_zero() {
        std::thread::yield_now();
    }
    assert_eq!(ran.load(Ordering::SeqCst), 3);

    let counter = system.counter();
    system.submit_counted(&counter, Job::from_fn(|_| panic!("round one")));
    while !counter.is_zero() {
        std::thread::yield_now();
    }
    system.submit_counted(&counter, Job::from_fn(|_| {}));
    assert_eq!(system.wait(&counter).unwrap_err().message(), "round one");

    let outer = system.counter();
    let inner = system.counter();
    let (s, i) = (Arc::clone(&system), inner.clone());
    system.submit_counted(
        &outer,
        Job::from_fn(move |_| {
            s.submit_counted(&i, Job::from_fn(|_| {}));
            s.wait(&i).unwrap();
        }),
    );
    system.wait(&outer).unwrap();
    assert!(inner.is_zero());
}

#[test]
fn for_each_mut_from_a_scope_and_a_spawner_over_borrowed_items() {
    let system = system(2);
    // A scope's batch over the caller's stack, beside a plain scoped job.
    let (mut left, mut right) = (vec![0u32; 9], vec![0u32; 5]);
    system.scope(|s| {
        s.for_each_mut(&mut left, Grain::fixed(2).unwrap(), |i, v| *v = i as u32);
        s.spawn(|_| right.iter_mut().for_each(|v| *v = 7));
    });
    assert_eq!(left, (0..9).collect::<Vec<u32>>());
    assert_eq!(right, vec![7; 5]);
    // A spawner's batch over the parent's capture, read by the continuation.
    struct Items(Vec<u64>);
    fn start(_: &mut Items, _: &mut Context<'_>) -> Action<Items> {
        Action::Spawn(
            |items, spawner| {
                spawner.for_each_mut(&mut items.0, Grain::fixed(3).unwrap(), |i, v| {
                    *v += i as u64
                })
            },
            |items, _| {
                assert!(items.0.iter().enumerate().all(|(i, &v)| v == i as u64 + 1));
                Action::Done
            },
        )
    }
    let done = Counter::new();
    system.submit_counted(&done, Job::new(Items(vec![1; 10]), start));
    system.wait(&done).unwrap();
}

/// `Context::join`: halves on the joining thread's stack, taken by the other worker (whose
/// result is written into the joining frame), the joining worker sleeping until the half ends,
/// and panics of both halves.
#[test]
fn join_halves_borrow_the_stack_and_cross_threads() {
    fn tree(cx: &mut Context<'_>, depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        let (l, r) = cx.join(|cx| tree(cx, depth - 1), |cx| tree(cx, depth - 1));
        l + r
    }
    let system = system(2);
    let mut total = 0;
    system.scope(|s| s.spawn(|cx| total = tree(cx, 4)));
    assert_eq!(total, 16);

    // `b` is taken by the other worker for certain (`a` waits for it to start), writes into
    // the joining frame, and returns a value owning heap memory.
    let mut written = [0u8; 4];
    let mut got = Vec::new();
    system.scope(|s| {
        s.spawn(|cx| {
            let started = std::sync::atomic::AtomicBool::new(false);
            let (_, v) = cx.join(
                |_| {
                    while !started.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                },
                |_| {
                    started.store(true, Ordering::SeqCst);
                    written = [1, 2, 3, 4];
                    vec![7u32; 3]
                },
            );
            got = v;
        })
    });
    assert_eq!(written, [1, 2, 3, 4]);
    assert_eq!(got, vec![7, 7, 7]);

    // Both halves panic, `b` on the other worker: `a`'s panic goes on.
    let done = system.counter();
    system.submit_counted(
        &done,
        Job::from_fn(|cx| {
            let started = std::sync::atomic::AtomicBool::new(false);
            cx.join(
                |_| {
                    while !started.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                    panic!("a")
                },
                |_| {
                    started.store(true, Ordering::SeqCst);
                    panic!("b")
                },
            );
        }),
    );
    assert_eq!(system.wait(&done).unwrap_err().message(), "a");
}

/// Closure children past a full deque run at once inside `spawn` without becoming jobs: they
/// borrow the parent's capture like any child, and one that panics cancels the parent.
#[test]
fn children_run_at_once_on_a_full_deque() {
    let system = JobSystem::new(
        Config::default()
            .workers(1)
            .core_affinity(false)
            .help_while_waiting(false)
            .spin_before_sleep(Duration::ZERO),
    )
    .expect("valid config");
    struct Fan {
        slots: Vec<u32>,
        panic_at: usize,
    }
    for panic_at in [usize::MAX, 1028] {
        let done = Counter::new();
        let sum = Arc::new(AtomicUsize::new(0));
        let s = sum.clone();
        system.submit_counted(
            &done,
            Job::new(
                (
                    Fan {
                        slots: vec![0; 1030],
                        panic_at,
                    },
                    s,
                ),
                |_, _| {
                    Action::Spawn(
                        |(fan, _), spawner| {
                            let panic_at = fan.panic_at;
                            for (i, slot) in fan.slots.iter_mut().enumerate() {
                                spawner.spawn(move |_| {
                                    assert!(i != panic_at, "child {i}");
                                    *slot = 1;
                                });
                            }
                        },
                        |(fan, sum), _| {
                            sum.store(fan.slots.iter().sum::<u32>() as usize, Ordering::SeqCst);
                            Action::Done
                        },
                    )
                },
            ),
        );
        let result = system.wait(&done);
        if panic_at == usize::MAX {
            result.expect("no panic");
            assert_eq!(sum.load(Ordering::SeqCst), 1030);
        } else {
            assert_eq!(result.unwrap_err().message(), "child 1028");
            assert_eq!(sum.load(Ordering::SeqCst), 0, "the parent was cancelled");
        }
    }
}

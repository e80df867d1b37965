//! Every action of the job model, and what the executor promises for each: `Done`, `Spawn`
//! (children borrowing the capture, nested, none at all), `Wait`, `Yield`, `Memory` and
//! `Blocking`, alone and chained in one job.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use common::{
    occupy_workers, poll_zero, run_tree, system, watchdog, DropCount, DropToken, Flag, Gate,
};
use jobs::{
    Action, Block, Config, Context, Counter, Grain, Job, JobSystem, MemoryError, MemoryRequest, Tag,
};

type Log = Arc<Mutex<Vec<&'static str>>>;

fn log(log: &Log, entry: &'static str) {
    log.lock().unwrap().push(entry);
}

#[test]
fn done_finishes_the_job_and_drops_its_capture_once() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        let drops = DropCount::default();
        let steps = Arc::new(AtomicUsize::new(0));
        #[allow(dead_code)] // the DropToken is held only for its drop
        struct C(DropToken, Arc<AtomicUsize>);
        for _ in 0..100 {
            system.submit_counted(
                &counter,
                Job::new(C(drops.token(), steps.clone()), |c, _| {
                    c.1.fetch_add(1, Ordering::SeqCst);
                    Action::Done
                }),
            );
        }
        system.wait(&counter).unwrap();
        assert_eq!(steps.load(Ordering::SeqCst), 100, "each step ran once");
        assert_eq!(drops.get(), 100, "each capture was dropped once");
        assert!(counter.is_zero());
    });
}

#[test]
fn a_job_never_submitted_is_dropped_without_running() {
    let drops = DropCount::default();
    let ran = Flag::default();
    #[allow(dead_code)] // the DropToken is held only for its drop
    struct C(DropToken, Flag);
    let job = Job::new(C(drops.token(), ran.clone()), |c, _| {
        c.1.set();
        Action::Done
    });
    drop(job);
    assert_eq!(drops.get(), 1);
    assert!(!ran.get());
}

#[test]
fn spawned_children_finish_before_the_continuation_and_their_writes_are_visible() {
    watchdog(60, || {
        for workers in [1, 2] {
            let system = system(workers);
            for depth in [0, 1, 5, 12] {
                assert_eq!(
                    run_tree(&system, depth),
                    1 << depth,
                    "{workers} workers, depth {depth}"
                );
            }
        }
    });
}

#[test]
fn children_borrow_the_parent_capture_mutably() {
    watchdog(30, || {
        let system = system(2);
        struct Frame {
            values: Vec<u64>,
            touched_by_children: u32,
            out: common::Slot<(Vec<u64>, u32)>,
        }
        let out = Arc::new(Mutex::new(None));
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(
                Frame {
                    values: (0..1000).collect(),
                    touched_by_children: 0,
                    out: out.clone(),
                },
                |_, _| {
                    Action::Spawn(
                        |f, s| {
                            // Disjoint mutable borrows of two fields of the capture.
                            let touched = &mut f.touched_by_children;
                            s.spawn(move |_| *touched = 7);
                            for chunk in f.values.chunks_mut(64) {
                                s.spawn(move |_| chunk.iter_mut().for_each(|v| *v *= 2));
                            }
                        },
                        |f, _| {
                            *f.out.lock().unwrap() =
                                Some((std::mem::take(&mut f.values), f.touched_by_children));
                            Action::Done
                        },
                    )
                },
            ),
        );
        system.wait(&counter).unwrap();
        let (values, touched) = out.lock().unwrap().take().expect("continuation ran");
        assert_eq!(touched, 7);
        assert!(values.iter().enumerate().all(|(i, &v)| v == 2 * i as u64));
    });
}

/// A chain of nested spawns: each level spawns one child borrowing its `value`, and adds one
/// to what the child wrote.
struct Chain<'a> {
    depth: u32,
    value: u32,
    out: &'a mut u32,
}

fn chain<'a>(c: &mut Chain<'a>, _: &mut Context<'_>) -> Action<Chain<'a>> {
    if c.depth == 0 {
        *c.out = 0;
        return Action::Done;
    }
    Action::Spawn(
        |c, s| {
            s.spawn_job(Job::new(
                Chain {
                    depth: c.depth - 1,
                    value: u32::MAX,
                    out: &mut c.value,
                },
                chain,
            ))
        },
        |c, _| {
            *c.out = c.value + 1;
            Action::Done
        },
    )
}

#[test]
fn nested_spawns_many_levels_deep() {
    watchdog(30, || {
        let system = system(2);
        for depth in [1, 2, 10, 200] {
            let mut out = u32::MAX;
            system.scope(|s| {
                s.spawn_job(Job::new(
                    Chain {
                        depth,
                        value: 0,
                        out: &mut out,
                    },
                    chain,
                ))
            });
            assert_eq!(out, depth);
        }
    });
}

#[test]
fn a_spawn_with_no_children_continues_at_once() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let order: Log = Log::default();
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(order.clone(), |_, _| {
                Action::Spawn(
                    |o, _| log(o, "spawn"),
                    |o, _| {
                        log(o, "continued");
                        Action::Done
                    },
                )
            }),
        );
        let o = order.clone();
        system.submit_counted(&counter, Job::from_fn(move |_| log(&o, "next job")));
        gate.open();
        // Not `wait`: the only worker runs both jobs, in queue order.
        poll_zero(&blocked, 30);
        poll_zero(&counter, 30);
        assert_eq!(
            *order.lock().unwrap(),
            ["spawn", "continued", "next job"],
            "the continuation must run before the worker takes another job"
        );
    });
}

#[test]
fn a_spawner_can_fan_out_batches_and_the_parent_sees_every_item() {
    watchdog(30, || {
        let system = system(2);
        struct S {
            items: Vec<AtomicUsize>,
            chunks: Vec<AtomicUsize>,
            out: Arc<Mutex<Option<(usize, usize)>>>,
        }
        let out = Arc::new(Mutex::new(None));
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(
                S {
                    items: (0..10_000).map(|_| AtomicUsize::new(0)).collect(),
                    chunks: (0..5_000).map(|_| AtomicUsize::new(0)).collect(),
                    out: out.clone(),
                },
                |_, _| {
                    Action::Spawn(
                        |s, spawner| {
                            let (items, chunks) = (&s.items, &s.chunks);
                            spawner.parallel_for(0..items.len(), Grain::fixed(64).unwrap(), |i| {
                                items[i].fetch_add(1, Ordering::Relaxed);
                            });
                            spawner.parallel_for_chunks(0..chunks.len(), Grain::Auto, |range| {
                                for i in range {
                                    chunks[i].fetch_add(1, Ordering::Relaxed);
                                }
                            });
                            spawner.parallel_for(0..0, Grain::Auto, |_| unreachable!());
                        },
                        |s, _| {
                            let once = |v: &[AtomicUsize]| {
                                v.iter().filter(|h| h.load(Ordering::Relaxed) == 1).count()
                            };
                            *s.out.lock().unwrap() = Some((once(&s.items), once(&s.chunks)));
                            Action::Done
                        },
                    )
                },
            ),
        );
        system.wait(&counter).unwrap();
        assert_eq!(*out.lock().unwrap(), Some((10_000, 5_000)));
    });
}

#[test]
fn the_spawner_context_spawns_detached_jobs() {
    watchdog(30, || {
        let system = system(2);
        let detached = Counter::new();
        let counter = Counter::new();
        let hits = Arc::new(AtomicUsize::new(0));
        struct S(Counter, Arc<AtomicUsize>);
        system.submit_counted(
            &counter,
            Job::new(S(detached.clone(), hits.clone()), |_, _| {
                Action::Spawn(
                    |s, spawner| {
                        let mut cx = spawner.context();
                        for _ in 0..10 {
                            let h = s.1.clone();
                            cx.spawn_job_counted(
                                &s.0,
                                Job::from_fn(move |_| {
                                    h.fetch_add(1, Ordering::SeqCst);
                                }),
                            );
                        }
                    },
                    |_, _| Action::Done,
                )
            }),
        );
        system.wait(&counter).unwrap();
        system.wait(&detached).unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn a_waiting_job_frees_its_worker_and_resumes_after_the_counter_reaches_zero() {
    watchdog(30, || {
        let system = system(1);
        // The inputs are pinned to this (the main) thread: they run only when it says so.
        let inputs = Counter::new();
        let inputs_done = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            let d = inputs_done.clone();
            system.submit_counted(
                &inputs,
                Job::from_fn(move |_| {
                    d.fetch_add(1, Ordering::SeqCst);
                })
                .pinned_to_main(),
            );
        }
        struct W {
            inputs: Counter,
            inputs_done: Arc<AtomicUsize>,
            seen: Arc<AtomicUsize>,
        }
        let seen = Arc::new(AtomicUsize::new(usize::MAX));
        let done = Counter::new();
        system.submit_counted(
            &done,
            Job::new(
                W {
                    inputs: inputs.clone(),
                    inputs_done: inputs_done.clone(),
                    seen: seen.clone(),
                },
                |w, _| {
                    Action::wait(&w.inputs, |w, cx| {
                        assert!(cx.worker_index().is_some());
                        w.seen
                            .store(w.inputs_done.load(Ordering::SeqCst), Ordering::SeqCst);
                        Action::Done
                    })
                },
            ),
        );
        // While the job is suspended its worker is free: 100 other jobs run there.
        let others = Counter::new();
        for _ in 0..100 {
            system.submit_counted(
                &others,
                Job::from_fn(|cx| assert_eq!(cx.worker_index(), Some(0))),
            );
        }
        poll_zero(&others, 30);
        system
            .wait(&others)
            .expect("the other jobs ran on the worker");
        assert!(!done.is_zero(), "the waiting job continued too early");
        assert_eq!(seen.load(Ordering::SeqCst), usize::MAX);
        // Now the inputs run (here), the counter reaches zero, the job resumes on the worker.
        assert_eq!(system.run_pinned(), Ok(5));
        poll_zero(&done, 30);
        assert_eq!(seen.load(Ordering::SeqCst), 5, "resumed before its inputs");
        system.wait(&done).unwrap();
    });
}

#[test]
fn waiting_on_a_counter_at_zero_continues_at_once() {
    watchdog(30, || {
        let system = system(1);
        // A counter that went through a round already, and a fresh one.
        let used = Counter::new();
        system.submit_counted(&used, Job::from_fn(|_| {}));
        system.wait(&used).unwrap();
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let order: Log = Log::default();
        let counter = Counter::new();
        struct W(Log, Counter, Counter);
        system.submit_counted(
            &counter,
            Job::new(W(order.clone(), used, Counter::new()), |w, _| {
                log(&w.0, "wait on a used counter");
                Action::wait(&w.1, |w, _| {
                    log(&w.0, "wait on a fresh counter");
                    Action::wait(&w.2, |w, _| {
                        log(&w.0, "continued");
                        Action::Done
                    })
                })
            }),
        );
        let o = order.clone();
        system.submit_counted(&counter, Job::from_fn(move |_| log(&o, "next job")));
        gate.open();
        poll_zero(&blocked, 30);
        poll_zero(&counter, 30);
        assert_eq!(
            *order.lock().unwrap(),
            [
                "wait on a used counter",
                "wait on a fresh counter",
                "continued",
                "next job"
            ]
        );
    });
}

#[test]
fn a_chain_of_jobs_each_waiting_on_the_last_runs_in_order() {
    watchdog(30, || {
        let system = system(2);
        const LINKS: usize = 30;
        let counters: Vec<Counter> = (0..LINKS).map(|_| Counter::new()).collect();
        let order = Arc::new(Mutex::new(Vec::new()));
        struct Link {
            index: usize,
            previous: Option<Counter>,
            order: Arc<Mutex<Vec<usize>>>,
        }
        fn record(l: &mut Link, _: &mut Context<'_>) -> Action<Link> {
            l.order.lock().unwrap().push(l.index);
            Action::Done
        }
        // Queued behind gate jobs, last link first: every counter is armed before any link
        // runs, so the waits really suspend (a wait on a counter not yet armed continues).
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        for index in (0..LINKS).rev() {
            let link = Link {
                index,
                previous: index.checked_sub(1).map(|p| counters[p].clone()),
                order: order.clone(),
            };
            system.submit_counted(
                &counters[index],
                Job::new(link, |l, cx| match l.previous.take() {
                    Some(previous) => Action::Wait(previous, record),
                    None => record(l, cx),
                }),
            );
        }
        gate.open();
        system.wait(&counters[LINKS - 1]).unwrap();
        system.wait(&blocked).unwrap();
        let order = order.lock().unwrap().clone();
        assert_eq!(order, (0..LINKS).collect::<Vec<_>>());
    });
}

#[test]
fn yield_lets_the_other_jobs_run_then_runs_the_job_again() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        // A yields until B, queued behind it on the one worker, has run: without a real yield
        // this never ends.
        let b_ran = Flag::default();
        let a_steps = Arc::new(AtomicUsize::new(0));
        struct A(Flag, Arc<AtomicUsize>);
        fn a(s: &mut A, _: &mut Context<'_>) -> Action<A> {
            s.1.fetch_add(1, Ordering::SeqCst);
            if s.0.get() {
                Action::Done
            } else {
                Action::Yield(a)
            }
        }
        let counter = Counter::new();
        system.submit_counted(&counter, Job::new(A(b_ran.clone(), a_steps.clone()), a));
        let b = b_ran.clone();
        system.submit_counted(&counter, Job::from_fn(move |_| b.set()));
        gate.open();
        poll_zero(&blocked, 30);
        poll_zero(&counter, 30);
        assert!(b_ran.get());
        assert!(
            a_steps.load(Ordering::SeqCst) >= 2,
            "A ran before B, then after"
        );
    });
}

#[test]
fn many_yields_run_every_step_exactly_once() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
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
        for _ in 0..100 {
            system.submit_counted(&counter, Job::new(Y(50, steps.clone()), step));
        }
        system.wait(&counter).unwrap();
        assert_eq!(steps.load(Ordering::Relaxed), 100 * 51);
    });
}

#[test]
fn memory_requests_get_blocks_of_the_right_size_and_alignment() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        /// Per request: the block's length and its address modulo the alignment asked for.
        type Results = Arc<Mutex<Vec<(MemoryRequest, Result<(usize, usize), MemoryError>)>>>;
        let results = Results::default();
        struct M(Results, MemoryRequest);
        fn got(m: &mut M, _: &mut Context<'_>, block: Result<Block, MemoryError>) -> Action<M> {
            let entry = block.map(|mut b| {
                // The block is ours to write and read back.
                b.as_mut_slice().fill(0xAB);
                assert!(b.as_slice().iter().all(|&x| x == 0xAB));
                (b.len(), b.as_slice().as_ptr() as usize % m.1.align)
            });
            m.0.lock().unwrap().push((m.1, entry));
            Action::Done
        }
        let requests = [
            (0, 1),
            (1, 1),
            (3, 2),
            (100, 16),
            (4096, 4096),
            (1000, 64),
            (3 << 20, 64), // above the 2 MiB block size: a block of its own
        ];
        for (size, align) in requests {
            let request = MemoryRequest {
                tag: Tag(9),
                size,
                align,
            };
            system.submit_counted(
                &counter,
                Job::new(M(results.clone(), request), |m, _| Action::Memory(m.1, got)),
            );
        }
        system.wait(&counter).unwrap();
        let results = results.lock().unwrap().clone();
        assert_eq!(results.len(), requests.len());
        for (request, result) in results {
            assert_eq!(result, Ok((request.size, 0)), "{request:?}");
        }
        assert!(system.heap().stats().live_chunks >= 2);
        system.heap().release(Tag(9));
        assert_eq!(system.heap().stats().live_tags, 0);
    });
}

#[test]
fn memory_requests_with_a_bad_alignment_get_an_error() {
    watchdog(30, || {
        let system = system(1);
        let counter = Counter::new();
        let errors = Arc::new(Mutex::new(Vec::new()));
        struct M(Arc<Mutex<Vec<Result<usize, MemoryError>>>>, usize);
        for align in [0, 3, 24, 8192] {
            system.submit_counted(
                &counter,
                Job::new(M(errors.clone(), align), |m, _| {
                    Action::Memory(
                        MemoryRequest {
                            tag: Tag(1),
                            size: 64,
                            align: m.1,
                        },
                        |m, _, block| {
                            m.0.lock().unwrap().push(block.map(|b| b.len()));
                            Action::Done
                        },
                    )
                }),
            );
        }
        system.wait(&counter).unwrap();
        let mut errors = errors.lock().unwrap().clone();
        errors.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(
            errors,
            [0, 24, 3, 8192].map(|a| Err(MemoryError::BadAlignment(a)))
        );
        assert!(MemoryError::BadAlignment(3).to_string().contains('3'));
        // A bad request takes no memory.
        assert_eq!(system.heap().stats().live_chunks, 0);
    });
}

#[test]
fn the_default_memory_request_is_aligned_to_16_and_castable() {
    watchdog(30, || {
        let system = system(1);
        let counter = Counter::new();
        let sum = Arc::new(Mutex::new(None));
        struct M(Arc<Mutex<Option<(f32, usize)>>>);
        system.submit_counted(
            &counter,
            Job::new(M(sum.clone()), |_, _| {
                Action::memory(Tag(3), 4 * 64 + 2, |m, _, block| {
                    let mut block = block.expect("memory");
                    let addr = block.as_slice().as_ptr() as usize;
                    let floats: &mut [f32] = block.cast_slice_mut();
                    assert_eq!(floats.len(), 64, "whole values only");
                    floats.iter_mut().for_each(|f| *f = 0.5);
                    *m.0.lock().unwrap() = Some((floats.iter().sum(), addr % 16));
                    Action::Done
                })
            }),
        );
        system.wait(&counter).unwrap();
        assert_eq!(*sum.lock().unwrap(), Some((32.0, 0)));
        system.heap().release(Tag(3));
    });
}

#[test]
fn a_blocking_step_runs_on_an_io_thread_while_the_worker_runs_other_jobs() {
    watchdog(60, || {
        let system = system(1);
        let counter = Counter::new();
        let release = Gate::default();
        let started = Flag::default();
        struct B {
            gate: Gate,
            started: Flag,
            thread: String,
            others_done: Arc<AtomicUsize>,
            seen_others: usize,
            out: common::Slot<(String, usize, Option<usize>)>,
        }
        let others_done = Arc::new(AtomicUsize::new(0));
        let out = Arc::new(Mutex::new(None));
        system.submit_counted(
            &counter,
            Job::new(
                B {
                    gate: release.clone(),
                    started: started.clone(),
                    thread: String::new(),
                    others_done: others_done.clone(),
                    seen_others: 0,
                    out: out.clone(),
                },
                |_, _| {
                    Action::Blocking(
                        |b| {
                            b.thread = std::thread::current().name().unwrap_or("").to_owned();
                            b.started.set();
                            b.gate.wait(); // blocks the I/O thread, not the worker
                            b.seen_others = b.others_done.load(Ordering::SeqCst);
                        },
                        |b, cx| {
                            *b.out.lock().unwrap() =
                                Some((b.thread.clone(), b.seen_others, cx.worker_index()));
                            Action::Done
                        },
                    )
                },
            ),
        );
        assert!(common::poll_until(30, || started.get()));
        // The blocking step holds the I/O thread; the only worker runs 1000 other jobs (this
        // thread does not help: it polls).
        let others = Counter::new();
        for _ in 0..1000 {
            let done = others_done.clone();
            system.submit_counted(
                &others,
                Job::from_fn(move |cx| {
                    assert_eq!(cx.worker_index(), Some(0));
                    done.fetch_add(1, Ordering::SeqCst);
                }),
            );
        }
        poll_zero(&others, 30);
        system
            .wait(&others)
            .expect("the other jobs ran on the worker");
        assert_eq!(system.stats().io_in_flight, 1, "still blocked");
        assert!(!counter.is_zero());
        release.open();
        poll_zero(&counter, 30);
        let (thread, seen, worker) = out.lock().unwrap().take().expect("continued");
        assert!(thread.starts_with("jobs-io-"), "ran on {thread:?}");
        assert_eq!(seen, 1000, "the other jobs ran while the step blocked");
        assert_eq!(worker, Some(0), "the continuation runs on a worker");
        // The request counts as in flight until the I/O thread has handed the job back.
        assert!(common::poll_until(30, || system.stats().io_in_flight == 0));
        system.wait(&counter).unwrap();
    });
}

#[test]
fn blocking_steps_run_side_by_side_on_several_io_threads() {
    watchdog(30, || {
        // Each step waits for the other at a barrier: with one I/O thread this would hang.
        let system = JobSystem::new(
            Config::default()
                .workers(1)
                .core_affinity(false)
                .io_threads(2),
        )
        .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let names = Arc::new(Mutex::new(Vec::new()));
        struct B(Arc<Barrier>, Arc<Mutex<Vec<String>>>);
        let counter = Counter::new();
        for _ in 0..2 {
            system.submit_counted(
                &counter,
                Job::new(B(barrier.clone(), names.clone()), |_, _| {
                    Action::Blocking(
                        |b| {
                            b.0.wait();
                            let name = std::thread::current().name().unwrap_or("").to_owned();
                            b.1.lock().unwrap().push(name);
                        },
                        |_, _| Action::Done,
                    )
                }),
            );
        }
        system.wait(&counter).unwrap();
        let mut names = names.lock().unwrap().clone();
        names.sort();
        assert_eq!(names, ["jobs-io-0", "jobs-io-1"]);
    });
}

#[test]
fn a_blocking_step_can_write_and_read_a_file_into_the_capture() {
    watchdog(30, || {
        let system = system(2);
        let dir = std::env::temp_dir().join(format!("jobs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("blocking.txt");
        struct F {
            path: std::path::PathBuf,
            contents: Option<std::io::Result<String>>,
            out: Arc<Mutex<Option<String>>>,
        }
        let out = Arc::new(Mutex::new(None));
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(
                F {
                    path: path.clone(),
                    contents: None,
                    out: out.clone(),
                },
                |_, _| {
                    Action::Blocking(
                        |f| std::fs::write(&f.path, b"frame 42").unwrap(),
                        |_, _| {
                            Action::Blocking(
                                |f| f.contents = Some(std::fs::read_to_string(&f.path)),
                                |f, _| {
                                    let read = f.contents.take().expect("the read ran");
                                    *f.out.lock().unwrap() = Some(read.expect("read the file"));
                                    Action::Done
                                },
                            )
                        },
                    )
                },
            ),
        );
        let waited = system.wait(&counter);
        std::fs::remove_dir_all(&dir).unwrap();
        waited.unwrap();
        assert_eq!(out.lock().unwrap().as_deref(), Some("frame 42"));
    });
}

#[test]
fn one_job_can_chain_every_action() {
    watchdog(30, || {
        let system = system(2);
        let inputs = Counter::new();
        system.submit_counted(&inputs, Job::from_fn(|_| {}));
        struct Frame {
            inputs: Counter,
            halves: [u32; 2],
            block: Option<Block>,
            loaded: u32,
            yields: u32,
            trail: Vec<&'static str>,
            out: Log,
        }
        fn start(f: &mut Frame, _: &mut Context<'_>) -> Action<Frame> {
            f.trail.push("start");
            Action::wait(&f.inputs.clone(), spawn)
        }
        fn spawn(f: &mut Frame, _: &mut Context<'_>) -> Action<Frame> {
            f.trail.push("waited");
            Action::Spawn(
                |f, s| {
                    let [a, b] = &mut f.halves;
                    s.spawn(move |_| *a = 20);
                    s.spawn(move |_| *b = 22);
                },
                memory,
            )
        }
        fn memory(f: &mut Frame, _: &mut Context<'_>) -> Action<Frame> {
            f.trail.push("spawned");
            assert_eq!(f.halves[0] + f.halves[1], 42);
            Action::memory(Tag(77), 16, |f, _, block| {
                f.trail.push("memory");
                let mut block = block.expect("memory");
                block.as_mut_slice()[0] = 42;
                f.block = Some(block);
                Action::Blocking(|f| f.loaded = 42, yielding)
            })
        }
        fn yielding(f: &mut Frame, _: &mut Context<'_>) -> Action<Frame> {
            if f.yields < 3 {
                f.yields += 1;
                f.trail.push("yield");
                return Action::Yield(yielding);
            }
            assert_eq!(f.loaded, 42);
            assert_eq!(f.block.as_ref().unwrap().as_slice()[0], 42);
            f.trail.push("done");
            *f.out.lock().unwrap() = std::mem::take(&mut f.trail);
            Action::Done
        }
        let out: Log = Log::default();
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(
                Frame {
                    inputs: inputs.clone(),
                    halves: [0; 2],
                    block: None,
                    loaded: 0,
                    yields: 0,
                    trail: Vec::new(),
                    out: out.clone(),
                },
                start,
            ),
        );
        system.wait(&counter).unwrap();
        assert_eq!(
            *out.lock().unwrap(),
            ["start", "waited", "spawned", "memory", "yield", "yield", "yield", "done"]
        );
        assert_eq!(system.heap().release(Tag(77)), 1);
    });
}

#[test]
fn context_spawns_detached_and_counted_jobs() {
    watchdog(30, || {
        let system = system(2);
        let inner = Counter::new();
        let outer = Counter::new();
        let hits = Arc::new(AtomicUsize::new(0));
        let (i, h) = (inner.clone(), hits.clone());
        system.submit_counted(
            &outer,
            Job::from_fn(move |cx| {
                for _ in 0..100 {
                    let h = h.clone();
                    cx.spawn_job_counted(
                        &i,
                        Job::from_fn(move |_| {
                            h.fetch_add(1, Ordering::SeqCst);
                        }),
                    );
                }
                let h = h.clone();
                cx.spawn_job(Job::from_fn(move |_| {
                    h.fetch_add(1000, Ordering::SeqCst);
                }));
            }),
        );
        system.wait(&outer).unwrap();
        system.wait(&inner).unwrap();
        assert_eq!(hits.load(Ordering::SeqCst) % 1000, 100);
        // The detached one runs too (nothing counts it: poll for it).
        assert!(common::poll_until(30, || hits.load(Ordering::SeqCst) == 1100));
    });
}

/// A worker that becomes idle *after* the spawn (here: one still starting up) steals a child
/// while its spawner keeps running a long step (it could not when private queues were shared
/// only at the owner's pushes and pops).
#[test]
fn a_lone_job_spawned_by_a_long_job_is_taken_by_an_idle_worker() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        let child_ran = Flag::default();
        let seen = Flag::default();
        let (c, r, s) = (counter.clone(), child_ran.clone(), seen.clone());
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                let r2 = r.clone();
                cx.spawn_job_counted(&c, Job::from_fn(move |_| r2.set()));
                // Long work: the other worker is idle and should take the child meanwhile.
                if common::poll_until(5, || r.get()) {
                    s.set();
                }
            }),
        );
        poll_zero(&counter, 30);
        assert!(child_ran.get());
        assert!(
            seen.get(),
            "the child ran only after its spawner finished, with a worker idle"
        );
    });
}

/// Counts live children, and the most alive at once.
#[derive(Default)]
struct Live {
    now: AtomicUsize,
    most: AtomicUsize,
}

struct LiveChild(Arc<Live>);

impl LiveChild {
    fn new(live: &Arc<Live>) -> LiveChild {
        let now = live.now.fetch_add(1, Ordering::SeqCst) + 1;
        live.most.fetch_max(now, Ordering::SeqCst);
        LiveChild(live.clone())
    }
}

impl Drop for LiveChild {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn a_job_spawning_many_children_holds_a_deque_of_them_at_a_time() {
    // It used to queue every child before running any: 100,000 live jobs (and a million in
    // `empty_spawn`, past the job slab's caches). Now a child runs inline when the spawning
    // thread's deque is full, as enkiTS runs a task when its pipe is full.
    const CHILDREN: usize = 100_000;
    watchdog(60, || {
        for (workers, help) in [(1, false), (2, true)] {
            let system = JobSystem::new(
                Config::default()
                    .workers(workers)
                    .core_affinity(false)
                    .help_while_waiting(help),
            )
            .unwrap();
            let live = Arc::new(Live::default());
            let ran = Arc::new(AtomicUsize::new(0));
            struct Root(Arc<Live>, Arc<AtomicUsize>);
            let counter = Counter::new();
            system.submit_counted(
                &counter,
                Job::new(Root(live.clone(), ran.clone()), |_, _| {
                    Action::Spawn(
                        |root, spawner| {
                            for _ in 0..CHILDREN {
                                let (child, ran) = (LiveChild::new(&root.0), root.1.clone());
                                spawner.spawn(move |_| {
                                    let _child = child;
                                    ran.fetch_add(1, Ordering::Relaxed);
                                });
                            }
                        },
                        |_, _| Action::Done,
                    )
                }),
            );
            system.wait(&counter).unwrap();
            assert_eq!(ran.load(Ordering::SeqCst), CHILDREN);
            assert_eq!(live.now.load(Ordering::SeqCst), 0);
            // Each thread's deque holds at most 1024 jobs of a priority; the shared queue gets
            // at most half a deque at a time from a worker sharing with an idle one.
            let threads = workers + usize::from(help);
            let bound = (threads + 1) * 1024 + 2;
            let most = live.most.load(Ordering::SeqCst);
            assert!(
                most <= bound,
                "{most} children alive at once with {workers} worker(s), help {help}: at most {bound}"
            );
        }
    });
}

//! Every action of the job model, and what the executor promises for each.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{node, system, watchdog, Node};
use jobs::{Action, Block, Context, Counter, Job, MemoryError, MemoryRequest, Tag};

#[test]
fn spawned_children_finish_before_the_continuation_and_their_writes_are_visible() {
    watchdog(60, || {
        let system = system(2);
        for depth in [0, 1, 5, 12] {
            let mut total = 0;
            system.scope(|s| {
                s.spawn_job(Job::new(
                    Node {
                        depth,
                        sums: [0; 2],
                        out: &mut total,
                    },
                    node,
                ))
            });
            assert_eq!(total, 1 << depth, "depth {depth}");
        }
    });
}

#[test]
fn a_spawn_with_no_children_continues_at_once() {
    watchdog(30, || {
        let system = system(1);
        let counter = Counter::new();
        let continued = Arc::new(AtomicBool::new(false));
        struct S(Arc<AtomicBool>);
        system.submit_counted(
            &counter,
            Job::new(S(continued.clone()), |_, _| {
                Action::Spawn(
                    |_, _| {},
                    |s, _| {
                        s.0.store(true, Ordering::SeqCst);
                        Action::Done
                    },
                )
            }),
        );
        system.wait(&counter).unwrap();
        assert!(continued.load(Ordering::SeqCst));
    });
}

#[test]
fn children_can_fan_out_with_parallel_for_and_the_parent_sees_every_item() {
    watchdog(30, || {
        let system = system(2);
        struct S {
            hits: Vec<AtomicUsize>,
            seen: usize,
        }
        let counter = Counter::new();
        let state = S {
            hits: (0..10_000).map(|_| AtomicUsize::new(0)).collect(),
            seen: 0,
        };
        let out = Arc::new(Mutex::new(None));
        let out2 = out.clone();
        struct Wrapper(S, Arc<Mutex<Option<usize>>>);
        system.submit_counted(
            &counter,
            Job::new(Wrapper(state, out2), |_, _| {
                Action::Spawn(
                    |w, s| {
                        let hits = &w.0.hits;
                        s.parallel_for(0..hits.len(), jobs::Grain::fixed(64).unwrap(), move |i| {
                            hits[i].fetch_add(1, Ordering::Relaxed);
                        });
                    },
                    |w, _| {
                        w.0.seen =
                            w.0.hits
                                .iter()
                                .filter(|h| h.load(Ordering::Relaxed) == 1)
                                .count();
                        *w.1.lock().unwrap() = Some(w.0.seen);
                        Action::Done
                    },
                )
            }),
        );
        system.wait(&counter).unwrap();
        assert_eq!(*out.lock().unwrap(), Some(10_000));
    });
}

#[test]
fn wait_suspends_until_the_counter_is_zero_and_continues_at_once_when_it_is() {
    watchdog(30, || {
        let system = system(2);
        let inputs = Counter::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        for i in 0..50 {
            let log = log.clone();
            system.submit_counted(
                &inputs,
                Job::from_fn(move |_| {
                    std::thread::sleep(Duration::from_micros(200));
                    log.lock().unwrap().push(i);
                }),
            );
        }
        struct Waiter {
            inputs: Counter,
            log: Arc<Mutex<Vec<i32>>>,
            saw: usize,
        }
        let done = Counter::new();
        let saw = Arc::new(AtomicUsize::new(0));
        let saw2 = saw.clone();
        struct W(Waiter, Arc<AtomicUsize>);
        system.submit_counted(
            &done,
            Job::new(
                W(
                    Waiter {
                        inputs: inputs.clone(),
                        log: log.clone(),
                        saw: 0,
                    },
                    saw2,
                ),
                |w, _| {
                    Action::wait(&w.0.inputs, |w, _| {
                        w.0.saw = w.0.log.lock().unwrap().len();
                        w.1.store(w.0.saw, Ordering::SeqCst);
                        // Waiting again on a zero counter continues at once.
                        Action::wait(&w.0.inputs.clone(), |_, _| Action::Done)
                    })
                },
            ),
        );
        system.wait(&done).unwrap();
        assert_eq!(
            saw.load(Ordering::SeqCst),
            50,
            "the waiting job continued before its inputs finished"
        );
    });
}

#[test]
fn yield_runs_the_job_again_later() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        let steps = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            struct Y(u32, Arc<AtomicUsize>);
            fn step(y: &mut Y, _: &mut Context<'_>) -> Action<Y> {
                y.1.fetch_add(1, Ordering::Relaxed);
                if y.0 == 0 {
                    return Action::Done;
                }
                y.0 -= 1;
                Action::Yield(step)
            }
            system.submit_counted(&counter, Job::new(Y(20, steps.clone()), step));
        }
        system.wait(&counter).unwrap();
        assert_eq!(steps.load(Ordering::Relaxed), 100 * 21);
    });
}

#[test]
fn memory_requests_get_blocks_of_the_right_size_and_alignment() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        let results = Arc::new(Mutex::new(Vec::new()));
        /// Per request: the block's length and its address modulo the alignment asked for.
        type Results = Arc<Mutex<Vec<Result<(usize, usize), MemoryError>>>>;
        struct M(Results, MemoryRequest);
        fn got(m: &mut M, _: &mut Context<'_>, block: Result<Block, MemoryError>) -> Action<M> {
            let entry =
                block.map(|mut b| (b.len(), b.as_mut_slice().as_ptr() as usize % m.1.align));
            m.0.lock().unwrap().push(entry);
            Action::Done
        }
        let requests = [(100, 16), (4096, 4096), (3 << 20, 64), (8, 3)];
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
        let mut results = results.lock().unwrap().clone();
        results.sort_by_key(|r| format!("{r:?}"));
        assert!(results.contains(&Ok((100, 0))));
        assert!(results.contains(&Ok((4096, 0))));
        assert!(
            results.contains(&Ok((3 << 20, 0))),
            "a request above the block size gets its own block"
        );
        assert!(results.contains(&Err(MemoryError::BadAlignment(3))));
        assert!(system.heap().stats().live_blocks >= 2);
        system.heap().release(Tag(9));
        assert_eq!(system.heap().stats().live_tags, 0);
    });
}

#[test]
fn released_blocks_are_reused_for_the_next_tag_and_never_while_held() {
    let system = system(1);
    let heap = system.heap();
    let mut held = heap.allocate_bytes(Tag(1), 1000, 8).unwrap();
    held.as_mut_slice().fill(7);
    let _other = heap.allocate_bytes(Tag(1), 1000, 8).unwrap();
    assert_eq!(
        heap.release(Tag(1)),
        1,
        "both allocations came from one block"
    );
    // The block is still held: it is not free yet, and a new tag gets a new block.
    assert_eq!(heap.stats().free_blocks, 0);
    let fresh = heap.allocate_bytes(Tag(2), 1000, 8).unwrap();
    assert!(
        held.as_slice().iter().all(|&b| b == 7),
        "a held block is never reused"
    );
    drop((held, _other));
    assert_eq!(
        heap.stats().free_blocks,
        1,
        "freed once the last block of it is dropped"
    );
    drop(fresh);
    heap.release(Tag(2));
    let _reused = heap.allocate_bytes(Tag(3), 10, 8).unwrap();
    assert_eq!(
        heap.stats().free_blocks,
        1,
        "the next tag reuses a free block"
    );
}

#[test]
fn blocking_steps_run_on_an_io_thread_while_the_workers_keep_running_jobs() {
    watchdog(60, || {
        let system = system(1);
        let counter = Counter::new();
        let release = common::Gate::default();
        struct B {
            gate: common::Gate,
            thread: String,
            others_done: Arc<AtomicUsize>,
            seen_others: usize,
            out: Arc<Mutex<(String, usize)>>,
        }
        let others_done = Arc::new(AtomicUsize::new(0));
        let out = Arc::new(Mutex::new((String::new(), 0)));
        system.submit_counted(
            &counter,
            Job::new(
                B {
                    gate: release.clone(),
                    thread: String::new(),
                    others_done: others_done.clone(),
                    seen_others: 0,
                    out: out.clone(),
                },
                |_, _| {
                    Action::Blocking(
                        |b| {
                            b.thread = std::thread::current().name().unwrap_or("").to_owned();
                            b.gate.wait(); // blocks the I/O thread, not the worker
                            b.seen_others = b.others_done.load(Ordering::SeqCst);
                        },
                        |b, cx| {
                            assert!(cx.worker_index().is_some() || cx.on_main_thread());
                            *b.out.lock().unwrap() = (b.thread.clone(), b.seen_others);
                            Action::Done
                        },
                    )
                },
            ),
        );
        // With the only worker free, 1000 other jobs run while the blocking step waits.
        let others = Counter::new();
        for _ in 0..1000 {
            let done = others_done.clone();
            system.submit_counted(
                &others,
                Job::from_fn(move |_| {
                    done.fetch_add(1, Ordering::SeqCst);
                }),
            );
        }
        system.wait(&others).unwrap();
        release.open();
        system.wait(&counter).unwrap();
        let (thread, seen) = out.lock().unwrap().clone();
        assert!(thread.starts_with("jobs-io-"), "ran on {thread:?}");
        assert_eq!(seen, 1000);
    });
}

#[test]
fn a_blocking_step_can_read_and_write_files() {
    watchdog(30, || {
        let system = system(2);
        let dir = std::env::temp_dir().join(format!("jobs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("blocking.txt");
        struct F {
            path: std::path::PathBuf,
            read: Option<std::io::Result<String>>,
            out: Arc<Mutex<Option<String>>>,
        }
        let out = Arc::new(Mutex::new(None));
        let counter = Counter::new();
        system.submit_counted(
            &counter,
            Job::new(
                F {
                    path: path.clone(),
                    read: None,
                    out: out.clone(),
                },
                |_, _| {
                    Action::Blocking(
                        |f| {
                            let written = std::fs::write(&f.path, b"frame 42");
                            f.read = Some(written.and_then(|()| std::fs::read_to_string(&f.path)));
                        },
                        |f, _| {
                            *f.out.lock().unwrap() = f.read.take().and_then(Result::ok);
                            Action::Done
                        },
                    )
                },
            ),
        );
        system.wait(&counter).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(out.lock().unwrap().as_deref(), Some("frame 42"));
    });
}

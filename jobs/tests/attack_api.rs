//! An outside tester's attack on the issue-12 API of `jobs`, through the public API only:
//! `Batch` (grain and priority) at every batch entry point, sizes 0, 1 and ranges at the top of
//! `usize`, batch priorities from the system and from spawners under High and Low parents,
//! panics in batch bodies and in `Context::spawn*` closures, `for_each_mut` on empty slices and
//! zero-sized types, `Spawner::for_each_mut` mixed with other children in one spawn step,
//! `Action::WaitSettled` against `Action::Wait` after a panic, `Job::in_frame(u32::MAX)`, and
//! `Block::cast_slice`.
//!
//! Every liveness test runs under `common::watchdog`, so a hang fails instead of hanging.

#![allow(clippy::type_complexity)]

mod common;

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use common::{system, watchdog};
use jobs::{Action, Batch, Context, Counter, Grain, Job, JobSystem, Priority, Stats, Tag};

/// Seconds a test may take before the watchdog calls it a hang.
const WATCH: u64 = 60;

fn fixed(n: usize) -> Grain {
    Grain::fixed(n).expect("a non-zero grain")
}

/// One visit counter per index of `0..n`.
fn visits(n: usize) -> Vec<AtomicU8> {
    (0..n).map(|_| AtomicU8::new(0)).collect()
}

/// Asserts every index was visited exactly once.
fn assert_once(v: &[AtomicU8], what: &str) {
    let bad: Vec<(usize, u8)> = v
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.load(SeqCst)))
        .filter(|&(_, c)| c != 1)
        .take(10)
        .collect();
    assert!(bad.is_empty(), "{what}: indices not visited once: {bad:?}");
}

fn jobs_at(stats: &Stats) -> [u64; 3] {
    stats.jobs_finished
}

fn delta(before: [u64; 3], after: [u64; 3]) -> [u64; 3] {
    [0, 1, 2].map(|p| after[p].wrapping_sub(before[p]))
}

/// Sorted chunk ranges must tile `whole` exactly.
fn assert_tiles(mut chunks: Vec<Range<usize>>, whole: Range<usize>, what: &str) {
    chunks.sort_by_key(|r| r.start);
    assert!(!chunks.is_empty(), "{what}: no chunk");
    assert_eq!(
        chunks[0].start, whole.start,
        "{what}: first chunk {:?}",
        chunks[0]
    );
    for pair in chunks.windows(2) {
        assert_eq!(
            pair[0].end, pair[1].start,
            "{what}: gap or overlap {pair:?}"
        );
    }
    for c in &chunks {
        assert!(c.start < c.end, "{what}: empty chunk {c:?}");
    }
    assert_eq!(chunks.last().unwrap().end, whole.end, "{what}: last chunk");
    let total: u128 = chunks.iter().map(|c| (c.end - c.start) as u128).sum();
    assert_eq!(total, (whole.end - whole.start) as u128, "{what}: items");
}

// ---------------------------------------------------------------------------------------------
// Sizes: 0, 1, reversed ranges.

#[test]
fn batches_of_zero_items_from_the_system_run_nothing_and_return() {
    watchdog(WATCH, || {
        let system = system(2);
        let called = AtomicUsize::new(0);
        for batch in [
            Batch::new(),
            Batch::from(fixed(1)),
            Batch::from(fixed(usize::MAX)).priority(Priority::High),
            Batch::new().priority(Priority::Low),
        ] {
            for range in [0..0, 5..5, usize::MAX..usize::MAX] {
                system
                    .parallel_for(range.clone(), batch, |_| {
                        called.fetch_add(1, SeqCst);
                    })
                    .unwrap();
                system
                    .parallel_for_chunks(range.clone(), batch, |_| {
                        called.fetch_add(1, SeqCst);
                    })
                    .unwrap();
                let counter = system.counter();
                system.submit_for(&counter, range, batch, |_| panic!("no item"));
                assert!(counter.is_zero(), "an empty submit_for armed the counter");
                system.wait(&counter).unwrap();
            }
            let mut empty: [u64; 0] = [];
            system
                .for_each_mut(&mut empty, batch, |_, _| {
                    called.fetch_add(1, SeqCst);
                })
                .unwrap();
        }
        assert_eq!(called.load(SeqCst), 0);
    });
}

#[test]
#[allow(clippy::reversed_empty_ranges)]
fn reversed_ranges_are_empty_batches_from_the_system_and_from_a_spawner() {
    watchdog(WATCH, || {
        let system = system(2);
        let called = AtomicUsize::new(0);
        system
            .parallel_for(10..5, fixed(1), |_| {
                called.fetch_add(1, SeqCst);
            })
            .unwrap();
        system
            .parallel_for_chunks(usize::MAX..0, Grain::Auto, |_| {
                called.fetch_add(1, SeqCst);
            })
            .unwrap();
        assert_eq!(called.load(SeqCst), 0);

        struct P {
            called: Arc<AtomicUsize>,
            continued: Arc<AtomicBool>,
        }
        fn start(_: &mut P, _: &mut Context<'_>) -> Action<P> {
            Action::Spawn(
                |p, s| {
                    let c = &p.called;
                    s.parallel_for(10..5, fixed(1), move |_| {
                        c.fetch_add(1, SeqCst);
                    });
                    s.parallel_for_chunks(usize::MAX..0, Grain::Auto, move |_| {
                        c.fetch_add(1, SeqCst);
                    });
                },
                |p, _| {
                    p.continued.store(true, SeqCst);
                    Action::Done
                },
            )
        }
        let p = P {
            called: Arc::new(AtomicUsize::new(0)),
            continued: Arc::new(AtomicBool::new(false)),
        };
        let (c, k) = (p.called.clone(), p.continued.clone());
        let done = system.counter();
        system.submit_counted(&done, Job::new(p, start));
        system.wait(&done).unwrap();
        assert!(k.load(SeqCst), "the parent continued");
        assert_eq!(c.load(SeqCst), 0);
    });
}

/// A parent whose spawn step starts only empty batches (and nothing else) must still continue.
#[test]
fn a_spawn_step_of_only_empty_batches_continues_the_parent() {
    watchdog(WATCH, || {
        let system = system(2);
        struct P {
            empty: Vec<u32>,
            out: Arc<AtomicBool>,
        }
        fn start(_: &mut P, _: &mut Context<'_>) -> Action<P> {
            Action::Spawn(
                |p, s| {
                    s.for_each_mut(&mut p.empty, fixed(3), |_, _| panic!("no item"));
                    s.parallel_for(0..0, Grain::Auto, |_| panic!("no item"));
                    s.parallel_for_chunks(7..7, Batch::new().priority(Priority::High), |_| {
                        panic!("no chunk")
                    });
                },
                |p, _| {
                    p.out.store(true, SeqCst);
                    Action::Done
                },
            )
        }
        let out = Arc::new(AtomicBool::new(false));
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::new(
                P {
                    empty: Vec::new(),
                    out: out.clone(),
                },
                start,
            ),
        );
        system.wait(&done).unwrap();
        assert!(out.load(SeqCst), "the parent continued");
    });
}

#[test]
fn batches_of_one_item_with_every_grain() {
    watchdog(WATCH, || {
        let system = system(2);
        for grain in [Grain::Auto, fixed(1), fixed(2), fixed(usize::MAX)] {
            for start in [0, 41, usize::MAX - 1] {
                let seen = Mutex::new(Vec::new());
                system
                    .parallel_for(start..start + 1, grain, |i| seen.lock().unwrap().push(i))
                    .unwrap();
                assert_eq!(*seen.lock().unwrap(), vec![start], "{grain:?}");
                let chunks = Mutex::new(Vec::new());
                system
                    .parallel_for_chunks(start..start + 1, grain, |r| {
                        chunks.lock().unwrap().push(r)
                    })
                    .unwrap();
                assert_eq!(*chunks.lock().unwrap(), vec![start..start + 1], "{grain:?}");
            }
            let mut one = [5u32];
            system
                .for_each_mut(&mut one, grain, |i, x| *x += i as u32 + 1)
                .unwrap();
            assert_eq!(one, [6]);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Ranges at the top of usize.

#[test]
fn ranges_at_the_top_of_usize_visit_every_index_once() {
    watchdog(WATCH, || {
        let system = system(2);
        let n = 200;
        let base = usize::MAX - n;
        for grain in [
            Grain::Auto,
            fixed(1),
            fixed(7),
            fixed(64),
            fixed(n - 1),
            fixed(usize::MAX / 2),
            fixed(usize::MAX),
        ] {
            let v = visits(n);
            system
                .parallel_for(base..usize::MAX, grain, |i| {
                    v[i - base].fetch_add(1, SeqCst);
                })
                .unwrap();
            assert_once(&v, &format!("parallel_for {grain:?}"));

            let chunks = Mutex::new(Vec::new());
            system
                .parallel_for_chunks(base..usize::MAX, grain, |r| chunks.lock().unwrap().push(r))
                .unwrap();
            assert_tiles(
                chunks.into_inner().unwrap(),
                base..usize::MAX,
                &format!("chunks {grain:?}"),
            );

            let v = Arc::new(visits(n));
            let counter = system.counter();
            let w = v.clone();
            system.submit_for(&counter, base..usize::MAX, grain, move |i| {
                w[i - base].fetch_add(1, SeqCst);
            });
            system.wait(&counter).unwrap();
            assert_once(&v, &format!("submit_for {grain:?}"));
        }
    });
}

#[test]
fn ranges_at_the_top_of_usize_from_a_spawner() {
    watchdog(WATCH, || {
        let system = system(2);
        const N: usize = 150;
        const BASE: usize = usize::MAX - N;
        struct P {
            v: Vec<AtomicU8>,
            chunks: Mutex<Vec<Range<usize>>>,
            grain: Grain,
            out: Arc<Mutex<Option<(Vec<AtomicU8>, Vec<Range<usize>>)>>>,
        }
        fn start(_: &mut P, _: &mut Context<'_>) -> Action<P> {
            Action::Spawn(
                |p, s| {
                    let (v, chunks) = (&p.v, &p.chunks);
                    s.parallel_for(BASE..usize::MAX, p.grain, move |i| {
                        v[i - BASE].fetch_add(1, SeqCst);
                    });
                    s.parallel_for_chunks(BASE..usize::MAX, p.grain, move |r| {
                        chunks.lock().unwrap().push(r)
                    });
                },
                |p, _| {
                    let v = std::mem::take(&mut p.v);
                    let c = std::mem::take(&mut *p.chunks.lock().unwrap());
                    *p.out.lock().unwrap() = Some((v, c));
                    Action::Done
                },
            )
        }
        for grain in [Grain::Auto, fixed(1), fixed(13), fixed(usize::MAX)] {
            let out = Arc::new(Mutex::new(None));
            let done = system.counter();
            system.submit_counted(
                &done,
                Job::new(
                    P {
                        v: visits(N),
                        chunks: Mutex::new(Vec::new()),
                        grain,
                        out: out.clone(),
                    },
                    start,
                ),
            );
            system.wait(&done).unwrap();
            let (v, chunks) = out.lock().unwrap().take().unwrap();
            assert_once(&v, &format!("spawner parallel_for {grain:?}"));
            assert_tiles(
                chunks,
                BASE..usize::MAX,
                &format!("spawner chunks {grain:?}"),
            );
        }
    });
}

/// `0..usize::MAX` cannot run item by item in a test's time, but by chunks it can: the chunks
/// must tile the whole range, and the system must still work (and its statistics be readable)
/// after `usize::MAX` items were counted as finished jobs.
#[test]
fn chunks_over_the_whole_usize_range_tile_it_exactly() {
    watchdog(WATCH, || {
        for grain in [
            Grain::Auto,
            fixed(1 << 62),
            fixed(usize::MAX / 3),
            fixed(usize::MAX - 1),
            fixed(usize::MAX),
        ] {
            let system = system(2);
            let chunks = Mutex::new(Vec::new());
            system
                .parallel_for_chunks(0..usize::MAX, grain, |r| chunks.lock().unwrap().push(r))
                .unwrap();
            assert_tiles(
                chunks.into_inner().unwrap(),
                0..usize::MAX,
                &format!("{grain:?}"),
            );
            // Still usable, and the statistics are readable.
            let hits = AtomicUsize::new(0);
            system
                .parallel_for(0..1000, Grain::Auto, |_| {
                    hits.fetch_add(1, SeqCst);
                })
                .unwrap();
            assert_eq!(hits.load(SeqCst), 1000);
            let _ = system.stats().total_jobs();
        }
    });
}

/// Stats::jobs_finished says "each item of a batch counts as one job": after a chunked batch
/// of `2^40` items the Normal count went up by at least `2^40` (and by no more than a handful
/// of runner jobs beyond).
#[test]
fn a_huge_chunked_batch_counts_its_items_in_the_statistics() {
    watchdog(WATCH, || {
        let system = system(2);
        let before = jobs_at(&system.stats());
        let items = 1usize << 40;
        system
            .parallel_for_chunks(0..items, fixed(1 << 36), |_| {})
            .unwrap();
        let d = delta(before, jobs_at(&system.stats()));
        let normal = d[Priority::Normal.index()];
        assert!(
            normal >= items as u64 && normal <= items as u64 + 64,
            "Normal jobs finished went up by {normal}, expected 2^40 plus a few runners"
        );
    });
}

/// `submit_for`'s counter counts runners, a handful, not items.
#[test]
fn submit_for_counts_a_handful_of_runners_not_the_items() {
    watchdog(WATCH, || {
        let system = system(2);
        let gate = Arc::new(AtomicBool::new(false));
        let counter = system.counter();
        let g = gate.clone();
        system.submit_for(&counter, 0..100_000, fixed(1), move |_| {
            while !g.load(SeqCst) {
                std::thread::yield_now();
            }
        });
        let value = counter.value();
        assert!(
            (1..=8).contains(&value),
            "the counter counts {value} for a batch of 100000 items"
        );
        gate.store(true, SeqCst);
        system.wait(&counter).unwrap();
        assert!(counter.is_zero());
    });
}

// ---------------------------------------------------------------------------------------------
// Priorities.

/// From the system: the items are counted at the priority the batch asked for, and none at the
/// others (a fresh system runs nothing else).
#[test]
fn system_batches_run_at_the_priority_they_ask_for() {
    watchdog(WATCH, || {
        let system = system(2);
        let n = 3000u64;
        let cases: [(Batch, Priority); 4] = [
            (Batch::new(), Priority::Normal),
            (
                Batch::from(fixed(16)).priority(Priority::High),
                Priority::High,
            ),
            (Batch::new().priority(Priority::Low), Priority::Low),
            (
                Batch::new().grain(fixed(1)).priority(Priority::Low),
                Priority::Low,
            ),
        ];
        for (batch, want) in cases {
            for entry in 0..4 {
                let before = jobs_at(&system.stats());
                match entry {
                    0 => system.parallel_for(0..n as usize, batch, |_| {}).unwrap(),
                    1 => system
                        .parallel_for_chunks(0..n as usize, batch, |_| {})
                        .unwrap(),
                    2 => {
                        let mut v = vec![0u8; n as usize];
                        system.for_each_mut(&mut v, batch, |_, x| *x = 1).unwrap();
                        assert!(v.iter().all(|&x| x == 1));
                    }
                    _ => {
                        let c = system.counter();
                        system.submit_for(&c, 0..n as usize, batch, |_| {});
                        system.wait(&c).unwrap();
                    }
                }
                let d = delta(before, jobs_at(&system.stats()));
                for p in Priority::ALL {
                    if p == want {
                        assert!(
                            d[p.index()] >= n && d[p.index()] <= n + 16,
                            "entry {entry} {batch:?}: {d:?}"
                        );
                    } else {
                        assert_eq!(d[p.index()], 0, "entry {entry} {batch:?}: {d:?}");
                    }
                }
            }
        }
    });
}

/// A parent job at some priority whose spawn step starts a batch of `N` items and a closure
/// child; returns the jobs finished per priority over the run, and what it saw.
const N: usize = 2000;

struct Nest {
    batch: Batch,
    kind: u8,
    items: Vec<u8>,
    seen: [Option<Priority>; 2],
    out: Arc<Mutex<Option<(Vec<u8>, [Option<Priority>; 2])>>>,
}

fn nest_start(_: &mut Nest, _: &mut Context<'_>) -> Action<Nest> {
    Action::Spawn(
        |n, s| {
            let batch = n.batch;
            match n.kind {
                0 => s.parallel_for(0..N, batch, |_| {}),
                1 => s.parallel_for_chunks(0..N, batch, |_| {}),
                _ => s.for_each_mut(&mut n.items, batch, |_, x| *x = 1),
            }
            // A closure child next to the batch sees the parent's priority.
            let [a, _] = &mut n.seen;
            s.spawn(move |cx| *a = Some(cx.priority()));
        },
        |n, cx| {
            n.seen[1] = Some(cx.priority());
            *n.out.lock().unwrap() = Some((std::mem::take(&mut n.items), n.seen));
            Action::Done
        },
    )
}

type Seen = (Vec<u8>, [Option<Priority>; 2]);

fn nested(system: &JobSystem, parent: Priority, batch: Batch, kind: u8) -> ([u64; 3], Seen) {
    let out = Arc::new(Mutex::new(None));
    let before = jobs_at(&system.stats());
    let done = system.counter();
    let nest = Nest {
        batch,
        kind,
        items: vec![0; N],
        seen: [None; 2],
        out: out.clone(),
    };
    system.submit_counted(&done, Job::new(nest, nest_start).with_priority(parent));
    system.wait(&done).unwrap();
    let d = delta(before, jobs_at(&system.stats()));
    let seen = out.lock().unwrap().take().unwrap();
    (d, seen)
}

#[test]
fn spawner_batches_take_the_parents_priority_unless_they_ask_for_one() {
    watchdog(WATCH, || {
        let system = system(2);
        let n = N as u64;
        let cases = [
            (Priority::High, Batch::new(), Priority::High),
            (Priority::Low, Batch::new(), Priority::Low),
            (Priority::High, Batch::from(fixed(7)), Priority::High),
            (
                Priority::Low,
                Batch::new().priority(Priority::High),
                Priority::High,
            ),
            (
                Priority::High,
                Batch::new().priority(Priority::Low),
                Priority::Low,
            ),
            (
                Priority::Normal,
                Batch::new().priority(Priority::Low),
                Priority::Low,
            ),
            (
                Priority::Low,
                Batch::from(fixed(1)).priority(Priority::Normal),
                Priority::Normal,
            ),
        ];
        for (parent, batch, want) in cases {
            for kind in 0..3u8 {
                let (d, (items, seen)) = nested(&system, parent, batch, kind);
                let what = format!("parent {parent:?}, {batch:?}, kind {kind}: {d:?}");
                assert!(
                    d[want.index()] >= n && d[want.index()] <= n + 16,
                    "items not at {want:?}: {what}"
                );
                for p in Priority::ALL {
                    if p != want {
                        // Only the parent and its closure child (a few jobs) run elsewhere.
                        assert!(d[p.index()] <= 4, "items at {p:?}: {what}");
                    }
                }
                if kind == 2 {
                    assert!(items.iter().all(|&x| x == 1), "{what}");
                }
                assert_eq!(seen, [Some(parent); 2], "{what}");
            }
        }
    });
}

/// `Context::spawn*` from a High or Low job: the closures run at that job's priority (and
/// `spawn_job` with its own priority keeps it).
#[test]
fn context_spawns_run_at_the_spawning_jobs_priority() {
    watchdog(WATCH, || {
        let system = system(2);
        for parent in [Priority::High, Priority::Low] {
            let seen: Arc<Mutex<Vec<(&str, Priority)>>> = Arc::default();
            let done = system.counter();
            let (s, d) = (seen.clone(), done.clone());
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    let s1 = s.clone();
                    cx.spawn_counted(&d, move |cx| {
                        s1.lock().unwrap().push(("spawn", cx.priority()))
                    });
                    let s2 = s.clone();
                    cx.spawn_counted(&d, move |cx| {
                        s2.lock().unwrap().push(("spawn_counted", cx.priority()))
                    });
                    let s3 = s.clone();
                    cx.spawn_job_counted(
                        &d,
                        Job::from_fn(move |cx| {
                            s3.lock()
                                .unwrap()
                                .push(("spawn_job_counted", cx.priority()))
                        }),
                    );
                    let s4 = s.clone();
                    cx.spawn_job_counted(
                        &d,
                        Job::from_fn(move |cx| s4.lock().unwrap().push(("own", cx.priority())))
                            .with_priority(Priority::Normal),
                    );
                })
                .with_priority(parent),
            );
            system.wait(&done).unwrap();
            let mut seen = seen.lock().unwrap().clone();
            seen.sort();
            let mut want = vec![
                ("own", Priority::Normal),
                ("spawn", parent),
                ("spawn_counted", parent),
                ("spawn_job_counted", parent),
            ];
            want.sort();
            assert_eq!(seen, want, "parent {parent:?}");
        }
    });
}

/// A Low batch with a large grain keeps yielding to High work (it checks between items and
/// keeps the rest of its chunk): no item may be lost or run twice.
///
/// The batch holds one item until a High job has run while the batch is in flight (bounded
/// by a deadline that fails the test), so the interleaving is there in every run: before,
/// the feeder thread was sometimes not scheduled before the batch had finished, and the test
/// failed under a loaded CI machine with nothing wrong in the system.
#[test]
fn a_low_batch_yielding_to_high_work_runs_every_item_once() {
    watchdog(WATCH, || {
        let system = Arc::new(system(2));
        let n = 100_000;
        let v = Arc::new(visits(n));
        let stop = Arc::new(AtomicBool::new(false));
        // Items of the batch done so far, and High jobs that ran while 0 < done < n.
        let done = Arc::new(AtomicUsize::new(0));
        let high_during = Arc::new(AtomicU64::new(0));
        let feeder_started = Arc::new(AtomicBool::new(false));
        let feeder = {
            let (system, stop) = (system.clone(), stop.clone());
            let (done, high_during, started) =
                (done.clone(), high_during.clone(), feeder_started.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let (d, h) = (done.clone(), high_during.clone());
                    system.submit(
                        Job::from_fn(move |_| {
                            let now = d.load(SeqCst);
                            if now > 0 && now < n {
                                h.fetch_add(1, SeqCst);
                            }
                        })
                        .with_priority(Priority::High),
                    );
                    started.store(true, SeqCst);
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            })
        };
        while !feeder_started.load(SeqCst) {
            std::thread::yield_now();
        }
        let counter = system.counter();
        let (w, d, h) = (v.clone(), done.clone(), high_during.clone());
        system.submit_for(
            &counter,
            0..n,
            Batch::new().grain(fixed(n / 2)).priority(Priority::Low),
            move |i| {
                w[i].fetch_add(1, SeqCst);
                d.fetch_add(1, SeqCst);
                if i == n / 4 {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
                    while h.load(SeqCst) == 0 {
                        assert!(
                            std::time::Instant::now() < deadline,
                            "no High job ran in 20 s while a Low batch was in flight"
                        );
                        std::thread::yield_now();
                    }
                }
                if i % 1000 == 0 {
                    std::thread::yield_now();
                }
            },
        );
        let waited = system.wait(&counter);
        stop.store(true, SeqCst);
        feeder.join().unwrap();
        waited.unwrap();
        assert_once(&v, "low batch under high work");
        assert!(high_during.load(SeqCst) > 0);
    });
}

// ---------------------------------------------------------------------------------------------
// Panics in batch bodies.

#[test]
fn parallel_for_with_panicking_items_runs_every_other_item_and_reports_one_panic() {
    watchdog(WATCH, || {
        let system = system(2);
        for grain in [Grain::Auto, fixed(1), fixed(8), fixed(usize::MAX)] {
            let before = system.stats().unobserved_panics;
            let v = visits(1000);
            let result = system.parallel_for(0..1000, grain, |i| {
                if i % 100 == 3 {
                    panic!("item {i} failed");
                }
                v[i].fetch_add(1, SeqCst);
            });
            let error = result.expect_err("a panic is returned");
            assert!(error.message().contains("failed"), "{}", error.message());
            for (i, c) in v.iter().enumerate() {
                let want = u8::from(i % 100 != 3);
                assert_eq!(c.load(SeqCst), want, "{grain:?}: item {i}");
            }
            // One is returned; the other nine are counted as unobserved (none is lost), though
            // `Stats::unobserved_panics` says "jobs that nothing waited for".
            let after = system.stats().unobserved_panics;
            assert_eq!(after - before, 9, "{grain:?}");
        }
    });
}

#[test]
fn parallel_for_chunks_with_a_panicking_chunk_runs_every_other_chunk() {
    watchdog(WATCH, || {
        let system = system(2);
        let chunks = Mutex::new(Vec::new());
        let result = system.parallel_for_chunks(0..1000, fixed(10), |r| {
            if r.start == 500 {
                panic!("chunk at 500");
            }
            chunks.lock().unwrap().push(r);
        });
        assert!(result.unwrap_err().message().contains("chunk at 500"));
        let mut chunks = chunks.into_inner().unwrap();
        chunks.push(500..510);
        assert_tiles(chunks, 0..1000, "chunks after a panic");
    });
}

/// `for_each_mut` with a panicking item: the docs of `JobSystem::for_each_mut` say nothing of
/// panics; `parallel_for` runs "every other item", `parallel_for_chunks` ends the chunk. Here the
/// items outside the panicking item's chunk must all be visited, and the panic returned.
#[test]
fn for_each_mut_with_a_panicking_item_visits_every_other_chunk() {
    watchdog(WATCH, || {
        let system = system(2);
        let mut items = vec![0u8; 1000];
        let result = system.for_each_mut(&mut items, fixed(10), |i, x| {
            if i == 505 {
                panic!("item 505");
            }
            *x += 1;
        });
        assert!(result.unwrap_err().message().contains("item 505"));
        for (i, &x) in items.iter().enumerate() {
            if !(500..510).contains(&i) {
                assert_eq!(x, 1, "item {i}");
            } else {
                assert!(x <= 1, "item {i} visited twice");
            }
        }
        assert_eq!(items[505], 0);
    });
}

#[test]
fn submit_for_with_panics_reports_one_to_every_wait_of_the_round() {
    watchdog(WATCH, || {
        let system = system(2);
        let v = Arc::new(visits(500));
        let counter = system.counter();
        let w = v.clone();
        system.submit_for(&counter, 0..500, fixed(3), move |i| {
            if i % 50 == 0 {
                panic!("submit_for item {i}");
            }
            w[i].fetch_add(1, SeqCst);
        });
        let e1 = system.wait(&counter).unwrap_err();
        assert!(e1.message().contains("submit_for item"), "{}", e1.message());
        let e2 = system.wait(&counter).unwrap_err();
        assert_eq!(e1.message(), e2.message());
        for (i, c) in v.iter().enumerate() {
            assert_eq!(c.load(SeqCst), u8::from(i % 50 != 0), "item {i}");
        }
        // The counter is usable for a next round, which succeeds.
        let c2 = counter.clone();
        system.submit_counted(&c2, Job::from_fn(|_| {}));
        system.wait(&counter).unwrap();
    });
}

/// A batch from a spawner whose body panics: the parent does not continue, the panic reaches the
/// waiter, and every other item still ran (none is running after the wait).
#[test]
fn a_spawner_batch_with_a_panic_cancels_the_parent_after_every_item() {
    watchdog(WATCH, || {
        let system = system(2);
        struct P {
            v: Arc<Vec<AtomicU8>>,
            continued: Arc<AtomicBool>,
        }
        fn start(_: &mut P, _: &mut Context<'_>) -> Action<P> {
            Action::Spawn(
                |p, s| {
                    let v = &p.v;
                    s.parallel_for(0..1000, fixed(4), move |i| {
                        if i == 777 {
                            panic!("nested item 777");
                        }
                        v[i].fetch_add(1, SeqCst);
                    });
                },
                |p, _| {
                    p.continued.store(true, SeqCst);
                    Action::Done
                },
            )
        }
        let v = Arc::new(visits(1000));
        let continued = Arc::new(AtomicBool::new(false));
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::new(
                P {
                    v: v.clone(),
                    continued: continued.clone(),
                },
                start,
            ),
        );
        let e = system.wait(&done).unwrap_err();
        assert!(e.message().contains("nested item 777"), "{}", e.message());
        assert!(
            !continued.load(SeqCst),
            "the parent continued after a panic"
        );
        for (i, c) in v.iter().enumerate() {
            assert_eq!(c.load(SeqCst), u8::from(i != 777), "item {i}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// for_each_mut: empty slices, zero-sized types, mixed children.

#[test]
fn for_each_mut_over_zero_sized_items_visits_each_index_once() {
    watchdog(WATCH, || {
        let system = system(2);
        for len in [0usize, 1, 2, 1000, 100_000] {
            for grain in [Grain::Auto, fixed(1), fixed(3), fixed(usize::MAX)] {
                let mut items = vec![(); len];
                let v = visits(len);
                system
                    .for_each_mut(&mut items, grain, |i, unit: &mut ()| {
                        let _: &mut () = unit;
                        v[i].fetch_add(1, SeqCst);
                    })
                    .unwrap();
                assert_once(&v, &format!("ZST len {len} {grain:?}"));
                let mut empty_arrays = vec![[0u64; 0]; len];
                let count = AtomicUsize::new(0);
                system
                    .for_each_mut(&mut empty_arrays, grain, |_, _| {
                        count.fetch_add(1, SeqCst);
                    })
                    .unwrap();
                assert_eq!(count.load(SeqCst), len);
            }
        }
    });
}

#[test]
fn spawner_for_each_mut_over_zero_sized_items_in_the_capture() {
    watchdog(WATCH, || {
        let system = system(2);
        struct P {
            units: Vec<()>,
            v: Vec<AtomicU8>,
            empty: Vec<u64>,
            out: Arc<Mutex<Option<bool>>>,
        }
        fn start(_: &mut P, _: &mut Context<'_>) -> Action<P> {
            Action::Spawn(
                |p, s| {
                    let v = &p.v;
                    s.for_each_mut(&mut p.units, fixed(7), move |i, _| {
                        v[i].fetch_add(1, SeqCst);
                    });
                    s.for_each_mut(&mut p.empty, Grain::Auto, |_, _| panic!("no item"));
                },
                |p, _| {
                    *p.out.lock().unwrap() = Some(p.v.iter().all(|c| c.load(SeqCst) == 1));
                    Action::Done
                },
            )
        }
        let out = Arc::new(Mutex::new(None));
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::new(
                P {
                    units: vec![(); 5000],
                    v: visits(5000),
                    empty: Vec::new(),
                    out: out.clone(),
                },
                start,
            ),
        );
        system.wait(&done).unwrap();
        assert_eq!(*out.lock().unwrap(), Some(true));
    });
}

/// One spawn step that mixes `for_each_mut` over two parts of the capture, `parallel_for`,
/// `parallel_for_chunks`, closure children and a `Job` child (the last child a closure in one
/// round, a batch in another): the continuation sees every write, many rounds.
#[test]
fn spawner_for_each_mut_mixed_with_other_children_in_one_step() {
    watchdog(WATCH, || {
        let system = system(2);
        struct Mix {
            a: Vec<u32>,
            b: Vec<u64>,
            flag: u32,
            job_flag: u32,
            hits: AtomicUsize,
            chunk_items: AtomicUsize,
            batch_last: bool,
            checked: Arc<AtomicUsize>,
        }
        fn start(_: &mut Mix, _: &mut Context<'_>) -> Action<Mix> {
            Action::Spawn(
                |m, s| {
                    let (a, b, flag, job_flag) = (&mut m.a, &mut m.b, &mut m.flag, &mut m.job_flag);
                    let (hits, chunk_items) = (&m.hits, &m.chunk_items);
                    s.for_each_mut(a, fixed(5), |i, x| *x = i as u32 * 2);
                    s.spawn(move |_| *flag = 7);
                    s.parallel_for(0..333, Batch::new().priority(Priority::High), move |_| {
                        hits.fetch_add(1, SeqCst);
                    });
                    s.spawn_job(Job::from_fn(move |_| *job_flag = 9));
                    if m.batch_last {
                        s.parallel_for_chunks(0..777, fixed(100), move |r| {
                            chunk_items.fetch_add(r.len(), SeqCst);
                        });
                        s.for_each_mut(b, Grain::Auto, |i, x| *x = i as u64 + 1);
                    } else {
                        s.for_each_mut(b, Grain::Auto, |i, x| *x = i as u64 + 1);
                        s.parallel_for_chunks(0..777, fixed(100), move |r| {
                            chunk_items.fetch_add(r.len(), SeqCst);
                        });
                        s.spawn(|_| {});
                    }
                },
                |m, _| {
                    assert!(m.a.iter().enumerate().all(|(i, &x)| x == i as u32 * 2));
                    assert!(m.b.iter().enumerate().all(|(i, &x)| x == i as u64 + 1));
                    assert_eq!((m.flag, m.job_flag), (7, 9));
                    assert_eq!(m.hits.load(SeqCst), 333);
                    assert_eq!(m.chunk_items.load(SeqCst), 777);
                    m.checked.fetch_add(1, SeqCst);
                    Action::Done
                },
            )
        }
        let checked = Arc::new(AtomicUsize::new(0));
        let done = system.counter();
        let rounds = 60;
        for round in 0..rounds {
            system.submit_counted(
                &done,
                Job::new(
                    Mix {
                        a: vec![0; 100 + round],
                        b: vec![0; 1000 - round],
                        flag: 0,
                        job_flag: 0,
                        hits: AtomicUsize::new(0),
                        chunk_items: AtomicUsize::new(0),
                        batch_last: round % 2 == 0,
                        checked: checked.clone(),
                    },
                    start,
                )
                .with_priority(Priority::ALL[round % 3]),
            );
        }
        system.wait(&done).unwrap();
        assert_eq!(checked.load(SeqCst), rounds);
    });
}

// ---------------------------------------------------------------------------------------------
// Context::spawn* panics; Wait against WaitSettled.

#[test]
fn context_spawn_panics_detached_are_unobserved_and_counted_ones_reach_the_waiter() {
    watchdog(WATCH, || {
        let system = system(2);
        let before = system.stats().unobserved_panics;
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::from_fn(|cx| {
                cx.spawn(|_| panic!("detached closure"));
                cx.spawn_job(Job::from_fn(|_| panic!("detached job")));
            }),
        );
        system.wait(&done).unwrap();
        assert!(
            common::poll_until(10, || system.stats().unobserved_panics == before + 2),
            "unobserved panics: {} -> {}",
            before,
            system.stats().unobserved_panics
        );

        let counted = system.counter();
        let ok_ran = Arc::new(AtomicUsize::new(0));
        let (c, o) = (counted.clone(), ok_ran.clone());
        let outer = system.counter();
        system.submit_counted(
            &outer,
            Job::from_fn(move |cx| {
                for k in 0..10 {
                    let o = o.clone();
                    if k == 4 {
                        cx.spawn_counted(&c, |_| panic!("counted closure"));
                    } else if k == 6 {
                        cx.spawn_job_counted(&c, Job::from_fn(|_| panic!("counted job")));
                    } else {
                        cx.spawn_counted(&c, move |_| {
                            o.fetch_add(1, SeqCst);
                        });
                    }
                }
            }),
        );
        system.wait(&outer).unwrap();
        let e = system.wait(&counted).unwrap_err();
        assert!(e.message().starts_with("counted"), "{}", e.message());
        assert_eq!(ok_ran.load(SeqCst), 8);
        // The spawning job itself did not fail; the second counted panic of the round is
        // counted as unobserved (one is returned, none lost).
        assert_eq!(system.stats().unobserved_panics, before + 3);
    });
}

struct Waiter {
    on: Counter,
    settled: bool,
    continued: Arc<AtomicBool>,
}

fn waiter(w: &mut Waiter, _: &mut Context<'_>) -> Action<Waiter> {
    let then: jobs::Step<Waiter> = |w, _| {
        w.continued.store(true, SeqCst);
        Action::Done
    };
    if w.settled {
        Action::wait_settled(&w.on, then)
    } else {
        Action::wait(&w.on, then)
    }
}

#[test]
fn wait_settled_continues_after_a_panic_and_leaves_it_with_the_counter() {
    watchdog(WATCH, || {
        let system = system(2);
        for already_done in [false, true] {
            let failing = system.counter();
            let gate = Arc::new(AtomicBool::new(already_done));
            let g = gate.clone();
            let f = failing.clone();
            system.submit_counted(
                &failing,
                Job::from_fn(move |cx| {
                    while !g.load(SeqCst) {
                        std::thread::yield_now();
                    }
                    let _ = cx;
                    let _ = &f;
                    panic!("the counted job failed");
                }),
            );
            if already_done {
                // Let it fail first (without waiting on the counter, which would report it).
                assert!(common::poll_until(10, || failing.is_zero()));
            }
            let settled_flag = Arc::new(AtomicBool::new(false));
            let wait_flag = Arc::new(AtomicBool::new(false));
            let settled = system.counter();
            let waited = system.counter();
            system.submit_counted(
                &settled,
                Job::new(
                    Waiter {
                        on: failing.clone(),
                        settled: true,
                        continued: settled_flag.clone(),
                    },
                    waiter,
                ),
            );
            system.submit_counted(
                &waited,
                Job::new(
                    Waiter {
                        on: failing.clone(),
                        settled: false,
                        continued: wait_flag.clone(),
                    },
                    waiter,
                ),
            );
            gate.store(true, SeqCst);
            system
                .wait(&settled)
                .expect("WaitSettled passes no panic on");
            assert!(settled_flag.load(SeqCst), "WaitSettled continued");
            let e = system.wait(&waited).expect_err("Wait passes the panic on");
            assert!(
                e.message().contains("the counted job failed"),
                "{}",
                e.message()
            );
            assert!(!wait_flag.load(SeqCst), "Wait did not continue");
            let e = system
                .wait(&failing)
                .expect_err("the panic stays with the counter");
            assert!(e.message().contains("the counted job failed"));
        }
    });
}

// ---------------------------------------------------------------------------------------------
// in_frame(u32::MAX); Block::cast_slice.

#[test]
fn in_frame_u32_max_is_a_frame_and_children_inherit_it() {
    watchdog(WATCH, || {
        let system = system(2);
        system.start_recording().unwrap();
        let seen: Arc<Mutex<Vec<(&str, Option<u32>)>>> = Arc::default();
        struct P {
            seen: Arc<Mutex<Vec<(&'static str, Option<u32>)>>>,
        }
        fn start(p: &mut P, cx: &mut Context<'_>) -> Action<P> {
            p.seen.lock().unwrap().push(("parent", cx.frame()));
            let s = p.seen.clone();
            cx.spawn(move |cx| s.lock().unwrap().push(("detached", cx.frame())));
            Action::Spawn(
                |p, s| {
                    let seen = &p.seen;
                    s.spawn(move |cx| seen.lock().unwrap().push(("child", cx.frame())));
                },
                |_, _| Action::Done,
            )
        }
        for frame in [u32::MAX, 0, u32::MAX - 1] {
            seen.lock().unwrap().clear();
            let done = system.counter();
            system.submit_counted(
                &done,
                Job::new(P { seen: seen.clone() }, start)
                    .in_frame(frame)
                    .with_label(jobs::Label::new("framed")),
            );
            system.wait(&done).unwrap();
            // The detached spawn is not counted: poll for it.
            assert!(common::poll_until(10, || seen.lock().unwrap().len() == 3));
            let mut got = seen.lock().unwrap().clone();
            got.sort();
            assert_eq!(
                got,
                vec![
                    ("child", Some(frame)),
                    ("detached", Some(frame)),
                    ("parent", Some(frame))
                ],
                "frame {frame}"
            );
        }
        let trace = system.stop_recording().unwrap();
        let framed: Vec<Option<u32>> = trace
            .spans
            .iter()
            .filter(|s| s.label == jobs::Label::new("framed"))
            .map(|s| s.frame)
            .collect();
        assert!(framed.contains(&Some(u32::MAX)), "{framed:?}");
        assert!(framed.contains(&Some(0)), "{framed:?}");
        assert!(framed.iter().all(|f| f.is_some()), "{framed:?}");
        let mut json = Vec::new();
        trace.write_chrome(&mut json).unwrap();
        assert!(json.starts_with(b"{\"traceEvents\":["));
    });
}

#[test]
fn block_cast_slice_reads_whole_values_only() {
    let system = system(1);
    let mut block = system.heap().allocate_bytes(Tag(3), 18, 8).unwrap();
    assert_eq!(block.cast_slice::<u64>().len(), 2);
    assert_eq!(block.cast_slice::<u32>().len(), 4);
    assert_eq!(block.cast_slice::<u8>().len(), 18);
    block.cast_slice_mut::<u32>().copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(block.cast_slice::<u32>(), &[1, 2, 3, 4]);
    let empty = system.heap().allocate_bytes(Tag(3), 0, 8).unwrap();
    assert!(empty.cast_slice::<u64>().is_empty());
    drop((block, empty));
    system.heap().release(Tag(3));
}

/// A zero-sized `Pod` (`[u32; 0]`, `()`): "as many whole `T` as fit" has no sensible count; it
/// must not panic (bytemuck refuses casts to zero-sized types).
#[test]
fn block_cast_slice_to_a_zero_sized_pod_does_not_panic() {
    let system = system(1);
    let block = system.heap().allocate_bytes(Tag(4), 16, 8).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block.cast_slice::<[u32; 0]>().len()
    }));
    assert!(r.is_ok(), "cast_slice::<[u32; 0]> panicked");
}

// ---------------------------------------------------------------------------------------------
// Batches under priority-limited waits and from pinned parents.

/// A High job run by a High-only wait on the test thread calls `JobSystem::parallel_for` with a
/// Low batch: the nested wait may not run the Low runners on this thread, the workers must, and
/// it must end.
#[test]
fn a_low_batch_from_inside_a_high_only_wait_completes_on_the_workers() {
    watchdog(WATCH, || {
        let system = Arc::new(system(2));
        let main = std::thread::current().id();
        let on_main = Arc::new(AtomicUsize::new(0));
        let items = Arc::new(AtomicUsize::new(0));
        let done = system.counter();
        let (s, m, it) = (system.clone(), on_main.clone(), items.clone());
        system.submit_counted(
            &done,
            Job::from_fn(move |_| {
                s.parallel_for(
                    0..5000,
                    Batch::new().grain(fixed(10)).priority(Priority::Low),
                    |_| {
                        if std::thread::current().id() == main {
                            m.fetch_add(1, SeqCst);
                        }
                        it.fetch_add(1, SeqCst);
                    },
                )
                .unwrap();
            })
            .with_priority(Priority::High),
        );
        let high_only = jobs::WaitOptions::new().lowest_priority(Priority::High);
        assert!(system.wait_with(&done, high_only).unwrap());
        assert_eq!(items.load(SeqCst), 5000);
        assert_eq!(
            on_main.load(SeqCst),
            0,
            "Low items ran on the High-only waiter"
        );
    });
}

/// A parent pinned to a registered thread spawns batches: every item runs once, and the parent
/// continues on its thread.
#[test]
fn spawner_batches_of_a_parent_pinned_to_a_registered_thread() {
    watchdog(WATCH, || {
        let system = system(2);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let me = system.register_thread().unwrap();
                let here = std::thread::current().id();
                struct P {
                    v: Vec<u32>,
                    hits: AtomicUsize,
                    out: Arc<Mutex<Option<(std::thread::ThreadId, bool, usize)>>>,
                }
                fn start(_: &mut P, _: &mut Context<'_>) -> Action<P> {
                    Action::Spawn(
                        |p, s| {
                            let hits = &p.hits;
                            s.for_each_mut(&mut p.v, fixed(16), |i, x| *x = i as u32);
                            s.parallel_for(0..999, Batch::new().priority(Priority::Low), |_| {
                                hits.fetch_add(1, SeqCst);
                            });
                        },
                        |p, _| {
                            let ok = p.v.iter().enumerate().all(|(i, &x)| x == i as u32);
                            *p.out.lock().unwrap() =
                                Some((std::thread::current().id(), ok, p.hits.load(SeqCst)));
                            Action::Done
                        },
                    )
                }
                let out = Arc::new(Mutex::new(None));
                let done = system.counter();
                system.submit_counted(
                    &done,
                    Job::new(
                        P {
                            v: vec![0; 777],
                            hits: AtomicUsize::new(0),
                            out: out.clone(),
                        },
                        start,
                    )
                    .pinned_to(me.thread()),
                );
                system.wait(&done).unwrap();
                assert_eq!(*out.lock().unwrap(), Some((here, true, 999)));
            });
        });
    });
}

#[test]
fn batch_conversions_and_defaults() {
    assert_eq!(Batch::default(), Batch::new());
    assert_eq!(Batch::from(Grain::Auto), Batch::new());
    assert_eq!(Batch::from(fixed(4)), Batch::new().grain(fixed(4)));
    assert_ne!(
        Batch::new().priority(Priority::Low),
        Batch::new().priority(Priority::High)
    );
    assert!(Grain::fixed(0).is_err());
    assert_eq!(Grain::fixed(usize::MAX).unwrap(), fixed(usize::MAX));
}

/// `Spawner::for_each_mut` over the capture with a panicking item: the parent is cancelled and
/// its capture dropped once, and only after every item that borrows it has finished.
#[test]
fn a_panicking_spawner_for_each_mut_drops_the_capture_after_its_items() {
    watchdog(WATCH, || {
        let system = system(2);
        struct Guarded {
            items: Vec<u32>,
            dropped: Arc<AtomicBool>,
            drops: Arc<AtomicUsize>,
            late: Arc<AtomicUsize>,
        }
        impl Drop for Guarded {
            fn drop(&mut self) {
                self.drops.fetch_add(1, SeqCst);
                self.dropped.store(true, SeqCst);
            }
        }
        fn start(_: &mut Guarded, _: &mut Context<'_>) -> Action<Guarded> {
            Action::Spawn(
                |g, s| {
                    let (dropped, late) = (g.dropped.clone(), g.late.clone());
                    s.for_each_mut(&mut g.items, fixed(4), move |i, x| {
                        std::thread::yield_now();
                        if dropped.load(SeqCst) {
                            late.fetch_add(1, SeqCst);
                        }
                        if i == 300 {
                            panic!("item 300 of the capture");
                        }
                        *x += 1;
                    });
                    s.spawn(|_| {});
                },
                |_, _| panic!("the parent must not continue"),
            )
        }
        for _ in 0..20 {
            let (dropped, drops, late) = (
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicUsize::new(0)),
                Arc::new(AtomicUsize::new(0)),
            );
            let done = system.counter();
            system.submit_counted(
                &done,
                Job::new(
                    Guarded {
                        items: vec![0; 1000],
                        dropped: dropped.clone(),
                        drops: drops.clone(),
                        late: late.clone(),
                    },
                    start,
                ),
            );
            let e = system.wait(&done).unwrap_err();
            assert!(e.message().contains("item 300"), "{}", e.message());
            assert_eq!(drops.load(SeqCst), 1);
            assert_eq!(
                late.load(SeqCst),
                0,
                "an item ran after the capture was dropped"
            );
        }
    });
}

/// A counter outside any pool counting jobs of one system, waited on by another system's
/// wait, and by an `Action::WaitSettled` of a job in the second system after a batch panic.
#[test]
fn a_counter_shared_across_two_systems_with_a_panicking_batch() {
    watchdog(WATCH, || {
        let a = system(1);
        let b = system(1);
        let shared = Counter::new();
        let v = Arc::new(visits(300));
        let w = v.clone();
        a.submit_for(&shared, 0..300, fixed(7), move |i| {
            if i == 150 {
                panic!("batch of a");
            }
            w[i].fetch_add(1, SeqCst);
        });
        let settled = Arc::new(AtomicBool::new(false));
        let done = b.counter();
        b.submit_counted(
            &done,
            Job::new(
                Waiter {
                    on: shared.clone(),
                    settled: true,
                    continued: settled.clone(),
                },
                waiter,
            ),
        );
        b.wait(&done).unwrap();
        assert!(settled.load(SeqCst));
        let e = b.wait(&shared).unwrap_err();
        assert!(e.message().contains("batch of a"));
        for (i, c) in v.iter().enumerate() {
            assert_eq!(c.load(SeqCst), u8::from(i != 150), "item {i}");
        }
    });
}

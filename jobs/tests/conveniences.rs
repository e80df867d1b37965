//! The conveniences built on the job model: `submit`, `submit_counted`, `submit_batch`,
//! `submit_for`, `parallel_for`, `parallel_for_chunks` and `for_each_mut`. Every item is
//! visited exactly once, whatever the grain, the range or the number of workers.

mod common;

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{poll_until, system, watchdog};
use jobs::{Counter, Grain, Job, Priority};

fn hits(n: usize) -> Vec<AtomicUsize> {
    (0..n).map(|_| AtomicUsize::new(0)).collect()
}

fn all_once(hits: &[AtomicUsize]) -> bool {
    hits.iter().all(|h| h.load(Ordering::Relaxed) == 1)
}

fn grains() -> Vec<Grain> {
    vec![
        Grain::Auto,
        Grain::fixed(1).unwrap(),
        Grain::fixed(7).unwrap(),
        Grain::fixed(1000).unwrap(),
        Grain::fixed(1 << 20).unwrap(),
    ]
}

#[test]
fn submit_runs_a_fire_and_forget_job() {
    watchdog(30, || {
        let system = system(2);
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let r = ran.clone();
            system.submit(Job::from_fn(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
            }));
        }
        assert!(poll_until(30, || ran.load(Ordering::SeqCst) == 100));
    });
}

#[test]
fn submit_counted_counts_one_job() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
            }),
        );
        system.wait(&counter).unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn submit_batch_runs_every_job_once() {
    watchdog(30, || {
        for workers in [1, 2] {
            let system = system(workers);
            for n in [0, 1, 2, 3, 1000, 10_000] {
                let counter = system.counter();
                let hits = Arc::new(hits(n));
                let jobs: Vec<Job<'static>> = (0..n)
                    .map(|i| {
                        let hits = hits.clone();
                        Job::from_fn(move |_| {
                            hits[i].fetch_add(1, Ordering::Relaxed);
                        })
                        .with_priority(Priority::ALL[i % 3])
                    })
                    .collect();
                system.submit_batch(&counter, jobs);
                system.wait(&counter).unwrap();
                assert!(all_once(&hits), "{workers} workers, {n} jobs");
            }
        }
    });
}

#[test]
fn submit_for_runs_every_index_of_the_range_once() {
    watchdog(60, || {
        let system = system(2);
        for grain in grains() {
            for range in [0..0, 5..6, 100..1100, 0..10_000] {
                for priority in Priority::ALL {
                    let counter = system.counter();
                    let hits = Arc::new(hits(range.end));
                    let h = hits.clone();
                    let start = range.start;
                    system.submit_for(
                        &counter,
                        range.clone(),
                        jobs::Batch::from(grain).priority(priority),
                        move |i| {
                            assert!(i >= start);
                            h[i].fetch_add(1, Ordering::Relaxed);
                        },
                    );
                    system.wait(&counter).unwrap();
                    assert!(
                        all_once(&hits[range.clone()]),
                        "{grain:?} {range:?} {priority:?}"
                    );
                    assert!(hits[..range.start]
                        .iter()
                        .all(|h| h.load(Ordering::Relaxed) == 0));
                }
            }
        }
    });
}

#[test]
fn parallel_for_visits_every_index_once_and_may_borrow() {
    watchdog(60, || {
        for workers in [1, 2] {
            let system = system(workers);
            for grain in grains() {
                for range in [0..0, 3..4, 10..1010, 0..100_000] {
                    let hits = hits(range.end); // borrowed from this frame
                    system
                        .parallel_for(range.clone(), grain, |i| {
                            hits[i].fetch_add(1, Ordering::Relaxed);
                        })
                        .unwrap();
                    assert!(all_once(&hits[range.clone()]), "{grain:?} {range:?}");
                    assert!(hits[..range.start]
                        .iter()
                        .all(|h| h.load(Ordering::Relaxed) == 0));
                }
            }
        }
    });
}

#[test]
fn parallel_for_chunks_cuts_the_range_into_disjoint_chunks_of_at_most_the_grain() {
    watchdog(60, || {
        let system = system(2);
        for grain in [1, 7, 777, 4096, 1 << 20] {
            let range = 13..50_013;
            let chunks: Mutex<Vec<Range<usize>>> = Mutex::new(Vec::new());
            system
                .parallel_for_chunks(range.clone(), Grain::fixed(grain).unwrap(), |chunk| {
                    assert!(!chunk.is_empty() && chunk.len() <= grain);
                    chunks.lock().unwrap().push(chunk);
                })
                .unwrap();
            let mut chunks = chunks.into_inner().unwrap();
            chunks.sort_by_key(|c| c.start);
            assert_eq!(chunks.first().unwrap().start, range.start);
            assert_eq!(chunks.last().unwrap().end, range.end);
            assert!(
                chunks.windows(2).all(|w| w[0].end == w[1].start),
                "chunks tile the range"
            );
        }
        // Auto: 8 chunks per thread running jobs (2 workers and this thread, which helps), every
        // item once.
        let hits = hits(100_000);
        let count = AtomicUsize::new(0);
        system
            .parallel_for_chunks(0..hits.len(), Grain::Auto, |chunk| {
                count.fetch_add(1, Ordering::Relaxed);
                for i in chunk {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                }
            })
            .unwrap();
        assert!(all_once(&hits));
        assert_eq!(count.into_inner(), 24);
        system
            .parallel_for_chunks(9..9, Grain::Auto, |_| unreachable!())
            .unwrap();
    });
}

#[test]
fn for_each_mut_visits_every_item_exactly_once() {
    watchdog(60, || {
        let system = system(2);
        for grain in grains() {
            for len in [0, 1, 2, 999, 100_000] {
                let mut items = vec![0u32; len];
                system
                    .for_each_mut(&mut items, grain, |i, item| {
                        *item += 1 + i as u32;
                    })
                    .unwrap();
                assert!(
                    items.iter().enumerate().all(|(i, &v)| v == 1 + i as u32),
                    "{grain:?} {len}"
                );
            }
        }
        // Items that are not Copy, moved out and back.
        let mut names: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        system
            .for_each_mut(&mut names, Grain::fixed(3).unwrap(), |i, s| {
                s.push('!');
                assert_eq!(*s, format!("{i}!"));
            })
            .unwrap();
        assert!(names.iter().all(|s| s.ends_with('!') && !s.ends_with("!!")));
    });
}

#[test]
fn batches_run_from_inside_a_job_complete() {
    watchdog(30, || {
        let system = Arc::new(system(2));
        let counter = Counter::new();
        let sum = Arc::new(AtomicUsize::new(0));
        let (sys, s) = (system.clone(), sum.clone());
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| {
                // A nested parallel_for on a worker: it helps until its items are done.
                let local = AtomicUsize::new(0);
                sys.parallel_for(0..1000, Grain::fixed(10).unwrap(), |i| {
                    local.fetch_add(i, Ordering::Relaxed);
                })
                .unwrap();
                s.store(local.into_inner(), Ordering::SeqCst);
            }),
        );
        common::poll_zero(&counter, 30);
        system.wait(&counter).unwrap();
        assert_eq!(sum.load(Ordering::SeqCst), 499_500);
    });
}

#[test]
fn a_spawner_visits_every_item_of_its_capture_once() {
    use jobs::{Action, Context, Grain, Job};
    struct Items(Vec<u64>);
    fn visit(_: &mut Items, _: &mut Context<'_>) -> Action<Items> {
        Action::Spawn(
            |items, spawner| {
                spawner.for_each_mut(&mut items.0, Grain::Auto, |i, v| *v += i as u64);
                // An empty slice and a grain of one item are fine too.
                spawner.for_each_mut(&mut [] as &mut [u64], Grain::Auto, |_, _| unreachable!());
            },
            |items, _| {
                assert!(items.0.iter().enumerate().all(|(i, &v)| v == i as u64 + 1));
                Action::Done
            },
        )
    }
    let system = jobs::JobSystem::new(jobs::Config::default().workers(2).core_affinity(false))
        .expect("valid config");
    let done = system.counter();
    system.submit_counted(&done, Job::new(Items(vec![1; 10_007]), visit));
    system.wait(&done).unwrap();
}

#[test]
fn a_block_reads_back_as_plain_old_data() {
    let system = jobs::JobSystem::new(jobs::Config::default().workers(1).core_affinity(false))
        .expect("valid config");
    // 10 bytes as u32: two whole values, the rest is not viewed.
    let mut block = system.heap().allocate_bytes(jobs::Tag(3), 10, 4).unwrap();
    block.cast_slice_mut::<u32>().copy_from_slice(&[7, 9]);
    assert_eq!(block.cast_slice::<u32>(), &[7, 9]);
    assert!(block.cast_slice::<()>().is_empty());
    fn pod<T: jobs::Pod>() {}
    pod::<[f32; 4]>();
}

#[test]
fn a_batch_runs_at_the_priority_it_asks_for_from_the_system_and_from_a_spawner() {
    use jobs::{Action, Batch, Context, Grain, Job, Priority};
    let system = jobs::JobSystem::new(jobs::Config::default().workers(2).core_affinity(false))
        .expect("valid config");
    let low = |stats: &jobs::Stats| stats.jobs_finished[Priority::Low.index()];
    let before = low(&system.stats());
    system
        .parallel_for(0..1000, Batch::new().priority(Priority::Low), |_| {})
        .unwrap();
    let after = low(&system.stats());
    assert!(after - before >= 1000, "{before} -> {after}");
    // From a spawner: the parent is Normal, the batch asks for Low.
    struct Parent;
    fn start(_: &mut Parent, _: &mut Context<'_>) -> Action<Parent> {
        Action::Spawn(
            |_, spawner| {
                let batch = Batch::from(Grain::fixed(10).unwrap()).priority(Priority::Low);
                spawner.parallel_for(0..500, batch, |_| {});
            },
            |_, _| Action::Done,
        )
    }
    let done = system.counter();
    system.submit_counted(&done, Job::new(Parent, start));
    system.wait(&done).unwrap();
    let last = low(&system.stats());
    assert!(last - after >= 500, "{after} -> {last}");
}

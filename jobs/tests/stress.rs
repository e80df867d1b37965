//! Stress: many rounds of random batches, priorities, yields, nested spawns, waits on other
//! counters, memory requests and blocking steps. Every counter must reach zero and every job
//! must run exactly once; a lost wake-up or a lost job shows up as a hang (caught by the
//! watchdog) or a wrong count.

mod common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{system, watchdog};
use jobs::{Action, Block, Context, Counter, Grain, Job, JobSystem, MemoryError, Priority, Tag};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Runs = Arc<Vec<AtomicU8>>;

fn mark(runs: &Runs, slot: usize) {
    runs[slot].fetch_add(1, Ordering::Relaxed);
}

/// One random job of the stress: its kind decides which actions it goes through.
struct Random {
    kind: u64,
    slot: usize,
    children: Vec<usize>,
    yields: u32,
    runs: Runs,
    wait_on: Counter,
    tag: Tag,
}

fn start(j: &mut Random, _: &mut Context<'_>) -> Action<Random> {
    match j.kind {
        0 => finish(j),
        1 => yielding(j),
        2 => Action::Spawn(
            |j, s| {
                for (i, &slot) in j.children.iter().enumerate() {
                    let runs = j.runs.clone();
                    if i % 2 == 0 {
                        s.spawn(move |_| mark(&runs, slot));
                    } else {
                        // A child that yields once and spawns a grandchild that borrows it.
                        struct Child(Runs, usize, u32);
                        s.spawn_job(Job::new(Child(runs, slot, 0), |_, _| {
                            Action::Spawn(
                                |c, s| {
                                    let n = &mut c.2;
                                    s.spawn(move |_| *n += 1);
                                },
                                |c, _| {
                                    assert_eq!(c.2, 1);
                                    Action::Yield(|c, _| {
                                        mark(&c.0, c.1);
                                        Action::Done
                                    })
                                },
                            )
                        }));
                    }
                }
            },
            |j, _| finish(j),
        ),
        3 => Action::wait(&j.wait_on.clone(), |j, _| finish(j)),
        4 => Action::memory(
            j.tag,
            64 + j.slot % 1000,
            |j, _, block: Result<Block, MemoryError>| {
                let mut block = block.expect("memory");
                block.as_mut_slice()[0] = 1;
                finish(j)
            },
        ),
        _ => Action::Blocking(
            |j| std::thread::sleep(Duration::from_micros(j.slot as u64 % 50)),
            |j, _| finish(j),
        ),
    }
}

fn yielding(j: &mut Random) -> Action<Random> {
    if j.yields == 0 {
        return finish(j);
    }
    j.yields -= 1;
    Action::Yield(|j, _| yielding(j))
}

fn finish(j: &mut Random) -> Action<Random> {
    mark(&j.runs, j.slot);
    Action::Done
}

fn round(system: &JobSystem, rng: &mut Rng, round: u64) {
    let jobs = 1 + rng.below(150) as usize;
    let mut kinds = Vec::with_capacity(jobs);
    let mut slots = jobs;
    for _ in 0..jobs {
        let kind = rng.below(6);
        let children = if kind == 2 {
            1 + rng.below(8) as usize
        } else {
            0
        };
        kinds.push((kind, slots..slots + children));
        slots += children;
    }
    let batch_items = rng.below(2000) as usize;
    let runs: Runs = Arc::new((0..slots + batch_items).map(|_| AtomicU8::new(0)).collect());
    let tag = Tag(round);
    let earlier = system.counter(); // waited on by kind-3 jobs
    let counter = system.counter();
    let mut batch = Vec::new();
    for (slot, (kind, children)) in kinds.into_iter().enumerate() {
        let priority = Priority::ALL[rng.below(3) as usize];
        let job = Job::new(
            Random {
                kind,
                slot,
                children: children.collect(),
                yields: rng.below(4) as u32,
                runs: runs.clone(),
                wait_on: earlier.clone(),
                tag,
            },
            start,
        )
        .with_priority(priority);
        // Kind-3 jobs wait on `earlier`, so they must not be counted on it.
        match (kind, rng.below(3)) {
            (3, _) | (_, 0) => batch.push(job),
            (_, 1) => system.submit_counted(&earlier, job),
            _ => system.submit_counted(&counter, job),
        }
    }
    system.submit_batch(&counter, batch);
    let r = runs.clone();
    let grain = Grain::fixed(1 + rng.below(64) as usize).unwrap();
    system.submit_for(
        &counter,
        slots..slots + batch_items,
        jobs::Batch::from(grain).priority(Priority::ALL[rng.below(3) as usize]),
        move |i| mark(&r, i),
    );
    system.wait(&counter).expect("no job panics");
    system.wait(&earlier).expect("no job panics");
    assert!(counter.is_zero() && earlier.is_zero());
    system.heap().release(tag);
    for (slot, run) in runs.iter().enumerate() {
        assert_eq!(
            run.load(Ordering::Relaxed),
            1,
            "round {round}: slot {slot} ran {} times",
            run.load(Ordering::Relaxed)
        );
    }
}

#[test]
fn random_rounds_run_every_job_exactly_once() {
    watchdog(120, || {
        let system = system(2);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for r in 0..2000 {
            round(&system, &mut rng, r);
        }
    });
}

#[test]
fn random_rounds_on_one_worker() {
    watchdog(120, || {
        let system = system(1);
        let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
        for r in 0..500 {
            round(&system, &mut rng, r);
        }
    });
}

#[test]
fn random_rounds_with_more_workers_than_cores() {
    watchdog(120, || {
        let system = system(5);
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for r in 0..300 {
            round(&system, &mut rng, r);
        }
    });
}

#[test]
fn many_outside_threads_submit_and_wait_at_once() {
    watchdog(120, || {
        let system = system(2);
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (system, total) = (&system, &total);
                s.spawn(move || {
                    let mut rng = Rng(t + 1);
                    for _ in 0..200 {
                        let counter = system.counter();
                        let n = 1 + rng.below(64) as usize;
                        for _ in 0..n {
                            system.submit_counted(&counter, Job::from_fn(move |_| {}));
                        }
                        system
                            .parallel_for(0..n, Grain::Auto, |_| {
                                total.fetch_add(1, Ordering::Relaxed);
                            })
                            .unwrap();
                        system.wait(&counter).unwrap();
                    }
                });
            }
        });
        assert!(total.load(Ordering::Relaxed) > 0);
    });
}

#[test]
fn sleep_and_wake_many_times() {
    // Workers go to sleep between bursts (the spin is short); every burst must still complete.
    watchdog(120, || {
        let system = JobSystem::new(
            jobs::Config::default()
                .workers(2)
                .core_affinity(false)
                .spin_before_sleep(Duration::from_micros(1)),
        )
        .unwrap();
        for i in 0..2000 {
            let counter = system.counter();
            let hits = Arc::new(AtomicUsize::new(0));
            let h = hits.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| {
                    h.fetch_add(1, Ordering::Relaxed);
                }),
            );
            if i % 3 == 0 {
                // Let every worker fall asleep.
                std::thread::sleep(Duration::from_micros(200));
            }
            if i % 2 == 0 {
                // Do not help: only a woken worker can run the job.
                while !counter.is_zero() {
                    std::thread::yield_now();
                }
            }
            system.wait(&counter).unwrap();
            assert_eq!(hits.load(Ordering::Relaxed), 1);
        }
    });
}

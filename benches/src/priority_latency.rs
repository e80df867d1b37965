//! `priority_latency`: how long an urgent job waits while the workers are busy with a long
//! queue of background jobs. rayon-core has no priorities: its urgent job queues behind them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs::{Job, JobSystem, Priority};

use crate::compare::{Benchmark, Comparison, Lineup, Peer, Settings, MICROSECONDS};
use crate::{now_ns, sleep_until, spin_for, Stamp, Systems};

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "priority_latency",
    about: "urgent job's submit-to-start behind 1000 busy jobs (us)",
    run: compare,
};

const LINEUP: Lineup<Systems> = Lineup {
    unit: MICROSECONDS,
    ours: |s| ours(&s.ours, s.workers),
    peers: &[Peer {
        name: "rayon-core",
        does: "no priorities: urgent pool.spawn after 1000 spawned 50 us jobs",
        target: "ours <= 100 us",
        run: |s| rayon_core_spawn(&s.rayon, s.workers),
    }],
};

fn compare(settings: &Settings) -> Vec<Comparison> {
    LINEUP.measure(
        BENCHMARK.name,
        settings,
        &mut Systems::without_main(settings.workers),
    )
}

/// Background jobs queued before the urgent one.
pub const LOW_JOBS: usize = 1_000;

/// How long each background job busy-spins.
pub const LOW_JOB: Duration = Duration::from_micros(50);

/// Ours: `LOW_JOBS` Low jobs of `LOW_JOB` each in one `submit_batch`; once every worker has
/// started one, a High job is submitted with `submit_counted`. Returns submit-to-start.
/// The submitting thread sleeps while it waits, so that it takes no core from the workers,
/// and does not run the High job itself.
pub fn ours(system: &JobSystem, workers: usize) -> Duration {
    let started = Arc::new(AtomicUsize::new(0));
    let low = system.counter();
    system.submit_batch(
        &low,
        (0..LOW_JOBS).map(|_| {
            let started = Arc::clone(&started);
            Job::from_fn(move |_| {
                started.fetch_add(1, Ordering::Relaxed);
                spin_for(LOW_JOB);
            })
            .with_priority(Priority::Low)
        }),
    );
    sleep_until(|| started.load(Ordering::Relaxed) >= workers.min(LOW_JOBS));
    let stamp = Stamp::new();
    let mark = stamp.clone();
    let high = system.counter();
    let submitted = now_ns();
    system.submit_counted(
        &high,
        Job::from_fn(move |_| mark.mark()).with_priority(Priority::High),
    );
    let began = stamp.wait();
    system.wait(&high).expect("the urgent job does not panic");
    system.wait(&low).expect("background jobs do not panic");
    Duration::from_nanos(began.saturating_sub(submitted))
}

/// rayon-core (no priorities): `LOW_JOBS` jobs of `LOW_JOB` each with `pool.spawn`, then,
/// once every thread has started one, the urgent job with `pool.spawn` too (from outside the
/// pool both go to the pool's FIFO injector; `spawn_fifo` would queue it the same way).
/// Returns submit-to-start.
pub fn rayon_core_spawn(pool: &rayon_core::ThreadPool, workers: usize) -> Duration {
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    for _ in 0..LOW_JOBS {
        let started = Arc::clone(&started);
        let finished = Arc::clone(&finished);
        pool.spawn(move || {
            started.fetch_add(1, Ordering::Relaxed);
            spin_for(LOW_JOB);
            finished.fetch_add(1, Ordering::Release);
        });
    }
    sleep_until(|| started.load(Ordering::Relaxed) >= workers.min(LOW_JOBS));
    let stamp = Stamp::new();
    let mark = stamp.clone();
    let submitted = now_ns();
    pool.spawn(move || mark.mark());
    let began = stamp.wait();
    sleep_until(|| finished.load(Ordering::Acquire) == LOW_JOBS);
    Duration::from_nanos(began.saturating_sub(submitted))
}

//! `empty_batch`: one batch of a million jobs on one counter, submitted from the main thread,
//! which then waits (and helps). Each job's body is `black_box(i)`, on every side: a body
//! that does nothing lets rayon's `for_each` over a range compile to no loop at all (it
//! measured 0.013 ns/job that way), which is no peer.

use std::hint::black_box;
use std::time::Duration;

use jobs::{Grain, JobSystem, Priority};
use rayon::prelude::*;

use crate::compare::{ns_per, Benchmark, Comparison, Lineup, Peer, Settings, Unit};
use crate::{time, Systems};

/// Jobs per batch.
pub const JOBS: usize = 1_000_000;

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "empty_batch",
    about: "1M jobs of black_box(i) in one batch from the main thread (ns/job)",
    run: compare,
};

const LINEUP: Lineup<Systems> = Lineup {
    unit: Unit {
        name: "ns/job",
        figure: |d| ns_per(d, JOBS as u64),
    },
    ours: |s| ours(&s.ours, JOBS),
    peers: &[
        Peer {
            name: "rayon-core",
            does: "1M scope.spawn(move |_| black_box(i))",
            target: "ours <= 5 ns/job",
            run: |s| rayon_core_scope(&s.rayon, JOBS),
        },
        Peer {
            name: "rayon",
            does: "(0..1M).into_par_iter().for_each(|i| black_box(i))",
            target: "(informative)",
            run: |s| rayon_par_iter(&s.rayon, JOBS),
        },
    ],
};

fn compare(settings: &Settings) -> Vec<Comparison> {
    LINEUP.measure(
        BENCHMARK.name,
        settings,
        &mut Systems::new(settings.workers),
    )
}

/// Ours: `submit_for(&counter, Normal, 0..jobs, Grain::Auto, |i| black_box(i))`, then `wait`.
pub fn ours(system: &JobSystem, jobs: usize) -> Duration {
    let counter = system.counter();
    time(|| {
        system.submit_for(
            &counter,
            0..jobs,
            jobs::Batch::from(Grain::Auto).priority(Priority::Normal),
            |i| {
                black_box(i);
            },
        );
        system.wait(&counter).expect("empty jobs do not panic");
    })
}

/// rayon-core: `pool.scope(|s| for i in 0..jobs { s.spawn(move |_| black_box(i)) })`:
/// rayon-core's way to run many independent jobs and wait for them (the scope closure runs on
/// a pool thread).
pub fn rayon_core_scope(pool: &rayon_core::ThreadPool, jobs: usize) -> Duration {
    time(|| {
        pool.scope(|s| {
            for i in 0..jobs {
                s.spawn(move |_| {
                    black_box(i);
                });
            }
        })
    })
}

/// rayon: `pool.install(|| (0..jobs).into_par_iter().for_each(|i| black_box(i)))`: what a
/// rayon user writes for an indexed batch (recursive splitting, no per-item job).
pub fn rayon_par_iter(pool: &rayon_core::ThreadPool, jobs: usize) -> Duration {
    time(|| {
        pool.install(|| {
            (0..jobs).into_par_iter().for_each(|i| {
                black_box(i);
            })
        })
    })
}

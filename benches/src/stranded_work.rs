//! `stranded_work`: a job spawns children onto its own worker's queue, then runs one long step;
//! how soon does an idle worker start one of them?

use std::time::Duration;

use jobs::{Job, JobSystem};

use crate::compare::{Benchmark, Comparison, Lineup, Peer, Settings, MICROSECONDS};
use crate::{spin_for, Stamp, Systems};

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "stranded_work",
    about:
        "a job spawns 100 children, then runs a 10 ms step: until an idle worker starts one (us)",
    run: compare,
};

const LINEUP: Lineup<Systems> = Lineup {
    unit: MICROSECONDS,
    ours: |s| ours(&s.ours),
    peers: &[Peer {
        name: "rayon-core",
        does: "scope.spawn x100 then a 10 ms step, in the pool",
        target: "ours <= 50 us (median)",
        run: |s| rayon_core_scope(&s.rayon),
    }],
};

fn compare(settings: &Settings) -> Vec<Comparison> {
    LINEUP.measure(
        BENCHMARK.name,
        settings,
        &mut Systems::without_main(settings.workers),
    )
}

/// Children spawned before the long step.
pub const CHILDREN: usize = 100;

/// The spawning job's long step.
pub const STEP: Duration = Duration::from_millis(10);

/// Ours: a job submitted from the main thread spawns [`CHILDREN`] empty jobs with
/// `Context::spawn` (onto its worker's own deque), stamps the time, and spins for [`STEP`];
/// returns that stamp to the first child's first instruction. The main thread sleeps until
/// then (it does not help, so only the other worker can take a child).
pub fn ours(system: &JobSystem) -> Duration {
    let spawned = Stamp::new();
    let first = Stamp::new();
    let (s, f) = (spawned.clone(), first.clone());
    let counter = system.counter();
    system.submit_counted(
        &counter,
        Job::from_fn(move |cx| {
            for _ in 0..CHILDREN {
                let f = f.clone();
                cx.spawn_job(Job::from_fn(move |_| f.mark_first()));
            }
            s.mark();
            spin_for(STEP);
        }),
    );
    let began = first.wait();
    let after = spawned.wait();
    system.wait(&counter).expect("the job does not panic");
    Duration::from_nanos(began.saturating_sub(after))
}

/// rayon-core: the same inside the pool, as its users write it: `pool.spawn` a job that
/// opens a `scope`, `s.spawn`s [`CHILDREN`] empty jobs (onto its worker's deque), stamps the
/// time and spins for [`STEP`].
pub fn rayon_core_scope(pool: &rayon_core::ThreadPool) -> Duration {
    let spawned = Stamp::new();
    let first = Stamp::new();
    let done = Stamp::new();
    let (s, f, d) = (spawned.clone(), first.clone(), done.clone());
    pool.spawn(move || {
        rayon_core::scope(|scope| {
            for _ in 0..CHILDREN {
                let f = f.clone();
                scope.spawn(move |_| f.mark_first());
            }
            s.mark();
            spin_for(STEP);
        });
        d.mark();
    });
    let began = first.wait();
    let after = spawned.wait();
    done.wait();
    Duration::from_nanos(began.saturating_sub(after))
}

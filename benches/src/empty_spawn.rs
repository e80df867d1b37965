//! `empty_spawn`: a million empty jobs spawned one by one, each its own job (enkiTS'
//! TaskThroughput). An empty job is still a job on every side (allocated, queued, run,
//! counted), so no side compiles to nothing.

use std::time::Duration;

use bevy_tasks::TaskPool;
use jobs::{Action, Context, Job, JobSystem, Spawner};

use crate::compare::{ns_per, Benchmark, Comparison, Lineup, Peer, Settings, Unit};
use crate::{bevy_pool, time, Systems};

/// Jobs spawned.
pub const JOBS: usize = 1_000_000;

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "empty_spawn",
    about: "1M empty jobs spawned one by one from inside a job (ns/job)",
    run: compare,
};

/// What `empty_spawn` runs on: ours and rayon-core, and a bevy_tasks pool.
pub struct Pools {
    /// Ours and rayon-core.
    pub systems: Systems,
    /// bevy_tasks, with as many threads.
    pub bevy: TaskPool,
}

impl Pools {
    /// Every system with `workers` threads.
    pub fn new(workers: usize) -> Pools {
        Pools {
            systems: Systems::new(workers),
            bevy: bevy_pool(workers),
        }
    }
}

const LINEUP: Lineup<Pools> = Lineup {
    unit: Unit {
        name: "ns/job",
        figure: |d| ns_per(d, JOBS as u64),
    },
    ours: |p| ours(&p.systems.ours, JOBS),
    peers: &[
        Peer {
            name: "rayon-core",
            does: "pool.scope: 1M s.spawn(|_| {}) from a pool thread",
            target: "ours <= 12 ns/job, ratio <= 0.05",
            run: |p| rayon_core_scope(&p.systems.rayon, JOBS),
        },
        Peer {
            name: "bevy_tasks",
            does: "pool.scope: 1M s.spawn(async {}) from the main thread, which helps",
            target: "(informative)",
            run: |p| bevy_scope(&p.bevy, JOBS),
        },
    ],
};

fn compare(settings: &Settings) -> Vec<Comparison> {
    LINEUP.measure(BENCHMARK.name, settings, &mut Pools::new(settings.workers))
}

struct Root {
    jobs: usize,
}

fn root(_: &mut Root, _: &mut Context<'_>) -> Action<Root> {
    Action::Spawn(spawn_all, finish)
}

fn spawn_all<'c>(root: &'c mut Root, spawner: &mut Spawner<'c, '_>) {
    for _ in 0..root.jobs {
        spawner.spawn(|_| {});
    }
}

fn finish(_: &mut Root, _: &mut Context<'_>) -> Action<Root> {
    Action::Done
}

/// Ours: one root job, submitted counted from the main thread, returns
/// `Action::Spawn(|_, spawner| for _ in 0..jobs { spawner.spawn(|_| {}) }, done)`: the
/// children are counted on the root, which continues (and finishes) after the last one;
/// the main thread waits on the root's counter (and helps).
pub fn ours(system: &JobSystem, jobs: usize) -> Duration {
    let counter = system.counter();
    time(|| {
        system.submit_counted(&counter, Job::new(Root { jobs }, root));
        system.wait(&counter).expect("empty jobs do not panic");
    })
}

/// rayon-core: `pool.scope(|s| for _ in 0..jobs { s.spawn(|_| {}) })`, the scope closure
/// running on a pool thread, so every spawn is made from inside the pool.
pub fn rayon_core_scope(pool: &rayon_core::ThreadPool, jobs: usize) -> Duration {
    time(|| {
        pool.scope(|s| {
            for _ in 0..jobs {
                s.spawn(|_| {});
            }
        })
    })
}

/// bevy_tasks: `pool.scope(|s| for _ in 0..jobs { s.spawn(async {}) })` from the calling
/// thread, as a bevy system does: the tasks go to the pool's executor, and the calling thread
/// runs them too while the scope waits.
pub fn bevy_scope(pool: &TaskPool, jobs: usize) -> Duration {
    time(|| {
        pool.scope(|s| {
            for _ in 0..jobs {
                s.spawn(async {});
            }
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_side_runs_its_jobs() {
        let pools = Pools::new(2);
        ours(&pools.systems.ours, 1000);
        rayon_core_scope(&pools.systems.rayon, 1000);
        bevy_scope(&pools.bevy, 1000);
    }
}

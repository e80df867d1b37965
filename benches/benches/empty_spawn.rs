//! `empty_spawn`: 1,000,000 empty jobs spawned one by one from inside a job (enkiTS'
//! TaskThroughput). Ours: a root job returning `Action::Spawn` that `spawn`s them all;
//! peers: rayon-core `ThreadPool::scope` spawning them from a pool thread, and bevy_tasks
//! `TaskPool::scope` spawning them from the main thread. Throughput is in jobs.
//!
//! Workers: `JOBS_BENCH_WORKERS` (default 2).

use std::time::Duration;

use benches::empty_spawn::{self, Pools};
use benches::{repeat, workers_from_env};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let pools = Pools::new(workers_from_env());
    let sys = &pools.systems;
    let n = empty_spawn::JOBS;
    let mut group = c.benchmark_group("empty_spawn");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("jobs Action::Spawn", |b| {
        b.iter_custom(|iters| repeat(iters, || empty_spawn::ours(&sys.ours, n)))
    });
    group.bench_function("rayon-core scope.spawn", |b| {
        b.iter_custom(|iters| repeat(iters, || empty_spawn::rayon_core_scope(&sys.rayon, n)))
    });
    group.bench_function("bevy_tasks scope.spawn", |b| {
        b.iter_custom(|iters| repeat(iters, || empty_spawn::bevy_scope(&pools.bevy, n)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! `spawn_tree`: a binary tree of spawn-then-continue jobs summing 2^20 leaves. Ours: each node
//! returns `Action::Spawn` with two children writing into its capture, then adds; peers:
//! `rayon_core::join` recursion and chili `Scope::join` recursion. Throughput is in nodes
//! (2^21 - 1).
//!
//! Workers: `JOBS_BENCH_WORKERS` (default 2).

use std::time::Duration;

use benches::spawn_tree::{self, Pools};
use benches::{repeat, workers_from_env};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let pools = Pools::new(workers_from_env());
    let sys = &pools.systems;
    let depth = spawn_tree::DEPTH;
    let mut group = c.benchmark_group("spawn_tree");
    group.throughput(Throughput::Elements(spawn_tree::nodes(depth)));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("jobs Action::Spawn", |b| {
        b.iter_custom(|iters| repeat(iters, || spawn_tree::ours(&sys.ours, depth)))
    });
    group.bench_function("rayon-core join", |b| {
        b.iter_custom(|iters| repeat(iters, || spawn_tree::rayon_core_join(&sys.rayon, depth)))
    });
    group.bench_function("chili join", |b| {
        b.iter_custom(|iters| repeat(iters, || spawn_tree::chili_join(&pools.chili, depth)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

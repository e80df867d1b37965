//! `empty_batch`: one batch of 1,000,000 jobs of `black_box(i)` on one counter, submitted from
//! the main thread, which then waits. Ours: `submit_for` + `wait`; peers: rayon-core `scope`
//! with 1M `spawn`s, and rayon `into_par_iter().for_each`. Throughput is in jobs.
//!
//! Workers: `JOBS_BENCH_WORKERS` (default 2).

use std::time::Duration;

use benches::{empty_batch, repeat, workers_from_env, Systems};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let sys = Systems::new(workers_from_env());
    let n = empty_batch::JOBS;
    let mut group = c.benchmark_group("empty_batch");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("jobs submit_for", |b| {
        b.iter_custom(|iters| repeat(iters, || empty_batch::ours(&sys.ours, n)))
    });
    group.bench_function("rayon-core scope.spawn", |b| {
        b.iter_custom(|iters| repeat(iters, || empty_batch::rayon_core_scope(&sys.rayon, n)))
    });
    group.bench_function("rayon par_iter", |b| {
        b.iter_custom(|iters| repeat(iters, || empty_batch::rayon_par_iter(&sys.rayon, n)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! `parallel_for`: a compute-bound kernel (`benches::kernel`) over 1,000,000 elements into an
//! output `Vec`. Ours: `for_each_mut` with `Grain::Auto`; peers: a sequential loop and rayon
//! `par_iter_mut`. Throughput is in elements.
//!
//! Workers: `JOBS_BENCH_WORKERS` (default 2).

use std::time::Duration;

use benches::{parallel_for, repeat, workers_from_env, Systems};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let sys = Systems::new(workers_from_env());
    let mut out = vec![0.0f32; parallel_for::ELEMENTS];
    let mut group = c.benchmark_group("parallel_for");
    group.throughput(Throughput::Elements(out.len() as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("jobs for_each_mut", |b| {
        b.iter_custom(|iters| repeat(iters, || parallel_for::ours(&sys.ours, &mut out)))
    });
    group.bench_function("sequential", |b| {
        b.iter_custom(|iters| repeat(iters, || parallel_for::sequential(&mut out)))
    });
    group.bench_function("rayon par_iter_mut", |b| {
        b.iter_custom(|iters| repeat(iters, || parallel_for::rayon_par_iter(&sys.peer, &mut out)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

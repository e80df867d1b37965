//! `parallel_for`: a compute-bound kernel (`benches::kernel`) over 1,000,000 elements into an
//! output slice. Ours: `for_each_mut` with `Grain::Auto`; peers: a sequential loop, rayon
//! `par_chunks_mut` and bevy_tasks `par_chunk_map_mut` (8 chunks per worker, a loop over each
//! chunk). Throughput is in elements.
//!
//! Workers: `JOBS_BENCH_WORKERS` (default 2).

use std::time::Duration;

use benches::parallel_for::{self, Pools};
use benches::{repeat, workers_from_env};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let Pools {
        systems,
        bevy,
        mut out,
    } = Pools::new(workers_from_env());
    let mut group = c.benchmark_group("parallel_for");
    group.throughput(Throughput::Elements(out.len() as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("jobs for_each_mut", |b| {
        b.iter_custom(|iters| repeat(iters, || parallel_for::ours(&systems.ours, &mut out)))
    });
    group.bench_function("sequential", |b| {
        b.iter_custom(|iters| repeat(iters, || parallel_for::sequential(&mut out)))
    });
    group.bench_function("rayon par_chunks_mut", |b| {
        b.iter_custom(|iters| {
            repeat(iters, || {
                parallel_for::rayon_par_chunks(&systems.rayon, &mut out)
            })
        })
    });
    group.bench_function("bevy_tasks par_chunk_map_mut", |b| {
        b.iter_custom(|iters| repeat(iters, || parallel_for::bevy_par_chunks(&bevy, &mut out)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

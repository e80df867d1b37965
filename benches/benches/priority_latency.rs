//! `priority_latency`: the workers are busy with 1,000 queued background jobs of 50 us each;
//! then an urgent job is submitted. The figure is submit-to-start latency, not wall time.
//! Ours: Low batch, then a High job; peer: rayon-core has no priorities, the urgent job is a
//! `pool.spawn` behind the 1,000 spawned ones.
//!
//! Criterion here measures the latency each iteration returns (`iter_custom`), while one
//! iteration takes about 25 ms of wall time (the background queue drains). The warm-up and
//! measurement times are therefore set in latency, tiny, so that the iteration counts stay
//! small; criterion will say it could not finish in the target time, which is expected.
//!
//! Workers: `JOBS_BENCH_WORKERS` (default 2).

use std::time::Duration;

use benches::{priority_latency, repeat, workers_from_env, Systems};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let sys = Systems::new(workers_from_env());
    let workers = sys.workers;
    let mut group = c.benchmark_group("priority_latency");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_micros(200));
    group.measurement_time(Duration::from_millis(5));
    group.bench_function("jobs High over Low", |b| {
        b.iter_custom(|iters| repeat(iters, || priority_latency::ours(&sys.ours, workers)))
    });
    group.bench_function("rayon-core spawn", |b| {
        b.iter_custom(|iters| {
            repeat(iters, || {
                priority_latency::rayon_core_spawn(&sys.rayon, workers)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! `wake_latency`: every worker asleep (10 ms after the last work), one job submitted from the
//! main thread; the figure is the time to the job's first instruction, not wall time.
//!
//! As in `priority_latency`, criterion measures the latency each iteration returns while an
//! iteration takes over 10 ms of wall time, so the warm-up and measurement times are tiny.
//!
//! Workers: `JOBS_BENCH_WORKERS` (default 2).

use std::time::Duration;

use benches::{repeat, wake_latency, workers_from_env, Systems};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let sys = Systems::new(workers_from_env());
    let mut group = c.benchmark_group("wake_latency");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_micros(200));
    group.measurement_time(Duration::from_millis(10));
    group.bench_function("jobs submit_counted", |b| {
        b.iter_custom(|iters| repeat(iters, || wake_latency::ours(&sys.ours)))
    });
    group.bench_function("rayon-core spawn", |b| {
        b.iter_custom(|iters| repeat(iters, || wake_latency::rayon_core_spawn(&sys.rayon)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

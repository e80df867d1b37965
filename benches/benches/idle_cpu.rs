//! `idle_cpu`: CPU time burnt by the pool's threads over one idle second right after a burst of
//! work (the same `kernel` burst for both). The figure criterion reports as "time" is that CPU
//! time per idle second (`benches::threads_cpu_ns` of the threads named `jobs-*` or
//! `rayon-peer-*`), not wall time.
//!
//! An iteration takes over a second of wall time for a figure far below a millisecond, so the
//! warm-up and measurement times are tiny (in CPU time) to keep the iteration counts small;
//! criterion will say it could not finish in the target time, which is expected.
//!
//! A window in which the threads used no CPU at all reads 0, which criterion rejects; each
//! window is therefore counted as at least 1 ns.
//!
//! Workers: `JOBS_BENCH_WORKERS` (default 2).

use std::time::Duration;

use benches::{idle_cpu, repeat, workers_from_env, Systems};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let sys = Systems::new(workers_from_env());
    let window = idle_cpu::WINDOW;
    let mut group = c.benchmark_group("idle_cpu");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_nanos(1));
    group.measurement_time(Duration::from_nanos(10));
    let at_least_1ns = |d: Duration| d.max(Duration::from_nanos(1));
    group.bench_function("jobs", |b| {
        b.iter_custom(|iters| repeat(iters, || at_least_1ns(idle_cpu::ours(&sys.ours, window))))
    });
    group.bench_function("rayon-core", |b| {
        b.iter_custom(|iters| {
            repeat(iters, || {
                at_least_1ns(idle_cpu::rayon_core(&sys.rayon, window))
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

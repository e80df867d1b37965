//! The frame graph (`frame` crate) on the job system.
//!
//! `graph_overhead`: 100 empty passes (a chain of 24 through transient links, a fan of 52 —
//! a root writing a per-frame resource, 50 readers, a sink after all 50 — and 4 chains of 6 by
//! explicit orderings), run for 1000 frames by `Frames` with 1 and with 2 frames in flight;
//! the peer runs the same 100 empty tasks with the same dependencies on rayon-core (a
//! `pool.scope` per frame, each task spawned when its last dependency finishes). Throughput is
//! in passes run (frames x 100): criterion's time per element is the ns per pass per frame.
//!
//! `pipelined_frames`: a two-stage frame (`simulate` writes a per-frame resource, `render`
//! reads it), each stage one job running a busy loop calibrated to 1 ms, 200 frames with 1 and
//! with 2 frames in flight, and the two stages back to back on one thread. Throughput is in
//! frames: criterion's elements/s is the frame rate.
//!
//! Workers: `JOBS_BENCH_WORKERS` (default 2).

use std::time::Duration;

use benches::{
    frame_system, graph_overhead, pipelined_frames, rayon_pool, repeat, workers_from_env,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn overhead(c: &mut Criterion) {
    use graph_overhead::*;
    let workers = workers_from_env();
    let system = frame_system(workers, true);
    let pool = rayon_pool(workers);
    let mut one = frames(&system, 1);
    let mut two = frames(&system, 2);
    let dag = Dag::from_graph(&graph());
    let mut group = c.benchmark_group("graph_overhead");
    group.throughput(Throughput::Elements(FRAMES * PASSES as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("frame 1 in flight", |b| {
        b.iter_custom(|iters| repeat(iters, || ours(&mut one, FRAMES)))
    });
    group.bench_function("frame 2 in flight", |b| {
        b.iter_custom(|iters| repeat(iters, || ours(&mut two, FRAMES)))
    });
    group.bench_function("rayon-core scope dataflow", |b| {
        b.iter_custom(|iters| repeat(iters, || rayon_core_dataflow(&pool, &dag, FRAMES)))
    });
    group.finish();
}

fn pipelined(c: &mut Criterion) {
    use pipelined_frames::*;
    let iterations = calibrate();
    let system = frame_system(workers_from_env(), false);
    let mut one = frames(&system, 1, iterations);
    let mut two = frames(&system, 2, iterations);
    let mut group = c.benchmark_group("pipelined_frames");
    group.throughput(Throughput::Elements(FRAMES));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("2 in flight", |b| {
        b.iter_custom(|iters| repeat(iters, || ours(&mut two, FRAMES)))
    });
    group.bench_function("1 in flight", |b| {
        b.iter_custom(|iters| repeat(iters, || ours(&mut one, FRAMES)))
    });
    group.bench_function("sequential", |b| {
        b.iter_custom(|iters| repeat(iters, || sequential(iterations, FRAMES)))
    });
    group.finish();
}

criterion_group!(benches, overhead, pipelined);
criterion_main!(benches);

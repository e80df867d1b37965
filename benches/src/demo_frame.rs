//! `demo_frame`: the demo's default scene (`assets/fountain.toml`) in steady state, its mean
//! frame time on ours, on rayon-core and on one thread: the same kernels and chunks on each
//! (the demo's own backends).

use std::path::Path;
use std::time::Duration;

use demo::run::{run, Backend, Options};
use demo::sim::World;

use crate::compare::{ms, Benchmark, Comparison, Lineup, Peer, Settings, Unit};

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "demo_frame",
    about: "the demo's default scene, steady state: mean frame time on jobs, rayon-core and one thread (ms)",
    run: compare,
};

/// Frames of a run.
pub const FRAMES: u64 = 420;

/// Frames of a run left out of the mean: the scene fills up with particles over its 3 s
/// lifetime (180 frames).
pub const WARMUP_FRAMES: usize = 180;

/// The demo's default scene, loaded.
///
/// # Panics
/// If it does not load.
pub fn default_scene() -> World {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/fountain.toml");
    match demo::scene::load(Path::new(path)) {
        Ok(scene) => World::new(scene),
        Err(error) => panic!("the default scene does not load: {error}"),
    }
}

/// One run of [`FRAMES`] frames of `world` on `backend` with `workers` workers, with a stream
/// of Low-priority `background` jobs beside the frames or without: the intervals between frame
/// completions after the first [`WARMUP_FRAMES`].
///
/// # Panics
/// If the demo fails.
pub fn steady_intervals(
    world: &World,
    backend: Backend,
    workers: usize,
    background: Option<Duration>,
) -> Vec<Duration> {
    let options = Options {
        backend,
        workers,
        frames: FRAMES,
        out: None,
        snapshot_every: 60,
        window: false,
        trace: None,
        background,
    };
    match run(world.clone(), &options, &mut |_| {}) {
        Ok(summary) => summary.intervals[WARMUP_FRAMES.min(summary.intervals.len())..].to_vec(),
        Err(error) => panic!("the demo failed: {error}"),
    }
}

/// One run of [`FRAMES`] frames of `world` on `backend` with `workers` workers: the mean time
/// between frames after the first [`WARMUP_FRAMES`].
///
/// # Panics
/// If the demo fails.
pub fn steady_frame(world: &World, backend: Backend, workers: usize) -> Duration {
    let steady = steady_intervals(world, backend, workers, None);
    steady.iter().sum::<Duration>() / steady.len().max(1) as u32
}

/// What `demo_frame` runs: the scene, and the workers of each backend.
struct Scene {
    world: World,
    workers: usize,
}

const LINEUP: Lineup<Scene> = Lineup {
    unit: Unit {
        name: "ms/frame",
        figure: ms,
    },
    ours: |s| steady_frame(&s.world, Backend::Jobs, s.workers),
    peers: &[
        Peer {
            name: "rayon",
            does: "the same kernels and chunks, a rayon-core scope per stage",
            target: "ratio <= 0.9",
            run: |s| steady_frame(&s.world, Backend::Rayon, s.workers),
        },
        Peer {
            name: "serial",
            does: "the same kernels on one thread",
            target: "ratio <= 0.556 (1.8x faster)",
            run: |s| steady_frame(&s.world, Backend::Serial, s.workers),
        },
    ],
};

/// A run takes seconds: at most 3 rounds, no warm-up round (each run warms up itself).
fn compare(settings: &Settings) -> Vec<Comparison> {
    let mut scene = Scene {
        world: default_scene(),
        workers: settings.workers,
    };
    LINEUP.measure(BENCHMARK.name, &settings.slow(1..=3), &mut scene)
}

//! `background_frames`: the demo's default scene with a steady stream of Low-priority 1 ms jobs
//! that would fill every idle moment (one per worker, each yielding to the back of the Low
//! queue and running again), against the same run without them: the p99 interval between frame
//! completions. Priorities are what keeps background work (streaming, AI) from hurting frames:
//! a frame's job waits at most for the background job in progress on its worker to end.

use std::time::Duration;

use demo::run::Backend;
use demo::sim::World;

use crate::compare::{ms, Benchmark, Comparison, Lineup, Peer, Settings, Unit};
use crate::demo_frame::{default_scene, steady_intervals};

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "background_frames",
    about: "the demo's default scene beside a stream of Low-priority 1 ms jobs: p99 frame completion interval (ms)",
    run: compare,
};

/// The length of one background job.
pub const BACKGROUND_JOB: Duration = Duration::from_millis(1);

/// One run of the demo on the job system with `workers` workers, with the background stream or
/// without: the p99 of the intervals between frame completions in steady state
/// ([`steady_intervals`]).
///
/// # Panics
/// If the demo fails.
pub fn p99_frame(world: &World, workers: usize, background: Option<Duration>) -> Duration {
    let steady = steady_intervals(world, Backend::Jobs, workers, background);
    demo::timing::Spread::of(&steady).p99
}

/// The scene, and the workers.
struct Scene {
    world: World,
    workers: usize,
}

const LINEUP: Lineup<Scene> = Lineup {
    unit: Unit {
        name: "ms p99 frame",
        figure: ms,
    },
    ours: |s| p99_frame(&s.world, s.workers, Some(BACKGROUND_JOB)),
    peers: &[Peer {
        name: "no background",
        does: "the same run without the background stream",
        target: "ours <= peer + 1 ms (one background job)",
        run: |s| p99_frame(&s.world, s.workers, None),
    }],
};

/// A run takes seconds: at most 3 rounds, no warm-up round.
fn compare(settings: &Settings) -> Vec<Comparison> {
    let mut scene = Scene {
        world: default_scene(),
        workers: settings.workers,
    };
    LINEUP.measure(BENCHMARK.name, &settings.slow(1..=3), &mut scene)
}

//! The same scene and seed give bit-identical particle state whatever the backend and the number
//! of workers: every kernel's result is independent of how the work is split.

use std::path::Path;

use demo::run::{self, Backend, Options, Summary};
use demo::scene;
use demo::sim::World;

/// A small fountain (a few thousand particles, a small image) so that debug builds run it fast.
fn small_world(seed: u64) -> World {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/fountain.toml"
    ))
    .expect("the default scene exists");
    let mut scene = scene::parse(&text, Path::new("assets/fountain.toml")).expect("valid");
    scene.seed = seed;
    scene.image.width = 96;
    scene.image.height = 72;
    for emitter in &mut scene.emitters {
        emitter.rate = 3000.0;
    }
    scene.max_particles = 4000;
    World::new(scene)
}

fn run(world: World, backend: Backend, workers: usize, frames: u64) -> Summary {
    let options = Options {
        backend,
        workers,
        frames,
        out: None,
        snapshot_every: 60,
        window: false,
        trace: None,
    };
    run::run(world, &options, &mut |_| {}).expect("runs")
}

#[test]
fn every_backend_and_worker_count_gives_the_same_state() {
    let frames = 45;
    let reference = run(small_world(7), Backend::Serial, 1, frames);
    assert!(
        reference.particles > 1000,
        "{} particles",
        reference.particles
    );
    for (backend, workers) in [
        (Backend::Jobs, 1),
        (Backend::Jobs, 2),
        (Backend::Jobs, 3),
        (Backend::Rayon, 1),
        (Backend::Rayon, 3),
    ] {
        let summary = run(small_world(7), backend, workers, frames);
        assert_eq!(
            (summary.particles, summary.checksum),
            (reference.particles, reference.checksum),
            "{} with {workers} workers",
            backend.name()
        );
    }
}

#[test]
fn another_seed_gives_another_state() {
    let a = run(small_world(1), Backend::Jobs, 2, 20);
    let b = run(small_world(2), Backend::Jobs, 2, 20);
    assert_ne!(a.checksum, b.checksum);
    // And the same seed again, the same state.
    assert_eq!(
        run(small_world(1), Backend::Jobs, 2, 20).checksum,
        a.checksum
    );
}

#[test]
fn the_job_system_reports_its_jobs_and_utilization() {
    let summary = run(small_world(3), Backend::Jobs, 2, 30);
    let jobs = summary
        .jobs_per_frame
        .expect("the job system counts its jobs");
    assert!(jobs >= 50.0, "{jobs} jobs per frame");
    let utilization = summary.utilization.expect("and its utilization");
    assert!((0.0..=1.0).contains(&utilization), "{utilization}");
    assert_eq!(
        run(small_world(3), Backend::Serial, 1, 30).jobs_per_frame,
        None
    );
}

//! The same scene and seed give bit-identical particle state whatever the backend and the number
//! of workers: every kernel's result is independent of how the work is split.

mod common;

use common::{run, small_world};
use demo::run::Backend;

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

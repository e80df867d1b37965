//! Background work beside the frames (`Options::background`, `--background-us`): the frames
//! still run, give the same state, and the stream stops with the run; other backends refuse it.

mod common;

use std::time::Duration;

use common::{run, small_world};
use demo::run::{self as demo_run, Backend, Options};

fn options(backend: Backend, background: Option<Duration>) -> Options {
    Options {
        backend,
        workers: 2,
        frames: 30,
        out: None,
        snapshot_every: 60,
        window: false,
        trace: None,
        background,
    }
}

#[test]
fn frames_run_beside_background_jobs_and_give_the_same_state() {
    let without = run(small_world(3), Backend::Jobs, 2, 30);
    let options = options(Backend::Jobs, Some(Duration::from_micros(300)));
    let with = demo_run::run(small_world(3), &options, &mut |_| {}).expect("runs");
    assert_eq!(with.frames, 30);
    assert_eq!(
        (with.particles, with.checksum),
        (without.particles, without.checksum),
        "the background changes nothing of the frames' results"
    );
    // The background jobs ran too: more jobs per frame than the frames alone make.
    let (with_jobs, without_jobs) = (
        with.jobs_per_frame.unwrap(),
        without.jobs_per_frame.unwrap(),
    );
    assert!(
        with_jobs > without_jobs,
        "{with_jobs} jobs per frame with the background, {without_jobs} without"
    );
}

#[test]
fn background_jobs_need_the_job_system() {
    for backend in [Backend::Rayon, Backend::Serial] {
        let options = options(backend, Some(Duration::from_micros(300)));
        let error = demo_run::run(small_world(3), &options, &mut |_| {}).unwrap_err();
        assert!(
            error.contains("background") && error.contains(backend.name()),
            "{error}"
        );
    }
}

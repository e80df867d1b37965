//! Ours for the frame graph benchmarks (`graph_overhead`, `pipelined_frames`): a job system
//! for [`Frames`], frames of a compiled graph on it, and a timed run of frames.

use std::sync::Arc;
use std::time::Duration;

use frame::{Frames, FramesConfig, Graph};
use jobs::{Config, JobSystem};

use crate::time;

/// Ours for the frame graph benchmarks, in an `Arc` as [`frame::Frames`] takes it, with
/// `workers` threads running jobs: with the main thread helping while it waits
/// ([`ours_config`](crate::ours_config): `workers - 1` workers and the main thread), or not
/// (`workers` workers). `pipelined_frames` runs as the demo does (`false`: the workers own the
/// cores); `graph_overhead` helps (`true`: the main thread runs empty passes itself rather than
/// waking a worker for each).
///
/// # Panics
/// If it cannot be built (zero workers, or the OS refuses threads).
pub fn frame_system(workers: usize, help_while_waiting: bool) -> Arc<JobSystem> {
    let config = if help_while_waiting {
        crate::ours_config(workers)
    } else {
        Config::default().workers(workers).help_while_waiting(false)
    };
    Arc::new(JobSystem::new(config).expect("building the job system"))
}

/// A [`Frames`] running `graph` on `system` with `in_flight` frames in flight.
///
/// # Panics
/// If `in_flight` is not 1 to 3.
pub fn frames_of(system: &Arc<JobSystem>, graph: Graph, in_flight: usize) -> Frames {
    Frames::with_config(
        Arc::clone(system),
        graph,
        FramesConfig::default().in_flight(in_flight),
    )
    .expect("1 to 3 frames in flight")
}

/// `frames` runs `count` frames (`run_frame` each, then `finish`); returns the time.
///
/// # Panics
/// If a frame fails (a pass panicked).
pub fn run_frames(frames: &mut Frames, count: u64, dt: Duration) -> Duration {
    time(|| {
        for _ in 0..count {
            frames.run_frame(dt).expect("the passes do not fail");
        }
        frames.finish().expect("the passes do not fail");
    })
}

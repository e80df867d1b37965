//! `wake_latency`: one job submitted to a system whose workers are all asleep. Each figure of
//! the table is the median of five wakes.

use std::thread;
use std::time::Duration;

use jobs::{Job, JobSystem};

use crate::compare::{Benchmark, Comparison, Lineup, Peer, Settings, MICROSECONDS};
use crate::{now_ns, Stamp, Systems};

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "wake_latency",
    about: "one job into a sleeping pool, submit-to-start (us)",
    run: compare,
};

/// The median of five runs of `wake`.
fn five(mut wake: impl FnMut() -> Duration) -> Duration {
    let mut wakes: Vec<Duration> = (0..5).map(|_| wake()).collect();
    wakes.sort();
    wakes[2]
}

const LINEUP: Lineup<Systems> = Lineup {
    unit: MICROSECONDS,
    ours: |s| five(|| ours(&s.ours)),
    peers: &[Peer {
        name: "rayon-core",
        does: "pool.spawn into a pool asleep for 10 ms",
        target: "(no target)",
        run: |s| five(|| rayon_core_spawn(&s.rayon)),
    }],
};

fn compare(settings: &Settings) -> Vec<Comparison> {
    LINEUP.measure(
        BENCHMARK.name,
        settings,
        &mut Systems::without_main(settings.workers),
    )
}

/// How long the system is left idle first: far beyond both systems' spinning, so every
/// worker is parked.
pub const IDLE: Duration = Duration::from_millis(10);

/// Ours: after [`IDLE`], `submit_counted` one job from the main thread (which then sleeps
/// rather than running it); returns submit to the job's first instruction.
pub fn ours(system: &JobSystem) -> Duration {
    thread::sleep(IDLE);
    let stamp = Stamp::new();
    let mark = stamp.clone();
    let counter = system.counter();
    let submitted = now_ns();
    system.submit_counted(&counter, Job::from_fn(move |_| mark.mark()));
    let began = stamp.wait();
    system.wait(&counter).expect("the job does not panic");
    Duration::from_nanos(began.saturating_sub(submitted))
}

/// rayon-core: after [`IDLE`], `pool.spawn` one job from the main thread.
pub fn rayon_core_spawn(pool: &rayon_core::ThreadPool) -> Duration {
    thread::sleep(IDLE);
    let stamp = Stamp::new();
    let mark = stamp.clone();
    let submitted = now_ns();
    pool.spawn(move || mark.mark());
    let began = stamp.wait();
    Duration::from_nanos(began.saturating_sub(submitted))
}

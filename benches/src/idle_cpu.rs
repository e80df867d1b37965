//! `idle_cpu`: CPU burnt by the pool's threads while idle, right after a burst of work.
//!
//! The burst (the [`kernel`] over [`BURST`] elements) is not measured: it only makes every
//! thread of the pool busy just before the idle second that is.

use std::hint::black_box;
use std::thread;
use std::time::Duration;

use jobs::{Grain, JobSystem};
use rayon::prelude::*;

use crate::compare::{ms, Benchmark, Comparison, Lineup, Peer, Settings, Unit};
use crate::{kernel, threads_cpu_ns, Systems, OURS_THREAD_PREFIX, PEER_THREAD_PREFIX};

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "idle_cpu",
    about: "CPU burnt by idle pool threads after a burst (cpu ms per idle s)",
    run: compare,
};

const LINEUP: Lineup<Systems> = Lineup {
    unit: Unit {
        name: "cpu ms per idle s (pool threads)",
        figure: ms,
    },
    ours: |s| ours(&s.ours, WINDOW),
    peers: &[Peer {
        name: "rayon-core",
        does: "same kernel burst (par_iter), then 1 s idle",
        target: "ours <= 5 ms",
        run: |s| rayon_core(&s.rayon, WINDOW),
    }],
};

/// A round is two idle seconds: three rounds (up to five if more are asked for), and no
/// warm-up round (every round starts with its own burst).
fn compare(settings: &Settings) -> Vec<Comparison> {
    let settings = settings.slow(3..=5);
    LINEUP.measure(
        BENCHMARK.name,
        &settings,
        &mut Systems::without_main(settings.workers),
    )
}

/// Elements of [`kernel`] in the burst before the idle window (a few milliseconds).
pub const BURST: usize = 100_000;

/// The idle window.
pub const WINDOW: Duration = Duration::from_secs(1);

/// Ours: a `parallel_for_chunks` burst, then the CPU time of our threads (workers and I/O
/// thread) over `window` of idleness that starts as soon as the burst returns.
pub fn ours(system: &JobSystem, window: Duration) -> Duration {
    system
        .parallel_for_chunks(0..BURST, Grain::Auto, |chunk| {
            for i in chunk {
                black_box(kernel(i));
            }
        })
        .expect("the kernel does not panic");
    idle_window(OURS_THREAD_PREFIX, window)
}

/// rayon-core: a `par_iter` burst in the pool, then the CPU time of its threads over
/// `window`.
pub fn rayon_core(pool: &rayon_core::ThreadPool, window: Duration) -> Duration {
    pool.install(|| {
        (0..BURST).into_par_iter().for_each(|i| {
            black_box(kernel(i));
        })
    });
    idle_window(PEER_THREAD_PREFIX, window)
}

fn idle_window(prefix: &str, window: Duration) -> Duration {
    let before = threads_cpu_ns(prefix);
    thread::sleep(window);
    let after = threads_cpu_ns(prefix);
    Duration::from_nanos(after.saturating_sub(before))
}

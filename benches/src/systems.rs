//! The systems under test: ours and every peer pool, built with the same worker count.
//!
//! Every benchmark builds what it runs on once (not per run), with `--workers N` (or
//! [`WORKERS_ENV`] for the criterion benches) threads for each system:
//! - ours: `jobs::Config::default().workers(n)` (pinned workers, the default), with the main
//!   thread helping while it waits;
//! - rayon-core ([`rayon_pool`]): a pool of `n` threads; the main thread blocks in `install`;
//! - bevy_tasks ([`bevy_pool`]): a `TaskPool` of `n` threads; the thread that opens a scope
//!   also runs the scope's tasks while it waits (as ours does);
//! - chili ([`chili_pool`]): `thread_count` `n`, which chili counts with the calling thread:
//!   `n - 1` worker threads, and the thread that opens the scope runs the top of the work.
//!
//! The peer pools other than rayon-core are built only by the benchmarks that use them, so that
//! their idle threads are not there while the others run.

use std::num::NonZeroUsize;

use jobs::{Config, JobSystem};

/// Workers used when nothing else is asked for: the size of the development machines.
pub const DEFAULT_WORKERS: usize = 2;

/// The environment variable the criterion benches read their worker count from
/// (`JOBS_BENCH_WORKERS=8 cargo bench -p benches`); [`DEFAULT_WORKERS`] if unset.
pub const WORKERS_ENV: &str = "JOBS_BENCH_WORKERS";

/// Prefix of the names of our threads (workers `jobs-worker-N`, I/O threads `jobs-io-N`).
pub const OURS_THREAD_PREFIX: &str = "jobs-";

/// Prefix of the names of the rayon-core pool's threads (`rayon-peer-N`).
pub const PEER_THREAD_PREFIX: &str = "rayon-peer-";

/// Prefix of the names of the bevy_tasks pool's threads (`bevy-peer (N)`: bevy adds the index).
pub const BEVY_THREAD_PREFIX: &str = "bevy-peer";

/// The worker count for the criterion benches: [`WORKERS_ENV`], else [`DEFAULT_WORKERS`].
///
/// ```
/// // Unset here: the default.
/// assert_eq!(benches::workers_from_env(), benches::DEFAULT_WORKERS);
/// ```
///
/// # Panics
/// If the variable is set but is not a positive integer.
pub fn workers_from_env() -> usize {
    match std::env::var(WORKERS_ENV) {
        Ok(value) => match value.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("{WORKERS_ENV}={value:?}: expected a positive integer"),
        },
        Err(_) => DEFAULT_WORKERS,
    }
}

/// Ours and rayon-core, the pair most benchmarks run, with the same number of workers.
///
/// ```
/// let systems = benches::Systems::new(2);
/// assert_eq!(systems.ours.worker_count(), 2);
/// assert_eq!(systems.rayon.current_num_threads(), 2);
/// ```
pub struct Systems {
    /// Ours: `jobs::Config::default().workers(workers)`.
    pub ours: JobSystem,
    /// rayon-core: [`rayon_pool`]`(workers)`.
    pub rayon: rayon_core::ThreadPool,
    /// The worker count of each.
    pub workers: usize,
}

impl Systems {
    /// Builds a job system and a rayon-core pool of `workers` threads each.
    ///
    /// # Panics
    /// If either cannot be built (zero workers, or the OS refuses threads).
    pub fn new(workers: usize) -> Systems {
        let ours =
            JobSystem::new(Config::default().workers(workers)).expect("building the job system");
        Systems {
            ours,
            rayon: rayon_pool(workers),
            workers,
        }
    }
}

/// A rayon-core pool of `workers` threads named `rayon-peer-N`.
///
/// # Panics
/// If it cannot be built (zero workers, or the OS refuses threads).
pub fn rayon_pool(workers: usize) -> rayon_core::ThreadPool {
    rayon_core::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("{PEER_THREAD_PREFIX}{i}"))
        .build()
        .expect("building the rayon-core pool")
}

/// A bevy_tasks `TaskPool` of `workers` threads named `bevy-peer (N)`.
///
/// ```
/// assert_eq!(benches::bevy_pool(2).thread_num(), 2);
/// ```
///
/// # Panics
/// If the OS refuses threads.
pub fn bevy_pool(workers: usize) -> bevy_tasks::TaskPool {
    bevy_tasks::TaskPoolBuilder::new()
        .num_threads(workers)
        .thread_name(BEVY_THREAD_PREFIX.to_string())
        .build()
}

/// A chili `ThreadPool` with `thread_count` `workers` (the thread that opens a scope is one of
/// them: `workers - 1` worker threads are started) and chili's default heartbeat (100 us).
///
/// # Panics
/// If `workers` is zero, or the OS refuses threads.
pub fn chili_pool(workers: usize) -> chili::ThreadPool {
    chili::ThreadPool::with_config(chili::Config {
        thread_count: Some(NonZeroUsize::new(workers).expect("at least one worker")),
        ..chili::Config::default()
    })
}

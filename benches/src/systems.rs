//! The systems under test: ours and every peer pool, built with the same worker count.
//!
//! Every benchmark builds what it runs on once (not per run), with `--workers N` (or
//! [`WORKERS_ENV`] for the criterion benches) threads for each system:
//! - ours: `n` threads running jobs, configured as our users would on an `n`-core machine
//!   ([`Systems::new`]: `Config::default()`'s count, `n - 1` pinned workers and the main thread,
//!   which runs jobs while it waits); where the benchmark's main thread does not wait on the
//!   system (it sleeps, or times from outside), `n` workers and no help
//!   ([`Systems::without_main`]);
//! - rayon-core ([`rayon_pool`]): a pool of `n` threads; the main thread blocks in `install`;
//! - bevy_tasks ([`bevy_pool`]): the thread that opens a scope runs the scope's tasks while it
//!   waits (as ours does), so a `TaskPool` of `n - 1` threads and that thread (one thread for
//!   `n == 1`);
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
/// If the variable is set but is not an integer from 1 to [`jobs::Config::MAX_WORKERS`] (the
/// criterion benches have no other way to stop with a message).
pub fn workers_from_env() -> usize {
    match std::env::var(WORKERS_ENV) {
        Ok(value) => match value.trim().parse::<usize>() {
            Ok(n) if (1..=jobs::Config::MAX_WORKERS).contains(&n) => n,
            _ => panic!(
                "{WORKERS_ENV}={value:?}: expected an integer from 1 to {}",
                jobs::Config::MAX_WORKERS
            ),
        },
        Err(_) => DEFAULT_WORKERS,
    }
}

/// Ours and rayon-core, the pair most benchmarks run, with the same number of threads running
/// jobs.
///
/// ```
/// // Two threads running jobs each: one worker and the main thread, two pool threads.
/// let systems = benches::Systems::new(2);
/// assert_eq!(systems.ours.worker_count(), 1);
/// assert_eq!(systems.rayon.current_num_threads(), 2);
/// // With a main thread that never waits on the system: two workers.
/// assert_eq!(benches::Systems::without_main(2).ours.worker_count(), 2);
/// ```
pub struct Systems {
    /// Ours: [`ours_config`]`(workers)` or, without the main thread, `workers` workers.
    pub ours: JobSystem,
    /// rayon-core: [`rayon_pool`]`(workers)`.
    pub rayon: rayon_core::ThreadPool,
    /// The threads running jobs in each.
    pub workers: usize,
}

impl Systems {
    /// Builds a job system and a rayon-core pool of `workers` threads running jobs each, ours
    /// configured as [`ours_config`] says (the main thread is one of them).
    ///
    /// # Panics
    /// If either cannot be built (zero workers, or the OS refuses threads).
    pub fn new(workers: usize) -> Systems {
        let ours = JobSystem::new(ours_config(workers)).expect("building the job system");
        Systems {
            ours,
            rayon: rayon_pool(workers),
            workers,
        }
    }

    /// As [`new`](Self::new), for a benchmark whose main thread never waits on the system (it
    /// sleeps, or times from outside): ours gets `workers` workers, and its main thread does
    /// not help.
    ///
    /// # Panics
    /// As [`new`](Self::new).
    pub fn without_main(workers: usize) -> Systems {
        let config = Config::default().workers(workers).help_while_waiting(false);
        Systems {
            ours: JobSystem::new(config).expect("building the job system"),
            rayon: rayon_pool(workers),
            workers,
        }
    }
}

/// Ours with `threads` threads running jobs, as its users configure it on a machine of that
/// many cores (`Config::default()`'s count): `threads - 1` pinned workers and the main thread,
/// which runs jobs while it waits; one worker and no help for `threads == 1`.
///
/// ```
/// let system = jobs::JobSystem::new(benches::ours_config(4))?;
/// assert_eq!(system.worker_count(), 3);
/// # Ok::<(), jobs::ConfigError>(())
/// ```
pub fn ours_config(threads: usize) -> Config {
    if threads <= 1 {
        Config::default().workers(1).help_while_waiting(false)
    } else {
        Config::default().workers(threads - 1)
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

/// A bevy_tasks `TaskPool` with `threads` threads running tasks: `threads - 1` pool threads
/// named `bevy-peer (N)` and the thread that opens a scope (at least one pool thread).
///
/// ```
/// assert_eq!(benches::bevy_pool(2).thread_num(), 1);
/// assert_eq!(benches::bevy_pool(1).thread_num(), 1);
/// ```
///
/// # Panics
/// If the OS refuses threads.
pub fn bevy_pool(threads: usize) -> bevy_tasks::TaskPool {
    bevy_tasks::TaskPoolBuilder::new()
        .num_threads(threads.saturating_sub(1).max(1))
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

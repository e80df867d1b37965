//! Configuration of a [`JobSystem`](crate::JobSystem), checked when the system is built.

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

/// How to build a [`JobSystem`](crate::JobSystem).
///
/// The defaults follow the Naughty Dog model: one worker per available core, each pinned to its
/// core, one I/O thread, workers that spin for 100 us before they sleep, and a tagged heap of
/// 2 MiB blocks.
///
/// ```
/// use std::time::Duration;
/// let config = jobs::Config::default()
///     .workers(4)
///     .pin_workers(false)
///     .spin_before_sleep(Duration::from_micros(50));
/// let system = jobs::JobSystem::new(config)?;
/// assert_eq!(system.worker_count(), 4);
/// # Ok::<(), jobs::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) workers: Option<usize>,
    pub(crate) pin: bool,
    pub(crate) cores: Option<Vec<usize>>,
    pub(crate) io_threads: usize,
    pub(crate) spin: Duration,
    pub(crate) heap_block_size: usize,
    pub(crate) help_while_waiting: bool,
    pub(crate) recorder_memory: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: None,
            pin: true,
            cores: None,
            io_threads: 1,
            spin: Duration::from_micros(100),
            heap_block_size: 2 << 20,
            help_while_waiting: true,
            recorder_memory: 256 << 20,
        }
    }
}

impl Config {
    /// Number of worker threads. Default: one per available core. Zero is an error.
    pub fn workers(mut self, count: usize) -> Self {
        self.workers = Some(count);
        self
    }

    /// Whether to pin each worker to a core (default `true`). A core that cannot be pinned is
    /// reported by [`JobSystem::pinning`](crate::JobSystem::pinning), not fatal.
    pub fn pin_workers(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// Pin worker `i` to core `cores[i % cores.len()]` instead of core `i`. Every id must be a
    /// core this machine has.
    pub fn cores(mut self, cores: Vec<usize>) -> Self {
        self.cores = Some(cores);
        self
    }

    /// Number of threads that run blocking requests ([`Action::Blocking`](crate::Action)).
    /// Default 1. Zero is an error.
    pub fn io_threads(mut self, count: usize) -> Self {
        self.io_threads = count;
        self
    }

    /// How long an idle worker keeps looking for work before it sleeps. Default 100 us: longer
    /// than a park/unpark round trip (about 40 us here), short enough that an idle system costs
    /// no CPU.
    pub fn spin_before_sleep(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Whether a thread outside the pool (the main thread) runs the pool's jobs while it waits
    /// in [`JobSystem::wait`](crate::JobSystem::wait) (default `true`). Turn it off when the
    /// workers already have every core: the waiting thread then runs only the jobs pinned to it
    /// and sleeps otherwise, instead of taking a core from a worker (on 2 cores with 2 workers,
    /// a helping main thread only trades places with them).
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().help_while_waiting(false))?;
    /// let counter = system.counter();
    /// system.submit_counted(&counter, jobs::Job::from_fn(|cx| assert!(!cx.on_main_thread())));
    /// system.wait(&counter)?; // sleeps: a worker runs the job
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn help_while_waiting(mut self, help: bool) -> Self {
        self.help_while_waiting = help;
        self
    }

    /// The most memory the recorder holds spans in while recording (default 256 MiB, about
    /// 11 million spans; at least two chunks of 96 KiB per thread that runs jobs). Spans past it
    /// are dropped and counted in [`Trace::dropped_spans`](crate::trace::Trace::dropped_spans).
    /// Nothing is allocated until a recording starts.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().recorder_memory(16 << 20))?;
    /// system.start_recording()?;
    /// let trace = system.stop_recording()?;
    /// assert_eq!(trace.dropped_spans, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recorder_memory(mut self, bytes: usize) -> Self {
        self.recorder_memory = bytes;
        self
    }

    /// Size of one block of the tagged heap. Default 2 MiB. Zero is an error.
    pub fn heap_block_size(mut self, bytes: usize) -> Self {
        self.heap_block_size = bytes;
        self
    }

    /// Checks the configuration against this machine; returns the resolved worker cores.
    pub(crate) fn resolve(&self) -> Result<Resolved, ConfigError> {
        let available = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let workers = self.workers.unwrap_or(available);
        if workers == 0 {
            return Err(ConfigError::ZeroWorkers);
        }
        if self.io_threads == 0 {
            return Err(ConfigError::ZeroIoThreads);
        }
        if self.heap_block_size == 0 {
            return Err(ConfigError::ZeroHeapBlockSize);
        }
        let machine_cores: Vec<usize> = core_affinity::get_core_ids()
            .map(|ids| ids.into_iter().map(|c| c.id).collect())
            .unwrap_or_default();
        let cores = match &self.cores {
            Some(cores) if cores.is_empty() => return Err(ConfigError::EmptyCoreList),
            Some(cores) => {
                for &core in cores {
                    if !machine_cores.contains(&core) {
                        return Err(ConfigError::NoSuchCore {
                            core,
                            available: machine_cores.clone(),
                        });
                    }
                }
                (0..workers).map(|i| Some(cores[i % cores.len()])).collect()
            }
            None if self.pin && !machine_cores.is_empty() => (0..workers)
                .map(|i| Some(machine_cores[i % machine_cores.len()]))
                .collect(),
            None => vec![None; workers],
        };
        Ok(Resolved {
            workers,
            cores: if self.pin || self.cores.is_some() {
                cores
            } else {
                vec![None; workers]
            },
        })
    }
}

pub(crate) struct Resolved {
    pub(crate) workers: usize,
    /// The core each worker is to be pinned to, `None` for no pinning.
    pub(crate) cores: Vec<Option<usize>>,
}

/// A configuration the job system cannot run with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `workers(0)`: a job system needs at least one worker.
    ZeroWorkers,
    /// `io_threads(0)`: blocking requests need at least one I/O thread.
    ZeroIoThreads,
    /// `heap_block_size(0)`.
    ZeroHeapBlockSize,
    /// `cores(vec![])`.
    EmptyCoreList,
    /// A core id in `cores(...)` that this machine does not have.
    NoSuchCore {
        /// The id asked for.
        core: usize,
        /// The ids this machine has.
        available: Vec<usize>,
    },
    /// A grain size of zero: every chunk must hold at least one item.
    ZeroGrain,
    /// The operating system refused to start a thread.
    Spawn(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroWorkers => write!(
                f,
                "workers(0): a job system needs at least one worker thread"
            ),
            ConfigError::ZeroIoThreads => write!(
                f,
                "io_threads(0): blocking requests need at least one I/O thread"
            ),
            ConfigError::ZeroHeapBlockSize => write!(
                f,
                "heap_block_size(0): tagged heap blocks must hold at least one byte"
            ),
            ConfigError::EmptyCoreList => write!(
                f,
                "cores([]): give at least one core id, or leave cores unset"
            ),
            ConfigError::NoSuchCore { core, available } => {
                write!(
                    f,
                    "core {core} does not exist on this machine (cores: {available:?})"
                )
            }
            ConfigError::ZeroGrain => {
                write!(f, "grain size 0: a chunk must hold at least one item")
            }
            ConfigError::Spawn(why) => write!(f, "could not start a thread: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}

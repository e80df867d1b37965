//! Configuration of a [`JobSystem`](crate::JobSystem), checked when the system is built.

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::heap::HeapSettings;

/// How to build a [`JobSystem`](crate::JobSystem).
///
/// The defaults follow the Naughty Dog model: one thread running jobs per available core, each
/// worker pinned to its core, one I/O thread, workers that spin for 100 us before they sleep,
/// and a tagged heap of 2 MiB chunks.
///
/// ## Threads and cores
/// A thread that waits with [`help_while_waiting`](Self::help_while_waiting) on (the default)
/// runs jobs while it waits: the main thread of a game loop is then one of the threads running
/// jobs, as in enkiTS. So the default is one worker per core *less one*, and the workers are
/// pinned to every core but the first, which is left to the main thread: never more runnable
/// threads than cores, and no core where the main thread and a pinned worker take turns. With
/// `help_while_waiting(false)` the default is one worker per core. A machine with one core gets
/// one worker either way.
///
/// To choose otherwise, set [`workers`](Self::workers) (and [`cores`](Self::cores)): more
/// workers than cores only makes them take turns; fewer leaves cores to other threads of the
/// game (audio, streaming, a render thread of its own).
///
/// ```
/// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
/// let system = jobs::JobSystem::new(jobs::Config::default())?;
/// assert_eq!(system.worker_count(), (cores - 1).max(1));
/// let system = jobs::JobSystem::new(jobs::Config::default().help_while_waiting(false))?;
/// assert_eq!(system.worker_count(), cores);
/// # Ok::<(), jobs::ConfigError>(())
/// ```
///
/// Every setting is checked by [`JobSystem::new`](crate::JobSystem::new), which returns a
/// [`ConfigError`] naming the value and the range allowed, before any thread starts: the ranges
/// are the associated constants ([`MAX_WORKERS`](Self::MAX_WORKERS),
/// [`MAX_IO_THREADS`](Self::MAX_IO_THREADS), [`MAX_SPIN`](Self::MAX_SPIN),
/// [`MAX_HEAP_CHUNK_SIZE`](Self::MAX_HEAP_CHUNK_SIZE)).
///
/// ```
/// use std::time::Duration;
/// let config = jobs::Config::default()
///     .workers(4)
///     .core_affinity(false)
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
    /// The tagged heap's chunk size and reserve.
    pub(crate) heap: HeapSettings,
    pub(crate) help_while_waiting: bool,
    pub(crate) recorder_memory: usize,
    pub(crate) stack_size: usize,
    pub(crate) low_priority_threads: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: None,
            pin: true,
            cores: None,
            io_threads: 1,
            spin: Duration::from_micros(100),
            heap: HeapSettings {
                chunk_size: 2 << 20,
                reserve_chunks: Config::DEFAULT_HEAP_RESERVE_CHUNKS,
            },
            help_while_waiting: true,
            recorder_memory: 256 << 20,
            low_priority_threads: None,
            stack_size: Config::DEFAULT_STACK_SIZE,
        }
    }
}

impl Config {
    /// The most worker threads: 1024.
    ///
    /// Workers beyond the cores only take turns on them, so a real count is at most a few times
    /// the cores (the largest machines have a few hundred). A fixed bound, rather than one
    /// relative to this machine's cores, keeps a configuration valid on every machine it is
    /// shipped to. It also keeps every thread far inside what the process can hold: each thread
    /// maps a stack and a signal stack, and once the kernel's map count (65 530 by default on
    /// Linux) runs out, Rust aborts the process inside the new thread, where no error can be
    /// returned (that is what 100 000 workers did).
    ///
    /// ```
    /// let err = jobs::JobSystem::new(jobs::Config::default().workers(100_000)).unwrap_err();
    /// assert_eq!(err, jobs::ConfigError::TooManyWorkers(100_000));
    /// assert!(err.to_string().contains("1 to 1024"));
    /// ```
    pub const MAX_WORKERS: usize = 1024;

    /// The most I/O threads: 256. Each blocks on one request at a time; more than a few hundred
    /// requests waiting at once want an asynchronous API, not threads. The bound keeps the
    /// thread count well inside what the process can hold, as for
    /// [`MAX_WORKERS`](Self::MAX_WORKERS).
    ///
    /// ```
    /// let config = jobs::Config::default().io_threads(jobs::Config::MAX_IO_THREADS + 1);
    /// assert_eq!(
    ///     jobs::JobSystem::new(config).unwrap_err(),
    ///     jobs::ConfigError::TooManyIoThreads(257)
    /// );
    /// ```
    pub const MAX_IO_THREADS: usize = 256;

    /// The longest [`spin_before_sleep`](Self::spin_before_sleep): 1 s, ten thousand times the
    /// default. An idle worker that spins longer holds its core for many frames with nothing to
    /// do; a wait without end (`Duration::MAX`) would overflow the clock arithmetic of the idle
    /// loop.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = jobs::Config::default().spin_before_sleep(Duration::MAX);
    /// let err = jobs::JobSystem::new(config).unwrap_err();
    /// assert_eq!(err, jobs::ConfigError::SpinTooLong(Duration::MAX));
    /// assert!(err.to_string().contains("0 to 1s"));
    /// ```
    pub const MAX_SPIN: Duration = Duration::from_secs(1);

    /// The largest [`heap_chunk_size`](Self::heap_chunk_size): 1 GiB. A chunk is the unit the
    /// heap carves many small allocations from; a request larger than a chunk gets memory of
    /// its own anyway, so a larger chunk only holds memory unused.
    ///
    /// ```
    /// let config = jobs::Config::default().heap_chunk_size(usize::MAX);
    /// assert_eq!(
    ///     jobs::JobSystem::new(config).unwrap_err(),
    ///     jobs::ConfigError::HeapChunkTooLarge(usize::MAX)
    /// );
    /// ```
    pub const MAX_HEAP_CHUNK_SIZE: usize = 1 << 30;

    /// The default [`worker_stack_size`](Self::worker_stack_size): 2 MiB, what Rust gives a
    /// new thread.
    pub const DEFAULT_STACK_SIZE: usize = 2 << 20;

    /// The smallest [`worker_stack_size`](Self::worker_stack_size): 64 KiB. Below that, the
    /// executor's own frames and a panic's unwinding leave little or nothing for jobs.
    ///
    /// ```
    /// let config = jobs::Config::default().worker_stack_size(4096);
    /// let err = jobs::JobSystem::new(config).unwrap_err();
    /// assert_eq!(err, jobs::ConfigError::StackSize(4096));
    /// assert!(err.to_string().contains("65536 to 1073741824"));
    /// ```
    pub const MIN_STACK_SIZE: usize = 64 << 10;

    /// The largest [`worker_stack_size`](Self::worker_stack_size): 1 GiB. Only the pages a
    /// worker touches become memory, but every worker reserves the whole size of address space.
    pub const MAX_STACK_SIZE: usize = 1 << 30;

    /// The default [`heap_reserve_chunks`](Self::heap_reserve_chunks): 16 chunks (32 MiB of
    /// address space with the default 2 MiB chunks, of which only the pages once used are
    /// memory).
    ///
    /// ```
    /// assert_eq!(jobs::Config::DEFAULT_HEAP_RESERVE_CHUNKS, 16);
    /// ```
    pub const DEFAULT_HEAP_RESERVE_CHUNKS: usize = 16;

    /// Number of worker threads, 1 to [`MAX_WORKERS`](Self::MAX_WORKERS). Default: one per
    /// available core less the one left to the main thread when it helps (see
    /// [Threads and cores](Self#threads-and-cores)), at least one, at most `MAX_WORKERS`.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(3))?;
    /// assert_eq!(system.worker_count(), 3);
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn workers(mut self, count: usize) -> Self {
        self.workers = Some(count);
        self
    }

    /// Whether each worker runs on one core only (its affinity is set to that core; default
    /// `true`). A core that cannot be set is reported by
    /// [`JobSystem::core_affinity`](crate::JobSystem::core_affinity), not fatal. (Called
    /// `pin_workers` before issue 12: "pinned" now means only a job pinned to a thread.)
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2).core_affinity(false))?;
    /// assert_eq!(system.core_affinity(), vec![None, None]);
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn core_affinity(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// Pin worker `i` to core `cores[i % cores.len()]` instead of the default (core `i + 1`
    /// while there are fewer workers than cores, leaving core 0 to the main thread; else core
    /// `i`, wrapping around). Every id must be a
    /// core this machine has; the list must not be empty; an id may repeat.
    ///
    /// ```
    /// let config = jobs::Config::default().cores(vec![usize::MAX]);
    /// let err = jobs::JobSystem::new(config).unwrap_err();
    /// assert!(matches!(err, jobs::ConfigError::NoSuchCore { .. }));
    /// ```
    pub fn cores(mut self, cores: Vec<usize>) -> Self {
        self.cores = Some(cores);
        self
    }

    /// Number of threads that run blocking requests ([`Action::Blocking`](crate::Action)),
    /// 1 to [`MAX_IO_THREADS`](Self::MAX_IO_THREADS). Default 1.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().io_threads(4))?;
    /// # drop(system);
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn io_threads(mut self, count: usize) -> Self {
        self.io_threads = count;
        self
    }

    /// How long an idle worker keeps looking for work before it sleeps, zero to
    /// [`MAX_SPIN`](Self::MAX_SPIN). Default 100 us: longer than a park/unpark round trip (about
    /// 40 us here), short enough that an idle system costs no CPU. Zero sleeps at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = jobs::Config::default().spin_before_sleep(Duration::ZERO);
    /// let system = jobs::JobSystem::new(config)?;
    /// # drop(system);
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn spin_before_sleep(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Whether a thread outside the pool (the main thread) runs the pool's jobs while it waits
    /// in [`JobSystem::wait`](crate::JobSystem::wait) (default `true`). It also sets the default
    /// worker count (see [Threads and cores](Self#threads-and-cores)): with help, one worker per
    /// core less one, since the main thread runs jobs on the core left; without, one per core,
    /// and the waiting thread runs only the jobs pinned to it and sleeps otherwise.
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
    /// Nothing is allocated until a recording starts. Any value is allowed: below two chunks
    /// per thread the recorder takes two chunks per thread anyway, and a large value is a limit,
    /// not a reservation (`usize::MAX`: no limit but the machine's memory).
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

    /// Size of one chunk of the tagged heap, 1 byte to
    /// [`MAX_HEAP_CHUNK_SIZE`](Self::MAX_HEAP_CHUNK_SIZE). Default 2 MiB. A request larger than
    /// a chunk gets memory of its own, so a tiny chunk size works, only without sharing.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().heap_chunk_size(64 << 10))?;
    /// assert_eq!(system.heap().chunk_size(), 64 << 10);
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn heap_chunk_size(mut self, bytes: usize) -> Self {
        self.heap.chunk_size = bytes;
        self
    }

    /// How many released chunks the tagged heap keeps for reuse (default
    /// [`DEFAULT_HEAP_RESERVE_CHUNKS`](Self::DEFAULT_HEAP_RESERVE_CHUNKS), 16). A chunk released
    /// while the reserve is full goes back to the operating system. Choose about the chunks the
    /// frames in flight use together, so that steady frames reuse chunks instead of asking the
    /// system for memory; a peak (a level load) then gives its memory back once released. Any
    /// value is allowed: 0 keeps none, `usize::MAX` keeps every chunk ever made.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().heap_reserve_chunks(2))?;
    /// let heap = system.heap();
    /// for frame in 0..10 {
    ///     heap.allocate_bytes(jobs::Tag(frame), 8, 8)?;
    /// }
    /// for frame in 0..10 {
    ///     heap.release(jobs::Tag(frame));
    /// }
    /// assert_eq!(heap.stats().free_chunks, 2); // the other eight went back to the system
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn heap_reserve_chunks(mut self, chunks: usize) -> Self {
        self.heap.reserve_chunks = chunks;
        self
    }

    /// The stack size of each worker (and I/O) thread, [`MIN_STACK_SIZE`](Self::MIN_STACK_SIZE)
    /// to [`MAX_STACK_SIZE`](Self::MAX_STACK_SIZE). Default
    /// [`DEFAULT_STACK_SIZE`](Self::DEFAULT_STACK_SIZE), 2 MiB. Jobs that recurse deeply on
    /// their stack want more: each level of nested
    /// [`Context::join`](crate::Context::join) takes some 190 to 230 bytes of stack in an
    /// optimized build (some 1.5 KiB in a debug build) plus the caller's own frame, so 2 MiB
    /// hold about nine thousand levels optimized and a thousand in debug. A thread outside the
    /// pool that
    /// helps while it waits (the main thread) runs the jobs it takes on its own stack, which
    /// this does not size: give it as much, or turn
    /// [`help_while_waiting`](Self::help_while_waiting) off.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().worker_stack_size(16 << 20))?;
    /// # drop(system);
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn worker_stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// How many threads may run [`Priority::Low`](crate::Priority::Low) jobs at once (default:
    /// every thread that runs jobs but one, at least one: the workers, and the main thread if
    /// it helps while it waits). A job is never interrupted, so a thread inside a long Low job
    /// (streaming, AI, any background work) cannot pick up a frame's jobs until it ends; with
    /// the rest kept off Low jobs, frame work that arrives always finds a thread free for it.
    /// The threads' other work is unaffected: every thread runs High and Normal jobs. A thread
    /// that waits inside a Low job ([`JobSystem::wait`](crate::JobSystem::wait),
    /// [`Context::join`](crate::Context::join)) keeps its place and runs the Low work it waits
    /// for itself; a wait that may not run Low jobs (limited to Normal and above, a `join`
    /// inside a job of a higher priority that runs on top of the wait, a thread that does not
    /// help) lends its place for the wait, so that what it waits for can run elsewhere, and
    /// takes it back at the end even if the count is reached meanwhile: the one case where more
    /// than `threads` threads are inside Low jobs, until one of them ends its job. More than the
    /// threads that run jobs means no limit; `usize::MAX` is allowed. Zero is a
    /// [`ConfigError`]: Low jobs would never run.
    ///
    /// Jobs pinned to a thread ([`Job::pinned_to`](crate::Job::pinned_to)) run there whatever
    /// the count.
    ///
    /// ```
    /// let config = jobs::Config::default().workers(4).low_priority_threads(1);
    /// let system = jobs::JobSystem::new(config)?; // background work on one thread at a time
    /// # drop(system);
    /// assert_eq!(
    ///     jobs::JobSystem::new(jobs::Config::default().low_priority_threads(0)).err(),
    ///     Some(jobs::ConfigError::ZeroLowPriorityThreads)
    /// );
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn low_priority_threads(mut self, threads: usize) -> Self {
        self.low_priority_threads = Some(threads);
        self
    }

    /// Checks the configuration against this machine; returns the resolved worker cores.
    pub(crate) fn resolve(&self) -> Result<Resolved, ConfigError> {
        let available = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        // The main thread runs jobs while it waits: it counts as one of them (type docs).
        let main_runs_jobs = usize::from(self.help_while_waiting);
        let workers = self.workers.unwrap_or_else(|| {
            available
                .saturating_sub(main_runs_jobs)
                .clamp(1, Config::MAX_WORKERS)
        });
        match workers {
            0 => return Err(ConfigError::ZeroWorkers),
            n if n > Config::MAX_WORKERS => return Err(ConfigError::TooManyWorkers(n)),
            _ => {}
        }
        match self.io_threads {
            0 => return Err(ConfigError::ZeroIoThreads),
            n if n > Config::MAX_IO_THREADS => return Err(ConfigError::TooManyIoThreads(n)),
            _ => {}
        }
        if self.spin > Config::MAX_SPIN {
            return Err(ConfigError::SpinTooLong(self.spin));
        }
        match self.heap.chunk_size {
            0 => return Err(ConfigError::ZeroHeapChunkSize),
            n if n > Config::MAX_HEAP_CHUNK_SIZE => return Err(ConfigError::HeapChunkTooLarge(n)),
            _ => {}
        }
        if !(Config::MIN_STACK_SIZE..=Config::MAX_STACK_SIZE).contains(&self.stack_size) {
            return Err(ConfigError::StackSize(self.stack_size));
        }
        let threads_running_jobs = workers + main_runs_jobs;
        let low_priority_threads = match self.low_priority_threads {
            Some(0) => return Err(ConfigError::ZeroLowPriorityThreads),
            Some(n) => n,
            None => threads_running_jobs.saturating_sub(1).max(1),
        };
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
            // Workers take the cores from the second on while there are fewer workers than
            // cores, leaving the first to the main thread (type docs).
            None if self.pin && !machine_cores.is_empty() => {
                let skip = usize::from(workers < machine_cores.len());
                (0..workers)
                    .map(|i| Some(machine_cores[(i + skip) % machine_cores.len()]))
                    .collect()
            }
            None => vec![None; workers],
        };
        Ok(Resolved {
            workers,
            low_priority_threads,
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
    /// How many threads may run Low jobs at once (`executor/background.rs`).
    pub(crate) low_priority_threads: usize,
    /// The core each worker is to be pinned to, `None` for no pinning.
    pub(crate) cores: Vec<Option<usize>>,
}

/// A configuration the job system cannot run with. The message names the setting, the value
/// given and the values allowed.
///
/// ```
/// let err = jobs::JobSystem::new(jobs::Config::default().workers(0)).unwrap_err();
/// assert_eq!(err, jobs::ConfigError::ZeroWorkers);
/// assert_eq!(
///     err.to_string(),
///     "workers(0): a job system needs at least one worker thread (allowed: 1 to 1024)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `workers(0)`: a job system needs at least one worker.
    ZeroWorkers,
    /// `workers(n)` with `n` above [`Config::MAX_WORKERS`].
    TooManyWorkers(usize),
    /// `io_threads(0)`: blocking requests need at least one I/O thread.
    ZeroIoThreads,
    /// `io_threads(n)` with `n` above [`Config::MAX_IO_THREADS`].
    TooManyIoThreads(usize),
    /// `spin_before_sleep(d)` with `d` above [`Config::MAX_SPIN`].
    SpinTooLong(Duration),
    /// `heap_chunk_size(0)`.
    ZeroHeapChunkSize,
    /// `heap_chunk_size(n)` with `n` above [`Config::MAX_HEAP_CHUNK_SIZE`].
    HeapChunkTooLarge(usize),
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
    /// `worker_stack_size(n)` outside [`Config::MIN_STACK_SIZE`] to [`Config::MAX_STACK_SIZE`].
    StackSize(usize),
    /// `low_priority_threads(0)`: Low-priority jobs would never run.
    ZeroLowPriorityThreads,
    /// The operating system refused to start a thread.
    Spawn(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroWorkers => write!(
                f,
                "workers(0): a job system needs at least one worker thread (allowed: 1 to {})",
                Config::MAX_WORKERS
            ),
            ConfigError::TooManyWorkers(n) => write!(
                f,
                "workers({n}): too many worker threads (allowed: 1 to {})",
                Config::MAX_WORKERS
            ),
            ConfigError::ZeroIoThreads => write!(
                f,
                "io_threads(0): blocking requests need at least one I/O thread (allowed: 1 to {})",
                Config::MAX_IO_THREADS
            ),
            ConfigError::TooManyIoThreads(n) => write!(
                f,
                "io_threads({n}): too many I/O threads (allowed: 1 to {})",
                Config::MAX_IO_THREADS
            ),
            ConfigError::SpinTooLong(spin) => write!(
                f,
                "spin_before_sleep({spin:?}): an idle worker spins too long (allowed: 0 to {:?})",
                Config::MAX_SPIN
            ),
            ConfigError::ZeroHeapChunkSize => write!(
                f,
                "heap_chunk_size(0): tagged heap chunks must hold at least one byte \
                 (allowed: 1 to {})",
                Config::MAX_HEAP_CHUNK_SIZE
            ),
            ConfigError::HeapChunkTooLarge(n) => write!(
                f,
                "heap_chunk_size({n}): tagged heap chunks are too large (allowed: 1 to {})",
                Config::MAX_HEAP_CHUNK_SIZE
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
            ConfigError::StackSize(n) => write!(
                f,
                "worker_stack_size({n}): a worker's stack size in bytes (allowed: {} to {})",
                Config::MIN_STACK_SIZE,
                Config::MAX_STACK_SIZE
            ),
            ConfigError::ZeroLowPriorityThreads => write!(
                f,
                "low_priority_threads(0): Low-priority jobs need at least one thread \
                 (allowed: 1 to usize::MAX)"
            ),
            ConfigError::Spawn(why) => write!(f, "could not start a thread: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}

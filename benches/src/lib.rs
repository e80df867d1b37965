//! Benchmark bodies shared by the criterion benches (`cargo bench -p benches`) and the quick
//! side-by-side table (`cargo run --release -p benches --bin compare`).
//!
//! Every benchmark runs the `jobs` crate ("ours") and a peer (rayon-core, rayon, or a plain
//! sequential loop) doing the same work in the same process. The bodies here each do one run
//! and return the figure of that run as a [`Duration`] (elapsed time, a latency, or CPU time);
//! the harnesses decide how often to call them. See `shared/BENCHMARKS.md` for the method:
//! alternate ours and the peer A B A B after a warm-up, report the median of each and the
//! median of the per-round ratio ours/peer.
//!
//! Workers: ours is `jobs::Config::default().workers(n)` (pinned, the default), the peer a
//! rayon-core pool of `n` threads, built once per benchmark ([`Systems`]).
//!
//! Two benchmarks measure the `frame` crate (the frame graph on `jobs`):
//! [`graph_overhead`] (the executor's cost per pass per frame on 100 empty passes, with 1 and
//! 2 frames in flight, against a dataflow executor on rayon-core) and [`pipelined_frames`] (the
//! frame rate of a two-stage frame with 2 frames in flight over the rate with 1).

use std::fs;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use jobs::{Config, JobSystem};

/// Workers used when nothing else is asked for: the size of the development machines.
pub const DEFAULT_WORKERS: usize = 2;

/// The environment variable the criterion benches read their worker count from
/// (`JOBS_BENCH_WORKERS=8 cargo bench -p benches`); [`DEFAULT_WORKERS`] if unset.
pub const WORKERS_ENV: &str = "JOBS_BENCH_WORKERS";

/// The worker count for the criterion benches: [`WORKERS_ENV`], else [`DEFAULT_WORKERS`].
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

/// Prefix of the names of our threads (workers `jobs-worker-N`, I/O threads `jobs-io-N`).
pub const OURS_THREAD_PREFIX: &str = "jobs-";

/// Prefix of the names of the peer pool's threads (`rayon-peer-N`).
pub const PEER_THREAD_PREFIX: &str = "rayon-peer-";

/// Both systems under test, built once per benchmark with the same number of workers.
pub struct Systems {
    /// Ours: `jobs::Config::default().workers(workers)`.
    pub ours: JobSystem,
    /// The peer: a rayon-core pool of `workers` threads named `rayon-peer-N`.
    pub peer: rayon_core::ThreadPool,
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
            peer: peer_pool(workers),
            workers,
        }
    }
}

/// The peer alone: a rayon-core pool of `workers` threads named `rayon-peer-N`.
///
/// # Panics
/// If it cannot be built (zero workers, or the OS refuses threads).
pub fn peer_pool(workers: usize) -> rayon_core::ThreadPool {
    rayon_core::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("{PEER_THREAD_PREFIX}{i}"))
        .build()
        .expect("building the rayon-core pool")
}

/// Ours for the frame graph benchmarks: `jobs::Config::default().workers(workers)` in an `Arc`,
/// as [`frame::Frames`] takes it, with the main thread helping while it waits or not.
/// `pipelined_frames` runs as the demo does (`false`: the workers own the cores, a helping main
/// thread would share a core with a pinned worker mid-stage); `graph_overhead` helps (`true`:
/// the main thread runs empty passes itself rather than waking a worker for each).
///
/// # Panics
/// If it cannot be built (zero workers, or the OS refuses threads).
pub fn frame_system(workers: usize, help_while_waiting: bool) -> Arc<JobSystem> {
    let config = Config::default()
        .workers(workers)
        .help_while_waiting(help_while_waiting);
    Arc::new(JobSystem::new(config).expect("building the job system"))
}

/// Calls `run` `iters` times and adds up the durations it returns: the body of a criterion
/// `iter_custom`.
pub fn repeat(iters: u64, mut run: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| run()).sum()
}

/// Nanoseconds since a process-wide epoch (the first call): timestamps that jobs on any thread
/// and the submitting thread can compare.
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos() as u64
}

/// A timestamp a job sets when it starts, and the submitting thread polls.
#[derive(Clone, Default)]
pub struct Stamp(Arc<AtomicU64>);

impl Stamp {
    /// A stamp not yet set.
    pub fn new() -> Stamp {
        Stamp::default()
    }

    /// Records [`now_ns`] (the job's first instruction).
    pub fn mark(&self) {
        self.0.store(now_ns().max(1), Ordering::Release);
    }

    /// Records [`now_ns`] unless the stamp is already set: the first of several jobs to start.
    pub fn mark_first(&self) {
        let _ = self
            .0
            .compare_exchange(0, now_ns().max(1), Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Waits (sleeping in short steps, so as not to take a core from the workers) until the
    /// stamp is set, and returns it.
    pub fn wait(&self) -> u64 {
        loop {
            let at = self.0.load(Ordering::Acquire);
            if at != 0 {
                return at;
            }
            thread::sleep(Duration::from_micros(20));
        }
    }
}

/// Sleeps in short steps until `done()` holds: the submitting thread stays off the cores.
pub fn sleep_until(mut done: impl FnMut() -> bool) {
    while !done() {
        thread::sleep(Duration::from_micros(20));
    }
}

/// Busy-spins for `d` on `Instant`: a job that keeps its worker busy for that long.
pub fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The compute-bound per-element kernel of `parallel_for` (and of the burst in `idle_cpu`):
/// eight rounds of `sin`, `sqrt`, multiplies and adds, about a hundred flops' worth, no memory
/// traffic besides the one write.
#[inline]
pub fn kernel(i: usize) -> f32 {
    let mut x = (i % 4096) as f32 * 1.0e-3;
    for _ in 0..8 {
        x = x.sin() * 0.5 + (x * x + 1.0).sqrt() * 0.25;
    }
    x
}

/// CPU time, in nanoseconds, consumed so far by the live threads of this process whose names
/// start with `prefix`.
///
/// Each thread is read through its own CPU-time clock (`clock_gettime` on the per-thread clock
/// id that glibc's `pthread_getcpuclockid` builds from the thread id), which the kernel brings up
/// to date even for a thread running at that moment; the threads are found, with their names,
/// in `/proc/self/task`. Where that clock cannot be read, `/proc/self/task/*/schedstat` is used
/// (nanoseconds, but up to a tick stale for a running thread). Linux only; 0 elsewhere.
pub fn threads_cpu_ns(prefix: &str) -> u64 {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(comm) = fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let tid = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok());
        if let Some(ns) = tid.and_then(thread_clock_ns) {
            total += ns;
        } else if let Ok(schedstat) = fs::read_to_string(dir.join("schedstat")) {
            total += schedstat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// CPU time, in nanoseconds, spent so far by the whole machine outside idle (every process,
/// this one included: user, nice, system, irq, softirq and steal time of `/proc/stat`, counted
/// in clock ticks, 10 ms each on most systems). Linux only; 0 elsewhere.
pub fn machine_busy_ns() -> u64 {
    let Ok(stat) = fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    busy * (1_000_000_000 / clock_ticks_per_second())
}

#[cfg(target_os = "linux")]
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

#[cfg(not(target_os = "linux"))]
fn clock_ticks_per_second() -> u64 {
    100
}

/// The CPU time of thread `tid` of this process, from its per-thread CPU clock.
#[cfg(target_os = "linux")]
fn thread_clock_ns(tid: i32) -> Option<u64> {
    // Linux's clock id for "scheduler CPU time of thread tid": MAKE_THREAD_CPUCLOCK(tid,
    // CPUCLOCK_SCHED) = (~tid << 3) | CPUCLOCK_PERTHREAD_MASK (4) | CPUCLOCK_SCHED (2).
    let clock: libc::clockid_t = ((!tid) << 3) | 6;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; an invalid clock id only makes the call fail.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(not(target_os = "linux"))]
fn thread_clock_ns(_tid: i32) -> Option<u64> {
    None
}

pub mod graph_overhead;
pub mod pipelined_frames;

/// `empty_batch`: one batch of empty jobs on one counter, submitted from the main thread,
/// which then waits (and helps).
pub mod empty_batch {
    use super::*;
    use jobs::{Grain, Priority};
    use rayon::prelude::*;

    /// Jobs per batch.
    pub const JOBS: usize = 1_000_000;

    /// Ours: `submit_for(&counter, Normal, 0..jobs, Grain::Auto, |_| {})`, then `wait`.
    pub fn ours(system: &JobSystem, jobs: usize) -> Duration {
        let counter = system.counter();
        let start = Instant::now();
        system.submit_for(&counter, Priority::Normal, 0..jobs, Grain::Auto, |_| {});
        system.wait(&counter).expect("empty jobs do not panic");
        start.elapsed()
    }

    /// rayon-core: `pool.scope(|s| for _ in 0..jobs { s.spawn(|_| {}) })`: rayon-core's way to
    /// run many independent jobs and wait for them (the scope closure runs on a pool thread).
    pub fn rayon_core_scope(pool: &rayon_core::ThreadPool, jobs: usize) -> Duration {
        let start = Instant::now();
        pool.scope(|s| {
            for _ in 0..jobs {
                s.spawn(|_| {});
            }
        });
        start.elapsed()
    }

    /// rayon: `pool.install(|| (0..jobs).into_par_iter().for_each(|_| {}))`: what a rayon user
    /// writes for an indexed batch (recursive splitting, no per-item job).
    pub fn rayon_par_iter(pool: &rayon_core::ThreadPool, jobs: usize) -> Duration {
        let start = Instant::now();
        pool.install(|| (0..jobs).into_par_iter().for_each(|_| {}));
        start.elapsed()
    }
}

/// `empty_spawn`: empty jobs spawned one by one from inside a job (enkiTS' TaskThroughput).
pub mod empty_spawn {
    use super::*;
    use jobs::{Action, Context, Job, Spawner};

    /// Jobs spawned.
    pub const JOBS: usize = 1_000_000;

    struct Root {
        jobs: usize,
    }

    fn root(_: &mut Root, _: &mut Context<'_>) -> Action<Root> {
        Action::Spawn(spawn_all, finish)
    }

    fn spawn_all<'c>(root: &'c mut Root, spawner: &mut Spawner<'c, '_>) {
        for _ in 0..root.jobs {
            spawner.spawn_fn(|_| {});
        }
    }

    fn finish(_: &mut Root, _: &mut Context<'_>) -> Action<Root> {
        Action::Done
    }

    /// Ours: one root job, submitted counted from the main thread, returns
    /// `Action::Spawn(|_, spawner| for _ in 0..jobs { spawner.spawn_fn(|_| {}) }, done)`: the
    /// children are counted on the root, which continues (and finishes) after the last one;
    /// the main thread waits on the root's counter (and helps).
    pub fn ours(system: &JobSystem, jobs: usize) -> Duration {
        let counter = system.counter();
        let start = Instant::now();
        system.submit_counted(&counter, Job::new(Root { jobs }, root));
        system.wait(&counter).expect("empty jobs do not panic");
        start.elapsed()
    }

    /// rayon-core: `pool.scope(|s| for _ in 0..jobs { s.spawn(|_| {}) })`, the scope closure
    /// running on a pool thread, so every spawn is made from inside the pool.
    pub fn rayon_core_scope(pool: &rayon_core::ThreadPool, jobs: usize) -> Duration {
        super::empty_batch::rayon_core_scope(pool, jobs)
    }
}

/// `recorder_cost`: what the built-in recorder adds to a job, measured on `empty_spawn` (the
/// cheapest job there is, so the cost is not hidden in the work).
pub mod recorder_cost {
    use super::*;

    /// One run of `empty_spawn` with the recorder on: `start_recording`, the jobs, then
    /// `stop_recording` outside the timed part (collecting is not on the job path). Returns
    /// the time of the jobs and the spans recorded.
    pub fn recording(system: &JobSystem, jobs: usize) -> (Duration, usize) {
        system.start_recording().expect("no recording is under way");
        let elapsed = super::empty_spawn::ours(system, jobs);
        let trace = system.stop_recording().expect("recording");
        assert_eq!(trace.dropped_spans, 0, "the recorder's memory sufficed");
        (elapsed, trace.spans.len())
    }
}

/// `spawn_tree`: a binary tree of spawn-then-continue jobs that sums its leaves.
pub mod spawn_tree {
    use super::*;
    use jobs::{Action, Context, Job, Spawner};

    /// Depth of the tree: 2^20 leaves.
    pub const DEPTH: u32 = 20;

    /// Nodes in a tree of `depth` (leaves included): `2^(depth+1) - 1`.
    pub fn nodes(depth: u32) -> u64 {
        (1u64 << (depth + 1)) - 1
    }

    struct Node<'a> {
        depth: u32,
        sums: [u64; 2],
        out: &'a mut u64,
    }

    fn node<'a>(node: &mut Node<'a>, _: &mut Context<'_>) -> Action<Node<'a>> {
        if node.depth == 0 {
            *node.out = 1;
            return Action::Done;
        }
        Action::Spawn(children, sum)
    }

    fn children<'c, 'a>(parent: &'c mut Node<'a>, spawner: &mut Spawner<'c, '_>) {
        let depth = parent.depth - 1;
        let [left, right] = &mut parent.sums;
        spawner.spawn(Job::new(
            Node {
                depth,
                sums: [0; 2],
                out: left,
            },
            node,
        ));
        spawner.spawn(Job::new(
            Node {
                depth,
                sums: [0; 2],
                out: right,
            },
            node,
        ));
    }

    fn sum<'a>(node: &mut Node<'a>, _: &mut Context<'_>) -> Action<Node<'a>> {
        *node.out = node.sums[0] + node.sums[1];
        Action::Done
    }

    /// Ours: the root node is spawned in a `scope` (it writes into the caller's stack); a node
    /// of depth > 0 returns `Action::Spawn` creating two child nodes that write their sums into
    /// its capture, then continues by adding them up; a leaf writes 1.
    ///
    /// # Panics
    /// If the sum is not `2^depth`.
    pub fn ours(system: &JobSystem, depth: u32) -> Duration {
        let mut total = 0u64;
        let start = Instant::now();
        system.scope(|s| {
            s.spawn_job(Job::new(
                Node {
                    depth,
                    sums: [0; 2],
                    out: &mut total,
                },
                node,
            ))
        });
        let elapsed = start.elapsed();
        assert_eq!(total, 1 << depth);
        elapsed
    }

    fn join_tree(depth: u32) -> u64 {
        if depth == 0 {
            return black_box(1);
        }
        let (left, right) = rayon_core::join(|| join_tree(depth - 1), || join_tree(depth - 1));
        left + right
    }

    /// rayon-core: `rayon_core::join` recursion, one call per node, inside the pool.
    ///
    /// # Panics
    /// If the sum is not `2^depth`.
    pub fn rayon_core_join(pool: &rayon_core::ThreadPool, depth: u32) -> Duration {
        let start = Instant::now();
        let total = pool.install(|| join_tree(depth));
        let elapsed = start.elapsed();
        assert_eq!(total, 1 << depth);
        elapsed
    }
}

/// `parallel_for`: the compute-bound [`kernel`] over a million elements into an output `Vec`.
pub mod parallel_for {
    use super::*;
    use jobs::Grain;
    use rayon::prelude::*;

    /// Elements.
    pub const ELEMENTS: usize = 1_000_000;

    /// Ours: `system.for_each_mut(out, Grain::Auto, |i, o| *o = kernel(i))`.
    pub fn ours(system: &JobSystem, out: &mut [f32]) -> Duration {
        let start = Instant::now();
        system
            .for_each_mut(out, Grain::Auto, |i, o| *o = kernel(i))
            .expect("the kernel does not panic");
        let elapsed = start.elapsed();
        black_box(out);
        elapsed
    }

    /// A sequential loop on the calling thread.
    pub fn sequential(out: &mut [f32]) -> Duration {
        let start = Instant::now();
        for (i, o) in out.iter_mut().enumerate() {
            *o = kernel(i);
        }
        let elapsed = start.elapsed();
        black_box(out);
        elapsed
    }

    /// rayon: `pool.install(|| out.par_iter_mut().enumerate().for_each(|(i, o)| *o = kernel(i)))`.
    pub fn rayon_par_iter(pool: &rayon_core::ThreadPool, out: &mut [f32]) -> Duration {
        let start = Instant::now();
        pool.install(|| {
            out.par_iter_mut()
                .enumerate()
                .for_each(|(i, o)| *o = kernel(i))
        });
        let elapsed = start.elapsed();
        black_box(out);
        elapsed
    }
}

/// `priority_latency`: how long an urgent job waits while the workers are busy with a long queue
/// of background jobs.
pub mod priority_latency {
    use super::*;
    use jobs::{Job, Priority};

    /// Background jobs queued before the urgent one.
    pub const LOW_JOBS: usize = 1_000;

    /// How long each background job busy-spins.
    pub const LOW_JOB: Duration = Duration::from_micros(50);

    /// Ours: `LOW_JOBS` Low jobs of `LOW_JOB` each in one `submit_batch`; once every worker has
    /// started one, a High job is submitted with `submit_counted`. Returns submit-to-start.
    /// The submitting thread sleeps while it waits, so that it takes no core from the workers,
    /// and does not run the High job itself.
    pub fn ours(system: &JobSystem, workers: usize) -> Duration {
        let started = Arc::new(AtomicUsize::new(0));
        let low = system.counter();
        system.submit_batch(
            &low,
            (0..LOW_JOBS).map(|_| {
                let started = Arc::clone(&started);
                Job::from_fn(move |_| {
                    started.fetch_add(1, Ordering::Relaxed);
                    spin_for(LOW_JOB);
                })
                .with_priority(Priority::Low)
            }),
        );
        sleep_until(|| started.load(Ordering::Relaxed) >= workers.min(LOW_JOBS));
        let stamp = Stamp::new();
        let mark = stamp.clone();
        let high = system.counter();
        let submitted = now_ns();
        system.submit_counted(
            &high,
            Job::from_fn(move |_| mark.mark()).with_priority(Priority::High),
        );
        let began = stamp.wait();
        system.wait(&high).expect("the urgent job does not panic");
        system.wait(&low).expect("background jobs do not panic");
        Duration::from_nanos(began.saturating_sub(submitted))
    }

    /// rayon-core (no priorities): `LOW_JOBS` jobs of `LOW_JOB` each with `pool.spawn`, then,
    /// once every thread has started one, the urgent job with `pool.spawn` too (from outside the
    /// pool both go to the pool's FIFO injector; `spawn_fifo` would queue it the same way).
    /// Returns submit-to-start.
    pub fn rayon_core_spawn(pool: &rayon_core::ThreadPool, workers: usize) -> Duration {
        let started = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        for _ in 0..LOW_JOBS {
            let started = Arc::clone(&started);
            let finished = Arc::clone(&finished);
            pool.spawn(move || {
                started.fetch_add(1, Ordering::Relaxed);
                spin_for(LOW_JOB);
                finished.fetch_add(1, Ordering::Release);
            });
        }
        sleep_until(|| started.load(Ordering::Relaxed) >= workers.min(LOW_JOBS));
        let stamp = Stamp::new();
        let mark = stamp.clone();
        let submitted = now_ns();
        pool.spawn(move || mark.mark());
        let began = stamp.wait();
        sleep_until(|| finished.load(Ordering::Acquire) == LOW_JOBS);
        Duration::from_nanos(began.saturating_sub(submitted))
    }
}

/// `stranded_work`: a job spawns children onto its own worker's queue, then runs one long step;
/// how soon does an idle worker start one of them?
pub mod stranded_work {
    use super::*;
    use jobs::Job;

    /// Children spawned before the long step.
    pub const CHILDREN: usize = 100;

    /// The spawning job's long step.
    pub const STEP: Duration = Duration::from_millis(10);

    /// Ours: a job submitted from the main thread spawns [`CHILDREN`] empty jobs with
    /// `Context::spawn` (onto its worker's own deque), stamps the time, and spins for [`STEP`];
    /// returns that stamp to the first child's first instruction. The main thread sleeps until
    /// then (it does not help, so only the other worker can take a child).
    pub fn ours(system: &JobSystem) -> Duration {
        let spawned = Stamp::new();
        let first = Stamp::new();
        let (s, f) = (spawned.clone(), first.clone());
        let counter = system.counter();
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                for _ in 0..CHILDREN {
                    let f = f.clone();
                    cx.spawn(Job::from_fn(move |_| f.mark_first()));
                }
                s.mark();
                spin_for(STEP);
            }),
        );
        let began = first.wait();
        let after = spawned.wait();
        system.wait(&counter).expect("the job does not panic");
        Duration::from_nanos(began.saturating_sub(after))
    }

    /// rayon-core: the same inside the pool, as its users write it: `pool.spawn` a job that
    /// opens a `scope`, `s.spawn`s [`CHILDREN`] empty jobs (onto its worker's deque), stamps the
    /// time and spins for [`STEP`].
    pub fn rayon_core_scope(pool: &rayon_core::ThreadPool) -> Duration {
        let spawned = Stamp::new();
        let first = Stamp::new();
        let done = Stamp::new();
        let (s, f, d) = (spawned.clone(), first.clone(), done.clone());
        pool.spawn(move || {
            rayon_core::scope(|scope| {
                for _ in 0..CHILDREN {
                    let f = f.clone();
                    scope.spawn(move |_| f.mark_first());
                }
                s.mark();
                spin_for(STEP);
            });
            d.mark();
        });
        let began = first.wait();
        let after = spawned.wait();
        done.wait();
        Duration::from_nanos(began.saturating_sub(after))
    }
}

/// `wake_latency`: one job submitted to a system whose workers are all asleep.
pub mod wake_latency {
    use super::*;
    use jobs::Job;

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
}

/// `idle_cpu`: CPU burnt by the pool's threads while idle, right after a burst of work.
pub mod idle_cpu {
    use super::*;
    use jobs::Grain;
    use rayon::prelude::*;

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
}

/// The harness of the quick table: alternating runs, medians, and one row per peer.
pub mod compare {
    use super::*;

    /// How many runs to make.
    #[derive(Clone, Copy, Debug)]
    pub struct Settings {
        /// Workers of each system.
        pub workers: usize,
        /// Measured rounds (each runs ours, then every peer, once).
        pub rounds: usize,
        /// Unmeasured rounds first.
        pub warmup: usize,
    }

    /// The median of `values` (the mean of the middle two for an even count); NaN if empty.
    pub fn median(values: &[f64]) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }

    /// What [`alternate`] measured.
    #[derive(Clone, Debug)]
    pub struct Alternated {
        /// The median figure of ours.
        pub ours: f64,
        /// Per peer, in the order given: its median figure and the median per-round ratio
        /// ours/peer.
        pub peers: Vec<(f64, f64)>,
    }

    /// Runs `ours` and then each of `peers`, once each per round: `settings.warmup` rounds
    /// unmeasured, then `settings.rounds` measured. Each closure returns the figure of one run.
    pub fn alternate(
        settings: &Settings,
        ours: &mut dyn FnMut() -> f64,
        peers: &mut [&mut dyn FnMut() -> f64],
    ) -> Alternated {
        for _ in 0..settings.warmup {
            ours();
            for peer in peers.iter_mut() {
                peer();
            }
        }
        let rounds = settings.rounds.max(1);
        let mut our_figures = Vec::with_capacity(rounds);
        let mut peer_figures = vec![Vec::with_capacity(rounds); peers.len()];
        let mut ratios = vec![Vec::with_capacity(rounds); peers.len()];
        for _ in 0..rounds {
            let mine = ours();
            our_figures.push(mine);
            for (k, peer) in peers.iter_mut().enumerate() {
                let theirs = peer();
                peer_figures[k].push(theirs);
                ratios[k].push(mine / theirs);
            }
        }
        Alternated {
            ours: median(&our_figures),
            peers: peer_figures
                .iter()
                .zip(&ratios)
                .map(|(f, r)| (median(f), median(r)))
                .collect(),
        }
    }

    /// Runs each of `runs` once per round, in the order given: `settings.warmup` rounds
    /// unmeasured, then `settings.rounds` measured. Returns, per closure, its figure of each
    /// measured round (for ratios between any two of them, round by round: [`median_ratio`]).
    pub fn alternate_all(
        settings: &Settings,
        runs: &mut [&mut dyn FnMut() -> f64],
    ) -> Vec<Vec<f64>> {
        for _ in 0..settings.warmup {
            for run in runs.iter_mut() {
                run();
            }
        }
        let rounds = settings.rounds.max(1);
        let mut figures = vec![Vec::with_capacity(rounds); runs.len()];
        for _ in 0..rounds {
            for (k, run) in runs.iter_mut().enumerate() {
                figures[k].push(run());
            }
        }
        figures
    }

    /// The median of the per-round ratios `a[i] / b[i]`.
    pub fn median_ratio(a: &[f64], b: &[f64]) -> f64 {
        let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        median(&ratios)
    }

    /// One row of the table: ours against one peer.
    #[derive(Clone, Debug)]
    pub struct Comparison {
        /// The benchmark's name.
        pub name: &'static str,
        /// The unit of `ours` and `peer_value`.
        pub unit: &'static str,
        /// Our median figure.
        pub ours: f64,
        /// The peer's name: `rayon-core`, `rayon` or `sequential`.
        pub peer: &'static str,
        /// The peer's median figure.
        pub peer_value: f64,
        /// The median per-round ratio ours/peer (infinite, written `null`, when the peer's
        /// figure was 0 in most rounds, as an idle pool's CPU time can be).
        pub ratio: f64,
        /// What the peer does, for the human-readable table.
        pub peer_does: &'static str,
        /// The target from the issue, for the human-readable table.
        pub target: &'static str,
        /// Further keys of this row (what ours was configured with, the shape of the work),
        /// written after `ratio` in the JSON and as `key=value` in the table.
        pub extra: Vec<(&'static str, serde_json::Value)>,
    }

    /// Rounds `x` to 4 significant digits (JSON numbers that stay readable).
    pub fn round4(x: f64) -> f64 {
        if !x.is_finite() || x == 0.0 {
            return x;
        }
        format!("{x:.3e}").parse().unwrap_or(x)
    }

    impl Comparison {
        /// `{"name": ..., "unit": ..., "ours": ..., "peer": ..., "peer_value": ..., "ratio": ...}`
        /// on one line, keys in that order (a non-finite number is written as `null`), then the
        /// row's [`extra`](Self::extra) keys, if any.
        pub fn to_json(&self) -> String {
            let s = |v: &str| serde_json::Value::from(v).to_string();
            let n = |v: f64| serde_json::Value::from(round4(v)).to_string();
            let mut extra = String::new();
            for (key, value) in &self.extra {
                extra.push_str(&format!(", {}: {value}", s(key)));
            }
            format!(
                "{{\"name\": {}, \"unit\": {}, \"ours\": {}, \"peer\": {}, \"peer_value\": {}, \"ratio\": {}{extra}}}",
                s(self.name),
                s(self.unit),
                n(self.ours),
                s(self.peer),
                n(self.peer_value),
                n(self.ratio)
            )
        }

        /// The [`extra`](Self::extra) keys as `key=value`, space-separated (strings unquoted).
        pub fn extra_text(&self) -> String {
            self.extra
                .iter()
                .map(|(key, value)| match value {
                    serde_json::Value::String(text) => format!("{key}={text}"),
                    other => format!("{key}={other}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
    }

    /// One benchmark of the table.
    pub struct Benchmark {
        /// Its name (what `--only` matches).
        pub name: &'static str,
        /// What it measures, in one line (for `--help`).
        pub about: &'static str,
        /// Builds the systems, measures, returns one row per peer.
        pub run: fn(&Settings) -> Vec<Comparison>,
    }

    /// Every benchmark, in the order of the table.
    pub const BENCHMARKS: &[Benchmark] = &[
        Benchmark {
            name: "empty_batch",
            about: "1M empty jobs in one batch from the main thread (ns/job)",
            run: empty_batch,
        },
        Benchmark {
            name: "empty_spawn",
            about: "1M empty jobs spawned one by one from inside a job (ns/job)",
            run: empty_spawn,
        },
        Benchmark {
            name: "recorder_cost",
            about: "what recording every job span adds per job, on empty_spawn (ns/job)",
            run: recorder_cost,
        },
        Benchmark {
            name: "spawn_tree",
            about: "binary tree of spawn-then-continue jobs, 2^20 leaves (ns/node)",
            run: spawn_tree,
        },
        Benchmark {
            name: "parallel_for",
            about: "compute kernel over 1M elements (ms)",
            run: parallel_for,
        },
        Benchmark {
            name: "priority_latency",
            about: "urgent job's submit-to-start behind 1000 busy jobs (us)",
            run: priority_latency,
        },
        Benchmark {
            name: "idle_cpu",
            about: "CPU burnt by idle pool threads after a burst (cpu ms per idle s)",
            run: idle_cpu,
        },
        Benchmark {
            name: "stranded_work",
            about: "a job spawns 100 children, then runs a 10 ms step: until an idle worker starts one (us)",
            run: stranded_work,
        },
        Benchmark {
            name: "wake_latency",
            about: "one job into a sleeping pool, submit-to-start (us)",
            run: wake_latency,
        },
        Benchmark {
            name: "graph_overhead",
            about: "frame graph executor, 100 empty passes (chains + fan), 1 and 2 frames in flight (ns/pass/frame)",
            run: graph_overhead,
        },
        Benchmark {
            name: "pipelined_frames",
            about: "two 1 ms stages per frame: frames/s with 2 frames in flight over 1 in flight",
            run: pipelined_frames,
        },
        Benchmark {
            name: "demo_frame",
            about: "the demo's default scene, steady state: mean frame time on jobs, rayon-core and one thread (ms)",
            run: demo_frame,
        },
    ];

    fn per(d: Duration, count: u64) -> f64 {
        d.as_nanos() as f64 / count as f64
    }

    fn us(d: Duration) -> f64 {
        d.as_nanos() as f64 / 1e3
    }

    fn ms(d: Duration) -> f64 {
        d.as_nanos() as f64 / 1e6
    }

    fn row(
        name: &'static str,
        unit: &'static str,
        ours: f64,
        peer: &'static str,
        (peer_value, ratio): (f64, f64),
        peer_does: &'static str,
        target: &'static str,
    ) -> Comparison {
        Comparison {
            name,
            unit,
            ours,
            peer,
            peer_value,
            ratio,
            peer_does,
            target,
            extra: Vec::new(),
        }
    }

    fn empty_batch(settings: &Settings) -> Vec<Comparison> {
        use super::empty_batch::*;
        let sys = Systems::new(settings.workers);
        let n = JOBS as u64;
        let a = alternate(
            settings,
            &mut || per(ours(&sys.ours, JOBS), n),
            &mut [
                &mut || per(rayon_core_scope(&sys.peer, JOBS), n),
                &mut || per(rayon_par_iter(&sys.peer, JOBS), n),
            ],
        );
        vec![
            row(
                "empty_batch",
                "ns/job",
                a.ours,
                "rayon-core",
                a.peers[0],
                "1M scope.spawn(|_| {})",
                "ours <= 5 ns/job",
            ),
            row(
                "empty_batch",
                "ns/job",
                a.ours,
                "rayon",
                a.peers[1],
                "(0..1M).into_par_iter().for_each(|_| {})",
                "(informative)",
            ),
        ]
    }

    fn empty_spawn(settings: &Settings) -> Vec<Comparison> {
        use super::empty_spawn::*;
        let sys = Systems::new(settings.workers);
        let n = JOBS as u64;
        let a = alternate(
            settings,
            &mut || per(ours(&sys.ours, JOBS), n),
            &mut [&mut || per(rayon_core_scope(&sys.peer, JOBS), n)],
        );
        vec![row(
            "empty_spawn",
            "ns/job",
            a.ours,
            "rayon-core",
            a.peers[0],
            "pool.scope: 1M s.spawn(|_| {}) from a pool thread",
            "ours <= 12 ns/job, ratio <= 0.05",
        )]
    }

    fn recorder_cost(settings: &Settings) -> Vec<Comparison> {
        use super::empty_spawn::{ours, JOBS};
        use super::recorder_cost::recording;
        let sys = Systems::new(settings.workers);
        let n = JOBS as u64;
        let mut spans = 0;
        let figures = alternate_all(
            settings,
            &mut [&mut || per(ours(&sys.ours, JOBS), n), &mut || {
                let (elapsed, recorded) = recording(&sys.ours, JOBS);
                spans = recorded;
                per(elapsed, n)
            }],
        );
        let (off, on) = (&figures[0], &figures[1]);
        let added: Vec<f64> = on.iter().zip(off).map(|(on, off)| on - off).collect();
        let mut row = row(
            "recorder_cost",
            "ns/job added",
            median(&added),
            "recorder off",
            (median(off), median_ratio(on, off)),
            "the same 1M empty spawned jobs with the recorder off; ratio = on/off",
            "<= 30 ns/job added",
        );
        row.extra
            .push(("recording_ns_per_job", serde_json::json!(median(on))));
        row.extra.push(("spans_per_run", serde_json::json!(spans)));
        vec![row]
    }

    fn spawn_tree(settings: &Settings) -> Vec<Comparison> {
        use super::spawn_tree::*;
        let sys = Systems::new(settings.workers);
        let n = nodes(DEPTH);
        let a = alternate(
            settings,
            &mut || per(ours(&sys.ours, DEPTH), n),
            &mut [&mut || per(rayon_core_join(&sys.peer, DEPTH), n)],
        );
        vec![row(
            "spawn_tree",
            "ns/node",
            a.ours,
            "rayon-core",
            a.peers[0],
            "rayon_core::join recursion, 2^20 leaves",
            "ratio <= 4",
        )]
    }

    fn parallel_for(settings: &Settings) -> Vec<Comparison> {
        use super::parallel_for::*;
        let sys = Systems::new(settings.workers);
        let out = std::cell::RefCell::new(vec![0.0f32; ELEMENTS]);
        let a = alternate(
            settings,
            &mut || ms(ours(&sys.ours, &mut out.borrow_mut())),
            &mut [&mut || ms(sequential(&mut out.borrow_mut())), &mut || {
                ms(rayon_par_iter(&sys.peer, &mut out.borrow_mut()))
            }],
        );
        vec![
            row(
                "parallel_for",
                "ms",
                a.ours,
                "sequential",
                a.peers[0],
                "plain loop on one thread; speedup = 1/ratio",
                "speedup >= 1.9x on 2 workers",
            ),
            row(
                "parallel_for",
                "ms",
                a.ours,
                "rayon",
                a.peers[1],
                "par_iter_mut().enumerate().for_each",
                "ratio <= 1",
            ),
        ]
    }

    fn priority_latency(settings: &Settings) -> Vec<Comparison> {
        use super::priority_latency::*;
        let sys = Systems::new(settings.workers);
        let w = settings.workers;
        let a = alternate(
            settings,
            &mut || us(ours(&sys.ours, w)),
            &mut [&mut || us(rayon_core_spawn(&sys.peer, w))],
        );
        vec![row(
            "priority_latency",
            "us",
            a.ours,
            "rayon-core",
            a.peers[0],
            "no priorities: urgent pool.spawn after 1000 spawned 50 us jobs",
            "ours <= 100 us",
        )]
    }

    fn idle_cpu(settings: &Settings) -> Vec<Comparison> {
        use super::idle_cpu::*;
        let sys = Systems::new(settings.workers);
        // A round is two idle seconds: three rounds (up to five if more are asked for), and no
        // warm-up round (every round starts with its own burst).
        let settings = Settings {
            rounds: settings.rounds.clamp(3, 5),
            warmup: 0,
            ..*settings
        };
        let a = alternate(
            &settings,
            &mut || ms(ours(&sys.ours, WINDOW)),
            &mut [&mut || ms(rayon_core(&sys.peer, WINDOW))],
        );
        vec![row(
            "idle_cpu",
            "cpu ms per idle s (pool threads)",
            a.ours,
            "rayon-core",
            a.peers[0],
            "same kernel burst (par_iter), then 1 s idle",
            "ours <= 5 ms",
        )]
    }

    fn stranded_work(settings: &Settings) -> Vec<Comparison> {
        use super::stranded_work::*;
        let sys = Systems::new(settings.workers);
        let a = alternate(
            settings,
            &mut || us(ours(&sys.ours)),
            &mut [&mut || us(rayon_core_scope(&sys.peer))],
        );
        vec![row(
            "stranded_work",
            "us",
            a.ours,
            "rayon-core",
            a.peers[0],
            "scope.spawn x100 then a 10 ms step, in the pool",
            "ours <= 50 us (median)",
        )]
    }

    fn wake_latency(settings: &Settings) -> Vec<Comparison> {
        use super::wake_latency::*;
        let sys = Systems::new(settings.workers);
        // Each run is the median of five wakes.
        let five =
            |f: &mut dyn FnMut() -> Duration| median(&(0..5).map(|_| us(f())).collect::<Vec<_>>());
        let a = alternate(
            settings,
            &mut || five(&mut || ours(&sys.ours)),
            &mut [&mut || five(&mut || rayon_core_spawn(&sys.peer))],
        );
        vec![row(
            "wake_latency",
            "us",
            a.ours,
            "rayon-core",
            a.peers[0],
            "pool.spawn into a pool asleep for 10 ms",
            "(no target)",
        )]
    }

    fn graph_overhead(settings: &Settings) -> Vec<Comparison> {
        use super::graph_overhead::*;
        let system = frame_system(settings.workers, true);
        let pool = peer_pool(settings.workers);
        let mut one = frames(&system, 1);
        let mut two = frames(&system, 2);
        let dag = Dag::from_graph(&graph());
        let n = FRAMES * PASSES as u64;
        let f = alternate_all(
            settings,
            &mut [
                &mut || per(ours(&mut one, FRAMES), n),
                &mut || per(ours(&mut two, FRAMES), n),
                &mut || per(rayon_core_dataflow(&pool, &dag, FRAMES), n),
            ],
        );
        let peer = median(&f[2]);
        let rows = [(1, &f[0]), (2, &f[1])];
        rows.into_iter()
            .map(|(in_flight, ours)| Comparison {
                extra: vec![
                    ("in_flight", in_flight.into()),
                    ("edges", dag.edges().into()),
                    ("shape", SHAPE.into()),
                ],
                ..row(
                    "graph_overhead",
                    "ns/pass/frame",
                    median(ours),
                    "rayon-core",
                    (peer, median_ratio(ours, &f[2])),
                    "pool.scope per frame; a pass spawned when its last dependency finishes",
                    "ours <= 1000 ns/pass/frame",
                )
            })
            .collect()
    }

    fn pipelined_frames(settings: &Settings) -> Vec<Comparison> {
        use super::pipelined_frames::*;
        let iterations = calibrate();
        let system = frame_system(settings.workers, false);
        let mut one = frames(&system, 1, iterations);
        let mut two = frames(&system, 2, iterations);
        // Per 2-in-flight run, in cores: the CPU time of all our threads per second (about 2
        // when both cores were ours throughout), and that of every other process.
        let (mut cores, mut others) = (Vec::new(), Vec::new());
        let f = alternate_all(
            settings,
            &mut [
                &mut || {
                    let (ours_before, all_before) = (threads_cpu_ns(""), machine_busy_ns());
                    let elapsed = ours(&mut two, FRAMES);
                    let mine = threads_cpu_ns("").saturating_sub(ours_before);
                    let all = machine_busy_ns().saturating_sub(all_before);
                    let seconds = elapsed.as_secs_f64();
                    cores.push(mine as f64 / 1e9 / seconds);
                    others.push(all.saturating_sub(mine) as f64 / 1e9 / seconds);
                    rate(FRAMES, elapsed)
                },
                &mut || rate(FRAMES, ours(&mut one, FRAMES)),
                &mut || rate(FRAMES, sequential(iterations, FRAMES)),
            ],
        );
        let measured = |v: &[f64]| round4(median(&v[settings.warmup.min(v.len())..]));
        let (cores, others) = (measured(&cores), measured(&others));
        let extra = || {
            vec![
                ("in_flight", 2.into()),
                ("stage_ms", (STAGE.as_secs_f64() * 1e3).into()),
                ("cores_used", cores.into()),
                ("other_processes_cores", others.into()),
            ]
        };
        vec![
            Comparison {
                extra: extra(),
                ..row(
                    "pipelined_frames",
                    "frames/s",
                    median(&f[0]),
                    "1 in flight",
                    (median(&f[1]), median_ratio(&f[0], &f[1])),
                    "same graph, 1 frame in flight; ratio = speedup (higher is better)",
                    "ratio >= 1.8",
                )
            },
            Comparison {
                extra: extra(),
                ..row(
                    "pipelined_frames",
                    "frames/s",
                    median(&f[0]),
                    "sequential",
                    (median(&f[2]), median_ratio(&f[0], &f[2])),
                    "both stages back to back on one thread; ratio = speedup (ideal 2)",
                    "(informative)",
                )
            },
        ]
    }

    /// Frames of a `demo_frame` run, and the first of them left out (the scene fills up with
    /// particles over its 3 s lifetime: 180 frames).
    const DEMO_FRAMES: u64 = 420;
    const DEMO_WARMUP: usize = 180;

    fn demo_frame(settings: &Settings) -> Vec<Comparison> {
        use demo::run::{run, Backend, Options};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/fountain.toml");
        let world = match demo::scene::load(std::path::Path::new(path)) {
            Ok(scene) => demo::sim::World::new(scene),
            Err(error) => panic!("the default scene does not load: {error}"),
        };
        let steady_ms = |backend: Backend| {
            let options = Options {
                backend,
                workers: settings.workers,
                frames: DEMO_FRAMES,
                out: None,
                snapshot_every: 60,
                window: false,
                trace: None,
            };
            match run(world.clone(), &options, &mut |_| {}) {
                Ok(summary) => {
                    let steady = &summary.intervals[DEMO_WARMUP.min(summary.intervals.len())..];
                    ms(steady.iter().sum::<Duration>()) / steady.len().max(1) as f64
                }
                Err(error) => panic!("the demo failed: {error}"),
            }
        };
        // A run takes seconds: at most 3 rounds, no warm-up round (each run warms up itself).
        let quick = Settings {
            rounds: settings.rounds.min(3),
            warmup: 0,
            ..*settings
        };
        let f = alternate_all(
            &quick,
            &mut [
                &mut || steady_ms(Backend::Jobs),
                &mut || steady_ms(Backend::Rayon),
                &mut || steady_ms(Backend::Serial),
            ],
        );
        vec![
            row(
                "demo_frame",
                "ms/frame",
                median(&f[0]),
                "rayon",
                (median(&f[1]), median_ratio(&f[0], &f[1])),
                "the same kernels and chunks, a rayon-core scope per stage",
                "ratio <= 0.9",
            ),
            row(
                "demo_frame",
                "ms/frame",
                median(&f[0]),
                "serial",
                (median(&f[2]), median_ratio(&f[0], &f[2])),
                "the same kernels on one thread",
                "ratio <= 0.556 (1.8x faster)",
            ),
        ]
    }
}

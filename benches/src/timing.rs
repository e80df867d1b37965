//! Clocks of one run: elapsed time, timestamps that jobs on any thread can set, and the waits
//! and busy loops the latency benchmarks are made of.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The wall time `work` takes.
///
/// ```
/// let elapsed = benches::time(|| std::thread::sleep(std::time::Duration::from_millis(1)));
/// assert!(elapsed >= std::time::Duration::from_millis(1));
/// ```
pub fn time(work: impl FnOnce()) -> Duration {
    let start = Instant::now();
    work();
    start.elapsed()
}

/// Calls `run` `iters` times and adds up the durations it returns: the body of a criterion
/// `iter_custom`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(benches::repeat(3, || Duration::from_nanos(2)), Duration::from_nanos(6));
/// ```
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
///
/// ```
/// let stamp = benches::Stamp::new();
/// let mark = stamp.clone();
/// std::thread::spawn(move || mark.mark());
/// assert!(stamp.wait() > 0);
/// ```
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
        let mut at = 0;
        sleep_until(|| {
            at = self.0.load(Ordering::Acquire);
            at != 0
        });
        at
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

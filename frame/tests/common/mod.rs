//! Helpers shared by the frame graph's integration tests: a job system, a watchdog against
//! hangs, a deterministic random number generator, a busy wait, a timeline of what passes did,
//! and guards that catch two conflicting passes running at once.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use jobs::{Config, JobSystem};

/// A system of `workers` unpinned workers (the tests share two cores with each other).
pub fn system(workers: usize) -> Arc<JobSystem> {
    Arc::new(
        JobSystem::new(Config::default().workers(workers).core_affinity(false))
            .expect("a valid job system configuration"),
    )
}

/// Runs `body` on its own thread and aborts the whole test process, with a message, if it has
/// not finished within `seconds`: a hang in the frame graph or the job system fails loudly
/// instead of hanging CI (a plain panic would leave the hung threads spinning on the cores the
/// other tests need). The thread that runs `body` is the "main thread" of every job system
/// created inside it. A panic in `body` is passed on to the test.
pub fn watchdog<T: Send + 'static>(seconds: u64, body: impl FnOnce() -> T + Send + 'static) -> T {
    watch(seconds, body, |seconds| {
        eprintln!(
            "watchdog: the test did not finish within {seconds} s: a hang (a deadlock, a lost \
             wake-up, or a frame that never completes); aborting"
        );
        std::process::abort()
    })
}

/// As [`watchdog`], but a hang fails only this test (a panic) instead of aborting the process:
/// for suites whose hangs are expected findings, kept running beside the other tests.
pub fn soft_watchdog<T: Send + 'static>(
    seconds: u64,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    watch(seconds, body, |seconds| {
        panic!("the test did not finish within {seconds} s: a hang")
    })
}

/// Runs `body` on its own thread; calls `hung` if it has not finished within `seconds`.
fn watch<T: Send + 'static>(
    seconds: u64,
    body: impl FnOnce() -> T + Send + 'static,
    hung: fn(u64) -> !,
) -> T {
    let (done, finished) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("test-main".into())
        .spawn(move || {
            // Dropped on return and on unwinding: either way the watchdog stands down.
            let _done = done;
            body()
        })
        .expect("spawn the test body");
    match finished.recv_timeout(Duration::from_secs(seconds)) {
        Err(mpsc::RecvTimeoutError::Timeout) => hung(seconds),
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
    }
}

/// Busy-waits for `duration`: a pass that takes a little time, without sleeping its worker.
pub fn spin(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

/// The time step the tests pass to `run_frame` (its value matters only where a test says so).
pub const DT: Duration = Duration::from_millis(16);

/// xorshift64*: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One run of one pass: its frame, its name, and when it ran (absolute instants, so that runs
/// of different frames can be compared, and a global sequence number at both ends).
#[derive(Clone, Debug)]
pub struct Span {
    pub frame: u64,
    pub pass: &'static str,
    pub start: Instant,
    pub end: Instant,
    pub seq_start: u64,
    pub seq_end: u64,
}

impl Span {
    /// Whether the two runs were in progress at the same time.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// What passes did, recorded from inside their bodies.
#[derive(Clone, Default)]
pub struct Timeline {
    spans: Arc<Mutex<Vec<Span>>>,
    seq: Arc<AtomicU64>,
}

impl Timeline {
    /// Runs `body` as the run of `pass` in `frame`, recording when it started and ended.
    pub fn record<R>(&self, frame: u64, pass: &'static str, body: impl FnOnce() -> R) -> R {
        let seq_start = self.seq.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        let value = body();
        let end = Instant::now();
        let seq_end = self.seq.fetch_add(1, Ordering::SeqCst);
        self.spans.lock().unwrap().push(Span {
            frame,
            pass,
            start,
            end,
            seq_start,
            seq_end,
        });
        value
    }

    /// Every run recorded so far, ordered by frame, then by start.
    pub fn spans(&self) -> Vec<Span> {
        let mut spans = self.spans.lock().unwrap().clone();
        spans.sort_by_key(|s| (s.frame, s.seq_start));
        spans
    }

    /// The run of `pass` in `frame`; panics unless there is exactly one.
    pub fn get(&self, frame: u64, pass: &str) -> Span {
        let spans = self.spans.lock().unwrap();
        let found: Vec<&Span> = spans
            .iter()
            .filter(|s| s.frame == frame && s.pass == pass)
            .collect();
        assert_eq!(found.len(), 1, "runs of `{pass}` in frame {frame}");
        found[0].clone()
    }
}

/// Where the guards report conflicts: counted, and the first few described.
#[derive(Clone, Default)]
pub struct Conflicts {
    count: Arc<AtomicUsize>,
    first: Arc<Mutex<Vec<String>>>,
}

impl Conflicts {
    pub fn report(&self, what: String) {
        self.count.fetch_add(1, Ordering::SeqCst);
        let mut first = self.first.lock().unwrap();
        if first.len() < 10 {
            first.push(what);
        }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Fails the test if any conflict was reported.
    pub fn assert_none(&self) {
        assert_eq!(
            self.count(),
            0,
            "conflicting passes ran at the same time: {:?}",
            self.first.lock().unwrap()
        );
    }
}

/// A readers/writer guard: above zero, that many readers hold it; -1, a writer does. Passes take
/// it while they use the resource it guards and report to [`Conflicts`] if the graph let a
/// conflicting pass in at the same time.
#[derive(Debug, Default)]
pub struct Guard(AtomicI32);

impl Guard {
    pub fn read(&self, who: &str, conflicts: &Conflicts) {
        let before = self.0.fetch_add(1, Ordering::SeqCst);
        if before < 0 {
            conflicts.report(format!("{who} read while a writer held the resource"));
        }
    }

    pub fn end_read(&self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn write(&self, who: &str, conflicts: &Conflicts) {
        if let Err(held) = self
            .0
            .compare_exchange(0, -1, Ordering::SeqCst, Ordering::SeqCst)
        {
            conflicts.report(format!("{who} wrote while the guard was {held}"));
            // Take it anyway, so that the release below stays balanced for the others.
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub fn end_write(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// Readers holding it, or -1 for a writer; 0 when free.
    pub fn held(&self) -> i32 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Guards keyed by an address: for transient buffers, whose memory a frame gets from the heap,
/// so that two users of the same memory at once are caught whichever frames they belong to.
#[derive(Clone, Default)]
pub struct AddressGuards(Arc<Mutex<HashMap<usize, i32>>>);

impl AddressGuards {
    pub fn read(&self, address: usize, who: &str, conflicts: &Conflicts) {
        let mut map = self.0.lock().unwrap();
        let state = map.entry(address).or_insert(0);
        if *state < 0 {
            conflicts.report(format!("{who} read {address:#x} while a writer held it"));
        }
        *state += 1;
    }

    pub fn end_read(&self, address: usize) {
        *self.0.lock().unwrap().get_mut(&address).expect("taken") -= 1;
    }

    pub fn write(&self, address: usize, who: &str, conflicts: &Conflicts) {
        let mut map = self.0.lock().unwrap();
        let state = map.entry(address).or_insert(0);
        if *state != 0 {
            conflicts.report(format!(
                "{who} wrote {address:#x} while its guard was {state}"
            ));
        }
        *state -= 1;
    }

    pub fn end_write(&self, address: usize) {
        *self.0.lock().unwrap().get_mut(&address).expect("taken") += 1;
    }
}

/// Runs frames until `count` have started, calling again after an error (a call that completes
/// a failed frame returns its error and starts nothing), then finishes; returns the errors
/// (`finish` reports the first failure among the frames then in flight).
pub fn run_frames(frames: &mut frame::Frames, count: u64) -> Vec<frame::FrameError> {
    let mut errors = Vec::new();
    while frames.next_frame() < count {
        if let Err(error) = frames.run_frame(DT) {
            errors.push(error);
        }
    }
    if let Err(error) = frames.finish() {
        errors.push(error);
    }
    errors
}

//! Helpers shared by the integration tests: systems, a watchdog against hangs, gates that
//! occupy workers on purpose, drop flags, and a spawn tree.

#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use jobs::{Action, Config, Context, Counter, Job, JobSystem};

/// A system of `workers` unpinned workers (the tests share two cores with each other).
pub fn system(workers: usize) -> JobSystem {
    JobSystem::new(Config::default().workers(workers).core_affinity(false)).expect("valid config")
}

/// A system of `workers` unpinned workers whose main thread (the thread that creates it) runs
/// jobs while it waits if `help`. Under Miri the threads do not spin before they sleep (each
/// spin is slow there).
pub fn system_helping(workers: usize, help: bool) -> JobSystem {
    let mut config = Config::default()
        .workers(workers)
        .core_affinity(false)
        .help_while_waiting(help);
    if cfg!(miri) {
        config = config.spin_before_sleep(Duration::ZERO);
    }
    JobSystem::new(config).expect("valid config")
}

/// Runs `body` on its own thread and fails the test if it has not finished within `seconds`:
/// a hang in the job system fails the test instead of hanging CI. The thread that runs `body`
/// is the "main thread" of every system created inside it.
pub fn watchdog<T: Send + 'static>(seconds: u64, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let value = body();
            let _ = done.send(());
            value
        })
        .expect("spawn the test body");
    match finished.recv_timeout(Duration::from_secs(seconds)) {
        Ok(()) => handle.join().expect("the test body panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test did not finish within {seconds} s: a hang (deadlock or lost wake-up)")
        }
    }
}

/// Polls `done` (sleeping 1 ms between looks, never running jobs) until it is true or
/// `seconds` have passed; returns its last value. Used where the test thread must not help:
/// `JobSystem::wait` would run jobs on the test thread.
pub fn poll_until(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Polls until `counter` is zero without running jobs on this thread; panics after `seconds`.
pub fn poll_zero(counter: &Counter, seconds: u64) {
    assert!(
        poll_until(seconds, || counter.is_zero()),
        "counter stuck at {} for {seconds} s",
        counter.value()
    );
}

/// A gate a job can block on (blocking its thread on purpose, to set up an order).
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    pub fn wait(&self) {
        let mut open = self.0 .0.lock().unwrap();
        while !*open {
            open = self.0 .1.wait(open).unwrap();
        }
    }

    pub fn is_open(&self) -> bool {
        *self.0 .0.lock().unwrap()
    }
}

/// Occupies every one of the system's `workers` with a job blocked on `gate`; returns once
/// all of them have started (so nothing else can run on a worker until the gate opens), with
/// the counter of those jobs.
pub fn occupy_workers(system: &JobSystem, gate: &Gate) -> Counter {
    let blocked = Counter::new();
    let started = Arc::new(AtomicUsize::new(0));
    for _ in 0..system.worker_count() {
        let (g, s) = (gate.clone(), started.clone());
        system.submit_counted(
            &blocked,
            Job::from_fn(move |cx| {
                assert!(cx.worker_index().is_some(), "the gate job runs on a worker");
                s.fetch_add(1, Ordering::SeqCst);
                g.wait();
            }),
        );
    }
    assert!(
        poll_until(30, || started.load(Ordering::SeqCst)
            == system.worker_count()),
        "the gate jobs did not all start"
    );
    blocked
}

/// A place a job puts its result for the test to read.
pub type Slot<T> = Arc<Mutex<Option<T>>>;

/// Counts how many times values holding it were dropped.
#[derive(Clone, Default)]
pub struct DropCount(pub Arc<AtomicUsize>);

impl DropCount {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A value whose drop adds one.
    pub fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }
}

/// Adds one to its [`DropCount`] when dropped.
pub struct DropToken(Arc<AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A flag shared between a job and the test.
#[derive(Clone, Default)]
pub struct Flag(pub Arc<AtomicBool>);

impl Flag {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A tree of spawn-then-continue jobs: children write into the parent's capture through a
/// mutable borrow, and the continuation sees every write. A tree of depth `d` sums to `2^d`.
pub struct Node<'a> {
    pub depth: u32,
    pub sums: [u64; 2],
    pub out: &'a mut u64,
}

pub fn node<'a>(n: &mut Node<'a>, _: &mut Context<'_>) -> Action<Node<'a>> {
    if n.depth == 0 {
        *n.out = 1;
        return Action::Done;
    }
    Action::Spawn(
        |n, s| {
            let depth = n.depth - 1;
            let [left, right] = &mut n.sums;
            s.spawn_job(Job::new(
                Node {
                    depth,
                    sums: [0; 2],
                    out: left,
                },
                node,
            ));
            s.spawn_job(Job::new(
                Node {
                    depth,
                    sums: [0; 2],
                    out: right,
                },
                node,
            ));
        },
        |n, _| {
            // Both children have finished: their writes must be visible here.
            assert!(n.sums[0] > 0 && n.sums[1] > 0, "a child's write is missing");
            *n.out = n.sums[0] + n.sums[1];
            Action::Done
        },
    )
}

/// Runs a spawn tree of `depth` levels in a scope and returns its sum (`2^depth` if correct).
pub fn run_tree(system: &JobSystem, depth: u32) -> u64 {
    let mut total = 0;
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
    total
}

/// The environment variable that tells a test binary it runs as the child of [`isolated`].
const CHILD_ENV: &str = "JOBS_TEST_CHILD";

/// Runs `body` in a child process running only the test `name` of this binary, so that an
/// abort (a panic while panicking, a stack overflow) fails this test instead of killing every
/// test. In the parent, returns the child's output once it has exited (killing it after
/// `seconds`: a hang); in the child, runs `body` and returns `None`.
pub fn isolated(name: &str, seconds: u64, body: impl FnOnce()) -> Option<Output> {
    isolated_with(name, seconds, "0", body)
}

/// [`isolated`], with `RUST_BACKTRACE` set to `backtrace` in the child.
pub fn isolated_with(
    name: &str,
    seconds: u64,
    backtrace: &str,
    body: impl FnOnce(),
) -> Option<Output> {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        body();
        return None;
    }
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, name)
        .env("RUST_BACKTRACE", backtrace)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child process");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(seconds)) {
        Ok(output) => Some(output.expect("the child's output")),
        Err(_) => {
            // Only the child this test started, by its id.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the child process of {name} did not finish within {seconds} s: a hang");
        }
    }
}

/// Asserts that the child process of [`isolated`] ran its one test and passed.
pub fn assert_child_passed(name: &str, output: Option<Output>) {
    let Some(output) = output else { return };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child process of {name} failed: {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}

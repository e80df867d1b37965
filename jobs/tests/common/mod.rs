//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

use jobs::{Action, Config, Context, Job, JobSystem};

/// A system of `workers` unpinned workers (tests share two cores with each other).
pub fn system(workers: usize) -> JobSystem {
    JobSystem::new(Config::default().workers(workers).pin_workers(false)).expect("valid config")
}

/// Runs `body` on its own thread and fails the test if it has not finished within `seconds`:
/// a hang in the job system fails the test instead of hanging CI.
pub fn watchdog<T: Send + 'static>(seconds: u64, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let value = body();
        let _ = done.send(());
        value
    });
    match finished.recv_timeout(Duration::from_secs(seconds)) {
        Ok(()) => handle.join().expect("the test body panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test did not finish within {seconds} s: a hang")
        }
    }
}

/// A gate a job can wait on (blocking its worker on purpose, to set up an order).
#[derive(Clone, Default)]
pub struct Gate(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

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
}

/// A tree of spawn-then-continue jobs: children write into the parent's capture, and the
/// continuation sees every write.
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
            s.spawn(Job::new(
                Node {
                    depth,
                    sums: [0; 2],
                    out: left,
                },
                node,
            ));
            s.spawn(Job::new(
                Node {
                    depth,
                    sums: [0; 2],
                    out: right,
                },
                node,
            ));
        },
        |n, _| {
            *n.out = n.sums[0] + n.sums[1];
            Action::Done
        },
    )
}

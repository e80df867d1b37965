//! With the `tracy` feature and no profiler connected, jobs run as without it: labelled jobs in
//! frames, nested spawns and waits (nested zones), blocking steps on the I/O thread, and
//! panics (reported to Tracy as messages, and to the waiter as usual). Nothing may block, and
//! the process must exit at the end (the client is not kept waiting for a profiler).

#![cfg(feature = "tracy")]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::watchdog;
use jobs::{Action, Config, Job, JobSystem, Label};

#[test]
fn jobs_run_as_without_tracy_while_no_profiler_is_connected() {
    watchdog(60, || {
        assert!(!tracy_client::Client::is_connected());
        let system = Arc::new(
            JobSystem::new(
                Config::default()
                    .workers(2)
                    .core_affinity(false)
                    .io_threads(1),
            )
            .expect("valid config"),
        );
        let label = Label::new("tracy test");
        let sum = Arc::new(AtomicU64::new(0));
        for frame in 0..50u64 {
            let done = system.counter();
            for i in 0..100u64 {
                let sum = Arc::clone(&sum);
                let inner = Arc::clone(&system);
                let job = Job::from_fn(move |_| {
                    // A wait inside a job: the jobs it runs meanwhile nest in its zone.
                    let children = inner.counter();
                    for _ in 0..2 {
                        let sum = Arc::clone(&sum);
                        inner.submit_counted(
                            &children,
                            Job::from_fn(move |_| {
                                sum.fetch_add(1, Ordering::Relaxed);
                            }),
                        );
                    }
                    inner.wait(&children).expect("no child panics");
                    sum.fetch_add(i, Ordering::Relaxed);
                });
                system.submit_counted(&done, job.with_label(label).in_frame(frame as u32));
            }
            system.wait(&done).expect("no job panics");
        }
        assert_eq!(
            sum.load(Ordering::Relaxed),
            50 * (2 * 100 + (0..100).sum::<u64>())
        );

        // A blocking step, then a panic in one on the I/O thread and one on a worker.
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::new(0u64, |_, _| {
                Action::Blocking(
                    |n| *n = 42,
                    |n, _| {
                        assert_eq!(*n, 42);
                        Action::Done
                    },
                )
            })
            .with_label(label),
        );
        system.wait(&done).expect("the blocking step ran");
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::new((), |_, _| {
                Action::Blocking(|_| panic!("blocking step failed"), |_, _| Action::Done)
            })
            .with_label(label)
            .in_frame(3),
        );
        let panic = system.wait(&done).expect_err("the blocking step panicked");
        assert!(
            panic.message().contains("blocking step failed"),
            "{panic:?}"
        );
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::from_fn(|_| panic!("job failed"))
                .with_label(label)
                .in_frame(4),
        );
        let panic = system.wait(&done).expect_err("the job panicked");
        assert!(panic.message().contains("job failed"), "{panic:?}");
    });
}

//! Statistics: jobs finished per priority and per worker, busy and idle time, utilization,
//! queue lengths, jobs pinned to the main thread, blocking requests in flight, the heap.
//!
//! Workers publish their finished-job counts when they go idle (and every 1024 jobs), so the
//! tests poll until the counts arrive before comparing them.

mod common;

use std::sync::Arc;

use common::{occupy_workers, poll_until, system, watchdog, Flag, Gate};
use jobs::{Action, Counter, Grain, Job, Priority, Stats, Tag};

fn spin_for_micros(us: u128) {
    let start = std::time::Instant::now();
    while start.elapsed().as_micros() < us {
        std::hint::spin_loop();
    }
}

/// Polls until the jobs counted since `before` reach `total`; returns the difference.
fn settled(system: &jobs::JobSystem, before: &Stats, total: u64) -> Stats {
    let mut stats = system.stats().since(before);
    assert!(
        poll_until(30, || {
            stats = system.stats().since(before);
            stats.total_jobs() >= total
        }),
        "only {} of {total} jobs counted: {stats:?}",
        stats.total_jobs()
    );
    stats
}

#[test]
fn jobs_finished_are_counted_per_priority() {
    watchdog(30, || {
        let system = system(2);
        let before = system.stats();
        assert_eq!(before.total_jobs(), 0);
        let counter = Counter::new();
        for (priority, n) in [
            (Priority::High, 10),
            (Priority::Normal, 20),
            (Priority::Low, 30),
        ] {
            for _ in 0..n {
                system.submit_counted(
                    &counter,
                    Job::from_fn(|_| spin_for_micros(20)).with_priority(priority),
                );
            }
        }
        system.wait(&counter).unwrap();
        let stats = settled(&system, &before, 60);
        assert_eq!(stats.jobs_finished, [10, 20, 30], "{stats:?}");
        assert_eq!(stats.jobs_at(Priority::High), 10);
        assert_eq!(stats.jobs_at(Priority::Low), 30);
        assert_eq!(stats.total_jobs(), 60);
        // Per worker plus the waiting thread adds up to the total.
        let by_workers: u64 = stats.workers.iter().flat_map(|w| w.jobs_finished).sum();
        assert!(by_workers <= 60);
    });
}

#[test]
fn a_batch_counts_each_item_and_each_runner() {
    watchdog(30, || {
        let system = system(1);
        let before = system.stats();
        let counter = Counter::new();
        // One chunk: one runner job.
        system.submit_for(
            &counter,
            0..1000,
            jobs::Batch::from(Grain::fixed(1000).unwrap()).priority(Priority::Low),
            |_| {},
        );
        system.wait(&counter).unwrap();
        let stats = settled(&system, &before, 1001);
        assert_eq!(stats.jobs_finished, [0, 0, 1001], "{stats:?}");
    });
}

#[test]
fn jobs_run_by_workers_are_counted_per_worker() {
    watchdog(30, || {
        let system = system(2);
        let counter = Counter::new();
        for _ in 0..200 {
            system.submit_counted(&counter, Job::from_fn(|_| spin_for_micros(10)));
        }
        // Poll, so that only the workers run them.
        common::poll_zero(&counter, 30);
        let stats = settled(&system, &jobs::Stats::default(), 200);
        let by_workers: u64 = stats.workers.iter().flat_map(|w| w.jobs_finished).sum();
        assert_eq!(by_workers, 200, "{stats:?}");
        assert_eq!(stats.total_jobs(), 200);
    });
}

#[test]
fn busy_time_grows_under_load_and_utilization_stays_between_zero_and_one() {
    watchdog(30, || {
        let system = system(2);
        let first = system.stats();
        assert!((0.0..=1.0).contains(&first.utilization()));
        // Every worker busy for a while (each job holds its worker until both run at once).
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let counter = Counter::new();
        for _ in 0..2 {
            let b = barrier.clone();
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| {
                    b.wait();
                    spin_for_micros(20_000);
                }),
            );
        }
        common::poll_zero(&counter, 30);
        let second = system.stats();
        for (before, after) in first.workers.iter().zip(&second.workers) {
            assert!(after.busy > before.busy, "{before:?} -> {after:?}");
            assert!(after.busy + after.idle >= before.busy + before.idle);
        }
        let frame = second.since(&first);
        let utilization = frame.utilization();
        assert!(
            utilization > 0.0 && utilization <= 1.0,
            "utilization {utilization}: {frame:?}"
        );
        assert!((0.0..=1.0).contains(&second.utilization()));
        // An empty snapshot has no time at all.
        assert_eq!(Stats::default().utilization(), 0.0);
    });
}

#[test]
fn queue_lengths_pinned_jobs_and_blocking_requests_are_visible() {
    watchdog(30, || {
        let system = system(1);
        let gate = Gate::default();
        let blocked = occupy_workers(&system, &gate);
        let counter = Counter::new();
        for priority in [Priority::High, Priority::Low, Priority::Low] {
            system.submit_counted(&counter, Job::from_fn(|_| {}).with_priority(priority));
        }
        for _ in 0..4 {
            system.submit_counted(&counter, Job::from_fn(|_| {}).pinned_to_main());
        }
        let stats = system.stats();
        assert_eq!(stats.queued, [1, 0, 2]);
        assert_eq!(stats.pinned_queued, 4);
        assert_eq!(stats.io_in_flight, 0);
        // A blocking request in flight.
        let io_gate = Gate::default();
        let started = Flag::default();
        struct B(Gate, Flag);
        system.submit_counted(
            &counter,
            Job::new(B(io_gate.clone(), started.clone()), |_, _| {
                Action::Blocking(
                    |b| {
                        b.1.set();
                        b.0.wait();
                    },
                    |_, _| Action::Done,
                )
            }),
        );
        // The pinned jobs run here; then the worker takes the rest, the blocking step included.
        assert_eq!(system.run_pinned(), Ok(4));
        assert_eq!(system.stats().pinned_queued, 0);
        gate.open();
        assert!(poll_until(30, || started.get()));
        assert_eq!(system.stats().io_in_flight, 1);
        io_gate.open();
        system.wait(&counter).unwrap();
        system.wait(&blocked).unwrap();
        assert_eq!(system.stats().queued, [0, 0, 0]);
        assert!(poll_until(30, || system.stats().io_in_flight == 0));
    });
}

#[test]
fn the_snapshot_includes_the_heap() {
    let system = system(1);
    let _block = system.heap().allocate_bytes(Tag(1), 10, 1).unwrap();
    let stats = system.stats();
    assert_eq!(stats.heap, system.heap().stats());
    assert_eq!(stats.heap.live_tags, 1);
    assert_eq!(stats.heap.live_chunks, 1);
}

#[test]
fn since_subtracts_counts_and_times() {
    watchdog(30, || {
        let system = system(2);
        // Single jobs, not a batch: the count is exact (a batch adds its runner jobs).
        let warm_up = Counter::new();
        system.submit_batch(&warm_up, (0..100).map(|_| Job::from_fn(|_| {})));
        system.wait(&warm_up).unwrap();
        settled(&system, &Stats::default(), 100);
        let a = system.stats();
        let counter = Counter::new();
        for _ in 0..50 {
            system.submit_counted(&counter, Job::from_fn(|_| {}));
        }
        system.wait(&counter).unwrap();
        let diff = settled(&system, &a, 50);
        assert_eq!(diff.total_jobs(), 50);
        let zero = a.since(&a);
        assert_eq!(zero.total_jobs(), 0);
        assert!(zero
            .workers
            .iter()
            .all(|w| w.busy.is_zero() && w.idle.is_zero()));
    });
}

/// `Local::complete` counts a finished job at the priority of the last job this thread
/// started (`Local::current`), which a nested wait inside the job overwrites: a High job that
/// waits (or runs `parallel_for`) inside is counted at the priority of the jobs it helped with.
#[test]
fn a_job_that_waits_inside_is_counted_at_its_own_priority() {
    watchdog(30, || {
        let system = Arc::new(system(1));
        let before = system.stats();
        let counter = Counter::new();
        let sys = system.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                let inner = Counter::new();
                for _ in 0..10 {
                    cx.spawn_job_counted(&inner, Job::from_fn(|_| {}).with_priority(Priority::Low));
                }
                sys.wait(&inner).unwrap();
            })
            .with_priority(Priority::High),
        );
        common::poll_zero(&counter, 30);
        let stats = settled(&system, &before, 11);
        assert_eq!(stats.jobs_finished, [1, 0, 10], "{stats:?}");
    });
}

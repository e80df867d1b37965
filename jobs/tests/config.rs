//! Configuration: what can be set, and every configuration error with a message that names
//! the problem.

mod common;

use std::time::Duration;

use common::{poll_until, watchdog};
use jobs::{Config, ConfigError, Counter, Grain, Job, JobSystem};

fn machine_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn bad_configurations_are_errors_that_name_the_problem() {
    let cases: Vec<(Config, ConfigError, &str)> = vec![
        (
            Config::default().workers(0),
            ConfigError::ZeroWorkers,
            "workers(0)",
        ),
        (
            Config::default().io_threads(0),
            ConfigError::ZeroIoThreads,
            "io_threads(0)",
        ),
        (
            Config::default().heap_block_size(0),
            ConfigError::ZeroHeapBlockSize,
            "heap_block_size(0)",
        ),
        (
            Config::default().cores(vec![]),
            ConfigError::EmptyCoreList,
            "cores([])",
        ),
    ];
    for (config, expected, named) in cases {
        let err = JobSystem::new(config).unwrap_err();
        assert_eq!(err, expected);
        let message = err.to_string();
        assert!(message.contains(named), "{message:?} should name {named}");
        // It is a std error, usable with `?` into Box<dyn Error>.
        let boxed: Box<dyn std::error::Error> = Box::new(err);
        assert_eq!(boxed.to_string(), message);
    }
}

#[test]
fn a_core_this_machine_does_not_have_is_an_error_listing_the_cores() {
    for cores in [vec![9999], vec![0, 9999]] {
        let err = JobSystem::new(Config::default().cores(cores)).unwrap_err();
        match &err {
            ConfigError::NoSuchCore { core, available } => {
                assert_eq!(*core, 9999);
                assert!(!available.contains(&9999));
            }
            other => panic!("expected NoSuchCore, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains("core 9999"), "{message}");
        assert!(message.contains("does not exist"), "{message}");
    }
}

#[test]
fn the_first_error_wins_and_is_reported_before_any_thread_starts() {
    let err = JobSystem::new(
        Config::default()
            .workers(0)
            .io_threads(0)
            .heap_block_size(0),
    )
    .unwrap_err();
    assert_eq!(err, ConfigError::ZeroWorkers);
}

#[test]
fn a_zero_grain_is_an_error() {
    assert_eq!(Grain::fixed(0), Err(ConfigError::ZeroGrain));
    assert!(ConfigError::ZeroGrain.to_string().contains("grain size 0"));
    assert!(Grain::fixed(1).is_ok());
    assert_eq!(Grain::default(), Grain::Auto);
    assert!(ConfigError::Spawn("no threads".into())
        .to_string()
        .contains("no threads"));
}

#[test]
fn the_worker_count_is_configurable_and_defaults_to_one_per_core() {
    watchdog(30, || {
        for workers in [1, 2, 3, 5] {
            let system =
                JobSystem::new(Config::default().workers(workers).pin_workers(false)).unwrap();
            assert_eq!(system.worker_count(), workers);
            assert_eq!(system.stats().workers.len(), workers);
            system.parallel_for(0..1000, Grain::Auto, |_| {}).unwrap();
        }
        let system = JobSystem::new(Config::default().pin_workers(false)).unwrap();
        assert_eq!(system.worker_count(), machine_cores());
    });
}

#[test]
fn workers_are_named_after_their_index() {
    watchdog(30, || {
        let workers = 3;
        let system = JobSystem::new(Config::default().workers(workers).pin_workers(false)).unwrap();
        let names = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(workers));
        // One job per worker, each held at a barrier until all three run at once: so each
        // ran on a different worker. The test thread polls, so it runs none of them.
        let counter = Counter::new();
        for _ in 0..workers {
            let (names, barrier) = (names.clone(), barrier.clone());
            system.submit_counted(
                &counter,
                Job::from_fn(move |cx| {
                    barrier.wait();
                    let name = std::thread::current().name().unwrap_or("").to_owned();
                    names.lock().unwrap().push((cx.worker_index(), name));
                }),
            );
        }
        common::poll_zero(&counter, 30);
        let mut names = names.lock().unwrap().clone();
        names.sort();
        assert_eq!(
            names,
            (0..workers)
                .map(|i| (Some(i), format!("jobs-worker-{i}")))
                .collect::<Vec<_>>()
        );
    });
}

#[test]
fn unpinned_workers_report_no_core() {
    let system = JobSystem::new(Config::default().workers(2).pin_workers(false)).unwrap();
    assert_eq!(system.pinning(), vec![None, None]);
}

#[test]
fn pinned_workers_report_the_core_they_were_asked_to_run_on() {
    watchdog(30, || {
        // Explicit cores: worker i on cores[i % len].
        let system = JobSystem::new(Config::default().workers(3).cores(vec![0])).unwrap();
        assert!(poll_until(30, || system
            .pinning()
            .iter()
            .all(Option::is_some)));
        for pinning in system.pinning() {
            let (core, _pinned) = pinning.unwrap();
            assert_eq!(core, 0);
        }
        drop(system);
        // The default pins worker i to core i (wrapping around the machine's cores).
        let system = JobSystem::new(Config::default().workers(2)).unwrap();
        if core_ids_known() {
            assert!(poll_until(30, || system
                .pinning()
                .iter()
                .all(Option::is_some)));
            let cores: Vec<usize> = system.pinning().iter().map(|p| p.unwrap().0).collect();
            assert_eq!(cores.len(), 2);
        }
    });
}

/// Whether this machine reports its core ids (the default pins only then).
fn core_ids_known() -> bool {
    JobSystem::new(Config::default().workers(1).cores(vec![0])).is_ok()
}

#[test]
fn the_spin_before_sleep_can_be_zero_or_long() {
    watchdog(30, || {
        for spin in [
            Duration::ZERO,
            Duration::from_micros(1),
            Duration::from_millis(5),
        ] {
            let system = JobSystem::new(
                Config::default()
                    .workers(2)
                    .pin_workers(false)
                    .spin_before_sleep(spin),
            )
            .unwrap();
            for _ in 0..20 {
                let counter = Counter::new();
                system.submit_counted(&counter, Job::from_fn(|_| {}));
                // Without helping: a worker must wake up for it.
                common::poll_zero(&counter, 30);
                std::thread::sleep(Duration::from_micros(200));
            }
            system.parallel_for(0..1000, Grain::Auto, |_| {}).unwrap();
        }
    });
}

#[test]
fn the_heap_block_size_is_configurable() {
    let system = JobSystem::new(
        Config::default()
            .workers(1)
            .pin_workers(false)
            .heap_block_size(256),
    )
    .unwrap();
    assert_eq!(system.heap().block_size(), 256);
    let default = JobSystem::new(Config::default().workers(1).pin_workers(false)).unwrap();
    assert_eq!(default.heap().block_size(), 2 << 20);
}

#[test]
fn the_config_is_cloneable_and_debuggable() {
    let config = Config::default().workers(3).io_threads(2);
    let copy = config.clone();
    assert_eq!(format!("{config:?}"), format!("{copy:?}"));
    let system = JobSystem::new(copy.pin_workers(false)).unwrap();
    assert_eq!(system.worker_count(), 3);
    assert!(format!("{system:?}").contains("workers: 3"));
}

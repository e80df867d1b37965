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
            Config::default().heap_chunk_size(0),
            ConfigError::ZeroHeapChunkSize,
            "heap_chunk_size(0)",
        ),
        (
            Config::default().cores(vec![]),
            ConfigError::EmptyCoreList,
            "cores([])",
        ),
        (
            Config::default().workers(Config::MAX_WORKERS + 1),
            ConfigError::TooManyWorkers(1025),
            "workers(1025)",
        ),
        (
            Config::default().io_threads(Config::MAX_IO_THREADS + 1),
            ConfigError::TooManyIoThreads(257),
            "io_threads(257)",
        ),
        (
            Config::default().spin_before_sleep(Duration::MAX),
            ConfigError::SpinTooLong(Duration::MAX),
            "spin_before_sleep(",
        ),
        (
            Config::default().heap_chunk_size(usize::MAX),
            ConfigError::HeapChunkTooLarge(usize::MAX),
            "heap_chunk_size(18446744073709551615)",
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
            .heap_chunk_size(0),
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
fn the_worker_count_is_configurable_and_defaults_to_one_thread_running_jobs_per_core() {
    watchdog(30, || {
        for workers in [1, 2, 3, 5] {
            let system =
                JobSystem::new(Config::default().workers(workers).core_affinity(false)).unwrap();
            assert_eq!(system.worker_count(), workers);
            assert_eq!(system.stats().workers.len(), workers);
            system.parallel_for(0..1000, Grain::Auto, |_| {}).unwrap();
        }
        // The main thread runs jobs while it waits: it takes one core, the workers the others
        // (it used to be one worker per core too: two busy threads on one core).
        let system = JobSystem::new(Config::default().core_affinity(false)).unwrap();
        assert_eq!(system.worker_count(), (machine_cores() - 1).max(1));
        let system = JobSystem::new(
            Config::default()
                .core_affinity(false)
                .help_while_waiting(false),
        )
        .unwrap();
        assert_eq!(system.worker_count(), machine_cores());
    });
}

#[test]
fn workers_are_named_after_their_index() {
    watchdog(30, || {
        let workers = 3;
        let system =
            JobSystem::new(Config::default().workers(workers).core_affinity(false)).unwrap();
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
    let system = JobSystem::new(Config::default().workers(2).core_affinity(false)).unwrap();
    assert_eq!(system.core_affinity(), vec![None, None]);
}

#[test]
fn pinned_workers_report_the_core_they_were_asked_to_run_on() {
    watchdog(30, || {
        // Explicit cores: worker i on cores[i % len].
        // Known as soon as `new` returns (it used to read `None` for ~20 ms).
        let system = JobSystem::new(Config::default().workers(3).cores(vec![0])).unwrap();
        assert!(system.core_affinity().iter().all(Option::is_some));
        for pinning in system.core_affinity() {
            let (core, _pinned) = pinning.unwrap();
            assert_eq!(core, 0);
        }
        drop(system);
        // The default leaves the first core to the main thread while there are fewer workers
        // than cores, and wraps around the machine's cores past that.
        if core_ids_known() {
            let cores = machine_cores();
            let pinned_to = |workers: usize| -> Vec<usize> {
                let system = JobSystem::new(Config::default().workers(workers)).unwrap();
                system
                    .core_affinity()
                    .iter()
                    .map(|p| p.unwrap().0)
                    .collect()
            };
            let ids: Vec<usize> = pinned_to(cores);
            if cores > 1 {
                let fewer = pinned_to(cores - 1);
                assert_eq!(fewer, ids[1..].to_vec(), "core {} is left free", ids[0]);
            }
            assert_eq!(pinned_to(cores + 1)[cores], ids[0], "wraps around");
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
                    .core_affinity(false)
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
fn the_heap_chunk_size_is_configurable() {
    let system = JobSystem::new(
        Config::default()
            .workers(1)
            .core_affinity(false)
            .heap_chunk_size(256),
    )
    .unwrap();
    assert_eq!(system.heap().chunk_size(), 256);
    let default = JobSystem::new(Config::default().workers(1).core_affinity(false)).unwrap();
    assert_eq!(default.heap().chunk_size(), 2 << 20);
}

#[test]
fn the_config_is_cloneable_and_debuggable() {
    let config = Config::default().workers(3).io_threads(2);
    let copy = config.clone();
    assert_eq!(format!("{config:?}"), format!("{copy:?}"));
    let system = JobSystem::new(copy.core_affinity(false)).unwrap();
    assert_eq!(system.worker_count(), 3);
    assert!(format!("{system:?}").contains("workers: 3"));
}

/// Set in the child process that [`isolated`] starts.
const CHILD: &str = "JOBS_CONFIG_TEST_CHILD";

/// Runs `body` in a child process (this test binary again, with only the test `name`) and fails
/// the test if the child fails, aborts or takes more than `seconds`: a repro that aborts the
/// process or hangs costs this one test, not the whole suite. In the child, runs `body`.
fn isolated(name: &str, seconds: u64, body: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        body();
        return;
    }
    let log = std::env::temp_dir().join(format!("jobs-config-{}-{name}.log", std::process::id()));
    let file = std::fs::File::create(&log).expect("create the child's log");
    let mut child = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(file.try_clone().expect("share the log"))
        .stderr(file)
        .spawn()
        .expect("start the child");
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("the child failed ({status}):\n{output}"),
        None => panic!("the child hung for {seconds} s:\n{output}"),
    }
}

/// Asserts that `config` is refused with a message that names `value` and `range`.
fn refused(config: Config, value: &str, range: &str) -> ConfigError {
    let err = match JobSystem::new(config) {
        Err(err) => err,
        Ok(system) => panic!(
            "accepted {value} (workers: {}): it should be refused",
            system.worker_count()
        ),
    };
    let message = err.to_string();
    assert!(message.contains(value), "{message:?} should name {value}");
    assert!(message.contains(range), "{message:?} should name {range}");
    err
}

#[test]
fn too_many_workers_is_an_error_not_an_abort() {
    // 100 000 workers used to abort the process: each thread maps a stack and a signal stack,
    // and past the kernel's map count std aborts in the new thread.
    isolated("too_many_workers_is_an_error_not_an_abort", 60, || {
        for workers in [100_000, usize::MAX, 1025] {
            refused(
                Config::default().workers(workers).core_affinity(false),
                &format!("workers({workers})"),
                "1 to 1024",
            );
        }
        refused(Config::default().workers(0), "workers(0)", "1 to 1024");
    });
}

#[test]
fn too_many_io_threads_is_an_error_not_an_abort() {
    isolated("too_many_io_threads_is_an_error_not_an_abort", 60, || {
        for threads in [100_000, usize::MAX, 257] {
            refused(
                Config::default()
                    .workers(1)
                    .core_affinity(false)
                    .io_threads(threads),
                &format!("io_threads({threads})"),
                "1 to 256",
            );
        }
        refused(Config::default().io_threads(0), "io_threads(0)", "1 to 256");
    });
}

#[test]
fn the_most_workers_and_io_threads_allowed_run_jobs() {
    isolated(
        "the_most_workers_and_io_threads_allowed_run_jobs",
        120,
        || {
            let system = match JobSystem::new(
                Config::default()
                    .workers(1024)
                    .io_threads(256)
                    .core_affinity(false)
                    .spin_before_sleep(Duration::ZERO),
            ) {
                Ok(system) => system,
                // The machine may refuse 1,280 more threads (a busy machine near its pid
                // limit): that is the error the system promises, returned after shutting down
                // the threads it started (it used to hang there, see `system.rs`'s tests).
                Err(ConfigError::Spawn(reason)) => {
                    eprintln!("this machine refused a thread, not checked here: {reason}");
                    return;
                }
                Err(other) => panic!("1024 workers and 256 I/O threads are allowed: {other}"),
            };
            assert_eq!(system.worker_count(), 1024);
            system.parallel_for(0..10_000, Grain::Auto, |_| {}).unwrap();
        },
    );
}

#[test]
fn a_spin_too_long_is_an_error_not_dead_workers() {
    // `spin_before_sleep(Duration::MAX)` used to overflow `Instant::now() + spin` in every
    // worker as it went idle: the workers died and no job ran again.
    watchdog(60, || {
        for spin in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::from_secs(1) + Duration::from_nanos(1),
        ] {
            let config = Config::default()
                .workers(2)
                .core_affinity(false)
                .spin_before_sleep(spin);
            if let Ok(system) = JobSystem::new(config.clone()) {
                std::thread::sleep(Duration::from_millis(50));
                let counter = Counter::new();
                system.submit_counted(&counter, Job::from_fn(|_| {}));
                assert!(
                    poll_until(5, || counter.is_zero()),
                    "spin_before_sleep({spin:?}) was accepted and then no worker ran a job"
                );
                std::mem::forget(system); // its workers are dead: it cannot shut down
                panic!("spin_before_sleep({spin:?}) was accepted");
            }
            refused(config, &format!("spin_before_sleep({spin:?})"), "0 to 1s");
        }
    });
}

#[test]
fn a_heap_chunk_size_too_large_is_an_error() {
    for bytes in [(1 << 30) + 1, usize::MAX] {
        refused(
            Config::default().workers(1).heap_chunk_size(bytes),
            &format!("heap_chunk_size({bytes})"),
            "1 to 1073741824",
        );
    }
    refused(
        Config::default().heap_chunk_size(0),
        "heap_chunk_size(0)",
        "1 to 1073741824",
    );
}

#[test]
fn every_setting_works_at_its_smallest_and_largest_allowed_value() {
    watchdog(60, || {
        let smallest = JobSystem::new(
            Config::default()
                .workers(1)
                .io_threads(1)
                .core_affinity(false)
                .spin_before_sleep(Duration::ZERO)
                .heap_chunk_size(1)
                .recorder_memory(0),
        )
        .expect("the smallest settings are allowed");
        let largest = JobSystem::new(
            Config::default()
                .workers(2)
                .core_affinity(false)
                .spin_before_sleep(Duration::from_secs(1))
                .heap_chunk_size(1 << 30)
                .recorder_memory(usize::MAX),
        )
        .expect("the largest settings are allowed");
        for system in [&smallest, &largest] {
            system.start_recording().unwrap();
            system.parallel_for(0..1000, Grain::Auto, |_| {}).unwrap();
            let trace = system.stop_recording().unwrap();
            assert!(!trace.spans.is_empty());
            // The heap hands out memory with either block size.
            let mut block = system.heap().allocate_bytes(jobs::Tag(1), 100, 8).unwrap();
            block.as_mut_slice().fill(7);
            assert!(block.as_slice().iter().all(|&b| b == 7));
            drop(block);
            system.heap().release(jobs::Tag(1));
        }
        // Many core ids, or the same one many times: worker i takes cores[i % len].
        let system = JobSystem::new(Config::default().workers(2).cores(vec![0; 10_000]));
        if core_ids_known() {
            assert_eq!(system.unwrap().worker_count(), 2);
        }
    });
}

#[test]
fn a_core_id_at_the_extreme_is_an_error() {
    let err = JobSystem::new(Config::default().cores(vec![usize::MAX])).unwrap_err();
    assert!(err.to_string().contains(&usize::MAX.to_string()), "{err}");
}

#[test]
fn a_grain_works_from_one_item_to_usize_max() {
    watchdog(30, || {
        let system = common::system(2);
        for grain in [1, 7, 1000, usize::MAX] {
            let grain = Grain::fixed(grain).unwrap();
            for range in [0..0, 0..1, 0..1000, 5000..6001] {
                let seen = std::sync::atomic::AtomicUsize::new(0);
                system
                    .parallel_for(range.clone(), grain, |_| {
                        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    })
                    .unwrap();
                assert_eq!(seen.into_inner(), range.len(), "{grain:?} over {range:?}");
            }
        }
    });
}

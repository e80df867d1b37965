//! Job memory (`slab.rs`): after a warm-up, creating and finishing jobs makes no global
//! allocation, also when jobs are created on one thread and freed on another; jobs of every
//! size and alignment run and drop their captures exactly once.
//!
//! A counting global allocator (this test binary only) counts allocations: all of them, and
//! those of the threads a test marks. The tests of this file take one lock, so that no test
//! allocates while another counts; the test harness's own thread may still allocate meanwhile,
//! hence the exact counts are of marked threads only.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard, PoisonError};
use std::thread;

use common::{system, watchdog, DropCount, DropToken};
use jobs::{Action, Context, Counter, Job};

struct Counting;

/// Allocations of every thread.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// Allocations of the marked threads.
static MARKED_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations count in [`MARKED_ALLOCATIONS`]. (Const, without a
    /// destructor: reading it never allocates.)
    static MARKED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    if MARKED.try_with(Cell::get).unwrap_or(false) {
        MARKED_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator, counting allocations (reallocations included).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded from the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Held by every test of this file: one counts while no other runs.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Global allocations made by any thread while `f` runs.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// Marks this thread: its allocations count in [`marked_allocations_in`].
fn mark_this_thread() {
    MARKED.with(|marked| marked.set(true));
}

/// Global allocations made by marked threads while `f` runs.
fn marked_allocations_in(f: impl FnOnce()) -> usize {
    let before = MARKED_ALLOCATIONS.load(Ordering::SeqCst);
    f();
    MARKED_ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn a_warm_submit_and_wait_loop_allocates_no_job() {
    let _serial = serial();
    watchdog(60, || {
        const JOBS: usize = 1000;
        let system = system(2);
        let counter = system.counter();
        let round = || {
            for i in 0..JOBS {
                system.submit_counted(
                    &counter,
                    Job::from_fn(move |_| {
                        std::hint::black_box(i);
                    }),
                );
            }
            system.wait(&counter).expect("no job panics");
        };
        // Warm-up: the magazines, the depot and the queues reach their working size. (Each
        // thread keeps up to two magazines of blocks; until the blocks in circulation cover what
        // the threads may hold at once, the main thread now and then takes half a magazine from
        // the global allocator.)
        for _ in 0..100 {
            round();
        }
        let rounds = 100;
        let allocations = allocations_in(|| (0..rounds).for_each(|_| round()));
        let per_round = allocations as f64 / rounds as f64;
        println!("{per_round} global allocations a round of {JOBS} jobs");
        // One allocation per job (as with `Box`) would be 1000 a round. What is left is the
        // shared queue's blocks: crossbeam's `Injector` allocates one per 63 jobs pushed, 16 a
        // round.
        assert!(
            per_round <= (JOBS / 40) as f64,
            "{per_round} global allocations a round of {JOBS} jobs"
        );
    });
}

/// Moves batches of jobs created on one thread to another that drops them, and back.
fn cross_thread_rounds(rounds: usize, batch: usize) -> usize {
    let (to_dropper, batches) = mpsc::sync_channel::<Vec<Job<'static>>>(1);
    let (to_creator, emptied) = mpsc::sync_channel::<Vec<Job<'static>>>(1);
    let dropper = thread::spawn(move || {
        mark_this_thread();
        for mut jobs in batches {
            jobs.clear(); // drops (frees) every job on this thread
            if to_creator.send(jobs).is_err() {
                break;
            }
        }
    });
    let mut jobs = Vec::with_capacity(batch);
    // The channels' first messages allocate: send one round-trip before counting.
    to_dropper.send(jobs).expect("the dropper runs");
    jobs = emptied.recv().expect("the dropper runs");
    let run = |jobs: &mut Vec<Job<'static>>| {
        for _ in 0..rounds {
            jobs.extend((0..batch).map(|i| {
                Job::from_fn(move |_| {
                    std::hint::black_box(i);
                })
            }));
            to_dropper
                .send(std::mem::take(jobs))
                .expect("the dropper runs");
            *jobs = emptied.recv().expect("the dropper runs");
        }
    };
    run(&mut jobs); // warm-up
    mark_this_thread();
    let allocations = marked_allocations_in(|| run(&mut jobs));
    drop(to_dropper);
    dropper.join().expect("the dropper does not panic");
    allocations
}

#[test]
fn jobs_created_on_one_thread_and_freed_on_another_come_back_without_allocating() {
    let _serial = serial();
    // 2000 jobs a round: more than a thread's two magazines hold (512 of the smallest jobs), so
    // the blocks must come back through the depot.
    assert_eq!(cross_thread_rounds(50, 2000), 0);
}

/// A capture of `N` bytes (at least 1) that counts its drops.
struct Sized<const N: usize> {
    _bytes: [u8; N],
    _token: DropToken,
}

/// A capture aligned to a cache line, the most a class serves.
#[allow(dead_code)] // the token is held only for its drop
#[repr(align(64))]
struct Align64(u8, DropToken);

/// A capture aligned beyond any class: a box.
#[allow(dead_code)] // the token is held only for its drop
#[repr(align(128))]
struct Align128(u8, DropToken);

/// Submits `count` jobs with capture `make()`, each checking its capture's alignment and
/// counting its run; returns how many ran.
fn run_jobs<C: Send + 'static>(count: usize, make: impl Fn() -> C) -> usize {
    fn step<C>(
        capture: &mut (C, std::sync::Arc<AtomicUsize>),
        _: &mut Context<'_>,
    ) -> Action<(C, std::sync::Arc<AtomicUsize>)> {
        assert_eq!(
            (&capture.0 as *const C).align_offset(std::mem::align_of::<C>()),
            0,
            "the capture is aligned"
        );
        capture.1.fetch_add(1, Ordering::SeqCst);
        Action::Done
    }
    let system = system(2);
    let ran = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = Counter::new();
    for _ in 0..count {
        system.submit_counted(&counter, Job::new((make(), ran.clone()), step::<C>));
    }
    system.wait(&counter).expect("no job panics");
    ran.load(Ordering::SeqCst)
}

#[test]
fn jobs_of_every_size_and_alignment_run_and_drop_their_capture_once() {
    let _serial = serial();
    watchdog(60, || {
        const JOBS: usize = 200;
        let drops = DropCount::default();
        let mut expected = 0;
        let mut check = |ran: usize, what: &str| {
            expected += JOBS;
            assert_eq!(ran, JOBS, "{what}: every job ran");
            assert_eq!(drops.get(), expected, "{what}: every capture dropped once");
        };
        // A zero-sized capture: nothing to count but the runs.
        assert_eq!(run_jobs(JOBS, || ()), JOBS);
        check(run_jobs(JOBS, || drops.token()), "a pointer");
        check(
            run_jobs(JOBS, || Sized::<1> {
                _bytes: [1],
                _token: drops.token(),
            }),
            "1 byte",
        );
        check(
            run_jobs(JOBS, || Sized::<100> {
                _bytes: [1; 100],
                _token: drops.token(),
            }),
            "100 bytes",
        );
        check(
            run_jobs(JOBS, || Sized::<300> {
                _bytes: [1; 300],
                _token: drops.token(),
            }),
            "300 bytes",
        );
        check(
            run_jobs(JOBS, || Sized::<600> {
                _bytes: [1; 600],
                _token: drops.token(),
            }),
            "600 bytes (no class: a box)",
        );
        check(
            run_jobs(JOBS, || Align64(1, drops.token())),
            "aligned to 64",
        );
        check(
            run_jobs(JOBS, || Align128(1, drops.token())),
            "aligned to 128 (no class: a box)",
        );
        // Jobs dropped without running drop their capture too.
        for _ in 0..JOBS {
            drop(Job::new(
                Sized::<100> {
                    _bytes: [1; 100],
                    _token: drops.token(),
                },
                |_, _| Action::Done,
            ));
            drop(Job::new(Align128(1, drops.token()), |_, _| Action::Done));
        }
        assert_eq!(drops.get(), expected + 2 * JOBS);
    });
}

#[test]
fn blocks_of_an_exited_thread_are_reused() {
    let _serial = serial();
    let drops = DropCount::default();
    // A thread fills its magazines and exits: they go to the depot.
    let token = drops.clone();
    thread::spawn(move || {
        let jobs: Vec<Job<'static>> = (0..500)
            .map(|_| {
                let t = token.token();
                Job::from_fn(move |_| drop(t))
            })
            .collect();
        drop(jobs);
    })
    .join()
    .expect("the thread does not panic");
    assert_eq!(drops.get(), 500);
    // Another thread takes them from the depot: no global allocation for its jobs.
    let allocations = thread::spawn(|| {
        mark_this_thread();
        let mut jobs = Vec::with_capacity(100);
        marked_allocations_in(|| {
            jobs.extend((0..100).map(|i| {
                Job::from_fn(move |_| {
                    std::hint::black_box(i);
                })
            }))
        })
    })
    .join()
    .expect("the thread does not panic");
    assert_eq!(allocations, 0);
}

#[test]
fn a_capture_that_panics_in_drop_still_frees_its_job() {
    let _serial = serial();
    #[allow(dead_code)] // the token is held only for its drop
    struct Bomb(DropToken);
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("boom");
        }
    }
    let drops = DropCount::default();
    for _ in 0..10 {
        let job = Job::new(Bomb(drops.token()), |_, _| Action::Done);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(job)));
        assert!(dropped.is_err(), "the capture's panic reaches the dropper");
    }
    // The token inside each bomb was dropped while unwinding.
    assert_eq!(drops.get(), 10);
}

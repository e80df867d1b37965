//! A reduced suite of the unsafe core, small enough for Miri:
//! `MIRIFLAGS="-Zmiri-disable-isolation" cargo +nightly miri test -p jobs --test miri`
//! (add `-Zmiri-strict-provenance` to check that no pointer goes through an integer).
//! It also runs as an ordinary test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod common;

use common::{node, Node};
use jobs::{Action, Block, Config, Context, Counter, Grain, Job, JobSystem, MemoryError, Tag};

fn system() -> JobSystem {
    JobSystem::new(Config::default().workers(2).pin_workers(false)).expect("valid config")
}

#[test]
fn children_borrowing_the_parent_capture() {
    let system = system();
    let mut total = 0;
    system.scope(|s| {
        s.spawn_job(Job::new(
            Node {
                depth: 4,
                sums: [0; 2],
                out: &mut total,
            },
            node,
        ))
    });
    assert_eq!(total, 16);
}

#[test]
fn counters_detached_spawns_and_waits() {
    let system = system();
    let counter = system.counter();
    let hits = Arc::new(AtomicUsize::new(0));
    for _ in 0..8 {
        let h = hits.clone();
        let inner = counter.clone();
        system.submit_counted(
            &counter,
            Job::from_fn(move |cx| {
                h.fetch_add(1, Ordering::Relaxed);
                let h = h.clone();
                cx.spawn_counted(
                    &inner,
                    Job::from_fn(move |_| {
                        h.fetch_add(1, Ordering::Relaxed);
                    }),
                );
            }),
        );
    }
    struct W(Counter);
    let done = Counter::new();
    system.submit_counted(
        &done,
        Job::new(W(counter.clone()), |w, _| {
            Action::wait(&w.0, |_, _| Action::Done)
        }),
    );
    system.wait(&counter).unwrap();
    system.wait(&done).unwrap();
    assert_eq!(hits.load(Ordering::Relaxed), 16);
}

#[test]
fn memory_blocking_and_batches() {
    let system = system();
    struct M {
        bytes: Vec<u8>,
        block: Option<Block>,
    }
    fn with(m: &mut M, _: &mut Context<'_>, block: Result<Block, MemoryError>) -> Action<M> {
        let mut block = block.expect("a block");
        block.as_mut_slice()[..3].copy_from_slice(&m.bytes);
        m.block = Some(block);
        Action::Blocking(
            |m| m.bytes.push(4),
            |m, _| {
                assert_eq!(m.bytes, [1, 2, 3, 4]);
                Action::Yield(|_, _| Action::Done)
            },
        )
    }
    let counter = Counter::new();
    system.submit_counted(
        &counter,
        Job::new(
            M {
                bytes: vec![1, 2, 3],
                block: None,
            },
            |_, _| Action::memory(Tag(1), 32, with),
        ),
    );
    system.wait(&counter).unwrap();
    system.heap().release(Tag(1));
    let mut values = vec![0u32; 50];
    system
        .for_each_mut(&mut values, Grain::fixed(7).unwrap(), |i, v| *v = i as u32)
        .unwrap();
    assert_eq!(values[49], 49);
}

#[test]
fn panics_and_shutdown_with_queued_work() {
    let counter = Counter::new();
    {
        let system = system();
        system.submit_counted(&counter, Job::from_fn(|_| panic!("boom")));
        assert!(system.wait(&counter).is_err());
        for _ in 0..16 {
            system.submit(Job::from_fn(|cx| cx.spawn(Job::from_fn(|_| {}))));
        }
        system.submit_counted(&counter, Job::from_fn(|_| {}).pinned_to_main());
    }
    assert!(
        counter.is_zero(),
        "the pinned job left at drop was cancelled"
    );
}

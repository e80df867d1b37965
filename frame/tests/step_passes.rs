//! Step passes: a pass whose body is a job of steps returning `jobs::Action`s (wait on a
//! counter, yield, ask for memory, block on an I/O thread, spawn children that borrow the
//! pass's resources). Every one completes and later passes see its writes.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{spin, system, watchdog, DT};
use frame::{Frames, FramesConfig, GraphBuilder, Pass, Read, Write};
use jobs::{Action, Block, Context, Counter, Job, MemoryError, Tag};

/// Waits on a counter of jobs it submitted itself.
struct Waiting {
    counter: Counter,
    sum: Arc<AtomicU64>,
}
type WaitPass = Pass<Waiting, Write<u64>>;

fn wait_start(p: &mut WaitPass, cx: &mut Context<'_>) -> Action<WaitPass> {
    let n = p.frame().number;
    let state = p.state();
    for i in 0..4 {
        let sum = Arc::clone(&state.sum);
        cx.spawn_job_counted(
            &state.counter,
            Job::from_fn(move |_| {
                spin(Duration::from_micros(20));
                sum.fetch_add(n + i, Ordering::SeqCst);
            }),
        );
    }
    Action::wait(&state.counter, wait_end)
}

fn wait_end(p: &mut WaitPass, _: &mut Context<'_>) -> Action<WaitPass> {
    let (state, out) = p.parts();
    assert!(
        state.counter.is_zero(),
        "resumed before the counter reached zero"
    );
    *out = state.sum.swap(0, Ordering::SeqCst);
    Action::Done
}

type YieldPass = Pass<u32, Write<u64>>;

fn yield_start(p: &mut YieldPass, _: &mut Context<'_>) -> Action<YieldPass> {
    *p.state() = 0;
    Action::Yield(yield_again)
}

fn yield_again(p: &mut YieldPass, _: &mut Context<'_>) -> Action<YieldPass> {
    let n = p.frame().number;
    let (yields, out) = p.parts();
    *yields += 1;
    if *yields < 5 {
        return Action::Yield(yield_again);
    }
    *out = n * 10 + *yields as u64;
    Action::Done
}

type MemoryPass = Pass<(), Write<u64>>;

/// Tags for the memory pass, far from the frame loop's own.
fn memory_tag(frame: u64) -> Tag {
    Tag(7_000 + frame)
}

fn memory_start(p: &mut MemoryPass, _: &mut Context<'_>) -> Action<MemoryPass> {
    Action::memory(memory_tag(p.frame().number), 256 * 8, memory_got)
}

fn memory_got(
    p: &mut MemoryPass,
    cx: &mut Context<'_>,
    memory: Result<Block, MemoryError>,
) -> Action<MemoryPass> {
    let n = p.frame().number;
    let mut block = memory.expect("2 KiB from the tagged heap");
    let values: &mut [u64] = block.cast_slice_mut();
    assert_eq!(values.len(), 256);
    for (i, v) in values.iter_mut().enumerate() {
        *v = n + i as u64;
    }
    *p.resources() = values.iter().sum();
    drop(block);
    cx.heap().release(memory_tag(n));
    Action::Done
}

type BlockingPass = Pass<Option<std::thread::ThreadId>, Write<u64>>;

fn blocking_start(_: &mut BlockingPass, _: &mut Context<'_>) -> Action<BlockingPass> {
    Action::Blocking(
        |p| {
            // On an I/O thread, where sleeping is allowed.
            std::thread::sleep(Duration::from_micros(200));
            let n = p.frame().number;
            let (thread, out) = p.parts();
            *thread = Some(std::thread::current().id());
            *out = n * 3;
        },
        blocking_end,
    )
}

fn blocking_end(p: &mut BlockingPass, _: &mut Context<'_>) -> Action<BlockingPass> {
    let n = p.frame().number;
    let (thread, out) = p.parts();
    assert_ne!(
        *thread,
        Some(std::thread::current().id()),
        "the blocking step ran on an I/O thread, not here"
    );
    assert_eq!(*out, n * 3, "the blocking step's write is visible after it");
    Action::Done
}

type SpawnPass = Pass<u64, Write<Vec<u64>>>;

fn spawn_start(_: &mut SpawnPass, _: &mut Context<'_>) -> Action<SpawnPass> {
    Action::Spawn(
        |p, spawner| {
            let n = p.frame().number;
            let (_, data) = p.parts();
            // Children borrow disjoint parts of the resource.
            for (i, chunk) in data.chunks_mut(100).enumerate() {
                spawner.spawn(move |_| {
                    for (j, x) in chunk.iter_mut().enumerate() {
                        *x = n + (i * 100 + j) as u64;
                    }
                });
            }
        },
        spawn_end,
    )
}

fn spawn_end(p: &mut SpawnPass, _: &mut Context<'_>) -> Action<SpawnPass> {
    let (sum, data) = p.parts();
    *sum = data.iter().sum();
    Action::Done
}

fn expected_spawned(n: u64) -> u64 {
    (0..1000).map(|i| n + i).sum()
}

#[test]
fn every_action_completes_and_later_passes_see_the_writes() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let checked = Arc::new(AtomicUsize::new(0));
            let mut graph = GraphBuilder::new();
            let waited = graph.scratch("waited", 0u64);
            let yielded = graph.scratch("yielded", 0u64);
            let memory = graph.scratch("memory", 0u64);
            let blocked = graph.scratch("blocked", 0u64);
            let spawned = graph.import("spawned", vec![0u64; 1000]);
            let state = Waiting {
                counter: Counter::new(),
                sum: Arc::new(AtomicU64::new(0)),
            };
            graph.step_pass("wait", waited.write(), state, wait_start);
            graph.step_pass("yield", yielded.write(), 0u32, yield_start);
            graph.step_pass("memory", memory.write(), (), memory_start);
            graph.step_pass("blocking", blocked.write(), None, blocking_start);
            graph.step_pass("spawn", spawned.write(), 0u64, spawn_start);
            let c = Arc::clone(&checked);
            graph
                .pass(
                    "check",
                    (
                        waited.read(),
                        yielded.read(),
                        memory.read(),
                        blocked.read(),
                        spawned.read(),
                    ),
                    move |(waited, yielded, memory, blocked, spawned), cx| {
                        let n = cx.frame().number;
                        assert_eq!(*waited, 4 * n + 6, "wait, frame {n}");
                        assert_eq!(*yielded, n * 10 + 5, "yield, frame {n}");
                        assert_eq!(*memory, 256 * n + 255 * 128, "memory, frame {n}");
                        assert_eq!(*blocked, n * 3, "blocking, frame {n}");
                        assert_eq!(spawned.iter().sum::<u64>(), expected_spawned(n));
                        c.fetch_add(1, Ordering::SeqCst);
                    },
                )
                .side_effect();
            let graph = graph.compile().unwrap();
            assert_eq!(graph.dependencies("check").unwrap().len(), 5);
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames = Frames::with_config(system(2), graph, config).unwrap();
            let count = 60;
            for _ in 0..count {
                frames.run_frame(DT).unwrap();
            }
            frames.finish().unwrap();
            assert_eq!(checked.load(Ordering::SeqCst), count as usize);
            let last = count - 1;
            assert_eq!(*frames.resource(waited).unwrap(), 4 * last + 6);
            assert_eq!(*frames.resource(yielded).unwrap(), last * 10 + 5);
            assert_eq!(*frames.resource(blocked).unwrap(), last * 3);
            let spawned = frames.resource(spawned).unwrap();
            assert_eq!(spawned.iter().sum::<u64>(), expected_spawned(last));
            assert_eq!(
                frames.system().heap().stats().live_tags,
                0,
                "the memory pass released its tags"
            );
        }
    });
}

/// A step pass keeps its state between frames: here a running total of its frames.
type TotalPass = Pass<u64, Write<u64>>;

fn total_step(p: &mut TotalPass, _: &mut Context<'_>) -> Action<TotalPass> {
    let n = p.frame().number;
    let (total, out) = p.parts();
    *total += n;
    *out = *total;
    Action::Done
}

#[test]
fn a_step_pass_keeps_its_state_between_frames() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let out = graph.import("out", 0u64);
        graph.step_pass("total", out.write(), 0u64, total_step);
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        for _ in 0..50 {
            frames.run_frame(DT).unwrap();
        }
        assert_eq!(*frames.resource(out).unwrap(), (0..50).sum::<u64>());
    });
}

/// Two step passes meet on a counter in their states: "producer" spawns jobs counted on it,
/// "consumer" (after it, through resource `a`) waits for the same counter with `Action::WaitSettled`.
struct Shared {
    counter: Counter,
    value: Arc<AtomicU64>,
}
type ProducerPass = Pass<Shared, Write<u64>>;
type ConsumerPass = Pass<Shared, (Read<u64>, Write<u64>)>;

fn producer(p: &mut ProducerPass, cx: &mut Context<'_>) -> Action<ProducerPass> {
    let n = p.frame().number;
    let state = p.state();
    let value = Arc::clone(&state.value);
    cx.spawn_job_counted(
        &state.counter,
        Job::from_fn(move |_| {
            spin(Duration::from_micros(100));
            value.store(n + 1, Ordering::SeqCst);
        }),
    );
    Action::Done
}

fn consumer(p: &mut ConsumerPass, _: &mut Context<'_>) -> Action<ConsumerPass> {
    let counter = p.state().counter.clone();
    Action::WaitSettled(counter, consumer_end)
}

fn consumer_end(p: &mut ConsumerPass, _: &mut Context<'_>) -> Action<ConsumerPass> {
    let n = p.frame().number;
    let (state, (_, out)) = p.parts();
    assert_eq!(state.value.load(Ordering::SeqCst), n + 1);
    *out = n + 1;
    Action::Done
}

#[test]
fn a_step_pass_can_wait_for_jobs_another_pass_started() {
    watchdog(30, || {
        let counter = Counter::new();
        let value = Arc::new(AtomicU64::new(0));
        let mut graph = GraphBuilder::new();
        let a = graph.import("a", 0u64);
        let b = graph.import("b", 0u64);
        let shared = |counter: &Counter| Shared {
            counter: counter.clone(),
            value: Arc::clone(&value),
        };
        graph.step_pass("producer", a.write(), shared(&counter), producer);
        graph.step_pass(
            "consumer",
            (a.read(), b.write()),
            shared(&counter),
            consumer,
        );
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        for _ in 0..40 {
            frames.run_frame(DT).unwrap();
        }
        assert_eq!(*frames.resource(b).unwrap(), 40);
    });
}

//! An outside tester's attack (session 4) on what changed today: the interpreter's handling of
//! every `Action`, a job's completion when its capture's `Drop` panics, `Context::join`'s stack
//! use per nested level, and the counters' look bit (waking only when somebody waits).
//!
//! Written against the public docs (README, crate docs), not the implementation. Every test
//! that could hang runs under a watchdog; tests that could abort the process (a stack
//! overflow) run in a child process.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_child_passed, isolated, poll_until, poll_zero, watchdog, DropCount, DropToken, Gate,
};
use jobs::{
    Action, Block, Config, Context, Counter, Job, JobSystem, MemoryError, Tag, WaitOptions,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn config(workers: usize) -> Config {
    Config::default().workers(workers).core_affinity(false)
}

fn system(workers: usize) -> JobSystem {
    JobSystem::new(config(workers)).expect("valid config")
}

/// A system whose waiting threads never run the pool's jobs: waits exercise only waking.
fn quiet_system(workers: usize) -> JobSystem {
    JobSystem::new(config(workers).help_while_waiting(false)).expect("valid config")
}

fn message(result: Result<(), jobs::JobPanic>) -> String {
    match result {
        Ok(()) => "<no panic>".to_owned(),
        Err(panic) => panic.message().to_owned(),
    }
}

/// A capture whose `Drop` panics with its message (and counts the drop).
struct Bomb {
    message: &'static str,
    /// Counts the drop (dropped after `drop` returns or unwinds).
    _drops: DropToken,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("{}", self.message);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The interpreter: every action, in one chain
// ---------------------------------------------------------------------------------------------

type ChainLog = Arc<Mutex<Vec<(Vec<&'static str>, Option<String>, bool)>>>;

struct Chain {
    log: Vec<&'static str>,
    parts: [u64; 2],
    other: Counter,
    failing: Counter,
    io_thread: Option<String>,
    block_ok: bool,
    out: ChainLog,
    _drops: DropToken,
}

impl Drop for Chain {
    fn drop(&mut self) {
        self.out.lock().unwrap().push((
            std::mem::take(&mut self.log),
            self.io_thread.take(),
            self.block_ok,
        ));
    }
}

fn chain_start(c: &mut Chain, _: &mut Context<'_>) -> Action<Chain> {
    c.log.push("start");
    Action::Yield(chain_after_yield)
}

fn chain_after_yield(c: &mut Chain, _: &mut Context<'_>) -> Action<Chain> {
    c.log.push("yield");
    Action::memory(Tag(4), 256, chain_after_memory)
}

fn chain_after_memory(
    c: &mut Chain,
    _: &mut Context<'_>,
    memory: Result<Block, MemoryError>,
) -> Action<Chain> {
    c.log.push("memory");
    let mut block = memory.expect("256 bytes from the tagged heap");
    let words = block.cast_slice_mut::<u64>();
    words
        .iter_mut()
        .enumerate()
        .for_each(|(i, w)| *w = i as u64);
    c.block_ok = words.len() == 32 && words[31] == 31;
    Action::Blocking(
        |c| c.io_thread = thread::current().name().map(str::to_owned),
        chain_after_blocking,
    )
}

fn chain_after_blocking(c: &mut Chain, _: &mut Context<'_>) -> Action<Chain> {
    c.log.push("blocking");
    Action::Spawn(
        |c, s| {
            let [a, b] = &mut c.parts;
            s.spawn(move |_| *a = 20);
            s.spawn_job(Job::new(b, |b, _| {
                **b = 22;
                Action::Done
            }));
        },
        chain_after_spawn,
    )
}

fn chain_after_spawn(c: &mut Chain, _: &mut Context<'_>) -> Action<Chain> {
    c.log.push("spawn");
    assert_eq!(
        c.parts[0] + c.parts[1],
        42,
        "the children's writes are visible"
    );
    Action::wait(&c.other, chain_after_wait)
}

fn chain_after_wait(c: &mut Chain, _: &mut Context<'_>) -> Action<Chain> {
    c.log.push("wait");
    assert!(c.other.is_zero());
    Action::wait_settled(&c.failing, chain_after_settled)
}

fn chain_after_settled(c: &mut Chain, _: &mut Context<'_>) -> Action<Chain> {
    c.log.push("settled");
    assert!(c.failing.is_zero());
    Action::Done
}

/// Every action in one chain, 300 times on a reused counter: each step runs once and in
/// order, the Blocking step runs on an I/O thread, the children's writes are visible to the
/// continuation, `WaitSettled` continues past a panic and leaves it on its counter (reported
/// by the next wait, once), the capture is dropped once per job.
#[test]
fn every_action_in_one_chain_runs_each_step_once_in_order() {
    watchdog(120, || {
        let system = system(2);
        let done = system.counter();
        let drops = DropCount::default();
        let out: ChainLog = Arc::default();
        for round in 0..300 {
            let other = system.counter();
            let failing = system.counter();
            system.submit_counted(&other, Job::from_fn(|_| thread::yield_now()));
            system.submit_counted(&failing, Job::from_fn(|_| panic!("settled-over")));
            let chain = Chain {
                log: Vec::new(),
                parts: [0; 2],
                other,
                failing: failing.clone(),
                io_thread: None,
                block_ok: false,
                out: out.clone(),
                _drops: drops.token(),
            };
            system.submit_counted(&done, Job::new(chain, chain_start));
            system
                .wait(&done)
                .unwrap_or_else(|e| panic!("round {round}: {}", e.message()));
            assert_eq!(
                message(system.wait(&failing)),
                "settled-over",
                "round {round}"
            );
            // A wait that finds the counter at zero right after the round reports it too
            // (Counter docs, Panics); the next round's wait no longer does.
            assert_eq!(
                message(system.wait(&failing)),
                "settled-over",
                "round {round}"
            );
            system.submit_counted(&failing, Job::from_fn(|_| {}));
            assert_eq!(
                message(system.wait(&failing)),
                "<no panic>",
                "round {round}"
            );
        }
        let out = out.lock().unwrap();
        assert_eq!(out.len(), 300, "each capture dropped once");
        for (steps, io, block_ok) in out.iter() {
            assert_eq!(
                steps,
                &["start", "yield", "memory", "blocking", "spawn", "wait", "settled"]
            );
            assert!(
                io.as_deref().is_some_and(|n| n.starts_with("jobs-io-")),
                "Blocking ran on {io:?}"
            );
            assert!(block_ok);
        }
        assert_eq!(drops.get(), 300);
        system.heap().release(Tag(4));
    });
}

// ---------------------------------------------------------------------------------------------
// 1b. Steps that panic after each action; the Blocking call itself panicking
// ---------------------------------------------------------------------------------------------

struct Victim {
    kind: u8,
    other: Counter,
    _drops: DropToken,
}

fn victim_start(v: &mut Victim, _: &mut Context<'_>) -> Action<Victim> {
    match v.kind {
        0 => panic!("panic-in-first-step"),
        1 => Action::Yield(|_, _| panic!("panic-after-yield")),
        2 => Action::memory(Tag(5), 64, |_, _, _| panic!("panic-after-memory")),
        3 => Action::Blocking(|_| {}, |_, _| panic!("panic-after-blocking")),
        4 => Action::Blocking(
            |_| panic!("panic-in-blocking-call"),
            |_, _| unreachable!("the step after a panicked blocking call must not run"),
        ),
        5 => Action::Spawn(|_, s| s.spawn(|_| {}), |_, _| panic!("panic-after-spawn")),
        6 => Action::Wait(v.other.clone(), |_, _| panic!("panic-after-wait")),
        7 => Action::WaitSettled(v.other.clone(), |_, _| panic!("panic-after-settled")),
        8 => Action::Spawn(
            |_, _| panic!("panic-in-spawning-closure"),
            |_, _| unreachable!("the continuation of a panicked spawn must not run"),
        ),
        _ => unreachable!(),
    }
}

const VICTIM_MESSAGES: [&str; 9] = [
    "panic-in-first-step",
    "panic-after-yield",
    "panic-after-memory",
    "panic-after-blocking",
    "panic-in-blocking-call",
    "panic-after-spawn",
    "panic-after-wait",
    "panic-after-settled",
    "panic-in-spawning-closure",
];

/// A step panicking after every kind of action (and the Blocking call and the spawning closure
/// themselves): the panic reaches the counter's wait with its message, the capture is dropped
/// once, the next round of the same counter is clean, and the system keeps running.
#[test]
fn a_panic_after_every_action_reaches_the_wait_and_drops_the_capture_once() {
    watchdog(120, || {
        let system = system(2);
        let done = system.counter();
        let drops = DropCount::default();
        for round in 0..50 {
            for (kind, expected) in VICTIM_MESSAGES.iter().enumerate() {
                let other = system.counter();
                system.submit_counted(&other, Job::from_fn(|_| {}));
                let before = drops.get();
                system.submit_counted(
                    &done,
                    Job::new(
                        Victim {
                            kind: kind as u8,
                            other,
                            _drops: drops.token(),
                        },
                        victim_start,
                    ),
                );
                assert_eq!(message(system.wait(&done)), *expected, "round {round}");
                assert_eq!(drops.get(), before + 1, "{expected}: capture dropped once");
                system.submit_counted(&done, Job::from_fn(|_| {}));
                assert_eq!(
                    message(system.wait(&done)),
                    "<no panic>",
                    "{expected}: carried"
                );
            }
        }
        system.heap().release(Tag(5));
    });
}

// ---------------------------------------------------------------------------------------------
// 2. A capture whose Drop panics
// ---------------------------------------------------------------------------------------------

fn bomb(message: &'static str, drops: &DropCount) -> Bomb {
    Bomb {
        message,
        _drops: drops.token(),
    }
}

/// The Drop panic of a job that finished after each kind of action reaches the counter's wait
/// (README: "the panic reaches whoever waits on its counter"); the capture's other fields are
/// dropped once (the token); the counter reaches zero and its next round is clean.
#[test]
fn a_capture_drop_panic_after_every_action_is_reported_on_its_counter() {
    watchdog(120, || {
        let system = system(2);
        let done = system.counter();
        let drops = DropCount::default();
        let paths: [jobs::Step<Bomb>; 7] = [
            |_, _| Action::Done,
            |_, _| Action::Yield(|_, _| Action::Done),
            |_, _| Action::memory(Tag(6), 16, |_, _, _| Action::Done),
            |_, _| Action::Blocking(|_| {}, |_, _| Action::Done),
            |_, _| Action::Spawn(|_, s| s.spawn(|_| {}), |_, _| Action::Done),
            |_, _| Action::Spawn(|_, _| {}, |_, _| Action::Done),
            |_, _| Action::Yield(|_, _| Action::Yield(|_, _| Action::Done)),
        ];
        for round in 0..100 {
            for (i, step) in paths.iter().enumerate() {
                let before = drops.get();
                system.submit_counted(&done, Job::new(bomb("drop-bomb", &drops), *step));
                assert_eq!(
                    message(system.wait(&done)),
                    "drop-bomb",
                    "round {round} path {i}"
                );
                assert!(done.is_zero());
                assert_eq!(drops.get(), before + 1, "path {i}: dropped once");
                system.submit_counted(&done, Job::from_fn(|_| {}));
                assert_eq!(
                    message(system.wait(&done)),
                    "<no panic>",
                    "path {i}: carried"
                );
            }
        }
        system.heap().release(Tag(6));
    });
}

/// 1000 jobs of one round whose captures' Drops panic: the wait reports one, and the other 999
/// are counted in `Stats::unobserved_panics` ("every panic after the first where one is
/// reported"); the counter is zero.
#[test]
fn a_thousand_drop_panics_in_one_round_one_reported_the_rest_counted() {
    watchdog(60, || {
        let system = system(2);
        let done = system.counter();
        let drops = DropCount::default();
        let gate = Gate::default();
        let g = gate.clone();
        // Hold the round open until every job is submitted.
        system.submit_counted(&done, Job::from_fn(move |_| g.wait()));
        let before = system.stats().unobserved_panics;
        for _ in 0..1000 {
            system.submit_counted(
                &done,
                Job::new(bomb("many-bombs", &drops), |_, _| Action::Done),
            );
        }
        gate.open();
        assert_eq!(message(system.wait(&done)), "many-bombs");
        assert_eq!(drops.get(), 1000);
        assert!(done.is_zero());
        assert!(
            poll_until(10, || system.stats().unobserved_panics - before == 999),
            "unobserved: {} (expected 999)",
            system.stats().unobserved_panics - before
        );
    });
}

/// Submits 10 jobs made by `job` (each given the system and a bomb whose Drop panics), each
/// failing first with `first`; asserts every wait reports `first`, every bomb dropped, and the
/// 10 Drop panics nobody sees counted in `Stats::unobserved_panics` ("every panic after the
/// first where one is reported").
fn drop_panics_behind_a_first_panic_are_counted(
    first: &str,
    job: impl Fn(&JobSystem, Bomb) -> Job<'static>,
) {
    let system = system(2);
    let done = system.counter();
    let drops = DropCount::default();
    let before = system.stats().unobserved_panics;
    for _ in 0..10 {
        system.submit_counted(&done, job(&system, bomb("second-drop", &drops)));
        assert_eq!(message(system.wait(&done)), first);
    }
    assert_eq!(drops.get(), 10);
    assert!(
        poll_until(5, || system.stats().unobserved_panics - before >= 10),
        "10 Drop panics hidden behind a first panic, unobserved counted: {}",
        system.stats().unobserved_panics - before
    );
}

/// A step that panics and a capture whose Drop then panics too: the step's panic is reported
/// (tests/panics.rs pins that), and the Drop's, a second panic nobody will see, is counted.
/// FINDING at ac2a02a (the second payload was dropped uncounted); fixed in bd5c1cb.
#[test]
fn a_drop_panic_after_a_step_panic_is_counted_as_unobserved() {
    watchdog(60, || {
        drop_panics_behind_a_first_panic_are_counted("first-step", |_, bomb| {
            Job::new(bomb, |_, _| panic!("first-step"))
        })
    });
}

/// The same, for a job cancelled because a counter it waited on had panicked (the cancel is
/// the first panic; the capture's Drop panic is a second one nobody sees). FINDING at ac2a02a;
/// fixed in bd5c1cb.
#[test]
fn a_drop_panic_of_a_cancelled_waiter_is_counted_as_unobserved() {
    struct W {
        on: Counter,
        _b: Bomb,
    }
    watchdog(60, || {
        drop_panics_behind_a_first_panic_are_counted("upstream", |system, bomb| {
            let failing = system.counter();
            system.submit_counted(&failing, Job::from_fn(|_| panic!("upstream")));
            Job::new(
                W {
                    on: failing,
                    _b: bomb,
                },
                |w, _| Action::wait(&w.on, |_, _| unreachable!("cancelled")),
            )
        })
    });
}

/// A child whose capture's Drop panics cancels its parent (Action::Spawn: "If a child panics,
/// the job is cancelled instead"): the continuation never runs, the parent's capture is
/// dropped once, the wait reports the child's Drop panic; siblings all run.
#[test]
fn a_childs_drop_panic_cancels_the_parent_and_every_sibling_runs() {
    watchdog(60, || {
        let system = system(2);
        let done = system.counter();
        let drops = DropCount::default();
        for round in 0..200 {
            struct P {
                ran: [bool; 64],
                continued: Arc<AtomicBool>,
                bomb_at: usize,
                drops: DropCount,
                _t: DropToken,
            }
            let continued = Arc::new(AtomicBool::new(false));
            let before = drops.get();
            system.submit_counted(
                &done,
                Job::new(
                    P {
                        ran: [false; 64],
                        continued: continued.clone(),
                        bomb_at: round % 64,
                        drops: drops.clone(),
                        _t: drops.token(),
                    },
                    |_, _| {
                        Action::Spawn(
                            |p, s| {
                                let at = p.bomb_at;
                                let d = p.drops.clone();
                                for (i, r) in p.ran.iter_mut().enumerate() {
                                    if i == at {
                                        struct C<'a> {
                                            r: &'a mut bool,
                                            _b: Bomb,
                                        }
                                        s.spawn_job(Job::new(
                                            C {
                                                r,
                                                _b: bomb("child-drop", &d),
                                            },
                                            |c, _| {
                                                *c.r = true;
                                                Action::Done
                                            },
                                        ));
                                    } else {
                                        s.spawn(move |_| *r = true);
                                    }
                                }
                            },
                            |p, _| {
                                p.continued.store(true, Ordering::SeqCst);
                                Action::Done
                            },
                        )
                    },
                ),
            );
            assert_eq!(message(system.wait(&done)), "child-drop", "round {round}");
            assert!(!continued.load(Ordering::SeqCst), "the parent continued");
            assert_eq!(
                drops.get(),
                before + 2,
                "parent and the bomb child dropped once each"
            );
        }
    });
}

/// A detached job (`Context::spawn_job`, `submit`) whose capture's Drop panics: nobody waits,
/// so it is counted in `Stats::unobserved_panics`, exactly once per job; the worker survives.
#[test]
fn detached_drop_panics_are_counted_once_each() {
    watchdog(60, || {
        let system = system(2);
        let drops = DropCount::default();
        let before = system.stats().unobserved_panics;
        let done = system.counter();
        let d = drops.clone();
        system.submit_counted(
            &done,
            Job::from_fn(move |cx| {
                for _ in 0..50 {
                    cx.spawn_job(Job::new(bomb("detached", &d), |_, _| Action::Done));
                }
            }),
        );
        for _ in 0..50 {
            system.submit(Job::new(bomb("submitted", &drops), |_, _| {
                Action::Yield(|_, _| Action::Done)
            }));
        }
        system.wait(&done).unwrap();
        assert!(
            poll_until(10, || drops.get() == 100),
            "drops {}",
            drops.get()
        );
        assert!(poll_until(10, || system.stats().unobserved_panics - before >= 100));
        thread::sleep(Duration::from_millis(50));
        assert_eq!(
            system.stats().unobserved_panics - before,
            100,
            "counted once each"
        );
        system
            .parallel_for(0..1000, jobs::Grain::Auto, |_| {})
            .unwrap();
    });
}

/// A spawning closure that spawns 3000 closure children (past the 256 from which they run at
/// once inside `spawn`) and then panics: "the children spawned so far" all run, the parent is
/// cancelled (its continuation never runs), and the closure's panic reaches the wait. Then the
/// same with one of the children panicking too: one of the two is reported, the other counted.
#[test]
fn a_spawning_closure_panic_after_many_children() {
    watchdog(120, || {
        let system = system(2);
        let done = system.counter();
        for round in 0..20 {
            let ran = Arc::new(AtomicUsize::new(0));
            let continued = Arc::new(AtomicBool::new(false));
            struct P {
                ran: Arc<AtomicUsize>,
                continued: Arc<AtomicBool>,
                child_panics: bool,
            }
            let before = system.stats().unobserved_panics;
            let child_panics = round % 2 == 1;
            system.submit_counted(
                &done,
                Job::new(
                    P {
                        ran: ran.clone(),
                        continued: continued.clone(),
                        child_panics,
                    },
                    |_, _| {
                        Action::Spawn(
                            |p, s| {
                                for i in 0..3000 {
                                    let ran = p.ran.clone();
                                    let boom = p.child_panics && i == 1500;
                                    s.spawn(move |_| {
                                        ran.fetch_add(1, Ordering::SeqCst);
                                        if boom {
                                            panic!("child-1500");
                                        }
                                    });
                                }
                                panic!("closure-after-3000");
                            },
                            |p, _| {
                                p.continued.store(true, Ordering::SeqCst);
                                Action::Done
                            },
                        )
                    },
                ),
            );
            let got = message(system.wait(&done));
            assert_eq!(
                ran.load(Ordering::SeqCst),
                3000,
                "round {round}: every child ran"
            );
            assert!(
                !continued.load(Ordering::SeqCst),
                "round {round}: parent continued"
            );
            if child_panics {
                assert!(
                    got == "closure-after-3000" || got == "child-1500",
                    "round {round}: {got}"
                );
                assert!(
                    poll_until(5, || system.stats().unobserved_panics - before == 1),
                    "round {round}: the other panic counted once: {}",
                    system.stats().unobserved_panics - before
                );
            } else {
                assert_eq!(got, "closure-after-3000", "round {round}");
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 1c. Deep chains
// ---------------------------------------------------------------------------------------------

/// 200,000 yields, 20,000 memory steps and 2,000 blocking steps in one job each: every step
/// runs, in order, and the capture is dropped once.
#[test]
fn long_chains_of_yield_memory_and_blocking() {
    watchdog(240, || {
        let system = system(2);
        let done = system.counter();
        struct N {
            left: u32,
            steps: Arc<AtomicU64>,
            _t: DropToken,
        }
        let drops = DropCount::default();
        let steps = Arc::new(AtomicU64::new(0));
        fn y(n: &mut N, _: &mut Context<'_>) -> Action<N> {
            n.steps.fetch_add(1, Ordering::Relaxed);
            if n.left == 0 {
                return Action::Done;
            }
            n.left -= 1;
            Action::Yield(y)
        }
        fn m(n: &mut N, _: &mut Context<'_>, b: Result<Block, MemoryError>) -> Action<N> {
            assert_eq!(b.expect("memory").len(), 8);
            n.steps.fetch_add(1, Ordering::Relaxed);
            if n.left == 0 {
                return Action::Done;
            }
            n.left -= 1;
            Action::memory(Tag(7), 8, m)
        }
        fn b(n: &mut N, _: &mut Context<'_>) -> Action<N> {
            n.steps.fetch_add(1, Ordering::Relaxed);
            if n.left == 0 {
                return Action::Done;
            }
            n.left -= 1;
            Action::Blocking(
                |n| {
                    n.steps.fetch_add(1_000_000, Ordering::Relaxed);
                },
                b,
            )
        }
        let job = |left, step| {
            Job::new(
                N {
                    left,
                    steps: steps.clone(),
                    _t: drops.token(),
                },
                step,
            )
        };
        system.submit_counted(&done, job(200_000, y));
        system.submit_counted(&done, job(20_000, |_, _| Action::memory(Tag(7), 8, m)));
        system.submit_counted(&done, job(2_000, b));
        system.wait(&done).unwrap();
        assert_eq!(
            steps.load(Ordering::SeqCst),
            200_001 + 20_001 + 2_001 + 2_000 * 1_000_000
        );
        assert_eq!(drops.get(), 3);
        system.heap().release(Tag(7));
    });
}

/// A chain of 10,000 jobs each waiting (`Action::Wait`) on the previous one's counter: they
/// run in order. Then the same chain with the first job panicking: every waiter is cancelled
/// with that panic (Action::Wait: "this job is cancelled with that panic"), none runs its step,
/// and the last counter reports the first job's message.
#[test]
fn a_wait_chain_10000_long_runs_in_order_and_passes_a_panic_down() {
    watchdog(120, || {
        let system = system(2);
        for (iteration, panics) in [false, true, false, true].into_iter().enumerate() {
            const N: usize = 10_000;
            let counters: Vec<Counter> = (0..=N).map(|_| system.counter()).collect();
            let order = Arc::new(Mutex::new(Vec::with_capacity(N)));
            let gate = Gate::default();
            let g = gate.clone();
            system.submit_counted(
                &counters[0],
                Job::from_fn(move |_| {
                    g.wait();
                    if panics {
                        panic!("head-of-chain");
                    }
                }),
            );
            struct W {
                i: usize,
                on: Counter,
                order: Arc<Mutex<Vec<usize>>>,
            }
            // In order: each predecessor is counted (the head is gated) when its waiter starts.
            for i in 1..=N {
                system.submit_counted(
                    &counters[i],
                    Job::new(
                        W {
                            i,
                            on: counters[i - 1].clone(),
                            order: order.clone(),
                        },
                        |w, _| {
                            Action::wait(&w.on, |w, _| {
                                w.order.lock().unwrap().push(w.i);
                                Action::Done
                            })
                        },
                    ),
                );
            }
            gate.open();
            let last = system.wait(&counters[N]);
            if panics {
                assert_eq!(message(last), "head-of-chain");
                assert!(
                    order.lock().unwrap().is_empty(),
                    "a cancelled waiter ran its step"
                );
            } else {
                last.unwrap();
                let order = order.lock().unwrap().clone();
                assert_eq!(
                    order.len(),
                    N,
                    "iteration {iteration}: jobs that ran when the last counter's wait returned"
                );
                assert!(order.iter().copied().eq(1..=N), "out of order");
            }
            for c in &counters {
                assert!(c.is_zero());
            }
        }
    });
}

/// 20,000 nested `Action::Spawn` levels (each job spawns one child) with the leaf failing: by
/// panicking in its step, or by its capture's Drop panicking. Every parent is cancelled (no
/// continuation runs), every capture is dropped exactly once, and the top's wait reports the
/// leaf's message.
#[test]
fn a_20000_deep_spawn_chain_cancels_every_parent_on_a_leaf_failure() {
    watchdog(240, || {
        let system = system(2);
        let done = system.counter();
        struct L {
            depth: u32,
            how: u8,
            continued: Arc<AtomicUsize>,
            drops: DropCount,
            _t: DropToken,
            bomb: Option<Bomb>,
        }
        fn level(l: &mut L, _: &mut Context<'_>) -> Action<L> {
            if l.depth == 0 {
                match l.how {
                    0 => panic!("leaf-step"),
                    1 => {
                        l.bomb = Some(bomb("leaf-drop", &l.drops));
                        return Action::Done;
                    }
                    _ => return Action::Done,
                }
            }
            Action::Spawn(
                |l, s| {
                    let child = L {
                        depth: l.depth - 1,
                        how: l.how,
                        continued: l.continued.clone(),
                        drops: l.drops.clone(),
                        _t: l.drops.token(),
                        bomb: None,
                    };
                    s.spawn_job(Job::new(child, level));
                },
                |l, _| {
                    l.continued.fetch_add(1, Ordering::SeqCst);
                    Action::Done
                },
            )
        }
        for how in [0u8, 1, 2] {
            let drops = DropCount::default();
            let continued = Arc::new(AtomicUsize::new(0));
            const DEPTH: u32 = 20_000;
            system.submit_counted(
                &done,
                Job::new(
                    L {
                        depth: DEPTH,
                        how,
                        continued: continued.clone(),
                        drops: drops.clone(),
                        _t: drops.token(),
                        bomb: None,
                    },
                    level,
                ),
            );
            let got = message(system.wait(&done));
            match how {
                0 => assert_eq!(got, "leaf-step"),
                1 => assert_eq!(got, "leaf-drop"),
                _ => assert_eq!(got, "<no panic>"),
            }
            let expected_continued = if how == 2 { DEPTH as usize } else { 0 };
            assert_eq!(
                continued.load(Ordering::SeqCst),
                expected_continued,
                "how {how}"
            );
            // Every level's token, plus the leaf's bomb.
            let expected_drops = DEPTH as usize + 1 + usize::from(how == 1);
            assert_eq!(drops.get(), expected_drops, "how {how}");
        }
    });
}

/// A chain of 5,000 `WaitSettled` jobs over counters whose every job panics: each continues
/// (a panic among the counted jobs is not passed on), and each counter still reports its own
/// panic to a later `JobSystem::wait`.
#[test]
fn a_wait_settled_chain_over_panicking_counters_continues_and_keeps_the_panics() {
    watchdog(120, || {
        let system = system(2);
        const N: usize = 5_000;
        let failing: Vec<Counter> = (0..N).map(|_| system.counter()).collect();
        let chain: Vec<Counter> = (0..N).map(|_| system.counter()).collect();
        let ran = Arc::new(AtomicUsize::new(0));
        for (i, counter) in failing.iter().enumerate() {
            system.submit_counted(counter, Job::from_fn(move |_| panic!("fail-{i}")));
        }
        struct S {
            a: Counter,
            b: Option<Counter>,
            ran: Arc<AtomicUsize>,
        }
        for i in (0..N).rev() {
            system.submit_counted(
                &chain[i],
                Job::new(
                    S {
                        a: failing[i].clone(),
                        b: i.checked_sub(1).map(|j| chain[j].clone()),
                        ran: ran.clone(),
                    },
                    |s, _| {
                        Action::wait_settled(&s.a, |s, _| match s.b.take() {
                            Some(b) => Action::WaitSettled(b, |s, _| {
                                s.ran.fetch_add(1, Ordering::SeqCst);
                                Action::Done
                            }),
                            None => {
                                s.ran.fetch_add(1, Ordering::SeqCst);
                                Action::Done
                            }
                        })
                    },
                ),
            );
        }
        system.wait(&chain[N - 1]).unwrap();
        for c in &chain {
            system.wait(c).unwrap();
        }
        assert_eq!(ran.load(Ordering::SeqCst), N);
        for (i, c) in failing.iter().enumerate() {
            assert_eq!(message(system.wait(c)), format!("fail-{i}"));
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 3. Context::join nesting depth (Config::worker_stack_size docs: some 190 to 230 bytes a
//    level optimized, plus the caller's own frame; 2 MiB hold about nine thousand levels)
// ---------------------------------------------------------------------------------------------

/// Recurses `depth` levels through `a` (`through_b` false) or `b`, recording the address of a
/// local at the bottom.
#[inline(never)]
fn probe_chain(cx: &mut Context<'_>, depth: u32, through_b: bool, bottom: &AtomicUsize) -> u32 {
    if depth == 0 {
        let marker = 0u8;
        bottom.store(
            std::hint::black_box(&marker) as *const u8 as usize,
            Ordering::SeqCst,
        );
        return 0;
    }
    let (x, y) = if through_b {
        cx.join(|_| 1, |cx| probe_chain(cx, depth - 1, through_b, bottom))
    } else {
        cx.join(|cx| probe_chain(cx, depth - 1, through_b, bottom), |_| 1)
    };
    x + y
}

/// Stack bytes per nested join level, through `a` and through `b`, measured on one worker with
/// the test thread not helping (so nothing is stolen: every level runs on that worker).
fn bytes_per_level(through_b: bool) -> f64 {
    let system = quiet_system(1);
    let out = Arc::new(Mutex::new((0usize, 0usize)));
    let done = system.counter();
    let o = out.clone();
    system.submit_counted(
        &done,
        Job::from_fn(move |cx| {
            let bottom = AtomicUsize::new(0);
            assert_eq!(probe_chain(cx, 100, through_b, &bottom), 100);
            let shallow = bottom.load(Ordering::SeqCst);
            assert_eq!(
                probe_chain(cx, 100 + LEVELS, through_b, &bottom),
                100 + LEVELS
            );
            let deep = bottom.load(Ordering::SeqCst);
            *o.lock().unwrap() = (shallow, deep);
        }),
    );
    poll_zero(&done, 30);
    system.wait(&done).unwrap();
    let (shallow, deep) = *out.lock().unwrap();
    (shallow - deep) as f64 / f64::from(LEVELS)
}

/// Levels measured: few enough for a debug build's 2 MiB.
const LEVELS: u32 = if cfg!(debug_assertions) { 600 } else { 2000 };

/// The documented stack cost of a nested join level, optimized: 190 to 230 bytes "plus the
/// caller's own frame". The caller here is a minimal recursive function; allow it 96 bytes.
#[test]
fn a_nested_join_level_costs_what_the_docs_say_optimized() {
    if cfg!(debug_assertions) {
        return;
    }
    let through_a = bytes_per_level(false);
    let through_b = bytes_per_level(true);
    eprintln!("bytes per nested join level: through a {through_a}, through b {through_b}");
    for (how, bytes) in [("a", through_a), ("b", through_b)] {
        assert!(
            bytes <= 230.0 + 96.0,
            "through {how}: {bytes} bytes a level, docs say 190-230 plus the caller's frame"
        );
    }
}

/// The debug-build promise: some 1.5 KiB a level, a thousand levels in 2 MiB.
#[test]
fn a_nested_join_level_costs_what_the_docs_say_in_debug() {
    if !cfg!(debug_assertions) {
        return;
    }
    let through_a = bytes_per_level(false);
    let through_b = bytes_per_level(true);
    eprintln!("debug bytes per nested join level: through a {through_a}, through b {through_b}");
    for (how, bytes) in [("a", through_a), ("b", through_b)] {
        // 1.5 KiB plus this minimal caller's debug frame (measured 1888 and 2192 at ac2a02a).
        assert!(
            bytes <= 2560.0,
            "through {how}: {bytes} bytes a level in debug"
        );
    }
}

fn alternating_chain(cx: &mut Context<'_>, depth: u32) -> u32 {
    if depth == 0 {
        return 0;
    }
    if depth % 2 == 0 {
        let (d, one) = cx.join(|cx| alternating_chain(cx, depth - 1), |_| 1);
        d + one
    } else {
        let (one, d) = cx.join(|_| 1, |cx| alternating_chain(cx, depth - 1));
        d + one
    }
}

fn b_chain(cx: &mut Context<'_>, depth: u32) -> u32 {
    if depth == 0 {
        return 0;
    }
    let (one, deeper) = cx.join(|_| 1, |cx| b_chain(cx, depth - 1));
    one + deeper
}

/// Nine thousand nested joins on the default 2 MiB worker stack, optimized, through `b`,
/// alternating a/b, and from a child job that a parent's `Action::Spawn` hands over to run next
/// (one interpreter frame more below): no overflow (in a child process: an overflow aborts).
/// Also with an idle second worker that steals `b`s (the levels spread over two stacks).
#[test]
fn nine_thousand_nested_joins_fit_2mib_in_every_shape_optimized() {
    const NAME: &str = "nine_thousand_nested_joins_fit_2mib_in_every_shape_optimized";
    if cfg!(debug_assertions) {
        return;
    }
    let output = isolated(NAME, 180, || {
        watchdog(150, || {
            for workers in [1, 2] {
                let system = quiet_system(workers);
                let done = system.counter();
                system.submit_counted(
                    &done,
                    Job::from_fn(|cx| assert_eq!(b_chain(cx, 9000), 9000)),
                );
                system.submit_counted(
                    &done,
                    Job::from_fn(|cx| assert_eq!(alternating_chain(cx, 9000), 9000)),
                );
                struct P {
                    got: u32,
                }
                system.submit_counted(
                    &done,
                    Job::new(P { got: 0 }, |_, _| {
                        Action::Spawn(
                            |p, s| {
                                let got = &mut p.got;
                                s.spawn(move |cx| *got = alternating_chain(cx, 9000));
                            },
                            |p, _| {
                                assert_eq!(p.got, 9000);
                                Action::Done
                            },
                        )
                    }),
                );
                poll_zero(&done, 120);
                system.wait(&done).unwrap();
            }
        })
    });
    assert_child_passed(NAME, output);
}

/// The debug-build promise: a thousand nested levels in 2 MiB.
#[test]
fn a_thousand_nested_joins_fit_2mib_in_debug() {
    const NAME: &str = "a_thousand_nested_joins_fit_2mib_in_debug";
    let output = isolated(NAME, 120, || {
        watchdog(100, || {
            let system = quiet_system(1);
            let done = system.counter();
            system.submit_counted(
                &done,
                Job::from_fn(|cx| assert_eq!(b_chain(cx, 1000), 1000)),
            );
            system.submit_counted(
                &done,
                Job::from_fn(|cx| assert_eq!(alternating_chain(cx, 1000), 1000)),
            );
            poll_zero(&done, 60);
            system.wait(&done).unwrap();
        })
    });
    assert_child_passed(NAME, output);
}

// ---------------------------------------------------------------------------------------------
// 4. Counter waking (the look bit): reused counters, waits racing the end of a round
// ---------------------------------------------------------------------------------------------

/// Rounds: `main` arms the counter with a gated job, a thread starts waiting, the gate opens,
/// and the moment the counter reads zero `main` arms it again (a new round, gated) while the
/// waiter may not have woken yet. Every wait must end with its round ("a waiter always waits
/// for the round that was in progress when it started, however quickly the counter is
/// reused"), 2,000 rounds, on a system whose waiting threads never run jobs (pure waking).
/// In even rounds the waiter has 2 ms to register before the gate opens: it must then wake
/// without the next round's end (a waiter that needs it lost its wake-up). In odd rounds it
/// races the gate: waking at the next round's end is legitimate there (it may have started in
/// it).
#[test]
fn a_thread_waiting_for_a_round_wakes_though_the_counter_is_rearmed_at_once() {
    watchdog(240, || {
        let system = Arc::new(quiet_system(2));
        let counter = system.counter();
        let mut gate = Gate::default();
        let g = gate.clone();
        system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
        let mut lost = Vec::new();
        for round in 0..2_000 {
            let (tx, rx) = mpsc::channel();
            let (s, c) = (system.clone(), counter.clone());
            let started = Arc::new(Barrier::new(2));
            let st = started.clone();
            let waiter = thread::spawn(move || {
                st.wait();
                let r = s.wait(&c);
                let _ = tx.send(r.map_err(|e| e.message().to_owned()));
            });
            started.wait();
            let registered = round % 2 == 0;
            if registered {
                thread::sleep(Duration::from_millis(2));
            }
            gate.open();
            // The next round starts the moment this one ends.
            let next = Gate::default();
            let n = next.clone();
            while !counter.is_zero() {
                std::hint::spin_loop();
            }
            system.submit_counted(&counter, Job::from_fn(move |_| n.wait()));
            gate = next;
            // A racing waiter may have started in the next round: end that one sooner (this
            // bounds the test's time only; nothing is asserted about it).
            let patience = Duration::from_millis(if registered { 5_000 } else { 100 });
            match rx.recv_timeout(patience) {
                Ok(r) => assert_eq!(r, Ok(()), "round {round}"),
                Err(_) => {
                    // End the next round too: a waiter that wakes only now missed its round.
                    gate.open();
                    let r = rx
                        .recv_timeout(Duration::from_secs(10))
                        .unwrap_or_else(|_| panic!("round {round}: the waiter never woke"));
                    assert_eq!(r, Ok(()), "round {round}");
                    if registered {
                        lost.push(round);
                    }
                    gate = Gate::default();
                    let g = gate.clone();
                    system.wait(&counter).unwrap();
                    system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
                }
            }
            waiter.join().unwrap();
        }
        gate.open();
        system.wait(&counter).unwrap();
        assert!(
            lost.is_empty(),
            "registered waiters woken only by the next round: {lost:?}"
        );
    });
}

/// Jobs suspended on a counter (`Action::Wait`) with the counter re-armed as soon as it reads
/// zero: every suspended job resumes, 2,000 rounds of 8 waiting jobs. The jobs have returned
/// their Wait 2 ms before the gate opens; one that resumes only at the next round's end lost
/// its wake-up.
#[test]
fn jobs_waiting_for_a_round_resume_though_the_counter_is_rearmed_at_once() {
    watchdog(240, || {
        let system = quiet_system(2);
        let counter = system.counter();
        let resumed = Arc::new(AtomicUsize::new(0));
        let asked = Arc::new(AtomicUsize::new(0));
        let waiters = system.counter();
        let mut gate = Gate::default();
        let g = gate.clone();
        system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
        let mut lost = Vec::new();
        for round in 0..2_000 {
            struct W {
                on: Counter,
                resumed: Arc<AtomicUsize>,
                asked: Arc<AtomicUsize>,
            }
            for _ in 0..8 {
                system.submit_counted(
                    &waiters,
                    Job::new(
                        W {
                            on: counter.clone(),
                            resumed: resumed.clone(),
                            asked: asked.clone(),
                        },
                        |w, _| {
                            w.asked.fetch_add(1, Ordering::SeqCst);
                            Action::wait(&w.on, |w, _| {
                                w.resumed.fetch_add(1, Ordering::SeqCst);
                                Action::Done
                            })
                        },
                    ),
                );
            }
            assert!(poll_until(10, || asked.load(Ordering::SeqCst) == 8 * (round + 1)));
            thread::sleep(Duration::from_millis(2));
            gate.open();
            let next = Gate::default();
            let n = next.clone();
            while !counter.is_zero() {
                std::hint::spin_loop();
            }
            system.submit_counted(&counter, Job::from_fn(move |_| n.wait()));
            gate = next;
            match system.wait_timeout(&waiters, Duration::from_secs(5)) {
                Ok(true) => {}
                Ok(false) => {
                    lost.push((round, waiters.value()));
                    gate.open();
                    assert!(
                        system
                            .wait_timeout(&waiters, Duration::from_secs(10))
                            .unwrap(),
                        "round {round}: waiting jobs never resumed"
                    );
                    system.wait(&counter).unwrap();
                    gate = Gate::default();
                    let g = gate.clone();
                    system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
                }
                Err(e) => panic!("round {round}: {}", e.message()),
            }
            assert_eq!(resumed.load(Ordering::SeqCst), 8 * (round + 1));
        }
        gate.open();
        system.wait(&counter).unwrap();
        assert!(
            lost.is_empty(),
            "(round, jobs) resumed only at the next round's end: {lost:?}"
        );
    });
}

/// Two threads wait on one round: one with a short timeout that gives up (and leaves), the
/// other without. The round then ends: the second must wake (a leaving waiter must not take the
/// look away from one still registered). 2,000 rounds, and the thread that timed out can wait
/// again and see the end.
#[test]
fn a_waiter_timing_out_does_not_strand_another_waiter() {
    watchdog(240, || {
        let system = Arc::new(quiet_system(1));
        let counter = system.counter();
        for round in 0..2_000 {
            let gate = Gate::default();
            let g = gate.clone();
            system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
            let (tx, rx) = mpsc::channel();
            let (s, c) = (system.clone(), counter.clone());
            let patient = thread::spawn(move || {
                let _ = tx.send(s.wait(&c).map_err(|e| e.message().to_owned()));
            });
            let timeout = Duration::from_micros((round % 7) as u64 * 50);
            let gave_up = system.wait_with(&counter, WaitOptions::new().timeout(timeout));
            assert_eq!(
                gave_up.map_err(|e| e.message().to_owned()),
                Ok(false),
                "round {round}"
            );
            gate.open();
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(r) => assert_eq!(r, Ok(()), "round {round}"),
                Err(_) => panic!("round {round}: the patient waiter never woke"),
            }
            patient.join().unwrap();
            assert_eq!(
                system
                    .wait_with(
                        &counter,
                        WaitOptions::new().timeout(Duration::from_secs(10))
                    )
                    .map_err(|e| e.message().to_owned()),
                Ok(true)
            );
        }
    });
}

/// Deadlines racing the decrement to zero: a thread calls `wait_with` with deadlines around the
/// moment the round ends. A wait returns `Ok(false)` only while the counter had not reached
/// zero, never hangs past its deadline by seconds, and `Ok(true)` is final; a final wait
/// without deadline always returns. 20,000 rounds.
#[test]
fn deadlines_racing_the_end_of_a_round() {
    watchdog(240, || {
        let system = quiet_system(1);
        let counter = system.counter();
        let mut timed_out = 0;
        for round in 0..20_000u64 {
            let spins = (round * 7919) % 3000;
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| {
                    for _ in 0..spins {
                        std::hint::spin_loop();
                    }
                }),
            );
            let deadline = Instant::now() + Duration::from_nanos((round * 104_729) % 20_000);
            let start = Instant::now();
            match system.wait_with(&counter, WaitOptions::new().until(deadline)) {
                Ok(true) => assert!(counter.is_zero(), "round {round}: Ok(true) before zero"),
                Ok(false) => timed_out += 1,
                Err(e) => panic!("round {round}: {}", e.message()),
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "round {round}: a deadline overrun by seconds"
            );
            system.wait(&counter).unwrap();
            assert!(counter.is_zero());
        }
        eprintln!("timed out in {timed_out} of 20000 rounds");
    });
}

/// A hundred thousand rounds of "submit one job, wait" with nobody else waiting (the path that
/// skips the lock) alternating with rounds where a second thread waits too: every wait ends.
#[test]
fn many_rounds_with_and_without_other_waiters() {
    watchdog(240, || {
        let system = Arc::new(quiet_system(1));
        let counter = system.counter();
        let stop = Arc::new(AtomicBool::new(false));
        let rounds_seen = Arc::new(AtomicU64::new(0));
        // A second thread that keeps waiting on the counter, on and off.
        let (s, c, st, seen) = (
            system.clone(),
            counter.clone(),
            stop.clone(),
            rounds_seen.clone(),
        );
        let other = thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                s.wait(&c).unwrap();
                seen.fetch_add(1, Ordering::SeqCst);
                if seen.load(Ordering::SeqCst) % 3 == 0 {
                    thread::sleep(Duration::from_micros(200));
                }
            }
        });
        for round in 0..100_000u32 {
            system.submit_counted(&counter, Job::from_fn(|_| {}));
            assert_eq!(
                system
                    .wait_with(
                        &counter,
                        WaitOptions::new().timeout(Duration::from_secs(10))
                    )
                    .map_err(|e| e.message().to_owned()),
                Ok(true),
                "round {round}"
            );
        }
        stop.store(true, Ordering::SeqCst);
        // Wake the other thread if it waits on a round in progress.
        system.submit_counted(&counter, Job::from_fn(|_| {}));
        system.wait(&counter).unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(other.join().is_ok());
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Ok(true),
            "the other waiter hung"
        );
        assert!(rounds_seen.load(Ordering::SeqCst) > 0);
    });
}

/// Every waiter of a round with a panic reports it: four threads and eight suspended jobs
/// (`Action::Wait`) wait on the same round, one of whose jobs panics with the round's number;
/// every thread's wait returns that message, every suspended job is cancelled with it. The
/// next round is clean for all. 300 rounds.
#[test]
fn every_waiter_of_a_round_reports_its_panic_and_only_its_panic() {
    watchdog(240, || {
        let system = Arc::new(quiet_system(2));
        let counter = system.counter();
        for round in 0..300u32 {
            let gate = Gate::default();
            let g = gate.clone();
            let panics = round % 2 == 0;
            system.submit_counted(
                &counter,
                Job::from_fn(move |_| {
                    g.wait();
                    if panics {
                        panic!("round-{round}");
                    }
                }),
            );
            let resumed = Arc::new(AtomicUsize::new(0));
            let jobs_done = system.counter();
            struct W {
                on: Counter,
                resumed: Arc<AtomicUsize>,
            }
            for _ in 0..8 {
                system.submit_counted(
                    &jobs_done,
                    Job::new(
                        W {
                            on: counter.clone(),
                            resumed: resumed.clone(),
                        },
                        |w, _| {
                            Action::wait(&w.on, |w, _| {
                                w.resumed.fetch_add(1, Ordering::SeqCst);
                                Action::Done
                            })
                        },
                    ),
                );
            }
            let barrier = Arc::new(Barrier::new(5));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (s, c, b) = (system.clone(), counter.clone(), barrier.clone());
                    thread::spawn(move || {
                        b.wait();
                        s.wait_with(&c, WaitOptions::new().timeout(Duration::from_secs(20)))
                            .map_err(|e| e.message().to_owned())
                    })
                })
                .collect();
            barrier.wait();
            thread::sleep(Duration::from_micros(100));
            gate.open();
            let expected = if panics {
                Err(format!("round-{round}"))
            } else {
                Ok(true)
            };
            for t in threads {
                assert_eq!(t.join().unwrap(), expected, "round {round}");
            }
            let jobs_outcome = system
                .wait_with(
                    &jobs_done,
                    WaitOptions::new().timeout(Duration::from_secs(20)),
                )
                .map_err(|e| e.message().to_owned());
            if panics {
                assert_eq!(jobs_outcome, Err(format!("round-{round}")), "round {round}");
                assert_eq!(
                    resumed.load(Ordering::SeqCst),
                    0,
                    "round {round}: a waiter ran"
                );
            } else {
                assert_eq!(jobs_outcome, Ok(true), "round {round}");
                assert_eq!(resumed.load(Ordering::SeqCst), 8, "round {round}");
            }
        }
    });
}

/// A panic of a round nobody waited for is reported by the next wait, whatever round it waits
/// for, then no more: rounds 1 (panics, not waited), 2 (clean): the wait of round 2 reports
/// round 1's panic; round 3's wait is clean. 1,000 times on one counter, with and without a
/// thread waiting meanwhile.
#[test]
fn an_unwaited_panic_is_reported_by_the_next_round_once() {
    watchdog(240, || {
        let system = quiet_system(2);
        let counter = system.counter();
        for i in 0..1_000u32 {
            system.submit_counted(&counter, Job::from_fn(move |_| panic!("unwaited-{i}")));
            poll_zero(&counter, 10);
            let gate = Gate::default();
            let g = gate.clone();
            system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
            if i % 2 == 0 {
                gate.open();
            } else {
                let g = gate.clone();
                thread::spawn(move || {
                    thread::sleep(Duration::from_micros(300));
                    g.open();
                });
            }
            assert_eq!(
                message(system.wait(&counter)),
                format!("unwaited-{i}"),
                "{i}"
            );
            system.submit_counted(&counter, Job::from_fn(|_| {}));
            assert_eq!(
                message(system.wait(&counter)),
                "<no panic>",
                "{i}: reported twice"
            );
        }
    });
}

/// A counter dropped by every user handle while its jobs run, with a job suspended on it and a
/// thread waiting on a clone: the round ends, the job resumes, the thread wakes; 2,000 times.
#[test]
fn a_counter_dropped_while_busy_still_wakes_its_waiters() {
    watchdog(240, || {
        let system = Arc::new(quiet_system(2));
        let done = system.counter();
        for round in 0..2_000 {
            let gate = Gate::default();
            let g = gate.clone();
            let counter = if round % 2 == 0 {
                Counter::new()
            } else {
                system.counter()
            };
            system.submit_counted(&counter, Job::from_fn(move |_| g.wait()));
            let resumed = Arc::new(AtomicBool::new(false));
            struct W {
                on: Option<Counter>,
                resumed: Arc<AtomicBool>,
            }
            system.submit_counted(
                &done,
                Job::new(
                    W {
                        on: Some(counter.clone()),
                        resumed: resumed.clone(),
                    },
                    |w, _| {
                        let on = w.on.take().expect("first step");
                        Action::Wait(on, |w, _| {
                            w.resumed.store(true, Ordering::SeqCst);
                            Action::Done
                        })
                    },
                ),
            );
            let (tx, rx) = mpsc::channel();
            let (s, c) = (system.clone(), counter.clone());
            thread::spawn(move || {
                let _ = tx.send(s.wait(&c).is_ok());
            });
            drop(counter);
            gate.open();
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(10)),
                Ok(true),
                "round {round}"
            );
            assert_eq!(
                system
                    .wait_with(&done, WaitOptions::new().timeout(Duration::from_secs(10)))
                    .map_err(|e| e.message().to_owned()),
                Ok(true),
                "round {round}"
            );
            assert!(resumed.load(Ordering::SeqCst));
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 1d. Memory requests the heap refuses; many Blocking steps at once
// ---------------------------------------------------------------------------------------------

/// `Action::Memory` with requests the heap refuses (an alignment that is not a power of two,
/// one above 4096, a size past any chunk and past the address space): the continuation gets
/// the `MemoryError`, the worker survives, the counter is clean.
#[test]
fn refused_memory_requests_reach_the_continuation_as_errors() {
    watchdog(60, || {
        let system = system(2);
        let done = system.counter();
        let got: Arc<Mutex<Vec<String>>> = Arc::default();
        struct M {
            request: jobs::MemoryRequest,
            got: Arc<Mutex<Vec<String>>>,
        }
        let requests = [
            (3usize, 16usize),
            (8192, 16),
            (0, 16),
            (16, usize::MAX),
            (16, usize::MAX - 4096),
        ];
        for (align, size) in requests {
            system.submit_counted(
                &done,
                Job::new(
                    M {
                        request: jobs::MemoryRequest {
                            tag: Tag(9),
                            size,
                            align,
                        },
                        got: got.clone(),
                    },
                    |m, _| {
                        Action::Memory(m.request, |m, _, memory| {
                            m.got.lock().unwrap().push(match memory {
                                Ok(_) => "ok".to_owned(),
                                Err(MemoryError::BadAlignment(a)) => format!("align {a}"),
                                Err(MemoryError::OutOfMemory { size }) => format!("oom {size}"),
                                Err(other) => format!("{other}"),
                            });
                            Action::Done
                        })
                    },
                ),
            );
        }
        system.wait(&done).unwrap();
        let mut got = got.lock().unwrap().clone();
        got.sort();
        let mut expected = vec![
            "align 3".to_owned(),
            "align 8192".to_owned(),
            "align 0".to_owned(),
            format!("oom {}", usize::MAX),
            format!("oom {}", usize::MAX - 4096),
        ];
        expected.sort();
        assert_eq!(got, expected);
        system
            .parallel_for(0..100, jobs::Grain::Auto, |_| {})
            .unwrap();
        system.heap().release(Tag(9));
    });
}

/// 2,000 jobs each blocking on the single I/O thread, half of them panicking there: every job
/// finishes (the counter reaches zero), the ones that did not panic continue on a worker, one
/// panic is reported and the other 999 counted as unobserved.
#[test]
fn many_blocking_steps_at_once_with_panics() {
    watchdog(120, || {
        let system = system(2);
        let done = system.counter();
        let continued = Arc::new(AtomicUsize::new(0));
        struct B {
            panics: bool,
            continued: Arc<AtomicUsize>,
        }
        let before = system.stats().unobserved_panics;
        for i in 0..2_000 {
            system.submit_counted(
                &done,
                Job::new(
                    B {
                        panics: i % 2 == 1,
                        continued: continued.clone(),
                    },
                    |_, _| {
                        Action::Blocking(
                            |b| {
                                if b.panics {
                                    panic!("io-panic");
                                }
                            },
                            |b, cx| {
                                assert!(cx.worker_index().is_some() || cx.on_main_thread());
                                b.continued.fetch_add(1, Ordering::SeqCst);
                                Action::Done
                            },
                        )
                    },
                ),
            );
        }
        assert_eq!(message(system.wait(&done)), "io-panic");
        assert_eq!(continued.load(Ordering::SeqCst), 1_000);
        assert!(
            poll_until(10, || system.stats().unobserved_panics - before == 999),
            "unobserved {}",
            system.stats().unobserved_panics - before
        );
    });
}

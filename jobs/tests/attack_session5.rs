//! Session 5 of an outside tester's attack, through the public API only, on:
//!
//! - `Spawner::spawn_job` (now inlined): children carrying every builder option
//!   (`with_priority`, `with_label`, `in_frame`, `pinned_to_main`, `pinned_to` a registered
//!   thread) mixed with closure children and a batch in one spawn step;
//! - closure children that run at once inside `Spawner::spawn` past a queue of 64 jobs, or 32
//!   per other thread running jobs on systems of more than three (224 for eight threads, 480
//!   for sixteen, at most 512): spawns at and around every such boundary, on 1 worker without
//!   help, 2 workers with help, 3, 7 and 15 workers, with panics (and panicking drops) at the
//!   boundaries, children that wait on other counters or join, deep nesting with mixed
//!   priorities, and systems of 1 to 256 workers spawning 100 000 children.
//!
//! Promised (docs of `Spawner`, `Job`, `Action::Spawn`, `JobSystem::wait`): every child runs
//! exactly once and its capture is dropped exactly once; a child takes the parent's priority,
//! label and frame unless it sets its own; a pinned child runs on its thread; the parent
//! continues exactly once, after every child, and sees their writes; a panic in a child (or
//! in the drop of its capture) cancels the parent and reaches `JobSystem::wait`.
//!
//! Every test runs under `common::watchdog`; no timing is asserted.
//!
//! `CARGO_TARGET_DIR=/work/target-attack5 cargo test -p jobs --test attack_session5`

mod common;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use common::{poll_until, system_helping as sys, watchdog, DropCount, DropToken};
use jobs::{
    Action, Batch, Config, Context, Grain, Job, JobSystem, Label, PinnedThread, Priority, Spawner,
};

const WATCH: u64 = 240;

/// (workers, main thread helps while it waits).
const CONFIGS: [(usize, bool); 5] = [(1, false), (2, true), (3, false), (7, false), (15, false)];

const SIZES: [usize; 17] = [
    0, 1, 63, 64, 65, 223, 224, 225, 479, 480, 481, 511, 512, 513, 1023, 1024, 1025,
];

const PRIORITIES: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

/// Sets its flag when dropped (also while a failed assertion unwinds, so that the registered
/// thread ends and the failure is reported instead of hanging the scope).
struct StopOnDrop<'a>(&'a AtomicBool);
impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// A thread registered with `system` that runs the jobs pinned to it until `stop` is set.
fn pinned_thread<'s, 'e>(
    scope: &'s std::thread::Scope<'s, 'e>,
    system: &'e JobSystem,
    stop: &'e AtomicBool,
) -> (PinnedThread, ThreadId) {
    let (tx, rx) = mpsc::channel();
    scope.spawn(move || {
        let registration = system.register_thread().expect("a slot is free");
        tx.send((registration.thread(), std::thread::current().id()))
            .unwrap();
        while !stop.load(SeqCst) {
            system
                .run_pinned_until(Instant::now() + Duration::from_millis(2))
                .expect("registered");
        }
        // Whatever was pinned here until now has run.
        system.run_pinned().expect("registered");
    });
    rx.recv().expect("the registered thread started")
}

/// Runs `body` on a system of each of [`CONFIGS`], with a thread registered with it that runs
/// the jobs pinned to it meanwhile.
fn on_every_config(mut body: impl FnMut(&JobSystem, (PinnedThread, ThreadId))) {
    for (workers, help) in CONFIGS {
        let system = sys(workers, help);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let _stop = StopOnDrop(&stop);
            let registered = pinned_thread(scope, &system, &stop);
            body(&system, registered);
        });
    }
}

// ------------------------------------------------------------------------------------------
// One spawn step mixing every kind of child.
// ------------------------------------------------------------------------------------------

/// Where a child must run.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Place {
    Any,
    Main(ThreadId),
    Registered(ThreadId),
}

#[derive(Clone, Copy, PartialEq, Debug)]
struct Expect {
    priority: Priority,
    label: Label,
    frame: Option<u32>,
    place: Place,
}

/// What goes wrong in one run.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Fault {
    None,
    /// The child at this position panics.
    Panic(usize),
    /// The capture of the child at this position panics when dropped.
    DropPanic(usize),
    /// The batch body panics at this item.
    BatchPanic(usize),
}

/// Which children are jobs with options.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mix {
    /// Only closure children (and the batch).
    Closures,
    /// Every kind: closures, plain jobs, jobs with each option, pinned jobs.
    All,
}

struct PanicsOnDrop(usize);
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop boom {}", self.0);
        }
    }
}

#[derive(Clone, Default)]
struct Tally {
    hits: Arc<Vec<AtomicU8>>,
    items: Arc<Vec<AtomicU8>>,
    resumed: Arc<AtomicUsize>,
    child_drops: DropCount,
    parent_drops: DropCount,
    wrong: Arc<Mutex<Vec<String>>>,
}

impl Tally {
    fn new(children: usize, items: usize) -> Tally {
        Tally {
            hits: Arc::new((0..children).map(|_| AtomicU8::new(0)).collect()),
            items: Arc::new((0..items).map(|_| AtomicU8::new(0)).collect()),
            ..Tally::default()
        }
    }
}

fn check(cx: &Context<'_>, e: Expect, wrong: &Mutex<Vec<String>>, what: &str) {
    let here = std::thread::current().id();
    let placed = match e.place {
        Place::Any => true,
        Place::Main(t) => cx.on_main_thread() && here == t && cx.worker_index().is_none(),
        Place::Registered(t) => here == t && cx.worker_index().is_none(),
    };
    if cx.priority() != e.priority || cx.label() != e.label || cx.frame() != e.frame || !placed {
        let mut wrong = wrong.lock().unwrap();
        if wrong.len() < 6 {
            wrong.push(format!(
                "{what}: saw priority {:?} label {:?} frame {:?} thread {:?} main {}; expected {e:?}",
                cx.priority(),
                cx.label().name(),
                cx.frame(),
                here,
                cx.on_main_thread(),
            ));
        }
    }
}

struct Mixed {
    n: usize,
    mix: Mix,
    fault: Fault,
    /// The parent's own priority, label and frame (what children inherit).
    inherit: Expect,
    /// The options children set for themselves.
    other: Expect,
    batch_priority: Priority,
    main: ThreadId,
    registered: Option<(PinnedThread, ThreadId)>,
    tally: Tally,
    batch_items: Vec<u8>,
    _token: DropToken,
}

struct Kid<'c> {
    i: usize,
    expect: Expect,
    hits: &'c [AtomicU8],
    wrong: &'c Mutex<Vec<String>>,
    panic: bool,
    _bomb: Option<PanicsOnDrop>,
    _token: DropToken,
}

fn kid_step<'c>(k: &mut Kid<'c>, cx: &mut Context<'_>) -> Action<Kid<'c>> {
    check(cx, k.expect, k.wrong, &format!("job child {}", k.i));
    k.hits[k.i].fetch_add(1, SeqCst);
    if k.panic {
        panic!("boom {}", k.i);
    }
    Action::Done
}

fn mixed_start(_: &mut Mixed, _: &mut Context<'_>) -> Action<Mixed> {
    Action::Spawn(mixed_spawn, mixed_end)
}

fn mixed_spawn<'c>(f: &'c mut Mixed, s: &mut Spawner<'c, '_>) {
    let Mixed {
        n,
        mix,
        fault,
        inherit,
        other,
        batch_priority,
        main,
        registered,
        tally,
        batch_items,
        ..
    } = f;
    let (n, mix, fault, inherit, other, main) = (*n, *mix, *fault, *inherit, *other, *main);
    let hits: &'c [AtomicU8] = &tally.hits;
    let items: &'c [AtomicU8] = &tally.items;
    let wrong: &'c Mutex<Vec<String>> = &tally.wrong;
    let drops = &tally.child_drops;
    let mut batch_items = Some(batch_items);
    for i in 0..n {
        if i == n / 2 {
            // A batch of children in the middle of the spawn step.
            let slice = batch_items.take().expect("once");
            s.for_each_mut(
                slice,
                Batch::new()
                    .grain(Grain::fixed(7).unwrap())
                    .priority(*batch_priority),
                move |j, x| {
                    *x += 1;
                    items[j].fetch_add(1, SeqCst);
                    if fault == Fault::BatchPanic(j) {
                        panic!("batch boom {j}");
                    }
                },
            );
        }
        let panic = fault == Fault::Panic(i);
        let bomb = (fault == Fault::DropPanic(i)).then(|| PanicsOnDrop(i));
        let token = drops.token();
        let kind = if mix == Mix::Closures {
            0
        } else if i % 97 == 13 {
            10
        } else if i % 101 == 50 && registered.is_some() {
            11
        } else {
            i % 10
        };
        if !matches!(kind, 4..=8 | 10 | 11) {
            s.spawn(move |cx| {
                let _token = token;
                let _bomb = bomb;
                check(cx, inherit, wrong, &format!("closure child {i}"));
                hits[i].fetch_add(1, SeqCst);
                if panic {
                    panic!("boom {i}");
                }
            });
            continue;
        }
        // What the child sets itself, and so what it should see instead of the parent's.
        let mut expect = inherit;
        match kind {
            5 => expect.priority = other.priority,
            6 => expect.label = other.label,
            7 => expect.frame = other.frame,
            8 => {
                expect = Expect {
                    place: Place::Any,
                    ..other
                }
            }
            10 => {
                expect.priority = other.priority;
                expect.place = Place::Main(main);
            }
            11 => {
                expect.label = other.label;
                expect.place = Place::Registered(registered.expect("registered").1);
            }
            _ => {}
        }
        let job = Job::new(
            Kid {
                i,
                expect,
                hits,
                wrong,
                panic,
                _bomb: bomb,
                _token: token,
            },
            kid_step,
        );
        let job = match kind {
            5 => job.with_priority(other.priority),
            6 => job.with_label(other.label),
            7 => job.in_frame(other.frame.unwrap()),
            8 => job
                .with_priority(other.priority)
                .with_label(other.label)
                .in_frame(other.frame.unwrap()),
            10 => job.with_priority(other.priority).pinned_to_main(),
            11 => job
                .with_label(other.label)
                .pinned_to(registered.expect("registered").0),
            _ => job,
        };
        s.spawn_job(job);
    }
    if let Some(slice) = batch_items {
        // n == 0: the batch alone.
        s.for_each_mut(
            slice,
            Batch::new().priority(*batch_priority),
            move |j, x| {
                *x += 1;
                items[j].fetch_add(1, SeqCst);
            },
        );
    }
}

fn mixed_end(f: &mut Mixed, cx: &mut Context<'_>) -> Action<Mixed> {
    check(cx, f.inherit, &f.tally.wrong, "the continuation");
    let missing = f.tally.hits.iter().filter(|h| h.load(SeqCst) != 1).count();
    assert_eq!(
        missing, 0,
        "the parent resumed with {missing} children not run once"
    );
    assert!(
        f.batch_items.iter().all(|&x| x == 1),
        "the parent resumed before the batch's writes"
    );
    f.tally.resumed.fetch_add(1, SeqCst);
    Action::Done
}

struct Run<'a> {
    system: &'a JobSystem,
    registered: Option<(PinnedThread, ThreadId)>,
    n: usize,
    mix: Mix,
    fault: Fault,
    turn: usize,
}

/// Runs one mixed spawn step and checks every promise; `what` names it in failures.
fn run_mixed(r: Run<'_>) {
    let what = format!(
        "{} workers, n {}, {:?}, {:?}",
        r.system.worker_count(),
        r.n,
        r.mix,
        r.fault
    );
    let batch_len = r.n.min(300) + 3;
    let tally = Tally::new(r.n, batch_len);
    let p = PRIORITIES[r.turn % 3];
    let inherit = Expect {
        priority: p,
        label: Label::new("s5-parent"),
        frame: (r.turn % 2 == 0).then_some(r.turn as u32 * 7 + 1),
        place: Place::Any,
    };
    let other = Expect {
        priority: PRIORITIES[(r.turn + 1) % 3],
        label: Label::new("s5-child"),
        frame: Some(u32::MAX - r.turn as u32),
        place: Place::Any,
    };
    let mut job = Job::new(
        Mixed {
            n: r.n,
            mix: r.mix,
            fault: r.fault,
            inherit,
            other,
            batch_priority: PRIORITIES[(r.turn + 2) % 3],
            main: std::thread::current().id(),
            registered: r.registered,
            tally: tally.clone(),
            batch_items: vec![0; batch_len],
            _token: tally.parent_drops.token(),
        },
        mixed_start,
    )
    .with_priority(p)
    .with_label(inherit.label);
    if let Some(frame) = inherit.frame {
        job = job.in_frame(frame);
    }
    let done = r.system.counter();
    r.system.submit_counted(&done, job);
    let result = r.system.wait(&done);
    match r.fault {
        Fault::None => {
            result.unwrap_or_else(|e| panic!("{what}: unexpected panic {}", e.message()));
            assert_eq!(tally.resumed.load(SeqCst), 1, "{what}: resumed");
        }
        Fault::Panic(i) | Fault::DropPanic(i) | Fault::BatchPanic(i) => {
            let err = result.expect_err(&format!("{what}: the panic did not reach wait"));
            let expected = match r.fault {
                Fault::Panic(_) => format!("boom {i}"),
                Fault::DropPanic(_) => format!("drop boom {i}"),
                _ => format!("batch boom {i}"),
            };
            assert_eq!(err.message(), expected, "{what}");
            assert_eq!(
                tally.resumed.load(SeqCst),
                0,
                "{what}: the parent continued after a panic"
            );
        }
    }
    let not_once: Vec<usize> = (0..r.n)
        .filter(|&i| tally.hits[i].load(SeqCst) != 1)
        .take(5)
        .collect();
    assert!(
        not_once.is_empty(),
        "{what}: children not run once: {not_once:?}"
    );
    let items_not_once = tally.items.iter().filter(|x| x.load(SeqCst) != 1).count();
    match r.fault {
        // A panic ends its chunk: the rest of that chunk is not visited.
        Fault::BatchPanic(_) => assert!(items_not_once < 7, "{what}: batch items"),
        _ => assert_eq!(items_not_once, 0, "{what}: batch items not visited once"),
    }
    // The captures are dropped exactly once (the parent's last, perhaps just after `wait`).
    assert!(
        poll_until(20, || tally.child_drops.get() >= r.n
            && tally.parent_drops.get() >= 1),
        "{what}: captures not dropped: {} of {} children, parent {}",
        tally.child_drops.get(),
        r.n,
        tally.parent_drops.get()
    );
    assert_eq!(tally.child_drops.get(), r.n, "{what}: child drops");
    assert_eq!(tally.parent_drops.get(), 1, "{what}: parent drops");
    let wrong = tally.wrong.lock().unwrap();
    assert!(wrong.is_empty(), "{what}: {wrong:#?}");
}

#[test]
fn every_option_mixed_with_closures_and_a_batch_at_every_boundary() {
    watchdog(WATCH, || {
        let mut turn = 0;
        on_every_config(|system, registered| {
            // Three rounds: the at-once runs race with the thieves differently each time.
            let sizes = SIZES.into_iter().chain(SIZES).chain(SIZES).chain([100_000]);
            for n in sizes {
                for mix in [Mix::All, Mix::Closures] {
                    if mix == Mix::Closures && n == 100_000 && system.worker_count() > 3 {
                        continue; // covered by the bigger systems' test
                    }
                    turn += 1;
                    run_mixed(Run {
                        system,
                        registered: Some(registered),
                        n,
                        mix,
                        fault: Fault::None,
                        turn,
                    });
                }
            }
        });
    });
}

/// Positions just around the boundaries of `n` children.
fn fault_positions(n: usize) -> Vec<usize> {
    let mut at = vec![0, n.saturating_sub(1), n / 2];
    for b in [64, 224, 480, 512, 1024] {
        at.extend([b - 2, b - 1, b, b + 1]);
    }
    at.retain(|&i| i < n);
    at.sort_unstable();
    at.dedup();
    at
}

#[test]
fn panics_and_panicking_drops_at_the_boundaries_cancel_the_parent_and_reach_wait() {
    watchdog(WATCH, || {
        let mut turn = 0;
        on_every_config(|system, registered| {
            for n in [65, 225, 481, 513, 1025] {
                for (k, i) in fault_positions(n).into_iter().enumerate() {
                    turn += 1;
                    let mix = if k % 2 == 0 { Mix::Closures } else { Mix::All };
                    let fault = if k % 3 == 2 {
                        Fault::DropPanic(i)
                    } else {
                        Fault::Panic(i)
                    };
                    run_mixed(Run {
                        system,
                        registered: Some(registered),
                        n,
                        mix,
                        fault,
                        turn,
                    });
                }
                turn += 1;
                run_mixed(Run {
                    system,
                    registered: Some(registered),
                    n,
                    mix: Mix::All,
                    fault: Fault::BatchPanic(n.min(300) / 2),
                    turn,
                });
            }
            // The system is still whole after the panics.
            turn += 1;
            run_mixed(Run {
                system,
                registered: Some(registered),
                n: 1025,
                mix: Mix::All,
                fault: Fault::None,
                turn,
            });
        });
    });
}

// ------------------------------------------------------------------------------------------
// Deep nesting, mixed priorities, children that wait on other counters and join.
// ------------------------------------------------------------------------------------------

struct Node<'a> {
    system: &'a JobSystem,
    level: usize,
    fans: &'static [usize],
    expect: Expect,
    sums: Vec<u64>,
    out: &'a mut u64,
    wrong: &'a Mutex<Vec<String>>,
    waits: &'a AtomicUsize,
}

/// What a tree of `fans` sums to: every node's children 0 mod 4 recurse (if a level is left),
/// the others are closure leaves worth 1.
fn expected_sum(fans: &[usize]) -> u64 {
    let Some((&fan, rest)) = fans.split_first() else {
        return 1;
    };
    if rest.is_empty() {
        return fan as u64;
    }
    let inner = fan.div_ceil(4) as u64;
    inner * expected_sum(rest) + (fan as u64 - inner)
}

fn node_step<'a>(n: &mut Node<'a>, cx: &mut Context<'_>) -> Action<Node<'a>> {
    check(cx, n.expect, n.wrong, &format!("node at level {}", n.level));
    if n.level == n.fans.len() {
        *n.out = 1;
        return Action::Done;
    }
    Action::Spawn(node_spawn, node_end)
}

fn node_spawn<'c>(n: &'c mut Node<'_>, s: &mut Spawner<'c, '_>) {
    let (system, level, fans, expect, wrong, waits) =
        (n.system, n.level, n.fans, n.expect, n.wrong, n.waits);
    let last = level + 1 == fans.len();
    for (i, slot) in n.sums.iter_mut().enumerate() {
        if i % 4 == 0 && !last {
            let child_expect = Expect {
                priority: PRIORITIES[(i / 4) % 3],
                label: if i % 8 == 0 {
                    Label::new("s5-node")
                } else {
                    expect.label
                },
                frame: if i % 12 == 0 {
                    Some(i as u32)
                } else {
                    expect.frame
                },
                place: Place::Any,
            };
            let mut job = Job::new(
                Node {
                    system,
                    level: level + 1,
                    fans,
                    expect: child_expect,
                    sums: vec![0; fans[level + 1]],
                    out: slot,
                    wrong,
                    waits,
                },
                node_step,
            )
            .with_priority(child_expect.priority);
            if i % 8 == 0 {
                job = job.with_label(child_expect.label);
            }
            if let Some(f) = child_expect.frame.filter(|_| i % 12 == 0) {
                job = job.in_frame(f);
            }
            s.spawn_job(job);
            continue;
        }
        s.spawn(move |cx| {
            check(cx, expect, wrong, &format!("leaf {i} at level {level}"));
            match i % 61 {
                // Waits on a counter of its own detached job.
                7 if waits.fetch_add(1, SeqCst) < 40 => {
                    let other = system.counter();
                    let ran = Arc::new(AtomicBool::new(false));
                    let r = ran.clone();
                    cx.spawn_job_counted(&other, Job::from_fn(move |_| r.store(true, SeqCst)));
                    system
                        .wait(&other)
                        .expect("the detached job does not panic");
                    assert!(ran.load(SeqCst), "wait returned before the job ran");
                    *slot = 1;
                }
                // Joins, recursively.
                3 | 5 | 11 => {
                    let (a, b) = cx.join(
                        |cx| {
                            let (x, y) = cx.join(|_| 1u64, |_| 2u64);
                            x + y
                        },
                        |cx| cx.priority(),
                    );
                    assert_eq!(a, 3);
                    assert_eq!(b, expect.priority, "join's half has the job's priority");
                    *slot = a - 2;
                }
                _ => *slot = 1,
            }
        });
    }
}

fn node_end<'a>(n: &mut Node<'a>, cx: &mut Context<'_>) -> Action<Node<'a>> {
    check(
        cx,
        n.expect,
        n.wrong,
        &format!("continuation at level {}", n.level),
    );
    *n.out = n.sums.iter().sum();
    Action::Done
}

#[test]
fn deep_trees_at_the_boundaries_with_mixed_priorities_waits_and_joins() {
    const TREES: [&[usize]; 4] = [&[225, 65, 3], &[481, 63], &[65, 64, 2, 2], &[513, 9]];
    watchdog(WATCH, || {
        for (workers, help) in CONFIGS {
            let system = sys(workers, help);
            for (t, fans) in TREES.into_iter().enumerate() {
                let wrong = Mutex::new(Vec::new());
                let waits = AtomicUsize::new(0);
                let mut total = 0;
                let expect = Expect {
                    priority: PRIORITIES[t % 3],
                    label: Label::new("s5-root"),
                    frame: Some(t as u32),
                    place: Place::Any,
                };
                system.scope(|s| {
                    s.spawn_job(
                        Job::new(
                            Node {
                                system: &system,
                                level: 0,
                                fans,
                                expect,
                                sums: vec![0; fans[0]],
                                out: &mut total,
                                wrong: &wrong,
                                waits: &waits,
                            },
                            node_step,
                        )
                        .with_priority(expect.priority)
                        .with_label(expect.label)
                        .in_frame(t as u32),
                    )
                });
                assert_eq!(
                    total,
                    expected_sum(fans),
                    "{workers} workers, tree {fans:?}: wrong sum"
                );
                let wrong = wrong.into_inner().unwrap();
                assert!(wrong.is_empty(), "{workers} workers, {fans:?}: {wrong:#?}");
            }
        }
    });
}

// ------------------------------------------------------------------------------------------
// The worker count at its extremes, spawning 100 000 closure children.
// ------------------------------------------------------------------------------------------

#[test]
fn one_to_256_workers_spawn_100_000_closure_children() {
    watchdog(WATCH, || {
        for (turn, workers) in [1, 64, 256].into_iter().enumerate() {
            let system = JobSystem::new(Config::default().workers(workers).core_affinity(false))
                .expect("valid config");
            assert_eq!(system.worker_count(), workers);
            for (k, mix) in [Mix::Closures, Mix::All].into_iter().enumerate() {
                run_mixed(Run {
                    system: &system,
                    registered: None,
                    n: 100_000,
                    mix,
                    fault: Fault::None,
                    turn: turn * 2 + k,
                });
            }
            // A panic well past the largest threshold, on the big systems too.
            run_mixed(Run {
                system: &system,
                registered: None,
                n: 100_000,
                mix: Mix::Closures,
                fault: Fault::Panic(50_001),
                turn,
            });
        }
    });
}

#[test]
fn max_workers_system_spawns_100_000_closure_children() {
    watchdog(WATCH, || {
        let system = JobSystem::new(
            Config::default()
                .workers(Config::MAX_WORKERS)
                .core_affinity(false)
                .worker_stack_size(Config::MIN_STACK_SIZE * 4),
        )
        .expect("valid config");
        assert_eq!(system.worker_count(), Config::MAX_WORKERS);
        run_mixed(Run {
            system: &system,
            registered: None,
            n: 100_000,
            mix: Mix::Closures,
            fault: Fault::None,
            turn: 1,
        });
    });
}

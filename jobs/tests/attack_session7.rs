//! Session 7 of an outside tester's attack, through the public API only, on batch pacing.
//!
//! Promised (README "Priorities", changelog "Batch pacing, seventh session", `batch` module
//! docs): a runner of a Normal or Low item batch looks for waiting High work between items at a
//! pace: after every item while items take microseconds, at most every few hundred (the module
//! docs: `MAX_STRIDE`, 256) while they are tiny (about every 5 us), so a High job waits for such
//! a runner about 5 us (one item, if items take longer). The exception: a batch whose items were
//! tiny and turn long looks again after up to 256 of the long ones. Every item still runs exactly
//! once, panics are still reported (other items still run), and a High batch never yields.
//!
//! How latency is measured without timing: one worker, a main thread that does not help, a batch
//! of one chunk (so one runner runs the items in order), and the High job submitted *by an item
//! itself* at the end of its body. The High job reads the index of the last item started: the
//! difference is the number of items the runner ran before it looked, exact whatever the machine
//! does to the threads' cores.
//!
//! `cargo test -p jobs --release --test attack_session7`

mod common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use common::{poll_zero, watchdog};
use jobs::{Batch, Config, Counter, Grain, Job, JobPanic, JobSystem, Priority};

const WATCH: u64 = 240;
/// The most items between two looks the docs allow (`MAX_STRIDE`), plus a small margin for an
/// off-by-one in where the count starts.
const STRIDE_BOUND: usize = 256 + 4;
const NOT_YET: usize = usize::MAX;
const MARK: &str = "attack7 item panic";

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Silences the panics these tests throw on purpose (thousands of them), and only those.
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !text.contains(MARK) {
                default(info);
            }
        }));
    });
}

fn sys(workers: usize, help: bool) -> JobSystem {
    JobSystem::new(
        Config::default()
            .workers(workers)
            .core_affinity(false)
            .help_while_waiting(help),
    )
    .expect("a valid config")
}

/// How many times each index of `base..base + n` ran.
struct Tally {
    base: usize,
    hits: Vec<AtomicU8>,
}

impl Tally {
    fn new(base: usize, n: usize) -> Tally {
        Tally {
            base,
            hits: (0..n).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    fn hit(&self, i: usize) {
        let k = i
            .checked_sub(self.base)
            .filter(|k| *k < self.hits.len())
            .unwrap_or_else(|| panic!("index {i} outside the batch's range"));
        self.hits[k].fetch_add(1, SeqCst);
    }

    fn assert_once(&self, what: &str) {
        for (k, h) in self.hits.iter().enumerate() {
            let h = h.load(SeqCst);
            assert_eq!(
                h,
                1,
                "{what}: item {} ran {h} times (expected exactly once)",
                self.base + k
            );
        }
    }

    fn total(&self) -> usize {
        self.hits.iter().map(|h| h.load(SeqCst) as usize).sum()
    }
}

/// One single-chunk batch on one worker (main thread not helping), item `i` taking `len(i)`,
/// items listed in `submit_at` submitting a job of `job_priority` at the end of their body,
/// items for which `panics(i)` then panicking.
struct Probe<'a> {
    items: usize,
    priority: Priority,
    len: &'a (dyn Fn(usize) -> Duration + Sync),
    submit_at: &'a [usize],
    panics: &'a (dyn Fn(usize) -> bool + Sync),
    /// The priority of the jobs items submit (High in most tests).
    job_priority: Priority,
}

struct Probed {
    /// (the item that submitted, the last item started when the High job ran)
    delays: Vec<(usize, usize)>,
    result: Result<(), JobPanic>,
    tally: Tally,
}

impl Probed {
    fn max_delay_where(&self, pred: impl Fn(usize) -> bool) -> usize {
        self.delays
            .iter()
            .filter(|(s, _)| pred(*s))
            .map(|(s, r)| {
                r.checked_sub(*s)
                    .expect("a High job ran before it was submitted")
            })
            .max()
            .unwrap_or(0)
    }
}

fn probe(p: Probe<'_>) -> Probed {
    let system = sys(1, false);
    let tally = Tally::new(0, p.items);
    let cur = Arc::new(AtomicUsize::new(0));
    let started: Arc<Vec<AtomicUsize>> = Arc::new(
        p.submit_at
            .iter()
            .map(|_| AtomicUsize::new(NOT_YET))
            .collect(),
    );
    assert!(p.submit_at.windows(2).all(|w| w[0] < w[1]), "sorted");
    let high = Counter::new();
    let batch = Batch::from(Grain::fixed(p.items.max(1)).unwrap()).priority(p.priority);
    let result = system.parallel_for(0..p.items, batch, |i| {
        tally.hit(i);
        cur.store(i, SeqCst);
        let d = (p.len)(i);
        if !d.is_zero() {
            spin(d);
        }
        if let Ok(k) = p.submit_at.binary_search(&i) {
            let (c, s) = (cur.clone(), started.clone());
            system.submit_counted(
                &high,
                Job::from_fn(move |_| s[k].store(c.load(SeqCst), SeqCst))
                    .with_priority(p.job_priority),
            );
        }
        if (p.panics)(i) {
            panic!("{MARK} {i}");
        }
    });
    poll_zero(&high, 60);
    system.wait(&high).expect("the High jobs do not panic");
    let delays = p
        .submit_at
        .iter()
        .zip(started.iter())
        .map(|(s, r)| {
            let r = r.load(SeqCst);
            assert_ne!(r, NOT_YET, "the High job submitted at item {s} never ran");
            (*s, r)
        })
        .collect();
    Probed {
        delays,
        result,
        tally,
    }
}

/// Which items panic.
type PanicIf = Box<dyn Fn(usize) -> bool + Sync>;

fn never(_: usize) -> bool {
    false
}

fn tiny(_: usize) -> Duration {
    Duration::ZERO
}

// ---------------------------------------------------------------------------------------------
// Latency in items.

#[test]
fn tiny_items_give_way_to_high_jobs_within_the_max_stride() {
    watchdog(WATCH, || {
        for priority in [Priority::Low, Priority::Normal] {
            const N: usize = 2_000_000;
            let submit_at: Vec<usize> = (0..N - 300).step_by(20_011).chain([1, 2, 3]).collect();
            let mut submit_at = submit_at;
            submit_at.sort();
            submit_at.dedup();
            let out = probe(Probe {
                items: N,
                priority,
                len: &tiny,
                submit_at: &submit_at,
                panics: &never,
                job_priority: Priority::High,
            });
            out.result.as_ref().expect("no item panicked");
            out.tally.assert_once(&format!("{priority:?} tiny"));
            let worst = out.max_delay_where(|_| true);
            eprintln!("{priority:?}: tiny items, worst wait {worst} items");
            assert!(
                worst <= STRIDE_BOUND,
                "{priority:?} batch of tiny items: a High job waited {worst} items (docs: at most \
                 every 256 items): {:?}",
                out.delays
                    .iter()
                    .filter(|(s, r)| r - s > STRIDE_BOUND)
                    .take(5)
                    .collect::<Vec<_>>()
            );
        }
    });
}

#[test]
fn microsecond_items_give_way_after_about_one_item() {
    watchdog(WATCH, || {
        for priority in [Priority::Low, Priority::Normal] {
            const N: usize = 3_000;
            let submit_at: Vec<usize> = [0, 1, 2]
                .into_iter()
                .chain((50..N - 10).step_by(97))
                .collect();
            let out = probe(Probe {
                items: N,
                priority,
                len: &|_| Duration::from_micros(20),
                submit_at: &submit_at,
                panics: &never,
                job_priority: Priority::High,
            });
            out.result.as_ref().expect("no item panicked");
            out.tally.assert_once("20 us items");
            let first = out.max_delay_where(|s| s < 3);
            let settled = out.max_delay_where(|s| s >= 50);
            eprintln!(
                "{priority:?}: 20 us items, wait {first} items at the start, {settled} later"
            );
            assert!(
                settled <= 2,
                "{priority:?} batch of 20 us items: a High job waited {settled} items (docs: one \
                 item if items take longer than ~5 us): {:?}",
                out.delays
            );
            assert!(
                first <= STRIDE_BOUND,
                "{priority:?}: the first items of a batch kept a High job waiting {first} items"
            );
        }
    });
}

/// 100,000 tiny items, then 200 us ones.
fn tiny_then_long(i: usize) -> Duration {
    if i < 100_000 {
        Duration::ZERO
    } else {
        Duration::from_micros(200)
    }
}

/// Phases: tiny, long (50 us), tiny, very long (1 ms), tiny.
fn phased(i: usize) -> Duration {
    match i {
        0..200_000 => Duration::ZERO,
        200_000..201_000 => Duration::from_micros(50),
        201_000..400_000 => Duration::ZERO,
        400_000..400_300 => Duration::from_millis(1),
        _ => Duration::ZERO,
    }
}

/// Items that turn long after 100,000 tiny ones, with a High job submitted every 50 long items:
/// the first look in the long phase may come up to 256 long items late (documented), and every
/// look after it within an item or two. Before the fix, the look that found High work yielded
/// before it timed the long items, so the runner came back pacing for tiny ones: a look every
/// 256 long items for as long as High work kept arriving (waits of 61-244 items).
#[test]
fn after_tiny_items_turn_long_the_runner_looks_at_once_more_often() {
    watchdog(WATCH, || {
        let submit_at: Vec<usize> = (1..14).map(|k| 100_000 + 50 * k).collect();
        for priority in [Priority::Low, Priority::Normal] {
            let probed = probe(Probe {
                items: 100_700,
                priority,
                len: &tiny_then_long,
                submit_at: &submit_at,
                panics: &never,
                job_priority: Priority::High,
            });
            assert!(probed.result.is_ok(), "no item panics");
            probed.tally.assert_once(&format!("{priority:?}"));
            let late = probed.max_delay_where(|s| s >= 100_000 + 300);
            assert!(
                late <= 2,
                "{priority:?}: a High job submitted after the first look among the long items \
                 waited {late} items; all waits: {:?}",
                probed.delays
            );
        }
    });
}

/// A run of panicking items is paced like any other: a Low or Normal batch whose every item
/// panics still gives way to a High job within the stride. Before the fix (and before pacing)
/// the look came only after an item that returned: such a batch never looked, and the High job
/// waited for all 20,000 items.
#[test]
fn runners_of_panicking_items_still_give_way_to_high_jobs() {
    watchdog(WATCH, || {
        quiet_panics();
        let every = |_: usize| true;
        for priority in [Priority::Low, Priority::Normal] {
            let probed = probe(Probe {
                items: 20_000,
                priority,
                len: &tiny,
                submit_at: &[100, 5_000],
                panics: &every,
                job_priority: Priority::High,
            });
            assert!(
                probed.result.is_err(),
                "{priority:?}: the items' panic is reported"
            );
            probed.tally.assert_once(&format!("{priority:?}"));
            let worst = probed.max_delay_where(|_| true);
            assert!(
                worst <= STRIDE_BOUND,
                "{priority:?}: a High job waited {worst} panicking items (bound {STRIDE_BOUND}); \
                 waits: {:?}",
                probed.delays
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Appended: pacing across phases, panics, edge ranges, configurations, nesting, spawners.

/// Which item a reported panic came from (the number after [`MARK`]).
fn panicked_item(p: &JobPanic) -> usize {
    let m = p.message();
    assert!(m.contains(MARK), "the reported panic is the item's: {m:?}");
    m.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no item index in {m:?}"))
}

fn grains() -> [Grain; 3] {
    [
        Grain::fixed(1).unwrap(),
        Grain::fixed(64).unwrap(),
        Grain::Auto,
    ]
}

const PRIORITIES: [Priority; 3] = [Priority::Low, Priority::Normal, Priority::High];

/// Higher is more urgent (not relying on `Priority`'s own order).
fn rank(p: Priority) -> u8 {
    match p {
        Priority::Low => 0,
        Priority::Normal => 1,
        Priority::High => 2,
    }
}

/// 100,000 tiny items then 200 us ones, and a single High job submitted at the 600th long item:
/// no High job came before it, so every earlier look among the long items found nothing and
/// yielded nothing. The pace must still have adapted (the look times the items whether or not
/// it yields): the High job waits at most 2 items.
#[test]
fn after_tiny_items_turn_long_a_look_without_a_yield_adapts_the_pace() {
    watchdog(WATCH, || {
        for priority in [Priority::Low, Priority::Normal] {
            let probed = probe(Probe {
                items: 100_700,
                priority,
                len: &tiny_then_long,
                submit_at: &[100_600],
                panics: &never,
                job_priority: Priority::High,
            });
            probed.result.as_ref().expect("no item panics");
            probed.tally.assert_once(&format!("{priority:?}"));
            let wait = probed.max_delay_where(|_| true);
            eprintln!("{priority:?}: High job at long item 600 waited {wait} items");
            assert!(
                wait <= 2,
                "{priority:?}: 600 items after tiny items turned long (200 us), a High job \
                 waited {wait} items (docs: after up to 256 long ones, then after every one)"
            );
        }
    });
}

/// `phased`: tiny, 50 us, tiny, 1 ms, tiny. In a tiny phase each wait is within the stride; in
/// a long phase within the stride until its first look (at most 256 items in), then at most 2.
#[test]
fn items_that_turn_long_then_tiny_again_keep_the_documented_pace() {
    watchdog(WATCH, || {
        let submit_at = [
            100_000, 200_000, 200_100, 200_600, 200_999, 201_000, 300_000, 400_000, 400_280,
            400_299, 400_300, 500_000,
        ];
        let long_phases = [(200_000, 201_000), (400_000, 400_300)];
        for priority in [Priority::Low, Priority::Normal] {
            let probed = probe(Probe {
                items: 500_100,
                priority,
                len: &phased,
                submit_at: &submit_at,
                panics: &never,
                job_priority: Priority::High,
            });
            probed.result.as_ref().expect("no item panics");
            probed.tally.assert_once(&format!("{priority:?} phased"));
            eprintln!("{priority:?}: phased waits {:?}", probed.delays);
            for &(s, r) in &probed.delays {
                let wait = r - s;
                let phase = long_phases.iter().find(|(a, b)| (*a..*b).contains(&s));
                let bound = match phase {
                    Some((a, _)) if s - a >= STRIDE_BOUND => 2,
                    _ => STRIDE_BOUND,
                };
                assert!(
                    wait <= bound,
                    "{priority:?}: the High job submitted at item {s} ({}) waited {wait} items \
                     (bound {bound}); all waits: {:?}",
                    match phase {
                        Some((a, _)) => format!("{} items into a long phase", s - a),
                        None => "a tiny phase".to_string(),
                    },
                    probed.delays
                );
            }
        }
    });
}

#[test]
fn panicking_items_are_reported_and_the_others_still_run_once() {
    watchdog(WATCH, || {
        quiet_panics();
        const N: usize = 3_000;
        let cases: Vec<(&str, PanicIf)> = vec![
            ("the first item", Box::new(|i| i == 0)),
            ("the last item", Box::new(|i| i == N - 1)),
            ("every item", Box::new(|_| true)),
            (
                "a window around a look",
                Box::new(|i| (240..300).contains(&i) || (500..530).contains(&i)),
            ),
            ("every 7th item", Box::new(|i| i % 7 == 0)),
        ];
        let submit_at = [10, 255, 256, 257, 511, 512, 1_000, N - 1];
        for priority in PRIORITIES {
            for (what, panics) in &cases {
                // One runner, in order, with High jobs forcing yields.
                let probed = probe(Probe {
                    items: N,
                    priority,
                    len: &tiny,
                    submit_at: &submit_at,
                    panics: &**panics,
                    job_priority: Priority::High,
                });
                probed
                    .tally
                    .assert_once(&format!("{priority:?}, {what} panics"));
                let err = probed
                    .result
                    .as_ref()
                    .expect_err("the wait returns the item's panic");
                let i = panicked_item(err);
                assert!(
                    panics(i),
                    "{priority:?}, {what}: reported item {i} did not panic"
                );
                if priority != Priority::High {
                    let worst = probed.max_delay_where(|_| true);
                    assert!(
                        worst <= STRIDE_BOUND,
                        "{priority:?}, {what} panics: a High job waited {worst} items"
                    );
                }
                // Many runners.
                for (workers, help) in [(8, true), (2, false)] {
                    let system = sys(workers, help);
                    for grain in grains() {
                        let tally = Tally::new(0, N);
                        let r =
                            system.parallel_for(0..N, Batch::from(grain).priority(priority), |i| {
                                tally.hit(i);
                                if panics(i) {
                                    panic!("{MARK} {i}");
                                }
                            });
                        let what = format!("{priority:?}, {workers} workers, {grain:?}, {what}");
                        tally.assert_once(&what);
                        let i = panicked_item(&r.expect_err("the panic is reported"));
                        assert!(panics(i), "{what}: reported item {i} did not panic");
                    }
                }
            }
        }
    });
}

#[test]
fn submit_for_reports_a_panic_on_its_counter_and_runs_every_other_item() {
    watchdog(WATCH, || {
        quiet_panics();
        const N: usize = 1_000;
        for workers in [1, 8] {
            for help in [false, true] {
                let system = sys(workers, help);
                for priority in PRIORITIES {
                    for grain in [
                        Grain::fixed(1).unwrap(),
                        Grain::fixed(N).unwrap(),
                        Grain::Auto,
                    ] {
                        let what =
                            format!("{workers} workers, help {help}, {priority:?}, {grain:?}");
                        let counter = system.counter();
                        let tally = Arc::new(Tally::new(0, N));
                        let t = tally.clone();
                        system.submit_for(
                            &counter,
                            0..N,
                            Batch::from(grain).priority(priority),
                            move |i| {
                                t.hit(i);
                                if i == 333 {
                                    panic!("{MARK} {i}");
                                }
                            },
                        );
                        let err = system
                            .wait(&counter)
                            .expect_err("the counter reports the panic");
                        assert_eq!(panicked_item(&err), 333, "{what}");
                        tally.assert_once(&what);
                        // The same counter, a clean batch: Ok.
                        let tally = Arc::new(Tally::new(0, N));
                        let t = tally.clone();
                        system.submit_for(
                            &counter,
                            0..N,
                            Batch::from(grain).priority(priority),
                            move |i| t.hit(i),
                        );
                        system.wait(&counter).unwrap_or_else(|e| {
                            panic!("{what}: a clean batch after a panicking one: {e:?}")
                        });
                        tally.assert_once(&format!("{what}, clean"));
                    }
                }
            }
        }
    });
}

#[test]
fn empty_and_single_item_batches() {
    watchdog(WATCH, || {
        let reversed = std::hint::black_box(10usize)..5;
        let empty = [5..5, reversed, usize::MAX..usize::MAX, 0..0];
        let single = [0..1, 7..8, (usize::MAX - 1)..usize::MAX];
        let grains = [
            Grain::fixed(1).unwrap(),
            Grain::fixed(2).unwrap(),
            Grain::fixed(usize::MAX).unwrap(),
            Grain::Auto,
        ];
        for workers in [1, 8] {
            for help in [false, true] {
                let system = sys(workers, help);
                for priority in PRIORITIES {
                    for grain in grains {
                        let batch = Batch::from(grain).priority(priority);
                        let what =
                            format!("{workers} workers, help {help}, {priority:?}, {grain:?}");
                        for range in &empty {
                            let calls = AtomicUsize::new(0);
                            system
                                .parallel_for(range.clone(), batch, |_| {
                                    calls.fetch_add(1, SeqCst);
                                })
                                .expect("no panic");
                            assert_eq!(calls.load(SeqCst), 0, "{what}: {range:?} ran items");
                            let calls = Arc::new(AtomicUsize::new(0));
                            let c = calls.clone();
                            let counter = system.counter();
                            system.submit_for(&counter, range.clone(), batch, move |_| {
                                c.fetch_add(1, SeqCst);
                            });
                            system.wait(&counter).expect("no panic");
                            assert_eq!(
                                calls.load(SeqCst),
                                0,
                                "{what}: submit_for {range:?} ran items"
                            );
                        }
                        for range in &single {
                            let tally = Tally::new(range.start, 1);
                            system
                                .parallel_for(range.clone(), batch, |i| tally.hit(i))
                                .expect("no panic");
                            tally.assert_once(&format!("{what}: {range:?}"));
                            let tally = Arc::new(Tally::new(range.start, 1));
                            let t = tally.clone();
                            let counter = system.counter();
                            system.submit_for(&counter, range.clone(), batch, move |i| t.hit(i));
                            system.wait(&counter).expect("no panic");
                            tally.assert_once(&format!("{what}: submit_for {range:?}"));
                        }
                    }
                }
            }
        }
    });
}

#[test]
fn ranges_at_the_end_of_usize_run_every_item_once_while_yielding() {
    watchdog(WATCH, || {
        const N: usize = 1_000;
        let base = usize::MAX - N;
        let mut grains: Vec<Grain> = [
            1,
            2,
            3,
            255,
            256,
            257,
            999,
            1_000,
            1_001,
            usize::MAX / 2,
            usize::MAX - 1,
            usize::MAX,
        ]
        .into_iter()
        .map(|g| Grain::fixed(g).unwrap())
        .collect();
        grains.push(Grain::Auto);
        let system = Arc::new(sys(2, true));
        for priority in PRIORITIES {
            for grain in &grains {
                let grain = *grain;
                let what = format!("{priority:?}, {grain:?}");
                let batch = Batch::from(grain).priority(priority);
                let high = Counter::new();
                let ran = Arc::new(AtomicUsize::new(0));
                let body = {
                    let (system, high, ran) = (system.clone(), high.clone(), ran.clone());
                    move |i: usize| {
                        spin(Duration::from_micros(2));
                        if (i - base) % 100 == 50 {
                            let ran = ran.clone();
                            system.submit_counted(
                                &high,
                                Job::from_fn(move |_| {
                                    ran.fetch_add(1, SeqCst);
                                })
                                .with_priority(Priority::High),
                            );
                        }
                    }
                };
                let tally = Tally::new(base, N);
                system
                    .parallel_for(base..usize::MAX, batch, |i| {
                        tally.hit(i);
                        body(i)
                    })
                    .expect("no panic");
                tally.assert_once(&what);
                let tally = Arc::new(Tally::new(base, N));
                let t = tally.clone();
                let counter = system.counter();
                system.submit_for(&counter, base..usize::MAX, batch, move |i| {
                    t.hit(i);
                    body(i)
                });
                system.wait(&counter).expect("no panic");
                tally.assert_once(&format!("submit_for {what}"));
                system.wait(&high).expect("no panic");
                assert_eq!(ran.load(SeqCst), 2 * N / 100, "{what}: every High job ran");
            }
        }
    });
}

#[test]
fn wildly_varying_items_run_once_on_every_configuration() {
    watchdog(WATCH, || {
        const N: usize = 20_000;
        let len = |i: usize| {
            if i % 4_999 == 17 {
                Duration::from_millis(1)
            } else if i % 89 == 3 {
                Duration::from_micros(7)
            } else {
                Duration::ZERO
            }
        };
        for workers in [1, 8] {
            for help in [false, true] {
                let system = sys(workers, help);
                for priority in PRIORITIES {
                    for grain in grains() {
                        let what =
                            format!("{workers} workers, help {help}, {priority:?}, {grain:?}");
                        let tally = Tally::new(0, N);
                        let high = Counter::new();
                        let ran = Arc::new(AtomicUsize::new(0));
                        system
                            .parallel_for(0..N, Batch::from(grain).priority(priority), |i| {
                                tally.hit(i);
                                let d = len(i);
                                if !d.is_zero() {
                                    spin(d);
                                }
                                if i % 1_000 == 500 {
                                    let ran = ran.clone();
                                    system.submit_counted(
                                        &high,
                                        Job::from_fn(move |_| {
                                            ran.fetch_add(1, SeqCst);
                                        })
                                        .with_priority(Priority::High),
                                    );
                                }
                            })
                            .expect("no panic");
                        assert_eq!(tally.total(), N, "{what}: items run");
                        tally.assert_once(&what);
                        system.wait(&high).expect("no panic");
                        assert_eq!(ran.load(SeqCst), N / 1_000, "{what}: every High job ran");
                    }
                }
            }
        }
    });
}

#[test]
fn a_high_batch_never_yields_and_lower_batches_yield_only_to_higher_priorities() {
    watchdog(WATCH, || {
        const N: usize = 600;
        let submit_at = [300, 450];
        let len = Duration::from_micros(20);
        for batch in PRIORITIES {
            for job in PRIORITIES {
                let probed = probe(Probe {
                    items: N,
                    priority: batch,
                    len: &|_| len,
                    submit_at: &submit_at,
                    panics: &never,
                    job_priority: job,
                });
                assert!(probed.result.is_ok(), "no item panics");
                probed
                    .tally
                    .assert_once(&format!("{batch:?} batch, {job:?} jobs"));
                let waits = probed.delays;
                eprintln!("{batch:?} batch, {job:?} jobs: {waits:?}");
                for (s, r) in waits {
                    assert!(r >= s, "the job submitted at item {s} ran at item {r}");
                    if rank(job) > rank(batch) {
                        assert!(
                            r - s <= 2,
                            "a {batch:?} batch of 20 us items kept a {job:?} job submitted at \
                             item {s} waiting until item {r}"
                        );
                    } else {
                        assert_eq!(
                            r,
                            N - 1,
                            "a {batch:?} batch yielded to a {job:?} job (submitted at item {s}, \
                             ran at item {r})"
                        );
                    }
                }
            }
        }
    });
}

#[test]
fn repeated_high_jobs_from_outside_start_long_before_a_long_low_batch_ends() {
    watchdog(WATCH, || {
        const N: usize = 8_000_000;
        const MARGIN: usize = 500_000;
        for workers in [1, 8] {
            let system = sys(workers, false);
            let tally = Arc::new(Tally::new(0, N));
            let done = Arc::new(AtomicUsize::new(0));
            let batch = system.counter();
            {
                let (t, d) = (tally.clone(), done.clone());
                system.submit_for(
                    &batch,
                    0..N,
                    Batch::new().priority(Priority::Low),
                    move |i| {
                        t.hit(i);
                        d.fetch_add(1, SeqCst);
                    },
                );
            }
            let high = Counter::new();
            let mut sent = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(120);
            while !batch.is_zero() && Instant::now() < deadline {
                let at = done.load(SeqCst);
                let slot = Arc::new(AtomicUsize::new(NOT_YET));
                let (s, d) = (slot.clone(), done.clone());
                system.submit_counted(
                    &high,
                    Job::from_fn(move |_| s.store(d.load(SeqCst), SeqCst))
                        .with_priority(Priority::High),
                );
                sent.push((at, slot));
                std::thread::sleep(Duration::from_micros(500));
            }
            poll_zero(&batch, 120);
            system.wait(&batch).expect("no panic");
            poll_zero(&high, 60);
            assert_eq!(tally.total(), N, "{workers} workers: items run");
            tally.assert_once(&format!("{workers} workers"));
            let checked: Vec<(usize, usize)> = sent
                .iter()
                .map(|(at, s)| (*at, s.load(SeqCst)))
                .filter(|(at, _)| at + MARGIN < N)
                .collect();
            eprintln!(
                "{workers} workers: {} High jobs, {} checked; (submitted, started) at items done: {:?}",
                sent.len(),
                checked.len(),
                checked.iter().take(20).collect::<Vec<_>>()
            );
            assert!(
                !checked.is_empty(),
                "{workers} workers: no High job was submitted early"
            );
            for (at, started) in checked {
                assert_ne!(started, NOT_YET, "a High job never ran");
                assert!(
                    started < N,
                    "{workers} workers: a High job submitted when {at} of {N} Low items had run \
                     started only after the batch ended"
                );
            }
        }
    });
}

/// The capture of a job whose spawn step runs a one-chunk batch of 20 us items, item `submit_at`
/// submitting a High job that records the last item started.
struct Nest {
    system: Arc<JobSystem>,
    priority: Option<Priority>,
    items: usize,
    submit_at: usize,
    cur: Arc<AtomicUsize>,
    seen: Arc<AtomicUsize>,
    high: Counter,
    tally: Tally,
}

fn nest_step(_: &mut Nest, _: &mut jobs::Context<'_>) -> jobs::Action<Nest> {
    jobs::Action::Spawn(nest_spawn, |_, _| jobs::Action::Done)
}

fn nest_spawn<'c>(n: &'c mut Nest, s: &mut jobs::Spawner<'c, '_>) {
    let grain = Grain::fixed(n.items).unwrap();
    let batch = match n.priority {
        Some(p) => Batch::from(grain).priority(p),
        None => Batch::from(grain),
    };
    let n: &'c Nest = n;
    s.parallel_for(0..n.items, batch, move |i| {
        n.tally.hit(i);
        n.cur.store(i, SeqCst);
        spin(Duration::from_micros(20));
        if i == n.submit_at {
            let (c, seen) = (n.cur.clone(), n.seen.clone());
            n.system.submit_counted(
                &n.high,
                Job::from_fn(move |_| seen.store(c.load(SeqCst), SeqCst))
                    .with_priority(Priority::High),
            );
        }
    });
}

#[test]
fn spawner_parallel_for_inside_a_job_paces_by_the_batch_priority() {
    watchdog(WATCH, || {
        const N: usize = 500;
        const AT: usize = 300;
        let system = Arc::new(sys(1, false));
        // (parent, explicit batch priority, whether the batch should yield to High)
        let cases = [
            (Priority::Low, None, true),
            (Priority::Normal, None, true),
            (Priority::High, None, false),
            (Priority::High, Some(Priority::Low), true),
            (Priority::Low, Some(Priority::High), false),
            (Priority::Normal, Some(Priority::High), false),
        ];
        for (parent, explicit, yields) in cases {
            let what = format!("parent {parent:?}, batch {explicit:?}");
            let seen = Arc::new(AtomicUsize::new(NOT_YET));
            let high = Counter::new();
            let done = system.counter();
            let nest = Nest {
                system: system.clone(),
                priority: explicit,
                items: N,
                submit_at: AT,
                cur: Arc::new(AtomicUsize::new(0)),
                seen: seen.clone(),
                high: high.clone(),
                tally: Tally::new(0, N),
            };
            system.submit_counted(&done, Job::new(nest, nest_step).with_priority(parent));
            poll_zero(&done, 60);
            system.wait(&done).expect("no panic");
            poll_zero(&high, 60);
            let r = seen.load(SeqCst);
            eprintln!("{what}: High job submitted at {AT} ran at {r}");
            assert_ne!(r, NOT_YET, "{what}: the High job never ran");
            if yields {
                assert!(
                    r - AT <= 2,
                    "{what}: the batch should yield, but the High job waited until item {r}"
                );
            } else {
                assert_eq!(
                    r,
                    N - 1,
                    "{what}: a High batch yielded (High job ran at item {r})"
                );
            }
        }
    });
}

#[test]
fn nested_batches_run_every_inner_and_outer_item_once() {
    watchdog(WATCH, || {
        quiet_panics();
        const OUTER: usize = 24;
        const INNER: usize = 50;
        let pairs = [
            (Priority::Low, Priority::High),
            (Priority::High, Priority::Low),
            (Priority::Normal, Priority::Normal),
            (Priority::Low, Priority::Low),
        ];
        for workers in [1, 2, 8] {
            for help in [false, true] {
                let system = sys(workers, help);
                for (outer, inner) in pairs {
                    let what =
                        format!("{workers} workers, help {help}, outer {outer:?}, inner {inner:?}");
                    let outer_tally = Tally::new(0, OUTER);
                    let inner_tally = Tally::new(0, OUTER * INNER);
                    let caught = AtomicUsize::new(0);
                    system
                        .parallel_for(
                            0..OUTER,
                            Batch::from(Grain::fixed(2).unwrap()).priority(outer),
                            |o| {
                                outer_tally.hit(o);
                                let r = system.parallel_for(
                                    0..INNER,
                                    Batch::from(Grain::fixed(3).unwrap()).priority(inner),
                                    |j| {
                                        inner_tally.hit(o * INNER + j);
                                        if o % 3 == 0 && j == 25 {
                                            panic!("{MARK} {j}");
                                        }
                                    },
                                );
                                match r {
                                    Ok(()) => {
                                        assert!(o % 3 != 0, "outer item {o}: inner panic lost")
                                    }
                                    Err(p) => {
                                        assert_eq!(panicked_item(&p), 25);
                                        assert_eq!(
                                            o % 3,
                                            0,
                                            "outer item {o}: a panic from nowhere"
                                        );
                                        caught.fetch_add(1, SeqCst);
                                    }
                                }
                            },
                        )
                        .expect("every inner panic was caught in its outer item");
                    outer_tally.assert_once(&format!("{what}: outer"));
                    inner_tally.assert_once(&format!("{what}: inner"));
                    assert_eq!(
                        caught.load(SeqCst),
                        OUTER / 3,
                        "{what}: inner panics caught"
                    );
                }
            }
        }
    });
}

#[test]
fn a_low_batch_gives_way_to_a_high_batch() {
    watchdog(WATCH, || {
        // (items, item length, where the High batch is submitted, how many items it may wait)
        let cases = [
            (600, Duration::from_micros(20), 300, 2),
            (200_000, Duration::ZERO, 100_000, STRIDE_BOUND),
        ];
        for (n, len, at, bound) in cases {
            let system = sys(1, false);
            let cur = Arc::new(AtomicUsize::new(0));
            let seen = Arc::new(Tally::new(0, 100));
            let latest = Arc::new(AtomicUsize::new(0));
            let earliest = Arc::new(AtomicUsize::new(NOT_YET));
            let high = Counter::new();
            let tally = Tally::new(0, n);
            system
                .parallel_for(
                    0..n,
                    Batch::from(Grain::fixed(n).unwrap()).priority(Priority::Low),
                    |i| {
                        tally.hit(i);
                        cur.store(i, SeqCst);
                        spin(len);
                        if i == at {
                            let (c, s, l, e) =
                                (cur.clone(), seen.clone(), latest.clone(), earliest.clone());
                            system.submit_for(
                                &high,
                                0..100,
                                Batch::from(Grain::fixed(7).unwrap()).priority(Priority::High),
                                move |j| {
                                    s.hit(j);
                                    let c = c.load(SeqCst);
                                    l.fetch_max(c, SeqCst);
                                    e.fetch_min(c, SeqCst);
                                },
                            );
                        }
                    },
                )
                .expect("no panic");
            poll_zero(&high, 60);
            system.wait(&high).expect("no panic");
            tally.assert_once("the Low batch");
            seen.assert_once("the High batch");
            let (e, l) = (earliest.load(SeqCst), latest.load(SeqCst));
            eprintln!("{len:?} items: High batch submitted at {at} ran during items {e}..={l}");
            assert!(e >= at, "the High batch ran before it was submitted");
            assert!(
                l - at <= bound,
                "a Low batch of {len:?} items kept a High batch submitted at item {at} waiting \
                 (its items ran during Low items {e}..={l}; bound {bound})"
            );
        }
    });
}

#[test]
fn a_low_batch_with_a_helping_main_thread_still_finishes_with_high_jobs_interleaved() {
    watchdog(WATCH, || {
        const N: usize = 100_000;
        const MARGIN: usize = 10_000;
        for workers in [1, 2] {
            let system = JobSystem::new(
                Config::default()
                    .workers(workers)
                    .core_affinity(false)
                    .help_while_waiting(true)
                    .low_priority_threads(usize::MAX),
            )
            .expect("a valid config");
            let tally = Tally::new(0, N);
            let done = Arc::new(AtomicUsize::new(0));
            let high = Counter::new();
            let slots: Vec<(AtomicUsize, Arc<AtomicUsize>)> = (0..N / 2_000)
                .map(|_| {
                    (
                        AtomicUsize::new(NOT_YET),
                        Arc::new(AtomicUsize::new(NOT_YET)),
                    )
                })
                .collect();
            system
                .parallel_for(0..N, Batch::new().priority(Priority::Low), |i| {
                    tally.hit(i);
                    spin(Duration::from_micros(1));
                    let now = done.fetch_add(1, SeqCst) + 1;
                    if i % 2_000 == 1_000 {
                        let (at, slot) = &slots[i / 2_000];
                        at.store(now, SeqCst);
                        let (s, d) = (slot.clone(), done.clone());
                        system.submit_counted(
                            &high,
                            Job::from_fn(move |_| s.store(d.load(SeqCst), SeqCst))
                                .with_priority(Priority::High),
                        );
                    }
                })
                .expect("no panic");
            system.wait(&high).expect("no panic");
            tally.assert_once(&format!("{workers} workers"));
            let mut checked = 0;
            for (at, slot) in &slots {
                let (at, started) = (at.load(SeqCst), slot.load(SeqCst));
                assert_ne!(at, NOT_YET, "every High job was submitted");
                assert_ne!(started, NOT_YET, "every High job ran");
                if at + MARGIN < N {
                    checked += 1;
                    assert!(
                        started < N,
                        "{workers} workers + helping main: a High job submitted when {at} of \
                         {N} Low items had run started only after the batch ended"
                    );
                }
            }
            assert!(checked > 0);
        }
    });
}

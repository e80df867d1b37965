//! Session 9 of an outside tester's attack, through the public API only, on what changed in
//! the eighth session's fixes: timed waits inside jobs sleeping in the sleep protocol (woken
//! by new work and by their deadline), sleepers with ranks (wake-ups reach a thread that may
//! take the work), and the cap on threads running Low jobs.
//!
//! Promised (docs of `JobSystem::wait`, `wait_timeout`, `wait_with`, `WaitOptions`,
//! `Config::low_priority_threads`, README changelog "Wake-ups inside waits, ninth session"):
//! a worker waiting inside a job runs other jobs while it waits and is woken by new work;
//! a timed wait returns `Ok(false)` at its deadline and `Ok(true)` once the counter is zero;
//! `Duration::MAX` is no timeout and clears a deadline set before; of `until` and `timeout`
//! the later call sets the deadline; a wait that times out takes back its registration; no job
//! is stranded (queued with idle workers asleep); dropping the system runs every queued job
//! and joins the workers.
//!
//! Every test runs under `common::watchdog`. Stall tests create a fresh system per round, poll
//! (never helping) with a bound of a few seconds, and on a stall submit unrelated no-op jobs:
//! a stall that such a submission ends is a lost wake-up (a stranded job); the system of a
//! stall that nothing ends is leaked (`std::mem::forget`) so that its drop cannot hang.
//!
//! Found: nothing. All 14 tests passed in 7 of 7 release runs of the file (about 37 s each on
//! two cores); no stall, late wake-up, early or wrong timed-wait result, slow-down or hung drop.
//! Three of them dropped the system on the test thread while jobs still called it through a
//! raw pointer (a `&JobSystem` alive across its `Drop`, which Rust does not allow whatever the
//! drop joins first); they are left out, and the shutdown path they aimed at is kept through
//! the last `Arc` let go inside a job (`the_last_handle_let_go_in_jobs_after_timed_waits`).
//!
//! `CARGO_TARGET_DIR=/tmp/tester9-target cargo test --release -p jobs --test attack_session9`

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{poll_until, poll_zero, watchdog};
use jobs::{Config, Counter, Job, JobSystem, Priority, WaitOptions};

const WATCH: u64 = 120;

fn config(workers: usize, help: bool, cap: usize) -> Config {
    Config::default()
        .workers(workers)
        .core_affinity(false)
        .help_while_waiting(help)
        .low_priority_threads(cap)
        .spin_before_sleep(Duration::ZERO)
}

/// Idle workers sleep at once (a missing wake-up shows).
fn sleepy(workers: usize, help: bool, cap: usize) -> Arc<JobSystem> {
    Arc::new(JobSystem::new(config(workers, help, cap)).expect("a valid config"))
}

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// A counter kept open by a no-op job pinned to the main thread (the test thread, which runs
/// it only when it calls `run_pinned`).
fn held_open(system: &JobSystem) -> Counter {
    let c = Counter::new();
    system.submit_counted(&c, Job::from_fn(|_| {}).pinned_to_main());
    c
}

/// A counter kept busy by a job on a worker that sleeps (1 ms at a time) until the returned
/// flag is set.
fn gate(system: &JobSystem) -> (Counter, Arc<AtomicBool>) {
    let c = Counter::new();
    let open = Arc::new(AtomicBool::new(false));
    let o = open.clone();
    system.submit_counted(
        &c,
        Job::from_fn(move |_| {
            while !o.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .with_priority(Priority::High),
    );
    (c, open)
}

/// The latest `Instant` that can be represented (found by bisection on `checked_add`).
fn far_future() -> Instant {
    let now = Instant::now();
    let (mut lo, mut hi) = (0u64, u64::MAX);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if now.checked_add(Duration::from_secs(mid)).is_some() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    now + Duration::from_secs(lo)
}

/// A tiny deterministic generator for the random mixes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn priority(&mut self) -> Priority {
        Priority::ALL[self.below(3) as usize]
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Timed waits inside jobs
// ---------------------------------------------------------------------------------------------

/// The forms of a wait with a deadline (or with `Duration::MAX`, which is none).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    WaitTimeout,
    WithTimeout,
    WithUntil,
    FarFutureInstant,
    DurationMaxTimeout,
    DurationMaxWith,
    /// `until(past).timeout(MAX)`: the later call clears the deadline.
    PastThenMax,
    LimitedNormal,
    LimitedHigh,
}

const FORMS: [Form; 9] = [
    Form::WaitTimeout,
    Form::WithTimeout,
    Form::WithUntil,
    Form::FarFutureInstant,
    Form::DurationMaxTimeout,
    Form::DurationMaxWith,
    Form::PastThenMax,
    Form::LimitedNormal,
    Form::LimitedHigh,
];

impl Form {
    /// Waits on `c` as this form says, with a deadline `long` away where it has one.
    fn wait(self, s: &JobSystem, c: &Counter, long: Duration) -> bool {
        let r = match self {
            Form::WaitTimeout => s.wait_timeout(c, long),
            Form::WithTimeout => s.wait_with(c, WaitOptions::new().timeout(long)),
            Form::WithUntil => s.wait_with(c, WaitOptions::new().until(Instant::now() + long)),
            Form::FarFutureInstant => s.wait_with(c, WaitOptions::new().until(far_future())),
            Form::DurationMaxTimeout => s.wait_timeout(c, Duration::MAX),
            Form::DurationMaxWith => s.wait_with(c, WaitOptions::new().timeout(Duration::MAX)),
            Form::PastThenMax => s.wait_with(
                c,
                WaitOptions::new()
                    .until(Instant::now() - Duration::from_millis(5))
                    .timeout(Duration::MAX),
            ),
            Form::LimitedNormal => s.wait_with(
                c,
                WaitOptions::new()
                    .lowest_priority(Priority::Normal)
                    .timeout(long),
            ),
            Form::LimitedHigh => s.wait_with(
                c,
                WaitOptions::new()
                    .lowest_priority(Priority::High)
                    .timeout(long),
            ),
        };
        r.expect("no panic")
    }

    /// The priority of a job the waiting thread may run.
    fn runnable(self) -> Priority {
        match self {
            Form::LimitedHigh => Priority::High,
            _ => Priority::Normal,
        }
    }
}

/// Every worker (1 to 3, idle workers sleeping at once, the main thread not helping) waits
/// inside a job, in each form of a wait with a deadline (10 s) or `Duration::MAX`, on a counter
/// kept open by a job pinned to the main thread. A job submitted from outside meanwhile (of a
/// priority the wait may run; Low too, for unlimited waits) must run promptly, not when the
/// waits give up. Then the counter is released: every wait returns `Ok(true)` promptly.
#[test]
fn timed_waits_inside_jobs_wake_for_new_work_in_every_form() {
    watchdog(WATCH, || {
        let mut failures = Vec::new();
        for form in FORMS {
            for workers in 1..=3 {
                for low_job in [false, true] {
                    if low_job && matches!(form, Form::LimitedNormal | Form::LimitedHigh) {
                        continue;
                    }
                    let system = sleepy(workers, false, 1);
                    let target = held_open(&system);
                    let waiting = Arc::new(AtomicUsize::new(0));
                    let results = Arc::new(Mutex::new(Vec::new()));
                    let done = system.counter();
                    for _ in 0..workers {
                        let (s, t, w, r) = (
                            system.clone(),
                            target.clone(),
                            waiting.clone(),
                            results.clone(),
                        );
                        system.submit_counted(
                            &done,
                            Job::from_fn(move |_| {
                                w.fetch_add(1, SeqCst);
                                let ok = form.wait(&s, &t, Duration::from_secs(10));
                                r.lock().unwrap().push(ok);
                            }),
                        );
                    }
                    assert!(poll_until(10, || waiting.load(SeqCst) == workers));
                    std::thread::sleep(Duration::from_millis(20));
                    let ran = Arc::new(AtomicBool::new(false));
                    let r = ran.clone();
                    let priority = if low_job {
                        Priority::Low
                    } else {
                        form.runnable()
                    };
                    let t0 = Instant::now();
                    system.submit(
                        Job::from_fn(move |_| r.store(true, SeqCst)).with_priority(priority),
                    );
                    let prompt = poll_until(2, || ran.load(SeqCst));
                    let took = t0.elapsed();
                    assert_eq!(system.run_pinned(), Ok(1));
                    let t1 = Instant::now();
                    let finished = poll_until(20, || done.is_zero());
                    let release = t1.elapsed();
                    if !prompt {
                        failures.push(format!(
                            "{form:?}, {workers} workers, new {priority:?} job ran after {took:?}"
                        ));
                    }
                    if !finished || release > Duration::from_secs(2) {
                        failures.push(format!(
                            "{form:?}, {workers} workers: waits ended {release:?} after the \
                             counter reached zero"
                        ));
                    }
                    let results = results.lock().unwrap().clone();
                    if results.iter().any(|ok| !ok) {
                        failures.push(format!("{form:?}, {workers} workers: results {results:?}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    });
}

/// A worker waits inside a job (every form, 10 s deadline) for a counter that counts a job
/// pinned to the main thread; the test runs it 2 ms later. The only thing that can end the
/// wait early is the counter reaching zero: it must return `Ok(true)` within 1 s. 2 to 4
/// workers (the others idle and asleep), 20 rounds a form.
#[test]
fn timed_waits_inside_jobs_wake_when_the_counter_reaches_zero() {
    watchdog(WATCH, || {
        let mut failures = Vec::new();
        for form in FORMS {
            for round in 0..20 {
                let workers = 2 + round % 3;
                let system = sleepy(workers, round % 2 == 0, usize::MAX);
                let target = held_open(&system);
                let waiting = Arc::new(AtomicBool::new(false));
                let result: Arc<Mutex<Option<(bool, Instant)>>> = Arc::default();
                let done = system.counter();
                let (s, t, w, r) = (
                    system.clone(),
                    target.clone(),
                    waiting.clone(),
                    result.clone(),
                );
                system.submit_counted(
                    &done,
                    Job::from_fn(move |_| {
                        w.store(true, SeqCst);
                        let ok = form.wait(&s, &t, Duration::from_secs(10));
                        *r.lock().unwrap() = Some((ok, Instant::now()));
                    }),
                );
                assert!(poll_until(10, || waiting.load(SeqCst)));
                std::thread::sleep(Duration::from_millis(2));
                assert_eq!(system.run_pinned(), Ok(1));
                let t0 = Instant::now();
                let ended = poll_until(3, || done.is_zero());
                match *result.lock().unwrap() {
                    Some((true, at))
                        if at.saturating_duration_since(t0) < Duration::from_secs(1) => {}
                    other => failures.push(format!(
                        "{form:?} round {round} ({workers} workers): ended {ended}, result \
                         {:?}",
                        other.map(|(ok, at)| (ok, at.saturating_duration_since(t0)))
                    )),
                }
                if !ended {
                    std::mem::forget(system);
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    });
}

/// Deadlines at the edges, inside a job on a worker and on the main thread: a busy counter
/// (kept open) gives `Ok(false)` at (not before) the deadline, quickly for a deadline already
/// past or `Duration::ZERO`; a counter at zero gives `Ok(true)` even with a past deadline; a
/// `Duration::MAX` (or `timeout(MAX)` after `until`) waits until the counter reaches zero; of
/// `until` and `timeout` the later call sets the deadline; huge timeouts and the latest
/// `Instant` do not panic.
#[test]
fn deadlines_at_the_edges_give_the_promised_results() {
    fn check(s: &JobSystem, busy: &Counter, zero: &Counter, on: &str) -> Vec<String> {
        let mut bad = Vec::new();
        let mut expect =
            |what: &str, got: bool, want: bool, took: Duration, min: Duration, max: Duration| {
                if got != want || took < min || took > max {
                    bad.push(format!(
                    "{on}: {what}: got {got} after {took:?}, want {want} within [{min:?}, {max:?}]"
                ));
                }
            };
        let ms = Duration::from_millis;
        let timed = |f: &dyn Fn() -> bool| {
            let t = Instant::now();
            let r = f();
            (r, t.elapsed())
        };
        let (r, t) = timed(&|| s.wait_timeout(busy, ms(30)).unwrap());
        expect("busy, timeout 30 ms", r, false, t, ms(30), ms(1000));
        let (r, t) = timed(&|| s.wait_timeout(busy, Duration::ZERO).unwrap());
        expect("busy, timeout ZERO", r, false, t, ms(0), ms(100));
        let (r, t) = timed(&|| {
            s.wait_with(busy, WaitOptions::new().until(Instant::now() - ms(1000)))
                .unwrap()
        });
        expect("busy, until 1 s ago", r, false, t, ms(0), ms(100));
        let (r, t) = timed(&|| {
            s.wait_with(busy, WaitOptions::new().until(Instant::now() + ms(30)))
                .unwrap()
        });
        expect("busy, until +30 ms", r, false, t, ms(29), ms(1000));
        let (r, t) = timed(&|| {
            s.wait_with(
                busy,
                WaitOptions::new()
                    .timeout(Duration::MAX)
                    .until(Instant::now() + ms(30)),
            )
            .unwrap()
        });
        expect(
            "busy, timeout(MAX).until(+30 ms)",
            r,
            false,
            t,
            ms(29),
            ms(1000),
        );
        let (r, t) = timed(&|| {
            s.wait_with(busy, WaitOptions::new().until(far_future()).timeout(ms(30)))
                .unwrap()
        });
        expect(
            "busy, until(far).timeout(30 ms)",
            r,
            false,
            t,
            ms(29),
            ms(1000),
        );
        let (r, t) = timed(&|| {
            s.wait_with(
                busy,
                WaitOptions::new()
                    .lowest_priority(Priority::High)
                    .timeout(Duration::ZERO),
            )
            .unwrap()
        });
        expect("busy, High only, ZERO", r, false, t, ms(0), ms(100));
        let (r, t) = timed(&|| {
            s.wait_with(
                busy,
                WaitOptions::new()
                    .lowest_priority(Priority::Low)
                    .pinned_jobs_at_any_priority()
                    .timeout(ms(20)),
            )
            .unwrap()
        });
        expect(
            "busy, Low + pinned any, 20 ms",
            r,
            false,
            t,
            ms(20),
            ms(1000),
        );
        for (what, f) in [
            (
                "zero, ZERO",
                &(|| s.wait_timeout(zero, Duration::ZERO).unwrap()) as &dyn Fn() -> bool,
            ),
            ("zero, until 1 s ago", &|| {
                s.wait_with(zero, WaitOptions::new().until(Instant::now() - ms(1000)))
                    .unwrap()
            }),
            ("zero, MAX", &|| {
                s.wait_timeout(zero, Duration::MAX).unwrap()
            }),
            ("zero, far future", &|| {
                s.wait_with(zero, WaitOptions::new().until(far_future()))
                    .unwrap()
            }),
            ("zero, 2^63 s", &|| {
                s.wait_timeout(zero, Duration::from_secs(1 << 63)).unwrap()
            }),
            ("zero, u64::MAX s less 1 ns", &|| {
                s.wait_timeout(zero, Duration::MAX - Duration::from_nanos(1))
                    .unwrap()
            }),
        ] {
            let (r, t) = timed(f);
            expect(what, r, true, t, ms(0), ms(100));
        }
        bad
    }

    watchdog(WATCH, || {
        let mut bad = Vec::new();
        for help in [false, true] {
            // Inside a job on a worker.
            let system = sleepy(3, help, usize::MAX);
            let (busy, open) = gate(&system);
            let zero = system.counter();
            let found = Arc::new(Mutex::new(Vec::new()));
            let done = system.counter();
            let (s, b, z, f) = (system.clone(), busy.clone(), zero.clone(), found.clone());
            system.submit_counted(
                &done,
                Job::from_fn(move |_| *f.lock().unwrap() = check(&s, &b, &z, "worker")),
            );
            poll_zero(&done, 30);
            bad.extend(
                found
                    .lock()
                    .unwrap()
                    .drain(..)
                    .map(|b| format!("help {help}: {b}")),
            );
            // On the main thread.
            bad.extend(
                check(&system, &busy, &zero, "main")
                    .into_iter()
                    .map(|b| format!("help {help}: {b}")),
            );
            open.store(true, SeqCst);
            poll_zero(&busy, 10);
            // Huge timeouts that must mean "no deadline" on a counter that reaches zero later.
            for timeout in [
                Duration::MAX,
                Duration::from_secs(u64::MAX),
                Duration::from_secs(1 << 63),
            ] {
                let c = system.counter();
                system.submit_counted(
                    &c,
                    Job::from_fn(|_| std::thread::sleep(Duration::from_millis(20))),
                );
                let t = Instant::now();
                let r = system.wait_timeout(&c, timeout).unwrap();
                if !r || t.elapsed() > Duration::from_secs(2) {
                    bad.push(format!(
                        "help {help}: main, {timeout:?}: {r} after {:?}",
                        t.elapsed()
                    ));
                }
            }
        }
        assert!(bad.is_empty(), "{bad:#?}");
    });
}

/// Repeated short timed waits on a counter that stays busy: inside jobs on every worker (all
/// on the same counter) and on the main thread, thousands of `Duration::ZERO` and 20 us waits
/// (plain and limited to High). The last thousand must not be much slower than the first
/// (a registration left behind per wait would make each wait slower), and once the counter is
/// released a final wait returns `Ok(true)` at once.
#[test]
fn repeated_short_timed_waits_on_a_busy_counter_do_not_slow_down() {
    fn hammer(
        s: &JobSystem,
        c: &Counter,
        short: Duration,
        limited: bool,
        n: usize,
    ) -> (Duration, Duration) {
        let mut first = Duration::ZERO;
        let mut last = Duration::ZERO;
        for i in 0..n {
            let t = Instant::now();
            let r = if limited {
                s.wait_with(
                    c,
                    WaitOptions::new()
                        .lowest_priority(Priority::High)
                        .timeout(short),
                )
            } else {
                s.wait_timeout(c, short)
            };
            assert!(!r.expect("no panic"), "the counter stays busy");
            if i < n / 10 {
                first += t.elapsed();
            } else if i >= n - n / 10 {
                last += t.elapsed();
            }
        }
        (first, last)
    }

    watchdog(WATCH, || {
        let mut bad = Vec::new();
        for (short, n) in [(Duration::ZERO, 40_000), (Duration::from_micros(20), 3_000)] {
            for limited in [false, true] {
                // One worker for the gate, one for each hammering job; the main thread does
                // not help (it would run a hammering job inside one of its waits).
                let hammers = 2;
                let system = sleepy(hammers + 1, false, usize::MAX);
                let (busy, open) = gate(&system);
                let started = Arc::new(AtomicUsize::new(0));
                let times = Arc::new(Mutex::new(Vec::new()));
                let done = system.counter();
                for _ in 0..hammers {
                    let (s, b, t, st) =
                        (system.clone(), busy.clone(), times.clone(), started.clone());
                    system.submit_counted(
                        &done,
                        Job::from_fn(move |_| {
                            st.fetch_add(1, SeqCst);
                            while st.load(SeqCst) < hammers {
                                std::hint::spin_loop();
                            }
                            let ft = hammer(&s, &b, short, limited, n);
                            t.lock().unwrap().push(ft);
                        }),
                    );
                }
                assert!(poll_until(10, || started.load(SeqCst) == hammers));
                let main = hammer(&system, &busy, short, limited, n);
                poll_zero(&done, 60);
                let mut all = times.lock().unwrap().clone();
                all.push(main);
                for (first, last) in all {
                    if last > first * 5 + Duration::from_millis(100) {
                        bad.push(format!(
                            "{short:?} x {n}, limited {limited}: first tenth {first:?}, last \
                             tenth {last:?}"
                        ));
                    }
                }
                open.store(true, SeqCst);
                let t = Instant::now();
                assert!(system.wait_timeout(&busy, Duration::from_secs(5)).unwrap());
                let took = t.elapsed();
                if took > Duration::from_millis(500) {
                    bad.push(format!(
                        "{short:?} x {n}, limited {limited}: release took {took:?}"
                    ));
                }
            }
        }
        assert!(bad.is_empty(), "{bad:#?}");
    });
}

/// A wait limited to High, with a deadline, for a Normal job: with one worker (the waiter) and
/// a main thread that does not help, nobody may run it: `Ok(false)` at the deadline, and the
/// Normal job has not run during the wait (it runs after). With two workers, the other worker
/// runs it: `Ok(true)` promptly.
#[test]
fn a_limited_timed_wait_ends_at_its_deadline_or_when_another_worker_runs_the_job() {
    watchdog(WATCH, || {
        for workers in [1, 2, 3] {
            for round in 0..10 {
                let system = sleepy(workers, false, usize::MAX);
                let result: Arc<Mutex<Option<(bool, Duration, bool)>>> = Arc::default();
                let done = system.counter();
                let (s, r) = (system.clone(), result.clone());
                system.submit_counted(
                    &done,
                    Job::from_fn(move |cx| {
                        let c = Counter::new();
                        let ran = Arc::new(AtomicBool::new(false));
                        let rn = ran.clone();
                        cx.spawn_job_counted(
                            &c,
                            Job::from_fn(move |_| rn.store(true, SeqCst))
                                .with_priority(Priority::Normal),
                        );
                        let t = Instant::now();
                        let ok = s
                            .wait_with(
                                &c,
                                WaitOptions::new()
                                    .lowest_priority(Priority::High)
                                    .timeout(Duration::from_millis(100)),
                            )
                            .expect("no panic");
                        *r.lock().unwrap() = Some((ok, t.elapsed(), ran.load(SeqCst)));
                    })
                    .with_priority(Priority::High),
                );
                poll_zero(&done, 10);
                let (ok, took, ran) = result.lock().unwrap().expect("the job ran");
                if workers == 1 {
                    assert!(
                        !ok && !ran && took >= Duration::from_millis(100),
                        "round {round}, one worker: {ok} after {took:?}, Normal ran {ran}"
                    );
                } else {
                    assert!(
                        ok && ran && took < Duration::from_millis(90),
                        "round {round}, {workers} workers: {ok} after {took:?}, Normal ran {ran}"
                    );
                }
                let stats_ok = poll_until(5, || system.stats().queued.iter().all(|q| *q == 0));
                assert!(stats_ok, "the Normal job never ran after the wait");
            }
        }
    });
}

/// The main thread's timed waits limited to High: a Low job pinned to it (the counter's only
/// job) is not run (`Ok(false)` at the deadline) unless `pinned_jobs_at_any_priority`; then it
/// is, at once. A Low job pinned to the main thread *by a worker job 20 ms into the wait*
/// (new pinned work mid-sleep) must wake the main thread: the wait ends well before its 10 s.
#[test]
fn main_thread_limited_timed_waits_and_pinned_jobs_at_any_priority() {
    watchdog(WATCH, || {
        for help in [false, true] {
            for workers in [1, 2, 4] {
                let system = sleepy(workers, help, 1);
                let c = system.counter();
                system.submit_counted(
                    &c,
                    Job::from_fn(|cx| assert!(cx.on_main_thread()))
                        .pinned_to_main()
                        .with_priority(Priority::Low),
                );
                let high = WaitOptions::new().lowest_priority(Priority::High);
                let t = Instant::now();
                let r = system
                    .wait_with(&c, high.timeout(Duration::from_millis(30)))
                    .unwrap();
                assert!(
                    !r && t.elapsed() >= Duration::from_millis(30),
                    "help {help}: {r}"
                );
                let t = Instant::now();
                let r = system
                    .wait_with(
                        &c,
                        high.pinned_jobs_at_any_priority()
                            .timeout(Duration::from_secs(10)),
                    )
                    .unwrap();
                assert!(
                    r && t.elapsed() < Duration::from_secs(1),
                    "help {help}: {r}"
                );

                for round in 0..10 {
                    let c = system.counter();
                    let c2 = c.clone();
                    system.submit_counted(
                        &c,
                        Job::from_fn(move |cx| {
                            std::thread::sleep(Duration::from_millis(20));
                            cx.spawn_job_counted(
                                &c2,
                                Job::from_fn(|cx| assert!(cx.on_main_thread()))
                                    .pinned_to_main()
                                    .with_priority(Priority::Low),
                            );
                        })
                        .with_priority(Priority::High),
                    );
                    let t = Instant::now();
                    let r = system
                        .wait_with(
                            &c,
                            high.pinned_jobs_at_any_priority()
                                .timeout(Duration::from_secs(10)),
                        )
                        .unwrap();
                    let took = t.elapsed();
                    assert!(
                        r && took < Duration::from_secs(1),
                        "help {help}, {workers} workers, round {round}: {r} after {took:?}"
                    );
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 2. Priorities and the cap: no job stranded
// ---------------------------------------------------------------------------------------------

/// After a stall: submit no-op jobs of every priority (as unrelated work would) and see
/// whether the stuck work then finishes. Leaks the system if not.
fn probe_stall(system: Arc<JobSystem>, done: &Counter) -> String {
    let stats = system.stats();
    let queued = stats.queued;
    let private: Vec<usize> = stats.workers.iter().map(|w| w.private_queued).collect();
    for p in Priority::ALL {
        system.submit(Job::from_fn(|_| {}).with_priority(p));
    }
    let unstuck = poll_until(5, || done.is_zero());
    let what = if unstuck {
        "STRANDED (finished once unrelated jobs were submitted)"
    } else {
        "stuck for good (system leaked)"
    };
    if !unstuck {
        std::mem::forget(system);
    }
    format!(
        "{what}; queued {queued:?}, private {private:?}, counter {}",
        done.value()
    )
}

fn wait_mode(s: &JobSystem, c: &Counter, mode: u64, lowest: Priority) {
    match mode {
        0 => s.wait(c).expect("no panic"),
        1 => {
            // A loop of short timed waits (each 0.5 ms) until the counter is zero.
            while !s
                .wait_with(
                    c,
                    WaitOptions::new()
                        .lowest_priority(lowest)
                        .timeout(Duration::from_micros(500)),
                )
                .expect("no panic")
            {}
        }
        2 => assert!(s
            .wait_with(c, WaitOptions::new().lowest_priority(lowest))
            .expect("no panic")),
        _ => assert!(s
            .wait_with(
                c,
                WaitOptions::new()
                    .lowest_priority(lowest)
                    .timeout(Duration::from_secs(30))
            )
            .expect("no panic")),
    }
}

/// One structured round: a Low job L spawns a child X of priority P (on its own deque) and
/// waits for it limited to `l_lowest` (or unlimited) in mode `l_mode`; X blocks its thread for
/// a while (sleep), then spawns `kids` grandchildren of priority Q and waits for them
/// (unlimited, or limited to Q, or with `Context::join` of two halves, one spawning and
/// waiting); each grandchild spins a little. Legal by construction: one worker must be able
/// to run what the others' waits exclude.
#[derive(Clone, Copy, Debug)]
struct Shape {
    workers: usize,
    help: bool,
    cap: usize,
    p: Priority,
    l_lowest: Priority,
    l_mode: u64,
    q: Priority,
    x_mode: u64,
    kids: usize,
    sleep_us: u64,
}

fn structured_round(shape: Shape) -> Option<String> {
    let system = sleepy(shape.workers, shape.help, shape.cap);
    let done = system.counter();
    let ran = Arc::new(AtomicUsize::new(0));
    let s = system.clone();
    let r = ran.clone();
    system.submit_counted(
        &done,
        Job::from_fn(move |cx| {
            let c = Counter::new();
            let (s2, r2) = (s.clone(), r.clone());
            cx.spawn_job_counted(
                &c,
                Job::from_fn(move |cx| {
                    std::thread::sleep(Duration::from_micros(shape.sleep_us));
                    let spawn_kids = |cx: &mut jobs::Context<'_>, c2: &Counter| {
                        for _ in 0..shape.kids {
                            let r3 = r2.clone();
                            cx.spawn_job_counted(
                                c2,
                                Job::from_fn(move |_| {
                                    spin(Duration::from_micros(30));
                                    r3.fetch_add(1, SeqCst);
                                })
                                .with_priority(shape.q),
                            );
                        }
                    };
                    match shape.x_mode {
                        0 => {
                            let c2 = Counter::new();
                            spawn_kids(cx, &c2);
                            wait_mode(&s2, &c2, 0, Priority::Low);
                        }
                        1 => {
                            let c2 = Counter::new();
                            spawn_kids(cx, &c2);
                            wait_mode(&s2, &c2, 1, shape.q);
                        }
                        _ => {
                            let c2 = Counter::new();
                            cx.join(
                                |cx| {
                                    spawn_kids(cx, &c2);
                                    wait_mode(&s2, &c2, 3, Priority::Low);
                                },
                                |_| spin(Duration::from_micros(50)),
                            );
                        }
                    }
                })
                .with_priority(shape.p),
            );
            wait_mode(&s, &c, shape.l_mode, shape.l_lowest);
        })
        .with_priority(Priority::Low),
    );
    if poll_until(3, || done.is_zero()) {
        return None;
    }
    let ran = ran.load(SeqCst);
    Some(format!(
        "{shape:?}: grandchildren run {ran}; {}",
        probe_stall(system, &done)
    ))
}

/// The brief's mix, structured so that no deadlock is legal: a Low job waiting (unlimited,
/// limited to Normal or High; untimed, a loop of short timed waits, or one long timed wait)
/// for a child of any priority that blocks a while and then spawns Low/Normal/High
/// grandchildren and waits for them (or joins); 1 to 8 workers sleeping at once, caps 1, 2,
/// `usize::MAX`, the main thread helping or not (it only polls). 500 rounds, each a fresh
/// system. No round may stall.
#[test]
fn low_jobs_waiting_for_children_on_other_workers_never_strand() {
    watchdog(240, || {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut stalls = Vec::new();
        let rounds = 500;
        let mut tried = 0;
        while tried < rounds {
            let workers = 1 + rng.below(8) as usize;
            let shape = Shape {
                workers,
                help: rng.below(2) == 0,
                cap: [1, 2, usize::MAX][rng.below(3) as usize],
                p: rng.priority(),
                l_lowest: rng.priority(),
                l_mode: rng.below(4),
                q: rng.priority(),
                x_mode: rng.below(3),
                kids: 1 + rng.below(4) as usize,
                sleep_us: rng.below(1500),
            };
            // Legal shapes only. L's thread may run only priorities at or above `l_lowest`
            // (its nested jobs too). A single worker must be able to run everything itself.
            // (`index`: High 0, Normal 1, Low 2; a larger index is a lower priority.)
            let needs_other = shape.p.index() > shape.l_lowest.index()
                || shape.q.index() > shape.l_lowest.index();
            if workers == 1 && needs_other {
                continue;
            }
            // X limited to Q (mode 1) with X run on top of L's narrower wait is fine: the kids
            // go to another thread.
            tried += 1;
            if let Some(stall) = structured_round(shape) {
                stalls.push(format!("round {tried}: {stall}"));
            }
        }
        assert!(
            stalls.is_empty(),
            "{} of {rounds} rounds stalled:\n{stalls:#?}",
            stalls.len()
        );
    });
}

/// A random tree per round: Low roots (1 to 3) whose descendants, of random priorities, are
/// leaves, spawn-and-wait nodes (unlimited, or a loop of short timed waits), `join` nodes, or
/// nodes that block (sleep) and then spawn detached counted jobs. Roots wait limited (Normal or
/// High) only when more workers than roots exist (so one thread is never narrowed); otherwise
/// they wait unlimited. 1 to 8 workers sleeping at once, caps 1, 2, `usize::MAX`. 300 rounds.
#[test]
fn random_low_trees_with_limited_and_timed_waits_never_strand() {
    fn node(
        s: Arc<JobSystem>,
        all: Counter,
        depth: u32,
        seed: u64,
        lowest: Priority,
    ) -> Box<dyn FnOnce(&mut jobs::Context<'_>) + Send + 'static> {
        Box::new(move |cx| {
            let mut rng = Rng(seed | 1);
            let kind = if depth == 0 { 0 } else { rng.below(4) };
            match kind {
                0 => spin(Duration::from_micros(rng.below(40))),
                1 => {
                    let c = Counter::new();
                    for _ in 0..1 + rng.below(3) {
                        let p = rng.priority();
                        let child =
                            node(s.clone(), all.clone(), depth - 1, rng.next(), Priority::Low);
                        cx.spawn_job_counted(&c, Job::from_fn(child).with_priority(p));
                    }
                    wait_mode(&s, &c, [0, 1, 2][rng.below(3) as usize], lowest);
                }
                2 => {
                    let (sa, sb) = (rng.next(), rng.next());
                    let (s1, a1) = (s.clone(), all.clone());
                    let (s2, a2) = (s.clone(), all.clone());
                    cx.join(
                        move |cx| node(s1, a1, depth - 1, sa, Priority::Low)(cx),
                        move |cx| node(s2, a2, depth - 1, sb, Priority::Low)(cx),
                    );
                }
                _ => {
                    std::thread::sleep(Duration::from_micros(rng.below(1000)));
                    for _ in 0..1 + rng.below(3) {
                        let p = rng.priority();
                        let child =
                            node(s.clone(), all.clone(), depth - 1, rng.next(), Priority::Low);
                        cx.spawn_job_counted(&all, Job::from_fn(child).with_priority(p));
                    }
                }
            }
        })
    }

    watchdog(240, || {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let rounds = 300;
        let mut stalls = Vec::new();
        for round in 0..rounds {
            let workers = 1 + rng.below(8) as usize;
            let help = rng.below(2) == 0;
            let cap = [1, 2, usize::MAX][rng.below(3) as usize];
            let roots = 1 + rng.below(3) as usize;
            let system = sleepy(workers, help, cap);
            let all = system.counter();
            let mut limits = Vec::new();
            for _ in 0..roots {
                // Roots are spawn-and-wait nodes; their waits are limited only when legal.
                let lowest = if workers > roots {
                    [Priority::Low, Priority::Normal, Priority::High][rng.below(3) as usize]
                } else {
                    Priority::Low
                };
                limits.push(lowest);
                let (s, a, seed) = (system.clone(), all.clone(), rng.next());
                system.submit_counted(
                    &all,
                    Job::from_fn(move |cx| {
                        let mut r = Rng(seed | 1);
                        let c = Counter::new();
                        for _ in 0..1 + r.below(3) {
                            let p = r.priority();
                            let child = node(s.clone(), a.clone(), 2, r.next(), Priority::Low);
                            cx.spawn_job_counted(&c, Job::from_fn(child).with_priority(p));
                        }
                        // Untimed (mode 2) or a long timed wait (mode 3): stranding shows.
                        wait_mode(&s, &c, 2 + r.below(2), lowest);
                    })
                    .with_priority(Priority::Low),
                );
            }
            if !poll_until(3, || all.is_zero()) {
                stalls.push(format!(
                    "round {round}: workers {workers}, help {help}, cap {cap}, roots {limits:?}: {}",
                    probe_stall(system, &all)
                ));
            }
        }
        assert!(
            stalls.is_empty(),
            "{} of {rounds} rounds stalled:\n{stalls:#?}",
            stalls.len()
        );
    });
}

/// Jobs that block (sleep) and then spawn work for workers that have all gone to sleep, while
/// other workers sit in waits limited to High inside Low jobs with the only slot lent: the
/// spawned work (Normal and Low) must run promptly on the idle workers. 200 rounds.
#[test]
fn work_spawned_after_a_block_reaches_sleeping_workers_past_limited_waiters() {
    watchdog(WATCH, || {
        let mut stalls = Vec::new();
        for round in 0..200 {
            let workers = 3 + round % 4;
            let cap = [1, 2, usize::MAX][round % 3];
            let system = sleepy(workers, false, cap);
            let hold = held_open(&system);
            let waiting = Arc::new(AtomicUsize::new(0));
            let waiters = system.counter();
            // One or two Low jobs in waits limited to High on a counter held open.
            let n_wait = 1 + round % 2;
            for _ in 0..n_wait {
                let (s, h, w) = (system.clone(), hold.clone(), waiting.clone());
                system.submit_counted(
                    &waiters,
                    Job::from_fn(move |_| {
                        w.fetch_add(1, SeqCst);
                        let o = WaitOptions::new()
                            .lowest_priority(Priority::High)
                            .timeout(Duration::from_secs(20));
                        assert!(s.wait_with(&h, o).unwrap());
                    })
                    .with_priority(Priority::Low),
                );
            }
            let expected = if cap == 1 { 1 } else { n_wait };
            assert!(poll_until(10, || waiting.load(SeqCst) >= expected));
            let done = system.counter();
            let d = done.clone();
            let ran = Arc::new(AtomicUsize::new(0));
            let r = ran.clone();
            system.submit_counted(
                &done,
                Job::from_fn(move |cx| {
                    std::thread::sleep(Duration::from_millis(2));
                    for i in 0..6 {
                        let r = r.clone();
                        let p = if i % 2 == 0 {
                            Priority::Low
                        } else {
                            Priority::Normal
                        };
                        cx.spawn_job_counted(
                            &d,
                            Job::from_fn(move |_| {
                                spin(Duration::from_micros(200));
                                r.fetch_add(1, SeqCst);
                            })
                            .with_priority(p),
                        );
                    }
                })
                .with_priority(Priority::Normal),
            );
            if !poll_until(3, || done.is_zero()) {
                let ran = ran.load(SeqCst);
                assert_eq!(system.run_pinned(), Ok(1));
                stalls.push(format!(
                    "round {round}: workers {workers}, cap {cap}, {n_wait} limited waiters, ran \
                     {ran} of 6: {}",
                    probe_stall(system, &done)
                ));
                continue;
            }
            assert_eq!(system.run_pinned(), Ok(1));
            poll_zero(&waiters, 10);
        }
        assert!(
            stalls.is_empty(),
            "{} of 200 rounds stalled:\n{stalls:#?}",
            stalls.len()
        );
    });
}

// ---------------------------------------------------------------------------------------------
// 3. Shutdown while workers are in timed or limited waits
// ---------------------------------------------------------------------------------------------

/// The last `Arc<JobSystem>` is let go inside jobs (a detached shutdown from a worker) after
/// every worker's timed wait (300 ms, each form) gave up: every wait `Ok(false)` at its
/// deadline, and the system goes away.
#[test]
fn the_last_handle_let_go_in_jobs_after_timed_waits() {
    watchdog(WATCH, || {
        let mut bad = Vec::new();
        for form in [Form::WaitTimeout, Form::WithUntil, Form::LimitedHigh] {
            for workers in [1, 2, 4] {
                let system = sleepy(workers, false, 1);
                let hold = held_open(&system);
                let waiting = Arc::new(AtomicUsize::new(0));
                let results = Arc::new(Mutex::new(Vec::new()));
                for _ in 0..workers {
                    let (s, h, w, r) = (
                        system.clone(),
                        hold.clone(),
                        waiting.clone(),
                        results.clone(),
                    );
                    system.submit(Job::from_fn(move |_| {
                        w.fetch_add(1, SeqCst);
                        let t = Instant::now();
                        let ok = form.wait(&s, &h, Duration::from_millis(300));
                        r.lock().unwrap().push((ok, t.elapsed()));
                    }));
                }
                assert!(poll_until(10, || waiting.load(SeqCst) == workers));
                let weak = Arc::downgrade(&system);
                let t = Instant::now();
                drop(system);
                let gone = poll_until(10, || weak.strong_count() == 0);
                let took = t.elapsed();
                let results = results.lock().unwrap().clone();
                if !gone
                    || took > Duration::from_secs(3)
                    || results.len() != workers
                    || results
                        .iter()
                        .any(|(ok, el)| *ok || *el < Duration::from_millis(300))
                {
                    bad.push(format!(
                        "{form:?}, {workers} workers: gone {gone} after {took:?}, waits \
                         {results:?}"
                    ));
                }
            }
        }
        assert!(bad.is_empty(), "{bad:#?}");
    });
}

/// A wake-up that lands on a timed wait just as it ends (its deadline, or its counter reaching
/// zero) must be passed on: worker A waits inside a job (2 ms deadline, plain, limited to High,
/// or untimed on a counter the test releases) and afterwards blocks its thread for 150 ms;
/// worker B is idle and asleep; a job submitted from outside at a random moment around the end
/// of A's wait must run on B well before A is free again. Caps 2 and `usize::MAX` (a Low job
/// with the only slot held by A would rightly wait). 240 rounds.
#[test]
fn a_wake_landing_on_a_timed_wait_as_it_ends_is_passed_on() {
    watchdog(WATCH, || {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let mut late = Vec::new();
        for round in 0..240 {
            let variant = round % 4;
            let priority = [Priority::Normal, Priority::Low, Priority::High][rng.below(3) as usize];
            let cap = if rng.below(2) == 0 { 2 } else { usize::MAX };
            let system = sleepy(2, false, cap);
            let hold = held_open(&system);
            let waiting = Arc::new(AtomicBool::new(false));
            let done = system.counter();
            let (s, h, w) = (system.clone(), hold.clone(), waiting.clone());
            let a_priority = if rng.below(2) == 0 {
                Priority::Low
            } else {
                Priority::Normal
            };
            system.submit_counted(
                &done,
                Job::from_fn(move |_| {
                    w.store(true, SeqCst);
                    let ms2 = Duration::from_millis(2);
                    let _ = match variant {
                        0 => s.wait_timeout(&h, ms2),
                        1 => s.wait_with(
                            &h,
                            WaitOptions::new()
                                .lowest_priority(Priority::High)
                                .timeout(ms2),
                        ),
                        2 => s.wait_with(&h, WaitOptions::new().until(Instant::now() + ms2)),
                        _ => s.wait_timeout(&h, Duration::from_secs(10)),
                    };
                    std::thread::sleep(Duration::from_millis(150));
                })
                .with_priority(a_priority),
            );
            assert!(poll_until(10, || waiting.load(SeqCst)));
            let offset = Duration::from_micros(rng.below(4000));
            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            if variant == 3 {
                std::thread::sleep(Duration::from_millis(2));
                assert_eq!(system.run_pinned(), Ok(1));
                spin(offset / 4);
            } else {
                spin(offset);
            }
            let t0 = Instant::now();
            system.submit(Job::from_fn(move |_| r.store(true, SeqCst)).with_priority(priority));
            let ok = poll_until(2, || ran.load(SeqCst));
            let took = t0.elapsed();
            if !ok || took > Duration::from_millis(100) {
                late.push(format!(
                    "round {round}: variant {variant}, A {a_priority:?}, new {priority:?}, cap \
                     {cap}, offset {offset:?}: ran {ok} after {took:?}"
                ));
            }
            if variant != 3 {
                assert_eq!(system.run_pinned(), Ok(1));
            }
            poll_zero(&done, 10);
        }
        assert!(
            late.is_empty(),
            "{} of 240 rounds late:\n{late:#?}",
            late.len()
        );
    });
}

//! `loom` models of the sleep protocol. Workers behave as real ones do: take jobs while there
//! are some, otherwise sleep, and leave only on `Wake::Done`. The publisher pushes jobs and
//! waits (yielding) until every job was taken, then shuts down. A lost wake-up leaves a job in
//! the queue with every worker asleep: the publisher then spins forever, which loom reports (as
//! exceeding its branch limit), and a shutdown that hangs shows up as a deadlock.
//!
//! The stand-in queue is pushed with a read-modify-write, as the real one is (the injector's push
//! is a compare-and-swap on its tail). Pushing with a plain `store` would trip a quirk of loom
//! 0.7.3: a read-modify-write on another thread may read a value older than a plain store that
//! precedes it in modification order (`store(1)` on one thread, `fetch_add(0)` on another, and
//! the storing thread then loads 0), which reports deadlocks that cannot happen.

use super::{InWait, Seen, Sleep, Wake};
use crate::sync::protocol::lock;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// Takes one job from the stand-in queue if it holds any (one try, as a worker's look).
fn take_one(queue: &AtomicUsize) -> bool {
    let n = queue.load(Ordering::Relaxed);
    n > 0
        && queue
            .compare_exchange(n, n - 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
}

/// `workers` workers against one publisher of `jobs` jobs.
fn model(workers: usize, jobs: usize) {
    loom::model(move || {
        let sleep = Arc::new(Sleep::new(workers));
        let queue = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..workers)
            .map(|me| {
                let (sleep, queue, taken) = (sleep.clone(), queue.clone(), taken.clone());
                thread::spawn(move || {
                    sleep.start_looking();
                    loop {
                        if take_one(&queue) {
                            taken.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if sleep.sleep(me, || queue.load(Ordering::Relaxed) > 0, || true)
                            == Wake::Done
                        {
                            return;
                        }
                    }
                })
            })
            .collect();
        for _ in 0..jobs {
            queue.fetch_add(1, Ordering::Release);
            sleep.notify(1);
        }
        while taken.load(Ordering::Relaxed) < jobs {
            thread::yield_now();
        }
        sleep.terminate();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(queue.load(Ordering::Relaxed), 0);
    });
}

/// One worker going to sleep while one job is published.
#[test]
fn no_lost_wake_up() {
    model(1, 1);
}

/// Two workers, two jobs published one at a time.
#[test]
fn every_job_is_taken() {
    model(2, 2);
}

/// Shutdown while a worker is asleep or going to sleep: it always exits.
#[test]
fn terminate_wakes_sleepers() {
    model(2, 0);
}

/// A worker pushes onto its own empty deque (a plain release store, as the Chase-Lev push is)
/// and then keeps running a long step; the other worker is going to sleep at that moment. The
/// pusher fences and reads the hints, the sleeper announces itself, fences and looks at every
/// deque: one of them sees the other, so the job is never stranded with a worker asleep.
#[test]
fn push_onto_own_deque_wakes_a_sleeper() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2));
        let deque = Arc::new(AtomicUsize::new(0));
        let sleeper = {
            let (sleep, deque) = (sleep.clone(), deque.clone());
            thread::spawn(move || {
                sleep.start_looking();
                loop {
                    if deque
                        .compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        sleep.stop_looking();
                        return;
                    }
                    if sleep.sleep(0, || deque.load(Ordering::Relaxed) > 0, || true) == Wake::Done {
                        return;
                    }
                }
            })
        };
        // Worker 1 pushes (as `Local::push` onto an empty deque, then `announce`)...
        deque.store(1, Ordering::Release);
        loom::sync::atomic::fence(Ordering::SeqCst);
        let (looking, sleeping) = sleep.hints();
        if sleeping > 0 && looking == 0 {
            sleep.notify(1);
        }
        // ...and runs a long step: it never takes the job back. Worker 0 must take it.
        while deque.load(Ordering::Relaxed) != 0 {
            thread::yield_now();
        }
        sleep.terminate();
        sleeper.join().unwrap();
    });
}

/// A worker waiting inside a job sleeps in the protocol with the counter's end as its "work";
/// the job that brings the counter to zero wakes it by index (`Sleep::wake_worker`). The wake
/// may come before, during or after the worker goes to sleep: it is never lost.
#[test]
fn counter_wakes_a_worker_waiting_inside_a_job() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1));
        let counter = Arc::new(AtomicUsize::new(1));
        let waiter = {
            let (sleep, counter) = (sleep.clone(), counter.clone());
            thread::spawn(move || {
                sleep.start_looking();
                while counter.load(Ordering::Acquire) != 0 {
                    let wake = sleep.sleep(0, || counter.load(Ordering::Acquire) == 0, || false);
                    assert_eq!(wake, Wake::Look);
                }
                sleep.stop_looking();
            })
        };
        // The last job of the counter finishes: decrement, then wake the registered waiter.
        counter.fetch_sub(1, Ordering::AcqRel);
        sleep.wake_worker(0);
        waiter.join().unwrap();
    });
}

/// A worker waiting inside a job (index 0, the first a publisher wakes) and an idle worker
/// (index 1) sleep; a publisher pushes a job and wakes one sleeper just as the wait's round
/// ends. The waiter, woken by either, sees its round over and goes back to its job (here: a
/// long step) without looking for work: if the publisher's wake was the one it took, it must
/// pass the wake on, or the job stays queued with the idle worker asleep. (A wait with a
/// deadline that passes is the same race: `loom` 0.7 cannot time a wait out, so it is modelled
/// by the round's end.)
///
/// Once the waiter is back in its job and the publisher is done, the idle worker is the only
/// one looking: asleep after its last look under the lock found nothing, with the job queued,
/// nothing would wake it before the job's step is over. The publisher checks for that state
/// under the lock, then ends the step and shuts down (either would drain the job and hide the
/// loss) and reports it.
fn wake_lands_on_a_wait_that_ends(pass_on: bool) {
    loom::model(move || {
        let sleep = Arc::new(Sleep::new(2));
        let queue = Arc::new(AtomicUsize::new(0));
        let ended = Arc::new(AtomicUsize::new(0));
        // Whether the idle worker's last look under the lock found no work (written under it).
        let saw_none = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (sleep, queue, ended) = (sleep.clone(), queue.clone(), ended.clone());
            thread::spawn(move || {
                sleep.start_looking();
                let mut slept = false;
                // `help_until`: look, sleep while nothing to run and the round goes on.
                while ended.load(Ordering::Acquire) == 0 {
                    if take_one(&queue) {
                        continue;
                    }
                    slept = true;
                    let has_work =
                        || queue.load(Ordering::Relaxed) > 0 || ended.load(Ordering::Acquire) != 0;
                    assert_eq!(sleep.sleep(0, has_work, || false), Wake::Look);
                }
                sleep.stop_looking();
                // `Shared::pass_on_wake`.
                if pass_on && slept && queue.load(Ordering::Relaxed) > 0 {
                    sleep.notify(1);
                }
                // Back in its job, which runs on: it takes no more work until the publisher
                // has looked for a stranded job.
            })
        };
        let idle = idle_worker(&sleep, &queue, 1, Some(&saw_none));
        // The round ends (the counter wakes its registered waiter by index)...
        let ender = {
            let (sleep, ended) = (sleep.clone(), ended.clone());
            thread::spawn(move || {
                ended.store(1, Ordering::Release);
                sleep.wake_worker(0);
            })
        };
        // ...while a job is published.
        queue.fetch_add(1, Ordering::Release);
        sleep.notify(1);
        ender.join().unwrap();
        waiter.join().unwrap();
        let lost = stranded(&sleep, &queue, &saw_none, &[]);
        // The job's step is over: worker 0 is an idle worker again, until shutdown.
        let worker = idle_worker(&sleep, &queue, 0, None);
        sleep.terminate();
        worker.join().unwrap();
        idle.join().unwrap();
        assert!(
            !lost,
            "a wake-up was lost: the job stayed queued with its worker asleep"
        );
    });
}

#[test]
fn a_wake_that_lands_on_an_ending_wait_is_passed_on() {
    wake_lands_on_a_wait_that_ends(true);
}

/// The model catches the stranded job without the pass-on.
#[test]
#[should_panic(expected = "a wake-up was lost")]
fn sleep_model_catches_a_wake_lost_on_an_ending_wait() {
    wake_lands_on_a_wait_that_ends(false);
}

/// A worker waiting inside a job limited to higher priorities (index 0) is looking, about to
/// sleep, as a Low job is pushed onto a busy worker's own deque; an idle worker (index 1)
/// sleeps. The pusher sees someone looking and wakes nobody (`Local::announce`), but the looker
/// may not take the job: its look before sleeping sees work beyond what it may take and wakes a
/// sleeper of a higher rank (README.md, *Ranks*). Without that, the job stays queued with the
/// idle worker asleep (`lost` as in `wake_lands_on_a_wait_that_ends`).
fn limited_looker(wakes_above: bool) {
    loom::model(move || {
        let sleep = Arc::new(Sleep::new(2));
        let queue = Arc::new(AtomicUsize::new(0));
        let ended = Arc::new(AtomicUsize::new(0));
        let saw_none = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (sleep, queue, ended) = (sleep.clone(), queue.clone(), ended.clone());
            thread::spawn(move || {
                sleep.start_looking();
                let limited = InWait::new(None, 2, false);
                let look = || {
                    if ended.load(Ordering::Acquire) != 0 {
                        Seen::Work
                    } else if queue.load(Ordering::Relaxed) > 0 && wakes_above {
                        Seen::Beyond
                    } else {
                        Seen::Nothing
                    }
                };
                while ended.load(Ordering::Acquire) == 0 {
                    assert_eq!(sleep.sleep_as(0, limited, look, || false), Wake::Look);
                }
                sleep.stop_looking();
            })
        };
        let idle = idle_worker(&sleep, &queue, 1, Some(&saw_none));
        // A busy worker pushes onto its own empty deque and announces it (`Local::announce`).
        queue.fetch_add(1, Ordering::Release);
        loom::sync::atomic::fence(Ordering::SeqCst);
        let (looking, sleeping) = sleep.hints();
        if sleeping > 0 && looking == 0 {
            sleep.notify(1);
        }
        // The job is taken, or stranded: the idle worker asleep after a look that found
        // nothing, and the waiter asleep too (nobody else will wake either).
        let lost = stranded(&sleep, &queue, &saw_none, &[0]);
        // The wait ends; worker 0 is an idle worker again, until shutdown.
        ended.store(1, Ordering::Release);
        sleep.wake_worker(0);
        waiter.join().unwrap();
        let worker = idle_worker(&sleep, &queue, 0, None);
        sleep.terminate();
        worker.join().unwrap();
        idle.join().unwrap();
        assert!(
            !lost,
            "a wake-up was lost: the job stayed queued with its worker asleep"
        );
    });
}

/// Worker `me` taking jobs from `queue` and sleeping while there are none, until shutdown;
/// with `saw_none`, it records there whether its last look under the sleep lock found no job.
fn idle_worker(
    sleep: &Arc<Sleep>,
    queue: &Arc<AtomicUsize>,
    me: usize,
    saw_none: Option<&Arc<AtomicUsize>>,
) -> thread::JoinHandle<()> {
    let (sleep, queue, saw_none) = (sleep.clone(), queue.clone(), saw_none.cloned());
    thread::spawn(move || {
        sleep.start_looking();
        loop {
            if take_one(&queue) {
                continue;
            }
            let record = |found: bool| {
                if let Some(saw_none) = &saw_none {
                    saw_none.store(usize::from(!found), Ordering::Relaxed);
                }
            };
            record(true);
            let has_work = || {
                let found = queue.load(Ordering::Relaxed) > 0;
                record(found);
                found
            };
            if sleep.sleep(me, has_work, || true) == Wake::Done {
                return;
            }
        }
    })
}

/// Waits (yielding) until the job in `queue` is taken, or stranded: the watched idle worker
/// (index 1) asleep after a look under the lock that found nothing, with the sleepers `also`
/// asleep too, and nobody else left to wake them. Under the lock, so the state it reads is one
/// the sleepers left.
fn stranded(sleep: &Sleep, queue: &AtomicUsize, saw_none: &AtomicUsize, also: &[usize]) -> bool {
    loop {
        {
            let state = lock(&sleep.lock);
            if queue.load(Ordering::Relaxed) == 0 {
                return false;
            }
            if state.asleep[1]
                && saw_none.load(Ordering::Relaxed) == 1
                && also.iter().all(|&other| state.asleep[other])
            {
                return true;
            }
        }
        thread::yield_now();
    }
}

#[test]
fn a_limited_looker_wakes_a_sleeper_for_work_it_may_not_take() {
    limited_looker(true);
}

/// The model catches the stranded job when the looker does not wake a higher rank.
#[test]
#[should_panic(expected = "a wake-up was lost")]
fn sleep_model_catches_a_limited_looker_keeping_a_wake() {
    limited_looker(false);
}

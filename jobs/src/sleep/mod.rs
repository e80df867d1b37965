#![doc = include_str!("README.md")]

use crossbeam_utils::CachePadded;

use std::time::Instant;

use crate::sync::protocol::{
    fence, lock, wait, wait_timeout, AtomicUsize, Condvar, Mutex, Ordering,
};

#[cfg(all(test, loom))]
mod loom;

/// The sleep/wake protocol of one job system's workers.
pub(crate) struct Sleep {
    /// Workers asleep: a hint for publishers; changed only under `lock`.
    sleeping: CachePadded<AtomicUsize>,
    /// Workers awake and looking for work: a hint for workers that could share.
    idle: CachePadded<AtomicUsize>,
    lock: Mutex<State>,
    /// One per worker, waited on with `lock`.
    wakers: Vec<Condvar>,
}

struct State {
    asleep: Vec<bool>,
    /// Workers that take part: all of them, unless some failed to start.
    workers: usize,
    terminating: bool,
    done: bool,
}

/// Why [`Sleep::sleep`] returned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Work appeared before the worker went to sleep, or a publisher woke it: look again.
    Look,
    /// The system shut down: the worker exits.
    Done,
}

impl Sleep {
    pub(crate) fn new(workers: usize) -> Self {
        Sleep {
            sleeping: CachePadded::new(AtomicUsize::new(0)),
            idle: CachePadded::new(AtomicUsize::new(0)),
            lock: Mutex::new(State {
                asleep: vec![false; workers],
                workers,
                terminating: false,
                done: false,
            }),
            wakers: (0..workers).map(|_| Condvar::new()).collect(),
        }
    }

    /// `(looking, asleep)` worker counts, as hints (relaxed loads).
    #[inline]
    pub(crate) fn hints(&self) -> (usize, usize) {
        (
            self.idle.load(Ordering::Relaxed),
            self.sleeping.load(Ordering::Relaxed),
        )
    }

    /// The worker ran out of work and starts looking.
    pub(crate) fn start_looking(&self) {
        self.idle.fetch_add(1, Ordering::Relaxed);
    }

    /// The worker found work while looking.
    pub(crate) fn stop_looking(&self) {
        self.idle.fetch_sub(1, Ordering::Relaxed);
    }

    /// Puts worker `me` (which is looking) to sleep until a publisher wakes it, unless
    /// `has_work` finds work after it announced itself. `may_finish` tells whether the system
    /// could shut down now (no blocking request in flight). Returns with the worker looking again.
    pub(crate) fn sleep(
        &self,
        me: usize,
        has_work: impl FnMut() -> bool,
        may_finish: impl Fn() -> bool,
    ) -> Wake {
        self.sleep_until(me, None, has_work, may_finish)
    }

    /// [`sleep`](Self::sleep), and with a `deadline`, wakes itself when it passes (a worker
    /// waiting inside a job with a deadline: woken for new work like any sleeper, and at its
    /// deadline). A publisher's wake may land on a sleeper whose deadline has just passed, which
    /// then leaves without looking: the caller passes it on (README.md, *Waiting inside a job*).
    pub(crate) fn sleep_until(
        &self,
        me: usize,
        deadline: Option<Instant>,
        mut has_work: impl FnMut() -> bool,
        may_finish: impl Fn() -> bool,
    ) -> Wake {
        {
            let mut state = lock(&self.lock);
            if state.done {
                return Wake::Done;
            }
            state.asleep[me] = true;
            // AcqRel read-modify-write, paired with the one in `notify`: either the publisher's
            // comes first, and then this one acquires its push, so the re-check below sees the
            // job; or this one comes first, and the publisher reads `sleeping > 0` (README.md).
            self.sleeping.fetch_add(1, Ordering::AcqRel);
            self.idle.fetch_sub(1, Ordering::Relaxed);
        }
        // SeqCst fence, paired with the one a worker makes after pushing onto an empty deque of
        // its own (`executor/local.rs`): either that worker's look at the hints sees this one asleep, or
        // the look at every deque below sees its job (README.md).
        fence(Ordering::SeqCst);
        let mut state = lock(&self.lock);
        if has_work() {
            // Back to looking, unless a publisher already woke us (and counted us looking).
            if state.asleep[me] {
                self.wake(&mut state.asleep[me]);
            }
            return Wake::Look;
        }
        while state.asleep[me] && !state.done {
            if state.terminating
                && self.sleeping.load(Ordering::Relaxed) == state.workers
                && may_finish()
                && !has_work()
            {
                state.done = true;
                self.wake_all(&mut state);
                break;
            }
            match deadline {
                None => state = wait(&self.wakers[me], state),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        // Wakes itself, as a publisher would (and under the same lock).
                        self.wake(&mut state.asleep[me]);
                        break;
                    }
                    state = wait_timeout(&self.wakers[me], state, deadline - now);
                }
            }
        }
        // Whoever cleared our flag counted us as looking again.
        if state.done {
            Wake::Done
        } else {
            Wake::Look
        }
    }

    /// Wakes up to `count` sleeping workers. Call after publishing work.
    pub(crate) fn notify(&self, count: usize) {
        // A read-modify-write, not a load: it reads the latest value and releases the push that
        // came before it, pairing with the one in `sleep` (README.md).
        if self.sleeping.fetch_add(0, Ordering::AcqRel) == 0 || count == 0 {
            return;
        }
        let mut woken = 0;
        let mut chosen = [usize::MAX; 4];
        {
            let mut state = lock(&self.lock);
            for (index, asleep) in state.asleep.iter_mut().enumerate() {
                if woken == count || woken == chosen.len() {
                    break;
                }
                if *asleep {
                    self.wake(asleep);
                    chosen[woken] = index;
                    woken += 1;
                }
            }
        }
        // Signalled after unlocking, so that the woken worker does not block on the lock the
        // publisher still holds. Nothing is lost: the flag, cleared under the lock, is what the
        // worker waits on.
        for &index in &chosen[..woken] {
            self.wakers[index].notify_one();
        }
        if woken == chosen.len() && count > woken {
            self.notify(count - woken);
        }
    }

    /// Wakes worker `index` if it is asleep (a counter it waits on inside a job reached zero).
    pub(crate) fn wake_worker(&self, index: usize) {
        let woken = {
            let mut state = lock(&self.lock);
            let asleep = &mut state.asleep[index];
            if *asleep {
                self.wake(asleep);
            }
            !*asleep
        };
        if woken {
            self.wakers[index].notify_one();
        }
    }

    /// Only the first `started` workers exist (the others failed to start): shutdown waits for
    /// these alone to fall asleep.
    pub(crate) fn only_started(&self, started: usize) {
        let mut state = lock(&self.lock);
        state.workers = started.min(state.asleep.len());
    }

    /// Starts shutdown: every worker wakes, drains what it can see, and exits once all are idle.
    pub(crate) fn terminate(&self) {
        let mut state = lock(&self.lock);
        state.terminating = true;
        self.wake_all(&mut state);
    }

    #[cfg(loom)]
    /// Whether shutdown has finished (every worker is on its way out).
    pub(crate) fn is_done(&self) -> bool {
        lock(&self.lock).done
    }

    fn wake_all(&self, state: &mut State) {
        for (index, asleep) in state.asleep.iter_mut().enumerate() {
            if *asleep {
                self.wake(asleep);
            }
            self.wakers[index].notify_one();
        }
    }

    /// Moves a worker from asleep to looking (under the lock). It counts as looking from now,
    /// not from when its thread runs again, so that workers with private jobs share them with it
    /// at once instead of seeing nobody to share with for the length of a wake-up.
    fn wake(&self, asleep: &mut bool) {
        *asleep = false;
        self.sleeping.fetch_sub(1, Ordering::Relaxed);
        self.idle.fetch_add(1, Ordering::Relaxed);
    }
}

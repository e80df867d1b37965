#![doc = include_str!("README.md")]

use crossbeam_utils::CachePadded;

use std::time::Instant;

use crate::Priority;

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
    /// What the sleeper of each index may take ([`InWait::rank`]): publishers wake the sleepers
    /// of the highest rank first.
    rank: Vec<u8>,
    /// Workers that take part: all of them, unless some failed to start.
    workers: usize,
    terminating: bool,
    done: bool,
}

/// What a worker about to sleep sees in the queues ([`Sleep::sleep_as`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Work it may take (or, inside a wait, the end of what it waits for).
    Work,
    /// Only work it may not take: of a priority its wait does not run, or Low work while no
    /// slot for Low work is free.
    Beyond,
    /// No work.
    Nothing,
}

/// What a sleeping worker may take, and until when it sleeps ([`Sleep::sleep_as`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InWait {
    /// When the wait gives up: the sleeper wakes itself then.
    deadline: Option<Instant>,
    /// What the sleeper may take, in ranks that nest (a sleeper may take all that one of a
    /// lower rank may): a wait limited to the first `n` priorities ranks `n`; an idle worker, or
    /// a wait that may run every priority, ranks one more than the limited ones; one that also
    /// holds a slot for Low work (it may take a Low job when no slot is free) ranks highest.
    rank: u8,
}

impl InWait {
    /// The highest rank.
    const HIGHEST: u8 = Priority::ALL.len() as u8 + 1;

    /// An idle worker: no deadline, takes every priority while a slot for Low work is free.
    pub(crate) const IDLE: InWait = InWait {
        deadline: None,
        rank: Priority::ALL.len() as u8,
    };

    /// A wait until `deadline` (if any) by a thread that may run the first `runs` priorities,
    /// and holds a slot for Low work if `holds_slot`.
    pub(crate) fn new(deadline: Option<Instant>, runs: usize, holds_slot: bool) -> InWait {
        let all = Priority::ALL.len();
        let rank = match runs.min(all) {
            runs if runs < all => runs,
            _ if holds_slot => all + 1,
            _ => all,
        };
        InWait {
            deadline,
            // At most `Priority::ALL.len() + 1`.
            rank: rank as u8,
        }
    }
}

/// Why [`Sleep::sleep_as`] returned.
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
                rank: vec![InWait::IDLE.rank; workers],
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

    /// [`sleep_as`](Self::sleep_as) for an idle worker that sees work or none (the models).
    #[cfg(all(test, loom))]
    pub(crate) fn sleep(
        &self,
        me: usize,
        mut has_work: impl FnMut() -> bool,
        may_finish: impl Fn() -> bool,
    ) -> Wake {
        let look = || {
            if has_work() {
                Seen::Work
            } else {
                Seen::Nothing
            }
        };
        self.sleep_as(me, InWait::IDLE, look, may_finish)
    }

    /// Puts worker `me` (which is looking) to sleep until a publisher wakes it, unless `look`
    /// finds work it may take after it announced itself; it sleeps as one that may take what
    /// `inside` says (an idle worker: [`InWait::IDLE`]). If `look` finds only work it may not
    /// take, it wakes a sleeper that may take more (README.md, *Ranks*): a publisher may have
    /// left the work to it, as it was looking then. `may_finish` tells whether the system could
    /// shut down now (no blocking request in flight). Returns with the worker looking again.
    ///
    /// A worker waiting inside a job may sleep with a deadline, and wakes itself when that
    /// passes; it may leave without looking for work (its round over, its deadline passed): the caller
    /// then passes the wake on (`Shared::pass_on_wake`).
    pub(crate) fn sleep_as(
        &self,
        me: usize,
        inside: InWait,
        mut look: impl FnMut() -> Seen,
        may_finish: impl Fn() -> bool,
    ) -> Wake {
        let InWait { deadline, rank } = inside;
        {
            let mut state = lock(&self.lock);
            if state.done {
                return Wake::Done;
            }
            state.asleep[me] = true;
            state.rank[me] = rank;
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
        match look() {
            Seen::Work => {
                // Back to looking, unless a publisher already woke us (and counted us looking).
                if state.asleep[me] {
                    self.wake(&mut state.asleep[me]);
                }
                return Wake::Look;
            }
            Seen::Beyond => self.wake_above(&mut state, rank),
            Seen::Nothing => {}
        }
        while state.asleep[me] && !state.done {
            if state.terminating
                && self.sleeping.load(Ordering::Relaxed) == state.workers
                && may_finish()
                && look() != Seen::Work
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

    /// Wakes up to `count` sleeping workers. Call after publishing work. The sleepers that may
    /// take the most go first ([`InWait::rank`]): if the one woken may not take the work, no
    /// sleeper may, and every thread that may is awake and looks before it sleeps (README.md,
    /// *Ranks*).
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
            let State { asleep, rank, .. } = &mut *state;
            for wanted in (0..=InWait::HIGHEST).rev() {
                for (index, (asleep, &rank)) in asleep.iter_mut().zip(rank.iter()).enumerate() {
                    if woken == count || woken == chosen.len() {
                        break;
                    }
                    if *asleep && rank == wanted {
                        self.wake(asleep);
                        chosen[woken] = index;
                        woken += 1;
                    }
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

    /// Wakes one sleeper of a rank above `rank`, the highest first (under the lock).
    fn wake_above(&self, state: &mut State, rank: u8) {
        let State {
            asleep,
            rank: ranks,
            ..
        } = state;
        for wanted in (rank.saturating_add(1)..=InWait::HIGHEST).rev() {
            let found = asleep
                .iter()
                .zip(ranks.iter())
                .position(|(&asleep, &r)| asleep && r == wanted);
            if let Some(index) = found {
                self.wake(&mut asleep[index]);
                self.wakers[index].notify_one();
                return;
            }
        }
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

//! Background work: how many threads may run Low-priority jobs at once.
//!
//! A job is never interrupted: a thread that took a 1 ms Low job (streaming, AI, anything that
//! fills idle moments) cannot run a frame's jobs until it ends. Priorities alone keep such jobs
//! from starting while frame work waits; they cannot keep every thread from having started one
//! in an idle moment just before the frame's work arrives (between two frames, or while a
//! frame runs one long pass), which then waits for the first of them to end. So only
//! [`Config::low_priority_threads`](crate::Config::low_priority_threads) threads run Low jobs
//! at a time (by default all but one of the threads that run jobs, at least one): the others
//! are always free to pick up frame work at once.
//!
//! A thread holds one of the slots while it runs a Low job it took (`Local::run_while` takes
//! it for the job and its hand-overs, and gives it back after). Threads looking for work skip
//! the Low queues while no slot is free, so that a job is rarely taken only to be put back; if
//! the last slot went meanwhile, the job goes back to the queues. A thread that holds a slot
//! and waits inside its job (`JobSystem::wait`, a `join`) keeps it while the wait may run Low
//! jobs: it runs what it waits for itself if no other slot is free. A wait that may not (one
//! limited to Normal jobs and above, a thread that does not help, or one nested too deep to
//! help) lends the slot back for the wait, so that a Low job it waits for is not starved; at
//! the end it takes it back whatever the count (its job was running before), and only then may
//! more threads than the cap be inside Low jobs, until one of them ends its job. Jobs pinned to
//! a thread run there whatever the count (no other thread could run them). The count is a
//! scheduling policy, not a guarantee anything relies on for memory: relaxed atomics suffice.

use crate::sync::protocol::{AtomicUsize, Ordering};

/// The slots of the threads running Low-priority jobs (module docs).
pub(crate) struct BackgroundSlots {
    taken: AtomicUsize,
    limit: usize,
}

impl BackgroundSlots {
    /// `limit` slots, at least one.
    pub(crate) fn new(limit: usize) -> BackgroundSlots {
        BackgroundSlots {
            taken: AtomicUsize::new(0),
            limit: limit.max(1),
        }
    }

    /// How many threads may run Low jobs at once.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Whether a slot is free now (a snapshot, for a thread deciding whether to look at the
    /// Low queues).
    #[inline]
    pub(crate) fn any_free(&self) -> bool {
        self.taken.load(Ordering::Relaxed) < self.limit
    }

    /// Whether no thread holds a slot (a snapshot).
    pub(crate) fn none_taken(&self) -> bool {
        self.taken.load(Ordering::Relaxed) == 0
    }

    /// Takes a slot if one is free.
    pub(crate) fn try_take(&self) -> bool {
        let mut taken = self.taken.load(Ordering::Relaxed);
        while taken < self.limit {
            match self.taken.compare_exchange_weak(
                taken,
                taken + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => taken = now,
            }
        }
        false
    }

    /// Takes a slot whatever the count: a thread going back to the Low job it lent its slot
    /// for while it waited.
    pub(crate) fn take_back(&self) {
        self.taken.fetch_add(1, Ordering::Relaxed);
    }

    /// Gives a slot back.
    pub(crate) fn give_back(&self) {
        let before = self.taken.fetch_sub(1, Ordering::Relaxed);
        debug_assert!(before > 0, "a background slot given back twice");
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::BackgroundSlots;

    #[test]
    fn slots_are_taken_up_to_the_limit_and_given_back() {
        let slots = BackgroundSlots::new(2);
        assert!(slots.any_free());
        assert!(slots.try_take());
        assert!(slots.try_take());
        assert!(!slots.any_free());
        assert!(!slots.try_take(), "no third slot");
        slots.take_back();
        assert!(!slots.try_take(), "a slot taken back counts");
        slots.give_back();
        slots.give_back();
        assert!(slots.try_take(), "one free again");
        slots.give_back();
        slots.give_back();
        assert!(slots.any_free());
    }

    #[test]
    fn a_limit_of_zero_is_one() {
        let slots = BackgroundSlots::new(0);
        assert_eq!(slots.limit(), 1);
        assert!(slots.try_take());
        assert!(!slots.try_take());
    }

    #[test]
    fn a_limit_of_usize_max_never_refuses() {
        let slots = BackgroundSlots::new(usize::MAX);
        for _ in 0..1000 {
            assert!(slots.try_take());
        }
    }
}

/// The wake-up when a slot is given back: a worker that went to sleep because Low work waited
/// and every slot was taken must not sleep through the slot coming free (`Local::leave_background`
/// gives it back, then notifies; the sleeper counts Low work only while a slot is free,
/// `Shared::seen_by`). Run with the sleep models:
/// `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p jobs --release --lib background`.
#[cfg(all(test, loom))]
mod loom_models {
    use super::BackgroundSlots;
    use crate::sleep::{Sleep, Wake};
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn a_slot_given_back_wakes_a_worker_asleep_over_low_work() {
        loom::model(|| {
            let sleep = Arc::new(Sleep::new(1));
            let slots = Arc::new(BackgroundSlots::new(1));
            // The holder runs a Low job; one more waits in the queue.
            assert!(slots.try_take());
            let queue = Arc::new(AtomicUsize::new(1));
            let taken = Arc::new(AtomicUsize::new(0));
            let worker = {
                let (sleep, slots, queue, taken) =
                    (sleep.clone(), slots.clone(), queue.clone(), taken.clone());
                thread::spawn(move || {
                    sleep.start_looking();
                    loop {
                        // As `find_own_work`: the Low queue only with a slot.
                        if slots.any_free() && queue.load(Ordering::Relaxed) > 0 && slots.try_take()
                        {
                            queue.fetch_sub(1, Ordering::Relaxed);
                            taken.fetch_add(1, Ordering::Relaxed);
                            slots.give_back();
                            continue;
                        }
                        let has_work = || slots.any_free() && queue.load(Ordering::Relaxed) > 0;
                        if sleep.sleep(0, has_work, || true) == Wake::Done {
                            return;
                        }
                    }
                })
            };
            // The holder's Low job ends: as `Local::leave_background`.
            slots.give_back();
            sleep.notify(1);
            // A lost wake-up leaves the job queued with the worker asleep: this spins forever,
            // which loom reports.
            while taken.load(Ordering::Relaxed) < 1 {
                thread::yield_now();
            }
            sleep.terminate();
            worker.join().unwrap();
        });
    }
}

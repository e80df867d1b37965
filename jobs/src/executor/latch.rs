//! The latch a thread in [`Context::join`](crate::Context::join) waits on when another thread
//! took the second half of the join: set once by that thread when the half has run, and the
//! joining thread woken if it went to sleep.
//!
//! The latch lives in the joining thread's stack frame, which is gone as soon as that thread
//! sees the latch set. So the setter's **last** touch of the latch is the write that sets it:
//! it reads what it needs to wake the joiner *before*, and wakes it with its own copy after.
//!
//! States (one atomic word):
//! - `PENDING`: the half has not finished, the joiner is awake (running other jobs, or
//!   spinning);
//! - `SLEEPING`: the joiner stored how to wake it ([`Wakeup`](crate::counter::Wakeup): its
//!   worker index in the sleep protocol, or its `Thread`), then announced that it sleeps;
//! - `DONE`: the half has finished; its result is written (release), for the joiner to read
//!   (acquire).
//!
//! The joiner: `announce_sleep` writes the wake-up (the first time only: it never changes, so
//! the setter never reads it while it is written) and moves `PENDING` to `SLEEPING`, then
//! sleeps; woken (or spuriously), it `retract`s (`SLEEPING` back to `PENDING`) to look for work,
//! and returns as soon as either move finds `DONE`.
//!
//! The setter: moves `PENDING` to `DONE`; if it finds `SLEEPING`, it clones the wake-up (the
//! joiner cannot leave: the state is not `DONE`), then moves `SLEEPING` to `DONE` and wakes its
//! clone. If the joiner retracted in between, the second move fails and the setter starts over.
//! No wake-up is lost: a joiner that announced before the setter's move is woken by it, and one
//! that announces after finds `DONE` and does not sleep. The `loom` models below check both,
//! and that the result written before `set` is what the joiner reads.

use crate::sync::protocol::{lock, AtomicUsize, Mutex, Ordering};

const PENDING: usize = 0;
const SLEEPING: usize = 1;
const DONE: usize = 2;

/// A one-shot latch with a sleeping waiter (module docs). `W` is how the waiter is woken.
pub(crate) struct JoinLatch<W> {
    state: AtomicUsize,
    /// How to wake the joiner: written once, before the first `SLEEPING`; read by the setter
    /// only after it saw `SLEEPING`. Under a lock only so that `loom` can model it; it is never
    /// contended.
    wakeup: Mutex<Option<W>>,
}

impl<W: Clone> JoinLatch<W> {
    pub(crate) fn new() -> Self {
        JoinLatch {
            state: AtomicUsize::new(PENDING),
            wakeup: Mutex::new(None),
        }
    }

    /// Whether the latch is set; if so, what the setter wrote before is visible.
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// The joiner is about to sleep, to be woken with `wakeup()` (called the first time only).
    /// False if the latch is set already: do not sleep.
    pub(crate) fn announce_sleep(&self, wakeup: impl FnOnce() -> W) -> bool {
        {
            let mut slot = lock(&self.wakeup);
            if slot.is_none() {
                *slot = Some(wakeup());
            }
        }
        // Release: the wake-up written above is visible to a setter that sees `SLEEPING`.
        match self
            .state
            .compare_exchange(PENDING, SLEEPING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => {
                debug_assert_eq!(state, DONE, "only the joiner announces");
                false
            }
        }
    }

    /// The joiner woke up: awake again (to look for work) unless the latch is set (false).
    pub(crate) fn retract(&self) -> bool {
        match self
            .state
            .compare_exchange(SLEEPING, PENDING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state != DONE,
        }
    }

    /// Sets the latch; returns the joiner's wake-up if it sleeps (the caller wakes it).
    ///
    /// # Safety
    /// `this` points to a live latch that nobody else sets. It may be freed by the joiner as
    /// soon as it is set: this function touches it for the last time in the move to `DONE`,
    /// and takes a raw pointer so that no reference to it outlives that move.
    pub(crate) unsafe fn set(this: *const Self) -> Option<W> {
        loop {
            // SAFETY: the latch is alive until the joiner sees `DONE`, which only this sets.
            let state = unsafe { &(*this).state };
            // Release: what the half wrote before is visible to the joiner that sees `DONE`.
            match state.compare_exchange(PENDING, DONE, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return None,
                Err(SLEEPING) => {
                    // SAFETY: as above; the joiner wrote the wake-up before `SLEEPING`
                    // (acquired by the failed exchange) and never writes it again.
                    let wakeup = lock(unsafe { &(*this).wakeup }).clone();
                    if state
                        .compare_exchange(SLEEPING, DONE, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        return wakeup;
                    }
                    // The joiner retracted meanwhile: it is awake; set the latch plainly.
                }
                Err(_) => unreachable!("a join's latch is set once"),
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::JoinLatch;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread::{self, Thread};

    /// The joiner sleeps (parks) whenever it finds the latch unset, retracting when it wakes;
    /// the setter writes a result, sets, and unparks. A lost wake-up leaves the joiner parked
    /// forever (loom reports a deadlock); a result not ordered before `DONE` is a data race on
    /// the cell.
    fn joiner_sleeps(retract_first: bool) {
        loom::model(move || {
            let latch = Arc::new(JoinLatch::<Thread>::new());
            let result = Arc::new(UnsafeCell::new(0u32));
            let setter = {
                let (latch, result) = (latch.clone(), result.clone());
                thread::spawn(move || {
                    // SAFETY: the joiner reads the cell only after the set below (loom checks it).
                    result.with_mut(|r| unsafe { *r = 7 });
                    // SAFETY: the latch lives in the Arc; set once.
                    if let Some(joiner) = unsafe { JoinLatch::set(Arc::as_ptr(&latch)) } {
                        joiner.unpark();
                    }
                })
            };
            if retract_first && latch.announce_sleep(thread::current) {
                // Woken for other work before sleeping: look again.
                let _ = latch.retract();
            }
            while !latch.is_set() {
                if latch.announce_sleep(thread::current) {
                    thread::park();
                    if !latch.retract() {
                        break;
                    }
                }
            }
            // SAFETY: the latch is set: the setter's write came before (loom checks it).
            assert_eq!(result.with(|r| unsafe { *r }), 7);
            setter.join().unwrap();
        });
    }

    #[test]
    fn join_latch_wakes_a_sleeping_joiner() {
        joiner_sleeps(false);
    }

    #[test]
    fn join_latch_wakes_a_joiner_that_retracted_once() {
        joiner_sleeps(true);
    }
}

//! Counters: how jobs are counted, and how anything waits for them.
//!
//! As in the Naughty Dog engine, submitting jobs with a [`Counter`] adds their number to it, each
//! finished job takes one off, and anything can wait for it to reach zero: a job (by returning
//! [`Action::Wait`](crate::Action::Wait), which suspends it without blocking its worker) or a
//! thread outside the pool ([`JobSystem::wait`](crate::JobSystem::wait), which runs jobs while it
//! waits).
//!
//! ## Cost
//! A counter is one allocation, reused for as long as it lives: when it reaches zero it can be
//! armed again, so a frame loop keeps one per frame in flight and allocates none per frame.
//! [`JobSystem::counter`](crate::JobSystem::counter) hands them out from a pool. Waiting
//! allocates nothing once the waiter list has grown to its working size.
//!
//! Workers do not decrement the counter once per job: each worker keeps a running count of the
//! jobs it finished for the same counter and applies it in one atomic operation when it moves to a
//! job counted elsewhere or runs out of work. A counter therefore never reads zero before all of
//! its jobs are done, and touches one shared cache line per run of jobs, not per job.
//!
//! ## Lifetime
//! Jobs refer to their counter by raw pointer. While the value is above zero the counter holds one
//! strong reference to itself (taken when it is armed from zero, given back when it returns to
//! zero), so the state outlives every job it counts even if the user drops all handles.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::Thread;

use crate::job::JobRef;
use crate::panic::{message_of, JobPanic, Payload};
use crate::sync::lock;
use crate::system::Shared;

/// An atomic count of unfinished jobs that jobs and threads can wait on.
///
/// Clones are handles to the same counter. See the [module docs](crate::counter). A counter
/// counts at most 2^32 - 1 unfinished jobs at a time.
///
/// ```
/// use jobs::{Counter, Job, JobSystem};
/// let system = JobSystem::new(jobs::Config::default().workers(2))?;
/// let frame = system.counter();
/// for _ in 0..100 {
///     system.submit_counted(&frame, Job::from_fn(|_| { /* work */ }));
/// }
/// system.wait(&frame)?; // runs jobs on this thread until the counter reaches zero
/// assert!(frame.is_zero());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Counter {
    state: Arc<CounterState>,
}

/// The shared state behind a [`Counter`].
pub(crate) struct CounterState {
    /// The round (high 32 bits, bumped each time the counter leaves zero) and the count of
    /// unfinished jobs (low 32 bits), in one word so that a waiter knows which round it waits
    /// for: see `decrement`.
    value: AtomicU64,
    /// Set when a panic was recorded; lets the fast paths skip the lock.
    panicked: AtomicBool,
    waiters: Mutex<Waiters>,
    pool: Weak<CounterPool>,
}

#[derive(Default)]
struct Waiters {
    /// Suspended jobs, with the round each waits for and whether it takes a panic of that
    /// round (`Action::Wait`) or not (`Action::After`).
    jobs: Vec<Waiter>,
    threads: Vec<Thread>,
    /// The first panic, with its round.
    panic: Option<Recorded>,
}

struct Waiter {
    job: JobRef,
    shared: Arc<Shared>,
    round: u32,
    inherit_panic: bool,
}

struct Recorded {
    round: u32,
    message: String,
    payload: Option<Payload>,
}

const COUNT_BITS: u32 = 32;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// The count of unfinished jobs in a counter's word.
fn count_of(word: u64) -> u64 {
    word & COUNT_MASK
}

/// The round in a counter's word.
fn round_of(word: u64) -> u32 {
    (word >> COUNT_BITS) as u32
}

/// Counters waiting to be handed out again by [`JobSystem::counter`](crate::JobSystem::counter).
pub(crate) type CounterPool = Mutex<Vec<Arc<CounterState>>>;

impl Default for Counter {
    fn default() -> Self {
        Counter::new()
    }
}

impl Counter {
    /// A new counter at zero, outside any pool.
    pub fn new() -> Counter {
        Counter::with_pool(Weak::new())
    }

    pub(crate) fn with_pool(pool: Weak<CounterPool>) -> Counter {
        Counter {
            state: Arc::new(CounterState {
                value: AtomicU64::new(0),
                panicked: AtomicBool::new(false),
                waiters: Mutex::new(Waiters::default()),
                pool,
            }),
        }
    }

    pub(crate) fn from_pool(pool: &Arc<CounterPool>) -> Counter {
        match lock(pool).pop() {
            Some(state) => Counter { state },
            None => Counter::with_pool(Arc::downgrade(pool)),
        }
    }

    /// The number of unfinished jobs counted. A snapshot: it may change right after.
    pub fn value(&self) -> usize {
        count_of(self.state.value.load(Ordering::Acquire)) as usize
    }

    /// Whether every job counted so far has finished (and its effects are visible).
    pub fn is_zero(&self) -> bool {
        self.value() == 0
    }

    /// Adds `count` jobs; returns the pointer the jobs keep. See the module docs for the
    /// self-reference taken when the counter leaves zero.
    pub(crate) fn arm(&self, count: usize) -> NonNull<CounterState> {
        // `Arc::as_ptr`, not a reference: the pointer must cover the whole Arc allocation, since
        // `decrement` gives a strong reference back through it.
        let ptr = NonNull::new(Arc::as_ptr(&self.state).cast_mut()).expect("an Arc is never null");
        if count == 0 {
            return ptr;
        }
        // At most 2^32 - 1 jobs in flight on one counter (the documented limit): the count must
        // not spill into the round.
        let add = (count as u64).min(COUNT_MASK);
        let mut word = self.state.value.load(Ordering::Relaxed);
        let left_zero = loop {
            let starts_round = count_of(word) == 0;
            let next = if starts_round {
                // A new round: bump the round, so that waiters of this round and of the last one
                // can be told apart (see `decrement`).
                (u64::from(round_of(word).wrapping_add(1)) << COUNT_BITS) | add
            } else {
                word + add
            };
            match self.state.value.compare_exchange_weak(
                word,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break starts_round,
                Err(actual) => word = actual,
            }
        };
        if left_zero {
            // SAFETY: `self.state` is a live Arc; this strong reference is released by the
            // `decrement` that brings the value back to zero, which cannot happen before the
            // jobs counted here are submitted, after this call returns.
            unsafe { Arc::increment_strong_count(ptr.as_ptr()) };
        }
        ptr
    }

    pub(crate) fn state(&self) -> &CounterState {
        &self.state
    }

    /// Registers `thread` to be unparked when the counter reaches zero; false if it is zero.
    pub(crate) fn register_thread(&self, thread: Thread) -> bool {
        let mut waiters = lock(&self.state.waiters);
        if count_of(self.state.value.load(Ordering::Acquire)) == 0 {
            return false;
        }
        waiters.threads.push(thread);
        true
    }

    /// The outcome of the last round, for a thread that saw the counter at zero.
    pub(crate) fn outcome(&self) -> Result<(), JobPanic> {
        if !self.state.panicked.load(Ordering::Acquire) {
            return Ok(());
        }
        let round = round_of(self.state.value.load(Ordering::Acquire));
        match lock(&self.state.waiters).panic.as_mut() {
            Some(recorded) if recorded.round == round => Err(match recorded.payload.take() {
                Some(payload) => JobPanic::new(payload),
                None => JobPanic::message_only(recorded.message.clone()),
            }),
            _ => Ok(()),
        }
    }
}

impl CounterState {
    /// Records a panic of a job counted in this round; the first payload is kept.
    pub(crate) fn record_panic(&self, payload: Payload) {
        // The panicking job is still counted, so the round in the word is its round.
        let round = round_of(self.value.load(Ordering::Acquire));
        let mut waiters = lock(&self.waiters);
        if waiters
            .panic
            .as_ref()
            .is_none_or(|recorded| recorded.round != round)
        {
            waiters.panic = Some(Recorded {
                round,
                message: message_of(&*payload),
                payload: Some(payload),
            });
        }
        self.panicked.store(true, Ordering::Release);
    }

    /// The panic message of round `round`, if a job of it panicked (under the waiters lock).
    fn panic_of(waiters: &Waiters, round: u32) -> Option<String> {
        waiters
            .panic
            .as_ref()
            .filter(|r| r.round == round)
            .map(|r| r.message.clone())
    }

    /// Suspends `job` until the counter reaches zero. Returns `true` if it already has: then the
    /// caller keeps the job and continues it. A panic of this round is passed on to the job if
    /// `inherit_panic`.
    pub(crate) fn wait_job(&self, job: JobRef, shared: &Arc<Shared>, inherit_panic: bool) -> bool {
        if count_of(self.value.load(Ordering::Acquire)) != 0 {
            let mut waiters = lock(&self.waiters);
            // Checked again under the lock: `decrement` resumes this round's waiters under it
            // after the count reaches zero, so either it sees this job, or this load sees zero.
            let word = self.value.load(Ordering::Acquire);
            if count_of(word) != 0 {
                waiters.jobs.push(Waiter {
                    job,
                    shared: Arc::clone(shared),
                    round: round_of(word),
                    inherit_panic,
                });
                return false;
            }
        }
        // At zero: the round that just ended is the one in the word.
        if inherit_panic && self.panicked.load(Ordering::Acquire) {
            let round = round_of(self.value.load(Ordering::Acquire));
            if let Some(message) = Self::panic_of(&lock(&self.waiters), round) {
                job.record_panic(Box::new(JobPanic::message_only(message)));
            }
        }
        true
    }

    /// Takes `count` finished jobs off the counter.
    ///
    /// # Safety
    /// `state` must point to a counter armed with at least `count` jobs not yet taken off.
    pub(crate) unsafe fn decrement(state: NonNull<CounterState>, count: usize) {
        // SAFETY: the caller's jobs are still counted, so the value is above zero and the
        // counter holds a strong reference to itself (see `Counter::arm`).
        let this = unsafe { state.as_ref() };
        // AcqRel: Release publishes the finished jobs' effects to whoever sees zero; Acquire (for
        // the decrement that reaches zero) gathers those of every other finisher.
        let previous = this.value.fetch_sub(count as u64, Ordering::AcqRel);
        debug_assert!(
            count_of(previous) >= count as u64,
            "counter decremented below zero"
        );
        if count_of(previous) == count as u64 {
            // Between the decrement above and the lock below the counter may be armed again and
            // jobs may start waiting for the new round: resume only the waiters of the round that
            // ended here.
            let round = round_of(previous);
            {
                let mut waiters = lock(&this.waiters);
                let panic = Self::panic_of(&waiters, round);
                let mut i = 0;
                while i < waiters.jobs.len() {
                    if waiters.jobs[i].round != round {
                        i += 1;
                        continue;
                    }
                    let waiter = waiters.jobs.swap_remove(i);
                    if let (Some(message), true) = (&panic, waiter.inherit_panic) {
                        let panic = JobPanic::message_only(message.clone());
                        waiter.job.record_panic(Box::new(panic));
                    }
                    waiter.shared.schedule(waiter.job);
                }
                // Threads check the count again themselves when they wake.
                for thread in waiters.threads.drain(..) {
                    thread.unpark();
                }
            }
            // SAFETY: gives back the strong reference taken when the counter left zero; nothing
            // of `this` is touched after it.
            unsafe { Arc::decrement_strong_count(state.as_ptr()) };
        }
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        // Back to the pool if this was the last handle (a busy counter holds a reference to
        // itself, so a unique one is at zero).
        if Arc::get_mut(&mut self.state).is_some() {
            if let Some(pool) = self.state.pool.upgrade() {
                let mut waiters = lock(&self.state.waiters);
                waiters.threads.clear();
                waiters.panic = None;
                drop(waiters);
                self.state.panicked.store(false, Ordering::Relaxed);
                lock(&pool).push(Arc::clone(&self.state));
            }
        }
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("value", &self.value())
            .finish()
    }
}

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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::Thread;

use crate::job::JobRef;
use crate::panic::{message_of, JobPanic, Payload};
use crate::sync::lock;
use crate::system::Shared;

/// An atomic count of unfinished jobs that jobs and threads can wait on.
///
/// Clones are handles to the same counter. See the [module docs](crate::counter).
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
    value: AtomicUsize,
    /// Set when a panic was recorded in the current round; lets `arm` skip the lock.
    panicked: AtomicBool,
    waiters: Mutex<Waiters>,
    pool: Weak<CounterPool>,
}

#[derive(Default)]
struct Waiters {
    jobs: Vec<(JobRef, Arc<Shared>)>,
    threads: Vec<Thread>,
    panic: Option<(String, Option<Payload>)>,
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
                value: AtomicUsize::new(0),
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
        self.state.value.load(Ordering::Acquire)
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
        let previous = self.state.value.fetch_add(count, Ordering::AcqRel);
        if previous == 0 {
            // A new round: panics of the last round were seen by its waiters.
            if self.state.panicked.load(Ordering::Relaxed) {
                self.state.panicked.store(false, Ordering::Relaxed);
                lock(&self.state.waiters).panic = None;
            }
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
        if self.state.value.load(Ordering::Acquire) == 0 {
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
        match lock(&self.state.waiters).panic.as_mut() {
            Some((message, payload)) => Err(match payload.take() {
                Some(payload) => JobPanic::new(payload),
                None => JobPanic::message_only(message.clone()),
            }),
            None => Ok(()),
        }
    }
}

impl CounterState {
    /// Records a panic of a job counted in this round; the first payload is kept.
    pub(crate) fn record_panic(&self, payload: Payload) {
        let mut waiters = lock(&self.waiters);
        if waiters.panic.is_none() {
            waiters.panic = Some((message_of(&*payload), Some(payload)));
        }
        self.panicked.store(true, Ordering::Release);
    }

    /// Suspends `job` until the counter reaches zero. Returns `true` if it already has: then the
    /// caller keeps the job and continues it. A panic of this round is passed on to the job.
    pub(crate) fn wait_job(&self, job: JobRef, shared: &Arc<Shared>) -> bool {
        if self.value.load(Ordering::Acquire) != 0 {
            let mut waiters = lock(&self.waiters);
            // Checked again under the lock: `decrement` drains the list under it after the value
            // reaches zero, so either it sees this job, or this load sees zero.
            if self.value.load(Ordering::Acquire) != 0 {
                waiters.jobs.push((job, Arc::clone(shared)));
                return false;
            }
        }
        self.pass_panic_to(job);
        true
    }

    fn pass_panic_to(&self, job: JobRef) {
        if self.panicked.load(Ordering::Acquire) {
            if let Some((message, _)) = &lock(&self.waiters).panic {
                job.record_panic(Box::new(JobPanic::message_only(message.clone())));
            }
        }
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
        let previous = this.value.fetch_sub(count, Ordering::AcqRel);
        debug_assert!(previous >= count, "counter decremented below zero");
        if previous == count {
            {
                let mut waiters = lock(&this.waiters);
                let panic = waiters.panic.as_ref().map(|(message, _)| message.clone());
                for (job, shared) in waiters.jobs.drain(..) {
                    if let Some(message) = &panic {
                        job.record_panic(Box::new(JobPanic::message_only(message.clone())));
                    }
                    shared.schedule(job);
                }
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

//! Counters: how jobs are counted, and how anything waits for them (documented on
//! [`Counter`]).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::Thread;

use crate::job::JobRef;
use crate::panic::{drop_payload_soon, message_of, JobPanic, Payload};
use crate::sync::lock;
use crate::system::Shared;

/// An atomic count of unfinished jobs that jobs and threads can wait on.
///
/// Clones are handles to the same counter. A counter counts at most 2^32 - 1 unfinished jobs at
/// a time (a batch of any size counts as one job per runner, see
/// [`JobSystem::parallel_for`](crate::JobSystem::parallel_for)).
///
/// As in the Naughty Dog engine, submitting jobs with a [`Counter`] adds their number to it, each
/// finished job takes one off, and anything can wait for it to reach zero: a job (by returning
/// [`Action::Wait`](crate::Action::Wait), which suspends it without blocking its worker) or a
/// thread outside the pool ([`JobSystem::wait`](crate::JobSystem::wait), which runs jobs while it
/// waits).
///
/// ## Cost
/// A counter is one allocation, reused for as long as it lives: when it reaches zero it can be
/// armed again, so a frame loop keeps one per frame in flight and allocates none per frame.
/// [`JobSystem::counter`](crate::JobSystem::counter) hands them out from a pool. Waiting
/// allocates nothing once the waiter list has grown to its working size.
///
/// Workers do not decrement the counter once per job: each worker keeps a running count of the
/// jobs it finished for the same counter and applies it in one atomic operation when it moves to a
/// job counted elsewhere or runs out of work. A counter therefore never reads zero before all of
/// its jobs are done, and touches one shared cache line per run of jobs, not per job.
///
/// ## Rounds, and why a waiter is never resumed for the wrong one
/// Each time a counter leaves zero a new *round* starts. A waiter (a suspended job, or a thread)
/// waits for the round that was in progress when it registered: if the counter reaches zero and
/// is armed again at once, the waiters of the first round are resumed, and those that registered
/// in the second wait for it. The word holds the count and the round modulo 2^32; the waiter
/// list, under its lock, keeps the full 64-bit round. Every look at the word under the lock
/// advances that full round by the (wrapping) difference. The difference is small and never
/// ambiguous: a round can end unseen by the lock only while the thread that ended it is between
/// its decrement and taking the lock, so fewer rounds than there are threads go by between two
/// looks.
///
/// ## Panics
/// A panic of a counted job is recorded on the counter with its round. Every wait for that round
/// reports it (a [`JobSystem::wait`](crate::JobSystem::wait) or an
/// [`Action::Wait`](crate::Action::Wait) that started while the round was in progress, or that
/// found the counter at zero right after it). If no wait reported it before the counter was
/// armed again, the next wait reports it, whatever round it waits for: a panic is never lost to
/// a counter reused before anyone waited. A panic no wait reported by the time the counter is
/// dropped (or returns to its pool) is counted in
/// [`Stats::unobserved_panics`](crate::Stats::unobserved_panics), or written to standard error
/// for a counter outside any pool.
///
/// ## Lifetime
/// Jobs refer to their counter by raw pointer. While the value is above zero the counter holds one
/// strong reference to itself (taken when it is armed from zero, given back when it returns to
/// zero), so the state outlives every job it counts even if the user drops all handles.
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
    /// The round modulo 2^32 (high 32 bits, bumped each time the counter leaves zero) and the
    /// count of unfinished jobs (low 32 bits), in one word: see the module docs.
    value: AtomicU64,
    /// Set when a panic is recorded and not yet dropped; lets the fast paths skip the lock.
    panicked: AtomicBool,
    waiters: Mutex<Waiters>,
    pool: Weak<CounterPool>,
}

#[derive(Default)]
struct Waiters {
    /// The full number of the latest round seen in the word under this lock (module docs).
    round: u64,
    /// Suspended jobs, each with the round it waits for.
    jobs: Vec<Waiter>,
    /// Threads waiting, each with the round it waits for: registered once per wait.
    threads: Vec<(u64, Wakeup)>,
    /// The first panic not yet superseded: see the module docs.
    panic: Option<Recorded>,
}

struct Waiter {
    job: JobRef,
    shared: Arc<Shared>,
    round: u64,
    /// `Action::Wait` (takes a panic of the counter) or `Action::WaitSettled` (does not).
    inherit_panic: bool,
}

/// How to wake a thread that waits on a counter.
#[derive(Clone)]
pub(crate) enum Wakeup {
    /// A thread that parks: unparked.
    Thread(Thread),
    /// A worker asleep in its system's sleep protocol while it waits inside a job: woken there.
    Worker(Arc<Shared>, usize),
}

impl Wakeup {
    pub(crate) fn wake(self) {
        match self {
            Wakeup::Thread(thread) => thread.unpark(),
            Wakeup::Worker(shared, index) => shared.sleep.wake_worker(index),
        }
    }
}

struct Recorded {
    round: u64,
    message: String,
    payload: Option<Payload>,
    /// Whether a wait has reported it.
    observed: bool,
}

/// The round a thread waits for: see [`Counter::begin_wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Round(u64);

const COUNT_BITS: u32 = 32;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// The count of unfinished jobs in a counter's word.
fn count_of(word: u64) -> u64 {
    word & COUNT_MASK
}

/// The round, modulo 2^32, in a counter's word.
fn round_of(word: u64) -> u32 {
    (word >> COUNT_BITS) as u32
}

/// Counters waiting to be handed out again by [`JobSystem::counter`](crate::JobSystem::counter).
#[derive(Default)]
pub(crate) struct CounterPool {
    free: Mutex<Vec<Arc<CounterState>>>,
    /// Panics that were still unobserved when their counter came back to the pool.
    pub(crate) unobserved: AtomicU64,
}

impl Waiters {
    /// Advances the full round to the one in `word` and returns `(started, ended)`: the latest
    /// round that started and the latest that ended (module docs).
    fn observe(&mut self, word: u64) -> (u64, u64) {
        let ahead = round_of(word).wrapping_sub(self.round as u32);
        self.round += u64::from(ahead);
        let ended = if count_of(word) == 0 {
            self.round
        } else {
            self.round - 1
        };
        (self.round, ended)
    }

    /// The panic a wait for round `round` reports, marked observed: one of that round or a later
    /// one, or any not yet observed.
    fn panic_for(&mut self, round: u64) -> Option<&mut Recorded> {
        let recorded = self.panic.as_mut()?;
        if recorded.round >= round || !recorded.observed {
            recorded.observed = true;
            Some(recorded)
        } else {
            None
        }
    }
}

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
        match lock(&pool.free).pop() {
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
    ///
    /// # Panics
    /// If the counter would count more than 2^32 - 1 unfinished jobs (each counted job is a
    /// live allocation, so only a program holding billions of jobs gets there). Nothing has been
    /// queued when it panics.
    pub(crate) fn arm(&self, count: usize) -> NonNull<CounterState> {
        // `Arc::as_ptr`, not a reference: the pointer must cover the whole Arc allocation, since
        // `decrement` gives a strong reference back through it.
        let ptr = NonNull::new(Arc::as_ptr(&self.state).cast_mut()).expect("an Arc is never null");
        if count == 0 {
            return ptr;
        }
        let mut word = self.state.value.load(Ordering::Relaxed);
        let left_zero = loop {
            let total = u64::try_from(count)
                .ok()
                .and_then(|add| count_of(word).checked_add(add))
                .filter(|&total| total <= COUNT_MASK);
            let Some(total) = total else {
                panic!(
                    "a jobs::Counter counts at most {COUNT_MASK} unfinished jobs: {} more on {} \
                     counted would exceed it",
                    count,
                    count_of(word)
                );
            };
            let starts_round = count_of(word) == 0;
            let round = if starts_round {
                // A new round (module docs).
                round_of(word).wrapping_add(1)
            } else {
                round_of(word)
            };
            let next = (u64::from(round) << COUNT_BITS) | total;
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

    /// The round a thread that starts waiting now waits for; `None` if the counter is zero.
    pub(crate) fn begin_wait(&self) -> Option<Round> {
        let word = self.state.value.load(Ordering::Acquire);
        if count_of(word) == 0 {
            return None;
        }
        let (started, _) = lock(&self.state.waiters).observe(word);
        Some(Round(started))
    }

    /// Whether `round` has ended (every job counted in it finished, effects visible). Never
    /// true too early; may miss an end only after 2^32 rounds (then [`Self::has_ended_exactly`]
    /// tells).
    pub(crate) fn has_ended(&self, round: Round) -> bool {
        let word = self.state.value.load(Ordering::Acquire);
        count_of(word) == 0 || round_of(word) != round.0 as u32
    }

    /// Whether `round` has ended, exactly (under the lock): for a thread about to sleep.
    pub(crate) fn has_ended_exactly(&self, round: Round) -> bool {
        let mut waiters = lock(&self.state.waiters);
        waiters.observe(self.state.value.load(Ordering::Acquire)).1 >= round.0
    }

    /// Registers `wakeup` to be woken when `round` ends; false (and `wakeup` dropped) if it
    /// already has. A thread registers once per wait: the round's end removes the entry.
    pub(crate) fn register(&self, round: Round, wakeup: Wakeup) -> bool {
        let mut waiters = lock(&self.state.waiters);
        let (_, ended) = waiters.observe(self.state.value.load(Ordering::Acquire));
        if ended >= round.0 {
            return false;
        }
        waiters.threads.push((round.0, wakeup));
        true
    }

    /// The outcome of a wait for `round` (or, with `None`, of a wait that found the counter at
    /// zero), once it has ended: the panic it reports, if any (module docs).
    pub(crate) fn outcome(&self, round: Option<Round>) -> Result<(), JobPanic> {
        if !self.state.panicked.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut waiters = lock(&self.state.waiters);
        let round = match round {
            Some(round) => round.0,
            None => waiters.observe(self.state.value.load(Ordering::Acquire)).1,
        };
        match waiters.panic_for(round) {
            Some(recorded) => Err(match recorded.payload.take() {
                Some(payload) => JobPanic::new(payload),
                None => JobPanic::message_only(recorded.message.clone()),
            }),
            None => Ok(()),
        }
    }
}

impl CounterState {
    /// Records a panic of a job counted in this round. The first panic is kept until a later
    /// one replaces it after it was observed; a payload not kept is handed back, to be dropped
    /// with `drop_payload` once no executor state is borrowed.
    #[must_use = "a payload handed back must be dropped with drop_payload"]
    pub(crate) fn record_panic(&self, payload: Payload) -> Option<Payload> {
        let mut waiters = lock(&self.waiters);
        // The panicking job is still counted, so the round in the word is its round.
        let (round, _) = waiters.observe(self.value.load(Ordering::Acquire));
        let replace = waiters
            .panic
            .as_ref()
            .is_none_or(|recorded| recorded.observed && recorded.round < round);
        self.panicked.store(true, Ordering::Release);
        if !replace {
            return Some(payload);
        }
        let old = waiters.panic.replace(Recorded {
            round,
            message: message_of(&*payload),
            payload: Some(payload),
            observed: false,
        });
        old.and_then(|old| old.payload)
    }

    /// Suspends `job` until the counter's current round ends. Hands the job back if it already
    /// has (zero): then the caller keeps it and continues it. A panic the wait reports (module
    /// docs) is passed on to the job if `inherit_panic`.
    pub(crate) fn wait_job(
        &self,
        job: JobRef,
        shared: &Arc<Shared>,
        inherit_panic: bool,
    ) -> Option<JobRef> {
        let word = self.value.load(Ordering::Acquire);
        if count_of(word) == 0 && !(inherit_panic && self.panicked.load(Ordering::Acquire)) {
            return Some(job);
        }
        let mut waiters = lock(&self.waiters);
        // Checked again under the lock: `decrement` resumes the waiters of the round that ended
        // under it after the count reached zero, so either it sees this job, or this load sees
        // zero (or a later round).
        let word = self.value.load(Ordering::Acquire);
        let (started, ended) = waiters.observe(word);
        if count_of(word) != 0 {
            waiters.jobs.push(Waiter {
                job,
                shared: Arc::clone(shared),
                round: started,
                inherit_panic,
            });
            return None;
        }
        if inherit_panic {
            if let Some(recorded) = waiters.panic_for(ended) {
                let panic = JobPanic::message_only(recorded.message.clone());
                // A job's own slot: a payload it hands back is ours, and harmless to drop.
                drop(job.record_panic(Box::new(panic)));
            }
        }
        Some(job)
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
            this.resume_ended();
            // SAFETY: gives back the strong reference taken when the counter left zero; nothing
            // of `this` is touched after it.
            unsafe { Arc::decrement_strong_count(state.as_ptr()) };
        }
    }

    /// Resumes the waiters of every round that has ended (module docs: between the decrement
    /// and this lock the counter may have been armed again, and waiters of the new round must
    /// stay).
    fn resume_ended(&self) {
        let mut waiters = lock(&self.waiters);
        let (_, ended) = waiters.observe(self.value.load(Ordering::Acquire));
        let mut i = 0;
        while i < waiters.jobs.len() {
            if waiters.jobs[i].round > ended {
                i += 1;
                continue;
            }
            let waiter = waiters.jobs.swap_remove(i);
            if waiter.inherit_panic {
                if let Some(recorded) = waiters.panic_for(waiter.round) {
                    let panic = JobPanic::message_only(recorded.message.clone());
                    drop(waiter.job.record_panic(Box::new(panic)));
                }
            }
            waiter.shared.schedule(waiter.job);
        }
        // Woken under the lock (an unpark, or a flag set under the sleep protocol's lock, which
        // is never held while this one is taken): no list to allocate per wake.
        let mut i = 0;
        while i < waiters.threads.len() {
            if waiters.threads[i].0 > ended {
                i += 1;
            } else {
                waiters.threads.swap_remove(i).1.wake();
            }
        }
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        // Back to the pool if this was the last handle (a busy counter holds a reference to
        // itself, so a unique one is at zero). Otherwise the state is freed with its last
        // reference, which `CounterState::drop` accounts for.
        if Arc::get_mut(&mut self.state).is_none() {
            return;
        }
        let Some(pool) = self.state.pool.upgrade() else {
            return;
        };
        let (recorded, threads) = {
            let mut waiters = lock(&self.state.waiters);
            (waiters.panic.take(), std::mem::take(&mut waiters.threads))
        };
        drop(threads);
        self.state.panicked.store(false, Ordering::Relaxed);
        if let Some(recorded) = recorded {
            // A user's handle: no executor state is borrowed here (`drop_payload_soon` checks).
            recorded.account(Some(&pool));
        }
        lock(&pool.free).push(Arc::clone(&self.state));
    }
}

impl Recorded {
    /// A recorded panic is discarded with its counter: counted in the pool's unobserved panics
    /// (or written to standard error, for a counter outside any pool) if no wait reported it, and
    /// its payload dropped as soon as no executor state is borrowed.
    fn account(self, pool: Option<&CounterPool>) {
        if !self.observed {
            match pool {
                Some(pool) => {
                    pool.unobserved.fetch_add(1, Ordering::Relaxed);
                }
                None => eprintln!(
                    "jobs: a job panicked and no wait reported it before its counter was \
                     dropped: {}",
                    self.message
                ),
            }
        }
        if let Some(payload) = self.payload {
            drop_payload_soon(payload);
        }
    }
}

impl Drop for CounterState {
    fn drop(&mut self) {
        // The last reference may be the one a busy counter holds to itself, given back by the
        // worker that applied its last completions (with its executor state borrowed): hence
        // `drop_payload_soon`.
        let waiters = self
            .waiters
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(recorded) = waiters.panic.take() {
            recorded.account(self.pool.upgrade().as_deref());
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

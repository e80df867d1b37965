//! Counters: how jobs are counted, and how anything waits for them (documented on
//! [`Counter`]).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::Thread;

use crate::job::JobRef;
use crate::panic::{drop_payload_soon, message_of, JobPanic, Payload};
use crate::sync::{lock, protocol};
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
/// ambiguous while it matters, that is while a waiter is registered or a panic is recorded (the
/// only full rounds kept): then every round's end is followed by a look (see *Waking* below), so
/// a round can end unseen by the lock only while the thread that ended it is between its
/// decrement and taking the lock, and fewer rounds than there are threads go by between two
/// looks. With nothing registered, rounds end without a look, and the full round may then fall
/// behind by a multiple of 2^31, which nothing kept can tell apart (a thread between
/// `begin_wait` and registering could, after 2^31 rounds ended in that window: far beyond any
/// wait).
///
/// ## Waking: who takes the lock
/// The word holds the count (low 32 bits), the round modulo 2^31 (the next 31 bits) and a
/// **look** bit (the top bit). The look bit is set, under the lock, by whoever registers a
/// waiter (a suspended job or a sleeping thread) or records a panic, with one atomic `fetch_or`
/// that also reads the word it registers against; it is cleared, under the lock, only by a look
/// that leaves no waiter and no panic behind. The decrement that brings the count to zero reads
/// the bit in the word its `fetch_sub` returns, and takes the lock to resume the round's waiters
/// only if it is set: a counter nobody waits on reaches zero with one atomic operation and no
/// lock. No wake-up is lost, with no fence or `SeqCst` needed: the registration's `fetch_or`
/// and the decrement's `fetch_sub` are read-modify-writes of the same word, so one comes first
/// in its modification order. If the registration does, it saw the count above zero and
/// registered, and the decrement sees the bit and looks after the registration released the
/// lock (the clearing is under the lock, after the waiter was removed); if the decrement does,
/// the registration sees the count at zero (or a later round) and does not wait. The `loom`
/// models at the end of this file check this, and that they catch a registration that sets the
/// bit apart from reading the word, or a clearing that leaves a waiter behind.
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
    /// The count of unfinished jobs, the round and the look bit, in one word: see the module
    /// docs.
    value: Word,
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
    /// Whether both wake the same thread the same way (a thread may hold several registrations
    /// at once, one per nested wait: any of the equal ones may be taken back).
    fn same_as(&self, other: &Wakeup) -> bool {
        match (self, other) {
            (Wakeup::Thread(a), Wakeup::Thread(b)) => a.id() == b.id(),
            (Wakeup::Worker(a, i), Wakeup::Worker(b, j)) => Arc::ptr_eq(a, b) && i == j,
            _ => false,
        }
    }

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
/// The round is kept modulo 2^31, above the count.
const ROUND_MASK: u32 = (1 << 31) - 1;
/// The look bit: whoever ends the round must look under the lock (module docs: *Waking*).
const LOOK: u64 = 1 << 63;

/// The count of unfinished jobs in a counter's word.
fn count_of(word: u64) -> u64 {
    word & COUNT_MASK
}

/// The round, modulo 2^31, in a counter's word.
fn round_of(word: u64) -> u32 {
    (word >> COUNT_BITS) as u32 & ROUND_MASK
}

/// Advances the full round `round` to the one in `word` and returns `(started, ended)`: the
/// latest round that started and the latest that ended (module docs).
fn advance(round: &mut u64, word: u64) -> (u64, u64) {
    let ahead = round_of(word).wrapping_sub(*round as u32) & ROUND_MASK;
    *round += u64::from(ahead);
    let ended = if count_of(word) == 0 {
        *round
    } else {
        *round - 1
    };
    (*round, ended)
}

/// A counter's word: the count, the round and the look bit (module docs), and the operations
/// of the waking protocol on it.
pub(crate) struct Word(protocol::AtomicU64);

impl Word {
    fn new() -> Word {
        Word(protocol::AtomicU64::new(0))
    }

    /// The word now; acquire: a count of zero comes with the effects of the jobs counted.
    fn load(&self) -> u64 {
        self.0.load(protocol::Ordering::Acquire)
    }

    /// Adds `count` (above zero) jobs; returns whether that started a round, or the count
    /// there is if it would go past [`COUNT_MASK`] (nothing is added then).
    fn arm(&self, count: u64) -> Result<bool, u64> {
        let mut word = self.0.load(protocol::Ordering::Relaxed);
        loop {
            let total = count_of(word)
                .checked_add(count)
                .filter(|&total| total <= COUNT_MASK)
                .ok_or(count_of(word))?;
            let starts_round = count_of(word) == 0;
            let round = if starts_round {
                // A new round (module docs).
                round_of(word).wrapping_add(1) & ROUND_MASK
            } else {
                round_of(word)
            };
            // The look bit stays: a waiter of a later round may be registered.
            let next = (word & LOOK) | (u64::from(round) << COUNT_BITS) | total;
            match self.0.compare_exchange_weak(
                word,
                next,
                protocol::Ordering::AcqRel,
                protocol::Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(starts_round),
                Err(actual) => word = actual,
            }
        }
    }

    /// Takes `count` finished jobs off; `Some(look)` if that ended the round, `look` telling
    /// whether the caller must look under the lock (module docs: *Waking*).
    fn take(&self, count: u64) -> Option<bool> {
        // AcqRel: Release publishes the finished jobs' effects to whoever sees zero; Acquire (for
        // the decrement that reaches zero) gathers those of every other finisher.
        let previous = self.0.fetch_sub(count, protocol::Ordering::AcqRel);
        debug_assert!(
            count_of(previous) >= count,
            "counter decremented below zero"
        );
        (count_of(previous) == count).then_some(previous & LOOK != 0)
    }

    /// Under the waiters' lock, before registering a waiter or recording a panic: sets the look
    /// bit and returns the word it was set on (module docs: *Waking*), to register against.
    fn ask_to_look(&self) -> u64 {
        // One read-modify-write: it comes before or after the decrement that ends the round in
        // the word's modification order, which is the whole protocol. Acquire as `load`.
        self.0.fetch_or(LOOK, protocol::Ordering::AcqRel) | LOOK
    }

    /// Under the waiters' lock, with no waiter left and no panic recorded: rounds may end
    /// without a look again.
    fn stop_looking(&self) {
        // Relaxed: a registration that follows takes the lock after this, so its `fetch_or`
        // comes after this in the word's modification order; a decrement that still sees the
        // bit only looks for nothing.
        self.0.fetch_and(!LOOK, protocol::Ordering::Relaxed);
    }
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
        advance(&mut self.round, word)
    }

    /// Whether a round's end needs no look any more: no waiter registered, no panic kept.
    fn idle(&self) -> bool {
        self.jobs.is_empty() && self.threads.is_empty() && self.panic.is_none()
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
                value: Word::new(),
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
        count_of(self.state.value.load()) as usize
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
        let left_zero = match u64::try_from(count)
            .map_err(|_| 0)
            .and_then(|count| self.state.value.arm(count))
        {
            Ok(left_zero) => left_zero,
            Err(counted) => panic!(
                "a jobs::Counter counts at most {COUNT_MASK} unfinished jobs: {count} more on \
                 {counted} counted would exceed it"
            ),
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
        let word = self.state.value.load();
        if count_of(word) == 0 {
            return None;
        }
        let (started, _) = lock(&self.state.waiters).observe(word);
        Some(Round(started))
    }

    /// Whether `round` has ended (every job counted in it finished, effects visible). Never
    /// true too early; may miss an end only after 2^31 rounds (then [`Self::has_ended_exactly`]
    /// tells).
    pub(crate) fn has_ended(&self, round: Round) -> bool {
        let word = self.state.value.load();
        count_of(word) == 0 || round_of(word) != round.0 as u32 & ROUND_MASK
    }

    /// Whether `round` has ended, exactly (under the lock): for a thread about to sleep.
    pub(crate) fn has_ended_exactly(&self, round: Round) -> bool {
        let mut waiters = lock(&self.state.waiters);
        waiters.observe(self.state.value.load()).1 >= round.0
    }

    /// Registers `wakeup` to be woken when `round` ends; false (and `wakeup` dropped) if it
    /// already has. A thread registers once per wait: the round's end removes the entry.
    pub(crate) fn register(&self, round: Round, wakeup: Wakeup) -> bool {
        let mut waiters = lock(&self.state.waiters);
        // Set before looking at the word, in one step: the end of `round` then looks under
        // this lock, after the entry is pushed (module docs: *Waking*).
        let (_, ended) = waiters.observe(self.state.value.ask_to_look());
        if ended >= round.0 {
            if waiters.idle() {
                self.state.value.stop_looking();
            }
            return false;
        }
        waiters.threads.push((round.0, wakeup));
        true
    }

    /// Takes back a registration for `round` made with [`register`](Self::register), if the
    /// round's end has not woken it yet: a wait that gives up (its deadline passed) or goes on
    /// sleeping another way. Without it, a thread that waits with a timeout again and again on
    /// a counter whose round goes on would leave an entry per wait until the round ended.
    pub(crate) fn deregister(&self, round: Round, wakeup: &Wakeup) {
        let removed = {
            let mut waiters = lock(&self.state.waiters);
            let found = waiters
                .threads
                .iter()
                .position(|(r, w)| *r == round.0 && w.same_as(wakeup));
            let removed = found.map(|i| waiters.threads.swap_remove(i));
            if waiters.idle() {
                self.state.value.stop_looking();
            }
            removed
        };
        // Dropped outside the lock.
        drop(removed);
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
            None => waiters.observe(self.state.value.load()).1,
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
        // The look bit stays set while a panic is kept, so that the full round stays exact
        // (module docs: *Rounds*).
        let (round, _) = waiters.observe(self.value.ask_to_look());
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
        let word = self.value.load();
        if count_of(word) == 0 && !(inherit_panic && self.panicked.load(Ordering::Acquire)) {
            return Some(job);
        }
        let mut waiters = lock(&self.waiters);
        // Checked again under the lock, in the same step that sets the look bit: either the
        // decrement that ends this round sees the bit and resumes this job under the lock
        // (pushed before it is released), or this sees zero (or a later round) (module docs:
        // *Waking*).
        let word = self.value.ask_to_look();
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
        if waiters.idle() {
            self.value.stop_looking();
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
        if let Some(look) = this.value.take(count as u64) {
            if look {
                // A waiter may be registered, or a panic kept (module docs: *Waking*).
                this.resume_ended();
            }
            // SAFETY: gives back the strong reference taken when the counter left zero; nothing
            // of `this` is touched after it.
            unsafe { Arc::decrement_strong_count(state.as_ptr()) };
        }
    }

    /// Resumes the waiters of every round that has ended (module docs: between the decrement
    /// and this lock the counter may have been armed again, and waiters of the new round must
    /// stay), and clears the look bit if none is left and no panic is kept.
    #[cold]
    fn resume_ended(&self) {
        let mut waiters = lock(&self.waiters);
        let (_, ended) = waiters.observe(self.value.load());
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
        if waiters.idle() {
            self.value.stop_looking();
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
            let taken = (waiters.panic.take(), std::mem::take(&mut waiters.threads));
            if waiters.idle() {
                self.state.value.stop_looking();
            }
            taken
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

#[cfg(all(test, loom))]
mod loom_models {
    //! The waking protocol of the module docs (*Waking*), on the real [`Word`] and [`advance`],
    //! with a list of waiters under a lock standing in for `Waiters` and the decrement's look
    //! (`resume_ended`) copied step for step. Each waiter registers for the round in progress
    //! (as `wait_job`) or finds it ended; once every thread is done, every registered waiter
    //! must have been woken (else a wake-up was lost), and a waiter that found its round ended
    //! must see the round's effect (else loom reports a data race). Two planted bugs check
    //! that the models catch a lost wake-up.

    use super::{advance, count_of, Word, LOOK};
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    /// How a waiter sets the look bit: as `wait_job` and `register` do, or (a planted bug) by
    /// reading the word first and setting the bit apart.
    #[derive(Clone, Copy, PartialEq)]
    enum Register {
        Real,
        ReadThenSet,
    }

    /// When the look clears the bit: as `resume_ended` does (no waiter left), or (a planted
    /// bug) always, even with a waiter of a later round left.
    #[derive(Clone, Copy, PartialEq)]
    enum Clear {
        Real,
        Always,
    }

    #[derive(Default)]
    struct List {
        round: u64,
        waiting: Vec<(u64, Arc<AtomicBool>)>,
    }

    struct Model {
        word: Word,
        list: Mutex<List>,
        /// The effect of round 1's job, written before it is taken off.
        effect: UnsafeCell<u32>,
        register: Register,
        clear: Clear,
    }

    impl Model {
        fn new(register: Register, clear: Clear) -> Model {
            let model = Model {
                word: Word::new(),
                list: Mutex::new(List::default()),
                effect: UnsafeCell::new(0),
                register,
                clear,
            };
            assert_eq!(model.word.arm(1), Ok(true), "round 1 starts");
            model
        }

        /// `CounterState::decrement` of one job, with `resume_ended`.
        fn take_one(&self) {
            if self.word.take(1) != Some(true) {
                return;
            }
            let mut list = self.list.lock().unwrap();
            let word = self.word.load();
            let (_, ended) = advance(&mut list.round, word);
            let mut i = 0;
            while i < list.waiting.len() {
                if list.waiting[i].0 > ended {
                    i += 1;
                } else {
                    list.waiting.swap_remove(i).1.store(true, Ordering::Release);
                }
            }
            if list.waiting.is_empty() || self.clear == Clear::Always {
                self.word.stop_looking();
            }
        }

        /// `wait_job`: registers for the round in progress and returns its wake-up flag, or
        /// `None` if no round is in progress.
        fn register(&self) -> Option<Arc<AtomicBool>> {
            let mut list = self.list.lock().unwrap();
            let word = match self.register {
                Register::Real => self.word.ask_to_look(),
                Register::ReadThenSet => {
                    let word = self.word.load();
                    self.word.0.fetch_or(LOOK, Ordering::AcqRel);
                    word
                }
            };
            let (started, _) = advance(&mut list.round, word);
            if count_of(word) == 0 {
                if list.waiting.is_empty() {
                    self.word.stop_looking();
                }
                drop(list);
                // SAFETY: round 1 ended: its job's write came before (loom checks it).
                assert_eq!(self.effect.with(|e| unsafe { *e }), 7);
                return None;
            }
            let woken = Arc::new(AtomicBool::new(false));
            list.waiting.push((started, woken.clone()));
            Some(woken)
        }
    }

    /// Round 1's job, finished on its own thread: writes the effect, then is taken off.
    fn finisher(model: &Arc<Model>) -> thread::JoinHandle<()> {
        let model = model.clone();
        thread::spawn(move || {
            // SAFETY: the only writer, before the job is taken off (loom checks it).
            model.effect.with_mut(|e| unsafe { *e = 7 });
            model.take_one();
        })
    }

    /// Once every thread is done: each registered waiter was woken, and nothing is counted.
    fn check(model: &Model, registered: impl IntoIterator<Item = Option<Arc<AtomicBool>>>) {
        for woken in registered.into_iter().flatten() {
            assert!(woken.load(Ordering::Acquire), "a wake-up was lost");
        }
        assert_eq!(count_of(model.word.load()), 0);
        assert!(model.list.lock().unwrap().waiting.is_empty());
    }

    /// One job in round 1, finished on another thread while this one registers.
    fn one_waiter(register: Register) {
        loom::model(move || {
            let model = Arc::new(Model::new(register, Clear::Real));
            let finisher = finisher(&model);
            let registered = model.register();
            finisher.join().unwrap();
            check(&model, [registered]);
        });
    }

    /// Round 1's job ends on one thread while another arms round 2 and ends it; two threads
    /// register, each for whichever round is in progress then. The look at round 1's end may
    /// find a waiter of round 2 already registered: it must leave it, and the bit.
    fn two_rounds(clear: Clear) {
        loom::model(move || {
            let model = Arc::new(Model::new(Register::Real, clear));
            let finisher = finisher(&model);
            let rearmer = {
                let model = model.clone();
                thread::spawn(move || {
                    // Armed while round 1 runs (its job then counts in round 1) or after.
                    assert!(model.word.arm(1).is_ok());
                    model.take_one();
                })
            };
            let waiter = {
                let model = model.clone();
                thread::spawn(move || model.register())
            };
            let registered = model.register();
            finisher.join().unwrap();
            rearmer.join().unwrap();
            let other = waiter.join().unwrap();
            check(&model, [registered, other]);
        });
    }

    #[test]
    fn counter_wakes_a_waiter_registered_while_its_round_ends() {
        one_waiter(Register::Real);
    }

    #[test]
    #[should_panic(expected = "a wake-up was lost")]
    fn counter_model_catches_a_look_bit_set_apart_from_the_read() {
        one_waiter(Register::ReadThenSet);
    }

    #[test]
    fn counter_leaves_a_later_rounds_waiter_and_the_look_bit() {
        two_rounds(Clear::Real);
    }

    #[test]
    #[should_panic(expected = "a wake-up was lost")]
    fn counter_model_catches_a_look_bit_cleared_under_a_waiter() {
        two_rounds(Clear::Always);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::lock;
    use crate::{Config, Counter, Job, JobSystem, Priority, WaitOptions};

    /// Waits for 1 ms without running the Normal jobs that keep the round going.
    fn briefly() -> WaitOptions {
        WaitOptions::new()
            .lowest_priority(Priority::High)
            .timeout(Duration::from_millis(1))
    }

    fn registrations(counter: &Counter) -> usize {
        lock(&counter.state.waiters).threads.len()
    }

    /// A Normal job that runs until `release` is set, counted on a fresh counter.
    fn long_job(system: &JobSystem, release: &Arc<AtomicBool>) -> Counter {
        let counter = system.counter();
        let release = Arc::clone(release);
        system.submit_counted(
            &counter,
            Job::from_fn(move |_| {
                while !release.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }),
        );
        counter
    }

    /// Waits that time out take their registration back: a thread polling a long round with
    /// short timeouts (a loading screen, a frame that gives up on a late job) left one entry
    /// per wait until the round ended.
    #[test]
    fn a_timed_out_wait_leaves_no_registration_behind() {
        let system = Arc::new(
            JobSystem::new(
                Config::default()
                    .workers(2)
                    .core_affinity(false)
                    .spin_before_sleep(Duration::ZERO),
            )
            .expect("a valid config"),
        );
        let release = Arc::new(AtomicBool::new(false));
        let long = long_job(&system, &release);
        // An outside thread (parks).
        for _ in 0..20 {
            let ended = system.wait_with(&long, briefly()).expect("no panic");
            assert!(!ended);
        }
        let outside = registrations(&long);
        // A worker waiting inside a job (sleeps in the sleep protocol).
        let inside = system.counter();
        let (waiter, target) = (Arc::clone(&system), long.clone());
        system.submit_counted(
            &inside,
            Job::from_fn(move |_| {
                for _ in 0..20 {
                    let ended = waiter.wait_with(&target, briefly()).expect("no panic");
                    assert!(!ended);
                }
            }),
        );
        // Not run here: on a worker, which sleeps in the sleep protocol while it waits.
        let on_a_worker = WaitOptions::new().lowest_priority(Priority::High);
        assert!(system.wait_with(&inside, on_a_worker).expect("no panic"));
        let worker = registrations(&long);
        release.store(true, Ordering::Release);
        system.wait(&long).expect("no panic");
        assert_eq!(outside, 0, "an outside thread's timed waits");
        assert_eq!(worker, 0, "a worker's timed waits inside a job");
    }
}

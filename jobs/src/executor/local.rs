//! The executor state of a thread that runs jobs (a worker, or an outside thread while it
//! waits): its deques, where it looks for work, and its cached completions.
//!
//! ## Where a worker looks for a job
//! Highest priority first: at each priority its own deque (newest first, for locality), then
//! the shared queue of that priority (oldest first). Only when neither has anything at any
//! priority, the other workers' deques, highest priority first (their oldest job): a busy
//! worker never touches another worker's cache lines. One exception: before it takes a Low job
//! (background work, often long), a worker reports the jobs it finished (which may resume more
//! of a frame) and takes any High or Normal job waiting in another worker's deque, so that
//! background work never delays a frame's jobs by more than the one Low job in progress. The
//! main thread looks at its inbox of jobs pinned to it before anything else.
//!
//! ## Deques, and why no job is stranded
//! A job spawned inside a job goes to the spawning worker's own deque (a fixed-capacity
//! Chase-Lev deque, `deque.rs`; a full one sends the job to the shared queue): the owner pushes
//! and pops at one end without a read-modify-write, and any idle worker can steal from the other
//! end at any time, whatever the owner is doing (a long step, a wait). An idle worker finds the jobs while it is looking; one that is asleep must
//! be woken: a push that makes a deque non-empty checks, after a `SeqCst` fence, whether a worker
//! sleeps with nobody looking, and wakes one. A worker going to sleep announces itself, fences,
//! and looks at every deque again (`sleep/README.md`): one of the two sees the other. Pushes onto
//! a deque that was already non-empty skip the check: whoever sleeps after the push that made it
//! non-empty sees that job there.
//!
//! The main thread has deques too (it helps while it waits, and what it spawns then should be as
//! cheap as on a worker and stealable at once). Other threads outside the pool have none: what
//! they spawn or resume goes to the shared queues, where every worker sees it.
//!
//! ## Cached completions
//! A worker keeps the count of jobs it finished for the same counter (or parent) and applies it
//! in one atomic operation when it is about to run a job counted elsewhere, or runs out of work.
//! A counter thus never reaches zero early, and its cache line moves once per run of jobs.
//!
//! ## `LocalPtr`
//! Jobs run user code that may re-enter the executor of the same thread (a
//! [`JobSystem::wait`](crate::JobSystem::wait) inside a job helps from the same queues). So the
//! executor state is reached through one raw pointer per thread ([`LocalPtr`]), and every borrow
//! of it is short and ends before user code runs. No `&mut Local` is held across a job's step,
//! nor while a panic payload (user data) is dropped.

use std::cell::Cell;
use std::mem;
use std::ptr::NonNull;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use super::deque::{Deque, Steal};
use super::wait::MAX_HELPING_DEPTH;
use crate::counter::CounterState;
use crate::job::{Completion, Header, JobRef};
use crate::meta::Inherit;
use crate::panic::Payload;
use crate::pinned;
use crate::queue::Entry;
use crate::system::Shared;
use crate::trace::lane::RawSpan;
use crate::trace::{clock, probe};
use crate::Priority;

/// The executor state of the current thread, reached only through short borrows (module docs).
pub(crate) type LocalPtr = NonNull<Local>;

thread_local! {
    /// The executor state of this thread while it runs jobs: a worker's for its whole life, an
    /// outside thread's while it waits.
    pub(super) static CURRENT: Cell<Option<LocalPtr>> = const { Cell::new(None) };
}

/// Jobs on a thread's stack below which a child that finds its deque full runs at once inside
/// `spawn` (`Local::push_child`); deeper, its deque's older half goes to the shared queue
/// instead. Shallow: each level is a spawning closure's frame, and a user's closure may keep
/// tens of KiB on the stack (a worker's stack is 2 MiB).
const INLINE_DEPTH: usize = 4;

/// Jobs left in a deque a thief just stole from, from which it asks the owner to share half.
const SHARE_ASK: usize = 16;

/// The index of the lowest priority.
const LOWEST: usize = Priority::ALL.len() - 1;

/// Jobs run between two publications of a worker's statistics while it stays busy.
const STATS_EVERY: u64 = 1024;

/// A worker's deques, one per priority; the worker owns them (pushes and pops), everyone else
/// may steal from them through [`Stealers`].
pub(crate) struct Deques(Stealers);

/// One worker's deques, for stealing.
pub(crate) type Stealers = [Arc<Deque<Header>>; 3];

/// New deques for a worker, and their stealing ends.
pub(crate) fn deques() -> (Deques, Stealers) {
    let deques: Stealers = [
        Arc::new(Deque::new()),
        Arc::new(Deque::new()),
        Arc::new(Deque::new()),
    ];
    (Deques(deques.clone()), deques)
}

impl Deques {
    /// Pushes a job of priority `p`. Returns whether the deque was empty before (see
    /// `Local::announce`), and, if it was full, the older half of its jobs, taken out to make
    /// room: the caller publishes them to the shared queue in one piece.
    fn push(&self, p: usize, job: JobRef) -> (bool, Vec<JobRef>) {
        let mut job = job;
        let mut moved = Vec::new();
        loop {
            match self.try_push(p, job) {
                Ok(was_empty) => return (was_empty, moved),
                Err(refused) => {
                    job = refused;
                    moved.extend(self.take_older_half(p));
                }
            }
        }
    }

    /// Pushes a job of priority `p` unless the deque is full (then hands it back). Returns
    /// whether the deque was empty before (see `Local::announce`).
    fn try_push(&self, p: usize, job: JobRef) -> Result<bool, JobRef> {
        let deque = &self.0[p];
        let was_empty = deque.is_empty();
        // SAFETY: `Deques` is owned by one thread's `Local`, the only one to push, pop and take
        // halves; every job comes out again exactly once (made a `JobRef` again by `from_raw`).
        match unsafe { deque.push(job.into_raw()) } {
            Ok(()) => Ok(was_empty),
            // SAFETY: refused, so still ours: made a `JobRef` again once.
            Err(refused) => Err(unsafe { JobRef::from_raw(refused) }),
        }
    }

    fn pop(&self, p: usize) -> Option<JobRef> {
        // SAFETY: the owner's thread (see `try_push`); what comes out was pushed as a `JobRef` and
        // comes out once.
        unsafe { self.0[p].pop().map(|job| JobRef::from_raw(job)) }
    }

    fn is_empty(&self, p: usize) -> bool {
        self.0[p].is_empty()
    }

    /// Takes the older half of deque `p` out (none if it holds at most one job).
    fn take_older_half(&self, p: usize) -> Vec<JobRef> {
        // SAFETY: the owner's thread (see `try_push`).
        unsafe { self.0[p].take_older_half() }
            .into_iter()
            // SAFETY: each job taken out was pushed from a `JobRef`, and comes out once.
            .map(|job| unsafe { JobRef::from_raw(job) })
            .collect()
    }

    fn len(&self) -> usize {
        self.0.iter().map(|deque| deque.len()).sum()
    }
}

/// One thread's executor state.
pub(crate) struct Local {
    pub(crate) shared: Arc<Shared>,
    /// `Some(i)` on worker `i`.
    index: Option<usize>,
    /// On the main thread.
    main: bool,
    /// The slot of the jobs pinned to this thread (`pinned.rs`): the main thread's, or a
    /// registered thread's.
    inbox: Option<u8>,
    /// A worker's own deques (module docs); `None` on a thread outside the pool.
    deques: Option<Deques>,
    /// The worker whose deques this thread tries first when it steals.
    victim: usize,
    /// Jobs queued on this thread's deque from which its closure children run at once
    /// (`spawner::at_once_queued` for the system's threads).
    at_once_queued: usize,
    /// This thread's entry in the stealers: its worker index, the main thread's entry (after the
    /// workers'), or none.
    slot: Option<usize>,
    /// The completions of the jobs running on this thread, outermost first (the first
    /// `depth` entries, up to the nesting bound): a wait on a counter one of them (or one of their
    /// parents) counts on can never end. Inline, so that a thread's state allocates nothing.
    running: [Completion; MAX_HELPING_DEPTH],
    /// Finished jobs not yet taken off their counter or parent (module docs).
    pending: Completion,
    pending_count: usize,
    /// Jobs finished per priority since the statistics were last published.
    finished: [u64; 3],
    since_publish: u64,
    /// Priority of the job being run.
    current: Priority,
    /// This thread's lane in the recorder (a helper thread borrows one when it first records).
    lane: Option<u16>,
    /// Whether this thread has asked for a helper lane (and given it back on drop if it got one).
    lane_borrowed: bool,
    /// Jobs running on this thread now (more than one when a job waits inside).
    depth: usize,
    /// When a worker's last top-level job ended, while it has not gone looking for work since:
    /// the next span starts there (see `trace`: back-to-back spans share a clock read).
    last_end: Option<u64>,
    /// Whether this thread may run only jobs pinned to it now (the main thread in `run_pinned`,
    /// or waiting without helping): a job handed over to run next that is not pinned is queued
    /// instead, and a child is never run inline.
    pinned_only: bool,
    /// The lowest priority this thread may run now (a wait with
    /// [`WaitOptions::lowest_priority`](crate::WaitOptions::lowest_priority)): a job handed
    /// over of a lower one is queued instead, and a child of a lower one never runs inline.
    lowest: Priority,
    /// The lowest priority of the jobs pinned to this thread it may run now: `lowest`, or Low
    /// in a wait that runs this thread's own jobs at any priority
    /// ([`WaitOptions::pinned_jobs_at_any_priority`](crate::WaitOptions::pinned_jobs_at_any_priority)).
    pinned_lowest: Priority,
    /// The number of priorities this thread may run now (`lowest`'s index plus one): the bound
    /// of the loops over priorities.
    runs: usize,
    /// Whether any of the above limits this thread, or it has a pinned inbox to look at first:
    /// a worker outside a limited wait skips those checks with one test.
    limited: bool,
    /// Whether this thread holds one of the slots of the threads running Low jobs
    /// (`background.rs`): it runs one now, or waits inside one.
    background: bool,
}

/// What a thread may run now (`Local`'s fields of the same names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) pinned_only: bool,
    pub(crate) lowest: Priority,
    pub(crate) pinned_lowest: Priority,
}

/// What [`Local::start_job`] changed, for [`Local::end_job`] to undo.
struct Started {
    /// The priority of the job running before.
    outer: Priority,
    span: Option<OpenSpan>,
}

/// A span being recorded: its start and what the job was.
struct OpenSpan {
    start: u64,
    inherit: Inherit,
}

impl Local {
    pub(crate) fn new(shared: Arc<Shared>, index: Option<usize>, deques: Option<Deques>) -> Local {
        let main = index.is_none() && shared.is_main_thread();
        let inbox = match index {
            Some(_) => None,
            None => pinned::slot_here(&shared),
        };
        // The main thread has deques of its own too (the last entry of the stealers), so that
        // what it spawns while it helps stays cheap and visible to every worker. Only the main
        // thread makes a `Deques` of them, and it has one `Local` per system at a time.
        let (deques, slot) = match (deques, main) {
            (Some(deques), _) => (Some(deques), index),
            (None, true) => {
                let slot = shared.stealers().len() - 1;
                (Some(Deques(shared.stealers()[slot].clone())), Some(slot))
            }
            (None, false) => (None, None),
        };
        let lane = match index {
            Some(index) => Some(shared.recorder.worker_lane(index)),
            None if main => Some(shared.recorder.main_lane()),
            None => None,
        };
        Local {
            lane,
            lane_borrowed: false,
            depth: 0,
            last_end: None,
            pinned_only: false,
            lowest: Priority::Low,
            pinned_lowest: Priority::Low,
            runs: Priority::ALL.len(),
            limited: inbox.is_some(),
            inbox,
            victim: slot.map_or(0, |i| i + 1),
            at_once_queued: super::spawner::at_once_queued(shared.threads_running_jobs()),
            slot,
            running: [Completion::None; MAX_HELPING_DEPTH],
            shared,
            index,
            main,
            deques,
            pending: Completion::None,
            pending_count: 0,
            finished: [0; 3],
            since_publish: 0,
            current: Priority::Normal,
            background: false,
        }
    }

    pub(crate) fn worker_index(&self) -> Option<usize> {
        self.index
    }

    /// What this thread may run now, for a look at the queues before it sleeps
    /// (`Shared::has_visible_work_for`): the first how many priorities, and whether it holds a
    /// slot for Low work.
    pub(crate) fn may_run(&self) -> (usize, bool) {
        (self.runs, self.background)
    }

    pub(crate) fn on_main_thread(&self) -> bool {
        self.main
    }

    /// How many jobs are running on this thread (more than one when jobs wait inside jobs).
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Queues a job spawned or resumed on this thread: a worker's own deque, else (a thread
    /// outside the pool, or a job pinned to the main thread) where others see it.
    pub(crate) fn push(&mut self, job: JobRef) {
        let header = job.header();
        let p = header.priority().index();
        match &self.deques {
            Some(deques) if !header.pinned() => {
                let (was_empty, moved) = deques.push(p, job);
                if !moved.is_empty() {
                    // The deque was full: its older half goes to the shared queue, as one entry.
                    self.shared.publish(p, Entry::Bundle(moved));
                }
                self.pushed(p, was_empty);
            }
            _ => self.shared.schedule(job),
        }
    }

    /// After a push onto deque `p`: wake a sleeper if it was empty, else maybe share.
    #[inline]
    fn pushed(&self, p: usize, was_empty: bool) {
        if was_empty {
            self.announce();
        } else {
            self.maybe_share(p);
        }
    }

    /// Queues a child of the job running on this thread, unless this thread's deque for it is
    /// full and fewer than [`INLINE_DEPTH`] jobs run on its stack: then the child is handed back,
    /// to be run at once by the spawner (as enkiTS runs a task when its pipe is full). Its
    /// memory then goes back to this thread's slab at once, and a job spawning millions of
    /// children holds at most a deque's worth of them.
    pub(crate) fn push_child(&mut self, job: JobRef) -> Option<JobRef> {
        let header = job.header();
        let p = header.priority().index();
        match &self.deques {
            Some(deques) if !header.pinned() && self.may_run_child_at_once(p) => {
                match deques.try_push(p, job) {
                    Ok(was_empty) => self.pushed(p, was_empty),
                    Err(full) => return Some(full),
                }
            }
            _ => self.push(job),
        }
        None
    }

    /// Whether a child of priority `p` may run at once inside `spawn` (fewer than
    /// [`INLINE_DEPTH`] jobs run on this thread's stack, and it may run such a job now), given
    /// how full its deque is.
    #[inline]
    pub(crate) fn may_run_child_at_once(&self, p: usize) -> bool {
        self.deques.is_some()
            && !self.pinned_only
            && self.depth < INLINE_DEPTH
            && p < self.runs
            && (p != LOWEST || self.background)
    }

    /// Jobs queued on this thread's deque from which its closure children run at once.
    #[inline]
    pub(crate) fn at_once_queued(&self) -> usize {
        self.at_once_queued
    }

    /// Jobs in this thread's own deque `p` (reads the thieves' end: a snapshot).
    #[inline]
    pub(crate) fn own_len(&self, p: usize) -> usize {
        self.deques.as_ref().map_or(0, |deques| deques.0[p].len())
    }

    /// Runs a child closure of `parent` at once, on this thread, without making it a job: what
    /// `push_child` does for a child that finds its deque full, without the job's memory, queue
    /// and interpreter. The child is never counted on the parent (it has finished when this
    /// returns); a panic goes to the parent's slot, cancelling it, as a child job's would.
    ///
    /// # Safety
    /// `local` is this thread's live executor state with no borrow of it held; `parent` is
    /// suspended in `Action::Spawn` (its spawner is live).
    pub(crate) unsafe fn run_child_at_once<F>(
        local: LocalPtr,
        parent: NonNull<Header>,
        inherit: Inherit,
        f: F,
    ) where
        F: FnOnce(&mut crate::Context<'_>),
    {
        let completion = Completion::Parent(parent);
        // SAFETY: a short borrow, ended before the child's user code runs.
        let started = unsafe { &mut *local.as_ptr() }.start_job(inherit, completion);
        let outcome = {
            let _zone = probe::job_zone(inherit);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f(&mut crate::Context::new(local, inherit))
            }))
        };
        let unkept = {
            // SAFETY: the child's user code has returned; a short borrow, ended before any
            // payload is dropped.
            let this = unsafe { &mut *local.as_ptr() };
            this.end_job(started);
            this.count_finished(1);
            match outcome {
                Ok(()) => None,
                Err(panic) => {
                    this.job_panicked(inherit, &panic);
                    // SAFETY: the parent is suspended while its spawner is live (the caller's
                    // contract); its slot is an atomic.
                    let unkept = unsafe { parent.as_ref() }.record_panic(panic);
                    if unkept.is_some() {
                        this.shared.unobserved_panic();
                    }
                    unkept
                }
            }
        };
        if let Some(payload) = unkept {
            crate::panic::drop_payload(payload);
        }
    }

    /// Offers the second half of a `join` to other threads: pushes it onto this thread's own
    /// deque, or the shared queue on a thread that has none; unless the deque is full, or this
    /// thread runs only pinned jobs or only higher priorities now (then the half is handed
    /// back, for the caller to run itself). Returns the priority index, to take the half back
    /// from this thread's deque of that priority.
    pub(crate) fn offer_half(&mut self, job: JobRef) -> Result<usize, JobRef> {
        let p = job.header().priority().index();
        if self.pinned_only || p >= self.runs {
            return Err(job);
        }
        match &self.deques {
            Some(deques) => match deques.try_push(p, job) {
                Ok(was_empty) => {
                    self.pushed(p, was_empty);
                    Ok(p)
                }
                Err(full) => Err(full),
            },
            None => {
                self.shared.publish(p, Entry::Job(job));
                Ok(p)
            }
        }
    }

    /// The newest job of this thread's own deque `p` (where a `join` offered its half).
    pub(crate) fn pop_own(&mut self, p: usize) -> Option<JobRef> {
        self.deques.as_ref().and_then(|deques| deques.pop(p))
    }

    /// The completion of the job running on top of this thread's stack (none past the nesting
    /// bound, where they are not recorded).
    pub(crate) fn running_completion(&self) -> Completion {
        self.depth
            .checked_sub(1)
            .and_then(|top| self.running.get(top))
            .copied()
            .unwrap_or(Completion::None)
    }

    /// A deque of this worker just became non-empty: wake a sleeper if nobody is looking (module
    /// docs; the other half of this handshake is in `Sleep::sleep`).
    #[inline]
    fn announce(&self) {
        // SeqCst fence: the push before it and the loads of the hints after it are ordered
        // against the sleeper's announcement and its look at every deque (`sleep/README.md`).
        fence(Ordering::SeqCst);
        let (looking, sleeping) = self.shared.sleep.hints();
        if sleeping > 0 && looking == 0 {
            self.wake_one();
        }
    }

    /// Moves the older half of deque `p` to the shared queue as one bundle when a worker is
    /// looking for work and the shared queue has none: one hand-over for hundreds of jobs,
    /// instead of the looker stealing them one compare-and-swap at a time. Stealing stays the
    /// guarantee (no job waits on its owner); this is the cheap path while the owner pushes.
    #[inline]
    fn maybe_share(&self, p: usize) {
        // A hint on a cache line of its own, written only when a worker starts or stops
        // looking: while every worker is busy this load hits the local cache.
        let (looking, _) = self.shared.sleep.hints();
        if looking > 0 && !self.shared.has_queued(p) {
            self.share(p);
            return;
        }
        // A thief that found many jobs here asked for them in one piece (`steal_from_workers`):
        // a line written only by such thieves, so this load too hits the local cache.
        if self
            .deques
            .as_ref()
            .is_some_and(|deques| deques.0[p].take_share_request())
        {
            self.share(p);
        }
    }

    #[cold]
    fn share(&self, p: usize) {
        let Some(deques) = &self.deques else { return };
        let half = deques.take_older_half(p);
        if !half.is_empty() {
            self.shared.publish(p, Entry::Bundle(half));
        }
    }

    #[cold]
    fn wake_one(&self) {
        self.shared.sleep.notify(1);
    }

    /// The next job this thread should run, highest priority first (module docs): its own or
    /// a shared one, else one stolen from another worker.
    pub(crate) fn find_work(&mut self) -> Option<JobRef> {
        self.find_own_work().or_else(|| self.steal_work())
    }

    /// The next job of this thread's own deques or the shared queues, highest priority first:
    /// these touch no other worker's cache lines. A worker runs these back to back while it is
    /// busy; stealing is looking for work (idle in the statistics, between spans in a trace).
    pub(crate) fn find_own_work(&mut self) -> Option<JobRef> {
        if let Some(slot) = self.inbox {
            if let Some(job) = self.shared.pop_pinned(slot, self.pinned_lowest) {
                return Some(job);
            }
        }
        for p in 0..self.runs {
            if p == LOWEST && !self.may_take_low() {
                // Every slot for Low work is taken (`background.rs`): leave it to their holders.
                break;
            }
            if p == LOWEST && self.low_work_waits() {
                // About to take a Low job (background work, often long). First report what
                // this thread finished: that may resume the next pass of a frame (a parent into
                // this deque, a counter's waiters into the shared queues), which must not wait
                // for the Low job to end; then look again.
                if self.pending != Completion::None {
                    self.flush();
                    return self.find_own_work();
                }
                // Then any job of a higher priority waiting in another worker's deque, or a Low
                // job would delay a frame's jobs by its whole length.
                if let Some(job) = (0..p).find_map(|q| self.steal_from_workers(q)) {
                    return Some(job);
                }
            }
            if let Some(job) = self.deques.as_ref().and_then(|d| d.pop(p)) {
                return Some(job);
            }
            match self.shared.steal(p) {
                Some(Entry::Job(job)) => return Some(job),
                Some(Entry::Bundle(jobs)) => return Some(self.adopt(p, jobs)),
                None => {}
            }
        }
        // Going to look for work: the next span starts when some is found.
        self.last_end = None;
        None
    }

    /// Whether a Low job waits in this thread's deque or the shared queue.
    fn low_work_waits(&self) -> bool {
        self.deques.as_ref().is_some_and(|d| !d.is_empty(LOWEST)) || self.shared.has_queued(LOWEST)
    }

    /// A job stolen from another worker's deque, highest priority first.
    fn steal_work(&mut self) -> Option<JobRef> {
        let runs = if self.may_take_low() {
            self.runs
        } else {
            self.runs.min(LOWEST)
        };
        (0..runs).find_map(|p| self.steal_from_workers(p))
    }

    /// Whether this thread may take a Low job from a queue now: it holds a slot for Low work,
    /// or one is free (`background.rs`).
    #[inline]
    fn may_take_low(&self) -> bool {
        self.background || self.shared.background.any_free()
    }

    /// Before `job` runs in [`run_while`](Self::run_while): a Low job (not pinned) needs a slot
    /// for Low work, which this thread takes if it has none (`took` says this call took it);
    /// any other job gives back the slot this call took. False if `job` needs a slot and none
    /// is free: it must go back to the queues.
    #[inline(never)]
    fn enter_background(&mut self, job: &JobRef, took: &mut bool) -> bool {
        let header = job.header();
        if header.priority() == Priority::Low && !header.pinned() {
            if !self.background {
                if !self.shared.background.try_take() {
                    return false;
                }
                self.background = true;
                *took = true;
            }
        } else if *took {
            self.leave_background();
            *took = false;
        }
        true
    }

    /// Gives back this thread's slot for Low work, and wakes a sleeping worker: Low jobs may
    /// wait that it can now take (`background.rs`).
    pub(crate) fn leave_background(&mut self) {
        debug_assert!(self.background, "a slot given back that was not held");
        self.background = false;
        self.shared.background.give_back();
        // Always, not only when this thread sees Low work: `notify`'s read-modify-write orders
        // the slot given back before a sleeper's look, so it either sees the free slot or is
        // woken here (the sleep protocol's pairing, `sleep/README.md`).
        self.shared.sleep.notify(1);
    }

    /// Lends this thread's slot for Low work back while it waits inside its Low job (the cap
    /// counts threads running Low jobs, not threads waiting); true if it held one, to be taken
    /// back with [`resume_background`](Self::resume_background).
    pub(crate) fn lend_background(&mut self) -> bool {
        if !self.background {
            return false;
        }
        self.leave_background();
        true
    }

    /// Takes back the slot lent for a wait, whatever the count: the job that held it runs on.
    pub(crate) fn resume_background(&mut self) {
        debug_assert!(!self.background, "a slot taken back twice");
        self.shared.background.take_back();
        self.background = true;
    }

    /// Takes a bundle of jobs of priority `p` from the shared queue: a worker keeps them in its
    /// deque (where others can steal them), an outside thread hands all but one back.
    fn adopt(&mut self, p: usize, mut jobs: Vec<JobRef>) -> JobRef {
        let first = jobs.pop().expect("bundles are never empty");
        if jobs.is_empty() {
            return first;
        }
        let Some(deques) = &self.deques else {
            self.shared.publish(p, Entry::Bundle(jobs));
            return first;
        };
        let mut announce = false;
        for job in jobs {
            let (was_empty, moved) = deques.push(p, job);
            announce |= was_empty;
            if !moved.is_empty() {
                self.shared.publish(p, Entry::Bundle(moved));
            }
        }
        if announce {
            self.announce();
        }
        first
    }

    /// Steals the oldest job of priority `p` from another worker's deque, trying first the
    /// worker it last stole from.
    fn steal_from_workers(&mut self, p: usize) -> Option<JobRef> {
        let stealers = self.shared.stealers();
        let count = stealers.len();
        for k in 0..count {
            let victim = (self.victim + k) % count;
            if Some(victim) == self.slot {
                continue;
            }
            let deque = &stealers[victim][p];
            // Two plain loads before the fenced steal: most deques a thief looks at are empty.
            if deque.is_empty() {
                continue;
            }
            loop {
                match deque.steal() {
                    Steal::Success(job) => {
                        self.victim = victim;
                        // Many more left: ask the owner to hand half of them over at its next
                        // push, rather than taking them one compare-and-swap at a time.
                        if deque.len() >= SHARE_ASK {
                            deque.ask_to_share();
                        }
                        // SAFETY: a deque holds only pointers pushed by `Deques::push` from a
                        // `JobRef`; the successful steal made this thread their one taker.
                        return Some(unsafe { JobRef::from_raw(job) });
                    }
                    Steal::Empty => break,
                    Steal::Retry => std::hint::spin_loop(),
                }
            }
        }
        None
    }

    /// Whether work of a priority above `priority` is waiting where this thread can see it.
    pub(crate) fn higher_priority_waiting(&self, priority: Priority) -> bool {
        (0..priority.index()).any(|p| {
            self.deques.as_ref().is_some_and(|d| !d.is_empty(p)) || self.shared.has_queued(p)
        })
    }

    /// Whether a wait on `counter` from this thread can never end: a job running on this thread
    /// (below the wait, on its stack), or a parent of one, is counted on it.
    pub(crate) fn counts_a_running_job(&self, counter: &CounterState) -> bool {
        let depth = self.depth.min(MAX_HELPING_DEPTH);
        self.running[..depth].iter().any(|&completion| {
            let mut completion = completion;
            loop {
                match completion {
                    Completion::None => return false,
                    Completion::Counter(c) => {
                        if std::ptr::eq(c.as_ptr().cast_const(), counter) {
                            return true;
                        }
                        return false;
                    }
                    Completion::Parent(parent) => {
                        // SAFETY: a parent is suspended (alive) until its running child reports,
                        // and its own parent until it does.
                        completion = unsafe { parent.as_ref() }.completion();
                    }
                }
            }
        })
    }

    /// Runs `job` on this thread, then each job it hands over to run next (the newest child
    /// of a job that spawned, see `Spawner`): in a loop, so that a chain of them never deepens
    /// the stack.
    ///
    /// # Safety
    /// `local` is this thread's live executor state and no borrow of it is held; the caller
    /// owns `job`.
    pub(crate) unsafe fn run(local: LocalPtr, job: JobRef) {
        // SAFETY: forwarded from the caller.
        unsafe { Self::run_while(local, job, || true) }
    }

    /// As [`run`](Self::run), following hand-overs only while `go_on` says so (a waiting thread
    /// whose round has ended, or whose deadline has passed, queues the job handed over and
    /// returns, instead of running a chain of them first).
    ///
    /// # Safety
    /// As [`run`](Self::run).
    #[inline]
    pub(crate) unsafe fn run_while(local: LocalPtr, job: JobRef, go_on: impl Fn() -> bool) {
        let mut job = job;
        // Whether this call took a slot for Low work (given back when it returns).
        let mut took = false;
        loop {
            // One test on the common path: neither a Low job nor a slot to give back.
            if took || job.header().priority() == Priority::Low {
                // SAFETY: no job of this call runs; a short borrow.
                let this = unsafe { &mut *local.as_ptr() };
                if !this.enter_background(&job, &mut took) {
                    // A Low job, and the last slot went since it was taken: a thread holding
                    // one runs it.
                    this.push(job);
                    break;
                }
            }
            // SAFETY: forwarded from the caller; a job handed back is ours to run.
            let Some(next) = (unsafe { Self::run_one(local, job) }) else {
                break;
            };
            // SAFETY: the job's user code has returned; a short borrow.
            let this = unsafe { &mut *local.as_ptr() };
            if this.must_queue(&next) || !go_on() {
                this.push(next);
                break;
            }
            job = next;
        }
        if took {
            // SAFETY: as above.
            unsafe { &mut *local.as_ptr() }.leave_background();
        }
    }

    /// Whether a job handed over to run next must go through the queues instead: work of a
    /// higher priority is waiting, or jobs pinned to this thread, which it takes first (a chain
    /// of hand-overs must not starve either); or this thread runs only pinned jobs now and it
    /// is not one, or only jobs of a higher priority.
    #[inline]
    fn must_queue(&self, next: &JobRef) -> bool {
        let header = next.header();
        if self.limited
            && ((self.pinned_only && !header.pinned())
                || header.priority()
                    > if header.pinned() {
                        self.pinned_lowest
                    } else {
                        self.lowest
                    }
                || self
                    .inbox
                    .is_some_and(|slot| self.shared.pinned_waiting(slot)))
        {
            return true;
        }
        self.higher_priority_waiting(header.priority())
    }

    /// Sets what this thread may run now (see the fields); returns the previous settings, for
    /// the caller to restore.
    pub(crate) fn set_limits(&mut self, limits: Limits) -> Limits {
        let outer = self.limits();
        self.pinned_only = limits.pinned_only;
        self.lowest = limits.lowest;
        self.pinned_lowest = limits.pinned_lowest;
        self.runs = limits.lowest.index() + 1;
        self.set_inbox(self.inbox);
        outer
    }

    /// What this thread may run now.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            pinned_only: self.pinned_only,
            lowest: self.lowest,
            pinned_lowest: self.pinned_lowest,
        }
    }

    /// Looks up this thread's pinned inbox again (it may have registered or unregistered since
    /// this state was made, inside a job).
    pub(crate) fn refresh_inbox(&mut self) {
        if self.index.is_none() {
            let inbox = pinned::slot_here(&self.shared);
            self.set_inbox(inbox);
        }
    }

    fn set_inbox(&mut self, inbox: Option<u8>) {
        self.inbox = inbox;
        self.limited = self.pinned_only
            || self.lowest != Priority::Low
            || self.pinned_lowest != Priority::Low
            || inbox.is_some();
    }

    /// Runs one job (see [`run`](Self::run)); returns the job it hands over.
    ///
    /// # Safety
    /// As [`run`](Self::run).
    unsafe fn run_one(local: LocalPtr, job: JobRef) -> Option<JobRef> {
        let started = {
            // SAFETY: a short borrow, ended before the job's user code runs.
            let this = unsafe { &mut *local.as_ptr() };
            let header = job.header();
            this.start_job(header.inherit(), header.completion())
        };
        let next = {
            let _zone = probe::job_zone(job.header().inherit());
            // SAFETY: forwarded from the caller.
            unsafe { job.run(local) }
        };
        // SAFETY: the job's user code has returned; a short borrow.
        unsafe { &mut *local.as_ptr() }.end_job(started);
        next
    }

    /// Before a job (or a child run at once) runs on this thread: opens its span (before the
    /// flush, so that a span covers all the thread does for its job; the statistics count the
    /// flush as busy time too), applies the completions cached for another counter or parent,
    /// records `completion` as running, and makes `inherit`'s priority the current one.
    #[inline]
    fn start_job(&mut self, inherit: Inherit, completion: Completion) -> Started {
        let span = if self.shared.recorder.is_recording() {
            self.open_span(inherit)
        } else {
            // A later recording must not start a span where this job's predecessor ended.
            self.last_end = None;
            None
        };
        if self.pending != completion {
            self.flush();
        }
        if let Some(slot) = self.running.get_mut(self.depth) {
            *slot = completion;
        }
        self.depth += 1;
        Started {
            outer: mem::replace(&mut self.current, inherit.priority),
            span,
        }
    }

    /// After the job [`start_job`](Self::start_job) started: closes its span and restores the
    /// priority of the job that was running before (a job that waits inside runs others here).
    #[inline]
    fn end_job(&mut self, started: Started) {
        self.depth -= 1;
        if let Some(span) = started.span {
            self.close_span(span);
        }
        self.current = started.outer;
    }

    /// Starts a span for a job about to run, if this thread has a lane.
    #[inline]
    fn open_span(&mut self, inherit: Inherit) -> Option<OpenSpan> {
        if self.lane.is_none() && !self.lane_borrowed {
            self.lane_borrowed = true;
            self.lane = self.shared.recorder.borrow_helper();
        }
        if self.lane.is_none() {
            self.shared.recorder.drop_span();
            return None;
        }
        // Only a worker's top-level jobs run back to back with nothing between them but the
        // search for the next one; elsewhere the thread may have done anything since.
        let start = match self.last_end.take() {
            Some(end) if self.depth == 0 => end,
            _ => clock::now(),
        };
        Some(OpenSpan { start, inherit })
    }

    #[inline]
    fn close_span(&mut self, span: OpenSpan) {
        let Some(lane) = self.lane else { return };
        let end = clock::now();
        // SAFETY: `lane` is this thread's own: its worker index, the main thread's lane, or a
        // helper lane lent to this thread until its `Local` drops.
        unsafe {
            self.shared
                .recorder
                .push(lane, RawSpan::new(span.start, end, span.inherit))
        };
        if self.depth == 0 && self.index.is_some() {
            self.last_end = Some(end);
        }
    }

    /// Tells the recorder and the profiler that a job with `inherit` panicked on this thread.
    #[cold]
    pub(crate) fn job_panicked(&self, inherit: Inherit, panic: &Payload) {
        self.shared
            .recorder
            .job_panicked(self.lane, inherit.label, panic);
        probe::job_panicked(inherit, panic);
    }

    /// Reports `count` finished jobs to `completion` (a panic was recorded there already, see
    /// `JobRef::finish`). The decrement itself is cached (module docs), unless these were the
    /// parent's last children: then the parent is resumed at once and handed back, for this
    /// thread to run next without a queue round trip.
    #[must_use = "a resumed parent handed back must be run"]
    pub(crate) fn complete(&mut self, completion: Completion, count: usize) -> Option<JobRef> {
        self.count_finished(count);
        if completion == Completion::None {
            return None;
        }
        if self.pending == completion {
            self.pending_count += count;
        } else {
            self.flush();
            self.pending = completion;
            self.pending_count = count;
        }
        if let Completion::Parent(parent) = completion {
            // SAFETY: the parent is suspended until its last child reports, and ours have not.
            let header = unsafe { parent.as_ref() };
            if header.children.all_ours(self.pending_count) {
                // Every unfinished child of the parent is one this thread finished: the parent
                // is ours to resume, without a read-modify-write (`children.rs`).
                self.pending = Completion::None;
                self.pending_count = 0;
                // SAFETY: its last children were ours (above): nobody else owns the parent.
                let parent = unsafe { JobRef::resume_parent(parent) };
                return self.resume_here(parent);
            }
        }
        None
    }

    /// A parent resumed on this thread: handed back to run next, unless it is pinned to
    /// another thread (then it goes to that thread's queue).
    fn resume_here(&mut self, parent: JobRef) -> Option<JobRef> {
        if parent
            .header()
            .pinned_slot()
            .is_some_and(|slot| Some(slot) != self.inbox)
        {
            self.push(parent);
            return None;
        }
        Some(parent)
    }

    /// Counts `count` finished jobs (or batch items) in the statistics, at the running job's
    /// priority.
    #[inline]
    pub(crate) fn count_finished(&mut self, count: usize) {
        let finished = &mut self.finished[self.current.index()];
        // Saturating: a batch of `usize::MAX` items is counted in one go.
        *finished = finished.saturating_add(count as u64);
        self.since_publish += 1;
        if self.since_publish >= STATS_EVERY {
            self.publish_stats();
        }
    }

    /// Applies the cached completions if they are for `counter` (a job is about to wait on it).
    pub(crate) fn flush_pending_on(&mut self, counter: &CounterState) {
        if let Completion::Counter(pending) = self.pending {
            if std::ptr::eq(pending.as_ptr().cast_const(), counter) {
                self.flush();
            }
        }
    }

    /// Applies the cached completions; true if that resumed a parent into this thread's queue.
    /// Inline for the common case of nothing cached (a job starts after its parent resumed).
    #[inline]
    pub(crate) fn flush(&mut self) -> bool {
        if self.pending == Completion::None {
            return false;
        }
        self.flush_cached()
    }

    #[inline(never)]
    fn flush_cached(&mut self) -> bool {
        match self.flush_resuming() {
            Some(parent) => {
                // Resume it here, next: its children's data is hot in this cache.
                self.push(parent);
                true
            }
            None => false,
        }
    }

    /// Applies the cached completions; returns the parent they resumed, now the caller's.
    #[must_use = "a resumed parent handed back must be run or queued"]
    fn flush_resuming(&mut self) -> Option<JobRef> {
        let count = mem::replace(&mut self.pending_count, 0);
        match mem::replace(&mut self.pending, Completion::None) {
            Completion::None => None,
            Completion::Counter(counter) => {
                // Statistics first: whoever sees the counter reach zero sees these jobs counted
                // (a frame's job count is read right after its counters reach zero). Only the
                // counts: the queue lengths wait for the periodic publication.
                self.publish_finished();
                // SAFETY: `count` finished jobs of this counter are still counted on it.
                unsafe { CounterState::decrement(counter, count) };
                None
            }
            Completion::Parent(parent) => {
                // SAFETY: the parent is suspended until its last child reports, so it is alive.
                let resumed = unsafe { parent.as_ref() }.finish_children(count);
                // SAFETY: these were its last children: the parent is ours to resume.
                resumed.then(|| unsafe { JobRef::resume_parent(parent) })
            }
        }
    }

    /// Sends a yielding job to the back of the shared queue of its priority.
    pub(crate) fn yield_job(&mut self, job: JobRef) {
        self.shared.schedule(job);
    }

    /// A worker going idle prepares its recorder lane's next chunk (if recording and the
    /// current one is half full), so that the fresh memory is touched now, not between jobs.
    pub(crate) fn prepare_recording(&self) {
        if let (Some(lane), Some(_)) = (self.lane, self.index) {
            // SAFETY: a worker's lane is its own: this thread is its only writer.
            unsafe { self.shared.recorder.prepare(lane) };
        }
    }

    /// Adds this thread's finished-job counts to the shared statistics.
    pub(crate) fn publish_stats(&mut self) {
        self.publish_finished();
        if let (Some(index), Some(deques)) = (self.index, &self.deques) {
            let queued = deques.len();
            self.shared.stats().worker(index).set_private_queued(queued);
        }
    }

    /// Adds this thread's finished-job counts to the shared statistics (one atomic operation per
    /// priority that ran any).
    #[inline]
    fn publish_finished(&mut self) {
        self.since_publish = 0;
        if self.finished != [0; 3] {
            let finished = mem::take(&mut self.finished);
            self.shared.stats().add_finished(self.index, finished);
        }
    }

    /// The next job pinned to this thread, if it takes any.
    pub(crate) fn find_pinned(&mut self) -> Option<JobRef> {
        let slot = self.inbox?;
        self.shared.pop_pinned(slot, self.pinned_lowest)
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.flush();
        // A worker leaves only when no job is left anywhere; hand on anything all the same.
        if let Some(deques) = &self.deques {
            for p in 0..Priority::ALL.len() {
                while let Some(job) = deques.pop(p) {
                    self.shared.schedule(job);
                }
            }
        }
        self.publish_stats();
        if let (true, Some(lane)) = (self.lane_borrowed, self.lane) {
            self.shared.recorder.give_back_helper(lane);
        }
    }
}

/// Whether this thread is running jobs now (has executor state that may be borrowed).
pub(crate) fn runs_jobs_here() -> bool {
    CURRENT.get().is_some()
}

/// Whether this thread is one of `shared`'s workers.
pub(crate) fn is_worker_of(shared: &Arc<Shared>) -> bool {
    CURRENT.get().is_some_and(|local| {
        // SAFETY: CURRENT points to the live state of a frame further up this thread's stack.
        let local = unsafe { local.as_ref() };
        local.index.is_some() && Arc::ptr_eq(&local.shared, shared)
    })
}

/// This thread registered (`Some`) or unregistered (`None`) to take jobs pinned to it: the
/// executor state it runs jobs of `shared` with now, if any, looks there from now on.
pub(crate) fn set_inbox_here(shared: &Arc<Shared>, inbox: Option<u8>) {
    if let Some(local) = CURRENT.get() {
        // SAFETY: CURRENT points to the live state of a frame further up this thread's stack;
        // this runs in user code (registering), where the executor holds no borrow of it.
        let local = unsafe { &mut *local.as_ptr() };
        if Arc::ptr_eq(&local.shared, shared) && local.index.is_none() {
            local.set_inbox(inbox);
        }
    }
}

/// Runs `f` with this thread's executor state for `shared`: the current one if this thread is
/// already running jobs of that system, else a new one for the duration of the call.
pub(crate) fn with_local<R>(shared: &Arc<Shared>, f: impl FnOnce(LocalPtr) -> R) -> R {
    if let Some(local) = CURRENT.get() {
        // SAFETY: CURRENT points to the live state of a frame further up this thread's stack.
        if Arc::ptr_eq(&unsafe { local.as_ref() }.shared, shared) {
            return f(local);
        }
    }
    let mut local = Local::new(Arc::clone(shared), None, None);
    let ptr = NonNull::from(&mut local);
    let previous = CURRENT.replace(Some(ptr));
    struct Restore(Option<LocalPtr>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.set(self.0);
        }
    }
    let restore = Restore(previous);
    let result = f(ptr);
    drop(restore);
    drop(local);
    // This thread has no executor state any more: payloads left to drop can be dropped.
    let _ = crate::panic::drop_deferred();
    result
}

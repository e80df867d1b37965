//! Waiting on a counter from a thread: [`JobSystem::wait`](crate::JobSystem::wait) on any
//! thread, including a worker inside a job.
//!
//! A waiting thread runs jobs while the counter's round is not over, and sleeps only when it
//! finds nothing to run. It sleeps in one of two ways, both woken by the counter when the round
//! ends (the thread registers once per wait, see `counter.rs`), never by polling:
//! - a **worker** that still helps sleeps in its system's sleep protocol (`sleep/`), as an idle
//!   worker does: a publisher wakes it for new work as it would any sleeping worker, the
//!   counter wakes it by its index ([`Sleep::wake_worker`](crate::sleep::Sleep::wake_worker)),
//!   and a wait with a deadline wakes itself when it passes. A publisher's wake that lands on
//!   it as the wait ends (the round over, the deadline passed) is passed on to another sleeper
//!   if there is work to see, since the thread goes back to its job instead of looking;
//! - any **other** thread (an outside thread, a worker nested too deep to help) parks, and is
//!   unparked by the counter, or by a job pinned to it (the main thread).
//!
//! ## Nesting
//! A job that waits with `JobSystem::wait` runs other jobs on top of itself. The nesting is
//! bounded: at [`MAX_HELPING_DEPTH`] jobs on the stack the wait runs nothing more and only
//! sleeps, so thousands of waiting jobs cannot overflow a worker's stack. And a wait whose
//! counter counts a job below it on the same stack (the waiting job, or a parent of one) can
//! never end: it returns [`WaitStop::Deadlock`] at once instead of livelocking.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::local::{Limits, Local, LocalPtr};
use super::worker::Backoff;
use crate::counter::{Counter, Round, Wakeup};
use crate::panic::AbortOnUnwind;
use crate::sleep::{InWait, Seen, Wake};
use crate::system::Shared;
use crate::Priority;

/// Jobs on one thread's stack past which a wait stops helping (see the module docs).
pub(crate) const MAX_HELPING_DEPTH: usize = 64;

/// Why [`help_until`] returned before the round ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WaitStop {
    /// The counter counts a job running below the wait on this thread's stack.
    Deadlock,
    /// The deadline passed.
    TimedOut,
}

/// How a waiting thread sleeps (module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sleeper {
    /// In the sleep protocol, as worker `index`.
    Worker(usize),
    /// Parked.
    Parked,
}

/// Runs jobs on this thread until `round` of `counter` has ended; sleeps when there is nothing
/// it may run (module docs).
pub(crate) fn help_until(
    shared: &Arc<Shared>,
    local: LocalPtr,
    counter: &Counter,
    round: Round,
    options: WaitOptions,
) -> Result<(), WaitStop> {
    // Jobs below this frame may borrow from it; every job runs under `catch_unwind`, so an
    // unwind through here would be the executor's own bug: abort rather than free borrowed
    // stack under a running job.
    let abort = AbortOnUnwind;
    let mut slept = false;
    let result = help(shared, local, counter, round, options, &mut slept);
    if slept {
        shared.pass_on_wake();
    }
    std::mem::forget(abort);
    result
}

/// `slept`: set once the thread slept in the sleep protocol (a publisher's wake may have
/// landed on it just as the wait ended).
fn help(
    shared: &Arc<Shared>,
    local: LocalPtr,
    counter: &Counter,
    round: Round,
    options: WaitOptions,
    slept: &mut bool,
) -> Result<(), WaitStop> {
    let deadline = options.deadline;
    let this = || {
        // SAFETY: `local` is this thread's state, and every borrow made here ends before a job
        // runs (see `executor::local::LocalPtr`).
        unsafe { &mut *local.as_ptr() }
    };
    if this().counts_a_running_job(counter.state()) {
        return Err(WaitStop::Deadlock);
    }
    this().refresh_inbox();
    let worker = this().worker_index();
    // A thread outside the pool that does not help runs only its pinned jobs (what they spawn
    // or resume goes to the shared queues). Nobody helps past the nesting bound.
    let helps =
        (worker.is_some() || shared.outside_threads_help()) && this().depth() < MAX_HELPING_DEPTH;
    let may_run = this().depth() < MAX_HELPING_DEPTH;
    // A thread that does not help runs only its pinned jobs, also those handed over to it.
    let pinned_lowest = if options.pinned_any {
        Priority::Low
    } else {
        options.lowest
    };
    let _limits = RestoreLimits::set(local, !helps, options.lowest, pinned_lowest);
    let mut sleeper = match worker {
        Some(index) if helps => Sleeper::Worker(index),
        _ => Sleeper::Parked,
    };
    // This wait's entry in the counter's list, while it has one (taken back if it gives up).
    let mut registered: Option<Wakeup> = None;
    let mut idle_since: Option<Instant> = None;
    let mut backoff = Backoff::new();
    loop {
        if counter.has_ended(round) {
            return Ok(());
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            if let Some(wakeup) = registered.take() {
                counter.deregister(round, &wakeup);
            }
            return Err(WaitStop::TimedOut);
        }
        let found = if helps {
            this().find_work()
        } else if may_run {
            this().find_pinned()
        } else {
            None
        };
        if let Some(job) = found {
            // Follows the jobs it hands over only while the wait goes on.
            let go_on = || {
                !counter.has_ended(round)
                    && deadline.is_none_or(|deadline| Instant::now() < deadline)
            };
            // SAFETY: we own `job`; no borrow of `local` is held.
            unsafe { Local::run_while(local, job, go_on) };
            // What ran may be what the counter waits for: its completion is cached on this
            // thread until another job runs. Apply it now, or the next look would run another
            // job on top of this wait (which, if it waits too, nests again: a fan of children
            // each waiting for a job of its own nested until the bound, then slept for good).
            this().flush_pending_on(counter.state());
            idle_since = None;
            backoff = Backoff::new();
            continue;
        }
        // Nothing to run here: our finished jobs may be what the counter waits for. Applying
        // them may also resume a parent into our deque: look again before sleeping.
        if this().flush() {
            continue;
        }
        // No borrow of this thread's state is live here: drop the payloads that had to wait
        // (their `Drop` may run jobs here: look again).
        if crate::panic::drop_deferred() {
            continue;
        }
        if counter.has_ended(round) {
            return Ok(());
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        if helps && since.elapsed() < shared.spin() {
            // Back off between looks, as an idle worker does.
            if !backoff.pause() {
                thread::yield_now();
            }
            continue;
        }
        if registered.is_none() {
            let wakeup = match sleeper {
                Sleeper::Worker(index) => Wakeup::Worker(Arc::clone(shared), index),
                Sleeper::Parked => Wakeup::Thread(thread::current()),
            };
            if !counter.register(round, wakeup.clone()) {
                return Ok(());
            }
            registered = Some(wakeup);
            continue; // look once more: work may have arrived meanwhile
        }
        // Exactly, under the counter's lock: the quick look can miss an end after 2^31 rounds.
        if counter.has_ended_exactly(round) {
            return Ok(());
        }
        match sleeper {
            Sleeper::Worker(index) => {
                // What it may run (not what any worker may: it would never sleep while work
                // it may not run waits, and its wake-ups would be lost on it).
                let (runs, holds_slot) = this().may_run();
                shared.sleep.start_looking();
                *slept = true;
                let wake = shared.sleep.sleep_as(
                    index,
                    InWait::new(deadline, runs, holds_slot),
                    || {
                        if counter.has_ended(round) {
                            Seen::Work
                        } else {
                            shared.seen_by(runs, holds_slot)
                        }
                    },
                    || false,
                );
                shared.sleep.stop_looking();
                if wake == Wake::Done {
                    // The system shut down around this wait: go on helping, parked in between.
                    sleeper = Sleeper::Parked;
                    if let Some(wakeup) = registered.take() {
                        counter.deregister(round, &wakeup);
                    }
                }
            }
            Sleeper::Parked => match deadline {
                Some(deadline) => {
                    thread::park_timeout(deadline.saturating_duration_since(Instant::now()))
                }
                None => thread::park(),
            },
        }
        idle_since = None;
    }
}

/// Sets what a thread may run (`Local::set_limits`) for a scope, and restores the outer
/// settings when dropped. The lowest priority only ever narrows: a wait inside a job that a
/// wait for High work runs does not open the thread to Low jobs. Every wait makes one, so it
/// also lends the thread's slot for Low work back for a wait that may not run Low jobs itself
/// (`background.rs`): the Low job it waits for may need the slot.
pub(crate) struct RestoreLimits {
    local: LocalPtr,
    outer: Limits,
    /// Whether the thread lent its slot for Low work, to take back.
    lent: bool,
}

impl RestoreLimits {
    /// Runs only pinned jobs if `pinned_only`, and none below `lowest` (this thread's pinned
    /// jobs: none below `pinned_lowest`), within what the outer settings allow.
    pub(crate) fn set(
        local: LocalPtr,
        pinned_only: bool,
        lowest: Priority,
        pinned_lowest: Priority,
    ) -> RestoreLimits {
        // SAFETY: `local` is this thread's state; a short borrow (see `LocalPtr`).
        let this = unsafe { &mut *local.as_ptr() };
        let outer = this.limits();
        let outer = this.set_limits(Limits {
            pinned_only,
            lowest: lowest.min(outer.lowest),
            pinned_lowest: pinned_lowest.min(outer.pinned_lowest),
        });
        // A wait that may run Low jobs keeps the slot: it runs the Low work it waits for itself
        // (no other thread can take it while the cap is reached), and the thread stays one of
        // the threads running Low work.
        let runs_low = !this.limits().pinned_only && this.limits().lowest == Priority::Low;
        let lent = !runs_low && this.lend_background();
        RestoreLimits { local, outer, lent }
    }
}

impl Drop for RestoreLimits {
    fn drop(&mut self) {
        // SAFETY: as in `set`: the same thread, which holds no other borrow of its state here.
        let this = unsafe { &mut *self.local.as_ptr() };
        this.set_limits(self.outer);
        if self.lent {
            this.resume_background();
        }
    }
}

/// How a thread waits on a counter ([`JobSystem::wait_with`](crate::JobSystem::wait_with)):
/// until when, and which jobs it may run meanwhile.
///
/// The default waits as [`JobSystem::wait`](crate::JobSystem::wait) does: without a deadline,
/// running jobs of every priority.
///
/// ```
/// use std::time::Duration;
/// use jobs::{Priority, WaitOptions};
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
/// let frame = system.counter();
/// system.submit_counted(&frame, jobs::Job::from_fn(|_| {}).with_priority(Priority::High));
/// // The main thread waits for its High frame work without picking up a long Low job.
/// let options = WaitOptions::new().lowest_priority(Priority::High).timeout(Duration::from_secs(5));
/// assert!(system.wait_with(&frame, options)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitOptions {
    pub(crate) deadline: Option<Instant>,
    pub(crate) lowest: Priority,
    pub(crate) pinned_any: bool,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions::new()
    }
}

impl WaitOptions {
    /// No deadline; jobs of every priority may run while waiting.
    pub const fn new() -> WaitOptions {
        WaitOptions {
            deadline: None,
            lowest: Priority::Low,
            pinned_any: false,
        }
    }

    /// Gives up at `deadline` (the wait returns `Ok(false)`). Of `until` and
    /// [`timeout`](Self::timeout), the later call sets the deadline.
    pub fn until(mut self, deadline: Instant) -> WaitOptions {
        self.deadline = Some(deadline);
        self
    }

    /// Gives up `timeout` from now; a timeout too long to represent (`Duration::MAX`) is no
    /// timeout, and clears a deadline set before.
    pub fn timeout(mut self, timeout: Duration) -> WaitOptions {
        self.deadline = Instant::now().checked_add(timeout);
        self
    }

    /// Runs only jobs of `lowest` priority or higher while waiting (enkiTS's
    /// `lowestPriorityToRun`): the main thread waiting for a High frame does not pick up a
    /// long Low job. Jobs of this thread's pinned queue obey it too. Nothing the jobs it runs
    /// call (nested waits, `run_pinned`, `run_pinned_until`, `help_until`) runs lower
    /// priorities than this.
    pub fn lowest_priority(mut self, lowest: Priority) -> WaitOptions {
        self.lowest = lowest;
        self
    }

    /// Runs the jobs pinned to this thread whatever their priority, while
    /// [`lowest_priority`](Self::lowest_priority) still limits every other job. Only this thread
    /// can run them: a wait for work that hands some of it to this thread (a frame whose
    /// passes pin a present or an upload here) would otherwise never end if that job's
    /// priority were below the limit. A nested wait still narrows it.
    ///
    /// ```
    /// use jobs::{Job, Priority, WaitOptions};
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(1))?;
    /// let frame = system.counter();
    /// let f = frame.clone();
    /// // High work that hands a Normal job to the main thread and counts it on the frame.
    /// system.submit_counted(&frame, Job::from_fn(move |cx| {
    ///     cx.spawn_job_counted(&f, Job::from_fn(|cx| assert!(cx.on_main_thread())).pinned_to_main());
    /// }).with_priority(Priority::High));
    /// let options = WaitOptions::new().lowest_priority(Priority::High).pinned_jobs_at_any_priority();
    /// assert!(system.wait_with(&frame, options)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pinned_jobs_at_any_priority(mut self) -> WaitOptions {
        self.pinned_any = true;
        self
    }
}

/// The longest an outside thread helping for a while ([`help_for`]) parks before it looks for
/// work again: nothing wakes it for new work (it is not in the sleep protocol).
const HELPER_PARK: Duration = Duration::from_millis(1);

/// Runs jobs on this thread until `deadline` (`JobSystem::help_until`); returns how many it
/// started.
pub(crate) fn help_for(shared: &Arc<Shared>, local: LocalPtr, deadline: Instant) -> usize {
    // As in `help_until`: an unwind through here would be the executor's own bug.
    let abort = AbortOnUnwind;
    let this = || {
        // SAFETY: `local` is this thread's state, and every borrow made here ends before a job
        // runs (see `executor::local::LocalPtr`).
        unsafe { &mut *local.as_ptr() }
    };
    this().refresh_inbox();
    let may_run = this().depth() < MAX_HELPING_DEPTH;
    let _limits = RestoreLimits::set(local, !may_run, Priority::Low, Priority::Low);
    let mut ran = 0usize;
    let mut backoff = Backoff::new();
    let mut idle_since: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let found = if may_run { this().find_work() } else { None };
        if let Some(job) = found {
            let go_on = || Instant::now() < deadline;
            // SAFETY: we own `job`; no borrow of `local` is held.
            unsafe { Local::run_while(local, job, go_on) };
            ran = ran.saturating_add(1);
            idle_since = None;
            backoff = Backoff::new();
            continue;
        }
        if this().flush() || crate::panic::drop_deferred() {
            continue;
        }
        let since = *idle_since.get_or_insert(now);
        if since.elapsed() < shared.spin() {
            if !backoff.pause() {
                thread::yield_now();
            }
            continue;
        }
        // Unparked early by a job pinned to this thread, if it takes any.
        thread::park_timeout((deadline - now).min(HELPER_PARK));
    }
    std::mem::forget(abort);
    ran
}

/// Runs the jobs pinned to this thread (`slot`): those queued now, and with a deadline, the
/// ones that come until then (`JobSystem::run_pinned`, `run_pinned_until`). Returns how many
/// ran.
pub(crate) fn run_pinned(
    shared: &Arc<Shared>,
    local: LocalPtr,
    slot: u8,
    deadline: Option<Instant>,
) -> usize {
    // As in `help_until`: an unwind through here would be the executor's own bug.
    let abort = AbortOnUnwind;
    let this = || {
        // SAFETY: `local` is this thread's state, and every borrow made here ends before a job
        // runs (see `executor::local::LocalPtr`).
        unsafe { &mut *local.as_ptr() }
    };
    this().refresh_inbox();
    // A pinned job that calls this runs more pinned jobs on top of itself: bounded as waits are.
    let may_run = this().depth() < MAX_HELPING_DEPTH;
    // Only pinned jobs, also among those handed over to run next; the lowest priority of an
    // outer wait still holds.
    let _limits = RestoreLimits::set(local, true, Priority::Low, Priority::Low);
    // What is queued now runs whatever the deadline; after that, only until the deadline.
    // Without one, nothing more: a job that yields or pins a successor here would otherwise
    // keep this from returning.
    let mut owed = shared.inboxes.queued_in(slot);
    let time_left = || deadline.is_some_and(|deadline| Instant::now() < deadline);
    let mut ran = 0usize;
    loop {
        let found = if may_run && (owed > 0 || time_left()) {
            this().find_pinned()
        } else {
            None
        };
        if let Some(job) = found {
            owed = owed.saturating_sub(1);
            let go_on = || owed > 0 || time_left();
            // SAFETY: we own `job`; no borrow of `local` is held.
            unsafe { Local::run_while(local, job, go_on) };
            ran = ran.saturating_add(1);
            continue;
        }
        // Report what ran (a counter may wait for it) before returning or sleeping; that may
        // resume a pinned parent here: look again.
        if this().flush() || crate::panic::drop_deferred() {
            continue;
        }
        let Some(deadline) = deadline else { break };
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // Unparked by a push into this thread's inbox; a push since the look above left the
        // park token set, so this returns at once (`pinned/README.md`).
        thread::park_timeout(deadline - now);
    }
    std::mem::forget(abort);
    ran
}

//! Fork-join on the caller's stack: [`Context::join`](crate::Context::join).
//!
//! `join(a, b)` is for recursive splits inside a job (a tree, a sort, a spatial partition),
//! where a spawn-then-continue step per level would cost a heap job, a suspension and a resume
//! per node. The two halves are plain closures, and nothing is allocated:
//!
//! 1. `b` becomes a job in the joining thread's stack frame (a `StackJob`: a job header, the
//!    closure, a slot for its result, and a [`JoinLatch`]) and is offered on the thread's own
//!    deque, where idle workers can steal it;
//! 2. `a` runs here, at once;
//! 3. the thread pops its deque: if `b` is still there (nobody was idle), it runs here too, as
//!    a plain call; jobs `a` left above it run first (they are newer);
//! 4. if another thread took `b`, the joining thread runs other jobs until `b`'s latch is set
//!    (as a [`JobSystem::wait`](crate::JobSystem::wait) inside a job does, with the same nesting
//!    bound; for the first moments only jobs of the joining job's priority or higher, and the
//!    thread's pinned jobs), and sleeps when it finds none; the thread that ran `b` wakes it.
//!
//! The frame outlives every use of the job: from the offer on, `join` neither returns nor
//! unwinds (an unwind is an abort, [`AbortOnUnwind`]) until the job is taken back, or has run
//! (or been cancelled at shutdown) and set the latch; a thread that ran it touches it for the
//! last time in that set (`latch.rs`). A panic in either half is caught, the other half still
//! runs to the end if another thread has it, and then the panic goes on from `join`; `a`'s
//! first, if both panicked.
//!
//! A thread outside the pool other than the main thread has no deque: it offers `b` on the
//! shared queue. A thread that may not take jobs from others now (it runs only jobs pinned to
//! it, or only higher priorities), or whose deque is full, runs both halves itself, one after
//! the other.

use std::cell::UnsafeCell;
use std::mem;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::{addr_of, NonNull};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::latch::JoinLatch;
use super::local::{Local, LocalPtr};
use super::wait::{RestoreLimits, MAX_HELPING_DEPTH};
use super::worker::Backoff;
use crate::counter::Wakeup;
use crate::job::{Header, JobRef, VTable};
use crate::panic::{drop_payload, AbortOnUnwind, Cancelled, Payload};
use crate::sleep::{InWait, Seen, Wake};
use crate::{Context, Priority};

/// The second half of a join, in the joining thread's frame (module docs). The header comes
/// first, so that a pointer to the job is a pointer to its header.
#[repr(C)]
struct StackJob<B, R> {
    header: Header,
    /// The closure, until whoever runs the half takes it.
    body: UnsafeCell<Option<B>>,
    /// What it returned, or its panic; written before the latch is set.
    result: UnsafeCell<Option<Result<R, Payload>>>,
    latch: JoinLatch<Wakeup>,
}

impl<B, R> StackJob<B, R>
where
    B: FnOnce(&mut Context<'_>) -> R + Send,
    R: Send,
{
    const VTABLE: &'static VTable = &VTable::on_stack(run_half::<B, R>, cancel_half::<B, R>);

    /// The closure, if nobody took it yet: by the joining thread when no other thread will run
    /// it, or after a cancellation (which leaves it).
    fn take_body(&self) -> Option<B> {
        // SAFETY: called by the joining thread only when the half was never offered, was
        // taken back from its deque, or its latch is set: no other thread reaches the job.
        unsafe { (*self.body.get()).take() }
    }

    /// The result, once the latch is set.
    fn take_result(&self) -> Result<R, Payload> {
        debug_assert!(self.latch.is_set());
        // SAFETY: the latch is set: whoever ran (or cancelled) the half wrote the result
        // before, and touches the job no more.
        let result = unsafe { (*self.result.get()).take() };
        result.expect("a set latch follows the result")
    }
}

/// [`Context::join`](crate::Context::join) (module docs).
pub(crate) fn join<A, B, RA, RB>(cx: &mut Context<'_>, a: A, b: B) -> (RA, RB)
where
    A: FnOnce(&mut Context<'_>) -> RA,
    B: FnOnce(&mut Context<'_>) -> RB + Send,
    RB: Send,
{
    let local = cx.local_ptr();
    // SAFETY: a short borrow of this thread's state; user code runs only after it ends.
    let completion = unsafe { local.as_ref() }.running_completion();
    let half = StackJob {
        header: Header::on_stack(StackJob::<B, RB>::VTABLE, cx.inherit(), completion),
        body: UnsafeCell::new(Some(b)),
        result: UnsafeCell::new(None),
        latch: JoinLatch::new(),
    };
    let ptr = NonNull::from(&half).cast::<Header>();
    // SAFETY: `half` begins with its header (`repr(C)`), its vtable's functions take a
    // `StackJob<B, RB>`, and the pointer comes from a reference to all of it (every field another
    // thread writes is in an `UnsafeCell` or atomic). `half` stays in place until it drops at the
    // end of this function, and from the offer below this function neither returns nor unwinds
    // before the `JobRef` is consumed: taken back here, or run or cancelled elsewhere, which sets
    // the latch waited for below.
    let job = unsafe { JobRef::on_stack(ptr) };
    // SAFETY: as above, a short borrow.
    let p = match unsafe { &mut *local.as_ptr() }.offer_half(job) {
        Ok(p) => p,
        Err(job) => {
            // Nobody else may run it: both halves here, one after the other.
            let _ = job.into_raw();
            let ra = catch_unwind(AssertUnwindSafe(|| a(cx)));
            return run_here(cx, ra, &half);
        }
    };
    // Until the half is back or its latch is set, other threads may use `half`.
    let abort = AbortOnUnwind;
    let ra = catch_unwind(AssertUnwindSafe(|| a(cx)));
    loop {
        // SAFETY: as above, a short borrow.
        let popped = unsafe { &mut *local.as_ptr() }.pop_own(p);
        match popped {
            Some(job) if job.as_ptr() == ptr => {
                // Nobody took it: it is ours alone again.
                let _ = job.into_raw();
                mem::forget(abort);
                return run_here(cx, ra, &half);
            }
            // Newer than the half: left by `a`.
            // SAFETY: we own `job`; no borrow of this thread's state is held.
            Some(job) => unsafe { Local::run(local, job) },
            None => break,
        }
    }
    // Another thread took the half (or it went to the shared queue with its deque's older half).
    wait_for_half(local, &half.latch, half.header.priority());
    mem::forget(abort);
    let rb = half.take_result();
    // A cancelled half leaves its closure: dropped here, before any panic goes on.
    if let Some(body) = half.take_body() {
        dispose(local, body);
    }
    settle(local, ra, Some(rb))
}

/// Runs `b` here after `a` returned `ra`, unless `a` panicked (then `b` is dropped unrun).
/// Inlined into `join`: a frame of its own would add 64 bytes a level to a recursion through
/// `b` (288 bytes a level instead of 192, optimized; `Config::worker_stack_size` documents the
/// figures).
#[inline(always)]
fn run_here<B, RA, RB>(
    cx: &mut Context<'_>,
    ra: Result<RA, Payload>,
    half: &StackJob<B, RB>,
) -> (RA, RB)
where
    B: FnOnce(&mut Context<'_>) -> RB + Send,
    RB: Send,
{
    let local = cx.local_ptr();
    let b = half
        .take_body()
        .expect("a half not run elsewhere keeps its closure");
    let rb = if ra.is_ok() {
        Some(catch_unwind(AssertUnwindSafe(|| b(cx))))
    } else {
        dispose(local, b);
        None
    };
    settle(local, ra, rb)
}

/// Both results, or the panic that goes on from `join`: `a`'s if it panicked, else `b`'s. What
/// is left (the other half's result, or its second panic) is dropped first, under
/// `catch_unwind`: a `Drop` that panics while a panic goes on would abort.
fn settle<RA, RB>(
    local: LocalPtr,
    ra: Result<RA, Payload>,
    rb: Option<Result<RB, Payload>>,
) -> (RA, RB) {
    match (ra, rb) {
        (Ok(ra), Some(Ok(rb))) => (ra, rb),
        (Ok(ra), Some(Err(panic))) => {
            dispose(local, ra);
            resume_unwind(panic)
        }
        (Ok(_), None) => unreachable!("b runs whenever a returned"),
        (Err(panic), rb) => {
            match rb {
                Some(Ok(rb)) => dispose(local, rb),
                Some(Err(second)) => unobserved(local, second),
                None => {}
            }
            resume_unwind(panic)
        }
    }
}

/// Drops `value` (user data: its `Drop` may panic) where a panic cannot abort; a panic of its
/// drop is counted as unobserved.
fn dispose<T>(local: LocalPtr, value: T) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| drop(value))) {
        unobserved(local, panic);
    }
}

/// Counts a panic nobody will see (a second one of this join) and drops its payload.
fn unobserved(local: LocalPtr, panic: Payload) {
    // SAFETY: a short borrow of this thread's state, in user context (no other borrow held).
    unsafe { local.as_ref() }.shared.unobserved_panic();
    drop_payload(panic);
}

/// How long a worker whose system shut down around its join sleeps between two looks at the
/// latch (nothing can wake it through the sleep protocol any more).
const SHUT_DOWN_POLL: Duration = Duration::from_millis(1);

/// Runs other jobs on this thread until `latch` is set; sleeps when there is none it may run.
/// First, for as long as an idle worker spins, only jobs of `priority` (the joining job's) or
/// higher: a frame's job that joins does not pick up a long background job while a short half
/// finishes elsewhere.
fn wait_for_half(local: LocalPtr, latch: &JoinLatch<Wakeup>, priority: Priority) {
    let mut slept = false;
    look_and_sleep(local, latch, priority, &mut slept);
    if slept {
        // A publisher's wake may have chosen this thread just as the latch was set: it goes
        // back to its job instead of looking, so wake another sleeper if there is work
        // (`sleep/README.md`, *Waiting inside a job*).
        // SAFETY: a short borrow of this thread's state, in user context (no other borrow).
        unsafe { local.as_ref() }.shared.pass_on_wake();
    }
}

/// [`wait_for_half`]'s loop; `slept` is set once the thread slept in the sleep protocol.
fn look_and_sleep(
    local: LocalPtr,
    latch: &JoinLatch<Wakeup>,
    priority: Priority,
    slept: &mut bool,
) {
    let this = || {
        // SAFETY: `local` is this thread's state, and every borrow made here ends before a job
        // runs (see `executor::local::LocalPtr`).
        unsafe { &mut *local.as_ptr() }
    };
    // SAFETY: the system's shared state is an allocation of its own, kept alive by this
    // thread's state for the whole wait; this borrow is not a borrow of that state.
    let shared = unsafe { &*Arc::as_ptr(&this().shared) };
    // Past the nesting bound a join only waits, as a nested `wait` does.
    let may_run = this().depth() < MAX_HELPING_DEPTH;
    // For as long as an idle worker spins, only jobs of this job's priority or higher (and
    // this thread's pinned jobs, which nobody else can run): a short half is waited for without
    // starting a long background job. Then whatever the thread may run: the half may itself
    // wait for a lower job that only this thread can run now.
    let started = Instant::now();
    let mut narrow = Some(RestoreLimits::set(local, false, priority, Priority::Low));
    let worker = this().worker_index().filter(|_| may_run);
    let mut backoff = Backoff::new();
    let mut idle_since: Option<Instant> = None;
    loop {
        if latch.is_set() {
            return;
        }
        if narrow.is_some() && started.elapsed() >= shared.spin() {
            narrow = None;
        }
        let found = if may_run { this().find_work() } else { None };
        if let Some(job) = found {
            // SAFETY: we own `job`; no borrow of this thread's state is held.
            unsafe { Local::run_while(local, job, || !latch.is_set()) };
            idle_since = None;
            backoff = Backoff::new();
            continue;
        }
        // Report what this thread finished (others may wait for it), and drop the payloads
        // that had to wait; either may give this thread work.
        if this().flush() || crate::panic::drop_deferred() {
            continue;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        if since.elapsed() < shared.spin() {
            if !backoff.pause() {
                thread::yield_now();
            }
            continue;
        }
        if narrow.take().is_some() {
            // Before sleeping, look once more with every priority this thread may run.
            continue;
        }
        let (runs, holds_slot) = this().may_run();
        match worker {
            Some(index) => {
                let wakeup = || Wakeup::Worker(Arc::clone(&this().shared), index);
                if !latch.announce_sleep(wakeup) {
                    return;
                }
                // As an idle worker sleeps: woken for new work too, which it then helps with.
                shared.sleep.start_looking();
                *slept = true;
                let wake = shared.sleep.sleep_as(
                    index,
                    InWait::new(None, runs, holds_slot),
                    || {
                        if latch.is_set() {
                            Seen::Work
                        } else {
                            shared.seen_by(runs, holds_slot)
                        }
                    },
                    || false,
                );
                shared.sleep.stop_looking();
                if wake == Wake::Done {
                    while !latch.is_set() {
                        thread::park_timeout(SHUT_DOWN_POLL);
                    }
                    return;
                }
            }
            None => {
                if !latch.announce_sleep(|| Wakeup::Thread(thread::current())) {
                    return;
                }
                thread::park();
            }
        }
        if !latch.retract() {
            return;
        }
        idle_since = None;
    }
}

/// Runs a half another thread took (the vtable's `run`).
///
/// # Safety
/// `job` was made by `join` for a `StackJob<B, R>` (`JobRef::on_stack`), and the caller owns it;
/// `local` is this thread's live state with no borrow of it held.
unsafe fn run_half<B, R>(job: JobRef, local: LocalPtr) -> Option<JobRef>
where
    B: FnOnce(&mut Context<'_>) -> R + Send,
    R: Send,
{
    let this = job
        .into_raw()
        .cast::<StackJob<B, R>>()
        .as_ptr()
        .cast_const();
    // SAFETY: the `JobRef` (consumed) made this thread the half's one runner: the joining
    // thread touches the body and the result only once the latch is set.
    let (body, inherit) = unsafe { ((*(*this).body.get()).take(), (*this).header.inherit()) };
    let Some(body) = body else {
        unreachable!("a join's half runs once")
    };
    let result = catch_unwind(AssertUnwindSafe(|| body(&mut Context::new(local, inherit))));
    // SAFETY: as above; the result is written, and the job is not touched after the set.
    unsafe { finish_half(this, result) };
    None
}

/// Writes a half's result and sets its latch, waking the joining thread if it sleeps.
///
/// # Safety
/// The caller owns the half (its consumed `JobRef`); after this the joining thread may free
/// it, so the caller touches it no more.
unsafe fn finish_half<B, R>(this: *const StackJob<B, R>, result: Result<R, Payload>) {
    // SAFETY: we own the half: the joining thread reads the result only once the latch is set.
    unsafe { *(*this).result.get() = Some(result) };
    // SAFETY: the latch is alive and set only here; nothing touches the job after it.
    let wakeup = unsafe { JoinLatch::set(addr_of!((*this).latch)) };
    if let Some(wakeup) = wakeup {
        wakeup.wake();
    }
}

/// Tells the joining thread its half will not run (the vtable's `drop`: a shutdown cancelled
/// it); the joining thread raises the cancellation.
///
/// # Safety
/// `job` is the header of a `StackJob<B, R>` that the caller owns (as a `JobRef`, consumed)
/// and that is not running.
unsafe fn cancel_half<B, R>(job: NonNull<Header>) {
    let this = job.cast::<StackJob<B, R>>().as_ptr().cast_const();
    // SAFETY: the caller owns the half and touches it no more; the body stays for the joining
    // thread to drop.
    unsafe { finish_half(this, Err(Box::new(Cancelled))) };
}

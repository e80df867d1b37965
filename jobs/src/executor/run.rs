//! The interpreter: runs a job's steps and carries out the [`Action`] each returns, until the
//! job finishes or is handed to a new owner (a queue, a counter's waiter list, an I/O thread, or
//! its children). This is the seed's model executed: a step returns what happens next, and the
//! job is suspended in between without a stack of its own.

use std::mem::{self, MaybeUninit};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::local::LocalPtr;
use super::spawner::{Children, Spawned, Spawner};
use crate::job::{Completion, Header, HeapJob, JobRef, Next};
use crate::panic::{drop_payload, JobPanic};
use crate::{Action, Context};

/// Runs steps of the job until it finishes or is handed to a new owner (a queue, a counter's
/// waiter list, an I/O thread, or its children). Returns the job this thread runs next: the
/// newest child of a job that handed itself to its children (never queued, see `Spawner`), or
/// the parent a finished job was the last child of (see `Local::complete`).
///
/// # Safety
/// See [`JobRef::run`]: `job` is owned by the caller, whose thread's live state is `local`.
#[must_use = "the job handed back is owned by the caller, who must run it"]
pub(crate) unsafe fn run_steps<C>(mut job: JobRef, local: LocalPtr) -> Option<JobRef> {
    let ptr = job.as_ptr().cast::<HeapJob<C>>().as_ptr();
    loop {
        // Ownership, for every unsafe block of this loop: we own the job. The header is only
        // read or changed through atomics; the capture and `next` are touched only by the owner,
        // and children borrowing the capture have all finished before the parent runs again.
        // SAFETY: see above.
        let header = unsafe { &(*ptr).header };
        if let Some(panic) = header.panic.take() {
            // A child, or a counter waited on, panicked: cancel instead of continuing.
            // SAFETY: we own the job and no step of it runs.
            return unsafe { job.finish(local, Some(panic)) };
        }
        // SAFETY: we own the job (the function's contract).
        let next = unsafe { mem::replace(&mut (*ptr).next, Next::Spent) };
        let inherit = header.inherit();
        // The step's action is written straight into this slot (no copy of the whole enum: see
        // the match below).
        let mut slot = MaybeUninit::<Action<C>>::uninit();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: we own the job (the function's contract).
            let capture = unsafe { &mut (*ptr).capture };
            let mut cx = Context::new(local, inherit);
            match next {
                Next::Step(step) => {
                    slot.write(step(capture, &mut cx));
                }
                Next::Memory(resume) => {
                    let (then, memory) = *resume;
                    slot.write(then(capture, &mut cx, memory));
                }
                Next::Blocking(..) | Next::Spent => unreachable!("a job resumed without a step"),
            }
        }));
        if let Err(panic) = outcome {
            // SAFETY: the step's user code has returned; a short borrow.
            unsafe { local.as_ref() }.job_panicked(inherit, &panic);
            // SAFETY: we own the job and its step has returned.
            return unsafe { job.finish(local, Some(panic)) };
        }
        let local_ref = || {
            // SAFETY: the step's user code has returned; these borrows are short.
            unsafe { &mut *local.as_ptr() }
        };
        // The common actions are read in place, field by field: the step wrote them with word
        // stores, and moving the whole enum reads them back with wider loads, which the CPU
        // cannot forward from those stores (it stalls until they reach the cache: a third of a
        // spawn tree's time before this).
        // `Done` and `Spawn` hold nothing to drop (two function pointers at most), so the slot
        // is left as it is after them; every other action is moved out below and dropped.
        // SAFETY: the step returned (no panic), so it wrote its action.
        match unsafe { slot.assume_init_ref() } {
            Action::Done => {
                // SAFETY: we own the job and its step has returned.
                return unsafe { job.finish_done(local) };
            }
            &Action::Spawn(spawn, then) => {
                // SAFETY: we own the job (the function's contract).
                unsafe { (*ptr).next = Next::Step(then) };
                let mut children = Children::new();
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    // SAFETY: we own the job (the function's contract).
                    let capture = unsafe { &mut (*ptr).capture };
                    let mut spawner = Spawner::new(local, job.as_ptr(), &mut children);
                    spawn(capture, &mut spawner);
                }));
                if let Err(panic) = outcome {
                    // SAFETY: the spawning closure has returned; a short borrow.
                    unsafe { local.as_ref() }.job_panicked(inherit, &panic);
                    if let Some(unkept) = header.record_panic(panic) {
                        // The slot had a child's panic already: this one is not reported.
                        local_ref().shared.unobserved_panic();
                        drop_payload(unkept);
                    }
                }
                // The last child (or this, if all are done) resumes the job.
                match children.finish(local, header) {
                    Spawned::Continue => {}
                    Spawned::Handed(next) => {
                        job.hand_to_children();
                        // The newest child runs next here, without a queue round trip.
                        return next;
                    }
                }
                continue;
            }
            _ => {}
        }
        // SAFETY: as above; read once, the slot is not used again.
        let action = unsafe { slot.assume_init_read() };
        // SAFETY: we own the job (the comment at the top of the loop); its step has returned.
        match unsafe { carry_out(job, ptr, action, local) } {
            Carried::Return(next) => return next,
            Carried::Resume(back) => job = back,
        }
    }
}

/// What became of a job after an action other than `Done` or `Spawn`.
enum Carried {
    /// Handed to a new owner (or finished): `run_steps` returns this.
    Return(Option<JobRef>),
    /// Still ours (a wait on a counter already at zero, memory granted): run its next step.
    Resume(JobRef),
}

/// Carries out the actions other than `Done` and `Spawn`: out of `run_steps`'s loop, so that
/// the common path (a step, then `Done` or `Spawn`) keeps its registers and its frame small.
///
/// # Safety
/// We own `job`, whose block is `ptr`; its step has returned `action`; `local` is this
/// thread's live executor state with no borrow of it held.
#[inline(never)]
unsafe fn carry_out<C>(
    job: JobRef,
    ptr: *mut HeapJob<C>,
    action: Action<C>,
    local: LocalPtr,
) -> Carried {
    // SAFETY: we own the job: the header is only read or changed through atomics.
    let header = unsafe { &(*ptr).header };
    let inherit = header.inherit();
    let local_ref = || {
        // SAFETY: the step's user code has returned; these borrows are short.
        unsafe { &mut *local.as_ptr() }
    };
    // A `Wait` passes the counter's panic on; a `WaitSettled` does not.
    let inherit_panic = matches!(action, Action::Wait(..));
    match action {
        Action::Yield(then) => {
            // SAFETY: we own the job (the function's contract).
            unsafe { (*ptr).next = Next::Step(then) };
            local_ref().yield_job(job);
            Carried::Return(None)
        }
        Action::Wait(counter, then) | Action::WaitSettled(counter, then)
            if waits_on_itself(header, &counter) =>
        {
            // It is counted on that counter: the counter cannot reach zero before it ends.
            let _ = then;
            drop(counter);
            let panic = JobPanic::message_only(format!(
                "deadlock: job '{}' waits on the counter it is itself counted on",
                inherit.label.name()
            ));
            // SAFETY: we own the job and its step has returned.
            Carried::Return(unsafe { job.finish(local, Some(Box::new(panic))) })
        }
        Action::Wait(counter, then) | Action::WaitSettled(counter, then) => {
            // SAFETY: we own the job (the function's contract).
            unsafe { (*ptr).next = Next::Step(then) };
            // Jobs this thread finished for the counter may still be cached here: apply them
            // first, or the job would suspend on work that is already done.
            local_ref().flush_pending_on(counter.state());
            // After this the counter may own the job: touch nothing unless it is ours again.
            match counter
                .state()
                .wait_job(job, &local_ref().shared, inherit_panic)
            {
                Some(back) => Carried::Resume(back),
                None => Carried::Return(None),
            }
        }
        Action::Done | Action::Spawn(..) => unreachable!("taken in place above"),
        Action::Memory(request, then) => {
            let memory = local_ref().shared.heap().allocate(request);
            // SAFETY: we own the job (the function's contract).
            unsafe { (*ptr).next = Next::Memory(Box::new((then, memory))) };
            Carried::Resume(job)
        }
        Action::Blocking(call, then) => {
            // SAFETY: we own the job (the function's contract).
            unsafe { (*ptr).next = Next::Blocking(Box::new((call, then))) };
            local_ref().shared.submit_blocking(job);
            Carried::Return(None)
        }
    }
}

/// Whether a job with `header` would wait on the counter it is itself counted on.
fn waits_on_itself(header: &Header, counter: &crate::Counter) -> bool {
    match header.completion() {
        Completion::Counter(own) => std::ptr::eq(own.as_ptr().cast_const(), counter.state()),
        _ => false,
    }
}

//! How a panic inside a job reaches whoever waits for it.
//!
//! Every step of a job runs under `catch_unwind`. A panicking job is dropped, counted as
//! finished, and its payload is recorded where its completion goes: on its [`Counter`] (a thread
//! that waits there gets [`JobPanic`] back, a job that waits there is cancelled with it), or on
//! its parent job (which is then cancelled instead of continued, passing the panic up). The
//! worker that ran it goes on with the next job.
//!
//! ## User code inside the core
//! A panic payload is user data: its `Drop` may panic again, or re-enter the executor (call
//! [`JobSystem::wait`](crate::JobSystem::wait)). So a payload the core does not hand on is
//! dropped only through [`drop_payload`]: under `catch_unwind`, at a point where no borrow of the
//! thread's executor state is live. Unwinding out of the core itself (a bug) could leave jobs
//! running that borrow a frame being unwound: [`AbortOnUnwind`] turns that into an abort, as
//! rayon-core's `AbortIfPanic` does.
//!
//! [`Counter`]: crate::Counter

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// What `catch_unwind` hands back.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// A job panicked (or was cancelled at shutdown) while it was counted by the counter waited on.
///
/// ```
/// use jobs::{Counter, Job, JobSystem};
/// let system = JobSystem::new(jobs::Config::default().workers(2))?;
/// let counter = Counter::new();
/// system.submit_counted(&counter, Job::from_fn(|_| panic!("bad particle")));
/// let err = system.wait(&counter).unwrap_err();
/// assert_eq!(err.message(), "bad particle");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JobPanic {
    message: String,
    payload: Option<Payload>,
}

impl JobPanic {
    pub(crate) fn new(payload: Payload) -> Self {
        JobPanic {
            message: message_of(&*payload),
            payload: Some(payload),
        }
    }

    pub(crate) fn message_only(message: String) -> Self {
        JobPanic {
            message,
            payload: None,
        }
    }

    /// The panic message (`"Box<dyn Any>"` when the payload was not a string).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The original payload, when this waiter was the first to take it.
    pub fn into_payload(self) -> Option<Box<dyn Any + Send + 'static>> {
        self.payload
    }

    /// Re-raises the panic on this thread, with its original payload where there is one.
    pub fn resume(self) -> ! {
        match self.payload {
            Some(payload) => std::panic::resume_unwind(payload),
            None => std::panic::resume_unwind(Box::new(self.message)),
        }
    }
}

impl fmt::Debug for JobPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobPanic")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for JobPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a job panicked: {}", self.message)
    }
}

impl std::error::Error for JobPanic {}

/// Drops a payload the core does not hand on. A payload whose `Drop` panics is caught, and the
/// payload of that panic dropped the same way; after a few payloads in a row that panic on drop,
/// the last one is leaked rather than dropped.
///
/// Call it only where no borrow of the thread's executor state is live: the `Drop` may re-enter
/// the executor.
pub(crate) fn drop_payload(payload: Payload) {
    let mut payload = payload;
    for _ in 0..4 {
        match catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(again) => payload = again,
        }
    }
    std::mem::forget(payload);
}

/// Payloads that reached a point where this thread's executor state was borrowed (a counter
/// freed while a worker applied its completions), dropped at the thread's next safe point.
struct Deferred(Vec<Payload>);

impl Drop for Deferred {
    fn drop(&mut self) {
        // The thread is exiting: no executor state of it is borrowed any more.
        for payload in self.0.drain(..) {
            drop_payload(payload);
        }
    }
}

thread_local! {
    static DEFERRED: RefCell<Deferred> = const { RefCell::new(Deferred(Vec::new())) };
}

/// Drops `payload` with [`drop_payload`]: now if this thread runs no jobs (nothing of the
/// executor can be borrowed), else at its next safe point ([`drop_deferred`]).
pub(crate) fn drop_payload_soon(payload: Payload) {
    if !crate::executor::runs_jobs_here() {
        return drop_payload(payload);
    }
    let mut payload = Some(payload);
    let _ = DEFERRED.try_with(|deferred| deferred.borrow_mut().0.extend(payload.take()));
    if let Some(payload) = payload {
        // Only while the thread is being torn down: leaking is the safe choice then.
        std::mem::forget(payload);
    }
}

/// Drops the payloads [`drop_payload_soon`] put aside; returns whether there were any (their
/// `Drop` may have run jobs here, whose completions are now cached: flush again). Call it where
/// no borrow of this thread's executor state is live (between jobs, in a wait before sleeping,
/// after a wait).
pub(crate) fn drop_deferred() -> bool {
    let mut any = false;
    loop {
        let next = DEFERRED
            .try_with(|deferred| deferred.borrow_mut().0.pop())
            .ok()
            .flatten();
        match next {
            // Dropped with no borrow of the list held: its `Drop` may defer more.
            Some(payload) => {
                drop_payload(payload);
                any = true;
            }
            None => return any,
        }
    }
}

/// Aborts the process if dropped while unwinding: put on the stack of core code that must not
/// unwind, because jobs it is responsible for may borrow the frames being unwound. Every call
/// into user code below it is already under `catch_unwind`, so reaching its `Drop` while
/// panicking means the core itself panicked.
pub(crate) struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("jobs: the executor panicked while jobs may still borrow; aborting");
            std::process::abort();
        }
    }
}

/// The payload a job gets when the system shuts down before it could run.
pub(crate) struct Cancelled;

/// The text of a panic payload.
pub(crate) fn message_of(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(p) = payload.downcast_ref::<JobPanic>() {
        p.message.clone()
    } else if payload.is::<Cancelled>() {
        "job cancelled: the job system shut down before it could run".to_owned()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// A lock-free slot that keeps the first panic recorded into it.
///
/// Children record into their parent's slot from any worker; the parent takes it when it resumes.
pub(crate) struct PanicSlot {
    /// Null, or a `Box<Payload>` leaked by `record` and owned by the slot.
    first: AtomicPtr<Payload>,
}

impl PanicSlot {
    pub(crate) const fn new() -> Self {
        PanicSlot {
            first: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Keeps `payload` if the slot is empty (the first panic wins); else hands it back, for the
    /// caller to drop with [`drop_payload`] once nothing of the executor is borrowed.
    #[must_use = "a payload handed back must be dropped with drop_payload"]
    pub(crate) fn record(&self, payload: Payload) -> Option<Payload> {
        let boxed = Box::into_raw(Box::new(payload));
        // Release: the taker must see the payload's contents.
        match self.first.compare_exchange(
            ptr::null_mut(),
            boxed,
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => None,
            // SAFETY: `boxed` came from `Box::into_raw` just above and was not published.
            Err(_) => Some(*unsafe { Box::from_raw(boxed) }),
        }
    }

    /// Takes the recorded panic, if any. Inline: every step of every job looks, and almost
    /// never finds one.
    #[inline]
    pub(crate) fn take(&self) -> Option<Payload> {
        if self.first.load(Ordering::Relaxed).is_null() {
            return None;
        }
        self.take_recorded()
    }

    #[cold]
    fn take_recorded(&self) -> Option<Payload> {
        let taken = self.first.swap(ptr::null_mut(), Ordering::Acquire);
        if taken.is_null() {
            None
        } else {
            // SAFETY: a non-null pointer in the slot came from `Box::into_raw` in `record`, and
            // the swap made this call its only owner.
            Some(*unsafe { Box::from_raw(taken) })
        }
    }
}

impl Drop for PanicSlot {
    fn drop(&mut self) {
        if let Some(payload) = self.take() {
            drop_payload(payload);
        }
    }
}

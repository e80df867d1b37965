//! Jobs pinned to a thread: the main thread (the one that created the system) and the threads
//! registered with [`JobSystem::register_thread`](crate::JobSystem::register_thread) (a render
//! thread, an audio thread), as enkiTS pins a task to a thread number.
//!
//! ## Slots
//! Each such thread has a slot: the main thread slot 0, registered threads the next free one,
//! up to [`MAX_REGISTERED_THREADS`] over the system's life (a slot is never given to a second
//! thread, so a [`PinnedThread`] never names a thread other than the one that registered). A
//! job's header keeps its slot in six bits of its flags (`Header::pinned_slot`); slot
//! [`INVALID`] marks a job pinned to a thread of another job system, which no thread takes.
//!
//! A slot's inbox (`inbox.rs`; its wake-up protocol in `README.md` beside it) is a queue under
//! a lock (pinned jobs are few: a frame's main-thread passes, a present, an audio mix) with a
//! count beside it, so that a thread with nothing pinned to it looks with one load. A push
//! unparks the slot's thread: it may be parked in
//! [`run_pinned_until`](crate::JobSystem::run_pinned_until) or in a wait.
//!
//! ## When the thread is gone
//! When a registered thread's [`ThreadRegistration`] drops, or the thread exits (the main
//! thread, or one that leaked its registration), its slot is closed: the jobs queued there, and
//! any pinned there later, finish at once with a [`JobPanic`](crate::JobPanic) saying why, so
//! that whoever waits for them is not left waiting forever.

mod inbox;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, Thread};

use inbox::{Inbox, Refused};

use crate::executor;
use crate::job::JobRef;
use crate::panic::JobPanic;
use crate::sync::lock;
use crate::system::Shared;
use crate::Priority;

/// Threads that may register with one job system over its life (besides the main thread).
pub const MAX_REGISTERED_THREADS: usize = 62;

/// The main thread's slot.
pub(crate) const MAIN: u8 = 0;

/// The slot of a job pinned to a thread of another job system: never registered.
pub(crate) const INVALID: u8 = 63;

const SLOTS: usize = MAX_REGISTERED_THREADS + 1;

const _: () = assert!(SLOTS <= INVALID as usize);

/// A thread that jobs can be pinned to ([`Job::pinned_to`](crate::Job::pinned_to)): the
/// main thread, or a thread registered with
/// [`JobSystem::register_thread`](crate::JobSystem::register_thread).
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         let render = system.register_thread().expect("a slot is free");
///         let counter = system.counter();
///         let on = std::thread::current().id();
///         system.submit_counted(
///             &counter,
///             jobs::Job::from_fn(move |_| assert_eq!(std::thread::current().id(), on))
///                 .pinned_to(render.thread()),
///         );
///         system.wait(&counter).expect("ran on this thread, while it waited");
///     });
/// });
/// # Ok::<(), jobs::ConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PinnedThread(
    /// One word, so that a `Job` stays small: the slot in the low six bits, bit 7 set (never
    /// zero), and above them the id of the system it belongs to (0: the main thread of
    /// whichever system runs the job).
    NonZeroU64,
);

const PINNED_BIT: u64 = 1 << 7;

impl PinnedThread {
    /// The main thread (the one that created the system) of whichever system the job is
    /// submitted to: `job.pinned_to(PinnedThread::MAIN)` is `job.pinned_to_main()`.
    pub const MAIN: PinnedThread = PinnedThread::new(0, MAIN);

    const fn new(system: u64, slot: u8) -> PinnedThread {
        let word = system << 8 | PINNED_BIT | slot as u64;
        match NonZeroU64::new(word) {
            Some(word) => PinnedThread(word),
            None => panic!("bit 7 is set"),
        }
    }

    fn system(self) -> u64 {
        self.0.get() >> 8
    }

    fn slot(self) -> u8 {
        (self.0.get() & 0x3f) as u8
    }

    /// The slot of a job pinned here, submitted to the system with `id`.
    pub(crate) fn slot_in(self, id: u64) -> u8 {
        match self.system() {
            0 => self.slot(),
            system if system == id => self.slot(),
            _ => INVALID,
        }
    }
}

impl fmt::Debug for PinnedThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedThread")
            .field("system", &self.system())
            .field("slot", &self.slot())
            .finish()
    }
}

/// Why [`JobSystem::register_thread`](crate::JobSystem::register_thread) refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// This thread takes pinned jobs already: it is the main thread, or registered.
    AlreadyRegistered,
    /// This thread is one of the system's workers or I/O threads.
    PoolThread,
    /// [`MAX_REGISTERED_THREADS`] threads have registered with this system already.
    NoSlotLeft,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::AlreadyRegistered => write!(
                f,
                "this thread takes pinned jobs already (it is the main thread, or registered)"
            ),
            RegisterError::PoolThread => write!(
                f,
                "a worker or I/O thread of the job system cannot register to take pinned jobs"
            ),
            RegisterError::NoSlotLeft => write!(
                f,
                "{MAX_REGISTERED_THREADS} threads have registered with this job system \
                 already (the most allowed over its life)"
            ),
        }
    }
}

impl std::error::Error for RegisterError {}

/// [`JobSystem::run_pinned`](crate::JobSystem::run_pinned) (or
/// [`run_pinned_until`](crate::JobSystem::run_pinned_until)) was called on a thread that
/// takes no pinned jobs: neither the main thread nor registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotRegistered;

impl fmt::Display for NotRegistered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pinned jobs run only on the thread that created the job system and on threads \
             registered with it (JobSystem::register_thread)"
        )
    }
}

impl std::error::Error for NotRegistered {}

/// This thread's registration with a job system: while it lives, jobs
/// [pinned](crate::Job::pinned_to) to [`thread`](Self::thread) run here, when this thread
/// waits or calls [`run_pinned`](crate::JobSystem::run_pinned) /
/// [`run_pinned_until`](crate::JobSystem::run_pinned_until). Dropping it ends the
/// registration: jobs still queued for this thread, and any pinned to it later, finish with a
/// [`JobPanic`](crate::JobPanic) saying so. The thread's exit ends it too, also for a
/// registration leaked with `mem::forget` (which then leaks nothing). It may outlive its
/// system: dropping the system cancels the jobs queued for every thread, registered or not.
///
/// Not `Send`: it belongs to the thread that registered.
#[must_use = "the registration ends when this is dropped"]
pub struct ThreadRegistration {
    /// The system's id (`Inboxes::id`). The system itself is found through the thread's list
    /// of slots it holds ([`PINNED_HERE`]): the registration owns nothing, so forgetting it
    /// leaks nothing, and the thread's exit closes the slot all the same.
    system: u64,
    slot: u8,
    _not_send: PhantomData<*const ()>,
}

impl ThreadRegistration {
    /// The thread to pin jobs to ([`Job::pinned_to`](crate::Job::pinned_to)).
    pub fn thread(&self) -> PinnedThread {
        PinnedThread::new(self.system, self.slot)
    }
}

impl Drop for ThreadRegistration {
    fn drop(&mut self) {
        let held = PINNED_HERE.try_with(|here| {
            let mut here = here.0.borrow_mut();
            let at = here.iter().position(|(shared, slot)| {
                *slot == self.slot
                    && shared
                        .upgrade()
                        .is_some_and(|shared| shared.inboxes.id == self.system)
            })?;
            Some(here.swap_remove(at).0)
        });
        // The list's borrow has ended: cancelling the queued jobs drops their captures.
        if let Some(shared) = held.ok().flatten().and_then(|shared| shared.upgrade()) {
            executor::set_inbox_here(&shared, None);
            shared.close_slot(self.slot);
        }
    }
}

impl fmt::Debug for ThreadRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadRegistration")
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

/// Every slot's inbox (module docs).
pub(crate) struct Inboxes {
    /// Tells apart the [`PinnedThread`]s of different systems.
    id: u64,
    slots: Box<[Inbox<JobRef, Thread>]>,
    /// Slots given out so far (the main thread's included).
    given: Mutex<usize>,
}

impl Inboxes {
    /// The inboxes of a new system whose main thread is `main`.
    pub(crate) fn new(main: Thread) -> Inboxes {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let slots: Box<[Inbox<JobRef, Thread>]> = (0..SLOTS)
            .map(|slot| Inbox::new((slot == usize::from(MAIN)).then(|| main.clone())))
            .collect();
        // Ids start at 1 (0 means any system) and stay below 2^56 (`PinnedThread`): a million
        // systems a second would take two thousand years to get there.
        Inboxes {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            slots,
            given: Mutex::new(1),
        }
    }

    /// Identifies the system, for [`PinnedThread::slot_in`].
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Gives the calling thread the next slot.
    fn register(&self) -> Result<u8, RegisterError> {
        let mut given = lock(&self.given);
        let slot = *given;
        if slot >= SLOTS {
            return Err(RegisterError::NoSlotLeft);
        }
        *given += 1;
        self.slots[slot].give_to(thread::current());
        // Fewer than 64 slots (checked at compile time above).
        Ok(slot as u8)
    }

    /// Queues `job` in `slot` and unparks its thread; hands the job back if nobody will ever
    /// run it there (with the reason).
    pub(crate) fn push(&self, slot: u8, job: JobRef) -> Result<(), (JobRef, &'static str)> {
        let Some(inbox) = self.slots.get(usize::from(slot)) else {
            return Err((job, PINNED_ELSEWHERE));
        };
        inbox.push(job).map_err(|(job, refused)| {
            let why = match refused {
                Refused::Unused => PINNED_ELSEWHERE,
                Refused::Gone if slot == MAIN => MAIN_GONE,
                Refused::Gone => THREAD_GONE,
            };
            (job, why)
        })
    }

    /// The oldest job queued in `slot` of priority `lowest` or higher.
    pub(crate) fn pop(&self, slot: u8, lowest: Priority) -> Option<JobRef> {
        self.slots[usize::from(slot)].pop(|job| job.header().priority() <= lowest)
    }

    /// Whether jobs wait in `slot` (a hint: a relaxed load).
    pub(crate) fn waiting(&self, slot: u8) -> bool {
        self.slots[usize::from(slot)].waiting()
    }

    /// Jobs waiting in `slot` (a snapshot).
    pub(crate) fn queued_in(&self, slot: u8) -> usize {
        self.slots[usize::from(slot)].queued()
    }

    /// Jobs waiting in every slot (a hint).
    pub(crate) fn queued(&self) -> usize {
        self.slots.iter().map(Inbox::queued).sum()
    }

    /// Closes `slot`: returns what was queued there, for the caller to cancel.
    fn close(&self, slot: u8) -> VecDeque<JobRef> {
        self.slots[usize::from(slot)].close()
    }

    /// Takes every queued job out of every slot (shutdown), leaving the slots open.
    pub(crate) fn drain(&self) -> Vec<JobRef> {
        self.slots.iter().flat_map(Inbox::drain).collect()
    }
}

const PINNED_ELSEWHERE: &str =
    "job pinned to a thread registered with another job system: no thread of this one runs it";
const THREAD_GONE: &str =
    "job pinned to a registered thread cancelled: the thread unregistered or exited";
const MAIN_GONE: &str = "job pinned to the main thread cancelled: the thread that created the job \
                         system has exited";

/// What a job that no thread will run is cancelled with.
pub(crate) fn unrunnable(why: &str) -> Box<JobPanic> {
    Box::new(JobPanic::message_only(why.to_owned()))
}

thread_local! {
    /// The slots this thread holds, in the systems it created or registered with: closed when
    /// it exits (a registration leaked with `mem::forget`, or the main thread's).
    static PINNED_HERE: PinnedHere = const { PinnedHere(RefCell::new(Vec::new())) };
}

/// See [`PINNED_HERE`].
struct PinnedHere(RefCell<Vec<(Weak<Shared>, u8)>>);

impl Drop for PinnedHere {
    fn drop(&mut self) {
        for (shared, slot) in self.0.take() {
            if let Some(shared) = shared.upgrade() {
                shared.close_slot(slot);
            }
        }
    }
}

/// Notes that this thread holds `slot` of `shared` (module docs).
fn hold_here(shared: &Arc<Shared>, slot: u8) {
    let _ = PINNED_HERE.try_with(|here| {
        let mut here = here.0.borrow_mut();
        // Systems that are gone are forgotten here, so the list does not grow.
        here.retain(|(shared, _)| shared.strong_count() > 0);
        here.push((Arc::downgrade(shared), slot));
    });
}

/// The slot this thread holds in `shared`, if any (the main thread's is in the list too, see
/// [`hold_main`]): a thread-local look, no lock, no `thread::current()`; every wait makes one.
pub(crate) fn slot_here(shared: &Arc<Shared>) -> Option<u8> {
    PINNED_HERE
        .try_with(|here| {
            here.0
                .borrow()
                .iter()
                .find(|(held, _)| std::ptr::eq(held.as_ptr(), Arc::as_ptr(shared)))
                .map(|&(_, slot)| slot)
        })
        .ok()
        .flatten()
}

/// The main thread of a new system holds slot 0 (closed when it exits).
pub(crate) fn hold_main(shared: &Arc<Shared>) {
    hold_here(shared, MAIN);
}

/// Registers the calling thread with `shared` (see `JobSystem::register_thread`).
pub(crate) fn register(shared: &Arc<Shared>) -> Result<ThreadRegistration, RegisterError> {
    if slot_here(shared).is_some() {
        return Err(RegisterError::AlreadyRegistered);
    }
    if shared.is_pool_thread() {
        return Err(RegisterError::PoolThread);
    }
    let slot = shared.inboxes.register()?;
    hold_here(shared, slot);
    // A thread that registers inside a job it runs (in a wait) takes its pinned jobs from now.
    executor::set_inbox_here(shared, Some(slot));
    Ok(ThreadRegistration {
        system: shared.inboxes.id,
        slot,
        _not_send: PhantomData,
    })
}

impl Shared {
    /// Closes `slot` and cancels what was queued there (module docs).
    pub(crate) fn close_slot(&self, slot: u8) {
        let why = if slot == MAIN { MAIN_GONE } else { THREAD_GONE };
        for job in self.inboxes.close(slot) {
            // SAFETY: a queued job is not running.
            unsafe { job.finish_detached(Some(unrunnable(why)), self) };
        }
    }
}

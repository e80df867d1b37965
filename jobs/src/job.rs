//! Jobs: an owned capture plus the step that runs next, behind a thin pointer.
//!
//! A [`Job`] is one block of memory, a `HeapJob<C>`, from the job slab (`slab.rs`: per-thread
//! magazines, so that steady state makes no global allocation). It holds a [`Header`] the
//! executor reads (priority, where completion goes, the count of unfinished children, a slot for
//! a child's panic), the user's capture `C`, and `Next<C>`, the step to run when the job is next
//! picked. Queues hold [`JobRef`]s, the type-erased pointer to that block; the header's vtable
//! knows `C`.
//!
//! A `JobRef` has exactly one owner at a time: a queue, a counter's waiter list, an I/O request,
//! the worker running it, or (while its children run) nobody: the last child to finish resumes
//! it. Whoever owns it either runs it (which ends in `finish`, freeing it, or in handing it to a
//! new owner) or cancels it; it is never run twice at once nor freed twice.

use std::marker::PhantomData;
use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use crate::action::{BlockingStep, MemoryStep, Step};
use crate::counter::CounterState;
use crate::executor::{run_steps, ChildCount, LocalPtr};
use crate::heap::{Block, MemoryError};
use crate::meta::Inherit;
use crate::panic::{drop_payload, Cancelled, PanicSlot, Payload};
use crate::pinned::PinnedThread;
use crate::slab;
use crate::system::Shared;
use crate::{Action, Context, Label, Priority};

/// A job ready to be submitted: an owned capture plus its first step.
///
/// `'a` is how long the capture may borrow: `'static` for [`JobSystem::submit`], the parent's
/// capture for children ([`Spawner::spawn`](crate::Spawner::spawn)), the caller's stack for
/// [`Scope::spawn`](crate::Scope::spawn).
///
/// ```
/// use jobs::{Action, Context, Counter, Job, JobSystem, Priority};
///
/// struct Countdown(u32);
/// fn tick(n: &mut Countdown, _cx: &mut Context<'_>) -> Action<Countdown> {
///     if n.0 == 0 { return Action::Done; }
///     n.0 -= 1;
///     Action::Yield(tick) // let other jobs run, then come back
/// }
///
/// let system = JobSystem::new(jobs::Config::default().workers(2))?;
/// let done = Counter::new();
/// system.submit_counted(&done, Job::new(Countdown(3), tick).with_priority(Priority::Low));
/// system.wait(&done)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`JobSystem::submit`]: crate::JobSystem::submit
pub struct Job<'a> {
    ptr: NonNull<Header>,
    priority: Option<Priority>,
    label: Option<Label>,
    frame: Option<u32>,
    pinned: Option<PinnedThread>,
    _capture: PhantomData<&'a ()>,
}

// SAFETY: a `Job` owns a `HeapJob<C>` with `C: Send` (checked in `Job::new`).
unsafe impl Send for Job<'_> {}

impl<'a> Job<'a> {
    /// A job with capture `capture` whose first step is `step`.
    #[inline]
    pub fn new<C: Send + 'a>(capture: C, step: Step<C>) -> Job<'a> {
        let ptr = slab::allocate::<HeapJob<C>>();
        // SAFETY: `allocate` returns memory for one `HeapJob<C>`, unused by anyone else.
        unsafe {
            ptr.as_ptr().write(HeapJob {
                header: Header {
                    vtable: HeapJob::<C>::VTABLE,
                    priority: Priority::Normal,
                    flags: 0,
                    label: Label::NONE,
                    frame: 0,
                    completion: PackedCompletion::NONE,
                    children: ChildCount::new(),
                    panic: PanicSlot::new(),
                },
                capture,
                next: Next::Step(step),
            })
        };
        Job {
            ptr: ptr.cast(),
            priority: None,
            label: None,
            frame: None,
            pinned: None,
            _capture: PhantomData,
        }
    }

    /// A job that runs `f` to completion.
    pub fn from_fn<F>(f: F) -> Job<'a>
    where
        F: FnOnce(&mut Context<'_>) + Send + 'a,
    {
        fn call_once<F: FnOnce(&mut Context<'_>)>(
            f: &mut Option<F>,
            cx: &mut Context<'_>,
        ) -> Action<Option<F>> {
            if let Some(f) = f.take() {
                f(cx);
            }
            Action::Done
        }
        Job::new(Some(f), call_once::<F>)
    }

    /// Runs at `priority`. Default: [`Priority::Normal`], or the parent's priority for children.
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Names the job for the recorder and the profiler. Default: the parent's label for
    /// children and jobs spawned from a job, else [`Label::NONE`].
    pub fn with_label(mut self, label: Label) -> Self {
        self.label = Some(label);
        self
    }

    /// Marks the job as work of frame `frame` for the recorder and the profiler. Default: the
    /// parent's frame for children and jobs spawned from a job, else none. Frame numbers are 32
    /// bits here (and in traces): a game counting frames in a `u64` passes them modulo 2^32
    /// (`n as u32`: at 60 frames a second they wrap after 2.3 years).
    ///
    /// ```
    /// use jobs::{Job, Label};
    /// let job = Job::from_fn(|_| {}).with_label(Label::new("physics")).in_frame(42);
    /// # drop(job);
    /// ```
    pub fn in_frame(mut self, frame: u32) -> Self {
        self.frame = Some(frame);
        self
    }

    /// Runs only on the thread that created the [`JobSystem`](crate::JobSystem) (the main
    /// thread), when it waits or calls [`run_pinned`](crate::JobSystem::run_pinned). Every step
    /// of the job runs there, also after it suspends.
    pub fn pinned_to_main(mut self) -> Self {
        self.pinned = Some(PinnedThread::MAIN);
        self
    }

    /// Runs only on `thread` (a thread registered with
    /// [`JobSystem::register_thread`](crate::JobSystem::register_thread): a render or an audio
    /// thread), when it waits or calls [`run_pinned`](crate::JobSystem::run_pinned) or
    /// [`run_pinned_until`](crate::JobSystem::run_pinned_until). Every step of the job runs
    /// there, also after it suspends. If that thread has unregistered or exited, or `thread`
    /// belongs to another job system, the job finishes at once with a
    /// [`JobPanic`](crate::JobPanic) saying so.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let audio = system.register_thread().expect("a slot is free");
    ///         let mixed = system.counter();
    ///         system.submit_counted(&mixed, jobs::Job::from_fn(|_| {}).pinned_to(audio.thread()));
    ///         assert_eq!(system.run_pinned(), Ok(1));
    ///         assert!(mixed.is_zero());
    ///     });
    /// });
    /// # Ok::<(), jobs::ConfigError>(())
    /// ```
    pub fn pinned_to(mut self, thread: PinnedThread) -> Self {
        self.pinned = Some(thread);
        self
    }

    /// Hands the job to the executor, counted on `completion`; what the job did not set
    /// itself comes from `inherit` (its parent's, or the defaults).
    /// `system` gives the id of the system it goes to (`Inboxes::id`), which a job pinned to a
    /// registered thread must belong to (asked only of a pinned job).
    pub(crate) fn into_ref(
        self,
        completion: Completion,
        inherit: Inherit,
        system: impl FnOnce() -> u64,
    ) -> JobRef {
        let ptr = self.ptr;
        let priority = self.priority.unwrap_or(inherit.priority);
        let label = self.label.unwrap_or(inherit.label);
        let frame = self.frame.or(inherit.frame);
        let mut flags = match self.pinned {
            Some(thread) => pinned_flags(thread, system),
            None => 0,
        };
        if frame.is_some() {
            flags |= Header::IN_FRAME;
        }
        mem::forget(self);
        // SAFETY: the job is exclusively ours until it is published by the caller.
        unsafe {
            let header = ptr.as_ptr();
            (*header).priority = priority;
            (*header).flags = flags;
            (*header).label = label;
            (*header).frame = frame.unwrap_or(0);
            (*header).completion = PackedCompletion::pack(completion);
        }
        JobRef { ptr }
    }
}

/// The header flags of a job pinned to `thread`, submitted to the system `system` gives.
#[cold]
fn pinned_flags(thread: PinnedThread, system: impl FnOnce() -> u64) -> u8 {
    Header::PINNED | (thread.slot_in(system()) << Header::SLOT_SHIFT)
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        // A job dropped before submission: nothing counts it yet.
        // SAFETY: we own the allocation and it was never published.
        unsafe { (self.ptr.as_ref().vtable.drop)(self.ptr) };
    }
}

/// Where a job reports that it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Completion {
    /// Nobody counts it.
    None,
    /// A counter armed for it (kept alive while above zero, see `counter.rs`).
    Counter(NonNull<CounterState>),
    /// A parent suspended in `Action::Spawn` until its children count reaches zero.
    Parent(NonNull<Header>),
}

impl Completion {
    /// Records `panic` where the completion goes (on the counter, or in the parent's slot).
    /// Hands back a payload nobody keeps (no completion, or not the first panic there): the
    /// caller counts it as unobserved and drops it with [`drop_payload`] once no executor state
    /// is borrowed.
    ///
    /// # Safety
    /// A job counted on this completion has not been reported finished yet, so its counter or
    /// parent is alive.
    #[must_use = "a payload handed back must be counted and dropped"]
    pub(crate) unsafe fn record_panic(self, panic: Payload) -> Option<Payload> {
        match self {
            Completion::None => Some(panic),
            // SAFETY: the caller's job is still counted, so the counter is alive.
            Completion::Counter(counter) => unsafe { counter.as_ref() }.record_panic(panic),
            // SAFETY: the parent is suspended until its last child reports, so it is alive.
            Completion::Parent(parent) => unsafe { parent.as_ref() }.panic.record(panic),
        }
    }

    /// Reports `count` finished jobs at once, from a thread with no [`Local`] (an I/O thread, a
    /// cancellation), after recording `panic`.
    ///
    /// # Safety
    /// `count` jobs counted on this completion have finished and were not reported yet.
    pub(crate) unsafe fn complete_now(self, count: usize, panic: Option<Payload>, shared: &Shared) {
        // SAFETY: the jobs are still counted (the caller's contract).
        let unkept = panic.and_then(|panic| unsafe { self.record_panic(panic) });
        if unkept.is_some() {
            shared.unobserved_panic();
        }
        match self {
            Completion::None => {}
            // SAFETY: `count` finished jobs of this counter are still counted on it.
            Completion::Counter(counter) => unsafe { CounterState::decrement(counter, count) },
            Completion::Parent(parent) => {
                // SAFETY: the parent is suspended until its last child reports, so it is alive.
                if unsafe { parent.as_ref() }.finish_children(count) {
                    // SAFETY: these were its last children: the parent is ours to resume.
                    shared.schedule(unsafe { JobRef::resume_parent(parent) });
                }
            }
        }
        if let Some(payload) = unkept {
            drop_payload(payload);
        }
    }
}

/// A [`Completion`] in one word: null for `None`, else the pointer with its low bit telling a
/// parent (1) from a counter (0). Both pointees are at least 8-byte aligned. Strict provenance:
/// the tag is set and cleared with `map_addr`, never through an integer.
#[derive(Clone, Copy)]
struct PackedCompletion(*mut u8);

impl PackedCompletion {
    const PARENT: usize = 1;
    const NONE: PackedCompletion = PackedCompletion(std::ptr::null_mut());

    fn pack(completion: Completion) -> Self {
        PackedCompletion(match completion {
            Completion::None => std::ptr::null_mut(),
            Completion::Counter(counter) => counter.as_ptr().cast(),
            Completion::Parent(parent) => {
                parent.as_ptr().cast::<u8>().map_addr(|a| a | Self::PARENT)
            }
        })
    }

    fn unpack(self) -> Completion {
        let parent = self.0.addr() & Self::PARENT != 0;
        match NonNull::new(self.0.map_addr(|a| a & !Self::PARENT)) {
            None => Completion::None,
            Some(ptr) if parent => Completion::Parent(ptr.cast()),
            Some(ptr) => Completion::Counter(ptr.cast()),
        }
    }
}

/// What the executor keeps at the front of every job (40 bytes: the label and frame fit in
/// what was padding).
pub(crate) struct Header {
    vtable: &'static VTable,
    completion: PackedCompletion,
    /// Unfinished children while suspended in `Action::Spawn` (`executor/children.rs`).
    pub(crate) children: ChildCount,
    /// The first panic of a child, or of a counter waited on.
    pub(crate) panic: PanicSlot,
    priority: Priority,
    /// `PINNED`, `IN_FRAME`, and the pinned thread's slot (`pinned.rs`) in the upper six bits.
    flags: u8,
    label: Label,
    /// The frame, modulo 2^32, if `IN_FRAME`.
    frame: u32,
}

const _: () = assert!(mem::size_of::<Header>() == 40);

impl Header {
    /// The header of a `join`'s half in a stack frame (`executor/join.rs`): `vtable` from
    /// [`VTable::on_stack`], what the running job passes on, and `completion`, the running
    /// job's own, recorded only so that a wait inside the half on another thread sees which
    /// counter the joining job is counted on (the half itself reports to nobody).
    pub(crate) fn on_stack(
        vtable: &'static VTable,
        inherit: Inherit,
        completion: Completion,
    ) -> Header {
        debug_assert!(vtable.on_stack);
        Header {
            vtable,
            completion: PackedCompletion::pack(completion),
            children: ChildCount::new(),
            panic: PanicSlot::new(),
            priority: inherit.priority,
            flags: if inherit.frame.is_some() {
                Header::IN_FRAME
            } else {
                0
            },
            label: inherit.label,
            frame: inherit.frame.unwrap_or(0),
        }
    }

    const PINNED: u8 = 1;
    const IN_FRAME: u8 = 2;
    const SLOT_SHIFT: u8 = 2;

    pub(crate) fn priority(&self) -> Priority {
        self.priority
    }

    pub(crate) fn pinned(&self) -> bool {
        self.flags & Header::PINNED != 0
    }

    /// The slot of the thread the job is pinned to (`pinned.rs`), if it is pinned.
    #[inline]
    pub(crate) fn pinned_slot(&self) -> Option<u8> {
        self.pinned().then_some(self.flags >> Header::SLOT_SHIFT)
    }

    /// What the job's children and the jobs it spawns inherit; also what traces record of it.
    pub(crate) fn inherit(&self) -> Inherit {
        Inherit {
            priority: self.priority,
            label: self.label,
            frame: (self.flags & Header::IN_FRAME != 0).then_some(self.frame),
        }
    }

    pub(crate) fn completion(&self) -> Completion {
        self.completion.unpack()
    }

    /// Takes `count` finished children off; true if they were the last.
    pub(crate) fn finish_children(&self, count: usize) -> bool {
        self.children.finish(count)
    }

    /// Records a panic in the job's slot; hands back a payload not kept (see [`PanicSlot`]).
    #[must_use = "a payload handed back must be dropped with drop_payload"]
    pub(crate) fn record_panic(&self, panic: Payload) -> Option<Payload> {
        self.panic.record(panic)
    }
}

/// What the executor calls on a job it holds only as a [`JobRef`]: the functions for one
/// capture type.
pub(crate) struct VTable {
    /// Runs steps until the job finishes or is handed to a new owner; returns a job for this
    /// thread to run next (see `executor::run_steps`).
    run: unsafe fn(JobRef, LocalPtr) -> Option<JobRef>,
    /// Runs the pending blocking step on an I/O thread.
    blocking: unsafe fn(NonNull<Header>) -> Result<(), Payload>,
    /// Frees the job without running it (a job on a stack: tells its owner it will not run).
    drop: unsafe fn(NonNull<Header>),
    /// Whether the job is the second half of a `join`, in the joining thread's stack frame
    /// (`executor/join.rs`): it is not counted anywhere, and cancelling it only tells the
    /// joining thread.
    on_stack: bool,
}

impl VTable {
    /// The functions of a `join`'s half on a stack: `run` runs it and sets its latch, `drop`
    /// sets its latch without running it. Such a job never takes a blocking step.
    pub(crate) const fn on_stack(
        run: unsafe fn(JobRef, LocalPtr) -> Option<JobRef>,
        drop: unsafe fn(NonNull<Header>),
    ) -> VTable {
        VTable {
            run,
            blocking: no_blocking_step,
            drop,
            on_stack: true,
        }
    }
}

/// The blocking step of a job that never takes one (a `join`'s half).
///
/// # Safety
/// Never called: only `Action::Blocking` hands a job to an I/O thread.
unsafe fn no_blocking_step(_: NonNull<Header>) -> Result<(), Payload> {
    unreachable!("a join's half never takes a blocking step")
}

/// A job's one block of memory: the header, the capture, and the step to run next. The
/// interpreter (`executor/run.rs`) reaches its fields through the job's pointer, as its owner.
#[repr(C)]
pub(crate) struct HeapJob<C> {
    pub(crate) header: Header,
    pub(crate) capture: C,
    pub(crate) next: Next<C>,
}

/// What a suspended job does when it next runs.
///
/// Sixteen bytes: the rare variants are boxed, so that a job with a capture of up to 8 bytes
/// (a closure of one reference, or none) fits one 64-byte cache line with its header
/// (`slab.rs`'s smallest class): a job stolen by another core moves one line, not two.
pub(crate) enum Next<C> {
    Step(Step<C>),
    Memory(Box<(MemoryStep<C>, Result<Block, MemoryError>)>),
    Blocking(Box<(BlockingStep<C>, Step<C>)>),
    /// Between taking a step out and putting the continuation back.
    Spent,
}

const _: () = assert!(mem::size_of::<Next<()>>() == 16);
const _: () = assert!(mem::size_of::<HeapJob<usize>>() == 64);

impl<C> HeapJob<C> {
    const VTABLE: &'static VTable = &VTable {
        run: run_steps::<C>,
        blocking: run_blocking::<C>,
        drop: drop_job::<C>,
        on_stack: false,
    };
}

/// The type-erased pointer to a job that queues pass around. See the module docs for ownership.
///
/// Holding a `JobRef` *is* owning the job: it is neither `Clone` nor `Copy`, it is made only by
/// submitting a [`Job`] or (unsafely) by the last child resuming its parent, and every operation
/// that ends its ownership consumes it and is an `unsafe fn` saying what the caller guarantees
/// beyond ownership. The job it points to is alive for as long as the `JobRef` exists.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct JobRef {
    ptr: NonNull<Header>,
}

// SAFETY: a JobRef stands for a `HeapJob<C>` with `C: Send`, owned by one party at a time.
unsafe impl Send for JobRef {}

impl JobRef {
    /// Takes ownership of a parent suspended in `Action::Spawn`, to resume it.
    ///
    /// # Safety
    /// `parent` is a job suspended in `Action::Spawn` whose children count the caller has just
    /// brought to zero ([`Header::finish_children`] returned true): nobody else owns it.
    pub(crate) unsafe fn resume_parent(parent: NonNull<Header>) -> JobRef {
        JobRef { ptr: parent }
    }

    /// The `JobRef` of a `join`'s half in a stack frame (`executor/join.rs`).
    ///
    /// # Safety
    /// `ptr` points to the header (made by [`Header::on_stack`]) at the start of a live block
    /// whose vtable's functions take it, and the pointer's provenance covers the whole block.
    /// The block stays alive and in place until this `JobRef` is consumed: run (its `run`
    /// function sets the latch the frame's owner waits on), cancelled (its `drop` sets it), or
    /// turned back into a pointer by the frame's owner ([`into_raw`](Self::into_raw)). Only one
    /// such `JobRef` is made per block.
    pub(crate) unsafe fn on_stack(ptr: NonNull<Header>) -> JobRef {
        JobRef { ptr }
    }

    /// The pointer, for a queue that holds jobs as raw pointers (`deque.rs`): the job now
    /// belongs to whoever turns it back into a `JobRef`, once.
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        self.ptr
    }

    /// The `JobRef` a pointer from [`into_raw`](Self::into_raw) stood for.
    ///
    /// # Safety
    /// `ptr` came from `into_raw`, and no other `JobRef` was made from it since.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> JobRef {
        JobRef { ptr }
    }

    /// The job's pointer, for its owner to reach the job's memory (the interpreter) and for its
    /// children to report to (`Completion::Parent`). Ownership stays with this `JobRef`.
    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a JobRef's owner keeps the job alive; the header is only read here, or
        // changed through atomics.
        unsafe { self.ptr.as_ref() }
    }

    /// Records a panic in the job's slot, cancelling it when it next runs.
    #[must_use = "a payload handed back must be dropped with drop_payload"]
    pub(crate) fn record_panic(&self, panic: Payload) -> Option<Payload> {
        self.header().record_panic(panic)
    }

    /// Runs the job's steps on this thread until it finishes or is handed to a new owner.
    /// Returns a job the caller now owns and runs next (a child the job spawned last).
    ///
    /// # Safety
    /// `local` is the live executor state of this thread, and no borrow of it is held.
    #[must_use = "the job handed back is owned by the caller, who must run it"]
    pub(crate) unsafe fn run(self, local: LocalPtr) -> Option<JobRef> {
        // SAFETY: forwarded from the caller; we own the job.
        unsafe { (self.header().vtable.run)(self, local) }
    }

    /// Runs the job's pending blocking step (on an I/O thread), keeping the job to send back.
    ///
    /// # Safety
    /// The job was handed to the I/O threads by `Action::Blocking`, so its next step is the
    /// blocking one.
    pub(crate) unsafe fn run_blocking(&mut self) -> Result<(), Payload> {
        // SAFETY: the caller's contract; we own the job.
        unsafe { (self.header().vtable.blocking)(self.ptr) }
    }

    /// Frees the job and reports its completion (with `panic`) through this thread's executor
    /// state. Returns its parent if this was the last child and the parent is to run next here
    /// (see `Local::complete`).
    ///
    /// # Safety
    /// `local` is this thread's live executor state with no borrow of it held, and no step of
    /// the job is running (nothing borrows its capture).
    #[must_use = "a resumed parent handed back must be run"]
    pub(crate) unsafe fn finish(self, local: LocalPtr, panic: Option<Payload>) -> Option<JobRef> {
        let completion = self.header().completion();
        let (panic, second) = self.drop_capture(panic);
        // SAFETY: the job was counted on `completion` and is not reported yet.
        unsafe { Self::report_dropped(completion, local, panic, second) }
    }

    /// Reports a job freed with `panic` (and a `second` one to drop) to `completion`.
    ///
    /// # Safety
    /// As [`finish`](Self::finish); the job is freed and was counted on `completion`, not
    /// reported yet.
    #[inline(never)]
    unsafe fn report_dropped(
        completion: Completion,
        local: LocalPtr,
        panic: Option<Payload>,
        second: Option<Payload>,
    ) -> Option<JobRef> {
        // SAFETY: the job was counted on `completion` and is not reported yet.
        let unkept = panic.and_then(|panic| unsafe { completion.record_panic(panic) });
        let resumed = {
            // SAFETY: the capture's drop (user code) has returned; a short borrow of this
            // thread's state, ended before any payload is dropped below.
            let local = unsafe { &mut *local.as_ptr() };
            // The panic not kept, and the capture's drop panicking after the job panicked:
            // neither is reported anywhere, so each is counted.
            for _ in unkept.iter().chain(second.iter()) {
                local.shared.unobserved_panic();
            }
            local.complete(completion, 1)
        };
        if let Some(payload) = unkept {
            drop_payload(payload);
        }
        if let Some(payload) = second {
            drop_payload(payload);
        }
        resumed
    }

    /// [`finish`](Self::finish) for a job whose last step returned `Action::Done`: the path
    /// every job takes, kept free of panic payloads unless the capture's `Drop` panics.
    ///
    /// # Safety
    /// As [`finish`](Self::finish).
    #[inline]
    #[must_use = "a resumed parent handed back must be run"]
    pub(crate) unsafe fn finish_done(self, local: LocalPtr) -> Option<JobRef> {
        let completion = self.header().completion();
        let ptr = self.ptr;
        let drop = self.header().vtable.drop;
        // SAFETY: we own the job (consumed here) and no step of it runs; the capture's drop may
        // run user code, hence the catch.
        match catch_unwind(AssertUnwindSafe(|| unsafe { drop(ptr) })) {
            // SAFETY: the job's drop (user code) has returned; a short borrow of this thread's
            // state, ended before anything else runs.
            Ok(()) => unsafe { &mut *local.as_ptr() }.complete(completion, 1),
            // SAFETY: the job is freed and still counted on `completion`.
            Err(panic) => unsafe { Self::report_dropped(completion, local, Some(panic), None) },
        }
    }

    /// Frees the job and reports its completion from a thread without executor state (an I/O
    /// thread, a cancellation).
    ///
    /// # Safety
    /// No step of the job is running (nothing borrows its capture).
    pub(crate) unsafe fn finish_detached(self, panic: Option<Payload>, shared: &Shared) {
        if self.header().vtable.on_stack {
            // A `join`'s half, cancelled before it ran: its joining thread raises the
            // cancellation, and nothing counts the half. Its latch is set last, after which
            // the block may be gone.
            if let Some(panic) = panic {
                drop_payload(panic);
            }
            // SAFETY: we own the half and it is not running; its `drop` sets its latch.
            unsafe { (self.header().vtable.drop)(self.ptr) };
            return;
        }
        let completion = self.header().completion();
        let (panic, second) = self.drop_capture(panic);
        if second.is_some() {
            // Not reported anywhere (the first panic is): counted, before the completion.
            shared.unobserved_panic();
        }
        // SAFETY: the job was counted on `completion` and is not reported yet.
        unsafe { completion.complete_now(1, panic, shared) };
        if let Some(payload) = second {
            drop_payload(payload);
        }
    }

    /// Drops the capture and frees the job's memory; a panic of the capture's `Drop` joins
    /// `panic` (the first one is reported, the second handed back to be dropped).
    fn drop_capture(self, panic: Option<Payload>) -> (Option<Payload>, Option<Payload>) {
        // SAFETY: we own the job (consumed here) and no step of it runs; the capture's drop may
        // run user code, hence the catch.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            (self.header().vtable.drop)(self.ptr)
        }));
        match (panic, dropped) {
            (Some(first), Err(second)) => (Some(first), Some(second)),
            (panic, dropped) => (panic.or(dropped.err()), None),
        }
    }

    /// Ends this handle to a job suspended in `Action::Spawn` whose children have not all
    /// finished: the last of them owns the job now (and makes a new `JobRef` to resume it).
    pub(crate) fn hand_to_children(self) {}

    /// Drops the job without running it, reporting it as cancelled to whoever waits for it.
    ///
    /// # Safety
    /// No step of the job is running (nothing borrows its capture).
    pub(crate) unsafe fn cancel(self, shared: &Shared) {
        // SAFETY: forwarded from the caller.
        unsafe { self.finish_detached(Some(Box::new(Cancelled)), shared) };
    }
}

/// Drops the capture and the pending step, and gives the job's memory back to the slab.
///
/// # Safety
/// `ptr` is an unpublished or owned `HeapJob<C>` from `Job::new`, not used afterwards.
unsafe fn drop_job<C>(ptr: NonNull<Header>) {
    // SAFETY: `Job::new` allocated the job with `slab::allocate::<HeapJob<C>>` and initialized
    // it; the caller owns it and never uses it again.
    unsafe { slab::drop_and_free(ptr.cast::<HeapJob<C>>()) };
}

/// # Safety
/// See [`JobRef::run_blocking`]; `job` is that `JobRef`'s pointer.
unsafe fn run_blocking<C>(job: NonNull<Header>) -> Result<(), Payload> {
    let ptr = job.cast::<HeapJob<C>>().as_ptr();
    // SAFETY: the I/O thread owns the job; nothing else touches `next` or the capture.
    unsafe {
        let Next::Blocking(steps) = mem::replace(&mut (*ptr).next, Next::Spent) else {
            unreachable!("a job reached an I/O thread without a blocking step");
        };
        let (call, then) = *steps;
        (*ptr).next = Next::Step(then);
        let capture = &mut (*ptr).capture;
        catch_unwind(AssertUnwindSafe(|| call(capture)))
    }
}

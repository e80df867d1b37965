//! Passes: how a pass body runs as a job, for one frame, and how it starts the passes after it.
//!
//! Each frame, every kept pass becomes one job whose capture is a [`Pass`]: pointers to the
//! pass's state, its declared accesses, the frame's slot (its bindings, counters, countdowns
//! and timing records) and the [`Schedule`]. Nothing is allocated for this beyond the job.
//!
//! ## Starting a pass when its last dependency finishes
//! A pass's job is made only when it can run: each frame's slot keeps, per pass, a countdown of
//! its unfinished dependencies, those of the same frame and those of the previous frame (when
//! frames overlap). A pass that finishes counts down each pass after it; the one that brings a
//! count to zero starts that pass at once, from its own job's [`Context`] onto its own thread's
//! queue: the newest runs next there, idle workers steal the others (a fan-out's readers are
//! shared as bundles of half the queue, not pushed one by one onto the job system's shared
//! queue, which `graph_overhead` measured 10 to 15% slower). A pass of the next frame goes there
//! too only if none of this frame's did; else it goes through the shared queue, so that this
//! thread runs its older frame's passes first (its own queue runs newest first). Passes with
//! nothing to wait for are submitted when the frame starts (`Frames::start`). So a pass costs
//! one job and one atomic decrement per dependency, and never suspends on its dependencies.
//!
//! Orderings: a finishing pass decrements with `Release`, so that everything it did (and
//! everything the passes before it did) comes before the decrement; the one that reaches zero
//! issues an `Acquire` fence before it makes the job, so that it has seen every dependency's
//! effects, and hands them on to the job through the queue (a push is a release, a pop or steal
//! an acquire).
//!
//! A pass of the previous frame finishes either before or after the frame that waits for it
//! starts: the two meet on the pass's `link` in its slot (see [`Countdown`]), each swapping in
//! its mark; whoever comes second does the count-down (the finishing pass, onto the new frame's
//! countdowns, or the frame's start, which then submits what reached zero).
//!
//! ## Failures
//! A pass that ends without finishing its steps (it or a child panicked, or it was cancelled)
//! still counts down the passes after it, from its capture's `Drop` (through the job system's
//! shared queue: no `Context` there), and first marks the same-frame ones with its position.
//! A marked pass does not run its body: its first step returns [`Action::Wait`] on the failed
//! input's counter, which cancels it with that input's panic, as a failed input always did. A
//! failed pass of the previous frame only counts down: one failed frame does not fail the next.
//!
//! ## Steps
//! A pass's job always runs its steps through `run`, which keeps the pass's own next step in
//! the capture and turns [`Action::Done`] into "count down the passes after it, then done". A
//! closure pass ([`GraphBuilder::pass`](crate::GraphBuilder::pass)) is a step pass whose state
//! is the closure: its step returns [`Action::Spawn`] and calls the closure inside, so that jobs
//! the closure spawns may borrow the resources, and the pass ends when they have finished. Its
//! jobs start with `start_closure`, which returns that spawn itself, with the count-down as its
//! continuation: the same steps without the two trips through `run` (about 55 instructions a
//! pass under callgrind).

use std::ops::Deref;
use std::ops::DerefMut;
use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use jobs::{Action, Block, Context, Job, MemoryError, MemoryStep, Spawner, Step};

use crate::access::Access;
use crate::frames::{Clock, Countdown, FrameInfo, Schedule, Slot};
use crate::resource::Kind;

/// The capture of a pass's job for one frame: the pass's state, its resources, the frame.
///
/// Step passes ([`GraphBuilder::step_pass`](crate::GraphBuilder::step_pass)) get it in each of
/// their steps and return [`Action`]s on it, like any job: wait, yield, spawn children that
/// borrow its resources, ask for memory, block on I/O.
///
/// ```
/// use frame::{GraphBuilder, Pass, Write};
/// use jobs::{Action, Context};
///
/// type Sum = Pass<u64, Write<Vec<u64>>>;
/// fn fill(p: &mut Sum, _cx: &mut Context<'_>) -> Action<Sum> {
///     // Children borrow the resource; the pass goes on when they are done.
///     Action::Spawn(|p, spawner| {
///         let (_, data) = p.parts();
///         for (i, x) in data.iter_mut().enumerate() {
///             spawner.spawn(move |_| *x = i as u64);
///         }
///     }, total)
/// }
/// fn total(p: &mut Sum, _cx: &mut Context<'_>) -> Action<Sum> {
///     let (sum, data) = p.parts();
///     *sum = data.iter().sum();
///     Action::Done
/// }
///
/// let mut graph = GraphBuilder::new();
/// let data = graph.import("data", vec![0u64; 8]);
/// graph.step_pass("fill", data.write(), 0u64, fill);
/// # Ok::<(), frame::GraphError>(())
/// ```
pub struct Pass<S, A: Access> {
    state: NonNull<S>,
    access: NonNull<A>,
    slot: NonNull<Slot>,
    schedule: NonNull<Schedule>,
    /// This pass's position among the kept passes.
    position: u32,
    /// Whether the body has started (its start is recorded).
    started: bool,
    /// Whether the passes after this one have been counted down (see `finished`).
    counted_down: bool,
    /// Whether the frame's flags switched the pass off.
    switched_off: bool,
    /// The pass's own step to run next (its entry step first), run by `run`.
    next: Step<Pass<S, A>>,
    /// The pass's own step to continue with memory it asked for, run by `run_memory`.
    next_memory: Option<MemoryStep<Pass<S, A>>>,
}

// SAFETY: the state is `Send` and owned by this pass (one frame's run of it at a time); the
// accesses are `Send + Sync`; the slot and schedule are shared read-only or through atomics
// and counters, which are `Sync`.
unsafe impl<S: Send, A: Access> Send for Pass<S, A> {}

impl<S, A: Access> Pass<S, A> {
    /// The frame this run belongs to.
    pub fn frame(&self) -> FrameInfo {
        self.slot().info
    }

    /// The pass's own state and the resources it declared.
    pub fn parts(&mut self) -> (&mut S, A::Item<'_>) {
        // SAFETY: the state belongs to this pass and one run of a pass is in flight at a time
        // (a pass counts its own run in the previous frame among its dependencies); `&mut self`
        // makes this borrow unique within the run. The slot's bindings are this frame's, and
        // the graph orders the passes so that these accesses conflict with no other running
        // pass.
        unsafe {
            let items = self.access.as_ref().fetch(&(*self.slot.as_ptr()).bindings);
            (self.state.as_mut(), items)
        }
    }

    /// The pass's own state.
    pub fn state(&mut self) -> &mut S {
        self.parts().0
    }

    /// The resources the pass declared.
    pub fn resources(&mut self) -> A::Item<'_> {
        self.parts().1
    }

    fn slot(&self) -> &Slot {
        // SAFETY: a frame's slot lives, unchanged but for atomics, while its passes run.
        unsafe { self.slot.as_ref() }
    }

    fn schedule(&self) -> &Schedule {
        // SAFETY: the schedule lives, unchanged, until every frame has completed.
        unsafe { self.schedule.as_ref() }
    }

    /// Counts down the passes after this one, this frame's and (if its start has linked to this
    /// pass) the next frame's, starting those whose count reaches zero: through `cx` if there
    /// is one (onto this thread's queue), except the next frame's passes once one of this
    /// frame's went there (those go through the job system's shared queue; see the module
    /// docs); with no `cx`, all through the shared queue. `failed` marks this frame's
    /// ones as having a failed input. Done once, when the pass finishes or its job ends
    /// without finishing.
    fn finished(&mut self, failed: bool, mut cx: Option<&mut Context<'_>>) {
        self.counted_down = true;
        let schedule = self.schedule();
        let slot = self.slot();
        let position = self.position as usize;
        if self.started {
            // The pass's end for the statistics, before any pass after it can start.
            let record = &slot.records[position];
            record.end.store(Clock::ticks(), Ordering::Relaxed);
        }
        let scheduled = &schedule.passes[position];
        // A pass that failed in its body may have written part of what it writes; one that
        // never started its body (an input failed, a flag was off) wrote nothing.
        let unfinished = match (failed, self.started, self.switched_off) {
            (true, true, _) => Slot::TORN,
            (true, false, _) | (false, _, true) => Slot::SKIPPED,
            (false, _, false) => 0,
        };
        if unfinished != 0 {
            for &r in &scheduled.writes {
                // Relaxed: read by the resource's last writer, which this pass's count-down
                // (a release) reaches, or which is this pass.
                slot.unfinished_writes[r as usize].fetch_or(unfinished, Ordering::Relaxed);
            }
        }
        for &r in &scheduled.last_writer_of {
            let unfinished = slot.unfinished_writes[r as usize].load(Ordering::Relaxed);
            // Every writer finished: nothing to put back.
            if unfinished != 0 {
                self.put_back(r, unfinished);
            }
        }
        // Whether a pass of this frame went onto this thread's queue.
        let mut launched_here = false;
        for &after in &scheduled.then {
            let countdown = &slot.countdowns[after as usize];
            if failed {
                // Relaxed: published by the release decrement just below, and read by the job
                // started after the count's acquire fence.
                countdown
                    .failed_input
                    .store(self.position, Ordering::Relaxed);
            }
            if countdown.count_down() {
                schedule.launch(self.slot, after, cx.as_deref_mut());
                launched_here = true;
            }
        }
        if schedule.overlap && !scheduled.then_next_frame.is_empty() {
            // AcqRel: the release publishes this pass's effects to the next frame's start if it
            // links after us; the acquire sees its countdowns set up if it linked first.
            if slot.countdowns[position]
                .link
                .swap(Countdown::FINISHED, Ordering::AcqRel)
                == Countdown::LINKED
            {
                let next_slot = schedule.slot_of(slot.info.number + 1);
                // SAFETY: the next frame has started (it linked) and cannot complete before
                // the passes counted down here have run.
                let next = unsafe { next_slot.as_ref() };
                for &after in &scheduled.then_next_frame {
                    if next.countdowns[after as usize].count_down() {
                        let here = if launched_here { None } else { cx.take() };
                        schedule.launch(next_slot, after, here);
                    }
                }
            }
        }
        if !failed {
            // Last: the job returns `Action::Done` next, so it ends with no panic.
            slot.records[position].clean.store(true, Ordering::Relaxed);
        }
    }
}

impl<S, A: Access> Pass<S, A> {
    /// What this frame leaves of resource `r`, of which this pass is the last writer, given how
    /// its writers did not finish (`unfinished`, see [`Slot::TORN`]): see the module docs.
    #[cold]
    fn put_back(&self, r: u32, unfinished: u8) {
        let schedule = self.schedule();
        let kept = &schedule.resources[r as usize];
        let back = match kept.kind {
            Kind::Imported => {
                if unfinished & Slot::TORN != 0 {
                    kept.poison_with(self.slot().info.number, self.position);
                }
                return;
            }
            Kind::Carried => unfinished & Slot::TORN != 0,
            Kind::Scratch => unfinished != 0,
            Kind::Transient => false,
        };
        let Some(clone_from) = kept.clone_from.filter(|_| back) else {
            return;
        };
        let binding = self.slot().bindings[r as usize];
        // SAFETY: the binding's copies hold the resource's type (`clone_from` is its own).
        // This frame's copy: every other writer of the resource in this frame has ended (they
        // come before this pass, the last), its readers in this frame either have ended or wait
        // for this pass, and in the next frame only passes that wait for this one read it. The
        // previous frame's copy is only read here: its writers in that frame have all ended,
        // since this pass waits for its own run in the previous frame (directly or through a
        // path), which is their last writer and ends after them; and it is not reused before
        // this frame has completed.
        let restored = std::panic::catch_unwind(AssertUnwindSafe(|| unsafe {
            clone_from(binding.current, binding.previous)
        }));
        if restored.is_err() {
            // The payload is the user's: dropping it may unwind too.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(restored)));
            kept.poison_with(self.slot().info.number, self.position);
        }
    }
}

impl<S, A: Access> Drop for Pass<S, A> {
    fn drop(&mut self) {
        if !self.counted_down {
            // It did not finish: it or a child panicked, an input failed, or it was cancelled.
            // The passes after it are counted down all the same (their count must reach zero for
            // the frame to complete), this frame's marked as having a failed input.
            self.finished(true, None);
        }
        #[cfg(feature = "tracy")]
        self.slot().stages.pass_ended(self.position as usize);
    }
}

/// What the frames hand a pass to make its job for one frame.
pub(crate) struct Seed {
    pub(crate) slot: NonNull<Slot>,
    pub(crate) schedule: NonNull<Schedule>,
    pub(crate) position: u32,
}

/// A pass's body, owned by the graph: its state, accesses and first step.
pub(crate) struct Body<S, A: Access> {
    pub(crate) state: S,
    pub(crate) access: A,
    pub(crate) entry: Step<Pass<S, A>>,
    /// The first step of its jobs: [`start`], or [`start_closure`] for a closure pass.
    pub(crate) first: Step<Pass<S, A>>,
}

/// A type-erased `Box<Body<S, A>>`, kept behind a raw pointer: jobs of overlapping frames hold
/// pointers into it, so it must never be reborrowed as a whole while the graph runs.
pub(crate) struct ErasedBody {
    maker: JobMaker,
    drop: unsafe fn(NonNull<()>),
}

/// Makes a pass's jobs from its [`ErasedBody`]: a copy of its pointer, kept in the
/// [`Schedule`] so that any thread can start the pass.
#[derive(Clone, Copy)]
pub(crate) struct JobMaker {
    /// The `Body<S, A>` of `ErasedBody::new`, alive until the `ErasedBody` is dropped.
    ptr: NonNull<()>,
    make_job: unsafe fn(NonNull<()>, Seed) -> Job<'static>,
}

// SAFETY: made only from `Body<S, A>` with `S: Send` and `A: Send`.
unsafe impl Send for ErasedBody {}

impl ErasedBody {
    pub(crate) fn new<S: Send + 'static, A: Access>(body: Body<S, A>) -> Self {
        ErasedBody {
            maker: JobMaker {
                ptr: NonNull::from(Box::leak(Box::new(body))).cast(),
                make_job: make_job::<S, A>,
            },
            drop: drop_body::<S, A>,
        }
    }

    /// What makes the pass's jobs; valid while this body lives.
    pub(crate) fn maker(&self) -> JobMaker {
        self.maker
    }
}

impl JobMaker {
    /// The pass's job for the frame in `seed`.
    ///
    /// # Safety
    /// The pass's previous run has finished (or is ordered before this one and no longer
    /// touches the state), the slot and schedule in `seed` outlive the job, and so does the
    /// body this was made from.
    pub(crate) unsafe fn job(self, seed: Seed) -> Job<'static> {
        // SAFETY: forwarded from the caller.
        unsafe { (self.make_job)(self.ptr, seed) }
    }
}

impl Drop for ErasedBody {
    fn drop(&mut self) {
        // SAFETY: we own the box; no job of it is left (the frames have all completed).
        unsafe { (self.drop)(self.maker.ptr) }
    }
}

/// # Safety
/// See [`JobMaker::job`]; `body` is a `Body<S, A>`.
unsafe fn make_job<S: Send + 'static, A: Access>(body: NonNull<()>, seed: Seed) -> Job<'static> {
    let body = body.cast::<Body<S, A>>().as_ptr();
    // SAFETY: `body` is live; fields are reached by raw pointer, never borrowing the whole body
    // (a job of the previous frame may still hold pointers to its state).
    let (state, access, entry, first) = unsafe {
        (
            NonNull::new_unchecked(std::ptr::addr_of_mut!((*body).state)),
            NonNull::new_unchecked(std::ptr::addr_of_mut!((*body).access)),
            (*body).entry,
            (*body).first,
        )
    };
    let pass = Pass {
        state,
        access,
        slot: seed.slot,
        schedule: seed.schedule,
        position: seed.position,
        started: false,
        counted_down: false,
        switched_off: false,
        next: entry,
        next_memory: None,
    };
    Job::new(pass, first)
}

/// # Safety
/// `body` is a `Box<Body<S, A>>` from `ErasedBody::new`, not used afterwards.
unsafe fn drop_body<S, A: Access>(body: NonNull<()>) {
    // SAFETY: see the function's contract.
    drop(unsafe { Box::from_raw(body.cast::<Body<S, A>>().as_ptr()) });
}

/// The first step of every pass job, which starts when every dependency has finished: skip the
/// pass if an input failed, else run it.
pub(crate) fn start<S, A: Access>(p: &mut Pass<S, A>, cx: &mut Context<'_>) -> Action<Pass<S, A>> {
    if let Some(early) = checks(p, cx) {
        return early;
    }
    begin(p, cx)
}

/// What every pass job checks first: the action that ends it without its body (an input
/// failed, a resource it touches is poisoned, or a flag switched it off), or `None` to run it.
#[inline]
fn checks<S, A: Access>(p: &mut Pass<S, A>, cx: &mut Context<'_>) -> Option<Action<Pass<S, A>>> {
    // Relaxed: stored before the decrements that started this job (see `Pass::finished`).
    let failed = p.slot().countdowns[p.position as usize]
        .failed_input
        .load(Ordering::Relaxed);
    if failed != Countdown::NO_FAILURE {
        // The input's counter holds its panic: waiting on it cancels this pass with it (the
        // frame reports this pass as skipped).
        return Some(Action::Wait(p.slot().done[failed as usize].clone(), begin));
    }
    let schedule = p.schedule();
    let scheduled = &schedule.passes[p.position as usize];
    if scheduled.condition & !p.slot().info.flags != 0 {
        // A flag it runs under is off in this frame: its body does not run, so a poisoned
        // resource it touches (below) does not fail it.
        p.switched_off = true;
        p.finished(false, Some(cx));
        return Some(Action::Done);
    }
    for &r in &scheduled.checks {
        let kept = &schedule.resources[r as usize];
        if let Some(poisoned) = kept.poison(|q| schedule.passes[q].name.to_string()) {
            // It fails (it counts as having run, so the frame reports this message): the
            // payload is a `String`, and `resume_unwind` leaves the panic hook out of it.
            let slot = p.slot();
            slot.records[p.position as usize]
                .start
                .store(Clock::ticks(), Ordering::Relaxed);
            std::panic::resume_unwind(Box::new(poisoned.to_string()));
        }
    }
    None
}

/// Records the pass's start and runs its own steps.
#[inline]
fn begin<S, A: Access>(p: &mut Pass<S, A>, cx: &mut Context<'_>) -> Action<Pass<S, A>> {
    stamp(p, cx);
    run(p, cx)
}

/// Records the pass's start: its body runs next.
#[inline]
fn stamp<S, A: Access>(p: &mut Pass<S, A>, cx: &mut Context<'_>) {
    let slot = p.slot();
    let record = &slot.records[p.position as usize];
    record.start.store(Clock::ticks(), Ordering::Relaxed);
    record.worker.store(
        cx.worker_index().map_or(u32::MAX, |w| w as u32),
        Ordering::Relaxed,
    );
    #[cfg(feature = "tracy")]
    slot.stages.pass_started(p.position as usize);
    p.started = true;
}

/// Runs the pass's own next step.
#[inline]
fn run<S, A: Access>(p: &mut Pass<S, A>, cx: &mut Context<'_>) -> Action<Pass<S, A>> {
    let action = (p.next)(p, cx);
    follow(p, cx, action)
}

/// Runs the pass's own step that continues with memory.
fn run_memory<S, A: Access>(
    p: &mut Pass<S, A>,
    cx: &mut Context<'_>,
    memory: Result<Block, MemoryError>,
) -> Action<Pass<S, A>> {
    let Some(then) = p.next_memory.take() else {
        unreachable!("run_memory is returned only with the pass's memory step kept");
    };
    let action = then(p, cx, memory);
    follow(p, cx, action)
}

/// Carries out what the pass's own step asked, with `run` in place of its continuation; when
/// the pass is done, counts down the passes after it first.
fn follow<S, A: Access>(
    p: &mut Pass<S, A>,
    cx: &mut Context<'_>,
    action: Action<Pass<S, A>>,
) -> Action<Pass<S, A>> {
    let then = |p: &mut Pass<S, A>, step| {
        p.next = step;
        run::<S, A>
    };
    match action {
        Action::Done => {
            p.finished(false, Some(cx));
            Action::Done
        }
        Action::Yield(step) => Action::Yield(then(p, step)),
        Action::Spawn(spawn, step) => Action::Spawn(spawn, then(p, step)),
        Action::Wait(counter, step) => Action::Wait(counter, then(p, step)),
        Action::WaitSettled(counter, step) => Action::WaitSettled(counter, then(p, step)),
        Action::Blocking(blocking, step) => Action::Blocking(blocking, then(p, step)),
        Action::Memory(request, step) => {
            p.next_memory = Some(step);
            Action::Memory(request, run_memory)
        }
    }
}

/// What a closure pass gets beside its resources: the frame, and a [`Spawner`] (through
/// `Deref`) for jobs that may borrow the resources. The pass ends when they have finished.
///
/// ```
/// use frame::GraphBuilder;
/// let mut graph = GraphBuilder::new();
/// let heights = graph.import("heights", vec![0.0f32; 10_000]);
/// graph.pass("wave", heights.write(), |heights, cx| {
///     let t = cx.frame().number as f32;
///     // Fan out: jobs borrow `heights` until the pass ends.
///     for (i, chunk) in heights.chunks_mut(1024).enumerate() {
///         cx.spawn(move |_| {
///             for (j, h) in chunk.iter_mut().enumerate() {
///                 *h = ((i * 1024 + j) as f32 * 0.01 + t).sin();
///             }
///         });
///     }
/// });
/// ```
pub struct PassContext<'c, 'r, 'w> {
    spawner: &'r mut Spawner<'c, 'w>,
    info: FrameInfo,
}

impl<'c, 'w> PassContext<'c, '_, 'w> {
    /// The frame this run belongs to.
    pub fn frame(&self) -> FrameInfo {
        self.info
    }
}

impl<'c, 'w> Deref for PassContext<'c, '_, 'w> {
    type Target = Spawner<'c, 'w>;
    fn deref(&self) -> &Self::Target {
        self.spawner
    }
}

impl DerefMut for PassContext<'_, '_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.spawner
    }
}

/// The state of a closure pass: the closure.
pub(crate) struct ClosureState<F>(pub(crate) F);

/// The first step of a closure pass's job: what `start`, `begin` and [`closure_entry`] do, with
/// the pass's own steps left out (its only one spawns, then it is done), so with no trip through
/// `run` and `follow` before and after the closure.
pub(crate) fn start_closure<F, A>(
    p: &mut Pass<ClosureState<F>, A>,
    cx: &mut Context<'_>,
) -> Action<Pass<ClosureState<F>, A>>
where
    A: Access,
    F: for<'c, 'r, 'w> FnMut(A::Item<'c>, &mut PassContext<'c, 'r, 'w>) + Send + 'static,
{
    if let Some(early) = checks(p, cx) {
        return early;
    }
    stamp(p, cx);
    Action::Spawn(closure_spawn::<F, A>, closure_done::<F, A>)
}

/// A closure pass's end, once the jobs its closure spawned have finished.
fn closure_done<F, A: Access>(
    p: &mut Pass<ClosureState<F>, A>,
    cx: &mut Context<'_>,
) -> Action<Pass<ClosureState<F>, A>> {
    p.finished(false, Some(cx));
    Action::Done
}

/// The entry step of a closure pass, its only step of its own (run by `begin` only after a wait
/// in `start`'s checks; [`start_closure`] does the same without it).
pub(crate) fn closure_entry<F, A>(
    _: &mut Pass<ClosureState<F>, A>,
    _: &mut Context<'_>,
) -> Action<Pass<ClosureState<F>, A>>
where
    A: Access,
    F: for<'c, 'r, 'w> FnMut(A::Item<'c>, &mut PassContext<'c, 'r, 'w>) + Send + 'static,
{
    Action::Spawn(closure_spawn::<F, A>, |_, _| Action::Done)
}

fn closure_spawn<'c, F, A>(p: &'c mut Pass<ClosureState<F>, A>, spawner: &mut Spawner<'c, '_>)
where
    A: Access,
    F: for<'x, 'r, 'w> FnMut(A::Item<'x>, &mut PassContext<'x, 'r, 'w>) + Send + 'static,
{
    let info = p.slot().info;
    let (state, items) = p.parts();
    let mut cx = PassContext { spawner, info };
    (state.0)(items, &mut cx);
}

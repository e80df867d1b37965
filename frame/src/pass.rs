//! Passes: how a pass body runs as a job, for one frame.
//!
//! Each frame, every kept pass becomes one job whose capture is a [`Pass`]: pointers to the
//! pass's state, its declared accesses and the frame's slot (its bindings, counters and timing
//! records). The job's first step waits for the passes it depends on, in the frame (with
//! [`Action::Wait`], so that a failed input skips it) and in the previous frame (with
//! [`Action::After`], so that one failed frame does not fail the next); then it runs the pass's
//! own steps. Nothing is allocated for this beyond the job itself.
//!
//! A closure pass ([`GraphBuilder::pass`](crate::GraphBuilder::pass)) is a step pass whose
//! state is the closure: its step returns [`Action::Spawn`] and calls the closure inside, so that
//! jobs the closure spawns may borrow the resources, and the pass ends when they have finished.

use std::ops::Deref;
use std::ops::DerefMut;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use jobs::{Action, Context, Job, Spawner, Step};

use crate::access::Access;
use crate::frames::{FrameInfo, Plan, Slot};

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
///             spawner.spawn_fn(move |_| *x = i as u64);
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
    /// The slot of the previous frame, for waiting on its passes; `None` on the first frame or
    /// when frames do not overlap.
    previous: Option<NonNull<Slot>>,
    plan: NonNull<Plan>,
    /// This pass's position among the kept passes.
    position: u32,
    /// Dependencies waited for so far (see `start`).
    waited: u32,
    started: bool,
    info: FrameInfo,
    entry: Step<Pass<S, A>>,
}

// SAFETY: the state is `Send` and owned by this pass (one frame's run of it at a time); the
// accesses are `Send + Sync`; the slot and plan are shared read-only or through atomics and
// counters, which are `Sync`.
unsafe impl<S: Send, A: Access> Send for Pass<S, A> {}

impl<S, A: Access> Pass<S, A> {
    /// The frame this run belongs to.
    pub fn frame(&self) -> FrameInfo {
        self.info
    }

    /// The pass's own state and the resources it declared.
    pub fn parts(&mut self) -> (&mut S, A::Item<'_>) {
        // SAFETY: the state belongs to this pass and one run of a pass is in flight at a time
        // (a pass waits for its own run in the previous frame); `&mut self` makes this borrow
        // unique within the run. The slot's bindings are this frame's, and the graph orders
        // the passes so that these accesses conflict with no other running pass.
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
}

impl<S, A: Access> Drop for Pass<S, A> {
    fn drop(&mut self) {
        // The job ends here, done, panicked or cancelled: the pass's end for the statistics.
        if self.started {
            let record = &self.slot().records[self.position as usize];
            record.end.store(self.slot().clock.now(), Ordering::Relaxed);
        }
        #[cfg(feature = "tracy")]
        self.slot().stages.pass_ended(self.position as usize);
    }
}

/// What the graph hands a pass to make its job for one frame.
pub(crate) struct Seed {
    pub(crate) slot: NonNull<Slot>,
    pub(crate) previous: Option<NonNull<Slot>>,
    pub(crate) plan: NonNull<Plan>,
    pub(crate) position: u32,
    pub(crate) info: FrameInfo,
}

/// A pass's body, owned by the graph: its state, accesses and first step.
pub(crate) struct Body<S, A: Access> {
    pub(crate) state: S,
    pub(crate) access: A,
    pub(crate) entry: Step<Pass<S, A>>,
}

/// A type-erased `Box<Body<S, A>>`, kept behind a raw pointer: jobs of overlapping frames hold
/// pointers into it, so it must never be reborrowed as a whole while the graph runs.
pub(crate) struct ErasedBody {
    ptr: NonNull<()>,
    make_job: unsafe fn(NonNull<()>, Seed) -> Job<'static>,
    drop: unsafe fn(NonNull<()>),
}

// SAFETY: made only from `Body<S, A>` with `S: Send` and `A: Send`.
unsafe impl Send for ErasedBody {}

impl ErasedBody {
    pub(crate) fn new<S: Send + 'static, A: Access>(body: Body<S, A>) -> Self {
        ErasedBody {
            ptr: NonNull::from(Box::leak(Box::new(body))).cast(),
            make_job: make_job::<S, A>,
            drop: drop_body::<S, A>,
        }
    }

    /// The pass's job for the frame in `seed`.
    ///
    /// # Safety
    /// The pass's previous run has been ordered before this one (or has finished), the slot
    /// and plan in `seed` outlive the job, and so does this body.
    pub(crate) unsafe fn job(&self, seed: Seed) -> Job<'static> {
        // SAFETY: forwarded from the caller.
        unsafe { (self.make_job)(self.ptr, seed) }
    }
}

impl Drop for ErasedBody {
    fn drop(&mut self) {
        // SAFETY: we own the box; no job of it is left (the frames have all completed).
        unsafe { (self.drop)(self.ptr) }
    }
}

/// # Safety
/// See [`ErasedBody::job`]; `body` is a `Body<S, A>`.
unsafe fn make_job<S: Send + 'static, A: Access>(body: NonNull<()>, seed: Seed) -> Job<'static> {
    let body = body.cast::<Body<S, A>>().as_ptr();
    // SAFETY: `body` is live; fields are reached by raw pointer, never borrowing the whole body
    // (a job of the previous frame may still use its state).
    let (state, access, entry) = unsafe {
        (
            NonNull::new_unchecked(std::ptr::addr_of_mut!((*body).state)),
            NonNull::new_unchecked(std::ptr::addr_of_mut!((*body).access)),
            (*body).entry,
        )
    };
    let pass = Pass {
        state,
        access,
        slot: seed.slot,
        previous: seed.previous,
        plan: seed.plan,
        position: seed.position,
        waited: 0,
        started: false,
        info: seed.info,
        entry,
    };
    Job::new(pass, start::<S, A>)
}

/// # Safety
/// `body` is a `Box<Body<S, A>>` from `ErasedBody::new`, not used afterwards.
unsafe fn drop_body<S, A: Access>(body: NonNull<()>) {
    // SAFETY: see the function's contract.
    drop(unsafe { Box::from_raw(body.cast::<Body<S, A>>().as_ptr()) });
}

/// The first step of every pass job: wait for the passes before it, then run the pass.
fn start<S, A: Access>(p: &mut Pass<S, A>, cx: &mut Context<'_>) -> Action<Pass<S, A>> {
    // SAFETY: the plan belongs to the compiled graph, which outlives every frame.
    let plan = unsafe { p.plan.as_ref() };
    let deps = &plan.passes[p.position as usize];
    // Passes of this frame: `Wait`, so that a failed input cancels this pass too. Always
    // through the action (continues at once at zero), so that a panic is never missed.
    if let Some(&before) = deps.before.get(p.waited as usize) {
        p.waited += 1;
        return Action::Wait(p.slot().done[before as usize].clone(), start);
    }
    // Passes of the previous frame: `After`, which does not pass their panic on.
    if let Some(previous) = p.previous {
        // SAFETY: the previous frame's slot is not reused before this frame has completed.
        let previous = unsafe { previous.as_ref() };
        let before = deps.before.len();
        while let Some(&earlier) = deps.previous_frame.get(p.waited as usize - before) {
            p.waited += 1;
            let done = &previous.done[earlier as usize];
            if !done.is_zero() {
                return Action::After(done.clone(), start);
            }
        }
    }
    let slot = p.slot();
    let record = &slot.records[p.position as usize];
    record.start.store(slot.clock.now(), Ordering::Relaxed);
    record.worker.store(
        cx.worker_index().map_or(u32::MAX, |w| w as u32),
        Ordering::Relaxed,
    );
    #[cfg(feature = "tracy")]
    slot.stages.pass_started(p.position as usize);
    p.started = true;
    (p.entry)(p, cx)
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
///         cx.spawn_fn(move |_| {
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

/// The entry step of a closure pass.
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
    let info = p.info;
    let (state, items) = p.parts();
    let mut cx = PassContext { spawner, info };
    (state.0)(items, &mut cx);
}

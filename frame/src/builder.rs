//! Declaring a graph: resources, passes, their accesses and orderings.

use std::sync::atomic::{AtomicU32, Ordering};

use jobs::{Priority, Step};

use crate::access::{Access, Declared};
use crate::compile;
use crate::error::GraphError;
use crate::flag::Flag;
use crate::pass::{
    closure_entry, start, start_closure, Body, ClosureState, ErasedBody, Pass, PassContext,
};
use crate::resource::{clone_from, Buf, Cell, Init, Kind, Res, ResourceDecl};
use crate::Graph;

/// Declares the resources and passes of a frame graph; [`compile`](Self::compile) checks and
/// orders them once, into a [`Graph`] to run every frame.
///
/// ```
/// use frame::GraphBuilder;
///
/// let mut graph = GraphBuilder::new();
/// let positions = graph.scratch("positions", vec![0.0f32; 1024]);
/// let forces = graph.transient::<f32>("forces", 1024);
/// graph.pass("forces", forces.write(), |forces, _cx| forces.fill(-9.8));
/// graph.pass(
///     "integrate",
///     (forces.read(), positions.read_previous(), positions.write()),
///     |(forces, before, after), _cx| {
///         for ((p, v), f) in after.iter_mut().zip(before).zip(forces) {
///             *p = v + f / 60.0;
///         }
///     },
/// );
/// let graph = graph.compile()?;
/// assert_eq!(graph.order(), ["forces", "integrate"]);
/// # Ok::<(), frame::GraphError>(())
/// ```
pub struct GraphBuilder {
    /// This builder's graph id (see [`next_graph_id`]); [`NO_GRAPH_ID`] once ids have run out.
    pub(crate) id: u32,
    pub(crate) resources: Vec<ResourceDecl>,
    pub(crate) passes: Vec<PassDecl>,
    /// The names of the flags declared with [`flag`](Self::flag), in order.
    pub(crate) flags: Vec<String>,
    /// Whether [`order`](Self::order) was given two passes of other builders.
    pub(crate) foreign_order: bool,
}

/// A pass as declared.
pub(crate) struct PassDecl {
    pub(crate) name: String,
    pub(crate) accesses: Vec<Declared>,
    pub(crate) before: Vec<PassId>,
    pub(crate) after: Vec<PassId>,
    /// The flags that must all be on in a frame for the pass to run in it.
    pub(crate) run_if: Vec<Flag>,
    /// The carried resource this pass copies forward (the pass `carried` adds), if any.
    pub(crate) carries: Option<u32>,
    pub(crate) side_effect: bool,
    pub(crate) priority: Priority,
    /// The thread the pass runs on, if pinned (the main thread, or a registered one).
    pub(crate) thread: Option<jobs::PinnedThread>,
    /// The pipeline stage the pass belongs to (read only by the Tracy integration).
    #[cfg_attr(not(feature = "tracy"), allow(dead_code))]
    pub(crate) stage: Option<String>,
    pub(crate) body: ErasedBody,
}

/// A handle to a declared pass, for ordering others against it
/// ([`PassConfig::before`], [`PassConfig::after`]). Copy it freely; it works only with the
/// builder that declared the pass ([`GraphError::ForeignPass`] otherwise).
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let log = graph.import("log", Vec::<&str>::new());
/// let first = graph.pass("first", (), |_, _| {}).side_effect().id();
/// graph.pass("second", log.write(), |log, _| log.push("second")).after(first);
/// assert_eq!(graph.compile()?.order(), ["first", "second"]);
/// # Ok::<(), frame::GraphError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PassId {
    /// The id of the builder that declared it (see `next_graph_id`).
    pub(crate) graph: u32,
    /// Its index among the builder's passes.
    pub(crate) index: u32,
}

/// Sets the options of a pass just declared: its priority, explicit orderings, side effects,
/// the frames it runs in.
pub struct PassConfig<'b> {
    pass: &'b mut PassDecl,
    id: PassId,
}

impl PassConfig<'_> {
    /// The pass's handle, to order other passes against it.
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let a = graph.pass("a", (), |_, _| {}).side_effect().id();
    /// graph.pass("b", (), |_, _| {}).side_effect().before(a);
    /// assert_eq!(graph.compile()?.order(), ["b", "a"]);
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn id(&self) -> PassId {
        self.id
    }

    /// Runs the pass's job (and, by default, what it spawns) at `priority`.
    pub fn priority(self, priority: Priority) -> Self {
        self.pass.priority = priority;
        self
    }

    /// Orders this pass before `other`, whatever they access.
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let present = graph.pass("present", (), |_, _| {}).side_effect().id();
    /// graph.pass("draw", (), |_, _| {}).side_effect().before(present);
    /// assert_eq!(graph.compile()?.order(), ["draw", "present"]);
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn before(self, other: PassId) -> Self {
        self.pass.before.push(other);
        self
    }

    /// Orders this pass after `other`, whatever they access.
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let input = graph.pass("input", (), |_, _| {}).side_effect().id();
    /// graph.pass("simulate", (), |_, _| {}).side_effect().after(input);
    /// assert_eq!(graph.compile()?.dependencies("simulate"), Some(vec!["input"]));
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn after(self, other: PassId) -> Self {
        self.pass.after.push(other);
        self
    }

    /// Runs the pass only in frames where `flag` is on (see [`GraphBuilder::flag`]); called
    /// again, only where every flag given is on. In a frame where it is off the pass's body does
    /// not run; the passes after it run all the same (they see what it would have changed
    /// unchanged; see the [resources](crate::resource) for what a switched-off writer leaves).
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1))?);
    /// let mut graph = frame::GraphBuilder::new();
    /// let overlay = graph.flag("debug overlay");
    /// let drawn = graph.import("drawn", 0u32);
    /// graph.pass("overlay", drawn.write(), |drawn, _| *drawn += 1).run_if(overlay);
    /// let mut frames = frame::Frames::new(system, graph.compile()?)?;
    /// frames.run_frame(Duration::ZERO)?; // flags start off
    /// let mut setup = frames.begin_frame()?;
    /// setup.set_flag(overlay, true)?;
    /// setup.start(Duration::ZERO)?;
    /// assert_eq!(*frames.resource(drawn)?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_if(self, flag: Flag) -> Self {
        self.pass.run_if.push(flag);
        self
    }

    /// Puts the pass in the simulation part of a frame: it runs only in frames that simulate
    /// (all frames unless [`FrameSetup::simulate`](crate::FrameSetup::simulate) says not; a
    /// [`GameLoop`](crate::GameLoop) runs one such frame per fixed step). Shorthand for
    /// `run_if(Flag::SIMULATE)`.
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let state = graph.carried("state", 0u64);
    /// graph.pass("step", state.write(), |s, _| *s += 1).simulate();
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn simulate(self) -> Self {
        self.run_if(Flag::SIMULATE)
    }

    /// Puts the pass in the render part of a frame: it runs only in frames that render (all
    /// frames unless [`FrameSetup::render`](crate::FrameSetup::render) says not; a
    /// [`GameLoop`](crate::GameLoop) renders once a turn, in the turn's last frame) and reads
    /// the interpolation factor in [`FrameInfo::alpha`](crate::FrameInfo::alpha). Shorthand
    /// for `run_if(Flag::RENDER)`.
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let image = graph.import("image", 0.0f32);
    /// graph.pass("draw", image.write(), |i, cx| *i = cx.frame().alpha).render();
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn render(self) -> Self {
        self.run_if(Flag::RENDER)
    }

    /// Marks the pass as having an effect outside the graph (writing a file, presenting an
    /// image), so that it is kept even if nothing reads what it writes.
    pub fn side_effect(self) -> Self {
        self.pass.side_effect = true;
        self
    }

    /// Runs the pass only on the main thread (its first step and every later one), when the
    /// main thread waits or calls [`JobSystem::run_pinned`](jobs::JobSystem::run_pinned) or
    /// [`run_pinned_until`](jobs::JobSystem::run_pinned_until) ([`GameLoop`](crate::GameLoop)
    /// does while it paces).
    pub fn on_main_thread(self) -> Self {
        self.on_thread(jobs::PinnedThread::MAIN)
    }

    /// Runs the pass only on `thread` (its first step and every later one): a thread
    /// registered with [`JobSystem::register_thread`](jobs::JobSystem::register_thread), such
    /// as a render thread submitting to the GPU, which runs it when it waits or calls
    /// [`run_pinned`](jobs::JobSystem::run_pinned) /
    /// [`run_pinned_until`](jobs::JobSystem::run_pinned_until). The last of this and
    /// [`on_main_thread`](Self::on_main_thread) wins. If that thread has unregistered or exited
    /// when the pass is due, the pass fails (its frame reports a
    /// [`FrameError`](crate::FrameError) saying so) instead of waiting forever.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use frame::{Frames, GraphBuilder};
    /// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
    /// std::thread::scope(|s| {
    ///     let system = &system;
    ///     s.spawn(move || {
    ///         // The render thread registers, builds its frames, and runs its passes as it waits.
    ///         let render = system.register_thread().expect("a slot is free");
    ///         let here = std::thread::current().id();
    ///         let mut graph = GraphBuilder::new();
    ///         let image = graph.import("image", 0u32);
    ///         graph.pass("submit", image.write(), move |image, _| {
    ///             assert_eq!(std::thread::current().id(), here);
    ///             *image += 1;
    ///         }).on_thread(render.thread());
    ///         let mut frames = Frames::new(system.clone(), graph.compile().unwrap()).unwrap();
    ///         frames.run_frame(std::time::Duration::ZERO).unwrap();
    ///         frames.finish().unwrap();
    ///         assert_eq!(*frames.resource(image).unwrap(), 1);
    ///     });
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_thread(self, thread: jobs::PinnedThread) -> Self {
        self.pass.thread = Some(thread);
        self
    }

    /// Puts the pass in the pipeline stage named `stage` (a pass is in one stage at most: the
    /// last call wins; by default it is in none). A stage is a group of passes that a profiler
    /// shows as one span per frame, from the start of the first of its passes in that frame to
    /// the end of the last: with the `tracy` feature, a frame set named after the stage (see
    /// the README's "Profiling in Tracy"). It changes nothing in how the graph runs.
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let state = graph.import("state", 0u64);
    /// let image = graph.import("image", 0u64);
    /// graph.pass("simulate", state.write(), |s, _| *s += 1).stage("simulate");
    /// graph.pass("render", (state.read(), image.write()), |(s, i), _| *i = *s)
    ///     .stage("render")
    ///     .side_effect();
    /// assert_eq!(graph.compile()?.order(), ["simulate", "render"]);
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn stage(self, stage: &str) -> Self {
        self.pass.stage = Some(stage.to_owned());
        self
    }
}

impl Default for GraphBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// The id no graph has: a builder gets it when the ids have run out, and cannot compile.
const NO_GRAPH_ID: u32 = 0;

/// The next graph id from `next`: each id from 1 to `u32::MAX - 1` once, then `None` forever.
///
/// A handle carries its builder's id, and a graph accepts only handles with its own id: so an
/// id must never be given twice, or a stale handle of an old graph would match a new one and
/// hand out a resource as the wrong type. `fetch_add` would wrap around after 2^32 builders;
/// the checked add stops at the last id instead, and later builders get [`NO_GRAPH_ID`].
/// Relaxed: the id only has to be unique, which the atomic read-modify-write alone ensures.
fn next_graph_id(next: &AtomicU32) -> Option<u32> {
    next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| id.checked_add(1))
        .ok()
}

impl GraphBuilder {
    /// An empty graph.
    ///
    /// Each builder gets a graph id of its own, never given to another builder of this process,
    /// so that a handle can only be used with the graph it was declared on. There are
    /// 4 294 967 294 ids; should a process make more builders than that, the later ones fail to
    /// [`compile`](Self::compile) with [`GraphError::OutOfGraphIds`].
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let x = graph.import("x", 1u32);
    /// graph.pass("double", x.write(), |x, _| *x *= 2);
    /// assert_eq!(graph.compile()?.order(), ["double"]);
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn new() -> Self {
        static NEXT_ID: AtomicU32 = AtomicU32::new(1);
        GraphBuilder::with_id(next_graph_id(&NEXT_ID).unwrap_or(NO_GRAPH_ID))
    }

    fn with_id(id: u32) -> Self {
        GraphBuilder {
            id,
            resources: Vec::new(),
            passes: Vec::new(),
            flags: Vec::new(),
            foreign_order: false,
        }
    }

    fn resource(&mut self, name: &str, kind: Kind, init: Init) -> u32 {
        self.resources.push(ResourceDecl {
            name: name.to_owned(),
            kind,
            init,
            clone_from: None,
        });
        (self.resources.len() - 1) as u32
    }

    /// Orders pass `first` before pass `then`, whatever they access: the same as
    /// `.before(then)` on `first` (or `.after(first)` on `then`), for passes already declared
    /// in another order. A pass of another builder is [`GraphError::ForeignPass`] when
    /// compiling.
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let present = graph.pass("present", (), |_, _| {}).side_effect().id();
    /// let draw = graph.pass("draw", (), |_, _| {}).side_effect().id();
    /// graph.order(draw, present);
    /// assert_eq!(graph.compile()?.order(), ["draw", "present"]);
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn order(&mut self, first: PassId, then: PassId) {
        // `get_mut`: builders made after the graph ids ran out share an id (and cannot
        // compile), so a handle of one may name no pass of another.
        let ours = |id: PassId| id.graph == self.id && (id.index as usize) < self.passes.len();
        if ours(first) {
            self.passes[first.index as usize].before.push(then);
        } else if ours(then) {
            self.passes[then.index as usize].after.push(first);
        } else {
            self.foreign_order = true;
        }
    }

    /// A flag of the frame, off in every frame unless the frame's setup turns it on
    /// ([`FrameSetup::set_flag`](crate::FrameSetup::set_flag)); passes may run only where it
    /// is on ([`PassConfig::run_if`]). A graph has at most [`Flag::MAX`] flags of its own
    /// (compiling more is [`GraphError::TooManyFlags`]), beside [`Flag::SIMULATE`] and
    /// [`Flag::RENDER`].
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let screenshot = graph.flag("screenshot");
    /// graph.pass("save", (), |_, _| {}).side_effect().run_if(screenshot);
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn flag(&mut self, name: &str) -> Flag {
        self.flags.push(name.to_owned());
        Flag::new(self.id, Flag::FIRST_OWN + self.flags.len() as u32 - 1)
    }

    /// Imports a value the game owns into the graph: one copy, kept between frames. Passes that
    /// write it are kept (their effect is visible to the game); read it back between frames
    /// with [`Frames::resource`](crate::Frames::resource).
    pub fn import<T: Send + 'static>(&mut self, name: &str, value: T) -> Res<T> {
        let id = self.resource(name, Kind::Imported, Init::Value(Cell::new(value)));
        Res::new(self.id, id)
    }

    /// Per-frame state carried from frame to frame: one copy per frame slot, and each frame's
    /// copy starts as the previous frame's (frame 0's as `initial`), so a pass may change part
    /// of it. A pass may also read the previous frame's copy with [`Res::read_previous`].
    ///
    /// Cost: one `Clone::clone_from` of the value per frame, in a job of its own named
    /// `carry <name>` (it shows in [`Graph::order`] and the statistics) that runs once the
    /// previous frame's writers of it are done, before the frame's first pass touching it; so
    /// with frames in flight, the passes using it follow the previous frame's writers of it.
    /// For state rewritten whole every frame, [`scratch`](Self::scratch) copies nothing.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
    /// let mut graph = frame::GraphBuilder::new();
    /// let score = graph.carried("score", [0u32; 2]);
    /// // Changes one half a frame: the other half is carried over.
    /// graph.pass("score", score.write(), |score, cx| score[(cx.frame().number % 2) as usize] += 1);
    /// let mut frames = frame::Frames::new(system, graph.compile()?)?;
    /// for _ in 0..5 {
    ///     frames.run_frame(Duration::ZERO)?;
    /// }
    /// assert_eq!(*frames.resource(score)?, [3, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn carried<T: Clone + Send + Sync + 'static>(&mut self, name: &str, initial: T) -> Res<T> {
        let res = self.copies(name, Kind::Carried, initial);
        let carry = format!("carry {name}");
        self.pass(
            &carry,
            (res.read_previous(), res.write()),
            |(before, now), _| now.clone_from(before),
        )
        .priority(Priority::High);
        self.passes.last_mut().expect("just declared").carries = Some(res.id);
        res
    }

    /// Per-frame scratch, written whole every frame: one copy per frame slot (made by cloning
    /// `initial`), so that a frame can write its copy while an earlier frame still reads its
    /// own, and nothing is copied between frames. A frame's copy starts with whatever the frame
    /// that used the slot before left in it (frames in flight + 1 earlier, or `initial`): its
    /// writers (a pass, or the main thread with
    /// [`FrameSetup::per_frame_mut`](crate::FrameSetup::per_frame_mut)) must write all that is
    /// read. A pass may read the previous frame's copy with [`Res::read_previous`], which makes
    /// double-buffered state: each frame computes its copy whole from the previous one.
    ///
    /// Cost: none per frame. In a frame where its writer fails or is switched off
    /// ([`PassConfig::run_if`]), its copy is made the previous frame's (one
    /// `Clone::clone_from`, only then), so a reader never sees an older frame's data.
    ///
    /// The copies are what `Clone` makes: a `Vec` cloned has the original's length, not the
    /// room reserved with `Vec::with_capacity`. A value that grows inside a pass should keep
    /// its room when cloned, or each copy reallocates inside the pass the first times it grows.
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let heights = graph.scratch("heights", vec![0.0f32; 256]);
    /// graph.pass("fall", (heights.read_previous(), heights.write()), |(before, now), _| {
    ///     for (h, h0) in now.iter_mut().zip(before) {
    ///         *h = h0 - 0.1; // every element written, from the previous frame's
    ///     }
    /// });
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn scratch<T: Clone + Send + 'static>(&mut self, name: &str, initial: T) -> Res<T> {
        self.copies(name, Kind::Scratch, initial)
    }

    /// A per-frame resource of `kind`, its copies cloned from `initial`.
    fn copies<T: Clone + Send + 'static>(&mut self, name: &str, kind: Kind, initial: T) -> Res<T> {
        let make = move || Cell::new(initial.clone());
        let id = self.resource(name, kind, Init::Copies(Box::new(make)));
        self.resources[id as usize].clone_from = Some(clone_from::<T>);
        Res::new(self.id, id)
    }

    /// A buffer of `len` values of `T` that lives for one frame: allocated from the frame's
    /// tag in the tagged heap when the frame starts, released when it has completed. Its first
    /// writer sees unspecified contents.
    pub fn transient<T: crate::Pod>(&mut self, name: &str, len: usize) -> Buf<T> {
        let init = Init::Buffer {
            size: size_of::<T>(),
            align: align_of::<T>().max(16),
            len,
        };
        let id = self.resource(name, Kind::Transient, init);
        Buf::new(self.id, id)
    }

    /// Declares a pass whose body is a closure run once a frame with the resources `access`
    /// declares. The body may spawn jobs (through the [`PassContext`]) that borrow the
    /// resources; the pass ends when they have finished.
    pub fn pass<A, F>(&mut self, name: &str, access: A, body: F) -> PassConfig<'_>
    where
        A: Access,
        F: for<'c, 'r, 'w> FnMut(A::Item<'c>, &mut PassContext<'c, 'r, 'w>) + Send + 'static,
    {
        let state = ClosureState(body);
        self.add_pass(
            name,
            access,
            state,
            closure_entry::<F, A>,
            start_closure::<F, A>,
        )
    }

    /// Declares a pass that runs as a job of steps: `entry` is its first step each frame,
    /// `state` is its own, kept between frames. Its steps may return any
    /// [`Action`](jobs::Action): wait, yield, spawn, ask for memory, block on I/O. See [`Pass`].
    pub fn step_pass<S, A>(
        &mut self,
        name: &str,
        access: A,
        state: S,
        entry: Step<Pass<S, A>>,
    ) -> PassConfig<'_>
    where
        S: Send + 'static,
        A: Access,
    {
        self.add_pass(name, access, state, entry, start::<S, A>)
    }

    /// Declares a pass whose jobs start with the step `first` (see `Body`).
    fn add_pass<S, A>(
        &mut self,
        name: &str,
        access: A,
        state: S,
        entry: Step<Pass<S, A>>,
        first: Step<Pass<S, A>>,
    ) -> PassConfig<'_>
    where
        S: Send + 'static,
        A: Access,
    {
        let mut accesses = Vec::new();
        access.declare(&mut accesses);
        self.passes.push(PassDecl {
            name: name.to_owned(),
            accesses,
            before: Vec::new(),
            after: Vec::new(),
            run_if: Vec::new(),
            carries: None,
            side_effect: false,
            priority: Priority::Normal,
            thread: None,
            stage: None,
            body: ErasedBody::new(Body {
                state,
                access,
                entry,
                first,
            }),
        });
        let id = PassId {
            graph: self.id,
            index: self.passes.len() as u32 - 1,
        };
        PassConfig {
            pass: self.passes.last_mut().expect("just pushed"),
            id,
        }
    }

    /// Checks the declarations and orders the passes. See [`GraphError`] for what is rejected.
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// graph.pass("a", (), |_, _| {}).side_effect();
    /// graph.pass("a", (), |_, _| {}).side_effect();
    /// let error = graph.compile().err();
    /// assert_eq!(error, Some(frame::GraphError::DuplicatePass { pass: "a".into() }));
    /// ```
    pub fn compile(self) -> Result<Graph, GraphError> {
        if self.id == NO_GRAPH_ID {
            return Err(GraphError::OutOfGraphIds);
        }
        compile::compile(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::{next_graph_id, GraphBuilder, NO_GRAPH_ID};
    use crate::error::GraphError;

    #[test]
    fn graph_ids_stop_at_the_last_instead_of_wrapping() {
        // What `fetch_add` did: past u32::MAX, ids 0, 1, 2... came round again.
        let next = AtomicU32::new(u32::MAX - 2);
        assert_eq!(next_graph_id(&next), Some(u32::MAX - 2));
        assert_eq!(next_graph_id(&next), Some(u32::MAX - 1));
        for _ in 0..3 {
            assert_eq!(
                next_graph_id(&next),
                None,
                "ids ran out: none is given again"
            );
        }
        assert_eq!(next.into_inner(), u32::MAX);
        assert_eq!(next_graph_id(&AtomicU32::new(1)), Some(1));
    }

    #[test]
    fn a_builder_made_after_the_ids_ran_out_does_not_compile() {
        let mut graph = GraphBuilder::with_id(NO_GRAPH_ID);
        let x = graph.import("x", 0u32);
        graph.pass("p", x.write(), |x, _| *x += 1);
        let error = graph.compile().err();
        assert_eq!(error, Some(GraphError::OutOfGraphIds));
        assert!(error.unwrap().to_string().contains("1 to 4294967294"));
    }
}

//! Running a compiled graph every frame, with up to three frames in flight.
//!
//! ## Slots
//! Frame N uses slot `N % (K + 1)` for K frames in flight: the slot holds the frame's counters
//! (one per kept pass: the Naughty Dog "per-frame counters"), the passes' countdowns of
//! unfinished dependencies, where each resource is for that frame (its bindings), and the
//! passes' timing records. Per-frame resources have one copy per slot. A slot is reused by frame
//! N + K + 1, which starts only after frame N + 1 has completed: by then nothing of frame N is
//! running, and no pass of frame N still counts down frame N + 1's passes.
//!
//! ## Starting a frame
//! [`Frames::run_frame`] first waits (running jobs meanwhile) until fewer than K frames are in
//! flight, completing the oldest: its errors are returned, its transient memory released (the
//! frame's tag in the tagged heap), its statistics recorded. Then it allocates the new frame's
//! transient buffers, sets each pass's countdown to its dependencies (of this frame, and of the
//! previous one when frames overlap), links to the previous frame's passes (counting down for
//! those already finished) and submits the passes with nothing left to wait for. Every other
//! pass is started by whoever finishes its last dependency (see `pass.rs`), counted on its own
//! counter, so a pass of frame N + 1 starts as soon as what it conflicts with in frame N is
//! done, while the rest of frame N still runs.
//!
//! ## Completing a frame
//! The frame loop waits for the frame's counters in the graph's order. A pass's counter is armed
//! when its job is made: at the frame's start, or by the job that finished its last dependency
//! (of this frame or the previous one) before that job's own counter falls. Frames complete in
//! order and a pass's dependencies in a frame come before it in the order, so by the time the
//! loop waits on a counter, it has been armed.
//!
//! The completed frame's statistics ([`FrameStats`]: pass times, the critical path) are made
//! only after the next frame has started (`Unrecorded`): between two frames the workers have
//! nothing to run, so the loop starts the next frame first and does its bookkeeping while they
//! run it. What they measure (the completion's time, the job system's figures) is read at the
//! completion.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobs::{Block, Counter, JobSystem, Label, Priority, Stats, Tag, WaitOptions};

use crate::access::{Binding, Mode};
use crate::error::FrameError;
use crate::flag::Flag;
use crate::pass::JobMaker;
use crate::profile::Profile;
use crate::resource::{Cell, CloneFrom, Init, Kind, Res};
use crate::stats::{FrameStats, PassTime};
use crate::Graph;

/// What a pass knows about the frame it runs in.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1))?);
/// let mut graph = frame::GraphBuilder::new();
/// let seen = graph.import("seen", Vec::new());
/// graph.pass("look", seen.write(), |seen, cx| {
///     let info = cx.frame();
///     seen.push((info.number, info.simulates(), info.renders(), info.alpha));
/// });
/// let mut frames = frame::Frames::new(system, graph.compile()?)?;
/// frames.run_frame(Duration::from_millis(10))?; // both parts, alpha 1
/// let mut setup = frames.begin_frame()?;
/// setup.simulate(false); // a render-only frame, halfway to the next step
/// setup.alpha(0.5)?;
/// setup.start(Duration::ZERO)?;
/// assert_eq!(*frames.resource(seen)?, [(0, true, true, 1.0), (1, false, true, 0.5)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct FrameInfo {
    /// The frame's number, from 0.
    pub number: u64,
    /// The simulation time step of this frame (zero in a frame that does not simulate, as a
    /// [`GameLoop`](crate::GameLoop) makes them).
    pub dt: Duration,
    /// The simulation time at the start of this frame (the sum of the earlier frames' `dt`).
    pub time: Duration,
    /// How far the game's real time is past the newest simulated state, in simulation steps,
    /// from 0 to 1: for render passes to interpolate what they draw between the state before
    /// the last step (at 0) and after it (at 1). 1 unless the frame's setup says otherwise
    /// ([`FrameSetup::alpha`]); a [`GameLoop`](crate::GameLoop) sets it each turn.
    pub alpha: f32,
    /// The frame's flags (see [`Flag`](crate::Flag)).
    pub(crate) flags: u64,
}

impl FrameInfo {
    /// Whether the frame simulates ([`Flag::SIMULATE`](crate::Flag::SIMULATE) is on).
    pub fn simulates(&self) -> bool {
        self.is_on(crate::Flag::SIMULATE)
    }

    /// Whether the frame renders ([`Flag::RENDER`](crate::Flag::RENDER) is on).
    pub fn renders(&self) -> bool {
        self.is_on(crate::Flag::RENDER)
    }

    /// Whether `flag` is on in this frame.
    pub fn is_on(&self, flag: crate::Flag) -> bool {
        self.flags & flag.mask() != 0
    }
}

/// What each kept pass waits for (positions among the kept passes).
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    pub(crate) passes: Vec<Deps>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Deps {
    /// Passes of the same frame.
    pub(crate) before: Vec<u32>,
    /// Passes of the previous frame (when frames overlap).
    pub(crate) previous_frame: Vec<u32>,
}

/// The frame loop's clock. Passes stamp their start and end with [`Clock::ticks`], the job
/// system's cheap clock ([`jobs::trace::ticks`]: the time-stamp counter where Linux keeps time
/// with it: 14 ns a read on the development machine, against 22 for an `Instant`'s elapsed
/// nanoseconds, and a few instructions against about a hundred); the loop
/// turns a completed frame's ticks into nanoseconds from [`Anchor`]s, a tick and an `Instant`
/// read together: the frame's start's, and the rate of ticks from the epoch's to one taken
/// then. So every figure is an `Instant`'s reading, exact at the frame's start, and within it
/// off by at most the anchors' own error (tens of nanoseconds) times the frame's length over
/// the time since the epoch: the rate grows more exact the longer the frames run.
pub(crate) struct Clock {
    epoch: Anchor,
}

/// A tick of [`Clock::ticks`] and the `Instant` of the same moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Anchor {
    ticks: u64,
    instant: Instant,
}

impl Anchor {
    /// A tick between two `Instant`s, the moment being their middle. A thread preempted between
    /// them would skew it: a pair further apart than a microsecond is read again (up to 4
    /// times, keeping the closest).
    fn now() -> Anchor {
        let mut best: Option<(Duration, Anchor)> = None;
        for _ in 0..4 {
            let before = Instant::now();
            let ticks = Clock::ticks();
            let window = before.elapsed();
            let anchor = Anchor {
                ticks,
                instant: before + window / 2,
            };
            if best.is_none_or(|(closest, _)| window < closest) {
                best = Some((window, anchor));
            }
            if window < Duration::from_micros(1) {
                break;
            }
        }
        best.map_or_else(
            || Anchor {
                ticks: Clock::ticks(),
                instant: Instant::now(),
            },
            |(_, anchor)| anchor,
        )
    }
}

impl Clock {
    fn new() -> Clock {
        Clock {
            epoch: Anchor::now(),
        }
    }

    /// The current tick, never 0 (0 means "not yet"); see [`jobs::trace::ticks`].
    #[inline]
    pub(crate) fn ticks() -> u64 {
        jobs::trace::ticks().max(1)
    }

    /// Nanoseconds from the epoch to `anchor`.
    fn nanos(&self, anchor: Anchor) -> u64 {
        anchor
            .instant
            .saturating_duration_since(self.epoch.instant)
            .as_nanos() as u64
    }

    /// Nanoseconds per tick, from the epoch to `now`, in units of 2^-32 ns (see [`Rate`]).
    fn rate(&self, now: Anchor) -> Rate {
        match now.ticks.saturating_sub(self.epoch.ticks) {
            0 => Rate(1 << 32),
            ticks => Rate(((u128::from(self.nanos(now)) << 32) / u128::from(ticks)) as u64),
        }
    }
}

/// Nanoseconds per tick, fixed point with 32 fraction bits: a tick is a fraction of a
/// nanosecond (the counter's frequency in GHz) to a few, and a frame's ticks times this fit in
/// 128 bits.
#[derive(Clone, Copy)]
struct Rate(u64);

impl Rate {
    /// `ticks` in nanoseconds.
    fn nanos(self, ticks: u64) -> u64 {
        ((u128::from(ticks) * u128::from(self.0)) >> 32) as u64
    }
}

/// When a pass ran in one frame; written by its job, read after the frame completed.
#[derive(Default)]
pub(crate) struct Record {
    /// When its body started and when it ended, in [`Clock::ticks`] (0: not yet).
    pub(crate) start: AtomicU64,
    pub(crate) end: AtomicU64,
    pub(crate) worker: AtomicU32,
    /// Whether the pass's job finished its steps without failing: it then ends with no panic
    /// on its counter, and the frame loop need not ask the counter for one (see
    /// `Frames::complete_oldest`). Stored before the job's counter falls.
    pub(crate) clean: AtomicBool,
}

/// What jobs share of one frame slot: counters, countdowns and timing records (atomics), and
/// the bindings and frame information, fixed while the frame runs. The frame loop changes them
/// only in `start`, when no job refers to the slot: the frame that used it before has
/// completed, and a pass of the previous frame looks at this slot only once this frame's start
/// has linked to it (see [`Countdown`]), after the changes.
pub(crate) struct Slot {
    pub(crate) done: Vec<Counter>,
    /// Per pass, its unfinished dependencies (see `pass.rs`).
    pub(crate) countdowns: Vec<Countdown>,
    pub(crate) bindings: Vec<Binding>,
    /// Per resource, whether a writer of it failed in its body in this frame ([`Slot::TORN`]),
    /// or did not run it ([`Slot::SKIPPED`]); read by its last writer (see `pass.rs`).
    pub(crate) unfinished_writes: Vec<AtomicU8>,
    pub(crate) records: Vec<Record>,
    pub(crate) info: FrameInfo,
    /// The frame's progress through the passes' stages, for Tracy's frame sets.
    #[cfg(feature = "tracy")]
    pub(crate) stages: crate::tracy::StageFrames,
}

impl Slot {
    /// A writer failed in its body: it may have written part of the resource.
    pub(crate) const TORN: u8 = 1;
    /// A writer did not run its body (switched off by the frame's flags, or skipped after a
    /// failed input, or cancelled before it started): it wrote nothing.
    pub(crate) const SKIPPED: u8 = 2;
}

/// One pass's countdown in one frame: how many of its dependencies have not finished, whether
/// one of this frame's failed, and its meeting point with the next frame's start.
#[derive(Default)]
pub(crate) struct Countdown {
    /// Dependencies not yet finished: this frame's, and the previous frame's when frames
    /// overlap. Set when the frame starts; the decrement that reaches zero starts the pass.
    pub(crate) pending: AtomicU32,
    /// The position of a failed input of this frame, or [`Countdown::NO_FAILURE`].
    pub(crate) failed_input: AtomicU32,
    /// [`Countdown::RUNNING`] until the pass has finished ([`Countdown::FINISHED`]) or the
    /// next frame's start has counted on it ([`Countdown::LINKED`]); whichever comes second
    /// counts down the next frame's passes that wait for this one. Only passes that some pass
    /// of the next frame waits for use it.
    pub(crate) link: AtomicU32,
}

impl Countdown {
    pub(crate) const NO_FAILURE: u32 = u32::MAX;
    pub(crate) const RUNNING: u32 = 0;
    pub(crate) const FINISHED: u32 = 1;
    pub(crate) const LINKED: u32 = 2;

    /// Sets the countdown up for a new frame, with `pending` dependencies. The frame loop does
    /// it before any job of the frame exists; the jobs see it through the queue that hands them
    /// their work, or (a pass of the previous frame) through the release of the `link` swap.
    fn reset(&self, pending: u32) {
        self.pending.store(pending, Ordering::Relaxed);
        self.failed_input
            .store(Countdown::NO_FAILURE, Ordering::Relaxed);
        self.link.store(Countdown::RUNNING, Ordering::Relaxed);
    }

    /// One dependency has finished; true for the call that finished the last one, which must
    /// start the pass.
    pub(crate) fn count_down(&self) -> bool {
        // Release: what the finished dependency did (and what was visible to it) comes before
        // this decrement, for whoever reaches zero. A read-modify-write continues the release
        // sequence of every earlier decrement, so the last one sees them all.
        if self.pending.fetch_sub(1, Ordering::Release) != 1 {
            return false;
        }
        // Acquire: pairs with the release of every other dependency's decrement, so that the
        // job started next sees all of their effects.
        fence(Ordering::Acquire);
        true
    }
}

/// What the jobs of every frame share, made once by [`Frames`] and freed after the last frame
/// completed: the slots, and per pass who waits for it and how to make its job. Behind a raw
/// pointer: jobs hold it while `Frames` moves.
pub(crate) struct Schedule {
    /// Where passes started from a job's `Drop` are submitted (no `Context` there).
    pub(crate) system: Arc<JobSystem>,
    /// Frame N uses `slots[N % slots.len()]`.
    pub(crate) slots: Vec<NonNull<Slot>>,
    /// Whether frames overlap (more than one in flight): then a pass also counts its
    /// dependencies in the previous frame.
    pub(crate) overlap: bool,
    /// Per kept pass.
    pub(crate) passes: Vec<Scheduled>,
    /// Per resource: what the passes need to put a failed frame's copy back, or poison it.
    pub(crate) resources: Vec<Kept>,
}

/// What a frame that does not finish needs of one resource (see [`crate::resource`]).
pub(crate) struct Kept {
    pub(crate) name: Arc<str>,
    pub(crate) kind: Kind,
    /// Puts a per-frame copy back to the previous frame's.
    pub(crate) clone_from: Option<CloneFrom>,
    /// Whether it is poisoned: checked by every pass that could be stopped by it.
    poisoned: AtomicBool,
    /// The frame and the pass (its position) that poisoned it first.
    poisoned_by: Mutex<Option<(u64, u32)>>,
}

impl Kept {
    /// The error for a poisoned resource, `None` if it is not. `names` are the kept passes'.
    #[inline]
    pub(crate) fn poison(&self, names: impl Fn(usize) -> String) -> Option<FrameError> {
        // Acquire: pairs with the release in `poison_with` (the lock would do too; the flag
        // keeps the lock off the path of every pass when nothing is poisoned).
        if !self.poisoned.load(Ordering::Acquire) {
            return None;
        }
        self.poison_error(names)
    }

    /// The error of a poisoned resource (see [`Kept::poison`]).
    #[cold]
    fn poison_error(&self, names: impl Fn(usize) -> String) -> Option<FrameError> {
        let (frame, pass) = (*self.poisoned_by.lock().unwrap_or_else(|e| e.into_inner()))?;
        Some(FrameError::Poisoned {
            resource: self.name.to_string(),
            frame,
            pass: names(pass as usize),
        })
    }

    /// Poisons it: pass `position` failed writing it in frame `frame`. The first poisoning is
    /// kept (later passes failing on the poison report it, not themselves).
    pub(crate) fn poison_with(&self, frame: u64, position: u32) {
        let mut by = self.poisoned_by.lock().unwrap_or_else(|e| e.into_inner());
        by.get_or_insert((frame, position));
        self.poisoned.store(true, Ordering::Release);
    }

    /// Clears the poison (the main thread, with no frame in flight).
    fn cure(&self) {
        *self.poisoned_by.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.poisoned.store(false, Ordering::Relaxed);
    }
}

/// One kept pass in the [`Schedule`].
pub(crate) struct Scheduled {
    /// Dependencies counted each frame: this frame's, then the previous frame's if frames
    /// overlap.
    dependencies: u32,
    dependencies_previous_frame: u32,
    /// Passes of the same frame that wait for this one.
    pub(crate) then: Vec<u32>,
    /// Passes of the next frame that wait for this one (when frames overlap).
    pub(crate) then_next_frame: Vec<u32>,
    maker: JobMaker,
    priority: Priority,
    label: Label,
    thread: Option<jobs::PinnedThread>,
    /// The flags that must all be on in a frame for the pass to run its body.
    pub(crate) condition: u64,
    /// The imported and per-frame resources it writes.
    pub(crate) writes: Vec<u32>,
    /// The resources it is the last writer of in a frame: it puts them back (or poisons them)
    /// when a writer of the frame did not finish.
    pub(crate) last_writer_of: Vec<u32>,
    /// The resources whose poison stops it: imported ones it touches, per-frame ones whose
    /// previous copy it reads.
    pub(crate) checks: Vec<u32>,
    /// The pass's name, for errors.
    pub(crate) name: Arc<str>,
}

impl Scheduled {
    /// The dependencies counted in a frame that overlaps the previous one or not.
    fn dependencies(&self, overlap: bool) -> u32 {
        if overlap {
            self.dependencies + self.dependencies_previous_frame
        } else {
            self.dependencies
        }
    }
}

impl Schedule {
    fn new(
        system: Arc<JobSystem>,
        slots: Vec<NonNull<Slot>>,
        overlap: bool,
        graph: &Graph,
        profile: &Profile,
    ) -> Schedule {
        let plan = &graph.plan;
        let mut last_writer = vec![None; graph.resources.len()];
        for (position, &p) in graph.kept.iter().enumerate() {
            for access in &graph.passes[p].accesses {
                if access.mode == Mode::Write {
                    last_writer[access.id as usize] = Some(position);
                }
            }
        }
        let mut passes: Vec<Scheduled> = graph
            .kept
            .iter()
            .zip(&plan.passes)
            .enumerate()
            .map(|(position, (&p, deps))| {
                let pass = &graph.passes[p];
                let kind = |r: u32| graph.resources[r as usize].kind;
                let lasting = |r: &u32| kind(*r) != Kind::Transient;
                let writes: Vec<u32> = pass
                    .accesses
                    .iter()
                    .filter(|a| a.mode == Mode::Write)
                    .map(|a| a.id)
                    .filter(lasting)
                    .collect();
                Scheduled {
                    condition: pass.run_if.iter().fold(0, |mask, flag| mask | flag.mask()),
                    last_writer_of: writes
                        .iter()
                        .copied()
                        .filter(|&r| last_writer[r as usize] == Some(position))
                        .collect(),
                    writes,
                    checks: pass
                        .accesses
                        .iter()
                        .filter(|a| match kind(a.id) {
                            Kind::Imported => true,
                            Kind::Carried | Kind::Scratch => a.mode == Mode::ReadPrevious,
                            Kind::Transient => false,
                        })
                        .map(|a| a.id)
                        .collect(),
                    name: Arc::from(pass.name.as_str()),
                    dependencies: deps.before.len() as u32,
                    dependencies_previous_frame: deps.previous_frame.len() as u32,
                    then: Vec::new(),
                    then_next_frame: Vec::new(),
                    maker: pass.body.maker(),
                    priority: pass.priority,
                    label: profile.label(position),
                    thread: pass.thread,
                }
            })
            .collect();
        for (position, deps) in plan.passes.iter().enumerate() {
            for &before in &deps.before {
                passes[before as usize].then.push(position as u32);
            }
            for &before in &deps.previous_frame {
                passes[before as usize]
                    .then_next_frame
                    .push(position as u32);
            }
        }
        let resources = graph
            .resources
            .iter()
            .map(|resource| Kept {
                name: Arc::from(resource.name.as_str()),
                kind: resource.kind,
                clone_from: resource.clone_from,
                poisoned: AtomicBool::new(false),
                poisoned_by: Mutex::new(None),
            })
            .collect();
        Schedule {
            system,
            slots,
            overlap,
            passes,
            resources,
        }
    }

    /// The slot frame `frame` uses.
    pub(crate) fn slot_of(&self, frame: u64) -> NonNull<Slot> {
        self.slots[(frame % self.slots.len() as u64) as usize]
    }

    /// Starts pass `position` of the frame in `slot` (every dependency of it has finished),
    /// counted on the frame's counter for it: from a job's context onto its thread's own queue,
    /// or without one through the job system.
    #[inline]
    pub(crate) fn launch(
        &self,
        slot: NonNull<Slot>,
        position: u32,
        cx: Option<&mut jobs::Context<'_>>,
    ) {
        let scheduled = &self.passes[position as usize];
        // SAFETY: a started frame's slot lives, unchanged but for atomics, until it completes,
        // which waits for this pass.
        let frame = unsafe { slot.as_ref() };
        let seed = crate::pass::Seed {
            slot,
            schedule: NonNull::from(self),
            position,
        };
        // SAFETY: the pass counts its own run in the previous frame among its dependencies
        // (or that frame has completed), and every dependency has finished: its previous run
        // no longer touches the state. The slot and schedule live until this frame completes
        // (`Frames`' `Drop` waits for it), and so do the bodies, owned by the graph.
        let mut job = unsafe { scheduled.maker.job(seed) }
            .with_priority(scheduled.priority)
            .with_label(scheduled.label)
            // Traces keep frame numbers modulo 2^32 (`Job::in_frame`).
            .in_frame(frame.info.number as u32);
        if let Some(thread) = scheduled.thread {
            job = job.pinned_to(thread);
        }
        let done = &frame.done[position as usize];
        match cx {
            Some(cx) => cx.spawn_job_counted(done, job),
            None => self.system.submit_counted(done, job),
        }
    }
}

/// Where a frame's transient buffers go: one block from the frame's tag holds them all, each
/// at its offset, so a frame starts with one allocation, not one per buffer.
struct Transients {
    /// Per transient resource: its id, its offset in the block and its length in elements.
    buffers: Vec<(usize, usize, usize)>,
    /// The block's size and alignment (the largest of the buffers'); `None` if the sizes add
    /// up past `usize`: then each buffer is allocated on its own, and the one that cannot be
    /// is reported.
    block: Option<(usize, usize)>,
}

impl Transients {
    fn new(resources: &[crate::resource::ResourceDecl]) -> Transients {
        let mut buffers = Vec::new();
        let mut size = Some(0usize);
        let mut max_align = 1;
        for (r, resource) in resources.iter().enumerate() {
            let Init::Buffer {
                size: each,
                align,
                len,
            } = resource.init
            else {
                continue;
            };
            // An alignment the heap refuses fails the block, then that buffer on its own.
            let offset = size.and_then(|used| used.checked_next_multiple_of(align.max(1)));
            size = offset.and_then(|offset| offset.checked_add(each.checked_mul(len)?));
            max_align = max_align.max(align);
            buffers.push((r, offset.unwrap_or(0), len));
        }
        Transients {
            buffers,
            block: size.map(|size| (size, max_align)),
        }
    }
}

/// What only the frame loop keeps of one slot.
struct SlotMeta {
    /// The frame's transient memory.
    blocks: Vec<Block>,
    /// When the frame started, and the job system's figures then.
    started: Anchor,
    stats_at_start: Stats,
}

/// Settings of [`Frames`].
#[derive(Clone, Debug)]
pub struct FramesConfig {
    in_flight: usize,
    history: usize,
    budget: Option<Duration>,
    lowest_to_run: Priority,
}

impl Default for FramesConfig {
    fn default() -> Self {
        FramesConfig {
            in_flight: 2,
            history: 120,
            budget: Some(Duration::from_nanos(1_000_000_000 / 60)),
            lowest_to_run: Priority::Low,
        }
    }
}

impl FramesConfig {
    /// The most frames of statistics [`history`](Self::history) may keep: 100 000, about 28
    /// minutes at 60 frames a second. The room for them is made when the frames are made
    /// (about 112 bytes a frame, 11 MB at most, plus each frame's pass times as it comes); a
    /// longer record is the recorder's job ([`JobSystem::start_recording`]).
    ///
    /// [`JobSystem::start_recording`]: jobs::JobSystem::start_recording
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1))?);
    /// let mut graph = frame::GraphBuilder::new();
    /// let x = graph.import("x", 0u32);
    /// graph.pass("p", x.write(), |x, _| *x += 1);
    /// let config = frame::FramesConfig::default().history(usize::MAX);
    /// let error = frame::Frames::with_config(system, graph.compile()?, config).err();
    /// assert_eq!(error, Some(frame::FrameError::HistoryTooLong(usize::MAX)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const MAX_HISTORY: usize = 100_000;

    /// Frames that may run at once, 1 to 3 (default 2): with 2, frame N + 1 simulates while
    /// frame N renders. [`Frames::with_config`] rejects other values.
    ///
    /// ```
    /// let config = frame::FramesConfig::default().in_flight(3);
    /// # drop(config);
    /// ```
    pub fn in_flight(mut self, frames: usize) -> Self {
        self.in_flight = frames;
        self
    }

    /// How many completed frames' statistics to keep, 0 to [`MAX_HISTORY`](Self::MAX_HISTORY)
    /// (default 120; 0 keeps none). [`Frames::with_config`] rejects more.
    ///
    /// ```
    /// let config = frame::FramesConfig::default().history(600); // 10 s at 60 frames a second
    /// # drop(config);
    /// ```
    pub fn history(mut self, frames: usize) -> Self {
        self.history = frames;
        self
    }

    /// The time a frame should take (default 1/60 s; `None`: no budget). A frame that ends
    /// longer than this after the previous one is reported to the recorder and to Tracy as
    /// over budget. Any duration is allowed: zero reports every frame, `Duration::MAX` none.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = frame::FramesConfig::default().budget(Some(Duration::from_micros(8_333)));
    /// # drop(config);
    /// ```
    pub fn budget(mut self, budget: Option<Duration>) -> Self {
        self.budget = budget;
        self
    }

    /// The lowest priority of the jobs the calling thread runs while it waits for a frame (in
    /// [`Frames::begin_frame`] with every frame slot busy, [`Frames::finish`], and the other
    /// waits of the frame loop). Default [`Priority::Low`]: it helps with everything. With
    /// `Priority::Normal` (or `High`), a main thread waiting for a frame never picks up a long
    /// Low job (streaming, background work) and starts the next frame late
    /// ([`jobs::WaitOptions::lowest_priority`]); the workers still run the Low jobs. Jobs
    /// pinned to the waiting thread run whatever their priority
    /// ([`jobs::WaitOptions::pinned_jobs_at_any_priority`]): a main-thread pass, or a job a
    /// pass hands to this thread, runs only here, and the frame loop never waits for a job it
    /// refuses to run.
    ///
    /// ```
    /// let config = frame::FramesConfig::default().lowest_to_run(jobs::Priority::Normal);
    /// # drop(config);
    /// ```
    pub fn lowest_to_run(mut self, lowest: Priority) -> Self {
        self.lowest_to_run = lowest;
        self
    }

    /// Checks every setting; the first out of range is the error.
    fn check(&self) -> Result<(), FrameError> {
        if !(1..=3).contains(&self.in_flight) {
            return Err(FrameError::BadFramesInFlight(self.in_flight));
        }
        if self.history > FramesConfig::MAX_HISTORY {
            return Err(FrameError::HistoryTooLong(self.history));
        }
        Ok(())
    }
}

/// Runs a compiled [`Graph`] every frame: the frame loop's side of the graph.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use frame::{Frames, FramesConfig, GraphBuilder};
///
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
/// let mut graph = GraphBuilder::new();
/// let state = graph.scratch("state", 0u64);
/// let total = graph.import("total", 0u64);
/// graph.pass("simulate", (state.read_previous(), state.write()), |(before, now), _| {
///     *now = *before + 1;
/// });
/// graph.pass("render", (state.read(), total.write()), |(now, total), _| *total += *now);
/// let mut frames = Frames::with_config(system, graph.compile()?, FramesConfig::default().in_flight(2))?;
/// for _ in 0..100 {
///     // Main-thread work goes here (events, window); frames overlap meanwhile.
///     frames.run_frame(Duration::from_secs_f64(1.0 / 60.0))?;
/// }
/// assert_eq!(*frames.resource(state)?, 100);
/// assert_eq!(*frames.resource(total)?, (1..=100).sum::<u64>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Frames {
    system: Arc<JobSystem>,
    graph: Graph,
    /// Behind a raw pointer: jobs hold pointers into it while `Frames` moves. It holds the
    /// slots.
    schedule: NonNull<Schedule>,
    meta: Vec<SlotMeta>,
    /// Per resource: its copies (one if imported, one per slot if per-frame, none if
    /// transient).
    cells: Vec<Vec<Cell>>,
    names: Vec<Arc<str>>,
    in_flight: VecDeque<u64>,
    max_in_flight: usize,
    /// How this thread waits for a frame (`FramesConfig::lowest_to_run`).
    waiting: WaitOptions,
    next_frame: u64,
    /// The newest frame seen complete, if any, and when it completed (nanoseconds since the
    /// epoch).
    completed: Option<u64>,
    completed_ns: u64,
    /// The next frame's flags and alpha, as its setup leaves them.
    next_flags: u64,
    next_alpha: f32,
    time: Duration,
    clock: Clock,
    tag_base: u64,
    history: VecDeque<FrameStats>,
    history_len: usize,
    /// Scratch for the critical path: per pass, its duration in nanoseconds, and the longest
    /// chain ending with it (its length, and the pass before it on the chain).
    durations: Vec<u64>,
    finish_at: Vec<(u64, usize)>,
    /// Labels, the recorder and the profiler.
    profile: Profile,
    /// Where each frame's transient buffers go in its block.
    transients: Transients,
    /// The newest completed frame, if its statistics are not in the history yet (see
    /// [`Unrecorded`]).
    unrecorded: Option<Unrecorded>,
}

/// A completed frame whose statistics wait to be recorded: the frame loop completes a frame,
/// starts the next one, and only then turns the completed frame's records into its
/// [`FrameStats`] (a few microseconds for a hundred passes), while the workers run the new
/// frame, not between the two frames when they have nothing to run. What the statistics
/// measure is read at the completion (the time, the job system's figures); the history has
/// the frame by the time the call that completed it returns (`run_frame`, `finish`), or
/// [`FrameSetup::start`] when frames are set up one by one (see [`Frames::history`]).
/// The recorder's frame record and Tracy's frame mark go out with them (the record carries
/// the completion's time; Tracy's mark is a few microseconds late, the time of the next
/// frame's start).
struct Unrecorded {
    frame: u64,
    failed: bool,
    /// When it was seen complete.
    completed: Anchor,
    /// The job system's figures then.
    stats: Stats,
}

// SAFETY: the raw pointers are owned heap data (the schedule, its slots) and resources made from `Send`
// values; `Frames` is used from one thread at a time (`&mut self`).
unsafe impl Send for Frames {}

impl Frames {
    /// Runs `graph` on `system` with the default settings (2 frames in flight).
    pub fn new(system: Arc<JobSystem>, graph: Graph) -> Result<Frames, FrameError> {
        Frames::with_config(system, graph, FramesConfig::default())
    }

    /// Runs `graph` on `system`.
    pub fn with_config(
        system: Arc<JobSystem>,
        mut graph: Graph,
        config: FramesConfig,
    ) -> Result<Frames, FrameError> {
        config.check()?;
        let slots = config.in_flight + 1;
        let clock = Clock::new();
        let passes = graph.kept.len();
        let mut cells = Vec::with_capacity(graph.resources.len());
        for resource in &mut graph.resources {
            cells.push(match std::mem::replace(&mut resource.init, Init::Taken) {
                Init::Value(cell) => vec![cell],
                Init::Copies(make) => (0..slots).map(|_| make()).collect(),
                buffer => {
                    resource.init = buffer;
                    Vec::new()
                }
            });
        }
        #[cfg(feature = "tracy")]
        let stages =
            crate::tracy::Stages::new(graph.kept.iter().map(|&p| graph.passes[p].stage.as_deref()));
        let slot_pointers = (0..slots)
            .map(|s| {
                let bindings = cells
                    .iter()
                    .map(|copies| match copies.len() {
                        0 => Binding::UNBOUND,
                        1 => Binding {
                            current: copies[0].ptr(),
                            previous: copies[0].ptr(),
                            len: 1,
                        },
                        n => Binding {
                            current: copies[s].ptr(),
                            previous: copies[(s + n - 1) % n].ptr(),
                            len: 1,
                        },
                    })
                    .collect();
                let slot = Slot {
                    done: (0..passes).map(|_| system.counter()).collect(),
                    countdowns: (0..passes).map(|_| Countdown::default()).collect(),
                    bindings,
                    unfinished_writes: cells.iter().map(|_| AtomicU8::new(0)).collect(),
                    records: (0..passes).map(|_| Record::default()).collect(),
                    info: FrameInfo::default(),
                    #[cfg(feature = "tracy")]
                    stages: crate::tracy::StageFrames::new(&stages),
                };
                NonNull::from(Box::leak(Box::new(slot)))
            })
            .collect();
        static TAGS: AtomicU64 = AtomicU64::new(1);
        let names: Vec<Arc<str>> = graph
            .kept
            .iter()
            .map(|&p| Arc::from(graph.passes[p].name.as_str()))
            .collect();
        let profile = Profile::new(&system, &names, &graph.plan, config.budget);
        let schedule = Schedule::new(
            Arc::clone(&system),
            slot_pointers,
            config.in_flight > 1,
            &graph,
            &profile,
        );
        Ok(Frames {
            profile,
            system,
            schedule: NonNull::from(Box::leak(Box::new(schedule))),
            meta: (0..slots)
                .map(|_| SlotMeta {
                    blocks: Vec::new(),
                    started: clock.epoch,
                    stats_at_start: Stats::default(),
                })
                .collect(),
            cells,
            names,
            in_flight: VecDeque::with_capacity(config.in_flight),
            max_in_flight: config.in_flight,
            // A job pinned to the waiting thread (a main-thread pass, or a job a pass hands to
            // this thread) runs only here: refusing it for its priority could hang the loop.
            waiting: WaitOptions::new()
                .lowest_priority(config.lowest_to_run)
                .pinned_jobs_at_any_priority(),
            next_frame: 0,
            completed: None,
            completed_ns: 0,
            next_flags: Flag::DEFAULT_BITS,
            next_alpha: 1.0,
            time: Duration::ZERO,
            clock,
            tag_base: TAGS.fetch_add(1, Ordering::Relaxed) << 40,
            history: VecDeque::with_capacity(config.history),
            history_len: config.history,
            unrecorded: None,
            durations: Vec::with_capacity(passes),
            finish_at: Vec::with_capacity(passes),
            transients: Transients::new(&graph.resources),
            graph,
        })
    }

    /// The job system the frames run on.
    pub fn system(&self) -> &Arc<JobSystem> {
        &self.system
    }

    /// The compiled graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The moment these frames were made: [`FrameStats::completed`] counts from it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use std::time::{Duration, Instant};
    /// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
    /// let mut graph = frame::GraphBuilder::new();
    /// let x = graph.import("x", 0u32);
    /// graph.pass("p", x.write(), |x, _| *x += 1);
    /// let mut frames = frame::Frames::new(system, graph.compile()?)?;
    /// frames.run_frame(Duration::from_millis(16))?;
    /// frames.finish()?;
    /// let completed_at = frames.epoch() + frames.history()[0].completed;
    /// assert!(completed_at <= Instant::now());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn epoch(&self) -> Instant {
        self.clock.epoch.instant
    }

    /// The number the next frame will get.
    pub fn next_frame(&self) -> u64 {
        self.next_frame
    }

    /// Frames started and not yet seen complete.
    pub fn frames_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Starts the next frame with time step `dt`; returns its number. First waits until fewer
    /// than K frames are in flight (running jobs on this thread meanwhile, jobs pinned to the
    /// main thread first). If a frame that completed while waiting failed, returns its error
    /// and starts nothing: call again to go on.
    pub fn run_frame(&mut self, dt: Duration) -> Result<u64, FrameError> {
        self.begin_frame()?.start(dt)
    }

    /// Waits for room for the next frame, like [`run_frame`](Self::run_frame), and returns a
    /// [`FrameSetup`] to fill the frame's per-frame inputs before starting it.
    pub fn begin_frame(&mut self) -> Result<FrameSetup<'_>, FrameError> {
        // A frame completed for a setup that was dropped unstarted.
        self.record_completed();
        while self.in_flight.len() >= self.max_in_flight {
            if let Err(error) = self.complete_oldest() {
                self.record_completed();
                return Err(error);
            }
        }
        self.next_flags = Flag::DEFAULT_BITS;
        self.next_alpha = 1.0;
        Ok(FrameSetup { frames: self })
    }

    /// Waits until every frame in flight has completed (running jobs meanwhile). Returns the
    /// first error among them; all are completed either way.
    pub fn finish(&mut self) -> Result<(), FrameError> {
        let mut first = Ok(());
        while !self.in_flight.is_empty() {
            let outcome = self.complete_oldest();
            if first.is_ok() {
                first = outcome;
            }
        }
        self.record_completed();
        first
    }

    /// An imported or per-frame resource, after every frame in flight has completed: the
    /// imported value, or the newest frame's copy. Errors of those frames are returned first,
    /// then [`FrameError::Poisoned`] if a failed frame left the resource half-written. To read
    /// without waiting, see [`last_completed`](Self::last_completed).
    pub fn resource<T: 'static>(&mut self, resource: Res<T>) -> Result<&T, FrameError> {
        self.resource_mut(resource).map(|r| &*r)
    }

    /// Like [`resource`](Self::resource), for changing it: the next frame sees the change (for
    /// a per-frame resource, as its previous frame's copy; a carried one starts from it).
    pub fn resource_mut<T: 'static>(&mut self, resource: Res<T>) -> Result<&mut T, FrameError> {
        self.check_graph(resource)?;
        self.finish()?;
        if let Some(poisoned) = self.poison_of(resource.id) {
            return Err(poisoned);
        }
        // SAFETY: no frame is in flight, and `&mut self` is held.
        Ok(unsafe { self.newest_copy(resource) })
    }

    /// Gives an imported or per-frame resource a whole new value, after every frame in flight
    /// has completed, and clears its poison (see [`FrameError::Poisoned`]): the way back for a
    /// resource a failed frame left half-written. Errors of those frames are returned first.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1))?);
    /// let mut graph = frame::GraphBuilder::new();
    /// let pair = graph.import("pair", [0u32; 2]);
    /// graph.pass("count", pair.write(), |pair, cx| {
    ///     pair[0] += 1;
    ///     assert!(cx.frame().number != 1, "fails in frame 1 halfway");
    ///     pair[1] += 1;
    /// });
    /// let mut frames = frame::Frames::new(system, graph.compile()?)?;
    /// frames.run_frame(Duration::ZERO)?;
    /// frames.run_frame(Duration::ZERO)?;
    /// assert!(frames.finish().is_err()); // frame 1 failed: `pair` is [2, 1]
    /// let poisoned = frames.resource(pair).unwrap_err();
    /// assert!(matches!(poisoned, frame::FrameError::Poisoned { frame: 1, .. }), "{poisoned}");
    /// frames.rewrite(pair, [1, 1])?;
    /// frames.run_frame(Duration::ZERO)?;
    /// assert_eq!(*frames.resource(pair)?, [2, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rewrite<T: 'static>(&mut self, resource: Res<T>, value: T) -> Result<(), FrameError> {
        self.check_graph(resource)?;
        self.finish()?;
        // SAFETY: no frame is in flight, and `&mut self` is held.
        *unsafe { self.newest_copy(resource) } = value;
        self.schedule().resources[resource.id as usize].cure();
        Ok(())
    }

    /// A per-frame resource as the newest completed frame left it (see
    /// [`last_completed_frame`](Self::last_completed_frame); before any, its initial value),
    /// without waiting for the frames in flight: for the UI, networking or audio to read the
    /// game's state while the next frames run. Frames complete when [`run_frame`](Self::run_frame)
    /// (or [`begin_frame`](Self::begin_frame)) needs room for the next, or on
    /// [`finish`](Self::finish); so with K frames in flight, right after `run_frame` returned
    /// frame N, this is frame N - K (frames N - K + 1 to N are in flight).
    ///
    /// A failed frame's copy is the last good state (see
    /// [`resource`](crate::resource#what-a-frame-that-does-not-finish-leaves)). An imported
    /// resource is shared with the frames in flight: it is [`FrameError::WrongKind`] here (read
    /// it with [`resource`](Self::resource), which waits for them).
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
    /// let mut graph = frame::GraphBuilder::new();
    /// let score = graph.carried("score", 0u64);
    /// graph.pass("score", score.write(), |score, _| *score += 10);
    /// let mut frames = frame::Frames::new(system, graph.compile()?)?; // 2 in flight
    /// assert_eq!((frames.last_completed_frame(), *frames.last_completed(score)?), (None, 0));
    /// for _ in 0..5 {
    ///     frames.run_frame(Duration::ZERO)?;
    ///     let shown = *frames.last_completed(score)?; // no wait
    ///     let frame = frames.last_completed_frame();
    ///     assert_eq!(shown, frame.map_or(0, |n| 10 * (n + 1)));
    /// }
    /// assert_eq!(frames.frames_in_flight(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_completed<T: 'static>(&self, resource: Res<T>) -> Result<&T, FrameError> {
        if resource.graph != self.graph.id {
            return Err(FrameError::ForeignResource);
        }
        let declared = &self.graph.resources[resource.id as usize];
        if !declared.kind.is_per_frame() {
            return Err(FrameError::WrongKind {
                resource: declared.name.clone(),
                expected: "per-frame (carried or scratch)",
            });
        }
        if let Some(poisoned) = self.poison_of(resource.id) {
            return Err(poisoned);
        }
        let copies = &self.cells[resource.id as usize];
        let n = copies.len() as u64;
        // Frame 0's previous copy (the initial value) until a frame has completed.
        let frame = self.completed.map_or(n - 1, |frame| frame % n);
        // SAFETY: the cell holds a `T` (typed handle, same graph). The copy is the newest
        // completed frame's: the frames in flight only read it (as their previous copy), and
        // the frame that will reuse it cannot start while `&self` is borrowed.
        Ok(unsafe { &*copies[frame as usize].ptr().cast::<T>() })
    }

    /// The newest frame seen complete (what [`last_completed`](Self::last_completed) reads),
    /// `None` before the first.
    pub fn last_completed_frame(&self) -> Option<u64> {
        self.completed
    }

    /// An error if `resource` is not of this graph.
    fn check_graph<T>(&self, resource: Res<T>) -> Result<(), FrameError> {
        if resource.graph != self.graph.id {
            return Err(FrameError::ForeignResource);
        }
        Ok(())
    }

    /// The poison of resource `id`, as an error.
    fn poison_of(&self, id: u32) -> Option<FrameError> {
        self.schedule().resources[id as usize].poison(|p| self.names[p].to_string())
    }

    /// The imported value, or the newest frame's copy.
    ///
    /// # Safety
    /// No frame is in flight, and the caller holds `&mut self` for the reference's life.
    #[allow(clippy::mut_from_ref)]
    unsafe fn newest_copy<T: 'static>(&self, resource: Res<T>) -> &mut T {
        let copies = &self.cells[resource.id as usize];
        let cell = match copies.len() {
            1 => &copies[0],
            n => &copies[((self.next_frame + n as u64 - 1) % n as u64) as usize],
        };
        // SAFETY: the cell holds a `T` (handles are typed by the builder that made them, and
        // the graph id matched); the rest is the caller's promise.
        unsafe { &mut *cell.ptr().cast::<T>() }
    }

    /// Statistics of the last completed frames, oldest first. A frame is in it once the call
    /// that completed it has returned ([`run_frame`](Self::run_frame), [`finish`](Self::finish),
    /// or [`FrameSetup::start`] after [`begin_frame`](Self::begin_frame)): its statistics are
    /// made after the next frame has started, while the workers run it. (A frame completed by
    /// a `begin_frame` whose setup is dropped unstarted comes in at the next `begin_frame` or
    /// `finish`.)
    pub fn history(&self) -> &VecDeque<FrameStats> {
        &self.history
    }

    /// The graph in DOT (see [`Graph::to_dot`]) with each pass's mean and longest time over
    /// the frames in the history.
    pub fn to_dot(&self) -> String {
        if self.history.is_empty() {
            return self.graph.to_dot();
        }
        let times: Vec<String> = (0..self.names.len())
            .map(|i| {
                let ran: Vec<Duration> = self
                    .history
                    .iter()
                    .filter(|f| f.passes[i].start.is_some())
                    .map(|f| f.passes[i].duration)
                    .collect();
                let mean = ran.iter().sum::<Duration>() / ran.len().max(1) as u32;
                let max = ran.iter().max().copied().unwrap_or_default();
                format!(
                    "mean {:.3} ms, max {:.3} ms ({} frames)",
                    mean.as_secs_f64() * 1e3,
                    max.as_secs_f64() * 1e3,
                    ran.len()
                )
            })
            .collect();
        self.graph.dot_with(Some(&times))
    }

    fn tag(&self, frame: u64) -> Tag {
        Tag(self.tag_base | frame)
    }

    fn schedule(&self) -> &Schedule {
        // SAFETY: the schedule lives as long as `self`; jobs only read it.
        unsafe { self.schedule.as_ref() }
    }

    fn slot_of(&self, frame: u64) -> NonNull<Slot> {
        self.schedule().slot_of(frame)
    }

    fn slot_index(&self, frame: u64) -> usize {
        (frame % self.meta.len() as u64) as usize
    }

    /// Starts frame `next_frame` (room has been made).
    fn start(&mut self, dt: Duration) -> Result<u64, FrameError> {
        let frame = self.next_frame;
        let slot_ptr = self.slot_of(frame);
        let tag = self.tag(frame);
        // SAFETY: the schedule lives as long as `self`; jobs only read it.
        let schedule = unsafe { self.schedule.as_ref() };
        let overlap = schedule.overlap && frame > 0;
        let info = FrameInfo {
            number: frame,
            dt,
            time: self.time,
            alpha: self.next_alpha,
            flags: self.next_flags,
        };
        let index = self.slot_index(frame);
        let meta = &mut self.meta[index];
        {
            // SAFETY: frame `frame - slots` used this slot and has completed (fewer than K
            // frames are in flight, and K < slots), so no job refers to it: it is ours.
            let slot = unsafe { &mut *slot_ptr.as_ptr() };
            let heap = self.system.heap();
            let shared = match self.transients.block {
                Some((size, align)) if !self.transients.buffers.is_empty() => {
                    heap.allocate_bytes(tag, size, align).ok()
                }
                _ => None,
            };
            if let Some(mut block) = shared {
                let base = block.as_mut_slice().as_mut_ptr();
                for &(r, offset, len) in &self.transients.buffers {
                    // SAFETY: the buffer's offset plus its bytes is at most the block's size
                    // (`Transients::new`), so the pointer stays inside the block.
                    slot.bindings[r].current = unsafe { base.add(offset) };
                    slot.bindings[r].len = len;
                }
                meta.blocks.push(block);
            } else {
                // One by one: the buffer that cannot be allocated is the one reported.
                for &(r, _, len) in &self.transients.buffers {
                    let resource = &self.graph.resources[r];
                    let Init::Buffer { size, align, .. } = resource.init else {
                        continue;
                    };
                    let bytes = size.saturating_mul(len);
                    let mut block = match heap.allocate_bytes(tag, bytes, align) {
                        Ok(block) => block,
                        Err(_) => {
                            meta.blocks.clear();
                            heap.release(tag);
                            return Err(FrameError::OutOfMemory {
                                resource: resource.name.clone(),
                                bytes,
                            });
                        }
                    };
                    slot.bindings[r].current = block.as_mut_slice().as_mut_ptr();
                    slot.bindings[r].len = len;
                    meta.blocks.push(block);
                }
            }
            for record in &slot.records {
                record.start.store(0, Ordering::Relaxed);
                record.end.store(0, Ordering::Relaxed);
                record.clean.store(false, Ordering::Relaxed);
            }
            for (countdown, scheduled) in slot.countdowns.iter().zip(&schedule.passes) {
                countdown.reset(scheduled.dependencies(overlap));
            }
            for unfinished in &slot.unfinished_writes {
                unfinished.store(0, Ordering::Relaxed);
            }
            slot.info = info;
            meta.started = Anchor::now();
            meta.stats_at_start = self.system.stats();
        }
        // SAFETY: from here on the slot is shared with its jobs: only read it.
        let slot = unsafe { slot_ptr.as_ref() };
        if overlap {
            // SAFETY: the previous frame's slot is not reused before this frame has completed;
            // it is only read (its jobs may be running).
            let previous = unsafe { self.slot_of(frame - 1).as_ref() };
            for (earlier, scheduled) in schedule.passes.iter().enumerate() {
                if scheduled.then_next_frame.is_empty() {
                    continue;
                }
                // AcqRel: the release publishes this frame's countdowns, set up above, to the
                // pass if it finishes after this; the acquire sees its effects if it finished
                // before (they then reach the passes started here through the queue).
                let link = &previous.countdowns[earlier].link;
                if link.swap(Countdown::LINKED, Ordering::AcqRel) == Countdown::FINISHED {
                    for &after in &scheduled.then_next_frame {
                        if slot.countdowns[after as usize].count_down() {
                            schedule.launch(slot_ptr, after, None);
                        }
                    }
                }
            }
        }
        // Passes with nothing to wait for. The rest are started by whoever finishes their last
        // dependency: a pass of this frame or the previous one, or the loop just above.
        for (position, scheduled) in schedule.passes.iter().enumerate() {
            if scheduled.dependencies(overlap) == 0 {
                schedule.launch(slot_ptr, position as u32, None);
            }
        }
        self.in_flight.push_back(frame);
        self.next_frame += 1;
        self.time += dt;
        Ok(frame)
    }

    /// Waits for the oldest frame in flight, releases its memory, and leaves its statistics to
    /// be recorded ([`Unrecorded`]).
    fn complete_oldest(&mut self) -> Result<(), FrameError> {
        let Some(frame) = self.in_flight.pop_front() else {
            return Ok(());
        };
        // Two frames completed in a row (more than one in flight): the first one's turn.
        self.record_completed();
        let slot_ptr = self.slot_of(frame);
        // SAFETY: the slot is this frame's; jobs only share-read it.
        let slot = unsafe { slot_ptr.as_ref() };
        // The pass that failed first and its message.
        let mut failed: Option<(String, String)> = None;
        let mut also_failed = Vec::new();
        let mut skipped = Vec::new();
        // The newest frame (nothing in flight after it: `finish`, or one frame in flight) is
        // mostly unfinished here. Its late passes tend to finish last: waiting for them first,
        // the main thread helps throughout one wait and then finds the rest done, instead of
        // waiting (setting up to help, and maybe sleeping) once per unfinished pass in order:
        // 13 waits a frame on `graph_overhead`'s 100 passes, whose cost per pass this cuts by
        // a fifth. An older frame, completed while a newer one runs, is mostly done: waiting in
        // order returns as soon as it is (waiting for its late passes first measured 5% slower).
        if self.in_flight.is_empty() {
            for done in slot.done.iter().rev() {
                if !done.is_zero() {
                    let _ = self.system.wait_with(done, self.waiting);
                }
            }
        }
        for (position, done) in slot.done.iter().enumerate() {
            // A pass whose job has ended (the acquire in `is_zero` sees what it stored before
            // its counter fell) after finishing cleanly left no panic there: no need to ask.
            if done.is_zero() && slot.records[position].clean.load(Ordering::Relaxed) {
                continue;
            }
            if let Err(panic) = self.system.wait_with(done, self.waiting) {
                let ran = slot.records[position].start.load(Ordering::Relaxed) != 0;
                let name = self.names[position].to_string();
                match (ran, &failed) {
                    (true, None) => failed = Some((name, panic.message().to_owned())),
                    (true, Some(_)) => also_failed.push(name),
                    (false, _) => skipped.push((name, panic.message().to_owned())),
                }
            }
        }
        // Every job of the frame has finished: its records are complete and visible.
        if failed.is_none() && !skipped.is_empty() {
            // Nothing ran and failed (cancelled at shutdown, or pinned to a thread that left):
            // report the first, with why.
            failed = Some(skipped.remove(0));
        }
        let skipped: Vec<String> = skipped.into_iter().map(|(name, _)| name).collect();
        self.unrecorded = Some(Unrecorded {
            frame,
            failed: failed.is_some(),
            completed: Anchor::now(),
            stats: self.system.stats(),
        });
        self.completed = Some(frame);
        let index = self.slot_index(frame);
        self.meta[index].blocks.clear();
        self.system.heap().release(self.tag(frame));
        match failed {
            None => Ok(()),
            Some((pass, message)) => Err(FrameError::PassPanicked {
                frame,
                pass,
                message,
                also_failed,
                skipped,
            }),
        }
    }

    /// Records the completed frame's statistics, if not yet (see [`Unrecorded`]).
    fn record_completed(&mut self) {
        if let Some(unrecorded) = self.unrecorded.take() {
            self.record(unrecorded);
        }
    }

    /// Appends a completed frame's statistics to the history. Its slot is not reused before:
    /// the frame that uses it next starts after the one after this has completed.
    fn record(&mut self, unrecorded: Unrecorded) {
        let Unrecorded {
            frame,
            failed,
            completed: now,
            stats,
        } = unrecorded;
        // SAFETY: the frame has completed; the slot is only read.
        let slot = unsafe { self.slot_of(frame).as_ref() };
        let meta = &self.meta[self.slot_index(frame)];
        // Ticks to nanoseconds since the epoch: exact at the frame's start, then at the rate
        // from the epoch to now (see `Clock`).
        let now_ns = self.clock.nanos(now);
        let rate = self.clock.rate(now);
        let started = meta.started;
        let started_ns = self.clock.nanos(started);
        // Every pass ended before `now` was read (the frame has completed): a tick count that
        // converts to later is the two clocks' rounding (the rate, the anchors' reads), and
        // is clamped, so that no pass ends after its frame's completion.
        let nanos = |ticks: u64| {
            (started_ns + rate.nanos(ticks.saturating_sub(started.ticks)))
                .min(now_ns.max(started_ns))
        };
        let stats = stats.since(&meta.stats_at_start);
        let mut entry = if self.history.len() >= self.history_len {
            self.history.pop_front().unwrap_or_default()
        } else {
            FrameStats::default()
        };
        entry.number = frame;
        entry.failed = failed;
        entry.utilization = stats.utilization();
        entry.jobs = stats.total_jobs();
        if entry.passes.len() != self.names.len() {
            // A new entry (a reused one already names every pass).
            entry.passes.clear();
            entry.passes.extend(self.names.iter().map(|name| PassTime {
                name: Arc::clone(name),
                start: None,
                duration: Duration::ZERO,
                worker: None,
            }));
        }
        let mut last_end = started_ns;
        // Per pass, its duration in nanoseconds, for the critical path below.
        self.durations.clear();
        for (record, pass) in slot.records.iter().zip(&mut entry.passes) {
            let start = record.start.load(Ordering::Relaxed);
            let end = record.end.load(Ordering::Relaxed).max(start);
            let worker = record.worker.load(Ordering::Relaxed);
            // A tick of 0 is "not yet": a pass that did not start has no time.
            let (start_ns, end_ns) = match start {
                0 => (started_ns, started_ns),
                _ => (nanos(start), nanos(end)),
            };
            last_end = last_end.max(end_ns);
            pass.start = (start != 0).then(|| Duration::from_nanos(start_ns - started_ns));
            pass.duration = Duration::from_nanos(end_ns - start_ns);
            pass.worker = (start != 0 && worker != u32::MAX).then_some(worker as usize);
            self.durations.push(end_ns - start_ns);
        }
        // Never before the previous frame's completion: its last pass waits for its own run in
        // that frame, but ticks turned into time at two rates could put them a few nanoseconds
        // out of order (see `Clock`).
        let completed = last_end.min(now_ns).max(self.completed_ns);
        self.completed_ns = completed;
        entry.completed = Duration::from_nanos(completed);
        entry.wall = Duration::from_nanos(completed - started_ns);
        // Critical path: the longest chain through the frame's dependencies.
        self.finish_at.clear();
        for (deps, &duration) in self.graph.plan.passes.iter().zip(&self.durations) {
            let longest = deps
                .before
                .iter()
                .map(|&q| (self.finish_at[q as usize].0, q as usize))
                .max()
                .unwrap_or((0, usize::MAX));
            self.finish_at.push((longest.0 + duration, longest.1));
        }
        entry.critical_passes.clear();
        if let Some((last, &(length, _))) = self
            .finish_at
            .iter()
            .enumerate()
            .max_by_key(|(_, (length, _))| *length)
        {
            entry.critical_path = Duration::from_nanos(length);
            let mut at = last;
            while at != usize::MAX {
                entry.critical_passes.push(at);
                at = self.finish_at[at].1;
            }
            entry.critical_passes.reverse();
        } else {
            entry.critical_path = Duration::ZERO;
        }
        self.profile
            .frame_completed(&self.system, &entry, started.instant);
        if self.history_len > 0 {
            self.history.push_back(entry);
        }
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        // Jobs point into the schedule, its slots and the resources: let them finish first.
        let _ = self.finish();
        // SAFETY: no frame is in flight, so no job is left; the schedule came from `Box::leak`
        // in `with_config`.
        let schedule = unsafe { Box::from_raw(self.schedule.as_ptr()) };
        for slot in &schedule.slots {
            // SAFETY: as above; each slot came from `Box::leak` in `with_config`.
            drop(unsafe { Box::from_raw(slot.as_ptr()) });
        }
    }
}

/// A frame about to start: set its inputs, its flags and its interpolation factor, read the
/// newest completed frame's state, then [`start`](Self::start) it. Dropping it starts nothing.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
/// let mut graph = frame::GraphBuilder::new();
/// let input = graph.scratch("input", [0.0f32; 2]); // written whole by the main thread
/// let player = graph.carried("player", [0.0f32; 2]);
/// graph.pass("move", (input.read(), player.write()), |(input, player), _| {
///     player[0] += input[0];
///     player[1] += input[1];
/// });
/// let mut frames = frame::Frames::new(system, graph.compile()?)?;
/// for _ in 0..10 {
///     let mut setup = frames.begin_frame()?;
///     let _shown = *setup.last_completed(player)?; // e.g. for the UI, without waiting
///     *setup.per_frame_mut(input)? = [1.0, 0.5]; // this frame's copy: no pass uses it yet
///     setup.start(Duration::from_millis(16))?;
/// }
/// assert_eq!(*frames.resource(player)?, [10.0, 5.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FrameSetup<'f> {
    frames: &'f mut Frames,
}

impl FrameSetup<'_> {
    /// The number the frame will have.
    pub fn number(&self) -> u64 {
        self.frames.next_frame
    }

    /// This frame's copy of a scratch resource, to fill whole before the frame starts: a
    /// frame's input. It holds what the frame `K + 1` frames earlier left in it (K frames in
    /// flight). A carried resource is [`FrameError::WrongKind`]: its copy is made from the
    /// previous frame's once the frame runs, over anything written here (change it with
    /// [`resource_mut`](Self::resource_mut), or through a scratch input its passes read).
    pub fn per_frame_mut<T: 'static>(&mut self, resource: Res<T>) -> Result<&mut T, FrameError> {
        if resource.graph != self.frames.graph.id {
            return Err(FrameError::ForeignResource);
        }
        if self.frames.graph.kind(resource.id) != Kind::Scratch {
            return Err(FrameError::WrongKind {
                resource: self.frames.graph.resources[resource.id as usize]
                    .name
                    .clone(),
                expected: "scratch",
            });
        }
        let copies = &self.frames.cells[resource.id as usize];
        let cell = &copies[(self.frames.next_frame % copies.len() as u64) as usize];
        // SAFETY: the cell holds a `T` (typed handle, same graph); the frame that last used
        // this copy (`K + 1` frames ago, or the one after it reading it as previous) has
        // completed, since fewer than K frames are in flight.
        Ok(unsafe { &mut *cell.ptr().cast::<T>() })
    }

    /// An imported or per-frame resource to change before this frame starts, like
    /// [`Frames::resource_mut`]: it first waits for every frame in flight (their passes may
    /// use it), so the frames do not overlap across this call. Per-frame inputs
    /// ([`per_frame_mut`](Self::per_frame_mut)) cost no wait.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1))?);
    /// let mut graph = frame::GraphBuilder::new();
    /// let gravity = graph.import("gravity", -9.8f32);
    /// let speed = graph.carried("speed", 0.0f32);
    /// graph.pass("fall", (gravity.read(), speed.write()), |(g, v), _| *v += g);
    /// let mut frames = frame::Frames::new(system, graph.compile()?)?;
    /// let mut setup = frames.begin_frame()?;
    /// *setup.resource_mut(gravity)? = -1.0; // a level with less gravity
    /// setup.start(Duration::ZERO)?;
    /// assert_eq!(*frames.resource(speed)?, -1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resource_mut<T: 'static>(&mut self, resource: Res<T>) -> Result<&mut T, FrameError> {
        self.frames.resource_mut(resource)
    }

    /// A per-frame resource as the newest completed frame left it: see
    /// [`Frames::last_completed`].
    pub fn last_completed<T: 'static>(&self, resource: Res<T>) -> Result<&T, FrameError> {
        self.frames.last_completed(resource)
    }

    /// The newest frame seen complete: see [`Frames::last_completed_frame`].
    pub fn last_completed_frame(&self) -> Option<u64> {
        self.frames.completed
    }

    /// Turns `flag` on or off in this frame (the graph's own flags start off in every frame).
    /// See [`PassConfig::run_if`](crate::PassConfig::run_if).
    pub fn set_flag(&mut self, flag: Flag, on: bool) -> Result<(), FrameError> {
        if !flag.belongs_to(self.frames.graph.id) {
            return Err(FrameError::ForeignFlag);
        }
        if on {
            self.frames.next_flags |= flag.mask();
        } else {
            self.frames.next_flags &= !flag.mask();
        }
        Ok(())
    }

    /// Whether this frame simulates (default: yes): the passes of the simulation part
    /// ([`PassConfig::simulate`](crate::PassConfig::simulate)) run only if so.
    pub fn simulate(&mut self, on: bool) {
        let _ = self.set_flag(Flag::SIMULATE, on);
    }

    /// Whether this frame renders (default: yes): the passes of the render part
    /// ([`PassConfig::render`](crate::PassConfig::render)) run only if so.
    pub fn render(&mut self, on: bool) {
        let _ = self.set_flag(Flag::RENDER, on);
    }

    /// The frame's interpolation factor, [`FrameInfo::alpha`], 0 to 1 (default 1); anything
    /// else (NaN included) is [`FrameError::BadAlpha`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1))?);
    /// let mut graph = frame::GraphBuilder::new();
    /// graph.pass("p", (), |_, _| {}).side_effect();
    /// let mut frames = frame::Frames::new(system, graph.compile()?)?;
    /// let mut setup = frames.begin_frame()?;
    /// assert!(setup.alpha(0.0).is_ok() && setup.alpha(1.0).is_ok());
    /// assert!(setup.alpha(1.5).unwrap_err().to_string().contains("1.5"));
    /// assert!(setup.alpha(f32::NAN).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn alpha(&mut self, alpha: f32) -> Result<(), FrameError> {
        if !(0.0..=1.0).contains(&alpha) {
            return Err(FrameError::BadAlpha(format!("{alpha:?}")));
        }
        self.frames.next_alpha = alpha;
        Ok(())
    }

    /// Starts the frame with time step `dt`; returns its number. Then, while the workers run it,
    /// records the statistics of the frame completed to make room for it
    /// ([`Frames::history`] has them when this returns).
    pub fn start(self, dt: Duration) -> Result<u64, FrameError> {
        let started = self.frames.start(dt);
        self.frames.record_completed();
        started
    }
}

#[cfg(test)]
mod test {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::GraphBuilder;

    /// A pass whose dependency still runs is no job yet (so nothing suspends on the dependency):
    /// its frame's counter for it is at zero and its countdown at one; the dependency starts it
    /// when it finishes.
    #[test]
    fn a_pass_becomes_a_job_when_its_last_dependency_finishes() {
        let system = Arc::new(
            JobSystem::new(jobs::Config::default().workers(2).core_affinity(false))
                .expect("a valid config"),
        );
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u32);
        let y = graph.import("y", 0u32);
        let gate = Arc::new(AtomicBool::new(false));
        let open = Arc::clone(&gate);
        graph.pass("first", x.write(), move |x, _| {
            while !open.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            *x = 1;
        });
        graph.pass("second", (x.read(), y.write()), |(x, y), _| *y = *x + 1);
        let mut frames = Frames::new(system, graph.compile().expect("compiles")).expect("valid");
        for round in 0..3 {
            gate.store(false, Ordering::Release);
            let frame = frames.run_frame(Duration::ZERO).expect("runs");
            // SAFETY: the frame's slot lives while it is in flight; only atomics are read.
            let slot = unsafe { frames.slot_of(frame).as_ref() };
            assert_eq!(slot.done[0].value(), 1, "round {round}: `first` is a job");
            assert_eq!(slot.done[1].value(), 0, "round {round}: `second` is not");
            assert_eq!(slot.countdowns[1].pending.load(Ordering::Relaxed), 1);
            gate.store(true, Ordering::Release);
            frames.finish().expect("runs");
            let stats = frames.history().back().expect("recorded");
            let (first, second) = (&stats.passes[0], &stats.passes[1]);
            let first_end = first.start.expect("ran") + first.duration;
            assert!(second.start.expect("ran") >= first_end, "round {round}");
            assert_eq!(*frames.resource(y).expect("no failure"), 2);
        }
    }
}

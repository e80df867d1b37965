//! A game loop: fixed simulation steps, one render a turn with the interpolation factor, turns
//! paced to a target rate, running main-thread passes in between.

use std::ops::{ControlFlow, Deref, DerefMut};
use std::time::{Duration, Instant};

use crate::error::FrameError;
use crate::{FrameSetup, Frames};

/// Runs frames at a fixed simulation timestep, rendering once a turn, paced to a target rate.
///
/// Each turn of the loop (a display frame) runs as many fixed simulation steps as the real time
/// elapsed calls for, 0 to [`max_steps_per_turn`](Self::max_steps_per_turn) (time beyond is
/// dropped, so that a slow machine does not spiral), each one frame of the graph that
/// simulates ([`FrameInfo::simulates`](crate::FrameInfo::simulates), `dt` the timestep); the
/// turn's last frame also renders, and with no step due the turn runs one frame that only
/// renders (`dt` zero). Passes of the simulation part ([`PassConfig::simulate`]) run 0 to n
/// times a turn, passes of the render part ([`PassConfig::render`]) once, and read
/// [`FrameInfo::alpha`](crate::FrameInfo::alpha): how far real time is past the newest step,
/// for interpolating what they draw. Passes in neither part run in every frame.
///
/// Before each frame starts, `main` gets a [`Turn`]: the main thread's own work (events, UI:
/// on the turn's first frame, [`Turn::first`]) and the frame's inputs (through the
/// [`FrameSetup`] it derefs to: [`per_frame_mut`](FrameSetup::per_frame_mut), flags, a
/// read-back of the newest completed frame with [`last_completed`](FrameSetup::last_completed)).
/// After its frames, until the next turn is due, the turn runs the jobs pinned to the main
/// thread as they become ready ([`JobSystem::run_pinned_until`](jobs::JobSystem::run_pinned_until)):
/// a main-thread pass (a present) starts within a thread's wake-up time of its inputs being
/// done, not at the next turn. In between it sleeps: the main thread burns no CPU between turns
/// (the workers run the frames in flight meanwhile).
///
/// The loop may run on any thread: on the system's main thread or a
/// [registered](jobs::JobSystem::register_thread) one it runs the jobs pinned to that thread
/// while it paces; on any other thread it only sleeps between turns.
///
/// [`PassConfig::simulate`]: crate::PassConfig::simulate
/// [`PassConfig::render`]: crate::PassConfig::render
///
/// ```
/// use std::ops::ControlFlow;
/// use std::sync::Arc;
/// use frame::{Frames, GameLoop, GraphBuilder};
///
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
/// let mut graph = GraphBuilder::new();
/// let push = graph.scratch("push", 0.0f32); // the frame's input, from the main thread
/// let ball = graph.carried("ball", [0.0f32; 2]); // [before the step, after it]
/// let drawn = graph.import("drawn", Vec::new());
/// graph.pass("step", (push.read(), ball.write()), |(push, ball), cx| {
///     *ball = [ball[1], ball[1] + push * cx.frame().dt.as_secs_f32()];
/// }).simulate();
/// graph.pass("draw", (ball.read(), drawn.write()), |(ball, drawn), cx| {
///     let alpha = cx.frame().alpha; // interpolate between the last two states
///     drawn.push(ball[0] + (ball[1] - ball[0]) * alpha);
/// }).render();
/// let mut frames = Frames::new(system, graph.compile()?)?;
///
/// let game_loop = GameLoop::new(240.0)?.target_rate(240.0)?;
/// let summary = game_loop.run(&mut frames, |turn| {
///     if turn.first() && turn.turn >= 20 {
///         return Ok(ControlFlow::Break(())); // events would be polled here
///     }
///     *turn.per_frame_mut(push)? = 1.0; // every frame's input, every step's too
///     Ok(ControlFlow::Continue(()))
/// })?;
/// assert_eq!(summary.turns, 20);
/// assert_eq!(frames.resource(drawn)?.len(), 20, "one render a turn");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct GameLoop {
    timestep: Duration,
    period: Option<Duration>,
    max_steps: u32,
}

/// One frame of a [`GameLoop`]'s turn, about to start: what the main thread's work sees, and
/// the frame's [`FrameSetup`] (through `Deref`) to fill its inputs.
///
/// ```
/// use std::ops::ControlFlow;
/// use std::sync::Arc;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1))?);
/// let mut graph = frame::GraphBuilder::new();
/// let input = graph.scratch("input", 0u64);
/// let sum = graph.import("sum", 0u64);
/// graph.pass("add", (input.read(), sum.write()), |(i, s), _| *s += *i).simulate();
/// let mut frames = frame::Frames::new(system, graph.compile()?)?;
/// let summary = frame::GameLoop::new(1000.0)?.run(&mut frames, |turn| {
///     if turn.turn == 5 {
///         return Ok(ControlFlow::Break(()));
///     }
///     *turn.per_frame_mut(input)? = 1; // counted once per simulation step
///     Ok(ControlFlow::Continue(()))
/// })?;
/// assert_eq!(*frames.resource(sum)?, summary.steps);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Turn<'f> {
    /// Turns so far, from 0.
    pub turn: u64,
    /// This frame's place in the turn, from 0: the simulation step it runs (steps come first),
    /// or 0 in a turn that only renders.
    pub step: u32,
    /// The simulation steps this turn runs (0 to the loop's `max_steps_per_turn`).
    pub steps: u32,
    /// Frames started before this one.
    pub frames: u64,
    /// Real time since the loop started, at the turn's start.
    pub elapsed: Duration,
    /// How far the simulation's unspent time is into the next step, from 0 to 1, after this
    /// turn's steps: the frame's [`FrameInfo::alpha`](crate::FrameInfo::alpha).
    pub alpha: f32,
    setup: FrameSetup<'f>,
}

impl Turn<'_> {
    /// Whether this is the turn's first frame: where the main thread's once-a-turn work goes
    /// (polling events).
    pub fn first(&self) -> bool {
        self.step == 0
    }

    /// Whether this frame simulates (one fixed step).
    pub fn simulates(&self) -> bool {
        self.step < self.steps
    }

    /// Whether this frame renders (the turn's last).
    pub fn renders(&self) -> bool {
        self.step + 1 >= self.steps
    }
}

impl<'f> Deref for Turn<'f> {
    type Target = FrameSetup<'f>;
    fn deref(&self) -> &FrameSetup<'f> {
        &self.setup
    }
}

impl<'f> DerefMut for Turn<'f> {
    fn deref_mut(&mut self) -> &mut FrameSetup<'f> {
        &mut self.setup
    }
}

/// What a [`GameLoop`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoopSummary {
    /// Turns of the loop (display frames), counted when complete.
    pub turns: u64,
    /// Frames started and completed: the simulation steps, and a frame that only renders for
    /// each turn with no step due.
    pub frames: u64,
    /// Simulation steps run.
    pub steps: u64,
    /// Simulation steps dropped because the machine could not keep up.
    pub dropped_steps: u64,
    /// Real time the loop ran.
    pub elapsed: Duration,
}

/// The time of one step (or turn) at `rate` per second, if the rate is in range.
fn period_of(what: &str, rate: f64) -> Result<Duration, FrameError> {
    // Written so that NaN fails too.
    if (GameLoop::MIN_RATE..=GameLoop::MAX_RATE).contains(&rate) {
        Ok(Duration::from_secs_f64(1.0 / rate))
    } else {
        Err(FrameError::BadRate(format!(
            "{what} {rate:?} per second is out of range (allowed: 1/3600 to 1000000 per second)"
        )))
    }
}

impl GameLoop {
    /// The highest simulation and frame rate: a million per second, a step of 1 us. A faster
    /// rate makes steps no frame graph can keep up with, and rounds to a step of 0 ns, which
    /// would never use up the time elapsed.
    ///
    /// ```
    /// let error = frame::GameLoop::new(1e12).unwrap_err();
    /// assert!(error.to_string().contains("1000000000000.0"), "{error}");
    /// assert!(frame::GameLoop::new(frame::GameLoop::MAX_RATE).is_ok());
    /// ```
    pub const MAX_RATE: f64 = 1_000_000.0;

    /// The lowest simulation and frame rate: one an hour. No game steps slower, and a longer
    /// step would take the loop's clock arithmetic toward overflow (a step of 1e300 s cannot be
    /// a `Duration`).
    ///
    /// ```
    /// assert!(frame::GameLoop::new(1e-300).is_err());
    /// assert!(frame::GameLoop::new(frame::GameLoop::MIN_RATE).is_ok());
    /// ```
    pub const MIN_RATE: f64 = 1.0 / 3600.0;

    /// The most [`max_steps_per_turn`](Self::max_steps_per_turn): 1000. It bounds how many
    /// frames one turn may run before the main thread's work runs again; without a bound, a
    /// machine slower than the simulation falls further behind every turn and a turn never
    /// ends.
    ///
    /// ```
    /// assert!(frame::GameLoop::new(60.0)?.max_steps_per_turn(1001).is_err());
    /// # Ok::<(), frame::FrameError>(())
    /// ```
    pub const MAX_STEPS_PER_TURN: u32 = 1000;

    /// A loop simulating `steps_per_second` fixed steps per second of real time, as fast as
    /// frames complete (no pacing until [`target_rate`](Self::target_rate)). The rate must be
    /// from [`MIN_RATE`](Self::MIN_RATE) to [`MAX_RATE`](Self::MAX_RATE); zero, negative, NaN
    /// or infinite rates are errors.
    ///
    /// ```
    /// let game_loop = frame::GameLoop::new(50.0)?;
    /// assert_eq!(game_loop.timestep(), std::time::Duration::from_millis(20));
    /// assert!(frame::GameLoop::new(f64::NAN).is_err());
    /// # Ok::<(), frame::FrameError>(())
    /// ```
    pub fn new(steps_per_second: f64) -> Result<GameLoop, FrameError> {
        Ok(GameLoop {
            timestep: period_of("the simulation rate", steps_per_second)?,
            period: None,
            max_steps: 4,
        })
    }

    /// Paces turns to `frames_per_second`, sleeping between them. The rate must be from
    /// [`MIN_RATE`](Self::MIN_RATE) to [`MAX_RATE`](Self::MAX_RATE).
    ///
    /// ```
    /// let game_loop = frame::GameLoop::new(120.0)?.target_rate(60.0)?;
    /// assert!(frame::GameLoop::new(120.0)?.target_rate(0.0).is_err());
    /// # drop(game_loop);
    /// # Ok::<(), frame::FrameError>(())
    /// ```
    pub fn target_rate(mut self, frames_per_second: f64) -> Result<GameLoop, FrameError> {
        self.period = Some(period_of("the target frame rate", frames_per_second)?);
        Ok(self)
    }

    /// At most `steps` simulation steps per turn, 1 to
    /// [`MAX_STEPS_PER_TURN`](Self::MAX_STEPS_PER_TURN) (default 4); time beyond is dropped
    /// and counted in [`LoopSummary::dropped_steps`].
    ///
    /// ```
    /// let game_loop = frame::GameLoop::new(1000.0)?.max_steps_per_turn(1)?;
    /// assert!(frame::GameLoop::new(1000.0)?.max_steps_per_turn(0).is_err());
    /// # drop(game_loop);
    /// # Ok::<(), frame::FrameError>(())
    /// ```
    pub fn max_steps_per_turn(mut self, steps: u32) -> Result<GameLoop, FrameError> {
        if !(1..=GameLoop::MAX_STEPS_PER_TURN).contains(&steps) {
            return Err(FrameError::BadStepsPerTurn(steps));
        }
        self.max_steps = steps;
        Ok(self)
    }

    /// The simulation timestep.
    pub fn timestep(&self) -> Duration {
        self.timestep
    }

    /// Runs until `main` returns `Break` (or an error, or a frame fails: the error is returned),
    /// then waits for the frames in flight. `main` runs before each frame starts (see
    /// [`Turn`]); on `Break` or an error that frame does not start.
    pub fn run<F>(&self, frames: &mut Frames, mut main: F) -> Result<LoopSummary, FrameError>
    where
        F: FnMut(&mut Turn<'_>) -> Result<ControlFlow<()>, FrameError>,
    {
        let start = Instant::now();
        let mut summary = LoopSummary::default();
        let mut unspent = Duration::ZERO;
        let mut last = start;
        let mut deadline = start;
        'turns: loop {
            let now = Instant::now();
            unspent += now - last;
            last = now;
            // The first turn runs one step; then as many as real time calls for.
            let mut steps = 0;
            while (unspent >= self.timestep || summary.steps + u64::from(steps) == 0)
                && steps < self.max_steps
            {
                unspent = unspent.saturating_sub(self.timestep);
                steps += 1;
            }
            // Drop what is left beyond one step, in one division: after a long pause there may be
            // billions of steps to drop.
            if unspent >= self.timestep {
                let step = self.timestep.as_nanos();
                let left = unspent.as_nanos();
                summary.dropped_steps += u64::try_from(left / step).unwrap_or(u64::MAX);
                // Less than one step: fits in nanoseconds of a u64.
                unspent = Duration::from_nanos((left % step) as u64);
            }
            // Below one step now; `min` guards against rounding up to just above 1.
            let alpha = ((unspent.as_secs_f64() / self.timestep.as_secs_f64()) as f32).min(1.0);
            for step in 0..steps.max(1) {
                let outcome = self.one_frame(frames, &mut main, |setup| Turn {
                    turn: summary.turns,
                    step,
                    steps,
                    frames: summary.frames,
                    elapsed: now - start,
                    alpha,
                    setup,
                });
                match outcome {
                    Err(error) => {
                        // Leave nothing running: the caller may drop or inspect the frames.
                        let _ = frames.finish();
                        return Err(error);
                    }
                    Ok(ControlFlow::Break(())) => break 'turns,
                    Ok(ControlFlow::Continue(simulated)) => {
                        summary.frames += 1;
                        summary.steps += u64::from(simulated);
                    }
                }
            }
            summary.turns += 1;
            let system = frames.system();
            match self.period {
                Some(period) => {
                    deadline += period;
                    let now = Instant::now();
                    if now - deadline.min(now) > period {
                        // Far behind: do not try to catch up with a burst of turns.
                        deadline = now;
                    }
                    // Until the next turn is due, run the main-thread passes as they become
                    // ready (a present as soon as the frame's image is), sleeping in between.
                    if system.run_pinned_until(deadline).is_err() {
                        // Not a thread that takes pinned jobs: only sleep.
                        std::thread::sleep(deadline.saturating_duration_since(now));
                    }
                }
                None => {
                    let _ = system.run_pinned();
                }
            }
        }
        frames.finish()?;
        summary.elapsed = start.elapsed();
        Ok(summary)
    }

    /// Sets up one frame of a turn (`turn` makes the [`Turn`] around its setup), hands it to
    /// `main`, and starts it unless `main` said to stop; `Continue` says whether it simulated.
    fn one_frame<'f, F>(
        &self,
        frames: &'f mut Frames,
        main: &mut F,
        turn: impl FnOnce(FrameSetup<'f>) -> Turn<'f>,
    ) -> Result<ControlFlow<(), bool>, FrameError>
    where
        F: FnMut(&mut Turn<'_>) -> Result<ControlFlow<()>, FrameError>,
    {
        let mut turn = turn(frames.begin_frame()?);
        let (simulates, renders) = (turn.simulates(), turn.renders());
        turn.setup.simulate(simulates);
        turn.setup.render(renders);
        turn.setup.alpha(turn.alpha)?;
        if main(&mut turn)?.is_break() {
            return Ok(ControlFlow::Break(()));
        }
        let dt = if simulates {
            self.timestep
        } else {
            Duration::ZERO
        };
        turn.setup.start(dt)?;
        Ok(ControlFlow::Continue(simulates))
    }
}

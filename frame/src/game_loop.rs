//! A game loop: fixed simulation steps, frames paced to a target rate, sleeping in between.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::error::FrameError;
use crate::Frames;

/// Runs frames at a fixed simulation timestep, paced to a target frame rate.
///
/// Each turn of the loop calls the main thread's own work (events, window), starts as many
/// frames as the real time elapsed calls for (each one simulation step of `timestep`, at most
/// `max_steps` per turn so that a slow machine does not spiral), runs jobs pinned to the main
/// thread, and sleeps until the next turn is due. Sleeping really sleeps: the main thread burns
/// no CPU between turns (the workers run the frames in flight meanwhile).
///
/// ```
/// use std::ops::ControlFlow;
/// use std::sync::Arc;
/// use frame::{Frames, GameLoop, GraphBuilder};
///
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
/// let mut graph = GraphBuilder::new();
/// let ticks = graph.import("ticks", 0u32);
/// graph.pass("tick", ticks.write(), |ticks, _| *ticks += 1);
/// let mut frames = Frames::new(system, graph.compile()?)?;
///
/// let game_loop = GameLoop::new(240.0)?.target_rate(240.0)?;
/// let summary = game_loop.run(&mut frames, |turn| {
///     // Poll events here; stop after 20 turns.
///     if turn.turn >= 20 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
/// })?;
/// assert_eq!(*frames.resource(ticks)? as u64, summary.frames);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct GameLoop {
    timestep: Duration,
    period: Option<Duration>,
    max_steps: u32,
}

/// What the main thread's work sees each turn of a [`GameLoop`].
#[derive(Debug)]
pub struct Turn {
    /// Turns so far, from 0.
    pub turn: u64,
    /// Frames started so far.
    pub frames: u64,
    /// Real time since the loop started.
    pub elapsed: Duration,
    /// How far the simulation's unspent time is into the next step, from 0 to 1: for
    /// interpolating what is drawn between two simulation states.
    pub alpha: f64,
}

/// What a [`GameLoop`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoopSummary {
    /// Turns of the loop.
    pub turns: u64,
    /// Frames (simulation steps) started and completed.
    pub frames: u64,
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

    /// Runs until `main` returns `Break` (or a frame fails: its error is returned), then waits
    /// for the frames in flight. `main` is the main thread's own work for one turn.
    pub fn run<F>(&self, frames: &mut Frames, mut main: F) -> Result<LoopSummary, FrameError>
    where
        F: FnMut(&Turn) -> ControlFlow<()>,
    {
        let start = Instant::now();
        let mut summary = LoopSummary::default();
        let mut unspent = Duration::ZERO;
        let mut last = start;
        let mut deadline = start;
        loop {
            let now = Instant::now();
            unspent += now - last;
            last = now;
            let turn = Turn {
                turn: summary.turns,
                frames: summary.frames,
                elapsed: now - start,
                // What is left after this turn's steps, as a fraction of a step.
                alpha: (unspent.as_secs_f64() / self.timestep.as_secs_f64()).fract(),
            };
            if main(&turn).is_break() {
                break;
            }
            // The first turn runs one step; then as many as real time calls for.
            let mut steps = 0;
            while (unspent >= self.timestep || summary.frames == 0) && steps < self.max_steps {
                if let Err(error) = frames.run_frame(self.timestep) {
                    // Leave nothing running: the caller may drop or inspect the frames.
                    let _ = frames.finish();
                    return Err(error);
                }
                unspent = unspent.saturating_sub(self.timestep);
                summary.frames += 1;
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
            let _ = frames.system().run_pinned();
            summary.turns += 1;
            if let Some(period) = self.period {
                deadline += period;
                let now = Instant::now();
                if deadline > now {
                    std::thread::sleep(deadline - now);
                } else if now - deadline > period {
                    // Far behind: do not try to catch up with a burst of turns.
                    deadline = now;
                }
            }
        }
        frames.finish()?;
        summary.elapsed = start.elapsed();
        Ok(summary)
    }
}

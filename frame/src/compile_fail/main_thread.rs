//! What [`Frames`](crate::Frames) lends the main thread is given back before the next frame
//! starts: the passes of that frame may write it (or, for the newest completed frame's state,
//! reuse its copy).

/// A resource read between frames is still borrowed when the next frame starts.
///
/// ```compile_fail,E0499
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.scratch("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let value = frames.resource(x).unwrap();
/// frames.run_frame(Duration::from_millis(16)).unwrap();
/// assert_eq!(*value, 0);
/// ```
///
/// Compiles: a copy.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.scratch("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let value = *frames.resource(x).unwrap();
/// frames.run_frame(Duration::from_millis(16)).unwrap();
/// assert_eq!(value, 0);
/// ```
mod resource_across_frame {}

/// A resource changed between frames is still borrowed mutably when the next frame starts.
///
/// ```compile_fail,E0499
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let value = frames.resource_mut(x).unwrap();
/// frames.run_frame(Duration::from_millis(16)).unwrap();
/// *value = 5;
/// ```
///
/// Compiles: changed before the frame starts.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let value = frames.resource_mut(x).unwrap();
/// *value = 5;
/// frames.run_frame(Duration::from_millis(16)).unwrap();
/// assert_eq!(*frames.resource(x).unwrap(), 6);
/// ```
mod resource_mut_across_frame {}

/// A frame's per-frame input is still borrowed when the frame starts.
///
/// ```compile_fail,E0505
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.scratch("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let mut setup = frames.begin_frame().unwrap();
/// let input = setup.per_frame_mut(x).unwrap();
/// setup.start(Duration::from_millis(16)).unwrap();
/// *input = 5;
/// ```
///
/// Compiles: filled before the frame starts.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.scratch("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let mut setup = frames.begin_frame().unwrap();
/// let input = setup.per_frame_mut(x).unwrap();
/// *input = 5;
/// setup.start(Duration::from_millis(16)).unwrap();
/// assert_eq!(*frames.resource(x).unwrap(), 6);
/// ```
mod per_frame_input_across_start {}

/// The main thread's work in a [`GameLoop`](crate::GameLoop) reaches the frames the loop runs
/// only through its [`Turn`](crate::Turn): the loop holds the frames.
///
/// ```compile_fail,E0499
/// use std::ops::ControlFlow;
/// use std::sync::Arc;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let game_loop = frame::GameLoop::new(240.0).unwrap();
/// game_loop.run(&mut frames, |_| {
///     let _ = frames.resource(x);
///     Ok(ControlFlow::Break(()))
/// }).unwrap();
/// ```
///
/// Compiles: through the turn.
///
/// ```
/// use std::ops::ControlFlow;
/// use std::sync::Arc;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let game_loop = frame::GameLoop::new(240.0).unwrap();
/// game_loop.run(&mut frames, |turn| {
///     *turn.resource_mut(x)? = 10;
///     Ok(ControlFlow::Break(()))
/// }).unwrap();
/// assert_eq!(*frames.resource(x).unwrap(), 10);
/// ```
mod game_loop_reaches_frames {}

/// A frame's input filled through the [`Turn`](crate::Turn) stays in the closure: the frame
/// starts once it returns.
///
/// ```compile_fail,E0521
/// use std::ops::ControlFlow;
/// use std::sync::Arc;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let input = graph.scratch("input", 0u32);
/// graph.pass("use", input.read(), |_, _| {}).side_effect();
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let mut kept = None;
/// frame::GameLoop::new(240.0).unwrap().run(&mut frames, |turn| {
///     kept = Some(turn.per_frame_mut(input)?);
///     Ok(ControlFlow::Break(()))
/// }).unwrap();
/// ```
///
/// Compiles: a copy escapes.
///
/// ```
/// use std::ops::ControlFlow;
/// use std::sync::Arc;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let input = graph.scratch("input", 0u32);
/// graph.pass("use", input.read(), |_, _| {}).side_effect();
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let mut kept = None;
/// frame::GameLoop::new(240.0).unwrap().run(&mut frames, |turn| {
///     kept = Some(*turn.per_frame_mut(input)?);
///     Ok(ControlFlow::Break(()))
/// }).unwrap();
/// assert_eq!(kept, Some(0));
/// ```
mod turn_input_stays_in_the_closure {}

/// The newest completed frame's state, read without waiting, is given back before the next
/// frame starts (that frame may reuse its copy).
///
/// ```compile_fail,E0502
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.carried("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let shown = frames.last_completed(x).unwrap();
/// frames.run_frame(Duration::from_millis(16)).unwrap();
/// assert_eq!(*shown, 0);
/// ```
///
/// Compiles: a copy.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.carried("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let shown = *frames.last_completed(x).unwrap();
/// frames.run_frame(Duration::from_millis(16)).unwrap();
/// assert_eq!(shown, 0);
/// ```
mod last_completed_across_frame {}

/// The same through a [`FrameSetup`](crate::FrameSetup): given back before the frame starts.
///
/// ```compile_fail,E0505
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.carried("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let setup = frames.begin_frame().unwrap();
/// let shown = setup.last_completed(x).unwrap();
/// setup.start(Duration::from_millis(16)).unwrap();
/// assert_eq!(*shown, 0);
/// ```
///
/// Compiles: read before the start.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.carried("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let setup = frames.begin_frame().unwrap();
/// let shown = *setup.last_completed(x).unwrap();
/// setup.start(Duration::from_millis(16)).unwrap();
/// assert_eq!(shown, 0);
/// ```
mod setup_last_completed_across_start {}

//! What [`Frames`](crate::Frames) lends the main thread is given back before the next frame
//! starts: the passes of that frame may write it.

/// A resource read between frames is still borrowed when the next frame starts.
///
/// ```compile_fail,E0499
/// use std::sync::Arc;
/// use std::time::Duration;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap());
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.per_frame("x", 0u32);
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
/// let x = graph.per_frame("x", 0u32);
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
/// let x = graph.per_frame("x", 0u32);
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
/// let x = graph.per_frame("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// let mut frames = frame::Frames::new(system, graph.compile().unwrap()).unwrap();
/// let mut setup = frames.begin_frame().unwrap();
/// let input = setup.per_frame_mut(x).unwrap();
/// *input = 5;
/// setup.start(Duration::from_millis(16)).unwrap();
/// assert_eq!(*frames.resource(x).unwrap(), 6);
/// ```
mod per_frame_input_across_start {}

/// The main thread's work in a [`GameLoop`](crate::GameLoop) reaches the frames the loop runs.
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
///     ControlFlow::Break(())
/// }).unwrap();
/// ```
///
/// Compiles: read after the loop.
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
/// game_loop.run(&mut frames, |_| ControlFlow::Break(())).unwrap();
/// let _ = frames.resource(x);
/// ```
mod game_loop_reaches_frames {}

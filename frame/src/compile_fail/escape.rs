//! The `&T` / `&mut T` a pass gets lives for one run of the pass: the next pass that writes the
//! resource, or the next frame, may run as soon as the pass ends.

/// A pass body stores its `&mut T` into a `static`.
///
/// ```compile_fail,E0521
/// use std::sync::Mutex;
/// static LEAK: Mutex<Option<&'static mut u32>> = Mutex::new(None);
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.pass("leak", x.write(), |x, _| *LEAK.lock().unwrap() = Some(x));
/// ```
///
/// Compiles: a copy of the value.
///
/// ```
/// use std::sync::Mutex;
/// static KEPT: Mutex<Option<u32>> = Mutex::new(None);
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.pass("keep", x.write(), |x, _| *KEPT.lock().unwrap() = Some(*x));
/// ```
mod write_into_static {}

/// A pass body keeps its `&T` in the closure's own state, for the next frame's run.
///
/// ```compile_fail,E0521
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let mut kept: Vec<&u32> = Vec::new();
/// graph.pass("keep", x.read(), move |x, _| kept.push(x));
/// ```
///
/// Compiles: the closure keeps copies.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let mut kept: Vec<u32> = Vec::new();
/// graph.pass("keep", x.read(), move |x, _| kept.push(*x));
/// ```
mod read_into_closure_state {}

/// A step pass keeps its `&mut T` in its own state, which outlives the run.
///
/// ```compile_fail,E0521
/// use frame::{Pass, Write};
/// use jobs::{Action, Context};
/// type Keep = Pass<Option<&'static mut u32>, Write<u32>>;
/// fn keep(p: &mut Keep, _cx: &mut Context<'_>) -> Action<Keep> {
///     let (kept, x) = p.parts();
///     *kept = Some(x);
///     Action::Done
/// }
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.step_pass("keep", x.write(), None, keep);
/// ```
///
/// Compiles: the state keeps a copy.
///
/// ```
/// use frame::{Pass, Write};
/// use jobs::{Action, Context};
/// type Keep = Pass<Option<u32>, Write<u32>>;
/// fn keep(p: &mut Keep, _cx: &mut Context<'_>) -> Action<Keep> {
///     let (kept, x) = p.parts();
///     *kept = Some(*x);
///     Action::Done
/// }
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.step_pass("keep", x.write(), None, keep);
/// ```
mod step_pass_state_keeps_write {}

/// A pass body hands its `&T` to a detached job (`Context::spawn`), which nothing waits for.
///
/// ```compile_fail,E0521
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", vec![0u32; 4]);
/// graph.pass("detach", x.read(), |x, cx| {
///     cx.context().spawn_job(jobs::Job::from_fn(move |_| assert_eq!(x.len(), 4)));
/// });
/// ```
///
/// Compiles: a child of the pass (the pass ends when it has finished) may borrow it.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", vec![0u32; 4]);
/// graph.pass("child", x.read(), |x, cx| {
///     cx.spawn_job(jobs::Job::from_fn(move |_| assert_eq!(x.len(), 4)));
/// });
/// ```
mod read_into_detached_job {}

/// A child of a pass stores the pass's `&mut [T]` (a transient buffer, freed with the frame)
/// into a `static`.
///
/// ```compile_fail,E0521
/// use std::sync::Mutex;
/// static LEAK: Mutex<Option<&'static mut [f32]>> = Mutex::new(None);
/// let mut graph = frame::GraphBuilder::new();
/// let buf = graph.transient::<f32>("buf", 16);
/// graph.pass("leak", buf.write(), |buf, cx| {
///     cx.spawn(move |_| *LEAK.lock().unwrap() = Some(buf));
/// });
/// ```
///
/// Compiles: the child writes the buffer in place.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let buf = graph.transient::<f32>("buf", 16);
/// graph.pass("fill", buf.write(), |buf, cx| {
///     cx.spawn(move |_| buf.fill(1.0));
/// });
/// ```
mod transient_into_static_from_child {}

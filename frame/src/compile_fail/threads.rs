//! Passes run on the workers: resources, pass bodies and step-pass states are `Send`; what is
//! read is `Sync` (readers of one resource may run at once, in one frame or in frames in
//! flight, and children share it); a [`PassContext`](crate::PassContext) stays on its thread.

/// A resource that is not `Sync` (a `Cell`) declared as a read.
///
/// ```compile_fail,E0277
/// use std::cell::Cell;
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", Cell::new(0u32));
/// graph.pass("peek", x.read(), |x, _| assert_eq!(x.get(), 0));
/// ```
///
/// Compiles: declared as a write, which is exclusive (`Send` is enough).
///
/// ```
/// use std::cell::Cell;
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", Cell::new(0u32));
/// graph.pass("peek", x.write(), |x, _| assert_eq!(x.get(), 0));
/// ```
mod read_not_sync {}

/// The previous frame's copy of a resource that is not `Sync`, read.
///
/// ```compile_fail,E0277
/// use std::cell::Cell;
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.scratch("x", Cell::new(0u32));
/// graph.pass("peek", x.read_previous(), |x, _| assert_eq!(x.get(), 0));
/// ```
///
/// Compiles: an atomic.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.scratch("x", 0u32);
/// graph.pass("peek", x.read_previous(), |x, _| assert_eq!(*x, 0));
/// let y = graph.import("y", AtomicU32::new(0));
/// graph.pass("peek_y", y.read(), |y, _| assert_eq!(y.load(Ordering::Relaxed), 0));
/// ```
mod read_previous_not_sync {}

/// A pass body shares its write of a `Cell` between two children.
///
/// ```compile_fail,E0277
/// use std::cell::Cell;
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", Cell::new(0u32));
/// graph.pass("fan", x.write(), |x, cx| {
///     let x: &Cell<u32> = x;
///     cx.spawn(move |_| x.set(1));
///     cx.spawn(move |_| x.set(2));
/// });
/// ```
///
/// Compiles: one child takes it mutably.
///
/// ```
/// use std::cell::Cell;
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", Cell::new(0u32));
/// graph.pass("fan", x.write(), |x, cx| {
///     cx.spawn(move |_| x.set(1));
/// });
/// ```
mod children_share_not_sync {}

/// An `Rc` imported as a resource.
///
/// ```compile_fail,E0277
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", std::rc::Rc::new(0u32));
/// ```
///
/// Compiles: an `Arc`.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", std::sync::Arc::new(0u32));
/// ```
mod import_not_send {}

/// An `Rc` as a per-frame resource.
///
/// ```compile_fail,E0277
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.scratch("x", std::rc::Rc::new(0u32));
/// ```
///
/// Compiles: an `Arc`.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.scratch("x", std::sync::Arc::new(0u32));
/// ```
mod per_frame_not_send {}

/// A pass body captures an `Rc`.
///
/// ```compile_fail,E0277
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let shared = std::rc::Rc::new(1u32);
/// graph.pass("add", x.write(), move |x, _| *x += *shared);
/// ```
///
/// Compiles: an `Arc`.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let shared = std::sync::Arc::new(1u32);
/// graph.pass("add", x.write(), move |x, _| *x += *shared);
/// ```
mod body_not_send {}

/// A step pass whose state is an `Rc`.
///
/// ```compile_fail,E0277
/// use std::rc::Rc;
/// use frame::{Pass, Write};
/// use jobs::{Action, Context};
/// type Add = Pass<Rc<u32>, Write<u32>>;
/// fn add(p: &mut Add, _cx: &mut Context<'_>) -> Action<Add> {
///     let (step, x) = p.parts();
///     *x += **step;
///     Action::Done
/// }
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.step_pass("add", x.write(), Rc::new(1), add);
/// ```
///
/// Compiles: an `Arc`.
///
/// ```
/// use std::sync::Arc;
/// use frame::{Pass, Write};
/// use jobs::{Action, Context};
/// type Add = Pass<Arc<u32>, Write<u32>>;
/// fn add(p: &mut Add, _cx: &mut Context<'_>) -> Action<Add> {
///     let (step, x) = p.parts();
///     *x += **step;
///     Action::Done
/// }
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.step_pass("add", x.write(), Arc::new(1), add);
/// ```
mod step_pass_state_not_send {}

/// A pass body hands its [`PassContext`](crate::PassContext) to a job.
///
/// ```compile_fail,E0277
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", vec![0u32; 4]);
/// graph.pass("fan", x.read(), |x, cx| {
///     let inner = &mut *cx;
///     let job = jobs::Job::from_fn(move |_| { let _ = inner.frame(); });
/// });
/// ```
///
/// Compiles: the job gets what it needs from the context, read first.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", vec![0u32; 4]);
/// graph.pass("fan", x.read(), |x, cx| {
///     let frame = cx.frame();
///     let job = jobs::Job::from_fn(move |_| { let _ = frame; });
/// });
/// ```
mod pass_context_to_job {}

//! A handle ([`Res`](crate::Res), [`Buf`](crate::Buf)) is typed by the builder that made it,
//! and gives no access by itself: only declaring it on a pass does. Handles are `Copy`, `Send`
//! and `Sync` and may go anywhere; that is not a hole, since nothing reaches a resource through
//! one but a declaration or [`Frames`](crate::Frames) (with `&mut`, no frame in flight).

/// A body takes a resource as another type than it was declared with.
///
/// ```compile_fail,E0631
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0.5f32);
/// graph.pass("add", x.write(), |x: &mut u32, _| *x += 1);
/// ```
///
/// Compiles: its own type.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0.5f32);
/// graph.pass("add", x.write(), |x: &mut f32, _| *x += 1.0);
/// ```
mod handle_is_typed {}

/// A body reaches a resource it did not declare, through the handle it captured.
///
/// ```compile_fail,E0599
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let y = graph.import("y", 0u32);
/// graph.pass("add", x.write(), move |x, cx| *x += *cx.resource(y));
/// ```
///
/// Compiles: declared.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let y = graph.import("y", 0u32);
/// graph.pass("add", (x.write(), y.read()), move |(x, y), _| *x += *y);
/// ```
mod undeclared_handle_gives_no_access {}

/// A handle may go anywhere (`Send + Sync + Copy`, even for a resource that is not `Sync`).
///
/// ```
/// use std::cell::Cell;
/// fn anywhere<T: Send + Sync + Copy + 'static>(_: T) {}
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", Cell::new(0u32));
/// let buf = graph.transient::<f32>("buf", 16);
/// anywhere(x);
/// anywhere(buf);
/// ```
mod handles_go_anywhere {}

//! Pass bodies and step-pass states are `'static` (the graph keeps them between frames);
//! children of a pass borrow the resources and nothing of the body's own stack; a step of a
//! step pass is a `fn` pointer.

/// A pass body borrows a local of the code declaring the graph.
///
/// ```compile_fail,E0373
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let step = 1u32;
/// graph.pass("add", x.write(), |x, _| *x += step);
/// ```
///
/// Compiles: the body owns it.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let step = 1u32;
/// graph.pass("add", x.write(), move |x, _| *x += step);
/// ```
mod body_borrows_local {}

/// The same through a reference moved into the body.
///
/// ```compile_fail,E0597
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let step = vec![1u32];
/// let step = &step;
/// graph.pass("add", x.write(), move |x, _| *x += step[0]);
/// ```
///
/// Compiles: a `'static` reference.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let step: &'static [u32] = &[1];
/// graph.pass("add", x.write(), move |x, _| *x += step[0]);
/// ```
mod body_borrows_local_by_reference {}

/// A step pass whose state borrows a local.
///
/// ```compile_fail,E0597
/// use frame::{Pass, Write};
/// use jobs::{Action, Context};
/// type Add<'a> = Pass<&'a u32, Write<u32>>;
/// fn add<'a>(p: &mut Add<'a>, _cx: &mut Context<'_>) -> Action<Add<'a>> {
///     let (step, x) = p.parts();
///     *x += **step;
///     Action::Done
/// }
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let step = 1u32;
/// graph.step_pass("add", x.write(), &step, add);
/// ```
///
/// Compiles: a `'static` reference.
///
/// ```
/// use frame::{Pass, Write};
/// use jobs::{Action, Context};
/// type Add<'a> = Pass<&'a u32, Write<u32>>;
/// fn add<'a>(p: &mut Add<'a>, _cx: &mut Context<'_>) -> Action<Add<'a>> {
///     let (step, x) = p.parts();
///     *x += **step;
///     Action::Done
/// }
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// static STEP: u32 = 1;
/// graph.step_pass("add", x.write(), &STEP, add);
/// ```
mod step_pass_state_borrows_local {}

/// A child of a pass borrows a local of the body, which returns before the child runs.
///
/// ```compile_fail,E0373
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", vec![0u32; 4]);
/// graph.pass("fan", x.write(), |x, cx| {
///     let scale = 2;
///     for v in x.iter_mut() {
///         cx.spawn(|_| *v *= scale);
///     }
/// });
/// ```
///
/// Compiles: the child owns a copy.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", vec![0u32; 4]);
/// graph.pass("fan", x.write(), |x, cx| {
///     let scale = 2;
///     for v in x.iter_mut() {
///         cx.spawn(move |_| *v *= scale);
///     }
/// });
/// ```
mod child_borrows_body_local {}

/// The same through a reference moved into the child.
///
/// ```compile_fail,E0597
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", vec![0u32; 4]);
/// graph.pass("fan", x.write(), |x, cx| {
///     let scale = vec![2u32];
///     let scale = &scale;
///     for v in x.iter_mut() {
///         cx.spawn(move |_| *v *= scale[0]);
///     }
/// });
/// ```
///
/// Compiles: the scale comes from a resource, which lives for the pass.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", vec![0u32; 4]);
/// let s = graph.import("scale", vec![2u32]);
/// graph.pass("fan", (s.read(), x.write()), |(scale, x), cx| {
///     for v in x.iter_mut() {
///         cx.spawn(move |_| *v *= scale[0]);
///     }
/// });
/// ```
mod child_borrows_body_local_by_reference {}

/// A capturing closure as the entry step of a step pass.
///
/// ```compile_fail,E0308
/// use jobs::Action;
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let step = 1u32;
/// graph.step_pass("add", x.write(), (), |p, _| {
///     *p.resources() += step;
///     Action::Done
/// });
/// ```
///
/// Compiles: what the step needs is in the pass's state.
///
/// ```
/// use jobs::Action;
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// let step = 1u32;
/// graph.step_pass("add", x.write(), step, |p, _| {
///     let (step, x) = p.parts();
///     *x += *step;
///     Action::Done
/// });
/// ```
mod capturing_step {}

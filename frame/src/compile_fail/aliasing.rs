//! What a pass gets is exactly as exclusive as it declared: `&T` for a read, `&mut T` for a
//! write, reached once per run; children share it only as Rust's borrows allow.

/// A pass body mutates through a read.
///
/// ```compile_fail,E0594
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.pass("add", x.read(), |x, _| *x += 1);
/// ```
///
/// Compiles: declared as a write.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", 0u32);
/// graph.pass("add", x.write(), |x, _| *x += 1);
/// ```
mod mutate_through_read {}

/// A pass body mutates a transient buffer it only reads.
///
/// ```compile_fail,E0596
/// let mut graph = frame::GraphBuilder::new();
/// let buf = graph.transient::<f32>("buf", 16);
/// graph.pass("fill", buf.read(), |buf, _| buf.fill(1.0));
/// ```
///
/// Compiles: declared as a write.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let buf = graph.transient::<f32>("buf", 16);
/// graph.pass("fill", buf.write(), |buf, _| buf.fill(1.0));
/// ```
mod mutate_through_read_buf {}

/// A step reaches its write twice ([`Pass::resources`](crate::Pass::resources)).
///
/// ```compile_fail,E0499
/// use frame::{Pass, Write};
/// use jobs::{Action, Context};
/// type Twice = Pass<(), Write<u32>>;
/// fn twice(p: &mut Twice, _cx: &mut Context<'_>) -> Action<Twice> {
///     let a = p.resources();
///     let b = p.resources();
///     *a += 1;
///     *b += 1;
///     Action::Done
/// }
/// ```
///
/// Compiles: once.
///
/// ```
/// use frame::{Pass, Write};
/// use jobs::{Action, Context};
/// type Twice = Pass<(), Write<u32>>;
/// fn twice(p: &mut Twice, _cx: &mut Context<'_>) -> Action<Twice> {
///     let a = p.resources();
///     *a += 1;
///     *a += 1;
///     Action::Done
/// }
/// ```
mod step_reaches_write_twice {}

/// A step pass's spawn step gives its write to two children (by reaching it twice).
///
/// ```compile_fail,E0499
/// use frame::{Pass, Write};
/// use jobs::{Action, Context};
/// type Fill = Pass<(), Write<Vec<u64>>>;
/// fn fill(p: &mut Fill, _cx: &mut Context<'_>) -> Action<Fill> {
///     Action::Spawn(
///         |p, spawner| {
///             let data = p.resources();
///             let again = p.resources();
///             spawner.spawn(move |_| data[0] = 1);
///             spawner.spawn(move |_| again[0] = 2);
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: each child gets its own part.
///
/// ```
/// use frame::{Pass, Write};
/// use jobs::{Action, Context};
/// type Fill = Pass<(), Write<Vec<u64>>>;
/// fn fill(p: &mut Fill, _cx: &mut Context<'_>) -> Action<Fill> {
///     Action::Spawn(
///         |p, spawner| {
///             let (data, again) = p.resources().split_at_mut(1);
///             spawner.spawn(move |_| data[0] = 1);
///             spawner.spawn(move |_| again[0] = 2);
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod step_pass_children_share_write {}

/// A pass body gives its write to two children mutably.
///
/// ```compile_fail,E0499
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", vec![0u32; 4]);
/// graph.pass("fan", x.write(), |x, cx| {
///     let a = &mut *x;
///     let b = &mut *x;
///     cx.spawn(move |_| a[0] = 1);
///     cx.spawn(move |_| b[1] = 2);
/// });
/// ```
///
/// Compiles: disjoint chunks.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let x = graph.import("x", vec![0u32; 4]);
/// graph.pass("fan", x.write(), |x, cx| {
///     for (i, chunk) in x.chunks_mut(2).enumerate() {
///         cx.spawn(move |_| chunk[0] = i as u32);
///     }
/// });
/// ```
mod pass_children_share_write {}

//! Children of a job ([`Action::Spawn`](crate::Action::Spawn)) borrow the parent's capture for
//! `'c`, while the parent is suspended: nothing shorter-lived (a local of the spawn step), and
//! not for longer (a `static`, a detached job). Two children do not both borrow one part of the
//! capture mutably.

/// A child borrows a local of the spawn step, which returns before the child runs.
///
/// ```compile_fail,E0373
/// use jobs::{Action, Context};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let local = c.len();
///             spawner.spawn(|_| assert!(local > 0));
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: the child borrows the capture.
///
/// ```
/// use jobs::{Action, Context};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let c = &*c;
///             spawner.spawn(|_| assert!(c.len() > 0));
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod spawn_step_local {}

/// A child borrows data moved out of the capture into the spawn step (dropped when it returns).
///
/// ```compile_fail,E0597
/// use jobs::{Action, Context};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let local = std::mem::take(c);
///             let part = &local[..];
///             spawner.spawn(move |_| assert!(part.len() > 0));
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: the child borrows the data where it is, in the capture.
///
/// ```
/// use jobs::{Action, Context};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let part = &c[..];
///             spawner.spawn(move |_| assert!(part.len() > 0));
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod moved_out_of_capture {}

/// A child smuggles its borrow of the capture into a `static`, past the parent's end.
///
/// ```compile_fail,E0521
/// use std::sync::Mutex;
/// use jobs::{Action, Context};
/// static LEAK: Mutex<Option<&'static [u32]>> = Mutex::new(None);
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let part: &[u32] = &c[..];
///             spawner.spawn(move |_| *LEAK.lock().unwrap() = Some(part));
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: the child stores a copy.
///
/// ```
/// use std::sync::Mutex;
/// use jobs::{Action, Context};
/// static KEPT: Mutex<Option<Vec<u32>>> = Mutex::new(None);
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let part: &[u32] = &c[..];
///             spawner.spawn(move |_| *KEPT.lock().unwrap() = Some(part.to_vec()));
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod child_leaks_capture_to_static {}

/// A child hands its borrow of the capture to a detached job (`Context::spawn`), which may
/// outlive the parent.
///
/// ```compile_fail,E0521
/// use jobs::{Action, Context, Job};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let part: &[u32] = &c[..];
///             spawner.spawn(move |cx| {
///                 cx.spawn_job(Job::from_fn(move |_| assert!(part.len() > 0)))
///             });
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: the detached job gets a copy.
///
/// ```
/// use jobs::{Action, Context, Job};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let part: &[u32] = &c[..];
///             spawner.spawn(move |cx| {
///                 let part = part.to_vec();
///                 cx.spawn_job(Job::from_fn(move |_| assert!(part.len() > 0)))
///             });
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod child_detaches_borrow {}

/// A step hands a borrow of its own capture to a detached job, which may outlive the job.
///
/// ```compile_fail,E0521
/// use jobs::{Action, Context, Job};
/// fn step(c: &mut Vec<u32>, cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     let part: &[u32] = &c[..];
///     cx.spawn_job(Job::from_fn(move |_| assert!(part.len() > 0)));
///     Action::Done
/// }
/// ```
///
/// Compiles: the detached job gets a copy.
///
/// ```
/// use jobs::{Action, Context, Job};
/// fn step(c: &mut Vec<u32>, cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     let part = c.clone();
///     cx.spawn_job(Job::from_fn(move |_| assert!(part.len() > 0)));
///     Action::Done
/// }
/// ```
mod step_detaches_borrow {}

/// Two children borrow the whole capture mutably.
///
/// ```compile_fail,E0499
/// use jobs::{Action, Context};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let a = &mut *c;
///             let b = &mut *c;
///             spawner.spawn(move |_| a[0] = 1);
///             spawner.spawn(move |_| b[0] = 2);
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: each child gets its own half.
///
/// ```
/// use jobs::{Action, Context};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let (a, b) = c.split_at_mut(1);
///             spawner.spawn(move |_| a[0] = 1);
///             spawner.spawn(move |_| b[0] = 2);
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod two_children_mutably_borrow_capture {}

/// The body of `Spawner::parallel_for` mutates the capture: it runs on many threads at once.
///
/// ```compile_fail,E0596
/// use jobs::{Action, Context, Grain};
/// fn start(c: &mut Vec<usize>, _cx: &mut Context<'_>) -> Action<Vec<usize>> {
///     Action::Spawn(
///         |c, spawner| spawner.parallel_for(0..8, Grain::Auto, |i| c.push(i)),
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: the body only reads the capture.
///
/// ```
/// use jobs::{Action, Context, Grain};
/// fn start(c: &mut Vec<usize>, _cx: &mut Context<'_>) -> Action<Vec<usize>> {
///     Action::Spawn(
///         |c, spawner| spawner.parallel_for(0..8, Grain::Auto, |i| assert!(c.len() <= i + 100)),
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod parallel_for_child_mutates_capture {}

/// `Spawner::for_each_mut` over a local of the spawn step (dropped when it returns, before the
/// children run).
///
/// ```compile_fail,E0597
/// use jobs::{Action, Context, Grain};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let mut local = c.clone();
///             spawner.for_each_mut(&mut local, Grain::Auto, |_, v| *v += 1);
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// `Spawner::for_each_mut` twice over the same part of the capture at once.
///
/// ```compile_fail,E0499
/// use jobs::{Action, Context, Grain};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             spawner.for_each_mut(&mut c[..], Grain::Auto, |_, v| *v += 1);
///             spawner.for_each_mut(&mut c[..], Grain::Auto, |_, v| *v += 1);
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: disjoint halves of the capture.
///
/// ```
/// use jobs::{Action, Context, Grain};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let (a, b) = c.split_at_mut(1);
///             spawner.for_each_mut(a, Grain::Auto, |_, v| *v += 1);
///             spawner.for_each_mut(b, Grain::Auto, |_, v| *v += 1);
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod for_each_mut_borrows {}

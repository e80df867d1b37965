//! A [`Step`](crate::Step) and a [`SpawnStep`](crate::SpawnStep) are `fn` pointers: everything a
//! job keeps across its steps is in its capture, where `Job::new` checks it (`Send`, `'a`). A
//! closure that captures anything is not a `fn` pointer.

/// A capturing closure as the first step of [`Job::new`](crate::Job::new).
///
/// ```compile_fail,E0308
/// use jobs::{Action, Job};
/// let limit = 3u32;
/// let job = Job::new(0u32, |n, _cx| {
///     *n += 1;
///     if *n < limit { Action::Done } else { Action::Done }
/// });
/// ```
///
/// Compiles: the closure captures nothing (what it needs is in the capture).
///
/// ```
/// use jobs::{Action, Job};
/// let job = Job::new((0u32, 3u32), |(n, limit), _cx| {
///     *n += 1;
///     if *n < *limit { Action::Done } else { Action::Done }
/// });
/// # drop(job);
/// ```
mod capturing_step {}

/// A capturing closure as the step an [`Action::Yield`](crate::Action::Yield) continues with.
///
/// ```compile_fail,E0308
/// use jobs::{Action, Context};
/// fn start(n: &mut u32, _cx: &mut Context<'_>) -> Action<u32> {
///     let limit = 3;
///     Action::Yield(|n, _cx| if *n < limit { Action::Done } else { Action::Done })
/// }
/// ```
///
/// Compiles: the limit is a constant, not a capture.
///
/// ```
/// use jobs::{Action, Context};
/// fn start(n: &mut u32, _cx: &mut Context<'_>) -> Action<u32> {
///     const LIMIT: u32 = 3;
///     Action::Yield(|n, _cx| if *n < LIMIT { Action::Done } else { Action::Done })
/// }
/// ```
mod capturing_continuation {}

/// A capturing closure as the [`SpawnStep`](crate::SpawnStep) of an
/// [`Action::Spawn`](crate::Action::Spawn).
///
/// ```compile_fail,E0308
/// use jobs::{Action, Context};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     let extra = c.len() as u32;
///     Action::Spawn(
///         |c, spawner| spawner.spawn(move |_| c.push(extra)),
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: computed inside the spawn step, from the capture.
///
/// ```
/// use jobs::{Action, Context};
/// fn start(c: &mut Vec<u32>, _cx: &mut Context<'_>) -> Action<Vec<u32>> {
///     Action::Spawn(
///         |c, spawner| {
///             let extra = c.len() as u32;
///             spawner.spawn(move |_| c.push(extra))
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod capturing_spawn_step {}

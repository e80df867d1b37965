//! What a job captures goes to another thread: it is `Send`. What children share of their
//! parent's capture is `Sync`. A [`Context`](crate::Context) or a [`Spawner`](crate::Spawner)
//! stays on the thread running the step it was given to.

/// An `Rc` as the capture of [`Job::new`](crate::Job::new).
///
/// ```compile_fail,E0277
/// use jobs::{Action, Job};
/// let job = Job::new(std::rc::Rc::new(1u32), |_, _| Action::Done);
/// ```
///
/// Compiles: an `Arc`.
///
/// ```
/// use jobs::{Action, Job};
/// let job = Job::new(std::sync::Arc::new(1u32), |_, _| Action::Done);
/// # drop(job);
/// ```
mod rc_in_job_new {}

/// An `Rc` captured by the closure of [`Job::from_fn`](crate::Job::from_fn).
///
/// ```compile_fail,E0277
/// let shared = std::rc::Rc::new(1u32);
/// let job = jobs::Job::from_fn(move |_| assert_eq!(*shared, 1));
/// ```
///
/// Compiles: an `Arc`.
///
/// ```
/// let shared = std::sync::Arc::new(1u32);
/// let job = jobs::Job::from_fn(move |_| assert_eq!(*shared, 1));
/// # drop(job);
/// ```
mod rc_in_job_from_fn {}

/// A capture that is not `Send`, submitted.
///
/// ```compile_fail,E0277
/// use jobs::{Action, Job};
/// struct Capture(std::rc::Rc<u32>);
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.submit(Job::new(Capture(std::rc::Rc::new(1)), |_, _| Action::Done));
/// ```
///
/// Compiles: a `Send` capture.
///
/// ```
/// use jobs::{Action, Job};
/// struct Capture(std::sync::Arc<u32>);
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.submit(Job::new(Capture(std::sync::Arc::new(1)), |_, _| Action::Done));
/// ```
mod rc_submitted {}

/// An `Rc` captured by a scope job.
///
/// ```compile_fail,E0277
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let shared = std::rc::Rc::new(1u32);
/// system.scope(|s| s.spawn(move |_| assert_eq!(*shared, 1)));
/// ```
///
/// Compiles: an `Arc`.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let shared = std::sync::Arc::new(1u32);
/// system.scope(|s| s.spawn(move |_| assert_eq!(*shared, 1)));
/// ```
mod rc_in_scope_job {}

/// A `Cell` borrowed by a scope job (`&Cell` is not `Send`: `Cell` is not `Sync`).
///
/// ```compile_fail,E0277
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let hits = std::cell::Cell::new(0);
/// system.scope(|s| s.spawn(|_| hits.set(hits.get() + 1)));
/// ```
///
/// Compiles: an atomic.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let hits = AtomicU32::new(0);
/// system.scope(|s| s.spawn(|_| { hits.fetch_add(1, Ordering::Relaxed); }));
/// assert_eq!(hits.into_inner(), 1);
/// ```
mod cell_in_scope_job {}

/// An `Rc` captured by a child ([`Spawner::spawn`](crate::Spawner::spawn)).
///
/// ```compile_fail,E0277
/// use jobs::{Action, Context};
/// fn start(c: &mut u32, _cx: &mut Context<'_>) -> Action<u32> {
///     Action::Spawn(
///         |c, spawner| {
///             let shared = std::rc::Rc::new(*c);
///             spawner.spawn(move |_| assert_eq!(*shared, 1));
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: an `Arc`.
///
/// ```
/// use jobs::{Action, Context};
/// fn start(c: &mut u32, _cx: &mut Context<'_>) -> Action<u32> {
///     Action::Spawn(
///         |c, spawner| {
///             let shared = std::sync::Arc::new(*c);
///             spawner.spawn(move |_| assert_eq!(*shared, 1));
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod rc_in_child {}

/// Two children share a parent capture that is `Send` but not `Sync`.
///
/// ```compile_fail,E0277
/// use std::cell::Cell;
/// use jobs::{Action, Context};
/// struct Hits { hits: Cell<u32> }
/// fn start(h: &mut Hits, _cx: &mut Context<'_>) -> Action<Hits> {
///     Action::Spawn(
///         |h, spawner| {
///             let h: &Hits = h;
///             spawner.spawn(move |_| h.hits.set(h.hits.get() + 1));
///             spawner.spawn(move |_| h.hits.set(h.hits.get() + 1));
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: a `Sync` capture.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use jobs::{Action, Context};
/// struct Hits { hits: AtomicU32 }
/// fn start(h: &mut Hits, _cx: &mut Context<'_>) -> Action<Hits> {
///     Action::Spawn(
///         |h, spawner| {
///             let h: &Hits = h;
///             spawner.spawn(move |_| { h.hits.fetch_add(1, Ordering::Relaxed); });
///             spawner.spawn(move |_| { h.hits.fetch_add(1, Ordering::Relaxed); });
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod children_share_capture_not_sync {}

/// A child takes the parent's [`Context`](crate::Context) (from `Spawner::context`).
///
/// ```compile_fail,E0277
/// use jobs::{Action, Context};
/// fn start(c: &mut u32, _cx: &mut Context<'_>) -> Action<u32> {
///     Action::Spawn(
///         |c, spawner| {
///             let cx = spawner.context();
///             spawner.spawn(move |_| { let _ = cx.worker_index(); });
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: what the child needs is read from the context first.
///
/// ```
/// use jobs::{Action, Context};
/// fn start(c: &mut u32, _cx: &mut Context<'_>) -> Action<u32> {
///     Action::Spawn(
///         |c, spawner| {
///             let parent_worker = spawner.context().worker_index();
///             spawner.spawn(move |_| { let _ = parent_worker; });
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod context_in_child {}

/// A scope job hands its own `&mut Context` to another job.
///
/// ```compile_fail,E0277
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.scope(|s| {
///     s.spawn(|cx| {
///         s.spawn(move |_| { let _ = cx.worker_index(); });
///     });
/// });
/// ```
///
/// Compiles: each job uses its own context.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.scope(|s| {
///     s.spawn(|cx| {
///         let _ = cx.worker_index();
///         s.spawn(move |cx| { let _ = cx.worker_index(); });
///     });
/// });
/// ```
mod context_in_other_job {}

/// A job takes the [`Spawner`](crate::Spawner) it was not given.
///
/// ```compile_fail,E0277
/// use jobs::{Action, Context};
/// fn start(c: &mut u32, _cx: &mut Context<'_>) -> Action<u32> {
///     Action::Spawn(
///         |c, spawner| {
///             let sp = &mut *spawner;
///             let job = jobs::Job::from_fn(move |_| sp.spawn(|_| {}));
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
///
/// Compiles: the spawner used in the spawn step.
///
/// ```
/// use jobs::{Action, Context};
/// fn start(c: &mut u32, _cx: &mut Context<'_>) -> Action<u32> {
///     Action::Spawn(
///         |c, spawner| {
///             let sp = &mut *spawner;
///             sp.spawn(|_| {});
///         },
///         |_, _| Action::Done,
///     )
/// }
/// ```
mod spawner_in_job {}

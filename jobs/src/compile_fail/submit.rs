//! Detached and counted jobs ([`JobSystem::submit`](crate::JobSystem::submit),
//! `submit_counted`, `submit_batch`, `submit_for`) are `'static`: nothing waits for them
//! before the caller's locals are dropped.

/// A submitted job borrows a local.
///
/// ```compile_fail,E0373
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let local = vec![1, 2, 3];
/// system.submit(jobs::Job::from_fn(|_| assert_eq!(local.len(), 3)));
/// ```
///
/// Compiles: the job owns it.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let local = vec![1, 2, 3];
/// system.submit(jobs::Job::from_fn(move |_| assert_eq!(local.len(), 3)));
/// ```
mod submit_borrows_local {}

/// The same through a reference moved into the job.
///
/// ```compile_fail,E0597
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let local = vec![1, 2, 3];
/// let r = &local;
/// system.submit(jobs::Job::from_fn(move |_| assert_eq!(r.len(), 3)));
/// ```
///
/// Compiles: a `'static` reference.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let r: &'static [u32] = &[1, 2, 3];
/// system.submit(jobs::Job::from_fn(move |_| assert_eq!(r.len(), 3)));
/// ```
mod submit_borrows_local_by_reference {}

/// A counted job whose capture is a reference to a local, even though the caller waits.
///
/// ```compile_fail,E0597
/// use jobs::{Action, Job};
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let done = system.counter();
/// let local = vec![1u32, 2, 3];
/// system.submit_counted(&done, Job::new(&local, |_, _| Action::Done));
/// system.wait(&done).unwrap();
/// ```
///
/// Compiles: a `'static` reference (or a scope, for borrowing locals).
///
/// ```
/// use jobs::{Action, Job};
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let done = system.counter();
/// let local: &'static [u32] = &[1, 2, 3];
/// system.submit_counted(&done, Job::new(local, |_, _| Action::Done));
/// system.wait(&done).unwrap();
/// ```
mod submit_counted_borrows_local {}

/// A batch of jobs borrowing a local.
///
/// ```compile_fail,E0597
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let done = system.counter();
/// let local = vec![1u32, 2, 3];
/// system.submit_batch(&done, (0..3).map(|i| {
///     let r = &local;
///     jobs::Job::from_fn(move |_| assert!(r[i] > 0))
/// }));
/// system.wait(&done).unwrap();
/// ```
///
/// Compiles: the jobs share it through an `Arc`.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let done = system.counter();
/// let local = std::sync::Arc::new(vec![1u32, 2, 3]);
/// system.submit_batch(&done, (0..3).map(|i| {
///     let r = local.clone();
///     jobs::Job::from_fn(move |_| assert!(r[i] > 0))
/// }));
/// system.wait(&done).unwrap();
/// ```
mod submit_batch_borrows_local {}

/// An indexed batch (`submit_for`) whose body borrows a local.
///
/// ```compile_fail,E0373
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let done = system.counter();
/// let local = vec![1u32, 2, 3];
/// system.submit_for(&done, 0..3, jobs::Batch::from(jobs::Grain::Auto).priority(jobs::Priority::Normal), |i| {
///     assert!(local[i] > 0)
/// });
/// system.wait(&done).unwrap();
/// ```
///
/// Compiles: the body owns it (or `parallel_for`, which waits, for borrowing).
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let done = system.counter();
/// let local = vec![1u32, 2, 3];
/// system.submit_for(&done, 0..3, jobs::Batch::from(jobs::Grain::Auto).priority(jobs::Priority::Normal), move |i| {
///     assert!(local[i] > 0)
/// });
/// system.wait(&done).unwrap();
/// ```
mod submit_for_borrows_local {}

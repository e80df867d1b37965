//! A job of [`JobSystem::scope`](crate::JobSystem::scope) borrows only what outlives the scope.

/// A job borrows a local declared inside the scope's closure: the local is dropped before the
/// scope waits for the job.
///
/// ```compile_fail,E0373
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.scope(|s| {
///     let local = vec![1, 2, 3];
///     s.spawn(|_| assert_eq!(local.len(), 3));
/// });
/// ```
///
/// Compiles: the local is declared outside the scope.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let local = vec![1, 2, 3];
/// system.scope(|s| {
///     s.spawn(|_| assert_eq!(local.len(), 3));
/// });
/// ```
mod inner_local {}

/// The same through a reference moved into the job.
///
/// ```compile_fail,E0597
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.scope(|s| {
///     let local = vec![1, 2, 3];
///     let r = &local;
///     s.spawn(move |_| assert_eq!(r.len(), 3));
/// });
/// ```
///
/// Compiles: the local is declared outside the scope.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let local = vec![1, 2, 3];
/// system.scope(|s| {
///     let r = &local;
///     s.spawn(move |_| assert_eq!(r.len(), 3));
/// });
/// ```
mod inner_local_by_reference {}

/// A job spawned as a [`Job`](crate::Job) with `Scope::spawn_job` borrows a local of the
/// scope's closure.
///
/// ```compile_fail,E0373
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.scope(|s| {
///     let local = vec![1, 2, 3];
///     s.spawn_job(jobs::Job::from_fn(|_| assert_eq!(local.len(), 3)));
/// });
/// ```
///
/// Compiles: the local is declared outside the scope.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let local = vec![1, 2, 3];
/// system.scope(|s| {
///     s.spawn_job(jobs::Job::from_fn(|_| assert_eq!(local.len(), 3)));
/// });
/// ```
mod spawn_job_inner_local {}

/// A job spawned from a scope job borrows a local of the outer job, which ends first.
///
/// ```compile_fail,E0373
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.scope(|s| {
///     s.spawn(|_| {
///         let local = vec![1, 2, 3];
///         s.spawn(|_| assert_eq!(local.len(), 3));
///     });
/// });
/// ```
///
/// Compiles: a job spawned from a scope job may borrow what outlives the scope.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let local = vec![1, 2, 3];
/// system.scope(|s| {
///     s.spawn(|_| {
///         s.spawn(|_| assert_eq!(local.len(), 3));
///     });
/// });
/// ```
mod nested_job_local {}

/// A borrowed local is dropped while the scope's jobs may still use it.
///
/// ```compile_fail,E0505
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let local = vec![1, 2, 3];
/// system.scope(|s| {
///     let r = &local;
///     s.spawn(move |_| assert_eq!(r.len(), 3));
///     drop(local);
/// });
/// ```
///
/// Compiles: dropped after the scope.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let local = vec![1, 2, 3];
/// system.scope(|s| {
///     let r = &local;
///     s.spawn(move |_| assert_eq!(r.len(), 3));
/// });
/// drop(local);
/// ```
mod dropped_while_borrowed {}

/// A borrowed local is overwritten (its old value dropped) while a job reads it.
///
/// ```compile_fail,E0506
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut local = Some(vec![1, 2, 3]);
/// system.scope(|s| {
///     let r = local.as_ref().unwrap();
///     s.spawn(move |_| assert_eq!(r.len(), 3));
///     local = None;
/// });
/// ```
///
/// Compiles: overwritten after the scope.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut local = Some(vec![1, 2, 3]);
/// system.scope(|s| {
///     let r = local.as_ref().unwrap();
///     s.spawn(move |_| assert_eq!(r.len(), 3));
/// });
/// local = None;
/// # drop(local);
/// ```
mod overwritten_while_borrowed {}

/// The job system is dropped inside its own scope.
///
/// ```compile_fail,E0505
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.scope(|s| {
///     s.spawn(|_| {});
///     drop(system);
/// });
/// ```
///
/// Compiles: dropped after the scope.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.scope(|s| {
///     s.spawn(|_| {});
/// });
/// drop(system);
/// ```
mod system_dropped_in_scope {}

/// The scope handle escapes its closure (to spawn jobs after the scope has waited).
///
/// ```compile_fail,E0521
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut leaked = None;
/// system.scope(|s| leaked = Some(s));
/// ```
///
/// Compiles: the handle used inside the closure.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut spawned = 0;
/// system.scope(|s| {
///     s.spawn(|_| {});
///     spawned += 1;
/// });
/// assert_eq!(spawned, 1);
/// ```
mod handle_escapes {}

/// The scope handle is returned from the closure. Rustc reports this one without an error code
/// ("lifetime may not live long enough"), so the case is a plain `compile_fail`; the program
/// beside it is the guard.
///
/// ```compile_fail
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let s = system.scope(|s| s);
/// ```
///
/// Compiles: a value returned from the scope.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let n = system.scope(|s| {
///     s.spawn(|_| {});
///     1
/// });
/// assert_eq!(n, 1);
/// ```
mod handle_returned {}

/// Two jobs borrow one local mutably.
///
/// ```compile_fail,E0499
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut total = 0;
/// system.scope(|s| {
///     s.spawn(|_| total += 1);
///     s.spawn(|_| total += 2);
/// });
/// ```
///
/// Compiles: two jobs, each with its own part.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut totals = [0; 2];
/// let [a, b] = &mut totals;
/// system.scope(|s| {
///     s.spawn(|_| *a += 1);
///     s.spawn(|_| *b += 2);
/// });
/// assert_eq!(totals, [1, 2]);
/// ```
mod two_jobs_mutably_borrow_one_local {}

/// The caller reads a local that a job of the scope is writing.
///
/// ```compile_fail,E0502
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut total = 0;
/// system.scope(|s| {
///     s.spawn(|_| total += 1);
///     println!("{total}");
/// });
/// ```
///
/// Compiles: read after the scope.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut total = 0;
/// system.scope(|s| {
///     s.spawn(|_| total += 1);
/// });
/// assert_eq!(total, 1);
/// ```
mod caller_reads_while_job_writes {}

/// A scope's batch over a local of the scope closure (dropped before the scope ends).
///
/// ```compile_fail,E0597
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// system.scope(|s| {
///     let mut local = vec![0u32; 8];
///     s.for_each_mut(&mut local, jobs::Grain::Auto, |_, v| *v += 1);
/// });
/// ```
///
/// Two batches over the same slice at once.
///
/// ```compile_fail,E0499
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut items = vec![0u32; 8];
/// system.scope(|s| {
///     s.for_each_mut(&mut items, jobs::Grain::Auto, |_, v| *v += 1);
///     s.for_each_mut(&mut items, jobs::Grain::Auto, |_, v| *v += 1);
/// });
/// ```
///
/// The caller reads items a batch of the scope is writing.
///
/// ```compile_fail,E0502
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut items = vec![0u32; 8];
/// system.scope(|s| {
///     s.for_each_mut(&mut items, jobs::Grain::Auto, |_, v| *v += 1);
///     println!("{}", items[0]);
/// });
/// ```
///
/// Compiles: disjoint halves, read after the scope.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut items = vec![0u32; 8];
/// let (a, b) = items.split_at_mut(4);
/// system.scope(|s| {
///     s.for_each_mut(a, jobs::Grain::Auto, |_, v| *v += 1);
///     s.for_each_mut(b, jobs::Grain::Auto, |_, v| *v += 2);
/// });
/// assert_eq!(items.iter().sum::<u32>(), 12);
/// ```
mod scope_batches_borrow {}

//! The bodies of [`JobSystem::parallel_for`](crate::JobSystem::parallel_for) and
//! [`JobSystem::for_each_mut`](crate::JobSystem::for_each_mut) run on many threads at once:
//! they are `Fn + Sync`, so they mutate nothing they capture except through synchronization.
//! The items of `for_each_mut` are `Send` and borrowed by nobody else while it runs.

/// The body of `for_each_mut` reads the slice that it is mutating.
///
/// ```compile_fail,E0502
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut v = vec![0u32; 8];
/// system.for_each_mut(&mut v, jobs::Grain::Auto, |i, x| *x = v[i] + 1).unwrap();
/// ```
///
/// Compiles: the body reads another slice.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut v = vec![0u32; 8];
/// let w = vec![1u32; 8];
/// system.for_each_mut(&mut v, jobs::Grain::Auto, |i, x| *x = w[i] + 1).unwrap();
/// assert_eq!(v, [2; 8]);
/// ```
mod for_each_mut_reads_its_items {}

/// The body of `for_each_mut` holds a second `&mut` to the same slice.
///
/// ```compile_fail,E0499
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut v = vec![0u32; 8];
/// let other = &mut v;
/// system.for_each_mut(&mut v, jobs::Grain::Auto, |i, x| *x = other[i]).unwrap();
/// ```
///
/// Compiles: the second `&mut` is to another slice.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut v = vec![0u32; 8];
/// let mut w = vec![1u32; 8];
/// let other = &mut w;
/// system.for_each_mut(&mut v, jobs::Grain::Auto, |i, x| *x = other[i]).unwrap();
/// assert_eq!(v, [1; 8]);
/// ```
mod for_each_mut_aliases_its_items {}

/// The body of `for_each_mut` counts into a captured local.
///
/// ```compile_fail,E0594
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut v = vec![0u32; 8];
/// let mut visited = 0;
/// system.for_each_mut(&mut v, jobs::Grain::Auto, |_, _| visited += 1).unwrap();
/// ```
///
/// Compiles: an atomic.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut v = vec![0u32; 8];
/// let visited = AtomicUsize::new(0);
/// system.for_each_mut(&mut v, jobs::Grain::Auto, |_, _| {
///     visited.fetch_add(1, Ordering::Relaxed);
/// }).unwrap();
/// assert_eq!(visited.into_inner(), 8);
/// ```
mod for_each_mut_body_mutates_capture {}

/// Items that are not `Send`, handed to other threads by `for_each_mut`.
///
/// ```compile_fail,E0277
/// use std::rc::Rc;
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut v: Vec<Rc<u32>> = (0..8).map(Rc::new).collect();
/// system.for_each_mut(&mut v, jobs::Grain::Auto, |_, x| *x = Rc::new(1)).unwrap();
/// ```
///
/// Compiles: `Send` items.
///
/// ```
/// use std::sync::Arc;
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut v: Vec<Arc<u32>> = (0..8).map(Arc::new).collect();
/// system.for_each_mut(&mut v, jobs::Grain::Auto, |_, x| *x = Arc::new(1)).unwrap();
/// ```
mod for_each_mut_items_not_send {}

/// The body of `parallel_for` sums into a captured local.
///
/// ```compile_fail,E0594
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let mut sum = 0;
/// system.parallel_for(0..8, jobs::Grain::Auto, |i| sum += i).unwrap();
/// ```
///
/// Compiles: an atomic.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let sum = AtomicUsize::new(0);
/// system.parallel_for(0..8, jobs::Grain::Auto, |i| { sum.fetch_add(i, Ordering::Relaxed); }).unwrap();
/// assert_eq!(sum.into_inner(), 28);
/// ```
mod parallel_for_body_mutates_capture {}

/// The body of `parallel_for` shares a `Cell` between threads.
///
/// ```compile_fail,E0277
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let sum = std::cell::Cell::new(0);
/// system.parallel_for(0..8, jobs::Grain::Auto, |i| sum.set(sum.get() + i)).unwrap();
/// ```
///
/// Compiles: an atomic.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(1)).unwrap();
/// let sum = AtomicUsize::new(0);
/// system.parallel_for(0..8, jobs::Grain::Auto, |i| { sum.fetch_add(i, Ordering::Relaxed); }).unwrap();
/// ```
mod parallel_for_body_not_sync {}

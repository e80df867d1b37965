//! Compile-fail doctests pinning every borrow promise of the public API, in the manner of
//! rayon-core's `compile_fail` suite. Only built for `cargo test --doc` (`cfg(doctest)`), so
//! none of it is in the documentation or the library.
//!
//! Each case is an empty module whose doc comment holds a ```` ```compile_fail,E0xxx ```` doctest
//! with the exact error code rustc gives for the broken promise, then the nearest program that
//! does compile, so that a case cannot pass for an unrelated reason (a typo, a missing import,
//! an API renamed).
//!
//! Rustdoc checks the error codes only on a nightly toolchain: on stable a case only has to
//! fail to compile, and the program beside it is the guard. To check the codes too:
//! `cargo +nightly test -p jobs --doc compile_fail` (or `RUSTC_BOOTSTRAP=1` on stable).
//!
//! The promises, one file each:
//! - [`scope`]: a job of [`JobSystem::scope`](crate::JobSystem::scope) borrows only what
//!   outlives the scope; the scope handle does not escape; two jobs do not both borrow one local
//!   mutably; the caller does not touch what a job borrows mutably until the scope ends.
//! - [`steps`]: a [`Step`](crate::Step) or [`SpawnStep`](crate::SpawnStep) is a `fn` pointer:
//!   a closure that captures anything is not one.
//! - [`send`]: what a job captures is `Send` ([`Job::new`](crate::Job::new),
//!   [`Job::from_fn`](crate::Job::from_fn), `Scope::spawn`, `Spawner::spawn`,
//!   `JobSystem::submit`); what children share of their parent's capture is `Sync`; a
//!   [`Context`](crate::Context) or [`Spawner`](crate::Spawner) stays on its thread.
//! - [`children`]: children ([`Action::Spawn`](crate::Action::Spawn)) borrow the parent's capture
//!   and nothing shorter-lived, and do not smuggle it anywhere longer-lived (a `static`, a
//!   detached job); two children do not both borrow one part of it mutably.
//! - [`submit`]: a detached or counted job ([`JobSystem::submit`](crate::JobSystem::submit),
//!   `submit_counted`, `submit_batch`, `submit_for`, `Context::spawn`) is `'static`.
//! - [`parallel`]: the bodies of `parallel_for` and `for_each_mut` are shared between threads
//!   (`Fn + Sync`), and the items of `for_each_mut` are borrowed by nobody else meanwhile.
//! - [`join`]: [`Context::join`](crate::Context::join)'s second half (which may run on another
//!   thread) captures and returns only `Send` data; the halves do not both borrow one local
//!   mutably, and do not pass a borrow of the caller's stack to a detached job.
//!
//! Not pinned, because the API makes no such promise: a [`Block`](crate::Block) is `Send`,
//! `Sync` and `'static` on purpose (it keeps its memory alive, so releasing its tag early is
//! never a use-after-free), and [`Counter`](crate::Counter) is a shared handle; both may go
//! anywhere. The example below checks that this stays so.
//!
//! ```
//! use jobs::{Job, JobSystem, Tag};
//! fn assert_send_sync_static<T: Send + Sync + 'static>(_: &T) {}
//! let system = JobSystem::new(jobs::Config::default().workers(1)).unwrap();
//! let block = system.heap().allocate_bytes(Tag(3), 64, 16).unwrap();
//! assert_send_sync_static(&block);
//! assert_send_sync_static(&system.counter());
//! system.heap().release(Tag(3)); // the block keeps its memory until dropped
//! let done = system.counter();
//! system.submit_counted(&done, Job::from_fn(move |_| assert_eq!(block.len(), 64)));
//! system.wait(&done).unwrap();
//! ```

mod children;
mod join;
mod parallel;
mod scope;
mod send;
mod steps;
mod submit;

//! A game-engine job system in the Naughty Dog manner, without fibers.
//!
//! A fixed set of worker threads, one per core and pinned, pulls jobs from High, Normal and Low
//! priority queues. Jobs are counted by atomic [`Counter`]s that frames key their work to. A job
//! that must wait never blocks its thread: a job is an owned capture plus a [`Step`] that
//! returns an [`Action`], what happens next; suspension is a continuation, not a context switch.
//!
//! | the job says | the executor | then |
//! |---|---|---|
//! | [`Action::Done`] | drops the capture, counts the job finished | |
//! | [`Action::Spawn`] | creates children that may borrow the capture | continues when all finished |
//! | [`Action::Wait`] | parks the job on the counter | continues when it reaches zero |
//! | [`Action::WaitSettled`] | parks the job on the counter | continues when it reaches zero, even after a panic |
//! | [`Action::Yield`] | requeues the job behind others | continues later |
//! | [`Action::Memory`] | allocates from the [`TaggedHeap`] | continues with the [`Block`] |
//! | [`Action::Blocking`] | hands the job to an I/O thread to block there | continues on a worker |
//!
//! ## The seed's chain, complete
//! Spawn subtasks, continue after them, request memory, continue, done:
//!
//! ```
//! use jobs::{Action, Block, Context, Counter, Job, JobSystem, MemoryError, Tag};
//!
//! /// Everything the job owns across its steps.
//! struct Frame {
//!     positions: Vec<f32>,
//!     sums: [f32; 4],
//!     scratch: Option<Block>,
//! }
//!
//! // Step 1: split the work into four children that borrow parts of the capture.
//! fn simulate(f: &mut Frame, _cx: &mut Context<'_>) -> Action<Frame> {
//!     Action::Spawn(
//!         |f, spawner| {
//!             let quarter = f.positions.len() / 4;
//!             for (part, sum) in f.positions.chunks_mut(quarter).zip(f.sums.iter_mut()) {
//!                 spawner.spawn(move |_| {
//!                     for p in part.iter_mut() { *p += 1.0; }
//!                     *sum = part.iter().sum();
//!                 });
//!             }
//!         },
//!         after_children,
//!     )
//! }
//!
//! // Step 2: every child has finished and its writes are visible. Ask for frame memory.
//! fn after_children(f: &mut Frame, _cx: &mut Context<'_>) -> Action<Frame> {
//!     assert_eq!(f.sums.iter().sum::<f32>(), 128.0); // 64 positions, each 1.0 + 1.0
//!     Action::memory(Tag(1), 64 * 4, with_memory)
//! }
//!
//! // Step 3: continue with the memory; then done.
//! fn with_memory(f: &mut Frame, _cx: &mut Context<'_>, memory: Result<Block, MemoryError>) -> Action<Frame> {
//!     let mut block = match memory {
//!         Ok(block) => block,
//!         Err(_) => return Action::Done,
//!     };
//!     block.cast_slice_mut::<f32>().copy_from_slice(&f.positions);
//!     f.scratch = Some(block);
//!     Action::Done
//! }
//!
//! let system = JobSystem::new(jobs::Config::default().workers(2))?;
//! let frame_done = Counter::new();
//! let frame = Frame { positions: vec![1.0; 64], sums: [0.0; 4], scratch: None };
//! system.submit_counted(&frame_done, Job::new(frame, simulate));
//! system.wait(&frame_done)?;       // the main thread runs jobs while it waits
//! system.heap().release(Tag(1));   // the frame's memory, all at once
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Everyday use
//! The conveniences are built on the same model, with one verb per shape wherever a job can
//! start others:
//!
//! | | a closure | a [`Job`] (capture + steps) | counted |
//! |---|---|---|---|
//! | [`JobSystem`] (from outside) | | [`submit`](JobSystem::submit) | [`submit_counted`](JobSystem::submit_counted), [`submit_batch`](JobSystem::submit_batch) |
//! | [`Scope`] (borrows the stack) | [`spawn`](Scope::spawn) | [`spawn_job`](Scope::spawn_job) | (the scope) |
//! | [`Spawner`] (children, borrow the capture) | [`spawn`](Spawner::spawn) | [`spawn_job`](Spawner::spawn_job) | (the parent) |
//! | [`Context`] (detached) | [`spawn`](Context::spawn) | [`spawn_job`](Context::spawn_job) | [`spawn_counted`](Context::spawn_counted), [`spawn_job_counted`](Context::spawn_job_counted) |
//!
//! Recursive splits inside a job (a tree, a sort, a spatial partition) fork with
//! [`Context::join`], on the job's stack: no heap job, no suspension, as cheap as rayon's `join`.
//!
//! Batches are described by a [`Batch`] (a [`Grain`] and a priority): see its table of entry
//! points. Threads other than the workers: [`JobSystem::register_thread`] (jobs
//! [pinned](Job::pinned_to) to a render or audio thread), [`JobSystem::run_pinned_until`] (run
//! them while pacing a frame), [`JobSystem::help_until`], and [`JobSystem::wait_with`] (a
//! deadline, and the lowest priority to run while waiting).
//!
//! ## How it works
//! - the executor, and the path of one job from submission to completion
//!   (`executor/README.md`): a thread's state and deques, the worker loop, the interpreter of
//!   actions, the spawner, waiting;
//! - the shared queues per priority (`queue.rs`);
//! - the sleep/wake protocol and why no wake-up is lost (`sleep/README.md`, checked by `loom`);
//! - `join` on the caller's stack and the latch of a half another thread took
//!   (`executor/join.rs`, `executor/latch.rs`, checked by `loom`);
//! - counters, rounds, and how they stay alive ([`Counter`]); panics (`panic.rs`).
//!
//! ## Checking the unsafe core
//! `cargo +nightly miri test -p jobs --test miri` runs a reduced suite under Miri;
//! `RUSTFLAGS="--cfg loom" cargo test -p jobs --release --lib -- sleep deque children pinned latch`
//! runs the loom models of the sleep/wake protocol, the workers' deques, the children count, the
//! pinned inboxes and the join latch.

mod action;
mod batch;
/// Compile-fail doctests pinning the borrow promises of the public API (`cargo test --doc`).
#[cfg(doctest)]
mod compile_fail;
mod config;
mod context;
mod counter;
mod executor;
mod heap;
mod job;
mod label;
mod meta;
mod panic;
mod pinned;
mod priority;
mod queue;
mod slab;
mod sleep;
mod stats;
mod sync;
mod system;
pub mod trace;

pub use action::{Action, BlockingStep, MemoryStep, SpawnStep, Step};
pub use batch::{Batch, Grain};
/// What [`Block::cast_slice`] and [`Block::cast_slice_mut`] view a block as: plain old data
/// (re-exported from `bytemuck`, so that users need not depend on it themselves).
pub use bytemuck::Pod;
pub use config::{Config, ConfigError};
pub use context::Context;
pub use counter::Counter;
pub use executor::{Spawner, WaitOptions};
pub use heap::{Block, HeapStats, MemoryError, MemoryRequest, Tag, TaggedHeap};
pub use job::Job;
pub use label::Label;
pub use panic::JobPanic;
pub use pinned::{
    NotRegistered, PinnedThread, RegisterError, ThreadRegistration, MAX_REGISTERED_THREADS,
};
pub use priority::Priority;
pub use stats::{Stats, WorkerStats};
pub use system::{JobSystem, Scope};

//! A frame graph on the [`jobs`] job system: the part a game programmer touches every frame.
//!
//! Passes declare what they read and write; [`GraphBuilder::compile`] orders them once (and
//! rejects what cannot be ordered safely); [`Frames`] runs the compiled [`Graph`] every frame,
//! each pass as a job that may fan out and suspend, with up to three frames in flight.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use frame::{Frames, GraphBuilder};
//!
//! let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
//! let mut graph = GraphBuilder::new();
//! // Resources: the game's settings (imported), the particles (one copy per frame in flight),
//! // and a scratch buffer for one frame (from the frame's tagged heap).
//! let gravity = graph.import("gravity", -9.8f32);
//! let particles = graph.scratch("particles", vec![10.0f32; 4096]);
//! let heights = graph.transient::<f32>("heights", 4096);
//! let image = graph.import("image", Vec::<u8>::new());
//!
//! graph.pass(
//!     "simulate",
//!     (gravity.read(), particles.read_previous(), particles.write()),
//!     |(gravity, before, after), cx| {
//!         let dt = cx.frame().dt.as_secs_f32();
//!         // Fan out: one job per chunk, borrowing the resources.
//!         for (out, old) in after.chunks_mut(1024).zip(before.chunks(1024)) {
//!             cx.spawn(move |_| {
//!                 for (y, y0) in out.iter_mut().zip(old) {
//!                     *y = (y0 + gravity * dt).max(0.0);
//!                 }
//!             });
//!         }
//!     },
//! );
//! graph.pass("measure", (particles.read(), heights.write()), |(p, h), _| h.copy_from_slice(p));
//! graph.pass("render", (heights.read(), image.write()), |(h, image), _| {
//!     image.clear();
//!     image.extend(h.iter().map(|y| (*y * 25.0) as u8));
//! });
//! let graph = graph.compile()?;
//! assert_eq!(graph.order(), ["simulate", "measure", "render"]);
//!
//! let mut frames = Frames::new(system, graph)?; // 2 frames in flight
//! for _ in 0..60 {
//!     frames.run_frame(Duration::from_secs_f64(1.0 / 60.0))?;
//! }
//! assert_eq!(frames.resource(image)?.len(), 4096);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The model
//! - [Resources](resource): imported (the game's), per-frame (one copy per frame in flight:
//!   carried from frame to frame, or scratch written whole each frame), transient (one frame,
//!   from the tagged heap), named by typed handles; and what a failed frame leaves in each.
//! - [Access](access): what a pass declares is exactly what its body gets: `&T` for a read,
//!   `&mut T` for a write, nothing else.
//! - Compiling (`compile.rs`): edges from accesses and explicit orderings, the errors, culling,
//!   and what frames in flight must wait for.
//! - [Passes](Pass) run as jobs: a closure ([`GraphBuilder::pass`]) or steps returning
//!   [`jobs::Action`]s ([`GraphBuilder::step_pass`]).
//! - [Flags](flag): passes that run only in some frames, and the two parts of a frame
//!   (simulate, render).
//! - [`Frames`]: slots, counters per frame, transient memory per frame, statistics
//!   ([`FrameStats`]), a DOT dump with timings, the newest completed frame's state
//!   ([`Frames::last_completed`]). [`GameLoop`]: fixed simulation steps, one render a turn
//!   with the interpolation factor, each frame's inputs from the main thread, pacing.

pub mod access;
mod builder;
mod compile;
/// Compile-fail doctests pinning the borrow promises of the public API (`cargo test --doc`).
#[cfg(doctest)]
mod compile_fail;
mod error;
pub mod flag;
mod frames;
mod game_loop;
mod graph;
mod pass;
mod profile;
pub mod resource;
mod stats;
#[cfg(feature = "tracy")]
mod tracy;

pub use access::{Access, Read, ReadBuf, ReadPrevious, Write, WriteBuf};
pub use builder::{GraphBuilder, PassConfig, PassId};
pub use error::{FrameError, GraphError};
pub use flag::Flag;
pub use frames::{FrameInfo, FrameSetup, Frames, FramesConfig};
pub use game_loop::{GameLoop, LoopSummary, Turn};
pub use graph::Graph;
/// What a [`transient`](GraphBuilder::transient) buffer holds: plain old data (`bytemuck`'s
/// `Pod`, re-exported so that a game need not depend on `bytemuck` itself).
pub use jobs::Pod;
pub use pass::{Pass, PassContext};
pub use resource::{Buf, Kind, Res};
pub use stats::{FrameStats, PassTime};

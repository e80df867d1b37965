//! Resources: what passes read and write, named by typed handles.
//!
//! Four kinds, told apart when they are declared on the [`GraphBuilder`](crate::GraphBuilder):
//! - **imported**: a value the game hands to the graph, one copy, kept between frames
//!   ([`import`](crate::GraphBuilder::import)). Frames in flight share it, so a pass of frame
//!   N + 1 touching it waits for the passes of frame N that touch it (when either writes).
//! - **per-frame**: a value with one copy per frame slot (frames in flight + 1), so that frames
//!   in flight do not share it: the particle state that rendering reads while the next frame
//!   simulates. A pass may read the previous frame's copy ([`Res::read_previous`]). Two uses,
//!   chosen at declaration:
//!   - **carried** ([`carried`](crate::GraphBuilder::carried)): state carried from frame to
//!     frame. Each frame's copy starts as the previous frame's copy (a `Clone::clone_from` per
//!     frame, in a job of its own that runs once the previous frame's writers are done and
//!     before this frame's first use), so a pass may change part of it.
//!   - **scratch** ([`scratch`](crate::GraphBuilder::scratch)): written whole every frame (by
//!     a pass, or by the main thread through
//!     [`FrameSetup::per_frame_mut`](crate::FrameSetup::per_frame_mut)). Nothing is copied: a
//!     frame's copy starts with what an earlier frame (frames in flight + 1 before) left in it,
//!     so every writer must write all of what is read.
//! - **transient**: a buffer of plain data that lives for one frame, allocated from that frame's
//!   tag in the tagged heap and released when the frame has completed
//!   ([`transient`](crate::GraphBuilder::transient)).
//!
//! ## What a frame that does not finish leaves
//! A frame fails when a pass (or a job it spawned) panics; the passes after it in the frame are
//! skipped (they do not run their bodies). What it leaves, per resource:
//! - a per-frame resource that a pass failed while writing (its body, or a job it spawned,
//!   panicked) is, after the frame, the previous frame's copy again (one `Clone::clone_from`,
//!   only then): the next frame starts from the last good state. So is a scratch resource whose
//!   writer did not run (skipped, or switched off by the frame's flags), so that its readers
//!   never see an older frame's data. A carried resource whose writer did not run keeps what
//!   the carry and the other writers made of it; one whose writers all finished keeps the
//!   frame's value, even if another pass of the frame failed.
//! - an imported resource that a pass failed while writing is **poisoned**: there is no earlier
//!   copy to go back to. Every later pass that touches it fails at its start without running
//!   (the frame's error carries [`FrameError::Poisoned`](crate::FrameError::Poisoned)'s
//!   message), and [`Frames::resource`](crate::Frames::resource) returns that error, until the
//!   game gives it a whole new value with [`Frames::rewrite`](crate::Frames::rewrite). A
//!   per-frame resource whose `Clone::clone_from` panicked while going back is poisoned the
//!   same way (passes reading its previous copy fail). An imported resource whose writer did
//!   not run is as the frame before left it.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(2))?);
//! let mut graph = frame::GraphBuilder::new();
//! let halves = graph.carried("halves", [0u32; 2]);
//! graph.pass("add", halves.write(), |halves, cx| {
//!     halves[0] += 1;
//!     assert!(cx.frame().number != 2, "frame 2 fails halfway");
//!     halves[1] += 1;
//! });
//! let mut frames = frame::Frames::new(system, graph.compile()?)?;
//! while frames.next_frame() < 5 {
//!     let _ = frames.run_frame(Duration::ZERO); // frame 2's error comes back once
//! }
//! let _ = frames.finish();
//! assert_eq!(*frames.resource(halves)?, [4, 4]); // never [5, 4]
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A handle to an imported or per-frame resource holding a `T`. Copy it freely.
///
/// A handle works only with the graph it was declared on: any other graph, even one made much
/// later, refuses it with [`FrameError::ForeignResource`](crate::FrameError::ForeignResource).
///
/// ```
/// use std::sync::Arc;
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1))?);
/// let mut graph = frame::GraphBuilder::new();
/// let score = graph.import("score", 0u32);
/// graph.pass("score", score.write(), |score, _| *score += 10);
/// let mut other = frame::GraphBuilder::new();
/// other.pass("idle", (), |_, _| {}).side_effect();
/// let mut frames = frame::Frames::new(Arc::clone(&system), other.compile()?)?;
/// assert_eq!(frames.resource(score).err(), Some(frame::FrameError::ForeignResource));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Res<T> {
    /// The id of the builder that declared it: never given to another builder of this process
    /// (see `builder::next_graph_id`), so it matches only its own graph.
    pub(crate) graph: u32,
    pub(crate) id: u32,
    _type: PhantomData<fn() -> T>,
}

/// A handle to a transient buffer of `T`s, allocated per frame from the tagged heap.
///
/// ```
/// let mut graph = frame::GraphBuilder::new();
/// let forces = graph.transient::<f32>("forces", 1024);
/// let total = graph.import("total", 0.0f32);
/// graph.pass("forces", forces.write(), |forces, _| forces.fill(1.0));
/// graph.pass("sum", (forces.read(), total.write()), |(forces, total), _| {
///     *total = forces.iter().sum();
/// });
/// assert_eq!(graph.compile()?.order(), ["forces", "sum"]);
/// # Ok::<(), frame::GraphError>(())
/// ```
pub struct Buf<T> {
    /// As [`Res::graph`].
    pub(crate) graph: u32,
    pub(crate) id: u32,
    _type: PhantomData<fn() -> T>,
}

macro_rules! handle_impls {
    ($handle:ident) => {
        impl<T> $handle<T> {
            pub(crate) fn new(graph: u32, id: u32) -> Self {
                $handle {
                    graph,
                    id,
                    _type: PhantomData,
                }
            }
        }
        impl<T> Clone for $handle<T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T> Copy for $handle<T> {}
        impl<T> PartialEq for $handle<T> {
            fn eq(&self, other: &Self) -> bool {
                (self.graph, self.id) == (other.graph, other.id)
            }
        }
        impl<T> Eq for $handle<T> {}
        impl<T> fmt::Debug for $handle<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "{}<{}>#{}",
                    stringify!($handle),
                    type_name::<T>(),
                    self.id
                )
            }
        }
    };
}
handle_impls!(Res);
handle_impls!(Buf);

/// The kind of a resource: see the [module docs](self).
///
/// ```
/// assert!(frame::Kind::Carried.is_per_frame());
/// assert!(!frame::Kind::Imported.is_per_frame());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One copy, owned by the graph, kept between frames.
    Imported,
    /// One copy per frame slot; each frame starts from the previous frame's copy.
    Carried,
    /// One copy per frame slot, written whole every frame.
    Scratch,
    /// A buffer for one frame, from the frame's tag in the tagged heap.
    Transient,
}

impl Kind {
    /// Whether the resource has one copy per frame slot (carried or scratch).
    pub fn is_per_frame(self) -> bool {
        matches!(self, Kind::Carried | Kind::Scratch)
    }
}

/// A type-erased owned value (a `Box<T>`).
pub(crate) struct Cell {
    ptr: NonNull<u8>,
    drop: unsafe fn(NonNull<u8>),
}

// SAFETY: a `Cell` is only made from `T: Send` values (see `Cell::new`), and it is only accessed
// as the frame graph's access rules allow.
unsafe impl Send for Cell {}

impl Cell {
    pub(crate) fn new<T: Send + 'static>(value: T) -> Cell {
        /// # Safety
        /// `ptr` comes from `Box<T>::into_raw` and is not used afterwards.
        unsafe fn drop_box<T>(ptr: NonNull<u8>) {
            // SAFETY: see the function's contract.
            drop(unsafe { Box::from_raw(ptr.cast::<T>().as_ptr()) });
        }
        Cell {
            ptr: NonNull::from(Box::leak(Box::new(value))).cast(),
            drop: drop_box::<T>,
        }
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Cell {
    fn drop(&mut self) {
        // SAFETY: the cell owns the box and this is its only drop.
        unsafe { (self.drop)(self.ptr) }
    }
}

/// Makes the value at `dst` a copy of the value at `src` (`Clone::clone_from`), both `T`s.
pub(crate) type CloneFrom = unsafe fn(dst: *mut u8, src: *const u8);

/// The [`CloneFrom`] of `T`.
///
/// # Safety
/// `dst` and `src` point to live `T`s, `dst` not aliased, `src` not written meanwhile.
pub(crate) unsafe fn clone_from<T: Clone>(dst: *mut u8, src: *const u8) {
    // SAFETY: see the function's contract.
    unsafe { (*dst.cast::<T>()).clone_from(&*src.cast::<T>()) }
}

/// How a resource's storage comes to be.
pub(crate) enum Init {
    /// The imported value.
    Value(Cell),
    /// Makes one copy of a per-frame resource.
    Copies(Box<dyn Fn() -> Cell + Send>),
    /// Moved into the frame loop's storage.
    Taken,
    /// A transient buffer: `len` elements of `size` bytes aligned to `align`.
    Buffer {
        size: usize,
        align: usize,
        len: usize,
    },
}

/// A resource as declared.
pub(crate) struct ResourceDecl {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) init: Init,
    /// Puts a failed frame's copy back to the previous frame's (per-frame resources).
    pub(crate) clone_from: Option<CloneFrom>,
}

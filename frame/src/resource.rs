//! Resources: what passes read and write, named by typed handles.
//!
//! Three kinds, told apart when they are declared on the [`GraphBuilder`](crate::GraphBuilder):
//! - **imported**: a value the game hands to the graph, one copy, kept between frames
//!   ([`import`](crate::GraphBuilder::import));
//! - **per-frame**: a value with one copy per frame slot, so that frames in flight do not share it:
//!   the particle state that rendering reads while the next frame simulates
//!   ([`per_frame`](crate::GraphBuilder::per_frame)). A pass may read the previous frame's copy;
//! - **transient**: a buffer of plain data that lives for one frame, allocated from that frame's
//!   tag in the tagged heap and released when the frame has completed
//!   ([`transient`](crate::GraphBuilder::transient)).
//!
//! A handle ([`Res`], [`Buf`]) names a resource; it gives no access by itself. Access comes
//! from declaring it on a pass (`res.read()`, `res.write()`), see [`Access`](crate::Access).

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One copy, owned by the graph, kept between frames.
    Imported,
    /// One copy per frame slot.
    PerFrame,
    /// A buffer for one frame, from the frame's tag in the tagged heap.
    Transient,
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
}

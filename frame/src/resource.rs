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
pub struct Res<T> {
    pub(crate) graph: u32,
    pub(crate) id: u32,
    _type: PhantomData<fn() -> T>,
}

/// A handle to a transient buffer of `T`s, allocated per frame from the tagged heap.
pub struct Buf<T> {
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

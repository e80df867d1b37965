//! Access: what a pass declares it touches, and exactly what its body gets.
//!
//! A pass declares its accesses as one value: a single access or a tuple of them (up to 8).
//! The body receives the matching tuple of references, nothing else:
//!
//! | declared | the body gets | others meanwhile |
//! |---|---|---|
//! | `res.read()` | `&T` | other readers |
//! | `res.write()` | `&mut T` | nobody |
//! | `res.read_previous()` | `&T`, the previous frame's copy of a per-frame resource | other readers |
//! | `buf.read()` | `&[T]` | other readers |
//! | `buf.write()` | `&mut [T]` | nobody |
//!
//! The graph orders the passes so that no two passes run at the same time with a write between
//! them (compiling rejects what it cannot order), so the references a body gets are exactly as
//! exclusive as Rust's borrows say. A body cannot reach any resource it did not declare: handles
//! give no access by themselves, only the declaration does.
//!
//! ```
//! use frame::GraphBuilder;
//! let mut graph = GraphBuilder::new();
//! let gravity = graph.import("gravity", -9.8f32);
//! let speed = graph.import("speed", 0.0f32);
//! graph.pass("fall", (gravity.read(), speed.write()), |(gravity, speed), _cx| {
//!     *speed += *gravity / 60.0; // &f32 and &mut f32: what was declared
//! });
//! # Ok::<(), frame::GraphError>(())
//! ```

use crate::resource::{Buf, Res};

/// How a pass touches a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Read,
    Write,
    ReadPrevious,
}

/// One declared access: resource `id` of builder `graph`, in `mode`.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Declared {
    pub(crate) graph: u32,
    pub(crate) id: u32,
    pub(crate) mode: Mode,
}

/// Where one resource is for one frame: its copy, the previous frame's copy (per-frame
/// resources), and its length in elements (transient buffers).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub(crate) current: *mut u8,
    pub(crate) previous: *mut u8,
    pub(crate) len: usize,
}

impl Binding {
    pub(crate) const UNBOUND: Binding = Binding {
        current: std::ptr::null_mut(),
        previous: std::ptr::null_mut(),
        len: 0,
    };
}

mod sealed {
    pub trait Sealed {}
}

/// The accesses a pass declares: one of [`Read`], [`Write`], [`ReadPrevious`], [`ReadBuf`],
/// [`WriteBuf`], or a tuple of them. `Item` is what the pass body gets. See the
/// [module docs](self).
pub trait Access: sealed::Sealed + Send + Sync + 'static {
    /// The references the body gets for one run.
    type Item<'a>;

    /// Lists the accesses.
    #[doc(hidden)]
    fn declare(&self, out: &mut Vec<Declared>);

    /// The references for one run.
    ///
    /// # Safety
    /// `table` holds the bindings of a frame whose passes are scheduled so that these accesses
    /// do not conflict with any other running pass for `'a`, and `declare`d resources are in it.
    #[doc(hidden)]
    unsafe fn fetch<'a>(&self, table: &'a [Binding]) -> Self::Item<'a>;
}

/// Shared access to a resource's current copy: the body gets `&T`.
pub struct Read<T>(Res<T>);
/// Exclusive access to a resource's current copy: the body gets `&mut T`.
pub struct Write<T>(Res<T>);
/// Shared access to the previous frame's copy of a per-frame resource: the body gets `&T`.
pub struct ReadPrevious<T>(Res<T>);
/// Shared access to a transient buffer: the body gets `&[T]`.
pub struct ReadBuf<T>(Buf<T>);
/// Exclusive access to a transient buffer: the body gets `&mut [T]`. Its contents at the start
/// of a frame are unspecified (zeroes or an earlier frame's data): the first writer fills it.
pub struct WriteBuf<T>(Buf<T>);

impl<T> Res<T> {
    /// Declares shared access (`&T`).
    pub fn read(self) -> Read<T> {
        Read(self)
    }
    /// Declares exclusive access (`&mut T`).
    pub fn write(self) -> Write<T> {
        Write(self)
    }
    /// Declares shared access to the previous frame's copy of this per-frame resource. Frame 0
    /// sees the initial value.
    pub fn read_previous(self) -> ReadPrevious<T> {
        ReadPrevious(self)
    }
}

impl<T> Buf<T> {
    /// Declares shared access (`&[T]`).
    pub fn read(self) -> ReadBuf<T> {
        ReadBuf(self)
    }
    /// Declares exclusive access (`&mut [T]`).
    pub fn write(self) -> WriteBuf<T> {
        WriteBuf(self)
    }
}

fn declared(graph: u32, id: u32, mode: Mode) -> Declared {
    Declared { graph, id, mode }
}

macro_rules! single {
    ($access:ident, $bound:path, $mode:expr, $item:ty, |$b:ident| $fetch:expr) => {
        impl<T: $bound + Send + 'static> sealed::Sealed for $access<T> {}
        impl<T: $bound + Send + 'static> Access for $access<T> {
            type Item<'a> = $item;
            fn declare(&self, out: &mut Vec<Declared>) {
                out.push(declared(self.0.graph, self.0.id, $mode));
            }
            unsafe fn fetch<'a>(&self, table: &'a [Binding]) -> $item {
                let $b = table[self.0.id as usize];
                // SAFETY: forwarded from the caller: the binding is of this frame, and the
                // schedule makes this access as shared or exclusive as the item says.
                unsafe { $fetch }
            }
        }
    };
}

single!(Read, Sync, Mode::Read, &'a T, |b| &*b.current.cast::<T>());
single!(Write, Send, Mode::Write, &'a mut T, |b| &mut *b
    .current
    .cast::<T>());
single!(ReadPrevious, Sync, Mode::ReadPrevious, &'a T, |b| &*b
    .previous
    .cast::<T>());
single!(ReadBuf, bytemuck::Pod, Mode::Read, &'a [T], |b| {
    std::slice::from_raw_parts(b.current.cast::<T>(), b.len)
});
single!(WriteBuf, bytemuck::Pod, Mode::Write, &'a mut [T], |b| {
    std::slice::from_raw_parts_mut(b.current.cast::<T>(), b.len)
});

impl sealed::Sealed for () {}
impl Access for () {
    type Item<'a> = ();
    fn declare(&self, _: &mut Vec<Declared>) {}
    unsafe fn fetch(&self, _: &[Binding]) {}
}

macro_rules! tuple {
    ($($name:ident),+) => {
        impl<$($name: Access),+> sealed::Sealed for ($($name,)+) {}
        impl<$($name: Access),+> Access for ($($name,)+) {
            type Item<'a> = ($($name::Item<'a>,)+);
            fn declare(&self, out: &mut Vec<Declared>) {
                #[allow(non_snake_case)]
                let ($($name,)+) = self;
                $($name.declare(out);)+
            }
            unsafe fn fetch<'a>(&self, table: &'a [Binding]) -> Self::Item<'a> {
                #[allow(non_snake_case)]
                let ($($name,)+) = self;
                // SAFETY: forwarded from the caller; compiling rejects a resource declared
                // twice by one pass, so the items do not alias.
                unsafe { ($($name.fetch(table),)+) }
            }
        }
    };
}
tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
tuple!(A, B, C, D, E);
tuple!(A, B, C, D, E, F);
tuple!(A, B, C, D, E, F, G);
tuple!(A, B, C, D, E, F, G, H);

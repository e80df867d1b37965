//! Labels: the names jobs carry into traces and profilers, two bytes in every job.
//!
//! A name is interned once (a lock, at set-up: a frame graph interns its pass names when it is
//! built) and becomes a [`Label`], a 16-bit index. Reading a label's name back is lock-free: the
//! names live in pages that are filled once and never move, so a recorder or a profiler zone can
//! name a job on the job path without taking a lock.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The name of a job, for the recorder and the profiler.
///
/// Jobs spawned by a job inherit its label (and its frame, see [`Job::in_frame`]), so every job
/// of a frame-graph pass carries the pass's name. Interning the same name twice gives the same
/// label. A program has room for 65,534 distinct names; past that, [`Label::new`] returns
/// [`Label::OVERFLOW`] (named `"(too many labels)"`) rather than failing.
///
/// ```
/// use jobs::{Job, Label};
/// let integrate = Label::new("integrate");
/// assert_eq!(integrate, Label::new("integrate"));
/// assert_eq!(integrate.name(), "integrate");
/// assert_eq!(Label::NONE.name(), "job");
/// let job = Job::from_fn(|_| {}).with_label(integrate);
/// # drop(job);
/// ```
///
/// [`Job::in_frame`]: crate::Job::in_frame
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Label(u16);

/// Entries per page of a [`PerLabel`] table.
const PAGE: usize = 256;

/// A value per label, made on first use and kept for the life of the program: `u16::MAX + 1`
/// slots in 256 pages allocated on first use, so that finding a label's value is two lock-free
/// loads. Label names live in one; Tracy's per-label source locations (with the `tracy`
/// feature) in another.
pub(crate) struct PerLabel<T> {
    pages: [OnceLock<Box<[OnceLock<T>; PAGE]>>; PAGE],
}

impl<T> PerLabel<T> {
    pub(crate) const fn new() -> PerLabel<T> {
        PerLabel {
            pages: [const { OnceLock::new() }; PAGE],
        }
    }

    fn slot(&self, label: Label) -> &OnceLock<T> {
        let index = usize::from(label.0);
        let page =
            self.pages[index / PAGE].get_or_init(|| Box::new([const { OnceLock::new() }; PAGE]));
        &page[index % PAGE]
    }

    /// The value of `label`, if it has one.
    pub(crate) fn get(&self, label: Label) -> Option<&T> {
        let index = usize::from(label.0);
        self.pages[index / PAGE].get()?[index % PAGE].get()
    }

    /// The value of `label`, made by `make` if it has none yet.
    pub(crate) fn get_or_init(&self, label: Label, make: impl FnOnce() -> T) -> &T {
        self.slot(label).get_or_init(make)
    }
}

/// Every interned name.
static NAMES: PerLabel<&'static str> = PerLabel::new();

/// The interning side: names to labels, and the next free index.
static INTERNED: Mutex<Option<HashMap<&'static str, u16>>> = Mutex::new(None);

impl Label {
    /// The label of a job nobody named: `"job"`.
    pub const NONE: Label = Label(0);

    /// The label given out once every index is taken.
    pub const OVERFLOW: Label = Label(u16::MAX);

    /// The label named `name`, interned on first use (takes a lock: call it at set-up, not per
    /// job). The name is kept for the life of the program.
    pub fn new(name: &str) -> Label {
        let mut interned = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
        let names = interned.get_or_insert_with(|| {
            set_name(Label::NONE.0, "job");
            set_name(Label::OVERFLOW.0, "(too many labels)");
            HashMap::from([("job", Label::NONE.0)])
        });
        if let Some(&index) = names.get(name) {
            return Label(index);
        }
        // Index 0 is NONE, u16::MAX is OVERFLOW: 1..u16::MAX are free.
        let index = names.len() as u16;
        if index == u16::MAX {
            return Label::OVERFLOW;
        }
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        set_name(index, name);
        names.insert(name, index);
        Label(index)
    }

    /// The label's name. Lock-free.
    pub fn name(self) -> &'static str {
        NAMES
            .get(self)
            .copied()
            // Only `NONE` and `OVERFLOW` can be read before anything was interned.
            .unwrap_or(if self == Label::OVERFLOW {
                "(too many labels)"
            } else {
                "job"
            })
    }

    /// The label's index (0 for [`Label::NONE`]).
    pub fn index(self) -> u16 {
        self.0
    }
}

/// Publishes `name` at `index` (called with the interning lock held).
fn set_name(index: u16, name: &'static str) {
    NAMES.get_or_init(Label(index), || name);
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:?})", self.name())
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_intern_once() {
        let a = Label::new("label-test-a");
        let b = Label::new("label-test-b");
        assert_ne!(a, b);
        assert_eq!(Label::new("label-test-a"), a);
        assert_eq!(a.name(), "label-test-a");
        assert_eq!(b.to_string(), "label-test-b");
        assert_eq!(Label::new("job"), Label::NONE);
        assert_eq!(Label::OVERFLOW.name(), "(too many labels)");
    }
}

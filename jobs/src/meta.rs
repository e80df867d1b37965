//! What a job carries besides its capture and steps, and passes on to the jobs it spawns: its
//! priority, its label, its frame. A leaf: it depends on nothing else of the executor.

use crate::{Label, Priority};

/// What a job passes on to the jobs it spawns, unless they set it themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Inherit {
    pub(crate) priority: Priority,
    pub(crate) label: Label,
    pub(crate) frame: Option<u32>,
}

impl Inherit {
    /// For jobs submitted from outside any job.
    pub(crate) const ROOT: Inherit = Inherit::at(Priority::Normal);

    /// The defaults at `priority`: no label, no frame.
    pub(crate) const fn at(priority: Priority) -> Inherit {
        Inherit {
            priority,
            label: Label::NONE,
            frame: None,
        }
    }
}

//! Flags of a frame: switches the frame's setup turns on or off, which passes may run only under
//! ([`PassConfig::run_if`](crate::PassConfig::run_if)).
//!
//! Two are built in: [`Flag::SIMULATE`] and [`Flag::RENDER`], the two parts of a frame (both on
//! unless the frame's setup says otherwise; [`GameLoop`](crate::GameLoop) turns them on and off
//! for fixed simulation steps and one render a turn). A graph declares its own with
//! [`GraphBuilder::flag`](crate::GraphBuilder::flag) (off unless set).
//!
//! A switched-off pass is still a job of its frame (it orders the passes around it as always)
//! that returns at once without running its body.

/// A flag of the frame (see the [module docs](self)). Copy it freely; a flag of one graph is
/// refused by another ([`GraphError::ForeignFlag`](crate::GraphError::ForeignFlag),
/// [`FrameError::ForeignFlag`](crate::FrameError::ForeignFlag)).
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// let system = Arc::new(jobs::JobSystem::new(jobs::Config::default().workers(1))?);
/// let mut graph = frame::GraphBuilder::new();
/// let paused = graph.flag("paused");
/// let seen = graph.import("seen", Vec::new());
/// graph.pass("look", seen.write(), move |seen, cx| seen.push(cx.frame().is_on(paused)));
/// let mut frames = frame::Frames::new(system, graph.compile()?)?;
/// frames.run_frame(Duration::ZERO)?;
/// let mut setup = frames.begin_frame()?;
/// setup.set_flag(paused, true)?;
/// setup.start(Duration::ZERO)?;
/// assert_eq!(*frames.resource(seen)?, [false, true]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flag {
    /// The builder that declared it, or [`Flag::ANY_GRAPH`] for the built-in ones.
    pub(crate) graph: u32,
    /// Its bit in [`FrameInfo`](crate::FrameInfo)'s flags.
    pub(crate) bit: u32,
}

impl Flag {
    /// On in frames that simulate: passes of the simulation part
    /// ([`PassConfig::simulate`](crate::PassConfig::simulate)) run only there.
    pub const SIMULATE: Flag = Flag {
        graph: Flag::ANY_GRAPH,
        bit: 0,
    };

    /// On in frames that render: passes of the render part
    /// ([`PassConfig::render`](crate::PassConfig::render)) run only there.
    pub const RENDER: Flag = Flag {
        graph: Flag::ANY_GRAPH,
        bit: 1,
    };

    /// The most flags a graph may declare of its own: 62 (a frame's flags are one `u64`, two
    /// bits of it built in).
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// for i in 0..=frame::Flag::MAX {
    ///     graph.flag(&format!("flag {i}"));
    /// }
    /// graph.pass("p", (), |_, _| {}).side_effect();
    /// assert_eq!(graph.compile().err(), Some(frame::GraphError::TooManyFlags { flags: 63 }));
    /// ```
    pub const MAX: usize = 62;

    /// The graph id of the built-in flags: no builder has it (ids go from 1 to `u32::MAX - 1`,
    /// and 0 once they have run out; see `builder::next_graph_id`).
    pub(crate) const ANY_GRAPH: u32 = u32::MAX;
    /// The bit of a graph's first own flag.
    pub(crate) const FIRST_OWN: u32 = 2;
    /// The flags every frame starts with: both parts on, the graph's own off.
    pub(crate) const DEFAULT_BITS: u64 = 0b11;

    pub(crate) fn new(graph: u32, bit: u32) -> Flag {
        Flag { graph, bit }
    }

    /// Its bit in a frame's flags (0 for a flag past the 64 bits, which compiling rejects).
    pub(crate) fn mask(self) -> u64 {
        1u64.checked_shl(self.bit).unwrap_or(0)
    }

    /// Whether it may be used with the graph `graph`.
    pub(crate) fn belongs_to(self, graph: u32) -> bool {
        self.graph == Flag::ANY_GRAPH || self.graph == graph
    }
}

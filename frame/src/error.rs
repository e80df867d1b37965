//! What can go wrong: a graph that cannot be compiled, a frame that failed, a bad setting.

use std::fmt;

/// Why a graph could not be compiled. Every variant names the passes and the resource involved.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphError {
    /// Two passes have the same name.
    DuplicatePass {
        /// The name used twice.
        pass: String,
    },
    /// A pass is ordered before or after a pass of another graph builder.
    ForeignPass {
        /// The pass whose ordering names it.
        pass: String,
    },
    /// A pass runs under a flag of another graph builder.
    ForeignFlag {
        /// The pass.
        pass: String,
    },
    /// The graph declares more flags than [`Flag::MAX`](crate::Flag::MAX).
    TooManyFlags {
        /// How many it declares.
        flags: usize,
    },
    /// A pass uses a resource handle from another graph builder.
    ForeignResource {
        /// The pass.
        pass: String,
    },
    /// A pass declares the same resource twice (for example both read and write: declare the
    /// write alone, it gives read access too).
    DuplicateAccess {
        /// The pass.
        pass: String,
        /// The resource.
        resource: String,
    },
    /// A pass reads the previous frame's copy of a resource that is not per-frame.
    NotPerFrame {
        /// The pass.
        pass: String,
        /// The resource.
        resource: String,
    },
    /// The passes depend on each other in a circle (listed in order, the first again last).
    Cycle {
        /// The passes on the cycle.
        passes: Vec<String>,
        /// A resource that makes one of the edges, if the cycle is not only explicit orderings.
        resource: Option<String>,
    },
    /// Two passes write the same resource and nothing orders them.
    UnorderedWrites {
        /// The resource.
        resource: String,
        /// One writer.
        first: String,
        /// The other.
        second: String,
    },
    /// A pass reads a transient resource that no pass before it writes.
    ReadWithoutWriter {
        /// The reading pass.
        pass: String,
        /// The resource.
        resource: String,
    },
    /// The builder was made after this process had used every graph id (4 294 967 294
    /// builders): ids are never given twice, so that no handle can match another graph.
    OutOfGraphIds,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::DuplicatePass { pass } => write!(f, "two passes are named `{pass}`"),
            GraphError::ForeignPass { pass } => write!(
                f,
                "pass `{pass}` is ordered against a pass of another graph builder"
            ),
            GraphError::ForeignFlag { pass } => {
                write!(f, "pass `{pass}` runs under a flag of another graph builder")
            }
            GraphError::TooManyFlags { flags } => write!(
                f,
                "the graph declares {flags} flags (allowed: 0 to {})",
                crate::Flag::MAX
            ),
            GraphError::ForeignResource { pass } => write!(
                f,
                "pass `{pass}` uses a resource handle from another graph builder"
            ),
            GraphError::DuplicateAccess { pass, resource } => write!(
                f,
                "pass `{pass}` declares resource `{resource}` twice (a write gives read access too)"
            ),
            GraphError::NotPerFrame { pass, resource } => write!(
                f,
                "pass `{pass}` reads the previous frame's `{resource}`, which is not per-frame"
            ),
            GraphError::Cycle { passes, resource } => {
                write!(f, "the passes form a cycle: {}", passes.join(" -> "))?;
                if let Some(resource) = resource {
                    write!(f, " (through resource `{resource}`)")?;
                }
                Ok(())
            }
            GraphError::UnorderedWrites {
                resource,
                first,
                second,
            } => write!(
                f,
                "passes `{first}` and `{second}` both write `{resource}` and nothing orders them \
                 (order them with `before`/`after`, or through another resource)"
            ),
            GraphError::ReadWithoutWriter { pass, resource } => write!(
                f,
                "pass `{pass}` reads transient resource `{resource}`, which no pass before it writes"
            ),
            GraphError::OutOfGraphIds => write!(
                f,
                "this process has used every graph id (1 to {}): no more graphs can be built",
                u32::MAX - 1
            ),
        }
    }
}

impl std::error::Error for GraphError {}

/// Why a frame, or a setting of the frame loop, failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A pass (or a job it spawned) panicked. Passes after it in the same frame that needed its
    /// output did not run; later frames run normally. What the frame leaves in each resource:
    /// see [the resources' docs](crate::resource#what-a-frame-that-does-not-finish-leaves).
    PassPanicked {
        /// The frame.
        frame: u64,
        /// The pass: of the passes that panicked on their own, the first in the graph's order
        /// ([`Graph::order`](crate::Graph::order)), whichever panicked first in time.
        pass: String,
        /// The panic message.
        message: String,
        /// Other passes of the frame that panicked on their own, in the graph's order (reported
        /// in `Frames::history` only as this frame's failure).
        also_failed: Vec<String>,
        /// Passes of the frame that were skipped because they depend on a failed pass.
        skipped: Vec<String>,
    },
    /// The frame's transient memory could not be allocated.
    OutOfMemory {
        /// The transient resource.
        resource: String,
        /// Bytes asked for.
        bytes: usize,
    },
    /// `FramesConfig::in_flight(n)`: frames in flight must be 1, 2 or 3.
    BadFramesInFlight(usize),
    /// A resource handle from another graph.
    ForeignResource,
    /// A handle of the wrong kind for the call (a transient resource has no value between
    /// frames; `per_frame` calls need a per-frame resource).
    WrongKind {
        /// The resource.
        resource: String,
        /// What the call needs.
        expected: &'static str,
    },
    /// `GameLoop` settings: the simulation or frame rate is outside
    /// [`GameLoop::MIN_RATE`](crate::GameLoop::MIN_RATE) to
    /// [`GameLoop::MAX_RATE`](crate::GameLoop::MAX_RATE) (zero, negative, not a number, or
    /// infinite included). The message names the setting, the value and the range.
    BadRate(String),
    /// `GameLoop::max_steps_per_turn(n)` with `n` zero or above
    /// [`GameLoop::MAX_STEPS_PER_TURN`](crate::GameLoop::MAX_STEPS_PER_TURN).
    BadStepsPerTurn(u32),
    /// `FramesConfig::history(n)` with `n` above
    /// [`FramesConfig::MAX_HISTORY`](crate::FramesConfig::MAX_HISTORY).
    HistoryTooLong(usize),
    /// The resource was left half-written by a failed frame and cannot be put back (an imported
    /// resource, or a per-frame one whose `clone_from` panicked): passes touching it fail and
    /// it cannot be read until [`Frames::rewrite`](crate::Frames::rewrite) gives it a new value.
    Poisoned {
        /// The resource.
        resource: String,
        /// The frame that left it half-written.
        frame: u64,
        /// The pass that failed (or was skipped) writing it.
        pass: String,
    },
    /// A flag of another graph.
    ForeignFlag,
    /// `FrameSetup::alpha(a)` with `a` outside 0 to 1 or not a number (the message names it).
    BadAlpha(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::PassPanicked {
                frame,
                pass,
                message,
                also_failed,
                skipped,
            } => {
                write!(f, "frame {frame}: pass `{pass}` panicked: {message}")?;
                if !also_failed.is_empty() {
                    write!(f, " (also panicked: {})", also_failed.join(", "))?;
                }
                if !skipped.is_empty() {
                    write!(f, " (skipped: {})", skipped.join(", "))?;
                }
                Ok(())
            }
            FrameError::OutOfMemory { resource, bytes } => write!(
                f,
                "out of memory allocating {bytes} bytes for transient resource `{resource}`"
            ),
            FrameError::BadFramesInFlight(k) => {
                write!(
                    f,
                    "in_flight({k}): frames in flight must be 1, 2 or 3, not {k}"
                )
            }
            FrameError::ForeignResource => {
                write!(f, "the resource handle belongs to another graph")
            }
            FrameError::WrongKind { resource, expected } => {
                write!(f, "resource `{resource}` is not {expected}")
            }
            FrameError::BadRate(what) => write!(f, "bad game loop setting: {what}"),
            FrameError::BadStepsPerTurn(steps) => write!(
                f,
                "max_steps_per_turn({steps}): out of range (allowed: 1 to {})",
                crate::GameLoop::MAX_STEPS_PER_TURN
            ),
            FrameError::Poisoned {
                resource,
                frame,
                pass,
            } => write!(
                f,
                "resource `{resource}` is poisoned: pass `{pass}` failed writing it in frame \
                 {frame}; give it a new value with `Frames::rewrite`"
            ),
            FrameError::ForeignFlag => write!(f, "the flag belongs to another graph"),
            FrameError::BadAlpha(alpha) => {
                write!(f, "alpha({alpha}): out of range (allowed: 0 to 1)")
            }
            FrameError::HistoryTooLong(frames) => write!(
                f,
                "history({frames}): too many frames of statistics to keep (allowed: 0 to {})",
                crate::FramesConfig::MAX_HISTORY
            ),
        }
    }
}

impl std::error::Error for FrameError {}

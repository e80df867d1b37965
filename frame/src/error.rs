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
    /// A pass is ordered before or after a pass that does not exist.
    UnknownPass {
        /// The pass whose ordering names it.
        pass: String,
        /// The name that matches no pass.
        unknown: String,
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
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::DuplicatePass { pass } => write!(f, "two passes are named `{pass}`"),
            GraphError::UnknownPass { pass, unknown } => {
                write!(f, "pass `{pass}` is ordered against `{unknown}`, which is no pass")
            }
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
        }
    }
}

impl std::error::Error for GraphError {}

/// Why a frame, or a setting of the frame loop, failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A pass (or a job it spawned) panicked. Passes after it in the same frame that needed its
    /// output did not run; later frames run normally.
    PassPanicked {
        /// The frame.
        frame: u64,
        /// The pass.
        pass: String,
        /// The panic message.
        message: String,
        /// Other passes of the frame that panicked on their own (reported in `Frames::history`
        /// only as this frame's failure).
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
    /// Frames in flight must be 1, 2 or 3.
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
    /// `GameLoop` settings: the timestep or the frame rate is zero, negative or not finite.
    BadRate(String),
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
                write!(f, "frames in flight must be 1, 2 or 3, not {k}")
            }
            FrameError::ForeignResource => {
                write!(f, "the resource handle belongs to another graph")
            }
            FrameError::WrongKind { resource, expected } => {
                write!(f, "resource `{resource}` is not {expected}")
            }
            FrameError::BadRate(what) => write!(f, "bad game loop setting: {what}"),
        }
    }
}

impl std::error::Error for FrameError {}

//! Pictures of a trace, drawn with `plotters` into PNG files: the timeline of the lanes and the
//! utilization per frame.

pub mod font;
pub mod palette;
pub mod timeline;
pub mod utilization;

use std::fmt;
use std::path::{Path, PathBuf};

/// A picture that could not be drawn or written: the file and why.
///
/// ```
/// let err = tools::plot::PlotError::new("out/timeline.png", "no frame in 5..=6");
/// assert_eq!(err.to_string(), "out/timeline.png: no frame in 5..=6");
/// ```
#[derive(Debug)]
pub struct PlotError {
    /// The picture's file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

impl PlotError {
    /// An error about the picture at `path`.
    ///
    /// ```
    /// let err = tools::plot::PlotError::new("a.png", "disk full");
    /// assert_eq!(err.message, "disk full");
    /// ```
    pub fn new(path: impl AsRef<Path>, message: impl fmt::Display) -> PlotError {
        PlotError {
            path: path.as_ref().to_path_buf(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for PlotError {}

//! Which frames to look at: `--frames A..B`.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::trace::Frame;

/// A range of frame numbers, both ends included.
///
/// Parsed as Rust writes ranges: `A..B` (B excluded), `A..=B`, `A..`, `..B`, `..=B`, or a single
/// frame `A`.
///
/// ```
/// let range: tools::FrameRange = "10..13".parse()?;
/// assert_eq!((range.first, range.last), (10, 12));
/// assert!(range.contains(12) && !range.contains(13));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FrameRange {
    /// The first frame number in the range.
    pub first: u64,
    /// The last frame number in the range.
    pub last: u64,
}

impl FrameRange {
    /// Whether frame `number` is in the range.
    ///
    /// ```
    /// let range = tools::FrameRange { first: 3, last: 5 };
    /// assert!(range.contains(3) && range.contains(5) && !range.contains(6));
    /// ```
    pub fn contains(self, number: u64) -> bool {
        (self.first..=self.last).contains(&number)
    }

    /// The frames in the range, in the order given.
    ///
    /// ```
    /// use tools::{Frame, FrameRange, Interval};
    /// let frames: Vec<Frame> = (0..5).map(|n| Frame { number: n, time: Interval::new(0, 1) }).collect();
    /// let picked = FrameRange { first: 1, last: 2 }.select(&frames);
    /// assert_eq!(picked.iter().map(|f| f.number).collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn select(self, frames: &[Frame]) -> Vec<Frame> {
        frames
            .iter()
            .filter(|f| self.contains(f.number))
            .copied()
            .collect()
    }
}

impl FromStr for FrameRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = |part: &str| -> Result<u64, String> {
            part.trim()
                .parse()
                .map_err(|_| format!("{part:?} in {text:?} is not a frame number"))
        };
        let (first, last) = match text.split_once("..") {
            None => (number(text)?, number(text)?),
            Some((first, last)) => {
                let first = if first.is_empty() { 0 } else { number(first)? };
                let last = match last.strip_prefix('=') {
                    Some("") => return Err(format!("{text:?} has no end after \"..=\"")),
                    Some(last) => number(last)?,
                    None if last.is_empty() => u64::MAX,
                    None => number(last)?
                        .checked_sub(1)
                        .ok_or_else(|| format!("{text:?} holds no frame"))?,
                };
                (first, last)
            }
        };
        if last < first {
            return Err(format!(
                "{text:?} holds no frame (expected A..B with A < B)"
            ));
        }
        Ok(FrameRange { first, last })
    }
}

impl fmt::Display for FrameRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last {
            u64::MAX => write!(f, "{}..", self.first),
            last => write!(f, "{}..={last}", self.first),
        }
    }
}

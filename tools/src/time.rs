//! Time in a trace: nanoseconds from the start of the recording window, and intervals of it.
//!
//! The trace file writes microseconds with three decimals, so every timestamp is a whole number of
//! nanoseconds. Reading them as integers keeps back-to-back spans exactly back to back (the end of
//! one is the start of the next) and sums exact.

use serde::Serialize;

/// Nanoseconds from the start of the recording window (negative before it).
///
/// ```
/// let t: tools::Nanos = tools::time::from_micros(1.5);
/// assert_eq!(t, 1_500);
/// ```
pub type Nanos = i64;

/// Converts the file's microseconds to nanoseconds, rounding to the nearest one.
///
/// ```
/// assert_eq!(tools::time::from_micros(1234.567), 1_234_567);
/// ```
pub fn from_micros(us: f64) -> Nanos {
    jobs_trace_format::nanos_from_micros(us)
}

/// Nanoseconds as milliseconds.
///
/// ```
/// assert_eq!(tools::time::to_millis(2_500_000), 2.5);
/// ```
pub fn to_millis(ns: Nanos) -> f64 {
    ns as f64 / 1_000_000.0
}

/// Nanoseconds as microseconds.
///
/// ```
/// assert_eq!(tools::time::to_micros(2_500), 2.5);
/// ```
pub fn to_micros(ns: Nanos) -> f64 {
    ns as f64 / 1_000.0
}

/// A half-open stretch of time `[start, end)`.
///
/// ```
/// use tools::Interval;
/// let frame = Interval::new(1_000, 9_000);
/// assert_eq!(frame.len(), 8_000);
/// assert_eq!(frame.clip(Interval::new(0, 2_000)), Some(Interval::new(1_000, 2_000)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Interval {
    /// The first nanosecond.
    pub start: Nanos,
    /// One past the last nanosecond; never before `start`.
    pub end: Nanos,
}

impl Interval {
    /// The interval from `start` to `end`; an `end` before `start` is taken as `start`.
    ///
    /// ```
    /// assert!(tools::Interval::new(5, 3).is_empty());
    /// ```
    pub fn new(start: Nanos, end: Nanos) -> Self {
        Self {
            start,
            end: end.max(start),
        }
    }

    /// Its length in nanoseconds.
    ///
    /// ```
    /// assert_eq!(tools::Interval::new(2, 7).len(), 5);
    /// ```
    pub fn len(self) -> Nanos {
        self.end - self.start
    }

    /// Whether it has no length.
    ///
    /// ```
    /// assert!(tools::Interval::new(4, 4).is_empty());
    /// ```
    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }

    /// The part of `self` inside `window`, or `None` when they do not overlap.
    ///
    /// ```
    /// use tools::Interval;
    /// assert_eq!(Interval::new(0, 10).clip(Interval::new(20, 30)), None);
    /// ```
    pub fn clip(self, window: Interval) -> Option<Interval> {
        let start = self.start.max(window.start);
        let end = self.end.min(window.end);
        (start < end).then_some(Interval { start, end })
    }

    /// Whether the two share some time.
    ///
    /// ```
    /// use tools::Interval;
    /// assert!(Interval::new(0, 10).overlaps(Interval::new(9, 12)));
    /// assert!(!Interval::new(0, 10).overlaps(Interval::new(10, 12)));
    /// ```
    pub fn overlaps(self, other: Interval) -> bool {
        self.clip(other).is_some()
    }
}

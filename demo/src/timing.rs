//! Frame timing as a player sees it: when each frame completed, and the spread of the intervals
//! between completions (mean, 99th percentile, worst), beside the interval between submissions.
//!
//! With frames in flight the two differ: on the job system `Frames::run_frame` returns as soon
//! as there is room for the next frame, so its returns come in bursts and stalls (a return that
//! waited for the oldest frame, then one that did not) while frames still complete one period
//! apart. A frame *completes* when its last pass ends; that is the frame graph's own record
//! ([`frame::FrameStats::completed`]). On rayon-core and on one thread a frame runs to its end
//! before the loop goes on, so both intervals are the same there.

use std::time::{Duration, Instant};

/// The mean, the 99th percentile and the worst of a run's intervals: frame-time consistency is
/// in the last two, not in the mean.
///
/// ```
/// use std::time::Duration;
/// use demo::timing::Spread;
/// let ms = Duration::from_millis;
/// let intervals: Vec<Duration> = (1..=100).map(ms).collect();
/// let spread = Spread::of(&intervals);
/// assert_eq!(spread.mean, Duration::from_micros(50_500));
/// assert_eq!(spread.p99, ms(99)); // the 99th of 100, in order
/// assert_eq!(spread.worst, ms(100));
/// assert_eq!(Spread::of(&[]), Spread::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spread {
    /// The sum over the count (zero without intervals).
    pub mean: Duration,
    /// The 99th percentile, nearest rank: the smallest interval that at least 99% of them do
    /// not exceed (zero without intervals).
    pub p99: Duration,
    /// The longest (zero without intervals).
    pub worst: Duration,
}

impl Spread {
    /// The spread of `intervals`, in any order.
    pub fn of(intervals: &[Duration]) -> Spread {
        if intervals.is_empty() {
            return Spread::default();
        }
        let mut sorted = intervals.to_vec();
        sorted.sort_unstable();
        // Nearest rank: ceil(0.99 n), from 1; n >= 1 here, so the rank is too.
        let rank = (sorted.len() * 99).div_ceil(100);
        let sum: Duration = sorted.iter().sum();
        // Whole nanoseconds, rounded down: the sum over the count exactly, as far as it goes.
        let mean = sum.as_nanos() / sorted.len() as u128;
        Spread {
            mean: Duration::from_nanos(u64::try_from(mean).unwrap_or(u64::MAX)),
            p99: sorted[rank - 1],
            worst: sorted[sorted.len() - 1],
        }
    }
}

/// The differences between consecutive times: `times.len() - 1` intervals (none for fewer than
/// two times). Times that go backwards give zero.
///
/// ```
/// use std::time::Duration;
/// let ms = Duration::from_millis;
/// assert_eq!(demo::timing::intervals(&[ms(3), ms(10), ms(12)]), [ms(7), ms(2)]);
/// assert!(demo::timing::intervals(&[ms(3)]).is_empty());
/// ```
pub fn intervals(times: &[Duration]) -> Vec<Duration> {
    times
        .windows(2)
        .map(|pair| pair[1].saturating_sub(pair[0]))
        .collect()
}

/// When a run's frames were submitted and completed, from the run's start.
#[derive(Clone, Debug)]
pub(crate) struct FrameTimes {
    start: Instant,
    /// When the loop had handed each frame over (`run_frame` returned, or the frame ran).
    pub(crate) submitted: Vec<Duration>,
    /// When each frame completed, in frame order.
    pub(crate) completed: Vec<Duration>,
}

impl FrameTimes {
    /// Times from now, with room for `frames` frames (up to 65,536; a longer run grows).
    pub(crate) fn new(frames: u64) -> FrameTimes {
        let room = usize::try_from(frames.min(1 << 16)).unwrap_or(0);
        FrameTimes {
            start: Instant::now(),
            submitted: Vec::with_capacity(room),
            completed: Vec::with_capacity(room),
        }
    }

    /// The run's start.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// The loop has handed over its next frame at `at`.
    pub(crate) fn submitted(&mut self, at: Instant) {
        self.submitted
            .push(at.saturating_duration_since(self.start));
    }

    /// The next frame (in frame order) completed at `at`.
    pub(crate) fn completed(&mut self, at: Instant) {
        self.completed
            .push(at.saturating_duration_since(self.start));
    }

    /// Frames completed so far.
    pub(crate) fn completions(&self) -> usize {
        self.completed.len()
    }
}

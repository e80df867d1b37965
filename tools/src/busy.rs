//! A lane's busy time: the union of its job spans.
//!
//! Spans nest on a lane (a job that waits inside runs others), so the time a lane was busy is the
//! union of its spans, not their sum. Back-to-back spans share their boundary, so the gaps of the
//! union are exactly the time the lane had no job.

use serde::Serialize;

use crate::time::{Interval, Nanos};
use crate::trace::Span;

/// When a lane was running a job: disjoint intervals in time order, touching ones merged.
///
/// ```
/// use tools::{busy::Busy, Interval};
/// // A span with one nested in it, then a separate one.
/// let busy = Busy::from_intervals([Interval::new(0, 10), Interval::new(2, 5), Interval::new(20, 30)]);
/// assert_eq!(busy.intervals(), [Interval::new(0, 10), Interval::new(20, 30)]);
/// assert_eq!(busy.within(Interval::new(5, 25)), 10);
/// assert_eq!(busy.gaps(Interval::new(0, 40)), [Interval::new(10, 20), Interval::new(30, 40)]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Busy {
    intervals: Vec<Interval>,
}

impl Busy {
    /// The union of a lane's spans.
    ///
    /// ```
    /// let trace = tools::Trace::from_json(r#"{"traceEvents":[
    ///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":10.0,"name":"wait"},
    ///   {"ph":"X","pid":1,"tid":0,"ts":4.0,"dur":2.0,"name":"inner"}]}"#)?;
    /// let busy = tools::busy::Busy::of(&trace.lanes[0].spans);
    /// assert_eq!(busy.within(trace.window), 10_000);
    /// # Ok::<(), tools::TraceError>(())
    /// ```
    pub fn of(spans: &[Span]) -> Busy {
        Busy::from_intervals(spans.iter().map(|span| span.time))
    }

    /// The union of any intervals, in any order.
    ///
    /// ```
    /// use tools::{busy::Busy, Interval};
    /// let busy = Busy::from_intervals([Interval::new(5, 8), Interval::new(0, 5)]);
    /// assert_eq!(busy.intervals(), [Interval::new(0, 8)]);
    /// ```
    pub fn from_intervals(intervals: impl IntoIterator<Item = Interval>) -> Busy {
        let mut sorted: Vec<Interval> = intervals.into_iter().filter(|i| !i.is_empty()).collect();
        if !sorted.is_sorted_by_key(|interval| interval.start) {
            sorted.sort_unstable_by_key(|interval| interval.start);
        }
        let mut merged: Vec<Interval> = Vec::with_capacity(sorted.len());
        for interval in sorted {
            match merged.last_mut() {
                Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
                _ => merged.push(interval),
            }
        }
        Busy { intervals: merged }
    }

    /// The disjoint busy intervals, in time order.
    ///
    /// ```
    /// assert!(tools::busy::Busy::default().intervals().is_empty());
    /// ```
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    /// The busy intervals that overlap `window`, clipped to it.
    ///
    /// ```
    /// use tools::{busy::Busy, Interval};
    /// let busy = Busy::from_intervals([Interval::new(0, 10), Interval::new(20, 30)]);
    /// assert_eq!(busy.clipped(Interval::new(5, 22)).collect::<Vec<_>>(),
    ///            [Interval::new(5, 10), Interval::new(20, 22)]);
    /// ```
    pub fn clipped(&self, window: Interval) -> impl Iterator<Item = Interval> + '_ {
        let first = self.intervals.partition_point(|i| i.end <= window.start);
        self.intervals[first..]
            .iter()
            .take_while(move |i| i.start < window.end)
            .filter_map(move |i| i.clip(window))
    }

    /// Busy time inside `window`, in nanoseconds.
    ///
    /// ```
    /// use tools::{busy::Busy, Interval};
    /// let busy = Busy::from_intervals([Interval::new(0, 10)]);
    /// assert_eq!(busy.within(Interval::new(-5, 5)), 5);
    /// ```
    pub fn within(&self, window: Interval) -> Nanos {
        self.clipped(window).map(Interval::len).sum()
    }

    /// The idle stretches inside `window`: its parts no busy interval covers, in time order
    /// (including the ones before the first span and after the last).
    ///
    /// ```
    /// use tools::{busy::Busy, Interval};
    /// let busy = Busy::from_intervals([Interval::new(10, 20)]);
    /// assert_eq!(busy.gaps(Interval::new(0, 20)), [Interval::new(0, 10)]);
    /// ```
    pub fn gaps(&self, window: Interval) -> Vec<Interval> {
        let mut gaps = Vec::new();
        let mut idle_from = window.start;
        for busy in self.clipped(window) {
            if busy.start > idle_from {
                gaps.push(Interval::new(idle_from, busy.start));
            }
            idle_from = busy.end;
        }
        if window.end > idle_from {
            gaps.push(Interval::new(idle_from, window.end));
        }
        gaps
    }
}

//! The summary's frame times hang together on every backend: one completion per frame, in
//! order; `frames - 1` intervals between them that add up to the last completion minus the
//! first; mean, 99th percentile and worst taken from those intervals. And they are completions,
//! not submissions: on the job system, with two frames in flight, a frame has completed by the
//! time the frame two after it is submitted (its `run_frame` waited for room), while on rayon
//! and one thread each frame completes as it is handed over. No figure here depends on how fast
//! the machine is.

mod common;

use std::time::Duration;

use common::{run, small_world};
use demo::run::{Backend, Summary};
use demo::timing::Spread;

/// Checks `spread` against `intervals` by the definitions: the mean is the sum over the count,
/// the worst the longest, and the 99th percentile the smallest interval that at least 99% of
/// them do not exceed.
fn check_spread(spread: &Spread, intervals: &[Duration], what: &str) {
    let n = intervals.len();
    let sum: Duration = intervals.iter().sum();
    let mean = Duration::from_nanos((sum.as_nanos() / n as u128) as u64);
    assert_eq!(spread.mean, mean, "{what}: mean");
    assert_eq!(Some(&spread.worst), intervals.iter().max(), "{what}: worst");
    let within = |limit: Duration| intervals.iter().filter(|&&i| i <= limit).count();
    assert!(
        intervals.contains(&spread.p99),
        "{what}: p99 is an interval"
    );
    assert!(100 * within(spread.p99) >= 99 * n, "{what}: p99 too small");
    for &smaller in intervals.iter().filter(|&&i| i < spread.p99) {
        assert!(100 * within(smaller) < 99 * n, "{what}: p99 too large");
    }
}

fn check(summary: &Summary, frames: u64, what: &str) {
    let n = frames as usize;
    assert_eq!(summary.frames, frames, "{what}");
    assert_eq!(
        summary.completions.len(),
        n,
        "{what}: a completion per frame"
    );
    assert_eq!(
        summary.submissions.len(),
        n,
        "{what}: a submission per frame"
    );
    assert_eq!(
        summary.intervals.len(),
        n - 1,
        "{what}: frames - 1 intervals"
    );
    for (i, pair) in summary.completions.windows(2).enumerate() {
        assert!(
            pair[0] <= pair[1],
            "{what}: frame {} completed first",
            i + 1
        );
        assert_eq!(
            summary.intervals[i],
            pair[1] - pair[0],
            "{what}: interval {i}"
        );
    }
    let sum: Duration = summary.intervals.iter().sum();
    assert_eq!(
        sum,
        summary.completions[n - 1] - summary.completions[0],
        "{what}: the intervals add up to the last completion minus the first"
    );
    assert!(summary.completions[n - 1] <= summary.elapsed, "{what}");
    check_spread(&summary.frame_interval, &summary.intervals, what);
    let submission_intervals: Vec<Duration> = summary
        .submissions
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .collect();
    check_spread(
        &summary.submission_interval,
        &submission_intervals,
        &format!("{what}, submissions"),
    );
}

#[test]
fn completion_intervals_add_up_on_every_backend() {
    let frames = 30;
    for (backend, workers) in [
        (Backend::Jobs, 1),
        (Backend::Jobs, 2),
        (Backend::Rayon, 2),
        (Backend::Serial, 1),
    ] {
        let what = format!("{} with {workers} workers", backend.name());
        let summary = run(small_world(5), backend, workers, frames);
        check(&summary, frames, &what);
        if backend == Backend::Jobs {
            // Two frames in flight: `run_frame` for frame n + 2 returned once frame n was done.
            for n in 0..frames as usize - 2 {
                assert!(
                    summary.completions[n] <= summary.submissions[n + 2],
                    "{what}: frame {n} completed after frame {} was submitted",
                    n + 2
                );
            }
        } else {
            assert_eq!(summary.completions, summary.submissions, "{what}");
        }
    }
}

#[test]
fn one_frame_has_a_completion_and_no_interval() {
    let summary = run(small_world(5), Backend::Jobs, 2, 1);
    assert_eq!(summary.completions.len(), 1);
    assert!(summary.intervals.is_empty());
    assert_eq!(summary.frame_interval, Spread::default());
}

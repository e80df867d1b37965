//! `recorder_cost`: what the built-in recorder adds to a job, measured on `empty_spawn` (the
//! cheapest job there is, so the cost is not hidden in the work): the same jobs with the
//! recorder off and on, alternated.

use std::time::Duration;

use jobs::JobSystem;

use crate::compare::{alternate, median, ns_per, range, ratios, Benchmark, Comparison, Settings};
use crate::empty_spawn::{self, JOBS};
use crate::Systems;

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "recorder_cost",
    about: "what recording every job span adds per job, on empty_spawn (ns/job)",
    run: compare,
};

/// One run of `empty_spawn` with the recorder on: `start_recording`, the jobs, then
/// `stop_recording` outside the timed part (collecting is not on the job path). Returns
/// the time of the jobs and the spans recorded.
///
/// # Panics
/// If a recording is already under way, or the recorder dropped spans.
pub fn recording(system: &JobSystem, jobs: usize) -> (Duration, usize) {
    system.start_recording().expect("no recording is under way");
    let elapsed = empty_spawn::ours(system, jobs);
    let trace = system.stop_recording().expect("recording");
    assert_eq!(trace.dropped_spans, 0, "the recorder's memory sufficed");
    (elapsed, trace.spans.len())
}

/// The row: ours is the time added per job (on minus off, round by round), the "peer" the
/// recorder off, and the ratio on/off.
fn compare(settings: &Settings) -> Vec<Comparison> {
    let sys = Systems::new(settings.workers);
    let n = JOBS as u64;
    let mut spans = 0;
    let figures = alternate(settings, 2, |k| match k {
        0 => ns_per(empty_spawn::ours(&sys.ours, JOBS), n),
        _ => {
            let (elapsed, recorded) = recording(&sys.ours, JOBS);
            spans = recorded;
            ns_per(elapsed, n)
        }
    });
    let (off, on) = (&figures[0], &figures[1]);
    let added: Vec<f64> = on.iter().zip(off).map(|(on, off)| on - off).collect();
    let on_off = ratios(on, off);
    vec![Comparison {
        name: BENCHMARK.name,
        unit: "ns/job added",
        ours: median(&added),
        peer: "recorder off",
        peer_value: median(off),
        ratio: median(&on_off),
        ours_range: range(&added),
        peer_range: range(off),
        ratio_range: range(&on_off),
        rounds: on_off.len(),
        peer_does: "the same 1M empty spawned jobs with the recorder off; ratio = on/off",
        target: "<= 30 ns/job added",
        extra: vec![
            ("recording_ns_per_job", median(on).into()),
            ("spans_per_run", spans.into()),
        ],
    }]
}

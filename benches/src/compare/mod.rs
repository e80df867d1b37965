//! The quick side-by-side table (`cargo run --release -p benches --bin compare`): a list of
//! benchmarks, each naming the function that measures it and returns its rows.
//!
//! - [`rounds`](alternate): the method, once: ours and the peers alternated A B A B, round by
//!   round, after a warm-up round; medians, and the median of the per-round ratios, each with
//!   its range over the rounds.
//! - [`Lineup`]: a benchmark's contestants as data (ours and each [`Peer`], a function of one
//!   run each); most benchmarks are a lineup measured over the systems they build.
//! - [`Comparison`]: a row, printed as a line of the table or as one JSON object.
//!
//! The benchmarks themselves, with their peers and rows, are the crate's other modules
//! ([`BENCHMARKS`] lists them).

mod lineup;
mod rounds;
mod row;

use std::time::Duration;

pub use lineup::{Lineup, Peer, Unit};
pub use rounds::{alternate, median, median_ratio, range, ratios, Settings};
pub use row::{round4, Comparison};

use crate::{
    background_frames, demo_frame, empty_batch, empty_spawn, graph_overhead, idle_cpu, join_tree,
    parallel_for, pipelined_frames, present_latency, priority_latency, recorder_cost, spawn_tree,
    stranded_work, wake_latency,
};

/// One benchmark of the table.
pub struct Benchmark {
    /// Its name (what `--only` matches, and the `name` of its rows).
    pub name: &'static str,
    /// What it measures, in one line (for `--help`).
    pub about: &'static str,
    /// Builds the systems, measures, returns one row per peer.
    pub run: fn(&Settings) -> Vec<Comparison>,
}

/// Every benchmark, in the order of the table.
///
/// ```
/// let names: Vec<_> = benches::compare::BENCHMARKS.iter().map(|b| b.name).collect();
/// assert_eq!(names[0], "empty_batch");
/// assert!(names.contains(&"spawn_tree"));
/// ```
pub const BENCHMARKS: &[Benchmark] = &[
    empty_batch::BENCHMARK,
    empty_spawn::BENCHMARK,
    recorder_cost::BENCHMARK,
    spawn_tree::BENCHMARK,
    join_tree::BENCHMARK,
    parallel_for::BENCHMARK,
    priority_latency::BENCHMARK,
    idle_cpu::BENCHMARK,
    stranded_work::BENCHMARK,
    wake_latency::BENCHMARK,
    graph_overhead::BENCHMARK,
    pipelined_frames::BENCHMARK,
    demo_frame::BENCHMARK,
    background_frames::BENCHMARK,
    present_latency::BENCHMARK,
];

/// Nanoseconds per item: `d` over `count` items.
///
/// ```
/// assert_eq!(benches::compare::ns_per(std::time::Duration::from_micros(3), 1000), 3.0);
/// ```
pub fn ns_per(d: Duration, count: u64) -> f64 {
    d.as_nanos() as f64 / count as f64
}

/// `d` in microseconds.
pub fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e3
}

/// `d` in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// Microseconds (latencies).
pub const MICROSECONDS: Unit = Unit {
    name: "us",
    figure: us,
};

/// Milliseconds.
pub const MILLISECONDS: Unit = Unit {
    name: "ms",
    figure: ms,
};

#[cfg(test)]
mod tests {
    use super::BENCHMARKS;

    #[test]
    fn names_are_unique_and_filled() {
        for (i, bench) in BENCHMARKS.iter().enumerate() {
            assert!(!bench.name.is_empty() && !bench.about.is_empty());
            assert!(
                BENCHMARKS[..i].iter().all(|b| b.name != bench.name),
                "{} twice",
                bench.name
            );
        }
    }
}

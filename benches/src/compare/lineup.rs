//! A benchmark's contestants as data: ours and its peers, each one run of a function over the
//! systems the benchmark built; measured together, one row per peer.

use std::time::Duration;

use super::rounds::{alternate, Settings};
use super::row::Comparison;

/// The unit of a lineup's figures, and how the duration of one run becomes its figure.
#[derive(Clone, Copy)]
pub struct Unit {
    /// Its name in the table: `ns/job`, `us`, `ms`, `frames/s`, ...
    pub name: &'static str,
    /// The figure of a run that took (or measured, for latencies and CPU time) this long.
    pub figure: fn(Duration) -> f64,
}

/// A peer of ours in one benchmark: its row's words, and one run of it.
pub struct Peer<S: 'static> {
    /// The peer's name in the row: `rayon-core`, `rayon`, `chili`, `bevy_tasks`, ...
    pub name: &'static str,
    /// What it does, as its users write it (the human-readable table).
    pub does: &'static str,
    /// The target of this row (the human-readable table).
    pub target: &'static str,
    /// One run on the benchmark's state `S`: the time it took, or the latency or CPU time it
    /// measured.
    pub run: fn(&mut S) -> Duration,
}

/// Ours and the peers of one benchmark, over a state `S` that the benchmark builds once (its
/// systems, buffers).
///
/// ```
/// use std::time::Duration;
/// use benches::compare::{Lineup, Peer, Settings, Unit};
/// const LINEUP: Lineup<u32> = Lineup {
///     unit: Unit { name: "ns", figure: |d| d.as_nanos() as f64 },
///     ours: |calls| {
///         *calls += 1;
///         Duration::from_nanos(1)
///     },
///     peers: &[Peer { name: "twice", does: "", target: "", run: |_| Duration::from_nanos(2) }],
/// };
/// let mut calls = 0;
/// let rows = LINEUP.measure("toy", &Settings { workers: 1, rounds: 3, warmup: 1 }, &mut calls);
/// assert_eq!(calls, 4);
/// assert_eq!((rows[0].peer, rows[0].ours, rows[0].peer_value, rows[0].ratio), ("twice", 1.0, 2.0, 0.5));
/// ```
pub struct Lineup<S: 'static> {
    /// The unit of every figure.
    pub unit: Unit,
    /// One run of ours.
    pub ours: fn(&mut S) -> Duration,
    /// The peers, a row each, in the order of the table.
    pub peers: &'static [Peer<S>],
}

impl<S> Lineup<S> {
    /// Runs ours and every peer alternately ([`alternate`]), and returns the row of each peer,
    /// named `name`.
    pub fn measure(
        &self,
        name: &'static str,
        settings: &Settings,
        state: &mut S,
    ) -> Vec<Comparison> {
        let figures = alternate(settings, 1 + self.peers.len(), |k| {
            (self.unit.figure)(match k {
                0 => (self.ours)(state),
                k => (self.peers[k - 1].run)(state),
            })
        });
        let (ours, theirs) = figures.split_first().expect("ours is measured");
        self.peers
            .iter()
            .zip(theirs)
            .map(|(peer, theirs)| Comparison::between(name, self.unit.name, ours, peer, theirs))
            .collect()
    }
}

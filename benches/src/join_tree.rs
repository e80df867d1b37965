//! `join_tree`: the tree of `spawn_tree` (2^20 leaves, one fork per node), forked with
//! [`Context::join`] on the stack instead of a spawn-then-continue job per node: the same
//! shape as the peers' `join`.

use std::hint::black_box;
use std::time::Duration;

use jobs::{Context, JobSystem};

use crate::compare::{Benchmark, Comparison, Lineup, Settings};
use crate::spawn_tree::{Pools, DEPTH, JOIN_PEERS, NS_PER_NODE};
use crate::time;

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "join_tree",
    about: "binary tree of Context::join, 2^20 leaves (ns/node)",
    run: compare,
};

const LINEUP: Lineup<Pools> = Lineup {
    unit: NS_PER_NODE,
    ours: |p| ours(&p.systems.ours, DEPTH),
    peers: JOIN_PEERS,
};

fn compare(settings: &Settings) -> Vec<Comparison> {
    LINEUP.measure(BENCHMARK.name, settings, &mut Pools::new(settings.workers))
}

fn tree(cx: &mut Context<'_>, depth: u32) -> u64 {
    if depth == 0 {
        return black_box(1);
    }
    let (left, right) = cx.join(|cx| tree(cx, depth - 1), |cx| tree(cx, depth - 1));
    left + right
}

/// Ours: one job spawned in a `scope` runs the recursion, `Context::join` at every node (the
/// main thread helps while the scope waits, as in `spawn_tree`).
///
/// # Panics
/// If the sum is not `2^depth`.
pub fn ours(system: &JobSystem, depth: u32) -> Duration {
    let mut total = 0u64;
    let elapsed = time(|| system.scope(|s| s.spawn(|cx| total = tree(cx, depth))));
    assert_eq!(total, 1 << depth, "every leaf counted once");
    elapsed
}

#[cfg(test)]
mod tests {
    #[test]
    fn ours_sums_every_leaf() {
        let pools = super::Pools::new(2);
        super::ours(&pools.systems.ours, 12);
    }
}

//! `spawn_tree`: a binary tree of fork-join work that sums its 2^20 leaves, one job (or one
//! `join`) per node. No loop to vectorize: each side's leaf returns `1` through a store or a
//! `black_box`, so no side folds the tree into a constant.

use std::hint::black_box;
use std::time::Duration;

use jobs::{Action, Context, Job, JobSystem, Spawner};

use crate::compare::{ns_per, Benchmark, Comparison, Lineup, Peer, Settings, Unit};
use crate::{chili_pool, time, Systems};

/// Depth of the tree: 2^20 leaves.
pub const DEPTH: u32 = 20;

/// Nodes in a tree of `depth` (leaves included): `2^(depth+1) - 1`.
///
/// ```
/// assert_eq!(benches::spawn_tree::nodes(2), 7);
/// ```
pub fn nodes(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "spawn_tree",
    about: "binary tree of spawn-then-continue jobs, 2^20 leaves (ns/node)",
    run: compare,
};

/// What `spawn_tree` runs on: ours and rayon-core, and a chili pool.
pub struct Pools {
    /// Ours and rayon-core.
    pub systems: Systems,
    /// chili, with the same thread count.
    pub chili: chili::ThreadPool,
}

impl Pools {
    /// Every system with `workers` threads.
    pub fn new(workers: usize) -> Pools {
        Pools {
            systems: Systems::new(workers),
            chili: chili_pool(workers),
        }
    }
}

/// Per node of the tree: [`nodes`]`(DEPTH)` nodes a run.
pub(crate) const NS_PER_NODE: Unit = Unit {
    name: "ns/node",
    figure: |d| ns_per(d, nodes(DEPTH)),
};

/// The peers of both trees (this one and `join_tree`): their `join` recursion.
pub(crate) const JOIN_PEERS: &[Peer<Pools>] = &[
    Peer {
        name: "rayon-core",
        does: "rayon_core::join recursion, 2^20 leaves",
        target: "ratio <= 2",
        run: |p| rayon_core_join(&p.systems.rayon, DEPTH),
    },
    Peer {
        name: "chili",
        does: "chili Scope::join recursion from the main thread, 2^20 leaves",
        target: "(stretch: ratio <= 1)",
        run: |p| chili_join(&p.chili, DEPTH),
    },
];

const LINEUP: Lineup<Pools> = Lineup {
    unit: NS_PER_NODE,
    ours: |p| ours(&p.systems.ours, DEPTH),
    peers: JOIN_PEERS,
};

fn compare(settings: &Settings) -> Vec<Comparison> {
    LINEUP.measure(BENCHMARK.name, settings, &mut Pools::new(settings.workers))
}

struct Node<'a> {
    depth: u32,
    sums: [u64; 2],
    out: &'a mut u64,
}

fn node<'a>(node: &mut Node<'a>, _: &mut Context<'_>) -> Action<Node<'a>> {
    if node.depth == 0 {
        *node.out = 1;
        return Action::Done;
    }
    Action::Spawn(children, sum)
}

fn children<'c, 'a>(parent: &'c mut Node<'a>, spawner: &mut Spawner<'c, '_>) {
    let depth = parent.depth - 1;
    for out in &mut parent.sums {
        spawner.spawn_job(Job::new(
            Node {
                depth,
                sums: [0; 2],
                out,
            },
            node,
        ));
    }
}

fn sum<'a>(node: &mut Node<'a>, _: &mut Context<'_>) -> Action<Node<'a>> {
    *node.out = node.sums[0] + node.sums[1];
    Action::Done
}

/// Times `sum_leaves` and checks that it summed `2^depth` leaves.
fn timed_tree(depth: u32, sum_leaves: impl FnOnce() -> u64) -> Duration {
    let mut total = 0;
    let elapsed = time(|| total = sum_leaves());
    assert_eq!(total, 1 << depth, "every leaf counted once");
    elapsed
}

/// Ours: the root node is spawned in a `scope` (it writes into the caller's stack); a node
/// of depth > 0 returns `Action::Spawn` creating two child nodes that write their sums into
/// its capture, then continues by adding them up; a leaf writes 1.
///
/// # Panics
/// If the sum is not `2^depth`.
pub fn ours(system: &JobSystem, depth: u32) -> Duration {
    timed_tree(depth, || {
        let mut total = 0u64;
        system.scope(|s| {
            s.spawn_job(Job::new(
                Node {
                    depth,
                    sums: [0; 2],
                    out: &mut total,
                },
                node,
            ))
        });
        total
    })
}

fn join_tree(depth: u32) -> u64 {
    if depth == 0 {
        return black_box(1);
    }
    let (left, right) = rayon_core::join(|| join_tree(depth - 1), || join_tree(depth - 1));
    left + right
}

/// rayon-core: `rayon_core::join` recursion, one call per node, inside the pool.
///
/// # Panics
/// If the sum is not `2^depth`.
pub fn rayon_core_join(pool: &rayon_core::ThreadPool, depth: u32) -> Duration {
    timed_tree(depth, || pool.install(|| join_tree(depth)))
}

fn chili_tree(scope: &mut chili::Scope<'_>, depth: u32) -> u64 {
    if depth == 0 {
        return black_box(1);
    }
    let (left, right) = scope.join(|s| chili_tree(s, depth - 1), |s| chili_tree(s, depth - 1));
    left + right
}

/// chili: `Scope::join` recursion, one call per node, on a scope the calling thread opens on
/// the pool (`pool.scope()`, as chili's users write it; the calling thread is one of the
/// pool's threads for the duration).
///
/// # Panics
/// If the sum is not `2^depth`.
pub fn chili_join(pool: &chili::ThreadPool, depth: u32) -> Duration {
    timed_tree(depth, || chili_tree(&mut pool.scope(), depth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_side_sums_every_leaf() {
        // Each side asserts the sum of its tree.
        let pools = Pools::new(2);
        ours(&pools.systems.ours, 10);
        rayon_core_join(&pools.systems.rayon, 10);
        chili_join(&pools.chili, 10);
    }
}

//! `graph_overhead`: what the frame graph's executor costs per pass per frame, with empty
//! passes, on a graph of chains and fans.
//!
//! The graph ([`graph`], [`SHAPE`]): 100 empty passes,
//! - a chain of 24 through transient buffers (pass `i` reads link `i - 1` and writes link `i`;
//!   the last writes an imported resource),
//! - a fan of 52: a root writing a per-frame resource, 50 readers of it (each writing its own
//!   imported resource), and a sink ordered after all 50 (fan-in),
//! - 4 chains of 6 side-effect passes ordered by explicit `after`s.
//!
//! Ours ([`ours`]): a [`Frames`] with 1 or 2 frames in flight runs the compiled graph frame
//! after frame (`run_frame` from the main thread, then `finish`); the figure is the total time
//! over `frames * 100`.
//!
//! The peer ([`rayon_core_dataflow`]): the same 100 empty tasks with the same dependencies (the
//! compiled graph's own lists, [`Dag::from_graph`]) on rayon-core, one frame at a time: a
//! `pool.scope` per frame spawns the passes without dependencies; a pass, when it finishes,
//! decrements an atomic count of unfinished dependencies of each pass after it and spawns those
//! that reach zero. A plain dataflow executor on rayon-core, with no frames in flight.

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use frame::{Frames, Graph, GraphBuilder};
use jobs::JobSystem;

use crate::compare::{alternate, ns_per, Benchmark, Comparison, Peer, Settings};
use crate::{frame_system, frames_of, rayon_pool, run_frames, time};

/// Passes in the graph.
pub const PASSES: usize = 100;

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "graph_overhead",
    about: "frame graph executor, 100 empty passes (chains + fan), 1 and 2 frames in flight (ns/pass/frame)",
    run: compare,
};

/// What `graph_overhead` runs on: ours with 1 and with 2 frames in flight, and the peer.
struct Graphs {
    one: Frames,
    two: Frames,
    pool: rayon_core::ThreadPool,
    dag: Dag,
}

/// Passes run in one measured run.
const PASSES_RUN: u64 = FRAMES * PASSES as u64;

const RAYON_CORE: Peer<Graphs> = Peer {
    name: "rayon-core",
    does: "pool.scope per frame; a pass spawned when its last dependency finishes",
    target: "ours <= 1000 ns/pass/frame",
    run: |g| rayon_core_dataflow(&g.pool, &g.dag, FRAMES),
};

/// Two rows, ours with 1 and with 2 frames in flight, against the same runs of the peer.
fn compare(settings: &Settings) -> Vec<Comparison> {
    let system = frame_system(settings.workers, true);
    let mut g = Graphs {
        one: frames(&system, 1),
        two: frames(&system, 2),
        pool: rayon_pool(settings.workers),
        dag: Dag::from_graph(&graph()),
    };
    let f = alternate(settings, 3, |k| {
        let elapsed = match k {
            0 => ours(&mut g.one, FRAMES),
            1 => ours(&mut g.two, FRAMES),
            _ => (RAYON_CORE.run)(&mut g),
        };
        ns_per(elapsed, PASSES_RUN)
    });
    [(1, &f[0]), (2, &f[1])]
        .into_iter()
        .map(|(in_flight, ours)| Comparison {
            extra: vec![
                ("in_flight", in_flight.into()),
                ("edges", g.dag.edges().into()),
                ("shape", SHAPE.into()),
            ],
            ..Comparison::between(BENCHMARK.name, "ns/pass/frame", ours, &RAYON_CORE, &f[2])
        })
        .collect()
}

/// Frames per measured run.
pub const FRAMES: u64 = 1000;

/// The time step given to every frame (the passes ignore it).
pub const DT: Duration = Duration::from_nanos(16_666_667);

/// The passes of the long chain.
pub const CHAIN: usize = 24;

/// The readers of the fan (between its root and its sink).
pub const FAN_READERS: usize = 50;

/// The short chains, and the passes in each.
pub const SHORT_CHAINS: (usize, usize) = (4, 6);

/// The shape of the graph, in words, for the tables.
pub const SHAPE: &str = "100 empty passes: chain of 24 (transient links) + fan of 52 \
                         (root writes a per-frame resource, 50 readers, sink after all 50) \
                         + 4 chains of 6 (explicit orderings)";

/// The graph: see the [module docs](self) and [`SHAPE`].
///
/// # Panics
/// If it does not compile to exactly [`PASSES`] kept passes.
pub fn graph() -> Graph {
    let mut g = GraphBuilder::new();

    // A chain of 24 through transient links.
    let links: Vec<_> = (0..CHAIN - 1)
        .map(|i| g.transient::<u32>(&format!("link{i}"), 1))
        .collect();
    let chain_out = g.import("chain_out", 0u32);
    g.pass("chain0", links[0].write(), |_, _| {});
    for i in 1..CHAIN - 1 {
        g.pass(
            &format!("chain{i}"),
            (links[i - 1].read(), links[i].write()),
            |_, _| {},
        );
    }
    g.pass(
        &format!("chain{}", CHAIN - 1),
        (links[CHAIN - 2].read(), chain_out.write()),
        |_, _| {},
    );

    // A fan-out of 50 readers of one per-frame resource, then a fan-in.
    let source = g.scratch("fan_source", 0u32);
    g.pass("fan_root", source.write(), |_, _| {});
    let fans: Vec<_> = (0..FAN_READERS)
        .map(|i| {
            let out = g.import(&format!("fan_out{i}"), 0u32);
            g.pass(&format!("fan{i}"), (source.read(), out.write()), |_, _| {})
                .id()
        })
        .collect();
    let mut sink = g.pass("fan_sink", (), |_, _| {}).side_effect();
    for fan in fans {
        sink = sink.after(fan);
    }

    // Short chains by explicit ordering.
    let (chains, length) = SHORT_CHAINS;
    for c in 0..chains {
        let mut previous = None;
        for i in 0..length {
            let mut pass = g
                .pass(&format!("short{c}_{i}"), (), |_, _| {})
                .side_effect();
            if let Some(previous) = previous {
                pass = pass.after(previous);
            }
            previous = Some(pass.id());
        }
    }

    let graph = g.compile().expect("the overhead graph compiles");
    assert_eq!(graph.order().len(), PASSES, "every pass is kept");
    graph
}

/// A [`Frames`] running [`graph`] on `system` with `in_flight` frames in flight.
///
/// # Panics
/// If `in_flight` is not 1 to 3.
pub fn frames(system: &Arc<JobSystem>, in_flight: usize) -> Frames {
    frames_of(system, graph(), in_flight)
}

/// Ours: `frames` runs `count` frames (`run_frame` each, then `finish`); returns the time.
///
/// # Panics
/// If a frame fails (empty passes do not panic).
pub fn ours(frames: &mut Frames, count: u64) -> Duration {
    run_frames(frames, count, DT)
}

/// The dependencies of a graph's passes, for the peer: who comes after whom.
pub struct Dag {
    /// Per pass, the passes that wait for it.
    after: Vec<Vec<u32>>,
    /// Per pass, how many passes it waits for.
    in_degree: Vec<u32>,
    /// Per pass, its dependencies not yet finished this frame.
    pending: Vec<AtomicU32>,
    /// The passes with no dependency.
    roots: Vec<u32>,
}

impl Dag {
    /// The within-frame dependencies of `graph` (what [`Graph::dependencies`] lists: the reduced
    /// edges the frame graph itself waits on).
    pub fn from_graph(graph: &Graph) -> Dag {
        let order = graph.order();
        let index = |name: &str| order.iter().position(|n| *n == name).expect("a kept pass");
        let mut after = vec![Vec::new(); order.len()];
        let mut in_degree = vec![0; order.len()];
        for (i, name) in order.iter().enumerate() {
            let deps = graph.dependencies(name).expect("a kept pass");
            in_degree[i] = deps.len() as u32;
            for d in deps {
                after[index(d)].push(i as u32);
            }
        }
        let roots = (0..order.len() as u32)
            .filter(|&i| in_degree[i as usize] == 0)
            .collect();
        Dag {
            after,
            pending: in_degree.iter().map(|&d| AtomicU32::new(d)).collect(),
            in_degree,
            roots,
        }
    }

    /// Edges in the graph.
    pub fn edges(&self) -> usize {
        self.after.iter().map(Vec::len).sum()
    }

    fn run<'s>(&'s self, scope: &rayon_core::Scope<'s>, pass: u32) {
        black_box(pass);
        for &next in &self.after[pass as usize] {
            if self.pending[next as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                scope.spawn(move |scope| self.run(scope, next));
            }
        }
    }

    /// One frame: every pass once, each after its dependencies.
    fn frame(&self, pool: &rayon_core::ThreadPool) {
        for (pending, &degree) in self.pending.iter().zip(&self.in_degree) {
            pending.store(degree, Ordering::Relaxed);
        }
        pool.scope(|scope| {
            for &root in &self.roots {
                scope.spawn(move |scope| self.run(scope, root));
            }
        });
    }
}

/// The peer: `count` frames of `dag` on rayon-core, one `pool.scope` per frame, each pass
/// spawned when its last dependency finishes; returns the time.
pub fn rayon_core_dataflow(pool: &rayon_core::ThreadPool, dag: &Dag, count: u64) -> Duration {
    time(|| {
        for _ in 0..count {
            dag.frame(pool);
        }
    })
}

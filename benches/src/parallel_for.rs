//! `parallel_for`: the compute-bound [`kernel`] over a million elements into an output slice.
//!
//! Every side runs the kernel inside a loop over elements that the compiler sees whole, so
//! that each vectorizes it the same way (four lanes, `sinf` called per lane): ours'
//! `for_each_mut` loops over its chunk around the body, and the sequential loop, rayon's
//! `par_chunks_mut` and bevy_tasks' `par_chunk_map_mut` loop over their chunk inside the
//! closure, as their users write a kernel. (rayon's `par_iter_mut().enumerate().for_each`,
//! the peer before, called the kernel one element at a time through a closure it did not
//! inline: scalar, and about as slow on 2 threads as the sequential loop on one.) The chunks
//! of rayon and bevy_tasks are those of ours' `Grain::Auto`: 8 per worker.

use std::hint::black_box;
use std::time::Duration;

use bevy_tasks::{ParallelSliceMut as _, TaskPool};
use jobs::{Grain, JobSystem};
use rayon::prelude::*;

use crate::compare::{Benchmark, Comparison, Lineup, Peer, Settings, MILLISECONDS};
use crate::{bevy_pool, kernel, time, Systems};

/// Elements.
pub const ELEMENTS: usize = 1_000_000;

/// The chunk length rayon and bevy_tasks get for `len` elements on `workers` workers: what
/// ours' `Grain::Auto` makes, 8 chunks per worker.
///
/// ```
/// assert_eq!(benches::parallel_for::chunk_len(1_000_000, 2), 62_500);
/// ```
pub fn chunk_len(len: usize, workers: usize) -> usize {
    len.div_ceil(workers.max(1) * 8).max(1)
}

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "parallel_for",
    about: "compute kernel over 1M elements (ms)",
    run: compare,
};

/// What `parallel_for` runs on: ours and rayon-core, a bevy_tasks pool, and the output.
pub struct Pools {
    /// Ours and rayon-core (rayon runs on it).
    pub systems: Systems,
    /// bevy_tasks, with as many threads.
    pub bevy: TaskPool,
    /// The output, [`ELEMENTS`] long, written by every run.
    pub out: Vec<f32>,
}

impl Pools {
    /// Every system with `workers` threads, and the output.
    pub fn new(workers: usize) -> Pools {
        Pools {
            systems: Systems::new(workers),
            bevy: bevy_pool(workers),
            out: vec![0.0; ELEMENTS],
        }
    }
}

const LINEUP: Lineup<Pools> = Lineup {
    unit: MILLISECONDS,
    ours: |p| ours(&p.systems.ours, &mut p.out),
    peers: &[
        Peer {
            name: "sequential",
            does: "plain loop on one thread; speedup = 1/ratio",
            target: "speedup >= 1.9x on 2 workers",
            run: |p| sequential(&mut p.out),
        },
        Peer {
            name: "rayon",
            does: "par_chunks_mut(8 per worker), a loop over each chunk",
            target: "ratio <= 1",
            run: |p| rayon_par_chunks(&p.systems.rayon, &mut p.out),
        },
        Peer {
            name: "bevy_tasks",
            does: "par_chunk_map_mut(8 per worker), a loop over each chunk",
            target: "(informative)",
            run: |p| bevy_par_chunks(&p.bevy, &mut p.out),
        },
    ],
};

fn compare(settings: &Settings) -> Vec<Comparison> {
    LINEUP.measure(BENCHMARK.name, settings, &mut Pools::new(settings.workers))
}

/// Writes `kernel(first + j)` into `chunk[j]`: the loop each peer runs over its chunk.
#[inline]
fn fill(chunk: &mut [f32], first: usize) {
    for (j, o) in chunk.iter_mut().enumerate() {
        *o = kernel(first + j);
    }
}

/// The time `write(out)` takes; `out` then goes through `black_box`, so that no side's
/// writes can be dropped as never read.
fn timed(out: &mut [f32], write: impl FnOnce(&mut [f32])) -> Duration {
    let elapsed = time(|| write(&mut *out));
    black_box(out);
    elapsed
}

/// Ours: `system.for_each_mut(out, Grain::Auto, |i, o| *o = kernel(i))`.
pub fn ours(system: &JobSystem, out: &mut [f32]) -> Duration {
    timed(out, |out| {
        system
            .for_each_mut(out, Grain::Auto, |i, o| *o = kernel(i))
            .expect("the kernel does not panic")
    })
}

/// A sequential loop on the calling thread.
pub fn sequential(out: &mut [f32]) -> Duration {
    timed(out, |out| fill(out, 0))
}

/// rayon: `out.par_chunks_mut(len).enumerate().for_each(|(c, chunk)| for (j, o) in
/// chunk.iter_mut().enumerate() { *o = kernel(c * len + j) })` in the pool, `len` from
/// [`chunk_len`].
pub fn rayon_par_chunks(pool: &rayon_core::ThreadPool, out: &mut [f32]) -> Duration {
    let len = chunk_len(out.len(), pool.current_num_threads());
    timed(out, |out| {
        pool.install(|| {
            out.par_chunks_mut(len)
                .enumerate()
                .for_each(|(c, chunk)| fill(chunk, c * len))
        })
    })
}

/// bevy_tasks: `out.par_chunk_map_mut(pool, len, |c, chunk| for (j, o) in
/// chunk.iter_mut().enumerate() { *o = kernel(c * len + j) })`, `len` from [`chunk_len`]: one
/// task per chunk, the calling thread running tasks too.
pub fn bevy_par_chunks(pool: &TaskPool, out: &mut [f32]) -> Duration {
    let len = chunk_len(out.len(), pool.thread_num());
    timed(out, |mut out| {
        out.par_chunk_map_mut(pool, len, |c, chunk| fill(chunk, c * len));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `side` on 10,000 elements and checks it wrote `kernel(i)` into each.
    fn writes_the_kernel(side: impl Fn(&mut [f32]) -> Duration) {
        let mut out = vec![0.0; 10_000];
        side(&mut out);
        for (i, o) in out.iter().enumerate() {
            assert_eq!(*o, kernel(i), "element {i}");
        }
    }

    #[test]
    fn every_side_writes_the_same_output() {
        let pools = Pools::new(2);
        writes_the_kernel(|out| ours(&pools.systems.ours, out));
        writes_the_kernel(sequential);
        writes_the_kernel(|out| rayon_par_chunks(&pools.systems.rayon, out));
        writes_the_kernel(|out| bevy_par_chunks(&pools.bevy, out));
    }
}

//! Benchmarks of the `jobs` crate ("ours") against its peers, shared by the criterion benches
//! (`cargo bench -p benches`) and the quick side-by-side table
//! (`cargo run --release -p benches --bin compare`).
//!
//! One module per benchmark, holding ours and its peers side by side, doing the same work in
//! the same process, and the benchmark's rows of the table ([`compare::BENCHMARKS`] lists
//! them; `benches/README.md` lists them with their peers). The bodies each do one run and
//! return the figure of that run as a [`Duration`](std::time::Duration) (elapsed time, a
//! latency, or CPU time); the harnesses decide how often to call them. See
//! `shared/BENCHMARKS.md` for the method: alternate ours and the peers A B A B after a
//! warm-up, report the median of each and the median of the per-round ratio ours/peer.
//!
//! What they share:
//! - [`systems`](Systems): ours and the peer pools (rayon-core, bevy_tasks, chili), built
//!   with the same worker count; [`frame_runs`](frame_system) for the frame graph benchmarks;
//! - [`timing`](time): elapsed time, timestamps jobs set, waits and busy loops;
//! - [`kernel`]: the compute kernel;
//! - [`cpu_time`](threads_cpu_ns): CPU clocks of threads and of the machine;
//! - [`compare`]: the table's harness (alternating rounds, medians, rows, JSON).
//!
//! ```
//! // One run of one benchmark, ours and a peer, on the same number of workers.
//! let systems = benches::Systems::new(2);
//! let ours = benches::empty_spawn::ours(&systems.ours, 1000);
//! let rayon = benches::empty_spawn::rayon_core_scope(&systems.rayon, 1000);
//! assert!(ours > std::time::Duration::ZERO && rayon > std::time::Duration::ZERO);
//! ```

pub mod compare;

mod cpu_time;
mod frame_runs;
mod kernel;
mod systems;
mod timing;

pub mod background_frames;
pub mod demo_frame;
pub mod empty_batch;
pub mod empty_spawn;
pub mod graph_overhead;
pub mod idle_cpu;
pub mod join_tree;
pub mod parallel_for;
pub mod pipelined_frames;
pub mod present_latency;
pub mod priority_latency;
pub mod recorder_cost;
pub mod spawn_tree;
pub mod stranded_work;
pub mod wake_latency;

pub use cpu_time::{machine_busy_ns, threads_cpu_ns};
pub use frame_runs::{frame_system, frames_of, run_frames};
pub use kernel::kernel;
pub use systems::{
    bevy_pool, chili_pool, ours_config, rayon_pool, workers_from_env, Systems, BEVY_THREAD_PREFIX,
    DEFAULT_WORKERS, OURS_THREAD_PREFIX, PEER_THREAD_PREFIX, WORKERS_ENV,
};
pub use timing::{now_ns, repeat, sleep_until, spin_for, time, Stamp};

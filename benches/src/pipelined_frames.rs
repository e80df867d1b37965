//! `pipelined_frames`: what frames in flight buy on a two-stage frame.
//!
//! The graph ([`graph`]): `simulate` reads the previous frame's copy of a per-frame `state` and
//! writes this frame's; `render` reads this frame's `state` and writes an imported `image`.
//! Each stage is one job (no fan-out) running a busy loop of [`kernel`] calls,
//! calibrated once per process to take [`STAGE`] on one core ([`calibrate`]): a fixed amount of
//! work, not a wait on the clock, so that a stage preempted by another thread takes longer.
//!
//! With 1 frame in flight the two stages of a frame run one after the other, so a frame takes
//! two stages' time; with 2, `simulate` of frame N + 1 runs beside `render` of frame N, so on
//! 2 workers a frame ideally takes one stage's time: twice the frame rate.
//!
//! Figures: frames per second over [`FRAMES`] frames (`run_frame` each, then `finish`) with 2
//! frames in flight ([`ours`] on [`frames`]`(.., 2, ..)`) against 1 in flight, and against the
//! two stages run back to back on the calling thread ([`sequential`]: the frame rate with no
//! executor and no overlap).
//!
//! 2 frames in flight need both cores for the whole run, 1 in flight needs one: on a machine
//! shared with other processes the ratio falls with the load. So `compare` also reports, for
//! the 2-in-flight runs (medians), `cores_used`, the CPU time of all our threads per second
//! ([`threads_cpu_ns`] of every thread: about 2 when both cores were
//! ours throughout, running stages or spinning between them), and `other_processes_cores`, the
//! CPU time every other process took per second ([`machine_busy_ns`]
//! less ours; clock ticks, so to about 0.05 core). A ratio far below 2 with
//! `other_processes_cores` near 0 is the frame graph's doing; with it near 1, the machine's.

use std::hint::black_box;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use frame::{Frames, Graph, GraphBuilder};
use jobs::JobSystem;

use crate::compare::{median, round4, Benchmark, Comparison, Lineup, Peer, Settings, Unit};
use crate::{frame_system, frames_of, kernel, machine_busy_ns, run_frames, threads_cpu_ns, time};

/// How long each stage's busy loop takes on an otherwise idle core (about half a frame at the
/// ideal rate with 2 frames in flight).
pub const STAGE: Duration = Duration::from_millis(1);

/// Frames per measured run.
pub const FRAMES: u64 = 200;

/// The time step given to every frame.
pub const DT: Duration = Duration::from_nanos(16_666_667);

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "pipelined_frames",
    about: "two 1 ms stages per frame: frames/s with 2 frames in flight over 1 in flight",
    run: compare,
};

/// What `pipelined_frames` runs on, and what it saw of the cores during the 2-in-flight runs.
struct Pipeline {
    two: Frames,
    one: Frames,
    iterations: u64,
    /// Per 2-in-flight run, in cores: the CPU time of all our threads per second (about 2
    /// when both cores were ours throughout).
    cores: Vec<f64>,
    /// Per 2-in-flight run, in cores: the CPU time of every other process per second.
    others: Vec<f64>,
}

impl Pipeline {
    /// One run of ours with 2 frames in flight: its time; the cores used go to `cores` and
    /// `others`.
    fn two_in_flight(&mut self) -> Duration {
        let (ours_before, all_before) = (threads_cpu_ns(""), machine_busy_ns());
        let elapsed = ours(&mut self.two, FRAMES);
        let mine = threads_cpu_ns("").saturating_sub(ours_before);
        let all = machine_busy_ns().saturating_sub(all_before);
        let seconds = elapsed.as_secs_f64();
        self.cores.push(mine as f64 / 1e9 / seconds);
        self.others
            .push(all.saturating_sub(mine) as f64 / 1e9 / seconds);
        elapsed
    }
}

const LINEUP: Lineup<Pipeline> = Lineup {
    unit: Unit {
        name: "frames/s",
        figure: |d| rate(FRAMES, d),
    },
    ours: Pipeline::two_in_flight,
    peers: &[
        Peer {
            name: "1 in flight",
            does: "same graph, 1 frame in flight; ratio = speedup (higher is better)",
            target: "ratio >= 1.8",
            run: |p| ours(&mut p.one, FRAMES),
        },
        Peer {
            name: "sequential",
            does: "both stages back to back on one thread; ratio = speedup (ideal 2)",
            target: "(informative)",
            run: |p| sequential(p.iterations, FRAMES),
        },
    ],
};

/// The lineup's rows, each with the cores seen during the measured 2-in-flight runs.
fn compare(settings: &Settings) -> Vec<Comparison> {
    let iterations = calibrate();
    let system = frame_system(settings.workers, false);
    let mut pipeline = Pipeline {
        two: frames(&system, 2, iterations),
        one: frames(&system, 1, iterations),
        iterations,
        cores: Vec::new(),
        others: Vec::new(),
    };
    let mut rows = LINEUP.measure(BENCHMARK.name, settings, &mut pipeline);
    let measured = |v: &[f64]| round4(median(&v[settings.warmup.min(v.len())..]));
    let (cores, others) = (measured(&pipeline.cores), measured(&pipeline.others));
    for row in &mut rows {
        row.extra = vec![
            ("in_flight", 2.into()),
            ("stage_ms", (STAGE.as_secs_f64() * 1e3).into()),
            ("cores_used", cores.into()),
            ("other_processes_cores", others.into()),
        ];
    }
    rows
}

/// The busy loop: `iterations` calls of [`kernel`], summed (so none is optimised away).
pub fn busy(iterations: u64) -> f32 {
    let mut sum = 0.0f32;
    for i in 0..iterations {
        sum += kernel(black_box(i as usize));
    }
    black_box(sum)
}

/// The iterations of [`busy`] that take [`STAGE`] here: measured once per process (the
/// fastest of several timed runs, so a run slowed by another thread does not count).
pub fn calibrate() -> u64 {
    static ITERATIONS: OnceLock<u64> = OnceLock::new();
    *ITERATIONS.get_or_init(|| {
        const PROBE: u64 = 4096;
        busy(PROBE); // warm up
        let fastest = (0..15)
            .map(|_| {
                let start = Instant::now();
                busy(PROBE);
                start.elapsed()
            })
            .min()
            .expect("15 runs");
        let per_iteration = fastest.as_secs_f64() / PROBE as f64;
        ((STAGE.as_secs_f64() / per_iteration).round() as u64).max(1)
    })
}

/// The two-stage graph, each stage `iterations` of [`busy`].
pub fn graph(iterations: u64) -> Graph {
    let mut g = GraphBuilder::new();
    let state = g.scratch("state", 0.0f32);
    let image = g.import("image", 0.0f32);
    g.pass(
        "simulate",
        (state.read_previous(), state.write()),
        move |(before, now), _| *now = *before * 0.5 + busy(iterations),
    );
    g.pass(
        "render",
        (state.read(), image.write()),
        move |(now, image), _| *image = *now + busy(iterations),
    );
    let graph = g.compile().expect("the pipeline compiles");
    debug_assert_eq!(graph.order(), ["simulate", "render"]);
    graph
}

/// A [`Frames`] running [`graph`]`(iterations)` on `system` with `in_flight` frames in flight.
///
/// # Panics
/// If `in_flight` is not 1 to 3.
pub fn frames(system: &Arc<JobSystem>, in_flight: usize, iterations: u64) -> Frames {
    frames_of(system, graph(iterations), in_flight)
}

/// Ours: `frames` runs `count` frames (`run_frame` each, then `finish`); returns the time.
///
/// # Panics
/// If a frame fails (the stages do not panic).
pub fn ours(frames: &mut Frames, count: u64) -> Duration {
    run_frames(frames, count, DT)
}

/// The reference: `count` frames of the two stages back to back on the calling thread.
pub fn sequential(iterations: u64, count: u64) -> Duration {
    time(|| {
        let mut state = 0.0f32;
        let mut image = 0.0f32;
        for _ in 0..count {
            state = state * 0.5 + busy(iterations);
            image = state + busy(iterations);
        }
        black_box(image);
    })
}

/// Frames per second of `count` frames that took `elapsed`.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

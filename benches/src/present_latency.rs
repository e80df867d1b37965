//! `present_latency`: how soon a main-thread pass (a present) starts once the pass it reads
//! has ended, while the game loop paces its turns. The main thread is asleep then, or should
//! be: the loop waits for the next turn.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use frame::{Frames, GameLoop, GraphBuilder};
use jobs::JobSystem;

use crate::compare::{median, Benchmark, Comparison, Lineup, Peer, Settings, MICROSECONDS};
use crate::{now_ns, ours_config, spin_for};

/// This benchmark in the table.
pub const BENCHMARK: Benchmark = Benchmark {
    name: "present_latency",
    about: "main-thread present starts after its input pass ends, loop paced at 100 Hz (us)",
    run: compare,
};

/// Turns (frames) a run paces.
pub const TURNS: u64 = 20;

/// The loop's rate: a turn every 10 ms.
pub const RATE: f64 = 100.0;

/// How long the worker pass before the present runs.
pub const RENDER: Duration = Duration::from_micros(300);

const LINEUP: Lineup<Arc<JobSystem>> = Lineup {
    unit: MICROSECONDS,
    ours: |system| ours(system),
    peers: &[Peer {
        name: "sleep, then run_pinned",
        does: "the same loop sleeping until the next turn, running main-thread jobs after its frames (GameLoop before issue 12)",
        target: "ours <= 100 us",
        run: |system| sleep_then_run_pinned(system),
    }],
};

fn compare(settings: &Settings) -> Vec<Comparison> {
    // Made here: the thread running the benchmark is the system's main thread.
    let system = Arc::new(
        JobSystem::new(ours_config(settings.workers)).expect("the benchmark's configuration"),
    );
    LINEUP.measure(BENCHMARK.name, settings, &mut system.clone())
}

/// Per frame: when the render pass ended and when the present started (ns, `now_ns`).
type Times = Arc<Mutex<Vec<(u64, u64, u64)>>>;

/// Frames of a render pass on a worker ([`RENDER`] long) and a present on the main thread,
/// which record their times into the returned list.
fn frames(system: &Arc<JobSystem>) -> (Frames, Times) {
    let times = Times::default();
    let mut graph = GraphBuilder::new();
    let image = graph.import("image", 0u64);
    let ends = Arc::new(Mutex::new(Vec::new()));
    let e = ends.clone();
    graph.pass("render", image.write(), move |image, cx| {
        spin_for(RENDER);
        *image += 1;
        e.lock().unwrap().push((cx.frame().number, now_ns()));
    });
    let t = times.clone();
    graph
        .pass("present", image.read(), move |_, cx| {
            let started = now_ns();
            let frame = cx.frame().number;
            if let Some(&(_, ended)) = ends.lock().unwrap().iter().find(|(f, _)| *f == frame) {
                t.lock().unwrap().push((frame, ended, started));
            }
        })
        .on_main_thread()
        .side_effect();
    let graph = graph.compile().expect("a valid graph");
    (Frames::new(system.clone(), graph).expect("frames"), times)
}

/// The median of the frames' render-end-to-present-start latencies.
fn latency(times: &Times) -> Duration {
    let latencies: Vec<f64> = times
        .lock()
        .unwrap()
        .iter()
        .map(|&(_, ended, started)| started.saturating_sub(ended) as f64)
        .collect();
    assert!(!latencies.is_empty(), "no frame was presented");
    Duration::from_nanos(median(&latencies) as u64)
}

/// Ours: `GameLoop::new(RATE).target_rate(RATE)` for [`TURNS`] turns; between turns it runs
/// main-thread passes as they become ready (`run_pinned_until`). Returns the median latency.
///
/// # Panics
/// If a frame fails.
pub fn ours(system: &Arc<JobSystem>) -> Duration {
    let (mut frames, times) = frames(system);
    let game_loop = GameLoop::new(RATE)
        .and_then(|l| l.target_rate(RATE))
        .expect("valid rates");
    game_loop
        .run(&mut frames, |turn| {
            Ok(if turn.turn >= TURNS {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })
        .expect("the frames do not fail");
    latency(&times)
}

/// The loop as `GameLoop` ran it before issue 12: a frame a turn, then the main thread's
/// pinned jobs (`run_pinned`), then sleep until the next turn is due.
///
/// # Panics
/// If a frame fails.
pub fn sleep_then_run_pinned(system: &Arc<JobSystem>) -> Duration {
    let (mut frames, times) = frames(system);
    let period = Duration::from_secs_f64(1.0 / RATE);
    let mut deadline = std::time::Instant::now();
    for _ in 0..TURNS {
        frames.run_frame(period).expect("the frames do not fail");
        let _ = system.run_pinned();
        deadline += period;
        std::thread::sleep(deadline.saturating_duration_since(std::time::Instant::now()));
    }
    frames.finish().expect("the frames do not fail");
    latency(&times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_present_every_frame() {
        let system = Arc::new(JobSystem::new(ours_config(2)).unwrap());
        let (mut frames, times) = frames(&system);
        frames.run_frame(Duration::ZERO).unwrap();
        frames.finish().unwrap();
        assert_eq!(times.lock().unwrap().len(), 1);
        ours(&system);
        sleep_then_run_pinned(&system);
    }
}

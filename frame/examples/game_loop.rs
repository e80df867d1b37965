//! A frame graph inside a plain game loop, written the way a game would use it.
//!
//! Run with `cargo run --release -p frame --example game_loop` (add `-- --frames 600` to run
//! longer). Bodies orbit an attractor that the "input" moves; each frame computes forces in
//! parallel, integrates, draws into a small text screen, and shows it from the main thread
//! twice a second. Frames overlap: frame N+1 computes forces while frame N draws.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use frame::{Frames, FramesConfig, GraphBuilder};
use jobs::{Config, JobSystem};

const BODIES: usize = 20_000;
const WIDTH: usize = 64;
const HEIGHT: usize = 24;

/// What the main thread hands each frame: where the attractor is.
#[derive(Clone, Default)]
struct Input {
    attractor: [f32; 2],
}

/// A body: position and velocity.
#[derive(Clone, Copy, Default)]
struct Body {
    position: [f32; 2],
    velocity: [f32; 2],
}

fn main() -> Result<(), Box<dyn Error>> {
    let frames_to_run: u64 = match std::env::args().skip_while(|a| a != "--frames").nth(1) {
        Some(n) => n.parse()?,
        None => 300,
    };

    // One worker per core, pinned; the main thread helps when it waits.
    let system = Arc::new(JobSystem::new(Config::default())?);

    // 1. Declare the resources and the passes, once.
    let mut graph = GraphBuilder::new();
    let input = graph.scratch("input", Input::default());
    let start: Vec<Body> = (0..BODIES)
        .map(|i| {
            let angle = i as f32 * 0.618_034 * std::f32::consts::TAU;
            let radius = 0.2 + 0.6 * (i as f32 / BODIES as f32);
            Body {
                position: [radius * angle.cos(), radius * angle.sin()],
                velocity: [-angle.sin() * 0.5, angle.cos() * 0.5],
            }
        })
        .collect();
    let bodies = graph.scratch("bodies", start);
    let forces = graph.transient::<[f32; 2]>("forces", BODIES);
    let screen = graph.import("screen", vec![0u16; WIDTH * HEIGHT]);

    // Forces: many jobs, each a chunk of bodies, reading last frame's positions. Each job
    // borrows its own part of `forces` until the pass ends.
    graph.pass(
        "forces",
        (input.read(), bodies.read_previous(), forces.write()),
        |(input, before, forces), cx| {
            let [ax, ay] = input.attractor;
            for (out, old) in forces.chunks_mut(1024).zip(before.chunks(1024)) {
                cx.spawn_fn(move |_| {
                    for (f, body) in out.iter_mut().zip(old) {
                        let [x, y] = body.position;
                        let (dx, dy) = (ax - x, ay - y);
                        let d2 = dx * dx + dy * dy + 0.05;
                        let k = 0.3 / (d2 * d2.sqrt());
                        *f = [dx * k, dy * k];
                    }
                });
            }
        },
    );
    // Integrate: this frame's positions from last frame's and the forces.
    graph.pass(
        "integrate",
        (forces.read(), bodies.read_previous(), bodies.write()),
        |(forces, before, after), cx| {
            let dt = cx.frame().dt.as_secs_f32();
            for ((now, old), f) in after.iter_mut().zip(before.iter()).zip(forces.iter()) {
                let v = [old.velocity[0] + f[0] * dt, old.velocity[1] + f[1] * dt];
                *now = Body {
                    velocity: v,
                    position: [old.position[0] + v[0] * dt, old.position[1] + v[1] * dt],
                };
            }
        },
    );
    // Draw: count bodies per character cell, at Low priority (it can wait behind simulation).
    graph
        .pass(
            "draw",
            (bodies.read(), screen.write()),
            |(bodies, screen), _| {
                screen.fill(0);
                for body in bodies.iter() {
                    let col = (body.position[0] + 1.0) * 0.5 * WIDTH as f32;
                    let row = (body.position[1] + 1.0) * 0.5 * HEIGHT as f32;
                    if (0.0..WIDTH as f32).contains(&col) && (0.0..HEIGHT as f32).contains(&row) {
                        let cell = &mut screen[row as usize * WIDTH + col as usize];
                        *cell = cell.saturating_add(1);
                    }
                }
            },
        )
        .priority(jobs::Priority::Low);
    // Present: on the main thread (where a window would be), a side effect: kept though
    // nothing reads what it does.
    graph
        .pass("present", screen.read(), |screen, cx| {
            if cx.frame().number % 30 == 0 {
                print!("{}", render(cx.frame().number, screen));
            }
        })
        .on_main_thread()
        .side_effect();

    // 2. Compile once: order, checks, culling.
    let graph = graph.compile()?;
    println!("pass order: {:?}", graph.order());
    let dot_path = std::env::temp_dir().join("frame_graph.dot");
    std::fs::write(&dot_path, graph.to_dot())?;

    // 3. The game's own loop: events, start a frame, main-thread work, pace.
    let mut frames = Frames::with_config(system, graph, FramesConfig::default().in_flight(2))?;
    let dt = Duration::from_secs_f64(1.0 / 60.0);
    let began = Instant::now();
    let mut next_frame_at = Instant::now();
    for frame in 0..frames_to_run {
        // Events would be polled here; the "input" moves the attractor in a circle.
        let t = frame as f32 * dt.as_secs_f32();
        let mut setup = frames.begin_frame()?; // waits only if 2 frames are still in flight
        setup.per_frame_mut(input)?.attractor = [0.3 * t.cos(), 0.3 * t.sin()];
        setup.start(dt)?;
        // Main-thread passes run here, or while `begin_frame` waits: "present" of the frame
        // before, whose drawing has finished by now.
        frames.system().run_pinned()?;
        // Pace to 60 frames per second: sleep, do not spin.
        next_frame_at += dt;
        if let Some(wait) = next_frame_at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    frames.finish()?;
    let elapsed = began.elapsed();

    // 4. What the frames did, from the graph's own statistics.
    let history = frames.history();
    let n = history.len() as u32;
    let mean = |f: fn(&frame::FrameStats) -> Duration| history.iter().map(f).sum::<Duration>() / n;
    println!(
        "{} frames in {:.2} s; last {} frames: wall {:.2} ms, critical path {:.2} ms, {:.0} jobs, {:.0}% busy",
        frames_to_run,
        elapsed.as_secs_f64(),
        n,
        mean(|f| f.wall).as_secs_f64() * 1e3,
        mean(|f| f.critical_path).as_secs_f64() * 1e3,
        history.iter().map(|f| f.jobs as f64).sum::<f64>() / n as f64,
        100.0 * history.iter().map(|f| f.utilization).sum::<f64>() / n as f64,
    );
    let dot_timed = std::env::temp_dir().join("frame_graph_timed.dot");
    std::fs::write(&dot_timed, frames.to_dot())?;
    println!(
        "graph: {} (with timings: {}); draw it with `dot -Tsvg`",
        dot_path.display(),
        dot_timed.display()
    );
    Ok(())
}

fn render(frame: u64, screen: &[u16]) -> String {
    const SHADES: &[u8] = b" .:-=+*#%@";
    let mut out = format!("\x1b[2J\x1b[Hframe {frame}\n");
    for row in screen.chunks(WIDTH) {
        out.extend(
            row.iter()
                .map(|&n| SHADES[(n as usize).min(SHADES.len() - 1)] as char),
        );
        out.push('\n');
    }
    out
}

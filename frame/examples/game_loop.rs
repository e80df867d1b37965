//! A frame graph inside a game loop, written the way a game would use it.
//!
//! Run with `cargo run --release -p frame --example game_loop` (add `-- --turns 600` to run
//! longer). Bodies orbit an attractor that the "input" moves. The simulation runs at a fixed
//! 60 steps a second (forces in parallel, then integration); the screen is drawn 90 times a
//! second, between two simulation states by the interpolation factor, encoded on a render thread
//! of the game's own (as a renderer records its command lists there) and shown from the main
//! thread twice a second. Frames overlap: the next step computes forces while a frame draws.
//!
//! What the loop shows:
//! - input per step: the closure fills each frame's input (a scratch resource) before it starts;
//! - fixed step, variable render: `simulate()` passes run once per step (0 to 4 a turn),
//!   `render()` passes once a turn and read `alpha`;
//! - read-back: the main thread reads the newest completed frame's state for its status line,
//!   without waiting for the frames in flight;
//! - carried state (the bodies: each frame starts from the previous one's) and scratch (the
//!   input and the screen, written whole every frame);
//! - a render thread: registered with the job system, it runs the pass pinned to it as soon as
//!   it is ready (`run_pinned_until` in its own loop);
//! - a main-thread present with no pacing delay: `GameLoop` runs main-thread passes while it
//!   waits for the next turn, so the present starts when its frame's image is encoded.

use std::error::Error;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use frame::{Frames, FramesConfig, GameLoop, GraphBuilder};
use jobs::{Config, JobSystem};

const BODIES: usize = 20_000;
const WIDTH: usize = 64;
const HEIGHT: usize = 24;

/// What the main thread hands each frame: where the attractor is.
#[derive(Clone, Default)]
struct Input {
    attractor: [f32; 2],
}

/// A body: where it was before the last step, where it is, and its velocity.
#[derive(Clone, Copy, Default)]
struct Body {
    before: [f32; 2],
    position: [f32; 2],
    velocity: [f32; 2],
}

fn main() -> Result<(), Box<dyn Error>> {
    let turns: u64 = match std::env::args().skip_while(|a| a != "--turns").nth(1) {
        Some(n) => n.parse()?,
        None => 300,
    };

    // One worker per core but one, pinned; the main thread helps when it waits.
    let system = Arc::new(JobSystem::new(Config::default())?);

    // The game's render thread: it registers, says which thread it is, and runs the passes
    // pinned to it as they become ready until the game ends.
    let stop = Arc::new(AtomicBool::new(false));
    let (tell, render_thread) = mpsc::channel();
    let render_loop = {
        let (system, stop) = (system.clone(), stop.clone());
        std::thread::Builder::new()
            .name("render".into())
            .spawn(move || {
                let registration = system.register_thread().expect("a slot is free");
                tell.send(registration.thread()).expect("main is listening");
                while !stop.load(Ordering::Acquire) {
                    let _ = system.run_pinned_until(Instant::now() + Duration::from_millis(10));
                }
            })?
    };
    let render_thread = render_thread.recv()?;

    // 1. Declare the resources and the passes, once.
    let mut graph = GraphBuilder::new();
    let input = graph.scratch("input", Input::default());
    let start: Vec<Body> = (0..BODIES)
        .map(|i| {
            let angle = i as f32 * 0.618_034 * std::f32::consts::TAU;
            let radius = 0.2 + 0.6 * (i as f32 / BODIES as f32);
            let position = [radius * angle.cos(), radius * angle.sin()];
            Body {
                before: position,
                position,
                velocity: [-angle.sin() * 0.5, angle.cos() * 0.5],
            }
        })
        .collect();
    let bodies = graph.carried("bodies", start);
    let forces = graph.transient::<[f32; 2]>("forces", BODIES);
    let screen = graph.scratch("screen", vec![0u16; WIDTH * HEIGHT]);
    let encoded = graph.scratch("encoded", String::new());

    // Forces (simulation): many jobs, each a chunk of bodies. Each job borrows its own part of
    // `forces` until the pass ends.
    let forces_pass = graph
        .pass(
            "forces",
            (input.read(), bodies.read(), forces.write()),
            |(input, bodies, forces), cx| {
                let [ax, ay] = input.attractor;
                for (out, bodies) in forces.chunks_mut(1024).zip(bodies.chunks(1024)) {
                    cx.spawn(move |_| {
                        for (f, body) in out.iter_mut().zip(bodies) {
                            let [x, y] = body.position;
                            let (dx, dy) = (ax - x, ay - y);
                            let d2 = dx * dx + dy * dy + 0.05;
                            let k = 0.3 / (d2 * d2.sqrt());
                            *f = [dx * k, dy * k];
                        }
                    });
                }
            },
        )
        .simulate()
        .id();
    // Integrate (simulation): this step's positions from the forces, in place in the carried
    // copy; ordered after `forces`, which reads the bodies before they move.
    graph
        .pass(
            "integrate",
            (forces.read(), bodies.write()),
            |(forces, bodies), cx| {
                let dt = cx.frame().dt.as_secs_f32();
                for (body, f) in bodies.iter_mut().zip(forces.iter()) {
                    let v = [body.velocity[0] + f[0] * dt, body.velocity[1] + f[1] * dt];
                    body.before = body.position;
                    body.velocity = v;
                    body.position = [body.position[0] + v[0] * dt, body.position[1] + v[1] * dt];
                }
            },
        )
        .after(forces_pass)
        .simulate();
    // Draw (render, once a turn): count bodies per character cell, each body between its last
    // two states by `alpha`; at Low priority (it can wait behind the simulation).
    graph
        .pass(
            "draw",
            (bodies.read(), screen.write()),
            |(bodies, screen), cx| {
                let alpha = cx.frame().alpha;
                screen.fill(0);
                for body in bodies.iter() {
                    let x = body.before[0] + (body.position[0] - body.before[0]) * alpha;
                    let y = body.before[1] + (body.position[1] - body.before[1]) * alpha;
                    let col = (x + 1.0) * 0.5 * WIDTH as f32;
                    let row = (y + 1.0) * 0.5 * HEIGHT as f32;
                    if (0.0..WIDTH as f32).contains(&col) && (0.0..HEIGHT as f32).contains(&row) {
                        let cell = &mut screen[row as usize * WIDTH + col as usize];
                        *cell = cell.saturating_add(1);
                    }
                }
            },
        )
        .render()
        .priority(jobs::Priority::Low);
    // Encode (render): on the render thread, as a renderer records its command lists.
    graph
        .pass(
            "encode",
            (screen.read(), encoded.write()),
            |(screen, text), cx| {
                encode(cx.frame().number, screen, text);
            },
        )
        .render()
        .on_thread(render_thread);
    // Present (render): on the main thread (where a window would be), a side effect: kept
    // though nothing reads what it does. It starts as soon as `encode` is done, also while the
    // loop waits for the next turn.
    let mut presented = 0u64;
    graph
        .pass("present", encoded.read(), move |text, _| {
            if presented % 45 == 0 {
                print!("{text}");
            }
            presented += 1;
        })
        .render()
        .on_main_thread()
        .side_effect();

    // 2. Compile once: order, checks, culling.
    let graph = graph.compile()?;
    println!("pass order: {:?}", graph.order());
    let dot_path = std::env::temp_dir().join("frame_graph.dot");
    std::fs::write(&dot_path, graph.to_dot())?;

    // 3. The game loop: 60 simulation steps a second, 90 turns (renders) a second.
    let mut frames = Frames::with_config(system, graph, FramesConfig::default().in_flight(2))?;
    let game_loop = GameLoop::new(60.0)?.target_rate(90.0)?;
    let began = Instant::now();
    let summary = game_loop.run(&mut frames, |turn| {
        if turn.first() {
            // Events would be polled here, once a turn.
            if turn.turn >= turns {
                return Ok(ControlFlow::Break(()));
            }
            if turn.turn % 90 == 0 {
                // The status line reads the newest completed frame: no wait for the frames in
                // flight.
                let done = turn.last_completed_frame();
                let bodies = turn.last_completed(bodies)?;
                let speed = bodies
                    .iter()
                    .map(|b| b.velocity[0].hypot(b.velocity[1]))
                    .sum::<f32>()
                    / BODIES as f32;
                println!(
                    "turn {}: frame {done:?} completed, mean speed {speed:.3}",
                    turn.turn
                );
            }
        }
        // Every frame's input, each simulation step's included: the attractor moves in a
        // circle with the simulation time.
        let t = turn.elapsed.as_secs_f32();
        turn.per_frame_mut(input)?.attractor = [0.3 * t.cos(), 0.3 * t.sin()];
        Ok(ControlFlow::Continue(()))
    })?;
    let elapsed = began.elapsed();
    stop.store(true, Ordering::Release);
    render_loop
        .join()
        .expect("the render thread does not panic");

    // 4. What the frames did, from the graph's own statistics.
    let history = frames.history();
    let n = history.len() as u32;
    let mean = |f: fn(&frame::FrameStats) -> Duration| history.iter().map(f).sum::<Duration>() / n;
    println!(
        "{} turns, {} simulation steps ({} dropped), {} frames in {:.2} s; last {} frames: \
         wall {:.2} ms, critical path {:.2} ms, {:.0} jobs, {:.0}% busy",
        summary.turns,
        summary.steps,
        summary.dropped_steps,
        summary.frames,
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

/// Writes the screen as text into `out`, reusing its memory.
fn encode(frame: u64, screen: &[u16], out: &mut String) {
    use std::fmt::Write;
    const SHADES: &[u8] = b" .:-=+*#%@";
    out.clear();
    let _ = writeln!(out, "\x1b[2J\x1b[Hframe {frame}");
    for row in screen.chunks(WIDTH) {
        out.extend(
            row.iter()
                .map(|&n| SHADES[(n as usize).min(SHADES.len() - 1)] as char),
        );
        out.push('\n');
    }
}

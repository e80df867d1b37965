//! A frame loop on the job system, as a game would write it: every frame fans particle updates
//! out over the workers, a chain job per frame shows the job model (spawn children, continue,
//! request frame memory, continue), and the main thread waits on the frame's counter by running
//! jobs itself. Prints a progress line every second and a summary at the end.
//!
//! This is the job-system tour until the frame graph and the particle demo land on top of it.
//!
//! ```text
//! cargo run --release -- [--frames N] [--particles N] [--workers N]
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use glam::Vec3;
use jobs::{Action, Block, Config, Context, Grain, Job, JobSystem, MemoryError, Tag};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Options {
    frames: usize,
    particles: usize,
    workers: Option<usize>,
}

const USAGE: &str = "usage: demo [--frames N] [--particles N] [--workers N]";

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        frames: 3000,
        particles: 200_000,
        workers: None,
    };
    let mut args = args.skip(1);
    while let Some(flag) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            match value.parse::<usize>() {
                Ok(0) => Err(format!("{name} must be at least 1, got 0")),
                Ok(n) => Ok(n),
                Err(_) => Err(format!("{name} takes a whole number, got {value:?}")),
            }
        };
        match flag.as_str() {
            "--frames" => options.frames = number("--frames")?,
            "--particles" => options.particles = number("--particles")?,
            "--workers" => options.workers = Some(number("--workers")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    Ok(options)
}

#[derive(Clone, Copy)]
struct Particle {
    position: Vec3,
    velocity: Vec3,
}

/// The per-frame chain job: a reduction in children, then frame memory for its result.
struct FrameSummary {
    speeds: Vec<f32>,
    partial: Vec<f32>,
    tag: Tag,
    mean_speed: f32,
}

fn summarize(_s: &mut FrameSummary, _cx: &mut Context<'_>) -> Action<FrameSummary> {
    Action::Spawn(
        |s, spawner| {
            let chunk = s.speeds.len().div_ceil(s.partial.len()).max(1);
            for (speeds, partial) in s.speeds.chunks(chunk).zip(s.partial.iter_mut()) {
                spawner.spawn_fn(move |_| *partial = speeds.iter().sum());
            }
        },
        average,
    )
}

fn average(s: &mut FrameSummary, _cx: &mut Context<'_>) -> Action<FrameSummary> {
    s.mean_speed = s.partial.iter().sum::<f32>() / s.speeds.len().max(1) as f32;
    Action::memory(s.tag, std::mem::size_of::<f32>() * 4, store)
}

fn store(
    s: &mut FrameSummary,
    _cx: &mut Context<'_>,
    memory: Result<Block, MemoryError>,
) -> Action<FrameSummary> {
    if let Ok(mut block) = memory {
        block.cast_slice_mut::<f32>()[0] = s.mean_speed;
    }
    Action::Done
}

fn main() -> ExitCode {
    let options = match parse(std::env::args()) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut config = Config::default();
    if let Some(workers) = options.workers {
        config = config.workers(workers);
    }
    let system = match JobSystem::new(config) {
        Ok(system) => system,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };

    let mut particles: Vec<Particle> = (0..options.particles)
        .map(|i| {
            let a = i as f32 * 0.618;
            Particle {
                position: Vec3::new(a.cos(), 1.0 + (i % 97) as f32 * 0.01, a.sin()),
                velocity: Vec3::ZERO,
            }
        })
        .collect();
    let grain = Grain::fixed(512).expect("512 is not zero");
    let dt = 1.0 / 60.0;
    let started = Instant::now();
    let mut last_report = started;
    let mut frame_times = Vec::with_capacity(options.frames);
    let before = system.stats();
    let mut mean_speed = 0.0;

    for frame in 0..options.frames {
        let frame_start = Instant::now();
        // Simulate: one job per 512 particles.
        let simulated = system.for_each_mut(&mut particles, grain, |_, p| {
            let to_center = -p.position;
            p.velocity += (Vec3::new(0.0, -9.81, 0.0) + to_center * 4.0) * dt;
            p.velocity *= 0.995;
            p.position += p.velocity * dt;
            if p.position.y < 0.0 {
                p.position.y = -p.position.y;
                p.velocity.y = -p.velocity.y * 0.8;
            }
        });
        if let Err(panic) = simulated {
            eprintln!("error: a simulation job panicked: {panic}");
            return ExitCode::FAILURE;
        }
        // Summarize with a job chain keyed to the frame's counter and heap tag.
        let tag = Tag(frame as u64);
        let summary = FrameSummary {
            speeds: particles.iter().map(|p| p.velocity.length()).collect(),
            partial: vec![0.0; 64],
            tag,
            mean_speed: 0.0,
        };
        let counter = system.counter();
        system.submit_counted(&counter, Job::new(summary, summarize));
        if let Err(panic) = system.wait(&counter) {
            eprintln!("error: the frame summary panicked: {panic}");
            return ExitCode::FAILURE;
        }
        system.heap().release(tag);
        frame_times.push(frame_start.elapsed());
        mean_speed =
            particles.iter().map(|p| p.velocity.length()).sum::<f32>() / particles.len() as f32;

        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            let stats = system.stats().since(&before);
            let fps = (frame + 1) as f64 / started.elapsed().as_secs_f64();
            println!(
                "frame {:>5}  {:>6.1} fps  {:>7} jobs/frame  utilization {:>5.1}%",
                frame + 1,
                fps,
                stats.total_jobs() / (frame as u64 + 1),
                100.0 * stats.utilization()
            );
        }
    }

    let stats = system.stats().since(&before);
    frame_times.sort();
    let total: Duration = frame_times.iter().sum();
    let mean = total / frame_times.len().max(1) as u32;
    let p99 = frame_times[(frame_times.len() * 99 / 100).min(frame_times.len() - 1)];
    println!();
    println!("frames              {}", options.frames);
    println!("particles           {}", options.particles);
    println!("workers             {}", system.worker_count());
    println!("mean frame time     {:.3} ms", mean.as_secs_f64() * 1e3);
    println!("p99 frame time      {:.3} ms", p99.as_secs_f64() * 1e3);
    println!(
        "jobs per frame      {}",
        stats.total_jobs() / options.frames as u64
    );
    println!("worker utilization  {:.1}%", 100.0 * stats.utilization());
    println!("mean speed          {mean_speed:.4}");
    ExitCode::SUCCESS
}

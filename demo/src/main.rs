//! The particle demo: a scene from `assets/` simulated through the frame graph, thousands of
//! jobs per frame, with a progress line while it runs and a summary at the end.
//!
//! ```text
//! cargo run --release -- [--scene FILE] [--frames N] [--particles N] [--workers N]
//!                        [--backend jobs|rayon|serial] [--json] [--out DIR] [--snapshot-every N]
//! cargo run --release --features window -- --window [...]
//! ```
//!
//! `--window` shows the particles live in a window, at most 60 frames a second; closing it or
//! pressing Escape ends the run early with the usual summary. It exists only in a build with the
//! cargo feature `window` (minifb, which loads the X11 library when the window opens): a plain
//! build needs no windowing libraries, and there `--window` is an unknown flag (usage message,
//! exit code 2). Where no window can be opened (no display), the run stops with an error and exit
//! code 1.
//!
//! Exit codes: 0 done; 2 a wrong flag or a bad scene file (its error names the file, the line
//! and the key; nothing is written to `--out`); 1 a failure while running.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use demo::run::{self, Backend, Options, Progress, Summary};
use demo::scene;
use demo::sim::World;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    /// Our job system through the frame graph.
    Jobs,
    /// rayon-core, the same kernels.
    Rayon,
    /// One thread.
    Serial,
}

/// A particle simulation on the jobs job system: emitters, forces, collisions, neighbours
/// through a spatial grid, rendering in tiles, PNG snapshots.
#[derive(Parser, Debug)]
#[command(name = "demo", version)]
struct Cli {
    /// The scene file (see assets/). Default: assets/fountain.toml.
    #[arg(long, value_name = "FILE")]
    scene: Option<PathBuf>,
    /// Frames to simulate.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    frames: u64,
    /// About this many particles alive: scales the scene's emitters, capacity 1.25x.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_600_000))]
    particles: Option<u64>,
    /// Worker threads. Default: one per core.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    workers: Option<u64>,
    /// Where the frames run.
    #[arg(long, value_enum, default_value_t = BackendArg::Jobs)]
    backend: BackendArg,
    /// Print the summary as one JSON object (and no table).
    #[arg(long)]
    json: bool,
    /// Write PNG snapshots into this folder.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// A snapshot every N frames (with --out).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    snapshot_every: u64,
    /// Show the particles live in a window, at most 60 frames a second; closing it or Escape
    /// ends the run.
    #[cfg(feature = "window")]
    #[arg(long)]
    window: bool,
    /// Record every job span of the run into FILE, a Chrome trace (Perfetto, chrome://tracing,
    /// or `cargo run --release -p tools -- FILE`). Jobs backend only.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

fn default_scene() -> PathBuf {
    let relative = PathBuf::from("assets/fountain.toml");
    if relative.exists() {
        relative
    } else {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/fountain.toml"
        ))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = cli.scene.clone().unwrap_or_else(default_scene);
    let mut scene = match scene::load(&path) {
        Ok(scene) => scene,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(particles) = cli.particles {
        let factor = particles as f64 / scene.steady_particles().max(1.0);
        for emitter in &mut scene.emitters {
            emitter.rate = (f64::from(emitter.rate) * factor) as f32;
        }
        scene.max_particles = ((particles as f64 * 1.25).ceil() as usize).max(1);
    }
    let workers = cli.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    if let Some(out) = &cli.out {
        if let Err(error) = std::fs::create_dir_all(out) {
            eprintln!("error: cannot create {}: {error}", out.display());
            return ExitCode::from(2);
        }
    }
    if let Some(trace) = &cli.trace {
        if !matches!(cli.backend, BackendArg::Jobs) {
            eprintln!("error: --trace records the job system's jobs: use it with --backend jobs");
            return ExitCode::from(2);
        }
        let folder = trace.parent().filter(|p| !p.as_os_str().is_empty());
        if folder.is_some_and(|folder| !folder.is_dir()) {
            eprintln!(
                "error: cannot write the trace {}: its folder does not exist",
                trace.display()
            );
            return ExitCode::from(2);
        }
    }
    let options = Options {
        backend: match cli.backend {
            BackendArg::Jobs => Backend::Jobs,
            BackendArg::Rayon => Backend::Rayon,
            BackendArg::Serial => Backend::Serial,
        },
        workers,
        frames: cli.frames,
        out: cli.out.clone(),
        snapshot_every: cli.snapshot_every,
        #[cfg(feature = "window")]
        window: cli.window,
        #[cfg(not(feature = "window"))]
        window: false,
        trace: cli.trace.clone(),
    };
    let name = scene.name.clone();
    let mut show = |p: &Progress| {
        let mut line = format!(
            "\rframe {:>6}/{}  {:>6.1} fps",
            p.frame, options.frames, p.fps
        );
        if let Some(jobs) = p.jobs_per_frame {
            line += &format!("  {jobs:>7.0} jobs/frame");
        }
        if let Some(u) = p.utilization {
            line += &format!("  {:>5.1}% busy", 100.0 * u);
        }
        if let Some(n) = p.particles {
            line += &format!("  {n:>8} particles");
        }
        let mut err = std::io::stderr();
        let _ = write!(err, "{line}");
        let _ = err.flush();
    };
    let summary = match run::run(World::new(scene), &options, &mut show) {
        Ok(summary) => summary,
        Err(error) => {
            eprintln!("\nerror: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!();
    if cli.json {
        println!("{}", json(&name, &path, &summary));
    } else {
        print!("{}", table(&name, &path, &summary, cli.out.as_ref()));
    }
    ExitCode::SUCCESS
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn json(name: &str, path: &std::path::Path, s: &Summary) -> serde_json::Value {
    serde_json::json!({
        "scene": name,
        "scene_file": path.display().to_string(),
        "backend": s.backend.name(),
        "workers": s.workers,
        "frames": s.frames,
        "particles": s.particles,
        "mean_frame_ms": ms(s.mean_frame),
        "p99_frame_ms": ms(s.p99_frame),
        "fps": 1.0 / s.mean_frame.as_secs_f64().max(1e-12),
        "jobs_per_frame": s.jobs_per_frame,
        "utilization": s.utilization,
        "snapshots": s.snapshots,
        "trace": s.trace.as_ref().map(|t| serde_json::json!({
            "file": t.path.display().to_string(),
            "spans": t.spans,
            "dropped_spans": t.dropped,
            "frames": t.frames,
        })),
        "checksum": format!("{:016x}", s.checksum),
        "elapsed_s": s.elapsed.as_secs_f64(),
    })
}

fn table(name: &str, path: &std::path::Path, s: &Summary, out: Option<&PathBuf>) -> String {
    let mut rows = vec![
        ("scene", format!("{name} ({})", path.display())),
        (
            "backend",
            format!("{}, {} workers", s.backend.name(), s.workers),
        ),
        (
            "frames",
            format!("{} in {:.2} s", s.frames, s.elapsed.as_secs_f64()),
        ),
        ("particles", s.particles.to_string()),
        (
            "frame time",
            format!(
                "mean {:.2} ms, p99 {:.2} ms ({:.1} fps)",
                ms(s.mean_frame),
                ms(s.p99_frame),
                1.0 / s.mean_frame.as_secs_f64().max(1e-12)
            ),
        ),
    ];
    if let Some(jobs) = s.jobs_per_frame {
        rows.push(("jobs/frame", format!("{jobs:.0}")));
    }
    if let Some(u) = s.utilization {
        rows.push((
            "utilization",
            format!("{:.1}% (job system statistics)", 100.0 * u),
        ));
    }
    if let Some(out) = out {
        rows.push(("snapshots", format!("{} in {}", s.snapshots, out.display())));
    }
    if let Some(t) = &s.trace {
        rows.push((
            "trace",
            format!(
                "{} ({} job spans, {} frames, {} dropped)",
                t.path.display(),
                t.spans,
                t.frames,
                t.dropped
            ),
        ));
    }
    rows.push(("checksum", format!("{:016x}", s.checksum)));
    rows.iter().map(|(k, v)| format!("{k:<12} {v}\n")).collect()
}

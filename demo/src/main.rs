//! The particle demo: a scene from `assets/` simulated through the frame graph, thousands of
//! jobs per frame, with a progress line while it runs and a summary at the end.
//!
//! ```text
//! cargo run --release -- [--scene FILE] [--frames N] [--particles N] [--workers N]
//!                        [--backend jobs|rayon|serial] [--json] [--out DIR] [--snapshot-every N]
//!                        [--trace FILE] [--background-us US]
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
//! Exit codes: 0 done; 2 a wrong flag, a bad scene file (its error names the file, the line
//! and the key) or an output path that cannot be written; 1 a failure while running.
//!
//! Every output path is checked before frame 0: `--trace` must name a file (not a folder) in a
//! folder that exists and takes a new file; `--out` is created if need be and must take a new
//! file. A run that exits with 2 leaves nothing behind: no folder created, no file written.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use demo::run::{self, Backend, Options, Progress, Summary};
use demo::scene;
use demo::sim::World;
use demo::timing::Spread;

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
    /// Run a stream of Low-priority background jobs of this many microseconds beside the frames,
    /// one per worker, filling every idle moment. Jobs backend only.
    #[arg(long, value_name = "US", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    background_us: Option<u64>,
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
        // Scaled rates can leave their range (a scene of a few particles scaled to a million).
        if let Err(invalid) = scene.check() {
            eprintln!(
                "error: --particles {particles} scales {}: {invalid}",
                path.display()
            );
            return ExitCode::from(2);
        }
    }
    let workers = cli.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    // The trace first: it creates nothing, so a refusal leaves nothing behind.
    if let Some(trace) = &cli.trace {
        if !matches!(cli.backend, BackendArg::Jobs) {
            eprintln!("error: --trace records the job system's jobs: use it with --backend jobs");
            return ExitCode::from(2);
        }
        if let Err(error) = check_trace(trace) {
            eprintln!("error: cannot write the trace {}: {error}", trace.display());
            return ExitCode::from(2);
        }
    }
    if cli.background_us.is_some() && !matches!(cli.backend, BackendArg::Jobs) {
        eprintln!(
            "error: --background-us needs the job system's priorities: use it with --backend jobs"
        );
        return ExitCode::from(2);
    }
    if let Some(out) = &cli.out {
        if let Err(error) = prepare_out(out) {
            eprintln!("error: --out {}: {error}", out.display());
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
        background: cli.background_us.map(Duration::from_micros),
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

/// Creates and removes an empty file in `folder`: whether a file can be written there.
fn probe(folder: &Path) -> std::io::Result<()> {
    let path = folder.join(format!(".demo-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)
}

/// `--trace FILE` can be written at the end of the run: not a folder, in a folder that exists
/// and takes a new file (the trace is written beside itself first, then renamed).
fn check_trace(trace: &Path) -> Result<(), String> {
    if trace.is_dir() {
        return Err("it is a folder".to_owned());
    }
    let folder = trace
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !folder.is_dir() {
        return Err("its folder does not exist".to_owned());
    }
    probe(folder).map_err(|e| format!("cannot create a file in {}: {e}", folder.display()))
}

/// Creates the `--out` folder (and its missing parents) and checks that it takes a new file;
/// on failure removes every folder it created.
fn prepare_out(out: &Path) -> Result<(), String> {
    if out.exists() && !out.is_dir() {
        return Err("not a folder".to_owned());
    }
    // The folders that do not exist yet, deepest first: the ones to remove on failure.
    let created: Vec<&Path> = out
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .collect();
    let outcome = std::fs::create_dir_all(out)
        .map_err(|e| format!("cannot create the folder: {e}"))
        .and_then(|()| probe(out).map_err(|e| format!("cannot write in the folder: {e}")));
    if outcome.is_err() {
        for folder in &created {
            // Only empty folders, and only ours.
            let _ = std::fs::remove_dir(folder);
        }
    }
    outcome
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Frames per second from the mean interval between completions (none with fewer than two
/// frames).
fn fps(s: &Summary) -> Option<f64> {
    (!s.intervals.is_empty() && !s.frame_interval.mean.is_zero())
        .then(|| 1.0 / s.frame_interval.mean.as_secs_f64())
}

fn spread_json(spread: &Spread) -> serde_json::Value {
    serde_json::json!({
        "mean": ms(spread.mean),
        "p99": ms(spread.p99),
        "worst": ms(spread.worst),
    })
}

fn spread_text(spread: &Spread) -> String {
    format!(
        "mean {:.2} ms, p99 {:.2} ms, worst {:.2} ms",
        ms(spread.mean),
        ms(spread.p99),
        ms(spread.worst)
    )
}

fn json(name: &str, path: &std::path::Path, s: &Summary) -> serde_json::Value {
    serde_json::json!({
        "scene": name,
        "scene_file": path.display().to_string(),
        "backend": s.backend.name(),
        "workers": s.workers,
        "frames": s.frames,
        "particles": s.particles,
        // Null with fewer than two frames: no interval to describe.
        "completion_interval_ms": (!s.intervals.is_empty()).then(|| spread_json(&s.frame_interval)),
        "submission_interval_ms": (!s.intervals.is_empty()).then(|| spread_json(&s.submission_interval)),
        "fps": fps(s),
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
                "{}{} between completions",
                spread_text(&s.frame_interval),
                fps(s).map_or(String::new(), |fps| format!(" ({fps:.1} fps)"))
            ),
        ),
        (
            "submission",
            format!(
                "{} between submissions ({})",
                spread_text(&s.submission_interval),
                match s.backend {
                    Backend::Jobs => "run_frame returning, 2 frames in flight",
                    Backend::Rayon | Backend::Serial => "each frame runs to its end: as above",
                }
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

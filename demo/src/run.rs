//! Running the simulation frame after frame: on our job system through the frame graph, on
//! rayon-core, or on one thread. All three run the same kernels (`sim`, `render`), so their
//! states are bit-identical and their times comparable.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use frame::{Frames, FramesConfig, GraphBuilder, Pass, Read};
use jobs::{Action, Context, JobSystem, Priority};

use crate::background::Background;
use crate::render::{self, Image};
use crate::sim::{self, Inline, Particles, World, BANDS, CHUNK};
use crate::timing::{self, FrameTimes, Spread};
use crate::window::Window;

/// The simulation's fixed time step.
pub const DT: f32 = 1.0 / 60.0;

/// Where the frames run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Our job system, through the frame graph (2 frames in flight).
    Jobs,
    /// A rayon-core thread pool: each stage a scope of the same chunk jobs, frame after frame.
    Rayon,
    /// One thread.
    Serial,
}

impl Backend {
    /// The backend's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Jobs => "jobs",
            Backend::Rayon => "rayon",
            Backend::Serial => "serial",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where.
    pub backend: Backend,
    /// Worker threads (jobs, rayon).
    pub workers: usize,
    /// Frames to simulate.
    pub frames: u64,
    /// Folder for PNG snapshots, if any.
    pub out: Option<PathBuf>,
    /// A snapshot every this many frames (with `out`).
    pub snapshot_every: u64,
    /// Show the frames live in a window (cargo feature `window`; an error without it), at most
    /// 60 a second. Closing the window or pressing Escape ends the run early.
    pub window: bool,
    /// Record every job span of the run into this Chrome trace file (job system only).
    pub trace: Option<PathBuf>,
    /// Run a stream of Low-priority jobs of this length beside the frames, one per worker,
    /// filling every idle moment (job system only; see [`background`](crate::background)).
    pub background: Option<Duration>,
}

/// What the recorder wrote (`Options::trace`).
#[derive(Clone, Debug)]
pub struct TraceSummary {
    /// The trace file.
    pub path: PathBuf,
    /// Job spans in it.
    pub spans: usize,
    /// Spans the recorder could not keep (0: the trace is complete).
    pub dropped: u64,
    /// Frames recorded.
    pub frames: usize,
}

/// A progress report, about once a second.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Frames done.
    pub frame: u64,
    /// Frames per second since the last report.
    pub fps: f64,
    /// Jobs per frame since the last report (job system only).
    pub jobs_per_frame: Option<f64>,
    /// Worker utilization since the last report (job system only).
    pub utilization: Option<f64>,
    /// Particles alive in the newest state the loop has seen (not known to the job system's
    /// loop while frames are in flight).
    pub particles: Option<usize>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The backend.
    pub backend: Backend,
    /// Its workers (1 for serial).
    pub workers: usize,
    /// Frames simulated: `options.frames`, or fewer if the window was closed.
    pub frames: u64,
    /// Particles alive at the end.
    pub particles: usize,
    /// The time between one frame's completion and the next one's (its last pass ended; see
    /// [`timing`]): the frame interval a player sees.
    pub frame_interval: Spread,
    /// The time between one frame's submission and the next one's: when `run_frame` returned
    /// on the job system, which with two frames in flight is only when there was room for the
    /// next frame, not when one was done. On rayon-core and one thread, the same as
    /// `frame_interval` (a frame runs to its end before the next).
    pub submission_interval: Spread,
    /// Jobs per frame, from the job system's statistics (job system only).
    pub jobs_per_frame: Option<f64>,
    /// Worker utilization over the run, from the job system's statistics (job system only).
    pub utilization: Option<f64>,
    /// Snapshots written.
    pub snapshots: u64,
    /// The trace written, if one was asked for.
    pub trace: Option<TraceSummary>,
    /// The final state's checksum.
    pub checksum: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// When each frame completed, from the run's start, in frame order (one per frame).
    pub completions: Vec<Duration>,
    /// The time between each frame's completion and the one before, in order: `frames - 1`
    /// intervals, `completions` differenced (for statistics over part of a run, such as the
    /// steady state after the particles have filled the scene).
    pub intervals: Vec<Duration>,
    /// When each frame was submitted, from the run's start, in frame order (one per frame).
    pub submissions: Vec<Duration>,
}

/// Snapshot bookkeeping shared with the snapshot pass.
#[derive(Default)]
struct Written {
    count: u64,
    error: Option<String>,
}

/// Runs `options.frames` frames of `world`, calling `progress` about once a second. With
/// `options.window`, opens the window on this thread first, and stops early when it is closed.
///
/// A world that fails [`World::check`] (a scene changed in code to values out of range) is an
/// error before anything is allocated.
pub fn run(
    world: World,
    options: &Options,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, String> {
    // Before anything is allocated in proportion to the scene.
    world.check()?;
    let title = format!("{} ({} backend)", world.scene.name, options.backend.name());
    let size = world.scene.image;
    let window = (options.window)
        .then(|| Window::open(&title, size.width as usize, size.height as usize))
        .transpose()?;
    let window = window.as_ref();
    if options.trace.is_some() && options.backend != Backend::Jobs {
        return Err(format!(
            "--trace records the job system's jobs: it needs the jobs backend, not {}",
            options.backend.name()
        ));
    }
    if options.background.is_some() && options.backend != Backend::Jobs {
        return Err(format!(
            "background jobs need the job system's priorities: use the jobs backend, not {}",
            options.backend.name()
        ));
    }
    let written = Arc::new(Mutex::new(Written::default()));
    let mut summary = match options.backend {
        Backend::Jobs => run_jobs(world, options, window, progress, &written)?,
        Backend::Rayon | Backend::Serial => run_pool(world, options, window, progress, &written)?,
    };
    let written = written
        .lock()
        .map_err(|_| "snapshot bookkeeping poisoned")?;
    if let Some(error) = &written.error {
        return Err(error.clone());
    }
    summary.snapshots = written.count;
    Ok(summary)
}

/// The run's frame times, and when to report progress.
struct Clock {
    times: FrameTimes,
    report_at: Instant,
    report_frame: u64,
}

impl Clock {
    fn new(frames: u64) -> Clock {
        let times = FrameTimes::new(frames);
        Clock {
            report_at: times.start(),
            times,
            report_frame: 0,
        }
    }

    /// The loop handed over frame `frame - 1` at `at`: frames per second and frames since the
    /// last report, if a second has passed since it.
    fn submitted(&mut self, at: Instant, frame: u64) -> Option<(f64, u64)> {
        self.times.submitted(at);
        let since = at.saturating_duration_since(self.report_at);
        if since < Duration::from_secs(1) {
            return None;
        }
        let frames = frame - self.report_frame;
        self.report_at = at;
        self.report_frame = frame;
        Some((frames as f64 / since.as_secs_f64(), frames))
    }

    fn summary(self, options: &Options, particles: usize, checksum: u64) -> Summary {
        let elapsed = self.times.start().elapsed();
        let FrameTimes {
            submitted,
            completed,
            ..
        } = self.times;
        let intervals = timing::intervals(&completed);
        Summary {
            backend: options.backend,
            workers: if options.backend == Backend::Serial {
                1
            } else {
                options.workers
            },
            frames: completed.len() as u64,
            particles,
            frame_interval: Spread::of(&intervals),
            submission_interval: Spread::of(&timing::intervals(&submitted)),
            jobs_per_frame: None,
            utilization: None,
            snapshots: 0,
            trace: None,
            checksum,
            elapsed,
            completions: completed,
            intervals,
            submissions: submitted,
        }
    }
}

/// Takes the completion times of the frames that completed since the last call from the frame
/// graph's history (frames complete in order, at most `in_flight` per `run_frame` or `finish`,
/// fewer than the history keeps).
fn collect_completions(frames: &Frames, clock: &mut Clock) -> Result<(), String> {
    let next = clock.times.completions() as u64;
    for stats in frames.history().iter().filter(|s| s.number >= next) {
        if stats.number != clock.times.completions() as u64 {
            return Err(format!(
                "frame {} completed but its statistics are gone from the history",
                clock.times.completions()
            ));
        }
        clock.times.completed(frames.epoch() + stats.completed);
    }
    Ok(())
}

fn snapshot_path(options: &Options, frame: u64) -> Option<PathBuf> {
    let dir = options.out.as_ref()?;
    (frame % options.snapshot_every.max(1) == 0).then(|| dir.join(format!("frame_{frame:05}.png")))
}

/// The snapshot pass's own state.
struct Snapshot {
    options: Options,
    written: Arc<Mutex<Written>>,
    rgba: Vec<u8>,
    png: Vec<u8>,
    path: PathBuf,
}

type SnapshotPass = Pass<Snapshot, Read<Image>>;

/// Encodes the frame's image (a Low priority job), then hands the file write to an I/O thread.
fn snapshot(p: &mut SnapshotPass, _cx: &mut Context<'_>) -> Action<SnapshotPass> {
    let frame = p.frame().number;
    let (state, image) = p.parts();
    let Some(path) = snapshot_path(&state.options, frame) else {
        return Action::Done;
    };
    match render::encode_png(image, &mut state.rgba, &path) {
        Ok(png) => state.png = png,
        Err(error) => {
            record(&state.written, Err(error));
            return Action::Done;
        }
    }
    state.path = path;
    Action::Blocking(
        |p| {
            let state = p.state();
            let outcome = render::write_file(&state.path, &state.png);
            record(&state.written, outcome);
        },
        |_, _| Action::Done,
    )
}

fn record(written: &Mutex<Written>, outcome: Result<(), String>) {
    let mut written = written
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match outcome {
        Ok(()) => written.count += 1,
        Err(error) => {
            written.error.get_or_insert(error);
        }
    }
}

fn run_jobs(
    world: World,
    options: &Options,
    window: Option<&Window>,
    progress: &mut dyn FnMut(&Progress),
    written: &Arc<Mutex<Written>>,
) -> Result<Summary, String> {
    let system = Arc::new(
        // The workers have the cores; the main thread only starts frames (and runs the jobs
        // pinned to it), it does not take a core from a worker while it waits.
        JobSystem::new(
            jobs::Config::default()
                .workers(options.workers)
                .help_while_waiting(false),
        )
        .map_err(|e| e.to_string())?,
    );
    let capacity = world.scene.max_particles;
    let cells = world.grid.cells();
    let image = Image::new(&world);

    let mut graph = GraphBuilder::new();
    let state = graph.scratch("particles", Particles::with_capacity(capacity, cells));
    let staging = graph.import("staging", Particles::with_capacity(capacity, cells));
    let image = graph.scratch("image", image);
    let world = graph.import("world", world);
    let counts = graph.transient::<u32>("alive per chunk", capacity.div_ceil(CHUNK));
    let cell_of = graph.transient::<u32>("cell per particle", capacity);
    let histograms = graph.transient::<u32>("cell counts per band", histogram_len(cells)?);

    // Two pipeline stages (Tracy shows each as a frame set of its own): the simulation of frame
    // N + 1 runs while frame N renders.
    graph
        .pass(
            "count",
            (state.read_previous(), counts.write()),
            |(previous, counts), cx| sim::count_alive(cx, previous, DT, counts),
        )
        .stage("simulate");
    let integrate = graph
        .pass(
            "integrate",
            (
                world.read(),
                state.read_previous(),
                counts.read(),
                staging.write(),
            ),
            |(world, previous, counts, staging), cx| {
                let frame = cx.frame().number;
                sim::integrate(cx, world, frame, DT, previous, counts, staging)
            },
        )
        .stage("simulate")
        .id();
    let collide = graph
        .pass(
            "collide",
            (world.read(), staging.write()),
            |(world, staging), cx| sim::collide(cx, world, staging),
        )
        .after(integrate)
        .stage("simulate")
        .id();
    let bin = graph
        .pass(
            "bin",
            (
                world.read(),
                staging.read(),
                cell_of.write(),
                histograms.write(),
            ),
            |(world, staging, cell_of, histograms), cx| {
                sim::bin(cx, world, staging, cell_of, histograms)
            },
        )
        .after(collide)
        .stage("simulate")
        .id();
    let prefix = graph
        .pass(
            "prefix",
            (world.read(), histograms.write(), state.write()),
            |(world, histograms, state), _| {
                sim::prefix(histograms, &mut state.cell_start, world.grid.cells())
            },
        )
        .after(bin)
        .stage("simulate")
        .id();
    let scatter = graph
        .pass(
            "scatter",
            (
                world.read(),
                staging.read(),
                cell_of.read(),
                histograms.write(),
                state.write(),
            ),
            |(world, staging, cell_of, offsets, state), cx| {
                // SAFETY: in this frame `bin` wrote `cell_of` and histograms for `staging` and
                // `world`, then `prefix` turned the histograms into offsets with the grid's cell
                // count; this pass runs after `prefix`, which runs after `bin`, and `collide`,
                // the last writer of `staging` in the frame, runs before `bin`. `cell_of` and
                // `histograms` are this frame's own transients, and `staging` is held by this
                // pass (the graph orders every access to it, across the frames in flight too).
                unsafe { sim::scatter(cx, world, staging, cell_of, offsets, state) }
            },
        )
        .after(prefix)
        .stage("simulate")
        .id();
    graph
        .pass(
            "neighbours",
            (world.read(), state.write()),
            |(world, state), cx| sim::neighbours(cx, world, DT, state),
        )
        .after(scatter)
        .stage("simulate");
    graph
        .pass(
            "render",
            (world.read(), state.read(), image.write()),
            |(world, state, image), cx| render::render(cx, world, state, image),
        )
        // The frame's picture: drawn whether or not a snapshot or the window takes it.
        .side_effect()
        .stage("render");
    if options.out.is_some() {
        // Only with snapshots to write: otherwise the pass would do nothing, yet a frame would
        // complete only once this Low job got its turn behind the next frame's Normal jobs.
        let snapshot_state = Snapshot {
            options: options.clone(),
            written: Arc::clone(written),
            rgba: Vec::new(),
            png: Vec::new(),
            path: PathBuf::new(),
        };
        graph
            .step_pass("snapshot", image.read(), snapshot_state, snapshot)
            .priority(Priority::Low)
            .side_effect()
            .stage("render");
    }
    if let Some(window) = window {
        // The window is the main thread's: the pass runs there, when the loop below runs the
        // jobs pinned to it, or waits for a frame.
        let presenter = window.presenter();
        graph
            .pass("present", image.read(), move |image, _| {
                presenter.show(image)
            })
            .on_main_thread()
            .side_effect()
            .stage("render");
    }
    let graph = graph.compile().map_err(|e| e.to_string())?;

    let mut frames = Frames::with_config(
        Arc::clone(&system),
        graph,
        FramesConfig::default().in_flight(2).history(8),
    )
    .map_err(|e| e.to_string())?;
    if options.trace.is_some() {
        system.start_recording().map_err(|e| e.to_string())?;
    }
    let background = options
        .background
        .map(|length| Background::start(&system, options.workers, length));
    let begin = system.stats();
    let mut last = begin.clone();
    let mut clock = Clock::new(options.frames);
    for frame in 0..options.frames {
        frames
            .run_frame(Duration::from_secs_f32(DT))
            .map_err(|e| e.to_string())?;
        let submitted = Instant::now();
        collect_completions(&frames, &mut clock)?;
        if window.is_some() {
            // The main thread is this one (it created the system): no error to expect.
            let _ = frames.system().run_pinned();
        }
        if let Some((fps, frames_since)) = clock.submitted(submitted, frame + 1) {
            let now = system.stats();
            let window = now.since(&last);
            last = now;
            progress(&Progress {
                frame: frame + 1,
                fps,
                jobs_per_frame: Some(window.total_jobs() as f64 / frames_since as f64),
                utilization: Some(window.utilization()),
                particles: None,
            });
        }
        if window.is_some_and(Window::closed) {
            break;
        }
    }
    frames.finish().map_err(|e| e.to_string())?;
    collect_completions(&frames, &mut clock)?;
    if let Some(background) = background {
        background.stop(&system).map_err(|e| e.to_string())?;
    }
    if let Some(path) = std::env::var_os("DEMO_DOT") {
        std::fs::write(&path, frames.to_dot()).map_err(|e| e.to_string())?;
    }
    let total = system.stats().since(&begin);
    let trace = match &options.trace {
        Some(path) => {
            let trace = system.stop_recording().map_err(|e| e.to_string())?;
            trace
                .save_chrome(path)
                .map_err(|e| format!("cannot write the trace {}: {e}", path.display()))?;
            Some(TraceSummary {
                path: path.clone(),
                spans: trace.spans.len(),
                dropped: trace.dropped_spans,
                frames: trace.frames.len(),
            })
        }
        None => None,
    };
    let final_state = frames.resource(state).map_err(|e| e.to_string())?;
    let (particles, checksum) = (final_state.len(), final_state.checksum());
    let mut summary = clock.summary(options, particles, checksum);
    summary.jobs_per_frame = Some(total.total_jobs() as f64 / summary.frames.max(1) as f64);
    summary.utilization = Some(total.utilization());
    summary.trace = trace;
    Ok(summary)
}

/// The length of the histograms of `cells` grid cells: one per band.
fn histogram_len(cells: usize) -> Result<usize, String> {
    (cells.checked_mul(BANDS)).ok_or_else(|| format!("{cells} grid cells overflow the histograms"))
}

/// The buffers a frame uses on rayon or one thread.
struct Buffers {
    previous: Particles,
    state: Particles,
    staging: Particles,
    counts: Vec<u32>,
    cell_of: Vec<u32>,
    histograms: Vec<u32>,
    image: Image,
}

/// Runs `$body` with `$fan` a rayon scope of `$pool`, or inline without a pool.
macro_rules! stage {
    ($pool:expr, |$fan:ident| $body:expr) => {
        match $pool {
            Some(pool) => pool.scope(|scope| {
                let mut $fan = scope;
                $body
            }),
            None => {
                let mut $fan = Inline;
                $body
            }
        }
    };
}

fn run_pool(
    world: World,
    options: &Options,
    window: Option<&Window>,
    progress: &mut dyn FnMut(&Progress),
    written: &Arc<Mutex<Written>>,
) -> Result<Summary, String> {
    let pool = match options.backend {
        Backend::Rayon => Some(
            rayon_core::ThreadPoolBuilder::new()
                .num_threads(options.workers)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        _ => None,
    };
    let pool = pool.as_ref();
    let capacity = world.scene.max_particles;
    let cells = world.grid.cells();
    let mut b = Buffers {
        previous: Particles::with_capacity(capacity, cells),
        state: Particles::with_capacity(capacity, cells),
        staging: Particles::with_capacity(capacity, cells),
        counts: vec![0; capacity.div_ceil(CHUNK)],
        cell_of: vec![0; capacity],
        histograms: vec![0; histogram_len(cells)?],
        image: Image::new(&world),
    };
    let world = &world;
    let mut clock = Clock::new(options.frames);
    let mut rgba = Vec::new();
    for frame in 0..options.frames {
        stage!(pool, |fan| sim::count_alive(
            &mut fan,
            &b.previous,
            DT,
            &mut b.counts
        ));
        stage!(pool, |fan| sim::integrate(
            &mut fan,
            world,
            frame,
            DT,
            &b.previous,
            &b.counts,
            &mut b.staging
        ));
        stage!(pool, |fan| sim::collide(&mut fan, world, &mut b.staging));
        stage!(pool, |fan| sim::bin(
            &mut fan,
            world,
            &b.staging,
            &mut b.cell_of,
            &mut b.histograms
        ));
        sim::prefix(&mut b.histograms, &mut b.state.cell_start, cells);
        // SAFETY: the two steps above are `bin` of `b.staging` into `b.cell_of` and
        // `b.histograms` with `world`, then `prefix` of those histograms with the grid's `cells`;
        // nothing has written the staging, the cells or the offsets since.
        stage!(pool, |fan| unsafe {
            sim::scatter(
                &mut fan,
                world,
                &b.staging,
                &b.cell_of,
                &mut b.histograms,
                &mut b.state,
            )
        });
        stage!(pool, |fan| sim::neighbours(
            &mut fan,
            world,
            DT,
            &mut b.state
        ));
        stage!(pool, |fan| render::render(
            &mut fan,
            world,
            &b.state,
            &mut b.image
        ));
        if let Some(path) = snapshot_path(options, frame) {
            let outcome = render::encode_png(&b.image, &mut rgba, &path)
                .and_then(|png| render::write_file(&path, &png));
            record(written, outcome);
        }
        if let Some(window) = window {
            window.show(&b.image);
        }
        // The frame has run to its end: it completes as it is handed over.
        let done = Instant::now();
        clock.times.completed(done);
        std::mem::swap(&mut b.previous, &mut b.state);
        if let Some((fps, _)) = clock.submitted(done, frame + 1) {
            progress(&Progress {
                frame: frame + 1,
                fps,
                jobs_per_frame: None,
                utilization: None,
                particles: Some(b.previous.len()),
            });
        }
        if window.is_some_and(Window::closed) {
            break;
        }
    }
    Ok(clock.summary(options, b.previous.len(), b.previous.checksum()))
}

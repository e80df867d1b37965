//! Tracy: what only the frame loop knows, for the profiler. Compiled only with the `tracy`
//! feature (the README's "Profiling in Tracy"); the job system adds a zone per job.
//!
//! - **Frames**: a frame mark when the frame loop sees a frame complete, and a message when the
//!   time since the previous one went over the budget.
//! - **Stages**: passes set in a stage ([`PassConfig::stage`](crate::PassConfig::stage)) make a
//!   frame set of that name, whose frame in frame N runs from the start of the first of the
//!   stage's passes to the end of the last (see [Stage frames](#stage-frames)).
//! - **Plots**, at each frame's completion ([`Plots`]).
//!
//! The client collects on demand: nothing is sent or kept until a profiler connects, and this
//! module does no work for the plots and messages while none is.
//!
//! ## Stage frames
//! Tracy's frames of one set must not overlap, and each end must follow its start. With frames
//! in flight a stage of frame N + 1 can start before the same stage of frame N has ended (its
//! passes wait for their own runs in frame N, not for each other's). So each stage name has one
//! flag, for the whole program (Tracy knows a frame set by its name): the first pass of a stage
//! to start in a frame sends the start only if no frame of that stage is open, and the last to
//! end sends the end if the start was sent. A frame whose stage overlapped the previous one has
//! no frame in the set: the set shows a gap, never a wrong frame. The start is also sent only
//! while a profiler is connected, so that an end never arrives without its start (were the
//! profiler to disconnect and connect again within one stage frame, the new capture would get
//! an end alone, which Tracy reports as an error).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use jobs::{JobSystem, Priority, Stats};
use tracy_client::{
    plot_name, Client, Frame, FrameName, PlotConfiguration, PlotFormat, PlotLineStyle, PlotName,
};

use crate::stats::FrameStats;

/// A stage's frame set, one per stage name for the life of the program.
struct StageSet {
    name: FrameName,
    /// Whether a frame of this set has been started and not yet ended.
    open: AtomicBool,
}

/// The frame set of the stage named `name`, made (and its name leaked) on first use.
fn stage_set(name: &str) -> &'static StageSet {
    static SETS: Mutex<Vec<(&'static str, &'static StageSet)>> = Mutex::new(Vec::new());
    let mut sets = SETS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&(_, set)) = sets.iter().find(|(known, _)| *known == name) {
        return set;
    }
    let set: &'static StageSet = Box::leak(Box::new(StageSet {
        // Tracy reads the name as a C string: an interior NUL would cut it short.
        name: FrameName::new_leak(name.replace('\0', " ")),
        open: AtomicBool::new(false),
    }));
    sets.push((Box::leak(name.into()), set));
    set
}

/// The stages of a graph's kept passes.
pub(crate) struct Stages {
    /// Per kept pass: its stage (an index into `sets`), if it has one.
    of_pass: Vec<Option<usize>>,
    /// Per stage: its frame set and how many kept passes it has.
    sets: Vec<(&'static StageSet, u32)>,
}

impl Stages {
    /// The stages of the kept passes, given in order.
    pub(crate) fn new<'a>(kept: impl IntoIterator<Item = Option<&'a str>>) -> Arc<Stages> {
        let mut names: Vec<&str> = Vec::new();
        let mut sets = Vec::new();
        let of_pass = kept
            .into_iter()
            .map(|stage| {
                let name = stage?;
                let index = names.iter().position(|&n| n == name).unwrap_or_else(|| {
                    names.push(name);
                    sets.push((stage_set(name), 0));
                    names.len() - 1
                });
                sets[index].1 += 1;
                Some(index)
            })
            .collect();
        Arc::new(Stages { of_pass, sets })
    }
}

/// One frame slot's progress through the stages; it resets itself when a stage's last pass ends,
/// ready for the slot's next frame (which starts after this one has completed).
pub(crate) struct StageFrames {
    stages: Arc<Stages>,
    /// Per stage: its passes not yet ended in this frame.
    left: Box<[AtomicU32]>,
    /// Per stage: whether one of its passes has started in this frame.
    started: Box<[AtomicBool]>,
    /// Per stage: the frame sent to Tracy, if it was; dropping it sends the end.
    shown: Box<[Mutex<Option<Frame>>]>,
}

impl StageFrames {
    /// A slot's progress, before its first frame.
    pub(crate) fn new(stages: &Arc<Stages>) -> StageFrames {
        StageFrames {
            left: stages
                .sets
                .iter()
                .map(|&(_, n)| AtomicU32::new(n))
                .collect(),
            started: stages.sets.iter().map(|_| AtomicBool::new(false)).collect(),
            shown: stages.sets.iter().map(|_| Mutex::new(None)).collect(),
            stages: Arc::clone(stages),
        }
    }

    /// The pass at `position` starts its body in this slot's frame.
    pub(crate) fn pass_started(&self, position: usize) {
        let Some(stage) = self.stages.of_pass[position] else {
            return;
        };
        if self.started[stage].swap(true, Ordering::Relaxed) || !Client::is_connected() {
            return;
        }
        let Some(client) = Client::running() else {
            return;
        };
        let set = self.stages.sets[stage].0;
        // Acquire: the previous frame of the set has been ended (in Tracy's queue, which
        // orders what threads send) before this one starts.
        if set
            .open
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            let frame = client.non_continuous_frame(set.name);
            *self.shown[stage]
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(frame);
        }
    }

    /// The job of the pass at `position` has ended in this slot's frame, whether it ran,
    /// panicked or was cancelled.
    pub(crate) fn pass_ended(&self, position: usize) {
        let Some(stage) = self.stages.of_pass[position] else {
            return;
        };
        // AcqRel: the last pass to end sees what the others did (their starts among them).
        if self.left[stage].fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // The stage's last pass in this frame: ready the slot for its next frame, which starts
        // only after this frame has completed (and so after this job has ended).
        self.left[stage].store(self.stages.sets[stage].1, Ordering::Relaxed);
        self.started[stage].store(false, Ordering::Relaxed);
        let shown = self.shown[stage]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(frame) = shown {
            drop(frame);
            // Release: the end is in Tracy's queue before another frame of the set can start.
            self.stages.sets[stage]
                .0
                .open
                .store(false, Ordering::Release);
        }
    }
}

/// The plots sent at each frame's completion, and what they need from the previous one.
///
/// - `workers busy %`: the frame's [`utilization`](FrameStats::utilization) (the workers'
///   busy time while the frame was in flight, so overlapping frames share time), stepped and
///   filled.
/// - `worker N busy %`: worker N's busy time over its total time since the previous frame
///   completed (from the job system's [`Stats`]).
/// - `jobs per frame`: jobs finished since the previous frame completed (all priorities; with
///   frames in flight, a frame's own [`jobs`](FrameStats::jobs) counts its neighbours' too).
/// - `queued High`, `queued Normal`, `queued Low`: entries in the job system's shared queues at
///   that priority when the frame completed (a bundle of jobs shared by a worker counts as one);
///   `queued private`: jobs in the workers' private queues, all priorities, as each worker last
///   published them.
pub(crate) struct Plots {
    /// The job system's figures when the previous frame completed, while a profiler was
    /// connected.
    previous: Option<Stats>,
    /// `worker N busy %`, per worker.
    workers: Vec<PlotName>,
}

const BUSY: PlotName = plot_name!("workers busy %");
const JOBS: PlotName = plot_name!("jobs per frame");
const QUEUED: [PlotName; 3] = [
    plot_name!("queued High"),
    plot_name!("queued Normal"),
    plot_name!("queued Low"),
];
const QUEUED_PRIVATE: PlotName = plot_name!("queued private");

/// How a percentage plot looks: stepped (a value holds for its frame) and filled.
fn percentage() -> PlotConfiguration {
    PlotConfiguration::default()
        .format(PlotFormat::Percentage)
        .line_style(PlotLineStyle::Stepped)
        .fill(true)
}

/// How a count plot looks: stepped, not filled.
fn count() -> PlotConfiguration {
    PlotConfiguration::default()
        .line_style(PlotLineStyle::Stepped)
        .fill(false)
}

/// The `worker N busy %` plots for workers `0..n`, named (and configured: Tracy keeps the
/// configuration until a profiler connects) once for the life of the program.
fn worker_plots(client: &Client, n: usize) -> Vec<PlotName> {
    static PLOTS: Mutex<Vec<PlotName>> = Mutex::new(Vec::new());
    let mut plots = PLOTS.lock().unwrap_or_else(PoisonError::into_inner);
    while plots.len() < n {
        let plot = PlotName::new_leak(format!("worker {} busy %", plots.len()));
        client.plot_config(plot, percentage());
        plots.push(plot);
    }
    plots[..n].to_vec()
}

impl Plots {
    /// The plots of a frame loop on `system` (configured once for the program).
    pub(crate) fn new(system: &JobSystem) -> Plots {
        let Some(client) = Client::running() else {
            return Plots {
                previous: None,
                workers: Vec::new(),
            };
        };
        static CONFIGURED: OnceLock<()> = OnceLock::new();
        CONFIGURED.get_or_init(|| {
            client.plot_config(BUSY, percentage());
            client.plot_config(JOBS, count());
            for plot in QUEUED.into_iter().chain([QUEUED_PRIVATE]) {
                client.plot_config(plot, count());
            }
        });
        Plots {
            previous: None,
            workers: worker_plots(&client, system.worker_count()),
        }
    }

    /// A frame has completed: marks it, sends the plots and, if it went over budget, a message.
    pub(crate) fn frame_completed(
        &mut self,
        system: &JobSystem,
        stats: &FrameStats,
        over_budget: Option<(Duration, Duration)>,
    ) {
        let Some(client) = Client::running() else {
            return;
        };
        client.frame_mark();
        if !Client::is_connected() {
            self.previous = None;
            return;
        }
        client.plot(BUSY, 100.0 * stats.utilization);
        let now = system.stats();
        if let Some(previous) = &self.previous {
            let since = now.since(previous);
            client.plot(JOBS, since.total_jobs() as f64);
            for (plot, worker) in self.workers.iter().zip(&since.workers) {
                let total = (worker.busy + worker.idle).as_secs_f64();
                if total > 0.0 {
                    client.plot(*plot, 100.0 * worker.busy.as_secs_f64() / total);
                }
            }
        }
        for priority in Priority::ALL {
            let p = priority.index();
            client.plot(QUEUED[p], now.queued[p] as f64);
        }
        let private: usize = now.workers.iter().map(|w| w.private_queued).sum();
        client.plot(QUEUED_PRIVATE, private as f64);
        self.previous = Some(now);
        if let Some((took, budget)) = over_budget {
            let text = format!(
                "frame {} over budget: {:.2} ms (budget {:.2} ms)",
                stats.number,
                took.as_secs_f64() * 1e3,
                budget.as_secs_f64() * 1e3
            );
            // Yellow, opaque (RGBA).
            client.color_message(&text, 0xFFD0_30FF, 0);
        }
    }
}

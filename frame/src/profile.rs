//! What the frame loop tells the recorder and the profiler: the graph once, then every
//! completed frame (its passes, its figures, whether it went over budget).
//!
//! The jobs of a pass carry the pass's name as their [`Label`] and the frame number, so the
//! job system's recorder and Tracy zones name every job of a pass after it. This module adds
//! what only the frame loop knows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::trace::{EventKind, FrameRecord, GraphPass, PassRecord};
use jobs::{JobSystem, Label};

use crate::frames::Plan;
use crate::stats::FrameStats;

/// The frame loop's side of profiling.
pub(crate) struct Profile {
    /// Per kept pass, in the graph's order.
    labels: Vec<Label>,
    budget: Option<Duration>,
    /// When the previous frame's last pass ended.
    previous_end: Option<Instant>,
    /// Tracy's plots, and the job system's figures they are computed from.
    #[cfg(feature = "tracy")]
    tracy: crate::tracy::Plots,
}

impl Profile {
    /// Interns the passes' names and hands the graph to the recorder.
    pub(crate) fn new(
        system: &JobSystem,
        names: &[Arc<str>],
        plan: &Plan,
        budget: Option<Duration>,
    ) -> Profile {
        let labels: Vec<Label> = names.iter().map(|name| Label::new(name)).collect();
        let at = |positions: &[u32]| positions.iter().map(|&q| labels[q as usize]).collect();
        let graph = plan
            .passes
            .iter()
            .enumerate()
            .map(|(position, deps)| GraphPass {
                label: labels[position],
                after: at(&deps.before),
                after_previous: at(&deps.previous_frame),
            })
            .collect();
        system.recorder().record_graph(graph);
        Profile {
            labels,
            budget,
            previous_end: None,
            #[cfg(feature = "tracy")]
            tracy: crate::tracy::Plots::new(system),
        }
    }

    /// The label of the pass at `position` among the kept passes.
    pub(crate) fn label(&self, position: usize) -> Label {
        self.labels[position]
    }

    /// A frame has completed: `stats` are its figures, `start` the moment it was submitted.
    pub(crate) fn frame_completed(
        &mut self,
        system: &JobSystem,
        stats: &FrameStats,
        start: Instant,
    ) {
        let end = start + stats.wall;
        // Over budget: the time between this frame's end and the previous one's, which is what
        // the player sees (a frame's own wall time spans the frames it overlaps).
        let interval = self
            .previous_end
            .map(|previous| end.saturating_duration_since(previous));
        self.previous_end = Some(end);
        let over = match (interval, self.budget) {
            (Some(took), Some(budget)) if took > budget => Some((took, budget)),
            _ => None,
        };
        let recorder = system.recorder();
        if recorder.is_recording() {
            if let Some((took, budget)) = over {
                recorder.event(EventKind::FrameOverBudget {
                    frame: stats.number,
                    took,
                    budget,
                });
            }
            let passes = stats
                .passes
                .iter()
                .zip(&self.labels)
                .filter_map(|(pass, &label)| {
                    let offset = pass.start?;
                    Some(PassRecord {
                        label,
                        start: start + offset,
                        end: start + offset + pass.duration,
                        worker: pass.worker,
                    })
                })
                .collect();
            recorder.record_frame(FrameRecord {
                number: stats.number,
                start,
                end,
                utilization: stats.utilization,
                jobs: stats.jobs,
                critical_path: stats
                    .critical_passes
                    .iter()
                    .map(|&p| self.labels[p])
                    .collect(),
                passes,
            });
        }
        #[cfg(feature = "tracy")]
        self.tracy.frame_completed(system, stats, over);
    }
}

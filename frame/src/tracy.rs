//! Tracy: frame marks, plots and messages from the frame loop. Compiled only with the `tracy`
//! feature.

use std::time::Duration;

use jobs::JobSystem;

use crate::stats::FrameStats;

/// A frame has completed: marks it, and sends a message if it went over budget.
pub(crate) fn frame_completed(
    _system: &JobSystem,
    stats: &FrameStats,
    over_budget: Option<(Duration, Duration)>,
) {
    let Some(client) = tracy_client::Client::running() else {
        return;
    };
    client.frame_mark();
    if let Some((took, budget)) = over_budget {
        let text = format!(
            "frame {} over budget: {:.2} ms (budget {:.2} ms)",
            stats.number,
            took.as_secs_f64() * 1e3,
            budget.as_secs_f64() * 1e3
        );
        client.message(&text, 0);
    }
}

//! The longest passes: per pass name, how long its runs took.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::stats::Summary;
use crate::time::to_millis;
use crate::trace::Pass;

/// One pass name's durations over the frames it ran in.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"b","pid":1,"cat":"pass","name":"integrate","id":1,"ts":0.0},
///   {"ph":"e","pid":1,"cat":"pass","name":"integrate","id":1,"ts":1000.0},
///   {"ph":"b","pid":1,"cat":"pass","name":"integrate","id":2,"ts":2000.0},
///   {"ph":"e","pid":1,"cat":"pass","name":"integrate","id":2,"ts":5000.0}]}"#)?;
/// let integrate = &tools::passes::pass_durations(&trace.passes, tools::passes::PassOrder::Max)[0];
/// assert_eq!((integrate.count, integrate.total_ms, integrate.max_ms, integrate.slowest_frame), (2, 4.0, 3.0, 2));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct PassDurations {
    /// The pass's name.
    pub name: Arc<str>,
    /// How many times it ran.
    pub count: usize,
    /// All its runs together, in milliseconds.
    pub total_ms: f64,
    /// The mean run, in milliseconds.
    pub mean_ms: f64,
    /// The 95th percentile run (nearest rank), in milliseconds.
    pub p95_ms: f64,
    /// The longest run, in milliseconds.
    pub max_ms: f64,
    /// The frame of the longest run.
    pub slowest_frame: u64,
}

/// What to sort passes by, longest first.
///
/// ```
/// assert_eq!("total".parse::<tools::passes::PassOrder>(), Ok(tools::passes::PassOrder::Total));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PassOrder {
    /// By the longest single run.
    Max,
    /// By all runs together.
    Total,
}

impl std::str::FromStr for PassOrder {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "max" => Ok(PassOrder::Max),
            "total" => Ok(PassOrder::Total),
            _ => Err(format!("{text:?}: expected \"max\" or \"total\"")),
        }
    }
}

/// Durations per pass name, sorted by `order`, longest first.
///
/// ```
/// use tools::passes::{pass_durations, PassOrder};
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"b","pid":1,"cat":"pass","name":"long once","id":1,"ts":0.0},
///   {"ph":"e","pid":1,"cat":"pass","name":"long once","id":1,"ts":5.0},
///   {"ph":"b","pid":1,"cat":"pass","name":"often","id":1,"ts":0.0},
///   {"ph":"e","pid":1,"cat":"pass","name":"often","id":1,"ts":4.0},
///   {"ph":"b","pid":1,"cat":"pass","name":"often","id":2,"ts":5.0},
///   {"ph":"e","pid":1,"cat":"pass","name":"often","id":2,"ts":9.0}]}"#)?;
/// let names = |order| pass_durations(&trace.passes, order).into_iter().map(|p| p.name).collect::<Vec<_>>();
/// assert_eq!(names(PassOrder::Max), [ "long once".into(), "often".into()]);
/// assert_eq!(names(PassOrder::Total), ["often".into(), "long once".into()]);
/// # Ok::<(), tools::TraceError>(())
/// ```
pub fn pass_durations(passes: &[Pass], order: PassOrder) -> Vec<PassDurations> {
    let mut by_name: BTreeMap<&Arc<str>, Vec<&Pass>> = BTreeMap::new();
    for pass in passes {
        by_name.entry(&pass.name).or_default().push(pass);
    }
    let mut durations: Vec<PassDurations> = by_name
        .into_iter()
        .filter_map(|(name, runs)| {
            let ms: Vec<f64> = runs.iter().map(|pass| to_millis(pass.time.len())).collect();
            let summary = Summary::of(&ms)?;
            let slowest = runs.iter().max_by_key(|pass| pass.time.len())?;
            Some(PassDurations {
                name: name.clone(),
                count: summary.count,
                total_ms: to_millis(runs.iter().map(|pass| pass.time.len()).sum()),
                mean_ms: summary.mean,
                p95_ms: summary.p95,
                max_ms: summary.max,
                slowest_frame: slowest.frame,
            })
        })
        .collect();
    let key = |p: &PassDurations| match order {
        PassOrder::Max => p.max_ms,
        PassOrder::Total => p.total_ms,
    };
    durations.sort_by(|a, b| key(b).total_cmp(&key(a)));
    durations
}

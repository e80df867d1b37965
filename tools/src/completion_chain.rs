//! The completion chain of a frame: the chain of passes that decided when it completed.
//!
//! Start at the frame's pass that ended last; step to its in-frame dependency (`after` in the
//! graph metadata) that ended last; stop at a pass with none. The chain, read backwards, is what
//! the frame waited on; its passes' durations plus the waits between them is how long it took
//! from the first pass's start.
//!
//! It is not the frame graph's *critical path* (`frame::FrameStats::critical_path`, in the file
//! as `jobs.frames[].critical_path`): that one is the chain of dependent passes with the longest
//! summed durations, waits left out, the frame's length with unlimited workers. The two are
//! defined side by side in the `jobs-trace-format` crate ("Two paths through a frame"); the
//! report prints the critical path beside each completion chain.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::meta::GraphPass;
use crate::time::{to_millis, Interval, Nanos};
use crate::trace::{Frame, Pass, Trace};

/// One pass on the chain.
///
/// ```
/// # let trace = tools::Trace::from_json(r#"{"traceEvents":[
/// #   {"ph":"b","pid":1,"cat":"frame","name":"frame","id":1,"ts":0.0},
/// #   {"ph":"b","pid":1,"cat":"pass","name":"a","id":1,"ts":0.0},
/// #   {"ph":"e","pid":1,"cat":"pass","name":"a","id":1,"ts":2000.0},
/// #   {"ph":"b","pid":1,"cat":"pass","name":"b","id":1,"ts":2500.0},
/// #   {"ph":"e","pid":1,"cat":"pass","name":"b","id":1,"ts":4000.0},
/// #   {"ph":"e","pid":1,"cat":"frame","name":"frame","id":1,"ts":4000.0}],
/// #  "jobs":{"format":1,"workers":0,"lanes":[],"window_us":[0.0,4000.0],
/// #   "graph":[{"pass":"a","after":[]},{"pass":"b","after":["a"]}]}}"#)?;
/// let chain = tools::completion_chain::completion_chain(&trace, &trace.frames[0]).unwrap();
/// let b = &chain.steps[1];
/// assert_eq!((&*b.pass, b.duration_ms, b.wait_before_ms), ("b", 1.5, 0.5));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct ChainStep {
    /// The pass's name.
    pub pass: Arc<str>,
    /// When it ran.
    pub time: Interval,
    /// How long it ran, in milliseconds.
    pub duration_ms: f64,
    /// From the end of the step before to this one's start, in milliseconds (0 for the first).
    pub wait_before_ms: f64,
    /// The passes of the previous frame it also waits for (`after_previous`): a long wait before
    /// a pass with some may be spent on them.
    pub after_previous: Vec<String>,
}

/// A frame's completion chain, first pass first.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"b","pid":1,"cat":"frame","name":"frame","id":1,"ts":0.0},
///   {"ph":"b","pid":1,"cat":"pass","name":"a","id":1,"ts":0.0},
///   {"ph":"e","pid":1,"cat":"pass","name":"a","id":1,"ts":2000.0},
///   {"ph":"b","pid":1,"cat":"pass","name":"b","id":1,"ts":2500.0},
///   {"ph":"e","pid":1,"cat":"pass","name":"b","id":1,"ts":4000.0},
///   {"ph":"e","pid":1,"cat":"frame","name":"frame","id":1,"ts":5000.0}],
///  "jobs":{"format":1,"workers":0,"lanes":[],"window_us":[0.0,5000.0],
///   "graph":[{"pass":"a","after":[]},{"pass":"b","after":["a"]}]}}"#)?;
/// let chain = tools::completion_chain::completion_chain(&trace, &trace.frames[0]).unwrap();
/// assert_eq!(chain.passes(), ["a", "b"]);
/// assert_eq!((chain.busy_ms, chain.waiting_ms, chain.frame_wall_ms), (3.5, 0.5, 5.0));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct CompletionChain {
    /// The frame number.
    pub frame: u64,
    /// The frame's wall time, in milliseconds.
    pub frame_wall_ms: f64,
    /// From the frame's start to the first pass's start (waiting on the previous frame), in
    /// milliseconds.
    pub lead_in_ms: f64,
    /// The passes, first to last.
    pub steps: Vec<ChainStep>,
    /// The passes' durations added up, in milliseconds.
    pub busy_ms: f64,
    /// The waits between them added up, in milliseconds.
    pub waiting_ms: f64,
    /// The frame graph's critical path for the frame (`jobs.frames[].critical_path`: the chain
    /// with the longest summed durations, not this one), when the trace has it.
    pub critical_path: Option<Vec<String>>,
}

impl CompletionChain {
    /// The passes' names, first to last.
    ///
    /// ```
    /// let chain = tools::completion_chain::CompletionChain {
    ///     frame: 0, frame_wall_ms: 0.0, lead_in_ms: 0.0, steps: vec![], busy_ms: 0.0,
    ///     waiting_ms: 0.0, critical_path: None,
    /// };
    /// assert!(chain.passes().is_empty());
    /// ```
    pub fn passes(&self) -> Vec<&str> {
        self.steps.iter().map(|step| &*step.pass).collect()
    }

    /// The chain's length, busy plus waiting, in milliseconds: from its first pass's start to its
    /// last pass's end.
    ///
    /// ```
    /// let chain = tools::completion_chain::CompletionChain {
    ///     frame: 0, frame_wall_ms: 10.0, lead_in_ms: 0.0, steps: vec![], busy_ms: 7.0,
    ///     waiting_ms: 1.0, critical_path: None,
    /// };
    /// assert_eq!(chain.length_ms(), 8.0);
    /// ```
    pub fn length_ms(&self) -> f64 {
        self.busy_ms + self.waiting_ms
    }
}

/// The completion chain of `frame` from the trace's pass events and the `graph` metadata; `None`
/// when the trace has no graph or no pass of the frame.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"b","pid":1,"cat":"frame","name":"frame","id":1,"ts":0.0},
///   {"ph":"e","pid":1,"cat":"frame","name":"frame","id":1,"ts":5000.0}]}"#)?;
/// assert!(tools::completion_chain::completion_chain(&trace, &trace.frames[0]).is_none());
/// # Ok::<(), tools::TraceError>(())
/// ```
pub fn completion_chain(trace: &Trace, frame: &Frame) -> Option<CompletionChain> {
    let meta = trace.meta.as_ref()?;
    if meta.graph.is_empty() {
        return None;
    }
    let graph: HashMap<&str, &GraphPass> = meta
        .graph
        .iter()
        .map(|pass| (pass.pass.as_str(), pass))
        .collect();
    // The frame's passes by name; a name seen twice keeps the run that ended last.
    let mut passes: HashMap<&str, &Pass> = HashMap::new();
    for pass in trace
        .passes
        .iter()
        .filter(|pass| pass.frame == frame.number)
    {
        let kept = passes.entry(&pass.name).or_insert(pass);
        if pass.time.end > kept.time.end {
            *kept = pass;
        }
    }
    let ended_last = |names: &mut dyn Iterator<Item = &str>| -> Option<&Pass> {
        names
            .filter_map(|name| passes.get(name).copied())
            // Ties go to the name that sorts last, so the path does not depend on hash order.
            .max_by(|a, b| {
                a.time
                    .end
                    .cmp(&b.time.end)
                    .then_with(|| a.name.cmp(&b.name))
            })
    };
    let mut chain: Vec<&Pass> = vec![ended_last(&mut passes.keys().copied())?];
    while let Some(next) = chain.last().and_then(|last| {
        let after = graph
            .get(&*last.name)
            .map_or(&[][..], |pass| &pass.after[..]);
        ended_last(&mut after.iter().map(String::as_str))
    }) {
        if chain.iter().any(|pass| std::ptr::eq(*pass, next)) {
            break; // a cycle in a malformed graph: stop rather than loop
        }
        chain.push(next);
    }
    chain.reverse();

    let mut previous_end: Option<Nanos> = None;
    let steps: Vec<ChainStep> = chain
        .iter()
        .map(|pass| {
            let wait = previous_end.map_or(0, |end| pass.time.start - end);
            previous_end = Some(pass.time.end);
            ChainStep {
                pass: pass.name.clone(),
                time: pass.time,
                duration_ms: to_millis(pass.time.len()),
                wait_before_ms: to_millis(wait),
                after_previous: graph
                    .get(&*pass.name)
                    .map_or_else(Vec::new, |pass| pass.after_previous.clone()),
            }
        })
        .collect();
    let (first, last) = (chain[0], chain[chain.len() - 1]);
    let busy: Nanos = chain.iter().map(|pass| pass.time.len()).sum();
    let length = last.time.end - first.time.start;
    let critical_path = meta
        .frames
        .iter()
        .find(|f| f.frame == frame.number)
        .map(|f| f.critical_path.clone())
        .filter(|path| !path.is_empty());
    Some(CompletionChain {
        frame: frame.number,
        frame_wall_ms: to_millis(frame.time.len()),
        lead_in_ms: to_millis(first.time.start - frame.time.start),
        busy_ms: to_millis(busy),
        waiting_ms: to_millis(length - busy),
        steps,
        critical_path,
    })
}

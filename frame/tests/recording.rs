//! The frame graph in a recording: every job of a pass carries the pass's name and the frame,
//! frames and passes and the graph reach the trace, over-budget frames become events, and the
//! utilization of the spans agrees with the frames' own figures.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{spin, system, watchdog};
use frame::{Frames, FramesConfig, GraphBuilder};
use jobs::trace::EventKind;
use jobs::Label;

#[test]
fn the_jobs_of_a_pass_carry_its_name_and_frame_into_the_trace() {
    watchdog(60, || {
        let system = system(2);
        let mut graph = GraphBuilder::new();
        let a = graph.scratch("a", vec![0u64; 256]);
        let b = graph.import("b", 0u64);
        graph.pass("rec-fill", a.write(), |a, cx| {
            // Jobs the pass spawns inherit its label and frame.
            cx.parallel_for_chunks(
                0..a.len(),
                jobs::Grain::Fixed(std::num::NonZeroUsize::new(16).expect("not zero")),
                |_| {
                    spin(Duration::from_micros(20));
                },
            );
            a.iter_mut().for_each(|x| *x += 1);
        });
        graph.pass("rec-sum", (a.read(), b.write()), |(a, b), _| {
            *b += a.iter().sum::<u64>();
        });
        let mut frames = Frames::with_config(
            system.clone(),
            graph.compile().expect("a valid graph"),
            FramesConfig::default().in_flight(2),
        )
        .expect("valid settings");
        system.start_recording().expect("not recording yet");
        for _ in 0..20 {
            frames
                .run_frame(Duration::from_millis(16))
                .expect("no pass fails");
        }
        frames.finish().expect("no pass fails");
        let trace = system.stop_recording().expect("recording");
        let fill = Label::new("rec-fill");
        let sum = Label::new("rec-sum");
        // Every job of the graph is one of its passes', with a frame of this run.
        let frames_seen: HashSet<u32> = trace.spans.iter().filter_map(|s| s.frame).collect();
        assert_eq!(frames_seen, (0..20).collect());
        assert!(trace
            .spans
            .iter()
            .all(|s| s.label == fill || s.label == sum));
        // The fill pass's own job (spawn, then continue) plus its batch runners, every frame.
        for frame in 0..20 {
            let of_fill = trace
                .spans
                .iter()
                .filter(|s| s.label == fill && s.frame == Some(frame))
                .count();
            assert!(of_fill >= 3, "frame {frame}: {of_fill} spans of rec-fill");
        }
        // Frames, their passes and the graph.
        assert_eq!(trace.frames.len(), 20);
        for (n, record) in trace.frames.iter().enumerate() {
            assert_eq!(record.number, n as u64);
            assert!(record.start <= record.end);
            assert_eq!(record.passes.len(), 2);
            assert_eq!(record.critical_path, vec![fill, sum]);
            for pass in &record.passes {
                assert!(record.start <= pass.start && pass.end <= record.end);
            }
        }
        assert_eq!(trace.graph.len(), 2);
        assert_eq!(trace.graph[1].label, sum);
        assert_eq!(trace.graph[1].after, vec![fill]);
        // The spans' utilization is the job system's, within a point.
        let (spans, stats) = (trace.utilization(), trace.stats.utilization());
        assert!(
            (spans - stats).abs() < 0.01,
            "spans {spans:.4}, stats {stats:.4}"
        );
    });
}

#[test]
fn a_frame_over_its_budget_is_an_event() {
    watchdog(60, || {
        let system = system(2);
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u32);
        graph.pass("rec-slow", x.write(), |x, _| {
            spin(Duration::from_millis(3));
            *x += 1;
        });
        let mut frames = Frames::with_config(
            system.clone(),
            graph.compile().expect("a valid graph"),
            FramesConfig::default()
                .in_flight(1)
                .budget(Some(Duration::from_millis(1))),
        )
        .expect("valid settings");
        system.start_recording().expect("not recording yet");
        for _ in 0..5 {
            frames
                .run_frame(Duration::from_millis(16))
                .expect("no pass fails");
        }
        frames.finish().expect("no pass fails");
        let trace = system.stop_recording().expect("recording");
        let over: Vec<_> = trace
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::FrameOverBudget {
                    frame,
                    took,
                    budget,
                } => Some((frame, took, budget)),
                _ => None,
            })
            .collect();
        // The first frame has no previous one to be measured from.
        assert_eq!(over.iter().map(|o| o.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
        for (_, took, budget) in over {
            assert_eq!(budget, Duration::from_millis(1));
            assert!(took >= Duration::from_millis(3));
        }
    });
}

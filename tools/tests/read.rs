//! Reading traces: what the typed data holds, traces without the `jobs` object, and errors for
//! bad input.

mod common;

use common::{data, fixture};
use tools::{Interval, LaneKind, Priority, Problem, Trace};

#[test]
fn lanes_come_from_the_metadata_in_sort_order() {
    let trace = fixture("two_frames.json");
    let lanes: Vec<(u64, &str, LaneKind)> = trace
        .lanes
        .iter()
        .map(|lane| (lane.tid, lane.name.as_str(), lane.kind))
        .collect();
    assert_eq!(
        lanes,
        [
            (0, "worker 0", LaneKind::Worker),
            (1, "worker 1", LaneKind::Worker),
            (2, "main", LaneKind::Main),
            (3, "io 0", LaneKind::Io)
        ]
    );
    assert_eq!(trace.window, Interval::new(0, 1_000_000));
    assert_eq!(trace.workers().count(), 2);
}

#[test]
fn spans_are_in_start_order_with_outer_before_nested() {
    let trace = fixture("two_frames.json");
    let worker0 = &trace.lanes[0];
    let starts: Vec<(i64, i64)> = worker0
        .spans
        .iter()
        .map(|s| (s.time.start, s.time.end))
        .collect();
    assert_eq!(
        starts,
        [
            (0, 100_000),
            (100_000, 300_000),
            (150_000, 200_000),
            (350_000, 500_000),
            (500_000, 550_000),
            (560_000, 700_000),
            (910_000, 1_000_000)
        ]
    );
    let first = &worker0.spans[0];
    assert_eq!(
        (&*first.name, first.frame, first.priority),
        ("a", Some(1), Some(Priority::High))
    );
    // A span from before the window keeps its own times; clipping is the analyses' business.
    let early = &trace.lanes[1].spans[0];
    assert_eq!(
        (&*early.name, early.time.start, early.frame),
        ("x", -50_000, None)
    );
    assert_eq!(trace.lanes[3].spans.len(), 0);
}

#[test]
fn frames_passes_counters_and_instants_are_read() {
    let trace = fixture("two_frames.json");
    let frames: Vec<(u64, Interval)> = trace.frames.iter().map(|f| (f.number, f.time)).collect();
    assert_eq!(
        frames,
        [
            (1, Interval::new(0, 600_000)),
            (2, Interval::new(400_000, 1_000_000))
        ]
    );

    assert_eq!(trace.passes.len(), 8);
    let d2 = trace
        .passes
        .iter()
        .find(|p| &*p.name == "d" && p.frame == 2)
        .unwrap();
    assert_eq!(
        (d2.time, d2.worker),
        (Interval::new(910_000, 1_000_000), Some(0))
    );

    let samples: Vec<(i64, f64)> = trace
        .counters
        .iter()
        .map(|c| (c.time, c.series[0].1))
        .collect();
    assert_eq!(samples, [(0, 70.0), (500_000, 64.0)]);

    let instants: Vec<(&str, Option<u64>)> = trace
        .instants
        .iter()
        .map(|i| (i.name.as_str(), i.tid))
        .collect();
    assert_eq!(
        instants,
        [("job panicked", Some(1)), ("frame over budget", None)]
    );
    assert_eq!(trace.instants[0].args["message"], "index out of bounds");

    let meta = trace.meta.as_ref().unwrap();
    assert_eq!(
        meta.graph
            .iter()
            .map(|p| p.pass.as_str())
            .collect::<Vec<_>>(),
        ["a", "b", "c", "d"]
    );
    assert_eq!(meta.frames[1].critical_path, ["a", "b", "d"]);
    assert_eq!(
        meta.job_system.as_ref().unwrap().busy_ns,
        [730_000, 650_000]
    );
}

#[test]
fn without_the_jobs_object_lanes_and_window_are_inferred() {
    let trace = fixture("no_metadata.json");
    assert!(trace.meta.is_none());
    let kinds: Vec<LaneKind> = trace.lanes.iter().map(|lane| lane.kind).collect();
    assert_eq!(kinds, [LaneKind::Worker, LaneKind::Worker, LaneKind::Main]);
    // From the first timestamp (the main thread's span at 0) to the last span's end (60 us).
    assert_eq!(trace.window, Interval::new(0, 60_000));
}

#[test]
fn a_bare_event_array_and_string_ids_are_accepted() {
    let trace = Trace::from_json(
        r#"[{"ph":"b","cat":"frame","name":"frame","id":"0x10","ts":1.0},
            {"ph":"e","cat":"frame","name":"frame","id":"0x10","ts":3.0},
            {"ph":"X","tid":"2","ts":1.0,"dur":1.0,"name":"a"}]"#,
    )
    .unwrap();
    assert_eq!(trace.frames[0].number, 16);
    assert_eq!(trace.lanes[0].tid, 2);
    assert_eq!(trace.window, Interval::new(1_000, 3_000));
}

#[test]
fn a_missing_file_names_the_file() {
    let path = data("there is no such file.json");
    let err = Trace::read(&path).unwrap_err();
    assert!(matches!(err.problem, Problem::Io(_)));
    assert!(err
        .to_string()
        .starts_with(&format!("{}: cannot read", path.display())));
}

#[test]
fn text_that_is_not_json_is_reported_with_its_position() {
    let err = Trace::read(data("not_json.txt")).unwrap_err();
    assert!(matches!(err.problem, Problem::NotJson(_)), "{err}");
    let message = err.to_string();
    assert!(message.contains("not_json.txt: not JSON: "), "{message}");
    assert!(message.contains("at line 1 column"), "{message}");
}

#[test]
fn json_that_is_not_a_trace_says_what_is_missing() {
    let err = Trace::read(data("not_a_trace.json")).unwrap_err();
    assert!(matches!(err.problem, Problem::NotATrace(_)));
    assert!(
        err.to_string()
            .ends_with("not a trace: no \"traceEvents\" array"),
        "{err}"
    );

    let err = Trace::from_json("42").unwrap_err();
    assert!(matches!(err.problem, Problem::NotATrace(_)), "{err}");
}

#[test]
fn malformed_events_name_the_event_and_the_problem() {
    let cases = [
        (
            r#"[{"ph":"M","tid":0,"name":"thread_name","args":{}}, {"ph":"X","tid":0,"ts":1.0,"name":"a"}]"#,
            0,
            "no args.name",
        ),
        (
            r#"[{"ph":"X","tid":0,"ts":1.0,"name":"a","dur":1.0}, {"ph":"X","tid":0,"ts":1.0,"name":"a"}]"#,
            1,
            "no \"dur\"",
        ),
        (
            r#"[{"ph":"X","tid":0,"ts":1.0,"dur":-2.0,"name":"a"}]"#,
            0,
            "\"dur\" is -2",
        ),
        (
            r#"[{"ph":"X","ts":1.0,"dur":2.0,"name":"a"}]"#,
            0,
            "no \"tid\"",
        ),
        (
            r#"[{"ph":"b","cat":"frame","name":"frame","ts":1.0}]"#,
            0,
            "no \"id\"",
        ),
        (
            r#"[{"ph":"X","tid":0,"ts":1.0,"dur":2.0,"name":"a","args":{"frame":"x"}}]"#,
            0,
            "bad args",
        ),
    ];
    for (json, index, what) in cases {
        let err = Trace::from_json(json).unwrap_err();
        match &err.problem {
            Problem::BadEvent { index: i, what: w } => {
                assert_eq!(*i, index, "{err}");
                assert!(w.contains(what), "{err}");
            }
            other => panic!("{json}: expected a bad event, got {other:?}"),
        }
    }
}

#[test]
fn a_field_of_the_wrong_type_or_a_broken_jobs_object_is_not_a_trace() {
    let err = Trace::from_json(r#"{"traceEvents":[{"ph":"X","tid":0,"ts":"soon","dur":1.0}]}"#)
        .unwrap_err();
    assert!(matches!(err.problem, Problem::NotATrace(_)));
    assert!(
        err.to_string().contains("invalid type: string \"soon\""),
        "{err}"
    );

    let err =
        Trace::from_json(r#"{"traceEvents":[],"jobs":{"format":1,"lanes":[],"window_us":[0,1]}}"#)
            .unwrap_err();
    assert_eq!(
        err.to_string().split(" at line").next().unwrap(),
        "trace: not a trace: the \"jobs\" object: missing field `workers`"
    );
}

#[test]
fn a_file_of_another_format_version_is_refused_with_the_versions_named() {
    // A newer writer's file: refused before any of its fields is read (this one's `lanes` would
    // not even parse as format 1's).
    let newer = r#"{"traceEvents":[],"jobs":{"format":2,"lanes":"changed"}}"#;
    let err = Trace::from_json(newer).unwrap_err();
    assert!(matches!(
        err.problem,
        Problem::Version(jobs_trace_format::VersionError { found: 2 })
    ));
    assert_eq!(
        err.to_string(),
        "trace: trace format 2 is newer than this reader's (it reads formats 1 to 1): read it \
         with a newer version of the tools"
    );
    let older =
        r#"{"traceEvents":[],"jobs":{"format":0,"workers":0,"lanes":[],"window_us":[0,1]}}"#;
    let err = Trace::from_json(older).unwrap_err();
    assert!(err.to_string().contains("trace format 0 is older"), "{err}");
    // No version at all is a broken `jobs` object.
    let err = Trace::from_json(r#"{"traceEvents":[],"jobs":{"workers":0}}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `format`"), "{err}");
}

//! Conditional passes: a pass under a flag runs only in frames where the flag is on (the graph's
//! own flags start off in every frame, the simulate and render parts on), and the passes after
//! a switched-off one run all the same.

mod common;

use std::sync::{Arc, Mutex};

use common::{system, watchdog, DT};
use frame::{Flag, FrameError, Frames, FramesConfig, GraphBuilder, GraphError};

#[test]
fn a_pass_runs_only_where_its_flags_are_on() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let mut graph = GraphBuilder::new();
            let debug = graph.flag("debug");
            let shot = graph.flag("screenshot");
            let log = graph.import("log", Vec::<(u64, &str)>::new());
            // One writer after another, so that the log is in pass order.
            let always = graph
                .pass("always", log.write(), |log, cx| {
                    log.push((cx.frame().number, "always"))
                })
                .id();
            let debug_pass = graph
                .pass("debug", log.write(), |log, cx| {
                    log.push((cx.frame().number, "debug"))
                })
                .run_if(debug)
                .after(always)
                .id();
            let shot_pass = graph
                .pass("debug shot", log.write(), |log, cx| {
                    log.push((cx.frame().number, "debug shot"))
                })
                .run_if(debug)
                .run_if(shot)
                .after(debug_pass)
                .id();
            let render = graph
                .pass("render", log.write(), |log, cx| {
                    assert!(cx.frame().renders());
                    log.push((cx.frame().number, "render"))
                })
                .render()
                .after(shot_pass)
                .id();
            graph
                .pass("after", log.write(), |log, cx| {
                    log.push((cx.frame().number, "after"))
                })
                .simulate()
                .after(render);
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames =
                Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap();
            let mut expected = Vec::new();
            for n in 0..12u64 {
                let mut setup = frames.begin_frame().unwrap();
                let (d, s, r, sim) = (n % 2 == 1, n % 3 == 0, n % 4 != 3, n % 5 != 4);
                setup.set_flag(debug, d).unwrap();
                setup.set_flag(shot, s).unwrap();
                setup.render(r);
                setup.simulate(sim);
                if n == 5 {
                    // Set, then unset: the last word counts.
                    setup.set_flag(shot, true).unwrap();
                    setup.set_flag(shot, false).unwrap();
                }
                if n == 7 {
                    // A setup dropped unstarted leaves nothing behind for the next.
                    setup = frames.begin_frame().unwrap();
                    setup.set_flag(debug, d).unwrap();
                }
                setup.start(DT).unwrap();
                let (s, r, sim) = if n == 7 {
                    (false, true, true)
                } else {
                    (s, r, sim)
                };
                let on = [true, d, d && s && n != 5, r, sim];
                let names = ["always", "debug", "debug shot", "render", "after"];
                for (name, on) in names.iter().zip(on) {
                    if on {
                        expected.push((n, *name));
                    }
                }
            }
            assert_eq!(
                *frames.resource(log).unwrap(),
                expected,
                "{in_flight} in flight"
            );
            let history = frames.history();
            let debug_runs = history
                .iter()
                .filter(|f| f.passes[1].start.is_some())
                .count();
            assert_eq!(debug_runs, 6, "a switched-off pass reports no start");
        }
    });
}

#[test]
fn flags_of_another_graph_are_refused() {
    watchdog(30, || {
        let mut other = GraphBuilder::new();
        let foreign = other.flag("foreign");
        let mut graph = GraphBuilder::new();
        graph.pass("p", (), |_, _| {}).side_effect();
        let mut frames = Frames::new(system(1), graph.compile().unwrap()).unwrap();
        let mut setup = frames.begin_frame().unwrap();
        assert_eq!(setup.set_flag(foreign, true), Err(FrameError::ForeignFlag));
        assert!(
            setup.set_flag(Flag::RENDER, false).is_ok(),
            "built-in flags fit any"
        );
        setup.start(DT).unwrap();
        frames.finish().unwrap();
    });
}

#[test]
fn at_most_max_flags() {
    let mut graph = GraphBuilder::new();
    let flags: Vec<Flag> = (0..Flag::MAX)
        .map(|i| graph.flag(&format!("f{i}")))
        .collect();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let last = *flags.last().unwrap();
    graph
        .pass("last", (), move |_, cx| {
            s.lock().unwrap().push(cx.frame().number)
        })
        .side_effect()
        .run_if(last);
    let mut frames = Frames::new(system(1), graph.compile().expect("62 flags")).unwrap();
    frames.run_frame(DT).unwrap();
    let mut setup = frames.begin_frame().unwrap();
    setup.set_flag(last, true).unwrap();
    setup.start(DT).unwrap();
    frames.finish().unwrap();
    assert_eq!(*seen.lock().unwrap(), [1]);

    let mut graph = GraphBuilder::new();
    for i in 0..=Flag::MAX {
        graph.flag(&format!("f{i}"));
    }
    graph.pass("p", (), |_, _| {}).side_effect();
    let error = graph.compile().err().expect("too many");
    assert_eq!(error, GraphError::TooManyFlags { flags: 63 });
    assert!(error.to_string().contains("63") && error.to_string().contains("62"));
}

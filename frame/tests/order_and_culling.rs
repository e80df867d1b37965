//! What compiling decides: the order passes start in, which passes are culled, what each waits
//! for in its frame and in the previous one.

mod common;

use std::sync::{Arc, Mutex};

use common::{system, watchdog, DT};
use frame::{Frames, FramesConfig, GraphBuilder};

#[test]
fn order_follows_the_resources_whatever_the_declaration_order() {
    let mut graph = GraphBuilder::new();
    let image = graph.import("image", 0u32);
    let lit = graph.transient::<f32>("lit", 16);
    let gbuffer = graph.transient::<f32>("gbuffer", 16);
    let world = graph.import("world", 0u32);
    // Declared last-first.
    graph.pass("present", (lit.read(), image.write()), |_, _| {});
    graph.pass("light", (gbuffer.read(), lit.write()), |_, _| {});
    graph.pass("geometry", (world.read(), gbuffer.write()), |_, _| {});
    graph.pass("simulate", world.write(), |_, _| {});
    let graph = graph.compile().expect("a chain");
    assert_eq!(graph.order(), ["simulate", "geometry", "light", "present"]);
    assert!(graph.culled().is_empty());
    assert_eq!(graph.dependencies("simulate"), Some(vec![]));
    assert_eq!(graph.dependencies("geometry"), Some(vec!["simulate"]));
    assert_eq!(graph.dependencies("light"), Some(vec!["geometry"]));
    assert_eq!(graph.dependencies("present"), Some(vec!["light"]));
}

#[test]
fn independent_passes_keep_their_declaration_order() {
    let mut graph = GraphBuilder::new();
    let names = ["e", "b", "d", "a", "c"];
    for name in names {
        let x = graph.import(name, 0u8);
        graph.pass(name, x.write(), |_, _| {});
    }
    let graph = graph.compile().expect("nothing conflicts");
    assert_eq!(graph.order(), names);
    for name in names {
        assert_eq!(graph.dependencies(name), Some(vec![]));
    }
}

#[test]
fn dependencies_list_only_edges_no_other_path_implies() {
    // a -> b -> c through x and y; a -> c through x is implied by a -> b -> c.
    let mut graph = GraphBuilder::new();
    let x = graph.import("x", 0u32);
    let y = graph.import("y", 0u32);
    let z = graph.import("z", 0u32);
    graph.pass("a", x.write(), |_, _| {});
    graph.pass("b", (x.read(), y.write()), |_, _| {});
    graph.pass("c", (x.read(), y.read(), z.write()), |_, _| {});
    // d reads x and writes its own: only after a.
    let w = graph.import("w", 0u32);
    graph.pass("d", (x.read(), w.write()), |_, _| {});
    let graph = graph.compile().expect("a diamond-free chain");
    assert_eq!(graph.order(), ["a", "b", "c", "d"]);
    assert_eq!(graph.dependencies("a"), Some(vec![]));
    assert_eq!(graph.dependencies("b"), Some(vec!["a"]));
    assert_eq!(graph.dependencies("c"), Some(vec!["b"]));
    assert_eq!(graph.dependencies("d"), Some(vec!["a"]));
    assert_eq!(graph.dependencies("nope"), None);
}

#[test]
fn a_join_waits_for_both_branches() {
    let mut graph = GraphBuilder::new();
    let source = graph.import("source", 0u32);
    let left = graph.transient::<u32>("left", 4);
    let right = graph.transient::<u32>("right", 4);
    let out = graph.import("out", 0u32);
    graph.pass("source", source.write(), |_, _| {});
    graph.pass("left", (source.read(), left.write()), |_, _| {});
    graph.pass("right", (source.read(), right.write()), |_, _| {});
    graph.pass("join", (left.read(), right.read(), out.write()), |_, _| {});
    let graph = graph.compile().expect("a diamond");
    assert_eq!(graph.order(), ["source", "left", "right", "join"]);
    assert_eq!(graph.dependencies("left"), Some(vec!["source"]));
    assert_eq!(graph.dependencies("right"), Some(vec!["source"]));
    assert_eq!(graph.dependencies("join"), Some(vec!["left", "right"]));
}

#[test]
fn explicit_orderings_order_unrelated_passes() {
    let mut graph = GraphBuilder::new();
    let x = graph.import("x", 0u32);
    let y = graph.import("y", 0u32);
    let late = graph.pass("late", x.write(), |_, _| {}).id();
    let early = graph.pass("early", y.write(), |_, _| {}).before(late).id();
    graph
        .pass("first", (), |(), _| {})
        .before(early)
        .side_effect();
    let graph = graph.compile().expect("no cycle");
    assert_eq!(graph.order(), ["first", "early", "late"]);
    assert_eq!(graph.dependencies("late"), Some(vec!["early"]));
    assert_eq!(graph.dependencies("early"), Some(vec!["first"]));
}

#[test]
fn culling() {
    let mut graph = GraphBuilder::new();
    let world = graph.import("world", 0u32);
    let used = graph.transient::<u32>("used", 8);
    let unread = graph.transient::<u32>("unread", 8);
    let chain1 = graph.transient::<u32>("chain1", 8);
    let chain2 = graph.transient::<u32>("chain2", 8);
    let state = graph.scratch("state", 0u32);
    // Kept: writes an imported resource, and what it reads from a transient.
    graph.pass("make used", used.write(), |_, _| {});
    graph.pass("consume", (used.read(), world.write()), |_, _| {});
    // Culled: writes only a transient nothing reads.
    graph.pass("write unread", unread.write(), |_, _| {});
    // Culled: a chain of transients that ends nowhere.
    graph.pass("chain start", chain1.write(), |_, _| {});
    graph.pass("chain end", (chain1.read(), chain2.write()), |_, _| {});
    // Culled: only reads.
    graph.pass("only reads", world.read(), |_, _| {});
    // Kept: only reads, but has a side effect, and so what it reads from a transient.
    graph
        .pass("present", (world.read(), used.read()), |_, _| {})
        .side_effect();
    // Kept: writes a per-frame resource.
    graph.pass("per frame", state.write(), |_, _| {});
    // Kept: side effect, touches nothing.
    graph.pass("log", (), |(), _| {}).side_effect();
    let graph = graph.compile().expect("compiles");
    assert_eq!(
        graph.order(),
        ["make used", "consume", "present", "per frame", "log"]
    );
    assert_eq!(
        graph.culled(),
        ["write unread", "chain start", "chain end", "only reads"]
    );
    assert_eq!(graph.dependencies("only reads"), None, "culled");
    assert_eq!(graph.previous_frame_dependencies("chain end"), None);
    assert_eq!(graph.dependencies("present"), Some(vec!["consume"]));
}

#[test]
fn an_ordering_through_a_culled_pass_still_orders_the_kept_ones() {
    let mut graph = GraphBuilder::new();
    let x = graph.import("x", 0u32);
    let y = graph.import("y", 0u32);
    let first = graph.pass("first", x.write(), |_, _| {}).id();
    let middle = graph
        .pass("culled middle", (), |(), _| {})
        .after(first)
        .id();
    graph.pass("last", y.write(), |_, _| {}).after(middle);
    let graph = graph.compile().expect("compiles");
    assert_eq!(graph.order(), ["first", "last"]);
    assert_eq!(graph.culled(), ["culled middle"]);
    assert_eq!(graph.dependencies("last"), Some(vec!["first"]));
}

#[test]
fn a_reader_only_pass_is_kept_only_with_a_side_effect() {
    for side_effect in [false, true] {
        let mut graph = GraphBuilder::new();
        let x = graph.import("x", 0u32);
        let config = graph.pass("look", x.read(), |_, _| {});
        if side_effect {
            config.side_effect();
        }
        let graph = graph.compile().expect("compiles");
        if side_effect {
            assert_eq!(graph.order(), ["look"]);
            assert!(graph.culled().is_empty());
        } else {
            assert!(graph.order().is_empty());
            assert_eq!(graph.culled(), ["look"]);
        }
    }
}

#[test]
fn culled_passes_never_run() {
    watchdog(30, || {
        let runs = Arc::new(Mutex::new(Vec::new()));
        let mut graph = GraphBuilder::new();
        let unread = graph.transient::<u32>("unread", 8);
        let x = graph.import("x", 0u32);
        let log = |name: &'static str| {
            let runs = Arc::clone(&runs);
            move || runs.lock().unwrap().push(name)
        };
        let (l1, l2, l3) = (log("culled writer"), log("culled reader"), log("kept"));
        graph.pass("culled writer", unread.write(), move |_, _| l1());
        graph.pass("culled reader", x.read(), move |_, _| l2());
        graph.pass("kept", x.write(), move |_, _| l3());
        let mut frames = Frames::new(system(2), graph.compile().unwrap()).unwrap();
        for _ in 0..5 {
            frames.run_frame(DT).unwrap();
        }
        frames.finish().unwrap();
        assert_eq!(*runs.lock().unwrap(), ["kept"; 5]);
    });
}

#[test]
fn previous_frame_dependencies() {
    let mut graph = GraphBuilder::new();
    let world = graph.import("world", 0u32);
    let state = graph.scratch("state", 0u32);
    let out = graph.scratch("out", 0u32);
    // "simulate" reads its previous state and writes the new one; "render" reads the new
    // state; "stats" only touches its own per-frame output; "edit" writes the imported world,
    // "view" reads it.
    graph.pass(
        "simulate",
        (state.read_previous(), state.write()),
        |_, _| {},
    );
    graph.pass("render", state.read(), |_, _| {}).side_effect();
    graph.pass("stats", out.write(), |_, _| {});
    graph.pass("edit", world.write(), |_, _| {});
    graph.pass("view", world.read(), |_, _| {}).side_effect();
    let graph = graph.compile().expect("compiles");
    assert_eq!(
        graph.order(),
        ["simulate", "render", "stats", "edit", "view"]
    );
    // Each waits for its own run in the previous frame...
    assert_eq!(
        graph.previous_frame_dependencies("simulate"),
        Some(vec!["simulate"])
    );
    assert_eq!(
        graph.previous_frame_dependencies("render"),
        Some(vec!["render"])
    );
    assert_eq!(
        graph.previous_frame_dependencies("stats"),
        Some(vec!["stats"])
    );
    // ...and "edit" for the previous frame's "view" of the world it is about to change, which
    // implies the previous "edit"; "view" waits for this frame's "edit", which implies the
    // previous "view".
    assert_eq!(
        graph.previous_frame_dependencies("edit"),
        Some(vec!["view"])
    );
    assert_eq!(graph.previous_frame_dependencies("view"), Some(vec![]));
    assert_eq!(graph.previous_frame_dependencies("nope"), None);
}

#[test]
fn a_reader_ordered_before_a_writer_reads_the_value_before_the_write() {
    watchdog(30, || {
        for in_flight in 1..=3 {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let mut graph = GraphBuilder::new();
            let x = graph.import("x", 0u64);
            let log = Arc::clone(&seen);
            let read_old = graph
                .pass("read old", x.read(), move |x, cx| {
                    log.lock().unwrap().push((cx.frame().number, *x));
                })
                .side_effect()
                .id();
            graph
                .pass("write", x.write(), |x, cx| *x = cx.frame().number + 1)
                .after(read_old);
            let log = Arc::clone(&seen);
            graph
                .pass("read new", x.read(), move |x, cx| {
                    log.lock().unwrap().push((cx.frame().number + 1000, *x));
                })
                .side_effect();
            let graph = graph.compile().expect("compiles");
            assert_eq!(graph.order(), ["read old", "write", "read new"]);
            assert_eq!(graph.dependencies("write"), Some(vec!["read old"]));
            let config = FramesConfig::default().in_flight(in_flight);
            let mut frames = Frames::with_config(system(2), graph, config).unwrap();
            for _ in 0..50 {
                frames.run_frame(DT).unwrap();
            }
            assert_eq!(*frames.resource(x).unwrap(), 50);
            let mut seen = seen.lock().unwrap().clone();
            seen.sort_unstable();
            let expected: Vec<(u64, u64)> = (0..50)
                .map(|n| (n, n))
                .chain((0..50).map(|n| (n + 1000, n + 1)))
                .collect();
            assert_eq!(seen, expected, "{in_flight} frames in flight");
        }
    });
}

#[test]
fn long_chains_and_wide_graphs_beyond_one_word_of_passes() {
    watchdog(60, || {
        // 150 passes in a chain through transients, declared in reverse, ending in an
        // imported result; and 70 unread transients' writers, culled.
        let count = 150;
        let mut graph = GraphBuilder::new();
        let links: Vec<_> = (0..count)
            .map(|i| graph.transient::<u64>(&format!("link{i}"), 1))
            .collect();
        let result = graph.import("result", 0u64);
        for i in (0..count).rev() {
            let name = format!("step{i}");
            if i == 0 {
                graph.pass(&name, links[0].write(), |l, cx| l[0] = cx.frame().number);
            } else {
                graph.pass(
                    &name,
                    (links[i - 1].read(), links[i].write()),
                    |(a, b), _| b[0] = a[0] + 1,
                );
            }
        }
        graph.pass(
            "finish",
            (links[count - 1].read(), result.write()),
            |(l, r), _| *r = l[0],
        );
        for i in 0..70 {
            let unread = graph.transient::<u8>(&format!("unread{i}"), 1);
            graph.pass(&format!("waste{i}"), unread.write(), |_, _| {});
        }
        let graph = graph.compile().expect("a long chain");
        let order = graph.order();
        assert_eq!(order.len(), count + 1);
        for (i, name) in order.iter().take(count).enumerate() {
            assert_eq!(*name, format!("step{i}"));
            let expected: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("step{}", i - 1)]
            };
            assert_eq!(graph.dependencies(name).unwrap(), expected);
            assert_eq!(graph.previous_frame_dependencies(name).unwrap(), [*name]);
        }
        assert_eq!(graph.culled().len(), 70);
        let mut frames = Frames::new(system(2), graph).unwrap();
        for _ in 0..20 {
            frames.run_frame(DT).unwrap();
        }
        assert_eq!(*frames.resource(result).unwrap(), 19 + count as u64 - 1);
    });
}

#[test]
fn names_with_quotes_are_escaped_in_the_dot_dump() {
    let mut graph = GraphBuilder::new();
    let x = graph.import("the \"x\"", 0u32);
    graph.pass("say \"hi\"", x.write(), |_, _| {});
    graph.pass("back\\slash", x.read(), |_, _| {}).side_effect();
    let dot = graph.compile().unwrap().to_dot();
    assert!(
        dot.contains(r#""say \"hi\"" -> "back\\slash" [label="the \"x\""]"#),
        "{dot}"
    );
}

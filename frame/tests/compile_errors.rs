//! Compiling rejects what cannot be ordered safely: each error with its exact variant, the
//! passes and resources it names, and a message that names them too.

use frame::{GraphBuilder, GraphError};

/// A pass that touches nothing.
fn empty<'g>(graph: &'g mut GraphBuilder, name: &str) -> frame::PassConfig<'g> {
    graph.pass(name, (), |(), _| {})
}

fn compile_error(graph: GraphBuilder) -> GraphError {
    match graph.compile() {
        Ok(graph) => panic!("compiled, order {:?}", graph.order()),
        Err(error) => error,
    }
}

fn assert_message_names(error: &GraphError, names: &[&str]) {
    let message = error.to_string();
    for name in names {
        assert!(
            message.contains(&format!("`{name}`")) || message.contains(name),
            "the message {message:?} does not name {name:?}"
        );
    }
}

/// Checks a cycle's shape: closed (first again last), each pass once, exactly `expected`.
fn assert_cycle(passes: &[String], expected: &[&str]) {
    assert!(passes.len() >= 2, "a cycle of {passes:?}");
    assert_eq!(
        passes.first(),
        passes.last(),
        "the cycle {passes:?} is closed"
    );
    let mut on_cycle: Vec<&str> = passes[..passes.len() - 1]
        .iter()
        .map(String::as_str)
        .collect();
    on_cycle.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(on_cycle, expected, "the passes on the cycle {passes:?}");
}

#[test]
fn explicit_cycle_names_its_passes_and_no_resource() {
    let mut graph = GraphBuilder::new();
    let a = empty(&mut graph, "a").side_effect().id();
    let b = empty(&mut graph, "b").after(a).side_effect().id();
    empty(&mut graph, "c").after(b).before(a).side_effect();
    empty(&mut graph, "outside").after(a).side_effect();
    let error = compile_error(graph);
    let GraphError::Cycle { passes, resource } = &error else {
        panic!("expected a cycle, got {error:?}");
    };
    assert_cycle(passes, &["a", "b", "c"]);
    assert_eq!(*resource, None);
    assert_message_names(&error, &["a", "b", "c"]);
    assert!(error.to_string().contains("cycle"), "{error}");
}

#[test]
fn two_pass_cycle_from_before_and_after() {
    let mut graph = GraphBuilder::new();
    let first = empty(&mut graph, "first").id();
    empty(&mut graph, "second").after(first).before(first);
    let error = compile_error(graph);
    let GraphError::Cycle { passes, resource } = &error else {
        panic!("expected a cycle, got {error:?}");
    };
    assert_cycle(passes, &["first", "second"]);
    assert_eq!(*resource, None);
}

#[test]
fn cycle_through_a_resource_and_explicit_orderings_names_the_resource() {
    // "w1" writes x, "r1" reads it (an edge through x); "r1" is explicitly before "w2", which
    // writes x, and "r2" reads x after "w2" (another edge through x) and is explicitly before
    // "w1": w1 -> r1 -> w2 -> r2 -> w1.
    let mut graph = GraphBuilder::new();
    let x = graph.import("x", 0u32);
    let w1 = graph.pass("w1", x.write(), |_, _| {}).id();
    let w2 = graph.pass("w2", x.write(), |_, _| {}).id();
    graph.pass("r1", x.read(), |_, _| {}).before(w2);
    graph.pass("r2", x.read(), |_, _| {}).before(w1);
    let error = compile_error(graph);
    let GraphError::Cycle { passes, resource } = &error else {
        panic!("expected a cycle, got {error:?}");
    };
    assert_cycle(passes, &["r1", "r2", "w1", "w2"]);
    assert_eq!(resource.as_deref(), Some("x"));
    assert_message_names(&error, &["w1", "r1", "w2", "r2", "x"]);
    assert!(
        error.to_string().contains("through resource `x`"),
        "{error}"
    );
}

#[test]
fn cycle_through_two_resources_and_an_explicit_ordering() {
    // a -> b through x, b -> c through y, c explicitly before a.
    let mut graph = GraphBuilder::new();
    let x = graph.import("x", 0u32);
    let y = graph.import("y", 0u32);
    let z = graph.import("z", 0u32);
    let a = graph.pass("a", x.write(), |_, _| {}).id();
    graph.pass("b", (x.read(), y.write()), |_, _| {});
    graph.pass("c", (y.read(), z.write()), |_, _| {}).before(a);
    let error = compile_error(graph);
    let GraphError::Cycle { passes, resource } = &error else {
        panic!("expected a cycle, got {error:?}");
    };
    assert_cycle(passes, &["a", "b", "c"]);
    let resource = resource
        .as_deref()
        .expect("the cycle goes through a resource");
    assert!(["x", "y"].contains(&resource), "named {resource}");
    assert_message_names(&error, &["a", "b", "c", resource]);
}

#[test]
fn cycle_through_resources_only() {
    // Each writes what the other reads.
    let mut graph = GraphBuilder::new();
    let x = graph.import("x", 0u32);
    let y = graph.import("y", 0u32);
    graph.pass("a", (y.read(), x.write()), |_, _| {});
    graph.pass("b", (x.read(), y.write()), |_, _| {});
    let error = compile_error(graph);
    let GraphError::Cycle { passes, resource } = &error else {
        panic!("expected a cycle, got {error:?}");
    };
    assert_cycle(passes, &["a", "b"]);
    let resource = resource
        .as_deref()
        .expect("the cycle goes through a resource");
    assert!(["x", "y"].contains(&resource), "named {resource}");
}

#[test]
fn unordered_writers_name_both_passes_and_the_resource() {
    let mut graph = GraphBuilder::new();
    let x = graph.import("shared", 0u32);
    let other = graph.import("other", 0u32);
    graph.pass("first writer", x.write(), |_, _| {});
    graph.pass("bystander", other.write(), |_, _| {});
    graph.pass("second writer", x.write(), |_, _| {});
    let error = compile_error(graph);
    assert_eq!(
        error,
        GraphError::UnorderedWrites {
            resource: "shared".into(),
            first: "first writer".into(),
            second: "second writer".into(),
        }
    );
    assert_message_names(&error, &["first writer", "second writer", "shared"]);
}

#[test]
fn unordered_writers_of_a_per_frame_and_a_transient_resource() {
    let mut graph = GraphBuilder::new();
    let state = graph.scratch("state", 0u32);
    graph.pass("a", state.write(), |_, _| {});
    graph.pass("b", state.write(), |_, _| {});
    assert!(matches!(
        compile_error(graph),
        GraphError::UnorderedWrites { resource, first, second }
            if resource == "state" && first == "a" && second == "b"
    ));

    let mut graph = GraphBuilder::new();
    let scratch = graph.transient::<u32>("scratch", 16);
    graph.pass("a", scratch.write(), |_, _| {});
    graph.pass("b", scratch.write(), |_, _| {});
    assert!(matches!(
        compile_error(graph),
        GraphError::UnorderedWrites { resource, first, second }
            if resource == "scratch" && first == "a" && second == "b"
    ));
}

#[test]
fn writers_ordered_explicitly_or_through_another_resource_compile() {
    let mut graph = GraphBuilder::new();
    let x = graph.import("x", 0u32);
    let y = graph.import("y", 0u32);
    let a = graph.pass("a", x.write(), |_, _| {}).id();
    let b = graph.pass("b", x.write(), |_, _| {}).after(a).id();
    // c and d both write x; c writes y, which d reads: c -> d.
    graph.pass("d", (y.read(), x.write()), |_, _| {}).after(b);
    graph.pass("c", (x.write(), y.write()), |_, _| {}).after(b);
    let graph = graph.compile().expect("every pair of writers is ordered");
    assert_eq!(graph.order(), ["a", "b", "c", "d"]);
}

#[test]
fn reading_a_transient_nothing_writes() {
    let mut graph = GraphBuilder::new();
    let scratch = graph.transient::<f32>("scratch", 64);
    let out = graph.import("out", 0u32);
    graph.pass("reader", (scratch.read(), out.write()), |_, _| {});
    let error = compile_error(graph);
    assert_eq!(
        error,
        GraphError::ReadWithoutWriter {
            pass: "reader".into(),
            resource: "scratch".into(),
        }
    );
    assert_message_names(&error, &["reader", "scratch"]);
}

#[test]
fn reading_a_transient_before_its_writer() {
    // The only writer is explicitly after the reader: nothing before the reader writes it.
    let mut graph = GraphBuilder::new();
    let scratch = graph.transient::<u8>("scratch", 64);
    let early = graph
        .pass("early reader", scratch.read(), |_, _| {})
        .side_effect()
        .id();
    graph
        .pass("late writer", scratch.write(), |_, _| {})
        .after(early);
    assert_eq!(
        compile_error(graph),
        GraphError::ReadWithoutWriter {
            pass: "early reader".into(),
            resource: "scratch".into(),
        }
    );
}

#[test]
fn reading_an_imported_or_per_frame_resource_nothing_writes_is_fine() {
    let mut graph = GraphBuilder::new();
    let settings = graph.import("settings", 1u32);
    let input = graph.scratch("input", 0u32);
    graph
        .pass("use", (settings.read(), input.read()), |_, _| {})
        .side_effect();
    assert_eq!(graph.compile().expect("compiles").order(), ["use"]);
}

#[test]
fn duplicate_pass_name() {
    let mut graph = GraphBuilder::new();
    empty(&mut graph, "draw").side_effect();
    empty(&mut graph, "other").side_effect();
    empty(&mut graph, "draw").side_effect();
    let error = compile_error(graph);
    assert_eq!(
        error,
        GraphError::DuplicatePass {
            pass: "draw".into()
        }
    );
    assert_message_names(&error, &["draw"]);
}

#[test]
fn pass_or_flag_from_another_builder() {
    let mut other = GraphBuilder::new();
    let foreign = empty(&mut other, "a").side_effect().id();
    let foreign_flag = other.flag("other's");
    let mut graph = GraphBuilder::new();
    empty(&mut graph, "a").side_effect();
    empty(&mut graph, "b").before(foreign).side_effect();
    let error = compile_error(graph);
    assert_eq!(error, GraphError::ForeignPass { pass: "b".into() });
    assert_message_names(&error, &["b"]);

    let mut graph = GraphBuilder::new();
    empty(&mut graph, "a").after(foreign).side_effect();
    assert_eq!(
        compile_error(graph),
        GraphError::ForeignPass { pass: "a".into() }
    );

    let mut graph = GraphBuilder::new();
    empty(&mut graph, "a").side_effect().run_if(foreign_flag);
    let error = compile_error(graph);
    assert_eq!(error, GraphError::ForeignFlag { pass: "a".into() });
    assert_message_names(&error, &["a"]);
}

#[test]
fn a_pass_ordered_against_itself_is_a_cycle() {
    let mut graph = GraphBuilder::new();
    let config = empty(&mut graph, "alone").side_effect();
    let alone = config.id();
    config.after(alone);
    let GraphError::Cycle { passes, .. } = compile_error(graph) else {
        panic!("expected a cycle");
    };
    assert_eq!(passes, ["alone", "alone"]);
}

#[test]
fn resource_handle_from_another_builder() {
    let mut other = GraphBuilder::new();
    let foreign = other.import("foreign", 0u32);
    let foreign_buf = other.transient::<u32>("foreign buffer", 4);

    let mut graph = GraphBuilder::new();
    let mine = graph.import("mine", 0u32);
    graph.pass("fine", mine.write(), |_, _| {});
    graph
        .pass("thief", (mine.read(), foreign.read()), |_, _| {})
        .side_effect();
    let error = compile_error(graph);
    assert_eq!(
        error,
        GraphError::ForeignResource {
            pass: "thief".into()
        }
    );
    assert_message_names(&error, &["thief"]);

    // Same for a transient buffer, and even if the index exists in this builder too.
    let mut graph = GraphBuilder::new();
    let _first = graph.transient::<u32>("first", 4);
    graph.pass("thief", foreign_buf.write(), |_, _| {});
    assert_eq!(
        compile_error(graph),
        GraphError::ForeignResource {
            pass: "thief".into()
        }
    );
    drop(other);
}

#[test]
fn same_resource_declared_twice_in_one_pass() {
    fn duplicate(declare: impl FnOnce(&mut GraphBuilder, frame::Res<u32>)) {
        let mut graph = GraphBuilder::new();
        let x = graph.scratch("x", 0u32);
        declare(&mut graph, x);
        let error = compile_error(graph);
        assert_eq!(
            error,
            GraphError::DuplicateAccess {
                pass: "p".into(),
                resource: "x".into(),
            }
        );
        assert_message_names(&error, &["p", "x"]);
    }
    duplicate(|g, x| {
        g.pass("p", (x.read(), x.write()), |_, _| {});
    });
    duplicate(|g, x| {
        g.pass("p", (x.write(), x.read()), |_, _| {});
    });
    duplicate(|g, x| {
        g.pass("p", (x.read(), x.read()), |_, _| {}).side_effect();
    });
    duplicate(|g, x| {
        g.pass("p", (x.write(), x.write()), |_, _| {});
    });
    duplicate(|g, x| {
        g.pass("p", (x.read_previous(), x.read_previous()), |_, _| {})
            .side_effect();
    });
    // Not adjacent, among other resources.
    let mut graph = GraphBuilder::new();
    let x = graph.import("x", 0u32);
    let y = graph.import("y", 0u32);
    let t = graph.transient::<u32>("t", 4);
    graph.pass("p", (t.write(), x.read(), y.write(), t.read()), |_, _| {});
    assert_eq!(
        compile_error(graph),
        GraphError::DuplicateAccess {
            pass: "p".into(),
            resource: "t".into(),
        }
    );
}

#[test]
fn read_previous_with_write_or_read_of_one_per_frame_resource_is_allowed() {
    let mut graph = GraphBuilder::new();
    let x = graph.scratch("x", 0u32);
    graph.pass(
        "step",
        (x.read_previous(), x.write()),
        |(before, now), _| {
            *now = *before + 1;
        },
    );
    graph
        .pass("look", (x.read(), x.read_previous()), |_, _| {})
        .side_effect();
    let graph = graph
        .compile()
        .expect("read_previous and write are distinct");
    assert_eq!(graph.order(), ["step", "look"]);
}

#[test]
fn read_previous_of_an_imported_resource() {
    let mut graph = GraphBuilder::new();
    let settings = graph.import("settings", 0u32);
    let out = graph.import("out", 0u32);
    graph.pass("smooth", (settings.read_previous(), out.write()), |_, _| {});
    let error = compile_error(graph);
    assert_eq!(
        error,
        GraphError::NotPerFrame {
            pass: "smooth".into(),
            resource: "settings".into(),
        }
    );
    assert_message_names(&error, &["smooth", "settings"]);
}

#[test]
fn errors_are_std_errors() {
    let mut graph = GraphBuilder::new();
    empty(&mut graph, "a").side_effect();
    empty(&mut graph, "a").side_effect();
    let error: Box<dyn std::error::Error> = Box::new(compile_error(graph));
    assert!(error.to_string().contains('a'));
}

#[test]
fn an_empty_graph_compiles() {
    let graph = GraphBuilder::new().compile().expect("nothing to reject");
    assert!(graph.order().is_empty());
    assert!(graph.culled().is_empty());
    assert_eq!(graph.dependencies("anything"), None);
}

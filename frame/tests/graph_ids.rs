//! Graph ids are never given twice: a handle of one graph never matches a graph made later,
//! even after 2^32 graph builders (a `u32` counter that wrapped gave the first graph's id to
//! the 2^32nd builder after it, and the stale handle read a `String` as a `u32`). Alone in its
//! binary: it uses up the process's graph ids.

mod common;

use common::system;
use frame::{FrameError, Frames, GraphBuilder, GraphError};

#[test]
#[ignore = "makes 2^32 graph builders, about a minute in release: \
            cargo test --release -p frame --test graph_ids -- --ignored"]
fn a_stale_handle_never_matches_a_graph_made_after_every_id_was_used() {
    let mut first = GraphBuilder::new();
    let number = first.import("number", 7u32);
    first.pass("count", number.write(), |n, _| *n += 1);
    let mut first = Frames::new(system(1), first.compile().unwrap()).unwrap();
    assert_eq!(*first.resource(number).unwrap(), 7);
    // As many builders as there are u32 values: a wrapping counter comes back to the first id.
    for _ in 0..u32::MAX {
        drop(GraphBuilder::new());
    }
    let mut later = GraphBuilder::new();
    let text = later.import("text", String::from("not a number"));
    later.pass("shout", text.write(), |t, _| t.push('!'));
    match later.compile() {
        Err(error) => assert_eq!(error, GraphError::OutOfGraphIds),
        Ok(graph) => {
            let mut frames = Frames::new(system(1), graph).unwrap();
            assert_eq!(
                frames.resource(number).err(),
                Some(FrameError::ForeignResource),
                "a handle of the first graph matched a graph made 2^32 builders later"
            );
        }
    }
    // The first graph still works with its own handles.
    assert_eq!(*first.resource(number).unwrap(), 7);
}

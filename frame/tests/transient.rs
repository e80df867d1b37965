//! Transient memory: each frame's buffers come from its tag in the tagged heap, are reused by
//! later frames, and are never handed to a frame while another frame still uses them.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{spin, system, watchdog, Timeline, DT};
use frame::{FrameError, Frames, FramesConfig, GraphBuilder};

fn frames_with(graph: GraphBuilder, in_flight: usize) -> Frames {
    let config = FramesConfig::default().in_flight(in_flight);
    Frames::with_config(system(2), graph.compile().expect("compiles"), config).unwrap()
}

#[test]
fn transient_memory_is_reused_across_frames() {
    watchdog(60, || {
        for in_flight in 1..=3 {
            let addresses = Arc::new(Mutex::new(Vec::new()));
            let mut graph = GraphBuilder::new();
            let scratch = graph.transient::<u64>("scratch", 1000);
            let other = graph.transient::<[u8; 3]>("other", 10);
            let out = graph.scratch("out", 0u64);
            let a = Arc::clone(&addresses);
            graph.pass(
                "fill",
                (scratch.write(), other.write()),
                move |(s, o), cx| {
                    assert_eq!(s.len(), 1000);
                    assert_eq!(o.len(), 10);
                    // Aligned to at least 16 whatever the element type.
                    assert_eq!(s.as_ptr() as usize % 16, 0);
                    assert_eq!(o.as_ptr() as usize % 16, 0);
                    a.lock().unwrap().push(s.as_ptr() as usize);
                    s.fill(cx.frame().number);
                    o.fill([1, 2, 3]);
                },
            );
            graph.pass(
                "sum",
                (scratch.read(), other.read(), out.write()),
                |(s, o, out), _| {
                    *out = s.iter().sum::<u64>() + o.iter().map(|x| x[2] as u64).sum::<u64>();
                },
            );
            let mut frames = frames_with(graph, in_flight);
            let count = 60;
            for _ in 0..count {
                frames.run_frame(DT).unwrap();
                let heap = frames.system().heap().stats();
                assert!(
                    heap.live_tags <= in_flight,
                    "{} tags live with {in_flight} frames in flight",
                    heap.live_tags
                );
                assert!(
                    heap.live_chunks + heap.free_chunks <= in_flight + 1,
                    "the heap grows: {heap:?}"
                );
            }
            assert_eq!(*frames.resource(out).unwrap(), 59 * 1000 + 30);
            let heap = frames.system().heap().stats();
            assert_eq!(
                heap.live_tags, 0,
                "every frame completed and released its tag"
            );
            let addresses = addresses.lock().unwrap().clone();
            assert_eq!(addresses.len(), count);
            let mut distinct = addresses.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert!(
                distinct.len() <= in_flight + 1,
                "{} distinct addresses over {count} frames with {in_flight} in flight",
                distinct.len()
            );
            assert!(distinct.len() < count, "memory is reused");
        }
    });
}

#[test]
fn transient_memory_is_never_shared_by_frames_in_flight() {
    watchdog(60, || {
        for in_flight in 2..=3 {
            let timeline = Timeline::default();
            let wrong = Arc::new(AtomicUsize::new(0));
            let addresses = Arc::new(Mutex::new(Vec::new()));
            let mut graph = GraphBuilder::new();
            let scratch = graph.transient::<u64>("scratch", 4096);
            let done = graph.scratch("done", 0u64);
            let (t, a) = (timeline.clone(), Arc::clone(&addresses));
            graph.pass("fill", scratch.write(), move |s, cx| {
                let n = cx.frame().number;
                t.record(n, "fill", || {
                    a.lock().unwrap().push((n, s.as_ptr() as usize));
                    s.fill(n);
                    spin(Duration::from_micros(150));
                })
            });
            // Nothing orders this frame's "check" against the next frame's "fill": only the
            // memory being the frame's own keeps the next fill out of this buffer.
            let (t, w) = (timeline.clone(), Arc::clone(&wrong));
            graph.pass(
                "check",
                (scratch.read(), done.write()),
                move |(s, done), cx| {
                    let n = cx.frame().number;
                    t.record(n, "check", || {
                        spin(Duration::from_micros(300));
                        let bad = s.iter().filter(|&&x| x != n).count();
                        w.fetch_add(bad, Ordering::SeqCst);
                        *done = n;
                    })
                },
            );
            let mut frames = frames_with(graph, in_flight);
            let count = 200;
            for _ in 0..count {
                frames.run_frame(DT).unwrap();
                assert!(frames.system().heap().stats().live_tags <= in_flight);
            }
            frames.finish().unwrap();
            assert_eq!(
                wrong.load(Ordering::SeqCst),
                0,
                "a frame's buffer changed under it"
            );
            let addresses: std::collections::HashMap<u64, usize> =
                addresses.lock().unwrap().iter().copied().collect();
            let mut overlapping = 0;
            for n in 0..count as u64 {
                for m in n + 1..count as u64 {
                    let (n_fill, n_check) = (timeline.get(n, "fill"), timeline.get(n, "check"));
                    let (m_fill, m_check) = (timeline.get(m, "fill"), timeline.get(m, "check"));
                    // The buffer is in use from the fill's start to the check's end.
                    let together = n_fill.start < m_check.end && m_fill.start < n_check.end;
                    if together {
                        overlapping += 1;
                        assert_ne!(
                            addresses[&n], addresses[&m],
                            "frames {n} and {m} used the same memory at the same time"
                        );
                    }
                    if m > n + 3 {
                        break;
                    }
                }
            }
            assert!(
                overlapping > 0,
                "no two frames overlapped: the test checked nothing"
            );
        }
    });
}

#[test]
fn a_transient_too_large_to_allocate_fails_the_frame_cleanly() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let huge = graph.transient::<u64>("huge", usize::MAX / 16);
        graph.pass("touch", huge.write(), |_, _| {}).side_effect();
        let mut frames = frames_with(graph, 2);
        for _ in 0..3 {
            match frames.run_frame(DT) {
                Err(FrameError::OutOfMemory { resource, bytes }) => {
                    assert_eq!(resource, "huge");
                    assert!(bytes >= usize::MAX / 2 - 16, "{bytes}");
                }
                other => panic!("expected out of memory, got {other:?}"),
            }
            assert_eq!(frames.frames_in_flight(), 0);
            assert_eq!(frames.system().heap().stats().live_tags, 0);
        }
        frames.finish().unwrap();
    });
}

#[test]
fn a_transient_larger_than_a_heap_block_works() {
    watchdog(30, || {
        let system = system(2);
        let block = system.heap().chunk_size();
        let len = block / 4 * 3; // u32: three blocks' worth
        let mut graph = GraphBuilder::new();
        let big = graph.transient::<u32>("big", len);
        let sum = graph.import("sum", 0u64);
        graph.pass("fill", big.write(), |big, cx| {
            big.fill(cx.frame().number as u32)
        });
        graph.pass("sum", (big.read(), sum.write()), |(big, sum), _| {
            *sum = big.iter().map(|&x| x as u64).sum()
        });
        let config = FramesConfig::default().in_flight(2);
        let mut frames = Frames::with_config(system, graph.compile().unwrap(), config).unwrap();
        for _ in 0..4 {
            frames.run_frame(DT).unwrap();
        }
        assert_eq!(*frames.resource(sum).unwrap(), 3 * len as u64);
    });
}

#[test]
fn an_empty_transient_is_an_empty_slice() {
    watchdog(30, || {
        let mut graph = GraphBuilder::new();
        let empty = graph.transient::<u64>("empty", 0);
        let lens = graph.import("lens", Vec::new());
        graph.pass("write", empty.write(), |e, _| assert!(e.is_empty()));
        graph.pass("read", (empty.read(), lens.write()), |(e, lens), _| {
            lens.push(e.len())
        });
        let mut frames = frames_with(graph, 2);
        for _ in 0..5 {
            frames.run_frame(DT).unwrap();
        }
        assert_eq!(*frames.resource(lens).unwrap(), [0; 5]);
    });
}

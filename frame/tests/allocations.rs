//! Running a compiled graph allocates nothing per pass: a counting allocator shows that the
//! allocations of a frame do not grow with the number of passes (what is left is per frame:
//! the job system's statistics snapshots and the frame's tag in the tagged heap).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use frame::{Frames, FramesConfig, GraphBuilder};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per frame of a graph of `passes` chained empty passes with a transient buffer.
fn allocations_per_frame(passes: usize, in_flight: usize) -> f64 {
    let system = Arc::new(
        jobs::JobSystem::new(jobs::Config::default().workers(2).core_affinity(false))
            .expect("valid config"),
    );
    let mut graph = GraphBuilder::new();
    let scratch = graph.transient::<u32>("scratch", 1024);
    let resources: Vec<_> = (0..passes)
        .map(|i| graph.import(&format!("r{i}"), 0u32))
        .collect();
    graph.pass("fill", scratch.write(), |s, _| s.fill(1));
    for i in 0..passes {
        let previous = resources[i.saturating_sub(1)];
        if i == 0 {
            graph.pass(
                &format!("p{i}"),
                (scratch.read(), resources[0].write()),
                |(s, r), _| *r = s[0],
            );
        } else {
            graph.pass(
                &format!("p{i}"),
                (previous.read(), resources[i].write()),
                |(a, b), _| *b = *a,
            );
        }
    }
    let mut frames = Frames::with_config(
        system,
        graph.compile().expect("compiles"),
        FramesConfig::default().in_flight(in_flight).history(16),
    )
    .expect("valid");
    // Warm up: pools, queues, waiter lists and the history reach their working size.
    for _ in 0..300 {
        frames.run_frame(Duration::ZERO).expect("runs");
    }
    frames.finish().expect("runs");
    let frames_measured = 300;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..frames_measured {
        frames.run_frame(Duration::ZERO).expect("runs");
    }
    frames.finish().expect("runs");
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    (after - before) as f64 / frames_measured as f64
}

#[test]
fn allocations_per_frame_do_not_grow_with_the_passes() {
    for in_flight in [1, 2] {
        let small = allocations_per_frame(10, in_flight);
        let large = allocations_per_frame(100, in_flight);
        println!("in flight {in_flight}: {small:.1} allocations per frame with 10 passes, {large:.1} with 100");
        // 90 more passes may add a few allocations a frame through the job system's shared
        // queue (one segment per 63 jobs), not one per pass.
        assert!(
            large - small < 5.0,
            "in flight {in_flight}: {small:.1} allocations per frame with 10 passes, {large:.1} with 100"
        );
    }
}

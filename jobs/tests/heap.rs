//! The tagged heap: allocations carved from large blocks per tag, every block of a tag freed at
//! once by `release` to a free list, and reused by the next tags; a block still held is never
//! reused. Reached directly or through `Action::Memory`.

mod common;

use std::sync::{Arc, Mutex};

use common::{system, watchdog};
use jobs::{
    Action, Block, Config, Context, Counter, HeapStats, JobSystem, MemoryError, MemoryRequest, Tag,
};

fn small_heap(block_size: usize) -> JobSystem {
    JobSystem::new(
        Config::default()
            .workers(1)
            .core_affinity(false)
            .heap_chunk_size(block_size),
    )
    .unwrap()
}

fn stats(live_tags: usize, live_chunks: usize, free_chunks: usize) -> HeapStats {
    HeapStats {
        live_tags,
        live_chunks,
        free_chunks,
    }
}

#[test]
fn allocations_of_a_tag_share_blocks_and_are_disjoint() {
    let system = small_heap(4096);
    let heap = system.heap();
    assert_eq!(heap.chunk_size(), 4096);
    assert_eq!(heap.stats(), HeapStats::default());
    let mut blocks: Vec<Block> = (0..10)
        .map(|i| heap.allocate_bytes(Tag(1), 100 + i, 8).unwrap())
        .collect();
    for (i, b) in blocks.iter_mut().enumerate() {
        assert_eq!(b.len(), 100 + i);
        assert!(!b.is_empty());
        assert_eq!(b.as_slice().as_ptr() as usize % 8, 0);
        b.as_mut_slice().fill(i as u8);
    }
    for (i, b) in blocks.iter().enumerate() {
        assert!(
            b.as_slice().iter().all(|&x| x == i as u8),
            "block {i} overlaps"
        );
    }
    assert_eq!(
        heap.stats(),
        stats(1, 1, 0),
        "ten small allocations, one block"
    );
    // Filling the block starts a new one.
    let _big = heap.allocate_bytes(Tag(1), 4000, 8).unwrap();
    assert_eq!(heap.stats(), stats(1, 2, 0));
    // Another tag never shares a block with this one.
    let _other = heap.allocate_bytes(Tag(2), 1, 1).unwrap();
    assert_eq!(heap.stats(), stats(2, 3, 0));
    assert!(heap.allocate_bytes(Tag(3), 0, 1).unwrap().is_empty());
}

#[test]
fn release_returns_every_block_of_a_tag_to_the_free_list_for_reuse() {
    let system = small_heap(1024);
    let heap = system.heap();
    for i in 0..5 {
        drop(heap.allocate_bytes(Tag(1), 1000, 16).unwrap());
        assert_eq!(heap.stats().live_chunks, i + 1);
    }
    assert_eq!(heap.release(Tag(1)), 5);
    assert_eq!(heap.stats(), stats(0, 0, 5));
    assert_eq!(heap.release(Tag(1)), 0, "nothing left to release");
    assert_eq!(heap.release(Tag(99)), 0, "an unknown tag");
    // The next tag takes its blocks from the free list instead of the system allocator.
    for i in 0..3 {
        let _b = heap.allocate_bytes(Tag(2), 1000, 16).unwrap();
        assert_eq!(heap.stats(), stats(1, i + 1, 4 - i));
    }
    heap.release(Tag(2));
    assert_eq!(heap.stats().free_chunks, 5);
}

#[test]
fn a_block_still_held_is_recycled_only_when_dropped() {
    let system = small_heap(4096);
    let heap = system.heap();
    let mut held = heap.allocate_bytes(Tag(1), 1000, 8).unwrap();
    held.as_mut_slice().fill(7);
    let other = heap.allocate_bytes(Tag(1), 1000, 8).unwrap();
    assert_eq!(heap.release(Tag(1)), 1, "both came from one block");
    assert_eq!(heap.stats(), stats(0, 0, 0), "held: not free yet");
    // A new tag gets a new block; the held one keeps its bytes.
    let mut fresh = heap.allocate_bytes(Tag(2), 4096, 8).unwrap();
    fresh.as_mut_slice().fill(9);
    assert!(
        held.as_slice().iter().all(|&b| b == 7),
        "a held block is never reused"
    );
    drop(held);
    assert_eq!(
        heap.stats().free_chunks,
        0,
        "the other allocation still holds it"
    );
    drop(other);
    assert_eq!(
        heap.stats().free_chunks,
        1,
        "free once the last allocation is dropped"
    );
    drop(fresh);
    heap.release(Tag(2));
    assert_eq!(heap.stats(), stats(0, 0, 2));
}

fn heap_with_reserve(reserve: usize) -> JobSystem {
    JobSystem::new(
        Config::default()
            .workers(1)
            .core_affinity(false)
            .heap_chunk_size(4096)
            .heap_reserve_chunks(reserve),
    )
    .unwrap()
}

#[test]
fn the_free_list_keeps_at_most_the_reserve_and_gives_the_rest_back() {
    for (reserve, kept) in [(0, 0), (1, 1), (3, 3), (usize::MAX, 10)] {
        let system = heap_with_reserve(reserve);
        let heap = system.heap();
        for tag in 0..10 {
            heap.allocate_bytes(Tag(tag), 8, 8).unwrap();
        }
        for tag in 0..10 {
            heap.release(Tag(tag));
        }
        assert_eq!(heap.stats(), stats(0, 0, kept), "reserve {reserve}");
        // Blocks from the reserve are reused first; the heap makes new ones past it.
        for tag in 0..10 {
            let mut block = heap.allocate_bytes(Tag(tag), 4096, 8).unwrap();
            block.as_mut_slice().fill(tag as u8);
        }
        assert_eq!(heap.stats(), stats(10, 10, 0), "reserve {reserve}");
        for tag in 0..10 {
            heap.release(Tag(tag));
        }
        assert_eq!(heap.stats(), stats(0, 0, kept), "reserve {reserve}");
    }
    assert_eq!(
        small_heap(4096).heap().stats().free_chunks,
        0,
        "nothing is made ahead of use"
    );
}

#[test]
fn a_block_held_past_release_goes_back_to_the_system_when_the_reserve_is_full() {
    let system = heap_with_reserve(1);
    let heap = system.heap();
    let held = heap.allocate_bytes(Tag(1), 8, 8).unwrap();
    heap.allocate_bytes(Tag(2), 8, 8).unwrap();
    heap.release(Tag(1));
    heap.release(Tag(2));
    assert_eq!(
        heap.stats(),
        stats(0, 0, 1),
        "tag 2's block fills the reserve"
    );
    drop(held);
    assert_eq!(
        heap.stats(),
        stats(0, 0, 1),
        "tag 1's block went to the system"
    );
}

#[test]
fn fresh_blocks_read_as_zero() {
    let system = heap_with_reserve(0);
    let heap = system.heap();
    for size in [1, 100, 4096, 100_000] {
        let block = heap.allocate_bytes(Tag(1), size, 8).unwrap();
        assert!(block.as_slice().iter().all(|&b| b == 0), "{size} bytes");
    }
    heap.release(Tag(1));
}

#[test]
fn a_request_larger_than_a_block_gets_its_own_block_which_is_not_recycled() {
    let system = small_heap(4096);
    let heap = system.heap();
    let small = heap.allocate_bytes(Tag(1), 10, 8).unwrap();
    let mut big = heap.allocate_bytes(Tag(1), 10_000, 64).unwrap();
    assert_eq!(big.len(), 10_000);
    assert_eq!(big.as_slice().as_ptr() as usize % 64, 0);
    big.as_mut_slice().fill(1);
    // The tag keeps carving its current block after an oversized request.
    let next = heap.allocate_bytes(Tag(1), 10, 8).unwrap();
    assert_eq!(heap.stats(), stats(1, 2, 0));
    drop((small, big, next));
    assert_eq!(heap.release(Tag(1)), 2);
    assert_eq!(
        heap.stats().free_chunks,
        1,
        "only the ordinary block is kept for reuse"
    );
}

#[test]
fn alignments_up_to_4096_are_honoured_and_others_refused() {
    let system = small_heap(1 << 16);
    let heap = system.heap();
    let mut align = 1;
    while align <= 4096 {
        let b = heap.allocate_bytes(Tag(1), 3, align).unwrap();
        assert_eq!(b.as_slice().as_ptr() as usize % align, 0, "align {align}");
        align *= 2;
    }
    for align in [0, 3, 6, 100, 8192, usize::MAX] {
        assert_eq!(
            heap.allocate_bytes(Tag(1), 8, align).unwrap_err(),
            MemoryError::BadAlignment(align)
        );
    }
}

#[test]
fn an_impossible_request_is_an_error() {
    let system = small_heap(4096);
    let err = system
        .heap()
        .allocate_bytes(Tag(1), isize::MAX as usize, 16)
        .unwrap_err();
    assert!(matches!(err, MemoryError::OutOfMemory { .. }), "{err:?}");
    assert!(err.to_string().contains("out of memory"));
}

/// `TaggedHeap::allocate` computes `offset + size` unchecked: once the tag has a current block,
/// a huge size overflows. Debug builds panic (`attempt to add with overflow`, heap.rs); release
/// builds wrap around and return `Ok` with a block of `len() == size` inside a 4 KiB chunk,
/// whose `as_slice()` is then undefined behaviour from safe code.
#[test]
fn a_huge_request_after_a_small_one_is_an_error() {
    let system = small_heap(4096);
    let heap = system.heap();
    let _first = heap.allocate_bytes(Tag(1), 16, 16).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        heap.allocate_bytes(Tag(1), usize::MAX - 8, 1)
            .map(|b| b.len())
    }));
    match result {
        Ok(Err(MemoryError::OutOfMemory { .. })) => {}
        Ok(other) => panic!("expected OutOfMemory, got {other:?}"),
        Err(_) => panic!("allocate_bytes panicked instead of returning OutOfMemory"),
    }
}

/// The same overflow reached through `Action::Memory`: `job::run` calls the allocator outside
/// its `catch_unwind`, so in a debug build the panic unwinds out of the worker's loop and kills
/// the worker thread; the job is lost, its counter never reaches zero, and nothing else runs on
/// that worker.
#[test]
fn a_huge_memory_action_after_a_small_one_gets_an_error() {
    watchdog(10, || {
        let system = small_heap(4096);
        let _first = system.heap().allocate_bytes(Tag(1), 16, 16).unwrap();
        let counter = Counter::new();
        let got = Arc::new(Mutex::new(None));
        system.submit_counted(
            &counter,
            jobs::Job::new(got.clone(), |_, _| {
                Action::Memory(
                    MemoryRequest {
                        tag: Tag(1),
                        size: usize::MAX,
                        align: 1,
                    },
                    |g, _, block| {
                        *g.lock().unwrap() = Some(block.map(|b| b.len()));
                        Action::Done
                    },
                )
            }),
        );
        assert!(
            common::poll_until(5, || counter.is_zero()),
            "the job was lost (its worker died)"
        );
        assert!(matches!(
            *got.lock().unwrap(),
            Some(Err(MemoryError::OutOfMemory { .. }))
        ));
    });
}

#[test]
fn memory_actions_allocate_from_the_heap_and_release_recycles_per_frame() {
    watchdog(30, || {
        let system = system(2);
        struct M {
            tag: Tag,
            bytes: usize,
            keep: Option<Block>,
        }
        fn got(m: &mut M, _: &mut Context<'_>, block: Result<Block, MemoryError>) -> Action<M> {
            let mut block = block.expect("memory");
            assert_eq!(block.len(), m.bytes);
            block.as_mut_slice().fill(0xEE);
            m.keep = Some(block); // dropped with the capture when the job ends
            Action::Done
        }
        let mut free_after_first_frame = None;
        for frame in 0..10u64 {
            let counter = system.counter();
            for i in 0..20 {
                system.submit_counted(
                    &counter,
                    jobs::Job::new(
                        M {
                            tag: Tag(frame),
                            bytes: 100_000 + i,
                            keep: None,
                        },
                        |m, _| Action::memory(m.tag, m.bytes, got),
                    ),
                );
            }
            system.wait(&counter).unwrap();
            let live = system.heap().stats();
            assert_eq!(live.live_tags, 1);
            assert!(live.live_chunks >= 1);
            let released = system.heap().release(Tag(frame));
            assert_eq!(released, live.live_chunks);
            let free = system.heap().stats().free_chunks;
            assert_eq!(system.heap().stats().live_chunks, 0);
            // Frames after the first reuse the free blocks: the free list does not grow.
            match free_after_first_frame {
                None => free_after_first_frame = Some(free),
                Some(first) => assert_eq!(free, first, "frame {frame} allocated new blocks"),
            }
        }
        assert_eq!(system.stats().heap, system.heap().stats());
    });
}

#[test]
fn blocks_outlive_the_system_safely() {
    let system = small_heap(4096);
    let mut block = system.heap().allocate_bytes(Tag(1), 64, 8).unwrap();
    drop(system);
    block.as_mut_slice().fill(3);
    assert_eq!(block.as_slice()[63], 3);
    assert_eq!(format!("{block:?}"), "Block { len: 64 }");
}

//! The tagged heap gives memory back: blocks released beyond the reserve go back to the
//! operating system, and fresh blocks are not written just to zero them. One test alone in its
//! binary, so that the resident memory it measures is its own.

use jobs::{Config, JobSystem, Tag};

/// This process's resident memory in bytes, where the system tells (Linux).
fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

const MIB: usize = 1 << 20;

#[test]
fn released_blocks_beyond_the_reserve_go_back_to_the_system() {
    let system = JobSystem::new(Config::default().workers(1).core_affinity(false)).unwrap();
    let heap = system.heap();
    let reserve = Config::DEFAULT_HEAP_RESERVE_CHUNKS;
    let before = resident_bytes();

    // 2,000 tags of 8 bytes: 2,000 blocks of 2 MiB, of which only a page each is used.
    for tag in 0..2000 {
        let mut block = heap.allocate_bytes(Tag(tag), 8, 8).unwrap();
        block.as_mut_slice().fill(1);
    }
    assert_eq!(heap.stats().live_chunks, 2000);
    let live = resident_bytes();
    for tag in 0..2000 {
        assert_eq!(heap.release(Tag(tag)), 1);
    }
    if let (Some(before), Some(live)) = (before, live) {
        // Was 4 GB: every block was written with zeros when made.
        let grown = live.saturating_sub(before);
        assert!(
            grown < 128 * MIB,
            "2,000 blocks of 8 bytes made {} MiB resident",
            grown / MIB
        );
    }

    let stats = heap.stats();
    assert_eq!((stats.live_tags, stats.live_chunks), (0, 0));
    assert!(
        stats.free_chunks <= reserve,
        "{} free blocks kept, more than the reserve of {reserve}",
        stats.free_chunks
    );

    // Blocks written in full, then released: all but the reserve leave the process.
    let block_size = heap.chunk_size();
    for tag in 0..256 {
        let mut block = heap.allocate_bytes(Tag(tag), block_size, 8).unwrap();
        block.as_mut_slice().fill(1);
    }
    let full = resident_bytes();
    for tag in 0..256 {
        heap.release(Tag(tag));
    }
    assert!(heap.stats().free_chunks <= reserve);
    if let (Some(before), Some(full), Some(after)) = (before, full, resident_bytes()) {
        eprintln!(
            "resident: {} MiB before, {} MiB with 256 full blocks, {} MiB after releasing them",
            before / MIB,
            full / MIB,
            after / MIB
        );
        assert!(
            full.saturating_sub(before) >= 256 * block_size * 9 / 10,
            "the blocks written in full should have been resident"
        );
        let kept = after.saturating_sub(before);
        assert!(
            kept <= reserve * block_size + 64 * MIB,
            "{} MiB still resident after releasing every tag (reserve: {reserve} blocks of {} MiB)",
            kept / MIB,
            block_size / MIB
        );
    }
}

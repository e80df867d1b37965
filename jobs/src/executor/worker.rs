//! A worker thread: runs jobs while it finds any, looks for more for a while (yielding its core
//! now and then), then sleeps in the sleep protocol (`sleep/`) until a publisher wakes it or the
//! system shuts down.

use std::mem;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Instant;

use super::local::{Deques, Local, CURRENT};

/// The pause between two looks for work, doubling up to a few microseconds: a look reads every
/// other worker's deque, and each read pulls that deque's cache line away from its owner, whose
/// next push or pop then misses. Looking every few microseconds costs the owners nothing
/// measurable. Used by idle workers and by threads that help while they wait.
pub(super) struct Backoff(u32);

impl Backoff {
    /// The most spin-loop hints between two looks.
    const MAX: u32 = 256;

    pub(super) fn new() -> Self {
        Backoff(1)
    }

    /// Pauses before the next look; false once the pause is at its longest (the caller then
    /// yields its core or goes to sleep instead of spinning on).
    pub(super) fn pause(&mut self) -> bool {
        for _ in 0..self.0 {
            std::hint::spin_loop();
        }
        if self.0 < Self::MAX {
            self.0 *= 2;
            true
        } else {
            false
        }
    }
}
use crate::panic::AbortOnUnwind;
use crate::sleep::{InWait, Wake};
use crate::system::Shared;
use crate::Priority;

/// The body of worker thread `index`.
pub(crate) fn worker_main(shared: Arc<Shared>, index: usize, core: Option<usize>, deques: Deques) {
    // Jobs run under `catch_unwind`: unwinding here is a bug of the executor, which may leave
    // jobs running that borrow from a waiting thread's stack.
    let abort = AbortOnUnwind;
    crate::trace::probe::name_thread(|| format!("jobs worker {index}"));
    if let Some(core) = core {
        let pinned = core_affinity::set_for_current(core_affinity::CoreId { id: core });
        shared.stats().worker(index).set_pinned(core, pinned);
    }
    shared.worker_started();
    let mut local = Local::new(Arc::clone(&shared), Some(index), Some(deques));
    let ptr = NonNull::from(&mut local);
    CURRENT.set(Some(ptr));
    let stats = shared.stats().worker(index);
    stats.mark_busy(true);
    let this = || {
        // SAFETY: `ptr` is this thread's state, and every borrow made here ends before a job
        // runs (see `LocalPtr`).
        unsafe { &mut *ptr.as_ptr() }
    };
    'work: loop {
        while let Some(job) = this().find_own_work() {
            // SAFETY: we own `job`; no borrow of the state is held.
            unsafe { Local::run(ptr, job) };
        }
        // Idle from the moment no job is left: applying the cached completions and publishing
        // the counts is not running a job (and so falls between spans in a trace too).
        stats.mark_busy(false);
        this().flush();
        // No borrow of this thread's state is live between jobs: drop the payloads that had to
        // wait, and apply what the jobs their `Drop` ran here finished.
        while crate::panic::drop_deferred() {
            this().flush();
        }
        this().publish_stats();
        this().prepare_recording();
        shared.sleep.start_looking();
        let spin = shared.spin();
        let mut deadline = Instant::now() + spin;
        let mut backoff = Backoff::new();
        loop {
            if let Some(job) = this().find_work() {
                shared.sleep.stop_looking();
                stats.mark_busy(true);
                // SAFETY: as above.
                unsafe { Local::run(ptr, job) };
                continue 'work;
            }
            if backoff.pause() {
                continue;
            }
            if Instant::now() < deadline {
                // Two cores, three threads (the main thread helps): give the core away now and
                // then while looking.
                std::thread::yield_now();
                continue;
            }
            // Takes Low work only while a slot for it is free; wakes a waiting slot holder for
            // it otherwise (`sleep/README.md`, *Ranks*).
            let look = || shared.seen_by(Priority::ALL.len(), false);
            let wake = shared
                .sleep
                .sleep_as(index, InWait::IDLE, look, || shared.may_finish());
            match wake {
                Wake::Look => deadline = Instant::now() + spin,
                Wake::Done => break 'work,
            }
        }
    }
    CURRENT.set(None);
    drop(local);
    mem::forget(abort);
}

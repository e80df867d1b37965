//! The count of a spawning job's unfinished children, and the protocol that resumes the job
//! exactly once, after every child's effects.
//!
//! A job that returns [`Action::Spawn`](crate::Action::Spawn) is resumed by whichever thread
//! reports its last child. Children finish on any thread, and a thread reports the children it
//! finished for one parent in one go (`Local::complete`, cached completions). The count is
//! written and read in four ways:
//!
//! - **counted**: a spawn of a few children keeps them back until its closure returns, then
//!   stores their number and only then publishes them (each publication a release, so whoever
//!   takes a child reads the count): no read-modify-write;
//! - **guarded**: a larger spawn (or one whose children must be visible at once) stores
//!   [`SPAWN_GUARD`] before the first child is published, so that children finishing early
//!   cannot bring the count to zero, and takes `SPAWN_GUARD - spawned` off when the closure
//!   returns;
//! - **finish**: a thread reports `n` finished children with one acquire-release subtraction;
//!   the one that brings the count to zero resumes the job;
//! - **all ours**: a thread holding `n` unreported children reads the count (acquire); if it is
//!   `n`, every unfinished child is one of its own, no other thread will touch the count again,
//!   and it resumes the job without a read-modify-write. The count only falls while children
//!   run (and the guard is far above any `n`), so a stale read is larger, never equal by
//!   mistake.
//!
//! The `loom` model below checks that the job resumes exactly once, after both children's
//! effects, whoever finishes which child and in whatever order they report.

use crate::sync::protocol::{AtomicUsize, Ordering};

/// The children count of a job while it is still spawning: larger than any number of children,
/// so that children finishing early cannot bring it to zero.
pub(crate) const SPAWN_GUARD: usize = usize::MAX / 2;

/// Unfinished children of a job suspended in `Action::Spawn` (module docs).
pub(crate) struct ChildCount(AtomicUsize);

impl ChildCount {
    pub(crate) fn new() -> ChildCount {
        ChildCount(AtomicUsize::new(0))
    }

    /// Before any of `count` children is published (module docs: counted).
    pub(crate) fn set(&self, count: usize) {
        // Relaxed: the children are published after this with release, and whoever takes one
        // reads the count through that.
        self.0.store(count, Ordering::Relaxed);
    }

    /// Before the first child is published, when their number is not known yet (guarded).
    pub(crate) fn guard(&self) {
        self.set(SPAWN_GUARD);
    }

    /// The spawning closure returned after `spawned` children, under the guard: true if they
    /// have all finished already (the job continues at once).
    pub(crate) fn unguard(&self, spawned: usize) -> bool {
        self.finish(SPAWN_GUARD - spawned)
    }

    /// Takes `count` finished children off; true if they were the last (the caller resumes
    /// the job).
    pub(crate) fn finish(&self, count: usize) -> bool {
        // AcqRel: release publishes these children's effects to whoever resumes the parent;
        // acquire, for the one that reaches zero, gathers the others'.
        self.0.fetch_sub(count, Ordering::AcqRel) == count
    }

    /// Whether the `ours` unreported finished children of the calling thread are all the job
    /// has left (module docs: all ours). If so, the caller now owns the job, to resume it, and
    /// must not report those children again.
    pub(crate) fn all_ours(&self, ours: usize) -> bool {
        // Acquire: pairs with the release of `finish` by threads that finished the others.
        if self.0.load(Ordering::Acquire) != ours {
            return false;
        }
        // Nobody else touches the count until the job spawns again; left at zero for clarity.
        self.0.store(0, Ordering::Relaxed);
        true
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::ChildCount;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    /// What a thread does with the children it finished for one parent: as `Local::complete`
    /// (look whether they are all that is left, after each) and `Local::flush` (report them).
    struct Finisher {
        pending: usize,
    }

    impl Finisher {
        /// Finished one more child; true if the parent is now this thread's to resume.
        fn finished_one(&mut self, count: &ChildCount) -> bool {
            self.pending += 1;
            if count.all_ours(self.pending) {
                self.pending = 0;
                return true;
            }
            false
        }

        /// Reports what is cached (the thread runs out of work); true if that resumed it.
        fn flush(&mut self, count: &ChildCount) -> bool {
            let n = std::mem::replace(&mut self.pending, 0);
            n > 0 && count.finish(n)
        }
    }

    /// Two children, counted (no guard): the spawner publishes the first (a thief may take
    /// it) and runs the second itself, then the first if still there.
    #[test]
    fn the_parent_resumes_once_after_both_children() {
        loom::model(|| {
            let count = Arc::new(ChildCount::new());
            let effects = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
            let resumed = Arc::new(AtomicUsize::new(0));
            // The stand-in deque: child 0, published with release, taken with a CAS.
            let queued = Arc::new(AtomicBool::new(false));
            let resume = |effects: &[AtomicUsize; 2], resumed: &AtomicUsize| {
                assert_eq!(effects[0].load(Ordering::Relaxed), 1, "child 0's effect");
                assert_eq!(effects[1].load(Ordering::Relaxed), 1, "child 1's effect");
                resumed.fetch_add(1, Ordering::Relaxed);
            };
            count.set(2);
            queued.store(true, Ordering::Release);
            let thief = {
                let (count, effects, resumed, queued) = (
                    count.clone(),
                    effects.clone(),
                    resumed.clone(),
                    queued.clone(),
                );
                thread::spawn(move || {
                    if queued
                        .compare_exchange(true, false, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        effects[0].store(1, Ordering::Relaxed);
                        let mut me = Finisher { pending: 0 };
                        if me.finished_one(&count) || me.flush(&count) {
                            resume(&effects, &resumed);
                        }
                    }
                })
            };
            let mut me = Finisher { pending: 0 };
            effects[1].store(1, Ordering::Relaxed);
            let mut mine = me.finished_one(&count);
            if !mine
                && queued
                    .compare_exchange(true, false, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                effects[0].store(1, Ordering::Relaxed);
                mine = me.finished_one(&count);
            }
            if mine || me.flush(&count) {
                resume(&effects, &resumed);
            }
            thief.join().unwrap();
            assert_eq!(resumed.load(Ordering::Relaxed), 1, "resumed exactly once");
        });
    }

    /// Three children under the guard: two are published while the spawner still spawns, and
    /// finished by two threads while it unguards.
    #[test]
    fn the_guard_holds_until_the_spawn_ends() {
        loom::model(|| {
            let count = Arc::new(ChildCount::new());
            let resumed = Arc::new(AtomicUsize::new(0));
            count.guard();
            let runners: Vec<_> = (0..2)
                .map(|_| {
                    let (count, resumed) = (count.clone(), resumed.clone());
                    thread::spawn(move || {
                        let mut me = Finisher { pending: 0 };
                        if me.finished_one(&count) || me.flush(&count) {
                            resumed.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            // The third child, held by the spawner, runs after the spawn ends.
            let mut done = count.unguard(3);
            assert!(!done, "the held child is unfinished");
            let mut me = Finisher { pending: 0 };
            done = me.finished_one(&count) || me.flush(&count);
            if done {
                resumed.fetch_add(1, Ordering::Relaxed);
            }
            for runner in runners {
                runner.join().unwrap();
            }
            assert_eq!(resumed.load(Ordering::Relaxed), 1, "resumed exactly once");
        });
    }
}

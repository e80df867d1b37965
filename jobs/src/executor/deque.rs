//! A worker's own queue: a fixed-capacity work-stealing deque (Chase and Lev, "Dynamic Circular
//! Work-Stealing Deque", SPAA 2005, with the memory orderings of Lê, Pop, Cohen and Zappa
//! Nardelli, "Correct and Efficient Work-Stealing for Weak Memory Models", PPoPP 2013).
//!
//! The owner pushes and pops at the *bottom* without a read-modify-write (a pop takes one `SeqCst`
//! fence, and a compare-and-swap only for the last job); thieves take from the *top* with one
//! compare-and-swap. A push reads `top` only when the owner's last read of it shows the deque
//! full (`top` only grows, so that read never shows more room than there is): while thieves
//! steal, `top`'s cache line is theirs. Jobs are raw pointers, held in atomic slots, so that
//! the thief's read of a slot the owner may be reusing is never a data race; the
//! compare-and-swap on `top` decides who owns what was read.
//!
//! The capacity is fixed ([`CAPACITY`]): no buffer to grow, so nothing to free while a thief may
//! still read it, and no epoch-based reclamation. A push onto a full deque is refused and the
//! caller sends the job to the shared queue instead.
//!
//! Indices only grow (by one per push), as `isize`: at a billion pushes a second they would take
//! 292 years to overflow.

use std::ptr::NonNull;

use crossbeam_utils::CachePadded;

use crate::sync::protocol::{fence, AtomicBool, AtomicIsize, AtomicPtr, Ordering};

/// Jobs one deque holds; a power of two.
pub(crate) const CAPACITY: usize = 1024;

/// One deque of `CAP` slots (a power of two; [`CAPACITY`] but in the `loom` models, which wrap
/// around a small one). Its owner uses [`Deque::push`] and [`Deque::pop`]; anyone may
/// [`Deque::steal`].
pub(crate) struct Deque<T, const CAP: usize = CAPACITY> {
    /// The thieves' end: the index of the oldest job.
    top: CachePadded<AtomicIsize>,
    /// The owner's end: one past the newest job; and the owner's last read of `top`.
    owner: CachePadded<Owner>,
    slots: Box<[AtomicPtr<T>]>,
    /// A hint from a thief that found many items here: the owner hands half of them over in
    /// one piece at its next push (`Local::maybe_share`) instead of letting thieves take them
    /// one compare-and-swap each. Written only by such thieves, on a line of its own.
    wants_share: CachePadded<AtomicBool>,
}

/// The owner's end of a deque, on a line of its own.
struct Owner {
    /// One past the newest job. Written by the owner only; read by thieves.
    bottom: AtomicIsize,
    /// A value `top` had when the owner last read it (acquire): never above `top` (which only
    /// grows), so the room it shows is never more than there is. A push reads `top` itself
    /// only when this shows the deque full: while thieves steal, `top`'s line is theirs, and
    /// reading it on every push waited for that line to come back. Owner only (an atomic so
    /// that the deque stays `Sync`; relaxed, never contended).
    top_seen: AtomicIsize,
}

// SAFETY: the deque only moves pointers between threads, and every shared field is atomic; `push`
// requires that what an item points to may be owned by whichever thread takes it out.
unsafe impl<T, const CAP: usize> Send for Deque<T, CAP> {}
// SAFETY: as above.
unsafe impl<T, const CAP: usize> Sync for Deque<T, CAP> {}

/// The outcome of [`Deque::steal`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Steal<T> {
    Empty,
    /// Lost a race with the owner or another thief: try again.
    Retry,
    Success(T),
}

impl<T, const CAP: usize> Deque<T, CAP> {
    const MASK: usize = {
        assert!(
            CAP.is_power_of_two(),
            "a deque's capacity is a power of two"
        );
        CAP - 1
    };

    pub(crate) fn new() -> Self {
        Deque {
            top: CachePadded::new(AtomicIsize::new(0)),
            owner: CachePadded::new(Owner {
                bottom: AtomicIsize::new(0),
                top_seen: AtomicIsize::new(0),
            }),
            slots: (0..CAP)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            wants_share: CachePadded::new(AtomicBool::new(false)),
        }
    }

    /// A thief asks the owner to hand half of the items over (a hint, see the field).
    pub(crate) fn ask_to_share(&self) {
        if !self.wants_share.load(Ordering::Relaxed) {
            self.wants_share.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a thief asked to share; clears the request. The owner's: it then shares.
    pub(crate) fn take_share_request(&self) -> bool {
        self.wants_share.load(Ordering::Relaxed) && self.wants_share.swap(false, Ordering::Relaxed)
    }

    fn slot(&self, index: isize) -> &AtomicPtr<T> {
        // Indices are never negative: `top` starts at 0 and only grows, and a pop reads a slot
        // only at an index at or above `top`.
        &self.slots[index as usize & Self::MASK]
    }

    /// Jobs in the deque (a snapshot).
    pub(crate) fn len(&self) -> usize {
        let bottom = self.owner.bottom.load(Ordering::Relaxed);
        let top = self.top.load(Ordering::Relaxed);
        bottom.saturating_sub(top).max(0) as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes `item` at the bottom; hands it back if the deque is full.
    ///
    /// # Safety
    /// Only the deque's owner calls `push` and `pop` (one thread at a time). Whoever later takes
    /// `item` out (a pop or a steal, exactly once) owns what it points to, on whatever thread it
    /// runs: that must be allowed (for jobs: a `JobRef`, which is `Send`).
    pub(crate) unsafe fn push(&self, item: NonNull<T>) -> Result<(), NonNull<T>> {
        let bottom = self.owner.bottom.load(Ordering::Relaxed);
        // The slot to write was last used by index `bottom - CAP`: it is free once `top` has
        // passed it. `top_seen` was read with acquire, so the thief that moved `top` past it
        // had read that slot before this write, whenever `top_seen` was read.
        if bottom - self.owner.top_seen.load(Ordering::Relaxed) >= CAP as isize {
            // Acquire: a slot freed by a steal is not written before that thief has read it.
            let top = self.top.load(Ordering::Acquire);
            self.owner.top_seen.store(top, Ordering::Relaxed);
            if bottom - top >= CAP as isize {
                return Err(item);
            }
        }
        self.slot(bottom).store(item.as_ptr(), Ordering::Relaxed);
        // Release: a thief that reads the new bottom reads the slot written above.
        self.owner.bottom.store(bottom + 1, Ordering::Release);
        Ok(())
    }

    /// Pops the newest item.
    ///
    /// # Safety
    /// Only the deque's owner calls `push` and `pop`.
    pub(crate) unsafe fn pop(&self) -> Option<NonNull<T>> {
        // An empty deque is told without the fence: `top` only grows, so a stale read can make
        // the deque look fuller than it is, never emptier. An owner that looks at all its
        // priorities in turn fences only for a deque that has something.
        if self.owner.bottom.load(Ordering::Relaxed) <= self.top.load(Ordering::Relaxed) {
            return None;
        }
        let bottom = self.owner.bottom.load(Ordering::Relaxed) - 1;
        self.owner.bottom.store(bottom, Ordering::Relaxed);
        // SeqCst fence: the claim on `bottom` above and a thief's claim on `top` are ordered, so
        // that they never both take the last item (each thief fences between its loads too).
        fence(Ordering::SeqCst);
        let top = self.top.load(Ordering::Relaxed);
        if top > bottom {
            // Empty: undo the claim.
            self.owner.bottom.store(bottom + 1, Ordering::Relaxed);
            return None;
        }
        let item = self.slot(bottom).load(Ordering::Relaxed);
        if top < bottom {
            // More than one item: no thief can reach this one.
            return NonNull::new(item);
        }
        // The last item: race the thieves for it on `top`.
        let won = self
            .top
            .compare_exchange(top, top + 1, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok();
        self.owner.bottom.store(bottom + 1, Ordering::Relaxed);
        if won {
            NonNull::new(item)
        } else {
            None
        }
    }

    /// Takes the older half of the items at once, for the owner to move them elsewhere (its
    /// deque is full). Returns them oldest first; none if there is at most one item.
    ///
    /// # Safety
    /// Only the deque's owner calls it (as `push` and `pop`).
    pub(crate) unsafe fn take_older_half(&self) -> Vec<NonNull<T>> {
        loop {
            let top = self.top.load(Ordering::Acquire);
            self.owner.top_seen.store(top, Ordering::Relaxed);
            // Only the owner (this thread) moves `bottom`: it cannot change under us.
            let bottom = self.owner.bottom.load(Ordering::Relaxed);
            let take = (bottom - top) / 2;
            if take <= 0 {
                return Vec::new();
            }
            // Read before claiming, as a thief does: only the owner writes slots, and it is here,
            // so what is read stays valid; the compare-and-swap decides whether it is ours.
            let items: Vec<NonNull<T>> = (top..top + take)
                .filter_map(|index| NonNull::new(self.slot(index).load(Ordering::Relaxed)))
                .collect();
            if self
                .top
                .compare_exchange(top, top + take, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                return items;
            }
            // A thief took the oldest item meanwhile: read again.
        }
    }

    /// Takes the oldest item, from any thread.
    pub(crate) fn steal(&self) -> Steal<NonNull<T>> {
        let top = self.top.load(Ordering::Acquire);
        // SeqCst fence: pairs with the owner's in `pop` (see there).
        fence(Ordering::SeqCst);
        // Acquire: pairs with the release store in `push`, so the slot read below is the item.
        let bottom = self.owner.bottom.load(Ordering::Acquire);
        if top >= bottom {
            return Steal::Empty;
        }
        let item = self.slot(top).load(Ordering::Relaxed);
        // The compare-and-swap makes the item ours; if it fails, the owner or another thief took
        // it and what was read may be stale.
        if self
            .top
            .compare_exchange(top, top + 1, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return Steal::Retry;
        }
        match NonNull::new(item) {
            Some(item) => Steal::Success(item),
            None => unreachable!("a deque slot below bottom holds an item"),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! `loom` models of the deque: every item pushed is taken exactly once, by the owner or a
    //! thief, whatever the interleaving.
    use super::{Deque, Steal};
    use loom::sync::Arc;
    use loom::thread;
    use std::ptr::NonNull;

    fn items(n: usize) -> Vec<NonNull<usize>> {
        (0..n)
            .map(|i| NonNull::from(Box::leak(Box::new(i))))
            .collect()
    }

    fn take(item: NonNull<usize>) -> usize {
        // SAFETY: every item came from `Box::leak` in `items` and is taken exactly once (which
        // is what the models check: a second take would be a double free, reported by loom).
        *unsafe { Box::from_raw(item.as_ptr()) }
    }

    /// A thief that tries one steal; it returns what it took.
    fn steal_once<const CAP: usize>(
        deque: &Arc<Deque<usize, CAP>>,
    ) -> thread::JoinHandle<Vec<usize>> {
        let deque = deque.clone();
        thread::spawn(move || match deque.steal() {
            Steal::Success(item) => vec![take(item)],
            Steal::Empty | Steal::Retry => vec![],
        })
    }

    /// The owner pushes two items and pops; a thief steals concurrently.
    #[test]
    fn owner_and_thief_take_each_item_once() {
        loom::model(|| {
            let deque = Arc::new(Deque::<usize>::new());
            let thief = {
                let deque = deque.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    for _ in 0..2 {
                        match deque.steal() {
                            Steal::Success(item) => got.push(take(item)),
                            Steal::Empty | Steal::Retry => {}
                        }
                    }
                    got
                })
            };
            let mut got = Vec::new();
            for item in items(2) {
                // SAFETY: this thread is the owner.
                unsafe { deque.push(item) }.expect("not full");
            }
            // SAFETY: this thread is the owner.
            while let Some(item) = unsafe { deque.pop() } {
                got.push(take(item));
            }
            got.extend(thief.join().unwrap());
            got.sort_unstable();
            assert_eq!(got, vec![0, 1]);
        });
    }

    /// The owner moves the older half out while a thief steals: every item is taken once.
    #[test]
    fn taking_the_older_half_races_a_thief() {
        loom::model(|| {
            let deque = Arc::new(Deque::<usize>::new());
            for item in items(3) {
                // SAFETY: this thread is the owner.
                unsafe { deque.push(item) }.expect("not full");
            }
            let thief = steal_once(&deque);
            // SAFETY: this thread is the owner.
            let mut got: Vec<usize> = unsafe { deque.take_older_half() }
                .into_iter()
                .map(take)
                .collect();
            // SAFETY: as above.
            while let Some(item) = unsafe { deque.pop() } {
                got.push(take(item));
            }
            got.extend(thief.join().unwrap());
            got.sort_unstable();
            assert_eq!(got, vec![0, 1, 2]);
        });
    }

    /// The owner fills a deque of four slots while a thief steals, then pushes past the end,
    /// reusing the slot the thief took from: a push must not write that slot before the thief
    /// has read it, nor see room that is not there (the owner's cached `top`).
    #[test]
    fn pushes_wrap_around_only_into_slots_thieves_have_left() {
        loom::model(|| {
            let deque = Arc::new(Deque::<usize, 4>::new());
            let mut items = items(6).into_iter();
            for item in items.by_ref().take(4) {
                // SAFETY: this thread is the owner.
                unsafe { deque.push(item) }.expect("not full");
            }
            let thief = steal_once(&deque);
            let mut got = Vec::new();
            let mut refused = Vec::new();
            for item in items {
                // SAFETY: this thread is the owner.
                if let Err(item) = unsafe { deque.push(item) } {
                    refused.push(take(item));
                }
            }
            // Full before the thief took one: the fifth and sixth are refused; after: only the
            // sixth.
            assert!(matches!(refused.as_slice(), [4, 5] | [5]), "{refused:?}");
            // SAFETY: as above.
            while let Some(item) = unsafe { deque.pop() } {
                got.push(take(item));
            }
            got.extend(thief.join().unwrap());
            got.extend(refused);
            got.sort_unstable();
            assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
        });
    }

    /// Two thieves race for one item while the owner pops it.
    #[test]
    fn last_item_goes_to_exactly_one() {
        loom::model(|| {
            let deque = Arc::new(Deque::<usize>::new());
            let item = items(1).pop().unwrap();
            // SAFETY: this thread is the owner.
            unsafe { deque.push(item) }.expect("not full");
            let thieves: Vec<_> = (0..2)
                .map(|_| {
                    let deque = deque.clone();
                    thread::spawn(move || match deque.steal() {
                        Steal::Success(item) => take(item) + 1,
                        Steal::Empty | Steal::Retry => 0,
                    })
                })
                .collect();
            // SAFETY: this thread is the owner.
            let mine = unsafe { deque.pop() }.map_or(0, |item| take(item) + 1);
            let theirs: usize = thieves.into_iter().map(|t| t.join().unwrap()).sum();
            assert_eq!(mine + theirs, 1);
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Deque, Steal, CAPACITY};
    use std::ptr::NonNull;

    #[test]
    fn full_deque_refuses_and_order_is_lifo_for_the_owner_fifo_for_thieves() {
        let mut values: Vec<usize> = (0..=CAPACITY).collect();
        let ptrs: Vec<NonNull<usize>> = values.iter_mut().map(NonNull::from).collect();
        let deque = Deque::<usize>::new();
        for &ptr in &ptrs[..CAPACITY] {
            // SAFETY: this thread is the only user.
            unsafe { deque.push(ptr) }.expect("room");
        }
        // SAFETY: as above.
        assert_eq!(unsafe { deque.push(ptrs[CAPACITY]) }, Err(ptrs[CAPACITY]));
        assert_eq!(deque.len(), CAPACITY);
        assert_eq!(deque.steal(), Steal::Success(ptrs[0]));
        // SAFETY: as above.
        assert_eq!(unsafe { deque.pop() }, Some(ptrs[CAPACITY - 1]));
        // SAFETY: as above.
        unsafe { deque.push(ptrs[CAPACITY]) }.expect("room again");
        assert_eq!(deque.len(), CAPACITY - 1);
        // SAFETY: as above.
        while unsafe { deque.pop() }.is_some() {}
        assert!(deque.is_empty());
        assert_eq!(deque.steal(), Steal::Empty);
    }
}

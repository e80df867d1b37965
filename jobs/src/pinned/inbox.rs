//! One pinned thread's inbox: a queue under a lock, a count beside it, and the owner's
//! `Thread` to unpark (see `README.md` beside this file for the wake-up protocol).

use std::collections::VecDeque;

use crate::sync::protocol::{lock, AtomicUsize, Mutex, Ordering};

/// What an inbox wakes its owner with: `std`'s `Thread`, or `loom`'s in the models.
pub(crate) trait Unpark: Clone {
    fn unpark(&self);
}

impl Unpark for std::thread::Thread {
    fn unpark(&self) {
        std::thread::Thread::unpark(self);
    }
}

/// Why an inbox refused an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Never given to a thread.
    Unused,
    /// Its thread unregistered or exited.
    Gone,
}

/// The queue of one slot (module docs).
pub(crate) struct Inbox<T, W> {
    state: Mutex<State<T, W>>,
    /// Items in `state.items`: a look without the lock. Raised after the push, under the lock;
    /// read with acquire before taking the lock to pop.
    queued: AtomicUsize,
}

struct State<T, W> {
    items: VecDeque<T>,
    owner: Owner<W>,
}

enum Owner<W> {
    Unused,
    Thread(W),
    Gone,
}

impl<T, W: Unpark> Inbox<T, W> {
    /// An inbox owned by `owner`, or not given out yet.
    pub(crate) fn new(owner: Option<W>) -> Inbox<T, W> {
        Inbox {
            state: Mutex::new(State {
                items: VecDeque::new(),
                owner: owner.map_or(Owner::Unused, Owner::Thread),
            }),
            queued: AtomicUsize::new(0),
        }
    }

    /// Gives the inbox to `thread`.
    pub(crate) fn give_to(&self, thread: W) {
        lock(&self.state).owner = Owner::Thread(thread);
    }

    /// Queues `item` and unparks the owner; hands the item back if the inbox has no owner.
    pub(crate) fn push(&self, item: T) -> Result<(), (T, Refused)> {
        let mut state = lock(&self.state);
        let owner = match &state.owner {
            Owner::Thread(thread) => thread.clone(),
            Owner::Unused => return Err((item, Refused::Unused)),
            Owner::Gone => return Err((item, Refused::Gone)),
        };
        state.items.push_back(item);
        self.queued.fetch_add(1, Ordering::Release);
        drop(state);
        // After the push: an owner that looked before it either has not parked yet (its park
        // returns at once, the token being set) or is parked and wakes.
        owner.unpark();
        Ok(())
    }

    /// The oldest item that `accept` accepts.
    pub(crate) fn pop(&self, accept: impl Fn(&T) -> bool) -> Option<T> {
        if self.queued.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut state = lock(&self.state);
        let at = state.items.iter().position(accept)?;
        let item = state.items.remove(at)?;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        Some(item)
    }

    /// Whether items wait (a hint: a relaxed load).
    pub(crate) fn waiting(&self) -> bool {
        self.queued.load(Ordering::Relaxed) != 0
    }

    /// Items waiting (a hint).
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Closes the inbox (its thread is gone): returns what was queued, and refuses what comes.
    pub(crate) fn close(&self) -> VecDeque<T> {
        let mut state = lock(&self.state);
        state.owner = Owner::Gone;
        self.queued.store(0, Ordering::Release);
        std::mem::take(&mut state.items)
    }

    /// Takes every item out, leaving the inbox open (shutdown).
    pub(crate) fn drain(&self) -> Vec<T> {
        let mut state = lock(&self.state);
        self.queued.store(0, Ordering::Release);
        state.items.drain(..).collect()
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! The owner looks, finds nothing, parks; producers push and unpark. A lost wake-up leaves
    //! the owner parked with an item queued, which loom reports as a deadlock.

    use super::{Inbox, Unpark};
    use loom::sync::Arc;
    use loom::thread;

    impl Unpark for thread::Thread {
        fn unpark(&self) {
            thread::Thread::unpark(self);
        }
    }

    fn model(producers: usize, items_each: usize) {
        loom::model(move || {
            let inbox = Arc::new(Inbox::<usize, thread::Thread>::new(Some(thread::current())));
            let handles: Vec<_> = (0..producers)
                .map(|p| {
                    let inbox = inbox.clone();
                    thread::spawn(move || {
                        for i in 0..items_each {
                            inbox.push(p * items_each + i).unwrap();
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            while got.len() < producers * items_each {
                match inbox.pop(|_| true) {
                    Some(item) => got.push(item),
                    None => thread::park(),
                }
            }
            for handle in handles {
                handle.join().unwrap();
            }
            got.sort_unstable();
            assert_eq!(got, (0..producers * items_each).collect::<Vec<_>>());
            assert!(!inbox.waiting());
        });
    }

    #[test]
    fn no_lost_wake_up_one_producer() {
        model(1, 2);
    }

    #[test]
    fn no_lost_wake_up_two_producers() {
        model(2, 1);
    }

    #[test]
    fn a_closed_inbox_refuses_and_hands_back() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::<usize, thread::Thread>::new(Some(thread::current())));
            let closer = {
                let inbox = inbox.clone();
                thread::spawn(move || inbox.close())
            };
            let pushed = inbox.push(7);
            let drained = closer.join().unwrap();
            // Either the close took the item, or the push was refused: never both, never lost.
            match pushed {
                Ok(()) => assert_eq!(drained.into_iter().collect::<Vec<_>>(), vec![7]),
                Err((item, _)) => {
                    assert_eq!(item, 7);
                    assert!(drained.is_empty());
                }
            }
            assert!(inbox.pop(|_| true).is_none());
        });
    }
}

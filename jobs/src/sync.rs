//! The synchronization primitives of the sleep protocol, swapped for `loom`'s under `--cfg loom`
//! so that `loom` can explore every interleaving of the wait/wake protocol (see `sleep/`).

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};

/// Locks `mutex`, ignoring poisoning: nothing the protocol does under these locks can panic
/// half-way through an update.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(loom)]
    {
        mutex.lock().unwrap()
    }
    #[cfg(not(loom))]
    {
        mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Waits on `condvar`, ignoring poisoning like [`lock`].
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    #[cfg(loom)]
    {
        condvar.wait(guard).unwrap()
    }
    #[cfg(not(loom))]
    {
        condvar.wait(guard).unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

//! Lock helpers, and the primitives of the sleep protocol, which are swapped for `loom`'s under
//! `--cfg loom` so that `loom` can explore every interleaving of the wait/wake protocol
//! (see `sleep/`).

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, ignoring poisoning: no code of this crate panics while holding one of its
/// locks, and user code never runs under them.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sleep protocol's primitives: `std`'s, or `loom`'s under `--cfg loom`.
pub(crate) mod protocol {
    #[cfg(loom)]
    pub(crate) use loom::sync::{
        atomic::{fence, AtomicBool, AtomicIsize, AtomicPtr, AtomicU64, AtomicUsize, Ordering},
        Condvar, Mutex, MutexGuard,
    };
    #[cfg(not(loom))]
    pub(crate) use std::sync::{
        atomic::{fence, AtomicBool, AtomicIsize, AtomicPtr, AtomicU64, AtomicUsize, Ordering},
        Condvar, Mutex, MutexGuard,
    };

    /// Locks `mutex`, ignoring poisoning like [`super::lock`].
    pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on `condvar`, ignoring poisoning.
    pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        condvar.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on `condvar` for at most `timeout`, ignoring poisoning. (`loom` 0.7 does not time
    /// out: its wait returns only when notified, so a model must not rely on the timeout.)
    pub(crate) fn wait_timeout<'a, T>(
        condvar: &Condvar,
        guard: MutexGuard<'a, T>,
        timeout: std::time::Duration,
    ) -> MutexGuard<'a, T> {
        match condvar.wait_timeout(guard, timeout) {
            Ok((guard, _)) => guard,
            Err(e) => e.into_inner().0,
        }
    }
}

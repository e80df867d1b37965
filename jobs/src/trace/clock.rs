//! The recorder's clock: the time-stamp counter where it is usable, else `Instant`.
//!
//! A span costs two clock reads (one when back-to-back spans share a boundary), so the clock is
//! most of the recorder's cost per job: `rdtsc` takes about 12 ns here, `Instant::now` about
//! 33 ns. Ticks are turned into nanoseconds after the fact, from two anchors (a tick count and an
//! `Instant` read together) taken when recording starts and stops: over a recording of seconds
//! the rate comes out exact to a few parts per million.
//!
//! The counter is used only on x86_64 when Linux itself keeps time with it (its clocksource is
//! `tsc`, which the kernel chooses only when the counter is invariant and synchronized across
//! cores). Everywhere else a tick is a nanosecond since the first use of the clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Whether `now` reads the time-stamp counter; decided once.
static USE_TSC: AtomicBool = AtomicBool::new(false);

/// The `Instant` that fallback ticks count from.
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Decides which clock `now` reads. Called before any tick is taken (by `Recorder::new`).
pub(crate) fn init() {
    EPOCH.get_or_init(|| {
        USE_TSC.store(tsc_is_usable(), Ordering::Relaxed);
        Instant::now()
    });
}

#[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
fn tsc_is_usable() -> bool {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .is_ok_and(|source| source.trim() == "tsc")
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(miri))))]
fn tsc_is_usable() -> bool {
    false
}

/// The current tick.
#[inline]
pub(crate) fn now() -> u64 {
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
    if USE_TSC.load(Ordering::Relaxed) {
        // SAFETY: `rdtsc` has no preconditions on x86_64; it only reads the counter.
        #[allow(unused_unsafe)]
        return unsafe { std::arch::x86_64::_rdtsc() };
    }
    EPOCH
        .get()
        .map_or(0, |epoch| epoch.elapsed().as_nanos() as u64)
}

/// The current tick of the recorder's clock, read in order: after everything the calling
/// thread did before the call (`lfence` before `rdtsc`, as Linux reads the counter for
/// `clock_gettime`), so that a tick read after seeing another thread's work is not earlier
/// than a tick that thread read before that work. For timing short spans cheaply on any
/// thread: the time-stamp counter where Linux keeps time with it (invariant, and synchronized
/// across cores, so ticks of different threads compare), 14 ns with the fence on the
/// development machine (22 for an `Instant`'s elapsed nanoseconds); elsewhere
/// nanoseconds since the clock's first use, from an `Instant`. Ticks never go backwards; a tick
/// is a fixed but unspecified duration: turn them into time with two ticks read together with
/// `Instant`s, as the recorder does.
///
/// ```
/// let before = jobs::trace::ticks();
/// let after = jobs::trace::ticks();
/// assert!(after >= before);
/// ```
#[inline]
pub fn ticks() -> u64 {
    init();
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
    if USE_TSC.load(Ordering::Relaxed) {
        // SAFETY: `lfence` and `rdtsc` have no preconditions on x86_64 (SSE2 is part of it);
        // they only order and read the counter.
        #[allow(unused_unsafe)]
        return unsafe {
            std::arch::x86_64::_mm_lfence();
            std::arch::x86_64::_rdtsc()
        };
    }
    EPOCH
        .get()
        .map_or(0, |epoch| epoch.elapsed().as_nanos() as u64)
}

/// A tick count and an `Instant` read at (nearly) the same moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Anchor {
    pub(crate) ticks: u64,
    pub(crate) instant: Instant,
}

impl Anchor {
    pub(crate) fn now() -> Anchor {
        let before = Instant::now();
        let ticks = now();
        let after = Instant::now();
        Anchor {
            ticks,
            instant: before + (after - before) / 2,
        }
    }
}

/// Ticks and instants to nanoseconds from the start anchor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    start: Anchor,
    /// Nanoseconds and ticks between the two anchors.
    nanos: u128,
    ticks: u128,
}

impl Scale {
    pub(crate) fn new(start: Anchor, stop: Anchor) -> Scale {
        let nanos = stop
            .instant
            .saturating_duration_since(start.instant)
            .as_nanos();
        let ticks = u128::from(stop.ticks.saturating_sub(start.ticks));
        Scale {
            start,
            nanos: nanos.max(1),
            ticks: ticks.max(1),
        }
    }

    /// Nanoseconds from the start anchor to `ticks` (negative before it).
    pub(crate) fn ticks_to_ns(&self, ticks: u64) -> i64 {
        let (delta, sign) = if ticks >= self.start.ticks {
            (u128::from(ticks - self.start.ticks), 1)
        } else {
            (u128::from(self.start.ticks - ticks), -1)
        };
        sign * (delta * self.nanos / self.ticks).min(i64::MAX as u128) as i64
    }

    /// Nanoseconds from the start anchor to `instant` (negative before it).
    pub(crate) fn instant_to_ns(&self, instant: Instant) -> i64 {
        match instant.checked_duration_since(self.start.instant) {
            Some(after) => after.as_nanos().min(i64::MAX as u128) as i64,
            None => -(self.start.instant.duration_since(instant).as_nanos() as i64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ticks_and_instants_agree() {
        init();
        // An anchor reads the tick counter and the clock one after the other: a thread preempted
        // between the two (a loaded CI machine) skews that anchor. Such an attempt is retried;
        // the clocks must agree in most of them.
        let mut worst = Vec::new();
        for _ in 0..5 {
            let start = Anchor::now();
            std::thread::sleep(Duration::from_millis(20));
            let middle = Anchor::now();
            std::thread::sleep(Duration::from_millis(20));
            let stop = Anchor::now();
            let scale = Scale::new(start, stop);
            assert!(scale.ticks_to_ns(start.ticks.saturating_sub(1000)) <= 0);
            let by_ticks = scale.ticks_to_ns(middle.ticks);
            let by_instant = scale.instant_to_ns(middle.instant);
            // Within 50 us of each other over 20 ms (the anchors' own reads take well under
            // that).
            if (by_ticks - by_instant).abs() < 50_000 {
                return;
            }
            worst.push((by_ticks, by_instant));
        }
        panic!("ticks and instants disagreed by over 50 us in 5 attempts: {worst:?}");
    }
}

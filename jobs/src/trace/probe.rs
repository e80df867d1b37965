//! The profiler probe: the one place where the executor tells an external profiler what runs
//! (Tracy, with the `tracy` feature: `tracy.rs`). Without the feature every function here is
//! empty and no Tracy code is compiled in.

use crate::meta::Inherit;
use crate::panic::Payload;

/// A profiler zone open while a job (or a blocking step) runs; closed when dropped.
pub(crate) struct Zone {
    #[cfg(feature = "tracy")]
    _zone: Option<super::tracy::JobZone>,
}

/// Opens a zone for a job with `inherit` (named by its label, valued by its frame).
#[inline]
pub(crate) fn job_zone(inherit: Inherit) -> Zone {
    #[cfg(not(feature = "tracy"))]
    let _ = inherit;
    Zone {
        #[cfg(feature = "tracy")]
        _zone: super::tracy::job_zone(inherit),
    }
}

/// A job with `inherit` panicked on this thread.
#[inline]
pub(crate) fn job_panicked(inherit: Inherit, panic: &Payload) {
    #[cfg(feature = "tracy")]
    super::tracy::job_panicked(inherit, panic);
    #[cfg(not(feature = "tracy"))]
    let _ = (inherit, panic);
}

/// Names this thread in the profiler (`name` is only built when a profiler is compiled in).
#[inline]
pub(crate) fn name_thread(name: impl FnOnce() -> String) {
    #[cfg(feature = "tracy")]
    super::tracy::name_thread(&name());
    #[cfg(not(feature = "tracy"))]
    let _ = name;
}

//! Tracy: a zone for every run of a job, named by its [`Label`], with its frame as the zone's
//! value; names for the worker and I/O threads; a message for a panic caught in a job.
//!
//! Compiled only with the `tracy` feature (the README's "Profiling in Tracy"). The client is
//! built on demand (`tracy-client/ondemand`): until a profiler connects, a job pays one call
//! into the client that reads its "connected" flag, and nothing is kept, so a program built with
//! the feature does not grow while nobody watches. Connected, a zone costs about 70 ns (begin,
//! value, end: three entries in the thread's queue, which Tracy's own thread compresses and
//! sends).
//!
//! ## Source locations
//! Tracy names a zone by its *source location*, a record it reads by address whenever the
//! profiler asks (at any time until the program ends). Each label gets one, made the first time
//! a job with that label runs and then kept for the life of the program, in a `PerLabel` table
//! like the label names' own (`label.rs`): finding it is two lock-free loads, and beginning a
//! zone allocates nothing. (`Client::span_alloc` would copy the name into a fresh record for every
//! job instead.) Tracy groups the zones of one location, so its statistics are per label: per
//! pass, in a frame graph.

use std::ffi::c_char;
use std::marker::PhantomData;

use tracy_client::{sys, Client};

use crate::label::PerLabel;
use crate::meta::Inherit;
use crate::panic::Payload;
use crate::Label;

/// The source location of each label, made the first time a job with that label runs.
static LOCATIONS: PerLabel<Location> = PerLabel::new();

/// A Tracy source location whose strings are leaked, NUL-terminated copies: Tracy may read them
/// until the program ends.
struct Location(sys::___tracy_source_location_data);

// SAFETY: the record is never written after it is made, and its pointers are to leaked
// strings that are never written either: sharing it between threads only ever reads.
unsafe impl Send for Location {}
// SAFETY: as above.
unsafe impl Sync for Location {}

impl Location {
    fn new(label: Label) -> Location {
        // An interior NUL would cut the name short: Tracy reads it as a C string.
        let mut name = label.name().replace('\0', " ");
        name.push('\0');
        let name: &'static str = Box::leak(name.into_boxed_str());
        Location(sys::___tracy_source_location_data {
            name: name.as_ptr().cast::<c_char>(),
            function: c"job".as_ptr(),
            file: c"".as_ptr(),
            line: 0,
            color: 0,
        })
    }
}

/// The source location of `label`'s zones, made on first use.
fn location(label: Label) -> &'static sys::___tracy_source_location_data {
    &LOCATIONS.get_or_init(label, || Location::new(label)).0
}

/// The zone of one run of a job; it ends when dropped, on the thread that opened it (it is not
/// `Send`).
pub(crate) struct JobZone(sys::___tracy_c_zone_context, PhantomData<*const ()>);

/// Opens a zone for a job about to run, named by its label, with its frame as the value.
/// Drop it when the job's step returns (on the same thread: zones nest per thread).
#[inline]
pub(crate) fn job_zone(inherit: Inherit) -> Option<JobZone> {
    // Not connected: Tracy would drop the zone; skip the location and the other two calls.
    // (`is_connected` is also false until the client has started, should tracy-client's
    // `manual-lifetime` be on.)
    if !Client::is_connected() {
        return None;
    }
    let location = location(inherit.label);
    // SAFETY: the client is running (it is connected); `location` lives for the rest of the
    // program and its strings are NUL-terminated (`Location::new`).
    let zone = unsafe { sys::___tracy_emit_zone_begin(location, 1) };
    if let Some(frame) = inherit.frame {
        // SAFETY: `zone` was just opened on this thread (an inactive zone ignores the value).
        unsafe { sys::___tracy_emit_zone_value(zone, u64::from(frame)) };
    }
    Some(JobZone(zone, PhantomData))
}

impl Drop for JobZone {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the zone was opened by `job_zone` on this thread (a `JobZone` cannot leave
        // its thread), zones opened later on this thread have been closed (they are dropped at
        // the end of the scope that made them, inside this one), and it is closed once, here.
        unsafe { sys::___tracy_emit_zone_end(self.0) };
    }
}

/// Names the current thread in Tracy (and, as Tracy does, for the OS: at most 15 bytes).
pub(crate) fn name_thread(name: &str) {
    if let Some(client) = Client::running() {
        client.set_thread_name(name);
    }
}

/// Sends a message about a panic caught in a job: "job panicked: LABEL (frame N): MESSAGE".
#[cold]
pub(crate) fn job_panicked(inherit: Inherit, panic: &Payload) {
    // Not connected (on demand): the message would be thrown away; skip formatting it.
    if !Client::is_connected() {
        return;
    }
    if let Some(client) = Client::running() {
        let frame = inherit
            .frame
            .map(|frame| format!(" (frame {frame})"))
            .unwrap_or_default();
        let text = format!(
            "job panicked: {}{frame}: {}",
            inherit.label.name(),
            crate::panic::message_of(panic.as_ref())
        );
        // Red, opaque (RGBA).
        client.color_message(&text, 0xFF40_40FF, 0);
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    #[test]
    fn each_label_has_one_location_with_its_name() {
        let label = Label::new("tracy-location-test");
        let first = location(label);
        assert!(std::ptr::eq(first, location(label)));
        // SAFETY: `Location::new` made a NUL-terminated, leaked copy of the name.
        let name = unsafe { CStr::from_ptr(first.name) };
        assert_eq!(name.to_str(), Ok("tracy-location-test"));
        assert!(!std::ptr::eq(first, location(Label::NONE)));
    }

    #[test]
    fn a_name_with_a_nul_is_cut_at_nothing() {
        let label = Label::new("a\0b");
        // SAFETY: as above.
        let name = unsafe { CStr::from_ptr(location(label).name) };
        assert_eq!(name.to_str(), Ok("a b"));
    }
}

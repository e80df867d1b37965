//! Tracy: a zone per job, named by its label, with its frame as the zone's value.
//!
//! Compiled only with the `tracy` feature.

use crate::job::Inherit;
use crate::panic::Payload;

/// Opens a zone for a job about to run; the zone ends when the guard drops.
#[inline]
pub(crate) fn job_zone(inherit: Inherit) -> Option<tracy_client::Span> {
    let client = tracy_client::Client::running()?;
    let span = client.span_alloc(Some(inherit.label.name()), "job", "", 0, 0);
    if let Some(frame) = inherit.frame {
        span.emit_value(u64::from(frame));
    }
    Some(span)
}

/// Sends a message about a caught panic.
pub(crate) fn job_panicked(inherit: Inherit, panic: &Payload) {
    if let Some(client) = tracy_client::Client::running() {
        let text = format!(
            "job panicked: {}: {}",
            inherit.label.name(),
            crate::panic::message_of(panic.as_ref())
        );
        client.message(&text, 0);
    }
}

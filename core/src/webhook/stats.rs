//! Counters kept by a [`super::Endpoint`].

use crate::codec::RejectKind;
use crate::stats::Rejections;

/// What a webhook endpoint has seen and answered since it was created. A plain copy, cheap to
/// take with [`super::Endpoint::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Requests handled (every [`super::Endpoint::handle`] and refused head).
    pub requests: u64,
    /// Challenges echoed.
    pub challenges: u64,
    /// Bodies that were event frames (valid or not).
    pub events_received: u64,
    /// Events handed to the application.
    pub events_delivered: u64,
    /// Deliveries answered 200 (handled, or unhandled).
    pub answered_ok: u64,
    /// Deliveries answered 500 (the handler failed or panicked).
    pub answered_error: u64,
    /// Deliveries no handler took (answered 200).
    pub unhandled: u64,
    /// Redeliveries answered from the dedup memory without running a handler.
    pub duplicates: u64,
    /// Deliveries that ran past the delivery budget (the platform expects 3 s).
    pub slow_deliveries: u64,
    /// Bodies rejected as frames, by reason (one named field per [`RejectKind`]).
    pub rejected: Rejections,
    /// Requests with another method than POST (405).
    pub method_not_allowed: u64,
    /// Requests with a non-JSON content type (415).
    pub unsupported_media_type: u64,
    /// Bodies over the size limit (413).
    pub body_too_large: u64,
    /// Bodies that did not arrive in time (408) or broke off (400).
    pub body_unread: u64,
    /// Bodies that are not UTF-8 (400).
    pub not_utf8: u64,
    /// Events refused because `max_in_flight` handlers were running (503).
    pub busy: u64,
    /// Events refused during shutdown (503).
    pub shutting_down: u64,
}

impl WebhookStats {
    /// Bodies rejected for `kind`.
    pub fn rejected(&self, kind: RejectKind) -> u64 {
        self.rejected.get(kind)
    }

    /// Bodies rejected as frames, for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.total()
    }
}

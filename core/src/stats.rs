//! Counters kept by a [`crate::connection::Connection`].

use std::time::Instant;

use crate::codec::RejectKind;

/// What a connection has seen and done since it was created.
///
/// Read it with [`crate::connection::Connection::stats`]; it is a plain copy, cheap to take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Text frames that were events (valid or not).
    pub events_received: u64,
    /// Events handed to the application.
    pub events_delivered: u64,
    /// Acks with code 200 written and flushed to the socket (the runtime confirmed the write;
    /// an ack only queued does not count).
    pub acked_ok: u64,
    /// Acks with an error code written and flushed to the socket.
    pub acked_error: u64,
    /// Acks queued but never flushed: their transport died first (the server redelivers those
    /// events).
    pub acks_unsent: u64,
    /// Deliveries completed with [`crate::connection::Outcome::Unhandled`] (no handler, no
    /// fallback; acked 200).
    pub unhandled: u64,
    /// Frames rejected, by reason (index with [`RejectKind::index`]; see [`Stats::rejected`]).
    pub rejected: [u64; RejectKind::COUNT],
    /// Events not delivered because their nonce was seen within the dedup window.
    pub duplicates: u64,
    /// Outcomes that arrived after the connection that carried their event had died (nothing
    /// was sent: the server redelivers).
    pub late_outcomes: u64,
    /// GoAway frames received.
    pub goaways: u64,
    /// Transports opened successfully.
    pub connects: u64,
    /// Connect attempts made after the first one.
    pub reconnects: u64,
    /// Pings received (each answered with one pong).
    pub pings: u64,
    /// When the last frame of any kind arrived from the server.
    pub last_frame_at: Option<Instant>,
}

impl Stats {
    /// Frames rejected for `kind`.
    pub fn rejected(&self, kind: RejectKind) -> u64 {
        self.rejected[kind.index()]
    }

    /// Frames rejected for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

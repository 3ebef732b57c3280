//! Everything the server saw the client do, for assertions.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use open_event_core::codec::GoAway;

use super::Malformed;

/// Identifies one accepted connection. Ids count up from 1 in accept order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub(crate) u64);

impl ConnId {
    /// The number (1 for the first accepted connection).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// The record of a server run. Read it with [`Server::report`](super::Server::report) (or a
/// snapshot from the loopback runner).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Report {
    /// Every handshake, accepted or not, in arrival order.
    pub handshakes: Vec<HandshakeRecord>,
    /// Every accepted connection; `connections[i]` has id `i + 1`.
    pub connections: Vec<ConnectionRecord>,
    /// Every ack, in arrival order (empty when acks are not recorded one by one).
    pub acks: Vec<AckRecord>,
    /// Ack counters (always kept).
    pub ack_counts: AckCounts,
    /// Frames from the client that are not valid acks.
    pub client_errors: Vec<ClientError>,
    /// The time from the end of a connection (or a rejected handshake) to the next handshake.
    pub reconnects: Vec<ReconnectDelay>,
    /// Events pushed (each counts once, however often it is sent).
    pub events_pushed: u64,
    /// Event frames sent, redeliveries included.
    pub events_sent: u64,
    /// Every send of an event that had been sent before.
    pub redeliveries: Vec<Redelivery>,
    /// Events not acked with 200 yet (they are redelivered on the next connection).
    pub pending: usize,
    /// The steps of the script played, as they ran.
    pub script: Vec<ScriptRecord>,
    /// Whether a script was played and all of its steps ran.
    pub script_finished: bool,
    /// What chaos and the hostile commands did.
    pub chaos: super::ChaosCounts,
}

impl Report {
    /// The record of connection `id`.
    pub fn connection(&self, id: ConnId) -> Option<&ConnectionRecord> {
        usize::try_from(id.0)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.connections.get(i))
    }

    /// The connections still open.
    pub fn open_connections(&self) -> impl Iterator<Item = &ConnectionRecord> {
        self.connections.iter().filter(|c| c.closed_at.is_none())
    }

    /// How many handshakes were accepted.
    pub fn accepted(&self) -> usize {
        self.connections.len()
    }

    /// How many handshakes were rejected.
    pub fn rejected(&self) -> usize {
        self.handshakes.len() - self.connections.len()
    }

    /// The reconnect delays alone, in order.
    pub fn reconnect_delays(&self) -> Vec<Duration> {
        self.reconnects.iter().map(|r| r.delay).collect()
    }

    /// How many pongs answered each ping, over every connection in order.
    pub fn pongs_per_ping(&self) -> Vec<usize> {
        self.connections
            .iter()
            .flat_map(|c| c.pings.iter().map(|p| p.pongs.len()))
            .collect()
    }

    /// Pairs of accepted connections that were open at the same moment, earlier one first: a
    /// connection counts as open from its accepted handshake until its transport ended (still
    /// open: until now). A replaced connection overlaps its successor until it closes, so this
    /// is empty exactly when the app never held two connections at once.
    pub fn overlapping_connections(&self) -> Vec<(ConnId, ConnId)> {
        let mut pairs = Vec::new();
        for (i, earlier) in self.connections.iter().enumerate() {
            for later in &self.connections[i + 1..] {
                if earlier
                    .closed_at
                    .is_none_or(|closed| closed > later.opened_at)
                {
                    pairs.push((earlier.id, later.id));
                }
            }
        }
        pairs
    }

    /// The nonces acked with 200 that completed an event, in order (needs recorded acks).
    pub fn acked_nonces(&self) -> Vec<&str> {
        self.acks
            .iter()
            .filter(|a| a.status == AckStatus::Accepted)
            .map(|a| a.nonce.as_str())
            .collect()
    }
}

/// One handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeRecord {
    /// When it arrived.
    pub at: Instant,
    /// The server's wall-clock time then.
    pub wall: SystemTime,
    /// The request target.
    pub path_and_query: String,
    /// Every header as received, `(name, value)` in order.
    pub headers: Vec<(String, String)>,
    /// The app id the authorization header named, when it has the KSO-1 form.
    pub app_id: Option<String>,
    /// Whether it asked for ACK mode.
    pub ack_mode: bool,
    /// What the server answered.
    pub result: HandshakeResult,
}

impl HandshakeRecord {
    /// Whether it was accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self.result, HandshakeResult::Accepted(_))
    }
}

/// The answer to a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeResult {
    /// Upgraded to this connection.
    Accepted(ConnId),
    /// Refused.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Why (the response body).
        reason: String,
        /// Whether a scripted rejection refused it (else validation did).
        scripted: bool,
    },
}

/// One accepted connection.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConnectionRecord {
    /// Its id.
    pub id: ConnId,
    /// Whether the client asked for ACK mode.
    pub ack_mode: bool,
    /// When the handshake was accepted.
    pub opened_at: Instant,
    /// When it ended (`None` while open).
    pub closed_at: Option<Instant>,
    /// How it ended.
    pub end: Option<ConnectionEnd>,
    /// Every ping sent, with the pongs that answered it.
    pub pings: Vec<PingRecord>,
    /// Pongs whose payload matched no ping.
    pub unmatched_pongs: u64,
    /// Pings the client sent.
    pub client_pings: u64,
    /// Event frames sent on it.
    pub events_sent: u64,
    /// Acks received on it.
    pub acks: u64,
    /// The GoAway sent on it, if any.
    pub goaway: Option<GoAway>,
    /// The malformed frames sent on it, in order.
    pub malformed: Vec<Malformed>,
}

impl ConnectionRecord {
    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    /// How long it was (or has been, until `now`) open.
    pub fn lifetime(&self, now: Instant) -> Duration {
        self.closed_at
            .unwrap_or(now)
            .saturating_duration_since(self.opened_at)
    }

    /// How many pongs answered each ping, in order.
    pub fn pongs_per_ping(&self) -> Vec<usize> {
        self.pings.iter().map(|p| p.pongs.len()).collect()
    }
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEnd {
    /// The server dropped the socket without a close frame (on command, or after its close
    /// frame went unanswered for the close timeout).
    Dropped,
    /// The server sent a close frame with this code and the transport then ended.
    ClosedByServer {
        /// The close code sent.
        code: u16,
    },
    /// The client sent a close frame.
    ClosedByClient {
        /// The client's close code.
        code: Option<u16>,
        /// The client's close reason.
        reason: String,
    },
    /// The transport failed or ended without a close frame (the client dropped it).
    Lost {
        /// The runner's description.
        reason: String,
    },
}

/// One ping and its pongs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PingRecord {
    /// The payload sent.
    pub payload: Vec<u8>,
    /// When it was sent.
    pub sent_at: Instant,
    /// When each matching pong arrived (a correct client sends exactly one).
    pub pongs: Vec<Instant>,
}

/// One ack.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AckRecord {
    /// The connection that carried it.
    pub conn: ConnId,
    /// When it arrived.
    pub at: Instant,
    /// The acked nonce.
    pub nonce: String,
    /// The code (200 for success).
    pub code: u16,
    /// The error text, if any.
    pub msg: Option<String>,
    /// What it did to the event.
    pub status: AckStatus,
    /// Time since the event's latest send, when the nonce is one of ours.
    pub latency: Option<Duration>,
}

/// What an ack did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AckStatus {
    /// Code 200 for a pending event: the event is done.
    Accepted,
    /// Another code for a pending event: it stays pending and is redelivered on the next
    /// connection.
    Negative,
    /// An ack for an event already done (acked with 200 before, or sent without ACK mode).
    Duplicate,
    /// A nonce the server never sent as an event (a malformed frame's, or made up).
    Unknown,
}

/// Ack counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AckCounts {
    /// [`AckStatus::Accepted`] acks.
    pub accepted: u64,
    /// [`AckStatus::Negative`] acks.
    pub negative: u64,
    /// [`AckStatus::Duplicate`] acks.
    pub duplicate: u64,
    /// [`AckStatus::Unknown`] acks.
    pub unknown: u64,
}

impl AckCounts {
    /// Every ack.
    pub fn total(&self) -> u64 {
        self.accepted + self.negative + self.duplicate + self.unknown
    }
}

/// A frame from the client that is not a valid ack.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientError {
    /// The connection.
    pub conn: ConnId,
    /// When.
    pub at: Instant,
    /// What is wrong with it.
    pub problem: String,
}

/// The pause before a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectDelay {
    /// When the handshake arrived.
    pub handshake_at: Instant,
    /// Time since the previous end.
    pub delay: Duration,
    /// What ended before it.
    pub after: PreviousEnd,
}

/// What a reconnect followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreviousEnd {
    /// The end of this connection.
    Connection(ConnId),
    /// A handshake rejected with this status.
    Rejected {
        /// The HTTP status.
        status: u16,
    },
}

/// One redelivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Redelivery {
    /// The event's nonce (the same on every delivery).
    pub nonce: String,
    /// The connection it went out on.
    pub conn: ConnId,
    /// When.
    pub at: Instant,
    /// Which send of the event it was (2 for the first redelivery).
    pub delivery: u32,
}

/// One step of a played script.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScriptRecord {
    /// When it ran.
    pub at: Instant,
    /// Its index in the script.
    pub index: usize,
    /// The step, described.
    pub step: String,
    /// `None` when it ran; why it was skipped otherwise.
    pub skipped: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(id: u64, opened_at: Instant, closed_at: Option<Instant>) -> ConnectionRecord {
        ConnectionRecord {
            id: ConnId(id),
            ack_mode: true,
            opened_at,
            closed_at,
            end: None,
            pings: Vec::new(),
            unmatched_pongs: 0,
            client_pings: 0,
            events_sent: 0,
            acks: 0,
            goaway: None,
            malformed: Vec::new(),
        }
    }

    #[test]
    fn overlapping_connections_are_pairs_open_at_the_same_moment() {
        let t = Instant::now();
        let s = Duration::from_secs;
        let mut report = Report {
            connections: vec![
                connection(1, t, Some(t + s(1))),
                connection(2, t + s(1), Some(t + s(3))), // starts as 1 ends: no overlap
                connection(3, t + s(2), Some(t + s(4))), // opens while 2 is open
                connection(4, t + s(5), None),           // still open
                connection(5, t + s(6), None),           // opens while 4 is open
            ],
            ..Report::default()
        };
        assert_eq!(
            report.overlapping_connections(),
            [(ConnId(2), ConnId(3)), (ConnId(4), ConnId(5))]
        );
        report.connections.truncate(2);
        assert!(report.overlapping_connections().is_empty());
    }
}

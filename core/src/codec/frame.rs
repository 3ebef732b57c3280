//! The frames of the protocol, as public types.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// One decoded server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame<'a> {
    /// An event, still signed and encrypted.
    Event(EventFrame<'a>),
    /// The server is about to close the connection.
    GoAway(GoAway),
}

impl Frame<'_> {
    /// Copies every borrowed string so the frame no longer borrows the input text.
    pub fn into_owned(self) -> Frame<'static> {
        match self {
            Frame::Event(event) => Frame::Event(event.into_owned()),
            Frame::GoAway(goaway) => Frame::GoAway(goaway),
        }
    }
}

/// An event frame as the server sends it: signed and encrypted (docs/protocol.md §2).
///
/// The strings borrow from the frame text when they contain no JSON escapes.
/// [`crate::crypto::EventCipher::open`] verifies and decrypts it into an [`crate::Event`].
///
/// ```
/// use std::borrow::Cow;
/// use open_event_core::codec::EventFrame;
///
/// let frame = EventFrame {
///     topic: Cow::Borrowed("kso.app_chat"),
///     operation: Cow::Borrowed("create"),
///     time: 1704067201,
///     nonce: Cow::Borrowed("0123456789abcdef"),
///     signature: Cow::Borrowed("sig"),
///     encrypted_data: Cow::Borrowed("data"),
/// };
/// assert_eq!(frame.event_code(), "kso.app_chat.create");
/// assert!(frame.to_json().starts_with(r#"{"topic":"kso.app_chat","operation":"create","time":1704067201,"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventFrame<'a> {
    /// The topic, e.g. `kso.app_chat.message` (never empty once decoded).
    pub topic: Cow<'a, str>,
    /// The operation, e.g. `create` (never empty once decoded). Not covered by the signature.
    pub operation: Cow<'a, str>,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// The event's identity; its first 16 bytes are the AES IV.
    pub nonce: Cow<'a, str>,
    /// Unpadded base64url of the HMAC-SHA256 event signature.
    pub signature: Cow<'a, str>,
    /// Standard padded base64 of the AES-256-CBC ciphertext.
    pub encrypted_data: Cow<'a, str>,
}

impl EventFrame<'_> {
    /// Copies every borrowed string so the frame no longer borrows the input text.
    pub fn into_owned(self) -> EventFrame<'static> {
        EventFrame {
            topic: Cow::Owned(self.topic.into_owned()),
            operation: Cow::Owned(self.operation.into_owned()),
            time: self.time,
            nonce: Cow::Owned(self.nonce.into_owned()),
            signature: Cow::Owned(self.signature.into_owned()),
            encrypted_data: Cow::Owned(self.encrypted_data.into_owned()),
        }
    }

    /// The frame as the server sends it: one JSON object with the fields in wire order.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("strings and integers always serialize to JSON")
    }

    /// `topic + "." + operation`.
    pub fn event_code(&self) -> String {
        let mut code = String::with_capacity(self.topic.len() + 1 + self.operation.len());
        code.push_str(&self.topic);
        code.push('.');
        code.push_str(&self.operation);
        code
    }
}

/// A GoAway: the server is about to close the connection, and says why (docs/protocol.md §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAway {
    /// Why the server sends the client away.
    pub reason: GoAwayReason,
    /// The server's human-readable explanation (empty when it gave none).
    pub message: String,
    /// How long to wait before the next reconnect, when the server said so. A negative or
    /// non-integer value on the wire reads as `None`: a GoAway is always honoured.
    pub reconnect_ms: Option<u64>,
}

/// The `reason` of a [`GoAway`].
///
/// ```
/// use open_event_core::codec::GoAwayReason;
///
/// let reason = GoAwayReason::from("connection_replaced");
/// assert_eq!(reason, GoAwayReason::ConnectionReplaced);
/// assert!(!reason.is_reconnectable());
/// assert_eq!(GoAwayReason::from("something_new").as_str(), "something_new");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GoAwayReason {
    /// `server_shutdown`: maintenance or deploy; reconnect (after `reconnect_ms` when given).
    ServerShutdown,
    /// `connection_replaced`: a newer connection of the same app took over; do not reconnect.
    ConnectionReplaced,
    /// `heartbeat_timeout`: the server missed our pongs; reconnect with normal backoff.
    HeartbeatTimeout,
    /// Any other reason (or none: the empty string); reconnect with normal backoff.
    Other(String),
}

impl GoAwayReason {
    /// The reason as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ServerShutdown => "server_shutdown",
            Self::ConnectionReplaced => "connection_replaced",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::Other(other) => other,
        }
    }

    /// Whether the client should reconnect: every reason but `connection_replaced`.
    pub fn is_reconnectable(&self) -> bool {
        !matches!(self, Self::ConnectionReplaced)
    }
}

impl From<&str> for GoAwayReason {
    fn from(value: &str) -> Self {
        match value {
            "server_shutdown" => Self::ServerShutdown,
            "connection_replaced" => Self::ConnectionReplaced,
            "heartbeat_timeout" => Self::HeartbeatTimeout,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for GoAwayReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

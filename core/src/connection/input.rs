//! What adapters tell the connection.

/// Something that happened to the transport. Feed it with
/// [`Connection::handle_input`](super::Connection::handle_input).
///
/// Deliberately exhaustive: adding a variant must break every adapter at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)]
pub enum Input<'a> {
    /// The WebSocket handshake of the last [`Action::Connect`](super::Action::Connect) succeeded.
    Opened,
    /// The last connect attempt failed (HTTP status, DNS, TCP, TLS or upgrade error).
    OpenFailed(&'a OpenError),
    /// A text message arrived.
    Text(&'a str),
    /// A binary message arrived (invalid on this protocol; counted and reported).
    Binary(&'a [u8]),
    /// A text message arrived whose payload is not UTF-8 (the WebSocket layer refused to decode
    /// it; the transport is still up). RFC 6455 §8.1 says to fail the connection: the core
    /// answers with [`Action::Fail`](super::Action::Fail) and close code 1007.
    InvalidText,
    /// A Ping arrived with this payload.
    Ping(&'a [u8]),
    /// A Pong arrived (proof of life only).
    Pong(&'a [u8]),
    /// Every send up to and including this one has been written and flushed.
    Sent(super::SendId),
    /// The peer's close frame arrived while the transport is still up (the WebSocket layer
    /// queues the reply; the peer should end the TCP connection next). Feed `Closed` when the
    /// transport does end; if it does not within [`CLOSE_TIMEOUT`](super::CLOSE_TIMEOUT), the
    /// connection drops it ([`Action::Disconnect`](super::Action::Disconnect)) and reports the
    /// close with the peer's code.
    CloseReceived(&'a CloseInfo),
    /// The transport closed: the peer's close frame, an EOF, or a read/write error.
    Closed(&'a CloseInfo),
}

/// Why a connect attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The server answered the upgrade with this HTTP status. 401 and 403 are permanent; every
    /// other status is retried with backoff (docs/protocol.md §1).
    #[error("the server answered the WebSocket upgrade with HTTP {status}")]
    Status {
        /// The HTTP status code.
        status: u16,
    },
    /// A network, TLS or protocol error before the upgrade completed; the text is the
    /// adapter's description (it must not contain secrets).
    #[error("{0}")]
    Transport(String),
}

/// How a transport ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CloseInfo {
    /// The WebSocket close code, when a close frame arrived.
    pub code: Option<u16>,
    /// The close frame's reason text, or the adapter's description of the error.
    pub reason: String,
    /// Whether the transport failed (read/write error, EOF without a close frame) rather than
    /// closing cleanly.
    pub error: bool,
}

impl CloseInfo {
    /// A clean close with the peer's close code and reason.
    pub fn clean(code: Option<u16>, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            error: false,
        }
    }

    /// A failed transport (IO error, EOF without a close frame).
    pub fn error(reason: impl Into<String>) -> Self {
        Self {
            code: None,
            reason: reason.into(),
            error: true,
        }
    }
}

impl std::fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.error, self.code) {
            (true, _) => write!(f, "transport error: {}", self.reason),
            (false, Some(code)) if self.reason.is_empty() => {
                write!(f, "closed by the server (code {code})")
            }
            (false, Some(code)) => write!(f, "closed by the server (code {code}: {})", self.reason),
            (false, None) => f.write_str("closed by the server"),
        }
    }
}

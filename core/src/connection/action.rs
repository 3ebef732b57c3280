//! What the connection asks adapters to do, and what it reports.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::Uri;

use crate::Event;
use crate::codec::{FrameError, GoAway, GoAwayReason};
use crate::config::Config;
use crate::kso1::{self, HandshakeHeaders};

use super::dedup::AckCode;
use super::input::{CloseInfo, OpenError};

/// The next thing an adapter must do. Drain them with
/// [`Connection::poll_action`](super::Connection::poll_action) after every input or command.
///
/// Deliberately exhaustive: adding a variant must break every adapter at compile time.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::exhaustive_enums)]
pub enum Action {
    /// Open a new WebSocket to [`ConnectRequest::url`] with [`ConnectRequest::headers`], then
    /// report [`Input::Opened`](super::Input::Opened) or
    /// [`Input::OpenFailed`](super::Input::OpenFailed). The core bounds the attempt with
    /// `connect_timeout` and answers a late attempt with [`Action::Disconnect`].
    Connect(ConnectRequest),
    /// Write this message, then report [`Input::Sent`](super::Input::Sent) with its id once it
    /// is flushed. Sends must be written in the order they are emitted.
    Send(Transmit),
    /// Hand this event to the application; report the result with
    /// [`Connection::complete`](super::Connection::complete).
    Deliver(Delivery),
    /// Stop reading messages from the transport (too many deliveries are out). Reading stays
    /// paused, across reconnects too, until [`Action::ResumeReading`].
    PauseReading,
    /// Read again.
    ResumeReading,
    /// Send a WebSocket close frame (code 1000) and wait for the server's close; report
    /// [`Input::Closed`](super::Input::Closed) when the transport is gone.
    Close,
    /// Fail the connection (RFC 6455 §7.1.7): the server broke the WebSocket protocol. Send a
    /// close frame with the [`Failure`]'s code and reason (and nothing after it), then report
    /// [`Input::Closed`](super::Input::Closed) when the transport is gone, as after
    /// [`Action::Close`]. The core reconnects after it.
    Fail(Failure),
    /// Drop the current transport (or the connect attempt in progress) at once, without a
    /// close handshake: the core has declared it dead. Do not report `Closed` for it.
    Disconnect,
    /// Report this lifecycle notice to the application (logs, metrics, UI).
    Notify(Notice),
}

/// Why the core fails a connection, as the close frame says it ([`Action::Fail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The close code (RFC 6455 §7.4.1).
    pub code: u16,
    /// The close frame's reason text (at most 123 bytes, as a control frame allows).
    pub reason: &'static str,
}

impl Failure {
    /// A text frame that is not UTF-8: close code 1007 (RFC 6455 §8.1).
    pub const INVALID_UTF8: Self = Self {
        code: 1007,
        reason: "text frame is not valid UTF-8",
    };
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (close code {})", self.reason, self.code)
    }
}

/// Where and how to open the WebSocket.
#[derive(Clone, PartialEq)]
pub struct ConnectRequest {
    config: Arc<Config>,
    attempt: u32,
}

impl ConnectRequest {
    pub(super) fn new(config: Arc<Config>, attempt: u32) -> Self {
        Self { config, attempt }
    }

    /// The endpoint URL (`ws://` or `wss://`).
    pub fn url(&self) -> &Uri {
        self.config.endpoint()
    }

    /// The handshake's extra headers (`X-Kso-Date`, `X-Kso-Authorization`, `X-Ack-Mode`), signed
    /// with KSO-1 for `date` (pass the current wall-clock time; the server rejects a date more
    /// than a few minutes off).
    pub fn headers(&self, date: SystemTime) -> HandshakeHeaders {
        kso1::handshake_headers(
            self.config.credentials(),
            self.config.endpoint(),
            date,
            self.config.ack_mode(),
        )
    }

    /// The application's extra handshake headers ([`ConfigBuilder::header`]), to send with
    /// [`ConnectRequest::headers`]; none of them is a header the signed handshake owns.
    ///
    /// [`ConfigBuilder::header`]: crate::config::ConfigBuilder::header
    pub fn extra_headers(&self) -> &[(String, String)] {
        self.config.headers()
    }

    /// Consecutive attempts since the last stable connection (0 for the first connect).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

impl fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectRequest")
            .field("url", &self.url().to_string())
            .field("attempt", &self.attempt)
            .finish()
    }
}

/// Identifies a send for [`Input::Sent`](super::Input::Sent). Ids increase in emission order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SendId(pub(super) u64);

/// One message to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Report it back with [`Input::Sent`](super::Input::Sent) once flushed.
    pub id: SendId,
    /// What to write.
    pub message: Message,
}

/// A message the client writes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)]
pub enum Message {
    /// A Pong frame answering a Ping, carrying its payload.
    ///
    /// Exactly one pong must go out per ping. If the WebSocket library already queued a pong by
    /// itself when it read the ping (tungstenite and async-tungstenite do, and offer no switch),
    /// do not send a second one: *flush* the writer instead, which writes the queued pong now,
    /// then report `Sent`. Libraries that do not answer pings send `Pong(payload)` here.
    Pong(Vec<u8>),
    /// An ack text frame (docs/protocol.md §5).
    Ack {
        /// The acked event's nonce.
        nonce: String,
        /// 200 for success, 500 for a handler error.
        code: u16,
        /// The JSON text to send as one text frame.
        text: String,
    },
}

/// An event handed to the application, with the token that completes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Pass it to [`Connection::complete`](super::Connection::complete).
    pub token: DeliveryToken,
    /// The verified and decrypted event.
    pub event: Event,
}

/// Identifies one delivery and the transport that carried its event (its ack may only go out
/// on that transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryToken {
    pub(super) transport: u64,
    pub(super) seq: u64,
}

/// How the application finished with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Handled: acked with code 200.
    Ok,
    /// Failed: acked with code 500 and this text (truncated to 256 characters) as `msg`, so
    /// the server may redeliver.
    Error(String),
    /// No handler and no fallback took it: acked 200 (the event is not wanted, a redelivery
    /// would not change that) and counted in [`Stats::unhandled`](crate::stats::Stats).
    Unhandled,
}

impl Outcome {
    /// An error outcome from anything displayable.
    pub fn error(err: impl fmt::Display) -> Self {
        Self::Error(err.to_string())
    }

    /// The ack this outcome turns into: 200 for `Ok` and `Unhandled`, 500 with the text
    /// (truncated to the protocol's limit) for `Error`.
    pub(super) fn ack(&self) -> AckCode {
        match self {
            Self::Ok | Self::Unhandled => AckCode {
                code: 200,
                msg: None,
            },
            Self::Error(msg) => AckCode {
                code: 500,
                msg: Some(crate::codec::truncate_ack_msg(msg).into_owned()),
            },
        }
    }
}

/// A lifecycle report for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// The WebSocket is open; events flow.
    Connected {
        /// Whether an earlier transport of this connection existed.
        reconnect: bool,
    },
    /// The transport is gone; what follows is a `Reconnecting` or a `Stopped`.
    Disconnected(DisconnectCause),
    /// A reconnect is scheduled.
    Reconnecting {
        /// Consecutive attempts since the last stable connection, this one included.
        attempt: u32,
        /// How long until it.
        delay: Duration,
        /// When it happens.
        at: Instant,
    },
    /// The server announced it is going away.
    GoAway(GoAway),
    /// A frame was rejected (never delivered, never acked with 200).
    Rejected(FrameError),
    /// A redelivered event was not delivered again.
    Duplicate {
        /// Its nonce.
        nonce: String,
    },
    /// A delivery has run past the delivery budget (the platform expects 3 s).
    SlowDelivery {
        /// The event's nonce.
        nonce: String,
        /// The event's code.
        event_code: String,
        /// How long it has run.
        elapsed: Duration,
    },
    /// A handler returned an error or panicked ([`Outcome::Error`]): the event is acked with
    /// code 500 and this message (the server may redeliver it). Logged at WARN by every
    /// runtime, so a failing handler is visible without any setup.
    HandlerFailed {
        /// The event's code.
        event_code: String,
        /// The event's nonce.
        nonce: String,
        /// The handler's error text (or `handler panicked: ...`).
        message: String,
    },
    /// An outcome arrived after the transport of its event died: no ack was sent (the server
    /// redelivers the event).
    LateOutcome {
        /// The event's nonce.
        nonce: String,
    },
    /// The duplicate-suppression memory was full when new nonces arrived. It made room by
    /// forgetting nonces whose acks the server has had (`evicted`: remembered for less than
    /// `dedup_window`), and when every remembered nonce might still be redelivered (handlers
    /// running, acks too recent or lost with their connection), new nonces were delivered but
    /// not remembered (`unremembered`: a redelivery of them reaches the handler again).
    /// Reported at most once a minute; raise `dedup_capacity` to at least the peak event rate
    /// times `dedup_window` (each nonce costs about 140 bytes).
    DedupFull {
        /// The configured `dedup_capacity`.
        capacity: usize,
        /// The configured `dedup_window`.
        window: Duration,
        /// New nonces not remembered since the last such notice.
        unremembered: u64,
        /// Acked nonces forgotten before their window ended, to make room, since the last
        /// such notice.
        evicted: u64,
    },
    /// The connection stopped for good. This is the last action.
    Stopped(StopReason),
    /// A graceful stop's `drain_timeout` ran out with deliveries still being handled: they are
    /// abandoned unacked (the server redelivers them to the next client).
    DrainExceeded {
        /// Deliveries of the connection still out when the budget ended.
        abandoned: usize,
        /// The budget.
        drain_timeout: Duration,
    },
}

/// Why a transport ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectCause {
    /// The connect attempt failed.
    #[error("connect failed: {0}")]
    ConnectFailed(#[source] OpenError),
    /// The connect attempt did not finish within `connect_timeout`.
    #[error("connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// A write was not confirmed within `write_timeout`.
    #[error("a write was not confirmed within {0:?}; the connection is dead")]
    WriteTimeout(Duration),
    /// The server sent nothing for `pong_timeout`.
    #[error("the server sent nothing for {0:?}; the connection is dead")]
    ServerSilent(Duration),
    /// The server went away after a GoAway (expected, not an error).
    #[error("the server went away ({0})")]
    GoAway(GoAwayReason),
    /// The transport closed or failed.
    #[error("{0}")]
    Closed(CloseInfo),
    /// Our own graceful close completed ([`Connection::close`](super::Connection::close)).
    #[error("closed as requested")]
    Requested,
    /// We failed the connection: the server broke the WebSocket protocol ([`Action::Fail`]).
    #[error("the server broke the WebSocket protocol: {0}; failed the connection")]
    Failed(Failure),
}

/// Why a connection stopped for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StopReason {
    /// The application asked ([`Connection::close`](super::Connection::close)).
    #[error("stopped as requested")]
    Requested,
    /// A newer connection of the same app took over (GoAway `connection_replaced`).
    #[error(
        "the server replaced this connection with a newer one of the same app ({message}); \
         make sure only one client per app id runs, or stop the other one"
    )]
    ConnectionReplaced {
        /// The server's message.
        message: String,
    },
    /// The handshake was rejected with 401 or 403: retrying cannot help.
    #[error("the server rejected the handshake with HTTP {status}: {hint}")]
    AuthRejected {
        /// 401 or 403.
        status: u16,
        /// What to check.
        hint: &'static str,
    },
    /// `max_retries` consecutive attempts failed.
    #[error(
        "gave up after {attempts} consecutive failed {} (last: {last}); check the \
         network and the endpoint, or raise max_retries",
        if *.attempts == 1 { "attempt" } else { "attempts" }
    )]
    RetriesExhausted {
        /// Consecutive failed attempts, the first one included (`max_retries + 1`).
        attempts: u32,
        /// Why the last one failed.
        #[source]
        last: DisconnectCause,
    },
    /// The transport was lost and auto reconnect is off.
    #[error("the connection was lost ({0}) and auto reconnect is off")]
    ConnectionLost(#[source] DisconnectCause),
}

impl StopReason {
    /// Whether the application asked for this stop (the only non-error ending).
    pub fn is_requested(&self) -> bool {
        matches!(self, Self::Requested)
    }
}

/// What to check when the platform answers the handshake with 401.
pub(super) const HINT_401: &str = "check the app id and app secret, and this machine's clock \
    (the signed X-Kso-Date must be within 15 minutes of the server's time)";
/// What to check when the platform answers the handshake with 403.
pub(super) const HINT_403: &str = "the app is not allowed to use the event long connection; \
    check its permissions and event subscriptions on the WPS open platform console";

impl fmt::Display for Notice {
    /// One readable line, as the runtimes log it and the CLI prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connected { reconnect: false } => f.write_str("connected"),
            Self::Connected { reconnect: true } => f.write_str("reconnected"),
            Self::Disconnected(cause) => write!(f, "disconnected: {cause}"),
            Self::Reconnecting { attempt, delay, .. } => write!(
                f,
                "reconnecting in {} ms (attempt {attempt})",
                delay.as_millis()
            ),
            Self::GoAway(goaway) => {
                write!(f, "goaway from the server: {}", goaway.reason.as_str())?;
                if !goaway.message.is_empty() {
                    write!(f, " ({})", goaway.message)?;
                }
                if let Some(ms) = goaway.reconnect_ms {
                    write!(f, ", reconnect in {ms} ms")?;
                }
                if let GoAwayReason::Other(_) = goaway.reason {
                    f.write_str(" [unknown reason: treated as reconnectable]")?;
                }
                Ok(())
            }
            Self::Rejected(err) => write!(f, "frame rejected: {err}"),
            Self::Duplicate { nonce } => {
                write!(f, "duplicate event {nonce} not delivered again")
            }
            Self::SlowDelivery {
                nonce,
                event_code,
                elapsed,
            } => write!(
                f,
                "handler of {event_code} ({nonce}) has run {:.1} s, past the delivery budget",
                elapsed.as_secs_f64()
            ),
            Self::DrainExceeded {
                abandoned,
                drain_timeout,
            } => write!(
                f,
                "graceful stop: {abandoned} {} still being handled when drain_timeout \
                 ({} ms) ran out; abandoned unacked (the server redelivers {}); raise \
                 drain_timeout if handlers need longer",
                if *abandoned == 1 {
                    "event was"
                } else {
                    "events were"
                },
                drain_timeout.as_millis(),
                if *abandoned == 1 { "it" } else { "them" },
            ),
            Self::HandlerFailed {
                event_code,
                nonce,
                message,
            } => write!(f, "handler of {event_code} ({nonce}) failed: {message}"),
            Self::LateOutcome { nonce } => write!(
                f,
                "outcome of {nonce} arrived after its connection closed; not acked, the server \
                 will redeliver it"
            ),
            Self::DedupFull {
                capacity,
                window,
                unremembered,
                evicted,
            } => {
                write!(
                    f,
                    "dedup memory full ({capacity} nonces within {} s): ",
                    window.as_secs()
                )?;
                if *evicted > 0 {
                    write!(
                        f,
                        "{evicted} acked nonce(s) forgotten before their window ended{}",
                        if *unremembered > 0 { ", " } else { "; " }
                    )?;
                }
                if *unremembered > 0 {
                    write!(
                        f,
                        "{unremembered} new event(s) not remembered, their redeliveries will \
                         run the handler again; "
                    )?;
                }
                write!(
                    f,
                    "raise dedup_capacity (about 140 bytes per nonce) to the peak rate times \
                     the window"
                )
            }
            Self::Stopped(reason) => write!(f, "stopped: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_of_one_are_singular() {
        let last = DisconnectCause::ConnectTimeout(Duration::from_secs(1));
        let one = StopReason::RetriesExhausted {
            attempts: 1,
            last: last.clone(),
        };
        assert!(
            one.to_string()
                .starts_with("gave up after 1 consecutive failed attempt (last: "),
            "{one}"
        );
        let two = StopReason::RetriesExhausted { attempts: 2, last };
        assert!(
            two.to_string()
                .starts_with("gave up after 2 consecutive failed attempts (last: "),
            "{two}"
        );
        let drain = |abandoned| Notice::DrainExceeded {
            abandoned,
            drain_timeout: Duration::from_secs(5),
        };
        let text = drain(1).to_string();
        assert!(
            text.contains("1 event was still") && text.contains("redelivers it)"),
            "{text}"
        );
        let text = drain(3).to_string();
        assert!(
            text.contains("3 events were still") && text.contains("redelivers them)"),
            "{text}"
        );
    }

    #[test]
    fn outcomes_map_to_acks() {
        assert_eq!(
            Outcome::Ok.ack(),
            AckCode {
                code: 200,
                msg: None
            }
        );
        assert_eq!(
            Outcome::Unhandled.ack(),
            AckCode {
                code: 200,
                msg: None
            }
        );
        assert_eq!(
            Outcome::error("boom").ack(),
            AckCode {
                code: 500,
                msg: Some("boom".into())
            }
        );
        let long = Outcome::Error("x".repeat(300)).ack();
        assert_eq!(
            long.msg.unwrap().chars().count(),
            crate::codec::ACK_MSG_MAX_CHARS
        );
    }
}

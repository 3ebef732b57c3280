//! The steps every runtime's drive loop takes the same way, and the skeleton they share.
//!
//! # The driver skeleton
//!
//! `runtime-tokio/src/driver.rs`, `runtime-async-std/src/driver.rs` and
//! `runtime-blocking/src/driver.rs` are written to one shape, so that two of them side by side
//! differ only where their runtimes do:
//!
//! 1. `Link { Down, Connecting, Up }`: the transport as the driver sees it. `Up` holds the
//!    open WebSocket, its write state and a [`PeerClose`].
//! 2. `Driver`: the `Connection`, the link, `attempt` (the id of the newest connect attempt;
//!    a report naming an older one is dropped), `paused` (the core asked to stop reading),
//!    `stop_seen` (the handle's stop request was passed to the core), and the runtime's
//!    channels. Built by `Driver::new(prepared)` from the [`Prepared`](crate::Prepared) client;
//!    `Client::run` is `Driver::new(prepared).run()` and nothing else.
//! 3. `run`: until the core is stopped, `check_stop`, wait for the first of the sources (a
//!    connect attempt's report, a read, a flush, a handler's outcome, the core's deadline),
//!    feed it, `drain`; then [`finish`], which publishes the last state and returns
//!    [`run_result`].
//! 4. The inputs, each followed by `drain`: `on_opened` (a connect attempt's report),
//!    `on_read` (a message), `on_flushed` (everything up to a send is out), `on_ended` (the
//!    stream ended or failed: drop the link, feed `Input::Closed`), `on_outcome` (a handler
//!    finished: [`complete`]), and the timer (`handle_timeout`).
//! 5. `drain` performs every queued action in order with `perform`: `connect`, `send`,
//!    `deliver`, `pause`/`resume`, `close`, `drop_link`, notify.
//!
//! Handlers run inline first where the runtime allows it (tokio, blocking): the loop calls a
//! handler right where the core delivers its event, and only a handler that does not finish
//! there (a future that returns `Pending`, or any handler while [`Inline`] is suspended) is
//! handed to a worker. A cheap handler then costs no thread hand-off and its ack leaves with
//! the batch it came in; [`Inline`] keeps a slow one harmless.
//!
//! What is protocol or policy is here, once: our close frame ([`close_frame`]), how a stream's
//! end is classified ([`PeerClose`]), what `Action::Close` means with no link open
//! ([`nothing_to_close`]), how a handler's outcome is completed and a misuse logged
//! ([`complete`]), what `run()` returns ([`run_result`]), and the `tracing` spans ([`Spans`]).
//!
//! # Spans
//!
//! Every driver holds a [`Spans`] and uses it the same way: `drain` performs each action inside
//! [`Spans::connection`], `connect` starts the attempt's span with [`Spans::connect`] (the
//! attempt itself runs in it: `Instrument` on the async runtimes, `in_scope` on the connect
//! thread), and each delivery's handler runs in [`Spans::event`] (its closure called inside it,
//! its future instrumented with it; entered on the worker thread for blocking handlers).

use std::time::{Duration, Instant};

use open_event_core::Event;
use open_event_core::config::Config;
use open_event_core::connection::{
    CloseInfo, Connection, Delivery, DeliveryToken, Failure, Input, Outcome,
};
use tracing::Span;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use crate::error::close_info;
use crate::run::RunError;
use crate::status::StatusBoard;

/// The `tracing` spans of one client's run, the same on every runtime (all at INFO level,
/// under the target `open_event`):
///
/// - `open_event{app_id}`: the whole run (a child of the span current when the client
///   starts);
/// - `connection{attempt}`: one connection attempt's life, from its connect until the next
///   attempt starts or the run ends (its handshake, events, acks, the disconnect and the
///   reconnect delay that follows); `attempt` counts from 1 for the run's first connect;
/// - `event{code, nonce}`: one handler run, a child of the connection that carried the event.
///
/// Every notice is logged inside the connection span it belongs to, so a handler failure's
/// WARN names the event (its fields) and the attempt (its spans).
///
/// ```
/// use open_event_core::Event;
/// use open_event_core::config::Config;
/// use open_event_transport::drive::Spans;
///
/// let config = Config::builder("AK123456", "sk098765").build()?;
/// let mut spans = Spans::new(&config);
/// let connection = spans.connect(1);
/// connection.in_scope(|| tracing::info!("logged in the connection's span"));
/// let event = Event::new("kso.app_chat", "create", 0, "0123456789abcdef", "{}");
/// let handler = spans.event(&event);
/// handler.in_scope(|| tracing::info!("logged in the event's span, inside the connection's"));
/// # Ok::<(), open_event_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Spans {
    client: Span,
    connection: Span,
}

impl Spans {
    /// The client's span (`open_event{app_id}`); no connection span yet.
    pub fn new(config: &Config) -> Self {
        let client = tracing::info_span!(
            target: "open_event",
            "open_event",
            app_id = config.credentials().app_id()
        );
        Self {
            connection: client.clone(),
            client,
        }
    }

    /// The client's span, for what happens outside any connection.
    pub fn client(&self) -> &Span {
        &self.client
    }

    /// The current connection attempt's span (the client's before the first attempt).
    pub fn connection(&self) -> &Span {
        &self.connection
    }

    /// Starts the span of connection attempt `attempt` (the driver's attempt id, from 1), which
    /// is current from now on; returns it for the attempt's own work.
    pub fn connect(&mut self, attempt: u64) -> Span {
        self.connection = tracing::info_span!(
            target: "open_event",
            parent: &self.client,
            "connection",
            attempt
        );
        self.connection.clone()
    }

    /// The span of one handler run on `event`, a child of the current connection's.
    pub fn event(&self, event: &Event) -> Span {
        tracing::info_span!(
            target: "open_event",
            parent: &self.connection,
            "event",
            code = event.event_code(),
            nonce = event.nonce.as_str()
        )
    }
}

/// Whether the loop may run a handler inline, and for how long it may take.
///
/// A handler run inline holds up the loop (reads, pongs, acks, timers) while it runs. Each
/// inline run is timed: one that took longer than [`Inline::BUDGET`] suspends inline runs for
/// the next [`Inline::SUSPEND`] deliveries, which go straight to workers (in parallel, so a
/// slow handler holds up nothing); then inline runs are tried again. A loop blocked once for a
/// slow handler's first run is the price of finding out, which stays far below the protocol's
/// timeouts (seconds) unless the handler blocks for that long.
///
/// ```
/// use std::time::Duration;
/// use open_event_transport::drive::Inline;
///
/// let mut inline = Inline::default();
/// assert!(inline.allowed());
/// inline.ran(Duration::from_micros(20));
/// assert!(inline.allowed());
/// inline.ran(Inline::BUDGET * 2);
/// assert!(!inline.allowed(), "suspended after a slow run");
/// for _ in 1..Inline::SUSPEND {
///     assert!(!inline.allowed());
/// }
/// assert!(inline.allowed(), "tried again");
/// ```
#[derive(Debug, Default, Clone)]
pub struct Inline {
    /// Deliveries left before inline runs are tried again.
    suspended: u32,
}

impl Inline {
    /// The longest an inline run may take before inline runs are suspended.
    pub const BUDGET: Duration = Duration::from_micros(500);
    /// How many deliveries a slow inline run sends straight to workers.
    pub const SUSPEND: u32 = 1000;

    /// Whether the next delivery may run inline (counts the delivery while suspended).
    pub fn allowed(&mut self) -> bool {
        if self.suspended == 0 {
            return true;
        }
        self.suspended -= 1;
        false
    }

    /// An inline run took `took`.
    pub fn ran(&mut self, took: Duration) {
        if took > Self::BUDGET {
            tracing::debug!(
                target: "open_event",
                took_us = took.as_micros() as u64,
                "a handler ran long on the loop; the next {} run on workers",
                Self::SUSPEND
            );
            self.suspended = Self::SUSPEND;
        }
    }
}

/// Our close frame, the same on every runtime: code 1000 (normal), no reason.
pub fn close_frame() -> CloseFrame {
    CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }
}

/// Our close frame when the core fails the connection ([`Action::Fail`]): its code and reason.
///
/// [`Action::Fail`]: open_event_core::connection::Action::Fail
///
/// ```
/// use open_event_core::connection::Failure;
/// use open_event_transport::drive::failure_frame;
///
/// assert_eq!(u16::from(failure_frame(&Failure::INVALID_UTF8).code), 1007);
/// ```
pub fn failure_frame(failure: &Failure) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(failure.code),
        reason: failure.reason.into(),
    }
}

/// Whether a read failed on a text message that is not UTF-8. The transport is still up: feed
/// `Input::InvalidText` (the core fails the connection with 1007) instead of ending the link.
pub fn is_invalid_text(err: &tungstenite::Error) -> bool {
    matches!(err, tungstenite::Error::Utf8(_))
}

/// The peer's close frame, once one arrived, and how the stream's end is reported to the core.
///
/// - After the peer's close frame, whatever ends the stream (its end, a read or write error of
///   the teardown, e.g. a TLS EOF without `close_notify`) is a clean close with the frame's
///   code and reason.
/// - A stream that ends without a close frame is a transport error ("the connection ended
///   without a close frame"); an error without a close frame is described by
///   [`close_info`].
///
/// ```
/// use open_event_transport::drive::PeerClose;
///
/// let mut peer = PeerClose::default();
/// assert!(peer.ended().error);
/// peer.close_frame(None);
/// assert!(!peer.ended().error);
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PeerClose {
    frame: Option<CloseInfo>,
}

impl PeerClose {
    /// The peer's close frame (or a close without one) arrived.
    pub fn close_frame(&mut self, frame: Option<&CloseFrame>) {
        self.frame = Some(crate::error::close_frame_info(frame));
    }

    /// The peer's close frame, once it arrived (for `Input::CloseReceived`).
    pub fn info(&self) -> Option<&CloseInfo> {
        self.frame.as_ref()
    }

    /// Whether the peer's close frame arrived.
    pub fn seen(&self) -> bool {
        self.frame.is_some()
    }

    /// How the stream ended when it simply ended (EOF, or right after the close frame).
    pub fn ended(&mut self) -> CloseInfo {
        self.frame
            .take()
            .unwrap_or_else(|| CloseInfo::error("the connection ended without a close frame"))
    }

    /// How the stream ended when a read or write failed with `err`.
    pub fn failed(&mut self, err: &tungstenite::Error) -> CloseInfo {
        self.frame.take().unwrap_or_else(|| close_info(err, false))
    }
}

/// `Action::Close` arrived with no link open. The core emits `Close` only while it believes a
/// transport is up, so the link is gone without the core having noticed yet (or it noticed in
/// the same drain and the `Close` is stale): every runtime then reports the transport closed,
/// so the core finishes its close at once instead of waiting for its close timer (a stale
/// report is ignored by the core).
pub fn nothing_to_close(conn: &mut Connection, now: Instant) {
    conn.handle_input(now, Input::Closed(&CloseInfo::clean(None, "")));
}

/// Feeds one handler's outcome to the core. Every token comes from this connection and is
/// completed once, so a `UsageError` is a bug of the driver: it is logged at `error` (on every
/// runtime) and the loop goes on. With the `metrics` feature it records the outcome and the
/// handler's duration by event code.
pub fn complete(conn: &mut Connection, now: Instant, token: DeliveryToken, outcome: Outcome) {
    crate::metrics::outcome(conn, now, token, &outcome);
    if let Err(err) = conn.complete(now, token, outcome) {
        tracing::error!(target: "open_event", error = %err, "handler outcome not accepted");
    }
}

/// An event is handed to the handler: every runtime calls this when it performs
/// `Action::Deliver`, before running the handler (it counts the delivery by event code with
/// the `metrics` feature, and does nothing without it).
pub fn delivered(delivery: &Delivery) {
    crate::metrics::delivered(delivery);
}

/// What `run()` returns once the core stopped: [`Connection::result`] without the
/// `Requested` case (`Ok`). A connection that has not stopped yields `Ok` too (the drivers
/// only call this after the core stopped).
pub fn run_result(conn: &Connection) -> Result<(), RunError> {
    match conn.result() {
        Some(Err(reason)) => RunError::from_stop(reason).map_or(Ok(()), Err),
        Some(Ok(())) | None => Ok(()),
    }
}

/// The end of `run()`: publishes the final state and counters, marks the board finished (the
/// handles report stopped) and returns [`run_result`].
pub fn finish(conn: &Connection, status: &StatusBoard) -> Result<(), RunError> {
    status.publish(conn.state(), conn.stats());
    status.finish();
    run_result(conn)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use open_event_core::config::Config;
    use open_event_core::connection::{Action, OpenError, State};

    use super::*;

    #[test]
    fn the_peer_close_decides_how_the_stream_ended() {
        let mut peer = PeerClose::default();
        let info = peer.ended();
        assert!(
            info.error && info.reason.contains("without a close frame"),
            "{info}"
        );
        let eof = tungstenite::Error::Io(std::io::ErrorKind::UnexpectedEof.into());
        assert!(peer.failed(&eof).error);

        let frame = CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        };
        peer.close_frame(Some(&frame));
        assert!(peer.seen());
        assert_eq!(peer.clone().ended(), CloseInfo::clean(Some(1001), "bye"));
        assert_eq!(peer.failed(&eof), CloseInfo::clean(Some(1001), "bye"));
        assert!(!peer.seen(), "taken once");
        assert_eq!(u16::from(close_frame().code), 1000);
    }

    fn open_connection() -> Connection {
        let config = Arc::new(Config::builder("AK123456", "sk098765").build().unwrap());
        let now = Instant::now();
        let mut conn = Connection::new(config, now, 1);
        while conn.poll_action().is_some() {}
        conn.handle_input(now, Input::Opened);
        while conn.poll_action().is_some() {}
        conn
    }

    #[test]
    fn nothing_to_close_finishes_the_close_at_once() {
        let mut conn = open_connection();
        let now = Instant::now();
        conn.close(now);
        let actions: Vec<Action> = std::iter::from_fn(|| conn.poll_action()).collect();
        assert!(
            actions.iter().any(|a| matches!(a, Action::Close)),
            "{actions:?}"
        );
        nothing_to_close(&mut conn, now);
        assert_eq!(conn.state(), State::Stopped);
        assert_eq!(run_result(&conn), Ok(()));
    }

    #[test]
    fn run_result_maps_a_stop_for_good_to_its_error() {
        let config = Arc::new(Config::builder("AK123456", "sk098765").build().unwrap());
        let now = Instant::now();
        let mut conn = Connection::new(config, now, 1);
        assert_eq!(run_result(&conn), Ok(()));
        conn.handle_input(now, Input::OpenFailed(&OpenError::Status { status: 401 }));
        assert!(matches!(
            run_result(&conn),
            Err(RunError::AuthRejected { status: 401, .. })
        ));
        let status = Arc::new(StatusBoard::new());
        assert!(finish(&conn, &status).is_err());
        assert!(status.handle().is_stopped());
    }
}

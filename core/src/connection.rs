//! The `Connection` state machine: the whole client side of the protocol, without IO.
//!
//! # Drive loop
//!
//! A `Connection` never reads a clock, a socket or an OS random source. An adapter:
//!
//! 1. creates it with [`Connection::new`] (the first [`Action::Connect`] is queued at once);
//! 2. after **every** call to a `handle_*` method or a command ([`Connection::complete`],
//!    [`Connection::close`]), drains [`Connection::poll_action`] until it returns `None` and
//!    performs each action in order;
//! 3. then sleeps until [`Connection::poll_timeout`] or the next input, whichever comes first,
//!    and calls [`Connection::handle_timeout`] when the deadline passes (calling it early is a
//!    harmless no-op);
//! 4. stops when [`Connection::is_stopped`] (the last action was
//!    [`Notice::Stopped`]).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Instant, SystemTime};
//! use open_event_core::config::Config;
//! use open_event_core::connection::{Action, Connection, Input, Outcome};
//!
//! let config = Arc::new(Config::builder("AK123456", "sk098765").build().unwrap());
//! let start = Instant::now();
//! let mut conn = Connection::new(config, start, 42);
//! let Some(Action::Connect(request)) = conn.poll_action() else { panic!() };
//! assert_eq!(request.url().to_string(), "wss://openapi.wps.cn/v7/event/ws");
//! let headers = request.headers(SystemTime::UNIX_EPOCH);
//! assert!(headers.authorization.starts_with("KSO-1 AK123456:"));
//!
//! // ... the adapter opens the WebSocket ...
//! conn.handle_input(start, Input::Opened);
//! while let Some(action) = conn.poll_action() {
//!     match action {
//!         Action::Deliver(delivery) => {
//!             // run the handler, later:
//!             conn.complete(start, delivery.token, Outcome::Ok).unwrap();
//!         }
//!         Action::Notify(notice) => println!("{notice:?}"),
//!         _ => {}
//!     }
//! }
//! assert!(conn.poll_timeout().is_some()); // liveness, stable period, ...
//! ```
//!
//! # Behaviour
//!
//! - Handshake failures: 401/403 stop for good ([`StopReason::AuthRejected`]); anything else
//!   reconnects with [`crate::backoff::Backoff`].
//! - Timeouts: the open (`connect_timeout`), every send (`write_timeout`) and server silence
//!   (`pong_timeout`, any frame counts as life) each declare the transport dead.
//! - Events: classify → verify → decrypt → dedup → deliver (at most `max_in_flight` out, then up
//!   to `read_backlog` queued, then [`Action::PauseReading`]). Invalid frames are counted by
//!   reason, reported and never acked; so is an event whose plaintext is not JSON
//!   ([`Event::check_json`](crate::Event::check_json)).
//! - Acks are bound to the transport that carried the event; a later outcome sends nothing.
//! - GoAway: docs/protocol.md §3; the close that follows is expected.
//! - [`Connection::close`] drains in-flight deliveries (up to `drain_timeout`), sends their
//!   acks, closes the WebSocket, then reports [`Notice::Stopped`]. Terminal states are sticky.
//!
//! # Layout
//!
//! [`Connection`] orchestrates; the bookkeeping lives in sub-machines, one file each, each with
//! its own unit tests: `deliveries` (in-flight deliveries, their budgets, the backlog and the
//! read pause), `sends` (unconfirmed writes and the write deadline), `lifecycle` ([`State`] and
//! the decisions after a failed or lost transport), `dedup` (the nonce memory, which
//! `nonce_memory` opens to the webhook endpoint) and `timer` (the deadline table). `input` and
//! `action` are the vocabulary adapters speak.

mod action;
// `Dedup::len` only serves `Connection::dedup_len` and `webhook::Endpoint::dedup_len`, `testing`
// items.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
mod dedup;
mod deliveries;
mod input;
mod lifecycle;
pub(crate) mod nonce_memory;
mod sends;
mod timer;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use action::{
    Action, ConnectRequest, Delivery, DeliveryToken, DisconnectCause, Failure, Message, Notice,
    Outcome, SendId, StopReason, Transmit,
};
pub use input::{CloseInfo, Input, OpenError};
pub use lifecycle::State;
pub use sends::{MAX_UNCONFIRMED_BYTES, MAX_UNCONFIRMED_WRITES};

use self::dedup::{AckCode, Dedup, Seen};
use self::deliveries::{Budget, Deliveries, InFlight};
use self::lifecycle::AfterLoss;
use self::sends::{Carries, Sends};
use self::timer::{Timer, TimerTable};
use crate::Event;
use crate::backoff::Backoff;
use crate::codec::{self, Frame, FrameError, GoAway, GoAwayReason};
use crate::config::Config;
use crate::crypto::EventCipher;
use crate::stats::Stats;

/// The client side of one logical event connection (across reconnects).
///
/// See the [module docs](self) for the drive loop.
#[derive(Debug)]
pub struct Connection {
    config: Arc<Config>,
    cipher: EventCipher,
    backoff: Backoff,
    state: State,
    timers: TimerTable,
    actions: VecDeque<Action>,
    now: Instant,
    /// Id of the current (or last) transport; deliveries remember theirs.
    transport: u64,
    /// A GoAway arrived on the current transport.
    goaway: Option<GoAway>,
    sends: Sends,
    deliveries: Deliveries,
    /// What the adapter was last told: reading paused (a full backlog or backed-up writes).
    reading_paused: bool,
    /// When a graceful stop's drain budget ends (the close wait fits in what is left of it).
    drain_deadline: Option<Instant>,
    /// The server's close frame, while its TCP connection has not ended yet.
    peer_close: Option<CloseInfo>,
    /// We failed the current transport ([`Action::Fail`]) and wait for it to end.
    failed: Option<Failure>,
    dedup: Dedup,
    stats: Stats,
    stop: Option<StopReason>,
}

/// How long the client waits for the other side of a WebSocket close: the server's close reply
/// after our close frame (a graceful stop; within what is left of `drain_timeout`), or the end
/// of the TCP connection after the server's close frame. Then it drops the transport itself.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest reconnect delay a GoAway may ask for (`reconnect_ms` beyond it is clamped).
pub const MAX_SERVER_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Misuse of the API by the application (not the peer's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The token was already completed, or belongs to another `Connection`.
    #[error(
        "unknown delivery token: it was already completed or belongs to another Connection; \
         complete each delivery exactly once"
    )]
    UnknownDelivery,
}

impl Connection {
    /// A connection that will dial at once (the first action is [`Action::Connect`]).
    ///
    /// `seed` drives the reconnect jitter: log it, and a run can be replayed.
    pub fn new(config: Arc<Config>, now: Instant, seed: u64) -> Self {
        let mut conn = Self {
            cipher: EventCipher::new(config.credentials()),
            backoff: Backoff::new(&config, seed),
            dedup: Dedup::new(
                config.dedup(),
                config.dedup_window(),
                config.dedup_capacity(),
                config.dedup_retry_errors(),
                2 * config.write_timeout(),
            ),
            config,
            state: State::Connecting,
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            now,
            transport: 0,
            goaway: None,
            sends: Sends::default(),
            deliveries: Deliveries::default(),
            reading_paused: false,
            drain_deadline: None,
            peer_close: None,
            failed: None,
            stats: Stats::default(),
            stop: None,
        };
        conn.connect(now);
        conn
    }

    /// Feeds something that happened to the transport. Never fails: the peer's mistakes become
    /// [`Notice`]s and state changes. Drain [`Connection::poll_action`] afterwards.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        let now = self.advance(now);
        match input {
            Input::Opened => self.on_opened(now),
            Input::OpenFailed(err) => self.on_open_failed(now, err),
            Input::Text(text) => {
                if self.mark_alive(now) {
                    self.on_text(now, text);
                }
            }
            Input::Binary(_) => {
                if self.mark_alive(now) && self.failed.is_none() {
                    self.reject(FrameError::Binary);
                }
            }
            Input::InvalidText => {
                if self.mark_alive(now) {
                    self.fail(now, Failure::INVALID_UTF8);
                }
            }
            Input::Ping(payload) => {
                if self.mark_alive(now) && self.failed.is_none() {
                    self.stats.pings += 1;
                    self.send(now, Message::Pong(payload.to_vec()));
                }
            }
            Input::Pong(_) => {
                self.mark_alive(now);
            }
            Input::Sent(id) => self.on_sent(now, id),
            Input::CloseReceived(info) => self.on_close_received(now, info),
            Input::Closed(info) => self.on_closed(now, info),
        }
    }

    /// Fires every timer due at `now`. Calling it before any deadline is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        while let Some(timer) = self.timers.pop_expired(now) {
            self.on_timer(now, timer);
        }
    }

    /// Reports how the application finished with a delivery; sends its ack (ACK mode) on the
    /// transport that carried the event, if that one is still up.
    ///
    /// # Errors
    /// [`UsageError::UnknownDelivery`] when the token was already completed.
    pub fn complete(
        &mut self,
        now: Instant,
        token: DeliveryToken,
        outcome: Outcome,
    ) -> Result<(), UsageError> {
        let now = self.advance(now);
        let flight = self.deliveries.finish(token, self.transport)?;
        match &outcome {
            Outcome::Unhandled => self.stats.unhandled += 1,
            Outcome::Error(message) => self.notify(Notice::HandlerFailed {
                event_code: flight.event_code.clone(),
                nonce: flight.nonce.clone(),
                message: message.clone(),
            }),
            Outcome::Ok => {}
        }
        if self.state != State::Stopped {
            self.answer(now, &flight, &outcome.ack());
            self.refill(now);
            if self.state == State::Draining && self.deliveries.current() == 0 {
                self.begin_closing(now);
            }
        }
        Ok(())
    }

    /// Starts a graceful stop: no new events are taken, in-flight deliveries get up to
    /// `drain_timeout` to complete and be acked, then the WebSocket is closed and
    /// [`Notice::Stopped`] with [`StopReason::Requested`] is reported. Idempotent.
    pub fn close(&mut self, now: Instant) {
        let now = self.advance(now);
        if self.stop.is_some() {
            return;
        }
        self.stop = Some(StopReason::Requested);
        self.drop_backlog();
        self.drain_deadline = Some(now + self.config.drain_timeout());
        match self.state {
            State::Open => {
                self.state = State::Draining;
                if self.deliveries.current() == 0 {
                    self.begin_closing(now);
                } else {
                    let at = now + self.config.drain_timeout();
                    self.timers.set(Timer::Drain, at);
                }
            }
            State::Connecting => {
                self.push(Action::Disconnect);
                self.finish(StopReason::Requested);
            }
            State::Waiting => self.finish(StopReason::Requested),
            State::Draining | State::Closing | State::Stopped => {}
        }
        if self.state != State::Stopped {
            // The dropped backlog may have been what paused reading.
            self.refill(now);
        }
    }

    /// The next action to perform, in order; `None` when there is nothing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest deadline at which [`Connection::handle_timeout`] must be called; `None`
    /// when no timer is armed (only when stopped).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Where the connection is.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the connection stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    /// Why the connection stopped, once it has (or why it is stopping).
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.as_ref()
    }

    /// How the connection ended, once it has: `Ok(())` for a requested stop, the reason
    /// otherwise. This is what a runtime's `run()` returns.
    pub fn result(&self) -> Option<Result<(), StopReason>> {
        if !self.is_stopped() {
            return None;
        }
        match &self.stop {
            Some(StopReason::Requested) | None => Some(Ok(())),
            Some(reason) => Some(Err(reason.clone())),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Deliveries handed out and not completed yet.
    pub fn in_flight(&self) -> usize {
        self.deliveries.len()
    }

    /// The event code of the delivery of `token` and when it was handed out, while it is out
    /// (not completed yet): what a driver needs to time a handler and label its outcome
    /// (e.g. the `metrics` feature of `open-event-transport`). `None` for a completed or
    /// foreign token.
    pub fn delivery_started(&self, token: DeliveryToken) -> Option<(&str, Instant)> {
        self.deliveries.started(token)
    }

    /// Whether the adapter was told to pause reading (the backlog is full, or writes back up
    /// past [`MAX_UNCONFIRMED_WRITES`] / [`MAX_UNCONFIRMED_BYTES`]).
    pub fn is_reading_paused(&self) -> bool {
        self.reading_paused
    }

    /// Nonces currently remembered for duplicate suppression (with the `testing` feature).
    #[cfg(feature = "testing")]
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    // ----- transport lifecycle -------------------------------------------------------------

    fn connect(&mut self, now: Instant) {
        self.transport += 1;
        self.state = State::Connecting;
        self.goaway = None;
        self.peer_close = None;
        self.failed = None;
        self.deliveries.new_transport();
        if self.transport > 1 {
            self.stats.reconnects += 1;
        }
        let at = now + self.config.connect_timeout();
        self.timers.set(Timer::Connect, at);
        let attempt = self.backoff.attempt();
        self.push(Action::Connect(ConnectRequest::new(
            Arc::clone(&self.config),
            attempt,
        )));
    }

    fn on_opened(&mut self, now: Instant) {
        if self.state != State::Connecting {
            return;
        }
        self.timers.stop(Timer::Connect);
        self.state = State::Open;
        self.stats.connects += 1;
        self.timers
            .set(Timer::Stable, now + self.config.stable_period());
        self.mark_alive(now);
        self.notify(Notice::Connected {
            reconnect: self.transport > 1,
        });
        self.refill(now);
    }

    fn on_open_failed(&mut self, now: Instant, err: &OpenError) {
        if self.state != State::Connecting {
            return;
        }
        self.timers.stop(Timer::Connect);
        let cause = DisconnectCause::ConnectFailed(err.clone());
        match lifecycle::auth_rejection(err) {
            Some(reason) => {
                self.notify(Notice::Disconnected(cause));
                self.finish(reason);
            }
            None => self.lost(now, cause),
        }
    }

    /// The server's close frame: the transport should end next; if the server keeps the TCP
    /// connection open, the close timer drops it.
    fn on_close_received(&mut self, now: Instant, info: &CloseInfo) {
        if matches!(self.state, State::Open | State::Draining) {
            self.peer_close = Some(info.clone());
            self.timers.set(Timer::CloseWait, now + CLOSE_TIMEOUT);
        }
    }

    /// The server broke the WebSocket protocol: send the close frame that says why, take
    /// nothing more from this transport, and reconnect once it ends (or after
    /// [`CLOSE_TIMEOUT`]).
    fn fail(&mut self, now: Instant, failure: Failure) {
        if !matches!(self.state, State::Open | State::Draining) || self.failed.is_some() {
            return;
        }
        self.failed = Some(failure.clone());
        self.timers.set(Timer::CloseWait, now + CLOSE_TIMEOUT);
        self.push(Action::Fail(failure));
    }

    fn on_closed(&mut self, now: Instant, info: &CloseInfo) {
        match self.state {
            State::Open | State::Draining => {
                let cause = match self.failed.take() {
                    Some(failure) => DisconnectCause::Failed(failure),
                    None => lifecycle::closed_cause(self.goaway.as_ref(), info),
                };
                self.lost(now, cause);
            }
            State::Closing => {
                self.notify(Notice::Disconnected(DisconnectCause::Requested));
                self.finish(StopReason::Requested);
            }
            // A connect attempt whose transport ended before `Opened`/`OpenFailed`.
            State::Connecting => self.lost(now, DisconnectCause::Closed(info.clone())),
            State::Waiting | State::Stopped => {}
        }
    }

    /// The current transport is gone: decide between reconnecting and stopping.
    fn lost(&mut self, now: Instant, cause: DisconnectCause) {
        for timer in [
            Timer::Connect,
            Timer::Write,
            Timer::Liveness,
            Timer::Stable,
            Timer::Drain,
            Timer::CloseWait,
        ] {
            self.timers.stop(timer);
        }
        self.stats.acks_unsent += self.sends.clear();
        // Acks sent shortly before may have died with the transport: their nonces stay at risk.
        self.dedup.transport_closed(now);
        self.drop_backlog();
        // The dropped backlog and the dropped writes may have been what paused reading: the
        // next transport is read from the start.
        self.deliveries.resume(self.config.read_backlog());
        self.sync_reading(now);
        self.deliveries.new_transport();
        self.notify(Notice::Disconnected(cause.clone()));
        let decision = lifecycle::after_loss(
            self.stop.as_ref(),
            self.goaway.as_ref(),
            self.config.auto_reconnect(),
            &mut self.backoff,
            cause,
        );
        match decision {
            AfterLoss::Stop(reason) => self.finish(reason),
            AfterLoss::Reconnect(delay) => {
                self.state = State::Waiting;
                let at = now + delay;
                self.timers.set(Timer::Reconnect, at);
                self.notify(Notice::Reconnecting {
                    attempt: self.backoff.attempt(),
                    delay,
                    at,
                });
            }
        }
    }

    /// The core itself declares the transport dead.
    fn kill(&mut self, now: Instant, cause: DisconnectCause) {
        self.push(Action::Disconnect);
        self.lost(now, cause);
    }

    fn begin_closing(&mut self, now: Instant) {
        self.timers.stop(Timer::Drain);
        self.state = State::Closing;
        // The close reply gets the short close timeout, within what is left of the drain
        // budget (all of it when the drain used the budget up).
        let left = self
            .drain_deadline
            .map(|end| end.saturating_duration_since(now))
            .filter(|left| !left.is_zero());
        let wait = left.map_or(CLOSE_TIMEOUT, |left| left.min(CLOSE_TIMEOUT));
        self.timers.set(Timer::CloseWait, now + wait);
        self.push(Action::Close);
    }

    fn finish(&mut self, reason: StopReason) {
        self.state = State::Stopped;
        self.timers.stop_all();
        self.stats.acks_unsent += self.sends.clear();
        // Dropping the drain empties the backlog; nothing to forget, the memory stops too.
        self.deliveries.drain_backlog();
        self.stop = Some(reason.clone());
        self.notify(Notice::Stopped(reason));
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Connect => {
                let timeout = self.config.connect_timeout();
                self.kill(now, DisconnectCause::ConnectTimeout(timeout));
            }
            Timer::Write => {
                let timeout = self.config.write_timeout();
                self.kill(now, DisconnectCause::WriteTimeout(timeout));
            }
            Timer::Liveness => {
                let timeout = self.config.pong_timeout();
                self.kill(now, DisconnectCause::ServerSilent(timeout));
            }
            Timer::Stable => self.backoff.reset(),
            Timer::Reconnect => self.connect(now),
            Timer::SlowDelivery => self.on_budget_timer(now),
            Timer::Drain => {
                let abandoned = self.deliveries.current();
                if abandoned > 0 {
                    self.notify(Notice::DrainExceeded {
                        abandoned,
                        drain_timeout: self.config.drain_timeout(),
                    });
                }
                self.begin_closing(now);
            }
            Timer::CloseWait => match self.state {
                State::Closing => {
                    self.push(Action::Disconnect);
                    self.finish(StopReason::Requested);
                }
                State::Open | State::Draining if self.failed.is_some() => {
                    let failure = self.failed.take().unwrap_or(Failure::INVALID_UTF8);
                    self.kill(now, DisconnectCause::Failed(failure));
                }
                State::Open | State::Draining => match self.peer_close.take() {
                    // The server's close frame came, its TCP close did not: drop it ourselves,
                    // and report the close with the server's code.
                    Some(info) => {
                        let cause = lifecycle::closed_cause(self.goaway.as_ref(), &info);
                        self.kill(now, cause);
                    }
                    None => {
                        let reason = self
                            .goaway
                            .as_ref()
                            .map_or(GoAwayReason::Other(String::new()), |g| g.reason.clone());
                        self.kill(now, DisconnectCause::GoAway(reason));
                    }
                },
                _ => {}
            },
        }
    }

    // ----- frames --------------------------------------------------------------------------

    /// Records life on the transport; returns whether frames should be processed now.
    fn mark_alive(&mut self, now: Instant) -> bool {
        if !self.state.is_up() {
            return false;
        }
        self.stats.last_frame_at = Some(now);
        if !self.reading_paused && self.state != State::Closing {
            self.timers
                .set(Timer::Liveness, now + self.config.pong_timeout());
        }
        self.state != State::Closing
    }

    fn on_text(&mut self, now: Instant, text: &str) {
        if self.failed.is_some() {
            // A failed connection's data is not processed (RFC 6455 §7.1.7).
            return;
        }
        match codec::decode(text) {
            Err(err) => self.reject(err),
            Ok(Frame::GoAway(goaway)) => self.on_goaway(now, goaway),
            Ok(Frame::Event(frame)) => {
                self.stats.events_received += 1;
                if self.stop.is_some() {
                    // Draining: not taken, not acked; the server redelivers it.
                    return;
                }
                match self
                    .cipher
                    .open(&frame)
                    .and_then(|e| e.check_json().map(|()| e))
                {
                    Ok(event) => self.on_event(now, event),
                    Err(err) => self.reject(err),
                }
            }
        }
    }

    fn on_event(&mut self, now: Instant, event: Event) {
        let seen = self.dedup.observe(now, &event.nonce, self.transport);
        if let Some(notice) = self.dedup.take_notice() {
            self.notify(notice);
        }
        match seen {
            Seen::New => {}
            Seen::Pending => {
                self.stats.duplicates += 1;
                self.notify(Notice::Duplicate { nonce: event.nonce });
                return;
            }
            Seen::Done(ack) => {
                self.stats.duplicates += 1;
                if self.can_ack(self.transport) {
                    self.ack(now, &event.nonce, &ack);
                }
                self.notify(Notice::Duplicate { nonce: event.nonce });
                return;
            }
        }
        if self.deliveries.has_room(self.config.max_in_flight()) && !self.sends.is_congested() {
            self.deliver(now, event);
        } else {
            self.deliveries.queue(event, self.config.read_backlog());
            self.sync_reading(now);
        }
    }

    fn on_goaway(&mut self, now: Instant, goaway: GoAway) {
        self.stats.goaways += 1;
        if let (true, Some(ms)) = (goaway.reason.is_reconnectable(), goaway.reconnect_ms)
            && ms > 0
        {
            // Honoured exactly, up to a day: a larger value is a server bug, and the clock
            // arithmetic must not overflow on it.
            let delay = Duration::from_millis(ms).min(MAX_SERVER_DELAY);
            self.backoff.set_server_delay(delay);
        }
        // The server closes the socket next; if it does not, we do.
        self.timers
            .set(Timer::CloseWait, now + self.config.write_timeout());
        self.goaway = Some(goaway.clone());
        self.notify(Notice::GoAway(goaway));
    }

    fn reject(&mut self, err: FrameError) {
        self.stats.rejected.add(err.kind());
        self.notify(Notice::Rejected(err));
    }

    // ----- deliveries ----------------------------------------------------------------------

    fn deliver(&mut self, now: Instant, event: Event) {
        let budget = self.config.delivery_budget();
        let (token, deadline) = self.deliveries.start(now, self.transport, &event, budget);
        if self.timers.get(Timer::SlowDelivery).is_none() {
            self.timers.set(Timer::SlowDelivery, deadline);
        }
        self.stats.events_delivered += 1;
        self.push(Action::Deliver(Delivery { token, event }));
    }

    /// Sends the ack of a completed delivery, to its own transport and to the redeliveries that
    /// waited for it; an outcome whose transport is gone is reported as late.
    fn answer(&mut self, now: Instant, flight: &InFlight, ack: &AckCode) {
        let waiting = self.dedup.complete(&flight.nonce, ack);
        if !self.config.ack_mode() {
            // Nothing to send: the outcome is the nonce's last word, as an ack would be.
            self.dedup.acked(now, &flight.nonce);
        }
        if self.can_ack(flight.transport) {
            self.ack(now, &flight.nonce, ack);
        } else if self.config.ack_mode() {
            self.stats.late_outcomes += 1;
            self.notify(Notice::LateOutcome {
                nonce: flight.nonce.clone(),
            });
        }
        // Redeliveries that arrived while the handler ran get the same answer.
        for transport in waiting {
            if transport != flight.transport && self.can_ack(transport) {
                self.ack(now, &flight.nonce, ack);
            }
        }
    }

    /// Moves queued events into free delivery slots (unless the writes back up) and resumes
    /// reading when there is room.
    fn refill(&mut self, now: Instant) {
        let max_in_flight = self.config.max_in_flight();
        while self.state == State::Open
            && !self.sends.is_congested()
            && let Some(event) = self.deliveries.next_queued(max_in_flight)
        {
            self.deliver(now, event);
        }
        self.deliveries.resume(self.config.read_backlog());
        self.sync_reading(now);
    }

    /// Tells the adapter to pause or resume reading when the rule changed its answer: pause
    /// while the backlog is full or the writes back up (one rule for every runtime).
    fn sync_reading(&mut self, now: Instant) {
        let pause = self.deliveries.is_paused() || self.sends.is_congested();
        if pause == self.reading_paused {
            return;
        }
        self.reading_paused = pause;
        if pause {
            // Our own pause is not the server's silence.
            self.timers.stop(Timer::Liveness);
            self.push(Action::PauseReading);
        } else {
            if self.state.sends_acks() {
                self.timers
                    .set(Timer::Liveness, now + self.config.pong_timeout());
            }
            self.push(Action::ResumeReading);
        }
    }

    fn drop_backlog(&mut self) {
        for event in self.deliveries.drain_backlog() {
            // Never delivered, never acked: the server redelivers it; take that as new.
            self.dedup.forget(&event.nonce);
        }
    }

    fn on_budget_timer(&mut self, now: Instant) {
        loop {
            match self.deliveries.next_overdue(now) {
                Budget::Overdue(notice) => self.notify(notice),
                Budget::Until(deadline) => {
                    self.timers.set(Timer::SlowDelivery, deadline);
                    return;
                }
                Budget::Idle => return,
            }
        }
    }

    // ----- sending -------------------------------------------------------------------------

    fn can_ack(&self, transport: u64) -> bool {
        self.config.ack_mode()
            && transport == self.transport
            && self.state.sends_acks()
            && self.failed.is_none()
    }

    fn ack(&mut self, now: Instant, nonce: &str, ack: &AckCode) {
        let text = codec::encode_ack(nonce, ack.code, ack.msg.as_deref());
        let carries = if ack.code == 200 {
            Carries::AckOk
        } else {
            Carries::AckError
        };
        self.send_carrying(
            now,
            Message::Ack {
                nonce: nonce.to_owned(),
                code: ack.code,
                text,
            },
            carries,
        );
        self.dedup.acked(now, nonce);
    }

    fn send(&mut self, now: Instant, message: Message) {
        self.send_carrying(now, message, Carries::Other);
    }

    fn send_carrying(&mut self, now: Instant, message: Message, carries: Carries) {
        let bytes = match &message {
            Message::Ack { text, .. } => text.len(),
            Message::Pong(payload) => payload.len(),
        };
        let (id, arm) = self
            .sends
            .push(now + self.config.write_timeout(), bytes, carries);
        if let Some(deadline) = arm {
            self.timers.set(Timer::Write, deadline);
        }
        self.push(Action::Send(Transmit { id, message }));
        self.sync_reading(now);
    }

    fn on_sent(&mut self, now: Instant, id: SendId) {
        let (deadline, flushed) = self.sends.confirm(id);
        match deadline {
            Some(deadline) => self.timers.set(Timer::Write, deadline),
            None => self.timers.stop(Timer::Write),
        }
        // Acks count as sent once flushed, not when queued.
        self.stats.acked_ok += flushed.ok;
        self.stats.acked_error += flushed.error;
        if self.state.is_up() {
            // Writes draining may let deliveries and reading go on.
            self.refill(now);
        }
    }

    // ----- plumbing ------------------------------------------------------------------------

    fn notify(&mut self, notice: Notice) {
        self.push(Action::Notify(notice));
    }

    fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    /// Time never goes backwards inside the core.
    fn advance(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }
}

//! The sans-IO server: the platform's side of the event long connection, without IO.
//!
//! A [`Server`] never reads a clock or touches a socket. Its driver (the tokio
//! [runner](crate::runner), or the in-memory simulation harness) follows the same contract as the
//! core's `Connection`:
//!
//! 1. feed what happened: [`Server::handle_handshake`] for each upgrade request (answer it with
//!    the returned [`HandshakeDecision`]), then [`Server::handle_text`], [`Server::handle_binary`],
//!    [`Server::handle_pong`], [`Server::handle_ping`] and [`Server::handle_closed`] for the
//!    accepted connection;
//! 2. issue commands when you like ([`Server::push_event`], [`Server::goaway`],
//!    [`Server::drop_connection`], [`Server::silence`], [`Server::send_malformed`],
//!    [`Server::reject_next_handshakes`], [`Server::play`], ...);
//! 3. after **every** `handle_*` call or command, drain [`Server::poll_action`] and perform each
//!    [`ServerAction`] in order;
//! 4. call [`Server::handle_timeout`] once [`Server::poll_timeout`] passes.
//!
//! Time is an `Instant` passed in (it never goes backwards inside); the wall-clock time used to
//! check `X-Kso-Date` and to date events is passed as data.
//!
//! ```
//! use std::time::{Duration, Instant, SystemTime};
//! use open_event_core::crypto::EventCipher;
//! use open_event_emulator::server::{
//!     EventSpec, Handshake, HandshakeDecision, Server, ServerAction, ServerConfig, ServerFrame,
//! };
//!
//! let (start, wall) = (Instant::now(), SystemTime::now());
//! let mut server = Server::new(ServerConfig::generated(1), start, wall);
//! let credentials = server.credentials().clone();
//!
//! let hello = Handshake::signed(&credentials, "/v7/event/ws", wall, true);
//! let HandshakeDecision::Accept { conn, ack_mode: true } = server.handle_handshake(start, wall, &hello)
//! else { panic!("rejected") };
//!
//! let nonce = server.push_event(start, EventSpec::chat_message("hi")).unwrap();
//! let Some(ServerAction::Send { frame: ServerFrame::Text(text), .. }) = server.poll_action()
//! else { panic!("no event") };
//! let event = EventCipher::new(&credentials).open_text(&text).unwrap();
//! assert_eq!(event.nonce, nonce);
//!
//! server.handle_text(start, conn, &format!(r#"{{"type":"ack","nonce":"{nonce}","code":200}}"#));
//! assert_eq!(server.report().ack_counts.accepted, 1);
//! assert_eq!(server.report().pending, 0);
//!
//! // The first ping is due one interval after the accept.
//! assert_eq!(server.poll_timeout(), Some(start + Duration::from_secs(30)));
//! ```

mod chaos;
mod config;
mod delivery;
mod event;
mod handshake;
mod malformed;
mod report;
mod script;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use open_event_core::Credentials;
use open_event_core::codec::{self, GoAway, GoAwayReason};
use open_event_core::connection::CloseInfo;
use open_event_core::crypto::EventCipher;

pub use self::chaos::{Chaos, ChaosCounts};
pub use self::config::ServerConfig;
pub use self::event::{EventSpec, PushError};
pub use self::handshake::{Handshake, HandshakeDecision};
pub use self::malformed::Malformed;
pub use self::report::{
    AckCounts, AckRecord, AckStatus, ClientError, ConnId, ConnectionEnd, ConnectionRecord,
    HandshakeRecord, HandshakeResult, PingRecord, PreviousEnd, ReconnectDelay, Redelivery, Report,
    ScriptRecord,
};
pub use self::script::{Script, ScriptStep, Step};

/// Events sent per call at most; the rest go out on the next [`Server::handle_timeout`], which
/// [`Server::poll_timeout`] then asks for at once. Keeps one call short under load.
const PUMP_BATCH: usize = 1024;

/// Close code of the close frame that follows a GoAway (1001, "going away").
const CLOSE_GOING_AWAY: u16 = 1001;

/// Close code of the bare close frame of a replaced connection (1000, "normal").
const CLOSE_NORMAL: u16 = 1000;

/// The emulated platform server. See the [module docs](self) for the drive loop.
pub struct Server {
    config: ServerConfig,
    cipher: EventCipher,
    now: Instant,
    /// A pair of clock readings that maps `Instant`s to wall-clock time.
    wall_anchor: (Instant, SystemTime),
    actions: VecDeque<ServerAction>,
    /// Connections not ended yet, oldest first.
    live: Vec<Live>,
    /// The connection events go to: the newest one, while it is open and not sent away.
    active: Option<ConnId>,
    /// Events not acked with 200, by sequence number (their nonce derives from it).
    pending: BTreeMap<u64, Pending>,
    next_seq: u64,
    /// With a push rate: when the next event may go out.
    next_push_at: Instant,
    /// A send batch hit [`PUMP_BATCH`]: more events are ready now.
    pump_more: bool,
    /// A scripted rejection: `(status, handshakes left)`.
    rejections: Option<(u16, u32)>,
    /// The end a later handshake's reconnect delay is measured from.
    last_end: Option<(Instant, PreviousEnd)>,
    next_ping: u64,
    next_malformed: u64,
    script: Option<ScriptRun>,
    /// Random drops, lost acks and read stalls, when configured.
    chaos: Option<chaos::ChaosRun>,
    report: Report,
}

/// Something for the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)]
pub enum ServerAction {
    /// Write this frame on the connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: ServerFrame,
    },
    /// Drop the connection's socket at once, without a close frame.
    Drop {
        /// The connection.
        conn: ConnId,
    },
}

/// A WebSocket frame the server writes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)]
pub enum ServerFrame {
    /// A text frame (events, GoAways, malformed text).
    Text(String),
    /// A Ping frame with this payload.
    Ping(Vec<u8>),
    /// A binary frame (only ever malformed input on this protocol).
    Binary(Vec<u8>),
    /// A close frame; the server then waits for the client's close frame (up to the close
    /// timeout) and reports [`Server::handle_closed`] when the transport ends.
    Close {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// Why a command could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// There is no active connection to act on.
    #[error(
        "no active connection: the command acts on the open connection, so wait until a client \
         has connected (and was not sent away)"
    )]
    NoConnection,
    /// A scripted rejection needs an HTTP error status.
    #[error("HTTP status {0} cannot reject a handshake: use a status from 400 to 599")]
    InvalidStatus(u16),
}

#[derive(Debug)]
struct Live {
    id: ConnId,
    ack_mode: bool,
    phase: Phase,
    next_ping: Instant,
    silent_until: Option<Instant>,
    /// The send time of the oldest ping without a pong after the last answered one.
    awaiting_pong_since: Option<Instant>,
    /// Events with a smaller sequence number have been sent (or skipped) on this connection.
    cursor: u64,
    /// A read stall for the runner to take: stop reading until then.
    read_stall: Option<Instant>,
    /// Keep the socket open until then after the WebSocket close ([`Server::close_and_hold`]).
    held_until: Option<Instant>,
}

impl Live {
    fn is_silent(&self, now: Instant) -> bool {
        self.silent_until.is_some_and(|until| until > now)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// A GoAway went out; the close frame follows at `close_at`.
    GoingAway {
        close_at: Instant,
    },
    /// Our close frame went out; the socket is dropped at `drop_at` unless the client closes.
    Closing {
        drop_at: Instant,
        code: u16,
    },
}

#[derive(Debug)]
struct Pending {
    topic: Arc<str>,
    operation: Arc<str>,
    data: Arc<str>,
    time: i64,
    sends: u32,
    last_sent: Option<Instant>,
}

#[derive(Debug)]
struct ScriptRun {
    steps: VecDeque<ScriptStep>,
    index: usize,
    /// When the previous step ran (the next one's delay counts from here).
    base: Instant,
}

impl Server {
    /// A server with no connection yet. `now` and `wall` are the same moment on the monotonic
    /// and the wall clock.
    pub fn new(config: ServerConfig, now: Instant, wall: SystemTime) -> Self {
        let mut config = config;
        config.ping_interval = config.ping_interval.max(Duration::from_millis(1));
        Self {
            chaos: config.chaos.map(chaos::ChaosRun::new),
            cipher: EventCipher::new(&config.credentials),
            config,
            now,
            wall_anchor: (now, wall),
            actions: VecDeque::new(),
            live: Vec::new(),
            active: None,
            pending: BTreeMap::new(),
            next_seq: 1,
            next_push_at: now,
            pump_more: false,
            rejections: None,
            last_end: None,
            next_ping: 1,
            next_malformed: 1,
            script: None,
            report: Report::default(),
        }
    }

    // ----- inputs --------------------------------------------------------------------------

    /// Decides a WebSocket upgrade request: validates it exactly (path, headers, `X-Kso-Date`
    /// within the allowed skew of `wall`, the KSO-1 signature) unless a scripted rejection
    /// answers first. An accepted connection becomes the active one: a connection it replaces
    /// gets GoAway `connection_replaced` (or a bare close), and every pending event is
    /// (re)delivered on it in order.
    pub fn handle_handshake(
        &mut self,
        now: Instant,
        wall: SystemTime,
        request: &Handshake,
    ) -> HandshakeDecision {
        let now = self.advance(now);
        self.wall_anchor = (now, wall);
        if let Some((ended, after)) = self.last_end.take() {
            self.report.reconnects.push(ReconnectDelay {
                handshake_at: now,
                delay: now.saturating_duration_since(ended),
                after,
            });
        }
        let scripted = self.take_scripted_rejection();
        let was_scripted = scripted.is_some();
        let verdict = match scripted {
            Some(rejection) => Err(rejection),
            None => handshake::validate(&self.config, wall, request),
        };
        let decision = match verdict {
            Err(rejection) => {
                self.last_end = Some((
                    now,
                    PreviousEnd::Rejected {
                        status: rejection.status,
                    },
                ));
                self.report.handshakes.push(HandshakeRecord {
                    at: now,
                    wall,
                    path_and_query: request.path_and_query.clone(),
                    headers: request.headers.clone(),
                    app_id: handshake::claimed_app_id(request),
                    ack_mode: handshake::asks_ack_mode(request),
                    result: HandshakeResult::Rejected {
                        status: rejection.status,
                        reason: rejection.reason.clone(),
                        scripted: was_scripted,
                    },
                });
                HandshakeDecision::Reject {
                    status: rejection.status,
                    body: rejection.reason,
                }
            }
            Ok(granted) => {
                let conn = self.accept(now, granted.ack_mode);
                self.report.handshakes.push(HandshakeRecord {
                    at: now,
                    wall,
                    path_and_query: request.path_and_query.clone(),
                    headers: request.headers.clone(),
                    app_id: handshake::claimed_app_id(request),
                    ack_mode: granted.ack_mode,
                    result: HandshakeResult::Accepted(conn),
                });
                HandshakeDecision::Accept {
                    conn,
                    ack_mode: granted.ack_mode,
                }
            }
        };
        self.settle(now);
        decision
    }

    /// A text frame from the client: an ack (recorded; a 200 completes its event) or anything
    /// else (recorded as a [`ClientError`]).
    pub fn handle_text(&mut self, now: Instant, conn: ConnId, text: &str) {
        let now = self.advance(now);
        if self.index(conn).is_none() {
            return;
        }
        match codec::decode_ack(text) {
            Ok(ack) => {
                if !self.chaos_loses_ack() {
                    self.on_ack(now, conn, ack);
                }
                self.chaos_after_ack(now, conn);
            }
            Err(err) => self.client_error(
                now,
                conn,
                format!("not a valid ack ({err}): {}", snippet(text)),
            ),
        }
        self.settle(now);
    }

    /// A binary frame from the client (the protocol has none): recorded as a [`ClientError`].
    pub fn handle_binary(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        let now = self.advance(now);
        if self.index(conn).is_some() {
            self.client_error(
                now,
                conn,
                format!(
                    "binary frame of {} bytes: the client must send text frames only",
                    data.len()
                ),
            );
        }
        self.settle(now);
    }

    /// A Pong from the client: recorded against the ping with the same payload.
    pub fn handle_pong(&mut self, now: Instant, conn: ConnId, payload: &[u8]) {
        let now = self.advance(now);
        let Some(idx) = self.index(conn) else { return };
        let record = &mut self.report.connections[slot(conn)];
        match record.pings.iter().rposition(|p| p.payload == payload) {
            Some(i) => {
                record.pings[i].pongs.push(now);
                self.live[idx].awaiting_pong_since = record.pings[i + 1..]
                    .iter()
                    .find(|p| p.pongs.is_empty())
                    .map(|p| p.sent_at);
            }
            None => record.unmatched_pongs += 1,
        }
        self.settle(now);
    }

    /// A Ping from the client (the WebSocket layer answers it): counted.
    pub fn handle_ping(&mut self, now: Instant, conn: ConnId, _payload: &[u8]) {
        let now = self.advance(now);
        if self.index(conn).is_some() {
            self.report.connections[slot(conn)].client_pings += 1;
        }
        self.settle(now);
    }

    /// The connection's transport ended: the client's close frame, the end after our close
    /// frame, or a transport error / EOF. Ignored for a connection that already ended.
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId, info: &CloseInfo) {
        let now = self.advance(now);
        let Some(idx) = self.index(conn) else { return };
        let end = match self.live[idx].phase {
            Phase::Closing { code, .. } => ConnectionEnd::ClosedByServer { code },
            _ if info.error => ConnectionEnd::Lost {
                reason: info.reason.clone(),
            },
            _ => ConnectionEnd::ClosedByClient {
                code: info.code,
                reason: info.reason.clone(),
            },
        };
        self.end(now, idx, end);
        self.settle(now);
    }

    /// Fires what is due at `now`: pings, heartbeat checks, close frames after GoAways, drops
    /// after unanswered close frames, paced or batched event sends, script steps. Calling it
    /// early is a harmless no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        let ids: Vec<ConnId> = self.live.iter().map(|l| l.id).collect();
        for id in ids {
            let Some(idx) = self.index(id) else { continue };
            match self.live[idx].phase {
                Phase::Closing { drop_at, .. } if drop_at <= now => {
                    self.actions.push_back(ServerAction::Drop { conn: id });
                    self.end(now, idx, ConnectionEnd::Dropped);
                }
                Phase::GoingAway { close_at } if close_at <= now => {
                    self.close(now, idx, CLOSE_GOING_AWAY, "going away");
                }
                Phase::Open => self.tick_open(now, idx),
                Phase::GoingAway { .. } | Phase::Closing { .. } => {}
            }
        }
        self.settle(now);
    }

    // ----- commands ------------------------------------------------------------------------

    /// Queues an event and returns its nonce. It goes out on the active connection at once (or
    /// at the push rate), and again on every later connection until it is acked with 200.
    ///
    /// # Errors
    /// [`PushError`] when the topic or the operation is empty.
    pub fn push_event(&mut self, now: Instant, event: EventSpec) -> Result<String, PushError> {
        let now = self.advance(now);
        event.check()?;
        let nonce = self.enqueue(now, &event);
        self.settle(now);
        Ok(nonce)
    }

    /// Queues `count` copies of an event (each with its own nonce) and returns their nonces.
    ///
    /// # Errors
    /// [`PushError`] when the topic or the operation is empty.
    pub fn push_many(
        &mut self,
        now: Instant,
        count: u32,
        event: &EventSpec,
    ) -> Result<Vec<String>, PushError> {
        let now = self.advance(now);
        event.check()?;
        let nonces = self.enqueue_many(now, count, event);
        self.settle(now);
        Ok(nonces)
    }

    /// Sends a GoAway with `reason` (and `reconnect_ms`, when given) on the active connection,
    /// then its close frame after the GoAway close delay.
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn goaway(
        &mut self,
        now: Instant,
        reason: GoAwayReason,
        reconnect_ms: Option<u64>,
    ) -> Result<ConnId, CommandError> {
        let now = self.advance(now);
        let idx = self.active_index().ok_or(CommandError::NoConnection)?;
        let id = self.live[idx].id;
        let message = goaway_message(&reason);
        self.send_goaway(
            now,
            idx,
            GoAway {
                reason,
                message,
                reconnect_ms,
            },
        );
        self.settle(now);
        Ok(id)
    }

    /// Drops the active connection's socket at once: no close frame, no GoAway.
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn drop_connection(&mut self, now: Instant) -> Result<ConnId, CommandError> {
        let now = self.advance(now);
        let idx = self.active_index().ok_or(CommandError::NoConnection)?;
        let id = self.drop_at(now, idx);
        self.settle(now);
        Ok(id)
    }

    /// Drops every connection (active or on its way out) without a close frame; returns them.
    pub fn drop_all(&mut self, now: Instant) -> Vec<ConnId> {
        let now = self.advance(now);
        let mut dropped = Vec::new();
        while !self.live.is_empty() {
            dropped.push(self.drop_at(now, 0));
        }
        self.settle(now);
        dropped
    }

    /// Sends a close frame with `code` and `reason` on every connection not already closing
    /// (no GoAway first); returns them. Each is dropped if the client does not answer within the
    /// close timeout.
    pub fn close_all(&mut self, now: Instant, code: u16, reason: &str) -> Vec<ConnId> {
        let now = self.advance(now);
        let mut closed = Vec::new();
        for idx in 0..self.live.len() {
            if !matches!(self.live[idx].phase, Phase::Closing { .. }) {
                closed.push(self.live[idx].id);
                self.close(now, idx, code, reason);
            }
        }
        self.settle(now);
        closed
    }

    /// Sends nothing on the active connection for `duration`: no pings, no events (commands
    /// such as [`Server::goaway`] still act). Pings resume when it ends.
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn silence(&mut self, now: Instant, duration: Duration) -> Result<ConnId, CommandError> {
        let now = self.advance(now);
        let idx = self.active_index().ok_or(CommandError::NoConnection)?;
        self.live[idx].silent_until = Some(now + duration);
        let id = self.live[idx].id;
        self.settle(now);
        Ok(id)
    }

    /// Sends one malformed frame on the active connection. Its nonce (when it has one) is not an
    /// event's: an ack for it is counted as [`AckStatus::Unknown`].
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn send_malformed(
        &mut self,
        now: Instant,
        kind: Malformed,
    ) -> Result<ConnId, CommandError> {
        let now = self.advance(now);
        let idx = self.active_index().ok_or(CommandError::NoConnection)?;
        let id = self.live[idx].id;
        self.malformed_at(now, id, kind);
        self.settle(now);
        Ok(id)
    }

    /// Rejects the next `count` handshakes with `status` (e.g. 401, 403, 429, 503) before
    /// validating them. Replaces an earlier scripted rejection; `count` 0 cancels it.
    ///
    /// # Errors
    /// [`CommandError::InvalidStatus`] unless `status` is in 400..=599.
    pub fn reject_next_handshakes(&mut self, status: u16, count: u32) -> Result<(), CommandError> {
        if !(400..=599).contains(&status) {
            return Err(CommandError::InvalidStatus(status));
        }
        self.rejections = (count > 0).then_some((status, count));
        Ok(())
    }

    /// Changes the push rate (events per second at most; `None` for unlimited).
    pub fn set_push_rate(&mut self, now: Instant, rate: Option<NonZeroU32>) {
        let now = self.advance(now);
        self.config.push_rate = rate;
        self.next_push_at = self.next_push_at.max(now);
        self.settle(now);
    }

    /// Plays `script` from now, abandoning a script still running. Its steps are reported in
    /// [`Report::script`].
    pub fn play(&mut self, now: Instant, script: Script) {
        let now = self.advance(now);
        self.report.script_finished = false;
        self.script = Some(ScriptRun {
            steps: script.into_steps().into(),
            index: 0,
            base: now,
        });
        self.settle(now);
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next action to perform, in order; `None` when there is nothing to do.
    pub fn poll_action(&mut self) -> Option<ServerAction> {
        self.actions.pop_front()
    }

    /// When [`Server::handle_timeout`] must be called next; `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |at: Instant| next = Some(next.map_or(at, |n| n.min(at)));
        for live in &self.live {
            match live.phase {
                Phase::Open => {
                    consider(match live.silent_until {
                        Some(until) if until > self.now => until,
                        _ => live.next_ping,
                    });
                    if let (Some(since), Some(timeout)) =
                        (live.awaiting_pong_since, self.config.heartbeat_timeout)
                    {
                        consider(since + timeout);
                    }
                }
                Phase::GoingAway { close_at } => consider(close_at),
                Phase::Closing { drop_at, .. } => consider(drop_at),
            }
        }
        if let Some(idx) = self.active_index()
            && !self.live[idx].is_silent(self.now)
        {
            if self.pump_more {
                consider(self.now);
            } else if self.config.push_rate.is_some()
                && self.pending.range(self.live[idx].cursor..).next().is_some()
            {
                consider(self.next_push_at);
            }
        }
        if let Some(run) = &self.script
            && let Some(front) = run.steps.front()
        {
            let due = run.base + front.after;
            if !front.step.is_wait() || due > self.now {
                consider(due);
            }
        }
        next
    }

    /// Everything recorded so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The app's credentials (what a client must be configured with).
    pub fn credentials(&self) -> &Credentials {
        &self.config.credentials
    }

    /// The cipher of the app's events (to open or seal frames in tests).
    pub fn cipher(&self) -> &EventCipher {
        &self.cipher
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The connection events go to, if any.
    pub fn active(&self) -> Option<ConnId> {
        self.active
    }

    /// The connections not ended yet (the active one and any on their way out).
    pub fn live_connections(&self) -> Vec<ConnId> {
        self.live.iter().map(|l| l.id).collect()
    }

    /// The nonces of the events not acked with 200 yet, in push order.
    pub fn pending_nonces(&self) -> Vec<String> {
        self.pending.keys().map(|&seq| self.nonce(seq)).collect()
    }

    /// The wall-clock time at `now`, from the last handshake's (or the start's) reading.
    pub fn wall_at(&self, now: Instant) -> SystemTime {
        let (at, wall) = self.wall_anchor;
        match now.checked_duration_since(at) {
            Some(ahead) => wall + ahead,
            None => wall - at.duration_since(now),
        }
    }

    // ----- connections ---------------------------------------------------------------------

    fn accept(&mut self, now: Instant, ack_mode: bool) -> ConnId {
        if let Some(idx) = self.active_index() {
            if self.config.notify_replaced {
                self.send_goaway(
                    now,
                    idx,
                    GoAway {
                        reason: GoAwayReason::ConnectionReplaced,
                        message: goaway_message(&GoAwayReason::ConnectionReplaced),
                        reconnect_ms: None,
                    },
                );
            } else {
                self.close(now, idx, CLOSE_NORMAL, "replaced by a newer connection");
            }
        }
        let id = ConnId(self.report.connections.len() as u64 + 1);
        self.live.push(Live {
            id,
            ack_mode,
            phase: Phase::Open,
            next_ping: now + self.config.ping_interval,
            silent_until: None,
            awaiting_pong_since: None,
            cursor: 0,
            read_stall: None,
            held_until: None,
        });
        self.report.connections.push(ConnectionRecord {
            id,
            ack_mode,
            opened_at: now,
            closed_at: None,
            end: None,
            pings: Vec::new(),
            unmatched_pongs: 0,
            client_pings: 0,
            events_sent: 0,
            acks: 0,
            goaway: None,
            malformed: Vec::new(),
        });
        self.active = Some(id);
        id
    }

    /// Pings, heartbeat check and silence of an open connection.
    fn tick_open(&mut self, now: Instant, idx: usize) {
        let live = &mut self.live[idx];
        if live.silent_until.is_some_and(|until| until <= now) {
            live.silent_until = None;
        }
        if let (Some(since), Some(timeout)) =
            (live.awaiting_pong_since, self.config.heartbeat_timeout)
            && since + timeout <= now
        {
            let message = format!("no pong for {} ms", timeout.as_millis());
            self.send_goaway(
                now,
                idx,
                GoAway {
                    reason: GoAwayReason::HeartbeatTimeout,
                    message,
                    reconnect_ms: None,
                },
            );
            return;
        }
        let live = &mut self.live[idx];
        if live.is_silent(now) || live.next_ping > now {
            return;
        }
        live.next_ping = now + self.config.ping_interval;
        live.awaiting_pong_since.get_or_insert(now);
        let id = live.id;
        let payload = format!("ping-{}", self.next_ping).into_bytes();
        self.next_ping += 1;
        self.report.connections[slot(id)].pings.push(PingRecord {
            payload: payload.clone(),
            sent_at: now,
            pongs: Vec::new(),
        });
        self.actions.push_back(ServerAction::Send {
            conn: id,
            frame: ServerFrame::Ping(payload),
        });
    }

    fn send_goaway(&mut self, now: Instant, idx: usize, goaway: GoAway) {
        let live = &mut self.live[idx];
        live.phase = Phase::GoingAway {
            close_at: now + self.config.goaway_close_delay,
        };
        let id = live.id;
        if self.active == Some(id) {
            self.active = None;
        }
        let text = codec::encode_goaway(&goaway);
        self.report.connections[slot(id)].goaway = Some(goaway);
        self.actions.push_back(ServerAction::Send {
            conn: id,
            frame: ServerFrame::Text(text),
        });
    }

    fn close(&mut self, now: Instant, idx: usize, code: u16, reason: &str) {
        let live = &mut self.live[idx];
        live.phase = Phase::Closing {
            drop_at: now + self.config.close_timeout,
            code,
        };
        let id = live.id;
        if self.active == Some(id) {
            self.active = None;
        }
        self.actions.push_back(ServerAction::Send {
            conn: id,
            frame: ServerFrame::Close {
                code,
                reason: reason.to_owned(),
            },
        });
    }

    fn drop_at(&mut self, now: Instant, idx: usize) -> ConnId {
        let id = self.live[idx].id;
        self.actions.push_back(ServerAction::Drop { conn: id });
        self.end(now, idx, ConnectionEnd::Dropped);
        id
    }

    fn end(&mut self, now: Instant, idx: usize, end: ConnectionEnd) {
        let live = self.live.remove(idx);
        if self.active == Some(live.id) {
            self.active = None;
        }
        let record = &mut self.report.connections[slot(live.id)];
        record.closed_at = Some(now);
        record.end = Some(end);
        self.last_end = Some((now, PreviousEnd::Connection(live.id)));
    }

    fn malformed_at(&mut self, now: Instant, id: ConnId, kind: Malformed) {
        let nonce = format!("malformed{:07x}", self.next_malformed & 0x0fff_ffff);
        self.next_malformed += 1;
        let time = unix_secs(self.wall_at(now));
        let frame = malformed::build(kind, &self.config.credentials, time, &nonce);
        self.report.connections[slot(id)].malformed.push(kind);
        self.actions
            .push_back(ServerAction::Send { conn: id, frame });
    }

    fn index(&self, id: ConnId) -> Option<usize> {
        self.live.iter().position(|l| l.id == id)
    }

    fn active_index(&self) -> Option<usize> {
        self.active.and_then(|id| self.index(id))
    }

    fn take_scripted_rejection(&mut self) -> Option<handshake::Rejection> {
        let (status, left) = self.rejections?;
        self.rejections = (left > 1).then_some((status, left - 1));
        Some(handshake::Rejection {
            status,
            reason: scripted_body(status),
        })
    }

    // ----- plumbing ------------------------------------------------------------------------

    /// After every input or command: send what became sendable, run due script steps.
    fn settle(&mut self, now: Instant) {
        self.pump(now);
        self.advance_script(now);
        self.report.pending = self.pending.len();
    }

    /// Time never goes backwards inside the server.
    fn advance(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("active", &self.active)
            .field("live", &self.live.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ServerFrame {
    /// A short description for traces: the kind and the first 80 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => write!(f, "text {}", snippet(text)),
            Self::Ping(payload) => write!(f, "ping {}", String::from_utf8_lossy(payload)),
            Self::Binary(data) => write!(f, "binary ({} bytes)", data.len()),
            Self::Close { code, reason } => write!(f, "close {code} {reason:?}"),
        }
    }
}

impl fmt::Display for ServerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send { conn, frame } => write!(f, "{conn}: {frame}"),
            Self::Drop { conn } => write!(f, "{conn}: drop"),
        }
    }
}

/// `connections[slot(id)]` is the record of `id`.
fn slot(id: ConnId) -> usize {
    // Ids are assigned as `connections.len() + 1`, so they fit in usize.
    (id.0 - 1) as usize
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn goaway_message(reason: &GoAwayReason) -> String {
    match reason {
        GoAwayReason::ServerShutdown => "emulator: server shutting down".to_owned(),
        GoAwayReason::ConnectionReplaced => {
            "emulator: a newer connection of this app took over".to_owned()
        }
        GoAwayReason::HeartbeatTimeout => "emulator: no pong received".to_owned(),
        other => format!("emulator: {}", other.as_str()),
    }
}

fn scripted_body(status: u16) -> String {
    let what = match status {
        401 => "unauthorized",
        403 => "forbidden: the app may not use the event long connection",
        429 => "too many connections",
        503 => "service unavailable",
        _ => "error",
    };
    format!("emulator: scripted rejection with HTTP {status} ({what})")
}

/// The first 80 characters of `text`, for records and traces.
fn snippet(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests;

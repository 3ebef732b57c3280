//! A deterministic two-sided simulation: a core client [`Connection`] and the emulator's
//! [`Server`] wired together in memory under a virtual clock.
//!
//! Nothing sleeps and nothing reads a clock after construction: time is `epoch + offset`. Each
//! [`Pair::step`] jumps to the earliest of the client's deadline, the server's deadline and the
//! next message on the simulated link (one-way [`latency`](Pair::set_latency)), handles it, and
//! drains both sides. The client's deliveries go to an in-harness handler
//! ([`Pair::set_handler`]) that answers at once or after a delay.
//!
//! ```
//! use std::time::Duration;
//! use open_event_emulator::server::EventSpec;
//! use open_event_tests::pair::Pair;
//!
//! let mut pair = Pair::new(|c| c, |s| s, 1);
//! pair.run_until(100, |p| p.server.active().is_some());
//! let nonce = pair.with_server(|server, now| server.push_event(now, EventSpec::chat_message("hi")))
//!     .unwrap();
//! pair.run_until(100, |p| p.server.report().pending == 0);
//! assert_eq!(pair.handled_nonces(), [nonce.as_str()]);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use open_event_core::Credentials;
use open_event_core::Event;
use open_event_core::config::{Config, ConfigBuilder};
use open_event_core::connection::{
    Action, CloseInfo, Connection, DeliveryToken, Input, Message, Notice, OpenError, Outcome,
};
use open_event_emulator::server::{
    CommandError, ConnId, EventSpec, Handshake, HandshakeDecision, PushError, Server, ServerAction,
    ServerConfig, ServerFrame,
};

use crate::sim::{APP_ID, APP_SECRET};

/// The endpoint the simulated client dials (never resolved: the link is in memory).
pub const ENDPOINT: &str = "ws://emulator.test/v7/event/ws";

/// How the in-harness handler answers a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// How long the handler runs.
    pub after: Duration,
    /// What it reports.
    pub outcome: Outcome,
}

impl Reply {
    /// Handled at once.
    pub fn ok() -> Self {
        Self::ok_after(Duration::ZERO)
    }

    /// Handled after `after`.
    pub fn ok_after(after: Duration) -> Self {
        Self {
            after,
            outcome: Outcome::Ok,
        }
    }

    /// Failed at once with `msg`.
    pub fn error(msg: &str) -> Self {
        Self::error_after(Duration::ZERO, msg)
    }

    /// Failed after `after` with `msg`.
    pub fn error_after(after: Duration, msg: &str) -> Self {
        Self {
            after,
            outcome: Outcome::Error(msg.to_owned()),
        }
    }
}

/// The simulated world: one client, one server, the link between them.
pub struct Pair {
    /// The client under test.
    pub client: Connection,
    /// The emulated platform.
    pub server: Server,
    /// Time zero.
    pub epoch: Instant,
    /// The current virtual time.
    pub now: Instant,
    /// What the client did and saw, with the virtual time since `epoch`.
    pub client_trace: Vec<(Duration, String)>,
    /// What the server did and saw, with the virtual time since `epoch`.
    pub server_trace: Vec<(Duration, String)>,
    /// Every notice the client reported.
    pub notices: Vec<(Duration, Notice)>,
    /// Every event the handler was given, in order.
    pub handled: Vec<(Duration, Event)>,
    /// When the client started each connect attempt.
    pub connects: Vec<Duration>,
    wall_epoch: SystemTime,
    latency: Duration,
    link_down: bool,
    lose_uplink: bool,
    lose_downlink: bool,
    reading_paused: bool,
    handler: Box<dyn FnMut(&Event) -> Reply>,
    /// Messages on the link (and handler completions), by due time then emission order.
    queue: BTreeMap<(Instant, u64), Msg>,
    next_msg: u64,
    transports: Vec<Transport>,
    /// The transport of the client's latest connect attempt.
    current: Option<usize>,
}

/// One simulated socket.
#[derive(Debug, Default)]
struct Transport {
    /// The server's connection, once accepted.
    conn: Option<ConnId>,
    /// The client still uses it (it did not drop it and has not seen it end).
    client_open: bool,
    /// The server still uses it.
    server_open: bool,
}

#[derive(Debug)]
enum Msg {
    /// Client → server: the upgrade request.
    Handshake(usize, Handshake),
    /// Server → client: the upgrade's result.
    Opened(usize, Result<(), OpenError>),
    /// Client → server.
    Up(usize, Up),
    /// Server → client.
    Down(usize, Down),
    /// The handler finished.
    Complete(DeliveryToken, Outcome),
}

#[derive(Debug)]
enum Up {
    Text(String),
    Pong(Vec<u8>),
    Closed(CloseInfo),
}

#[derive(Debug)]
enum Down {
    Frame(ServerFrame),
    /// The server dropped the socket.
    Reset,
    /// The server's answer to the client's close frame.
    CloseEcho(CloseInfo),
}

impl Pair {
    /// A client (default config changed by `client`, pointed at the in-memory server, seeded with
    /// `seed`) and a server (default config changed by `server`) for the same app, with no
    /// latency. The client's first connect attempt is already under way.
    pub fn new(
        client: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
        server: impl FnOnce(ServerConfig) -> ServerConfig,
        seed: u64,
    ) -> Self {
        let config = client(Config::builder(APP_ID, APP_SECRET).endpoint(ENDPOINT))
            .build()
            .expect("simulation config is valid");
        let epoch = Instant::now();
        let wall_epoch = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        let server = server(ServerConfig::new(Credentials::new(APP_ID, APP_SECRET)));
        let mut pair = Self {
            client: Connection::new(Arc::new(config), epoch, seed),
            server: Server::new(server, epoch, wall_epoch),
            epoch,
            now: epoch,
            client_trace: Vec::new(),
            server_trace: Vec::new(),
            notices: Vec::new(),
            handled: Vec::new(),
            connects: Vec::new(),
            wall_epoch,
            latency: Duration::ZERO,
            link_down: false,
            lose_uplink: false,
            lose_downlink: false,
            reading_paused: false,
            handler: Box::new(|_| Reply::ok()),
            queue: BTreeMap::new(),
            next_msg: 0,
            transports: Vec::new(),
            current: None,
        };
        pair.drain();
        pair
    }

    // ----- knobs ---------------------------------------------------------------------------

    /// Sets the one-way latency of the link (messages already on the way keep theirs).
    pub fn set_latency(&mut self, latency: Duration) {
        self.latency = latency;
    }

    /// How the handler answers each delivery from now on. Default: [`Reply::ok`].
    pub fn set_handler(&mut self, handler: impl FnMut(&Event) -> Reply + 'static) {
        self.handler = Box::new(handler);
    }

    /// Takes the link down (the current connection is cut, and every connect attempt fails
    /// with a network error, one latency after it starts or when its handshake would arrive)
    /// or brings it back up.
    pub fn set_link_down(&mut self, down: bool) {
        self.link_down = down;
        if down {
            self.cut_link();
        }
    }

    /// While set, everything the client sends is lost (acks, pongs, close frames).
    pub fn set_uplink_lost(&mut self, lost: bool) {
        self.lose_uplink = lost;
    }

    /// While set, everything the server sends is lost (events, pings, GoAways, closes).
    pub fn set_downlink_lost(&mut self, lost: bool) {
        self.lose_downlink = lost;
    }

    /// Cuts the current connection: both ends see a transport error now, and whatever is on
    /// the way is lost.
    pub fn cut_link(&mut self) {
        let Some(t) = self.current else { return };
        let transport = &mut self.transports[t];
        let (client_open, server_open, conn) =
            (transport.client_open, transport.server_open, transport.conn);
        transport.client_open = false;
        transport.server_open = false;
        let elapsed = self.elapsed();
        if client_open {
            self.client_trace.push((elapsed, "link cut".to_owned()));
            self.client
                .handle_input(self.now, Input::Closed(&CloseInfo::error("link cut")));
        }
        if let (true, Some(conn)) = (server_open, conn) {
            self.server_trace
                .push((elapsed, format!("{conn}: link cut")));
            self.server
                .handle_closed(self.now, conn, &CloseInfo::error("link cut"));
        }
        self.drain();
    }

    /// Runs `f` on the server at the current time (a command: push, goaway, drop, silence,
    /// ...), then drains both sides.
    pub fn with_server<R>(&mut self, f: impl FnOnce(&mut Server, Instant) -> R) -> R {
        let result = f(&mut self.server, self.now);
        self.drain();
        result
    }

    /// Pushes an event from the server now; returns its nonce.
    ///
    /// # Errors
    /// [`PushError`] when the topic or the operation is empty.
    pub fn push(&mut self, event: EventSpec) -> Result<String, PushError> {
        self.with_server(|server, now| server.push_event(now, event))
    }

    /// The server drops the active connection now (no close frame).
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn drop_connection(&mut self) -> Result<ConnId, CommandError> {
        self.with_server(|server, now| server.drop_connection(now))
    }

    /// The server sends nothing on the active connection for `duration`.
    ///
    /// # Errors
    /// [`CommandError::NoConnection`] when no connection is active.
    pub fn silence(&mut self, duration: Duration) -> Result<ConnId, CommandError> {
        self.with_server(|server, now| server.silence(now, duration))
    }

    /// Runs `f` on the client at the current time (e.g. `close`), then drains both sides.
    pub fn with_client<R>(&mut self, f: impl FnOnce(&mut Connection, Instant) -> R) -> R {
        let result = f(&mut self.client, self.now);
        self.drain();
        result
    }

    // ----- running -------------------------------------------------------------------------

    /// Virtual time since the epoch.
    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// When the next thing happens: a deadline of either side or a message arriving.
    pub fn next_time(&self) -> Option<Instant> {
        [
            self.client.poll_timeout(),
            self.server.poll_timeout(),
            self.next_message().map(|(at, _)| at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Jumps to the next thing that happens, handles it and drains both sides; false when
    /// nothing is left to happen.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(at);
        match self.next_message() {
            Some((due, key)) if due <= self.now => {
                if let Some(msg) = self.queue.remove(&key) {
                    self.deliver(msg);
                }
            }
            _ => {
                if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
                    self.client.handle_timeout(self.now);
                }
                if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
                    self.server.handle_timeout(self.now);
                }
            }
        }
        self.drain();
        true
    }

    /// Steps until `done` holds.
    ///
    /// # Errors
    /// [`Stalled`] when it does not hold after `max_steps` steps (a livelock) or when nothing
    /// is left to happen.
    pub fn try_run_until(
        &mut self,
        max_steps: usize,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<usize, Stalled> {
        for steps in 0..max_steps {
            if done(self) {
                return Ok(steps);
            }
            if !self.step() {
                return if done(self) {
                    Ok(steps)
                } else {
                    Err(self.stalled(steps, "nothing is left to happen"))
                };
            }
        }
        if done(self) {
            Ok(max_steps)
        } else {
            Err(self.stalled(max_steps, "step budget spent (livelock?)"))
        }
    }

    /// Steps until `done` holds; panics with the end of both traces when it does not after
    /// `max_steps` steps or when nothing is left to happen.
    pub fn run_until(&mut self, max_steps: usize, done: impl FnMut(&Self) -> bool) -> usize {
        match self.try_run_until(max_steps, done) {
            Ok(steps) => steps,
            Err(stalled) => panic!("{stalled}"),
        }
    }

    /// Runs everything that happens within the next `duration`, then sets the clock to its end.
    /// Panics after `max_steps` steps (livelock guard).
    pub fn run_for(&mut self, duration: Duration, max_steps: usize) {
        let end = self.now + duration;
        for _ in 0..max_steps {
            match self.next_time() {
                Some(at) if at <= end => {
                    self.step();
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!(
            "{}",
            self.stalled(max_steps, "step budget spent within run_for (livelock?)")
        );
    }

    // ----- reading -------------------------------------------------------------------------

    /// The nonces the handler was given, in order.
    pub fn handled_nonces(&self) -> Vec<&str> {
        self.handled.iter().map(|(_, e)| e.nonce.as_str()).collect()
    }

    /// The delays of the client's `Reconnecting` notices, in order.
    pub fn client_delays(&self) -> Vec<Duration> {
        self.notices
            .iter()
            .filter_map(|(_, n)| match n {
                Notice::Reconnecting { delay, .. } => Some(*delay),
                _ => None,
            })
            .collect()
    }

    /// Whether the client stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.client.is_stopped()
    }

    /// The last `n` lines of both traces, for failure messages.
    pub fn trace_tail(&self, n: usize) -> String {
        let mut out = String::new();
        for (side, trace) in [
            ("client", &self.client_trace),
            ("server", &self.server_trace),
        ] {
            out.push_str(&format!("--- {side} (last {n}) ---\n"));
            for (at, line) in trace.iter().skip(trace.len().saturating_sub(n)) {
                out.push_str(&format!("{:>10.3} s  {line}\n", at.as_secs_f64()));
            }
        }
        out
    }

    // ----- plumbing ------------------------------------------------------------------------

    /// Performs both sides' actions until neither has any.
    fn drain(&mut self) {
        loop {
            let mut busy = false;
            while let Some(action) = self.client.poll_action() {
                busy = true;
                self.client_action(action);
            }
            while let Some(action) = self.server.poll_action() {
                busy = true;
                self.server_action(action);
            }
            if !busy {
                return;
            }
        }
    }

    fn client_action(&mut self, action: Action) {
        let elapsed = self.elapsed();
        match action {
            Action::Connect(request) => {
                self.connects.push(elapsed);
                self.client_trace
                    .push((elapsed, format!("connect (attempt {})", request.attempt())));
                let t = self.transports.len();
                self.transports.push(Transport {
                    client_open: true,
                    ..Transport::default()
                });
                self.current = Some(t);
                if self.link_down {
                    let err = OpenError::Transport("network unreachable (link down)".into());
                    self.schedule(Msg::Opened(t, Err(err)));
                } else {
                    let wall = self.wall_epoch + elapsed;
                    self.schedule(Msg::Handshake(t, Handshake::from_connect(&request, wall)));
                }
            }
            Action::Send(transmit) => {
                let (up, line) = match transmit.message {
                    Message::Pong(payload) => {
                        let line = format!("pong {}", String::from_utf8_lossy(&payload));
                        (Up::Pong(payload), line)
                    }
                    Message::Ack { nonce, code, text } => {
                        (Up::Text(text), format!("ack {nonce} {code}"))
                    }
                };
                self.client_trace.push((elapsed, line));
                if let Some(t) = self.current {
                    self.schedule(Msg::Up(t, up));
                }
                // Written to the local socket buffer at once.
                self.client.handle_input(self.now, Input::Sent(transmit.id));
            }
            Action::Deliver(delivery) => {
                self.client_trace.push((
                    elapsed,
                    format!(
                        "deliver {} {}",
                        delivery.event.event_code(),
                        delivery.event.nonce
                    ),
                ));
                let reply = (self.handler)(&delivery.event);
                self.handled.push((elapsed, delivery.event));
                if reply.after.is_zero() {
                    self.complete(delivery.token, reply.outcome);
                } else {
                    let at = self.now + reply.after;
                    self.schedule_at(at, Msg::Complete(delivery.token, reply.outcome));
                }
            }
            Action::PauseReading => {
                self.client_trace
                    .push((elapsed, "pause reading".to_owned()));
                self.reading_paused = true;
            }
            Action::ResumeReading => {
                self.client_trace
                    .push((elapsed, "resume reading".to_owned()));
                self.reading_paused = false;
            }
            Action::Close => {
                self.client_trace.push((elapsed, "close".to_owned()));
                if let Some(t) = self.current {
                    self.schedule(Msg::Up(t, Up::Closed(CloseInfo::clean(Some(1000), ""))));
                }
            }
            Action::Fail(failure) => {
                self.client_trace
                    .push((elapsed, format!("fail {}", failure.code)));
                if let Some(t) = self.current {
                    let closed = CloseInfo::clean(Some(failure.code), failure.reason);
                    self.schedule(Msg::Up(t, Up::Closed(closed)));
                }
            }
            Action::Disconnect => {
                self.client_trace.push((elapsed, "disconnect".to_owned()));
                if let Some(t) = self.current {
                    let transport = &mut self.transports[t];
                    transport.client_open = false;
                    if transport.server_open {
                        let reset = CloseInfo::error("connection reset by peer");
                        self.schedule(Msg::Up(t, Up::Closed(reset)));
                    }
                }
            }
            Action::Notify(notice) => {
                self.client_trace
                    .push((elapsed, format!("notice: {notice}")));
                self.notices.push((elapsed, notice));
            }
        }
    }

    fn server_action(&mut self, action: ServerAction) {
        let elapsed = self.elapsed();
        self.server_trace.push((elapsed, action.to_string()));
        let (conn, down) = match action {
            ServerAction::Send { conn, frame } => (conn, Down::Frame(frame)),
            ServerAction::Drop { conn } => (conn, Down::Reset),
        };
        let Some(t) = self.transport_of(conn) else {
            return;
        };
        if !self.transports[t].server_open {
            return;
        }
        if matches!(down, Down::Reset) {
            self.transports[t].server_open = false;
        }
        self.schedule(Msg::Down(t, down));
    }

    fn deliver(&mut self, msg: Msg) {
        let elapsed = self.elapsed();
        match msg {
            Msg::Handshake(t, request) => {
                if !self.transports[t].client_open {
                    // The client gave up on this attempt before it reached the server.
                    return;
                }
                if self.link_down {
                    let err = OpenError::Transport("network unreachable (link down)".into());
                    self.schedule(Msg::Opened(t, Err(err)));
                    return;
                }
                let wall = self.wall_epoch + elapsed;
                let decision = self.server.handle_handshake(self.now, wall, &request);
                let result = match decision {
                    HandshakeDecision::Accept { conn, ack_mode } => {
                        self.server_trace
                            .push((elapsed, format!("accept {conn} (ack mode {ack_mode})")));
                        self.transports[t].conn = Some(conn);
                        self.transports[t].server_open = true;
                        Ok(())
                    }
                    HandshakeDecision::Reject { status, body } => {
                        self.server_trace
                            .push((elapsed, format!("reject {status}: {body}")));
                        Err(OpenError::Status { status })
                    }
                };
                self.schedule(Msg::Opened(t, result));
            }
            Msg::Opened(t, result) => {
                let usable = Some(t) == self.current && self.transports[t].client_open;
                match result {
                    Ok(()) if usable => {
                        self.client_trace.push((elapsed, "opened".to_owned()));
                        self.client.handle_input(self.now, Input::Opened);
                    }
                    Ok(()) => {
                        // Accepted after the client moved on: it closes the socket at once.
                        self.transports[t].client_open = false;
                        let reset = CloseInfo::error("abandoned by the client");
                        self.schedule(Msg::Up(t, Up::Closed(reset)));
                    }
                    Err(err) if usable => {
                        self.transports[t].client_open = false;
                        self.client_trace
                            .push((elapsed, format!("open failed: {err}")));
                        self.client.handle_input(self.now, Input::OpenFailed(&err));
                    }
                    Err(_) => {}
                }
            }
            Msg::Up(t, up) => self.deliver_up(t, up),
            Msg::Down(t, down) => self.deliver_down(t, down),
            Msg::Complete(token, outcome) => self.complete(token, outcome),
        }
    }

    fn deliver_up(&mut self, t: usize, up: Up) {
        let transport = &self.transports[t];
        let Some(conn) = transport.conn.filter(|_| transport.server_open) else {
            return;
        };
        let elapsed = self.elapsed();
        match up {
            Up::Text(text) => self.server.handle_text(self.now, conn, &text),
            Up::Pong(payload) => self.server.handle_pong(self.now, conn, &payload),
            Up::Closed(info) => {
                self.transports[t].server_open = false;
                self.server_trace
                    .push((elapsed, format!("{conn}: client side ended ({info:?})")));
                self.server.handle_closed(self.now, conn, &info);
                if !info.error && self.transports[t].client_open {
                    // The server's WebSocket layer answers a close frame with its own.
                    let echo = CloseInfo::clean(info.code, info.reason.clone());
                    self.schedule(Msg::Down(t, Down::CloseEcho(echo)));
                }
            }
        }
    }

    fn deliver_down(&mut self, t: usize, down: Down) {
        if Some(t) != self.current || !self.transports[t].client_open {
            return;
        }
        let elapsed = self.elapsed();
        match down {
            Down::Frame(ServerFrame::Text(text)) => {
                self.client.handle_input(self.now, Input::Text(&text));
            }
            Down::Frame(ServerFrame::Ping(payload)) => {
                self.client.handle_input(self.now, Input::Ping(&payload));
            }
            Down::Frame(ServerFrame::Binary(data)) => {
                self.client.handle_input(self.now, Input::Binary(&data));
            }
            Down::Frame(ServerFrame::Close { code, reason }) => {
                self.transports[t].client_open = false;
                self.client_trace
                    .push((elapsed, format!("closed by the server ({code})")));
                let info = CloseInfo::clean(Some(code), reason.clone());
                self.client.handle_input(self.now, Input::Closed(&info));
                // The client's WebSocket layer answers the close frame.
                if self.transports[t].server_open {
                    let echo = CloseInfo::clean(Some(code), reason);
                    self.schedule(Msg::Up(t, Up::Closed(echo)));
                }
            }
            Down::Reset => {
                self.transports[t].client_open = false;
                self.client_trace
                    .push((elapsed, "connection reset".to_owned()));
                let info = CloseInfo::error("connection reset by peer");
                self.client.handle_input(self.now, Input::Closed(&info));
            }
            Down::CloseEcho(info) => {
                self.transports[t].client_open = false;
                self.client_trace.push((elapsed, "closed".to_owned()));
                self.client.handle_input(self.now, Input::Closed(&info));
            }
        }
    }

    fn complete(&mut self, token: DeliveryToken, outcome: Outcome) {
        let line = format!("complete {outcome:?}");
        self.client_trace.push((self.elapsed(), line));
        // A token completes once; the harness never completes one twice.
        let _ = self.client.complete(self.now, token, outcome);
    }

    fn transport_of(&self, conn: ConnId) -> Option<usize> {
        self.transports.iter().rposition(|t| t.conn == Some(conn))
    }

    /// The earliest message that can be delivered now: frames to the client wait while its
    /// reading is paused.
    fn next_message(&self) -> Option<(Instant, (Instant, u64))> {
        self.queue
            .iter()
            .find(|(_, msg)| !(self.reading_paused && matches!(msg, Msg::Down(..))))
            .map(|(key, _)| (key.0.max(self.now), *key))
    }

    /// Puts `msg` on the link, due one latency from now (or loses it).
    fn schedule(&mut self, msg: Msg) {
        let lost = match &msg {
            Msg::Handshake(..) | Msg::Up(..) => self.lose_uplink,
            Msg::Opened(..) | Msg::Down(..) => self.lose_downlink,
            Msg::Complete(..) => false,
        };
        if !lost {
            self.schedule_at(self.now + self.latency, msg);
        }
    }

    fn schedule_at(&mut self, at: Instant, msg: Msg) {
        self.queue.insert((at, self.next_msg), msg);
        self.next_msg += 1;
    }

    fn stalled(&self, steps: usize, why: &str) -> Stalled {
        Stalled {
            steps,
            at: self.elapsed(),
            why: why.to_owned(),
            trace: self.trace_tail(25),
        }
    }
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pair")
            .field("elapsed", &self.elapsed())
            .field("client", &self.client.state())
            .field("server", &self.server)
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

/// A run that did not reach its condition.
#[derive(Debug, Clone)]
pub struct Stalled {
    /// Steps taken.
    pub steps: usize,
    /// Virtual time when it gave up.
    pub at: Duration,
    /// Why it gave up.
    pub why: String,
    /// The end of both traces.
    pub trace: String,
}

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "condition not reached after {} steps at {:.3} s: {}\n{}",
            self.steps,
            self.at.as_secs_f64(),
            self.why,
            self.trace
        )
    }
}

impl std::error::Error for Stalled {}

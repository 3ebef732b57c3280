//! A deterministic harness around one client [`Connection`]: a virtual clock, a scripted server
//! side (sealed events, pings, GoAways, closes, handshake results), and a trace of every action.
//!
//! Nothing here sleeps or reads a clock after construction: time is `epoch + offset`, and the
//! harness jumps straight to the connection's next deadline.
//!
//! ```
//! use std::time::Duration;
//! use open_event_tests::sim::Sim;
//!
//! let mut sim = Sim::new(|c| c, 1);
//! sim.open();
//! sim.ping(b"p1");
//! assert_eq!(sim.sent_pongs(), vec![b"p1".to_vec()]);
//! let nonce = sim.event("kso.app_chat", "create", "{}");
//! sim.complete_ok(&nonce);
//! assert_eq!(sim.acks(), vec![(nonce, 200, None)]);
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use open_event_core::Credentials;
use open_event_core::codec::{GoAway, GoAwayReason, encode_goaway};
use open_event_core::config::{Config, ConfigBuilder};
use open_event_core::connection::{
    Action, CloseInfo, Connection, Delivery, Input, Message, Notice, OpenError, Outcome, Transmit,
};
use open_event_core::crypto::EventCipher;

/// App id used by every simulation.
pub const APP_ID: &str = "AK20240101TEST";
/// App secret used by every simulation.
pub const APP_SECRET: &str = "sk_test_secret_0123456789abcdef";

/// The simulated world of one client connection.
#[derive(Debug)]
pub struct Sim {
    /// The client under test.
    pub conn: Connection,
    /// Time zero.
    pub epoch: Instant,
    /// The current virtual time.
    pub now: Instant,
    /// Every action the client emitted, with its virtual time since `epoch`.
    pub trace: Vec<(Duration, Action)>,
    /// Deliveries not completed yet.
    pub pending: Vec<Delivery>,
    /// Whether sends are confirmed (`Input::Sent`) as soon as they are emitted.
    pub auto_confirm: bool,
    /// The server side's cipher (seals events with the simulation's credentials).
    pub cipher: EventCipher,
    next_nonce: u64,
}

impl Sim {
    /// A client with the default config changed by `configure`, seeded with `seed`; the first
    /// `Connect` is already drained into the trace.
    pub fn new(configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder, seed: u64) -> Self {
        let config = configure(Config::builder(APP_ID, APP_SECRET))
            .build()
            .expect("simulation config is valid");
        let epoch = Instant::now();
        let mut sim = Self {
            conn: Connection::new(Arc::new(config), epoch, seed),
            epoch,
            now: epoch,
            trace: Vec::new(),
            pending: Vec::new(),
            auto_confirm: true,
            cipher: EventCipher::new(&Credentials::new(APP_ID, APP_SECRET)),
            next_nonce: 0,
        };
        sim.drain();
        sim
    }

    /// Virtual time since the epoch.
    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// Feeds an input at the current time.
    pub fn input(&mut self, input: Input<'_>) {
        self.conn.handle_input(self.now, input);
        self.drain();
    }

    /// Moves the clock forward by `by`, firing every deadline on the way in order.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(at) = self.conn.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.conn.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
        self.conn.handle_timeout(self.now);
        self.drain();
    }

    /// Jumps to the next deadline and fires it; returns false when none is armed.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.conn.poll_timeout() else {
            return false;
        };
        self.now = self.now.max(at);
        self.conn.handle_timeout(self.now);
        self.drain();
        true
    }

    /// Steps until `done` holds; panics after `max_steps` (livelock guard).
    pub fn run_until(&mut self, max_steps: usize, mut done: impl FnMut(&Self) -> bool) {
        for _ in 0..max_steps {
            if done(self) {
                return;
            }
            if !self.step() {
                break;
            }
        }
        assert!(done(self), "condition not reached within {max_steps} steps");
    }

    /// The transport opened.
    pub fn open(&mut self) {
        self.input(Input::Opened);
    }

    /// The connect attempt failed with an HTTP status.
    pub fn fail_status(&mut self, status: u16) {
        self.input(Input::OpenFailed(&OpenError::Status { status }));
    }

    /// The connect attempt failed with a network error.
    pub fn fail_network(&mut self) {
        self.input(Input::OpenFailed(&OpenError::Transport(
            "connection refused".into(),
        )));
    }

    /// The transport dropped (no close frame).
    pub fn drop_transport(&mut self) {
        self.input(Input::Closed(&CloseInfo::error("connection reset")));
    }

    /// The server closed cleanly.
    pub fn server_close(&mut self) {
        self.input(Input::Closed(&CloseInfo::clean(Some(1000), "")));
    }

    /// A ping with `payload`.
    pub fn ping(&mut self, payload: &[u8]) {
        self.input(Input::Ping(payload));
    }

    /// A text frame.
    pub fn text(&mut self, text: &str) {
        self.input(Input::Text(text));
    }

    /// A GoAway frame.
    pub fn goaway(&mut self, reason: GoAwayReason, reconnect_ms: Option<u64>) {
        let frame = encode_goaway(&GoAway {
            reason,
            message: "sim".into(),
            reconnect_ms,
        });
        self.text(&frame);
    }

    /// Seals and sends an event with a fresh nonce; returns the nonce.
    pub fn event(&mut self, topic: &str, operation: &str, data: &str) -> String {
        self.next_nonce += 1;
        let nonce = format!("{:016x}", self.next_nonce);
        self.event_with_nonce(&nonce, topic, operation, data);
        nonce
    }

    /// Seals and sends an event with the given nonce (a redelivery when reused).
    pub fn event_with_nonce(&mut self, nonce: &str, topic: &str, operation: &str, data: &str) {
        let frame = self
            .cipher
            .seal(topic, operation, 1_704_067_200, nonce, data)
            .expect("valid sim event");
        self.text(&frame.to_json());
    }

    /// Completes the pending delivery of `nonce` with `outcome`.
    pub fn complete(&mut self, nonce: &str, outcome: Outcome) {
        let index = self
            .pending
            .iter()
            .position(|d| d.event.nonce == nonce)
            .unwrap_or_else(|| panic!("no pending delivery for {nonce}"));
        let delivery = self.pending.remove(index);
        self.conn
            .complete(self.now, delivery.token, outcome)
            .expect("token is pending");
        self.drain();
    }

    /// Completes the pending delivery of `nonce` with success.
    pub fn complete_ok(&mut self, nonce: &str) {
        self.complete(nonce, Outcome::Ok);
    }

    /// Every action since trace index `from`.
    pub fn since(&self, from: usize) -> Vec<Action> {
        self.trace[from..].iter().map(|(_, r)| r.clone()).collect()
    }

    /// Acks sent so far: `(nonce, code, msg)`.
    pub fn acks(&self) -> Vec<(String, u16, Option<String>)> {
        self.trace
            .iter()
            .filter_map(|(_, r)| match r {
                Action::Send(Transmit {
                    message: Message::Ack { nonce, code, text },
                    ..
                }) => {
                    let v: serde_json::Value = serde_json::from_str(text).expect("ack is JSON");
                    let msg = v.get("msg").and_then(|m| m.as_str()).map(str::to_owned);
                    Some((nonce.clone(), *code, msg))
                }
                _ => None,
            })
            .collect()
    }

    /// Pong payloads sent so far.
    pub fn sent_pongs(&self) -> Vec<Vec<u8>> {
        self.trace
            .iter()
            .filter_map(|(_, r)| match r {
                Action::Send(Transmit {
                    message: Message::Pong(p),
                    ..
                }) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// Nonces delivered so far, in order.
    pub fn delivered(&self) -> Vec<String> {
        self.trace
            .iter()
            .filter_map(|(_, r)| match r {
                Action::Deliver(delivery) => Some(delivery.event.nonce.clone()),
                _ => None,
            })
            .collect()
    }

    /// Notices so far.
    pub fn notices(&self) -> Vec<Notice> {
        self.trace
            .iter()
            .filter_map(|(_, r)| match r {
                Action::Notify(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    /// Times (since epoch) of every `Connect`.
    pub fn connect_times(&self) -> Vec<Duration> {
        self.trace
            .iter()
            .filter(|(_, r)| matches!(r, Action::Connect(_)))
            .map(|(t, _)| *t)
            .collect()
    }

    /// Number of `Connect` actions so far.
    pub fn connects(&self) -> usize {
        self.connect_times().len()
    }

    /// Drains the client's actions into the trace (confirming sends when `auto_confirm`, and
    /// keeping deliveries in `pending`).
    pub fn drain(&mut self) {
        while let Some(action) = self.conn.poll_action() {
            let at = self.now - self.epoch;
            match &action {
                Action::Send(transmit) if self.auto_confirm => {
                    self.conn.handle_input(self.now, Input::Sent(transmit.id));
                }
                Action::Deliver(delivery) => self.pending.push(delivery.clone()),
                _ => {}
            }
            self.trace.push((at, action));
        }
    }
}

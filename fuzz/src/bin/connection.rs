//! Drives a `Connection` with an arbitrary sequence of inputs, commands and time steps, and
//! checks its invariants after every call:
//!
//! - it never panics, and time never has to go forwards for it (earlier instants are fed too);
//! - deliveries in flight never exceed `max_in_flight`;
//! - at most one ack per received copy of an event, on the transport that carried it, and none
//!   when ACK mode is off;
//! - `PauseReading` and `ResumeReading` alternate;
//! - after `Fail` (a text frame that is not UTF-8), nothing is sent on that transport;
//! - a call never sets a deadline in the past (`poll_timeout` is earlier than the connection's
//!   now only when that deadline was already overdue), and after `handle_timeout(now)` it is
//!   later than `now` (everything due has fired);
//! - completing a delivery works exactly once per token;
//! - `Notice::Stopped` is the last action, after it no timer is armed, and the state matches.
//!
//! Input: a few bytes of configuration, then one operation per byte with its arguments.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use open_event_core::Credentials;
use open_event_core::codec::{GoAway, GoAwayReason, encode_goaway};
use open_event_core::config::Config;
use open_event_core::connection::{
    Action, CloseInfo, Connection, DeliveryToken, Input, Message, Notice, OpenError, Outcome,
    SendId, UsageError,
};
use open_event_core::crypto::EventCipher;
use open_event_fuzz::{APP_ID, APP_SECRET, Bytes};

/// Distinct nonces the valid events use: few, so redeliveries (dedup) are common.
const NONCES: usize = 8;
/// The most operations one input runs.
const MAX_OPS: usize = 4096;
/// The longest single time step (400 days).
const MAX_STEP_MS: u64 = 400 * 86_400_000;

struct Harness<'f> {
    conn: Connection,
    epoch: Instant,
    /// The harness's clock.
    now: Instant,
    /// The latest instant the connection was given (its own "now").
    seen: Instant,
    max_in_flight: usize,
    ack_mode: bool,
    /// Connect actions seen: the id of the current transport.
    transport: u64,
    sends: Vec<SendId>,
    outstanding: Vec<DeliveryToken>,
    completed: Vec<DeliveryToken>,
    received: HashMap<(u64, &'f str), u32>,
    acks: HashMap<(u64, String), u32>,
    paused: bool,
    /// The current transport was failed (`Action::Fail`).
    failed: bool,
    stopped: bool,
    /// `poll_timeout` before the current operation.
    before: Option<Instant>,
    /// The next call passes an instant earlier than the latest one.
    stale_by: Option<Duration>,
}

impl<'f> Harness<'f> {
    /// The instant to pass to the next call.
    fn at(&mut self) -> Instant {
        let at = match self.stale_by.take() {
            Some(back) => self
                .now
                .checked_sub(back)
                .unwrap_or(self.epoch)
                .max(self.epoch),
            None => self.now,
        };
        self.seen = self.seen.max(at);
        at
    }

    fn drain(&mut self) {
        while let Some(action) = self.conn.poll_action() {
            assert!(!self.stopped, "an action after Stopped: {action:?}");
            match action {
                Action::Connect(_) => {
                    self.transport += 1;
                    self.failed = false;
                }
                Action::Send(transmit) => {
                    assert!(!self.failed, "a send after Fail: {transmit:?}");
                    if let Message::Ack { nonce, .. } = &transmit.message {
                        assert!(self.ack_mode, "an ack with ACK mode off");
                        let copies = self
                            .received
                            .get(&(self.transport, nonce.as_str()))
                            .copied()
                            .unwrap_or(0);
                        let acks = self
                            .acks
                            .entry((self.transport, nonce.clone()))
                            .or_default();
                        *acks += 1;
                        assert!(
                            *acks <= copies,
                            "{acks} acks for {copies} copies of {nonce} on transport {}",
                            self.transport
                        );
                    }
                    if self.sends.len() < 64 {
                        self.sends.push(transmit.id);
                    }
                }
                Action::Deliver(delivery) => {
                    assert!(!self.outstanding.contains(&delivery.token));
                    assert!(!self.completed.contains(&delivery.token));
                    self.outstanding.push(delivery.token);
                }
                Action::PauseReading => {
                    assert!(!self.paused, "paused twice");
                    self.paused = true;
                }
                Action::ResumeReading => {
                    assert!(self.paused, "resumed without a pause");
                    self.paused = false;
                }
                Action::Fail(failure) => {
                    assert!(!self.failed, "failed twice");
                    assert_eq!(failure.code, 1007);
                    self.failed = true;
                }
                Action::Close | Action::Disconnect => {}
                Action::Notify(Notice::Stopped(_)) => self.stopped = true,
                Action::Notify(notice) => {
                    let _ = notice.to_string();
                }
            }
        }
        assert!(
            self.conn.in_flight() <= self.max_in_flight,
            "{} in flight, max {}",
            self.conn.in_flight(),
            self.max_in_flight
        );
        assert_eq!(self.conn.in_flight(), self.outstanding.len());
        assert_eq!(self.conn.is_stopped(), self.stopped);
        assert_eq!(self.conn.is_reading_paused(), self.paused);
        if self.stopped {
            assert!(
                self.conn.poll_timeout().is_none(),
                "a timer armed after Stopped"
            );
            assert!(self.conn.result().is_some());
        }
        if let Some(at) = self.conn.poll_timeout() {
            // A deadline in the past is one that was already overdue (an input may arrive
            // before the driver's handle_timeout); the call itself never sets one.
            assert!(
                at >= self.seen || self.before.is_some_and(|b| b <= at),
                "poll_timeout is in the past: {:?} before now, state {:?}",
                self.seen - at,
                self.conn.state()
            );
        }
    }

    fn input(&mut self, input: Input<'_>) {
        let at = self.at();
        self.conn.handle_input(at, input);
        self.drain();
    }

    fn timeout(&mut self) {
        let stale = self.stale_by.is_some();
        let at = self.at();
        self.conn.handle_timeout(at);
        self.drain();
        if let Some(next) = self.conn.poll_timeout() {
            // Everything due at the connection's now has fired.
            assert!(
                next > self.seen,
                "a due timer did not fire (stale call: {stale})"
            );
        }
    }

    fn step(&mut self, by: Duration) {
        self.now += by;
        self.timeout();
    }
}

fn config(input: &mut Bytes<'_>) -> Option<Config> {
    let ms = |v: u16| Duration::from_millis(u64::from(v));
    let flags = input.u8();
    let mut builder = Config::builder(APP_ID, APP_SECRET)
        .endpoint("ws://127.0.0.1:1/v7/event/ws")
        .ack_mode(flags & 1 == 0)
        .auto_reconnect(flags & 2 == 0)
        .dedup(flags & 4 == 0)
        .dedup_retry_errors(flags & 8 != 0)
        .max_in_flight(usize::from(input.u8() % 4) + 1)
        .read_backlog(usize::from(input.u8() % 5))
        .dedup_capacity(usize::from(input.u8() % 6) + 1)
        .dedup_window(ms(input.u16().max(1)))
        .connect_timeout(ms(input.u16().max(1)))
        .write_timeout(ms(input.u16().max(1)))
        .pong_timeout(ms(input.u16().max(1)))
        .delivery_budget(ms(input.u16().max(1)))
        .drain_timeout(ms(input.u16()))
        .stable_period(ms(input.u16()))
        .reconnect_base(ms(input.u16().clamp(1, 60_000)))
        .reconnect_jitter(f64::from(input.u8()) / 255.0);
    if flags & 16 != 0 {
        builder = builder.max_retries(Some(u32::from(input.u8() % 4)));
    }
    builder.build().ok()
}

fn run(frames: &[(String, String)], trace: bool, data: &[u8]) {
    let mut input = Bytes::new(data);
    let Some(config) = config(&mut input) else {
        return;
    };
    let epoch = Instant::now();
    let mut h = Harness {
        max_in_flight: config.max_in_flight(),
        ack_mode: config.ack_mode(),
        conn: Connection::new(Arc::new(config), epoch, u64::from(input.u32())),
        epoch,
        now: epoch,
        seen: epoch,
        transport: 0,
        sends: Vec::new(),
        outstanding: Vec::new(),
        completed: Vec::new(),
        received: HashMap::new(),
        acks: HashMap::new(),
        paused: false,
        failed: false,
        stopped: false,
        stale_by: None,
        before: None,
    };
    h.drain();
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8() % 18;
        h.before = h.conn.poll_timeout();
        if trace {
            eprintln!(
                "op {op} at {:?} (timeout {:?}, state {:?})",
                h.now - h.epoch,
                h.conn.poll_timeout().map(|t| t - h.epoch),
                h.conn.state()
            );
        }
        match op {
            0 | 1 => h.input(Input::Opened),
            2 => {
                let status = match input.u8() % 6 {
                    0 => 401,
                    1 => 403,
                    2 => 429,
                    3 => 503,
                    4 => input.u16(),
                    _ => {
                        h.input(Input::OpenFailed(&OpenError::Transport("refused".into())));
                        continue;
                    }
                };
                h.input(Input::OpenFailed(&OpenError::Status { status }));
            }
            3..=5 => {
                let (nonce, frame) = &frames[usize::from(input.u8()) % frames.len()];
                *h.received.entry((h.transport, nonce.as_str())).or_default() += 1;
                h.input(Input::Text(frame));
            }
            6 => {
                let text = input.string();
                h.input(Input::Text(&text));
            }
            7 => {
                let reason = match input.u8() % 4 {
                    0 => GoAwayReason::ServerShutdown,
                    1 => GoAwayReason::ConnectionReplaced,
                    2 => GoAwayReason::HeartbeatTimeout,
                    _ => GoAwayReason::Other("something_new".into()),
                };
                let reconnect_ms = input
                    .bool()
                    .then(|| u64::from(input.u32()) << (input.u8() % 32));
                let text = encode_goaway(&GoAway {
                    reason,
                    message: "fuzz".into(),
                    reconnect_ms,
                });
                h.input(Input::Text(&text));
            }
            8 => {
                let payload = input.slice();
                h.input(Input::Ping(payload));
            }
            9 => {
                let payload = input.slice();
                match input.u8() % 3 {
                    0 => h.input(Input::Pong(payload)),
                    1 => h.input(Input::Binary(payload)),
                    _ => h.input(Input::InvalidText),
                }
            }
            10 => {
                if !h.sends.is_empty() {
                    let id = h.sends[usize::from(input.u8()) % h.sends.len()];
                    h.input(Input::Sent(id));
                }
            }
            11 => {
                let info = match input.u8() % 3 {
                    0 => CloseInfo::error("reset"),
                    1 => CloseInfo::clean(Some(1000), ""),
                    _ => CloseInfo::clean(Some(input.u16()), "bye"),
                };
                h.input(Input::Closed(&info));
            }
            12 => {
                let step = u64::from(input.u16()) << (input.u8() % 24);
                h.step(Duration::from_millis(step.min(MAX_STEP_MS)));
            }
            13 => {
                if let Some(at) = h.conn.poll_timeout() {
                    h.now = h.now.max(at);
                }
                h.timeout();
            }
            14 | 15 => {
                if !h.outstanding.is_empty() {
                    let token = h
                        .outstanding
                        .remove(usize::from(input.u8()) % h.outstanding.len());
                    let outcome = match input.u8() % 3 {
                        0 => Outcome::Ok,
                        1 => Outcome::Unhandled,
                        _ => Outcome::Error(input.string()),
                    };
                    let at = h.at();
                    assert_eq!(h.conn.complete(at, token, outcome), Ok(()));
                    h.completed.push(token);
                    h.drain();
                }
            }
            16 => {
                if input.bool() {
                    let at = h.at();
                    h.conn.close(at);
                    h.drain();
                } else if !h.completed.is_empty() {
                    let token = h.completed[usize::from(input.u8()) % h.completed.len()];
                    let at = h.at();
                    assert_eq!(
                        h.conn.complete(at, token, Outcome::Ok),
                        Err(UsageError::UnknownDelivery)
                    );
                    h.drain();
                }
            }
            _ => h.stale_by = Some(Duration::from_millis(u64::from(input.u16()))),
        }
    }
}

fn main() {
    let cipher = EventCipher::new(&Credentials::new(APP_ID, APP_SECRET));
    let frames: Vec<(String, String)> = (0..NONCES)
        .map(|i| {
            let nonce = format!("{i:016x}");
            let frame = cipher
                .seal("kso.app_chat", "create", 1_704_067_200, &nonce, "{}")
                .expect("sealable")
                .to_json();
            (nonce, frame)
        })
        .collect();
    // FUZZ_TRACE=1 prints every operation (to study a reproducer).
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    afl::fuzz!(|data: &[u8]| run(&frames, trace, data));
}
